//! The in-memory cache: current objects, a ring of recent events for watch-from-revision,
//! and the watchers, all advanced together by the backend's committed events.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::object::{Compact, Event, EventType, Object, Page, PageRequest, Revision, StoreError};
use crate::watch::{Watch, Watchers};

/// A committed event as the history keeps it: compact, parsed again only when a watch replays it.
#[derive(Clone, Debug)]
struct Past {
    kind: EventType,
    object: Compact,
    /// The state the change replaced (None for Added, or when nobody knew it).
    prev: Option<Compact>,
}

impl Past {
    fn revision(&self) -> Revision {
        self.object.mod_revision
    }

    fn decode(&self) -> Result<Event, StoreError> {
        let prev = self.prev.as_ref().map(Compact::decode).transpose()?.map(|p| p.value);
        Ok(Event { kind: self.kind, object: self.object.decode()?, prev })
    }
}

/// Objects and history at one revision. Pure: no locks, no I/O.
pub(crate) struct State {
    objects: BTreeMap<Arc<str>, Compact>,
    revision: Revision,
    history: VecDeque<Past>,
    history_limit: usize,
    /// Every event with revision > this is in `history`; watching from an older revision is Expired.
    history_start: Revision,
    closed: bool,
}

/// What the cache holds is its own serialization, so it always parses; were it not to, the object is left out
/// of the answer (and said so) rather than failing every read under its prefix.
fn decoded<T>(result: Result<T, StoreError>) -> Option<T> {
    result.map_err(|e| tracing::error!(error = %e, "the store's cache holds an unreadable object")).ok()
}

/// The objects under `prefix` of a key-ordered map, starting at `start`.
fn from_key<'a>(
    objects: &'a BTreeMap<Arc<str>, Compact>,
    prefix: &'a str,
    start: &'a str,
) -> impl Iterator<Item = (&'a str, &'a Compact)> + 'a {
    objects
        .range::<str, _>((Bound::Included(start), Bound::Unbounded))
        .take_while(move |(key, _)| key.starts_with(prefix))
        .map(|(key, object)| (&**key, object))
}

/// The candidates of one page, before any filter: compact objects in key order, consistent at `revision`.
pub(crate) struct Candidates {
    pub objects: Vec<Compact>,
    pub revision: Revision,
}

impl State {
    pub fn new(objects: Vec<Object>, revision: Revision, history_limit: usize) -> State {
        State {
            objects: objects.iter().map(|o| (o.key.clone(), Compact::of(o))).collect(),
            revision,
            history: VecDeque::new(),
            history_limit,
            history_start: revision,
            closed: false,
        }
    }

    pub fn get(&self, key: &str) -> Option<Object> {
        self.objects.get(key).and_then(|c| decoded(c.decode()))
    }

    pub fn list(&self, prefix: &str) -> Vec<Object> {
        from_key(&self.objects, prefix, prefix).filter_map(|(_, c)| decoded(c.decode())).collect()
    }

    pub fn has_prefix(&self, prefix: &str) -> bool {
        from_key(&self.objects, prefix, prefix).next().is_some()
    }

    pub fn count(&self, prefix: &str) -> usize {
        from_key(&self.objects, prefix, prefix).count()
    }

    /// The compact objects under `prefix` (reference counts, nothing parsed) and the revision they are at.
    pub fn compacts(&self, prefix: &str) -> (Vec<Compact>, Revision) {
        (from_key(&self.objects, prefix, prefix).map(|(_, c)| c.clone()).collect(), self.revision)
    }

    /// The objects under the prefix from `request.from` on, as they were at `request.at` (or as they are). A past
    /// state is rebuilt from the history: a key changed after `at` takes the value it had before its first later
    /// change. Expired once the history no longer reaches back to `at`. Cheap (reference counts), so the caller
    /// filters and parses without holding the cache.
    pub fn candidates(&self, request: PageRequest<'_>) -> Result<Candidates, StoreError> {
        let prefix = request.prefix;
        let start = request.from.map_or(prefix, |from| from.max(prefix));
        let at = request.at.filter(|at| *at < self.revision);
        let mut past: BTreeMap<&str, Option<&Compact>> = BTreeMap::new();
        if let Some(at) = at {
            if at < self.history_start {
                return Err(StoreError::Expired { requested: at, oldest: self.history_start });
            }
            let first = self.history.partition_point(|e| e.revision() <= at);
            for event in self.history.range(first..) {
                let key = &*event.object.key;
                if key < start || !key.starts_with(prefix) || past.contains_key(key) {
                    continue;
                }
                let before = match (event.kind, &event.prev) {
                    (EventType::Added, _) => None,
                    (EventType::Modified | EventType::Deleted, Some(prev)) => Some(prev),
                    // Nobody said what the change replaced: the past cannot be rebuilt.
                    (EventType::Modified | EventType::Deleted, None) => {
                        return Err(StoreError::Expired { requested: at, oldest: event.revision() });
                    }
                };
                past.insert(key, before);
            }
        }
        let current = from_key(&self.objects, prefix, start);
        let objects = as_of(current, &past).map(|(_, object)| object.clone()).collect();
        Ok(Candidates { objects, revision: at.unwrap_or(self.revision) })
    }

