//! The live cluster: kube-runtime watchers for Nodes, PriorityClasses and LimitRanges that
//! feed the inventory (and, in `templates`, for the autoscaler template kinds once their
//! APIs are served), and a one-shot list for `lint --cluster` / `coverage --cluster`.
//!
//! Objects are decoded into slim types: a Node is its name, labels, resourceVersion,
//! taints and `status.allocatable`; the rest of `status` (conditions, the image list),
//! `managedFields` and everything else are skipped by the decoder and never built, so a 20 KB Node on the wire costs a few hundred
//! bytes for the moment it takes to become a compact record. Lists come in pages.
//!
//! Consistency: a watcher's initial list (and every relist after a `410 Gone` or a lost
//! watch) is buffered until its `InitDone` and then swapped in whole, so a request never
//! sees a half-filled inventory; meanwhile requests are served from the last complete view.
//! Readiness waits for every watcher's first `InitDone`. A Node update that changes neither
//! labels nor taints (the usual status heartbeat) changes nothing.
//!
//! RBAC: exactly `get`, `list`, `watch` on `nodes` (core), `priorityclasses`
//! (`scheduling.k8s.io`), `limitranges` (core, all namespaces) and the template kinds
//! (`nodepools` in `karpenter.sh`; `machinedeployments`, `machinesets` in
//! `cluster.x-k8s.io`), as in `deploy/base/rbac.yaml`:
//!
//! ```yaml
//! rules:
//! - apiGroups: [""]
//!   resources: [nodes, limitranges]
//!   verbs: [get, list, watch]
//! - apiGroups: [scheduling.k8s.io]
//!   resources: [priorityclasses]
//!   verbs: [get, list, watch]
//! - apiGroups: [karpenter.sh]
//!   resources: [nodepools]
//!   verbs: [get, list, watch]
//! - apiGroups: [cluster.x-k8s.io]
//!   resources: [machinedeployments, machinesets]
//!   verbs: [get, list, watch]
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::inventory::snapshot::{LimitRangeItem, limit_range};
use crate::inventory::{Inventory, LimitRange, NodeIndex, NodeUpdate, PriorityClass};
use crate::scheduling::Taint;
use crate::scheduling::resources::{QuantityText, amounts};
use crate::serde_util::null_as_default;
use crate::server::AppState;

/// Objects per list page: a relist holds at most one page of slim objects in flight.
/// Nodes are large (20 KB and more on the wire, with their image lists).
pub const PAGE_SIZE: u32 = 50;

/// Pods per list page: client-go's reflector default. A pod is a few KB on the wire, so a
/// page is a few MB in flight, and 150,000 pods are 300 requests rather than 3,000.
pub const POD_PAGE_SIZE: u32 = 500;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot make a client for the cluster: {} (check `kubectl config view --minify`)", causes(.0))]
    Client(kube::Error),
    /// The kubeconfig or context cannot be used (nothing was sent).
    #[error("{0}")]
    Kubeconfig(String),
    #[error("cannot list {kind} from the cluster: {} (check `kubectl config current-context` and that it can list {kind})", causes(.cause))]
    List {
        kind: &'static str,
        cause: kube::Error,
    },
}

/// An error and its causes, each said once: kube's errors repeat their causes in their
/// own messages, and a cause already said adds nothing.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// Only the metadata fields dsguard reads; the rest (managedFields above all) is skipped.
fn slim_metadata<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Slim {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        namespace: Option<String>,
        #[serde(default)]
        uid: Option<String>,
        #[serde(default)]
        resource_version: Option<String>,
        #[serde(default, deserialize_with = "null_as_default")]
        labels: BTreeMap<String, String>,
    }
    let slim = Slim::deserialize(deserializer)?;
    Ok(ObjectMeta {
        name: slim.name,
        namespace: slim.namespace,
        uid: slim.uid,
        resource_version: slim.resource_version,
        labels: (!slim.labels.is_empty()).then_some(slim.labels),
        ..ObjectMeta::default()
    })
}

