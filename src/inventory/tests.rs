//! The index against the per-node reference, and the events that feed it.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;
use serde_json::json;

use super::snapshot::{limit_ranges_from_str, nodes_from_str, priority_classes_from_str};
use super::*;
use crate::scheduling::selector::{Affinity, NodeSelector};
use crate::scheduling::{NodeSelection, Toleration, daemon_pod_tolerations, untolerated_taints};

fn names(inventory: &Inventory, nodes: &RoaringBitmap) -> Vec<String> {
    let mut names: Vec<String> = nodes
        .iter()
        .map(|s| inventory.node(s).name.to_string())
        .collect();
    names.sort();
    names
}

fn reference(inventory: &Inventory, selection: &NodeSelection) -> Vec<String> {
    let mut names: Vec<String> = inventory
        .nodes()
        .filter(|n| selection.matches(&n.name, |k| n.label(k)))
        .map(|n| n.name.to_string())
        .collect();
    names.sort();
    names
}

fn selection_of(spec: serde_json::Value) -> NodeSelection {
    let node_selector: Option<BTreeMap<String, String>> = spec
        .get("nodeSelector")
        .map(|v| serde_json::from_value(v.clone()).unwrap());
    let affinity: Option<Affinity> = spec
        .get("affinity")
        .map(|v| serde_json::from_value(v.clone()).unwrap());
    NodeSelection::new(
        spec.get("nodeName").and_then(|v| v.as_str()),
        node_selector.as_ref(),
        affinity.as_ref().and_then(Affinity::required),
    )
}

/// A deterministic generator, so the comparison below covers many shapes without a
/// random-number dependency.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound
    }
}

#[test]
fn indexed_selection_agrees_with_the_per_node_reference() {
    let keys = ["zone", "pool", "cores", "gpu", "kubernetes.io/os"];
    let values = [
        "a",
        "b",
        "c",
        "4",
        "8",
        "016",
        "",
        "linux",
        "-3",
        "+4",
        "9223372036854775807",
        "-9223372036854775808",
    ];
    let ops = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Bogus"];
    let mut rng = Lcg(7);
    let mut inventory = Inventory::new();
    for i in 0..200 {
        let mut labels = Vec::new();
        for key in keys {
            if rng.next(3) > 0 {
                labels.push((key, values[rng.next(values.len())]));
            }
        }
        let taints: &[(&str, &str, &str)] = match rng.next(4) {
            0 => &[("dedicated", "gpu", "NoSchedule")],
            1 => &[
                ("node-role.kubernetes.io/master", "", "NoSchedule"),
                ("x", "", "PreferNoSchedule"),
            ],
            _ => &[],
        };
        inventory.apply_node(NodeUpdate::of(&format!("n{i}"), &labels, taints));
    }
    for round in 0..400 {
        let mut terms = Vec::new();
        for _ in 0..rng.next(3) + 1 {
            let mut expressions = Vec::new();
            for _ in 0..rng.next(3) {
                let op = ops[rng.next(ops.len())];
                let count = match op {
                    "Exists" | "DoesNotExist" => 0,
                    "Gt" | "Lt" => 1,
                    _ => rng.next(3),
                };
                let vals: Vec<&str> = (0..count).map(|_| values[rng.next(values.len())]).collect();
                expressions.push(
                    json!({"key": keys[rng.next(keys.len())], "operator": op, "values": vals}),
                );
            }
            let mut term = json!({"matchExpressions": expressions});
            if rng.next(5) == 0 {
                let op = if rng.next(2) == 0 { "In" } else { "NotIn" };
                term["matchFields"] = json!([{"key": "metadata.name", "operator": op, "values": [format!("n{}", rng.next(250))]}]);
            }
            terms.push(term);
        }
        let mut spec = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}});
        if rng.next(2) == 0 {
            spec["nodeSelector"] =
                json!({keys[rng.next(keys.len())]: values[rng.next(values.len())]});
        }
        if rng.next(10) == 0 {
            spec["nodeName"] = json!(format!("n{}", rng.next(250)));
        }
        let selection = selection_of(spec.clone());
        assert_eq!(
            names(&inventory, &inventory.targeted(&selection)),
            reference(&inventory, &selection),
            "round {round}: {spec}"
        );
    }
}

