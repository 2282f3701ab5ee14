//! Duplicate keys in a JSON request body: a parsed map keeps only the last value, so they are found in the text.
//! `fieldValidation=Strict` refuses them and `Warn` reports them, like upstream's strict decoder
//! (`duplicate field "spec.parallelism"`).

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The paths of keys that occur more than once in their object, each reported once, in document order; paths
/// read like unknown-field paths (`spec.template.spec.containers[0].image`). Text that is not JSON has none.
pub fn duplicate_fields(json: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(json);
    match (Scan { path: String::new(), found: &mut found }).deserialize(&mut de) {
        Ok(()) => found,
        Err(_) => Vec::new(),
    }
}

/// Walks one JSON value, recording duplicate keys below `path`.
struct Scan<'a> {
    path: String,
    found: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Scan { path, found } = self;
        let mut seen = HashSet::new();
        let mut reported = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            if !seen.insert(key.clone()) && reported.insert(key) {
                found.push(child.clone());
            }
            map.next_value_seed(Scan { path: child, found: &mut *found })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Scan { path, found } = self;
        let mut index = 0usize;
        while seq.next_element_seed(Scan { path: format!("{path}[{index}]"), found: &mut *found })?.is_some() {
            index += 1;
        }
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
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
            ("not json", &[]),
            (r#"{"a":1,"a":"#, &[]),
        ];
        for (text, want) in cases {
            assert_eq!(duplicate_fields(text.as_bytes()), *want, "{text}");
        }
    }
}
