//! kubectl's JSONPath templates (`{.items..metadata.name}`, `{range .items[*]}{.metadata.name}{"\n"}{end}`,
//! filters such as `[?(@.type=="Complete")]`). This module is only the template layer: it splits a template into
//! text, literals, paths and `range` blocks, rewrites kubectl's path spelling into RFC 9535 queries (`.job-name`
//! becomes `['job-name']`), and prints results as kubectl does. Evaluation is `jsonpath-rust`'s.

use jsonpath_rust::JsonPath;
use serde_json::Value;

use crate::error::{CliError, Result};

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    /// An RFC 9535 query, evaluated against the current object.
    Path(String),
    Range {
        path: String,
        body: Vec<Node>,
    },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

fn parse_error(template: &str, why: impl std::fmt::Display) -> CliError {
    CliError::other(format!("error parsing jsonpath {template}, {why}"))
}

impl Template {
    pub fn parse(template: &str) -> Result<Template> {
        let mut stack: Vec<(String, Vec<Node>)> = Vec::new();
        let mut nodes: Vec<Node> = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            let Some(open) = rest.find('{') else {
                nodes.push(Node::Text(rest.to_string()));
                break;
            };
            if open > 0 {
                nodes.push(Node::Text(rest[..open].to_string()));
            }
            let close = action_end(&rest[open + 1..]).ok_or_else(|| parse_error(template, "unclosed action"))?;
            let action = rest[open + 1..open + 1 + close].trim();
            rest = &rest[open + 2 + close..];
            if let Some(path) = action.strip_prefix("range ") {
                stack.push((to_query(path.trim()).map_err(|e| parse_error(template, e))?, std::mem::take(&mut nodes)));
            } else if action == "end" {
                let (path, outer) = stack.pop().ok_or_else(|| parse_error(template, "not in range, nothing to end"))?;
                let body = std::mem::replace(&mut nodes, outer);
                nodes.push(Node::Range { path, body });
            } else if action.starts_with('"') {
                nodes.push(Node::Text(unquote(action).map_err(|e| parse_error(template, e))?));
            } else {
                nodes.push(Node::Path(to_query(action).map_err(|e| parse_error(template, e))?));
            }
        }
        if !stack.is_empty() {
            return Err(parse_error(template, "range without end"));
        }
        Ok(Template { nodes })
    }

    /// Prints the template for `value`. Missing fields print nothing, as with `kubectl get -o jsonpath`.
    pub fn render(&self, value: &Value) -> Result<String> {
        let mut out = String::new();
        render(&self.nodes, value, &mut out)?;
        Ok(out)
    }

    /// The values one path-only template finds (custom columns, `--sort-by`, `wait --for=jsonpath`).
    pub fn values<'a>(&self, value: &'a Value) -> Result<Vec<&'a Value>> {
        match self.nodes.as_slice() {
            [Node::Path(p)] => query(p, value),
            _ => Err(CliError::other("expected a single path such as {.metadata.name}")),
        }
    }
}

/// kubectl's relaxed spelling for custom columns and `--sort-by`: `.a.b`, `a.b` and `{.a.b}` are the same.
pub fn relaxed(expr: &str) -> Result<Template> {
    let inner = expr.trim().trim_start_matches('{').trim_end_matches('}');
    let inner = if inner.starts_with('.') || inner.starts_with('$') || inner.starts_with('@') {
        inner.to_string()
    } else {
        format!(".{inner}")
    };
    Template::parse(&format!("{{{inner}}}"))
}

fn query<'a>(path: &str, value: &'a Value) -> Result<Vec<&'a Value>> {
    value.query(path).map_err(|e| CliError::other(format!("error executing jsonpath {path}: {e}")))
}

fn render(nodes: &[Node], value: &Value, out: &mut String) -> Result<()> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Path(p) => {
                let found = query(p, value)?;
                let texts: Vec<String> = found.iter().map(|v| to_text(v)).collect();
                out.push_str(&texts.join(" "));
            }
            Node::Range { path, body } => {
                for item in query(path, value)? {
                    render(body, item, out)?;
                }
            }
        }
    }
    Ok(())
}

