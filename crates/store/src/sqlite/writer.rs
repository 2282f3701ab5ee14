//! The writer thread: sole owner of the SQLite connection. It drains every pending request,
//! commits all writes of the drain in one transaction (one fsync), publishes the committed
//! events, and only then answers the callers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use rusqlite::Connection;
use tokio::sync::{mpsc as tokio_mpsc, oneshot};

use super::plan::{Index, PreparedOp, apply_staged, plan_batch};
use super::schema::{self, Location};
use crate::backend::BackendStats;
use crate::object::{Event, Object, Revision, StoreError};

/// Upper bound on writes per transaction, so one commit's latency and memory stay bounded
/// even under a flood; the rest go in the next transaction.
const MAX_BATCH: usize = 4096;

pub(crate) type WriteReply = oneshot::Sender<Result<Event, StoreError>>;
pub(crate) type RangeReply = oneshot::Sender<(Vec<Object>, Revision)>;

pub(crate) enum Request {
    Write { op: PreparedOp, reply: WriteReply },
    Range { prefix: String, reply: RangeReply },
}

/// A consumer of committed batches with revision > `after`.
pub(crate) struct Subscriber {
    pub after: Revision,
    pub tx: tokio_mpsc::Sender<Vec<Event>>,
}

/// State the writer shares with the backend handle.
#[derive(Default)]
pub(crate) struct Shared {
    /// The last committed revision. Only changed while `subscribers` is locked, so a new
    /// subscriber sees a revision that matches exactly the batches it will be sent.
    pub revision: AtomicI64,
    pub subscribers: Mutex<Vec<Subscriber>>,
    commits: AtomicU64,
    writes: AtomicU64,
    rejected: AtomicU64,
}

impl Shared {
    pub fn stats(&self) -> BackendStats {
        BackendStats {
            commits: self.commits.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }

    pub fn lock_subscribers(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        self.subscribers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts the writer thread. `ready` reports once the database is loaded, or why opening failed.
pub(crate) fn spawn(
    location: Location,
    shared: Arc<Shared>,
    requests: mpsc::Receiver<Request>,
    ready: oneshot::Sender<Result<(), StoreError>>,
) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name("runlet-store-writer".into())
        .spawn(move || {
            // Ending the committed streams (even on an unexpected unwind) tells the cache the
            // backend is gone, so waiters and watchers end instead of hanging.
            let _clear = ClearSubscribersOnExit(shared.clone());
            let opened = schema::open(&location).and_then(|conn| {
                let (index, revision) = schema::load(&conn)?;
                Ok((conn, index, revision))
            });
            let (conn, index, revision) = match opened {
                Ok(opened) => opened,
                Err(e) => {
                    let _ = ready.send(Err(StoreError::Backend(format!("opening sqlite store: {e}"))));
                    return;
                }
            };
            shared.revision.store(revision, Ordering::SeqCst);
            if ready.send(Ok(())).is_err() {
                return; // the opener gave up
            }
            let mut writer = Writer { conn, index, revision, shared };
            writer.run(&requests);
        })
        .map(|_| ())
        .map_err(|e| StoreError::Backend(format!("starting store writer thread: {e}")))
}

struct ClearSubscribersOnExit(Arc<Shared>);

impl Drop for ClearSubscribersOnExit {
    fn drop(&mut self) {
        self.0.lock_subscribers().clear();
    }
}

struct Writer {
    conn: Connection,
    index: Index,
    revision: Revision,
    shared: Arc<Shared>,
}

impl Writer {
    fn run(&mut self, requests: &mpsc::Receiver<Request>) {
        // Exits when every sender (the backend handle) is gone.
        while let Ok(first) = requests.recv() {
            let mut writes = Vec::new();
            let mut ranges = Vec::new();
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Write { op, reply } => writes.push((op, reply)),
                    Request::Range { prefix, reply } => ranges.push((prefix, reply)),
                }
                if writes.len() < MAX_BATCH {
                    next = requests.try_recv().ok();
                }
            }
            if !writes.is_empty() {
                self.commit_batch(writes);
            }
            for (prefix, reply) in ranges {
                let _ = reply.send((self.range(&prefix), self.revision));
            }
        }
    }

