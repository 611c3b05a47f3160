//! What a pod asks of a node and whether the node has it: the scheduler's
//! NodeResourcesFit (`pkg/scheduler/framework/plugins/noderesources/fit.go`), with the
//! pod's effective request computed as `component-helpers/resource/helpers.go`
//! `PodRequests` does, sidecars included.
//!
//! - A container's request for a resource is its request, else its limit (pod defaulting,
//!   `pkg/apis/core/v1/defaults.go`), else the namespace's LimitRange `defaultRequest`
//!   (LimitRanger runs after defaulting, so it only fills what is still missing).
//! - The pod's request is the sum of its regular containers and restartable init
//!   containers (sidecars, `restartPolicy: Always`), or per resource the largest init
//!   container's need if larger, where an init container needs its own request plus the
//!   sidecars started before it; then `spec.overhead` is added.
//! - Quantities are rounded up per container before summing: cpu to millicores, anything
//!   else to whole units.
//! - A node fits when, for every resource requested above zero, request plus what is
//!   already requested there is at most `status.allocatable` (a resource it does not list
//!   counts as 0), and it has room for one more pod.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::quantity::{Quantity, QuantityError};
use crate::serde_util::counted_map;

/// Resource amounts by name, rounded: cpu in millicores, the rest in whole units.
pub type ResourceList = BTreeMap<String, i128>;

pub const CPU: &str = "cpu";
pub const PODS: &str = "pods";

/// A quantity as written: a string, or a bare number in YAML/JSON (`cpu: 1`), read as the
/// API server reads it (apimachinery `Quantity.UnmarshalJSON`): surrounding whitespace is
/// trimmed (`" 1000 "` is 1000), and `null` (YAML `~`) is 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuantityText(pub String);

impl<'de> Deserialize<'de> for QuantityText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            String(String),
            Number(serde_json::Number),
            Null(()),
        }
        Ok(QuantityText(match Text::deserialize(deserializer)? {
            Text::String(text) if text.trim().len() == text.len() => text,
            Text::String(text) => text.trim().to_owned(),
            Text::Number(number) => number.to_string(),
            Text::Null(()) => "0".to_owned(),
        }))
    }
}

/// `resources` of a container as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ResourceRequirements {
    #[serde(default, deserialize_with = "counted_map")]
    pub limits: BTreeMap<String, QuantityText>,
    #[serde(default, deserialize_with = "counted_map")]
    pub requests: BTreeMap<String, QuantityText>,
}

/// One resource amount, rounded as the scheduler rounds it.
pub fn amount(resource: &str, text: &QuantityText) -> Result<i128, QuantityError> {
    let quantity =
        Quantity::parse(&text.0).map_err(|e| QuantityError(format!("{resource}: {e}")))?;
    Ok(quantity.ceil_scaled(if resource == CPU { 3 } else { 0 }))
}

/// Every amount of a written list, rounded.
pub fn amounts(list: &BTreeMap<String, QuantityText>) -> Result<ResourceList, QuantityError> {
    list.iter()
        .map(|(name, text)| Ok((name.clone(), amount(name, text)?)))
        .collect()
}

/// A container's effective request: requests, else limits, else the LimitRange defaults.
pub fn container_requests(
    resources: &ResourceRequirements,
    default_requests: &ResourceList,
) -> Result<ResourceList, QuantityError> {
    let mut requests = amounts(&resources.requests)?;
    for (name, text) in &resources.limits {
        if !requests.contains_key(name) {
            requests.insert(name.clone(), amount(name, text)?);
        }
    }
    for (name, value) in default_requests {
        requests.entry(name.clone()).or_insert(*value);
    }
    Ok(requests)
}

fn add(into: &mut ResourceList, other: &ResourceList) {
    for (name, value) in other {
        let sum = into.entry(name.clone()).or_insert(0);
        *sum = sum.saturating_add(*value);
    }
}

fn max_into(into: &mut ResourceList, other: &ResourceList) {
    for (name, value) in other {
        let current = into.entry(name.clone()).or_insert(*value);
        *current = (*current).max(*value);
    }
}

/// An init container: its effective request and whether it is a sidecar
/// (`restartPolicy: Always`, it keeps running beside the regular containers).
pub struct InitContainer {
    pub requests: ResourceList,
    pub sidecar: bool,
}

/// The pod's effective request (`PodRequests`): regular containers and sidecars summed,
/// the largest init-time need if larger, then the overhead.
pub fn pod_requests(
    containers: &[ResourceList],
    init_containers: &[InitContainer],
    overhead: &ResourceList,
) -> ResourceList {
    let mut requests = ResourceList::new();
    for container in containers {
        add(&mut requests, container);
    }
    let mut sidecars = ResourceList::new();
    let mut init_need = ResourceList::new();
    for init in init_containers {
        if init.sidecar {
            add(&mut requests, &init.requests);
            add(&mut sidecars, &init.requests);
            max_into(&mut init_need, &sidecars);
        } else {
            let mut need = init.requests.clone();
            add(&mut need, &sidecars);
            max_into(&mut init_need, &need);
        }
    }
    max_into(&mut requests, &init_need);
    add(&mut requests, overhead);
    requests
}

/// The resources a node lacks for a pod requesting `requests` when `already` is
/// requested there by `pods_already` other pods; empty when it fits. `pods` is checked
/// first, as the scheduler does.
pub fn insufficient(
    requests: &ResourceList,
    allocatable: &ResourceList,
    already: &ResourceList,
    pods_already: u64,
) -> Vec<String> {
    let mut short = Vec::new();
    if let Some(&pods) = allocatable.get(PODS)
        && i128::from(pods_already) + 1 > pods
    {
        short.push(PODS.to_owned());
    }
    for (name, &request) in requests {
        if name == PODS || request <= 0 {
            continue;
        }
        let available = allocatable.get(name).copied().unwrap_or(0);
        let used = already.get(name).copied().unwrap_or(0);
        if request.saturating_add(used) > available {
            short.push(name.clone());
        }
    }
    short
}

