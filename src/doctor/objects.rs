//! What `doctor` reads, decoded from any mix of `kubectl get ... -o yaml|json` output (a
//! support bundle) or from the API server: DaemonSets, their pods with the status kubelet
//! writes, Nodes with their conditions, Events, ControllerRevisions, PriorityClasses and
//! PodDisruptionBudgets. Kinds are told apart per object; other kinds are counted and
//! skipped. Only the fields the diagnosis reads are kept.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::inventory::pods::{Interner, SlimBudget, SlimPod, parse_time};
use crate::inventory::{NodeUpdate, PodRecord, PriorityClass};
use crate::serde_util::null_as_default;

/// A container's status as kubelet writes it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerStatus {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    pub ready: bool,
    pub restart_count: i64,
    #[serde(deserialize_with = "null_as_default")]
    pub image: String,
    #[serde(deserialize_with = "null_as_default")]
    pub state: ContainerState,
    #[serde(deserialize_with = "null_as_default")]
    pub last_state: ContainerState,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ContainerState {
    pub waiting: Option<StateDetail>,
    /// Only whether it is there: nothing in it is read.
    pub running: Option<serde::de::IgnoredAny>,
    pub terminated: Option<StateDetail>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StateDetail {
    #[serde(deserialize_with = "null_as_default")]
    pub reason: String,
    #[serde(deserialize_with = "null_as_default")]
    pub message: String,
    pub exit_code: Option<i64>,
    pub finished_at: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    pub kind: String,
    #[serde(deserialize_with = "null_as_default")]
    pub status: String,
    #[serde(deserialize_with = "null_as_default")]
    pub reason: String,
    #[serde(deserialize_with = "null_as_default")]
    pub message: String,
    pub last_transition_time: Option<String>,
}

/// The label the DaemonSet controller puts on every pod it creates, the DaemonSet's
/// template generation (pkg/controller/daemon/util, `DaemonSetTemplateGenerationKey`).
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// What a pod adds to its node's occupancy, worked out when the pod is read: the slim pod
/// it comes from is several times the size of the record (a map per label set and per
/// container's requests), and a support bundle holds 150,000 pods.
#[derive(Clone, Debug, Default)]
pub enum PodUsage {
    /// The node it is bound to, and its record there.
    Counted(std::sync::Arc<str>, PodRecord),
    /// Without `spec.priority` (a hand-written bundle: the API server always sets it), the
    /// priority is its PriorityClass's, which a later file of the snapshot may hold.
    Deferred(Box<SlimPod>),
    /// It takes no room: not bound, finished, or its requests cannot be read.
    #[default]
    NotCounted,
}

impl PodUsage {
    fn of(slim: SlimPod, interner: &mut Interner) -> PodUsage {
        if slim.spec.priority.is_none() {
            return PodUsage::Deferred(Box::new(slim));
        }
        match slim.record(&|_| None, interner) {
            Ok((node, record)) => PodUsage::Counted(node, record),
            Err(_) => PodUsage::NotCounted,
        }
    }
}

/// A pod as `doctor` reads it: what it adds to its node, and its status.
#[derive(Clone, Debug, Default)]
pub struct DoctorPod {
    pub usage: PodUsage,
    /// Its `controller-revision-hash` and `pod-template-generation` labels.
    revision_hash: Option<String>,
    template_generation: Option<String>,
    pub namespace: String,
    pub name: String,
    /// The controller's uid and kind/name.
    pub owner_uid: String,
    pub owner_kind: String,
    pub owner_name: String,
    /// `spec.nodeName`, else the node a DaemonSet pod is pinned to by its required node
    /// affinity (`matchFields metadata.name`): an unbound daemon pod still has a node.
    pub node: Option<String>,
    pub bound: bool,
    pub phase: String,
    pub reason: String,
    pub message: String,
    pub conditions: Vec<Condition>,
    pub containers: Vec<ContainerStatus>,
    pub init_containers: Vec<ContainerStatus>,
    /// Container name → memory limit as written.
    pub memory_limits: BTreeMap<String, String>,
    pub deletion: Option<i64>,
    pub grace_seconds: Option<i64>,
    pub created: Option<i64>,
}

impl DoctorPod {
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    pub fn ready(&self) -> bool {
        self.condition("Ready").is_some_and(|c| c.status == "True")
    }

    pub fn revision_hash(&self) -> Option<&str> {
        self.revision_hash.as_deref()
    }

    /// The DaemonSet template generation the pod was made from.
    pub fn template_generation(&self) -> Option<&str> {
        self.template_generation.as_deref()
    }
}

/// A pod's parts, each decoded only when read (see [`DoctorPod::from_value`]).
struct RawPod {
    metadata: RawMeta,
    spec: RawPodSpec,
    status: RawPodStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawMeta {
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    namespace: String,
    #[serde(deserialize_with = "null_as_default")]
    uid: String,
    #[serde(deserialize_with = "null_as_default")]
    labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    annotations: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    owner_references: Vec<RawOwner>,
    creation_timestamp: Option<String>,
    deletion_timestamp: Option<String>,
    deletion_grace_period_seconds: Option<i64>,
    generation: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawOwner {
    #[serde(deserialize_with = "null_as_default")]
    kind: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    uid: String,
    controller: Option<bool>,
}

/// What the slim pod does not have of a pod's spec: read only for a pod not bound yet.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawPodSpec {
    affinity: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawPodStatus {
    #[serde(deserialize_with = "null_as_default")]
    phase: String,
    #[serde(deserialize_with = "null_as_default")]
    reason: String,
    #[serde(deserialize_with = "null_as_default")]
    message: String,
    #[serde(deserialize_with = "null_as_default")]
    conditions: Vec<Condition>,
    #[serde(deserialize_with = "null_as_default")]
    container_statuses: Vec<ContainerStatus>,
    #[serde(deserialize_with = "null_as_default")]
    init_container_statuses: Vec<ContainerStatus>,
}

/// The node a DaemonSet pod is pinned to: `matchFields: [{key: metadata.name, operator: In,
/// values: [NODE]}]` in its required node affinity (the controller's
/// `util.ReplaceDaemonSetPodNodeNameNodeAffinity`).
fn pinned_node(affinity: &Value) -> Option<String> {
    affinity
        .pointer("/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")?
        .as_array()?
        .iter()
        .flat_map(|term| term["matchFields"].as_array().into_iter().flatten())
        .find(|field| field["key"] == "metadata.name" && field["operator"] == "In")
        .and_then(|field| field["values"][0].as_str())
        .map(str::to_owned)
}

impl DoctorPod {
    pub fn from_value(value: &Value, interner: &mut Interner) -> Result<DoctorPod, String> {
        let slim = SlimPod::deserialize(value).map_err(|e| e.to_string())?;
        fn part<T: Default + serde::de::DeserializeOwned>(value: &Value) -> Result<T, String> {
            if value.is_null() {
                return Ok(T::default());
            }
            T::deserialize(value).map_err(|e| e.to_string())
        }
        let metadata: RawMeta = part(&value["metadata"])?;
        let status = if is_daemon_pod(&metadata) {
            part(&value["status"])?
        } else {
            RawPodStatus::default()
        };
        let spec = if bound(&slim) {
            RawPodSpec::default()
        } else {
            part(&value["spec"])?
        };
        Ok(Self::assemble(
            slim,
            RawPod {
                spec,
                status,
                metadata,
            },
            interner,
        ))
    }

    /// From a pod's parts as JSON text: each decoded straight into its fields, no `Value`
    /// tree (a bundle's pods are most of its bytes). Also the newest time it carries.
    fn from_parts(
        parts: &ObjectParts<'_>,
        interner: &mut Interner,
    ) -> Result<(DoctorPod, Option<i64>), String> {
        #[derive(Deserialize, Default)]
        #[serde(default, rename_all = "camelCase")]
        struct Times {
            phase: Option<String>,
            start_time: Option<String>,
            #[serde(deserialize_with = "null_as_default")]
            conditions: Vec<ConditionTimes>,
        }
        #[derive(Deserialize, Default)]
        #[serde(default, rename_all = "camelCase")]
        struct ConditionTimes {
            last_transition_time: Option<String>,
            last_heartbeat_time: Option<String>,
        }
        fn part<T: Default + serde::de::DeserializeOwned>(
            raw: Option<&RawValue>,
        ) -> Result<T, String> {
            match raw.map(RawValue::get) {
                None | Some("null") => Ok(T::default()),
                Some(text) => serde_json::from_str(text).map_err(|e| e.to_string()),
            }
        }
        let metadata: RawMeta = part(parts.metadata)?;
        // The status once for the times and the slim pod's part of it, once more below
        // only for a DaemonSet's pod.
        let times: Times = part(parts.status)?;
        let slim = SlimPod {
            metadata: part(parts.metadata)?,
            spec: part(parts.spec)?,
            status: crate::inventory::pods::SlimPodStatus {
                phase: times.phase.clone(),
                start_time: times.start_time.clone(),
            },
        };
        let spec: RawPodSpec = if bound(&slim) {
            RawPodSpec::default()
        } else {
            part(parts.spec)?
        };
        let status = if is_daemon_pod(&metadata) {
            part(parts.status)?
        } else {
            RawPodStatus::default()
        };
        // The same times `newest_time` reads from a tree.
        let newest = [
            metadata.creation_timestamp.as_deref(),
            times.start_time.as_deref(),
        ]
        .into_iter()
        .chain(times.conditions.iter().flat_map(|c| {
            [
                c.last_transition_time.as_deref(),
                c.last_heartbeat_time.as_deref(),
            ]
        }))
        .flatten()
        .filter_map(parse_time)
        .max();
        let pod = Self::assemble(
            slim,
            RawPod {
                metadata,
                spec,
                status,
            },
            interner,
        );
        Ok((pod, newest))
    }

    fn assemble(slim: SlimPod, raw: RawPod, interner: &mut Interner) -> DoctorPod {
        let daemon_pod = is_daemon_pod(&raw.metadata);
        let owner = raw
            .metadata
            .owner_references
            .iter()
            .find(|o| o.controller == Some(true));
        let bound = bound(&slim);
        let node = slim
            .spec
            .node_name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| raw.spec.affinity.as_ref().and_then(pinned_node));
        // Read only to say which limit an OOMKilled container of a DaemonSet hit.
        let memory_limits = slim
            .spec
            .containers
            .iter()
            .filter(|_| daemon_pod)
            .filter_map(|c| Some((c.name.clone(), c.resources.limits.get("memory")?.0.clone())))
            .collect();
        DoctorPod {
            namespace: if raw.metadata.namespace.is_empty() {
                "default".into()
            } else {
                raw.metadata.namespace
            },
            name: raw.metadata.name,
            owner_uid: owner.map(|o| o.uid.clone()).unwrap_or_default(),
            owner_kind: owner.map(|o| o.kind.clone()).unwrap_or_default(),
            owner_name: owner.map(|o| o.name.clone()).unwrap_or_default(),
            node,
            bound,
            phase: raw.status.phase,
            reason: raw.status.reason,
            message: raw.status.message,
            conditions: raw.status.conditions,
            containers: raw.status.container_statuses,
            init_containers: raw.status.init_container_statuses,
            memory_limits,
            deletion: raw
                .metadata
                .deletion_timestamp
                .as_deref()
                .and_then(parse_time),
            grace_seconds: raw.metadata.deletion_grace_period_seconds,
            created: raw
                .metadata
                .creation_timestamp
                .as_deref()
                .and_then(parse_time),
            revision_hash: slim
                .metadata
                .labels
                .get("controller-revision-hash")
                .cloned(),
            template_generation: slim.metadata.labels.get(TEMPLATE_GENERATION_LABEL).cloned(),
            usage: PodUsage::of(slim, interner),
        }
    }
}

/// An object's kind and its parts, as text borrowed from the object's own: one pass tells
/// a Pod from the rest and finds what [`DoctorPod::from_parts`] decodes.
#[derive(Deserialize)]
struct ObjectParts<'a> {
    #[serde(borrow, default)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    spec: Option<&'a RawValue>,
    #[serde(borrow, default)]
    status: Option<&'a RawValue>,
}

/// `spec.nodeName` is set: the scheduler (or whoever wrote it) bound the pod.
fn bound(slim: &SlimPod) -> bool {
    slim.spec
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty())
}

