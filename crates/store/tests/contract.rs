//! The store's contract through its public API, run against every backend: SQLite in memory, and a
//! real etcd started for the test (skipped, with a message, only where no etcd is installed).
//!
//! Revisions are compared to the store's own revision at the start: etcd's first write is not
//! revision 1, and on etcd a refused write moves the revision on (see the etcd backend) without
//! changing any object.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use runlet_store::{Event, EventType, Revision, Store, StoreError, StoreOptions, WATCH_BUFFER, Watch};
use serde_json::{Value, json};
use support::etcd::EtcdServer;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Etcd,
}

/// A store under test and what keeps its backend alive.
struct Subject {
    store: Store,
    /// Writes refused by a precondition leave the revision as it was (true for SQLite).
    refusals_keep_revision: bool,
    _etcd: Option<EtcdServer>,
}

impl Subject {
    /// None when the backend cannot run here (no etcd installed).
    async fn open(backend: Backend, test: &str, history: usize) -> Option<Subject> {
        let options = StoreOptions { history };
        match backend {
            Backend::Sqlite => {
                let store = Store::open_memory(options).await.expect("open memory store");
                Some(Subject { store, refusals_keep_revision: true, _etcd: None })
            }
            Backend::Etcd => {
                let etcd = EtcdServer::start(test)?;
                let store = Store::open_etcd(support::etcd_options(&etcd.endpoint(), "/contract"), options)
                    .await
                    .expect("open etcd store");
                Some(Subject { store, refusals_keep_revision: false, _etcd: Some(etcd) })
            }
        }
    }
}

fn job(name: &str, generation: i64) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "generation": generation}})
}

fn rv(value: &Value) -> &str {
    value["metadata"]["resourceVersion"].as_str().unwrap_or("<missing>")
}

/// The next event, failing the test instead of hanging.
async fn next(watch: &mut Watch) -> Option<Event> {
    tokio::time::timeout(Duration::from_secs(20), watch.next()).await.expect("watch event within 20s")
}

use support::error_name;

