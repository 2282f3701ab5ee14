//! Turning a pod's container into a [`LaunchSpec`]: argv, environment, working directory, limits, mounts,
//! sandbox and identity. Pure: nothing here touches the file system.

use std::path::PathBuf;

use runlet_codec::{Container, Pod};

use super::cgroup::Limits;
use super::env::{NodeFacts, container_env, expand_command};
use super::logfile::LogLimits;
use super::oci::{ImageRun, spec as oci_spec};
use super::sandbox::{Identity, SandboxSpec, capability_set};
use super::sources::Sources;
use super::state::{LaunchSpec, PodPaths};
use super::volumes::{MountPlan, plan_mounts};
use runlet_api::quantity::{ParsedQuantity, parse_quantity};

/// Why a container cannot be launched. The two kinds surface differently, as on a kubelet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    /// The configuration cannot be satisfied: the container waits with `CreateContainerConfigError`.
    #[error("{0}")]
    Config(String),
    /// The container can never run as specified: it terminates with `ContainerCannotRun` (exit code 128).
    #[error("{0}")]
    CannotRun(String),
}

/// A launch, ready for the runtime to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub spec: LaunchSpec,
    pub limits: Limits,
    pub mounts: MountPlan,
    /// Things to tell the user as Warning events (keys `envFrom` skipped).
    pub warnings: Vec<String>,
}

/// Inputs that do not come from the pod.
#[derive(Debug, Clone)]
pub struct LaunchContext<'a> {
    pub paths: &'a PodPaths,
    pub node: &'a NodeFacts,
    /// Variables every process gets unless the container sets them (`PATH`, `HOME`).
    pub base_env: &'a [(String, String)],
    pub allow_host_path: bool,
    pub attempt: u32,
    pub container_id: String,
    pub sources: &'a Sources,
    /// None when containers run in sandboxes; otherwise why they cannot.
    pub sandbox_missing: Option<&'a str>,
    /// Host paths no container may see.
    pub hidden: &'a [PathBuf],
    pub log_limits: LogLimits,
    /// The agent's own uid (a container without `runAsUser` runs as it).
    pub agent_uid: u32,
    /// For the `oci` handler: the container's image (its root file system and configuration).
    pub image: Option<&'a ImageRun>,
}

pub fn prepare(pod: &Pod, container: &Container, ctx: &LaunchContext<'_>) -> Result<Prepared, PrepareError> {
    let (vars, warnings) =
        container_env(pod, container, ctx.node, ctx.sources).map_err(|e| PrepareError::Config(e.to_string()))?;
    // Without an image there is no entrypoint: `command` is required, except that `args` alone run as they
    // would in an image that has no ENTRYPOINT.
    let expanded = expand_command(container, &vars).map_err(|e| PrepareError::Config(e.to_string()))?;
    let argv = match ctx.image {
        Some(image) => {
            let n = container.command.as_ref().map_or(0, Vec::len).min(expanded.len());
            oci_spec::argv(&expanded[..n], &expanded[n..], &image.config)
        }
        None => expanded,
    };
    if argv.is_empty() && ctx.image.is_some() {
        return Err(PrepareError::CannotRun(format!(
            "no command specified for container {:?}: the image has no entrypoint or cmd",
            container.name
        )));
    }
    if ctx.image.is_some()
        && let Some(why) = ctx.sandbox_missing
    {
        return Err(PrepareError::Config(format!(
            "container {:?} runs an image (runtime handler oci), which needs a pod sandbox this node cannot provide: {why}",
            container.name
        )));
    }
    if argv.is_empty() {
        return Err(PrepareError::CannotRun(format!(
            "no command specified for container {:?}: the runlet process runtime does not run image entrypoints; \
             set command (and args)",
            container.name
        )));
    }
    if let Some(why) = ctx.sandbox_missing
        && let Some(need) = isolation_need(pod, container)
    {
        return Err(PrepareError::Config(format!(
            "container {:?} needs a pod sandbox ({need}), which this node cannot provide: {why}",
            container.name
        )));
    }
    let identity = identity(pod, container, ctx).map_err(PrepareError::Config)?;

    let hostname =
        pod.spec.as_ref().and_then(|s| s.hostname.clone()).or_else(|| pod.metadata.name.clone()).unwrap_or_default();
    let mut env: Vec<(String, String)> = match ctx.image {
        // An image brings its own environment; PATH is the usual one if it has none.
        Some(image) => {
            let mut env = oci_spec::image_env(&image.config);
            if !env.iter().any(|(n, _)| n == "PATH") {
                env.insert(0, ("PATH".to_string(), DEFAULT_PATH.to_string()));
            }
            env
        }
        None => ctx.base_env.to_vec(),
    };
    env.push(("HOSTNAME".to_string(), hostname));
    for (name, value) in vars.iter().cloned() {
        match env.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => env.push((name, value)),
        }
    }

    let sandboxed = ctx.sandbox_missing.is_none();
    let working_dir = match ctx.image {
        Some(image) => PathBuf::from(oci_spec::working_dir(container.working_dir.as_deref(), &image.config)),
        None => match (container.working_dir.as_deref().filter(|w| !w.is_empty()), sandboxed) {
            (None, false) => ctx.paths.dir.clone(),
            (Some(dir), false) => ctx.paths.dir.join(dir),
            (None, true) => PathBuf::from("/"),
            (Some(dir), true) => PathBuf::from("/").join(dir),
        },
    };

    let limits = container_limits(container).map_err(PrepareError::Config)?;
    let mounts = plan_mounts(pod, container, ctx.paths, ctx.allow_host_path, ctx.sandbox_missing, &vars)
        .map_err(|e| PrepareError::Config(e.to_string()))?;
    let run_dir = ctx.paths.run_dir(&container.name, ctx.attempt);
    let sandbox = sandboxed.then(|| SandboxSpec {
        rootfs: run_dir.join("rootfs"),
        image_root: ctx.image.map(|i| i.rootfs.clone()),
        hidden: if ctx.image.is_some() { Vec::new() } else { ctx.hidden.to_vec() },
        mounts: mounts.binds.clone(),
        read_only_root: security(pod, container, |c| c.read_only_root_filesystem, |_| None) == Some(true),
        share_pid_namespace: pod.spec.as_ref().and_then(|s| s.share_process_namespace) == Some(true),
        pid_namespace: None,
    });

    let spec = LaunchSpec {
        container_id: ctx.container_id.clone(),
        argv,
        env,
        working_dir,
        log_path: ctx.paths.log_file(&container.name, ctx.attempt),
        run_dir,
        cgroup: None,
        sandbox,
        identity,
        log_limits: ctx.log_limits,
        runc: None,
    };
    Ok(Prepared { spec, limits, mounts, warnings })
}

