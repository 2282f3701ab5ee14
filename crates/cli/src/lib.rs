//! runlet's own kubectl-style client: `get`, `describe`, `apply`, `create`, `delete`, `logs`, `scale`, `wait`,
//! `suspend`/`resume`, `patch`, `edit`, `version`, `completion`, with kubectl's output and exit codes.
//!
//! Pure, table-tested modules do the work: resource resolution ([`discovery`], [`args`]), manifests
//! ([`manifest`]), printing ([`table`], [`output`], [`tabwriter`], [`describe`]), JSONPath templates
//! ([`jsonpath`]), client-side apply ([`apply`]), wait conditions ([`wait`]). The commands in `cmd` are the
//! thin I/O around them, over the same client library as runlet's controllers (kube-rs).

pub mod apply;
mod args;
mod cmd;
mod conn;
pub mod describe;
pub mod discovery;
pub mod error;
mod hoist;
pub mod jsonpath;
pub mod manifest;
pub mod output;
mod reason;
mod request;
pub mod table;
pub mod tabwriter;
pub mod wait;

use std::io::Write;
use std::process::ExitCode;

pub use cmd::Verb;
pub use conn::{ConnArgs, default_data_dir};
pub use error::CliError;

/// Where a command writes: results to stdout, errors and notes to stderr. A command that reported an error but
/// went on (one bad object of several) exits 1.
pub struct Ui {
    pub(crate) failed: bool,
}

impl Ui {
    fn new() -> Ui {
        Ui { failed: false }
    }

    /// Prints to stdout (flushed: watches and log follows print as things happen).
    pub fn out(&mut self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// Prints a line to stdout.
    pub fn line(&mut self, text: &str) {
        self.out(&format!("{text}\n"));
    }

    /// Prints a line to stderr (a closed stderr is no reason to fail).
    pub fn note(&mut self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }

    /// Reports an error and remembers that the command failed.
    pub fn error(&mut self, e: &CliError) {
        self.failed = true;
        self.note(&e.to_string());
    }
}

/// The command line with connection flags given before a client verb (`runlet -n x get pods`) moved behind
/// it, where the verbs take them.
pub fn hoist_connection_flags(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use clap::Subcommand;
    let verbs = Verb::augment_subcommands(clap::Command::new("runlet"));
    let names: Vec<&str> = verbs.get_subcommands().map(|c| c.get_name()).collect();
    hoist::hoist(args, &names)
}

/// Runs one verb to its end. `root` builds the whole command tree (for `completion`).
pub fn run(verb: Verb, root: impl FnOnce() -> clap::Command) -> ExitCode {
    let mut ui = Ui::new();
    let result = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(cmd::run(verb, &mut ui, root)),
        Err(e) => Err(CliError::other(format!("starting the runtime: {e}"))),
    };
    if let Err(e) = result {
        ui.error(&e);
    }
    if ui.failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
