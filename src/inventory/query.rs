//! Placement queries over the index: which nodes a [`NodeSelection`] targets, and which of
//! those a set of tolerations cannot run on. The per-node reference for every query here is
//! [`NodeSelection::matches`] and [`crate::scheduling::untolerated_taints`]; the tests check
//! both give the same nodes.

use std::collections::{HashMap, HashSet};
use std::ops::Bound::{self, Excluded, Included, Unbounded};
use std::sync::Arc;

use roaring::{MultiOps, RoaringBitmap};

use super::NodeIndex;
use super::dense::Words;
use crate::scheduling::selector::{
    FieldRequirement, LabelOperator, LabelRequirement, NODE_NAME_FIELD,
};
use crate::scheduling::{NodeSelection, Taint, Term, Toleration, untolerated_taints};

/// Targeted nodes that share one taint set, and the taints of that set the pod does not
/// tolerate.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockedGroup {
    pub untolerated: Vec<Taint>,
    pub nodes: RoaringBitmap,
    /// The taint set, when the group holds every node that carries it (the pods select
    /// them all): such a group is the same for every DaemonSet with the same tolerations.
    pub whole_taint_set: Option<Arc<[Taint]>>,
}

/// Where a pod template's pods go: the nodes its selector targets, and among them the
/// ones it is kept off by taints, grouped by taint set; and the same for every autoscaler
/// template.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Placement {
    pub targeted: RoaringBitmap,
    pub blocked: Vec<BlockedGroup>,
    pub templates: Vec<super::TemplatePlacement>,
}

impl BlockedGroup {
    /// The untolerated taints as users write them: `key=value:Effect, …`.
    pub fn taint_list(&self) -> String {
        crate::scheduling::taint_list(&self.untolerated)
    }
}

impl Placement {
    pub fn blocked_nodes(&self) -> RoaringBitmap {
        self.blocked
            .iter()
            .map(|g| &g.nodes)
            .fold(RoaringBitmap::new(), |acc, n| acc | n)
    }

    pub fn runnable(&self) -> RoaringBitmap {
        &self.targeted - self.blocked_nodes()
    }
}

/// A requirement's nodes without copying where it can be avoided: every node, a set held
/// by the index, or a set computed for this query.
enum Nodes<'a> {
    All,
    Borrowed(&'a RoaringBitmap),
    Owned(RoaringBitmap),
}

/// An intersection built up from [`Nodes`]; "every node" until something narrows it.
#[derive(Default)]
struct Intersection {
    acc: Option<RoaringBitmap>,
}

impl Intersection {
    fn and(&mut self, nodes: Nodes<'_>) {
        match (&mut self.acc, nodes) {
            (_, Nodes::All) => {}
            (Some(acc), Nodes::Borrowed(set)) => *acc &= set,
            (Some(acc), Nodes::Owned(set)) => *acc &= set,
            (None, Nodes::Borrowed(set)) => self.acc = Some(set.clone()),
            (None, Nodes::Owned(set)) => self.acc = Some(set),
        }
    }

    fn is_empty(&self) -> bool {
        self.acc.as_ref().is_some_and(RoaringBitmap::is_empty)
    }

    fn into_nodes<'a>(self) -> Nodes<'a> {
        self.acc.map_or(Nodes::All, Nodes::Owned)
    }
}

/// Up to this many sets (terms, listed values) are united one by one, duplicates and all:
/// cheaper than hashing terms or setting up a multi-way union.
const FEW: usize = 8;

/// The union of `sets`. A few are folded one into the next; many go through roaring's
/// `MultiOps`, because folding set after set into one growing array container re-merges
/// it every time (quadratic in the number of sets).
fn union_of<'a>(sets: impl Iterator<Item = &'a RoaringBitmap>) -> RoaringBitmap {
    let sets: Vec<&RoaringBitmap> = sets.collect();
    if sets.len() <= FEW {
        sets.into_iter()
            .fold(RoaringBitmap::new(), |acc, s| acc | s)
    } else {
        sets.into_iter().union()
    }
}

