//! The pods already on each node, as the scheduler counts them: every pod bound to the
//! node (`spec.nodeName`) that has not `Succeeded` or `Failed`, terminating ones included.
//!
//! Each pod is a compact record (namespace, name, owner, priority, effective request,
//! host ports, labels for PodDisruptionBudgets, start time, whether it is terminating:
//! no Pod object, no status beyond that), and each node keeps aggregates beside its pods:
//! what they request in all, and what they request by priority. Whether a daemon pod fits
//! beside them is then a few sums (O(resources)), whether preemption could make room
//! O(distinct priorities on the node); only a node where preemption would work is looked
//! at pod by pod, to name the victims ([`crate::scheduling::preemption`]).
//!
//! Built from events (`apply`, `delete`, `reset`) like the nodes, by the pod watch of
//! `serve --cluster` and by the snapshot loader (`--pods`). Nodes are kept behind `Arc`s,
//! so a copy of the inventory shares every node no event touched.

use std::collections::HashMap;
use std::sync::Arc;

use crate::scheduling::ports::HostPort;
use crate::scheduling::preemption::{Budget, NodePod};
use crate::scheduling::resources::ResourceList;

/// The controller that owns a pod (`ownerReferences` with `controller: true`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    pub kind: Arc<str>,
    pub name: Arc<str>,
}

/// A pod as occupancy keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRecord {
    pub pod: NodePod,
    pub owner: Option<Owner>,
    /// `metadata.deletionTimestamp` is set: terminating, still counted.
    pub terminating: bool,
}

impl PodRecord {
    /// Whether the DaemonSet `namespace/name` owns this pod.
    pub fn owned_by_daemonset(&self, namespace: &str, name: &str) -> bool {
        self.pod.namespace.as_ref() == namespace
            && self
                .owner
                .as_ref()
                .is_some_and(|o| o.kind.as_ref() == "DaemonSet" && o.name.as_ref() == name)
    }
}

/// What the pods of one priority on a node take.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Share {
    pub priority: i32,
    pub requests: ResourceList,
    pub pods: u64,
    pub ports: Vec<HostPort>,
}

/// The pods of one node and their aggregates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeOccupancy {
    pods: Vec<PodRecord>,
    /// Indices of `pods`, most important first (`MoreImportantPod`, a pod without a start
    /// time last among its priority, as "started now" is after every start): computed when
    /// first asked after a change, so preemption never sorts a node's pods per evaluation.
    order: std::sync::OnceLock<Vec<u32>>,
    /// By priority, lowest first.
    shares: Vec<Share>,
    requested: ResourceList,
    /// `requested`'s cpu and memory, read without a map lookup (the fit check of every
    /// node asks for them).
    cpu: i128,
    memory: i128,
}

fn add_into(into: &mut ResourceList, other: &ResourceList, sign: i128) {
    for (name, value) in other {
        // Looked up before inserting: `entry` would copy the name for every pod added,
        // and a node's resources are nearly always there already.
        if let Some(sum) = into.get_mut(name) {
            *sum = sum.saturating_add(sign * *value);
            if *sum == 0 {
                into.remove(name);
            }
        } else if *value != 0 {
            into.insert(name.clone(), sign * *value);
        }
    }
}

impl NodeOccupancy {
    pub fn pods(&self) -> &[PodRecord] {
        &self.pods
    }

    pub fn pod_count(&self) -> u64 {
        self.pods.len() as u64
    }

    /// The pods, most important first.
    pub fn by_importance(&self) -> impl Iterator<Item = &PodRecord> {
        self.order
            .get_or_init(|| {
                let mut order: Vec<u32> = (0..self.pods.len() as u32).collect();
                order.sort_by(|&a, &b| {
                    crate::scheduling::preemption::more_important(
                        &self.pods[a as usize].pod,
                        &self.pods[b as usize].pod,
                        i64::MAX,
                    )
                });
                order
            })
            .iter()
            .map(|&i| &self.pods[i as usize])
    }

