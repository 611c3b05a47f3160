//! Nodes that do not exist yet: an autoscaler template — a Karpenter `NodePool`, or a
//! Cluster API `MachineDeployment`/`MachineSet` the cluster-autoscaler scales from zero —
//! taken as the set of nodes it can make, and whether a DaemonSet's node selection
//! targets some node of that set.
//!
//! A template says, for each label key, what a node made from it can carry: a fixed
//! value, one of a set, anything but a set, an integer range, or no label at all. The
//! selection targets the template when one of its terms can be satisfied key by key:
//! requirements are intersected as sets (as Karpenter's `scheduling.Requirements` does),
//! never compared as strings. What each autoscaler puts on its nodes, and so what these
//! sets start from, is written down in docs/templates.md; the sources are Karpenter's
//! `pkg/apis/v1/labels.go` and `pkg/scheduling/requirement(s).go`, and the autoscaler's
//! `cloudprovider/clusterapi/clusterapi_unstructured.go` and `clusterapi_utils.go`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use super::resources::ResourceList;
use super::selector::{LabelOperator, LabelRequirement, parse_go_int64};
use super::{NodeSelection, Taint, Term};

/// The autoscaler object a template comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TemplateKind {
    NodePool,
    MachineDeployment,
    MachineSet,
}

impl TemplateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::NodePool => "NodePool",
            TemplateKind::MachineDeployment => "MachineDeployment",
            TemplateKind::MachineSet => "MachineSet",
        }
    }
}

impl fmt::Display for TemplateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Label values, as a set that is either listed or the complement of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueSet {
    Only(BTreeSet<String>),
    AllExcept(BTreeSet<String>),
}

/// What one label key can be on a node made from a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelDomain {
    /// A node may lack the label.
    pub may_be_absent: bool,
    /// The values it may carry when present.
    pub values: ValueSet,
    /// Integer bounds (both strict) the value must also meet, from `Gt`/`Lt`.
    pub greater_than: Option<i64>,
    pub less_than: Option<i64>,
}

/// Always present, any value: a well-known label the autoscaler always sets.
static PRESENT: LabelDomain = LabelDomain {
    may_be_absent: false,
    values: ValueSet::AllExcept(BTreeSet::new()),
    greater_than: None,
    less_than: None,
};
/// Never present: a label nothing puts on the node.
static ABSENT: LabelDomain = LabelDomain {
    may_be_absent: true,
    values: ValueSet::Only(BTreeSet::new()),
    greater_than: None,
    less_than: None,
};
/// Present on some nodes, with any value: set by a component dsguard cannot see
/// (the cloud provider, the instance type).
static UNKNOWN: LabelDomain = LabelDomain {
    may_be_absent: true,
    values: ValueSet::AllExcept(BTreeSet::new()),
    greater_than: None,
    less_than: None,
};

impl LabelDomain {
    pub fn exactly(value: &str) -> Self {
        LabelDomain {
            may_be_absent: false,
            values: ValueSet::Only(BTreeSet::from([value.to_owned()])),
            greater_than: None,
            less_than: None,
        }
    }

    /// Narrows the domain by one requirement the template itself states.
    fn constrain(&mut self, operator: &LabelOperator) {
        match operator {
            LabelOperator::In(values) => {
                self.may_be_absent = false;
                let listed: BTreeSet<String> = values.iter().cloned().collect();
                self.values = match &self.values {
                    ValueSet::Only(set) => ValueSet::Only(set & &listed),
                    ValueSet::AllExcept(excluded) => ValueSet::Only(&listed - excluded),
                };
            }
            LabelOperator::NotIn(values) => match &mut self.values {
                ValueSet::Only(set) => set.retain(|v| !values.contains(v)),
                ValueSet::AllExcept(excluded) => excluded.extend(values.iter().cloned()),
            },
            LabelOperator::Exists => self.may_be_absent = false,
            LabelOperator::DoesNotExist => {
                self.values = ValueSet::Only(BTreeSet::new());
            }
            LabelOperator::Gt(bound) => {
                self.may_be_absent = false;
                self.greater_than = Some(self.greater_than.map_or(*bound, |g| g.max(*bound)));
            }
            LabelOperator::Lt(bound) => {
                self.may_be_absent = false;
                self.less_than = Some(self.less_than.map_or(*bound, |l| l.min(*bound)));
            }
        }
    }

