//! Which node a pod fits on: pure, so every rule is tested without an API.
//!
//! A pod fits a node when the node is Ready and schedulable, the pod tolerates its `NoSchedule` and `NoExecute`
//! taints, its labels satisfy the pod's `nodeSelector`, and the
//! pod's requests fit in what the node has left (cpu, memory, pod count). Among the nodes that fit, the least
//! loaded one wins (the largest free cpu fraction, then memory, then name for determinism).

use std::collections::BTreeMap;

use runlet_api::quantity::parse_quantity;
use runlet_api::vocab::{ConditionStatus, NodeConditionType};
use runlet_codec::{Node, Pod};

/// What a pod asks for, or what a node has: cpu in millicores, memory in bytes, pods as a count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpu_milli: i128,
    pub memory: i128,
    pub pods: i128,
}

impl std::ops::Add for Resources {
    type Output = Resources;
    fn add(self, o: Resources) -> Resources {
        Resources { cpu_milli: self.cpu_milli + o.cpu_milli, memory: self.memory + o.memory, pods: self.pods + o.pods }
    }
}

fn quantity(
    map: Option<&BTreeMap<String, runlet_codec::Quantity>>,
    name: &str,
) -> Option<runlet_api::quantity::ParsedQuantity> {
    map.and_then(|m| m.get(name)).and_then(|q| parse_quantity(&q.0).ok())
}

/// A pod's requests: the sum over its containers (a limit with no request counts as the request, as
/// defaulting does upstream), or the largest init container's if that is more; plus one pod.
pub fn pod_requests(pod: &Pod) -> Resources {
    let Some(spec) = &pod.spec else { return Resources { pods: 1, ..Default::default() } };
    let one = |c: &runlet_codec::Container| {
        let r = c.resources.as_ref();
        let req = r.and_then(|r| r.requests.as_ref());
        let lim = r.and_then(|r| r.limits.as_ref());
        let get = |name: &str| quantity(req, name).or_else(|| quantity(lim, name));
        Resources {
            cpu_milli: get("cpu").map_or(0, |q| q.milli_value()),
            memory: get("memory").map_or(0, |q| q.value()),
            pods: 0,
        }
    };
    let sum = spec.containers.iter().map(one).fold(Resources::default(), |a, b| a + b);
    let init = spec.init_containers.iter().flatten().map(one).fold(Resources::default(), |a, b| Resources {
        cpu_milli: a.cpu_milli.max(b.cpu_milli),
        memory: a.memory.max(b.memory),
        pods: 0,
    });
    Resources { cpu_milli: sum.cpu_milli.max(init.cpu_milli), memory: sum.memory.max(init.memory), pods: 1 }
}

/// A node's allocatable resources (falling back to capacity).
pub fn allocatable(node: &Node) -> Resources {
    let st = node.status.as_ref();
    let alloc = st.and_then(|s| s.allocatable.as_ref()).or_else(|| st.and_then(|s| s.capacity.as_ref()));
    Resources {
        cpu_milli: quantity(alloc, "cpu").map_or(0, |q| q.milli_value()),
        memory: quantity(alloc, "memory").map_or(0, |q| q.value()),
        pods: quantity(alloc, "pods").map_or(0, |q| q.value()),
    }
}

/// How long a node may go without a heartbeat before it is treated as gone (upstream's node monitor grace).
pub const NODE_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_secs(40);

fn ready_condition(node: &Node) -> Option<&runlet_codec::NodeCondition> {
    node.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == NodeConditionType::Ready)
}

/// Ready=True, and (when the node posts heartbeats) a heartbeat within [`NODE_GRACE`]: an agent that stopped
/// posting is not given new pods.
fn readiness(node: &Node, now: jiff::Timestamp) -> Result<(), Rejection> {
    let Some(ready) = ready_condition(node).filter(|c| c.status == ConditionStatus::True) else {
        return Err(Rejection::NotReady);
    };
    match &ready.last_heartbeat_time {
        Some(t) if now.duration_since(t.0) > NODE_GRACE => Err(Rejection::Unreachable),
        _ => Ok(()),
    }
}

/// Why a node was rejected, in the words `kubectl describe pod` shows upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rejection {
    NotReady,
    Unreachable,
    Unschedulable,
    Taint,
    Selector,
    TooManyPods,
    Cpu,
    Memory,
}

impl Rejection {
    fn text(self) -> &'static str {
        match self {
            Rejection::NotReady => "node(s) had untolerated taint {node.kubernetes.io/not-ready: }",
            Rejection::Unreachable => "node(s) had untolerated taint {node.kubernetes.io/unreachable: }",
            Rejection::Unschedulable => "node(s) were unschedulable",
            Rejection::Taint => "node(s) had untolerated taint(s)",
            Rejection::Selector => "node(s) didn't match Pod's node affinity/selector",
            Rejection::TooManyPods => "Too many pods",
            Rejection::Cpu => "Insufficient cpu",
            Rejection::Memory => "Insufficient memory",
        }
    }
}

