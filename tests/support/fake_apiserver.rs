//! A small HTTP server that speaks the Kubernetes list+watch protocol for nodes,
//! priorityclasses, limitranges, daemonsets, pods, poddisruptionbudgets, events,
//! controllerrevisions and the autoscaler template kinds (Karpenter nodepools,
//! Cluster API machinedeployments and machinesets, with their discovery documents; those
//! APIs are absent until `serve_api` installs them), for tests and measurements without
//! a cluster:
//! paginated lists (`limit`, `continue`, `resourceVersion`), chunked watch streams of
//! ADDED / MODIFIED / DELETED / BOOKMARK events replayed from a history, `410 Gone` once
//! the history is expired, and dropped connections on demand. Objects are kept as
//! serialized JSON so 50,000 realistic nodes fit.
//!
//! It also takes writes, for what dsguard writes: Leases (create, get, server-side apply
//! with a field-ownership conflict on `holderIdentity`, strategic/merge patches), Events
//! (`events.k8s.io/v1`: create, merge patch for a series) and PolicyReports
//! (`wgpolicyk8s.io/v1alpha2`, absent until `serve_api(POLICY_REPORT_API)`: list by label,
//! apply, delete). Every write is recorded with its field manager.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// The resources served, by URL path.
pub const NODES: &str = "/api/v1/nodes";
pub const PRIORITY_CLASSES: &str = "/apis/scheduling.k8s.io/v1/priorityclasses";
pub const LIMIT_RANGES: &str = "/api/v1/limitranges";
pub const NODE_POOLS: &str = "/apis/karpenter.sh/v1/nodepools";
pub const MACHINE_DEPLOYMENTS: &str = "/apis/cluster.x-k8s.io/v1beta1/machinedeployments";
pub const MACHINE_SETS: &str = "/apis/cluster.x-k8s.io/v1beta1/machinesets";
pub const DAEMONSETS: &str = "/apis/apps/v1/daemonsets";
pub const PODS: &str = "/api/v1/pods";
pub const PDBS: &str = "/apis/policy/v1/poddisruptionbudgets";
pub const EVENTS: &str = "/api/v1/events";
pub const CONTROLLER_REVISIONS: &str = "/apis/apps/v1/controllerrevisions";

/// The optional API groups, by discovery path, with the resources each serves.
pub const KARPENTER_API: &str = "/apis/karpenter.sh/v1";
pub const CLUSTER_API: &str = "/apis/cluster.x-k8s.io/v1beta1";
pub const POLICY_REPORT_API: &str = "/apis/wgpolicyk8s.io/v1alpha2";

/// A write the server took: method, resource (plural), namespace, name, field manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub method: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
    pub field_manager: String,
}

/// Objects written through the API (leases, events, policyreports), by
/// (plural, namespace, name), with the field manager owning a Lease's holderIdentity.
#[derive(Default)]
struct Written {
    objects: BTreeMap<(String, String, String), Value>,
    holder_owner: HashMap<(String, String), String>,
    writes: Vec<Write>,
}

const ALL_PATHS: [&str; 11] = [
    NODES,
    PRIORITY_CLASSES,
    LIMIT_RANGES,
    NODE_POOLS,
    MACHINE_DEPLOYMENTS,
    MACHINE_SETS,
    DAEMONSETS,
    PODS,
    PDBS,
    EVENTS,
    CONTROLLER_REVISIONS,
];

fn list_kind(path: &str) -> (&'static str, &'static str) {
    match path {
        NODES => ("v1", "NodeList"),
        PRIORITY_CLASSES => ("scheduling.k8s.io/v1", "PriorityClassList"),
        NODE_POOLS => ("karpenter.sh/v1", "NodePoolList"),
        MACHINE_DEPLOYMENTS => ("cluster.x-k8s.io/v1beta1", "MachineDeploymentList"),
        MACHINE_SETS => ("cluster.x-k8s.io/v1beta1", "MachineSetList"),
        DAEMONSETS => ("apps/v1", "DaemonSetList"),
        PODS => ("v1", "PodList"),
        PDBS => ("policy/v1", "PodDisruptionBudgetList"),
        EVENTS => ("v1", "EventList"),
        CONTROLLER_REVISIONS => ("apps/v1", "ControllerRevisionList"),
        _ => ("v1", "LimitRangeList"),
    }
}

/// The API group a resource path belongs to, when it is an optional one.
fn optional_api(path: &str) -> Option<&'static str> {
    match path {
        NODE_POOLS => Some(KARPENTER_API),
        MACHINE_DEPLOYMENTS | MACHINE_SETS => Some(CLUSTER_API),
        _ => None,
    }
}

