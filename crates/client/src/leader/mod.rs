//! Leader election on a `coordination.k8s.io/v1` Lease, written through the API like any client's
//! (as kube-controller-manager's `--leader-elect`). The decisions are in [`decide`]; this module
//! reads and writes the Lease and tells the caller, through [`Leadership`], when it leads.
//!
//! The Lease is written by compare-and-swap on its resourceVersion, so of two candidates taking
//! over at once only one succeeds. A leader that cannot renew within the renew deadline reports
//! the loss at once, before any other candidate may take over.

pub mod decide;

use std::time::Instant;

use kube::api::{Api, PostParams};
use runlet_codec::{Lease, LeaseSpec, MicroTime, ObjectMeta};
use tokio::sync::watch;

pub use decide::{ElectionConfig, LeaseRecord};
use decide::{Observation, Step, decide, release, still_leading};

/// The reasons of refused writes the election expects (Kubernetes `Status.reason`).
const REASON_CONFLICT: &str = "Conflict";
const REASON_ALREADY_EXISTS: &str = "AlreadyExists";

fn refused(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.reason == REASON_CONFLICT || status.reason == REASON_ALREADY_EXISTS)
}

/// Whether this candidate leads, as the election last found.
#[derive(Clone)]
pub struct Leadership {
    leading: watch::Receiver<bool>,
}

impl Leadership {
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Waits until this candidate leads. False when the election has ended.
    pub async fn acquired(&mut self) -> bool {
        self.leading.wait_for(|leading| *leading).await.is_ok()
    }

    /// Waits until this candidate no longer leads (or the election has ended).
    pub async fn lost(&mut self) {
        let _ = self.leading.wait_for(|leading| !*leading).await;
    }
}

/// One candidate in the election for one Lease.
pub struct LeaderElection {
    leases: Api<Lease>,
    name: String,
    identity: String,
    config: ElectionConfig,
}

fn record_of(lease: &Lease) -> LeaseRecord {
    let spec = lease.spec.clone().unwrap_or_default();
    LeaseRecord {
        holder: spec.holder_identity,
        duration_seconds: spec.lease_duration_seconds,
        acquire_time: spec.acquire_time.map(|t| t.0),
        renew_time: spec.renew_time.map(|t| t.0),
        transitions: spec.lease_transitions.unwrap_or(0),
    }
}

fn spec_of(record: LeaseRecord, old: Option<LeaseSpec>) -> LeaseSpec {
    LeaseSpec {
        holder_identity: record.holder,
        lease_duration_seconds: record.duration_seconds,
        acquire_time: record.acquire_time.map(MicroTime),
        renew_time: record.renew_time.map(MicroTime),
        lease_transitions: Some(record.transitions),
        // Fields this election does not use are kept as they were.
        ..old.unwrap_or_default()
    }
}

