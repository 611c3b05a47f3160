//! Splits a JSON stream into the objects it holds without decoding them: the items of a
//! `List` (or of a top-level array) and top-level objects, each handed over as its own
//! text with the line and column it starts at.
//!
//! A support bundle is hundreds of megabytes of `kubectl get -o json`. Reading a file whole
//! to let serde_json find its items holds all of it at once (a 190 MB pods file was most
//! of doctor's peak); serde_json's io reader streams but reads byte by byte (twice as slow).
//! Finding where an item ends needs far less than decoding it: the brackets outside
//! strings, and in a string its closing quote (`memchr` jumps there). So this reads the
//! stream in buffered chunks and holds one object's text at a time; the caller decodes
//! each item, which validates it.

use std::io::BufRead;

use crate::yaml::Position;

/// How deep a value may nest: serde_json's own recursion limit, so nothing the decoder
/// would refuse is held (a file of 256 MiB of `[` would otherwise be held whole, with a
/// bracket owed for each byte).
const MAX_DEPTH: usize = 128;

/// Where the stream stopped being JSON this splitter can read, and why.
#[derive(Debug)]
pub struct SplitError {
    pub position: Position,
    pub message: String,
    /// The stream ended inside a value: a file cut short.
    pub eof: bool,
    /// Reading failed (not the JSON's fault).
    pub io: Option<std::io::Error>,
}

/// One value's text and where it starts.
pub struct Piece<'a> {
    pub text: &'a str,
    pub at: Position,
}

/// Reads a JSON stream chunk by chunk, counting lines as it goes.
pub struct Splitter<R> {
    reader: R,
    /// Bytes consumed so far, and the 1-based line of the next byte with its offset.
    offset: u64,
    line: usize,
    line_start: u64,
    /// The current item's text, reused from item to item.
    item: Vec<u8>,
    /// Closing brackets the current value still owes.
    closers: Vec<u8>,
}

impl<R: BufRead> Splitter<R> {
    pub fn new(reader: R) -> Self {
        Splitter {
            reader,
            offset: 0,
            line: 1,
            line_start: 0,
            item: Vec::new(),
            closers: Vec::new(),
        }
    }

    /// Bytes read so far.
    pub fn consumed(&self) -> u64 {
        self.offset
    }

