//! Patch metadata of the Go types in scope: the struct tags `patchStrategy`/`patchMergeKey` (for SMP)
//! and the `+listType`/`+listMapKey` markers (for server-side apply), keyed by Go type and JSON field.
//!
//! Source: `k8s.io/api` v0.33 (`core/v1`, `batch/v1`, `coordination/v1`, `autoscaling/v1`) and
//! `apimachinery` v0.33 `meta/v1`; see spec strategic-merge-patch.md §2. Lookups go by Go type, not by
//! path, so `CONTAINER` applies under `containers` and `initContainers`, `OBJECT_META` at `metadata` and
//! `spec.template.metadata`.
//!
//! A type is *closed* when every JSON field of the Go struct is listed: looking up any other field fails
//! the way upstream's reflection does. Open types list only the fields that carry metadata (or lead to
//! some); their other fields are unknown to the table and merge by default (maps recursively, lists
//! replaced / atomic).

use crate::Kind;

/// One Go struct.
pub struct TypeDef {
    /// The Go type name, as upstream error messages print it.
    pub go_name: &'static str,
    /// Every JSON field of the struct is listed in `fields`.
    pub closed: bool,
    /// The fields, in groups: a Go struct's own fields plus those of inlined (embedded) structs.
    pub fields: &'static [&'static [Field]],
}

/// One JSON field of a struct.
pub struct Field {
    pub name: &'static str,
    pub shape: Shape,
}

#[derive(Clone, Copy)]
pub enum Shape {
    /// A scalar, or an object with no patch metadata anywhere below it.
    Plain,
    /// A Go map (`map[string]T`): merged key by key.
    Map,
    Struct(&'static TypeDef),
    List(ListDef),
}

#[derive(Clone, Copy)]
pub struct ListDef {
    pub smp: Smp,
    pub ssa: Ssa,
    pub elem: Elem,
}

/// The SMP struct tag of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Smp {
    /// No `patchStrategy` tag: the patch list replaces the live one.
    Replace,
    /// `patchStrategy:"merge"` (with `retainKeys`, `"merge,retainKeys"`); `key` is `patchMergeKey`,
    /// absent for lists of scalars.
    Merge { key: Option<&'static str>, retain_keys: bool },
}

/// The server-side apply list type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ssa {
    Atomic,
    Set,
    /// `listType=map`, matched on all `keys`; a missing key counts as its default, if it has one.
    Map {
        keys: &'static [&'static str],
        defaults: &'static [(&'static str, &'static str)],
    },
}

