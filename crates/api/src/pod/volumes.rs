//! Pod volume validation (upstream `ValidateVolumes` and `validateVolumeSource` for the sources runlet knows,
//! with upstream's messages): names, exactly one source, and the rules of `emptyDir`, `hostPath`,
//! `configMap`, `secret`, `downwardAPI` and `projected` (required names, `items` paths, file modes 0–0777,
//! field and resource selectors, duplicate projected paths).

use std::collections::BTreeSet;

use runlet_codec::k8s_openapi::api::core::v1::{
    DownwardAPIVolumeFile, KeyToPath, ObjectFieldSelector, ResourceFieldSelector, Volume, VolumeProjection,
};

use super::defaults::volume_sources;
use crate::field::{FieldError, quote};
use crate::meta::duplicate;
use crate::names;
use crate::quantity::parse_quantity;

/// Upstream `fileModeErrorMsg`.
pub const FILE_MODE_MESSAGE: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// `hostPath.type` values (upstream `supportedHostPathTypes`, sorted as upstream lists them).
const HOST_PATH_TYPES: [&str; 8] =
    ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"];

/// Field paths a downward API volume file may name without a subscript (sorted).
const VOLUME_FIELD_PATHS: [&str; 5] =
    ["metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"];

/// Container resources the downward API exposes (upstream `validContainerResourceFieldPathExpressions`).
pub const RESOURCE_FIELD_PATHS: [&str; 6] = [
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// Volume names unique DNS labels, exactly one source each, that source valid. Returns the names that mounts
/// may refer to (only volumes without errors, as upstream).
pub(crate) fn validate_volumes(volumes: &[Volume], path: &str) -> (BTreeSet<String>, Vec<FieldError>) {
    let mut valid = BTreeSet::new();
    let mut errs = Vec::new();
    for (i, v) in volumes.iter().enumerate() {
        let item = format!("{path}[{i}]");
        let mut volume_errs = validate_volume_source(v, &item);
        if v.name.is_empty() {
            volume_errs.push(FieldError::required(format!("{item}.name"), ""));
        } else {
            volume_errs.extend(checked(&v.name, &format!("{item}.name"), names::dns1123_label));
        }
        if valid.contains(&v.name) {
            volume_errs.push(duplicate(format!("{item}.name"), quote(&v.name)));
        }
        if volume_errs.is_empty() {
            valid.insert(v.name.clone());
        } else {
            errs.extend(volume_errs);
        }
    }
    (valid, errs)
}

fn checked(value: &str, path: &str, check: fn(&str) -> Vec<String>) -> Vec<FieldError> {
    check(value).into_iter().map(|m| FieldError::invalid(path, quote(value), m)).collect()
}

/// The first source is validated; every further one is refused (upstream checks them in a fixed order).
fn validate_volume_source(v: &Volume, path: &str) -> Vec<FieldError> {
    let sources = volume_sources(v);
    let Some(first) = sources.first() else {
        return vec![FieldError::required(path, "must specify a volume type")];
    };
    let mut errs = match *first {
        "emptyDir" => validate_empty_dir(v, path),
        "hostPath" => v.host_path.as_ref().map_or_else(Vec::new, |h| {
            let path = format!("{path}.hostPath");
            if h.path.is_empty() {
                return vec![FieldError::required(format!("{path}.path"), "")];
            }
            let mut errs = no_backsteps(&h.path, &format!("{path}.path"));
            if let Some(t) = h.type_.as_deref()
                && !HOST_PATH_TYPES.contains(&t)
            {
                errs.push(FieldError::unsupported(format!("{path}.type"), t, &HOST_PATH_TYPES));
            }
            errs
        }),
        "secret" => v.secret.as_ref().map_or_else(Vec::new, |s| {
            let path = format!("{path}.secret");
            let mut errs = Vec::new();
            if s.secret_name.as_deref().is_none_or(str::is_empty) {
                errs.push(FieldError::required(format!("{path}.secretName"), ""));
            }
            errs.extend(file_mode(s.default_mode, &format!("{path}.defaultMode")));
            errs.extend(key_to_paths(s.items.as_deref(), &format!("{path}.items")));
            errs
        }),
        "configMap" => v.config_map.as_ref().map_or_else(Vec::new, |c| {
            let path = format!("{path}.configMap");
            let mut errs = Vec::new();
            if c.name.is_empty() {
                errs.push(FieldError::required(format!("{path}.name"), ""));
            }
            errs.extend(file_mode(c.default_mode, &format!("{path}.defaultMode")));
            errs.extend(key_to_paths(c.items.as_deref(), &format!("{path}.items")));
            errs
        }),
        "downwarAPI" => v.downward_api.as_ref().map_or_else(Vec::new, |d| {
            let path = format!("{path}.downwardAPI");
            let mut errs = file_mode(d.default_mode, &format!("{path}.defaultMode"));
            // Upstream reports item errors on the source's path, not the item's.
            for file in d.items.iter().flatten() {
                errs.extend(downward_file(file, &path));
            }
            errs
        }),
        "projected" => v.projected.as_ref().map_or_else(Vec::new, |p| {
            let path = format!("{path}.projected");
            let mut errs = file_mode(p.default_mode, &format!("{path}.defaultMode"));
            errs.extend(projection_sources(p.sources.as_deref().unwrap_or_default(), &path));
            errs
        }),
        "persistentVolumeClaim" => v.persistent_volume_claim.as_ref().map_or_else(Vec::new, |c| {
            if c.claim_name.is_empty() {
                vec![FieldError::required(format!("{path}.persistentVolumeClaim.claimName"), "")]
            } else {
                Vec::new()
            }
        }),
        _ => Vec::new(),
    };
    for extra in sources.iter().skip(1) {
        errs.push(FieldError::forbidden(format!("{path}.{extra}"), "may not specify more than 1 volume type"));
    }
    errs
}

fn validate_empty_dir(v: &Volume, path: &str) -> Vec<FieldError> {
    let negative = v
        .empty_dir
        .as_ref()
        .and_then(|e| e.size_limit.as_ref())
        .and_then(|q| parse_quantity(&q.0).ok())
        .is_some_and(|q| q.is_negative());
    if negative {
        vec![FieldError::forbidden(
            format!("{path}.emptyDir.sizeLimit"),
            "SizeLimit field must be a valid resource quantity",
        )]
    } else {
        Vec::new()
    }
}

/// A `mode`/`defaultMode` outside 0–0777.
pub(crate) fn file_mode(mode: Option<i32>, path: &str) -> Vec<FieldError> {
    match mode {
        Some(m) if !(0..=0o777).contains(&m) => vec![FieldError::invalid(path, m.to_string(), FILE_MODE_MESSAGE)],
        _ => Vec::new(),
    }
}

fn key_to_paths(items: Option<&[KeyToPath]>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, kp) in items.unwrap_or_default().iter().enumerate() {
        errs.extend(key_to_path(kp, &format!("{path}[{i}]")));
    }
    errs
}

