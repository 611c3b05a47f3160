//! `doctor -o html`: the diagnosis as a DaemonSet × pool picture ([`crate::html`]) with a
//! rollout bar per DaemonSet. A node with a problem takes the state of its first problem
//! in the diagnosis' own order (the order of docs/doctor.md's table): `Unfit` is unfit,
//! `NoRoom` no room, `UntoleratedTaint` blocked, `NotTargeted` not targeted, every other
//! reason unhealthy with that reason. The other nodes it targets run it; the rest are not
//! targeted. Autoscaler templates have no pods, so the doctor's columns are pools only.

use std::collections::HashMap;

use roaring::RoaringBitmap;

use super::report::{revision_line, rollout_line};
use super::{Diagnosis, DoctorReport};
use crate::config::Config;
use crate::coverage::NO_POOL;
use crate::html::{CellBuilder, NOT_TARGETED_WHY, Page, PoolColumns, RolloutBar, Row, State};
use crate::inventory::Inventory;

fn state_of(reason: &'static str) -> (State, Option<&'static str>) {
    match reason {
        "Unfit" => (State::Unfit, None),
        "NoRoom" => (State::NoRoom, None),
        "UntoleratedTaint" => (State::Blocked, None),
        "NotTargeted" => (State::NotTargeted, None),
        other => (State::Unhealthy, Some(other)),
    }
}

/// The picture of `report` over the nodes of `inventory` (the one it was diagnosed against).
pub fn to_html(report: &DoctorReport, inventory: &Inventory, config: &Config) -> String {
    let PoolColumns {
        columns,
        split,
        column_of,
    } = PoolColumns::of(
        inventory,
        &config.rules.untolerated_taints.pool_label_keys,
        NO_POOL,
    );
    let rows = report
        .daemonsets
        .iter()
        .map(|d| row(d, &split, &column_of, inventory))
        .collect();
    let unhealthy = report.daemonsets.iter().filter(|d| !d.healthy).count();
    Page {
        title: "dsguard doctor".into(),
        summary: format!(
            "{}: {} healthy, {unhealthy} unhealthy, over {} in {}. Hover a cell for its reason and fix; problem cells link to the details below.",
            crate::words::count(report.daemonsets.len(), "DaemonSet"),
            report.daemonsets.len() - unhealthy,
            crate::words::count(inventory.node_count(), "node"),
            crate::words::count(columns.len(), "pool"),
        ),
        columns,
        rows,
    }
    .render()
}

fn row(
    d: &Diagnosis,
    split: &crate::inventory::PoolSplit,
    pool_of: &HashMap<u32, usize>,
    inventory: &Inventory,
) -> Row {
    let mut cells: Vec<CellBuilder> = (0..split.len()).map(|_| CellBuilder::default()).collect();
    let mut with_problem = RoaringBitmap::new();
    let mut elsewhere: Vec<String> = Vec::new();
    // Problems come in the diagnosis' order: a node's first one is the one it shows.
    for problem in &d.problems {
        let (state, reason) = state_of(problem.reason);
        let mut placed = false;
        for node in &problem.nodes {
            let Some(slot) = inventory.slot_of(node) else {
                continue;
            };
            placed = true;
            if !with_problem.insert(slot) {
                continue;
            }
            if let Some(&pool) = pool_of.get(&slot) {
                cells[pool].add(
                    state,
                    reason,
                    &problem.message,
                    || problem.fix.clone(),
                    1,
                    Some(node),
                );
            }
        }
        if !placed {
            elsewhere.push(format!(
                "{} ({}): {}\nfix: {}",
                problem.reason,
                if problem.pods.is_empty() {
                    "no pod".to_owned()
                } else {
                    problem.pods.join(", ")
                },
                problem.message,
                problem.fix
            ));
        }
    }
    for (pool, (_, nodes)) in split.iter().enumerate() {
        let runs = (&(nodes & &d.targeted) - &with_problem).len();
        if runs > 0 {
            cells[pool].add(State::Runs, None, "", String::new, runs, None);
        }
        let not_targeted = ((nodes - &d.targeted) - &with_problem).len();
        if not_targeted > 0 {
            cells[pool].add(
                State::NotTargeted,
                None,
                NOT_TARGETED_WHY,
                || {
                    "to run there, change spec.template.spec.nodeSelector / affinity, or the nodes' labels (doctor --node NODE says which part fails)".into()
                },
                not_targeted,
                None,
            );
        }
    }
    let s = &d.status;
    let mut details = vec![("Rollout".to_owned(), rollout_line(d))];
    if !elsewhere.is_empty() {
        details.push(("Not on a known node".into(), elsewhere.join("\n")));
    }
    if !d.revisions.is_empty() {
        details.push((
            "Revisions (newest first)".into(),
            d.revisions
                .iter()
                .map(revision_line)
                .collect::<Vec<_>>()
                .join("\n"),
        ));
    }
    if let Some(rollback) = &d.rollback {
        details.push((
            format!(
                "Roll back to revision {} (its pods are Ready and its template passes the rules)",
                rollback.revision
            ),
            rollback.command.clone(),
        ));
    }
    Row {
        daemonset: format!("{}/{}", d.namespace, d.name),
        note: format!(
            "{}: desired {}, ready {}, up-to-date {}, available {}, misscheduled {}",
            if d.healthy { "healthy" } else { "unhealthy" },
            s.desired,
            s.ready,
            s.updated,
            s.available,
            s.misscheduled
        ),
        bar: Some(RolloutBar {
            desired: s.desired,
            updated: s.updated,
            ready: s.ready,
            unavailable: (s.desired - s.available).max(0),
            state: d.rollout.state,
        }),
        cells: cells.into_iter().map(CellBuilder::finish).collect(),
        details,
    }
}
