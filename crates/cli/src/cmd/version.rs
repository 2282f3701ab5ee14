//! `runlet version` and `runlet completion`.

use serde_json::{Value, json};

use crate::Ui;
use crate::conn::ConnArgs;
use crate::error::{CliError, Result};
use crate::output;

#[derive(clap::Args, Debug)]
pub struct VersionArgs {
    /// Only the client version (no server needed)
    #[arg(long)]
    pub client: bool,
    /// yaml or json
    #[arg(short = 'o', long, value_parser = ["yaml", "json"])]
    pub output: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

fn client_version() -> Value {
    json!({"gitVersion": format!("v{}", env!("CARGO_PKG_VERSION")), "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH)})
}

pub async fn run(args: VersionArgs, ui: &mut Ui) -> Result<()> {
    let mut doc = json!({"clientVersion": client_version()});
    let mut server_error = None;
    if !args.client {
        let server = async { args.conn.connect().await?.api.version().await };
        match server.await {
            Ok(v) => doc["serverVersion"] = v,
            Err(e) => server_error = Some(e),
        }
    }
    match args.output.as_deref() {
        Some("json") => ui.out(&output::json(&doc)),
        Some(_) => ui.out(&output::yaml(&doc)?),
        None => {
            ui.line(&format!("Client Version: {}", doc["clientVersion"]["gitVersion"].as_str().unwrap_or("")));
            if let Some(v) = doc.pointer("/serverVersion/gitVersion").and_then(Value::as_str) {
                ui.line(&format!("Server Version: {v}"));
            }
        }
    }
    server_error.map_or(Ok(()), Err)
}

#[derive(clap::Args, Debug)]
pub struct CompletionArgs {
    /// bash, zsh or fish
    #[arg(value_parser = ["bash", "zsh", "fish"])]
    pub shell: String,
}

pub fn completion(args: CompletionArgs, mut root: clap::Command, ui: &mut Ui) -> Result<()> {
    use clap_complete::Shell;
    let shell = match args.shell.as_str() {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        other => return Err(CliError::other(format!("unsupported shell type \"{other}\""))),
    };
    let name = root.get_name().to_string();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut root, name, &mut buf);
    ui.out(&String::from_utf8_lossy(&buf));
    Ok(())
}