#[test]
fn blocked_nodes_agree_with_per_node_taint_checks() {
    let mut inventory = Inventory::new();
    inventory.apply_node(NodeUpdate::of("a", &[], &[]));
    inventory.apply_node(NodeUpdate::of(
        "b",
        &[],
        &[("dedicated", "gpu", "NoSchedule")],
    ));
    inventory.apply_node(NodeUpdate::of(
        "c",
        &[],
        &[("dedicated", "gpu", "NoSchedule")],
    ));
    inventory.apply_node(NodeUpdate::of(
        "d",
        &[],
        &[("soft", "", "PreferNoSchedule")],
    ));
    inventory.apply_node(NodeUpdate::of(
        "e",
        &[],
        &[
            ("node.kubernetes.io/unreachable", "", "NoExecute"),
            ("evict", "", "NoExecute"),
        ],
    ));
    let mut tolerations = daemon_pod_tolerations(false);
    let placement = inventory.placement(&NodeSelection::default(), &tolerations, false);
    for record in inventory.nodes() {
        let blocked_here = untolerated_taints(&record.taints, &tolerations, false).count() > 0;
        let slot = inventory.slot_of(&record.name).unwrap();
        assert_eq!(
            placement.blocked_nodes().contains(slot),
            blocked_here,
            "{}",
            record.name
        );
    }
    assert_eq!(names(&inventory, &placement.runnable()), ["a", "d"]);
    let e_group = placement
        .blocked
        .iter()
        .find(|g| g.nodes.len() == 1)
        .unwrap();
    assert_eq!(e_group.untolerated, [Taint::new("evict", "", "NoExecute")]);

    tolerations.push(Toleration::exists("", ""));
    let placement = inventory.placement(&NodeSelection::default(), &tolerations, false);
    assert!(placement.blocked.is_empty());
    assert_eq!(placement.runnable().len(), 5);
}

#[test]
fn numeric_requirements_follow_relabels_and_deletes() {
    let gt = |bound: i64| {
        selection_of(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": [bound.to_string()]}]}]}}}}),
        )
    };
    let mut inventory = Inventory::new();
    inventory.apply_node(NodeUpdate::of("a", &[("cores", "8")], &[]));
    inventory.apply_node(NodeUpdate::of("b", &[("cores", "008")], &[]));
    inventory.apply_node(NodeUpdate::of("c", &[("cores", "16")], &[]));
    assert_eq!(
        names(&inventory, &inventory.targeted(&gt(7))),
        ["a", "b", "c"]
    );
    assert_eq!(names(&inventory, &inventory.targeted(&gt(8))), ["c"]);
    // "008" leaves the index with its last node; "8" stays for a.
    inventory.apply_node(NodeUpdate::of("b", &[("cores", "x")], &[]));
    assert_eq!(names(&inventory, &inventory.targeted(&gt(7))), ["a", "c"]);
    inventory.delete_node("c");
    assert!(inventory.targeted(&gt(8)).is_empty());
    assert!(inventory.targeted(&gt(i64::MAX)).is_empty());
    // Many copies of one term cost one evaluation and mean the same.
    let one = json!({"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["9"]}]});
    let many = selection_of(
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": vec![one; 5000]}}}}),
    );
    assert_eq!(names(&inventory, &inventory.targeted(&many)), ["a"]);
    assert_eq!(reference(&inventory, &many), ["a"]);
}

#[test]
fn relabel_retaint_and_delete_update_every_index() {
    let mut inventory = Inventory::new();
    inventory.apply_node(NodeUpdate::of("a", &[("pool", "x")], &[]));
    inventory.apply_node(NodeUpdate::of(
        "b",
        &[("pool", "x")],
        &[("t", "", "NoSchedule")],
    ));
    let pool = |value: &str| {
        NodeSelection::new(
            None,
            Some(&[("pool".to_string(), value.to_string())].into()),
            None,
        )
    };
    assert_eq!(
        names(&inventory, &inventory.targeted(&pool("x"))),
        ["a", "b"]
    );

    inventory.apply_node(NodeUpdate::of(
        "a",
        &[("pool", "y")],
        &[("t", "", "NoSchedule")],
    ));
    assert_eq!(names(&inventory, &inventory.targeted(&pool("x"))), ["b"]);
    assert_eq!(names(&inventory, &inventory.targeted(&pool("y"))), ["a"]);
    assert_eq!(
        inventory.taint_set_count(),
        1,
        "a and b share one interned taint set"
    );

    inventory.delete_node("b");
    inventory.delete_node("never-existed");
    assert!(inventory.targeted(&pool("x")).is_empty());
    assert!(
        inventory
            .most_common_label_values("pool", usize::MAX)
            .0
            .iter()
            .all(|(v, _)| *v == "y")
    );
    // The freed slot is reused and starts clean.
    inventory.apply_node(NodeUpdate::of("c", &[], &[]));
    assert_eq!(inventory.node_count(), 2);
    assert!(inventory.targeted(&pool("x")).is_empty());
    assert_eq!(inventory.node_by_name("c").unwrap().taints.len(), 0);

    assert!(!inventory.synced().nodes);
    inventory.reset_nodes([NodeUpdate::of("z", &[("pool", "x")], &[])]);
    assert!(inventory.synced().nodes);
    assert_eq!(names(&inventory, &inventory.targeted(&pool("x"))), ["z"]);
    assert_eq!(inventory.node_count(), 1);
}

#[test]
fn every_corpus_node_file_loads() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/nodes");
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("tests/corpus/nodes exists") {
        let path = entry.unwrap().path();
        let nodes = snapshot::load_nodes(&path, crate::input::DEFAULT_MAX_FILE_BYTES)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!nodes.is_empty(), "{}", path.display());
        total += nodes.len();
    }
    assert_eq!(total, 20, "the corpus INDEX lists 20 nodes");
}

