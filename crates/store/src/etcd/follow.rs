//! The one etcd watch a backend keeps on its whole key space. Every server on the same etcd sees
//! every write through it, its own and the others'. When the watch breaks it resumes from the next
//! revision; when etcd no longer has that revision (compacted), it reads everything again and
//! sends a `Reset`.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{EventType as EtcdEventType, WatchOptions};

use super::convert::{Change, Decoded, decode};
use super::feed::Feed;
use super::{Etcd, kv};
use crate::backend::Committed;
use crate::object::Revision;

/// Waits between attempts to watch again: short at first (a restarting etcd is back soon), then
/// no more than this.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Why a watch stopped.
enum Interrupted {
    /// The connection failed or etcd canceled the watch: try again from the same revision.
    Broken(String),
    /// The revisions wanted are gone from etcd's history: read everything again.
    Gap(String),
}

/// Follows the key space from revision `next` on, forever (the backend aborts it when dropped).
pub(crate) async fn follow(etcd: Etcd, feed: Arc<Feed>, mut next: Revision) {
    let mut delay = RETRY_MIN;
    loop {
        let (why, progressed) = watch_from(&etcd, &feed, &mut next).await;
        if progressed {
            delay = RETRY_MIN;
        }
        match why {
            Interrupted::Broken(error) => {
                tracing::warn!(%error, revision = next, "etcd watch interrupted; watching again");
            }
            Interrupted::Gap(why) => {
                tracing::warn!(%why, revision = next, "etcd no longer has the revisions this server needs; reading everything again");
                match etcd.read_all("").await {
                    Ok((objects, revision)) => {
                        feed.publish(vec![Committed::Reset { objects, revision }], revision).await;
                        next = revision + 1;
                        delay = RETRY_MIN;
                        continue;
                    }
                    Err(error) => tracing::warn!(%error, "reading the store from etcd failed; trying again"),
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RETRY_MAX);
    }
}

/// Watches from `next` until interrupted, publishing as it goes; says whether anything arrived.
async fn watch_from(etcd: &Etcd, feed: &Feed, next: &mut Revision) -> (Interrupted, bool) {
    let keys = &etcd.keys;
    let options = WatchOptions::new().with_prefix().with_prev_key().with_start_revision(*next);
    let mut stream = match etcd.watch_client().watch(keys.etcd_root(), Some(options)).await {
        Ok(stream) => stream,
        Err(e) => return (Interrupted::Broken(e.to_string()), false),
    };
    let mut progressed = false;
    loop {
        let response = match stream.message().await {
            Ok(Some(response)) => response,
            Ok(None) => return (Interrupted::Broken("the watch stream ended".into()), progressed),
            Err(e) => return (Interrupted::Broken(e.to_string()), progressed),
        };
        if response.compact_revision() > 0 {
            let why = format!("compacted up to revision {}", response.compact_revision());
            return (Interrupted::Gap(why), progressed);
        }
        if response.canceled() {
            return (Interrupted::Broken(format!("canceled: {}", response.cancel_reason())), progressed);
        }
        // Responses without events (the watch was created, or a progress notification) are not
        // trusted to mean anything: etcd 3.4 before 3.4.24 could send progress ahead of events.
        let mut events = Vec::new();
        let mut reached = 0;
        for event in response.events() {
            let Some(current) = event.kv() else { continue };
            reached = reached.max(current.mod_revision());
            if keys.is_marker(current.key()) {
                continue;
            }
            let Some(key) = keys.from_etcd(current.key()) else { continue };
            let prev = event.prev_kv().map(|p| kv(key.clone(), p));
            let change = match event.event_type() {
                EtcdEventType::Put => Change::Put { kv: kv(key, current), prev },
                EtcdEventType::Delete => Change::Delete { key, revision: current.mod_revision(), prev },
            };
            match decode(change) {
                Decoded::Event(event) => events.push(event),
                Decoded::Skip(why) => tracing::warn!(%why, "skipping a stored value that is no JSON object"),
                Decoded::Gap => {
                    let why = format!("a delete at revision {} came without its last state", current.mod_revision());
                    return (Interrupted::Gap(why), progressed);
                }
            }
        }
        if reached == 0 {
            continue;
        }
        let mut items = Vec::new();
        let last_event = events.last().map_or(0, |e| e.revision());
        if !events.is_empty() {
            items.push(Committed::Events(events));
        }
        if reached > last_event {
            items.push(Committed::Progress(reached));
        }
        feed.publish(items, reached).await;
        *next = reached + 1;
        progressed = true;
    }
}