/// Only a DaemonSet's pods are diagnosed; the others count on their node (their occupancy
/// record), so their status is not kept: most pods of a cluster are not daemon pods.
fn is_daemon_pod(metadata: &RawMeta) -> bool {
    metadata
        .owner_references
        .iter()
        .any(|o| o.controller == Some(true) && o.kind == "DaemonSet")
}

/// A Node's conditions and whether it is cordoned.
#[derive(Clone, Debug, Default)]
pub struct NodeHealth {
    pub name: String,
    pub conditions: Vec<Condition>,
    pub unschedulable: bool,
}

impl NodeHealth {
    fn from_value(value: &Value) -> NodeHealth {
        NodeHealth {
            name: value["metadata"]["name"].as_str().unwrap_or("").to_owned(),
            conditions: value
                .pointer("/status/conditions")
                .and_then(|c| serde_json::from_value(c.clone()).ok())
                .unwrap_or_default(),
            unschedulable: value["spec"]["unschedulable"].as_bool().unwrap_or(false),
        }
    }

    /// A node's health as the node lifecycle controller's taints show it
    /// (pkg/controller/nodelifecycle, `nodeConditionToTaintKeyStatusMap` and the
    /// not-ready/unreachable taints): what `serve --cluster` knows of a node, which keeps
    /// its taints but not its conditions (they change with every heartbeat).
    pub fn from_taints<'t>(name: &str, taints: impl IntoIterator<Item = &'t str>) -> NodeHealth {
        let mut conditions: Vec<Condition> = Vec::new();
        let mut unschedulable = false;
        for key in taints {
            let (kind, status) = match key {
                // A cordon (`spec.unschedulable`) is this taint (TaintNodesByCondition).
                "node.kubernetes.io/unschedulable" => {
                    unschedulable = true;
                    continue;
                }
                "node.kubernetes.io/not-ready" => ("Ready", "False"),
                "node.kubernetes.io/unreachable" => ("Ready", "Unknown"),
                "node.kubernetes.io/memory-pressure" => ("MemoryPressure", "True"),
                "node.kubernetes.io/disk-pressure" => ("DiskPressure", "True"),
                "node.kubernetes.io/pid-pressure" => ("PIDPressure", "True"),
                "node.kubernetes.io/network-unavailable" => ("NetworkUnavailable", "True"),
                _ => continue,
            };
            // NoSchedule and NoExecute taints of one condition are one condition.
            if conditions.iter().any(|c| c.kind == kind) {
                continue;
            }
            conditions.push(Condition {
                kind: kind.into(),
                status: status.into(),
                reason: format!("taint {key}"),
                message: format!("the node lifecycle controller tainted it {key}"),
                last_transition_time: None,
            });
        }
        NodeHealth {
            name: name.to_owned(),
            conditions,
            unschedulable,
        }
    }

    /// `Ready` is not `True`: its status and the kubelet's (or the lifecycle controller's)
    /// words.
    pub fn not_ready(&self) -> Option<&Condition> {
        match self.conditions.iter().find(|c| c.kind == "Ready") {
            Some(c) if c.status != "True" => Some(c),
            _ => None,
        }
    }

    /// Pressure conditions that are `True`.
    pub fn pressure(&self) -> impl Iterator<Item = &Condition> {
        self.conditions.iter().filter(|c| {
            matches!(
                c.kind.as_str(),
                "MemoryPressure" | "DiskPressure" | "PIDPressure" | "NetworkUnavailable"
            ) && c.status == "True"
        })
    }
}

