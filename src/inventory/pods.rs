//! Pods and PodDisruptionBudgets as occupancy reads them: the few fields the scheduler's
//! filters and preemption look at, decoded from `kubectl get pods -A -o yaml|json`, a
//! `List`, pod documents, or the API server's watch, and nothing else (no managedFields,
//! no status beyond phase and start time).
//!
//! A pod counts when it is bound (`spec.nodeName`) and has not finished (`Succeeded`,
//! `Failed`); terminating pods still count, as the scheduler counts them. Its priority is
//! `spec.priority` when set (admission always sets it on a stored pod), else what
//! admission would have resolved: the named PriorityClass's value, the `globalDefault`
//! class's, or 0. Its request is the scheduler's effective request (init containers,
//! sidecars and overhead included, see [`crate::scheduling::resources`]).
//!
//! Replicas of one workload share their requests, labels and namespace, so records are
//! built through an [`Interner`]: 150,000 pods of a few hundred workloads hold a few
//! hundred copies of each, not 150,000.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::occupancy::{Occupancy, Owner, PodRecord};
use crate::scheduling::ports::HostPort;
use crate::scheduling::preemption::{Budget, NodePod};
use crate::scheduling::resources::{
    InitContainer, ResourceList, ResourceRequirements, amounts, container_requests, pod_requests,
};
use crate::scheduling::selector::LabelSelector;
use crate::serde_util::null_as_default;

