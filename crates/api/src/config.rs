//! ConfigMap and Secret defaulting and validation (upstream `ValidateConfigMap`, `ValidateSecret` and their
//! update rules), with upstream's messages.

use std::collections::BTreeMap;

use runlet_codec::k8s_openapi::ByteString;
use runlet_codec::{ConfigMap, Secret};

use crate::field::{FieldError, quote};
use crate::meta::{self, dedupe, too_long};
use crate::names;

/// The most data a ConfigMap or Secret may hold, summed over its values (upstream `MaxSecretSize`).
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

/// Secret types with rules of their own, and the keys they need.
pub const SECRET_TYPE_OPAQUE: &str = "Opaque";
pub const SECRET_TYPE_SERVICE_ACCOUNT_TOKEN: &str = "kubernetes.io/service-account-token";
pub const SECRET_TYPE_DOCKERCFG: &str = "kubernetes.io/dockercfg";
pub const SECRET_TYPE_DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
pub const SECRET_TYPE_BASIC_AUTH: &str = "kubernetes.io/basic-auth";
pub const SECRET_TYPE_SSH_AUTH: &str = "kubernetes.io/ssh-auth";
pub const SECRET_TYPE_TLS: &str = "kubernetes.io/tls";
const SERVICE_ACCOUNT_NAME_KEY: &str = "kubernetes.io/service-account.name";

/// How validation shows a secret's contents: never.
const REDACTED: &str = "<secret contents redacted>";

fn key_errors(key: &str, path: &str) -> Vec<FieldError> {
    names::config_key(key).into_iter().map(|m| FieldError::invalid(format!("{path}[{key}]"), quote(key), m)).collect()
}

/// Upstream `ValidateConfigMap`: metadata, key syntax, no key in both `data` and `binaryData`, at most 1 MiB.
pub fn validate_config_map(cm: &ConfigMap) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta(&cm.metadata, true, names::dns1123_subdomain);
    let binary = cm.binary_data.as_ref();
    let mut size = 0;
    for (key, value) in cm.data.iter().flatten() {
        errs.extend(key_errors(key, "data"));
        if binary.is_some_and(|b| b.contains_key(key)) {
            errs.push(FieldError::invalid(
                format!("data[{key}]"),
                quote(key),
                "duplicate of key present in binaryData",
            ));
        }
        size += value.len();
    }
    for (key, value) in binary.into_iter().flatten() {
        errs.extend(key_errors(key, "binaryData"));
        size += value.0.len();
    }
    if size > MAX_DATA_SIZE {
        errs.push(too_long("", MAX_DATA_SIZE));
    }
    dedupe(errs)
}

/// Upstream `ValidateConfigMapUpdate`: metadata rules, and nothing changes once `immutable` is set.
pub fn validate_config_map_update(new: &ConfigMap, old: &ConfigMap) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta_update(&new.metadata, &old.metadata);
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(immutable("immutable"));
        }
        if new.data != old.data {
            errs.push(immutable("data"));
        }
        if new.binary_data != old.binary_data {
            errs.push(immutable("binaryData"));
        }
    }
    errs.extend(validate_config_map(new));
    dedupe(errs)
}

fn immutable(path: &str) -> FieldError {
    FieldError::forbidden(path, "field is immutable when `immutable` is set")
}

/// What the API server does to a new or updated Secret before validating it: `stringData` is written into
/// `data` (replacing keys of the same name) and dropped, and an empty `type` becomes `Opaque`.
pub fn prepare_secret(secret: &mut Secret) {
    if let Some(strings) = secret.string_data.take() {
        let data = secret.data.get_or_insert_with(BTreeMap::new);
        for (key, value) in strings {
            data.insert(key, ByteString(value.into_bytes()));
        }
    }
    if secret.type_.as_deref().is_none_or(str::is_empty) {
        secret.type_ = Some(SECRET_TYPE_OPAQUE.to_string());
    }
}

