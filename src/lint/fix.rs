//! `lint --fix`: writes the mutated manifests, in place or under `--out DIR`.
//!
//! No maintained Rust YAML library writes a document back with its comments, so the patch
//! is applied to the text itself, line by line, at the positions the source map gives: a
//! new member goes before its first sibling at the siblings' indentation, a list item after
//! the last item, a replaced member on its own line. Every untouched line stays byte for
//! byte. The edited file is then parsed again and must equal the JSON-patched objects; if
//! it does not (flow-style YAML, a layout this does not handle), the file is left alone and
//! the user is told to apply the patch `--show-patch` prints. JSON files are rewritten whole.
//! New lines take the file's own line ending (CRLF stays CRLF). A file is replaced by a
//! complete new copy renamed over it, never truncated and rewritten in place, so a failed
//! write leaves the original whole; any failure to write is reported and makes the run
//! exit 2.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::manifests::Manifest;
use crate::yaml::{self, SourceMap};

/// What `--fix` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FixOutcome {
    /// Files written.
    pub written: Vec<String>,
    /// Why some files were left alone on purpose (a layout it cannot edit safely).
    pub skipped: Vec<String>,
    /// Files that should have been written and could not be (exit code 2).
    pub failed: Vec<String>,
}

/// One text edit, by 1-based line.
#[derive(Debug)]
enum Edit {
    InsertBefore(usize, Vec<String>),
    Replace(usize, Vec<String>),
}

impl Edit {
    fn line(&self) -> usize {
        match self {
            Edit::InsertBefore(line, _) | Edit::Replace(line, _) => *line,
        }
    }
}

/// A manifest whose DaemonSet gets a patch, and the patch.
#[derive(Clone, Debug)]
pub struct Patched {
    pub manifest: Manifest,
    pub patch: Vec<Value>,
}

/// Writes every file holding a DaemonSet with a non-empty patch.
pub fn fix_files(patched: &[Patched], out_dir: Option<&Path>) -> FixOutcome {
    let mut outcome = FixOutcome::default();
    let mut by_file: BTreeMap<&str, Vec<(&Manifest, &[Value])>> = BTreeMap::new();
    for one in patched.iter().filter(|p| !p.patch.is_empty()) {
        by_file
            .entry(one.manifest.file.as_str())
            .or_default()
            .push((&one.manifest, &one.patch));
    }
    for (file, patched) in by_file {
        if file == "<stdin>" {
            outcome
                .skipped
                .push("<stdin>: cannot be fixed in place; use --show-patch".into());
            continue;
        }
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                outcome
                    .failed
                    .push(format!("{file}: cannot read it back: {e}"));
                continue;
            }
        };
        // JSON is rewritten whole; anything else (flow-style YAML starts with `{` too) is
        // edited as YAML text.
        let fixed = match serde_json::from_str::<Value>(&text) {
            Ok(document) => fix_json(document, &patched),
            Err(_) => fix_yaml(&text, &patched),
        };
        match fixed {
            Ok(fixed) => {
                let target = destination(file, out_dir);
                let written = target
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| replace_file(&target, fixed.as_bytes()));
                match written {
                    Ok(()) => outcome.written.push(target.display().to_string()),
                    Err(e) => outcome
                        .failed
                        .push(format!("{}: cannot write: {e}", target.display())),
                }
            }
            Err(why) => outcome.skipped.push(format!(
                "{file}: not fixed, {why}; apply the patch that --show-patch prints"
            )),
        }
    }
    outcome
}

