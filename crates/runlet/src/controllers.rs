//! This server's controllers (Job, scheduler, garbage collector, TTL, and the API server's own
//! namespace finalizer and event expiry): always on, or, with leader election, only while this
//! server leads.
//!
//! Each term runs on a Tokio runtime of its own, so that losing the lease stops every task the
//! controllers spawned at once (the runtime is shut down), without the controllers knowing about
//! elections.

use std::time::Duration;

use runlet_apiserver::{ApiState, events_ttl, namespaces};
use runlet_client::leader::LeaderElection;
use tokio::sync::oneshot;

/// Worker threads of a controllers' runtime.
const WORKER_THREADS: usize = 2;

/// How long a graceful stop waits for the lease to be given up.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// One term's controllers; they stop when this is dropped.
struct Term {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Term {
    fn start(client: &kube::Client, state: &ApiState) -> Term {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("runlet-controllers")
            .enable_all()
            .build();
        let runtime = match runtime {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!(%error, "cannot start a runtime for the controllers; they do not run");
                return Term { runtime: None };
            }
        };
        {
            let _inside = runtime.enter();
            runlet_controllers::manager::spawn_all(client.clone());
            tokio::spawn(namespaces::run_finalizer(state.clone()));
            tokio::spawn(events_ttl::run(state.clone(), events_ttl::EVENT_TTL));
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
pub fn spawn(client: kube::Client, state: ApiState, election: Option<LeaderElection>) -> Controllers {
    let (stop, stopped) = oneshot::channel::<()>();
    // A dropped handle is no request to stop.
    let stopped = async move {
        if stopped.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let task = tokio::spawn(async move {
        let Some(election) = election else {
            let _term = Term::start(&client, &state);
            stopped.await;
            return;
        };
        let identity = election.identity().to_owned();
        let (mut leadership, campaign) = election.spawn(stopped);
        while leadership.acquired().await {
            tracing::info!(%identity, "leading: starting the controllers");
            let term = Term::start(&client, &state);
            leadership.lost().await;
            drop(term);
            tracing::warn!(%identity, "no longer leading: stopped the controllers");
        }
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
