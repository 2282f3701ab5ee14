//! The etcd backend: objects are JSON values under a key prefix of a real etcd (v3 API), revisions
//! are etcd's own, and each write is one etcd transaction comparing the key's revisions, as
//! kube-apiserver's storage does. The committed stream comes from one etcd watch on the whole
//! prefix ([`follow`]), so several runlet servers on the same etcd all see every write.
//!
//! A refused write also puts a marker key inside the watched prefix (in the same transaction), and
//! is answered only once the watch has delivered the marker: by then this server's cache shows the
//! state the write was judged against, as with SQLite. A marker moves the revision on (etcd's
//! revisions are shared with everything in that etcd anyway) but changes no object.

mod convert;
mod feed;
mod follow;
mod keys;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, Identity, KeyValue, PutOptions,
    TlsOptions, Txn, TxnOp, TxnOpResponse, TxnResponse,
};
use futures::future::BoxFuture;

use crate::backend::{Backend, BackendStats, CommittedStream, WriteOp};
use crate::object::{Event, Object, Revision, StoreError, encode_value};
use convert::{Done, Kv, committed, object, refusal};
use feed::Feed;
pub use keys::{KeySpace, KeySpaceError};

/// Objects read per request when listing (each at most `MAX_VALUE_BYTES`).
const PAGE: i64 = 256;

/// Largest etcd answer accepted: a full page of the largest objects, or a watch response carrying
/// many changes (with their previous values).
const MAX_MESSAGE_BYTES: usize = 512 * 1024 * 1024;

/// How to reach etcd and where in it the store lives.
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    /// Client URLs, such as `http://127.0.0.1:2379` (`https://` with `tls`).
    pub endpoints: Vec<String>,
    pub keys: KeySpace,
    /// Longest wait for one etcd request, and for the watch to deliver a write just made.
    pub request_timeout: Duration,
    pub tls: Option<EtcdTls>,
}

impl EtcdOptions {
    pub fn new(endpoints: Vec<String>, keys: KeySpace) -> EtcdOptions {
        EtcdOptions { endpoints, keys, request_timeout: Duration::from_secs(10), tls: None }
    }
}

/// TLS to etcd (PEM): the CA that signed etcd's serving certificate, and this client's certificate
/// and key when etcd authenticates clients by certificate.
#[derive(Clone)]
pub struct EtcdTls {
    pub ca_pem: String,
    pub client: Option<(String, String)>,
}

impl std::fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("EtcdTls").field("client_certificate", &self.client.is_some()).finish_non_exhaustive()
    }
}

fn backend_error(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("etcd {what}: {error}"))
}

/// A key-value from etcd with its key mapped to the store's.
fn kv(key: Arc<str>, from: &KeyValue) -> Kv {
    Kv { key, value: from.value().to_vec(), create_revision: from.create_revision(), mod_revision: from.mod_revision() }
}

/// A connected client and the key space: what both the backend and its watch loop use.
#[derive(Clone)]
pub(crate) struct Etcd {
    client: Client,
    keys: KeySpace,
    timeout: Duration,
}

impl Etcd {
    async fn within<T>(
        &self,
        what: &str,
        request: impl Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(backend_error(what, e)),
            Err(_) => Err(backend_error(what, format!("no answer within {:?}", self.timeout))),
        }
    }

    fn watch_client(&self) -> etcd_client::WatchClient {
        self.client.watch_client().max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// The current revision of the whole etcd.
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        let marker = self.keys.marker();
        let mut kv = self.client.kv_client();
        let answer = self.within("read", kv.get(marker, Some(GetOptions::new().with_count_only()))).await?;
        Ok(answer.header().map_or(0, |h| h.revision()))
    }

    /// Every object under the store prefix `prefix`, read in pages at one revision.
    async fn read_all(&self, prefix: &str) -> Result<(Vec<Object>, Revision), StoreError> {
        let Some(etcd_prefix) = self.keys.etcd_prefix(prefix) else {
            return Ok((Vec::new(), self.current_revision().await?));
        };
        let end = keys::prefix_end(etcd_prefix.as_bytes());
        let mut kv_client = self.client.kv_client().max_decoding_message_size(MAX_MESSAGE_BYTES);
        let mut objects = Vec::new();
        let mut start = etcd_prefix.into_bytes();
        let mut revision = 0;
        loop {
            let mut options = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
            if revision > 0 {
                options = options.with_revision(revision);
            }
            let page = self.within("read", kv_client.get(start.clone(), Some(options))).await?;
            if revision == 0 {
                revision = page.header().map_or(0, |h| h.revision());
            }
            for found in page.kvs() {
                let Some(key) = self.keys.from_etcd(found.key()) else { continue };
                match object(&kv(key.clone(), found)) {
                    Ok(object) => objects.push(object),
                    Err(error) => tracing::warn!(%key, %error, "skipping a stored value that is no JSON object"),
                }
            }
            match page.kvs().last() {
                Some(last) if page.more() => start = keys::key_after(last.key()),
                _ => return Ok((objects, revision)),
            }
        }
    }
}

