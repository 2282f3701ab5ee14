//! What an API error means, read from the Kubernetes `Status` the server answered with: its `reason` and its
//! `details.causes`, as client-go's `apierrors` reads them. Nothing here looks at message text, and status
//! codes only where the server sent no reason kube-rs knows (as `apierrors` falls back to the code).

use kube::core::Status;
use kube::core::response::reason;
use runlet_api::vocab::NAMESPACE_TERMINATING_CAUSE;

/// Questions about a failed API call. Every answer is `false` for errors that are not the server's answer
/// (connection failures, decoding errors).
pub trait ApiErrorExt {
    /// The server's `Status`, if the server answered.
    fn status(&self) -> Option<&Status>;

    /// `NotFound`.
    fn is_not_found(&self) -> bool {
        self.status().is_some_and(Status::is_not_found)
    }

    /// `Conflict`: a compare-and-swap or precondition lost.
    fn is_conflict(&self) -> bool {
        self.status().is_some_and(Status::is_conflict)
    }

    /// `AlreadyExists`: a create whose name is taken.
    fn is_already_exists(&self) -> bool {
        self.status().is_some_and(Status::is_already_exists)
    }

    /// `Invalid` or `BadRequest`: the request itself is wrong; retrying it cannot help.
    fn is_bad_input(&self) -> bool {
        self.status().is_some_and(|s| s.is_invalid() || s.reason == reason::BAD_REQUEST)
    }

    /// A create refused because its namespace is being deleted (upstream
    /// `HasStatusCause(err, NamespaceTerminatingCause)`).
    fn is_namespace_terminating(&self) -> bool {
        self.status()
            .and_then(|s| s.details.as_ref())
            .is_some_and(|d| d.causes.iter().any(|c| c.reason == NAMESPACE_TERMINATING_CAUSE))
    }

    /// The server's own words when it answered (what an event about the failure shows), else the error.
    fn api_message(&self) -> String;
}

impl ApiErrorExt for kube::Error {
    fn status(&self) -> Option<&Status> {
        match self {
            kube::Error::Api(s) => Some(s),
            _ => None,
        }
    }

    fn api_message(&self) -> String {
        match self {
            kube::Error::Api(s) => s.message.clone(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answered(body: serde_json::Value) -> kube::Error {
        let status: Status = serde_json::from_value(body).unwrap();
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn questions_are_answered_from_reason_and_causes() {
        let not_found = answered(json!({"status": "Failure", "reason": "NotFound", "code": 404,
            "message": "pods \"p\" not found"}));
        let conflict = answered(json!({"status": "Failure", "reason": "Conflict", "code": 409, "message": "lost"}));
        let exists = answered(json!({"status": "Failure", "reason": "AlreadyExists", "code": 409, "message": "x"}));
        let invalid = answered(json!({"status": "Failure", "reason": "Invalid", "code": 422, "message": "x"}));
        let terminating = answered(json!({"status": "Failure", "reason": "Forbidden", "code": 403,
            "message": "unable to create new content in namespace ns because it is being terminated",
            "details": {"causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace"}]}}));
        // The same words without the cause are some other refusal.
        let forbidden = answered(json!({"status": "Failure", "reason": "Forbidden", "code": 403,
            "message": "unable to create new content in namespace ns because it is being terminated"}));
        let cases: [(&str, &kube::Error, [bool; 5]); 6] = [
            //                      not_found conflict exists bad_input terminating
            ("NotFound", &not_found, [true, false, false, false, false]),
            ("Conflict", &conflict, [false, true, false, false, false]),
            ("AlreadyExists", &exists, [false, false, true, false, false]),
            ("Invalid", &invalid, [false, false, false, true, false]),
            ("NamespaceTerminating", &terminating, [false, false, false, false, true]),
            ("Forbidden without the cause", &forbidden, [false, false, false, false, false]),
        ];
        for (name, e, want) in cases {
            let got = [
                e.is_not_found(),
                e.is_conflict(),
                e.is_already_exists(),
                e.is_bad_input(),
                e.is_namespace_terminating(),
            ];
            assert_eq!(got, want, "{name}");
        }
        assert_eq!(not_found.api_message(), "pods \"p\" not found");
    }

    #[test]
    fn errors_that_are_not_answers_mean_nothing() {
        let e = kube::Error::LinesCodecMaxLineLengthExceeded;
        assert!(!e.is_not_found() && !e.is_conflict() && !e.is_already_exists() && !e.is_namespace_terminating());
        assert!(!e.api_message().is_empty());
    }
}
