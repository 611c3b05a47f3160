//! What `doctor` reads, decoded from any mix of `kubectl get ... -o yaml|json` output (a
//! support bundle) or from the API server: DaemonSets, their pods with the status kubelet
//! writes, Nodes with their conditions, Events, ControllerRevisions, PriorityClasses and
//! PodDisruptionBudgets. Kinds are told apart per object; other kinds are counted and
//! skipped. Only the fields the diagnosis reads are kept.
//!
//! A bundle is mostly pods (150,000 in 614 MiB): a JSON bundle is split into objects on
//! one thread ([`crate::objects`]), decoded in batches on every core, each Pod in one pass
//! straight into its few fields, and added in the order read ([`Snapshot::load`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::inventory::pods::{
    Interner, SlimBudget, SlimOwnerReference, SlimPod, SlimPodMeta, SlimPodSpec, SlimPodStatus,
    parse_time,
};
use crate::inventory::{NodeUpdate, PodRecord, PriorityClass};
use crate::serde_util::null_as_default;

/// A container's status as kubelet writes it, as much of it as the diagnosis reads.
/// Names, images and reasons are shared through the snapshot's interner: a bundle's
/// 100,000 daemon pods repeat a few hundred of each.
#[derive(Clone, Debug, Default)]
pub struct ContainerStatus {
    pub name: Arc<str>,
    pub restart_count: i64,
    pub image: Arc<str>,
    pub state: ContainerState,
    pub last_state: ContainerState,
}

/// A container's state: waiting and terminated are rare, so boxed.
#[derive(Clone, Debug, Default)]
pub struct ContainerState {
    pub waiting: Option<Box<StateDetail>>,
    pub running: bool,
    pub terminated: Option<Box<StateDetail>>,
}

#[derive(Clone, Debug, Default)]
pub struct StateDetail {
    pub reason: Arc<str>,
    pub message: Box<str>,
    pub exit_code: Option<i64>,
}

/// A pod's or a node's condition.
#[derive(Clone, Debug, Default)]
pub struct Condition {
    pub kind: Arc<str>,
    pub status: Arc<str>,
    pub reason: Arc<str>,
    pub message: Box<str>,
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
    Counted(Arc<str>, PodRecord),
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
    pub conditions: Box<[Condition]>,
    pub containers: Box<[ContainerStatus]>,
    pub init_containers: Box<[ContainerStatus]>,
    /// Container name → memory limit as written.
    pub memory_limits: BTreeMap<String, String>,
    pub deletion: Option<i64>,
    pub grace_seconds: Option<i64>,
    pub created: Option<i64>,
}

impl DoctorPod {
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| &*c.kind == kind)
    }

    pub fn ready(&self) -> bool {
        self.condition("Ready")
            .is_some_and(|c| &*c.status == "True")
    }

    pub fn revision_hash(&self) -> Option<&str> {
        self.revision_hash.as_deref()
    }

    /// The DaemonSet template generation the pod was made from.
    pub fn template_generation(&self) -> Option<&str> {
        self.template_generation.as_deref()
    }
}

/// A pod as written, decoded in one pass from its JSON text or from a tree: strings borrowed
/// where they can be, and the parts the diagnosis keeps made compact afterwards
/// ([`DoctorPod::from_document`]). An object whose `kind` says it is not a Pod stops the
/// decoding there (kubectl writes `kind` first), and is decoded by its kind instead.
struct PodDocument<'a> {
    metadata: PodMeta<'a>,
    spec: SlimPodSpec,
    status: PodStatusDoc<'a>,
}

/// The error that stops decoding an object that is not a Pod.
const NOT_A_POD: &str = "not a Pod";