/// Counters of the write path.
#[derive(Default)]
struct Counters {
    writes: AtomicU64,
    rejected: AtomicU64,
}

pub struct EtcdBackend {
    etcd: Etcd,
    feed: Arc<Feed>,
    follower: tokio::task::JoinHandle<()>,
    counters: Counters,
}

impl EtcdBackend {
    /// Connects and starts following the key space. Fails if etcd does not answer within the request
    /// timeout. Must be called inside a Tokio runtime.
    pub async fn connect(options: EtcdOptions) -> Result<EtcdBackend, StoreError> {
        let connect = ConnectOptions::new()
            .with_connect_timeout(options.request_timeout)
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            // A member cut off from its cluster must not serve stale reads and watches.
            .with_require_leader(true);
        let connect = match &options.tls {
            None => connect,
            Some(tls) => {
                let mut config = TlsOptions::new().ca_certificate(Certificate::from_pem(&tls.ca_pem));
                if let Some((cert, key)) = &tls.client {
                    config = config.identity(Identity::from_pem(cert, key));
                }
                connect.with_tls(config)
            }
        };
        let client = Client::connect(&options.endpoints, Some(connect))
            .await
            .map_err(|e| backend_error(&format!("connecting to {}", options.endpoints.join(",")), e))?;
        let etcd = Etcd { client, keys: options.keys, timeout: options.request_timeout };
        let revision = etcd.current_revision().await?;
        let feed = Feed::new(revision);
        let follower = tokio::spawn(follow::follow(etcd.clone(), feed.clone(), revision + 1));
        Ok(EtcdBackend { etcd, feed, follower, counters: Counters::default() })
    }

    /// A handle that compacts this etcd's history (see [`Compactor`]).
    pub fn compactor(&self) -> Compactor {
        Compactor { etcd: self.etcd.clone() }
    }

    /// Waits until the watch has delivered `revision` (so the caller's cache can show it).
    async fn delivered(&self, revision: Revision) -> Result<(), StoreError> {
        let timeout = self.etcd.timeout;
        match tokio::time::timeout(timeout, self.feed.reaches(revision)).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(StoreError::Closed),
            Err(_) => Err(StoreError::Backend(format!(
                "etcd committed revision {revision}, but this server's watch has not delivered it within {timeout:?}"
            ))),
        }
    }

    async fn write(&self, op: WriteOp) -> Result<Event, StoreError> {
        let key = op.key().clone();
        let Some(etcd_key) = self.etcd.keys.to_etcd(&key) else {
            let reason = format!("the key is outside the store's key space {}", self.etcd.keys.etcd_root());
            return Err(StoreError::InvalidValue { key: key.to_string(), reason });
        };
        let exists = Compare::create_revision(etcd_key.clone(), CompareOp::Greater, 0);
        let unchanged = |expected: Option<Revision>| {
            let mut compares = vec![exists.clone()];
            compares.extend(expected.map(|e| Compare::mod_revision(etcd_key.clone(), CompareOp::Equal, e)));
            compares
        };
        let (done, compares, then, value, expected) = match op {
            WriteOp::Create { key, mut value } => {
                let json = encode_value(&key, &mut value)?;
                let absent = Compare::create_revision(etcd_key.clone(), CompareOp::Equal, 0);
                (Done::Created, vec![absent], TxnOp::put(etcd_key.clone(), json, None), Some(value), None)
            }
            WriteOp::Update { key, mut value, expected } => {
                let json = encode_value(&key, &mut value)?;
                let put = TxnOp::put(etcd_key.clone(), json, Some(PutOptions::new().with_prev_key()));
                (Done::Updated, unchanged(expected), put, Some(value), expected)
            }
            WriteOp::Delete { expected, .. } => {
                let delete = TxnOp::delete(etcd_key.clone(), Some(DeleteOptions::new().with_prev_key()));
                (Done::Deleted, unchanged(expected), delete, None, expected)
            }
        };
        let txn = Txn::new().when(compares).and_then(vec![then]).or_else(vec![
            TxnOp::get(etcd_key, Some(GetOptions::new().with_keys_only())),
            TxnOp::put(self.etcd.keys.marker(), "", None),
        ]);
        let mut kv_client = self.etcd.client.kv_client();
        let answer: TxnResponse = self.etcd.within("write", kv_client.txn(txn)).await?;
        let revision = answer.header().map_or(0, |h| h.revision());
        let first = answer.op_responses().into_iter().next();
        if answer.succeeded() {
            let prev = match first {
                Some(TxnOpResponse::Put(put)) => put.prev_key().map(|p| kv(key.clone(), p)),
                Some(TxnOpResponse::Delete(delete)) => delete.prev_kvs().first().map(|p| kv(key.clone(), p)),
                _ => None,
            };
            let event = committed(done, &key, value, revision, prev);
            self.delivered(revision).await?;
            self.counters.writes.fetch_add(1, Ordering::Relaxed);
            Ok(event)
        } else {
            let current = match first {
                Some(TxnOpResponse::Get(get)) => get.kvs().first().map(KeyValue::mod_revision),
                _ => None,
            };
            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
            self.delivered(revision).await?;
            Err(refusal(done == Done::Created, &key, expected, current))
        }
    }
}

