//! YAML streams to JSON values, with the source position of every node.
//!
//! Kubernetes reads YAML by converting it to JSON (`sigs.k8s.io/yaml` over go-yaml v2), so
//! dsguard does the same: every document becomes a `serde_json::Value`, scalars resolved
//! as go-yaml v2 resolves them (`yes`/`on` are booleans, `0x1F` an integer, `~` null), so a
//! manifest means here what it means to `kubectl`. A [`SourceMap`] keeps the line and column
//! of every node by JSON pointer, which is how a finding about
//! `/spec/template/spec/containers/1/resources` is reported at its `file:line:col`.
//!
//! The stream is split at `---` lines first and each document parsed alone, so one broken
//! document is reported with its line and the others are still read.
//!
//! Hostile input is bounded here, at the edge (docs/decisions.md, "Limits on input"):
//! alias expansion follows go-yaml v2's own "excessive aliasing" rule, so a "billion laughs"
//! document is refused before anything is copied, exactly where `kubectl` refuses it; and
//! nesting deeper than [`MAX_DEPTH`] is refused, since nothing downstream (serde, the
//! webhook's JSON reader) reads deeper.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

/// A 1-based line and column in the source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Where each node of a document starts, by JSON pointer. A mapping member is placed at
/// its key (`nodeSelector:`), a sequence item at the item.
///
/// Stored as a list in document order: building it is on the hot path of every lint
/// (one entry per node), looking things up is not (a few per finding).
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    positions: Vec<(Box<str>, Position)>,
}

impl SourceMap {
    /// The position of `pointer`, or of its nearest ancestor that exists in the source
    /// (a finding about a field that is missing points at the object that should hold it).
    pub fn position(&self, pointer: &str) -> Option<Position> {
        let mut pointer = pointer;
        loop {
            if let Some((_, position)) = self.positions.iter().find(|(p, _)| p.as_ref() == pointer)
            {
                return Some(*position);
            }
            pointer = &pointer[..pointer.rfind('/')?];
        }
    }

    /// The position recorded for exactly `pointer`, if one was.
    pub fn position_of_exactly(&self, pointer: &str) -> Option<Position> {
        self.positions
            .iter()
            .find(|(p, _)| p.as_ref() == pointer)
            .map(|(_, position)| *position)
    }

    /// The direct children of `pointer` (members of a mapping, items of a sequence) with
    /// their positions, in source order.
    pub fn children(&self, pointer: &str) -> Vec<(String, Position)> {
        let prefix = format!("{pointer}/");
        let mut children: Vec<(String, Position)> = self
            .positions
            .iter()
            .filter_map(|(p, position)| {
                let rest = p.strip_prefix(prefix.as_str())?;
                (!rest.contains('/')).then(|| (rest.to_owned(), *position))
            })
            .collect();
        children.sort_by_key(|(_, position)| *position);
        children
    }

    /// The last line any node under `pointer` starts on.
    pub fn last_line(&self, pointer: &str) -> Option<usize> {
        let prefix = format!("{pointer}/");
        self.positions
            .iter()
            .filter(|(p, _)| p.as_ref() == pointer || p.starts_with(prefix.as_str()))
            .map(|(_, position)| position.line)
            .max()
    }

    /// Every child of `parent` as a map of its own (each item of a `List` becomes a
    /// document), keyed by the child's token: one pass over the map, however many
    /// children there are.
    pub fn subtrees(&self, parent: &str) -> HashMap<String, SourceMap> {
        let mut children: HashMap<String, SourceMap> = HashMap::new();
        for (pointer, position) in &self.positions {
            let Some(rest) = pointer
                .strip_prefix(parent)
                .and_then(|rest| rest.strip_prefix('/'))
            else {
                continue;
            };
            let (token, below) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            children
                .entry(token.to_owned())
                .or_default()
                .positions
                .push((Box::from(below), *position));
        }
        children
    }
}

/// One document of a YAML stream.
#[derive(Clone, Debug)]
pub struct YamlDocument {
    pub value: Value,
    pub source_map: SourceMap,
    /// Where the document's content starts.
    pub position: Position,
    /// Keys written twice in one mapping (the later value is kept, as kubectl keeps it),
    /// at most [`MAX_DUPLICATES_NOTED`] of them.
    pub duplicates: Vec<DuplicateKey>,
}

/// A key written twice in one mapping. kubectl reads YAML with sigs.k8s.io/yaml, which
/// keeps the later value without a word; so does dsguard, and says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateKey {
    /// The member's JSON pointer.
    pub pointer: String,
    pub first: Position,
    /// The one whose value is kept.
    pub kept: Position,
}

/// Duplicates noted per document; a file made of thousands of them is said in a few.
pub const MAX_DUPLICATES_NOTED: usize = 20;

/// A document that could not be read, with where and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {}, column {}: {message}", position.line, position.column)]
pub struct YamlError {
    pub position: Position,
    pub message: String,
}

/// Every document of `text`, each read on its own. Empty documents (only comments or
/// whitespace, as between two `---` of a Helm render) are skipped.
///
/// Large streams (`helm template` of a whole platform) are parsed on every core: documents
/// are independent, and the result keeps their order.
pub fn parse_stream(text: &str) -> Vec<Result<YamlDocument, YamlError>> {
    let chunks = split_documents(text);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 || text.len() < PARALLEL_THRESHOLD || chunks.len() < 2 {
        return parse_chunks(&chunks);
    }
    let per_thread = chunks.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .chunks(per_thread)
            .map(|group| scope.spawn(move || parse_chunks(group)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a YAML parse thread does not panic"))
            .collect()
    })
}

/// Below this many bytes a stream is parsed on one thread (spawning costs more).
const PARALLEL_THRESHOLD: usize = 256 * 1024;

/// The documents of one chunk of a stream that starts on 0-based line `first_line`: a
/// chunk as [`DocumentChunks`] or the splitter of [`parse_stream`] cuts it (one document,
/// or none when it holds only comments).
pub fn parse_document_chunk(
    chunk: &str,
    first_line: usize,
) -> Vec<Result<YamlDocument, YamlError>> {
    parse_chunks(&[(first_line, chunk)])
}

/// A YAML stream read from `reader` one document chunk at a time, cut where
/// [`parse_stream`] cuts (at lines starting with `---`, line breaks as YAML counts them),
/// so a stream of any size is parsed without holding more than one document of it: each
/// item is the chunk's first line (0-based) and its text. At most `limit` bytes are read
/// (past it, an error); text that is not UTF-8 is an error at the chunk that holds it.
pub struct DocumentChunks<R> {
    reader: R,
    limit: u64,
    read: u64,
    /// Bytes read; those before `cursor` are already cut into lines.
    pending: Vec<u8>,
    cursor: usize,
    /// The chunk being gathered, and its first line.
    chunk: Vec<u8>,
    chunk_line: usize,
    line: usize,
    done: bool,
}

