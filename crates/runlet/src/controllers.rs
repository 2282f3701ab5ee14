//! This server's controllers (Job, scheduler, garbage collector, TTL, and the API server's own
//! namespace finalizer and event expiry): always on, or, with leader election, only while this
//! server leads.
//!
//! Each term runs on a Tokio runtime of its own, so that losing the lease stops every task the
//! controllers spawned at once (the runtime is shut down), without the controllers knowing about
//! elections.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use runlet_apiserver::observe::health::Check;
use runlet_apiserver::{ApiState, events_ttl, namespaces};
use runlet_client::leader::LeaderElection;
use runlet_controllers::manager::InformersSynced;
use runlet_controllers::manager::ManagerConfig;
use tokio::sync::oneshot;

/// Worker threads of a controllers' runtime.
const WORKER_THREADS: usize = 2;

/// How long a graceful stop waits for the lease to be given up.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// One term's controllers; they stop when this is dropped.
struct Term {
    runtime: Option<tokio::runtime::Runtime>,
}

/// What this server's controllers are doing, as the `controllers` and `informer-sync` health checks see it.
#[derive(Clone, Debug, Default)]
enum Phase {
    #[default]
    Starting,
    /// Another server leads; nothing runs here, and nothing has to.
    Standby,
    Running(InformersSynced),
    Failed(String),
    Stopped,
}

#[derive(Clone, Default)]
struct Health(Arc<Mutex<Phase>>);

impl Health {
    fn set(&self, phase: Phase) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = phase;
    }

    fn phase(&self) -> Phase {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Adds `controllers` and `informer-sync` to the API server's readiness checks.
    fn register(&self, state: &ApiState) {
        let health = self.clone();
        state.health.register(Check::new("controllers", false, move || {
            let phase = health.phase();
            async move {
                match phase {
                    Phase::Running(_) | Phase::Standby => Ok(()),
                    Phase::Starting => Err("the controllers are starting".into()),
                    Phase::Failed(why) => Err(format!("the controllers failed: {why}")),
                    Phase::Stopped => Err("the controllers were stopped".into()),
                }
            }
        }));
        let health = self.clone();
        state.health.register(Check::new("informer-sync", false, move || {
            let phase = health.phase();
            async move {
                match phase {
                    Phase::Running(synced) if synced.is_synced() => Ok(()),
                    Phase::Running(_) => Err("the controllers' informers have not listed yet".into()),
                    Phase::Standby => Ok(()),
                    _ => Err("no controllers run here".into()),
                }
            }
        }));
    }
}

impl Term {
    fn start(client: &kube::Client, state: &ApiState, config: ManagerConfig, health: &Health) -> Term {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("runlet-controllers")
            .enable_all()
            .build();
        let runtime = match runtime {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!(%error, "cannot start a runtime for the controllers; they do not run");
                health.set(Phase::Failed(format!("no runtime: {error}")));
                return Term { runtime: None };
            }
        };
        {
            let _inside = runtime.enter();
            health.set(Phase::Running(runlet_controllers::manager::spawn_all_with(client.clone(), config)));
            tokio::spawn(namespaces::run_finalizer(state.clone()));
            tokio::spawn(events_ttl::run(state.clone(), events_ttl::EVENT_TTL));
            tokio::spawn(runlet_apiserver::auth::token_cleaner::run(state.clone()));
        }
        Term { runtime: Some(runtime) }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Drops every task now, without waiting for any (allowed inside another runtime).
            runtime.shutdown_background();
        }
    }
}

