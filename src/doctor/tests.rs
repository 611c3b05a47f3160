//! The diagnosis on object shapes as Kubernetes writes them: the bundled support bundle
//! (examples/doctor/cluster.yaml) and one small cluster per reason.

use serde_json::{Value, json};

use super::objects::Snapshot;
use super::*;

fn snapshot_of(objects: &[Value]) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for object in objects {
        snapshot.add(object.clone(), "test");
    }
    snapshot
}

fn run(snapshot: &Snapshot) -> Vec<Diagnosis> {
    let config = Config::default();
    let options = Options {
        config: &config,
        now: snapshot.newest,
        nodes: &[],
    };
    let (report, notes) = diagnose_against(snapshot, &inventory_of(snapshot), &|_| true, &options);
    assert!(notes.is_empty(), "{notes:?}");
    report.daemonsets
}

fn reasons(d: &Diagnosis) -> Vec<&'static str> {
    d.problems.iter().map(|p| p.reason).collect()
}

fn bundle() -> Snapshot {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/doctor/cluster.yaml");
    Snapshot::load(&path, 1 << 26).unwrap()
}

#[test]
fn the_bundled_cluster_explains_both_daemonsets() {
    let snapshot = bundle();
    let all = run(&snapshot);
    let (logs, agent) = (&all[0], &all[1]);
    assert_eq!(
        (logs.name.as_str(), agent.name.as_str()),
        ("log-agent", "node-agent")
    );

    assert!(!agent.healthy);
    assert_eq!(
        reasons(agent),
        [
            "CrashLoop",
            "NodeNotReady",
            "Misscheduled",
            "OutdatedRevision",
            "OutdatedRevision",
            "UntoleratedTaint"
        ]
    );
    let crash = &agent.problems[0];
    assert_eq!(crash.pods, ["node-agent-x7k2p"]);
    assert!(
        crash
            .message
            .contains("last exit 137 OOMKilled, memory limit 64Mi"),
        "{}",
        crash.message
    );
    assert!(
        crash.fix.contains("above 64Mi (e.g. 128Mi)"),
        "{}",
        crash.fix
    );
    // The unreachable node: NotReady, and misscheduled by the NoSchedule taint it got.
    assert_eq!(agent.problems[1].nodes, ["general-2"]);
    assert_eq!(agent.problems[2].nodes, ["general-2"]);
    assert!(!agent.problems[5].affects_health);
    assert!(agent.problems[5].fix.contains("key: nvidia.com/gpu"));
    assert_eq!(agent.rollout.state, "stalled");
    assert!(
        agent
            .rollout
            .cause
            .contains("maxUnavailable 1 is used up by 1 pod"),
        "{}",
        agent.rollout.cause
    );
    assert_eq!(agent.rollout.current_revision, Some(2));
    let revisions: Vec<(i64, u64, u64, &str)> = agent
        .revisions
        .iter()
        .map(|r| (r.revision, r.pods, r.ready, r.verdict))
        .collect();
    assert_eq!(revisions, [(2, 1, 0, "warned"), (1, 3, 2, "warned")]);
    assert_eq!(
        agent.rollback.as_ref().unwrap().command,
        "kubectl rollout undo daemonset/node-agent -n monitoring --to-revision=1"
    );

    assert!(!logs.healthy);
    assert_eq!(reasons(logs), ["NoRoom"]);
    let room = &logs.problems[0];
    assert_eq!(room.nodes, ["db-0"]);
    assert!(
        room.message
            .contains("Insufficient cpu; in the way: data/postgres-0"),
        "{}",
        room.message
    );
    assert!(
        !room.message.contains("disagree"),
        "the scheduler said the same: {}",
        room.message
    );
    assert!(room.fix.contains("PriorityClass above the pods in its way"));
    assert_eq!(logs.rollout.state, "stalled");
    assert!(logs.rollback.is_none(), "nothing to roll back to");
}

