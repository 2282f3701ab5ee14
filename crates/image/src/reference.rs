//! Image references as Docker and the kubelet read them: `perl` is `docker.io/library/perl:latest`,
//! `registry.example.com:5000/team/etl:1.4`, `busybox@sha256:...`. Pure.

use std::fmt;

/// Docker Hub: the registry of a name without one.
pub const DOCKER_HUB: &str = "docker.io";
/// The tag of a reference with neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// A fully qualified image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `docker.io`, `127.0.0.1:5000`, `registry.example.com`.
    pub registry: String,
    /// `library/perl`, `team/etl`.
    pub repository: String,
    /// Set unless the reference names only a digest.
    pub tag: Option<String>,
    /// `sha256:<hex>` when the reference pins one.
    pub digest: Option<String>,
}

/// Why a reference does not parse; the texts are Docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format")]
    InvalidFormat,
    #[error("invalid reference format: repository name must be lowercase")]
    NotLowercase,
    #[error("invalid reference format: repository name must not be more than 255 characters")]
    NameTooLong,
    #[error("invalid checksum digest format")]
    InvalidDigest,
}

impl Reference {
    /// Parses and normalises a reference (Docker's `ParseNormalizedNamed`, with `latest` added when there is
    /// neither tag nor digest, as the kubelet pulls it).
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        if text.is_empty() || text.trim() != text {
            return Err(ReferenceError::InvalidFormat);
        }
        let (name_and_tag, digest) = match text.split_once('@') {
            Some((n, d)) => (n, Some(validate_digest(d)?)),
            None => (text, None),
        };
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => (&name_and_tag[..last_slash + i], Some(&name_and_tag[last_slash + i + 1..])),
            None => (name_and_tag, None),
        };
        if tag.is_some_and(|t| !valid_tag(t)) {
            return Err(ReferenceError::InvalidFormat);
        }
        let (registry, path) = split_registry(name);
        if !valid_registry(registry) {
            return Err(ReferenceError::InvalidFormat);
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::NotLowercase);
        }
        if path.is_empty() || !path.split('/').all(valid_path_component) {
            return Err(ReferenceError::InvalidFormat);
        }
        let registry = if registry == "index.docker.io" { DOCKER_HUB } else { registry };
        let repository =
            if registry == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path.to_string() };
        if registry.len() + 1 + repository.len() > 255 {
            return Err(ReferenceError::NameTooLong);
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference { registry: registry.to_string(), repository, tag, digest })
    }

    /// `docker.io/library/perl`: the repository with its registry.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository pinned to `digest` (how a pulled image is also known: `name@sha256:...`).
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference { tag: None, digest: Some(digest.to_string()), ..self.clone() }
    }

    /// Whether the registry is on a loopback address, which is reached over plain HTTP (as Docker does).
    pub fn registry_is_loopback(&self) -> bool {
        is_loopback_registry(&self.registry)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `localhost`, `127.x.y.z` and `[::1]`, with or without a port.
pub fn is_loopback_registry(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Docker's rule: the first component is a registry when it has a `.` or a `:`, or is `localhost`.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => (first, rest),
        _ => (DOCKER_HUB, name),
    }
}

fn valid_registry(registry: &str) -> bool {
    !registry.is_empty()
        && registry.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let dashes = sep.bytes().all(|b| b == b'-');
        if !(sep == "." || sep == "_" || sep == "__" || dashes) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    tag.len() <= 128 && chars.next().is_some_and(word) && chars.all(|c| word(c) || c == '.' || c == '-')
}

fn validate_digest(digest: &str) -> Result<String, ReferenceError> {
    crate::digest::Digest::parse(digest).map(|d| d.to_string()).map_err(|_| ReferenceError::InvalidDigest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalises_as_docker_does() {
        let cases: &[(&str, &str)] = &[
            ("perl", "docker.io/library/perl:latest"),
            ("perl:5.40", "docker.io/library/perl:5.40"),
            ("library/perl", "docker.io/library/perl:latest"),
            ("team/etl:1.4", "docker.io/team/etl:1.4"),
            ("index.docker.io/library/busybox", "docker.io/library/busybox:latest"),
            ("registry.example.com/team/etl:1.4", "registry.example.com/team/etl:1.4"),
            ("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest"),
            ("localhost/x/y", "localhost/x/y:latest"),
            ("localhost:5000/x", "localhost:5000/x:latest"),
            ("[::1]:5000/x:t", "[::1]:5000/x:t"),
            ("a.b/c__d/e-f--g.h:T_1.2-3", "a.b/c__d/e-f--g.h:T_1.2-3"),
        ];
        for (text, want) in cases {
            assert_eq!(Reference::parse(text).map(|r| r.to_string()).as_deref(), Ok(*want), "{text}");
        }
        let pinned = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(pinned.tag, None);
        assert_eq!(pinned.to_string(), format!("docker.io/library/busybox@{D}"));
        let both = Reference::parse(&format!("busybox:1.36@{D}")).unwrap();
        assert_eq!(both.to_string(), format!("docker.io/library/busybox:1.36@{D}"));
        assert_eq!(both.name(), "docker.io/library/busybox");
    }

    #[test]
    fn refuses_what_docker_refuses() {
        let cases: &[(&str, ReferenceError)] = &[
            ("", ReferenceError::InvalidFormat),
            ("Perl", ReferenceError::NotLowercase),
            ("perl:", ReferenceError::InvalidFormat),
            ("perl:-x", ReferenceError::InvalidFormat),
            ("-perl", ReferenceError::InvalidFormat),
            ("a//b", ReferenceError::InvalidFormat),
            ("a..b", ReferenceError::InvalidFormat),
            ("perl@sha256:abc", ReferenceError::InvalidDigest),
            (" perl", ReferenceError::InvalidFormat),
        ];
        for (text, want) in cases {
            assert_eq!(Reference::parse(text).as_ref().map_err(Clone::clone), Err(want.clone()), "{text:?}");
        }
    }

    #[test]
    fn loopback_registries() {
        for (registry, want) in [
            ("127.0.0.1:5000", true),
            ("127.3.4.5", true),
            ("localhost:5000", true),
            ("[::1]:5000", true),
            ("docker.io", false),
            ("10.0.0.1:5000", false),
        ] {
            assert_eq!(is_loopback_registry(registry), want, "{registry}");
        }
    }
}
