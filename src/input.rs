//! Reading the files a user names, within bounds: every command's file input (manifests,
//! node and other inventory snapshots, the config, stdin) comes through here.
//!
//! Only regular files are read. A FIFO would block `open` forever and `/dev/zero` would
//! never end, so anything that is not a regular file is refused when named and skipped
//! with a notice when met inside a folder. Each file is read up to a size bound
//! (`--max-file-bytes`), checked before reading and again while reading (a file can grow).
//! Folder walks follow symbolic links, as `kubectl apply -R` does, but never into a folder
//! they are already inside (a link loop), and read each file once however many links lead
//! to it. They leave out what `.gitignore` ignores and never enter `.git` or `target`
//! (the `ignore` crate reads the ignore files as git does); a path named on the command
//! line is always read.

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The default bound on one input file: far above any real manifest stream or snapshot
/// (a 100,000-node `kubectl get nodes -o yaml` of slim nodes is about 100 MiB), far below
/// what would exhaust a CI runner.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Why an input could not be read. Displayed after the file name.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "is a {0}, not a regular file: dsguard reads regular files, folders of them, and `-` for stdin"
    )]
    NotRegular(&'static str),
    #[error(
        "is larger than the {limit}-byte limit for one input file (raise it with --max-file-bytes)"
    )]
    TooLarge { limit: u64 },
    #[error("is not UTF-8 text: {0}")]
    NotText(std::str::Utf8Error),
}

/// What kind of non-regular file `metadata` describes, for messages.
fn special_kind(metadata: &std::fs::Metadata) -> Option<&'static str> {
    let kind = metadata.file_type();
    if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("folder")
    } else if kind.is_fifo() {
        Some("FIFO (named pipe)")
    } else if kind.is_char_device() {
        Some("character device")
    } else if kind.is_block_device() {
        Some("block device")
    } else if kind.is_socket() {
        Some("socket")
    } else {
        Some("special file")
    }
}

/// A regular file of at most `limit` bytes, opened for reading (to stream it).
pub fn open_file(path: &Path, limit: u64) -> Result<std::fs::File, InputError> {
    // Judged before `open`: opening a FIFO for reading blocks until a writer appears.
    let metadata = std::fs::metadata(path)?;
    if let Some(kind) = special_kind(&metadata) {
        return Err(InputError::NotRegular(kind));
    }
    if metadata.len() > limit {
        return Err(InputError::TooLarge { limit });
    }
    let file = std::fs::File::open(path)?;
    if let Some(kind) = special_kind(&file.metadata()?) {
        // Swapped for something else between the check and the open.
        return Err(InputError::NotRegular(kind));
    }
    Ok(file)
}

/// The bytes of a regular file, if it holds at most `limit` of them.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    read_bounded(open_file(path, limit)?, limit)
}

/// [`read_file`] as UTF-8 text.
pub fn read_text_file(path: &Path, limit: u64) -> Result<String, InputError> {
    into_text(read_file(path, limit)?)
}

/// Everything on standard input, if it is at most `limit` bytes.
pub fn read_stdin(limit: u64) -> Result<Vec<u8>, InputError> {
    read_bounded(std::io::stdin().lock(), limit)
}

pub fn into_text(bytes: Vec<u8>) -> Result<String, InputError> {
    String::from_utf8(bytes).map_err(|e| InputError::NotText(e.utf8_error()))
}

fn read_bounded(reader: impl Read, limit: u64) -> Result<Vec<u8>, InputError> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge { limit });
    }
    Ok(bytes)
}

/// The files a walk found, in a deterministic order, and what it passed over.
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<PathBuf>,
    /// Entries skipped on purpose (special files, link loops, broken links), one line each.
    pub notices: Vec<String>,
    /// Folders or entries that could not be read at all.
    pub errors: Vec<(PathBuf, std::io::Error)>,
    /// Files (by device and inode) already taken, across every path walked.
    seen_files: HashSet<(u64, u64)>,
}

