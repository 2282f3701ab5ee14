//! `runlet`: runs Kubernetes `batch/v1` Jobs to completion without a cluster.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

mod controllers;
mod image;
mod join;
mod logs;
mod node;
mod run;
mod server;
mod token;
mod ui;

#[derive(Parser)]
#[command(
    name = "runlet",
    version,
    about = "Run Kubernetes batch/v1 Jobs to completion, no cluster needed",
    long_about = "Run Kubernetes batch/v1 Jobs to completion, no cluster needed.\n\n\
        `runlet run -f job.yaml` runs Jobs once; `runlet server` serves the Kubernetes API (for kubectl too); \
        get, describe, apply, logs, wait, ... talk to that server as kubectl does."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Jobs of a manifest to completion on an ephemeral server (or --kubeconfig's), streaming their logs.
    /// Exits 0 when all complete, 1 when any fails, 2 on bad input.
    Run(run::RunArgs),
    /// Run the API server (HTTPS, bearer token) with its store in the data dir.
    Server(Box<server::ServerArgs>),
    /// Run a node agent for a runlet server on another machine.
    Agent {
        /// Join the server at this URL (e.g. https://10.0.0.1:6443) with --token, pinning its CA by
        /// --ca-cert-hash; the agent then holds a certificate of its own node in its --dir
        #[arg(long, value_name = "URL", requires_all = ["token", "ca_cert_hash"], conflicts_with = "kubeconfig")]
        join: Option<String>,
        /// A bootstrap token (`runlet token create` on the server prints one)
        #[arg(long, requires = "join")]
        token: Option<String>,
        /// The SHA-256 of the cluster CA's public key, `sha256:<hex>` (`runlet token create
        /// --print-join-command` prints it)
        #[arg(long, value_name = "HASH", requires = "join")]
        ca_cert_hash: Option<String>,
        /// A kubeconfig: a bootstrap kubeconfig (its token a bootstrap token), or the credential to run with.
        /// Not needed once the agent has joined: its own credential is in its --dir
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Name of this node [default: the host name]
        #[arg(long)]
        node_name: Option<String>,
        /// Directory for pod directories and logs [default: the user's data dir]/runlet-agent
        #[arg(long, env = "RUNLET_AGENT_DIR")]
        dir: Option<PathBuf>,
        /// Most pods this node runs at once.
        #[arg(long, default_value_t = node::DEFAULT_MAX_PODS)]
        max_pods: u32,
        /// Where to serve container logs to the API server (HTTPS; only the API server's client certificate)
        #[arg(long, default_value = "127.0.0.1:10250")]
        listen: std::net::SocketAddr,
        /// The address the API server reaches this agent at [default: the listen address]
        #[arg(long)]
        address: Option<String>,
        #[command(flatten)]
        pods: node::PodFlags,
    },
    /// Supervises one container (started by the node agent; not for direct use).
    #[command(hide = true)]
    Shim {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// The images of this machine's node: ls, import FILE (docker save archives, OCI layouts), rm NAME.
    Image(image::ImageArgs),
    /// Open the web UI in a browser, signed in by a one-time link (--print-url prints the link instead).
    Ui(ui::UiArgs),
    /// Bootstrap tokens, with which agents join: `runlet token create [--ttl 24h] [--print-join-command]`.
    Token(token::TokenArgs),
    /// Print the path of the kubeconfig the server wrote (point kubectl at it with KUBECONFIG=...).
    Kubeconfig {
        /// Data directory of the server [env: RUNLET_DATA_DIR] [default: the user's data dir]/runlet
        #[arg(long, env = "RUNLET_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// kubectl's verbs, against the server of the kubeconfig (--kubeconfig, $KUBECONFIG, else the local server's)
    #[command(flatten)]
    Client(runlet_cli::Verb),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse_from(runlet_cli::hoist_connection_flags(std::env::args_os().collect()));
    if let Command::Shim { args } = cli.command {
        // Before any runtime or logging: the shim forks and must stay a plain single-threaded process.
        runlet_agent::shim_main(args);
    }
    let default_filter = match cli.command {
        // `runlet run` prints its own progress; only problems go to the log.
        Command::Run(_) | Command::Ui(_) => "warn",
        // The client commands report every problem themselves, in kubectl's words.
        Command::Client(_) => "off",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUNLET_LOG").unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Run(args) => return run::run(args),
        Command::Client(verb) => return runlet_cli::run(verb, Cli::command),
        Command::Server(args) => server::run(*args),
        Command::Ui(args) => ui::run(args),
        Command::Image(args) => image::run(args),
        Command::Kubeconfig { data_dir } => server::print_kubeconfig_path(data_dir),
        Command::Token(args) => token::run(args),
        Command::Agent { join, token, ca_cert_hash, kubeconfig, node_name, dir, max_pods, listen, address, pods } => {
            let joining = match (join, kubeconfig) {
                (Some(server), _) => join::Joining::Token {
                    server,
                    token: token.unwrap_or_default(),
                    ca_cert_hash: ca_cert_hash.unwrap_or_default(),
                },
                (None, Some(path)) => join::Joining::Kubeconfig(path),
                (None, None) => join::Joining::Joined,
            };
            match dir.map(Ok).unwrap_or_else(|| server::data_dir(None).map(|d| d.with_file_name("runlet-agent"))) {
                Ok(dir) => {
                    node::run_agent(node::AgentArgs { joining, node_name, dir, max_pods, listen, address, pods })
                }
                Err(e) => Err(e),
            }
        }
        Command::Shim { .. } => Ok(()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("runlet: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
