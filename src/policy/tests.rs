//! The rules and mutations on synthetic inventories, edge cases taken from Kubernetes
//! semantics. Corpus-based tests live in `tests/corpus.rs`.

use serde_json::{Value, json};

use super::*;
use crate::config::Config;
use crate::inventory::{Inventory, LimitRange, NodeUpdate, PriorityClass};

/// 12 workers in two pools, 3 tainted control-plane nodes, 1 GPU node.
fn cluster() -> Inventory {
    let mut inventory = Inventory::new();
    let mut nodes = Vec::new();
    for i in 0..12 {
        let pool = if i < 8 { "general" } else { "highmem" };
        nodes.push(NodeUpdate::of(
            &format!("worker-{i}"),
            &[
                ("kubernetes.io/os", "linux"),
                ("node-role", "worker"),
                ("karpenter.sh/nodepool", pool),
            ],
            &[],
        ));
    }
    for i in 0..3 {
        nodes.push(NodeUpdate::of(
            &format!("cp-{i}"),
            &[
                ("kubernetes.io/os", "linux"),
                ("node-role.kubernetes.io/control-plane", ""),
            ],
            &[("node-role.kubernetes.io/control-plane", "", "NoSchedule")],
        ));
    }
    nodes.push(NodeUpdate::of(
        "gpu-0",
        &[
            ("kubernetes.io/os", "linux"),
            ("karpenter.sh/nodepool", "gpu"),
            ("nvidia.com/gpu.present", "true"),
        ],
        &[("nvidia.com/gpu", "present", "NoSchedule")],
    ));
    inventory.reset_nodes(nodes);
    inventory.reset_priority_classes([
        PriorityClass {
            name: "dsguard-default".into(),
            value: 1000,
            global_default: false,
            never_preempts: false,
        },
        PriorityClass {
            name: "low".into(),
            value: 10,
            global_default: true,
            never_preempts: false,
        },
    ]);
    inventory.reset_limit_ranges([]);
    inventory
}

fn daemonset(pod: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "monitoring"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"metadata": {"labels": {"app": "agent"}}, "spec": pod}}
    })
}

fn limited(extra: Value) -> Value {
    let mut pod = json!({"containers": [{"name": "main", "image": "agent:1", "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]});
    if let (Value::Object(pod), Value::Object(extra)) = (&mut pod, extra) {
        pod.extend(extra);
    }
    pod
}

fn run(object: &Value, inventory: &Inventory, config: &Config) -> Verdict {
    run_phase(object, inventory, config, Phase::MutateThenValidate)
}

fn run_phase(object: &Value, inventory: &Inventory, config: &Config, phase: Phase) -> Verdict {
    let ds = DaemonSet::from_value(object).expect("test object decodes");
    let namespace = ds.namespace_or_default().to_owned();
    evaluate(
        &ds,
        &Context {
            inventory,
            config,
            namespace: &namespace,
            phase,
            quiet_when_unsynced: false,
            deadline: None,
        },
    )
}

fn only(verdict: &Verdict, rule: Rule) -> Vec<&Finding> {
    verdict.findings.iter().filter(|f| f.rule == rule).collect()
}

fn apply(object: &Value, patch: &[Value]) -> Value {
    let mut patched = object.clone();
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(patch.to_vec())).expect("valid RFC 6902");
    json_patch::patch(&mut patched, &patch).expect("patch applies to the incoming object");
    patched
}

// DSG001 -------------------------------------------------------------------------------

#[test]
fn dsg001_names_the_label_the_nodes_do_carry() {
    let verdict = run(
        &daemonset(limited(json!({"nodeSelector": {"node-type": "worker"}}))),
        &cluster(),
        &Config::default(),
    );
    let findings = only(&verdict, Rule::SelectorMatchesNoNode);
    assert_eq!(findings.len(), 1);
    let f = findings[0];
    assert_eq!(f.severity, Severity::Deny);
    assert_eq!(f.pointer, "/spec/template/spec/nodeSelector/node-type");
    assert!(
        f.message
            .contains("no node has label node-type; 12 nodes have node-role=worker"),
        "{}",
        f.message
    );
    assert!(
        f.message.starts_with("selects none of the 16 nodes"),
        "{}",
        f.message
    );
}

#[test]
fn dsg001_does_not_suggest_an_unrelated_key_that_shares_a_value() {
    let object = daemonset(limited(
        json!({"nodeSelector": {"node.kubernetes.io/masq-agent-ds-ready": "true"}}),
    ));
    let f = only(
        &run(&object, &cluster(), &Config::default()),
        Rule::SelectorMatchesNoNode,
    )[0]
    .clone();
    assert!(
        !f.message.contains("nvidia.com/gpu.present"),
        "{}",
        f.message
    );
    assert!(
        f.message
            .contains("no node has label node.kubernetes.io/masq-agent-ds-ready"),
        "{}",
        f.message
    );
}

#[test]
fn dsg001_lists_existing_values_for_a_known_key() {
    let verdict = run(
        &daemonset(limited(
            json!({"nodeSelector": {"kubernetes.io/os": "windows"}}),
        )),
        &cluster(),
        &Config::default(),
    );
    let f = only(&verdict, Rule::SelectorMatchesNoNode)[0];
    assert!(
        f.message
            .contains("no node has kubernetes.io/os=windows; 16 nodes have kubernetes.io/os=linux"),
        "{}",
        f.message
    );
}

#[test]
fn dsg001_escape_hatches_downgrade_but_never_for_a_typo() {
    let gate = daemonset(limited(
        json!({"nodeSelector": {"node.kubernetes.io/masq-agent-ds-ready": "true"}}),
    ));
    let mut config = Config::default();
    assert_eq!(
        only(
            &run(&gate, &cluster(), &config),
            Rule::SelectorMatchesNoNode
        )[0]
        .severity,
        Severity::Deny
    );
    config
        .rules
        .selector_matches_no_node
        .expected_empty_label_keys = vec!["node.kubernetes.io/masq-agent-ds-ready".into()];
    let f = only(
        &run(&gate, &cluster(), &config),
        Rule::SelectorMatchesNoNode,
    )[0]
    .clone();
    assert_eq!(f.severity, Severity::Warn);
    assert!(
        f.message.contains("expectedEmptyLabelKeys"),
        "{}",
        f.message
    );

    let mut annotated = daemonset(limited(
        json!({"nodeSelector": {"example.com/pool": "future"}}),
    ));
    annotated["metadata"]["annotations"] =
        json!({"dsguard.io/allow-no-nodes": "pool is created next sprint"});
    let f = only(
        &run(&annotated, &cluster(), &Config::default()),
        Rule::SelectorMatchesNoNode,
    )[0]
    .clone();
    assert_eq!(f.severity, Severity::Warn);
    assert!(f.message.contains("pool is created next sprint"));

    // Wrong case of a real key: a typo, denied even with the annotation.
    let mut typo = daemonset(limited(
        json!({"nodeSelector": {"kubernetes.io/OS": "linux"}}),
    ));
    typo["metadata"]["annotations"] = json!({"dsguard.io/allow-no-nodes": "intended"});
    let f = only(
        &run(&typo, &cluster(), &Config::default()),
        Rule::SelectorMatchesNoNode,
    )[0]
    .clone();
    assert_eq!(f.severity, Severity::Deny);
    assert!(
        f.message.contains("did you mean kubernetes.io/os?"),
        "{}",
        f.message
    );
    assert!(f.message.contains("still denied"), "{}", f.message);

    // An empty reason does not count.
    let mut empty_reason = daemonset(limited(
        json!({"nodeSelector": {"example.com/pool": "future"}}),
    ));
    empty_reason["metadata"]["annotations"] = json!({"dsguard.io/allow-no-nodes": " "});
    assert_eq!(
        only(
            &run(&empty_reason, &cluster(), &Config::default()),
            Rule::SelectorMatchesNoNode
        )[0]
        .severity,
        Severity::Deny
    );
}

#[test]
fn dsg001_explains_affinity_terms_and_conflicts() {
    let invalid = daemonset(limited(
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["many"]}]},
            {}
        ]}}}}),
    ));
    let f = only(
        &run(&invalid, &cluster(), &Config::default()),
        Rule::SelectorMatchesNoNode,
    )[0]
    .clone();
    assert!(
        f.message.contains("term 0 is invalid") && f.message.contains("term 1 is empty"),
        "{}",
        f.message
    );
    assert!(f.pointer.ends_with("nodeSelectorTerms/0"), "{}", f.pointer);

    // Each part matches some nodes, but together none: GPU pool AND worker role.
    let conflict = daemonset(limited(
        json!({"nodeSelector": {"node-role": "worker", "karpenter.sh/nodepool": "gpu"}}),
    ));
    let f = only(
        &run(&conflict, &cluster(), &Config::default()),
        Rule::SelectorMatchesNoNode,
    )[0]
    .clone();
    assert!(
        f.message.contains("no node satisfies all of them"),
        "{}",
        f.message
    );

    let no_name = daemonset(limited(json!({"nodeName": "worker-99"})));
    let f = only(
        &run(&no_name, &cluster(), &Config::default()),
        Rule::SelectorMatchesNoNode,
    )[0]
    .clone();
    assert!(f.message.contains("did you mean worker-"), "{}", f.message);
}

