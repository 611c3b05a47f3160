//! Kubernetes objects read one at a time from files of any size: the output of `kubectl
//! get pods -A -o yaml` (or `-o json`), a `List`, or object documents, handed over one
//! object at a time. JSON is split into its objects by `split` (a 150,000-pod list is
//! hundreds of megabytes: one object's text is held at a time), each decoded only by the
//! reader that wants it; anything else goes to the YAML reader's streaming mode
//! ([`crate::yaml::objects`]). Either way the items of a `List` are handed over one by
//! one. Files are opened within the bounds of [`crate::input`].

mod split;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;

use crate::input::{self, InputError, MANIFEST_EXTENSIONS, Walk};
use crate::yaml::Position;

/// Why a file's objects could not all be read; what was read before still counts.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    #[error("{path}: {cause}")]
    Input { path: String, cause: InputError },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
}

/// One object as found: its JSON text where the input is JSON (a reader decodes the kinds
/// it knows straight into its own types: doctor's 150,000 pods are never trees), or the
/// tree the YAML reader made.
#[derive(Debug)]
pub enum Found<'a> {
    Text(&'a str),
    Tree(Value),
}

/// Every object of every file under `path` (a file, or a folder walked as manifests are),
/// in order, handed to `each` with its file and position. Walk notices (special files
/// skipped) go to `notices`. `each` returns false to stop.
pub fn for_each_object(
    path: &Path,
    max_file_bytes: u64,
    notices: &mut Vec<String>,
    mut each: impl FnMut(Value, &str, Position) -> bool,
) -> Result<(), ObjectsError> {
    let mut invalid = None;
    for_each_found(path, max_file_bytes, notices, |found, file, at| {
        decoded(found, file, at, &mut invalid).is_some_and(|value| each(value, file, at))
    })?;
    invalid.map_or(Ok(()), Err)
}