/// Upstream `ValidateSecret`: metadata, key syntax, at most 1 MiB, and the keys each well-known type needs.
pub fn validate_secret(secret: &Secret) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta(&secret.metadata, true, names::dns1123_subdomain);
    let empty = BTreeMap::new();
    let data = secret.data.as_ref().unwrap_or(&empty);
    let mut size = 0;
    for (key, value) in data {
        errs.extend(key_errors(key, "data"));
        size += value.0.len();
    }
    if size > MAX_DATA_SIZE {
        errs.push(too_long("data", MAX_DATA_SIZE));
    }
    let required = |key: &str| FieldError::required(format!("data[{key}]"), "");
    let json_object = |key: &str, errs: &mut Vec<FieldError>| match data.get(key) {
        None => errs.push(required(key)),
        Some(bytes) => {
            if let Err(e) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes.0) {
                errs.push(FieldError::invalid(format!("data[{key}]"), quote(REDACTED), e.to_string()));
            }
        }
    };
    match secret.type_.as_deref().unwrap_or("") {
        SECRET_TYPE_SERVICE_ACCOUNT_TOKEN => {
            let name = secret.metadata.annotations.as_ref().and_then(|a| a.get(SERVICE_ACCOUNT_NAME_KEY));
            if name.is_none_or(|n| n.is_empty()) {
                errs.push(FieldError::required(format!("metadata.annotations[{SERVICE_ACCOUNT_NAME_KEY}]"), ""));
            }
        }
        SECRET_TYPE_DOCKERCFG => json_object(".dockercfg", &mut errs),
        SECRET_TYPE_DOCKER_CONFIG_JSON => json_object(".dockerconfigjson", &mut errs),
        SECRET_TYPE_BASIC_AUTH if !data.contains_key("username") && !data.contains_key("password") => {
            errs.push(required("username"));
            errs.push(required("password"));
        }
        SECRET_TYPE_SSH_AUTH if data.get("ssh-privatekey").is_none_or(|v| v.0.is_empty()) => {
            errs.push(required("ssh-privatekey"));
        }
        SECRET_TYPE_TLS => {
            for key in ["tls.crt", "tls.key"] {
                if !data.contains_key(key) {
                    errs.push(required(key));
                }
            }
        }
        _ => {}
    }
    dedupe(errs)
}