#[test]
fn dsg001_matching_selectors_and_cordoned_nodes_pass() {
    for pod in [
        limited(json!({})),
        limited(json!({"nodeSelector": {}})),
        limited(json!({"nodeSelector": {"node-role": "worker"}})),
        limited(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "eks.amazonaws.com/compute-type", "operator": "NotIn", "values": ["fargate"]}]}]}}}}),
        ),
    ] {
        let verdict = run(&daemonset(pod.clone()), &cluster(), &Config::default());
        assert!(
            only(&verdict, Rule::SelectorMatchesNoNode).is_empty(),
            "{pod}"
        );
    }
}

#[test]
fn dsg001_and_dsg002_wait_for_a_synced_non_empty_inventory() {
    let object = daemonset(limited(json!({"nodeSelector": {"nothing": "here"}})));
    let unsynced = Inventory::new();
    let verdict = run(&object, &unsynced, &Config::default());
    assert!(!verdict.denied());
    let warned: Vec<&Finding> = verdict
        .with_severity(Severity::Warn)
        .filter(|f| {
            matches!(
                f.rule,
                Rule::SelectorMatchesNoNode | Rule::UntoleratedTaints
            )
        })
        .collect();
    assert_eq!(warned.len(), 2);
    assert!(
        warned[0].message.contains("not synced"),
        "{}",
        warned[0].message
    );

    let mut empty = Inventory::new();
    empty.reset_nodes([]);
    let verdict = run(&object, &empty, &Config::default());
    assert!(!verdict.denied());
    assert!(
        verdict
            .warnings()
            .iter()
            .any(|w| w.starts_with("DSG001") && w.contains("inventory is empty"))
    );

    let ds = DaemonSet::from_value(&object).unwrap();
    let config = Config::default();
    let quiet = evaluate(
        &ds,
        &Context {
            inventory: &unsynced,
            config: &config,
            namespace: "x",
            phase: Phase::Validate,
            quiet_when_unsynced: true,
            deadline: None,
        },
    );
    assert!(quiet.findings.is_empty());
}

// DSG002 -------------------------------------------------------------------------------

#[test]
fn dsg002_partial_block_by_control_plane_taint_is_an_intended_exclusion() {
    let verdict = run(
        &daemonset(limited(json!({}))),
        &cluster(),
        &Config::default(),
    );
    let findings = only(&verdict, Rule::UntoleratedTaints);
    // gpu-0 is blocked by a custom taint: denied; cp-* are ignored: info.
    assert_eq!(findings.len(), 2);
    let deny = findings
        .iter()
        .find(|f| f.severity == Severity::Deny)
        .unwrap();
    assert!(
        deny.message
            .starts_with("pods cannot run on 1 of 16 targeted nodes"),
        "{}",
        deny.message
    );
    assert!(
        deny.message
            .contains("1 node (gpu-0) in pool gpu: nvidia.com/gpu=present:NoSchedule"),
        "{}",
        deny.message
    );
    assert!(
        deny.message.contains(
            "- key: nvidia.com/gpu\n  operator: Equal\n  value: present\n  effect: NoSchedule"
        ),
        "{}",
        deny.message
    );
    let info = findings
        .iter()
        .find(|f| f.severity == Severity::Info)
        .unwrap();
    assert!(
        info.message.contains("3 targeted nodes are excluded"),
        "{}",
        info.message
    );
}

#[test]
fn dsg002_all_blocked_applies_action_even_for_ignored_taints() {
    let object = daemonset(limited(
        json!({"nodeSelector": {"node-role.kubernetes.io/control-plane": ""}}),
    ));
    let verdict = run(&object, &cluster(), &Config::default());
    let f = only(&verdict, Rule::UntoleratedTaints);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Deny);
    assert!(f[0].message.contains("runs nowhere"), "{}", f[0].message);
    assert!(
        f[0].message.contains(
            "- key: node-role.kubernetes.io/control-plane\n  operator: Exists\n  effect: NoSchedule"
        ),
        "{}",
        f[0].message
    );
}

#[test]
fn dsg002_tolerations_that_cover_everything_or_partial_action_warn() {
    let tolerate_all = daemonset(limited(json!({"tolerations": [{"operator": "Exists"}]})));
    assert!(
        only(
            &run(&tolerate_all, &cluster(), &Config::default()),
            Rule::UntoleratedTaints
        )
        .is_empty()
    );

    let effect_scoped = daemonset(limited(
        json!({"tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]}),
    ));
    assert!(
        only(
            &run(&effect_scoped, &cluster(), &Config::default()),
            Rule::UntoleratedTaints
        )
        .is_empty()
    );

    let mut config = Config::default();
    config.rules.untolerated_taints.partial_action = Action::Warn;
    let verdict = run(&daemonset(limited(json!({}))), &cluster(), &config);
    assert!(!verdict.denied());
    assert_eq!(
        only(&verdict, Rule::UntoleratedTaints)
            .iter()
            .filter(|f| f.severity == Severity::Warn)
            .count(),
        1
    );
}

#[test]
fn dsg002_controller_tolerations_and_prefer_no_schedule_never_block() {
    let mut inventory = Inventory::new();
    inventory.reset_nodes([
        NodeUpdate::of(
            "a",
            &[],
            &[
                ("node.kubernetes.io/not-ready", "", "NoExecute"),
                ("node.kubernetes.io/unschedulable", "", "NoSchedule"),
            ],
        ),
        NodeUpdate::of("b", &[], &[("soft", "", "PreferNoSchedule")]),
        NodeUpdate::of(
            "c",
            &[],
            &[("node.kubernetes.io/network-unavailable", "", "NoSchedule")],
        ),
    ]);
    let plain = run(
        &daemonset(limited(json!({}))),
        &inventory,
        &Config::default(),
    );
    let f = only(&plain, Rule::UntoleratedTaints);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].message.contains("network-unavailable"),
        "only c blocks without hostNetwork"
    );
    let host_network = run(
        &daemonset(limited(json!({"hostNetwork": true}))),
        &inventory,
        &Config::default(),
    );
    assert!(only(&host_network, Rule::UntoleratedTaints).is_empty());
}

#[test]
fn dsg002_comparison_operators_need_the_gate() {
    let mut inventory = Inventory::new();
    inventory.reset_nodes([
        NodeUpdate::of("a", &[], &[("gen", "5", "NoSchedule")]),
        NodeUpdate::of("b", &[], &[]),
    ]);
    let object = daemonset(limited(
        json!({"tolerations": [{"key": "gen", "operator": "Lt", "value": "9", "effect": "NoSchedule"}]}),
    ));
    assert!(run(&object, &inventory, &Config::default()).denied());
    let config = Config {
        toleration_comparison_operators: true,
        ..Config::default()
    };
    assert!(!run(&object, &inventory, &config).denied());
}

/// A selector of 1,400 keys no node has costs a few hint searches, not 1,400: the message
/// explains the first clauses and counts the rest.
#[test]
fn dsg001_hints_a_few_absent_keys_and_counts_the_rest() {
    let selector: serde_json::Map<String, Value> = (0..1400)
        .map(|i| (format!("absent-{i:04}.example.com/key"), json!("v")))
        .collect();
    let object = daemonset(limited(json!({"nodeSelector": selector})));
    let verdict = run(&object, &cluster(), &Config::default());
    let f = only(&verdict, Rule::SelectorMatchesNoNode);
    assert_eq!(f.len(), 1);
    assert!(
        f[0].message.contains("and 1392 more clauses"),
        "{}",
        f[0].message
    );
    assert!(f[0].message.len() < 1500, "{}", f[0].message.len());
    assert_eq!(
        f[0].message.matches("no node has label").count(),
        4,
        "{}",
        f[0].message
    );
}

/// An evaluation that reaches its deadline stops and says so; no answer rests on it.
#[test]
fn an_evaluation_past_its_deadline_is_incomplete() {
    let object =
        DaemonSet::from_value(&daemonset(limited(json!({"nodeSelector": {"a": "b"}})))).unwrap();
    let inventory = cluster();
    let config = Config::default();
    let context = Context {
        inventory: &inventory,
        config: &config,
        namespace: "monitoring",
        phase: Phase::Validate,
        quiet_when_unsynced: false,
        deadline: Some(std::time::Instant::now()),
    };
    assert!(evaluate(&object, &context).incomplete);
    let in_time = Context {
        deadline: Some(std::time::Instant::now() + std::time::Duration::from_secs(60)),
        ..context
    };
    let verdict = evaluate(&object, &in_time);
    assert!(!verdict.incomplete && verdict.denied());
}

// DSG003 -------------------------------------------------------------------------------