/// Why a stream could not be read to its end.
#[derive(Debug)]
pub enum ChunkError {
    Io(std::io::Error),
    TooLarge { limit: u64 },
    NotText { line: usize },
}

impl<R: std::io::Read> DocumentChunks<R> {
    pub fn new(reader: R, limit: u64) -> Self {
        Self {
            reader,
            limit,
            read: 0,
            pending: Vec::new(),
            cursor: 0,
            chunk: Vec::new(),
            chunk_line: 0,
            line: 0,
            done: false,
        }
    }

    /// Where the next line of the stream ends in `pending` (after its break: `\n`,
    /// `\r\n` or a lone `\r`), or `None` at the end of the stream.
    fn next_line(&mut self) -> Result<Option<usize>, ChunkError> {
        loop {
            let unread = &self.pending[self.cursor..];
            if let Some(at) = unread.iter().position(|b| *b == b'\n' || *b == b'\r') {
                let end = self.cursor + at;
                // A `\r` at the end of what was read may be the first half of `\r\n`.
                if self.pending[end] == b'\r' && end + 1 == self.pending.len() && !self.done {
                    // Filling moves what is unread to the front: look again either way.
                    if !self.fill()? {
                        self.done = true;
                    }
                    continue;
                }
                let mut cut = end + 1;
                if self.pending[end] == b'\r' && self.pending.get(end + 1) == Some(&b'\n') {
                    cut += 1;
                }
                return Ok(Some(cut));
            }
            if self.done || !self.fill()? {
                self.done = true;
                return Ok((self.cursor < self.pending.len()).then_some(self.pending.len()));
            }
        }
    }

    /// Reads more; false at the end of the stream. What was cut already is dropped first,
    /// so the buffer holds one read and the line in progress.
    fn fill(&mut self) -> Result<bool, ChunkError> {
        if self.cursor > 0 {
            self.pending.drain(..self.cursor);
            self.cursor = 0;
        }
        let mut buffer = [0u8; 64 * 1024];
        let count = loop {
            match self.reader.read(&mut buffer) {
                Ok(count) => break count,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ChunkError::Io(e)),
            }
        };
        self.read += count as u64;
        if self.read > self.limit {
            return Err(ChunkError::TooLarge { limit: self.limit });
        }
        self.pending.extend_from_slice(&buffer[..count]);
        Ok(count > 0)
    }

    fn take_chunk(&mut self, next_line: usize) -> Result<Option<(usize, String)>, ChunkError> {
        if self.chunk.is_empty() {
            self.chunk_line = next_line;
            return Ok(None);
        }
        let bytes = std::mem::take(&mut self.chunk);
        let first = std::mem::replace(&mut self.chunk_line, next_line);
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Some((first, text))),
            Err(_) => Err(ChunkError::NotText { line: first + 1 }),
        }
    }
}

impl<R: std::io::Read> Iterator for DocumentChunks<R> {
    type Item = Result<(usize, String), ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let end = match self.next_line() {
                Ok(Some(end)) => end,
                Ok(None) => {
                    let last = self.line;
                    return match self.take_chunk(last) {
                        Ok(Some(chunk)) => Some(Ok(chunk)),
                        Ok(None) => None,
                        Err(e) => Some(Err(e)),
                    };
                }
                Err(e) => {
                    self.done = true;
                    self.pending.clear();
                    self.cursor = 0;
                    self.chunk.clear();
                    return Some(Err(e));
                }
            };
            let start = std::mem::replace(&mut self.cursor, end);
            let number = self.line;
            self.line += 1;
            let line = &self.pending[start..end];
            let is_marker = line.starts_with(b"---")
                && line[3..].first().is_none_or(|b| b.is_ascii_whitespace());
            if is_marker && !self.chunk.is_empty() {
                let taken = self.take_chunk(number);
                self.chunk.extend_from_slice(&self.pending[start..end]);
                match taken {
                    Ok(Some(chunk)) => return Some(Ok(chunk)),
                    Ok(None) => continue,
                    Err(e) => return Some(Err(e)),
                }
            }
            if self.chunk.is_empty() {
                self.chunk_line = number;
            }
            self.chunk.extend_from_slice(&self.pending[start..end]);
        }
    }
}

fn parse_chunks(chunks: &[(usize, &str)]) -> Vec<Result<YamlDocument, YamlError>> {
    let mut documents = Vec::new();
    for &(first_line, chunk) in chunks {
        match parse_chunk(chunk, first_line) {
            Ok(docs) => documents.extend(docs.into_iter().map(Ok)),
            Err(error) => documents.push(Err(error)),
        }
    }
    documents
}

/// What an error at the very end of the input adds (YAML here, JSON in
/// [`crate::objects::read_objects`]): the stream ends inside an object, the usual sign of a
/// copy cut short.
pub const CUT_SHORT: &str = " (the input ends inside an object: is the file cut short?)";

