//! The fuzz targets: each runs one parser (and what the server does right after it) on arbitrary bytes. Errors
//! are fine; panics, unbounded time and unbounded memory are not.

use runlet_api::intervals::IndexSet;
use runlet_api::selector::{FieldSelector, LabelSelector};
use runlet_apiserver::negotiate::FieldValidation;
use runlet_apiserver::resources::{self, Kind};
use runlet_apiserver::strategy::{self, Decoding, Origin};
use serde_json::{Value, json};

/// One fuzz target: its name (also its corpus directory), what it runs, and tokens of its grammar the mutator
/// inserts.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
    pub tokens: &'static [&'static str],
}

const JSON_TOKENS: &[&str] = &[
    "{}",
    "[]",
    "null",
    "\"\"",
    ":",
    ",",
    "{\"a\":",
    "[[[[",
    "]]]]",
    "1e999",
    "-0",
    "\"\\u0000\"",
    "\"$patch\"",
    "\"replace\"",
    "\"delete\"",
    "\"merge\"",
    "\"$retainKeys\"",
    "\"$setElementOrder/containers\"",
    "\"$deleteFromPrimitiveList/finalizers\"",
    "\"containers\"",
    "\"name\"",
    "\"metadata\"",
    "\"spec\"",
    "\"completedIndexes\"",
    "\"0-2147483646\"",
    "2147483647",
    "\"Indexed\"",
];

pub static TARGETS: &[Target] = &[
    Target { name: "job_json", run: job_json, tokens: JSON_TOKENS },
    Target { name: "pod_json", run: pod_json, tokens: JSON_TOKENS },
    Target {
        name: "yaml_body",
        run: yaml_body,
        tokens: &["&a ", "*a", "<<: ", "- ", ": ", "? ", "!!str ", "|\n", ">\n", "---\n", "{", "[", "\n  "],
    },
    Target { name: "strategic_merge", run: strategic_merge, tokens: JSON_TOKENS },
    Target { name: "merge_patch", run: merge_patch, tokens: JSON_TOKENS },
    Target {
        name: "json_patch",
        run: json_patch,
        tokens: &[
            "{\"op\":\"copy\",\"from\":\"/metadata\",\"path\":\"/metadata/x\"},",
            "{\"op\":\"move\",\"from\":\"/spec\",\"path\":\"/spec/x\"},",
            "{\"op\":\"add\",\"path\":\"/a/-\",\"value\":[]},",
            "{\"op\":\"test\",\"path\":\"\",\"value\":null},",
            "/~0",
            "/~1",
            "/-",
            "/0",
        ],
    },
    Target {
        name: "label_selector",
        run: label_selector,
        tokens: &[" in (", " notin (", "!", "=", "==", "!=", ",", ")", "a.b/c", "-", "_", ">", "<", "5"],
    },
    Target {
        name: "field_selector",
        run: field_selector,
        tokens: &["metadata.name", "spec.nodeName", "status.phase", "=", "==", "!=", ",", "\\", "\\,", "\\="],
    },
    Target {
        name: "quantity",
        run: quantity,
        tokens: &["Ki", "Mi", "Gi", "Ei", "m", "u", "n", "k", "M", "E", "e", "E18", "e-9", ".", "+", "-", "9999999999"],
    },
    Target {
        name: "index_intervals",
        run: index_intervals,
        tokens: &["-", ",", "2147483646", "2147483647", "0-2147483646", "99999999999", "\n"],
    },
    Target {
        name: "jsonpath",
        run: jsonpath,
        tokens: &["{", "}", "{.items[*]}", "{range .items[*]}", "{end}", "[?(@.a==\"b\")]", "..", "[-1:]", "\"", "\\n"],
    },
    Target { name: "env_expansion", run: env_expansion, tokens: &["$(", ")", "$$", "$(A)", "$(B)", "$(LOOP)"] },
];

/// A known target by name.
pub fn by_name(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Decode, default and validate, as a `POST` of the object does.
fn create(kind: Kind, value: Value) {
    let decoding = Decoding { validation: FieldValidation::Strict, origin: Origin::Body, duplicate_fields: &[] };
    let _ = strategy::prepare_create(resources::by_kind(kind), value, decoding, &strategy::Admission::default());
}

fn job_json(bytes: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        create(Kind::Job, value);
    }
}

fn pod_json(bytes: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        create(Kind::Pod, value);
    }
}