/// An Event, core/v1 (`involvedObject`) or events.k8s.io/v1 (`regarding`).
#[derive(Clone, Debug, Default)]
pub struct ObjectEvent {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub reason: String,
    pub message: String,
    pub warning: bool,
    pub count: i64,
    pub last: Option<i64>,
}

impl ObjectEvent {
    fn from_value(value: &Value) -> ObjectEvent {
        let about = if value.get("regarding").is_some_and(Value::is_object) {
            &value["regarding"]
        } else {
            &value["involvedObject"]
        };
        let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
        let message = if value.get("note").is_some_and(Value::is_string) {
            text(&value["note"])
        } else {
            text(&value["message"])
        };
        let last = ["lastTimestamp", "eventTime", "deprecatedLastTimestamp"]
            .iter()
            .find_map(|k| value[*k].as_str().and_then(parse_time))
            .or_else(|| {
                value
                    .pointer("/series/lastObservedTime")
                    .and_then(Value::as_str)
                    .and_then(parse_time)
            })
            .or_else(|| {
                value
                    .pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .and_then(parse_time)
            });
        let count = value["count"]
            .as_i64()
            .or_else(|| value.pointer("/series/count").and_then(Value::as_i64))
            .or_else(|| value["deprecatedCount"].as_i64())
            .unwrap_or(1);
        ObjectEvent {
            kind: text(&about["kind"]),
            namespace: text(&about["namespace"]),
            name: text(&about["name"]),
            reason: text(&value["reason"]),
            message,
            warning: value["type"] == "Warning",
            count,
            last,
        }
    }
}

