//! Reading request bodies and parsing the text formats they come in.

use axum::body::Body;
use bytes::Bytes;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::MAX_BODY_BYTES;

/// How much of a too-large body is still read (and thrown away) before answering 413, and for how long.
///
/// An HTTP/1.1 client is usually still sending when the answer is ready. Closing a socket with unread data
/// makes the kernel send a reset, and the client then loses the 413 it had not read yet: it sees a dropped
/// connection instead. Reading the rest first lets it read the answer; the bounds keep a client that never
/// stops from holding the request forever (past them the connection is closed, as before).
const DRAIN_BYTES: usize = 64 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// The whole body, refused over [`MAX_BODY_BYTES`] with upstream's 413.
pub async fn read(body: Body) -> Result<Bytes, ApiError> {
    read_limited(body, MAX_BODY_BYTES).await
}

async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                drain(body).await;
                return Err(ApiError::too_large(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Reads and discards the rest of a body, within [`DRAIN_BYTES`] and [`DRAIN_TIME`].
async fn drain(mut body: Body) {
    use http_body_util::BodyExt;
    let mut left = DRAIN_BYTES;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(frame)) = body.frame().await {
            let n = frame.data_ref().map_or(0, |d| d.len());
            if n >= left {
                return;
            }
            left -= n;
        }
    })
    .await;
}

/// JSON, else YAML (a superset): kubectl sends JSON even as `application/apply-patch+yaml`, and JSON is parsed
/// directly.
pub fn json_or_yaml(bytes: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ApiError::bad_request(e.to_string()))?;
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(_) => runlet_api::yaml::document(text).map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_api::vocab::StatusReason;
    use serde_json::json;

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused_whole() {
        // (body length, limit, accepted)
        let cases = [(0, 10, true), (10, 10, true), (11, 10, false), (5000, 10, false)];
        for (len, limit, accepted) in cases {
            let got = read_limited(Body::from(vec![b'a'; len]), limit).await;
            match got {
                Ok(bytes) => assert!(accepted && bytes.len() == len, "{len} over {limit}"),
                Err(e) => {
                    assert!(!accepted, "{len} under {limit}: {e}");
                    assert_eq!((e.code, e.reason), (413, StatusReason::RequestEntityTooLarge));
                    assert_eq!(e.message, format!("Request entity too large: limit is {limit}"));
                }
            }
        }
    }

    #[test]
    fn deep_or_expanding_documents_are_refused_not_fatal() {
        // Nesting far past any object's depth, and aliases that would expand to billions of nodes: each is a 400,
        // never a stack overflow or an allocation without end.
        let deep_json = "[".repeat(100_000);
        // (Invalid JSON, so it is read as YAML too: flow sequences 100000 deep.) Block style, 2000 deep (2 MB):
        let deep_yaml = "a:\n".to_string() + &(1..2_000).map(|d| format!("{}- \n", " ".repeat(d))).collect::<String>();
        let mut laughs =
            String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for (name, previous) in
            ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            laughs += &format!(
                "{name}: &{name} [*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous}]\n"
            );
        }
        for (what, body) in [("deep JSON", deep_json), ("deep YAML", deep_yaml), ("billion laughs", laughs)] {
            let started = std::time::Instant::now();
            let got = json_or_yaml(body.as_bytes());
            assert_eq!(got.map_err(|e| e.code).err(), Some(400), "{what}");
            assert!(started.elapsed() < std::time::Duration::from_secs(10), "{what} took {:?}", started.elapsed());
            eprintln!("{what}: refused in {:?}", started.elapsed());
        }
    }

    #[test]
    fn json_or_yaml_cases() {
        // (body, parsed or the HTTP code)
        let cases: Vec<(&[u8], Result<Value, u16>)> = vec![
            (br#"{"a":[1,2]}"#, Ok(json!({"a": [1, 2]}))),
            (b"a:\n  - 1\n  - 2\n", Ok(json!({"a": [1, 2]}))),
            (b"kind: Job\nmetadata:\n  name: pi\n", Ok(json!({"kind": "Job", "metadata": {"name": "pi"}}))),
            // YAML 1.1, as kube-apiserver reads it: a leading zero is octal.
            (b"defaultMode: 0400\n", Ok(json!({"defaultMode": 256}))),
            (b"\xff\xfe", Err(400)),
            (b"a: [1\n", Err(400)),
        ];
        for (body, want) in cases {
            let got = json_or_yaml(body).map_err(|e| e.code);
            assert_eq!(got, want, "{}", String::from_utf8_lossy(body));
        }
    }
}
