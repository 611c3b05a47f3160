//! Reads Kubernetes manifests from files, folders (recursively: `.yaml`, `.yml`, `.json`)
//! and stdin (`-`), keeping where each object starts and where each of its fields is, so
//! a report can say `file:line:col`. `List` kinds are opened into their items. A document
//! that cannot be parsed is reported with its line and the others are still read. Files
//! are found and read within the bounds of [`crate::input`].

use std::path::PathBuf;

use serde_json::Value;

use crate::input::{self, MANIFEST_EXTENSIONS, Walk};
use crate::lint::printable;
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

/// One input to read: a file (`None`: stdin), and whether it was named on the command
/// line (a named file without a DaemonSet is said; one met in a folder is not).
#[derive(Clone, Debug)]
pub struct Source {
    pub path: Option<PathBuf>,
    pub named: bool,
}

impl Source {
    /// How reports name it.
    pub fn name(&self) -> String {
        match &self.path {
            None => "<stdin>".to_owned(),
            Some(path) => path.display().to_string(),
        }
    }
}

/// The inputs `paths` name, in order (folders walked, see [`crate::input::Walk`]), with the
/// walk's errors and notices already in a [`ReadPaths`].
pub fn sources(paths: &[PathBuf]) -> (Vec<Source>, ReadPaths) {
    let mut read = ReadPaths::default();
    let mut walk = Walk::default();
    let mut sources = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            sources.push(Source {
                path: None,
                named: true,
            });
        } else {
            let before = walk.files.len();
            let named = !path.is_dir();
            walk.add(path, MANIFEST_EXTENSIONS);
            sources.extend(walk.files[before..].iter().cloned().map(|f| Source {
                path: Some(f),
                named,
            }));
        }
    }
    for (folder, error) in &walk.errors {
        read.errors
            .push(io_error(&folder.display().to_string(), &error.to_string()));
    }
    read.notices = std::mem::take(&mut walk.notices);
    (sources, read)
}

/// Every object under `paths`, and every problem met on the way. No file is read past
/// `max_file_bytes`. A file named on the command line (or stdin) that holds no DaemonSet
/// gets a notice; files found in folders are expected to hold other kinds too.
pub fn read_paths(paths: &[PathBuf], max_file_bytes: u64) -> ReadPaths {
    let (sources, mut read) = sources(paths);
    for Source {
        path: source,
        named,
    } in sources
    {
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
            Ok(text) => {
                let before = (read.manifests.len(), read.errors.len());
                read_text(&text, &name, &mut read);
                if named {
                    note_no_daemonset(&name, &mut read, before);
                }
            }
            Err(e) => read.errors.push(io_error(&name, &e.to_string())),
        }
    }
    read
}

/// The notice for a named file that holds no DaemonSet: what it holds instead.
fn note_no_daemonset(file: &str, read: &mut ReadPaths, (manifests, errors): (usize, usize)) {
    if read.errors.len() > errors {
        return;
    }
    let kinds: Vec<&str> = read.manifests[manifests..]
        .iter()
        .map(Manifest::kind)
        .collect();
    if let Some(notice) = no_daemonset_notice(file, &kinds) {
        read.notices.push(notice);
    }
}

/// What a named file holding objects of `kinds` (and no unreadable document) gets when
/// none is a DaemonSet: the kinds it holds instead, or that it is empty.
pub fn no_daemonset_notice(file: &str, kinds: &[&str]) -> Option<String> {
    if kinds.contains(&"DaemonSet") {
        return None;
    }
    if kinds.is_empty() {
        return Some(format!(
            "{}: empty: no YAML document in it, so no DaemonSet to judge",
            printable(file)
        ));
    }
    let mut counted: Vec<(&str, usize)> = Vec::new();
    for kind in kinds {
        let kind = if kind.is_empty() { "(no kind)" } else { kind };
        match counted.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, count)) => *count += 1,
            None => counted.push((kind, 1)),
        }
    }
    let listed: Vec<String> = counted
        .iter()
        .take(6)
        .map(|(kind, count)| match count {
            1 => printable(kind).into_owned(),
            n => format!("{n} {}", printable(kind)),
        })
        .collect();
    Some(format!(
        "{}: no DaemonSet in it ({}{}), nothing there to judge",
        printable(file),
        listed.join(", "),
        if counted.len() > 6 { ", ..." } else { "" }
    ))
}

pub fn io_error(file: &str, error: &str) -> ManifestError {
    ManifestError {
        file: file.to_owned(),
        position: Position { line: 1, column: 1 },
        message: error.to_owned(),
    }
}

/// Whether a line holds Helm template syntax (`{{ ... }}`).
pub fn is_template_line(line: &str) -> bool {
    line.find("{{")
        .is_some_and(|start| line[start..].contains("}}"))
}

/// The first line that holds Helm template syntax, 1-based.
fn helm_template_line(text: &str) -> Option<usize> {
    yaml::yaml_lines(text)
        .position(is_template_line)
        .map(|index| index + 1)
}