/// Every object of a YAML (or JSON, which is YAML) stream read from `reader`, handed to
/// `each` one at a time as soon as it is complete: the items of a `List` (a document's
/// top-level `items`) and of a top-level sequence one by one, any other document whole.
/// Only the object being read is held, so a `kubectl get pods -A -o yaml` of any size is
/// read in bounded memory. At most `limit` bytes are read. `each` returns false to stop.
pub fn objects<R: std::io::Read>(
    reader: R,
    limit: u64,
    mut each: impl FnMut(Value, Position) -> bool,
) -> Result<(), YamlError> {
    let mut chars = Utf8Chars {
        reader,
        limit,
        read: 0,
        buffer: Vec::new(),
        at: 0,
        failure: None,
        line: 1,
    };
    let mut builder = Builder::new(0, 0);
    builder.streaming = true;
    builder.position_budget = 0;
    let mut failed = None;
    for event in Parser::new_from_iter(&mut chars) {
        let result = event
            .map_err(|e| YamlError {
                position: Position {
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                },
                message: e.info().to_owned(),
            })
            .and_then(|(event, span)| builder.event(event, span));
        if let Err(error) = result {
            failed = Some(error);
            break;
        }
        for (value, position) in builder.emitted.drain(..) {
            if !each(value, position) {
                return Ok(());
            }
        }
    }
    if let Some(why) = chars.failure.take() {
        return Err(YamlError {
            position: Position {
                line: chars.line,
                column: 1,
            },
            message: why,
        });
    }
    match failed {
        // Nothing but blank text after the error: the stream ends inside an object, the
        // usual sign of a copy cut short (a truncated download or support bundle).
        Some(mut error)
            if (&mut chars).take(4096).all(char::is_whitespace)
                && (&mut chars).next().is_none()
                && chars.failure.is_none() =>
        {
            error.message.push_str(CUT_SHORT);
            Err(error)
        }
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// The characters of a UTF-8 byte stream, for the event parser; a read error, text that
/// is not UTF-8, or a stream past `limit` ends it and is kept in `failure`.
struct Utf8Chars<R> {
    reader: R,
    limit: u64,
    read: u64,
    buffer: Vec<u8>,
    at: usize,
    failure: Option<String>,
    /// The line being read, for the failure's position.
    line: usize,
}

impl<R: std::io::Read> Iterator for &mut Utf8Chars<R> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        if self.failure.is_some() {
            return None;
        }
        loop {
            let unread = &self.buffer[self.at..];
            if let Some(&first) = unread.first() {
                let width = match first {
                    0x00..=0x7f => 1,
                    0xc0..=0xdf => 2,
                    0xe0..=0xef => 3,
                    0xf0..=0xf7 => 4,
                    _ => 0,
                };
                if width > 0 && unread.len() >= width {
                    match std::str::from_utf8(&unread[..width]) {
                        Ok(text) => {
                            self.at += width;
                            let c = text.chars().next().expect("one character");
                            if c == '\n' {
                                self.line += 1;
                            }
                            return Some(c);
                        }
                        Err(_) => {
                            self.failure = Some("the input is not UTF-8 text".into());
                            return None;
                        }
                    }
                }
                if width == 0 {
                    self.failure = Some("the input is not UTF-8 text".into());
                    return None;
                }
            }
            // Refill, keeping a character cut between two reads.
            self.buffer.drain(..self.at);
            self.at = 0;
            let mut chunk = [0u8; 64 * 1024];
            let count = match self.reader.read(&mut chunk) {
                Ok(count) => count,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.failure = Some(format!("cannot read: {e}"));
                    return None;
                }
            };
            self.read += count as u64;
            if self.read > self.limit {
                self.failure = Some(format!(
                    "is larger than the {}-byte limit for one input file (raise it with --max-file-bytes)",
                    self.limit
                ));
                return None;
            }
            if count == 0 {
                if !self.buffer.is_empty() {
                    self.failure = Some("the input is not UTF-8 text".into());
                }
                return None;
            }
            self.buffer.extend_from_slice(&chunk[..count]);
        }
    }
}

/// The lines of `text` as YAML counts them, each with its line break: a break is `\n`,
/// `\r\n` or a lone `\r` (YAML 1.2 §5.4; editors agree). The parser numbers lines this
/// way, so the splitter must too, or every position after a lone `\r` is off.
pub fn yaml_lines(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let mut end = start;
        while end < bytes.len() && bytes[end] != b'\n' && bytes[end] != b'\r' {
            end += 1;
        }
        if end < bytes.len() {
            end += if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
        }
        let line = &text[start..end];
        start = end;
        Some(line)
    })
}

/// Splits at lines starting with `---` (a document marker: block content at column 0
/// cannot start with it). Returns each chunk with its first line number (0-based offset).
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut start_line = 0;
    let mut offset = 0;
    for (line_number, line) in yaml_lines(text).enumerate() {
        let is_marker =
            line.starts_with("---") && line[3..].chars().next().is_none_or(char::is_whitespace);
        if is_marker && offset > start {
            chunks.push((start_line, &text[start..offset]));
            start = offset;
            start_line = line_number;
        }
        offset += line.len();
    }
    if offset > start {
        chunks.push((start_line, &text[start..offset]));
    }
    chunks
}

fn parse_chunk(chunk: &str, line_offset: usize) -> Result<Vec<YamlDocument>, YamlError> {
    let mut builder = Builder::new(line_offset, chunk.len());
    for event in Parser::new_from_str(chunk) {
        let (event, span) = event.map_err(|e| {
            let line = e.marker().line() + line_offset;
            // The first line with content, which is where a reader looks for the document.
            let start = yaml_lines(chunk)
                .position(|l| {
                    !l.trim().is_empty()
                        && !l.starts_with("---")
                        && !l.trim_start().starts_with('#')
                })
                .map_or(line_offset + 1, |i| i + line_offset + 1);
            let context = if start < line {
                format!(" (in the document starting at line {start})")
            } else {
                String::new()
            };
            YamlError {
                position: Position {
                    line,
                    column: e.marker().col() + 1,
                },
                message: format!("{}{context}", e.info()),
            }
        })?;
        builder.event(event, span)?;
    }
    Ok(builder.documents)
}

/// How deeply collections may nest: serde_json's own recursion limit, so that whatever
/// this reader accepts, the webhook's JSON reader would accept too.
pub const MAX_DEPTH: usize = 128;

/// go-yaml v2 (`decode.go`, `allowedAliasRatio`): the share of decoded nodes that may come
/// from alias expansion, 99% up to 400,000 nodes, falling to 10% at 4,000,000.
fn allowed_alias_ratio(decoded: u64) -> f64 {
    const LOW: u64 = 400_000;
    const HIGH: u64 = 4_000_000;
    match decoded {
        d if d <= LOW => 0.99,
        d if d >= HIGH => 0.10,
        d => 0.99 - 0.89 * ((d - LOW) as f64 / (HIGH - LOW) as f64),
    }
}

/// go-yaml v2's "document contains excessive aliasing" test, over node counts.
fn excessive_aliasing(decoded: u64, aliased: u64) -> bool {
    aliased > 100
        && decoded > 1000
        && aliased as f64 / decoded as f64 > allowed_alias_ratio(decoded)
}

enum Frame {
    Sequence {
        items: Vec<Value>,
        pointer: String,
        anchor: usize,
        /// Nodes in this collection, itself included (what an alias to it expands to).
        nodes: u64,
    },
    Mapping {
        map: Map<String, Value>,
        pointer: String,
        anchor: usize,
        /// The key read, waiting for its value; and whether it was a `<<` merge key.
        pending_key: Option<(String, bool)>,
        nodes: u64,
        /// The keys written explicitly, kept only once a merge has put others in the map
        /// (until then every key in it was written explicitly).
        explicit: Option<std::collections::HashSet<String>>,
    },
}