/// A 3-node cluster and a DaemonSet `agent` (RollingUpdate, maxUnavailable 1) of revision
/// `rev2` (previous `rev1`), with `pods`.
fn cluster(pods: Vec<Value>, extra: Vec<Value>, strategy: Value) -> Snapshot {
    let mut objects = Vec::new();
    for i in 0..3 {
        objects.push(json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("n{i}"), "labels": {"pool": "p"}, "creationTimestamp": "2026-12-01T00:00:00Z"},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}));
    }
    let template = |image: &str| {
        json!({"metadata": {"labels": {"app": "agent"}}, "spec": {
        "priorityClassName": "system-node-critical",
        "containers": [{"name": "c", "image": image, "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}})
    };
    objects.push(json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "ops", "uid": "ds-uid", "generation": 2},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "updateStrategy": strategy, "template": template("agent:2")},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 3,
                   "updatedNumberScheduled": 3, "numberAvailable": 3, "observedGeneration": 2}}));
    for (revision, hash, image) in [(1, "rev1", "agent:1"), (2, "rev2", "agent:2")] {
        objects.push(json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": format!("agent-{hash}"), "namespace": "ops", "labels": {"controller-revision-hash": hash},
                         "creationTimestamp": "2026-12-01T00:00:00Z",
                         "ownerReferences": [{"kind": "DaemonSet", "name": "agent", "uid": "ds-uid", "controller": true}]},
            "revision": revision, "data": {"spec": {"template": template(image)}}}));
    }
    objects.extend(pods);
    objects.extend(extra);
    snapshot_of(&objects)
}

fn pod(name: &str, node: &str, hash: &str, status: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "ops", "labels": {"app": "agent", "controller-revision-hash": hash},
                     "creationTimestamp": "2026-12-01T00:00:00Z",
                     "ownerReferences": [{"kind": "DaemonSet", "name": "agent", "uid": "ds-uid", "controller": true}]},
        "spec": {"nodeName": node, "priority": 2000001000,
                 "containers": [{"name": "c", "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]},
        "status": status})
}

fn ready() -> Value {
    json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
           "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0, "state": {"running": {}}}]})
}

fn waiting(reason: &str, message: &str) -> Value {
    json!({"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}],
           "containerStatuses": [{"name": "c", "image": "agent:2", "ready": false, "restartCount": 0,
                                  "state": {"waiting": {"reason": reason, "message": message}}}]})
}

#[test]
fn a_complete_rollout_is_healthy() {
    let snapshot = cluster(
        (0..3)
            .map(|i| pod(&format!("a{i}"), &format!("n{i}"), "rev2", ready()))
            .collect(),
        Vec::new(),
        json!({"type": "RollingUpdate"}),
    );
    let d = &run(&snapshot)[0];
    assert!(d.healthy, "{:?}", d.problems);
    assert!(d.problems.is_empty());
    assert_eq!(d.rollout.state, "complete");
    assert_eq!(
        d.rollout.cause,
        "daemon set \"agent\" successfully rolled out"
    );
    assert!(d.rollback.is_none());
}

#[test]
fn image_pull_and_config_errors_name_the_image_and_the_missing_object() {
    let snapshot = cluster(
        vec![
            pod(
                "a0",
                "n0",
                "rev2",
                waiting("ImagePullBackOff", "Back-off pulling image \"agent:2\""),
            ),
            pod(
                "a1",
                "n1",
                "rev2",
                waiting(
                    "CreateContainerConfigError",
                    "configmap \"agent-config\" not found",
                ),
            ),
            pod("a2", "n2", "rev1", ready()),
        ],
        Vec::new(),
        json!({"type": "RollingUpdate"}),
    );
    let d = &run(&snapshot)[0];
    assert!(!d.healthy);
    let pull = d.problems.iter().find(|p| p.reason == "ImagePull").unwrap();
    assert!(
        pull.message
            .contains("ImagePullBackOff for image \"agent:2\""),
        "{}",
        pull.message
    );
    let config = d
        .problems
        .iter()
        .find(|p| p.reason == "ConfigError")
        .unwrap();
    assert!(
        config
            .fix
            .starts_with("create ConfigMap agent-config in namespace ops"),
        "{}",
        config.fix
    );
    // Revision 2 fails and revision 1 runs Ready: roll back to it, by number.
    assert_eq!(d.rollback.as_ref().unwrap().revision, 1);
}

