//! Recording `core/v1` Events about objects (what `kubectl describe` shows under Events).
//!
//! [`Recorder::record`] never waits: it hands the event to a background writer through a bounded channel
//! (dropping it when the writer is that far behind), so a sync that creates 500 pods does not make 500
//! sequential event writes. The writer correlates events as upstream's recorder does ([`Correlator`]): repeats
//! of one event become a single Event whose `count` and `lastTimestamp` it patches; many similar events (same
//! object and reason, different messages, like a Job's `Created pod: ...`) are combined into one; and each
//! object and reason gets a budget of writes (a burst of 25, then one per 5 minutes), so a 100,000-pod Job
//! does not write 100,000 events about itself.

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
/// Distinct messages of similar events seen within [`REPEAT_WINDOW`] before further ones are combined
/// (upstream's aggregator: 10).
const SIMILAR_MAX: usize = 10;
/// Writes an object and reason may make at once, and how often one more is allowed after that (upstream's
/// spam filter: a burst of 25, then 1 per 300 s).
const SPAM_BURST: f64 = 25.0;
const SPAM_REFILL: jiff::SignedDuration = jiff::SignedDuration::from_secs(300);
/// The message prefix of a combined event (upstream's wording).
pub const COMBINED_PREFIX: &str = "(combined from similar events): ";

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

/// Events that are similar: about the same object, of the same type and reason, whatever their message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SimilarKey {
    uid: String,
    type_: String,
    reason: String,
}

impl SimilarKey {
    fn of(ev: &Event) -> SimilarKey {
        let text = |s: &Option<String>| s.clone().unwrap_or_default();
        SimilarKey { uid: text(&ev.involved_object.uid), type_: text(&ev.type_), reason: text(&ev.reason) }
    }
}

/// The distinct messages of similar events, while they keep coming within the window.
#[derive(Debug)]
struct Similar {
    messages: std::collections::HashSet<String>,
    last: jiff::Timestamp,
}

/// A token bucket: writes left, as of `at`.
#[derive(Debug)]
struct Budget {
    tokens: f64,
    at: jiff::Timestamp,
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

/// Decides what to write for each event, as upstream's correlator: similar events with many different
/// messages are combined into one ("(combined from similar events): ..."), repeats of an event (same object
/// uid, type, reason and message) within [`REPEAT_WINDOW`] of the previous one are merged into it, and each
/// object and reason has a budget of writes beyond which events are dropped (upstream keys its spam filter by
/// source and object; keyed by reason too, a Job's final `Completed` is not starved by its `SuccessfulCreate`s).
/// Pure: the writer does the I/O it asks for.
#[derive(Debug)]
pub struct Correlator {
    written: HashMap<EventKey, Written>,
    similar: HashMap<SimilarKey, Similar>,
    budgets: HashMap<SimilarKey, Budget>,
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
        Correlator {
            written: HashMap::new(),
            similar: HashMap::new(),
            budgets: HashMap::new(),
            window,
            capacity: capacity.max(1),
        }
    }

    /// Decides how to write `ev` (an occurrence at its `lastTimestamp`) and remembers it; `None` when the
    /// object and reason have used up their budget (the occurrence still counts in a later write's `count`).
    pub fn observe(&mut self, mut ev: Event) -> Option<EventWrite> {
        let at = ev.last_timestamp.as_ref().map_or_else(jiff::Timestamp::now, |t| t.0);
        let similar = SimilarKey::of(&ev);
        let mut key = EventKey::of(&ev);
        if self.combine(&similar, &key.message, at) {
            ev.message = Some(format!("{COMBINED_PREFIX}{}", key.message));
            // All combined events of the object and reason merge into one Event.
            key.message = COMBINED_PREFIX.to_string();
        }
        let write = self.merge(key, ev, at);
        self.spend(similar, at).then_some(write)
    }

    /// Notes a message of similar events; true once there have been [`SIMILAR_MAX`] different ones within
    /// the window (the tenth already combined, as upstream).
    fn combine(&mut self, key: &SimilarKey, message: &str, at: jiff::Timestamp) -> bool {
        if !self.similar.contains_key(key) && self.similar.len() >= self.capacity {
            let window = self.window;
            self.similar.retain(|_, s| at.duration_since(s.last) <= window);
            if self.similar.len() >= self.capacity
                && let Some(oldest) = self.similar.iter().min_by_key(|(_, s)| s.last).map(|(k, _)| k.clone())
            {
                self.similar.remove(&oldest);
            }
        }
        let entry = self
            .similar
            .entry(key.clone())
            .or_insert_with(|| Similar { messages: std::collections::HashSet::new(), last: at });
        if at.duration_since(entry.last) > self.window {
            entry.messages.clear();
        }
        entry.last = at.max(entry.last);
        if entry.messages.len() < SIMILAR_MAX {
            entry.messages.insert(message.to_string());
        }
        entry.messages.len() >= SIMILAR_MAX
    }

