//! The pod health pass of `serve --cluster`: `dsguard_daemonset_pods{namespace,daemonset,
//! reason}`, from the diagnosis `dsguard doctor` gives (the same code, [`crate::doctor`]).
//!
//! The leader, every interval (`--pod-health-interval`), lists read-only and page by page
//! the DaemonSets, the pods the DaemonSet controller made (label `pod-template-generation`,
//! pending ones included: an unscheduled daemon pod has no node yet) and the
//! ControllerRevisions, and diagnoses them against the watched inventory: nodes, priority
//! classes, the pods on each node and their budgets. A node's health is what the node
//! lifecycle controller's taints say (not-ready, unreachable, pressure): the node watch
//! keeps taints but not conditions, which change with every heartbeat.
//!
//! Why a pass and not a watch: the reasons live in pod status (container states, restarts,
//! readiness), which changes with every probe; one list per interval bounds what dsguard
//! asks of the API server and holds, whatever the pods do. Only the leader lists (one
//! replica's load, not one per replica); the others export no series, so an alert reads
//! `max by (namespace, daemonset, reason)`. Events are not listed: they add words to a
//! message, never a reason.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::sync::watch;

use super::pods::{daemon_pods_and_revisions, daemonsets_in_pages};
use crate::doctor::objects::{DaemonSetObject, NodeHealth};
use crate::doctor::{Options, PodCount, PodCounter};
use crate::server::AppState;

/// How long to wait for the inventory's first complete lists before looking again.
const SYNC_WAIT: Duration = Duration::from_secs(1);

/// Pages of DaemonSets listed but not yet diagnosed, at most: the listing waits for the
/// diagnosis beyond this.
const PAGES_IN_FLIGHT: usize = 2;

/// Keeps `dsguard_daemonset_pods` current while this replica leads; clears it otherwise.
pub async fn keep_pod_health(
    client: Client,
    state: Arc<AppState>,
    mut leading: watch::Receiver<bool>,
    interval: Duration,
) {
    loop {
        if !*leading.borrow_and_update() {
            // A replica that no longer leads must not go on exporting old counts.
            state.metrics.daemon_pods.store(Arc::new(Vec::new()));
            if leading.changed().await.is_err() {
                return;
            }
            continue;
        }
        let wait = if !state.inventory.load().synced().all() {
            SYNC_WAIT
        } else {
            match pass(&client, &state).await {
                Ok(counts) => {
                    tracing::debug!(series = counts.len(), "pod health pass done");
                    state.metrics.daemon_pods.store(Arc::new(counts));
                }
                Err(error) => tracing::warn!(
                    error = %error,
                    "pod health pass failed; dsguard_daemonset_pods keeps the last counts"
                ),
            }
            interval
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            changed = leading.changed() => if changed.is_err() { return },
        }
    }
}

/// One pass: list the pods and revisions, then the DaemonSets page by page, each page
/// diagnosed on the blocking pool (never on the threads that answer admission) while the
/// next is listed. At most [`PAGES_IN_FLIGHT`] pages wait, so the pass holds a few pages
/// of DaemonSets, not all of them: 2,000 DaemonSets held at once, even as JSON text, kept
/// 4 MiB more of the process's steady RSS (BENCHMARKS.md, "Live audit").
async fn pass(client: &Client, state: &AppState) -> Result<Vec<PodCount>, String> {
    let mut snapshot = daemon_pods_and_revisions(client)
        .await
        .map_err(|e| e.to_string())?;
    let inventory = state.inventory.load_full();
    let config = state.config.load_full();
    let (pages, mut received) = tokio::sync::mpsc::channel::<Vec<DaemonSetObject>>(PAGES_IN_FLIGHT);
    let counting = tokio::task::spawn_blocking(move || {
        snapshot.node_health = inventory
            .nodes()
            .map(|node| {
                NodeHealth::from_taints(&node.name, node.taints.iter().map(|t| t.key.as_str()))
            })
            .filter(|health| !health.conditions.is_empty())
            .collect();
        let options = Options {
            config: &config,
            now: crate::inventory::pods::now(),
            nodes: &[],
        };
        let mut counter = PodCounter::new(&snapshot, &inventory, &options);
        while let Some(page) = received.blocking_recv() {
            for ds in &page {
                counter.add(ds);
            }
        }
        let (counts, notes) = counter.finish();
        for note in notes {
            tracing::warn!(note = %note, "pod health pass: a DaemonSet was not diagnosed");
        }
        counts
    });
    // The sender goes with the listing, so the counting ends when the listing does.
    let listed = daemonsets_in_pages(client, pages).await;
    let counts = counting
        .await
        .map_err(|e| format!("the diagnosis failed: {e}"))?;
    // A listing cut short counts only some DaemonSets: those counts are not exported.
    listed.map_err(|e| e.to_string())?;
    Ok(counts)
}