/// Upstream `ValidateSecretUpdate`: metadata rules, `type` frozen, nothing changes once `immutable` is set.
pub fn validate_secret_update(new: &Secret, old: &Secret) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta_update(&new.metadata, &old.metadata);
    if new.type_ != old.type_ {
        errs.push(FieldError::invalid("type", quote(new.type_.as_deref().unwrap_or("")), "field is immutable"));
    }
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(immutable("immutable"));
        }
        if new.data != old.data {
            errs.push(immutable("data"));
        }
    }
    errs.extend(validate_secret(new));
    dedupe(errs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_codec::ObjectMeta;

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta { name: Some(name.into()), namespace: Some("default".into()), ..Default::default() }
    }

    fn strings(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn config_map(data: &[(&str, &str)], binary: &[(&str, &[u8])]) -> ConfigMap {
        ConfigMap {
            metadata: meta("settings"),
            data: Some(data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            binary_data: (!binary.is_empty())
                .then(|| binary.iter().map(|(k, v)| (k.to_string(), ByteString(v.to_vec()))).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn config_map_rules() {
        let big = "x".repeat(MAX_DATA_SIZE);
        let cases: Vec<(ConfigMap, Vec<&str>)> = vec![
            (config_map(&[("app.properties", "a=b"), ("KEY_1", ""), ("key-name", "v")], &[]), vec![]),
            (
                config_map(&[("a/b", "x")], &[]),
                vec![
                    "data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                ],
            ),
            (config_map(&[("..x", "x")], &[]), vec!["data[..x]: Invalid value: \"..x\": must not start with '..'"]),
            (config_map(&[(".", "x")], &[]), vec!["data[.]: Invalid value: \".\": must not be '.'"]),
            (
                config_map(&[("k", "x")], &[("k", b"y")]),
                vec!["data[k]: Invalid value: \"k\": duplicate of key present in binaryData"],
            ),
            (config_map(&[("a", &big)], &[("b", b"1")]), vec![": Too long: may not be more than 1048576 bytes"]),
            (config_map(&[("a", &big)], &[]), vec![]),
        ];
        for (cm, want) in cases {
            assert_eq!(strings(validate_config_map(&cm)), want);
        }
    }

    #[test]
    fn immutable_config_maps_do_not_change() {
        let old = ConfigMap { immutable: Some(true), ..config_map(&[("a", "1")], &[]) };
        let mut new = old.clone();
        new.metadata.labels = Some([("x".to_string(), "y".to_string())].into());
        assert_eq!(strings(validate_config_map_update(&new, &old)), Vec::<String>::new());
        new.data = Some([("a".to_string(), "2".to_string())].into());
        new.immutable = None;
        assert_eq!(
            strings(validate_config_map_update(&new, &old)),
            [
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set"
            ]
        );
    }

    fn secret(type_: &str, data: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: meta("creds"),
            type_: Some(type_.into()),
            data: Some(data.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn secret_types_need_their_keys() {
        let cases: Vec<(Secret, Vec<&str>)> = vec![
            (secret("Opaque", &[("password", "s3cret")]), vec![]),
            (secret("example.com/custom", &[]), vec![]),
            (secret(SECRET_TYPE_DOCKER_CONFIG_JSON, &[(".dockerconfigjson", "{\"auths\":{}}")]), vec![]),
            (secret(SECRET_TYPE_DOCKER_CONFIG_JSON, &[]), vec!["data[.dockerconfigjson]: Required value"]),
            (
                secret(SECRET_TYPE_DOCKER_CONFIG_JSON, &[(".dockerconfigjson", "not json")]),
                vec![
                    "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": expected ident at line 1 column 2",
                ],
            ),
            (
                secret(SECRET_TYPE_BASIC_AUTH, &[]),
                vec!["data[username]: Required value", "data[password]: Required value"],
            ),
            (secret(SECRET_TYPE_BASIC_AUTH, &[("password", "")]), vec![]),
            (secret(SECRET_TYPE_SSH_AUTH, &[("ssh-privatekey", "")]), vec!["data[ssh-privatekey]: Required value"]),
            (secret(SECRET_TYPE_TLS, &[("tls.crt", "c")]), vec!["data[tls.key]: Required value"]),
            (
                secret(SECRET_TYPE_SERVICE_ACCOUNT_TOKEN, &[]),
                vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"],
            ),
            (
                secret("Opaque", &[("bad key", "")]),
                vec![
                    "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                ],
            ),
        ];
        for (s, want) in cases {
            assert_eq!(strings(validate_secret(&s)), want, "{:?}", s.type_);
        }
    }

    #[test]
    fn string_data_goes_into_data_and_type_defaults() {
        let mut s = secret("", &[("a", "old"), ("b", "kept")]);
        s.type_ = None;
        s.string_data = Some([("a".to_string(), "new".to_string())].into());
        prepare_secret(&mut s);
        assert_eq!(s.string_data, None);
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        let data = s.data.unwrap_or_default();
        assert_eq!(data.get("a").map(|v| v.0.as_slice()), Some(&b"new"[..]));
        assert_eq!(data.get("b").map(|v| v.0.as_slice()), Some(&b"kept"[..]));
    }

    #[test]
    fn secret_updates() {
        let old = Secret { immutable: Some(true), ..secret("Opaque", &[("a", "1")]) };
        let mut new = old.clone();
        new.type_ = Some(SECRET_TYPE_TLS.into());
        new.data = Some(BTreeMap::new());
        assert_eq!(
            strings(validate_secret_update(&new, &old)),
            [
                "type: Invalid value: \"kubernetes.io/tls\": field is immutable",
                "data: Forbidden: field is immutable when `immutable` is set",
                "data[tls.crt]: Required value",
                "data[tls.key]: Required value",
            ]
        );
    }
}
