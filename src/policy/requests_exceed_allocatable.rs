//! DSG005 requests-exceed-allocatable: the pod's effective request (the scheduler's, see
//! `scheduling::resources`) does not fit the allocatable of nodes it would run on
//! (targeted and tolerated), so its pod is Pending there forever while the DaemonSet
//! controller still counts the node. `action` when it fits none of them, `partialAction`
//! when it does not fit some.
//!
//! When the DaemonSets of the cluster are known, what the others request on each node
//! counts too. A DaemonSet with `maxSurge` starts its new pod beside the old one, so during
//! a rollout its own request counts twice: the message says when only that does not fit.
//! Nodes that state no allocatable, and Karpenter templates, are not judged; a Cluster API
//! template is judged by its capacity annotations. Work is per node shape (same
//! allocatable, same other DaemonSets), never per node.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

use super::daemonset::{DaemonSet, TEMPLATE_SPEC};
use super::{Context, Finding, Rule, Severity, Templates};
use crate::inventory::{Inventory, NodeShape};
use crate::scheduling::quantity::QuantityError;
use crate::scheduling::resources::{
    InitContainer, ResourceList, amounts, container_requests, display, insufficient, pod_requests,
};

/// Lines of unfit groups shown before "… and N more".
const MAX_LINES: usize = 6;

/// The nodes among `runnable` whose allocatable alone cannot hold one pod with `requests`
/// (its [`effective_requests`]), grouped by the resources that are short (`coverage`'s
/// `unfit`, the audit's `unfit` count). Other DaemonSets' requests are not counted: this
/// is the pod alone.
pub fn unfit_groups(
    requests: &ResourceList,
    inventory: &Inventory,
    runnable: &RoaringBitmap,
) -> Vec<(Vec<String>, RoaringBitmap)> {
    // Which allocatable lists are too small first (a handful), then their nodes.
    inventory
        .allocatable_sets()
        .filter_map(|(allocatable, nodes)| {
            let short = insufficient(requests, allocatable, &ResourceList::new(), 0);
            if short.is_empty() {
                return None;
            }
            let nodes = nodes & runnable;
            (!nodes.is_empty()).then_some((short, nodes))
        })
        .collect()
}

/// One pod's effective request in `namespace`, with the LimitRange defaults the
/// inventory knows.
pub fn effective_requests(
    object: &DaemonSet,
    inventory: &Inventory,
    namespace: &str,
) -> Result<ResourceList, QuantityError> {
    let defaults = if inventory.synced().limit_ranges {
        inventory.default_requests_in(namespace)
    } else {
        ResourceList::new()
    };
    let pod = object.pod();
    let containers = pod
        .containers
        .iter()
        .map(|c| container_requests(&c.resources, &defaults))
        .collect::<Result<Vec<_>, _>>()?;
    let init_containers = pod
        .init_containers
        .iter()
        .map(|c| {
            Ok(InitContainer {
                requests: container_requests(&c.resources, &defaults)?,
                sidecar: c.restart_policy.as_deref() == Some("Always"),
            })
        })
        .collect::<Result<Vec<_>, QuantityError>>()?;
    Ok(pod_requests(
        &containers,
        &init_containers,
        &amounts(&pod.overhead)?,
    ))
}

/// `maxSurge` above zero on a rolling update: the new pod starts beside the old one.
pub fn surges(object: &DaemonSet) -> bool {
    use super::daemonset::IntOrString;
    let Some(strategy) = object.update_strategy() else {
        return false;
    };
    if strategy
        .kind
        .as_deref()
        .is_some_and(|k| k != "RollingUpdate")
    {
        return false;
    }
    match strategy
        .rolling_update
        .as_ref()
        .and_then(|r| r.max_surge.as_ref())
    {
        Some(IntOrString::Int(n)) => *n > 0,
        Some(IntOrString::String(text)) => text
            .trim_end_matches('%')
            .parse::<i64>()
            .is_ok_and(|n| n > 0),
        None => false,
    }
}

/// Where the pods do not fit: `(pool or template, allocatable, resources short, nodes)`.
struct Unfit {
    place: String,
    nodes: u64,
    example: String,
    short: Vec<String>,
    allocatable: ResourceList,
    daemon_requests: ResourceList,
    daemon_pods: u64,
    /// Fits alone, not beside its own surge pod.
    only_during_rollout: bool,
}

/// What a node of one shape lacks for the pod: the resources short, and whether it is
/// short only during a rollout (it fits alone, not beside its own surge pod). `None`
/// when it fits.
fn shortfall(
    requests: &ResourceList,
    surge: Option<&ResourceList>,
    allocatable: &ResourceList,
    daemon_requests: &ResourceList,
    daemon_pods: u64,
) -> Option<(Vec<String>, bool)> {
    let short = insufficient(requests, allocatable, daemon_requests, daemon_pods);
    if !short.is_empty() {
        return Some((short, false));
    }
    let doubled = surge?;
    let during_rollout = insufficient(doubled, allocatable, daemon_requests, daemon_pods + 1);
    (!during_rollout.is_empty()).then_some((during_rollout, true))
}