#[derive(Clone)]
enum Signal {
    Event {
        path: &'static str,
        resource_version: u64,
        line: Arc<str>,
    },
    /// Every open watch ends (a dropped connection).
    DropWatches,
}

#[derive(Default)]
struct Resource {
    /// name (or namespace/name) → serialized object.
    objects: BTreeMap<String, Arc<str>>,
    /// (resourceVersion, watch event line) in order.
    history: Vec<(u64, Arc<str>)>,
    /// Watches from before this resourceVersion get 410 Gone.
    expired_before: u64,
}

struct Shared {
    resources: Mutex<HashMap<&'static str, Resource>>,
    resource_version: AtomicU64,
    signals: broadcast::Sender<Signal>,
    list_requests: AtomicUsize,
    watch_requests: AtomicUsize,
    list_page_delay: Mutex<Duration>,
    /// The optional API groups installed so far (discovery paths).
    served_apis: Mutex<Vec<&'static str>>,
    written: Mutex<Written>,
}

/// A running fake API server.
#[derive(Clone)]
pub struct FakeApiServer {
    pub address: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    watch: Option<String>,
    limit: Option<usize>,
    #[serde(rename = "continue")]
    continue_token: Option<String>,
    resource_version: Option<String>,
    timeout_seconds: Option<u64>,
    /// Lists honour `key` (exists) and `key=value` terms; watches ignore it.
    label_selector: Option<String>,
}

impl FakeApiServer {
    pub async fn start() -> Self {
        let (signals, _) = broadcast::channel(65_536);
        let shared = Arc::new(Shared {
            resources: Mutex::new(
                ALL_PATHS
                    .into_iter()
                    .map(|p| (p, Resource::default()))
                    .collect(),
            ),
            resource_version: AtomicU64::new(1),
            signals,
            list_requests: AtomicUsize::new(0),
            watch_requests: AtomicUsize::new(0),
            list_page_delay: Mutex::new(Duration::ZERO),
            served_apis: Mutex::new(Vec::new()),
            written: Mutex::new(Written::default()),
        });
        let mut router = Router::new();
        for path in ALL_PATHS {
            router = router.route(path, get(move |s, q| serve(s, q, path)));
        }
        for api in [KARPENTER_API, CLUSTER_API] {
            router = router.route(api, get(move |s| discovery(s, api)));
        }
        router = router
            .route(POLICY_REPORT_API, get(policy_report_discovery))
            .route("/apis/{group}/{version}/{plural}", get(list_written_all))
            .route(
                "/apis/{group}/{version}/{plural}/{name}",
                get(get_cluster_scoped)
                    .put(put_cluster_scoped)
                    .patch(patch_cluster_scoped)
                    .delete(delete_cluster_scoped),
            )
            .route(
                "/apis/{group}/{version}/namespaces/{namespace}/{plural}",
                get(list_written_namespace).post(create_written),
            )
            .route(
                "/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}",
                get(get_written)
                    .put(put_written)
                    .patch(patch_written)
                    .delete(delete_written),
            )
            .route(
                "/api/v1/namespaces/{namespace}/{plural}",
                axum::routing::post(create_core),
            )
            .route(
                "/api/v1/namespaces/{namespace}/{plural}/{name}",
                get(get_core).put(put_core).patch(patch_core),
            );
        let router = router.with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { address, shared }
    }

    /// A kubeconfig whose current context points at this server (plain HTTP, no auth).
    pub fn write_kubeconfig(&self, path: &Path) {
        write_kubeconfig_for(self.address, path);
    }

