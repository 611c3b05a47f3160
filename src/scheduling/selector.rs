//! Which nodes a pod template targets: `nodeName`, `nodeSelector` and the required node
//! affinity, with the semantics of `component-helpers/scheduling/corev1/nodeaffinity` and
//! `apimachinery/pkg/labels`.
//!
//! The manifest shapes (`NodeSelectorTerm`, ...) are parsed once into a [`NodeSelection`]
//! whose parts are also what the inventory evaluates with bitsets; [`NodeSelection::matches`]
//! is the per-node reference the bitset evaluation is tested against.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::labels::{validate_label_key, validate_label_value};
use crate::serde_util::{counted, null_as_default};

/// A `NodeSelectorRequirement` exactly as written in the manifest (operator unparsed).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorRequirement {
    #[serde(default, deserialize_with = "null_as_default")]
    pub key: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub operator: String,
    #[serde(default, deserialize_with = "counted")]
    pub values: Vec<String>,
}

/// A `NodeSelectorTerm` as written: expressions and fields, ANDed.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorTerm {
    #[serde(default, deserialize_with = "counted")]
    pub match_expressions: Vec<NodeSelectorRequirement>,
    #[serde(default, deserialize_with = "counted")]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

/// `requiredDuringSchedulingIgnoredDuringExecution`: terms, ORed. `None` terms (JSON null
/// or absent) and `[]` both select nothing, as in Kubernetes.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelector {
    #[serde(default, deserialize_with = "counted")]
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

/// `pod.spec.affinity`, reduced to what placement needs.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    #[serde(default)]
    pub node_affinity: Option<NodeAffinity>,
}

/// `affinity.nodeAffinity`: only the required part constrains placement.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeAffinity {
    #[serde(default)]
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelector>,
}

impl Affinity {
    pub fn required(&self) -> Option<&NodeSelector> {
        self.node_affinity
            .as_ref()?
            .required_during_scheduling_ignored_during_execution
            .as_ref()
    }
}

/// The operator of a parsed label requirement, with its validated operands.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LabelOperator {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    Gt(i64),
    Lt(i64),
}

/// One parsed `matchExpressions` entry (`labels.Requirement`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LabelRequirement {
    pub key: String,
    pub operator: LabelOperator,
}

impl LabelRequirement {
    /// `labels.NewRequirement` with the node-selector operator mapping: the key must be a
    /// valid label key, every value a valid label value, In/NotIn need values,
    /// Exists/DoesNotExist none, Gt/Lt exactly one base-10 int64.
    pub fn parse(raw: &NodeSelectorRequirement) -> Result<Self, String> {
        validate_label_key(&raw.key)?;
        for value in &raw.values {
            validate_label_value(value)?;
        }
        let key = &raw.key;
        let operator = match raw.operator.as_str() {
            "In" | "NotIn" => {
                if raw.values.is_empty() {
                    return Err(format!("{key} {}: needs at least one value", raw.operator));
                }
                if raw.operator == "In" {
                    LabelOperator::In(raw.values.clone())
                } else {
                    LabelOperator::NotIn(raw.values.clone())
                }
            }
            "Exists" | "DoesNotExist" => {
                if !raw.values.is_empty() {
                    return Err(format!("{key} {}: takes no values", raw.operator));
                }
                if raw.operator == "Exists" {
                    LabelOperator::Exists
                } else {
                    LabelOperator::DoesNotExist
                }
            }
            "Gt" | "Lt" => {
                let [value] = raw.values.as_slice() else {
                    return Err(format!("{key} {}: needs exactly one value", raw.operator));
                };
                let bound = parse_go_int64(value).ok_or_else(|| {
                    format!("{key} {}: {value:?} is not an integer", raw.operator)
                })?;
                if raw.operator == "Gt" {
                    LabelOperator::Gt(bound)
                } else {
                    LabelOperator::Lt(bound)
                }
            }
            other => {
                return Err(format!(
                    "{key}: {other:?} is not a valid node selector operator"
                ));
            }
        };
        Ok(Self {
            key: key.clone(),
            operator,
        })
    }

    /// `Requirement.Matches`: NotIn and DoesNotExist hold where the key is absent; Gt/Lt
    /// need the label present and parseable as an integer.
    pub fn matches<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        match label(&self.key) {
            Some(value) => self.operator.admits(value),
            None => self.operator.holds_when_absent(),
        }
    }
}

impl LabelOperator {
    /// As written in a manifest: `In [a, b]`, `Exists`, `Gt 3`.
    pub fn text(&self) -> String {
        match self {
            LabelOperator::In(values) => format!("In [{}]", values.join(", ")),
            LabelOperator::NotIn(values) => format!("NotIn [{}]", values.join(", ")),
            LabelOperator::Exists => "Exists".into(),
            LabelOperator::DoesNotExist => "DoesNotExist".into(),
            LabelOperator::Gt(bound) => format!("Gt {bound}"),
            LabelOperator::Lt(bound) => format!("Lt {bound}"),
        }
    }