/// Folders a walk never enters, whatever the ignore files say: version control and build
/// output (`lint .` in a repository must not read a Rust or Go build's output).
const NEVER_WALKED: [&str; 2] = [".git", "target"];

impl Walk {
    /// Adds `path`: a file as it is (whatever it is: [`read_file`] judges it, so a FIFO
    /// named on the command line is an error, not a notice), a folder by its files whose
    /// names end in one of `extensions`, recursively, in name order, leaving out what a
    /// `.gitignore` (or `.git/info/exclude`) ignores and the folders of
    /// [`NEVER_WALKED`]. A path named here is always taken, ignored or not.
    pub fn add(&mut self, path: &Path, extensions: &[&str]) {
        match std::fs::metadata(path) {
            Ok(metadata) if metadata.is_dir() => self.folder(path, extensions),
            Ok(metadata) => {
                if self.seen_files.insert((metadata.dev(), metadata.ino())) {
                    self.files.push(path.to_owned());
                }
            }
            // A missing path is reported when it is read, with the same wording.
            Err(_) => self.files.push(path.to_owned()),
        }
    }

    fn folder(&mut self, folder: &Path, extensions: &[&str]) {
        let walker = ignore::WalkBuilder::new(folder)
            .standard_filters(false)
            .git_ignore(true)
            .git_exclude(true)
            .parents(true)
            .require_git(false)
            .follow_links(true)
            .sort_by_file_path(|a, b| a.cmp(b))
            .filter_entry(|entry| {
                entry.depth() == 0
                    || !entry.file_type().is_some_and(|t| t.is_dir())
                    || !entry
                        .file_name()
                        .to_str()
                        .is_some_and(|name| NEVER_WALKED.contains(&name))
            })
            .build();
        for entry in walker {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    self.walk_error(error, None);
                    continue;
                }
            };
            let path = entry.path();
            let wanted = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e));
            if entry.depth() == 0 || !wanted {
                continue;
            }
            let metadata = match std::fs::metadata(path) {
                Ok(metadata) => metadata,
                Err(error) => {
                    self.entry_error(path, error);
                    continue;
                }
            };
            if metadata.is_dir() {
                continue;
            }
            if let Some(kind) = special_kind(&metadata) {
                self.notices
                    .push(format!("{}: skipped, a {kind}", path.display()));
            } else if self.seen_files.insert((metadata.dev(), metadata.ino())) {
                self.files.push(path.to_owned());
            }
        }
    }

    /// What the walker could not follow: loops and dangling links are passed over with a
    /// notice, anything else is an error (at the path it names, when it names one).
    fn walk_error(&mut self, error: ignore::Error, path: Option<PathBuf>) {
        match error {
            ignore::Error::Loop { child, .. } => self.notices.push(format!(
                "{}: skipped, a symbolic link loop (this folder is already being read)",
                child.display()
            )),
            ignore::Error::WithPath { path, err } => self.walk_error(*err, Some(path)),
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                self.walk_error(*err, path)
            }
            ignore::Error::Io(io) => match path {
                Some(path) => self.entry_error(&path, io),
                None => self.errors.push((PathBuf::new(), io)),
            },
            other => self.errors.push((
                path.unwrap_or_default(),
                std::io::Error::other(other.to_string()),
            )),
        }
    }

    fn entry_error(&mut self, path: &Path, error: std::io::Error) {
        if path.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
            self.notices.push(format!(
                "{}: skipped, a symbolic link to nothing ({error})",
                path.display()
            ));
        } else {
            self.errors.push((path.to_owned(), error));
        }
    }
}