#[test]
fn dsg003_one_finding_per_container_with_missing_resources() {
    let object = daemonset(json!({
        "initContainers": [{"name": "init", "image": "i"}],
        "containers": [
            {"name": "driver", "image": "d", "resources": {"limits": {"memory": "128Mi"}}},
            {"name": "ok", "image": "o", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "sidecar", "image": "s", "resources": {}}
        ],
        "tolerations": [{"operator": "Exists"}]
    }));
    let verdict = run(&object, &cluster(), &Config::default());
    let f = only(&verdict, Rule::MissingResourceLimits);
    assert_eq!(f.len(), 3);
    assert_eq!(
        f[0].pointer,
        "/spec/template/spec/initContainers/0/resources/limits"
    );
    assert!(
        f[0].message
            .starts_with("init container \"init\" has no cpu, memory limit"),
        "{}",
        f[0].message
    );
    assert_eq!(
        f[1].pointer,
        "/spec/template/spec/containers/0/resources/limits"
    );
    assert!(
        f[1].message
            .starts_with("container \"driver\" has no cpu limit"),
        "{}",
        f[1].message
    );
    assert!(
        f[2].message
            .contains("\"sidecar\" has no cpu, memory limit")
    );

    let mut config = Config::default();
    config.rules.missing_resource_limits.include_init_containers = false;
    config.rules.missing_resource_limits.resources = vec!["memory".into()];
    let f = only(
        &run(&object, &cluster(), &config),
        Rule::MissingResourceLimits,
    )
    .len();
    assert_eq!(
        f, 1,
        "only sidecar lacks memory once init containers are skipped"
    );
}

#[test]
fn dsg003_limit_range_defaults_count_as_present() {
    let mut inventory = cluster();
    inventory.reset_limit_ranges([LimitRange {
        namespace: "monitoring".into(),
        name: "defaults".into(),
        default_limits: ["cpu".to_string()].into(),
        default_requests: Default::default(),
    }]);
    let object = daemonset(
        json!({"containers": [{"name": "driver", "image": "d", "resources": {"limits": {"memory": "1Gi"}}}], "tolerations": [{"operator": "Exists"}]}),
    );
    let verdict = run(&object, &inventory, &Config::default());
    assert!(!verdict.denied(), "{:?}", verdict.findings);
    let info = only(&verdict, Rule::MissingResourceLimits);
    assert_eq!(info[0].severity, Severity::Info);
    assert!(
        info[0].message.contains("cpu from LimitRange defaults"),
        "{}",
        info[0].message
    );

    let bare = daemonset(
        json!({"containers": [{"name": "bare", "image": "b"}], "tolerations": [{"operator": "Exists"}]}),
    );
    let f = only(
        &run(&bare, &inventory, &Config::default()),
        Rule::MissingResourceLimits,
    )[0]
    .clone();
    assert!(
        f.message.contains("no memory limit") && f.message.contains("cpu from LimitRange defaults"),
        "{}",
        f.message
    );

    let mut config = Config::default();
    config.rules.missing_resource_limits.honor_limit_range = false;
    assert!(run(&object, &inventory, &config).denied());
    // Another namespace's LimitRange does not count.
    let mut elsewhere = object.clone();
    elsewhere["metadata"]["namespace"] = json!("other");
    assert!(run(&elsewhere, &inventory, &Config::default()).denied());
}

/// A limit is a limit only when the kubelet enforces it: zero (however it is written) and
/// values past int64 at the kubelet's scale (apimachinery's `MilliValue`/`Value` make them
/// 0) are no limit, though the API server stores them.
#[test]
fn dsg003_a_zero_or_overflowing_limit_is_no_limit() {
    let with_limits = |limits: Value| {
        daemonset(json!({
            "containers": [{"name": "agent", "image": "a", "resources": {"limits": limits}}],
            "tolerations": [{"operator": "Exists"}]
        }))
    };
    for (limits, unenforced) in [
        (json!({"cpu": "0", "memory": "0"}), vec!["cpu", "memory"]),
        (json!({"cpu": "0m", "memory": "64Mi"}), vec!["cpu"]),
        (json!({"cpu": "+", "memory": "."}), vec!["cpu", "memory"]),
        (json!({"cpu": "-0", "memory": "0Ki"}), vec!["cpu", "memory"]),
        (json!({"cpu": "1E", "memory": "64Mi"}), vec!["cpu"]),
        (json!({"cpu": "100m", "memory": "1e308"}), vec!["memory"]),
        (json!({"cpu": "100m", "memory": "8Ei"}), vec!["memory"]),
        (
            json!({"cpu": "9223372036854775807", "memory": "64Mi"}),
            vec!["cpu"],
        ),
        (json!({"cpu": 0, "memory": 0.0}), vec!["cpu", "memory"]),
        (json!({"cpu": null, "memory": "64Mi"}), vec!["cpu"]),
    ] {
        let verdict = run(&with_limits(limits.clone()), &cluster(), &Config::default());
        let f = only(&verdict, Rule::MissingResourceLimits);
        assert_eq!(f.len(), 1, "{limits}: {:?}", verdict.findings);
        assert_eq!(f[0].severity, Severity::Deny, "{limits}");
        let expected: Vec<String> = unenforced
            .iter()
            .map(|r| format!("containers/agent/{r}"))
            .collect();
        assert_eq!(f[0].atoms, expected, "{limits}: {}", f[0].message);
        assert!(
            f[0].message.contains("no limit"),
            "{limits}: {}",
            f[0].message
        );
        assert!(
            f[0].message.contains("(a positive quantity)"),
            "{}",
            f[0].message
        );
    }
    // The smallest positive limits are enforced (rounded up, as the kubelet reads them);
    // so is the largest value that fits.
    for limits in [
        json!({"cpu": "1n", "memory": "1"}),
        json!({"cpu": "9223372036854775m", "memory": "9223372036854775807"}),
        json!({"cpu": " 1000 ", "memory": "0.5"}),
    ] {
        let verdict = run(&with_limits(limits.clone()), &cluster(), &Config::default());
        assert!(
            only(&verdict, Rule::MissingResourceLimits).is_empty(),
            "{limits}: {:?}",
            verdict.findings
        );
    }
    // A zero limit is written, so a LimitRange default does not replace it.
    let mut inventory = cluster();
    inventory.reset_limit_ranges([LimitRange {
        namespace: "monitoring".into(),
        name: "defaults".into(),
        default_limits: ["cpu".to_string(), "memory".to_string()].into(),
        default_requests: Default::default(),
    }]);
    let verdict = run(
        &with_limits(json!({"cpu": "0", "memory": "64Mi"})),
        &inventory,
        &Config::default(),
    );
    assert!(verdict.denied(), "{:?}", verdict.findings);
}

/// What the API server refuses is named as refused (only `lint` can meet it: the webhook
/// sees objects that passed validation).
#[test]
fn dsg003_limits_the_api_server_refuses_are_named_as_refused() {
    let object = daemonset(json!({
        "containers": [
            {"name": "below", "image": "a", "resources": {"requests": {"cpu": "2", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "64Mi"}}},
            {"name": "negative", "image": "a", "resources": {"limits": {"cpu": "-1", "memory": "64Mi"}}},
            {"name": "garbage", "image": "a", "resources": {"limits": {"cpu": "lots", "memory": "64Mi"}}},
            {"name": "storage", "image": "a", "resources": {"requests": {"ephemeral-storage": "2Gi"}, "limits": {"cpu": "1", "memory": "64Mi", "ephemeral-storage": "1Gi"}}}
        ],
        "tolerations": [{"operator": "Exists"}]
    }));
    let verdict = run(&object, &cluster(), &Config::default());
    let f = only(&verdict, Rule::MissingResourceLimits);
    assert_eq!(f.len(), 4, "{:?}", verdict.findings);
    assert!(
        f[0].message.contains("cpu request 2 is above its limit 1 (the API server refuses it: must be less than or equal to cpu limit of 1)"),
        "{}",
        f[0].message
    );
    assert!(
        f[1].message
            .contains("cpu limit \"-1\" is negative (the API server refuses it"),
        "{}",
        f[1].message
    );
    assert!(
        f[2].message
            .contains("cpu limit \"lots\" is not a quantity"),
        "{}",
        f[2].message
    );
    assert!(
        f[3].message
            .contains("ephemeral-storage request 2Gi is above its limit 1Gi"),
        "{}",
        f[3].message
    );
    assert!(f.iter().all(|f| f.severity == Severity::Deny));
}

#[test]
fn dsg003_survives_five_hundred_containers() {
    let containers: Vec<Value> = (0..500)
        .map(|i| json!({"name": format!("c{i}"), "image": "x"}))
        .collect();
    let object =
        daemonset(json!({"containers": containers, "tolerations": [{"operator": "Exists"}]}));
    let verdict = run(&object, &cluster(), &Config::default());
    assert_eq!(only(&verdict, Rule::MissingResourceLimits).len(), 500);
}

// DSG004 / DSG101 ----------------------------------------------------------------------

#[test]
fn dsg004_unknown_class_warns_only_against_a_synced_inventory() {
    let object = daemonset(limited(
        json!({"priorityClassName": "longhorn-critical", "tolerations": [{"operator": "Exists"}]}),
    ));
    let verdict = run(&object, &cluster(), &Config::default());
    let f = only(&verdict, Rule::UnknownPriorityClass);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Warn);
    assert!(
        f[0].message
            .contains("no PriorityClass with name longhorn-critical was found")
    );
    assert!(
        verdict.patch.is_empty(),
        "a named class is never overwritten"
    );

    let system = daemonset(limited(
        json!({"priorityClassName": "system-node-critical"}),
    ));
    assert!(
        only(
            &run(&system, &cluster(), &Config::default()),
            Rule::UnknownPriorityClass
        )
        .is_empty()
    );
    let mut unsynced = cluster();
    unsynced = {
        let mut i = Inventory::new();
        i.reset_nodes(unsynced.nodes().map(|n| NodeUpdate {
            allocatable: None,
            ..n.to_update()
        }));
        i
    };
    assert!(
        only(
            &run(&object, &unsynced, &Config::default()),
            Rule::UnknownPriorityClass
        )
        .is_empty()
    );
}