/// The first `NoSchedule` or `NoExecute` taint of the node that the pod does not tolerate (the lifecycle taints
/// in the words of their conditions).
fn untolerated_taint(pod: &Pod, node: &Node) -> Result<(), Rejection> {
    use runlet_api::taints::{NOT_READY, UNREACHABLE, tolerates};
    use runlet_api::vocab::TaintEffect;
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
    let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
    let blocking = taints
        .iter()
        .filter(|t| t.effect == TaintEffect::NoSchedule || t.effect == TaintEffect::NoExecute)
        .find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)));
    match blocking.map(|t| t.key.as_str()) {
        None => Ok(()),
        Some(NOT_READY) => Err(Rejection::NotReady),
        Some(UNREACHABLE) => Err(Rejection::Unreachable),
        Some(_) => Err(Rejection::Taint),
    }
}

/// The first reason `node` cannot take `pod` given what is already `used` on it.
pub fn check(pod: &Pod, node: &Node, used: Resources, now: jiff::Timestamp) -> Result<(), Rejection> {
    readiness(node, now)?;
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        return Err(Rejection::Unschedulable);
    }
    untolerated_taint(pod, node)?;
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let selector = pod.spec.as_ref().and_then(|s| s.node_selector.as_ref());
    if let Some(sel) = selector
        && !sel.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return Err(Rejection::Selector);
    }
    let want = pod_requests(pod);
    let have = allocatable(node);
    if used.pods + want.pods > have.pods {
        return Err(Rejection::TooManyPods);
    }
    if want.cpu_milli > 0 && used.cpu_milli + want.cpu_milli > have.cpu_milli {
        return Err(Rejection::Cpu);
    }
    if want.memory > 0 && used.memory + want.memory > have.memory {
        return Err(Rejection::Memory);
    }
    Ok(())
}

