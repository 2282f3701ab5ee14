//! Scenario tests of the Job reconcile: every row of job-semantics.md §9 (rows are numbered as there)
//! plus tests of the individual rules. Fixtures build Jobs and pods as the API server and kubelet
//! would leave them; [`sim`] plays runner, API server and kubelet for multi-sync scenarios.

mod backoff_limit;
mod classify;
mod deadline;
mod driver;
mod failure_policy;
mod indexed;
mod ownership;
mod per_index;
mod pod_management;
mod sim;
mod success_policy;
mod suspend;
mod tracking;
mod trimmed;

use std::collections::BTreeMap;

use jiff::Timestamp;
use runlet_api::labels::{
    CONTROLLER_UID, JOB_COMPLETION_INDEX, JOB_INDEX_FAILURE_COUNT, JOB_INDEX_IGNORED_FAILURE_COUNT, JOB_NAME,
    JOB_TRACKING_FINALIZER, LEGACY_CONTROLLER_UID, LEGACY_JOB_NAME,
};
use runlet_codec::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, Job, JobCondition,
    JobSpec, JobStatus, LabelSelector, ObjectMeta, Pod, PodCondition, PodFailurePolicy,
    PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule, PodSpec,
    PodStatus, PodTemplateSpec, SuccessPolicy, SuccessPolicyRule, Time,
};

use super::conditions::new_condition;
use super::{BackoffRecord, Plan, SyncInput, controller_ref, finish_tracking, sync};
use runlet_api::vocab::{ConditionStatus, JobConditionType};

pub(super) const JOB_UID: &str = "job-uid";
/// "Now" of single-sync tests; fixture pods are created at `at(0)`, long enough ago for any backoff.
pub(super) const NOW: i64 = 1000;

pub(super) fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_735_689_600 + secs).expect("valid test time")
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn job_labels() -> BTreeMap<String, String> {
    labels(&[
        (CONTROLLER_UID, JOB_UID),
        (LEGACY_CONTROLLER_UID, JOB_UID),
        (JOB_NAME, "foobar"),
        (LEGACY_JOB_NAME, "foobar"),
    ])
}

/// A defaulted Job `foobar` in `default`: `restartPolicy: Never`, one container `main-container`.
pub(super) fn job(parallelism: i32, completions: Option<i32>) -> JobBuilder {
    let template_spec = PodSpec {
        restart_policy: Some("Never".into()),
        containers: vec![Container { name: "main-container".into(), image: Some("foo".into()), ..Default::default() }],
        ..Default::default()
    };
    JobBuilder(Job {
        metadata: ObjectMeta {
            name: Some("foobar".into()),
            namespace: Some("default".into()),
            uid: Some(JOB_UID.into()),
            labels: Some(job_labels()),
            creation_timestamp: Some(Time(at(0))),
            ..Default::default()
        },
        spec: Some(JobSpec {
            parallelism: Some(parallelism),
            completions,
            backoff_limit: Some(6),
            completion_mode: Some("NonIndexed".into()),
            suspend: Some(false),
            pod_replacement_policy: Some("TerminatingOrFailed".into()),
            selector: Some(LabelSelector {
                match_labels: Some(labels(&[(CONTROLLER_UID, JOB_UID)])),
                match_expressions: None,
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(job_labels()), ..Default::default() }),
                spec: Some(template_spec),
            },
            ..Default::default()
        }),
        status: None,
    })
}

pub(super) struct JobBuilder(pub Job);

impl JobBuilder {
    fn spec(&mut self) -> &mut JobSpec {
        self.0.spec.get_or_insert_with(Default::default)
    }

    fn pod_spec(&mut self) -> &mut PodSpec {
        self.spec().template.spec.get_or_insert_with(Default::default)
    }

    pub fn backoff_limit(mut self, n: i32) -> Self {
        self.spec().backoff_limit = Some(n);
        self
    }

    pub fn indexed(mut self) -> Self {
        self.spec().completion_mode = Some("Indexed".into());
        self
    }

    pub fn suspend(mut self, on: bool) -> Self {
        self.spec().suspend = Some(on);
        self
    }

    pub fn deadline(mut self, secs: i64) -> Self {
        self.spec().active_deadline_seconds = Some(secs);
        self
    }

    pub fn on_failure(mut self) -> Self {
        self.pod_spec().restart_policy = Some("OnFailure".into());
        self
    }

    pub fn replacement(mut self, policy: &str) -> Self {
        self.spec().pod_replacement_policy = Some(policy.into());
        self
    }

    /// `backoffLimitPerIndex`, with `backoffLimit` defaulted to MaxInt32 as the API server does.
    pub fn per_index(mut self, n: i32) -> Self {
        self.spec().backoff_limit_per_index = Some(n);
        self.spec().backoff_limit = Some(i32::MAX);
        self
    }

    pub fn max_failed_indexes(mut self, n: i32) -> Self {
        self.spec().max_failed_indexes = Some(n);
        self
    }