    fn next_version(&self) -> u64 {
        self.shared.resource_version.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn key(object: &Value) -> String {
        let name = object["metadata"]["name"]
            .as_str()
            .expect("objects have names");
        match object["metadata"]["namespace"].as_str() {
            Some(namespace) => format!("{namespace}/{name}"),
            None => name.to_owned(),
        }
    }

    /// Adds or replaces an object, as a watch event.
    pub fn upsert(&self, path: &'static str, mut object: Value) {
        let version = self.next_version();
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let key = Self::key(&object);
        let serialized: Arc<str> = Arc::from(object.to_string());
        let mut resources = self.shared.resources.lock().unwrap();
        let resource = resources.get_mut(path).unwrap();
        let kind = if resource.objects.insert(key, serialized.clone()).is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        let line: Arc<str> =
            Arc::from(format!("{{\"type\":\"{kind}\",\"object\":{serialized}}}\n"));
        resource.history.push((version, line.clone()));
        drop(resources);
        let _ = self.shared.signals.send(Signal::Event {
            path,
            resource_version: version,
            line,
        });
    }

    /// Adds many objects at once without watch events (the initial state).
    pub fn preload(&self, path: &'static str, objects: impl IntoIterator<Item = Value>) {
        let mut resources = self.shared.resources.lock().unwrap();
        let resource = resources.get_mut(path).unwrap();
        for mut object in objects {
            let version = self.shared.resource_version.fetch_add(1, Ordering::SeqCst) + 1;
            object["metadata"]["resourceVersion"] = json!(version.to_string());
            resource
                .objects
                .insert(Self::key(&object), Arc::from(object.to_string()));
        }
        resource.expired_before = self.shared.resource_version.load(Ordering::SeqCst);
    }

    pub fn delete(&self, path: &'static str, key: &str) {
        let version = self.next_version();
        let mut resources = self.shared.resources.lock().unwrap();
        let resource = resources.get_mut(path).unwrap();
        let Some(object) = resource.objects.remove(key) else {
            return;
        };
        let mut object: Value = serde_json::from_str(&object).unwrap();
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let line: Arc<str> = Arc::from(format!("{{\"type\":\"DELETED\",\"object\":{object}}}\n"));
        resource.history.push((version, line.clone()));
        drop(resources);
        let _ = self.shared.signals.send(Signal::Event {
            path,
            resource_version: version,
            line,
        });
    }

    /// Changes the stored objects with no watch event (what a watcher misses while its
    /// connection is down), then expires the history so the next watch gets 410 Gone and
    /// must relist, and drops the open watches.
    pub fn change_while_disconnected(
        &self,
        path: &'static str,
        change: impl FnOnce(&mut BTreeMap<String, Value>),
    ) {
        let mut resources = self.shared.resources.lock().unwrap();
        let resource = resources.get_mut(path).unwrap();
        let mut objects: BTreeMap<String, Value> = resource
            .objects
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::from_str(v).unwrap()))
            .collect();
        change(&mut objects);
        let version = self.shared.resource_version.fetch_add(1, Ordering::SeqCst) + 1;
        resource.objects = objects
            .into_iter()
            .map(|(k, mut v)| {
                v["metadata"]["resourceVersion"] = json!(version.to_string());
                (k, Arc::from(v.to_string()))
            })
            .collect();
        resource.history.clear();
        resource.expired_before = version + 1;
        drop(resources);
        self.drop_watches();
    }

    /// Rewrites stored objects in place, as serialized text (cheap at 50,000 nodes), with no
    /// watch event; then expires the history and drops the watches, forcing a relist.
    pub fn rewrite_while_disconnected(
        &self,
        path: &'static str,
        rewrite: impl Fn(usize, &str) -> Option<String>,
    ) {
        let mut resources = self.shared.resources.lock().unwrap();
        let resource = resources.get_mut(path).unwrap();
        for (index, object) in resource.objects.values_mut().enumerate() {
            if let Some(changed) = rewrite(index, object) {
                *object = Arc::from(changed);
            }
        }
        resource.history.clear();
        resource.expired_before = self.shared.resource_version.fetch_add(1, Ordering::SeqCst) + 2;
        drop(resources);
        self.drop_watches();
    }

    /// Expires every resource's history: the next watch of each gets 410 Gone.
    pub fn expire_history(&self) {
        let now = self.shared.resource_version.load(Ordering::SeqCst) + 1;
        for resource in self.shared.resources.lock().unwrap().values_mut() {
            resource.history.clear();
            resource.expired_before = now;
        }
    }

    /// Ends every open watch stream abruptly.
    pub fn drop_watches(&self) {
        let _ = self.shared.signals.send(Signal::DropWatches);
    }

    /// Sends a BOOKMARK to the open watches of `path`.
    pub fn bookmark(&self, path: &'static str) {
        let version = self.shared.resource_version.load(Ordering::SeqCst);
        let (api_version, list) = list_kind(path);
        let kind = list.trim_end_matches("List");
        let line: Arc<str> = Arc::from(format!(
            "{{\"type\":\"BOOKMARK\",\"object\":{{\"kind\":\"{kind}\",\"apiVersion\":\"{api_version}\",\"metadata\":{{\"resourceVersion\":\"{version}\"}}}}}}\n"
        ));
        // A bookmark always reaches the open watches, whatever they have seen.
        let _ = self.shared.signals.send(Signal::Event {
            path,
            resource_version: u64::MAX,
            line,
        });
    }

    /// Slows every list page down (to observe a sync in progress).
    pub fn set_list_page_delay(&self, delay: Duration) {
        *self.shared.list_page_delay.lock().unwrap() = delay;
    }

    /// Installs an optional API group (as installing Karpenter's or Cluster API's CRDs
    /// does): its discovery document and resources answer from now on.
    pub fn serve_api(&self, api: &'static str) {
        self.shared.served_apis.lock().unwrap().push(api);
    }

    /// The objects written so far to `plural` (leases, events, policyreports).
    pub fn written(&self, plural: &str) -> Vec<Value> {
        let written = self.shared.written.lock().unwrap();
        written
            .objects
            .iter()
            .filter(|((p, _, _), _)| p == plural)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Stores an object as if an administrator had created it (a ClusterRole from the
    /// install); `namespace` empty for a cluster-scoped one.
    pub fn create(&self, plural: &str, namespace: &str, mut object: Value) {
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        let key = (plural.to_owned(), namespace.to_owned(), name);
        self.shared.stamp(&mut object, &key);
        self.shared
            .written
            .lock()
            .unwrap()
            .objects
            .insert(key, object);
    }

    /// One written object, if it exists (`namespace` empty for a cluster-scoped one).
    pub fn object(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let written = self.shared.written.lock().unwrap();
        written
            .objects
            .get(&(plural.to_owned(), namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Every write taken so far, in order.
    pub fn writes(&self) -> Vec<Write> {
        self.shared.written.lock().unwrap().writes.clone()
    }

    pub fn list_requests(&self) -> usize {
        self.shared.list_requests.load(Ordering::SeqCst)
    }

    pub fn watch_requests(&self) -> usize {
        self.shared.watch_requests.load(Ordering::SeqCst)
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code})
}

/// `GET /apis/<group>/<version>`: the APIResourceList, or 404 while not installed.
async fn discovery(State(shared): State<Arc<Shared>>, api: &'static str) -> Response {
    if !shared.served_apis.lock().unwrap().contains(&api) {
        return not_found();
    }
    let resources: Vec<Value> = ALL_PATHS
        .into_iter()
        .filter(|path| optional_api(path) == Some(api))
        .map(|path| {
            let plural = path.rsplit('/').next().unwrap();
            let (_, list) = list_kind(path);
            json!({"name": plural, "singularName": "", "namespaced": path != NODE_POOLS,
                   "kind": list.trim_end_matches("List"), "verbs": ["get", "list", "watch"]})
        })
        .collect();
    let group_version = api.trim_start_matches("/apis/");
    axum::Json(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}))
        .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    )
        .into_response()
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<Params>,
    path: &'static str,
) -> Response {
    if let Some(api) = optional_api(path)
        && !shared.served_apis.lock().unwrap().contains(&api)
    {
        return not_found();
    }
    if params.watch.as_deref() == Some("true") || params.watch.as_deref() == Some("1") {
        return watch(shared, params, path).await;
    }
    shared.list_requests.fetch_add(1, Ordering::SeqCst);
    let delay = *shared.list_page_delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let resources = shared.resources.lock().unwrap();
    let resource = &resources[path];
    let offset: usize = params
        .continue_token
        .as_deref()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let limit = params.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
    let selected: Vec<&Arc<str>> = match params.label_selector.as_deref() {
        Some(selector) => resource
            .objects
            .values()
            .filter(|item| {
                let object: Value = serde_json::from_str(item).unwrap_or_default();
                labels_match(&object, selector)
            })
            .collect(),
        None => resource.objects.values().collect(),
    };
    let items: Vec<&Arc<str>> = selected.iter().skip(offset).take(limit).copied().collect();
    let more = offset + items.len() < selected.len();
    let version = shared.resource_version.load(Ordering::SeqCst);
    let (api_version, kind) = list_kind(path);
    let mut body = format!(
        "{{\"apiVersion\":\"{api_version}\",\"kind\":\"{kind}\",\"metadata\":{{\"resourceVersion\":\"{version}\""
    );
    if more {
        body.push_str(&format!(",\"continue\":\"{}\"", offset + items.len()));
    }
    body.push_str("},\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push_str("]}");
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn watch(shared: Arc<Shared>, params: Params, path: &'static str) -> Response {
    shared.watch_requests.fetch_add(1, Ordering::SeqCst);
    let from: u64 = params
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // Subscribe before reading the history, so nothing falls between the two; events
    // already in the backlog are skipped on the live side by their resourceVersion.
    let receiver = shared.signals.subscribe();
    let (backlog, expired) = {
        let resources = shared.resources.lock().unwrap();
        let resource = &resources[path];
        let expired = from < resource.expired_before;
        let backlog: Vec<(u64, Arc<str>)> = resource
            .history
            .iter()
            .filter(|(v, _)| *v > from)
            .cloned()
            .collect();
        (backlog, expired)
    };
    if expired {
        // As the API server does for a watch from a compacted resourceVersion.
        let line = format!(
            "{{\"type\":\"ERROR\",\"object\":{}}}\n",
            status(410, "Expired", "too old resource version")
        );
        return ([(header::CONTENT_TYPE, "application/json")], line).into_response();
    }
    let last = backlog.last().map_or(from, |(v, _)| *v);
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(params.timeout_seconds.unwrap_or(290));
    let backlog = futures::stream::iter(
        backlog
            .into_iter()
            .map(|(_, l)| Ok::<Bytes, Infallible>(Bytes::from(l.as_bytes().to_vec()))),
    );
    let live = futures::stream::unfold(receiver, move |mut receiver| async move {
        loop {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Ok(Signal::Event {
                    path: p,
                    resource_version,
                    line,
                })) if p == path && resource_version > last => {
                    return Some((
                        Ok::<Bytes, Infallible>(Bytes::from(line.as_bytes().to_vec())),
                        receiver,
                    ));
                }
                Ok(Ok(Signal::Event { .. })) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    continue;
                }
                // A dropped connection, the watch timeout, or the server going away.
                _ => return None,
            }
        }
    });
    let body = Body::from_stream(futures::StreamExt::chain(backlog, live));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(body)
        .unwrap()
}