    /// What every pod on the node requests together.
    pub fn requested(&self) -> &ResourceList {
        &self.requested
    }

    /// What the pods request in all of cpu (millicores) and memory (bytes).
    pub fn cpu_and_memory(&self) -> (i128, i128) {
        (self.cpu, self.memory)
    }

    fn refresh_totals(&mut self) {
        self.cpu = self.requested.get("cpu").copied().unwrap_or(0);
        self.memory = self.requested.get("memory").copied().unwrap_or(0);
    }

    /// The requests, pod counts and host ports by priority, lowest first.
    pub fn shares(&self) -> &[Share] {
        &self.shares
    }

    /// Every host port in use.
    pub fn ports(&self) -> impl Iterator<Item = &HostPort> {
        self.shares.iter().flat_map(|s| s.ports.iter())
    }

    fn add(&mut self, record: PodRecord) {
        self.order = std::sync::OnceLock::new();
        add_into(&mut self.requested, &record.pod.requests, 1);
        let priority = record.pod.priority;
        let at = match self.shares.binary_search_by_key(&priority, |s| s.priority) {
            Ok(at) => at,
            Err(at) => {
                self.shares.insert(
                    at,
                    Share {
                        priority,
                        ..Share::default()
                    },
                );
                at
            }
        };
        let share = &mut self.shares[at];
        add_into(&mut share.requests, &record.pod.requests, 1);
        share.pods += 1;
        share.ports.extend(record.pod.host_ports.iter().cloned());
        self.pods.push(record);
        self.refresh_totals();
    }

    /// Removes the pod `namespace/name`; false when it is not here.
    fn remove(&mut self, namespace: &str, name: &str) -> bool {
        let Some(index) = self
            .pods
            .iter()
            .position(|p| p.pod.namespace.as_ref() == namespace && p.pod.name.as_ref() == name)
        else {
            return false;
        };
        self.order = std::sync::OnceLock::new();
        let record = self.pods.swap_remove(index);
        add_into(&mut self.requested, &record.pod.requests, -1);
        if let Ok(at) = self
            .shares
            .binary_search_by_key(&record.pod.priority, |s| s.priority)
        {
            let share = &mut self.shares[at];
            add_into(&mut share.requests, &record.pod.requests, -1);
            share.pods -= 1;
            for port in record.pod.host_ports.iter() {
                if let Some(p) = share.ports.iter().position(|q| q == port) {
                    share.ports.swap_remove(p);
                }
            }
            if share.pods == 0 {
                self.shares.remove(at);
            }
        }
        self.refresh_totals();
        true
    }
}

/// An [`Occupancy`] made one pod at a time, exactly as [`Occupancy::reset`] makes it from
/// all of them: a reader can count pods as it reads them (doctor's loading thread).
pub struct OccupancyBuilder {
    occupancy: Occupancy,
    seen: std::collections::HashSet<(Arc<str>, Arc<str>), foldhash::fast::RandomState>,
}

impl Default for OccupancyBuilder {
    fn default() -> Self {
        Self::on(Occupancy::default())
    }
}

impl OccupancyBuilder {
    /// Starts from `occupancy` without its pods (its budgets kept).
    fn on(mut occupancy: Occupancy) -> Self {
        occupancy.nodes.clear();
        occupancy.pods = 0;
        occupancy.synced = true;
        OccupancyBuilder {
            occupancy,
            seen: Default::default(),
        }
    }

    /// A pod bound to `node`. A pod listed twice keeps its last record (a list never has
    /// one twice; a hand-made file may).
    pub fn add(&mut self, node: Arc<str>, record: PodRecord) {
        let key = (record.pod.namespace.clone(), record.pod.name.clone());
        if self.seen.insert(key) {
            // New: no search of the node's pods for one to replace.
            Arc::make_mut(self.occupancy.nodes.entry(node).or_default()).add(record);
            self.occupancy.pods += 1;
        } else {
            self.occupancy.apply(&node, record);
        }
    }

