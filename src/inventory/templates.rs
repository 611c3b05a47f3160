//! Autoscaler templates in the inventory: Karpenter `NodePool`s and Cluster API
//! `MachineDeployment`s/`MachineSet`s decoded into [`NodeTemplate`]s (the snapshot files
//! and the cluster watch decode the same [`TemplateObject`]), kept in a small sorted list
//! beside the node index, and judged against a selection and its tolerations.
//!
//! Templates are few (tens), so each evaluation looks at every one: no index.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Inventory;
use crate::scheduling::selector::{LabelRequirement, NodeSelectorRequirement};
use crate::scheduling::templates::{parse_autoscaler_labels, parse_autoscaler_taints};
use crate::scheduling::{
    NodeGroup, NodeSelection, NodeTemplate, Taint, TemplateKind, TemplateQuery, Toleration,
    untolerated_taints,
};
use crate::serde_util::null_as_default;

pub const MIN_SIZE_ANNOTATION: &str = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size";
pub const MAX_SIZE_ANNOTATION: &str = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size";
pub const LABELS_ANNOTATION: &str = "capacity.cluster-autoscaler.kubernetes.io/labels";
pub const TAINTS_ANNOTATION: &str = "capacity.cluster-autoscaler.kubernetes.io/taints";
const CAPACITY_PREFIX: &str = "capacity.cluster-autoscaler.kubernetes.io/";

/// The autoscaler's capacity annotations and the resource each gives
/// (`clusterapi_unstructured.go`); with any of them, `pods` defaults to 110.
const CAPACITY_ANNOTATIONS: [(&str, &str); 4] = [
    ("cpu", "cpu"),
    ("memory", "memory"),
    ("ephemeral-disk", "ephemeral-storage"),
    ("maxPods", "pods"),
];
const DEFAULT_MAX_PODS: i128 = 110;

/// The allocatable a scaled-from-zero template node has, from the capacity annotations
/// (`gpu-type` and `gpu-count` give an extended resource); `None` without any.
fn template_allocatable(
    annotations: &BTreeMap<String, String>,
) -> Result<Option<crate::scheduling::resources::ResourceList>, String> {
    use crate::scheduling::resources::{QuantityText, amount};
    let mut allocatable = crate::scheduling::resources::ResourceList::new();
    for (suffix, resource) in CAPACITY_ANNOTATIONS {
        if let Some(text) = annotations.get(&format!("{CAPACITY_PREFIX}{suffix}")) {
            let value = amount(resource, &QuantityText(text.trim().to_owned()))
                .map_err(|e| format!("annotation {CAPACITY_PREFIX}{suffix}: {e}"))?;
            allocatable.insert(resource.to_owned(), value);
        }
    }
    let gpu_type = annotations.get(&format!("{CAPACITY_PREFIX}gpu-type"));
    let gpu_count = annotations.get(&format!("{CAPACITY_PREFIX}gpu-count"));
    if let (Some(kind), Some(count)) = (gpu_type, gpu_count) {
        let value = amount(kind, &QuantityText(count.trim().to_owned()))
            .map_err(|e| format!("annotation {CAPACITY_PREFIX}gpu-count: {e}"))?;
        allocatable.insert(kind.trim().to_owned(), value);
    }
    if allocatable.is_empty() {
        return Ok(None);
    }
    allocatable.entry("pods".into()).or_insert(DEFAULT_MAX_PODS);
    Ok(Some(allocatable))
}

/// A NodePool, MachineDeployment or MachineSet: the fields templates are made from.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateObject {
    #[serde(default, deserialize_with = "null_as_default")]
    pub api_version: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: TemplateMetadata,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: TemplateObjectSpec,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub namespace: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub owner_references: Vec<OwnerReference>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct OwnerReference {
    #[serde(default, deserialize_with = "null_as_default")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateObjectSpec {
    /// A number, or text a template tool has not filled in yet (`${REPLICAS}`).
    #[serde(default)]
    pub replicas: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub template: NodeTemplateSpec,
}

/// `spec.template` of all three kinds: labels, and (NodePool) requirements and taints.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeTemplateSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: TemplateLabels,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: NodeClaimSpec,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct TemplateLabels {
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    pub requirements: Vec<NodeSelectorRequirement>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub taints: Vec<Taint>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub startup_taints: Vec<Taint>,
}

