//! DSG001 selector-matches-no-node: `nodeName`, `nodeSelector` and the required node
//! affinity together select no node of the inventory, so the DaemonSet runs nowhere.
//!
//! The message names each clause that alone matches nothing and the nearest thing the
//! nodes do carry, since the usual cause is a typo or a label from another provider.
//! Intended empty selections (gate labels nodes get later, pools scaled to zero) are
//! downgraded to a warning by `expectedEmptyLabelKeys` or the `dsguard.io/allow-no-nodes`
//! annotation — but a key that is a near miss of a real one stays a denial: that is a typo.

use roaring::RoaringBitmap;

use super::daemonset::TEMPLATE_SPEC;
use super::{Context, DaemonSet, Finding, Rule, Severity, Templates};
use crate::inventory::{Inventory, TemplatePlacement};
use crate::scheduling::selector::{
    FieldRequirement, LabelOperator, LabelRequirement, NODE_NAME_FIELD,
};
use crate::scheduling::{NodeSelection, NodeTemplate, TemplateKind, Term};
use crate::yaml::escape_pointer;

pub const ALLOW_NO_NODES_ANNOTATION: &str = "dsguard.io/allow-no-nodes";

const AFFINITY_TERMS: &str = "/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms";

/// One part of the selection that alone matches no node.
struct Clause {
    pointer: String,
    text: String,
    /// The label key it depends on, for `expectedEmptyLabelKeys`.
    key: Option<String>,
    /// A near-miss key the nodes do carry, when the clause's key looks like its typo.
    typo_of: Option<String>,
}

pub(crate) fn check(
    object: &DaemonSet,
    selection: &NodeSelection,
    targeted: &RoaringBitmap,
    templates: &Templates<'_>,
    context: &Context<'_>,
    findings: &mut Vec<Finding>,
) {
    if !targeted.is_empty() {
        return;
    }
    let settings = &context.config.rules.selector_matches_no_node;
    let Some(severity) = Severity::of(settings.action) else {
        return;
    };
    let inventory = context.inventory;
    let targeted_templates: Vec<&TemplatePlacement> =
        templates.all().iter().filter(|t| t.targeted).collect();
    if !targeted_templates.is_empty() {
        findings.push(Finding {
            rule: Rule::SelectorMatchesNoNode,
            severity: Severity::Info,
            pointer: TEMPLATE_SPEC.to_owned(),
            message: format!(
                "selects none of the {} now, but {} can make nodes it selects; it will run there once they exist",
                crate::words::count(inventory.node_count(), "node"),
                describe_templates(inventory, &targeted_templates)
            ),
            atoms: Vec::new(),
        });
        return;
    }
    let clauses = empty_clauses(selection, inventory, context);
    let mut message = format!(
        "selects none of the {}: ",
        crate::words::count(inventory.node_count(), "node")
    );
    if clauses.is_empty() {
        message.push_str(&conflict(selection, inventory));
    } else {
        let mut texts: Vec<&str> = clauses
            .iter()
            .take(MAX_EXPLAINED_CLAUSES)
            .map(|c| c.text.as_str())
            .collect();
        let more = clauses.len().saturating_sub(MAX_EXPLAINED_CLAUSES);
        let tail = format!(
            "and {more} more {}",
            crate::words::plural(more as u64, "clause")
        );
        if more > 0 {
            texts.push(&tail);
        }
        message.push_str(&texts.join("; "));
    }

    let expected = clauses.iter().find_map(|c| {
        c.key
            .as_ref()
            .filter(|k| settings.expected_empty_label_keys.contains(k))
    });
    let typo = clauses.iter().find(|c| {
        c.typo_of.is_some()
            && !c
                .key
                .as_ref()
                .is_some_and(|k| settings.expected_empty_label_keys.contains(k))
    });
    let allowance = object
        .annotation(ALLOW_NO_NODES_ANNOTATION)
        .map(str::trim)
        .filter(|reason| !reason.is_empty());
    let mut severity = severity;
    match (typo, expected, allowance) {
        (Some(typo), _, _) if expected.is_some() || allowance.is_some() => {
            message.push_str(&format!(
                " (still denied: {:?} looks like a typo of {:?}, which nodes do carry)",
                typo.key.as_deref().unwrap_or_default(),
                typo.typo_of.as_deref().unwrap_or_default()
            ));
        }
        (None, Some(key), _) => {
            severity = severity.min(Severity::Warn);
            message.push_str(&format!(
                " (allowed: label key {key} is in expectedEmptyLabelKeys, so an empty selection is expected until nodes carry it)"
            ));
        }
        (None, None, Some(reason)) => {
            severity = severity.min(Severity::Warn);
            message.push_str(&format!(" (allowed by annotation {ALLOW_NO_NODES_ANNOTATION}: {reason})"));
        }
        _ => message.push_str(&format!(
            ". If no node is meant to match yet, add the annotation {ALLOW_NO_NODES_ANNOTATION}: \"<reason>\""
        )),
    }
    findings.push(Finding {
        rule: Rule::SelectorMatchesNoNode,
        severity,
        pointer: clauses
            .first()
            .map_or_else(|| TEMPLATE_SPEC.to_owned(), |c| c.pointer.clone()),
        message,
        atoms: vec!["selects-no-node".into()],
    });
}

