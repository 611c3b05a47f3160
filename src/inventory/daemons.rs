//! The DaemonSets already in the cluster, as resource fit needs them: where each one's
//! pods run and what each pod requests. Every node carries one pod of each DaemonSet that
//! runs there, so their requests are the node's daemon overhead (DSG005, `coverage`).
//!
//! The loads are computed by the adapter that knows the DaemonSets (`--daemonsets`), with
//! the same `placement` and effective-request code the rules use, against this
//! inventory's nodes.

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

/// Nodes that share an allocatable list and the same set of other DaemonSets: one fit
/// question for all of them.
#[derive(Clone, Debug)]
pub struct NodeShape {
    pub allocatable: Arc<ResourceList>,
    pub nodes: RoaringBitmap,
    /// What the other DaemonSets there request together.
    pub daemon_requests: ResourceList,
    /// How many other daemon pods run there.
    pub daemon_pods: u64,
}

impl Inventory {
    /// Sets the DaemonSets of the cluster (`None`: not known, overhead not counted).
    pub fn set_daemon_loads(&mut self, loads: Option<Vec<DaemonLoad>>) {
        self.daemon_loads = loads.map(Arc::new);
    }

    pub fn daemon_loads(&self) -> Option<&[DaemonLoad]> {
        self.daemon_loads.as_deref().map(Vec::as_slice)
    }

    /// `nodes` with a known allocatable, split into shapes: same allocatable, same other
    /// DaemonSets (every load but `except`, the DaemonSet being judged). The split is
    /// refined load by load over bitsets, so the work grows with the number of shapes,
    /// never with the number of nodes.
    pub fn node_shapes(&self, nodes: &RoaringBitmap, except: (&str, &str)) -> Vec<NodeShape> {
        let mut shapes: Vec<NodeShape> = self
            .allocatable_groups(nodes)
            .into_iter()
            .map(|(allocatable, nodes)| NodeShape {
                allocatable,
                nodes,
                daemon_requests: ResourceList::new(),
                daemon_pods: 0,
            })
            .collect();
        let loads = self.daemon_loads().unwrap_or_default();
        for load in loads
            .iter()
            .filter(|l| (l.namespace.as_str(), l.name.as_str()) != except)
        {
            let mut refined = Vec::with_capacity(shapes.len());
            for shape in shapes {
                let with = &shape.nodes & &load.nodes;
                if with.is_empty() {
                    refined.push(shape);
                    continue;
                }
                let without = &shape.nodes - &load.nodes;
                if !without.is_empty() {
                    refined.push(NodeShape {
                        nodes: without,
                        ..shape.clone()
                    });
                }
                let mut daemon_requests = shape.daemon_requests;
                for (name, value) in &load.requests {
                    let sum = daemon_requests.entry(name.clone()).or_insert(0);
                    *sum = sum.saturating_add(*value);
                }
                refined.push(NodeShape {
                    allocatable: shape.allocatable,
                    nodes: with,
                    daemon_requests,
                    daemon_pods: shape.daemon_pods + 1,
                });
            }
            shapes = refined;
        }
        shapes
    }
}
