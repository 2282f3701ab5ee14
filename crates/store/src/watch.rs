//! Watch streams and the fan-out of committed events to them.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use crate::object::{Event, Revision};

/// Live events buffered per watcher. A watcher this far behind is closed rather than
/// slowing writers or holding unbounded memory; its client re-watches from its last revision.
pub const WATCH_BUFFER: usize = 4096;

/// A stream of events under one prefix. Ends when the watcher fell too far behind or the
/// store shut down.
pub struct Watch {
    /// Events known at registration (snapshot or history replay), delivered first. Kept
    /// outside the channel so a large snapshot never counts against the live buffer.
    backlog: VecDeque<Event>,
    live: mpsc::Receiver<Event>,
}

impl Watch {
    pub async fn next(&mut self) -> Option<Event> {
        futures::StreamExt::next(self).await
    }
}

impl Stream for Watch {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let this = self.get_mut();
        if let Some(event) = this.backlog.pop_front() {
            return Poll::Ready(Some(event));
        }
        this.live.poll_recv(cx)
    }
}

struct Watcher {
    prefix: String,
    /// Only events after this revision are sent (the backlog covers the rest).
    after: Revision,
    tx: mpsc::Sender<Event>,
}

/// The registered watchers.
#[derive(Default)]
pub(crate) struct Watchers {
    list: Vec<Watcher>,
}

impl Watchers {
    pub fn register(&mut self, prefix: &str, after: Revision, backlog: VecDeque<Event>) -> Watch {
        self.list.retain(|w| !w.tx.is_closed());
        let (tx, live) = mpsc::channel(WATCH_BUFFER);
        self.list.push(Watcher { prefix: prefix.to_owned(), after, tx });
        Watch { backlog, live }
    }

    /// Sends each event to the watchers whose prefix it matches. Drops watchers that are
    /// gone or whose buffer is full (dropping the sender ends their stream after the buffer).
    pub fn fan_out(&mut self, events: &[Event]) {
        self.list.retain(|watcher| {
            if watcher.tx.is_closed() {
                return false;
            }
            for event in events {
                if event.revision() <= watcher.after || !event.object.key.starts_with(&watcher.prefix) {
                    continue;
                }
                if let Err(error) = watcher.tx.try_send(event.clone()) {
                    if matches!(error, mpsc::error::TrySendError::Full(_)) {
                        tracing::debug!(prefix = %watcher.prefix, "closing a watcher that fell behind");
                    }
                    return false;
                }
            }
            true
        });
    }

    pub fn len(&self) -> usize {
        self.list.iter().filter(|w| !w.tx.is_closed()).count()
    }

    /// Ends every stream (the store is shutting down).
    pub fn close_all(&mut self) {
        self.list.clear();
    }
}
