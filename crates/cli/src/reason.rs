//! The Status reasons and condition values the client acts on, named once.

pub const NOT_FOUND: &str = "NotFound";

/// `status` of a condition that holds.
pub const CONDITION_TRUE: &str = "True";
/// The Job conditions that end a Job.
pub const JOB_COMPLETE: &str = "Complete";
pub const JOB_FAILED: &str = "Failed";
