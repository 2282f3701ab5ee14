//! `spec.podFailurePolicy` evaluation (§4.1, upstream `pod_failure_policy.go`): rules in order, the
//! first match decides.

use runlet_api::vocab::ConditionStatus;
use runlet_codec::{ContainerStatus, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement};

use super::pods::JobPod;

/// The action of the `podFailurePolicy` rule that matched a failed pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    FailJob,
    FailIndex,
    Ignore,
    Count,
}

impl Action {
    /// The action as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::FailJob => "FailJob",
            Action::FailIndex => "FailIndex",
            Action::Ignore => "Ignore",
            Action::Count => "Count",
        }
    }
}

/// What the policy says about one failed pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// The `FailureTarget` message when a `FailJob` rule matched.
    pub fail_job_message: Option<String>,
    /// Whether the failure counts toward `status.failed` and the backoff limits (`Ignore` does not).
    pub counts: bool,
    /// The action of the matching rule; `None` when no rule matched (default handling: counted).
    pub action: Option<Action>,
}

impl Verdict {
    const NO_MATCH: Verdict = Verdict { fail_job_message: None, counts: true, action: None };
}

/// Upstream `matchPodFailurePolicy`. Rules with an action this version does not know are skipped.
pub(crate) fn evaluate(policy: Option<&PodFailurePolicy>, pod: &JobPod<'_>) -> Verdict {
    let Some(policy) = policy else { return Verdict::NO_MATCH };
    let namespace = pod.pod.metadata.namespace.as_deref().unwrap_or_default();
    for (index, rule) in policy.rules.iter().enumerate() {
        let action = rule.action.as_str();
        let matched_message = if let Some(req) = rule.on_exit_codes.as_ref() {
            match_exit_codes(pod, req).map(|(container, code)| {
                format!(
                    "Container {container} for pod {namespace}/{} failed with exit code {code} matching {action} rule at index {index}",
                    pod.name
                )
            })
        } else if let Some(patterns) = rule.on_pod_conditions.as_ref() {
            let conditions = pod.pod.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
            // Pod conditions are scanned in their order; the first one matching any pattern wins.
            conditions
                .iter()
                .find(|c| patterns.iter().any(|p| p.type_ == c.type_ && pattern_status(&p.status) == c.status))
                .map(|c| {
                    format!(
                        "Pod {namespace}/{} has condition {} matching {action} rule at index {index}",
                        pod.name, c.type_
                    )
                })
        } else {
            None
        };
        let Some(message) = matched_message else { continue };
        match action {
            "Ignore" => return Verdict { fail_job_message: None, counts: false, action: Some(Action::Ignore) },
            "Count" => return Verdict { fail_job_message: None, counts: true, action: Some(Action::Count) },
            "FailIndex" => return Verdict { fail_job_message: None, counts: true, action: Some(Action::FailIndex) },
            "FailJob" => {
                return Verdict { fail_job_message: Some(message), counts: true, action: Some(Action::FailJob) };
            }
            _ => continue,
        }
    }
    Verdict::NO_MATCH
}

/// A pattern's status defaults to `True` (API defaulting; an undefaulted empty value means the same).
fn pattern_status(status: &str) -> &str {
    if status.is_empty() { ConditionStatus::True.as_str() } else { status }
}

/// The first terminated container with a non-zero exit code matching the requirement: regular
/// containers first, then init containers. Returns its name and exit code.
fn match_exit_codes<'a>(pod: &JobPod<'a>, req: &PodFailurePolicyOnExitCodesRequirement) -> Option<(&'a str, i32)> {
    let status = pod.pod.status.as_ref()?;
    let lists = [status.container_statuses.as_deref(), status.init_container_statuses.as_deref()];
    lists.into_iter().flatten().find_map(|list| list.iter().find_map(|c| matching_container(c, req)))
}

fn matching_container<'a>(
    c: &'a ContainerStatus,
    req: &PodFailurePolicyOnExitCodesRequirement,
) -> Option<(&'a str, i32)> {
    let code = c.state.as_ref()?.terminated.as_ref()?.exit_code;
    if req.container_name.as_deref().is_some_and(|name| name != c.name) || code == 0 {
        return None;
    }
    let listed = req.values.contains(&code);
    let hit = match req.operator.as_str() {
        "In" => listed,
        "NotIn" => !listed,
        _ => false,
    };
    hit.then_some((c.name.as_str(), code))
}