#[test]
fn a_missing_pod_quotes_the_controllers_failed_create() {
    let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "ops"},
        "involvedObject": {"kind": "DaemonSet", "name": "agent", "namespace": "ops"},
        "reason": "FailedCreate", "type": "Warning", "lastTimestamp": "2026-12-02T00:00:00Z",
        "message": "Error creating: pods \"agent-x\" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=10, limited: pods=10"});
    let snapshot = cluster(
        vec![
            pod("a0", "n0", "rev2", ready()),
            pod("a1", "n1", "rev2", ready()),
        ],
        vec![event],
        json!({"type": "RollingUpdate"}),
    );
    let d = &run(&snapshot)[0];
    assert!(!d.healthy);
    let missing = &d.problems[0];
    assert_eq!(
        (missing.reason, missing.nodes.as_slice()),
        ("Missing", &["n2".to_string()][..])
    );
    assert!(
        missing.message.contains("exceeded quota"),
        "{}",
        missing.message
    );
}

#[test]
fn terminating_evicted_and_on_delete() {
    let mut terminating = pod("a0", "n0", "rev1", ready());
    terminating["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
    terminating["metadata"]["deletionGracePeriodSeconds"] = json!(30);
    let evicted = pod(
        "a1",
        "n1",
        "rev1",
        json!({"phase": "Failed", "reason": "Evicted",
        "message": "The node was low on resource: memory. "}),
    );
    let mut newest = pod("a2", "n2", "rev2", ready());
    newest["metadata"]["creationTimestamp"] = json!("2026-12-03T00:00:00Z");
    let snapshot = cluster(
        vec![terminating, evicted, newest],
        Vec::new(),
        json!({"type": "OnDelete"}),
    );
    let d = &run(&snapshot)[0];
    let found = reasons(d);
    assert!(
        found.contains(&"Terminating") && found.contains(&"Evicted"),
        "{found:?}"
    );
    let terminating = d
        .problems
        .iter()
        .find(|p| p.reason == "Terminating")
        .unwrap();
    assert!(
        terminating.message.starts_with("deleted 2d ago"),
        "{}",
        terminating.message
    );
    assert!(terminating.fix.contains("--grace-period=0 --force"));
    assert_eq!(d.rollout.state, "stalled");
    assert!(
        d.rollout.cause.contains("kubectl delete pod -n ops a0 a1"),
        "{}",
        d.rollout.cause
    );
}

#[test]
fn a_revision_that_brings_a_denial_is_not_a_rollback_target() {
    // Revision 1 has no limits (DSG003, which the current template does not violate).
    let mut snapshot = cluster(
        vec![
            pod("a0", "n0", "rev2", waiting("CrashLoopBackOff", "back-off")),
            pod("a1", "n1", "rev1", ready()),
            pod("a2", "n2", "rev1", ready()),
        ],
        Vec::new(),
        json!({"type": "RollingUpdate"}),
    );
    let old = snapshot
        .revisions
        .iter_mut()
        .find(|r| r.revision == 1)
        .unwrap();
    old.template.as_mut().unwrap()["spec"]["containers"][0]["resources"] = json!({});
    let d = &run(&snapshot)[0];
    let first = &d.revisions[1];
    assert_eq!((first.revision, first.verdict), (1, "denied"));
    assert!(first.denied_by.as_deref().unwrap().starts_with("DSG003"));
    assert!(d.rollback.is_none(), "{:?}", d.rollback);
}

#[test]
fn five_hundred_nodes_with_one_problem_are_one_group() {
    let mut objects = Vec::new();
    for i in 0..500 {
        objects.push(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("n{i:03}"), "labels": {"pool": "p"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}));
    }
    let snapshot_base = cluster(Vec::new(), Vec::new(), json!({}));
    let ds = snapshot_base.daemonsets[0].value().unwrap();
    objects.push(ds);
    for i in 0..500 {
        objects.push(pod(
            &format!("a{i:03}"),
            &format!("n{i:03}"),
            "rev2",
            waiting("ErrImagePull", "not found"),
        ));
    }
    let snapshot = snapshot_of(&objects);
    let d = &run(&snapshot)[0];
    assert_eq!(d.problems.len(), 1, "{:?}", reasons(d));
    assert_eq!(d.problems[0].nodes.len(), 500);
    let text = to_text(&DoctorReport {
        schema_version: 1,
        daemonsets: run(&snapshot),
    });
    assert!(text.lines().count() < 12, "{text}");
    assert!(
        text.contains("500 nodes (n000, n001, n002 and 497 more)"),
        "{text}"
    );
}

