//! What the etcd backend adds to the contract: several stores on one etcd see each other's writes
//! and race fairly; key spaces are apart; revisions are etcd's; a store cut off from etcd while its
//! history is compacted reloads, and its old watches end with Expired; etcd restarting loses nothing.

mod support;

use std::time::{Duration, Instant};

use runlet_store::{EtcdBackend, EventType, Store, StoreOptions, Watch};
use serde_json::{Value, json};
use support::etcd::EtcdServer;
use support::proxy::Proxy;
use support::{error_name, etcd_options};

fn object(name: &str, generation: i64) -> Value {
    json!({"metadata": {"name": name, "generation": generation}})
}

async fn open(endpoint: &str, root: &str) -> Store {
    Store::open_etcd(etcd_options(endpoint, root), StoreOptions::default()).await.expect("open etcd store")
}

/// Polls `check` until it holds or `timeout` passes.
async fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

async fn next(watch: &mut Watch) -> Option<runlet_store::Event> {
    tokio::time::timeout(Duration::from_secs(20), watch.next()).await.expect("a watch event within 20s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_on_one_etcd_see_each_others_writes_and_race_fairly() {
    let Some(etcd) = EtcdServer::start("stores_on_one_etcd_see_each_others_writes_and_race_fairly") else { return };
    let (a, b) = (open(&etcd.endpoint(), "/shared").await, open(&etcd.endpoint(), "/shared").await);
    let mut watch_b = b.watch("/jobs/", None).expect("watch on b");

    // A write on one is in the other's cache and watches.
    let created = a.create("/jobs/x", object("x", 1)).await.expect("create on a");
    let seen = next(&mut watch_b).await.expect("b's watch sees a's write");
    assert_eq!((seen.kind, seen.object.mod_revision), (EventType::Added, created.mod_revision));
    assert!(eventually(Duration::from_secs(10), || b.get("/jobs/x").is_some()).await);
    assert_eq!(b.get("/jobs/x").map(|o| o.value), Some(created.value.clone()), "same object, same resourceVersion");

    // Compare-and-swap across servers: one wins, the other is refused and then reads the winner.
    let current = created.mod_revision;
    let (on_a, on_b) = tokio::join!(
        a.update("/jobs/x", object("x", 2), Some(current)),
        b.update("/jobs/x", object("x", 3), Some(current))
    );
    let (won, lost, loser) = match (on_a, on_b) {
        (Ok(won), Err(lost)) => (won, lost, &b),
        (Err(lost), Ok(won)) => (won, lost, &a),
        (on_a, on_b) => {
            panic!("exactly one update wins: {:?} / {:?}", on_a.map(|o| o.mod_revision), on_b.map(|o| o.mod_revision))
        }
    };
    assert_eq!(error_name(&lost), format!("Conflict(/jobs/x,{current},{})", won.mod_revision));
    assert_eq!(loser.get("/jobs/x").map(|o| o.mod_revision), Some(won.mod_revision), "the loser reads the winner");

    // Creates of one name on both: one object.
    let (on_a, on_b) = tokio::join!(a.create("/jobs/y", object("ya", 1)), b.create("/jobs/y", object("yb", 1)));
    assert_eq!(on_a.is_ok() as u8 + on_b.is_ok() as u8, 1, "exactly one create wins");

    // Deletes reach the other side with the last state.
    let deleted = b.delete("/jobs/x", None).await.expect("delete on b");
    assert!(eventually(Duration::from_secs(10), || a.get("/jobs/x").is_none()).await);
    let mut watch_a = a.watch("/jobs/", Some(won.mod_revision)).expect("watch from a revision");
    let mut events = Vec::new();
    while events.len() < 2 {
        let e = next(&mut watch_a).await.expect("event");
        events.push((e.kind, e.object.key.to_string(), e.object.mod_revision));
    }
    assert!(events.contains(&(EventType::Deleted, "/jobs/x".into(), deleted.mod_revision)), "{events:?}");
}

#[tokio::test]
async fn key_spaces_on_one_etcd_are_apart_and_revisions_are_etcds() {
    let Some(etcd) = EtcdServer::start("key_spaces_on_one_etcd_are_apart_and_revisions_are_etcds") else { return };
    // `/tenant` and `/tenant2` share their first letters: neither may see the other.
    let one = open(&etcd.endpoint(), "/tenant").await;
    let two = open(&etcd.endpoint(), "/tenant2").await;
    let a = one.create("/a", object("a", 1)).await.expect("create in one");
    let b = two.create("/a", object("b", 1)).await.expect("create in two");
    assert!(b.mod_revision > a.mod_revision, "one etcd, one sequence of revisions");
    assert_eq!(one.get("/a").map(|o| o.value["metadata"]["name"].clone()), Some(json!("a")));
    assert_eq!(two.get("/a").map(|o| o.value["metadata"]["name"].clone()), Some(json!("b")));
    assert_eq!(one.list("").0.len(), 1);
    // A third store loading the first space finds exactly its objects, at etcd's revisions.
    let again = open(&etcd.endpoint(), "/tenant").await;
    let listed: Vec<(String, i64)> = again.list("").0.iter().map(|o| (o.key.to_string(), o.mod_revision)).collect();
    assert_eq!(listed, vec![("/a".to_string(), a.mod_revision)]);
    assert!(again.revision() >= b.mod_revision, "its reads are consistent at etcd's current revision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_cut_off_while_history_is_compacted_reloads_and_old_watches_expire() {
    let Some(etcd) = EtcdServer::start("a_store_cut_off_while_history_is_compacted_reloads_and_old_watches_expire")
    else {
        return;
    };
    let target = etcd.endpoint().trim_start_matches("http://").parse().expect("etcd address");
    let proxy = Proxy::start(target).await;
    let mut cut_off = etcd_options(&proxy.endpoint(), "/compact");
    cut_off.request_timeout = Duration::from_secs(3);
    let store = Store::open_etcd(cut_off, StoreOptions::default()).await.expect("open through the proxy");
    let other = open(&etcd.endpoint(), "/compact").await;
    let compactor =
        EtcdBackend::connect(etcd_options(&etcd.endpoint(), "/compact")).await.expect("connect").compactor();

    store.create("/a", object("a", 1)).await.expect("create a");
    store.create("/b", object("b", 1)).await.expect("create b");
    let before_cut = store.revision();
    let mut open_watch = store.watch("/", None).expect("watch");
    for _ in 0..2 {
        next(&mut open_watch).await.expect("snapshot");
    }

    proxy.cut();
    // Cut off, a write fails within the request timeout instead of hanging.
    let started = Instant::now();
    let failed = store.create("/during", object("d", 1)).await;
    assert!(matches!(failed, Err(runlet_store::StoreError::Backend(_))), "{:?}", failed.map(|o| o.mod_revision));
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    // Meanwhile the others go on, and the history the cut-off store needs is compacted away.
    other.create("/c", object("c", 1)).await.expect("create c");
    other.delete("/a", None).await.expect("delete a");
    let latest = other.update("/b", object("b", 2), None).await.expect("update b");
    compactor.compact(latest.mod_revision).await.expect("compact");

    proxy.restore();
    // It reloads: the writes it missed are there, the deleted object is gone.
    let caught_up = eventually(Duration::from_secs(30), || {
        store.get("/c").is_some() && store.get("/a").is_none() && store.revision() >= latest.mod_revision
    })
    .await;
    assert!(
        caught_up,
        "the store did not reload: {:?}",
        store.list("").0.iter().map(|o| o.key.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(store.get("/b").map(|o| o.mod_revision), Some(latest.mod_revision));
    // Its watches ended (their clients start again from a list) and the old revision is gone.
    let ended =
        tokio::time::timeout(Duration::from_secs(20), async { while open_watch.next().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the watch open across the gap ended");
    let expired = store.watch("/", Some(before_cut)).err().map(|e| error_name(&e));
    assert!(expired.as_deref().is_some_and(|e| e.starts_with(&format!("Expired({before_cut},"))), "{expired:?}");
    // And it writes again.
    let d = store.create("/d", object("d", 1)).await.expect("create after reloading");
    assert!(d.mod_revision > latest.mod_revision);
    assert!(eventually(Duration::from_secs(10), || other.get("/d").is_some()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_restarting_loses_nothing_and_watches_go_on() {
    let Some(mut etcd) = EtcdServer::start("etcd_restarting_loses_nothing_and_watches_go_on") else { return };
    let store = open(&etcd.endpoint(), "/restart").await;
    let first = store.create("/a", object("a", 1)).await.expect("create");
    let mut watch = store.watch("/", Some(first.mod_revision)).expect("watch");
    etcd.restart();
    // Writes fail while etcd is down and succeed again once it is back; retry like a client would.
    let deadline = Instant::now() + Duration::from_secs(60);
    let second = loop {
        match store.create("/b", object("b", 1)).await {
            Ok(object) => break object,
            // An attempt whose answer was lost may have committed.
            Err(runlet_store::StoreError::AlreadyExists { .. }) => break store.get("/b").expect("the committed write"),
            Err(e) if Instant::now() < deadline => {
                eprintln!("while etcd restarts: {}", error_name(&e));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no write succeeded after etcd restarted: {}", error_name(&e)),
        }
    };
    assert!(second.mod_revision > first.mod_revision);
    // The open watch resumed where it was: the next event is the new write, nothing lost or repeated.
    let event = next(&mut watch).await.expect("the watch goes on");
    assert_eq!((event.kind, event.object.mod_revision), (EventType::Added, second.mod_revision));
    assert_eq!(store.get("/a").map(|o| o.mod_revision), Some(first.mod_revision));
}

#[tokio::test]
async fn etcd_over_tls_takes_only_clients_with_a_certificate_from_its_ca() {
    let Some(etcd) = EtcdServer::start_tls("etcd_over_tls_takes_only_clients_with_a_certificate_from_its_ca") else {
        return;
    };
    let read = |name: &str| std::fs::read_to_string(etcd.file(name)).expect("TLS material");
    let ca = read(support::etcd::CA_FILE);
    let client = (read(support::etcd::CLIENT_CERT_FILE), read(support::etcd::CLIENT_KEY_FILE));
    let options = |endpoint: &str, tls: Option<runlet_store::EtcdTls>| {
        let mut options = etcd_options(endpoint, "/tls");
        options.request_timeout = Duration::from_secs(5);
        options.tls = tls;
        options
    };
    let trusted = runlet_store::EtcdTls { ca_pem: ca.clone(), client: Some(client.clone()) };

    // With the CA and a client certificate: a working store.
    let store = Store::open_etcd(options(&etcd.endpoint(), Some(trusted.clone())), StoreOptions::default())
        .await
        .expect("open over TLS");
    let created = store.create("/a", object("a", 1)).await.expect("create over TLS");
    assert_eq!(store.get("/a").map(|o| o.mod_revision), Some(created.mod_revision));

    // Refused, with an error and not a hang: no client certificate, a CA that did not sign etcd's
    // certificate, no TLS at all, or TLS asked of a plain URL.
    let other_ca = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("another CA").cert.pem();
    let plain = etcd.endpoint().replacen("https://", "http://", 1);
    let cases: Vec<(&str, runlet_store::EtcdOptions)> = vec![
        (
            "no client certificate",
            options(&etcd.endpoint(), Some(runlet_store::EtcdTls { ca_pem: ca.clone(), client: None })),
        ),
        (
            "another CA",
            options(&etcd.endpoint(), Some(runlet_store::EtcdTls { ca_pem: other_ca, client: Some(client) })),
        ),
        ("plain HTTP to a TLS port", options(&plain, None)),
        ("TLS with an http:// URL", options(&plain, Some(trusted))),
    ];
    for (name, options) in cases {
        let started = Instant::now();
        let opened = Store::open_etcd(options, StoreOptions::default()).await;
        let error = opened.err().map(|e| error_name(&e));
        assert!(error.as_deref().is_some_and(|e| e.starts_with("Backend(")), "{name}: {error:?}");
        assert!(started.elapsed() < Duration::from_secs(30), "{name}: took {:?}", started.elapsed());
    }
}
