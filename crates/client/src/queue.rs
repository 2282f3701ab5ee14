//! A work queue with per-key serialization, in the manner of client-go's: a key added while it is being
//! processed is processed again afterwards (never concurrently), a key added many times while waiting is processed
//! once, and keys can be re-added after a delay or with per-key exponential back-off.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

struct State<K> {
    queue: VecDeque<K>,
    dirty: HashSet<K>,
    processing: HashSet<K>,
    failures: HashMap<K, u32>,
    /// The earliest pending delayed add of each key: a later one is dropped instead of getting its own timer
    /// (every sync of a Job with a deadline asks for a wake-up at that deadline).
    delayed: HashMap<K, Instant>,
    shut_down: bool,
}

/// See the module documentation. Cheap to clone.
pub struct WorkQueue<K> {
    state: Arc<Mutex<State<K>>>,
    ready: Arc<Notify>,
    base_delay: Duration,
    max_delay: Duration,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        WorkQueue {
            state: self.state.clone(),
            ready: self.ready.clone(),
            base_delay: self.base_delay,
            max_delay: self.max_delay,
        }
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> WorkQueue<K> {
    /// `base_delay` doubles per consecutive failure of a key, up to `max_delay`.
    pub fn new(base_delay: Duration, max_delay: Duration) -> Self {
        WorkQueue {
            state: Arc::new(Mutex::new(State {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                failures: HashMap::new(),
                delayed: HashMap::new(),
                shut_down: false,
            })),
            ready: Arc::new(Notify::new()),
            base_delay,
            max_delay,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(&self, key: K) {
        let mut s = self.lock();
        if s.shut_down || !s.dirty.insert(key.clone()) {
            return;
        }
        if !s.processing.contains(&key) {
            s.queue.push_back(key);
            drop(s);
            self.ready.notify_one();
        }
    }

    /// Adds `key` after `delay`, unless it is already due to be added no later than that.
    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let at = Instant::now() + delay;
        {
            let mut s = self.lock();
            match s.delayed.get(&key) {
                Some(pending) if *pending <= at => return,
                _ => s.delayed.insert(key.clone(), at),
            };
        }
        let q = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            {
                let mut s = q.lock();
                if s.delayed.get(&key) == Some(&at) {
                    s.delayed.remove(&key);
                }
            }
            q.add(key);
        });
    }

    /// Re-adds a key whose processing failed, after its back-off.
    pub fn add_rate_limited(&self, key: K) {
        let delay = {
            let mut s = self.lock();
            let n = s.failures.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
            self.base_delay.saturating_mul(factor).min(self.max_delay)
        };
        self.add_after(key, delay);
    }

    /// Clears the back-off of a key that was processed successfully.
    pub fn forget(&self, key: &K) {
        self.lock().failures.remove(key);
    }

