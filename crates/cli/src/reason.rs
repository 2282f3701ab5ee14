//! The Status reasons and condition values the client acts on, named once.

use runlet_api::vocab::{ConditionStatus, JobConditionType};

pub const NOT_FOUND: &str = "NotFound";

/// `status` of a condition that holds.
pub const CONDITION_TRUE: &str = ConditionStatus::True.as_str();
/// The Job conditions that end a Job.
pub const JOB_COMPLETE: &str = JobConditionType::Complete.as_str();
pub const JOB_FAILED: &str = JobConditionType::Failed.as_str();