/// Asked about a node it does not target, doctor names the nodeSelector entry that fails
/// there and the label command; a node it targets, or no node asked, adds nothing.
#[test]
fn a_node_asked_about_and_not_targeted_says_which_selector_fails() {
    let snapshot = bundle();
    let config = Config::default();
    let asked = ["general-0".to_owned(), "db-0".to_owned()];
    let options = Options {
        config: &config,
        now: snapshot.newest,
        nodes: &asked,
    };
    let (report, _) = diagnose_against(
        &snapshot,
        &inventory_of(&snapshot),
        &|d| d.name == "log-agent",
        &options,
    );
    let logs = &report.daemonsets[0];
    assert_eq!(reasons(logs), ["NoRoom", "NotTargeted"]);
    let not_targeted = &logs.problems[1];
    assert_eq!(not_targeted.nodes, ["general-0"]);
    assert!(!not_targeted.affects_health);
    assert_eq!(
        not_targeted.message,
        "does not target the node: nodeSelector karpenter.sh/nodepool=database: the node has karpenter.sh/nodepool=general"
    );
    assert!(
        not_targeted
            .fix
            .contains("kubectl label node general-0 karpenter.sh/nodepool=database --overwrite"),
        "{}",
        not_targeted.fix
    );
    assert!(
        logs.healthy == run(&snapshot)[0].healthy,
        "health is unchanged"
    );
}

/// The counts of every DaemonSet of `snapshot`, handed in last first: the order they
/// come in must not matter.
fn pod_counts(snapshot: &Snapshot, options: &Options<'_>) -> (Vec<PodCount>, Vec<String>) {
    let inventory = inventory_of(snapshot);
    let mut counter = PodCounter::new(snapshot, &inventory, options);
    for ds in snapshot.daemonsets.iter().rev() {
        counter.add(ds);
    }
    counter.finish()
}

#[test]
fn pod_counts_give_each_reason_once_per_pod_or_podless_node() {
    let snapshot = bundle();
    let config = Config::default();
    let options = Options {
        config: &config,
        now: snapshot.newest,
        nodes: &[],
    };
    let (counted, _) = pod_counts(&snapshot, &options);
    let counts: Vec<(&str, &str, u64)> = counted
        .iter()
        .map(|c| (c.daemonset.as_str(), c.reason, c.pods))
        .collect();
    // node-agent: the OOMKilled pod, the pod on the unreachable node (NotReady there, and
    // misscheduled by its NoSchedule taint), three pods of revision 1 in two groups
    // (counted once each), and the GPU node without a pod.
    assert_eq!(
        counts,
        [
            ("log-agent", "NoRoom", 1),
            ("node-agent", "CrashLoop", 1),
            ("node-agent", "Misscheduled", 1),
            ("node-agent", "NodeNotReady", 1),
            ("node-agent", "OutdatedRevision", 3),
            ("node-agent", "UntoleratedTaint", 1),
        ]
    );
    // A healthy DaemonSet has no series at all.
    let healthy = cluster(
        (0..3)
            .map(|i| pod(&format!("a{i}"), &format!("n{i}"), "rev2", ready()))
            .collect(),
        Vec::new(),
        json!({"type": "RollingUpdate"}),
    );
    let (counted, _) = pod_counts(&healthy, &options);
    assert!(counted.is_empty());
}

