//! `dsguard coverage`: for each DaemonSet, the nodes it will run on and the ones it will
//! not, grouped by node pool and reason. This reports the scheduling truth
//! ([`policy::placement`]): rule actions and `ignoreTaintKeys` never change it.

use std::collections::BTreeMap;
use std::fmt::Write;

use roaring::RoaringBitmap;
use serde::Serialize;

use crate::config::Config;
use crate::inventory::Inventory;
use crate::policy::{self, Context, DaemonSet};
use crate::scheduling::Taint;
use crate::scheduling::resources::{ResourceList, display};
use crate::scheduling::selector::LabelRequirement;

mod html;
pub use html::to_html;

/// Every pool's daemon overhead: the requests of all DaemonSets whose pods run on its
/// nodes, per kind of node.
fn pool_overheads(inventory: &Inventory, config: &Config) -> Vec<PoolOverhead> {
    let pool_keys = &config.rules.untolerated_taints.pool_label_keys;
    let shown = |list: &ResourceList| -> BTreeMap<String, String> {
        list.iter()
            .map(|(name, value)| (name.clone(), display(name, *value)))
            .collect()
    };
    let mut pools = Vec::new();
    for shape in inventory.node_shapes(("", "")) {
        for (pool, nodes) in inventory.split_by_pool(&shape.nodes, pool_keys).iter() {
            let shares = shape
                .daemon_requests
                .iter()
                .map(|(name, value)| {
                    (
                        name.clone(),
                        *value,
                        shape.allocatable.get(name).copied().unwrap_or(0),
                    )
                })
                .collect();
            pools.push(PoolOverhead {
                name: pool.clone().unwrap_or_else(|| NO_POOL.to_owned()),
                nodes: nodes.len(),
                allocatable: shown(shape.allocatable),
                daemon_requests: shown(&shape.daemon_requests),
                daemon_pods: shape.daemon_pods,
                shares,
            });
        }
    }
    pools.sort_by(|a, b| a.name.cmp(&b.name).then(b.nodes.cmp(&a.nodes)));
    pools
}

/// Every pool's daemon overhead from the daemon pods actually running (`--pods`): exact
/// per node, grouped by pool, allocatable and what the daemon pods there request.
fn pool_overheads_from_pods(
    inventory: &Inventory,
    occupancy: &crate::inventory::Occupancy,
    config: &Config,
) -> Vec<PoolOverhead> {
    let pool_keys = &config.rules.untolerated_taints.pool_label_keys;
    type Key = (String, Vec<(String, i128)>, Vec<(String, i128)>, u64);
    let mut groups: BTreeMap<Key, u64> = BTreeMap::new();
    for node in inventory.nodes() {
        let Some(allocatable) = &node.allocatable else {
            continue;
        };
        let pool = pool_keys
            .iter()
            .find_map(|key| node.label(key))
            .map_or_else(|| NO_POOL.to_owned(), str::to_owned);
        let mut requests = ResourceList::new();
        let mut pods = 0u64;
        for record in occupancy
            .node(&node.name)
            .map(|n| n.pods())
            .unwrap_or_default()
            .iter()
            .filter(|r| r.owner.as_ref().is_some_and(|o| &*o.kind == "DaemonSet"))
        {
            pods += 1;
            for (name, value) in record.pod.requests.iter() {
                *requests.entry(name.clone()).or_insert(0) += value;
            }
        }
        let key = (
            pool,
            allocatable.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            requests.into_iter().collect(),
            pods,
        );
        *groups.entry(key).or_insert(0) += 1;
    }
    let shown = |list: &[(String, i128)]| -> BTreeMap<String, String> {
        list.iter()
            .map(|(name, value)| (name.clone(), display(name, *value)))
            .collect()
    };
    let mut pools: Vec<PoolOverhead> = groups
        .into_iter()
        .map(
            |((pool, allocatable, requests, pods), nodes)| PoolOverhead {
                name: pool,
                nodes,
                allocatable: shown(&allocatable),
                daemon_requests: shown(&requests),
                daemon_pods: pods,
                shares: requests
                    .iter()
                    .map(|(name, value)| {
                        let have = allocatable
                            .iter()
                            .find(|(k, _)| k == name)
                            .map_or(0, |(_, v)| *v);
                        (name.clone(), *value, have)
                    })
                    .collect(),
            },
        )
        .collect();
    pools.sort_by(|a, b| a.name.cmp(&b.name).then(b.nodes.cmp(&a.nodes)));
    pools
}

