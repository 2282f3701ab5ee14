//! The merge error rows of strategic-merge-patch.md §4 (2–18), with upstream's exact messages and status.

use runlet_patch::{GENERIC_UNPROCESSABLE, Kind, PatchError, strategic_merge};
use serde_json::{Value, json};

#[derive(Debug, PartialEq)]
enum Status {
    BadRequest,
    Internal,
    Invalid,
}

fn job() -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pa", "finalizers": ["a/x", "batch.kubernetes.io/job-tracking", "b/y"]},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "pa", "image": "perl"}, {"name": "side", "image": "busybox"}]
        }}}
    })
}

fn pod_spec(spec: Value) -> Value {
    json!({"spec": {"template": {"spec": spec}}})
}

#[test]
fn merge_errors_carry_upstream_messages() {
    let cases: Vec<(&str, Value, Value, Status, &str)> = vec![
        (
            "row 2: not an object",
            job(),
            json!([1]),
            Status::BadRequest,
            "json: cannot unmarshal array into Go value of type map[string]interface {}",
        ),
        (
            "row 3: merge key missing",
            job(),
            pod_spec(json!({"containers": [{"image": "nginx"}]})),
            Status::Internal,
            "map: map[image:nginx] does not contain declared merge key: name",
        ),
        (
            "row 4: delete element without key",
            job(),
            pod_spec(json!({"containers": [{"$patch": "delete"}]})),
            Status::Internal,
            "map: map[$patch:delete] does not contain declared merge key: name",
        ),
        (
            "row 5: unknown $patch value",
            job(),
            json!({"$patch": "foo"}),
            Status::Internal,
            "unknown patch type: foo in map: map[$patch:foo]",
        ),
        (
            "row 5: non-string $patch value",
            job(),
            json!({"spec": {"$patch": 1}}),
            Status::Internal,
            "unknown patch type: %!s(int64=1) in map: map[$patch:1]",
        ),
        (
            "row 6: $patch merge in a map",
            job(),
            pod_spec(json!({"$patch": "merge", "restartPolicy": "OnFailure"})),
            Status::Internal,
            "unknown patch type: merge in map: map[$patch:merge restartPolicy:OnFailure]",
        ),
        (
            "row 7: $patch merge in a list element",
            job(),
            pod_spec(json!({"containers": [{"name": "pa", "$patch": "merge"}]})),
            Status::Internal,
            "merging lists cannot yet be specified in the patch",
        ),
        (
            "unknown $patch value in a list element",
            job(),
            pod_spec(json!({"containers": [{"name": "pa", "$patch": "foo"}]})),
            Status::Internal,
            "unknown patch type: foo in map: map[$patch:foo name:pa]",
        ),
        (
            "row 8: object into a scalar merge list",
            job(),
            json!({"metadata": {"finalizers": [{"a": 1}]}}),
            Status::Internal,
            "list element types are not identical: [[a/x batch.kubernetes.io/job-tracking b/y] [map[a:1]]]",
        ),
        (
            "row 9: scalar into an object merge list",
            job(),
            pod_spec(json!({"containers": ["pa"]})),
            Status::Internal,
            "list element types are not identical: [[map[image:perl name:pa] map[image:busybox name:side]] [pa]]",
        ),
        (
            "row 10: order list contradicts the patch list",
            job(),
            pod_spec(json!({
                "$setElementOrder/containers": [{"name": "side"}, {"name": "pa"}],
                "containers": [{"name": "pa", "image": "a"}, {"name": "side", "image": "b"}]
            })),
            Status::Internal,
            "The order in patch list:\n[map[image:a name:pa] map[image:b name:side]]\n doesn't match $setElementOrder list:\n[map[name:side] map[name:pa]]\n",
        ),
        (
            "row 11: order list not an array",
            job(),
            pod_spec(json!({"$setElementOrder/containers": {"name": "side"}})),
            Status::Internal,
            "expected a []interface {}, but received a map[string]interface {}",
        ),
        (
            "row 12: order entry without merge key",
            job(),
            pod_spec(json!({
                "$setElementOrder/containers": [{"nam": "x"}],
                "containers": [{"name": "pa", "image": "x"}]
            })),
            Status::Internal,
            "map: map[nam:x] does not contain declared merge key: name",
        ),
        (
            "row 12: order entry without merge key, list absent from the patch",
            job(),
            pod_spec(json!({"$setElementOrder/containers": [{"nam": "x"}]})),
            Status::Internal,
            "map: map[nam:x] does not contain declared merge key: name",
        ),
        (
            "row 13: order list for an unknown field",
            job(),
            pod_spec(json!({"$setElementOrder/bogus": [{"name": "x"}]})),
            Status::Internal,
            "unable to find api field in struct PodSpec for the json field \"bogus\"",
        ),
        (
            "row 14: order list for a non-list field",
            job(),
            pod_spec(json!({"$setElementOrder/restartPolicy": ["x"]})),
            Status::Internal,
            "expected a []interface {}, but received a string",
        ),
        (
            "row 15: $setElementOrder without /field",
            job(),
            pod_spec(json!({"$setElementOrder": [{"name": "pa"}]})),
            Status::BadRequest,
            "invalid patch format of setElementOrder list",
        ),
        (
            "row 16: $deleteFromPrimitiveList without /field",
            job(),
            json!({"metadata": {"$deleteFromPrimitiveList": ["a/x"]}}),
            Status::BadRequest,
            "invalid patch format of primitive list",
        ),
        (
            "row 17: patch key not in $retainKeys",
            json!({"spec": {"volumes": [{"name": "data", "emptyDir": {}}]}}),
            json!({"spec": {"volumes": [{"$retainKeys": ["name"], "hostPath": {"path": "/x"}, "name": "data"}]}}),
            Status::BadRequest,
            "invalid patch format of retainKeys",
        ),
        (
            "row 17: $retainKeys not a list",
            json!({"spec": {"volumes": [{"name": "data", "emptyDir": {}}]}}),
            json!({"spec": {"volumes": [{"$retainKeys": "name", "name": "data"}]}}),
            Status::BadRequest,
            "invalid patch format of retainKeys",
        ),
        (
            "row 18: array of arrays into an empty merge list",
            json!({"metadata": {"name": "p", "finalizers": []}}),
            json!({"metadata": {"finalizers": [["a"]]}}),
            Status::Invalid,
            GENERIC_UNPROCESSABLE,
        ),
    ];
    for (name, live, patch, status, message) in cases {
        let kind =
            if live.pointer("/spec/volumes").is_some() || name.starts_with("row 18") { Kind::Pod } else { Kind::Job };
        let err = match strategic_merge(&live, &patch, kind) {
            Ok(merged) => panic!("{name}: expected an error, got {merged}"),
            Err(err) => err,
        };
        let got = match &err {
            PatchError::BadRequest(_) => Status::BadRequest,
            PatchError::Internal(_) => Status::Internal,
            PatchError::Invalid(_) | PatchError::Unprocessable { .. } => Status::Invalid,
            PatchError::TooLarge(_) => panic!("{name}: a merge is never too large: {err}"),
        };
        assert_eq!(got, status, "{name}");
        assert_eq!(err.message(), message, "{name}");
        assert_eq!(err.to_string(), message, "{name}");
    }
}

#[test]
fn error_status_mapping() {
    let cases = [
        (PatchError::BadRequest("x".into()), 400, Some("BadRequest")),
        (PatchError::Internal("x".into()), 500, None),
        (PatchError::Invalid("x".into()), 422, Some("Invalid")),
        (PatchError::Unprocessable { cause: "x".into() }, 422, Some("Invalid")),
        (PatchError::TooLarge("x".into()), 413, Some("RequestEntityTooLarge")),
    ];
    for (err, code, reason) in cases {
        assert_eq!(err.status_code(), code);
        assert_eq!(err.reason(), reason);
    }
}
