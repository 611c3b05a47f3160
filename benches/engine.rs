//! `cargo bench --bench engine`: selector + taint evaluation for one DaemonSet against
//! synthetic clusters of 5,000 and 50,000 nodes (goals in BENCHMARKS.md), with the naive per-node scan
//! measured side by side in the same run, and one whole `evaluate` call.
//!
//! Then the cost templates add: the same `evaluate` with 30 autoscaler templates (20
//! NodePools, 10 MachineDeployments) beside the 5,000 nodes (alone: `-- templates`), and
//! what resource fit adds (`-- fit`). `-- subsets` measures only the two-term In-subset
//! selector at 5,000 nodes.
//!
//! `-- audit` measures the live audit: 2,000 DaemonSets (the real corpus DaemonSets
//! repeated under distinct names and namespaces) judged again after one node change at
//! 5,000 nodes, on one thread (so its time is its CPU time).
//!
//! `-- occupancy` measures DSG007: one DaemonSet beside 150,000 running pods on 5,000 nodes
//! (30 per node, 6 priorities, a tenth of the nodes full), the whole `evaluate` with and
//! without the pods, one pod watch event applied (an update of a pod on a node of 30), and
//! the resident memory the 150,000 pod records take.
//!
//! Last, selectors built to be slow (thousands of numeric, duplicated or windowed terms)
//! against 5,000 nodes that each carry a distinct integer label: the whole `evaluate`.
//!
//! Reports p50/p99 per call from individually timed calls (`Instant` around each call),
//! after a warm-up. Figures go to BENCHMARKS.md; nothing here asserts a time.

#[path = "support/corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::time::{Duration, Instant};

use dsguard::config::Config;
use dsguard::inventory::{Inventory, NodeUpdate};
use dsguard::policy::{self, Context, DaemonSet, Phase};
use dsguard::scheduling::{NodeSelection, Taint, daemon_pod_tolerations, untolerated_taints};
use serde_json::json;

/// A cluster with realistic labels: unique hostname, 3 zones, 8 node pools, 12 instance
/// types, os/arch, and a handful of taint sets (control plane, GPU, dedicated pools,
/// cordoned and not-ready nodes).
fn cluster(nodes: usize) -> Inventory {
    sized_cluster(nodes, true)
}

/// The same cluster; with `allocatable`, each node states the allocatable of its instance
/// type (12 sizes), as a real Node's status does.
fn sized_cluster(nodes: usize, allocatable: bool) -> Inventory {
    let mut inventory = Inventory::new();
    let taint_sets: [&[(&str, &str, &str)]; 6] = [
        &[],
        &[("node-role.kubernetes.io/control-plane", "", "NoSchedule")],
        &[("nvidia.com/gpu", "present", "NoSchedule")],
        &[("dedicated", "ingress", "NoSchedule")],
        &[("node.kubernetes.io/unschedulable", "", "NoSchedule")],
        &[
            ("node.kubernetes.io/not-ready", "", "NoExecute"),
            ("node.kubernetes.io/unreachable", "", "NoExecute"),
        ],
    ];
    let updates = (0..nodes).map(|i| {
        let pool = i % 8;
        let taints = match i % 50 {
            0..=2 => taint_sets[1],
            3..=6 => taint_sets[2],
            7..=8 => taint_sets[3],
            9 => taint_sets[4],
            10 => taint_sets[5],
            _ => taint_sets[0],
        };
        let name = format!(
            "ip-10-{}-{}-{}.eu-west-1.compute.internal",
            i / 65536,
            (i / 256) % 256,
            i % 256
        );
        let labels = [
            ("kubernetes.io/hostname", name.clone()),
            ("kubernetes.io/os", "linux".to_owned()),
            (
                "kubernetes.io/arch",
                if i % 5 == 0 { "arm64" } else { "amd64" }.to_owned(),
            ),
            (
                "topology.kubernetes.io/zone",
                format!("eu-west-1{}", ["a", "b", "c"][i % 3]),
            ),
            ("topology.kubernetes.io/region", "eu-west-1".to_owned()),
            ("karpenter.sh/nodepool", format!("pool-{pool}")),
            (
                "node.kubernetes.io/instance-type",
                format!("m6i.{}xlarge", i % 12),
            ),
            (
                "karpenter.sh/capacity-type",
                if i % 3 == 0 { "spot" } else { "on-demand" }.to_owned(),
            ),
            ("node.kubernetes.io/instance-id", format!("i-{i:017x}")),
        ];
        NodeUpdate {
            name,
            labels: labels.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            taints: taints.iter().map(|(k, v, e)| Taint::new(k, v, e)).collect(),
            allocatable: allocatable.then(|| {
                let size = (i % 12) as i128 + 1;
                [
                    ("cpu".to_owned(), size * 4000 - 80),
                    ("memory".to_owned(), size * (15 << 30)),
                    ("ephemeral-storage".to_owned(), 95 << 30),
                    ("pods".to_owned(), 110),
                ]
                .into()
            }),
        }
    });
    inventory.reset_nodes(updates);
    inventory.reset_priority_classes([]);
    inventory.reset_limit_ranges([]);
    inventory
}

