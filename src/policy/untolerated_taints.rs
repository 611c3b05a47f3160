//! DSG002 untolerated-taints: targeted nodes whose NoSchedule/NoExecute taints the pods do
//! not tolerate (their own tolerations, the DaemonSet controller's, and injected ones).
//!
//! When every targeted node is blocked the DaemonSet runs nowhere and `action` applies,
//! whatever the taint. When only some are, taints in `ignoreTaintKeys` are intended
//! exclusions (control-plane nodes) and reported as information; any other taint is
//! judged by `partialAction`. The message groups blocked nodes by pool and taint and
//! gives the toleration YAML to add.
//!
//! An autoscaler template counts like a pool: a targeted template whose `taints` the pods
//! do not tolerate is a pool they will skip once it scales up (its `startupTaints` do not
//! count: they are removed once the node is ready, and `coverage` shows them).

use std::collections::BTreeMap;

use super::daemonset::TEMPLATE_SPEC;
use super::{Context, DaemonSet, Finding, Rule, Severity, Templates};
use crate::inventory::{BlockedGroup, Inventory, Reach, TemplatePlacement};

use crate::scheduling::{Taint, Toleration};

/// Lines of a grouped node list shown before "… and N more".
const MAX_GROUP_LINES: usize = 6;

/// The fix for nodes blocked by `taints`, in one message line and the YAML to paste: the
/// narrowest toleration of each (`doctor`'s `UntoleratedTaint` and the picture's blocked
/// cells say it so).
pub fn toleration_fix(taints: &[Taint]) -> String {
    let yaml: Vec<String> = taints
        .iter()
        .map(|t| Toleration::exactly_for(t).to_yaml_item())
        .collect();
    format!(
        "to run there, add to spec.template.spec.tolerations:\n{}",
        yaml.join("\n")
    )
}

/// `reach` (the targeted nodes, and those the tolerations do not get onto) is what
/// `evaluate` already computed: the costly part of a many-term selector is done once.
pub(crate) fn check(
    object: &DaemonSet,
    reach: &Reach,
    templates: &Templates<'_>,
    context: &Context<'_>,
    findings: &mut Vec<Finding>,
) {
    let pointer = if object.pod().tolerations.is_some() {
        format!("{TEMPLATE_SPEC}/tolerations")
    } else {
        TEMPLATE_SPEC.to_owned()
    };
    let settings = &context.config.rules.untolerated_taints;
    // The findings depend on the reach, the templates and the settings alone: every
    // DaemonSet with the same selection and tolerations shares them (only the pointer
    // differs).
    let found = reach
        .with_templates(context.inventory.templates_version())
        .get_or_compute(settings, || judge(reach, templates, context));
    findings.extend(found.iter().map(|finding| Finding {
        pointer: pointer.clone(),
        ..finding.clone()
    }));
}