/// Upstream `validateKeyToPath`.
fn key_to_path(kp: &KeyToPath, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if kp.key.is_empty() {
        errs.push(FieldError::required(format!("{path}.key"), ""));
    }
    if kp.path.is_empty() {
        errs.push(FieldError::required(format!("{path}.path"), ""));
    }
    errs.extend(local_non_reserved_path(&kp.path, &format!("{path}.path")));
    errs.extend(file_mode(kp.mode, &format!("{path}.mode")));
    errs
}

/// Upstream `validatePathNoBacksteps`: no `..` element (one error however many there are).
pub(crate) fn no_backsteps(target: &str, path: &str) -> Vec<FieldError> {
    if target.split('/').any(|part| part == "..") {
        vec![FieldError::invalid(path, quote(target), "must not contain '..'")]
    } else {
        Vec::new()
    }
}

/// Upstream `validateLocalDescendingPath`: relative, without `..` elements.
pub(crate) fn local_descending_path(target: &str, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if target.starts_with('/') {
        errs.push(FieldError::invalid(path, quote(target), "must be a relative path"));
    }
    errs.extend(no_backsteps(target, path));
    errs
}

/// Upstream `ValidateLocalNonReservedPath`: a descending path that does not start with `..` (the names the
/// atomic writer keeps for itself).
fn local_non_reserved_path(target: &str, path: &str) -> Vec<FieldError> {
    let mut errs = local_descending_path(target, path);
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(FieldError::invalid(path, quote(target), "must not start with '..'"));
    }
    errs
}

