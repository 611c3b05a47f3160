//! The live audit of `serve --cluster`: keeps every DaemonSet's judgement (`audit::Audit`)
//! current and hands what changed to the metrics, the Events and the reports.
//!
//! - A DaemonSet added or changed is judged when its watch event arrives.
//! - An inventory or config change (a Node, a template, a PriorityClass, a LimitRange, a
//!   reload) judges the DaemonSets again, once the changes have paused for [`QUIET`] (at
//!   most [`MAX_DELAY`] after the first): `kubectl taint` over a pool arrives as one update
//!   per node milliseconds apart, and becomes one judgement and so one Event per
//!   DaemonSet. When only a few nodes changed (at most [`MAX_NODE_CHANGES`]), only the
//!   DaemonSets whose view of one of them changed are judged (`Audit::rejudge_nodes`);
//!   otherwise all of them (BENCHMARKS.md, "Live audit", measures both).
//! - Judging runs on the blocking pool, never on the threads that answer admission.
//! - Nothing is judged before the inventory's first complete lists and the first complete
//!   DaemonSet list: the state found then is the starting point, not a transition.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::daemonsets::DaemonSetChange;
use super::reports::DesiredReports;
use crate::audit::{Audit, Key, Transition, policy_reports};
use crate::config::Config;
use crate::inventory::Inventory;
use crate::policy::DaemonSet;
use crate::server::AppState;

/// How long inventory changes must pause before the DaemonSets are judged again.
pub const QUIET: Duration = Duration::from_millis(300);
/// The longest a judgement waits behind a stream of changes.
pub const MAX_DELAY: Duration = Duration::from_secs(2);
/// Node changes up to which only the DaemonSets selecting them are judged again; beyond,
/// testing each DaemonSet against each changed node costs about what judging all does.
pub const MAX_NODE_CHANGES: usize = 64;
/// Transitions waiting for the Event writer; beyond this they are logged and dropped
/// (the metrics and reports still show the state).
pub const MAX_PENDING_EVENTS: usize = 4096;

/// The audit's inputs and outputs.
pub struct AuditLoop {
    pub state: Arc<AppState>,
    pub changes: mpsc::Receiver<DaemonSetChange>,
    pub transitions: mpsc::Sender<Transition>,
    pub reports: watch::Sender<DesiredReports>,
    /// True while this replica writes reports (it leads and the API is served): only then
    /// are they built and kept.
    pub reports_wanted: watch::Receiver<bool>,
}