/// [`for_each_object`], each object handed over as it was found, not decoded.
pub fn for_each_found(
    path: &Path,
    max_file_bytes: u64,
    notices: &mut Vec<String>,
    mut each: impl FnMut(Found<'_>, &str, Position) -> bool,
) -> Result<(), ObjectsError> {
    let mut walk = Walk::default();
    walk.add(path, MANIFEST_EXTENSIONS);
    if let Some((folder, cause)) = walk.errors.into_iter().next() {
        return Err(ObjectsError::Input {
            path: folder.display().to_string(),
            cause: InputError::Io(cause),
        });
    }
    notices.extend(walk.notices);
    for file in walk.files {
        let name = file.display().to_string();
        let opened =
            input::open_file(&file, max_file_bytes).map_err(|cause| ObjectsError::Input {
                path: name.clone(),
                cause,
            })?;
        let mut stopped = false;
        read_found(opened, max_file_bytes, &name, |found, position| {
            stopped = !each(found, &name, position);
            !stopped
        })?;
        if stopped {
            break;
        }
    }
    Ok(())
}

/// The objects of one stream, JSON or YAML.
pub fn read_objects(
    reader: impl Read,
    limit: u64,
    name: &str,
    mut each: impl FnMut(Value, Position) -> bool,
) -> Result<(), ObjectsError> {
    let mut invalid = None;
    read_found(reader, limit, name, |found, at| {
        decoded(found, name, at, &mut invalid).is_some_and(|value| each(value, at))
    })?;
    invalid.map_or(Ok(()), Err)
}

/// An object's tree: the YAML reader's, or its JSON text decoded. `None` when the text
/// does not decode: the error is kept in `invalid`, and reading stops there.
fn decoded(
    found: Found<'_>,
    file: &str,
    at: Position,
    invalid: &mut Option<ObjectsError>,
) -> Option<Value> {
    match found {
        Found::Tree(value) => Some(value),
        Found::Text(text) => match serde_json::from_str(text) {
            Ok(value) => Some(value),
            Err(e) => {
                *invalid = Some(invalid_text(e, file, at));
                None
            }
        },
    }
}

/// An object's text that does not decode, placed in its file: serde_json counts lines and
/// columns from the start of the text, which starts at `at`.
pub fn invalid_text(error: serde_json::Error, file: &str, at: Position) -> ObjectsError {
    let (line, column) = match error.line() {
        0 | 1 => (at.line, at.column + error.column().saturating_sub(1)),
        line => (at.line + line - 1, error.column()),
    };
    let mut message = error.to_string();
    if let Some(cut) = message.rfind(" at line ") {
        message.truncate(cut);
    }
    ObjectsError::Invalid {
        path: file.to_owned(),
        line,
        column,
        message,
    }
}

/// The objects of one stream as found, at most `limit` bytes of it.
fn read_found(
    reader: impl Read,
    limit: u64,
    name: &str,
    mut each: impl FnMut(Found<'_>, Position) -> bool,
) -> Result<(), ObjectsError> {
    let mut reader = BufReader::with_capacity(256 * 1024, reader.take(limit.saturating_add(1)));
    let starts_json = loop {
        let buffer = reader.fill_buf().map_err(|e| ObjectsError::Input {
            path: name.to_owned(),
            cause: InputError::Io(e),
        })?;
        match buffer.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(at) => break matches!(buffer[at], b'{' | b'['),
            None if buffer.is_empty() => return Ok(()),
            None => {
                let length = buffer.len();
                reader.consume(length);
            }
        }
    };
    let invalid = |line: usize, column: usize, message: String| ObjectsError::Invalid {
        path: name.to_owned(),
        line,
        column,
        message,
    };
    if !starts_json {
        return crate::yaml::objects(reader, limit, |value, position| {
            each(Found::Tree(value), position)
        })
        .map_err(|e| invalid(e.position.line, e.position.column, e.message));
    }
    let mut splitter = split::Splitter::new(reader);
    let outcome = splitter.for_each(|piece| each(Found::Text(piece.text), piece.at));
    if splitter.consumed() > limit {
        return Err(ObjectsError::Input {
            path: name.to_owned(),
            cause: InputError::TooLarge { limit },
        });
    }
    outcome.map_err(|e| match e.io {
        Some(cause) => ObjectsError::Input {
            path: name.to_owned(),
            cause: InputError::Io(cause),
        },
        None => {
            let mut message = e.message;
            if e.eof {
                message.push_str(crate::yaml::CUT_SHORT);
            }
            invalid(e.position.line, e.position.column, message)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<String> {
        let mut kinds = Vec::new();
        read_objects(text.as_bytes(), 1 << 20, "t", |value, _| {
            kinds.push(format!(
                "{}/{}",
                value["kind"].as_str().unwrap_or(""),
                value["metadata"]["name"].as_str().unwrap_or("")
            ));
            true
        })
        .unwrap();
        kinds
    }

    #[test]
    fn lists_arrays_and_objects_give_their_objects_in_json_and_yaml() {
        let json = r#"{"apiVersion": "v1", "items": [{"kind": "Pod", "metadata": {"name": "a"}}, {"kind": "Pod", "metadata": {"name": "b"}}], "kind": "List"}
{"kind": "Node", "metadata": {"name": "n1"}}
[{"kind": "Event", "metadata": {"name": "e"}}]"#;
        assert_eq!(kinds(json), ["Pod/a", "Pod/b", "Node/n1", "Event/e"]);
        let yaml = "apiVersion: v1\nitems:\n- kind: Pod\n  metadata: {name: a}\nkind: List\n---\nkind: Node\nmetadata: {name: n1}\n";
        assert_eq!(kinds(yaml), ["Pod/a", "Node/n1"]);
        assert!(kinds("\n\n").is_empty());
        assert_eq!(
            kinds(r#"{"kind": "List", "items": null}"#),
            Vec::<String>::new()
        );
    }

    #[test]
    fn truncated_and_oversized_input_is_an_error_after_what_was_read() {
        let mut seen = 0;
        let error = read_objects(
            &br#"{"items": [{"kind": "Pod"}, {"kind": "Po"#[..],
            1 << 20,
            "pods.json",
            |_, _| {
                seen += 1;
                true
            },
        )
        .unwrap_err();
        assert_eq!(seen, 1);
        assert!(error.to_string().starts_with("pods.json:1:"), "{error}");
        assert!(error.to_string().contains("cut short"), "{error}");
        let big = format!("[{}{{}}]", "{},".repeat(1000));
        let error = read_objects(big.as_bytes(), 100, "big.json", |_, _| true).unwrap_err();
        assert!(error.to_string().contains("--max-file-bytes"), "{error}");
        let mut kinds = Vec::new();
        read_objects(
            &br#"{"kind": "List", "items": [{"kind": "A"}, {"kind": "B"}]} [{"kind": "C"}]"#[..],
            1 << 20,
            "two.json",
            |value, _| {
                kinds.push(value["kind"].as_str().unwrap().to_owned());
                true
            },
        )
        .unwrap();
        assert_eq!(kinds, ["A", "B", "C"]);
    }

    #[test]
    fn an_object_that_does_not_decode_is_placed_in_its_file() {
        let text = "[\n  {\"kind\": \"A\"},\n  {\"kind\": tru}\n]";
        let mut seen = 0;
        let error = read_objects(text.as_bytes(), 1 << 20, "x.json", |_, _| {
            seen += 1;
            true
        })
        .unwrap_err()
        .to_string();
        assert_eq!(seen, 1);
        // `tru` starts at line 3, column 12; serde_json reports where it stopped reading.
        assert!(error.starts_with("x.json:3:1"), "{error}");
        assert!(!error.contains("at line"), "{error}");
        let text = "{\"items\": [\n {\"a\": 1,\n  \"b\": [1, 2,]}]}";
        let error = read_objects(text.as_bytes(), 1 << 20, "y.json", |_, _| true)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("y.json:3:"), "{error}");
    }
}