/// An amount as users write it: `1500m` / `2` for cpu, `512Mi` / `1G`-style bytes for
/// memory and storage (binary units when exact), a plain count otherwise.
pub fn display(resource: &str, value: i128) -> String {
    if resource == CPU {
        return if value % 1000 == 0 {
            (value / 1000).to_string()
        } else {
            format!("{value}m")
        };
    }
    let bytes = resource == "memory"
        || resource == "ephemeral-storage"
        || resource.starts_with("hugepages-");
    if bytes && value != 0 {
        for (suffix, shift) in [("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)] {
            if value % (1i128 << shift) == 0 {
                return format!("{}{suffix}", value >> shift);
            }
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(pairs: &[(&str, i128)]) -> ResourceList {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn written(pairs: &[(&str, &str)]) -> BTreeMap<String, QuantityText> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), QuantityText(v.to_string())))
            .collect()
    }

    #[test]
    fn a_container_request_comes_from_requests_then_limits_then_limit_range() {
        let resources = ResourceRequirements {
            limits: written(&[("cpu", "500m"), ("memory", "1Gi")]),
            requests: written(&[("memory", "256Mi")]),
        };
        let defaults = list(&[
            ("cpu", 100),
            ("memory", 64 << 20),
            ("ephemeral-storage", 1 << 30),
        ]);
        assert_eq!(
            container_requests(&resources, &defaults).unwrap(),
            list(&[
                ("cpu", 500),
                ("memory", 256 << 20),
                ("ephemeral-storage", 1 << 30)
            ]),
            "a limit defaults its request before the LimitRange can"
        );
        let bad = ResourceRequirements {
            requests: written(&[("cpu", "lots")]),
            ..Default::default()
        };
        assert!(
            container_requests(&bad, &ResourceList::new())
                .unwrap_err()
                .0
                .starts_with("cpu: ")
        );
    }

    /// The KEP-753 example and `helpers_test.go` cases for PodRequests with sidecars.
    #[test]
    fn pod_requests_follow_the_scheduler_with_init_containers_and_sidecars() {
        let c = |cpu: i128| list(&[("cpu", cpu)]);
        // Regular containers only: summed.
        assert_eq!(
            pod_requests(&[c(100), c(200)], &[], &ResourceList::new()),
            c(300)
        );
        // A big init container wins over the sum.
        let init = |cpu: i128, sidecar: bool| InitContainer {
            requests: c(cpu),
            sidecar,
        };
        assert_eq!(
            pod_requests(&[c(100)], &[init(500, false)], &ResourceList::new()),
            c(500)
        );
        // A sidecar runs beside everything: added to the sum, and to later init containers.
        assert_eq!(
            pod_requests(
                &[c(100)],
                &[init(50, true), init(400, false)],
                &ResourceList::new()
            ),
            c(450),
            "max(100 + 50, 50 + 400)"
        );
        assert_eq!(
            pod_requests(
                &[c(1000)],
                &[init(400, false), init(200, true)],
                &ResourceList::new()
            ),
            c(1200),
            "an init container before the sidecar does not carry it"
        );
        // Overhead is added after the max.
        assert_eq!(
            pod_requests(&[c(100)], &[init(500, false)], &c(250)),
            c(750)
        );
        // Per resource: memory may come from the init container while cpu from the sum.
        let both = |cpu: i128, mem: i128| list(&[("cpu", cpu), ("memory", mem)]);
        assert_eq!(
            pod_requests(
                &[both(300, 100)],
                &[InitContainer {
                    requests: both(100, 900),
                    sidecar: false
                }],
                &ResourceList::new()
            ),
            both(300, 900)
        );
    }

    /// fit.go's fitsRequest: strictly greater is insufficient, equal fits; pods first; a
    /// resource the node does not list is 0; zero requests never count.
    #[test]
    fn fit_compares_with_allocatable_as_the_scheduler_does() {
        let node = list(&[("cpu", 2000), ("memory", 4 << 30), ("pods", 110)]);
        assert!(
            insufficient(&list(&[("cpu", 2000)]), &node, &ResourceList::new(), 0).is_empty(),
            "equal fits"
        );
        assert_eq!(
            insufficient(&list(&[("cpu", 2001)]), &node, &ResourceList::new(), 0),
            ["cpu"]
        );
        assert_eq!(
            insufficient(
                &list(&[("nvidia.com/gpu", 1), ("memory", 1)]),
                &node,
                &ResourceList::new(),
                0
            ),
            ["nvidia.com/gpu"],
            "not listed: 0 available"
        );
        assert!(
            insufficient(
                &list(&[("nvidia.com/gpu", 0)]),
                &node,
                &ResourceList::new(),
                0
            )
            .is_empty()
        );
        assert_eq!(
            insufficient(&list(&[("cpu", 1500)]), &node, &list(&[("cpu", 600)]), 3),
            ["cpu"],
            "what other daemons request counts"
        );
        assert_eq!(
            insufficient(&ResourceList::new(), &node, &ResourceList::new(), 110),
            ["pods"]
        );
    }

    #[test]
    fn amounts_display_as_users_write_them() {
        assert_eq!(display("cpu", 1500), "1500m");
        assert_eq!(display("cpu", 2000), "2");
        assert_eq!(display("memory", 512 << 20), "512Mi");
        assert_eq!(display("memory", 1_000_000_000), "1000000000");
        assert_eq!(display("nvidia.com/gpu", 2), "2");
    }
}
