//! The DaemonSets already in the cluster, as resource fit needs them: where each one's
//! pods run and what each pod requests. Every node carries one pod of each DaemonSet that
//! runs there, so their requests are the node's daemon overhead (DSG005, `coverage`).
//!
//! The loads are computed by the adapter that knows the DaemonSets (`--daemonsets`), with
//! the same `placement` and effective-request code the rules use, against this
//! inventory's nodes, and the nodes are split once into shapes (same allocatable, same
//! DaemonSets). A rule then asks its fit question once per shape: no per-node work and no
//! per-evaluation split. The shapes describe the nodes as they were when the loads were
//! set. A node that changes after (the live inventory of `serve --cluster`) leaves the
//! shapes until the loads are set again: until then it counts no daemon overhead, as if
//! the DaemonSets were not known, so a stale load can make the webhook lenient for a
//! moment but never makes it deny.

use std::borrow::Cow;
use std::sync::Arc;

use roaring::RoaringBitmap;

use super::Inventory;
use crate::scheduling::resources::ResourceList;

/// One DaemonSet's footprint.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonLoad {
    pub namespace: String,
    pub name: String,
    /// The nodes its pods run on (targeted and tolerated), shared with the reach it was
    /// read from: DaemonSets that go to the same nodes hold one set.
    pub nodes: Arc<RoaringBitmap>,
    /// One pod's effective request.
    pub requests: ResourceList,
}

/// The loads and the node shapes they split the cluster into.
#[derive(Debug)]
pub(super) struct DaemonLoads {
    loads: Vec<DaemonLoad>,
    /// Each load's group: the index the shapes list it by.
    group_of: Vec<usize>,
    /// Each node slot's index into `shapes` ([`NO_SHAPE`]: a node without allocatable):
    /// the shapes among a DaemonSet's nodes are found from its nodes, not by testing
    /// every shape (thousands, when DaemonSets are spread over many node groups).
    shape_of_slot: Vec<u32>,
    shapes: Vec<CachedShape>,
}

/// The DaemonSets whose pods run on one same set of nodes (most select every Linux node
/// and tolerate nothing or everything): the shapes are cut once per set, not once per
/// DaemonSet.
#[derive(Debug)]
struct LoadGroup {
    nodes: Arc<RoaringBitmap>,
    requests: ResourceList,
    pods: u64,
}

#[derive(Debug)]
struct CachedShape {
    allocatable: Arc<ResourceList>,
    nodes: RoaringBitmap,
    /// Indices into `groups` of the DaemonSets whose pods run on these nodes.
    groups: Vec<usize>,
    daemon_requests: ResourceList,
    daemon_pods: u64,
}

const NO_SHAPE: u32 = u32::MAX;

/// The order loads are kept in: namespace, then name (stable, so a file's duplicates keep
/// their order).
fn in_name_order(loads: &mut [DaemonLoad]) {
    loads.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
}

/// Groups `loads` by the nodes they run on: shared sets by pointer, others by value.
fn group_loads(loads: &[DaemonLoad]) -> (Vec<usize>, Vec<LoadGroup>) {
    let mut groups: Vec<LoadGroup> = Vec::new();
    let mut by_pointer: std::collections::HashMap<*const RoaringBitmap, usize> =
        std::collections::HashMap::new();
    let mut by_length: std::collections::HashMap<u64, Vec<usize>> =
        std::collections::HashMap::new();
    let group_of = loads
        .iter()
        .map(|load| {
            let pointer = Arc::as_ptr(&load.nodes);
            let group = match by_pointer.get(&pointer) {
                Some(&group) => group,
                None => {
                    let same_length = by_length.entry(load.nodes.len()).or_default();
                    let group = match same_length
                        .iter()
                        .find(|&&g| *groups[g].nodes == *load.nodes)
                    {
                        Some(&group) => group,
                        None => {
                            groups.push(LoadGroup {
                                nodes: load.nodes.clone(),
                                requests: ResourceList::new(),
                                pods: 0,
                            });
                            same_length.push(groups.len() - 1);
                            groups.len() - 1
                        }
                    };
                    by_pointer.insert(pointer, group);
                    group
                }
            };
            add(&mut groups[group].requests, &load.requests, 1);
            groups[group].pods += 1;
            group
        })
        .collect();
    (group_of, groups)
}

