//! Validation of what the pod sandbox runs: volumes, mounts, security contexts, probes.

use serde_json::{Value, json};

use super::{decoded, strings, with_spec};
use crate::pod::validate_pod_create;

fn volume(v: Value) -> Value {
    with_spec(json!({"volumes": [v]}))
}

fn container(extra: Value) -> Value {
    let mut c = json!({"name": "c", "image": "busybox"});
    if let (Some(obj), Value::Object(extra)) = (c.as_object_mut(), extra) {
        obj.extend(extra);
    }
    with_spec(json!({"containers": [c], "volumes": [{"name": "v", "emptyDir": {}}]}))
}

const MODE: &str = "must be a number between 0 and 0777 (octal), both inclusive";

fn check(rows: Vec<(&str, Value, Vec<String>)>) {
    for (what, input, want) in rows {
        assert_eq!(strings(&validate_pod_create(&decoded(&input))), want, "{what}");
    }
}

#[test]
fn volume_sources_table() {
    check(vec![
        ("configMap with items and modes", volume(json!({"name": "v", "configMap": {"name": "cm", "defaultMode": 0o644, "items": [{"key": "a", "path": "dir/a", "mode": 0o400}]}})), vec![]),
        ("configMap without a name", volume(json!({"name": "v", "configMap": {}})), vec!["spec.volumes[0].configMap.name: Required value".into()]),
        (
            "defaultMode above 0777",
            volume(json!({"name": "v", "configMap": {"name": "cm", "defaultMode": 0o1000}})),
            vec![format!("spec.volumes[0].configMap.defaultMode: Invalid value: 512: {MODE}")],
        ),
        (
            "negative item mode",
            volume(json!({"name": "v", "secret": {"secretName": "s", "items": [{"key": "k", "path": "p", "mode": -1}]}})),
            vec![format!("spec.volumes[0].secret.items[0].mode: Invalid value: -1: {MODE}")],
        ),
        ("secret without a name", volume(json!({"name": "v", "secret": {}})), vec!["spec.volumes[0].secret.secretName: Required value".into()]),
        (
            "item paths",
            volume(json!({"name": "v", "secret": {"secretName": "s", "items": [
                {"key": "", "path": ""}, {"key": "a", "path": "/etc/x"}, {"key": "b", "path": "a/../../x"}, {"key": "c", "path": "..data"}
            ]}})),
            vec![
                "spec.volumes[0].secret.items[0].key: Required value".into(),
                "spec.volumes[0].secret.items[0].path: Required value".into(),
                "spec.volumes[0].secret.items[1].path: Invalid value: \"/etc/x\": must be a relative path".into(),
                "spec.volumes[0].secret.items[2].path: Invalid value: \"a/../../x\": must not contain '..'".into(),
                "spec.volumes[0].secret.items[3].path: Invalid value: \"..data\": must not start with '..'".into(),
            ],
        ),
        (
            "hostPath",
            with_spec(json!({"volumes": [
                {"name": "a", "hostPath": {"path": ""}},
                {"name": "b", "hostPath": {"path": "/srv/../etc", "type": "Dir"}}
            ]})),
            vec![
                "spec.volumes[0].hostPath.path: Required value".into(),
                "spec.volumes[1].hostPath.path: Invalid value: \"/srv/../etc\": must not contain '..'".into(),
                "spec.volumes[1].hostPath.type: Unsupported value: \"Dir\": supported values: \"\", \"BlockDevice\", \"CharDevice\", \"Directory\", \"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\"".into(),
            ],
        ),
        (
            "negative emptyDir size",
            volume(json!({"name": "v", "emptyDir": {"medium": "Memory", "sizeLimit": "-1Mi"}})),
            vec!["spec.volumes[0].emptyDir.sizeLimit: Forbidden: SizeLimit field must be a valid resource quantity".into()],
        ),
        (
            "two sources: only the first is checked",
            volume(json!({"name": "v", "secret": {"secretName": "s"}, "configMap": {}})),
            vec!["spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type".into()],
        ),
        (
            "no source given is an emptyDir",
            volume(json!({"name": "v"})),
            vec![],
        ),
        (
            "duplicate names and a bad name",
            with_spec(json!({"volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}, {"name": "V.1", "emptyDir": {}}]})),
            vec![
                "spec.volumes[1].name: Duplicate value: \"v\"".into(),
                "spec.volumes[2].name: Invalid value: \"V.1\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".into(),
            ],
        ),
        (
            "downwardAPI items",
            volume(json!({"name": "v", "downwardAPI": {"items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "ip", "fieldRef": {"fieldPath": "status.podIP"}},
                {"path": "none"},
                {"path": "cpu", "resourceFieldRef": {"resource": "limits.cpu"}},
                {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1m"}},
                {"path": "both", "fieldRef": {"fieldPath": "metadata.name"}, "resourceFieldRef": {"containerName": "c", "resource": "requests.cpu"}}
            ]}})),
            vec![
                "spec.volumes[0].downwardAPI.fieldRef.fieldPath: Unsupported value: \"status.podIP\": supported values: \"metadata.annotations\", \"metadata.labels\", \"metadata.name\", \"metadata.namespace\", \"metadata.uid\"".into(),
                "spec.volumes[0].downwardAPI: Required value: one of fieldRef and resourceFieldRef is required".into(),
                "spec.volumes[0].downwardAPI.resourceFieldRef.containerName: Required value".into(),
                "spec.volumes[0].downwardAPI.resourceFieldRef.divisor: Invalid value: \"limits.memory\": only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource".into(),
                "spec.volumes[0].downwardAPI: Invalid value: \"resource\": fieldRef and resourceFieldRef can not be specified simultaneously".into(),
            ],
        ),
        (
            "projected sources",
            volume(json!({"name": "v", "projected": {"defaultMode": 0o2000, "sources": [
                {"configMap": {"name": "cm", "items": [{"key": "a", "path": "x"}]}},
                {"secret": {"name": "s", "items": [{"key": "b", "path": "x"}]}},
                {"downwardAPI": {"items": [{"path": "x", "fieldRef": {"fieldPath": "metadata.name"}}]}},
                {"configMap": {"name": ""}, "secret": {"name": "s2"}}
            ]}})),
            vec![
                format!("spec.volumes[0].projected.defaultMode: Invalid value: 1024: {MODE}"),
                "spec.volumes[0].projected: Invalid value: \"s\": conflicting duplicate paths".into(),
                "spec.volumes[0].projected: Invalid value: \"x\": conflicting duplicate paths".into(),
                "spec.volumes[0].projected.sources[3].configMap.name: Required value".into(),
                "spec.volumes[0].projected.sources[3]: Forbidden: may not specify more than 1 volume type".into(),
            ],
        ),
    ]);
}

#[test]
fn volume_mounts_table() {
    let mount = |m: Value| container(json!({"volumeMounts": [m]}));
    check(vec![
        ("a plain mount", mount(json!({"name": "v", "mountPath": "/data", "subPath": "a/b", "readOnly": true})), vec![]),
        (
            "subPath rules",
            container(json!({"volumeMounts": [
                {"name": "v", "mountPath": "/a", "subPath": "/abs"},
                {"name": "v", "mountPath": "/b", "subPath": "x/../.."},
                {"name": "v", "mountPath": "/c", "subPath": "x", "subPathExpr": "$(POD)"},
                {"name": "v", "mountPath": "/c"}
            ]})),
            vec![
                "spec.containers[0].volumeMounts.subPath: Invalid value: \"/abs\": must be a relative path".into(),
                "spec.containers[0].volumeMounts.subPath: Invalid value: \"x/../..\": must not contain '..'".into(),
                "spec.containers[0].volumeMounts[2].subPathExpr: Invalid value: \"$(POD)\": subPathExpr and subPath are mutually exclusive".into(),
                "spec.containers[0].volumeMounts[3].mountPath: Invalid value: \"/c\": must be unique".into(),
            ],
        ),
        (
            "a backslash is an ordinary character",
            mount(json!({"name": "v", "mountPath": "/d", "subPath": "a\\..\\b"})),
            vec![],
        ),
        (
            "propagation",
            container(json!({"volumeMounts": [
                {"name": "v", "mountPath": "/a", "mountPropagation": "Bidirectional"},
                {"name": "v", "mountPath": "/b", "mountPropagation": "Sideways"}
            ]})),
            vec![
                "spec.containers[0].volumeMounts.mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers".into(),
                "spec.containers[0].volumeMounts.mountPropagation: Unsupported value: \"Sideways\": supported values: \"Bidirectional\", \"HostToContainer\", \"None\"".into(),
            ],
        ),
        (
            "recursiveReadOnly needs readOnly",
            mount(json!({"name": "v", "mountPath": "/a", "recursiveReadOnly": "Enabled"})),
            vec!["spec.containers[0].volumeMounts.recursiveReadOnly: Forbidden: may only be specified when readOnly is true".into()],
        ),
        ("a mount without a mountPath", mount(json!({"name": "v", "mountPath": ""})), vec!["spec.containers[0].volumeMounts[0].mountPath: Required value".into()]),
    ]);
}

#[test]
fn security_contexts_table() {
    let range = "must be between 0 and 2147483647, inclusive";
    check(vec![
        (
            "pod ids",
            with_spec(json!({"securityContext": {"runAsUser": -1, "runAsGroup": 2147483648_i64, "fsGroup": -5, "supplementalGroups": [1, -2]}})),
            vec![
                format!("spec.securityContext.fsGroup: Invalid value: -5: {range}"),
                format!("spec.securityContext.runAsUser: Invalid value: -1: {range}"),
                format!("spec.securityContext.runAsGroup: Invalid value: 2147483648: {range}"),
                format!("spec.securityContext.supplementalGroups[1]: Invalid value: -2: {range}"),
            ],
        ),
        (
            "shared PID namespace and host PID",
            with_spec(json!({"shareProcessNamespace": true, "hostPID": true})),
            vec!["spec.securityContext.shareProcessNamespace: Invalid value: true: ShareProcessNamespace and HostPID cannot both be enabled".into()],
        ),
        (
            "pod policies and seccomp",
            with_spec(json!({"securityContext": {"fsGroupChangePolicy": "Sometimes", "seccompProfile": {"type": "Localhost"}}})),
            vec![
                "spec.securityContext.fsGroupChangePolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnRootMismatch\"".into(),
                "spec.securityContext.seccompProfile.localhostProfile: Required value: must be set when seccomp type is Localhost".into(),
            ],
        ),
        (
            "container ids and escalation",
            container(json!({"securityContext": {
                "runAsUser": 4294967296_i64, "runAsGroup": -1, "allowPrivilegeEscalation": false, "privileged": true,
                "capabilities": {"add": ["CAP_SYS_ADMIN"]}
            }})),
            vec![
                format!("spec.containers[0].securityContext.runAsUser: Invalid value: 4294967296: {range}"),
                format!("spec.containers[0].securityContext.runAsGroup: Invalid value: -1: {range}"),
                "spec.containers[0].securityContext: Invalid value: cannot set `allowPrivilegeEscalation` to false and `privileged` to true".into(),
                "spec.containers[0].securityContext: Invalid value: cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN".into(),
            ],
        ),
        (
            "procMount and seccomp",
            container(json!({"securityContext": {"procMount": "Unmasked", "seccompProfile": {"type": "Custom"}}})),
            vec![
                "spec.containers[0].securityContext.procMount: Invalid value: \"Unmasked\": `hostUsers` must be false to use `Unmasked`".into(),
                "spec.containers[0].securityContext.seccompProfile.type: Unsupported value: \"Custom\": supported values: \"Localhost\", \"RuntimeDefault\", \"Unconfined\"".into(),
            ],
        ),
        (
            "a sound container context",
            container(json!({"securityContext": {"runAsUser": 1000, "runAsNonRoot": true, "readOnlyRootFilesystem": true,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}})),
            vec![],
        ),
    ]);
}

#[test]
fn probes_and_resource_env_table() {
    check(vec![
        (
            "a probe of each kind",
            container(json!({
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                "readinessProbe": {"tcpSocket": {"port": "http"}},
                "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 30},
                "ports": [{"name": "http", "containerPort": 8080}]
            })),
            vec![],
        ),
        (
            "probe rules",
            container(json!({
                "livenessProbe": {"exec": {"command": []}, "successThreshold": 2, "periodSeconds": -1},
                "readinessProbe": {"httpGet": {"port": 0, "scheme": "FTP", "httpHeaders": [{"name": "Bad Header", "value": "x"}]}, "terminationGracePeriodSeconds": 5},
                "startupProbe": {"tcpSocket": {"port": 80}, "grpc": {"port": 81}, "terminationGracePeriodSeconds": 0}
            })),
            vec![
                "spec.containers[0].livenessProbe.exec.command: Required value".into(),
                "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0".into(),
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1".into(),
                "spec.containers[0].readinessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive".into(),
                "spec.containers[0].readinessProbe.httpGet.scheme: Unsupported value: \"FTP\": supported values: \"HTTP\", \"HTTPS\"".into(),
                "spec.containers[0].readinessProbe.httpGet.httpHeaders: Invalid value: \"Bad Header\": a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')".into(),
                "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes".into(),
                "spec.containers[0].startupProbe.grpc: Forbidden: may not specify more than 1 handler type".into(),
                "spec.containers[0].startupProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0".into(),
            ],
        ),
        (
            "a probe without a handler",
            container(json!({"readinessProbe": {"periodSeconds": 1}})),
            vec!["spec.containers[0].readinessProbe: Required value: must specify a handler type".into()],
        ),
        (
            "resourceFieldRef env",
            container(json!({"env": [
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory", "divisor": "1Mi"}}},
                {"name": "BAD", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}},
                {"name": "DIV", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "10m"}}}
            ]})),
            vec![
                "spec.containers[0].env[2].valueFrom.resourceFieldRef.resource: Unsupported value: \"limits.gpu\": supported values: \"limits.cpu\", \"limits.ephemeral-storage\", \"limits.memory\", \"requests.cpu\", \"requests.ephemeral-storage\", \"requests.memory\"".into(),
                "spec.containers[0].env[3].valueFrom.resourceFieldRef.divisor: Invalid value: \"requests.cpu\": only divisor's values 1m and 1 are supported with the cpu resource".into(),
            ],
        ),
    ]);
}

#[test]
fn init_container_probes_are_checked_only_for_sidecars() {
    let init = |policy: Option<&str>| {
        let mut c = json!({"name": "i", "image": "busybox", "startupProbe": {"exec": {"command": ["true"]}, "successThreshold": 3}});
        if let Some(p) = policy {
            c["restartPolicy"] = json!(p);
        }
        with_spec(json!({"initContainers": [c]}))
    };
    check(vec![
        ("sidecar", init(Some("Always")), vec!["spec.initContainers[0].startupProbe.successThreshold: Invalid value: 3: must be 1".into()]),
        (
            "plain init container",
            init(None),
            vec!["spec.initContainers[0].startupProbe: Forbidden: may not be set for init containers without restartPolicy=Always".into()],
        ),
    ]);
}
