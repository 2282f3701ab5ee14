//! Revisioned object store shaped like etcd: one global revision, compare-and-swap writes,
//! list at a revision, and watch from a revision. A `Backend` (SQLite in one file, or a real
//! etcd shared by several servers) makes writes durable and streams the committed events; `Store`
//! keeps an in-memory cache fed by that stream and fans events out to watchers.

pub mod backend;
mod cache;
pub mod etcd;
mod object;
mod pack;
pub mod sqlite;
mod watch;

use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use serde_json::Value;
use tokio::sync::watch as progress;

pub use backend::{Backend, BackendStats, Committed, CommittedStream, WriteOp};
pub use etcd::{Compactor, EtcdBackend, EtcdOptions, EtcdTls, KeySpace};
pub use object::{Compact, Event, EventType, MAX_VALUE_BYTES, Object, Page, PageRequest, Revision, StoreError};
pub use sqlite::SqliteBackend;
pub use watch::{WATCH_BUFFER, Watch};

use cache::{Cache, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Events kept for watch-from-revision.
    pub history: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { history: 100_000 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Backend transactions committed (group commit: usually fewer than `writes`).
    pub commits: u64,
    /// Successful writes.
    pub writes: u64,
    /// Writes the backend refused by their precondition (AlreadyExists, NotFound, Conflict).
    pub rejected: u64,
    /// Watch streams currently open.
    pub watchers: usize,
}

/// The store. Cheap to clone. Dropping the last clone shuts the backend down and ends every watch.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Box<dyn Backend>,
    cache: Arc<Cache>,
    /// The revision the cache has reached; writes wait on it for read-your-writes.
    applied: progress::Receiver<Revision>,
}

impl Store {
    /// SQLite in WAL mode at `path` (created if missing); loads everything into the cache.
    pub async fn open_sqlite(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        Store::with_backend(SqliteBackend::open(path).await?, options).await
    }

    /// Same engine, in memory.
    pub async fn open_memory(options: StoreOptions) -> Result<Store, StoreError> {
        Store::with_backend(SqliteBackend::open_memory().await?, options).await
    }

    /// On etcd: connects, then loads everything under the key space into the cache.
    pub async fn open_etcd(etcd: EtcdOptions, options: StoreOptions) -> Result<Store, StoreError> {
        Store::with_backend(EtcdBackend::connect(etcd).await?, options).await
    }

    /// A store over any backend: follows the backend's committed events, then loads everything.
    /// Must be called inside a Tokio runtime (spawns a task).
    pub async fn with_backend(backend: impl Backend, options: StoreOptions) -> Result<Store, StoreError> {
        // Subscribed before the range is read, so a write committed in between is in the stream
        // (the cache skips the streamed events the range already holds) instead of being lost
        // or making the subscription fail as too old.
        let mut committed = backend.watch(backend.revision())?;
        let (objects, revision) = backend.range("").await?;
        let cache = Arc::new(Cache::new(State::new(objects, revision, options.history)));
        let (applied_tx, applied) = progress::channel(revision);
        let follower = cache.clone();
        tokio::spawn(async move {
            while let Some(committed) = committed.next().await {
                let reached = match committed {
                    Committed::Events(batch) => follower.apply(batch),
                    Committed::Progress(revision) => follower.progress(revision),
                    Committed::Reset { objects, revision } => {
                        tracing::warn!(revision, "the store's backend lost history: reloaded, and open watches end");
                        follower.reset(objects, revision)
                    }
                };
                applied_tx.send_replace(reached);
            }
            // The backend is gone: watches end, and writes still waiting get Closed when
            // `applied_tx` drops here.
            follower.close();
        });
        Ok(Store { inner: Arc::new(Inner { backend: Box::new(backend), cache, applied }) })
    }

    /// The current global revision (the one `get`/`list` are consistent with).
    pub fn revision(&self) -> Revision {
        self.inner.cache.revision()
    }

    pub fn get(&self, key: &str) -> Option<Object> {
        self.inner.cache.get(key)
    }