    fn admits_value(&self, value: &str) -> bool {
        let listed = match &self.values {
            ValueSet::Only(set) => set.contains(value),
            ValueSet::AllExcept(excluded) => !excluded.contains(value),
        };
        listed && within(value, self.greater_than, self.less_than)
    }

    /// Some state of the label (absent, or one value) meets every requirement in `ops`.
    fn satisfiable(&self, ops: &[Op<'_>]) -> bool {
        let absent_meets_all = ops.iter().all(|op| op.holds_when_absent());
        (self.may_be_absent && absent_meets_all) || self.some_value_meets(ops)
    }

    fn some_value_meets(&self, ops: &[Op<'_>]) -> bool {
        if ops
            .iter()
            .any(|op| matches!(op, Op::Is(LabelOperator::DoesNotExist)))
        {
            return false;
        }
        let admits =
            |value: &str| self.admits_value(value) && ops.iter().all(|op| op.admits(value));
        // A finite list to choose from: the template's own values, or the first In of the
        // selection. Either way the answer is one of them or nothing.
        if let ValueSet::Only(set) = &self.values {
            return set.iter().any(|v| admits(v));
        }
        if let Some(listed) = ops.iter().find_map(Op::listed) {
            return listed.iter().any(|v| admits(v));
        }
        // Any string but finitely many. Without integer bounds one always remains; with
        // them, a canonical integer in range that no list excludes must exist (a node
        // label is written once, as the autoscaler prints the number).
        let mut greater_than = self.greater_than;
        let mut less_than = self.less_than;
        for op in ops {
            match op {
                Op::Is(LabelOperator::Gt(b)) => {
                    greater_than = Some(greater_than.map_or(*b, |g| g.max(*b)))
                }
                Op::Is(LabelOperator::Lt(b)) => {
                    less_than = Some(less_than.map_or(*b, |l| l.min(*b)))
                }
                _ => {}
            }
        }
        if greater_than.is_none() && less_than.is_none() {
            return true;
        }
        // A label value starts with an alphanumeric: no negative number is a label value.
        let lowest = greater_than.map_or(0, |g| g.saturating_add(1)).max(0);
        let Some(highest) = less_than.map_or(Some(i64::MAX), |l| l.checked_sub(1)) else {
            return false;
        };
        if lowest > highest {
            return false;
        }
        let excluded = match &self.values {
            ValueSet::AllExcept(excluded) => excluded.len(),
            ValueSet::Only(_) => 0,
        } + ops.iter().map(Op::excluded_count).sum::<usize>();
        let span = (highest as i128 - lowest as i128 + 1) as u128;
        if span > excluded as u128 {
            return true;
        }
        // At most `excluded` integers: look at each.
        (lowest..=highest).any(|n| admits(&n.to_string()))
    }
}

/// `value` read as an integer meets the strict bounds (no bound, no need to be a number).
fn within(value: &str, greater_than: Option<i64>, less_than: Option<i64>) -> bool {
    if greater_than.is_none() && less_than.is_none() {
        return true;
    }
    parse_go_int64(value)
        .is_some_and(|n| greater_than.is_none_or(|g| n > g) && less_than.is_none_or(|l| n < l))
}

/// One requirement of the selection on one key: a `nodeSelector` equality or a
/// `matchExpressions` entry.
#[derive(Clone, Copy, Debug)]
enum Op<'a> {
    Equals(&'a String),
    Is(&'a LabelOperator),
}

impl<'a> Op<'a> {
    fn holds_when_absent(&self) -> bool {
        matches!(self, Op::Is(operator) if operator.holds_when_absent())
    }

    /// `Requirement.Matches` on a node that carries `value`.
    fn admits(&self, value: &str) -> bool {
        match self {
            Op::Equals(wanted) => wanted.as_str() == value,
            Op::Is(operator) => operator.admits(value),
        }
    }

    fn listed(&self) -> Option<&'a [String]> {
        match self {
            Op::Equals(value) => Some(std::slice::from_ref(*value)),
            Op::Is(LabelOperator::In(values)) => Some(values),
            _ => None,
        }
    }

    fn excluded_count(&self) -> usize {
        match self {
            Op::Is(LabelOperator::NotIn(values)) => values.len(),
            _ => 0,
        }
    }
}

/// A node selection prepared for judging templates: its terms as conjunctions of
/// requirements grouped by key, `nodeSelector` folded into each, with each key's current
/// name and default domains worked out once. Built once per evaluation and used for
/// every template.
#[derive(Debug, Default)]
pub struct TemplateQuery<'a> {
    /// No conjunction: nothing targeted.
    conjunctions: Vec<Vec<KeyRequirements<'a>>>,
}

/// The requirements of one conjunction on one key.
#[derive(Debug)]
struct KeyRequirements<'a> {
    /// The key as templates store it (deprecated aliases mapped to the current key).
    key: &'a str,
    ops: Vec<Op<'a>>,
    /// The domain when a template does not mention the key, per autoscaler.
    karpenter_default: &'static LabelDomain,
    cluster_autoscaler_default: &'static LabelDomain,
}