/// The manifest file endings a folder walk takes.
pub const MANIFEST_EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dsguard-input-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn a_walk_survives_link_loops_and_reads_each_file_once() {
        let dir = scratch("loop");
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/ds.yaml"), "kind: DaemonSet\n").unwrap();
        std::fs::write(dir.join("a/notes.txt"), "not a manifest").unwrap();
        // A loop back to the top, a second way to the same file, a dangling link.
        std::os::unix::fs::symlink(&dir, dir.join("a/b/up")).unwrap();
        std::os::unix::fs::symlink(dir.join("a/b/ds.yaml"), dir.join("a/same.yaml")).unwrap();
        std::os::unix::fs::symlink(dir.join("gone.yaml"), dir.join("a/dangling.yaml")).unwrap();
        let mut walk = Walk::default();
        walk.add(&dir, MANIFEST_EXTENSIONS);
        walk.add(&dir.join("a/b/ds.yaml"), MANIFEST_EXTENSIONS);
        assert_eq!(walk.files, vec![dir.join("a/b/ds.yaml")]);
        assert!(walk.errors.is_empty(), "{:?}", walk.errors);
        let notices = walk.notices.join("\n");
        assert!(notices.contains("symbolic link loop"), "{notices}");
        assert!(notices.contains("a symbolic link to nothing"), "{notices}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_walk_leaves_out_what_git_ignores_and_build_output_unless_named() {
        let dir = scratch("ignored");
        for folder in ["target/debug", ".git", "rendered", "manifests"] {
            std::fs::create_dir_all(dir.join(folder)).unwrap();
        }
        for file in [
            "target/debug/out.yaml",
            ".git/config.yaml",
            "rendered/ds.yaml",
            "manifests/ds.yaml",
            "manifests/local.yaml",
        ] {
            std::fs::write(dir.join(file), "kind: DaemonSet\n").unwrap();
        }
        std::fs::write(dir.join(".gitignore"), "/rendered/\n").unwrap();
        std::fs::write(dir.join("manifests/.gitignore"), "local.yaml\n").unwrap();
        let mut walk = Walk::default();
        walk.add(&dir, MANIFEST_EXTENSIONS);
        assert_eq!(walk.files, vec![dir.join("manifests/ds.yaml")]);
        // Named, an ignored file or folder is read.
        walk.add(&dir.join("manifests/local.yaml"), MANIFEST_EXTENSIONS);
        walk.add(&dir.join("target"), MANIFEST_EXTENSIONS);
        assert_eq!(
            walk.files,
            vec![
                dir.join("manifests/ds.yaml"),
                dir.join("manifests/local.yaml"),
                dir.join("target/debug/out.yaml")
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn special_files_are_skipped_in_folders_and_refused_by_name() {
        let dir = scratch("fifo");
        mkfifo(&dir.join("pipe.yaml"));
        std::fs::write(dir.join("ok.yaml"), "a: 1\n").unwrap();
        let mut walk = Walk::default();
        walk.add(&dir, MANIFEST_EXTENSIONS);
        assert_eq!(walk.files, vec![dir.join("ok.yaml")]);
        assert!(walk.notices[0].contains("FIFO"), "{:?}", walk.notices);
        // Named directly, it is refused at once instead of blocking in open().
        let error = read_file(&dir.join("pipe.yaml"), 1024).unwrap_err();
        assert!(error.to_string().contains("FIFO"), "{error}");
        for device in ["/dev/zero", "/dev/urandom", "/dev/null"] {
            let error = read_file(Path::new(device), 1024).unwrap_err();
            assert!(
                error.to_string().contains("character device"),
                "{device}: {error}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn files_over_the_bound_are_refused() {
        let dir = scratch("size");
        std::fs::write(dir.join("big.yaml"), vec![b'a'; 2048]).unwrap();
        assert_eq!(read_file(&dir.join("big.yaml"), 2048).unwrap().len(), 2048);
        let error = read_file(&dir.join("big.yaml"), 2047).unwrap_err();
        assert!(error.to_string().contains("--max-file-bytes"), "{error}");
        // A reader that says nothing of its size is cut at the bound too.
        assert!(read_bounded(std::io::repeat(b'x'), 4096).is_err());
        assert_eq!(read_bounded(&b"abc"[..], 3).unwrap(), b"abc");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
