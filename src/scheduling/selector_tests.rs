//! Table tests for node selection, modelled on Kubernetes' own tables
//! (`nodeaffinity_test.go` TestNodeSelectorMatch / TestRequiredNodeAffinityMatch,
//! `helpers_test.go` TestMatchNodeSelectorTerms, `labels/selector_test.go`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use super::selector::{Affinity, NodeSelection};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PlacementSpec {
    node_name: Option<String>,
    node_selector: Option<BTreeMap<String, String>>,
    affinity: Option<Affinity>,
}

/// A node selection from a pod spec's placement fields (shared with the template tests).
pub(super) fn selection(spec: serde_json::Value) -> NodeSelection {
    let spec: PlacementSpec = serde_json::from_value(spec).expect("test spec decodes");
    NodeSelection::new(
        spec.node_name.as_deref(),
        spec.node_selector.as_ref(),
        spec.affinity.as_ref().and_then(Affinity::required),
    )
}

fn required(terms: serde_json::Value) -> serde_json::Value {
    json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}})
}

fn expr(key: &str, op: &str, values: &[&str]) -> serde_json::Value {
    json!({"matchExpressions": [{"key": key, "operator": op, "values": values}]})
}

fn field(op: &str, values: &[&str]) -> serde_json::Value {
    json!({"matchFields": [{"key": "metadata.name", "operator": op, "values": values}]})
}

struct Case {
    name: &'static str,
    spec: serde_json::Value,
    node: &'static str,
    labels: &'static [(&'static str, &'static str)],
    want: bool,
}