#[test]
fn a_pod_is_updated_by_revision_hash_or_by_template_generation() {
    // The DaemonSet controller's IsPodUpdated: hash matches, or the pod's
    // pod-template-generation is the DaemonSet's template generation.
    let with_generation = |name: &str, node: &str, hash: &str, generation: &str| {
        let mut pod = pod(name, node, hash, ready());
        pod["metadata"]["labels"]["pod-template-generation"] = generation.into();
        pod
    };
    let pods = vec![
        with_generation("a0", "n0", "rev2", "2"),
        // An old hash, but the template generation the DaemonSet is at: updated.
        with_generation("a1", "n1", "rev-old", "2"),
        // Neither: outdated.
        with_generation("a2", "n2", "rev1", "1"),
    ];
    let mut snapshot = cluster(pods, Vec::new(), json!({"type": "RollingUpdate"}));
    let mut ds = snapshot.daemonsets[0].value().unwrap();
    ds["metadata"]["annotations"] = json!({"deprecated.daemonset.template.generation": "2"});
    snapshot.daemonsets[0].set_value(&ds);
    let outdated = |snapshot: &Snapshot| -> Vec<String> {
        run(snapshot)[0]
            .problems
            .iter()
            .filter(|p| p.reason == "OutdatedRevision")
            .flat_map(|p| p.pods.clone())
            .collect()
    };
    assert_eq!(outdated(&snapshot), ["a2"]);
    // Without any revision, only a generation that differs says outdated.
    snapshot.revisions.clear();
    assert_eq!(outdated(&snapshot), ["a2"]);
}

#[test]
fn node_health_from_taints_reads_the_lifecycle_controllers_keys() {
    let health = objects::NodeHealth::from_taints(
        "n0",
        [
            "node.kubernetes.io/unreachable",
            "node.kubernetes.io/unreachable",
            "node.kubernetes.io/disk-pressure",
            "node.kubernetes.io/unschedulable",
            "example.com/dedicated",
        ],
    );
    let ready = health.not_ready().expect("unreachable is not Ready");
    assert_eq!((&*ready.status, &*ready.kind), ("Unknown", "Ready"));
    let pressure: Vec<&str> = health.pressure().map(|c| &*c.kind).collect();
    assert_eq!(pressure, ["DiskPressure"]);
    assert!(health.unschedulable);
    assert_eq!(health.conditions.len(), 2);
    let not_ready = objects::NodeHealth::from_taints("n1", ["node.kubernetes.io/not-ready"]);
    assert_eq!(&*not_ready.not_ready().unwrap().status, "False");
    let fine = objects::NodeHealth::from_taints("n2", ["nvidia.com/gpu"]);
    assert!(fine.not_ready().is_none() && fine.conditions.is_empty());
}

/// A pod's place in its node's occupancy is worked out as it is read, except its priority
/// when only its PriorityClass can give it: a class in a later file still counts.
#[test]
fn pods_count_on_their_nodes_with_their_priority_whatever_the_file_order() {
    let workload = |name: &str, node: Option<&str>, priority: Option<i64>, phase: &str| {
        let mut spec = json!({"priorityClassName": "batch",
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "250m"}}}]});
        if let Some(node) = node {
            spec["nodeName"] = json!(node);
        }
        if let Some(priority) = priority {
            spec["priority"] = json!(priority);
        }
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "jobs", "labels": {"app": "job"}},
            "spec": spec, "status": {"phase": phase}})
    };
    let class = json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": "batch"}, "value": 700});
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n0"},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}});
    let snapshot = snapshot_of(&[
        node,
        // Admitted pods carry spec.priority; a hand-written one may not.
        workload("admitted", Some("n0"), Some(500), "Running"),
        workload("by-class", Some("n0"), None, "Running"),
        workload("unbound", None, Some(500), "Pending"),
        workload("finished", Some("n0"), Some(500), "Succeeded"),
        class,
    ]);
    let usage: Vec<&str> = snapshot
        .pods
        .iter()
        .map(|p| match p.usage {
            objects::PodUsage::Counted(..) => "counted",
            objects::PodUsage::Deferred(_) => "deferred",
            objects::PodUsage::NotCounted => "not counted",
        })
        .collect();
    assert_eq!(usage, ["counted", "deferred", "not counted", "not counted"]);
    let inventory = inventory_of(&snapshot);
    let on_node = inventory.occupancy().unwrap().node("n0").unwrap();
    let mut priorities: Vec<(String, i32)> = on_node
        .pods()
        .iter()
        .map(|p| (p.pod.name.to_string(), p.pod.priority))
        .collect();
    priorities.sort();
    assert_eq!(
        priorities,
        [("admitted".to_string(), 500), ("by-class".to_string(), 700)]
    );
}

