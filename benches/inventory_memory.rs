//! `cargo bench --bench inventory_memory`: resident memory of `dsguard serve --cluster`
//! holding 5,000 and 50,000 realistic Nodes (about 20 KB each on the wire: cloud labels,
//! annotations, managedFields, conditions, an image list; a few taint sets), served by the
//! local list+watch server of the tests. Goals (BENCHMARKS.md): under 48 MiB at 5,000 nodes, under
//! 160 MiB at 50,000, and a relist peak under 1.5x the steady state.
//!
//! `-- audit`: `serve --cluster` with 5,000 nodes and 2,000 DaemonSets (the corpus
//! DaemonSets under distinct names, each carrying `managedFields` and `status` as listed
//! objects do): steady RSS once every DaemonSet is judged (goal under 64 MiB), and the
//! admission latency of the 41 KB review idle and while node changes keep the audit
//! judging (goal: unaffected).
//!
//! `-- pods`: the 5,000 nodes and 150,000 realistic assigned Pods (about 3.5 KB each on
//! the wire: managedFields, env, volumes, status with conditions and container statuses),
//! as `serve --cluster` watches them for DSG007. Steady RSS beside the nodes-only run (goal
//! +64 MiB at most) and the relist peak (goal under 1.5x steady): after `410 Gone` that
//! finds nothing changed, and after an outage during which 10% of the pods were replaced
//! by pods of another request.
//!
//! Steady = VmRSS once ready and settled. Relist peak = VmHWM after the peak counter is
//! reset (`/proc/PID/clear_refs`) and a relist is forced (history expired, watches dropped:
//! the next watch gets 410 Gone).

#[path = "support/corpus.rs"]
mod corpus;
#[path = "../tests/support/fake_apiserver.rs"]
mod fake_apiserver;
#[path = "support/pods.rs"]
mod pods;
#[path = "../tests/support/replica.rs"]
mod replica;

use std::time::{Duration, Instant};