/// `runnable` is what `evaluate` computed: the targeted nodes the pods tolerate.
pub(crate) fn check(
    object: &DaemonSet,
    runnable: &RoaringBitmap,
    templates: &Templates<'_>,
    context: &Context<'_>,
    findings: &mut Vec<Finding>,
) {
    let settings = &context.config.rules.requests_exceed_allocatable;
    if Severity::of(settings.action).is_none() && Severity::of(settings.partial_action).is_none() {
        return;
    }
    let inventory = context.inventory;
    // An unreadable quantity is refused by the API server's own validation; nothing to add.
    let Ok(requests) = effective_requests(object, inventory, context.namespace) else {
        return;
    };
    let surge = surges(object);
    // During a rollout with maxSurge, the old pod and the new one side by side.
    let doubled: Option<ResourceList> = surge.then(|| {
        requests
            .iter()
            .map(|(name, value)| (name.clone(), value.saturating_mul(2)))
            .collect()
    });
    let pools = &context.config.rules.untolerated_taints.pool_label_keys;
    let sized_template = inventory
        .templates()
        .iter()
        .any(|t| t.allocatable.is_some());
    let short = |shape: &NodeShape<'_>| {
        shortfall(
            &requests,
            doubled.as_ref(),
            shape.allocatable,
            &shape.daemon_requests,
            shape.daemon_pods,
        )
        .is_some()
    };
    let except = (context.namespace, object.name());
    // With the DaemonSets known, found from the DaemonSet's own nodes: spread over many
    // node groups they make thousands of shapes, most of them elsewhere.
    let shapes: Vec<(NodeShape<'_>, u64)> =
        if let Some(shapes) = inventory.node_shapes_among(except, runnable) {
            shapes
        } else {
            // One shape per allocatable, a handful: the common answer (it fits every one,
            // no template states a size) needs no node counted at all.
            let shapes = inventory.node_shapes(except);
            if !sized_template && !shapes.iter().any(short) {
                return;
            }
            shapes
                .into_iter()
                .filter_map(|shape| {
                    let count = runnable.intersection_len(&shape.nodes);
                    (count > 0).then_some((shape, count))
                })
                .collect()
        };
    if !sized_template && !shapes.iter().any(|(shape, _)| short(shape)) {
        return;
    }
    let mut places = runnable.len();
    let mut judged = 0u64;
    let mut unfit: Vec<Unfit> = Vec::new();
    let mut unfit_nodes = 0u64;
    for (shape, count) in shapes {
        judged += count;
        let Some((short, only_during_rollout)) = shortfall(
            &requests,
            doubled.as_ref(),
            shape.allocatable,
            &shape.daemon_requests,
            shape.daemon_pods,
        ) else {
            continue;
        };
        if !only_during_rollout {
            unfit_nodes += count;
        }
        let nodes = runnable & &*shape.nodes;
        for (pool, nodes) in inventory.split_by_pool(&nodes, pools).iter() {
            let example = inventory
                .node(nodes.min().expect("non-empty"))
                .name
                .to_string();
            unfit.push(Unfit {
                place: pool.as_ref().map_or_else(
                    || "nodes without a pool label".into(),
                    |p| format!("pool {p}"),
                ),
                nodes: nodes.len(),
                example,
                short: short.clone(),
                allocatable: (**shape.allocatable).clone(),
                daemon_requests: shape.daemon_requests.clone().into_owned(),
                daemon_pods: shape.daemon_pods,
                only_during_rollout,
            });
        }
    }
    // Templates are judged when one states its size, or when some node does not fit (a
    // template the pods would run on makes that partial): otherwise they change nothing.
    if sized_template || !unfit.is_empty() {
        for placement in templates.all().iter().filter(|p| p.runnable()) {
            places += 1;
            let template = &inventory.templates()[placement.index];
            let Some(allocatable) = &template.allocatable else {
                continue;
            };
            judged += 1;
            let Some((short, only_during_rollout)) = shortfall(
                &requests,
                doubled.as_ref(),
                allocatable,
                &ResourceList::new(),
                0,
            ) else {
                continue;
            };
            if !only_during_rollout {
                unfit_nodes += 1;
            }
            unfit.push(Unfit {
                place: format!("{} (when it scales up)", template.display_name()),
                nodes: 1,
                example: String::new(),
                short,
                allocatable: allocatable.clone(),
                daemon_requests: ResourceList::new(),
                daemon_pods: 0,
                only_during_rollout,
            });
        }
    }
    if unfit.is_empty() {
        return;
    }
    let fits_nowhere = unfit_nodes == places && judged == places;
    let action = if fits_nowhere {
        settings.action
    } else {
        settings.partial_action
    };
    let Some(severity) = Severity::of(action) else {
        return;
    };
    findings.push(Finding {
        rule: Rule::RequestsExceedAllocatable,
        severity,
        pointer: requests_pointer(object),
        message: message(&requests, &unfit, unfit_nodes, places, fits_nowhere, surge),
        atoms: atoms(&unfit),
    });
}