/// Upstream `validateDownwardAPIVolumeFile`.
fn downward_file(file: &DownwardAPIVolumeFile, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if file.path.is_empty() {
        errs.push(FieldError::required(format!("{path}.path"), ""));
    }
    errs.extend(local_non_reserved_path(&file.path, &format!("{path}.path")));
    match (&file.field_ref, &file.resource_field_ref) {
        (Some(field_ref), resource_ref) => {
            errs.extend(object_field_selector(field_ref, &VOLUME_FIELD_PATHS, &format!("{path}.fieldRef")));
            if resource_ref.is_some() {
                errs.push(FieldError::invalid(
                    path,
                    quote("resource"),
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                ));
            }
        }
        (None, Some(resource_ref)) => {
            errs.extend(resource_field_selector(resource_ref, &format!("{path}.resourceFieldRef"), true));
        }
        (None, None) => errs.push(FieldError::required(path, "one of fieldRef and resourceFieldRef is required")),
    }
    errs.extend(file_mode(file.mode, &format!("{path}.mode")));
    errs
}

/// Field labels the v1 downward API converts (upstream `ConvertDownwardAPIFieldLabel`).
const CONVERTIBLE_FIELD_PATHS: [&str; 14] = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// `metadata.labels['key']` → (`metadata.labels`, `key`).
fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let inner = path.strip_suffix("']")?;
    inner.split_once("['")
}

/// Upstream `validateObjectFieldSelector`: `valid` are the paths allowed without a subscript (sorted).
pub(crate) fn object_field_selector(selector: &ObjectFieldSelector, valid: &[&str], path: &str) -> Vec<FieldError> {
    let api_version = selector.api_version.as_deref().unwrap_or("");
    if api_version.is_empty() {
        return vec![FieldError::required(format!("{path}.apiVersion"), "")];
    }
    let field_path = selector.field_path.as_str();
    if field_path.is_empty() {
        return vec![FieldError::required(format!("{path}.fieldPath"), "")];
    }
    let fp_path = format!("{path}.fieldPath");
    let base = split_subscript(field_path).map_or(field_path, |(head, _)| head);
    let conversion_error = if api_version != "v1" {
        Some(format!("unsupported pod version: {api_version}"))
    } else if !CONVERTIBLE_FIELD_PATHS.contains(&base) {
        Some(format!("field label not supported: {field_path}"))
    } else {
        None
    };
    if let Some(err) = conversion_error {
        return vec![FieldError::invalid(fp_path, quote(field_path), format!("error converting fieldPath: {err}"))];
    }
    match split_subscript(field_path) {
        Some((head, key)) => {
            let key = if head == "metadata.annotations" { key.to_lowercase() } else { key.to_string() };
            match head {
                "metadata.annotations" | "metadata.labels" => {
                    names::qualified_name(&key).into_iter().map(|m| FieldError::invalid(path, quote(&key), m)).collect()
                }
                _ => vec![FieldError::invalid(path, quote(head), "does not support subscript")],
            }
        }
        None if !valid.contains(&field_path) => vec![FieldError::unsupported(fp_path, field_path, valid)],
        None => Vec::new(),
    }
}

const HUGE_PAGES_PREFIXES: [&str; 2] = ["limits.hugepages-", "requests.hugepages-"];

/// Upstream `validateContainerResourceFieldSelector` (`volume`: a downward API file, which must name its
/// container) and `validateContainerResourceDivisor`.
pub(crate) fn resource_field_selector(selector: &ResourceFieldSelector, path: &str, volume: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let resource = selector.resource.as_str();
    if volume && selector.container_name.as_deref().is_none_or(str::is_empty) {
        errs.push(FieldError::required(format!("{path}.containerName"), ""));
    } else if resource.is_empty() {
        errs.push(FieldError::required(format!("{path}.resource"), ""));
    } else if !RESOURCE_FIELD_PATHS.contains(&resource) && !HUGE_PAGES_PREFIXES.iter().any(|p| resource.starts_with(p))
    {
        errs.push(FieldError::unsupported(format!("{path}.resource"), resource, &RESOURCE_FIELD_PATHS));
    }
    if let Some(message) = selector.divisor.as_ref().and_then(|d| divisor_error(resource, &d.0)) {
        errs.push(FieldError::invalid(format!("{path}.divisor"), quote(resource), message));
    }
    errs
}

