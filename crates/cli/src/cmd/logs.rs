//! `runlet logs`: a pod's container, a Job's pod (`job/NAME`), or every pod of a selector; `-f` follows them
//! all at once.

use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt};
use runlet_api::vocab::PodPhase;
use serde_json::Value;

use super::{Ctx, items};
use crate::Ui;
use crate::conn::ConnArgs;
use crate::error::{CliError, Result};
use crate::request::with_query;
use crate::wait::parse_duration;

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// POD, or TYPE/NAME (job/pi, pod/pi-xyz)
    pub target: Option<String>,
    /// The container (same as -c)
    pub container_arg: Option<String>,
    /// The container to print [default: the pod's only, or first, container]
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Keep streaming new lines until the containers end
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Every container of the pods
    #[arg(long)]
    pub all_containers: bool,
    /// Only the last N lines (-1: all; 10 with a selector)
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// Only lines newer than this, e.g. 5s, 2m, 3h
    #[arg(long, value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// Only lines after this RFC 3339 time
    #[arg(long)]
    pub since_time: Option<String>,
    /// Start each line with its timestamp
    #[arg(long)]
    pub timestamps: bool,
    /// The previous run of a restarted container
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// The pods matching this label selector
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Start each line with [pod/NAME/CONTAINER]
    #[arg(long)]
    pub prefix: bool,
    /// At most this many bytes per container
    #[arg(long)]
    pub limit_bytes: Option<u64>,
    /// Most logs followed at once with a selector
    #[arg(long, default_value_t = 5)]
    pub max_log_requests: usize,
    /// How long to wait for a Job's first pod
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub pod_running_timeout: Duration,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// The annotation naming a pod's default container.
const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

/// One container's log to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Source {
    pod: String,
    container: String,
}

fn container_names(pod: &Value, key: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{key}"))
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from)).collect())
        .unwrap_or_default()
}

/// The containers to print for a pod, and a note when one was picked among several.
fn containers(pod: &Value, asked: Option<&str>, all: bool) -> Result<(Vec<String>, Option<String>)> {
    let name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let mut every = container_names(pod, "initContainers");
    let main = container_names(pod, "containers");
    every.extend(main.iter().cloned());
    if all {
        return Ok((every, None));
    }
    if let Some(c) = asked {
        if !every.iter().any(|e| e == c) {
            return Err(CliError::Server {
                reason: "BadRequest".into(),
                message: format!("container {c} is not valid for pod {name}"),
            });
        }
        return Ok((vec![c.to_string()], None));
    }
    let annotated = pod.pointer("/metadata/annotations").and_then(|a| a.get(DEFAULT_CONTAINER)).and_then(Value::as_str);
    if let Some(c) = annotated.filter(|c| main.iter().any(|m| m == c)) {
        return Ok((vec![c.to_string()], None));
    }
    let first = main.first().cloned().ok_or_else(|| CliError::other(format!("pod {name} has no containers")))?;
    let note = (main.len() > 1).then(|| format!("Defaulted container \"{first}\" out of: {}", main.join(", ")));
    Ok((vec![first], note))
}

/// The pod `logs job/NAME` uses: a running one if any, else the newest.
fn pick_pod(pods: &[Value]) -> Option<&Value> {
    let phase = |p: &Value| p.pointer("/status/phase").and_then(Value::as_str).unwrap_or("").to_string();
    let created =
        |p: &Value| p.pointer("/metadata/creationTimestamp").and_then(Value::as_str).unwrap_or("").to_string();
    let running = |p: &Value| phase(p) == PodPhase::Running;
    pods.iter().max_by(|a, b| running(a).cmp(&running(b)).then(created(a).cmp(&created(b))))
}

/// `a=b,c=d` from a label selector's `matchLabels` (what `logs job/NAME` lists pods by).
fn match_labels(job: &Value) -> String {
    let mut pairs: Vec<String> = job
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect())
        .unwrap_or_default();
    pairs.sort();
    pairs.join(",")
}

impl LogsArgs {
    fn query(&self, container: &str, tail: i64) -> Vec<(&'static str, String)> {
        let mut q = vec![("container", container.to_string())];
        if self.follow {
            q.push(("follow", "true".into()));
        }
        if tail >= 0 {
            q.push(("tailLines", tail.to_string()));
        }
        if let Some(s) = self.since {
            q.push(("sinceSeconds", s.as_secs().max(1).to_string()));
        }
        if let Some(t) = &self.since_time {
            q.push(("sinceTime", t.clone()));
        }
        if self.timestamps {
            q.push(("timestamps", "true".into()));
        }
        if self.previous {
            q.push(("previous", "true".into()));
        }
        if let Some(b) = self.limit_bytes {
            q.push(("limitBytes", b.to_string()));
        }
        q
    }
}

