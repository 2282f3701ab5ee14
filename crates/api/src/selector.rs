//! Label selectors (parse, match, format) and field selectors, as kubectl sends them in `?labelSelector=` and
//! `?fieldSelector=`, with the error texts of apimachinery's `labels.Parse` and `fields.ParseSelector`.
//!
//! An API `LabelSelector` (`spec.selector`) converts with [`LabelSelector::from_api`]. Upstream gives a *nil*
//! API selector the meaning "matches nothing" and an *empty* one "matches everything"; here the nil case is the
//! caller's `Option::None`: `sel.map_or(false, |s| s.matches(..))`.

mod field;
mod label_parser;

use std::collections::BTreeMap;
use std::fmt;

use crate::codec;
use crate::field::{FieldError, quote};
use crate::names;

pub use field::{FieldOperator, FieldSelector, FieldTerm};

/// A selector that cannot be parsed or built; the message is upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

/// The operator of one label requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One comma-separated term of a label selector, e.g. `tier in (a,b)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// The values as given (sorted and de-duplicated when parsed from text; printed sorted either way).
    pub values: Vec<String>,
}

/// A conjunction of requirements, sorted by key. No requirements = matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl Requirement {
    /// Builds a requirement, checking it like upstream `labels.NewRequirement` (paths `key`, `values`,
    /// `values[i]`, `values[i][<key>]`).
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Requirement, SelectorError> {
        let mut errs: Vec<String> = Vec::new();
        let key_errs = names::qualified_name(key);
        if !key_errs.is_empty() {
            errs.push(FieldError::invalid("key", quote(key), key_errs.join("; ")).to_string());
        }
        let count_error = match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                Some("for 'in', 'notin' operators, values set can't be empty")
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
                Some("exact-match compatibility requires one single value")
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                Some("values set must be empty for exists and does not exist")
            }
            Operator::GreaterThan | Operator::LessThan if values.len() != 1 => {
                Some("for 'Gt', 'Lt' operators, exactly one value is required")
            }
            _ => None,
        };
        if let Some(detail) = count_error {
            errs.push(FieldError::invalid("values", go_string_slice(&values), detail).to_string());
        }
        if matches!(operator, Operator::GreaterThan | Operator::LessThan) {
            for (i, v) in values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    let detail = "for 'Gt', 'Lt' operators, the value must be an integer";
                    errs.push(FieldError::invalid(format!("values[{i}]"), quote(v), detail).to_string());
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            let value_errs = names::label_value(v);
            if !value_errs.is_empty() {
                let path = format!("values[{i}][{key}]");
                errs.push(FieldError::invalid(path, quote(v), value_errs.join("; ")).to_string());
            }
        }
        if errs.is_empty() {
            Ok(Requirement { key: key.to_string(), operator, values })
        } else {
            Err(SelectorError(aggregate(errs)))
        }
    }

    /// Whether a label set satisfies this requirement; `get` looks a label up.
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        let value = get(&self.key);
        let listed = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => value.is_some_and(listed),
            Operator::NotIn | Operator::NotEquals => !value.is_some_and(listed),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                // A label that is not an integer never satisfies a numeric comparison.
                let (Some(Ok(have)), [want]) = (value.map(str::parse::<i64>), self.values.as_slice()) else {
                    return false;
                };
                let Ok(want) = want.parse::<i64>() else { return false };
                if self.operator == Operator::GreaterThan { have > want } else { have < want }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let (op, parens) = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => ("=", false),
            Operator::DoubleEquals => ("==", false),
            Operator::NotEquals => ("!=", false),
            Operator::GreaterThan => (">", false),
            Operator::LessThan => ("<", false),
            Operator::In => (" in ", true),
            Operator::NotIn => (" notin ", true),
        };
        let mut values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        let values = values.join(",");
        if parens { write!(f, "{op}({values})") } else { write!(f, "{op}{values}") }
    }
}

impl LabelSelector {
    /// The selector that matches every label set.
    pub fn everything() -> Self {
        LabelSelector::default()
    }

    /// Parses `?labelSelector=` text: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>1`,
    /// `k<1`, comma-separated. The empty string matches everything.
    pub fn parse(text: &str) -> Result<LabelSelector, SelectorError> {
        let mut requirements = label_parser::parse(text)?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    /// The selector `k1=v1,k2=v2,...` for a label set, without validation (upstream `SelectorFromValidatedSet`).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> LabelSelector {
        let requirements = labels
            .iter()
            .map(|(k, v)| Requirement { key: k.clone(), operator: Operator::Equals, values: vec![v.clone()] })
            .collect();
        LabelSelector { requirements }
    }

