//! Starts every controller against one API client, sharing the Job and Pod informers.

use std::sync::Arc;

use kube::{Api, Client};
use runlet_codec::{CronJob, Job, Node, Pod};

use crate::cronjob_controller::CronJobController;
use crate::gc::GarbageCollector;
use crate::job_controller::JobController;
use crate::runtime::Informer;
use crate::scheduler::Scheduler;
use crate::ttl::TtlController;

/// Spawns the Job controller, the CronJob controller, the scheduler, the garbage collector and the TTL-after-finished controller on the current
/// tokio runtime. They run until the runtime shuts down.
pub fn spawn_all(client: Client) {
    let jobs = Arc::new(Informer::start(Api::<Job>::all(client.clone())));
    let pods = Arc::new(Informer::start(Api::<Pod>::all(client.clone())));
    tokio::spawn(JobController::new(client.clone(), jobs.clone(), pods.clone()).run());
    let nodes = Arc::new(Informer::start(Api::<Node>::all(client.clone())));
    tokio::spawn(Scheduler::new(client.clone(), pods.clone(), nodes).run());
    let cronjobs = Arc::new(Informer::start(Api::<CronJob>::all(client.clone())));
    tokio::spawn(CronJobController::new(client.clone(), cronjobs.clone(), jobs.clone()).run());
    tokio::spawn(GarbageCollector::new(client.clone(), jobs.clone(), pods, cronjobs).run());
    tokio::spawn(TtlController::new(client, jobs).run());
}
