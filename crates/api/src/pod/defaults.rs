//! Pod defaulting: what a v1.33 API server fills in, split the way upstream splits it.
//!
//! - [`default_pod_spec`]: `SetDefaults_PodSpec` and the container/volume/probe defaults. It runs on every pod
//!   spec, including Job templates, so a Job's template shows exactly these and nothing more.
//! - [`default_pod`]: `SetDefaults_Pod`, which only real pods get (`enableServiceLinks`, requests copied from
//!   limits, host ports under hostNetwork).
//! - [`prepare_for_pod_create`]: the pod registry's `PrepareForCreate` (status `Pending` with its QoS class) plus
//!   what the default admission plugins add on create (priority, preemption policy, service account, the
//!   not-ready/unreachable tolerations).

use crate::vocab::PodPhase;
use std::collections::BTreeMap;

use runlet_codec::k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, DownwardAPIVolumeFile, EmptyDirVolumeSource, Probe, ResourceFieldSelector, Volume,
};
use runlet_codec::{Pod, PodSpec, PodStatus, Quantity};

use crate::quantity::{ParsedQuantity, parse_quantity};

pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
/// Mode of files in configMap, secret, downwardAPI and projected volumes (0644).
pub const DEFAULT_VOLUME_MODE: i32 = 0o644;
/// Lifetime of a projected service account token when the pod does not say.
pub const DEFAULT_TOKEN_EXPIRATION_SECONDS: i64 = 3600;

fn set_if_empty(field: &mut Option<String>, value: &str) {
    if field.as_deref().is_none_or(str::is_empty) {
        *field = Some(value.to_string());
    }
}

/// Upstream `SetDefaults_PodSpec` plus the defaults of everything inside a pod spec.
pub fn default_pod_spec(spec: &mut PodSpec) {
    set_if_empty(&mut spec.dns_policy, "ClusterFirst");
    set_if_empty(&mut spec.restart_policy, "Always");
    spec.security_context.get_or_insert_with(Default::default);
    spec.termination_grace_period_seconds.get_or_insert(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
    set_if_empty(&mut spec.scheduler_name, DEFAULT_SCHEDULER_NAME);
    for container in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        default_container(container);
    }
    for volume in spec.volumes.iter_mut().flatten() {
        default_volume(volume);
    }
}

/// `imagePullPolicy` is `Always` for `:latest` and untagged images, `IfNotPresent` otherwise (and for images that
/// do not parse as a reference, e.g. with upper-case repository names).
pub fn default_pull_policy(image: &str) -> &'static str {
    if image_tag(image).as_deref() == Some("latest") { "Always" } else { "IfNotPresent" }
}

/// The tag `ParseImageName` reports: the explicit tag, `latest` when there is neither tag nor digest, `None` when
/// there is only a digest or the reference does not parse.
fn image_tag(image: &str) -> Option<String> {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    // A colon after the last slash separates the tag; one before it belongs to a registry port.
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    let path = match repository.split_once('/') {
        // The first component is a registry host only if it looks like one.
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repository,
    };
    let path_ok =
        !path.is_empty() && path.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-/".contains(&c));
    if !path_ok || tag == Some("") || digest == Some("") {
        return None;
    }
    match (tag, digest) {
        (Some(tag), _) => Some(tag.to_string()),
        (None, None) => Some("latest".to_string()),
        (None, Some(_)) => None,
    }
}

fn default_container(c: &mut Container) {
    if c.image_pull_policy.as_deref().is_none_or(str::is_empty) {
        c.image_pull_policy = Some(default_pull_policy(c.image.as_deref().unwrap_or("")).to_string());
    }
    set_if_empty(&mut c.termination_message_path, DEFAULT_TERMINATION_MESSAGE_PATH);
    set_if_empty(&mut c.termination_message_policy, "File");
    // A struct, not a pointer, upstream: it always shows as `resources: {}`.
    c.resources.get_or_insert_with(Default::default);
    for port in c.ports.iter_mut().flatten() {
        set_if_empty(&mut port.protocol, "TCP");
    }
    for env in c.env.iter_mut().flatten() {
        if let Some(from) = env.value_from.as_mut() {
            if let Some(field_ref) = from.field_ref.as_mut() {
                set_if_empty(&mut field_ref.api_version, "v1");
            }
            if let Some(resource_ref) = from.resource_field_ref.as_mut() {
                default_divisor(resource_ref);
            }
        }
    }
    for probe in [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe].into_iter().flatten() {
        default_probe(probe);
    }
}