/// The integers a `Gt`/`Lt` requirement admits, both ends included (`lowest > highest`
/// when none: `Gt` of the largest int64, `Lt` of the smallest); `None` for other operators.
fn integer_bounds(operator: &LabelOperator) -> Option<(i64, i64)> {
    match *operator {
        LabelOperator::Gt(bound) => Some(
            bound
                .checked_add(1)
                .map_or((i64::MAX, i64::MIN), |lowest| (lowest, i64::MAX)),
        ),
        LabelOperator::Lt(bound) => Some(
            bound
                .checked_sub(1)
                .map_or((i64::MAX, i64::MIN), |highest| (i64::MIN, highest)),
        ),
        _ => None,
    }
}

impl NodeIndex {
    /// Every node the selection targets.
    pub fn targeted(&self, selection: &NodeSelection) -> RoaringBitmap {
        match self.dense_targeted(selection) {
            Some(nodes) => nodes,
            None => self.materialize(self.selected(selection)),
        }
    }

    /// [`NodeIndex::targeted`] computed on dense bitsets, when every set the selection
    /// reads has a dense copy (labels many nodes carry, see `dense`): `None` otherwise,
    /// and for `nodeName`, `matchFields` and `Gt`/`Lt`, which the roaring path answers.
    pub(super) fn dense_targeted(&self, selection: &NodeSelection) -> Option<RoaringBitmap> {
        if selection.node_name.is_some() || self.slots.len() > super::dense::MAX_SLOTS {
            return None;
        }
        let words = self.slots.len().div_ceil(64);
        let mut acc = Words::copy_of(&self.live_dense, words);
        for (key, value) in &selection.node_selector {
            let Some(index) = self.label_index.get(key.as_str()) else {
                return Some(RoaringBitmap::new());
            };
            if !index.values.contains_key(value.as_str()) {
                return Some(RoaringBitmap::new());
            }
            acc.and(index.dense_values.get(value.as_str())?.words());
        }
        if let Some(terms) = &selection.required_terms {
            let mut any = Words::none(words);
            for term in terms {
                any.or(self.dense_term(term, words)?.words());
            }
            acc.and(any.words());
        }
        Some(acc.into_roaring())
    }

    fn dense_term(&self, term: &Term, words: usize) -> Option<Words> {
        let Term::Valid { labels, fields } = term else {
            return Some(Words::none(words));
        };
        if !fields.is_empty() {
            return None;
        }
        let mut acc = Words::copy_of(&self.live_dense, words);
        for requirement in labels {
            let Some(index) = self.label_index.get(requirement.key.as_str()) else {
                match requirement.operator {
                    LabelOperator::NotIn(_) | LabelOperator::DoesNotExist => continue,
                    _ => return Some(Words::none(words)),
                }
            };
            // The union of the listed values some node carries.
            let listed = |values: &[String]| -> Option<Words> {
                let mut union = Words::none(words);
                for value in values {
                    if index.values.contains_key(value.as_str()) {
                        union.or(index.dense_values.get(value.as_str())?.words());
                    }
                }
                Some(union)
            };
            match &requirement.operator {
                LabelOperator::In(values) => acc.and(listed(values)?.words()),
                LabelOperator::NotIn(values) => acc.and_not(listed(values)?.words()),
                LabelOperator::Exists => acc.and(index.dense_present.as_ref()?.words()),
                LabelOperator::DoesNotExist => {
                    acc.and_not(index.dense_present.as_ref()?.words());
                }
                LabelOperator::Gt(_) | LabelOperator::Lt(_) => return None,
            }
        }
        Some(acc)
    }

