//! Field selectors (`?fieldSelector=metadata.name=pi,status.phase!=Failed`), like upstream
//! `fields.ParseSelector`: terms split on unescaped commas, values unescaped (`\,` `\=` `\\`), no whitespace
//! trimming, and a field the object does not have compares as the empty string.

use std::fmt;

use super::SelectorError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOperator {
    /// `=` or `==`.
    Equals,
    /// `!=`.
    NotEquals,
}

/// One `field<op>value` term, value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

/// A conjunction of terms. No terms = matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

/// Checked in this order so `==` is not read as `=` followed by a value starting with `=`.
const OPERATORS: [(&str, FieldOperator); 3] =
    [("!=", FieldOperator::NotEquals), ("==", FieldOperator::Equals), ("=", FieldOperator::Equals)];

impl FieldSelector {
    pub fn parse(text: &str) -> Result<FieldSelector, SelectorError> {
        let mut parts = split_terms(text);
        // Upstream sorts the raw terms first, which decides both the canonical order and which error wins.
        parts.sort_unstable();
        let mut terms = Vec::new();
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            let Some((field, operator, raw_value)) = split_term(part) else {
                return Err(SelectorError(format!("invalid selector: '{text}'; can't understand '{part}'")));
            };
            terms.push(FieldTerm { field: field.to_string(), operator, value: unescape_value(raw_value)? });
        }
        Ok(FieldSelector { terms })
    }

    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// The field names used, in term order (a field may repeat).
    pub fn fields(&self) -> Vec<&str> {
        self.terms.iter().map(|t| t.field.as_str()).collect()
    }

    /// The first field not in `supported`, as upstream's conversion error (`field label not supported: x`).
    pub fn check_supported(&self, supported: &[&str]) -> Result<(), SelectorError> {
        match self.terms.iter().find(|t| !supported.contains(&t.field.as_str())) {
            Some(t) => Err(SelectorError(format!("field label not supported: {}", t.field))),
            None => Ok(()),
        }
    }

    /// The value `field` must equal, if some term pins it (`metadata.name=pi` lets a list become a get).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms.iter().find(|t| t.field == field && t.operator == FieldOperator::Equals).map(|t| t.value.as_str())
    }

    pub fn is_everything(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether an object matches; `get` returns a field's value, and a missing field counts as `""`.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|t| {
            let have = get(&t.field).unwrap_or_default();
            (have == t.value) == (t.operator == FieldOperator::Equals)
        })
    }
}

/// The canonical text, values re-escaped: `metadata.name=a\,b,status.phase!=Failed`.
impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if t.operator == FieldOperator::Equals { "=" } else { "!=" };
            write!(f, "{}{op}{}", t.field, escape_value(&t.value))?;
        }
        Ok(())
    }
}

/// Splits on commas that are not escaped; the escapes themselves stay in the terms.
fn split_terms(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms
}

/// The first operator occurrence splits the term; field names cannot be escaped.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    term.char_indices().find_map(|(i, _)| {
        let rest = &term[i..];
        OPERATORS
            .iter()
            .find(|(text, _)| rest.starts_with(text))
            .map(|&(text, op)| (&term[..i], op, &rest[text.len()..]))
    })
}

/// Upstream `fields.EscapeValue`.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Upstream `fields.UnescapeValue`, with its error texts (an unescaped character prints as its code point).
fn unescape_value(raw: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(raw.len());
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError(format!("invalid field selector: invalid escape sequence: \\{c}")));
            }
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => {
                return Err(SelectorError(format!(
                    "invalid field selector: unescaped character in value: {}",
                    u32::from(c)
                )));
            }
            c => out.push(c),
        }
    }
    if escaped {
        return Err(SelectorError("invalid field selector: invalid escape sequence: \\".to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(field: &str) -> Option<String> {
        match field {
            "metadata.name" => Some("pi".into()),
            "status.phase" => Some("Running".into()),
            "spec.nodeName" => Some(String::new()),
            "metadata.odd" => Some("a,b=c\\".into()),
            _ => None,
        }
    }

    #[test]
    fn matches_terms() {
        let cases: &[(&str, bool)] = &[
            ("", true),
            (",", true),
            ("metadata.name=pi", true),
            ("metadata.name==pi", true),
            ("metadata.name!=pi", false),
            ("metadata.name=other", false),
            ("metadata.name=pi,status.phase=Running", true),
            ("metadata.name=pi,status.phase!=Running", false),
            ("spec.nodeName=", true),
            ("missing.field=", true),
            ("missing.field!=x", true),
            ("missing.field=x", false),
            ("metadata.odd=a\\,b\\=c\\\\", true),
            // No trimming: the field is "metadata.name " which the object lacks.
            ("metadata.name =pi", false),
        ];
        for &(text, want) in cases {
            let sel = FieldSelector::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(sel.matches(object), want, "{text:?}");
        }
    }

    #[test]
    fn parses_and_prints() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("status.phase!=Failed,metadata.name==pi", "metadata.name=pi,status.phase!=Failed"),
            ("a=b\\,c", "a=b\\,c"),
            ("a=\\=\\\\", "a=\\=\\\\"),
            ("a==b", "a=b"),
            ("a=", "a="),
            ("=a", "=a"),
        ];
        for &(text, want) in cases {
            assert_eq!(FieldSelector::parse(text).map(|s| s.to_string()), Ok(want.to_string()), "{text:?}");
        }
        let sel = FieldSelector::parse(
            "involvedObject.kind=Job,involvedObject.uid=u1,involvedObject.name=pi,involvedObject.namespace=default",
        )
        .unwrap();
        assert_eq!(
            sel.fields(),
            vec!["involvedObject.kind", "involvedObject.name", "involvedObject.namespace", "involvedObject.uid"]
        );
        assert_eq!(sel.requires_exact_match("involvedObject.name"), Some("pi"));
        assert_eq!(sel.requires_exact_match("metadata.name"), None);
        assert_eq!(FieldSelector::parse("a!=b").unwrap().requires_exact_match("a"), None);
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str)] = &[
            ("name", "invalid selector: 'name'; can't understand 'name'"),
            ("b=1,a", "invalid selector: 'b=1,a'; can't understand 'a'"),
            ("a=b=c", "invalid field selector: unescaped character in value: 61"),
            ("a!==b", "invalid field selector: unescaped character in value: 61"),
            ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
            ("a=b\\,c,d=e\\", "invalid field selector: invalid escape sequence: \\"),
            ("a=\\x", "invalid field selector: invalid escape sequence: \\x"),
            // Sorted before parsing: "a=\\q" sorts ahead of "b", so its error wins.
            ("b,a=\\q", "invalid field selector: invalid escape sequence: \\q"),
        ];
        for &(text, want) in cases {
            assert_eq!(FieldSelector::parse(text).map_err(|e| e.0), Err(want.to_string()), "{text:?}");
        }
    }

    #[test]
    fn supported_fields() {
        let sel = FieldSelector::parse("metadata.name=x,spec.bogus=y").unwrap();
        assert_eq!(sel.check_supported(&["metadata.name", "spec.bogus"]), Ok(()));
        assert_eq!(
            sel.check_supported(&["metadata.name", "metadata.namespace"]).map_err(|e| e.0),
            Err("field label not supported: spec.bogus".to_string())
        );
        assert!(FieldSelector::parse("").unwrap().is_everything());
    }
}
