//! Starts every controller against one API client, sharing the Job and Pod informers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kube::{Api, Client};
use runlet_codec::{CronJob, Job, Node, Pod};

use crate::cronjob_controller::CronJobController;
use crate::gc::GarbageCollector;
use crate::job_controller::JobController;
use crate::runtime::Informer;
use crate::scheduler::Scheduler;
use crate::ttl::TtlController;

/// Whether every informer of [`spawn_all`] has its initial list (the `informer-sync` health check).
#[derive(Clone, Debug, Default)]
pub struct InformersSynced(Arc<AtomicBool>);

impl InformersSynced {
    pub fn is_synced(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Spawns the Job controller, the CronJob controller, the scheduler, the garbage collector and the TTL-after-finished controller on the current
/// tokio runtime. They run until the runtime shuts down.
pub fn spawn_all(client: Client) -> InformersSynced {
    let jobs = Arc::new(Informer::start(Api::<Job>::all(client.clone())));
    let pods = Arc::new(Informer::start(Api::<Pod>::all(client.clone())));
    tokio::spawn(JobController::new(client.clone(), jobs.clone(), pods.clone()).run());
    let nodes = Arc::new(Informer::start(Api::<Node>::all(client.clone())));
    tokio::spawn(Scheduler::new(client.clone(), pods.clone(), nodes.clone()).run());
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