/// A ControllerRevision of a DaemonSet.
#[derive(Clone, Debug, Default)]
pub struct Revision {
    pub namespace: String,
    pub name: String,
    pub owner_uid: String,
    pub owner_name: String,
    pub revision: i64,
    pub hash: String,
    pub change_cause: Option<String>,
    pub created: Option<i64>,
    /// `data.spec.template`: the pod template of that revision.
    pub template: Option<Value>,
}

impl Revision {
    fn from_value(value: &Value) -> Option<Revision> {
        let raw = RawMeta::deserialize(&value["metadata"]).ok()?;
        let owner = raw
            .owner_references
            .iter()
            .find(|o| o.controller == Some(true) && o.kind == "DaemonSet");
        let hash = raw
            .labels
            .get("controller-revision-hash")
            .cloned()
            .or_else(|| {
                owner.and_then(|o| {
                    raw.name
                        .strip_prefix(&format!("{}-", o.name))
                        .map(str::to_owned)
                })
            })
            .unwrap_or_default();
        Some(Revision {
            namespace: if raw.namespace.is_empty() {
                "default".into()
            } else {
                raw.namespace.clone()
            },
            owner_uid: owner.map(|o| o.uid.clone()).unwrap_or_default(),
            owner_name: owner.map(|o| o.name.clone()).unwrap_or_default(),
            name: raw.name,
            revision: value["revision"].as_i64().unwrap_or(0),
            hash,
            change_cause: raw.annotations.get("kubernetes.io/change-cause").cloned(),
            created: raw.creation_timestamp.as_deref().and_then(parse_time),
            template: value.pointer("/data/spec/template").cloned(),
        })
    }
}

