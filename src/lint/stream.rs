//! `dsguard lint PATH...` on every core, streamed: documents are read one chunk at a time
//! (a `---` document, see [`yaml::DocumentChunks`]), parsed, decoded and judged by
//! `jobs` worker threads in batches, and the report is put together in input order, so
//! the output is byte for byte what one thread would print. Only the linted results are
//! kept (and, for `--fix`, the manifests that get a patch); every other document is
//! dropped once judged, so memory follows the batches in flight, not the input: a 1 GB
//! stream of manifests costs a few batches of documents at a time.
//!
//! Three kinds of thread: the reader (walks the paths, reads each file in chunks and cuts
//! them into batches, at most a few batches ahead of the workers), the workers (parse
//! and lint a batch), and the caller's, which puts the results back in order and says
//! what is said per file (a named file with no DaemonSet, Helm template syntax).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;

use super::{InventorySources, LintReport, LintedDaemonSet, lint_manifest};
use crate::config::Config;
use crate::inventory::Inventory;
use crate::manifests::{self, ManifestError, ReadPaths, Source};
use crate::yaml::{self, ChunkError, DocumentChunks, Position};

/// Documents per batch, and bytes per batch, whichever comes first: enough that a batch
/// is worth a hand-off between threads, few enough that `jobs` of them in flight stay
/// small.
const BATCH_DOCUMENTS: usize = 64;
const BATCH_BYTES: usize = 1 << 20;

/// How `lint_paths` runs.
#[derive(Clone, Copy, Debug)]
pub struct StreamOptions {
    /// Worker threads (at least one).
    pub jobs: usize,
    /// The largest file (or stdin) read.
    pub max_file_bytes: u64,
    /// Keep the manifests whose DaemonSet gets a patch, for `--fix`.
    pub keep_patched: bool,
}

/// What `lint_paths` gives: the report, and the manifests `--fix` needs.
#[derive(Debug, Default)]
pub struct Streamed {
    pub report: LintReport,
    /// Notices about the input (walk, files, documents), in input order, before the
    /// report's own run-wide notices.
    pub input_notices: Vec<String>,
    /// With `keep_patched`: the manifests whose DaemonSet gets a patch, with it.
    pub patched: Vec<super::Patched>,
}

/// A run of documents of one file, in order.
struct Batch {
    sequence: u64,
    file: String,
    /// The file's document number of the first chunk's first document is not known until
    /// the chunks before it are parsed (a chunk of comments holds none); the collector
    /// renumbers.
    chunks: Vec<(usize, String)>,
}

/// What the reader and the workers hand the collector, by sequence number.
enum Item {
    Linted(Linted),
    /// A file is read to its end (or could not be): what is said of it as a whole.
    FileEnd {
        file: String,
        named: bool,
        helm_line: Option<usize>,
        error: Option<ManifestError>,
    },
}

/// One batch, linted.
struct Linted {
    documents: usize,
    daemonsets: Vec<LintedDaemonSet>,
    /// The kinds of every object read (for a named file's "no DaemonSet" notice).
    kinds: Vec<String>,
    errors: Vec<ManifestError>,
    notices: Vec<String>,
    patched: Vec<super::Patched>,
}

/// Held DaemonSets past which a file's results are written out before the file ends.
const WRITE_EVERY: usize = 1024;