#[test]
fn snapshots_come_as_lists_documents_or_arrays() {
    let json_list = r#"{"apiVersion":"v1","kind":"List","items":[
        {"kind":"Node","metadata":{"name":"a","labels":{"x":"1"}},"spec":{"taints":[{"key":"k","effect":"NoSchedule"}]},"status":{"images":[]}},
        {"kind":"Node","metadata":{"name":"b"}}]}"#;
    let nodes = nodes_from_str(json_list, "nodes.json").unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0].taints, [Taint::new("k", "", "NoSchedule")]);
    assert_eq!(nodes[0].labels["x"], "1");

    let array =
        r#"[{"kind":"Node","metadata":{"name":"a"}},{"kind":"Node","metadata":{"name":"b"}}]"#;
    assert_eq!(nodes_from_str(array, "a.json").unwrap().len(), 2);

    let multi = "kind: Node\nmetadata: {name: a}\n---\nkind: Node\nmetadata:\n  name: b\nspec:\n  taints: null\n";
    assert_eq!(nodes_from_str(multi, "m.yaml").unwrap().len(), 2);

    let yaml_array = "- kind: Node\n  metadata: {name: a}\n- kind: Node\n  metadata: {name: b}\n";
    assert_eq!(nodes_from_str(yaml_array, "l.yaml").unwrap().len(), 2);
}

#[test]
fn bad_snapshots_say_where_and_why() {
    let wrong_kind = "kind: Pod\nmetadata: {name: a}\n";
    let error = nodes_from_str(wrong_kind, "pods.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("no Node") && error.contains("kubectl get nodes"),
        "{error}"
    );

    let bad_type = "kind: Node\nmetadata:\n  name: a\n  labels:\n    x: [1]\n";
    let error = nodes_from_str(bad_type, "n.yaml").unwrap_err().to_string();
    assert!(error.starts_with("n.yaml:5:"), "{error}");
    assert!(error.contains("metadata.labels.x"), "{error}");

    let truncated = r#"{"kind":"List","items":[{"kind":"Node","metadata":{"name":"a"}"#;
    let error = nodes_from_str(truncated, "t.json").unwrap_err().to_string();
    assert!(error.starts_with("t.json:1:"), "{error}");

    let nameless = "kind: Node\nmetadata: {}\n";
    assert!(
        nodes_from_str(nameless, "x.yaml")
            .unwrap_err()
            .to_string()
            .contains("without metadata.name")
    );
}

