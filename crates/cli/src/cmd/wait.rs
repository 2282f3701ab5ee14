//! `runlet wait`, and the list-then-watch loop it shares with `delete`'s wait.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use super::{Ctx, Target, items, resource_version};
use crate::Ui;
use crate::conn::ConnArgs;
use crate::error::{CliError, Result};
use crate::request::with_query;
use crate::wait::{For, Verdict, parse_duration};

#[derive(clap::Args, Debug)]
pub struct WaitArgs {
    /// TYPE/NAME..., or TYPE [NAME...] with -l or --all
    pub resources: Vec<String>,
    /// condition=TYPE[=STATUS], delete, jsonpath={PATH}[=VALUE], or finished (Complete or Failed; exits 1 when Failed)
    #[arg(long = "for", value_name = "CONDITION")]
    pub for_: String,
    /// How long to wait, e.g. 30s, 5m, 1h
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Wait for the objects matching this label selector
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Wait for every object of the given types
    #[arg(long)]
    pub all: bool,
    /// With --all or a selector: across all namespaces
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Files naming the objects to wait for
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

pub async fn run(args: WaitArgs, ui: &mut Ui) -> Result<()> {
    let condition = For::parse(&args.for_)?;
    let ctx = Ctx::new(&args.conn).await?;
    let targets: Vec<Target> = if !args.filename.is_empty() {
        ctx.targets_from_files(&args.filename, false)?.into_iter().map(|(_, t)| t).collect()
    } else {
        let selections = ctx.selections(&args.resources, "resource name or selector required")?;
        let selector = args.selector.as_deref().unwrap_or("");
        let mut out = Vec::new();
        for sel in &selections {
            if sel.names.is_empty() && !args.all && selector.is_empty() {
                return Err(CliError::other("resource(s) were provided, but no name was specified"));
            }
            out.extend(ctx.expand(sel, if args.all_namespaces { None } else { Some(ctx.ns()) }, selector, "").await?);
        }
        if out.is_empty() {
            return Err(CliError::other("no matching resources found"));
        }
        out
    };
    let deadline = tokio::time::Instant::now() + args.timeout;
    for target in targets {
        let verdict = match tokio::time::timeout_at(deadline, wait_one(&ctx, &target, &condition)).await {
            Ok(v) => v,
            Err(_) => {
                ui.error(&CliError::other(format!(
                    "timed out waiting for the condition on {}/{}",
                    target.resource.plural, target.name
                )));
                continue;
            }
        };
        match verdict {
            Ok(Verdict::Met) => ui.line(&format!("{} condition met", target.display())),
            Ok(Verdict::Failed { reason, message }) => {
                ui.error(&CliError::other(format!("{} failed ({reason}): {message}", target.display())))
            }
            Ok(Verdict::Waiting) => {}
            Err(e) => ui.error(&e),
        }
    }
    Ok(())
}

async fn wait_one(ctx: &Ctx, target: &Target, condition: &For) -> Result<Verdict> {
    match ctx.conn.api.get(&target.path()).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() && *condition == For::Delete => return Ok(Verdict::Met),
        Err(e) => return Err(e),
    }
    observe(ctx, target, |o| match condition.check(o)? {
        Verdict::Waiting => Ok(None),
        v => Ok(Some(v)),
    })
    .await
}

/// Waits until the object is gone (or replaced by one with another uid).
pub async fn until_gone(ctx: &Ctx, target: &Target, uid: &str) -> Result<()> {
    observe(ctx, target, |o| {
        let gone = match o {
            None => true,
            Some(o) => !uid.is_empty() && o.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid),
        };
        Ok(gone.then_some(()))
    })
    .await
}

/// Lists the one object by name, then watches it, calling `check` with each state (None: it is gone) until
/// `check` gives an answer. A watch the server ends is started again from a new list.
async fn observe<T>(
    ctx: &Ctx,
    target: &Target,
    mut check: impl FnMut(Option<&Value>) -> Result<Option<T>>,
) -> Result<T> {
    let selector = format!("metadata.name={}", target.name);
    let collection = target.resource.collection_path(Some(&target.namespace));
    loop {
        let list = ctx.conn.api.get(&with_query(&collection, &[("fieldSelector", &selector)])).await?;
        if let Some(answer) = check(items(&list).first())? {
            return Ok(answer);
        }
        let uri = with_query(
            &collection,
            &[("fieldSelector", &selector), ("watch", "true"), ("resourceVersion", resource_version(&list))],
        );
        let mut events = ctx.conn.api.watch(&uri, "application/json").await?;
        while let Some(event) = events.next().await {
            let event = event?;
            let object = event.get("object");
            let answer = match event.get("type").and_then(Value::as_str) {
                Some("ADDED") | Some("MODIFIED") => check(object)?,
                Some("DELETED") => check(None)?,
                // ERROR (e.g. an expired resourceVersion): list again.
                Some("ERROR") => break,
                _ => None,
            };
            if let Some(answer) = answer {
                return Ok(answer);
            }
        }
        // Do not spin when the server keeps closing watches at once.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