/// What an object is, as a template source.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    Template(NodeTemplate),
    /// One of the kinds, but not a template of nodes to come; says why.
    NotAutoscaled(String),
    /// Another kind of object.
    OtherKind,
}

/// The template kind of an object's `apiVersion` and `kind`, if it is one.
pub fn template_kind(api_version: &str, kind: &str) -> Option<TemplateKind> {
    let group = api_version.split_once('/').map_or("", |(group, _)| group);
    match (group, kind) {
        ("karpenter.sh", "NodePool") => Some(TemplateKind::NodePool),
        ("cluster.x-k8s.io", "MachineDeployment") => Some(TemplateKind::MachineDeployment),
        ("cluster.x-k8s.io", "MachineSet") => Some(TemplateKind::MachineSet),
        _ => None,
    }
}

impl TemplateObject {
    /// The template this object describes; `Err` says what in it cannot be used.
    pub fn decode(self) -> Result<Decoded, String> {
        let Some(kind) = template_kind(&self.api_version, &self.kind) else {
            return Ok(Decoded::OtherKind);
        };
        let TemplateObject { metadata, spec, .. } = self;
        if metadata.name.is_empty() {
            return Err(format!("a {kind} without metadata.name"));
        }
        if kind == TemplateKind::NodePool {
            let requirements = spec
                .template
                .spec
                .requirements
                .iter()
                .enumerate()
                .map(|(i, raw)| {
                    LabelRequirement::parse(raw)
                        .map_err(|why| format!("spec.template.spec.requirements[{i}]: {why}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Decoded::Template(NodeTemplate::node_pool(
                &metadata.name,
                &spec.template.metadata.labels,
                &requirements,
                spec.template.spec.taints,
                spec.template.spec.startup_taints,
            )));
        }
        let annotations = &metadata.annotations;
        if !(annotations.contains_key(MIN_SIZE_ANNOTATION)
            && annotations.contains_key(MAX_SIZE_ANNOTATION))
        {
            return Ok(Decoded::NotAutoscaled(format!(
                "{kind} {}: no {MIN_SIZE_ANNOTATION} and {MAX_SIZE_ANNOTATION} annotations, so the cluster-autoscaler does not scale it; its nodes count as live nodes only",
                metadata.name
            )));
        }
        if kind == TemplateKind::MachineSet
            && let Some(owner) = metadata
                .owner_references
                .iter()
                .find(|o| o.kind == "MachineDeployment")
        {
            return Ok(Decoded::NotAutoscaled(format!(
                "MachineSet {}: owned by MachineDeployment {}, which is the node group the autoscaler scales",
                metadata.name, owner.name
            )));
        }
        let labels = match annotations.get(LABELS_ANNOTATION) {
            Some(text) => parse_autoscaler_labels(text)
                .map_err(|why| format!("annotation {LABELS_ANNOTATION}: {why}"))?,
            None => BTreeMap::new(),
        };
        let taints = match annotations.get(TAINTS_ANNOTATION) {
            Some(text) => parse_autoscaler_taints(text)
                .map_err(|why| format!("annotation {TAINTS_ANNOTATION}: {why}"))?,
            None => Vec::new(),
        };
        let allocatable = template_allocatable(annotations)?;
        let namespace = if metadata.namespace.is_empty() {
            "default"
        } else {
            &metadata.namespace
        };
        Ok(Decoded::Template(NodeTemplate::cluster_api(NodeGroup {
            kind,
            namespace,
            name: &metadata.name,
            autoscaler_labels: &labels,
            machine_labels: &spec.template.metadata.labels,
            taints,
            replicas: spec.replicas.as_ref().and_then(serde_json::Value::as_u64),
            allocatable,
        })))
    }
}

/// Where a DaemonSet's pods go among the templates: one entry per template, in the
/// inventory's order.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplatePlacement {
    /// Index into [`Inventory::templates`].
    pub index: usize,
    /// Some node the template can make is selected.
    pub targeted: bool,
    /// Its `taints` the pods do not tolerate (NoSchedule/NoExecute).
    pub untolerated: Vec<Taint>,
    /// Its `startupTaints` the pods do not tolerate: information only.
    pub untolerated_startup: Vec<Taint>,
}

impl TemplatePlacement {
    pub fn runnable(&self) -> bool {
        self.targeted && self.untolerated.is_empty()
    }
}

impl Inventory {
    pub fn templates(&self) -> &[NodeTemplate] {
        &self.templates
    }