impl<'de: 'a, 'a> Deserialize<'de> for PodDocument<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "lowercase")]
        enum Field {
            Kind,
            Metadata,
            Spec,
            Status,
            #[serde(other)]
            Other,
        }
        struct Document<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Document<'a> {
            type Value = PodDocument<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Pod")
            }

            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<PodDocument<'a>, M::Error> {
                use serde::de::Error;
                let (mut metadata, mut spec, mut status) = Default::default();
                let mut pod = false;
                while let Some(field) = map.next_key::<Field>()? {
                    match field {
                        Field::Kind => {
                            pod =
                                map.next_value::<Option<Cow<'_, str>>>()?.as_deref() == Some("Pod");
                            if !pod {
                                return Err(M::Error::custom(NOT_A_POD));
                            }
                        }
                        Field::Metadata => {
                            metadata = map.next_value::<Option<PodMeta>>()?.unwrap_or_default()
                        }
                        Field::Spec => {
                            spec = map.next_value::<Option<SlimPodSpec>>()?.unwrap_or_default()
                        }
                        Field::Status => {
                            status = map
                                .next_value::<Option<PodStatusDoc>>()?
                                .unwrap_or_default()
                        }
                        Field::Other => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                if !pod {
                    return Err(M::Error::custom(NOT_A_POD));
                }
                Ok(PodDocument {
                    metadata,
                    spec,
                    status,
                })
            }
        }
        deserializer.deserialize_map(Document(std::marker::PhantomData))
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PodMeta<'a> {
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    namespace: String,
    #[serde(deserialize_with = "null_as_default")]
    labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    owner_references: Vec<RawOwner>,
    #[serde(borrow)]
    creation_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    deletion_timestamp: Option<Cow<'a, str>>,
    deletion_grace_period_seconds: Option<i64>,
}

/// A ControllerRevision's metadata: its name, owner, hash label and change-cause.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawMeta {
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    namespace: String,
    #[serde(deserialize_with = "null_as_default")]
    labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    annotations: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    owner_references: Vec<RawOwner>,
    creation_timestamp: Option<String>,
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

/// A pod's status as written. Every pod's is read (its times say when the snapshot was
/// taken); only a DaemonSet pod's is kept.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PodStatusDoc<'a> {
    #[serde(borrow)]
    phase: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    start_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    conditions: Option<Vec<ConditionDoc<'a>>>,
    #[serde(borrow)]
    container_statuses: Option<Vec<ContainerStatusDoc<'a>>>,
    #[serde(borrow)]
    init_container_statuses: Option<Vec<ContainerStatusDoc<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ConditionDoc<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    last_transition_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    last_heartbeat_time: Option<Cow<'a, str>>,
}

impl ConditionDoc<'_> {
    fn condition(&self, interner: &mut Interner) -> Condition {
        Condition {
            kind: interned(&self.kind, interner),
            status: interned(&self.status, interner),
            reason: interned(&self.reason, interner),
            message: boxed(&self.message),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ContainerStatusDoc<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    restart_count: Option<i64>,
    #[serde(borrow)]
    image: Option<Cow<'a, str>>,
    #[serde(borrow)]
    state: Option<ContainerStateDoc<'a>>,
    #[serde(borrow)]
    last_state: Option<ContainerStateDoc<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ContainerStateDoc<'a> {
    #[serde(borrow)]
    waiting: Option<StateDetailDoc<'a>>,
    /// Only whether it is there: nothing in it is read.
    running: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    terminated: Option<StateDetailDoc<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct StateDetailDoc<'a> {
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    exit_code: Option<i64>,
}

impl ContainerStatusDoc<'_> {
    fn status(&self, interner: &mut Interner) -> ContainerStatus {
        let state = |doc: &Option<ContainerStateDoc<'_>>, interner: &mut Interner| {
            let Some(doc) = doc else {
                return ContainerState::default();
            };
            let mut detail = |d: &Option<StateDetailDoc<'_>>| {
                d.as_ref().map(|d| {
                    Box::new(StateDetail {
                        reason: interned(&d.reason, interner),
                        message: boxed(&d.message),
                        exit_code: d.exit_code,
                    })
                })
            };
            ContainerState {
                waiting: detail(&doc.waiting),
                running: doc.running.is_some(),
                terminated: detail(&doc.terminated),
            }
        };
        ContainerStatus {
            name: interned(&self.name, interner),
            restart_count: self.restart_count.unwrap_or(0),
            image: interned(&self.image, interner),
            state: state(&self.state, interner),
            last_state: state(&self.last_state, interner),
        }
    }
}

