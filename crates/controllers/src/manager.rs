//! Starts every controller against one API client, sharing the Job, Pod and Node informers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kube::{Api, Client};
use runlet_codec::{CronJob, Job, Lease, Node, Pod};

use crate::cronjob_controller::CronJobController;
use crate::gc::GarbageCollector;
use crate::job_controller::JobController;
use crate::node_lifecycle_controller::{NODE_LEASE_NAMESPACE, NodeLifecycleConfig, NodeLifecycleController};
use crate::pod_gc::PodGarbageCollector;
use crate::scheduler::Scheduler;
use crate::ttl::TtlController;
use runlet_client::Informer;

/// Whether every informer of [`spawn_all_with`] has its initial list (the `informer-sync` health check).
#[derive(Clone, Debug, Default)]
pub struct InformersSynced(Arc<AtomicBool>);

impl InformersSynced {
    pub fn is_synced(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The controllers' settings (kube-controller-manager's flags that runlet has).
#[derive(Debug, Clone, Copy, Default)]
pub struct ManagerConfig {
    pub node_lifecycle: NodeLifecycleConfig,
}

/// Spawns every controller with the default settings; see [`spawn_all_with`].
pub fn spawn_all(client: Client) -> InformersSynced {
    spawn_all_with(client, ManagerConfig::default())
}

/// Spawns the Job controller, the CronJob controller, the scheduler, the garbage collector, the TTL-after-finished
/// controller, the node lifecycle controller and the pod garbage collector on the current tokio runtime. They run
/// until the runtime shuts down.
pub fn spawn_all_with(client: Client, config: ManagerConfig) -> InformersSynced {
    let jobs = Arc::new(Informer::start(Api::<Job>::all(client.clone())));
    let pods = Arc::new(Informer::start_trimmed(Api::<Pod>::all(client.clone()), crate::pod_trim::trim));
    tokio::spawn(JobController::new(client.clone(), jobs.clone(), pods.clone()).run());
    let nodes = Arc::new(Informer::start(Api::<Node>::all(client.clone())));
    tokio::spawn(Scheduler::new(client.clone(), pods.clone(), nodes.clone()).run());
    let leases = Arc::new(Informer::start(Api::<Lease>::namespaced(client.clone(), NODE_LEASE_NAMESPACE)));
    let lifecycle =
        NodeLifecycleController::new(client.clone(), nodes.clone(), leases, pods.clone(), config.node_lifecycle);
    tokio::spawn(lifecycle.run());
    tokio::spawn(PodGarbageCollector::new(client.clone(), pods.clone(), nodes.clone()).run());
    let cronjobs = Arc::new(Informer::start(Api::<CronJob>::all(client.clone())));
    tokio::spawn(CronJobController::new(client.clone(), cronjobs.clone(), jobs.clone()).run());
    let synced = InformersSynced::default();
    let watched = (jobs.clone(), pods.clone(), nodes.clone(), cronjobs.clone(), synced.clone());
    tokio::spawn(async move {
        let (jobs, pods, nodes, cronjobs, synced) = watched;
        jobs.ready().await;
        pods.ready().await;
        nodes.ready().await;
        cronjobs.ready().await;
        synced.0.store(true, Ordering::Relaxed);
    });
    tokio::spawn(GarbageCollector::new(client.clone(), jobs.clone(), pods, cronjobs).run());
    tokio::spawn(TtlController::new(client, jobs).run());
    synced
}
