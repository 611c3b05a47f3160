//! The audit on synthetic inventories: counts, gaps, transitions and reports, with the
//! Kubernetes cases that decide them (a taint per node, a relabel, a too-small node).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::inventory::NodeUpdate;

/// Eight nodes in pool `general`, four in `infra`, with 4 CPUs each.
fn nodes() -> Vec<NodeUpdate> {
    (0..12)
        .map(|i| {
            let pool = if i < 8 { "general" } else { "infra" };
            let mut node = NodeUpdate::of(
                &format!("node-{i}"),
                &[
                    ("kubernetes.io/os", "linux"),
                    ("karpenter.sh/nodepool", pool),
                ],
                &[],
            );
            node.allocatable =
                Some([("cpu".to_string(), 4000), ("memory".to_string(), 16 << 30)].into());
            node
        })
        .collect()
}

/// A Linux node of `pool` with `cpu` millicores and 16 GiB.
fn pool_node(name: &str, pool: &str, taints: &[(&str, &str, &str)], cpu: i128) -> NodeUpdate {
    let mut node = NodeUpdate::of(
        name,
        &[
            ("kubernetes.io/os", "linux"),
            ("karpenter.sh/nodepool", pool),
        ],
        taints,
    );
    node.allocatable = Some([("cpu".to_string(), cpu), ("memory".to_string(), 16 << 30)].into());
    node
}

/// Judges `partial` again for `changes` only and `full` for everything: both must give
/// the same transitions and judgements.
fn judged_alike(
    partial: &mut Audit,
    full: &mut Audit,
    changes: &[NodeDifference<'_>],
    inventory: &Inventory,
    config: &Config,
    step: usize,
) {
    let from_partial = partial.rejudge_nodes(changes, inventory, config);
    let from_full = full.rejudge(inventory, config);
    assert_eq!(from_partial, from_full, "step {step}");
    let a: Vec<_> = partial.judgements().collect();
    let b: Vec<_> = full.judgements().collect();
    assert_eq!(a, b, "step {step}");
}

fn cluster() -> Inventory {
    let mut inventory = Inventory::new();
    inventory.reset_nodes(nodes());
    inventory.reset_priority_classes([]);
    inventory.reset_limit_ranges([]);
    inventory
}

fn daemonset(name: &str, uid: &str, pod: Value) -> DaemonSet {
    DaemonSet::from_value(&json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "logging", "uid": uid},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": pod}}
    }))
    .unwrap()
}

fn shipper(cpu: &str) -> DaemonSet {
    daemonset(
        "shipper",
        "uid-1",
        json!({"containers": [{"name": "main", "image": "shipper:1",
            "resources": {"requests": {"cpu": cpu}, "limits": {"cpu": cpu, "memory": "64Mi"}}}]}),
    )
}

/// What `kubectl taint nodes -l karpenter.sh/nodepool=infra dedicated=infra:NoSchedule`
/// does: one update per node.
fn taint_infra(inventory: &mut Inventory) {
    for mut node in nodes().into_iter().skip(8) {
        node.taints = vec![crate::scheduling::Taint::new(
            "dedicated",
            "infra",
            "NoSchedule",
        )];
        inventory.apply_node(node);
    }
}

#[test]
fn counts_every_state_of_the_nodes_it_targets() {
    let mut inventory = cluster();
    taint_infra(&mut inventory);
    let mut small = nodes().remove(0);
    small.allocatable = Some([("cpu".to_string(), 500), ("memory".to_string(), 1 << 30)].into());
    inventory.apply_node(small);
    let judgement = judge(&shipper("1"), &inventory, &Config::default());
    assert_eq!(
        judgement.nodes,
        NodeCounts {
            targeted: 12,
            runnable: 8,
            blocked: 4,
            unfit: 1
        }
    );
    assert_eq!(judgement.uid, "uid-1");
    let causes: Vec<(&str, &str, u64)> = judgement
        .gaps
        .iter()
        .map(|(g, n)| (g.place.as_str(), g.cause.as_str(), *n))
        .collect();
    assert_eq!(
        causes,
        [
            ("general", "requests exceed allocatable: cpu", 1),
            ("infra", "untolerated taints dedicated=infra:NoSchedule", 4),
        ]
    );
}