macro_rules! slim_resource {
    ($type:ident, $kind:literal, $group:literal, $version:literal, $plural:literal, $scope:ty) => {
        impl Resource for $type {
            type DynamicType = ();
            type Scope = $scope;
            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                $group.into()
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                $version.into()
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

mod auditor;
pub mod certificates;
mod daemonsets;
mod events;
pub mod leader;
mod pod_health;
mod pods;
mod reports;
mod templates;

pub use pods::{doctor_snapshot, list_occupancy};
pub use templates::spawn_template_watchers;

/// Starts the live audit of the cluster's DaemonSets (watch, judgement, metrics), the
/// leader's writers (Events, PolicyReports) and its pod health pass (none when
/// `pod_health_interval` is `None`).
pub fn spawn_audit(
    client: Client,
    state: Arc<AppState>,
    leading: tokio::sync::watch::Receiver<bool>,
    identity: String,
    discovery_interval: std::time::Duration,
    pod_health_interval: Option<std::time::Duration>,
) {
    let (change_sender, changes) = tokio::sync::mpsc::channel(64);
    let (transition_sender, transitions) = tokio::sync::mpsc::channel(auditor::MAX_PENDING_EVENTS);
    let (reports_sender, desired) = tokio::sync::watch::channel(Arc::default());
    let (reports_wanted_sender, reports_wanted) = tokio::sync::watch::channel(false);
    tokio::spawn(daemonsets::watch_daemonsets(client.clone(), change_sender));
    tokio::spawn(
        auditor::AuditLoop {
            state: state.clone(),
            changes,
            transitions: transition_sender,
            reports: reports_sender,
            reports_wanted,
        }
        .run(),
    );
    tokio::spawn(events::publish_transitions(
        client.clone(),
        identity,
        leading.clone(),
        transitions,
        state.clone(),
    ));
    if let Some(interval) = pod_health_interval {
        tokio::spawn(pod_health::keep_pod_health(
            client.clone(),
            state.clone(),
            leading.clone(),
            interval,
        ));
    }
    tokio::spawn(reports::keep_reports(
        client,
        leading,
        desired,
        reports_wanted_sender,
        discovery_interval,
        state,
    ));
}

/// A Node as dsguard decodes it.
#[derive(Clone, Debug, Deserialize)]
pub struct SlimNode {
    #[serde(deserialize_with = "slim_metadata")]
    metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    spec: SlimNodeSpec,
    #[serde(default, deserialize_with = "null_as_default")]
    status: SlimNodeStatus,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct SlimNodeSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    taints: Vec<Taint>,
}

/// Of a Node's status only `allocatable` is read; conditions, images and addresses are
/// skipped by the decoder.
#[derive(Clone, Debug, Default, Deserialize)]
struct SlimNodeStatus {
    #[serde(default, deserialize_with = "null_as_default")]
    allocatable: BTreeMap<String, QuantityText>,
}

/// A PriorityClass as dsguard decodes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimPriorityClass {
    #[serde(deserialize_with = "slim_metadata")]
    metadata: ObjectMeta,
    #[serde(default)]
    value: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    global_default: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    preemption_policy: String,
}

/// A LimitRange as dsguard decodes it.
#[derive(Clone, Debug, Deserialize)]
pub struct SlimLimitRange {
    #[serde(deserialize_with = "slim_metadata")]
    metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    spec: SlimLimitRangeSpec,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct SlimLimitRangeSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    limits: Vec<LimitRangeItem>,
}

slim_resource!(
    SlimNode,
    "Node",
    "",
    "v1",
    "nodes",
    k8s_openapi::ClusterResourceScope
);
slim_resource!(
    SlimPriorityClass,
    "PriorityClass",
    "scheduling.k8s.io",
    "v1",
    "priorityclasses",
    k8s_openapi::ClusterResourceScope
);
slim_resource!(
    SlimLimitRange,
    "LimitRange",
    "",
    "v1",
    "limitranges",
    k8s_openapi::NamespaceResourceScope
);

/// How one kind of object feeds the inventory.
trait InventoryKind:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    type Record: Send + Sync + 'static;
    /// What a list accumulates until `InitDone`.
    type Relist: Send;
    const NAME: &'static str;
    /// The field selector of the list and watch (pods: only assigned, unfinished ones).
    const FIELDS: Option<&'static str> = None;
    /// Objects per list page.
    const PAGE: u32 = PAGE_SIZE;
    fn record(self) -> Self::Record;
    /// True when applying `record` would change nothing (a status-only Node update).
    fn unchanged(_inventory: &Inventory, _record: &Self::Record) -> bool {
        false
    }
    fn apply(inventory: &mut Inventory, record: Self::Record);
    fn delete(inventory: &mut Inventory, record: &Self::Record);
    fn relist_start(current: &Inventory) -> Self::Relist;
    fn relist_add(relist: &mut Self::Relist, record: Self::Record, current: &Inventory);
    fn relist_finish(inventory: &mut Inventory, relist: Self::Relist);
}

/// A node list in progress. The first one builds the index directly, compact and interned
/// as the pages arrive. A relist (after `410 Gone` or a lost watch) compares each listed
/// node with the index as it arrives and keeps only what differs: at `InitDone` the
/// difference is applied in one swap, so a relist that finds the cluster unchanged (the
/// usual case) never builds a second index next to the one serving requests.
pub enum NodeList {
    Fresh(Box<NodeIndex>),
    Diff {
        unchanged: HashSet<Arc<str>>,
        changed: Vec<NodeUpdate>,
    },
}

impl InventoryKind for SlimNode {
    type Record = NodeUpdate;
    type Relist = NodeList;
    const NAME: &'static str = "nodes";
    fn record(self) -> NodeUpdate {
        let name = self.metadata.name.unwrap_or_default();
        let allocatable = if self.status.allocatable.is_empty() {
            None
        } else {
            amounts(&self.status.allocatable)
                .inspect_err(|e| {
                    tracing::warn!(node = %name, "status.allocatable.{e}: resource fit is not judged on this node");
                })
                .ok()
        };
        NodeUpdate {
            name,
            labels: self.metadata.labels.unwrap_or_default(),
            taints: self.spec.taints,
            allocatable,
        }
    }
    fn unchanged(inventory: &Inventory, record: &NodeUpdate) -> bool {
        inventory.node_by_name(&record.name).is_some_and(|current| {
            let mut taints = record.taints.clone();
            taints.sort();
            taints.dedup();
            current.taints.as_ref() == taints.as_slice()
                && current.allocatable.as_deref() == record.allocatable.as_ref()
                && current.labels().count() == record.labels.len()
                && current
                    .labels()
                    .all(|(k, v)| record.labels.get(k).map(String::as_str) == Some(v))
        })
    }
    fn apply(inventory: &mut Inventory, record: NodeUpdate) {
        inventory.apply_node(record);
    }
    fn delete(inventory: &mut Inventory, record: &NodeUpdate) {
        inventory.delete_node(&record.name);
    }
    fn relist_start(current: &Inventory) -> NodeList {
        if current.synced().nodes {
            NodeList::Diff {
                unchanged: HashSet::new(),
                changed: Vec::new(),
            }
        } else {
            NodeList::Fresh(Box::default())
        }
    }
    fn relist_add(relist: &mut NodeList, record: NodeUpdate, current: &Inventory) {
        match relist {
            NodeList::Fresh(index) => index.apply_node(record),
            NodeList::Diff { unchanged, changed } => match current.node_by_name(&record.name) {
                Some(node) if Self::unchanged(current, &record) => {
                    unchanged.insert(node.name.clone());
                }
                _ => changed.push(record),
            },
        }
    }
    fn relist_finish(inventory: &mut Inventory, relist: NodeList) {
        match relist {
            NodeList::Fresh(index) => inventory.replace_nodes(*index),
            NodeList::Diff { unchanged, changed } => {
                let listed: HashSet<&str> = changed.iter().map(|r| r.name.as_str()).collect();
                let gone: Vec<String> = inventory
                    .nodes()
                    .filter(|n| !unchanged.contains(&n.name) && !listed.contains(n.name.as_ref()))
                    .map(|n| n.name.to_string())
                    .collect();
                for name in gone {
                    inventory.delete_node(&name);
                }
                for record in changed {
                    inventory.apply_node(record);
                }
            }
        }
    }
}

impl InventoryKind for SlimPriorityClass {
    type Record = PriorityClass;
    type Relist = Vec<PriorityClass>;
    const NAME: &'static str = "priorityclasses";
    fn record(self) -> PriorityClass {
        PriorityClass {
            name: self.metadata.name.unwrap_or_default(),
            value: self.value,
            global_default: self.global_default,
            never_preempts: self.preemption_policy == "Never",
        }
    }
    fn apply(inventory: &mut Inventory, record: PriorityClass) {
        inventory.apply_priority_class(record);
    }
    fn delete(inventory: &mut Inventory, record: &PriorityClass) {
        inventory.delete_priority_class(&record.name);
    }
    fn relist_start(_: &Inventory) -> Vec<PriorityClass> {
        Vec::new()
    }
    fn relist_add(relist: &mut Vec<PriorityClass>, record: PriorityClass, _: &Inventory) {
        relist.push(record);
    }
    fn relist_finish(inventory: &mut Inventory, relist: Vec<PriorityClass>) {
        inventory.reset_priority_classes(relist);
    }
}

impl InventoryKind for SlimLimitRange {
    type Record = LimitRange;
    type Relist = Vec<LimitRange>;
    const NAME: &'static str = "limitranges";
    fn record(self) -> LimitRange {
        limit_range(
            self.metadata.namespace.unwrap_or_else(|| "default".into()),
            self.metadata.name.unwrap_or_default(),
            self.spec.limits,
        )
    }
    fn apply(inventory: &mut Inventory, record: LimitRange) {
        inventory.apply_limit_range(record);
    }
    fn delete(inventory: &mut Inventory, record: &LimitRange) {
        inventory.delete_limit_range(&record.namespace, &record.name);
    }
    fn relist_start(_: &Inventory) -> Vec<LimitRange> {
        Vec::new()
    }
    fn relist_add(relist: &mut Vec<LimitRange>, record: LimitRange, _: &Inventory) {
        relist.push(record);
    }
    fn relist_finish(inventory: &mut Inventory, relist: Vec<LimitRange>) {
        inventory.reset_limit_ranges(relist);
    }
}

/// Which cluster to talk to and how, as kubectl's flags choose it.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    /// `--kubeconfig`; else `KUBECONFIG` (a list of files, merged), else `~/.kube/config`,
    /// else the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; else the kubeconfig's `current-context`.
    pub context: Option<String>,
    /// `--request-timeout`: how long one request may take (`Some(ZERO)`: no limit).
    pub request_timeout: Option<Duration>,
    /// The client watches (`serve`): a read timeout would cut a quiet watch stream, so the
    /// request timeout then bounds connecting and sending only.
    pub watches: bool,
}

