//! `describe node`, with the pods on the node and what they request.

use serde_json::Value;

use runlet_api::quantity::{ParsedQuantity, parse_quantity};

use super::{Writer, annotations, labels, multiline, rfc1123z, s, sorted_map};

pub fn describe(w: &mut Writer, node: &Value, pods: &[Value], lease: Option<&Value>) {
    w.write(0, &format!("Name:\t{}\n", s(node, "/metadata/name")));
    let mut roles: Vec<String> = sorted_map(node, "/metadata/labels")
        .into_iter()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/").map(String::from))
        .filter(|r| !r.is_empty())
        .collect();
    roles.sort();
    w.write(0, &format!("Roles:\t{}\n", if roles.is_empty() { "<none>".to_string() } else { roles.join(",") }));
    labels(w, "Labels", node, "/metadata/labels");
    annotations(w, "Annotations", node, "/metadata/annotations");
    w.write(0, &format!("CreationTimestamp:\t{}\n", rfc1123z(s(node, "/metadata/creationTimestamp"))));
    taints(w, node);
    let unschedulable = node.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false);
    w.write(0, &format!("Unschedulable:\t{unschedulable}\n"));
    w.write(0, "Lease:\n");
    let lease_time = |k: &str| lease.and_then(|l| l.pointer(&format!("/spec/{k}"))).and_then(Value::as_str);
    w.write(1, &format!("HolderIdentity:\t{}\n", lease_time("holderIdentity").unwrap_or("<unset>")));
    for (title, k) in [("AcquireTime", "acquireTime"), ("RenewTime", "renewTime")] {
        w.write(1, &format!("{title}:\t{}\n", lease_time(k).map(rfc1123z).unwrap_or_else(|| "<unset>".into())));
    }
    let conditions: Vec<&Value> =
        node.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().collect();
    if !conditions.is_empty() {
        w.write(0, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n");
        w.write(1, "----\t------\t-----------------\t------------------\t------\t-------\n");
        for c in conditions {
            w.write(
                1,
                &format!(
                    "{} \t{} \t{} \t{} \t{} \t{}\n",
                    s(c, "/type"),
                    s(c, "/status"),
                    rfc1123z(s(c, "/lastHeartbeatTime")),
                    rfc1123z(s(c, "/lastTransitionTime")),
                    s(c, "/reason"),
                    s(c, "/message")
                ),
            );
        }
    }
    w.write(0, "Addresses:\n");
    for a in node.pointer("/status/addresses").and_then(Value::as_array).into_iter().flatten() {
        w.write(1, &format!("{}:\t{}\n", s(a, "/type"), s(a, "/address")));
    }
    for (title, k) in [("Capacity", "capacity"), ("Allocatable", "allocatable")] {
        let list = resource_names_sorted(sorted_map(node, &format!("/status/{k}")));
        if !list.is_empty() {
            w.write(0, &format!("{title}:\n"));
            for (name, q) in list {
                w.write(0, &format!("  {name}:\t{q}\n"));
            }
        }
    }
    w.write(0, "System Info:\n");
    for (title, k) in [
        ("Machine ID", "machineID"),
        ("System UUID", "systemUUID"),
        ("Boot ID", "bootID"),
        ("Kernel Version", "kernelVersion"),
        ("OS Image", "osImage"),
        ("Operating System", "operatingSystem"),
        ("Architecture", "architecture"),
        ("Container Runtime Version", "containerRuntimeVersion"),
        ("Kubelet Version", "kubeletVersion"),
        ("Kube-Proxy Version", "kubeProxyVersion"),
    ] {
        w.write(0, &format!("  {title}:\t{}\n", s(node, &format!("/status/nodeInfo/{k}"))));
    }
    if !s(node, "/spec/podCIDR").is_empty() {
        w.write(0, &format!("PodCIDR:\t{}\n", s(node, "/spec/podCIDR")));
    }
    let cidrs: Vec<&str> = node
        .pointer("/spec/podCIDRs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !cidrs.is_empty() {
        w.write(0, &format!("PodCIDRs:\t{}\n", cidrs.join(",")));
    }
    if !s(node, "/spec/providerID").is_empty() {
        w.write(0, &format!("ProviderID:\t{}\n", s(node, "/spec/providerID")));
    }
    resources(w, node, pods);
}

/// Resource names in kubectl's order (`SortableResourceNames`: by name).
fn resource_names_sorted(mut list: Vec<(String, String)>) -> Vec<(String, String)> {
    list.sort();
    list
}

