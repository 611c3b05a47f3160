//! `dsguard lint` end to end: inputs (files, folders, stdin, Lists, broken documents),
//! exact positions, every output format parsed back, exit codes, and --fix.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::corpus;
use serde_json::Value;

fn examples(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(path)
}

fn dsguard() -> Command {
    Command::cargo_bin("dsguard").unwrap()
}

fn with_example_inventory(command: &mut Command) -> &mut Command {
    command
        .arg("--config")
        .arg(examples("dsguard.yaml"))
        .arg("--nodes")
        .arg(examples("nodes.yaml"))
        .arg("--priorityclasses")
        .arg(examples("priorityclasses.yaml"))
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lint-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The 1-based line of the first line containing `needle` after the line containing `after`.
fn line_of(text: &str, after: &str, needle: &str) -> usize {
    let start = text
        .lines()
        .position(|l| l.contains(after))
        .expect("anchor present");
    start
        + 1
        + text
            .lines()
            .skip(start)
            .position(|l| l.contains(needle))
            .expect("needle present")
}

fn json_lint(args: &[&str], paths: &[PathBuf]) -> (Option<i32>, Value) {
    let output = dsguard()
        .args(["lint", "-o", "json"])
        .args(args)
        .args(paths)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code(), report)
}

#[test]
fn the_bundled_examples_show_a_deny_a_warning_and_a_patch() {
    let output = with_example_inventory(dsguard().arg("lint").arg("--show-patch"))
        .arg(examples("daemonsets"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("deny   DSG001 selector-matches-no-node  gpu-operator/nvidia-device-plugin"),
        "{text}"
    );
    assert!(
        text.contains("did you mean nvidia.com/gpu.present?"),
        "{text}"
    );
    assert!(text.contains("warn   DSG001"), "{text}");
    assert!(
        text.contains("deny   DSG003 missing-resource-limits  logging/log-shipper"),
        "{text}"
    );
    assert!(text.contains("patch monitoring/node-exporter"), "{text}");
    assert!(
        text.contains("\"path\": \"/spec/template/spec/priorityClassName\""),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with(
            "5 DaemonSets: 2 denied, 2 warned; findings: 3 deny, 4 warn, 1 info; 2 to patch"
        ),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn findings_point_at_the_exact_field() {
    let file = corpus("daemonsets/aws-ebs-csi-driver-ebs-csi-node.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let (code, report) = json_lint(
        &["--nodes", corpus("nodes").to_str().unwrap()],
        std::slice::from_ref(&file),
    );
    assert_eq!(code, Some(1));
    let findings = report["findings"].as_array().unwrap();
    let dsg003: Vec<&Value> = findings
        .iter()
        .filter(|f| f["ruleId"] == "DSG003")
        .collect();
    assert_eq!(dsg003.len(), 3);
    for (finding, container) in
        dsg003
            .iter()
            .zip(["ebs-plugin", "node-driver-registrar", "liveness-probe"])
    {
        // The container's `limits:` key, found independently in the text.
        let line = line_of(&text, &format!("- name: {container}"), "limits:");
        assert_eq!(finding["line"], line, "{container}: {finding}");
        let column = text.lines().nth(line - 1).unwrap().find("limits:").unwrap() + 1;
        assert_eq!(finding["column"], column, "{container}");
        assert_eq!(finding["file"], file.to_str().unwrap());
        assert_eq!(finding["kind"], "DaemonSet");
        assert_eq!(
            finding["namespace"], "default",
            "a kustomize base has no namespace"
        );
        assert_eq!(finding["name"], "ebs-csi-node");
    }

    // A nodeSelector key: the finding is on that key's line.
    let file = corpus("daemonsets/kubernetes-addons-ip-masq-agent.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let (_, report) = json_lint(
        &["--nodes", corpus("nodes").to_str().unwrap()],
        std::slice::from_ref(&file),
    );
    let dsg001 = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["ruleId"] == "DSG001")
        .unwrap()
        .clone();
    assert_eq!(
        dsg001["line"],
        line_of(
            &text,
            "nodeSelector:",
            "node.kubernetes.io/masq-agent-ds-ready"
        )
    );
    assert_eq!(
        dsg001["pointer"],
        "/spec/template/spec/nodeSelector/node.kubernetes.io~1masq-agent-ds-ready"
    );
}

#[test]
fn json_has_exactly_the_documented_shape() {
    let (_, report) = json_lint(
        &[
            "--config",
            examples("dsguard.yaml").to_str().unwrap(),
            "--nodes",
            examples("nodes.yaml").to_str().unwrap(),
            "--priorityclasses",
            examples("priorityclasses.yaml").to_str().unwrap(),
        ],
        &[examples("daemonsets")],
    );
    assert_eq!(report["schemaVersion"], 1);
    let finding = &report["findings"][0];
    let keys: Vec<&str> = finding
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "ruleId",
            "rule",
            "action",
            "kind",
            "namespace",
            "name",
            "file",
            "line",
            "column",
            "pointer",
            "message"
        ]
    );
    for finding in report["findings"].as_array().unwrap() {
        assert!(["deny", "warn", "info"].contains(&finding["action"].as_str().unwrap()));
    }
    let patch = &report["patches"][0];
    let keys: Vec<&str> = patch
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["file", "namespace", "name", "patch"]);
    assert_eq!(patch["patch"][0]["op"], "add");
    assert_eq!(
        report["summary"],
        serde_json::json!({"daemonsets": 5, "denied": 2, "warned": 2})
    );
}

