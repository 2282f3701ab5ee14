//! Values printed the way Go's `field.Error` prints them (`%#v` for maps, slices and structs, `String()` for
//! times), so that messages match the real API server byte for byte where that is practical.
//!
//! Structs that hold pointers (pod templates, pod failure and success policies) print as `Type{...}`: Go
//! would print heap addresses there, which nobody can match anyway.

use std::collections::BTreeMap;
use std::fmt::Display;

use runlet_codec::{LabelSelector, Time};

use crate::field::quote;

/// `map[string]string{"a":"b", "c":"d"}`; a missing map is Go's nil map.
pub fn string_map(map: Option<&BTreeMap<String, String>>) -> String {
    match map {
        None => "map[string]string(nil)".to_string(),
        Some(map) => {
            let entries: Vec<String> = map.iter().map(|(k, v)| format!("{}:{}", quote(k), quote(v))).collect();
            format!("map[string]string{{{}}}", entries.join(", "))
        }
    }
}

/// `[]<elem>{"a", "b"}` for string-like elements; a missing slice is Go's nil slice.
pub fn string_slice(elem: &str, items: Option<&[String]>) -> String {
    match items {
        None => format!("[]{elem}(nil)"),
        Some(items) => {
            let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
            format!("[]{elem}{{{}}}", quoted.join(", "))
        }
    }
}

/// `[]int32{1, 2}`.
pub fn int32_slice(items: &[i32]) -> String {
    let parts: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    format!("[]int32{{{}}}", parts.join(", "))
}

/// A pointer to a number: the number, or the quoted `"null"` Go prints for a nil pointer.
pub fn opt_number<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| quote("null"), |v| v.to_string())
}

/// A pointer to a string: the quoted string, or the quoted `"null"`.
pub fn opt_string(value: Option<&str>) -> String {
    quote(value.unwrap_or("null"))
}

/// `metav1.Time` through Go's `time.Time.String()`: `2024-05-01 10:00:00 +0000 UTC` (fractional seconds only
/// when present, trailing zeros trimmed). The API server runs in UTC.
pub fn time(t: &Time) -> String {
    let zoned = t.0.to_zoned(jiff::tz::TimeZone::UTC);
    let mut out = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        zoned.year(),
        zoned.month(),
        zoned.day(),
        zoned.hour(),
        zoned.minute(),
        zoned.second()
    );
    let nanos = zoned.subsec_nanosecond();
    if nanos > 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

/// A `*metav1.Time`: its `String()`, or the quoted `"null"`.
pub fn opt_time(t: Option<&Time>) -> String {
    t.map_or_else(|| quote("null"), time)
}

/// `v1.LabelSelector{MatchLabels:map[string]string{...}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}`.
pub fn label_selector(selector: &LabelSelector) -> String {
    let expressions = match &selector.match_expressions {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(list) => {
            let items: Vec<String> = list
                .iter()
                .map(|r| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        quote(&r.key),
                        quote(&r.operator),
                        string_slice("string", r.values.as_deref())
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}",
        string_map(selector.match_labels.as_ref()),
        expressions
    )
}

/// A `*v1.LabelSelector`: dereferenced, or the quoted `"null"`.
pub fn opt_label_selector(selector: Option<&LabelSelector>) -> String {
    selector.map_or_else(|| quote("null"), label_selector)
}

/// Go's `%v` of a `[]string`: `[a b]`.
pub fn plain_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_codec::LabelSelectorRequirement;

    #[test]
    fn prints_like_go() {
        let mut labels = BTreeMap::new();
        labels.insert("b".to_string(), "2".to_string());
        labels.insert("a".to_string(), "1".to_string());
        assert_eq!(string_map(Some(&labels)), r#"map[string]string{"a":"1", "b":"2"}"#);
        assert_eq!(string_map(None), "map[string]string(nil)");
        assert_eq!(string_slice("types.UID", Some(&["x".to_string()])), r#"[]types.UID{"x"}"#);
        assert_eq!(int32_slice(&[3, 1]), "[]int32{3, 1}");
        assert_eq!(opt_number::<i32>(None), r#""null""#);
        assert_eq!(opt_number(Some(5)), "5");
        assert_eq!(plain_list(&["a b".to_string(), "c".to_string()]), "[a b c]");
        assert_eq!(quoted_list(&["In", "NotIn"]), r#"["In" "NotIn"]"#);

        let selector = LabelSelector { match_labels: Some(labels), match_expressions: None };
        assert_eq!(
            label_selector(&selector),
            r#"v1.LabelSelector{MatchLabels:map[string]string{"a":"1", "b":"2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"#
        );
        let selector = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "k".into(),
                operator: "In".into(),
                values: Some(vec!["x".into()]),
            }]),
        };
        assert_eq!(
            label_selector(&selector),
            r#"v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"k", Operator:"In", Values:[]string{"x"}}}}"#
        );
    }

    #[test]
    fn prints_times_like_go() {
        let t = Time("2024-05-01T10:00:00Z".parse().unwrap());
        assert_eq!(time(&t), "2024-05-01 10:00:00 +0000 UTC");
        let t = Time("2024-05-01T10:00:00.250Z".parse().unwrap());
        assert_eq!(time(&t), "2024-05-01 10:00:00.25 +0000 UTC");
        assert_eq!(opt_time(None), r#""null""#);
    }
}
