//! What the store's test files share.
#![allow(dead_code)]

pub mod etcd;
pub mod proxy;

use runlet_store::{EtcdOptions, KeySpace, Object, Revision, Store, StoreError};
use serde_json::{Value, json};

/// A store on the etcd at `endpoint` whose keys (all starting with `/`) live under `root` there.
pub fn etcd_options(endpoint: &str, root: &str) -> EtcdOptions {
    EtcdOptions::new(vec![endpoint.to_owned()], KeySpace::new("/", root).expect("key space"))
}

pub fn error_name(e: &StoreError) -> String {
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

fn job(name: &str, generation: i64) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "generation": generation}})
}

type Outcome = (Result<Object, StoreError>, Option<Revision>);

/// Runs `write`, then reads `key` the moment it returns: what its caller would see.
async fn write_then_read(store: &Store, key: &str, write: impl Future<Output = Result<Object, StoreError>>) -> Outcome {
    let result = write.await;
    (result, store.get(key).map(|o| o.mod_revision))
}

/// Of two racing writes exactly one won: the winner's object, and the loser's error and what it read.
fn one_winner(a: Outcome, b: Outcome) -> (Object, (String, Option<Revision>)) {
    match (a, b) {
        ((Ok(won), _), (Err(lost), seen)) | ((Err(lost), seen), (Ok(won), _)) => (won, (error_name(&lost), seen)),
        (a, b) => {
            panic!("expected one winner, got {:?} and {:?}", a.0.map(|o| o.mod_revision), b.0.map(|o| o.mod_revision))
        }
    }
}

/// Two writes race on one key; the one refused is answered only once a read shows what it lost to.
pub async fn refused_writes_see_the_winner(store: &Store) {
    let key = "/registry/jobs/default/race";
    // Two creates.
    let (a, b) = tokio::join!(
        write_then_read(store, key, store.create(key, job("a", 1))),
        write_then_read(store, key, store.create(key, job("b", 1)))
    );
    let (won, lost) = one_winner(a, b);
    assert_eq!(lost, (format!("AlreadyExists({key})"), Some(won.mod_revision)));

    // Two compare-and-swaps on the same revision.
    let current = won.mod_revision;
    let (a, b) = tokio::join!(
        write_then_read(store, key, store.update(key, job("a", 2), Some(current))),
        write_then_read(store, key, store.update(key, job("b", 2), Some(current)))
    );
    let (won, lost) = one_winner(a, b);
    assert_eq!(lost, (format!("Conflict({key},{current},{})", won.mod_revision), Some(won.mod_revision)));

    // A delete and an update on the same revision: whichever loses reads what the other did.
    let current = won.mod_revision;
    let (d, u) = tokio::join!(
        write_then_read(store, key, store.delete(key, Some(current))),
        write_then_read(store, key, store.update(key, job("u", 3), Some(current)))
    );
    let deleted = d.0.is_ok();
    let (won, lost) = one_winner(d, u);
    if deleted {
        assert_eq!(lost, (format!("NotFound({key})"), None));
    } else {
        assert_eq!(lost, (format!("Conflict({key},{current},{})", won.mod_revision), Some(won.mod_revision)));
    }
}