/// A list's element type.
#[derive(Clone, Copy)]
pub enum Elem {
    /// A scalar, by Go type name.
    Scalar(&'static str),
    Struct(&'static TypeDef),
}

impl Elem {
    pub fn go_name(self) -> &'static str {
        match self {
            Elem::Scalar(name) => name,
            Elem::Struct(def) => def.go_name,
        }
    }

    pub fn node(self) -> Node {
        match self {
            Elem::Scalar(_) => Node::Unknown,
            Elem::Struct(def) => Node::Struct(def),
        }
    }
}

/// What is known about the type of a JSON object while walking a document.
#[derive(Clone, Copy)]
pub enum Node {
    Struct(&'static TypeDef),
    /// A Go map type.
    Map,
    /// Nothing is known (unknown field, open type's unlisted field, `Kind::Other`).
    Unknown,
}

/// Result of looking a field up in a node.
pub enum Lookup {
    Found(Shape),
    /// The node is open or unknown: the field merges by default.
    Unlisted,
    /// The node is a closed struct without that field.
    NoSuchField(&'static str),
}

impl Node {
    pub fn lookup(self, field: &str) -> Lookup {
        match self {
            Node::Struct(def) => {
                let found = def.fields.iter().flat_map(|group| group.iter()).find(|f| f.name == field);
                match found {
                    Some(f) => Lookup::Found(f.shape),
                    None if def.closed => Lookup::NoSuchField(def.go_name),
                    None => Lookup::Unlisted,
                }
            }
            Node::Map | Node::Unknown => Lookup::Unlisted,
        }
    }
}

/// The schema root of a kind.
pub fn root(kind: Kind) -> Node {
    match kind {
        Kind::Job => Node::Struct(&JOB),
        Kind::CronJob => Node::Struct(&CRON_JOB),
        Kind::Pod => Node::Struct(&POD),
        Kind::Namespace => Node::Struct(&NAMESPACE),
        Kind::Node => Node::Struct(&NODE),
        Kind::Event => Node::Struct(&EVENT),
        Kind::Lease => Node::Struct(&LEASE),
        Kind::ConfigMap => Node::Struct(&CONFIG_MAP),
        Kind::Secret => Node::Struct(&SECRET),
        Kind::RuntimeClass => Node::Struct(&RUNTIME_CLASS),
        Kind::Scale => Node::Struct(&SCALE),
        Kind::Other => Node::Unknown,
    }
}

// ---------------------------------------------------------------------------------------------------
// Table-building shorthands.

const fn plain(name: &'static str) -> Field {
    Field { name, shape: Shape::Plain }
}

const fn map(name: &'static str) -> Field {
    Field { name, shape: Shape::Map }
}

const fn obj(name: &'static str, def: &'static TypeDef) -> Field {
    Field { name, shape: Shape::Struct(def) }
}

const fn list(name: &'static str, smp: Smp, ssa: Ssa, elem: Elem) -> Field {
    Field { name, shape: Shape::List(ListDef { smp, ssa, elem }) }
}

/// No SMP strategy, SSA atomic: the common case.
const fn atomic(name: &'static str, elem: Elem) -> Field {
    list(name, Smp::Replace, Ssa::Atomic, elem)
}

const fn merge(key: &'static str) -> Smp {
    Smp::Merge { key: Some(key), retain_keys: false }
}

const fn merge_retain_keys(key: &'static str) -> Smp {
    Smp::Merge { key: Some(key), retain_keys: true }
}

const MERGE_SCALARS: Smp = Smp::Merge { key: None, retain_keys: false };

const fn keyed(keys: &'static [&'static str]) -> Ssa {
    Ssa::Map { keys, defaults: &[] }
}

const fn open(go_name: &'static str, fields: &'static [&'static [Field]]) -> TypeDef {
    TypeDef { go_name, closed: false, fields }
}

const fn closed(go_name: &'static str, fields: &'static [&'static [Field]]) -> TypeDef {
    TypeDef { go_name, closed: true, fields }
}

/// Element types that only need a name (for upstream messages).
const fn named(go_name: &'static str) -> TypeDef {
    open(go_name, &[])
}

const STRING: Elem = Elem::Scalar("string");

const TYPE_META: &[Field] = &[plain("kind"), plain("apiVersion")];

// ---------------------------------------------------------------------------------------------------
// Roots (spec §2.2, §2.6, §2.7).

static JOB: TypeDef =
    closed("Job", &[TYPE_META, &[obj("metadata", &OBJECT_META), obj("spec", &JOB_SPEC), obj("status", &JOB_STATUS)]]);
static CRON_JOB: TypeDef = closed(
    "CronJob",
    &[TYPE_META, &[obj("metadata", &OBJECT_META), obj("spec", &CRON_JOB_SPEC), obj("status", &CRON_JOB_STATUS)]],
);
static POD: TypeDef =
    closed("Pod", &[TYPE_META, &[obj("metadata", &OBJECT_META), obj("spec", &POD_SPEC), obj("status", &POD_STATUS)]]);
static NAMESPACE: TypeDef = closed(
    "Namespace",
    &[TYPE_META, &[obj("metadata", &OBJECT_META), obj("spec", &NAMESPACE_SPEC), obj("status", &NAMESPACE_STATUS)]],
);
static NODE: TypeDef = closed(
    "Node",
    &[TYPE_META, &[obj("metadata", &OBJECT_META), obj("spec", &NODE_SPEC), obj("status", &NODE_STATUS)]],
);
// core/v1 and events.k8s.io/v1 Events have different fields; only `metadata` carries metadata.
static EVENT: TypeDef = open("Event", &[&[obj("metadata", &OBJECT_META)]]);
static LEASE: TypeDef = closed("Lease", &[TYPE_META, &[obj("metadata", &OBJECT_META), obj("spec", &LEASE_SPEC)]]);
static CONFIG_MAP: TypeDef = closed(
    "ConfigMap",
    &[TYPE_META, &[obj("metadata", &OBJECT_META), map("data"), map("binaryData"), plain("immutable")]],
);
static SECRET: TypeDef = closed(
    "Secret",
    &[TYPE_META, &[obj("metadata", &OBJECT_META), map("data"), map("stringData"), plain("type"), plain("immutable")]],
);
static RUNTIME_CLASS: TypeDef = closed(
    "RuntimeClass",
    &[
        TYPE_META,
        &[
            obj("metadata", &OBJECT_META),
            plain("handler"),
            obj("overhead", &RUNTIME_CLASS_OVERHEAD),
            obj("scheduling", &RUNTIME_CLASS_SCHEDULING),
        ],
    ],
);
static RUNTIME_CLASS_OVERHEAD: TypeDef = closed("Overhead", &[&[map("podFixed")]]);
static RUNTIME_CLASS_SCHEDULING: TypeDef =
    closed("Scheduling", &[&[map("nodeSelector"), atomic("tolerations", Elem::Struct(&TOLERATION))]]);
static SCALE: TypeDef = closed(
    "Scale",
    &[TYPE_META, &[obj("metadata", &OBJECT_META), obj("spec", &SCALE_SPEC), obj("status", &SCALE_STATUS)]],
);

// ---------------------------------------------------------------------------------------------------
// ObjectMeta (§2.1).

static OBJECT_META: TypeDef = closed(
    "ObjectMeta",
    &[&[
        plain("name"),
        plain("generateName"),
        plain("namespace"),
        plain("selfLink"),
        plain("uid"),
        plain("resourceVersion"),
        plain("generation"),
        plain("creationTimestamp"),
        plain("deletionTimestamp"),
        plain("deletionGracePeriodSeconds"),
        map("labels"),
        map("annotations"),
        list("ownerReferences", merge("uid"), keyed(&["uid"]), Elem::Struct(&OWNER_REFERENCE)),
        list("finalizers", MERGE_SCALARS, Ssa::Set, STRING),
        atomic("managedFields", Elem::Struct(&MANAGED_FIELDS_ENTRY)),
    ]],
);
static OWNER_REFERENCE: TypeDef = named("OwnerReference");
static MANAGED_FIELDS_ENTRY: TypeDef = named("ManagedFieldsEntry");

static LABEL_SELECTOR: TypeDef = open(
    "LabelSelector",
    &[&[map("matchLabels"), atomic("matchExpressions", Elem::Struct(&LABEL_SELECTOR_REQUIREMENT))]],
);
static LABEL_SELECTOR_REQUIREMENT: TypeDef = open("LabelSelectorRequirement", &[&[atomic("values", STRING)]]);

// ---------------------------------------------------------------------------------------------------
// batch/v1 Job (§2.2).

static JOB_SPEC: TypeDef = closed(
    "JobSpec",
    &[&[
        plain("parallelism"),
        plain("completions"),
        plain("activeDeadlineSeconds"),
        obj("podFailurePolicy", &POD_FAILURE_POLICY),
        obj("successPolicy", &SUCCESS_POLICY),
        plain("backoffLimit"),
        plain("backoffLimitPerIndex"),
        plain("maxFailedIndexes"),
        obj("selector", &LABEL_SELECTOR),
        plain("manualSelector"),
        obj("template", &POD_TEMPLATE_SPEC),
        plain("ttlSecondsAfterFinished"),
        plain("completionMode"),
        plain("suspend"),
        plain("podReplacementPolicy"),
        plain("managedBy"),
    ]],
);
static POD_FAILURE_POLICY: TypeDef =
    open("PodFailurePolicy", &[&[atomic("rules", Elem::Struct(&POD_FAILURE_POLICY_RULE))]]);
static POD_FAILURE_POLICY_RULE: TypeDef = open(
    "PodFailurePolicyRule",
    &[&[
        obj("onExitCodes", &POD_FAILURE_POLICY_ON_EXIT_CODES),
        atomic("onPodConditions", Elem::Struct(&POD_FAILURE_POLICY_ON_POD_CONDITIONS)),
    ]],
);
static POD_FAILURE_POLICY_ON_EXIT_CODES: TypeDef =
    open("PodFailurePolicyOnExitCodesRequirement", &[&[list("values", Smp::Replace, Ssa::Set, Elem::Scalar("int32"))]]);
static POD_FAILURE_POLICY_ON_POD_CONDITIONS: TypeDef = named("PodFailurePolicyOnPodConditionsPattern");
static SUCCESS_POLICY: TypeDef = open("SuccessPolicy", &[&[atomic("rules", Elem::Struct(&SUCCESS_POLICY_RULE))]]);
static SUCCESS_POLICY_RULE: TypeDef = named("SuccessPolicyRule");
static POD_TEMPLATE_SPEC: TypeDef =
    closed("PodTemplateSpec", &[&[obj("metadata", &OBJECT_META), obj("spec", &POD_SPEC)]]);

static JOB_TEMPLATE_SPEC: TypeDef =
    closed("JobTemplateSpec", &[&[obj("metadata", &OBJECT_META), obj("spec", &JOB_SPEC)]]);

// batch/v1 CronJob: `status.active` is `listType=atomic` with no patch strategy.
static CRON_JOB_SPEC: TypeDef = closed(
    "CronJobSpec",
    &[&[
        plain("schedule"),
        plain("timeZone"),
        plain("startingDeadlineSeconds"),
        plain("concurrencyPolicy"),
        plain("suspend"),
        obj("jobTemplate", &JOB_TEMPLATE_SPEC),
        plain("successfulJobsHistoryLimit"),
        plain("failedJobsHistoryLimit"),
    ]],
);
static CRON_JOB_STATUS: TypeDef = closed(
    "CronJobStatus",
    &[&[atomic("active", Elem::Struct(&OBJECT_REFERENCE)), plain("lastScheduleTime"), plain("lastSuccessfulTime")]],
);

static JOB_STATUS: TypeDef = closed(
    "JobStatus",
    &[&[
        // SMP merges conditions by type, SSA replaces the whole list.
        list("conditions", merge("type"), Ssa::Atomic, Elem::Struct(&JOB_CONDITION)),
        plain("startTime"),
        plain("completionTime"),
        plain("active"),
        plain("succeeded"),
        plain("failed"),
        plain("terminating"),
        plain("completedIndexes"),
        plain("failedIndexes"),
        obj("uncountedTerminatedPods", &UNCOUNTED_TERMINATED_PODS),
        plain("ready"),
    ]],
);
static JOB_CONDITION: TypeDef = named("JobCondition");
static UNCOUNTED_TERMINATED_PODS: TypeDef = closed(
    "UncountedTerminatedPods",
    &[&[
        list("succeeded", Smp::Replace, Ssa::Set, Elem::Scalar("UID")),
        list("failed", Smp::Replace, Ssa::Set, Elem::Scalar("UID")),
    ]],
);

// ---------------------------------------------------------------------------------------------------
// PodSpec (§2.3).

static POD_SPEC: TypeDef = closed(
    "PodSpec",
    &[&[
        list("volumes", merge_retain_keys("name"), keyed(&["name"]), Elem::Struct(&VOLUME)),
        list("initContainers", merge("name"), keyed(&["name"]), Elem::Struct(&CONTAINER)),
        list("containers", merge("name"), keyed(&["name"]), Elem::Struct(&CONTAINER)),
        list("ephemeralContainers", merge("name"), keyed(&["name"]), Elem::Struct(&EPHEMERAL_CONTAINER)),
        plain("restartPolicy"),
        plain("terminationGracePeriodSeconds"),
        plain("activeDeadlineSeconds"),
        plain("dnsPolicy"),
        map("nodeSelector"),
        plain("serviceAccountName"),
        plain("serviceAccount"),
        plain("automountServiceAccountToken"),
        plain("nodeName"),
        plain("hostNetwork"),
        plain("hostPID"),
        plain("hostIPC"),
        plain("shareProcessNamespace"),
        obj("securityContext", &POD_SECURITY_CONTEXT),
        list("imagePullSecrets", merge("name"), keyed(&["name"]), Elem::Struct(&LOCAL_OBJECT_REFERENCE)),
        plain("hostname"),
        plain("subdomain"),
        obj("affinity", &AFFINITY),
        plain("schedulerName"),
        atomic("tolerations", Elem::Struct(&TOLERATION)),
        list("hostAliases", merge("ip"), keyed(&["ip"]), Elem::Struct(&HOST_ALIAS)),
        plain("priorityClassName"),
        plain("priority"),
        obj("dnsConfig", &POD_DNS_CONFIG),
        atomic("readinessGates", Elem::Struct(&POD_READINESS_GATE)),
        plain("runtimeClassName"),
        plain("enableServiceLinks"),
        plain("preemptionPolicy"),
        map("overhead"),
        list(
            "topologySpreadConstraints",
            merge("topologyKey"),
            keyed(&["topologyKey", "whenUnsatisfiable"]),
            Elem::Struct(&TOPOLOGY_SPREAD_CONSTRAINT),
        ),
        plain("setHostnameAsFQDN"),
        plain("os"),
        plain("hostUsers"),
        list("schedulingGates", merge("name"), keyed(&["name"]), Elem::Struct(&POD_SCHEDULING_GATE)),
        list("resourceClaims", merge_retain_keys("name"), keyed(&["name"]), Elem::Struct(&POD_RESOURCE_CLAIM)),
        obj("resources", &RESOURCE_REQUIREMENTS),
    ]],
);
static LOCAL_OBJECT_REFERENCE: TypeDef = named("LocalObjectReference");
static OBJECT_REFERENCE: TypeDef = named("ObjectReference");
static TOLERATION: TypeDef = named("Toleration");
static POD_READINESS_GATE: TypeDef = named("PodReadinessGate");
static POD_SCHEDULING_GATE: TypeDef = named("PodSchedulingGate");
static POD_RESOURCE_CLAIM: TypeDef = named("PodResourceClaim");
static HOST_ALIAS: TypeDef = open("HostAlias", &[&[atomic("hostnames", STRING)]]);
static TOPOLOGY_SPREAD_CONSTRAINT: TypeDef =
    open("TopologySpreadConstraint", &[&[obj("labelSelector", &LABEL_SELECTOR), atomic("matchLabelKeys", STRING)]]);
static POD_SECURITY_CONTEXT: TypeDef = open(
    "PodSecurityContext",
    &[&[atomic("supplementalGroups", Elem::Scalar("int64")), atomic("sysctls", Elem::Struct(&SYSCTL))]],
);
static SYSCTL: TypeDef = named("Sysctl");
static POD_DNS_CONFIG: TypeDef = open(
    "PodDNSConfig",
    &[&[
        atomic("nameservers", STRING),
        atomic("searches", STRING),
        atomic("options", Elem::Struct(&POD_DNS_CONFIG_OPTION)),
    ]],
);
static POD_DNS_CONFIG_OPTION: TypeDef = named("PodDNSConfigOption");
static RESOURCE_REQUIREMENTS: TypeDef = open(
    "ResourceRequirements",
    &[&[map("limits"), map("requests"), list("claims", Smp::Replace, keyed(&["name"]), Elem::Struct(&RESOURCE_CLAIM))]],
);
static RESOURCE_CLAIM: TypeDef = named("ResourceClaim");

static AFFINITY: TypeDef = open(
    "Affinity",
    &[&[
        obj("nodeAffinity", &NODE_AFFINITY),
        obj("podAffinity", &POD_AFFINITY),
        obj("podAntiAffinity", &POD_ANTI_AFFINITY),
    ]],
);
static NODE_AFFINITY: TypeDef = open(
    "NodeAffinity",
    &[&[
        obj("requiredDuringSchedulingIgnoredDuringExecution", &NODE_SELECTOR),
        atomic("preferredDuringSchedulingIgnoredDuringExecution", Elem::Struct(&PREFERRED_SCHEDULING_TERM)),
    ]],
);
static NODE_SELECTOR: TypeDef =
    open("NodeSelector", &[&[atomic("nodeSelectorTerms", Elem::Struct(&NODE_SELECTOR_TERM))]]);
static NODE_SELECTOR_TERM: TypeDef = open(
    "NodeSelectorTerm",
    &[&[
        atomic("matchExpressions", Elem::Struct(&NODE_SELECTOR_REQUIREMENT)),
        atomic("matchFields", Elem::Struct(&NODE_SELECTOR_REQUIREMENT)),
    ]],
);
static NODE_SELECTOR_REQUIREMENT: TypeDef = open("NodeSelectorRequirement", &[&[atomic("values", STRING)]]);
static PREFERRED_SCHEDULING_TERM: TypeDef =
    open("PreferredSchedulingTerm", &[&[obj("preference", &NODE_SELECTOR_TERM)]]);
const POD_AFFINITY_FIELDS: &[Field] = &[
    atomic("requiredDuringSchedulingIgnoredDuringExecution", Elem::Struct(&POD_AFFINITY_TERM)),
    atomic("preferredDuringSchedulingIgnoredDuringExecution", Elem::Struct(&WEIGHTED_POD_AFFINITY_TERM)),
];
static POD_AFFINITY: TypeDef = open("PodAffinity", &[POD_AFFINITY_FIELDS]);
static POD_ANTI_AFFINITY: TypeDef = open("PodAntiAffinity", &[POD_AFFINITY_FIELDS]);
static POD_AFFINITY_TERM: TypeDef = open(
    "PodAffinityTerm",
    &[&[
        obj("labelSelector", &LABEL_SELECTOR),
        obj("namespaceSelector", &LABEL_SELECTOR),
        atomic("namespaces", STRING),
        atomic("matchLabelKeys", STRING),
        atomic("mismatchLabelKeys", STRING),
    ]],
);
static WEIGHTED_POD_AFFINITY_TERM: TypeDef =
    open("WeightedPodAffinityTerm", &[&[obj("podAffinityTerm", &POD_AFFINITY_TERM)]]);

// ---------------------------------------------------------------------------------------------------
// Container (§2.4). EphemeralContainer inlines the same fields (EphemeralContainerCommon).

const CONTAINER_FIELDS: &[Field] = &[
    plain("name"),
    plain("image"),
    atomic("command", STRING),
    atomic("args", STRING),
    plain("workingDir"),
    list(
        "ports",
        merge("containerPort"),
        // SSA identity is (containerPort, protocol); SMP matches containerPort alone (#39188).
        Ssa::Map { keys: &["containerPort", "protocol"], defaults: &[("protocol", "TCP")] },
        Elem::Struct(&CONTAINER_PORT),
    ),
    atomic("envFrom", Elem::Struct(&ENV_FROM_SOURCE)),
    list("env", merge("name"), keyed(&["name"]), Elem::Struct(&ENV_VAR)),
    obj("resources", &RESOURCE_REQUIREMENTS),
    atomic("resizePolicy", Elem::Struct(&CONTAINER_RESIZE_POLICY)),
    plain("restartPolicy"),
    list("volumeMounts", merge("mountPath"), keyed(&["mountPath"]), Elem::Struct(&VOLUME_MOUNT)),
    list("volumeDevices", merge("devicePath"), keyed(&["devicePath"]), Elem::Struct(&VOLUME_DEVICE)),
    obj("livenessProbe", &PROBE),
    obj("readinessProbe", &PROBE),
    obj("startupProbe", &PROBE),
    obj("lifecycle", &LIFECYCLE),
    plain("terminationMessagePath"),
    plain("terminationMessagePolicy"),
    plain("imagePullPolicy"),
    obj("securityContext", &SECURITY_CONTEXT),
    plain("stdin"),
    plain("stdinOnce"),
    plain("tty"),
];
static CONTAINER: TypeDef = closed("Container", &[CONTAINER_FIELDS]);
static EPHEMERAL_CONTAINER: TypeDef =
    closed("EphemeralContainer", &[CONTAINER_FIELDS, &[plain("targetContainerName")]]);
static CONTAINER_PORT: TypeDef = named("ContainerPort");
static ENV_VAR: TypeDef = named("EnvVar");
static ENV_FROM_SOURCE: TypeDef = named("EnvFromSource");
static CONTAINER_RESIZE_POLICY: TypeDef = named("ContainerResizePolicy");
static VOLUME_MOUNT: TypeDef = named("VolumeMount");
static VOLUME_DEVICE: TypeDef = named("VolumeDevice");

// Probe inlines ProbeHandler; LifecycleHandler has the same exec/httpGet members.
const HANDLER_FIELDS: &[Field] = &[obj("exec", &EXEC_ACTION), obj("httpGet", &HTTP_GET_ACTION)];
static PROBE: TypeDef = open("Probe", &[HANDLER_FIELDS]);
static LIFECYCLE: TypeDef =
    open("Lifecycle", &[&[obj("postStart", &LIFECYCLE_HANDLER), obj("preStop", &LIFECYCLE_HANDLER)]]);
static LIFECYCLE_HANDLER: TypeDef = open("LifecycleHandler", &[HANDLER_FIELDS]);
static EXEC_ACTION: TypeDef = open("ExecAction", &[&[atomic("command", STRING)]]);
static HTTP_GET_ACTION: TypeDef = open("HTTPGetAction", &[&[atomic("httpHeaders", Elem::Struct(&HTTP_HEADER))]]);
static HTTP_HEADER: TypeDef = named("HTTPHeader");
static SECURITY_CONTEXT: TypeDef = open("SecurityContext", &[&[obj("capabilities", &CAPABILITIES)]]);
static CAPABILITIES: TypeDef =
    open("Capabilities", &[&[atomic("add", Elem::Scalar("Capability")), atomic("drop", Elem::Scalar("Capability"))]]);

// ---------------------------------------------------------------------------------------------------
// Volume subtree (§2.5). Volume inlines VolumeSource.

static VOLUME: TypeDef = open(
    "Volume",
    &[&[
        obj("secret", &SECRET_VOLUME_SOURCE),
        obj("configMap", &CONFIG_MAP_VOLUME_SOURCE),
        obj("downwardAPI", &DOWNWARD_API_VOLUME_SOURCE),
        obj("projected", &PROJECTED_VOLUME_SOURCE),
        obj("ephemeral", &EPHEMERAL_VOLUME_SOURCE),
        obj("iscsi", &ISCSI_VOLUME_SOURCE),
        obj("rbd", &RBD_VOLUME_SOURCE),
        obj("cephfs", &CEPHFS_VOLUME_SOURCE),
        obj("fc", &FC_VOLUME_SOURCE),
    ]],
);
const ITEMS: &[Field] = &[atomic("items", Elem::Struct(&KEY_TO_PATH))];
static KEY_TO_PATH: TypeDef = named("KeyToPath");
static SECRET_VOLUME_SOURCE: TypeDef = open("SecretVolumeSource", &[ITEMS]);
static CONFIG_MAP_VOLUME_SOURCE: TypeDef = open("ConfigMapVolumeSource", &[ITEMS]);
const DOWNWARD_ITEMS: &[Field] = &[atomic("items", Elem::Struct(&DOWNWARD_API_VOLUME_FILE))];
static DOWNWARD_API_VOLUME_FILE: TypeDef = named("DownwardAPIVolumeFile");
static DOWNWARD_API_VOLUME_SOURCE: TypeDef = open("DownwardAPIVolumeSource", &[DOWNWARD_ITEMS]);
static PROJECTED_VOLUME_SOURCE: TypeDef =
    open("ProjectedVolumeSource", &[&[atomic("sources", Elem::Struct(&VOLUME_PROJECTION))]]);
static VOLUME_PROJECTION: TypeDef = open(
    "VolumeProjection",
    &[&[
        obj("secret", &SECRET_PROJECTION),
        obj("configMap", &CONFIG_MAP_PROJECTION),
        obj("downwardAPI", &DOWNWARD_API_PROJECTION),
        obj("clusterTrustBundle", &CLUSTER_TRUST_BUNDLE_PROJECTION),
    ]],
);
static SECRET_PROJECTION: TypeDef = open("SecretProjection", &[ITEMS]);
static CONFIG_MAP_PROJECTION: TypeDef = open("ConfigMapProjection", &[ITEMS]);
static DOWNWARD_API_PROJECTION: TypeDef = open("DownwardAPIProjection", &[DOWNWARD_ITEMS]);
static CLUSTER_TRUST_BUNDLE_PROJECTION: TypeDef =
    open("ClusterTrustBundleProjection", &[&[obj("labelSelector", &LABEL_SELECTOR)]]);
static EPHEMERAL_VOLUME_SOURCE: TypeDef =
    open("EphemeralVolumeSource", &[&[obj("volumeClaimTemplate", &PERSISTENT_VOLUME_CLAIM_TEMPLATE)]]);
static PERSISTENT_VOLUME_CLAIM_TEMPLATE: TypeDef = open(
    "PersistentVolumeClaimTemplate",
    &[&[obj("metadata", &OBJECT_META), obj("spec", &PERSISTENT_VOLUME_CLAIM_SPEC)]],
);
static PERSISTENT_VOLUME_CLAIM_SPEC: TypeDef = open(
    "PersistentVolumeClaimSpec",
    &[&[atomic("accessModes", Elem::Scalar("PersistentVolumeAccessMode")), obj("selector", &LABEL_SELECTOR)]],
);
static ISCSI_VOLUME_SOURCE: TypeDef = open("ISCSIVolumeSource", &[&[atomic("portals", STRING)]]);
static RBD_VOLUME_SOURCE: TypeDef = open("RBDVolumeSource", &[&[atomic("monitors", STRING)]]);
static CEPHFS_VOLUME_SOURCE: TypeDef = open("CephFSVolumeSource", &[&[atomic("monitors", STRING)]]);
static FC_VOLUME_SOURCE: TypeDef = open("FCVolumeSource", &[&[atomic("targetWWNs", STRING), atomic("wwids", STRING)]]);

// ---------------------------------------------------------------------------------------------------
// Pod status (§2.6).

static POD_STATUS: TypeDef = closed(
    "PodStatus",
    &[&[
        plain("observedGeneration"),
        plain("phase"),
        list("conditions", merge("type"), keyed(&["type"]), Elem::Struct(&POD_CONDITION)),
        plain("message"),
        plain("reason"),
        plain("nominatedNodeName"),
        plain("hostIP"),
        list("hostIPs", merge("ip"), Ssa::Atomic, Elem::Struct(&HOST_IP)),
        plain("podIP"),
        list("podIPs", merge("ip"), keyed(&["ip"]), Elem::Struct(&POD_IP)),
        plain("startTime"),
        atomic("initContainerStatuses", Elem::Struct(&CONTAINER_STATUS)),
        atomic("containerStatuses", Elem::Struct(&CONTAINER_STATUS)),
        plain("qosClass"),
        atomic("ephemeralContainerStatuses", Elem::Struct(&CONTAINER_STATUS)),
        plain("resize"),
        list(
            "resourceClaimStatuses",
            merge_retain_keys("name"),
            keyed(&["name"]),
            Elem::Struct(&POD_RESOURCE_CLAIM_STATUS),
        ),
    ]],
);
static POD_CONDITION: TypeDef = named("PodCondition");
static HOST_IP: TypeDef = named("HostIP");
static POD_IP: TypeDef = named("PodIP");
static POD_RESOURCE_CLAIM_STATUS: TypeDef = named("PodResourceClaimStatus");
// Reached only through replace/atomic lists, so its tags never act; listed for completeness.
static CONTAINER_STATUS: TypeDef = closed(
    "ContainerStatus",
    &[&[
        plain("name"),
        plain("state"),
        plain("lastState"),
        plain("ready"),
        plain("restartCount"),
        plain("image"),
        plain("imageID"),
        plain("containerID"),
        plain("started"),
        map("allocatedResources"),
        obj("resources", &RESOURCE_REQUIREMENTS),
        list("volumeMounts", merge("mountPath"), keyed(&["mountPath"]), Elem::Struct(&VOLUME_MOUNT_STATUS)),
        obj("user", &CONTAINER_USER),
        list("allocatedResourcesStatus", merge("name"), keyed(&["name"]), Elem::Struct(&RESOURCE_STATUS)),
        plain("stopSignal"),
    ]],
);
static VOLUME_MOUNT_STATUS: TypeDef = named("VolumeMountStatus");
static CONTAINER_USER: TypeDef = open("ContainerUser", &[&[obj("linux", &LINUX_CONTAINER_USER)]]);
static LINUX_CONTAINER_USER: TypeDef =
    open("LinuxContainerUser", &[&[atomic("supplementalGroups", Elem::Scalar("int64"))]]);
static RESOURCE_STATUS: TypeDef = open(
    "ResourceStatus",
    &[&[list("resources", Smp::Replace, keyed(&["resourceID"]), Elem::Struct(&RESOURCE_HEALTH))]],
);
static RESOURCE_HEALTH: TypeDef = named("ResourceHealth");

// ---------------------------------------------------------------------------------------------------
// Namespace, Node, Lease, Scale (§2.7).

static NAMESPACE_SPEC: TypeDef = closed("NamespaceSpec", &[&[atomic("finalizers", Elem::Scalar("FinalizerName"))]]);
static NAMESPACE_STATUS: TypeDef = closed(
    "NamespaceStatus",
    &[&[plain("phase"), list("conditions", merge("type"), keyed(&["type"]), Elem::Struct(&NAMESPACE_CONDITION))]],
);
static NAMESPACE_CONDITION: TypeDef = named("NamespaceCondition");

static NODE_SPEC: TypeDef = closed(
    "NodeSpec",
    &[&[
        plain("podCIDR"),
        list("podCIDRs", MERGE_SCALARS, Ssa::Set, STRING),
        plain("providerID"),
        plain("unschedulable"),
        atomic("taints", Elem::Struct(&TAINT)),
        plain("configSource"),
        plain("externalID"),
    ]],
);
static TAINT: TypeDef = named("Taint");
static NODE_STATUS: TypeDef = closed(
    "NodeStatus",
    &[&[
        map("capacity"),
        map("allocatable"),
        plain("phase"),
        list("conditions", merge("type"), keyed(&["type"]), Elem::Struct(&NODE_CONDITION)),
        // Not unique in practice (several InternalIP): kubelet sends a `$patch: replace` list.
        list("addresses", merge("type"), keyed(&["type"]), Elem::Struct(&NODE_ADDRESS)),
        plain("daemonEndpoints"),
        plain("nodeInfo"),
        atomic("images", Elem::Struct(&CONTAINER_IMAGE)),
        atomic("volumesInUse", Elem::Scalar("UniqueVolumeName")),
        atomic("volumesAttached", Elem::Struct(&ATTACHED_VOLUME)),
        plain("config"),
        atomic("runtimeHandlers", Elem::Struct(&NODE_RUNTIME_HANDLER)),
        plain("features"),
    ]],
);
static NODE_CONDITION: TypeDef = named("NodeCondition");
static NODE_ADDRESS: TypeDef = named("NodeAddress");
static CONTAINER_IMAGE: TypeDef = open("ContainerImage", &[&[atomic("names", STRING)]]);
static ATTACHED_VOLUME: TypeDef = named("AttachedVolume");
static NODE_RUNTIME_HANDLER: TypeDef = named("NodeRuntimeHandler");

static LEASE_SPEC: TypeDef = closed(
    "LeaseSpec",
    &[&[
        plain("holderIdentity"),
        plain("leaseDurationSeconds"),
        plain("acquireTime"),
        plain("renewTime"),
        plain("leaseTransitions"),
        plain("strategy"),
        plain("preferredHolder"),
    ]],
);
static SCALE_SPEC: TypeDef = closed("ScaleSpec", &[&[plain("replicas")]]);
static SCALE_STATUS: TypeDef = closed("ScaleStatus", &[&[plain("replicas"), plain("selector")]]);

#[cfg(test)]
mod tests {
    use super::*;

    fn field(node: Node, path: &[&str]) -> Shape {
        let mut node = node;
        let mut shape = Shape::Plain;
        for (i, name) in path.iter().enumerate() {
            shape = match node.lookup(name) {
                Lookup::Found(shape) => shape,
                _ => panic!("{name} not found"),
            };
            if i + 1 < path.len() {
                node = match shape {
                    Shape::Struct(def) => Node::Struct(def),
                    Shape::List(ListDef { elem: Elem::Struct(def), .. }) => Node::Struct(def),
                    _ => panic!("{name} has no children"),
                };
            }
        }
        shape
    }

    fn list_def(kind: Kind, path: &[&str]) -> ListDef {
        match field(root(kind), path) {
            Shape::List(def) => def,
            _ => panic!("{path:?} is not a list"),
        }
    }

    #[test]
    fn merge_lists_of_the_spec_table() {
        let pod_spec = ["spec", "template", "spec"];
        let c = |rest: &[&'static str]| -> Vec<&'static str> {
            let mut p = pod_spec.to_vec();
            p.extend_from_slice(rest);
            p
        };
        let cases: Vec<(Kind, Vec<&str>, Smp, Ssa)> = vec![
            (Kind::Job, vec!["metadata", "finalizers"], MERGE_SCALARS, Ssa::Set),
            (Kind::Job, vec!["metadata", "ownerReferences"], merge("uid"), keyed(&["uid"])),
            (Kind::Job, c(&["containers"]), merge("name"), keyed(&["name"])),
            (Kind::Job, c(&["initContainers", "env"]), merge("name"), keyed(&["name"])),
            (Kind::Job, c(&["ephemeralContainers", "volumeMounts"]), merge("mountPath"), keyed(&["mountPath"])),
            (Kind::Job, c(&["volumes"]), merge_retain_keys("name"), keyed(&["name"])),
            (Kind::Job, c(&["tolerations"]), Smp::Replace, Ssa::Atomic),
            (Kind::Job, c(&["containers", "command"]), Smp::Replace, Ssa::Atomic),
            (
                Kind::Job,
                c(&["containers", "ports"]),
                merge("containerPort"),
                Ssa::Map { keys: &["containerPort", "protocol"], defaults: &[("protocol", "TCP")] },
            ),
            (Kind::Job, vec!["spec", "template", "metadata", "finalizers"], MERGE_SCALARS, Ssa::Set),
            (Kind::Job, vec!["status", "conditions"], merge("type"), Ssa::Atomic),
            (Kind::CronJob, vec!["status", "active"], Smp::Replace, Ssa::Atomic),
            (
                Kind::CronJob,
                vec!["spec", "jobTemplate", "spec", "template", "spec", "containers"],
                merge("name"),
                keyed(&["name"]),
            ),
            (Kind::Job, vec!["status", "uncountedTerminatedPods", "failed"], Smp::Replace, Ssa::Set),
            (Kind::Pod, vec!["status", "conditions"], merge("type"), keyed(&["type"])),
            (Kind::Pod, vec!["status", "hostIPs"], merge("ip"), Ssa::Atomic),
            (Kind::Pod, vec!["status", "containerStatuses"], Smp::Replace, Ssa::Atomic),
            (
                Kind::Pod,
                vec!["spec", "volumes", "ephemeral", "volumeClaimTemplate", "metadata", "finalizers"],
                MERGE_SCALARS,
                Ssa::Set,
            ),
            (Kind::Node, vec!["spec", "podCIDRs"], MERGE_SCALARS, Ssa::Set),
            (Kind::Node, vec!["status", "addresses"], merge("type"), keyed(&["type"])),
            (Kind::Node, vec!["spec", "taints"], Smp::Replace, Ssa::Atomic),
            (Kind::Namespace, vec!["spec", "finalizers"], Smp::Replace, Ssa::Atomic),
            (Kind::Namespace, vec!["status", "conditions"], merge("type"), keyed(&["type"])),
            (Kind::Lease, vec!["metadata", "finalizers"], MERGE_SCALARS, Ssa::Set),
            (Kind::RuntimeClass, vec!["scheduling", "tolerations"], Smp::Replace, Ssa::Atomic),
        ];
        for (kind, path, smp, ssa) in cases {
            let def = list_def(kind, &path);
            assert_eq!(def.smp, smp, "{kind:?} {path:?}");
            assert_eq!(def.ssa, ssa, "{kind:?} {path:?}");
        }
    }

    #[test]
    fn closed_types_reject_unknown_fields_open_ones_do_not() {
        assert!(matches!(root(Kind::Job).lookup("bogus"), Lookup::NoSuchField("Job")));
        assert!(matches!(root(Kind::Event).lookup("involvedObject"), Lookup::Unlisted));
        assert!(matches!(root(Kind::Other).lookup("anything"), Lookup::Unlisted));
        let Shape::Struct(spec) = field(root(Kind::Pod), &["spec"]) else { panic!() };
        assert!(matches!(Node::Struct(spec).lookup("bogus"), Lookup::NoSuchField("PodSpec")));
        assert!(matches!(Node::Struct(spec).lookup("restartPolicy"), Lookup::Found(Shape::Plain)));
    }
}
