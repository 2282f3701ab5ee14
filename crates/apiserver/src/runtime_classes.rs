//! RuntimeClasses: the ones every runlet cluster has (one per handler of runlet's nodes), and the admission of
//! pods that name one (upstream's RuntimeClass admission plugin, on pod creation).

use runlet_api::runtime_class::{HANDLERS, admit_pod, builtin_class};
use runlet_codec as codec;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::negotiate::FieldValidation;
use crate::ops::{self, WriteOptions};
use crate::resources::{Kind, by_kind};
use crate::state::ApiState;
use crate::strategy::Origin;

/// Creates the RuntimeClasses of runlet's handlers (`process`, `oci`) that are missing. Ones a user changed or
/// deleted afterwards are theirs: only a missing class is created, at server start.
pub async fn ensure_builtin_runtime_classes(state: &ApiState) -> Result<(), ApiError> {
    let res = by_kind(Kind::RuntimeClass);
    for handler in HANDLERS {
        if state.store.get(&res.key(None, handler)).is_some() {
            continue;
        }
        let body = codec::encode_runtime_class(&builtin_class(handler))
            .map_err(|e| ApiError::internal(format!("encoding RuntimeClass {handler}: {e}")))?;
        let opts = WriteOptions::new(false, FieldValidation::Strict, Origin::Body);
        match ops::create(state, res, None, body, opts).await {
            Ok(_) => {}
            Err(e) if e.is_already_exists() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Upstream's RuntimeClass admission of a pod being created: a `runtimeClassName` must name an existing
/// RuntimeClass (else 403 Forbidden, as upstream), whose overhead and scheduling constraints the pod takes.
/// A body that is not a pod is left to the pod strategy to refuse.
pub fn admit_pod_create(state: &ApiState, pod: Value) -> Result<Value, ApiError> {
    let Ok(decoded) = codec::decode_pod(&pod) else { return Ok(pod) };
    let mut decoded = decoded.object;
    let Some(spec) = decoded.spec.as_mut() else { return Ok(pod) };
    if spec.runtime_class_name.is_none() && spec.overhead.is_none() {
        return Ok(pod);
    }
    let class = match spec.runtime_class_name.as_deref() {
        Some(name) => state
            .store
            .get(&by_kind(Kind::RuntimeClass).key(None, name))
            .and_then(|o| codec::decode_runtime_class(&o.value).ok())
            .map(|d| d.object),
        None => None,
    };
    if let Err(rejected) = admit_pod(spec, class.as_ref()) {
        let name = crate::meta::name(&pod);
        return Err(ApiError::forbidden(by_kind(Kind::Pod), name, &rejected.to_string()));
    }
    let mut admitted = pod;
    // Only the fields admission may change are copied back, so unknown fields stay for strict decoding to see.
    let spec_value = admitted.as_object_mut().and_then(|o| o.get_mut("spec")).and_then(Value::as_object_mut);
    if let Some(spec_value) = spec_value {
        let set = |o: &mut serde_json::Map<String, Value>, key: &str, v: Value| {
            if !v.is_null() {
                o.insert(key.to_string(), v);
            }
        };
        set(spec_value, "overhead", json!(spec.overhead));
        set(spec_value, "nodeSelector", json!(spec.node_selector));
        set(spec_value, "tolerations", json!(spec.tolerations));
    }
    Ok(admitted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_api::vocab::StatusReason;
    use runlet_store::{Store, StoreOptions};

    fn pod(class: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"runtimeClassName": class, "containers": [{"name": "c", "image": "busybox"}]}})
    }

    #[tokio::test]
    async fn pods_naming_an_unknown_class_are_forbidden() {
        let state = ApiState::new(Store::open_memory(StoreOptions::default()).await.expect("store"));
        crate::namespaces::ensure_system_namespaces(&state).await.expect("namespaces");
        ensure_builtin_runtime_classes(&state).await.expect("runtime classes");
        // Twice: the second start finds them and changes nothing.
        ensure_builtin_runtime_classes(&state).await.expect("runtime classes again");
        let classes = by_kind(Kind::RuntimeClass);
        for handler in HANDLERS {
            let stored = state.store.get(&classes.key(None, handler)).expect("builtin class");
            assert_eq!(stored.value["handler"], json!(handler));
        }
        let opts = || WriteOptions::new(false, FieldValidation::Strict, Origin::Body);
        let pods = by_kind(Kind::Pod);
        let err = ops::create(&state, pods, Some("default"), pod("gvisor"), opts()).await.expect_err("refused");
        assert_eq!((err.code, err.reason), (403, StatusReason::Forbidden));
        assert_eq!(err.message, "pods \"p\" is forbidden: pod rejected: RuntimeClass \"gvisor\" not found");
        assert!(ops::create(&state, pods, Some("default"), pod("oci"), opts()).await.is_ok());
    }
}
