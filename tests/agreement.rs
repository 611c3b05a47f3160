//! One engine, one answer: for every corpus DaemonSet, the engine (`lint`'s path), the
//! admission adapter (`review` and the webhook), the `dsguard review` binary, and the real
//! webhook chain (mutate, apply the patch, validate the patched object) agree.

mod common;

use assert_cmd::Command;
use base64::Engine;
use common::*;
use dsguard::admission::{self, Endpoint};
use dsguard::config::Config;
use dsguard::policy::DaemonSet;
use serde_json::{Value, json};

const CONFIG: &str = "mutations:\n  default-tolerations:\n    enabled: true\n    tolerations:\n    - {key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}\n";

fn config() -> Config {
    Config::from_yaml(CONFIG, "agreement.yaml").unwrap()
}

fn admission_review(object: &Value, namespace: &str) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0f2c7f0e-agreement",
            "kind": {"group": "apps", "version": "v1", "kind": "DaemonSet"},
            "resource": {"group": "apps", "version": "v1", "resource": "daemonsets"},
            "namespace": namespace,
            "operation": "CREATE",
            "object": object,
            "oldObject": null,
            "dryRun": false
        }
    })
}

fn apply(object: &Value, patch: &[Value]) -> Value {
    let mut patched = object.clone();
    let patch: json_patch::Patch = serde_json::from_value(Value::Array(patch.to_vec())).unwrap();
    json_patch::patch(&mut patched, &patch).unwrap();
    patched
}

