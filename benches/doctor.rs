//! `cargo bench --bench doctor`: `dsguard doctor -A` over a support bundle of 2,000
//! DaemonSets, 5,000 nodes and 150,000 pods (goal: under 2 s and under 500 MiB).
//!
//! The bundle is what `kubectl get ... -A -o json` writes (managedFields hidden, as kubectl
//! does by default), one file per kind, pods split in files of 50,000: 5,000 realistic
//! Nodes (about 19 KB each) in 200 pools; 10 DaemonSets on every node and 1,990 on one pool
//! each (25 nodes), so 99,750 daemon pods, and 50,250 workload pods; two ControllerRevisions
//! per DaemonSet; a rollout in progress on a tenth of them (pods of the older revision
//! left); 1% of the daemon pods in CrashLoopBackOff after an OOMKill, 0.5% Pending with the
//! scheduler's message; Events for those pods and for pods that no longer exist.
//!
//! The release binary runs as a user would run it; time is wall clock, memory the peak
//! resident set (VmHWM, read from /proc every 2 ms while it runs, and once it has written
//! its first output byte). Median of 3 runs per output format. `DSGUARD_DOCTOR_BUNDLE=DIR`
//! writes the bundle there and keeps it, to profile `dsguard doctor` on it.

#[path = "../tests/support/fake_apiserver.rs"]
mod fake_apiserver;
#[path = "support/pods.rs"]
mod pods;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fake_apiserver::synthetic_node;
use pods::{node_name, synthetic_pod};
use serde_json::{Value, json};

const NODES: usize = 5_000;
const POOLS: usize = 200;
const WIDE: usize = 10;
const DAEMONSETS: usize = 2_000;
const PODS: usize = 150_000;

fn list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items})
}

fn write(dir: &Path, name: &str, value: &Value) -> u64 {
    let path = dir.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    serde_json::to_writer(&mut file, value).unwrap();
    file.flush().unwrap();
    std::fs::metadata(&path).unwrap().len()
}

/// The DaemonSet `index`: the first [`WIDE`] on every node, the others on one pool.
fn daemonset(index: usize) -> (Value, String, String, String) {
    let (namespace, name) = if index < WIDE {
        ("kube-system".to_owned(), format!("node-agent-{index}"))
    } else {
        (format!("team-{}", index % 40), format!("collector-{index}"))
    };
    let uid = format!("{index:08x}-3333-4000-8000-{index:012x}");
    let hash = format!("{:x}", 0x5f7d_0000 + index);
    let selector = if index < WIDE {
        json!({"kubernetes.io/os": "linux"})
    } else {
        json!({"team-pool": format!("p{}", index % POOLS)})
    };
    let template = json!({
        "metadata": {"labels": {"app": name}},
        "spec": {
            "nodeSelector": selector,
            "priorityClassName": "system-node-critical",
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "agent", "image": format!("registry.example.com/agents/{name}:v2"),
                "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
                "ports": [{"containerPort": 9100, "name": "metrics"}]}]
        }
    });
    let desired = if index < WIDE { NODES } else { NODES / POOLS };
    let object = json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace, "uid": uid, "generation": 2,
                     "creationTimestamp": "2026-11-01T00:00:00Z",
                     "annotations": {"deprecated.daemonset.template.generation": "2"}},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": template,
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                 "revisionHistoryLimit": 10},
        "status": {"desiredNumberScheduled": desired, "currentNumberScheduled": desired, "numberReady": desired,
                   "updatedNumberScheduled": desired, "numberAvailable": desired, "numberMisscheduled": 0,
                   "observedGeneration": 2}
    });
    (object, namespace, name, hash)
}

