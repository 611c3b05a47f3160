//! `dsguard review` and the admission adapter on the AdmissionReview requests captured from
//! a real kube-apiserver (tests/fixtures/admission, see its README), and on the requests
//! it must never judge or never choke on.

mod common;

use assert_cmd::Command;
use base64::Engine;
use common::*;
use dsguard::admission::{self, Endpoint};
use dsguard::config::Config;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/admission")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn decide(review: &Value, endpoint: Endpoint) -> admission::Decision {
    admission::review(
        &serde_json::to_vec(review).unwrap(),
        endpoint,
        &corpus_inventory(),
        &Config::default(),
    )
    .unwrap()
}

fn review_binary(stdin: Vec<u8>, extra: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::cargo_bin("dsguard")
        .unwrap()
        .arg("review")
        .arg("--nodes")
        .arg(corpus("nodes"))
        .args(extra)
        .write_stdin(stdin)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn a_real_create_is_denied_with_every_problem_and_the_uid_echoed() {
    for name in ["validate-create-v1.26.json", "validate-create-v1.20.json"] {
        let review = fixture(name);
        let (code, stdout, _) = review_binary(
            serde_json::to_vec(&review).unwrap(),
            &["--webhook", "validate"],
        );
        assert_eq!(code, Some(1), "{name}");
        let response: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(response["apiVersion"], review["apiVersion"]);
        assert_eq!(response["kind"], "AdmissionReview");
        assert_eq!(response["response"]["uid"], review["request"]["uid"]);
        assert_eq!(response["response"]["allowed"], false);
        assert_eq!(response["response"]["status"]["code"], 403);
        let message = response["response"]["status"]["message"].as_str().unwrap();
        assert!(message.starts_with("DSG001 selector-matches-no-node: selects none of the 20 nodes: nodeSelector research/role=worker"), "{message}");
        assert!(
            message.contains(
                "\nDSG003 missing-resource-limits: container \"c\" has no cpu, memory limit"
            ),
            "{message}"
        );
        assert!(message.len() < 1024);
        assert!(
            response["response"].get("patch").is_none(),
            "validation never patches"
        );
    }
}

#[test]
fn a_real_update_is_grandfathered_when_it_adds_no_violation() {
    let decision = decide(&fixture("validate-update-v1.26.json"), Endpoint::Validate);
    assert!(decision.allowed, "{:?}", decision.message);
    assert!(
        decision
            .warnings
            .iter()
            .any(|w| w.starts_with("DSG001") && w.contains("already present before this update")),
        "{:?}",
        decision.warnings
    );
    assert!(
        decision
            .warnings
            .iter()
            .any(|w| w.starts_with("DSG003") && w.contains("already present")),
        "{:?}",
        decision.warnings
    );

    // The same update, but the new template drops the container's requests AND adds a
    // second unlimited container: the new container is a new violation.
    let mut review = fixture("validate-update-v1.26.json");
    let containers = &mut review["request"]["object"]["spec"]["template"]["spec"]["containers"];
    let mut extra = containers[0].clone();
    extra["name"] = json!("new-sidecar");
    containers.as_array_mut().unwrap().push(extra);
    let decision = decide(&review, Endpoint::Validate);
    assert!(!decision.allowed);
    let message = decision.message.unwrap();
    assert!(
        message.starts_with("DSG003") && message.contains("new-sidecar"),
        "{message}"
    );
    assert!(
        !message.contains("DSG001"),
        "the empty selection was already there: {message}"
    );
}

#[test]
fn a_real_mutate_request_gets_a_patch_that_applies() {
    let review = fixture("mutate-create-v1.26.json");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("review-mutate");
    std::fs::create_dir_all(&dir).unwrap();
    let classes = dir.join("pc.json");
    std::fs::write(&classes, r#"{"kind":"List","items":[{"kind":"PriorityClass","metadata":{"name":"dsguard-default"},"value":1000}]}"#).unwrap();
    let (code, stdout, stderr) = review_binary(
        serde_json::to_vec(&review).unwrap(),
        &[
            "--webhook",
            "mutate",
            "--priorityclasses",
            classes.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let response: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(response["response"]["allowed"], true);
    assert_eq!(response["response"]["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["response"]["patch"].as_str().unwrap())
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    let mut object = review["request"]["object"].clone();
    json_patch::patch(&mut object, &patch).unwrap();
    assert_eq!(
        object["spec"]["template"]["spec"]["priorityClassName"],
        "dsguard-default"
    );
    assert_eq!(
        object["metadata"]["annotations"]["dsguard.io/mutated"],
        "priorityClassName=dsguard-default"
    );
    // managedFields and everything else arrive untouched.
    assert_eq!(
        object["metadata"]["managedFields"],
        review["request"]["object"]["metadata"]["managedFields"]
    );
}

#[test]
fn dry_run_gets_the_same_decision() {
    let mut review = fixture("validate-create-v1.26.json");
    let normal = decide(&review, Endpoint::Validate);
    review["request"]["dryRun"] = json!(true);
    let dry = decide(&review, Endpoint::Validate);
    assert_eq!(normal.allowed, dry.allowed);
    assert_eq!(normal.message, dry.message);
}

#[test]
fn a_label_only_update_gets_no_template_patch() {
    let mut review = fixture("validate-update-v1.26.json");
    let old = review["request"]["oldObject"].clone();
    let mut new = old.clone();
    new["metadata"]["labels"] = json!({"team": "research"});
    review["request"]["object"] = new;
    let decision = decide(&review, Endpoint::Mutate);
    assert!(decision.allowed && decision.patch.is_empty());
    assert!(
        decision
            .skipped
            .unwrap()
            .contains("spec.template unchanged")
    );
}

#[test]
fn requests_that_are_not_judged_are_allowed_untouched() {
    let base = fixture("validate-create-v1.26.json");
    type Change = Box<dyn Fn(&mut Value)>;
    let variants: Vec<(&str, Change)> = vec![
        (
            "DELETE",
            Box::new(|r: &mut Value| r["request"]["operation"] = json!("DELETE")),
        ),
        (
            "CONNECT",
            Box::new(|r: &mut Value| r["request"]["operation"] = json!("CONNECT")),
        ),
        (
            "a subresource",
            Box::new(|r: &mut Value| r["request"]["subResource"] = json!("status")),
        ),
        (
            "another kind",
            Box::new(|r: &mut Value| {
                r["request"]["kind"] =
                    json!({"group": "apps", "version": "v1", "kind": "Deployment"})
            }),
        ),
        (
            "an old API version",
            Box::new(|r: &mut Value| {
                r["request"]["kind"] =
                    json!({"group": "extensions", "version": "v1beta1", "kind": "DaemonSet"})
            }),
        ),
    ];
    for (name, change) in variants {
        let mut review = base.clone();
        change(&mut review);
        let decision = decide(&review, Endpoint::Validate);
        assert!(decision.allowed, "{name}");
        assert!(
            decision.skipped.is_some() && decision.verdict.is_none(),
            "{name}"
        );
        assert_eq!(
            decision.to_response()["response"]["uid"],
            base["request"]["uid"],
            "{name}"
        );
    }
}

#[test]
fn malformed_reviews_are_clear_errors_not_panics() {
    let inventory = corpus_inventory();
    let config = Config::default();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty body", b"".to_vec(), "not an AdmissionReview"),
        ("truncated JSON", b"{\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": \"Admiss".to_vec(), "not an AdmissionReview"),
        ("wrong kind", br#"{"apiVersion":"v1","kind":"Pod"}"#.to_vec(), "expected kind AdmissionReview"),
        ("no request", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(), "no request"),
        ("no uid", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}"#.to_vec(), "no uid"),
        ("wrong types", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}"#.to_vec(), "not an AdmissionReview"),
        ("no object", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","kind":{"group":"apps","version":"v1","kind":"DaemonSet"}}}"#.to_vec(), "without an object"),
    ];
    for (name, body, expected) in cases {
        let error = admission::review(&body, Endpoint::Validate, &inventory, &config).unwrap_err();
        assert!(error.to_string().contains(expected), "{name}: {error}");
    }
    let (code, stdout, stderr) = review_binary(b"not json".to_vec(), &[]);
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty());
    assert!(stderr.contains("not an AdmissionReview"), "{stderr}");
}

#[test]
fn an_object_dsguard_cannot_read_is_allowed_with_a_warning() {
    let mut review = fixture("validate-create-v1.26.json");
    review["request"]["object"]["spec"]["template"]["spec"]["containers"] = json!("not a list");
    let decision = decide(&review, Endpoint::Validate);
    assert!(decision.allowed);
    assert!(
        decision.warnings[0].contains("could not evaluate"),
        "{:?}",
        decision.warnings
    );
    assert!(
        decision.warnings[0].contains("spec.template.spec.containers"),
        "{:?}",
        decision.warnings
    );
}

#[test]
fn a_huge_denial_stays_under_one_kibibyte() {
    let mut review = fixture("validate-create-v1.26.json");
    let containers: Vec<Value> = (0..500)
        .map(|i| json!({"name": format!("container-with-a-long-name-{i}"), "image": "x"}))
        .collect();
    review["request"]["object"]["spec"]["template"]["spec"]["containers"] = json!(containers);
    let decision = decide(&review, Endpoint::Validate);
    let message = decision.message.unwrap();
    assert!(message.len() <= 1024, "{}", message.len());
    assert!(message.starts_with("DSG001"));
    assert!(message.contains("501 denials in all"), "{message}");
}

/// Offline, an inventory part that was not given is skipped and said once on stderr, as
/// `lint` says it; "not synced yet" is for the webhook, which waits for its inventory.
#[test]
fn without_a_node_inventory_node_rules_are_skipped_and_said_once() {
    let review = fixture("validate-create-v1.26.json");
    let output = Command::cargo_bin("dsguard")
        .unwrap()
        .args(["review", "--webhook", "validate"])
        .write_stdin(serde_json::to_vec(&review).unwrap())
        .output()
        .unwrap();
    let response: Value = serde_json::from_slice(&output.stdout).unwrap();
    let message = response["response"]["status"]["message"].as_str().unwrap();
    assert!(!message.contains("DSG001"), "{message}");
    let warnings = response["response"]["warnings"].to_string();
    assert!(!warnings.contains("not synced"), "{warnings}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no node inventory (--nodes or --cluster): DSG001"),
        "{stderr}"
    );
}

/// A review padded with empty items (`containers: [{}, {}, ...]`, `tolerations: [{}, ...]`)
/// is judged within a bound on what is decoded: past it, /validate denies (allowing would
/// let padding bypass the policy) and /mutate allows unpatched, both saying why.
#[test]
fn a_padded_review_is_refused_at_the_decode_bound_not_decoded_whole() {
    for (field, count) in [
        ("containers", 9000),
        ("tolerations", 100_000),
        ("initContainers", 9000),
    ] {
        let mut review = fixture("validate-create-v1.26.json");
        review["request"]["object"]["spec"]["template"]["spec"][field] =
            Value::Array(vec![json!({}); count]);
        let decision = decide(&review, Endpoint::Validate);
        assert!(!decision.allowed, "{field}");
        let message = decision.message.unwrap();
        assert!(message.starts_with("DSG000 input-bounds"), "{message}");
        assert_eq!(decision.uid, review["request"]["uid"].as_str().unwrap());
        let mutated = decide(&review, Endpoint::Mutate);
        assert!(mutated.allowed && mutated.patch.is_empty(), "{field}");
        assert!(
            mutated.warnings[0].starts_with("DSG000 input-bounds"),
            "{:?}",
            mutated.warnings
        );
    }
    // Within the bound the same padding is judged: every empty container lacks limits.
    let mut review = fixture("validate-create-v1.26.json");
    review["request"]["object"]["spec"]["template"]["spec"]["containers"] =
        Value::Array(vec![json!({}); 4000]);
    let decision = decide(&review, Endpoint::Validate);
    let message = decision.message.unwrap();
    assert!(
        message.contains("4001 denials in all"),
        "{}",
        &message[message.len() - 200..]
    );
}

/// 8,000 findings in a warn-only namespace answer with 16 warnings of at most 4 KiB, the
/// last saying how many more (the API server keeps about that much anyway).
#[test]
fn warnings_are_capped_with_how_many_more() {
    let mut review = fixture("validate-create-v1.26.json");
    review["request"]["namespace"] = json!("kube-system");
    review["request"]["object"]["metadata"]["namespace"] = json!("kube-system");
    review["request"]["object"]["spec"]["template"]["spec"]["containers"] =
        Value::Array(vec![json!({}); 8000]);
    let decision = decide(&review, Endpoint::Validate);
    assert!(decision.allowed);
    assert_eq!(decision.warnings.len(), 16);
    assert!(decision.warnings.iter().map(String::len).sum::<usize>() <= 4096);
    assert!(
        decision.warnings[15].starts_with("… and ")
            && decision.warnings[15].contains("more warnings"),
        "{:?}",
        decision.warnings[15]
    );
    let response = decision.to_response_bytes();
    assert!(response.len() < 8 * 1024, "{} bytes", response.len());
}