    /// The nodes some pod is bound to so far.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.occupancy.nodes.keys().map(AsRef::as_ref)
    }

    /// Every pod added: the view is complete.
    pub fn finish(self) -> Occupancy {
        self.occupancy
    }
}

/// Every node's pods and the PodDisruptionBudgets of the cluster.
#[derive(Clone, Debug, Default)]
pub struct Occupancy {
    /// Looked up once per judged node per evaluation: foldhash (its quality variant: node
    /// names differ in a few middle bytes, which the fast variant hashes into collisions).
    nodes: HashMap<Arc<str>, Arc<NodeOccupancy>, foldhash::quality::RandomState>,
    budgets: Arc<Vec<Budget>>,
    budgets_known: bool,
    pods: usize,
    /// A full list of the pods was taken ([`Occupancy::reset`]): until then nothing is
    /// known, and nothing is judged (budgets may arrive first).
    synced: bool,
}

impl Occupancy {
    /// The pods of `node`, if any pod is bound to it.
    pub fn node(&self, node: &str) -> Option<&NodeOccupancy> {
        self.nodes.get(node).map(Arc::as_ref)
    }

    /// The pods of `node`, shared.
    pub fn node_shared(&self, node: &str) -> Option<Arc<NodeOccupancy>> {
        self.nodes.get(node).cloned()
    }