    fn selected(&self, selection: &NodeSelection) -> Nodes<'_> {
        let mut acc = Intersection::default();
        if let Some(name) = &selection.node_name {
            let mut node = RoaringBitmap::new();
            if let Some(slot) = self.slot_of(name) {
                node.insert(slot);
            }
            acc.and(Nodes::Owned(node));
        }
        for (key, value) in &selection.node_selector {
            match self.label_nodes(key, value) {
                Some(nodes) => acc.and(Nodes::Borrowed(nodes)),
                None => return Nodes::Owned(RoaringBitmap::new()),
            }
            if acc.is_empty() {
                return Nodes::Owned(RoaringBitmap::new());
            }
        }
        if let Some(terms) = &selection.required_terms {
            let matched = match terms.as_slice() {
                [term] => self.term(term),
                terms if terms.len() <= FEW => {
                    Nodes::Owned(terms.iter().fold(RoaringBitmap::new(), |union, term| {
                        union | self.materialize(self.term(term))
                    }))
                }
                terms => {
                    // A term written many times is evaluated once: the cost of a selector
                    // follows what it says, not how often it says it.
                    let mut seen = HashSet::with_capacity(terms.len());
                    Nodes::Owned(
                        terms
                            .iter()
                            .filter(|term| seen.insert(*term))
                            .map(|term| self.materialize(self.term(term)))
                            .union(),
                    )
                }
            };
            acc.and(matched);
        }
        acc.into_nodes()
    }

    fn materialize(&self, nodes: Nodes<'_>) -> RoaringBitmap {
        match nodes {
            Nodes::All => self.live.clone(),
            Nodes::Borrowed(set) => set.clone(),
            Nodes::Owned(set) => set,
        }
    }

    /// The targeted nodes and, among them, the ones `tolerations` do not get onto. The
    /// tolerations must already include the DaemonSet controller's own.
    pub fn placement(
        &self,
        selection: &NodeSelection,
        tolerations: &[Toleration],
        comparison_operators: bool,
    ) -> Placement {
        let targeted = self.targeted(selection);
        let blocked = self.blocked_groups(&targeted, tolerations, comparison_operators);
        Placement {
            targeted,
            blocked,
            templates: Vec::new(),
        }
    }

    /// Among `targeted`, the nodes `tolerations` do not get onto, one group per taint set.
    pub fn blocked_groups(
        &self,
        targeted: &RoaringBitmap,
        tolerations: &[Toleration],
        comparison_operators: bool,
    ) -> Vec<BlockedGroup> {
        let mut blocked: Vec<BlockedGroup> = self
            .taint_sets
            .iter()
            .filter_map(|(taints, nodes)| {
                let untolerated: Vec<Taint> =
                    untolerated_taints(taints, tolerations, comparison_operators)
                        .cloned()
                        .collect();
                if untolerated.is_empty() {
                    return None;
                }
                let whole = nodes.len();
                let nodes = nodes & targeted;
                let whole_taint_set = (nodes.len() == whole).then(|| taints.clone());
                (!nodes.is_empty()).then_some(BlockedGroup {
                    untolerated,
                    nodes,
                    whole_taint_set,
                })
            })
            .collect();
        blocked.sort_by(|a, b| a.untolerated.cmp(&b.untolerated));
        blocked
    }

    /// The nodes a term matches (nothing for an empty or invalid term).
    pub fn term_nodes(&self, term: &Term) -> RoaringBitmap {
        self.materialize(self.term(term))
    }

    fn term(&self, term: &Term) -> Nodes<'_> {
        let Term::Valid { labels, fields } = term else {
            return Nodes::Owned(RoaringBitmap::new());
        };
        let mut acc = Intersection::default();
        // `Gt`/`Lt` on one key narrow one integer range, looked up once: a term like
        // `Gt 5, Lt 3` is empty before any set is touched.
        let mut ranges: Vec<(&str, i64, i64)> = Vec::new();
        for requirement in labels {
            let Some((lowest, highest)) = integer_bounds(&requirement.operator) else {
                acc.and(self.requirement(requirement));
                if acc.is_empty() {
                    return Nodes::Owned(RoaringBitmap::new());
                }
                continue;
            };
            match ranges.iter_mut().find(|(key, ..)| *key == requirement.key) {
                Some((_, low, high)) => {
                    *low = (*low).max(lowest);
                    *high = (*high).min(highest);
                }
                None => ranges.push((&requirement.key, lowest, highest)),
            }
        }
        for (key, lowest, highest) in ranges {
            acc.and(Nodes::Owned(self.integer_range(key, lowest, highest)));
            if acc.is_empty() {
                return Nodes::Owned(RoaringBitmap::new());
            }
        }
        for requirement in fields {
            acc.and(Nodes::Owned(self.field_nodes(requirement)));
        }
        acc.into_nodes()
    }

    /// The nodes one label requirement matches.
    pub fn requirement_nodes(&self, requirement: &LabelRequirement) -> RoaringBitmap {
        self.materialize(self.requirement(requirement))
    }

    fn requirement(&self, requirement: &LabelRequirement) -> Nodes<'_> {
        let Some(index) = self.label_index.get(requirement.key.as_str()) else {
            return match requirement.operator {
                LabelOperator::NotIn(_) | LabelOperator::DoesNotExist => Nodes::All,
                _ => Nodes::Owned(RoaringBitmap::new()),
            };
        };
        // The sets of the listed values that some node carries.
        let listed = |values: &[String]| -> Vec<&RoaringBitmap> {
            let mut sets: Vec<&RoaringBitmap> = values
                .iter()
                .filter_map(|v| index.values.get(v.as_str()))
                .collect();
            sets.sort_by_key(|s| std::ptr::from_ref(*s));
            sets.dedup_by_key(|s| std::ptr::from_ref(*s));
            sets
        };
        let union = |sets: &[&RoaringBitmap]| union_of(sets.iter().copied());

        match &requirement.operator {
            LabelOperator::In(values) => match listed(values).as_slice() {
                [] => Nodes::Owned(RoaringBitmap::new()),
                [one] => Nodes::Borrowed(one),
                // Every value of the key is listed: exactly the nodes that carry it.
                sets if sets.len() == index.values.len() => Nodes::Borrowed(&index.present),
                sets => Nodes::Owned(union(sets)),
            },
            LabelOperator::NotIn(values) => match listed(values).as_slice() {
                [] => Nodes::All,
                sets if sets.len() == index.values.len() => {
                    Nodes::Owned(&self.live - &index.present)
                }
                sets => Nodes::Owned(&self.live - union(sets)),
            },
            LabelOperator::Exists => Nodes::Borrowed(&index.present),
            LabelOperator::DoesNotExist => Nodes::Owned(&self.live - &index.present),
            LabelOperator::Gt(_) | LabelOperator::Lt(_) => {
                let (lowest, highest) =
                    integer_bounds(&requirement.operator).expect("Gt and Lt have bounds");
                Nodes::Owned(self.integer_range(&requirement.key, lowest, highest))
            }
        }
    }

    /// The nodes whose `key` reads as an integer from `lowest` to `highest`, both included:
    /// a range of the key's numeric index (log n to find), one union over the values in it.
    fn integer_range(&self, key: &str, lowest: i64, highest: i64) -> RoaringBitmap {
        let Some(index) = self.label_index.get(key) else {
            return RoaringBitmap::new();
        };
        if lowest > highest {
            return RoaringBitmap::new();
        }
        // `(n, "")` sorts before every value that reads as n.
        let start: Bound<(i64, Arc<str>)> = Included((lowest, Arc::from("")));
        let end = match highest.checked_add(1) {
            Some(after) => Excluded((after, Arc::from(""))),
            None => Unbounded,
        };
        union_of(
            index
                .numeric
                .range((start, end))
                .filter_map(|(_, value)| index.values.get(value)),
        )
    }

    /// The nodes one `matchFields` requirement matches.
    pub fn field_nodes(&self, requirement: &FieldRequirement) -> RoaringBitmap {
        let mut equal = RoaringBitmap::new();
        if requirement.key == NODE_NAME_FIELD {
            if let Some(slot) = self.slot_of(&requirement.value) {
                equal.insert(slot);
            }
        } else if requirement.value.is_empty() {
            // Only metadata.name exists; any other field reads as "".
            equal = self.live.clone();
        }
        if requirement.equal {
            equal
        } else {
            &self.live - equal
        }
    }

    /// The nodes carrying `key=value`.
    pub fn label_nodes(&self, key: &str, value: &str) -> Option<&RoaringBitmap> {
        self.label_index.get(key)?.values.get(value)
    }

    /// The nodes carrying `key`, whatever its value.
    pub fn label_key_nodes(&self, key: &str) -> Option<&RoaringBitmap> {
        self.label_index.get(key).map(|index| &index.present)
    }

    /// The values of `key` with the nodes carrying each.
    pub fn label_value_sets(&self, key: &str) -> impl Iterator<Item = (&str, &RoaringBitmap)> {
        self.label_index.get(key).into_iter().flat_map(|index| {
            index
                .values
                .iter()
                .map(|(value, nodes)| (value.as_ref(), nodes))
        })
    }

    /// Splits `nodes` by pool: the value of the first of `pool_keys` each node carries
    /// (`None` for nodes with none of them), sorted by pool. Bitset work per pool value,
    /// not per node; and remembered on this version of the index, because the same sets
    /// come back (the nodes of one taint set, for every DaemonSet that selects them all).
    pub fn split_by_pool(&self, nodes: &RoaringBitmap, pool_keys: &[String]) -> Arc<PoolSplit> {
        if let Some(known) = self.pool_splits.find(nodes, pool_keys) {
            return known;
        }
        let mut remaining = nodes.clone();
        let mut pools: Vec<(Option<String>, RoaringBitmap)> = Vec::new();
        for key in pool_keys {
            if remaining.is_empty() {
                break;
            }
            for (value, carriers) in self.label_value_sets(key) {
                let members = &remaining & carriers;
                if members.is_empty() {
                    continue;
                }
                remaining -= &members;
                match pools
                    .iter_mut()
                    .find(|(pool, _)| pool.as_deref() == Some(value))
                {
                    Some((_, set)) => *set |= members,
                    None => pools.push((Some(value.to_owned()), members)),
                }
            }
        }
        if !remaining.is_empty() {
            pools.push((None, remaining));
        }
        pools.sort_by(|a, b| a.0.cmp(&b.0));
        let split: Arc<PoolSplit> = pools.into();
        self.pool_splits.remember(nodes, pool_keys, split.clone());
        split
    }

    /// Every label key on some node.
    pub fn label_keys(&self) -> impl Iterator<Item = &str> {
        self.label_index.keys().map(AsRef::as_ref)
    }

    /// The `limit` most common values of `key` with how many nodes carry each, most
    /// common first, and how many distinct values there are. A hostname key has as many
    /// values as nodes: only the shown few are sorted.
    pub fn most_common_label_values(&self, key: &str, limit: usize) -> (Vec<(&str, u64)>, usize) {
        let mut values: Vec<(&str, u64)> = self
            .label_index
            .get(key)
            .map(|index| {
                index
                    .values
                    .iter()
                    .map(|(value, nodes)| (value.as_ref(), nodes.len()))
                    .collect()
            })
            .unwrap_or_default();
        let distinct = values.len();
        let order = |a: &(&str, u64), b: &(&str, u64)| b.1.cmp(&a.1).then(a.0.cmp(b.0));
        if limit < values.len() {
            values.select_nth_unstable_by(limit, order);
            values.truncate(limit);
        }
        values.sort_by(order);
        (values, distinct)
    }

    /// Every node, as a set.
    pub fn all_nodes(&self) -> &RoaringBitmap {
        &self.live
    }
}