/// Up to this many terms are kept as they are; beyond, identical terms are merged first.
const FEW_TERMS: usize = 8;

impl<'a> TemplateQuery<'a> {
    pub fn new(selection: &'a NodeSelection) -> Self {
        // A template makes nodes whose names nobody knows yet: a selection by name
        // (`nodeName`, `matchFields` on metadata.name) never targets one.
        if selection.node_name.is_some() {
            return Self::default();
        }
        let base = selection
            .node_selector
            .iter()
            .map(|(key, value)| (key.as_str(), Op::Equals(value)));
        let conjunctions = match &selection.required_terms {
            None => vec![group(base.collect())],
            Some(terms) => {
                let mut seen: HashSet<&Term> = HashSet::new();
                terms
                    .iter()
                    .filter(|term| terms.len() <= FEW_TERMS || seen.insert(term))
                    .filter_map(|term| match term {
                        Term::Valid { labels, fields } if fields.is_empty() => Some(group(
                            base.clone()
                                .chain(labels.iter().map(|r| (r.key.as_str(), Op::Is(&r.operator))))
                                .collect(),
                        )),
                        _ => None,
                    })
                    .collect()
            }
        };
        Self { conjunctions }
    }
}

fn group<'a>(mut pairs: Vec<(&'a str, Op<'a>)>) -> Vec<KeyRequirements<'a>> {
    for pair in &mut pairs {
        pair.0 = current_key(pair.0);
    }
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut grouped: Vec<KeyRequirements<'a>> = Vec::new();
    for (key, op) in pairs {
        match grouped.last_mut() {
            Some(last) if last.key == key => last.ops.push(op),
            _ => grouped.push(KeyRequirements {
                key,
                ops: vec![op],
                karpenter_default: default_domain(Maker::Karpenter, key),
                cluster_autoscaler_default: default_domain(Maker::ClusterAutoscaler, key),
            }),
        }
    }
    grouped
}

/// What the cluster-autoscaler reads from a Cluster API node group (a MachineDeployment
/// or MachineSet) to build its template node.
pub struct NodeGroup<'a> {
    pub kind: TemplateKind,
    pub namespace: &'a str,
    pub name: &'a str,
    /// `capacity.cluster-autoscaler.kubernetes.io/labels`.
    pub autoscaler_labels: &'a BTreeMap<String, String>,
    /// `spec.template.metadata.labels` (the Machine's labels).
    pub machine_labels: &'a BTreeMap<String, String>,
    /// `capacity.cluster-autoscaler.kubernetes.io/taints`.
    pub taints: Vec<Taint>,
    pub replicas: Option<u64>,
    /// From the capacity annotations.
    pub allocatable: Option<ResourceList>,
}

/// Which autoscaler's rules decide the labels a template does not mention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Maker {
    Karpenter,
    ClusterAutoscaler,
}

/// An autoscaler template: the nodes it can make, and the taints they start with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeTemplate {
    pub kind: TemplateKind,
    /// Empty for a NodePool (cluster-scoped).
    pub namespace: String,
    pub name: String,
    /// The keys the template decides; other keys follow [`Maker`]'s rules.
    domains: BTreeMap<String, LabelDomain>,
    maker: Maker,
    /// Taints every node made from it carries.
    pub taints: Vec<Taint>,
    /// Taints removed by another component once the node is ready (Karpenter
    /// `startupTaints`): pods need not tolerate them.
    pub startup_taints: Vec<Taint>,
    /// Cluster API `spec.replicas`: how many nodes it has now, when stated.
    pub replicas: Option<u64>,
    /// What each of its nodes can give pods, when the template says (Cluster API capacity
    /// annotations); Karpenter NodePools do not, and resource fit is not judged there.
    pub allocatable: Option<ResourceList>,
}

