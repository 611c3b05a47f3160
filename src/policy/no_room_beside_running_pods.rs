//! DSG007 no-room-beside-running-pods: the daemon pod fits a node's allocatable (DSG005
//! is silent there) but not beside the pods already running on it, so it stays Pending,
//! or gets there only by preempting some of them.
//!
//! On each targeted, tolerated node the scheduler's filters decide, in their own words
//! (`Too many pods`, `Insufficient cpu`, `node(s) didn't have free ports for the requested
//! pod ports`); where they fail, kube-scheduler's default preemption for a pod pinned to
//! one node ([`crate::scheduling::preemption`]) says which pods it would evict, or why
//! it cannot. The DaemonSet's own pods do not count (an update replaces them), except
//! with `maxSurge`, where the old pod stays beside the new one. The daemon pod's priority
//! is what admission gives it after DSG101's mutation; its `preemptionPolicy` is the
//! template's, else its class's.
//!
//! `action` (default warn) when some node leaves the pod Pending; when every node either
//! fits or makes room by preemption, the finding is `info`: it names what will be evicted.
//! Without the pods known (`--pods`, or the pod watch of `serve --cluster`), the rule is
//! silent: the adapters say once that nothing is known.
//!
//! Cost: a node whose free room (one sum kept per node) holds the pod is done in
//! O(resources); only the others are looked at pod by pod.

use std::collections::BTreeMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use super::daemonset::{DaemonSet, TEMPLATE_SPEC};
use super::requests_exceed_allocatable::{effective_requests, surges};
use super::{Context, Finding, Rule, Severity};
use crate::inventory::Inventory;
use crate::scheduling::ports::HostPort;
use crate::scheduling::preemption::{Blocked, Incoming, NodeJudge, NodePod, Room};
use crate::scheduling::resources::{ResourceList, display, insufficient};
use crate::words::count;

/// Pools shown in the message before "… and N more".
const MAX_POOLS: usize = 6;
/// Victims named per pool in the message (every one is in `coverage -o json`).
const MAX_VICTIMS_SHOWN: usize = 3;

/// A pod preemption would evict, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evicted {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    pub priority: i32,
    pub pdb_violated: bool,
}

/// Why the pod stays Pending on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stuck {
    pub node: u32,
    /// The scheduler's words.
    pub reasons: Vec<String>,
    pub blocked: Blocked,
    /// The pods that would have to move for it to fit (largest first, at most a few):
    /// those holding a port it wants, else those requesting most of what is short.
    pub in_the_way: Vec<(Arc<str>, Arc<str>)>,
}

/// The daemon pod beside the pods already running, node by node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomReport {
    pub requests: ResourceList,
    /// `None` when its PriorityClass is not known (the inventory has no PriorityClasses):
    /// preemption is then not judged.
    pub priority: Option<i32>,
    pub never_preempts: bool,
    /// The nodes judged: targeted, tolerated, and whose allocatable holds the pod.
    pub judged: RoaringBitmap,
    pub fits: RoaringBitmap,
    pub preempts: Vec<(u32, Vec<Evicted>)>,
    pub pending: Vec<Stuck>,
    /// Whether PodDisruptionBudgets were known (else preemption ignored them).
    pub budgets_known: bool,
}

/// A resource the fit check reads on every node: cpu and memory without a map lookup.
#[derive(Clone, Copy)]
enum Requested<'a> {
    Cpu,
    Memory,
    Other(&'a str),
}

impl<'a> Requested<'a> {
    fn of(name: &'a str) -> Self {
        match name {
            crate::scheduling::resources::CPU => Requested::Cpu,
            "memory" => Requested::Memory,
            other => Requested::Other(other),
        }
    }

    /// What the pods on `node` request of it.
    fn on(self, node: &crate::inventory::NodeOccupancy) -> i128 {
        match self {
            Requested::Cpu => node.cpu_and_memory().0,
            Requested::Memory => node.cpu_and_memory().1,
            Requested::Other(name) => node.requested().get(name).copied().unwrap_or(0),
        }
    }
}

/// The host ports the template's pods bind.
fn host_ports(object: &DaemonSet) -> Vec<HostPort> {
    let pod = object.pod();
    let mut ports: Vec<HostPort> = pod
        .containers
        .iter()
        .chain(pod.init_containers.iter())
        .flat_map(|c| c.ports.iter())
        .filter_map(|p| {
            HostPort::of(
                p.container_port,
                p.host_port,
                p.protocol.as_deref(),
                p.host_ip.as_deref(),
                pod.host_network,
            )
        })
        .collect();
    ports.sort();
    ports.dedup();
    ports
}

