//! Node taints and pod tolerations: the well-known taint keys of node lifecycle, whether a toleration
//! tolerates a taint (upstream `Toleration.ToleratesTaint`), and the tolerations the
//! `DefaultTolerationSeconds` admission plugin adds to every new pod.

use runlet_codec::k8s_openapi::api::core::v1::{PodSpec, Taint, Toleration};

use crate::vocab::{TaintEffect, TolerationOperator};

/// Set while a node's `Ready` condition is `False`.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// Set while a node's `Ready` condition is `Unknown` (its agent stopped posting).
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Set by an administrator on a node that is shut down for good: its terminating pods may go at once.
pub const OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

/// The `DefaultTolerationSeconds` plugin's two values (kube-apiserver's
/// `--default-not-ready-toleration-seconds` and `--default-unreachable-toleration-seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultTolerationSeconds {
    pub not_ready: i64,
    pub unreachable: i64,
}

impl Default for DefaultTolerationSeconds {
    /// Upstream's five minutes for both.
    fn default() -> Self {
        DefaultTolerationSeconds { not_ready: 300, unreachable: 300 }
    }
}

/// Upstream `ToleratesTaint`: the effects match (an empty effect matches all), and the key matches (an empty key
/// with `Exists` matches every key) with the value compared unless the operator is `Exists`.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().filter(|o| !o.is_empty()).map(TolerationOperator::parse) {
        Some(Some(TolerationOperator::Exists)) => true,
        None | Some(Some(TolerationOperator::Equal)) => {
            toleration.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default()
        }
        Some(None) => false,
    }
}

/// Adds a `NoExecute` toleration of `not-ready` and of `unreachable` for `seconds` unless the pod already
/// tolerates that taint's key with a `NoExecute` (or empty) effect, as upstream's plugin does on pod creation.
pub fn add_default_tolerations(spec: &mut PodSpec, seconds: DefaultTolerationSeconds) {
    let covers = |t: &Toleration, key: &str| {
        let k = t.key.as_deref().unwrap_or_default();
        let effect = t.effect.as_deref().unwrap_or_default();
        (k.is_empty() || k == key) && (effect.is_empty() || effect == TaintEffect::NoExecute)
    };
    let existing = spec.tolerations.as_deref().unwrap_or_default();
    let missing: Vec<Toleration> = [(NOT_READY, seconds.not_ready), (UNREACHABLE, seconds.unreachable)]
        .into_iter()
        .filter(|(key, _)| !existing.iter().any(|t| covers(t, key)))
        .map(|(key, seconds)| Toleration {
            key: Some(key.into()),
            operator: Some(TolerationOperator::Exists.into()),
            effect: Some(TaintEffect::NoExecute.into()),
            toleration_seconds: Some(seconds),
            value: None,
        })
        .collect();
    if !missing.is_empty() {
        spec.tolerations.get_or_insert_with(Vec::new).extend(missing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn toleration(v: Value) -> Toleration {
        serde_json::from_value(v).unwrap()
    }

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some(value.into()).filter(|v: &String| !v.is_empty()),
            effect: effect.into(),
            time_added: None,
        }
    }

    #[test]
    fn toleration_matching() {
        let unreachable = taint(UNREACHABLE, "", TaintEffect::NoExecute.as_str());
        let dedicated = taint("dedicated", "gpu", TaintEffect::NoSchedule.as_str());
        let cases = [
            (
                "exists on the key",
                json!({"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}),
                &unreachable,
                true,
            ),
            (
                "empty effect matches every effect",
                json!({"key": UNREACHABLE, "operator": "Exists"}),
                &unreachable,
                true,
            ),
            (
                "other effect",
                json!({"key": UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"}),
                &unreachable,
                false,
            ),
            ("other key", json!({"key": NOT_READY, "operator": "Exists"}), &unreachable, false),
            ("empty key with Exists tolerates everything", json!({"operator": "Exists"}), &unreachable, true),
            ("equal with the value", json!({"key": "dedicated", "value": "gpu"}), &dedicated, true),
            (
                "equal with another value",
                json!({"key": "dedicated", "operator": "Equal", "value": "cpu"}),
                &dedicated,
                false,
            ),
            (
                "equal without a value on a valued taint",
                json!({"key": "dedicated", "operator": "Equal"}),
                &dedicated,
                false,
            ),
            (
                "equal without a value on an empty taint",
                json!({"key": UNREACHABLE, "operator": "Equal"}),
                &unreachable,
                true,
            ),
        ];
        for (name, t, taint, want) in cases {
            assert_eq!(tolerates(&toleration(t), taint), want, "{name}");
        }
    }

    #[test]
    fn default_tolerations_added_unless_covered() {
        let defaults = DefaultTolerationSeconds { not_ready: 300, unreachable: 60 };
        let not_ready =
            json!({"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300});
        let unreachable =
            json!({"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60});
        let cases = [
            ("none yet: both added", json!([]), json!([not_ready, unreachable])),
            (
                "own unreachable toleration kept, not-ready added",
                json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]),
                json!([
                    {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5},
                    not_ready
                ]),
            ),
            ("tolerating everything: nothing added", json!([{"operator": "Exists"}]), json!([{"operator": "Exists"}])),
            (
                "a NoSchedule toleration of the key does not count",
                json!([{"key": NOT_READY, "operator": "Exists", "effect": "NoSchedule"}]),
                json!([{"key": NOT_READY, "operator": "Exists", "effect": "NoSchedule"}, not_ready, unreachable]),
            ),
        ];
        for (name, given, want) in cases {
            let mut spec = PodSpec { tolerations: Some(serde_json::from_value(given).unwrap()), ..Default::default() };
            add_default_tolerations(&mut spec, defaults);
            let want: Vec<Toleration> = serde_json::from_value(want).unwrap();
            assert_eq!(spec.tolerations.unwrap_or_default(), want, "{name}");
        }
    }
}
