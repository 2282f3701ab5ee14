//! Events expire (upstream's `--event-ttl`, one hour by default): without this every Job would leave its events
//! in the store, the cache and the watch history forever.

use std::borrow::Cow;
use std::time::Duration;

use runlet_store::{Compact, PageRequest};
use serde::Deserialize;

use crate::resources::{Kind, by_kind};
use crate::state::ApiState;

/// How long an event is kept after it last happened.
pub const EVENT_TTL: Duration = Duration::from_secs(3600);
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The times of an event, read from its stored JSON without building the rest: a sweep looks at every event
/// (five per pod, half a million for a 100,000-pod Job) and must not hold them all decoded at once.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Times<'a> {
    #[serde(borrow)]
    last_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    series: Option<Series<'a>>,
    #[serde(borrow)]
    metadata: Option<Metadata<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Series<'a> {
    #[serde(borrow)]
    last_observed_time: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'a> {
    #[serde(borrow)]
    creation_timestamp: Option<Cow<'a, str>>,
}

/// When an event was last seen: the latest of its own times and its creation. Upstream counts the hour from the
/// last write (an etcd lease); `creationTimestamp` is set by this server, so an event posted with old timestamps
/// (an import, a replay) still lives a full hour after it arrived.
fn last_seen(json: &str) -> Option<jiff::Timestamp> {
    let t: Times<'_> = serde_json::from_str(json).unwrap_or_default();
    [
        t.last_timestamp,
        t.event_time,
        t.series.and_then(|s| s.last_observed_time),
        t.metadata.and_then(|m| m.creation_timestamp),
    ]
    .into_iter()
    .flatten()
    .filter_map(|s| s.parse().ok())
    .max()
}

/// True when the event (its JSON) is older than `ttl` at `now` (an event with no time at all is kept).
pub fn expired(json: &str, now: jiff::Timestamp, ttl: Duration) -> bool {
    let ttl = jiff::SignedDuration::try_from(ttl).unwrap_or(jiff::SignedDuration::MAX);
    last_seen(json).is_some_and(|t| now.duration_since(t) > ttl)
}

/// Forever: deletes expired events.
pub async fn run(state: ApiState, ttl: Duration) {
    let prefix = by_kind(Kind::Event).prefix();
    // The first sweep waits a period too: nothing can have expired in a server that just started.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + SWEEP_EVERY, SWEEP_EVERY);
    loop {
        tick.tick().await;
        sweep(&state, &prefix, jiff::Timestamp::now(), ttl).await;
    }
}

/// Deletes the events under `prefix` expired at `now`; how many went.
async fn sweep(state: &ApiState, prefix: &str, now: jiff::Timestamp, ttl: Duration) -> usize {
    let request = PageRequest { prefix, from: None, at: None, limit: usize::MAX };
    let keep = |c: &Compact| c.json().is_ok_and(|json| expired(&json, now, ttl));
    let expired = match state.store.list_page(request, &keep) {
        Ok(page) => page.items,
        Err(e) => {
            tracing::debug!(error = %e, "could not list events to expire");
            return 0;
        }
    };
    let mut deleted = 0;
    for c in expired {
        match state.store.delete(&c.key, Some(c.mod_revision)).await {
            Ok(_) => deleted += 1,
            Err(e) => tracing::debug!(event = %c.key, error = %e, "could not expire event"),
        }
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expiry_uses_the_latest_known_time() {
        let now: jiff::Timestamp = "2026-01-01T02:00:00Z".parse().unwrap();
        let ttl = Duration::from_secs(3600);
        let cases = [
            (json!({"lastTimestamp": "2026-01-01T00:30:00Z"}), true),
            (json!({"lastTimestamp": "2026-01-01T01:30:00Z"}), false),
            (json!({"eventTime": "2026-01-01T00:00:00.000000Z"}), true),
            (json!({"metadata": {"creationTimestamp": "2026-01-01T01:59:00Z"}}), false),
            (
                json!({"lastTimestamp": "2025-01-01T00:00:00Z", "metadata": {"creationTimestamp": "2026-01-01T01:30:00Z"}}),
                false,
            ),
            (
                json!({"eventTime": "2026-01-01T00:00:00Z", "series": {"lastObservedTime": "2026-01-01T01:30:00Z"}}),
                false,
            ),
            (json!({}), false),
        ];
        for (i, (ev, want)) in cases.into_iter().enumerate() {
            assert_eq!(expired(&ev.to_string(), now, ttl), want, "case {i}");
        }
    }

    #[tokio::test]
    async fn a_sweep_deletes_only_expired_events() {
        use runlet_store::{Store, StoreOptions};
        let state = ApiState::new(Store::open_memory(StoreOptions::default()).await.expect("store"));
        let prefix = by_kind(Kind::Event).prefix();
        let now: jiff::Timestamp = "2026-01-01T02:00:00Z".parse().unwrap();
        for (name, last) in
            [("old", "2026-01-01T00:30:00Z"), ("recent", "2026-01-01T01:30:00Z"), ("old2", "2025-12-31T00:00:00Z")]
        {
            let key = format!("{prefix}default/{name}");
            let ev = json!({"metadata": {"name": name, "namespace": "default"}, "lastTimestamp": last});
            state.store.create(&key, ev).await.expect("create");
        }
        assert_eq!(sweep(&state, &prefix, now, Duration::from_secs(3600)).await, 2);
        let (left, _) = state.store.list(&prefix);
        let names: Vec<&str> = left.iter().filter_map(|o| o.value.pointer("/metadata/name")?.as_str()).collect();
        assert_eq!(names, ["recent"]);
    }
}