/// The clauses of the selection that match no node. The first [`MAX_HINTED_CLAUSES`]
/// get a hint (the nearest label the nodes carry, a search over every label key); the rest
/// are only named, so a selector of a thousand absent keys costs a thousand lookups, not a
/// thousand searches. Stops at the evaluation's deadline.
fn empty_clauses(
    selection: &NodeSelection,
    inventory: &Inventory,
    context: &Context<'_>,
) -> Vec<Clause> {
    let mut clauses = Vec::new();
    if let Some(name) = &selection.node_name
        && inventory.node_by_name(name).is_none()
    {
        clauses.push(Clause {
            pointer: format!("{TEMPLATE_SPEC}/nodeName"),
            text: format!("nodeName {name}: {}", node_name_hint(inventory, name)),
            key: None,
            typo_of: None,
        });
    }
    for (key, value) in &selection.node_selector {
        if inventory.label_nodes(key, value).is_none() {
            let pointer = format!("{TEMPLATE_SPEC}/nodeSelector/{}", escape_pointer(key));
            if clauses.len() >= MAX_HINTED_CLAUSES || context.past_deadline() {
                clauses.push(Clause {
                    pointer,
                    text: format!("nodeSelector {key}={value}: no node has it"),
                    key: Some(key.clone()),
                    typo_of: None,
                });
                continue;
            }
            let hint = label_hint(inventory, key, Some(value));
            clauses.push(Clause {
                pointer,
                text: format!("nodeSelector {key}={value}: {}", hint.text),
                key: Some(key.clone()),
                typo_of: hint.typo_of,
            });
        }
    }
    let Some(terms) = &selection.required_terms else {
        return clauses;
    };
    if terms.is_empty() {
        clauses.push(Clause {
            pointer: AFFINITY_TERMS.into(),
            text: "required node affinity has no nodeSelectorTerms, which matches no node".into(),
            key: None,
            typo_of: None,
        });
        return clauses;
    }
    let any_term_matches = terms.iter().any(|t| !inventory.term_nodes(t).is_empty());
    if any_term_matches {
        return clauses;
    }
    // Each explained term costs a hint search over the labels; a deny message holds 1 KiB,
    // so only the first few are explained, whatever the number of terms.
    for (i, term) in terms.iter().enumerate().take(MAX_EXPLAINED_TERMS) {
        if context.past_deadline() {
            break;
        }
        let pointer = format!("{AFFINITY_TERMS}/{i}");
        let label = if terms.len() > 1 {
            format!("required node affinity term {i}")
        } else {
            "required node affinity".into()
        };
        match term {
            Term::Empty => clauses.push(Clause {
                pointer,
                text: format!(
                    "{label} is empty (no matchExpressions or matchFields) and matches nothing"
                ),
                key: None,
                typo_of: None,
            }),
            Term::Invalid(why) => clauses.push(Clause {
                pointer,
                text: format!(
                    "{label} is invalid ({why}); Kubernetes treats it as matching nothing"
                ),
                key: None,
                typo_of: None,
            }),
            Term::Valid { labels, fields } => {
                let before = clauses.len();
                if before >= MAX_HINTED_CLAUSES {
                    continue;
                }
                for (j, requirement) in labels.iter().enumerate() {
                    if clauses.len() >= MAX_HINTED_CLAUSES || context.past_deadline() {
                        break;
                    }
                    if inventory.requirement_nodes(requirement).is_empty() {
                        let hint = requirement_hint(inventory, requirement);
                        clauses.push(Clause {
                            pointer: format!("{pointer}/matchExpressions/{j}"),
                            text: format!("{label}: {}", hint.text),
                            key: Some(requirement.key.clone()),
                            typo_of: hint.typo_of,
                        });
                    }
                }
                for (j, requirement) in fields.iter().enumerate() {
                    if inventory.field_nodes(requirement).is_empty() {
                        clauses.push(Clause {
                            pointer: format!("{pointer}/matchFields/{j}"),
                            text: format!("{label}: {}", field_hint(inventory, requirement)),
                            key: None,
                            typo_of: None,
                        });
                    }
                }
                if clauses.len() == before && !context.past_deadline() {
                    clauses.push(Clause {
                        pointer,
                        text: format!("{label}: each expression matches some nodes, but no node matches all of them together"),
                        key: None,
                        typo_of: None,
                    });
                }
            }
        }
    }
    if terms.len() > MAX_EXPLAINED_TERMS {
        clauses.push(Clause {
            pointer: format!("{AFFINITY_TERMS}/{MAX_EXPLAINED_TERMS}"),
            text: format!(
                "required node affinity terms {MAX_EXPLAINED_TERMS} to {}: none matches a node either",
                terms.len() - 1
            ),
            key: None,
            typo_of: None,
        });
    }
    clauses
}

