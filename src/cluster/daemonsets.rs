//! The DaemonSet watch of `serve --cluster`: every DaemonSet of the cluster, decoded
//! straight into the rules' view (`policy::DaemonSet`: the pod template's placement,
//! tolerations, priority, resources and update strategy, the labels, the `dsguard.io/`
//! annotations, name, namespace and uid). `status`, `managedFields` and every other
//! annotation are skipped by the decoder and never built. Changes go to the audit
//! (`cluster::auditor`) as they arrive; a list (at the start, or after a `410 Gone`) goes
//! as one message once complete.
//!
//! RBAC: `list` and `watch` on `daemonsets` in `apps`, cluster-wide.

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use serde::{Deserialize, Deserializer};
use tokio::sync::mpsc;

use super::PAGE_SIZE;
use crate::audit::Key;
use crate::policy::DaemonSet;

/// A DaemonSet as the watch decodes it: the rules' view, and the metadata the watch
/// itself needs (its resourceVersion).
#[derive(Clone, Debug)]
pub struct SlimDaemonSet {
    metadata: ObjectMeta,
    view: DaemonSet,
}

impl<'de> Deserialize<'de> for SlimDaemonSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The API server stores no DaemonSet without a pod template spec; the rules read it.
        let mut view = DaemonSet::deserialize(deserializer)?
            .with_pod_spec()
            .map_err(serde::de::Error::custom)?;
        // A listed item carries no kind of its own; the rules expect one.
        view.api_version = "apps/v1".into();
        view.kind = "DaemonSet".into();
        let metadata = view
            .metadata
            .as_ref()
            .map_or_else(ObjectMeta::default, |m| {
                let present = |s: &str| (!s.is_empty()).then(|| s.to_owned());
                ObjectMeta {
                    name: present(&m.name),
                    namespace: present(&m.namespace),
                    uid: present(&m.uid),
                    resource_version: present(&m.resource_version),
                    ..ObjectMeta::default()
                }
            });
        Ok(SlimDaemonSet { metadata, view })
    }
}

slim_resource!(
    SlimDaemonSet,
    "DaemonSet",
    "apps",
    "v1",
    "daemonsets",
    k8s_openapi::NamespaceResourceScope
);

/// What the watch tells the audit.
#[derive(Debug)]
pub enum DaemonSetChange {
    /// Every DaemonSet of the cluster (a complete list).
    Listed(Vec<DaemonSet>),
    Applied(Box<DaemonSet>),
    Deleted(Key),
}

/// Watches DaemonSets until the audit stops listening.
pub async fn watch_daemonsets(client: Client, changes: mpsc::Sender<DaemonSetChange>) {
    let api: Api<SlimDaemonSet> = Api::all(client);
    let config = watcher::Config::default().page_size(PAGE_SIZE);
    let stream = watcher::watcher(api, config).default_backoff();
    futures::pin_mut!(stream);
    let mut listing: Vec<DaemonSet> = Vec::new();
    let mut failing = false;
    while let Some(item) = stream.next().await {
        let change = match item {
            Ok(event) => {
                if std::mem::take(&mut failing) {
                    tracing::info!(kind = "daemonsets", "watch recovered");
                }
                match event {
                    Event::Init => {
                        listing.clear();
                        continue;
                    }
                    Event::InitApply(object) => {
                        listing.push(object.view);
                        continue;
                    }
                    Event::InitDone => DaemonSetChange::Listed(std::mem::take(&mut listing)),
                    Event::Apply(object) => DaemonSetChange::Applied(Box::new(object.view)),
                    Event::Delete(object) => DaemonSetChange::Deleted(Key::of(&object.view)),
                }
            }
            Err(error) => {
                failing = true;
                tracing::warn!(
                    kind = "daemonsets",
                    error = %error,
                    "watch failed; retrying with backoff, the audit keeps its last view"
                );
                continue;
            }
        };
        if changes.send(change).await.is_err() {
            return;
        }
    }
}
