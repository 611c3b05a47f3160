//! `dsguard doctor` end to end: the bundled support bundle read from a file and the same
//! objects served by the local list+watch server (`--cluster`) give the same diagnosis;
//! exit codes 0/1/2; `serve --cluster` exports that diagnosis as `dsguard_daemonset_pods`.

mod common;

#[path = "support/fake_apiserver.rs"]
mod fake_apiserver;
#[path = "support/replica.rs"]
mod replica;

use std::path::{Path, PathBuf};

use fake_apiserver::{
    CONTROLLER_REVISIONS, DAEMONSETS, EVENTS, FakeApiServer, NODES, PDBS, PODS, PRIORITY_CLASSES,
};
use serde_json::Value;

const BUNDLE: &str = "examples/doctor/cluster.yaml";

fn dsguard(args: &[&str], kubeconfig: Option<&Path>) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dsguard"));
    command.args(args).env_remove("KUBERNETES_SERVICE_HOST");
    match kubeconfig {
        Some(path) => command.env("KUBECONFIG", path),
        None => command.env("KUBECONFIG", "/nonexistent/kubeconfig"),
    };
    command.output().unwrap()
}

fn json_of(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn bundle_objects() -> Vec<Value> {
    let text = std::fs::read_to_string(BUNDLE).unwrap();
    let list: Value = dsguard::yaml::parse_stream(&text)
        .into_iter()
        .next()
        .unwrap()
        .unwrap()
        .value;
    list["items"].as_array().unwrap().clone()
}

#[test]
fn the_bundle_is_diagnosed_and_unhealthy_exits_1() {
    let text = dsguard(&["doctor", "--snapshot", BUNDLE, "-A"], None);
    assert_eq!(
        text.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("monitoring/node-agent: unhealthy"),
        "{stdout}"
    );
    assert!(
        stdout.contains("kubectl rollout undo daemonset/node-agent -n monitoring --to-revision=1"),
        "{stdout}"
    );
    let json = json_of(&dsguard(
        &["doctor", "--snapshot", BUNDLE, "-A", "-o", "json"],
        None,
    ));
    assert_eq!(json["schemaVersion"], 1);
    let names: Vec<&str> = json["daemonsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["log-agent", "node-agent"]);
    // One asked for by name; another namespace's is not shown.
    let one = json_of(&dsguard(
        &[
            "doctor",
            "--snapshot",
            BUNDLE,
            "logging/log-agent",
            "-o",
            "json",
        ],
        None,
    ));
    assert_eq!(one["daemonsets"].as_array().unwrap().len(), 1);
    assert_eq!(one["daemonsets"][0]["problems"][0]["reason"], "NoRoom");
}

/// Pods in JSON are decoded straight from their text, everything else (and YAML) through
/// a tree: the same bundle in either form, as a List, as an array or one object per line,
/// gives the same report.
#[test]
fn a_json_bundle_is_diagnosed_as_its_yaml_is() {
    let dir = common::scratch_dir("doctor", "json-bundle");
    let items = bundle_objects();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let forms = [
        ("list.json", serde_json::to_string_pretty(&list).unwrap()),
        ("array.json", serde_json::to_string(&items).unwrap()),
        (
            "lines.json",
            items
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ];
    let from_yaml = dsguard(&["doctor", "--snapshot", BUNDLE, "-A", "-o", "json"], None);
    assert!(!from_yaml.stdout.is_empty());
    for (name, text) in forms {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let from_json = dsguard(
            &[
                "doctor",
                "--snapshot",
                path.to_str().unwrap(),
                "-A",
                "-o",
                "json",
            ],
            None,
        );
        assert_eq!(from_json.status.code(), from_yaml.status.code(), "{name}");
        assert_eq!(
            String::from_utf8_lossy(&from_json.stdout),
            String::from_utf8_lossy(&from_yaml.stdout),
            "{name}"
        );
        assert_eq!(
            String::from_utf8_lossy(&from_json.stderr),
            String::from_utf8_lossy(&from_yaml.stderr),
            "{name}"
        );
    }
    // A pod whose fields have the wrong shape is named and skipped, as from YAML.
    let mut broken = items.clone();
    let pod = broken.iter_mut().find(|i| i["kind"] == "Pod").unwrap();
    pod["spec"]["containers"] = serde_json::json!("not a list");
    let path = dir.join("broken.json");
    std::fs::write(&path, serde_json::to_string(&broken).unwrap()).unwrap();
    let output = dsguard(
        &["doctor", "--snapshot", path.to_str().unwrap(), "-A"],
        None,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("a Pod that cannot be read, skipped"),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let none = dsguard(&["doctor"], None);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("--snapshot FILE|DIR"));
    let unknown = dsguard(&["doctor", "--snapshot", BUNDLE, "ops/nope"], None);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("daemonset ops/nope is not in the snapshot"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    let bad_now = dsguard(
        &["doctor", "--snapshot", BUNDLE, "-A", "--now", "yesterday"],
        None,
    );
    assert_eq!(bad_now.status.code(), Some(2));
    let no_node = dsguard(
        &["doctor", "--snapshot", BUNDLE, "-A", "--node", "gpu-9"],
        None,
    );
    assert_eq!(no_node.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&no_node.stderr).contains("node gpu-9 is not in the snapshot"),
        "{}",
        String::from_utf8_lossy(&no_node.stderr)
    );
}

#[test]
fn a_healthy_daemonset_exits_0() {
    let dir = common::scratch_dir("doctor", "healthy");
    // The bundle without its broken DaemonSets, plus one healthy one.
    let mut objects: Vec<Value> = bundle_objects()
        .into_iter()
        .filter(|o| o["kind"] == "Node")
        .collect();
    objects.push(serde_json::json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "fine", "namespace": "ops", "uid": "u", "generation": 1},
        "spec": {"template": {"spec": {"nodeSelector": {"karpenter.sh/nodepool": "database"},
            "containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}}},
        "status": {"desiredNumberScheduled": 1, "currentNumberScheduled": 1, "numberReady": 1,
                   "updatedNumberScheduled": 1, "numberAvailable": 1, "observedGeneration": 1}}));
    objects.push(serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "fine-1", "namespace": "ops", "ownerReferences": [{"kind": "DaemonSet", "name": "fine", "uid": "u", "controller": true}]},
        "spec": {"nodeName": "db-0"},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}));
    let path: PathBuf = dir.join("bundle.json");
    std::fs::write(
        &path,
        serde_json::json!({"kind": "List", "apiVersion": "v1", "items": objects}).to_string(),
    )
    .unwrap();
    let run = dsguard(
        &["doctor", "--snapshot", path.to_str().unwrap(), "-n", "ops"],
        None,
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("ops/fine: healthy"));
}