    /// Applies one committed event, `compact` being its object's compact form; events at or below the current
    /// revision are ignored, so a backend that redelivers cannot move the cache backwards.
    /// Returns `None` for an ignored event, else what the change replaced (as this cache knows it).
    pub fn apply(&mut self, event: &Event, compact: Compact) -> Option<Option<Compact>> {
        if event.revision() <= self.revision {
            return None;
        }
        let key = event.object.key.clone();
        // What the change replaced is what this cache held; the backend's copy only when the cache had none.
        let held = match event.kind {
            EventType::Added | EventType::Modified => self.objects.insert(key, compact.clone()),
            EventType::Deleted => self.objects.remove(&key),
        };
        let prev = match event.kind {
            EventType::Added => None,
            EventType::Modified | EventType::Deleted => held.or_else(|| {
                event.prev.as_ref().map(|value| {
                    let rv = value.pointer("/metadata/resourceVersion").and_then(|v| v.as_str());
                    let mod_revision = rv.and_then(|rv| rv.parse().ok()).unwrap_or(event.object.create_revision);
                    Compact::packed(
                        event.object.key.clone(),
                        &value.to_string(),
                        event.object.create_revision,
                        mod_revision,
                    )
                })
            }),
        };
        self.revision = event.revision();
        self.history.push_back(Past { kind: event.kind, object: compact, prev: prev.clone() });
        while self.history.len() > self.history_limit {
            if let Some(evicted) = self.history.pop_front() {
                self.history_start = evicted.revision();
            }
        }
        Some(prev)
    }

    /// Nothing under the store's keys changed up to `revision`: reads are consistent at it.
    pub fn progress(&mut self, revision: Revision) {
        self.revision = self.revision.max(revision);
    }

    /// Replaces everything with `objects` at `revision`. History from before it is gone, so
    /// watching from an older revision is Expired.
    pub fn reset(&mut self, objects: Vec<Object>, revision: Revision) {
        let closed = self.closed;
        *self = State::new(objects, revision, self.history_limit);
        self.closed = closed;
    }

    /// What a new watcher must be sent before live events, and the revision live events start after.
    pub fn backlog(&self, prefix: &str, from: Option<Revision>) -> Result<(VecDeque<Event>, Revision), StoreError> {
        let Some(from) = from else {
            let snapshot = self
                .list(prefix)
                .into_iter()
                .map(|object| Event { kind: EventType::Added, object, prev: None })
                .collect();
            return Ok((snapshot, self.revision));
        };
        if from < self.history_start {
            return Err(StoreError::Expired { requested: from, oldest: self.history_start });
        }
        let start = self.history.partition_point(|e| e.revision() <= from);
        let replay = self
            .history
            .range(start..)
            .filter(|e| e.object.key.starts_with(prefix))
            .filter_map(|e| decoded(e.decode()))
            .collect();
        // A revision in the future: live events start after it, not after the current one.
        Ok((replay, from.max(self.revision)))
    }
}

/// The objects of `current` (in key order) with the keys of `past` taking their past values instead (absent
/// when the past value is None).
fn as_of<'a>(
    current: impl Iterator<Item = (&'a str, &'a Compact)>,
    past: &'a BTreeMap<&'a str, Option<&'a Compact>>,
) -> impl Iterator<Item = (&'a str, &'a Compact)> {
    let mut current = current.peekable();
    let mut past = past.iter().map(|(key, value)| (*key, *value)).peekable();
    std::iter::from_fn(move || {
        loop {
            let next = match (current.peek(), past.peek()) {
                (None, None) => return None,
                (Some(_), None) => current.next().map(|(key, value)| (key, Some(value))),
                (None, Some(_)) => past.next(),
                (Some((now, _)), Some((then, _))) => match now.cmp(then) {
                    std::cmp::Ordering::Less => current.next().map(|(key, value)| (key, Some(value))),
                    std::cmp::Ordering::Greater => past.next(),
                    std::cmp::Ordering::Equal => {
                        current.next();
                        past.next()
                    }
                },
            };
            if let Some((key, Some(value))) = next {
                return Some((key, value));
            }
        }
    })
}