/// `coverage -o json`, schema version 1 (README "Commands").
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoverageReport {
    pub schema_version: u32,
    pub daemonsets: Vec<DaemonSetCoverage>,
    /// Each pool's daemon overhead, when the DaemonSets of the cluster are known
    /// (`--daemonsets`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pools: Option<Vec<PoolOverhead>>,
}

/// Nodes of one pool that share an allocatable list and the same DaemonSets: what those
/// DaemonSets request there, against what the nodes have. A pool whose nodes differ
/// appears once per kind of node.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolOverhead {
    pub name: String,
    pub nodes: u64,
    pub allocatable: BTreeMap<String, String>,
    pub daemon_requests: BTreeMap<String, String>,
    pub daemon_pods: u64,
    /// For the table: (resource, requested, allocatable).
    #[serde(skip)]
    shares: Vec<(String, i128, i128)>,
}

/// What hypothetical taints would do to one DaemonSet.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhatIf {
    /// Nodes it runs on now that would get no new pod (NoSchedule or NoExecute).
    pub stops_on: Vec<String>,
    /// Nodes whose running pod a NoExecute taint would evict (after `tolerationSeconds`
    /// where a toleration sets it).
    pub evicted_from: Vec<String>,
    /// For the table: the shortest `tolerationSeconds` before an eviction, when one delays it.
    #[serde(skip)]
    delayed_by: Option<i64>,
}

/// `--what-if-taint KEY[=VALUE]:EFFECT@SELECTOR`: a taint, and the nodes (kubectl label
/// selector) it would be put on.
#[derive(Clone, Debug)]
pub struct WhatIfTaint {
    pub taint: Taint,
    pub selector: Vec<LabelRequirement>,
}

impl WhatIfTaint {
    pub fn parse(text: &str) -> Result<Self, String> {
        let shape = || {
            format!(
                "{text:?} is not KEY[=VALUE]:EFFECT@SELECTOR (e.g. dedicated=infra:NoExecute@pool=general)"
            )
        };
        let (taint, selector) = text.rsplit_once('@').ok_or_else(shape)?;
        let (key_value, effect) = taint.rsplit_once(':').ok_or_else(shape)?;
        if !matches!(effect, "NoSchedule" | "NoExecute" | "PreferNoSchedule") {
            return Err(format!(
                "{text:?}: the effect must be NoSchedule, NoExecute or PreferNoSchedule"
            ));
        }
        let (key, value) = key_value.split_once('=').unwrap_or((key_value, ""));
        crate::scheduling::labels::validate_label_key(key).map_err(|e| format!("{text:?}: {e}"))?;
        let selector = crate::scheduling::labels::parse_selector(selector)
            .map_err(|e| format!("{text:?}: the selector: {e}"))?;
        Ok(Self {
            taint: Taint::new(key, value, effect),
            selector,
        })
    }

    fn applies_to(&self, node: &crate::inventory::NodeRecord) -> bool {
        self.selector.iter().all(|r| r.matches(|k| node.label(k)))
    }
}

/// The inventory as it would be with the taints put on their nodes (a taint replaces one of
/// the same key and effect, as `kubectl taint` does). The nodes keep their slots, so node
/// sets of both compare directly.
pub fn with_taints(inventory: &Inventory, taints: &[WhatIfTaint]) -> Inventory {
    let mut tainted = inventory.clone();
    for node in inventory.nodes() {
        let added: Vec<&Taint> = taints
            .iter()
            .filter(|w| w.applies_to(node))
            .map(|w| &w.taint)
            .collect();
        if added.is_empty() {
            continue;
        }
        let mut update = node.to_update();
        update
            .taints
            .retain(|t| !added.iter().any(|a| a.key == t.key && a.effect == t.effect));
        update.taints.extend(added.into_iter().cloned());
        tainted.apply_node(update);
    }
    tainted
}

