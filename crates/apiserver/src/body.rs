//! Reading request bodies and parsing the text formats they come in.

use axum::body::Body;
use bytes::Bytes;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::MAX_BODY_BYTES;

/// The whole body, refused over [`MAX_BODY_BYTES`].
pub async fn read(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| ApiError::too_large(MAX_BODY_BYTES))
}

/// JSON, else YAML (a superset): kubectl sends JSON even as `application/apply-patch+yaml`, and JSON is parsed
/// directly.
pub fn json_or_yaml(bytes: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ApiError::bad_request(e.to_string()))?;
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(_) => serde_saphyr::from_str::<Value>(text).map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_or_yaml_cases() {
        // (body, parsed or the HTTP code)
        let cases: Vec<(&[u8], Result<Value, u16>)> = vec![
            (br#"{"a":[1,2]}"#, Ok(json!({"a": [1, 2]}))),
            (b"a:\n  - 1\n  - 2\n", Ok(json!({"a": [1, 2]}))),
            (b"kind: Job\nmetadata:\n  name: pi\n", Ok(json!({"kind": "Job", "metadata": {"name": "pi"}}))),
            (b"\xff\xfe", Err(400)),
            (b"a: [1\n", Err(400)),
        ];
        for (body, want) in cases {
            let got = json_or_yaml(body).map_err(|e| e.code);
            assert_eq!(got, want, "{}", String::from_utf8_lossy(body));
        }
    }
}