/// One page out of `candidates`: those `keep` keeps, at most `limit` (at least one); any candidate after a full
/// page makes a next page (whether or not the filter would keep it, as etcd answers `more` before the API server
/// filters).
pub(crate) fn page_of(candidates: Candidates, limit: usize, keep: &dyn Fn(&Compact) -> bool) -> Page {
    let limit = limit.max(1);
    let mut page = Page { items: Vec::new(), revision: candidates.revision, next: None, remaining: 0 };
    for object in candidates.objects {
        if page.items.len() == limit {
            page.next.get_or_insert_with(|| object.key.to_string());
            page.remaining += 1;
        } else if let Some(object) = decoded(object.unpacked())
            && keep(&object)
        {
            page.items.push(object);
        }
    }
    page
}

pub(crate) struct Cache {
    state: RwLock<State>,
    /// Taken only while `state` is held (write for fan-out, read for registration; fan-out
    /// keeps it after releasing `state`), so a watcher's backlog and its live events meet
    /// exactly at one revision.
    watchers: Mutex<Watchers>,
}

impl Cache {
    pub fn new(state: State) -> Cache {
        Cache { state: RwLock::new(state), watchers: Mutex::new(Watchers::default()) }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn watchers(&self) -> std::sync::MutexGuard<'_, Watchers> {
        self.watchers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn revision(&self) -> Revision {
        self.read().revision
    }

    pub fn get(&self, key: &str) -> Option<Object> {
        self.read().get(key)
    }

    pub fn list(&self, prefix: &str) -> (Vec<Object>, Revision) {
        let state = self.read();
        (state.list(prefix), state.revision)
    }

    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.read().has_prefix(prefix)
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.read().count(prefix)
    }

    /// Calls `visit` with each object under `prefix`, parsed one at a time after the cache is released.
    pub fn for_each(&self, prefix: &str, visit: &mut dyn FnMut(Object)) -> Revision {
        let (compacts, revision) = self.read().compacts(prefix);
        for object in compacts.iter().filter_map(|c| decoded(c.decode())) {
            visit(object);
        }
        revision
    }

    /// The filter runs after the cache is released: it may parse every object.
    pub fn page(&self, request: PageRequest<'_>, keep: &dyn Fn(&Compact) -> bool) -> Result<Page, StoreError> {
        let candidates = self.read().candidates(request)?;
        Ok(page_of(candidates, request.limit, keep))
    }

    pub fn watch(&self, prefix: &str, from: Option<Revision>) -> Result<Watch, StoreError> {
        let state = self.read();
        if state.closed {
            return Err(StoreError::Closed);
        }
        let (backlog, after) = state.backlog(prefix, from)?;
        let watch = self.watchers().register(prefix, after, backlog);
        drop(state);
        Ok(watch)
    }

    /// Applies a committed batch and fans it out. Returns the revision reached.
    pub fn apply(&self, batch: Vec<Event>) -> Revision {
        // Serialized before the cache is taken, so readers do not wait for it.
        let compacts: Vec<Compact> = batch.iter().map(|event| Compact::of(&event.object)).collect();
        let mut state = self.write();
        let mut applied = Vec::with_capacity(batch.len());
        for (event, compact) in batch.into_iter().zip(compacts) {
            if let Some(prev) = state.apply(&event, compact) {
                applied.push((event, prev));
            }
        }
        let revision = state.revision;
        // The watchers are locked before the state is released, so a watcher registering now
        // (state, then watchers) waits for this fan-out and starts after `revision`; readers
        // of the state no longer wait for the matching of every watcher against every event.
        let mut watchers = self.watchers();
        drop(state);
        // A backend may leave out what a change replaced (the SQLite one does for updates): watchers get
        // the cache's, parsed here, outside the state's lock.
        let applied: Vec<Event> = applied
            .into_iter()
            .map(|(mut event, prev)| {
                if event.prev.is_none()
                    && let Some(prev) = prev.and_then(|p| p.decode().ok())
                {
                    event.prev = Some(prev.value);
                }
                event
            })
            .collect();
        watchers.fan_out(&applied);
        revision
    }

