//! `runlet scale --replicas=N jobs/NAME`: the scale subresource (a Job's parallelism).

use serde_json::{Value, json};

use super::{Ctx, Target};
use crate::Ui;
use crate::conn::ConnArgs;
use crate::error::{CliError, Result};
use crate::request::PatchType;

#[derive(clap::Args, Debug)]
pub struct ScaleArgs {
    /// TYPE NAME or TYPE/NAME (jobs/pi)
    pub resources: Vec<String>,
    /// The new parallelism
    #[arg(long)]
    pub replicas: i64,
    /// Only scale when the parallelism is this now
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub current_replicas: i64,
    /// Files naming the objects to scale
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

pub async fn run(args: ScaleArgs, ui: &mut Ui) -> Result<()> {
    if args.replicas < 0 {
        return Err(CliError::other(
            "The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0",
        ));
    }
    let ctx = Ctx::new(&args.conn).await?;
    let targets: Vec<Target> = if args.filename.is_empty() {
        let mut out = Vec::new();
        for sel in ctx.selections(&args.resources, "You must provide one or more resources by argument or filename.")? {
            if sel.names.is_empty() {
                return Err(CliError::other("resource(s) were provided, but no name was specified"));
            }
            out.extend(ctx.expand(&sel, Some(ctx.ns()), "", "").await?);
        }
        out
    } else {
        ctx.targets_from_files(&args.filename, false)?.into_iter().map(|(_, t)| t).collect()
    };
    for target in targets {
        if let Err(e) = scale_one(&ctx, &target, &args).await {
            ui.error(&e);
            continue;
        }
        ui.line(&format!("{} scaled", target.display()));
    }
    Ok(())
}

async fn scale_one(ctx: &Ctx, target: &Target, args: &ScaleArgs) -> Result<()> {
    let uri = format!("{}/scale", target.path());
    if args.current_replicas < 0 {
        ctx.conn.api.patch(&uri, PatchType::Merge, &json!({"spec": {"replicas": args.replicas}})).await?;
        return Ok(());
    }
    // A precondition: read the scale, compare, and write it back with its resourceVersion.
    let mut scale = ctx.conn.api.get(&uri).await?;
    let now = scale.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
    if now != args.current_replicas {
        return Err(CliError::other(format!("Expected replicas to be {}, was {now}", args.current_replicas)));
    }
    match scale.pointer_mut("/spec").and_then(Value::as_object_mut) {
        Some(spec) => {
            spec.insert("replicas".into(), json!(args.replicas));
        }
        None => return Err(CliError::other(format!("the scale of {} has no spec", target.display()))),
    }
    ctx.conn.api.put(&uri, &scale).await?;
    Ok(())
}