/// Nodes by pool (`None`: no pool label), sorted by pool.
pub type PoolSplit = [(Option<String>, RoaringBitmap)];

/// Splits computed on one version of a node index, for the sets that come back. Bounded:
/// beyond [`PoolSplits::CAPACITY`] entries it starts again. A copy of the index starts
/// empty (copies are made to be changed).
#[derive(Default)]
pub(super) struct PoolSplits {
    entries: std::sync::Mutex<Vec<PoolSplitEntry>>,
}

struct PoolSplitEntry {
    pool_keys: Vec<String>,
    nodes: RoaringBitmap,
    split: Arc<PoolSplit>,
}

impl PoolSplits {
    const CAPACITY: usize = 64;

    fn find(&self, nodes: &RoaringBitmap, pool_keys: &[String]) -> Option<Arc<PoolSplit>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .find(|e| e.nodes.len() == nodes.len() && e.pool_keys == pool_keys && e.nodes == *nodes)
            .map(|e| e.split.clone())
    }

    fn remember(&self, nodes: &RoaringBitmap, pool_keys: &[String], split: Arc<PoolSplit>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= Self::CAPACITY {
            entries.clear();
        }
        entries.push(PoolSplitEntry {
            pool_keys: pool_keys.to_vec(),
            nodes: nodes.clone(),
            split,
        });
    }

    /// Forgets every split (the index changed).
    pub(super) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Clone for PoolSplits {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for PoolSplits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolSplits")
    }
}

