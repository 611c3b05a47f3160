//! The live inventory against a local server that speaks the Kubernetes list+watch
//! protocol (tests/support/fake_apiserver.rs), reached through a generated kubeconfig:
//! readiness after every full initial list, watch events changing the next admission
//! decision, an atomic relist after 410 Gone, recovery from a dropped watch, bookmarks,
//! autoscaler template APIs found by discovery (also once installed after start), and
//! `lint --cluster` / `coverage --cluster`, and the pods already on each node (watched by
//! the webhook, listed by the one-shot commands) giving the same DSG007 answer as files.

mod common;

#[path = "support/fake_apiserver.rs"]
mod fake_apiserver;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::eventually;
use dsguard::config::Config;
use dsguard::inventory::{Inventory, Synced};
use dsguard::server::{self, AppState, CertificateSource, RunningServer};
use fake_apiserver::{
    CLUSTER_API, DAEMONSETS, FakeApiServer, KARPENTER_API, LIMIT_RANGES, MACHINE_DEPLOYMENTS,
    MACHINE_SETS, NODE_POOLS, NODES, PDBS, PODS, PRIORITY_CLASSES, synthetic_node,
};
use serde_json::{Value, json};

fn scratch(name: &str) -> PathBuf {
    common::scratch_dir("cluster", name)
}

fn node(name: &str, labels: Value, taints: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": {"taints": taints},
           "status": {"images": [{"names": ["big-image"], "sizeBytes": 1}]}})
}

struct Cluster {
    api: FakeApiServer,
    server: RunningServer,
    ca: String,
    /// Whether the audit leads (it does throughout, when it runs).
    _leading: tokio::sync::watch::Sender<bool>,
}

async fn start(name: &str, api: FakeApiServer) -> Cluster {
    start_serving(name, api, false).await
}

/// [`start`], with the live audit of the cluster's DaemonSets running as the leader.
async fn start_auditing(name: &str, api: FakeApiServer) -> Cluster {
    start_serving(name, api, true).await
}

async fn start_serving(name: &str, api: FakeApiServer, audit: bool) -> Cluster {
    let dir = scratch(name);
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kubeconfig).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let state = Arc::new(
        AppState::new(Inventory::new(), Config::default(), 1 << 20).require_synced(Synced {
            nodes: true,
            priority_classes: true,
            limit_ranges: true,
        }),
    );
    dsguard::cluster::spawn_watchers(client.clone(), state.clone());
    let (leads, leading) = tokio::sync::watch::channel(true);
    if audit {
        dsguard::cluster::spawn_audit(
            client.clone(),
            state.clone(),
            leading,
            "test".into(),
            Duration::from_secs(60),
            None,
        );
    }
    dsguard::cluster::spawn_template_watchers(client, state.clone(), Duration::from_millis(100));
    let ca_path = dir.join("ca.crt");
    let options = common::loopback_options(CertificateSource::SelfSigned {
        ca_path: ca_path.clone(),
    });
    let server = server::start(options, state).await.unwrap();
    let ca = std::fs::read_to_string(ca_path).unwrap();
    Cluster {
        api,
        server,
        ca,
        _leading: leads,
    }
}

impl Cluster {
    fn client(&self) -> reqwest::Client {
        common::trusting(&self.ca).build().unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!(
            "https://localhost:{}{path}",
            self.server.webhook_address.port()
        )
    }

    async fn ready(&self) -> bool {
        self.client()
            .get(self.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
    }

    fn node_count(&self) -> usize {
        self.server.state.inventory.load().node_count()
    }

    async fn decide(&self, pod: Value) -> Value {
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": "cluster-test", "kind": {"group": "apps", "version": "v1", "kind": "DaemonSet"}, "namespace": "team", "operation": "CREATE",
            "object": {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "team"},
                       "spec": {"template": {"spec": pod}}}}});
        let response = self
            .client()
            .post(self.url("/validate"))
            .json(&review)
            .send()
            .await
            .unwrap();
        response.json::<Value>().await.unwrap()["response"].clone()
    }
}