impl Frame {
    fn nodes(&mut self) -> &mut u64 {
        match self {
            Frame::Sequence { nodes, .. } | Frame::Mapping { nodes, .. } => nodes,
        }
    }
}

struct Builder {
    line_offset: usize,
    stack: Vec<Frame>,
    /// Anchored values with their node counts.
    anchors: HashMap<usize, (Value, u64)>,
    /// Nodes decoded in this document, and how many of them came from alias expansion.
    decoded: u64,
    aliased: u64,
    source_map: SourceMap,
    /// Pointer bytes the source map may still hold for this chunk. Every node's pointer
    /// repeats its ancestors' keys, so a long key above many siblings would multiply the
    /// input; past the budget, positions are no longer recorded and lookups fall back to
    /// the nearest recorded ancestor (a real manifest uses a few percent of it).
    position_budget: usize,
    document_position: Position,
    /// Keys written twice in the document being read.
    duplicates: Vec<DuplicateKey>,
    documents: Vec<YamlDocument>,
    /// Streaming ([`objects`]): each object is handed over as soon as it is complete, an
    /// item of a document's top-level `items` (a `List`) or of a top-level sequence, or
    /// the document itself; no positions are kept.
    streaming: bool,
    /// The objects completed since the caller last took them, with where they start.
    emitted: Vec<(Value, Position)>,
    /// Where the item being read starts, and whether the document's items were handed
    /// over (the `List` around them is then not an object of its own).
    item_start: Position,
    items_streamed: bool,
}

/// What a node is, from where it sits: a key, a value at `pointer`, or a merge source.
enum Slot {
    Key,
    Value(String),
}

impl Builder {
    fn new(line_offset: usize, chunk_len: usize) -> Self {
        Self {
            position_budget: chunk_len.saturating_mul(64).max(1 << 16),
            line_offset,
            stack: Vec::new(),
            anchors: HashMap::new(),
            decoded: 0,
            aliased: 0,
            source_map: SourceMap::default(),
            document_position: Position::default(),
            duplicates: Vec::new(),
            documents: Vec::new(),
            streaming: false,
            emitted: Vec::new(),
            item_start: Position::default(),
            items_streamed: false,
        }
    }

    fn position(&self, span: &Span) -> Position {
        Position {
            line: span.start.line() + self.line_offset,
            column: span.start.col() + 1,
        }
    }

    fn error(&self, span: &Span, message: impl Into<String>) -> YamlError {
        YamlError {
            position: self.position(span),
            message: message.into(),
        }
    }

    /// Where the next node goes, recording its position.
    /// Whether a value completed at the top of the stack is a streamed object: an item of
    /// the root's `items` or of a root sequence.
    fn at_streamed_sequence(&self) -> bool {
        self.streaming
            && match (self.stack.len(), self.stack.last()) {
                (1, Some(Frame::Sequence { .. })) => true,
                (2, Some(Frame::Sequence { pointer, .. })) => pointer == "/items",
                _ => false,
            }
    }

