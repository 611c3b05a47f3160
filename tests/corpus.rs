//! The engine on real, public DaemonSets (tests/corpus/daemonsets) against real nodes
//! (tests/corpus/nodes). Each file keeps its source and licence header; tests/corpus/INDEX.md
//! describes them, including a placement simulated independently of dsguard.

mod common;

use common::*;
use dsguard::config::Config;
use dsguard::policy::{self, Context, Phase, Rule, Severity, Verdict};

/// (file, targeted nodes, runnable nodes) from the INDEX's independent simulation against
/// the 20 corpus nodes, including the DaemonSet controller's own tolerations.
const PLACEMENT: [(&str, u64, u64); 56] = [
    ("amazon-vpc-cni-aws-node.yaml", 17, 17),
    ("antrea-antrea-agent-windows.yaml", 0, 0),
    ("antrea-antrea-agent.yaml", 17, 17),
    ("antrea-antrea-node-init.yaml", 20, 13),
    ("aws-ebs-csi-driver-ebs-csi-node-windows.yaml", 0, 0),
    ("aws-ebs-csi-driver-ebs-csi-node.yaml", 17, 17),
    ("azuredisk-csi-driver-csi-azuredisk-node-win.yaml", 0, 0),
    ("azuredisk-csi-driver-csi-azuredisk-node.yaml", 17, 17),
    ("calico-calico-node-windows.yaml", 0, 0),
    ("calico-calico-node.yaml", 17, 17),
    ("calico-csi-node-driver.yaml", 20, 17),
    ("calico-kube-proxy-windows.yaml", 0, 0),
    ("canal-canal.yaml", 17, 17),
    ("ceph-csi-csi-cephfsplugin.yaml", 20, 13),
    ("ceph-csi-csi-rbdplugin.yaml", 20, 13),
    ("cilium-cilium.yaml", 20, 20),
    ("csi-driver-nfs-csi-nfs-node.yaml", 17, 17),
    ("datadog-agent-datadog.yaml", 17, 10),
    ("falco-falco.yaml", 20, 17),
    ("flannel-kube-flannel-ds.yaml", 17, 17),
    ("fluent-bit-fluent-bit.yaml", 20, 20),
    ("gke-accelerators-nvidia-driver-installer.yaml", 0, 0),
    ("gke-accelerators-nvidia-gpu-device-plugin.yaml", 0, 0),
    ("intel-device-plugins-intel-gpu-plugin.yaml", 13, 7),
    ("intel-device-plugins-intel-sgx-plugin.yaml", 13, 7),
    ("istio-istio-cni-node-tolerations.yaml", 17, 10),
    ("istio-istio-cni-node.yaml", 17, 17),
    ("istio-ztunnel.yaml", 17, 17),
    ("kube-prometheus-node-exporter.yaml", 17, 17),
    ("kube-router-kube-router.yaml", 20, 20),
    ("kubernetes-addons-fluentd-es-v2.2.0.yaml", 20, 13),
    ("kubernetes-addons-ip-masq-agent.yaml", 0, 0),
    ("kubernetes-addons-node-local-dns.yaml", 20, 20),
    ("kured-kured.yaml", 20, 17),
    ("linkerd-cni-linkerd-cni.yaml", 17, 17),
    ("local-static-provisioner-baremetal-affinity.yaml", 0, 0),
    ("local-static-provisioner-baremetal-nodeselector.yaml", 0, 0),
    (
        "local-static-provisioner-baremetal-priority-critical.yaml",
        17,
        10,
    ),
    (
        "local-static-provisioner-baremetal-tolerations.yaml",
        17,
        14,
    ),
    (
        "local-static-provisioner-baremetal-with-resource-limits.yaml",
        17,
        10,
    ),
    (
        "local-static-provisioner-local-volume-provisioner.yaml",
        20,
        13,
    ),
    ("longhorn-longhorn-manager.yaml", 20, 13),
    ("metallb-speaker.yaml", 17, 14),
    ("multus-kube-multus-ds-thick.yaml", 20, 20),
    ("multus-kube-multus-ds.yaml", 20, 20),
    ("nginx-ingress-nginx-ingress.yaml", 20, 13),
    ("node-feature-discovery-nfd-worker.yaml", 20, 13),
    ("node-problem-detector-node-problem-detector.yaml", 17, 17),
    ("nvidia-k8s-device-plugin-gpu-feature-discovery.yaml", 0, 0),
    (
        "nvidia-k8s-device-plugin-nvidia-device-plugin-daemonset.yaml",
        20,
        13,
    ),
    (
        "otel-collector-example-opentelemetry-collector-agent.yaml",
        20,
        13,
    ),
    (
        "otel-ebpf-example-opentelemetry-ebpf-kernel-collector.yaml",
        20,
        20,
    ),
    (
        "secrets-store-csi-driver-csi-secrets-store-windows.yaml",
        0,
        0,
    ),
    ("secrets-store-csi-driver-csi-secrets-store.yaml", 17, 17),
    (
        "sriov-network-device-plugin-kube-sriov-device-plugin.yaml",
        20,
        13,
    ),
    ("weave-weave-net.yaml", 20, 20),
];