/// A typical agent: linux, not on Fargate-like pools, two keyed tolerations.
fn daemonset() -> DaemonSet {
    DaemonSet::from_value(&daemonset_json()).expect("bench object decodes")
}

fn daemonset_json() -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "monitoring"},
        "spec": {"template": {"spec": {
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [
                    {"key": "karpenter.sh/capacity-type", "operator": "NotIn", "values": ["fargate"]},
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}
                ]}]}}},
            "tolerations": [
                {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "dedicated", "operator": "Equal", "value": "ingress", "effect": "NoSchedule"}
            ],
            "priorityClassName": "system-node-critical",
            "containers": [{"name": "agent", "image": "agent:1", "resources": {"limits": {"cpu": "200m", "memory": "128Mi"}}}]
        }}}
    })
}

struct Stats {
    p50: Duration,
    p99: Duration,
}

fn measure(iterations: usize, mut call: impl FnMut()) -> Stats {
    for _ in 0..iterations / 10 {
        call();
    }
    let mut samples: Vec<Duration> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            call();
            start.elapsed()
        })
        .collect();
    samples.sort();
    Stats {
        p50: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
    }
}

fn report(name: &str, nodes: usize, stats: &Stats) {
    println!(
        "{name:<34} {nodes:>6} nodes  p50 {:>9.2?}  p99 {:>9.2?}",
        stats.p50, stats.p99
    );
}

/// One `evaluate` of `object` in `monitoring`, mutation then validation (all rules), as
/// `lint` and the webhook chain judge it.
fn evaluate_all(inventory: &Inventory, config: &Config, object: &DaemonSet) {
    let context = Context {
        inventory,
        config,
        namespace: "monitoring",
        phase: Phase::MutateThenValidate,
        quiet_when_unsynced: false,
        deadline: None,
    };
    black_box(policy::evaluate(black_box(object), &context));
}

/// One `evaluate` of `object` in `default`, validation only.
fn validate_once(inventory: &Inventory, config: &Config, object: &DaemonSet) {
    let context = Context {
        inventory,
        config,
        namespace: "default",
        phase: Phase::Validate,
        quiet_when_unsynced: false,
        deadline: None,
    };
    black_box(policy::evaluate(black_box(object), &context));
}

