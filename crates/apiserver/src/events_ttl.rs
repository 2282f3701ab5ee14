//! Events expire (upstream's `--event-ttl`, one hour by default): without this every Job would leave its events
//! in the store, the cache and the watch history forever.

use std::time::Duration;

use serde_json::Value;

use crate::meta;
use crate::resources::{Kind, by_kind};
use crate::state::ApiState;

/// How long an event is kept after it last happened.
pub const EVENT_TTL: Duration = Duration::from_secs(3600);
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// When an event was last seen: the latest of its own times and its creation. Upstream counts the hour from the
/// last write (an etcd lease); `creationTimestamp` is set by this server, so an event posted with old timestamps
/// (an import, a replay) still lives a full hour after it arrived.
fn last_seen(ev: &Value) -> Option<jiff::Timestamp> {
    ["/lastTimestamp", "/eventTime", "/series/lastObservedTime", "/metadata/creationTimestamp"]
        .iter()
        .filter_map(|p| ev.pointer(p).and_then(Value::as_str))
        .filter_map(|s| s.parse().ok())
        .max()
}

/// True when `ev` is older than `ttl` at `now` (an event with no time at all is kept).
pub fn expired(ev: &Value, now: jiff::Timestamp, ttl: Duration) -> bool {
    let ttl = jiff::SignedDuration::try_from(ttl).unwrap_or(jiff::SignedDuration::MAX);
    last_seen(ev).is_some_and(|t| now.duration_since(t) > ttl)
}

/// Forever: deletes expired events.
pub async fn run(state: ApiState, ttl: Duration) {
    let events = by_kind(Kind::Event);
    // The first sweep waits a period too: nothing can have expired in a server that just started.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + SWEEP_EVERY, SWEEP_EVERY);
    loop {
        tick.tick().await;
        let now = jiff::Timestamp::now();
        let (all, _) = state.store.list(&events.prefix());
        for o in all.iter().filter(|o| expired(&o.value, now, ttl)) {
            if let Err(e) = state.store.delete(&o.key, Some(o.mod_revision)).await {
                tracing::debug!(event = meta::name(&o.value), error = %e, "could not expire event");
            }
        }
    }
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
            assert_eq!(expired(&ev, now, ttl), want, "case {i}");
        }
    }
}