/// Answers computed from one version of a node index alone, by the kind of answer and a
/// key: what many evaluations ask again (the explanation of a label no node has, where a
/// selection and its tolerations land). One map per kind of (key, answer), so a lookup
/// hashes and compares the key itself, never a text made of it. Bounded like
/// [`PoolSplits`]; a copy of the index starts empty (with the same bound).
pub struct Derived {
    maps: std::sync::Mutex<DerivedMaps>,
    /// How many answers are kept before all are dropped: [`Derived::CAPACITY`], or more
    /// for an audit of many DaemonSets ([`Derived::remember_for`]).
    capacity: std::sync::atomic::AtomicUsize,
}

impl Default for Derived {
    fn default() -> Self {
        Derived {
            maps: Default::default(),
            capacity: Derived::CAPACITY.into(),
        }
    }
}

/// Keys are hashed on every evaluation (a selection, tolerations): foldhash, seeded per
/// process, costs a fraction of SipHash, and the maps are bounded anyway.
type DerivedMap<K, T> = HashMap<K, Arc<T>, foldhash::fast::RandomState>;

#[derive(Default)]
struct DerivedMaps {
    /// A [`DerivedMap`] behind `dyn Any`, by the `TypeId` of `(K, T)`.
    by_kind: HashMap<std::any::TypeId, Box<dyn std::any::Any + Send>>,
    entries: usize,
}