#[test]
fn priority_classes_and_limit_ranges_load_with_api_defaults() {
    let classes = "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: low}\nvalue: 10\nglobalDefault: true\n---\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\n";
    let mut inventory = Inventory::new();
    inventory.reset_priority_classes(priority_classes_from_str(classes, "pc.yaml").unwrap());
    assert!(inventory.priority_class_exists("low"));
    assert!(
        inventory.priority_class_exists("system-node-critical"),
        "built-in classes always exist"
    );
    assert!(!inventory.priority_class_exists("missing"));
    assert_eq!(
        inventory.global_default_priority_class().unwrap().name,
        "low"
    );

    let ranges = "kind: LimitRange\nmetadata: {name: lr, namespace: team}\nspec:\n  limits:\n  - type: Container\n    default: {memory: 512Mi}\n    max: {cpu: '2'}\n  - type: Pod\n    max: {ephemeral-storage: 1Gi}\n";
    inventory.reset_limit_ranges(limit_ranges_from_str(ranges, "lr.yaml").unwrap());
    let in_team: Vec<_> = inventory.limit_ranges_in("team").collect();
    assert_eq!(in_team.len(), 1);
    assert_eq!(
        in_team[0]
            .default_limits
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["cpu", "memory"],
        "default is filled from max; Pod-type items give no container default"
    );
    assert_eq!(inventory.limit_ranges_in("other").count(), 0);
    assert_eq!(
        inventory.default_requests_in("team"),
        [("cpu".to_string(), 2000), ("memory".to_string(), 512 << 20)].into(),
        "defaultRequest <- default <- max, as the API server defaults a LimitRange"
    );
    let layered = "kind: LimitRange\nmetadata: {name: a, namespace: t}\nspec:\n  limits:\n  - type: Container\n    defaultRequest: {cpu: 100m}\n    min: {memory: 32Mi}\n  - type: Container\n    defaultRequest: {cpu: 200m}\n---\nkind: LimitRange\nmetadata: {name: b, namespace: t}\nspec:\n  limits:\n  - type: Container\n    defaultRequest: {cpu: 300m, ephemeral-storage: 1Gi}\n";
    inventory.reset_limit_ranges(limit_ranges_from_str(layered, "lr.yaml").unwrap());
    assert_eq!(
        inventory.default_requests_in("t"),
        [
            ("cpu".to_string(), 200),
            ("ephemeral-storage".to_string(), 1 << 30),
            ("memory".to_string(), 32 << 20)
        ]
        .into(),
        "a later item overrides within a range; the first range fills a key"
    );
}

#[test]
fn required_terms_with_null_list_select_nothing_in_the_index() {
    let mut inventory = Inventory::new();
    inventory.apply_node(NodeUpdate::of("a", &[], &[]));
    let selection = NodeSelection::new(None, None, Some(&NodeSelector::default()));
    assert!(inventory.targeted(&selection).is_empty());
    assert_eq!(inventory.targeted(&NodeSelection::default()).len(), 1);
}

#[test]
fn template_files_read_lists_json_and_skip_other_kinds() {
    use super::snapshot::templates_from_str;
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: karpenter.sh/v1\n  kind: NodePool\n  metadata: {name: b}\n- apiVersion: karpenter.sh/v1\n  kind: NodePool\n  metadata: {name: a}\n  spec:\n    template:\n      spec:\n        taints: [{key: k, value: v, effect: NoSchedule}]\n---\napiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata: {name: default}\n";
    let loaded = templates_from_str(list, "pools.yaml").unwrap();
    let names: Vec<&str> = loaded.templates.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["b", "a"]);
    assert!(loaded.notices.is_empty());

    let json = r#"{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "MachineSet", "metadata": {"name": "ms", "namespace": "infra", "annotations": {"cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "0", "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "3", "capacity.cluster-autoscaler.kubernetes.io/labels": "pool=edge"}}, "spec": {"replicas": 2}}"#;
    let loaded = templates_from_str(json, "ms.json").unwrap();
    assert_eq!(loaded.templates[0].display_name(), "MachineSet infra/ms");
    assert_eq!(loaded.templates[0].replicas, Some(2));

    let mut inventory = Inventory::new();
    inventory.reset_templates(
        crate::scheduling::TemplateKind::NodePool,
        templates_from_str(list, "pools.yaml").unwrap().templates,
    );
    let order: Vec<&str> = inventory
        .templates()
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(order, ["a", "b"], "kept sorted by kind, namespace, name");
    inventory.delete_template(crate::scheduling::TemplateKind::NodePool, "", "a");
    assert_eq!(inventory.template_count(), 1);
}