    /// Converts an API selector (`matchLabels` + `matchExpressions`), like upstream `LabelSelectorAsSelector`.
    /// An empty API selector matches everything; a missing one (nil) should be `None` at the call site.
    pub fn from_api(api: &codec::LabelSelector) -> Result<LabelSelector, SelectorError> {
        let mut requirements = Vec::new();
        for (key, value) in api.match_labels.iter().flatten() {
            requirements.push(Requirement::new(key, Operator::Equals, vec![value.clone()])?);
        }
        for expr in api.match_expressions.iter().flatten() {
            let operator = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(SelectorError(format!("{} is not a valid label selector operator", quote(other)))),
            };
            requirements.push(Requirement::new(&expr.key, operator, expr.values.clone().unwrap_or_default())?);
        }
        // Stable, so a matchLabels entry stays ahead of an expression on the same key, as upstream.
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True when the selector has no requirements and so matches everything.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }

    /// Matches a `metadata.labels` JSON object; a missing or non-object value is an empty label set.
    pub fn matches_json(&self, labels: Option<&serde_json::Value>) -> bool {
        let object = labels.and_then(serde_json::Value::as_object);
        self.matches_with(|k| object.and_then(|o| o.get(k)).and_then(serde_json::Value::as_str))
    }

    /// Matches any label store; `get` looks a label up.
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| r.matches_with(&get))
    }
}

/// The canonical text: requirements joined by `,`, e.g. `app=web,tier in (a,b)`; empty for "everything".
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// An API selector as `kubectl get -o wide` shows it (upstream `metav1.FormatLabelSelector`): the canonical
/// text, `<none>` when it selects everything, `<error>` when it is invalid.
pub fn format_api_selector(api: &codec::LabelSelector) -> String {
    match LabelSelector::from_api(api) {
        Ok(sel) if sel.is_everything() => "<none>".to_string(),
        Ok(sel) => sel.to_string(),
        Err(_) => "<error>".to_string(),
    }
}