impl Derived {
    const CAPACITY: usize = 1024;
    /// What judging one DaemonSet remembers at most on the index: its reach, DSG001's
    /// hints, DSG002's findings, taint gaps, unfit groups, its loads' split. 2,000
    /// DaemonSets with distinct selections fill 1,024 answers several times over in one
    /// judgement, and each time everything is dropped and worked out again (BENCHMARKS.md,
    /// "Live audit").
    const ANSWERS_PER_DAEMONSET: usize = 8;

    /// Keeps enough answers for judging `daemonsets` DaemonSets in one pass: memory that
    /// grows with what is watched, like the audit's own state, never with what requests
    /// ask (they still fill and drop the same bound).
    pub(super) fn remember_for(&self, daemonsets: usize) {
        let capacity = daemonsets
            .saturating_mul(Self::ANSWERS_PER_DAEMONSET)
            .max(Self::CAPACITY);
        self.capacity
            .store(capacity, std::sync::atomic::Ordering::Relaxed);
    }

    pub(super) fn clear(&self) {
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        maps.by_kind.clear();
        maps.entries = 0;
    }
}

impl Clone for Derived {
    fn clone(&self) -> Self {
        let copy = Self::default();
        copy.capacity.store(
            self.capacity.load(std::sync::atomic::Ordering::Relaxed),
            std::sync::atomic::Ordering::Relaxed,
        );
        copy
    }
}