#[test]
fn template_objects_that_are_not_templates_say_why_and_bad_ones_are_errors() {
    use super::snapshot::templates_from_str;
    let md = |annotations: &str, owners: &str| {
        format!(
            "apiVersion: cluster.x-k8s.io/v1beta1\nkind: MachineSet\nmetadata:\n  name: ms\n  annotations: {annotations}\n  ownerReferences: {owners}\n"
        )
    };
    let bounds = "{cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size: '0', cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size: '3'";
    let static_pool = templates_from_str(&md("{}", "[]"), "ms.yaml").unwrap();
    assert!(static_pool.templates.is_empty());
    assert!(
        static_pool.notices[0].contains("the cluster-autoscaler does not scale it"),
        "{:?}",
        static_pool.notices
    );

    let owned = templates_from_str(
        &md(
            &format!("{bounds}}}"),
            "[{kind: MachineDeployment, name: md}]",
        ),
        "ms.yaml",
    )
    .unwrap();
    assert!(
        owned.notices[0].contains("owned by MachineDeployment md"),
        "{:?}",
        owned.notices
    );

    let bad_taint = templates_from_str(
        &md(
            &format!("{bounds}, capacity.cluster-autoscaler.kubernetes.io/taints: 'gpu=yes'}}"),
            "[]",
        ),
        "ms.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad_taint.starts_with(
            "ms.yaml:1:1: annotation capacity.cluster-autoscaler.kubernetes.io/taints: \"gpu=yes\""
        ),
        "{bad_taint}"
    );

    let bad_requirement = "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: p}\nspec:\n  template:\n    spec:\n      requirements:\n      - {key: kubernetes.io/arch, operator: Above, values: [amd64]}\n";
    let error = templates_from_str(bad_requirement, "p.yaml")
        .unwrap_err()
        .to_string();
    assert!(error.contains("spec.template.spec.requirements[0]: kubernetes.io/arch: \"Above\" is not a valid node selector operator"), "{error}");
}

/// Updates that change some labels, taints or allocatable in place leave the index exactly
/// as building it afresh from the final nodes would, and a copy taken before them still
/// answers for the nodes as they were.
#[test]
fn in_place_updates_equal_a_fresh_index_and_leave_copies_untouched() {
    let node = |i: usize, round: usize| {
        let mut update = NodeUpdate::of(
            &format!("n{i}"),
            &[
                ("zone", ["a", "b", "c"][(i + round) % 3]),
                ("pool", if i % 4 == 0 { "gpu" } else { "general" }),
                ("rank", &(i * (round + 1)).to_string()),
            ],
            if (i + round) % 5 == 0 {
                &[("dedicated", "x", "NoSchedule")]
            } else {
                &[]
            },
        );
        if round > 0 && i % 3 == 0 {
            update.labels.remove("pool");
        }
        update.allocatable =
            (i % 2 == round % 2).then(|| [("cpu".to_string(), 1000 + i as i128 % 3)].into());
        update
    };
    let mut inventory = Inventory::new();
    inventory.reset_nodes((0..40).map(|i| node(i, 0)));
    let before = inventory.clone();
    for round in 1..4 {
        for i in (0..40).filter(|i| i % (round + 1) == 0) {
            inventory.apply_node(node(i, round));
        }
    }
    inventory.delete_node("n7");
    let finals: Vec<NodeUpdate> = inventory.nodes().map(NodeRecord::to_update).collect();
    let mut fresh = Inventory::new();
    fresh.reset_nodes(finals);
    let selections = [
        json!({"nodeSelector": {"zone": "a"}}),
        json!({"nodeSelector": {"pool": "general"}}),
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "pool", "operator": "DoesNotExist"}]},
            {"matchExpressions": [{"key": "rank", "operator": "Gt", "values": ["60"]}]}]}}}}),
    ];
    for spec in &selections {
        let selection = selection_of(spec.clone());
        assert_eq!(
            names(&inventory, &inventory.targeted(&selection)),
            names(&fresh, &fresh.targeted(&selection)),
            "{spec}"
        );
        assert_eq!(
            names(&inventory, &inventory.targeted(&selection)),
            reference(&inventory, &selection),
            "{spec}"
        );
        assert_eq!(
            names(&before, &before.targeted(&selection)),
            reference(&before, &selection),
            "the copy: {spec}"
        );
    }
    let mut keys: Vec<&str> = inventory.label_keys().collect();
    let mut fresh_keys: Vec<&str> = fresh.label_keys().collect();
    keys.sort();
    fresh_keys.sort();
    assert_eq!(keys, fresh_keys);
    for key in &keys {
        let values = |inv: &Inventory| {
            let mut v: Vec<(String, u64)> = inv
                .most_common_label_values(key, usize::MAX)
                .0
                .into_iter()
                .map(|(v, n)| (v.to_owned(), n))
                .collect();
            v.sort();
            v
        };
        assert_eq!(values(&inventory), values(&fresh), "{key}");
    }
    assert_eq!(inventory.taint_set_count(), fresh.taint_set_count());
    // (allocatable list, node names) per shape.
    type Shape = (Vec<(String, i128)>, Vec<String>);
    let shapes = |inv: &Inventory| {
        let mut s: Vec<Shape> = inv
            .allocatable_sets()
            .map(|(list, nodes)| {
                (
                    list.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                    names(inv, nodes),
                )
            })
            .collect();
        s.sort();
        s
    };
    assert_eq!(shapes(&inventory), shapes(&fresh));
    let tolerations = daemon_pod_tolerations(false);
    let blocked = |inv: &Inventory| {
        names(
            inv,
            &inv.placement(&NodeSelection::default(), &tolerations, false)
                .blocked_nodes(),
        )
    };
    assert_eq!(blocked(&inventory), blocked(&fresh));
}

