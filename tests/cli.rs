//! The command line: `coverage` output shapes, flags from the environment, and bad input.

mod common;

use assert_cmd::Command;
use common::corpus;
use serde_json::Value;

fn dsguard() -> Command {
    Command::cargo_bin("dsguard").unwrap()
}

#[test]
fn coverage_json_has_the_documented_shape() {
    let output = dsguard()
        .args(["coverage", "-o", "json", "--nodes"])
        .arg(corpus("nodes"))
        .arg(corpus(
            "daemonsets/intel-device-plugins-intel-gpu-plugin.yaml",
        ))
        .arg(corpus("daemonsets/weave-weave-net.yaml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["schemaVersion"], 1);
    let daemonsets = report["daemonsets"].as_array().unwrap();
    assert_eq!(daemonsets.len(), 2);
    let intel = &daemonsets[0];
    let keys: Vec<&str> = intel
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "namespace",
            "name",
            "file",
            "line",
            "targeted",
            "runnable",
            "blocked",
            "templates",
            "unfit"
        ]
    );
    assert_eq!(
        intel["templates"],
        serde_json::json!([]),
        "no --node-templates"
    );
    assert_eq!(intel["name"], "intel-gpu-plugin");
    assert_eq!(intel["line"], 3);
    assert_eq!(intel["targeted"].as_array().unwrap().len(), 13);
    assert_eq!(intel["runnable"].as_array().unwrap().len(), 7);
    let blocked = intel["blocked"].as_array().unwrap();
    assert_eq!(blocked.len(), 6);
    let first = &blocked[0];
    assert!(first["node"].is_string());
    let taint = &first["taints"][0];
    assert!(taint["key"].is_string() && taint["value"].is_string() && taint["effect"].is_string());
    assert_eq!(
        daemonsets[1]["runnable"].as_array().unwrap().len(),
        20,
        "weave tolerates everything"
    );
}

#[test]
fn coverage_table_groups_by_pool_and_reason() {
    let output = dsguard()
        .env("DSGUARD_NODES", corpus("nodes"))
        .arg("coverage")
        .arg(corpus("daemonsets/metallb-speaker.yaml"))
        .output()
        .unwrap();
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(
        table.contains("targets 17 of 20 nodes; runs on 14; blocked on 3"),
        "{table}"
    );
    assert!(
        table.contains("POOL") && table.contains("STATUS"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains("m4.xlarge") && l.contains("runs")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains("blocked") && l.contains("kwok")),
        "{table}"
    );
    assert!(table.lines().any(|l| l.contains("not targeted")), "{table}");
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    let no_nodes = dsguard()
        .arg("coverage")
        .arg(corpus("daemonsets/kured-kured.yaml"))
        .output()
        .unwrap();
    assert_eq!(no_nodes.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_nodes.stderr).contains("--nodes FILE"));

    let missing = dsguard()
        .args(["coverage", "--nodes", "/nonexistent/nodes.yaml", "x.yaml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("/nonexistent/nodes.yaml: cannot read"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");

    // A pod health pass more often than every 10 s would load the API server for a metric.
    for (interval, says) in [
        ("1s", "--pod-health-interval must be at least 10s"),
        ("soon", "--pod-health-interval \"soon\" is not a duration"),
    ] {
        let refused = dsguard()
            .args([
                "serve",
                "--nodes",
                "examples/nodes.yaml",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(["--pod-health-interval", interval])
            .output()
            .unwrap();
        assert_eq!(refused.status.code(), Some(2), "{interval}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(says), "{stderr}");
    }

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-bad-config");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("dsguard.yaml");
    std::fs::write(
        &config,
        "rules:\n  untolerated-taints:\n    partialAction: dney\n",
    )
    .unwrap();
    let bad = dsguard()
        .args(["review"])
        .arg("--config")
        .arg(&config)
        .write_stdin("{}")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains(
            "dsguard.yaml:3:5: rules.untolerated-taints.partialAction: unknown action `dney`"
        ),
        "{stderr}"
    );
}

#[test]
fn a_broken_manifest_among_good_ones_is_reported_and_the_rest_covered() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-broken");
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read_to_string(corpus("daemonsets/kured-kured.yaml")).unwrap();
    std::fs::write(
        dir.join("mixed.yaml"),
        format!("kind: DaemonSet\nspec: [broken\n---\n{good}"),
    )
    .unwrap();
    let output = dsguard()
        .args(["coverage", "-o", "json", "--nodes"])
        .arg(corpus("nodes"))
        .arg(dir.join("mixed.yaml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["daemonsets"][0]["name"], "kured");
    assert!(String::from_utf8_lossy(&output.stderr).contains("mixed.yaml:"));
}

#[test]
fn serve_refuses_a_broken_certificate_at_start_naming_the_files() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-bad-cert");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tls.crt"), "not a certificate\n").unwrap();
    std::fs::write(dir.join("tls.key"), "not a key\n").unwrap();
    let output = dsguard()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--nodes",
        ])
        .arg(corpus("nodes"))
        .arg("--tls-cert")
        .arg(dir.join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.join("tls.key"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tls.crt with") && stderr.contains("holds no certificate"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("holds no certificate").count(),
        1,
        "said once: {stderr}"
    );
}