impl AuditLoop {
    pub async fn run(mut self) {
        let mut inputs = self.state.judgement_inputs.subscribe();
        // DaemonSets seen before the audit could start, and whether a full list came.
        let mut early: BTreeMap<Key, DaemonSet> = BTreeMap::new();
        let mut listed = false;
        let mut audit: Option<Audit> = None;
        // The inventory and config every DaemonSet was last judged against.
        let mut baseline: Option<Inputs> = None;
        let mut reports_open = true;
        // (first, latest) inventory change not judged yet.
        let mut pending: Option<(Instant, Instant)> = None;
        loop {
            let deadline = pending.map(|(first, last)| (last + QUIET).min(first + MAX_DELAY));
            let work: Work = tokio::select! {
                change = self.changes.recv() => match change {
                    None => return,
                    Some(change) => match audit {
                        Some(_) => Work::Change(change),
                        None => {
                            match change {
                                DaemonSetChange::Listed(objects) => {
                                    listed = true;
                                    early = objects.into_iter().map(|o| (Key::of(&o), o)).collect();
                                }
                                DaemonSetChange::Applied(object) => {
                                    early.insert(Key::of(&object), *object);
                                }
                                DaemonSetChange::Deleted(key) => {
                                    early.remove(&key);
                                }
                            }
                            Work::Start
                        }
                    },
                },
                changed = inputs.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if audit.is_some() {
                        let now = Instant::now();
                        pending = Some((pending.map_or(now, |(first, _)| first), now));
                        continue;
                    }
                    Work::Start
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    pending = None;
                    Work::Rejudge
                }
                changed = self.reports_wanted.changed(), if reports_open => {
                    if changed.is_err() {
                        // The report writer is gone: judging goes on without it.
                        reports_open = false;
                        continue;
                    }
                    Work::Publish
                }
            };
            // Only a judgement of every DaemonSet moves the baseline later changes are
            // measured from.
            let (judged, judged_all) = match (audit.take(), work) {
                (None, Work::Start) => {
                    if !listed || !self.inventory_synced() {
                        continue;
                    }
                    let objects: Vec<DaemonSet> =
                        std::mem::take(&mut early).into_values().collect();
                    tracing::info!(daemonsets = objects.len(), "audit starting");
                    let started = self.judge(Audit::new(), move |audit, inventory, config| {
                        audit.reset(objects, inventory, config)
                    });
                    (started.await, true)
                }
                (Some(current), Work::Change(change)) => {
                    let changed =
                        self.judge(current, move |audit, inventory, config| match change {
                            DaemonSetChange::Listed(objects) => {
                                audit.reset(objects, inventory, config)
                            }
                            DaemonSetChange::Applied(object) => audit
                                .apply(*object, inventory, config)
                                .into_iter()
                                .collect(),
                            DaemonSetChange::Deleted(key) => {
                                audit.delete(&key);
                                Vec::new()
                            }
                        });
                    (changed.await, false)
                }
                (Some(current), Work::Publish) => {
                    (self.judge(current, |_, _, _| Vec::new()).await, false)
                }
                (Some(current), Work::Rejudge) => {
                    let before = baseline.clone();
                    let rejudged = self.judge(current, move |audit, inventory, config| {
                        let changes =
                            before
                                .as_ref()
                                .and_then(|(inventory_before, config_before)| {
                                    if !Arc::ptr_eq(config_before, config) {
                                        return None;
                                    }
                                    inventory
                                        .node_changes_since(inventory_before)
                                        .filter(|changes| changes.len() <= MAX_NODE_CHANGES)
                                });
                        match changes {
                            Some(changes) => audit.rejudge_nodes(&changes, inventory, config),
                            None => audit.rejudge(inventory, config),
                        }
                    });
                    (rejudged.await, true)
                }
                (unchanged, _) => {
                    audit = unchanged;
                    continue;
                }
            };
            match judged {
                Some((judged, inputs)) => {
                    audit = Some(judged);
                    if judged_all {
                        baseline = Some(inputs);
                    }
                }
                None => {
                    tracing::error!(
                        "the audit failed while judging and stops; admission is not affected"
                    );
                    return;
                }
            }
        }
    }

    fn inventory_synced(&self) -> bool {
        self.state.inventory.load().synced().all()
    }

    /// Runs `work` on the blocking pool against the current inventory and config, then
    /// publishes the summary, the reports and the transitions. Returns the audit and the
    /// inputs it was judged against; `None` if it panicked.
    async fn judge(
        &self,
        mut audit: Audit,
        work: impl FnOnce(&mut Audit, &Arc<Inventory>, &Arc<Config>) -> Vec<Transition> + Send + 'static,
    ) -> Option<(Audit, Inputs)> {
        let inventory = self.state.inventory.load_full();
        let config = self.state.config.load_full();
        let inputs = (inventory.clone(), config.clone());
        let reports_wanted = *self.reports_wanted.borrow();
        let (audit, transitions, summary, reports) = tokio::task::spawn_blocking(move || {
            let transitions = work(&mut audit, &inventory, &config);
            let summary = audit.summary();
            // Followers, and leaders without the PolicyReport API, keep none.
            let reports = if reports_wanted {
                policy_reports(&audit)
                    .filter_map(|(ns, report)| {
                        serde_json::value::to_raw_value(&report)
                            .ok()
                            .map(|raw| (ns, raw))
                    })
                    .collect()
            } else {
                Default::default()
            };
            (audit, transitions, summary, reports)
        })
        .await
        .ok()?;
        self.state.metrics.daemonsets.store(Arc::new(summary));
        self.reports.send_replace(Arc::new(reports));
        for transition in transitions {
            let change = &transition.change;
            if !change.lost.is_empty() {
                tracing::warn!(daemonset = %transition.key, note = %change.lost_note(), "coverage lost");
            }
            if !change.restored.is_empty() {
                tracing::info!(daemonset = %transition.key, note = %change.restored_note(), "coverage restored");
            }
            if self.transitions.try_send(transition).is_err() {
                tracing::warn!(
                    "too many coverage Events waiting to be written; this one is dropped"
                );
            }
        }
        Some((audit, inputs))
    }
}

/// What a judgement was made against.
type Inputs = (Arc<Inventory>, Arc<Config>);

enum Work {
    Start,
    Change(DaemonSetChange),
    Rejudge,
    /// Nothing judged: the outputs published again (reports wanted again).
    Publish,
}