#[test]
fn dsg101_injects_only_a_class_that_exists() {
    let object = daemonset(limited(json!({"tolerations": [{"operator": "Exists"}]})));
    let verdict = run(&object, &cluster(), &Config::default());
    let patched = apply(&object, &verdict.patch);
    assert_eq!(
        patched["spec"]["template"]["spec"]["priorityClassName"],
        "dsguard-default"
    );
    assert_eq!(
        patched["metadata"]["annotations"]["dsguard.io/mutated"],
        "priorityClassName=dsguard-default"
    );

    let mut config = Config::default();
    config
        .mutations
        .default_priority_class
        .namespaces
        .insert("monitoring".into(), "system-node-critical".into());
    let patched = apply(&object, &run(&object, &cluster(), &config).patch);
    assert_eq!(
        patched["spec"]["template"]["spec"]["priorityClassName"],
        "system-node-critical"
    );

    config
        .mutations
        .default_priority_class
        .namespaces
        .insert("monitoring".into(), "gone".into());
    let verdict = run(&object, &cluster(), &config);
    assert!(verdict.patch.is_empty());
    let warning = &only(&verdict, Rule::DefaultPriorityClass)[0].message;
    assert!(
        warning.contains("\"gone\" not injected")
            && warning.contains("globalDefault class \"low\" (value 10)"),
        "{warning}"
    );

    for pod in [
        limited(json!({"priority": 5})),
        limited(json!({"priorityClassName": "low"})),
    ] {
        assert!(
            run(&daemonset(pod), &cluster(), &Config::default())
                .patch
                .is_empty()
        );
    }
}

// DSG102 and the patch -----------------------------------------------------------------

fn toleration_config(tolerations: Value, auto: &[&str]) -> Config {
    let text = json!({"mutations": {"default-tolerations": {"enabled": true, "tolerations": tolerations, "autoTolerateTaintKeys": auto}}}).to_string();
    Config::from_yaml(&text, "test").expect("valid config")
}