/// The dsguard binary run with `args` against the cluster of `kubeconfig` (off the async
/// runtime, which the fake API server needs to answer it).
async fn dsguard_with(kubeconfig: PathBuf, args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_dsguard"))
            .args(&args)
            .env("KUBECONFIG", &kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn limited(extra: Value) -> Value {
    let mut pod = json!({"priorityClassName": "system-node-critical",
        "containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]});
    pod.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    pod
}

#[tokio::test]
async fn readiness_waits_for_every_full_initial_list_and_never_shows_a_partial_one() {
    let api = FakeApiServer::start().await;
    api.preload(NODES, (0..600).map(|i| synthetic_node(i, &[])));
    api.preload(PRIORITY_CLASSES, [json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "dsguard-default"}, "value": 1000})]);
    api.set_list_page_delay(Duration::from_millis(150));
    let cluster = start("readiness", api).await;
    assert!(
        !cluster.ready().await,
        "not ready before the lists complete"
    );
    let mut seen = Vec::new();
    eventually("ready", async || {
        seen.push(cluster.node_count());
        cluster.ready().await
    })
    .await;
    assert!(
        seen.iter().all(|count| *count == 0 || *count == 600),
        "a partial list was visible: {seen:?}"
    );
    assert!(
        seen.contains(&0),
        "readiness was observed before the sync finished"
    );
    assert_eq!(cluster.node_count(), 600);
    assert!(
        cluster.api.list_requests() >= 5,
        "600 nodes come in 3 pages of 250, plus one list per other kind"
    );
    let inventory = cluster.server.state.inventory.load();
    assert!(inventory.synced().priority_classes && inventory.synced().limit_ranges);
    assert!(inventory.priority_class_exists("dsguard-default"));
}

#[tokio::test]
async fn a_node_relabelled_or_tainted_in_the_watch_changes_the_next_decision() {
    let api = FakeApiServer::start().await;
    api.preload(
        NODES,
        (0..5).map(|i| {
            node(
                &format!("n{i}"),
                json!({"kubernetes.io/os": "linux"}),
                json!([]),
            )
        }),
    );
    let cluster = start("events", api).await;
    eventually("ready", async || cluster.ready().await).await;
    let pod = limited(json!({"nodeSelector": {"example.com/pool": "special"}}));
    let before = cluster.decide(pod.clone()).await;
    assert_eq!(before["allowed"], false);
    assert!(
        before["status"]["message"]
            .as_str()
            .unwrap()
            .starts_with("DSG001")
    );

    cluster.api.upsert(
        NODES,
        node(
            "n0",
            json!({"kubernetes.io/os": "linux", "example.com/pool": "special"}),
            json!([]),
        ),
    );
    eventually("relabel applied", async || {
        cluster.decide(pod.clone()).await["allowed"] == true
    })
    .await;

    cluster.api.upsert(
        NODES,
        node(
            "n0",
            json!({"kubernetes.io/os": "linux", "example.com/pool": "special"}),
            json!([{"key": "maintenance", "value": "true", "effect": "NoSchedule"}]),
        ),
    );
    eventually("taint applied", async || {
        let response = cluster.decide(pod.clone()).await;
        response["allowed"] == false
            && response["status"]["message"]
                .as_str()
                .unwrap()
                .starts_with("DSG002")
    })
    .await;

    cluster.api.delete(NODES, "n0");
    eventually("delete applied", async || cluster.node_count() == 4).await;
    assert!(
        cluster.decide(pod).await["status"]["message"]
            .as_str()
            .unwrap()
            .starts_with("DSG001")
    );
}

#[tokio::test]
async fn a_relist_after_410_gone_replaces_the_view_atomically() {
    let api = FakeApiServer::start().await;
    api.preload(
        NODES,
        (0..300).map(|i| node(&format!("old-{i:03}"), json!({"gen": "old"}), json!([]))),
    );
    let cluster = start("relist", api).await;
    eventually("ready", async || cluster.ready().await).await;
    let lists_before = cluster.api.list_requests();

    cluster.api.set_list_page_delay(Duration::from_millis(150));
    cluster.api.change_while_disconnected(NODES, |objects| {
        objects.retain(|name, _| name.as_str() >= "old-100");
        for i in 0..50 {
            objects.insert(
                format!("new-{i:02}"),
                node(&format!("new-{i:02}"), json!({"gen": "new"}), json!([])),
            );
        }
    });
    let mut seen = Vec::new();
    eventually("relist applied", async || {
        let inventory = cluster.server.state.inventory.load();
        seen.push(inventory.node_count());
        inventory.node_by_name("new-00").is_some()
    })
    .await;
    let inventory = cluster.server.state.inventory.load();
    assert_eq!(inventory.node_count(), 250);
    assert!(
        inventory.node_by_name("old-000").is_none() && inventory.node_by_name("old-299").is_some()
    );
    assert!(
        seen.iter().all(|count| *count == 300 || *count == 250),
        "a half-filled view was visible: {seen:?}"
    );
    assert!(
        cluster.api.list_requests() > lists_before,
        "410 Gone forced a relist"
    );
    assert!(cluster.ready().await, "requests were served throughout");
}

#[tokio::test]
async fn a_dropped_watch_recovers_without_losing_events() {
    let api = FakeApiServer::start().await;
    api.preload(
        NODES,
        (0..3).map(|i| node(&format!("n{i}"), json!({}), json!([]))),
    );
    let cluster = start("dropped", api).await;
    eventually("ready", async || cluster.ready().await).await;
    let watches = cluster.api.watch_requests();
    cluster.api.drop_watches();
    eventually("the watcher reconnected", async || {
        cluster.api.watch_requests() > watches
    })
    .await;
    cluster
        .api
        .upsert(NODES, node("n9", json!({"pool": "late"}), json!([])));
    eventually("an event after the drop arrives", async || {
        cluster.node_count() == 4
    })
    .await;
    // Bookmarks only move the resourceVersion on.
    cluster.api.bookmark(NODES);
    cluster.api.upsert(NODES, node("n10", json!({}), json!([])));
    eventually("events after a bookmark arrive", async || {
        cluster.node_count() == 5
    })
    .await;
}

#[tokio::test]
async fn priority_classes_and_limit_ranges_follow_the_cluster() {
    let api = FakeApiServer::start().await;
    api.preload(NODES, [node("n0", json!({}), json!([]))]);
    let cluster = start("classes", api).await;
    eventually("ready", async || cluster.ready().await).await;
    let pod = json!({"priorityClassName": "team-critical", "containers": [{"name": "c", "image": "i", "resources": {"limits": {"memory": "1Gi"}}}]});
    let response = cluster.decide(pod.clone()).await;
    assert_eq!(response["allowed"], false, "no cpu limit");
    assert!(
        response["warnings"].to_string().contains("DSG004"),
        "{response}"
    );

    cluster.api.upsert(PRIORITY_CLASSES, json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "team-critical"}, "value": 100000}));
    cluster.api.upsert(LIMIT_RANGES, json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults", "namespace": "team"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"}}]}}));
    eventually("class and LimitRange applied", async || {
        let response = cluster.decide(pod.clone()).await;
        response["allowed"] == true && !response["warnings"].to_string().contains("DSG004")
    })
    .await;
}

