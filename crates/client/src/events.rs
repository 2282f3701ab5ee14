//! Recording `core/v1` Events about objects (what `kubectl describe` shows under Events).
//!
//! [`Recorder::record`] never waits: it hands the event to a background writer through a bounded channel
//! (dropping it when the writer is that far behind), so a sync that creates 500 pods does not make 500
//! sequential event writes. The writer merges repeats of one event ([`Correlator`]) into a single Event whose
//! `count` and `lastTimestamp` it patches, as upstream's event correlator does.

use std::collections::HashMap;

use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use runlet_api::event::event_object;
use runlet_codec::{Event, ObjectReference, Time};
use serde_json::json;
use tokio::sync::mpsc;

use crate::errors::ApiErrorExt;

pub use runlet_api::event::EventType;

/// Events waiting for the writer before new ones are dropped.
const QUEUE: usize = 4096;
/// Repeats this close to the previous occurrence update the same Event (upstream aggregates over 10 minutes).
const REPEAT_WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);
/// Distinct events remembered for merging (upstream's cache holds 4096).
const REMEMBERED: usize = 4096;

/// Creates Events on behalf of one component (`job-controller`, ...). Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<Event>,
    component: String,
    host: Option<String>,
}

/// A reference to the object an event is about.
pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: Some(obj.name_any()),
        namespace: obj.namespace(),
        uid: obj.meta().uid.clone(),
        resource_version: obj.meta().resource_version.clone(),
        field_path: None,
    }
}

impl Recorder {
    /// Starts the background writer on the current tokio runtime (so this must be called inside one).
    pub fn new(client: Client, component: impl Into<String>) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(write_events(client, pending));
        Recorder::with_queue(queue, component)
    }

    fn with_queue(queue: mpsc::Sender<Event>, component: impl Into<String>) -> Self {
        Recorder { queue, component: component.into(), host: None }
    }

    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Queues one event for the writer. Never waits and never fails: an event is not worth slowing or failing
    /// a sync for, so one that does not fit in the queue is dropped.
    pub fn record(&self, about: &ObjectReference, type_: EventType, reason: &str, message: &str) {
        let ev =
            event_object(about, type_, reason, message, &self.component, self.host.as_deref(), jiff::Timestamp::now());
        if let Err(e) = self.queue.try_send(ev) {
            tracing::debug!(reason, error = %e, "dropped an event: the event writer is behind");
        }
    }
}

/// What makes two events "the same" for merging.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EventKey {
    uid: String,
    type_: String,
    reason: String,
    message: String,
}

impl EventKey {
    fn of(ev: &Event) -> EventKey {
        let text = |s: &Option<String>| s.clone().unwrap_or_default();
        EventKey {
            uid: text(&ev.involved_object.uid),
            type_: text(&ev.type_),
            reason: text(&ev.reason),
            message: text(&ev.message),
        }
    }
}

/// The Event already written for a key.
#[derive(Debug, Clone)]
struct Written {
    name: String,
    count: i32,
    first: Option<Time>,
    last: jiff::Timestamp,
}

/// How to write one event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventWrite {
    /// A new Event.
    Create(Event),
    /// A repeat: patch `count` and `lastTimestamp` of the existing Event (named in `event`, which holds the
    /// whole merged Event, to create should the old one be gone).
    Repeat(Event),
}

/// Merges repeats of an event (same object uid, type, reason and message) that come within [`REPEAT_WINDOW`]
/// of the previous one. Pure: the writer does the I/O it asks for.
#[derive(Debug)]
pub struct Correlator {
    written: HashMap<EventKey, Written>,
    window: jiff::SignedDuration,
    capacity: usize,
}

impl Default for Correlator {
    fn default() -> Self {
        Correlator::new(REPEAT_WINDOW, REMEMBERED)
    }
}

impl Correlator {
    pub fn new(window: jiff::SignedDuration, capacity: usize) -> Self {
        Correlator { written: HashMap::new(), window, capacity: capacity.max(1) }
    }

