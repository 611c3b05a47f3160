//! The cluster as the rules need it, and nothing more.
//!
//! Nodes are kept as compact records (name, labels, taints) in numbered slots; every
//! `label=value` has a bitset of the slots that carry it, and identical taint sets are
//! interned with a bitset of their nodes. A selector is then a handful of bitset ANDs and
//! ORs, and tolerations are checked once per distinct taint set (a cluster has few), never
//! once per node: the goal is microseconds at 5,000 nodes (BENCHMARKS.md).
//!
//! The inventory is built from events (`apply`, `delete`, `reset`) so that the cluster
//! watch and the snapshot loader feed it the same way. Label strings are interned: the
//! record and the index share one allocation per distinct key and value.

pub mod daemons;
mod dense;
pub mod occupancy;
pub mod pods;
mod query;
pub mod snapshot;
pub mod templates;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::scheduling::resources::ResourceList;
use crate::scheduling::selector::parse_go_int64;
use crate::scheduling::{NodeTemplate, Taint};
use dense::Dense;

pub use daemons::{DaemonLoad, NodeShape};
pub use occupancy::{NodeOccupancy, Occupancy, Owner, PodRecord};
pub use query::{
    BlockedGroup, Derived, MAX_REMEMBERED_KEY_BYTES, Placement, PoolSplit, Reach, ReachKey,
};
pub use templates::TemplatePlacement;

/// A node as events describe it: what the rules read, nothing else.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeUpdate {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// `status.allocatable`, rounded as the scheduler rounds it; `None` when the node
    /// states none (a hand-written snapshot): resource fit is then not judged there.
    pub allocatable: Option<ResourceList>,
}

#[cfg(test)]
impl NodeUpdate {
    /// A node from literals, for tests: `(key, value)` labels, `(key, value, effect)` taints.
    pub(crate) fn of(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str, &str)]) -> Self {
        Self {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            taints: taints.iter().map(|(k, v, e)| Taint::new(k, v, e)).collect(),
            allocatable: None,
        }
    }
}

/// A node as the inventory keeps it.
#[derive(Clone, Debug)]
pub struct NodeRecord {
    pub name: Arc<str>,
    /// Sorted by key.
    labels: Arc<[(Arc<str>, Arc<str>)]>,
    pub taints: Arc<[Taint]>,
    /// Interned: the nodes of one pool share one allocatable list.
    pub allocatable: Option<Arc<ResourceList>>,
}

impl NodeRecord {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| self.labels[i].1.as_ref())
    }

    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// The node as an update that would make it again: to change one thing of it and
    /// apply that (`coverage --what-if-taint`, tests, benches).
    pub fn to_update(&self) -> NodeUpdate {
        NodeUpdate {
            name: self.name.to_string(),
            labels: self
                .labels()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            taints: self.taints.to_vec(),
            allocatable: self.allocatable.as_deref().cloned(),
        }
    }
}

/// A PriorityClass: the fields admission looks at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriorityClass {
    pub name: String,
    pub value: i64,
    pub global_default: bool,
    /// `preemptionPolicy: Never`: its pods wait instead of preempting.
    pub never_preempts: bool,
}

/// The classes every API server creates at start-up and refuses to delete.
pub const SYSTEM_PRIORITY_CLASSES: [(&str, i64); 2] = [
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

/// A LimitRange, reduced to what LimitRanger gives containers (`type: Container`): the
/// resources with a default limit, and the default requests (DSG005).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitRange {
    pub namespace: String,
    pub name: String,
    pub default_limits: BTreeSet<String>,
    pub default_requests: ResourceList,
}

/// Which parts of the inventory hold a complete view. A rule that depends on a part that
/// is not synced does not deny (DSG001 is not evaluated while the inventory is not synced).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Synced {
    pub nodes: bool,
    pub priority_classes: bool,
    pub limit_ranges: bool,
}

impl Synced {
    /// Every part holds a complete view: what judging the cluster's DaemonSets waits for.
    pub fn all(&self) -> bool {
        self.nodes && self.priority_classes && self.limit_ranges
    }
}

#[derive(Default, Clone, Debug)]
struct LabelKeyIndex {
    present: RoaringBitmap,
    values: HashMap<Arc<str>, RoaringBitmap>,
    /// The values that read as integers (`Gt`/`Lt` parse them with Go's `ParseInt`), by
    /// number: a `Gt`/`Lt` requirement is a range of this tree, not a parse of every value.
    numeric: BTreeSet<(i64, Arc<str>)>,
    /// Dense copies of `present` and of the values many slots carry (see `dense`).
    dense_present: Option<Dense>,
    dense_values: HashMap<Arc<str>, Dense>,
}

