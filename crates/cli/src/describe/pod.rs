//! `describe pod`, and the pod template of `describe job`.

use runlet_api::vocab::PodPhase;
use serde_json::Value;

use super::{Writer, annotations, controller, i, labels, multiline, rfc1123z, s, sorted_map};

pub fn describe(w: &mut Writer, pod: &Value) {
    w.write(0, &format!("Name:\t{}\n", s(pod, "/metadata/name")));
    w.write(0, &format!("Namespace:\t{}\n", s(pod, "/metadata/namespace")));
    if let Some(p) = pod.pointer("/spec/priority") {
        w.write(0, &format!("Priority:\t{p}\n"));
    }
    for (title, ptr) in [
        ("Priority Class Name", "/spec/priorityClassName"),
        ("Runtime Class Name", "/spec/runtimeClassName"),
        ("Service Account", "/spec/serviceAccountName"),
    ] {
        if !s(pod, ptr).is_empty() {
            w.write(0, &format!("{title}:\t{}\n", s(pod, ptr)));
        }
    }
    match s(pod, "/spec/nodeName") {
        "" => w.write(0, "Node:\t<none>\n"),
        node => w.write(0, &format!("Node:\t{node}/{}\n", s(pod, "/status/hostIP"))),
    }
    if let Some(t) = pod.pointer("/status/startTime").and_then(Value::as_str) {
        w.write(0, &format!("Start Time:\t{}\n", rfc1123z(t)));
    }
    labels(w, "Labels", pod, "/metadata/labels");
    annotations(w, "Annotations", pod, "/metadata/annotations");
    let phase = s(pod, "/status/phase");
    match pod.pointer("/metadata/deletionTimestamp").and_then(Value::as_str) {
        Some(t) if !PodPhase::parse(phase).is_some_and(PodPhase::is_terminal) => {
            w.write(0, &format!("Status:\tTerminating (lasts {})\n", w.since(Some(t))));
            w.write(0, &format!("Termination Grace Period:\t{}s\n", i(pod, "/metadata/deletionGracePeriodSeconds")));
        }
        _ => w.write(0, &format!("Status:\t{phase}\n")),
    }
    for (title, ptr) in [("Reason", "/status/reason"), ("Message", "/status/message")] {
        if !s(pod, ptr).is_empty() {
            w.write(0, &format!("{title}:\t{}\n", s(pod, ptr)));
        }
    }
    w.write(0, &format!("IP:\t{}\n", s(pod, "/status/podIP")));
    let ips: Vec<&str> =
        pod.pointer("/status/podIPs").and_then(Value::as_array).into_iter().flatten().map(|ip| s(ip, "/ip")).collect();
    if ips.is_empty() {
        w.write(0, "IPs:\t<none>\n");
    } else {
        w.write(0, "IPs:\n");
        for ip in ips {
            w.write(1, &format!("IP:\t{ip}\n"));
        }
    }
    if let Some(c) = controller(pod) {
        w.write(0, &format!("Controlled By:\t{c}\n"));
    }
    if !s(pod, "/status/nominatedNodeName").is_empty() {
        w.write(0, &format!("NominatedNodeName:\t{}\n", s(pod, "/status/nominatedNodeName")));
    }
    let statuses =
        |key: &str| pod.pointer(&format!("/status/{key}")).and_then(Value::as_array).cloned().unwrap_or_default();
    let spec = pod.get("spec").cloned().unwrap_or(Value::Null);
    if array(&spec, "initContainers").next().is_some() {
        containers(
            w,
            "Init Containers",
            &spec,
            "initContainers",
            Some(&statuses("initContainerStatuses")),
            Some(pod),
            "",
        );
    }
    containers(w, "Containers", &spec, "containers", Some(&statuses("containerStatuses")), Some(pod), "");
    let conditions = statuses("conditions");
    if !conditions.is_empty() {
        w.write(0, "Conditions:\n  Type\tStatus\n");
        for c in &conditions {
            w.write(1, &format!("{} \t{} \n", s(c, "/type"), s(c, "/status")));
        }
    }
    volumes(w, &spec, "");
    w.write(0, &format!("QoS Class:\t{}\n", qos_class(&spec)));
    labels(w, "Node-Selectors", pod, "/spec/nodeSelector");
    tolerations(w, "Tolerations", &spec);
}