/// Karpenter's own labels on every node it makes (`karpenter.sh/registered`,
/// `karpenter.sh/initialized`), besides `karpenter.sh/nodepool`.
const KARPENTER_NODEPOOL_LABEL: &str = "karpenter.sh/nodepool";
const KARPENTER_STATUS_LABELS: [&str; 2] = ["karpenter.sh/registered", "karpenter.sh/initialized"];

/// Karpenter's `WellKnownLabels` that are on every node, to some value the requirements
/// allow (`pkg/apis/v1/labels.go`).
const KARPENTER_WELL_KNOWN: [&str; 6] = [
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "karpenter.sh/capacity-type",
];

/// Label domains whose keys a cloud provider or the instance type sets on some nodes
/// and not others (GPU labels only on GPU instances): unknown, so never a reason to say
/// "not targeted".
const PROVIDER_LABEL_PREFIXES: [&str; 6] = [
    "karpenter.k8s.aws/",
    "topology.k8s.aws/",
    "karpenter.azure.com/",
    "kubernetes.azure.com/",
    "karpenter.k8s.gcp/",
    "node.kubernetes.io/windows-build",
];

/// Labels the cloud provider sets on a Cluster API node but the autoscaler's template
/// node does not carry: unknown.
const CLOUD_PROVIDER_LABELS: [&str; 3] = [
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "node.kubernetes.io/instance-type",
];

/// The kubelet sets it on every node, to the node's name.
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// Deprecated keys that carry the same value as a current one on every node.
fn current_key(key: &str) -> &str {
    match key {
        "beta.kubernetes.io/arch" => "kubernetes.io/arch",
        "beta.kubernetes.io/os" => "kubernetes.io/os",
        "beta.kubernetes.io/instance-type" => "node.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/zone" => "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region" => "topology.kubernetes.io/region",
        other => other,
    }
}

/// Label key prefixes Cluster API copies from the Machine to its Node.
fn propagates_to_node(key: &str) -> bool {
    let Some((domain, _)) = key.split_once('/') else {
        return false;
    };
    let is_or_under = |suffix: &str| {
        domain == suffix
            || domain
                .strip_suffix(suffix)
                .is_some_and(|d| d.ends_with('.'))
    };
    domain == "node-role.kubernetes.io"
        || is_or_under("node-restriction.kubernetes.io")
        || is_or_under("node.cluster.x-k8s.io")
}

impl NodeTemplate {
    /// A Karpenter NodePool: `spec.template.metadata.labels`, `spec.template.spec`
    /// `requirements`, `taints` and `startupTaints`. Every node it makes carries
    /// `karpenter.sh/nodepool: <name>`, the labels, and for each required key one value
    /// the requirements allow.
    pub fn node_pool(
        name: &str,
        labels: &BTreeMap<String, String>,
        requirements: &[LabelRequirement],
        taints: Vec<Taint>,
        startup_taints: Vec<Taint>,
    ) -> Self {
        let mut domains: BTreeMap<String, LabelDomain> = labels
            .iter()
            .map(|(key, value)| (current_key(key).to_owned(), LabelDomain::exactly(value)))
            .collect();
        domains.insert(KARPENTER_NODEPOOL_LABEL.into(), LabelDomain::exactly(name));
        for key in KARPENTER_STATUS_LABELS {
            domains.insert(key.into(), LabelDomain::exactly("true"));
        }
        for requirement in requirements {
            let key = current_key(&requirement.key);
            let domain = domains.entry(key.to_owned()).or_insert_with(|| {
                match default_domain(Maker::Karpenter, key) {
                    // A requirement puts a key nothing else sets on the node, except
                    // where it allows the label to be absent (NotIn, DoesNotExist).
                    d if d == &ABSENT => UNKNOWN.clone(),
                    d => d.clone(),
                }
            });
            domain.constrain(&requirement.operator);
        }
        Self {
            kind: TemplateKind::NodePool,
            namespace: String::new(),
            name: name.to_owned(),
            domains,
            maker: Maker::Karpenter,
            taints,
            startup_taints,
            replicas: None,
            allocatable: None,
        }
    }