use fake_apiserver::{
    DAEMONSETS, FakeApiServer, LIMIT_RANGES, NODES, PODS, POLICY_REPORT_API, PRIORITY_CLASSES,
    synthetic_node,
};
use pods::{node_name, synthetic_pod};
use replica::{Replica, start_replica};
use serde_json::json;

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn measure(nodes: usize, pods: usize) {
    let api = FakeApiServer::start().await;
    let taints: [&[(&str, &str, &str)]; 4] = [
        &[],
        &[("node-role.kubernetes.io/control-plane", "", "NoSchedule")],
        &[("nvidia.com/gpu", "present", "NoSchedule")],
        &[("dedicated", "ingress", "NoSchedule")],
    ];
    let sample = synthetic_node(1, &[]).to_string().len();
    api.preload(
        NODES,
        (0..nodes).map(|i| synthetic_node(i, taints[(i / 7) % 4 * usize::from(i % 10 == 0)])),
    );
    api.preload(PRIORITY_CLASSES, [json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "dsguard-default"}, "value": 1000})]);
    let pod_sample = synthetic_pod(1, &node_name(1)).to_string().len();
    if pods > 0 {
        let names: Vec<String> = (0..nodes).map(node_name).collect();
        api.preload(PODS, (0..pods).map(|i| synthetic_pod(i, &names[i % nodes])));
    }
    // The kinds a 410 Gone relists whose size matters here (the others are a page each).
    let relisted: Vec<&str> = if pods > 0 {
        vec!["nodes", "pods"]
    } else {
        vec!["nodes"]
    };
    let dir = std::env::temp_dir().join(format!("dsguard-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let replica = start_replica(&api, &dir, "memory", &[]);
    let pid = replica.pid();
    let started = Instant::now();
    while !replica.ready().await {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Ready needs the nodes; the pods' first list may still be arriving.
    let never: Vec<(&str, usize)> = relisted.iter().map(|kind| (*kind, 0)).collect();
    wait_synced(&replica, &never).await;
    let sync_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let steady = status_kib(pid, "VmRSS:");
    let initial_peak = status_kib(pid, "VmHWM:");

    // A relist that finds the cluster unchanged (410 Gone after compaction).
    let (unchanged_peak, unchanged_time) = relist(&replica, &api, &relisted, |api| {
        api.expire_history();
        api.drop_watches();
    })
    .await;
    // A relist after an outage during which 10% of the nodes were relabelled, or, with
    // pods, 10% of the pods were replaced by pods that request more.
    // Only the rewritten kind relists: the others' watches resume where they were.
    let drifted = if pods > 0 { "pods" } else { "nodes" };
    let (drift_peak, drift_time) = relist(&replica, &api, &[drifted], |api| {
        if pods > 0 {
            api.rewrite_while_disconnected(PODS, |index, json| {
                (index % 10 == 0).then(|| json.replacen("\"cpu\":\"100m\"", "\"cpu\":\"110m\"", 1))
            });
            return;
        }
        api.rewrite_while_disconnected(NODES, |index, json| {
            (index % 10 == 0).then(|| {
                json.replacen(
                    "\"karpenter.sh/capacity-type\":\"",
                    "\"karpenter.sh/capacity-type\":\"x-",
                    1,
                )
            })
        });
    })
    .await;
    let after = status_kib(pid, "VmRSS:");
    replica.signal("-TERM");
    drop(replica);
    let with_pods = if pods > 0 {
        format!(
            " and {pods} pods (~{:.1} KB each, {:.0} MiB listed)",
            pod_sample as f64 / 1000.0,
            (pod_sample * pods) as f64 / 1_048_576.0
        )
    } else {
        String::new()
    };
    println!(
        "{nodes:>6} nodes (~{:.1} KB each on the wire, {:.0} MiB listed){with_pods}: synced in {:.1?}; steady RSS {:.1} MiB; initial-sync peak {:.1} MiB",
        sample as f64 / 1000.0,
        (sample * nodes) as f64 / 1_048_576.0,
        sync_time,
        mib(steady),
        mib(initial_peak),
    );
    println!(
        "{:>6}        relist, nothing changed: {:.1?}, peak {:.1} MiB = {:.2}x steady",
        "",
        unchanged_time,
        mib(unchanged_peak),
        unchanged_peak as f64 / steady as f64
    );
    println!(
        "{:>6}        relist, 10% {}:  {:.1?}, peak {:.1} MiB = {:.2}x steady; RSS afterwards {:.1} MiB",
        "",
        if pods > 0 {
            "of pods replaced"
        } else {
            "relabelled"
        },
        drift_time,
        mib(drift_peak),
        drift_peak as f64 / steady as f64,
        mib(after)
    );
}

/// How many times the replica logged a full list of `kind` synced.
fn synced_lists(replica: &Replica, kind: &str) -> usize {
    replica
        .logged_lines(&["full list synced", &format!("\"kind\":\"{kind}\"")])
        .len()
}

/// Waits until each of `kinds` has logged one more full list than `before` says.
async fn wait_synced(replica: &Replica, kinds: &[(&str, usize)]) {
    let started = Instant::now();
    while kinds
        .iter()
        .any(|(kind, before)| synced_lists(replica, kind) <= *before)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no full list of {kinds:?} in 5 minutes; warnings: {:?}",
            replica.logged_lines(&["WARN"])
        );
    }
}

/// Forces a relist of `kinds` with `trigger`, waits until each has listed every page and
/// applied it, and returns the peak RSS during it and how long it took.
async fn relist(
    replica: &Replica,
    api: &FakeApiServer,
    kinds: &[&str],
    trigger: impl FnOnce(&FakeApiServer),
) -> (u64, Duration) {
    let pid = replica.pid();
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak RSS counter");
    let before: Vec<(&str, usize)> = kinds
        .iter()
        .map(|kind| (*kind, synced_lists(replica, kind)))
        .collect();
    trigger(api);
    let started = Instant::now();
    wait_synced(replica, &before).await;
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    (status_kib(pid, "VmHWM:"), took)
}

