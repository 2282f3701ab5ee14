use serde_json::{Value, json};

use super::*;
use runlet_codec::Pod;

fn base() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}})
}

fn with_spec(patch: Value) -> Value {
    let mut v = base();
    if let (Some(spec), Value::Object(patch)) = (v["spec"].as_object_mut(), patch) {
        for (k, val) in patch {
            spec.insert(k, val);
        }
    }
    v
}

fn decoded(v: &Value) -> Pod {
    let mut pod = runlet_codec::decode_pod(v).expect("test JSON decodes").object;
    default_pod(&mut pod);
    pod
}

fn strings(errs: &[crate::field::FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

#[test]
fn defaults_a_pod_like_a_real_server() {
    let mut pod = decoded(&base());
    prepare_for_pod_create(&mut pod);
    let v = runlet_codec::encode_pod(&pod).expect("encodes");
    assert_eq!(
        v["spec"],
        json!({
            "containers": [{
                "image": "busybox", "imagePullPolicy": "Always", "name": "c", "resources": {},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
            }],
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Never",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "serviceAccount": "default",
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
            "tolerations": [
                {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}
            ]
        })
    );
    assert_eq!(v["status"], json!({"phase": "Pending", "qosClass": "BestEffort"}));
    assert!(validate_pod_create(&pod).is_empty(), "{:?}", validate_pod_create(&pod));
}

#[test]
fn pull_policy_follows_the_tag() {
    let rows = [
        ("perl", "Always"),
        ("perl:latest", "Always"),
        ("perl:5.34", "IfNotPresent"),
        ("localhost:5000/perl", "Always"),
        ("registry.example.com:5000/team/perl:1", "IfNotPresent"),
        ("busybox@sha256:abcd", "IfNotPresent"),
        ("busybox:latest@sha256:abcd", "Always"),
        ("Perl", "IfNotPresent"),
        ("", "IfNotPresent"),
    ];
    for (image, want) in rows {
        assert_eq!(default_pull_policy(image), want, "{image}");
    }
}

#[test]
fn qos_classes() {
    let rows = [
        (json!({}), "BestEffort"),
        (json!({"requests": {"cpu": "100m"}}), "Burstable"),
        (json!({"limits": {"cpu": "1", "memory": "1Gi"}}), "Guaranteed"),
        (json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}), "Burstable"),
        (json!({"limits": {"cpu": "1"}}), "Burstable"),
        (json!({"limits": {"cpu": "1000m", "memory": "1Gi"}, "requests": {"cpu": "1"}}), "Guaranteed"),
    ];
    for (resources, want) in rows {
        let pod = decoded(&with_spec(
            json!({"containers": [{"name": "c", "image": "busybox", "resources": resources.clone()}]}),
        ));
        assert_eq!(qos_class(pod.spec.as_ref().expect("spec")), want, "{resources}");
    }
}

