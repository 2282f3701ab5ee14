//! The parts of an image's configuration (OCI image config / Docker's) that decide what a container runs.

use serde::{Deserialize, Serialize};

/// `config` of an image configuration document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

/// An image configuration document: its platform, run config and the digests of its uncompressed layers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    #[serde(default)]
    pub rootfs: RootFs,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub fn run(&self) -> RunConfig {
        self.config.clone().unwrap_or_default()
    }
}

/// This machine's platform as image indexes name it (`linux`/`amd64`).
pub fn this_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    ("linux", arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_and_oci_configs() {
        let doc = br#"{"architecture":"amd64","os":"linux","config":{"User":"1000:1000","Env":["PATH=/bin"],
            "Entrypoint":["/bin/sh","-c"],"Cmd":["echo hi"],"WorkingDir":"/work","Labels":{"a":"b"}},
            "rootfs":{"type":"layers","diff_ids":["sha256:aa"]},"history":[]}"#;
        let c = ImageConfig::parse(doc).unwrap();
        let run = c.run();
        assert_eq!(run.user.as_deref(), Some("1000:1000"));
        assert_eq!(run.entrypoint, Some(vec!["/bin/sh".to_string(), "-c".to_string()]));
        assert_eq!(run.cmd, Some(vec!["echo hi".to_string()]));
        assert_eq!(run.working_dir.as_deref(), Some("/work"));
        assert_eq!(c.rootfs.diff_ids, ["sha256:aa"]);
        let bare = ImageConfig::parse(br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#).unwrap();
        assert_eq!(bare.run(), RunConfig::default());
    }
}