/// Lints every DaemonSet under `paths`, as [`super::lint`] lints them, with the input
/// read as [`manifests::read_paths`] reads it; the report is the same, in the same order.
///
/// With `write`, the report is handed to it as files finish (and every [`WRITE_EVERY`]
/// DaemonSets within a large one) and then forgotten but for its counts
/// ([`LintReport::forget_written`]): how text and GitHub annotations are written while
/// the input is read, so that memory does not grow with the input.
pub fn lint_paths(
    paths: &[PathBuf],
    inventory: &Inventory,
    config: &Config,
    sources: InventorySources,
    options: StreamOptions,
    mut write: Option<&mut dyn FnMut(&LintReport)>,
) -> Streamed {
    let (inputs, walked) = manifests::sources(paths);
    let jobs = options.jobs.max(1);
    let (work_sender, work) = mpsc::sync_channel::<Batch>(jobs * 2);
    let work = std::sync::Mutex::new(work);
    let (done_sender, done) = mpsc::channel::<(u64, Item)>();
    let mut streamed = Streamed {
        input_notices: walked.notices,
        report: LintReport {
            errors: walked.errors,
            ..LintReport::default()
        },
        ..Streamed::default()
    };
    std::thread::scope(|scope| {
        let reader_done = done_sender.clone();
        scope.spawn(move || read_inputs(inputs, options.max_file_bytes, work_sender, reader_done));
        for _ in 0..jobs {
            let work = &work;
            let done = done_sender.clone();
            scope.spawn(move || {
                loop {
                    let next = work.lock().expect("a worker does not panic").recv();
                    let Ok(batch) = next else { break };
                    let sequence = batch.sequence;
                    let linted = lint_batch(batch, inventory, config, options.keep_patched);
                    if done.send((sequence, Item::Linted(linted))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_sender);
        collect(done, &mut streamed, &mut write);
    });
    let mut run_notices = super::inventory_notices(inventory, config, sources);
    // Counted over what was written too: text and annotations are gone once written.
    let totals = streamed.report.totals();
    if totals.daemonsets == 0 && totals.errors == 0 {
        run_notices.push(super::EMPTY_INPUT_NOTICE.into());
    }
    streamed.report.notices = run_notices;
    streamed
}

/// The reader: each input in order, cut into batches of a few documents; a file's end is
/// its own item, after its batches.
fn read_inputs(
    inputs: Vec<Source>,
    max_file_bytes: u64,
    work: mpsc::SyncSender<Batch>,
    done: mpsc::Sender<(u64, Item)>,
) {
    let mut sequence = 0u64;
    let mut next = || {
        sequence += 1;
        sequence - 1
    };
    for input in inputs {
        let file = input.name();
        let reader: Result<Box<dyn std::io::Read>, crate::input::InputError> = match &input.path {
            None => Ok(Box::new(std::io::stdin())),
            Some(path) => crate::input::open_file(path, max_file_bytes)
                .map(|f| Box::new(f) as Box<dyn std::io::Read>),
        };
        let mut helm_line = None;
        let mut error = None;
        match reader {
            Err(e) => error = Some(manifests::io_error(&file, &e.to_string())),
            Ok(reader) => {
                let mut batch = Vec::new();
                let mut bytes = 0;
                for chunk in DocumentChunks::new(reader, max_file_bytes) {
                    let (first_line, text) = match chunk {
                        Ok(chunk) => chunk,
                        Err(why) => {
                            error = Some(chunk_error(&file, why));
                            break;
                        }
                    };
                    if helm_line.is_none() {
                        helm_line = yaml::yaml_lines(&text)
                            .position(manifests::is_template_line)
                            .map(|index| first_line + index + 1);
                    }
                    bytes += text.len();
                    batch.push((first_line, text));
                    if batch.len() >= BATCH_DOCUMENTS || bytes >= BATCH_BYTES {
                        let chunks = std::mem::take(&mut batch);
                        bytes = 0;
                        let sent = work.send(Batch {
                            sequence: next(),
                            file: file.clone(),
                            chunks,
                        });
                        if sent.is_err() {
                            return;
                        }
                    }
                }
                if !batch.is_empty() {
                    let sent = work.send(Batch {
                        sequence: next(),
                        file: file.clone(),
                        chunks: batch,
                    });
                    if sent.is_err() {
                        return;
                    }
                }
            }
        }
        let end = Item::FileEnd {
            file,
            named: input.named,
            helm_line,
            error,
        };
        if done.send((next(), end)).is_err() {
            return;
        }
    }
}

fn chunk_error(file: &str, why: ChunkError) -> ManifestError {
    match why {
        ChunkError::Io(e) => manifests::io_error(file, &format!("cannot read: {e}")),
        ChunkError::TooLarge { limit } => manifests::io_error(
            file,
            &crate::input::InputError::TooLarge { limit }.to_string(),
        ),
        ChunkError::NotText { line } => ManifestError {
            file: file.to_owned(),
            position: Position { line, column: 1 },
            message: "is not UTF-8 text".into(),
        },
    }
}

/// A worker's share: parse the batch's documents, keep what is said of them, lint the
/// DaemonSets among them, and drop the rest.
fn lint_batch(batch: Batch, inventory: &Inventory, config: &Config, keep_patched: bool) -> Linted {
    let mut read = ReadPaths::default();
    let mut documents = 0;
    for (first_line, text) in &batch.chunks {
        let parsed = yaml::parse_document_chunk(text, *first_line);
        documents += manifests::read_documents(parsed, &batch.file, documents, &mut read);
    }
    let mut errors = read.errors;
    let mut linted = Linted {
        documents,
        daemonsets: Vec::new(),
        kinds: read.manifests.iter().map(|m| m.kind().to_owned()).collect(),
        errors: Vec::new(),
        notices: read.notices,
        patched: Vec::new(),
    };
    drop(batch.chunks);
    for manifest in read.manifests {
        if !super::judged(&manifest) {
            continue;
        }
        match lint_manifest(&manifest, inventory, config) {
            Ok(daemonset) => {
                if keep_patched && !daemonset.patch.is_empty() {
                    linted.patched.push(super::Patched {
                        patch: daemonset.patch.clone(),
                        manifest,
                    });
                }
                linted.daemonsets.push(daemonset);
            }
            Err(error) => errors.push(error),
        }
    }
    // Documents that do not parse and DaemonSets that do not decode, in input order.
    errors.sort_by_key(|e| e.position);
    linted.errors = errors;
    linted
}

/// The file being put together, for what is said of it as a whole.
#[derive(Default)]
struct FileSoFar {
    documents: usize,
    kinds: Vec<String>,
    errors_from: usize,
    unreadable: bool,
}

/// Puts the items back in sequence order as they arrive, and the report together.
fn collect(
    done: mpsc::Receiver<(u64, Item)>,
    streamed: &mut Streamed,
    write: &mut Option<&mut dyn FnMut(&LintReport)>,
) {
    let mut write_out = |report: &mut LintReport| {
        if let Some(write) = write.as_mut() {
            write(report);
            report.forget_written();
        }
    };
    let mut waiting: BTreeMap<u64, Item> = BTreeMap::new();
    let mut next = 0u64;
    let mut file = FileSoFar {
        errors_from: streamed.report.errors.len(),
        ..FileSoFar::default()
    };
    for (sequence, item) in done {
        waiting.insert(sequence, item);
        while let Some(item) = waiting.remove(&next) {
            next += 1;
            match item {
                Item::Linted(mut linted) => {
                    for patched in &mut linted.patched {
                        patched.manifest.document += file.documents;
                    }
                    file.documents += linted.documents;
                    file.kinds.extend(linted.kinds);
                    file.unreadable |= !linted.errors.is_empty();
                    streamed.input_notices.extend(linted.notices);
                    streamed.report.errors.extend(linted.errors);
                    streamed.report.daemonsets.extend(linted.daemonsets);
                    streamed.patched.extend(linted.patched);
                    if streamed.report.daemonsets.len() >= WRITE_EVERY {
                        write_out(&mut streamed.report);
                        file.errors_from = 0;
                    }
                }
                Item::FileEnd {
                    file: name,
                    named,
                    helm_line,
                    error,
                } => {
                    let unreadable = file.unreadable || error.is_some();
                    if let Some(error) = error {
                        streamed.report.errors.push(error);
                    }
                    let mut read = ReadPaths {
                        errors: std::mem::take(&mut streamed.report.errors),
                        ..ReadPaths::default()
                    };
                    manifests::note_helm_template(&name, helm_line, file.errors_from, &mut read);
                    streamed.report.errors = read.errors;
                    streamed.input_notices.extend(read.notices);
                    if named && !unreadable {
                        let kinds: Vec<&str> = file.kinds.iter().map(String::as_str).collect();
                        streamed
                            .input_notices
                            .extend(manifests::no_daemonset_notice(&name, &kinds));
                    }
                    write_out(&mut streamed.report);
                    file = FileSoFar {
                        errors_from: streamed.report.errors.len(),
                        ..FileSoFar::default()
                    };
                }
            }
        }
    }
}
