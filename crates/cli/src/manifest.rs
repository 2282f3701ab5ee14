//! The objects of `-f` arguments: files, directories (their `.yaml`, `.yml` and `.json` files; `-R` descends),
//! `-` for stdin; multi-document YAML, JSON, and `List`s unpacked. Parsing is pure; reading is thin.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{CliError, Result};

/// One object and the file it came from (for messages such as `error when creating "job.yaml"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub source: String,
    pub value: Value,
}

impl Object {
    pub fn str_at(&self, pointer: &str) -> &str {
        self.value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
    }
}

/// The objects of one file's text, in order. Empty documents are skipped.
pub fn parse(source: &str, text: &str) -> Result<Vec<Object>> {
    let docs: Vec<Value> = if text.trim_start().starts_with('{') {
        // JSON, possibly several objects one after another.
        serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .map_err(|e| CliError::other(format!("error parsing {source}: {e}")))?
    } else {
        runlet_api::yaml::documents(text).map_err(|e| CliError::other(format!("error parsing {source}: {e}")))?
    };
    let mut out = Vec::new();
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        if !doc.is_object() {
            return Err(CliError::other(format!("error parsing {source}: a document is not an object")));
        }
        let is_list = doc.get("kind").and_then(Value::as_str).is_some_and(|k| k == "List" || k.ends_with("List"))
            && doc.get("items").is_some_and(Value::is_array);
        let items =
            if is_list { doc.get("items").and_then(Value::as_array).cloned().unwrap_or_default() } else { vec![doc] };
        for value in items {
            let object = Object { source: source.to_string(), value };
            if object.str_at("/apiVersion").is_empty() || object.str_at("/kind").is_empty() {
                return Err(CliError::other(format!(
                    "error validating data from {source}: apiVersion and kind must both be set; if you choose to ignore these errors, turn validation off with --validate=false"
                )));
            }
            out.push(object);
        }
    }
    Ok(out)
}

/// The files a `-f` argument means, in name order for directories.
fn files(arg: &str, recursive: bool) -> Result<Vec<PathBuf>> {
    let path = Path::new(arg);
    let meta = std::fs::metadata(path).map_err(|_| CliError::other(format!("the path \"{arg}\" does not exist")))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            if recursive {
                out.extend(files(&entry.to_string_lossy(), true)?);
            }
        } else if entry.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "yaml" | "yml" | "json")) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Reads every `-f` argument. An argument that yields no object is an error, as in kubectl.
pub fn read(args: &[String], recursive: bool) -> Result<Vec<Object>> {
    let mut out = Vec::new();
    for arg in args {
        let before = out.len();
        if arg == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            out.extend(parse("STDIN", &text)?);
        } else {
            for file in files(arg, recursive)? {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| CliError::other(format!("reading {}: {e}", file.display())))?;
                out.extend(parse(&file.to_string_lossy(), &text)?);
            }
        }
        if out.len() == before {
            return Err(CliError::other(format!("no objects passed to apply from \"{arg}\"")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_yaml_json_and_lists() {
        let yaml = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n";
        let got = parse("f.yaml", yaml).unwrap();
        assert_eq!(got.iter().map(|o| o.str_at("/kind")).collect::<Vec<_>>(), ["Job", "Pod"]);
        assert_eq!(got[0].source, "f.yaml");
        let json = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"x"}}]}
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"y"}}"#;
        let got = parse("f.json", json).unwrap();
        assert_eq!(got.iter().map(|o| o.str_at("/metadata/name")).collect::<Vec<_>>(), ["x", "y"]);
    }

    #[test]
    fn file_modes_are_octal_as_kubectl_reads_them() {
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n  - name: s\n    secret: {secretName: s, defaultMode: 0400}\n";
        let got = parse("f.yaml", yaml).unwrap();
        assert_eq!(got[0].value["spec"]["volumes"][0]["secret"]["defaultMode"], 256);
    }

    #[test]
    fn refuses_bad_documents() {
        for (text, want) in [
            ("kind: Job\n", "apiVersion and kind must both be set"),
            ("- a\n", "not an object"),
            ("a: [\n", "error parsing f"),
            ("{\"a\":", "error parsing f"),
        ] {
            let e = parse("f", text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn directories_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let job = |n: &str| format!("apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {n}}}\n");
        std::fs::write(dir.path().join("b.yaml"), job("b")).unwrap();
        std::fs::write(dir.path().join("a.yml"), job("a")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/c.json"), r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"c"}}"#)
            .unwrap();
        let d = dir.path().to_string_lossy().to_string();
        let names = |objs: Vec<Object>| objs.iter().map(|o| o.str_at("/metadata/name").to_string()).collect::<Vec<_>>();
        assert_eq!(names(read(std::slice::from_ref(&d), false).unwrap()), ["a", "b"]);
        assert_eq!(names(read(std::slice::from_ref(&d), true).unwrap()), ["a", "b", "c"]);
        assert!(read(&["/nonexistent/x.yaml".to_string()], false).unwrap_err().to_string().contains("does not exist"));
    }
}
