//! What can go wrong in a command, worded the way kubectl words it.

/// A failed command. Its `Display` is the one line kubectl prints; every variant exits 1.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CliError {
    /// A `Status` from the server: `Error from server (NotFound): jobs.batch "pi" not found`.
    #[error("{}", server_line(.reason, .message))]
    Server { reason: String, message: String },
    /// Anything else: `error: the server doesn't have a resource type "widgets"`.
    #[error("error: {0}")]
    Other(String),
    /// The server cannot be reached; kubectl prints this line as it is.
    #[error("{0}")]
    Unreachable(String),
}

fn server_line(reason: &str, message: &str) -> String {
    if reason.is_empty() {
        format!("Error from server: {message}")
    } else {
        format!("Error from server ({reason}): {message}")
    }
}

/// The `reason` of a 401 Status.
const UNAUTHORIZED: &str = "Unauthorized";

impl CliError {
    pub fn other(message: impl Into<String>) -> CliError {
        CliError::Other(message.into())
    }

    /// The Status `reason`, when the server answered with one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            CliError::Server { reason, .. } => Some(reason),
            CliError::Other(_) | CliError::Unreachable(_) => None,
        }
    }

    /// Whether the server said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.reason() == Some(crate::reason::NOT_FOUND)
    }

    /// The same error with `context` before its message, as kubectl words errors of `-f` files:
    /// `Error from server (AlreadyExists): error when creating "job.yaml": jobs.batch "pi" already exists`.
    pub fn context(self, context: &str) -> CliError {
        match self {
            CliError::Server { reason, message } => {
                CliError::Server { reason, message: format!("{context}: {message}") }
            }
            CliError::Other(m) => CliError::Other(format!("{context}: {m}")),
            unreachable @ CliError::Unreachable(_) => unreachable,
        }
    }
}

impl From<kube::Error> for CliError {
    fn from(e: kube::Error) -> CliError {
        match e {
            kube::Error::Api(status) if status.reason == UNAUTHORIZED => {
                CliError::Other("You must be logged in to the server (Unauthorized)".into())
            }
            kube::Error::Api(status) => CliError::Server { reason: status.reason, message: status.message },
            other => CliError::Other(chain(&other)),
        }
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        CliError::Other(e.to_string())
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_kubectl_prints_them() {
        let cases = [
            (
                CliError::Server { reason: "NotFound".into(), message: "jobs.batch \"pi\" not found".into() },
                "Error from server (NotFound): jobs.batch \"pi\" not found",
            ),
            (CliError::Server { reason: String::new(), message: "boom".into() }, "Error from server: boom"),
            (CliError::other("unknown flag"), "error: unknown flag"),
            (
                CliError::Server { reason: "AlreadyExists".into(), message: "jobs.batch \"pi\" already exists".into() }
                    .context("error when creating \"job.yaml\""),
                "Error from server (AlreadyExists): error when creating \"job.yaml\": jobs.batch \"pi\" already exists",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }

    #[test]
    fn statuses_from_kube() {
        let status = kube::core::Status::failure("jobs.batch \"x\" not found", "NotFound").with_code(404);
        let e = CliError::from(kube::Error::Api(status.boxed()));
        assert!(e.is_not_found());
        let status = kube::core::Status::failure("Unauthorized", "Unauthorized").with_code(401);
        assert_eq!(
            CliError::from(kube::Error::Api(status.boxed())).to_string(),
            "error: You must be logged in to the server (Unauthorized)"
        );
    }
}
