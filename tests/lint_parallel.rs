//! `lint` on every core, streamed: the output is byte for byte what one thread prints, in
//! every format, and the report is the one the in-memory linter gives for the same input.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("lint-parallel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A mixed input: the real corpus DaemonSets many times over (more documents than a batch
/// holds, so batches go to several workers), with a Deployment, a broken document, a
/// `List`, a key written twice and a removed API version among them, over three files.
fn mixed_input(dir: &Path) -> Vec<PathBuf> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/daemonsets");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let documents: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let mut big = String::new();
    for round in 0..6 {
        for (i, document) in documents.iter().enumerate() {
            big.push_str("---\n");
            big.push_str(document);
            big.push('\n');
            if i == 10 && round == 2 {
                big.push_str("---\nkind: DaemonSet\nspec: [unclosed\n");
            }
            if i == 20 {
                big.push_str("---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n");
            }
        }
    }
    let odd = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: DaemonSet\n  metadata: {name: listed}\n  spec:\n    template:\n      spec:\n        containers: [{name: a}]\n---\napiVersion: extensions/v1beta1\nkind: DaemonSet\nmetadata: {name: old, namespace: x}\nspec:\n  template:\n    spec:\n      nodeSelector: {a: b}\n      nodeSelector: {kubernetes.io/os: linux}\n      containers: [{name: a, resources: {limits: {cpu: \"0\", memory: 1Gi}}}]\n";
    let paths = vec![
        dir.join("big.yaml"),
        dir.join("odd.yaml"),
        dir.join("none.yaml"),
    ];
    std::fs::write(&paths[0], big).unwrap();
    std::fs::write(&paths[1], odd).unwrap();
    std::fs::write(
        &paths[2],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    )
    .unwrap();
    paths
}

fn lint(jobs: &str, format: &str, paths: &[PathBuf]) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    let output = Command::cargo_bin("dsguard")
        .unwrap()
        .args([
            "lint",
            "--show-patch",
            "-o",
            format,
            "--jobs",
            jobs,
            "--nodes",
        ])
        .arg(common::corpus("nodes"))
        .args(paths)
        .output()
        .unwrap();
    (output.status.code(), output.stdout, output.stderr)
}

#[test]
fn every_format_is_byte_identical_whatever_the_number_of_threads() {
    let dir = scratch("formats");
    let paths = mixed_input(&dir);
    for format in ["text", "json", "sarif", "junit", "github"] {
        let one = lint("1", format, &paths);
        assert_eq!(
            one.0,
            Some(2),
            "{format}: the broken document makes it exit 2"
        );
        for jobs in ["2", "5"] {
            let many = lint(jobs, format, &paths);
            assert_eq!(many.0, one.0, "{format} -j {jobs}");
            assert!(many.1 == one.1, "{format} -j {jobs}: stdout differs");
            assert!(many.2 == one.2, "{format} -j {jobs}: stderr differs");
        }
    }
    let (_, _, stderr) = lint("3", "text", &paths);
    let stderr = String::from_utf8(stderr).unwrap();
    assert!(
        stderr.contains("none.yaml: no DaemonSet in it (ConfigMap)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`spec.template.spec.nodeSelector` is written twice"),
        "{stderr}"
    );
}

/// The streamed report is the in-memory linter's report for the same input.
#[test]
fn the_streamed_report_is_the_in_memory_one() {
    let dir = scratch("same");
    let paths = mixed_input(&dir);
    let inventory = common::corpus_inventory();
    let config = dsguard::config::Config::default();
    let sources = dsguard::lint::InventorySources {
        nodes: true,
        ..Default::default()
    };
    let read = dsguard::manifests::read_paths(&paths, dsguard::input::DEFAULT_MAX_FILE_BYTES);
    let in_memory = dsguard::lint::lint(&read.manifests, read.errors, &inventory, &config, sources);
    for jobs in [1, 3] {
        let streamed = dsguard::lint::lint_paths(
            &paths,
            &inventory,
            &config,
            sources,
            dsguard::lint::StreamOptions {
                jobs,
                max_file_bytes: dsguard::input::DEFAULT_MAX_FILE_BYTES,
                keep_patched: true,
            },
            None,
        );
        assert_eq!(
            dsguard::lint::to_json(&streamed.report),
            dsguard::lint::to_json(&in_memory),
            "-j {jobs}"
        );
        assert_eq!(streamed.input_notices, read.notices, "-j {jobs}");
        // Only what --fix needs is kept: the manifests that get a patch.
        let patched = in_memory
            .daemonsets
            .iter()
            .filter(|d| !d.patch.is_empty())
            .count();
        assert_eq!(streamed.patched.len(), patched);
        for patched in &streamed.patched {
            let manifest = &patched.manifest;
            let same = read
                .manifests
                .iter()
                .find(|m| m.file == manifest.file && m.position == manifest.position)
                .unwrap();
            assert_eq!(manifest.document, same.document);
            assert_eq!(manifest.pointer, same.pointer);
        }
    }
}

/// Text written as the files finish is the text of the whole report.
#[test]
fn text_written_as_files_finish_is_the_whole_report() {
    let dir = scratch("text-parts");
    let paths = mixed_input(&dir);
    let inventory = common::corpus_inventory();
    let config = dsguard::config::Config::default();
    let sources = dsguard::lint::InventorySources {
        nodes: true,
        ..Default::default()
    };
    let read = dsguard::manifests::read_paths(&paths, dsguard::input::DEFAULT_MAX_FILE_BYTES);
    let in_memory = dsguard::lint::lint(&read.manifests, read.errors, &inventory, &config, sources);
    let options = dsguard::lint::TextOptions {
        color: false,
        show_patch: true,
    };
    let mut writer = dsguard::lint::TextWriter::new(options);
    let mut parts = 0;
    let mut text = String::new();
    let mut sink = |report: &dsguard::lint::LintReport| {
        parts += 1;
        text.push_str(&writer.part(report));
    };
    let streamed = dsguard::lint::lint_paths(
        &paths,
        &inventory,
        &config,
        sources,
        dsguard::lint::StreamOptions {
            jobs: 2,
            max_file_bytes: dsguard::input::DEFAULT_MAX_FILE_BYTES,
            keep_patched: false,
        },
        Some(&mut sink),
    );
    assert!(parts >= 3, "{parts}");
    // Only counts are left of what was written.
    assert!(streamed.report.daemonsets.is_empty());
    assert_eq!(streamed.report.totals(), in_memory.totals());
    text.push_str(&writer.finish(&streamed.report));
    assert_eq!(text, dsguard::lint::to_text(&in_memory, options));
}
