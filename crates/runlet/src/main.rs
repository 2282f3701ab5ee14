//! `runlet`: runs Kubernetes `batch/v1` Jobs to completion without a cluster.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod server;

#[derive(Parser)]
#[command(name = "runlet", version, about = "Run Kubernetes batch/v1 Jobs to completion, no cluster needed")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server (HTTPS, bearer token) with its store in the data dir.
    Server(server::ServerArgs),
    /// Print the path of the kubeconfig the server wrote (point kubectl at it with KUBECONFIG=...).
    Kubeconfig {
        /// Data directory of the server [env: RUNLET_DATA_DIR] [default: the user's data dir]/runlet
        #[arg(long, env = "RUNLET_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RUNLET_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Server(args) => server::run(args),
        Command::Kubeconfig { data_dir } => server::print_kubeconfig_path(data_dir),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("runlet: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
