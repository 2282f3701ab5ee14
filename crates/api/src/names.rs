//! Kubernetes name and label syntax, with the exact messages of apimachinery's
//! `util/validation/validation.go` (v1.33). Every check returns the list of messages; empty means valid.
//!
//! The checks are hand-written rather than regex-based (no regex dependency), but they accept exactly the
//! languages of the upstream regexes quoted in the messages.

/// Longest RFC 1123 label (and label value, and qualified-name name part).
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// Longest RFC 1123 subdomain.
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// Longest label value.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// Longest name part of a qualified name.
pub const QUALIFIED_NAME_MAX_LENGTH: usize = 63;

/// Longest name `generateName` may produce (upstream `SimpleNameGenerator`'s `maxNameLength`).
pub const MAX_GENERATED_NAME_LENGTH: usize = 63;
/// Length of the random suffix `generateName` appends.
pub const GENERATE_NAME_RANDOM_LENGTH: usize = 5;
/// The characters upstream `utilrand.String` draws from (no vowels, no confusable digits).
pub const GENERATE_NAME_SUFFIX_ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const RELAXED_ENV_VAR_NAME_ERR: &str =
    "a valid environment variable name must consist only of printable ASCII characters other than '='";

/// The characters `generateName` suffixes are drawn from.
pub fn generate_name_suffix_alphabet() -> &'static str {
    GENERATE_NAME_SUFFIX_ALPHABET
}

/// What `generateName` is checked as: a trailing dash is fine because a suffix follows (upstream
/// `maskTrailingDash`, which really does drop the last two bytes before appending `a`).
pub fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1 && name.ends_with('-') {
        let cut = name.len() - 2;
        if name.is_char_boundary(cut) {
            return format!("{}a", &name[..cut]);
        }
    }
    name.to_string()
}

/// `must be no more than N characters` (upstream `MaxLenError`).
pub fn max_len_message(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `must be non-empty` (upstream `EmptyError`).
pub fn empty_message() -> &'static str {
    "must be non-empty"
}

/// Upstream `RegexError`: `msg (e.g. 'a',  or 'b', regex used for validation is 'fmt')`. The double space before
/// `or` is upstream's (each example ends in `", "` and the separator is `" or "`).
fn regex_message(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let examples: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!("{msg} (e.g. {}regex used for validation is '{fmt}')", examples.join(" or "))
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_dns1123_label_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => alnum(first) && alnum(last) && b.iter().all(|c| alnum(c) || *c == b'-'),
        _ => false,
    }
}

/// Labels joined by single dots.
fn is_dns1123_subdomain_syntax(s: &str) -> bool {
    s.split('.').all(is_dns1123_label_syntax)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name_part_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let ext = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() && b.iter().all(ext),
        _ => false,
    }
}

/// An RFC 1123 subdomain (object names of most kinds, e.g. Jobs): at most 253 characters.
pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_message(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !is_dns1123_subdomain_syntax(value) {
        errs.push(regex_message(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, &["example.com"]));
    }
    errs
}

const CONFIG_KEY_FMT: &str = "[-._a-zA-Z0-9]+";
const CONFIG_KEY_ERR: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";

/// A key of a ConfigMap or Secret (also a file name in their volumes): upstream `IsConfigMapKey`.
pub fn config_key(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_message(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    let syntax =
        !value.is_empty() && value.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if !syntax {
        errs.push(regex_message(CONFIG_KEY_ERR, CONFIG_KEY_FMT, &["key.name", "KEY_NAME", "key-name"]));
    }
    match value {
        "." => errs.push("must not be '.'".to_string()),
        ".." => errs.push("must not be '..'".to_string()),
        v if v.starts_with("..") => errs.push("must not start with '..'".to_string()),
        _ => {}
    }
    errs
}

/// An RFC 1123 label (namespace names, container names): at most 63 characters, no dots.
pub fn dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_message(DNS1123_LABEL_MAX_LENGTH));
    }
    if !is_dns1123_label_syntax(value) {
        // A valid subdomain that is not a valid label can only be failing because of its dots.
        if is_dns1123_subdomain_syntax(value) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_message(DNS1123_LABEL_ERR, DNS1123_LABEL_FMT, &["my-name", "123-abc"]));
        }
    }
    errs
}

