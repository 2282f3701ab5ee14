//! A new pod from the Job's template (§2.2, upstream `GetPodFromTemplate` plus the Indexed additions).

use std::collections::BTreeMap;

use runlet_api::labels::{
    JOB_COMPLETION_INDEX, JOB_COMPLETION_INDEX_ENV, JOB_INDEX_FAILURE_COUNT, JOB_INDEX_IGNORED_FAILURE_COUNT,
    JOB_TRACKING_FINALIZER,
};
use runlet_api::names;
use runlet_codec::{Container, EnvVar, EnvVarSource, ObjectFieldSelector, ObjectMeta, Pod};

use super::claim::controller_ref;
use super::indexed::generate_name_with_index;
use super::spec::JobFacts;

/// What distinguishes one new pod from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NewPod {
    pub index: Option<i32>,
    /// `(job-index-failure-count, job-index-ignored-failure-count)` with per-index backoff.
    pub failure_counts: Option<(i32, i32)>,
}

pub(crate) fn pod_from_template(job: &JobFacts<'_>, new: NewPod) -> Pod {
    let template = &job.spec.template;
    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut spec = template.spec.clone().unwrap_or_default();
    let mut labels = template_meta.labels;
    let mut annotations = template_meta.annotations;
    let mut finalizers = template_meta.finalizers.unwrap_or_default();
    if !finalizers.iter().any(|f| f == JOB_TRACKING_FINALIZER) {
        finalizers.push(JOB_TRACKING_FINALIZER.to_string());
    }
    let mut generate_name = pods_prefix(job.name);
    if job.indexed() {
        for container in spec.init_containers.iter_mut().flatten().chain(spec.containers.iter_mut()) {
            add_completion_index_env(container);
        }
    }
    if let Some(index) = new.index {
        let annotations = annotations.get_or_insert_with(BTreeMap::new);
        annotations.insert(JOB_COMPLETION_INDEX.to_string(), index.to_string());
        labels.get_or_insert_with(BTreeMap::new).insert(JOB_COMPLETION_INDEX.to_string(), index.to_string());
        spec.hostname = Some(format!("{}-{index}", job.name));
        generate_name = generate_name_with_index(job.name, index);
        if let Some((counted, ignored)) = new.failure_counts {
            annotations.insert(JOB_INDEX_FAILURE_COUNT.to_string(), counted.to_string());
            if ignored > 0 {
                annotations.insert(JOB_INDEX_IGNORED_FAILURE_COUNT.to_string(), ignored.to_string());
            }
        }
    }
    Pod {
        metadata: ObjectMeta {
            namespace: Some(job.namespace.to_string()).filter(|ns| !ns.is_empty()),
            generate_name: Some(generate_name),
            labels,
            annotations,
            finalizers: Some(finalizers),
            owner_references: Some(vec![controller_ref(job.job)]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// `<job>-`, unless that is not a valid pod-name prefix (upstream `getPodsPrefix`).
fn pods_prefix(job_name: &str) -> String {
    let prefix = format!("{job_name}-");
    if names::dns1123_subdomain(&names::mask_trailing_dash(&prefix)).is_empty() { prefix } else { job_name.to_string() }
}

/// Adds `JOB_COMPLETION_INDEX` from the index label, unless the container defines that variable.
fn add_completion_index_env(container: &mut Container) {
    let env = container.env.get_or_insert_with(Vec::new);
    if env.iter().any(|v| v.name == JOB_COMPLETION_INDEX_ENV) {
        return;
    }
    env.push(EnvVar {
        name: JOB_COMPLETION_INDEX_ENV.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: format!("metadata.labels['{JOB_COMPLETION_INDEX}']"),
            }),
            ..EnvVarSource::default()
        }),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_the_name_and_a_dash() {
        for (name, want) in [("pi", "pi-"), ("a", "a-"), ("a.b", "a.b-"), ("x-1", "x-1-")] {
            assert_eq!(pods_prefix(name), want);
        }
        let long = "a".repeat(260);
        assert_eq!(pods_prefix(&long), long, "a prefix longer than a subdomain falls back to the name");
    }
}
