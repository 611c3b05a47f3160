//! Coverage Events (`events.k8s.io/v1`) on the DaemonSet, written by the leader through
//! kube-runtime's event recorder: `CoverageLost` (Warning) when it can no longer run on
//! nodes or templates it targets, `CoverageRestored` (Normal) when it can again. One Event
//! per transition per DaemonSet (the audit coalesces a burst of node updates into one
//! judgement first); a repeat of the same reason and note within minutes becomes the
//! recorder's `series` on the first Event rather than a new object, and a new cause (a new
//! note) is a new Event, as client-go's events recorder keys them (`tools/events`
//! `getKey`: action, reason, reporting controller, regarding object, and note).
//!
//! RBAC: `create` and `patch` on `events` in `events.k8s.io`, cluster-wide (the Event
//! lives in the DaemonSet's namespace).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::{mpsc, watch};

use crate::audit::Transition;
use crate::server::metrics::{Metrics, WriteLabels};

pub const LOST: &str = "CoverageLost";
pub const RESTORED: &str = "CoverageRestored";

/// kube-runtime's recorder folds a repeat into the first Event's `series` by type, reason,
/// action and object, not by note: a `CoverageLost` for a new cause within its window would
/// keep showing the first cause. So one recorder per note: the same note repeats as a
/// series, a new note starts a new Event.
struct Recorders {
    client: Client,
    reporter: Reporter,
    by_note: HashMap<String, (Recorder, Instant)>,
}

/// kube-runtime's series window: past it, a recorder's cache no longer folds repeats.
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// Recorders kept at most (each holds its own small cache); the least recently used go.
const MAX_RECORDERS: usize = 1024;

impl Recorders {
    fn for_note(&mut self, note: &str) -> &Recorder {
        let now = Instant::now();
        if !self.by_note.contains_key(note) {
            self.by_note
                .retain(|_, (_, used)| now.duration_since(*used) < SERIES_WINDOW);
            if self.by_note.len() >= MAX_RECORDERS
                && let Some(oldest) = self
                    .by_note
                    .iter()
                    .min_by_key(|(_, (_, used))| *used)
                    .map(|(note, _)| note.clone())
            {
                self.by_note.remove(&oldest);
            }
        }
        let entry = self.by_note.entry(note.to_owned()).or_insert_with(|| {
            (
                Recorder::new(self.client.clone(), self.reporter.clone()),
                now,
            )
        });
        entry.1 = now;
        &entry.0
    }
}

/// Writes an Event per transition while this replica leads; drops them otherwise (the
/// leader judged the same change and writes it).
pub async fn publish_transitions(
    client: Client,
    identity: String,
    leading: watch::Receiver<bool>,
    mut transitions: mpsc::Receiver<Transition>,
    state: std::sync::Arc<crate::server::AppState>,
) {
    let mut recorders = Recorders {
        client,
        reporter: Reporter {
            controller: "dsguard".into(),
            instance: Some(identity),
        },
        by_note: HashMap::new(),
    };
    while let Some(transition) = transitions.recv().await {
        if !*leading.borrow() {
            continue;
        }
        let reference = ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("DaemonSet".into()),
            namespace: Some(transition.key.namespace.clone()),
            name: Some(transition.key.name.clone()),
            uid: (!transition.uid.is_empty()).then(|| transition.uid.clone()),
            ..ObjectReference::default()
        };
        let change = &transition.change;
        let mut events = Vec::new();
        if !change.lost.is_empty() {
            events.push((EventType::Warning, LOST, change.lost_note()));
        }
        if !change.restored.is_empty() {
            events.push((EventType::Normal, RESTORED, change.restored_note()));
        }
        for (type_, reason, note) in events {
            let recorder = recorders.for_note(&note);
            let event = Event {
                type_,
                reason: reason.into(),
                note: Some(note),
                action: "Audit".into(),
                secondary: None,
            };
            let result = recorder.publish(&event, &reference).await;
            let ok = result.is_ok();
            if let Err(error) = result {
                tracing::warn!(daemonset = %transition.key, reason, error = %error, "could not write the coverage Event");
            }
            count_write(&state.metrics, "event", ok);
        }
    }
}

pub(crate) fn count_write(metrics: &Metrics, object: &'static str, ok: bool) {
    metrics
        .audit_writes
        .get_or_create(&WriteLabels {
            object,
            result: if ok { "ok" } else { "failed" },
        })
        .inc();
}