/// Go's `%#v` of a `[]string`, the way field errors print a bad value list.
fn go_string_slice(values: &[String]) -> String {
    if values.is_empty() {
        // Upstream copies the values with `append([]string(nil), ...)`, so an empty list is nil.
        return "[]string(nil)".to_string();
    }
    let quoted: Vec<String> = values.iter().map(|v| quote(v)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// Upstream `utilerrors.Aggregate` text: one error alone, several de-duplicated inside `[...]`.
fn aggregate(mut errs: Vec<String>) -> String {
    let mut seen = std::collections::HashSet::new();
    errs.retain(|e| seen.insert(e.clone()));
    if errs.len() == 1 { errs.remove(0) } else { format!("[{}]", errs.join(", ")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn matches_every_operator() {
        let set = labels(&[("app", "web"), ("tier", "front"), ("n", "5"), ("word", "x")]);
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("tier in (front,back)", true),
            ("tier in (back)", false),
            ("missing in (x)", false),
            ("tier notin (back)", true),
            ("tier notin (front)", false),
            ("missing notin (x)", true),
            ("app", true),
            ("missing", false),
            ("!missing", true),
            ("!app", false),
            ("n>4", true),
            ("n>5", false),
            ("n<6", true),
            ("n<5", false),
            ("missing>1", false),
            ("word>1", false),
            ("app=web,tier=front", true),
            ("app=web,tier=back", false),
            ("missing=", false),
            ("missing!=", true),
        ];
        for &(text, want) in cases {
            let sel = LabelSelector::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(sel.matches(&set), want, "{text:?}");
        }
        // An empty value matches a label whose value is empty.
        let empty = labels(&[("k", "")]);
        assert!(LabelSelector::parse("k=").unwrap().matches(&empty));
        assert!(LabelSelector::parse("k in (,a)").unwrap().matches(&empty));
    }

    #[test]
    fn matches_json_labels() {
        let sel = LabelSelector::parse("job-name=pi").unwrap();
        let obj = serde_json::json!({"job-name": "pi", "n": 3});
        assert!(sel.matches_json(Some(&obj)));
        assert!(!sel.matches_json(Some(&serde_json::json!({"job-name": "other"}))));
        assert!(!sel.matches_json(None));
        assert!(LabelSelector::parse("!n").unwrap().matches_json(Some(&obj)), "non-string values are not labels");
        assert!(LabelSelector::everything().matches_json(None));
    }

    #[test]
    fn canonical_text() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("b=2,a=1", "a=1,b=2"),
            ("  x  in  ( b , a )  ", "x in (a,b)"),
            ("x notin (c,a,a)", "x notin (a,c)"),
            ("k==v", "k==v"),
            ("k != v", "k!=v"),
            ("!k,j", "j,!k"),
            ("n > 3, n<9", "n>3,n<9"),
            ("k in ()", "k in ()"),
            ("k in (,a,)", "k in (,a)"),
            ("k=", "k="),
            ("in in (in, notin)", "in in (in,notin)"),
            ("example.com/a=B_1", "example.com/a=B_1"),
        ];
        for &(text, want) in cases {
            assert_eq!(LabelSelector::parse(text).map(|s| s.to_string()), Ok(want.to_string()), "{text:?}");
        }
    }

    #[test]
    fn api_selectors() {
        let uid = LabelSelector::parse("batch.kubernetes.io/controller-uid=abc").unwrap();
        let api = codec::LabelSelector {
            match_labels: Some(labels(&[("batch.kubernetes.io/controller-uid", "abc")])),
            match_expressions: None,
        };
        assert_eq!(LabelSelector::from_api(&api), Ok(uid));
        assert_eq!(format_api_selector(&api), "batch.kubernetes.io/controller-uid=abc");
        assert_eq!(format_api_selector(&codec::LabelSelector::default()), "<none>");
        assert!(LabelSelector::from_api(&codec::LabelSelector::default()).unwrap().is_everything());

        let expr = |key: &str, op: &str, values: Option<&[&str]>| LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: values.map(|v| v.iter().map(|s| s.to_string()).collect()),
        };
        let api = codec::LabelSelector {
            match_labels: Some(labels(&[("z", "1"), ("b", "2")])),
            match_expressions: Some(vec![
                expr("tier", "In", Some(&["web", "api"])),
                expr("b", "Exists", None),
                expr("gone", "DoesNotExist", Some(&[])),
                expr("env", "NotIn", Some(&["prod"])),
            ]),
        };
        assert_eq!(format_api_selector(&api), "b=2,b,env notin (prod),!gone,tier in (api,web),z=1");
        let sel = LabelSelector::from_api(&api).unwrap();
        assert!(sel.matches(&labels(&[("z", "1"), ("b", "2"), ("tier", "web")])));
        assert!(!sel.matches(&labels(&[("z", "1"), ("b", "2"), ("tier", "web"), ("gone", "")])));

        let errors: &[(codec::LabelSelector, &str)] = &[
            (
                codec::LabelSelector {
                    match_expressions: Some(vec![expr("k", "Gt", Some(&["1"]))]),
                    ..Default::default()
                },
                "\"Gt\" is not a valid label selector operator",
            ),
            (
                codec::LabelSelector { match_expressions: Some(vec![expr("k", "In", None)]), ..Default::default() },
                "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty",
            ),
            (
                codec::LabelSelector {
                    match_expressions: Some(vec![expr("k", "Exists", Some(&["a", "b"]))]),
                    ..Default::default()
                },
                "values: Invalid value: []string{\"a\", \"b\"}: values set must be empty for exists and does not exist",
            ),
            (
                codec::LabelSelector { match_labels: Some(labels(&[("k", "a b")])), ..Default::default() },
                "values[0][k]: Invalid value: \"a b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            ),
        ];
        for (api, want) in errors {
            assert_eq!(LabelSelector::from_api(api).map_err(|e| e.0), Err(want.to_string()));
            assert_eq!(format_api_selector(api), "<error>");
        }
        let bad_key = codec::LabelSelector { match_labels: Some(labels(&[("a/b/c", "x")])), ..Default::default() };
        assert!(
            LabelSelector::from_api(&bad_key)
                .unwrap_err()
                .0
                .starts_with("key: Invalid value: \"a/b/c\": a qualified name")
        );
    }

    #[test]
    fn requirement_errors_aggregate() {
        let err = Requirement::new("k", Operator::GreaterThan, vec!["_x".into()]).unwrap_err();
        assert!(err.0.starts_with("[values[0]: Invalid value: \"_x\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][k]: Invalid value: \"_x\": a valid label"), "{err}");
        let err = Requirement::new("k", Operator::LessThan, vec![]).unwrap_err();
        assert_eq!(
            err.0,
            "values: Invalid value: []string(nil): for 'Gt', 'Lt' operators, exactly one value is required"
        );
        let err = Requirement::new("k", Operator::Equals, vec!["a".into(), "b".into()]).unwrap_err();
        assert_eq!(
            err.0,
            "values: Invalid value: []string{\"a\", \"b\"}: exact-match compatibility requires one single value"
        );
    }
}
