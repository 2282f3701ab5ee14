//! What a Job's status says about it, for `runlet run`'s progress lines and exit status: pure.

use runlet_api::vocab::{ConditionStatus, JobConditionType};
use runlet_codec::Job;

/// Where a Job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Running,
    Complete,
    Failed { reason: String, message: String },
}

/// One line of progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub state: State,
    pub succeeded: i32,
    pub failed: i32,
    pub active: i32,
    /// `spec.completions` (None for work-queue Jobs).
    pub completions: Option<i32>,
}

pub fn of(job: &Job) -> Progress {
    let status = job.status.clone().unwrap_or_default();
    let conds = status.conditions.unwrap_or_default();
    let true_cond = |t: JobConditionType| conds.iter().find(|c| c.type_ == t && c.status == ConditionStatus::True);
    let state = if true_cond(JobConditionType::Complete).is_some() {
        State::Complete
    } else if let Some(c) = true_cond(JobConditionType::Failed) {
        State::Failed { reason: c.reason.clone().unwrap_or_default(), message: c.message.clone().unwrap_or_default() }
    } else {
        State::Running
    };
    Progress {
        state,
        succeeded: status.succeeded.unwrap_or(0),
        failed: status.failed.unwrap_or(0),
        active: status.active.unwrap_or(0),
        completions: job.spec.as_ref().and_then(|s| s.completions),
    }
}

impl Progress {
    pub fn summary(&self) -> String {
        let done = match self.completions {
            Some(c) => format!("{}/{c}", self.succeeded),
            None => format!("{}/1", self.succeeded),
        };
        let state = match &self.state {
            State::Running => "Running".to_string(),
            State::Complete => "Complete".to_string(),
            State::Failed { reason, .. } => format!("Failed ({reason})"),
        };
        format!("{state}: succeeded {done}, failed {}, active {}", self.failed, self.active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(status: serde_json::Value) -> Job {
        let v = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"completions": 3, "template": {}}, "status": status});
        runlet_codec::decode_job(&v).unwrap().object
    }

    #[test]
    fn states() {
        let p = of(&job(json!({"active": 2, "succeeded": 1})));
        assert_eq!(p.state, State::Running);
        assert_eq!(p.summary(), "Running: succeeded 1/3, failed 0, active 2");
        let p = of(&job(json!({"succeeded": 3, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]})));
        assert_eq!(p.state, State::Complete);
        let p = of(&job(json!({"failed": 5, "conditions": [{"type": "FailureTarget", "status": "True"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]})));
        assert_eq!(
            p.state,
            State::Failed {
                reason: "BackoffLimitExceeded".into(),
                message: "Job has reached the specified backoff limit".into()
            }
        );
        assert_eq!(p.summary(), "Failed (BackoffLimitExceeded): succeeded 0/3, failed 5, active 0");
        // An interim condition alone is not the end.
        assert_eq!(
            of(&job(json!({"conditions": [{"type": "FailureTarget", "status": "True"}]}))).state,
            State::Running
        );
    }
}
