//! Field errors, printed exactly as Kubernetes prints them.
//!
//! An error reads `<path>: <Type>[: <value>][: <detail>]`, e.g.
//! `spec.parallelism: Invalid value: -1: must be greater than or equal to 0`.

use std::fmt;

/// The kind of a field error (Kubernetes' `field.ErrorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Required,
    Invalid,
    Unsupported,
    Forbidden,
    TooMany,
    TooLong,
    Duplicate,
    NotFound,
}

impl ErrorKind {
    /// The text Kubernetes prints after the path.
    pub fn text(self) -> &'static str {
        match self {
            ErrorKind::Required => "Required value",
            ErrorKind::Invalid => "Invalid value",
            ErrorKind::Unsupported => "Unsupported value",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::TooMany => "Too many",
            ErrorKind::TooLong => "Too long",
            ErrorKind::Duplicate => "Duplicate value",
            ErrorKind::NotFound => "Not found",
        }
    }

    /// The `reason` of a `StatusCause` (`FieldValueInvalid`, ...).
    pub fn cause_reason(self) -> &'static str {
        match self {
            ErrorKind::Required => "FieldValueRequired",
            ErrorKind::Invalid => "FieldValueInvalid",
            ErrorKind::Unsupported => "FieldValueNotSupported",
            ErrorKind::Forbidden => "FieldValueForbidden",
            ErrorKind::TooMany => "FieldValueTooMany",
            ErrorKind::TooLong => "FieldValueTooLong",
            ErrorKind::Duplicate => "FieldValueDuplicate",
            ErrorKind::NotFound => "FieldValueNotFound",
        }
    }
}

/// One validation error on one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub kind: ErrorKind,
    /// Dotted path, e.g. `spec.template.spec.restartPolicy`.
    pub path: String,
    /// The offending value already formatted the Kubernetes way (strings quoted, numbers bare), if any.
    pub value: Option<String>,
    pub detail: String,
}

impl FieldError {
    pub fn new(kind: ErrorKind, path: impl Into<String>, value: Option<String>, detail: impl Into<String>) -> Self {
        FieldError { kind, path: path.into(), value, detail: detail.into() }
    }
    pub fn required(path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Required, path, None, detail)
    }
    pub fn invalid(path: impl Into<String>, value: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, path, Some(value.into()), detail)
    }
    pub fn forbidden(path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, path, None, detail)
    }
    /// `Unsupported value: "Foo": supported values: "A", "B"`.
    pub fn unsupported(path: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| quote(s)).collect();
        Self::new(ErrorKind::Unsupported, path, Some(quote(value)), format!("supported values: {}", list.join(", ")))
    }

    /// The message of the matching `StatusCause`: the error without its path.
    pub fn cause_message(&self) -> String {
        let mut s = self.kind.text().to_string();
        if let Some(v) = &self.value {
            s.push_str(": ");
            s.push_str(v);
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.cause_message())
    }
}

/// A string value as Kubernetes prints it in errors: Go's `%q`.
pub fn quote(s: &str) -> String {
    serde_json_quote(s)
}

fn serde_json_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The full `Invalid` status message: `Job.batch "pi" is invalid: <err>` or `... is invalid: [<e1>, <e2>]`.
pub fn invalid_message(qualified_kind: &str, name: &str, errors: &[FieldError]) -> String {
    let body = if errors.len() == 1 {
        errors[0].to_string()
    } else {
        let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        format!("[{}]", all.join(", "))
    };
    format!("{qualified_kind} {} is invalid: {body}", quote(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_kubernetes() {
        let e = FieldError::invalid("spec.parallelism", "-1", "must be greater than or equal to 0");
        assert_eq!(e.to_string(), "spec.parallelism: Invalid value: -1: must be greater than or equal to 0");
        let e = FieldError::unsupported("spec.completionMode", "Foo", &["NonIndexed", "Indexed"]);
        assert_eq!(
            e.to_string(),
            "spec.completionMode: Unsupported value: \"Foo\": supported values: \"NonIndexed\", \"Indexed\""
        );
        let e = FieldError::required("spec.selector", "");
        assert_eq!(e.to_string(), "spec.selector: Required value");
        assert_eq!(
            invalid_message("Job.batch", "pi", &[e.clone(), e]),
            "Job.batch \"pi\" is invalid: [spec.selector: Required value, spec.selector: Required value]"
        );
    }
}