#[tokio::test]
async fn lint_and_coverage_list_the_cluster_once() {
    let api = FakeApiServer::start().await;
    api.preload(
        NODES,
        (0..260).map(|i| {
            node(
                &format!("n{i:03}"),
                json!({"kubernetes.io/os": if i < 250 { "linux" } else { "windows" }}),
                if i % 100 == 0 {
                    json!([{"key": "gpu", "value": "true", "effect": "NoSchedule"}])
                } else {
                    json!([])
                },
            )
        }),
    );
    let dir = scratch("cli");
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let manifest = dir.join("ds.yaml");
    std::fs::write(&manifest, "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: team}\nspec:\n  template:\n    spec:\n      nodeSelector: {kubernetes.io/os: linux}\n      priorityClassName: system-node-critical\n      containers:\n      - name: c\n        image: i\n        resources:\n          limits: {cpu: 100m, memory: 64Mi}\n").unwrap();
    let run = |args: &[&str]| {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push("--cluster".into());
        args.push(manifest.display().to_string());
        dsguard_with(kubeconfig.clone(), args)
    };
    let coverage = run(&["coverage", "-o", "json"]).await;
    assert!(
        coverage.status.success(),
        "{}",
        String::from_utf8_lossy(&coverage.stderr)
    );
    let report: Value = serde_json::from_slice(&coverage.stdout).unwrap();
    assert_eq!(
        report["daemonsets"][0]["targeted"]
            .as_array()
            .unwrap()
            .len(),
        250,
        "paged list of 260 nodes, 250 linux"
    );
    assert_eq!(
        report["daemonsets"][0]["blocked"].as_array().unwrap().len(),
        3
    );

    let lint = run(&["lint", "-o", "json"]).await;
    assert_eq!(
        lint.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&lint.stderr)
    );
    let report: Value = serde_json::from_slice(&lint.stdout).unwrap();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["ruleId"] == "DSG002")
    );
    assert!(
        !String::from_utf8_lossy(&lint.stderr).contains("no node inventory"),
        "the cluster is the inventory"
    );
}

