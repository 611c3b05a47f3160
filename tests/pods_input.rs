//! `--pods` and `--pdbs` given bad input: a very large pod list, pods on nodes that do not
//! exist, duplicate uids, negative and absurd quantities, PriorityClasses nobody has, files
//! that hold no pod. Each is said once (with a count and a few examples), what can be read
//! still counts, and nothing is guessed.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{Value, json};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pods-input-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn nodes(count: usize) -> Value {
    let items: Vec<Value> = (0..count)
        .map(|i| {
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("n{i}")},
                   "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}})
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

fn pod(name: &str, node: &str, cpu: &str, extra: Value) -> Value {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "apps", "uid": format!("uid-{name}")},
        "spec": {"nodeName": node, "priority": 0,
                 "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
        "status": {"phase": "Running"}});
    if let (Value::Object(pod), Value::Object(extra)) = (&mut pod, extra) {
        for (key, value) in extra {
            match (pod.get_mut(&key), value) {
                (Some(Value::Object(into)), Value::Object(more)) => into.extend(more),
                (_, value) => {
                    pod.insert(key, value);
                }
            }
        }
    }
    pod
}

const DAEMONSET: &str = r#"{"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "ops"},
  "spec": {"template": {"spec": {"priorityClassName": "system-node-critical", "containers": [{"name": "c", "image": "i",
    "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "500m", "memory": "64Mi"}}}]}}}}"#;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn coverage(dir: &Path, extra: &[&str]) -> Run {
    let manifest = dir.join("ds.json");
    std::fs::write(&manifest, DAEMONSET).unwrap();
    let output = Command::cargo_bin("dsguard")
        .unwrap()
        .arg("coverage")
        .args(["-o", "json"])
        .args(extra)
        .arg(&manifest)
        .output()
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn bad_pods_are_said_once_each_and_the_good_ones_still_count() {
    let dir = scratch("bad");
    std::fs::write(dir.join("nodes.json"), nodes(3).to_string()).unwrap();
    std::fs::write(
        dir.join("classes.json"),
        json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "batch"}, "value": 10}]})
        .to_string(),
    )
    .unwrap();
    let mut pods = vec![
        pod("full", "n0", "3800m", json!({})),
        // The same uid again (a file concatenated twice): the first is kept once.
        pod("full", "n0", "3800m", json!({})),
        pod("ghost", "n9", "1", json!({})),
        pod("negative", "n1", "-1", json!({})),
        pod("absurd", "n1", "1e400", json!({})),
        pod(
            "unknown-class",
            "n2",
            "3900m",
            json!({"spec": {"priority": null, "priorityClassName": "nope"}}),
        ),
        pod(
            "classed",
            "n2",
            "100m",
            json!({"spec": {"priority": null, "priorityClassName": "batch"}}),
        ),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
    ];
    for i in 0..7 {
        pods.push(pod(
            &format!("lost-{i}"),
            &format!("gone-{i}"),
            "1m",
            json!({}),
        ));
    }
    std::fs::write(
        dir.join("pods.json"),
        json!({"apiVersion": "v1", "kind": "List", "items": pods}).to_string(),
    )
    .unwrap();
    let nodes_file = dir.join("nodes.json").display().to_string();
    let pods_file = dir.join("pods.json").display().to_string();
    let classes_file = dir.join("classes.json").display().to_string();
    let run = coverage(
        &dir,
        &[
            "--nodes",
            &nodes_file,
            "--pods",
            &pods_file,
            "--priorityclasses",
            &classes_file,
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for said in [
        "--pods: bound to a node the node inventory does not have, not counted: apps/ghost",
        "and 3 more",
        "--pods: the same pod twice: uid uid-full again at apps/full",
        "--pods: resources the API server would not have stored, not counted: apps/negative",
        "apps/absurd",
        "--pods: no spec.priority and a PriorityClass the cluster does not have (admission would have refused the pod), not counted: nope (apps/unknown-class",
        "--pods: not a Pod, skipped",
    ] {
        assert!(run.stderr.contains(said), "{said:?} in\n{}", run.stderr);
    }
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    // n0 full (the duplicate counted once: 3800m + 500m > 4000m, and at priority 0 it is
    // preempted); n1 and n2 fit (their unreadable and unknown-class pods not counted).
    assert_eq!(
        report["daemonsets"][0]["occupancy"],
        json!({"fits": ["n1", "n2"],
               "preempts": [{"node": "n0", "victims": [{"namespace": "apps", "name": "full", "priority": 0, "pdbViolated": false}]}],
               "pending": []})
    );
}

#[test]
fn pods_without_nodes_budgets_without_pods_and_files_without_pods_are_usage_errors() {
    let dir = scratch("usage");
    std::fs::write(dir.join("nodes.json"), nodes(1).to_string()).unwrap();
    std::fs::write(
        dir.join("empty.json"),
        r#"{"apiVersion": "v1", "kind": "List", "items": []}"#,
    )
    .unwrap();
    let nodes_file = dir.join("nodes.json").display().to_string();
    let empty = dir.join("empty.json").display().to_string();
    let no_pods = coverage(&dir, &["--nodes", &nodes_file, "--pods", &empty]);
    assert_eq!(no_pods.code, Some(2));
    assert!(
        no_pods.stderr.contains("holds no Pod"),
        "{}",
        no_pods.stderr
    );
    let budgets_alone = coverage(&dir, &["--nodes", &nodes_file, "--pdbs", &empty]);
    assert_eq!(budgets_alone.code, Some(2));
    assert!(
        budgets_alone.stderr.contains("give the pods too"),
        "{}",
        budgets_alone.stderr
    );
    let lint = Command::cargo_bin("dsguard")
        .unwrap()
        .args(["lint", "--pods", &empty])
        .arg(dir.join("nodes.json"))
        .output()
        .unwrap();
    assert_eq!(lint.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&lint.stderr).contains("give the nodes too"),
        "{}",
        String::from_utf8_lossy(&lint.stderr)
    );
}

/// 200,000 pods (a 30 MB list) on 2,000 nodes: read as a stream, counted exactly.
#[test]
fn two_hundred_thousand_pods_are_read_and_counted() {
    let dir = scratch("large");
    std::fs::write(dir.join("nodes.json"), nodes(2_000).to_string()).unwrap();
    let path = dir.join("pods.json");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    write!(file, r#"{{"apiVersion":"v1","kind":"List","items":["#).unwrap();
    for i in 0..200_000 {
        if i > 0 {
            write!(file, ",").unwrap();
        }
        write!(
            file,
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p{i}","namespace":"ns{}","uid":"u{i}","labels":{{"app":"a{}"}}}},"spec":{{"nodeName":"n{}","priority":0,"containers":[{{"name":"c","resources":{{"requests":{{"cpu":"{}m"}}}}}}]}},"status":{{"phase":"Running"}}}}"#,
            i % 50,
            i / 20,
            i % 2_000,
            // Node n0's 100 pods take 3600m: no room for 500m there beside them.
            if i % 2_000 == 0 { 36 } else { 10 }
        )
        .unwrap();
    }
    write!(file, "]}}").unwrap();
    drop(file);
    let nodes_file = dir.join("nodes.json").display().to_string();
    let pods_file = path.display().to_string();
    let run = coverage(&dir, &["--nodes", &nodes_file, "--pods", &pods_file]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains("--pods:"), "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let occupancy = &report["daemonsets"][0]["occupancy"];
    assert_eq!(occupancy["fits"].as_array().unwrap().len(), 1_999);
    assert_eq!(occupancy["preempts"][0]["node"], "n0");
    // Preemption takes the fewest pods that make room, least important first: 3600m +
    // 500m exceeds 4000m by 100m, so 3 pods of 36m.
    assert_eq!(
        occupancy["preempts"][0]["victims"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}
