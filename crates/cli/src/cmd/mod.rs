//! The commands: argument structs and the thin I/O that carries each one out.

mod apply;
mod delete;
mod describe;
mod edit;
mod get;
mod logs;
mod patch;
mod scale;
mod version;
mod wait;

use serde_json::Value;

use crate::Ui;
use crate::args::{self, Selection};
use crate::conn::{Conn, ConnArgs};
use crate::discovery::{self, ApiResource, Discovery};
use crate::error::{CliError, Result};
use crate::manifest::{self, Object};

/// The kubectl-style verbs of `runlet`.
#[derive(clap::Subcommand, Debug)]
pub enum Verb {
    /// Display one or many resources (the server's columns; -o wide|yaml|json|name|jsonpath=...|custom-columns=...)
    Get(get::GetArgs),
    /// Show details of a resource or group of resources, with their events
    Describe(describe::DescribeArgs),
    /// Create or update resources from files or stdin (client-side apply, like kubectl apply)
    Apply(apply::ApplyArgs),
    /// Create resources from files or stdin
    Create(apply::CreateArgs),
    /// Delete resources by file names, stdin, names, label selector, or --all (waits until they are gone)
    Delete(delete::DeleteArgs),
    /// Print the logs of a container in a pod, or of a Job's pod (job/NAME)
    Logs(logs::LogsArgs),
    /// Set the parallelism of a Job (its scale subresource)
    Scale(scale::ScaleArgs),
    /// Wait for a condition on resources: --for=condition=Complete, --for=delete, --for=jsonpath=..., --for=finished
    Wait(wait::WaitArgs),
    /// Suspend Jobs (spec.suspend=true): their running pods are stopped
    Suspend(patch::SuspendArgs),
    /// Resume suspended Jobs (spec.suspend=false)
    Resume(patch::SuspendArgs),
    /// Update fields of a resource with a strategic merge, JSON merge or JSON patch
    Patch(patch::PatchArgs),
    /// Edit a resource in $KUBE_EDITOR or $EDITOR and save it to the server
    Edit(edit::EditArgs),
    /// Print the client and server versions
    Version(version::VersionArgs),
    /// Print a shell completion script (bash, zsh or fish)
    Completion(version::CompletionArgs),
}

pub async fn run(verb: Verb, ui: &mut Ui, root: impl FnOnce() -> clap::Command) -> Result<()> {
    match verb {
        Verb::Get(a) => get::run(a, ui).await,
        Verb::Describe(a) => describe::run(a, ui).await,
        Verb::Apply(a) => apply::apply(a, ui).await,
        Verb::Create(a) => apply::create(a, ui).await,
        Verb::Delete(a) => delete::run(a, ui).await,
        Verb::Logs(a) => logs::run(a, ui).await,
        Verb::Scale(a) => scale::run(a, ui).await,
        Verb::Wait(a) => wait::run(a, ui).await,
        Verb::Suspend(a) => patch::suspend(a, true, ui).await,
        Verb::Resume(a) => patch::suspend(a, false, ui).await,
        Verb::Patch(a) => patch::run(a, ui).await,
        Verb::Edit(a) => edit::run(a, ui).await,
        Verb::Version(a) => version::run(a, ui).await,
        Verb::Completion(a) => version::completion(a, root(), ui),
    }
}

/// A connection and what its server serves.
pub struct Ctx {
    pub conn: Conn,
    pub discovery: Discovery,
    /// Whether `-n` was given (objects of another namespace in a file are then an error).
    pub explicit_namespace: bool,
}

impl Ctx {
    pub async fn new(args: &ConnArgs) -> Result<Ctx> {
        let conn = args.connect().await?;
        let discovery = discovery::discover(&conn.api).await?;
        Ok(Ctx { conn, discovery, explicit_namespace: args.namespace.is_some() })
    }

    pub fn ns(&self) -> &str {
        &self.conn.namespace
    }

