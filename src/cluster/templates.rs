//! Autoscaler templates from the cluster: Karpenter `NodePool`s (`karpenter.sh/v1`) and
//! Cluster API `MachineDeployment`s and `MachineSet`s (`cluster.x-k8s.io/v1beta1`).
//!
//! These APIs exist only where Karpenter or Cluster API is installed, so each is looked up
//! by discovery first: absent is not an error, and `serve` asks again every
//! `--discovery-interval` until it appears, then watches it like any other kind. Objects
//! are decoded with the same [`TemplateObject`] as template files; an object that is not
//! a template (a MachineDeployment the autoscaler does not scale) or cannot be read is
//! left out, the latter with a warning.
//!
//! RBAC: `get`, `list`, `watch` on `nodepools` (`karpenter.sh`) and `machinedeployments`,
//! `machinesets` (`cluster.x-k8s.io`); discovery needs nothing beyond the default
//! `system:discovery` role.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference as K8sOwner};
use kube::api::Api;
use kube::{Client, Resource};
use serde::{Deserialize, Deserializer};

use super::{ClusterError, InventoryKind, list_all, watch};
use crate::inventory::Inventory;
use crate::inventory::templates::{
    Decoded, OwnerReference, TemplateMetadata, TemplateObject, TemplateObjectSpec,
};
use crate::scheduling::{NodeTemplate, TemplateKind};
use crate::serde_util::null_as_default;
use crate::server::AppState;

/// Annotation prefixes templates read; the rest (a `last-applied-configuration` copy of
/// the whole object, above all) is skipped by the decoder.
const READ_ANNOTATION_PREFIXES: [&str; 2] = [
    "cluster.x-k8s.io/",
    "capacity.cluster-autoscaler.kubernetes.io/",
];

/// The metadata templates read: name, namespace, the autoscaler annotations and owners.
fn template_metadata<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ObjectMeta, D::Error> {
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
        annotations: BTreeMap<String, String>,
        #[serde(default, deserialize_with = "null_as_default")]
        owner_references: Vec<K8sOwner>,
    }
    let mut slim = Slim::deserialize(deserializer)?;
    slim.annotations
        .retain(|key, _| READ_ANNOTATION_PREFIXES.iter().any(|p| key.starts_with(p)));
    Ok(ObjectMeta {
        name: slim.name,
        namespace: slim.namespace,
        uid: slim.uid,
        resource_version: slim.resource_version,
        annotations: (!slim.annotations.is_empty()).then_some(slim.annotations),
        owner_references: (!slim.owner_references.is_empty()).then_some(slim.owner_references),
        ..ObjectMeta::default()
    })
}

/// A template object as events carry it: who it is, and the template when it is one.
pub struct TemplateRecord {
    kind: TemplateKind,
    namespace: String,
    name: String,
    template: Option<NodeTemplate>,
}

fn record_of(
    kind: TemplateKind,
    api_version: String,
    metadata: ObjectMeta,
    spec: TemplateObjectSpec,
) -> TemplateRecord {
    let name = metadata.name.clone().unwrap_or_default();
    let namespace = metadata.namespace.clone().unwrap_or_default();
    let object = TemplateObject {
        api_version,
        kind: kind.as_str().to_owned(),
        metadata: TemplateMetadata {
            name: name.clone(),
            namespace: namespace.clone(),
            annotations: metadata.annotations.unwrap_or_default(),
            owner_references: metadata
                .owner_references
                .unwrap_or_default()
                .into_iter()
                .map(|o| OwnerReference {
                    kind: o.kind,
                    name: o.name,
                })
                .collect(),
        },
        spec,
    };
    let template = match object.decode() {
        Ok(Decoded::Template(template)) => Some(template),
        Ok(Decoded::NotAutoscaled(why)) => {
            tracing::debug!("{why}");
            None
        }
        Ok(Decoded::OtherKind) => None,
        Err(why) => {
            tracing::warn!(kind = %kind, namespace, name, "left out of the templates: {why}");
            None
        }
    };
    // A template's own namespace defaulting ("default") must match what a delete names.
    let namespace = template.as_ref().map_or(namespace, |t| t.namespace.clone());
    TemplateRecord {
        kind,
        namespace,
        name,
        template,
    }
}

