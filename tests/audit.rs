//! The live audit of `serve --cluster`, with the real binary against the local API server
//! (tests/support/fake_apiserver.rs): a pool tainted with one update per node gives one
//! `CoverageLost` Event and the metric drops; untainted, `CoverageRestored` and the metric
//! comes back; PolicyReports follow the findings; two replicas share one Lease and only
//! the leader writes; SIGTERM hands the Lease over and a killed leader is replaced.

mod common;

#[path = "support/fake_apiserver.rs"]
mod fake_apiserver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::eventually;
use fake_apiserver::{DAEMONSETS, FakeApiServer, LIMIT_RANGES, NODES, POLICY_REPORT_API};
use serde_json::{Value, json};

fn node(index: usize, pool: &str, tainted: bool) -> Value {
    let taints = if tainted {
        json!([{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}])
    } else {
        json!([])
    };
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": format!("{pool}-{index}"), "labels": {"kubernetes.io/os": "linux", "karpenter.sh/nodepool": pool}},
           "spec": {"taints": taints},
           "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}}})
}

fn infra_nodes(tainted: bool) -> impl Iterator<Item = Value> {
    (0..3).map(move |i| node(i, "infra", tainted))
}

fn daemonset(namespace: &str, name: &str, limits: bool) -> Value {
    let resources = if limits {
        json!({"limits": {"cpu": "100m", "memory": "64Mi"}})
    } else {
        json!({})
    };
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
           "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}"),
                        "managedFields": [{"manager": "kubectl"}],
                        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
           "spec": {"selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"priorityClassName": "system-node-critical",
                                          "containers": [{"name": "c", "image": "i", "resources": resources}]}}},
           "status": {"desiredNumberScheduled": 7}})
}

/// A `dsguard serve --cluster` process and what it has logged.
struct Replica {
    child: Child,
    metrics_address: String,
    logs: Arc<Mutex<Vec<String>>>,
}

fn start_replica(api: &FakeApiServer, dir: &Path, name: &str) -> Replica {
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
            "--leader-lease-duration",
            "3s",
            "--discovery-interval",
            "200ms",
            "--dev-ca",
        ])
        .arg(dir.join(format!("{name}-ca.crt")))
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAME", name)
        .env("POD_NAMESPACE", "dsguard-system")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let metrics_address = loop {
        let line = lines
            .next()
            .expect("the server logs its addresses")
            .unwrap();
        let entry: Value = serde_json::from_str(&line).unwrap();
        if entry["message"]
            .as_str()
            .unwrap()
            .starts_with("health and metrics listening")
        {
            break entry["address"].as_str().unwrap().to_owned();
        }
    };
    let logs = Arc::new(Mutex::new(Vec::new()));
    let kept = logs.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    Replica {
        child,
        metrics_address,
        logs,
    }
}