/// A reach is remembered per version of the index and shared; a change forgets it; a
/// selection too large to hold as a key (a hostile one) is worked out each time.
#[test]
fn reaches_are_remembered_per_version_and_only_when_small() {
    let mut inventory = Inventory::new();
    inventory.reset_nodes([
        NodeUpdate::of("a", &[("kubernetes.io/os", "linux")], &[]),
        NodeUpdate::of(
            "b",
            &[("kubernetes.io/os", "linux")],
            &[("x", "", "NoSchedule")],
        ),
    ]);
    let key = |selection: NodeSelection| ReachKey {
        selection,
        tolerations: Vec::new(),
        host_network: false,
        comparison_operators: false,
    };
    let small = key(selection_of(
        json!({"nodeSelector": {"kubernetes.io/os": "linux"}}),
    ));
    let first = inventory.reach(&small, inventory.targeted_shared(&small.selection));
    assert!(Arc::ptr_eq(
        &first,
        &inventory.reach(&small, inventory.targeted_shared(&small.selection))
    ));
    assert_eq!(names(&inventory, &first.runnable), ["a"]);
    inventory.apply_node(NodeUpdate::of("b", &[("kubernetes.io/os", "linux")], &[]));
    let after = inventory.reach(&small, inventory.targeted_shared(&small.selection));
    assert!(!Arc::ptr_eq(&first, &after));
    assert_eq!(names(&inventory, &after.runnable), ["a", "b"]);

    // Answers that depend on the templates are kept for the latest set only.
    let one = after.with_templates(1);
    assert!(Arc::ptr_eq(&one, &after.with_templates(1)));
    let two = after.with_templates(2);
    assert!(!Arc::ptr_eq(&one, &two));
    assert!(
        !Arc::ptr_eq(&one, &after.with_templates(1)),
        "the first set's answers were let go"
    );

    let values: Vec<String> = (0..2_000).map(|i| format!("value-{i}")).collect();
    let large = key(selection_of(json!({"affinity": {"nodeAffinity": {
    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "NotIn", "values": values}]}
    ]}}}})));
    assert!(large.text_bytes() > MAX_REMEMBERED_KEY_BYTES);
    let once = inventory.reach(&large, inventory.targeted_shared(&large.selection));
    assert_eq!(names(&inventory, &once.runnable), ["a", "b"]);
    assert!(!Arc::ptr_eq(
        &once,
        &inventory.reach(&large, inventory.targeted_shared(&large.selection))
    ));
    assert!(!Arc::ptr_eq(
        &inventory.targeted_shared(&large.selection),
        &inventory.targeted_shared(&large.selection)
    ));
}

