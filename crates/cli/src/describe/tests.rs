use serde_json::json;

use super::*;

fn at(t: &str) -> Timestamp {
    t.parse().unwrap()
}

#[test]
fn labels_and_annotations_multiline() {
    let mut w = Writer::new(at("2024-01-01T00:00:00Z"));
    let o = json!({"metadata": {"labels": {"b": "2", "a": "1"}, "annotations": {
        crate::apply::LAST_APPLIED: "{}", "long": "x".repeat(150), "multi": "l1\nl2\n"}}});
    labels(&mut w, "Labels", &o, "/metadata/labels");
    annotations(&mut w, "Annotations", &o, "/metadata/annotations");
    labels(&mut w, "Node-Selectors", &o, "/spec/nodeSelector");
    let text = w.finish();
    let want = format!(
        "Labels:          a=1\n                 b=2\nAnnotations:     long:\n                   {}...\n                 multi:\n                   l1\n                   l2\nNode-Selectors:  <none>\n",
        "x".repeat(138)
    );
    assert_eq!(text, want);
}

#[test]
fn generic_layout_and_events() {
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "n1", "namespace": "kube-node-lease", "uid": "u1", "managedFields": [{}]},
        "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}});
    let events = [json!({"type": "Normal", "reason": "Renewed", "message": " renewed ", "count": 3,
        "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:09:00Z", "source": {"component": "agent"}})];
    let ctx = Context { events: Some(&events), now: Some(at("2024-01-01T00:10:00Z")), ..Default::default() };
    let text = describe("coordination.k8s.io", "Lease", &lease, &ctx);
    assert_eq!(
        text,
        "Name:         n1\nNamespace:    kube-node-lease\nLabels:       <none>\nAnnotations:  <none>\nAPI Version:  coordination.k8s.io/v1\nKind:         Lease\nMetadata:\n  UID:  u1\nSpec:\n  Holder Identity:         n1\n  Lease Duration Seconds:  40\n\
Events:\n  Type    Reason   Age                From   Message\n  ----    ------   ----               ----   -------\n  Normal  Renewed  60s (x3 over 10m)  agent  renewed\n"
    );
    let none = describe("coordination.k8s.io", "Lease", &lease, &Context { events: Some(&[]), ..Default::default() });
    // Without events the line joins the block above it.
    assert!(none.ends_with("  Lease Duration Seconds:  40\nEvents:                    <none>\n"), "{none}");
}

#[test]
fn job_layout() {
    let job = json!({"metadata": {"name": "pi", "namespace": "default", "labels": {"job-name": "pi"}},
        "spec": {"parallelism": 1, "completions": 1, "completionMode": "NonIndexed", "suspend": false, "backoffLimit": 4,
                 "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                 "template": {"metadata": {"labels": {"job-name": "pi"}}, "spec": {"containers": [
                    {"name": "pi", "image": "perl:5.34.0", "command": ["perl", "-e", "print 1"],
                     "env": [{"name": "IDX", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}]}]}}},
        "status": {"active": 1, "ready": 0, "startTime": "2024-01-01T00:00:00Z"}});
    let text = describe(
        "batch",
        "Job",
        &job,
        &Context { events: Some(&[]), now: Some(at("2024-01-01T00:00:05Z")), ..Default::default() },
    );
    let want_start = "Name:             pi\nNamespace:        default\nSelector:         batch.kubernetes.io/controller-uid=u\nLabels:           job-name=pi\nAnnotations:      <none>\nParallelism:      1\nCompletions:      1\nCompletion Mode:  NonIndexed\nSuspend:          false\nBackoff Limit:    4\nStart Time:       ";
    assert!(text.starts_with(want_start), "{text}");
    assert!(text.contains(&format!("Start Time:       {}\n", rfc1123z("2024-01-01T00:00:00Z"))), "{text}");
    let want_end = "Pods Statuses:    1 Active (0 Ready) / 0 Succeeded / 0 Failed\nPod Template:\n  Labels:  job-name=pi\n  Containers:\n   pi:\n    Image:      perl:5.34.0\n    Port:       <none>\n    Host Port:  <none>\n    Command:\n      perl\n      -e\n      print 1\n    Environment:\n      IDX:          (v1:metadata.name)\n    Mounts:        <none>\n  Volumes:         <none>\n  Node-Selectors:  <none>\n  Tolerations:     <none>\nEvents:            <none>\n";
    assert!(text.ends_with(want_end), "{text}");
}