/// A qualified name (label and annotation keys): `[prefix/]name`, the prefix a DNS subdomain.
pub fn qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push(format!("prefix part {}", empty_message()));
            } else {
                errs.extend(dns1123_subdomain(prefix).into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_message(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push(format!("name part {}", empty_message()));
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errs.push(format!("name part {}", max_len_message(QUALIFIED_NAME_MAX_LENGTH)));
    }
    if !is_qualified_name_part_syntax(name) {
        errs.push(format!(
            "name part {}",
            regex_message(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
        ));
    }
    errs
}

/// A label value: empty, or a qualified-name name part of at most 63 characters.
pub fn label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_message(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !is_qualified_name_part_syntax(value) {
        errs.push(regex_message(LABEL_VALUE_ERR, LABEL_VALUE_FMT, &["MyValue", "my_value", "12345"]));
    }
    errs
}

/// An environment variable name under the relaxed rule (gate `RelaxedEnvironmentVariableValidation`, on in
/// 1.33): non-empty, printable ASCII (space included), no `=`.
pub fn env_var_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.is_empty() {
        errs.push(format!("environment variable name {}", empty_message()));
    }
    if value.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        errs.push(RELAXED_ENV_VAR_NAME_ERR.to_string());
    }
    errs
}

/// The name `generateName: base` produces with the given random `suffix`.
///
/// Upstream cuts the base to `63 - 5` bytes so that base plus a 5-character suffix fits in 63; this cuts it to
/// `63 - suffix.len()`, which is the same for the standard suffix and keeps the promise for any other. The cut
/// backs off to a character boundary, so a non-ASCII base (which validation rejects anyway) cannot panic.
pub fn with_suffix(base: &str, suffix: &str) -> String {
    let mut keep = MAX_GENERATED_NAME_LENGTH.saturating_sub(suffix.len()).min(base.len());
    while !base.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{suffix}", &base[..keep])
}