/// A node the DaemonSet targets and tolerates where its pod alone does not fit.
#[derive(Debug, Serialize)]
pub struct UnfitNode {
    pub node: String,
    pub resources: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DaemonSetCoverage {
    pub namespace: String,
    pub name: String,
    pub file: String,
    pub line: usize,
    /// What the selector picks.
    pub targeted: Vec<String>,
    /// The targeted nodes the pods tolerate.
    pub runnable: Vec<String>,
    /// The other targeted nodes, with the taints not tolerated.
    pub blocked: Vec<BlockedNode>,
    /// Every autoscaler template: nodes that do not exist yet.
    pub templates: Vec<TemplateCoverage>,
    /// Runnable nodes where one pod alone exceeds the allocatable.
    pub unfit: Vec<UnfitNode>,
    /// With the pods known (`--pods`, `--cluster`): on the runnable nodes its pod fits by
    /// allocatable, whether it fits beside the pods there, preempts some, or stays Pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occupancy: Option<OccupancyCoverage>,
    /// For the table: pool → (fits, preempting nodes, pods preempted, pending, least free
    /// room beside the pods, an example reason).
    #[serde(skip)]
    room_by_pool: BTreeMap<String, PoolRoom>,
    /// With `--what-if-taint`: where the pods would stop running.
    #[serde(rename = "whatIf", skip_serializing_if = "Option::is_none")]
    pub what_if: Option<WhatIf>,
    /// Pool → count of nodes not targeted, for the table.
    #[serde(skip)]
    not_targeted_by_pool: BTreeMap<String, u64>,
    #[serde(skip)]
    runnable_by_pool: BTreeMap<String, u64>,
    #[serde(skip)]
    blocked_by_pool: BTreeMap<(String, String), u64>,
}

/// `occupancy` of `coverage -o json`.
#[derive(Debug, Default, Serialize)]
pub struct OccupancyCoverage {
    pub fits: Vec<String>,
    pub preempts: Vec<PreemptingNode>,
    pub pending: Vec<PendingNode>,
}

#[derive(Debug, Serialize)]
pub struct PreemptingNode {
    pub node: String,
    pub victims: Vec<VictimCoverage>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VictimCoverage {
    pub namespace: String,
    pub name: String,
    pub priority: i32,
    pub pdb_violated: bool,
}

#[derive(Debug, Serialize)]
pub struct PendingNode {
    pub node: String,
    /// The scheduler's words (`Insufficient cpu`, `Too many pods`, ...).
    pub reasons: Vec<String>,
}

/// One pool's nodes beside their pods, for the table.
#[derive(Debug, Default)]
struct PoolRoom {
    fits: u64,
    preempting: u64,
    preempted: u64,
    pending: u64,
    /// The least free room among the nodes that fit, per resource the pod requests.
    least_free: ResourceList,
    pending_example: Option<(String, Vec<String>)>,
    preempt_example: Option<String>,
}

/// One autoscaler template, as `coverage -o json` shows it.
#[derive(Debug, Serialize)]
pub struct TemplateCoverage {
    /// `NodePool`, `MachineDeployment` or `MachineSet`.
    pub kind: &'static str,
    /// Cluster API objects are namespaced; NodePools are not (no field).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
    /// Some node it can make is selected.
    pub targeted: bool,
    /// Targeted, and its taints are all tolerated.
    pub runnable: bool,
    /// Its taints the pods do not tolerate, `key=value:Effect`.
    pub untolerated: Vec<String>,
    /// For the table and the picture: its node count now (when known), the untolerated
    /// taints themselves and the untolerated startup taints.
    #[serde(skip)]
    nodes_now: Option<u64>,
    #[serde(skip)]
    untolerated_taints: Vec<Taint>,
    #[serde(skip)]
    untolerated_startup: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct BlockedNode {
    pub node: String,
    pub taints: Vec<Taint>,
}

/// The pool of a node with none of the pool labels (doctor says the same).
pub(crate) const NO_POOL: &str = "(no pool label)";

/// Where one DaemonSet lands. `file` and `line` say where it came from.
pub fn cover(
    object: &DaemonSet,
    file: &str,
    line: usize,
    inventory: &Inventory,
    config: &Config,
    what_if: Option<(&Inventory, &[WhatIfTaint])>,
) -> DaemonSetCoverage {
    let namespace = object.namespace_or_default().to_owned();
    let context = Context::offline(inventory, config, &namespace);
    let placement = policy::placement(object, &context);
    let pool_keys = &config.rules.untolerated_taints.pool_label_keys;
    // Node counts per pool, by the same first-pool-label rule DSG002 reports with.
    let by_pool = |nodes: &RoaringBitmap| -> Vec<(String, u64)> {
        inventory
            .split_by_pool(nodes, pool_keys)
            .iter()
            .map(|(pool, members)| {
                (
                    pool.clone().unwrap_or_else(|| NO_POOL.to_owned()),
                    members.len(),
                )
            })
            .collect()
    };
    let name_of = |slot: u32| inventory.node(slot).name.to_string();
    let sorted = |mut names: Vec<String>| {
        names.sort();
        names
    };
    let runnable = placement.runnable();
    let mut blocked = Vec::new();
    let mut blocked_by_pool = BTreeMap::new();
    for group in &placement.blocked {
        let taints = group.taint_list();
        blocked.extend(group.nodes.iter().map(|slot| BlockedNode {
            node: name_of(slot),
            taints: group.untolerated.clone(),
        }));
        for (pool, count) in by_pool(&group.nodes) {
            *blocked_by_pool.entry((pool, taints.clone())).or_insert(0) += count;
        }
    }
    blocked.sort_by(|a, b| a.node.cmp(&b.node));
    let runnable_by_pool = by_pool(&runnable).into_iter().collect();
    let not_targeted_by_pool = by_pool(&(inventory.all_nodes() - &placement.targeted))
        .into_iter()
        .collect();
    let templates = placement
        .templates
        .iter()
        .map(|p| {
            let template = &inventory.templates()[p.index];
            let texts = |taints: &[Taint]| taints.iter().map(ToString::to_string).collect();
            TemplateCoverage {
                kind: template.kind.as_str(),
                namespace: template.namespace.clone(),
                name: template.name.clone(),
                targeted: p.targeted,
                runnable: p.runnable(),
                untolerated: texts(&p.untolerated),
                untolerated_taints: p.untolerated.clone(),
                nodes_now: inventory.template_nodes_now(template),
                untolerated_startup: texts(&p.untolerated_startup),
            }
        })
        .collect();
    let mut unfit = Vec::new();
    let unfit_groups = match policy::effective_requests(object, inventory, &namespace) {
        Ok(requests) => policy::unfit_groups(&requests, inventory, &runnable),
        Err(_) => Vec::new(),
    };
    for (short, nodes) in unfit_groups {
        unfit.extend(nodes.iter().map(|slot| UnfitNode {
            node: name_of(slot),
            resources: short.clone(),
        }));
    }
    unfit.sort_by(|a, b| a.node.cmp(&b.node));
    let what_if = what_if.map(|(tainted, taints)| {
        let after = policy::placement(object, &Context::offline(tainted, config, &namespace));
        let stops_on = &runnable - after.runnable();
        // Eviction: a NoExecute taint on a node it runs on now, not tolerated, or tolerated
        // only for tolerationSeconds.
        let tolerations = object.pod_tolerations(&[]);
        let mut evicted_from = Vec::new();
        let mut delayed_by: Option<i64> = None;
        for slot in runnable.iter() {
            let node = inventory.node(slot);
            for what in taints
                .iter()
                .filter(|w| w.taint.effect == "NoExecute" && w.applies_to(node))
            {
                let matching: Vec<&crate::scheduling::Toleration> = tolerations
                    .iter()
                    .filter(|t| t.tolerates(&what.taint, config.toleration_comparison_operators))
                    .collect();
                let forever = matching.iter().any(|t| t.toleration_seconds.is_none());
                if !forever {
                    if let Some(seconds) =
                        matching.iter().filter_map(|t| t.toleration_seconds).min()
                    {
                        delayed_by = Some(delayed_by.map_or(seconds, |d| d.min(seconds)));
                    }
                    evicted_from.push(node.name.to_string());
                    break;
                }
            }
        }
        evicted_from.sort();
        WhatIf {
            stops_on: sorted(stops_on.iter().map(name_of).collect()),
            evicted_from,
            delayed_by,
        }
    });
    let (occupancy, room_by_pool) = match policy::room_beside_pods(object, &context) {
        Some(report) => {
            let (occupancy, by_pool) = occupancy_of(&report, inventory, pool_keys);
            (Some(occupancy), by_pool)
        }
        None => (None, BTreeMap::new()),
    };
    DaemonSetCoverage {
        what_if,
        occupancy,
        room_by_pool,
        templates,
        unfit,
        namespace,
        name: object.name().to_owned(),
        file: file.to_owned(),
        line,
        targeted: sorted(placement.targeted.iter().map(name_of).collect()),
        runnable: sorted(runnable.iter().map(name_of).collect()),
        blocked,
        not_targeted_by_pool,
        runnable_by_pool,
        blocked_by_pool,
    }
}

/// DSG007's answer as coverage shows it: every node in JSON, per pool in the table.
fn occupancy_of(
    report: &policy::no_room_beside_running_pods::RoomReport,
    inventory: &Inventory,
    pool_keys: &[String],
) -> (OccupancyCoverage, BTreeMap<String, PoolRoom>) {
    let name_of = |slot: u32| inventory.node(slot).name.to_string();
    let mut fits: Vec<String> = report.fits.iter().map(name_of).collect();
    fits.sort();
    let mut preempts: Vec<PreemptingNode> = report
        .preempts
        .iter()
        .map(|(slot, victims)| PreemptingNode {
            node: name_of(*slot),
            victims: victims
                .iter()
                .map(|v| VictimCoverage {
                    namespace: v.namespace.to_string(),
                    name: v.name.to_string(),
                    priority: v.priority,
                    pdb_violated: v.pdb_violated,
                })
                .collect(),
        })
        .collect();
    preempts.sort_by(|a, b| a.node.cmp(&b.node));
    let mut pending: Vec<PendingNode> = report
        .pending
        .iter()
        .map(|stuck| PendingNode {
            node: name_of(stuck.node),
            reasons: stuck.reasons.clone(),
        })
        .collect();
    pending.sort_by(|a, b| a.node.cmp(&b.node));
    let mut by_pool: BTreeMap<String, PoolRoom> = BTreeMap::new();
    let occupancy = inventory.occupancy();
    for (pool, nodes) in inventory.split_by_pool(&report.judged, pool_keys).iter() {
        let room = by_pool
            .entry(pool.clone().unwrap_or_else(|| NO_POOL.to_owned()))
            .or_default();
        for slot in nodes.iter() {
            let node = inventory.node(slot);
            if report.fits.contains(slot) {
                room.fits += 1;
                let (Some(allocatable), Some(occupancy)) = (&node.allocatable, occupancy) else {
                    continue;
                };
                let taken = occupancy.node(&node.name);
                for name in report
                    .requests
                    .keys()
                    .chain(std::iter::once(&"pods".to_owned()))
                {
                    let Some(have) = allocatable.get(name) else {
                        continue;
                    };
                    let used = match (taken, name.as_str()) {
                        (Some(t), "pods") => i128::from(t.pod_count()),
                        (Some(t), _) => t.requested().get(name).copied().unwrap_or(0),
                        (None, _) => 0,
                    };
                    let free = (have - used).max(0);
                    let least = room.least_free.entry(name.clone()).or_insert(free);
                    *least = (*least).min(free);
                }
            }
        }
        for (slot, victims) in report.preempts.iter().filter(|(s, _)| nodes.contains(*s)) {
            room.preempting += 1;
            room.preempted += victims.len() as u64;
            if room.preempt_example.is_none()
                && let Some(v) = victims.first()
            {
                room.preempt_example = Some(format!(
                    "e.g. {}: {}/{} (priority {})",
                    name_of(*slot),
                    v.namespace,
                    v.name,
                    v.priority
                ));
            }
        }
        for stuck in report.pending.iter().filter(|s| nodes.contains(s.node)) {
            room.pending += 1;
            room.pending_example
                .get_or_insert_with(|| (name_of(stuck.node), stuck.reasons.clone()));
        }
    }
    (
        OccupancyCoverage {
            fits,
            preempts,
            pending,
        },
        by_pool,
    )
}

impl CoverageReport {
    pub fn new(daemonsets: Vec<DaemonSetCoverage>, inventory: &Inventory, config: &Config) -> Self {
        Self {
            schema_version: 1,
            daemonsets,
            // The pods running are exact; the DaemonSets' templates are a prediction.
            pools: match inventory.occupancy() {
                Some(occupancy) => Some(pool_overheads_from_pods(inventory, occupancy, config)),
                None => inventory
                    .daemon_loads()
                    .map(|_| pool_overheads(inventory, config)),
            },
        }
    }

