//! A work queue with per-key serialization, in the manner of client-go's: a key added while it is being
//! processed is processed again afterwards (never concurrently), a key added many times while waiting is processed
//! once, and keys can be re-added after a delay or with per-key exponential back-off.

use std::collections::{HashMap, HashSet, VecDeque};
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