#[test]
fn an_unreachable_cluster_is_a_clear_usage_error() {
    let dir = scratch("unreachable");
    let kubeconfig = dir.join("kubeconfig");
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\nclusters:\n- name: x\n  cluster: {server: \"http://127.0.0.1:1\"}\nusers:\n- name: x\n  user: {}\ncontexts:\n- name: x\n  context: {cluster: x, user: x}\ncurrent-context: x\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dsguard"))
        .args(["lint", "--cluster", "-"])
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("from the cluster") && stderr.contains("kubectl config current-context"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("Connection refused").count(),
        1,
        "each cause said once: {stderr}"
    );
}

fn gpu_node_pool(taint: bool) -> Value {
    let taints = if taint {
        json!([{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}])
    } else {
        json!([])
    };
    json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "gpu"},
           "spec": {"template": {"metadata": {"labels": {"nvidia.com/gpu.present": "true"}},
                    "spec": {"requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}],
                             "taints": taints}}}})
}

#[tokio::test]
async fn a_template_api_installed_after_start_is_watched_without_a_restart() {
    let api = FakeApiServer::start().await;
    api.preload(
        NODES,
        [node(
            "general-0",
            json!({"kubernetes.io/os": "linux"}),
            json!([]),
        )],
    );
    let cluster = start("template-api-later", api).await;
    eventually("ready", async || cluster.ready().await).await;
    let device_plugin = limited(json!({
        "nodeSelector": {"nvidia.com/gpu.present": "true"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}));
    let shipper = limited(json!({}));
    let before = cluster.decide(device_plugin.clone()).await;
    assert_eq!(before["allowed"], false, "no NodePool yet: {before}");
    assert!(cluster.decide(shipper.clone()).await["allowed"] == true);

    // Karpenter is installed, and a NodePool with no node yet is created.
    cluster.api.serve_api(KARPENTER_API);
    cluster.api.upsert(NODE_POOLS, gpu_node_pool(true));
    eventually("the NodePool is watched", async || {
        cluster.decide(device_plugin.clone()).await["allowed"] == true
    })
    .await;
    let shipper_now = cluster.decide(shipper.clone()).await;
    assert_eq!(shipper_now["allowed"], false, "{shipper_now}");
    assert!(
        shipper_now["status"]["message"].as_str().unwrap().contains(
            "NodePool gpu (0 nodes now), once it makes nodes: nvidia.com/gpu=true:NoSchedule"
        ),
        "{shipper_now}"
    );

    // The taint is dropped from the NodePool, then the NodePool is deleted.
    cluster.api.upsert(NODE_POOLS, gpu_node_pool(false));
    eventually("the change is seen", async || {
        cluster.decide(shipper.clone()).await["allowed"] == true
    })
    .await;
    cluster.api.delete(NODE_POOLS, "gpu");
    eventually("the delete is seen", async || {
        cluster.decide(device_plugin.clone()).await["allowed"] == false
    })
    .await;
}

#[tokio::test]
async fn one_shot_commands_list_served_template_apis_and_skip_absent_ones() {
    let api = FakeApiServer::start().await;
    api.preload(
        NODES,
        [node(
            "general-0",
            json!({"kubernetes.io/os": "linux"}),
            json!([]),
        )],
    );
    let md = |name: &str, annotations: Value, owners: Value| {
        json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "MachineDeployment",
               "metadata": {"name": name, "namespace": "infra", "annotations": annotations, "ownerReferences": owners},
               "spec": {"replicas": 0, "template": {"metadata": {"labels": {"node-role.kubernetes.io/gpu": ""}}}}})
    };
    api.preload(
        MACHINE_DEPLOYMENTS,
        [
            md(
                "md-gpu",
                json!({"cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "0",
                       "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "4",
                       "capacity.cluster-autoscaler.kubernetes.io/taints": "nvidia.com/gpu=present:NoSchedule",
                       "kubectl.kubernetes.io/last-applied-configuration": "{}"}),
                json!([]),
            ),
            md("md-static", json!({}), json!([])),
        ],
    );
    let mut owned = md(
        "md-gpu-abc12",
        json!({"cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "0",
               "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "4"}),
        json!([{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "MachineDeployment", "name": "md-gpu", "uid": "1"}]),
    );
    owned["kind"] = json!("MachineSet");
    api.preload(MACHINE_SETS, [owned]);
    api.serve_api(CLUSTER_API);
    // Karpenter is not installed: its API answers 404, which is not an error.
    let dir = scratch("cli-templates");
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let manifest = dir.join("ds.yaml");
    std::fs::write(&manifest, "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: team}\nspec:\n  template:\n    spec:\n      priorityClassName: system-node-critical\n      containers:\n      - name: c\n        image: i\n        resources:\n          limits: {cpu: 100m, memory: 64Mi}\n").unwrap();
    let args = ["coverage", "-o", "json", "--cluster"].map(String::from);
    let output = dsguard_with(
        kubeconfig,
        [&args[..], &[manifest.display().to_string()]].concat(),
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    // Only the autoscaled MachineDeployment is a template: not the static one, and not
    // the MachineSet its MachineDeployment owns.
    assert_eq!(
        report["daemonsets"][0]["templates"],
        json!([{"kind": "MachineDeployment", "namespace": "infra", "name": "md-gpu", "targeted": true,
                "runnable": false, "untolerated": ["nvidia.com/gpu=present:NoSchedule"]}])
    );
}

#[tokio::test]
async fn audit_lists_the_clusters_daemonsets_and_judges_them_as_lint_does() {
    let api = FakeApiServer::start().await;
    api.preload(
        NODES,
        (0..3).map(|i| {
            node(
                &format!("n{i}"),
                json!({"kubernetes.io/os": "linux", "pool": "general"}),
                json!([]),
            )
        }),
    );
    let daemonset = |name: &str, selector: Value| {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
               "metadata": {"name": name, "namespace": "monitoring", "uid": format!("uid-{name}"),
                            "managedFields": [{"manager": "kubectl"}]},
               "spec": {"selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": {"app": name}},
                                     "spec": {"nodeSelector": selector, "priorityClassName": "system-node-critical",
                                              "containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}}},
               "status": {"desiredNumberScheduled": 0}})
    };
    api.preload(
        DAEMONSETS,
        [
            daemonset("agent", json!({"kubernetes.io/os": "linux"})),
            daemonset("typo", json!({"pool": "genral"})),
        ],
    );
    let dir = scratch("audit");
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let output = dsguard_with(
        kubeconfig,
        ["audit", "--cluster", "-o", "json"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["schemaVersion"], 1);
    assert_eq!(report["summary"]["daemonsets"], 2);
    let denials: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["action"] == "deny")
        .map(|f| (f["ruleId"].as_str().unwrap(), f["name"].as_str().unwrap()))
        .collect();
    assert_eq!(denials, [("DSG001", "typo")]);
    let message = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "typo")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("pool=genral"), "{message}");
}

