//! The live audit of `serve --cluster`, with the real binary against the local API server
//! (tests/support/fake_apiserver.rs): a pool tainted with one update per node gives one
//! `CoverageLost` Event and the metric drops; untainted, `CoverageRestored` and the metric
//! comes back; PolicyReports follow the findings; two replicas share one Lease and only
//! the leader writes; SIGTERM hands the Lease over and a killed leader is replaced; a
//! leader cut off from the API server stops writing before another one starts.

mod common;

#[path = "support/fake_apiserver.rs"]
mod fake_apiserver;
#[path = "support/partition.rs"]
mod partition;
#[path = "support/replica.rs"]
mod replica;

use std::path::PathBuf;
use std::time::Duration;

use common::eventually;
use fake_apiserver::{DAEMONSETS, FakeApiServer, LIMIT_RANGES, NODES, POLICY_REPORT_API};
use replica::{Replica, start_replica, start_replica_at};
use serde_json::{Value, json};

fn node(index: usize, pool: &str, tainted: bool) -> Value {
    node_with_taint(index, pool, tainted.then_some("infra"))
}

fn node_with_taint(index: usize, pool: &str, dedicated: Option<&str>) -> Value {
    let taints = match dedicated {
        Some(value) => json!([{"key": "dedicated", "value": value, "effect": "NoSchedule"}]),
        None => json!([]),
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

/// One DaemonSet's node count in `state`, as the replica exports it.
async fn nodes(replica: &Replica, name: &str, state: &str) -> Option<f64> {
    let namespace = if name == "bare" { "team" } else { "logging" };
    replica
        .series(&format!(
            "dsguard_daemonset_nodes{{namespace=\"{namespace}\",daemonset=\"{name}\",state=\"{state}\"}}"
        ))
        .await
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
    let a = start_replica(&api, &dir, "replica-a", &[]);
    eventually("replica-a judges the DaemonSets and leads", async || {
        nodes(&a, "shipper", "runnable").await == Some(7.0) && a.leading().await
    })
    .await;
    // Every state is exported, 0 included.
    assert_eq!(nodes(&a, "shipper", "blocked").await, Some(0.0));
    assert_eq!(nodes(&a, "shipper", "unfit").await, Some(0.0));
    assert_eq!(nodes(&a, "shipper", "targeted").await, Some(7.0));
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

    let b = start_replica(&api, &dir, "replica-b", &[]);
    eventually("replica-b judges too, without leading", async || {
        nodes(&b, "shipper", "runnable").await == Some(7.0)
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
        nodes(&a, "shipper", "blocked").await == Some(3.0)
            && nodes(&b, "shipper", "blocked").await == Some(3.0)
    })
    .await;
    assert_eq!(nodes(&a, "shipper", "runnable").await, Some(4.0));
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
            && nodes(&a, "shipper", "runnable").await == Some(7.0)
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

    // Lost again within the series window, for another cause: a new Event with its own
    // note, not a repeat folded into the first one (which would keep the old cause).
    for index in 0..3 {
        api.upsert(NODES, node_with_taint(index, "infra", Some("batch")));
    }
    eventually("a second CoverageLost Event", async || {
        events(&api, "CoverageLost").len() == 2
    })
    .await;
    let lost = events(&api, "CoverageLost");
    let notes: Vec<&str> = lost.iter().map(|e| e["note"].as_str().unwrap()).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("dedicated=infra:NoSchedule"))
            && notes
                .iter()
                .any(|n| n.contains("dedicated=batch:NoSchedule")),
        "{notes:#?}"
    );
    assert!(lost.iter().all(|e| e["series"].is_null()), "{lost:#?}");
    for untainted in infra_nodes(false) {
        api.upsert(NODES, untainted);
    }
    eventually("restored again", async || {
        nodes(&a, "shipper", "runnable").await == Some(7.0)
    })
    .await;

    // A DaemonSet deleted: its series and its report go.
    api.delete(DAEMONSETS, "team/bare");
    eventually(
        "the deleted DaemonSet's series and report gone",
        async || {
            nodes(&a, "bare", "targeted").await.is_none() && api.written("policyreports").is_empty()
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
    assert!(a.logged("coverage lost"), "the transition is logged too");
}

/// Once `leader` (replica-a) leads, replica-b started beside it, judging and not leading.
async fn follower_of(leader: &Replica, api: &FakeApiServer, dir: &std::path::Path) -> Replica {
    eventually("replica-a leads", async || leader.leading().await).await;
    let b = start_replica(api, dir, "replica-b", &[]);
    eventually("replica-b is ready to judge", async || {
        nodes(&b, "shipper", "runnable").await == Some(7.0)
    })
    .await;
    assert!(!b.leading().await);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_the_lease_over_and_a_killed_leader_is_replaced() {
    let api = cluster().await;
    let dir = scratch("leader");
    let a = start_replica(&api, &dir, "replica-a", &[]);
    let b = follower_of(&a, &api, &dir).await;

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

    let c = start_replica(&api, &dir, "replica-c", &[]);
    eventually("replica-c judges", async || {
        nodes(&c, "shipper", "blocked").await == Some(3.0)
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

/// The leader's requests hang from one moment on (a partition that drops packets). It must
/// stop writing (its `dsguard_leader` falls to 0: every writer follows it) within the renew
/// deadline, before its Lease expires and the other replica takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_api_server_stops_writing_before_another_leads() {
    let api = cluster().await;
    let dir = scratch("partition");
    let relay = partition::Relay::start(api.address).await;
    let a = start_replica_at(relay.address, &dir, "replica-a", &[]);
    let b = follower_of(&a, &api, &dir).await;

    relay.cut();
    let cut = std::time::Instant::now();
    let (mut a_stopped, mut b_started) = (None, None);
    while b_started.is_none() && cut.elapsed() < Duration::from_secs(30) {
        if a_stopped.is_none() && !a.leading().await {
            a_stopped = Some(cut.elapsed());
        }
        if b.leading().await {
            b_started = Some(cut.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (Some(stopped), Some(started)) = (a_stopped, b_started) else {
        panic!("after the cut: replica-a stopped at {a_stopped:?}, replica-b led at {b_started:?}");
    };
    assert!(
        stopped < started,
        "replica-a stopped writing {stopped:?} after the cut, replica-b started leading at {started:?}"
    );
    // Within the renew deadline (2.75 s after its last renewal), before its 3 s Lease
    // could expire.
    assert!(stopped < Duration::from_secs(3), "{stopped:?}");
    assert!(a.logged("cannot confirm the leader Lease within the renew deadline"));
    assert_eq!(lease_holder(&api).as_deref(), Some("replica-b"));
}