    /// Every node some pod is bound to, with its pods.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &NodeOccupancy)> {
        self.nodes
            .iter()
            .map(|(name, node)| (name.as_ref(), node.as_ref()))
    }

    pub fn pod_count(&self) -> usize {
        self.pods
    }

    /// The pod `namespace/name` on `node`, if it is there.
    pub fn find(&self, node: &str, namespace: &str, name: &str) -> Option<&PodRecord> {
        self.nodes
            .get(node)?
            .pods
            .iter()
            .find(|p| p.pod.namespace.as_ref() == namespace && p.pod.name.as_ref() == name)
    }

    /// Adds a pod bound to `node`, or replaces the one of the same namespace and name
    /// there.
    pub fn apply(&mut self, node: &Arc<str>, record: PodRecord) {
        let entry = Arc::make_mut(self.nodes.entry(node.clone()).or_default());
        if !entry.remove(&record.pod.namespace, &record.pod.name) {
            self.pods += 1;
        }
        entry.add(record);
    }

    /// Removes a pod; unknown pods are ignored (a delete may race a relist).
    pub fn delete(&mut self, node: &str, namespace: &str, name: &str) {
        let Some(entry) = self.nodes.get_mut(node) else {
            return;
        };
        if Arc::make_mut(entry).remove(namespace, name) {
            self.pods -= 1;
        }
        if entry.pods.is_empty() {
            self.nodes.remove(node);
        }
    }

    /// Whether every pod is known (a full list was taken).
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Replaces every pod: the view is then complete. A pod listed twice keeps its last
    /// record (a list never has one twice; a hand-made file may).
    pub fn reset(&mut self, pods: impl IntoIterator<Item = (Arc<str>, PodRecord)>) {
        let mut builder = OccupancyBuilder::on(std::mem::take(self));
        for (node, record) in pods {
            builder.add(node, record);
        }
        *self = builder.finish();
    }

    /// The PodDisruptionBudgets preemption weighs (`None`: not known, and preemption is
    /// judged as if there were none, which the finding says).
    pub fn set_budgets(&mut self, budgets: Option<Vec<Budget>>) {
        self.budgets_known = budgets.is_some();
        self.budgets = Arc::new(budgets.unwrap_or_default());
    }

    /// The nodes whose pods differ from `before` (untouched nodes are shared, so this is
    /// pointer comparisons); `None` when the budgets differ, which can change any node's
    /// preemption.
    pub fn changed_nodes<'a>(&'a self, before: &'a Occupancy) -> Option<Vec<&'a str>> {
        if !Arc::ptr_eq(&self.budgets, &before.budgets)
            || self.budgets_known != before.budgets_known
        {
            return None;
        }
        let mut changed: Vec<&str> = self
            .nodes
            .iter()
            .filter(|(name, node)| {
                before
                    .nodes
                    .get(*name)
                    .is_none_or(|old| !Arc::ptr_eq(old, node))
            })
            .map(|(name, _)| name.as_ref())
            .collect();
        changed.extend(
            before
                .nodes
                .keys()
                .filter(|name| !self.nodes.contains_key(*name))
                .map(AsRef::as_ref),
        );
        Some(changed)
    }

    pub fn budgets(&self) -> &[Budget] {
        &self.budgets
    }

    pub fn budgets_known(&self) -> bool {
        self.budgets_known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, priority: i32, cpu: i128, port: Option<i64>) -> PodRecord {
        PodRecord {
            pod: NodePod {
                namespace: Arc::from("default"),
                name: Arc::from(name),
                priority,
                start_time: Some(1),
                requests: Arc::new([("cpu".to_string(), cpu)].into()),
                host_ports: Arc::from(
                    port.map(|port| HostPort {
                        protocol: "TCP".into(),
                        host_ip: String::new(),
                        port,
                    })
                    .into_iter()
                    .collect::<Vec<_>>(),
                ),
                labels: Arc::from(Vec::new()),
            },
            owner: None,
            terminating: false,
        }
    }

    #[test]
    fn aggregates_follow_every_apply_replace_and_delete() {
        let node: Arc<str> = Arc::from("n1");
        let mut occupancy = Occupancy::default();
        occupancy.apply(&node, record("a", 0, 100, Some(80)));
        occupancy.apply(&node, record("b", 10, 200, None));
        occupancy.apply(&node, record("c", 0, 300, None));
        let n = occupancy.node("n1").unwrap();
        assert_eq!(n.requested()["cpu"], 600);
        assert_eq!(n.pod_count(), 3);
        let shares: Vec<(i32, i128, u64)> = n
            .shares()
            .iter()
            .map(|s| (s.priority, s.requests["cpu"], s.pods))
            .collect();
        assert_eq!(shares, [(0, 400, 2), (10, 200, 1)]);
        assert_eq!(n.ports().count(), 1);
        // The same pod again replaces it (a MODIFIED event).
        occupancy.apply(&node, record("a", 5, 50, None));
        let n = occupancy.node("n1").unwrap();
        assert_eq!(occupancy.pod_count(), 3);
        assert_eq!(n.requested()["cpu"], 550);
        assert_eq!(n.ports().count(), 0);
        assert_eq!(n.shares().len(), 3);
        occupancy.delete("n1", "default", "c");
        occupancy.delete("n1", "default", "nope");
        occupancy.delete("elsewhere", "default", "a");
        let n = occupancy.node("n1").unwrap();
        assert_eq!(n.requested()["cpu"], 250);
        assert_eq!(
            n.shares().iter().map(|s| s.priority).collect::<Vec<_>>(),
            [5, 10]
        );
        assert_eq!(occupancy.pod_count(), 2);
        occupancy.delete("n1", "default", "a");
        occupancy.delete("n1", "default", "b");
        assert!(occupancy.node("n1").is_none());
        assert_eq!(occupancy.pod_count(), 0);
    }

    /// A copy shares every node an event does not touch.
    #[test]
    fn copies_share_untouched_nodes() {
        let mut occupancy = Occupancy::default();
        let (one, two): (Arc<str>, Arc<str>) = (Arc::from("n1"), Arc::from("n2"));
        occupancy.apply(&one, record("a", 0, 100, None));
        occupancy.apply(&two, record("b", 0, 100, None));
        let before = occupancy.clone();
        occupancy.apply(&one, record("c", 0, 100, None));
        assert!(std::ptr::eq(
            before.node("n2").unwrap(),
            occupancy.node("n2").unwrap()
        ));
        assert_eq!(before.node("n1").unwrap().pod_count(), 1);
        assert_eq!(occupancy.node("n1").unwrap().pod_count(), 2);
    }
}
