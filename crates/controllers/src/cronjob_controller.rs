//! The CronJob controller's runner: watches CronJobs and Jobs through the API, and for each CronJob key runs the
//! pure core ([`crate::cronjob`]) and carries out its plan: the live reads it asks for, history cleanup,
//! replacing and creating Jobs, the status write, and the wake-up at the next scheduled time.

use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use kube::api::{Api, DeleteParams, PostParams, Preconditions, PropagationPolicy};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use runlet_client::ApiErrorExt;
use runlet_codec::{CronJob, Job, ObjectReference};
use tokio::sync::broadcast::error::RecvError;

use crate::cronjob::{self, Event, Observed, SyncInput};
use runlet_client::events::{Recorder, reference};
use runlet_client::informer::Change;
use runlet_client::{Informer, WorkQueue};

/// A CronJob's namespace and name.
pub type CronJobKey = (String, String);

/// Concurrent syncs (of different CronJobs).
const WORKERS: usize = 2;

#[derive(Debug, thiserror::Error)]
enum SyncFailure {
    #[error("{0}")]
    Api(#[from] kube::Error),
    #[error("could not replace job {0}")]
    Replace(String),
    #[error("could not create job: {0}")]
    Create(String),
}

pub struct CronJobController {
    client: Client,
    cronjobs: Arc<Informer<CronJob>>,
    jobs: Arc<Informer<Job>>,
    queue: WorkQueue<CronJobKey>,
    recorder: Recorder,
    /// The zone of schedules without `timeZone`.
    local: TimeZone,
}

impl CronJobController {
    pub fn new(client: Client, cronjobs: Arc<Informer<CronJob>>, jobs: Arc<Informer<Job>>) -> Arc<Self> {
        Arc::new(CronJobController {
            recorder: Recorder::new(client.clone(), "cronjob-controller"),
            client,
            cronjobs,
            jobs,
            queue: WorkQueue::new(Duration::from_millis(50), Duration::from_secs(60)),
            local: TimeZone::system(),
        })
    }