/// The daemon pod's priority and whether it never preempts, as admission resolves them
/// with `injected_class` (DSG101's mutation) in place of an absent class. `Some(None)`
/// when the class is not known to an inventory that has no PriorityClasses; `None` when
/// the class does not exist in one that does (DSG004: every pod is refused).
fn daemon_priority(
    object: &DaemonSet,
    injected_class: Option<&str>,
    inventory: &Inventory,
) -> Option<(Option<i32>, bool)> {
    let pod = object.pod();
    let class = pod
        .priority_class_name
        .as_deref()
        .filter(|c| !c.is_empty())
        .or(injected_class);
    let template_never = pod.preemption_policy.as_deref().map(|p| p == "Never");
    match inventory.admitted_priority(class) {
        Some((value, class_never)) => Some((
            Some(pod.priority.unwrap_or(value)),
            template_never.unwrap_or(class_never),
        )),
        None if inventory.synced().priority_classes => None,
        None => Some((pod.priority, template_never.unwrap_or(false))),
    }
}

/// Where the pods already running leave room for the DaemonSet's pod, on the nodes of
/// `runnable` whose allocatable holds it. `None` when the pods are not known, its
/// resources cannot be read, or its PriorityClass does not exist.
pub fn room(
    object: &DaemonSet,
    runnable: &RoaringBitmap,
    injected_class: Option<&str>,
    context: &Context<'_>,
) -> Option<RoomReport> {
    let inventory = context.inventory;
    let occupancy = inventory.occupancy()?;
    let requests = effective_requests(object, inventory, context.namespace).ok()?;
    let (priority, never_preempts) = daemon_priority(object, injected_class, inventory)?;
    let ports = host_ports(object);
    let incoming = Incoming {
        requests: &requests,
        host_ports: &ports,
        priority: priority.unwrap_or(0),
        // An unknown priority is not guessed: no preemption is claimed.
        never_preempts: never_preempts || priority.is_none(),
    };
    let surge = surges(object);
    let (namespace, name) = (context.namespace, object.name());
    let mut report = RoomReport {
        requests: requests.clone(),
        priority,
        never_preempts,
        budgets_known: occupancy.budgets_known(),
        ..RoomReport::default()
    };
    for (allocatable, nodes) in inventory.allocatable_sets() {
        // DSG005's nodes: the pod alone does not fit there.
        if !insufficient(&requests, allocatable, &ResourceList::new(), 0).is_empty() {
            continue;
        }
        // What the pods already there may request at most, per resource it asks for, for
        // the pod to fit: the common answer is a few comparisons per node.
        let limits: Vec<(Requested<'_>, i128)> = requests
            .iter()
            .filter(|(name, value)| {
                name.as_str() != crate::scheduling::resources::PODS && **value > 0
            })
            .map(|(name, value)| {
                (
                    Requested::of(name),
                    allocatable
                        .get(name)
                        .copied()
                        .unwrap_or(0)
                        .saturating_sub(*value),
                )
            })
            .collect();
        let pod_limit = allocatable
            .get(crate::scheduling::resources::PODS)
            .map(|cap| cap - 1);
        let nodes = nodes & runnable;
        report.judged |= &nodes;
        let mut judge = NodeJudge::new(&incoming, allocatable);
        let mut pods: Vec<&NodePod> = Vec::new();
        for (done, slot) in nodes.iter().enumerate() {
            if done % 256 == 255 && context.past_deadline() {
                return None;
            }
            let Some(node) = inventory.occupancy_of_slot(slot) else {
                continue;
            };
            // Every pod counted, its own included, is the worst case: room there is room.
            let roomy = pod_limit.is_none_or(|limit| i128::from(node.pod_count()) <= limit)
                && limits
                    .iter()
                    .all(|(resource, limit)| resource.on(node) <= *limit)
                && (ports.is_empty()
                    || !crate::scheduling::ports::ports_conflict(&ports, node.ports()));
            if roomy {
                continue;
            }
            pods.clear();
            pods.extend(
                node.by_importance()
                    .filter(|r| surge || !r.owned_by_daemonset(namespace, name))
                    .map(|r| &r.pod),
            );
            match judge.room(&incoming, &pods, occupancy.budgets()) {
                Room::Fits => {}
                Room::Preempts { victims, .. } => {
                    let evicted = victims
                        .iter()
                        .map(|v| Evicted {
                            namespace: pods[v.pod].namespace.clone(),
                            name: pods[v.pod].name.clone(),
                            priority: pods[v.pod].priority,
                            pdb_violated: v.pdb_violated,
                        })
                        .collect();
                    report.preempts.push((slot, evicted));
                }
                Room::Pending { reasons, blocked } => {
                    let in_the_way = in_the_way(&incoming, allocatable, &pods);
                    report.pending.push(Stuck {
                        node: slot,
                        reasons,
                        blocked,
                        in_the_way,
                    });
                }
            }
        }
    }
    report.preempts.sort_by_key(|(slot, _)| *slot);
    report.pending.sort_by_key(|s| s.node);
    // Every judged node fits but those that preempt or stay Pending: set work, not a
    // bitmap insert per node.
    let mut troubled = RoaringBitmap::new();
    troubled.extend(report.preempts.iter().map(|(slot, _)| *slot));
    troubled.extend(report.pending.iter().map(|s| s.node));
    report.fits = &report.judged - &troubled;
    Some(report)
}

/// The pods whose moving would make room: those holding a wanted port, else the largest
/// requests of the first short resource.
fn in_the_way(
    incoming: &Incoming<'_>,
    allocatable: &ResourceList,
    pods: &[&NodePod],
) -> Vec<(Arc<str>, Arc<str>)> {
    let mut holders: Vec<&NodePod> = pods
        .iter()
        .copied()
        .filter(|p| {
            crate::scheduling::ports::ports_conflict(incoming.host_ports, p.host_ports.iter())
        })
        .collect();
    if holders.is_empty() {
        let total: ResourceList = pods.iter().fold(ResourceList::new(), |mut sum, p| {
            for (k, v) in p.requests.iter() {
                *sum.entry(k.clone()).or_insert(0) += v;
            }
            sum
        });
        let short = insufficient(incoming.requests, allocatable, &total, pods.len() as u64);
        if let Some(resource) = short.into_iter().next() {
            holders = pods.to_vec();
            if resource != crate::scheduling::resources::PODS {
                holders.sort_by_key(|p| std::cmp::Reverse(p.requests.get(&resource).copied()));
            }
        }
    }
    holders
        .into_iter()
        .take(MAX_VICTIMS_SHOWN)
        .map(|p| (p.namespace.clone(), p.name.clone()))
        .collect()
}

pub(crate) fn check(
    object: &DaemonSet,
    runnable: &RoaringBitmap,
    injected_class: Option<&str>,
    context: &Context<'_>,
    findings: &mut Vec<Finding>,
) {
    let Some(action_severity) =
        Severity::of(context.config.rules.no_room_beside_running_pods.action)
    else {
        return;
    };
    let Some(report) = room(object, runnable, injected_class, context) else {
        return;
    };
    if report.preempts.is_empty() && report.pending.is_empty() {
        return;
    }
    let severity = if report.pending.is_empty() {
        Severity::Info
    } else {
        action_severity
    };
    let pools = &context.config.rules.untolerated_taints.pool_label_keys;
    let inventory = context.inventory;
    let mut trouble = RoaringBitmap::new();
    trouble.extend(report.preempts.iter().map(|(slot, _)| *slot));
    trouble.extend(report.pending.iter().map(|s| s.node));
    let split = inventory.split_by_pool(&report.judged, pools);
    let mut lines = Vec::new();
    let mut atoms = Vec::new();
    let mut blocked_kinds: BTreeMap<&'static str, ()> = BTreeMap::new();
    let mut shown = 0usize;
    for (pool, nodes) in split.iter() {
        if nodes.is_disjoint(&trouble) {
            continue;
        }
        shown += 1;
        if shown > MAX_POOLS {
            continue;
        }
        let place = pool.as_ref().map_or_else(
            || "nodes without a pool label".into(),
            |p| format!("pool {p}"),
        );
        let fits = nodes.intersection_len(&report.fits);
        let mut parts = vec![format!("{fits} {}", if fits == 1 { "fits" } else { "fit" })];
        let preempts: Vec<&(u32, Vec<Evicted>)> = report
            .preempts
            .iter()
            .filter(|(slot, _)| nodes.contains(*slot))
            .collect();
        if !preempts.is_empty() {
            let evicted: usize = preempts.iter().map(|(_, v)| v.len()).sum();
            let violating: usize = preempts
                .iter()
                .flat_map(|(_, v)| v.iter())
                .filter(|v| v.pdb_violated)
                .count();
            let (slot, victims) = preempts[0];
            let named: Vec<String> = victims
                .iter()
                .take(MAX_VICTIMS_SHOWN)
                .map(|v| {
                    format!(
                        "{}/{} (priority {}{})",
                        v.namespace,
                        v.name,
                        v.priority,
                        if v.pdb_violated {
                            ", violates its PodDisruptionBudget"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            let more = victims.len().saturating_sub(MAX_VICTIMS_SHOWN);
            parts.push(format!(
                "{} only by preempting {}{} (e.g. on {}: {}{})",
                count(preempts.len(), "node"),
                count(evicted, "pod"),
                if violating > 0 {
                    format!(", {violating} against a PodDisruptionBudget")
                } else {
                    String::new()
                },
                inventory.node(*slot).name,
                named.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ));
            atoms.push(format!("preempts@{place}"));
        }
        let stuck: Vec<&Stuck> = report
            .pending
            .iter()
            .filter(|s| nodes.contains(s.node))
            .collect();
        if let Some(first) = stuck.first() {
            let why = match &first.blocked {
                Blocked::PolicyNever if report.priority.is_none() => {
                    blocked_kinds.insert("unknown", ());
                    "its priority is not known, so preemption is not judged".to_owned()
                }
                Blocked::PolicyNever => {
                    blocked_kinds.insert("never", ());
                    "its preemptionPolicy is Never, so it waits".to_owned()
                }
                Blocked::NoLowerPriority => {
                    blocked_kinds.insert("priority", ());
                    format!(
                        "no pod there has a priority below its {}, so preemption cannot help",
                        report.priority.unwrap_or(0)
                    )
                }
                Blocked::StillNoRoom(_) => {
                    blocked_kinds.insert("still", ());
                    "evicting every lower-priority pod would still not make room".to_owned()
                }
            };
            let movers: Vec<String> = first
                .in_the_way
                .iter()
                .map(|(ns, name)| format!("{ns}/{name}"))
                .collect();
            parts.push(format!(
                "{} {} Pending (e.g. {}: {}; {why}{})",
                count(stuck.len(), "node"),
                if stuck.len() == 1 { "stays" } else { "stay" },
                inventory.node(first.node).name,
                first.reasons.join(", "),
                if movers.is_empty() {
                    String::new()
                } else {
                    format!("; in the way: {}", movers.join(", "))
                }
            ));
            atoms.push(format!("pending@{place}"));
        }
        lines.push(format!("  {place}: {}", parts.join("; ")));
    }
    if shown > MAX_POOLS {
        lines.push(format!("  … and {} more pools", shown - MAX_POOLS));
    }
    let asked = describe(&report.requests);
    let priority = report.priority.map_or_else(
        || "priority unknown".to_owned(),
        |p| format!("priority {p}"),
    );
    let judged = report.judged.len();
    let headline = if report.pending.is_empty() {
        format!(
            "the pod ({asked}, {priority}) gets onto {} of the {} it would run on only by preempting pods already there:",
            count(report.preempts.len(), "node"),
            count(judged, "node"),
        )
    } else {
        format!(
            "the pod ({asked}, {priority}) has no room beside the pods already running on {} of the {} it would run on: it stays Pending there:",
            report.pending.len(),
            count(judged, "node"),
        )
    };
    let mut fix = Vec::new();
    if blocked_kinds.contains_key("priority") || blocked_kinds.contains_key("unknown") {
        fix.push("give it a PriorityClass above the pods in its way (a node agent usually runs as system-node-critical) so the scheduler preempts them");
    }
    if blocked_kinds.contains_key("never") {
        fix.push("let it preempt (preemptionPolicy: PreemptLowerPriority)");
    }
    if !report.pending.is_empty() {
        fix.push("lower its requests, or move the pods in its way off those nodes");
    }
    if !report.preempts.is_empty() {
        fix.push("if the evicted pods matter, lower its requests or protect them with a PodDisruptionBudget (preemption prefers pods it does not violate)");
    }
    if !report.budgets_known && !report.preempts.is_empty() {
        fix.push("PodDisruptionBudgets were not given (--pdbs), so none were weighed");
    }
    let mut text = vec![headline];
    text.extend(lines);
    text.push(format!("{}.", capitalise(&fix.join("; "))));
    findings.push(Finding {
        rule: Rule::NoRoomBesideRunningPods,
        severity,
        pointer: format!("{TEMPLATE_SPEC}/containers"),
        message: text.join("\n"),
        atoms,
    });
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `requests cpu 500m, memory 256Mi per pod`, or `one more pod` when it requests nothing.
fn describe(requests: &ResourceList) -> String {
    let listed: Vec<String> = requests
        .iter()
        .filter(|(_, v)| **v != 0)
        .map(|(name, value)| format!("{name} {}", display(name, *value)))
        .collect();
    if listed.is_empty() {
        "one more pod".into()
    } else {
        format!("requests {}", listed.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::config::Config;
    use crate::inventory::pods::{Interner, SlimPod};
    use crate::inventory::{NodeUpdate, Occupancy, PriorityClass};
    use crate::policy::{Phase, Verdict, evaluate};
    use crate::scheduling::ports::FREE_PORTS_REASON;
    use crate::scheduling::preemption::Budget;
    use crate::scheduling::selector::LabelSelector;

    /// Two pools of 4 cpus, 8 GiB, 10 pods each: `a-0..a-2` and `b-0..b-1`; classes
    /// `high` (1000) and `low` (10, the global default) and `dsguard-default` (100).
    fn inventory() -> Inventory {
        let mut inventory = Inventory::new();
        let node = |name: &str, pool: &str| {
            let mut node = NodeUpdate::of(name, &[("karpenter.sh/nodepool", pool)], &[]);
            node.allocatable = Some(
                [
                    ("cpu".to_string(), 4000),
                    ("memory".to_string(), 8 << 30),
                    ("pods".to_string(), 10),
                ]
                .into(),
            );
            node
        };
        inventory.reset_nodes([
            node("a-0", "a"),
            node("a-1", "a"),
            node("a-2", "a"),
            node("b-0", "b"),
            node("b-1", "b"),
        ]);
        let class = |name: &str, value: i64, global_default: bool| PriorityClass {
            name: name.into(),
            value,
            global_default,
            never_preempts: false,
        };
        inventory.reset_priority_classes([
            class("high", 1000, false),
            class("low", 10, true),
            class("dsguard-default", 100, false),
        ]);
        inventory.reset_limit_ranges([]);
        inventory
    }

    /// A pod `name` on `node` asking for `cpu` at `priority`, started at `start`.
    fn pod(node: &str, name: &str, cpu: &str, priority: i32, extra: Value) -> Value {
        let mut pod = json!({
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "apps", "labels": {"app": name}},
            "spec": {"nodeName": node, "priority": priority,
                     "containers": [{"resources": {"requests": {"cpu": cpu}}}]},
            "status": {"phase": "Running", "startTime": "2026-12-01T10:00:00Z"}
        });
        if let (Value::Object(pod), Value::Object(extra)) = (&mut pod, extra) {
            for (key, value) in extra {
                pod.insert(key, value);
            }
        }
        pod
    }

    fn with_pods(
        mut inventory: Inventory,
        pods: &[Value],
        budgets: Option<Vec<Budget>>,
    ) -> Inventory {
        let mut interner = Interner::default();
        let mut occupancy = Occupancy::default();
        occupancy.reset(pods.iter().map(|p| {
            let slim: SlimPod = serde_json::from_value(p.clone()).unwrap();
            slim.record(&|_| Some(0), &mut interner).unwrap()
        }));
        occupancy.set_budgets(budgets);
        inventory.set_occupancy(Some(occupancy));
        inventory
    }

    fn daemonset(pod: Value, strategy: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "monitoring"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "updateStrategy": strategy,
                     "template": {"metadata": {"labels": {"app": "agent"}}, "spec": pod}}
        })
    }

    fn agent(cpu: &str, extra: Value) -> Value {
        let mut pod = json!({"containers": [{"name": "agent", "resources": {
            "requests": {"cpu": cpu}, "limits": {"cpu": cpu, "memory": "64Mi"}}}]});
        if let (Value::Object(pod), Value::Object(extra)) = (&mut pod, extra) {
            pod.extend(extra);
        }
        pod
    }

    fn judge(object: &Value, inventory: &Inventory) -> Verdict {
        let ds = DaemonSet::from_value(object).unwrap();
        evaluate(
            &ds,
            &Context {
                inventory,
                config: &Config::default(),
                namespace: "monitoring",
                phase: Phase::MutateThenValidate,
                quiet_when_unsynced: false,
                deadline: None,
            },
        )
    }

    fn dsg007(verdict: &Verdict) -> Option<&Finding> {
        verdict
            .findings
            .iter()
            .find(|f| f.rule == Rule::NoRoomBesideRunningPods)
    }

    fn report(object: &Value, inventory: &Inventory) -> RoomReport {
        let ds = DaemonSet::from_value(object).unwrap();
        let config = Config::default();
        let context = Context::offline(inventory, &config, "monitoring");
        let mut all = RoaringBitmap::new();
        all.insert_range(0..inventory.node_count() as u32);
        room(&ds, &all, Some("dsguard-default"), &context).unwrap()
    }

    fn names(inventory: &Inventory, nodes: impl IntoIterator<Item = u32>) -> Vec<String> {
        nodes
            .into_iter()
            .map(|slot| inventory.node(slot).name.to_string())
            .collect()
    }

    #[test]
    fn silent_without_pods_and_when_everything_fits() {
        let object = daemonset(agent("500m", json!({})), json!({}));
        assert!(dsg007(&judge(&object, &inventory())).is_none());
        let inventory = with_pods(
            inventory(),
            &[pod("a-0", "web", "1", 1000, json!({}))],
            None,
        );
        assert!(dsg007(&judge(&object, &inventory)).is_none());
        let report = report(&object, &inventory);
        assert_eq!(report.fits.len(), 5);
        assert_eq!(report.judged.len(), 5);
    }

    #[test]
    fn a_full_node_of_higher_priority_pods_leaves_it_pending_in_the_schedulers_words() {
        let inventory = with_pods(
            inventory(),
            &[
                pod("a-0", "big", "3800m", 1000, json!({})),
                pod("a-1", "small", "1", 1000, json!({})),
            ],
            None,
        );
        let object = daemonset(agent("500m", json!({})), json!({}));
        let verdict = judge(&object, &inventory);
        let finding = dsg007(&verdict).expect("DSG007");
        assert_eq!(finding.severity, Severity::Warn);
        assert!(finding.message.contains("pool a: 2 fit; 1 node stays Pending (e.g. a-0: Insufficient cpu; no pod there has a priority below its 100"), "{}", finding.message);
        assert!(
            finding.message.contains("in the way: apps/big"),
            "{}",
            finding.message
        );
        assert!(
            finding
                .message
                .contains("PriorityClass above the pods in its way")
        );
        assert!(
            !finding.message.contains("pool b"),
            "pools without trouble are not listed"
        );
        let report = report(&object, &inventory);
        assert_eq!(report.pending[0].reasons, ["Insufficient cpu"]);
        assert_eq!(report.pending[0].blocked, Blocked::NoLowerPriority);
    }

    #[test]
    fn lower_priority_pods_are_preempted_and_the_finding_is_info() {
        // DSG101 injects dsguard-default (100): the pods at 10 are below it.
        let inventory = with_pods(
            inventory(),
            &[
                pod("b-0", "old", "2", 10, json!({})),
                pod(
                    "b-0",
                    "new",
                    "1800m",
                    10,
                    json!({"status": {"phase": "Running", "startTime": "2026-12-02T10:00:00Z"}}),
                ),
            ],
            None,
        );
        let object = daemonset(agent("500m", json!({})), json!({}));
        let verdict = judge(&object, &inventory);
        let finding = dsg007(&verdict).expect("DSG007");
        assert_eq!(finding.severity, Severity::Info);
        // The newer pod is less important: it is the victim, the older one is spared.
        assert!(
            finding
                .message
                .contains("1 node only by preempting 1 pod (e.g. on b-0: apps/new (priority 10))"),
            "{}",
            finding.message
        );
        let report = report(&object, &inventory);
        assert_eq!(report.preempts[0].1.len(), 1);
        assert_eq!(&*report.preempts[0].1[0].name, "new");
    }

    #[test]
    fn a_budget_steers_the_choice_and_is_reported() {
        let budget = Budget {
            namespace: "apps".into(),
            name: "old".into(),
            selector: LabelSelector {
                match_labels: [("app".to_string(), "old".to_string())].into(),
                match_expressions: Vec::new(),
            },
            disruptions_allowed: 0,
            disrupted_pods: Vec::new(),
        };
        let inventory = with_pods(
            inventory(),
            &[
                pod("b-0", "old", "1800m", 10, json!({})),
                pod(
                    "b-0",
                    "new",
                    "1800m",
                    10,
                    json!({"status": {"phase": "Running", "startTime": "2026-12-02T10:00:00Z"}}),
                ),
            ],
            Some(vec![budget]),
        );
        let object = daemonset(agent("500m", json!({})), json!({}));
        let report = report(&object, &inventory);
        // Either eviction makes room; the violating pod is reprieved first, so it stays.
        assert_eq!(&*report.preempts[0].1[0].name, "new");
        assert!(!report.preempts[0].1[0].pdb_violated);
    }

    #[test]
    fn its_own_pods_do_not_count_unless_it_surges() {
        let own = json!({"metadata": {"name": "agent-x", "namespace": "monitoring", "labels": {"app": "agent"},
            "ownerReferences": [{"kind": "DaemonSet", "name": "agent", "controller": true}]}});
        let inventory = with_pods(
            inventory(),
            &[
                pod("a-0", "web", "3200m", 1000, json!({})),
                pod("a-0", "agent-x", "500m", 100, own),
            ],
            None,
        );
        let plain = daemonset(agent("500m", json!({})), json!({}));
        assert!(
            dsg007(&judge(&plain, &inventory)).is_none(),
            "the update replaces its own pod"
        );
        let surging = daemonset(
            agent("500m", json!({})),
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}),
        );
        let report = report(&surging, &inventory);
        assert_eq!(
            names(&inventory, report.pending.iter().map(|s| s.node)),
            ["a-0"]
        );
    }

    #[test]
    fn host_ports_pod_counts_and_never_in_the_schedulers_words() {
        let port = json!({"spec": {"nodeName": "a-0", "priority": 1000, "containers": [
            {"ports": [{"containerPort": 9100, "hostPort": 9100}]}]}});
        let mut pods = vec![pod("a-0", "exporter", "0", 1000, port)];
        for i in 0..10 {
            pods.push(pod("b-1", &format!("p{i}"), "0", 0, json!({})));
        }
        let inventory = with_pods(inventory(), &pods, None);
        let object = daemonset(
            agent(
                "100m",
                json!({"containers": [{"name": "agent", "ports": [{"containerPort": 9100, "hostPort": 9100}],
                "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}),
            ),
            json!({}),
        );
        let report = report(&object, &inventory);
        let reasons: Vec<(String, Vec<String>)> = report
            .pending
            .iter()
            .map(|s| (inventory.node(s.node).name.to_string(), s.reasons.clone()))
            .collect();
        assert_eq!(
            reasons,
            [("a-0".to_string(), vec![FREE_PORTS_REASON.to_string()])]
        );
        // b-1's ten pods are at priority 0, below 100: one is preempted for the pod count.
        assert_eq!(
            names(&inventory, report.preempts.iter().map(|p| p.0)),
            ["b-1"]
        );
        assert_eq!(report.preempts[0].1.len(), 1);
        // With preemptionPolicy Never it waits instead.
        let never = daemonset(
            agent("100m", json!({"preemptionPolicy": "Never"})),
            json!({}),
        );
        let report = super::tests::report(&never, &inventory);
        assert_eq!(report.pending[0].reasons, ["Too many pods"]);
        assert_eq!(report.pending[0].blocked, Blocked::PolicyNever);
        let finding = judge(&never, &inventory);
        assert!(
            dsg007(&finding)
                .unwrap()
                .message
                .contains("preemptionPolicy is Never")
        );
    }

    #[test]
    fn a_pod_too_big_for_the_node_alone_is_dsg005s_not_dsg007s() {
        let inventory = with_pods(
            inventory(),
            &[pod("a-0", "web", "1", 1000, json!({}))],
            None,
        );
        let object = daemonset(agent("5", json!({})), json!({}));
        let verdict = judge(&object, &inventory);
        assert!(dsg007(&verdict).is_none());
        assert!(
            verdict
                .findings
                .iter()
                .any(|f| f.rule == Rule::RequestsExceedAllocatable)
        );
    }
}