impl Connection {
    /// The same cluster, for a process that watches it.
    pub fn for_watches(&self) -> Connection {
        Connection {
            watches: true,
            ..self.clone()
        }
    }
}

/// The client configuration `connection` names, resolved as kubectl resolves it and
/// without a request sent: a kubeconfig that cannot be read, or a context it does not
/// have, is an error here, naming the file and the contexts it does have.
pub async fn client_config(connection: &Connection) -> Result<kube::Config, ClusterError> {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let kubeconfig = match &connection.kubeconfig {
        Some(path) => Some(Kubeconfig::read_from(path).map_err(|cause| {
            ClusterError::Kubeconfig(format!(
                "--kubeconfig {}: {}",
                path.display(),
                causes(&cause)
            ))
        })?),
        None => match Kubeconfig::read() {
            Ok(kubeconfig) => Some(kubeconfig),
            // Named by KUBECONFIG, or needed for --context: it must be readable.
            Err(cause) if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) => {
                return Err(ClusterError::Kubeconfig(format!(
                    "KUBECONFIG={}: {}",
                    std::env::var("KUBECONFIG").unwrap_or_default(),
                    causes(&cause)
                )));
            }
            Err(cause) if connection.context.is_some() => {
                return Err(ClusterError::Kubeconfig(format!(
                    "--context needs a kubeconfig, and none was found ({})",
                    causes(&cause)
                )));
            }
            Err(_) => None,
        },
    };
    let mut config = match kubeconfig {
        Some(kubeconfig) => {
            if let Some(context) = &connection.context
                && !kubeconfig.contexts.iter().any(|c| &c.name == context)
            {
                let known: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
                return Err(ClusterError::Kubeconfig(format!(
                    "--context {context:?}: the kubeconfig has no such context (it has: {})",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                )));
            }
            let options = KubeConfigOptions {
                context: connection.context.clone(),
                ..KubeConfigOptions::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|cause| ClusterError::Kubeconfig(causes(&cause)))?
        }
        None => kube::Config::incluster().map_err(|cause| {
            ClusterError::Kubeconfig(format!(
                "no kubeconfig (--kubeconfig, KUBECONFIG or ~/.kube/config) and not in a pod with a service account: {}",
                causes(&cause)
            ))
        })?,
    };
    if let Some(timeout) = connection.request_timeout {
        let limit = (!timeout.is_zero()).then_some(timeout);
        config.connect_timeout = limit;
        config.write_timeout = limit;
        if !connection.watches {
            config.read_timeout = limit;
            config.reset_reader_on_write = true;
        }
    }
    Ok(config)
}