#[test]
fn a_taint_burst_is_one_transition_naming_pool_taint_and_count() {
    let config = Config::default();
    let mut inventory = cluster();
    let mut audit = Audit::new();
    assert_eq!(audit.apply(shipper("100m"), &inventory, &config), None);
    taint_infra(&mut inventory);
    let transitions = audit.rejudge(&inventory, &config);
    assert_eq!(transitions.len(), 1, "{transitions:?}");
    let change = &transitions[0].change;
    assert!(change.restored.is_empty());
    assert_eq!(
        change.lost_note(),
        "no longer runs on 4 targeted nodes: 4 nodes in pool infra: untolerated taints dedicated=infra:NoSchedule"
    );
    assert_eq!(transitions[0].key.to_string(), "logging/shipper");
    // Judged again with nothing changed: no transition.
    assert!(audit.rejudge(&inventory, &config).is_empty());
    // Untainted: restored, with the same nodes.
    let inventory = cluster();
    let transitions = audit.rejudge(&inventory, &config);
    assert_eq!(transitions.len(), 1);
    assert!(transitions[0].change.lost.is_empty());
    assert_eq!(
        transitions[0].change.restored_note(),
        "runs again on 4 nodes: 4 nodes in pool infra: untolerated taints dedicated=infra:NoSchedule"
    );
}

#[test]
fn state_found_at_the_start_is_not_a_transition() {
    let config = Config::default();
    let mut inventory = cluster();
    taint_infra(&mut inventory);
    let mut audit = Audit::new();
    assert!(
        audit
            .reset(vec![shipper("100m")], &inventory, &config)
            .is_empty()
    );
    assert_eq!(
        audit
            .judgement(&Key::of(&shipper("100m")))
            .unwrap()
            .nodes
            .blocked,
        4
    );
}

