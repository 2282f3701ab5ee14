//! Matching a Job's `spec.selector` against pod labels, as `metav1.LabelSelectorAsSelector` does.

use std::collections::BTreeMap;

use runlet_codec::LabelSelector;

/// A selector that cannot be turned into a label selector (unknown operator, bad values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("couldn't convert Job selector: {0}")]
pub struct SelectorError(pub String);

/// Whether `labels` satisfy `selector`. A missing selector matches nothing and an empty one matches
/// everything (upstream `labels.Nothing()` / `labels.Everything()`).
pub(crate) fn matches(
    selector: Option<&LabelSelector>,
    labels: &BTreeMap<String, String>,
) -> Result<bool, SelectorError> {
    let Some(selector) = selector else { return Ok(false) };
    let mut all = true;
    for (key, value) in selector.match_labels.iter().flatten() {
        all &= labels.get(key) == Some(value);
    }
    for req in selector.match_expressions.iter().flatten() {
        let values = req.values.as_deref().unwrap_or_default();
        let present = labels.get(&req.key);
        let ok = match req.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(SelectorError(format!(
                    "for '{}', '{}' operator, values set can't be empty",
                    req.key, req.operator
                )));
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(SelectorError("values set must be empty for exists and does not exist".to_string()));
            }
            "In" => present.is_some_and(|v| values.contains(v)),
            "NotIn" => present.is_none_or(|v| !values.contains(v)),
            "Exists" => present.is_some(),
            "DoesNotExist" => present.is_none(),
            other => return Err(SelectorError(format!("{other:?} is not a valid label selector operator"))),
        };
        all &= ok;
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_codec::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn match_labels_and_expressions() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("a", "1")])),
            match_expressions: Some(vec![req("b", "In", &["x", "y"]), req("c", "DoesNotExist", &[])]),
        };
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[("a", "1"), ("b", "x")], true),
            (&[("a", "1"), ("b", "z")], false),
            (&[("a", "2"), ("b", "x")], false),
            (&[("a", "1"), ("b", "y"), ("c", "")], false),
            (&[("b", "x")], false),
        ];
        for (pod, want) in cases {
            assert_eq!(matches(Some(&sel), &labels(pod)), Ok(*want), "{pod:?}");
        }
    }

    #[test]
    fn nil_matches_nothing_empty_matches_everything() {
        assert_eq!(matches(None, &labels(&[("a", "1")])), Ok(false));
        assert_eq!(matches(Some(&LabelSelector::default()), &labels(&[])), Ok(true));
    }

    #[test]
    fn not_in_and_exists() {
        let sel = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![req("a", "NotIn", &["1"]), req("b", "Exists", &[])]),
        };
        assert_eq!(matches(Some(&sel), &labels(&[("b", "")])), Ok(true));
        assert_eq!(matches(Some(&sel), &labels(&[("a", "1"), ("b", "")])), Ok(false));
        assert_eq!(matches(Some(&sel), &labels(&[("a", "2")])), Ok(false));
    }

    #[test]
    fn bad_operators_are_errors() {
        for r in [req("a", "Foo", &["1"]), req("a", "In", &[]), req("a", "Exists", &["1"])] {
            let sel = LabelSelector { match_labels: None, match_expressions: Some(vec![r]) };
            assert!(matches(Some(&sel), &labels(&[])).is_err());
        }
    }
}