impl std::fmt::Debug for Derived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Derived")
    }
}

impl Derived {
    /// `compute()`, or the answer it gave before for `key`.
    pub fn get_or_compute<K, T>(&self, key: &K, compute: impl FnOnce() -> T) -> Arc<T>
    where
        K: std::hash::Hash + Eq + Clone + Send + 'static,
        T: Send + Sync + 'static,
    {
        let kind = std::any::TypeId::of::<(K, T)>();
        let lock = || self.maps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = lock()
            .by_kind
            .get(&kind)
            .and_then(|map| map.downcast_ref::<DerivedMap<K, T>>())
            .and_then(|map| map.get(key))
        {
            return known.clone();
        }
        // Computed without the lock: answers can take long, and two threads computing
        // the same one both get a correct answer.
        let answer = Arc::new(compute());
        let mut maps = lock();
        if maps.entries >= self.capacity.load(std::sync::atomic::Ordering::Relaxed) {
            maps.by_kind.clear();
            maps.entries = 0;
        }
        let map = maps
            .by_kind
            .entry(kind)
            .or_insert_with(|| Box::new(DerivedMap::<K, T>::default()))
            .downcast_mut::<DerivedMap<K, T>>()
            .expect("one map type per TypeId");
        let added = map.insert(key.clone(), answer.clone()).is_none();
        maps.entries += usize::from(added);
        answer
    }
}

/// Where the pods of one selection, with one set of tolerations, go on one version of the
/// node index: what every DaemonSet with the same selection and tolerations shares, so
/// the audit of thousands of DaemonSets works it out once per distinct pair.
#[derive(Debug)]
pub struct Reach {
    pub targeted: Arc<RoaringBitmap>,
    /// The targeted nodes the tolerations do not get onto, by taint set.
    pub blocked: Vec<BlockedGroup>,
    /// Targeted and tolerated: shared with the daemon loads that say where pods run.
    pub runnable: Arc<RoaringBitmap>,
    /// What is worked out from this reach alone, by key (the audit's taint gaps and unfit
    /// nodes): an answer must depend only on the reach, the index version it was made on,
    /// and its key.
    pub remembered: Derived,
    /// What is worked out from this reach and the latest set of templates seen with it
    /// ([`Reach::with_templates`]).
    with_templates: std::sync::Mutex<Option<(u64, Arc<Derived>)>>,
}

impl Reach {
    /// What is remembered for this reach and the templates of `templates_version`
    /// (DSG002's findings, every template's placement). Only the latest version is kept:
    /// templates that keep changing while the nodes do not must not pile up answers.
    pub fn with_templates(&self, templates_version: u64) -> Arc<Derived> {
        let mut latest = self
            .with_templates
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match &*latest {
            Some((version, derived)) if *version == templates_version => derived.clone(),
            _ => {
                let derived = Arc::new(Derived::default());
                *latest = Some((templates_version, derived.clone()));
                derived
            }
        }
    }

    /// Targeted nodes the pods cannot get onto.
    pub fn blocked_count(&self) -> u64 {
        self.blocked.iter().map(|g| g.nodes.len()).sum()
    }
}

/// What a [`Reach`] is remembered by: the selection, the pods' tolerations, and whether
/// the toleration comparison operators are on. The DaemonSet controller's tolerations
/// are the same for every pod of the same `host_network`: they are added when the reach
/// is worked out, so the key stays small to hash and compare.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReachKey {
    pub selection: NodeSelection,
    /// The pod's own tolerations, then those dsguard injects.
    pub tolerations: Vec<Toleration>,
    pub host_network: bool,
    pub comparison_operators: bool,
}