    /// The requirement holds on a node that carries the label with `value`.
    pub fn admits(&self, value: &str) -> bool {
        match self {
            LabelOperator::In(values) => values.iter().any(|x| x == value),
            LabelOperator::NotIn(values) => !values.iter().any(|x| x == value),
            LabelOperator::Exists => true,
            LabelOperator::DoesNotExist => false,
            LabelOperator::Gt(bound) => parse_go_int64(value).is_some_and(|v| v > *bound),
            LabelOperator::Lt(bound) => parse_go_int64(value).is_some_and(|v| v < *bound),
        }
    }

    /// The requirement holds on a node without the label: NotIn and DoesNotExist.
    pub fn holds_when_absent(&self) -> bool {
        matches!(self, LabelOperator::NotIn(_) | LabelOperator::DoesNotExist)
    }
}

/// `strconv.ParseInt(s, 10, 64)`: optional sign, ASCII digits, leading zeros allowed.
pub fn parse_go_int64(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// One parsed `matchFields` entry: a field selector term on the node's fields. Only
/// `metadata.name` exists on the node side; any other key reads as the empty string,
/// as `fields.Set.Get` does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    pub key: String,
    pub value: String,
    /// `In` (equal) or `NotIn` (not equal).
    pub equal: bool,
}

pub const NODE_NAME_FIELD: &str = "metadata.name";

impl FieldRequirement {
    /// `nodeSelectorRequirementsAsFieldSelector`: In/NotIn with exactly one value.
    pub fn parse(raw: &NodeSelectorRequirement) -> Result<Self, String> {
        let equal = match raw.operator.as_str() {
            "In" => true,
            "NotIn" => false,
            other => {
                return Err(format!(
                    "matchFields {}: {other:?} is not supported (only In and NotIn)",
                    raw.key
                ));
            }
        };
        let [value] = raw.values.as_slice() else {
            return Err(format!(
                "matchFields {} {}: needs exactly one value",
                raw.key, raw.operator
            ));
        };
        Ok(Self {
            key: raw.key.clone(),
            value: value.clone(),
            equal,
        })
    }

    pub fn matches(&self, node_name: &str) -> bool {
        let field = if self.key == NODE_NAME_FIELD {
            node_name
        } else {
            ""
        };
        (field == self.value) == self.equal
    }
}

/// A parsed term; an invalid one matches nothing but leaves the other terms counting.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Term {
    Valid {
        labels: Vec<LabelRequirement>,
        fields: Vec<FieldRequirement>,
    },
    /// No expressions and no fields: dropped by Kubernetes, so it matches nothing.
    Empty,
    Invalid(String),
}

impl Term {
    pub fn parse(raw: &NodeSelectorTerm) -> Self {
        if raw.match_expressions.is_empty() && raw.match_fields.is_empty() {
            return Term::Empty;
        }
        let labels = raw.match_expressions.iter().map(LabelRequirement::parse);
        let fields = raw.match_fields.iter().map(FieldRequirement::parse);
        match (labels.collect(), fields.collect()) {
            (Ok(labels), Ok(fields)) => Term::Valid { labels, fields },
            (Err(why), _) | (_, Err(why)) => Term::Invalid(why),
        }
    }

    pub fn matches<'a>(
        &self,
        node_name: &str,
        label: impl Fn(&str) -> Option<&'a str> + Copy,
    ) -> bool {
        match self {
            Term::Valid { labels, fields } => {
                labels.iter().all(|r| r.matches(label))
                    // Quirk kept from nodeSelectorTerm.match: no fields, no field check.
                    && (node_name.is_empty() || fields.iter().all(|f| f.matches(node_name)))
            }
            Term::Empty | Term::Invalid(_) => false,
        }
    }
}

/// Everything in a pod template that decides which nodes it targets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeSelection {
    /// `spec.nodeName`, when non-empty: that node alone.
    pub node_name: Option<String>,
    /// `spec.nodeSelector` entries (empty map = absent): each an equality, ANDed.
    pub node_selector: Vec<(String, String)>,
    /// Required node affinity terms, ORed; `None` when the pod has none.
    pub required_terms: Option<Vec<Term>>,
}

impl NodeSelection {
    /// About how many bytes of text the selection holds (keys, values, names): what
    /// remembering it as a key costs.
    pub fn text_bytes(&self) -> usize {
        let requirement = |r: &LabelRequirement| {
            r.key.len()
                + match &r.operator {
                    LabelOperator::In(values) | LabelOperator::NotIn(values) => {
                        values.iter().map(|v| v.len() + 8).sum()
                    }
                    _ => 8,
                }
        };
        let term = |t: &Term| match t {
            Term::Valid { labels, fields } => {
                labels.iter().map(requirement).sum::<usize>()
                    + fields
                        .iter()
                        .map(|f| f.key.len() + f.value.len())
                        .sum::<usize>()
            }
            Term::Empty => 8,
            Term::Invalid(why) => why.len(),
        };
        self.node_name.as_ref().map_or(0, String::len)
            + self
                .node_selector
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + self
                .required_terms
                .iter()
                .flatten()
                .map(term)
                .sum::<usize>()
    }