/// Nodes that share an allocatable list and the same DaemonSets: one fit question for all
/// of them.
#[derive(Clone, Debug)]
pub struct NodeShape<'a> {
    pub allocatable: &'a Arc<ResourceList>,
    /// Every node of the shape; intersect with the nodes of interest.
    pub nodes: Cow<'a, RoaringBitmap>,
    /// What the DaemonSets there request together (the judged one left out).
    pub daemon_requests: Cow<'a, ResourceList>,
    /// How many daemon pods run there (the judged one left out).
    pub daemon_pods: u64,
}

impl Inventory {
    /// Sets the DaemonSets of the cluster (`None`: not known, overhead not counted) and
    /// splits the current nodes into shapes by them. The loads are kept in namespace and
    /// name order, whatever order they came in: a file's order and a watch's give the
    /// same shapes, so the same messages.
    pub fn set_daemon_loads(&mut self, loads: Option<Vec<DaemonLoad>>) {
        self.stale_daemon_slots = RoaringBitmap::new();
        self.daemon_loads = loads.map(|mut loads| {
            in_name_order(&mut loads);
            let (group_of, groups) = group_loads(&loads);
            let mut shapes: Vec<CachedShape> = self
                .allocatable_sets
                .iter()
                .map(|(allocatable, nodes)| CachedShape {
                    allocatable: allocatable.clone(),
                    nodes: nodes.clone(),
                    groups: Vec::new(),
                    daemon_requests: ResourceList::new(),
                    daemon_pods: 0,
                })
                .collect();
            for (index, group) in groups.iter().enumerate() {
                let mut refined = Vec::with_capacity(shapes.len());
                for shape in shapes {
                    let with = &shape.nodes & &*group.nodes;
                    if with.is_empty() {
                        refined.push(shape);
                        continue;
                    }
                    let without = &shape.nodes - &*group.nodes;
                    if !without.is_empty() {
                        refined.push(CachedShape {
                            allocatable: shape.allocatable.clone(),
                            nodes: without,
                            groups: shape.groups.clone(),
                            daemon_requests: shape.daemon_requests.clone(),
                            daemon_pods: shape.daemon_pods,
                        });
                    }
                    let mut daemon_requests = shape.daemon_requests;
                    add(&mut daemon_requests, &group.requests, 1);
                    let mut members = shape.groups;
                    members.push(index);
                    refined.push(CachedShape {
                        allocatable: shape.allocatable,
                        nodes: with,
                        groups: members,
                        daemon_requests,
                        daemon_pods: shape.daemon_pods + group.pods,
                    });
                }
                shapes = refined;
            }
            let mut shape_of_slot = vec![NO_SHAPE; self.nodes.slot_count()];
            for (index, shape) in shapes.iter().enumerate() {
                for slot in &shape.nodes {
                    shape_of_slot[slot as usize] = index as u32;
                }
            }
            Arc::new(DaemonLoads {
                loads,
                group_of,
                shape_of_slot,
                shapes,
            })
        });
    }

    /// Whether setting `loads` would change anything: not when the same loads are held,
    /// for these very nodes. Puts `loads` in the order they are kept in.
    pub fn daemon_loads_differ(&self, loads: &mut [DaemonLoad]) -> bool {
        in_name_order(loads);
        !(self.daemon_loads_current() && self.daemon_loads() == Some(&*loads))
    }

    pub fn daemon_loads(&self) -> Option<&[DaemonLoad]> {
        self.daemon_loads.as_deref().map(|d| d.loads.as_slice())
    }