    /// Merges `ev` into the Event written for `key` if it was recent, else makes it a new one.
    fn merge(&mut self, key: EventKey, mut ev: Event, at: jiff::Timestamp) -> EventWrite {
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

    /// Takes one write from the budget of `key`'s object and reason; false when none is left.
    fn spend(&mut self, key: SimilarKey, at: jiff::Timestamp) -> bool {
        if !self.budgets.contains_key(&key) && self.budgets.len() >= self.capacity {
            // A budget refilled to the full burst is the same as none: those go first.
            let full_after = SPAM_REFILL * SPAM_BURST as i32;
            self.budgets.retain(|_, b| at.duration_since(b.at) < full_after);
            if self.budgets.len() >= self.capacity
                && let Some(oldest) = self.budgets.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| k.clone())
            {
                self.budgets.remove(&oldest);
            }
        }
        let budget = self.budgets.entry(key).or_insert(Budget { tokens: SPAM_BURST, at });
        let refilled = at.duration_since(budget.at).as_secs_f64().max(0.0) / SPAM_REFILL.as_secs_f64();
        budget.tokens = (budget.tokens + refilled).min(SPAM_BURST);
        budget.at = at.max(budget.at);
        if budget.tokens >= 1.0 {
            budget.tokens -= 1.0;
            true
        } else {
            false
        }
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
        let Some(write) = correlator.observe(ev) else {
            tracing::trace!("event dropped: its object and reason are over their budget");
            continue;
        };
        let result = match write {
            EventWrite::Create(ev) => create(&api, &mut correlator, ev).await,
            EventWrite::Repeat(ev) => {
                let name = ev.metadata.name.clone().unwrap_or_default();
                // The message too: a combined event shows the latest of the messages it stands for.
                let patch = json!({"count": ev.count, "lastTimestamp": ev.last_timestamp, "message": ev.message});
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
            let got = summary(&c.observe(ev).expect("within budget"));
            assert_eq!(got, (repeat, name, Some(count), Some(Time(at(first))), last), "occurrence {i}");
        }
    }

    #[test]
    fn the_type_separates_events() {
        let mut c = Correlator::default();
        let normal = occurrence("a", "R", "m", 0);
        let mut warning = occurrence("a", "R", "m", 1);
        warning.type_ = Some(EventType::Warning.into());
        assert!(matches!(c.observe(normal), Some(EventWrite::Create(_))));
        assert!(matches!(c.observe(warning), Some(EventWrite::Create(_))));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn a_failed_write_is_forgotten() {
        let mut c = Correlator::default();
        let ev = occurrence("a", "R", "m", 0);
        assert!(matches!(c.observe(ev.clone()), Some(EventWrite::Create(_))));
        c.forget(&ev);
        assert!(c.is_empty());
        let again = occurrence("a", "R", "m", 1);
        assert!(matches!(c.observe(again), Some(EventWrite::Create(_))), "nothing to patch after a failed create");
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
        assert!(matches!(c.observe(occurrence("b", "R", "m", 21)), Some(EventWrite::Repeat(_))));
        assert!(matches!(c.observe(occurrence("a", "R", "m", 22)), Some(EventWrite::Create(_))), "a was evicted");
        // Everything expired: all of it is dropped to make room.
        c.observe(occurrence("d", "R", "m", 500));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn many_similar_events_are_combined_into_one() {
        let mut c = Correlator::default();
        let mut writes = Vec::new();
        for i in 0..14 {
            writes.push(c.observe(occurrence("job", "SuccessfulCreate", &format!("Created pod: p{i}"), i)).unwrap());
        }
        // Nine events of their own, then the tenth different message starts one combined Event.
        for (i, w) in writes.iter().enumerate().take(9) {
            let EventWrite::Create(ev) = w else { panic!("occurrence {i}: {w:?}") };
            assert_eq!(ev.message.as_deref(), Some(format!("Created pod: p{i}").as_str()));
        }
        let EventWrite::Create(combined) = &writes[9] else { panic!("{:?}", writes[9]) };
        assert_eq!(combined.message.as_deref(), Some("(combined from similar events): Created pod: p9"));
        for (i, w) in writes.iter().enumerate().skip(10) {
            let EventWrite::Repeat(ev) = w else { panic!("occurrence {i}: {w:?}") };
            assert_eq!(ev.metadata.name, combined.metadata.name);
            assert_eq!(ev.count, Some(i as i32 - 8));
            assert_eq!(ev.message.as_deref(), Some(format!("{COMBINED_PREFIX}Created pod: p{i}").as_str()));
        }
        // Another reason of the same object is not similar.
        let other = c.observe(occurrence("job", "Completed", "Job completed", 20)).unwrap();
        assert!(matches!(other, EventWrite::Create(ev) if ev.message.as_deref() == Some("Job completed")));
    }

    #[test]
    fn each_object_and_reason_has_a_budget_of_writes() {
        let mut c = Correlator::default();
        let mut written = 0;
        for i in 0..40 {
            // One message repeated: merged, but each merge is still a write (a patch).
            if c.observe(occurrence("job", "R", "m", i)).is_some() {
                written += 1;
            }
        }
        assert_eq!(written, 25, "the burst");
        assert!(c.observe(occurrence("job", "Other", "m", 40)).is_some(), "another reason has its own budget");
        assert!(c.observe(occurrence("pod", "R", "m", 40)).is_some(), "another object too");
        assert!(c.observe(occurrence("job", "R", "m", 41)).is_none());
        // One more write per 300 s; the count kept growing meanwhile.
        let later = c.observe(occurrence("job", "R", "m", 340)).expect("refilled");
        assert!(matches!(later, EventWrite::Repeat(ev) if ev.count == Some(42)));
        assert!(c.observe(occurrence("job", "R", "m", 341)).is_none());
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
