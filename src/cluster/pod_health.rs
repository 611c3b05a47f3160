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

use super::pods::daemon_pod_snapshot;
use crate::doctor::objects::NodeHealth;
use crate::doctor::{self, Options, PodCount};
use crate::server::AppState;

/// How long to wait for the inventory's first complete lists before looking again.
const SYNC_WAIT: Duration = Duration::from_secs(1);

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

/// One pass: list, then diagnose on the blocking pool (never on the threads that answer
/// admission).
async fn pass(client: &Client, state: &AppState) -> Result<Vec<PodCount>, String> {
    let mut snapshot = daemon_pod_snapshot(client)
        .await
        .map_err(|e| e.to_string())?;
    let inventory = state.inventory.load_full();
    let config = state.config.load_full();
    tokio::task::spawn_blocking(move || {
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
        let (counts, notes) = doctor::pod_counts_against(&snapshot, &inventory, &options);
        for note in notes {
            tracing::warn!(note = %note, "pod health pass: a DaemonSet was not diagnosed");
        }
        counts
    })
    .await
    .map_err(|e| format!("the diagnosis failed: {e}"))
}
