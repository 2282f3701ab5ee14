//! Runs the pods bound to this node: one [`PodWorker`] per pod, its status patched into the API as it changes,
//! its events recorded, and graceful deletion carried through (stop, report the terminal phase, then delete
//! with grace 0 so the API server may remove the object).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use runlet_api::vocab::PodPhase;
use runlet_client::ApiErrorExt;
use runlet_client::events::Recorder;
use runlet_codec::{Pod, PodStatus};
use serde_json::json;

use super::decide::{self, Known, SeenAction, is_terminal_status};
use crate::runtime::ProcessRuntime;
use crate::worker::{PodEvent, PodWorker, WorkerOptions};

/// ConfigMaps and Secrets read from the API for the pods' workers.
#[derive(Clone)]
pub struct ApiObjects {
    pub client: Client,
}

impl std::fmt::Debug for ApiObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiObjects")
    }
}

async fn get_opt<K>(client: Client, namespace: String, name: String) -> Result<Option<K>, String>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client, &namespace);
    api.get_opt(&name).await.map_err(|e| format!("reading {name:?} from the API: {e}"))
}

impl crate::worker::ObjectSource for ApiObjects {
    fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> futures::future::BoxFuture<'static, Result<Option<runlet_codec::ConfigMap>, String>> {
        Box::pin(get_opt(self.client.clone(), namespace.to_string(), name.to_string()))
    }

    fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> futures::future::BoxFuture<'static, Result<Option<runlet_codec::Secret>, String>> {
        Box::pin(get_opt(self.client.clone(), namespace.to_string(), name.to_string()))
    }

    fn runtime_class(
        &self,
        name: &str,
    ) -> futures::future::BoxFuture<'static, Result<Option<runlet_codec::RuntimeClass>, String>> {
        let api: Api<runlet_codec::RuntimeClass> = Api::all(self.client.clone());
        let name = name.to_string();
        Box::pin(async move { api.get_opt(&name).await.map_err(|e| format!("reading RuntimeClass {name:?}: {e}")) })
    }
}

struct Running {
    worker: PodWorker,
    /// The grace period the worker was last told to stop with.
    stopping: Option<Duration>,
}

/// The pods of one node.
pub struct PodManager {
    client: Client,
    node: String,
    /// Events as the kubelet records them (repeats merged, never blocking a pod).
    recorder: Recorder,
    runtime: ProcessRuntime,
    options: WorkerOptions,
    running: Mutex<HashMap<String, Running>>,
    /// Pods whose worker has ended; not started again (their status is final).
    finished: Mutex<HashSet<String>>,
}

