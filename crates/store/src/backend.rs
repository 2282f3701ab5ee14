//! The durable layer under the cache, shaped like etcd's KV + Watch API: the SQLite backend and
//! the etcd backend sit behind it without `Store` knowing which one it has.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde_json::Value;

use crate::object::{Event, Object, Revision, StoreError};

/// One conditional write (an etcd `Txn` with a single compare and a single op).
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Succeeds only if the key does not exist.
    Create { key: Arc<str>, value: Value },
    /// Succeeds only if the key exists and (when `expected` is set) its mod_revision equals it.
    Update { key: Arc<str>, value: Value, expected: Option<Revision> },
    /// Succeeds only if the key exists and (when `expected` is set) its mod_revision equals it.
    Delete { key: Arc<str>, expected: Option<Revision> },
}

impl WriteOp {
    pub fn key(&self) -> &Arc<str> {
        match self {
            WriteOp::Create { key, .. } | WriteOp::Update { key, .. } | WriteOp::Delete { key, .. } => key,
        }
    }
}

/// Counters a backend keeps about its write path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackendStats {
    /// Transactions committed (each may carry many writes: group commit).
    pub commits: u64,
    /// Writes that succeeded (each got its own revision).
    pub writes: u64,
    /// Writes refused by their precondition (AlreadyExists, NotFound, Conflict).
    pub rejected: u64,
}

/// What a backend's committed stream carries, in revision order, with no gaps after the requested revision.
#[derive(Debug, Clone)]
pub enum Committed {
    /// Writes committed at increasing revisions.
    Events(Vec<Event>),
    /// Nothing under the backend's keys changed up to this revision (a revision that went to
    /// something else, such as etcd's own bookkeeping or another tenant of the same etcd).
    Progress(Revision),
    /// The stream lost events it cannot replay (etcd compacted the history it needed while its
    /// watch was cut off): this is the whole state now. Watches that were open must start again.
    Reset { objects: Vec<Object>, revision: Revision },
}

pub type CommittedStream = BoxStream<'static, Committed>;

pub trait Backend: Send + Sync + 'static {
    /// Every object whose key starts with `prefix`, sorted by key, and the revision they are
    /// consistent at. Values carry `metadata.resourceVersion` = their mod_revision.
    fn range(&self, prefix: &str) -> BoxFuture<'_, Result<(Vec<Object>, Revision), StoreError>>;

    /// Applies one conditional write. Resolves only once the write is durable and published
    /// (`revision()` covers it, and a refused write's answer comes after every write it was
    /// judged against is published); the returned event is the one the committed stream
    /// carries for it.
    fn txn(&self, op: WriteOp) -> BoxFuture<'_, Result<Event, StoreError>>;

    /// The committed events with revision > `after`. Err(Expired) if the backend no longer
    /// has them. The stream ends when the backend shuts down.
    fn watch(&self, after: Revision) -> Result<CommittedStream, StoreError>;

    /// The latest committed revision.
    fn revision(&self) -> Revision;

    fn stats(&self) -> BackendStats;
}
