//! The repository stands alone: its README, docs, code, tests and manifests cite its own
//! documents or Kubernetes source paths, never a specification or a folder outside it.

use std::path::{Path, PathBuf};

fn files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            // Build output and fuzz inputs (arbitrary bytes) are not documents.
            if !matches!(
                name.as_str(),
                "target" | "corpus" | "regressions" | "artifacts" | ".git"
            ) {
                files(&path, into);
            }
        } else if [".rs", ".md", ".yaml", ".yml", ".sh", ".toml", ".json"]
            .iter()
            .any(|ext| name.ends_with(ext))
            || name == "run"
        {
            into.push(path);
        }
    }
}

#[test]
fn nothing_points_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    files(root, &mut all);
    assert!(all.len() > 100, "{}", all.len());
    // Spelled in pieces so that this file does not match itself.
    let forbidden = [
        ["SPEC", " §"].concat(),
        ["../", "shared"].concat(),
        ["shared/", "SPEC"].concat(),
        ["KUBERNETES-", "SEMANTICS"].concat(),
        ["ARCHITECTURE", ".md"].concat(),
    ];
    let mut found = Vec::new();
    for file in &all {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for needle in &forbidden {
            if text.contains(needle.as_str()) {
                found.push(format!(
                    "{}: {needle}",
                    file.strip_prefix(root).unwrap().display()
                ));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
