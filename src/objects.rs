//! Kubernetes objects read one at a time from files of any size: the output of `kubectl
//! get pods -A -o yaml` (or `-o json`), a `List`, or object documents, handed over one
//! object at a time. JSON is read by serde_json (fast: a 150,000-pod list is hundreds of
//! megabytes), from one buffer when the file is at most 256 MiB and streamed past that,
//! anything else by the YAML reader's streaming mode
//! ([`crate::yaml::objects`]); either way the items of a `List` are handed over one by
//! one. Files are opened within the bounds of [`crate::input`].

use std::io::{BufRead, BufReader, Read};
use std::marker::PhantomData;
use std::path::Path;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

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

/// Every object of every file under `path` (a file, or a folder walked as manifests are),
/// in order, handed to `each` with its file and position. Walk notices (special files
/// skipped) go to `notices`. `each` returns false to stop.
pub fn for_each_object(
    path: &Path,
    max_file_bytes: u64,
    notices: &mut Vec<String>,
    each: impl FnMut(Value, &str, Position) -> bool,
) -> Result<(), ObjectsError> {
    for_each_item::<Value>(path, max_file_bytes, notices, each)
}

/// What a reader is handed per object: a [`Value`] tree, or [`Object`].
pub trait Item: for<'de> serde::Deserialize<'de> {
    /// An object the YAML reader (or a top-level single object) already made a tree of.
    fn from_value(value: Value) -> Self;
}

impl Item for Value {
    fn from_value(value: Value) -> Self {
        value
    }
}

/// One object as JSON text where the input is JSON (the items of a list are never made
/// into trees: a reader decodes the kinds it knows straight into its own types, doctor's
/// 150,000 pods), or the tree the YAML reader made.
#[derive(Debug)]
pub enum Object {
    Text(Box<RawValue>),
    Tree(Value),
}

impl<'de> serde::Deserialize<'de> for Object {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Object::Text)
    }
}

impl Item for Object {
    fn from_value(value: Value) -> Self {
        Object::Tree(value)
    }
}

/// [`for_each_object`], each object handed over as `T`.
pub fn for_each_item<T: Item>(
    path: &Path,
    max_file_bytes: u64,
    notices: &mut Vec<String>,
    mut each: impl FnMut(T, &str, Position) -> bool,
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
        read_items_within(
            opened,
            max_file_bytes,
            &name,
            SLICE_BYTES,
            |item, position| {
                stopped = !each(item, &name, position);
                !stopped
            },
        )?;
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
    each: impl FnMut(Value, Position) -> bool,
) -> Result<(), ObjectsError> {
    read_items_within::<Value>(reader, limit, name, SLICE_BYTES, each)
}

/// The objects of one stream as `T`, JSON streams up to `slice_bytes` parsed from memory.
fn read_items_within<T: Item>(
    reader: impl Read,
    limit: u64,
    name: &str,
    slice_bytes: u64,
    mut each: impl FnMut(T, Position) -> bool,
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
            each(T::from_value(value), position)
        })
        .map_err(|e| invalid(e.position.line, e.position.column, e.message));
    }
    // A stream up to `slice_bytes` is read whole and parsed from memory: serde_json's
    // slice reader skips the per-byte reads of its io reader (twice as fast on a support
    // bundle, BENCHMARKS.md). Larger ones stream, holding one object at a time.
    let mut head = Vec::new();
    (&mut reader)
        .take(slice_bytes + 1)
        .read_to_end(&mut head)
        .map_err(|e| ObjectsError::Input {
            path: name.to_owned(),
            cause: InputError::Io(e),
        })?;
    let (outcome, read) = if head.len() as u64 <= slice_bytes {
        let read = head.len() as u64;
        (
            each_top_level(serde_json::Deserializer::from_slice(&head), &mut each),
            read,
        )
    } else {
        let mut counted = Counted {
            inner: std::io::Cursor::new(head).chain(reader),
            read: 0,
        };
        let outcome = each_top_level(
            serde_json::Deserializer::from_reader(&mut counted),
            &mut each,
        );
        (outcome, counted.read)
    };
    if read > limit {
        return Err(ObjectsError::Input {
            path: name.to_owned(),
            cause: InputError::TooLarge { limit },
        });
    }
    outcome.map_err(|e| {
        let mut message = e.to_string();
        if e.is_eof() {
            message.push_str(crate::yaml::CUT_SHORT);
        }
        invalid(e.line(), e.column(), message)
    })
}