    /// A pod failure policy (which forces `podReplacementPolicy: Failed`).
    pub fn failure_policy(mut self, rules: Vec<PodFailurePolicyRule>) -> Self {
        self.spec().pod_failure_policy = Some(PodFailurePolicy { rules });
        self.spec().pod_replacement_policy = Some("Failed".into());
        self
    }

    pub fn success_policy(mut self, rules: Vec<SuccessPolicyRule>) -> Self {
        self.spec().success_policy = Some(SuccessPolicy { rules });
        self
    }

    pub fn init_container(mut self, name: &str) -> Self {
        let c = Container { name: name.into(), image: Some("foo".into()), ..Default::default() };
        self.pod_spec().init_containers.get_or_insert_with(Vec::new).push(c);
        self
    }

    pub fn managed_by(mut self, name: &str) -> Self {
        self.spec().managed_by = Some(name.into());
        self
    }

    pub fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(Time(at(NOW - 1)));
        self
    }

    pub fn status(mut self, edit: impl FnOnce(&mut JobStatus)) -> Self {
        edit(self.0.status.get_or_insert_with(Default::default));
        self
    }

    /// Started `secs` before [`NOW`].
    pub fn started(self, secs_ago: i64) -> Self {
        self.status(|s| s.start_time = Some(Time(at(NOW - secs_ago))))
    }

    pub fn condition(self, type_: JobConditionType, status: ConditionStatus, reason: &str, message: &str) -> Self {
        let c = new_condition(type_, status, reason, message, at(NOW - 100));
        self.status(|s| s.conditions.get_or_insert_with(Vec::new).push(c))
    }

    pub fn build(self) -> Job {
        self.0
    }
}

pub(super) fn exit_rule(action: &str, operator: &str, values: &[i32]) -> PodFailurePolicyRule {
    PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
            container_name: None,
            operator: operator.into(),
            values: values.to_vec(),
        }),
        on_pod_conditions: None,
    }
}

pub(super) fn condition_rule(action: &str, type_: &str) -> PodFailurePolicyRule {
    PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: None,
        on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
            type_: type_.into(),
            status: ConditionStatus::True.into(),
        }]),
    }
}

pub(super) fn success_rule(indexes: Option<&str>, count: Option<i32>) -> SuccessPolicyRule {
    SuccessPolicyRule { succeeded_indexes: indexes.map(String::from), succeeded_count: count }
}

/// A pod of the fixture Job: owned, labelled, with the tracking finalizer, `Pending`, created at 0.
pub(super) fn pod(name: &str) -> PodBuilder {
    PodBuilder(Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("{name}-uid")),
            labels: Some(job_labels()),
            owner_references: Some(vec![controller_ref(&job(1, Some(1)).build())]),
            finalizers: Some(vec![JOB_TRACKING_FINALIZER.into()]),
            creation_timestamp: Some(Time(at(0))),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container { name: "main-container".into(), ..Default::default() }],
            ..Default::default()
        }),
        status: Some(PodStatus { phase: Some("Pending".into()), ..Default::default() }),
    })
}

/// `n` pods named `<prefix>-<i>` in `phase`.
pub(super) fn pods(prefix: &str, n: usize, phase: &str) -> Vec<Pod> {
    (0..n).map(|i| pod(&format!("{prefix}-{i}")).phase(phase).build()).collect()
}

pub(super) struct PodBuilder(pub Pod);

impl PodBuilder {
    fn status(&mut self) -> &mut PodStatus {
        self.0.status.get_or_insert_with(Default::default)
    }

    pub fn phase(mut self, phase: &str) -> Self {
        self.status().phase = Some(phase.into());
        self
    }

    pub fn running(self) -> Self {
        self.phase("Running")
    }

    pub fn succeeded(self) -> Self {
        self.phase("Succeeded")
    }

    pub fn failed(self) -> Self {
        self.phase("Failed")
    }

    pub fn pod_condition(mut self, type_: &str, status: &str, since: i64) -> Self {
        let c = PodCondition {
            type_: type_.into(),
            status: status.into(),
            last_transition_time: Some(Time(at(since))),
            ..Default::default()
        };
        self.status().conditions.get_or_insert_with(Vec::new).push(c);
        self
    }

    /// `Ready=True` since `at(0)`.
    pub fn ready(self) -> Self {
        self.pod_condition("Ready", "True", 0)
    }

    pub fn index(mut self, ix: i32) -> Self {
        let meta = &mut self.0.metadata;
        meta.annotations.get_or_insert_with(BTreeMap::new).insert(JOB_COMPLETION_INDEX.into(), ix.to_string());
        meta.labels.get_or_insert_with(BTreeMap::new).insert(JOB_COMPLETION_INDEX.into(), ix.to_string());
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.0.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(key.into(), value.into());
        self
    }

    pub fn failure_count(self, n: i32) -> Self {
        self.annotation(JOB_INDEX_FAILURE_COUNT, &n.to_string())
    }

    pub fn ignored_count(self, n: i32) -> Self {
        self.annotation(JOB_INDEX_IGNORED_FAILURE_COUNT, &n.to_string())
    }