/// Writes `bytes` to a new file beside `target` and renames it over `target`, keeping the
/// permissions `target` had: readers never see half a file, and a failure (disk full, a
/// read-only folder) leaves `target` as it was.
fn replace_file(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = target
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file path"))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".dsguard-{}", std::process::id()));
    let temporary = target.with_file_name(temporary_name);
    let result = std::fs::write(&temporary, bytes)
        .and_then(|()| match std::fs::metadata(target) {
            Ok(metadata) => std::fs::set_permissions(&temporary, metadata.permissions()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .and_then(|()| std::fs::rename(&temporary, target));
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// `file` under `out_dir` (its relative path kept, `..` and roots dropped), or `file`.
fn destination(file: &str, out_dir: Option<&Path>) -> PathBuf {
    let Some(out_dir) = out_dir else {
        return PathBuf::from(file);
    };
    let relative: PathBuf = Path::new(file)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    out_dir.join(relative)
}

/// The object of `manifest` inside its document, with the patch applied.
fn patched_object(manifest: &Manifest, patch: &[Value]) -> Result<Value, String> {
    let mut object = manifest.value.clone();
    let ops: json_patch::Patch =
        serde_json::from_value(Value::Array(patch.to_vec())).map_err(|e| e.to_string())?;
    json_patch::patch(&mut object, &ops).map_err(|e| e.to_string())?;
    Ok(object)
}

fn fix_json(mut document: Value, patched: &[(&Manifest, &[Value])]) -> Result<String, String> {
    for (manifest, patch) in patched {
        let object = patched_object(manifest, patch)?;
        let slot = document
            .pointer_mut(&manifest.pointer)
            .ok_or("the object moved")?;
        *slot = object;
    }
    let mut out = serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?;
    out.push('\n');
    Ok(out)
}

fn fix_yaml(text: &str, patched: &[(&Manifest, &[Value])]) -> Result<String, String> {
    // New lines end as the file's first line does.
    let eol = match text.find('\n') {
        Some(end) if text[..end].ends_with('\r') => "\r\n",
        _ => "\n",
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut edits = Vec::new();
    for (manifest, patch) in patched {
        for op in *patch {
            edits.push(edit_for(op, &manifest.source_map, &lines)?);
        }
    }
    // Bottom-up, and for one line the later edit first, so earlier inserts end up first.
    let mut indexed: Vec<(usize, Edit)> = edits.into_iter().enumerate().collect();
    indexed.sort_by(|(ai, a), (bi, b)| b.line().cmp(&a.line()).then(bi.cmp(ai)));
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    if out.last().is_some_and(|l| !l.ends_with('\n')) {
        out.last_mut().expect("non-empty").push_str(eol);
    }
    for (_, edit) in indexed {
        match edit {
            Edit::InsertBefore(line, new) => {
                let at = (line - 1).min(out.len());
                out.splice(at..at, new.into_iter().map(|l| l + eol));
            }
            Edit::Replace(line, new) => {
                out.splice(line - 1..line, new.into_iter().map(|l| l + eol));
            }
        }
    }
    let fixed = out.concat();
    verify(&fixed, patched)?;
    Ok(fixed)
}

/// The edited text must read back as exactly the patched objects.
fn verify(fixed: &str, patched: &[(&Manifest, &[Value])]) -> Result<(), String> {
    let documents = yaml::parse_stream(fixed);
    for (manifest, patch) in patched {
        let expected = patched_object(manifest, patch)?;
        let got = documents
            .get(manifest.document)
            .and_then(|d| d.as_ref().ok())
            .and_then(|d| d.value.pointer(&manifest.pointer));
        if got != Some(&expected) {
            return Err("its layout could not be edited safely (flow-style YAML?)".into());
        }
    }
    Ok(())
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Leading whitespace of a line, if the line's content starts at `column` (1-based).
fn indent_at(lines: &[&str], line: usize, column: usize) -> Option<usize> {
    let text = lines.get(line - 1)?;
    let prefix = text.get(..column - 1)?;
    prefix.chars().all(|c| c == ' ').then_some(column - 1)
}

/// How far a block sequence's dashes sit right of its key (0 or 2, by the file's habit).
fn sequence_offset(map: &SourceMap, parent: &str) -> usize {
    for (child, position) in map.children(parent) {
        let list = format!("{parent}/{child}");
        if let Some((_, first)) = map.children(&list).first()
            && first.line > position.line
        {
            // 0-based columns: the dash sits two left of the item's content.
            return first
                .column
                .saturating_sub(3)
                .saturating_sub(position.column - 1);
        }
    }
    2
}

fn edit_for(op: &Value, map: &SourceMap, lines: &[&str]) -> Result<Edit, String> {
    let unsupported = || "a patch operation it cannot place".to_owned();
    if op["op"] != "add" {
        return Err(unsupported());
    }
    let path = op["path"].as_str().ok_or_else(unsupported)?;
    let value = &op["value"];
    let (parent, last) = path.rsplit_once('/').ok_or_else(unsupported)?;
    let flow = || "its layout could not be edited safely (flow-style YAML?)".to_owned();
    if last == "-" {
        // Append to an existing sequence: after the last line of its last item.
        let items = map.children(parent);
        let Some((last_item, first_position)) = items
            .last()
            .map(|(i, _)| i.clone())
            .zip(items.first().map(|(_, p)| *p))
        else {
            // An empty flow list (`tolerations: []`): write it out with the new item.
            let (grandparent, key) = parent.rsplit_once('/').ok_or_else(unsupported)?;
            return member_edit(
                map,
                lines,
                grandparent,
                &unescape(key),
                &Value::Array(vec![value.clone()]),
            );
        };
        let dash = first_position.column.checked_sub(3).ok_or_else(flow)?;
        let dash_line = lines.get(first_position.line - 1).ok_or_else(flow)?;
        if dash_line.as_bytes().get(dash) != Some(&b'-')
            || !dash_line[..dash].chars().all(|c| c == ' ')
        {
            return Err(flow());
        }
        let after = map
            .last_line(&format!("{parent}/{last_item}"))
            .ok_or_else(flow)?;
        return Ok(Edit::InsertBefore(
            after + 1,
            yaml::item_lines(value, dash, sequence_offset(map, parent)),
        ));
    }
    member_edit(map, lines, parent, &unescape(last), value)
}

/// Sets `key` of the mapping at `parent` to `value`.
fn member_edit(
    map: &SourceMap,
    lines: &[&str],
    parent: &str,
    key: &str,
    value: &Value,
) -> Result<Edit, String> {
    let flow = || "its layout could not be edited safely (flow-style YAML?)".to_owned();
    let offset = sequence_offset(map, parent);
    let existing = format!("{parent}/{}", yaml::escape_pointer(key));
    let children = map.children(parent);
    if let Some((_, position)) = children.iter().find(|(c, _)| unescape(c) == key) {
        // Replace a member whose value fits on its line (null, a scalar, `[]`, `{}`).
        if !map.children(&existing).is_empty() || map.last_line(&existing) != Some(position.line) {
            return Err(flow());
        }
        let indent = indent_at(lines, position.line, position.column).ok_or_else(flow)?;
        return Ok(Edit::Replace(
            position.line,
            yaml::member_lines(key, value, indent, offset),
        ));
    }
    if let Some((_, first)) = children.first() {
        let indent = indent_at(lines, first.line, first.column).ok_or_else(flow)?;
        return Ok(Edit::InsertBefore(
            first.line,
            yaml::member_lines(key, value, indent, offset),
        ));
    }
    // An empty mapping written as `parent: {}` (or `parent:` with null): rewrite that line.
    let (grandparent, parent_key) = parent.rsplit_once('/').ok_or_else(flow)?;
    let mut member = serde_json::Map::new();
    member.insert(key.to_owned(), value.clone());
    member_edit(
        map,
        lines,
        grandparent,
        &unescape(parent_key),
        &Value::Object(member),
    )
}
