//! `dsguard doctor` end to end: the bundled support bundle read from a file and the same
//! objects served by the local list+watch server (`--cluster`) give the same diagnosis;
//! exit codes 0/1/2.

mod common;

#[path = "support/fake_apiserver.rs"]
mod fake_apiserver;

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

#[tokio::test]
async fn the_cluster_gives_the_diagnosis_the_bundle_gives() {
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