pub async fn run(args: LogsArgs, ui: &mut Ui) -> Result<()> {
    let ctx = Ctx::new(&args.conn).await?;
    let ns = ctx.ns().to_string();
    let pods_path = format!("/api/v1/namespaces/{ns}/pods");
    let asked = args.container.clone().or(args.container_arg.clone());
    let (pods, from_selector): (Vec<Value>, bool) = match (&args.target, &args.selector) {
        (Some(_), Some(_)) => return Err(CliError::other("only one of a selector or a pod name may be given")),
        (None, None) => return Err(CliError::other("expected POD, TYPE/NAME, or -l SELECTOR")),
        (None, Some(sel)) => {
            let list = ctx.conn.api.get(&with_query(&pods_path, &[("labelSelector", sel)])).await?;
            let pods = items(&list);
            if pods.is_empty() {
                ui.note(&super::no_resources(Some(&ns)));
                return Ok(());
            }
            (pods, true)
        }
        (Some(target), None) => (vec![pod_for(&ctx, target, &args, ui).await?], false),
    };
    let mut sources = Vec::new();
    let pods = started(&ctx, pods, &args).await?;
    for pod in &pods {
        let (names, note) = containers(pod, asked.as_deref(), args.all_containers)?;
        if let Some(n) = note.filter(|_| !from_selector) {
            ui.note(&n);
        }
        let pod_name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        sources.extend(names.into_iter().map(|container| Source { pod: pod_name.clone(), container }));
    }
    let tail = if args.tail < 0 && from_selector { 10 } else { args.tail };
    if args.follow && sources.len() > args.max_log_requests {
        return Err(CliError::other(format!(
            "you are attempting to follow {} log streams, but maximum allowed concurrency is {}, use --max-log-requests to increase the limit",
            sources.len(),
            args.max_log_requests
        )));
    }
    let uri = |s: &Source| {
        let q = args.query(&s.container, tail);
        let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        with_query(&format!("{pods_path}/{}/log", s.pod), &pairs)
    };
    let prefix = |s: &Source| if args.prefix { format!("[pod/{}/{}] ", s.pod, s.container) } else { String::new() };
    if !args.follow {
        for s in &sources {
            let text = ctx.conn.api.get_text(&uri(s)).await?;
            let p = prefix(s);
            ui.out(&text.split_inclusive('\n').map(|l| format!("{p}{l}")).collect::<String>());
        }
        return Ok(());
    }
    // Follow every stream at once; lines print as they arrive.
    let mut streams = Vec::new();
    for s in &sources {
        let body = ctx.conn.api.stream(&uri(s), "*/*").await?;
        let p = prefix(s);
        streams.push(body.lines().map(move |l| l.map(|l| format!("{p}{l}\n"))).boxed());
    }
    let mut all = futures::stream::select_all(streams);
    while let Some(line) = all.next().await {
        ui.out(&line?);
    }
    Ok(())
}

/// Whether every container of the pod has started (or ended): before that there is no log to read.
fn containers_started(pod: &Value) -> bool {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
    if PodPhase::parse(phase).is_some_and(PodPhase::is_terminal) {
        return true;
    }
    let want = container_names(pod, "containers").len();
    let statuses: Vec<&Value> =
        pod.pointer("/status/containerStatuses").and_then(Value::as_array).into_iter().flatten().collect();
    statuses.len() >= want && statuses.iter().all(|s| s.pointer("/state/waiting").is_none())
}

/// The pods again once their containers have started, waiting up to `--pod-running-timeout` (kinder than
/// kubectl, which fails at once while a container is being created).
async fn started(ctx: &Ctx, pods: Vec<Value>, args: &LogsArgs) -> Result<Vec<Value>> {
    let deadline = tokio::time::Instant::now() + args.pod_running_timeout;
    let mut out = Vec::with_capacity(pods.len());
    for mut pod in pods {
        while !containers_started(&pod) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let path = format!(
                "/api/v1/namespaces/{}/pods/{}",
                pod.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(ctx.ns()),
                pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
            );
            pod = ctx.conn.api.get(&path).await?;
        }
        out.push(pod);
    }
    Ok(out)
}