/// A client for the cluster `connection` names (see [`client_config`]).
pub async fn client(connection: &Connection) -> Result<Client, ClusterError> {
    let config = client_config(connection).await?;
    Client::try_from(config).map_err(ClusterError::Client)
}

/// The namespace kubectl uses with neither `-n` nor `-A`: the context's, else the pod's
/// own (in a cluster), else `default`.
pub async fn default_namespace(connection: &Connection) -> Result<String, ClusterError> {
    Ok(client_config(connection).await?.default_namespace)
}

/// Starts one watcher per kind feeding `state`; they run until the runtime stops.
pub fn spawn_watchers(client: Client, state: Arc<AppState>) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(watch::<SlimNode>(Api::all(client.clone()), state.clone())),
        tokio::spawn(watch::<SlimPriorityClass>(
            Api::all(client.clone()),
            state.clone(),
        )),
        tokio::spawn(watch::<SlimLimitRange>(
            Api::all(client.clone()),
            state.clone(),
        )),
        tokio::spawn(watch::<pods::ClusterPod>(
            Api::all(client.clone()),
            state.clone(),
        )),
        tokio::spawn(watch::<pods::ClusterBudget>(Api::all(client), state)),
    ]
}

/// Events handled in one copy of the inventory when they arrive together.
const MAX_BATCH: usize = 1024;