/// Reads one stream of documents into `read`: its objects, the documents that cannot be
/// parsed, and what a reader should know about how kubectl would read it (keys written
/// twice, a kind written in the wrong case, DaemonSets of another API, Helm template
/// syntax that was never rendered).
pub fn read_text(text: &str, file: &str, read: &mut ReadPaths) {
    let errors = read.errors.len();
    read_documents(yaml::parse_stream(text), file, 0, read);
    note_helm_template(file, helm_template_line(text), errors, read);
}

/// The objects of a file's parsed documents, the first of them its document number
/// `first_document` (unreadable ones count), into `read`, with the notices of
/// [`read_text`] but the Helm one; returns how many documents there were.
pub fn read_documents(
    documents: Vec<Result<yaml::YamlDocument, yaml::YamlError>>,
    file: &str,
    first_document: usize,
    read: &mut ReadPaths,
) -> usize {
    let count = documents.len();
    for (index, document) in documents.into_iter().enumerate() {
        match document {
            Ok(document) => {
                for duplicate in &document.duplicates {
                    read.notices.push(duplicate_notice(file, duplicate));
                }
                let first = read.manifests.len();
                open(
                    document.value,
                    document.source_map,
                    document.position,
                    (file, first_document + index),
                    "",
                    &mut read.manifests,
                );
                for manifest in &read.manifests[first..] {
                    if let Some(notice) = kind_notice(manifest) {
                        read.notices.push(notice);
                    }
                }
            }
            Err(e) => read.errors.push(ManifestError {
                file: file.to_owned(),
                position: e.position,
                message: format!("invalid YAML: {}", e.message),
            }),
        }
    }
    count
}

/// What a file with Helm template syntax at `line` gets: the hint to render it first, on
/// each of its documents that did not parse (those of `read.errors` from `errors_from`),
/// or a notice when every document parsed.
pub fn note_helm_template(
    file: &str,
    line: Option<usize>,
    errors_from: usize,
    read: &mut ReadPaths,
) {
    let Some(line) = line else {
        return;
    };
    let render_first = format!(
        "this looks like an unrendered Helm template (`{{{{ ... }}}}` at line {line}): render it first and lint the result, e.g. `helm template RELEASE CHART | dsguard lint -`"
    );
    let mut failed = false;
    for error in read.errors[errors_from..]
        .iter_mut()
        .filter(|e| e.file == file && e.message.starts_with("invalid YAML: "))
    {
        failed = true;
        error.message = format!("{}; {render_first}", error.message);
    }
    if !failed {
        read.notices.push(format!(
            "{}:{line}: judged as written, but {render_first}",
            printable(file)
        ));
    }
}

/// A key written twice: both lines, and which one kubectl keeps.
fn duplicate_notice(file: &str, duplicate: &yaml::DuplicateKey) -> String {
    let field = crate::serde_util::field_path(&duplicate.pointer);
    let hint = if matches!(
        duplicate.pointer.as_str(),
        "/apiVersion" | "/kind" | "/metadata"
    ) {
        " (several objects without a `---` line between them read as one object, the last one's fields winning: separate documents with `---`)"
    } else {
        ""
    };
    format!(
        "{}:{}: `{}` is written twice in one mapping (lines {} and {}); kubectl keeps the last one (line {}) and drops the first without a word{hint}",
        printable(file),
        duplicate.kept.line,
        printable(&field),
        duplicate.first.line,
        duplicate.kept.line,
        duplicate.kept.line
    )
}

/// API versions that once served DaemonSets and that the API server no longer accepts
/// (Kubernetes 1.16 removed them), with what to write instead; and `apps/v1beta1`, which
/// never had DaemonSets.
pub const REMOVED_DAEMONSET_APIS: [&str; 3] =
    ["extensions/v1beta1", "apps/v1beta2", "apps/v1beta1"];

/// A notice for an object that names a DaemonSet in a way that is not judged: the kind
/// in another case (the API server knows kinds case-sensitively), or a DaemonSet of
/// another API group (an extension's own DaemonSet kind). Removed API versions are
/// findings of `lint` (DSG901), not notices.
pub fn kind_notice(manifest: &Manifest) -> Option<String> {
    let kind = manifest.kind();
    let at = format!(
        "{}:{}",
        printable(&manifest.file),
        manifest.position_of("/kind").line
    );
    if kind != "DaemonSet" && kind.eq_ignore_ascii_case("daemonset") {
        return Some(format!(
            "{at}: `kind: {}` is not a kind the API server knows (kinds are case-sensitive; it answers `no matches for kind`): write `kind: DaemonSet`; not judged",
            printable(kind)
        ));
    }
    let api = manifest.api_version();
    (kind == "DaemonSet" && api != "apps/v1" && !REMOVED_DAEMONSET_APIS.contains(&api)).then(
        || {
            format!(
                "{at}: a DaemonSet of `{}`, not of apps/v1: another API's kind, not judged (dsguard judges apps/v1 DaemonSets)",
                printable(api)
            )
        },
    )
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
        let mut read = ReadPaths::default();
        read_text(text, "m.yaml", &mut read);
        let (manifests, errors) = (read.manifests, read.errors);
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