/// The newest of some RFC 3339 times. Those written as the API server writes them
/// (`2026-12-01T00:00:05Z`: UTC, whole seconds) order as their text does, so only the
/// newest of them is parsed; a pod carries seven or so, and a bundle 150,000 pods.
fn newest_of<'t>(times: impl Iterator<Item = &'t str> + Clone) -> Option<i64> {
    fn canonical(time: &str) -> bool {
        time.len() == 20
            && time.bytes().enumerate().all(|(at, b)| match at {
                4 | 7 => b == b'-',
                10 => b == b'T',
                13 | 16 => b == b':',
                19 => b == b'Z',
                _ => b.is_ascii_digit(),
            })
    }
    let newest_text = times.clone().filter(|t| canonical(t)).max();
    match newest_text.map(parse_time) {
        Some(Some(newest)) => times
            .filter(|t| !canonical(t))
            .filter_map(parse_time)
            .chain([newest])
            .max(),
        // None written that way, or the newest of them is no time (month 13): each parsed.
        _ => times.filter_map(parse_time).max(),
    }
}

fn interned(text: &Option<Cow<'_, str>>, interner: &mut Interner) -> Arc<str> {
    interner.string(text.as_deref().unwrap_or(""))
}

fn boxed(text: &Option<Cow<'_, str>>) -> Box<str> {
    text.as_deref().unwrap_or("").into()
}

fn owned(text: Option<Cow<'_, str>>) -> String {
    text.map(Cow::into_owned).unwrap_or_default()
}

impl DoctorPod {
    /// From a pod's tree (a YAML bundle, the API server's list); also the newest time it
    /// carries.
    pub fn from_value(
        value: &Value,
        interner: &mut Interner,
    ) -> Result<(DoctorPod, Option<i64>), String> {
        let document = PodDocument::deserialize(value).map_err(|e| e.to_string())?;
        Ok(Self::from_document(document, interner))
    }

    /// From a pod's document, decoded in one pass; also the newest time it carries.
    fn from_document(
        document: PodDocument<'_>,
        interner: &mut Interner,
    ) -> (DoctorPod, Option<i64>) {
        let PodDocument {
            metadata,
            spec,
            status,
        } = document;
        let conditions = status.conditions.unwrap_or_default();
        // The times `newest_time` reads from any other object.
        let newest = [
            metadata.creation_timestamp.as_deref(),
            status.start_time.as_deref(),
        ]
        .into_iter()
        .chain(conditions.iter().flat_map(|c| {
            [
                c.last_transition_time.as_deref(),
                c.last_heartbeat_time.as_deref(),
            ]
        }))
        .flatten();
        let newest = newest_of(newest);
        let daemon_pod = metadata
            .owner_references
            .iter()
            .any(|o| o.controller == Some(true) && o.kind == "DaemonSet");
        let owner = metadata
            .owner_references
            .iter()
            .find(|o| o.controller == Some(true));
        let bound = spec.node_name.as_deref().is_some_and(|n| !n.is_empty());
        let node = spec
            .node_name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| spec.affinity.pinned_node().map(str::to_owned));
        // Read only to say which limit an OOMKilled container of a DaemonSet hit.
        let memory_limits = spec
            .containers
            .iter()
            .filter(|_| daemon_pod)
            .filter_map(|c| Some((c.name.clone(), c.resources.limits.get("memory")?.0.clone())))
            .collect();
        // Only a DaemonSet's pods are diagnosed; the others count on their node (their
        // occupancy record), so their status is not kept: most pods of a cluster are not
        // daemon pods.
        let (conditions, containers, init_containers) = if daemon_pod {
            let statuses = |docs: Option<Vec<ContainerStatusDoc<'_>>>, interner: &mut Interner| {
                docs.unwrap_or_default()
                    .iter()
                    .map(|d| d.status(interner))
                    .collect()
            };
            (
                conditions.iter().map(|c| c.condition(interner)).collect(),
                statuses(status.container_statuses, interner),
                statuses(status.init_container_statuses, interner),
            )
        } else {
            Default::default()
        };
        let slim = SlimPod {
            metadata: SlimPodMeta {
                name: metadata.name.clone(),
                namespace: metadata.namespace.clone(),
                labels: metadata.labels,
                owner_references: metadata
                    .owner_references
                    .iter()
                    .map(|o| SlimOwnerReference {
                        kind: o.kind.clone(),
                        name: o.name.clone(),
                        controller: o.controller,
                    })
                    .collect(),
                ..SlimPodMeta::default()
            },
            status: SlimPodStatus {
                phase: status.phase.as_deref().map(str::to_owned),
                start_time: status.start_time.as_deref().map(str::to_owned),
            },
            spec,
        };
        let pod = DoctorPod {
            namespace: if metadata.namespace.is_empty() {
                "default".into()
            } else {
                metadata.namespace
            },
            name: metadata.name,
            owner_uid: owner.map(|o| o.uid.clone()).unwrap_or_default(),
            owner_kind: owner.map(|o| o.kind.clone()).unwrap_or_default(),
            owner_name: owner.map(|o| o.name.clone()).unwrap_or_default(),
            node,
            bound,
            phase: if daemon_pod {
                owned(status.phase)
            } else {
                String::new()
            },
            reason: if daemon_pod {
                owned(status.reason)
            } else {
                String::new()
            },
            message: if daemon_pod {
                owned(status.message)
            } else {
                String::new()
            },
            conditions,
            containers,
            init_containers,
            memory_limits,
            deletion: metadata.deletion_timestamp.as_deref().and_then(parse_time),
            grace_seconds: metadata.deletion_grace_period_seconds,
            created: metadata.creation_timestamp.as_deref().and_then(parse_time),
            revision_hash: slim
                .metadata
                .labels
                .get("controller-revision-hash")
                .cloned(),
            template_generation: slim.metadata.labels.get(TEMPLATE_GENERATION_LABEL).cloned(),
            usage: PodUsage::of(slim, interner),
        };
        (pod, newest)
    }
}

