//! The order in which a pod's containers are stopped, as the kubelet 1.33 stops them (its termination
//! ordering for pods with sidecars). Pure.
//!
//! Every container running when the stop begins gets SIGTERM at once, except sidecars: a sidecar waits until
//! every main container and every sidecar defined after it have exited, or until the grace period is over,
//! so sidecars stop in reverse order of definition once the main containers are gone. Each container gets
//! SIGKILL when what is left of the grace period (in whole seconds, as the kubelet counts) has passed after
//! its SIGTERM, but never sooner than two seconds after it. A stop with no grace period kills at once.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::model::SlotId;

/// The kubelet's `minimumGracePeriodInSeconds`.
pub const MINIMUM_GRACE: Duration = Duration::from_secs(2);

/// A container of the pod as the ordering sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub id: SlotId,
    pub sidecar: bool,
    pub running: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shutdown {
    began: Timestamp,
    grace: Duration,
    /// Containers running when the stop began that have not had their SIGTERM, with what they wait for.
    waiting: BTreeMap<SlotId, Vec<SlotId>>,
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)).unwrap_or(t)
}

impl Shutdown {
    /// A stop beginning at `now`; `members` in the pod's order (init containers, then the main ones).
    pub fn new(members: &[Member], now: Timestamp, grace: Duration) -> Shutdown {
        let running: Vec<SlotId> = members.iter().filter(|m| m.running).map(|m| m.id).collect();
        let mains: Vec<SlotId> = running.iter().copied().filter(|id| !id.init).collect();
        let mut waiting = BTreeMap::new();
        let mut later_sidecar: Option<SlotId> = None;
        for m in members.iter().rev() {
            let mut prerequisites = Vec::new();
            if m.sidecar {
                prerequisites.extend(&mains);
                prerequisites.extend(later_sidecar.filter(|s| running.contains(s)));
                later_sidecar = Some(m.id);
            }
            if m.running {
                waiting.insert(m.id, prerequisites);
            }
        }
        Shutdown { began: now, grace, waiting }
    }

    fn deadline(&self) -> Timestamp {
        after(self.began, self.grace)
    }

    /// A later stop with a shorter grace period moves the deadline forward (never back).
    pub fn shorten(&mut self, now: Timestamp, grace: Duration) {
        let deadline = after(now, grace);
        if deadline < self.deadline() {
            self.grace = Duration::try_from(deadline.duration_since(self.began)).unwrap_or(Duration::ZERO);
        }
    }

    /// The containers whose turn has come at `now`, each with when it is to be killed if it is still running.
    /// `running` says which containers still run.
    pub fn turns(&mut self, now: Timestamp, running: impl Fn(SlotId) -> bool) -> Vec<(SlotId, Timestamp)> {
        let over = now >= self.deadline();
        let due: Vec<SlotId> = self
            .waiting
            .iter()
            .filter(|(_, prerequisites)| over || prerequisites.iter().all(|p| !running(*p)))
            .map(|(id, _)| *id)
            .collect();
        let elapsed = Duration::try_from(now.duration_since(self.began)).unwrap_or(Duration::ZERO);
        // Whole seconds, as the kubelet's grace periods are.
        let left = self.grace.saturating_sub(Duration::from_secs(elapsed.as_secs()));
        let kill_at = if self.grace.is_zero() { now } else { after(now, left.max(MINIMUM_GRACE)) };
        for id in &due {
            self.waiting.remove(id);
        }
        due.into_iter().map(|id| (id, kill_at)).collect()
    }

    /// When the next turn is due even if nothing exits (the deadline), while anyone is waiting.
    pub fn wake_at(&self) -> Option<Timestamp> {
        (!self.waiting.is_empty()).then(|| self.deadline())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    const I0: SlotId = SlotId { init: true, index: 0 };
    const S1: SlotId = SlotId { init: true, index: 1 };
    const S2: SlotId = SlotId { init: true, index: 2 };
    const M0: SlotId = SlotId { init: false, index: 0 };
    const M1: SlotId = SlotId { init: false, index: 1 };

    fn member(id: SlotId, sidecar: bool, running: bool) -> Member {
        Member { id, sidecar, running }
    }

    #[test]
    fn sidecars_stop_after_the_main_containers_in_reverse_order() {
        let members = [
            member(I0, false, false),
            member(S1, true, true),
            member(S2, true, true),
            member(M0, false, true),
            member(M1, false, true),
        ];
        let mut s = Shutdown::new(&members, at(100), Duration::from_secs(30));
        let mut running = vec![S1, S2, M0, M1];
        // (time, containers that exited just before, SIGTERMs then)
        type Step = (i64, Vec<SlotId>, Vec<(SlotId, Timestamp)>);
        let steps: Vec<Step> = vec![
            (100, vec![], vec![(M0, at(130)), (M1, at(130))]),
            (103, vec![M0], vec![]),
            (105, vec![M1], vec![(S2, at(130))]),
            (106, vec![], vec![]),
            (110, vec![S2], vec![(S1, at(130))]),
        ];
        for (t, exited, want) in steps {
            running.retain(|id| !exited.contains(id));
            assert_eq!(s.turns(at(t), |id| running.contains(&id)), want, "at {t}");
        }
        assert_eq!(s.wake_at(), None);
    }

    #[test]
    fn the_deadline_signals_everyone_left_with_the_minimum_window() {
        let members = [member(S1, true, true), member(M0, false, true)];
        let mut s = Shutdown::new(&members, at(0), Duration::from_secs(5));
        assert_eq!(s.turns(at(0), |_| true), [(M0, at(5))]);
        assert_eq!(s.wake_at(), Some(at(5)));
        assert_eq!(s.turns(at(4), |_| true), []);
        // The main container ignored SIGTERM and is still there: the sidecar's turn comes with the deadline,
        // and it still gets two seconds.
        assert_eq!(s.turns(at(5), |_| true), [(S1, at(7))]);
    }

    #[test]
    fn whole_seconds_left_and_a_shorter_second_stop() {
        let members = [member(S1, true, true), member(M0, false, true)];
        let mut s = Shutdown::new(&members, at(0), Duration::from_secs(30));
        s.turns(at(0), |_| true);
        let half = at(10).checked_add(SignedDuration::from_millis(700)).unwrap();
        // 10.7 s gone: 20 whole seconds left, counted from now.
        assert_eq!(s.turns(half, |id| id != M0), [(S1, after(half, Duration::from_secs(20)))]);

        let mut s = Shutdown::new(&members, at(0), Duration::from_secs(30));
        s.turns(at(0), |_| true);
        s.shorten(at(1), Duration::from_secs(3));
        assert_eq!(s.wake_at(), Some(at(4)));
        s.shorten(at(2), Duration::from_secs(60));
        assert_eq!(s.wake_at(), Some(at(4)), "a longer grace period does not extend it");
    }

    #[test]
    fn no_grace_kills_everything_now() {
        let members = [member(S1, true, true), member(M0, false, true)];
        let mut s = Shutdown::new(&members, at(0), Duration::ZERO);
        assert_eq!(s.turns(at(0), |_| true), [(M0, at(0)), (S1, at(0))]);
    }
}