/// A container-level `securityContext` field, else the pod-level one.
fn security<T>(
    pod: &Pod,
    container: &Container,
    from_container: impl Fn(&runlet_codec::k8s_openapi::api::core::v1::SecurityContext) -> Option<T>,
    from_pod: impl Fn(&runlet_codec::k8s_openapi::api::core::v1::PodSecurityContext) -> Option<T>,
) -> Option<T> {
    container
        .security_context
        .as_ref()
        .and_then(&from_container)
        .or_else(|| pod.spec.as_ref().and_then(|s| s.security_context.as_ref()).and_then(&from_pod))
}

/// What in the container's spec only a sandbox can give it, if anything.
fn isolation_need(pod: &Pod, container: &Container) -> Option<&'static str> {
    let sc = container.security_context.as_ref();
    if security(pod, container, |c| c.run_as_user, |p| p.run_as_user).is_some()
        || security(pod, container, |c| c.run_as_group, |p| p.run_as_group).is_some()
    {
        return Some("runAsUser/runAsGroup");
    }
    if sc.and_then(|c| c.read_only_root_filesystem) == Some(true) {
        return Some("readOnlyRootFilesystem");
    }
    if sc.and_then(|c| c.capabilities.as_ref()).and_then(|c| c.add.as_ref()).is_some_and(|a| !a.is_empty()) {
        return Some("capabilities.add");
    }
    if pod.spec.as_ref().and_then(|s| s.share_process_namespace) == Some(true) {
        return Some("shareProcessNamespace");
    }
    None
}

/// The kubelet's name for a pod in messages: `name_namespace(uid)`.
fn pod_name(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!(
        "{}_{}({})",
        m.name.as_deref().unwrap_or(""),
        m.namespace.as_deref().unwrap_or(""),
        m.uid.as_deref().unwrap_or("")
    )
}

