//! The pods already on each node, from the API server: listed page by page for the
//! one-shot commands, watched for `serve --cluster`. Only assigned, unfinished pods are
//! asked for (`spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed`: a pod that
//! finishes leaves the selection and arrives as a delete), and each is decoded straight
//! into its slim record ([`crate::inventory::pods`]): no Pod object is ever held. The
//! PodDisruptionBudgets are listed and watched beside them.
//!
//! A pod watch that fails keeps serving the last complete view and re-lists (kube's
//! watcher, with backoff); a relist replaces the view in one swap when it completes.

use std::sync::{Arc, Mutex, OnceLock};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::ListParams;
use kube::core::NamespaceResourceScope;
use kube::{Api, Client, Resource};
use serde::Deserialize;

use super::{ClusterError, InventoryKind, POD_PAGE_SIZE, Pages, list_pages};
use crate::inventory::pods::{Interner, NotCounted, SlimBudget, SlimPod};
use crate::inventory::{Inventory, Occupancy, PodRecord};
use crate::scheduling::preemption::Budget;

/// The pods the scheduler counts on a node.
pub const ASSIGNED_PODS: &str = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed";

/// A Pod as the watch decodes it: the slim pod, and the metadata kube's watcher reads.
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "SlimPod")]
pub struct ClusterPod {
    metadata: ObjectMeta,
    pod: SlimPod,
}

impl From<SlimPod> for ClusterPod {
    fn from(pod: SlimPod) -> Self {
        ClusterPod {
            metadata: ObjectMeta {
                name: Some(pod.metadata.name.clone()),
                namespace: Some(pod.metadata.namespace.clone()),
                resource_version: pod.metadata.resource_version.clone(),
                ..ObjectMeta::default()
            },
            pod,
        }
    }
}

slim_resource!(ClusterPod, "Pod", "", "v1", "pods", NamespaceResourceScope);

/// A PodDisruptionBudget as the watch decodes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "SlimBudget")]
pub struct ClusterBudget {
    metadata: ObjectMeta,
    budget: Budget,
}

impl From<SlimBudget> for ClusterBudget {
    fn from(slim: SlimBudget) -> Self {
        let metadata = ObjectMeta {
            name: Some(slim.metadata.name.clone()),
            namespace: Some(slim.metadata.namespace.clone()),
            resource_version: slim.metadata.resource_version.clone(),
            ..ObjectMeta::default()
        };
        ClusterBudget {
            metadata,
            budget: slim.budget(),
        }
    }
}

slim_resource!(
    ClusterBudget,
    "PodDisruptionBudget",
    "policy",
    "v1",
    "poddisruptionbudgets",
    NamespaceResourceScope
);

/// One pod event: where the pod is, and its record (`None`: it no longer counts).
#[derive(Debug)]
pub struct PodChange {
    node: Arc<str>,
    namespace: String,
    name: String,
    record: Option<PodRecord>,
}

/// Shared copies of what the watched pods have in common, kept across events.
fn interner() -> &'static Mutex<Interner> {
    static INTERNER: OnceLock<Mutex<Interner>> = OnceLock::new();
    INTERNER.get_or_init(Default::default)
}

impl ClusterPod {
    fn change(self) -> PodChange {
        let mut interner = interner().lock().unwrap_or_else(|e| e.into_inner());
        // A stored pod always has spec.priority (admission sets it); 0 if not.
        let record = self.pod.record(&|_| Some(0), &mut interner);
        let node = match &record {
            Ok((node, _)) => node.clone(),
            Err(_) => interner.string(self.pod.spec.node_name.as_deref().unwrap_or("")),
        };
        if let Err(NotCounted::Unreadable(why)) = &record {
            tracing::warn!(
                namespace = %self.pod.metadata.namespace,
                pod = %self.pod.metadata.name,
                why = %why,
                "pod resources unreadable; not counted on its node"
            );
        }
        PodChange {
            node,
            namespace: self.pod.metadata.namespace.clone(),
            name: self.pod.metadata.name.clone(),
            record: record.ok().map(|(_, record)| record),
        }
    }
}

fn apply_change(occupancy: &mut Occupancy, change: PodChange) {
    match change.record {
        Some(record) => occupancy.apply(&change.node, record),
        None => occupancy.delete(&change.node, &change.namespace, &change.name),
    }
}