fn taints(w: &mut Writer, node: &Value) {
    let mut list: Vec<&Value> = node.pointer("/spec/taints").and_then(Value::as_array).into_iter().flatten().collect();
    list.sort_by_key(|t| format!("{},{}", s(t, "/effect"), s(t, "/key")));
    multiline(w, "Taints", &list, |w, t| {
        let value = match s(t, "/value") {
            "" => String::new(),
            v => format!("={v}"),
        };
        w.write(0, &format!("{}{value}:{}\n", s(t, "/key"), s(t, "/effect")));
    });
}

/// The sum of one resource over a pod's containers (`requests` or `limits`), the larger of that and any init
/// container's, as upstream's `PodRequests` computes it.
fn pod_total(pod: &Value, which: &str, resource: &str) -> ParsedQuantity {
    let of = |c: &Value| {
        c.pointer(&format!("/resources/{which}/{resource}"))
            .and_then(Value::as_str)
            .and_then(|q| parse_quantity(q).ok())
            .unwrap_or_default()
    };
    let list = |k: &str| pod.pointer(&format!("/spec/{k}")).and_then(Value::as_array).cloned().unwrap_or_default();
    let sum = list("containers").iter().map(of).fold(ParsedQuantity::default(), |a, b| a.checked_add(b).unwrap_or(a));
    list("initContainers").iter().map(of).fold(sum, |a, b| if b > a { b } else { a })
}

/// A quantity as kubectl prints a sum: millicores for CPU, binary suffixes for bytes where exact.
fn quantity_text(q: ParsedQuantity, resource: &str) -> String {
    if q.is_zero() {
        return "0".to_string();
    }
    if resource == "cpu" {
        let m = q.milli_value();
        return if m % 1000 == 0 { format!("{}", m / 1000) } else { format!("{m}m") };
    }
    let v = q.value();
    for (suffix, size) in [("Gi", 1i128 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if v % size == 0 {
            return format!("{}{suffix}", v / size);
        }
    }
    v.to_string()
}

fn percent(part: ParsedQuantity, whole: Option<ParsedQuantity>) -> i128 {
    match whole.filter(|w| !w.is_zero()) {
        Some(w) => part.nanos() * 100 / w.nanos(),
        None => 0,
    }
}

fn resources(w: &mut Writer, node: &Value, pods: &[Value]) {
    let capacity_key = if node.pointer("/status/allocatable").and_then(Value::as_object).is_some_and(|m| !m.is_empty())
    {
        "allocatable"
    } else {
        "capacity"
    };
    let allocatable = |r: &str| {
        node.pointer(&format!("/status/{capacity_key}/{r}"))
            .and_then(Value::as_str)
            .and_then(|q| parse_quantity(q).ok())
    };
    w.write(0, &format!("Non-terminated Pods:\t({} in total)\n", pods.len()));
    w.write(1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n");
    w.write(1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n");
    for pod in pods {
        let cell = |which: &str, r: &str| {
            let q = pod_total(pod, which, r);
            format!("{} ({}%)", quantity_text(q, r), percent(q, allocatable(r)))
        };
        w.write(
            1,
            &format!(
                "{}\t{}\t\t{}\t{}\t{}\t{}\t{}\n",
                s(pod, "/metadata/namespace"),
                s(pod, "/metadata/name"),
                cell("requests", "cpu"),
                cell("limits", "cpu"),
                cell("requests", "memory"),
                cell("limits", "memory"),
                w.since(pod.pointer("/metadata/creationTimestamp").and_then(Value::as_str))
            ),
        );
    }
    w.write(0, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n");
    w.write(1, "Resource\tRequests\tLimits\n");
    w.write(1, "--------\t--------\t------\n");
    for r in ["cpu", "memory", "ephemeral-storage"] {
        let total = |which: &str| {
            pods.iter()
                .map(|p| pod_total(p, which, r))
                .fold(ParsedQuantity::default(), |a, b| a.checked_add(b).unwrap_or(a))
        };
        let (req, lim) = (total("requests"), total("limits"));
        w.write(
            1,
            &format!(
                "{r}\t{} ({}%)\t{} ({}%)\n",
                quantity_text(req, r),
                percent(req, allocatable(r)),
                quantity_text(lim, r),
                percent(lim, allocatable(r))
            ),
        );
    }
}
