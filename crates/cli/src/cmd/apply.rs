//! `runlet create -f` and `runlet apply -f`.

use serde_json::Value;

use super::{Ctx, Target, resource_version};
use crate::Ui;
use crate::apply::{annotate, last_applied, three_way};
use crate::conn::ConnArgs;
use crate::error::{CliError, Result};
use crate::manifest::Object;
use crate::request::{PatchType, with_query};

/// How the server should treat unknown or duplicate fields (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Validate {
    Strict,
    Warn,
    Ignore,
    True,
    False,
}

impl Validate {
    fn field_validation(self) -> &'static str {
        match self {
            Validate::Strict | Validate::True => "Strict",
            Validate::Warn => "Warn",
            Validate::Ignore | Validate::False => "Ignore",
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct FileArgs {
    /// Files, directories or - (stdin) with the objects; YAML (multi-document) or JSON
    #[arg(short = 'f', long = "filename", required = true)]
    pub filename: Vec<String>,
    /// Descend into directories given with -f
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// How the server treats unknown or duplicate fields
    #[arg(long, value_enum, default_value = "strict", num_args = 0..=1, default_missing_value = "strict")]
    pub validate: Validate,
    /// Print only kind/name
    #[arg(short = 'o', long, value_parser = ["name"])]
    pub output: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    pub files: FileArgs,
}

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub files: FileArgs,
}

fn result_line(args: &FileArgs, target: &Target, verb: &str) -> String {
    if args.output.is_some() { target.display() } else { format!("{} {verb}", target.display()) }
}

fn with_namespace(object: &Object, target: &Target) -> Value {
    let mut v = object.value.clone();
    if target.resource.namespaced
        && let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.insert("namespace".into(), target.namespace.clone().into());
    }
    v
}

fn collection_uri(target: &Target, manager: &str, args: &FileArgs) -> String {
    with_query(
        &target.resource.collection_path(Some(&target.namespace)),
        &[("fieldManager", manager), ("fieldValidation", args.validate.field_validation())],
    )
}

pub async fn create(args: CreateArgs, ui: &mut Ui) -> Result<()> {
    let args = args.files;
    let ctx = Ctx::new(&args.conn).await?;
    for (object, target) in ctx.targets_from_files(&args.filename, args.recursive)? {
        let body = with_namespace(&object, &target);
        match ctx.conn.api.post(&collection_uri(&target, "runlet-create", &args), &body).await {
            Ok(created) => {
                let name = created.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(&target.name);
                let t = Target { name: name.to_string(), ..target };
                ui.line(&result_line(&args, &t, "created"));
            }
            Err(e) => ui.error(&e.context(&format!("error when creating \"{}\"", object.source))),
        }
    }
    Ok(())
}

pub async fn apply(args: ApplyArgs, ui: &mut Ui) -> Result<()> {
    let args = args.files;
    let ctx = Ctx::new(&args.conn).await?;
    for (object, target) in ctx.targets_from_files(&args.filename, args.recursive)? {
        if let Err(e) = apply_one(&ctx, &args, &object, &target, ui).await {
            ui.error(&e);
        }
    }
    Ok(())
}

const APPLY_MANAGER: &str = "runlet-client-side-apply";

async fn apply_one(ctx: &Ctx, args: &FileArgs, object: &Object, target: &Target, ui: &mut Ui) -> Result<()> {
    if target.name.is_empty() {
        return Err(CliError::other(format!(
            "error when retrieving current configuration of \"{}\": resource name may not be empty",
            object.source
        )));
    }
    let modified = annotate(&with_namespace(object, target));
    let live = match ctx.conn.api.get(&target.path()).await {
        Ok(live) => live,
        Err(e) if e.is_not_found() => {
            ctx.conn
                .api
                .post(&collection_uri(target, APPLY_MANAGER, args), &modified)
                .await
                .map_err(|e| e.context(&format!("error when creating \"{}\"", object.source)))?;
            ui.line(&result_line(args, target, "created"));
            return Ok(());
        }
        Err(e) => {
            return Err(e.context(&format!("error when retrieving current configuration of \"{}\"", object.source)));
        }
    };
    let patch = three_way(last_applied(&live).as_ref(), &modified, &live);
    if patch.as_object().is_some_and(|p| p.is_empty()) {
        ui.line(&result_line(args, target, "unchanged"));
        return Ok(());
    }
    let uri = with_query(
        &target.path(),
        &[("fieldManager", APPLY_MANAGER), ("fieldValidation", args.validate.field_validation())],
    );
    let patched = ctx.conn.api.patch(&uri, PatchType::Strategic, &patch).await.map_err(|e| {
        e.context(&format!(
            "error when applying patch:\n{patch}\nto:\n{}\nfor: \"{}\"",
            target.display(),
            object.source
        ))
    })?;
    let verb = if resource_version(&patched) == resource_version(&live) { "unchanged" } else { "configured" };
    ui.line(&result_line(args, target, verb));
    Ok(())
}
