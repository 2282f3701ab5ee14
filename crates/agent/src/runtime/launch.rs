//! Turning a pod's container into a [`LaunchSpec`]: argv, environment, working directory, limits, mounts.
//! Pure: nothing here touches the file system.

use runlet_codec::{Container, Pod};

use super::cgroup::Limits;
use super::env::{NodeFacts, container_env, expand_command};
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
}

pub fn prepare(pod: &Pod, container: &Container, ctx: &LaunchContext<'_>) -> Result<Prepared, PrepareError> {
    let vars = container_env(pod, container, ctx.node).map_err(|e| PrepareError::Config(e.to_string()))?;
    // Without an image there is no entrypoint: `command` is required, except that `args` alone run as they
    // would in an image that has no ENTRYPOINT.
    let argv = expand_command(container, &vars);
    if argv.is_empty() {
        return Err(PrepareError::CannotRun(format!(
            "no command specified for container {:?}: the runlet process runtime does not run image entrypoints; \
             set command (and args)",
            container.name
        )));
    }

    let hostname =
        pod.spec.as_ref().and_then(|s| s.hostname.clone()).or_else(|| pod.metadata.name.clone()).unwrap_or_default();
    let mut env: Vec<(String, String)> = ctx.base_env.to_vec();
    env.push(("HOSTNAME".to_string(), hostname));
    for (name, value) in vars {
        match env.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => env.push((name, value)),
        }
    }

    let working_dir = match container.working_dir.as_deref().filter(|w| !w.is_empty()) {
        None => ctx.paths.dir.clone(),
        Some(dir) => ctx.paths.dir.join(dir),
    };

    let limits = container_limits(container).map_err(PrepareError::Config)?;
    let mounts =
        plan_mounts(pod, container, ctx.paths, ctx.allow_host_path).map_err(|e| PrepareError::Config(e.to_string()))?;

    let spec = LaunchSpec {
        container_id: ctx.container_id.clone(),
        argv,
        env,
        working_dir,
        log_path: ctx.paths.log_file(&container.name, ctx.attempt),
        run_dir: ctx.paths.run_dir(&container.name, ctx.attempt),
        cgroup: None,
    };
    Ok(Prepared { spec, limits, mounts })
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
            NodeFacts { node_name: "n".into(), host_ip: "10.0.0.1".into(), pod_ip: "127.0.0.1".into() },
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
        let (paths, node, base) = ctx_parts();
        let ctx = LaunchContext {
            paths: &paths,
            node: &node,
            base_env: &base,
            allow_host_path: false,
            attempt: 2,
            container_id: "id1".into(),
        };
        prepare(&pod(), container, &ctx)
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