/// "NodePool gpu (0 nodes now), MachineDeployment infra/md-gpu (0 replicas now)", at
/// most a few.
fn describe_templates(inventory: &Inventory, placements: &[&TemplatePlacement]) -> String {
    const SHOWN: usize = 4;
    let mut parts: Vec<String> = placements
        .iter()
        .take(SHOWN)
        .map(|p| {
            let template = &inventory.templates()[p.index];
            format!(
                "{} ({})",
                template.display_name(),
                nodes_now(inventory, template)
            )
        })
        .collect();
    if placements.len() > SHOWN {
        parts.push(format!("{} more templates", placements.len() - SHOWN));
    }
    parts.join(", ")
}

/// "0 nodes now", "3 replicas now", "replicas not stated".
pub(crate) fn nodes_now(inventory: &Inventory, template: &NodeTemplate) -> String {
    let noun = if template.kind == TemplateKind::NodePool {
        "node"
    } else {
        "replica"
    };
    match inventory.template_nodes_now(template) {
        Some(1) => format!("1 {noun} now"),
        Some(count) => format!("{count} {noun}s now"),
        None => format!("{noun}s not stated"),
    }
}

/// Every clause matches some node, but not together.
fn conflict(selection: &NodeSelection, inventory: &Inventory) -> String {
    let mut parts = Vec::new();
    if let Some(name) = &selection.node_name {
        parts.push(format!("nodeName {name}"));
    }
    for (key, value) in &selection.node_selector {
        let count = inventory
            .label_nodes(key, value)
            .map_or(0, RoaringBitmap::len);
        parts.push(format!("{key}={value} matches {count}"));
    }
    if let Some(terms) = &selection.required_terms {
        let union = terms
            .iter()
            .fold(RoaringBitmap::new(), |acc, t| acc | inventory.term_nodes(t));
        parts.push(format!(
            "the required node affinity matches {}",
            union.len()
        ));
    }
    format!(
        "each part matches some nodes, but no node satisfies all of them ({})",
        parts.join(", ")
    )
}

