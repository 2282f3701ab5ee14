//! Recording `core/v1` Events about objects (what `kubectl describe` shows under Events).

use kube::api::{Api, PostParams};
use kube::{Client, Resource, ResourceExt};
use runlet_codec::{Event, EventSource, ObjectMeta, ObjectReference, Time};

pub use crate::job::EventType;

/// Creates Events on behalf of one component (`job-controller`, `kubelet`, ...).
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: String,
    host: Option<String>,
}

/// A reference to the object an event is about.
pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: Some(obj.name_any()),
        namespace: obj.namespace(),
        uid: obj.meta().uid.clone(),
        resource_version: obj.meta().resource_version.clone(),
        field_path: None,
    }
}

impl Recorder {
    pub fn new(client: Client, component: impl Into<String>) -> Self {
        Recorder { client, component: component.into(), host: None }
    }

    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Records one event; failures are logged, never returned: an event is not worth failing a sync for.
    pub async fn record(&self, about: &ObjectReference, type_: EventType, reason: &str, message: &str) {
        let ns = about.namespace.clone().unwrap_or_else(|| "default".into());
        let now = jiff::Timestamp::now();
        let name = format!("{}.{:x}", about.name.as_deref().unwrap_or("object"), now.as_nanosecond());
        let ev = Event {
            metadata: ObjectMeta { name: Some(name), namespace: Some(ns.clone()), ..Default::default() },
            involved_object: about.clone(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some(type_.as_str().into()),
            source: Some(EventSource { component: Some(self.component.clone()), host: self.host.clone() }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.host.clone().unwrap_or_default()),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        if let Err(e) = api.create(&PostParams::default(), &ev).await {
            tracing::debug!(error = %e, reason, "could not record event");
        }
    }
}