/// A DaemonSet as read, with what its status says.
///
/// The object is kept as compact JSON text and read again when it is diagnosed: as a
/// `Value` tree a DaemonSet takes several times its text (one map and one string per key),
/// and the pod health pass of `serve --cluster` holds every DaemonSet of the cluster.
#[derive(Clone, Debug)]
pub struct DaemonSetObject {
    json: Box<str>,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub generation: i64,
    pub created: Option<i64>,
}

impl DaemonSetObject {
    pub fn from_value(value: &Value) -> Self {
        let text = |p: &str| {
            value
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let namespace = text("/metadata/namespace");
        DaemonSetObject {
            namespace: if namespace.is_empty() {
                "default".into()
            } else {
                namespace
            },
            name: text("/metadata/name"),
            uid: text("/metadata/uid"),
            generation: value
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            created: value
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .and_then(parse_time),
            json: value.to_string().into_boxed_str(),
        }
    }

    /// The object as it was read.
    pub fn value(&self) -> Result<Value, String> {
        serde_json::from_str(&self.json)
            .map_err(|e| format!("the DaemonSet cannot be read again: {e}"))
    }

    /// Replaces the object, keeping what was read from it first (name, uid, generation).
    #[cfg(test)]
    pub fn set_value(&mut self, value: &Value) {
        self.json = value.to_string().into_boxed_str();
    }
}

/// Kinds named in the skipped-objects notice; past it, "(other kinds)".
const MAX_SKIPPED_KINDS: usize = 16;

/// Everything `doctor` read, by kind.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub daemonsets: Vec<DaemonSetObject>,
    pub pods: Vec<DoctorPod>,
    pub nodes: Vec<NodeUpdate>,
    pub node_health: Vec<NodeHealth>,
    pub events: Vec<ObjectEvent>,
    pub revisions: Vec<Revision>,
    pub priority_classes: Vec<PriorityClass>,
    pub budgets: Vec<crate::scheduling::preemption::Budget>,
    /// Whether the snapshot held each kind at all (an absent kind is not "none").
    pub has_nodes: bool,
    pub has_pods: bool,
    pub has_priority_classes: bool,
    pub has_budgets: bool,
    pub has_events: bool,
    pub has_revisions: bool,
    /// The newest timestamp in it: what "now" is for ages.
    pub newest: i64,
    /// Objects of kinds doctor does not read, by kind: skipped, and said so once.
    pub skipped: BTreeMap<String, usize>,
    /// Every node's pods when listed apart (the cluster, one namespace asked for): then
    /// the occupancy is not made from `pods`.
    pub occupancy: Option<crate::inventory::Occupancy>,
    pub notices: Vec<String>,
    /// What the pods' records share (namespaces, label sets, requests).
    pub interner: Interner,
}