    /// Every value of the stream, in order: each top-level object that is not a `List`,
    /// each item of a `List`'s `items`, each element of a top-level array. `each` returns
    /// false to stop.
    pub fn for_each(&mut self, mut each: impl FnMut(Piece<'_>) -> bool) -> Result<(), SplitError> {
        loop {
            match self.skip_whitespace()? {
                None => return Ok(()),
                Some(b'[') => {
                    self.advance(1);
                    if !self.elements(&mut each)? {
                        return Ok(());
                    }
                }
                Some(b'{') => {
                    if !self.object(&mut each)? {
                        return Ok(());
                    }
                }
                Some(other) => {
                    return Err(self.error(format!(
                        "expected a Kubernetes object, a List, or an array of objects, found {}",
                        shown(other)
                    )));
                }
            }
        }
    }

    /// The elements of an array whose `[` was consumed, each handed over. False when
    /// `each` asked to stop.
    fn elements(&mut self, each: &mut impl FnMut(Piece<'_>) -> bool) -> Result<bool, SplitError> {
        if self.skip_whitespace()? == Some(b']') {
            self.advance(1);
            return Ok(true);
        }
        loop {
            let at = self.position();
            let mut item = std::mem::take(&mut self.item);
            item.clear();
            let copied = self.copy_value(&mut item);
            let handed = copied.and_then(|()| hand_over(&item, at, each));
            self.item = item;
            if !handed? {
                return Ok(false);
            }
            match self.skip_whitespace()? {
                Some(b',') => {
                    self.advance(1);
                    self.skip_whitespace()?;
                }
                Some(b']') => {
                    self.advance(1);
                    return Ok(true);
                }
                Some(other) => {
                    return Err(self.error(format!(
                        "expected `,` or `]` after a list item, found {}",
                        shown(other)
                    )));
                }
                None => return Err(self.cut_short("a list")),
            }
        }
    }

    /// A top-level object: a `List`, whose items are handed over one by one (the rest of
    /// it dropped), or any other object, handed over whole. False when `each` asked to
    /// stop.
    fn object(&mut self, each: &mut impl FnMut(Piece<'_>) -> bool) -> Result<bool, SplitError> {
        let at = self.position();
        self.advance(1);
        let mut head = vec![b'{'];
        let mut listed = false;
        if self.skip_whitespace()? == Some(b'}') {
            self.advance(1);
            head.push(b'}');
        } else {
            loop {
                if self.skip_whitespace()? != Some(b'"') {
                    return Err(match self.peek()? {
                        None => self.cut_short("an object"),
                        Some(other) => {
                            self.error(format!("expected a key in quotes, found {}", shown(other)))
                        }
                    });
                }
                let key_start = head.len();
                self.copy_value(&mut head)?;
                let is_items = &head[key_start..] == b"\"items\"";
                match self.skip_whitespace()? {
                    Some(b':') => self.advance(1),
                    Some(other) => {
                        return Err(
                            self.error(format!("expected `:` after a key, found {}", shown(other)))
                        );
                    }
                    None => return Err(self.cut_short("an object")),
                }
                match self.skip_whitespace()? {
                    Some(b'[') if is_items => {
                        head.truncate(key_start);
                        listed = true;
                        self.advance(1);
                        if !self.elements(each)? {
                            return Ok(false);
                        }
                    }
                    Some(b'n') if is_items => {
                        // `"items": null`: a List of nothing.
                        head.truncate(key_start);
                        listed = true;
                        let mut null = Vec::new();
                        self.copy_value(&mut null)?;
                        if null != b"null" {
                            return Err(self.error("`items` is not a list of objects".into()));
                        }
                    }
                    Some(_) if is_items => {
                        return Err(self.error("`items` is not a list of objects".into()));
                    }
                    Some(_) => {
                        head.push(b':');
                        self.copy_value(&mut head)?;
                    }
                    None => return Err(self.cut_short("an object")),
                }
                match self.skip_whitespace()? {
                    Some(b',') => {
                        self.advance(1);
                        head.push(b',');
                    }
                    Some(b'}') => {
                        self.advance(1);
                        head.push(b'}');
                        break;
                    }
                    Some(other) => {
                        return Err(self.error(format!(
                            "expected `,` or `}}` after a value, found {}",
                            shown(other)
                        )));
                    }
                    None => return Err(self.cut_short("an object")),
                }
            }
        }
        if listed {
            return Ok(true);
        }
        hand_over(&head, at, each)
    }

    /// Copies one value (an object, an array, a string, or a number/literal) to `out`,
    /// checking only that its brackets match; decoding it validates the rest.
    fn copy_value(&mut self, out: &mut Vec<u8>) -> Result<(), SplitError> {
        let Some(first) = self.peek()? else {
            return Err(self.cut_short("a value"));
        };
        match first {
            b'{' | b'[' | b'"' => self.copy_nested(out),
            b',' | b']' | b'}' | b':' => {
                Err(self.error(format!("expected a value, found {}", shown(first))))
            }
            _ => {
                // A number, `true`, `false` or `null`: up to the next delimiter.
                loop {
                    let buffer = self.fill()?;
                    if buffer.is_empty() {
                        return Ok(());
                    }
                    let end = buffer
                        .iter()
                        .position(|b| {
                            matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n')
                        })
                        .unwrap_or(buffer.len());
                    out.extend_from_slice(&buffer[..end]);
                    let whole = end == buffer.len();
                    self.advance(end);
                    if !whole {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Copies an object, an array or a string, up to the bracket or quote that closes it.
    fn copy_nested(&mut self, out: &mut Vec<u8>) -> Result<(), SplitError> {
        let mut closers = std::mem::take(&mut self.closers);
        closers.clear();
        let copied = self.copy_nested_with(out, &mut closers);
        self.closers = closers;
        copied
    }

    fn copy_nested_with(
        &mut self,
        out: &mut Vec<u8>,
        closers: &mut Vec<u8>,
    ) -> Result<(), SplitError> {
        let mut in_string = false;
        let mut escaped = false;
        loop {
            let here = self.position();
            let buffer = self.fill()?;
            if buffer.is_empty() {
                return Err(cut_short(
                    here,
                    if in_string { "a string" } else { "an object" },
                ));
            }
            let mut at = 0;
            let mut done = false;
            let mut mismatch = None;
            let mut too_deep = false;
            while at < buffer.len() {
                if in_string {
                    if escaped {
                        escaped = false;
                        at += 1;
                        continue;
                    }
                    match memchr::memchr2(b'"', b'\\', &buffer[at..]) {
                        None => at = buffer.len(),
                        Some(found) => {
                            at += found;
                            if buffer[at] == b'\\' {
                                escaped = true;
                            } else {
                                in_string = false;
                                if closers.is_empty() {
                                    at += 1;
                                    done = true;
                                    break;
                                }
                            }
                            at += 1;
                        }
                    }
                    continue;
                }
                match buffer[at] {
                    b'"' => in_string = true,
                    opener @ (b'{' | b'[') => {
                        if closers.len() >= MAX_DEPTH {
                            too_deep = true;
                            break;
                        }
                        closers.push(if opener == b'{' { b'}' } else { b']' });
                    }
                    closer @ (b'}' | b']') => {
                        if closers.pop() != Some(closer) {
                            mismatch = Some(closer);
                            break;
                        }
                        if closers.is_empty() {
                            at += 1;
                            done = true;
                            break;
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            out.extend_from_slice(&buffer[..at]);
            self.advance(at);
            if let Some(closer) = mismatch {
                return Err(self.error(format!("unexpected {}", shown(closer))));
            }
            if too_deep {
                return Err(self.error(format!(
                    "nested more than {MAX_DEPTH} levels deep (no Kubernetes object is; the JSON decoder refuses it too)"
                )));
            }
            if done {
                return Ok(());
            }
        }
    }

    /// The buffered bytes, filled if empty.
    fn fill(&mut self) -> Result<&[u8], SplitError> {
        let position = self.position();
        // A read interrupted by a signal is tried again, as `read_to_end` does.
        while let Err(e) = self.reader.fill_buf() {
            if e.kind() != std::io::ErrorKind::Interrupted {
                break;
            }
        }
        self.reader.fill_buf().map_err(|e| io_error(e, position))
    }

    fn peek(&mut self) -> Result<Option<u8>, SplitError> {
        Ok(self.fill()?.first().copied())
    }

    /// The next byte that is not whitespace, not consumed.
    fn skip_whitespace(&mut self) -> Result<Option<u8>, SplitError> {
        loop {
            let buffer = self.fill()?;
            if buffer.is_empty() {
                return Ok(None);
            }
            match buffer.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(at) => {
                    let byte = buffer[at];
                    self.advance(at);
                    return Ok(Some(byte));
                }
                None => {
                    let length = buffer.len();
                    self.advance(length);
                }
            }
        }
    }

    /// Consumes `count` buffered bytes, counting the lines they end.
    fn advance(&mut self, count: usize) {
        if let Ok(buffer) = self.reader.fill_buf() {
            let consumed = &buffer[..count.min(buffer.len())];
            let mut newlines = memchr::memrchr_iter(b'\n', consumed);
            if let Some(last) = newlines.next() {
                self.line += 1 + newlines.count();
                self.line_start = self.offset + last as u64 + 1;
            }
        }
        self.reader.consume(count);
        self.offset += count as u64;
    }

    fn position(&self) -> Position {
        Position {
            line: self.line,
            column: (self.offset - self.line_start) as usize + 1,
        }
    }

    fn error(&self, message: String) -> SplitError {
        SplitError {
            position: self.position(),
            message,
            eof: false,
            io: None,
        }
    }

    fn cut_short(&self, inside: &str) -> SplitError {
        cut_short(self.position(), inside)
    }
}

/// One value's text handed to `each` (JSON is UTF-8; the decoder would refuse it anyway).
fn hand_over(
    bytes: &[u8],
    at: Position,
    each: &mut impl FnMut(Piece<'_>) -> bool,
) -> Result<bool, SplitError> {
    let text = std::str::from_utf8(bytes).map_err(|e| SplitError {
        position: at,
        message: format!("not UTF-8 text: {e}"),
        eof: false,
        io: None,
    })?;
    Ok(each(Piece { text, at }))
}

/// The stream ends inside `inside`.
fn cut_short(position: Position, inside: &str) -> SplitError {
    SplitError {
        position,
        message: format!("EOF while reading {inside}"),
        eof: true,
        io: None,
    }
}

/// Reading failed: not the JSON's fault.
fn io_error(e: std::io::Error, position: Position) -> SplitError {
    SplitError {
        position,
        message: e.to_string(),
        eof: false,
        io: Some(e),
    }
}

/// A byte as an error message shows it.
fn shown(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("`{}`", byte as char)
    } else {
        format!("byte 0x{byte:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str, chunk: usize) -> Result<Vec<(String, usize, usize)>, SplitError> {
        let mut found = Vec::new();
        Splitter::new(std::io::BufReader::with_capacity(chunk, text.as_bytes())).for_each(
            |piece| {
                found.push((piece.text.to_owned(), piece.at.line, piece.at.column));
                true
            },
        )?;
        Ok(found)
    }

    #[test]
    fn items_of_lists_and_arrays_and_whole_objects_whatever_the_chunk_size() {
        let text = "{\"apiVersion\": \"v1\", \"items\": [\n  {\"kind\": \"Pod\", \"s\": \"a}]\\\"[{\"},\n  {\"kind\": \"Pod\", \"n\": [1, {\"x\": null}]}\n], \"kind\": \"List\"}\n{\"kind\": \"Node\"} [\"x\", 12, true]";
        let expected = vec![
            (r#"{"kind": "Pod", "s": "a}]\"[{"}"#.to_owned(), 2, 3),
            (r#"{"kind": "Pod", "n": [1, {"x": null}]}"#.to_owned(), 3, 3),
            (r#"{"kind":"Node"}"#.to_owned(), 5, 1),
            (r#""x""#.to_owned(), 5, 19),
            ("12".to_owned(), 5, 24),
            ("true".to_owned(), 5, 28),
        ];
        for chunk in [1, 2, 3, 7, 64, 1 << 16] {
            assert_eq!(pieces(text, chunk).unwrap(), expected, "chunk {chunk}");
        }
        assert!(pieces("  \n ", 4).unwrap().is_empty());
        assert!(
            pieces(r#"{"kind": "List", "items": null}"#, 4)
                .unwrap()
                .is_empty()
        );
        assert!(
            pieces(r#"{"items": [], "kind": "List"}"#, 4)
                .unwrap()
                .is_empty()
        );
        assert_eq!(pieces("{}", 1).unwrap(), vec![("{}".to_owned(), 1, 1)]);
    }

    #[test]
    fn cut_short_and_malformed_streams_say_where() {
        for chunk in [1, 5, 1 << 16] {
            let cut =
                pieces("{\"items\": [{\"kind\": \"Pod\"},\n {\"kind\": \"Po", chunk).unwrap_err();
            assert!(cut.eof, "{}", cut.message);
            assert_eq!(cut.position.line, 2);
            let cut = pieces("[{\"a\": 1}", chunk).unwrap_err();
            assert!(cut.eof);
            let mismatched = pieces("[{\"a\": [1}]", chunk).unwrap_err();
            assert!(!mismatched.eof);
            assert_eq!(
                (mismatched.position.line, mismatched.position.column),
                (1, 10)
            );
            assert!(mismatched.message.contains("unexpected `}`"));
            for bad in [
                "[1 2]",
                "[1,]",
                "{\"items\": {}}",
                "3",
                "{\"a\" 1}",
                "{a: 1}",
            ] {
                let error = pieces(bad, chunk).unwrap_err();
                assert!(!error.eof, "{bad}: {}", error.message);
            }
        }
    }

    #[test]
    fn text_that_is_not_utf8_is_an_error_where_its_value_starts() {
        for bytes in [&b"[1,\n \"\xff\"]"[..], &b"{\"kind\": \"\xff\"}"[..]] {
            let error = Splitter::new(bytes).for_each(|_| true).unwrap_err();
            assert!(error.message.starts_with("not UTF-8"), "{}", error.message);
            assert!(!error.eof);
        }
    }

    #[test]
    fn nesting_deeper_than_the_decoder_reads_is_an_error_at_once() {
        let deep = format!(
            "[{}{}]",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        let error = pieces(&deep, 64).unwrap_err();
        assert!(
            error.message.contains("nested more than"),
            "{}",
            error.message
        );
        assert_eq!(error.position.column, MAX_DEPTH + 2);
        let fits = format!("[{}{}]", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(pieces(&fits, 64).unwrap().len(), 1);
    }

    #[test]
    fn handing_over_stops_when_asked() {
        let mut seen = 0;
        Splitter::new("[1, 2, 3] [4]".as_bytes())
            .for_each(|_| {
                seen += 1;
                seen < 2
            })
            .unwrap();
        assert_eq!(seen, 2);
    }
}