    pub fn template_count(&self) -> usize {
        self.templates.len()
    }

    /// Which set of templates this is: a number no other set of templates, in any
    /// inventory of this process, has had (0: none was ever applied). Answers that depend on
    /// the templates are remembered under it.
    pub fn templates_version(&self) -> u64 {
        self.templates_version
    }

    /// The templates, to change them (a new [`Inventory::templates_version`]).
    fn templates_mut(&mut self) -> &mut Vec<NodeTemplate> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        self.templates_version = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::sync::Arc::make_mut(&mut self.templates)
    }

    /// Adds a template or replaces the one of the same kind, namespace and name.
    pub fn apply_template(&mut self, template: NodeTemplate) {
        let templates = self.templates_mut();
        match templates.binary_search_by(|t| template_key(t).cmp(&template_key(&template))) {
            Ok(i) => templates[i] = template,
            Err(i) => templates.insert(i, template),
        }
    }

    pub fn delete_template(&mut self, kind: TemplateKind, namespace: &str, name: &str) {
        if let Ok(i) = self
            .templates
            .binary_search_by(|t| template_key(t).cmp(&(kind, namespace, name)))
        {
            self.templates_mut().remove(i);
        }
    }

    /// Replaces every template of `kind` (a relist of that kind).
    pub fn reset_templates(
        &mut self,
        kind: TemplateKind,
        templates: impl IntoIterator<Item = NodeTemplate>,
    ) {
        self.templates_mut().retain(|t| t.kind != kind);
        for template in templates {
            self.apply_template(template);
        }
    }

    /// How many live nodes a template has now: the nodes labelled with a NodePool's
    /// name, or a MachineDeployment's stated replicas.
    pub fn template_nodes_now(&self, template: &NodeTemplate) -> Option<u64> {
        match template.kind {
            TemplateKind::NodePool => Some(
                self.label_nodes("karpenter.sh/nodepool", &template.name)
                    .map_or(0, roaring::RoaringBitmap::len),
            ),
            TemplateKind::MachineDeployment | TemplateKind::MachineSet => template.replicas,
        }
    }

    /// Every template, whether the selection targets it, and the taints `tolerations`
    /// (the DaemonSet controller's included) leave untolerated there.
    pub fn template_placements(
        &self,
        selection: &NodeSelection,
        tolerations: &[Toleration],
        comparison_operators: bool,
    ) -> Vec<TemplatePlacement> {
        if self.templates.is_empty() {
            return Vec::new();
        }
        let query = TemplateQuery::new(selection);
        self.templates
            .iter()
            .enumerate()
            .map(|(index, template)| TemplatePlacement {
                index,
                targeted: template.targeted_by(&query),
                untolerated: untolerated(&template.taints, tolerations, comparison_operators),
                untolerated_startup: untolerated(
                    &template.startup_taints,
                    tolerations,
                    comparison_operators,
                ),
            })
            .collect()
    }
}

impl Inventory {
    /// Only the targeted templates whose `taints` the pods do not tolerate: the common
    /// question (a DaemonSet that runs on some live nodes), answered without judging the
    /// selection against templates that would not block it anyway.
    pub fn blocked_templates(
        &self,
        selection: &NodeSelection,
        tolerations: &[Toleration],
        comparison_operators: bool,
    ) -> Vec<TemplatePlacement> {
        let mut query = None;
        let mut blocked = Vec::new();
        for (index, template) in self.templates.iter().enumerate() {
            let blocking = untolerated(&template.taints, tolerations, comparison_operators);
            if blocking.is_empty() {
                continue;
            }
            let query = query.get_or_insert_with(|| TemplateQuery::new(selection));
            if template.targeted_by(query) {
                blocked.push(TemplatePlacement {
                    index,
                    targeted: true,
                    untolerated: blocking,
                    untolerated_startup: untolerated(
                        &template.startup_taints,
                        tolerations,
                        comparison_operators,
                    ),
                });
            }
        }
        blocked
    }
}

/// The taints of `taints` that keep pods with `tolerations` off a node.
fn untolerated(
    taints: &[Taint],
    tolerations: &[Toleration],
    comparison_operators: bool,
) -> Vec<Taint> {
    untolerated_taints(taints, tolerations, comparison_operators)
        .cloned()
        .collect()
}

fn template_key(template: &NodeTemplate) -> (TemplateKind, &str, &str) {
    (template.kind, &template.namespace, &template.name)
}