    /// Whether any object's key starts with `prefix` (without copying any of them).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.inner.cache.has_prefix(prefix)
    }

    /// How many objects have keys under `prefix` (nothing is copied or parsed).
    pub fn count(&self, prefix: &str) -> usize {
        self.inner.cache.count(prefix)
    }

    /// Calls `visit` with each object under `prefix`, in key order, parsed one at a time: a pass over many objects
    /// that keeps none of them holds one parsed object at a time, where [`Store::list`] parses them all first.
    /// Returns the revision the objects are consistent at.
    pub fn for_each(&self, prefix: &str, mut visit: impl FnMut(Object)) -> Revision {
        self.inner.cache.for_each(prefix, &mut visit)
    }

    /// Objects under `prefix`, sorted by key, with the revision they are consistent at.
    pub fn list(&self, prefix: &str) -> (Vec<Object>, Revision) {
        self.inner.cache.list(prefix)
    }

    /// One page of a chunked list: the objects under the prefix `keep` keeps, from a key on, as they are or as
    /// they were at an earlier revision (a continued list). Err(Expired) once that revision's history is gone.
    /// `keep` sees the compact form: a filter that needs only part of an object can parse only that part.
    pub fn list_page(&self, request: PageRequest<'_>, keep: &dyn Fn(&Compact) -> bool) -> Result<Page, StoreError> {
        self.inner.cache.page(request, keep)
    }

    /// Err(AlreadyExists) if the key exists.
    pub async fn create(&self, key: &str, value: Value) -> Result<Object, StoreError> {
        self.write(WriteOp::Create { key: Arc::from(key), value }).await
    }

    /// `expected`: compare-and-swap on mod_revision (None = unconditional, but the key must
    /// exist). The value's own `metadata.resourceVersion` is ignored and replaced.
    pub async fn update(&self, key: &str, value: Value, expected: Option<Revision>) -> Result<Object, StoreError> {
        self.write(WriteOp::Update { key: Arc::from(key), value, expected }).await
    }

    /// Returns the deleted object's last state at the delete's revision.
    pub async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Object, StoreError> {
        self.write(WriteOp::Delete { key: Arc::from(key), expected }).await
    }

    /// Watch a prefix. `from = None`: a synthetic Added event for every current object under
    /// the prefix, then every later change. `from = Some(r)`: only changes with revision > r;
    /// Err(Expired) if history after r is no longer retained.
    pub fn watch(&self, prefix: &str, from: Option<Revision>) -> Result<Watch, StoreError> {
        self.inner.cache.watch(prefix, from)
    }

    pub fn stats(&self) -> StoreStats {
        let backend = self.inner.backend.stats();
        StoreStats {
            commits: backend.commits,
            writes: backend.writes,
            rejected: backend.rejected,
            watchers: self.inner.cache.watcher_count(),
        }
    }

    /// Durable via the backend, then visible in the cache before returning (read-your-writes).
    /// A write refused by its precondition returns once the cache shows the state it was judged
    /// against, so a caller that re-reads after losing a race sees what it lost to.
    /// Dropping the future does not cancel a write already queued.
    async fn write(&self, op: WriteOp) -> Result<Object, StoreError> {
        match self.inner.backend.txn(op).await {
            Ok(event) => {
                self.cache_reaches(event.revision()).await?;
                Ok(event.object)
            }
            Err(
                refused
                @ (StoreError::AlreadyExists { .. } | StoreError::NotFound { .. } | StoreError::Conflict { .. }),
            ) => {
                // The backend answers only after publishing what it committed, so its revision now
                // covers every write the refusal saw.
                self.cache_reaches(self.inner.backend.revision()).await?;
                Err(refused)
            }
            Err(other) => Err(other),
        }
    }

    async fn cache_reaches(&self, revision: Revision) -> Result<(), StoreError> {
        let mut applied = self.inner.applied.clone();
        applied.wait_for(|reached| *reached >= revision).await.map(|_| ()).map_err(|_| StoreError::Closed)
    }
}
