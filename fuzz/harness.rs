//! What each fuzz target does with one input, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/`) and the stable replay of every saved input in `cargo test`
//! (`tests/fuzz_replay.rs`), so CI runs exactly what the fuzzer ran.
//!
//! Each function panics only when dsguard breaks a promise: a panic inside dsguard, an
//! admission answer without the request's uid, a position past the end of the input.

use std::sync::OnceLock;

use dsguard::admission::{self, Endpoint};
use dsguard::config::Config;
use dsguard::inventory::{Inventory, snapshot};
use dsguard::manifests;

/// The repository's `examples/`, from the fuzz crate (`fuzz/`) or from the product's tests.
fn examples() -> std::path::PathBuf {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("examples").is_dir() {
        here.join("examples")
    } else {
        here.join("../examples")
    }
}

/// The bundled 13-node example cluster, with its PriorityClasses and the autoscaling
/// example's NodePools: every rule is live, templates included.
fn inventory() -> &'static Inventory {
    static INVENTORY: OnceLock<Inventory> = OnceLock::new();
    INVENTORY.get_or_init(|| {
        let examples = examples();
        let read = |name: &str| std::fs::read_to_string(examples.join(name)).expect("examples");
        let mut inventory = Inventory::new();
        inventory.reset_nodes(snapshot::nodes_from_str(&read("nodes.yaml"), "nodes").unwrap());
        inventory.reset_priority_classes(
            snapshot::priority_classes_from_str(&read("priorityclasses.yaml"), "pc").unwrap(),
        );
        let pools = snapshot::templates_from_str(&read("autoscaling/nodepools.yaml"), "pools");
        for template in pools.unwrap().templates {
            inventory.apply_template(template);
        }
        inventory
    })
}

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let path = examples().join("dsguard.yaml");
        Config::from_yaml(&std::fs::read_to_string(path).unwrap(), "dsguard.yaml").unwrap()
    })
}

/// An AdmissionReview body through decode and evaluate, as each endpoint answers it.
pub fn admission_review(data: &[u8]) {
    for endpoint in [Endpoint::Validate, Endpoint::Mutate, Endpoint::Both] {
        if let Ok(decision) = admission::review(data, endpoint, inventory(), config()) {
            assert!(!decision.uid.is_empty(), "answered without a uid");
            let response = decision.to_response_bytes();
            let echoed: serde_json::Value = serde_json::from_slice(&response).unwrap();
            assert_eq!(echoed["response"]["uid"], decision.uid.as_str());
        }
    }
}

/// A manifest stream through the YAML reader with its source map, then lint.
pub fn yaml_manifests(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut read = manifests::ReadPaths::default();
    manifests::read_text(text, "fuzz.yaml", &mut read);
    let (found, errors) = (read.manifests, read.errors);
    // Lines as YAML (and editors) count them: a lone CR breaks a line too.
    let lines = dsguard::yaml::yaml_lines(text).count() + 1;
    for manifest in &found {
        assert!(manifest.position.line <= lines, "a position past the input");
    }
    for error in &errors {
        assert!(
            error.position.line <= lines + 1,
            "an error past the input: {error}"
        );
    }
    let sources = dsguard::lint::InventorySources {
        nodes: true,
        priority_classes: true,
        limit_ranges: false,
    };
    let report = dsguard::lint::lint(&found, errors, inventory(), config(), sources);
    let _ = dsguard::lint::to_text(&report, dsguard::lint::TextOptions::default());
    let _ = dsguard::lint::to_json(&report);
}

/// A config file.
pub fn config_file(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::from_yaml(text, "fuzz.yaml");
    }
}

/// A node (and PriorityClass, LimitRange, template) snapshot file, then an index built
/// from it; templates are judged against an open selection.
pub fn node_snapshot(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(nodes) = snapshot::nodes_from_str(text, "fuzz.yaml") {
        let mut inventory = Inventory::new();
        inventory.reset_nodes(nodes);
        let _ = inventory.node_count();
    }
    let _ = snapshot::priority_classes_from_str(text, "fuzz.yaml");
    let _ = snapshot::limit_ranges_from_str(text, "fuzz.yaml");
    if let Ok(loaded) = snapshot::templates_from_str(text, "fuzz.yaml") {
        let mut inventory = Inventory::new();
        for template in loaded.templates {
            inventory.apply_template(template);
        }
        let everything = dsguard::scheduling::NodeSelection::default();
        let placements = inventory.template_placements(&everything, &[], false);
        assert_eq!(placements.len(), inventory.template_count());
    }
}