    /// Decides how to write `ev` (an occurrence at its `lastTimestamp`) and remembers it.
    pub fn observe(&mut self, mut ev: Event) -> EventWrite {
        let key = EventKey::of(&ev);
        let at = ev.last_timestamp.as_ref().map_or_else(jiff::Timestamp::now, |t| t.0);
        if let Some(w) = self.written.get_mut(&key)
            && at.duration_since(w.last) <= self.window
        {
            w.count = w.count.saturating_add(1);
            w.last = at.max(w.last);
            ev.metadata.name = Some(w.name.clone());
            ev.count = Some(w.count);
            ev.first_timestamp = w.first.clone();
            return EventWrite::Repeat(ev);
        }
        if !self.written.contains_key(&key) && self.written.len() >= self.capacity {
            self.make_room(at);
        }
        let written = Written {
            name: ev.metadata.name.clone().unwrap_or_default(),
            count: ev.count.unwrap_or(1),
            first: ev.first_timestamp.clone(),
            last: at,
        };
        self.written.insert(key, written);
        EventWrite::Create(ev)
    }

    /// The write of `ev` failed: its next occurrence starts a new Event.
    pub fn forget(&mut self, ev: &Event) {
        self.written.remove(&EventKey::of(ev));
    }

    pub fn len(&self) -> usize {
        self.written.len()
    }

    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    /// Drops what can no longer be merged; if everything is recent, the least recently seen.
    fn make_room(&mut self, now: jiff::Timestamp) {
        let window = self.window;
        self.written.retain(|_, w| now.duration_since(w.last) <= window);
        if self.written.len() >= self.capacity
            && let Some(oldest) = self.written.iter().min_by_key(|(_, w)| w.last).map(|(k, _)| k.clone())
        {
            self.written.remove(&oldest);
        }
    }
}

/// The background writer: one event at a time, in the order recorded (events are named by time, so order
/// matters little, but bursts stay readable).
async fn write_events(client: Client, mut pending: mpsc::Receiver<Event>) {
    let mut correlator = Correlator::default();
    while let Some(ev) = pending.recv().await {
        let ns = ev.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let api: Api<Event> = Api::namespaced(client.clone(), &ns);
        let result = match correlator.observe(ev) {
            EventWrite::Create(ev) => create(&api, &mut correlator, ev).await,
            EventWrite::Repeat(ev) => {
                let name = ev.metadata.name.clone().unwrap_or_default();
                let patch = json!({"count": ev.count, "lastTimestamp": ev.last_timestamp});
                match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                    Ok(_) => Ok(()),
                    // Expired or deleted meanwhile: write it again, count and all (upstream does the same).
                    Err(e) if e.is_not_found() => create(&api, &mut correlator, ev).await,
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "could not record event");
        }
    }
}