/// A Pod as occupancy decodes it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct SlimPod {
    #[serde(deserialize_with = "null_as_default")]
    pub metadata: SlimPodMeta,
    #[serde(deserialize_with = "null_as_default")]
    pub spec: SlimPodSpec,
    #[serde(deserialize_with = "null_as_default")]
    pub status: SlimPodStatus,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlimPodMeta {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub namespace: String,
    #[serde(deserialize_with = "null_as_default")]
    pub uid: String,
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    pub owner_references: Vec<SlimOwnerReference>,
    pub deletion_timestamp: Option<String>,
    pub resource_version: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct SlimOwnerReference {
    #[serde(deserialize_with = "null_as_default")]
    pub kind: String,
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    pub controller: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlimPodSpec {
    pub node_name: Option<String>,
    pub priority: Option<i32>,
    pub priority_class_name: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub containers: Vec<SlimContainer>,
    #[serde(deserialize_with = "null_as_default")]
    pub init_containers: Vec<SlimContainer>,
    #[serde(deserialize_with = "null_as_default")]
    pub overhead: BTreeMap<String, crate::scheduling::resources::QuantityText>,
    pub host_network: Option<bool>,
    /// Only `doctor` reads it (the node an unbound daemon pod waits for).
    #[serde(deserialize_with = "null_as_default")]
    pub affinity: PinningAffinity,
}

/// Of a pod's affinity, only the `matchFields` of its required node affinity: the
/// DaemonSet controller pins each pod it creates to its node there
/// (`util.ReplaceDaemonSetPodNodeNameNodeAffinity`, pkg/controller/daemon/util).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PinningAffinity {
    #[serde(deserialize_with = "null_as_default")]
    node_affinity: PinningNodeAffinity,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
struct PinningNodeAffinity {
    #[serde(
        rename = "requiredDuringSchedulingIgnoredDuringExecution",
        deserialize_with = "null_as_default"
    )]
    required: PinningSelector,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PinningSelector {
    #[serde(deserialize_with = "null_as_default")]
    node_selector_terms: Vec<PinningTerm>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PinningTerm {
    #[serde(deserialize_with = "null_as_default")]
    match_fields: Vec<PinningField>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
struct PinningField {
    #[serde(deserialize_with = "null_as_default")]
    key: String,
    #[serde(deserialize_with = "null_as_default")]
    operator: String,
    #[serde(deserialize_with = "null_as_default")]
    values: Vec<String>,
}

impl PinningAffinity {
    /// The node of `matchFields: [{key: metadata.name, operator: In, values: [NODE]}]`.
    pub fn pinned_node(&self) -> Option<&str> {
        self.node_affinity
            .required
            .node_selector_terms
            .iter()
            .flat_map(|term| term.match_fields.iter())
            .find(|field| {
                field.key == crate::scheduling::selector::NODE_NAME_FIELD && field.operator == "In"
            })
            .and_then(|field| field.values.first())
            .map(String::as_str)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlimContainer {
    /// Only `doctor` reads it (which container's memory limit an OOMKill hit).
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub resources: ResourceRequirements,
    #[serde(deserialize_with = "null_as_default")]
    pub ports: Vec<SlimPort>,
    pub restart_policy: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlimPort {
    pub container_port: Option<i64>,
    pub host_port: Option<i64>,
    pub protocol: Option<String>,
    #[serde(rename = "hostIP")]
    pub host_ip: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlimPodStatus {
    pub phase: Option<String>,
    pub start_time: Option<String>,
}

/// Seconds since the epoch of an RFC 3339 time as the API server writes it.
pub fn parse_time(text: &str) -> Option<i64> {
    text.trim()
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

/// A pod's labels, sorted by key.
type Labels = Arc<[(Arc<str>, Arc<str>)]>;

/// The interner's sets: foldhash, seeded per process, hashes a short string several times
/// faster than the standard library's SipHash, and every pod read goes through them.
type Set<T> = HashSet<T, foldhash::fast::RandomState>;

/// Shared copies of what many pods have in common.
#[derive(Debug, Default)]
pub struct Interner {
    strings: Set<Arc<str>>,
    requests: Set<Arc<ResourceList>>,
    labels: Set<Labels>,
    ports: Set<Arc<[HostPort]>>,
    /// Entries when they were last pruned: a watch that runs for months must not keep
    /// every label set it ever saw.
    pruned_at: usize,
}

fn intern<T: Eq + Hash + ?Sized>(set: &mut Set<Arc<T>>, value: Arc<T>) -> Arc<T> {
    if let Some(existing) = set.get(&value) {
        return Arc::clone(existing);
    }
    set.insert(Arc::clone(&value));
    value
}

impl Interner {
    pub fn string(&mut self, text: &str) -> Arc<str> {
        if let Some(existing) = self.strings.get(text) {
            return Arc::clone(existing);
        }
        let value: Arc<str> = Arc::from(text);
        self.strings.insert(Arc::clone(&value));
        value
    }

    fn size(&self) -> usize {
        self.strings.len() + self.requests.len() + self.labels.len() + self.ports.len()
    }

    /// Drops what no record uses any more, once the interner has doubled since the last
    /// time (so the cost is amortised over the events that grew it).
    pub fn prune_if_grown(&mut self) {
        if self.size() < 1024 || self.size() < self.pruned_at.saturating_mul(2) {
            return;
        }
        self.strings.retain(|s| Arc::strong_count(s) > 1);
        self.requests.retain(|s| Arc::strong_count(s) > 1);
        self.labels.retain(|s| Arc::strong_count(s) > 1);
        self.ports.retain(|s| Arc::strong_count(s) > 1);
        self.pruned_at = self.size();
    }
}

/// Why a pod is not counted on any node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotCounted {
    /// No `spec.nodeName`: the scheduler has not placed it.
    Unbound,
    /// `Succeeded` or `Failed`: it holds nothing.
    Finished,
    /// A quantity the API server would not have stored.
    Unreadable(String),
    /// No `spec.priority`, and a PriorityClass nobody has: admission would have refused it.
    UnknownClass(String),
}

/// How a pod's priority is resolved when `spec.priority` is not set: by PriorityClass
/// name (`None`: no class named), as admission resolves it; `None` for a class that does
/// not exist.
pub type PriorityOf<'a> = &'a dyn Fn(Option<&str>) -> Option<i32>;

impl SlimPod {
    /// The node the pod is bound to and its record, or why it does not count.
    pub fn record(
        &self,
        priority_of: PriorityOf<'_>,
        interner: &mut Interner,
    ) -> Result<(Arc<str>, PodRecord), NotCounted> {
        let node = match self.spec.node_name.as_deref() {
            Some(node) if !node.is_empty() => node,
            _ => return Err(NotCounted::Unbound),
        };
        if matches!(
            self.status.phase.as_deref(),
            Some("Succeeded") | Some("Failed")
        ) {
            return Err(NotCounted::Finished);
        }
        let unreadable =
            |e: crate::scheduling::quantity::QuantityError| NotCounted::Unreadable(e.0);
        let none = ResourceList::new();
        let containers = self
            .spec
            .containers
            .iter()
            .map(|c| container_requests(&c.resources, &none))
            .collect::<Result<Vec<_>, _>>()
            .map_err(unreadable)?;
        let init_containers = self
            .spec
            .init_containers
            .iter()
            .map(|c| {
                Ok(InitContainer {
                    requests: container_requests(&c.resources, &none)?,
                    sidecar: c.restart_policy.as_deref() == Some("Always"),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(unreadable)?;
        let overhead = amounts(&self.spec.overhead).map_err(unreadable)?;
        let requests = pod_requests(&containers, &init_containers, &overhead);
        if let Some((name, value)) = requests.iter().find(|(_, v)| **v < 0) {
            return Err(NotCounted::Unreadable(format!(
                "{name}: negative request {value}"
            )));
        }
        // Beyond int64 in the scheduler's unit, its arithmetic wraps: no count is right.
        if let Some((name, _)) = requests.iter().find(|(_, v)| **v > i128::from(i64::MAX)) {
            return Err(NotCounted::Unreadable(format!(
                "{name}: a request beyond what the scheduler can count (int64)"
            )));
        }
        let host_network = self.spec.host_network.unwrap_or(false);
        let mut ports: Vec<HostPort> = self
            .spec
            .containers
            .iter()
            .chain(self.spec.init_containers.iter())
            .flat_map(|c| c.ports.iter())
            .filter_map(|p| {
                HostPort::of(
                    p.container_port,
                    p.host_port,
                    p.protocol.as_deref(),
                    p.host_ip.as_deref(),
                    host_network,
                )
            })
            .collect();
        ports.sort();
        ports.dedup();
        let labels: Vec<(Arc<str>, Arc<str>)> = self
            .metadata
            .labels
            .iter()
            .map(|(k, v)| (interner.string(k), interner.string(v)))
            .collect();
        let owner = self
            .metadata
            .owner_references
            .iter()
            .find(|o| o.controller == Some(true))
            .map(|o| Owner {
                kind: interner.string(&o.kind),
                name: interner.string(&o.name),
            });
        let class = self.spec.priority_class_name.as_deref();
        let priority = match self.spec.priority {
            Some(priority) => priority,
            None => priority_of(class)
                .ok_or_else(|| NotCounted::UnknownClass(class.unwrap_or_default().to_owned()))?,
        };
        let namespace = if self.metadata.namespace.is_empty() {
            "default"
        } else {
            self.metadata.namespace.as_str()
        };
        let pod = NodePod {
            namespace: interner.string(namespace),
            name: Arc::from(self.metadata.name.as_str()),
            priority,
            start_time: self.status.start_time.as_deref().and_then(parse_time),
            requests: intern(&mut interner.requests, Arc::new(requests)),
            host_ports: intern(&mut interner.ports, Arc::from(ports)),
            labels: intern(&mut interner.labels, Arc::from(labels)),
        };
        Ok((
            interner.string(node),
            PodRecord {
                pod,
                owner,
                terminating: self.metadata.deletion_timestamp.is_some(),
            },
        ))
    }
}

/// A PodDisruptionBudget as preemption reads it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct SlimBudget {
    #[serde(deserialize_with = "null_as_default")]
    pub metadata: SlimPodMeta,
    #[serde(deserialize_with = "null_as_default")]
    pub spec: SlimBudgetSpec,
    #[serde(deserialize_with = "null_as_default")]
    pub status: SlimBudgetStatus,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct SlimBudgetSpec {
    pub selector: Option<LabelSelector>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlimBudgetStatus {
    pub disruptions_allowed: i32,
    #[serde(deserialize_with = "null_as_default")]
    pub disrupted_pods: BTreeMap<String, serde_json::Value>,
}

impl SlimBudget {
    pub fn budget(self) -> Budget {
        Budget {
            namespace: if self.metadata.namespace.is_empty() {
                "default".into()
            } else {
                self.metadata.namespace
            },
            name: self.metadata.name,
            // A budget without a selector matches no pod (the scheduler skips empty ones).
            selector: self.spec.selector.unwrap_or_default(),
            disruptions_allowed: self.status.disruptions_allowed,
            disrupted_pods: self.status.disrupted_pods.into_keys().collect(),
        }
    }
}

/// Notices printed at most this many times each; the rest are counted.
const MAX_NOTICES_OF_A_KIND: usize = 5;

/// What `--pods` read: the occupancy, and what the operator should know about the file.
#[derive(Debug, Default)]
pub struct LoadedPods {
    pub occupancy: Occupancy,
    pub notices: Vec<String>,
}

/// Counts notices of one kind and keeps the first few.
#[derive(Default)]
struct NoticeKind {
    count: usize,
    examples: Vec<String>,
}

impl NoticeKind {
    fn add(&mut self, example: impl FnOnce() -> String) {
        self.count += 1;
        if self.examples.len() < MAX_NOTICES_OF_A_KIND {
            self.examples.push(example());
        }
    }

    fn say(&self, what: &str, notices: &mut Vec<String>) {
        if self.count == 0 {
            return;
        }
        let mut text = format!("{what}: {}", self.examples.join(", "));
        if self.count > self.examples.len() {
            text.push_str(&format!(" and {} more", self.count - self.examples.len()));
        }
        notices.push(text);
    }
}

/// `--pods PATH`: every pod of the files under `path`, counted on its node. `known_node`
/// says whether the node inventory has a node (a pod on a node it does not have is
/// counted nowhere, with a notice); `priority_of` resolves priorities as admission would.
pub fn load_pods(
    path: &Path,
    max_file_bytes: u64,
    known_node: &dyn Fn(&str) -> bool,
    priority_of: PriorityOf<'_>,
) -> Result<LoadedPods, super::snapshot::SnapshotError> {
    let mut notices = Vec::new();
    let mut interner = Interner::default();
    let mut records: Vec<(Arc<str>, PodRecord)> = Vec::new();
    let mut seen_uids: HashSet<String> = HashSet::new();
    let mut seen_names: HashMap<(Arc<str>, Arc<str>), usize> = HashMap::new();
    let (mut pods, mut other_kinds) = (0usize, NoticeKind::default());
    let (mut unknown_nodes, mut duplicates, mut unreadable, mut unknown_classes) = (
        NoticeKind::default(),
        NoticeKind::default(),
        NoticeKind::default(),
        NoticeKind::default(),
    );
    let mut invalid: Option<String> = None;
    crate::objects::for_each_object(path, max_file_bytes, &mut notices, |value, file, at| {
        let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        if kind != "Pod" {
            other_kinds.add(|| {
                format!(
                    "{file}:{}: {}",
                    at.line,
                    if kind.is_empty() { "no kind" } else { kind }
                )
            });
            return true;
        }
        pods += 1;
        let slim: SlimPod = match serde_json::from_value(value) {
            Ok(slim) => slim,
            Err(error) => {
                invalid = Some(format!(
                    "{file}:{}:{}: not a Pod: {error}",
                    at.line, at.column
                ));
                return false;
            }
        };
        // JSON has no line positions: the file alone says where.
        let where_ = || {
            let place = if at.line == 0 {
                file.to_owned()
            } else {
                format!("{file}:{}", at.line)
            };
            format!(
                "{}/{} ({place})",
                slim.metadata.namespace, slim.metadata.name
            )
        };
        if !slim.metadata.uid.is_empty() && !seen_uids.insert(slim.metadata.uid.clone()) {
            duplicates.add(|| format!("uid {} again at {}", slim.metadata.uid, where_()));
            return true;
        }
        match slim.record(priority_of, &mut interner) {
            Ok((node, record)) => {
                if !known_node(&node) {
                    unknown_nodes.add(|| format!("{} on {node}", where_()));
                    return true;
                }
                let key = (record.pod.namespace.clone(), record.pod.name.clone());
                if let Some(&previous) = seen_names.get(&key) {
                    duplicates.add(|| format!("{} listed twice, the last kept", where_()));
                    records[previous] = (node, record);
                } else {
                    seen_names.insert(key, records.len());
                    records.push((node, record));
                }
            }
            Err(NotCounted::Unreadable(why)) => unreadable.add(|| format!("{} ({why})", where_())),
            Err(NotCounted::UnknownClass(class)) => {
                unknown_classes.add(|| format!("{class} ({})", where_()))
            }
            Err(NotCounted::Unbound | NotCounted::Finished) => {}
        }
        true
    })
    .map_err(|e| super::snapshot::SnapshotError::Other(e.to_string()))?;
    if let Some(error) = invalid {
        return Err(super::snapshot::SnapshotError::Other(format!(
            "--pods {error}"
        )));
    }
    if pods == 0 {
        return Err(super::snapshot::SnapshotError::Other(format!(
            "--pods {}: holds no Pod; expected the output of `kubectl get pods -A -o yaml` (or -o json)",
            path.display()
        )));
    }
    other_kinds.say("--pods: not a Pod, skipped", &mut notices);
    unknown_nodes.say(
        "--pods: bound to a node the node inventory does not have, not counted",
        &mut notices,
    );
    duplicates.say("--pods: the same pod twice", &mut notices);
    unreadable.say(
        "--pods: resources the API server would not have stored, not counted",
        &mut notices,
    );
    unknown_classes.say(
        "--pods: no spec.priority and a PriorityClass the cluster does not have (admission would have refused the pod), not counted",
        &mut notices,
    );
    let mut occupancy = Occupancy::default();
    occupancy.reset(records);
    Ok(LoadedPods { occupancy, notices })
}

/// `--pdbs PATH`: every PodDisruptionBudget of the files under `path`.
pub fn load_budgets(
    path: &Path,
    max_file_bytes: u64,
) -> Result<(Vec<Budget>, Vec<String>), super::snapshot::SnapshotError> {
    let mut notices = Vec::new();
    let mut budgets = Vec::new();
    let mut other_kinds = NoticeKind::default();
    let mut invalid = None;
    crate::objects::for_each_object(path, max_file_bytes, &mut notices, |value, file, at| {
        let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        if kind != "PodDisruptionBudget" {
            other_kinds.add(|| {
                format!(
                    "{file}:{}: {}",
                    at.line,
                    if kind.is_empty() { "no kind" } else { kind }
                )
            });
            return true;
        }
        match serde_json::from_value::<SlimBudget>(value) {
            Ok(slim) => budgets.push(slim.budget()),
            Err(error) => {
                invalid = Some(format!(
                    "--pdbs {file}:{}:{}: not a PodDisruptionBudget: {error}",
                    at.line, at.column
                ));
                return false;
            }
        }
        true
    })
    .map_err(|e| super::snapshot::SnapshotError::Other(e.to_string()))?;
    if let Some(error) = invalid {
        return Err(super::snapshot::SnapshotError::Other(error));
    }
    other_kinds.say("--pdbs: not a PodDisruptionBudget, skipped", &mut notices);
    Ok((budgets, notices))
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn slim(value: serde_json::Value) -> SlimPod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_pod_becomes_its_effective_request_ports_owner_and_priority() {
        let pod = slim(json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1",
                         "labels": {"app": "web"},
                         "ownerReferences": [
                            {"kind": "Other", "name": "x"},
                            {"kind": "ReplicaSet", "name": "web-abc", "controller": true}],
                         "managedFields": [{"manager": "kubectl"}]},
            "spec": {"nodeName": "n1", "priorityClassName": "high",
                     "initContainers": [{"resources": {"requests": {"cpu": "2"}}}],
                     "containers": [
                        {"resources": {"requests": {"cpu": "500m"}, "limits": {"memory": "1Gi"}},
                         "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 90}]},
                        {"resources": {"requests": {"cpu": "250m"}}}],
                     "overhead": {"cpu": "100m"}},
            "status": {"phase": "Running", "startTime": "2026-12-01T10:00:00Z"}
        }));
        let mut interner = Interner::default();
        let (node, record) = pod
            .record(
                &|class| Some(if class == Some("high") { 1000 } else { 0 }),
                &mut interner,
            )
            .unwrap();
        assert_eq!(&*node, "n1");
        assert_eq!(record.pod.priority, 1000);
        // max(750m, 2000m init) + 100m overhead.
        assert_eq!(record.pod.requests["cpu"], 2100);
        assert_eq!(record.pod.requests["memory"], 1 << 30);
        assert_eq!(record.pod.host_ports.len(), 1);
        assert_eq!(record.pod.host_ports[0].port, 8080);
        assert_eq!(record.owner.unwrap().name.as_ref(), "web-abc");
        assert_eq!(record.pod.start_time, Some(1_796_119_200));
        assert!(!record.terminating);
    }

    #[test]
    fn spec_priority_wins_and_finished_or_unbound_pods_do_not_count() {
        let mut interner = Interner::default();
        let set =
            slim(json!({"spec": {"nodeName": "n", "priority": 7, "priorityClassName": "high"}}));
        assert_eq!(
            set.record(&|_| Some(1000), &mut interner)
                .unwrap()
                .1
                .pod
                .priority,
            7
        );
        let unbound = slim(json!({"spec": {"nodeName": ""}}));
        assert_eq!(
            unbound.record(&|_| Some(0), &mut interner).unwrap_err(),
            NotCounted::Unbound
        );
        for phase in ["Succeeded", "Failed"] {
            let done = slim(json!({"spec": {"nodeName": "n"}, "status": {"phase": phase}}));
            assert_eq!(
                done.record(&|_| Some(0), &mut interner).unwrap_err(),
                NotCounted::Finished
            );
        }
        let terminating = slim(
            json!({"metadata": {"deletionTimestamp": "2026-12-01T10:00:00Z"},
                                      "spec": {"nodeName": "n"}, "status": {"phase": "Running"}}),
        );
        assert!(
            terminating
                .record(&|_| Some(0), &mut interner)
                .unwrap()
                .1
                .terminating
        );
        let bad = slim(json!({"spec": {"nodeName": "n",
            "containers": [{"resources": {"requests": {"cpu": "lots"}}}]}}));
        assert!(matches!(
            bad.record(&|_| Some(0), &mut interner),
            Err(NotCounted::Unreadable(_))
        ));
        let negative = slim(json!({"spec": {"nodeName": "n",
            "containers": [{"resources": {"requests": {"cpu": "-1"}}}]}}));
        assert!(matches!(
            negative.record(&|_| Some(0), &mut interner),
            Err(NotCounted::Unreadable(_))
        ));
    }

    #[test]
    fn replicas_share_their_requests_and_labels() {
        let mut interner = Interner::default();
        let replica = |name: &str| {
            slim(
                json!({"metadata": {"name": name, "namespace": "a", "labels": {"app": "x"}},
                        "spec": {"nodeName": "n", "containers": [{"resources": {"requests": {"cpu": "1"}}}]}}),
            )
        };
        let (_, one) = replica("one").record(&|_| Some(0), &mut interner).unwrap();
        let (_, two) = replica("two").record(&|_| Some(0), &mut interner).unwrap();
        assert!(Arc::ptr_eq(&one.pod.requests, &two.pod.requests));
        assert!(Arc::ptr_eq(&one.pod.labels, &two.pod.labels));
        assert!(Arc::ptr_eq(&one.pod.namespace, &two.pod.namespace));
    }

    #[test]
    fn a_budget_keeps_its_selector_allowance_and_disrupted_pods() {
        let budget: SlimBudget = serde_json::from_value(json!({
            "metadata": {"name": "db", "namespace": "data"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}},
            "status": {"disruptionsAllowed": 1, "disruptedPods": {"db-0": "2026-12-01T10:00:00Z"},
                       "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3}
        }))
        .unwrap();
        let budget = budget.budget();
        assert_eq!(budget.disruptions_allowed, 1);
        assert_eq!(budget.disrupted_pods, ["db-0"]);
        assert_eq!(budget.selector.match_labels["app"], "db");
        let open: SlimBudget = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
        assert!(open.budget().selector.is_empty());
    }
}
