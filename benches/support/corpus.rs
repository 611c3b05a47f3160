//! The audit benches' DaemonSets: the 56 real corpus DaemonSets repeated under distinct
//! names, 40 namespaces and uids, as many as asked.

use serde_json::{Value, json};

pub fn corpus_daemonsets(count: usize) -> Vec<Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/daemonsets");
    let read = dsguard::manifests::read_paths(&[root], dsguard::input::DEFAULT_MAX_FILE_BYTES);
    let originals: Vec<Value> = read
        .manifests
        .iter()
        .filter(|m| m.is_daemonset())
        .map(|m| m.value.clone())
        .collect();
    (0..count)
        .map(|i| {
            let mut object = originals[i % originals.len()].clone();
            object["metadata"]["name"] = json!(format!("ds-{i}"));
            object["metadata"]["namespace"] = json!(format!("team-{}", i % 40));
            object["metadata"]["uid"] = json!(format!("00000000-0000-4000-8000-{i:012}"));
            object
        })
        .collect()
}