impl LabelKeyIndex {
    /// Keeps the dense copies in step after `slot` joined or left `value` (and `present`)
    /// on an index of `slots` slots.
    fn update_dense(&mut self, value: &Arc<str>, slot: u32, joined: bool, slots: usize) {
        keep_dense(&mut self.dense_present, &self.present, slot, joined, slots);
        let mut copy = self.dense_values.remove(value);
        // A value no node carries any more is gone, and its copy with it.
        if let Some(nodes) = self.values.get(value) {
            keep_dense(&mut copy, nodes, slot, joined, slots);
            if let Some(copy) = copy {
                self.dense_values.insert(value.clone(), copy);
            }
        }
    }
}

/// One set's dense copy after `slot` joined or left it: updated, made, or dropped.
fn keep_dense(
    copy: &mut Option<Dense>,
    set: &RoaringBitmap,
    slot: u32,
    joined: bool,
    slots: usize,
) {
    match copy {
        Some(_) if dense::worth_dropping(set.len(), slots) => *copy = None,
        Some(dense) if joined => dense.insert(slot),
        Some(dense) => dense.remove(slot),
        None if dense::worth_keeping(set.len(), slots) => *copy = Some(Dense::of(set)),
        None => {}
    }
}

/// The nodes, indexed: compact records in numbered slots, a bitset of slots per
/// `label=value`, and interned taint sets with the slots that carry them.
#[derive(Default, Clone, Debug)]
pub struct NodeIndex {
    slots: Vec<Option<NodeRecord>>,
    free_slots: Vec<u32>,
    by_name: HashMap<Arc<str>, u32>,
    live: RoaringBitmap,
    /// `live` as a dense bitset, for selections computed densely.
    live_dense: Dense,
    /// Each key's index behind an `Arc`: copies of the index share the keys no update
    /// touched.
    label_index: HashMap<Arc<str>, Arc<LabelKeyIndex>>,
    taint_sets: HashMap<Arc<[Taint]>, RoaringBitmap>,
    /// Identical allocatable lists, interned, with the slots that have them: resource fit
    /// is judged once per shape, never once per node.
    allocatable_sets: HashMap<Arc<ResourceList>, RoaringBitmap>,
    /// Pool splits already computed on this version of the index (emptied by any change).
    pool_splits: query::PoolSplits,
    /// Other answers derived from this version of the index alone (emptied by any change).
    derived: query::Derived,
}

/// Nodes, autoscaler templates, priority classes and limit ranges, indexed for evaluation.
///
/// The node index sits behind an `Arc`: copying an inventory (every copy-on-write update
/// does) copies the small parts and shares the nodes, and a node change copies the index
/// only when someone still reads the old one. A relist builds a fresh index and moves it
/// in ([`Inventory::replace_nodes`]) without copying the old one. Read the nodes through
/// `Deref` (`inventory.targeted(...)`).
#[derive(Default, Clone, Debug)]
pub struct Inventory {
    nodes: Arc<NodeIndex>,
    /// Sorted by kind, namespace and name; shared between copies like the nodes.
    templates: Arc<Vec<NodeTemplate>>,
    /// See [`Inventory::templates_version`].
    templates_version: u64,
    priority_classes: BTreeMap<String, PriorityClass>,
    limit_ranges: BTreeMap<(String, String), LimitRange>,
    /// The DaemonSets of the cluster and the node shapes they make, when known
    /// (`--daemonsets`).
    daemon_loads: Option<Arc<daemons::DaemonLoads>>,
    /// Slots whose node changed since the loads were set (see `daemons`).
    stale_daemon_slots: RoaringBitmap,
    /// The pods already on each node, when known (`--pods`, or the pod watch).
    occupancy: Option<Arc<Occupancy>>,
    /// The same pods by node slot, built once per view of nodes and pods when a fit check
    /// first asks: every evaluation then reads a node's pods without hashing its name.
    occupancy_by_slot: std::sync::OnceLock<Arc<Vec<Option<Arc<NodeOccupancy>>>>>,
    synced: Synced,
}

impl std::ops::Deref for Inventory {
    type Target = NodeIndex;