    fn next_slot(&mut self, span: &Span) -> Slot {
        let position = self.position(span);
        if self.at_streamed_sequence() {
            self.item_start = position;
        }
        let pointer = match self.stack.last() {
            None => {
                self.document_position = position;
                String::new()
            }
            Some(Frame::Sequence { items, pointer, .. }) => {
                use std::fmt::Write as _;
                let mut child = String::with_capacity(pointer.len() + 4);
                let _ = write!(child, "{pointer}/{}", items.len());
                child
            }
            Some(Frame::Mapping {
                pending_key: None, ..
            }) => return Slot::Key,
            Some(Frame::Mapping {
                pending_key: Some((key, _)),
                pointer,
                ..
            }) => child_pointer(pointer, key),
        };
        // Mapping members are placed at their key, recorded when the key was read.
        if !matches!(self.stack.last(), Some(Frame::Mapping { .. })) {
            self.record(Box::from(pointer.as_str()), position);
        }
        Slot::Value(pointer)
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                self.anchors.clear();
                self.decoded = 0;
                self.aliased = 0;
                self.source_map = SourceMap::default();
                self.duplicates.clear();
            }
            Event::Scalar(text, style, anchor, tag) => {
                let slot = self.next_slot(&span);
                let value = resolve_scalar(&text, style, tag.as_deref())
                    .map_err(|why| self.error(&span, why))?;
                self.count(1);
                if anchor > 0 {
                    self.anchors.insert(anchor, (value.clone(), 1));
                }
                match slot {
                    Slot::Key => self.set_key(&text, value, &span)?,
                    Slot::Value(_) => self.complete(value, &span)?,
                }
            }
            Event::Alias(anchor) => {
                let slot = self.next_slot(&span);
                let nodes = self
                    .anchors
                    .get(&anchor)
                    .map(|(_, nodes)| *nodes)
                    .ok_or_else(|| self.error(&span, "alias to an unknown anchor"))?;
                // Judged before anything is copied: the expansion is refused, not built.
                self.decoded += nodes;
                self.aliased += nodes;
                if excessive_aliasing(self.decoded, self.aliased) {
                    return Err(self.error(
                        &span,
                        format!(
                            "the document contains excessive aliasing: expanding its aliases would make more than {} nodes (the limit Kubernetes' own YAML reader applies)",
                            self.decoded
                        ),
                    ));
                }
                if let Some(parent) = self.stack.last_mut() {
                    *parent.nodes() += nodes;
                }
                let value = self.anchors[&anchor].0.clone();
                match slot {
                    Slot::Key => {
                        let text = key_text(&value)
                            .ok_or_else(|| self.error(&span, "a mapping key must be a scalar"))?;
                        self.set_key(&text, value, &span)?;
                    }
                    Slot::Value(_) => self.complete(value, &span)?,
                }
            }
            Event::SequenceStart(anchor, _) => match self.next_slot(&span) {
                Slot::Key => return Err(self.error(&span, "a mapping key must be a scalar")),
                Slot::Value(pointer) => {
                    self.check_depth(&span)?;
                    self.stack.push(Frame::Sequence {
                        items: Vec::new(),
                        pointer,
                        anchor,
                        nodes: 1,
                    });
                }
            },
            Event::MappingStart(anchor, _) => match self.next_slot(&span) {
                Slot::Key => return Err(self.error(&span, "a mapping key must be a scalar")),
                Slot::Value(pointer) => {
                    self.check_depth(&span)?;
                    self.stack.push(Frame::Mapping {
                        map: Map::new(),
                        pointer,
                        anchor,
                        pending_key: None,
                        nodes: 1,
                        explicit: None,
                    });
                }
            },
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor, nodes) = match self.stack.pop() {
                    Some(Frame::Sequence {
                        items,
                        anchor,
                        nodes,
                        ..
                    }) => (Value::Array(items), anchor, nodes),
                    Some(Frame::Mapping {
                        map, anchor, nodes, ..
                    }) => (Value::Object(map), anchor, nodes),
                    None => return Err(self.error(&span, "unbalanced end of collection")),
                };
                self.decoded += 1;
                if let Some(parent) = self.stack.last_mut() {
                    *parent.nodes() += nodes;
                }
                if anchor > 0 {
                    self.anchors.insert(anchor, (value.clone(), nodes));
                }
                self.complete(value, &span)?;
            }
        }
        Ok(())
    }

    /// One scalar decoded, as part of the collection being built.
    fn count(&mut self, nodes: u64) {
        self.decoded += nodes;
        if let Some(parent) = self.stack.last_mut() {
            *parent.nodes() += nodes;
        }
    }

    fn check_depth(&self, span: &Span) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.error(
                span,
                format!("collections nest more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn set_key(&mut self, text: &str, resolved: Value, span: &Span) -> Result<(), YamlError> {
        let key = key_text(&resolved).unwrap_or_else(|| text.to_owned());
        let position = self.position(span);
        if let Some(Frame::Mapping {
            map,
            pointer,
            pending_key,
            explicit,
            ..
        }) = self.stack.last_mut()
        {
            let is_merge = text == "<<" && resolved == Value::String("<<".into());
            // A duplicate key keeps its first position (the value is the last one's).
            let member = child_pointer(pointer, &key);
            let written_before = !is_merge
                && match explicit {
                    None => map.contains_key(&key),
                    Some(keys) => !keys.insert(key.clone()),
                };
            *pending_key = Some((key, is_merge));
            if is_merge {
                // Placed at the mapping; its members keep the positions of their source.
            } else if !written_before {
                self.record(member.into_boxed_str(), position);
            } else if self.duplicates.len() < MAX_DUPLICATES_NOTED {
                let first = self
                    .source_map
                    .position_of_exactly(&member)
                    .unwrap_or(position);
                self.duplicates.push(DuplicateKey {
                    pointer: member,
                    first,
                    kept: position,
                });
            }
        }
        Ok(())
    }

    fn record(&mut self, pointer: Box<str>, position: Position) {
        if let Some(left) = self.position_budget.checked_sub(pointer.len()) {
            self.position_budget = left;
            self.source_map.positions.push((pointer, position));
        }
    }

    /// A node is finished: it becomes a sequence item, a mapping value, or the document.
    fn complete(&mut self, value: Value, span: &Span) -> Result<(), YamlError> {
        if self.at_streamed_sequence() {
            self.items_streamed = true;
            self.emitted.push((value, self.item_start));
            return Ok(());
        }
        match self.stack.last_mut() {
            // An empty document (comments only) reads as null: nothing to report.
            None if value.is_null() => Ok(()),
            None if self.streaming => {
                if !std::mem::take(&mut self.items_streamed) && !value.is_array() {
                    self.emitted.push((value, self.document_position));
                }
                Ok(())
            }
            None => {
                self.documents.push(YamlDocument {
                    value,
                    source_map: std::mem::take(&mut self.source_map),
                    position: self.document_position,
                    duplicates: std::mem::take(&mut self.duplicates),
                });
                Ok(())
            }
            Some(Frame::Sequence { items, .. }) => {
                items.push(value);
                Ok(())
            }
            Some(Frame::Mapping {
                map,
                pending_key,
                explicit,
                ..
            }) => {
                let Some((key, is_merge)) = pending_key.take() else {
                    return Ok(());
                };
                if !is_merge {
                    map.insert(key, value);
                    return Ok(());
                }
                // `<<: *defaults` (or a list of them), as go-yaml v2 (`decode.go` merge)
                // reads it and so kubectl: the merged keys are set where the `<<` stands,
                // over any key written before it (a key written after it wins), and in a
                // list the earlier mapping takes precedence.
                if explicit.is_none() {
                    *explicit = Some(map.keys().cloned().collect());
                }
                let sources = match value {
                    Value::Array(items) => items,
                    other => vec![other],
                };
                for source in sources.into_iter().rev() {
                    let Value::Object(source) = source else {
                        let position = Position {
                            line: span.start.line() + self.line_offset,
                            column: span.start.col() + 1,
                        };
                        return Err(YamlError {
                            position,
                            message: "a merge key (<<) needs a mapping or a list of mappings"
                                .into(),
                        });
                    };
                    for (k, v) in source {
                        map.insert(k, v);
                    }
                }
                Ok(())
            }
        }
    }
}

/// A scalar as YAML: plain where a plain scalar reads back as the same string, else
/// double-quoted (a JSON string is a valid YAML double-quoted scalar).
pub fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => {
            let plain = !text.is_empty()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
                && !text.starts_with(['-', '.'])
                && resolve_plain(text).is_some_and(|v| v == Value::String(text.clone()));
            if plain {
                text.clone()
            } else {
                Value::String(text.clone()).to_string()
            }
        }
        Value::Null => "null".into(),
        Value::Array(items) if items.is_empty() => "[]".into(),
        Value::Object(map) if map.is_empty() => "{}".into(),
        other => other.to_string(),
    }
}

/// Block-style YAML lines for a mapping member `key: value` at `indent` spaces; sequences
/// are written with their dash at `indent + seq_offset`.
pub fn member_lines(key: &str, value: &Value, indent: usize, seq_offset: usize) -> Vec<String> {
    let pad = " ".repeat(indent);
    let key = scalar(&Value::String(key.to_owned()));
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut lines = vec![format!("{pad}{key}:")];
            for (k, v) in map {
                lines.extend(member_lines(k, v, indent + 2, seq_offset));
            }
            lines
        }
        Value::Array(items) if !items.is_empty() => {
            let mut lines = vec![format!("{pad}{key}:")];
            lines.extend(
                items
                    .iter()
                    .flat_map(|item| item_lines(item, indent + seq_offset, seq_offset)),
            );
            lines
        }
        scalar_value => vec![format!("{pad}{key}: {}", scalar(scalar_value))],
    }
}