fn default_probe(p: &mut Probe) {
    for (field, value) in [
        (&mut p.timeout_seconds, 1),
        (&mut p.period_seconds, 10),
        (&mut p.success_threshold, 1),
        (&mut p.failure_threshold, 3),
    ] {
        if field.is_none_or(|v| v == 0) {
            *field = Some(value);
        }
    }
    if let Some(http) = p.http_get.as_mut() {
        set_if_empty(&mut http.path, "/");
        set_if_empty(&mut http.scheme, "HTTP");
    }
}

/// The volume source fields that are set, by their JSON names, in upstream's validation order.
pub(crate) fn volume_sources(v: &Volume) -> Vec<&'static str> {
    let set = [
        ("emptyDir", v.empty_dir.is_some()),
        ("hostPath", v.host_path.is_some()),
        ("gitRepo", v.git_repo.is_some()),
        ("gcePersistentDisk", v.gce_persistent_disk.is_some()),
        ("awsElasticBlockStore", v.aws_elastic_block_store.is_some()),
        ("secret", v.secret.is_some()),
        ("nfs", v.nfs.is_some()),
        ("iscsi", v.iscsi.is_some()),
        ("glusterfs", v.glusterfs.is_some()),
        ("flocker", v.flocker.is_some()),
        ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
        ("rbd", v.rbd.is_some()),
        ("cinder", v.cinder.is_some()),
        ("cephFS", v.cephfs.is_some()),
        ("quobyte", v.quobyte.is_some()),
        // Upstream's path really is misspelt.
        ("downwarAPI", v.downward_api.is_some()),
        ("fc", v.fc.is_some()),
        ("flexVolume", v.flex_volume.is_some()),
        ("configMap", v.config_map.is_some()),
        ("azureFile", v.azure_file.is_some()),
        ("vsphereVolume", v.vsphere_volume.is_some()),
        ("photonPersistentDisk", v.photon_persistent_disk.is_some()),
        ("portworxVolume", v.portworx_volume.is_some()),
        ("azureDisk", v.azure_disk.is_some()),
        ("storageos", v.storageos.is_some()),
        ("projected", v.projected.is_some()),
        ("scaleIO", v.scale_io.is_some()),
        ("csi", v.csi.is_some()),
        ("ephemeral", v.ephemeral.is_some()),
        ("image", v.image.is_some()),
    ];
    set.into_iter().filter(|(_, present)| *present).map(|(name, _)| name).collect()
}

/// Upstream's divisor is a plain quantity, so an unset one reads back as `"0"`.
fn default_divisor(r: &mut ResourceFieldSelector) {
    r.divisor.get_or_insert_with(|| Quantity("0".to_string()));
}

fn default_downward_files(files: Option<&mut Vec<DownwardAPIVolumeFile>>) {
    for file in files.into_iter().flatten() {
        if let Some(field_ref) = file.field_ref.as_mut() {
            set_if_empty(&mut field_ref.api_version, "v1");
        }
        if let Some(resource_ref) = file.resource_field_ref.as_mut() {
            default_divisor(resource_ref);
        }
    }
}

fn default_volume(v: &mut Volume) {
    if volume_sources(v).is_empty() {
        v.empty_dir = Some(EmptyDirVolumeSource::default());
    }
    if let Some(ConfigMapVolumeSource { default_mode, .. }) = v.config_map.as_mut() {
        default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
    }
    if let Some(secret) = v.secret.as_mut() {
        secret.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
    }
    if let Some(downward) = v.downward_api.as_mut() {
        downward.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
        default_downward_files(downward.items.as_mut());
    }
    if let Some(projected) = v.projected.as_mut() {
        projected.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
        for source in projected.sources.iter_mut().flatten() {
            if let Some(downward) = source.downward_api.as_mut() {
                default_downward_files(downward.items.as_mut());
            }
            if let Some(token) = source.service_account_token.as_mut() {
                token.expiration_seconds.get_or_insert(DEFAULT_TOKEN_EXPIRATION_SECONDS);
            }
        }
    }
    if let Some(host_path) = v.host_path.as_mut() {
        host_path.type_.get_or_insert_with(String::new);
    }
}

