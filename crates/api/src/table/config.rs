//! Tables for ConfigMaps and Secrets (upstream `printConfigMap`, `printSecret`).

use jiff::Timestamp;
use serde_json::Value;

use super::{AGE, Column, NAME, col, s, since};
use crate::codec::{ConfigMap, Secret};

const CONFIG_MAP_COLUMNS: [Column; 3] =
    [NAME, Column { type_: "integer", ..col("Data", "Number of data entries.", 0) }, AGE];

const SECRET_COLUMNS: [Column; 4] = [
    NAME,
    col("Type", "The type of the secret", 0),
    Column { type_: "integer", ..col("Data", "Number of data entries.", 0) },
    AGE,
];

pub fn config_map_columns() -> &'static [Column] {
    &CONFIG_MAP_COLUMNS
}

pub fn secret_columns() -> &'static [Column] {
    &SECRET_COLUMNS
}

pub fn config_map_cells(cm: &ConfigMap, now: Timestamp) -> Vec<Value> {
    let entries = cm.data.as_ref().map_or(0, |d| d.len()) + cm.binary_data.as_ref().map_or(0, |d| d.len());
    vec![
        s(cm.metadata.name.clone().unwrap_or_default()),
        Value::from(entries),
        s(since(cm.metadata.creation_timestamp.as_ref(), now)),
    ]
}

pub fn secret_cells(secret: &Secret, now: Timestamp) -> Vec<Value> {
    vec![
        s(secret.metadata.name.clone().unwrap_or_default()),
        s(secret.type_.clone().unwrap_or_default()),
        Value::from(secret.data.as_ref().map_or(0, |d| d.len())),
        s(since(secret.metadata.creation_timestamp.as_ref(), now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ObjectMeta;
    use runlet_codec::k8s_openapi::ByteString;
    use serde_json::json;

    #[test]
    fn rows_count_entries() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let meta = ObjectMeta {
            name: Some("x".into()),
            creation_timestamp: Some(crate::codec::Time("2026-01-01T00:00:00Z".parse().unwrap())),
            ..Default::default()
        };
        let cm = ConfigMap {
            metadata: meta.clone(),
            data: Some([("a".to_string(), String::new())].into()),
            binary_data: Some([("b".to_string(), ByteString(vec![1]))].into()),
            ..Default::default()
        };
        assert_eq!(config_map_cells(&cm, now), [json!("x"), json!(2), json!("10m")]);
        let secret = Secret { metadata: meta, type_: Some("Opaque".into()), ..Default::default() };
        assert_eq!(secret_cells(&secret, now), [json!("x"), json!("Opaque"), json!(0), json!("10m")]);
        assert_eq!(config_map_columns().len(), config_map_cells(&cm, now).len());
        assert_eq!(secret_columns().len(), secret_cells(&secret, now).len());
    }
}
