//! What every handler shares.

use std::sync::Arc;

use runlet_store::Store;

use crate::logs::LogSource;

/// Largest request body accepted (upstream's limit is 3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    /// Where pod logs come from (the node agents); None answers "waiting to start" for every container.
    pub logs: Option<Arc<dyn LogSource>>,
    /// What admission adds to new objects (the default tolerations of pods).
    pub admission: crate::strategy::Admission,
}

impl ApiState {
    pub fn new(store: Store) -> Self {
        ApiState { store, logs: None, admission: Default::default() }
    }

    pub fn with_logs(mut self, logs: Arc<dyn LogSource>) -> Self {
        self.logs = Some(logs);
        self
    }
}
