//! The error type and the upstream error texts (`apimachinery/pkg/util/mergepatch/errors.go`, `patch.go`).

use serde_json::{Map, Value};

use crate::gofmt::{self, GoType};

/// How a failed patch must be answered; every message is the upstream text, byte for byte.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// 400 BadRequest with this message (bad JSON, `$retainKeys`/`$setElementOrder` format errors, ...).
    #[error("{0}")]
    BadRequest(String),
    /// 500 with no reason: upstream's plain merge errors (messages of spec §4 rows 3–14).
    #[error("{0}")]
    Internal(String),
    /// 422 Invalid (row 18; JSON patch `test` failure etc. as upstream does).
    #[error("{0}")]
    Invalid(String),
    /// 422 Invalid with upstream's generic message and the reason as the one cause, as
    /// `NewGenericServerResponse(422, …)` answers (e.g. a JSON patch copying too much).
    #[error("{GENERIC_UNPROCESSABLE}")]
    Unprocessable { cause: String },
    /// 413 RequestEntityTooLarge; the message is the whole Status message (`Request entity too large: …`).
    #[error("{0}")]
    TooLarge(String),
}

impl PatchError {
    /// The Status `message`.
    pub fn message(&self) -> &str {
        match self {
            PatchError::BadRequest(m) | PatchError::Internal(m) | PatchError::Invalid(m) | PatchError::TooLarge(m) => m,
            PatchError::Unprocessable { .. } => GENERIC_UNPROCESSABLE,
        }
    }

    /// The HTTP status code upstream answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::Internal(_) => 500,
            PatchError::Invalid(_) | PatchError::Unprocessable { .. } => 422,
            PatchError::TooLarge(_) => 413,
        }
    }

    /// The Status `reason` (`None`: upstream sends none, the plain-error 500).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            PatchError::BadRequest(_) => Some("BadRequest"),
            PatchError::Internal(_) => None,
            PatchError::Invalid(_) | PatchError::Unprocessable { .. } => Some("Invalid"),
            PatchError::TooLarge(_) => Some("RequestEntityTooLarge"),
        }
    }
}

/// `apierrors.NewGenericServerResponse(422, …)` replaces the underlying text with this.
pub const GENERIC_UNPROCESSABLE: &str = "the server rejected our request due to an error in our request";

pub(crate) const RETAIN_KEYS_FORMAT: &str = "invalid patch format of retainKeys";
pub(crate) const SET_ELEMENT_ORDER_FORMAT: &str = "invalid patch format of setElementOrder list";
pub(crate) const PRIMITIVE_LIST_FORMAT: &str = "invalid patch format of primitive list";

pub(crate) const GO_SLICE: &str = "[]interface {}";
pub(crate) const GO_MAP: &str = "map[string]interface {}";

/// `mergepatch.ErrBadArgType(expected, actual)`.
pub(crate) fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Internal(format!("expected a {expected}, but received a {}", GoType::of(actual).name()))
}

/// `mergepatch.ErrNoMergeKey(m, k)`.
pub(crate) fn no_merge_key(map: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::Internal(format!("map: {} does not contain declared merge key: {key}", gofmt::v_map(map)))
}

/// `mergepatch.ErrBadPatchType(t, m)`.
pub(crate) fn bad_patch_type(directive: &Value, map: &Map<String, Value>) -> PatchError {
    PatchError::Internal(format!("unknown patch type: {} in map: {}", gofmt::s(directive), gofmt::v_map(map)))
}

/// `mergepatch.ErrNoListOfLists`, which the API server turns into a bare 422.
pub(crate) fn no_list_of_lists() -> PatchError {
    PatchError::Invalid(GENERIC_UNPROCESSABLE.into())
}

/// `sliceElementType`'s error; prints every slice it was given, as `fmt.Sprint([][]interface{})`.
pub(crate) fn element_types_differ(slices: &[&[Value]]) -> PatchError {
    let rendered: Vec<String> = slices.iter().map(|s| gofmt::v_slice(s)).collect();
    PatchError::Internal(format!("list element types are not identical: [{}]", rendered.join(" ")))
}

/// What a Go runtime panic inside the merge code amounts to: the API server recovers it as a 500.
pub(crate) fn runtime_panic(what: &str) -> PatchError {
    PatchError::Internal(format!("runtime error: {what}"))
}

/// `LookupPatchMetadataForStruct` on a struct without that JSON field.
pub(crate) fn unknown_field(go_type: &str, field: &str) -> PatchError {
    PatchError::Internal(format!(
        "unable to find api field in struct {go_type} for the json field {}",
        gofmt::quote(field)
    ))
}