/// A value as kubectl prints it in a template: strings bare, objects and arrays as JSON, null as nothing.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Where the action starting after `{` ends (the index of its `}`), skipping quoted strings.
fn action_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '}' => return Some(i),
            None => {}
        }
    }
    None
}

/// A `{"..."}` literal with Go's escapes.
fn unquote(s: &str) -> Result<String, String> {
    let inner = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).ok_or("unterminated quoted string")?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            other => return Err(format!("invalid escape \\{}", other.map(String::from).unwrap_or_default())),
        }
    }
    Ok(out)
}

/// Characters that end a field name in a filter expression.
fn ends_filter_name(c: char) -> bool {
    c.is_whitespace() || "=!<>&|()[],.".contains(c)
}

/// kubectl path → RFC 9535 query rooted at the current object.
fn to_query(path: &str) -> Result<String, String> {
    let rest = path.strip_prefix('$').or_else(|| path.strip_prefix('@')).unwrap_or(path);
    if !rest.is_empty() && !rest.starts_with('.') && !rest.starts_with('[') {
        return Err(format!("unrecognized character in action: {path}"));
    }
    Ok(format!("${}", segments(rest, false)?))
}

/// Rewrites `.name`, `..name`, `.*` and `[...]` segments; in a filter, names also end at operators.
fn segments(s: &str, in_filter: bool) -> Result<String, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let descendant = chars.get(i + 1) == Some(&'.');
                i += if descendant { 2 } else { 1 };
                if descendant {
                    out.push_str("..");
                }
                if chars.get(i) == Some(&'*') {
                    out.push_str(if descendant { "*" } else { "[*]" });
                    i += 1;
                    continue;
                }
                if chars.get(i) == Some(&'[') {
                    continue;
                }
                let mut name = String::new();
                while i < chars.len() {
                    let c = chars[i];
                    if c == '\\' && i + 1 < chars.len() {
                        name.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    if c == '.' || c == '[' || (in_filter && ends_filter_name(c)) {
                        break;
                    }
                    name.push(c);
                    i += 1;
                }
                if name.is_empty() {
                    if i >= chars.len() && !descendant {
                        // `{.}` or `{@}`: the current object.
                        continue;
                    }
                    return Err(format!("empty field name in {s}"));
                }
                out.push_str(&format!("['{}']", name.replace('\\', "\\\\").replace('\'', "\\'")));
            }
            '[' => {
                let end = bracket_end(&chars, i).ok_or_else(|| format!("unclosed [ in {s}"))?;
                let inner: String = chars[i + 1..end].iter().collect();
                let inner = inner.trim();
                match inner.strip_prefix('?') {
                    Some(filter) => out.push_str(&format!("[?{}]", filter_expr(filter)?)),
                    None => out.push_str(&format!("[{inner}]")),
                }
                i = end + 1;
            }
            c if in_filter => {
                out.push(c);
                i += 1;
            }
            c => return Err(format!("unrecognized character in action: {c}")),
        }
    }
    Ok(out)
}

/// Index of the `]` closing the `[` at `open`, skipping quotes and nested brackets.
fn bracket_end(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (i, &c) in chars.iter().enumerate().skip(open) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '[' => depth += 1,
            None if c == ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            None => {}
        }
    }
    None
}