    /// The human table.
    pub fn to_table(&self, total_nodes: usize) -> String {
        let mut out = String::new();
        for ds in &self.daemonsets {
            let _ = writeln!(
                out,
                "{}/{}  ({}:{})",
                ds.namespace, ds.name, ds.file, ds.line
            );
            let _ = writeln!(
                out,
                "  targets {} of {}; runs on {}; blocked on {}",
                ds.targeted.len(),
                crate::words::count(total_nodes, "node"),
                ds.runnable.len(),
                ds.blocked.len()
            );
            if !ds.templates.is_empty() {
                let targeted = ds.templates.iter().filter(|t| t.targeted).count();
                let runnable = ds.templates.iter().filter(|t| t.runnable).count();
                let _ = writeln!(
                    out,
                    "  targets {targeted} of {} autoscaler templates; would run on the nodes of {runnable}",
                    ds.templates.len()
                );
            }
            let mut rows: Vec<[String; 4]> = Vec::new();
            for (pool, count) in &ds.runnable_by_pool {
                let Some(room) = ds.room_by_pool.get(pool).filter(|_| ds.occupancy.is_some())
                else {
                    rows.push([
                        pool.clone(),
                        count.to_string(),
                        "runs".into(),
                        String::new(),
                    ]);
                    continue;
                };
                if room.fits > 0 {
                    let free: Vec<String> = room
                        .least_free
                        .iter()
                        .map(|(name, value)| format!("{name} {}", display(name, *value)))
                        .collect();
                    rows.push([
                        pool.clone(),
                        room.fits.to_string(),
                        "fits".into(),
                        if free.is_empty() {
                            String::new()
                        } else {
                            format!("least free beside running pods: {}", free.join(", "))
                        },
                    ]);
                }
                if room.preempting > 0 {
                    rows.push([
                        pool.clone(),
                        room.preempting.to_string(),
                        format!("preempts {}", crate::words::count(room.preempted, "pod")),
                        room.preempt_example.clone().unwrap_or_default(),
                    ]);
                }
                if let Some((node, reasons)) = &room.pending_example {
                    rows.push([
                        pool.clone(),
                        room.pending.to_string(),
                        "no room".into(),
                        format!("{} (e.g. {node})", reasons.join(", ")),
                    ]);
                }
                let judged = room.fits + room.preempting + room.pending;
                if *count > judged {
                    rows.push([
                        pool.clone(),
                        (*count - judged).to_string(),
                        "runs".into(),
                        "not judged beside pods (no allocatable, or it does not fit alone)".into(),
                    ]);
                }
            }
            for ((pool, taints), count) in &ds.blocked_by_pool {
                rows.push([
                    pool.clone(),
                    count.to_string(),
                    "blocked".into(),
                    format!("untolerated {taints}"),
                ]);
            }
            for (pool, count) in &ds.not_targeted_by_pool {
                rows.push([
                    pool.clone(),
                    count.to_string(),
                    "not targeted".into(),
                    "nodeSelector/affinity/nodeName".into(),
                ]);
            }
            if let Some(what_if) = &ds.what_if {
                let mut line = format!(
                    "  what if: stops on {} of the nodes it runs on",
                    what_if.stops_on.len()
                );
                if let Some(first) = what_if.stops_on.first() {
                    line.push_str(&format!(" (e.g. {first})"));
                }
                if !what_if.evicted_from.is_empty() {
                    line.push_str(&format!(
                        "; its running pods evicted from {}",
                        what_if.evicted_from.len()
                    ));
                    if let Some(seconds) = what_if.delayed_by {
                        line.push_str(&format!(
                            " (after {seconds}s where tolerationSeconds delays it)"
                        ));
                    }
                }
                let _ = writeln!(out, "{line}");
            }
            if !ds.unfit.is_empty() {
                let _ = writeln!(
                    out,
                    "  does not fit on {} of the nodes it runs on (e.g. {}: {})",
                    ds.unfit.len(),
                    ds.unfit[0].node,
                    ds.unfit[0].resources.join(", ")
                );
            }
            for template in &ds.templates {
                let name = if template.namespace.is_empty() {
                    format!("{} {}", template.kind, template.name)
                } else {
                    format!("{} {}/{}", template.kind, template.namespace, template.name)
                };
                let (status, mut reason) = if !template.targeted {
                    ("not targeted", "nodeSelector/affinity/nodeName".to_owned())
                } else if template.runnable {
                    ("would run", String::new())
                } else {
                    (
                        "would be blocked",
                        format!("untolerated {}", template.untolerated.join(", ")),
                    )
                };
                if template.targeted && !template.untolerated_startup.is_empty() {
                    if !reason.is_empty() {
                        reason.push_str("; ");
                    }
                    reason.push_str(&format!(
                        "startupTaints {} (removed once ready, not counted)",
                        template.untolerated_startup.join(", ")
                    ));
                }
                let nodes_now = template
                    .nodes_now
                    .map_or_else(|| "?".to_owned(), |n| format!("{n} now"));
                rows.push([name, nodes_now, status.into(), reason]);
            }
            let header = [
                "POOL".to_owned(),
                "NODES".into(),
                "STATUS".into(),
                "REASON".into(),
            ];
            let widths: Vec<usize> = (0..4)
                .map(|i| {
                    rows.iter()
                        .chain([&header])
                        .map(|r| r[i].chars().count())
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            for row in [&header].into_iter().chain(rows.iter()) {
                let line: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .map(|(cell, w)| format!("{cell:<w$}"))
                    .collect();
                let _ = writeln!(out, "  {}", line.join("  ").trim_end());
            }
            out.push('\n');
        }
        if let Some(pools) = &self.pools {
            let _ = writeln!(
                out,
                "Daemon overhead (requests of every DaemonSet on the pool's nodes):"
            );
            for pool in pools {
                let shares: Vec<String> = pool
                    .shares
                    .iter()
                    .map(|(name, requested, allocatable)| {
                        let share = if *allocatable > 0 {
                            format!(" ({:.0}%)", *requested as f64 * 100.0 / *allocatable as f64)
                        } else {
                            String::new()
                        };
                        format!(
                            "{name} {} of {}{share}",
                            display(name, *requested),
                            display(name, *allocatable)
                        )
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "  {} ({}, {}): {}",
                    pool.name,
                    crate::words::count(pool.nodes, "node"),
                    crate::words::count(pool.daemon_pods, "daemon pod"),
                    if shares.is_empty() {
                        "nothing requested".to_owned()
                    } else {
                        shares.join(", ")
                    }
                );
            }
        }
        out
    }
}