    /// Being deleted since `at(secs)`, with a 30 s grace period.
    pub fn deleting_at(mut self, secs: i64) -> Self {
        self.0.metadata.deletion_timestamp = Some(Time(at(secs)));
        self.0.metadata.deletion_grace_period_seconds = Some(30);
        self
    }

    pub fn deleting(self) -> Self {
        self.deleting_at(NOW - 5)
    }

    pub fn no_finalizer(mut self) -> Self {
        self.0.metadata.finalizers = None;
        self
    }

    pub fn orphan(mut self) -> Self {
        self.0.metadata.owner_references = None;
        self.0.metadata.finalizers = None;
        self
    }

    pub fn created(mut self, secs: i64) -> Self {
        self.0.metadata.creation_timestamp = Some(Time(at(secs)));
        self
    }

    pub fn node(mut self, name: &str) -> Self {
        self.0.spec.get_or_insert_with(Default::default).node_name = Some(name.into());
        self
    }

    fn terminated(code: i32, finished: i64) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                finished_at: Some(Time(at(finished))),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A regular container status: terminated with `code` at `finished`.
    pub fn container_exit(mut self, name: &str, code: i32, finished: i64) -> Self {
        let status =
            ContainerStatus { name: name.into(), state: Some(Self::terminated(code, finished)), ..Default::default() };
        self.status().container_statuses.get_or_insert_with(Vec::new).push(status);
        self
    }

    /// `main-container` terminated with `code` at `at(10)`.
    pub fn exit(self, code: i32) -> Self {
        self.container_exit("main-container", code, 10)
    }

    pub fn init_exit(mut self, name: &str, code: i32) -> Self {
        let status =
            ContainerStatus { name: name.into(), state: Some(Self::terminated(code, 5)), ..Default::default() };
        self.status().init_container_statuses.get_or_insert_with(Vec::new).push(status);
        self
    }

    /// `main-container` running with `n` restarts.
    pub fn restarts(mut self, n: i32) -> Self {
        let state = ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() };
        let status = ContainerStatus {
            name: "main-container".into(),
            restart_count: n,
            state: Some(state),
            ..Default::default()
        };
        self.status().container_statuses = Some(vec![status]);
        self
    }

    pub fn build(self) -> Pod {
        self.0
    }
}

/// The pods as the informer's cache holds them.
pub(super) fn shared(pods: &[Pod]) -> Vec<std::sync::Arc<Pod>> {
    pods.iter().cloned().map(std::sync::Arc::new).collect()
}

/// One sync at [`NOW`] with no backoff history and satisfied expectations.
pub(super) fn run(job: &Job, pods: &[Pod]) -> Plan {
    run_with(job, pods, &BackoffRecord::default(), true)
}

pub(super) fn run_with(job: &Job, pods: &[Pod], backoff: &BackoffRecord, expectations_satisfied: bool) -> Plan {
    let pods = shared(pods);
    let input =
        SyncInput { job, pods: &pods, now: at(NOW), backoff, expectations_satisfied, pending_finalizer_removals: &[] };
    sync(&input).expect("sync")
}

/// The status after the plan's status step, every write and finalizer removal succeeding.
pub(super) fn settle(plan: &Plan) -> JobStatus {
    let tracking = &plan.tracking;
    let removed: Vec<String> = tracking.remove_finalizers.iter().map(|p| p.uid.clone()).collect();
    let finish = finish_tracking(tracking, &tracking.status, &removed, &[]);
    finish.status
}

/// `(active, ready, terminating, succeeded, failed)`.
pub(super) fn counts(status: &JobStatus) -> (i32, i32, i32, i32, i32) {
    (
        status.active.unwrap_or(0),
        status.ready.unwrap_or(-1),
        status.terminating.unwrap_or(-1),
        status.succeeded.unwrap_or(0),
        status.failed.unwrap_or(0),
    )
}

/// `(type, reason)` of each `True` condition, in order.
pub(super) fn conditions(status: &JobStatus) -> Vec<(String, String)> {
    status
        .conditions
        .iter()
        .flatten()
        .filter(|c| c.status == ConditionStatus::True)
        .map(|c| (c.type_.clone(), c.reason.clone().unwrap_or_default()))
        .collect()
}

pub(super) fn cond(type_: JobConditionType, reason: &str) -> (String, String) {
    (type_.into(), reason.to_string())
}

pub(super) fn find_condition(status: &JobStatus, type_: JobConditionType) -> Option<&JobCondition> {
    status.conditions.iter().flatten().find(|c| c.type_ == type_)
}

/// Names of the pods the plan deletes.
pub(super) fn deleted(plan: &Plan) -> Vec<String> {
    plan.deletions.iter().map(|d| d.pod.name.clone()).collect()
}

/// Completion indexes of the pods the plan creates (`None` for NonIndexed pods).
pub(super) fn created_indexes(plan: &Plan) -> Vec<Option<String>> {
    plan.creations
        .iter()
        .flatten()
        .map(|p| p.metadata.annotations.as_ref().and_then(|a| a.get(JOB_COMPLETION_INDEX)).cloned())
        .collect()
}