/// Timestamps an object carries that say when the snapshot was taken, at the latest.
fn newest_time(value: &Value) -> Option<i64> {
    let mut newest: Option<i64> = None;
    let mut consider = |v: Option<&Value>| {
        if let Some(t) = v.and_then(Value::as_str).and_then(parse_time) {
            newest = Some(newest.map_or(t, |n| n.max(t)));
        }
    };
    consider(value.pointer("/metadata/creationTimestamp"));
    consider(value.get("lastTimestamp"));
    consider(value.get("eventTime"));
    consider(value.pointer("/status/startTime"));
    for list in ["/status/conditions"] {
        if let Some(conditions) = value.pointer(list).and_then(Value::as_array) {
            for c in conditions {
                consider(c.get("lastTransitionTime"));
                consider(c.get("lastHeartbeatTime"));
            }
        }
    }
    newest
}

impl Snapshot {
    /// Adds one object, by its kind.
    pub fn add(&mut self, value: Value, at: &str) {
        if let Some(t) = newest_time(&value) {
            self.newest = self.newest.max(t);
        }
        let kind = value["kind"].as_str().unwrap_or("").to_owned();
        match kind.as_str() {
            "DaemonSet" => self.daemonsets.push(DaemonSetObject::from_value(&value)),
            "Pod" => {
                self.has_pods = true;
                match DoctorPod::from_value(&value, &mut self.interner) {
                    Ok(pod) => self.pods.push(pod),
                    Err(e) => self
                        .notices
                        .push(format!("{at}: a Pod that cannot be read, skipped: {e}")),
                }
            }
            "Node" => {
                self.has_nodes = true;
                match crate::inventory::snapshot::node_from_value(&value) {
                    Ok(node) => {
                        self.nodes.push(node);
                        self.node_health.push(NodeHealth::from_value(&value));
                    }
                    Err(e) => self
                        .notices
                        .push(format!("{at}: a Node that cannot be read, skipped: {e}")),
                }
            }
            "Event" => {
                self.has_events = true;
                self.events.push(ObjectEvent::from_value(&value));
            }
            "ControllerRevision" => {
                self.has_revisions = true;
                if let Some(revision) = Revision::from_value(&value) {
                    self.revisions.push(revision);
                }
            }
            "PriorityClass" => {
                self.has_priority_classes = true;
                if let Ok(class) = crate::inventory::snapshot::priority_class_from_value(&value) {
                    self.priority_classes.push(class);
                }
            }
            "PodDisruptionBudget" => {
                self.has_budgets = true;
                if let Ok(budget) = serde_json::from_value::<SlimBudget>(value) {
                    self.budgets.push(budget.budget());
                }
            }
            // Kinds doctor does not read (ConfigMaps, custom resources, a stray List
            // header): counted, and named in one notice.
            other => {
                let kind = if other.is_empty() { "(no kind)" } else { other };
                if let Some(count) = self.skipped.get_mut(kind) {
                    *count += 1;
                } else if self.skipped.len() < MAX_SKIPPED_KINDS {
                    self.skipped.insert(kind.to_owned(), 1);
                } else {
                    *self.skipped.entry("(other kinds)".to_owned()).or_default() += 1;
                }
            }
        }
    }

