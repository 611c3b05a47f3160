//! `coverage -o html`: the coverage report as a DaemonSet × pool picture ([`crate::html`]).
//! Each node of a pool is in exactly one state for a DaemonSet, decided from the same sets
//! `coverage -o json` writes, in this order: not targeted, blocked (targeted, a taint not
//! tolerated), unfit (runnable, the pod alone exceeds allocatable), no room (Pending
//! beside the pods there), preempts, runs. docs/html.md says the same.

use std::collections::HashMap;

use super::{CoverageReport, DaemonSetCoverage, NO_POOL};
use crate::config::Config;
use crate::html::{CellBuilder, Column, NOT_TARGETED_WHY, Page, PoolColumns, Row, State};
use crate::inventory::Inventory;
use crate::scheduling::taint_list;

const NOT_TARGETED_FIX: &str =
    "to run there, change spec.template.spec.nodeSelector / affinity, or the nodes' labels";

/// The picture of `report` over the nodes of `inventory`.
pub fn to_html(report: &CoverageReport, inventory: &Inventory, config: &Config) -> String {
    let pool_keys = &config.rules.untolerated_taints.pool_label_keys;
    let PoolColumns {
        mut columns,
        column_of,
        ..
    } = PoolColumns::of(inventory, pool_keys, NO_POOL);
    // The report names nodes: each name's column.
    let pool_of: HashMap<&str, usize> = column_of
        .iter()
        .map(|(slot, column)| (&*inventory.node(*slot).name, *column))
        .collect();
    let pools = columns.len();
    for template in inventory.templates() {
        columns.push(Column {
            key: format!("{}/{}", template.kind.as_str(), template.name),
            nodes: inventory.template_nodes_now(template),
            namespace: (!template.namespace.is_empty()).then(|| template.namespace.clone()),
            template: true,
        });
    }
    let rows = report
        .daemonsets
        .iter()
        .map(|ds| row(ds, &columns, pools, &pool_of, inventory))
        .collect();
    let templates = inventory.template_count();
    let mut summary = format!(
        "{} over {} in {}",
        crate::words::count(report.daemonsets.len(), "DaemonSet"),
        crate::words::count(inventory.node_count(), "node"),
        crate::words::count(pools, "pool"),
    );
    if templates > 0 {
        summary.push_str(&format!(
            " and {}",
            crate::words::count(templates, "autoscaler template")
        ));
    }
    summary.push_str(
        ". Hover a cell for its reason and fix; problem cells link to the details below.",
    );
    Page {
        title: "dsguard coverage".into(),
        summary,
        columns,
        rows,
    }
    .render()
}

