//! What only the SQLite backend promises: state in one file that survives a restart, group commit,
//! unreadable rows skipped on load; and the store's behaviour in the windows a hooked backend opens.
//! The contract every backend keeps is in `contract.rs`.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use runlet_store::{Committed, Revision, Store, StoreError, StoreOptions};
use serde_json::{Value, json};
use support::error_name;

fn job(name: &str, generation: i64) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "generation": generation}})
}

fn rv(value: &Value) -> &str {
    value["metadata"]["resourceVersion"].as_str().unwrap_or("<missing>")
}

async fn file(path: &Path, history: usize) -> Store {
    Store::open_sqlite(path, StoreOptions { history }).await.expect("open sqlite store")
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

    fn txn(
        &self,
        op: runlet_store::WriteOp,
    ) -> futures::future::BoxFuture<'_, Result<runlet_store::Event, StoreError>> {
        self.inner.txn(op)
    }

    fn watch(&self, after: Revision) -> Result<runlet_store::CommittedStream, StoreError> {
        use futures::StreamExt;
        let delay = self.stream_delay;
        let stream = self.inner.watch(after)?;
        Ok(Box::pin(stream.then(move |committed: Committed| async move {
            tokio::time::sleep(delay).await;
            committed
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

#[tokio::test]
async fn a_write_refused_by_a_race_returns_once_reads_show_the_winner_even_when_the_cache_lags() {
    // Committed batches reach the cache late, so a refusal answered at once would come before the winner is visible.
    let backend = Hooked::open(false, Duration::from_millis(50)).await;
    let store = Store::with_backend(backend, StoreOptions::default()).await.expect("open store");
    support::refused_writes_see_the_winner(&store).await;
}

#[tokio::test]
async fn refused_writes_consume_no_revision_and_invalid_values_never_reach_the_backend() {
    let store = Store::open_memory(StoreOptions::default()).await.expect("open");
    let key = "/registry/jobs/default/pi";
    assert_eq!(store.create(key, job("pi", 1)).await.expect("create").mod_revision, 1);
    for refused in [
        store.create(key, job("pi", 2)).await,
        store.update(key, job("pi", 2), Some(7)).await,
        store.delete("/registry/jobs/default/nope", None).await,
    ] {
        assert!(refused.is_err());
    }
    let invalid = store.create("/x", json!([1])).await.err().map(|e| error_name(&e));
    assert_eq!(invalid.as_deref(), Some("InvalidValue(/x)"));
    assert_eq!(store.revision(), 1);
    assert_eq!(store.update(key, job("pi", 2), Some(1)).await.expect("update").mod_revision, 2);
    let stats = store.stats();
    assert_eq!((stats.writes, stats.rejected), (2, 3));
}
