//! JSON request bodies parsed once while their duplicate keys are noted: a parsed map keeps only the last value,
//! so duplicates can only be seen while parsing. `fieldValidation=Strict` refuses them and `Warn` reports them,
//! like upstream's strict decoder (`duplicate field "spec.parallelism"`).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A parsed document and the paths of the keys it repeats.
#[derive(Debug)]
pub struct Parsed {
    pub value: Value,
    /// Each repeated key once, in document order; paths read like unknown-field paths
    /// (`spec.template.spec.containers[0].image`).
    pub duplicate_fields: Vec<String>,
}

/// Parses `json` as `serde_json::from_slice` would (a repeated key keeps its last value, the same errors), noting
/// the repeated keys on the way.
pub fn parse(json: &[u8]) -> Result<Parsed, serde_json::Error> {
    let mut duplicate_fields = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(json);
    let root = Path { parent: None, segment: Segment::Root };
    let value = Build { path: &root, found: &mut duplicate_fields }.deserialize(&mut de)?;
    de.end()?;
    Ok(Parsed { value, duplicate_fields })
}

/// One step from the document's root; borrowed from the parsing frames, so nothing is allocated for a path
/// unless a duplicate has to be reported.
#[derive(Clone, Copy)]
enum Segment<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    segment: Segment<'a>,
}

impl Path<'_> {
    fn render(&self) -> String {
        let mut segments = Vec::new();
        let mut at = Some(self);
        while let Some(path) = at {
            segments.push(path.segment);
            at = path.parent;
        }
        let mut out = String::new();
        for segment in segments.into_iter().rev() {
            match segment {
                Segment::Root => {}
                Segment::Key(key) if out.is_empty() => out.push_str(key),
                Segment::Key(key) => {
                    out.push('.');
                    out.push_str(key);
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

/// Builds the value at `path`, recording duplicate keys below it.
struct Build<'a> {
    path: &'a Path<'a>,
    found: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Build<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Build<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        // Keys already reported in this object: rare, so a list.
        let mut reported: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = Path { parent: Some(self.path), segment: Segment::Key(&key) };
            // Noted when the repeat is met, before its value, as upstream's decoder reports it.
            if object.contains_key(&key) && !reported.contains(&key) {
                self.found.push(path.render());
                reported.push(key.clone());
            }
            let value = map.next_value_seed(Build { path: &path, found: &mut *self.found })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let path = Path { parent: Some(self.path), segment: Segment::Index(items.len()) };
            match seq.next_element_seed(Build { path: &path, found: &mut *self.found })? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicates_with_their_paths() {
        let cases: &[(&str, &[&str])] = &[
            (r#"{"a":1,"b":2}"#, &[]),
            (r#"{"a":1,"a":2,"a":3}"#, &["a"]),
            (r#"{"spec":{"parallelism":1,"x":{},"parallelism":2}}"#, &["spec.parallelism"]),
            (
                r#"{"spec":{"containers":[{"name":"a"},{"name":"b","image":"x","image":"y"}]},"spec":{}}"#,
                &["spec.containers[1].image", "spec"],
            ),
            (r#"{"metadata":{"labels":{"k":"1","k":"2"}},"b":[[{"c":1,"c":2}]]}"#, &["metadata.labels.k", "b[0][0].c"]),
            (r#"[{"a":1,"a":1}]"#, &["[0].a"]),
            (r#"{"a":{"b":1,"b":2},"a":{"c":1,"c":2}}"#, &["a.b", "a", "a.c"]),
            (r#"{"a\"b":1,"a\"b":2}"#, &["a\"b"]),
        ];
        for (text, want) in cases {
            let parsed = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(parsed.duplicate_fields, *want, "{text}");
        }
    }

    #[test]
    fn parses_exactly_like_serde_json() {
        let cases = [
            r#"{"a":1,"a":2,"b":[1,-2,3.5,1e400,18446744073709551615,null,true,"s\u00e9"],"c":{}}"#,
            r#"{"z":1,"y":{"x":[{"w":null}]},"y":7}"#,
            r#"  [ ]  "#,
            r#""text""#,
            "12",
            "not json",
            r#"{"a":1,"a":"#,
            r#"{"a":1} trailing"#,
            r#"{"a":1,}"#,
            "",
        ];
        for text in cases {
            let ours = parse(text.as_bytes()).map(|p| p.value).map_err(|e| e.to_string());
            let theirs = serde_json::from_slice::<Value>(text.as_bytes()).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "[".repeat(10_000);
        assert!(parse(text.as_bytes()).is_err());
    }
}