impl InventoryKind for ClusterPod {
    type Record = PodChange;
    type Relist = PodRelist;
    const NAME: &'static str = "pods";
    const FIELDS: Option<&'static str> = Some(ASSIGNED_PODS);
    const PAGE: u32 = POD_PAGE_SIZE;
    fn record(self) -> PodChange {
        self.change()
    }
    /// Most pod updates are status (readiness, restarts): nothing the scheduler counts.
    fn unchanged(inventory: &Inventory, change: &PodChange) -> bool {
        let Some(occupancy) = inventory.occupancy() else {
            return false;
        };
        let held = occupancy.find(&change.node, &change.namespace, &change.name);
        match (&change.record, held) {
            (Some(record), Some(held)) => record == held,
            (None, None) => true,
            _ => false,
        }
    }
    fn apply(inventory: &mut Inventory, change: PodChange) {
        inventory.update_occupancy(|occupancy| apply_change(occupancy, change));
    }
    fn delete(inventory: &mut Inventory, change: &PodChange) {
        inventory.update_occupancy(|occupancy| {
            occupancy.delete(&change.node, &change.namespace, &change.name);
        });
    }
    /// A relist after a lost watch compares each listed pod with the view being served
    /// and keeps only its key when unchanged (the usual case), so the relist never holds a
    /// second copy of every pod beside the one serving requests.
    fn relist_start(current: &Inventory) -> PodRelist {
        PodRelist {
            fresh: current.occupancy().is_none(),
            ..PodRelist::default()
        }
    }
    fn relist_add(relist: &mut PodRelist, change: PodChange, current: &Inventory) {
        if relist.fresh {
            relist.changed.push(change);
            return;
        }
        let held = current
            .occupancy()
            .and_then(|o| o.find(&change.node, &change.namespace, &change.name));
        // Kept by the held record's own shared strings: no copy of any name.
        if let Some(held) = held {
            relist.seen.insert((
                change.node.clone(),
                held.pod.namespace.clone(),
                held.pod.name.clone(),
            ));
        }
        let unchanged = match (&change.record, held) {
            (Some(record), Some(held)) => record == held,
            (None, None) => true,
            _ => false,
        };
        if !unchanged {
            relist.changed.push(change);
        }
    }
    fn relist_finish(inventory: &mut Inventory, relist: PodRelist) {
        inventory.update_occupancy(|occupancy| {
            if relist.fresh || !occupancy.synced() {
                occupancy.reset(
                    relist
                        .changed
                        .into_iter()
                        .filter_map(|c| c.record.map(|record| (c.node, record))),
                );
                return;
            }
            // Pods the list no longer has on their node were deleted while the watch was
            // lost (a pod of the same name on another node is another pod).
            let seen = &relist.seen;
            let gone: Vec<(Arc<str>, Arc<str>, Arc<str>)> = occupancy
                .nodes()
                .flat_map(|(node, pods)| {
                    let node: Arc<str> = Arc::from(node);
                    pods.pods().iter().filter_map(move |p| {
                        let key = (node.clone(), p.pod.namespace.clone(), p.pod.name.clone());
                        (!seen.contains(&key)).then_some(key)
                    })
                })
                .collect();
            for (node, namespace, name) in gone {
                occupancy.delete(&node, &namespace, &name);
            }
            for change in relist.changed {
                apply_change(occupancy, change);
            }
        });
        interner()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .prune_if_grown();
    }
}

/// A pod list in progress (see [`ClusterPod::relist_start`]).
#[derive(Default)]
pub struct PodRelist {
    /// No view to compare with: every pod is kept.
    fresh: bool,
    /// The held pods the list has again, by node, namespace and name.
    seen: std::collections::HashSet<(Arc<str>, Arc<str>, Arc<str>)>,
    changed: Vec<PodChange>,
}

impl InventoryKind for ClusterBudget {
    type Record = Budget;
    type Relist = Vec<Budget>;
    const NAME: &'static str = "poddisruptionbudgets";
    fn record(self) -> Budget {
        self.budget
    }
    fn apply(inventory: &mut Inventory, budget: Budget) {
        inventory.update_occupancy(|occupancy| {
            let mut budgets = occupancy.budgets().to_vec();
            budgets.retain(|b| (&b.namespace, &b.name) != (&budget.namespace, &budget.name));
            budgets.push(budget);
            occupancy.set_budgets(Some(budgets));
        });
    }
    fn delete(inventory: &mut Inventory, budget: &Budget) {
        inventory.update_occupancy(|occupancy| {
            let mut budgets = occupancy.budgets().to_vec();
            budgets.retain(|b| (&b.namespace, &b.name) != (&budget.namespace, &budget.name));
            occupancy.set_budgets(Some(budgets));
        });
    }
    fn relist_start(_: &Inventory) -> Vec<Budget> {
        Vec::new()
    }
    fn relist_add(relist: &mut Vec<Budget>, budget: Budget, _: &Inventory) {
        relist.push(budget);
    }
    fn relist_finish(inventory: &mut Inventory, relist: Vec<Budget>) {
        inventory.update_occupancy(|occupancy| occupancy.set_budgets(Some(relist)));
    }
}

