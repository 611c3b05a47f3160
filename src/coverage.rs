//! `dsguard coverage`: for each DaemonSet, the nodes it will run on and the ones it will
//! not, grouped by node pool and reason. This reports the scheduling truth
//! ([`policy::placement`]): rule actions and `ignoreTaintKeys` never change it.

use std::collections::BTreeMap;
use std::fmt::Write;

use roaring::RoaringBitmap;
use serde::Serialize;

use crate::config::Config;
use crate::inventory::Inventory;
use crate::policy::{self, Context, DaemonSet};
use crate::scheduling::Taint;

/// `coverage -o json`, schema version 1 (README "Commands").
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoverageReport {
    pub schema_version: u32,
    pub daemonsets: Vec<DaemonSetCoverage>,
}

#[derive(Debug, Serialize)]
pub struct DaemonSetCoverage {
    pub namespace: String,
    pub name: String,
    pub file: String,
    pub line: usize,
    /// What the selector picks.
    pub targeted: Vec<String>,
    /// The targeted nodes the pods tolerate.
    pub runnable: Vec<String>,
    /// The other targeted nodes, with the taints not tolerated.
    pub blocked: Vec<BlockedNode>,
    /// Pool → count of nodes not targeted, for the table.
    #[serde(skip)]
    not_targeted_by_pool: BTreeMap<String, u64>,
    #[serde(skip)]
    runnable_by_pool: BTreeMap<String, u64>,
    #[serde(skip)]
    blocked_by_pool: BTreeMap<(String, String), u64>,
}

#[derive(Debug, Serialize)]
pub struct BlockedNode {
    pub node: String,
    pub taints: Vec<Taint>,
}

const NO_POOL: &str = "(no pool label)";

/// Where one DaemonSet lands. `file` and `line` say where it came from.
pub fn cover(
    object: &DaemonSet,
    file: &str,
    line: usize,
    inventory: &Inventory,
    config: &Config,
) -> DaemonSetCoverage {
    let namespace = object.namespace_or_default().to_owned();
    let context = Context::offline(inventory, config, &namespace);
    let placement = policy::placement(object, &context);
    let pool_keys = &config.rules.untolerated_taints.pool_label_keys;
    // Node counts per pool, by the same first-pool-label rule DSG002 reports with.
    let by_pool = |nodes: &RoaringBitmap| -> Vec<(String, u64)> {
        inventory
            .split_by_pool(nodes, pool_keys)
            .into_iter()
            .map(|(pool, members)| (pool.unwrap_or_else(|| NO_POOL.to_owned()), members.len()))
            .collect()
    };
    let name_of = |slot: u32| inventory.node(slot).name.to_string();
    let sorted = |mut names: Vec<String>| {
        names.sort();
        names
    };
    let runnable = placement.runnable();
    let mut blocked = Vec::new();
    let mut blocked_by_pool = BTreeMap::new();
    for group in &placement.blocked {
        let taints = group.taint_list();
        blocked.extend(group.nodes.iter().map(|slot| BlockedNode {
            node: name_of(slot),
            taints: group.untolerated.clone(),
        }));
        for (pool, count) in by_pool(&group.nodes) {
            *blocked_by_pool.entry((pool, taints.clone())).or_insert(0) += count;
        }
    }
    blocked.sort_by(|a, b| a.node.cmp(&b.node));
    let runnable_by_pool = by_pool(&runnable).into_iter().collect();
    let not_targeted_by_pool = by_pool(&(inventory.all_nodes() - &placement.targeted))
        .into_iter()
        .collect();
    DaemonSetCoverage {
        namespace,
        name: object.name().to_owned(),
        file: file.to_owned(),
        line,
        targeted: sorted(placement.targeted.iter().map(name_of).collect()),
        runnable: sorted(runnable.iter().map(name_of).collect()),
        blocked,
        not_targeted_by_pool,
        runnable_by_pool,
        blocked_by_pool,
    }
}

impl CoverageReport {
    pub fn new(daemonsets: Vec<DaemonSetCoverage>) -> Self {
        Self {
            schema_version: 1,
            daemonsets,
        }
    }

    /// The human table.
    pub fn to_table(&self, total_nodes: usize) -> String {
        let mut out = String::new();
        for ds in &self.daemonsets {
            let _ = writeln!(
                out,
                "{}/{}  ({}:{})",
                ds.namespace, ds.name, ds.file, ds.line
            );
            let _ = writeln!(
                out,
                "  targets {} of {total_nodes} nodes; runs on {}; blocked on {}",
                ds.targeted.len(),
                ds.runnable.len(),
                ds.blocked.len()
            );
            let mut rows: Vec<[String; 4]> = Vec::new();
            for (pool, count) in &ds.runnable_by_pool {
                rows.push([
                    pool.clone(),
                    count.to_string(),
                    "runs".into(),
                    String::new(),
                ]);
            }
            for ((pool, taints), count) in &ds.blocked_by_pool {
                rows.push([
                    pool.clone(),
                    count.to_string(),
                    "blocked".into(),
                    format!("untolerated {taints}"),
                ]);
            }
            for (pool, count) in &ds.not_targeted_by_pool {
                rows.push([
                    pool.clone(),
                    count.to_string(),
                    "not targeted".into(),
                    "nodeSelector/affinity/nodeName".into(),
                ]);
            }
            let header = [
                "POOL".to_owned(),
                "NODES".into(),
                "STATUS".into(),
                "REASON".into(),
            ];
            let widths: Vec<usize> = (0..4)
                .map(|i| {
                    rows.iter()
                        .chain([&header])
                        .map(|r| r[i].chars().count())
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            for row in [&header].into_iter().chain(rows.iter()) {
                let line: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .map(|(cell, w)| format!("{cell:<w$}"))
                    .collect();
                let _ = writeln!(out, "  {}", line.join("  ").trim_end());
            }
            out.push('\n');
        }
        out
    }
}
