//! Deletes bootstrap token Secrets once they expire, as kube-controller-manager's tokencleaner does: an expired
//! token is refused anyway, but its Secret would stay in `kube-system` for ever. Runs with the controllers (in the
//! leader, when servers share a store).

use std::time::Duration;

use crate::auth::bootstrap;
use crate::meta;
use crate::resources::{Kind, by_kind};
use crate::state::ApiState;

/// How often `kube-system` is looked through (a list from the cache: cheap).
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Forever: deletes expired bootstrap token Secrets.
pub async fn run(state: ApiState) {
    let secrets = by_kind(Kind::Secret);
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        let now = jiff::Timestamp::now();
        let (all, _) = state.store.list(&secrets.namespace_prefix(bootstrap::NAMESPACE));
        for o in all.iter().filter(|o| bootstrap::expired(&o.value, now)) {
            match state.store.delete(&o.key, Some(o.mod_revision)).await {
                Ok(_) => tracing::info!(secret = meta::name(&o.value), "deleted an expired bootstrap token"),
                Err(e) => {
                    tracing::debug!(secret = meta::name(&o.value), error = %e, "could not delete an expired token")
                }
            }
        }
    }
}
