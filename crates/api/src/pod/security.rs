//! `securityContext` validation, pod and container level (upstream `validatePodSpecSecurityContext` and
//! `ValidateSecurityContext`), with upstream's messages. Capability names are not checked here: upstream
//! leaves them to the runtime, and so does runlet (the agent refuses unknown ones when it starts the container).

use runlet_codec::PodSpec;
use runlet_codec::k8s_openapi::api::core::v1::{SeccompProfile, SecurityContext};

use crate::field::{ErrorKind, FieldError};

use super::volumes::local_descending_path;

/// Largest uid and gid (upstream `maxUserID`, `maxGroupID`).
const MAX_ID: i64 = i32::MAX as i64;

/// Upstream `IsValidUserID` / `IsValidGroupID`.
fn id_in_range(value: Option<i64>, path: &str) -> Vec<FieldError> {
    match value {
        Some(v) if !(0..=MAX_ID).contains(&v) => {
            vec![FieldError::invalid(path, v.to_string(), format!("must be between 0 and {MAX_ID}, inclusive"))]
        }
        _ => Vec::new(),
    }
}

fn one_of(value: Option<&str>, path: &str, allowed: &[&str]) -> Vec<FieldError> {
    match value {
        Some(v) if !allowed.contains(&v) => vec![FieldError::unsupported(path, v, allowed)],
        _ => Vec::new(),
    }
}

/// The pod-level `securityContext` (`path` is `spec.securityContext`). `shareProcessNamespace` and `hostPID`
/// live there in upstream's internal type, so their conflict is reported under it.
pub(crate) fn validate_pod_security_context(spec: &PodSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sc) = spec.security_context.as_ref() else { return errs };
    errs.extend(id_in_range(sc.fs_group, &format!("{path}.fsGroup")));
    errs.extend(id_in_range(sc.run_as_user, &format!("{path}.runAsUser")));
    errs.extend(id_in_range(sc.run_as_group, &format!("{path}.runAsGroup")));
    for (i, g) in sc.supplemental_groups.iter().flatten().enumerate() {
        errs.extend(id_in_range(Some(*g), &format!("{path}.supplementalGroups[{i}]")));
    }
    if spec.share_process_namespace == Some(true) && spec.host_pid == Some(true) {
        errs.push(FieldError::invalid(
            format!("{path}.shareProcessNamespace"),
            "true",
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    errs.extend(one_of(
        sc.fs_group_change_policy.as_deref(),
        &format!("{path}.fsGroupChangePolicy"),
        &["Always", "OnRootMismatch"],
    ));
    errs.extend(seccomp_profile(sc.seccomp_profile.as_ref(), &format!("{path}.seccompProfile")));
    errs.extend(one_of(
        sc.supplemental_groups_policy.as_deref(),
        &format!("{path}.supplementalGroupsPolicy"),
        &["Merge", "Strict"],
    ));
    errs
}

/// A container's `securityContext` (`path` is `...containers[i].securityContext`). The pod's user namespace
/// setting matters for `procMount: Unmasked`; runlet pods always use the host's (`hostUsers` unset or true).
pub(crate) fn validate_security_context(sc: Option<&SecurityContext>, host_users: bool, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sc) = sc else { return errs };
    errs.extend(id_in_range(sc.run_as_user, &format!("{path}.runAsUser")));
    errs.extend(id_in_range(sc.run_as_group, &format!("{path}.runAsGroup")));
    if let Some(proc_mount) = sc.proc_mount.as_deref() {
        errs.extend(one_of(Some(proc_mount), &format!("{path}.procMount"), &["Default", "Unmasked"]));
        if host_users && proc_mount == "Unmasked" {
            errs.push(FieldError::invalid(
                format!("{path}.procMount"),
                "\"Unmasked\"",
                "`hostUsers` must be false to use `Unmasked`",
            ));
        }
    }
    errs.extend(seccomp_profile(sc.seccomp_profile.as_ref(), &format!("{path}.seccompProfile")));
    if sc.allow_privilege_escalation == Some(false) {
        // Upstream prints the whole security context as a Go struct here; runlet leaves the value out.
        let whole = |detail: &str| FieldError::new(ErrorKind::Invalid, path, None, detail);
        if sc.privileged == Some(true) {
            errs.push(whole("cannot set `allowPrivilegeEscalation` to false and `privileged` to true"));
        }
        let adds = sc.capabilities.as_ref().and_then(|c| c.add.as_deref()).unwrap_or_default();
        for _ in adds.iter().filter(|c| *c == "CAP_SYS_ADMIN") {
            errs.push(whole("cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"));
        }
    }
    errs
}

/// Upstream `validateSeccompProfileField`.
fn seccomp_profile(profile: Option<&SeccompProfile>, path: &str) -> Vec<FieldError> {
    let Some(p) = profile else { return Vec::new() };
    let mut errs = Vec::new();
    const TYPES: [&str; 3] = ["Localhost", "RuntimeDefault", "Unconfined"];
    let type_path = format!("{path}.type");
    match p.type_.as_str() {
        "" => errs.push(FieldError::required(&type_path, "type is required when seccompProfile is set")),
        t if !TYPES.contains(&t) => errs.push(FieldError::unsupported(&type_path, t, &TYPES)),
        _ => {}
    }
    let local_path = format!("{path}.localhostProfile");
    match (p.type_.as_str(), p.localhost_profile.as_deref()) {
        ("Localhost", None) => {
            errs.push(FieldError::required(local_path, "must be set when seccomp type is Localhost"));
        }
        ("Localhost", Some(profile)) => errs.extend(local_descending_path(profile, &local_path)),
        (_, Some(_)) => errs.push(FieldError::new(
            ErrorKind::Invalid,
            local_path,
            None,
            "can only be set when seccomp type is Localhost",
        )),
        (_, None) => {}
    }
    errs
}

/// Whether the pod runs in the host's user namespace (`hostUsers` unset means yes).
pub(crate) fn host_users(spec: &PodSpec) -> bool {
    spec.host_users != Some(false)
}