/// Block-style YAML lines for one sequence item whose dash is at `indent`.
pub fn item_lines(item: &Value, indent: usize, seq_offset: usize) -> Vec<String> {
    let pad = " ".repeat(indent);
    match item {
        Value::Object(map) if !map.is_empty() => {
            let mut lines = Vec::new();
            for (k, v) in map {
                lines.extend(member_lines(k, v, indent + 2, seq_offset));
            }
            lines[0] = format!("{pad}- {}", lines[0].trim_start());
            lines
        }
        other => vec![format!("{pad}- {}", scalar(other))],
    }
}

/// RFC 6901 escaping of one pointer token.
pub fn escape_pointer(token: &str) -> String {
    if token.contains(['~', '/']) {
        token.replace('~', "~0").replace('/', "~1")
    } else {
        token.to_owned()
    }
}

/// `parent/token`, escaped, in one allocation.
fn child_pointer(parent: &str, token: &str) -> String {
    let mut child = String::with_capacity(parent.len() + token.len() + 1);
    child.push_str(parent);
    child.push('/');
    if token.contains(['~', '/']) {
        child.push_str(&escape_pointer(token));
    } else {
        child.push_str(token);
    }
    child
}

fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => Some("null".into()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// go-yaml v2's resolution of a scalar (the YAML 1.1 flavour `kubectl` reads with).
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag.filter(|t| t.handle == "tag:yaml.org,2002:" || t.handle == "!!") {
        return match tag.suffix.as_str() {
            "str" | "binary" | "timestamp" => Ok(Value::String(text.to_owned())),
            "null" => Ok(Value::Null),
            "bool" | "int" | "float" => resolve_plain(text)
                .filter(|v| !v.is_string())
                .ok_or_else(|| format!("{text:?} is not a valid !!{}", tag.suffix)),
            _ => Ok(Value::String(text.to_owned())),
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_owned()));
    }
    resolve_plain(text).ok_or_else(|| format!("{text:?} cannot be represented in JSON"))
}

fn resolve_plain(text: &str) -> Option<Value> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Some(Value::Bool(true));
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Some(Value::Bool(false));
        }
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => return None,
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Some(Value::String(text.to_owned()));
    }
    if let Some(n) = resolve_integer(text) {
        return Some(Value::Number(n));
    }
    let is_float = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+' | b'_'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if is_float
        && let Ok(f) = text.replace('_', "").parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return Some(Value::Number(n));
    }
    Some(Value::String(text.to_owned()))
}