/// Selectors an attacker could write, each in an object the API server would store.
fn hostile_selectors() {
    let mut inventory = Inventory::new();
    inventory.reset_nodes((0..5_000).map(|i| {
        NodeUpdate {
            name: format!("n{i}"),
            labels: [
                ("node-id".to_owned(), i.to_string()),
                ("kubernetes.io/os".to_owned(), "linux".to_owned()),
            ]
            .into(),
            taints: Vec::new(),
            allocatable: None,
        }
    }));
    inventory.reset_priority_classes([]);
    inventory.reset_limit_ranges([]);
    let config = Config::default();
    let gt =
        |bound: i64| json!({"key": "node-id", "operator": "Gt", "values": [bound.to_string()]});
    let lt =
        |bound: i64| json!({"key": "node-id", "operator": "Lt", "values": [bound.to_string()]});
    let shapes: Vec<(&str, Vec<serde_json::Value>)> = vec![
        ("10,000 Gt terms above every value", (0..10_000).map(|k| json!({"matchExpressions": [gt(100_000 + k)]})).collect()),
        ("10,000 copies of one term", (0..10_000).map(|_| json!({"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]})).collect()),
        ("10,000 empty Gt/Lt windows", (0..10_000).map(|k| json!({"matchExpressions": [gt(k % 5_000), lt(k % 5_000 - 1)]})).collect()),
        ("5,000 distinct wide Gt terms (worst)", (0..5_000).map(|k| json!({"matchExpressions": [gt(k)]})).collect()),
    ];
    for (name, terms) in shapes {
        let object = DaemonSet::from_value(&json!({
            "kind": "DaemonSet", "metadata": {"name": "hostile"},
            "spec": {"template": {"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}, "containers": []}}}
        }))
        .expect("decodes");
        // Cold: an attacker sends a selection the index has not seen.
        let stats = measure(10, || {
            inventory.forget_remembered();
            validate_once(&inventory, &config, &object)
        });
        report(&format!("evaluate: {name}"), 5_000, &stats);
    }
}

fn main() {
    let object = daemonset();
    // `cargo bench --bench engine -- templates` (or `-- fit`) measures only that part.
    if std::env::args().any(|a| a == "templates") {
        templates_cost(&object, &Config::default());
        return;
    }
    if std::env::args().any(|a| a == "fit") {
        fit_cost(&object, &Config::default());
        return;
    }
    if std::env::args().any(|a| a == "audit") {
        audit_cost();
        return;
    }
    if std::env::args().any(|a| a == "occupancy") {
        occupancy_cost(&object, &Config::default());
        return;
    }
    if std::env::args().any(|a| a == "subsets") {
        let inventory = cluster(5_000);
        let selection = zonal_selection();
        let tolerations = tolerations_of(&object);
        let stats = measure(20_000, || {
            black_box(inventory.placement(black_box(&selection), black_box(&tolerations), false));
        });
        report("indexed, 2 terms of In subsets", 5_000, &stats);
        return;
    }
    let selection: NodeSelection = object.selection();
    let mut tolerations = object.pod().tolerations.clone().unwrap_or_default();
    tolerations.extend(daemon_pod_tolerations(false));
    let config = Config::default();
    for nodes in [5_000, 50_000] {
        let inventory = cluster(nodes);
        let iterations = if nodes > 10_000 { 5_000 } else { 20_000 };
        let indexed = measure(iterations, || {
            black_box(inventory.placement(black_box(&selection), black_box(&tolerations), false));
        });
        report("indexed selector+taints", nodes, &indexed);
        breakdown(&inventory, &selection, &tolerations);
        let naive = measure(iterations / 20, || {
            let mut runnable = 0usize;
            for node in inventory.nodes() {
                if selection.matches(&node.name, |k| node.label(k))
                    && untolerated_taints(&node.taints, &tolerations, false)
                        .next()
                        .is_none()
                {
                    runnable += 1;
                }
            }
            black_box(runnable);
        });
        report("naive per-node scan (reference)", nodes, &naive);
        println!(
            "{:<34} {nodes:>6} nodes  {:.0}x faster at p50",
            "speed-up",
            naive.p50.as_secs_f64() / indexed.p50.as_secs_f64()
        );
        // Cold: the first evaluation of this selection on this version of the index (a
        // new DaemonSet, or the first after a node change). Warm: the same selection and
        // tolerations again, as most admissions and audits are (their reach remembered).
        let cold = measure(iterations, || {
            inventory.forget_remembered();
            evaluate_all(&inventory, &config, &object)
        });
        report("evaluate (all rules, mutation)", nodes, &cold);
        let warm = measure(iterations, || evaluate_all(&inventory, &config, &object));
        report("  the same, reach remembered", nodes, &warm);
        // A harder shape: subsets of zones and instance types (unions of partial sets).
        let zonal = zonal_selection();
        let harder = measure(iterations, || {
            black_box(inventory.placement(black_box(&zonal), black_box(&tolerations), false));
        });
        report("indexed, 2 terms of In subsets", nodes, &harder);
        // A whole admission decision on the 41 KB UPDATE review the load generator sends.
        let review = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/update-41k.json"
        ))
        .unwrap();
        for endpoint in [
            dsguard::admission::Endpoint::Validate,
            dsguard::admission::Endpoint::Mutate,
        ] {
            let decided = measure(iterations / 4, || {
                black_box(
                    dsguard::admission::review(black_box(&review), endpoint, &inventory, &config)
                        .unwrap(),
                );
            });
            report(
                &format!("admission::review 41 KB UPDATE {endpoint:?}"),
                nodes,
                &decided,
            );
        }
        // The same decision's parts: decoding the object alone, and evaluating it alone.
        let parsed: serde_json::Value = serde_json::from_slice(&review).unwrap();
        let object_json = serde_json::to_vec(&parsed["request"]["object"]).unwrap();
        let decoded = measure(iterations / 4, || {
            black_box(DaemonSet::from_json(black_box(&object_json)).unwrap());
        });
        report("  decode the object (20 KB) alone", nodes, &decoded);
        let object = DaemonSet::from_json(&object_json).unwrap();
        let evaluated = measure(iterations / 4, || {
            validate_once(&inventory, &config, &object);
        });
        report("  evaluate it alone (validate)", nodes, &evaluated);
        let null = measure(iterations / 4, || {
            #[derive(serde::Deserialize)]
            struct Review {
                request: Uid,
            }
            #[derive(serde::Deserialize)]
            struct Uid {
                uid: String,
            }
            let review: Review = serde_json::from_slice(black_box(&review)).unwrap();
            black_box(review.request.uid);
        });
        report("uid only (what the null webhook parses)", nodes, &null);
        let placement = inventory.placement(&selection, &tolerations, false);
        println!(
            "{:<34} {nodes:>6} nodes  targeted {} runnable {} taint sets {}",
            "sanity",
            placement.targeted.len(),
            placement.runnable().len(),
            inventory.taint_set_count()
        );
    }
    templates_cost(&object, &config);
    fit_cost(&object, &config);
    audit_cost();
    hostile_selectors();
}

/// The live audit after a node change: every DaemonSet judged again (what `serve
/// --cluster` does when the inventory changes), 2,000 DaemonSets at 5,000 nodes. Then the
/// same with the DaemonSets' loads counted as each node's overhead, as `serve --cluster`
/// counts the DaemonSets it watches: the footprints a change can move placed again first.
/// A real node runs a few dozen DaemonSets (110 pods fit one by default), so the loads
/// are measured with the 2,000 spread over 100 groups of 50 nodes (20 on each node), and
/// once with all 2,000 on every node, where no DaemonSet fits anywhere and each one's
/// DSG005 finding lists where. The grouped DaemonSets are also judged without loads, to
/// tell what the loads cost from what the groups' distinct selections cost.
fn audit_cost() {
    let daemonsets: Vec<DaemonSet> = corpus::corpus_daemonsets(2_000)
        .iter()
        .filter_map(|value| DaemonSet::from_value(value).ok())
        .collect();
    audit_rounds("", &daemonsets, sized_cluster(5_000, true), false, 20);
    // 100 groups: a label on the nodes, and a nodeSelector term for it on each DaemonSet.
    const GROUP: &str = "bench.dsguard.io/group";
    let mut grouped_nodes = sized_cluster(5_000, true);
    let updates: Vec<NodeUpdate> = grouped_nodes
        .nodes()
        .enumerate()
        .map(|(i, node)| {
            let mut update = node.to_update();
            update.labels.insert(GROUP.into(), format!("g{}", i % 100));
            update
        })
        .collect();
    for update in updates {
        grouped_nodes.apply_node(update);
    }
    let grouped: Vec<DaemonSet> = corpus::corpus_daemonsets(2_000)
        .into_iter()
        .enumerate()
        .filter_map(|(i, mut value)| {
            let spec = &mut value["spec"]["template"]["spec"];
            if !spec["nodeSelector"].is_object() {
                spec["nodeSelector"] = json!({});
            }
            spec["nodeSelector"][GROUP] = json!(format!("g{}", i % 100));
            DaemonSet::from_value(&value).ok()
        })
        .collect();
    // The same without the loads: the groups make each DaemonSet's selection its own (up
    // to 2,000 distinct reaches instead of 39), which costs without any load counted.
    audit_rounds(
        ", 20 DaemonSets a node, no loads",
        &grouped,
        grouped_nodes.clone(),
        false,
        20,
    );
    audit_rounds(
        ", loads counted (20 DaemonSets a node)",
        &grouped,
        grouped_nodes,
        true,
        20,
    );
    audit_rounds(
        ", loads counted (all 2,000 on every node)",
        &daemonsets,
        sized_cluster(5_000, true),
        true,
        3,
    );
}

fn audit_rounds(
    label: &str,
    daemonsets: &[DaemonSet],
    cluster: Inventory,
    with_loads: bool,
    rounds: usize,
) {
    use dsguard::audit::Audit;
    let config = Config::default();
    let count = daemonsets.len();
    // Two identical clusters and audits, so that neither way of judging again finds the
    // other's results remembered on the node index.
    let mut inventory = cluster.clone();
    let mut inventory_all = cluster;
    // Every DaemonSet's footprint counted as each node's overhead.
    let place_all = |inventory: &mut Inventory, audit: &mut Audit| {
        let loads = audit.daemon_loads(None, inventory, &config);
        inventory.set_daemon_loads(Some(loads));
    };
    let mut audit = Audit::new();
    let started = Instant::now();
    if with_loads {
        let (loads, _) = dsguard::policy::daemon_loads(daemonsets, &inventory, &config);
        inventory.set_daemon_loads(Some(loads));
    }
    let placed = started.elapsed();
    audit.reset(daemonsets.to_vec(), &inventory, &config);
    let first = started.elapsed();
    let mut audit_all = Audit::new();
    audit_all.reset(daemonsets.to_vec(), &inventory_all, &config);
    if with_loads {
        place_all(&mut inventory_all, &mut audit_all);
        audit_all.rejudge(&inventory_all, &config);
    }
    println!(
        "audit{label}: {count} DaemonSets at 5000 nodes: first judgement {first:.2?} (one thread; the loads placed in {placed:.2?} of it)"
    );
    // A node as it is, to change one thing of it.
    let update_of =
        |inventory: &Inventory, index: usize| inventory.nodes().nth(index).unwrap().to_update();
    type Change = fn(NodeUpdate, usize) -> NodeUpdate;
    let scenarios: [(&str, Change); 3] = [
        ("`kubectl taint` of one node", |mut node, _| {
            node.taints
                .push(Taint::new("dedicated", "audit", "NoSchedule"));
            node
        }),
        ("one node added to a pool", |mut node, round| {
            node.name = format!("scaled-up-{round}");
            node
        }),
        ("one node relabelled and tainted", |mut node, _| {
            node.labels = [("kubernetes.io/os".to_owned(), "linux".to_owned())].into();
            node.taints = vec![Taint::new("dedicated", "audit", "NoSchedule")];
            node
        }),
    ];
    for (what, change) in scenarios {
        let mut all = Vec::new();
        let mut affected = Vec::new();
        for round in 0..rounds {
            let before = inventory.clone();
            let next = change(update_of(&inventory, round * 7 + 1), round);
            inventory.apply_node(next.clone());
            inventory_all.apply_node(next);
            // What `serve --cluster` does: find the changed nodes, judge whom they affect;
            // with the loads, first place again the footprints the changes can move, and
            // mark the nodes whose overhead they moved.
            let started = Instant::now();
            let came = inventory.clone();
            let mut changes = came.node_changes_since(&before).unwrap();
            if with_loads {
                let loads = audit.daemon_loads(Some(&changes), &inventory, &config);
                inventory.set_daemon_loads(Some(loads));
                assert!(inventory.mark_overhead_changes(&before, &mut changes));
            }
            black_box(audit.rejudge_nodes(&changes, &inventory, &config));
            affected.push(started.elapsed());
            // Every DaemonSet judged again, for comparison.
            let started = Instant::now();
            if with_loads {
                place_all(&mut inventory_all, &mut audit_all);
            }
            black_box(audit_all.rejudge(&inventory_all, &config));
            all.push(started.elapsed());
        }
        all.sort();
        affected.sort();
        println!(
            "audit{label}: after {what}: only those it can affect p50 {:.2?} max {:.2?}; all of them p50 {:.2?} max {:.2?}",
            affected[affected.len() / 2],
            affected[affected.len() - 1],
            all[all.len() / 2],
            all[all.len() - 1]
        );
    }
}

/// What DSG005 costs at 5,000 nodes: `evaluate` on nodes without allocatable (DSG005 has
/// nothing to judge), with 12 allocatable sizes, and with the overhead of 30 other
/// DaemonSets spread over subsets of the pools (`--daemonsets`).
fn fit_cost(object: &DaemonSet, config: &Config) {
    let unsized_nodes = sized_cluster(5_000, false);
    let sized = sized_cluster(5_000, true);
    let mut with_daemons = sized.clone();
    let pool_nodes = |pool: usize| {
        let selection = DaemonSet::from_value(&json!({"kind": "DaemonSet", "metadata": {"name": "x"},
            "spec": {"template": {"spec": {"nodeSelector": {"karpenter.sh/nodepool": format!("pool-{pool}")}, "containers": []}}}}))
            .unwrap()
            .selection();
        sized.targeted(&selection)
    };
    let loads = (0..30)
        .map(|j| dsguard::inventory::DaemonLoad {
            namespace: "kube-system".into(),
            name: format!("daemon-{j}"),
            // A third of them everywhere, the rest on one or two pools.
            nodes: std::sync::Arc::new(if j % 3 == 0 {
                sized.all_nodes().clone()
            } else {
                pool_nodes(j % 8) | pool_nodes((j + 3) % 8)
            }),
            requests: [("cpu".to_owned(), 50), ("memory".to_owned(), 64 << 20)].into(),
        })
        .collect();
    with_daemons.set_daemon_loads(Some(loads));
    let evaluate = |inventory: &Inventory| evaluate_all(inventory, config, object);
    let mut rounds: [Vec<Duration>; 3] = Default::default();
    for _ in 0..5 {
        for (i, inventory) in [&unsized_nodes, &sized, &with_daemons]
            .into_iter()
            .enumerate()
        {
            rounds[i].push(measure(20_000, || evaluate(inventory)).p50);
        }
    }
    let median = |mut samples: Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let [none, shapes, daemons] = rounds.map(median);
    println!("evaluate, fit: no allocatable        5000 nodes  p50 {none:>9.2?}");
    println!(
        "evaluate, fit: 12 allocatable sizes   5000 nodes  p50 {shapes:>9.2?}  (+{:.2?})",
        shapes.saturating_sub(none)
    );
    println!(
        "evaluate, fit: + 30 DaemonSets        5000 nodes  p50 {daemons:>9.2?}  (+{:.2?}), {} node shapes",
        daemons.saturating_sub(none),
        with_daemons.node_shapes(("", "")).len()
    );
}

/// Two ORed terms: subsets of zones and instance types, or one pool.
fn zonal_selection() -> NodeSelection {
    DaemonSet::from_value(&json!({
        "kind": "DaemonSet", "metadata": {"name": "zonal"},
        "spec": {"template": {"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["eu-west-1a", "eu-west-1b"]},
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m6i.1xlarge", "m6i.2xlarge", "m6i.3xlarge", "m6i.4xlarge"]}
            ]},
            {"matchExpressions": [{"key": "karpenter.sh/nodepool", "operator": "In", "values": ["pool-7"]}]}
        ]}}}, "containers": []}}}
    }))
    .expect("decodes")
    .selection()
}