/// The API servers's answer is "forbidden": the service account may not list the kind.
fn forbidden(error: &ClusterError) -> bool {
    matches!(error, ClusterError::List { cause: kube::Error::Api(status), .. } if status.code == 403)
}

/// The pods and budgets of the cluster, listed once page by page (`lint`, `coverage`,
/// `audit`, `review` with `--cluster`). `Ok(None)` with a notice when the credentials may
/// not list pods: DSG007 is then not evaluated, and the rest still is.
pub async fn list_occupancy(
    client: &Client,
) -> Result<(Option<Occupancy>, Vec<String>), ClusterError> {
    let pods_api: Api<ClusterPod> = Api::all(client.clone());
    let budgets_api: Api<ClusterBudget> = Api::all(client.clone());
    let mut notices = Vec::new();
    let changes = match list_pages(
        &pods_api,
        ListParams::default()
            .fields(ASSIGNED_PODS)
            .limit(POD_PAGE_SIZE),
        "pods",
        ClusterPod::change,
    )
    .await
    {
        Ok(changes) => changes,
        Err(error) if forbidden(&error) => {
            notices.push(format!(
                "pods cannot be listed ({error}): DSG007 no-room-beside-running-pods was not evaluated; grant list on pods, or give --pods"
            ));
            return Ok((None, notices));
        }
        Err(error) => return Err(error),
    };
    let mut occupancy = Occupancy::default();
    occupancy.reset(
        changes
            .into_iter()
            .filter_map(|c| c.record.map(|record| (c.node, record))),
    );
    match list_pages(
        &budgets_api,
        ListParams::default(),
        "poddisruptionbudgets",
        |b: ClusterBudget| b.budget,
    )
    .await
    {
        Ok(budgets) => occupancy.set_budgets(Some(budgets)),
        Err(error) if forbidden(&error) => notices.push(format!(
            "PodDisruptionBudgets cannot be listed ({error}): preemption is judged as if there were none"
        )),
        Err(error) => return Err(error),
    }
    Ok((Some(occupancy), notices))
}

/// Lists one kind page by page into `snapshot`, each item as the support bundle has it
/// (its `apiVersion` and `kind`, without managedFields) and as its page arrives: a pod is
/// held as the doctor's record, never as a whole object beside the others.
async fn list_into<K>(
    snapshot: &mut crate::doctor::objects::Snapshot,
    api: &Api<K>,
    params: ListParams,
) -> Result<(), ClusterError>
where
    K: k8s_openapi::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + serde::Serialize,
{
    list_pages(api, params, K::URL_PATH_SEGMENT, |object| {
        snapshot.add(listed_value(object), "cluster")
    })
    .await?;
    Ok(())
}

/// A listed object as the JSON `doctor` reads (a list's items carry neither `apiVersion`
/// nor `kind`), without its `managedFields`, which nothing reads.
fn listed_value<K>(object: K) -> serde_json::Value
where
    K: k8s_openapi::Resource + serde::Serialize,
{
    let mut value = serde_json::to_value(object).unwrap_or_default();
    value["apiVersion"] = K::API_VERSION.into();
    value["kind"] = K::KIND.into();
    if let Some(metadata) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        metadata.remove("managedFields");
    }
    value
}