    /// Waits for the next key; None once the queue is shut down and empty.
    pub async fn next(&self) -> Option<K> {
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.lock();
                if let Some(k) = s.queue.pop_front() {
                    s.dirty.remove(&k);
                    s.processing.insert(k.clone());
                    let more = !s.queue.is_empty();
                    drop(s);
                    if more {
                        // Wake another worker: notify_one stores only one permit.
                        self.ready.notify_one();
                    }
                    return Some(k);
                }
                if s.shut_down {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Marks `key` processed; if it was added meanwhile it goes back in the queue.
    pub fn done(&self, key: &K) {
        let mut s = self.lock();
        s.processing.remove(key);
        if s.dirty.contains(key) {
            s.queue.push_back(key.clone());
            drop(s);
            self.ready.notify_one();
        }
    }

    /// A worker: processes keys until the queue shuts down. `handle` returns when to look at the key again
    /// (`Ok(Some(after))`), or an error to retry it with the key's back-off; success clears the back-off.
    pub async fn run_worker<F, Fut, E>(&self, what: &'static str, mut handle: F)
    where
        K: Debug,
        F: FnMut(K) -> Fut,
        Fut: Future<Output = Result<Option<Duration>, E>>,
        E: Display,
    {
        while let Some(key) = self.next().await {
            match handle(key.clone()).await {
                Ok(again) => {
                    self.forget(&key);
                    if let Some(after) = again {
                        self.add_after(key.clone(), after);
                    }
                }
                Err(e) => {
                    tracing::debug!(?key, error = %e, "{what} failed; retrying");
                    self.add_rate_limited(key.clone());
                }
            }
            self.done(&key);
        }
    }

    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.ready.notify_waiters();
    }

    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dedups_and_serializes_per_key() {
        let q = WorkQueue::new(Duration::from_millis(1), Duration::from_millis(10));
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let k = q.next().await.unwrap();
        assert_eq!(k, "a");
        // Added while processing: not handed out again until done.
        q.add("a");
        assert_eq!(q.next().await.unwrap(), "b");
        assert!(q.is_empty());
        q.done(&"a");
        assert_eq!(q.next().await.unwrap(), "a");
        q.done(&"a");
        q.done(&"b");
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn a_later_delayed_add_of_a_pending_key_is_dropped() {
        let ms = Duration::from_millis;
        let q = WorkQueue::new(ms(1), ms(10));
        let start = Instant::now();
        q.add_after("k", ms(200));
        q.add_after("k", ms(400));
        let next = q.lock().delayed.get("k").copied();
        assert!(next.is_some_and(|at| at - start >= ms(200) && at - start < ms(400)), "{next:?}");
        // An earlier one replaces the pending one as the key's next wake-up.
        q.add_after("k", ms(100));
        let next = q.lock().delayed.get("k").copied();
        assert!(next.is_some_and(|at| at - start < ms(200)), "{next:?}");
        assert_eq!(q.next().await, Some("k"));
        assert!(start.elapsed() >= ms(100));
        q.done(&"k");
        // The 200 ms timer still fires (harmless); the 400 ms one was never started.
        assert_eq!(tokio::time::timeout(ms(2000), q.next()).await, Ok(Some("k")));
        assert!(start.elapsed() < ms(400), "{:?}", start.elapsed());
        q.done(&"k");
        assert!(q.lock().delayed.is_empty());
        assert!(tokio::time::timeout(ms(500), q.next()).await.is_err(), "a third add arrived");
    }

    #[tokio::test]
    async fn a_worker_retries_failures_with_back_off_and_requeues_when_asked() {
        let ms = Duration::from_millis;
        let q = WorkQueue::new(ms(40), ms(1000));
        // "flaky" fails twice, then succeeds; "again" asks to be looked at once more.
        let seen: Arc<Mutex<Vec<(&str, Instant)>>> = Arc::default();
        let log = seen.clone();
        let worker = q.clone();
        let task = tokio::spawn(async move {
            worker
                .run_worker("test", |key: &'static str| {
                    let log = log.clone();
                    async move {
                        let mut log = log.lock().unwrap();
                        log.push((key, Instant::now()));
                        let tries = log.iter().filter(|(k, _)| *k == key).count();
                        match (key, tries) {
                            ("flaky", 1 | 2) => Err("boom"),
                            ("again", 1) => Ok(Some(ms(10))),
                            _ => Ok(None),
                        }
                    }
                })
                .await
        });
        let start = Instant::now();
        q.add("flaky");
        q.add("again");
        let finished = tokio::time::timeout(ms(3000), async {
            loop {
                let n = seen.lock().unwrap().len();
                if n == 5 {
                    break;
                }
                tokio::time::sleep(ms(5)).await;
            }
        })
        .await;
        assert!(finished.is_ok(), "{:?}", seen.lock().unwrap());
        let log = seen.lock().unwrap().clone();
        let flaky: Vec<Duration> = log.iter().filter(|(k, _)| *k == "flaky").map(|(_, t)| *t - start).collect();
        assert_eq!(flaky.len(), 3, "{log:?}");
        // Back-off doubles: 40 ms after the first failure, 80 ms after the second.
        assert!(flaky[1] - flaky[0] >= ms(40), "{flaky:?}");
        assert!(flaky[2] - flaky[1] >= ms(80), "{flaky:?}");
        assert_eq!(log.iter().filter(|(k, _)| *k == "again").count(), 2, "{log:?}");
        // Success cleared the back-off.
        assert!(q.lock().failures.is_empty());
        tokio::time::sleep(ms(200)).await;
        assert_eq!(seen.lock().unwrap().len(), 5, "nothing more after success");
        q.shut_down();
        assert!(tokio::time::timeout(ms(1000), task).await.is_ok(), "the worker ends with the queue");
    }

    #[tokio::test]
    async fn delayed_and_rate_limited_adds_arrive_later() {
        let q = WorkQueue::new(Duration::from_millis(20), Duration::from_millis(40));
        q.add_after("x", Duration::from_millis(30));
        assert!(q.is_empty());
        let got = tokio::time::timeout(Duration::from_secs(2), q.next()).await.unwrap();
        assert_eq!(got, Some("x"));
        q.done(&"x");
        let start = std::time::Instant::now();
        q.add_rate_limited("y");
        q.add_rate_limited("y");
        let got = tokio::time::timeout(Duration::from_secs(2), q.next()).await.unwrap();
        assert_eq!(got, Some("y"));
        assert!(start.elapsed() >= Duration::from_millis(20));
        q.shut_down();
        q.done(&"y");
        assert_eq!(q.next().await, None);
    }
}