    fn deref(&self) -> &NodeIndex {
        &self.nodes
    }
}

impl NodeIndex {
    pub fn node_count(&self) -> usize {
        self.by_name.len()
    }

    pub fn node_by_name(&self, name: &str) -> Option<&NodeRecord> {
        self.slot_of(name).map(|slot| self.node(slot))
    }

    /// Slots in use or free: every live slot is below this.
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn live_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.live.iter()
    }

    pub(crate) fn slot_of(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// The record in a live slot (slots come from this inventory's own bitsets).
    pub fn node(&self, slot: u32) -> &NodeRecord {
        self.slots[slot as usize]
            .as_ref()
            .expect("slot taken from a live bitset")
    }

    pub fn nodes(&self) -> impl Iterator<Item = &NodeRecord> {
        self.live.iter().map(|slot| self.node(slot))
    }

    /// Adds a node or replaces the one of the same name. A replaced node's labels, taints
    /// and allocatable that did not change are left where they are: the per-key indexes
    /// are shared between copies of the index, and an update touches only the keys whose
    /// value changed (a relabelled pool copies one key's index, not all of them).
    pub fn apply_node(&mut self, update: NodeUpdate) {
        self.pool_splits.clear();
        self.derived.clear();
        let (slot, old) = match self.by_name.get(update.name.as_str()) {
            Some(&slot) => (slot, self.slots[slot as usize].take()),
            None => match self.free_slots.pop() {
                Some(slot) => (slot, None),
                None => {
                    self.slots.push(None);
                    let slot = u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 nodes");
                    (slot, None)
                }
            },
        };
        let old_labels: &[(Arc<str>, Arc<str>)] = old.as_ref().map_or(&[], |r| &r.labels);
        // Both sorted by key: what was there and is no more leaves the index.
        for (key, value) in old_labels {
            if update.labels.get(key.as_ref()).map(String::as_str) != Some(value.as_ref()) {
                self.unindex_label(slot, key, value);
            }
        }
        let mut labels = Vec::with_capacity(update.labels.len());
        for (key, value) in update.labels {
            let kept = old_labels
                .binary_search_by(|(k, _)| k.as_ref().cmp(key.as_str()))
                .ok()
                .map(|i| &old_labels[i])
                .filter(|(_, v)| v.as_ref() == value);
            match kept {
                Some(pair) => labels.push(pair.clone()),
                None => labels.push(self.index_label(slot, key, value)),
            }
        }
        let mut taints = update.taints;
        taints.sort();
        taints.dedup();
        let taints: Arc<[Taint]> = match &old {
            Some(record) if record.taints.as_ref() == taints.as_slice() => record.taints.clone(),
            _ => {
                if let Some(record) = &old {
                    self.unindex_taints(slot, &record.taints);
                }
                let interned = match self.taint_sets.get_key_value(taints.as_slice()) {
                    Some((interned, _)) => interned.clone(),
                    None => Arc::from(taints),
                };
                self.taint_sets
                    .entry(interned.clone())
                    .or_default()
                    .insert(slot);
                interned
            }
        };
        let allocatable = match &old {
            Some(record) if record.allocatable.as_deref() == update.allocatable.as_ref() => {
                record.allocatable.clone()
            }
            _ => {
                if let Some(list) = old.as_ref().and_then(|r| r.allocatable.as_ref()) {
                    self.unindex_allocatable(slot, list);
                }
                update.allocatable.map(|list| {
                    let shared = match self.allocatable_sets.get_key_value(&list) {
                        Some((interned, _)) => interned.clone(),
                        None => Arc::new(list),
                    };
                    self.allocatable_sets
                        .entry(shared.clone())
                        .or_default()
                        .insert(slot);
                    shared
                })
            }
        };
        let name = match &old {
            Some(record) => record.name.clone(),
            None => Arc::from(update.name.as_str()),
        };
        self.live.insert(slot);
        self.live_dense.insert(slot);
        self.by_name.insert(name.clone(), slot);
        self.slots[slot as usize] = Some(NodeRecord {
            name,
            labels: labels.into(),
            taints,
            allocatable,
        });
    }

    /// Puts `slot` under `key=value`, interning both; returns the interned pair.
    fn index_label(&mut self, slot: u32, key: String, value: String) -> (Arc<str>, Arc<str>) {
        let key: Arc<str> = match self.label_index.get_key_value(key.as_str()) {
            Some((interned, _)) => interned.clone(),
            None => Arc::from(key),
        };
        let slots = self.slots.len();
        let index = Arc::make_mut(self.label_index.entry(key.clone()).or_default());
        index.present.insert(slot);
        let value = match index.values.get_key_value(value.as_str()) {
            Some((interned, _)) => interned.clone(),
            None => {
                let value: Arc<str> = Arc::from(value);
                if let Some(number) = parse_go_int64(&value) {
                    index.numeric.insert((number, value.clone()));
                }
                value
            }
        };
        index.values.entry(value.clone()).or_default().insert(slot);
        index.update_dense(&value, slot, true, slots);
        (key, value)
    }

    fn unindex_label(&mut self, slot: u32, key: &Arc<str>, value: &Arc<str>) {
        let slots = self.slots.len();
        let Some(shared) = self.label_index.get_mut(key) else {
            return;
        };
        let index = Arc::make_mut(shared);
        index.present.remove(slot);
        if let Some(nodes) = index.values.get_mut(value) {
            nodes.remove(slot);
            if nodes.is_empty() {
                index.values.remove(value);
                if let Some(number) = parse_go_int64(value) {
                    index.numeric.remove(&(number, value.clone()));
                }
            }
        }
        index.update_dense(value, slot, false, slots);
        if index.present.is_empty() {
            self.label_index.remove(key);
        }
    }

    fn unindex_taints(&mut self, slot: u32, taints: &Arc<[Taint]>) {
        if let Some(nodes) = self.taint_sets.get_mut(taints) {
            nodes.remove(slot);
            if nodes.is_empty() {
                self.taint_sets.remove(taints);
            }
        }
    }

    fn unindex_allocatable(&mut self, slot: u32, allocatable: &Arc<ResourceList>) {
        if let Some(nodes) = self.allocatable_sets.get_mut(allocatable) {
            nodes.remove(slot);
            if nodes.is_empty() {
                self.allocatable_sets.remove(allocatable);
            }
        }
    }

    /// Removes a node; unknown names are ignored (a delete may race a relist).
    pub fn delete_node(&mut self, name: &str) {
        self.pool_splits.clear();
        self.derived.clear();
        let Some(slot) = self.by_name.remove(name) else {
            return;
        };
        if let Some(record) = self.slots[slot as usize].take() {
            for (key, value) in record.labels.iter() {
                self.unindex_label(slot, key, value);
            }
            self.unindex_taints(slot, &record.taints);
            if let Some(allocatable) = &record.allocatable {
                self.unindex_allocatable(slot, allocatable);
            }
        }
        self.live.remove(slot);
        self.live_dense.remove(slot);
        self.free_slots.push(slot);
    }

    /// Every distinct allocatable list the nodes state, with the nodes that state it.
    pub fn allocatable_sets(&self) -> impl Iterator<Item = (&ResourceList, &RoaringBitmap)> {
        self.allocatable_sets
            .iter()
            .map(|(list, nodes)| (list.as_ref(), nodes))
    }

    /// Number of distinct taint sets among the nodes.
    pub fn taint_set_count(&self) -> usize {
        self.taint_sets.len()
    }
}

