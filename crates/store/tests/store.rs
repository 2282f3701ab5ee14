//! Store behaviour through the public API, over the SQLite backend.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use runlet_store::{Event, EventType, Revision, Store, StoreError, StoreOptions, WATCH_BUFFER, Watch};
use serde_json::{Value, json};

fn job(name: &str, generation: i64) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "generation": generation}})
}

fn rv(value: &Value) -> &str {
    value["metadata"]["resourceVersion"].as_str().unwrap_or("<missing>")
}

async fn memory() -> Store {
    Store::open_memory(StoreOptions::default()).await.expect("open memory store")
}

async fn file(path: &Path, history: usize) -> Store {
    Store::open_sqlite(path, StoreOptions { history }).await.expect("open sqlite store")
}

/// The next event, failing the test instead of hanging.
async fn next(watch: &mut Watch) -> Option<Event> {
    tokio::time::timeout(Duration::from_secs(10), watch.next()).await.expect("watch event within 10s")
}

fn error_name(e: &StoreError) -> String {
    match e {
        StoreError::AlreadyExists { key } => format!("AlreadyExists({key})"),
        StoreError::NotFound { key } => format!("NotFound({key})"),
        StoreError::Conflict { key, expected, actual } => format!("Conflict({key},{expected},{actual})"),
        StoreError::Expired { requested, oldest } => format!("Expired({requested},{oldest})"),
        StoreError::InvalidValue { key, .. } => format!("InvalidValue({key})"),
        StoreError::TooLarge { key, .. } => format!("TooLarge({key})"),
        StoreError::Backend(m) => format!("Backend({m})"),
        StoreError::Closed => "Closed".into(),
    }
}

#[tokio::test]
async fn values_over_the_size_limit_are_refused_and_change_nothing() {
    let store = memory().await;
    let key = "/registry/leases/default/big";
    store.create(key, job("big", 1)).await.expect("create");
    let mut huge = job("big", 1);
    huge["spec"]["blob"] = serde_json::json!("x".repeat(runlet_store::MAX_VALUE_BYTES));
    let before = store.revision();
    let e = store.update(key, huge.clone(), None).await.unwrap_err();
    assert_eq!(error_name(&e), format!("TooLarge({key})"));
    let e = store.create("/registry/leases/default/other", huge).await.unwrap_err();
    assert!(matches!(e, StoreError::TooLarge { .. }));
    assert_eq!(store.revision(), before);
    assert!(store.get(key).is_some_and(|o| o.value["spec"].get("blob").is_none()));
}

