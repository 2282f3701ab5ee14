//! `runlet edit`: the object as YAML in `$KUBE_EDITOR` or `$EDITOR` (else `vi`), written back with an update
//! that fails if someone else changed it meanwhile.

use std::io::Write;

use serde_json::Value;

use super::{Ctx, Target, resource_version};
use crate::Ui;
use crate::conn::ConnArgs;
use crate::error::{CliError, Result};
use crate::output;

#[derive(clap::Args, Debug)]
pub struct EditArgs {
    /// TYPE NAME or TYPE/NAME
    pub resources: Vec<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

const HEADER: &str = "# Please edit the object below. Lines beginning with a '#' will be ignored,\n\
# and an empty file will abort the edit. If an error occurs while saving, the file is kept\n\
# and its path printed.\n#\n";

/// The edited text without comment lines; None when nothing but comments is left.
fn strip_comments(text: &str) -> Option<String> {
    let kept: String = text.lines().filter(|l| !l.trim_start().starts_with('#')).map(|l| format!("{l}\n")).collect();
    (!kept.trim().is_empty()).then_some(kept)
}

fn editor() -> String {
    ["KUBE_EDITOR", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_string())
}

pub async fn run(args: EditArgs, ui: &mut Ui) -> Result<()> {
    let ctx = Ctx::new(&args.conn).await?;
    let mut targets = Vec::new();
    for sel in ctx.selections(&args.resources, "You must provide one or more resources by argument or filename.")? {
        if sel.names.is_empty() {
            return Err(CliError::other("name the object to edit (TYPE NAME or TYPE/NAME)"));
        }
        targets.extend(ctx.expand(&sel, Some(ctx.ns()), "", "").await?);
    }
    for target in targets {
        if let Err(e) = edit_one(&ctx, &target, ui).await {
            ui.error(&e);
        }
    }
    Ok(())
}

async fn edit_one(ctx: &Ctx, target: &Target, ui: &mut Ui) -> Result<()> {
    let live = ctx.conn.api.get(&target.path()).await?;
    let original = output::yaml(&output::clean(live.clone()))?;
    let mut file = tempfile::Builder::new().prefix("runlet-edit-").suffix(".yaml").tempfile()?;
    file.write_all(HEADER.as_bytes())?;
    file.write_all(original.as_bytes())?;
    file.flush()?;
    let path = file.path().to_path_buf();
    // The editor may be a command with arguments ("code --wait"), as in kubectl.
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{} \"$1\"", editor()))
        .arg("sh")
        .arg(&path)
        .status()
        .await
        .map_err(|e| CliError::other(format!("starting the editor: {e}")))?;
    if !status.success() {
        return Err(CliError::other(format!("the editor exited with {status}")));
    }
    let edited = std::fs::read_to_string(&path)?;
    let Some(edited) = strip_comments(&edited).filter(|e| *e != original) else {
        ui.line("Edit cancelled, no changes made.");
        return Ok(());
    };
    let keep = |file: tempfile::NamedTempFile| match file.keep() {
        Ok((_, p)) => format!("A copy of your changes has been stored to \"{}\"", p.display()),
        Err(_) => String::new(),
    };
    let mut object: Value = match runlet_api::yaml::document(&edited) {
        Ok(v) => v,
        Err(e) => return Err(CliError::other(format!("the edited file is not valid YAML: {e}\n{}", keep(file)))),
    };
    // The update is conditional on the version that was edited.
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), resource_version(&live).into());
    }
    match ctx.conn.api.put(&target.path(), &object).await {
        Ok(_) => {
            ui.line(&format!("{} edited", target.display()));
            Ok(())
        }
        Err(e) => {
            let kept = keep(file);
            ui.error(&e);
            Err(CliError::other(kept))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_dropped() {
        assert_eq!(strip_comments("# a\nkind: Job\n  # b\nspec: {}\n").as_deref(), Some("kind: Job\nspec: {}\n"));
        assert_eq!(strip_comments("# only\n#\n\n"), None);
    }
}