    pub fn new(
        node_name: Option<&str>,
        node_selector: Option<&BTreeMap<String, String>>,
        required: Option<&NodeSelector>,
    ) -> Self {
        Self {
            node_name: node_name.filter(|n| !n.is_empty()).map(str::to_owned),
            node_selector: node_selector
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            required_terms: required
                .map(|r| r.node_selector_terms.iter().map(Term::parse).collect()),
        }
    }

    /// True when nothing constrains placement: every node is targeted.
    pub fn is_unconstrained(&self) -> bool {
        self.node_name.is_none() && self.node_selector.is_empty() && self.required_terms.is_none()
    }

    /// Why the node is not targeted, one line per failing part, in the manifest's terms
    /// (empty: it is targeted). For a person asking about one node, so no bound is needed
    /// beyond the selection's own size; terms past the fourth are summed up.
    pub fn why_not<'a>(
        &self,
        node_name: &str,
        label: impl Fn(&str) -> Option<&'a str> + Copy,
    ) -> Vec<String> {
        let has = |key: &str| match label(key) {
            Some(value) => format!("the node has {key}={value}"),
            None => format!("the node has no label {key}"),
        };
        let mut why = Vec::new();
        if let Some(wanted) = self.node_name.as_deref().filter(|n| *n != node_name) {
            why.push(format!("spec.nodeName is {wanted}, not this node"));
        }
        for (key, value) in &self.node_selector {
            if label(key) != Some(value.as_str()) {
                why.push(format!("nodeSelector {key}={value}: {}", has(key)));
            }
        }
        let Some(terms) = &self.required_terms else {
            return why;
        };
        if terms.iter().any(|t| t.matches(node_name, label)) {
            return why;
        }
        if terms.is_empty() {
            why.push("required node affinity has no nodeSelectorTerms: it matches no node".into());
        }
        const SHOWN: usize = 4;
        for (i, term) in terms.iter().enumerate().take(SHOWN) {
            let number = i + 1;
            let line = match term {
                Term::Empty => {
                    format!("required node affinity term {number} is empty: it matches no node")
                }
                Term::Invalid(reason) => format!(
                    "required node affinity term {number} is invalid ({reason}): it matches no node"
                ),
                Term::Valid { labels, fields } => {
                    let label_miss = labels
                        .iter()
                        .find(|r| !r.matches(label))
                        .map(|r| format!("{} {}: {}", r.key, r.operator.text(), has(&r.key)));
                    let field_miss = fields.iter().find(|f| !f.matches(node_name)).map(|f| {
                        format!(
                            "matchFields {} {} {}",
                            f.key,
                            if f.equal { "In" } else { "NotIn" },
                            f.value
                        )
                    });
                    format!(
                        "required node affinity term {number}: {}",
                        label_miss.or(field_miss).unwrap_or_default()
                    )
                }
            };
            why.push(line);
        }
        if terms.len() > SHOWN {
            why.push(format!(
                "… and {} more terms, none matching",
                terms.len() - SHOWN
            ));
        }
        why
    }

    /// The per-node reference: `NodeShouldRunDaemonPod`'s name and affinity checks.
    pub fn matches<'a>(
        &self,
        node_name: &str,
        label: impl Fn(&str) -> Option<&'a str> + Copy,
    ) -> bool {
        if self.node_name.as_deref().is_some_and(|n| n != node_name) {
            return false;
        }
        if !self
            .node_selector
            .iter()
            .all(|(k, v)| label(k) == Some(v.as_str()))
        {
            return false;
        }
        match &self.required_terms {
            None => true,
            Some(terms) => terms.iter().any(|t| t.matches(node_name, label)),
        }
    }
}

/// A `metav1.LabelSelector` (`matchLabels` and `matchExpressions` with In, NotIn, Exists,
/// DoesNotExist). Empty matches nothing, as for a PodDisruptionBudget
/// (`filterPodsWithPDBViolation`: "a PDB with a nil or empty selector matches nothing")
/// and for an exemption selector, which must not exempt every DaemonSet; an invalid
/// expression (`Gt`/`Lt` are not label-selector operators) makes it match nothing.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<NodeSelectorRequirement>,
}

impl LabelSelector {
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Selector semantics: every matchLabels equality and every expression must hold.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|key| labels.get(key).map(String::as_str))
    }

    /// [`LabelSelector::matches`] over labels read by `label`.
    pub fn matches_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str> + Copy) -> bool {
        !self.is_empty()
            && self
                .match_labels
                .iter()
                .all(|(k, v)| label(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|raw| {
                matches!(
                    raw.operator.as_str(),
                    "In" | "NotIn" | "Exists" | "DoesNotExist"
                ) && LabelRequirement::parse(raw).is_ok_and(|r| r.matches(label))
            })
    }
}