    /// True when these loads are `other`'s (the same computation, shared): then both
    /// inventories judge resource fit alike on the nodes they share.
    pub fn same_daemon_loads(&self, other: &Inventory) -> bool {
        match (&self.daemon_loads, &other.daemon_loads) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Takes `source`'s daemon loads when they were computed against these very nodes (the
    /// same node index): `false`, and nothing changed, otherwise.
    pub fn adopt_daemon_loads(&mut self, source: &Inventory) -> bool {
        if !Arc::ptr_eq(&self.nodes, &source.nodes) || !source.stale_daemon_slots.is_empty() {
            return false;
        }
        self.daemon_loads = source.daemon_loads.clone();
        self.stale_daemon_slots = RoaringBitmap::new();
        true
    }

    /// Whether every node's daemon overhead is what the loads say: no node changed since
    /// they were set.
    pub fn daemon_loads_current(&self) -> bool {
        self.stale_daemon_slots.is_empty()
    }

    /// A node changed (added, replaced or removed) in `slot`: the loads no longer say what
    /// runs there.
    pub(super) fn daemon_loads_outdated_at(&mut self, slot: u32) {
        if self.daemon_loads.is_some() {
            self.stale_daemon_slots.insert(slot);
        }
    }

    /// Whether the DaemonSets whose pods run on `name` differ between `before` and now
    /// (the same DaemonSets and requests known on both sides).
    fn daemons_changed_on(&self, before: &Inventory, name: &str) -> bool {
        let (Some(now), Some(then)) = (&self.daemon_loads, &before.daemon_loads) else {
            return false;
        };
        let slot_now = self.slot_of(name);
        let slot_then = before.slot_of(name);
        now.loads.iter().zip(&then.loads).any(|(now, then)| {
            slot_now.is_some_and(|s| now.nodes.contains(s))
                != slot_then.is_some_and(|s| then.nodes.contains(s))
        })
    }

    /// Marks the `changes` (nodes changed since `before`) whose DaemonSets changed with
    /// them (a taint that turns one away) as their occupants changing: every DaemonSet
    /// there sees another overhead. `false` when the loads differ otherwise (other
    /// DaemonSets or requests, or some node's overhead not known on one side): then any
    /// node's overhead may differ.
    pub fn mark_overhead_changes(
        &self,
        before: &Inventory,
        changes: &mut [super::NodeDifference<'_>],
    ) -> bool {
        if !self.comparable_loads(before) {
            return false;
        }
        if self.same_daemon_loads(before) {
            return true;
        }
        for change in changes {
            let name = &change
                .after
                .or(change.before)
                .expect("one side exists")
                .name;
            if self.daemons_changed_on(before, name) {
                change.occupants_changed = true;
            }
        }
        true
    }

    /// True when `before`'s loads and these can differ only in where the pods run: the
    /// same DaemonSets with the same requests, and every node's overhead known on both
    /// sides. Nodes that changed are then the only ones whose overhead can differ.
    fn comparable_loads(&self, before: &Inventory) -> bool {
        if !self.stale_daemon_slots.is_empty() || !before.stale_daemon_slots.is_empty() {
            return false;
        }
        match (&self.daemon_loads, &before.daemon_loads) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                Arc::ptr_eq(a, b)
                    || (a.loads.len() == b.loads.len()
                        && a.loads.iter().zip(&b.loads).all(|(a, b)| {
                            a.namespace == b.namespace
                                && a.name == b.name
                                && a.requests == b.requests
                        }))
            }
            _ => false,
        }
    }

