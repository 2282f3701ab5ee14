//! Namespace defaulting and validation.
//!
//! Kept minimal on purpose: `spec.finalizers: ["kubernetes"]` is not added (runlet deletes a namespace's
//! contents itself, without the namespace finalizer protocol).

use std::collections::BTreeMap;

use runlet_codec::Namespace;

use crate::field::{FieldError, quote};
use crate::meta::{self, dedupe};
use crate::names;
use crate::vocab::NamespacePhase;

/// The label every namespace carries with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Status phase `Active` when unset, and the `kubernetes.io/metadata.name` label (upstream
/// `SetDefaults_Namespace`).
pub fn default_namespace(namespace: &mut Namespace) {
    if let Some(name) = namespace.metadata.name.clone().filter(|n| !n.is_empty()) {
        namespace.metadata.labels.get_or_insert_with(BTreeMap::new).insert(NAMESPACE_NAME_LABEL.to_string(), name);
    }
    let status = namespace.status.get_or_insert_with(Default::default);
    if status.phase.as_deref().is_none_or(str::is_empty) {
        status.phase = Some(NamespacePhase::Active.into());
    }
}

fn validate_spec_finalizers(namespace: &Namespace) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for f in namespace.spec.iter().flat_map(|s| s.finalizers.iter().flatten()) {
        let path = "spec.finalizers";
        errs.extend(names::qualified_name(f).into_iter().map(|m| FieldError::invalid(path, quote(f), m)));
        if !f.contains('/') && f != "kubernetes" {
            errs.push(FieldError::invalid(
                path,
                quote(f),
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    errs
}

/// Name a DNS-1123 label, no namespace of its own, valid metadata and finalizers.
pub fn validate_namespace_create(namespace: &Namespace) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta(&namespace.metadata, false, names::dns1123_label);
    errs.extend(validate_spec_finalizers(namespace));
    dedupe(errs)
}

/// Metadata update rules (name, uid and creation time are frozen).
pub fn validate_namespace_update(new: &Namespace, old: &Namespace) -> Vec<FieldError> {
    dedupe(meta::validate_object_meta_update(&new.metadata, &old.metadata))
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_codec::{NamespaceSpec, ObjectMeta};

    fn namespace(name: &str) -> Namespace {
        Namespace { metadata: ObjectMeta { name: Some(name.to_string()), ..Default::default() }, ..Default::default() }
    }

    #[test]
    fn validates_names_as_dns_labels() {
        let rows: &[(&str, &[&str])] = &[
            ("team-a", &[]),
            ("", &["metadata.name: Required value: name or generateName is required"]),
            ("a.b", &["metadata.name: Invalid value: \"a.b\": must not contain dots"]),
            (
                "Team_A",
                &[
                    "metadata.name: Invalid value: \"Team_A\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                ],
            ),
        ];
        for (name, want) in rows {
            let got: Vec<String> =
                validate_namespace_create(&namespace(name)).iter().map(ToString::to_string).collect();
            assert_eq!(&got, want, "name {name:?}");
        }
    }

    #[test]
    fn namespace_field_is_forbidden_and_finalizers_checked() {
        let mut ns = namespace("a");
        ns.metadata.namespace = Some("x".into());
        ns.spec = Some(NamespaceSpec { finalizers: Some(vec!["kubernetes".into(), "custom".into()]) });
        let got: Vec<String> = validate_namespace_create(&ns).iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            vec![
                "metadata.namespace: Forbidden: not allowed on this type",
                "spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified",
            ]
        );
    }

    #[test]
    fn defaults_phase_and_name_label() {
        let mut ns = namespace("team-a");
        default_namespace(&mut ns);
        assert_eq!(ns.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Active"));
        assert_eq!(
            ns.metadata.labels.as_ref().and_then(|l| l.get(NAMESPACE_NAME_LABEL)).map(String::as_str),
            Some("team-a")
        );
    }

    #[test]
    fn update_keeps_name_and_uid() {
        let mut old = namespace("a");
        old.metadata.uid = Some("u1".into());
        let mut new = old.clone();
        new.metadata.uid = Some("u2".into());
        let got: Vec<String> = validate_namespace_update(&new, &old).iter().map(ToString::to_string).collect();
        assert_eq!(got, vec!["metadata.uid: Invalid value: \"u2\": field is immutable"]);
        assert!(validate_namespace_update(&old, &old).is_empty());
    }
}
