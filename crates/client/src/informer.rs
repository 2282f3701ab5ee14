//! An informer: a kube-rs reflector (watch + local cache) that also tells subscribers what changed.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, watch};

/// A change seen by an informer.
#[derive(Debug, Clone)]
pub enum Change<K> {
    Applied(Arc<K>),
    Deleted(Arc<K>),
    /// A (re-)list finished: objects deleted while the watch was down vanish from the store without a
    /// [`Change::Deleted`], so subscribers should look at everything again.
    Relisted,
}

/// The cache of one resource type across all namespaces, kept current by a watch.
pub struct Informer<K: Resource + 'static>
where
    K::DynamicType: Hash + Eq + Clone,
{
    pub store: Store<K>,
    changes: broadcast::Sender<Change<K>>,
    /// Becomes true once the first list is in the store. kube's `Store::wait_until_ready` wakes only the
    /// last of several concurrent waiters (a oneshot keeps one waker), and every controller waits on it.
    listed: watch::Receiver<bool>,
}

impl<K> Informer<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Hash + Eq + Clone,
{
    /// Starts watching `api`; the returned informer's store fills once the initial list arrives.
    pub fn start(api: Api<K>) -> Informer<K> {
        Informer::start_trimmed(api, |_| {})
    }

    /// Like [`Informer::start`], with `trim` applied to every object before the store and the subscribers see
    /// it (upstream's informer transform): what the cache's readers never look at need not stay in memory.
    pub fn start_trimmed(api: Api<K>, trim: fn(&mut K)) -> Informer<K> {
        let (store, writer) = reflector::store();
        let (changes, _) = broadcast::channel(16 * 1024);
        let (listed_tx, listed) = watch::channel(false);
        let tx = changes.clone();
        let stream =
            reflector::reflector(writer, watcher(api, watcher::Config::default()).default_backoff().modify(trim));
        let cached = store.clone();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(watcher::Event::Apply(o)) => {
                        // The store already holds this object: subscribers (and the channel's ring of
                        // recent changes) share its copy instead of keeping one more of every object.
                        let shared = cached.get(&ObjectRef::from_obj(&o)).unwrap_or_else(|| Arc::new(o));
                        let _ = tx.send(Change::Applied(shared));
                    }
                    // Listed objects reach the store only at `InitDone`.
                    Ok(watcher::Event::InitApply(o)) => {
                        let _ = tx.send(Change::Applied(Arc::new(o)));
                    }
                    Ok(watcher::Event::Delete(o)) => {
                        let _ = tx.send(Change::Deleted(Arc::new(o)));
                    }
                    // The reflector has swapped the new list into the store before passing this on.
                    Ok(watcher::Event::InitDone) => {
                        listed_tx.send_replace(true);
                        let _ = tx.send(Change::Relisted);
                    }
                    Ok(watcher::Event::Init) => {}
                    Err(e) => tracing::debug!(error = %e, "watch error; retrying"),
                }
            }
        });
        Informer { store, changes, listed }
    }

    /// Changes from now on. A subscriber that falls behind misses changes (and should resync from the store).
    pub fn subscribe(&self) -> broadcast::Receiver<Change<K>> {
        self.changes.subscribe()
    }

    /// Waits until the initial list has been received (returns at once if the watch task is gone).
    pub async fn ready(&self) {
        let mut listed = self.listed.clone();
        let _ = listed.wait_for(|done| *done).await;
    }
}
