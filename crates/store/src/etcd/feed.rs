//! The backend's committed stream: what the etcd watch delivered, handed to each subscriber in
//! order, and the revision it has reached, which writes wait on.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, watch};

use crate::backend::{Committed, CommittedStream};
use crate::object::{Revision, StoreError};

/// Items buffered per subscriber before the watch loop waits for it.
const SUBSCRIBER_BUFFER: usize = 1024;

struct Subscriber {
    /// Only events after this revision are sent.
    after: Revision,
    tx: mpsc::Sender<Committed>,
}

#[derive(Default)]
struct Subscribers {
    list: Vec<Subscriber>,
    closed: bool,
}

pub(crate) struct Feed {
    /// Changed only while `subscribers` is locked, so a new subscriber's `after` matches exactly the
    /// items it will be sent.
    reached: watch::Sender<Revision>,
    subscribers: Mutex<Subscribers>,
}

impl Feed {
    pub fn new(revision: Revision) -> Arc<Feed> {
        Arc::new(Feed { reached: watch::Sender::new(revision), subscribers: Mutex::default() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Subscribers> {
        self.subscribers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The revision everything delivered so far is consistent at.
    pub fn revision(&self) -> Revision {
        *self.reached.borrow()
    }

    /// Everything after `after`; only from the current revision on (the backend keeps no history).
    pub fn subscribe(&self, after: Revision) -> Result<CommittedStream, StoreError> {
        let (tx, mut rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        {
            let mut subscribers = self.lock();
            if subscribers.closed {
                return Err(StoreError::Closed);
            }
            let current = self.revision();
            if after < current {
                return Err(StoreError::Expired { requested: after, oldest: current });
            }
            subscribers.list.push(Subscriber { after, tx });
        }
        Ok(Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx))))
    }

    /// Waits until the delivered revision is at least `revision`; false if the feed closed first.
    pub async fn reaches(&self, revision: Revision) -> bool {
        self.reached.subscribe().wait_for(|reached| *reached >= revision).await.is_ok()
    }

    /// Sends `items` (in order) to every subscriber and records `reached` as delivered. Waits for
    /// subscribers with a full buffer rather than growing memory.
    pub async fn publish(&self, items: Vec<Committed>, reached: Revision) {
        let targets: Vec<(Revision, mpsc::Sender<Committed>)> = {
            let mut subscribers = self.lock();
            subscribers.list.retain(|s| !s.tx.is_closed());
            self.reached.send_if_modified(|current| {
                let moved = reached > *current;
                *current = (*current).max(reached);
                moved
            });
            subscribers.list.iter().map(|s| (s.after, s.tx.clone())).collect()
        };
        for (after, tx) in targets {
            for item in only_after(&items, after) {
                if tx.send(item).await.is_err() {
                    break; // that subscriber is gone
                }
            }
        }
    }

    /// Ends every subscriber's stream and refuses new ones.
    pub fn close(&self) {
        let mut subscribers = self.lock();
        subscribers.closed = true;
        subscribers.list.clear();
    }
}

/// The part of `items` a subscriber that started after `after` has not seen.
fn only_after(items: &[Committed], after: Revision) -> Vec<Committed> {
    items
        .iter()
        .filter_map(|item| match item {
            Committed::Events(events) => {
                let later: Vec<_> = events.iter().filter(|e| e.revision() > after).cloned().collect();
                (!later.is_empty()).then_some(Committed::Events(later))
            }
            Committed::Progress(revision) => (*revision > after).then_some(Committed::Progress(*revision)),
            Committed::Reset { objects, revision } => {
                Some(Committed::Reset { objects: objects.clone(), revision: *revision })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{Event, EventType, Object};
    use futures::StreamExt;
    use serde_json::json;

    fn event(revision: Revision) -> Event {
        let object = Object {
            key: Arc::from("/k"),
            value: Arc::new(json!({})),
            create_revision: revision,
            mod_revision: revision,
        };
        Event { kind: EventType::Added, object, prev: None }
    }

    fn summary(item: &Committed) -> String {
        match item {
            Committed::Events(events) => {
                format!("events{:?}", events.iter().map(Event::revision).collect::<Vec<_>>())
            }
            Committed::Progress(r) => format!("progress {r}"),
            Committed::Reset { revision, .. } => format!("reset {revision}"),
        }
    }

    #[test]
    fn subscribers_get_only_what_comes_after_their_start() {
        let items = vec![
            Committed::Events(vec![event(4), event(5), event(6)]),
            Committed::Progress(8),
            Committed::Reset { objects: vec![], revision: 3 },
        ];
        let cases: Vec<(Revision, Vec<&str>)> = vec![
            (3, vec!["events[4, 5, 6]", "progress 8", "reset 3"]),
            (5, vec!["events[6]", "progress 8", "reset 3"]),
            (6, vec!["progress 8", "reset 3"]),
            (8, vec!["reset 3"]),
        ];
        for (after, want) in cases {
            let got: Vec<String> = only_after(&items, after).iter().map(summary).collect();
            assert_eq!(got, want, "after {after}");
        }
    }

    #[tokio::test]
    async fn subscribing_publishing_and_closing() {
        let feed = Feed::new(10);
        assert!(matches!(feed.subscribe(9), Err(StoreError::Expired { requested: 9, oldest: 10 })));
        let Ok(mut stream) = feed.subscribe(10) else { panic!("subscribe") };
        let waiter = {
            let feed = feed.clone();
            tokio::spawn(async move { feed.reaches(12).await })
        };
        feed.publish(vec![Committed::Events(vec![event(11)])], 11).await;
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "11 is not 12");
        feed.publish(vec![Committed::Progress(12)], 12).await;
        assert!(matches!(waiter.await, Ok(true)));
        assert_eq!(feed.revision(), 12);
        // Publishing an older revision never moves it back.
        feed.publish(vec![], 11).await;
        assert_eq!(feed.revision(), 12);
        let got: Vec<String> = [stream.next().await, stream.next().await].iter().flatten().map(summary).collect();
        assert_eq!(got, vec!["events[11]", "progress 12"]);
        feed.close();
        assert!(stream.next().await.is_none(), "closing ends the stream");
        assert!(matches!(feed.subscribe(12), Err(StoreError::Closed)));
    }
}