impl Replica {
    async fn metrics(&self) -> String {
        match reqwest::get(format!("http://{}/metrics", self.metrics_address)).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The value of one series (`name{labels}`), if exported.
    async fn series(&self, series: &str) -> Option<f64> {
        let text = self.metrics().await;
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    async fn nodes(&self, name: &str, state: &str) -> Option<f64> {
        let namespace = if name == "bare" { "team" } else { "logging" };
        self.series(&format!(
            "dsguard_daemonset_nodes{{namespace=\"{namespace}\",daemonset=\"{name}\",state=\"{state}\"}}"
        ))
        .await
    }

    async fn leading(&self) -> bool {
        self.series("dsguard_leader").await == Some(1.0)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn events(api: &FakeApiServer, reason: &str) -> Vec<Value> {
    api.written("events")
        .into_iter()
        .filter(|e| e["reason"] == reason && e["regarding"]["name"] == "shipper")
        .collect()
}

fn lease_holder(api: &FakeApiServer) -> Option<String> {
    api.written("leases")
        .first()
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
}

fn scratch(name: &str) -> PathBuf {
    common::scratch_dir("audit", name)
}

async fn cluster() -> FakeApiServer {
    let api = FakeApiServer::start().await;
    api.preload(
        NODES,
        (0..4)
            .map(|i| node(i, "general", false))
            .chain(infra_nodes(false)),
    );
    api.preload(LIMIT_RANGES, []);
    api.preload(
        DAEMONSETS,
        [
            daemonset("logging", "shipper", true),
            daemonset("team", "bare", false),
        ],
    );
    api.serve_api(POLICY_REPORT_API);
    api
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tainted_pool_is_one_coverage_lost_event_and_untainting_restores_it() {
    let api = cluster().await;
    let dir = scratch("taint");
    let a = start_replica(&api, &dir, "replica-a");
    eventually("replica-a judges the DaemonSets and leads", async || {
        a.nodes("shipper", "runnable").await == Some(7.0) && a.leading().await
    })
    .await;
    // Every state is exported, 0 included.
    assert_eq!(a.nodes("shipper", "blocked").await, Some(0.0));
    assert_eq!(a.nodes("shipper", "unfit").await, Some(0.0));
    assert_eq!(a.nodes("shipper", "targeted").await, Some(7.0));
    assert_eq!(
        a.series("dsguard_daemonset_findings{namespace=\"team\",daemonset=\"bare\",rule=\"DSG003\",severity=\"deny\"}")
            .await,
        Some(1.0)
    );

    // The report of the namespace with a finding.
    eventually("the team namespace's PolicyReport", async || {
        !api.written("policyreports").is_empty()
    })
    .await;
    let reports = api.written("policyreports");
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = &reports[0];
    assert_eq!(report["metadata"]["namespace"], "team");
    assert_eq!(report["metadata"]["name"], "dsguard");
    assert_eq!(report["summary"]["fail"], 1);
    assert_eq!(report["results"][0]["rule"], "DSG003");
    assert_eq!(report["results"][0]["resources"][0]["uid"], "uid-bare");

    let b = start_replica(&api, &dir, "replica-b");
    eventually("replica-b judges too, without leading", async || {
        b.nodes("shipper", "runnable").await == Some(7.0)
    })
    .await;
    assert!(!b.leading().await);
    assert_eq!(lease_holder(&api).as_deref(), Some("replica-a"));

    // `kubectl taint nodes -l karpenter.sh/nodepool=infra …`: one update per node.
    for tainted in infra_nodes(true) {
        api.upsert(NODES, tainted);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eventually("both replicas see the pool blocked", async || {
        a.nodes("shipper", "blocked").await == Some(3.0)
            && b.nodes("shipper", "blocked").await == Some(3.0)
    })
    .await;
    assert_eq!(a.nodes("shipper", "runnable").await, Some(4.0));
    eventually("a CoverageLost Event", async || {
        !events(&api, "CoverageLost").is_empty()
    })
    .await;
    // Time for a second writer or a per-node Event to show up, if there were one.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let lost = events(&api, "CoverageLost");
    assert_eq!(lost.len(), 1, "{lost:#?}");
    let event = &lost[0];
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reportingInstance"], "replica-a");
    assert_eq!(event["regarding"]["uid"], "uid-shipper");
    assert_eq!(event["metadata"]["namespace"], "logging");
    let note = event["note"].as_str().unwrap();
    assert!(
        note.contains("3 nodes in pool infra") && note.contains("dedicated=infra:NoSchedule"),
        "{note}"
    );
    assert!(event["series"].is_null());

    for untainted in infra_nodes(false) {
        api.upsert(NODES, untainted);
    }
    eventually("a CoverageRestored Event and the metric back", async || {
        !events(&api, "CoverageRestored").is_empty()
            && a.nodes("shipper", "runnable").await == Some(7.0)
    })
    .await;
    let restored = events(&api, "CoverageRestored");
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0]["type"], "Normal");
    assert!(
        restored[0]["note"]
            .as_str()
            .unwrap()
            .contains("3 nodes in pool infra")
    );

    // A DaemonSet deleted: its series and its report go.
    api.delete(DAEMONSETS, "team/bare");
    eventually(
        "the deleted DaemonSet's series and report gone",
        async || {
            a.nodes("bare", "targeted").await.is_none() && api.written("policyreports").is_empty()
        },
    )
    .await;
    assert!(
        !a.metrics().await.contains("daemonset=\"bare\""),
        "no series of a deleted DaemonSet"
    );

    // Only the leader wrote: every Event came from replica-a.
    assert!(
        api.written("events")
            .iter()
            .all(|e| e["reportingInstance"] == "replica-a")
    );
    drop(b);
    let logs = a.logs.lock().unwrap().clone();
    assert!(
        logs.iter().any(|l| l.contains("coverage lost")),
        "the transition is logged too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_the_lease_over_and_a_killed_leader_is_replaced() {
    let api = cluster().await;
    let dir = scratch("leader");
    let a = start_replica(&api, &dir, "replica-a");
    eventually("replica-a leads", async || a.leading().await).await;
    let b = start_replica(&api, &dir, "replica-b");
    eventually("replica-b is ready to judge", async || {
        b.nodes("shipper", "runnable").await == Some(7.0)
    })
    .await;
    assert!(!b.leading().await);

    a.signal("-TERM");
    eventually(
        "replica-b takes the Lease after replica-a's SIGTERM",
        async || b.leading().await,
    )
    .await;
    assert_eq!(lease_holder(&api).as_deref(), Some("replica-b"));
    for tainted in infra_nodes(true) {
        api.upsert(NODES, tainted);
    }
    eventually("the new leader writes the Event", async || {
        events(&api, "CoverageLost")
            .iter()
            .any(|e| e["reportingInstance"] == "replica-b")
    })
    .await;

    let c = start_replica(&api, &dir, "replica-c");
    eventually("replica-c judges", async || {
        c.nodes("shipper", "blocked").await == Some(3.0)
    })
    .await;
    b.signal("-KILL");
    eventually(
        "replica-c takes over once the dead leader's Lease expires",
        async || c.leading().await,
    )
    .await;
    assert_eq!(lease_holder(&api).as_deref(), Some("replica-c"));
}
