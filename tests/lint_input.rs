//! No silent green: input that holds nothing to judge, or that kubectl would read other
//! than it looks, is said; what the API server would refuse is a finding.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn dsguard() -> Command {
    Command::cargo_bin("dsguard").unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("lint-input-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const DAEMONSET: &str = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: NAME, namespace: logging}\nspec:\n  selector: {matchLabels: {app: NAME}}\n  template:\n    metadata: {labels: {app: NAME}}\n    spec:\n      containers:\n      - name: agent\n        image: agent:1\nLIMITS";

fn daemonset(name: &str, limited: bool) -> String {
    let limits = if limited {
        "        resources: {limits: {cpu: 100m, memory: 64Mi}}\n"
    } else {
        ""
    };
    DAEMONSET.replace("NAME", name).replace("LIMITS", limits)
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn lint(args: &[&str], paths: &[&Path], stdin: Option<&str>) -> Run {
    let mut command = dsguard();
    command.arg("lint").args(args).args(paths);
    if let Some(text) = stdin {
        command.write_stdin(text.to_owned());
    }
    let output = command.output().unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn input_without_a_daemonset_is_said_and_can_fail_ci() {
    let dir = scratch("empty");
    std::fs::write(dir.join("empty.yaml"), "# nothing yet\n").unwrap();
    std::fs::write(
        dir.join("deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
    )
    .unwrap();
    let run = lint(
        &[],
        &[&dir.join("empty.yaml"), &dir.join("deploy.yaml")],
        None,
    );
    assert_eq!(run.code, Some(0));
    assert!(
        run.stderr.contains("empty.yaml: empty: no YAML document"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("deploy.yaml: no DaemonSet in it (Deployment, 2 ConfigMap)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("no DaemonSet in the input"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("0 DaemonSets"), "{}", run.stdout);
    let strict = lint(&["--fail-on-empty"], &[&dir.join("deploy.yaml")], None);
    assert_eq!(strict.code, Some(2), "{}", strict.stderr);
    // stdin is named too.
    let piped = lint(&["--fail-on-empty"], &[Path::new("-")], Some(""));
    assert_eq!(piped.code, Some(2));
    assert!(piped.stderr.contains("<stdin>: empty"), "{}", piped.stderr);
    // A folder of mixed manifests does not say it file by file.
    std::fs::write(dir.join("ds.yaml"), daemonset("agent", true)).unwrap();
    let folder = lint(&["--fail-on-empty"], &[&dir], None);
    assert_eq!(folder.code, Some(0), "{}", folder.stderr);
    assert!(
        !folder.stderr.contains("no DaemonSet in it"),
        "{}",
        folder.stderr
    );
    // Text is written as files finish: the run-wide notice still counts what was written.
    assert!(
        !folder.stderr.contains("no DaemonSet in the input"),
        "{}",
        folder.stderr
    );
}

#[test]
fn a_daemonset_of_a_removed_api_version_is_denied_with_what_to_write() {
    let dir = scratch("removed");
    let old = daemonset("old", true).replace("apps/v1", "extensions/v1beta1");
    std::fs::write(dir.join("old.yaml"), &old).unwrap();
    let run = lint(&["-o", "json"], &[&dir.join("old.yaml")], None);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let finding = &report["findings"][0];
    assert_eq!(finding["ruleId"], "DSG901");
    assert_eq!(finding["line"], 1);
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains("apiVersion: apps/v1"), "{message}");
    assert!(message.contains("no matches for kind"), "{message}");
    for api in ["apps/v1beta2", "apps/v1beta1"] {
        std::fs::write(
            dir.join("old.yaml"),
            daemonset("old", true).replace("apps/v1", api),
        )
        .unwrap();
        let run = lint(&[], &[&dir.join("old.yaml")], None);
        assert_eq!(run.code, Some(1), "{api}: {}", run.stdout);
        assert!(
            run.stdout.contains("DSG901 removed-api-version"),
            "{}",
            run.stdout
        );
    }
    // Another API's own DaemonSet kind is not judged, and said.
    std::fs::write(
        dir.join("kruise.yaml"),
        daemonset("kruise", false).replace("apps/v1", "apps.kruise.io/v1alpha1"),
    )
    .unwrap();
    let kruise = lint(&[], &[&dir.join("kruise.yaml")], None);
    assert_eq!(kruise.code, Some(0));
    assert!(
        kruise
            .stderr
            .contains("a DaemonSet of `apps.kruise.io/v1alpha1`"),
        "{}",
        kruise.stderr
    );
}

#[test]
fn a_kind_in_the_wrong_case_is_said() {
    let dir = scratch("case");
    std::fs::write(
        dir.join("ds.yaml"),
        daemonset("agent", false).replace("kind: DaemonSet", "kind: daemonset"),
    )
    .unwrap();
    let run = lint(&[], &[&dir.join("ds.yaml")], None);
    assert_eq!(run.code, Some(0));
    assert!(
        run.stderr
            .contains("ds.yaml:2: `kind: daemonset` is not a kind the API server knows"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("write `kind: DaemonSet`"),
        "{}",
        run.stderr
    );
}

/// `cat *.yaml | dsguard lint -` without `---`: kubectl reads one object whose later keys
/// win, and dsguard says which lines it dropped.
#[test]
fn documents_run_together_and_keys_written_twice_are_said() {
    let stream = format!("{}{}", daemonset("first", false), daemonset("second", true));
    let run = lint(&[], &[Path::new("-")], Some(&stream));
    assert_eq!(
        run.code,
        Some(0),
        "kubectl keeps the second, which has limits: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains("1 DaemonSet: 0 denied"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("<stdin>:12: `apiVersion` is written twice in one mapping (lines 1 and 12); kubectl keeps the last one (line 12)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("separate documents with `---`"),
        "{}",
        run.stderr
    );
    let nested = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      nodeSelector: {pool: gpu}\n      containers: []\n      nodeSelector: {pool: general}\n";
    let run = lint(&[], &[Path::new("-")], Some(nested));
    assert!(
        run.stderr.contains(
            "`spec.template.spec.nodeSelector` is written twice in one mapping (lines 7 and 9)"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unrendered_helm_template_says_to_render_it_first() {
    let dir = scratch("helm");
    std::fs::write(
        dir.join("daemonset.yaml"),
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: {{ include \"agent.fullname\" . }}\nspec:\n  template:\n    spec:\n      containers:\n      - image: {{ .Values.image }}\n",
    )
    .unwrap();
    let run = lint(&[], &[&dir.join("daemonset.yaml")], None);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stdout
            .contains("unrendered Helm template (`{{ ... }}` at line 4)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("helm template RELEASE CHART | dsguard lint -"),
        "{}",
        run.stdout
    );
    // Quoted template expressions parse; the hint is a notice then.
    std::fs::write(
        dir.join("quoted.yaml"),
        daemonset("agent", true).replace("name: agent\n", "name: \"{{ .Chart.Name }}\"\n"),
    )
    .unwrap();
    let quoted = lint(&[], &[&dir.join("quoted.yaml")], None);
    assert_eq!(quoted.code, Some(0));
    assert!(
        quoted.stderr.contains("render it first"),
        "{}",
        quoted.stderr
    );
}

/// kubectl's YAML reader (sigs.k8s.io/yaml over go-yaml v2), not the YAML 1.2 reading: a
/// later merge key overrides an earlier explicit key, so a bad selector hidden behind a
/// merge is judged.
#[test]
fn merge_keys_are_judged_as_kubectl_sends_them() {
    let nodes = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nodes.yaml");
    let manifest = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: logging}\nspec:\n  template:\n    spec:\n      nodeSelector:\n        kubernetes.io/os: linux\n        <<: {kubernetes.io/os: plan9}\n      containers:\n      - name: a\n        resources: {limits: {cpu: 100m, memory: 64Mi}}\n";
    let run = lint(
        &["--nodes", nodes.to_str().unwrap()],
        &[Path::new("-")],
        Some(manifest),
    );
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(run.stdout.contains("DSG001"), "{}", run.stdout);
    assert!(
        run.stdout.contains("kubernetes.io/os=plan9"),
        "{}",
        run.stdout
    );
}

/// Quantities as the API server stores them (`Quantity.UnmarshalJSON`): surrounding
/// spaces trimmed, `~` (null) read as 0, YAML 1.1 integers as numbers.
#[test]
fn quantities_are_read_as_the_api_server_stores_them() {
    let nodes = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nodes.yaml");
    let with_resources = |resources: &str| {
        format!(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: agent, namespace: logging}}\nspec:\n  template:\n    spec:\n      tolerations: [{{operator: Exists}}]\n      containers:\n      - name: a\n        resources: {resources}\n"
        )
    };
    // " 1000 " is a thousand cores: no node has them.
    let run = lint(
        &["-o", "json", "--nodes", nodes.to_str().unwrap()],
        &[Path::new("-")],
        Some(&with_resources(
            "{requests: {cpu: \" 1000 \"}, limits: {cpu: \" 1000 \", memory: 64Mi}}",
        )),
    );
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["findings"][0]["ruleId"], "DSG005", "{}", run.stdout);
    // `cpu: ~` is stored as 0, which is no limit: denied, not a read error.
    let run = lint(
        &[],
        &[Path::new("-")],
        Some(&with_resources("{limits: {cpu: ~, memory: 64Mi}}")),
    );
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("cpu limit \"0\" is 0, which is no limit"),
        "{}",
        run.stdout
    );
    // YAML 1.1 integers: 0o20000 and 0x2000 bytes are 8 KiB, a real (tiny) limit.
    let run = lint(
        &[],
        &[Path::new("-")],
        Some(&with_resources("{limits: {cpu: 100m, memory: 0o20000}}")),
    );
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let run = lint(
        &[],
        &[Path::new("-")],
        Some(&with_resources("{limits: {cpu: 0x0, memory: 0x2000}}")),
    );
    assert_eq!(run.code, Some(1), "{}", run.stdout);
}
