//! The ConfigMaps and Secrets a pod refers to (env, envFrom, volumes), as read from the API just before a
//! container starts. A snapshot keeps the preparation of a container pure.

use std::collections::{BTreeMap, BTreeSet};

use runlet_codec::{ConfigMap, Pod, Secret};

/// What the API answered for each referenced object: `None` when it does not exist.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub namespace: String,
    pub config_maps: BTreeMap<String, Option<ConfigMap>>,
    pub secrets: BTreeMap<String, Option<Secret>>,
}

/// The data of one object, as a kubelet sees it: ConfigMap `data` and `binaryData`, or Secret `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ConfigMap,
    Secret,
}

impl Kind {
    /// `configmap "x" not found`, as the kubelet's error reads.
    fn lower(self) -> &'static str {
        match self {
            Kind::ConfigMap => "configmap",
            Kind::Secret => "secret",
        }
    }
    /// `couldn't find key k in ConfigMap ns/x`.
    pub fn title(self) -> &'static str {
        match self {
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        }
    }
}

impl Sources {
    /// The object's entries as bytes, or the kubelet's not-found message. Secrets' values never appear in
    /// messages: only names and keys do.
    pub fn data(&self, kind: Kind, name: &str) -> Result<BTreeMap<String, Vec<u8>>, String> {
        let not_found = || format!("{} {name:?} not found", kind.lower());
        match kind {
            Kind::ConfigMap => {
                let cm = self.config_maps.get(name).and_then(Option::as_ref).ok_or_else(not_found)?;
                let mut out: BTreeMap<String, Vec<u8>> =
                    cm.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
                out.extend(cm.binary_data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())));
                Ok(out)
            }
            Kind::Secret => {
                let s = self.secrets.get(name).and_then(Option::as_ref).ok_or_else(not_found)?;
                Ok(s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect())
            }
        }
    }
}

/// The names of the ConfigMaps and Secrets a pod refers to anywhere.
pub fn referenced(pod: &Pod) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut cms = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let Some(spec) = pod.spec.as_ref() else { return (cms, secrets) };
    for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
        for var in c.env.iter().flatten() {
            if let Some(from) = &var.value_from {
                if let Some(r) = &from.config_map_key_ref {
                    cms.insert(r.name.clone());
                }
                if let Some(r) = &from.secret_key_ref {
                    secrets.insert(r.name.clone());
                }
            }
        }
        for from in c.env_from.iter().flatten() {
            if let Some(r) = &from.config_map_ref {
                cms.insert(r.name.clone());
            }
            if let Some(r) = &from.secret_ref {
                secrets.insert(r.name.clone());
            }
        }
    }
    // Credentials for the `oci` handler's pulls.
    for r in spec.image_pull_secrets.iter().flatten() {
        secrets.insert(r.name.clone());
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(cm) = &v.config_map {
            cms.insert(cm.name.clone());
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            secrets.insert(s);
        }
        for source in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(cm) = &source.config_map {
                cms.insert(cm.name.clone());
            }
            if let Some(s) = &source.secret {
                secrets.insert(s.name.clone());
            }
        }
    }
    cms.retain(|n| !n.is_empty());
    secrets.retain(|n| !n.is_empty());
    (cms, secrets)
}