fn row(
    ds: &DaemonSetCoverage,
    columns: &[Column],
    pools: usize,
    pool_of: &HashMap<&str, usize>,
    inventory: &Inventory,
) -> Row {
    let mut cells: Vec<CellBuilder> = (0..columns.len()).map(|_| CellBuilder::default()).collect();
    let mut targeted = vec![0u64; pools];
    for node in &ds.targeted {
        if let Some(&pool) = pool_of.get(node.as_str()) {
            targeted[pool] += 1;
        }
    }
    for (pool, column) in columns.iter().take(pools).enumerate() {
        let not_targeted = column.nodes.unwrap_or(0).saturating_sub(targeted[pool]);
        if not_targeted == 0 {
            continue;
        }
        cells[pool].add(
            State::NotTargeted,
            None,
            NOT_TARGETED_WHY,
            || NOT_TARGETED_FIX.into(),
            not_targeted,
            None,
        );
    }
    for blocked in &ds.blocked {
        if let Some(&pool) = pool_of.get(blocked.node.as_str()) {
            cells[pool].add(
                State::Blocked,
                None,
                &format!("untolerated {}", taint_list(&blocked.taints)),
                || crate::policy::toleration_fix(&blocked.taints),
                1,
                Some(&blocked.node),
            );
        }
    }
    let unfit: HashMap<&str, &Vec<String>> = ds
        .unfit
        .iter()
        .map(|u| (u.node.as_str(), &u.resources))
        .collect();
    let occupancy = ds.occupancy.as_ref();
    let pending: HashMap<&str, &Vec<String>> = occupancy
        .map(|o| {
            o.pending
                .iter()
                .map(|p| (p.node.as_str(), &p.reasons))
                .collect()
        })
        .unwrap_or_default();
    let preempts: HashMap<&str, &super::PreemptingNode> = occupancy
        .map(|o| o.preempts.iter().map(|p| (p.node.as_str(), p)).collect())
        .unwrap_or_default();
    let mut runs = vec![0u64; pools];
    for node in &ds.runnable {
        let Some(&pool) = pool_of.get(node.as_str()) else {
            continue;
        };
        let cell = &mut cells[pool];
        if let Some(resources) = unfit.get(node.as_str()) {
            cell.add(
                State::Unfit,
                None,
                &format!(
                    "its pod alone requests more than the node's allocatable: {}",
                    resources.join(", ")
                ),
                || "lower spec.template.spec.containers[].resources.requests, or keep it off these nodes (nodeSelector / affinity)".into(),
                1,
                Some(node),
            );
        } else if let Some(reasons) = pending.get(node.as_str()) {
            cell.add(
                State::NoRoom,
                None,
                &format!(
                    "no room beside the pods running there, it stays Pending: {}",
                    reasons.join(", ")
                ),
                || "make room on those nodes (move or shrink the pods there), lower its requests, or give it a PriorityClass above the pods in the way so that it preempts them".into(),
                1,
                Some(node),
            );
        } else if let Some(preempting) = preempts.get(node.as_str()) {
            cell.add(
                State::Preempts,
                None,
                "it fits only by preempting lower-priority pods there",
                || {
                    let victims: Vec<String> = preempting
                        .victims
                        .iter()
                        .take(3)
                        .map(|v| {
                            let pdb = if v.pdb_violated { ", its PDB violated" } else { "" };
                            format!("{}/{} (priority {}{pdb})", v.namespace, v.name, v.priority)
                        })
                        .collect();
                    format!(
                        "expected for a node-critical daemon (on {} it evicts {}); otherwise reserve room for it so that nothing is evicted",
                        preempting.node,
                        victims.join(", ")
                    )
                },
                1,
                Some(node),
            );
        } else {
            runs[pool] += 1;
        }
    }
    for (pool, count) in runs.into_iter().enumerate().filter(|(_, n)| *n > 0) {
        cells[pool].add(State::Runs, None, "", String::new, count, None);
    }
    for (index, template) in inventory.templates().iter().enumerate() {
        let Some(covered) = ds.templates.iter().find(|t| {
            t.kind == template.kind.as_str()
                && t.namespace == template.namespace
                && t.name == template.name
        }) else {
            continue;
        };
        let nodes = columns[pools + index].nodes.unwrap_or(0);
        let cell = &mut cells[pools + index];
        if !covered.targeted {
            cell.add(
                State::NotTargeted,
                None,
                "the nodes it makes are not selected by its nodeSelector, node affinity or nodeName",
                || NOT_TARGETED_FIX.into(),
                nodes,
                None,
            );
        } else if covered.runnable {
            cell.add(State::Runs, None, "", String::new, nodes, None);
        } else {
            cell.add(
                State::Blocked,
                None,
                &format!(
                    "the nodes it makes carry taints it does not tolerate: {}",
                    covered.untolerated.join(", ")
                ),
                || crate::policy::toleration_fix(&covered.untolerated_taints),
                nodes,
                None,
            );
        }
    }
    // `--what-if-taint`: the cells show the nodes as they are; what the taints would change
    // is said beside them.
    let details = ds
        .what_if
        .as_ref()
        .map(|what_if| {
            let some = |nodes: &[String]| match nodes.first() {
                Some(first) => format!(
                    "{} (e.g. {first})",
                    crate::words::count(nodes.len(), "node")
                ),
                None => "no node".to_owned(),
            };
            let mut text = format!(
                "with --what-if-taint it would stop running on {}; its running pods would be evicted from {}",
                some(&what_if.stops_on),
                some(&what_if.evicted_from)
            );
            if let Some(seconds) = what_if.delayed_by {
                text.push_str(&format!(" (after {seconds}s where tolerationSeconds delays it)"));
            }
            vec![("What if".to_owned(), text)]
        })
        .unwrap_or_default();
    Row {
        daemonset: format!("{}/{}", ds.namespace, ds.name),
        note: format!("{}:{}", ds.file, ds.line),
        bar: None,
        cells: cells.into_iter().map(CellBuilder::finish).collect(),
        details,
    }
}