/// `Pod Template:` of a Job (no statuses; env values from fields are not resolved).
pub fn template(w: &mut Writer, template: Option<&Value>) {
    w.write(0, "Pod Template:\n");
    let Some(t) = template else {
        w.write(1, "<unset>");
        return;
    };
    labels(w, "  Labels", t, "/metadata/labels");
    if !sorted_map(t, "/metadata/annotations").is_empty() {
        annotations(w, "  Annotations", t, "/metadata/annotations");
    }
    let spec = t.get("spec").cloned().unwrap_or(Value::Null);
    if !s(&spec, "/serviceAccountName").is_empty() {
        w.write(1, &format!("Service Account:\t{}\n", s(&spec, "/serviceAccountName")));
    }
    if array(&spec, "initContainers").next().is_some() {
        containers(w, "Init Containers", &spec, "initContainers", None, None, "  ");
    }
    containers(w, "Containers", &spec, "containers", None, None, "  ");
    volumes(w, &spec, "  ");
    if !s(&spec, "/priorityClassName").is_empty() {
        w.write(1, &format!("Priority Class Name:\t{}\n", s(&spec, "/priorityClassName")));
    }
    labels(w, "  Node-Selectors", t, "/spec/nodeSelector");
    tolerations(w, "  Tolerations", &spec);
}

fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn strings<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    array(v, key).filter_map(Value::as_str).collect()
}

