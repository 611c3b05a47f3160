//! Every input the fuzzers start from or kept, replayed on stable through the same harness
//! the cargo-fuzz targets run (`fuzz/harness.rs`): the seeds (captured AdmissionReviews,
//! the corpus manifests and nodes, the examples), the corpus the fuzzers grew
//! (`fuzz/corpus/TARGET`), and every crash they found (`fuzz/regressions/TARGET`, one file
//! per crash, kept forever). See `fuzz/run.sh` for how to fuzz.

#[path = "../fuzz/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files under `paths` (files or folders, recursively), sorted.
fn inputs(paths: &[&str]) -> Vec<PathBuf> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                walk(&entry.unwrap().path(), out);
            }
        } else if path.is_file() {
            out.push(path.to_owned());
        }
    }
    let mut out = Vec::new();
    for path in paths {
        walk(&root().join(path), &mut out);
    }
    out.sort();
    out
}

/// Runs `harness` on every input of `target`: its seeds, its grown corpus, its crashes.
fn replay(target: &str, seeds: &[&str], harness: fn(&[u8])) -> usize {
    let corpus = format!("fuzz/corpus/{target}");
    let regressions = format!("fuzz/regressions/{target}");
    let mut paths: Vec<&str> = seeds.to_vec();
    paths.push(&corpus);
    paths.push(&regressions);
    let files = inputs(&paths);
    for file in &files {
        // A fuzzer running beside the tests may reduce its corpus meanwhile.
        let data = match std::fs::read(file) {
            Ok(data) => data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{}: {e}", file.display()),
        };
        let outcome = std::panic::catch_unwind(|| harness(&data));
        assert!(outcome.is_ok(), "{target} fails on {}", file.display());
    }
    files.len()
}

#[test]
fn admission_review_inputs() {
    let n = replay(
        "admission_review",
        &["tests/fixtures/admission", "examples/review-create.json"],
        harness::admission_review,
    );
    assert!(n >= 5, "{n} inputs");
}

#[test]
fn yaml_manifest_inputs() {
    let n = replay(
        "yaml_manifests",
        &["tests/corpus/daemonsets", "examples/daemonsets", "deploy"],
        harness::yaml_manifests,
    );
    assert!(n >= 56, "{n} inputs");
}

#[test]
fn config_inputs() {
    let n = replay("config", &["examples/dsguard.yaml"], harness::config_file);
    assert!(n >= 1, "{n} inputs");
}

#[test]
fn node_snapshot_inputs() {
    let n = replay(
        "node_snapshot",
        &[
            "tests/corpus/nodes",
            "examples/nodes.yaml",
            "examples/priorityclasses.yaml",
        ],
        harness::node_snapshot,
    );
    assert!(n >= 12, "{n} inputs");
}