/// Picks the node for `pod`, or the message of a `PodScheduled=False` condition saying why none fits.
pub fn pick<'a>(
    pod: &Pod,
    nodes: &'a [Node],
    used: &BTreeMap<String, Resources>,
    now: jiff::Timestamp,
) -> Result<&'a Node, String> {
    let mut fits: Vec<(&Node, Resources)> = Vec::new();
    let mut rejected: BTreeMap<Rejection, usize> = BTreeMap::new();
    for node in nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let u = used.get(&name).copied().unwrap_or_default();
        match check(pod, node, u, now) {
            Ok(()) => fits.push((node, u)),
            Err(r) => *rejected.entry(r).or_default() += 1,
        }
    }
    let free_fraction = |n: &Node, u: Resources| {
        let a = allocatable(n);
        let f = |free: i128, total: i128| if total > 0 { (free as f64) / (total as f64) } else { 0.0 };
        (f(a.cpu_milli - u.cpu_milli, a.cpu_milli), f(a.memory - u.memory, a.memory))
    };
    fits.sort_by(|(a, ua), (b, ub)| {
        let (fa, fb) = (free_fraction(a, *ua), free_fraction(b, *ub));
        fb.partial_cmp(&fa).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    if let Some((node, _)) = fits.first() {
        return Ok(node);
    }
    if nodes.is_empty() {
        return Err("no nodes available to schedule pods".to_string());
    }
    let reasons: Vec<String> = rejected.iter().map(|(r, n)| format!("{n} {}", r.text())).collect();
    Err(format!("0/{} nodes are available: {}.", nodes.len(), reasons.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn node(name: &str, cpu: &str, mem: &str, pods: &str, extra: Value) -> Node {
        let mut v = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"disk": "ssd"}},
            "status": {"allocatable": {"cpu": cpu, "memory": mem, "pods": pods},
                       "conditions": [{"type": "Ready", "status": "True"}]}});
        merge(&mut v, extra);
        runlet_codec::decode_node(&v).unwrap().object
    }

    fn merge(a: &mut Value, b: Value) {
        if let (Value::Object(a), Value::Object(b)) = (a, b) {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(x) if x.is_object() && v.is_object() => merge(x, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
    }

    fn now() -> jiff::Timestamp {
        "2026-01-01T00:00:40Z".parse().unwrap()
    }

    fn pod(resources: Value, selector: Value) -> Pod {
        let v = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"nodeSelector": selector, "containers": [{"name": "c", "image": "i", "resources": resources}]}});
        runlet_codec::decode_pod(&v).unwrap().object
    }

    #[test]
    fn requests_fall_back_to_limits() {
        let p = pod(json!({"limits": {"cpu": "500m", "memory": "1Gi"}}), json!({}));
        assert_eq!(pod_requests(&p), Resources { cpu_milli: 500, memory: 1 << 30, pods: 1 });
        let p = pod(json!({"requests": {"cpu": "2"}, "limits": {"cpu": "4"}}), json!({}));
        assert_eq!(pod_requests(&p).cpu_milli, 2000);
    }

    #[test]
    fn checks_in_order() {
        let used = |c: i128, m: i128, p: i128| Resources { cpu_milli: c, memory: m, pods: p };
        let n = node("n", "2", "1Gi", "3", json!({}));
        let cases = [
            (pod(json!({"requests": {"cpu": "1"}}), json!({})), used(0, 0, 0), Ok(())),
            (pod(json!({"requests": {"cpu": "1"}}), json!({})), used(1500, 0, 0), Err(Rejection::Cpu)),
            (pod(json!({"requests": {"memory": "2Gi"}}), json!({})), used(0, 0, 0), Err(Rejection::Memory)),
            (pod(json!({}), json!({})), used(0, 0, 3), Err(Rejection::TooManyPods)),
            (pod(json!({}), json!({"disk": "hdd"})), used(0, 0, 0), Err(Rejection::Selector)),
            (pod(json!({}), json!({"disk": "ssd"})), used(0, 0, 0), Ok(())),
        ];
        for (i, (p, u, want)) in cases.into_iter().enumerate() {
            assert_eq!(check(&p, &n, u, now()), want, "case {i}");
        }
        let not_ready =
            node("n", "2", "1Gi", "3", json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}));
        assert_eq!(check(&pod(json!({}), json!({})), &not_ready, used(0, 0, 0), now()), Err(Rejection::NotReady));
        let cordoned = node("n", "2", "1Gi", "3", json!({"spec": {"unschedulable": true}}));
        assert_eq!(check(&pod(json!({}), json!({})), &cordoned, used(0, 0, 0), now()), Err(Rejection::Unschedulable));
        let taint = |key: &str, effect: &str| json!({"spec": {"taints": [{"key": key, "effect": effect}]}});
        let tolerating = |key: &str| {
            let mut p = pod(json!({}), json!({}));
            let t = json!([{"key": key, "operator": "Exists"}]);
            p.spec.as_mut().unwrap().tolerations = Some(serde_json::from_value(t).unwrap());
            p
        };
        let taints = [
            (
                "unreachable NoExecute",
                taint("node.kubernetes.io/unreachable", "NoExecute"),
                pod(json!({}), json!({})),
                Err(Rejection::Unreachable),
            ),
            (
                "not-ready NoSchedule",
                taint("node.kubernetes.io/not-ready", "NoSchedule"),
                pod(json!({}), json!({})),
                Err(Rejection::NotReady),
            ),
            ("a user's taint", taint("dedicated", "NoSchedule"), pod(json!({}), json!({})), Err(Rejection::Taint)),
            ("tolerated", taint("dedicated", "NoSchedule"), tolerating("dedicated"), Ok(())),
            (
                "PreferNoSchedule only prefers",
                taint("dedicated", "PreferNoSchedule"),
                pod(json!({}), json!({})),
                Ok(()),
            ),
        ];
        for (name, extra, p, want) in taints {
            assert_eq!(check(&p, &node("n", "2", "1Gi", "3", extra), used(0, 0, 0), now()), want, "{name}");
        }
        let beat =
            |t: &str| json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": t}]}});
        let fresh = node("n", "2", "1Gi", "3", beat("2026-01-01T00:00:30Z"));
        assert_eq!(check(&pod(json!({}), json!({})), &fresh, used(0, 0, 0), now()), Ok(()));
        let silent = node("n", "2", "1Gi", "3", beat("2026-01-01T00:00:00Z"));
        let later = now() + jiff::SignedDuration::from_secs(60);
        assert_eq!(check(&pod(json!({}), json!({})), &silent, used(0, 0, 0), later), Err(Rejection::Unreachable));
    }

    #[test]
    fn picks_least_loaded_and_explains_misses() {
        let nodes = vec![node("a", "4", "4Gi", "10", json!({})), node("b", "4", "4Gi", "10", json!({}))];
        let mut used = BTreeMap::new();
        used.insert("a".to_string(), Resources { cpu_milli: 3000, memory: 0, pods: 1 });
        let p = pod(json!({"requests": {"cpu": "500m"}}), json!({}));
        assert_eq!(pick(&p, &nodes, &used, now()).unwrap().metadata.name.as_deref(), Some("b"));
        let big = pod(json!({"requests": {"cpu": "8"}}), json!({}));
        assert_eq!(pick(&big, &nodes, &used, now()).unwrap_err(), "0/2 nodes are available: 2 Insufficient cpu.");
        assert_eq!(pick(&p, &[], &used, now()).unwrap_err(), "no nodes available to schedule pods");
    }
}
