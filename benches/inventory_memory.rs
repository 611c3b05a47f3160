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
//! Steady = VmRSS once ready and settled. Relist peak = VmHWM after the peak counter is
//! reset (`/proc/PID/clear_refs`) and a relist is forced (history expired, watches dropped:
//! the next watch gets 410 Gone).

#[path = "../tests/support/fake_apiserver.rs"]
mod fake_apiserver;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_apiserver::{
    DAEMONSETS, FakeApiServer, LIMIT_RANGES, NODES, PRIORITY_CLASSES, synthetic_node,
};
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

async fn ready(client: &reqwest::Client, url: &str) -> bool {
    client
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

async fn measure(nodes: usize) {
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
    let dir = std::env::temp_dir().join(format!("dsguard-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsguard"))
        .args([
            "serve",
            "--cluster",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--dev-ca",
        ])
        .arg(dir.join("ca.crt"))
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let metrics = loop {
        let line = lines
            .next()
            .expect("the server logs its addresses")
            .unwrap();
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
        if entry["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("health and metrics listening")
        {
            break entry["address"].as_str().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let client = reqwest::Client::new();
    let readyz = format!("http://{metrics}/readyz");
    let started = Instant::now();
    while !ready(&client, &readyz).await {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sync_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let steady = status_kib(pid, "VmRSS:");
    let initial_peak = status_kib(pid, "VmHWM:");

    // A relist that finds the cluster unchanged (410 Gone after compaction).
    let (unchanged_peak, unchanged_time) = relist(pid, &api, nodes, |api| {
        api.expire_history();
        api.drop_watches();
    })
    .await;
    // A relist after an outage during which 10% of the nodes were relabelled.
    let (drift_peak, drift_time) = relist(pid, &api, nodes, |api| {
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
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    println!(
        "{nodes:>6} nodes (~{:.1} KB each on the wire, {:.0} MiB listed): synced in {:.1?}; steady RSS {:.1} MiB; initial-sync peak {:.1} MiB",
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
        "{:>6}        relist, 10% relabelled:  {:.1?}, peak {:.1} MiB = {:.2}x steady; RSS afterwards {:.1} MiB",
        "",
        drift_time,
        mib(drift_peak),
        drift_peak as f64 / steady as f64,
        mib(after)
    );
}

/// Forces a relist with `trigger`, waits until its pages are all listed and applied, and
/// returns the peak RSS during it and how long it took.
async fn relist(
    pid: u32,
    api: &FakeApiServer,
    nodes: usize,
    trigger: impl FnOnce(&FakeApiServer),
) -> (u64, Duration) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak RSS counter");
    let lists_before = api.list_requests();
    let pages = nodes.div_ceil(dsguard::cluster::PAGE_SIZE as usize);
    trigger(api);
    let started = Instant::now();
    while api.list_requests() < lists_before + pages {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    (status_kib(pid, "VmHWM:"), took)
}

/// 2,000 DaemonSets made of the corpus ones, as the API server lists them.
fn corpus_daemonsets() -> Vec<serde_json::Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/daemonsets");
    let read = dsguard::manifests::read_paths(&[root], dsguard::input::DEFAULT_MAX_FILE_BYTES);
    let originals: Vec<serde_json::Value> = read
        .manifests
        .iter()
        .filter(|m| m.is_daemonset())
        .map(|m| m.value.clone())
        .collect();
    (0..2_000)
        .map(|i| {
            let mut object = originals[i % originals.len()].clone();
            object["metadata"]["name"] = json!(format!("ds-{i}"));
            object["metadata"]["namespace"] = json!(format!("team-{}", i % 40));
            object["metadata"]["uid"] = json!(format!("00000000-0000-4000-8000-{i:012}"));
            object["metadata"]["managedFields"] = json!([{"manager": "helm", "operation": "Update", "apiVersion": "apps/v1",
                "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}}}]);
            object["status"] = json!({"currentNumberScheduled": 4000, "desiredNumberScheduled": 4000, "numberReady": 4000, "observedGeneration": 3});
            object
        })
        .collect()
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

async fn measure_audit() {
    let nodes = 5_000;
    let api = FakeApiServer::start().await;
    api.preload(NODES, (0..nodes).map(|i| synthetic_node(i, &[])));
    api.preload(PRIORITY_CLASSES, []);
    api.preload(LIMIT_RANGES, []);
    let daemonsets = corpus_daemonsets();
    let count = daemonsets.len();
    api.preload(DAEMONSETS, daemonsets);
    let dir = std::env::temp_dir().join(format!("dsguard-audit-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsguard"))
        .args([
            "serve",
            "--cluster",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--dev-ca",
        ])
        .arg(dir.join("ca.crt"))
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut webhook, mut metrics) = (None, None);
    while webhook.is_none() || metrics.is_none() {
        let line = lines
            .next()
            .expect("the server logs its addresses")
            .unwrap();
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let message = entry["message"].as_str().unwrap_or("");
        let address = entry["address"].as_str().map(str::to_owned);
        if message.starts_with("webhook listening") {
            webhook = address;
        } else if message.starts_with("health and metrics listening") {
            metrics = address;
        }
    }
    let (webhook, metrics) = (webhook.unwrap(), metrics.unwrap());
    std::thread::spawn(move || for _ in lines {});
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
    let start_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let steady = status_kib(pid, "VmRSS:");
    let peak = status_kib(pid, "VmHWM:");

    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
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
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    println!(
        "audit: {nodes} nodes, {count} DaemonSets: all judged {start_time:.1?} after start; steady RSS {:.1} MiB, peak {:.1} MiB",
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
        measure_audit().await;
        return;
    }
    // DSGUARD_MEMORY_NODES="5000" measures one size only.
    let sizes: Vec<usize> = std::env::var("DSGUARD_MEMORY_NODES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![5_000, 50_000]);
    for nodes in sizes {
        measure(nodes).await;
    }
}