#[test]
fn pod_validation_messages() {
    let c = |extra: Value| {
        let mut container = json!({"name": "c", "image": "busybox"});
        if let (Some(obj), Value::Object(extra)) = (container.as_object_mut(), extra) {
            obj.extend(extra);
        }
        container
    };
    let rows: Vec<(&str, Value, Vec<String>)> = vec![
        ("no containers", with_spec(json!({"containers": []})), vec!["spec.containers: Required value".into()]),
        ("no image", with_spec(json!({"containers": [{"name": "c"}]})), vec!["spec.containers[0].image: Required value".into()]),
        (
            "duplicate names",
            with_spec(json!({"containers": [c(json!({})), c(json!({}))]})),
            vec!["spec.containers[1].name: Duplicate value: \"c\"".into()],
        ),
        (
            "bad container name",
            with_spec(json!({"containers": [c(json!({"name": "C_1"}))]})),
            vec![format!("spec.containers[0].name: Invalid value: \"C_1\": {LABEL_MSG}")],
        ),
        (
            "restartPolicy",
            with_spec(json!({"restartPolicy": "Sometimes"})),
            vec!["spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"".into()],
        ),
        (
            "dnsPolicy",
            with_spec(json!({"dnsPolicy": "Google"})),
            vec!["spec.dnsPolicy: Unsupported value: \"Google\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"".into()],
        ),
        (
            "env name",
            with_spec(json!({"containers": [c(json!({"env": [{"name": "A=B", "value": "x"}]}))]})),
            vec!["spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='".into()],
        ),
        (
            "env valueFrom without a source",
            with_spec(json!({"containers": [c(json!({"env": [{"name": "A", "valueFrom": {}}]}))]})),
            vec!["spec.containers[0].env[0].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`".into()],
        ),
        (
            "env fieldRef path",
            with_spec(json!({"containers": [c(json!({"env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.restartPolicy"}}}]}))]})),
            vec!["spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.restartPolicy\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"".into()],
        ),
        (
            "env fieldRef the Job index label",
            with_spec(json!({"containers": [c(json!({"env": [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/job-completion-index']"}}}]}))]})),
            vec![],
        ),
        (
            "env fieldRef unknown",
            with_spec(json!({"containers": [c(json!({"env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]}))]})),
            vec!["spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Invalid value: \"spec.bogus\": error converting fieldPath: field label not supported: spec.bogus".into()],
        ),
        (
            "duplicate volumes and a missing mount",
            with_spec(json!({
                "volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}],
                "containers": [c(json!({"volumeMounts": [{"name": "w", "mountPath": "/w"}]}))]
            })),
            vec![
                "spec.volumes[1].name: Duplicate value: \"v\"".into(),
                "spec.containers[0].volumeMounts[0].name: Not found: \"w\"".into(),
            ],
        ),
        (
            "two volume sources",
            with_spec(json!({"volumes": [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/tmp"}}]})),
            vec!["spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type".into()],
        ),
        (
            "bad quantity",
            with_spec(json!({"containers": [c(json!({"resources": {"requests": {"cpu": "lots"}}}))]})),
            vec![
                "spec.containers[0].resources.requests[cpu]: Invalid value: \"lots\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'".into(),
            ],
        ),
        (
            "request above limit",
            with_spec(json!({"containers": [c(json!({"resources": {"limits": {"memory": "1Gi"}, "requests": {"memory": "2Gi"}}}))]})),
            vec!["spec.containers[0].resources.requests: Invalid value: \"2Gi\": must be less than or equal to memory limit of 1Gi".into()],
        ),
        (
            "negative request",
            with_spec(json!({"containers": [c(json!({"resources": {"requests": {"cpu": "-1"}}}))]})),
            vec!["spec.containers[0].resources.requests[cpu]: Invalid value: \"-1\": must be greater than or equal to 0".into()],
        ),
        (
            "unknown resource",
            with_spec(json!({"containers": [c(json!({"resources": {"requests": {"gpu": "1"}}}))]})),
            vec![
                "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified".into(),
                "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource for containers".into(),
            ],
        ),
        ("extended resource", with_spec(json!({"containers": [c(json!({"resources": {"limits": {"example.com/gpu": "1"}}}))]})), vec![]),
        (
            "activeDeadlineSeconds zero",
            with_spec(json!({"activeDeadlineSeconds": 0})),
            vec!["spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive".into()],
        ),
        (
            "hostname",
            with_spec(json!({"hostname": "a.b"})),
            vec!["spec.hostname: Invalid value: \"a.b\": must not contain dots".into()],
        ),
        (
            "nodeName",
            with_spec(json!({"nodeName": "Node_1"})),
            vec!["spec.nodeName: Invalid value: \"Node_1\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into()],
        ),
        (
            "toleration seconds without NoExecute",
            with_spec(json!({"tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}]})),
            vec!["spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set".into()],
        ),
        (
            "ports",
            with_spec(json!({"containers": [c(json!({"ports": [{"containerPort": 70000, "name": "HTTP"}]}))]})),
            vec![
                "spec.containers[0].ports[0].name: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into(),
                "spec.containers[0].ports[0].name: Invalid value: \"HTTP\": must contain at least one letter (a-z)".into(),
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive".into(),
            ],
        ),
        (
            "nodeName with scheduling gates",
            with_spec(json!({"nodeName": "n1", "schedulingGates": [{"name": "example.com/wait"}]})),
            vec!["spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared".into()],
        ),
    ];
    for (what, input, want) in rows {
        assert_eq!(strings(&validate_pod_create(&decoded(&input))), want, "{what}");
    }
}

fn stored() -> Pod {
    let mut pod = decoded(&base());
    prepare_for_pod_create(&mut pod);
    pod.metadata.uid = Some("u".into());
    pod.metadata.resource_version = Some("1".into());
    pod
}

fn update(edit: impl FnOnce(&mut runlet_codec::PodSpec)) -> Vec<String> {
    let old = stored();
    let mut new = old.clone();
    edit(new.spec.as_mut().expect("spec"));
    prepare_for_pod_update(&mut new, &old);
    strings(&validate_pod_update(&new, &old))
}

const FORBIDDEN_PREFIX: &str = "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n";

#[test]
fn pod_updates() {
    assert_eq!(update(|s| s.containers[0].image = Some("busybox:1.36".into())), Vec::<String>::new());
    assert_eq!(update(|s| s.active_deadline_seconds = Some(30)), Vec::<String>::new());
    assert_eq!(update(|s| s.node_name = Some("node-1".into())), Vec::<String>::new(), "binding");
    assert_eq!(
        update(|s| {
            s.tolerations.get_or_insert_with(Vec::new).push(runlet_codec::k8s_openapi::api::core::v1::Toleration {
                key: Some("k".into()),
                operator: Some("Exists".into()),
                ..Default::default()
            })
        }),
        Vec::<String>::new()
    );

    let errs = update(|s| s.restart_policy = Some("Always".into()));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with(FORBIDDEN_PREFIX), "{}", errs[0]);
    assert!(errs[0].contains("- \tRestartPolicy: \"Never\",\n+ \tRestartPolicy: \"Always\","), "{}", errs[0]);

    assert_eq!(
        update(|s| {
            let mut sidecar = s.containers[0].clone();
            sidecar.name = "d".into();
            s.containers.push(sidecar);
        }),
        vec!["spec.containers: Forbidden: pod updates may not add or remove containers"]
    );
    assert_eq!(
        update(|s| s.tolerations = None),
        vec!["spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"]
    );

    // A bound pod cannot move.
    let mut old = stored();
    old.spec.as_mut().expect("spec").node_name = Some("node-1".into());
    let mut new = old.clone();
    new.spec.as_mut().expect("spec").node_name = Some("node-2".into());
    let errs = strings(&validate_pod_update(&new, &old));
    assert!(errs.len() == 1 && errs[0].starts_with(FORBIDDEN_PREFIX), "{errs:?}");

    // Deadlines may only shrink.
    let mut old = stored();
    old.spec.as_mut().expect("spec").active_deadline_seconds = Some(30);
    let mut new = old.clone();
    new.spec.as_mut().expect("spec").active_deadline_seconds = Some(60);
    assert_eq!(
        strings(&validate_pod_update(&new, &old)),
        vec!["spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value"]
    );
    new.spec.as_mut().expect("spec").active_deadline_seconds = None;
    assert_eq!(
        strings(&validate_pod_update(&new, &old)),
        vec![
            "spec.activeDeadlineSeconds: Invalid value: \"null\": must not update from a positive integer to nil value"
        ]
    );
}

#[test]
fn pod_status_updates() {
    use runlet_codec::{ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus};
    let mut old = stored();
    let status = |state: ContainerState| ContainerStatus { name: "c".into(), state: Some(state), ..Default::default() };
    let terminated = ContainerState {
        terminated: Some(ContainerStateTerminated { exit_code: 0, ..Default::default() }),
        ..Default::default()
    };
    let running = ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() };
    old.status.as_mut().expect("status").container_statuses = Some(vec![status(terminated)]);

    let mut new = old.clone();
    new.status.as_mut().expect("status").container_statuses = Some(vec![status(running)]);
    new.spec.as_mut().expect("spec").node_name = Some("elsewhere".into());
    new.status.as_mut().expect("status").qos_class = Some("Guaranteed".into());
    prepare_for_pod_status_update(&mut new, &old);
    assert_eq!(new.spec, old.spec, "spec comes from the stored pod");
    assert_eq!(
        strings(&validate_pod_status_update(&new, &old)),
        vec![
            "status.qosClass: Invalid value: \"Guaranteed\": field is immutable",
            "status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state",
        ]
    );
}

#[test]
fn templates_validate_labels_and_forbid_ephemeral_containers() {
    let template: runlet_codec::PodTemplateSpec = serde_json::from_value(json!({
        "metadata": {"labels": {"app": "a b"}},
        "spec": {"containers": [{"name": "c", "image": "x", "terminationMessagePolicy": "File", "imagePullPolicy": "Always"}],
                 "restartPolicy": "Never", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
                 "ephemeralContainers": [{"name": "debug", "image": "busybox"}]}
    }))
    .expect("template JSON");
    let got = strings(&validate_pod_template_spec(&template, "spec.template"));
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("spec.template.labels: Invalid value: \"a b\": a valid label must be"), "{}", got[0]);
    assert_eq!(
        got[1],
        "spec.template.spec.ephemeralContainers: Forbidden: ephemeral containers not allowed in pod template"
    );
}

#[path = "sandbox_tests.rs"]
mod sandbox_tests;