/// The bench DaemonSet's tolerations with the DaemonSet controller's.
fn tolerations_of(object: &DaemonSet) -> Vec<dsguard::scheduling::Toleration> {
    let mut tolerations = object.pod().tolerations.clone().unwrap_or_default();
    tolerations.extend(daemon_pod_tolerations(false));
    tolerations
}

/// 20 Karpenter NodePools (5 requirements, a label, a taint on every third) and 10 Cluster
/// API MachineDeployments (capacity labels, a taint on every other): a large fleet's worth.
fn templates() -> Vec<dsguard::scheduling::NodeTemplate> {
    use dsguard::scheduling::selector::{LabelRequirement, NodeSelectorRequirement};
    use dsguard::scheduling::{NodeGroup, NodeTemplate, TemplateKind};
    let requirement = |key: &str, operator: &str, values: &[&str]| {
        LabelRequirement::parse(&NodeSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        })
        .unwrap()
    };
    let mut templates = Vec::new();
    for i in 0..20 {
        let arch: &[&str] = if i % 2 == 0 {
            &["amd64"]
        } else {
            &["amd64", "arm64"]
        };
        let taints = if i % 3 == 0 {
            vec![Taint::new("dedicated", &format!("pool-{i}"), "NoSchedule")]
        } else {
            Vec::new()
        };
        templates.push(NodeTemplate::node_pool(
            &format!("pool-{i}"),
            &[("team".to_owned(), format!("team-{}", i % 5))].into(),
            &[
                requirement("kubernetes.io/arch", "In", arch),
                requirement("kubernetes.io/os", "In", &["linux"]),
                requirement("karpenter.sh/capacity-type", "In", &["spot", "on-demand"]),
                requirement(
                    "karpenter.k8s.aws/instance-family",
                    "In",
                    &["m6i", "c6i", "r6i"],
                ),
                requirement("karpenter.k8s.aws/instance-generation", "Gt", &["2"]),
            ],
            taints,
            Vec::new(),
        ));
    }
    for j in 0..10 {
        let taints = if j % 2 == 0 {
            vec![Taint::new("workload", &format!("md-{j}"), "NoSchedule")]
        } else {
            Vec::new()
        };
        templates.push(NodeTemplate::cluster_api(NodeGroup {
            kind: TemplateKind::MachineDeployment,
            namespace: "infra",
            name: &format!("md-{j}"),
            autoscaler_labels: &[("pool".to_owned(), format!("md-{j}"))].into(),
            machine_labels: &[("node-role.kubernetes.io/worker".to_owned(), String::new())].into(),
            taints,
            replicas: Some(0),
            allocatable: None,
        }));
    }
    templates
}