/// Keys larger than this are not remembered: a hostile selection (the API server stores
/// objects up to 1.5 MB) would otherwise be held once per entry, and real ones are a few
/// hundred bytes.
pub const MAX_REMEMBERED_KEY_BYTES: usize = 8 * 1024;

impl ReachKey {
    /// About how many bytes of text the key holds.
    pub fn text_bytes(&self) -> usize {
        self.selection.text_bytes()
            + self
                .tolerations
                .iter()
                .map(|t| t.key.len() + t.operator.len() + t.value.len() + t.effect.len() + 8)
                .sum::<usize>()
    }

    /// Every toleration the pods carry on a node: the key's, then the DaemonSet
    /// controller's.
    pub fn pod_tolerations(&self) -> Vec<Toleration> {
        let mut tolerations = self.tolerations.clone();
        tolerations.extend(crate::scheduling::daemon_pod_tolerations(self.host_network));
        tolerations
    }
}

impl NodeIndex {
    /// `compute()`, or the answer it gave before for `key` on this version of the index.
    /// `compute` must depend only on the index and `key`.
    pub fn derived<K, T>(&self, key: &K, compute: impl FnOnce() -> T) -> Arc<T>
    where
        K: std::hash::Hash + Eq + Clone + Send + 'static,
        T: Send + Sync + 'static,
    {
        self.derived.get_or_compute(key, compute)
    }

    /// Remembers enough answers for judging `daemonsets` DaemonSets in one pass (the
    /// audit, `lint --daemonsets`): see `Derived::remember_for`.
    pub fn remember_answers_for(&self, daemonsets: usize) {
        self.derived.remember_for(daemonsets);
    }

    /// Forgets every answer remembered on this version of the index (pool splits,
    /// reaches, explanations): benchmarks call it to measure an evaluation the index has
    /// not seen, as a new selection or the first after a node change is.
    pub fn forget_remembered(&self) {
        self.pool_splits.clear();
        self.derived.clear();
    }

    /// [`NodeIndex::targeted`], remembered per selection on this version of the index
    /// (a selection over [`MAX_REMEMBERED_KEY_BYTES`] is worked out each time).
    pub fn targeted_shared(&self, selection: &NodeSelection) -> Arc<RoaringBitmap> {
        if selection.text_bytes() > MAX_REMEMBERED_KEY_BYTES {
            return Arc::new(self.targeted(selection));
        }
        self.derived(selection, || self.targeted(selection))
    }

    /// Where pods with this selection and these tolerations go, remembered on this
    /// version of the index (unless the key is over [`MAX_REMEMBERED_KEY_BYTES`]).
    /// `targeted` is what [`NodeIndex::targeted_shared`] gave for `key.selection` (every
    /// caller needs it first, for the mutation; a selection too large to remember is so not
    /// worked out twice).
    pub fn reach(&self, key: &ReachKey, targeted: Arc<RoaringBitmap>) -> Arc<Reach> {
        let work_out = || self.work_out_reach(key, targeted);
        if key.text_bytes() > MAX_REMEMBERED_KEY_BYTES {
            return Arc::new(work_out());
        }
        self.derived(key, work_out)
    }

    fn work_out_reach(&self, key: &ReachKey, targeted: Arc<RoaringBitmap>) -> Reach {
        let blocked =
            self.blocked_groups(&targeted, &key.pod_tolerations(), key.comparison_operators);
        let mut runnable = RoaringBitmap::clone(&targeted);
        for group in &blocked {
            runnable -= &group.nodes;
        }
        Reach {
            targeted,
            blocked,
            runnable: Arc::new(runnable),
            remembered: Derived::default(),
            with_templates: std::sync::Mutex::new(None),
        }
    }
}