#[test]
fn dsg102_appends_or_adds_the_array_and_skips_duplicates() {
    let config = toleration_config(
        json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
        &[],
    );
    // No tolerations field: the whole array is added.
    let missing = daemonset(limited(json!({"priorityClassName": "low"})));
    let verdict = run(&missing, &cluster(), &config);
    assert_eq!(verdict.patch[0]["path"], "/spec/template/spec/tolerations");
    assert!(apply(&missing, &verdict.patch)["spec"]["template"]["spec"]["tolerations"].is_array());
    assert!(
        !verdict.denied(),
        "the injected toleration counts in validation: {:?}",
        verdict.findings
    );

    // null tolerations: add replaces the null.
    let null = daemonset(limited(
        json!({"priorityClassName": "low", "tolerations": null}),
    ));
    let patched = apply(&null, &run(&null, &cluster(), &config).patch);
    assert_eq!(
        patched["spec"]["template"]["spec"]["tolerations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Existing list: appended with /-.
    let existing = daemonset(limited(
        json!({"priorityClassName": "low", "tolerations": [{"key": "a", "operator": "Exists"}]}),
    ));
    let verdict = run(&existing, &cluster(), &config);
    assert_eq!(
        verdict.patch[0]["path"],
        "/spec/template/spec/tolerations/-"
    );
    let patched = apply(&existing, &verdict.patch);
    assert_eq!(
        patched["spec"]["template"]["spec"]["tolerations"][1]["key"],
        "nvidia.com/gpu"
    );

    // A keyless Exists already tolerates it: nothing to add.
    let covered = daemonset(limited(
        json!({"priorityClassName": "low", "tolerations": [{"operator": "Exists"}]}),
    ));
    assert!(run(&covered, &cluster(), &config).patch.is_empty());
}

#[test]
fn dsg102_auto_tolerates_configured_taint_keys_on_targeted_nodes() {
    let config = toleration_config(json!([]), &["nvidia.com/gpu"]);
    let object = daemonset(limited(json!({"priorityClassName": "low"})));
    let verdict = run(&object, &cluster(), &config);
    let patched = apply(&object, &verdict.patch);
    assert_eq!(
        patched["spec"]["template"]["spec"]["tolerations"],
        json!([{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}])
    );
    assert!(!verdict.denied(), "{:?}", verdict.findings);
}

#[test]
fn mutating_the_mutated_object_yields_an_empty_patch() {
    let config = toleration_config(
        json!([{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}]),
        &["nvidia.com/gpu"],
    );
    let object = daemonset(limited(json!({})));
    let first = run(&object, &cluster(), &config);
    assert!(!first.patch.is_empty());
    let mutated = apply(&object, &first.patch);
    let second = run(&mutated, &cluster(), &config);
    assert!(second.patch.is_empty(), "{:?}", second.patch);
    // Same judgement (the pointer moves to the tolerations list that now exists).
    let judgement = |v: &Verdict| {
        v.findings
            .iter()
            .map(|f| (f.rule, f.severity, f.message.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(judgement(&second), judgement(&first));
}

#[test]
fn the_patch_leaves_unknown_fields_and_other_annotations_alone() {
    let mut object = daemonset(limited(json!({"futurePodField": {"x": [1, 2]}})));
    object["spec"]["futureSpecField"] = json!("keep");
    object["metadata"]["annotations"] = json!({"team": "obs", "a/b": "c"});
    object["status"] = json!({"numberReady": 3});
    let config = toleration_config(json!([{"key": "dedicated", "operator": "Exists"}]), &[]);
    let verdict = run(&object, &cluster(), &config);
    let patched = apply(&object, &verdict.patch);
    assert!(
        verdict
            .patch
            .iter()
            .any(|op| op["path"] == "/metadata/annotations/dsguard.io~1mutated")
    );
    // Take out exactly what was injected: the rest is byte-for-byte the input.
    let mut reverted = patched.clone();
    let spec = reverted["spec"]["template"]["spec"]
        .as_object_mut()
        .unwrap();
    spec.remove("priorityClassName");
    spec.remove("tolerations");
    reverted["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("dsguard.io/mutated");
    assert_eq!(reverted, object);
    assert_eq!(
        patched["metadata"]["annotations"]["dsguard.io/mutated"],
        "priorityClassName=dsguard-default; toleration=dedicated(Exists):*"
    );
}

#[test]
fn validate_alone_judges_the_object_as_it_is() {
    let config = toleration_config(
        json!([{"key": "nvidia.com/gpu", "operator": "Exists"}]),
        &[],
    );
    let object = daemonset(limited(json!({"priorityClassName": "low"})));
    let validate = run_phase(&object, &cluster(), &config, Phase::Validate);
    assert!(validate.patch.is_empty());
    assert!(validate.denied(), "without the mutation, gpu-0 is blocked");
    let mutate = run_phase(&object, &cluster(), &config, Phase::Mutate);
    assert!(mutate.findings.is_empty() && !mutate.patch.is_empty());
}

// Exemptions and UPDATE grandfathering --------------------------------------------------

#[test]
fn exemptions_by_namespace_selector_and_annotation() {
    let bad = daemonset(json!({"containers": [{"name": "c", "image": "i"}]}));
    let mut config = Config::default();
    config.exemptions.namespaces = vec!["monitoring".into()];
    let verdict = run(&bad, &cluster(), &config);
    assert!(verdict.findings.is_empty() && verdict.patch.is_empty());
    assert!(verdict.warnings()[0].contains("namespace monitoring is exempt"));

    let mut labelled = bad.clone();
    labelled["metadata"]["labels"] = json!({"tier": "system"});
    let config = Config::from_yaml(
        "exemptions:\n  objectSelector:\n    matchLabels: {tier: system}\n",
        "c",
    )
    .unwrap();
    assert!(run(&labelled, &cluster(), &config).warnings()[0].contains("objectSelector"));

    let mut annotated = bad.clone();
    annotated["metadata"]["annotations"] = json!({"dsguard.io/exempt": "DSG003, untolerated-taints, DSG999", "dsguard.io/exempt-reason": "vendor chart, ticket OPS-12"});
    let verdict = run(&annotated, &cluster(), &Config::default());
    assert!(!verdict.denied(), "{:?}", verdict.findings);
    let warnings = verdict.warnings().join("\n");
    assert!(warnings.contains("DSG003 missing-resource-limits: exempted by annotation dsguard.io/exempt (reason: vendor chart, ticket OPS-12)"), "{warnings}");
    assert!(
        warnings.contains("DSG002 untolerated-taints: exempted"),
        "{warnings}"
    );
    assert!(warnings.contains("unknown rule \"DSG999\""), "{warnings}");
    assert_eq!(verdict.exemptions.len(), 2);

    let mut no_reason = bad.clone();
    no_reason["metadata"]["annotations"] = json!({"dsguard.io/exempt": "DSG003"});
    let verdict = run(&no_reason, &cluster(), &Config::default());
    assert!(verdict.denied());
    assert!(
        verdict
            .warnings()
            .iter()
            .any(|w| w.contains("needs dsguard.io/exempt-reason"))
    );
}

/// Whoever the policy constrains can write annotations: the config can turn annotation
/// exemptions off, or limit them to namespaces and rules; an ignored annotation is said.
#[test]
fn annotation_exemptions_can_be_turned_off_or_limited() {
    let mut annotated = daemonset(
        json!({"containers": [{"name": "c", "image": "i"}], "tolerations": [{"operator": "Exists"}]}),
    );
    annotated["metadata"]["annotations"] =
        json!({"dsguard.io/exempt": "DSG003", "dsguard.io/exempt-reason": "mine"});
    let config = |text: &str| Config::from_yaml(text, "c").unwrap();
    let off = run(
        &annotated,
        &cluster(),
        &config("exemptions:\n  allowAnnotations: false\n"),
    );
    assert!(off.denied(), "{:?}", off.findings);
    assert!(off.exemptions.is_empty());
    assert!(
        off.warnings()
            .iter()
            .any(|w| w.contains("turned off here (config exemptions.allowAnnotations: false)")),
        "{:?}",
        off.warnings()
    );
    let elsewhere = run(
        &annotated,
        &cluster(),
        &config("exemptions:\n  annotationNamespaces: [vendor]\n"),
    );
    assert!(elsewhere.denied());
    assert!(
        elsewhere
            .warnings()
            .iter()
            .any(|w| w.contains("not allowed in namespace monitoring"))
    );
    let here = run(
        &annotated,
        &cluster(),
        &config("exemptions:\n  annotationNamespaces: [monitoring]\n"),
    );
    assert!(!here.denied(), "{:?}", here.findings);
    let other_rules = run(
        &annotated,
        &cluster(),
        &config("exemptions:\n  annotationRules: [DSG001, untolerated-taints]\n"),
    );
    assert!(other_rules.denied());
    assert!(
        other_rules
            .warnings()
            .iter()
            .any(|w| w.contains("cannot waive DSG003 missing-resource-limits here"))
    );
    let allowed = run(
        &annotated,
        &cluster(),
        &config("exemptions:\n  annotationRules: [missing-resource-limits]\n"),
    );
    assert!(!allowed.denied(), "{:?}", allowed.findings);
    assert!(
        Config::from_yaml("exemptions:\n  annotationRules: [DSG999]\n", "c")
            .unwrap_err()
            .to_string()
            .contains("exemptions.annotationRules[0]: \"DSG999\" is not a rule")
    );
}

#[test]
fn update_grandfathers_only_violations_already_present() {
    let old = daemonset(
        json!({"containers": [{"name": "a", "image": "i"}], "tolerations": [{"operator": "Exists"}], "priorityClassName": "low"}),
    );
    let new = daemonset(
        json!({"containers": [{"name": "a", "image": "i2"}, {"name": "b", "image": "j"}], "tolerations": [{"operator": "Exists"}], "priorityClassName": "low"}),
    );
    let old_verdict = run_phase(&old, &cluster(), &Config::default(), Phase::Validate);
    let mut verdict = run_phase(&new, &cluster(), &Config::default(), Phase::Validate);
    verdict.grandfather(&old_verdict);
    let f = only(&verdict, Rule::MissingResourceLimits);
    assert_eq!(
        f[0].severity,
        Severity::Warn,
        "container a was already unlimited"
    );
    assert!(f[0].message.contains("already present"));
    assert_eq!(f[1].severity, Severity::Deny, "container b is new");
    assert!(verdict.denied());
}

#[test]
fn rule_ids_and_names_are_stable() {
    let ids: Vec<String> = Rule::ALL.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        ids,
        [
            "DSG001 selector-matches-no-node",
            "DSG002 untolerated-taints",
            "DSG003 missing-resource-limits",
            "DSG004 unknown-priority-class",
            "DSG005 requests-exceed-allocatable",
            "DSG006 surge-with-host-port",
            "DSG007 no-room-beside-running-pods",
            "DSG101 default-priority-class",
            "DSG102 default-tolerations",
        ]
    );
    assert_eq!(Rule::parse("dsg002"), Some(Rule::UntoleratedTaints));
    assert_eq!(
        Rule::parse("missing-resource-limits"),
        Some(Rule::MissingResourceLimits)
    );
}

// Autoscaler templates ------------------------------------------------------------------

/// `cluster()` plus a NodePool `a100` at zero nodes (a label, a taint, a startup taint)
/// and a Cluster API MachineDeployment `infra/md-arm` scaled to zero.
fn cluster_with_templates() -> Inventory {
    use crate::scheduling::selector::{LabelRequirement, NodeSelectorRequirement};
    use crate::scheduling::{NodeGroup, NodeTemplate, Taint, TemplateKind};
    let mut inventory = cluster();
    let arch = LabelRequirement::parse(&NodeSelectorRequirement {
        key: "kubernetes.io/arch".into(),
        operator: "In".into(),
        values: vec!["amd64".into()],
    })
    .unwrap();
    inventory.apply_template(NodeTemplate::node_pool(
        "a100",
        &[("accelerator".to_owned(), "a100".to_owned())].into(),
        &[arch],
        vec![Taint::new("dedicated", "ml", "NoSchedule")],
        vec![Taint::new(
            "node.cilium.io/agent-not-ready",
            "true",
            "NoExecute",
        )],
    ));
    inventory.apply_template(NodeTemplate::cluster_api(NodeGroup {
        kind: TemplateKind::MachineDeployment,
        namespace: "infra",
        name: "md-arm",
        autoscaler_labels: &[("kubernetes.io/arch".to_owned(), "arm64".to_owned())].into(),
        machine_labels: &Default::default(),
        taints: Vec::new(),
        replicas: Some(0),
        allocatable: None,
    }));
    inventory
}

#[test]
fn dsg001_a_selection_only_a_template_can_satisfy_is_allowed_and_named() {
    let object = daemonset(limited(json!({
        "nodeSelector": {"accelerator": "a100"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]})));
    let without = run(&object, &cluster(), &Config::default());
    assert_eq!(
        only(&without, Rule::SelectorMatchesNoNode)[0].severity,
        Severity::Deny
    );

    let verdict = run(&object, &cluster_with_templates(), &Config::default());
    assert!(!verdict.denied(), "{:?}", verdict.findings);
    let info = only(&verdict, Rule::SelectorMatchesNoNode);
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].severity, Severity::Info);
    assert!(
        info[0].message.contains("selects none of the 16 nodes now, but NodePool a100 (0 nodes now) can make nodes it selects"),
        "{}",
        info[0].message
    );
    assert!(
        only(&verdict, Rule::UntoleratedTaints).is_empty(),
        "the startup taint is not counted"
    );

    let arm = daemonset(limited(
        json!({"nodeSelector": {"kubernetes.io/arch": "arm64"}}),
    ));
    let verdict = run(&arm, &cluster_with_templates(), &Config::default());
    let info = only(&verdict, Rule::SelectorMatchesNoNode);
    assert!(
        info[0]
            .message
            .contains("MachineDeployment infra/md-arm (0 replicas now)"),
        "{}",
        info[0].message
    );
}

#[test]
fn dsg001_a_near_miss_of_a_template_label_is_still_a_denied_typo() {
    let mut object = daemonset(limited(json!({"nodeSelector": {"acelerator": "a100"}})));
    object["metadata"]["annotations"] =
        json!({"dsguard.io/allow-no-nodes": "the a100 pool is scaled to zero"});
    let verdict = run(&object, &cluster_with_templates(), &Config::default());
    let deny = only(&verdict, Rule::SelectorMatchesNoNode);
    assert_eq!(deny[0].severity, Severity::Deny);
    assert!(
        deny[0]
            .message
            .contains("did you mean accelerator? NodePool a100 sets it on its nodes"),
        "{}",
        deny[0].message
    );
    assert!(
        deny[0].message.contains("still denied"),
        "{}",
        deny[0].message
    );
}

#[test]
fn dsg001_a_template_that_cannot_meet_every_clause_is_not_targeted() {
    // accelerator=a100 exists only on the amd64 NodePool: with arch=arm64 no node, live or
    // to come, satisfies both.
    let object = daemonset(limited(json!({
        "nodeSelector": {"accelerator": "a100", "kubernetes.io/arch": "arm64"}})));
    let verdict = run(&object, &cluster_with_templates(), &Config::default());
    let deny = only(&verdict, Rule::SelectorMatchesNoNode);
    assert_eq!(deny[0].severity, Severity::Deny);
    assert!(
        deny[0].message.contains(
            "no node has label accelerator now; NodePool a100 would set accelerator=a100"
        ),
        "{}",
        deny[0].message
    );
}

#[test]
fn dsg002_an_untolerated_template_taint_counts_like_a_blocked_pool() {
    // Tolerates the live GPU and control-plane taints: only the template blocks it.
    let object = daemonset(limited(json!({"tolerations": [
        {"key": "nvidia.com/gpu", "operator": "Exists"},
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]})));
    assert!(
        only(
            &run(&object, &cluster(), &Config::default()),
            Rule::UntoleratedTaints
        )
        .is_empty()
    );
    let verdict = run(&object, &cluster_with_templates(), &Config::default());
    let found = only(&verdict, Rule::UntoleratedTaints);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].severity,
        Severity::Deny,
        "partialAction defaults to deny"
    );
    let message = &found[0].message;
    assert!(
        message.starts_with("pods cannot run on the nodes 1 targeted autoscaler template will make once it scales up:"),
        "{message}"
    );
    assert!(
        message
            .contains("NodePool a100 (0 nodes now), once it makes nodes: dedicated=ml:NoSchedule"),
        "{message}"
    );
    assert!(
        message.contains("- key: dedicated\n  operator: Equal\n  value: ml\n  effect: NoSchedule"),
        "{message}"
    );
    assert!(
        !message.contains("agent-not-ready"),
        "startup taints are not counted: {message}"
    );
    assert_eq!(found[0].atoms, ["dedicated=ml:NoSchedule"]);

    let mut config = Config::default();
    config.rules.untolerated_taints.partial_action = crate::config::Action::Warn;
    let verdict = run(&object, &cluster_with_templates(), &config);
    assert_eq!(
        only(&verdict, Rule::UntoleratedTaints)[0].severity,
        Severity::Warn
    );

    config
        .rules
        .untolerated_taints
        .ignore_taint_keys
        .push("dedicated".into());
    let verdict = run(&object, &cluster_with_templates(), &config);
    let info = only(&verdict, Rule::UntoleratedTaints);
    assert_eq!(info[0].severity, Severity::Info);
    assert!(
        info[0]
            .message
            .contains("1 targeted autoscaler templates are excluded"),
        "{}",
        info[0].message
    );
}

#[test]
fn dsg002_pods_that_no_targeted_template_node_takes_run_nowhere() {
    let object = daemonset(limited(json!({"nodeSelector": {"accelerator": "a100"}})));
    let verdict = run(&object, &cluster_with_templates(), &Config::default());
    assert_eq!(
        only(&verdict, Rule::SelectorMatchesNoNode)[0].severity,
        Severity::Info
    );
    let deny = only(&verdict, Rule::UntoleratedTaints);
    assert_eq!(deny[0].severity, Severity::Deny);
    assert!(
        deny[0].message.starts_with("pods can run on none of the nodes the 1 targeted autoscaler templates can make, so the DaemonSet will run nowhere"),
        "{}",
        deny[0].message
    );
}

#[test]
fn update_grandfathers_a_template_taint_already_untolerated() {
    let object = daemonset(limited(json!({"tolerations": [
        {"key": "nvidia.com/gpu", "operator": "Exists"},
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]})));
    let mut changed = object.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("agent:2");
    let inventory = cluster_with_templates();
    let old = run_phase(&object, &inventory, &Config::default(), Phase::Validate);
    let mut verdict = run_phase(&changed, &inventory, &Config::default(), Phase::Validate);
    verdict.grandfather(&old);
    assert!(!verdict.denied(), "{:?}", verdict.findings);
}

// DSG005 and DSG006 ----------------------------------------------------------------------

/// 3 small nodes (1930m cpu, 1.5Gi, 11 pods), 2 big ones (3920m, 15Gi, 110 pods), and,
/// with `unknown`, one that states no allocatable (a hand-written snapshot).
fn sized_cluster(unknown: bool) -> Inventory {
    let mut nodes = Vec::new();
    let shape = |cpu: i128, memory: i128, pods: i128| {
        Some(
            [
                ("cpu".to_string(), cpu),
                ("memory".to_string(), memory),
                ("pods".to_string(), pods),
            ]
            .into(),
        )
    };
    for i in 0..3 {
        let mut node = NodeUpdate::of(
            &format!("small-{i}"),
            &[("karpenter.sh/nodepool", "small")],
            &[],
        );
        node.allocatable = shape(1930, 1536 << 20, 11);
        nodes.push(node);
    }
    for i in 0..2 {
        let mut node = NodeUpdate::of(
            &format!("big-{i}"),
            &[("karpenter.sh/nodepool", "big")],
            &[],
        );
        node.allocatable = shape(3920, 15 << 30, 110);
        nodes.push(node);
    }
    if unknown {
        nodes.push(NodeUpdate::of("hand-written", &[], &[]));
    }
    let mut inventory = Inventory::new();
    inventory.reset_nodes(nodes);
    inventory.reset_priority_classes([]);
    inventory.reset_limit_ranges([]);
    inventory
}

fn requesting(containers: Value) -> Value {
    daemonset(json!({"priorityClassName": "system-node-critical", "containers": containers}))
}

fn container(requests: Value, limits: Value) -> Value {
    json!({"name": "c", "image": "i", "resources": {"requests": requests, "limits": limits}})
}

fn dsg005(object: &Value, inventory: &Inventory) -> Vec<Finding> {
    only(
        &run(object, inventory, &Config::default()),
        Rule::RequestsExceedAllocatable,
    )
    .into_iter()
    .cloned()
    .collect()
}

#[test]
fn dsg005_a_pod_too_big_for_one_pool_is_a_partial_warning_naming_it() {
    let object = requesting(json!([container(
        json!({"cpu": "2"}),
        json!({"cpu": "2", "memory": "1Gi"})
    )]));
    let found = dsg005(&object, &sized_cluster(false));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Warn);
    assert_eq!(
        found[0].pointer,
        "/spec/template/spec/containers/0/resources"
    );
    let message = &found[0].message;
    assert!(message.starts_with("the pod (requests cpu 2, memory 1Gi per pod) does not fit 3 of the 5 nodes it would run on"), "{message}");
    assert!(
        message.contains("3 nodes (e.g. small-0) in pool small: cpu: needs 2, allocatable 1930m"),
        "{message}"
    );
    assert_eq!(found[0].atoms, ["cpu@pool small"]);
}

