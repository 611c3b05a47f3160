//! Every example in the README runs as written, so none can drift from what dsguard does.
//!
//! The README's conventions, which this test reads:
//! - a ```sh block is run, line by line, from the repository root, with `dsguard` (and
//!   `cargo run --`, `kubectl dsguard`) meaning the binary under test; a line may end in
//!   `# exit N` and a reason (the exit code it must give; 0 otherwise);
//! - a block whose lines end in `&` starts that command in the background for the lines
//!   after it (a server), and stops it when the block ends;
//! - a ```text block right after a one-command ```sh block is that command's standard
//!   output, exactly (trailing spaces aside);
//! - blocks that need a cluster, a registry or network (`kubectl apply`, `helm`, `cargo
//!   install`) are ```console blocks: shown, not run.

use std::path::Path;
use std::process::Command;

struct Example {
    /// The line of the README the block starts on.
    line: usize,
    commands: Vec<(String, i32)>,
    expected_output: Option<String>,
}

fn examples(readme: &str) -> Vec<Example> {
    let mut examples: Vec<Example> = Vec::new();
    let mut lines = readme.lines().enumerate().peekable();
    while let Some((number, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let mut body = Vec::new();
        for (_, inner) in lines.by_ref() {
            if inner.starts_with("```") {
                break;
            }
            body.push(inner.to_owned());
        }
        match info.trim() {
            "sh" => {
                let commands = body
                    .iter()
                    .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                    .map(|l| match l.rsplit_once("# exit ") {
                        Some((command, code)) => (
                            command.trim_end().to_owned(),
                            code.split(|c: char| !c.is_ascii_digit())
                                .next()
                                .and_then(|digits| digits.parse().ok())
                                .expect("`# exit N` with a number"),
                        ),
                        None => (l.trim_end().to_owned(), 0),
                    })
                    .collect();
                examples.push(Example {
                    line: number + 1,
                    commands,
                    expected_output: None,
                });
            }
            "text" => {
                if let Some(last) = examples.last_mut()
                    && last.commands.len() == 1
                    && last.expected_output.is_none()
                {
                    let mut text = body.join("\n");
                    text.push('\n');
                    last.expected_output = Some(text);
                }
            }
            _ => {}
        }
    }
    examples
}

fn trimmed(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_readme_example_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("dsguard");
    // `dsguard` on the PATH is the binary under test, as after `cargo install`.
    let bin_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-bin");
    let _ = std::fs::remove_dir_all(&bin_dir);
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(&bin, bin_dir.join("dsguard")).unwrap();
    std::os::unix::fs::symlink(&bin, bin_dir.join("kubectl-dsguard")).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for example in examples(&readme) {
        let mut script = String::from(
            "set -u\ncleanup() { jobs -p | xargs -r kill 2>/dev/null; }\ntrap cleanup EXIT\n",
        );
        for (command, code) in &example.commands {
            // The README's test command is this suite itself.
            if command == "scripts/test" {
                continue;
            }
            let command = command
                .replace("cargo run -q -- ", "dsguard ")
                .replace("cargo run -- ", "dsguard ");
            if let Some(background) = command.strip_suffix('&') {
                script.push_str(&format!("{background} >/dev/null 2>&1 &\n"));
                continue;
            }
            ran += 1;
            script.push_str(&format!(
                "{command}\ncode=$?\nif [ $code -ne {code} ]; then echo \"README line {}: \\`{}\\` exited $code, not {code}\" >&2; exit 99; fi\n",
                example.line,
                command.replace(['`', '"'], "'")
            ));
        }
        let output = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(root)
            .env("PATH", &path)
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "README example at line {}:\n{}\n{stderr}",
            example.line,
            String::from_utf8_lossy(&output.stdout)
        );
        if let Some(expected) = &example.expected_output {
            assert_eq!(
                trimmed(&String::from_utf8_lossy(&output.stdout)),
                trimmed(expected),
                "README example at line {}: the output shown is not what it prints",
                example.line
            );
        }
    }
    assert!(
        ran >= 8,
        "only {ran} README commands ran: are the examples still ```sh?"
    );
}

