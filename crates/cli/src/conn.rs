//! Where the client finds its server, as kubectl does: `--kubeconfig`, else `$KUBECONFIG` (a `:`-separated list,
//! merged), else the kubeconfig a local `runlet server` writes into its data dir; then `--context` and `-n`.

use std::ffi::OsString;
use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{CliError, Result};
use crate::request::Api;

/// The connection flags every command takes.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ConnArgs {
    /// Path to the kubeconfig file [default: $KUBECONFIG, else the local runlet server's]
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use [default: its current-context]
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace [default: the context's namespace, else "default"]
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// Which kubeconfig file(s) to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--kubeconfig FILE`
    Flag(PathBuf),
    /// `$KUBECONFIG`: files merged in order, the first to set a value wins.
    Env(Vec<PathBuf>),
    /// The kubeconfig of the local server (`<data dir>/kubeconfig`).
    Server(PathBuf),
}

/// The data dir of a local `runlet server`: `$RUNLET_DATA_DIR`, else `<user data dir>/runlet`.
pub fn default_data_dir() -> Option<PathBuf> {
    match std::env::var_os("RUNLET_DATA_DIR").filter(|v| !v.is_empty()) {
        Some(d) => Some(PathBuf::from(d)),
        None => dirs::data_dir().map(|d| d.join("runlet")),
    }
}

/// Picks the kubeconfig source the way kubectl does, with the local server's kubeconfig in place of
/// `~/.kube/config`. Pure: the environment is passed in.
pub fn source(flag: Option<PathBuf>, env: Option<OsString>, data_dir: Option<PathBuf>) -> Result<Source> {
    if let Some(path) = flag {
        return Ok(Source::Flag(path));
    }
    if let Some(list) = env {
        let paths: Vec<PathBuf> = std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()).collect();
        if !paths.is_empty() {
            return Ok(Source::Env(paths));
        }
    }
    match data_dir {
        Some(dir) => Ok(Source::Server(dir.join("kubeconfig"))),
        None => Err(CliError::other("no kubeconfig: pass --kubeconfig or set KUBECONFIG")),
    }
}

fn read(source: &Source) -> Result<Kubeconfig> {
    let read_one = |path: &PathBuf| {
        Kubeconfig::read_from(path).map_err(|e| CliError::other(format!("reading {}: {e}", path.display())))
    };
    match source {
        Source::Flag(path) => read_one(path),
        Source::Server(path) => {
            if !path.exists() {
                return Err(CliError::other(format!(
                    "no kubeconfig at {}: start `runlet server`, or pass --kubeconfig or set KUBECONFIG",
                    path.display()
                )));
            }
            read_one(path)
        }
        Source::Env(paths) => {
            let mut merged: Option<Kubeconfig> = None;
            // kubectl skips files of the list that do not exist.
            for path in paths.iter().filter(|p| p.exists()) {
                let next = read_one(path)?;
                merged = Some(match merged {
                    None => next,
                    Some(m) => m.merge(next).map_err(|e| CliError::other(e.to_string()))?,
                });
            }
            merged.ok_or_else(|| CliError::other("none of the files in KUBECONFIG exists"))
        }
    }
}

/// A connected client and the namespace commands default to.
pub struct Conn {
    pub api: Api,
    pub namespace: String,
}

impl ConnArgs {
    /// Reads the kubeconfig and builds the client (nothing is sent yet).
    pub async fn connect(&self) -> Result<Conn> {
        let src = source(self.kubeconfig.clone(), std::env::var_os("KUBECONFIG"), default_data_dir())?;
        let kubeconfig = read(&src)?;
        if let Some(ctx) = &self.context
            && !kubeconfig.contexts.iter().any(|c| &c.name == ctx)
        {
            return Err(CliError::other(format!("context \"{ctx}\" does not exist")));
        }
        let options = KubeConfigOptions { context: self.context.clone(), ..Default::default() };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| CliError::other(format!("invalid kubeconfig: {e}")))?;
        let namespace = self.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
        let server = config.cluster_url.authority().map(|a| a.to_string()).unwrap_or_default();
        let client = kube::Client::try_from(config).map_err(CliError::from)?;
        Ok(Conn { api: Api::new(client, server), namespace })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_sources_in_kubectl_order() {
        let data = Some(PathBuf::from("/data/runlet"));
        let cases: Vec<(Option<&str>, Option<&str>, Source)> = vec![
            (Some("/f"), Some("/e1:/e2"), Source::Flag("/f".into())),
            (None, Some("/e1:/e2"), Source::Env(vec!["/e1".into(), "/e2".into()])),
            (None, Some(""), Source::Server("/data/runlet/kubeconfig".into())),
            (None, None, Source::Server("/data/runlet/kubeconfig".into())),
        ];
        for (flag, env, want) in cases {
            let got = source(flag.map(PathBuf::from), env.map(OsString::from), data.clone()).unwrap();
            assert_eq!(got, want, "{flag:?} {env:?}");
        }
        assert!(source(None, None, None).is_err());
    }
}
