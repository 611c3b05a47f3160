//! `dsguard doctor`: why a live DaemonSet is unhealthy, why its rollout stopped, and which
//! revision to roll back to. One more adapter: it reads (a support bundle, or the API
//! server page by page) and never writes, and it judges with the same engine as
//! everything else: placement and taints ([`crate::policy::placement`]), fit
//! (DSG005), room beside the running pods and preemption (DSG007), and the rules on each
//! revision's template.
//!
//! Each pod the DaemonSet owns, and each node it should run on, is classified into stable
//! reasons from the fields Kubernetes sets (pod conditions, container states, node
//! conditions, the controller's Events; docs/doctor.md lists them), then grouped by reason,
//! pool and cause: 5,000 nodes with one problem are one group, not 5,000 lines.
//!
//! Health is Kubernetes' own view: every node the controller should run a pod on (targeted
//! and tolerated; resources play no part, `NodeShouldRunDaemonPod`) has a Ready pod of the
//! current revision, and no pod is on a node it should not run on. Coverage gaps the
//! controller does not count (an untolerated taint) are problems with `affectsHealth:
//! false`.

mod html;
pub mod objects;
mod report;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use roaring::RoaringBitmap;
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::inventory::Inventory;
use crate::policy::{self, Context, DaemonSet, Severity};
use objects::{DaemonSetObject, DoctorPod, NodeHealth, Snapshot};

pub use html::to_html;
pub use report::to_text;

/// `doctor -o json`, schema version 1 (docs/doctor.md).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorReport {
    pub schema_version: u32,
    pub daemonsets: Vec<Diagnosis>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    pub namespace: String,
    pub name: String,
    pub healthy: bool,
    pub status: Status,
    pub rollout: Rollout,
    pub problems: Vec<Problem>,
    pub revisions: Vec<RevisionReport>,
    pub rollback: Option<Rollback>,
    /// The inventory's nodes it targets, for the picture.
    #[serde(skip)]
    pub(crate) targeted: RoaringBitmap,
}

/// As `kubectl get ds` shows it (the DaemonSet's own status).
#[derive(Debug, Default, Serialize)]
pub struct Status {
    pub desired: i64,
    pub current: i64,
    pub ready: i64,
    pub updated: i64,
    pub available: i64,
    pub misscheduled: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// `complete`, `progressing` or `stalled`.
    pub state: &'static str,
    pub cause: String,
    pub current_revision: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub reason: &'static str,
    pub affects_health: bool,
    pub pool: String,
    pub nodes: Vec<String>,
    pub pods: Vec<String>,
    pub message: String,
    pub fix: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionReport {
    pub revision: i64,
    pub change_cause: Option<String>,
    pub pods: u64,
    pub ready: u64,
    /// What the rules say of its template: `allowed`, `warned` or `denied`.
    pub verdict: &'static str,
    /// How long ago it was made, in seconds (text shows it).
    #[serde(skip)]
    pub age: Option<i64>,
    /// What differs from the current template (images, resources, env, selectors,
    /// tolerations).
    pub differs: Vec<String>,
    #[serde(skip)]
    pub current: bool,
    /// The first denial, for the text.
    #[serde(skip)]
    pub denied_by: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Rollback {
    pub revision: i64,
    pub command: String,
}

/// What the diagnosis needs besides the snapshot.
pub struct Options<'a> {
    pub config: &'a Config,
    /// What "now" is for ages and grace periods (`--now`, else the snapshot's newest
    /// timestamp, else the clock).
    pub now: i64,
    /// Nodes the user asks about (`--node`): where the DaemonSet does not target one,
    /// a `NotTargeted` problem says which part of its selection fails there.
    pub nodes: &'a [String],
}

/// One finding on one pod or node, before grouping.
struct Found {
    reason: &'static str,
    affects_health: bool,
    node: Option<String>,
    pod: Option<String>,
    /// What makes two findings the same cause (grouped together).
    cause: String,
    message: String,
    fix: String,
}

/// Pods shown by name in a text line before "and N more".
pub(crate) const EXAMPLES: usize = 3;

/// How many threads doctor's parallel parts use (decoding a snapshot, diagnosing): one per
/// core, at most four (past that the reading thread and the order they are joined in
/// are what it waits for).
pub(crate) fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 4)
}

/// The inventory the snapshot's nodes, classes, pods and budgets make, as the rules read
/// it.
pub fn inventory_of(snapshot: &Snapshot) -> Inventory {
    let mut inventory = Inventory::new();
    inventory.reset_nodes(snapshot.nodes.iter().cloned());
    if snapshot.has_priority_classes {
        inventory.reset_priority_classes(snapshot.priority_classes.iter().cloned());
    }
    if let Some(occupancy) = &snapshot.occupancy {
        let mut occupancy = occupancy.clone();
        if snapshot.has_budgets {
            occupancy.set_budgets(Some(snapshot.budgets.clone()));
        }
        inventory.set_occupancy(Some(occupancy));
    } else if snapshot.has_pods {
        let counted = snapshot.counted.as_ref().filter(|counted| {
            counted
                .nodes()
                .all(|(node, _)| inventory.node_by_name(node).is_some())
        });
        let mut occupancy = match counted {
            Some(counted) => counted.clone(),
            None => {
                let mut interner = crate::inventory::pods::Interner::default();
                let priority_of =
                    |class: Option<&str>| inventory.admitted_priority(class).map(|(v, _)| v);
                let records: Vec<_> = snapshot
                    .pods
                    .iter()
                    .filter_map(|p| match &p.usage {
                        objects::PodUsage::Counted(node, record) => {
                            Some((node.clone(), record.clone()))
                        }
                        objects::PodUsage::Deferred(slim) => slim
                            .record(&|c| priority_of(c).or(Some(0)), &mut interner)
                            .ok(),
                        objects::PodUsage::NotCounted => None,
                    })
                    .filter(|(node, _)| inventory.node_by_name(node).is_some())
                    .collect();
                let mut occupancy = crate::inventory::Occupancy::default();
                occupancy.reset(records);
                occupancy
            }
        };
        if snapshot.has_budgets {
            occupancy.set_budgets(Some(snapshot.budgets.clone()));
        }
        inventory.set_occupancy(Some(occupancy));
    }
    inventory
}