/// A realistic Node: typical cloud labels, annotations, managedFields, conditions,
/// addresses and an image list, about 20 KB of JSON.
pub fn synthetic_node(index: usize, taints: &[(&str, &str, &str)]) -> Value {
    let name = format!(
        "ip-10-{}-{}-{}.eu-west-1.compute.internal",
        index / 65536,
        (index / 256) % 256,
        index % 256
    );
    let zone = ["eu-west-1a", "eu-west-1b", "eu-west-1c"][index % 3];
    let images: Vec<Value> = (0..68)
        .map(|i| json!({"names": [format!("registry.example.com/team-{}/service-{i}@sha256:{:064x}", i % 7, index * 100 + i), format!("registry.example.com/team-{}/service-{i}:v1.{i}.{}", i % 7, index % 10)], "sizeBytes": 50_000_000 + i * 1_000_000}))
        .collect();
    let managed: Vec<Value> = ["kubelet", "kube-controller-manager", "karpenter", "kube-proxy"]
        .iter()
        .map(|manager| json!({"manager": manager, "operation": "Update", "apiVersion": "v1", "time": "2026-11-01T10:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:node.alpha.kubernetes.io/ttl": {}, "f:volumes.kubernetes.io/controller-managed-attach-detach": {}}, "f:labels": {".": {}, "f:kubernetes.io/arch": {}, "f:kubernetes.io/hostname": {}, "f:kubernetes.io/os": {}, "f:node.kubernetes.io/instance-type": {}, "f:topology.kubernetes.io/region": {}, "f:topology.kubernetes.io/zone": {}}},
                         "f:status": {"f:conditions": {"k:{\"type\":\"DiskPressure\"}": {"f:lastHeartbeatTime": {}}, "k:{\"type\":\"MemoryPressure\"}": {"f:lastHeartbeatTime": {}}, "k:{\"type\":\"PIDPressure\"}": {"f:lastHeartbeatTime": {}}, "k:{\"type\":\"Ready\"}": {"f:lastHeartbeatTime": {}, "f:message": {}, "f:reason": {}, "f:status": {}}}, "f:images": {}, "f:nodeInfo": {"f:bootID": {}}}}}))
        .collect();
    let conditions: Vec<Value> = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        .iter()
        .map(|t| json!({"type": t, "status": if *t == "Ready" { "True" } else { "False" }, "lastHeartbeatTime": "2026-11-01T10:00:00Z", "lastTransitionTime": "2026-10-01T10:00:00Z", "reason": format!("Kubelet{t}"), "message": format!("kubelet has {t} condition as expected")}))
        .collect();
    let mut spec = json!({"providerID": format!("aws:///{zone}/i-{index:017x}"), "podCIDR": format!("10.{}.{}.0/24", 100 + index / 65536, (index / 256) % 256)});
    if !taints.is_empty() {
        spec["taints"] = json!(
            taints
                .iter()
                .map(|(k, v, e)| json!({"key": k, "value": v, "effect": e}))
                .collect::<Vec<_>>()
        );
    }
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name,
            "uid": format!("{index:08x}-0000-4000-8000-{index:012x}"),
            "creationTimestamp": "2026-10-01T10:00:00Z",
            "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": if index % 5 == 0 { "arm64" } else { "amd64" },
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/instance-type": format!("m6i.{}xlarge", index % 12),
                "node.kubernetes.io/instance-type": format!("m6i.{}xlarge", index % 12), "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "eu-west-1",
                "failure-domain.beta.kubernetes.io/zone": zone, "karpenter.sh/nodepool": format!("pool-{}", index % 8), "karpenter.sh/capacity-type": if index % 3 == 0 { "spot" } else { "on-demand" },
                "karpenter.k8s.aws/instance-family": "m6i", "karpenter.k8s.aws/instance-cpu": format!("{}", 4 * (1 + index % 4)), "node.kubernetes.io/instance-id": format!("i-{index:017x}")
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                "karpenter.sh/nodepool-hash": format!("{:020}", index * 7919), "alpha.kubernetes.io/provided-node-ip": format!("10.0.{}.{}", (index / 256) % 256, index % 256)
            },
            "managedFields": managed
        },
        "spec": spec,
        "status": {
            "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "15890m", "memory": "61Gi", "pods": "110", "ephemeral-storage": "92Gi"},
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": format!("10.0.{}.{}", (index / 256) % 256, index % 256)}, {"type": "Hostname", "address": name}, {"type": "InternalDNS", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": format!("{index:032x}"), "systemUUID": format!("ec2{index:029x}"), "bootID": format!("{index:032x}"), "kernelVersion": "6.1.112-122.189.amzn2023.x86_64", "osImage": "Amazon Linux 2023", "containerRuntimeVersion": "containerd://1.7.22", "kubeletVersion": "v1.31.2-eks-94953ac", "kubeProxyVersion": "v1.31.2-eks-94953ac", "operatingSystem": "linux", "architecture": "amd64"},
            "images": images
        }
    })
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WriteParams {
    field_manager: Option<String>,
    force: Option<bool>,
    label_selector: Option<String>,
}

