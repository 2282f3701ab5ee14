//! `runlet ui`: opens the web UI of the kubeconfig's server in a browser, signed in by a one-time link.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};

#[derive(clap::Args)]
pub struct UiArgs {
    /// Path to the kubeconfig file [default: $KUBECONFIG, else the local runlet server's]
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use [default: its current-context]
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Print the sign-in link instead of opening a browser (it works once, within a minute).
    #[arg(long)]
    pub print_url: bool,
}

/// Browsers to try, in order: the desktop's choice first.
const OPENERS: &[&str] = &["xdg-open", "sensible-browser", "x-www-browser", "open"];

pub fn run(args: UiArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let url = rt.block_on(sign_in_link(&args))?;
    if args.print_url {
        println!("{url}");
        return Ok(());
    }
    for opener in OPENERS {
        let spawned =
            Command::new(opener).arg(&url).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        if spawned.is_ok() {
            eprintln!("Opened the runlet UI in a browser (the link works once).");
            return Ok(());
        }
    }
    eprintln!("No browser to open here; open this link (it works once, within a minute):");
    println!("{url}");
    Ok(())
}

/// Asks the server for a one-time sign-in ticket with the kubeconfig's token: the link that uses it.
async fn sign_in_link(args: &UiArgs) -> anyhow::Result<String> {
    let kubeconfig = match &args.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?,
        None if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) => {
            Kubeconfig::read().context("reading $KUBECONFIG")?
        }
        None => {
            let Some(dir) = runlet_cli::default_data_dir() else {
                bail!("no kubeconfig: pass --kubeconfig or set KUBECONFIG");
            };
            let path = crate::server::kubeconfig_path(&dir);
            if !path.exists() {
                bail!("no kubeconfig at {}: start `runlet server`, or pass --kubeconfig", path.display());
            }
            Kubeconfig::read_from(&path).with_context(|| format!("reading {}", path.display()))?
        }
    };
    let options = KubeConfigOptions { context: args.context.clone(), ..Default::default() };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.context("invalid kubeconfig")?;
    let base = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let client = kube::Client::try_from(config).context("building the client")?;
    let request = http::Request::post("/ui/tickets").body(Vec::new()).context("building the request")?;
    let answer = client.request_text(request).await.with_context(|| format!("asking {base} for a sign-in link"))?;
    let ticket: serde_json::Value = serde_json::from_str(&answer).context("the server's answer is not JSON")?;
    let Some(path) = ticket["path"].as_str() else {
        bail!("the server's answer has no sign-in path: {answer}");
    };
    Ok(format!("{base}{path}"))
}
