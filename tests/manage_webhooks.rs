//! `serve --manage-webhooks` against the local API server, with the real binary: a fresh
//! install (the Secret made, the webhook configurations registered only once a replica is
//! Ready, with the caBundle that verifies what is served), a rotation watched as it happens
//! (`--cert-validity 6s`), a second replica serving the same certificate without writing
//! it, and replicas restarted without a new CA.

mod common;

#[path = "support/fake_apiserver.rs"]
mod fake_apiserver;
#[path = "support/replica.rs"]
mod replica;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::eventually;
use fake_apiserver::{FakeApiServer, LIMIT_RANGES, NODES};
use replica::{Replica, start_replica};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};

const NAMESPACE: &str = "dsguard-system";
const SERVICE_NAME: &str = "dsguard.dsguard-system.svc";

fn secret_text(secret: &Value, key: &str) -> String {
    let encoded = secret["data"][key].as_str().unwrap_or_default();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap_or_default(),
    )
    .unwrap_or_default()
}

fn secret(api: &FakeApiServer) -> Option<Value> {
    api.object("secrets", NAMESPACE, "dsguard-tls")
}

/// The leaf certificate the replica serves, if the handshake verifies against `bundle`
/// for the Service's name, as the API server would check it.
async fn served_certificate(replica: &Replica, bundle: &str) -> Option<Vec<u8>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(bundle.as_bytes()) {
        roots.add(ca.ok()?).ok()?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(&replica.webhook_address)
        .await
        .ok()?;
    let tls = connector
        .connect(ServerName::try_from(SERVICE_NAME).unwrap(), tcp)
        .await
        .ok()?;
    let leaf = tls.get_ref().1.peer_certificates()?.first()?.to_vec();
    Some(leaf)
}

fn pem_der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

async fn cluster() -> FakeApiServer {
    let api = FakeApiServer::start().await;
    api.preload(
        NODES,
        [json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"kubernetes.io/os": "linux"}}})],
    );
    api.preload(LIMIT_RANGES, []);
    api.create(
        "clusterroles",
        "",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "dsguard"}, "rules": []}),
    );
    api
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_install_registers_the_webhooks_when_ready_and_rotates_its_certificate() {
    let api = cluster().await;
    let dir = common::scratch_dir("manage-webhooks", "fresh");
    let managed = ["--manage-webhooks", "--cert-validity", "6s"];
    let a = start_replica(&api, &dir, "replica-a", &managed);
    eventually(
        "replica-a is ready with the Secret's certificate",
        async || a.ready().await,
    )
    .await;
    let first = secret(&api).expect("the Secret was made");
    assert_eq!(first["type"], "kubernetes.io/tls");
    let bundle = secret_text(&first, "ca-bundle.crt");
    assert!(bundle.contains("BEGIN CERTIFICATE"));

    eventually("the webhook configurations are registered", async || {
        api.object("validatingwebhookconfigurations", "", "dsguard")
            .is_some()
            && api
                .object("mutatingwebhookconfigurations", "", "dsguard")
                .is_some()
    })
    .await;
    let role_uid = api.object("clusterroles", "", "dsguard").unwrap()["metadata"]["uid"].clone();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bundle);
    for kind in [
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
    ] {
        let configuration = api.object(kind, "", "dsguard").unwrap();
        assert_eq!(
            configuration["metadata"]["ownerReferences"][0]["uid"],
            role_uid
        );
        for webhook in configuration["webhooks"].as_array().unwrap() {
            assert_eq!(webhook["clientConfig"]["caBundle"], encoded, "{kind}");
            assert_eq!(webhook["clientConfig"]["service"]["namespace"], NAMESPACE);
        }
    }
    let validating = api
        .object("validatingwebhookconfigurations", "", "dsguard")
        .unwrap();
    assert_eq!(validating["webhooks"][0]["failurePolicy"], "Fail");
    assert_eq!(validating["webhooks"][1]["failurePolicy"], "Ignore");

    // What the API server will see: a certificate for the Service, signed by the bundle.
    let served = served_certificate(&a, &bundle).await.expect("verifies");
    assert_eq!(served, pem_der(&secret_text(&first, "tls.crt")));

    // Two thirds of 6 s later, a new serving certificate from the same CA, served.
    eventually(
        "the serving certificate is renewed and served",
        async || {
            let now = secret(&api).unwrap();
            let renewed = secret_text(&now, "tls.crt");
            renewed != secret_text(&first, "tls.crt")
                && served_certificate(&a, &bundle).await == Some(pem_der(&renewed))
        },
    )
    .await;
    let now = secret(&api).unwrap();
    assert_eq!(secret_text(&now, "ca.crt"), secret_text(&first, "ca.crt"));
    assert_eq!(secret_text(&now, "ca-bundle.crt"), bundle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_secret_only_the_leader_writes_and_a_restart_keeps_the_ca() {
    let api = cluster().await;
    let dir = common::scratch_dir("manage-webhooks", "replicas");
    let managed = ["--manage-webhooks", "--cert-validity", "1h"];
    let a = start_replica(&api, &dir, "replica-a", &managed);
    eventually("replica-a leads and is ready", async || {
        a.leading().await && a.ready().await
    })
    .await;
    let b = start_replica(&api, &dir, "replica-b", &managed);
    eventually("replica-b is ready from the same Secret", async || {
        b.ready().await
    })
    .await;
    let written = secret(&api).unwrap();
    let bundle = secret_text(&written, "ca-bundle.crt");
    let certificate = pem_der(&secret_text(&written, "tls.crt"));
    assert_eq!(
        served_certificate(&b, &bundle).await,
        Some(certificate.clone())
    );
    assert!(
        !b.logged("certificate Secret written"),
        "only the leader writes"
    );
    let secret_writes = || {
        api.writes()
            .iter()
            .filter(|w| w.plural == "secrets")
            .count()
    };
    assert_eq!(secret_writes(), 1, "made once");

    // The leader goes; the other takes over and keeps the certificate.
    a.signal("-TERM");
    eventually("replica-b leads", async || b.leading().await).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        secret_writes(),
        1,
        "a new leader does not remake a valid Secret"
    );
    // A restarted replica serves the same certificate.
    drop(a);
    let c = start_replica(&api, &dir, "replica-a2", &managed);
    eventually("the restarted replica is ready", async || c.ready().await).await;
    assert_eq!(served_certificate(&c, &bundle).await, Some(certificate));
    assert_eq!(
        secret_text(&secret(&api).unwrap(), "ca.crt"),
        secret_text(&written, "ca.crt")
    );
}