enum Change<R> {
    Apply(R),
    Delete(R),
}

async fn watch<K: InventoryKind>(api: Api<K>, state: Arc<AppState>) {
    let mut config = watcher::Config::default().page_size(K::PAGE);
    if let Some(fields) = K::FIELDS {
        config = config.fields(fields);
    }
    let stream = watcher::watcher(api, config).default_backoff();
    futures::pin_mut!(stream);
    let mut relist: Option<K::Relist> = None;
    let mut failing_since: Option<std::time::Instant> = None;
    while let Some(first) = stream.next().await {
        // Take whatever else is already waiting, so a burst costs one inventory copy.
        let mut items = vec![first];
        while items.len() < MAX_BATCH {
            match stream.next().now_or_never() {
                Some(Some(item)) => items.push(item),
                _ => break,
            }
        }
        // The view the list in progress is compared with. A kind's list only overlaps
        // other kinds' changes, never its own, so this stays accurate for the whole batch.
        let current = state.inventory.load_full();
        let mut changes: Vec<Change<K::Record>> = Vec::new();
        let mut completed: Option<K::Relist> = None;
        let mut healthy = false;
        for item in items {
            match item {
                Ok(event) => {
                    healthy = true;
                    match event {
                        Event::Init => relist = Some(K::relist_start(&current)),
                        Event::InitApply(object) => K::relist_add(
                            relist.get_or_insert_with(|| K::relist_start(&current)),
                            object.record(),
                            &current,
                        ),
                        Event::InitDone => {
                            // A relist replaces the view: changes seen before it are in it.
                            changes.clear();
                            completed =
                                Some(relist.take().unwrap_or_else(|| K::relist_start(&current)));
                        }
                        Event::Apply(object) => changes.push(Change::Apply(object.record())),
                        Event::Delete(object) => changes.push(Change::Delete(object.record())),
                    }
                }
                Err(error) => {
                    let since = *failing_since.get_or_insert_with(std::time::Instant::now);
                    tracing::warn!(
                        kind = K::NAME,
                        error = %error,
                        failing_for_seconds = since.elapsed().as_secs(),
                        inventory_age_seconds = state.inventory_age().as_secs(),
                        "watch failed; retrying with backoff and serving the last complete view"
                    );
                }
            }
        }
        if healthy && failing_since.take().is_some() {
            tracing::info!(kind = K::NAME, "watch recovered");
        }
        if let Some(fresh) = completed {
            state.update_inventory(|inventory| {
                K::relist_finish(inventory, fresh);
                apply_changes::<K>(inventory, std::mem::take(&mut changes));
            });
            let inventory = state.inventory.load();
            tracing::info!(
                kind = K::NAME,
                nodes = inventory.node_count(),
                priority_classes = inventory.priority_class_count(),
                limit_ranges = inventory.limit_range_count(),
                "full list synced"
            );
        }
        let current = state.inventory.load();
        changes.retain(
            |change| !matches!(change, Change::Apply(record) if K::unchanged(&current, record)),
        );
        drop(current);
        if !changes.is_empty() {
            state.update_inventory(|inventory| apply_changes::<K>(inventory, changes));
        } else if healthy {
            state.mark_inventory_current();
        }
    }
}