/// Upstream `SetDefaults_Pod` (on top of [`default_pod_spec`]), and `status.phase: Pending` for a pod that has no
/// phase yet.
pub fn default_pod(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(Default::default);
    default_pod_spec(spec);
    spec.enable_service_links.get_or_insert(true);
    let host_network = spec.host_network == Some(true);
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        requests_from_limits(c);
        if host_network {
            for port in c.ports.iter_mut().flatten() {
                if port.host_port.is_none_or(|p| p == 0) {
                    port.host_port = Some(port.container_port);
                }
            }
        }
    }
    let status = pod.status.get_or_insert_with(Default::default);
    set_if_empty(&mut status.phase, PodPhase::Pending.as_str());
}

/// A limit without a request makes the request equal to the limit.
fn requests_from_limits(c: &mut Container) {
    let Some(resources) = c.resources.as_mut() else { return };
    let Some(limits) = resources.limits.as_ref() else { return };
    let requests = resources.requests.get_or_insert_with(BTreeMap::new);
    for (name, value) in limits {
        requests.entry(name.clone()).or_insert_with(|| value.clone());
    }
}

/// What the pod registry and the default admission plugins set on create (see the module docs). Call after
/// [`default_pod`].
pub fn prepare_for_pod_create(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(Default::default);
    if spec.priority_class_name.as_deref().is_none_or(str::is_empty) {
        spec.priority.get_or_insert(0);
    }
    set_if_empty(&mut spec.preemption_policy, "PreemptLowerPriority");
    set_if_empty(&mut spec.service_account_name, "default");
    // The deprecated twin field mirrors serviceAccountName.
    spec.service_account = spec.service_account_name.clone();
    crate::taints::add_default_tolerations(spec, crate::taints::DefaultTolerationSeconds::default());
    let qos = qos_class(spec);
    pod.status = Some(PodStatus {
        phase: Some(PodPhase::Pending.into()),
        qos_class: Some(qos.to_string()),
        ..Default::default()
    });
}

/// The pod's QoS class (`Guaranteed`, `Burstable`, `BestEffort`), upstream `ComputePodQOS` without pod-level
/// resources. Quantities that do not parse are ignored (validation rejects them).
pub fn qos_class(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<&str, ParsedQuantity> = BTreeMap::new();
    let mut limits: BTreeMap<&str, ParsedQuantity> = BTreeMap::new();
    let mut guaranteed = true;
    let positive = |list: Option<&BTreeMap<String, Quantity>>| -> Vec<(&'static str, ParsedQuantity)> {
        let mut out = Vec::new();
        for name in ["cpu", "memory"] {
            if let Some(q) = list.and_then(|l| l.get(name)).and_then(|q| parse_quantity(&q.0).ok())
                && q.nanos() > 0
            {
                out.push((name, q));
            }
        }
        out
    };
    for c in spec.init_containers.iter().flatten().chain(spec.containers.iter()) {
        let resources = c.resources.as_ref();
        for (name, q) in positive(resources.and_then(|r| r.requests.as_ref())) {
            let sum = requests.entry(name).or_default();
            *sum = sum.checked_add(q).unwrap_or(*sum);
        }
        let found = positive(resources.and_then(|r| r.limits.as_ref()));
        if found.len() < 2 {
            guaranteed = false;
        }
        for (name, q) in found {
            let sum = limits.entry(name).or_default();
            *sum = sum.checked_add(q).unwrap_or(*sum);
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed && requests.len() == limits.len() && requests.iter().all(|(name, q)| limits.get(name) == Some(q)) {
        return "Guaranteed";
    }
    "Burstable"
}