/// A filter body: `@` and `$` paths are rewritten, quoted strings and operators kept.
fn filter_expr(f: &str) -> Result<String, String> {
    let chars: Vec<char> = f.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            let end = chars[i + 1..].iter().position(|&x| x == c).ok_or("unterminated string in filter")? + i + 1;
            out.extend(&chars[i..=end]);
            i = end + 1;
        } else if c == '@' || c == '$' {
            let mut end = i + 1;
            while end < chars.len() && (chars[end] == '.' || chars[end] == '[' || !ends_filter_name(chars[end])) {
                if chars[end] == '[' {
                    end = bracket_end(&chars, end).ok_or("unclosed [ in filter")?;
                }
                end += 1;
            }
            let path: String = chars[i + 1..end].iter().collect();
            out.push(c);
            out.push_str(&segments(&path, true)?);
            i = end;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pods() -> Value {
        json!({"kind": "List", "items": [
            {"metadata": {"name": "pi-a", "labels": {"job-name": "pi", "app.kubernetes.io/name": "x"}},
             "status": {"phase": "Succeeded", "conditions": [{"type": "Ready", "status": "False"}, {"type": "Complete", "status": "True"}]},
             "spec": {"containers": [{"name": "c1"}, {"name": "c2"}]}},
            {"metadata": {"name": "pi-b", "labels": {"job-name": "pi"}}, "status": {"phase": "Failed"}, "spec": {"containers": [{"name": "c"}]}},
        ]})
    }

    #[test]
    fn queries_from_kubectl_spelling() {
        let cases = [
            (".items..metadata.name", "$['items']..['metadata']['name']"),
            (".metadata.labels.job-name", "$['metadata']['labels']['job-name']"),
            (".metadata.labels.app\\.kubernetes\\.io/name", "$['metadata']['labels']['app.kubernetes.io/name']"),
            (".items[*].metadata.name", "$['items'][*]['metadata']['name']"),
            (".items[0]", "$['items'][0]"),
            (
                ".status.conditions[?(@.type==\"Complete\")].status",
                "$['status']['conditions'][?(@['type']==\"Complete\")]['status']",
            ),
            ("@", "$"),
            (".", "$"),
            (".spec.*", "$['spec'][*]"),
            ("$.a", "$['a']"),
        ];
        for (kubectl, rfc) in cases {
            assert_eq!(to_query(kubectl).unwrap(), rfc, "{kubectl}");
        }
        assert!(to_query("items").is_err());
    }

    #[test]
    fn renders_as_kubectl() {
        let v = pods();
        let cases = [
            ("{.items..metadata.name}", "pi-a pi-b"),
            ("{.items[*].metadata.name}", "pi-a pi-b"),
            (
                "{range .items[*]}{.metadata.name}{\"\\t\"}{.status.phase}{\"\\n\"}{end}",
                "pi-a\tSucceeded\npi-b\tFailed\n",
            ),
            ("{.items[0].status.conditions[?(@.type==\"Complete\")].status}", "True"),
            ("{.items[?(@.metadata.labels.job-name==\"pi\")].metadata.name}", "pi-a pi-b"),
            ("{.items[?(@.status.phase=='Failed')].metadata.name}", "pi-b"),
            ("{.items[0].metadata.labels}", r#"{"app.kubernetes.io/name":"x","job-name":"pi"}"#),
            ("{.items[0].spec.containers[*].name}", "c1 c2"),
            ("names: {.items[1].metadata.name}!", "names: pi-b!"),
            ("{.nothing.here}", ""),
            ("{range .items[*]}[{range .spec.containers[*]}{.name},{end}]{end}", "[c1,c2,][c,]"),
            ("{.kind}", "List"),
        ];
        for (t, want) in cases {
            assert_eq!(Template::parse(t).unwrap().render(&v).unwrap(), want, "{t}");
        }
    }

    #[test]
    fn refuses_bad_templates() {
        for t in ["{.items", "{range .items[*]}x", "{end}", "{\"\\q\"}", "{.items[0}", "{items}"] {
            let e = Template::parse(t).unwrap_err().to_string();
            assert!(e.starts_with("error: error parsing jsonpath"), "{t}: {e}");
        }
    }

    #[test]
    fn relaxed_paths() {
        let obj = json!({"metadata": {"name": "x"}});
        for e in [".metadata.name", "metadata.name", "{.metadata.name}"] {
            let t = relaxed(e).unwrap();
            assert_eq!(t.values(&obj).unwrap(), vec![&json!("x")], "{e}");
        }
    }
}