/// The findings with the pointer left empty.
fn judge(reach: &Reach, templates: &Templates<'_>, context: &Context<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let inventory = context.inventory;
    let settings = &context.config.rules.untolerated_taints;
    let comparison_operators = context.config.toleration_comparison_operators;
    let live_targeted = reach.targeted.len();
    let live_blocked = reach.blocked_count();
    let blocked: Vec<&BlockedGroup> = reach.blocked.iter().collect();
    // Whether the pods run anywhere at all needs every template's answer; otherwise only
    // the templates that would block them matter.
    let partial;
    let (blocked_templates, targeted_templates): (Vec<&TemplatePlacement>, _) =
        if live_blocked == live_targeted {
            let all = templates.all();
            let targeted_count = all.iter().filter(|t| t.targeted).count();
            let blocked_templates = all
                .iter()
                .filter(|t| t.targeted && !t.untolerated.is_empty())
                .collect();
            (blocked_templates, Some(targeted_count))
        } else {
            partial = inventory.blocked_templates(
                templates.selection(),
                templates.tolerations(),
                comparison_operators,
            );
            (partial.iter().collect(), None)
        };
    if blocked.is_empty() && blocked_templates.is_empty() {
        return findings;
    }
    let pointer = String::new();
    let pools = &settings.pool_label_keys;
    if let Some(targeted_templates) =
        targeted_templates.filter(|count| blocked_templates.len() == *count)
    {
        if let Some(severity) = Severity::of(settings.action) {
            let headline = if targeted_templates == 0 {
                format!(
                    "pods can run on none of the {live_targeted} targeted nodes, so the DaemonSet runs nowhere:"
                )
            } else if live_targeted == 0 {
                format!(
                    "pods can run on none of the nodes the {targeted_templates} targeted autoscaler templates can make, so the DaemonSet will run nowhere:"
                )
            } else {
                format!(
                    "pods can run on none of the {live_targeted} targeted nodes, nor on the nodes the {targeted_templates} targeted autoscaler templates can make, so the DaemonSet runs nowhere:"
                )
            };
            let message = format!(
                "{headline}\n{}",
                describe(inventory, &blocked, &blocked_templates, pools, true)
            );
            findings.push(finding(
                severity,
                pointer,
                message,
                &blocked,
                &blocked_templates,
            ));
        }
        return findings;
    }
    let ignored = |taints: &[Taint]| {
        taints
            .iter()
            .all(|t| settings.ignore_taint_keys.contains(&t.key))
    };
    let (excluded, real): (Vec<&BlockedGroup>, Vec<&BlockedGroup>) =
        blocked.into_iter().partition(|g| ignored(&g.untolerated));
    let (excluded_templates, real_templates): (Vec<&TemplatePlacement>, Vec<&TemplatePlacement>) =
        blocked_templates
            .into_iter()
            .partition(|t| ignored(&t.untolerated));
    if (!real.is_empty() || !real_templates.is_empty())
        && let Some(severity) = Severity::of(settings.partial_action)
    {
        let count = real.iter().map(|g| g.nodes.len()).sum::<u64>();
        let mut parts = Vec::new();
        if count > 0 {
            parts.push(format!("{count} of {live_targeted} targeted nodes"));
        }
        if !real_templates.is_empty() {
            parts.push(format!(
                "the nodes {} will make once {}",
                if real_templates.len() == 1 {
                    "1 targeted autoscaler template".to_owned()
                } else {
                    format!("{} targeted autoscaler templates", real_templates.len())
                },
                if real_templates.len() == 1 {
                    "it scales up"
                } else {
                    "they scale up"
                }
            ));
        }
        let message = format!(
            "pods cannot run on {}:\n{}",
            parts.join(", nor on "),
            describe(inventory, &real, &real_templates, pools, true)
        );
        findings.push(finding(
            severity,
            pointer.clone(),
            message,
            &real,
            &real_templates,
        ));
    }
    if !excluded.is_empty() || !excluded_templates.is_empty() {
        let count = excluded.iter().map(|g| g.nodes.len()).sum::<u64>();
        let what = if excluded_templates.is_empty() {
            format!("{count} targeted nodes are")
        } else {
            format!(
                "{count} targeted nodes and {} targeted autoscaler templates are",
                excluded_templates.len()
            )
        };
        let message = format!(
            "{what} excluded by taints in ignoreTaintKeys, as intended:\n{}",
            describe(inventory, &excluded, &excluded_templates, pools, false)
        );
        findings.push(Finding {
            rule: Rule::UntoleratedTaints,
            severity: Severity::Info,
            pointer,
            message,
            atoms: Vec::new(),
        });
    }
    findings
}

fn finding(
    severity: Severity,
    pointer: String,
    message: String,
    groups: &[&BlockedGroup],
    templates: &[&TemplatePlacement],
) -> Finding {
    let mut atoms: Vec<String> = groups
        .iter()
        .flat_map(|g| &g.untolerated)
        .chain(templates.iter().flat_map(|t| &t.untolerated))
        .map(ToString::to_string)
        .collect();
    atoms.sort();
    atoms.dedup();
    Finding {
        rule: Rule::UntoleratedTaints,
        severity,
        pointer,
        message,
        atoms,
    }
}