#[tokio::test]
async fn writes_check_preconditions_and_consume_revisions_only_on_success() {
    let store = memory().await;
    let key = "/registry/jobs/default/pi";
    let created = store.create(key, job("pi", 1)).await.expect("create");
    assert_eq!((created.create_revision, created.mod_revision), (1, 1));
    assert_eq!(rv(&created.value), "1");

    // (operation, expected outcome: Ok(mod_revision) or the error)
    type Op = Box<dyn Fn(Store) -> futures::future::BoxFuture<'static, Result<runlet_store::Object, StoreError>>>;
    let cases: Vec<(&str, Op, Result<Revision, &str>)> = vec![
        (
            "create existing",
            Box::new(move |s| Box::pin(async move { s.create(key, job("pi", 9)).await })),
            Err("AlreadyExists(/registry/jobs/default/pi)"),
        ),
        (
            "update stale",
            Box::new(move |s| Box::pin(async move { s.update(key, job("pi", 9), Some(7)).await })),
            Err("Conflict(/registry/jobs/default/pi,7,1)"),
        ),
        (
            "delete stale",
            Box::new(move |s| Box::pin(async move { s.delete(key, Some(0)).await })),
            Err("Conflict(/registry/jobs/default/pi,0,1)"),
        ),
        (
            "update missing",
            Box::new(|s| Box::pin(async move { s.update("/registry/jobs/default/nope", job("x", 1), None).await })),
            Err("NotFound(/registry/jobs/default/nope)"),
        ),
        (
            "delete missing",
            Box::new(|s| Box::pin(async move { s.delete("/registry/jobs/default/nope", None).await })),
            Err("NotFound(/registry/jobs/default/nope)"),
        ),
        (
            "create non-object",
            Box::new(|s| Box::pin(async move { s.create("/x", json!([1])).await })),
            Err("InvalidValue(/x)"),
        ),
        (
            "update cas ok",
            Box::new(move |s| Box::pin(async move { s.update(key, job("pi", 2), Some(1)).await })),
            Ok(2),
        ),
        (
            "update unconditional",
            Box::new(move |s| Box::pin(async move { s.update(key, job("pi", 3), None).await })),
            Ok(3),
        ),
        (
            "update with old cas",
            Box::new(move |s| Box::pin(async move { s.update(key, job("pi", 4), Some(2)).await })),
            Err("Conflict(/registry/jobs/default/pi,2,3)"),
        ),
        ("delete cas ok", Box::new(move |s| Box::pin(async move { s.delete(key, Some(3)).await })), Ok(4)),
        (
            "delete again",
            Box::new(move |s| Box::pin(async move { s.delete(key, None).await })),
            Err("NotFound(/registry/jobs/default/pi)"),
        ),
        ("recreate", Box::new(move |s| Box::pin(async move { s.create(key, job("pi", 1)).await })), Ok(5)),
    ];
    for (name, op, want) in cases {
        let before = store.revision();
        let got = op(store.clone()).await;
        match (&got, want) {
            (Ok(object), Ok(revision)) => {
                assert_eq!(object.mod_revision, revision, "{name}");
                assert_eq!(rv(&object.value), revision.to_string(), "{name}");
                assert_eq!(store.revision(), revision, "{name}: revision advanced");
            }
            (Err(e), Err(want)) => {
                assert_eq!(error_name(e), want, "{name}");
                assert_eq!(store.revision(), before, "{name}: failed op consumed no revision");
            }
            _ => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
    let stats = store.stats();
    // The invalid value is refused before reaching the backend, so it is not counted.
    assert_eq!((stats.writes, stats.rejected), (5, 7));
}

#[tokio::test]
async fn writes_are_visible_immediately_and_keep_create_revision() {
    let store = memory().await;
    let key = "/registry/jobs/default/a";
    store.create(key, job("a", 1)).await.expect("create");
    let mut value = job("a", 2);
    value["metadata"]["resourceVersion"] = json!("999"); // ignored: the store stamps its own
    let updated = store.update(key, value, Some(1)).await.expect("update");
    let got = store.get(key).expect("read-your-writes");
    assert_eq!(got.value, updated.value);
    assert_eq!(got.value["metadata"]["generation"], 2);
    assert_eq!(rv(&got.value), "2");
    assert_eq!((got.create_revision, got.mod_revision), (1, 2));
    let deleted = store.delete(key, None).await.expect("delete");
    assert!(store.get(key).is_none());
    assert_eq!((deleted.mod_revision, rv(&deleted.value)), (3, "3"));
    assert_eq!(deleted.value["metadata"]["generation"], 2);

    // metadata is created when the caller's value has none.
    let bare = store.create("/bare", json!({"kind": "Thing"})).await.expect("create bare");
    assert_eq!(*bare.value, json!({"kind": "Thing", "metadata": {"resourceVersion": "4"}}));
}

#[tokio::test]
async fn list_is_sorted_by_key_and_filtered_by_prefix() {
    let store = memory().await;
    for key in
        ["/registry/jobs/b/x", "/registry/jobs/a/z", "/registry/pods/a/p", "/registry/jobs/a/y", "/registry/jobs/ab/q"]
    {
        store.create(key, job("n", 1)).await.expect("create");
    }
    store.delete("/registry/jobs/a/z", None).await.expect("delete");
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
        assert_eq!(revision, 6, "{prefix}: list revision includes the delete");
    }
}

#[tokio::test]
async fn state_and_revision_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    let mut expected = BTreeMap::new();
    {
        let store = file(&path, 100).await;
        let mut last = 0;
        for i in 0..20 {
            let key = format!("/registry/jobs/default/j{i:02}");
            let object = store.create(&key, job(&format!("j{i}"), 1)).await.expect("create");
            assert!(object.mod_revision > last, "strictly increasing");
            last = object.mod_revision;
        }
        for i in (0..20).step_by(3) {
            let key = format!("/registry/jobs/default/j{i:02}");
            store.update(&key, job("updated", 2), None).await.expect("update");
        }
        for i in (1..20).step_by(5) {
            store.delete(&format!("/registry/jobs/default/j{i:02}"), None).await.expect("delete");
        }
        // The last write is a delete: the persisted revision must include it.
        assert_eq!(store.revision(), 20 + 7 + 4);
        for object in store.list("/").0 {
            expected
                .insert(object.key.to_string(), (object.value.clone(), object.create_revision, object.mod_revision));
        }
    }
    let journal_mode: String = rusqlite::Connection::open(&path)
        .expect("open raw")
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("journal mode");
    assert_eq!(journal_mode, "wal");
    let store = file(&path, 100).await;
    assert_eq!(store.revision(), 31);
    let reloaded: BTreeMap<_, _> = store
        .list("/")
        .0
        .into_iter()
        .map(|o| (o.key.to_string(), (o.value.clone(), o.create_revision, o.mod_revision)))
        .collect();
    assert_eq!(reloaded, expected);
    assert_eq!(reloaded.len(), 16);
    let next = store.create("/registry/jobs/default/new", job("new", 1)).await.expect("create after reopen");
    assert_eq!(next.mod_revision, 32);

    // History does not survive a restart: only the startup revision onward is watchable.
    drop(store);
    let store = file(&path, 100).await;
    let err = store.watch("/", Some(31)).err().map(|e| error_name(&e));
    assert_eq!(err.as_deref(), Some("Expired(31,32)"));
    assert!(store.watch("/", Some(32)).is_ok());
}