#[test]
fn sarif_is_valid_2_1_0_with_rules_and_locations() {
    let output = with_example_inventory(dsguard().args(["lint", "-o", "sarif"]))
        .arg(examples("daemonsets"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "dsguard");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for id in [
        "DSG001", "DSG002", "DSG003", "DSG004", "DSG005", "DSG006", "DSG101", "DSG102",
    ] {
        assert!(ids.contains(&id), "{ids:?}");
    }
    for rule in rules {
        assert!(rule["name"].is_string() && rule["shortDescription"]["text"].is_string());
        assert!(rule["fullDescription"]["text"].is_string() && rule["help"]["text"].is_string());
        let id = rule["id"].as_str().unwrap();
        if id != "DSG900" {
            let page = rule["help"]["markdown"].as_str().unwrap_or_default();
            assert!(
                page.starts_with(&format!("# {id}")),
                "{id}: the rule page is the help"
            );
        }
        assert!(
            ["error", "warning", "note", "none"]
                .contains(&rule["defaultConfiguration"]["level"].as_str().unwrap())
        );
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 8);
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            rules[index]["id"], result["ruleId"],
            "ruleIndex points at its rule"
        );
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
        let location = &result["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"].as_str().unwrap();
        assert!(uri.ends_with(".yaml") && !uri.contains('\\'), "{uri}");
        assert!(location["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(location["region"]["startColumn"].as_u64().unwrap() >= 1);
        assert!(result["message"]["text"].as_str().unwrap().contains('/'));
        assert_eq!(
            result["partialFingerprints"]["dsguardFinding/v1"]
                .as_str()
                .unwrap()
                .len(),
            16
        );
    }
    // Fingerprints are stable across runs and differ between findings.
    let fingerprints: std::collections::BTreeSet<&str> = results
        .iter()
        .map(|r| {
            r["partialFingerprints"]["dsguardFinding/v1"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(fingerprints.len(), results.len());
}

#[test]
fn sarif_rules_link_their_page_when_told_where_the_docs_are() {
    let output = with_example_inventory(dsguard().args([
        "lint",
        "-o",
        "sarif",
        "--help-uri-base",
        "https://example.org/dsguard/blob/v1/",
    ]))
    .arg(examples("daemonsets"))
    .output()
    .unwrap();
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let dsg001 = rules.iter().find(|r| r["id"] == "DSG001").unwrap();
    assert_eq!(
        dsg001["helpUri"],
        "https://example.org/dsguard/blob/v1/docs/rules/DSG001.md"
    );
    // Every linked page exists in the repository.
    for rule in rules.iter().filter(|r| r["helpUri"].is_string()) {
        let page = rule["helpUri"]
            .as_str()
            .unwrap()
            .rsplit("/blob/v1/")
            .next()
            .unwrap();
        assert!(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(page)
                .is_file(),
            "{page}"
        );
    }
    // Without the base, no link (there is no address to invent).
    let plain = with_example_inventory(dsguard().args(["lint", "-o", "sarif"]))
        .arg(examples("daemonsets"))
        .output()
        .unwrap();
    let plain: Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(
        plain["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["helpUri"].is_null())
    );
    let refused = dsguard()
        .args(["lint", "--help-uri-base", "docs/", "-o", "sarif"])
        .arg(examples("daemonsets"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
}

/// Every rule has its page in docs/rules, and every page is a rule's.
#[test]
fn every_rule_has_a_documentation_page() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules");
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    let mut expected: Vec<String> = dsguard::lint::rule_catalogue()
        .iter()
        .map(|entry| format!("{}.md", entry.id))
        .collect();
    expected.sort();
    assert_eq!(pages, expected);
    for dsguard::lint::RuleEntry { id, name, .. } in dsguard::lint::rule_catalogue() {
        let page = dsguard::lint::rule_page(id).unwrap();
        assert!(page.starts_with(&format!("# {id}")), "{id}");
        assert!(
            id == "DSG000" || page.lines().next().unwrap().contains(name),
            "{id}: {name}"
        );
        assert!(!page.contains("TODO"), "{id}: {name}");
    }
}

#[test]
fn junit_has_one_case_per_daemonset_and_failures_for_denials() {
    let output = with_example_inventory(dsguard().args(["lint", "-o", "junit"]))
        .arg(examples("daemonsets"))
        .output()
        .unwrap();
    let xml = String::from_utf8(output.stdout).unwrap();
    let document = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<roxmltree::Node> = document
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 5);
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .map(|c| c.attribute("name").unwrap())
        .collect();
    assert_eq!(
        failed,
        ["gpu-operator/nvidia-device-plugin", "logging/log-shipper"]
    );
    let failure = cases[0]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(
        failure.attribute("message"),
        Some("DSG001 selector-matches-no-node")
    );
    assert!(
        failure
            .text()
            .unwrap()
            .contains("gpu-device-plugin.yaml:19:9: DSG001")
    );
    let suite = document
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("tests"), Some("5"));
    assert_eq!(suite.attribute("failures"), Some("2"));
}

#[test]
fn stdin_lists_and_non_daemonsets() {
    let weave = std::fs::read_to_string(corpus("daemonsets/weave-weave-net.yaml")).unwrap();
    let stream = format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x}}\n---\n{weave}");
    let output = dsguard()
        .args(["lint", "-o", "json", "-"])
        .write_stdin(stream)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["summary"]["daemonsets"], 1,
        "the ConfigMap is skipped silently"
    );
    assert_eq!(report["findings"][0]["file"], "<stdin>");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.matches("no node inventory").count(),
        1,
        "one notice, not one per DaemonSet: {stderr}"
    );
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["ruleId"] != "DSG001" && f["ruleId"] != "DSG002")
    );

    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: DaemonSet\n  metadata: {name: in-list, namespace: x}\n  spec:\n    template:\n      spec:\n        containers:\n        - name: c\n          image: i\n";
    let output = dsguard()
        .args(["lint", "-o", "json", "-"])
        .write_stdin(list)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["ruleId"] == "DSG003")
        .unwrap()
        .clone();
    assert_eq!(finding["name"], "in-list");
    assert_eq!(finding["line"], 11, "the container of the List item");
}

