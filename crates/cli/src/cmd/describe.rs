//! `runlet describe`: fetches the object and its events (and, for a node, its pods and lease) and prints the
//! layout from [`crate::describe`].

use serde_json::Value;

use super::{Ctx, Target, items};
use crate::Ui;
use crate::conn::ConnArgs;
use crate::describe::{self, Context, event_selector};
use crate::error::Result;
use crate::request::with_query;

#[derive(clap::Args, Debug)]
pub struct DescribeArgs {
    /// TYPE [NAME...] (a name prefix is enough), or TYPE/NAME...
    pub resources: Vec<String>,
    /// Describe the objects matching this label selector
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Across all namespaces
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Show the objects' events
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub show_events: bool,
    /// Files naming the objects to describe
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

pub async fn run(args: DescribeArgs, ui: &mut Ui) -> Result<()> {
    let ctx = Ctx::new(&args.conn).await?;
    let namespace = if args.all_namespaces { None } else { Some(ctx.ns()) };
    let mut targets: Vec<Target> = Vec::new();
    if args.filename.is_empty() {
        let selector = args.selector.as_deref().unwrap_or("");
        for sel in ctx.selections(&args.resources, &ctx.missing_type("describe"))? {
            if sel.names.is_empty() {
                targets.extend(ctx.expand(&sel, namespace, selector, "").await?);
                continue;
            }
            for name in &sel.names {
                // kubectl describes every object whose name starts with the one given when there is no exact match.
                let exact =
                    Target { resource: sel.resource.clone(), namespace: ctx.ns().to_string(), name: name.clone() };
                match ctx.conn.api.get(&exact.path()).await {
                    Ok(_) => targets.push(exact),
                    Err(e) if e.is_not_found() => {
                        let all = ctx
                            .expand(
                                &crate::args::Selection { names: vec![], ..sel.clone() },
                                Some(ctx.ns()),
                                selector,
                                "",
                            )
                            .await?;
                        let matching: Vec<Target> =
                            all.into_iter().filter(|t| t.name.starts_with(name.as_str())).collect();
                        if matching.is_empty() {
                            ui.error(&e);
                        }
                        targets.extend(matching);
                    }
                    Err(e) => ui.error(&e),
                }
            }
        }
    } else {
        targets = ctx.targets_from_files(&args.filename, false)?.into_iter().map(|(_, t)| t).collect();
    }
    if targets.is_empty() && !ui.failed {
        ui.note(&super::no_resources(namespace));
        return Ok(());
    }
    let mut first = true;
    for target in targets {
        match describe_one(&ctx, &target, args.show_events).await {
            Ok(text) => {
                if !first {
                    ui.out("\n\n");
                }
                first = false;
                ui.out(&text);
            }
            Err(e) => ui.error(&e),
        }
    }
    Ok(())
}

async fn describe_one(ctx: &Ctx, target: &Target, show_events: bool) -> Result<String> {
    let api = &ctx.conn.api;
    let object = api.get(&target.path()).await?;
    let kind = target.resource.kind.as_str();
    let events = if show_events {
        let ns = object.pointer("/metadata/namespace").and_then(Value::as_str).filter(|n| !n.is_empty());
        let path = match ns {
            Some(ns) => format!("/api/v1/namespaces/{ns}/events"),
            None => "/api/v1/events".to_string(),
        };
        // Events are extra: an error fetching them leaves them out, as in kubectl.
        api.get(&with_query(&path, &[("fieldSelector", &event_selector(&object, kind))])).await.map(|l| items(&l)).ok()
    } else {
        None
    };
    let (mut node_pods, mut lease) = (Vec::new(), None);
    if target.resource.group.is_empty() && kind == "Node" {
        let selector = format!("spec.nodeName={},status.phase!=Failed,status.phase!=Succeeded", target.name);
        node_pods = api
            .get(&with_query("/api/v1/pods", &[("fieldSelector", &selector)]))
            .await
            .map(|l| items(&l))
            .unwrap_or_default();
        lease = api
            .get(&format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{}", target.name))
            .await
            .ok();
    }
    let context = Context { events: events.as_deref(), node_pods: &node_pods, lease: lease.as_ref(), now: None };
    Ok(describe::describe(&target.resource.group, kind, &object, &context))
}