/// The README's ```yaml blocks.
fn yaml_blocks(readme: &str) -> Vec<serde_json::Value> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```yaml" {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            let text = body.join("\n");
            if let Some(Ok(document)) = dsguard::yaml::parse_stream(&text).into_iter().next() {
                blocks.push(document.value);
            }
        }
    }
    blocks
}

/// The CI job and the pre-commit hook work when copied into a repository laid out as they
/// say (`cluster/nodes.yaml`, `manifests/`): no placeholder that silently fails, and the
/// install step fails loudly, naming what to set, until it is told where dsguard is.
#[test]
fn the_ci_and_pre_commit_snippets_work_when_copied() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for placeholder in ["OWNER", "v0.1.0"] {
        assert!(
            !readme.contains(placeholder),
            "the README still says {placeholder}"
        );
    }
    let blocks = yaml_blocks(&readme);
    let job = blocks
        .iter()
        .find_map(|b| b.pointer("/jobs/dsguard"))
        .expect("the GitHub Actions job");
    let hook = blocks
        .iter()
        .find_map(|b| b.pointer("/repos/0/hooks/0"))
        .expect("the pre-commit hook");
    let user_repo = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-user-repo");
    let _ = std::fs::remove_dir_all(&user_repo);
    std::fs::create_dir_all(user_repo.join("cluster")).unwrap();
    std::fs::create_dir_all(user_repo.join("manifests")).unwrap();
    std::fs::copy(
        root.join("examples/nodes.yaml"),
        user_repo.join("cluster/nodes.yaml"),
    )
    .unwrap();
    for entry in std::fs::read_dir(root.join("examples/daemonsets")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            user_repo.join("manifests").join(entry.file_name()),
        )
        .unwrap();
    }
    let bin_dir = assert_cmd::cargo::cargo_bin("dsguard")
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |script: &str, env: &[(&str, &str)]| {
        let mut command = Command::new("bash");
        command
            .args(["-eo", "pipefail", "-c", script])
            .current_dir(&user_repo)
            .env("PATH", &path);
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().unwrap()
    };
    let steps = job["steps"].as_array().unwrap();
    let install = steps
        .iter()
        .find(|s| s["name"] == "Install dsguard")
        .and_then(|s| s["run"].as_str())
        .unwrap();
    let unset = run(install, &[("DSGUARD_GIT", "")]);
    assert!(!unset.status.success());
    assert!(
        String::from_utf8_lossy(&unset.stderr).contains("set the repository variable DSGUARD_GIT"),
        "{}",
        String::from_utf8_lossy(&unset.stderr)
    );
    let mut linted = 0;
    for script in steps.iter().filter_map(|s| s["run"].as_str()) {
        if !script.starts_with("dsguard ") {
            continue;
        }
        let output = run(script, &[]);
        // Denials fail the step (exit 1): the examples hold two.
        assert_eq!(
            output.status.code(),
            Some(1),
            "{script}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        linted += 1;
    }
    assert_eq!(linted, 2);
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(user_repo.join("dsguard.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    // pre-commit runs the entry with the staged files that match `files`.
    let pattern = hook["files"].as_str().unwrap();
    assert_eq!(pattern, "\\.(ya?ml|json)$");
    assert_eq!(hook["language"], "system");
    let entry = hook["entry"].as_str().unwrap();
    let output = run(
        &format!("{entry} manifests/log-shipper.yaml manifests/node-exporter.yaml"),
        &[],
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    // The hook this repository declares for `repo:` users has the same id.
    let declared = std::fs::read_to_string(root.join(".pre-commit-hooks.yaml")).unwrap();
    assert!(declared.contains(&format!("- id: {}", hook["id"].as_str().unwrap())));
}