    /// A Cluster API MachineDeployment or MachineSet the cluster-autoscaler scales from
    /// zero: its template node carries the `capacity.cluster-autoscaler.kubernetes.io/labels`
    /// (with `kubernetes.io/os=linux` and `kubernetes.io/arch=amd64` unless they say
    /// otherwise), the Machine labels Cluster API copies to Nodes, and the
    /// `.../taints`.
    pub fn cluster_api(group: NodeGroup<'_>) -> Self {
        let NodeGroup {
            kind,
            namespace,
            name,
            autoscaler_labels,
            machine_labels,
            taints,
            replicas,
            allocatable,
        } = group;
        let mut domains: BTreeMap<String, LabelDomain> = BTreeMap::new();
        domains.insert("kubernetes.io/os".into(), LabelDomain::exactly("linux"));
        domains.insert("kubernetes.io/arch".into(), LabelDomain::exactly("amd64"));
        for (key, value) in machine_labels.iter().filter(|(k, _)| propagates_to_node(k)) {
            domains.insert(key.clone(), LabelDomain::exactly(value));
        }
        for (key, value) in autoscaler_labels {
            domains.insert(current_key(key).to_owned(), LabelDomain::exactly(value));
        }
        Self {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            domains,
            maker: Maker::ClusterAutoscaler,
            taints,
            startup_taints: Vec::new(),
            replicas,
            allocatable,
        }
    }

    /// `NodePool gpu`, `MachineDeployment infra/md-gpu`.
    pub fn display_name(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// What a node made from this template can carry under `key`.
    fn domain(&self, key: &str) -> &LabelDomain {
        let key = current_key(key);
        self.domains
            .get(key)
            .unwrap_or_else(|| default_domain(self.maker, key))
    }

    /// The label keys the template itself decides (for did-you-mean hints).
    pub fn label_keys(&self) -> impl Iterator<Item = &str> {
        self.domains.keys().map(String::as_str)
    }

    /// The values the template fixes for `key`, when it lists them.
    pub fn listed_values(&self, key: &str) -> Option<&BTreeSet<String>> {
        match &self.domain(key).values {
            ValueSet::Only(values) if !values.is_empty() => Some(values),
            _ => None,
        }
    }

    /// Some node this template can make satisfies the selection.
    pub fn targeted_by(&self, query: &TemplateQuery<'_>) -> bool {
        query.conjunctions.iter().any(|conjunction| {
            conjunction.iter().all(|requirements| {
                let domain = self
                    .domains
                    .get(requirements.key)
                    .unwrap_or(match self.maker {
                        Maker::Karpenter => requirements.karpenter_default,
                        Maker::ClusterAutoscaler => requirements.cluster_autoscaler_default,
                    });
                domain.satisfiable(&requirements.ops)
            })
        })
    }
}

/// The domain of a key a template does not mention.
fn default_domain(maker: Maker, key: &str) -> &'static LabelDomain {
    if key == HOSTNAME_LABEL {
        return &PRESENT;
    }
    match maker {
        Maker::Karpenter if KARPENTER_WELL_KNOWN.contains(&key) => &PRESENT,
        Maker::Karpenter if PROVIDER_LABEL_PREFIXES.iter().any(|p| key.starts_with(p)) => &UNKNOWN,
        Maker::ClusterAutoscaler if CLOUD_PROVIDER_LABELS.contains(&key) => &UNKNOWN,
        _ => &ABSENT,
    }
}

/// `capacity.cluster-autoscaler.kubernetes.io/labels`: `key=value,key2=value2`.
pub fn parse_autoscaler_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((key, value)) = entry.split_once('=') else {
            return Err(format!("{entry:?} is not key=value"));
        };
        super::labels::validate_label_key(key.trim())?;
        super::labels::validate_label_value(value.trim())?;
        labels.insert(key.trim().to_owned(), value.trim().to_owned());
    }
    Ok(labels)
}

/// `capacity.cluster-autoscaler.kubernetes.io/taints`: `key=value:Effect,key2:Effect`.
pub fn parse_autoscaler_taints(text: &str) -> Result<Vec<Taint>, String> {
    let mut taints = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((key_value, effect)) = entry.rsplit_once(':') else {
            return Err(format!("{entry:?} is not key=value:Effect"));
        };
        let (key, value) = key_value.split_once('=').unwrap_or((key_value, ""));
        let effect = effect.trim();
        if !matches!(effect, "NoSchedule" | "NoExecute" | "PreferNoSchedule") {
            return Err(format!(
                "{entry:?}: the effect must be NoSchedule, NoExecute or PreferNoSchedule"
            ));
        }
        super::labels::validate_label_key(key.trim())?;
        taints.push(Taint::new(key.trim(), value.trim(), effect));
    }
    Ok(taints)
}
