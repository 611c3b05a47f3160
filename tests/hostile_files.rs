//! Hostile and unlucky input to the command-line adapters: alias bombs in every kind of
//! YAML file, special files and link loops, oversized input, `--fix` that cannot write,
//! CRLF files, control characters in names, duplicate keys, and `certs` over existing
//! keys. Each case once hung, crashed or lied; each must now end quickly with a clear
//! message and the documented exit code.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

fn examples(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(path)
}

/// dsguard with a generous deadline: a hang fails the test instead of the CI run.
fn dsguard() -> Command {
    let mut command = Command::cargo_bin("dsguard").unwrap();
    command.timeout(Duration::from_secs(60));
    command
}

fn scratch(name: &str) -> PathBuf {
    common::scratch_dir("hostile", name)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// 9 anchors, each a list of 9 aliases to the one before: 9^9 nodes once expanded.
fn billion_laughs(kind: &str) -> String {
    let mut text = format!("kind: {kind}\nmetadata: {{name: x}}\na0: &a0 [lol]\n");
    for level in 1..10 {
        let items = vec![format!("*a{}", level - 1); 9].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
    }
    text
}

fn mkfifo(path: &Path) {
    assert!(
        std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn an_alias_bomb_is_a_clear_error_in_every_yaml_input() {
    let dir = scratch("bomb");
    let file = |name: &str, kind: &str| {
        let path = dir.join(name);
        std::fs::write(&path, billion_laughs(kind)).unwrap();
        path
    };
    let manifest = file("ds.yaml", "DaemonSet");
    let config = file("config.yaml", "Config");
    let nodes = file("nodes.yaml", "Node");
    let classes = file("pc.yaml", "PriorityClass");
    let limits = file("lr.yaml", "LimitRange");
    let good_nodes = examples("nodes.yaml");
    let cases: Vec<(&str, Vec<&std::ffi::OsStr>)> = vec![
        ("manifest", vec![manifest.as_os_str()]),
        (
            "config",
            vec![
                "--config".as_ref(),
                config.as_os_str(),
                good_nodes.as_os_str(),
            ],
        ),
        (
            "nodes",
            vec![
                "--nodes".as_ref(),
                nodes.as_os_str(),
                good_nodes.as_os_str(),
            ],
        ),
        (
            "priorityclasses",
            vec![
                "--priorityclasses".as_ref(),
                classes.as_os_str(),
                good_nodes.as_os_str(),
            ],
        ),
        (
            "limitranges",
            vec![
                "--limitranges".as_ref(),
                limits.as_os_str(),
                good_nodes.as_os_str(),
            ],
        ),
    ];
    for (what, args) in cases {
        let output = dsguard().arg("lint").args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{what}: {}", stderr(&output));
        let all = format!(
            "{}{}",
            stderr(&output),
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(all.contains("excessive aliasing"), "{what}: {all}");
    }
}

#[test]
fn special_files_and_link_loops_never_block_a_walk() {
    let dir = scratch("special");
    std::fs::copy(
        examples("daemonsets/node-exporter.yaml"),
        dir.join("ds.yaml"),
    )
    .unwrap();
    mkfifo(&dir.join("pipe.yaml"));
    std::os::unix::fs::symlink(&dir, dir.join("loop")).unwrap();
    let output = dsguard()
        .args(["lint", "-o", "json"])
        .arg(&dir)
        .output()
        .unwrap();
    // The FIFO and the loop are notices, not errors: the real file is linted.
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["summary"]["daemonsets"], 1, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("pipe.yaml: skipped, a FIFO"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("symbolic link loop"),
        "{}",
        stderr(&output)
    );

    // Named directly (as PATH or as an inventory file), a special file is an error at once.
    let pipe = dir.join("pipe.yaml");
    for args in [
        vec!["lint".as_ref(), pipe.as_os_str()],
        vec![
            "lint".as_ref(),
            "--nodes".as_ref(),
            pipe.as_os_str(),
            dir.join("ds.yaml").as_os_str(),
        ],
        vec!["lint".as_ref(), "/dev/zero".as_ref()],
        vec![
            "lint".as_ref(),
            "--nodes".as_ref(),
            "/dev/urandom".as_ref(),
            dir.join("ds.yaml").as_os_str(),
        ],
        vec![
            "lint".as_ref(),
            "--config".as_ref(),
            "/dev/zero".as_ref(),
            dir.join("ds.yaml").as_os_str(),
        ],
    ] {
        let output = dsguard().args(&args).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        let all = format!(
            "{}{}",
            stderr(&output),
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(all.contains("not a regular file"), "{args:?}: {all}");
    }
}

#[test]
fn input_over_the_size_bound_is_refused_with_the_flag_to_raise_it() {
    let dir = scratch("size");
    let file = dir.join("ds.yaml");
    std::fs::copy(examples("daemonsets/node-exporter.yaml"), &file).unwrap();
    let output = dsguard()
        .args(["lint", "--max-file-bytes", "100"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("--max-file-bytes"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    // stdin too (the pipe has no size to check first: it is cut while reading).
    let output = dsguard()
        .args(["review", "--max-file-bytes", "1000"])
        .write_stdin(vec![b' '; 5000])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--max-file-bytes"),
        "{}",
        stderr(&output)
    );
}

/// A JSON snapshot or inventory that is only brackets (8 MiB of `[`) is refused where the
/// nesting passes what any decoder reads, before it is held: doctor's snapshots and
/// `--pods`, which read objects one at a time.
#[test]
fn json_nested_without_end_is_refused_at_once() {
    let dir = scratch("nested");
    let file = dir.join("deep.json");
    std::fs::write(&file, vec![b'['; 8 << 20]).unwrap();
    for args in [vec!["doctor", "-A", "--snapshot"], vec!["lint", "--pods"]] {
        let mut command = dsguard();
        command.args(&args).arg(&file);
        if args[0] == "lint" {
            command
                .arg("--nodes")
                .arg(examples("nodes.yaml"))
                .arg(examples("daemonsets"));
        }
        let output = command.output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("deep.json:1:")
                && stderr(&output).contains("nested more than"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn fix_that_cannot_write_exits_2_and_loses_nothing() {
    let dir = scratch("fix-unwritable");
    let file = dir.join("ds.yaml");
    std::fs::copy(examples("daemonsets/node-exporter.yaml"), &file).unwrap();
    let before = std::fs::read(&file).unwrap();
    // --out below a regular file: no folder can be made there, root or not.
    let blocker = dir.join("not-a-folder");
    std::fs::write(&blocker, "x").unwrap();
    let output = dsguard()
        .args(["lint", "--fix", "--out"])
        .arg(blocker.join("out"))
        .args(["--priorityclasses"])
        .arg(examples("priorityclasses.yaml"))
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot write"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn fix_keeps_crlf_line_endings() {
    let dir = scratch("fix-crlf");
    let file = dir.join("ds.yaml");
    let text = std::fs::read_to_string(examples("daemonsets/node-exporter.yaml"))
        .unwrap()
        .replace('\n', "\r\n");
    std::fs::write(&file, &text).unwrap();
    let output = dsguard()
        .args(["lint", "--fix", "--priorityclasses"])
        .arg(examples("priorityclasses.yaml"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(stderr(&output).contains("fixed"), "{}", stderr(&output));
    let fixed = std::fs::read_to_string(&file).unwrap();
    assert!(fixed.len() > text.len(), "something was injected");
    assert!(fixed.contains("priorityClassName"), "{fixed}");
    let bare_lf = fixed
        .match_indices('\n')
        .filter(|(at, _)| !fixed[..*at].ends_with('\r'))
        .count();
    assert_eq!(bare_lf, 0, "every line ends in CRLF:\n{fixed:?}");
}

#[test]
fn control_characters_from_a_manifest_never_reach_the_terminal_raw() {
    let dir = scratch("control");
    let file = dir.join("ds.yaml");
    let text = std::fs::read_to_string(examples("daemonsets/node-exporter.yaml")).unwrap();
    let hostile = "\"evil\\e[2J\\r\\n0 DaemonSets: 0 denied\\u202e\"";
    let text = text.replacen("name: node-exporter", &format!("name: {hostile}"), 1);
    assert!(text.contains("evil"), "the example names node-exporter");
    std::fs::write(&file, text).unwrap();
    // --show-patch prints the name beside the injected PriorityClass patch.
    let output = dsguard()
        .args(["lint", "--show-patch", "--priorityclasses"])
        .arg(examples("priorityclasses.yaml"))
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\r'),
        "{stdout:?}"
    );
    assert!(!stdout.contains('\u{202e}'), "{stdout:?}");
    assert!(
        stdout.contains("evil\\u{1b}[2J\\u{d}\\u{a}0 DaemonSets"),
        "{stdout}"
    );
    assert!(
        !stdout.lines().any(|l| l.starts_with("0 DaemonSets")),
        "no injected summary line:\n{stdout}"
    );
}

#[test]
fn duplicate_keys_are_read_as_kubectl_reads_them_by_lint_and_webhook_alike() {
    // nodeSelector written twice: the second one (a label no node has) wins.
    let review = std::fs::read_to_string(examples("review-create.json")).unwrap();
    let review: Value = serde_json::from_str(&review).unwrap();
    let object = serde_json::to_string(&review["request"]["object"]).unwrap();
    let spec = "\"spec\":{\"nodeSelector\":{\"kubernetes.io/os\":\"linux\"},\"nodeSelector\":{\"no-such\":\"label\"},";
    let object = object.replacen("\"spec\":{", spec, 2);
    let object = object.replacen(spec, "\"spec\":{", 1);
    assert!(object.contains("no-such"));
    let body = serde_json::to_string(&review).unwrap().replace(
        &serde_json::to_string(&review["request"]["object"]).unwrap(),
        &object,
    );
    let inventory_args = ["--nodes", "examples/nodes.yaml"];
    let webhook = dsguard()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["review", "--webhook", "validate"])
        .args(inventory_args)
        .write_stdin(body)
        .output()
        .unwrap();
    let answer: Value = serde_json::from_slice(&webhook.stdout).unwrap();
    let message = answer["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    assert!(message.starts_with("DSG001"), "{message}");

    let dir = scratch("duplicates");
    std::fs::write(dir.join("ds.json"), &object).unwrap();
    let lint = dsguard()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["lint", "-o", "json"])
        .args(inventory_args)
        .arg(dir.join("ds.json"))
        .output()
        .unwrap();
    assert_eq!(lint.status.code(), Some(1), "{}", stderr(&lint));
    let report: Value = serde_json::from_slice(&lint.stdout).unwrap();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["ruleId"] == "DSG001" && f["action"] == "deny"),
        "{report}"
    );
}

#[test]
fn certs_never_overwrite_a_ca_silently_and_check_dns_names() {
    let dir = scratch("certs");
    let first = dsguard()
        .args(["certs", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    let again = dsguard()
        .args(["certs", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert_eq!(
        std::fs::read(dir.join("ca.crt")).unwrap(),
        ca,
        "the CA is untouched"
    );
    let forced = dsguard()
        .args(["certs", "--force", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_ne!(std::fs::read(dir.join("ca.crt")).unwrap(), ca);

    let elsewhere = scratch("certs-dns");
    let bad = dsguard()
        .args(["certs", "--dns", "a b", "--out"])
        .arg(&elsewhere)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("is not a DNS name"),
        "{}",
        stderr(&bad)
    );
    assert!(!elsewhere.join("ca.crt").exists());
}
