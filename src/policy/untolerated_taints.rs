//! DSG002 untolerated-taints: targeted nodes whose NoSchedule/NoExecute taints the pods do
//! not tolerate (their own tolerations, the DaemonSet controller's, and injected ones).
//!
//! When every targeted node is blocked the DaemonSet runs nowhere and `action` applies,
//! whatever the taint. When only some are, taints in `ignoreTaintKeys` are intended
//! exclusions (control-plane nodes) and reported as information; any other taint is
//! judged by `partialAction`. The message groups blocked nodes by pool and taint and
//! gives the toleration YAML to add.

use std::collections::BTreeMap;

use super::daemonset::TEMPLATE_SPEC;
use super::{Context, DaemonSet, Finding, Rule, Severity};
use crate::inventory::{BlockedGroup, Inventory};
use roaring::RoaringBitmap;

use crate::scheduling::{Taint, Toleration};

/// Lines of a grouped node list shown before "… and N more".
const MAX_GROUP_LINES: usize = 6;

/// `targeted` is what `evaluate` already computed for the selection (computing it is the
/// costly part of a many-term selector, so it is done once).
pub(crate) fn check(
    object: &DaemonSet,
    targeted: &RoaringBitmap,
    tolerations: &[Toleration],
    context: &Context<'_>,
    findings: &mut Vec<Finding>,
) {
    let inventory = context.inventory;
    let settings = &context.config.rules.untolerated_taints;
    let placement = crate::inventory::Placement {
        targeted: targeted.clone(),
        blocked: inventory.blocked_groups(
            targeted,
            tolerations,
            context.config.toleration_comparison_operators,
        ),
    };
    if placement.targeted.is_empty() || placement.blocked.is_empty() {
        return;
    }
    let pointer = if object.pod().tolerations.is_some() {
        format!("{TEMPLATE_SPEC}/tolerations")
    } else {
        TEMPLATE_SPEC.to_owned()
    };
    let targeted = placement.targeted.len();
    let blocked_count = placement.blocked_nodes().len();
    let pools = &settings.pool_label_keys;
    if blocked_count == targeted {
        if let Some(severity) = Severity::of(settings.action) {
            let message = format!(
                "pods can run on none of the {targeted} targeted nodes, so the DaemonSet runs nowhere:\n{}",
                describe(inventory, &placement.blocked, pools, true)
            );
            findings.push(finding(severity, pointer, message, &placement.blocked));
        }
        return;
    }
    let ignored = |group: &BlockedGroup| {
        group
            .untolerated
            .iter()
            .all(|t| settings.ignore_taint_keys.contains(&t.key))
    };
    let (excluded, real): (Vec<BlockedGroup>, Vec<BlockedGroup>) =
        placement.blocked.into_iter().partition(ignored);
    if !real.is_empty()
        && let Some(severity) = Severity::of(settings.partial_action)
    {
        let count = real.iter().map(|g| g.nodes.len()).sum::<u64>();
        let message = format!(
            "pods cannot run on {count} of {targeted} targeted nodes:\n{}",
            describe(inventory, &real, pools, true)
        );
        findings.push(finding(severity, pointer.clone(), message, &real));
    }
    if !excluded.is_empty() {
        let count = excluded.iter().map(|g| g.nodes.len()).sum::<u64>();
        let message = format!(
            "{count} targeted nodes are excluded by taints in ignoreTaintKeys, as intended:\n{}",
            describe(inventory, &excluded, pools, false)
        );
        findings.push(Finding {
            rule: Rule::UntoleratedTaints,
            severity: Severity::Info,
            pointer,
            message,
            atoms: Vec::new(),
        });
    }
}

fn finding(
    severity: Severity,
    pointer: String,
    message: String,
    groups: &[BlockedGroup],
) -> Finding {
    let mut atoms: Vec<String> = groups
        .iter()
        .flat_map(|g| g.untolerated.iter().map(ToString::to_string))
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
    groups: &[BlockedGroup],
    pool_keys: &[String],
    with_fix: bool,
) -> String {
    // (pool, taints) -> node count; nodes without a pool label are grouped by taint set.
    let mut lines: BTreeMap<(Option<String>, String), (u64, String)> = BTreeMap::new();
    for group in groups {
        let taints = group.taint_list();
        for (pool, nodes) in inventory.split_by_pool(&group.nodes, pool_keys) {
            let example = inventory
                .node(nodes.min().expect("non-empty"))
                .name
                .to_string();
            lines.insert((pool, taints.clone()), (nodes.len(), example));
        }
    }
    let total_lines = lines.len();
    let mut text: Vec<String> = lines
        .into_iter()
        .take(MAX_GROUP_LINES)
        .map(|((pool, taints), (count, example))| {
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
    if with_fix {
        let mut taints: Vec<&Taint> = groups.iter().flat_map(|g| &g.untolerated).collect();
        taints.sort();
        taints.dedup();
        text.push("To run there, add to spec.template.spec.tolerations:".into());
        text.extend(
            taints
                .into_iter()
                .map(|t| Toleration::exactly_for(t).to_yaml_item()),
        );
    }
    text.join("\n")
}