fn findings(verdict: &Verdict, rule: Rule) -> Vec<(Severity, String)> {
    verdict
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| (f.severity, f.message.clone()))
        .collect()
}

/// The defaults, except that kube-system is judged like any namespace: these tests are
/// about what each rule finds, and half the corpus lives in kube-system, where the default
/// config only warns (`exemptions.warnOnlyNamespaces`).
fn strict() -> Config {
    let mut config = Config::default();
    config.exemptions.warn_only_namespaces.clear();
    config
}

fn verdict(file: &str) -> Verdict {
    let (_, object) = daemonset(file);
    lint_verdict(&object, &corpus_inventory(), &strict())
}

#[test]
fn placement_of_every_corpus_daemonset_matches_the_independent_simulation() {
    let inventory = corpus_inventory();
    assert_eq!(inventory.node_count(), 20);
    let config = strict();
    let mut mismatches = Vec::new();
    for (file, targeted, runnable) in PLACEMENT {
        let (_, object) = daemonset(file);
        let namespace = namespace_of(&object);
        let context = Context {
            inventory: &inventory,
            config: &config,
            namespace: &namespace,
            phase: Phase::MutateThenValidate,
            quiet_when_unsynced: false,
            deadline: None,
        };
        let placement = policy::placement(&object, &context);
        let got = (placement.targeted.len(), placement.runnable().len());
        if got != (targeted, runnable) {
            mismatches.push(format!(
                "{file}: want targeted/runnable {targeted}/{runnable}, got {}/{}",
                got.0, got.1
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn windows_only_daemonsets_match_none_of_the_linux_nodes() {
    for file in [
        "antrea-antrea-agent-windows.yaml",
        "aws-ebs-csi-driver-ebs-csi-node-windows.yaml",
        "azuredisk-csi-driver-csi-azuredisk-node-win.yaml",
        "calico-calico-node-windows.yaml",
        "calico-kube-proxy-windows.yaml",
        "secrets-store-csi-driver-csi-secrets-store-windows.yaml",
    ] {
        let v = verdict(file);
        let dsg001 = findings(&v, Rule::SelectorMatchesNoNode);
        assert_eq!(dsg001.len(), 1, "{file}");
        assert_eq!(dsg001[0].0, Severity::Deny, "{file}");
        assert!(
            dsg001[0].1.contains(
                "no node has kubernetes.io/os=windows; 17 nodes have kubernetes.io/os=linux"
            ),
            "{file}: {}",
            dsg001[0].1
        );
        assert!(
            findings(&v, Rule::UntoleratedTaints).is_empty(),
            "{file}: no targeted node, so no taint finding"
        );
    }
}

#[test]
fn tolerate_everything_daemonsets_are_never_blocked() {
    for file in [
        "amazon-vpc-cni-aws-node.yaml",
        "cilium-cilium.yaml",
        "csi-driver-nfs-csi-nfs-node.yaml",
        "kube-prometheus-node-exporter.yaml",
        "linkerd-cni-linkerd-cni.yaml",
        "secrets-store-csi-driver-csi-secrets-store.yaml",
        "aws-ebs-csi-driver-ebs-csi-node.yaml",
    ] {
        assert!(
            findings(&verdict(file), Rule::UntoleratedTaints).is_empty(),
            "{file}"
        );
    }
}

#[test]
fn csi_drivers_with_memory_only_limits_are_flagged_for_cpu_only() {
    for (file, containers) in [
        (
            "aws-ebs-csi-driver-ebs-csi-node.yaml",
            ["ebs-plugin", "node-driver-registrar", "liveness-probe"],
        ),
        (
            "azuredisk-csi-driver-csi-azuredisk-node.yaml",
            ["liveness-probe", "node-driver-registrar", "azuredisk"],
        ),
        (
            "csi-driver-nfs-csi-nfs-node.yaml",
            ["liveness-probe", "node-driver-registrar", "nfs"],
        ),
    ] {
        let dsg003 = findings(&verdict(file), Rule::MissingResourceLimits);
        assert_eq!(dsg003.len(), 3, "{file}: {dsg003:?}");
        for (finding, container) in dsg003.iter().zip(containers) {
            assert!(
                finding
                    .1
                    .starts_with(&format!("container \"{container}\" has no cpu limit;")),
                "{file}: {}",
                finding.1
            );
        }
    }
}

#[test]
fn fully_limited_daemonsets_pass_dsg003() {
    for file in [
        "kube-prometheus-node-exporter.yaml",
        "intel-device-plugins-intel-gpu-plugin.yaml",
        "istio-ztunnel.yaml",
        "secrets-store-csi-driver-csi-secrets-store.yaml",
        "sriov-network-device-plugin-kube-sriov-device-plugin.yaml",
    ] {
        assert!(
            findings(&verdict(file), Rule::MissingResourceLimits).is_empty(),
            "{file}"
        );
    }
}

#[test]
fn init_containers_are_judged_unless_configured_off() {
    let (_, object) = daemonset("multus-kube-multus-ds.yaml");
    let inventory = corpus_inventory();
    let dsg003 = findings(
        &lint_verdict(&object, &inventory, &strict()),
        Rule::MissingResourceLimits,
    );
    assert_eq!(dsg003.len(), 1);
    assert!(
        dsg003[0]
            .1
            .starts_with("init container \"install-multus-binary\""),
        "{}",
        dsg003[0].1
    );
    let mut config = strict();
    config.rules.missing_resource_limits.include_init_containers = false;
    assert!(
        findings(
            &lint_verdict(&object, &inventory, &config),
            Rule::MissingResourceLimits
        )
        .is_empty()
    );
}

#[test]
fn ip_masq_agent_gate_label_is_denied_unless_expected() {
    let v = verdict("kubernetes-addons-ip-masq-agent.yaml");
    let dsg001 = findings(&v, Rule::SelectorMatchesNoNode);
    assert_eq!(dsg001[0].0, Severity::Deny);
    assert!(dsg001[0].1.contains("nodeSelector node.kubernetes.io/masq-agent-ds-ready=true: no node has label node.kubernetes.io/masq-agent-ds-ready"), "{}", dsg001[0].1);

    let (_, object) = daemonset("kubernetes-addons-ip-masq-agent.yaml");
    let config = Config::from_yaml(
        "rules:\n  selector-matches-no-node:\n    expectedEmptyLabelKeys: [node.kubernetes.io/masq-agent-ds-ready]\n",
        "c.yaml",
    )
    .unwrap();
    let v = lint_verdict(&object, &corpus_inventory(), &config);
    assert_eq!(
        findings(&v, Rule::SelectorMatchesNoNode)[0].0,
        Severity::Warn
    );
}

#[test]
fn gpu_and_local_storage_affinities_explain_each_term() {
    let dsg001 = findings(
        &verdict("nvidia-k8s-device-plugin-gpu-feature-discovery.yaml"),
        Rule::SelectorMatchesNoNode,
    );
    let message = &dsg001[0].1;
    for term in ["term 0", "term 1", "term 2"] {
        assert!(message.contains(term), "{message}");
    }
    assert!(
        message.contains("no node has label nvidia.com/gpu.present"),
        "{message}"
    );

    let dsg001 = findings(
        &verdict("local-static-provisioner-baremetal-affinity.yaml"),
        Rule::SelectorMatchesNoNode,
    );
    assert!(
        dsg001[0]
            .1
            .contains("required node affinity: no node has label pool"),
        "{}",
        dsg001[0].1
    );

    let dsg001 = findings(
        &verdict("gke-accelerators-nvidia-driver-installer.yaml"),
        Rule::SelectorMatchesNoNode,
    );
    assert!(
        dsg001[0].1.contains("cloud.google.com/gke-accelerator"),
        "{}",
        dsg001[0].1
    );
    // The GKE node pool label exists, but is no typo of gke-accelerator.
    assert_eq!(dsg001[0].0, Severity::Deny);
}

#[test]
fn custom_taints_on_some_nodes_are_partial_denials_with_the_toleration_to_add() {
    let dsg002 = findings(&verdict("kured-kured.yaml"), Rule::UntoleratedTaints);
    assert_eq!(
        dsg002.len(),
        1,
        "kured tolerates master and control-plane: {dsg002:?}"
    );
    let (severity, message) = &dsg002[0];
    assert_eq!(*severity, Severity::Deny);
    assert!(
        message.starts_with("pods cannot run on 3 of 20 targeted nodes"),
        "{message}"
    );
    assert!(
        message.contains(
            "- key: kwok.x-k8s.io/node\n  operator: Equal\n  value: fake\n  effect: NoSchedule"
        ),
        "{message}"
    );
    assert!(message.contains("- key: t2\n"), "{message}");
}

#[test]
fn control_plane_exclusions_are_information_not_denials() {
    // Tolerates the legacy master key only; the corpus masters carry exactly that key.
    let dsg002 = findings(
        &verdict("local-static-provisioner-baremetal-tolerations.yaml"),
        Rule::UntoleratedTaints,
    );
    assert!(
        dsg002
            .iter()
            .all(|(s, m)| *s != Severity::Info || m.contains("excluded"))
    );
    // No toleration at all: the 4 masters are an intended exclusion (info), the kwok and
    // custom taints a denial.
    let dsg002 = findings(
        &verdict("nginx-ingress-nginx-ingress.yaml"),
        Rule::UntoleratedTaints,
    );
    let info = dsg002
        .iter()
        .find(|(s, _)| *s == Severity::Info)
        .expect("an info finding");
    assert!(
        info.1
            .starts_with("4 targeted nodes are excluded by taints in ignoreTaintKeys"),
        "{}",
        info.1
    );
    assert!(info.1.contains("3 nodes (e.g. ip-10-0-132-92.us-west-1.compute.internal) in pool m4.xlarge: node-role.kubernetes.io/master:NoSchedule"), "{}", info.1);
    let deny = dsg002
        .iter()
        .find(|(s, _)| *s == Severity::Deny)
        .expect("a denial");
    assert!(
        deny.1.starts_with("pods cannot run on 3 of 20"),
        "{}",
        deny.1
    );
}

#[test]
fn user_tolerations_that_replace_the_defaults_block_control_planes_too() {
    let dsg002 = findings(
        &verdict("istio-istio-cni-node-tolerations.yaml"),
        Rule::UntoleratedTaints,
    );
    assert!(
        dsg002
            .iter()
            .any(|(s, m)| *s == Severity::Deny && m.contains("of 17 targeted nodes")),
        "{dsg002:?}"
    );
}

#[test]
fn a_custom_priority_class_is_never_overwritten_and_unknown_ones_warn() {
    let v = verdict("longhorn-longhorn-manager.yaml");
    assert!(v.patch.is_empty(), "longhorn-critical must be kept");
    let dsg004 = findings(&v, Rule::UnknownPriorityClass);
    assert_eq!(dsg004.len(), 1);
    assert_eq!(dsg004[0].0, Severity::Warn);
    assert!(dsg004[0].1.contains("longhorn-critical"));
}

#[test]
fn templates_without_a_class_get_the_default_and_null_tolerations_get_an_array() {
    let (_, object) = daemonset("datadog-agent-datadog.yaml");
    let config = Config::from_yaml(
        "mutations:\n  default-tolerations:\n    enabled: true\n    tolerations:\n    - {key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}\n",
        "c.yaml",
    )
    .unwrap();
    let v = lint_verdict(&object, &corpus_inventory(), &config);
    let paths: Vec<&str> = v
        .patch
        .iter()
        .map(|op| op["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/spec/template/spec/priorityClassName",
            "/spec/template/spec/tolerations",
            "/metadata/annotations"
        ]
    );
}

#[test]
fn a_list_kind_manifest_is_opened() {
    let manifests = daemonset_manifests("weave-weave-net.yaml");
    assert_eq!(manifests.len(), 1);
    let v = verdict("weave-weave-net.yaml");
    assert!(
        findings(&v, Rule::UntoleratedTaints).is_empty(),
        "weave tolerates NoSchedule and NoExecute"
    );
    assert_eq!(findings(&v, Rule::MissingResourceLimits).len(), 3);
}

#[test]
fn every_corpus_daemonset_evaluates_without_error() {
    let inventory = corpus_inventory();
    for (file, _, _) in PLACEMENT {
        let (_, object) = daemonset(file);
        let v = lint_verdict(&object, &inventory, &strict());
        for finding in &v.findings {
            assert!(finding.pointer.starts_with('/'), "{file}: {finding:?}");
            assert!(!finding.message.is_empty());
        }
    }
}

/// The corpus nodes plus the corpus autoscaler templates (tests/corpus/templates):
/// Karpenter's example NodePools `general-purpose`, `spot`, `windows2022` and `default`
/// (kwok), and Cluster API's autoscaler e2e MachineDeployment.
fn inventory_with_templates() -> dsguard::inventory::Inventory {
    let mut inventory = corpus_inventory();
    let loaded = dsguard::inventory::snapshot::load_templates(
        &corpus("templates"),
        dsguard::input::DEFAULT_MAX_FILE_BYTES,
    )
    .unwrap();
    assert!(loaded.notices.is_empty(), "{:?}", loaded.notices);
    for template in loaded.templates {
        inventory.apply_template(template);
    }
    inventory
}

/// (file, targeted templates), each worked out from the DaemonSet's selection and what
/// the autoscalers document about their nodes (docs/templates.md): the four linux
/// templates are linux/amd64 (Cluster API's template node defaults to both), the Windows
/// NodePool is windows/amd64, and none of them sets a GKE, NFD or storage label.
const TEMPLATE_TARGETS: [(&str, &[&str]); 9] = [
    // No selection: every template.
    (
        "antrea-antrea-node-init.yaml",
        &[
            "NodePool default",
            "NodePool general-purpose",
            "NodePool spot",
            "NodePool windows2022",
            "MachineDeployment default/${CLUSTER_NAME}-md-0",
        ],
    ),
    // kubernetes.io/os=linux: not the Windows NodePool.
    (
        "kube-prometheus-node-exporter.yaml",
        &[
            "NodePool default",
            "NodePool general-purpose",
            "NodePool spot",
            "MachineDeployment default/${CLUSTER_NAME}-md-0",
        ],
    ),
    // os In [linux], arch In [amd64, arm64], eks compute-type NotIn [...] (absent: holds).
    (
        "amazon-vpc-cni-aws-node.yaml",
        &[
            "NodePool default",
            "NodePool general-purpose",
            "NodePool spot",
            "MachineDeployment default/${CLUSTER_NAME}-md-0",
        ],
    ),
    // kubernetes.io/os=windows: only the Windows NodePool.
    ("calico-kube-proxy-windows.yaml", &["NodePool windows2022"]),
    (
        "aws-ebs-csi-driver-ebs-csi-node-windows.yaml",
        &["NodePool windows2022"],
    ),
    // Labels no template sets.
    ("kubernetes-addons-ip-masq-agent.yaml", &[]),
    ("gke-accelerators-nvidia-gpu-device-plugin.yaml", &[]),
    ("nvidia-k8s-device-plugin-gpu-feature-discovery.yaml", &[]),
    ("local-static-provisioner-baremetal-affinity.yaml", &[]),
];

#[test]
fn corpus_daemonsets_target_the_example_templates_their_selection_allows() {
    let inventory = inventory_with_templates();
    assert_eq!(inventory.template_count(), 5);
    let config = strict();
    for (file, expected) in TEMPLATE_TARGETS {
        let (_, object) = daemonset(file);
        let namespace = namespace_of(&object);
        let context = Context::offline(&inventory, &config, &namespace);
        let placement = policy::placement(&object, &context);
        let mut targeted: Vec<String> = placement
            .templates
            .iter()
            .filter(|p| p.targeted)
            .map(|p| inventory.templates()[p.index].display_name())
            .collect();
        targeted.sort();
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(targeted, expected, "{file}");
        assert!(
            placement.templates.iter().all(|p| p.untolerated.is_empty()),
            "{file}: no example template has taints"
        );
    }
}

#[test]
fn windows_daemonsets_are_allowed_once_the_windows_nodepool_is_known() {
    let inventory = inventory_with_templates();
    for file in [
        "antrea-antrea-agent-windows.yaml",
        "calico-kube-proxy-windows.yaml",
        "secrets-store-csi-driver-csi-secrets-store-windows.yaml",
    ] {
        let (_, object) = daemonset(file);
        let verdict = lint_verdict(&object, &inventory, &strict());
        let dsg001 = findings(&verdict, Rule::SelectorMatchesNoNode);
        assert_eq!(dsg001.len(), 1, "{file}");
        assert_eq!(dsg001[0].0, Severity::Info, "{file}: {}", dsg001[0].1);
        assert!(
            dsg001[0]
                .1
                .contains("NodePool windows2022 (0 nodes now) can make nodes it selects"),
            "{file}: {}",
            dsg001[0].1
        );
    }
    // Still denied: no live node and no template carries the gate label.
    let (_, masq) = daemonset("kubernetes-addons-ip-masq-agent.yaml");
    let verdict = lint_verdict(&masq, &inventory, &strict());
    assert_eq!(
        findings(&verdict, Rule::SelectorMatchesNoNode)[0].0,
        Severity::Deny
    );
}

/// The kind fixture's node n5 (popeye-kind-arm64-nodelist.yaml) states 100m cpu and 10Mi
/// of allocatable memory. node-exporter requests 102m + 10m cpu and 180Mi + 20Mi memory
/// (kube-rbac-proxy's request), so its pod cannot fit n5, and only n5, of the 17 linux
/// nodes it runs on: a partial finding (warn), naming both resources.
#[test]
fn node_exporter_does_not_fit_the_tiny_kind_node() {
    let v = verdict("kube-prometheus-node-exporter.yaml");
    let dsg005 = findings(&v, Rule::RequestsExceedAllocatable);
    assert_eq!(dsg005.len(), 1);
    assert_eq!(dsg005[0].0, Severity::Warn);
    let message = &dsg005[0].1;
    assert!(
        message.starts_with("the pod (requests cpu 112m, memory 200Mi per pod) does not fit 1 of the 17 nodes it would run on"),
        "{message}"
    );
    assert!(
        message.contains("1 node (n5) in nodes without a pool label: cpu: needs 112m, allocatable 100m; memory: needs 200Mi, allocatable 10Mi"),
        "{message}"
    );
}

/// Longhorn's manager rolls out with maxUnavailable 100%: every pod may go down at once.
#[test]
fn longhorn_rolls_out_everywhere_at_once() {
    let v = verdict("longhorn-longhorn-manager.yaml");
    let dsg006 = findings(&v, Rule::SurgeWithHostPort);
    assert_eq!(dsg006.len(), 1);
    assert_eq!(dsg006[0].0, Severity::Warn);
    assert!(
        dsg006[0].1.starts_with(
            "maxUnavailable 100% lets one rollout stop the daemon on every node at once"
        )
    );
}

/// With the default config a kube-system DaemonSet is never denied: the distribution's own
/// (here Calico's Windows kube-proxy, with no limits and no Windows node) only warns.
#[test]
fn the_default_config_warns_instead_of_denying_in_kube_system() {
    let (_, object) = daemonset("calico-kube-proxy-windows.yaml");
    assert_eq!(namespace_of(&object), "kube-system");
    let strict_verdict = lint_verdict(&object, &corpus_inventory(), &strict());
    assert!(strict_verdict.denied());
    let default_verdict = lint_verdict(&object, &corpus_inventory(), &Config::default());
    assert!(!default_verdict.denied(), "{:?}", default_verdict.findings);
    let rules = |v: &Verdict| v.findings.iter().map(|f| f.rule).collect::<Vec<_>>();
    assert_eq!(
        rules(&default_verdict),
        rules(&strict_verdict),
        "the same findings, as warnings"
    );
    assert!(default_verdict
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warn)
        .all(|f| f.message.ends_with("(a warning, not a denial: namespace kube-system is in exemptions.warnOnlyNamespaces)")));
}