#[test]
fn node_templates_that_hold_no_template_are_a_usage_error() {
    let dir = common::scratch_dir("cli", "no-templates");
    let file = dir.join("classes.yaml");
    std::fs::write(
        &file,
        "apiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata: {name: default}\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_dsguard"))
        .args(["lint", "--nodes"])
        .arg(corpus("nodes"))
        .arg("--node-templates")
        .arg(&file)
        .arg(corpus("daemonsets/weave-weave-net.yaml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("holds no NodePool (karpenter.sh), MachineDeployment or MachineSet"),
        "{stderr}"
    );
}

#[test]
fn coverage_with_the_clusters_daemonsets_shows_each_pools_overhead_and_unfit_nodes() {
    let coverage = |format: &str| {
        dsguard()
            .args(["coverage", "-o", format, "--nodes"])
            .arg(corpus("nodes"))
            .arg("--daemonsets")
            .arg(corpus("daemonsets"))
            .arg(corpus("daemonsets/kube-prometheus-node-exporter.yaml"))
            .output()
            .unwrap()
    };
    let output = coverage("json");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    // The kind fixture's n5 states 100m cpu and 10Mi memory; node-exporter asks 112m, 200Mi.
    assert_eq!(
        report["daemonsets"][0]["unfit"],
        serde_json::json!([{"node": "n5", "resources": ["cpu", "memory"]}])
    );
    let pools = report["pools"].as_array().unwrap();
    let n5 = pools
        .iter()
        .find(|p| p["allocatable"]["memory"] == "10Mi")
        .expect("n5's shape is listed");
    assert_eq!(n5["nodes"], 1);
    assert_eq!(n5["allocatable"]["cpu"], "100m");
    assert!(n5["daemonPods"].as_u64().unwrap() > 10, "{n5}");
    let table = coverage("table");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("does not fit on 1 of the nodes it runs on (e.g. n5: cpu, memory)"),
        "{text}"
    );
    assert!(
        text.contains("Daemon overhead (requests of every DaemonSet on the pool's nodes):"),
        "{text}"
    );
}

