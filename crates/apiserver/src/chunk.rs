//! Chunked lists: `limit` and `continue`, as upstream serves them. The continue token is opaque to clients;
//! it holds the revision of the list's first page and the key the next page starts at, so every page is
//! consistent with the first. A token whose revision the store's history no longer reaches is answered
//! 410 Expired with a token that goes on from the current state, as upstream does once etcd compacted it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use runlet_store::Revision;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::ApiError;
use crate::negotiate::Query;

/// The token's version, as upstream writes it.
const TOKEN_VERSION: &str = "meta.k8s.io/v1";

/// A token's revision meaning "go on from the current state" (given out with an Expired answer).
const LATEST: Revision = -1;

/// What upstream answers when a continue token's revision has been compacted.
const INCONSISTENT_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. \
     You can start a new list without the continue parameter, or use the continue token in this response to \
     retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - \
     objects that were created, modified, or deleted between the time the first chunk was returned and now may \
     show up in the list.";

#[derive(Debug, Serialize, Deserialize)]
struct Token {
    v: String,
    rv: Revision,
    /// The key the next page starts at, relative to the collection's prefix.
    start: String,
}

/// How one list request is chunked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunking {
    /// Items per page; None answers everything at once.
    pub limit: Option<usize>,
    /// Where a continued list goes on.
    pub resume: Option<Resume>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The store key the page starts at (inclusive).
    pub from: String,
    /// The revision of the list's first page; None for a list that goes on from the current state.
    pub at: Option<Revision>,
}

impl Chunking {
    /// `limit` and `continue` of a list request on the collection at `prefix`.
    pub fn from_query(query: &Query, prefix: &str) -> Result<Chunking, ApiError> {
        // Upstream treats a limit of 0 or less as no limit.
        let limit = query.i64("limit")?.filter(|l| *l > 0).map(|l| usize::try_from(l).unwrap_or(usize::MAX));
        let resume = match query.get("continue").filter(|c| !c.is_empty()) {
            None => None,
            Some(token) => {
                if query.get("resourceVersion").is_some_and(|rv| !rv.is_empty()) {
                    return Err(ApiError::invalid_plain(
                        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersion: Forbidden: specifying resource version is not allowed when using continue",
                        json!([{"reason": "FieldValueForbidden", "message": "Forbidden: specifying resource version is not allowed when using continue", "field": "resourceVersion"}]),
                    ));
                }
                Some(decode(token, prefix)?)
            }
        };
        Ok(Chunking { limit, resume })
    }
}

fn decode(token: &str, prefix: &str) -> Result<Resume, ApiError> {
    let invalid = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid("expected format: base64 encoded JSON"))?;
    let token: Token = serde_json::from_slice(&bytes).map_err(|_| invalid("expected format: base64 encoded JSON"))?;
    if token.v != TOKEN_VERSION {
        return Err(invalid(&format!("incorrect encoded start resourceVersion (version {TOKEN_VERSION})")));
    }
    let at = match token.rv {
        LATEST => None,
        rv if rv > 0 => Some(rv),
        _ => return Err(invalid("incorrect encoded start resourceVersion (version meta.k8s.io/v1)")),
    };
    Ok(Resume { from: format!("{prefix}{}", token.start), at })
}

/// The token for the page starting at store key `next` of the list at `revision` under `prefix`.
pub fn encode(prefix: &str, next: &str, revision: Revision) -> String {
    let token =
        Token { v: TOKEN_VERSION.into(), rv: revision, start: next.strip_prefix(prefix).unwrap_or(next).into() };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

/// 410 Expired for a continued list whose revision is gone, with a token that goes on from `from` in the
/// current state.
pub fn expired(prefix: &str, from: &str) -> ApiError {
    ApiError::expired(INCONSISTENT_CONTINUE).with_list_continue(encode(prefix, from, LATEST))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunking(query: &str) -> Result<Chunking, ApiError> {
        Chunking::from_query(&Query::parse(Some(query)), "/registry/pods/")
    }

    #[test]
    fn limits_and_tokens() {
        let token = encode("/registry/pods/", "/registry/pods/default/p-0042", 17);
        let lists = |limit, from: &str, at| Chunking { limit, resume: Some(Resume { from: from.into(), at }) };
        // (query, what it asks for)
        let cases: Vec<(String, Chunking)> = vec![
            ("".into(), Chunking { limit: None, resume: None }),
            ("limit=500".into(), Chunking { limit: Some(500), resume: None }),
            ("limit=0".into(), Chunking { limit: None, resume: None }),
            ("limit=-3&continue=".into(), Chunking { limit: None, resume: None }),
            (format!("limit=2&continue={token}"), lists(Some(2), "/registry/pods/default/p-0042", Some(17))),
            (format!("continue={token}&resourceVersion="), lists(None, "/registry/pods/default/p-0042", Some(17))),
            (
                format!("limit=5&continue={}", encode("/registry/pods/", "/registry/pods/b/x", LATEST)),
                lists(Some(5), "/registry/pods/b/x", None),
            ),
        ];
        for (query, want) in cases {
            assert_eq!(chunking(&query).ok(), Some(want), "{query}");
        }
    }

    #[test]
    fn bad_tokens_are_refused_like_upstream() {
        let forged = |json: &str| URL_SAFE_NO_PAD.encode(json);
        // (query, code, start of the message)
        let cases = vec![
            ("continue=%%%".to_string(), 400, "continue key is not valid: expected format"),
            (format!("continue={}", forged("[1]")), 400, "continue key is not valid: expected format"),
            (
                format!("continue={}", forged(r#"{"v":"v2","rv":3,"start":"a"}"#)),
                400,
                "continue key is not valid: incorrect",
            ),
            (
                format!("continue={}", forged(r#"{"v":"meta.k8s.io/v1","rv":0,"start":"a"}"#)),
                400,
                "continue key is not valid: incorrect",
            ),
            ("limit=ten".to_string(), 400, "invalid limit"),
            (
                format!("continue={}&resourceVersion=5", encode("/registry/pods/", "/registry/pods/a", 4)),
                422,
                "ListOptions.meta.k8s.io \"\" is invalid: resourceVersion: Forbidden",
            ),
        ];
        for (query, code, message) in cases {
            let Err(e) = chunking(&query) else { panic!("{query} was accepted") };
            assert_eq!(e.code, code, "{query}");
            assert!(e.message.starts_with(message), "{query}: {}", e.message);
        }
    }

    #[test]
    fn expired_answers_a_token_from_the_current_state() {
        let status = expired("/registry/pods/", "/registry/pods/default/p-7").status();
        assert_eq!((status["code"].as_u64(), status["reason"].as_str()), (Some(410), Some("Expired")));
        assert!(
            status["message"].as_str().is_some_and(|m| m.starts_with("The provided continue parameter is too old"))
        );
        let Some(token) = status["metadata"]["continue"].as_str() else { panic!("no token in {status}") };
        let resumed = Chunking::from_query(&Query::parse(Some(&format!("continue={token}"))), "/registry/pods/");
        assert_eq!(
            resumed.ok().and_then(|c| c.resume),
            Some(Resume { from: "/registry/pods/default/p-7".into(), at: None })
        );
    }
}
