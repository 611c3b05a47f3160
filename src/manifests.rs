//! Reads Kubernetes manifests from files, folders (recursively: `.yaml`, `.yml`, `.json`)
//! and stdin (`-`), keeping where each object starts and where each of its fields is, so
//! a report can say `file:line:col`. `List` kinds are opened into their items. A document
//! that cannot be parsed is reported with its line and the others are still read. Files
//! are found and read within the bounds of [`crate::input`].

use std::path::PathBuf;

use serde_json::Value;

use crate::input::{self, MANIFEST_EXTENSIONS, Walk};
use crate::yaml::{self, Position, SourceMap};

/// One object of a manifest file.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub file: String,
    pub position: Position,
    pub value: Value,
    /// Positions by JSON pointer relative to this object.
    pub source_map: SourceMap,
    /// Which document of its file's stream holds the object (counting unreadable ones).
    pub document: usize,
    /// Where in that document the object is (`/items/3` for a `List` item, else empty).
    pub pointer: String,
}

impl Manifest {
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    pub fn api_version(&self) -> &str {
        self.value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn is_daemonset(&self) -> bool {
        self.kind() == "DaemonSet"
    }

    /// Where the field at `pointer` (or its nearest present ancestor) is.
    pub fn position_of(&self, pointer: &str) -> Position {
        self.source_map.position(pointer).unwrap_or(self.position)
    }
}

/// A file or document that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}", line = position.line, column = position.column)]
pub struct ManifestError {
    pub file: String,
    pub position: Position,
    pub message: String,
}

/// What reading some paths gave.
#[derive(Debug, Default)]
pub struct ReadPaths {
    pub manifests: Vec<Manifest>,
    /// Files and documents that could not be read (exit code 2).
    pub errors: Vec<ManifestError>,
    /// Entries passed over on purpose while walking folders (special files, link loops).
    pub notices: Vec<String>,
}

/// Every object under `paths`, and every problem met on the way. No file is read past
/// `max_file_bytes`.
pub fn read_paths(paths: &[PathBuf], max_file_bytes: u64) -> ReadPaths {
    let mut read = ReadPaths::default();
    let mut walk = Walk::default();
    let mut sources = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            sources.push(None);
        } else {
            let before = walk.files.len();
            walk.add(path, MANIFEST_EXTENSIONS);
            sources.extend(walk.files[before..].iter().cloned().map(Some));
        }
    }
    for (folder, error) in &walk.errors {
        read.errors
            .push(io_error(&folder.display().to_string(), &error.to_string()));
    }
    read.notices = walk.notices;
    for source in sources {
        let (name, text) = match &source {
            None => (
                "<stdin>".to_owned(),
                input::read_stdin(max_file_bytes).and_then(input::into_text),
            ),
            Some(file) => (
                file.display().to_string(),
                input::read_text_file(file, max_file_bytes),
            ),
        };
        match text {
            Ok(text) => read_text(&text, &name, &mut read.manifests, &mut read.errors),
            Err(e) => read.errors.push(io_error(&name, &e.to_string())),
        }
    }
    read
}

fn io_error(file: &str, error: &str) -> ManifestError {
    ManifestError {
        file: file.to_owned(),
        position: Position { line: 1, column: 1 },
        message: error.to_owned(),
    }
}

/// Reads one stream of documents.
pub fn read_text(
    text: &str,
    file: &str,
    manifests: &mut Vec<Manifest>,
    errors: &mut Vec<ManifestError>,
) {
    for (index, document) in yaml::parse_stream(text).into_iter().enumerate() {
        match document {
            Ok(document) => open(
                document.value,
                document.source_map,
                document.position,
                (file, index),
                "",
                manifests,
            ),
            Err(e) => errors.push(ManifestError {
                file: file.to_owned(),
                position: e.position,
                message: format!("invalid YAML: {}", e.message),
            }),
        }
    }
}

fn open(
    value: Value,
    source_map: SourceMap,
    position: Position,
    (file, document): (&str, usize),
    prefix: &str,
    out: &mut Vec<Manifest>,
) {
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && value.get("items").is_some_and(Value::is_array);
    if !is_list {
        out.push(Manifest {
            file: file.to_owned(),
            position,
            value,
            source_map,
            document,
            pointer: prefix.to_owned(),
        });
        return;
    }
    let Some(Value::Array(items)) = value.get("items").cloned() else {
        return;
    };
    // Each item's positions, split off in one pass (per-item lookups would scan the
    // whole map once per item: quadratic in a `kubectl get -A -o yaml` of thousands).
    let mut item_maps = source_map.subtrees("/items");
    for (index, item) in items.into_iter().enumerate() {
        let pointer = format!("{prefix}/items/{index}");
        let item_map = item_maps.remove(&index.to_string()).unwrap_or_default();
        let item_position = item_map.position("").unwrap_or(position);
        open(
            item,
            item_map,
            item_position,
            (file, document),
            &pointer,
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_open_into_items_with_their_own_positions() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- kind: DaemonSet\n  metadata:\n    name: a\n- kind: ConfigMap\n  metadata: {name: b}\n---\nkind: DaemonSet\nmetadata: {name: c}\n---\nbad: [\n";
        let mut manifests = Vec::new();
        let mut errors = Vec::new();
        read_text(text, "m.yaml", &mut manifests, &mut errors);
        assert_eq!(manifests.len(), 3);
        assert_eq!(manifests[0].position.line, 4);
        assert_eq!(manifests[0].position_of("/metadata/name").line, 6);
        assert!(manifests[0].is_daemonset() && !manifests[1].is_daemonset());
        assert_eq!(manifests[2].position.line, 10);
        assert_eq!(errors.len(), 1);
        // The parser notices the unclosed list at the end of input; the message names the
        // line the broken document starts on.
        assert!(
            errors[0].to_string().starts_with("m.yaml:14:"),
            "{}",
            errors[0]
        );
        assert!(
            errors[0].message.contains("document starting at line 13"),
            "{}",
            errors[0]
        );
    }
}