/// go-yaml v2 resolves an integer with Go's `strconv.ParseInt(text, 0, 64)` (then
/// `ParseUint`) after dropping every `_`: an optional sign, then `0x`/`0X` hex, `0o`/`0O`
/// or a bare leading `0` octal, `0b`/`0B` binary, else decimal.
fn resolve_integer(text: &str) -> Option<Number> {
    let plain = text.replace('_', "");
    let (negative, body) = match plain.as_bytes().first()? {
        b'-' => (true, &plain[1..]),
        b'+' => (false, &plain[1..]),
        _ => (false, plain.as_str()),
    };
    let prefixed = |prefixes: [&str; 2]| prefixes.iter().find_map(|p| body.strip_prefix(p));
    let (radix, digits) = if let Some(hex) = prefixed(["0x", "0X"]) {
        (16, hex)
    } else if let Some(octal) = prefixed(["0o", "0O"]) {
        (8, octal)
    } else if let Some(binary) = prefixed(["0b", "0B"]) {
        (2, binary)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = i64::try_from(magnitude)
            .map(|m| -m)
            .ok()
            .or((magnitude == 1 << 63).then_some(i64::MIN))?;
        Some(Number::from(value))
    } else {
        Some(Number::from(magnitude))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> YamlDocument {
        let mut docs = parse_stream(text);
        assert_eq!(docs.len(), 1, "{docs:?}");
        docs.remove(0).expect("parses")
    }

    #[test]
    fn scalars_resolve_as_kubectl_reads_them() {
        let doc = one(
            "a: yes\nb: 'yes'\nc: 0x1F\nd: 010\ne: ~\nf: 1.5\ng: \"010\"\nh: v1.2\ni: -3\nj: !!str 12\nk: 1e3\nl: 12:30\n",
        );
        assert_eq!(
            doc.value,
            json!({"a": true, "b": "yes", "c": 31, "d": 8, "e": null, "f": 1.5, "g": "010",
                   "h": "v1.2", "i": -3, "j": "12", "k": 1000.0, "l": "12:30"})
        );
    }

    /// go-yaml v2 (sigs.k8s.io/yaml, kubectl) sets merged keys where the `<<` stands: a
    /// merge after an explicit key overrides it, a key after the merge overrides the merge,
    /// and in a list of merges the earlier mapping wins.
    #[test]
    fn merge_keys_apply_in_order_as_kubectl_reads_them() {
        let doc = one(
            "bad: &bad {gpu: \"true\"}\nlate:\n  gpu: \"false\"\n  <<: *bad\nearly:\n  <<: *bad\n  gpu: \"false\"\nlist:\n  <<: [{a: 1}, {a: 2, b: 2}]\n",
        );
        assert_eq!(doc.value["late"], json!({"gpu": "true"}));
        assert_eq!(doc.value["early"], json!({"gpu": "false"}));
        assert_eq!(doc.value["list"], json!({"a": 1, "b": 2}));
        assert!(doc.duplicates.is_empty());
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_and_are_noted_with_both_lines() {
        let doc = one(
            "kind: DaemonSet\nspec:\n  nodeSelector: {a: b}\n  x: 1\n  nodeSelector: {c: d}\nkind: Deployment\n",
        );
        assert_eq!(doc.value["spec"]["nodeSelector"], json!({"c": "d"}));
        assert_eq!(doc.value["kind"], "Deployment");
        let noted: Vec<(&str, usize, usize)> = doc
            .duplicates
            .iter()
            .map(|d| (d.pointer.as_str(), d.first.line, d.kept.line))
            .collect();
        assert_eq!(noted, [("/spec/nodeSelector", 3, 5), ("/kind", 1, 6)]);
        // The position stays at the first one written, where a reader starts.
        assert_eq!(
            doc.source_map.position("/spec/nodeSelector").unwrap().line,
            3
        );
        let many: String = (0..100).map(|_| "a: 1\n").collect();
        assert_eq!(one(&many).duplicates.len(), MAX_DUPLICATES_NOTED);
    }

    /// Go's `strconv.ParseInt(s, 0, 64)`, which go-yaml v2 resolves integers with.
    #[test]
    fn yaml_1_1_integers_resolve_as_go_reads_them() {
        let doc = one(
            "a: 0o20000\nb: 0x2000\nc: 0X2000\nd: 020000\ne: 0b10\nf: -0x10\ng: 1_000\nh: +12\ni: 0o9\nj: -9223372036854775808\nk: 18446744073709551615\n",
        );
        assert_eq!(
            doc.value,
            json!({"a": 8192, "b": 8192, "c": 8192, "d": 8192, "e": 2, "f": -16, "g": 1000,
                   "h": 12, "i": "0o9", "j": i64::MIN, "k": u64::MAX})
        );
    }

    #[test]
    fn positions_point_at_keys_and_items() {
        let doc = one(
            "kind: DaemonSet\nspec:\n  tolerations:\n  - key: a\n    operator: Exists\n  - key: b/c\n",
        );
        let at = |p: &str| doc.source_map.position(p).map(|p| (p.line, p.column));
        assert_eq!(at("/kind"), Some((1, 1)));
        assert_eq!(at("/spec/tolerations"), Some((3, 3)));
        assert_eq!(at("/spec/tolerations/1"), Some((6, 5)));
        assert_eq!(at("/spec/tolerations/1/key"), Some((6, 5)));
        assert_eq!(at("/spec/tolerations/0/operator"), Some((5, 5)));
        // A missing field falls back to its nearest ancestor.
        assert_eq!(at("/spec/tolerations/0/effect"), Some((4, 5)));
    }

    #[test]
    fn a_broken_document_does_not_hide_the_others() {
        let docs = parse_stream("a: 1\n---\nb: [unclosed\n---\nc: 3\n");
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].as_ref().unwrap().value, json!({"a": 1}));
        let error = docs[1].as_ref().unwrap_err();
        assert!(error.position.line >= 3, "{error}");
        let third = docs[2].as_ref().unwrap();
        assert_eq!(third.value, json!({"c": 3}));
        assert_eq!(third.position.line, 5);
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let doc = one("base: &b {a: 1, b: 2}\nuse:\n  <<: *b\n  b: 3\nlist: [*b]\n");
        assert_eq!(doc.value["use"], json!({"a": 1, "b": 3}));
        assert_eq!(doc.value["list"], json!([{"a": 1, "b": 2}]));
        assert_eq!(doc.source_map.position("/use/b").unwrap().line, 4);
        assert!(
            doc.duplicates.is_empty(),
            "an override of a merged key is no duplicate"
        );
        // go-yaml v2 reads a plain `y` key as the boolean true, and so does kubectl.
        assert_eq!(one("y: 1\n").value, json!({"true": 1}));
    }

    #[test]
    fn empty_documents_are_skipped_and_json_is_yaml() {
        let docs =
            parse_stream("---\n# only a comment\n---\n{\"kind\": \"List\", \"items\": []}\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(
            docs[0].as_ref().unwrap().value,
            json!({"kind": "List", "items": []})
        );
    }

    #[test]
    fn a_large_stream_parsed_in_parallel_equals_the_sequential_parse() {
        let mut text = String::new();
        for i in 0..3000 {
            if i == 1500 {
                text.push_str("---\nbroken: [\n");
            }
            text.push_str(&format!("---\nkind: DaemonSet\nmetadata:\n  name: ds-{i}\n  labels: {{a: b}}\n  annotations: {{note: \"{}\"}}\nspec:\n  x: [1, 2]\n", "x".repeat(60)));
        }
        assert!(text.len() > PARALLEL_THRESHOLD);
        let parallel = parse_stream(&text);
        let sequential = parse_chunks(&split_documents(&text));
        assert_eq!(parallel.len(), 3001);
        assert_eq!(parallel.len(), sequential.len());
        for (p, s) in parallel.iter().zip(&sequential) {
            match (p, s) {
                (Ok(p), Ok(s)) => {
                    assert_eq!(p.value, s.value);
                    assert_eq!(p.position, s.position);
                    assert_eq!(
                        p.source_map.position("/spec/x/1"),
                        s.source_map.position("/spec/x/1")
                    );
                }
                (Err(p), Err(s)) => assert_eq!(p, s),
                _ => panic!("parallel and sequential parses differ"),
            }
        }
        assert!(parallel[1500].is_err());
        assert_eq!(
            parallel[2999].as_ref().unwrap().value["metadata"]["name"],
            "ds-2998"
        );
    }

    /// The streaming splitter cuts exactly where the in-memory one cuts, however the
    /// reads fall (a `\r\n` split between two reads included).
    #[test]
    fn document_chunks_cut_where_the_stream_splitter_cuts() {
        let texts = [
            "a: 1\n---\nb: 2\n--- # c\nc: 3\n",
            "---\na: 1\r\n---\r\nb: [\r\n---\rc: 3\r",
            "# only a comment\n",
            "----not a marker\nx: 1\n---\n",
            "",
            "no newline at the end",
        ];
        struct Trickle<'a>(&'a [u8], usize);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
                let count = self.1.min(buffer.len()).min(self.0.len());
                buffer[..count].copy_from_slice(&self.0[..count]);
                self.0 = &self.0[count..];
                Ok(count)
            }
        }
        for text in texts {
            let expected: Vec<(usize, String)> = split_documents(text)
                .into_iter()
                .map(|(line, chunk)| (line, chunk.to_owned()))
                .collect();
            for step in [1, 2, 3, 7, 1 << 16] {
                let streamed: Vec<(usize, String)> =
                    DocumentChunks::new(Trickle(text.as_bytes(), step), 1 << 20)
                        .map(|c| c.unwrap())
                        .collect();
                assert_eq!(streamed, expected, "{text:?} read {step} bytes at a time");
            }
        }
        let long = "a: 1\n".repeat(100);
        let mut too_large = DocumentChunks::new(long.as_bytes(), 64);
        assert!(matches!(
            too_large.next(),
            Some(Err(ChunkError::TooLarge { limit: 64 }))
        ));
        let mut not_text = DocumentChunks::new(&b"a: 1\n---\nb: \xff\n"[..], 1 << 20);
        assert!(matches!(not_text.next(), Some(Ok((0, _)))));
        assert!(matches!(
            not_text.next(),
            Some(Err(ChunkError::NotText { line: 2 }))
        ));
    }

    /// Objects are handed over one at a time: a `List`'s items, a top-level sequence's
    /// items, other documents whole; the List itself is not an object.
    #[test]
    fn objects_are_streamed_one_at_a_time() {
        let text = "apiVersion: v1\nitems:\n- kind: Pod\n  metadata: {name: a}\n- kind: Pod\n  metadata: {name: b}\nkind: List\n---\nkind: Node\nmetadata: {name: node-1}\n---\n- kind: Pod\n  metadata: {name: c}\n---\n{\"kind\": \"List\", \"items\": [{\"kind\": \"Event\", \"reason\": \"é\"}]}\n";
        let mut seen = Vec::new();
        objects(text.as_bytes(), 1 << 20, |value, position| {
            seen.push((
                value["kind"].as_str().unwrap().to_owned(),
                value["metadata"]["name"].as_str().unwrap_or("").to_owned(),
                position.line,
            ));
            true
        })
        .unwrap();
        let expected: Vec<(String, String, usize)> = [
            ("Pod", "a", 3),
            ("Pod", "b", 5),
            ("Node", "node-1", 9),
            ("Pod", "c", 12),
            ("Event", "", 15),
        ]
        .iter()
        .map(|(k, n, l)| (k.to_string(), n.to_string(), *l))
        .collect();
        assert_eq!(seen, expected);
        let error = objects(&b"a: [\n"[..], 1 << 20, |_, _| true).unwrap_err();
        assert!(!error.message.is_empty());
        let error = objects(&b"a: \xff\n"[..], 1 << 20, |_, _| true).unwrap_err();
        assert!(error.message.contains("not UTF-8"), "{error}");
        let long = "- a\n".repeat(1000);
        let error = objects(long.as_bytes(), 100, |_, _| true).unwrap_err();
        assert!(error.message.contains("--max-file-bytes"), "{error}");
    }

    #[test]
    fn a_lone_carriage_return_is_a_line_break_as_the_parser_counts_it() {
        // Found by fuzzing: positions after a lone CR were off by one per CR.
        let text = "a: 1\rb: 2\r\n---\rc: [\r";
        let lines: Vec<&str> = yaml_lines(text).collect();
        assert_eq!(lines, ["a: 1\r", "b: 2\r\n", "---\r", "c: [\r"]);
        let docs = parse_stream(text);
        assert_eq!(docs.len(), 2);
        let first = docs[0].as_ref().unwrap();
        assert_eq!(first.source_map.position("/b").unwrap().line, 2);
        let error = docs[1].as_ref().unwrap_err();
        assert!(error.position.line <= 5, "{error}");
        assert!(error.message.contains("starting at line 4"), "{error}");
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        let doc = one("metadata:\n  annotations:\n    dsguard.io/mutated: x\n");
        assert!(
            doc.source_map
                .position("/metadata/annotations/dsguard.io~1mutated")
                .is_some()
        );
        assert_eq!(escape_pointer("a~b/c"), "a~0b~1c");
    }

    /// The classic "billion laughs": 9 anchors, each a list of 9 aliases to the previous.
    pub(crate) fn billion_laughs() -> String {
        let mut text = String::from("a0: &a0 [lol]\n");
        for level in 1..10 {
            let previous = format!("*a{}", level - 1);
            let items = [previous.as_str(); 9].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        text
    }

    #[test]
    fn a_billion_laughs_is_refused_before_it_expands() {
        let docs = parse_stream(&billion_laughs());
        let error = docs[0].as_ref().expect_err("refused");
        assert!(error.message.contains("excessive aliasing"), "{error}");
        // Refused at the first level whose expansion crosses go-yaml's ratio, not at the end.
        assert!(error.position.line <= 6, "{error}");
        // The same bomb in one document of a stream leaves the others readable.
        let stream = format!("a: 1\n---\n{}---\nb: 2\n", billion_laughs());
        let docs = parse_stream(&stream);
        assert_eq!(docs.len(), 3);
        assert!(docs[0].is_ok() && docs[1].is_err() && docs[2].is_ok());
    }

    #[test]
    fn aliasing_within_go_yamls_ratio_is_read() {
        // go-yaml allows anything until 100 aliased nodes and 1,000 decoded nodes.
        let mut text = String::from("base: &b [1, 2, 3, 4, 5, 6, 7, 8, 9]\nuses:\n");
        for _ in 0..10 {
            text.push_str("- *b\n");
        }
        let doc = one(&text);
        assert_eq!(doc.value["uses"].as_array().unwrap().len(), 10);
        // 99% aliased is still allowed at 1,001+ decoded nodes: 10 plain nodes, then a
        // 100-node anchor used 9 times (one anchor defining, 900 aliased of ~1,012).
        let items = ["x"; 99].join(", ");
        let mut text = format!("base: &b [{items}]\nuses:\n");
        for _ in 0..9 {
            text.push_str("- *b\n");
        }
        assert_eq!(one(&text).value["uses"][8].as_array().unwrap().len(), 99);
    }

    #[test]
    fn the_alias_ratio_follows_go_yaml() {
        assert!(!excessive_aliasing(1000, 990));
        assert!(!excessive_aliasing(1001, 100));
        assert!(excessive_aliasing(1001, 992));
        assert!(!excessive_aliasing(400_000, 396_000));
        assert!(excessive_aliasing(400_000, 396_001));
        // Halfway through the range: 0.99 - 0.89 / 2 = 0.545.
        assert!(!excessive_aliasing(2_200_000, 1_198_000));
        assert!(excessive_aliasing(2_200_000, 1_200_000));
        assert!(excessive_aliasing(5_000_000, 500_001));
        assert!(!excessive_aliasing(5_000_000, 500_000));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_stream(&deep)[0].is_ok());
        let deeper = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        let error = parse_stream(&deeper).remove(0).expect_err("too deep");
        assert!(error.message.contains("nest more than 128"), "{error}");
        let very_deep = "- ".repeat(100_000);
        assert!(parse_stream(&very_deep)[0].is_err());
    }

    #[test]
    fn positions_stop_growing_past_their_budget_but_the_value_is_whole() {
        // A 1,000-byte key (YAML's longest implicit key is 1,024) above 80,000 siblings:
        // each sibling's pointer repeats the key, 100 times the bytes of its line.
        let key = "k".repeat(1000);
        let mut text = format!("{key}:\n");
        for i in 0..80_000 {
            text.push_str(&format!("  s{i}: 1\n"));
        }
        let doc = one(&text);
        assert_eq!(doc.value[&key].as_object().unwrap().len(), 80_000);
        let stored: usize = doc.source_map.positions.iter().map(|(p, _)| p.len()).sum();
        assert!(stored <= text.len() * 64, "{stored} bytes of pointers");
        // A sibling past the budget is placed at its nearest recorded ancestor.
        assert_eq!(
            doc.source_map
                .position(&format!("/{key}/s79999"))
                .unwrap()
                .line,
            1
        );
        assert_eq!(
            doc.source_map.position(&format!("/{key}/s1")).unwrap().line,
            3
        );
    }
}