/// 2,000 DaemonSets made of the corpus ones, as the API server lists them (with
/// `managedFields` and `status`).
fn listed_daemonsets() -> Vec<serde_json::Value> {
    let mut daemonsets = corpus::corpus_daemonsets(2_000);
    for object in &mut daemonsets {
        object["metadata"]["managedFields"] = json!([{"manager": "helm", "operation": "Update", "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}}}]);
        object["status"] = json!({"currentNumberScheduled": 4000, "desiredNumberScheduled": 4000, "numberReady": 4000, "observedGeneration": 3});
    }
    daemonsets
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    samples[(samples.len() * p / 100).min(samples.len() - 1)]
}

/// Admission round trips of the 41 KB review over one keep-alive connection.
async fn latencies(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    count: usize,
) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let response = client.post(url).body(body.to_vec()).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let _ = response.bytes().await.unwrap();
        samples.push(started.elapsed());
    }
    samples
}

/// `with_reports`: the PolicyReport API is served, so the (only, hence leading) replica
/// builds and writes one report per namespace and keeps them.
async fn measure_audit(with_reports: bool) {
    let nodes = 5_000;
    let api = FakeApiServer::start().await;
    api.preload(NODES, (0..nodes).map(|i| synthetic_node(i, &[])));
    api.preload(PRIORITY_CLASSES, []);
    api.preload(LIMIT_RANGES, []);
    let daemonsets = listed_daemonsets();
    let count = daemonsets.len();
    api.preload(DAEMONSETS, daemonsets);
    if with_reports {
        api.serve_api(POLICY_REPORT_API);
    }
    let dir = std::env::temp_dir().join(format!("dsguard-audit-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let replica = start_replica(&api, &dir, "audit", &[]);
    let pid = replica.pid();
    let metrics = replica.metrics_address.clone();
    let webhook = replica.webhook_address.clone();
    let plain = reqwest::Client::new();
    let started = Instant::now();
    let judged = |text: &str| text.matches("state=\"targeted\"").count();
    loop {
        let text = match plain.get(format!("http://{metrics}/metrics")).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if judged(&text) == count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while with_reports && api.written("policyreports").len() < 40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let steady = status_kib(pid, "VmRSS:");
    let peak = status_kib(pid, "VmHWM:");

    let ca = std::fs::read(dir.join("audit-ca.crt")).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .http1_only()
        .build()
        .unwrap();
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/update-41k.json"
    ))
    .unwrap();
    let url = format!(
        "https://localhost:{}/validate",
        webhook.rsplit(':').next().unwrap()
    );
    latencies(&client, &url, &body, 200).await;
    let mut idle = latencies(&client, &url, &body, 2_000).await;
    // A node tainted and untainted every 400 ms (past the 300 ms pause): the audit keeps
    // judging all 2,000 DaemonSets while the requests run.
    let churn = {
        let api = api.clone();
        tokio::spawn(async move {
            for round in 0.. {
                let taints: &[(&str, &str, &str)] = if round % 2 == 0 {
                    &[("dedicated", "audit", "NoSchedule")]
                } else {
                    &[]
                };
                api.upsert(NODES, synthetic_node(round % 50, taints));
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut busy = latencies(&client, &url, &body, 2_000).await;
    churn.abort();
    replica.signal("-TERM");
    drop(replica);
    println!(
        "audit: {nodes} nodes, {count} DaemonSets{}: all judged {start_time:.1?} after start; steady RSS {:.1} MiB, peak {:.1} MiB",
        if with_reports {
            ", writing 40 PolicyReports"
        } else {
            ""
        },
        mib(steady),
        mib(peak)
    );
    println!(
        "audit: 41 KB validate round trip idle p50 {:.0?} p99 {:.0?}; while the audit re-judges p50 {:.0?} p99 {:.0?}",
        percentile(&mut idle, 50),
        percentile(&mut idle, 99),
        percentile(&mut busy, 50),
        percentile(&mut busy, 99)
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "audit") {
        measure_audit(false).await;
        measure_audit(true).await;
        return;
    }
    if std::env::args().any(|a| a == "pods") {
        measure(5_000, 0).await;
        measure(5_000, 150_000).await;
        return;
    }
    // DSGUARD_MEMORY_NODES="5000" measures one size only.
    let sizes: Vec<usize> = std::env::var("DSGUARD_MEMORY_NODES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![5_000, 50_000]);
    for nodes in sizes {
        measure(nodes, 0).await;
    }
}