/// Where the requests are written: the first container that states any, else the list.
fn requests_pointer(object: &DaemonSet) -> String {
    let pod = object.pod();
    let stated = |c: &super::daemonset::Container| {
        !c.resources.requests.is_empty() || !c.resources.limits.is_empty()
    };
    if let Some(i) = pod.containers.iter().position(stated) {
        return format!("{TEMPLATE_SPEC}/containers/{i}/resources");
    }
    if let Some(i) = pod.init_containers.iter().position(stated) {
        return format!("{TEMPLATE_SPEC}/initContainers/{i}/resources");
    }
    format!("{TEMPLATE_SPEC}/containers")
}

fn list(resources: &ResourceList) -> String {
    resources
        .iter()
        .filter(|(_, v)| **v != 0)
        .map(|(name, value)| format!("{name} {}", display(name, *value)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn message(
    requests: &ResourceList,
    unfit: &[Unfit],
    unfit_nodes: u64,
    places: u64,
    fits_nowhere: bool,
    surge: bool,
) -> String {
    let asked = if requests.values().all(|v| *v == 0) {
        "one more pod".to_owned()
    } else {
        format!("requests {} per pod", list(requests))
    };
    let mut text = vec![if fits_nowhere {
        format!(
            "the pod ({asked}) fits none of the {} it would run on: it stays Pending everywhere:",
            crate::words::count(places, "node")
        )
    } else if unfit_nodes > 0 {
        format!(
            "the pod ({asked}) does not fit {unfit_nodes} of the {} it would run on: it stays Pending there:",
            crate::words::count(places, "node")
        )
    } else {
        format!(
            "the pod ({asked}) fits, but not beside its own new pod during a rollout (maxSurge starts it before the old one stops):"
        )
    }];
    for item in unfit.iter().take(MAX_LINES) {
        let who = if item.example.is_empty() {
            item.place.clone()
        } else if item.nodes == 1 {
            format!("1 node ({}) in {}", item.example, item.place)
        } else {
            format!(
                "{} nodes (e.g. {}) in {}",
                item.nodes, item.example, item.place
            )
        };
        let shortages: Vec<String> = item
            .short
            .iter()
            .map(|name| {
                let have = item.allocatable.get(name).copied().unwrap_or(0);
                let others = item.daemon_requests.get(name).copied().unwrap_or(0);
                let need = requests.get(name).copied().unwrap_or(0);
                let need = if item.only_during_rollout {
                    need.saturating_mul(2)
                } else {
                    need
                };
                if name == "pods" {
                    format!(
                        "pods: allocatable {have}, {} taken by the other DaemonSets there",
                        item.daemon_pods
                    )
                } else if others > 0 {
                    format!(
                        "{name}: needs {} + {} for the other DaemonSets there, allocatable {}",
                        display(name, need),
                        display(name, others),
                        display(name, have)
                    )
                } else {
                    format!(
                        "{name}: needs {}, allocatable {}",
                        display(name, need),
                        display(name, have)
                    )
                }
            })
            .collect();
        let rollout = if item.only_during_rollout {
            " during a rollout"
        } else {
            ""
        };
        text.push(format!("  {who}{rollout}: {}", shortages.join("; ")));
    }
    if unfit.len() > MAX_LINES {
        text.push(format!("  … and {} more groups", unfit.len() - MAX_LINES));
    }
    text.push(if unfit.iter().all(|u| u.only_during_rollout) && surge {
        "Set maxSurge to 0 (the rollout then replaces pods in place) or lower the requests.".into()
    } else {
        "Lower the requests, or keep the DaemonSet off those nodes with a nodeSelector or node affinity.".into()
    });
    text.join("\n")
}

/// `resource@place` for each shortage: an UPDATE only adds a violation when one is new.
fn atoms(unfit: &[Unfit]) -> Vec<String> {
    let mut atoms: BTreeMap<String, ()> = BTreeMap::new();
    for item in unfit {
        for name in &item.short {
            atoms.insert(format!("{name}@{}", item.place), ());
        }
    }
    atoms.into_keys().collect()
}