    fn range(&self, prefix: &str) -> Vec<Object> {
        schema::range(&self.conn, &self.index, prefix).unwrap_or_else(|e| {
            tracing::error!(error = %e, prefix, "could not read the store's rows");
            Vec::new()
        })
    }

    fn commit_batch(&mut self, writes: Vec<(PreparedOp, WriteReply)>) {
        let (ops, replies): (Vec<PreparedOp>, Vec<WriteReply>) = writes.into_iter().unzip();
        // A delete event carries the last state: read the rows the batch deletes.
        let deleted: Vec<Arc<str>> = ops
            .iter()
            .filter_map(|op| match op {
                PreparedOp::Delete { key, .. } if self.index.contains_key(key) => Some(key.clone()),
                _ => None,
            })
            .collect();
        let stored = if deleted.is_empty() {
            HashMap::new()
        } else {
            schema::values(&self.conn, &deleted).unwrap_or_else(|e| {
                // Those deletes fail (the plan cannot build their events); the rest of the batch goes on.
                tracing::error!(error = %e, "could not read rows to delete");
                HashMap::new()
            })
        };
        let plan = plan_batch(&self.index, &stored, self.revision, ops);
        let events = plan.events();
        let rejected = plan.results.len() - events.len();
        self.shared.rejected.fetch_add(rejected as u64, Ordering::Relaxed);
        if !events.is_empty() {
            let started = std::time::Instant::now();
            let committed = schema::commit(&mut self.conn, &plan.rows, plan.revision);
            let store_metrics = &runlet_metrics::global().store;
            let backend = runlet_metrics::BackendLabels { backend: "sqlite" };
            store_metrics.commit_duration.get_or_create(&backend).observe(started.elapsed().as_secs_f64());
            store_metrics.commit_batch_size.get_or_create(&backend).observe(events.len() as f64);
            if let Err(e) = committed {
                // The whole batch rolled back; even the rejections were judged against state
                // that includes rolled-back writes, so every caller gets the failure.
                tracing::error!(error = %e, writes = plan.results.len(), "store commit failed");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Backend(format!("commit failed: {e}"))));
                }
                return;
            }
            apply_staged(&mut self.index, plan.staged);
            self.revision = plan.revision;
            self.shared.commits.fetch_add(1, Ordering::Relaxed);
            self.shared.writes.fetch_add(events.len() as u64, Ordering::Relaxed);
            self.publish(events);
        }
        for (reply, result) in replies.into_iter().zip(plan.results) {
            // A caller that stopped waiting still had its write committed; nothing to undo.
            let _ = reply.send(result);
        }
    }

    /// Sends a committed batch to every subscriber, then answers nobody until it is sent:
    /// a full subscriber channel slows the writer down instead of growing memory.
    fn publish(&self, events: Vec<Event>) {
        let targets: Vec<(Revision, tokio_mpsc::Sender<Vec<Event>>)> = {
            let mut subscribers = self.shared.lock_subscribers();
            self.shared.revision.store(self.revision, Ordering::SeqCst);
            subscribers.retain(|s| !s.tx.is_closed());
            subscribers.iter().map(|s| (s.after, s.tx.clone())).collect()
        };
        // Sent outside the lock so a subscriber registering never waits on a full channel.
        for (after, tx) in targets {
            let batch: Vec<Event> = if events.first().is_some_and(|e| e.revision() > after) {
                events.clone()
            } else {
                events.iter().filter(|e| e.revision() > after).cloned().collect()
            };
            if !batch.is_empty() {
                let _ = tx.blocking_send(batch);
            }
        }
    }
}