#[tokio::test]
async fn watch_from_revision_replays_exactly_the_later_events() {
    let store = memory().await;
    store.create("/registry/jobs/default/a", job("a", 1)).await.expect("create");
    store.create("/registry/pods/default/p", job("p", 1)).await.expect("create");
    let (_, from) = store.list("/registry/jobs/");
    store.create("/registry/jobs/default/b", job("b", 1)).await.expect("create");
    store.update("/registry/jobs/default/a", job("a", 2), None).await.expect("update");
    store.update("/registry/pods/default/p", job("p", 2), None).await.expect("update");
    store.delete("/registry/jobs/default/b", None).await.expect("delete");

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
            (EventType::Added, "/registry/jobs/default/b".into(), 3, "3".into(), false),
            (EventType::Modified, "/registry/jobs/default/a".into(), 4, "4".into(), true),
            (EventType::Deleted, "/registry/jobs/default/b".into(), 6, "6".into(), true),
        ]
    );
    // Then live events, and nothing else in between.
    store.create("/registry/jobs/default/c", job("c", 1)).await.expect("create");
    let live = next(&mut watch).await.expect("live event");
    assert_eq!((live.kind, live.object.mod_revision), (EventType::Added, 7));

    // Watching from the current revision sees only what comes next.
    let mut current = store.watch("/", Some(store.revision())).expect("watch current");
    store.delete("/registry/jobs/default/c", Some(7)).await.expect("delete");
    let deleted = next(&mut current).await.expect("delete event");
    assert_eq!((deleted.kind, deleted.object.mod_revision), (EventType::Deleted, 8));
    assert_eq!(deleted.object.value["metadata"]["name"], "c");
    assert_eq!(deleted.prev.as_ref().map(|p| rv(p).to_owned()).as_deref(), Some("7"));
}