#[test]
fn a_broken_document_among_good_ones_is_reported_and_the_run_continues() {
    let dir = scratch("broken");
    let good = std::fs::read_to_string(corpus("daemonsets/kured-kured.yaml")).unwrap();
    std::fs::write(
        dir.join("a.yaml"),
        format!("{good}\n---\nkind: DaemonSet\nmetadata: [oops\n---\n{good}"),
    )
    .unwrap();
    std::fs::write(dir.join("b.yml"), "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: typed}\nspec:\n  template:\n    spec:\n      containers: 5\n").unwrap();
    std::fs::write(dir.join("ignored.txt"), "not: [yaml").unwrap();
    let (code, report) = json_lint(&[], std::slice::from_ref(&dir));
    assert_eq!(code, Some(2));
    assert_eq!(
        report["summary"]["daemonsets"], 2,
        "both kured documents were still linted"
    );
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0]["file"].as_str().unwrap().ends_with("a.yaml"));
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("invalid YAML")
    );
    assert!(
        errors[1]["message"]
            .as_str()
            .unwrap()
            .contains("spec.template.spec.containers"),
        "{}",
        errors[1]
    );
    assert_eq!(errors[1]["line"], 7);

    let text = dsguard().arg("lint").arg(&dir).output().unwrap();
    let out = String::from_utf8(text.stdout).unwrap();
    assert!(
        out.contains("error") && out.contains("2 unreadable documents"),
        "{out}"
    );
}