/// A body as `kubectl apply` sends it: JSON or YAML, then created as what it says it is.
fn yaml_body(bytes: &[u8]) {
    if let Ok(value) = runlet_apiserver::body::json_or_yaml(bytes) {
        let kind = if value.get("kind").and_then(Value::as_str) == Some("Pod") { Kind::Pod } else { Kind::Job };
        create(kind, value);
    }
}

/// `[live, patch]` from the input, when it is such an array.
fn live_and_patch(bytes: &[u8]) -> Option<(Value, Value)> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(mut pair)) if pair.len() == 2 => {
            let patch = pair.pop()?;
            let live = pair.pop()?;
            Some((live, patch))
        }
        _ => None,
    }
}

/// What the server does with a merged object: drop nulls, then decode and validate it as its kind.
fn after_patch(merged: Result<Value, runlet_patch::PatchError>) {
    if let Ok(mut merged) = merged {
        runlet_patch::strip_nulls(&mut merged);
        let kind = if merged.get("kind").and_then(Value::as_str) == Some("Pod") { Kind::Pod } else { Kind::Job };
        create(kind, merged);
    }
}

fn strategic_merge(bytes: &[u8]) {
    if let Some((live, patch)) = live_and_patch(bytes) {
        let kind = runlet_patch::Kind::from_kind_name(live.get("kind").and_then(Value::as_str).unwrap_or(""));
        after_patch(runlet_patch::strategic_merge(&live, &patch, kind));
    }
}

fn merge_patch(bytes: &[u8]) {
    if let Some((live, patch)) = live_and_patch(bytes) {
        after_patch(runlet_patch::merge_patch(&live, &patch));
    }
}

fn json_patch(bytes: &[u8]) {
    if let Some((live, patch)) = live_and_patch(bytes) {
        after_patch(runlet_patch::json_patch(&live, &patch));
    }
}

fn label_selector(bytes: &[u8]) {
    if let Ok(selector) = LabelSelector::parse(&text(bytes)) {
        let labels = [("app", "web"), ("tier", "a"), ("a.b/c", "5")];
        let _ = selector.matches_with(|k| labels.iter().find(|(key, _)| *key == k).map(|(_, v)| *v));
    }
}

fn field_selector(bytes: &[u8]) {
    if let Ok(selector) = FieldSelector::parse(&text(bytes)) {
        let _ = selector.check_supported(&["metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"]);
        let _ = selector.requires_exact_match("spec.nodeName");
        let _ = selector.matches(|f| (f == "metadata.name").then(|| "pi".to_string()));
    }
}

fn quantity(bytes: &[u8]) {
    if let Ok(q) = runlet_api::quantity::parse_quantity(&text(bytes)) {
        let _ = (q.milli_value(), q.value(), q.is_integer(), q.checked_add(q));
    }
}

/// `completions`, then two interval lists, one per line: parsed strictly and leniently, compared and joined as
/// the Job controller and status validation do.
fn index_intervals(bytes: &[u8]) {
    let text = text(bytes);
    let mut lines = text.lines();
    let completions = lines.next().and_then(|l| l.trim().parse::<i32>().ok()).unwrap_or(i32::MAX);
    let (a, b) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    let _ = IndexSet::parse(a, completions);
    let (a, b) = (IndexSet::parse_clipped(a, completions), IndexSet::parse_clipped(b, completions));
    let _ = a.first_common(&b);
    let joined = a.union(&b);
    let _ = (joined.len(), joined.format());
}

fn jsonpath(bytes: &[u8]) {
    if let Ok(template) = runlet_cli::jsonpath::Template::parse(&text(bytes)) {
        let object = json!({"kind": "List", "items": [
            {"metadata": {"name": "a", "labels": {"app": "web"}}, "status": {"succeeded": 1}},
            {"metadata": {"name": "b"}, "spec": {"containers": [{"name": "c", "args": ["x", "y"]}]}},
        ]});
        let _ = template.render(&object);
    }
}

/// `$(VAR)` expansion of a container's command, with variables that refer to each other.
fn env_expansion(bytes: &[u8]) {
    let input = text(bytes);
    let lookup = |name: &str| match name {
        "A" => Some("a$(B)".to_string()),
        "B" => Some("$(A)$(A)".to_string()),
        "LOOP" => Some("$(LOOP)$(LOOP)".to_string()),
        _ => None,
    };
    let _ = runlet_api::expand::expand(&input, lookup);
}