fn cases() -> Vec<Case> {
    let c = |name, spec, node, labels, want| Case {
        name,
        spec,
        node,
        labels,
        want,
    };
    vec![
        // nodeSelector: an AND of equalities, no validation.
        c(
            "no constraint targets every node",
            json!({}),
            "n1",
            &[],
            true,
        ),
        c(
            "empty nodeSelector counts as absent",
            json!({"nodeSelector": {}}),
            "n1",
            &[],
            true,
        ),
        c(
            "nodeSelector equal value",
            json!({"nodeSelector": {"foo": "bar"}}),
            "n1",
            &[("foo", "bar")],
            true,
        ),
        c(
            "nodeSelector different value",
            json!({"nodeSelector": {"foo": "bar"}}),
            "n1",
            &[("foo", "baz")],
            false,
        ),
        c(
            "nodeSelector missing key",
            json!({"nodeSelector": {"foo": "bar"}}),
            "n1",
            &[("other", "bar")],
            false,
        ),
        c(
            "nodeSelector empty value needs the key with empty value",
            json!({"nodeSelector": {"foo": ""}}),
            "n1",
            &[("foo", "")],
            true,
        ),
        c(
            "nodeSelector empty value on missing key",
            json!({"nodeSelector": {"foo": ""}}),
            "n1",
            &[],
            false,
        ),
        c(
            "nodeSelector two entries both present",
            json!({"nodeSelector": {"a": "1", "b": "2"}}),
            "n1",
            &[("a", "1"), ("b", "2")],
            true,
        ),
        c(
            "nodeSelector two entries one missing",
            json!({"nodeSelector": {"a": "1", "b": "2"}}),
            "n1",
            &[("a", "1")],
            false,
        ),
        c(
            "nodeSelector is not validated",
            json!({"nodeSelector": {"bad key": "x y"}}),
            "n1",
            &[("bad key", "x y")],
            true,
        ),
        c(
            "nodeSelector values are case sensitive",
            json!({"nodeSelector": {"kubernetes.io/os": "Linux"}}),
            "n1",
            &[("kubernetes.io/os", "linux")],
            false,
        ),
        // Required affinity structure.
        c(
            "affinity without nodeAffinity",
            json!({"affinity": {}}),
            "n1",
            &[],
            true,
        ),
        c(
            "nodeAffinity without required part",
            json!({"affinity": {"nodeAffinity": {}}}),
            "n1",
            &[],
            true,
        ),
        c(
            "required with empty terms list matches nothing",
            required(json!([])),
            "n1",
            &[("a", "b")],
            false,
        ),
        c(
            "required with null terms matches nothing",
            required(json!(null)),
            "n1",
            &[("a", "b")],
            false,
        ),
        c(
            "required without terms key matches nothing",
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}}),
            "n1",
            &[],
            false,
        ),
        c(
            "empty term matches nothing",
            required(json!([{}])),
            "n1",
            &[("a", "b")],
            false,
        ),
        c(
            "term with empty lists matches nothing",
            required(json!([{"matchExpressions": [], "matchFields": []}])),
            "n1",
            &[],
            false,
        ),
        c(
            "term with null lists matches nothing",
            required(json!([{"matchExpressions": null, "matchFields": null}])),
            "n1",
            &[],
            false,
        ),
        // In
        c(
            "In with the node's value",
            required(json!([expr("zone", "In", &["a"])])),
            "n1",
            &[("zone", "a")],
            true,
        ),
        c(
            "In with another value",
            required(json!([expr("zone", "In", &["a"])])),
            "n1",
            &[("zone", "b")],
            false,
        ),
        c(
            "In on a missing key",
            required(json!([expr("zone", "In", &["a"])])),
            "n1",
            &[],
            false,
        ),
        c(
            "In with several values, one matching",
            required(json!([expr("zone", "In", &["a", "b", "c"])])),
            "n1",
            &[("zone", "c")],
            true,
        ),
        c(
            "In without values is invalid",
            required(json!([expr("zone", "In", &[])])),
            "n1",
            &[("zone", "a")],
            false,
        ),
        c(
            "In with an empty value matches an empty label",
            required(json!([expr("role", "In", &[""])])),
            "n1",
            &[("role", "")],
            true,
        ),
        c(
            "In with an invalid value is invalid",
            required(json!([expr("zone", "In", &["a", "not valid!"])])),
            "n1",
            &[("zone", "a")],
            false,
        ),
        // NotIn
        c(
            "NotIn on an absent key matches",
            required(json!([expr("compute-type", "NotIn", &["fargate"])])),
            "n1",
            &[],
            true,
        ),
        c(
            "NotIn with the node's value",
            required(json!([expr("compute-type", "NotIn", &["fargate"])])),
            "n1",
            &[("compute-type", "fargate")],
            false,
        ),
        c(
            "NotIn with other values",
            required(json!([expr(
                "compute-type",
                "NotIn",
                &["fargate", "hybrid"]
            )])),
            "n1",
            &[("compute-type", "ec2")],
            true,
        ),
        c(
            "NotIn without values is invalid",
            required(json!([expr("a", "NotIn", &[])])),
            "n1",
            &[],
            false,
        ),
        // Exists / DoesNotExist
        c(
            "Exists on a present key",
            required(json!([expr("gpu", "Exists", &[])])),
            "n1",
            &[("gpu", "")],
            true,
        ),
        c(
            "Exists on an absent key",
            required(json!([expr("gpu", "Exists", &[])])),
            "n1",
            &[("cpu", "")],
            false,
        ),
        c(
            "Exists with values is invalid",
            required(json!([expr("gpu", "Exists", &["x"])])),
            "n1",
            &[("gpu", "x")],
            false,
        ),
        c(
            "DoesNotExist on an absent key",
            required(json!([expr("gpu", "DoesNotExist", &[])])),
            "n1",
            &[],
            true,
        ),
        c(
            "DoesNotExist on a present key",
            required(json!([expr("gpu", "DoesNotExist", &[])])),
            "n1",
            &[("gpu", "a100")],
            false,
        ),
        c(
            "DoesNotExist with values is invalid",
            required(json!([expr("gpu", "DoesNotExist", &["x"])])),
            "n1",
            &[],
            false,
        ),
        // Gt / Lt: integers on both sides, strict comparison.
        c(
            "Gt with a larger label",
            required(json!([expr("cores", "Gt", &["4"])])),
            "n1",
            &[("cores", "5")],
            true,
        ),
        c(
            "Gt is strict",
            required(json!([expr("cores", "Gt", &["4"])])),
            "n1",
            &[("cores", "4")],
            false,
        ),
        c(
            "Gt with a smaller label",
            required(json!([expr("cores", "Gt", &["4"])])),
            "n1",
            &[("cores", "3")],
            false,
        ),
        c(
            "Gt on a non-integer label",
            required(json!([expr("cores", "Gt", &["4"])])),
            "n1",
            &[("cores", "five")],
            false,
        ),
        c(
            "Gt on an absent label",
            required(json!([expr("cores", "Gt", &["4"])])),
            "n1",
            &[],
            false,
        ),
        c(
            "Gt with a non-integer operand is invalid",
            required(json!([expr("cores", "Gt", &["four"])])),
            "n1",
            &[("cores", "5")],
            false,
        ),
        c(
            "Gt with two operands is invalid",
            required(json!([expr("cores", "Gt", &["1", "2"])])),
            "n1",
            &[("cores", "5")],
            false,
        ),
        c(
            "Gt without operand is invalid",
            required(json!([expr("cores", "Gt", &[])])),
            "n1",
            &[("cores", "5")],
            false,
        ),
        c(
            "Gt with a negative operand is an invalid label value",
            required(json!([expr("cores", "Gt", &["-1"])])),
            "n1",
            &[("cores", "5")],
            false,
        ),
        c(
            "Gt with a plus-signed operand is an invalid label value",
            required(json!([expr("cores", "Gt", &["+1"])])),
            "n1",
            &[("cores", "5")],
            false,
        ),
        c(
            "Gt compares leading-zero labels as integers",
            required(json!([expr("version", "Gt", &["0204"])])),
            "n1",
            &[("version", "0206")],
            true,
        ),
        c(
            "Gt parses a plus-signed label",
            required(json!([expr("cores", "Gt", &["5"])])),
            "n1",
            &[("cores", "+7")],
            true,
        ),
        c(
            "Gt on an int64-overflowing label",
            required(json!([expr("cores", "Gt", &["5"])])),
            "n1",
            &[("cores", "99999999999999999999")],
            false,
        ),
        c(
            "Lt with a smaller label",
            required(json!([expr("cores", "Lt", &["4"])])),
            "n1",
            &[("cores", "3")],
            true,
        ),
        c(
            "Lt is strict",
            required(json!([expr("cores", "Lt", &["4"])])),
            "n1",
            &[("cores", "4")],
            false,
        ),
        c(
            "Lt parses a negative label",
            required(json!([expr("temp", "Lt", &["0"])])),
            "n1",
            &[("temp", "-3")],
            true,
        ),
        c(
            "Lt on a decimal label",
            required(json!([expr("cores", "Lt", &["4"])])),
            "n1",
            &[("cores", "3.5")],
            false,
        ),
        // Invalid expressions.
        c(
            "unknown operator is invalid",
            required(json!([expr("a", "Equals", &["b"])])),
            "n1",
            &[("a", "b")],
            false,
        ),
        c(
            "lowercase operator is invalid",
            required(json!([expr("a", "in", &["b"])])),
            "n1",
            &[("a", "b")],
            false,
        ),
        c(
            "invalid key is invalid",
            required(json!([expr("bad key", "Exists", &[])])),
            "n1",
            &[("bad key", "")],
            false,
        ),
        c(
            "empty key is invalid",
            required(json!([expr("", "DoesNotExist", &[])])),
            "n1",
            &[],
            false,
        ),
        // ORed terms, ANDed requirements.
        c(
            "second term matches",
            required(json!([expr("a", "In", &["x"]), expr("b", "In", &["y"])])),
            "n1",
            &[("b", "y")],
            true,
        ),
        c(
            "invalid term does not hide a matching one",
            required(json!([expr("a", "Gt", &["x"]), expr("b", "Exists", &[])])),
            "n1",
            &[("b", "")],
            true,
        ),
        c(
            "empty term does not hide a matching one",
            required(json!([{}, expr("b", "Exists", &[])])),
            "n1",
            &[("b", "")],
            true,
        ),
        c(
            "no term matches",
            required(json!([expr("a", "In", &["x"]), expr("b", "In", &["y"])])),
            "n1",
            &[("a", "y"), ("b", "x")],
            false,
        ),
        c(
            "expressions in a term are ANDed (all match)",
            required(
                json!([{"matchExpressions": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "In", "values": ["1"]}]}]),
            ),
            "n1",
            &[("a", ""), ("b", "1")],
            true,
        ),
        c(
            "expressions in a term are ANDed (one fails)",
            required(
                json!([{"matchExpressions": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "In", "values": ["1"]}]}]),
            ),
            "n1",
            &[("a", "")],
            false,
        ),
        c(
            "one invalid expression invalidates its term",
            required(
                json!([{"matchExpressions": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "In"}]}]),
            ),
            "n1",
            &[("a", ""), ("b", "1")],
            false,
        ),
        // matchFields: metadata.name only, In/NotIn with exactly one value.
        c(
            "matchFields In the node's name",
            required(json!([field("In", &["n1"])])),
            "n1",
            &[],
            true,
        ),
        c(
            "matchFields In another name",
            required(json!([field("In", &["n2"])])),
            "n1",
            &[],
            false,
        ),
        c(
            "matchFields NotIn the node's name",
            required(json!([field("NotIn", &["n1"])])),
            "n1",
            &[],
            false,
        ),
        c(
            "matchFields NotIn another name",
            required(json!([field("NotIn", &["n2"])])),
            "n1",
            &[],
            true,
        ),
        c(
            "matchFields In with two values is invalid",
            required(json!([field("In", &["n1", "n2"])])),
            "n1",
            &[],
            false,
        ),
        c(
            "matchFields Exists is invalid",
            required(json!([field("Exists", &[])])),
            "n1",
            &[],
            false,
        ),
        c(
            "matchFields and matchExpressions are ANDed (both match)",
            required(
                json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}], "matchExpressions": [{"key": "a", "operator": "Exists"}]}]),
            ),
            "n1",
            &[("a", "")],
            true,
        ),
        c(
            "matchFields and matchExpressions are ANDed (expression fails)",
            required(
                json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}], "matchExpressions": [{"key": "a", "operator": "Exists"}]}]),
            ),
            "n1",
            &[],
            false,
        ),
        c(
            "a label named metadata.name does not satisfy matchFields",
            required(json!([field("In", &["n2"])])),
            "n1",
            &[("metadata.name", "n2")],
            false,
        ),
        c(
            "matchExpressions on metadata.name ignore the node name",
            required(json!([expr("metadata.name", "In", &["n1"])])),
            "n1",
            &[],
            false,
        ),
        c(
            "matchFields on another key reads an empty field (In)",
            required(
                json!([{"matchFields": [{"key": "spec.unschedulable", "operator": "In", "values": ["true"]}]}]),
            ),
            "n1",
            &[],
            false,
        ),
        c(
            "matchFields on another key reads an empty field (NotIn)",
            required(
                json!([{"matchFields": [{"key": "spec.unschedulable", "operator": "NotIn", "values": ["true"]}]}]),
            ),
            "n1",
            &[],
            true,
        ),
        c(
            "matchFields skipped for a nameless node",
            required(json!([field("In", &["n2"])])),
            "",
            &[],
            true,
        ),
        // nodeName, and every part together.
        c(
            "template nodeName targets that node",
            json!({"nodeName": "n1"}),
            "n1",
            &[],
            true,
        ),
        c(
            "template nodeName excludes other nodes",
            json!({"nodeName": "n2"}),
            "n1",
            &[],
            false,
        ),
        c(
            "empty nodeName counts as absent",
            json!({"nodeName": ""}),
            "n1",
            &[],
            true,
        ),
        c(
            "nodeName and a failing nodeSelector",
            json!({"nodeName": "n1", "nodeSelector": {"a": "b"}}),
            "n1",
            &[],
            false,
        ),
        c(
            "nodeSelector AND affinity (both match)",
            json!({"nodeSelector": {"os": "linux"}, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [expr("arch", "In", &["amd64"])]}}}}),
            "n1",
            &[("os", "linux"), ("arch", "amd64")],
            true,
        ),
        c(
            "nodeSelector AND affinity (affinity fails)",
            json!({"nodeSelector": {"os": "linux"}, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [expr("arch", "In", &["arm64"])]}}}}),
            "n1",
            &[("os", "linux"), ("arch", "amd64")],
            false,
        ),
        c(
            "nodeSelector AND affinity (selector fails)",
            json!({"nodeSelector": {"os": "windows"}, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [expr("arch", "In", &["amd64"])]}}}}),
            "n1",
            &[("os", "linux"), ("arch", "amd64")],
            false,
        ),
        c(
            "preferred affinity never constrains",
            json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": expr("a", "In", &["b"])}]}}}),
            "n1",
            &[],
            true,
        ),
    ]
}