    /// Adds one object from its JSON text: a Pod decoded straight from the text, any other
    /// kind through its tree ([`Snapshot::add`]).
    pub fn add_text(&mut self, text: &RawValue, at: &str) {
        let parts = serde_json::from_str::<ObjectParts>(text.get())
            .ok()
            .filter(|p| p.kind.as_deref() == Some("Pod"));
        if let Some(parts) = parts {
            self.has_pods = true;
            match DoctorPod::from_parts(&parts, &mut self.interner) {
                Ok((pod, newest)) => {
                    if let Some(t) = newest {
                        self.newest = self.newest.max(t);
                    }
                    self.pods.push(pod);
                }
                Err(e) => self
                    .notices
                    .push(format!("{at}: a Pod that cannot be read, skipped: {e}")),
            }
            return;
        }
        match serde_json::from_str::<Value>(text.get()) {
            Ok(value) => self.add(value, at),
            Err(e) => self
                .notices
                .push(format!("{at}: an object that cannot be read, skipped: {e}")),
        }
    }

    /// The notice for the objects skipped by kind, if any were.
    fn skipped_notice(&self) -> Option<String> {
        if self.skipped.is_empty() {
            return None;
        }
        let total: usize = self.skipped.values().sum();
        let kinds: Vec<String> = self
            .skipped
            .iter()
            .map(|(kind, count)| format!("{kind} ({count})"))
            .collect();
        Some(format!(
            "{} of kinds doctor does not read, skipped: {}",
            crate::words::count(total, "object"),
            kinds.join(", ")
        ))
    }

    /// Every object of the files under `path`.
    pub fn load(
        path: &Path,
        max_file_bytes: u64,
    ) -> Result<Snapshot, crate::objects::ObjectsError> {
        use crate::objects::Object;
        // Two threads: this one reads the files and finds where each object ends, the other
        // decodes the objects in the order they were read. Decoding is most of the work
        // (a bundle is mostly pods), so reading no longer waits for it. A few batches in
        // flight at most: memory holds what it held on one thread.
        const BATCH: usize = 256;
        let (batches, received) = std::sync::mpsc::sync_channel::<Vec<(Object, String)>>(4);
        std::thread::scope(|scope| {
            let decoding = scope.spawn(move || {
                let mut snapshot = Snapshot::default();
                for batch in received {
                    for (object, at) in batch {
                        match object {
                            Object::Text(text) => snapshot.add_text(&text, &at),
                            Object::Tree(value) => snapshot.add(value, &at),
                        }
                    }
                }
                snapshot
            });
            let mut notices = Vec::new();
            let mut batch = Vec::with_capacity(BATCH);
            let read = crate::objects::for_each_item(
                path,
                max_file_bytes,
                &mut notices,
                |object, file, at| {
                    batch.push((object, format!("{file}:{}", at.line)));
                    if batch.len() < BATCH {
                        return true;
                    }
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    // Only a decoder that is gone refuses, and then reading stops.
                    batches.send(full).is_ok()
                },
            );
            if !batch.is_empty() {
                let _ = batches.send(batch);
            }
            drop(batches);
            let mut snapshot = decoding
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            read?;
            snapshot.notices.extend(notices);
            snapshot.notices.extend(snapshot.skipped_notice());
            Ok(snapshot)
        })
    }
}