/// How many required node affinity terms a DSG001 message explains one by one.
const MAX_EXPLAINED_TERMS: usize = 8;

/// How many clauses that match nothing a DSG001 message shows (the rest are counted), and
/// how many of them get a hint: a hint searches every label key of the inventory (a few
/// milliseconds at two thousand keys), so an object cannot buy more than a few searches.
const MAX_EXPLAINED_CLAUSES: usize = 8;
const MAX_HINTED_CLAUSES: usize = 4;

/// Jaro-Winkler similarity above which another key carrying the wanted value is offered.
const SIMILAR_KEY: f64 = 0.75;
/// Similarity above which the nearest key is offered even without the wanted value.
const NEAREST_KEY: f64 = 0.85;

#[derive(Clone)]
struct Hint {
    text: String,
    typo_of: Option<String>,
}

fn is_near_miss(wanted: &str, existing: &str) -> bool {
    if wanted.eq_ignore_ascii_case(existing) {
        return true;
    }
    let allowed = if wanted.len() >= 8 { 2 } else { 1 };
    // The distance is at least the difference in length: most keys are ruled out without
    // computing it.
    wanted.len().abs_diff(existing.len()) <= allowed
        && strsim::levenshtein(wanted, existing) <= allowed
}

fn values_summary(inventory: &Inventory, key: &str) -> String {
    let (values, distinct) = inventory.most_common_label_values(key, 3);
    let mut shown: Vec<String> = values
        .iter()
        .map(|(value, count)| {
            format!(
                "{count} {} {key}={value}",
                if *count == 1 {
                    "node has"
                } else {
                    "nodes have"
                }
            )
        })
        .collect();
    if distinct > values.len() {
        shown.push(format!("{} other values", distinct - values.len()));
    }
    shown.join(", ")
}

/// The hint for a label the selector wants, remembered per version of the node index
/// and set of templates (every DaemonSet with that selector asks again on each
/// judgement).
fn label_hint(inventory: &Inventory, key: &str, value: Option<&str>) -> Hint {
    let memo_key = format!(
        "label-hint\0{}\0{key}\0{}",
        inventory.templates_version(),
        value.unwrap_or("\u{1}")
    );
    Hint::clone(&inventory.derived(&memo_key, || compute_label_hint(inventory, key, value)))
}

/// The nearest thing the nodes carry for a label the selector wants.
fn compute_label_hint(inventory: &Inventory, key: &str, value: Option<&str>) -> Hint {
    if inventory.label_key_nodes(key).is_some() {
        let text = match value {
            Some(value) => format!(
                "no node has {key}={value}; {}",
                values_summary(inventory, key)
            ),
            None => format!("no node matches; {}", values_summary(inventory, key)),
        };
        return Hint {
            text,
            typo_of: None,
        };
    }
    let mut keys: Vec<&str> = inventory.label_keys().collect();
    keys.sort_unstable();
    if let Some(near) = keys.iter().copied().find(|k| is_near_miss(key, k)) {
        return Hint {
            text: format!(
                "no node has label {key}; did you mean {near}? {}",
                values_summary(inventory, near)
            ),
            typo_of: Some(near.to_owned()),
        };
    }
    if let Some(hint) = template_label_hint(inventory, key) {
        return hint;
    }
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        // Another key with the wanted value, if its name is close enough to be the one
        // meant (`node-type=worker` vs `node-role=worker`); a shared value like `true`
        // alone says nothing.
        let same_value = keys
            .iter()
            .copied()
            .filter(|k| inventory.label_nodes(k, value).is_some())
            .map(|k| (strsim::jaro_winkler(key, k), k))
            .filter(|(score, _)| *score >= SIMILAR_KEY)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| k);
        if let Some(other) = same_value {
            let count = inventory
                .label_nodes(other, value)
                .map_or(0, RoaringBitmap::len);
            return Hint {
                text: format!(
                    "no node has label {key}; {count} {} {other}={value}",
                    if count == 1 { "node has" } else { "nodes have" }
                ),
                typo_of: None,
            };
        }
    }
    let similar = keys
        .iter()
        .copied()
        .map(|k| (strsim::jaro_winkler(key, k), k))
        .filter(|(score, _)| *score >= NEAREST_KEY)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let text = match similar {
        Some((_, other)) => format!(
            "no node has label {key}; the nearest label is {other} ({})",
            values_summary(inventory, other)
        ),
        None => format!("no node has label {key}"),
    };
    Hint {
        text,
        typo_of: None,
    }
}