impl Drop for EtcdBackend {
    fn drop(&mut self) {
        self.follower.abort();
        // Ends the committed streams: the store's watches end and its writers get Closed.
        self.feed.close();
    }
}

impl Backend for EtcdBackend {
    fn range(&self, prefix: &str) -> BoxFuture<'_, Result<(Vec<Object>, Revision), StoreError>> {
        let prefix = prefix.to_owned();
        Box::pin(async move { self.etcd.read_all(&prefix).await })
    }

    fn txn(&self, op: WriteOp) -> BoxFuture<'_, Result<Event, StoreError>> {
        Box::pin(self.write(op))
    }

    /// Only from the revision reached on: the cache above keeps the history watchers replay.
    fn watch(&self, after: Revision) -> Result<CommittedStream, StoreError> {
        self.feed.subscribe(after)
    }

    fn revision(&self) -> Revision {
        self.feed.revision()
    }

    fn stats(&self) -> BackendStats {
        let writes = self.counters.writes.load(Ordering::Relaxed);
        // One transaction per write: etcd batches them into its own commits.
        BackendStats { commits: writes, writes, rejected: self.counters.rejected.load(Ordering::Relaxed) }
    }
}

/// Compacts etcd's history, as kube-apiserver does: every interval, everything older than the
/// revision seen one interval before. Several servers may run one on the same etcd; compacting to
/// a revision already compacted is a no-op.
#[derive(Clone)]
pub struct Compactor {
    etcd: Etcd,
}

impl Compactor {
    /// Forgets the history before `revision`.
    pub async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut kv = self.etcd.client.kv_client();
        match tokio::time::timeout(self.etcd.timeout, kv.compact(revision, None)).await {
            Ok(Ok(_)) => Ok(()),
            // Someone compacted as far or further already.
            Ok(Err(etcd_client::Error::GRpcStatus(status))) if status.code() == tonic::Code::OutOfRange => Ok(()),
            Ok(Err(e)) => Err(backend_error("compact", e)),
            Err(_) => Err(backend_error("compact", format!("no answer within {:?}", self.etcd.timeout))),
        }
    }

    pub async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.etcd.current_revision().await
    }

    /// Runs forever (stop it by dropping the future).
    pub async fn run(self, interval: Duration) {
        let mut previous: Option<Revision> = None;
        loop {
            tokio::time::sleep(interval).await;
            if let Some(revision) = previous
                && let Err(error) = self.compact(revision).await
            {
                tracing::warn!(%error, revision, "compacting etcd failed");
            }
            previous = match self.current_revision().await {
                Ok(revision) => Some(revision),
                Err(error) => {
                    tracing::warn!(%error, "reading etcd's revision failed");
                    None
                }
            };
        }
    }
}