/// Four nodes of 2 cpus: n0 full of a pod as important as the daemon, n1 full of a
/// priority-0 pod its PodDisruptionBudget protects, n2 with a finished pod, n3 empty.
fn occupied_cluster() -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let nodes = (0..4)
        .map(|i| {
            json!({"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": format!("n{i}"), "labels": {"kubernetes.io/os": "linux"}},
                   "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10"}}})
        })
        .collect();
    let pod = |name: &str, node: &str, priority: i64, phase: &str| {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "batch", "uid": format!("uid-{name}"), "labels": {"app": name}},
               "spec": {"nodeName": node, "priority": priority,
                        "containers": [{"name": "c", "resources": {"requests": {"cpu": "1900m"}}}]},
               "status": {"phase": phase, "startTime": "2026-12-01T00:00:00Z"}})
    };
    let pods = vec![
        pod("critical", "n0", 2_000_001_000, "Running"),
        pod("low", "n1", 0, "Running"),
        pod("done", "n2", 0, "Succeeded"),
    ];
    let budgets = vec![
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "low", "namespace": "batch"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "low"}}},
        "status": {"disruptionsAllowed": 0}}),
    ];
    (nodes, pods, budgets)
}

#[tokio::test]
async fn pods_from_the_cluster_give_the_webhook_lint_and_coverage_the_answer_files_give() {
    let (nodes, pods, budgets) = occupied_cluster();
    let api = FakeApiServer::start().await;
    api.preload(NODES, nodes.clone());
    api.preload(PODS, pods.clone());
    api.preload(PDBS, budgets.clone());
    let dir = scratch("occupancy");
    let list =
        |items: &[Value]| json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string();
    let (nodes_file, pods_file, pdbs_file) = (
        dir.join("nodes.json"),
        dir.join("pods.json"),
        dir.join("pdbs.json"),
    );
    std::fs::write(&nodes_file, list(&nodes)).unwrap();
    std::fs::write(&pods_file, list(&pods)).unwrap();
    std::fs::write(&pdbs_file, list(&budgets)).unwrap();
    let pod = json!({"priorityClassName": "system-node-critical", "containers": [{"name": "c", "image": "i",
        "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "500m", "memory": "64Mi"}}}]});
    let manifest = dir.join("ds.json");
    std::fs::write(
        &manifest,
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "team"},
               "spec": {"template": {"spec": pod.clone()}}})
        .to_string(),
    )
    .unwrap();
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let run = |args: Vec<String>| dsguard_with(kubeconfig.clone(), args);
    let args = |command: &[&str], cluster: bool| {
        let mut args: Vec<String> = command.iter().map(|a| a.to_string()).collect();
        if cluster {
            args.push("--cluster".into());
        } else {
            for (flag, file) in [
                ("--nodes", &nodes_file),
                ("--pods", &pods_file),
                ("--pdbs", &pdbs_file),
            ] {
                args.push(flag.into());
                args.push(file.display().to_string());
            }
        }
        args.push(manifest.display().to_string());
        args
    };
    let mut occupancies = Vec::new();
    let mut messages = Vec::new();
    for cluster in [true, false] {
        let coverage = run(args(&["coverage", "-o", "json"], cluster)).await;
        assert!(
            coverage.status.success(),
            "{}",
            String::from_utf8_lossy(&coverage.stderr)
        );
        let report: Value = serde_json::from_slice(&coverage.stdout).unwrap();
        occupancies.push(report["daemonsets"][0]["occupancy"].clone());
        let lint = run(args(&["lint", "-o", "json"], cluster)).await;
        let report: Value = serde_json::from_slice(&lint.stdout).unwrap();
        let finding = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["ruleId"] == "DSG007")
            .unwrap_or_else(|| panic!("DSG007 in {report}"))
            .clone();
        messages.push(finding["message"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        occupancies[0],
        json!({"fits": ["n2", "n3"],
               "preempts": [{"node": "n1", "victims": [{"namespace": "batch", "name": "low", "priority": 0, "pdbViolated": true}]}],
               "pending": [{"node": "n0", "reasons": ["Insufficient cpu"]}]})
    );
    assert_eq!(occupancies[0], occupancies[1], "listed and read from files");
    assert_eq!(messages[0], messages[1]);

    // The webhook watches the same pods and says the same.
    let cluster = start("occupancy-serve", api).await;
    eventually("ready", async || cluster.ready().await).await;
    eventually("pods watched", async || {
        cluster.server.state.inventory.load().occupancy().is_some()
    })
    .await;
    let response = cluster.decide(pod).await;
    let warnings = response["warnings"].to_string();
    assert!(
        warnings.contains("DSG007 no-room-beside-running-pods"),
        "{response}"
    );
    // The API server keeps 256 characters of a warning: the headline says it.
    assert!(
        warnings.contains("stays Pending there") && warnings.contains("priority 2000001000"),
        "{response}"
    );

    // A pod deleted in the watch frees its node: the pod now only preempts, an `info`
    // finding, which is not a warning.
    cluster.api.delete(PODS, "batch/critical");
    eventually("delete applied", async || {
        cluster
            .server
            .state
            .inventory
            .load()
            .occupancy()
            .is_some_and(|o| o.pod_count() == 1)
    })
    .await;
    let response = cluster
        .decide(json!({"priorityClassName": "system-node-critical", "containers": [{"name": "c", "image": "i",
            "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "500m", "memory": "64Mi"}}}]}))
        .await;
    assert!(
        !response["warnings"].to_string().contains("DSG007"),
        "{response}"
    );

    // A lost watch (410 Gone) re-lists: a pod deleted, one added, and one recreated under
    // the same name on another node meanwhile (a StatefulSet's pod): another pod, so the
    // one held on the old node goes.
    let (_, pods, _) = occupied_cluster();
    let mut mover = pods[1].clone();
    mover["metadata"]["name"] = json!("mover");
    cluster.api.upsert(PODS, mover);
    eventually("mover applied", async || {
        let inventory = cluster.server.state.inventory.load();
        inventory
            .occupancy()
            .is_some_and(|o| o.find("n1", "batch", "mover").is_some())
    })
    .await;
    cluster.api.change_while_disconnected(PODS, |objects| {
        objects.remove("batch/low");
        let mut added = pods[0].clone();
        added["metadata"]["name"] = json!("added");
        added["spec"]["nodeName"] = json!("n3");
        objects.insert("batch/added".into(), added);
        objects.get_mut("batch/mover").unwrap()["spec"]["nodeName"] = json!("n2");
    });
    eventually("relist applied", async || {
        let inventory = cluster.server.state.inventory.load();
        let Some(occupancy) = inventory.occupancy() else {
            return false;
        };
        occupancy.find("n3", "batch", "added").is_some()
            && occupancy.find("n1", "batch", "low").is_none()
            && occupancy.find("n2", "batch", "mover").is_some()
    })
    .await;
    let inventory = cluster.server.state.inventory.load();
    let occupancy = inventory.occupancy().unwrap();
    assert!(occupancy.find("n1", "batch", "mover").is_none());
    // `done` (Succeeded) still does not count; nothing else is left.
    assert_eq!(occupancy.pod_count(), 2);
}

/// The DaemonSets `serve --cluster` watches are every node's daemon overhead, as
/// `lint --daemonsets` counts the same objects from a file: one cluster, the same DSG005
/// answer from the webhook, the live audit and lint; and the overhead follows the
/// cluster (a node added, a DaemonSet deleted).
#[tokio::test]
async fn the_watched_daemonsets_are_the_overhead_lint_daemonsets_counts() {
    let node = |i: usize| {
        json!({"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": format!("n{i}"), "labels": {"kubernetes.io/os": "linux"}},
               "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10"}}})
    };
    let nodes: Vec<Value> = (0..3).map(node).collect();
    let pod = |cpu: &str| {
        json!({"priorityClassName": "system-node-critical", "containers": [{"name": "c", "image": "i",
            "resources": {"limits": {"cpu": cpu, "memory": "64Mi"}}}]})
    };
    let daemonset = |namespace: &str, name: &str, cpu: &str| {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
               "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}")},
               "spec": {"selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": {"app": name}}, "spec": pod(cpu)}}})
    };
    // 1 CPU beside the CNI's 1.5 on 2-CPU nodes: fits alone, not beside it.
    let daemonsets = vec![
        daemonset("kube-system", "cni", "1500m"),
        daemonset("team", "agent", "1"),
    ];
    let pods = vec![json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "shop", "uid": "uid-web"},
        "spec": {"nodeName": "n0", "containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]},
        "status": {"phase": "Running"}})];
    let api = FakeApiServer::start().await;
    api.preload(NODES, nodes.clone());
    api.preload(DAEMONSETS, daemonsets.clone());
    api.preload(PODS, pods.clone());

    let dir = scratch("daemon-overhead");
    let list =
        |items: &[Value]| json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string();
    let (nodes_file, daemonsets_file, pods_file, manifest) = (
        dir.join("nodes.json"),
        dir.join("daemonsets.json"),
        dir.join("pods.json"),
        dir.join("agent.json"),
    );
    std::fs::write(&nodes_file, list(&nodes)).unwrap();
    std::fs::write(&daemonsets_file, list(&daemonsets)).unwrap();
    std::fs::write(&pods_file, list(&pods)).unwrap();
    std::fs::write(&manifest, daemonsets[1].to_string()).unwrap();
    let lint = dsguard_with(
        dir.join("no-kubeconfig"),
        [
            "lint",
            "-o",
            "json",
            "--nodes",
            &nodes_file.display().to_string(),
            "--daemonsets",
            &daemonsets_file.display().to_string(),
            "--pods",
            &pods_file.display().to_string(),
            &manifest.display().to_string(),
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    let report: Value = serde_json::from_slice(&lint.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&lint.stderr)));
    let linted = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["ruleId"] == "DSG005")
        .unwrap_or_else(|| panic!("DSG005 in {report}"))
        .clone();
    assert_eq!(linted["action"], "deny", "{linted}");
    let message = linted["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("needs 1 + 1500m for the other DaemonSets there, allocatable 2"),
        "{message}"
    );

    let cluster = start_auditing("daemon-overhead-serve", api).await;
    eventually("ready", async || cluster.ready().await).await;
    eventually("the audit's loads in the live inventory", async || {
        cluster
            .server
            .state
            .inventory
            .load()
            .daemon_loads()
            .is_some()
    })
    .await;
    let response = cluster.decide(pod("1")).await;
    assert_eq!(response["allowed"], false, "{response}");
    let said = response["status"]["message"].as_str().unwrap().to_owned();
    assert!(said.contains(&message), "webhook: {said}\nlint: {message}");
    // The audit judged the same DaemonSet the same way.
    let audited = |state: &AppState| {
        state
            .metrics
            .daemonsets
            .load()
            .iter()
            .find(|row| row.key.name == "agent")
            .map(|row| {
                row.findings
                    .iter()
                    .any(|((rule, _), _)| rule.id() == "DSG005")
            })
    };
    assert_eq!(audited(&cluster.server.state), Some(true));

    // A fourth node: its overhead arrives with the audit's next loads.
    cluster.api.upsert(NODES, node(3));
    eventually("the new node's overhead counted", async || {
        cluster.decide(pod("1")).await["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("fits none of the 4 nodes"))
    })
    .await;
    // The CNI gone, the agent fits everywhere: the webhook and the audit both say so.
    cluster.api.delete(DAEMONSETS, "kube-system/cni");
    eventually("the deleted DaemonSet's overhead gone", async || {
        cluster.decide(pod("1")).await["allowed"] == true
    })
    .await;
    eventually("the audit judged again", async || {
        audited(&cluster.server.state) == Some(false)
    })
    .await;
}
