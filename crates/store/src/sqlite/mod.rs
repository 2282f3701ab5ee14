//! The SQLite backend: a handle that prepares writes on the caller's task and queues them to
//! the single writer thread (see `writer`), which group-commits them.

mod plan;
mod schema;
mod writer;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};

use futures::future::BoxFuture;
use tokio::sync::{mpsc as tokio_mpsc, oneshot};

use crate::backend::{Backend, BackendStats, Committed, CommittedStream, WriteOp};
use crate::object::{Event, Object, Revision, StoreError, encode_value};
use plan::PreparedOp;
use schema::Location;
use writer::{Request, Shared, Subscriber};

/// Committed batches buffered per subscriber before the writer waits for it.
const COMMITTED_BUFFER: usize = 1024;

pub struct SqliteBackend {
    requests: mpsc::Sender<Request>,
    shared: Arc<Shared>,
}

impl SqliteBackend {
    /// Opens (creating if missing) the database at `path` in WAL mode.
    pub async fn open(path: &Path) -> Result<SqliteBackend, StoreError> {
        Self::start(Location::File(path.to_path_buf())).await
    }

    /// The same engine on an in-memory database (nothing survives the process).
    pub async fn open_memory() -> Result<SqliteBackend, StoreError> {
        Self::start(Location::Memory).await
    }

    async fn start(location: Location) -> Result<SqliteBackend, StoreError> {
        let shared = Arc::new(Shared::default());
        let (requests, receiver) = mpsc::channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        writer::spawn(location, shared.clone(), receiver, ready_tx)?;
        ready_rx.await.map_err(|_| StoreError::Closed)??;
        Ok(SqliteBackend { requests, shared })
    }

    fn send(&self, request: Request) -> Result<(), StoreError> {
        self.requests.send(request).map_err(|_| StoreError::Closed)
    }
}

/// Validates and serializes on the caller's task so the writer thread only plans and executes.
fn prepare(op: WriteOp) -> Result<PreparedOp, StoreError> {
    Ok(match op {
        WriteOp::Create { key, mut value } => {
            let json = encode_value(&key, &mut value)?;
            PreparedOp::Create { key, value, json }
        }
        WriteOp::Update { key, mut value, expected } => {
            let json = encode_value(&key, &mut value)?;
            PreparedOp::Update { key, value, json, expected }
        }
        WriteOp::Delete { key, expected } => PreparedOp::Delete { key, expected },
    })
}

impl Backend for SqliteBackend {
    fn range(&self, prefix: &str) -> BoxFuture<'_, Result<(Vec<Object>, Revision), StoreError>> {
        let prefix = prefix.to_owned();
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            self.send(Request::Range { prefix, reply })?;
            answer.await.map_err(|_| StoreError::Closed)
        })
    }

    fn txn(&self, op: WriteOp) -> BoxFuture<'_, Result<Event, StoreError>> {
        Box::pin(async move {
            let op = prepare(op)?;
            let (reply, answer) = oneshot::channel();
            self.send(Request::Write { op, reply })?;
            answer.await.map_err(|_| StoreError::Closed)?
        })
    }

    /// This backend keeps no history of its own: only `after >= revision()` can be watched.
    fn watch(&self, after: Revision) -> Result<CommittedStream, StoreError> {
        let (tx, mut rx) = tokio_mpsc::channel(COMMITTED_BUFFER);
        {
            let mut subscribers = self.shared.lock_subscribers();
            let current = self.shared.revision.load(Ordering::SeqCst);
            if after < current {
                return Err(StoreError::Expired { requested: after, oldest: current });
            }
            subscribers.push(Subscriber { after, tx });
        }
        Ok(Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|batch| batch.map(Committed::Events)))))
    }

    fn revision(&self) -> Revision {
        self.shared.revision.load(Ordering::SeqCst)
    }

    fn stats(&self) -> BackendStats {
        self.shared.stats()
    }
}