#[test]
fn clean_and_warning_only_runs_exit_0() {
    let (code, report) = json_lint(
        &["--nodes", corpus("nodes").to_str().unwrap()],
        &[corpus("daemonsets/kube-prometheus-node-exporter.yaml")],
    );
    assert_eq!(code, Some(0), "{report}");
    let dir = scratch("warn-only");
    std::fs::write(
        dir.join("config.yaml"),
        "rules:\n  missing-resource-limits: {action: warn}\n",
    )
    .unwrap();
    let (code, report) = json_lint(
        &["--config", dir.join("config.yaml").to_str().unwrap()],
        &[corpus("daemonsets/fluent-bit-fluent-bit.yaml")],
    );
    assert_eq!(code, Some(0));
    assert_eq!(report["summary"]["warned"], 1);
}

#[test]
fn fix_keeps_comments_and_a_second_fix_changes_nothing() {
    let dir = scratch("fix");
    for name in [
        "log-shipper.yaml",
        "node-exporter.yaml",
        "gpu-device-plugin.yaml",
    ] {
        std::fs::copy(examples(&format!("daemonsets/{name}")), dir.join(name)).unwrap();
    }
    let config = dir.join("config.yaml");
    std::fs::write(&config, "mutations:\n  default-tolerations:\n    enabled: true\n    tolerations:\n    - {key: dedicated, operator: Equal, value: ingress, effect: NoSchedule}\n").unwrap();
    let before = std::fs::read_to_string(dir.join("node-exporter.yaml")).unwrap();
    let run = |dir: &Path| {
        dsguard()
            .arg("lint")
            .arg("--fix")
            .arg("--config")
            .arg(&config)
            .arg("--nodes")
            .arg(examples("nodes.yaml"))
            .arg("--priorityclasses")
            .arg(examples("priorityclasses.yaml"))
            .arg(dir)
            .output()
            .unwrap()
    };
    let first = run(&dir);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("fixed"), "{stderr}");
    let after = std::fs::read_to_string(dir.join("node-exporter.yaml")).unwrap();
    // Every original line is still there, in order, byte for byte (comments included).
    let mut added = Vec::new();
    let mut original = before.lines().peekable();
    for line in after.lines() {
        if original.peek() == Some(&line) {
            original.next();
        } else {
            added.push(line);
        }
    }
    assert!(
        original.peek().is_none(),
        "an original line was lost:\n{after}"
    );
    assert_eq!(
        added,
        [
            "  annotations:",
            "    dsguard.io/mutated: \"priorityClassName=dsguard-default\"",
            "      priorityClassName: dsguard-default",
        ],
        "{after}"
    );
    // node-exporter tolerates everything already: no toleration was added there.
    let shipper = std::fs::read_to_string(dir.join("log-shipper.yaml")).unwrap();
    assert!(shipper.contains("      tolerations:\n      - key: dedicated\n        operator: Equal\n        value: ingress\n        effect: NoSchedule\n"), "{shipper}");
    assert!(shipper.starts_with("# Two problems"), "comments kept");

    let snapshot: Vec<String> = [
        "log-shipper.yaml",
        "node-exporter.yaml",
        "gpu-device-plugin.yaml",
    ]
    .iter()
    .map(|n| std::fs::read_to_string(dir.join(n)).unwrap())
    .collect();
    let second = run(&dir);
    assert!(
        !String::from_utf8_lossy(&second.stderr).contains("fixed"),
        "nothing left to fix"
    );
    for (name, before) in [
        "log-shipper.yaml",
        "node-exporter.yaml",
        "gpu-device-plugin.yaml",
    ]
    .iter()
    .zip(snapshot)
    {
        assert_eq!(
            std::fs::read_to_string(dir.join(name)).unwrap(),
            before,
            "{name}"
        );
    }
    let (_, report) = json_lint(
        &[
            "--config",
            config.to_str().unwrap(),
            "--nodes",
            examples("nodes.yaml").to_str().unwrap(),
            "--priorityclasses",
            examples("priorityclasses.yaml").to_str().unwrap(),
        ],
        std::slice::from_ref(&dir),
    );
    assert!(report["patches"].as_array().unwrap().is_empty());
}