/// Patches `status` until the API takes it (retrying with back-off: a lost terminal status would leave the
/// pod Running forever) or the pod is gone (false). A newer status published meanwhile ends the retries: the
/// caller sends that one next.
async fn patch_status(
    api: &Api<Pod>,
    name: &str,
    uid: &str,
    status: &PodStatus,
    updates: &tokio::sync::watch::Receiver<PodStatus>,
) -> bool {
    let patch = json!({"metadata": {"uid": uid}, "status": status});
    let mut delay = Duration::from_millis(100);
    loop {
        match api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => return true,
            Err(e) if e.is_not_found() => return false,
            Err(e) => tracing::warn!(pod = %name, error = %e, "could not report pod status; retrying"),
        }
        if updates.has_changed().unwrap_or(false) {
            return true;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

impl PodManager {
    pub fn new(client: Client, node: String, runtime: ProcessRuntime, options: WorkerOptions) -> Arc<Self> {
        let recorder = Recorder::new(client.clone(), decide::COMPONENT).with_host(node.clone());
        Arc::new(PodManager {
            client,
            recorder,
            node,
            runtime,
            options,
            running: Mutex::new(HashMap::new()),
            finished: Mutex::new(HashSet::new()),
        })
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finished(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.finished.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Watches the pods bound to this node forever.
    pub async fn run(self: Arc<Self>) {
        let api: Api<Pod> = Api::all(self.client.clone());
        let config = watcher::Config::default().fields(&format!("spec.nodeName={}", self.node));
        let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
        let mut seen_in_list: HashSet<String> = HashSet::new();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Init) => seen_in_list.clear(),
                Ok(watcher::Event::InitApply(p)) => {
                    seen_in_list.insert(p.uid().unwrap_or_default());
                    self.clone().pod_seen(p);
                }
                Ok(watcher::Event::InitDone) => self.clone().forget_missing(&seen_in_list),
                Ok(watcher::Event::Apply(p)) => self.clone().pod_seen(p),
                Ok(watcher::Event::Delete(p)) => self.clone().pod_gone(p.uid().unwrap_or_default()),
                Err(e) => tracing::debug!(error = %e, "pod watch error; retrying"),
            }
        }
    }

    /// After a (re)list: pods we run or have on disk that the API no longer has are stopped and cleaned up, and
    /// finished ones forgotten.
    fn forget_missing(self: Arc<Self>, present: &HashSet<String>) {
        let running: HashSet<String> = self.running().keys().cloned().collect();
        let finished = self.finished().clone();
        let on_disk = self.runtime.list_pods().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not list the pod directories");
            Vec::new()
        });
        let missing = decide::missing_after_relist(present, &running, &finished, &on_disk);
        {
            let mut finished = self.finished();
            for uid in &missing.forget_finished {
                finished.remove(uid);
            }
        }
        for uid in missing.stop {
            self.clone().pod_gone(uid);
        }
        for uid in missing.remove_dirs {
            let runtime = self.runtime.clone();
            tokio::spawn(async move {
                let _ = runtime.remove_pod(&uid).await;
            });
        }
    }

    /// Whether the runtime has a directory for the pod (it ran here, maybe before an agent restart).
    fn on_disk(&self, uid: &str) -> bool {
        match self.runtime.list_pods() {
            Ok(uids) => uids.iter().any(|u| u == uid),
            Err(e) => {
                tracing::warn!(%uid, error = %e, "could not list the pod directories");
                false
            }
        }
    }

    fn pod_seen(self: Arc<Self>, pod: Pod) {
        let uid = pod.uid().unwrap_or_default();
        let running = self.running().get(&uid).map(|r| r.stopping);
        let known = match running {
            Some(stopping) => Known::Running { stopping },
            None if self.finished().contains(&uid) => Known::Finished,
            None => Known::Unknown,
        };
        match decide::on_pod_seen(known, decide::Seen::of(&pod), || self.on_disk(&uid)) {
            SeenAction::Nothing => {}
            SeenAction::Stop(grace) => {
                let told = match self.running().get_mut(&uid) {
                    Some(r) => {
                        r.stopping = Some(grace);
                        r.worker.stop(grace);
                        true
                    }
                    None => false,
                };
                // The worker ended since `known` was read: its report did not see this deletion.
                if !told && self.finished().contains(&uid) {
                    tokio::spawn(async move { self.finalize_deletion(&pod).await });
                }
            }
            // Nothing runs (any more): let the API server remove the object.
            SeenAction::FinishDeletion => {
                tokio::spawn(async move { self.finalize_deletion(&pod).await });
            }
            SeenAction::Start { stop } => self.start(pod, uid, stop),
        }
    }

    /// Starts a worker for the pod (it recovers whatever an earlier agent left on disk).
    fn start(self: Arc<Self>, pod: Pod, uid: String, stop: Option<Duration>) {
        let mut worker = PodWorker::spawn(self.runtime.clone(), pod.clone(), self.options.clone());
        if let Some(grace) = stop {
            worker.stop(grace);
        }
        let status = worker.status();
        let events = worker.take_events();
        self.running().insert(uid, Running { worker, stopping: stop });
        if let Some(events) = events {
            tokio::spawn(record_events(self.recorder.clone(), pod.clone(), events));
        }
        tokio::spawn(self.report(pod, status));
    }

    /// Patches every status change into the API; when the pod has ended, finishes a pending deletion.
    async fn report(self: Arc<Self>, pod: Pod, mut status: tokio::sync::watch::Receiver<PodStatus>) {
        let uid = pod.uid().unwrap_or_default();
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let last = loop {
            let current = settled(&mut status).await;
            if !patch_status(&api, &name, &uid, &current, &status).await {
                return; // the pod is gone; `pod_gone` cleans up
            }
            // Err: the worker has ended and every status it published has been seen.
            if status.changed().await.is_err() {
                break current;
            }
        };
        // Mark finished before leaving `running`, so a pod event in between never starts a second worker.
        self.finished().insert(uid.clone());
        let worker = self.running().remove(&uid);
        // A deletion seen after this point finds the pod finished and completes itself (`pod_seen`); one seen
        // before told the worker to stop, and only then is there a deletion to finish here.
        let deleting = worker.as_ref().is_some_and(|r| r.stopping.is_some());
        if let Some(r) = worker
            && let Err(e) = r.worker.wait().await
            && !is_terminal_status(&last)
        {
            // The worker could not run the pod at all: say so rather than leave it Running forever.
            tracing::warn!(pod = %name, error = %e, "pod worker failed");
            let failed = PodStatus {
                phase: Some(PodPhase::Failed.into()),
                reason: Some("RunletWorkerError".into()),
                message: Some(e.to_string()),
                ..last.clone()
            };
            let (_tx, closed) = tokio::sync::watch::channel(failed.clone());
            patch_status(&api, &name, &uid, &failed, &closed).await;
        }
        if deleting
            && let Ok(Some(latest)) = api.get_opt(&name).await
            && latest.uid().as_deref() == Some(uid.as_str())
            && latest.metadata.deletion_timestamp.is_some()
        {
            self.finalize_deletion(&latest).await;
        }
    }

    /// The last step of a graceful delete: the node confirms with grace 0.
    async fn finalize_deletion(&self, pod: &Pod) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        // The uid precondition: never confirm the deletion of a same-named pod created since.
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(kube::api::Preconditions { uid: pod.uid(), resource_version: None }),
            ..Default::default()
        };
        match api.delete(&pod.name_any(), &dp).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(e) => tracing::warn!(pod = %pod.name_any(), error = %e, "could not finish deleting the pod"),
        }
    }

    /// The pod object is gone: stop anything still running and remove its directory and logs.
    fn pod_gone(self: Arc<Self>, uid: String) {
        let worker = self.running().remove(&uid);
        self.finished().remove(&uid);
        let runtime = self.runtime.clone();
        tokio::spawn(async move {
            if let Some(r) = worker {
                r.worker.stop(Duration::ZERO);
                let _ = tokio::time::timeout(Duration::from_secs(10), r.worker.wait()).await;
            }
            if let Err(e) = runtime.remove_pod(&uid).await {
                tracing::debug!(%uid, error = %e, "could not remove the pod's directory");
            }
        });
    }
}

