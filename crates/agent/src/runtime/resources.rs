//! A container's resources as the downward API exposes them (`resourceFieldRef` in env and in downward API
//! volumes), resolved the way the kubelet resolves them: a limit the container does not set is the node's
//! allocatable amount, a request it does not set is zero, and the value is divided by the divisor (1 when
//! unset) and rounded up.

use runlet_api::quantity::parse_quantity;
use runlet_codec::k8s_openapi::api::core::v1::ResourceFieldSelector;
use runlet_codec::{Container, Pod};

/// What the node can give a container, for limits a container leaves unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocatable {
    pub cpu_millis: i128,
    pub memory_bytes: i128,
    pub ephemeral_storage_bytes: i128,
}

impl Allocatable {
    /// This machine: its cores, its memory, and the size of the file system holding `dir`.
    pub fn of_this_machine(dir: &std::path::Path) -> Allocatable {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let disk = nix::sys::statvfs::statvfs(dir)
            .map(|s| i128::from(s.blocks()) * i128::from(s.fragment_size()))
            .unwrap_or(0);
        let memory_bytes = i128::from(machine_memory_bytes());
        Allocatable { cpu_millis: cores as i128 * 1000, memory_bytes, ephemeral_storage_bytes: disk }
    }
}

/// This machine's memory (`MemTotal` of `/proc/meminfo`), 0 when unknown.
pub fn machine_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// The value of `selector` in `pod`: of the container it names, else of `current` (the container whose env
/// is built; a downward API volume has none). `Err` is the message of a container that cannot be configured.
pub fn resource_value(
    pod: &Pod,
    current: Option<&Container>,
    selector: &ResourceFieldSelector,
    node: &Allocatable,
) -> Result<String, String> {
    let container = match selector.container_name.as_deref().filter(|n| !n.is_empty()) {
        None => current.ok_or("resourceFieldRef: containerName is required in a downward API volume")?,
        Some(name) => pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()))
            .find(|c| c.name == name)
            .ok_or_else(|| format!("container {name} not found"))?,
    };
    let resource = selector.resource.as_str();
    let (list, name) =
        resource.split_once('.').ok_or_else(|| format!("unsupported container resource : {resource}"))?;
    let resources = container.resources.as_ref();
    let set = match list {
        "limits" => resources.and_then(|r| r.limits.as_ref()),
        "requests" => resources.and_then(|r| r.requests.as_ref()),
        _ => return Err(format!("unsupported container resource : {resource}")),
    };
    let quantity = |text: &str| parse_quantity(text).map_err(|e| format!("{resource}: {e}"));
    let divisor = match selector.divisor.as_ref().map(|d| quantity(&d.0)).transpose()? {
        Some(d) if !d.is_zero() => d,
        _ => quantity("1")?,
    };
    let given = set.and_then(|s| s.get(name)).map(|q| quantity(&q.0)).transpose()?;
    let (amount, per_divisor) = match name {
        "cpu" => {
            let fallback = if list == "limits" { node.cpu_millis } else { 0 };
            (given.map_or(fallback, |q| q.milli_value()), divisor.milli_value())
        }
        "memory" | "ephemeral-storage" => {
            let node_amount = if name == "memory" { node.memory_bytes } else { node.ephemeral_storage_bytes };
            let fallback = if list == "limits" { node_amount } else { 0 };
            (given.map_or(fallback, |q| q.value()), divisor.value())
        }
        n if n.starts_with("hugepages-") => (given.map_or(0, |q| q.value()), divisor.value()),
        _ => return Err(format!("unsupported container resource : {resource}")),
    };
    if per_divisor <= 0 {
        return Err(format!("{resource}: the divisor must be positive"));
    }
    // Rounded up, as the kubelet's `math.Ceil`.
    let value = (amount + per_divisor - 1).div_euclid(per_divisor);
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlet_codec::{PodSpec, Quantity, ResourceRequirements};

    fn container(name: &str, limits: &[(&str, &str)], requests: &[(&str, &str)]) -> Container {
        let list = |items: &[(&str, &str)]| {
            (!items.is_empty()).then(|| items.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect())
        };
        Container {
            name: name.into(),
            resources: Some(ResourceRequirements {
                limits: list(limits),
                requests: list(requests),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn values_table() {
        let node = Allocatable { cpu_millis: 4000, memory_bytes: 8 << 30, ephemeral_storage_bytes: 100 << 30 };
        let main = container("main", &[("cpu", "500m"), ("memory", "64Mi")], &[("cpu", "250m"), ("memory", "32Mi")]);
        let other = container("other", &[("cpu", "2")], &[]);
        let pod = Pod {
            spec: Some(PodSpec { containers: vec![main.clone(), other], ..Default::default() }),
            ..Default::default()
        };
        let cases = [
            (None, "limits.cpu", None, Ok("1")),
            (None, "limits.cpu", Some("1m"), Ok("500")),
            (None, "requests.cpu", Some("1m"), Ok("250")),
            (None, "limits.memory", None, Ok("67108864")),
            (None, "limits.memory", Some("1Mi"), Ok("64")),
            (None, "requests.memory", Some("1Mi"), Ok("32")),
            (None, "limits.memory", Some("0"), Ok("67108864")),
            (Some("other"), "limits.cpu", None, Ok("2")),
            // Unset: limits are the node's, requests zero.
            (Some("other"), "limits.memory", Some("1Gi"), Ok("8")),
            (Some("other"), "requests.memory", None, Ok("0")),
            (None, "limits.ephemeral-storage", Some("1Gi"), Ok("100")),
            (Some("nope"), "limits.cpu", None, Err("container nope not found")),
            (None, "limits.gpu", None, Err("unsupported container resource : limits.gpu")),
        ];
        for (name, resource, divisor, want) in cases {
            let selector = ResourceFieldSelector {
                container_name: name.map(str::to_string),
                resource: resource.into(),
                divisor: divisor.map(|d| Quantity(d.to_string())),
            };
            let got = resource_value(&pod, Some(&main), &selector, &node);
            assert_eq!(got.as_deref().map_err(String::as_str), want, "{name:?} {resource} {divisor:?}");
        }
    }
}
