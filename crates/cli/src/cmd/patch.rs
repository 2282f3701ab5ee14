//! `runlet patch`, and the `suspend`/`resume` shortcuts (a merge patch of `spec.suspend`).

use serde_json::{Value, json};

use super::{Ctx, Target};
use crate::Ui;
use crate::args::{self, ResourceArgs};
use crate::conn::ConnArgs;
use crate::error::{CliError, Result};
use crate::request::{PatchType, with_query};

#[derive(clap::Args, Debug)]
pub struct PatchArgs {
    /// TYPE NAME or TYPE/NAME
    pub resources: Vec<String>,
    /// The patch, JSON or YAML
    #[arg(short = 'p', long)]
    pub patch: Option<String>,
    /// A file holding the patch
    #[arg(long)]
    pub patch_file: Option<String>,
    /// strategic (default), merge (RFC 7386) or json (RFC 6902)
    #[arg(long = "type", value_enum, default_value = "strategic")]
    pub patch_type: PatchType,
    /// Patch this subresource (status or scale) instead of the object
    #[arg(long)]
    pub subresource: Option<String>,
    /// A file naming the object to patch
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
    /// Print only kind/name
    #[arg(short = 'o', long, value_parser = ["name"])]
    pub output: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// The objects named by `TYPE NAME...`, `TYPE/NAME...` or `-f`.
fn named_targets(ctx: &Ctx, resources: &[String], files: &[String]) -> Result<Vec<Target>> {
    if !files.is_empty() {
        return Ok(ctx.targets_from_files(files, false)?.into_iter().map(|(_, t)| t).collect());
    }
    let mut out = Vec::new();
    for sel in ctx.selections(resources, "You must provide one or more resources by argument or filename.")? {
        if sel.names.is_empty() {
            return Err(CliError::other("resource(s) were provided, but no name was specified"));
        }
        for name in sel.names {
            out.push(Target { resource: sel.resource.clone(), namespace: ctx.ns().to_string(), name });
        }
    }
    Ok(out)
}

pub async fn run(args: PatchArgs, ui: &mut Ui) -> Result<()> {
    let text = match (&args.patch, &args.patch_file) {
        (Some(p), None) => p.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|e| CliError::other(format!("reading {f}: {e}")))?,
        _ => return Err(CliError::other("must specify exactly one of --patch or --patch-file")),
    };
    let body: Value = serde_json::from_str(&text)
        .or_else(|_| runlet_api::yaml::document(&text))
        .map_err(|e| CliError::other(format!("unable to parse \"{text}\": {e}")))?;
    let ctx = Ctx::new(&args.conn).await?;
    for target in named_targets(&ctx, &args.resources, &args.filename)? {
        let path = match &args.subresource {
            Some(sub) => format!("{}/{sub}", target.path()),
            None => target.path(),
        };
        let outcome = async {
            let before = ctx.conn.api.get(&path).await?;
            let after = ctx
                .conn
                .api
                .patch(&with_query(&path, &[("fieldManager", "runlet-patch")]), args.patch_type, &body)
                .await?;
            Ok::<bool, CliError>(changed(&before, &after, args.subresource.as_deref()))
        };
        match outcome.await {
            Ok(_) if args.output.is_some() => ui.line(&target.display()),
            Ok(true) => ui.line(&format!("{} patched", target.display())),
            Ok(false) => ui.line(&format!("{} patched (no change)", target.display())),
            Err(e) => ui.error(&e),
        }
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct SuspendArgs {
    /// Job names, or TYPE/NAME... (any kind with spec.suspend, such as jobs)
    pub resources: Vec<String>,
    /// The objects matching this label selector
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Every Job in the namespace
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Whether a patch changed what it addressed: the object apart from its status and bookkeeping (or only the
/// status, for the `status` subresource). Not the `resourceVersion`: a controller writing the status between
/// the read and the patch would make an unchanged spec look patched.
fn changed(before: &Value, after: &Value, subresource: Option<&str>) -> bool {
    fn addressed(o: &Value, subresource: Option<&str>) -> Value {
        if subresource == Some("status") {
            return o.get("status").cloned().unwrap_or(Value::Null);
        }
        let mut o = o.clone();
        if let Some(map) = o.as_object_mut() {
            map.remove("status");
        }
        if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in ["resourceVersion", "managedFields", "generation"] {
                meta.remove(k);
            }
        }
        o
    }
    addressed(before, subresource) != addressed(after, subresource)
}

/// `suspend pi`, `suspend jobs pi`, `suspend job/pi`, `suspend -l app=x`: bare names are Jobs.
fn suspend_args(resources: &[String], discovery_has: impl Fn(&str) -> bool) -> Vec<String> {
    let bare_names = !resources.iter().any(|r| r.contains('/'))
        && resources.first().is_none_or(|first| !(discovery_has(first) && (resources.len() > 1)));
    if bare_names {
        let mut out = vec!["jobs".to_string()];
        out.extend(resources.iter().cloned());
        out
    } else {
        resources.to_vec()
    }
}

pub async fn suspend(args: SuspendArgs, suspend: bool, ui: &mut Ui) -> Result<()> {
    let ctx = Ctx::new(&args.conn).await?;
    let resources = suspend_args(&args.resources, |t| ctx.discovery.resolve(t).is_ok());
    let selector = args.selector.as_deref().unwrap_or("");
    let mut targets = Vec::new();
    for sel in args::resolve(
        &ctx.discovery,
        &args::parse(&resources)?.unwrap_or(ResourceArgs::Types { types: vec!["jobs".into()], names: vec![] }),
    )? {
        if sel.names.is_empty() && !args.all && selector.is_empty() {
            return Err(CliError::other("name a Job, or use -l or --all"));
        }
        targets.extend(ctx.expand(&sel, Some(ctx.ns()), selector, "").await?);
    }
    let verb = if suspend { "suspended" } else { "resumed" };
    for target in targets {
        let result = async {
            let before = ctx.conn.api.get(&target.path()).await?;
            let after =
                ctx.conn.api.patch(&target.path(), PatchType::Merge, &json!({"spec": {"suspend": suspend}})).await?;
            Ok::<bool, CliError>(changed(&before, &after, None))
        };
        match result.await {
            Ok(true) => ui.line(&format!("{} {verb}", target.display())),
            Ok(false) => ui.line(&format!("{} {verb} (no change)", target.display())),
            Err(e) => ui.error(&e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_write_in_between_is_not_a_change() {
        let before = json!({"metadata": {"resourceVersion": "5"}, "spec": {"suspend": true}, "status": {"active": 1}});
        let cases = [
            // (after, subresource, changed)
            (
                json!({"metadata": {"resourceVersion": "7"}, "spec": {"suspend": true}, "status": {"active": 0}}),
                None,
                false,
            ),
            (
                json!({"metadata": {"resourceVersion": "7"}, "spec": {"suspend": false}, "status": {"active": 1}}),
                None,
                true,
            ),
            (
                json!({"metadata": {"resourceVersion": "6", "labels": {"a": "b"}}, "spec": {"suspend": true}}),
                None,
                true,
            ),
            (
                json!({"metadata": {"resourceVersion": "7"}, "spec": {"suspend": true}, "status": {"active": 0}}),
                Some("status"),
                true,
            ),
            (
                json!({"metadata": {"resourceVersion": "7"}, "spec": {"suspend": false}, "status": {"active": 1}}),
                Some("status"),
                false,
            ),
        ];
        for (i, (after, sub, want)) in cases.iter().enumerate() {
            assert_eq!(changed(&before, after, *sub), *want, "case {i}");
        }
    }

    #[test]
    fn bare_names_are_jobs() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let known = |t: &str| matches!(t, "jobs" | "job" | "cronjobs");
        assert_eq!(suspend_args(&s(&["pi"]), known), s(&["jobs", "pi"]));
        assert_eq!(suspend_args(&s(&["pi", "other"]), known), s(&["jobs", "pi", "other"]));
        assert_eq!(suspend_args(&s(&["job", "pi"]), known), s(&["job", "pi"]));
        assert_eq!(suspend_args(&s(&["job/pi"]), known), s(&["job/pi"]));
        // A Job called "jobs" is still a Job.
        assert_eq!(suspend_args(&s(&["jobs"]), known), s(&["jobs", "jobs"]));
        assert_eq!(suspend_args(&s(&[]), known), s(&["jobs"]));
    }
}