    /// The error for a command given no resource type: kubectl's words, and the types this server has.
    pub fn missing_type(&self, verb: &str) -> String {
        let mut plurals: Vec<&str> = self.discovery.resources.iter().map(|r| r.plural.as_str()).collect();
        plurals.sort();
        format!(
            "You must specify the type of resource to {verb}. This server has: {}, and the category all.",
            plurals.join(", ")
        )
    }

    /// Resolves resource arguments; `what` words the error when there are none.
    pub fn selections(&self, resource_args: &[String], what: &str) -> Result<Vec<Selection>> {
        match args::parse(resource_args)? {
            Some(parsed) => args::resolve(&self.discovery, &parsed),
            None => Err(CliError::other(what.to_string())),
        }
    }

    /// The resource and namespace of an object from a file.
    pub fn locate(&self, object: &Object) -> Result<Target> {
        let api_version = object.str_at("/apiVersion");
        let kind = object.str_at("/kind");
        let resource = self.discovery.by_kind(api_version, kind).ok_or_else(|| {
            CliError::other(format!(
                "resource mapping not found for name: \"{}\" namespace: \"{}\" from \"{}\": no matches for kind \"{kind}\" in version \"{api_version}\"",
                object.str_at("/metadata/name"),
                object.str_at("/metadata/namespace"),
                object.source
            ))
        })?;
        let namespace = match object.str_at("/metadata/namespace") {
            "" => self.ns().to_string(),
            ns if self.explicit_namespace && ns != self.ns() && resource.namespaced => {
                return Err(CliError::other(format!(
                    "the namespace from the provided object \"{ns}\" does not match the namespace \"{}\". You must pass '--namespace={ns}' to perform this operation.",
                    self.ns()
                )));
            }
            ns => ns.to_string(),
        };
        Ok(Target { resource: resource.clone(), namespace, name: object.str_at("/metadata/name").to_string() })
    }

    /// Objects named by `-f` files.
    pub fn targets_from_files(&self, files: &[String], recursive: bool) -> Result<Vec<(Object, Target)>> {
        manifest::read(files, recursive)?.into_iter().map(|o| self.locate(&o).map(|t| (o, t))).collect()
    }

    /// The objects a selection names: its names, or (with a selector or `all`) what a list finds.
    pub async fn expand(
        &self,
        sel: &Selection,
        namespace: Option<&str>,
        label_selector: &str,
        field_selector: &str,
    ) -> Result<Vec<Target>> {
        let ns = namespace.unwrap_or(self.ns());
        if !sel.names.is_empty() {
            return Ok(sel
                .names
                .iter()
                .map(|n| Target { resource: sel.resource.clone(), namespace: ns.to_string(), name: n.clone() })
                .collect());
        }
        let path = crate::request::with_query(
            &sel.resource.collection_path(namespace),
            &[("labelSelector", label_selector), ("fieldSelector", field_selector)],
        );
        let list = self.conn.api.get(&path).await?;
        Ok(items(&list)
            .iter()
            .map(|o| Target {
                resource: sel.resource.clone(),
                namespace: o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(ns).to_string(),
                name: o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string(),
            })
            .collect())
    }
}

/// One named object on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub resource: ApiResource,
    pub namespace: String,
    pub name: String,
}

impl Target {
    pub fn path(&self) -> String {
        self.resource.item_path(&self.namespace, &self.name)
    }

    /// `job.batch/pi`
    pub fn display(&self) -> String {
        format!("{}/{}", self.resource.kind_ref(), self.name)
    }
}

/// The items of a list response.
pub fn items(list: &Value) -> Vec<Value> {
    list.get("items").and_then(Value::as_array).cloned().unwrap_or_default()
}

/// `No resources found in default namespace.` or, across namespaces and for cluster-scoped kinds,
/// `No resources found`.
pub fn no_resources(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("No resources found in {ns} namespace."),
        None => "No resources found".to_string(),
    }
}

/// The `resourceVersion` of an object.
pub fn resource_version(o: &Value) -> &str {
    o.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("")
}
