//! Whether this agent may run a node: not while another live agent holds the node's Lease. Each agent has an
//! id of its own, kept in its directory (so an agent restarted on the same directory, after a crash, is the
//! same agent and takes its node back at once) and written on the Lease it renews.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use runlet_codec::Lease;

/// The annotation on a node's Lease naming the agent that renews it.
pub const AGENT_ID_ANNOTATION: &str = "runlet.dev/agent-id";

/// The file in the agent's directory holding its id.
const ID_FILE: &str = "agent-id";

/// Why a node name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "node {node:?} is run by another agent ({holder}), which renewed its Lease {ago}s ago (it counts as alive \
     for {duration}s); stop it, or pick another --node-name"
)]
pub struct NodeInUse {
    pub node: String,
    pub holder: String,
    pub ago: i64,
    pub duration: i64,
}

/// Refuses the node when its Lease names another agent and was renewed within its duration. A Lease without an
/// agent id (an older agent, or one written by hand) names nobody.
pub fn may_run(node: &str, lease: Option<&Lease>, me: &str, now: Timestamp) -> Result<(), NodeInUse> {
    let Some(lease) = lease else { return Ok(()) };
    let holder = lease.metadata.annotations.as_ref().and_then(|a| a.get(AGENT_ID_ANNOTATION));
    let Some(holder) = holder.filter(|h| h.as_str() != me) else { return Ok(()) };
    let Some(spec) = lease.spec.as_ref() else { return Ok(()) };
    let (Some(renewed), Some(duration)) = (spec.renew_time.as_ref(), spec.lease_duration_seconds) else {
        return Ok(());
    };
    let ago = now.duration_since(renewed.0);
    if ago >= SignedDuration::from_secs(i64::from(duration)) {
        return Ok(());
    }
    Err(NodeInUse { node: node.into(), holder: holder.clone(), ago: ago.as_secs().max(0), duration: duration.into() })
}

/// The Lease this agent writes to hold `node` now: `held` renewed (its `resourceVersion` kept, so the write is
/// compare-and-swap and, of two agents claiming at the same instant, only one succeeds), or a new one to create
/// when there is none. Refused while another live agent holds it.
pub fn next_lease(
    node: &str,
    held: Option<&Lease>,
    me: &str,
    now: Timestamp,
    duration_seconds: i32,
) -> Result<Lease, NodeInUse> {
    may_run(node, held, me, now)?;
    let mut lease = held.cloned().unwrap_or_else(|| Lease {
        metadata: runlet_codec::ObjectMeta {
            name: Some(node.into()),
            namespace: Some(super::register::LEASE_NAMESPACE.into()),
            ..Default::default()
        },
        spec: None,
    });
    lease.metadata.annotations.get_or_insert_with(Default::default).insert(AGENT_ID_ANNOTATION.into(), me.into());
    let spec = lease.spec.get_or_insert_with(Default::default);
    if spec.holder_identity.as_deref() != Some(node) || held.is_none() {
        // Kubernetes' node leases name the node; a change of holder is an acquisition.
        spec.acquire_time = Some(runlet_codec::MicroTime(now));
    }
    spec.holder_identity = Some(node.into());
    spec.lease_duration_seconds = Some(duration_seconds);
    spec.renew_time = Some(runlet_codec::MicroTime(now));
    Ok(lease)
}

/// This agent's id: read from its directory, or made and written there the first time.
pub fn agent_id(root: &Path) -> std::io::Result<String> {
    let path = root.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        Ok(_) => write_new_id(root, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_new_id(root, &path),
        Err(e) => Err(e),
    }
}

fn write_new_id(root: &Path, path: &Path) -> std::io::Result<String> {
    std::fs::create_dir_all(root)?;
    let id = uuid::Uuid::new_v4().to_string();
    let tmp = root.join(format!("{ID_FILE}.tmp"));
    std::fs::write(&tmp, &id)?;
    std::fs::rename(&tmp, path)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn lease(agent: Option<&str>, renewed: i64) -> Lease {
        serde_json::from_value(json!({
            "metadata": {"name": "n2", "annotations": agent.map(|a| json!({AGENT_ID_ANNOTATION: a}))},
            "spec": {"holderIdentity": "n2", "leaseDurationSeconds": 40,
                     "renewTime": runlet_codec::MicroTime(at(renewed))}
        }))
        .unwrap()
    }

    #[test]
    fn who_may_run_a_node() {
        let cases = [
            ("no lease yet", None, true),
            ("our own lease (a restart)", Some(lease(Some("me"), 95)), true),
            ("another agent, renewed 5s ago", Some(lease(Some("other"), 95)), false),
            ("another agent, renewed 39s ago", Some(lease(Some("other"), 61)), false),
            ("another agent, silent for the lease's 40s", Some(lease(Some("other"), 60)), true),
            ("a lease naming no agent", Some(lease(None, 99)), true),
        ];
        for (name, lease, allowed) in cases {
            assert_eq!(may_run("n2", lease.as_ref(), "me", at(100)).is_ok(), allowed, "{name}");
        }
        let refused = may_run("n2", Some(&lease(Some("other"), 95)), "me", at(100)).unwrap_err();
        assert_eq!((refused.holder.as_str(), refused.ago, refused.duration), ("other", 5, 40));
    }

    #[test]
    fn the_lease_written_keeps_the_version_read() {
        let mut held = lease(Some("me"), 95);
        held.metadata.resource_version = Some("41".into());
        held.metadata.annotations.get_or_insert_with(Default::default).insert("user".into(), "kept".into());
        let renewed = next_lease("n2", Some(&held), "me", at(100), 40).unwrap();
        assert_eq!(renewed.metadata.resource_version.as_deref(), Some("41"), "compare-and-swap on what was read");
        let annotations = renewed.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(annotations.get("user").map(String::as_str), Some("kept"));
        assert_eq!(annotations.get(AGENT_ID_ANNOTATION).map(String::as_str), Some("me"));
        assert_eq!(renewed.spec.as_ref().and_then(|s| s.renew_time.clone()), Some(runlet_codec::MicroTime(at(100))));

        let new = next_lease("n2", None, "me", at(100), 40).unwrap();
        assert_eq!(new.metadata.resource_version, None, "created, so two creations cannot both succeed");
        assert_eq!(new.metadata.namespace.as_deref(), Some("kube-node-lease"));
        let spec = new.spec.unwrap_or_default();
        assert_eq!((spec.holder_identity.as_deref(), spec.lease_duration_seconds), (Some("n2"), Some(40)));

        let taken = next_lease("n2", Some(&lease(Some("other"), 95)), "me", at(100), 40);
        assert_eq!(taken.map_err(|e| e.holder), Err("other".to_string()));
    }

    #[test]
    fn the_id_stays_with_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = agent_id(dir.path()).unwrap();
        assert_eq!(agent_id(dir.path()).unwrap(), first, "read back");
        let other = tempfile::tempdir().unwrap();
        assert_ne!(agent_id(other.path()).unwrap(), first, "another directory, another agent");
    }
}