#[tokio::test]
async fn watch_expires_when_history_is_exceeded() {
    let store = Store::open_memory(StoreOptions { history: 5 }).await.expect("open");
    for i in 0..12 {
        store.create(&format!("/k{i:02}"), job("k", 1)).await.expect("create");
    }
    // Revisions 8..=12 are retained, so watching from 7 or later works.
    let cases: Vec<(Revision, Result<usize, &str>)> =
        vec![(0, Err("Expired(0,7)")), (6, Err("Expired(6,7)")), (7, Ok(5)), (10, Ok(2)), (12, Ok(0))];
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
        assert_eq!(got, want.map_err(str::to_owned), "from {from}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_snapshot_then_live_has_no_gap_under_concurrent_writes() {
    let store = memory().await;
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
    while store.revision() < 100 {
        tokio::task::yield_now().await;
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

#[tokio::test]
async fn watch_from_none_snapshot_is_exact_and_sorted() {
    let store = memory().await;
    for key in ["/j/b", "/j/a", "/other/x", "/j/c"] {
        store.create(key, job("x", 1)).await.expect("create");
    }
    store.delete("/j/c", None).await.expect("delete");
    let mut watch = store.watch("/j/", None).expect("watch");
    let mut got = Vec::new();
    for _ in 0..2 {
        let e = next(&mut watch).await.expect("snapshot event");
        got.push((e.kind, e.object.key.to_string(), e.object.mod_revision));
    }
    store.update("/j/a", job("x", 2), None).await.expect("update");
    let live = next(&mut watch).await.expect("live");
    got.push((live.kind, live.object.key.to_string(), live.object.mod_revision));
    assert_eq!(
        got,
        vec![
            (EventType::Added, "/j/a".into(), 2),
            (EventType::Added, "/j/b".into(), 1),
            (EventType::Modified, "/j/a".into(), 6),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_watcher_is_closed_without_blocking_writers_and_dropped_watchers_are_removed() {
    let store = memory().await;
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
        tokio::time::timeout(Duration::from_secs(60), task).await.expect("writers not blocked").expect("task");
    }
    assert_eq!(store.revision() as usize, per_task * 10);
    assert_eq!(store.stats().watchers, 0, "the slow watcher was removed");
    // It still delivers what was buffered, then ends.
    let mut delivered = 0;
    while next(&mut slow).await.is_some() {
        delivered += 1;
    }
    assert!(delivered > 0 && delivered <= WATCH_BUFFER, "delivered {delivered}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_group_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = file(&dir.path().join("state.db"), 100_000).await;
    let tasks: Vec<_> = (0..50)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut revisions = Vec::new();
                for i in 0..40 {
                    let object = store.create(&format!("/registry/pods/t{t}/p{i}"), job("p", 1)).await.expect("create");
                    revisions.push(object.mod_revision);
                }
                revisions
            })
        })
        .collect();
    let mut all = HashSet::new();
    for task in tasks {
        let revisions = task.await.expect("task");
        assert!(revisions.windows(2).all(|w| w[0] < w[1]), "a task's own writes are ordered");
        all.extend(revisions);
    }
    assert_eq!(all.len(), 2000, "distinct revisions");
    assert_eq!(all.iter().copied().max(), Some(2000));
    assert_eq!(store.list("/registry/pods/").0.len(), 2000);
    let stats = store.stats();
    assert_eq!(stats.writes, 2000);
    assert!(stats.commits < stats.writes, "batched: {stats:?}");
}

#[tokio::test]
async fn corrupt_row_is_skipped_on_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    {
        let store = file(&path, 100).await;
        for name in ["a", "b", "c"] {
            store.create(&format!("/registry/jobs/default/{name}"), job(name, 1)).await.expect("create");
        }
    }
    {
        let conn = rusqlite::Connection::open(&path).expect("open raw");
        let changed = conn
            .execute("UPDATE kv SET value = '{\"metadata\": broken' WHERE key = '/registry/jobs/default/b'", [])
            .expect("corrupt row");
        assert_eq!(changed, 1);
    }
    let store = file(&path, 100).await;
    let keys: Vec<String> = store.list("/").0.iter().map(|o| o.key.to_string()).collect();
    assert_eq!(keys, vec!["/registry/jobs/default/a", "/registry/jobs/default/c"]);
    assert_eq!(store.revision(), 3);
    assert_eq!(store.get("/registry/jobs/default/c").map(|o| rv(&o.value).to_owned()).as_deref(), Some("3"));
    // The unreadable key behaves as absent and can be created again.
    let err = store.update("/registry/jobs/default/b", job("b", 2), None).await.err().map(|e| error_name(&e));
    assert_eq!(err.as_deref(), Some("NotFound(/registry/jobs/default/b)"));
    let recreated = store.create("/registry/jobs/default/b", job("b", 2)).await.expect("recreate");
    assert_eq!(recreated.mod_revision, 4);
}

#[tokio::test]
async fn watches_end_when_the_store_is_dropped() {
    let store = memory().await;
    let mut watch = store.watch("/", None).expect("watch");
    drop(store);
    assert!(next(&mut watch).await.is_none());
}

#[tokio::test]
async fn handles_and_futures_can_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let store = memory().await;
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

/// SQLite with hooks for the windows that matter: another writer commits right after every `range` is
/// read (where a store that reads before it subscribes loses the write), and committed batches reach the
/// store's cache late (where a caller may read before the cache shows what its write was judged against).
struct Hooked {
    inner: runlet_store::SqliteBackend,
    write_after_range: bool,
    stream_delay: Duration,
}

impl Hooked {
    async fn open(write_after_range: bool, stream_delay: Duration) -> Hooked {
        let inner = runlet_store::SqliteBackend::open_memory().await.expect("open backend");
        Hooked { inner, write_after_range, stream_delay }
    }
}

impl runlet_store::Backend for Hooked {
    fn range(
        &self,
        prefix: &str,
    ) -> futures::future::BoxFuture<'_, Result<(Vec<runlet_store::Object>, Revision), StoreError>> {
        let prefix = prefix.to_owned();
        Box::pin(async move {
            let read = self.inner.range(&prefix).await?;
            if self.write_after_range {
                let key = "/registry/jobs/default/racer".into();
                self.inner.txn(runlet_store::WriteOp::Create { key, value: job("racer", 1) }).await?;
            }
            Ok(read)
        })
    }

    fn txn(&self, op: runlet_store::WriteOp) -> futures::future::BoxFuture<'_, Result<Event, StoreError>> {
        self.inner.txn(op)
    }

    fn watch(&self, after: Revision) -> Result<runlet_store::CommittedStream, StoreError> {
        use futures::StreamExt;
        let delay = self.stream_delay;
        let stream = self.inner.watch(after)?;
        Ok(Box::pin(stream.then(move |batch| async move {
            tokio::time::sleep(delay).await;
            batch
        })))
    }

    fn revision(&self) -> Revision {
        self.inner.revision()
    }

    fn stats(&self) -> runlet_store::BackendStats {
        self.inner.stats()
    }
}