#[test]
fn dsg005_fitting_no_node_denies_but_an_unknown_node_leaves_it_partial() {
    let object = requesting(json!([container(
        json!({"cpu": "4"}),
        json!({"cpu": "4", "memory": "1Gi"})
    )]));
    let found = dsg005(&object, &sized_cluster(false));
    assert_eq!(found[0].severity, Severity::Deny);
    assert!(
        found[0].message.starts_with(
            "the pod (requests cpu 4, memory 1Gi per pod) fits none of the 5 nodes it would run on"
        ),
        "{}",
        found[0].message
    );
    let found = dsg005(&object, &sized_cluster(true));
    assert_eq!(
        found[0].severity,
        Severity::Warn,
        "a node without allocatable may fit"
    );
    assert!(
        found[0].message.contains("does not fit 5 of the 6 nodes"),
        "{}",
        found[0].message
    );
}

#[test]
fn dsg005_effective_request_is_the_schedulers() {
    let inventory = sized_cluster(false);
    let small_cpu = |object: &Value| {
        dsg005(object, &inventory)
            .first()
            .is_some_and(|f| f.message.contains("in pool small: cpu"))
    };
    // A limit without a request defaults the request.
    assert!(small_cpu(&requesting(json!([container(
        json!({}),
        json!({"cpu": "2500m", "memory": "1Gi"})
    )]))));
    // Regular containers are summed, rounded up to millicores each.
    assert!(
        small_cpu(&requesting(json!([
            container(json!({"cpu": "965.5m"}), json!({})),
            container(json!({"cpu": "964.5m"}), json!({}))
        ]))),
        "966m + 965m = 1931m > 1930m"
    );
    assert!(
        !small_cpu(&requesting(json!([
            container(json!({"cpu": "965m"}), json!({})),
            container(json!({"cpu": "965m"}), json!({}))
        ]))),
        "1930m fits exactly"
    );
    // An init container counts alone; a sidecar counts beside the containers.
    let with_init = |restart: Value| {
        let mut object = requesting(json!([container(json!({"cpu": "1"}), json!({}))]));
        object["spec"]["template"]["spec"]["initContainers"] = json!([
            {"name": "init", "image": "i", "restartPolicy": restart, "resources": {"requests": {"cpu": "1"}}}
        ]);
        object
    };
    assert!(!small_cpu(&with_init(Value::Null)), "max(1, 1) = 1");
    assert!(small_cpu(&with_init(json!("Always"))), "1 + 1 sidecar = 2");
    // Pod overhead is added after the max.
    let mut overhead = requesting(json!([container(json!({"cpu": "1900m"}), json!({}))]));
    overhead["spec"]["template"]["spec"]["overhead"] = json!({"cpu": "100m"});
    assert!(small_cpu(&overhead));
    // A LimitRange defaultRequest fills what the container leaves out.
    let mut ranged = inventory.clone();
    ranged.reset_limit_ranges(
        crate::inventory::snapshot::limit_ranges_from_str(
            "kind: LimitRange\nmetadata: {name: lr, namespace: monitoring}\nspec:\n  limits:\n  - type: Container\n    defaultRequest: {memory: 2Gi}\n",
            "lr.yaml",
        )
        .unwrap(),
    );
    let object = requesting(json!([container(json!({"cpu": "100m"}), json!({}))]));
    let found = dsg005(&object, &ranged);
    assert!(
        found[0]
            .message
            .contains("in pool small: memory: needs 2Gi, allocatable 1536Mi"),
        "{}",
        found[0].message
    );
    // An extended resource no node lists is 0 available there.
    let gpu = requesting(json!([container(
        json!({"nvidia.com/gpu": "1"}),
        json!({"nvidia.com/gpu": "1"})
    )]));
    assert_eq!(dsg005(&gpu, &inventory)[0].severity, Severity::Deny);
}