/// How long a status that is not final waits for the next one before it is written: a container that runs for
/// milliseconds goes from created to finished within it, and its pod gets one status write instead of three
/// (as the kubelet's status manager batches). A final status is written at once.
const STATUS_BATCH: Duration = Duration::from_millis(20);

/// The status to write next: the latest one, once it is final or [`STATUS_BATCH`] passed without a newer one.
async fn settled(status: &mut tokio::sync::watch::Receiver<PodStatus>) -> PodStatus {
    let mut current = status.borrow_and_update().clone();
    let deadline = tokio::time::Instant::now() + STATUS_BATCH;
    while !is_terminal_status(&current) {
        match tokio::time::timeout_at(deadline, status.changed()).await {
            Ok(Ok(())) => current = status.borrow_and_update().clone(),
            // The worker ended (`current` is its last word), or nothing newer came in time.
            Ok(Err(_)) | Err(_) => break,
        }
    }
    current
}

/// Records the worker's events on the pod (source component `kubelet`, like upstream). Off the pod's own
/// path: the worker drops events this falls behind on.
async fn record_events(recorder: Recorder, pod: Pod, mut events: tokio::sync::mpsc::Receiver<PodEvent>) {
    while let Some(e) = events.recv().await {
        recorder.record(&decide::pod_reference(&pod, &e), e.type_, e.reason, &e.message);
    }
}