/// A JSON bundle is split into objects on one thread and decoded in batches on another,
/// each Pod in one pass from its text; a YAML one gives trees. Both must read the same:
/// the bundled cluster twenty times over (its objects cross many batches), in both forms.
#[test]
fn a_json_bundle_reads_as_its_trees_do_across_batches() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/doctor/cluster.yaml");
    let mut objects = Vec::new();
    crate::objects::for_each_object(&path, 1 << 26, &mut Vec::new(), |value, _, _| {
        objects.push(value);
        true
    })
    .unwrap();
    let items: Vec<Value> = (0..20).flat_map(|_| objects.iter().cloned()).collect();
    assert!(items.len() > 256, "{}", items.len());
    let dir = std::env::temp_dir().join(format!("dsguard-doctor-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bundle.json");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    std::fs::write(&file, serde_json::to_string_pretty(&list).unwrap()).unwrap();
    let from_text = Snapshot::load(&file, 1 << 26).unwrap();
    let from_trees = snapshot_of(&items);
    assert_eq!(from_text.pods.len(), from_trees.pods.len());
    assert_eq!(
        format!("{:?}", from_text.pods),
        format!("{:?}", from_trees.pods)
    );
    assert_eq!(
        format!("{:?}", from_text.node_health),
        format!("{:?}", from_trees.node_health)
    );
    assert_eq!(from_text.newest, from_trees.newest);
    assert_eq!(from_text.daemonsets.len(), from_trees.daemonsets.len());
    // The occupancy counted while reading is the one made from the pods afterwards: as
    // read, with a pod on a node the snapshot does not have (its pods do not count), and
    // with a pod whose priority waits for its class (nothing is counted while reading).
    let pod = items.iter().find(|i| i["kind"] == "Pod").unwrap().clone();
    let mut elsewhere = pod.clone();
    elsewhere["metadata"]["name"] = json!("elsewhere");
    elsewhere["spec"]["nodeName"] = json!("no-such-node");
    let mut classless = pod.clone();
    classless["metadata"]["name"] = json!("classless");
    classless["spec"]
        .as_object_mut()
        .unwrap()
        .remove("priority");
    for (extra, counted) in [
        (None, true),
        (Some(elsewhere), true),
        (Some(classless), false),
    ] {
        let mut items = items.clone();
        items.extend(extra);
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
        std::fs::write(&file, serde_json::to_string(&list).unwrap()).unwrap();
        let from_text = Snapshot::load(&file, 1 << 26).unwrap();
        assert_eq!(from_text.counted.is_some(), counted);
        let occupancy = |snapshot: &Snapshot| {
            let inventory = inventory_of(snapshot);
            let occupancy = inventory.occupancy().unwrap();
            let nodes: BTreeMap<String, String> = occupancy
                .nodes()
                .map(|(node, pods)| (node.to_owned(), format!("{:?}", pods.pods())))
                .collect();
            (occupancy.pod_count(), nodes)
        };
        assert_eq!(occupancy(&from_text), occupancy(&snapshot_of(&items)));
    }

    // Text that is not JSON inside an item is an error naming the file and the line, as
    // a cut-short file is; what came before it is not presented as the whole snapshot.
    let broken = dir.join("broken.json");
    std::fs::write(
        &broken,
        "{\"kind\": \"List\", \"items\": [\n{\"kind\": \"Pod\"},\n{\"kind\": \"Pod\", \"metadata\": {\"name\": x}}]}",
    )
    .unwrap();
    let error = Snapshot::load(&broken, 1 << 26).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("{}:3:", broken.display())),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