    /// Moves the revision on without events. Returns the revision reached.
    pub fn progress(&self, revision: Revision) -> Revision {
        let mut state = self.write();
        state.progress(revision);
        state.revision
    }

    /// Replaces the whole state and ends every watch: their clients start again from a list, as
    /// their next watch from an old revision is Expired. Returns the revision reached.
    pub fn reset(&self, objects: Vec<Object>, revision: Revision) -> Revision {
        let mut state = self.write();
        state.reset(objects, revision);
        self.watchers().close_all();
        state.revision
    }

    /// The backend is gone: end every watch and refuse new ones.
    pub fn close(&self) {
        let mut state = self.write();
        state.closed = true;
        self.watchers().close_all();
    }

    pub fn watcher_count(&self) -> usize {
        self.watchers().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// Applies `event` as the cache does (with its compact form).
    fn apply(state: &mut State, event: &Event) -> bool {
        state.apply(event, Compact::of(&event.object)).is_some()
    }

    /// A page as the cache answers it, the filter judging parsed values.
    fn page(state: &State, request: PageRequest<'_>, keep: &dyn Fn(&Value) -> bool) -> Result<Page, StoreError> {
        let candidates = state.candidates(request)?;
        Ok(page_of(candidates, request.limit, &|c: &Compact| c.decode().is_ok_and(|o| keep(&o.value))))
    }

    fn object(key: &str, revision: Revision) -> Object {
        Object {
            key: Arc::from(key),
            value: Arc::new(json!({"metadata": {"resourceVersion": revision.to_string()}})),
            create_revision: revision,
            mod_revision: revision,
        }
    }

    /// Modified and Deleted events carry a previous value, as the backends give them.
    fn event(kind: EventType, key: &str, revision: Revision) -> Event {
        let prev = (kind != EventType::Added).then(|| Arc::new(json!({"metadata": {}})));
        Event { kind, object: object(key, revision), prev }
    }

    #[test]
    fn counts_and_visits_stay_under_their_prefix() {
        let objects = ["/a/1", "/a/2", "/ab/1", "/b/1"].iter().map(|k| object(k, 5)).collect();
        let cache = Cache::new(State::new(objects, 7, 10));
        // (prefix, keys under it)
        for (prefix, keys) in [("/a/", vec!["/a/1", "/a/2"]), ("/a", vec!["/a/1", "/a/2", "/ab/1"]), ("/c/", vec![])] {
            assert_eq!(cache.count(prefix), keys.len(), "{prefix}");
            let mut seen = Vec::new();
            let revision = cache.for_each(prefix, &mut |o| seen.push(o.key.to_string()));
            assert_eq!((seen, revision), (keys.iter().map(|k| k.to_string()).collect(), 7), "{prefix}");
        }
    }

    /// A state that started at revision 10 with `/a/1` and then saw revisions 11..=14.
    fn state(history_limit: usize) -> State {
        let mut state = State::new(vec![object("/a/1", 10)], 10, history_limit);
        for e in [
            event(EventType::Added, "/a/2", 11),
            event(EventType::Added, "/b/1", 12),
            event(EventType::Modified, "/a/1", 13),
            event(EventType::Deleted, "/a/2", 14),
        ] {
            assert!(apply(&mut state, &e));
        }
        state
    }

    fn revisions(events: &VecDeque<Event>) -> Vec<Revision> {
        events.iter().map(Event::revision).collect()
    }

    #[test]
    fn backlog_from_revision() {
        // (history limit, prefix, from, expected replayed revisions or Expired's oldest)
        type Case = (usize, &'static str, Revision, Result<Vec<Revision>, Revision>);
        let cases: Vec<Case> = vec![
            (100, "/", 10, Ok(vec![11, 12, 13, 14])),
            (100, "/a/", 10, Ok(vec![11, 13, 14])),
            (100, "/a/", 12, Ok(vec![13, 14])),
            (100, "/", 14, Ok(vec![])),
            (100, "/", 20, Ok(vec![])),
            (100, "/", 9, Err(10)),
            (2, "/", 12, Ok(vec![13, 14])),
            (2, "/", 11, Err(12)),
            (0, "/", 14, Ok(vec![])),
            (0, "/", 13, Err(14)),
        ];
        for (limit, prefix, from, want) in cases {
            let got =
                state(limit).backlog(prefix, Some(from)).map(|(events, _)| revisions(&events)).map_err(|e| match e {
                    StoreError::Expired { requested, oldest } => {
                        assert_eq!(requested, from);
                        oldest
                    }
                    other => panic!("unexpected {other}"),
                });
            assert_eq!(got, want, "limit {limit} prefix {prefix} from {from}");
        }
    }

    #[test]
    fn backlog_snapshot_and_live_start() {
        let state = state(100);
        let Ok((snapshot, after)) = state.backlog("/a/", None) else { panic!("backlog") };
        assert_eq!(after, 14);
        let keys: Vec<(&str, EventType, Revision)> =
            snapshot.iter().map(|e| (&*e.object.key, e.kind, e.revision())).collect();
        assert_eq!(keys, vec![("/a/1", EventType::Added, 13)]);
        let Ok((_, future_after)) = state.backlog("/", Some(20)) else { panic!("backlog") };
        assert_eq!(future_after, 20);
    }

    #[test]
    fn progress_and_reset() {
        let mut state = state(100);
        state.progress(12);
        assert_eq!(state.revision, 14, "progress never moves back");
        state.progress(20);
        assert_eq!(state.revision, 20);
        // History is kept across progress: a watch from 12 still replays 13 and 14.
        let Ok((replay, after)) = state.backlog("/", Some(12)) else { panic!("backlog") };
        assert_eq!((revisions(&replay), after), (vec![13, 14], 20));
        // An event at or below the progress revision is old news.
        assert!(!apply(&mut state, &event(EventType::Added, "/c/1", 20)));
        assert!(apply(&mut state, &event(EventType::Added, "/c/1", 21)));

        state.reset(vec![object("/z/1", 30)], 40);
        assert_eq!(state.revision, 40);
        let keys: Vec<String> = state.list("").iter().map(|o| o.key.to_string()).collect();
        assert_eq!(keys, vec!["/z/1"]);
        for from in [14, 39] {
            assert!(matches!(state.backlog("/", Some(from)), Err(StoreError::Expired { oldest: 40, .. })), "{from}");
        }
        let Ok((replay, _)) = state.backlog("/", Some(40)) else { panic!("backlog") };
        assert!(replay.is_empty());
    }

    fn named(value: &Value) -> String {
        value["metadata"]["name"].as_str().unwrap_or("").to_string()
    }

    fn modified(key: &str, name: &str, revision: Revision, prev: &str) -> Event {
        let mut e = event(EventType::Modified, key, revision);
        e.object.value = Arc::new(json!({"metadata": {"name": name, "resourceVersion": revision.to_string()}}));
        e.prev = Some(Arc::new(json!({"metadata": {"name": prev}})));
        e
    }

    #[test]
    fn pages_now_and_at_a_past_revision() {
        // Revision 10: /p/a, /p/b, /p/c (named after their keys) and /q/x. Then: 11 adds /p/d, 12 renames /p/b
        // to b2, 13 deletes /p/a (whose last name was a), 14 adds /p/0.
        let named_object = |key: &str, name: &str| {
            let mut o = object(key, 10);
            o.value = Arc::new(json!({"metadata": {"name": name, "resourceVersion": "10"}}));
            o
        };
        let mut state = State::new(
            vec![
                named_object("/p/a", "a"),
                named_object("/p/b", "b"),
                named_object("/p/c", "c"),
                named_object("/q/x", "x"),
            ],
            10,
            100,
        );
        let mut deleted = event(EventType::Deleted, "/p/a", 13);
        deleted.prev = Some(Arc::new(json!({"metadata": {"name": "a"}})));
        let mut added_d = event(EventType::Added, "/p/d", 11);
        added_d.object.value = Arc::new(json!({"metadata": {"name": "d"}}));
        let mut added_0 = event(EventType::Added, "/p/0", 14);
        added_0.object.value = Arc::new(json!({"metadata": {"name": "0"}}));
        for e in [added_d, modified("/p/b", "b2", 12, "b"), deleted, added_0] {
            assert!(apply(&mut state, &e));
        }
        let all = |_: &Value| true;
        let not_c = |v: &Value| named(v) != "c";
        // (from, at, limit, keep everything?, names, revision, next, remaining)
        type Case = (
            Option<&'static str>,
            Option<Revision>,
            usize,
            bool,
            Vec<&'static str>,
            Revision,
            Option<&'static str>,
            usize,
        );
        let cases: Vec<Case> = vec![
            (None, None, 2, true, vec!["0", "b2"], 14, Some("/p/c"), 2),
            (Some("/p/c"), Some(14), 2, true, vec!["c", "d"], 14, None, 0),
            (None, None, 100, true, vec!["0", "b2", "c", "d"], 14, None, 0),
            // As of 10: /p/0 and /p/d did not exist, /p/a did, /p/b had its old name.
            (None, Some(10), 2, true, vec!["a", "b"], 10, Some("/p/c"), 1),
            (Some("/p/c"), Some(10), 2, true, vec!["c"], 10, None, 0),
            (Some("/p/b"), Some(12), 10, true, vec!["b2", "c", "d"], 12, None, 0),
            // A filter: the limit counts kept items (skipped ones do not end a page); any later key means more.
            (None, Some(11), 2, false, vec!["a", "b"], 11, Some("/p/c"), 2),
            (Some("/p/c"), Some(11), 1, false, vec!["d"], 11, None, 0),
            (Some("/p/b"), Some(11), 1, false, vec!["b"], 11, Some("/p/c"), 2),
            // A from below the prefix starts at the prefix; a limit of 0 answers one.
            (Some("/a"), None, 0, true, vec!["0"], 14, Some("/p/b"), 3),
        ];
        for (from, at, limit, everything, names, revision, next, remaining) in cases {
            let keep: &dyn Fn(&Value) -> bool = if everything { &all } else { &not_c };
            let Ok(page) = page(&state, PageRequest { prefix: "/p/", from, at, limit }, keep) else {
                panic!("page {from:?} {at:?}")
            };
            let got: Vec<String> = page.items.iter().filter_map(|c| c.decode().ok()).map(|o| named(&o.value)).collect();
            assert_eq!(got, names, "{from:?} at {at:?} limit {limit}");
            assert_eq!(
                (page.revision, page.next.as_deref(), page.remaining),
                (revision, next, remaining),
                "{from:?} at {at:?}"
            );
        }
    }

    #[test]
    fn a_page_answers_text_with_the_right_resource_version() {
        // (at, the /a/1 text a page answers): now, and as of before its change at 13.
        let state = state(100);
        for (at, rv) in [(None, "13"), (Some(12), "10")] {
            let Ok(page) = page(&state, PageRequest { prefix: "/a/", from: None, at, limit: 10 }, &|_| true) else {
                panic!("page at {at:?}")
            };
            let Some(first) = page.items.first() else { panic!("no items at {at:?}") };
            let Ok(json) = first.json() else { panic!("unpackable text") };
            let Ok(text) = serde_json::from_str::<Value>(&json) else { panic!("unreadable text") };
            assert_eq!((&*first.key, text["metadata"]["resourceVersion"].as_str()), ("/a/1", Some(rv)), "{at:?}");
        }
    }

    #[test]
    fn pages_expire_with_their_history() {
        let short = state(2);
        let request = |at| PageRequest { prefix: "/", from: None, at: Some(at), limit: 10 };
        assert!(matches!(page(&short, request(11), &|_| true), Err(StoreError::Expired { requested: 11, oldest: 12 })));
        let Ok(at_12) = page(&short, request(12), &|_| true) else { panic!("12 is still kept") };
        // As of 12: /a/1 (before its change at 13), /a/2 (before its delete at 14), /b/1.
        assert_eq!(at_12.items.len(), 3);
        // A change whose previous value nobody knows (not the backend, not the cache) cannot be undone.
        let mut blind = state(100);
        let mut unknown = event(EventType::Modified, "/b/9", 15);
        unknown.prev = None;
        assert!(apply(&mut blind, &unknown));
        assert!(matches!(page(&blind, request(14), &|_| true), Err(StoreError::Expired { requested: 14, oldest: 15 })));
        assert!(page(&blind, request(15), &|_| true).is_ok());
    }

    #[test]
    fn apply_ignores_old_revisions_and_lists_by_prefix() {
        let mut state = state(100);
        assert!(!apply(&mut state, &event(EventType::Deleted, "/a/1", 13)));
        assert_eq!(state.revision, 14);
        let listed: Vec<String> = state.list("/").iter().map(|o| o.key.to_string()).collect();
        assert_eq!(listed, vec!["/a/1", "/b/1"]);
        assert!(state.list("/a/1/").is_empty());
        // (prefix, has objects): `/a/2` was deleted, `/a/1` is not under `/a/1/`.
        for (prefix, want) in
            [("/", true), ("/a/", true), ("/a/1", true), ("/a/1/", false), ("/a/2", false), ("/c", false), ("", true)]
        {
            assert_eq!(state.has_prefix(prefix), want, "{prefix}");
        }
        assert!(state.get("/a/2").is_none());
    }
}