#[test]
fn node_selection_matches_like_kubernetes() {
    let cases = cases();
    assert!(
        cases.len() >= 60,
        "keep at least 60 cases, have {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let selection = selection(case.spec.clone());
        let labels: BTreeMap<&str, &str> = case.labels.iter().copied().collect();
        let got = selection.matches(case.node, |k| labels.get(k).copied());
        if got != case.want {
            failures.push(format!("{}: want {}, got {}", case.name, case.want, got));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn invalid_terms_keep_their_reason() {
    let selection = selection(required(json!([expr("cores", "Gt", &["four"])])));
    let terms = selection.required_terms.expect("required terms present");
    match &terms[0] {
        super::Term::Invalid(why) => assert!(why.contains("not an integer"), "{why}"),
        other => panic!("expected an invalid term, got {other:?}"),
    }
}

/// `why_not` says nothing exactly where the node is targeted, over every case of the
/// table, and names the failing part in the manifest's terms.
#[test]
fn why_not_is_empty_exactly_where_the_node_is_targeted() {
    for case in &cases() {
        let selection = selection(case.spec.clone());
        let labels: BTreeMap<&str, &str> = case.labels.iter().copied().collect();
        let why = selection.why_not(case.node, |k| labels.get(k).copied());
        assert_eq!(why.is_empty(), case.want, "{}: {why:?}", case.name);
    }
    let labels: BTreeMap<&str, &str> = [("disktype", "hdd"), ("zone", "a")].into();
    let label = |k: &str| labels.get(k).copied();
    let mut spec = required(json!([
        expr("zone", "In", &["b", "c"]),
        expr("gpu", "Exists", &[])
    ]));
    spec["nodeSelector"] = json!({"disktype": "ssd", "team": "ml"});
    assert_eq!(
        selection(spec).why_not("n1", label),
        [
            "nodeSelector disktype=ssd: the node has disktype=hdd",
            "nodeSelector team=ml: the node has no label team",
            "required node affinity term 1: zone In [b, c]: the node has zone=a",
            "required node affinity term 2: gpu Exists: the node has no label gpu",
        ]
    );
    assert_eq!(
        selection(json!({"nodeName": "n2"})).why_not("n1", label),
        ["spec.nodeName is n2, not this node"]
    );
    let pinned = selection(required(json!([field("In", &["n2"])])));
    assert_eq!(
        pinned.why_not("n1", label),
        ["required node affinity term 1: matchFields metadata.name In n2"]
    );
}