fn apply_changes<K: InventoryKind>(inventory: &mut Inventory, changes: Vec<Change<K::Record>>) {
    for change in changes {
        match change {
            Change::Apply(record) => K::apply(inventory, record),
            Change::Delete(record) => K::delete(inventory, &record),
        }
    }
}

/// Every object of one kind, page by page, each mapped by `each` as its page arrives (so
/// at most one page of full objects is held).
pub(crate) async fn list_pages<K, T>(
    api: &Api<K>,
    params: ListParams,
    kind: &'static str,
    mut each: impl FnMut(K) -> T,
) -> Result<Vec<T>, ClusterError>
where
    K: Clone + DeserializeOwned + Debug,
{
    let mut items = Vec::new();
    let mut pages = Pages::new(api, params, kind);
    while let Some(page) = pages.next().await? {
        items.extend(page.into_iter().map(&mut each));
    }
    Ok(items)
}

/// One kind listed page by page, each page as it arrives.
pub(crate) struct Pages<'a, K> {
    api: &'a Api<K>,
    /// The next page's parameters; `None` once the last page was given.
    params: Option<ListParams>,
    kind: &'static str,
}

impl<'a, K> Pages<'a, K>
where
    K: Clone + DeserializeOwned + Debug,
{
    pub(crate) fn new(api: &'a Api<K>, params: ListParams, kind: &'static str) -> Self {
        // A page size the caller chose (pods) is kept.
        let params = match params.limit {
            Some(_) => params,
            None => params.limit(PAGE_SIZE),
        };
        Pages {
            api,
            params: Some(params),
            kind,
        }
    }

    /// The next page, or `None` after the last.
    pub(crate) async fn next(&mut self) -> Result<Option<Vec<K>>, ClusterError> {
        let Some(params) = self.params.take() else {
            return Ok(None);
        };
        let page = self
            .api
            .list(&params)
            .await
            .map_err(|cause| ClusterError::List {
                kind: self.kind,
                cause,
            })?;
        self.params = page
            .metadata
            .continue_
            .filter(|token| !token.is_empty())
            .map(|token| params.continue_token(&token));
        Ok(Some(page.items))
    }
}

/// Every object of one kind, as inventory records.
async fn list_all<K: InventoryKind>(api: &Api<K>) -> Result<Vec<K::Record>, ClusterError> {
    list_pages(api, ListParams::default(), K::NAME, K::record).await
}

