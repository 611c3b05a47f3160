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
//! - The DaemonSets watched are every node's daemon overhead for DSG005, as
//!   `lint --daemonsets` counts them (`Audit::daemon_loads`): before a judgement of every
//!   DaemonSet the loads are made current for the nodes of that moment (after a node
//!   change, only the footprints it can move are placed again), and the judgement reads
//!   them; the live inventory (so the webhook) then takes the same loads. The first
//!   judgement already has them, and the inventory taking them is not itself a change to
//!   judge again. A node change moves the overhead only on that node, so the DaemonSets
//!   there are judged again with the others it affects; a DaemonSet whose footprint moved
//!   (added, removed, placed or sized differently) can move it anywhere, so every one is
//!   judged again once changes pause.

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
use crate::policy::{self, DaemonSet};
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
        // A DaemonSet change moved the daemon loads: every DaemonSet must be judged again,
        // not only those on changed nodes.
        let mut loads_moved = false;
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
                        let (loads, _) = policy::daemon_loads(&objects, inventory, config);
                        set_loads(inventory, loads);
                        let transitions = audit.reset(objects, inventory, config);
                        // Every footprint is new, and already counted.
                        audit.take_footprints_moved();
                        transitions
                    });
                    (started.await, true)
                }
                (Some(current), Work::Change(change)) => {
                    // Judged against the loads as they are (a DaemonSet's own load never
                    // counts against it). One that moves the overhead has the others
                    // judged again, with the loads made current, once changes pause.
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
                    let mut changed = changed.await;
                    if let Some(judged) = &mut changed
                        && judged.audit.take_footprints_moved()
                    {
                        loads_moved = true;
                        let now = Instant::now();
                        pending = Some((pending.map_or(now, |(first, _)| first), now));
                    }
                    (changed, false)
                }
                (Some(current), Work::Publish) => {
                    (self.judge(current, |_, _, _| Vec::new()).await, false)
                }
                (Some(current), Work::Rejudge) => {
                    let before = baseline
                        .clone()
                        .filter(|_| !std::mem::take(&mut loads_moved));
                    let rejudged = self.judge(current, move |audit, inventory, config| {
                        // The changes are read on a copy of the inventory as it came (they
                        // borrow it while the loads made current go on the inventory). The
                        // footprints are placed on the inventory itself, not the copy: a
                        // copy's node index starts with nothing remembered, and the
                        // judgement below reuses every reach the placing works out.
                        let came = inventory.clone();
                        let mut changes =
                            before
                                .as_ref()
                                .and_then(|(inventory_before, config_before)| {
                                    if !Arc::ptr_eq(config_before, config) {
                                        return None;
                                    }
                                    came.node_changes_since(inventory_before)
                                        .filter(|changes| changes.len() <= MAX_NODE_CHANGES)
                                });
                        let loads = audit.daemon_loads(changes.as_deref(), inventory, config);
                        set_loads(inventory, loads);
                        let partial = match (&mut changes, &before) {
                            (Some(changes), Some((inventory_before, _))) => inventory
                                .mark_overhead_changes(inventory_before, changes)
                                .then_some(changes),
                            _ => None,
                        };
                        match partial {
                            Some(changes) => audit.rejudge_nodes(changes, inventory, config),
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
                Some(Judged {
                    audit: judged,
                    inputs: judged_inputs,
                    own_generation,
                    ..
                }) => {
                    audit = Some(judged);
                    if judged_all {
                        // The live inventory taking the loads this judgement already read
                        // is no change to judge again, unless something else came since.
                        if own_generation.is_some_and(|own| *inputs.borrow() == own) {
                            inputs.borrow_and_update();
                        }
                        baseline = Some(judged_inputs);
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
    /// publishes the summary, the reports and the transitions, and gives the live
    /// inventory the daemon loads `work` made current, if it did. `None` if it panicked.
    async fn judge(
        &self,
        mut audit: Audit,
        work: impl FnOnce(&mut Audit, &mut Arc<Inventory>, &Arc<Config>) -> Vec<Transition>
        + Send
        + 'static,
    ) -> Option<Judged> {
        // The generation first: a change landing between the two reads makes it look
        // older than the inventory, which can only cost one more judgement.
        let generation = *self.state.judgement_inputs.borrow();
        let snapshot = self.state.inventory.load_full();
        let config = self.state.config.load_full();
        let reports_wanted = *self.reports_wanted.borrow();
        let mut inventory = snapshot.clone();
        let judged_config = config.clone();
        let (audit, inventory, transitions, summary, reports) =
            tokio::task::spawn_blocking(move || {
                let transitions = work(&mut audit, &mut inventory, &judged_config);
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
                (audit, inventory, transitions, summary, reports)
            })
            .await
            .ok()?;
        // The judgement read daemon loads the live inventory did not have: it takes them.
        let own_generation = if !Arc::ptr_eq(&snapshot, &inventory) {
            self.state
                .adopt_daemon_loads(&inventory)
                .filter(|&adopted| adopted == generation + 1)
        } else {
            None
        };
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
        Some(Judged {
            audit,
            inputs: (inventory, config),
            own_generation,
        })
    }
}

/// Makes `inventory` carry `loads` (on its nodes), copying it only when they differ from
/// what it holds or it holds them for other nodes.
fn set_loads(inventory: &mut Arc<Inventory>, mut loads: Vec<crate::inventory::DaemonLoad>) {
    if inventory.daemon_loads_differ(&mut loads) {
        Arc::make_mut(inventory).set_daemon_loads(Some(loads));
    }
}

/// A judgement done.
struct Judged {
    audit: Audit,
    /// The inventory (with the daemon loads it read) and config it was made against.
    inputs: Inputs,
    /// The judgement-input generation the live inventory's taking those loads made, when
    /// nothing else changed between the judgement's start and it.
    own_generation: Option<u64>,
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