fn containers(
    w: &mut Writer,
    title: &str,
    spec: &Value,
    key: &str,
    statuses: Option<&[Value]>,
    pod: Option<&Value>,
    space: &str,
) {
    let list: Vec<&Value> = array(spec, key).collect();
    let none = if list.is_empty() { " <none>" } else { "" };
    w.write(0, &format!("{space}{title}:{none}\n"));
    let name_indent = if space.is_empty() { "" } else { " " };
    for c in list {
        let name = s(c, "/name");
        let status = statuses.and_then(|ss| ss.iter().find(|st| s(st, "/name") == name));
        w.write(1, &format!("{name_indent}{name}:\n"));
        if let Some(st) = status {
            w.write(2, &format!("Container ID:\t{}\n", s(st, "/containerID")));
        }
        w.write(2, &format!("Image:\t{}\n", s(c, "/image")));
        if let Some(st) = status {
            w.write(2, &format!("Image ID:\t{}\n", s(st, "/imageID")));
        }
        let ports: Vec<&Value> = array(c, "ports").collect();
        let port_text = |field: &str| {
            ports
                .iter()
                .map(|p| {
                    let base = format!("{}/{}", i(p, &format!("/{field}")), s(p, "/protocol"));
                    match s(p, "/name") {
                        "" => base,
                        n => format!("{base} ({n})"),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (single, plural, field) in [("Port", "Ports", "containerPort"), ("Host Port", "Host Ports", "hostPort")] {
            let text = port_text(field);
            if text.contains(',') {
                w.write(2, &format!("{plural}:\t{text}\n"));
            } else {
                w.write(2, &format!("{single}:\t{}\n", if text.is_empty() { "<none>" } else { &text }));
            }
        }
        for (title, k) in [("Command", "command"), ("Args", "args")] {
            let items = strings(c, k);
            if !items.is_empty() {
                w.write(2, &format!("{title}:\n"));
                for line in items.iter().flat_map(|a| a.split('\n')) {
                    w.write(3, &format!("{line}\n"));
                }
            }
        }
        if let Some(st) = status {
            state(w, "State", st.get("state"));
            if st.pointer("/lastState/terminated").is_some() {
                state(w, "Last State", st.get("lastState"));
            }
            let ready = if st.get("ready").and_then(Value::as_bool) == Some(true) { "True" } else { "False" };
            w.write(2, &format!("Ready:\t{ready}\n"));
            w.write(2, &format!("Restart Count:\t{}\n", i(st, "/restartCount")));
        }
        for (title, k) in [("Limits", "limits"), ("Requests", "requests")] {
            let items = sorted_map(c, &format!("/resources/{k}"));
            if !items.is_empty() {
                w.write(2, &format!("{title}:\n"));
                for (name, q) in items {
                    w.write(3, &format!("{name}:\t{q}\n"));
                }
            }
        }
        for (title, k) in [("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"), ("Startup", "startupProbe")]
        {
            if let Some(p) = c.get(k) {
                w.write(2, &format!("{title}:\t{}\n", probe(p)));
            }
        }
        env(w, c, pod);
        mounts(w, c);
    }
}

fn state(w: &mut Writer, title: &str, state: Option<&Value>) {
    let st = state.cloned().unwrap_or(Value::Null);
    if let Some(r) = st.get("running") {
        w.write(2, &format!("{title}:\tRunning\n"));
        w.write(3, &format!("Started:\t{}\n", rfc1123z(s(r, "/startedAt"))));
    } else if let Some(t) = st.get("terminated") {
        w.write(2, &format!("{title}:\tTerminated\n"));
        for (k, ptr) in [("Reason", "/reason"), ("Message", "/message")] {
            if !s(t, ptr).is_empty() {
                w.write(3, &format!("{k}:\t{}\n", s(t, ptr)));
            }
        }
        w.write(3, &format!("Exit Code:\t{}\n", i(t, "/exitCode")));
        if i(t, "/signal") > 0 {
            w.write(3, &format!("Signal:\t{}\n", i(t, "/signal")));
        }
        w.write(3, &format!("Started:\t{}\n", rfc1123z(s(t, "/startedAt"))));
        w.write(3, &format!("Finished:\t{}\n", rfc1123z(s(t, "/finishedAt"))));
    } else {
        w.write(2, &format!("{title}:\tWaiting\n"));
        if let Some(reason) = st.pointer("/waiting/reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
            w.write(3, &format!("Reason:\t{reason}\n"));
        }
    }
}

/// kubectl's `DescribeProbe`.
fn probe(p: &Value) -> String {
    let n = |k: &str| i(p, &format!("/{k}"));
    let attrs = format!(
        "delay={}s timeout={}s period={}s successThreshold={} failureThreshold={}",
        n("initialDelaySeconds"),
        n("timeoutSeconds"),
        n("periodSeconds"),
        n("successThreshold"),
        n("failureThreshold")
    );
    let port = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    if let Some(e) = p.get("exec") {
        format!("exec [{}] {attrs}", strings(e, "command").join(" "))
    } else if let Some(h) = p.get("httpGet") {
        let scheme = s(h, "/scheme").to_lowercase();
        format!("http-get {scheme}://{}:{}{} {attrs}", s(h, "/host"), port(h.get("port")), s(h, "/path"))
    } else if let Some(t) = p.get("tcpSocket") {
        format!("tcp-socket {}:{} {attrs}", s(t, "/host"), port(t.get("port")))
    } else if let Some(g) = p.get("grpc") {
        format!("grpc <pod>:{} {} {attrs}", i(g, "/port"), s(g, "/service"))
    } else {
        format!("unknown {attrs}")
    }
}

/// The value of a `fieldRef` for a pod (what `describe pod` shows beside the field path).
fn field_value(pod: &Value, path: &str) -> String {
    let quoted = |prefix: &str| path.strip_prefix(prefix).and_then(|r| r.strip_suffix("']")).map(str::to_string);
    if let Some(k) = quoted("metadata.labels['") {
        return pod.pointer("/metadata/labels").and_then(|l| l.get(&k)).and_then(Value::as_str).unwrap_or("").into();
    }
    if let Some(k) = quoted("metadata.annotations['") {
        return pod
            .pointer("/metadata/annotations")
            .and_then(|l| l.get(&k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .into();
    }
    let pointer = format!("/{}", path.replace('.', "/"));
    s(pod, &pointer).to_string()
}

fn env(w: &mut Writer, c: &Value, pod: Option<&Value>) {
    let vars: Vec<&Value> = array(c, "env").collect();
    let from: Vec<&Value> = array(c, "envFrom").collect();
    if !from.is_empty() {
        w.write(2, "Environment Variables from:\n");
        for e in from {
            let (kind, r) = match (e.get("configMapRef"), e.get("secretRef")) {
                (Some(r), _) => ("ConfigMap", r),
                (_, Some(r)) => ("Secret", r),
                _ => ("", &Value::Null),
            };
            let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
            match s(e, "/prefix") {
                "" => w.write(3, &format!("{}\t{kind}\tOptional: {optional}\n", s(r, "/name"))),
                p => w.write(3, &format!("{}\t{kind} with prefix '{p}'\tOptional: {optional}\n", s(r, "/name"))),
            }
        }
    }
    w.write(2, &format!("Environment:{}\n", if vars.is_empty() { "\t<none>" } else { "" }));
    for e in vars {
        let name = s(e, "/name");
        let Some(from) = e.get("valueFrom") else {
            for (n, line) in s(e, "/value").split('\n').enumerate() {
                if n == 0 {
                    w.write(3, &format!("{name}:\t{line}\n"));
                } else {
                    w.write(3, &format!("\t{line}\n"));
                }
            }
            continue;
        };
        if let Some(f) = from.get("fieldRef") {
            let path = s(f, "/fieldPath");
            let value = pod.map(|p| field_value(p, path)).unwrap_or_default();
            w.write(3, &format!("{name}:\t{value} ({}:{path})\n", s(f, "/apiVersion")));
        } else if let Some(r) = from.get("resourceFieldRef") {
            w.write(3, &format!("{name}:\t ({})\n", s(r, "/resource")));
        } else if let Some(r) = from.get("secretKeyRef") {
            let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
            w.write(
                3,
                &format!(
                    "{name}:\t<set to the key '{}' in secret '{}'>\tOptional: {optional}\n",
                    s(r, "/key"),
                    s(r, "/name")
                ),
            );
        } else if let Some(r) = from.get("configMapKeyRef") {
            let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
            w.write(
                3,
                &format!(
                    "{name}:\t<set to the key '{}' of config map '{}'>\tOptional: {optional}\n",
                    s(r, "/key"),
                    s(r, "/name")
                ),
            );
        }
    }
}

fn mounts(w: &mut Writer, c: &Value) {
    let mut list: Vec<&Value> = array(c, "volumeMounts").collect();
    w.write(2, &format!("Mounts:{}\n", if list.is_empty() { "\t<none>" } else { "" }));
    list.sort_by(|a, b| s(a, "/mountPath").cmp(s(b, "/mountPath")));
    for m in list {
        let mut flags = vec![if m.get("readOnly").and_then(Value::as_bool) == Some(true) {
            "ro".to_string()
        } else {
            "rw".to_string()
        }];
        if !s(m, "/subPath").is_empty() {
            flags.push(format!("path={:?}", s(m, "/subPath")));
        }
        w.write(3, &format!("{} from {} ({})\n", s(m, "/mountPath"), s(m, "/name"), flags.join(",")));
    }
}

fn volumes(w: &mut Writer, spec: &Value, space: &str) {
    let list: Vec<&Value> = array(spec, "volumes").collect();
    if list.is_empty() {
        w.write(0, &format!("{space}Volumes:\t<none>\n"));
        return;
    }
    w.write(0, &format!("{space}Volumes:\n"));
    let name_indent = if space.is_empty() { "" } else { " " };
    for v in list {
        w.write(1, &format!("{name_indent}{}:\n", s(v, "/name")));
        let optional = |r: &Value| r.get("optional").and_then(Value::as_bool).unwrap_or(false);
        if let Some(h) = v.get("hostPath") {
            let t = match s(h, "/type") {
                "" => "<none>",
                t => t,
            };
            w.write(
                2,
                &format!(
                    "Type:\tHostPath (bare host directory volume)\n    Path:\t{}\n    HostPathType:\t{t}\n",
                    s(h, "/path")
                ),
            );
        } else if let Some(e) = v.get("emptyDir") {
            let size = match e.get("sizeLimit") {
                Some(Value::String(q)) if q != "0" => q.clone(),
                _ => "<unset>".to_string(),
            };
            w.write(2, &format!("Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t{}\n    SizeLimit:\t{size}\n", s(e, "/medium")));
        } else if let Some(sec) = v.get("secret") {
            w.write(
                2,
                &format!(
                    "Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t{}\n    Optional:\t{}\n",
                    s(sec, "/secretName"),
                    optional(sec)
                ),
            );
        } else if let Some(cm) = v.get("configMap") {
            w.write(
                2,
                &format!(
                    "Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t{}\n    Optional:\t{}\n",
                    s(cm, "/name"),
                    optional(cm)
                ),
            );
        } else if let Some(d) = v.get("downwardAPI") {
            w.write(2, "Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n");
            for item in array(d, "items") {
                if let Some(f) = item.get("fieldRef") {
                    w.write(3, &format!("{} -> {}\n", s(f, "/fieldPath"), s(item, "/path")));
                }
                if let Some(r) = item.get("resourceFieldRef") {
                    w.write(3, &format!("{} -> {}\n", s(r, "/resource"), s(item, "/path")));
                }
            }
        } else {
            w.write(2, "<unknown>\n");
        }
    }
}

/// kubectl's `printPodTolerationsMultiline`.
fn tolerations(w: &mut Writer, title: &str, spec: &Value) {
    let mut list: Vec<&Value> = array(spec, "tolerations").collect();
    list.sort_by(|a, b| s(a, "/key").cmp(s(b, "/key")));
    multiline(w, title, &list, |w, t| {
        let mut text = s(t, "/key").to_string();
        if !s(t, "/value").is_empty() {
            text.push_str(&format!("={}", s(t, "/value")));
        }
        if !s(t, "/effect").is_empty() {
            text.push_str(&format!(":{}", s(t, "/effect")));
        }
        if s(t, "/operator") == "Exists" && s(t, "/value").is_empty() {
            text.push_str(if s(t, "/key").is_empty() && s(t, "/effect").is_empty() {
                "op=Exists"
            } else {
                " op=Exists"
            });
        }
        if let Some(secs) = t.get("tolerationSeconds").and_then(Value::as_i64) {
            text.push_str(&format!(" for {secs}s"));
        }
        w.write(0, &format!("{text}\n"));
    });
}

/// Guaranteed when every container limits CPU and memory and requests what it limits; BestEffort when none
/// asks for anything; Burstable otherwise.
pub fn qos_class(spec: &Value) -> &'static str {
    let all: Vec<&Value> = array(spec, "initContainers").chain(array(spec, "containers")).collect();
    let has = |c: &Value, k: &str| !sorted_map(c, &format!("/resources/{k}")).is_empty();
    if all.iter().all(|c| !has(c, "limits") && !has(c, "requests")) {
        return "BestEffort";
    }
    let guaranteed = all.iter().all(|c| {
        let limits = sorted_map(c, "/resources/limits");
        let requests = sorted_map(c, "/resources/requests");
        ["cpu", "memory"].iter().all(|r| {
            let limit = limits.iter().find(|(k, _)| k == r);
            let request = requests.iter().find(|(k, _)| k == r);
            match (limit, request) {
                (Some((_, l)), Some((_, q))) => quantity_eq(l, q),
                (Some(_), None) => true,
                _ => false,
            }
        })
    });
    if guaranteed { "Guaranteed" } else { "Burstable" }
}

fn quantity_eq(a: &str, b: &str) -> bool {
    match (runlet_api::quantity::parse_quantity(a), runlet_api::quantity::parse_quantity(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