impl LeaderElection {
    /// `identity` must be unique among the candidates (client-go uses the host name and a random id).
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: String,
        config: ElectionConfig,
    ) -> LeaderElection {
        LeaderElection { leases: Api::namespaced(client, namespace), name: name.to_owned(), identity, config }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Runs the election until `stop` completes, reporting through the returned [`Leadership`];
    /// then, if it leads, reports the loss first and gives the lease up so another candidate takes
    /// over without waiting for it to run out.
    pub fn spawn(self, stop: impl Future<Output = ()> + Send + 'static) -> (Leadership, tokio::task::JoinHandle<()>) {
        let (tx, leading) = watch::channel(false);
        let task = tokio::spawn(async move {
            tokio::select! {
                () = self.campaign(&tx) => {}
                () = stop => {}
            }
            let was_leading = tx.send_replace(false);
            if was_leading {
                self.release().await;
            }
        });
        (Leadership { leading }, task)
    }

    /// Acquires, then renews, forever; `tx` says whether this candidate leads.
    async fn campaign(&self, tx: &watch::Sender<bool>) {
        let mut observed = Observation::new(Instant::now());
        let mut renewed: Option<Instant> = None;
        loop {
            // A leader's attempt may not outlast its renew deadline; a candidate's gets as long.
            let budget = match renewed {
                Some(at) => (at + self.config.renew_deadline).saturating_duration_since(Instant::now()),
                None => self.config.renew_deadline,
            };
            let attempt = tokio::time::timeout(budget, self.try_acquire_or_renew(&mut observed)).await;
            let now = Instant::now();
            match attempt {
                Ok(Ok(true)) => {
                    if renewed.is_none() {
                        tracing::info!(identity = %self.identity, lease = %self.name, "became the leader");
                    }
                    renewed = Some(now);
                    tx.send_if_modified(|leading| !std::mem::replace(leading, true));
                }
                Ok(Ok(false)) => {
                    if renewed.take().is_some() {
                        tracing::warn!(identity = %self.identity, "another candidate holds the lease: no longer leading");
                        tx.send_replace(false);
                    }
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, lease = %self.name, "leader election: reading or writing the lease failed")
                }
                Err(_) => tracing::warn!(lease = %self.name, "leader election: the lease was not written in time"),
            }
            if let Some(at) = renewed
                && !still_leading(at, now, &self.config)
            {
                tracing::warn!(identity = %self.identity, "could not renew the lease within the renew deadline: no longer leading");
                renewed = None;
                tx.send_replace(false);
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// One attempt: true when this candidate holds the lease afterwards.
    async fn try_acquire_or_renew(&self, observed: &mut Observation) -> Result<bool, kube::Error> {
        let current = self.leases.get_opt(&self.name).await?;
        let record = current.as_ref().map(record_of);
        let now = Instant::now();
        *observed = std::mem::replace(observed, Observation::new(now)).saw(record.as_ref(), now);
        let written = match decide(record.as_ref(), observed, now, jiff::Timestamp::now(), &self.identity, &self.config)
        {
            Step::StandBy { .. } => return Ok(false),
            Step::Create(record) => {
                let lease = Lease {
                    metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
                    spec: Some(spec_of(record, None)),
                };
                self.leases.create(&PostParams::default(), &lease).await
            }
            Step::Update(record) => {
                // `current` carries the resourceVersion read: the write fails if anyone wrote since.
                let Some(mut lease) = current else { return Ok(false) };
                lease.spec = Some(spec_of(record, lease.spec.take()));
                self.leases.replace(&self.name, &PostParams::default(), &lease).await
            }
        };
        match written {
            Ok(lease) => {
                *observed = Observation { record: Some(record_of(&lease)), since: Instant::now() };
                Ok(true)
            }
            Err(error) if refused(&error) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Gives the lease up if this candidate still holds it (best effort: it runs out anyway).
    async fn release(&self) {
        let attempt = async {
            let Some(mut lease) = self.leases.get_opt(&self.name).await? else { return Ok(()) };
            let Some(record) = release(&record_of(&lease), &self.identity, jiff::Timestamp::now()) else {
                return Ok(());
            };
            lease.spec = Some(spec_of(record, lease.spec.take()));
            self.leases.replace(&self.name, &PostParams::default(), &lease).await.map(|_| ())
        };
        match tokio::time::timeout(self.config.retry_period, attempt).await {
            Ok(Ok(())) => tracing::info!(identity = %self.identity, "released the lease"),
            Ok(Err(error)) => tracing::warn!(%error, "releasing the lease failed; it runs out by itself"),
            Err(_) => tracing::warn!("releasing the lease took too long; it runs out by itself"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_specs_round_trip_and_keep_other_fields() {
        let record = LeaseRecord {
            holder: Some("a".into()),
            duration_seconds: Some(15),
            acquire_time: Some(jiff::Timestamp::from_second(10).unwrap_or_default()),
            renew_time: Some(jiff::Timestamp::from_second(12).unwrap_or_default()),
            transitions: 3,
        };
        let old = LeaseSpec { strategy: Some("OldestEmulationVersion".into()), ..LeaseSpec::default() };
        let spec = spec_of(record.clone(), Some(old));
        assert_eq!(spec.strategy.as_deref(), Some("OldestEmulationVersion"));
        let lease = Lease { metadata: ObjectMeta::default(), spec: Some(spec) };
        assert_eq!(record_of(&lease), record);
        assert_eq!(record_of(&Lease { metadata: ObjectMeta::default(), spec: None }), LeaseRecord::default());
    }
}