#[tokio::test]
async fn a_write_committed_while_the_store_loads_is_not_lost() {
    let backend = Hooked::open(true, Duration::ZERO).await;
    let store = Store::with_backend(backend, StoreOptions::default()).await.expect("open store");
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        while store.get("/registry/jobs/default/racer").is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(seen.is_ok(), "the write committed after the range never reached the cache");
    assert_eq!(store.revision(), 1);
    // Later writes follow on from it.
    let next = store.create("/registry/jobs/default/after", job("after", 1)).await.expect("create");
    assert_eq!(next.mod_revision, 2);
}

/// Runs `write`, then reads `key` the moment it returns: what its caller would see.
async fn write_then_read<T>(
    store: &Store,
    key: &str,
    write: impl std::future::Future<Output = Result<T, StoreError>>,
) -> (Result<T, StoreError>, Option<Revision>) {
    let result = write.await;
    (result, store.get(key).map(|o| o.mod_revision))
}

#[tokio::test]
async fn a_write_refused_by_a_race_returns_once_reads_show_the_winner() {
    // Committed batches reach the cache late, so a refusal answered at once would come before the winner is visible.
    let backend = Hooked::open(false, Duration::from_millis(50)).await;
    let store = Store::with_backend(backend, StoreOptions::default()).await.expect("open store");
    let key = "/registry/jobs/default/race";
    // (what the loser's write was refused with, what it reads right after)
    let refusals = |(a, seen_a): (Result<runlet_store::Object, StoreError>, Option<Revision>),
                    (b, seen_b): (Result<runlet_store::Object, StoreError>, Option<Revision>)| {
        let mut lost = Vec::new();
        for (result, seen) in [(a, seen_a), (b, seen_b)] {
            if let Err(e) = result {
                lost.push((error_name(&e), seen));
            }
        }
        lost
    };

    // Both creates are sent before either is in the cache.
    let (a, b) = tokio::join!(
        write_then_read(&store, key, store.create(key, job("a", 1))),
        write_then_read(&store, key, store.create(key, job("b", 1)))
    );
    assert_eq!(refusals(a, b), [(format!("AlreadyExists({key})"), Some(1))]);

    // The same for compare-and-swap: a re-read after the Conflict shows the winning revision.
    let (a, b) = tokio::join!(
        write_then_read(&store, key, store.update(key, job("a", 2), Some(1))),
        write_then_read(&store, key, store.update(key, job("b", 2), Some(1)))
    );
    assert_eq!(refusals(a, b), [(format!("Conflict({key},1,2)"), Some(2))]);

    // And for a write to a key another write just deleted.
    let (d, u) = tokio::join!(
        write_then_read(&store, key, store.delete(key, None)),
        write_then_read(&store, key, store.update(key, job("u", 3), None))
    );
    assert_eq!(refusals(d, u), [(format!("NotFound({key})"), None)]);
}

#[tokio::test]
async fn has_prefix_sees_live_keys_only() {
    let store = memory().await;
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