/// What the pod health pass of `serve --cluster` diagnoses against, listed page by page
/// (read-only): the pods the DaemonSet controller made (pending ones included) and every
/// ControllerRevision. The DaemonSets come after, page by page ([`daemonsets_in_pages`]).
/// The nodes, classes and the pods on each node are the watched inventory's; Events are
/// not listed (they add words to a message, never a reason), nor budgets (the inventory
/// has them).
pub async fn daemon_pods_and_revisions(
    client: &Client,
) -> Result<crate::doctor::objects::Snapshot, ClusterError> {
    use k8s_openapi::api::apps::v1::ControllerRevision;
    use k8s_openapi::api::core::v1::Pod;

    let mut snapshot = crate::doctor::objects::Snapshot::default();
    // Every pod the DaemonSet controller makes carries its template generation label:
    // the API server selects the daemon pods by it, and never sends the others.
    list_into(
        &mut snapshot,
        &Api::<Pod>::all(client.clone()),
        ListParams::default()
            .labels(crate::doctor::objects::TEMPLATE_GENERATION_LABEL)
            .limit(POD_PAGE_SIZE),
    )
    .await?;
    list_into(
        &mut snapshot,
        &Api::<ControllerRevision>::all(client.clone()),
        ListParams::default(),
    )
    .await?;
    snapshot.has_pods = true;
    snapshot.has_revisions = true;
    Ok(snapshot)
}

/// Every DaemonSet, listed page by page (read-only), each page sent to `pages` as it
/// arrives: so that whoever diagnoses them holds a page or two, never every DaemonSet of
/// the cluster. Stops early, without error, when the receiver has gone.
pub async fn daemonsets_in_pages(
    client: &Client,
    pages: tokio::sync::mpsc::Sender<Vec<crate::doctor::objects::DaemonSetObject>>,
) -> Result<(), ClusterError> {
    use crate::doctor::objects::DaemonSetObject;
    use k8s_openapi::api::apps::v1::DaemonSet;

    let api = Api::<DaemonSet>::all(client.clone());
    let mut listed = Pages::new(&api, ListParams::default(), "daemonsets");
    while let Some(page) = listed.next().await? {
        let page = page
            .into_iter()
            .map(|ds| DaemonSetObject::from_value(&listed_value(ds)))
            .collect();
        if pages.send(page).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// Everything `doctor` reads, listed once page by page (read-only): the DaemonSets, their
/// pods, ControllerRevisions and Events of `namespace` (or all), every Node, PriorityClass
/// and PodDisruptionBudget, and the assigned pods of every namespace as occupancy (slim
/// records, so a large cluster's pods are never held whole).
pub async fn doctor_snapshot(
    client: &Client,
    namespace: Option<&str>,
) -> Result<crate::doctor::objects::Snapshot, ClusterError> {
    use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
    use k8s_openapi::api::core::v1::{Event, Node, Pod};
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use k8s_openapi::api::scheduling::v1::PriorityClass;

    fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        match namespace {
            Some(namespace) => Api::namespaced(client.clone(), namespace),
            None => Api::all(client.clone()),
        }
    }
    let params = ListParams::default;
    let mut snapshot = crate::doctor::objects::Snapshot::default();
    list_into(
        &mut snapshot,
        &scoped::<DaemonSet>(client, namespace),
        params(),
    )
    .await?;
    list_into(
        &mut snapshot,
        &scoped::<Pod>(client, namespace),
        params().limit(POD_PAGE_SIZE),
    )
    .await?;
    list_into(
        &mut snapshot,
        &scoped::<ControllerRevision>(client, namespace),
        params(),
    )
    .await?;
    list_into(&mut snapshot, &scoped::<Event>(client, namespace), params()).await?;
    list_into(&mut snapshot, &Api::<Node>::all(client.clone()), params()).await?;
    list_into(
        &mut snapshot,
        &Api::<PriorityClass>::all(client.clone()),
        params(),
    )
    .await?;
    match list_into(
        &mut snapshot,
        &Api::<PodDisruptionBudget>::all(client.clone()),
        params(),
    )
    .await
    {
        Ok(_) => {}
        // First, where it always stood: before what reading the objects noticed.
        Err(error) if forbidden(&error) => snapshot.notices.insert(
            0,
            format!(
                "PodDisruptionBudgets cannot be listed ({error}): preemption is judged as if there were none"
            ),
        ),
        Err(error) => return Err(error),
    }
    // Listed kinds are present even when empty.
    snapshot.has_nodes = true;
    snapshot.has_pods = true;
    snapshot.has_revisions = true;
    snapshot.has_events = true;
    snapshot.has_priority_classes = true;
    snapshot.has_budgets = true;
    // The pods of other namespaces take room on the nodes too.
    if namespace.is_some() {
        let (occupancy, notices) = list_occupancy(client).await?;
        snapshot.notices.extend(notices);
        snapshot.occupancy = occupancy;
    }
    Ok(snapshot)
}