/// `evaluate` at 5,000 nodes without and with 30 templates, in one run: a DaemonSet the
/// templates do not change the verdict of (the cost of judging them), the bench
/// DaemonSet that 12 tainted templates block (the cost of writing that finding too), and
/// one that only templates can take (DSG001's question).
fn templates_cost(object: &DaemonSet, config: &Config) {
    let plain = cluster(5_000);
    let mut with_templates = plain.clone();
    for template in templates() {
        with_templates.apply_template(template);
    }
    let mut tolerant_json = daemonset_json();
    tolerant_json["spec"]["template"]["spec"]["tolerations"]
        .as_array_mut()
        .unwrap()
        .extend([
            json!({"key": "dedicated", "operator": "Exists"}),
            json!({"key": "workload", "operator": "Exists"}),
        ]);
    let tolerant = DaemonSet::from_value(&tolerant_json).unwrap();
    let mut template_only_json = tolerant_json.clone();
    template_only_json["spec"]["template"]["spec"]["nodeSelector"] = json!({"team": "team-3"});
    let template_only = DaemonSet::from_value(&template_only_json).unwrap();
    for (name, daemonset) in [
        ("same verdict", &tolerant),
        ("12 templates block it", object),
        ("only templates take it", &template_only),
    ] {
        // Cold: every remembered answer forgotten first (both inventories share the node
        // index). Remembered: the same DaemonSet again on an unchanged index.
        for cold in [true, false] {
            let evaluate = |inventory: &Inventory| {
                if cold {
                    inventory.forget_remembered();
                }
                evaluate_all(inventory, config, daemonset)
            };
            // Interleaved rounds, so that drift in the machine's speed hits both alike.
            let (mut without, mut with) = (Vec::new(), Vec::new());
            for _ in 0..5 {
                without.push(measure(20_000, || evaluate(&plain)).p50);
                with.push(measure(20_000, || evaluate(&with_templates)).p50);
            }
            without.sort();
            with.sort();
            let (without, with) = (without[2], with[2]);
            let how = if cold { "cold" } else { "remembered" };
            println!(
                "evaluate, 30 templates, {name:<22} {how:<10} 5000 nodes  p50 {without:>9.2?} without, {with:>9.2?} with: +{:.2?}",
                with.saturating_sub(without)
            );
        }
    }
    let selection = object.selection();
    let mut tolerations = object.pod().tolerations.clone().unwrap_or_default();
    tolerations.extend(daemon_pod_tolerations(false));
    let alone = measure(20_000, || {
        black_box(with_templates.template_placements(black_box(&selection), &tolerations, false));
    });
    report("  template_placements alone (30)", 5_000, &alone);
}

