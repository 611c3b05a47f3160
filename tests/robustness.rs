//! Bad input never panics and is never answered without the uid (docs/decisions.md, "Limits on input and connections"). Deterministic
//! mutation testing over the real captured AdmissionReview and a real manifest: every
//! truncation point (strided), random byte flips, and every JSON value of the review
//! replaced by each other JSON type. Plus the sizes docs/decisions.md names: a 100,000-node
//! snapshot, huge labels, 500 containers.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use dsguard::admission::{self, Endpoint};
use dsguard::config::Config;
use dsguard::inventory::{Inventory, snapshot};
use serde_json::{Value, json};

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn fixture() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/admission/validate-update-v1.26.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every endpoint answers (or refuses) without panicking; an answer carries the uid.
fn check(body: &[u8], inventory: &Inventory, config: &Config, what: &str) {
    for endpoint in [Endpoint::Validate, Endpoint::Mutate, Endpoint::Both] {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            admission::review(body, endpoint, inventory, config)
        }));
        match outcome {
            Err(_) => panic!("{what}: admission::review panicked ({endpoint:?})"),
            Ok(Ok(decision)) => {
                assert!(!decision.uid.is_empty(), "{what}: answered without a uid");
                let response = decision.to_response();
                assert_eq!(response["response"]["uid"], decision.uid.as_str());
            }
            Ok(Err(error)) => assert!(!error.to_string().is_empty()),
        }
    }
}

/// Every pointer to a value in `value`.
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                pointers(
                    v,
                    format!("{prefix}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn truncated_and_corrupted_reviews_never_panic() {
    let inventory = common::corpus_inventory();
    let config = Config::default();
    let body = serde_json::to_vec(&fixture()).unwrap();
    for cut in (0..body.len()).step_by(37) {
        check(
            &body[..cut],
            &inventory,
            &config,
            &format!("truncated at {cut}"),
        );
    }
    let mut rng = Lcg(42);
    for round in 0..1500 {
        let mut corrupted = body.clone();
        for _ in 0..1 + rng.next() % 4 {
            let at = (rng.next() as usize) % corrupted.len();
            let bytes = b"{}[]\":,0a-\\ \x00\xff";
            corrupted[at] = bytes[(rng.next() as usize) % bytes.len()];
        }
        check(
            &corrupted,
            &inventory,
            &config,
            &format!("corruption round {round}"),
        );
    }
}

#[test]
fn every_value_replaced_by_every_other_type_never_panics() {
    let inventory = common::corpus_inventory();
    let config = Config::from_yaml("mutations:\n  default-tolerations:\n    enabled: true\n    tolerations: [{key: a, operator: Exists}]\n", "c").unwrap();
    let review = fixture();
    let mut all = Vec::new();
    pointers(&review, String::new(), &mut all);
    let replacements = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.5),
        json!("text"),
        json!([]),
        json!({}),
        json!([{"a": 1}]),
    ];
    for pointer in all.iter().filter(|p| !p.is_empty()) {
        for replacement in &replacements {
            let mut changed = review.clone();
            *changed.pointer_mut(pointer).unwrap() = replacement.clone();
            check(
                &serde_json::to_vec(&changed).unwrap(),
                &inventory,
                &config,
                &format!("{pointer} = {replacement}"),
            );
        }
    }
    assert!(
        all.len() > 100,
        "the review has many places to break: {}",
        all.len()
    );
}

#[test]
fn corrupted_manifests_never_panic_the_linter() {
    let text =
        std::fs::read_to_string(common::corpus("daemonsets/calico-calico-node.yaml")).unwrap();
    let inventory = common::corpus_inventory();
    let config = Config::default();
    let mut rng = Lcg(7);
    let mut variants: Vec<String> = (0..text.len())
        .step_by(211)
        .map(|cut| text[..text.floor_char_boundary(cut)].to_owned())
        .collect();
    for _ in 0..300 {
        let mut bytes = text.clone().into_bytes();
        let at = (rng.next() as usize) % bytes.len();
        let table = b": -[]{}\n\t'\"&*!|>";
        bytes[at] = table[(rng.next() as usize) % table.len()];
        variants.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    for (i, variant) in variants.iter().enumerate() {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut read = dsguard::manifests::ReadPaths::default();
            dsguard::manifests::read_text(variant, "variant.yaml", &mut read);
            let report = dsguard::lint::lint(
                &read.manifests,
                read.errors,
                &inventory,
                &config,
                Default::default(),
            );
            let _ = dsguard::lint::to_json(&report);
            let _ = dsguard::lint::to_sarif(&report, &config, None);
            let _ = dsguard::lint::to_junit(&report);
        }));
        assert!(outcome.is_ok(), "variant {i} panicked");
    }
}

#[test]
fn a_hundred_thousand_node_snapshot_loads_and_evaluates() {
    let mut text = String::from("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
    for i in 0..100_000 {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!(
            "{{\"kind\":\"Node\",\"metadata\":{{\"name\":\"n{i}\",\"labels\":{{\"kubernetes.io/hostname\":\"n{i}\",\"zone\":\"z{}\"}}}},\"spec\":{{\"taints\":{}}},\"status\":{{\"images\":[{{\"names\":[\"x\"]}}]}}}}",
            i % 3,
            if i % 10 == 0 { "[{\"key\":\"t\",\"effect\":\"NoSchedule\"}]" } else { "[]" }
        ));
    }
    text.push_str("]}");
    let nodes = snapshot::nodes_from_str(&text, "big.json").unwrap();
    assert_eq!(nodes.len(), 100_000);
    let mut inventory = Inventory::new();
    inventory.reset_nodes(nodes);
    let review = fixture();
    let decision = admission::review(
        &serde_json::to_vec(&review).unwrap(),
        Endpoint::Both,
        &inventory,
        &Config::default(),
    )
    .unwrap();
    assert!(decision.verdict.is_some());
}

#[test]
fn huge_labels_and_values_are_handled() {
    let huge = "v".repeat(1 << 20);
    let mut inventory = Inventory::new();
    inventory.reset_nodes([dsguard::inventory::NodeUpdate {
        name: "n".into(),
        labels: [("big".to_string(), huge.clone())].into(),
        taints: vec![],
        allocatable: None,
    }]);
    let mut review = fixture();
    review["request"]["operation"] = json!("CREATE");
    review["request"]["oldObject"] = json!(null);
    review["request"]["object"]["spec"]["template"]["spec"]["nodeSelector"] =
        json!({"big": huge, "k".repeat(5000): "x"});
    let decision = admission::review(
        &serde_json::to_vec(&review).unwrap(),
        Endpoint::Validate,
        &inventory,
        &Config::default(),
    )
    .unwrap();
    assert!(!decision.allowed);
    assert!(
        decision.message.unwrap().len() <= 1024,
        "the deny message stays under 1 KiB"
    );
    assert!(decision.warnings.iter().all(|w| w.len() <= 256));
}
