//! Go `fmt` renderings of decoded JSON values.
//!
//! Upstream error messages embed values printed by Go's `fmt` (`%v`, `%s`, `%q`) and type names from
//! `reflect.TypeOf`. The API server decodes JSON with integers as `int64` and everything else numeric as
//! `float64`, so those are the two number types reproduced here.

use serde_json::{Map, Number, Value};

/// The Go dynamic type a decoded JSON value has on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoType {
    Nil,
    Bool,
    Int64,
    Float64,
    String,
    Slice,
    Map,
}

impl GoType {
    pub fn of(value: &Value) -> GoType {
        match value {
            Value::Null => GoType::Nil,
            Value::Bool(_) => GoType::Bool,
            Value::Number(n) if n.as_i64().is_some() => GoType::Int64,
            Value::Number(_) => GoType::Float64,
            Value::String(_) => GoType::String,
            Value::Array(_) => GoType::Slice,
            Value::Object(_) => GoType::Map,
        }
    }

    /// `reflect.TypeOf(x).String()`, as `%s` prints it (a nil type prints as `%!s(<nil>)`).
    pub fn name(self) -> &'static str {
        match self {
            GoType::Nil => "%!s(<nil>)",
            GoType::Bool => "bool",
            GoType::Int64 => "int64",
            GoType::Float64 => "float64",
            GoType::String => "string",
            GoType::Slice => "[]interface {}",
            GoType::Map => "map[string]interface {}",
        }
    }
}

/// Go's `%v` of a value.
pub fn v(value: &Value) -> String {
    let mut out = String::new();
    write_v(&mut out, value);
    out
}

/// Go's `%v` of a `map[string]interface{}`.
pub fn v_map(map: &Map<String, Value>) -> String {
    let mut out = String::new();
    write_map(&mut out, map, Verb::V);
    out
}

/// Go's `%v` of a `[]interface{}`.
pub fn v_slice(items: &[Value]) -> String {
    let mut out = String::new();
    write_slice(&mut out, items, Verb::V);
    out
}

/// Go's `%s` of a value passed as an `interface{}` argument.
pub fn s(value: &Value) -> String {
    let mut out = String::new();
    match value {
        // A nil interface at the top level is a bad verb; nested nils print as `<nil>`.
        Value::Null => out.push_str("%!s(<nil>)"),
        other => write_s(&mut out, other),
    }
    out
}

/// Go's `%q` of a string (`strconv.Quote`).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%v` of a `float64`: `strconv.FormatFloat(f, 'g', -1, 64)`, i.e. the shortest digits that
/// round-trip, in exponent form when the exponent is below -4 or at least 6.
pub fn float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's `{:e}` prints the shortest round-trip digits, e.g. `-1.2345e-7`.
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', int_len - digits.len()));
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(&digits);
    }
    out
}

#[derive(Clone, Copy)]
enum Verb {
    V,
    S,
}

fn number(out: &mut String, n: &Number) {
    match n.as_i64() {
        Some(i) => out.push_str(&i.to_string()),
        None => out.push_str(&float(n.as_f64().unwrap_or(0.0))),
    }
}

fn write_v(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => number(out, n),
        Value::String(text) => out.push_str(text),
        Value::Array(items) => write_slice(out, items, Verb::V),
        Value::Object(map) => write_map(out, map, Verb::V),
    }
}

fn write_s(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(&format!("%!s(bool={b})")),
        Value::Number(n) => {
            out.push_str(&format!("%!s({}=", GoType::of(value).name()));
            number(out, n);
            out.push(')');
        }
        Value::String(text) => out.push_str(text),
        Value::Array(items) => write_slice(out, items, Verb::S),
        Value::Object(map) => write_map(out, map, Verb::S),
    }
}

fn write_with(out: &mut String, value: &Value, verb: Verb) {
    match verb {
        Verb::V => write_v(out, value),
        Verb::S => write_s(out, value),
    }
}

fn write_slice(out: &mut String, items: &[Value], verb: Verb) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_with(out, item, verb);
    }
    out.push(']');
}

/// Go prints maps with keys sorted (byte order, like Rust's `str` ordering).
fn write_map(out: &mut String, map: &Map<String, Value>, verb: Verb) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    out.push_str("map[");
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(key);
        out.push(':');
        if let Some(value) = map.get(key) {
            write_with(out, value, verb);
        }
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percent_v_matches_go() {
        let cases = [
            (json!({"image": "nginx"}), "map[image:nginx]"),
            (json!({"name": "b", "image": "a"}), "map[image:a name:b]"),
            (json!({"a": {"c": 1, "b": [1, "x"]}}), "map[a:map[b:[1 x] c:1]]"),
            (json!(["a/x", "b/y"]), "[a/x b/y]"),
            (json!({"$patch": null}), "map[$patch:<nil>]"),
            (json!({}), "map[]"),
            (json!([]), "[]"),
            (json!(true), "true"),
            (json!(-7), "-7"),
            (json!(1.5), "1.5"),
            (json!(80.0), "80"),
        ];
        for (value, want) in cases {
            assert_eq!(v(&value), want, "{value}");
        }
    }

    #[test]
    fn percent_s_matches_go() {
        let cases = [
            (json!("foo"), "foo"),
            (json!(null), "%!s(<nil>)"),
            (json!(1), "%!s(int64=1)"),
            (json!(2.5), "%!s(float64=2.5)"),
            (json!(true), "%!s(bool=true)"),
            (json!({"a": 1, "b": null}), "map[a:%!s(int64=1) b:<nil>]"),
        ];
        for (value, want) in cases {
            assert_eq!(s(&value), want, "{value}");
        }
    }

    #[test]
    fn floats_match_strconv_g_shortest() {
        let cases = [
            (1.0, "1"),
            (0.5, "0.5"),
            (100000.0, "100000"),
            (1000000.0, "1e+06"),
            (1234567.5, "1.2345675e+06"),
            (123456.7, "123456.7"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.25, "-2.25"),
            (1e21, "1e+21"),
            (1.5e-300, "1.5e-300"),
        ];
        for (f, want) in cases {
            assert_eq!(float(f), want, "{f}");
        }
    }

    #[test]
    fn quote_escapes_like_strconv() {
        assert_eq!(quote("bogus"), "\"bogus\"");
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(quote("\u{1}"), "\"\\x01\"");
    }

    #[test]
    fn go_type_names() {
        assert_eq!(GoType::of(&json!({})).name(), "map[string]interface {}");
        assert_eq!(GoType::of(&json!([])).name(), "[]interface {}");
        assert_eq!(GoType::of(&json!("x")).name(), "string");
        assert_eq!(GoType::of(&json!(3)).name(), "int64");
        assert_eq!(GoType::of(&json!(3.5)).name(), "float64");
        assert_eq!(GoType::of(&json!(u64::MAX)).name(), "float64");
        assert_eq!(GoType::of(&json!(null)).name(), "%!s(<nil>)");
    }
}