#[test]
fn dsg005_counts_the_other_daemonsets_and_its_own_surge() {
    let mut inventory = sized_cluster(false);
    let everywhere = inventory.all_nodes().clone();
    let load = |name: &str, cpu: i128| crate::inventory::DaemonLoad {
        namespace: "kube-system".into(),
        name: name.into(),
        nodes: std::sync::Arc::new(everywhere.clone()),
        requests: [("cpu".to_string(), cpu)].into(),
    };
    inventory.set_daemon_loads(Some(vec![load("cni", 600), load("proxy", 400)]));
    let object = requesting(json!([container(json!({"cpu": "1"}), json!({}))]));
    let found = dsg005(&object, &inventory);
    assert!(
        found[0].message.contains(
            "in pool small: cpu: needs 1 + 1 for the other DaemonSets there, allocatable 1930m"
        ),
        "{}",
        found[0].message
    );
    // A node that changed after the loads were set counts no overhead until they are set
    // again (the live inventory between a node event and the audit's next loads): lenient
    // for that node, never a denial the loads do not support.
    let mut moved = inventory.clone();
    let mut bigger = NodeUpdate::of("small-0", &[("karpenter.sh/nodepool", "small")], &[]);
    bigger.allocatable = Some(
        [
            ("cpu".to_string(), 1930),
            ("memory".to_string(), 1536 << 20),
            ("pods".to_string(), 11),
        ]
        .into(),
    );
    moved.apply_node(bigger);
    assert!(!moved.daemon_loads_current());
    let on_two = dsg005(&object, &moved);
    assert!(
        on_two[0]
            .message
            .contains("2 nodes (e.g. small-1) in pool small"),
        "{}",
        on_two[0].message
    );
    // The shapes among some nodes are the shapes holding some of them, counted; with the
    // changed node's overhead unknown too.
    for (inventory, except) in [(&inventory, ("kube-system", "cni")), (&moved, ("x", "y"))] {
        type Seen = (Vec<u32>, u64, u64, String);
        let sorted = |shapes: Vec<(crate::inventory::NodeShape<'_>, u64)>| {
            let mut seen: Vec<Seen> = shapes
                .into_iter()
                .map(|(shape, count)| {
                    let requests = format!("{:?}", shape.daemon_requests);
                    (
                        shape.nodes.iter().collect(),
                        count,
                        shape.daemon_pods,
                        requests,
                    )
                })
                .collect();
            seen.sort();
            seen
        };
        let among = |nodes: &roaring::RoaringBitmap| {
            sorted(inventory.node_shapes_among(except, nodes).unwrap())
        };
        let filtered = |nodes: &roaring::RoaringBitmap| {
            sorted(
                inventory
                    .node_shapes(except)
                    .into_iter()
                    .map(|shape| {
                        let count = nodes.intersection_len(&shape.nodes);
                        (shape, count)
                    })
                    .filter(|(_, count)| *count > 0)
                    .collect(),
            )
        };
        let all = inventory.all_nodes().clone();
        let some: roaring::RoaringBitmap = all.iter().step_by(2).collect();
        for nodes in [&all, &some, &roaring::RoaringBitmap::new()] {
            assert_eq!(among(nodes), filtered(nodes));
        }
        assert!(!among(&all).is_empty());
    }
    let mut fresh = inventory.clone();
    assert!(
        !fresh.adopt_daemon_loads(&moved),
        "loads of other nodes are not taken"
    );
    assert!(fresh.adopt_daemon_loads(&inventory.clone()));
    moved.set_daemon_loads(Some(inventory.daemon_loads().unwrap().to_vec()));
    assert!(moved.daemon_loads_current());
    assert_eq!(dsg005(&object, &moved), found);
    // Its own entry among the loads is not counted twice.
    let mut with_self = inventory.clone();
    let mut loads = with_self.daemon_loads().unwrap().to_vec();
    loads.push(crate::inventory::DaemonLoad {
        namespace: "monitoring".into(),
        name: "agent".into(),
        ..load("x", 1000)
    });
    with_self.set_daemon_loads(Some(loads));
    assert_eq!(dsg005(&object, &with_self), found);

    // Eleven daemons already fill the small nodes' pod slots.
    let mut crowded = sized_cluster(false);
    crowded.set_daemon_loads(Some((0..11).map(|i| load(&format!("d{i}"), 0)).collect()));
    let tiny = requesting(json!([container(json!({"cpu": "10m"}), json!({}))]));
    assert!(
        dsg005(&tiny, &crowded)[0].message.contains(
            "in pool small: pods: allocatable 11, 11 taken by the other DaemonSets there"
        )
    );

    // With maxSurge the new pod starts beside the old: 2 x 1000m > 1930m on small nodes.
    let mut surging = requesting(json!([container(json!({"cpu": "1"}), json!({}))]));
    surging["spec"]["updateStrategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}});
    let found = dsg005(&surging, &sized_cluster(false));
    assert_eq!(found[0].severity, Severity::Warn);
    assert!(
        found[0].message.starts_with(
            "the pod (requests cpu 1 per pod) fits, but not beside its own new pod during a rollout"
        ),
        "{}",
        found[0].message
    );
    assert!(
        found[0]
            .message
            .contains("in pool small during a rollout: cpu: needs 2, allocatable 1930m"),
        "{}",
        found[0].message
    );
    assert!(
        found[0].message.contains("Set maxSurge to 0"),
        "{}",
        found[0].message
    );
}

#[test]
fn dsg005_nodes_without_allocatable_are_not_judged() {
    let object = requesting(json!([container(json!({"cpu": "64"}), json!({}))]));
    assert!(
        dsg005(&object, &cluster()).is_empty(),
        "no node states allocatable"
    );
}

fn dsg006(strategy: Value, pod_extra: Value, inventory: &Inventory) -> Vec<Finding> {
    let mut object = daemonset(limited(pod_extra));
    object["spec"]["updateStrategy"] = strategy;
    only(
        &run(&object, inventory, &Config::default()),
        Rule::SurgeWithHostPort,
    )
    .into_iter()
    .cloned()
    .collect()
}

#[test]
fn dsg006_surge_with_a_host_port_stalls_the_rollout() {
    let inventory = cluster();
    let host_port = json!({"containers": [{"name": "exporter", "image": "i", "ports": [{"containerPort": 9100, "hostPort": 9100}],
        "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]});
    let surge =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}});
    let found = dsg006(surge.clone(), host_port.clone(), &inventory);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Warn);
    assert_eq!(
        found[0].pointer,
        "/spec/updateStrategy/rollingUpdate/maxSurge"
    );
    assert!(
        found[0]
            .message
            .contains("container \"exporter\" binds hostPort 9100"),
        "{}",
        found[0].message
    );
    // hostNetwork makes every container port a host port.
    let host_network = json!({"hostNetwork": true, "containers": [{"name": "agent", "image": "i", "ports": [{"containerPort": 8080}],
        "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]});
    let percent = json!({"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}});
    assert!(
        dsg006(percent, host_network, &inventory)[0]
            .message
            .contains("binds port 8080 on the host network")
    );
    // No surge, or OnDelete: nothing.
    assert!(
        dsg006(
            json!({"rollingUpdate": {"maxSurge": 0}}),
            host_port.clone(),
            &inventory
        )
        .is_empty()
    );
    assert!(
        dsg006(
            json!({"type": "OnDelete", "rollingUpdate": {"maxSurge": 1}}),
            host_port.clone(),
            &inventory
        )
        .is_empty()
    );
    assert!(
        dsg006(surge, json!({}), &inventory).is_empty(),
        "no host port"
    );
}

#[test]
fn dsg006_max_unavailable_that_takes_every_pod_down() {
    let inventory = cluster();
    let found = dsg006(
        json!({"rollingUpdate": {"maxUnavailable": "100%"}}),
        json!({}),
        &inventory,
    );
    assert_eq!(
        found[0].pointer,
        "/spec/updateStrategy/rollingUpdate/maxUnavailable"
    );
    assert!(
        found[0]
            .message
            .starts_with("maxUnavailable 100% lets one rollout stop the daemon on every node")
    );
    let nodes = inventory.node_count() as i64;
    let found = dsg006(
        json!({"rollingUpdate": {"maxUnavailable": nodes}}),
        json!({}),
        &inventory,
    );
    assert!(
        found[0]
            .message
            .contains(&format!("(it runs on {nodes} nodes)")),
        "{}",
        found[0].message
    );
    assert!(
        dsg006(
            json!({"rollingUpdate": {"maxUnavailable": nodes - 1}}),
            json!({}),
            &inventory
        )
        .is_empty()
    );
    assert!(
        dsg006(
            json!({"rollingUpdate": {"maxUnavailable": "50%"}}),
            json!({}),
            &inventory
        )
        .is_empty()
    );
}

#[test]
fn dsg005_judges_cluster_api_templates_by_their_capacity_annotations() {
    let mut inventory = sized_cluster(false);
    let object = |annotations: &str| {
        format!(
            "apiVersion: cluster.x-k8s.io/v1beta1\nkind: MachineDeployment\nmetadata:\n  name: md-small\n  namespace: infra\n  annotations:\n    cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size: '0'\n    cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size: '3'\n{annotations}"
        )
    };
    let loaded = crate::inventory::snapshot::templates_from_str(
        &object("    capacity.cluster-autoscaler.kubernetes.io/cpu: '1'\n    capacity.cluster-autoscaler.kubernetes.io/memory: 2G\n    capacity.cluster-autoscaler.kubernetes.io/gpu-type: nvidia.com/gpu\n    capacity.cluster-autoscaler.kubernetes.io/gpu-count: '2'\n"),
        "md.yaml",
    )
    .unwrap();
    let template = &loaded.templates[0];
    assert_eq!(
        template.allocatable,
        Some(
            [
                ("cpu".to_string(), 1000),
                ("memory".to_string(), 2_000_000_000),
                ("nvidia.com/gpu".to_string(), 2),
                ("pods".to_string(), 110)
            ]
            .into()
        ),
        "pods defaults to 110, as the autoscaler's template node"
    );
    inventory.apply_template(template.clone());
    let small_enough = requesting(json!([container(json!({"cpu": "900m"}), json!({}))]));
    assert!(dsg005(&small_enough, &inventory).is_empty());
    let object_2cpu = requesting(json!([container(json!({"cpu": "1500m"}), json!({}))]));
    let found = dsg005(&object_2cpu, &inventory);
    assert_eq!(found[0].severity, Severity::Warn, "the live nodes fit");
    assert!(
        found[0].message.contains(
            "MachineDeployment infra/md-small (when it scales up): cpu: needs 1500m, allocatable 1"
        ),
        "{}",
        found[0].message
    );
    // No capacity annotations, and Karpenter NodePools: nothing to judge.
    let bare = crate::inventory::snapshot::templates_from_str(&object(""), "md.yaml").unwrap();
    assert_eq!(bare.templates[0].allocatable, None);
}

#[test]
fn dsg002_counts_together_the_nodes_of_two_taint_sets_that_leave_the_same_taint_untolerated() {
    // Two gpu nodes: one also carries a taint the pods tolerate, so the taint sets differ
    // while the untolerated taint is the same: one line, both nodes.
    let mut inventory = cluster();
    inventory.apply_node(NodeUpdate::of(
        "gpu-1",
        &[
            ("kubernetes.io/os", "linux"),
            ("karpenter.sh/nodepool", "gpu"),
        ],
        &[
            ("nvidia.com/gpu", "present", "NoSchedule"),
            ("node.kubernetes.io/not-ready", "", "NoExecute"),
        ],
    ));
    let verdict = run(
        &daemonset(limited(json!({}))),
        &inventory,
        &Config::default(),
    );
    let deny = only(&verdict, Rule::UntoleratedTaints)
        .into_iter()
        .find(|f| f.severity == Severity::Deny)
        .unwrap();
    assert!(
        deny.message
            .contains("2 nodes (e.g. gpu-0) in pool gpu: nvidia.com/gpu=present:NoSchedule"),
        "{}",
        deny.message
    );
}

#[test]
fn explanations_remembered_on_one_inventory_follow_the_next_one() {
    // The DSG001 hint and the DSG002 split are remembered per version of the node index;
    // a changed inventory must not answer with the old ones.
    let typo = daemonset(limited(
        json!({"nodeSelector": {"karpenter.sh/nodepool": "gpuu"}}),
    ));
    let everywhere = daemonset(limited(json!({})));
    let deny_of = |verdict: &Verdict, rule: Rule| {
        only(verdict, rule)
            .into_iter()
            .find(|f| f.severity == Severity::Deny)
            .unwrap()
            .message
            .clone()
    };
    let mut inventory = cluster();
    let hint = deny_of(
        &run(&typo, &inventory, &Config::default()),
        Rule::SelectorMatchesNoNode,
    );
    assert!(
        hint.contains("1 node has karpenter.sh/nodepool=gpu."),
        "{hint}"
    );
    let split = deny_of(
        &run(&everywhere, &inventory, &Config::default()),
        Rule::UntoleratedTaints,
    );
    assert!(split.contains("in pool gpu:"), "{split}");
    inventory.apply_node(NodeUpdate::of(
        "gpu-0",
        &[
            ("kubernetes.io/os", "linux"),
            ("karpenter.sh/nodepool", "accelerated"),
        ],
        &[("nvidia.com/gpu", "present", "NoSchedule")],
    ));
    let hint = deny_of(
        &run(&typo, &inventory, &Config::default()),
        Rule::SelectorMatchesNoNode,
    );
    assert!(hint.contains("karpenter.sh/nodepool=accelerated"), "{hint}");
    let split = deny_of(
        &run(&everywhere, &inventory, &Config::default()),
        Rule::UntoleratedTaints,
    );
    assert!(split.contains("in pool accelerated:"), "{split}");
}

// Answers shared between DaemonSets of the same reach ----------------------------------

/// One inventory (one version of the node index, whose remembered answers are shared)
/// judged in turn with settings and objects that must not borrow each other's answers.
#[test]
fn shared_answers_follow_the_settings_the_pointer_and_the_host_network() {
    let inventory = cluster();
    let plain = daemonset(limited(json!({})));
    let deny = run(&plain, &inventory, &Config::default());
    let first = only(&deny, Rule::UntoleratedTaints);
    assert_eq!(first[0].pointer, "/spec/template/spec");

    // The same reach with other DSG002 settings: its own severity and grouping.
    let mut config = Config::default();
    config.rules.untolerated_taints.partial_action = crate::config::Action::Warn;
    config.rules.untolerated_taints.pool_label_keys = vec!["kubernetes.io/os".into()];
    let warned = run(&plain, &inventory, &config);
    let warned = only(&warned, Rule::UntoleratedTaints);
    let warn = warned
        .iter()
        .find(|f| f.severity == Severity::Warn)
        .expect("partialAction warn");
    assert!(warn.message.contains("in pool linux"), "{}", warn.message);
    // And the first settings again still get the first answer.
    assert_eq!(run(&plain, &inventory, &Config::default()), deny);

    // An empty tolerations list is the same reach, but the finding points at the list.
    let with_list = daemonset(limited(json!({"tolerations": []})));
    let listed = run(&with_list, &inventory, &Config::default());
    let listed = only(&listed, Rule::UntoleratedTaints);
    assert_eq!(listed[0].pointer, "/spec/template/spec/tolerations");
    assert_eq!(listed[0].message, first[0].message);

    // The DaemonSet controller tolerates network-unavailable for host-network pods only:
    // a node with that taint blocks one and not the other, on the same index version.
    let mut tainted = inventory.clone();
    tainted.apply_node(NodeUpdate::of(
        "starting-0",
        &[("kubernetes.io/os", "linux")],
        &[("node.kubernetes.io/network-unavailable", "", "NoSchedule")],
    ));
    let blocked = |object: &Value| {
        run(object, &tainted, &Config::default())
            .findings
            .iter()
            .any(|f| f.rule == Rule::UntoleratedTaints && f.message.contains("starting-0"))
    };
    assert!(blocked(&plain));
    assert!(!blocked(&daemonset(limited(json!({"hostNetwork": true})))));
    assert!(blocked(&plain), "the host-network answer is not reused");
}

/// DSG002's findings are remembered per reach and per set of templates: a template
/// added, changed or deleted on the same node index is seen at the next evaluation.
#[test]
fn shared_dsg002_answers_follow_the_templates() {
    use crate::scheduling::{NodeTemplate, Taint, TemplateKind};
    let object = daemonset(limited(json!({"tolerations": [
        {"key": "nvidia.com/gpu", "operator": "Exists"},
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]})));
    let mut inventory = cluster();
    let dsg002 = |inventory: &Inventory| {
        only(
            &run(&object, inventory, &Config::default()),
            Rule::UntoleratedTaints,
        )
        .iter()
        .map(|f| f.message.clone())
        .collect::<Vec<_>>()
    };
    assert!(dsg002(&inventory).is_empty());
    let pool = |taint: &str| {
        NodeTemplate::node_pool(
            "general",
            &Default::default(),
            &[],
            vec![Taint::new("dedicated", taint, "NoSchedule")],
            Vec::new(),
        )
    };
    inventory.apply_template(pool("ml"));
    let blocked = dsg002(&inventory);
    assert!(
        blocked[0].contains("dedicated=ml:NoSchedule"),
        "{blocked:?}"
    );
    inventory.apply_template(pool("batch"));
    let changed = dsg002(&inventory);
    assert!(
        changed[0].contains("dedicated=batch:NoSchedule"),
        "{changed:?}"
    );
    inventory.delete_template(TemplateKind::NodePool, "", "general");
    assert!(dsg002(&inventory).is_empty());

    // A selection only a template can satisfy: DSG001 reads every template's placement,
    // remembered on the same reach, and follows the template away.
    let accelerated = daemonset(limited(json!({"nodeSelector": {"accelerator": "a100"}})));
    let dsg001 = |inventory: &Inventory| {
        only(
            &run(&accelerated, inventory, &Config::default()),
            Rule::SelectorMatchesNoNode,
        )[0]
        .severity
    };
    inventory.apply_template(NodeTemplate::node_pool(
        "a100",
        &[("accelerator".to_owned(), "a100".to_owned())].into(),
        &[],
        Vec::new(),
        Vec::new(),
    ));
    assert_eq!(dsg001(&inventory), Severity::Info);
    inventory.delete_template(TemplateKind::NodePool, "", "a100");
    assert_eq!(dsg001(&inventory), Severity::Deny);
}