#[test]
fn fix_appends_to_existing_lists_writes_to_out_and_leaves_flow_style_alone() {
    let dir = scratch("fix-out");
    let source = dir.join("src");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::copy(
        corpus("daemonsets/kured-kured.yaml"),
        source.join("kured.yaml"),
    )
    .unwrap();
    let json = serde_json::json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "as-json"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    std::fs::write(
        source.join("json.json"),
        serde_json::to_string(&json).unwrap(),
    )
    .unwrap();
    std::fs::write(source.join("flow.yaml"), "{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: flow}, spec: {template: {spec: {containers: [{name: c, image: i}]}}}}\n").unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, "mutations:\n  default-priority-class: {enabled: false}\n  default-tolerations:\n    enabled: true\n    autoTolerateTaintKeys: [t2]\n").unwrap();
    let out = dir.join("out");
    let output = dsguard()
        .args(["lint", "--fix", "--out"])
        .arg(&out)
        .arg("--config")
        .arg(&config)
        .arg("--nodes")
        .arg(corpus("nodes"))
        .arg(&source)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let original = std::fs::read_to_string(source.join("kured.yaml")).unwrap();
    assert_eq!(
        std::fs::read_to_string(source.join("kured.yaml")).unwrap(),
        original,
        "--out leaves the source alone"
    );
    let written: Vec<PathBuf> = walk(&out);
    assert_eq!(written.len(), 2, "{written:?} {stderr}");
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(written.iter().find(|f| f.ends_with("json.json")).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        json["spec"]["template"]["spec"]["tolerations"][0]["key"], "t2",
        "JSON files are rewritten whole"
    );
    let fixed =
        std::fs::read_to_string(written.iter().find(|f| f.ends_with("kured.yaml")).unwrap())
            .unwrap();
    // kured already has two tolerations; t2 is appended after them.
    let tolerations = fixed.find("tolerations:").unwrap();
    let t2 = fixed.find("key: t2").unwrap();
    assert!(
        t2 > fixed[tolerations..].find("control-plane").unwrap() + tolerations,
        "{fixed}"
    );
    assert!(
        stderr.contains("flow.yaml: not fixed, its layout could not be edited safely"),
        "{stderr}"
    );
    assert!(walk(&out).iter().all(|f| !f.ends_with("flow.yaml")));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn fix_refuses_stdin() {
    let output = dsguard()
        .args(["lint", "--fix", "-"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot rewrite stdin"));
}

/// Runs `dsguard lint` on a real pseudo-terminal (util-linux `script`, from Debian's
/// essential bsdutils) and returns what the terminal showed.
fn on_a_terminal(env: &[(&str, &str)]) -> String {
    let command = format!(
        "{} lint --nodes {} {}",
        env!("CARGO_BIN_EXE_dsguard"),
        examples("nodes.yaml").display(),
        examples("daemonsets/log-shipper.yaml").display()
    );
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &command, "/dev/null"])
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color");
    for (key, value) in env {
        script.env(key, value);
    }
    let output = script.output().expect("util-linux script is installed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let coloured = on_a_terminal(&[]);
    assert!(coloured.contains("DSG003"), "{coloured}");
    assert!(
        coloured.contains("\u{1b}["),
        "a terminal gets colour: {coloured:?}"
    );
    let plain = on_a_terminal(&[("NO_COLOR", "1")]);
    assert!(
        plain.contains("DSG003") && !plain.contains("\u{1b}["),
        "NO_COLOR is honoured: {plain:?}"
    );
    let dumb = on_a_terminal(&[("TERM", "dumb")]);
    assert!(
        dumb.contains("DSG003") && !dumb.contains("\u{1b}["),
        "TERM=dumb gets none: {dumb:?}"
    );
}

#[test]
fn github_output_annotates_each_finding_on_its_line() {
    let output = with_example_inventory(dsguard().args(["lint", "-o", "github"]))
        .arg(examples("daemonsets"))
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "a denial still fails the job"
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let typo = stdout
        .lines()
        .find(|l| l.contains("gpu-device-plugin.yaml") && l.contains("DSG001"))
        .expect("the typo is annotated");
    assert!(typo.starts_with("::error file="), "{typo}");
    assert!(
        typo.contains(",line=19,col=9,title=DSG001 selector-matches-no-node::"),
        "{typo}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("::warning file=")),
        "warn findings become warnings: {stdout}"
    );
    assert!(
        stdout
            .lines()
            .all(|l| l.starts_with("::") || l.starts_with("dsguard: ")),
        "{stdout}"
    );
    assert!(stdout.ends_with(" unreadable\n"), "{stdout}");
}

#[test]
fn the_pre_commit_hook_runs_the_lint_command() {
    let hooks: Value = serde_json::to_value(
        dsguard::yaml::parse_stream(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml"),
            )
            .unwrap(),
        )
        .remove(0)
        .unwrap()
        .value,
    )
    .unwrap();
    let hook = &hooks[0];
    assert_eq!(hook["entry"], "dsguard lint");
    assert_eq!(hook["pass_filenames"], true);
    // What the hook runs works on the files pre-commit would pass.
    let output = with_example_inventory(dsguard().arg("lint"))
        .arg(examples("daemonsets/node-exporter.yaml"))
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
