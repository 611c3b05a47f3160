//! `cargo bench --bench lint`: YAML DaemonSet documents linted per second (BENCHMARKS.md asks
//! for at least 7,000 on this 2-core machine). The input is the 56 real corpus DaemonSets
//! repeated into one multi-document stream of 11,200 documents (as `helm template` or
//! `kustomize build` would pipe them), linted against the 20 corpus nodes: parse with
//! positions, decode, mutate, validate, locate every finding. The median of 7 runs.
//! Run it under `taskset -c 0` for the one-core figure: dsguard uses as many threads as
//! `available_parallelism` reports.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use dsguard::config::Config;
use dsguard::inventory::{Inventory, snapshot};
use dsguard::lint::{self, InventorySources};
use dsguard::manifests;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(root.join("daemonsets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let documents: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let repeats = 200;
    let mut stream = String::new();
    for _ in 0..repeats {
        for document in &documents {
            stream.push_str("---\n");
            stream.push_str(document);
            stream.push('\n');
        }
    }
    let mut inventory = Inventory::new();
    inventory.reset_nodes(
        snapshot::load_nodes(&root.join("nodes"), dsguard::input::DEFAULT_MAX_FILE_BYTES).unwrap(),
    );
    let config = Config::default();
    let sources = InventorySources {
        nodes: true,
        priority_classes: false,
        limit_ranges: false,
    };
    let count = documents.len() * repeats;
    println!(
        "input: {count} DaemonSet documents, {:.1} MiB of YAML",
        stream.len() as f64 / 1_048_576.0
    );

    let start = Instant::now();
    let mut events = 0usize;
    for event in saphyr_parser::Parser::new_from_str(&stream) {
        black_box(event.unwrap());
        events += 1;
    }
    println!(
        "breakdown: saphyr events alone {:?} ({events} events)",
        start.elapsed()
    );
    let start = Instant::now();
    let docs = dsguard::yaml::parse_stream(&stream);
    println!(
        "breakdown: parse_stream (values + source maps) {:?}",
        start.elapsed()
    );
    drop(docs);
    let mut rates = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let mut read = manifests::ReadPaths::default();
        manifests::read_text(&stream, "stream.yaml", &mut read);
        let report = lint::lint(&read.manifests, read.errors, &inventory, &config, sources);
        let text = lint::to_json(&report);
        black_box(text);
        let elapsed = start.elapsed();
        assert_eq!(report.daemonsets.len(), count);
        rates.push(count as f64 / elapsed.as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "lint (parse + evaluate + JSON report), {} threads: median {:.0} documents/s (min {:.0}, max {:.0})",
        std::thread::available_parallelism().map_or(1, usize::from),
        rates[rates.len() / 2],
        rates[0],
        rates[rates.len() - 1]
    );
}
