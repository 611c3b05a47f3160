//! `dsguard certs`: the files, their modes, the caBundle, and SANs that really work: the
//! server is started with the written certificate and reached by every Service name.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use assert_cmd::Command;
use base64::Engine;
use dsguard::server::{self, AppState, CertificateSource};

#[tokio::test]
async fn certs_writes_a_ca_and_a_serving_certificate_for_every_service_name() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("certs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let output = Command::cargo_bin("dsguard")
        .unwrap()
        .args([
            "certs",
            "--service",
            "dsguard",
            "--namespace",
            "platform",
            "--ip",
            "10.96.0.15",
            "--dns",
            "dsguard.example.com",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for file in ["ca.crt", "ca.key", "tls.crt", "tls.key"] {
        assert!(dir.join(file).exists(), "{file}");
    }
    for key in ["ca.key", "tls.key"] {
        assert_eq!(
            std::fs::metadata(dir.join(key))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600,
            "{key}"
        );
    }
    let ca = std::fs::read_to_string(dir.join("ca.crt")).unwrap();
    let patch = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        patch,
        std::fs::read_to_string(dir.join("ca-bundle.yaml")).unwrap(),
        "the printed patch is the one written"
    );
    let bundles: Vec<&str> = patch
        .lines()
        .filter_map(|l| l.trim().strip_prefix("caBundle: "))
        .collect();
    assert_eq!(bundles.len(), 3, "every webhook entry: {patch}");
    for bundle in bundles {
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(bundle)
                .unwrap(),
            ca.as_bytes(),
            "the caBundle is ca.crt"
        );
    }

    let options = common::loopback_options(CertificateSource::Files {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    });
    let state = Arc::new(AppState::new(
        common::corpus_inventory(),
        Default::default(),
        1 << 20,
    ));
    let running = server::start(options, state).await.unwrap();
    let address = running.webhook_address;
    for name in [
        "dsguard",
        "dsguard.platform",
        "dsguard.platform.svc",
        "dsguard.platform.svc.cluster.local",
        "dsguard.example.com",
    ] {
        let client = common::trusting(&ca)
            .resolve(name, address)
            .build()
            .unwrap();
        let response = client
            .get(format!("https://{name}:{}/healthz", address.port()))
            .send()
            .await;
        assert!(response.is_ok_and(|r| r.status().is_success()), "{name}");
    }
    let wrong = common::trusting(&ca)
        .resolve("other.platform.svc", address)
        .build()
        .unwrap();
    assert!(
        wrong
            .get(format!(
                "https://other.platform.svc:{}/healthz",
                address.port()
            ))
            .send()
            .await
            .is_err(),
        "no SAN for other names"
    );
    running.shutdown().await;
}

/// `--force` never writes through a symbolic link nor into a FIFO (which would block),
/// replaces files by renaming new ones over them (a key that was 0644 comes back 0600),
/// and refuses a whole set before writing any of it.
#[test]
fn certs_force_refuses_links_and_special_files_and_keys_are_always_0600() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("certs-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let certs = |force: bool| {
        let mut command = Command::cargo_bin("dsguard").unwrap();
        command.args(["certs", "--out"]).arg(&dir);
        if force {
            command.arg("--force");
        }
        command
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap()
    };
    assert!(certs(false).status.success());
    // An existing key left world-readable by hand: the rotation writes a new file, 0600.
    std::fs::set_permissions(dir.join("tls.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(certs(true).status.success());
    assert_eq!(
        std::fs::metadata(dir.join("tls.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // A key replaced by a link to somewhere else: refused, nothing written anywhere.
    let elsewhere = dir.join("elsewhere.key");
    std::fs::write(&elsewhere, "not yours\n").unwrap();
    std::fs::remove_file(dir.join("tls.key")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.join("tls.key")).unwrap();
    let ca_before = std::fs::read(dir.join("ca.crt")).unwrap();
    let refused = certs(true);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("tls.key is a symbolic link"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "not yours\n");
    assert_eq!(
        std::fs::read(dir.join("ca.crt")).unwrap(),
        ca_before,
        "nothing of the set was written"
    );
    // A FIFO in a key's place is refused at once, not written into (which would block).
    std::fs::remove_file(dir.join("tls.key")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(dir.join("tls.key"))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(dir.join("ca.crt")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(dir.join("ca.crt"))
        .status()
        .unwrap();
    assert!(status.success());
    let refused = certs(true);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is a FIFO"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
