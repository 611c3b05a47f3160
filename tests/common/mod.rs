//! Shared helpers for the integration tests: the corpus inventory and manifests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use dsguard::config::Config;
use dsguard::inventory::{Inventory, PriorityClass, snapshot};
use dsguard::manifests::{self, Manifest};
use dsguard::policy::{self, Context, DaemonSet, Phase, Verdict};

pub fn corpus(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(path)
}

/// All 20 corpus nodes in one inventory, as `kubectl get nodes` would list them.
pub fn corpus_inventory() -> Inventory {
    let mut nodes = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus("nodes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        nodes.extend(snapshot::load_nodes(&file, dsguard::input::DEFAULT_MAX_FILE_BYTES).unwrap());
    }
    let mut inventory = Inventory::new();
    inventory.reset_nodes(nodes);
    inventory.reset_priority_classes([PriorityClass {
        name: "dsguard-default".into(),
        value: 1000,
        global_default: false,
        never_preempts: false,
    }]);
    inventory.reset_limit_ranges([]);
    inventory
}

/// The DaemonSet documents of one corpus manifest file.
pub fn daemonset_manifests(file: &str) -> Vec<Manifest> {
    let read = manifests::read_paths(
        &[corpus(&format!("daemonsets/{file}"))],
        dsguard::input::DEFAULT_MAX_FILE_BYTES,
    );
    assert!(read.errors.is_empty(), "{:?}", read.errors);
    read.manifests
        .into_iter()
        .filter(Manifest::is_daemonset)
        .collect()
}

pub fn daemonset(file: &str) -> (Manifest, DaemonSet) {
    let manifest = daemonset_manifests(file)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{file} has a DaemonSet"));
    let object = DaemonSet::from_value(&manifest.value).unwrap_or_else(|e| panic!("{file}: {e}"));
    (manifest, object)
}

pub fn namespace_of(object: &DaemonSet) -> String {
    object.namespace_or_default().to_owned()
}

/// What `lint` computes for a manifest: mutation, then validation.
pub fn lint_verdict(object: &DaemonSet, inventory: &Inventory, config: &Config) -> Verdict {
    let namespace = namespace_of(object);
    policy::evaluate(
        object,
        &Context {
            inventory,
            config,
            namespace: &namespace,
            phase: Phase::MutateThenValidate,
            quiet_when_unsynced: false,
            deadline: None,
        },
    )
}

/// An HTTPS client that trusts exactly `ca` (no system roots), as a builder to finish.
pub fn trusting(ca: &str) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
}

/// Waits (up to 30 s, checking every 25 ms) for `check` to hold; panics naming `what`.
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A webhook on a free loopback port: no metrics listener, no client CA, no config file,
/// 1 MiB bodies, files checked every minute, 1 s shutdown grace.
pub fn loopback_options(
    certificate: dsguard::server::CertificateSource,
) -> dsguard::server::ServeOptions {
    dsguard::server::ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: None,
        certificate,
        client_ca: None,
        config_path: None,
        max_body_bytes: 1 << 20,
        reload_interval: std::time::Duration::from_secs(60),
        shutdown_grace: std::time::Duration::from_secs(1),
        connections: dsguard::server::ConnectionLimits::default(),
        max_file_bytes: dsguard::input::DEFAULT_MAX_FILE_BYTES,
    }
}

/// A raw TLS client that trusts exactly `ca_pem` and offers ALPN `http/1.1` only, as the
/// API server does: for tests that must stop halfway or say nothing at all.
#[allow(dead_code)]
pub fn tls_connector(ca_pem: &[u8]) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// A fresh, empty folder for one test: `CARGO_TARGET_TMPDIR/{suite}-{name}-{pid}`.
pub fn scratch_dir(suite: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