#[test]
fn a_toleration_added_to_the_daemonset_restores_coverage() {
    let config = Config::default();
    let mut inventory = cluster();
    taint_infra(&mut inventory);
    let mut audit = Audit::new();
    audit.apply(shipper("100m"), &inventory, &config);
    let tolerant = daemonset(
        "shipper",
        "uid-1",
        json!({"containers": [{"name": "main", "image": "shipper:1",
            "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}],
            "tolerations": [{"key": "dedicated", "operator": "Exists"}]}),
    );
    let transition = audit.apply(tolerant, &inventory, &config).unwrap();
    assert_eq!(transition.change.restored.len(), 1);
    assert!(transition.change.lost.is_empty());
}

#[test]
fn a_daemonset_created_again_under_its_name_starts_afresh() {
    let config = Config::default();
    let mut inventory = cluster();
    let mut audit = Audit::new();
    audit.apply(shipper("100m"), &inventory, &config);
    taint_infra(&mut inventory);
    let recreated = daemonset(
        "shipper",
        "uid-2",
        json!({"containers": [{"name": "main", "image": "shipper:1",
            "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}),
    );
    assert_eq!(audit.apply(recreated, &inventory, &config), None);
}

#[test]
fn a_relabelled_pool_that_leaves_no_node_for_the_selector_is_a_gap() {
    let config = Config::default();
    let inventory = cluster();
    let infra_only = daemonset(
        "infra-agent",
        "uid-3",
        json!({"nodeSelector": {"karpenter.sh/nodepool": "infra"},
               "containers": [{"name": "main", "image": "a:1",
                 "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}),
    );
    let mut audit = Audit::new();
    audit.apply(infra_only, &inventory, &config);
    let mut relabelled = Inventory::new();
    relabelled.reset_nodes(nodes().into_iter().take(8));
    relabelled.reset_priority_classes([]);
    relabelled.reset_limit_ranges([]);
    let transitions = audit.rejudge(&relabelled, &config);
    assert_eq!(transitions.len(), 1);
    let lost = &transitions[0].change.lost;
    assert_eq!(lost[0].gap.kind, GapKind::Selector);
    assert!(
        lost[0].gap.cause.contains("karpenter.sh/nodepool"),
        "{}",
        lost[0].gap.cause
    );
}

#[test]
fn an_event_note_stays_within_what_the_events_api_accepts() {
    let lost: Vec<GapChange> = (0..200)
        .map(|i| GapChange {
            gap: Gap {
                kind: GapKind::Nodes,
                place: format!("pool-{i}-ü"),
                cause: "untolerated taints dedicated=infra:NoSchedule".into(),
            },
            before: 0,
            after: 3,
        })
        .collect();
    let change = CoverageChange {
        lost,
        restored: Vec::new(),
    };
    let note = change.lost_note();
    assert!(note.len() <= MAX_NOTE_BYTES, "{}", note.len());
    assert!(note.starts_with("no longer runs on 600 targeted nodes: "));
    assert!(note.ends_with("more"), "{note}");
}

#[test]
fn reports_hold_one_result_per_deny_or_warn_finding_with_consistent_summaries() {
    let config = Config::default();
    let mut inventory = cluster();
    taint_infra(&mut inventory);
    let mut audit = Audit::new();
    // DSG002 (warn by default for a partial block) and DSG003 (no limits).
    audit.apply(
        daemonset(
            "bare",
            "uid-9",
            json!({"containers": [{"name": "main", "image": "a:1"}]}),
        ),
        &inventory,
        &config,
    );
    audit.apply(shipper("100m"), &inventory, &config);
    let reports: BTreeMap<String, Value> = policy_reports(&audit).collect();
    let report = &reports["logging"];
    assert_eq!(report["metadata"]["name"], "dsguard");
    assert_eq!(
        report["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "dsguard"
    );
    let results = report["results"].as_array().unwrap();
    let fail = results.iter().filter(|r| r["result"] == "fail").count();
    let warn = results.iter().filter(|r| r["result"] == "warn").count();
    assert_eq!(report["summary"]["fail"], fail);
    assert_eq!(report["summary"]["warn"], warn);
    assert_eq!(fail + warn, results.len());
    for result in results {
        assert_eq!(result["source"], "dsguard");
        let rule = Rule::parse(result["rule"].as_str().unwrap()).unwrap();
        assert_eq!(result["policy"], rule.name());
        let severity = if result["result"] == "fail" {
            "high"
        } else {
            "medium"
        };
        assert_eq!(result["severity"], severity);
        assert_eq!(result["resources"][0]["kind"], "DaemonSet");
    }
    let bare: Vec<&Value> = results
        .iter()
        .filter(|r| r["resources"][0]["name"] == "bare")
        .collect();
    assert!(
        bare.iter()
            .any(|r| r["rule"] == "DSG003" && r["result"] == "fail")
    );
    assert_eq!(bare[0]["resources"][0]["uid"], "uid-9");
    // Results go with their DaemonSet, the report with the namespace's last finding.
    audit.delete(&Key {
        namespace: "logging".into(),
        name: "bare".into(),
    });
    let reports: BTreeMap<String, Value> = policy_reports(&audit).collect();
    assert!(
        reports["logging"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["resources"][0]["name"] == "shipper")
    );
    audit.delete(&Key::of(&shipper("100m")));
    assert!(policy_reports(&audit).next().is_none());
}

#[test]
fn a_daemonset_exempt_as_a_whole_has_no_gaps() {
    let mut config = Config::default();
    config.exemptions.namespaces = vec!["logging".into()];
    let mut inventory = cluster();
    taint_infra(&mut inventory);
    let judgement = judge(&shipper("100m"), &inventory, &config);
    assert!(judgement.gaps.is_empty(), "{:?}", judgement.gaps);
    assert!(judgement.findings.is_empty());
}

#[test]
fn judging_only_the_daemonsets_a_node_change_can_affect_gives_what_judging_all_gives() {
    let config = Config::default();
    let objects = || {
        vec![
            shipper("100m"),
            daemonset(
                "infra-agent",
                "uid-5",
                json!({"nodeSelector": {"karpenter.sh/nodepool": "infra"},
                       "containers": [{"name": "main", "image": "a:1",
                         "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}),
            ),
            daemonset(
                "general-agent",
                "uid-6",
                json!({"nodeSelector": {"karpenter.sh/nodepool": "general"},
                       "containers": [{"name": "main", "image": "a:1",
                         "resources": {"limits": {"cpu": "3", "memory": "64Mi"}}}]}),
            ),
            daemonset(
                "tolerates-all",
                "uid-8",
                json!({"tolerations": [{"operator": "Exists"}],
                       "containers": [{"name": "main", "image": "a:1",
                         "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}),
            ),
            daemonset(
                "nowhere",
                "uid-7",
                json!({"nodeSelector": {"karpenter.sh/nodepool": "gpu"},
                       "containers": [{"name": "main", "image": "a:1",
                         "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}),
            ),
        ]
    };
    let mut inventory = cluster();
    let mut partial = Audit::new();
    partial.reset(objects(), &inventory, &config);
    let mut full = Audit::new();
    full.reset(objects(), &inventory, &config);
    let node = pool_node;
    // A node applied (added or changed), or one deleted by name.
    let steps: Vec<(&str, Option<NodeUpdate>)> = vec![
        // A taint only some DaemonSets tolerate, then a label nothing reads.
        (
            "node-3",
            Some(node(
                "node-3",
                "general",
                &[("gpu", "", "NoSchedule")],
                4000,
            )),
        ),
        ("node-4", {
            let mut relabelled = node("node-4", "general", &[], 4000);
            relabelled.labels.insert("team".into(), "a".into());
            Some(relabelled)
        }),
        (
            "node-9",
            Some(node(
                "node-9",
                "infra",
                &[("dedicated", "infra", "NoSchedule")],
                4000,
            )),
        ),
        ("node-1", Some(node("node-1", "general", &[], 2000))),
        ("gpu-0", Some(node("gpu-0", "gpu", &[], 4000))),
        ("node-2", Some(node("node-2", "infra", &[], 4000))),
        ("gpu-0", None),
        ("node-10", None),
    ];
    for (index, (name, update)) in steps.into_iter().enumerate() {
        let before = inventory.clone();
        match update {
            Some(update) => inventory.apply_node(update),
            None => inventory.delete_node(name),
        }
        let changes = inventory
            .node_changes_since(&before)
            .expect("only nodes changed");
        assert_eq!(changes.len(), 1, "step {index}");
        judged_alike(
            &mut partial,
            &mut full,
            &changes,
            &inventory,
            &config,
            index,
        );
    }
}

/// With the DaemonSets' loads counted (as `serve --cluster` counts the ones it watches),
/// a node change also moves the overhead on that node: a taint that turns one DaemonSet
/// away leaves room for another that tolerates it, whose own view of the node did not
/// change. Judging only the affected DaemonSets must still give what judging all gives.
#[test]
fn with_daemon_loads_a_node_change_rejudges_the_daemonsets_whose_overhead_it_moved() {
    let config = Config::default();
    let requesting = |name: &str, uid: &str, cpu: &str, tolerations: Value| {
        daemonset(
            name,
            uid,
            json!({"tolerations": tolerations,
                   "containers": [{"name": "main", "image": "a:1",
                     "resources": {"limits": {"cpu": cpu, "memory": "64Mi"}}}]}),
        )
    };
    // 3 + 1 + 0.1 CPUs on 4-CPU nodes: none of the three fits beside the other two.
    let objects = || {
        vec![
            requesting("tolerant", "uid-1", "3", json!([{"operator": "Exists"}])),
            requesting("picky", "uid-2", "1", json!([])),
            requesting("small", "uid-3", "100m", json!([])),
        ]
    };
    let refresh = |inventory: &mut Inventory, audit: &Audit| {
        let (loads, unreadable) = policy::daemon_loads(audit.daemonsets(), inventory, &config);
        assert!(unreadable.is_empty());
        inventory.set_daemon_loads(Some(loads));
    };
    let mut inventory = cluster();
    let mut partial = Audit::new();
    partial.reset(objects(), &inventory, &config);
    refresh(&mut inventory, &partial);
    partial.rejudge(&inventory, &config);
    let mut full = Audit::new();
    full.reset(objects(), &inventory, &config);
    let tolerant = Key::of(&objects()[0]);
    let unfit_for_tolerant = |audit: &Audit| {
        audit
            .judgement(&tolerant)
            .unwrap()
            .findings
            .iter()
            .find(|f| f.rule == Rule::RequestsExceedAllocatable)
            .map(|f| f.message.lines().next().unwrap().to_owned())
    };
    // What DSG005 says of `tolerant`: unfit on `unfit` of the `runs` nodes it runs on.
    let says = |unfit: u64, runs: u64| {
        let head = "the pod (requests cpu 3, memory 64Mi per pod)";
        Some(if unfit == runs {
            format!(
                "{head} fits none of the {runs} nodes it would run on: it stays Pending everywhere:"
            )
        } else {
            format!(
                "{head} does not fit {unfit} of the {runs} nodes it would run on: it stays Pending there:"
            )
        })
    };
    assert_eq!(unfit_for_tolerant(&partial), says(12, 12));
    let node =
        |name: &str, pool: &str, taints: &[(&str, &str, &str)]| pool_node(name, pool, taints, 4000);
    let steps: Vec<(&str, Option<NodeUpdate>, (u64, u64))> = vec![
        // Only `tolerant` stays on node-3: it fits there now.
        (
            "node-3",
            Some(node("node-3", "general", &[("gpu", "", "NoSchedule")])),
            (11, 12),
        ),
        // A label nothing reads moves nothing.
        (
            "node-4",
            {
                let mut relabelled = node("node-4", "general", &[]);
                relabelled.labels.insert("team".into(), "a".into());
                Some(relabelled)
            },
            (11, 12),
        ),
        ("node-3", Some(node("node-3", "general", &[])), (12, 12)),
        // A new node takes all three; a tainted new one, only `tolerant`.
        ("extra-0", Some(node("extra-0", "extra", &[])), (13, 13)),
        (
            "extra-1",
            Some(node("extra-1", "extra", &[("dedicated", "x", "NoExecute")])),
            (13, 14),
        ),
        ("extra-0", None, (12, 13)),
        ("node-10", None, (11, 12)),
    ];
    for (index, (name, update, (unfit, runs))) in steps.into_iter().enumerate() {
        let before = inventory.clone();
        match update {
            Some(update) => inventory.apply_node(update),
            None => inventory.delete_node(name),
        }
        // As `serve --cluster` does: the changed nodes first, then the footprints those
        // can move placed again, then the overhead those moved marked.
        let came = inventory.clone();
        let mut changes = came
            .node_changes_since(&before)
            .expect("only nodes changed");
        assert_eq!(changes.len(), 1, "step {index}");
        let loads = partial.daemon_loads(Some(&changes), &inventory, &config);
        inventory.set_daemon_loads(Some(loads));
        assert!(inventory.mark_overhead_changes(&before, &mut changes));
        // The footprints kept are the ones placing every DaemonSet again gives.
        let mut placed_again = came.clone();
        refresh(&mut placed_again, &full);
        assert_eq!(
            inventory.daemon_loads(),
            placed_again.daemon_loads(),
            "step {index}"
        );
        judged_alike(
            &mut partial,
            &mut full,
            &changes,
            &inventory,
            &config,
            index,
        );
        assert_eq!(
            unfit_for_tolerant(&partial),
            says(unfit, runs),
            "step {index}"
        );
    }
    // Another DaemonSet's requests changing is no node change: everything is judged.
    let before = inventory.clone();
    let mut more = objects();
    more[2] = requesting("small", "uid-3", "200m", json!([]));
    let mut changed = Audit::new();
    changed.reset(more, &inventory, &config);
    refresh(&mut inventory, &changed);
    let mut changes = inventory.node_changes_since(&before).unwrap();
    assert!(!inventory.mark_overhead_changes(&before, &mut changes));
    // And the audit says a changed footprint moved the overhead; an unchanged one did not.
    assert!(partial.take_footprints_moved());
    partial.apply(
        requesting("small", "uid-3", "100m", json!([])),
        &inventory,
        &config,
    );
    assert!(!partial.take_footprints_moved());
    partial.apply(
        requesting("small", "uid-3", "200m", json!([])),
        &inventory,
        &config,
    );
    assert!(partial.take_footprints_moved());
    partial.delete(&Key::of(&objects()[1]));
    assert!(partial.take_footprints_moved());
}

#[test]
fn node_changes_are_told_apart_from_other_inventory_changes() {
    let inventory = cluster();
    assert_eq!(inventory.node_changes_since(&inventory).unwrap().len(), 0);
    let mut relabelled = inventory.clone();
    let mut node = nodes().remove(3);
    node.labels.insert("team".into(), "a".into());
    relabelled.apply_node(node);
    let changes = relabelled.node_changes_since(&inventory).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(&*changes[0].after.unwrap().name, "node-3");
    // A status-only rewrite (same labels, taints, allocatable) is no change.
    let mut same = inventory.clone();
    same.apply_node(nodes().remove(3));
    assert_eq!(same.node_changes_since(&inventory).unwrap().len(), 0);
    // Anything besides nodes: judge everything.
    let mut classes = inventory.clone();
    classes.apply_priority_class(crate::inventory::PriorityClass {
        name: "x".into(),
        value: 1,
        global_default: false,
        never_preempts: false,
    });
    assert!(classes.node_changes_since(&inventory).is_none());
}

/// DaemonSets with the same selection and tolerations share where their pods go and the
/// gaps taints make; what differs between them (their requests) stays their own, and each
/// has its own transition.
#[test]
fn daemonsets_of_the_same_reach_share_gaps_but_not_their_own_fit() {
    let config = Config::default();
    let mut inventory = cluster();
    let mut small = nodes().remove(0);
    small.allocatable = Some([("cpu".to_string(), 500), ("memory".to_string(), 1 << 30)].into());
    inventory.apply_node(small);
    let mut audit = Audit::new();
    let mut big = shipper("1");
    big.metadata.as_mut().unwrap().name = "big".into();
    audit.apply(big, &inventory, &config);
    audit.apply(shipper("100m"), &inventory, &config);
    let key = |name: &str| Key {
        namespace: "logging".into(),
        name: name.into(),
    };
    assert_eq!(audit.judgement(&key("big")).unwrap().nodes.unfit, 1);
    assert_eq!(audit.judgement(&key("shipper")).unwrap().nodes.unfit, 0);
    taint_infra(&mut inventory);
    let transitions = audit.rejudge(&inventory, &config);
    assert_eq!(transitions.len(), 2, "{transitions:?}");
    for transition in &transitions {
        assert_eq!(
            transition.change.lost_note(),
            "no longer runs on 4 targeted nodes: 4 nodes in pool infra: untolerated taints dedicated=infra:NoSchedule"
        );
    }
    let shipper = audit.judgement(&key("shipper")).unwrap();
    let big = audit.judgement(&key("big")).unwrap();
    assert!(
        !Arc::ptr_eq(&shipper.gaps, &big.gaps),
        "the one too big for a node adds its own gap to the shared taint gaps"
    );
    assert_eq!(big.gaps.len(), shipper.gaps.len() + 1, "{:?}", big.gaps);
}

/// The exemptions each audited DaemonSet uses are counted by source, for the metric.
#[test]
fn exemptions_used_are_counted_by_source() {
    let mut exempted = DaemonSet::from_value(&json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "vendor", "namespace": "logging", "uid": "uid-9",
                     "annotations": {"dsguard.io/exempt": "DSG003", "dsguard.io/exempt-reason": "vendor chart"}},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}
    }))
    .unwrap();
    let judged = judge(&exempted, &cluster(), &Config::default());
    assert_eq!(judged.exemptions, [("annotation", 1)].into());
    let mut audit = Audit::new();
    audit.apply(exempted.clone(), &cluster(), &Config::default());
    assert_eq!(audit.summary()[0].exemptions, [("annotation", 1)]);
    // Without the annotation, nothing is exempt.
    exempted.metadata.as_mut().unwrap().annotations = None;
    assert!(
        judge(&exempted, &cluster(), &Config::default())
            .exemptions
            .is_empty()
    );
}