/// Objects of one kind by the DaemonSet that owns them, as positions in their list: by the
/// owner's uid, and by namespace and name (hand-written bundles leave the uid out).
#[derive(Default)]
struct ByOwner<'a> {
    uid: HashMap<&'a str, Vec<usize>, foldhash::fast::RandomState>,
    name: HashMap<(&'a str, &'a str), Vec<usize>, foldhash::fast::RandomState>,
}

impl<'a> ByOwner<'a> {
    fn add(&mut self, at: usize, uid: &'a str, name: Option<(&'a str, &'a str)>) {
        if !uid.is_empty() {
            self.uid.entry(uid).or_default().push(at);
        }
        if let Some(key) = name {
            self.name.entry(key).or_default().push(at);
        }
    }

    /// What `ds` owns of `items` (the list this index was built over), in listed order,
    /// each once; `uid_of` is an item's owner uid.
    fn owned_by<'s, T>(
        &self,
        ds: &DaemonSetObject,
        items: &'s [T],
        uid_of: impl Fn(&T) -> &str,
    ) -> Vec<&'s T> {
        let by_uid = (!ds.uid.is_empty())
            .then(|| self.uid.get(ds.uid.as_str()))
            .flatten()
            .into_iter()
            .flatten();
        let by_name = self
            .name
            .get(&(ds.namespace.as_str(), ds.name.as_str()))
            .into_iter()
            .flatten()
            .filter(|&&at| ds.uid.is_empty() || uid_of(&items[at]) != ds.uid);
        let mut found: Vec<usize> = by_uid.chain(by_name).copied().collect();
        found.sort_unstable();
        found.into_iter().map(|at| &items[at]).collect()
    }
}

/// The snapshot looked up by owner and by object, built once: `doctor -A` over 2,000
/// DaemonSets and 150,000 pods must not scan every pod, revision and Event per DaemonSet.
pub struct Index<'a> {
    snapshot: &'a Snapshot,
    pods: ByOwner<'a>,
    revisions: ByOwner<'a>,
    /// Events by the name of the object they are about.
    events: HashMap<&'a str, Vec<&'a objects::ObjectEvent>, foldhash::fast::RandomState>,
    health: HashMap<&'a str, &'a NodeHealth, foldhash::fast::RandomState>,
}

impl<'a> Index<'a> {
    pub fn of(snapshot: &'a Snapshot) -> Self {
        let mut index = Index {
            snapshot,
            pods: ByOwner::default(),
            revisions: ByOwner::default(),
            events: HashMap::default(),
            health: snapshot
                .node_health
                .iter()
                .map(|h| (h.name.as_str(), h))
                .collect(),
        };
        for (at, pod) in snapshot.pods.iter().enumerate() {
            let name = (pod.owner_kind == "DaemonSet")
                .then_some((pod.namespace.as_str(), pod.owner_name.as_str()));
            index.pods.add(at, &pod.owner_uid, name);
        }
        for (at, revision) in snapshot.revisions.iter().enumerate() {
            let name = Some((revision.namespace.as_str(), revision.owner_name.as_str()));
            index.revisions.add(at, &revision.owner_uid, name);
        }
        for event in &snapshot.events {
            index
                .events
                .entry(event.name.as_str())
                .or_default()
                .push(event);
        }
        index
    }

    /// The pods `ds` owns, by uid or by kind, namespace and name, in the snapshot's order.
    fn pods_of(&self, ds: &DaemonSetObject) -> Vec<&'a DoctorPod> {
        (self.pods).owned_by(ds, &self.snapshot.pods, |p| &p.owner_uid)
    }

    fn revisions_of(&self, ds: &DaemonSetObject) -> Vec<&'a objects::Revision> {
        (self.revisions).owned_by(ds, &self.snapshot.revisions, |r| &r.owner_uid)
    }

    fn events_about(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> impl Iterator<Item = &'a objects::ObjectEvent> {
        self.events
            .get(name)
            .into_iter()
            .flatten()
            .copied()
            .filter(move |e| e.kind == kind && e.namespace == namespace)
    }
}

/// The note for a DaemonSet `diagnose` gave up on.
fn not_diagnosed(ds: &DaemonSetObject, why: &str) -> String {
    format!("{}/{}: {why}", ds.namespace, ds.name)
}

