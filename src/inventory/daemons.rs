//! The DaemonSets already in the cluster, as resource fit needs them: where each one's
//! pods run and what each pod requests. Every node carries one pod of each DaemonSet that
//! runs there, so their requests are the node's daemon overhead (DSG005, `coverage`).
//!
//! The loads are computed by the adapter that knows the DaemonSets (`--daemonsets`), with
//! the same `placement` and effective-request code the rules use, against this
//! inventory's nodes, and the nodes are split once into shapes (same allocatable, same
//! DaemonSets). A rule then asks its fit question once per shape: no per-node work and no
//! per-evaluation split. The shapes describe the nodes as they were when the loads were
//! set, which is why loads are only taken with a fixed node snapshot.

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
    /// The nodes its pods run on (targeted and tolerated).
    pub nodes: RoaringBitmap,
    /// One pod's effective request.
    pub requests: ResourceList,
}

/// The loads and the node shapes they split the cluster into.
#[derive(Debug)]
pub(super) struct DaemonLoads {
    loads: Vec<DaemonLoad>,
    shapes: Vec<CachedShape>,
}

#[derive(Debug)]
struct CachedShape {
    allocatable: Arc<ResourceList>,
    nodes: RoaringBitmap,
    /// Indices into `loads` of the DaemonSets whose pods run on these nodes.
    loads: Vec<usize>,
    daemon_requests: ResourceList,
}

/// Nodes that share an allocatable list and the same DaemonSets: one fit question for all
/// of them.
#[derive(Clone, Debug)]
pub struct NodeShape<'a> {
    pub allocatable: &'a Arc<ResourceList>,
    /// Every node of the shape; intersect with the nodes of interest.
    pub nodes: &'a RoaringBitmap,
    /// What the DaemonSets there request together (the judged one left out).
    pub daemon_requests: Cow<'a, ResourceList>,
    /// How many daemon pods run there (the judged one left out).
    pub daemon_pods: u64,
}

impl Inventory {
    /// Sets the DaemonSets of the cluster (`None`: not known, overhead not counted) and
    /// splits the current nodes into shapes by them.
    pub fn set_daemon_loads(&mut self, loads: Option<Vec<DaemonLoad>>) {
        self.daemon_loads = loads.map(|loads| {
            let mut shapes: Vec<CachedShape> = self
                .allocatable_sets
                .iter()
                .map(|(allocatable, nodes)| CachedShape {
                    allocatable: allocatable.clone(),
                    nodes: nodes.clone(),
                    loads: Vec::new(),
                    daemon_requests: ResourceList::new(),
                })
                .collect();
            for (index, load) in loads.iter().enumerate() {
                let mut refined = Vec::with_capacity(shapes.len());
                for shape in shapes {
                    let with = &shape.nodes & &load.nodes;
                    if with.is_empty() {
                        refined.push(shape);
                        continue;
                    }
                    let without = &shape.nodes - &load.nodes;
                    if !without.is_empty() {
                        refined.push(CachedShape {
                            allocatable: shape.allocatable.clone(),
                            nodes: without,
                            loads: shape.loads.clone(),
                            daemon_requests: shape.daemon_requests.clone(),
                        });
                    }
                    let mut daemon_requests = shape.daemon_requests;
                    add(&mut daemon_requests, &load.requests, 1);
                    let mut members = shape.loads;
                    members.push(index);
                    refined.push(CachedShape {
                        allocatable: shape.allocatable,
                        nodes: with,
                        loads: members,
                        daemon_requests,
                    });
                }
                shapes = refined;
            }
            Arc::new(DaemonLoads { loads, shapes })
        });
    }

    pub fn daemon_loads(&self) -> Option<&[DaemonLoad]> {
        self.daemon_loads.as_deref().map(|d| d.loads.as_slice())
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
                    nodes,
                    daemon_requests: Cow::Owned(ResourceList::new()),
                    daemon_pods: 0,
                })
                .collect();
        };
        let own = daemons
            .loads
            .iter()
            .position(|l| (l.namespace.as_str(), l.name.as_str()) == except);
        daemons
            .shapes
            .iter()
            .map(|shape| {
                let mut pods = shape.loads.len() as u64;
                let requests = match own.filter(|own| shape.loads.contains(own)) {
                    Some(own) => {
                        pods -= 1;
                        let mut requests = shape.daemon_requests.clone();
                        add(&mut requests, &daemons.loads[own].requests, -1);
                        Cow::Owned(requests)
                    }
                    None => Cow::Borrowed(&shape.daemon_requests),
                };
                NodeShape {
                    allocatable: &shape.allocatable,
                    nodes: &shape.nodes,
                    daemon_requests: requests,
                    daemon_pods: pods,
                }
            })
            .collect()
    }
}

/// `into += sign × other`, saturating.
fn add(into: &mut ResourceList, other: &ResourceList, sign: i128) {
    for (name, value) in other {
        let sum = into.entry(name.clone()).or_insert(0);
        *sum = sum.saturating_add(sign * *value);
    }
}