/// Selections over labels many nodes carry are computed on dense bitsets: the answer is
/// the per-node reference's, before and after relabels, deletes and re-adds move values
/// across the line where a dense copy is made or dropped.
#[test]
fn dense_selection_agrees_with_the_per_node_reference_through_churn() {
    let keys = ["zone", "pool", "kubernetes.io/os", "rare"];
    let values = ["a", "b", "c", "linux", "x"];
    let ops = ["In", "NotIn", "Exists", "DoesNotExist"];
    let mut rng = Lcg(11);
    let node = |rng: &mut Lcg, i: usize| {
        let mut labels = Vec::new();
        for key in keys {
            // `rare` is on few nodes: its values never get a dense copy.
            let odds = if key == "rare" { 40 } else { 4 };
            if rng.next(odds) > 0 && (key != "rare" || rng.next(40) == 0) {
                labels.push((key, values[rng.next(values.len())]));
            }
        }
        NodeUpdate::of(&format!("n{i}"), &labels, &[])
    };
    let mut inventory = Inventory::new();
    for i in 0..1_500 {
        let update = node(&mut rng, i);
        inventory.apply_node(update);
    }
    let mut dense_rounds = 0;
    for round in 0..900 {
        if round % 300 == 299 {
            // Churn: relabel a third, delete a tenth, add some back.
            for _ in 0..500 {
                let i = rng.next(1_500);
                let update = node(&mut rng, i);
                inventory.apply_node(update);
            }
            for _ in 0..150 {
                inventory.delete_node(&format!("n{}", rng.next(1_500)));
            }
            for i in 1_500..1_600 {
                let update = node(&mut rng, i);
                inventory.apply_node(update);
            }
        }
        let mut terms = Vec::new();
        for _ in 0..rng.next(3) + 1 {
            let mut expressions = Vec::new();
            for _ in 0..rng.next(3) + 1 {
                let op = ops[rng.next(ops.len())];
                let count = if op.ends_with("In") {
                    rng.next(3) + 1
                } else {
                    0
                };
                let vals: Vec<&str> = (0..count).map(|_| values[rng.next(values.len())]).collect();
                expressions.push(
                    json!({"key": keys[rng.next(keys.len())], "operator": op, "values": vals}),
                );
            }
            terms.push(json!({"matchExpressions": expressions}));
        }
        let mut spec = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}});
        if rng.next(2) == 0 {
            spec["nodeSelector"] = json!({keys[rng.next(3)]: values[rng.next(values.len())]});
        }
        let selection = selection_of(spec.clone());
        if inventory.dense_targeted(&selection).is_some() {
            dense_rounds += 1;
        }
        assert_eq!(
            names(&inventory, &inventory.targeted(&selection)),
            reference(&inventory, &selection),
            "round {round}: {spec}"
        );
    }
    assert!(dense_rounds > 300, "only {dense_rounds} rounds were dense");
}

/// The index remembers at most 1,024 answers, then drops them all; an audit of many
/// DaemonSets asks for room for its own (eight answers each), which a copy of the index
/// keeps, and past which answers are dropped again.
#[test]
fn the_index_remembers_as_many_answers_as_the_audit_needs() {
    let mut inventory = Inventory::new();
    inventory.reset_nodes([NodeUpdate::of("a", &[], &[])]);
    let computed = std::cell::Cell::new(0);
    let ask = |inventory: &Inventory, key: u32| {
        inventory.derived(&key, || {
            computed.set(computed.get() + 1);
            key
        });
    };
    let first_again = |inventory: &Inventory, answers: u32| {
        computed.set(0);
        for key in 0..answers {
            ask(inventory, key);
        }
        ask(inventory, 0);
        computed.get()
    };
    // 1,500 answers: the first is dropped with the rest at 1,024, worked out again.
    assert_eq!(first_again(&inventory, 1_500), 1_501);
    inventory.forget_remembered();
    inventory.remember_answers_for(2_000);
    assert_eq!(first_again(&inventory, 1_500), 1_500);
    // A node change copies the index (another copy still reads the old one): the copy
    // remembers nothing yet, within the same bound.
    let mut copy = inventory.clone();
    copy.apply_node(NodeUpdate::of("b", &[], &[]));
    assert_eq!(first_again(&copy, 1_500), 1_500);
    copy.forget_remembered();
    assert_eq!(first_again(&copy, 16_001), 16_002);
}