/// Declares `#[tokio::test]`s running `$case(backend, test name)` on each backend.
macro_rules! on_every_backend {
    ($($(#[$attr:meta])* $case:ident;)*) => {
        mod sqlite {
            $( $(#[$attr])* async fn $case() { super::$case(super::Backend::Sqlite, concat!("sqlite::", stringify!($case))).await } )*
        }
        mod etcd {
            $( $(#[$attr])* async fn $case() { super::$case(super::Backend::Etcd, concat!("etcd::", stringify!($case))).await } )*
        }
    };
}

on_every_backend! {
    #[tokio::test] values_over_the_size_limit_are_refused_and_change_nothing;
    #[tokio::test] writes_check_preconditions;
    #[tokio::test] writes_are_visible_immediately_and_keep_create_revision;
    #[tokio::test] list_is_sorted_by_key_and_filtered_by_prefix;
    #[tokio::test] watch_from_revision_replays_exactly_the_later_events;
    #[tokio::test] watch_expires_when_history_is_exceeded;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)] watch_snapshot_then_live_has_no_gap_under_concurrent_writes;
    #[tokio::test] watch_from_none_snapshot_is_exact_and_sorted;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)] slow_watcher_is_closed_and_dropped_watchers_are_removed;
    #[tokio::test] watches_end_when_the_store_is_dropped;
    #[tokio::test] handles_and_futures_can_cross_threads;
    #[tokio::test] has_prefix_sees_live_keys_only;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)] a_write_refused_by_a_race_returns_once_reads_show_the_winner;
}

async fn values_over_the_size_limit_are_refused_and_change_nothing(backend: Backend, test: &str) {
    let Some(subject) = Subject::open(backend, test, 100).await else { return };
    let store = subject.store;
    let key = "/registry/leases/default/big";
    store.create(key, job("big", 1)).await.expect("create");
    let mut huge = job("big", 1);
    huge["spec"]["blob"] = json!("x".repeat(runlet_store::MAX_VALUE_BYTES));
    let before = store.revision();
    let e = store.update(key, huge.clone(), None).await.unwrap_err();
    assert_eq!(error_name(&e), format!("TooLarge({key})"));
    let e = store.create("/registry/leases/default/other", huge).await.unwrap_err();
    assert!(matches!(e, StoreError::TooLarge { .. }));
    assert_eq!(store.revision(), before);
    assert!(store.get(key).is_some_and(|o| o.value["spec"].get("blob").is_none()));
    // Just under the limit is kept, whole.
    let mut largest = job("big", 2);
    let room = runlet_store::MAX_VALUE_BYTES - largest.to_string().len() - 64;
    largest["spec"] = json!({"blob": "y".repeat(room)});
    let stored = store.update(key, largest, None).await.expect("an object under the limit");
    assert_eq!(stored.value["spec"]["blob"].as_str().map(str::len), Some(room));
}

async fn writes_check_preconditions(backend: Backend, test: &str) {
    let Some(subject) = Subject::open(backend, test, 100).await else { return };
    let store = subject.store.clone();
    let key = "/registry/jobs/default/pi";
    let created = store.create(key, job("pi", 1)).await.expect("create");
    assert_eq!(created.create_revision, created.mod_revision);
    assert_eq!(rv(&created.value), created.mod_revision.to_string());
    assert_eq!(store.revision(), created.mod_revision);

    /// What a step expects as the compare-and-swap revision.
    #[derive(Clone, Copy)]
    enum Cas {
        None,
        Current,
        Stale,
        Zero,
    }
    #[derive(Clone, Copy)]
    enum Op {
        Create(&'static str),
        Update(&'static str, Cas),
        Delete(&'static str, Cas),
    }
    let nope = "/registry/jobs/default/nope";
    // (step, operation, Ok(()) or the error's name with `{key}` for the key, `{cur}` for its revision)
    let steps: Vec<(&str, Op, Result<(), &str>)> = vec![
        ("create existing", Op::Create(key), Err("AlreadyExists({key})")),
        ("update stale", Op::Update(key, Cas::Stale), Err("Conflict({key},{stale},{cur})")),
        ("delete stale", Op::Delete(key, Cas::Zero), Err("Conflict({key},0,{cur})")),
        ("update missing", Op::Update(nope, Cas::None), Err("NotFound({key})")),
        ("update missing with cas", Op::Update(nope, Cas::Zero), Err("NotFound({key})")),
        ("delete missing", Op::Delete(nope, Cas::None), Err("NotFound({key})")),
        ("update cas ok", Op::Update(key, Cas::Current), Ok(())),
        ("update unconditional", Op::Update(key, Cas::None), Ok(())),
        ("update with old cas", Op::Update(key, Cas::Stale), Err("Conflict({key},{stale},{cur})")),
        ("delete cas ok", Op::Delete(key, Cas::Current), Ok(())),
        ("delete again", Op::Delete(key, Cas::None), Err("NotFound({key})")),
        ("recreate", Op::Create(key), Ok(())),
    ];
    let (mut succeeded, mut refused) = (0, 0);
    for (name, op, want) in steps {
        let target = match op {
            Op::Create(k) | Op::Update(k, _) | Op::Delete(k, _) => k,
        };
        let before_revision = store.revision();
        let before = store.get(target).map(|o| o.mod_revision);
        let current = before.unwrap_or(0);
        let stale = current - 1;
        let cas = |cas: Cas| match cas {
            Cas::None => None,
            Cas::Current => Some(current),
            Cas::Stale => Some(stale),
            Cas::Zero => Some(0),
        };
        let got = match op {
            Op::Create(k) => store.create(k, job("pi", 9)).await,
            Op::Update(k, c) => store.update(k, job("pi", 2), cas(c)).await,
            Op::Delete(k, c) => store.delete(k, cas(c)).await,
        };
        match (got, want) {
            (Ok(object), Ok(())) => {
                succeeded += 1;
                assert!(object.mod_revision > before_revision, "{name}: a new revision");
                assert_eq!(store.revision(), object.mod_revision, "{name}: the store is at the write");
                assert_eq!(rv(&object.value), object.mod_revision.to_string(), "{name}");
                let now = store.get(target).map(|o| o.mod_revision);
                let deleted = matches!(op, Op::Delete(..));
                assert_eq!(now, (!deleted).then_some(object.mod_revision), "{name}: read-your-writes");
            }
            (Err(e), Err(want)) => {
                refused += 1;
                let want = want
                    .replace("{key}", target)
                    .replace("{cur}", &current.to_string())
                    .replace("{stale}", &stale.to_string());
                assert_eq!(error_name(&e), want, "{name}");
                assert_eq!(store.get(target).map(|o| o.mod_revision), before, "{name}: nothing changed");
                if subject.refusals_keep_revision {
                    assert_eq!(store.revision(), before_revision, "{name}: a refused write consumed no revision");
                }
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
    // A value that cannot be an object never reaches the backend.
    let before = store.revision();
    let invalid = store.create("/x", json!([1])).await.err().map(|e| error_name(&e));
    assert_eq!(invalid.as_deref(), Some("InvalidValue(/x)"));
    assert_eq!(store.revision(), before);
    // Every other write reached the backend; none was lost or counted twice.
    let stats = store.stats();
    assert_eq!((stats.writes, stats.rejected), (1 + succeeded, refused));
}

async fn writes_are_visible_immediately_and_keep_create_revision(backend: Backend, test: &str) {
    let Some(subject) = Subject::open(backend, test, 100).await else { return };
    let store = subject.store;
    let key = "/registry/jobs/default/a";
    let created = store.create(key, job("a", 1)).await.expect("create");
    let c = created.mod_revision;
    let mut value = job("a", 2);
    value["metadata"]["resourceVersion"] = json!("999"); // ignored: the store stamps its own
    let updated = store.update(key, value, Some(c)).await.expect("update");
    let u = updated.mod_revision;
    assert!(u > c);
    let got = store.get(key).expect("read-your-writes");
    assert_eq!(got.value, updated.value);
    assert_eq!(got.value["metadata"]["generation"], 2);
    assert_eq!(rv(&got.value), u.to_string());
    assert_eq!((got.create_revision, got.mod_revision), (c, u));
    let deleted = store.delete(key, None).await.expect("delete");
    assert!(store.get(key).is_none());
    assert!(deleted.mod_revision > u);
    assert_eq!(rv(&deleted.value), deleted.mod_revision.to_string());
    assert_eq!(deleted.value["metadata"]["generation"], 2);

    // metadata is created when the caller's value has none.
    let bare = store.create("/bare", json!({"kind": "Thing"})).await.expect("create bare");
    let expected = json!({"kind": "Thing", "metadata": {"resourceVersion": bare.mod_revision.to_string()}});
    assert_eq!(*bare.value, expected);
}

async fn list_is_sorted_by_key_and_filtered_by_prefix(backend: Backend, test: &str) {
    let Some(subject) = Subject::open(backend, test, 100).await else { return };
    let store = subject.store;
    for key in
        ["/registry/jobs/b/x", "/registry/jobs/a/z", "/registry/pods/a/p", "/registry/jobs/a/y", "/registry/jobs/ab/q"]
    {
        store.create(key, job("n", 1)).await.expect("create");
    }
    let deleted = store.delete("/registry/jobs/a/z", None).await.expect("delete");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("/registry/jobs/", vec!["/registry/jobs/a/y", "/registry/jobs/ab/q", "/registry/jobs/b/x"]),
        ("/registry/jobs/a/", vec!["/registry/jobs/a/y"]),
        ("/registry/pods/", vec!["/registry/pods/a/p"]),
        ("/registry/nodes/", vec![]),
        ("", vec!["/registry/jobs/a/y", "/registry/jobs/ab/q", "/registry/jobs/b/x", "/registry/pods/a/p"]),
    ];
    for (prefix, want) in cases {
        let (objects, revision) = store.list(prefix);
        let keys: Vec<&str> = objects.iter().map(|o| &*o.key).collect();
        assert_eq!(keys, want, "{prefix}");
        assert_eq!(revision, deleted.mod_revision, "{prefix}: list revision includes the delete");
    }
}

async fn watch_from_revision_replays_exactly_the_later_events(backend: Backend, test: &str) {
    let Some(subject) = Subject::open(backend, test, 100).await else { return };
    let store = subject.store;
    store.create("/registry/jobs/default/a", job("a", 1)).await.expect("create");
    store.create("/registry/pods/default/p", job("p", 1)).await.expect("create");
    let (_, from) = store.list("/registry/jobs/");
    let b = store.create("/registry/jobs/default/b", job("b", 1)).await.expect("create").mod_revision;
    let a = store.update("/registry/jobs/default/a", job("a", 2), None).await.expect("update").mod_revision;
    store.update("/registry/pods/default/p", job("p", 2), None).await.expect("update");
    let d = store.delete("/registry/jobs/default/b", None).await.expect("delete").mod_revision;

    let mut watch = store.watch("/registry/jobs/", Some(from)).expect("watch");
    let mut got = Vec::new();
    for _ in 0..3 {
        let e = next(&mut watch).await.expect("event");
        got.push((
            e.kind,
            e.object.key.to_string(),
            e.object.mod_revision,
            rv(&e.object.value).to_owned(),
            e.prev.is_some(),
        ));
    }
    assert_eq!(
        got,
        vec![
            (EventType::Added, "/registry/jobs/default/b".into(), b, b.to_string(), false),
            (EventType::Modified, "/registry/jobs/default/a".into(), a, a.to_string(), true),
            (EventType::Deleted, "/registry/jobs/default/b".into(), d, d.to_string(), true),
        ]
    );
    // Then live events, and nothing else in between.
    let c = store.create("/registry/jobs/default/c", job("c", 1)).await.expect("create").mod_revision;
    let live = next(&mut watch).await.expect("live event");
    assert_eq!((live.kind, live.object.mod_revision), (EventType::Added, c));

    // A live update carries what it replaced (selector-filtered watches decide ADDED/MODIFIED/DELETED by it).
    let c2 = store.update("/registry/jobs/default/c", job("c", 2), Some(c)).await.expect("update").mod_revision;
    let modified = next(&mut watch).await.expect("live update");
    assert_eq!((modified.kind, modified.object.mod_revision), (EventType::Modified, c2));
    let prev = modified.prev.as_ref().expect("prev of a live update");
    assert_eq!((rv(prev), prev["metadata"]["generation"].as_i64()), (c.to_string().as_str(), Some(1)));
    let c = c2;

    // Watching from the current revision sees only what comes next.
    let mut current = store.watch("/", Some(store.revision())).expect("watch current");
    let gone = store.delete("/registry/jobs/default/c", Some(c)).await.expect("delete").mod_revision;
    let deleted = next(&mut current).await.expect("delete event");
    assert_eq!((deleted.kind, deleted.object.mod_revision), (EventType::Deleted, gone));
    assert_eq!(deleted.object.value["metadata"]["name"], "c");
    assert_eq!(deleted.prev.as_ref().map(|p| rv(p).to_owned()), Some(c.to_string()));
}

async fn watch_expires_when_history_is_exceeded(backend: Backend, test: &str) {
    let Some(subject) = Subject::open(backend, test, 5).await else { return };
    let store = subject.store;
    let mut revisions = Vec::new();
    for i in 0..12 {
        revisions.push(store.create(&format!("/k{i:02}"), job("k", 1)).await.expect("create").mod_revision);
    }
    // The last 5 writes are kept: watching from the one before them or later works.
    let oldest = revisions[6];
    let cases: Vec<(Revision, Result<usize, String>)> = vec![
        (revisions[0] - 1, Err(format!("Expired({},{oldest})", revisions[0] - 1))),
        (revisions[5], Err(format!("Expired({},{oldest})", revisions[5]))),
        (revisions[6], Ok(5)),
        (revisions[9], Ok(2)),
        (revisions[11], Ok(0)),
    ];
    for (from, want) in cases {
        let got = match store.watch("/", Some(from)) {
            Ok(mut watch) => {
                let mut count = 0;
                while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(50), watch.next()).await {
                    count += 1;
                }
                Ok(count)
            }
            Err(e) => Err(error_name(&e)),
        };
        assert_eq!(got, want, "from {from}");
    }
}

async fn watch_snapshot_then_live_has_no_gap_under_concurrent_writes(backend: Backend, test: &str) {
    let Some(subject) = Subject::open(backend, test, 100_000).await else { return };
    let store = subject.store;
    let start = store.revision();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..60 {
                    let key = format!("/registry/jobs/w{w}/j{i}");
                    let created = store.create(&key, job("j", 1)).await.expect("create");
                    if i % 2 == 0 {
                        store.update(&key, job("j", 2), Some(created.mod_revision)).await.expect("update");
                    }
                    if i % 5 == 0 {
                        store.delete(&key, None).await.expect("delete");
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    // Start watching while writers are running.
    while store.revision() < start + 100 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut watch = store.watch("/registry/jobs/", None).expect("watch");
    let watch_started = store.revision();
    for writer in writers {
        writer.await.expect("writer task");
    }
    let final_revision = store.revision();
    assert!(watch_started < final_revision, "writes continued after the watch started");

    // Replaying snapshot + live events must rebuild the final state. A lost event leaves a
    // wrong revision, a missing key or an unknown key; a duplicate breaks per-key ordering.
    let listed: BTreeMap<String, Revision> =
        store.list("/registry/jobs/").0.into_iter().map(|o| (o.key.to_string(), o.mod_revision)).collect();
    let mut state: BTreeMap<String, Revision> = BTreeMap::new();
    let mut seen: BTreeMap<String, Revision> = BTreeMap::new();
    let mut last_revision = 0;
    while last_revision < final_revision || state != listed {
        let e = next(&mut watch).await.expect("event");
        let key = e.object.key.to_string();
        let revision = e.object.mod_revision;
        assert!(seen.get(&key).is_none_or(|r| *r < revision), "{key}@{revision} out of order or duplicated");
        seen.insert(key.clone(), revision);
        last_revision = last_revision.max(revision);
        match e.kind {
            EventType::Added => assert!(state.insert(key, revision).is_none(), "Added an existing key"),
            EventType::Modified => assert!(state.insert(key, revision).is_some(), "Modified an unknown key"),
            EventType::Deleted => assert!(state.remove(&key).is_some(), "Deleted an unknown key"),
        }
    }
    assert_eq!(state, listed);
    // Nothing more: the stream was exact.
    assert!(tokio::time::timeout(Duration::from_millis(100), watch.next()).await.is_err());
}

async fn watch_from_none_snapshot_is_exact_and_sorted(backend: Backend, test: &str) {
    let Some(subject) = Subject::open(backend, test, 100).await else { return };
    let store = subject.store;
    let mut created = BTreeMap::new();
    for key in ["/j/b", "/j/a", "/other/x", "/j/c"] {
        created.insert(key, store.create(key, job("x", 1)).await.expect("create").mod_revision);
    }
    store.delete("/j/c", None).await.expect("delete");
    let mut watch = store.watch("/j/", None).expect("watch");
    let mut got = Vec::new();
    for _ in 0..2 {
        let e = next(&mut watch).await.expect("snapshot event");
        got.push((e.kind, e.object.key.to_string(), e.object.mod_revision));
    }
    let updated = store.update("/j/a", job("x", 2), None).await.expect("update").mod_revision;
    let live = next(&mut watch).await.expect("live");
    got.push((live.kind, live.object.key.to_string(), live.object.mod_revision));
    assert_eq!(
        got,
        vec![
            (EventType::Added, "/j/a".into(), created["/j/a"]),
            (EventType::Added, "/j/b".into(), created["/j/b"]),
            (EventType::Modified, "/j/a".into(), updated),
        ]
    );
}

async fn slow_watcher_is_closed_and_dropped_watchers_are_removed(backend: Backend, test: &str) {
    let Some(subject) = Subject::open(backend, test, 100).await else { return };
    let store = subject.store;
    let start = store.revision();
    let mut slow = store.watch("/", None).expect("slow watch");
    let dropped = store.watch("/", None).expect("dropped watch");
    assert_eq!(store.stats().watchers, 2);
    drop(dropped);
    assert_eq!(store.stats().watchers, 1);

    let per_task = WATCH_BUFFER / 10 + 10;
    let tasks: Vec<_> = (0..10)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    store.create(&format!("/k/{t}/{i}"), json!({})).await.expect("create");
                }
            })
        })
        .collect();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(120), task).await.expect("writers not blocked").expect("task");
    }
    assert_eq!(store.list("/k/").0.len(), per_task * 10);
    assert!(store.revision() >= start + (per_task * 10) as Revision);
    assert_eq!(store.stats().watchers, 0, "the slow watcher was removed");
    // It still delivers what was buffered, then ends.
    let mut delivered = 0;
    while next(&mut slow).await.is_some() {
        delivered += 1;
    }
    assert!(delivered > 0 && delivered <= WATCH_BUFFER, "delivered {delivered}");
}

async fn watches_end_when_the_store_is_dropped(backend: Backend, test: &str) {
    let Some(subject) = Subject::open(backend, test, 100).await else { return };
    let mut watch = subject.store.watch("/", None).expect("watch");
    drop(subject.store);
    assert!(next(&mut watch).await.is_none());
}

async fn handles_and_futures_can_cross_threads(backend: Backend, test: &str) {
    fn send_sync<T: Send + Sync + 'static>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let Some(subject) = Subject::open(backend, test, 100).await else { return };
    let store = subject.store;
    send_sync(&store);
    let watch = store.watch("/", None).expect("watch");
    send(&watch);
    let create = store.create("/a", json!({}));
    send(&create);
    create.await.expect("create");
    let update = store.update("/a", json!({}), None);
    send(&update);
    update.await.expect("update");
    let delete = store.delete("/a", None);
    send(&delete);
    delete.await.expect("delete");
}

async fn has_prefix_sees_live_keys_only(backend: Backend, test: &str) {
    let Some(subject) = Subject::open(backend, test, 100).await else { return };
    let store = subject.store;
    store.create("/registry/jobs/ns1/a", job("a", 1)).await.expect("create");
    store.create("/registry/jobs/ns2/b", job("b", 1)).await.expect("create");
    store.delete("/registry/jobs/ns2/b", None).await.expect("delete");
    for (prefix, want) in [
        ("/registry/jobs/", true),
        ("/registry/jobs/ns1/", true),
        ("/registry/jobs/ns2/", false),
        ("/registry/pods/", false),
    ] {
        assert_eq!(store.has_prefix(prefix), want, "{prefix}");
    }
}

async fn a_write_refused_by_a_race_returns_once_reads_show_the_winner(backend: Backend, test: &str) {
    let Some(subject) = Subject::open(backend, test, 100).await else { return };
    support::refused_writes_see_the_winner(&subject.store).await;
}