/// Every DaemonSet `wanted` picks, diagnosed against `inventory`: the snapshot's own
/// ([`inventory_of`], `dsguard doctor`) or one the caller already holds (`serve --cluster`:
/// the watched nodes, classes and pods).
pub fn diagnose_against(
    snapshot: &Snapshot,
    inventory: &Inventory,
    wanted: &dyn Fn(&DaemonSetObject) -> bool,
    options: &Options<'_>,
) -> (DoctorReport, Vec<String>) {
    let index = Index::of(snapshot);
    let chosen: Vec<&DaemonSetObject> = snapshot.daemonsets.iter().filter(|d| wanted(d)).collect();
    // Each DaemonSet is diagnosed on its own: a share of them per core (at most four),
    // the results joined in the order the DaemonSets were read.
    let share = chosen.len().div_ceil(worker_threads()).max(1);
    let results: Vec<Result<Diagnosis, String>> = std::thread::scope(|scope| {
        let shares: Vec<_> = chosen
            .chunks(share)
            .map(|share| {
                let index = &index;
                scope.spawn(move || {
                    share
                        .iter()
                        .map(|ds| diagnose(ds, index, inventory, options))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        shares
            .into_iter()
            .flat_map(|share| {
                share
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut notes = Vec::new();
    let mut daemonsets = Vec::new();
    for (ds, result) in chosen.iter().zip(results) {
        match result {
            Ok(diagnosis) => daemonsets.push(diagnosis),
            Err(why) => notes.push(not_diagnosed(ds, &why)),
        }
    }
    daemonsets.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    (
        DoctorReport {
            schema_version: 1,
            daemonsets,
        },
        notes,
    )
}

/// How many pods of one DaemonSet have one problem reason: the `dsguard_daemonset_pods`
/// series of `serve --cluster`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodCount {
    pub namespace: String,
    pub daemonset: String,
    pub reason: &'static str,
    pub pods: u64,
}

/// Every reason of every DaemonSet's problems, counted: distinct pods, or for a reason no
/// pod has (`Missing`, `UntoleratedTaint`, `NotTargeted`: there is no pod) distinct nodes.
/// A pod counts once per reason however many causes it has. Healthy DaemonSets have none.
///
/// The DaemonSets are handed in one at a time ([`PodCounter::add`]), each diagnosed,
/// counted and dropped before the next, so that neither the diagnoses nor the DaemonSets
/// are ever held all at once: a diagnosis names every node a problem covers, and 2,000
/// DaemonSets missing from 5,000 nodes held about eight million node names at once
/// (311 MiB under heaptrack) where the counts need one DaemonSet's at a time; the pod
/// health pass of `serve --cluster` hands them in as it lists them, page by page.
pub struct PodCounter<'a, 'o> {
    index: Index<'a>,
    inventory: &'a Inventory,
    options: &'a Options<'o>,
    counts: Vec<PodCount>,
    notes: Vec<String>,
}

impl<'a, 'o> PodCounter<'a, 'o> {
    /// Counts against `snapshot`'s pods, revisions and node health (its DaemonSets are not
    /// read: they are handed in).
    pub fn new(snapshot: &'a Snapshot, inventory: &'a Inventory, options: &'a Options<'o>) -> Self {
        PodCounter {
            index: Index::of(snapshot),
            inventory,
            options,
            counts: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn add(&mut self, ds: &DaemonSetObject) {
        match diagnose(ds, &self.index, self.inventory, self.options) {
            Ok(diagnosis) => self.counts.extend(pod_counts_of(&diagnosis)),
            Err(why) => self.notes.push(not_diagnosed(ds, &why)),
        }
    }

    /// The counts, sorted by namespace, DaemonSet and reason as the diagnoses of
    /// [`diagnose_against`] are, whatever order the DaemonSets came in; and a note for
    /// each DaemonSet that could not be diagnosed.
    pub fn finish(mut self) -> (Vec<PodCount>, Vec<String>) {
        self.counts.sort_by(|a, b| {
            (&a.namespace, &a.daemonset, a.reason).cmp(&(&b.namespace, &b.daemonset, b.reason))
        });
        (self.counts, self.notes)
    }
}

/// One DaemonSet's counts, by reason (see [`PodCounter`]).
fn pod_counts_of(diagnosis: &Diagnosis) -> Vec<PodCount> {
    let mut by_reason: BTreeMap<&'static str, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for problem in &diagnosis.problems {
        let (pods, nodes) = by_reason.entry(problem.reason).or_default();
        pods.extend(problem.pods.iter().map(String::as_str));
        if problem.pods.is_empty() {
            nodes.extend(problem.nodes.iter().map(String::as_str));
        }
    }
    by_reason
        .into_iter()
        .map(|(reason, (pods, nodes))| PodCount {
            namespace: diagnosis.namespace.clone(),
            daemonset: diagnosis.name.clone(),
            reason,
            pods: (pods.len() + nodes.len()) as u64,
        })
        .collect()
}

fn status_field(value: &Value, field: &str) -> Option<i64> {
    value
        .pointer(&format!("/status/{field}"))
        .and_then(Value::as_i64)
}

/// `maxUnavailable` and `maxSurge` as the controller resolves them against `desired`
/// (percentages rounded up; both zero means maxUnavailable 1).
fn budgets_of(value: &Value, desired: i64) -> (i64, i64) {
    let scaled = |v: Option<&Value>, default: i64| -> i64 {
        match v {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(default),
            Some(Value::String(s)) => match s.trim().strip_suffix('%') {
                Some(p) => p
                    .trim()
                    .parse::<i64>()
                    .map(|p| (p.saturating_mul(desired) + 99) / 100)
                    .unwrap_or(default),
                None => s.trim().parse().unwrap_or(default),
            },
            _ => default,
        }
    };
    let rolling = value.pointer("/spec/updateStrategy/rollingUpdate");
    let surge = scaled(rolling.and_then(|r| r.get("maxSurge")), 0);
    let mut unavailable = scaled(rolling.and_then(|r| r.get("maxUnavailable")), 1);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (unavailable, surge)
}

/// A memory limit suggestion: double it, in the unit the user wrote.
fn doubled(limit: &str) -> String {
    let digits: String = limit.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = &limit[digits.len()..];
    match digits.parse::<u64>() {
        Ok(n) => format!("{}{unit}", n * 2),
        Err(_) => "a larger value".into(),
    }
}

/// The ConfigMap or Secret (or key) a `CreateContainerConfigError` message names.
fn missing_reference(message: &str) -> Option<String> {
    // `configmap "x" not found`, `secret "x" not found`, `couldn't find key k in ConfigMap ns/x`
    for kind in ["configmap", "secret"] {
        if let Some(rest) = message.to_lowercase().find(&format!("{kind} \"")) {
            let start = rest + kind.len() + 2;
            if let Some(end) = message[start..].find('"') {
                let name = &message[start..start + end];
                return Some(format!(
                    "{} {name}",
                    if kind == "configmap" {
                        "ConfigMap"
                    } else {
                        "Secret"
                    }
                ));
            }
        }
    }
    message
        .find("couldn't find key")
        .map(|at| message[at..].trim_end_matches('.').to_owned())
}

/// What the pod's containers say, as findings (the first container with a reason wins
/// per reason).
fn container_findings(pod: &DoctorPod, found: &mut Vec<(&'static str, String, String, String)>) {
    for (init, status) in pod
        .init_containers
        .iter()
        .map(|s| (true, s))
        .chain(pod.containers.iter().map(|s| (false, s)))
    {
        let which = format!(
            "{}container \"{}\"",
            if init { "init " } else { "" },
            status.name
        );
        let Some(waiting) = &status.state.waiting else {
            continue;
        };
        let last = status.last_state.terminated.as_ref();
        match &*waiting.reason {
            "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull"
            | "RegistryUnavailable" | "ImageInspectError" => found.push((
                "ImagePull",
                format!("{}:{}", waiting.reason, status.image),
                format!(
                    "{which}: {} for image {:?}{}",
                    waiting.reason,
                    status.image,
                    if waiting.message.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", waiting.message)
                    }
                ),
                "check the image name and tag exist in the registry, and that the nodes can pull it (imagePullSecrets, registry reachability); or roll back".into(),
            )),
            "CrashLoopBackOff" => {
                let (exit, why) = last
                    .map(|t| (t.exit_code, t.reason.to_string()))
                    .unwrap_or((None, String::new()));
                let oom = why == "OOMKilled";
                let limit = pod.memory_limits.get(&*status.name);
                let message = format!(
                    "{which} restarted {} times; last exit {}{}{}",
                    status.restart_count,
                    exit.map_or("unknown".to_owned(), |c| c.to_string()),
                    if why.is_empty() { String::new() } else { format!(" {why}") },
                    match (oom, limit) {
                        (true, Some(limit)) => format!(", memory limit {limit}"),
                        _ => String::new(),
                    }
                );
                let fix = match (oom, limit) {
                    (true, Some(limit)) => format!(
                        "the kernel killed it at its memory limit: raise resources.limits.memory of {which} above {limit} (e.g. {})",
                        doubled(limit)
                    ),
                    (true, None) => format!("the kernel killed it for memory: give {which} more memory, or find the leak"),
                    _ => format!("read its last output: kubectl logs -n {} {} -c {} --previous", pod.namespace, pod.name, status.name),
                };
                found.push(("CrashLoop", format!("{}:{why}", status.name), message, fix));
            }
            "CreateContainerConfigError" | "CreateContainerError" | "RunContainerError" => {
                let missing = missing_reference(&waiting.message);
                found.push((
                    "ConfigError",
                    format!("{}:{}", waiting.reason, missing.clone().unwrap_or_default()),
                    format!("{which}: {}: {}", waiting.reason, waiting.message),
                    match missing {
                        Some(what) => format!("create {what} in namespace {} (or fix the reference in the template)", pod.namespace),
                        None => "fix what the message names in the pod template".into(),
                    },
                ));
            }
            "ContainerCreating" | "PodInitializing" => {}
            _ => {}
        }
    }
}

/// One revision's template judged by the rules, in the DaemonSet it belongs to, as the
/// webhook would judge the rollback to it: an UPDATE of the DaemonSet as it is now, so a
/// violation the current DaemonSet already has is a warning (grandfathered), and only one
/// the revision brings is a denial.
fn verdict_of(
    template: &Value,
    ds: &DaemonSetObject,
    current: &Value,
    now_verdict: Option<&policy::Verdict>,
    inventory: &Inventory,
    config: &Config,
) -> (&'static str, Option<String>) {
    let mut value = current.clone();
    value["spec"]["template"] = template.clone();
    let Ok(object) = DaemonSet::from_value(&value) else {
        return ("denied", Some("the template cannot be read".into()));
    };
    let mut verdict =
        policy::evaluate(&object, &Context::offline(inventory, config, &ds.namespace));
    if let Some(old) = now_verdict {
        verdict.grandfather(old);
    }
    if let Some(denial) = verdict
        .findings
        .iter()
        .find(|f| f.severity == Severity::Deny)
    {
        let headline = denial.headline();
        (
            "denied",
            Some(
                headline
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_end_matches(':')
                    .to_owned(),
            ),
        )
    } else if verdict
        .findings
        .iter()
        .any(|f| f.severity == Severity::Warn)
    {
        ("warned", None)
    } else {
        ("allowed", None)
    }
}

/// What differs between two pod templates, in words.
fn differences(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let containers = |t: &Value| -> BTreeMap<String, Value> {
        t.pointer("/spec/containers")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|c| (c["name"].as_str().unwrap_or("").to_owned(), c.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (before, after) = (containers(old), containers(new));
    for (name, c) in &after {
        match before.get(name) {
            None => out.push(format!("container {name:?} added")),
            Some(b) => {
                for (field, label) in [
                    ("image", "image"),
                    ("resources", "resources"),
                    ("env", "env"),
                ] {
                    if b[field] != c[field] {
                        if field == "image" {
                            out.push(format!(
                                "image {} (now {})",
                                c[field].as_str().unwrap_or("?"),
                                b[field].as_str().unwrap_or("?")
                            ));
                        } else {
                            out.push(format!("{label} of {name:?}"));
                        }
                    }
                }
            }
        }
    }
    for name in before.keys().filter(|n| !after.contains_key(*n)) {
        out.push(format!("container {name:?} removed"));
    }
    for (field, label) in [
        ("/spec/nodeSelector", "nodeSelector"),
        ("/spec/affinity", "affinity"),
        ("/spec/tolerations", "tolerations"),
        ("/spec/priorityClassName", "priorityClassName"),
    ] {
        if old.pointer(field) != new.pointer(field) {
            out.push(label.to_owned());
        }
    }
    out
}

fn age_text(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else if s < 172_800 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

pub(crate) fn age(seconds: Option<i64>) -> String {
    seconds.map_or_else(|| "?".into(), age_text)
}

/// One DaemonSet's diagnosis.
pub fn diagnose(
    ds: &DaemonSetObject,
    index: &Index<'_>,
    inventory: &Inventory,
    options: &Options<'_>,
) -> Result<Diagnosis, String> {
    let config = options.config;
    let value = ds.value()?;
    let object = DaemonSet::from_value(&value).map_err(|e| e.to_string())?;
    let context = Context::offline(inventory, config, &ds.namespace);
    let placement = policy::placement(&object, &context);
    let runnable = placement.runnable();
    let name_of = |slot: u32| inventory.node(slot).name.to_string();
    let pool_keys = &config.rules.untolerated_taints.pool_label_keys;
    let pool_of = |node: &str| -> String {
        inventory
            .node_by_name(node)
            .and_then(|n| pool_keys.iter().find_map(|k| n.label(k)).map(str::to_owned))
            .unwrap_or_else(|| crate::coverage::NO_POOL.into())
    };
    let health = &index.health;
    let pods: Vec<&DoctorPod> = index.pods_of(ds);
    let mut revisions: Vec<&objects::Revision> = index.revisions_of(ds);
    revisions.sort_by_key(|r| std::cmp::Reverse(r.revision));
    let current = revisions.first().copied();
    let current_hash = current.map(|r| r.hash.as_str());
    // The DaemonSet controller's IsPodUpdated (pkg/controller/daemon/util): the pod carries
    // the newest revision's hash, or the template generation the DaemonSet is at.
    let template_generation = value
        .pointer("/metadata/annotations/deprecated.daemonset.template.generation")
        .and_then(Value::as_str);
    // Without any revision in the snapshot, only a generation that differs says outdated.
    let up_to_date = |pod: &DoctorPod| {
        let generation = pod.template_generation();
        let generation_matches = template_generation.is_some() && generation == template_generation;
        generation_matches
            || match (current_hash, pod.revision_hash()) {
                (Some(current), Some(hash)) => current == hash,
                (Some(_), None) => false,
                (None, _) => generation.is_none() || template_generation.is_none(),
            }
    };
    let room = policy::room_beside_pods(&object, &context);
    let unfit: HashMap<String, Vec<String>> =
        match policy::effective_requests(&object, inventory, &ds.namespace) {
            Ok(requests) => policy::unfit_groups(&requests, inventory, &runnable)
                .into_iter()
                .flat_map(|(short, nodes)| {
                    nodes
                        .iter()
                        .map(move |s| (s, short.clone()))
                        .collect::<Vec<_>>()
                })
                .map(|(slot, short)| (name_of(slot), short))
                .collect(),
            Err(_) => HashMap::new(),
        };
    let now = options.now;
    let mut found: Vec<Found> = Vec::new();
    let mut pods_by_node: BTreeMap<String, Vec<&DoctorPod>> = BTreeMap::new();
    for pod in &pods {
        if let Some(node) = &pod.node {
            pods_by_node.entry(node.clone()).or_default().push(pod);
        }
    }
    let should_run: BTreeSet<String> = runnable.iter().map(name_of).collect();
    let mut unavailable_with_problem: Vec<(String, &'static str)> = Vec::new();
    let mut misscheduled = 0i64;
    let mut healthy_nodes = 0u64;
    for pod in &pods {
        let node = pod.node.clone();
        let at =
            |reason: &'static str, affects: bool, cause: String, message: String, fix: String| {
                Found {
                    reason,
                    affects_health: affects,
                    node: node.clone(),
                    pod: Some(pod.name.clone()),
                    cause,
                    message,
                    fix,
                }
            };
        let mut reasons: Vec<&'static str> = Vec::new();
        let mut push = |f: Found, reasons: &mut Vec<&'static str>| {
            reasons.push(f.reason);
            found.push(f);
        };
        // On a node it should not run on.
        if let Some(node_name) = &node
            && pod.bound
            && inventory.node_by_name(node_name).is_some()
            && !should_run.contains(node_name)
        {
            misscheduled += 1;
            let slot = inventory.slot_of(node_name).expect("known node");
            let why = if !placement.targeted.contains(slot) {
                "the DaemonSet's nodeSelector/affinity no longer selects the node (a label changed)"
                    .to_owned()
            } else {
                let taints = placement
                    .blocked
                    .iter()
                    .find(|g| g.nodes.contains(slot))
                    .map(|g| g.taint_list())
                    .unwrap_or_default();
                format!("the node now has a taint it does not tolerate: {taints}")
            };
            push(
                at(
                    "Misscheduled",
                    true,
                    why.clone(),
                    format!("runs on a node it should not run on: {why}"),
                    "the controller deletes it once the node no longer tolerates it with NoExecute; otherwise fix the label or taint, or delete the pod".into(),
                ),
                &mut reasons,
            );
        }
        if let Some(deleted) = pod.deletion
            && now > deleted
        {
            push(
                at(
                    "Terminating",
                    true,
                    "terminating".into(),
                    format!(
                        "deleted {} ago and still not gone (grace period {}s)",
                        age_text(now - deleted),
                        pod.grace_seconds.unwrap_or(30)
                    ),
                    format!(
                        "if its node is gone or unreachable, force it: kubectl delete pod -n {} {} --grace-period=0 --force",
                        pod.namespace, pod.name
                    ),
                ),
                &mut reasons,
            );
        }
        if pod.phase == "Failed" {
            let what = if pod.reason.is_empty() {
                "Failed".to_owned()
            } else {
                pod.reason.clone()
            };
            push(
                at(
                    "Evicted",
                    true,
                    what.clone(),
                    format!("{what}: {}", pod.message.trim()),
                    "the controller replaces failed daemon pods; if it keeps happening, free the resource the message names on the node or lower the pod's requests".into(),
                ),
                &mut reasons,
            );
        }
        if pod.phase == "Pending" && !pod.bound {
            let scheduled = pod.condition("PodScheduled");
            let said = scheduled.map(|c| c.message.to_string()).unwrap_or_default();
            let node_name = node.clone().unwrap_or_default();
            let slot = inventory.slot_of(&node_name);
            let predicted = slot.and_then(|slot| {
                let room = room.as_ref()?;
                if let Some(stuck) = room.pending.iter().find(|s| s.node == slot) {
                    Some(("NoRoom", stuck.reasons.join(", "), Some(stuck)))
                } else if room.preempts.iter().any(|(s, _)| *s == slot) {
                    Some((
                        "NoRoom",
                        "fits once preemption evicts lower-priority pods".to_owned(),
                        None,
                    ))
                } else {
                    None
                }
            });
            if let Some(short) = unfit.get(&node_name) {
                push(
                    at(
                        "Unfit",
                        true,
                        short.join(","),
                        format!("its requests exceed the node's allocatable ({}): it stays Pending there (scheduler: {said})", short.join(", ")),
                        "lower the requests, or keep the DaemonSet off those nodes with a nodeSelector or node affinity".into(),
                    ),
                    &mut reasons,
                );
            } else if let Some((reason, words, stuck)) = predicted {
                let agree = words.split(", ").all(|w| said.contains(w)) || said.is_empty();
                let fix = match stuck.map(|s| &s.blocked) {
                    Some(crate::scheduling::preemption::Blocked::NoLowerPriority) => {
                        "give it a PriorityClass above the pods in its way (a node agent usually runs as system-node-critical), lower its requests, or move pods off the node".to_owned()
                    }
                    Some(crate::scheduling::preemption::Blocked::PolicyNever) => {
                        "its preemptionPolicy is Never: let it preempt, lower its requests, or move pods off the node".to_owned()
                    }
                    Some(crate::scheduling::preemption::Blocked::StillNoRoom(_)) => {
                        "even evicting every lower-priority pod leaves no room: lower its requests or move higher-priority pods off the node".to_owned()
                    }
                    None => "preemption should make room; if the pod stays Pending, check PodDisruptionBudgets and the scheduler's events".to_owned(),
                };
                let in_the_way = stuck
                    .map(|s| {
                        s.in_the_way
                            .iter()
                            .map(|(ns, n)| format!("{ns}/{n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .filter(|t| !t.is_empty())
                    .map(|t| format!("; in the way: {t}"))
                    .unwrap_or_default();
                push(
                    at(
                        reason,
                        true,
                        words.clone(),
                        format!(
                            "Pending: no room beside the pods running there ({words}{in_the_way}); the scheduler says: {}{}",
                            if said.is_empty() {
                                "nothing yet"
                            } else {
                                said.as_str()
                            },
                            if agree {
                                ""
                            } else {
                                " (dsguard's model and the scheduler disagree: the scheduler's word stands)"
                            }
                        ),
                        fix,
                    ),
                    &mut reasons,
                );
            } else {
                push(
                    at(
                        "Unschedulable",
                        true,
                        scheduled.map(|c| c.reason.to_string()).unwrap_or_default(),
                        format!("Pending: the scheduler says: {}", if said.is_empty() { "nothing yet" } else { said.as_str() }),
                        "read the scheduler's reasons above: kubectl describe pod -n NS NAME shows the FailedScheduling events".into(),
                    ),
                    &mut reasons,
                );
            }
        }
        let mut containers = Vec::new();
        container_findings(pod, &mut containers);
        let stuck_creating = containers.is_empty()
            && pod.bound
            && pod.phase == "Pending"
            && pod
                .containers
                .iter()
                .chain(pod.init_containers.iter())
                .any(|c| {
                    c.state.waiting.as_ref().is_some_and(|w| {
                        matches!(&*w.reason, "ContainerCreating" | "PodInitializing")
                    })
                });
        for (reason, cause, message, fix) in containers {
            push(at(reason, true, cause, message, fix), &mut reasons);
        }
        if stuck_creating {
            let events: Vec<String> = index
                .events_about("Pod", &pod.namespace, &pod.name)
                .filter(|e| e.warning)
                .map(|e| format!("{}: {}", e.reason, e.message))
                .take(2)
                .collect();
            push(
                at(
                    "Stuck",
                    true,
                    events.first().map(|e| e.split(':').next().unwrap_or("").to_owned()).unwrap_or_default(),
                    format!(
                        "still creating its containers{}",
                        if events.is_empty() { String::new() } else { format!(": {}", events.join("; ")) }
                    ),
                    "read the pod's events (FailedMount: the volume or Secret it mounts; FailedCreatePodSandBox: the node's network plugin)".into(),
                ),
                &mut reasons,
            );
        }
        if let Some(node_name) = &node
            && let Some(h) = health.get(node_name.as_str())
        {
            if let Some(c) = h.not_ready() {
                push(
                    at(
                        "NodeNotReady",
                        true,
                        c.reason.to_string(),
                        format!("its node is not Ready ({} {}: {})", c.status, c.reason, c.message),
                        "the pod cannot become Ready until the node's kubelet reports again: check the node (kubectl describe node)".into(),
                    ),
                    &mut reasons,
                );
            }
            for c in h.pressure() {
                push(
                    at(
                        "NodePressure",
                        true,
                        c.kind.to_string(),
                        format!("its node reports {} ({})", c.kind, c.message),
                        "free the resource on the node; the kubelet evicts pods while it lasts"
                            .into(),
                    ),
                    &mut reasons,
                );
            }
        }
        if pod.phase == "Running" && !pod.ready() && reasons.is_empty() {
            let detail = pod
                .condition("Ready")
                .map(|c| c.message.clone())
                .unwrap_or_default();
            push(
                at(
                    "NotReady",
                    true,
                    "readiness".into(),
                    format!(
                        "running but not Ready{}",
                        if detail.is_empty() {
                            String::new()
                        } else {
                            format!(": {detail}")
                        }
                    ),
                    format!(
                        "its readiness probe fails: kubectl describe pod -n {} {} shows why",
                        pod.namespace, pod.name
                    ),
                ),
                &mut reasons,
            );
        }
        if !up_to_date(pod) {
            push(
                at(
                    "OutdatedRevision",
                    true,
                    pod.revision_hash().unwrap_or("").to_owned(),
                    format!(
                        "still on revision {}",
                        revision_number(&revisions, pod.revision_hash())
                    ),
                    "the rollout replaces it (see the rollout line)".into(),
                ),
                &mut reasons,
            );
        }
        let trouble = reasons.iter().any(|r| *r != "OutdatedRevision");
        // Only pods on nodes it should run on take part in the rolling update.
        let in_rollout = node.as_ref().is_some_and(|n| should_run.contains(n));
        if !pod.ready() && trouble && in_rollout {
            unavailable_with_problem.push((
                pod.name.clone(),
                reasons
                    .iter()
                    .copied()
                    .find(|r| *r != "OutdatedRevision")
                    .unwrap_or(""),
            ));
        }
        if pod.ready()
            && up_to_date(pod)
            && !reasons.contains(&"Misscheduled")
            && node.as_ref().is_some_and(|n| should_run.contains(n))
        {
            healthy_nodes += 1;
        }
    }
    // Nodes it should run on with no pod at all.
    let failed_create: Vec<&objects::ObjectEvent> = index
        .events_about("DaemonSet", &ds.namespace, &ds.name)
        .filter(|e| e.reason == "FailedCreate")
        .collect();
    for node in should_run.iter().filter(|n| !pods_by_node.contains_key(*n)) {
        let why = failed_create
            .iter()
            .max_by_key(|e| e.last)
            .map(|e| format!("the controller's last FailedCreate: {}", e.message))
            .unwrap_or_else(|| {
                "no pod was created there (no FailedCreate event in the snapshot)".into()
            });
        found.push(Found {
            reason: "Missing",
            affects_health: true,
            node: Some(node.clone()),
            pod: None,
            cause: failed_create.first().map(|e| e.message.clone()).unwrap_or_default(),
            message: format!("no pod on a node it should run on; {why}"),
            fix: "fix what the controller's event names (a ResourceQuota, Pod Security admission, a webhook that denies the pod), then it creates the pod".into(),
        });
    }
    // Targeted nodes whose taints it does not tolerate: a gap the controller does not count.
    for group in &placement.blocked {
        let nodes: Vec<String> = group
            .nodes
            .iter()
            .map(name_of)
            .filter(|n| !pods_by_node.contains_key(n))
            .collect();
        if nodes.is_empty() {
            continue;
        }
        let fix = policy::toleration_fix(&group.untolerated);
        for node in nodes {
            found.push(Found {
                reason: "UntoleratedTaint",
                affects_health: false,
                node: Some(node),
                pod: None,
                cause: group.taint_list(),
                message: format!(
                    "targeted, but its taints are not tolerated ({}): no pod runs there",
                    group.taint_list()
                ),
                fix: fix.clone(),
            });
        }
    }
    // Nodes asked about that it does not target at all: which part of its selection fails.
    let selection = object.selection();
    for node_name in options.nodes {
        let Some(slot) = inventory.slot_of(node_name) else {
            continue;
        };
        let node = inventory.node(slot);
        if placement.targeted.contains(slot) {
            continue;
        }
        let why = selection.why_not(node_name, |k| node.label(k));
        let fix = match (why.as_slice(), selection.node_selector.as_slice()) {
            ([only], [(key, value)]) if only.starts_with("nodeSelector ") => format!(
                "to run there, label the node (kubectl label node {node_name} {key}={value} --overwrite) or change spec.template.spec.nodeSelector"
            ),
            _ => "to run there, change spec.template.spec.nodeSelector / affinity, or the node's labels".into(),
        };
        found.push(Found {
            reason: "NotTargeted",
            affects_health: false,
            node: Some(node_name.clone()),
            pod: None,
            cause: why.join("; "),
            message: format!("does not target the node: {}", why.join("; ")),
            fix,
        });
    }
    let problems = group(found, &pool_of);
    let status = Status {
        desired: status_field(&value, "desiredNumberScheduled").unwrap_or(should_run.len() as i64),
        current: status_field(&value, "currentNumberScheduled")
            .unwrap_or(pods_by_node.len() as i64),
        ready: status_field(&value, "numberReady").unwrap_or(0),
        updated: status_field(&value, "updatedNumberScheduled").unwrap_or(0),
        available: status_field(&value, "numberAvailable").unwrap_or(0),
        misscheduled: status_field(&value, "numberMisscheduled").unwrap_or(misscheduled),
    };
    let healthy = healthy_nodes >= should_run.len() as u64 && misscheduled == 0;
    let rollout = rollout_of(
        ds,
        (&object, &value),
        &status,
        &pods,
        &up_to_date,
        &unavailable_with_problem,
        current.map(|r| r.revision),
    );
    // Revisions, newest first.
    let current_template = value
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    let now_verdict = policy::evaluate(&object, &context);
    let reports: Vec<RevisionReport> = revisions
        .iter()
        .map(|r| {
            let of_revision: Vec<&&DoctorPod> = pods
                .iter()
                .filter(|p| p.revision_hash() == Some(r.hash.as_str()))
                .collect();
            let (verdict, denied_by) = match &r.template {
                Some(template) => {
                    verdict_of(template, ds, &value, Some(&now_verdict), inventory, config)
                }
                None => ("allowed", None),
            };
            RevisionReport {
                revision: r.revision,
                change_cause: r.change_cause.clone(),
                pods: of_revision.len() as u64,
                ready: of_revision.iter().filter(|p| p.ready()).count() as u64,
                verdict,
                age: r.created.map(|c| now - c),
                differs: match &r.template {
                    Some(template) if Some(r.hash.as_str()) != current_hash => {
                        differences(&current_template, template)
                    }
                    _ => Vec::new(),
                },
                current: Some(r.hash.as_str()) == current_hash,
                denied_by,
            }
        })
        .collect();
    // The current revision is failing: its pods have problems of their own making.
    let failing = problems.iter().any(|p| {
        p.affects_health
            && matches!(
                p.reason,
                "CrashLoop" | "ImagePull" | "ConfigError" | "NotReady"
            )
    });
    let rollback = if failing {
        reports
            .iter()
            .filter(|r| !r.current && r.ready > 0 && r.verdict != "denied")
            .max_by_key(|r| r.revision)
            .map(|r| Rollback {
                revision: r.revision,
                command: format!(
                    "kubectl rollout undo daemonset/{} -n {} --to-revision={}",
                    ds.name, ds.namespace, r.revision
                ),
            })
    } else {
        None
    };
    Ok(Diagnosis {
        namespace: ds.namespace.clone(),
        name: ds.name.clone(),
        healthy,
        status,
        rollout,
        problems,
        revisions: reports,
        rollback,
        targeted: placement.targeted.clone(),
    })
}

fn revision_number(revisions: &[&objects::Revision], hash: Option<&str>) -> String {
    match hash.and_then(|h| revisions.iter().find(|r| r.hash == h)) {
        Some(r) => r.revision.to_string(),
        None => format!("with hash {}", hash.unwrap_or("(none)")),
    }
}

/// The rollout state, decided from the pods' revisions as the controller decides it.
fn rollout_of(
    ds: &DaemonSetObject,
    (object, value): (&DaemonSet, &Value),
    status: &Status,
    pods: &[&DoctorPod],
    up_to_date: &dyn Fn(&DoctorPod) -> bool,
    unavailable: &[(String, &'static str)],
    current_revision: Option<i64>,
) -> Rollout {
    let strategy = value
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        .unwrap_or("RollingUpdate");
    let observed = status_field(value, "observedGeneration").unwrap_or(ds.generation);
    let outdated: Vec<&str> = pods
        .iter()
        .filter(|p| !up_to_date(p))
        .map(|p| p.name.as_str())
        .collect();
    let named = |names: &[&str]| {
        let mut text = names
            .iter()
            .take(EXAMPLES)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if names.len() > EXAMPLES {
            text.push_str(&format!(" and {} more", names.len() - EXAMPLES));
        }
        text
    };
    let done = |cause: String| Rollout {
        state: "complete",
        cause,
        current_revision,
    };
    if strategy == "OnDelete" {
        if outdated.is_empty() {
            return done("every pod runs the current revision".into());
        }
        return Rollout {
            state: "stalled",
            cause: format!(
                "updateStrategy OnDelete: new pods start only where old ones are deleted; {} on an old revision ({}): kubectl delete pod -n {} {}",
                crate::words::count(outdated.len(), "pod"),
                named(&outdated),
                ds.namespace,
                outdated.join(" ")
            ),
            current_revision,
        };
    }
    if observed >= ds.generation
        && status.updated >= status.desired
        && status.available >= status.desired
    {
        return done(format!("daemon set {:?} successfully rolled out", ds.name));
    }
    let (max_unavailable, max_surge) = budgets_of(value, status.desired);
    let with_problem: Vec<String> = unavailable
        .iter()
        .map(|(n, r)| format!("{n} ({r})"))
        .collect();
    if max_surge > 0 && policy::surges(object) && has_host_port(object) && !outdated.is_empty() {
        return Rollout {
            state: "stalled",
            cause: "maxSurge starts each new pod beside the old one, but the pod binds a host port the old one holds: the new pods stay Pending (DSG006). Set maxSurge: 0 and maxUnavailable: 1".into(),
            current_revision,
        };
    }
    if !with_problem.is_empty()
        && (max_surge == 0 && with_problem.len() as i64 >= max_unavailable || outdated.is_empty())
    {
        let names: Vec<&str> = with_problem.iter().map(String::as_str).collect();
        return Rollout {
            state: "stalled",
            cause: if outdated.is_empty() {
                format!(
                    "every pod is updated, but {} unavailable: {}",
                    crate::words::count(with_problem.len(), "is"),
                    named(&names)
                )
            } else {
                format!(
                    "maxUnavailable {max_unavailable} is used up by {} unavailable with a problem: {}; {} still on an old revision, waiting",
                    crate::words::count(with_problem.len(), "pod"),
                    named(&names),
                    crate::words::count(outdated.len(), "pod")
                )
            },
            current_revision,
        };
    }
    Rollout {
        state: "progressing",
        cause: format!(
            "{} of {} new pods updated, {} available",
            status.updated, status.desired, status.available
        ),
        current_revision,
    }
}

fn has_host_port(object: &DaemonSet) -> bool {
    let pod = object.pod();
    pod.containers
        .iter()
        .chain(pod.init_containers.iter())
        .flat_map(|c| c.ports.iter())
        .any(|p| {
            p.host_port.is_some_and(|h| h > 0)
                || (pod.host_network && p.container_port.is_some_and(|c| c > 0))
        })
}

/// Findings grouped by reason, pool and cause, in a stable order.
fn group(found: Vec<Found>, pool_of: &dyn Fn(&str) -> String) -> Vec<Problem> {
    let mut groups: BTreeMap<(usize, &'static str, String, String), Problem> = BTreeMap::new();
    const ORDER: [&str; 17] = [
        "Missing",
        "Unfit",
        "NoRoom",
        "Unschedulable",
        "ImagePull",
        "CrashLoop",
        "ConfigError",
        "Stuck",
        "NotReady",
        "Evicted",
        "Terminating",
        "NodeNotReady",
        "NodePressure",
        "Misscheduled",
        "OutdatedRevision",
        "UntoleratedTaint",
        "NotTargeted",
    ];
    for f in found {
        let pool = f
            .node
            .as_deref()
            .map_or_else(|| "(no node)".to_owned(), pool_of);
        let rank = ORDER
            .iter()
            .position(|r| *r == f.reason)
            .unwrap_or(ORDER.len());
        let entry = groups
            .entry((rank, f.reason, pool.clone(), f.cause))
            .or_insert_with(|| Problem {
                reason: f.reason,
                affects_health: f.affects_health,
                pool,
                nodes: Vec::new(),
                pods: Vec::new(),
                message: f.message,
                fix: f.fix,
            });
        if let Some(node) = f.node {
            entry.nodes.push(node);
        }
        if let Some(pod) = f.pod {
            entry.pods.push(pod);
        }
    }
    let mut problems: Vec<Problem> = groups.into_values().collect();
    // Several pods of a group can be on one node: each node once (sorted, then deduped,
    // not a search per pod: a group can hold 5,000 nodes).
    for p in &mut problems {
        p.nodes.sort();
        p.nodes.dedup();
        p.pods.sort();
    }
    problems
}

#[cfg(test)]
mod tests;