/// Who the container runs as (`securityContext`), and the kubelet's `runAsNonRoot` refusals.
fn identity(pod: &Pod, container: &Container, ctx: &LaunchContext<'_>) -> Result<Identity, String> {
    let uid = security(pod, container, |c| c.run_as_user, |p| p.run_as_user).and_then(|u| u32::try_from(u).ok());
    let gid = security(pod, container, |c| c.run_as_group, |p| p.run_as_group).and_then(|g| u32::try_from(g).ok());
    let non_root = security(pod, container, |c| c.run_as_non_root, |p| p.run_as_non_root) == Some(true);
    // With an image, a user the pod does not set is the image's.
    let (uid, gid) = match ctx.image {
        Some(image) => {
            let (image_uid, image_gid) = image.user.clone()?;
            if non_root && uid.is_none() {
                oci_spec::verify_non_root(&image.user_text, image_uid, &pod_name(pod), &container.name)?;
            }
            match uid {
                Some(u) => (Some(u), gid.or_else(|| oci_spec::passwd_gid(&image.passwd, u)).or(Some(0))),
                None => (Some(image_uid), gid.or(Some(image_gid))),
            }
        }
        None => (uid, gid),
    };
    if non_root {
        match uid {
            Some(0) => {
                return Err(format!(
                    "container's runAsUser breaks non-root policy (pod: {:?}, container: {})",
                    pod_name(pod),
                    container.name
                ));
            }
            None if ctx.agent_uid == 0 => {
                return Err(format!(
                    "container has runAsNonRoot and image will run as root (pod: {:?}, container: {})",
                    pod_name(pod),
                    container.name
                ));
            }
            _ => {}
        }
    }
    if ctx.sandbox_missing.is_some() {
        return Ok(Identity::default());
    }
    let pod_sc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let mut groups: Vec<u32> = pod_sc
        .and_then(|p| p.supplemental_groups.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|g| u32::try_from(*g).ok())
        .collect();
    if let Some(fs_group) = pod_sc.and_then(|p| p.fs_group).and_then(|g| u32::try_from(g).ok()) {
        groups.push(fs_group);
    }
    let sc = container.security_context.as_ref();
    let caps = sc.and_then(|c| c.capabilities.as_ref());
    let capabilities = if sc.and_then(|c| c.privileged) == Some(true) {
        capability_set(&["ALL".to_string()], &[])
    } else {
        capability_set(
            caps.and_then(|c| c.add.as_deref()).unwrap_or_default(),
            caps.and_then(|c| c.drop.as_deref()).unwrap_or_default(),
        )
    };
    Ok(Identity {
        uid,
        // A user without a group runs with group 0, as a user unknown to an image's /etc/passwd does.
        gid: gid.or(uid.map(|_| 0)),
        supplementary_groups: groups,
        capabilities: Some(capabilities),
        no_new_privileges: sc.and_then(|c| c.allow_privilege_escalation) == Some(false),
    })
}

/// `resources.limits.memory` (bytes) and `.cpu` (millicores) as numbers.
pub fn container_limits(container: &Container) -> Result<Limits, String> {
    let limits = container.resources.as_ref().and_then(|r| r.limits.as_ref());
    let get = |name: &str, scale: fn(ParsedQuantity) -> i128| -> Result<Option<i64>, String> {
        let Some(quantity) = limits.and_then(|l| l.get(name)) else { return Ok(None) };
        let parsed = parse_quantity(&quantity.0).map_err(|e| format!("resources.limits.{name}: {e}"))?;
        i64::try_from(scale(parsed)).map(Some).map_err(|_| format!("resources.limits.{name}: quantity is too large"))
    };
    Ok(Limits {
        memory_bytes: get("memory", ParsedQuantity::value)?,
        cpu_millis: get("cpu", ParsedQuantity::milli_value)?,
    })
}

/// The default `PATH` of container images, used when the agent has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `PATH` and `HOME` from the agent's environment (the process runtime has no image to take them from).
pub fn default_base_env() -> Vec<(String, String)> {
    let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string());
    let home = std::env::var("HOME").unwrap_or_else(|_| "/".to_string());
    vec![("PATH".to_string(), path), ("HOME".to_string(), home)]
}

