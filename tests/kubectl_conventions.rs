//! dsguard where kubectl users expect it: the kubectl plugin, cluster flags read as
//! kubectl reads them (a bad kubeconfig or context is an error before any request),
//! shell completion and man pages, colour only where it belongs, per-command help and
//! formats, and the rule catalogue in the terminal.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn dsguard() -> Command {
    Command::cargo_bin("dsguard").unwrap()
}

fn examples(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(path)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("conventions-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `kubectl dsguard ...` runs the binary installed as `kubectl-dsguard` on the PATH, and
/// its help says how the user ran it.
#[test]
fn kubectl_runs_dsguard_as_a_plugin() {
    let bin = scratch("plugin");
    std::os::unix::fs::symlink(
        assert_cmd::cargo::cargo_bin("dsguard"),
        bin.join("kubectl-dsguard"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let listed = std::process::Command::new("kubectl")
        .args(["plugin", "list"])
        .env("PATH", &path)
        .output()
        .expect("kubectl is installed (scripts/test installs it)");
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("kubectl-dsguard"),
        "{}",
        String::from_utf8_lossy(&listed.stdout)
    );
    let rules = std::process::Command::new("kubectl")
        .args(["dsguard", "rules"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(rules.status.success(), "{}", stderr(&rules));
    assert!(String::from_utf8_lossy(&rules.stdout).contains("DSG002  untolerated-taints"));
    let help = std::process::Command::new("kubectl")
        .args(["dsguard", "lint", "--help"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Usage: kubectl dsguard lint"), "{help}");
    // Exit codes pass through kubectl.
    let denied = std::process::Command::new("kubectl")
        .args(["dsguard", "lint", "--nodes"])
        .arg(examples("nodes.yaml"))
        .arg(examples("daemonsets"))
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(denied.status.code(), Some(1), "{}", stderr(&denied));
}

/// Each command's help lists the flags it takes and nothing else.
#[test]
fn each_command_shows_only_its_own_flags() {
    let help = |command: &str| {
        let output = dsguard().args([command, "--help"]).output().unwrap();
        assert!(output.status.success(), "{command}");
        String::from_utf8(output.stdout).unwrap()
    };
    let certs = help("certs");
    for absent in ["--nodes", "--config", "--cluster", "--output", "--color"] {
        assert!(!certs.contains(absent), "certs --help shows {absent}");
    }
    let review = help("review");
    assert!(review.contains("--nodes") && review.contains("--kubeconfig"));
    assert!(!review.contains("--output") && !review.contains("--help-uri-base"));
    let lint = help("lint");
    for present in [
        "--nodes",
        "--config",
        "--kubeconfig",
        "--context",
        "--request-timeout",
        "--color",
        "--fail-on-empty",
        "--help-uri-base",
    ] {
        assert!(lint.contains(present), "lint --help lacks {present}");
    }
    assert!(!lint.contains("--all-namespaces") && !lint.contains("--listen"));
    let audit = help("audit");
    assert!(audit.contains("--all-namespaces") && audit.contains("-n, --namespace"));
    assert!(!audit.contains("--show-patch"));
    let serve = help("serve");
    assert!(serve.contains("--listen") && !serve.contains("--show-patch"));
}

/// A format a command does not write is a usage error, never ignored.
#[test]
fn an_output_format_a_command_does_not_write_is_refused() {
    for args in [
        vec!["review", "-o", "json"],
        vec!["coverage", "-o", "sarif", "--nodes", "x.yaml", "y.yaml"],
        vec!["lint", "-o", "html", "x.yaml"],
    ] {
        let output = dsguard().args(&args).write_stdin("{}").output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let text = stderr(&output);
        assert!(
            text.contains("unexpected argument") || text.contains("invalid value"),
            "{args:?}: {text}"
        );
    }
    // `table` is another name for coverage's `text`.
    let table = dsguard()
        .args(["coverage", "-o", "table", "--nodes"])
        .arg(examples("nodes.yaml"))
        .arg(examples("daemonsets/log-shipper.yaml"))
        .output()
        .unwrap();
    assert!(table.status.success(), "{}", stderr(&table));
}

fn kubeconfig(dir: &Path) -> PathBuf {
    let path = dir.join("kubeconfig");
    // A server nothing listens on: any request would fail with "connection refused".
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster: {server: \"http://127.0.0.1:9\"}\nusers:\n- name: lab\n  user: {}\ncontexts:\n- name: lab\n  context: {cluster: lab, user: lab, namespace: monitoring}\n- name: staging\n  context: {cluster: lab, user: lab}\ncurrent-context: lab\n",
    )
    .unwrap();
    path
}

/// A kubeconfig that cannot be read or a context it does not have is a clear error, exit
/// 2, before any request is sent (the server named in it would refuse the connection).
#[test]
fn a_bad_kubeconfig_or_context_stops_before_any_request() {
    let dir = scratch("kubeconfig");
    let config = kubeconfig(&dir);
    let unknown = dsguard()
        .args(["lint", "--cluster", "--context", "prod", "--kubeconfig"])
        .arg(&config)
        .arg(examples("daemonsets"))
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    let text = stderr(&unknown);
    assert!(
        text.contains(
            "--context \"prod\": the kubeconfig has no such context (it has: lab, staging)"
        ),
        "{text}"
    );
    assert!(!text.contains("onnection refused"), "{text}");
    let missing = dsguard()
        .args(["audit", "--cluster", "--kubeconfig"])
        .arg(dir.join("nope"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("--kubeconfig"),
        "{}",
        stderr(&missing)
    );
    let garbage = dir.join("garbage");
    std::fs::write(&garbage, "clusters: [\n").unwrap();
    let broken = dsguard()
        .args(["coverage", "--cluster", "--kubeconfig"])
        .arg(&garbage)
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(2));
    // KUBECONFIG is honoured as kubectl honours it.
    let from_env = dsguard()
        .args(["lint", "--cluster", "--context", "prod"])
        .arg(examples("daemonsets"))
        .env("KUBECONFIG", &config)
        .output()
        .unwrap();
    assert!(
        stderr(&from_env).contains("it has: lab, staging"),
        "{}",
        stderr(&from_env)
    );
    // The flags say which cluster --cluster reads: alone they are a usage error.
    let alone = dsguard()
        .args(["lint", "--context", "lab"])
        .arg(examples("daemonsets"))
        .output()
        .unwrap();
    assert_eq!(alone.status.code(), Some(2));
    assert!(
        stderr(&alone).contains("add --cluster"),
        "{}",
        stderr(&alone)
    );
    let timeout = dsguard()
        .args(["lint", "--cluster", "--request-timeout", "soon"])
        .arg(examples("daemonsets"))
        .env("KUBECONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(timeout.status.code(), Some(2));
    assert!(
        stderr(&timeout).contains("--request-timeout"),
        "{}",
        stderr(&timeout)
    );
    // A good context is used: the request then fails at the server it names.
    let good = dsguard()
        .args([
            "lint",
            "--cluster",
            "--context",
            "staging",
            "--request-timeout",
            "2s",
            "--kubeconfig",
        ])
        .arg(&config)
        .arg(examples("daemonsets"))
        .output()
        .unwrap();
    assert_eq!(good.status.code(), Some(2));
    assert!(stderr(&good).contains("cannot list"), "{}", stderr(&good));
}

#[test]
fn shell_completion_scripts_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_dsguard()"),
        ("zsh", "#compdef dsguard"),
        ("fish", "complete -c dsguard"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let output = dsguard().args(["completion", shell]).output().unwrap();
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(
            script.contains(marker),
            "{shell}: {}",
            &script[..200.min(script.len())]
        );
        assert!(
            script.contains("lint") && script.contains("nodes"),
            "{shell}"
        );
    }
    let bash = dsguard().args(["completion", "bash"]).output().unwrap();
    let dir = scratch("completion");
    std::fs::write(dir.join("dsguard.bash"), &bash.stdout).unwrap();
    let sourced = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p dsguard",
            dir.join("dsguard.bash").display()
        ))
        .output()
        .unwrap();
    assert!(sourced.status.success(), "{}", stderr(&sourced));
}

#[test]
fn man_pages_are_written_for_every_command() {
    let dir = scratch("man");
    let output = dsguard().arg("man").arg(&dir).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    for page in [
        "dsguard.1",
        "dsguard-lint.1",
        "dsguard-serve.1",
        "dsguard-explain.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}");
    }
    let lint = std::fs::read_to_string(dir.join("dsguard-lint.1")).unwrap();
    assert!(lint.contains("fail\\-on\\-empty"), "{lint}");
}

/// Colour only on a terminal unless asked, never with NO_COLOR, and log lines never
/// coloured into a pipe.
#[test]
fn colour_only_where_it_belongs() {
    let lint = |color: Option<&str>, no_color: bool| {
        let mut command = dsguard();
        command
            .arg("lint")
            .arg("--nodes")
            .arg(examples("nodes.yaml"));
        if let Some(color) = color {
            command.args(["--color", color]);
        }
        if no_color {
            command.env("NO_COLOR", "1");
        } else {
            command.env_remove("NO_COLOR");
        }
        command.arg(examples("daemonsets"));
        let output = command.output().unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(!lint(None, false).contains('\u{1b}'), "auto into a pipe");
    assert!(lint(Some("always"), false).contains("\u{1b}["));
    assert!(!lint(Some("never"), false).contains('\u{1b}'));
    assert!(!lint(Some("auto"), true).contains('\u{1b}'));
    // A log line from the library (a snapshot folder's skipped special file) is plain.
    let dir = scratch("log-colour");
    std::fs::copy(examples("nodes.yaml"), dir.join("nodes.yaml")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(dir.join("pipe.yaml"))
        .status()
        .unwrap();
    assert!(status.success());
    let output = dsguard()
        .args(["lint", "--nodes"])
        .arg(&dir)
        .arg(examples("daemonsets"))
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let text = stderr(&output);
    assert!(text.contains("pipe.yaml"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

#[test]
fn rules_are_listed_and_explained_in_the_terminal() {
    let listed = dsguard().arg("rules").output().unwrap();
    let text = String::from_utf8(listed.stdout).unwrap();
    for id in ["DSG001", "DSG006", "DSG101", "DSG900", "DSG901"] {
        assert!(text.contains(id), "{id}: {text}");
    }
    assert!(text.contains("DSG003  missing-resource-limits"), "{text}");
    let json = dsguard().args(["rules", "-o", "json"]).output().unwrap();
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["schemaVersion"], 1);
    let dsg004 = json["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "DSG004")
        .unwrap();
    assert_eq!(dsg004["default"], "warn");
    for rule in ["DSG002", "untolerated-taints", "dsg002"] {
        let explained = dsguard().args(["explain", rule]).output().unwrap();
        assert!(explained.status.success(), "{rule}");
        let page = String::from_utf8(explained.stdout).unwrap();
        assert!(
            page.starts_with("# DSG002 untolerated-taints"),
            "{rule}: {page}"
        );
    }
    let unknown = dsguard().args(["explain", "DSG999"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("DSG001, DSG002"),
        "{}",
        stderr(&unknown)
    );
}