fn breakdown(
    inventory: &Inventory,
    selection: &NodeSelection,
    tolerations: &[dsguard::scheduling::Toleration],
) {
    let t = measure(20_000, || {
        black_box(inventory.targeted(black_box(selection)));
    });
    report("  targeted only", inventory.node_count(), &t);
    let targeted = inventory.targeted(selection);
    let b = measure(20_000, || {
        black_box(inventory.blocked_groups(black_box(&targeted), tolerations, false));
    });
    report("  blocked_groups only", inventory.node_count(), &b);
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// 30 pods per node of 5,000 (150,000): workloads of 20 replicas sharing labels and
/// requests, 6 priorities, every tenth node full to its last millicore.
fn occupied(inventory: &Inventory) -> dsguard::inventory::Occupancy {
    use dsguard::inventory::pods::{Interner, SlimPod};
    let mut interner = Interner::default();
    let mut occupancy = dsguard::inventory::Occupancy::default();
    let names: Vec<(String, i128)> = inventory
        .nodes()
        .map(|n| {
            let cpu = n.allocatable.as_ref().map_or(4000, |a| a["cpu"]);
            (n.name.to_string(), cpu)
        })
        .collect();
    let mut records = Vec::with_capacity(names.len() * 30);
    for (index, (node, cpu)) in names.iter().enumerate() {
        let full = index % 10 == 0;
        // 30 pods of the node's cpu split: full nodes use all of it, others 70%.
        let share = if full { cpu / 30 + 1 } else { cpu * 7 / 300 };
        for slot in 0..30usize {
            let workload = (index * 30 + slot) / 20;
            let priority = [0, 100, 1000, 10000, 100000, 1000000][slot % 6];
            let pod: SlimPod = serde_json::from_value(json!({
                "metadata": {"name": format!("w{workload}-{slot}-{index}"), "namespace": format!("team-{}", workload % 40),
                             "uid": format!("{index}-{slot}"),
                             "labels": {"app": format!("w{workload}"), "pod-template-hash": format!("{:x}", workload * 7919)},
                             "ownerReferences": [{"kind": "ReplicaSet", "name": format!("w{workload}-abc"), "controller": true}]},
                "spec": {"nodeName": node, "priority": priority,
                         "containers": [{"resources": {"requests": {"cpu": format!("{share}m"), "memory": "256Mi"}}}]},
                "status": {"phase": "Running", "startTime": "2026-12-01T00:00:00Z"}
            }))
            .unwrap();
            records.push(pod.record(&|_| Some(0), &mut interner).unwrap());
        }
    }
    occupancy.reset(records);
    occupancy
}

fn occupancy_cost(object: &DaemonSet, config: &Config) {
    let sized = sized_cluster(5_000, true);
    let before = rss_kib();
    let occupancy = occupied(&sized);
    let after = rss_kib();
    println!(
        "occupancy: {} pods on {} nodes       RSS +{:.1} MiB",
        occupancy.pod_count(),
        sized.node_count(),
        (after.saturating_sub(before)) as f64 / 1024.0
    );
    let mut with_pods = sized.clone();
    with_pods.set_occupancy(Some(occupancy.clone()));
    // A daemon that requests something, at a priority the pods straddle.
    let mut value = daemonset_json();
    value["spec"]["template"]["spec"]["priorityClassName"] = json!(null);
    value["spec"]["template"]["spec"]["priority"] = json!(5000);
    value["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] =
        json!({"cpu": "100m", "memory": "128Mi"});
    let requesting = DaemonSet::from_value(&value).unwrap();
    let verdict = {
        let context = Context {
            inventory: &with_pods,
            config,
            namespace: "monitoring",
            phase: Phase::MutateThenValidate,
            quiet_when_unsynced: false,
            deadline: None,
        };
        policy::evaluate(&requesting, &context)
    };
    let dsg007 = verdict
        .findings
        .iter()
        .find(|f| f.rule.id() == "DSG007")
        .map_or("none".to_owned(), |f| f.severity.as_str().to_owned());
    let mut rounds: [Vec<Duration>; 2] = Default::default();
    for _ in 0..5 {
        rounds[0].push(measure(2_000, || evaluate_all(&sized, config, &requesting)).p50);
        rounds[1].push(measure(2_000, || evaluate_all(&with_pods, config, &requesting)).p50);
    }
    let median = |mut samples: Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let [without, with] = rounds.map(median);
    println!("evaluate without pods                 5000 nodes  p50 {without:>9.2?}");
    println!(
        "evaluate with 150,000 pods (DSG007 {dsg007}) 5000 nodes  p50 {with:>9.2?}  (+{:.2?})",
        with.saturating_sub(without)
    );
    let _ = object;
    // One watch event: a pod on a node of 30 updated in place (remove + add, aggregates
    // kept), on a view nobody else holds (the watch batches events into one copy).
    let mut working = occupancy;
    let node: std::sync::Arc<str> =
        std::sync::Arc::from(sized.nodes().nth(17).unwrap().name.as_ref());
    let record = working.node(&node).unwrap().pods()[3].clone();
    let stats = measure(200_000, || {
        working.apply(&node, black_box(record.clone()));
    });
    println!(
        "pod watch event applied (30 on node)             p50 {:>9.2?}  p99 {:>9.2?}",
        stats.p50, stats.p99
    );
}