/// The whole inventory, listed once (for `lint --cluster` and `coverage --cluster`), with
/// the autoscaler templates whose APIs are served.
pub async fn list_inventory(client: &Client) -> Result<Inventory, ClusterError> {
    let (nodes_api, classes_api, ranges_api) = (
        Api::all(client.clone()),
        Api::all(client.clone()),
        Api::all(client.clone()),
    );
    let (nodes, classes, ranges) = tokio::try_join!(
        list_all::<SlimNode>(&nodes_api),
        list_all::<SlimPriorityClass>(&classes_api),
        list_all::<SlimLimitRange>(&ranges_api),
    )?;
    let mut inventory = Inventory::new();
    inventory.reset_nodes(nodes);
    inventory.reset_priority_classes(classes);
    inventory.reset_limit_ranges(ranges);
    templates::list_templates(client, &mut inventory).await?;
    Ok(inventory)
}

/// Every DaemonSet of the cluster (or of one namespace), listed once page by page (`dsguard audit --cluster`),
/// as manifests named `cluster` (no file positions) without `managedFields` and `status`.
pub async fn list_daemonsets(
    client: &Client,
    namespace: Option<&str>,
) -> Result<Vec<crate::manifests::Manifest>, ClusterError> {
    use k8s_openapi::api::apps::v1::DaemonSet;
    let api: Api<DaemonSet> = match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    list_pages(&api, ListParams::default(), "daemonsets", |mut object| {
        object.metadata.managed_fields = None;
        object.status = None;
        let mut value = serde_json::to_value(&object).unwrap_or_default();
        // A listed item has no kind of its own; the rules and reports expect one.
        value["apiVersion"] = "apps/v1".into();
        value["kind"] = "DaemonSet".into();
        crate::manifests::Manifest {
            file: "cluster".into(),
            position: crate::yaml::Position::default(),
            value,
            source_map: crate::yaml::SourceMap::default(),
            document: 0,
            pointer: String::new(),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_node_decodes_to_name_labels_taints_and_allocatable_only() {
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "resourceVersion": "42", "labels": {"a": "b"},
                         "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]},
            "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}], "podCIDR": "10.0.0.0/24"},
            "status": {"images": [{"names": ["x"], "sizeBytes": 1}], "conditions": [],
                       "allocatable": {"cpu": "3920m", "memory": "15Gi", "pods": "110"}}
        });
        let slim: SlimNode = serde_json::from_value(node).unwrap();
        assert_eq!(slim.metadata.resource_version.as_deref(), Some("42"));
        assert!(slim.metadata.managed_fields.is_none());
        let record = slim.record();
        assert_eq!(record.name, "n1");
        assert_eq!(record.labels["a"], "b");
        assert_eq!(record.taints, [Taint::new("k", "", "NoSchedule")]);
        assert_eq!(
            record.allocatable,
            Some(
                [
                    ("cpu".to_string(), 3920),
                    ("memory".to_string(), 15 << 30),
                    ("pods".to_string(), 110)
                ]
                .into()
            )
        );
    }

    #[test]
    fn status_only_updates_change_nothing() {
        let mut inventory = Inventory::new();
        let node = NodeUpdate {
            name: "n".into(),
            labels: [("a".to_string(), "b".to_string())].into(),
            taints: vec![Taint::new("t", "", "NoSchedule")],
            allocatable: Some([("cpu".to_string(), 2000)].into()),
        };
        inventory.apply_node(node.clone());
        assert!(SlimNode::unchanged(&inventory, &node));
        let mut resized = node.clone();
        resized.allocatable = Some([("cpu".to_string(), 1900)].into());
        assert!(
            !SlimNode::unchanged(&inventory, &resized),
            "allocatable is read by DSG005"
        );
        let mut relabelled = node.clone();
        relabelled.labels.insert("c".into(), "d".into());
        assert!(!SlimNode::unchanged(&inventory, &relabelled));
        let mut untainted = node;
        untainted.taints.clear();
        assert!(!SlimNode::unchanged(&inventory, &untainted));
    }
}