fn revision(ds: &Value, number: i64, hash: &str) -> Value {
    let name = ds["metadata"]["name"].as_str().unwrap();
    let mut template = ds["spec"]["template"].clone();
    if number == 1 {
        template["spec"]["containers"][0]["image"] =
            json!(format!("registry.example.com/agents/{name}:v1"));
    }
    json!({
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": format!("{name}-{hash}"), "namespace": ds["metadata"]["namespace"],
                     "labels": {"controller-revision-hash": hash, "app": name},
                     "creationTimestamp": if number == 1 { "2026-11-01T00:00:00Z" } else { "2026-12-01T00:00:00Z" },
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": name,
                                          "uid": ds["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]},
        "data": {"spec": {"template": template}},
        "revision": number
    })
}

/// Daemon pod `serial` of `ds` on `node`, healthy, crash-looping or Pending.
fn daemon_pod(ds: &Value, hash: &str, node: &str, serial: usize) -> Value {
    let name = ds["metadata"]["name"].as_str().unwrap();
    let mut pod = synthetic_pod(serial, node);
    pod["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    pod["metadata"]["name"] = json!(format!("{name}-{serial:05x}"));
    pod["metadata"]["namespace"] = ds["metadata"]["namespace"].clone();
    pod["metadata"]["generateName"] = json!(format!("{name}-"));
    pod["metadata"]["labels"] =
        json!({"app": name, "controller-revision-hash": hash, "pod-template-generation": "2"});
    pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": name,
        "uid": ds["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]);
    pod["spec"]["priority"] = json!(2_000_001_000);
    pod["spec"]["priorityClassName"] = json!("system-node-critical");
    pod["spec"]["containers"][0]["name"] = json!("agent");
    pod["spec"]["containers"][0]["resources"] =
        json!({"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}});
    pod["spec"]["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}});
    match serial % 200 {
        // CrashLoopBackOff after an OOMKill.
        0 | 1 => {
            pod["status"]["conditions"][2] = json!({"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                "message": "containers with unready status: [agent]", "lastTransitionTime": "2026-12-01T00:10:00Z"});
            pod["status"]["containerStatuses"][0] = json!({"name": "agent", "ready": false, "restartCount": 14, "started": false,
                "image": "registry.example.com/agents/x:v2", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 5m0s restarting failed container=agent pod={name}-{serial:05x}")}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "startedAt": "2026-12-01T00:09:00Z", "finishedAt": "2026-12-01T00:09:30Z"}}});
        }
        // Pending: unbound, pinned by affinity, the scheduler's message.
        2 => {
            pod["spec"].as_object_mut().unwrap().remove("nodeName");
            pod["status"] = json!({"phase": "Pending", "qosClass": "Burstable", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable", "lastTransitionTime": "2026-12-01T00:05:00Z",
                "message": "0/5000 nodes are available: 1 Insufficient cpu, 4999 node(s) didn't match Pod's node affinity/selector. preemption: 0/5000 nodes are available: 1 No preemption victims found for incoming pod, 4999 Preemption is not helpful for scheduling."}]});
        }
        _ => {}
    }
    pod
}

fn event(namespace: &str, pod: &str, reason: &str, message: &str, serial: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{pod}.{serial:x}"), "namespace": namespace, "creationTimestamp": "2026-12-01T00:00:00Z"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": pod},
        "reason": reason, "message": message, "type": "Warning", "count": 12,
        "firstTimestamp": "2026-12-01T00:01:00Z", "lastTimestamp": "2026-12-01T00:20:00Z",
        "source": {"component": "kubelet"}})
}

/// Writes the bundle under `dir`; returns its size in bytes.
fn bundle(dir: &Path) -> u64 {
    let mut size = 0;
    let node_names: Vec<String> = (0..NODES).map(node_name).collect();
    let nodes: Vec<Value> = (0..NODES)
        .map(|i| {
            let mut node = synthetic_node(i, &[]);
            node["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("managedFields");
            node["metadata"]["labels"]["team-pool"] = json!(format!("p{}", i % POOLS));
            node
        })
        .collect();
    size += write(dir, "nodes.json", &list(nodes));
    let mut daemonsets = Vec::new();
    let mut revisions = Vec::new();
    let mut pods = Vec::new();
    let mut events = Vec::new();
    let mut serial = 0;
    for index in 0..DAEMONSETS {
        let (ds, namespace, name, hash) = daemonset(index);
        let old_hash = format!("{hash}o");
        revisions.push(revision(&ds, 1, &old_hash));
        revisions.push(revision(&ds, 2, &hash));
        let on: Vec<usize> = if index < WIDE {
            (0..NODES).collect()
        } else {
            (index % POOLS..NODES).step_by(POOLS).collect()
        };
        for (nth, node) in on.into_iter().enumerate() {
            // A tenth of the DaemonSets roll out: their last pods still run revision 1.
            let rolling = index % 10 == 3 && nth % 25 >= 20;
            let pod = daemon_pod(
                &ds,
                if rolling { &old_hash } else { &hash },
                &node_names[node],
                serial,
            );
            if serial % 200 == 0 {
                events.push(event(
                    &namespace,
                    pod["metadata"]["name"].as_str().unwrap(),
                    "BackOff",
                    "Back-off restarting failed container agent",
                    serial,
                ));
            }
            pods.push(pod);
            serial += 1;
        }
        let _ = name;
        daemonsets.push(ds);
    }
    // Events about pods that no longer exist.
    for i in 0..2_000 {
        events.push(event(
            &format!("team-{}", i % 40),
            &format!("gone-{i}"),
            "FailedMount",
            "MountVolume.SetUp failed for volume \"config\" : configmap \"gone\" not found",
            i,
        ));
    }
    let mut workload = 0;
    while pods.len() < PODS {
        let mut pod = synthetic_pod(workload, &node_names[workload % NODES]);
        pod["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        pods.push(pod);
        workload += 1;
    }
    size += write(dir, "daemonsets.json", &list(daemonsets));
    size += write(dir, "controllerrevisions.json", &list(revisions));
    size += write(dir, "events.json", &list(events));
    size += write(
        dir,
        "priorityclasses.json",
        &list(vec![
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": "system-node-critical"}, "value": 2_000_001_000}),
        ]),
    );
    for (part, chunk) in pods.chunks(50_000).enumerate() {
        size += write(dir, &format!("pods-{part}.json"), &list(chunk.to_vec()));
    }
    size
}

fn status_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One run: wall time, peak RSS (KiB), exit code, output bytes.
fn run(dir: &Path, format: &str) -> (Duration, u64, i32, usize) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsguard"))
        .args(["doctor", "-A", "--snapshot"])
        .arg(dir)
        .args(["-o", format])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = status_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let mut stdout = child.stdout.take().unwrap();
    let mut output = Vec::new();
    let mut first = [0u8; 1];
    if stdout.read(&mut first).unwrap() == 1 {
        output.push(first[0]);
        if let Some(kib) = status_kib(pid) {
            peak.fetch_max(kib, Ordering::Relaxed);
        }
    }
    stdout.read_to_end(&mut output).unwrap();
    let status = child.wait().unwrap();
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    (
        took,
        peak.load(Ordering::Relaxed),
        status.code().unwrap_or(-1),
        output.len(),
    )
}

fn main() {
    // DSGUARD_DOCTOR_BUNDLE=DIR writes the bundle there and keeps it (for a profiler).
    let kept = std::env::var_os("DSGUARD_DOCTOR_BUNDLE").map(std::path::PathBuf::from);
    let dir = kept.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("dsguard-doctor-bench-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir).unwrap();
    let size = bundle(&dir);
    println!(
        "bundle: {DAEMONSETS} DaemonSets, {NODES} nodes, {PODS} pods, {:.0} MiB of JSON",
        size as f64 / 1_048_576.0
    );
    for format in ["json", "text"] {
        let mut runs: Vec<(Duration, u64, i32, usize)> =
            (0..3).map(|_| run(&dir, format)).collect();
        runs.sort_by_key(|r| r.0);
        let (took, peak, code, bytes) = runs[1];
        println!(
            "doctor -A -o {format:<4}  wall {took:>8.2?}  peak RSS {:>6.1} MiB  exit {code}  output {:.1} KiB",
            peak as f64 / 1024.0,
            bytes as f64 / 1024.0
        );
    }
    if kept.is_none() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