    /// The node shapes with a known allocatable: same allocatable and, when the DaemonSets
    /// are known, the same DaemonSets, whose requests are the shape's overhead (all but
    /// `except`, the DaemonSet being judged, by namespace and name).
    pub fn node_shapes(&self, except: (&str, &str)) -> Vec<NodeShape<'_>> {
        let Some(daemons) = self.daemon_loads.as_deref() else {
            return self
                .allocatable_sets
                .iter()
                .map(|(allocatable, nodes)| NodeShape {
                    allocatable,
                    nodes: Cow::Borrowed(nodes),
                    daemon_requests: Cow::Owned(ResourceList::new()),
                    daemon_pods: 0,
                })
                .collect();
        };
        let own = daemons.own_index(except);
        let stale = &self.stale_daemon_slots;
        let mut shapes: Vec<NodeShape<'_>> = daemons
            .shapes
            .iter()
            .filter_map(|shape| daemons.view(shape, own, stale))
            .collect();
        // Nodes changed since the loads were set: their allocatable as it is now, and no
        // overhead until the loads are set again.
        if !stale.is_empty() {
            shapes.extend(self.overhead_unknown(stale).map(|(shape, _)| shape));
        }
        shapes
    }

    /// With the DaemonSets known, [`Self::node_shapes`] cut to `nodes` (where a
    /// DaemonSet's pods run), each with how many of `nodes` it holds: only the shapes that
    /// hold some, found from `nodes` through the slot-to-shape table. `None` without the
    /// DaemonSets: the shapes are then one per allocatable, a handful to test directly.
    pub fn node_shapes_among(
        &self,
        except: (&str, &str),
        nodes: &RoaringBitmap,
    ) -> Option<Vec<(NodeShape<'_>, u64)>> {
        let daemons = self.daemon_loads.as_deref()?;
        let stale = &self.stale_daemon_slots;
        let mut per_shape = vec![0u64; daemons.shapes.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut add_slot = |slot: u32| {
            let Some(&shape) = daemons.shape_of_slot.get(slot as usize) else {
                return;
            };
            if shape == NO_SHAPE {
                return;
            }
            let count = &mut per_shape[shape as usize];
            if *count == 0 {
                touched.push(shape);
            }
            *count += 1;
        };
        if stale.is_empty() {
            nodes.iter().for_each(&mut add_slot);
        } else {
            (nodes - stale).iter().for_each(&mut add_slot);
        }
        touched.sort_unstable();
        let counts = touched
            .into_iter()
            .map(|shape| (shape, per_shape[shape as usize]));
        let own = daemons.own_index(except);
        let mut shapes: Vec<(NodeShape<'_>, u64)> = counts
            .filter_map(|(shape, count)| {
                let view = daemons.view(&daemons.shapes[shape as usize], own, stale)?;
                Some((view, count))
            })
            .collect();
        if !stale.is_empty() {
            shapes.extend(self.overhead_unknown(stale).filter_map(|(shape, changed)| {
                let count = nodes.intersection_len(&changed);
                (count > 0).then_some((shape, count))
            }));
        }
        Some(shapes)
    }

    /// The changed nodes (`stale`) by allocatable, with no overhead counted.
    fn overhead_unknown<'a>(
        &'a self,
        stale: &'a RoaringBitmap,
    ) -> impl Iterator<Item = (NodeShape<'a>, RoaringBitmap)> + 'a {
        self.allocatable_sets
            .iter()
            .filter_map(move |(allocatable, nodes)| {
                let changed = nodes & stale;
                (!changed.is_empty()).then(|| {
                    (
                        NodeShape {
                            allocatable,
                            nodes: Cow::Owned(changed.clone()),
                            daemon_requests: Cow::Owned(ResourceList::new()),
                            daemon_pods: 0,
                        },
                        changed,
                    )
                })
            })
    }
}

impl DaemonLoads {
    /// The index of the (first) load of `except` (namespace, name), if it is one: the
    /// loads are sorted by namespace and name.
    fn own_index(&self, except: (&str, &str)) -> Option<usize> {
        fn key(load: &DaemonLoad) -> (&str, &str) {
            (&load.namespace, &load.name)
        }
        let first = self.loads.partition_point(|l| key(l) < except);
        (self.loads.get(first).map(key) == Some(except)).then_some(first)
    }

    /// One shape as the DaemonSet `own` sees it (its own pod left out of the overhead),
    /// without the nodes changed since (`stale`); `None` when none is left.
    fn view<'a>(
        &'a self,
        shape: &'a CachedShape,
        own: Option<usize>,
        stale: &RoaringBitmap,
    ) -> Option<NodeShape<'a>> {
        let nodes = if stale.is_empty() {
            Cow::Borrowed(&shape.nodes)
        } else {
            let current = &shape.nodes - stale;
            if current.is_empty() {
                return None;
            }
            Cow::Owned(current)
        };
        let mut pods = shape.daemon_pods;
        let requests = match own.filter(|&own| shape.groups.contains(&self.group_of[own])) {
            Some(own) => {
                pods -= 1;
                let mut requests = shape.daemon_requests.clone();
                add(&mut requests, &self.loads[own].requests, -1);
                Cow::Owned(requests)
            }
            None => Cow::Borrowed(&shape.daemon_requests),
        };
        Some(NodeShape {
            allocatable: &shape.allocatable,
            nodes,
            daemon_requests: requests,
            daemon_pods: pods,
        })
    }
}

/// `into += sign × other`, saturating.
fn add(into: &mut ResourceList, other: &ResourceList, sign: i128) {
    for (name, value) in other {
        let sum = into.entry(name.clone()).or_insert(0);
        *sum = sum.saturating_add(sign * *value);
    }
}