/// The running controllers. Dropping this handle leaves them running (until the process exits);
/// [`Controllers::shutdown`] stops them and gives the lease up.
pub struct Controllers {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts the controllers now, or, with `election`, whenever this server leads.
pub fn spawn(
    client: kube::Client,
    state: ApiState,
    election: Option<LeaderElection>,
    config: ManagerConfig,
) -> Controllers {
    let (stop, stopped) = oneshot::channel::<()>();
    // A dropped handle is no request to stop.
    let stopped = async move {
        if stopped.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let health = Health::default();
    health.register(&state);
    let task = tokio::spawn(async move {
        let Some(election) = election else {
            let _term = Term::start(&client, &state, config, &health);
            stopped.await;
            health.set(Phase::Stopped);
            return;
        };
        let identity = election.identity().to_owned();
        health.set(Phase::Standby);
        let (mut leadership, campaign) = election.spawn(stopped);
        while leadership.acquired().await {
            tracing::info!(%identity, "leading: starting the controllers");
            let term = Term::start(&client, &state, config, &health);
            leadership.lost().await;
            drop(term);
            health.set(Phase::Standby);
            tracing::warn!(%identity, "no longer leading: stopped the controllers");
        }
        health.set(Phase::Stopped);
        let _ = campaign.await;
    });
    Controllers { stop: Some(stop), task }
}

impl Controllers {
    /// Stops the controllers, and gives the lease up if this server holds it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(STOP_TIMEOUT, &mut self.task).await.is_err() {
            self.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::{Api, PostParams};
    use runlet_apiserver::server;
    use runlet_client::leader::ElectionConfig;
    use runlet_codec::Lease;
    use runlet_store::{Store, StoreOptions};
    use std::time::Instant;

    async fn api() -> (ApiState, kube::Client) {
        let store = Store::open_memory(StoreOptions::default()).await.expect("store");
        let state = ApiState::new(store);
        namespaces::ensure_system_namespaces(&state).await.expect("namespaces");
        let client = kube::Client::new(server::router(state.clone()), "default");
        (state, client)
    }

    /// Waits until the store has `count` open watches (the controllers' informers hold them).
    async fn watchers(state: &ApiState, check: impl Fn(usize) -> bool) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let open = state.store.stats().watchers;
            if check(open) || Instant::now() > deadline {
                return open;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn controllers_without_election_run_until_shut_down() {
        let (state, client) = api().await;
        let controllers = spawn(client, state.clone(), None, ManagerConfig::default());
        assert!(watchers(&state, |n| n >= 3).await >= 3, "the informers watch jobs, pods and nodes");
        controllers.shutdown().await;
        assert_eq!(watchers(&state, |n| n == 0).await, 0, "stopping ends every watch of the controllers");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_leader_whose_lease_is_taken_stops_its_controllers_at_once() {
        let (state, client) = api().await;
        let config = ElectionConfig {
            lease_duration: Duration::from_secs(3),
            renew_deadline: Duration::from_secs(2),
            retry_period: Duration::from_millis(200),
        };
        let election = LeaderElection::new(client.clone(), "kube-system", "test", "me".into(), config);
        let controllers = spawn(client.clone(), state.clone(), Some(election), ManagerConfig::default());
        assert!(watchers(&state, |n| n >= 3).await >= 3, "the leader starts its controllers");
        let leases: Api<Lease> = Api::namespaced(client, "kube-system");
        let mut lease = leases.get("test").await.expect("the lease");
        assert_eq!(lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref()), Some("me"));

        // Another holder writes itself in (as a server that took over after a partition would).
        let spec = lease.spec.as_mut().expect("spec");
        spec.holder_identity = Some("intruder".into());
        spec.lease_duration_seconds = Some(3600);
        spec.renew_time = Some(runlet_codec::MicroTime(jiff::Timestamp::now()));
        let taken = Instant::now();
        leases.replace("test", &PostParams::default(), &lease).await.expect("take the lease");
        assert_eq!(watchers(&state, |n| n == 0).await, 0, "the controllers stopped");
        // The next attempt (every 200 ms) sees the new holder; the controllers stop right then.
        assert!(taken.elapsed() < Duration::from_secs(2), "stopped after {:?}", taken.elapsed());
        // They stay stopped while someone else holds the lease (watched for 1 s: five attempts).
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(state.store.stats().watchers, 0);
        let holder = leases.get("test").await.expect("lease").spec.and_then(|s| s.holder_identity);
        assert_eq!(holder.as_deref(), Some("intruder"), "the former leader never wrote itself back");
        controllers.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_leader_that_shuts_down_gives_the_lease_to_the_next_at_once() {
        let (state, client) = api().await;
        // With upstream's timings: a take-over without the release would wait 15 s.
        let config = ElectionConfig::default();
        let first = spawn(
            client.clone(),
            state.clone(),
            Some(LeaderElection::new(client.clone(), "kube-system", "test", "first".into(), config)),
            ManagerConfig::default(),
        );
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
        let holder = || async { leases.get_opt("test").await.ok().flatten().and_then(|l| l.spec?.holder_identity) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while holder().await.as_deref() != Some("first") {
            assert!(Instant::now() < deadline, "the first candidate never led");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let second = spawn(
            client.clone(),
            state.clone(),
            Some(LeaderElection::new(client.clone(), "kube-system", "test", "second".into(), config)),
            ManagerConfig::default(),
        );
        // Let the second see the lease held (its attempts come every 2 s).
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(holder().await.as_deref(), Some("first"));
        let stopped = Instant::now();
        first.shutdown().await;
        while holder().await.as_deref() != Some("second") {
            assert!(stopped.elapsed() < Duration::from_secs(10), "the second did not take the released lease");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Released: taken at the second's next attempt (2 s), not after the 15 s lease.
        assert!(stopped.elapsed() < Duration::from_secs(8), "{:?}", stopped.elapsed());
        assert!(watchers(&state, |n| n >= 3).await >= 3, "the new leader runs the controllers");
        second.shutdown().await;
    }
}