/// The pod a `POD` or `TYPE/NAME` argument means; a Job's pod may be waited for.
async fn pod_for(ctx: &Ctx, target: &str, args: &LogsArgs, ui: &mut Ui) -> Result<Value> {
    let ns = ctx.ns();
    let (kind, name) = target.split_once('/').unwrap_or(("pod", target));
    let resource =
        ctx.discovery.resolve(kind)?.into_iter().next().ok_or_else(|| CliError::other("no resource"))?.clone();
    if resource.kind == "Pod" {
        return ctx.conn.api.get(&resource.item_path(ns, name)).await;
    }
    let owner = ctx.conn.api.get(&resource.item_path(ns, name)).await?;
    let selector = match_labels(&owner);
    if selector.is_empty() {
        return Err(CliError::other(format!(
            "cannot get the logs of {}/{name}: it has no pod selector",
            resource.kind_ref()
        )));
    }
    let pods_path = format!("/api/v1/namespaces/{ns}/pods");
    let deadline = tokio::time::Instant::now() + args.pod_running_timeout;
    loop {
        let pods = items(&ctx.conn.api.get(&with_query(&pods_path, &[("labelSelector", &selector)])).await?);
        if let Some(pod) = pick_pod(&pods) {
            if pods.len() > 1 {
                ui.note(&format!(
                    "Found {} pods, using pod/{}",
                    pods.len(),
                    pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
                ));
            }
            return Ok(pod.clone());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::other("timed out waiting for the condition"));
        }
        // The Job controller has not made a pod yet.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, containers: &[&str], phase: &str, created: &str) -> Value {
        let cs: Vec<Value> = containers.iter().map(|c| json!({"name": c})).collect();
        json!({"metadata": {"name": name, "creationTimestamp": created}, "spec": {"containers": cs, "initContainers": [{"name": "init"}]}, "status": {"phase": phase}})
    }

    #[test]
    fn choosing_containers() {
        let one = pod("p", &["a"], "Running", "");
        assert_eq!(containers(&one, None, false).unwrap(), (vec!["a".to_string()], None));
        let two = pod("p", &["a", "b"], "Running", "");
        assert_eq!(
            containers(&two, None, false).unwrap(),
            (vec!["a".to_string()], Some("Defaulted container \"a\" out of: a, b".to_string()))
        );
        assert_eq!(containers(&two, Some("b"), false).unwrap().0, ["b"]);
        assert_eq!(containers(&two, None, true).unwrap().0, ["init", "a", "b"]);
        assert_eq!(
            containers(&two, Some("zz"), false).unwrap_err().to_string(),
            "Error from server (BadRequest): container zz is not valid for pod p"
        );
        let mut annotated = two.clone();
        annotated["metadata"]["annotations"] = json!({DEFAULT_CONTAINER: "b"});
        assert_eq!(containers(&annotated, None, false).unwrap(), (vec!["b".to_string()], None));
    }

    #[test]
    fn started_containers() {
        let mut p = pod("p", &["a", "b"], "Pending", "");
        assert!(!containers_started(&p));
        p["status"]["containerStatuses"] = json!([{"name": "a", "state": {"running": {}}}, {"name": "b", "state": {"waiting": {"reason": "ContainerCreating"}}}]);
        assert!(!containers_started(&p));
        p["status"]["containerStatuses"][1]["state"] = json!({"terminated": {"exitCode": 0}});
        assert!(containers_started(&p));
        assert!(containers_started(&pod("q", &["a"], "Failed", "")));
    }

    #[test]
    fn picking_a_jobs_pod() {
        let pods = [
            pod("old", &["a"], "Failed", "2024-01-01T00:00:00Z"),
            pod("new", &["a"], "Failed", "2024-01-02T00:00:00Z"),
        ];
        assert_eq!(pick_pod(&pods).unwrap()["metadata"]["name"], "new");
        let pods = [
            pod("run", &["a"], "Running", "2024-01-01T00:00:00Z"),
            pod("new", &["a"], "Failed", "2024-01-02T00:00:00Z"),
        ];
        assert_eq!(pick_pod(&pods).unwrap()["metadata"]["name"], "run");
        assert!(pick_pod(&[]).is_none());
        let job = json!({"spec": {"selector": {"matchLabels": {"b": "2", "a": "1"}}}});
        assert_eq!(match_labels(&job), "a=1,b=2");
    }
}
