//! Table tests for autoscaler templates. Each expected answer is worked out by hand from
//! what the autoscalers document about the nodes they make (docs/templates.md): Karpenter's
//! "NodePools" and "Scheduling" pages (labels, requirements, well-known labels, the
//! `karpenter.sh/nodepool` label) and the cluster-autoscaler's Cluster API README
//! (capacity annotations, the linux/amd64 defaults, the labels Cluster API copies to Nodes).

use std::collections::BTreeMap;

use serde_json::json;

use super::Taint;
use super::selector::{LabelRequirement, NodeSelectorRequirement};
use super::selector_tests::selection;
use super::templates::{
    NodeGroup, NodeTemplate, TemplateKind, TemplateQuery, parse_autoscaler_labels,
    parse_autoscaler_taints,
};

/// Required node affinity with one term of `(key, operator, values)` expressions.
fn term(expressions: &[(&str, &str, &[&str])]) -> serde_json::Value {
    json!({"matchExpressions": expressions
        .iter()
        .map(|(k, op, values)| json!({"key": k, "operator": op, "values": values}))
        .collect::<Vec<_>>()})
}

fn required(terms: Vec<serde_json::Value>) -> serde_json::Value {
    json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}})
}

fn requirement(key: &str, operator: &str, values: &[&str]) -> LabelRequirement {
    LabelRequirement::parse(&NodeSelectorRequirement {
        key: key.into(),
        operator: operator.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
    })
    .expect("valid requirement")
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A GPU NodePool: one instance family pair, amd64, on-demand, a label and a taint.
fn gpu_pool() -> NodeTemplate {
    NodeTemplate::node_pool(
        "gpu",
        &labels(&[("accelerator", "nvidia")]),
        &[
            requirement("karpenter.k8s.aws/instance-family", "In", &["p3", "g5"]),
            requirement("kubernetes.io/arch", "In", &["amd64"]),
            requirement("karpenter.sh/capacity-type", "In", &["on-demand"]),
        ],
        vec![Taint::new("nvidia.com/gpu", "true", "NoSchedule")],
        Vec::new(),
    )
}

/// A general NodePool: both architectures, linux, spot or on-demand, a team exclusion and
/// a generation bound.
fn general_pool() -> NodeTemplate {
    NodeTemplate::node_pool(
        "general",
        &BTreeMap::new(),
        &[
            requirement("kubernetes.io/arch", "In", &["amd64", "arm64"]),
            requirement("kubernetes.io/os", "In", &["linux"]),
            requirement("karpenter.sh/capacity-type", "In", &["spot", "on-demand"]),
            requirement("team", "NotIn", &["ml"]),
            requirement("karpenter.k8s.aws/instance-generation", "Gt", &["2"]),
        ],
        Vec::new(),
        Vec::new(),
    )
}

/// A Cluster API MachineDeployment scaled from zero, with capacity-annotation labels and
/// Machine labels of which only the node-role one reaches the Node.
fn gpu_machine_deployment() -> NodeTemplate {
    NodeTemplate::cluster_api(NodeGroup {
        kind: TemplateKind::MachineDeployment,
        namespace: "infra",
        name: "md-gpu",
        autoscaler_labels: &labels(&[("nvidia.com/gpu.present", "true"), ("pool", "gpu")]),
        machine_labels: &labels(&[("node-role.kubernetes.io/gpu", ""), ("team", "ml")]),
        taints: vec![Taint::new("nvidia.com/gpu", "present", "NoSchedule")],
        replicas: Some(0),
        allocatable: None,
    })
}

/// (case, selection, targets gpu, targets general, targets md-gpu)
fn cases() -> Vec<(&'static str, serde_json::Value, bool, bool, bool)> {
    vec![
        (
            "no constraint targets every template",
            json!({}),
            true,
            true,
            true,
        ),
        (
            "karpenter.sh/nodepool is the NodePool's name",
            json!({"nodeSelector": {"karpenter.sh/nodepool": "gpu"}}),
            true,
            false,
            false,
        ),
        (
            "a template label is on its nodes only",
            json!({"nodeSelector": {"accelerator": "nvidia"}}),
            true,
            false,
            false,
        ),
        (
            "unconstrained os is any os; Cluster API defaults to linux",
            json!({"nodeSelector": {"kubernetes.io/os": "windows"}}),
            true,
            false,
            false,
        ),
        (
            "linux is possible everywhere",
            json!({"nodeSelector": {"kubernetes.io/os": "linux"}}),
            true,
            true,
            true,
        ),
        (
            "arch In [amd64] excludes arm64; Cluster API defaults to amd64",
            json!({"nodeSelector": {"kubernetes.io/arch": "arm64"}}),
            false,
            true,
            false,
        ),
        (
            "the beta arch label carries the same value",
            json!({"nodeSelector": {"beta.kubernetes.io/arch": "arm64"}}),
            false,
            true,
            false,
        ),
        (
            "well-known labels are always set: DoesNotExist never matches",
            required(vec![term(&[("kubernetes.io/os", "DoesNotExist", &[])])]),
            false,
            false,
            false,
        ),
        (
            "a NotIn requirement leaves a custom label possibly absent",
            required(vec![term(&[("team", "DoesNotExist", &[])])]),
            true,
            true,
            true,
        ),
        (
            "NotIn [ml] allows another team; nothing else sets team",
            required(vec![term(&[("team", "Exists", &[])])]),
            false,
            true,
            false,
        ),
        (
            "team=ml is excluded by the NodePool and not copied by Cluster API",
            required(vec![term(&[("team", "In", &["ml"])])]),
            false,
            false,
            false,
        ),
        (
            "NotIn holds where the label is absent or different",
            required(vec![term(&[("team", "NotIn", &["ml"])])]),
            true,
            true,
            true,
        ),
        (
            "Gt 2 meets Gt 5; an instance-type label left free may be anything",
            required(vec![term(&[(
                "karpenter.k8s.aws/instance-generation",
                "Gt",
                &["5"],
            )])]),
            true,
            true,
            false,
        ),
        (
            "Gt 2 and Lt 3 leave no integer",
            required(vec![term(&[(
                "karpenter.k8s.aws/instance-generation",
                "Lt",
                &["3"],
            )])]),
            true,
            false,
            false,
        ),
        (
            "Gt 2 and Lt 4 leave 3",
            required(vec![term(&[(
                "karpenter.k8s.aws/instance-generation",
                "Lt",
                &["4"],
            )])]),
            true,
            true,
            false,
        ),
        (
            "Gt 2, Lt 4 and NotIn [3] leave nothing",
            required(vec![term(&[
                ("karpenter.k8s.aws/instance-generation", "Lt", &["4"]),
                ("karpenter.k8s.aws/instance-generation", "NotIn", &["3"]),
            ])]),
            true,
            false,
            false,
        ),
        (
            "capacity-type In [on-demand] excludes spot",
            required(vec![term(&[(
                "karpenter.sh/capacity-type",
                "In",
                &["spot"],
            )])]),
            false,
            true,
            false,
        ),
        (
            "a node-role Machine label reaches the Node",
            json!({"nodeSelector": {"node-role.kubernetes.io/gpu": ""}}),
            false,
            false,
            true,
        ),
        (
            "capacity-annotation labels are on the template node",
            json!({"nodeSelector": {"nvidia.com/gpu.present": "true", "pool": "gpu"}}),
            false,
            false,
            true,
        ),
        (
            "terms are ORed: the second one fits the MachineDeployment",
            {
                let mut spec = required(vec![
                    term(&[("kubernetes.io/arch", "In", &["arm64"])]),
                    term(&[("kubernetes.io/arch", "In", &["amd64"])]),
                ]);
                spec["nodeSelector"] = json!({"nvidia.com/gpu.present": "true"});
                spec
            },
            false,
            false,
            true,
        ),
        (
            "nodeSelector and affinity on one key are intersected",
            {
                let mut spec = required(vec![term(&[("kubernetes.io/arch", "In", &["arm64"])])]);
                spec["nodeSelector"] = json!({"kubernetes.io/arch": "amd64"});
                spec
            },
            false,
            false,
            false,
        ),
        (
            "a node name never names a node that does not exist yet",
            json!({"nodeName": "ip-10-0-0-1"}),
            false,
            false,
            false,
        ),
        (
            "matchFields never matches a template",
            required(vec![
                json!({"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["x"]}]}),
            ]),
            false,
            false,
            false,
        ),
        (
            "an empty term matches nothing",
            required(vec![json!({})]),
            false,
            false,
            false,
        ),
        (
            "an invalid term matches nothing, the valid one still counts",
            required(vec![
                term(&[("team", "In", &[])]),
                term(&[("kubernetes.io/os", "In", &["linux"])]),
            ]),
            true,
            true,
            true,
        ),
        (
            "zone is set on every node: by Karpenter, or by the cloud provider",
            json!({"nodeSelector": {"topology.kubernetes.io/zone": "us-east-1a"}}),
            true,
            true,
            true,
        ),
        (
            "the kubelet sets a hostname on every node",
            required(vec![term(&[(
                "kubernetes.io/hostname",
                "DoesNotExist",
                &[],
            )])]),
            false,
            false,
            false,
        ),
        (
            "only NodePool nodes carry karpenter.sh/nodepool",
            required(vec![term(&[(
                "karpenter.sh/nodepool",
                "DoesNotExist",
                &[],
            )])]),
            false,
            false,
            true,
        ),
        (
            "Gt on a label no template sets matches nothing",
            required(vec![term(&[("example.com/generation", "Gt", &["0"])])]),
            false,
            false,
            false,
        ),
    ]
}

#[test]
fn templates_are_targeted_when_some_node_they_make_is_selected() {
    let templates = [gpu_pool(), general_pool(), gpu_machine_deployment()];
    for (case, spec, gpu, general, md) in cases() {
        let selection = selection(spec);
        let query = TemplateQuery::new(&selection);
        let got: Vec<bool> = templates.iter().map(|t| t.targeted_by(&query)).collect();
        assert_eq!(got, [gpu, general, md], "{case}");
    }
}

#[test]
fn a_template_requirement_and_label_on_one_key_intersect() {
    let pool = NodeTemplate::node_pool(
        "x",
        &labels(&[("kubernetes.io/arch", "arm64")]),
        &[requirement("kubernetes.io/arch", "In", &["amd64", "arm64"])],
        Vec::new(),
        Vec::new(),
    );
    let amd64 = selection(json!({"nodeSelector": {"kubernetes.io/arch": "amd64"}}));
    let arm64 = selection(json!({"nodeSelector": {"kubernetes.io/arch": "arm64"}}));
    assert!(!pool.targeted_by(&TemplateQuery::new(&amd64)));
    assert!(pool.targeted_by(&TemplateQuery::new(&arm64)));
}

#[test]
fn many_identical_terms_are_judged_once_and_still_match() {
    let terms = vec![term(&[("kubernetes.io/arch", "In", &["arm64"])]); 10_000];
    let selection = selection(required(terms));
    let query = TemplateQuery::new(&selection);
    assert!(general_pool().targeted_by(&query));
    assert!(!gpu_pool().targeted_by(&query));
}

#[test]
fn a_huge_integer_window_with_few_exclusions_is_not_enumerated() {
    let pool = NodeTemplate::node_pool(
        "x",
        &BTreeMap::new(),
        &[requirement("example.com/rank", "Gt", &["0"])],
        Vec::new(),
        Vec::new(),
    );
    let spec = required(vec![term(&[
        ("example.com/rank", "NotIn", &["1", "2", "3"]),
        ("example.com/rank", "Lt", &["9223372036854775807"]),
    ])]);
    assert!(pool.targeted_by(&TemplateQuery::new(&selection(spec))));
    // Gt 0 and Lt 2 leave 1 alone, which the selection excludes.
    let only_one = required(vec![term(&[
        ("example.com/rank", "Lt", &["2"]),
        ("example.com/rank", "NotIn", &["1"]),
    ])]);
    assert!(!pool.targeted_by(&TemplateQuery::new(&selection(only_one))));
}

#[test]
fn autoscaler_annotations_parse_as_the_autoscaler_writes_them() {
    assert_eq!(
        parse_autoscaler_taints("key1=value1:NoSchedule,key2=value2:NoExecute").unwrap(),
        vec![
            Taint::new("key1", "value1", "NoSchedule"),
            Taint::new("key2", "value2", "NoExecute")
        ]
    );
    assert_eq!(
        parse_autoscaler_taints(" dedicated:NoSchedule ,").unwrap(),
        vec![Taint::new("dedicated", "", "NoSchedule")]
    );
    assert!(parse_autoscaler_taints("dedicated").is_err());
    assert!(parse_autoscaler_taints("dedicated=x:Sometimes").is_err());
    assert_eq!(
        parse_autoscaler_labels("key1=value1,key2=value2").unwrap(),
        labels(&[("key1", "value1"), ("key2", "value2")])
    );
    assert_eq!(
        parse_autoscaler_labels("node-restriction.kubernetes.io/my-app=").unwrap(),
        labels(&[("node-restriction.kubernetes.io/my-app", "")])
    );
    assert!(parse_autoscaler_labels("novalue").is_err());
    assert!(parse_autoscaler_labels("bad key=x").is_err());
    assert_eq!(parse_autoscaler_labels("").unwrap(), BTreeMap::new());
}