/// A 5-character suffix from the generateName alphabet, drawn from the caller's random number (this crate does no
/// I/O, so the entropy comes from outside).
pub fn suffix_from_random(mut random: u64) -> String {
    let alphabet = GENERATE_NAME_SUFFIX_ALPHABET.as_bytes();
    let base = alphabet.len() as u64;
    (0..GENERATE_NAME_RANDOM_LENGTH)
        .map(|_| {
            let c = alphabet[(random % base) as usize] as char;
            random /= base;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    #[test]
    fn subdomain() {
        let long = "a".repeat(254);
        let a253 = "a".repeat(253);
        let cases: &[(&str, Vec<String>)] = &[
            ("pi", vec![]),
            ("a.b-c.d9", vec![]),
            ("0", vec![]),
            (&a253, vec![]),
            ("My_Job", vec![SUBDOMAIN_MSG.into()]),
            ("", vec![SUBDOMAIN_MSG.into()]),
            ("-a", vec![SUBDOMAIN_MSG.into()]),
            ("a-", vec![SUBDOMAIN_MSG.into()]),
            ("a..b", vec![SUBDOMAIN_MSG.into()]),
            (".a", vec![SUBDOMAIN_MSG.into()]),
            ("a.", vec![SUBDOMAIN_MSG.into()]),
            ("a.-b", vec![SUBDOMAIN_MSG.into()]),
            ("é", vec![SUBDOMAIN_MSG.into()]),
            (&long, vec!["must be no more than 253 characters".into()]),
        ];
        for (input, want) in cases {
            assert_eq!(&dns1123_subdomain(input), want, "{input:?}");
        }
    }

    #[test]
    fn label() {
        let (a63, a64) = ("a".repeat(63), "a".repeat(64));
        let cases: &[(&str, Vec<String>)] = &[
            ("default", vec![]),
            ("kube-system", vec![]),
            (&a63, vec![]),
            (&a64, vec!["must be no more than 63 characters".into()]),
            ("a.b", vec!["must not contain dots".into()]),
            ("A", vec![LABEL_MSG.into()]),
            ("", vec![LABEL_MSG.into()]),
            ("a_b", vec![LABEL_MSG.into()]),
            (
                &format!("{}.b", "a".repeat(63)),
                vec!["must be no more than 63 characters".into(), "must not contain dots".into()],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&dns1123_label(input), want, "{input:?}");
        }
    }

    #[test]
    fn qualified_names() {
        let cases: &[(&str, Vec<String>)] = &[
            ("app", vec![]),
            ("My.Name_1", vec![]),
            ("batch.kubernetes.io/job-name", vec![]),
            ("", vec!["name part must be non-empty".into(), NAME_PART_MSG.into()]),
            ("-a", vec![NAME_PART_MSG.into()]),
            ("/a", vec!["prefix part must be non-empty".into()]),
            ("a/", vec!["name part must be non-empty".into(), NAME_PART_MSG.into()]),
            ("Ex.com/a", vec![format!("prefix part {SUBDOMAIN_MSG}")]),
            (
                &"a".repeat(64),
                vec!["name part must be no more than 63 characters".into()],
            ),
            (
                "a/b/c",
                vec!["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into()],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&qualified_name(input), want, "{input:?}");
        }
    }

    #[test]
    fn label_values() {
        let (a63, a64) = ("a".repeat(63), "a".repeat(64));
        let cases: &[(&str, Vec<String>)] = &[
            ("", vec![]),
            ("x", vec![]),
            ("My_value-1.2", vec![]),
            (&a63, vec![]),
            (&a64, vec!["must be no more than 63 characters".into()]),
            ("_a", vec![VALUE_MSG.into()]),
            ("a b", vec![VALUE_MSG.into()]),
            ("a/b", vec![VALUE_MSG.into()]),
        ];
        for (input, want) in cases {
            assert_eq!(&label_value(input), want, "{input:?}");
        }
    }

    #[test]
    fn env_var_names() {
        let bad = "a valid environment variable name must consist only of printable ASCII characters other than '='";
        let cases: &[(&str, Vec<String>)] = &[
            ("JOB_COMPLETION_INDEX", vec![]),
            ("1abc", vec![]),
            ("my var.with-stuff!", vec![]),
            ("", vec!["environment variable name must be non-empty".into()]),
            ("A=B", vec![bad.into()]),
            ("tab\there", vec![bad.into()]),
            ("ümlaut", vec![bad.into()]),
            ("a==b", vec![bad.into()]),
        ];
        for (input, want) in cases {
            assert_eq!(&env_var_name(input), want, "{input:?}");
        }
    }

    #[test]
    fn generated_names() {
        assert_eq!(with_suffix("pi-", "abcde"), "pi-abcde");
        let long = "x".repeat(70);
        let name = with_suffix(&long, "bcdfg");
        assert_eq!(name.len(), 63);
        assert_eq!(name, format!("{}bcdfg", "x".repeat(58)));
        assert_eq!(with_suffix(&"y".repeat(58), "zzzzz").len(), 63);
        // The cut must not split a multi-byte character.
        let wide = format!("{}é", "a".repeat(57));
        assert_eq!(with_suffix(&wide, "bcdfg"), format!("{}bcdfg", "a".repeat(57)));

        assert_eq!(generate_name_suffix_alphabet().len(), 27);
        assert_eq!(suffix_from_random(0), "bbbbb");
        assert_eq!(suffix_from_random(1), "cbbbb");
        assert_eq!(suffix_from_random(26 + 27), "9cbbb");
        let s = suffix_from_random(u64::MAX);
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| GENERATE_NAME_SUFFIX_ALPHABET.contains(c)));
    }
}