/// A node that differs between two views of the inventory: as it was and as it is
/// (`None` where it did not exist).
#[derive(Clone, Copy, Debug)]
pub struct NodeDifference<'a> {
    pub before: Option<&'a NodeRecord>,
    pub after: Option<&'a NodeRecord>,
    /// What else runs on the node changed (the node itself may not have): the pods bound
    /// to it, or the DaemonSets whose pods run there, so its overhead.
    pub occupants_changed: bool,
}

impl NodeRecord {
    /// Same labels, taints and allocatable (unchanged parts are shared, so mostly a
    /// pointer comparison).
    fn same_as(&self, other: &NodeRecord) -> bool {
        (Arc::ptr_eq(&self.labels, &other.labels) || self.labels == other.labels)
            && (Arc::ptr_eq(&self.taints, &other.taints) || self.taints == other.taints)
            && self.allocatable == other.allocatable
    }
}

impl Inventory {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn synced(&self) -> Synced {
        self.synced
    }

    /// The nodes that differ from `before`, when nothing but nodes differs (templates,
    /// PriorityClasses, LimitRanges and sync state the same; the daemon loads are left to
    /// [`Inventory::mark_overhead_changes`]): what lets the audit judge again only the
    /// DaemonSets those nodes can affect. `None` otherwise.
    pub fn node_changes_since<'a>(
        &'a self,
        before: &'a Inventory,
    ) -> Option<Vec<NodeDifference<'a>>> {
        // Pods that changed on some nodes are like changes of those nodes; the budgets or
        // the clock changing can change any preemption.
        let pods_changed: Vec<&str> = match (&self.occupancy, &before.occupancy) {
            (None, None) => Vec::new(),
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) => Vec::new(),
            (Some(a), Some(b)) => a.changed_nodes(b)?,
            _ => return None,
        };
        if self.synced != before.synced
            || !(Arc::ptr_eq(&self.templates, &before.templates)
                || self.templates == before.templates)
            || self.priority_classes != before.priority_classes
            || self.limit_ranges != before.limit_ranges
        {
            return None;
        }
        let mut changes: Vec<NodeDifference<'a>> = pods_changed
            .iter()
            .filter_map(|name| {
                let after = self.node_by_name(name);
                let before = before.node_by_name(name);
                (after.is_some() || before.is_some()).then_some(NodeDifference {
                    before,
                    after,
                    occupants_changed: true,
                })
            })
            .collect();
        if Arc::ptr_eq(&self.nodes, &before.nodes) {
            return Some(changes);
        }
        let difference =
            |old: Option<&'a NodeRecord>, new: Option<&'a NodeRecord>| NodeDifference {
                before: old,
                after: new,
                occupants_changed: false,
            };
        let mut kept = 0;
        for node in self.nodes() {
            match before.node_by_name(&node.name) {
                Some(old) if old.same_as(node) => kept += 1,
                Some(old) => {
                    kept += 1;
                    changes.push(difference(Some(old), Some(node)));
                }
                None => changes.push(difference(None, Some(node))),
            }
        }
        if kept < before.node_count() {
            changes.extend(
                before
                    .nodes()
                    .filter(|old| self.node_by_name(&old.name).is_none())
                    .map(|old| difference(Some(old), None)),
            );
        }
        Some(changes)
    }

    /// Adds a node or replaces the one of the same name.
    pub fn apply_node(&mut self, update: NodeUpdate) {
        self.occupancy_by_slot = std::sync::OnceLock::new();
        let name = update.name.clone();
        Arc::make_mut(&mut self.nodes).apply_node(update);
        if let Some(slot) = self.nodes.slot_of(&name) {
            self.daemon_loads_outdated_at(slot);
        }
    }

    /// Removes a node; unknown names are ignored (a delete may race a relist).
    pub fn delete_node(&mut self, name: &str) {
        if let Some(slot) = self.nodes.slot_of(name) {
            self.occupancy_by_slot = std::sync::OnceLock::new();
            Arc::make_mut(&mut self.nodes).delete_node(name);
            self.daemon_loads_outdated_at(slot);
        }
    }

    /// Replaces every node with `nodes` and marks the node view complete.
    pub fn reset_nodes(&mut self, nodes: impl IntoIterator<Item = NodeUpdate>) {
        let mut index = NodeIndex::default();
        for node in nodes {
            index.apply_node(node);
        }
        self.replace_nodes(index);
    }

    /// Moves in a node index built elsewhere (a relist) and marks the node view complete.
    pub fn replace_nodes(&mut self, index: NodeIndex) {
        self.occupancy_by_slot = std::sync::OnceLock::new();
        self.nodes = Arc::new(index);
        self.synced.nodes = true;
        // Every slot may hold another node now.
        if self.daemon_loads.is_some() {
            self.stale_daemon_slots
                .insert_range(0..u32::try_from(self.nodes.slot_count()).unwrap_or(u32::MAX));
        }
    }

    pub fn apply_priority_class(&mut self, class: PriorityClass) {
        self.priority_classes.insert(class.name.clone(), class);
    }

    pub fn delete_priority_class(&mut self, name: &str) {
        self.priority_classes.remove(name);
    }

    pub fn reset_priority_classes(&mut self, classes: impl IntoIterator<Item = PriorityClass>) {
        self.priority_classes = classes.into_iter().map(|c| (c.name.clone(), c)).collect();
        self.synced.priority_classes = true;
    }

    /// True when the class exists: a synced class, or one the API server always has.
    pub fn priority_class_exists(&self, name: &str) -> bool {
        self.priority_classes.contains_key(name)
            || SYSTEM_PRIORITY_CLASSES.iter().any(|(n, _)| *n == name)
    }

    /// The class the API server gives pods that name none (the lowest-valued
    /// `globalDefault` class, as the Priority admission plugin picks).
    pub fn global_default_priority_class(&self) -> Option<&PriorityClass> {
        self.priority_classes
            .values()
            .filter(|c| c.global_default)
            .min_by_key(|c| c.value)
    }

    pub fn apply_limit_range(&mut self, range: LimitRange) {
        self.limit_ranges
            .insert((range.namespace.clone(), range.name.clone()), range);
    }

    pub fn delete_limit_range(&mut self, namespace: &str, name: &str) {
        self.limit_ranges
            .remove(&(namespace.to_owned(), name.to_owned()));
    }

    pub fn reset_limit_ranges(&mut self, ranges: impl IntoIterator<Item = LimitRange>) {
        self.limit_ranges = ranges
            .into_iter()
            .map(|r| ((r.namespace.clone(), r.name.clone()), r))
            .collect();
        self.synced.limit_ranges = true;
    }

    /// The LimitRanges of a namespace (LimitRanger applies each of them to every pod).
    /// The requests LimitRanger fills in for a container of `namespace` that states none
    /// for a resource (each range in name order, a resource filled once).
    pub fn default_requests_in(&self, namespace: &str) -> ResourceList {
        let mut requests = ResourceList::new();
        for range in self.limit_ranges_in(namespace) {
            for (name, value) in &range.default_requests {
                requests.entry(name.clone()).or_insert(*value);
            }
        }
        requests
    }

    pub fn limit_ranges_in<'a>(
        &'a self,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a LimitRange> {
        self.limit_ranges
            .range((namespace.to_owned(), String::new())..)
            .take_while(move |((ns, _), _)| ns == namespace)
            .map(|(_, range)| range)
    }

    /// The pods already on each node, when known (a full list was taken).
    pub fn occupancy(&self) -> Option<&Occupancy> {
        self.occupancy.as_deref().filter(|o| o.synced())
    }

    /// Sets (or forgets) the pods already on each node.
    pub fn set_occupancy(&mut self, occupancy: Option<Occupancy>) {
        self.occupancy_by_slot = std::sync::OnceLock::new();
        self.occupancy = occupancy.map(Arc::new);
    }

    /// Changes the pods in place (a copy only when someone still reads the old view).
    pub fn update_occupancy(&mut self, change: impl FnOnce(&mut Occupancy)) {
        self.occupancy_by_slot = std::sync::OnceLock::new();
        let occupancy = self.occupancy.get_or_insert_with(Default::default);
        change(Arc::make_mut(occupancy));
    }

    /// The pods bound to the node in `slot` (a slot of this view), when the pods are known
    /// and some are there.
    pub fn occupancy_of_slot(&self, slot: u32) -> Option<&NodeOccupancy> {
        let occupancy = self.occupancy()?;
        let by_slot = self.occupancy_by_slot.get_or_init(|| {
            let mut by_slot = vec![None; self.nodes.slot_count()];
            for live in self.nodes.live_slots() {
                by_slot[live as usize] = occupancy.node_shared(&self.nodes.node(live).name);
            }
            Arc::new(by_slot)
        });
        by_slot.get(slot as usize)?.as_deref()
    }

    /// The priority a pod gets at admission (`plugin/pkg/admission/priority`): the value
    /// of the class it names, else of the `globalDefault` class, else 0; and whether it
    /// never preempts (its class's `preemptionPolicy: Never`). `None` when it names a class
    /// the inventory does not know (the API server would refuse the pod).
    pub fn admitted_priority(&self, class: Option<&str>) -> Option<(i32, bool)> {
        let clamp = |value: i64| value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        match class.filter(|c| !c.is_empty()) {
            Some(name) => match self.priority_classes.get(name) {
                Some(class) => Some((clamp(class.value), class.never_preempts)),
                None => SYSTEM_PRIORITY_CLASSES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, value)| (clamp(*value), false)),
            },
            None => Some(
                self.global_default_priority_class()
                    .map_or((0, false), |c| (clamp(c.value), c.never_preempts)),
            ),
        }
    }

    pub fn priority_class_count(&self) -> usize {
        self.priority_classes.len()
    }

    pub fn limit_range_count(&self) -> usize {
        self.limit_ranges.len()
    }
}

#[cfg(test)]
mod tests;