/// JSON streams up to this size are parsed from memory (a transient copy of the file).
const SLICE_BYTES: u64 = 256 << 20;

/// Every top-level value of a JSON stream, its objects handed to `each`.
fn each_top_level<'de, R: serde_json::de::Read<'de>, T: Item>(
    mut deserializer: serde_json::Deserializer<R>,
    each: &mut impl FnMut(T, Position) -> bool,
) -> Result<(), serde_json::Error> {
    let mut stopped = false;
    loop {
        TopLevel {
            each: &mut *each,
            stopped: &mut stopped,
            item: PhantomData,
        }
        .deserialize(&mut deserializer)?;
        if stopped || deserializer.end().is_ok() {
            return Ok(());
        }
    }
}

/// A reader that counts what it gives.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let count = self.inner.read(buffer)?;
        self.read += count as u64;
        Ok(count)
    }
}

/// One top-level JSON value: a `List` (an object with `items`: each item handed over, the
/// rest dropped), an array (each element), or an object (handed over whole).
struct TopLevel<'a, F, T> {
    each: &'a mut F,
    stopped: &'a mut bool,
    item: PhantomData<T>,
}

impl<'de, F: FnMut(T, Position) -> bool, T: Item> DeserializeSeed<'de> for TopLevel<'_, F, T> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, F: FnMut(T, Position) -> bool, T: Item> Visitor<'de> for TopLevel<'_, F, T> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Kubernetes object, a List, or an array of objects")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut object = Map::new();
        let mut listed = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" && !*self.stopped {
                listed = true;
                map.next_value_seed(Items {
                    each: &mut *self.each,
                    stopped: &mut *self.stopped,
                    item: PhantomData,
                })?;
            } else {
                let value: Value = map.next_value()?;
                if !listed {
                    object.insert(key, value);
                }
            }
        }
        if !listed && !*self.stopped {
            *self.stopped = !(self.each)(T::from_value(Value::Object(object)), Position::default());
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Items {
            each: self.each,
            stopped: self.stopped,
            item: PhantomData,
        }
        .visit_seq(seq)
    }
}

/// The items of a `List` (or a top-level array), each handed over as it is read.
struct Items<'a, F, T> {
    each: &'a mut F,
    stopped: &'a mut bool,
    item: PhantomData<T>,
}

impl<'de, F: FnMut(T, Position) -> bool, T: Item> DeserializeSeed<'de> for Items<'_, F, T> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, F: FnMut(T, Position) -> bool, T: Item> Visitor<'de> for Items<'_, F, T> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<T>()? {
            if !*self.stopped {
                *self.stopped = !(self.each)(item, Position::default());
            }
        }
        Ok(())
    }
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
        // Parsed from memory, and streamed (a stream past the in-memory bound, here 4 bytes).
        for slice_bytes in [SLICE_BYTES, 4] {
            let mut seen = 0;
            let error = read_items_within::<Value>(
                &br#"{"items": [{"kind": "Pod"}, {"kind": "Po"#[..],
                1 << 20,
                "pods.json",
                slice_bytes,
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
            let error =
                read_items_within::<Value>(big.as_bytes(), 100, "big.json", slice_bytes, |_, _| {
                    true
                })
                .unwrap_err();
            assert!(error.to_string().contains("--max-file-bytes"), "{error}");
            let mut kinds = Vec::new();
            read_items_within::<Value>(
                &br#"{"kind": "List", "items": [{"kind": "A"}, {"kind": "B"}]} [{"kind": "C"}]"#[..],
                1 << 20,
                "two.json",
                slice_bytes,
                |value, _| {
                    kinds.push(value["kind"].as_str().unwrap().to_owned());
                    true
                },
            )
            .unwrap();
            assert_eq!(kinds, ["A", "B", "C"], "{slice_bytes}");
        }
    }
}