type WritePath = axum::extract::Path<(String, String, String, String, String)>;
type CollectionPath = axum::extract::Path<(String, String, String, String)>;

fn writable(plural: &str) -> bool {
    matches!(
        plural,
        "leases"
            | "events"
            | "policyreports"
            | "secrets"
            | "validatingwebhookconfigurations"
            | "mutatingwebhookconfigurations"
            | "clusterroles"
    )
}

fn json_response(code: StatusCode, body: Value) -> Response {
    (code, axum::Json(body)).into_response()
}

fn policy_reports_served(shared: &Shared) -> bool {
    shared
        .served_apis
        .lock()
        .unwrap()
        .contains(&POLICY_REPORT_API)
}

/// Unavailable when the resource is an optional one not installed yet.
fn absent(shared: &Shared, plural: &str) -> bool {
    !writable(plural) || (plural == "policyreports" && !policy_reports_served(shared))
}

async fn policy_report_discovery(State(shared): State<Arc<Shared>>) -> Response {
    if !policy_reports_served(&shared) {
        return not_found();
    }
    axum::Json(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "wgpolicyk8s.io/v1alpha2",
        "resources": [{"name": "policyreports", "singularName": "policyreport", "namespaced": true, "kind": "PolicyReport",
                       "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}]}))
    .into_response()
}

/// Whether `object`'s labels satisfy a selector of `key` and `key=value` terms.
fn labels_match(object: &Value, selector: &str) -> bool {
    selector.split(',').all(|pair| match pair.split_once('=') {
        Some((k, v)) => object["metadata"]["labels"][k] == v,
        None => !object["metadata"]["labels"][pair].is_null(),
    })
}

fn list_of(objects: Vec<Value>, selector: Option<&str>) -> Response {
    let items: Vec<Value> = objects
        .into_iter()
        .filter(|o| selector.is_none_or(|selector| labels_match(o, selector)))
        .collect();
    axum::Json(json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items}))
        .into_response()
}

async fn list_written_all(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((_, _, plural)): axum::extract::Path<(String, String, String)>,
    Query(params): Query<WriteParams>,
) -> Response {
    list_matching(&shared, &plural, None, params.label_selector.as_deref())
}

async fn list_written_namespace(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((_, _, namespace, plural)): CollectionPath,
    Query(params): Query<WriteParams>,
) -> Response {
    list_matching(
        &shared,
        &plural,
        Some(&namespace),
        params.label_selector.as_deref(),
    )
}

/// The written objects of `plural` (in `namespace`, or all of them), by label selector.
fn list_matching(
    shared: &Shared,
    plural: &str,
    namespace: Option<&str>,
    selector: Option<&str>,
) -> Response {
    if absent(shared, plural) {
        return not_found();
    }
    let objects = {
        let written = shared.written.lock().unwrap();
        written
            .objects
            .iter()
            .filter(|((p, ns, _), _)| p == plural && namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v.clone())
            .collect()
    };
    list_of(objects, selector)
}

impl Shared {
    fn record(
        &self,
        written: &mut Written,
        method: &str,
        key: &(String, String, String),
        manager: Option<String>,
    ) {
        written.writes.push(Write {
            method: method.into(),
            plural: key.0.clone(),
            namespace: key.1.clone(),
            name: key.2.clone(),
            field_manager: manager.unwrap_or_default(),
        });
    }

    /// Stores a written object as the API server would (stamped, kept, the write
    /// recorded) and answers with it.
    fn store(
        &self,
        written: &mut Written,
        method: &str,
        key: (String, String, String),
        manager: Option<String>,
        mut object: Value,
    ) -> Response {
        self.stamp(&mut object, &key);
        written.objects.insert(key.clone(), object.clone());
        self.record(written, method, &key, manager);
        let code = if method == "POST" {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        json_response(code, object)
    }

    /// Stamps what the API server sets on every write.
    fn stamp(&self, object: &mut Value, key: &(String, String, String)) {
        let version = self.resource_version.fetch_add(1, Ordering::SeqCst) + 1;
        let metadata = &mut object["metadata"];
        metadata["name"] = json!(key.2);
        if !key.1.is_empty() {
            metadata["namespace"] = json!(key.1);
        }
        metadata["resourceVersion"] = json!(version.to_string());
        if metadata["uid"].is_null() {
            metadata["uid"] = json!(format!("uid-{version}"));
            metadata["creationTimestamp"] = json!("2026-12-01T00:00:00Z");
        }
    }
}

async fn create_written(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((_, _, namespace, plural)): CollectionPath,
    Query(params): Query<WriteParams>,
    axum::Json(object): axum::Json<Value>,
) -> Response {
    if absent(&shared, &plural) {
        return not_found();
    }
    let Some(name) = object["metadata"]["name"].as_str().map(str::to_owned) else {
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            status(422, "Invalid", "metadata.name: Required value"),
        );
    };
    let key = (plural.clone(), namespace, name);
    let mut written = shared.written.lock().unwrap();
    if written.objects.contains_key(&key) {
        return json_response(
            StatusCode::CONFLICT,
            status(409, "AlreadyExists", "already exists"),
        );
    }
    if plural == "leases"
        && let Some(manager) = &params.field_manager
        && object["spec"]["holderIdentity"].is_string()
    {
        written
            .holder_owner
            .insert((key.1.clone(), key.2.clone()), manager.clone());
    }
    shared.store(&mut written, "POST", key, params.field_manager, object)
}

async fn get_written(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((_, _, namespace, plural, name)): WritePath,
) -> Response {
    get_object(&shared, (plural, namespace, name))
}

fn get_object(shared: &Shared, key: (String, String, String)) -> Response {
    if absent(shared, &key.0) {
        return not_found();
    }
    let written = shared.written.lock().unwrap();
    match written.objects.get(&key) {
        Some(object) => json_response(StatusCode::OK, object.clone()),
        None => not_found(),
    }
}

type ClusterScopedPath = axum::extract::Path<(String, String, String, String)>;
type CorePath = axum::extract::Path<(String, String, String)>;

async fn get_cluster_scoped(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((_, _, plural, name)): ClusterScopedPath,
) -> Response {
    get_object(&shared, (plural, String::new(), name))
}

async fn get_core(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((namespace, plural, name)): CorePath,
) -> Response {
    get_object(&shared, (plural, namespace, name))
}

async fn create_core(
    state: State<Arc<Shared>>,
    axum::extract::Path((namespace, plural)): axum::extract::Path<(String, String)>,
    query: Query<WriteParams>,
    body: axum::Json<Value>,
) -> Response {
    create_written(
        state,
        axum::extract::Path((String::new(), String::new(), namespace, plural)),
        query,
        body,
    )
    .await
}

/// PUT: a replace, refused with 409 when the object's resourceVersion is not the stored one.
fn put_object(
    shared: &Shared,
    key: (String, String, String),
    params: WriteParams,
    mut object: Value,
) -> Response {
    if absent(shared, &key.0) {
        return not_found();
    }
    let mut written = shared.written.lock().unwrap();
    let Some(stored) = written.objects.get(&key) else {
        return not_found();
    };
    let sent = &object["metadata"]["resourceVersion"];
    if !sent.is_null() && *sent != stored["metadata"]["resourceVersion"] {
        return json_response(
            StatusCode::CONFLICT,
            status(
                409,
                "Conflict",
                "the object has been modified; please apply your changes to the latest version and try again",
            ),
        );
    }
    object["metadata"]["uid"] = stored["metadata"]["uid"].clone();
    shared.store(&mut written, "PUT", key, params.field_manager, object)
}

async fn put_written(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((_, _, namespace, plural, name)): WritePath,
    Query(params): Query<WriteParams>,
    axum::Json(object): axum::Json<Value>,
) -> Response {
    put_object(&shared, (plural, namespace, name), params, object)
}

async fn put_cluster_scoped(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((_, _, plural, name)): ClusterScopedPath,
    Query(params): Query<WriteParams>,
    axum::Json(object): axum::Json<Value>,
) -> Response {
    put_object(&shared, (plural, String::new(), name), params, object)
}

async fn put_core(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((namespace, plural, name)): CorePath,
    Query(params): Query<WriteParams>,
    axum::Json(object): axum::Json<Value>,
) -> Response {
    put_object(&shared, (plural, namespace, name), params, object)
}

/// RFC 7386 merge (strategic merge patches of flat fields read the same).
fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(target), Some(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

async fn patch_written(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((_, _, namespace, plural, name)): WritePath,
    Query(params): Query<WriteParams>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    patch_object(&shared, (plural, namespace, name), params, headers, body)
}

async fn patch_cluster_scoped(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((_, _, plural, name)): ClusterScopedPath,
    Query(params): Query<WriteParams>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    patch_object(
        &shared,
        (plural, String::new(), name),
        params,
        headers,
        body,
    )
}

async fn patch_core(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((namespace, plural, name)): CorePath,
    Query(params): Query<WriteParams>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    patch_object(&shared, (plural, namespace, name), params, headers, body)
}

fn patch_object(
    shared: &Shared,
    (plural, namespace, name): (String, String, String),
    params: WriteParams,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    if absent(shared, &plural) {
        return not_found();
    }

    let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            status(400, "BadRequest", "not JSON"),
        );
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let apply = content_type.starts_with("application/apply-patch");
    let key = (plural.clone(), namespace.clone(), name.clone());
    let manager = params.field_manager.clone().unwrap_or_default();
    let mut written = shared.written.lock().unwrap();
    let existing = written.objects.get(&key).cloned();
    if existing.is_none() && !apply {
        return not_found();
    }
    if plural == "leases" {
        let owner_key = (namespace.clone(), name.clone());
        let applied = &patch["spec"]["holderIdentity"];
        let current = existing
            .as_ref()
            .map(|o| o["spec"]["holderIdentity"].clone())
            .unwrap_or(Value::Null);
        let owner = written.holder_owner.get(&owner_key).cloned();
        // Server-side apply: setting a field another manager owns to another value is a
        // conflict unless forced. Updates (other patches) take ownership silently.
        if apply
            && applied.is_string()
            && current.is_string()
            && *applied != current
            && owner.as_deref() != Some(manager.as_str())
            && !params.force.unwrap_or(false)
        {
            return json_response(
                StatusCode::CONFLICT,
                status(
                    409,
                    "Conflict",
                    "Apply failed with 1 conflict: conflict with another manager: .spec.holderIdentity",
                ),
            );
        }
        if patch["spec"].get("holderIdentity").is_some() {
            if applied.is_null() {
                written.holder_owner.remove(&owner_key);
            } else {
                written.holder_owner.insert(owner_key, manager.clone());
            }
        }
    }
    let whole_apply = apply && plural != "leases";
    let object = match (existing, whole_apply) {
        // A whole-object apply by its only manager reads as a replace.
        (_, true) | (None, _) => patch,
        (Some(mut object), false) => {
            merge(&mut object, &patch);
            object
        }
    };
    shared.store(&mut written, "PATCH", key, params.field_manager, object)
}

async fn delete_written(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((_, _, namespace, plural, name)): WritePath,
) -> Response {
    delete_object(&shared, (plural, namespace, name))
}

async fn delete_cluster_scoped(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((_, _, plural, name)): ClusterScopedPath,
) -> Response {
    delete_object(&shared, (plural, String::new(), name))
}

fn delete_object(shared: &Shared, key: (String, String, String)) -> Response {
    if absent(shared, &key.0) {
        return not_found();
    }

    let mut written = shared.written.lock().unwrap();
    match written.objects.remove(&key) {
        Some(object) => {
            shared.record(&mut written, "DELETE", &key, None);
            json_response(StatusCode::OK, object)
        }
        None => not_found(),
    }
}

/// A kubeconfig whose server is `address` (the API server itself, or a relay before it).
pub fn write_kubeconfig_for(address: SocketAddr, path: &Path) {
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{address}\nusers:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\n"
    );
    std::fs::write(path, config).unwrap();
}