/// `audit --daemonsets` is `lint` over the cluster's DaemonSets: the same report, findings
/// carrying namespace and name, the same exit code.
#[test]
fn audit_over_files_gives_lints_answer() {
    let run = |args: &[&str]| {
        let mut command = dsguard();
        command
            .args(args)
            .args(["-o", "json", "--nodes"])
            .arg(corpus("nodes"))
            .arg("--daemonsets")
            .arg(corpus("daemonsets"));
        command.output().unwrap()
    };
    let audit = run(&["audit"]);
    let mut lint_args = vec!["lint".to_owned()];
    lint_args.push(corpus("daemonsets").display().to_string());
    let lint = run(&lint_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        audit.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    assert_eq!(audit.status.code(), lint.status.code());
    let audit: Value = serde_json::from_slice(&audit.stdout).unwrap();
    let lint: Value = serde_json::from_slice(&lint.stdout).unwrap();
    assert_eq!(audit, lint);
    assert_eq!(audit["summary"]["daemonsets"], 56);
    assert!(
        audit["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["namespace"].is_string() && f["name"].is_string())
    );

    let nothing = dsguard().arg("audit").output().unwrap();
    assert_eq!(nothing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("--daemonsets FILE|DIR"));
}

/// `coverage --what-if-taint`: where the pods would stop running, and which running pods a
/// NoExecute taint evicts (after tolerationSeconds where set). Expected node sets from the
/// example cluster: the 6 general workers carry `karpenter.sh/nodepool=general`; the log
/// shipper runs there and tolerates nothing of the kind; node-exporter tolerates everything.
#[test]
fn what_if_taint_shows_where_pods_stop_and_are_evicted() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let dir = common::scratch_dir("cli", "what-if");
    let delayed = dir.join("delayed.yaml");
    std::fs::write(&delayed, "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: delayed, namespace: ops}\nspec:\n  template:\n    spec:\n      tolerations:\n      - {key: dedicated, operator: Exists, effect: NoExecute, tolerationSeconds: 300}\n      containers: [{name: c, image: i}]\n").unwrap();
    let run = |taint: &str| {
        let output = dsguard()
            .args(["coverage", "-o", "json", "--nodes"])
            .arg(examples.join("nodes.yaml"))
            .args(["--what-if-taint", taint])
            .arg(examples.join("daemonsets/log-shipper.yaml"))
            .arg(examples.join("daemonsets/node-exporter.yaml"))
            .arg(&delayed)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        report["daemonsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["name"].as_str().unwrap().to_owned(), d["whatIf"].clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let general: Vec<String> = (0..6).map(|i| format!("general-{i}")).collect();
    let no_execute = run("dedicated=infra:NoExecute@karpenter.sh/nodepool=general");
    assert_eq!(
        no_execute["log-shipper"]["stopsOn"],
        serde_json::json!(general)
    );
    assert_eq!(
        no_execute["log-shipper"]["evictedFrom"],
        serde_json::json!(general)
    );
    assert_eq!(
        no_execute["node-exporter"],
        serde_json::json!({"stopsOn": [], "evictedFrom": []})
    );
    // Tolerated for 300 s: still scheduled there, but evicted once the time is up.
    assert_eq!(no_execute["delayed"]["stopsOn"], serde_json::json!([]));
    assert_eq!(
        no_execute["delayed"]["evictedFrom"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    // NoSchedule evicts nothing.
    let no_schedule = run("dedicated=infra:NoSchedule@karpenter.sh/nodepool=general");
    assert_eq!(
        no_schedule["log-shipper"]["stopsOn"],
        serde_json::json!(general)
    );
    assert_eq!(
        no_schedule["log-shipper"]["evictedFrom"],
        serde_json::json!([])
    );

    let bad = dsguard()
        .args(["coverage", "--nodes"])
        .arg(examples.join("nodes.yaml"))
        .args(["--what-if-taint", "dedicated:Sometimes@pool=x"])
        .arg(examples.join("daemonsets"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("the effect must be NoSchedule, NoExecute or PreferNoSchedule")
    );
}

/// A second `serve` that cannot bind (the port is taken) fails before it writes anything:
/// the development CA of the one running stays as it is.
#[test]
fn a_serve_that_cannot_bind_leaves_the_dev_ca_alone() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-bind-twice");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let ca = dir.join("ca.crt");
    std::fs::write(&ca, "the CA the running server uses\n").unwrap();
    let output = dsguard()
        .args(["serve", "--nodes"])
        .arg(corpus("nodes"))
        .args(["--listen", &address, "--metrics-listen", "off", "--dev-ca"])
        .arg(&ca)
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&format!("cannot listen on {address}")),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&ca).unwrap(),
        "the CA the running server uses\n"
    );
}