async fn create(api: &Api<Event>, correlator: &mut Correlator, ev: Event) -> Result<(), kube::Error> {
    match api.create(&PostParams::default(), &ev).await {
        Ok(_) => Ok(()),
        Err(e) => {
            correlator.forget(&ev);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn about(uid: &str) -> ObjectReference {
        ObjectReference {
            kind: Some("Job".into()),
            name: Some(format!("job-{uid}")),
            namespace: Some("default".into()),
            uid: Some(uid.into()),
            ..Default::default()
        }
    }

    fn occurrence(uid: &str, reason: &str, message: &str, secs: i64) -> Event {
        event_object(&about(uid), EventType::Normal, reason, message, "job-controller", None, at(secs))
    }

    /// (name, count, firstTimestamp, lastTimestamp) of a write, and whether it is a repeat.
    fn summary(w: &EventWrite) -> (bool, String, Option<i32>, Option<Time>, Option<Time>) {
        let (repeat, ev) = match w {
            EventWrite::Create(ev) => (false, ev),
            EventWrite::Repeat(ev) => (true, ev),
        };
        (
            repeat,
            ev.metadata.name.clone().unwrap_or_default(),
            ev.count,
            ev.first_timestamp.clone(),
            ev.last_timestamp.clone(),
        )
    }

    #[test]
    fn repeats_within_the_window_merge_into_one_event() {
        let window = jiff::SignedDuration::from_secs(60);
        let first_name = occurrence("a", "R", "m", 0).metadata.name.unwrap_or_default();
        let late_name = occurrence("a", "R", "m", 200).metadata.name.unwrap_or_default();
        let other_name = |uid: &str, r: &str, m: &str, s| occurrence(uid, r, m, s).metadata.name.unwrap_or_default();
        // (occurrence, expected: repeat?, name, count, first seen at)
        let cases: Vec<(Event, bool, String, i32, i64)> = vec![
            (occurrence("a", "R", "m", 0), false, first_name.clone(), 1, 0),
            (occurrence("a", "R", "m", 30), true, first_name.clone(), 2, 0),
            // 60 s after the previous occurrence, not after the first: still the same Event.
            (occurrence("a", "R", "m", 90), true, first_name.clone(), 3, 0),
            (occurrence("a", "R", "other message", 91), false, other_name("a", "R", "other message", 91), 1, 91),
            (occurrence("a", "Other", "m", 92), false, other_name("a", "Other", "m", 92), 1, 92),
            (occurrence("b", "R", "m", 93), false, other_name("b", "R", "m", 93), 1, 93),
            // More than the window after the last occurrence: a new Event.
            (occurrence("a", "R", "m", 200), false, late_name.clone(), 1, 200),
            (occurrence("a", "R", "m", 201), true, late_name, 2, 200),
        ];
        let mut c = Correlator::new(window, 100);
        for (i, (ev, repeat, name, count, first)) in cases.into_iter().enumerate() {
            let last = ev.last_timestamp.clone();
            let got = summary(&c.observe(ev));
            assert_eq!(got, (repeat, name, Some(count), Some(Time(at(first))), last), "occurrence {i}");
        }
    }

    #[test]
    fn the_type_separates_events() {
        let mut c = Correlator::default();
        let normal = occurrence("a", "R", "m", 0);
        let mut warning = occurrence("a", "R", "m", 1);
        warning.type_ = Some(EventType::Warning.into());
        assert!(matches!(c.observe(normal), EventWrite::Create(_)));
        assert!(matches!(c.observe(warning), EventWrite::Create(_)));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn a_failed_write_is_forgotten() {
        let mut c = Correlator::default();
        let ev = occurrence("a", "R", "m", 0);
        assert!(matches!(c.observe(ev.clone()), EventWrite::Create(_)));
        c.forget(&ev);
        assert!(c.is_empty());
        let again = occurrence("a", "R", "m", 1);
        assert!(matches!(c.observe(again), EventWrite::Create(_)), "nothing to patch after a failed create");
    }

    #[test]
    fn memory_is_bounded() {
        let window = jiff::SignedDuration::from_secs(60);
        let mut c = Correlator::new(window, 2);
        c.observe(occurrence("a", "R", "m", 0));
        c.observe(occurrence("b", "R", "m", 10));
        // Full, all recent: the least recently seen ("a") goes.
        c.observe(occurrence("c", "R", "m", 20));
        assert_eq!(c.len(), 2);
        assert!(matches!(c.observe(occurrence("b", "R", "m", 21)), EventWrite::Repeat(_)));
        assert!(matches!(c.observe(occurrence("a", "R", "m", 22)), EventWrite::Create(_)), "a was evicted");
        // Everything expired: all of it is dropped to make room.
        c.observe(occurrence("d", "R", "m", 500));
        assert_eq!(c.len(), 1);
    }

    #[tokio::test]
    async fn record_never_waits_and_drops_when_the_writer_is_behind() {
        let (tx, mut rx) = mpsc::channel(2);
        let recorder = Recorder::with_queue(tx, "job-controller");
        let job = about("u1");
        for i in 0..5 {
            // Would hang here if record waited for room.
            recorder.record(&job, EventType::Normal, "SuccessfulCreate", &format!("Created pod: p{i}"));
        }
        let mut got = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            got.push(ev.message.unwrap_or_default());
        }
        assert_eq!(got, ["Created pod: p0", "Created pod: p1"], "the first two fit, the rest were dropped");
        recorder.record(&job, EventType::Warning, "FailedCreate", "Error creating: quota");
        let ev = rx.try_recv().expect("room again");
        assert_eq!(
            (ev.type_.as_deref(), ev.reason.as_deref(), ev.involved_object.uid.as_deref()),
            (Some("Warning"), Some("FailedCreate"), Some("u1"))
        );
        assert_eq!(ev.source.and_then(|s| s.component).as_deref(), Some("job-controller"));
    }
}
