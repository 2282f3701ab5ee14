//! The RuntimeClass table (upstream `printRuntimeClass`).

use jiff::Timestamp;
use serde_json::Value;

use super::{AGE, Column, NAME, col, s, since};
use crate::codec::RuntimeClass;

const RUNTIME_CLASS_COLUMNS: [Column; 3] = [
    NAME,
    col(
        "Handler",
        "Specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class.",
        0,
    ),
    AGE,
];

pub fn runtime_class_columns() -> &'static [Column] {
    &RUNTIME_CLASS_COLUMNS
}

pub fn runtime_class_cells(rc: &RuntimeClass, now: Timestamp) -> Vec<Value> {
    vec![
        s(rc.metadata.name.clone().unwrap_or_default()),
        s(rc.handler.clone()),
        s(since(rc.metadata.creation_timestamp.as_ref(), now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ObjectMeta;
    use serde_json::json;

    #[test]
    fn rows_show_the_handler() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let rc = RuntimeClass {
            metadata: ObjectMeta {
                name: Some("oci".into()),
                creation_timestamp: Some(crate::codec::Time("2026-01-01T00:00:00Z".parse().unwrap())),
                ..Default::default()
            },
            handler: "oci".into(),
            ..Default::default()
        };
        assert_eq!(runtime_class_cells(&rc, now), [json!("oci"), json!("oci"), json!("10m")]);
        assert_eq!(runtime_class_columns().len(), runtime_class_cells(&rc, now).len());
    }
}
