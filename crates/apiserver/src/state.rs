//! What every handler shares.

use std::sync::Arc;

use runlet_store::Store;

use crate::logs::LogSource;
use crate::observe::audit::AuditLog;
use crate::observe::health::{self, Checks};

/// Largest request body accepted (upstream's limit is 3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    /// Where pod logs come from (the node agents); None answers "waiting to start" for every container.
    pub logs: Option<Arc<dyn LogSource>>,
    /// The `/livez`, `/readyz` and `/healthz` checks (`ping` and `store` from the start; others are added by
    /// whoever runs the components they check).
    pub health: Checks,
    /// Where requests are audited; None (the default) audits nothing.
    pub audit: Option<Arc<AuditLog>>,
    /// What admission adds to new objects (the default tolerations of pods).
    pub admission: crate::strategy::Admission,
    /// The cluster CA, which signs nodes' client certificates; None answers certificate requests with 503.
    pub signer: Option<Arc<crate::auth::certs::Signer>>,
}

impl ApiState {
    pub fn new(store: Store) -> Self {
        let state = ApiState {
            store,
            logs: None,
            admission: Default::default(),
            health: Checks::default(),
            audit: None,
            signer: None,
        };
        health::register_builtin(&state);
        state
    }

    pub fn with_audit(mut self, audit: Arc<AuditLog>) -> Self {
        self.audit = Some(audit);
        self
    }

    pub fn with_logs(mut self, logs: Arc<dyn LogSource>) -> Self {
        self.logs = Some(logs);
        self
    }
}