fn corpus_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(corpus("daemonsets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    files
}

#[test]
fn engine_admission_and_the_webhook_chain_agree_on_every_corpus_daemonset() {
    let inventory = corpus_inventory();
    let config = config();
    let files = corpus_files();
    assert_eq!(files.len(), 56);
    for file in files {
        let (manifest, object) = daemonset(&file);
        let namespace = namespace_of(&object);
        let engine = lint_verdict(&object, &inventory, &config);
        let body = serde_json::to_vec(&admission_review(&manifest.value, &namespace)).unwrap();

        let both = admission::review(&body, Endpoint::Both, &inventory, &config).unwrap();
        assert_eq!(both.allowed, !engine.denied(), "{file}");
        assert_eq!(both.verdict.as_ref().unwrap(), &engine, "{file}");
        if both.allowed {
            assert_eq!(both.patch, engine.patch, "{file}");
        }

        // The API server's chain: /mutate, apply its patch, then /validate the result.
        let mutate = admission::review(&body, Endpoint::Mutate, &inventory, &config).unwrap();
        assert!(mutate.allowed, "{file}: the mutating webhook never denies");
        assert_eq!(mutate.patch, engine.patch, "{file}");
        let patched = apply(&manifest.value, &mutate.patch);
        let body = serde_json::to_vec(&admission_review(&patched, &namespace)).unwrap();
        let validate = admission::review(&body, Endpoint::Validate, &inventory, &config).unwrap();
        assert_eq!(validate.allowed, !engine.denied(), "{file}");
        let denials = |v: &dsguard::policy::Verdict| {
            v.findings
                .iter()
                .filter(|f| f.severity == dsguard::policy::Severity::Deny)
                .map(|f| (f.rule, f.message.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            denials(validate.verdict.as_ref().unwrap()),
            denials(&engine),
            "{file}"
        );
        // And the patched object needs no further mutation (reinvocation gives nothing).
        let again = admission::review(&body, Endpoint::Mutate, &inventory, &config).unwrap();
        assert!(again.patch.is_empty(), "{file}: {:?}", again.patch);
        assert!(DaemonSet::from_value(&patched).is_ok());
    }
}

#[test]
fn the_review_binary_gives_the_engine_answer() {
    let dir = tempdir();
    let config_path = dir.join("config.yaml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let classes = dir.join("priorityclasses.yaml");
    std::fs::write(&classes, "kind: PriorityClass\napiVersion: scheduling.k8s.io/v1\nmetadata: {name: dsguard-default}\nvalue: 1000\n").unwrap();
    let inventory = corpus_inventory();
    for file in [
        "kured-kured.yaml",
        "kube-prometheus-node-exporter.yaml",
        "antrea-antrea-agent-windows.yaml",
        "datadog-agent-datadog.yaml",
        "cilium-cilium.yaml",
    ] {
        let (manifest, object) = daemonset(file);
        let namespace = namespace_of(&object);
        let engine = lint_verdict(&object, &inventory, &config());
        let output = Command::cargo_bin("dsguard")
            .unwrap()
            .args(["review", "--config"])
            .arg(&config_path)
            .arg("--nodes")
            .arg(corpus("nodes"))
            .arg("--priorityclasses")
            .arg(&classes)
            .arg("--limitranges")
            .arg(dir.join("empty-limitranges.json"))
            .write_stdin(
                serde_json::to_vec(&admission_review(&manifest.value, &namespace)).unwrap(),
            )
            .output()
            .unwrap();
        let response: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{file}: {e}: {}", String::from_utf8_lossy(&output.stderr)));
        let allowed = response["response"]["allowed"].as_bool().unwrap();
        assert_eq!(allowed, !engine.denied(), "{file}");
        assert_eq!(
            output.status.code(),
            Some(if allowed { 0 } else { 1 }),
            "{file}"
        );
        let warnings: Vec<String> = response["response"]["warnings"]
            .as_array()
            .map(|w| w.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        assert_eq!(warnings.len(), engine.warnings().len(), "{file}");
        if allowed && !engine.patch.is_empty() {
            let patch = base64::engine::general_purpose::STANDARD
                .decode(response["response"]["patch"].as_str().unwrap())
                .unwrap();
            assert_eq!(
                serde_json::from_slice::<Vec<Value>>(&patch).unwrap(),
                engine.patch,
                "{file}"
            );
        }
    }
}

/// A fresh folder under the target dir (no network, no global temp clutter).
fn tempdir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("agreement-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("empty-limitranges.json"),
        r#"{"apiVersion":"v1","kind":"List","items":[]}"#,
    )
    .unwrap();
    dir
}

#[test]
fn lint_and_review_binaries_give_the_same_denials_as_the_engine() {
    let dir = tempdir();
    let config_path = dir.join("config.yaml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let classes = dir.join("priorityclasses.yaml");
    std::fs::write(&classes, "kind: PriorityClass\napiVersion: scheduling.k8s.io/v1\nmetadata: {name: dsguard-default}\nvalue: 1000\n").unwrap();
    let flags = |command: &mut Command| {
        command
            .arg("--config")
            .arg(&config_path)
            .arg("--nodes")
            .arg(corpus("nodes"))
            .arg("--priorityclasses")
            .arg(&classes);
    };
    let mut lint = Command::cargo_bin("dsguard").unwrap();
    lint.args(["lint", "-o", "json"]);
    flags(&mut lint);
    let output = lint.arg(corpus("daemonsets")).output().unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["summary"]["daemonsets"], 56);

    let inventory = corpus_inventory();
    for file in [
        "kured-kured.yaml",
        "antrea-antrea-agent-windows.yaml",
        "kubernetes-addons-ip-masq-agent.yaml",
        "multus-kube-multus-ds.yaml",
        "longhorn-longhorn-manager.yaml",
    ] {
        let (manifest, object) = daemonset(file);
        let engine = lint_verdict(&object, &inventory, &config());
        let mut engine_denials: Vec<String> = engine_denials(&engine);
        engine_denials.sort();
        let mut lint_denials: Vec<String> = lint_denials(&report, file);
        lint_denials.sort();
        assert_eq!(lint_denials, engine_denials, "{file}: lint vs engine");
        let lint_patch = report["patches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["file"].as_str().unwrap().ends_with(file))
            .map(|p| p["patch"].clone());
        assert_eq!(
            lint_patch.unwrap_or(json!([])),
            json!(engine.patch),
            "{file}: lint patch vs engine"
        );

        let mut review = Command::cargo_bin("dsguard").unwrap();
        review.arg("review");
        flags(&mut review);
        let output = review
            .write_stdin(
                serde_json::to_vec(&admission_review(&manifest.value, &namespace_of(&object)))
                    .unwrap(),
            )
            .output()
            .unwrap();
        let response: Value = serde_json::from_slice(&output.stdout).unwrap();
        let message = response["response"]["status"]["message"]
            .as_str()
            .unwrap_or("");
        let mut review_denials: Vec<String> = if message.is_empty() {
            Vec::new()
        } else {
            split_denials(message)
        };
        review_denials.sort();
        assert_eq!(review_denials, engine_denials, "{file}: review vs engine");
    }
}

/// The denials of `lint -o json` for one file, as headlines (`DSG001 name: message`).
fn lint_denials(report: &Value, file: &str) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["file"].as_str().unwrap().ends_with(file) && f["action"] == "deny")
        .map(|f| {
            format!(
                "{} {}: {}",
                f["ruleId"].as_str().unwrap(),
                f["rule"].as_str().unwrap(),
                f["message"].as_str().unwrap()
            )
        })
        .collect()
}

/// The engine's denials, as headlines.
fn engine_denials(verdict: &dsguard::policy::Verdict) -> Vec<String> {
    verdict
        .with_severity(dsguard::policy::Severity::Deny)
        .map(|f| f.headline())
        .collect()
}

/// The deny message joins headlines with newlines; a headline may itself span lines, so
/// split only where a new rule ID starts a line.
fn split_denials(message: &str) -> Vec<String> {
    let mut denials: Vec<String> = Vec::new();
    for line in message.split('\n') {
        if line.starts_with("DSG") && line.as_bytes().get(6) == Some(&b' ') {
            denials.push(line.to_owned());
        } else if let Some(last) = denials.last_mut() {
            last.push('\n');
            last.push_str(line);
        }
    }
    denials
}

/// The README's worked example (examples/autoscaling): a GPU NodePool at zero nodes. The
/// engine, the webhook's adapter, `lint` and `review` give the same answer with templates.
#[test]
fn lint_review_and_the_webhook_agree_with_autoscaler_templates() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/autoscaling");
    let mut inventory = dsguard::inventory::Inventory::new();
    let max = dsguard::input::DEFAULT_MAX_FILE_BYTES;
    inventory.reset_nodes(
        dsguard::inventory::snapshot::load_nodes(&example.join("nodes.yaml"), max).unwrap(),
    );
    for template in
        dsguard::inventory::snapshot::load_templates(&example.join("nodepools.yaml"), max)
            .unwrap()
            .templates
    {
        inventory.apply_template(template);
    }
    let config = Config::default();
    let flags = |command: &mut Command| {
        command
            .arg("--nodes")
            .arg(example.join("nodes.yaml"))
            .arg("--node-templates")
            .arg(example.join("nodepools.yaml"));
    };
    let mut lint = Command::cargo_bin("dsguard").unwrap();
    lint.args(["lint", "-o", "json"]);
    flags(&mut lint);
    let output = lint.arg(example.join("daemonsets")).output().unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();

    let mut outcomes = Vec::new();
    for file in ["nvidia-device-plugin.yaml", "log-shipper.yaml"] {
        let manifests =
            dsguard::manifests::read_paths(&[example.join("daemonsets").join(file)], max);
        let manifest = &manifests.manifests[0];
        let object = DaemonSet::from_value(&manifest.value).unwrap();
        let namespace = namespace_of(&object);
        let engine = lint_verdict(&object, &inventory, &config);
        let body = serde_json::to_vec(&admission_review(&manifest.value, &namespace)).unwrap();
        let webhook = admission::review(&body, Endpoint::Both, &inventory, &config).unwrap();
        assert_eq!(
            webhook.verdict.as_ref().unwrap(),
            &engine,
            "{file}: webhook vs engine"
        );

        let engine_denials: Vec<String> = engine_denials(&engine);
        let lint_denials: Vec<String> = lint_denials(&report, file);
        assert_eq!(lint_denials, engine_denials, "{file}: lint vs engine");

        let mut review = Command::cargo_bin("dsguard").unwrap();
        review.arg("review");
        flags(&mut review);
        let output = review.write_stdin(body).output().unwrap();
        let response: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            response["response"]["allowed"],
            json!(webhook.allowed),
            "{file}: review vs webhook"
        );
        let message = response["response"]["status"]["message"]
            .as_str()
            .unwrap_or("");
        let review_denials = if message.is_empty() {
            Vec::new()
        } else {
            split_denials(message)
        };
        assert_eq!(review_denials, engine_denials, "{file}: review vs engine");
        outcomes.push((file, webhook.allowed));
    }
    // And the answer itself: the device plugin for the empty pool is allowed, the log
    // shipper that would skip the pool's nodes is not.
    assert_eq!(
        outcomes,
        [
            ("nvidia-device-plugin.yaml", true),
            ("log-shipper.yaml", false)
        ]
    );
}
