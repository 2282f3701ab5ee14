//! `runlet delete`: by name, `-f`, `-l` or `--all`; then, by default, waits until the objects are gone.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Ctx, Target, no_resources};
use crate::Ui;
use crate::conn::ConnArgs;
use crate::error::{CliError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Cascade {
    /// Dependents (a Job's pods) are deleted in the background
    Background,
    /// Dependents are deleted first; the object goes last
    Foreground,
    /// Dependents are left behind
    Orphan,
    /// Same as background (kubectl's older spelling)
    True,
    /// Same as orphan (kubectl's older spelling)
    False,
}

impl Cascade {
    pub fn propagation_policy(self) -> &'static str {
        match self {
            Cascade::Background | Cascade::True => "Background",
            Cascade::Foreground => "Foreground",
            Cascade::Orphan | Cascade::False => "Orphan",
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// TYPE[,TYPE...] [NAME...], or TYPE/NAME...
    pub resources: Vec<String>,
    /// Files, directories or - (stdin) naming the objects to delete
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
    /// Descend into directories given with -f
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Delete the objects matching this label selector
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Delete the objects matching this field selector
    #[arg(long)]
    pub field_selector: Option<String>,
    /// Delete every object of the given types in the namespace
    #[arg(long)]
    pub all: bool,
    /// With --all or a selector: across all namespaces
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// What happens to dependents such as a Job's pods
    #[arg(long, value_enum, default_value = "background", num_args = 0..=1, default_missing_value = "background")]
    pub cascade: Cascade,
    /// Seconds the pods get to stop (-1: their own terminationGracePeriodSeconds)
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub grace_period: i64,
    /// Stop at once (grace period 1)
    #[arg(long)]
    pub now: bool,
    /// Succeed when an object is already gone (always so with --all or a selector: what a list found may go
    /// before its delete)
    #[arg(long)]
    pub ignore_not_found: bool,
    /// Wait until the objects are gone
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub wait: bool,
    /// How long to wait for the objects to go, e.g. 30s (0: no limit)
    #[arg(long, default_value = "0s", value_parser = crate::wait::parse_duration)]
    pub timeout: Duration,
    /// Print only kind/name
    #[arg(short = 'o', long, value_parser = ["name"])]
    pub output: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

pub async fn run(args: DeleteArgs, ui: &mut Ui) -> Result<()> {
    let ctx = Ctx::new(&args.conn).await?;
    let targets: Vec<(Target, Option<String>)> = if !args.filename.is_empty() {
        ctx.targets_from_files(&args.filename, args.recursive)?.into_iter().map(|(o, t)| (t, Some(o.source))).collect()
    } else {
        let selections = ctx.selections(&args.resources, "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'")?;
        let selector = args.selector.as_deref().unwrap_or("");
        let fields = args.field_selector.as_deref().unwrap_or("");
        let mut out = Vec::new();
        for sel in &selections {
            if sel.names.is_empty() && !args.all && selector.is_empty() && fields.is_empty() {
                return Err(CliError::other(
                    "resource(s) were provided, but no name was specified (use --all to delete every one, or -l to select some)",
                ));
            }
            let namespace = if args.all_namespaces { None } else { Some(ctx.ns()) };
            out.extend(ctx.expand(sel, namespace, selector, fields).await?.into_iter().map(|t| (t, None)));
        }
        if out.is_empty() {
            ui.note(&no_resources(if args.all_namespaces { None } else { Some(ctx.ns()) }));
            return Ok(());
        }
        out
    };
    let mut body = json!({"propagationPolicy": args.cascade.propagation_policy()});
    let grace = if args.now { 1 } else { args.grace_period };
    if grace >= 0 {
        body["gracePeriodSeconds"] = json!(grace);
    }
    let ignore_not_found =
        args.ignore_not_found || args.all || args.selector.is_some() || args.field_selector.is_some();
    let mut deleted: Vec<(Target, String)> = Vec::new();
    for (target, source) in targets {
        match ctx.conn.api.delete(&target.path(), &body).await {
            Ok(answer) => {
                if args.output.is_some() {
                    ui.line(&target.display());
                } else {
                    ui.line(&format!("{} \"{}\" deleted", target.resource.kind_ref(), target.name));
                }
                let uid = answer.pointer("/details/uid").or_else(|| answer.pointer("/metadata/uid"));
                deleted.push((target, uid.and_then(Value::as_str).unwrap_or("").to_string()));
            }
            Err(e) if e.is_not_found() && ignore_not_found => {}
            Err(e) => match source {
                Some(s) => ui.error(&e.context(&format!("error when deleting \"{s}\""))),
                None => ui.error(&e),
            },
        }
    }
    if !args.wait {
        return Ok(());
    }
    let all_gone = async {
        for (target, uid) in &deleted {
            crate::cmd::wait::until_gone(&ctx, target, uid).await?;
        }
        Ok::<(), CliError>(())
    };
    if args.timeout.is_zero() {
        return all_gone.await;
    }
    match tokio::time::timeout(args.timeout, all_gone).await {
        Ok(r) => r,
        Err(_) => Err(CliError::other("timed out waiting for the objects to be deleted")),
    }
}