/// What the autoscaler templates say about a key no live node carries: which one would
/// set it, or the template key it is a near miss of (a typo).
fn template_label_hint(inventory: &Inventory, key: &str) -> Option<Hint> {
    let templates = inventory.templates();
    if let Some(template) = templates.iter().find(|t| t.label_keys().any(|k| k == key)) {
        let values = template
            .listed_values(key)
            .map(|v| v.iter().cloned().collect::<Vec<_>>().join("|"))
            .unwrap_or_else(|| "<value>".into());
        return Some(Hint {
            text: format!(
                "no node has label {key} now; {} would set {key}={values}",
                template.display_name()
            ),
            typo_of: None,
        });
    }
    templates.iter().find_map(|template| {
        let near = template.label_keys().find(|k| is_near_miss(key, k))?;
        Some(Hint {
            text: format!(
                "no node has label {key}; did you mean {near}? {} sets it on its nodes",
                template.display_name()
            ),
            typo_of: Some(near.to_owned()),
        })
    })
}

fn requirement_hint(inventory: &Inventory, requirement: &LabelRequirement) -> Hint {
    let key = &requirement.key;
    match &requirement.operator {
        LabelOperator::In(values) => {
            let mut hint = label_hint(inventory, key, values.first().map(String::as_str));
            if values.len() > 1 && inventory.label_key_nodes(key).is_some() {
                hint.text = format!(
                    "no node has {key} in ({}); {}",
                    values.join(", "),
                    values_summary(inventory, key)
                );
            }
            hint
        }
        LabelOperator::Exists => label_hint(inventory, key, None),
        LabelOperator::NotIn(values) => Hint {
            text: format!("every node has {key} in ({})", values.join(", ")),
            typo_of: None,
        },
        LabelOperator::DoesNotExist => Hint {
            text: format!("every node has label {key}"),
            typo_of: None,
        },
        LabelOperator::Gt(bound) | LabelOperator::Lt(bound) => {
            let relation = if matches!(requirement.operator, LabelOperator::Gt(_)) {
                ">"
            } else {
                "<"
            };
            if inventory.label_key_nodes(key).is_none() {
                return label_hint(inventory, key, None);
            }
            Hint {
                text: format!(
                    "no node has an integer {key} {relation} {bound}; {}",
                    values_summary(inventory, key)
                ),
                typo_of: None,
            }
        }
    }
}

fn field_hint(inventory: &Inventory, requirement: &FieldRequirement) -> String {
    if requirement.key != NODE_NAME_FIELD {
        return format!(
            "matchFields {} reads an empty value on every node (only metadata.name is a node field)",
            requirement.key
        );
    }
    if requirement.equal {
        format!(
            "metadata.name {}: {}",
            requirement.value,
            node_name_hint(inventory, &requirement.value)
        )
    } else {
        format!(
            "metadata.name NotIn ({}) excludes the only node",
            requirement.value
        )
    }
}

fn node_name_hint(inventory: &Inventory, name: &str) -> String {
    let nearest = inventory
        .nodes()
        .map(|n| (strsim::levenshtein(name, &n.name), n.name.clone()))
        .min();
    match nearest {
        Some((distance, other)) if distance <= 3 => {
            format!("no node has that name; did you mean {other}?")
        }
        _ => "no node has that name".into(),
    }
}