    /// Runs the controller forever.
    pub async fn run(self: Arc<Self>) {
        let mut cronjob_changes = self.cronjobs.subscribe();
        let mut job_changes = self.jobs.subscribe();
        self.cronjobs.ready().await;
        self.jobs.ready().await;
        self.resync();
        for _ in 0..WORKERS {
            let me = self.clone();
            tokio::spawn(async move {
                let queue = me.queue.clone();
                queue.run_worker("cronjob sync", |key| me.sync(key)).await
            });
        }
        loop {
            tokio::select! {
                c = cronjob_changes.recv() => match c {
                    Ok(Change::Applied(cj)) | Ok(Change::Deleted(cj)) => {
                        self.queue.add((cj.namespace().unwrap_or_default(), cj.name_any()))
                    }
                    Ok(Change::Relisted) | Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
                c = job_changes.recv() => match c {
                    Ok(Change::Applied(j)) | Ok(Change::Deleted(j)) => self.job_changed(&j),
                    Ok(Change::Relisted) | Err(RecvError::Lagged(_)) => self.resync(),
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    fn resync(&self) {
        for cj in self.cronjobs.store.state() {
            self.queue.add((cj.namespace().unwrap_or_default(), cj.name_any()));
        }
    }

    /// A Job change wakes the CronJob named as its controller.
    fn job_changed(&self, job: &Job) {
        if let Some(owner) = cronjob::controller_of(job).filter(|o| o.kind == cronjob::CRONJOB_KIND) {
            self.queue.add((job.namespace().unwrap_or_default(), owner.name.clone()));
        }
    }

    async fn sync(&self, key: CronJobKey) -> Result<Option<Duration>, SyncFailure> {
        let (ns, name) = &key;
        let Some(cached) = self.cronjobs.store.get(&ObjectRef::new(name).within(ns)) else {
            return Ok(None);
        };
        let jobs: Vec<Job> = self
            .jobs
            .store
            .state()
            .iter()
            .filter(|j| j.namespace().as_deref() == Some(ns.as_str()) && cronjob::names_as_controller(j, name))
            .map(|j| (**j).clone())
            .collect();
        let input = SyncInput { cronjob: &cached, jobs: &jobs, now: jiff::Timestamp::now(), local: &self.local };
        let observed = self.observe(&input).await?;
        let plan = cronjob::sync(&input, &observed);
        let about = reference(cached.as_ref());
        self.emit(&about, &plan.events);

        for r in &plan.cleanup {
            // A failed cleanup is only reported: the next sync tries again.
            let _ = self.delete_job(&about, r).await;
        }

        let mut working = plan.cronjob.clone();
        let mut failure = None;
        if let Some(start) = &plan.start {
            failure = self.start(&about, &mut working, start).await.err();
        }
        if working.status != cached.status {
            let api: Api<CronJob> = Api::namespaced(self.client.clone(), ns);
            working.metadata.managed_fields = None;
            api.replace_status(name, &PostParams::default(), &working).await?;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(plan.requeue_after),
        }
    }

    /// The live reads the core asks for.
    async fn observe(&self, input: &SyncInput<'_>) -> Result<Observed, SyncFailure> {
        let wanted = cronjob::lookups(input);
        let ns = input.cronjob.namespace().unwrap_or_default();
        let mut observed = Observed::default();
        if wanted.reread_cronjob {
            let api: Api<CronJob> = Api::namespaced(self.client.clone(), &ns);
            observed.fresh = api.get_opt(&input.cronjob.name_any()).await?;
        }
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), &ns);
        for r in &wanted.check_jobs {
            let live = jobs.get_opt(r.name.as_deref().unwrap_or_default()).await?;
            if live.is_none_or(|j| j.metadata.uid != r.uid) {
                observed.gone.extend(r.uid.clone());
            }
        }
        Ok(observed)
    }

    /// Replaces running Jobs if asked, then creates the due Job and records it in `working`'s status.
    async fn start(
        &self,
        about: &ObjectReference,
        working: &mut CronJob,
        start: &cronjob::Start,
    ) -> Result<(), SyncFailure> {
        let status = working.status.get_or_insert_with(Default::default);
        let cronjob_uid = working.metadata.uid.clone();
        for r in &start.replace {
            let name = r.name.clone().unwrap_or_default();
            let uid = r.uid.clone().unwrap_or_default();
            match self.job_api(r).get_opt(&name).await {
                Ok(Some(_)) => {}
                // Gone already: nothing to replace.
                Ok(None) => {
                    cronjob::remove_active(status, &uid);
                    continue;
                }
                Err(e) => {
                    self.event(about, &cronjob::failed_get_event(&e.api_message()));
                    return Err(e.into());
                }
            }
            if !self.delete_job(about, r).await {
                return Err(SyncFailure::Replace(name));
            }
            cronjob::remove_active(status, &uid);
        }
        let api = self.job_api_in(start.job.metadata.namespace.as_deref().unwrap_or_default());
        let job_name = start.job.metadata.name.clone().unwrap_or_default();
        let job = match api.create(&PostParams::default(), &start.job).await {
            Ok(created) => {
                self.event(about, &cronjob::created_event(&created.name_any()));
                created
            }
            Err(e) if e.is_already_exists() => {
                // Started before, and the status write after it was lost? Only a Job of ours counts.
                let existing = api.get(&job_name).await?;
                let ours = cronjob::controller_of(&existing).map(|o| &o.uid) == cronjob_uid.as_ref();
                let uid = existing.metadata.uid.clone().unwrap_or_default();
                let listed = status.active.iter().flatten().any(|r| r.uid.as_deref() == Some(uid.as_str()));
                if !ours || listed {
                    return Ok(());
                }
                existing
            }
            Err(e) if e.is_namespace_terminating() => return Err(SyncFailure::Create(e.api_message())),
            Err(e) => {
                self.event(about, &cronjob::failed_create_event(&e.api_message()));
                return Err(SyncFailure::Create(e.api_message()));
            }
        };
        cronjob::started(status, &job, start.scheduled);
        Ok(())
    }

    /// Deletes a Job (Background, so its pods follow), with an event either way; true when it is gone.
    async fn delete_job(&self, about: &ObjectReference, r: &ObjectReference) -> bool {
        let name = r.name.clone().unwrap_or_default();
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            preconditions: r.uid.clone().map(|uid| Preconditions { uid: Some(uid), resource_version: None }),
            ..Default::default()
        };
        match self.job_api(r).delete(&name, &dp).await {
            Ok(_) => {
                self.event(about, &cronjob::deleted_event(&name, None));
                true
            }
            Err(e) if e.is_not_found() => true,
            Err(e) => {
                self.event(about, &cronjob::deleted_event(&name, Some(&e.api_message())));
                false
            }
        }
    }

    fn job_api(&self, r: &ObjectReference) -> Api<Job> {
        self.job_api_in(r.namespace.as_deref().unwrap_or_default())
    }

    fn job_api_in(&self, ns: &str) -> Api<Job> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Queues events for the recorder's writer (never waits for them to be written).
    fn emit(&self, about: &ObjectReference, events: &[Event]) {
        for e in events {
            self.event(about, e);
        }
    }

    fn event(&self, about: &ObjectReference, e: &Event) {
        self.recorder.record(about, e.type_, &e.reason, &e.message);
    }
}