/// Divisors upstream accepts per resource, compared by value (upstream compares canonical forms, which are
/// equal exactly when the values are).
fn divisor_error(resource: &str, divisor: &str) -> Option<String> {
    let nanos = parse_quantity(divisor).ok()?.nanos();
    if nanos == 0 {
        return None;
    }
    const UNIT: i128 = 1_000_000_000;
    let byte_divisors: Vec<i128> =
        (0..7).map(|e| 1000i128.pow(e) * UNIT).chain((1..7).map(|e| (1i128 << (10 * e)) * UNIT)).collect();
    let bytes_message = |what: &str| {
        format!(
            "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the {what}"
        )
    };
    match resource {
        "limits.cpu" | "requests.cpu" if nanos != UNIT && nanos != UNIT / 1000 => {
            Some("only divisor's values 1m and 1 are supported with the cpu resource".to_string())
        }
        "limits.memory" | "requests.memory" if !byte_divisors.contains(&nanos) => {
            Some(bytes_message("memory resource"))
        }
        "limits.ephemeral-storage" | "requests.ephemeral-storage" if !byte_divisors.contains(&nanos) => {
            Some(bytes_message("local ephemeral storage resource"))
        }
        r if HUGE_PAGES_PREFIXES.iter().any(|p| r.starts_with(p)) && !byte_divisors.contains(&nanos) => {
            Some(bytes_message("hugepages resource"))
        }
        _ => None,
    }
}

/// Upstream `validateProjectionSources`: one source per projection, and no path twice across them.
fn projection_sources(sources: &[VolumeProjection], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut paths: BTreeSet<&str> = BTreeSet::new();
    for (i, source) in sources.iter().enumerate() {
        let src_path = format!("{path}.sources[{i}]");
        let mut count = 0;
        let objects = [
            ("secret", source.secret.as_ref().map(|s| (&s.name, s.items.as_deref()))),
            ("configMap", source.config_map.as_ref().map(|c| (&c.name, c.items.as_deref()))),
        ];
        for (kind, object) in objects {
            let Some((name, items)) = object else { continue };
            count += 1;
            let proj_path = format!("{src_path}.{kind}");
            if name.is_empty() {
                errs.push(FieldError::required(format!("{proj_path}.name"), ""));
            }
            for (j, kp) in items.unwrap_or_default().iter().enumerate() {
                errs.extend(key_to_path(kp, &format!("{proj_path}.items[{j}]")));
                if !kp.path.is_empty() && !paths.insert(&kp.path) {
                    errs.push(FieldError::invalid(path, quote(name), "conflicting duplicate paths"));
                }
            }
        }
        if let Some(downward) = &source.downward_api {
            count += 1;
            let proj_path = format!("{src_path}.downwardAPI");
            for file in downward.items.iter().flatten() {
                errs.extend(downward_file(file, &proj_path));
                if !file.path.is_empty() && !paths.insert(&file.path) {
                    errs.push(FieldError::invalid(path, quote(&file.path), "conflicting duplicate paths"));
                }
            }
        }
        if let Some(token) = &source.service_account_token {
            count += 1;
            let seconds = token.expiration_seconds.unwrap_or(3600);
            let exp_path = format!("{src_path}.serviceAccountToken.expirationSeconds");
            if seconds < 10 * 60 {
                errs.push(FieldError::invalid(
                    &exp_path,
                    seconds.to_string(),
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if seconds > 1 << 32 {
                errs.push(FieldError::invalid(
                    &exp_path,
                    seconds.to_string(),
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            if token.path.is_empty() {
                errs.push(FieldError::required(format!("{path}.path"), ""));
            } else {
                errs.extend(local_non_reserved_path(&token.path, &format!("{path}.path")));
            }
        }
        if source.cluster_trust_bundle.is_some() {
            count += 1;
        }
        if count > 1 {
            errs.push(FieldError::forbidden(src_path, "may not specify more than 1 volume type"));
        }
    }
    errs
}