/// The local API server, serving every object of the bundle.
async fn serving_the_bundle() -> FakeApiServer {
    let api = FakeApiServer::start().await;
    for object in bundle_objects() {
        let path = match object["kind"].as_str().unwrap() {
            "Node" => NODES,
            "DaemonSet" => DAEMONSETS,
            "Pod" => PODS,
            "ControllerRevision" => CONTROLLER_REVISIONS,
            "Event" => EVENTS,
            "PriorityClass" => PRIORITY_CLASSES,
            "PodDisruptionBudget" => PDBS,
            other => panic!("{other}"),
        };
        api.preload(path, [object]);
    }
    api
}

#[tokio::test]
async fn the_cluster_gives_the_diagnosis_the_bundle_gives() {
    let api = serving_the_bundle().await;
    let dir = common::scratch_dir("doctor", "cluster");
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let live = tokio::task::spawn_blocking(move || {
        dsguard(
            &["doctor", "--cluster", "-A", "-o", "json"],
            Some(&kubeconfig),
        )
    })
    .await
    .unwrap();
    assert_eq!(
        live.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    let offline = dsguard(&["doctor", "--snapshot", BUNDLE, "-A", "-o", "json"], None);
    assert_eq!(json_of(&live), json_of(&offline));
}

/// A support bundle cut short, in YAML or JSON: exit 2 and the file, line and a hint;
/// never a crash, never a partial diagnosis presented as whole.
#[test]
fn a_truncated_bundle_is_an_error_that_says_where_and_why() {
    let dir = common::scratch_dir("doctor", "truncated");
    let text = std::fs::read_to_string(BUNDLE).unwrap();
    let yaml = dir.join("cut.yaml");
    std::fs::write(&yaml, &text[..text.len() / 2]).unwrap();
    let json = dir.join("cut.json");
    let full = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": bundle_objects()})
        .to_string();
    std::fs::write(&json, &full[..full.len() / 2]).unwrap();
    for path in [&yaml, &json] {
        let output = dsguard(
            &["doctor", "-A", "--snapshot", path.to_str().unwrap()],
            None,
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
        assert!(stderr.contains("is the file cut short?"), "{stderr}");
        assert!(
            output.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

/// Objects of other kinds, pods without owners or on nodes that do not exist, and Events
/// about objects long gone change nothing in the diagnosis; the skipped kinds are named.
#[test]
fn strays_in_a_bundle_change_nothing_and_unknown_kinds_are_named() {
    let dir = common::scratch_dir("doctor", "strays");
    let mut text = std::fs::read_to_string(BUNDLE).unwrap();
    text.push_str(
        r#"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: monitoring}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
apiVersion: v1
kind: Pod
metadata: {name: bare, namespace: default}
spec: {nodeName: general-0, containers: [{name: c, image: busybox}]}
status: {phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: lost, namespace: default}
spec: {nodeName: no-such-node, containers: [{name: c, image: busybox}]}
status: {phase: Running}
---
apiVersion: v1
kind: Event
metadata: {name: gone.1, namespace: monitoring}
involvedObject: {kind: Pod, namespace: monitoring, name: node-agent-long-gone}
reason: BackOff
type: Warning
message: Back-off restarting failed container agent
---
apiVersion: v1
kind: Event
metadata: {name: gone.2, namespace: monitoring}
involvedObject: {kind: DaemonSet, namespace: monitoring, name: deleted-agent}
reason: FailedCreate
type: Warning
message: 'Error creating: pods "deleted-agent-x" is forbidden'
"#,
    );
    let strays = dir.join("bundle.yaml");
    std::fs::write(&strays, text).unwrap();
    let plain = dsguard(&["doctor", "-A", "--snapshot", BUNDLE, "-o", "json"], None);
    let with = dsguard(
        &[
            "doctor",
            "-A",
            "--snapshot",
            strays.to_str().unwrap(),
            "-o",
            "json",
        ],
        None,
    );
    assert_eq!(with.status.code(), plain.status.code());
    assert_eq!(json_of(&with), json_of(&plain));
    let stderr = String::from_utf8_lossy(&with.stderr);
    assert!(
        stderr.contains(
            "2 objects of kinds doctor does not read, skipped: ConfigMap (1), Widget (1)"
        ),
        "{stderr}"
    );
}

/// Pods per DaemonSet and reason as `doctor -o json` gives them: distinct pods, or nodes
/// for a problem without a pod.
fn counted(report: &Value) -> std::collections::BTreeMap<String, u64> {
    let mut found: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for ds in report["daemonsets"].as_array().unwrap() {
        for problem in ds["problems"].as_array().unwrap() {
            let key = format!(
                "{{daemonset=\"{}\",namespace=\"{}\",reason=\"{}\"}}",
                ds["name"].as_str().unwrap(),
                ds["namespace"].as_str().unwrap(),
                problem["reason"].as_str().unwrap()
            );
            let pods = problem["pods"].as_array().unwrap();
            let members = if pods.is_empty() {
                problem["nodes"].as_array().unwrap()
            } else {
                pods
            };
            found
                .entry(key)
                .or_default()
                .extend(members.iter().map(|m| m.to_string()));
        }
    }
    found
        .into_iter()
        .map(|(k, v)| (k, v.len() as u64))
        .collect()
}

/// What a replica exports of `dsguard_daemonset_pods`, by label set (labels sorted).
fn exported(metrics: &str) -> std::collections::BTreeMap<String, u64> {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("dsguard_daemonset_pods{"))
        .filter_map(|rest| {
            let (labels, value) = rest.rsplit_once("} ")?;
            let mut labels: Vec<&str> = labels.split(',').collect();
            labels.sort();
            Some((format!("{{{}}}", labels.join(",")), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn serve_exports_the_doctors_reasons_and_follows_the_pods() {
    let api = serving_the_bundle().await;
    // The pass lists only the DaemonSet controller's pods: a pod of another owner that
    // carries no pod-template-generation label is never asked for.
    let dir = common::scratch_dir("doctor", "serve");
    // More DaemonSets than one page of the list (50), without pods: the pass diagnoses the
    // DaemonSets page by page as they are listed, and counts every page.
    let template = bundle_objects()
        .into_iter()
        .find(|o| o["kind"] == "DaemonSet")
        .unwrap();
    let copies: Vec<Value> = (0..70)
        .map(|i| {
            let mut copy = template.clone();
            copy["metadata"]["namespace"] = "paged".into();
            copy["metadata"]["name"] = format!("copy-{i:02}").into();
            copy["metadata"]["uid"] = format!("00000000-0000-4000-9000-{i:012}").into();
            copy
        })
        .collect();
    api.preload(DAEMONSETS, copies.clone());
    let snapshot = dir.join("snapshot");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::copy(BUNDLE, snapshot.join("cluster.yaml")).unwrap();
    std::fs::write(
        snapshot.join("copies.json"),
        serde_json::json!({"kind": "List", "items": copies}).to_string(),
    )
    .unwrap();
    let leader = replica::start_replica(&api, &dir, "replica-a", &["--pod-health-interval", "10s"]);
    let offline = json_of(&dsguard(
        &[
            "doctor",
            "--snapshot",
            snapshot.to_str().unwrap(),
            "-A",
            "-o",
            "json",
        ],
        None,
    ));
    let expected = counted(&offline);
    let paged = expected
        .keys()
        .filter(|k| k.contains("namespace=\"paged\""))
        .count();
    assert!(paged >= 70, "every copy has a problem: {expected:?}");
    assert!(
        expected.len() >= 5 + paged,
        "the bundle has problems of several reasons: {expected:?}"
    );
    common::eventually("the leader exports the doctor's counts", async || {
        exported(&leader.metrics().await) == expected
    })
    .await;
    // Only the leader lists and exports.
    let follower =
        replica::start_replica(&api, &dir, "replica-b", &["--pod-health-interval", "10s"]);
    common::eventually("the follower is ready", async || follower.ready().await).await;
    assert!(!follower.leading().await);
    assert!(exported(&follower.metrics().await).is_empty());

    // The OOMKilled pod recovers on the next pass: its reason leaves no series behind.
    let mut pods: Vec<Value> = bundle_objects()
        .into_iter()
        .filter(|o| o["kind"] == "Pod" && o["metadata"]["name"] == "node-agent-x7k2p")
        .collect();
    let mut recovered = pods.remove(0);
    recovered["status"] = serde_json::json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "agent", "ready": true, "restartCount": 4, "state": {"running": {}}}]
    });
    api.upsert(PODS, recovered);
    let crash = "{daemonset=\"node-agent\",namespace=\"monitoring\",reason=\"CrashLoop\"}";
    assert_eq!(expected.get(crash), Some(&1), "{expected:?}");
    common::eventually("the CrashLoop series goes", async || {
        let now = exported(&leader.metrics().await);
        !now.is_empty() && !now.contains_key(crash)
    })
    .await;
}