/// "3 nodes in pool m4.xlarge: node-role.kubernetes.io/master:NoSchedule" lines, then the
/// tolerations to add.
fn describe(
    inventory: &Inventory,
    groups: &[&BlockedGroup],
    templates: &[&TemplatePlacement],
    pool_keys: &[String],
    with_fix: bool,
) -> String {
    // Groups that are whole taint sets are the same for every DaemonSet with the same
    // untolerated taints: their text is remembered per version of the node index.
    // (Templates live outside the node index: with any, it is written each time.)
    if templates.is_empty() {
        let mut parts: Vec<String> = Vec::with_capacity(groups.len());
        for group in groups {
            let Some(taints) = &group.whole_taint_set else {
                return describe_groups(inventory, groups, templates, pool_keys, with_fix);
            };
            let set: Vec<String> = taints.iter().map(ToString::to_string).collect();
            parts.push(format!("{}|{}", set.join(","), group.taint_list()));
        }
        parts.sort();
        let key = format!(
            "dsg002-groups\0{with_fix}\0{}\0{}",
            pool_keys.join(","),
            parts.join("\0")
        );
        let text = inventory.derived(&key, || {
            describe_groups(inventory, groups, templates, pool_keys, with_fix)
        });
        return String::clone(&text);
    }
    describe_groups(inventory, groups, templates, pool_keys, with_fix)
}

fn describe_groups(
    inventory: &Inventory,
    groups: &[&BlockedGroup],
    templates: &[&TemplatePlacement],
    pool_keys: &[String],
    with_fix: bool,
) -> String {
    // (pool, untolerated taints) -> node count and the first node as an example. Two
    // taint sets can leave the same taints untolerated: their nodes count together.
    let mut lines: BTreeMap<(Option<String>, String), (u64, u32)> = BTreeMap::new();
    for group in groups {
        let taints = group.taint_list();
        for (pool, nodes) in inventory.split_by_pool(&group.nodes, pool_keys).iter() {
            let first = nodes.min().expect("non-empty");
            let line = lines
                .entry((pool.clone(), taints.clone()))
                .or_insert((0, first));
            line.0 += nodes.len();
            line.1 = line.1.min(first);
        }
    }
    let total_lines = lines.len();
    let mut text: Vec<String> = lines
        .into_iter()
        .take(MAX_GROUP_LINES)
        .map(|((pool, taints), (count, first))| {
            let example = &inventory.node(first).name;
            let nodes = if count == 1 {
                format!("1 node ({example})")
            } else {
                format!("{count} nodes (e.g. {example})")
            };
            match pool {
                Some(pool) => format!("  {nodes} in pool {pool}: {taints}"),
                None => format!("  {nodes} without a pool label: {taints}"),
            }
        })
        .collect();
    if total_lines > MAX_GROUP_LINES {
        text.push(format!(
            "  … and {} more groups",
            total_lines - MAX_GROUP_LINES
        ));
    }
    for placement in templates.iter().take(MAX_GROUP_LINES) {
        let template = &inventory.templates()[placement.index];
        text.push(format!(
            "  {} ({}), once it makes nodes: {}",
            template.display_name(),
            super::selector_matches_no_node::nodes_now(inventory, template),
            crate::scheduling::taint_list(&placement.untolerated)
        ));
    }
    if templates.len() > MAX_GROUP_LINES {
        text.push(format!(
            "  … and {} more templates",
            templates.len() - MAX_GROUP_LINES
        ));
    }
    if with_fix {
        let mut taints: Vec<&Taint> = groups
            .iter()
            .flat_map(|g| &g.untolerated)
            .chain(templates.iter().flat_map(|t| &t.untolerated))
            .collect();
        taints.sort();
        taints.dedup();
        text.push("To run there, add to spec.template.spec.tolerations:".into());
        // The same few taints block most DaemonSets: their YAML is rendered once per
        // version of the node index.
        text.extend(taints.into_iter().map(|t| {
            let yaml = inventory.derived(&format!("toleration-yaml\0{t}"), || {
                Toleration::exactly_for(t).to_yaml_item()
            });
            String::clone(&yaml)
        }));
    }
    text.join("\n")
}