macro_rules! template_kind {
    ($type:ident, $kind:expr, $kind_name:literal, $group:literal, $version:literal, $plural:literal, $scope:ty) => {
        #[derive(Clone, Debug, Deserialize)]
        pub struct $type {
            #[serde(deserialize_with = "template_metadata")]
            metadata: ObjectMeta,
            #[serde(default, deserialize_with = "null_as_default")]
            spec: TemplateObjectSpec,
        }

        slim_resource!($type, $kind_name, $group, $version, $plural, $scope);

        impl InventoryKind for $type {
            type Record = TemplateRecord;
            type Relist = Vec<TemplateRecord>;
            const NAME: &'static str = $plural;
            fn record(self) -> TemplateRecord {
                record_of(
                    $kind,
                    concat!($group, "/", $version).into(),
                    self.metadata,
                    self.spec,
                )
            }
            fn unchanged(inventory: &Inventory, record: &TemplateRecord) -> bool {
                let current = inventory.templates().iter().find(|t| {
                    t.kind == record.kind
                        && t.namespace == record.namespace
                        && t.name == record.name
                });
                current == record.template.as_ref()
            }
            fn apply(inventory: &mut Inventory, record: TemplateRecord) {
                match record.template {
                    Some(template) => inventory.apply_template(template),
                    None => inventory.delete_template(record.kind, &record.namespace, &record.name),
                }
            }
            fn delete(inventory: &mut Inventory, record: &TemplateRecord) {
                inventory.delete_template(record.kind, &record.namespace, &record.name);
            }
            fn relist_start(_: &Inventory) -> Vec<TemplateRecord> {
                Vec::new()
            }
            fn relist_add(relist: &mut Vec<TemplateRecord>, record: TemplateRecord, _: &Inventory) {
                relist.push(record);
            }
            fn relist_finish(inventory: &mut Inventory, relist: Vec<TemplateRecord>) {
                inventory.reset_templates($kind, relist.into_iter().filter_map(|r| r.template));
            }
        }
    };
}

template_kind!(
    SlimNodePool,
    TemplateKind::NodePool,
    "NodePool",
    "karpenter.sh",
    "v1",
    "nodepools",
    k8s_openapi::ClusterResourceScope
);
template_kind!(
    SlimMachineDeployment,
    TemplateKind::MachineDeployment,
    "MachineDeployment",
    "cluster.x-k8s.io",
    "v1beta1",
    "machinedeployments",
    k8s_openapi::NamespaceResourceScope
);
template_kind!(
    SlimMachineSet,
    TemplateKind::MachineSet,
    "MachineSet",
    "cluster.x-k8s.io",
    "v1beta1",
    "machinesets",
    k8s_openapi::NamespaceResourceScope
);

/// True when the API server serves `K` (its group/version lists its resource).
async fn served<K: InventoryKind>(client: &Client) -> Result<bool, kube::Error> {
    let api_version = K::api_version(&());
    match client.list_api_group_resources(&api_version).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == K::plural(&()))),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(error) => Err(error),
    }
}

/// Watches `K` once the API server serves it; until then asks every `interval`.
async fn watch_when_served<K: InventoryKind>(
    client: Client,
    state: Arc<AppState>,
    interval: Duration,
) {
    let mut said_absent = false;
    loop {
        match served::<K>(&client).await {
            Ok(true) => {
                tracing::info!(
                    kind = K::NAME,
                    "API served: watching it for autoscaler templates"
                );
                return watch::<K>(Api::all(client), state).await;
            }
            Ok(false) if !said_absent => {
                said_absent = true;
                tracing::info!(
                    kind = K::NAME,
                    api_version = %K::api_version(&()),
                    "API not served (not installed): no templates of this kind; checking again every {}s",
                    interval.as_secs()
                );
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(kind = K::NAME, error = %error, "discovery failed; trying again");
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// One task per template kind, each waiting for its API to be served.
pub fn spawn_template_watchers(
    client: Client,
    state: Arc<AppState>,
    discovery_interval: Duration,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(watch_when_served::<SlimNodePool>(
            client.clone(),
            state.clone(),
            discovery_interval,
        )),
        tokio::spawn(watch_when_served::<SlimMachineDeployment>(
            client.clone(),
            state.clone(),
            discovery_interval,
        )),
        tokio::spawn(watch_when_served::<SlimMachineSet>(
            client,
            state,
            discovery_interval,
        )),
    ]
}

/// Every template kind the API server serves, listed once into `inventory`. An absent
/// API is skipped; one that cannot be listed (RBAC) is a warning, not a failure: the
/// judgement then stands on live nodes alone, as without templates.
pub async fn list_templates(
    client: &Client,
    inventory: &mut Inventory,
) -> Result<(), ClusterError> {
    list_kind::<SlimNodePool>(client, inventory, TemplateKind::NodePool).await?;
    list_kind::<SlimMachineDeployment>(client, inventory, TemplateKind::MachineDeployment).await?;
    list_kind::<SlimMachineSet>(client, inventory, TemplateKind::MachineSet).await
}

async fn list_kind<K: InventoryKind<Record = TemplateRecord>>(
    client: &Client,
    inventory: &mut Inventory,
    kind: TemplateKind,
) -> Result<(), ClusterError> {
    match served::<K>(client).await {
        Ok(true) => {}
        Ok(false) => return Ok(()),
        Err(error) => {
            tracing::warn!(kind = K::NAME, error = %error, "discovery failed: templates of this kind are not judged");
            return Ok(());
        }
    }
    match list_all::<K>(&Api::all(client.clone())).await {
        Ok(records) => {
            inventory.reset_templates(kind, records.into_iter().filter_map(|r| r.template));
            Ok(())
        }
        Err(ClusterError::List {
            cause: kube::Error::Api(status),
            ..
        }) if status.code == 403 => {
            tracing::warn!(
                kind = K::NAME,
                "not allowed to list {}: templates of this kind are not judged (grant get/list/watch as deploy/base/rbac.yaml does)",
                K::NAME
            );
            Ok(())
        }
        Err(error) => Err(error),
    }
}
