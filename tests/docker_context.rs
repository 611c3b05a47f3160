//! The Dockerfile builds. No container engine runs on these machines, so CI proves it the
//! way the builder would see it: the build context is assembled exactly as `.dockerignore`
//! lets files in and the build stage's COPY lines place them, and the crate is checked
//! there (`cargo check`: everything but code generation). A file the code embeds
//! (`include_str!`) that the Dockerfile forgets to copy, or that `.dockerignore` keeps out,
//! fails this test as it would fail `docker build`.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `.dockerignore` as the builder reads it: patterns in order, `!` re-includes, the last
/// pattern that matches a path (or one of its parents) decides.
struct DockerIgnore {
    patterns: Vec<(bool, String)>,
}

impl DockerIgnore {
    fn read(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| match line.strip_prefix('!') {
                Some(pattern) => (false, clean(pattern)),
                None => (true, clean(line)),
            })
            .collect();
        Self { patterns }
    }

    /// Whether `relative` (a path inside the context) is left out of it.
    fn excludes(&self, relative: &Path) -> bool {
        let text = relative.to_string_lossy();
        let mut excluded = false;
        for (exclude, pattern) in &self.patterns {
            if matches_path_or_parent(pattern, &text) {
                excluded = *exclude;
            }
        }
        excluded
    }
}

fn clean(pattern: &str) -> String {
    pattern
        .trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_owned()
}

/// Go's `filepath.Match` over whole segments (`*` and `?` within a segment, `**` across
/// them), applied to the path and each of its parents, as the builder's matcher does.
fn matches_path_or_parent(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let segments: Vec<&str> = path.split('/').collect();
    (1..=segments.len()).any(|n| segments_match(&pattern, &segments[..n]))
}

fn segments_match(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(&"**"), _) => {
            segments_match(&pattern[1..], path)
                || (!path.is_empty() && segments_match(pattern, &path[1..]))
        }
        (Some(p), Some(s)) => {
            glob(p.as_bytes(), s.as_bytes()) && segments_match(&pattern[1..], &path[1..])
        }
        _ => false,
    }
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) => p == t && glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

/// The build stage's `COPY SRC... DEST` lines (those of later stages copy `--from` a stage).
fn build_stage_copies(dockerfile: &str) -> (PathBuf, Vec<(Vec<String>, String)>) {
    let mut workdir = PathBuf::from("/");
    let mut copies = Vec::new();
    let mut stages = 0;
    for line in dockerfile.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("FROM") => stages += 1,
            Some("WORKDIR") if stages == 1 => workdir = workdir.join(words.next().unwrap()),
            Some("COPY") | Some("ADD") if stages == 1 => {
                let arguments: Vec<String> = words
                    .filter(|w| !w.starts_with("--"))
                    .map(str::to_owned)
                    .collect();
                let (destination, sources) = arguments.split_last().expect("COPY SRC DEST");
                copies.push((sources.to_vec(), destination.clone()));
            }
            _ => {}
        }
    }
    assert_eq!(stages, 2, "a build stage and a runtime stage");
    (workdir, copies)
}

/// Copies `source` (a file or a folder) to `destination`, leaving out what the context
/// excludes; returns how many files were copied.
fn copy_into_context(
    source: &Path,
    relative: &Path,
    destination: &Path,
    ignore: &DockerIgnore,
) -> usize {
    if ignore.excludes(relative) && !source.is_dir() {
        return 0;
    }
    if source.is_dir() {
        let mut copied = 0;
        let mut entries: Vec<_> = std::fs::read_dir(source)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for entry in entries {
            let name = entry.file_name().unwrap();
            copied += copy_into_context(
                &entry,
                &relative.join(name),
                &destination.join(name),
                ignore,
            );
        }
        copied
    } else {
        std::fs::create_dir_all(destination.parent().unwrap()).unwrap();
        std::fs::copy(source, destination).unwrap();
        1
    }
}

/// The path under WORKDIR a COPY destination names, inside `context`.
fn inside(context: &Path, workdir: &Path, destination: &str) -> PathBuf {
    let target = workdir.join(destination);
    let mut path = context.to_owned();
    for component in target.components() {
        if let Component::Normal(part) = component {
            path.push(part);
        }
    }
    path
}

#[test]
fn the_dockerignore_reads_as_the_builder_reads_it() {
    let ignore = DockerIgnore {
        patterns: vec![
            (true, "*".into()),
            (false, "src".into()),
            (false, "docs/rules".into()),
            (true, "src/**/*.tmp".into()),
        ],
    };
    assert!(ignore.excludes(Path::new("target/debug/dsguard")));
    assert!(ignore.excludes(Path::new(".git/HEAD")));
    assert!(!ignore.excludes(Path::new("src/main.rs")));
    assert!(!ignore.excludes(Path::new("docs/rules/DSG001.md")));
    assert!(ignore.excludes(Path::new("docs/operations.md")));
    assert!(ignore.excludes(Path::new("src/lint/x.tmp")));
}

#[test]
fn the_image_builds_from_exactly_what_the_dockerfile_copies() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let ignore = DockerIgnore::read(&root().join(".dockerignore"));
    let (workdir, copies) = build_stage_copies(&dockerfile);
    assert_eq!(workdir, Path::new("/src"));
    let context = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docker-build-context");
    let _ = std::fs::remove_dir_all(&context);
    std::fs::create_dir_all(&context).unwrap();
    for (sources, destination) in &copies {
        for source in sources {
            let relative = Path::new(source);
            let copied = copy_into_context(
                &root().join(relative),
                relative,
                &if sources.len() > 1
                    || destination.ends_with('/') && !root().join(relative).is_dir()
                {
                    inside(&context, &workdir, destination).join(relative.file_name().unwrap())
                } else {
                    inside(&context, &workdir, destination)
                },
                &ignore,
            );
            assert!(
                copied > 0,
                "COPY {source}: .dockerignore leaves nothing of it in the context"
            );
        }
    }
    // What the build does not need stays out of the context.
    for left_out in [
        "target",
        ".git",
        "tests",
        "fuzz",
        "examples",
        "docs/operations.md",
    ] {
        assert!(
            ignore.excludes(Path::new(left_out)),
            "{left_out} is sent to the builder"
        );
    }
    // The build stage's RUN line, in the assembled context, as a `cargo check`: what the
    // context can break (a missing `include_str!` file, a missing module, a Cargo.toml
    // target whose source is not copied) fails there already, and check writes metadata,
    // not a second 300 MB binary on a CI disk. Dependencies are shared with the suite's
    // own target folder; the crate itself checks from the context (a package of another
    // path, so its artifacts are its own).
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/tmp sits in the target folder")
        .to_owned();
    let output = Command::new(env!("CARGO"))
        .args(["check", "--locked", "--offline", "--bin", "dsguard"])
        .current_dir(inside(&context, &workdir, "."))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the build stage fails in the Dockerfile's context:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