/// A Node's conditions and whether it is cordoned.
#[derive(Clone, Debug, Default)]
pub struct NodeHealth {
    pub name: String,
    pub conditions: Vec<Condition>,
    pub unschedulable: bool,
}

impl NodeHealth {
    fn from_value(value: &Value, interner: &mut Interner) -> NodeHealth {
        let conditions = value
            .pointer("/status/conditions")
            .and_then(|c| Vec::<ConditionDoc>::deserialize(c).ok())
            .unwrap_or_default();
        NodeHealth {
            name: value["metadata"]["name"].as_str().unwrap_or("").to_owned(),
            conditions: conditions.iter().map(|c| c.condition(interner)).collect(),
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
            if conditions.iter().any(|c| &*c.kind == kind) {
                continue;
            }
            conditions.push(Condition {
                kind: kind.into(),
                status: status.into(),
                reason: format!("taint {key}").into(),
                message: format!("the node lifecycle controller tainted it {key}").into(),
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
        match self.conditions.iter().find(|c| &*c.kind == "Ready") {
            Some(c) if &*c.status != "True" => Some(c),
            _ => None,
        }
    }

    /// Pressure conditions that are `True`.
    pub fn pressure(&self) -> impl Iterator<Item = &Condition> {
        self.conditions.iter().filter(|c| {
            matches!(
                &*c.kind,
                "MemoryPressure" | "DiskPressure" | "PIDPressure" | "NetworkUnavailable"
            ) && &*c.status == "True"
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
    /// The pods' occupancy as counted while the snapshot was read, when no pod's priority
    /// waited for its PriorityClass: what [`crate::doctor::inventory_of`] would make of
    /// `pods`, made beside the decoding instead of after it. Used only when every node it
    /// names is in the inventory (the pods of an unknown node do not count).
    pub counted: Option<crate::inventory::Occupancy>,
    pub notices: Vec<String>,
    /// What the pods' records share (namespaces, label sets, requests).
    pub interner: Interner,
}

/// Timestamps an object carries that say when the snapshot was taken, at the latest.
fn newest_time(value: &Value) -> Option<i64> {
    fn text(v: Option<&Value>) -> Option<&str> {
        v.and_then(Value::as_str)
    }
    let conditions = value
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    newest_of(
        [
            text(value.pointer("/metadata/creationTimestamp")),
            text(value.get("lastTimestamp")),
            text(value.get("eventTime")),
            text(value.pointer("/status/startTime")),
        ]
        .into_iter()
        .chain(conditions.iter().flat_map(|c| {
            [
                text(c.get("lastTransitionTime")),
                text(c.get("lastHeartbeatTime")),
            ]
        }))
        .flatten(),
    )
}

/// One object decoded, not yet added to a snapshot: decoding is the work, done on several
/// threads; adding keeps the order the objects were read in.
// Pods are nearly every object of a bundle: boxing the largest variant would cost an
// allocation for most objects to save room only for the few others, held a batch at a time.
#[allow(clippy::large_enum_variant)]
enum Decoded {
    DaemonSet(DaemonSetObject),
    Pod(Result<DoctorPod, String>),
    Node(Result<(NodeUpdate, NodeHealth), String>),
    Event(ObjectEvent),
    Revision(Option<Revision>),
    PriorityClass(Option<PriorityClass>),
    Budget(Option<crate::scheduling::preemption::Budget>),
    /// A kind doctor does not read.
    Other(String),
}

/// An object decoded, with the newest time it carries.
struct DecodedObject {
    decoded: Decoded,
    newest: Option<i64>,
}

impl DecodedObject {
    /// From an object's tree, by its kind.
    fn of_value(value: Value, interner: &mut Interner) -> DecodedObject {
        // A pod's decoding finds its newest time on the way.
        let mut newest_of_pod = None;
        let decoded = match value["kind"].as_str().unwrap_or("") {
            "DaemonSet" => Decoded::DaemonSet(DaemonSetObject::from_value(&value)),
            "Pod" => Decoded::Pod(
                DoctorPod::from_value(&value, interner).map(|(pod, newest)| {
                    newest_of_pod = Some(newest);
                    pod
                }),
            ),
            "Node" => Decoded::Node(
                crate::inventory::snapshot::node_from_value(&value)
                    .map(|node| (node, NodeHealth::from_value(&value, interner))),
            ),
            "Event" => Decoded::Event(ObjectEvent::from_value(&value)),
            "ControllerRevision" => Decoded::Revision(Revision::from_value(&value)),
            "PriorityClass" => Decoded::PriorityClass(
                crate::inventory::snapshot::priority_class_from_value(&value).ok(),
            ),
            "PodDisruptionBudget" => {
                Decoded::Budget(SlimBudget::deserialize(&value).ok().map(|b| b.budget()))
            }
            other => Decoded::Other(other.to_owned()),
        };
        let newest = newest_of_pod.unwrap_or_else(|| newest_time(&value));
        DecodedObject { decoded, newest }
    }

    /// From an object's JSON text: a Pod straight from the text, any other kind through
    /// its tree. Text that is not JSON is an error (the file is not what it claims to be);
    /// an object of the wrong shape is decoded as a notice.
    fn of_text(text: &str, interner: &mut Interner) -> Result<DecodedObject, serde_json::Error> {
        if let Ok(document) = serde_json::from_str::<PodDocument>(text) {
            let (pod, newest) = DoctorPod::from_document(document, interner);
            return Ok(DecodedObject {
                decoded: Decoded::Pod(Ok(pod)),
                newest,
            });
        }
        // Not a Pod, or a Pod of the wrong shape: its tree says which.
        Ok(Self::of_value(serde_json::from_str(text)?, interner))
    }
}

impl Snapshot {
    /// Adds one object, by its kind.
    pub fn add(&mut self, value: Value, at: impl std::fmt::Display) {
        let decoded = DecodedObject::of_value(value, &mut self.interner);
        self.add_decoded(decoded, at);
    }

    fn add_decoded(&mut self, object: DecodedObject, at: impl std::fmt::Display) {
        if let Some(t) = object.newest {
            self.newest = self.newest.max(t);
        }
        match object.decoded {
            Decoded::DaemonSet(daemonset) => self.daemonsets.push(daemonset),
            Decoded::Pod(pod) => {
                self.has_pods = true;
                match pod {
                    Ok(pod) => self.pods.push(pod),
                    Err(e) => self
                        .notices
                        .push(format!("{at}: a Pod that cannot be read, skipped: {e}")),
                }
            }
            Decoded::Node(node) => {
                self.has_nodes = true;
                match node {
                    Ok((node, health)) => {
                        self.nodes.push(node);
                        self.node_health.push(health);
                    }
                    Err(e) => self
                        .notices
                        .push(format!("{at}: a Node that cannot be read, skipped: {e}")),
                }
            }
            Decoded::Event(event) => {
                self.has_events = true;
                self.events.push(event);
            }
            Decoded::Revision(revision) => {
                self.has_revisions = true;
                self.revisions.extend(revision);
            }
            Decoded::PriorityClass(class) => {
                self.has_priority_classes = true;
                self.priority_classes.extend(class);
            }
            Decoded::Budget(budget) => {
                self.has_budgets = true;
                self.budgets.extend(budget);
            }
            // Kinds doctor does not read (ConfigMaps, custom resources, a stray List
            // header): counted, and named in one notice.
            Decoded::Other(other) => {
                let kind = if other.is_empty() {
                    "(no kind)"
                } else {
                    other.as_str()
                };
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
        use crate::objects::Found;
        use std::sync::{Mutex, mpsc};
        // This thread reads the files and finds where each object ends; decoders (one per
        // core, at most four) decode batches of objects, whichever is free taking the next;
        // one more thread adds the decoded objects to the snapshot in the order they were
        // read, so the snapshot is the same whatever the threads' timing. A few batches in
        // flight at most, each about a megabyte of text.
        const BATCH_OBJECTS: usize = 256;
        const BATCH_BYTES: usize = 1 << 20;
        let decoders = super::worker_threads();
        let (batches, to_decode) = mpsc::sync_channel::<(usize, Batch)>(decoders * 2);
        let to_decode = Arc::new(Mutex::new(to_decode));
        let (decoded, to_add) = mpsc::sync_channel::<(usize, DecodedBatch)>(decoders * 2);
        std::thread::scope(|scope| {
            let decoding: Vec<_> = (0..decoders)
                .map(|_| {
                    let to_decode = Arc::clone(&to_decode);
                    let decoded = decoded.clone();
                    scope.spawn(move || {
                        let mut interner = Interner::default();
                        loop {
                            // The lock is held only to take a batch, never while decoding.
                            let next = to_decode.lock().map(|queue| queue.recv());
                            let Ok(Ok((index, batch))) = next else {
                                break;
                            };
                            let done = DecodedBatch::of(batch, &mut interner);
                            // Only an adder that stopped refuses, and then decoding stops.
                            if decoded.send((index, done)).is_err() {
                                break;
                            }
                        }
                        interner
                    })
                })
                .collect();
            drop(decoded);
            let adding = scope.spawn(move || {
                let mut snapshot = Snapshot::default();
                let mut counted = Some(crate::inventory::occupancy::OccupancyBuilder::default());
                let mut waiting: BTreeMap<usize, DecodedBatch> = BTreeMap::new();
                let mut next = 0;
                for (index, batch) in to_add {
                    waiting.insert(index, batch);
                    while let Some(batch) = waiting.remove(&next) {
                        next += 1;
                        for (object, file, at) in batch.objects {
                            if let Decoded::Pod(Ok(pod)) = &object.decoded {
                                match &pod.usage {
                                    PodUsage::Counted(node, record) => {
                                        if let Some(counted) = &mut counted {
                                            counted.add(node.clone(), record.clone());
                                        }
                                    }
                                    PodUsage::Deferred(_) => counted = None,
                                    PodUsage::NotCounted => {}
                                }
                            }
                            let place = Place {
                                file: &file,
                                line: at.line,
                            };
                            snapshot.add_decoded(object, place);
                        }
                        if let Some(invalid) = batch.invalid {
                            // Dropping `to_add` stops the decoders, and they the reader.
                            return (snapshot, Some(invalid));
                        }
                    }
                }
                snapshot.counted = counted.map(|c| c.finish());
                (snapshot, None)
            });
            let mut notices = Vec::new();
            let mut batch = Batch::default();
            let mut sent = 0;
            let mut file_name: Arc<str> = "".into();
            let read = crate::objects::for_each_found(
                path,
                max_file_bytes,
                &mut notices,
                |found, file, at| {
                    if *file_name != *file {
                        file_name = file.into();
                    }
                    let object = match found {
                        Found::Text(text) => {
                            let start = batch.text.len();
                            batch.text.push_str(text);
                            Batched::Text(start..batch.text.len())
                        }
                        Found::Tree(value) => Batched::Tree(value),
                    };
                    batch.objects.push((object, file_name.clone(), at));
                    if batch.objects.len() < BATCH_OBJECTS && batch.text.len() < BATCH_BYTES {
                        return true;
                    }
                    sent += 1;
                    // Only decoders that are gone refuse, and then reading stops.
                    batches.send((sent - 1, std::mem::take(&mut batch))).is_ok()
                },
            );
            if !batch.objects.is_empty() {
                let _ = batches.send((sent, batch));
            }
            drop(batches);
            let interners: Vec<Interner> = decoding
                .into_iter()
                .map(|decoder| {
                    decoder
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect();
            let (mut snapshot, invalid) = adding
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            if let Some(invalid) = invalid {
                return Err(invalid);
            }
            read?;
            // Records made later (pods whose priority waited for its class) share the
            // first decoder's copies.
            snapshot.interner = interners.into_iter().next().unwrap_or_default();
            snapshot.notices.extend(notices);
            snapshot.notices.extend(snapshot.skipped_notice());
            Ok(snapshot)
        })
    }
}

/// A batch decoded, in its order; decoding stopped at the first object that is not JSON.
struct DecodedBatch {
    objects: Vec<(DecodedObject, Arc<str>, crate::yaml::Position)>,
    invalid: Option<crate::objects::ObjectsError>,
}

impl DecodedBatch {
    fn of(batch: Batch, interner: &mut Interner) -> DecodedBatch {
        let mut objects = Vec::with_capacity(batch.objects.len());
        for (object, file, at) in batch.objects {
            let decoded = match object {
                Batched::Text(range) => {
                    match DecodedObject::of_text(&batch.text[range], interner) {
                        Ok(decoded) => decoded,
                        Err(e) => {
                            return DecodedBatch {
                                objects,
                                invalid: Some(crate::objects::invalid_text(e, &file, at)),
                            };
                        }
                    }
                }
                Batched::Tree(value) => DecodedObject::of_value(value, interner),
            };
            objects.push((decoded, file, at));
        }
        DecodedBatch {
            objects,
            invalid: None,
        }
    }
}

/// Objects read in one go, for the decoding thread: their JSON texts in one buffer (no
/// allocation per object), or the trees the YAML reader made; each with its file and where
/// it starts.
#[derive(Default)]
struct Batch {
    text: String,
    objects: Vec<(Batched, Arc<str>, crate::yaml::Position)>,
}

enum Batched {
    Text(std::ops::Range<usize>),
    Tree(Value),
}

/// `file:line`, as a notice names an object.
struct Place<'a> {
    file: &'a str,
    line: usize,
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::newest_of;

    #[test]
    fn the_newest_time_is_the_newest_whatever_its_form() {
        let newest = |times: &[&str]| newest_of(times.iter().copied());
        assert_eq!(newest(&[]), None);
        assert_eq!(
            newest(&[
                "2026-12-01T00:00:05Z",
                "2026-12-01T00:00:07Z",
                "2026-11-30T23:59:59Z"
            ]),
            newest(&["2026-12-01T00:00:07Z"])
        );
        // An offset or fractional seconds do not order as text: parsed.
        assert_eq!(
            newest(&["2026-12-01T00:00:07Z", "2026-12-01T01:00:00+02:00"]),
            newest(&["2026-12-01T00:00:07Z"])
        );
        assert_eq!(
            newest(&["2026-12-01T00:00:07Z", "2026-12-01T00:00:09.5Z"]),
            newest(&["2026-12-01T00:00:09Z"])
        );
        // Shaped like one and no time: the others still count.
        assert_eq!(
            newest(&["2026-12-01T00:00:07Z", "2026-13-01T00:00:00Z", "junk"]),
            newest(&["2026-12-01T00:00:07Z"])
        );
        assert!(newest(&["2026-12-01T00:00:07Z"]).is_some());
    }
}