/// Whether a working directory may be created by the runtime: only inside the pod directory.
pub fn creatable_working_dir(paths: &PodPaths, dir: &std::path::Path) -> bool {
    dir.starts_with(&paths.dir) && !dir.components().any(|c| matches!(c, std::path::Component::ParentDir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_codec::{EnvVar, ObjectMeta, PodSpec, Quantity, ResourceRequirements};
    use std::path::Path;

    fn ctx_parts() -> (PodPaths, NodeFacts, Vec<(String, String)>) {
        (
            PodPaths::new(Path::new("/r"), "u"),
            NodeFacts::example("n", "10.0.0.1"),
            vec![("PATH".into(), "/bin".into()), ("HOME".into(), "/root".into())],
        )
    }

    fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta { name: Some("pi-x".into()), ..Default::default() },
            spec: Some(PodSpec::default()),
            ..Default::default()
        }
    }

    fn run(container: &Container) -> Result<Prepared, PrepareError> {
        run_in(&pod(), container, Some("not root"))
    }

    fn run_in(pod: &Pod, container: &Container, sandbox_missing: Option<&str>) -> Result<Prepared, PrepareError> {
        let (paths, node, base) = ctx_parts();
        let sources = Sources::default();
        let ctx = LaunchContext {
            paths: &paths,
            node: &node,
            base_env: &base,
            allow_host_path: false,
            attempt: 2,
            container_id: "id1".into(),
            sources: &sources,
            sandbox_missing,
            hidden: &[],
            log_limits: LogLimits::default(),
            agent_uid: 0,
            image: None,
        };
        prepare(pod, container, &ctx)
    }

    fn run_image(pod: &Pod, container: &Container, image: &ImageRun) -> Result<Prepared, PrepareError> {
        let (paths, node, base) = ctx_parts();
        let sources = Sources::default();
        let ctx = LaunchContext {
            paths: &paths,
            node: &node,
            base_env: &base,
            allow_host_path: false,
            attempt: 0,
            container_id: "id1".into(),
            sources: &sources,
            sandbox_missing: None,
            hidden: &[PathBuf::from("/secret")],
            log_limits: LogLimits::default(),
            agent_uid: 0,
            image: Some(image),
        };
        prepare(pod, container, &ctx)
    }

    #[test]
    fn image_runs_take_the_image_config() {
        let image = ImageRun {
            rootfs: PathBuf::from("/r/images/rootfs/abc"),
            config: runlet_image::RunConfig {
                entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
                cmd: Some(vec!["echo $X".into()]),
                env: Some(vec!["X=1".into(), "KEEP=k".into()]),
                working_dir: Some("/srv".into()),
                user: Some("app".into()),
            },
            user_text: "app".into(),
            user: Ok((1000, 1001)),
            passwd: "app:x:1000:1001::/:/bin/sh\nroot:x:0:0::/:/bin/sh\n".into(),
            image_id: "sha256:abc".into(),
        };
        let plain = Container { name: "c".into(), ..Default::default() };
        let p = run_image(&pod(), &plain, &image).unwrap();
        assert_eq!(p.spec.argv, ["/bin/sh", "-c", "echo $X"]);
        assert_eq!(p.spec.working_dir, Path::new("/srv"));
        assert_eq!((p.spec.identity.uid, p.spec.identity.gid), (Some(1000), Some(1001)));
        let sandbox = p.spec.sandbox.as_ref().unwrap();
        assert_eq!(sandbox.image_root.as_deref(), Some(Path::new("/r/images/rootfs/abc")));
        assert!(sandbox.hidden.is_empty(), "an image root shows nothing of the host to hide");
        let env: std::collections::BTreeMap<_, _> = p.spec.env.iter().cloned().collect();
        assert_eq!(env.get("PATH").map(String::as_str), Some(DEFAULT_PATH));
        assert_eq!(env.get("KEEP").map(String::as_str), Some("k"));

        let overriding = Container {
            name: "c".into(),
            args: Some(vec!["echo args".into()]),
            env: Some(vec![EnvVar { name: "X".into(), value: Some("2".into()), ..Default::default() }]),
            security_context: Some(runlet_codec::k8s_openapi::api::core::v1::SecurityContext {
                run_as_user: Some(0),
                ..Default::default()
            }),
            ..Default::default()
        };
        let p = run_image(&pod(), &overriding, &image).unwrap();
        assert_eq!(p.spec.argv, ["/bin/sh", "-c", "echo args"]);
        assert!(p.spec.env.contains(&("X".to_string(), "2".to_string())));
        assert_eq!((p.spec.identity.uid, p.spec.identity.gid), (Some(0), Some(0)));

        let non_root = Container {
            name: "c".into(),
            security_context: Some(runlet_codec::k8s_openapi::api::core::v1::SecurityContext {
                run_as_non_root: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = run_image(&pod(), &non_root, &image).unwrap_err();
        assert!(matches!(&err, PrepareError::Config(m) if m.contains("non-numeric user (app)")), "{err:?}");
        let empty = ImageRun { config: runlet_image::RunConfig::default(), ..image };
        assert!(matches!(run_image(&pod(), &plain, &empty), Err(PrepareError::CannotRun(_))));
    }

    #[test]
    fn security_contexts() {
        use runlet_codec::k8s_openapi::api::core::v1::{Capabilities, PodSecurityContext, SecurityContext};
        let mut p = pod();
        p.metadata.namespace = Some("ns".into());
        p.metadata.uid = Some("u1".into());
        p.spec.as_mut().unwrap().security_context = Some(PodSecurityContext {
            run_as_user: Some(1000),
            fs_group: Some(2000),
            supplemental_groups: Some(vec![3000]),
            ..Default::default()
        });
        let c = Container {
            name: "c".into(),
            command: Some(vec!["id".into()]),
            security_context: Some(SecurityContext {
                run_as_group: Some(1001),
                allow_privilege_escalation: Some(false),
                read_only_root_filesystem: Some(true),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["ALL".into()]),
                    add: Some(vec!["NET_BIND_SERVICE".into()]),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let prepared = run_in(&p, &c, None).unwrap();
        assert_eq!(
            prepared.spec.identity,
            Identity {
                uid: Some(1000),
                gid: Some(1001),
                supplementary_groups: vec![3000, 2000],
                capabilities: Some(vec!["CAP_NET_BIND_SERVICE".into()]),
                no_new_privileges: true,
            }
        );
        let sandbox = prepared.spec.sandbox.unwrap();
        assert!(sandbox.read_only_root);
        assert_eq!(prepared.spec.working_dir, Path::new("/"));
        // Without a sandbox the same container cannot run.
        assert_eq!(
            run_in(&p, &c, Some("the agent is not root")).unwrap_err(),
            PrepareError::Config(
                "container \"c\" needs a pod sandbox (runAsUser/runAsGroup), which this node cannot provide: the agent is not root".into()
            )
        );
        // runAsNonRoot
        let non_root = |user: Option<i64>| {
            let mut p = p.clone();
            p.spec.as_mut().unwrap().security_context =
                Some(PodSecurityContext { run_as_non_root: Some(true), run_as_user: user, ..Default::default() });
            run_in(&p, &Container { security_context: None, ..c.clone() }, None).map(|_| ())
        };
        assert_eq!(
            non_root(Some(0)).unwrap_err().to_string(),
            "container's runAsUser breaks non-root policy (pod: \"pi-x_ns(u1)\", container: c)"
        );
        assert_eq!(
            non_root(None).unwrap_err().to_string(),
            "container has runAsNonRoot and image will run as root (pod: \"pi-x_ns(u1)\", container: c)"
        );
        assert_eq!(non_root(Some(1000)), Ok(()));
    }

    #[test]
    fn launch_spec_is_built_from_the_container() {
        let container = Container {
            name: "pi".into(),
            command: Some(vec!["sh".into(), "-c".into()]),
            args: Some(vec!["echo $(MSG)".into()]),
            env: Some(vec![
                EnvVar { name: "MSG".into(), value: Some("hi".into()), value_from: None },
                EnvVar { name: "PATH".into(), value: Some("/opt/bin".into()), value_from: None },
            ]),
            working_dir: Some("/tmp".into()),
            resources: Some(ResourceRequirements {
                limits: Some(
                    [("memory".to_string(), Quantity("64Mi".into())), ("cpu".to_string(), Quantity("250m".into()))]
                        .into(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let prepared = run(&container).unwrap();
        assert_eq!(prepared.spec.argv, ["sh", "-c", "echo hi"]);
        let env: Vec<(&str, &str)> = prepared.spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(env, [("PATH", "/opt/bin"), ("HOME", "/root"), ("HOSTNAME", "pi-x"), ("MSG", "hi")]);
        assert_eq!(prepared.spec.working_dir, Path::new("/tmp"));
        assert_eq!(prepared.spec.log_path, Path::new("/r/pods/u/logs/pi/2.log"));
        assert_eq!(prepared.spec.run_dir, Path::new("/r/pods/u/containers/pi/2"));
        assert_eq!(prepared.limits, Limits { memory_bytes: Some(64 << 20), cpu_millis: Some(250) });
    }

    #[test]
    fn defaults_and_failures() {
        let args_only = Container { name: "a".into(), args: Some(vec!["true".into()]), ..Default::default() };
        let prepared = run(&args_only).unwrap();
        assert_eq!(prepared.spec.argv, ["true"]);
        assert_eq!(prepared.spec.working_dir, Path::new("/r/pods/u"));

        let relative = Container { working_dir: Some("work".into()), ..args_only.clone() };
        assert_eq!(run(&relative).unwrap().spec.working_dir, Path::new("/r/pods/u/work"));

        let nothing = Container { name: "pi".into(), ..Default::default() };
        assert!(
            matches!(run(&nothing), Err(PrepareError::CannotRun(m)) if m.contains("no command specified for container \"pi\""))
        );

        let bad_limit = Container {
            resources: Some(ResourceRequirements {
                limits: Some([("memory".to_string(), Quantity("lots".into()))].into()),
                ..Default::default()
            }),
            ..args_only
        };
        assert!(matches!(run(&bad_limit), Err(PrepareError::Config(m)) if m.starts_with("resources.limits.memory: ")));
    }
}
