//! Placement queries over the index: which nodes a [`NodeSelection`] targets, and which of
//! those a set of tolerations cannot run on. The per-node reference for every query here is
//! [`NodeSelection::matches`] and [`crate::scheduling::untolerated_taints`]; the tests check
//! both give the same nodes.

use roaring::RoaringBitmap;

use super::Inventory;
use crate::scheduling::selector::{
    FieldRequirement, LabelOperator, LabelRequirement, NODE_NAME_FIELD, parse_go_int64,
};
use crate::scheduling::{NodeSelection, Taint, Term, Toleration, untolerated_taints};

/// Targeted nodes that share one taint set, and the taints of that set the pod does not
/// tolerate.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockedGroup {
    pub untolerated: Vec<Taint>,
    pub nodes: RoaringBitmap,
}

/// Where a pod template's pods go: the nodes its selector targets, and among them the
/// ones it is kept off by taints, grouped by taint set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Placement {
    pub targeted: RoaringBitmap,
    pub blocked: Vec<BlockedGroup>,
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

/// `acc &= nodes`, starting from the first set without copying the whole node list.
fn intersect(acc: &mut Option<RoaringBitmap>, nodes: &RoaringBitmap) {
    match acc {
        Some(acc) => *acc &= nodes,
        None => *acc = Some(nodes.clone()),
    }
}

impl Inventory {
    /// Every node the selection targets.
    pub fn targeted(&self, selection: &NodeSelection) -> RoaringBitmap {
        let empty = RoaringBitmap::new();
        let mut acc: Option<RoaringBitmap> = None;
        if let Some(name) = &selection.node_name {
            let mut node = RoaringBitmap::new();
            if let Some(slot) = self.slot_of(name) {
                node.insert(slot);
            }
            acc = Some(node);
        }
        for (key, value) in &selection.node_selector {
            intersect(&mut acc, self.label_nodes(key, value).unwrap_or(&empty));
            if acc.as_ref().is_some_and(RoaringBitmap::is_empty) {
                return RoaringBitmap::new();
            }
        }
        if let Some(terms) = &selection.required_terms {
            let union = terms.iter().fold(RoaringBitmap::new(), |union, term| {
                union | self.term_nodes(term)
            });
            intersect(&mut acc, &union);
        }
        acc.unwrap_or_else(|| self.live.clone())
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
        Placement { targeted, blocked }
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
                let nodes = nodes & targeted;
                (!nodes.is_empty()).then_some(BlockedGroup { untolerated, nodes })
            })
            .collect();
        blocked.sort_by(|a, b| a.untolerated.cmp(&b.untolerated));
        blocked
    }

    /// The nodes a term matches (nothing for an empty or invalid term).
    pub fn term_nodes(&self, term: &Term) -> RoaringBitmap {
        let Term::Valid { labels, fields } = term else {
            return RoaringBitmap::new();
        };
        let mut acc: Option<RoaringBitmap> = None;
        for requirement in labels {
            intersect(&mut acc, &self.requirement_nodes(requirement));
        }
        for requirement in fields {
            intersect(&mut acc, &self.field_nodes(requirement));
        }
        acc.unwrap_or_else(|| self.live.clone())
    }

    /// The nodes one label requirement matches.
    pub fn requirement_nodes(&self, requirement: &LabelRequirement) -> RoaringBitmap {
        let Some(index) = self.label_index.get(requirement.key.as_str()) else {
            return match requirement.operator {
                LabelOperator::NotIn(_) | LabelOperator::DoesNotExist => self.live.clone(),
                _ => RoaringBitmap::new(),
            };
        };
        let union_of = |values: &[String]| {
            values
                .iter()
                .filter_map(|v| index.values.get(v.as_str()))
                .fold(RoaringBitmap::new(), |acc, nodes| acc | nodes)
        };
        let compare = |keep: &dyn Fn(i64) -> bool| {
            index
                .values
                .iter()
                .filter(|(value, _)| parse_go_int64(value).is_some_and(keep))
                .fold(RoaringBitmap::new(), |acc, (_, nodes)| acc | nodes)
        };
        match &requirement.operator {
            LabelOperator::In(values) => union_of(values),
            LabelOperator::NotIn(values) => &self.live - union_of(values),
            LabelOperator::Exists => index.present.clone(),
            LabelOperator::DoesNotExist => &self.live - &index.present,
            LabelOperator::Gt(bound) => compare(&|v| v > *bound),
            LabelOperator::Lt(bound) => compare(&|v| v < *bound),
        }
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

    /// Every label key on some node.
    pub fn label_keys(&self) -> impl Iterator<Item = &str> {
        self.label_index.keys().map(AsRef::as_ref)
    }

    /// The values of `key` with how many nodes carry each, most common first.
    pub fn label_values(&self, key: &str) -> Vec<(&str, u64)> {
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
        values.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        values
    }

    /// Every node, as a set.
    pub fn all_nodes(&self) -> &RoaringBitmap {
        &self.live
    }
}
