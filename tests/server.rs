//! The real webhook server on loopback, over real TLS with a client that verifies the CA,
//! over HTTP/1.1 (as the API server speaks) and HTTP/2. Shares the golden AdmissionReview
//! fixtures with the `review` tests.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::{corpus, corpus_inventory, eventually};
use dsguard::certs::{self, WebhookCertificates};
use dsguard::config::Config;
use dsguard::server::{self, AppState, CertificateSource, RunningServer, ServeOptions};
use serde_json::{Value, json};

fn scratch(name: &str) -> PathBuf {
    common::scratch_dir("server", name)
}

fn localhost_certs() -> WebhookCertificates {
    certs::generate(
        "dsguard-test",
        &["localhost".to_owned()],
        &["127.0.0.1".parse().unwrap()],
    )
    .unwrap()
}

/// Writes a certificate pair the way a Kubernetes secret volume holds it: files behind a
/// `..data` symlink to a timestamped folder.
fn write_secret_volume(dir: &Path, generation: &str, certs: &WebhookCertificates) {
    let data = dir.join(generation);
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("tls.crt"), &certs.cert).unwrap();
    std::fs::write(data.join("tls.key"), &certs.key).unwrap();
    let staging = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&staging);
    std::os::unix::fs::symlink(generation, &staging).unwrap();
    std::fs::rename(&staging, dir.join("..data")).unwrap();
    for file in ["tls.crt", "tls.key"] {
        let link = dir.join(file);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{file}"), &link).unwrap();
        }
    }
}

struct Harness {
    server: RunningServer,
    ca: String,
    dir: PathBuf,
}

async fn start_with(
    name: &str,
    config: Option<&str>,
    client_ca: Option<&str>,
    inventory: dsguard::inventory::Inventory,
) -> Harness {
    let dir = scratch(name);
    let certs = localhost_certs();
    write_secret_volume(&dir, "data-1", &certs);
    let config_path = config.map(|text| {
        let path = dir.join("config.yaml");
        std::fs::write(&path, text).unwrap();
        path
    });
    let client_ca_path = client_ca.map(|pem| {
        let path = dir.join("client-ca.crt");
        std::fs::write(&path, pem).unwrap();
        path
    });
    let initial = config
        .map(|text| Config::from_yaml(text, "config.yaml").unwrap())
        .unwrap_or_default();
    let options = ServeOptions {
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        client_ca: client_ca_path,
        config_path,
        max_body_bytes: 64 * 1024,
        reload_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(5),
        connections: dsguard::server::ConnectionLimits::default(),
        max_file_bytes: dsguard::input::DEFAULT_MAX_FILE_BYTES,
        ..common::loopback_options(CertificateSource::Files {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        })
    };
    let state = Arc::new(AppState::new(inventory, initial, options.max_body_bytes));
    let server = server::start(options, state).await.unwrap();
    Harness {
        server,
        ca: certs.ca_cert,
        dir,
    }
}

async fn start(name: &str) -> Harness {
    start_with(name, None, None, corpus_inventory()).await
}

fn client(ca: &str, http2: bool) -> reqwest::Client {
    let builder = common::trusting(ca).pool_max_idle_per_host(4);
    let builder = if http2 {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    };
    builder.build().unwrap()
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!(
            "https://localhost:{}{path}",
            self.server.webhook_address.port()
        )
    }

    async fn metrics(&self) -> String {
        reqwest::get(self.metrics_url())
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    fn metrics_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/metrics",
            self.server.metrics_address.unwrap().port()
        )
    }
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/admission")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn review_of(file: &str) -> Value {
    let (manifest, object) = common::daemonset(file);
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": format!("uid-{file}"), "kind": {"group": "apps", "version": "v1", "kind": "DaemonSet"},
                    "namespace": common::namespace_of(&object), "operation": "CREATE", "object": manifest.value}
    })
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
) -> (reqwest::StatusCode, reqwest::Version, Value) {
    let response = client.post(url).json(body).send().await.unwrap();
    let (status, version) = (response.status(), response.version());
    (status, version, response.json().await.unwrap())
}

#[tokio::test]
async fn deny_allow_and_warnings_over_http1_and_http2() {
    let harness = start("basic").await;
    for http2 in [false, true] {
        let client = client(&harness.ca, http2);
        let (status, version, body) = post(
            &client,
            &harness.url("/validate?timeout=10s"),
            &fixture("validate-create-v1.26.json"),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            version,
            if http2 {
                reqwest::Version::HTTP_2
            } else {
                reqwest::Version::HTTP_11
            }
        );
        assert_eq!(
            body["response"]["uid"],
            "5a11e3df-22ce-471f-88b5-ad00a9a7ecf4"
        );
        assert_eq!(body["response"]["allowed"], false);
        let message = body["response"]["status"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("DSG001 selector-matches-no-node:"),
            "{message}"
        );

        // Allowed with warnings: every DSG003 finding downgraded by config would need a
        // reload; the longhorn class warning (DSG004) is a plain allow-with-warning.
        let (status, _, body) = post(
            &client,
            &harness.url("/validate"),
            &review_of("kube-prometheus-node-exporter.yaml"),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["response"]["allowed"], true, "{body}");
    }
    let client = client(&harness.ca, false);
    let (_, _, body) = post(
        &client,
        &harness.url("/validate"),
        &review_of("longhorn-longhorn-manager.yaml"),
    )
    .await;
    let warnings = body["response"]["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .unwrap()
            .starts_with("DSG004 unknown-priority-class")),
        "{body}"
    );
    harness.server.shutdown().await;
}

#[tokio::test]
async fn the_webhook_answers_exactly_what_review_answers_on_the_golden_fixtures() {
    let harness = start("golden").await;
    let client = client(&harness.ca, false);
    // The same inventory the harness serves from: corpus nodes, dsguard-default, no
    // LimitRanges.
    let classes = harness.dir.join("priorityclasses.yaml");
    std::fs::write(
        &classes,
        "kind: PriorityClass\nmetadata: {name: dsguard-default}\nvalue: 1000\n",
    )
    .unwrap();
    let ranges = harness.dir.join("limitranges.yaml");
    std::fs::write(&ranges, "kind: List\nitems: []\n").unwrap();
    for (name, endpoint) in [
        ("validate-create-v1.26.json", "validate"),
        ("validate-create-v1.20.json", "validate"),
        ("validate-update-v1.26.json", "validate"),
        ("mutate-create-v1.26.json", "mutate"),
    ] {
        let review = fixture(name);
        let (_, _, webhook) = post(
            &client,
            &harness.url(&format!("/{endpoint}?timeout=10s")),
            &review,
        )
        .await;
        let output = assert_cmd::Command::cargo_bin("dsguard")
            .unwrap()
            .args(["review", "--webhook", endpoint, "--nodes"])
            .arg(corpus("nodes"))
            .arg("--priorityclasses")
            .arg(&classes)
            .arg("--limitranges")
            .arg(&ranges)
            .write_stdin(serde_json::to_vec(&review).unwrap())
            .output()
            .unwrap();
        let cli: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{name}: review printed no JSON ({e}): {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        assert_eq!(webhook, cli, "{name}: webhook vs review");
    }
    harness.server.shutdown().await;
}

#[tokio::test]
async fn a_mutation_patch_applies_to_the_incoming_object() {
    let harness = start("mutate").await;
    let client = client(&harness.ca, true);
    let review = fixture("mutate-create-v1.26.json");
    let (_, _, body) = post(&client, &harness.url("/mutate?timeout=10s"), &review).await;
    assert_eq!(body["response"]["allowed"], true);
    assert_eq!(body["response"]["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(body["response"]["patch"].as_str().unwrap())
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    let mut object = review["request"]["object"].clone();
    json_patch::patch(&mut object, &patch).unwrap();
    let mut expected = review["request"]["object"].clone();
    expected["spec"]["template"]["spec"]["priorityClassName"] = json!("dsguard-default");
    expected["metadata"]["annotations"]["dsguard.io/mutated"] =
        json!("priorityClassName=dsguard-default");
    assert_eq!(object, expected);
    harness.server.shutdown().await;
}

#[tokio::test]
async fn an_update_is_grandfathered() {
    let harness = start("update").await;
    let (_, _, body) = post(
        &client(&harness.ca, false),
        &harness.url("/validate"),
        &fixture("validate-update-v1.26.json"),
    )
    .await;
    assert_eq!(body["response"]["allowed"], true);
    assert!(
        body["response"]["warnings"]
            .to_string()
            .contains("already present before this update")
    );
    harness.server.shutdown().await;
}

/// Over HTTP/1.1 and HTTP/2 alike, with and without a declared length, a body over the
/// limit gets its 413 (over HTTP/2 the stream is reset only after the answer, with
/// NO_ERROR, so the client reads it instead of a stream error).
#[tokio::test]
async fn malformed_and_oversized_bodies_get_json_errors() {
    let harness = start("bad-bodies").await;
    for http2 in [false, true] {
        let client = client(&harness.ca, http2);
        for (body, status, needle) in [
            ("{\"apiVersion\": ".to_owned(), 400, "not an AdmissionReview"),
            ("[]".to_owned(), 400, "expected kind AdmissionReview"),
            (json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"operation": "CREATE"}}).to_string(), 400, "no uid"),
            (format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024)), 413, "larger than the 65536-byte limit"),
            (format!("{{\"pad\": \"{}\"}}", "x".repeat(4 << 20)), 413, "larger than the 65536-byte limit"),
        ] {
            let response = client.post(harness.url("/validate")).header("content-type", "application/json").body(body).send().await.unwrap();
            assert_eq!(response.status().as_u16(), status, "http2 {http2}");
            let error: Value = response.json().await.unwrap();
            assert!(error["error"].as_str().unwrap().contains(needle), "{error}");
            assert_eq!(error["code"], status);
        }
        // No declared length: the limit is found while reading.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            (0..64).map(|_| Ok(vec![b' '; 16 * 1024])).collect();
        let response = client
            .post(harness.url("/validate"))
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("http2 {http2}: {e:?}"));
        assert_eq!(response.status().as_u16(), 413, "http2 {http2}");
        // The server is still fine afterwards.
        let (status, _, _) = post(
            &client,
            &harness.url("/validate"),
            &fixture("validate-create-v1.26.json"),
        )
        .await;
        assert_eq!(status, 200);
    }
    let metrics = harness.metrics().await;
    assert!(
        metrics.contains(
            "dsguard_admission_requests_total{endpoint=\"validate\",decision=\"error\"} 12"
        ),
        "{metrics}"
    );
    harness.server.shutdown().await;
}

/// curl (Debian's, before 8.1) reports a stream reset after an early answer as an error:
/// the oversized body is drained within bounds first, so curl reads its 413 over HTTP/2
/// and HTTP/1.1.
#[tokio::test]
async fn curl_reads_the_413_over_http2_and_http1() {
    let harness = start("curl-413").await;
    let ca = harness.dir.join("ca-for-curl.crt");
    std::fs::write(&ca, &harness.ca).unwrap();
    let body = harness.dir.join("big.json");
    std::fs::write(&body, vec![b' '; 1 << 20]).unwrap();
    for version in ["--http2", "--http1.1"] {
        for length in [true, false] {
            let mut command = tokio::process::Command::new("curl");
            command
                .args(["-s", version, "--cacert"])
                .arg(&ca)
                .args(["-w", "\n%{http_code}", "--data-binary"])
                .arg(format!("@{}", body.display()))
                .arg(harness.url("/validate"));
            if !length {
                command.args(["-H", "Transfer-Encoding: chunked"]);
            }
            let output = command
                .output()
                .await
                .expect("curl is installed (scripts/test installs it)");
            let text = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success()
                    && text.ends_with("\n413")
                    && text.contains("65536-byte limit"),
                "curl {version} (declared length {length}): exit {:?}: {text}",
                output.status.code()
            );
        }
    }
    harness.server.shutdown().await;
}

#[tokio::test]
async fn certificate_rotation_by_symlink_swap_keeps_keep_alive_clients_working() {
    let harness = start("rotation").await;
    let old_client = client(&harness.ca, false);
    let review = fixture("validate-create-v1.26.json");
    assert_eq!(
        post(&old_client, &harness.url("/validate"), &review)
            .await
            .0,
        200
    );

    let next = localhost_certs();
    write_secret_volume(&harness.dir, "data-2", &next);
    let new_client = client(&next.ca_cert, false);
    eventually("new connections get the new certificate", async || {
        new_client.get(harness.url("/healthz")).send().await.is_ok()
    })
    .await;
    // The keep-alive connection opened before the rotation still works.
    assert_eq!(
        post(&old_client, &harness.url("/validate"), &review)
            .await
            .0,
        200
    );
    // A fresh client that only trusts the old CA is refused now.
    assert!(
        client(&harness.ca, false)
            .get(harness.url("/healthz"))
            .send()
            .await
            .is_err()
    );

    // A broken certificate is rejected and the current one keeps serving.
    let data = harness.dir.join("data-3");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("tls.crt"),
        "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(data.join("tls.key"), &next.key).unwrap();
    let staging = harness.dir.join("..data_tmp");
    std::os::unix::fs::symlink("data-3", &staging).unwrap();
    std::fs::rename(&staging, harness.dir.join("..data")).unwrap();
    eventually(
        "the bad certificate is counted as a failed reload",
        async || {
            harness
                .metrics()
                .await
                .contains("dsguard_certificate_reloads_total{result=\"failed\"} 1")
        },
    )
    .await;
    let metrics = harness.metrics().await;
    assert!(
        metrics.contains("dsguard_certificate_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        client(&next.ca_cert, false)
            .get(harness.url("/healthz"))
            .send()
            .await
            .is_ok(),
        "the good certificate still serves"
    );
    // A key that does not match is refused the same way.
    let other = localhost_certs();
    std::fs::write(data.join("tls.crt"), &next.cert).unwrap();
    std::fs::write(data.join("tls.key"), &other.key).unwrap();
    eventually(
        "a key that does not match its certificate is refused and counted",
        async || {
            harness
                .metrics()
                .await
                .contains("dsguard_certificate_reloads_total{result=\"failed\"} 2")
        },
    )
    .await;
    assert!(
        client(&next.ca_cert, false)
            .get(harness.url("/healthz"))
            .send()
            .await
            .is_ok()
    );
    harness.server.shutdown().await;
}

/// A client certificate signed by `issuer_params`/`issuer_key`.
fn client_identity() -> (String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
        KeyPair, PKCS_ECDSA_P256_SHA256,
    };
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = CertifiedIssuer::self_signed(ca, ca_key).unwrap();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(vec!["kube-apiserver".to_owned()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    (
        issuer.pem(),
        format!("{}{}", cert.pem(), key.serialize_pem()),
    )
}

#[tokio::test]
async fn client_certificates_are_required_when_a_client_ca_is_set() {
    let (client_ca, identity) = client_identity();
    let harness = start_with("mtls", None, Some(&client_ca), corpus_inventory()).await;
    let anonymous = client(&harness.ca, false);
    assert!(
        anonymous.get(harness.url("/healthz")).send().await.is_err(),
        "no client certificate: refused"
    );
    let authenticated = common::trusting(&harness.ca)
        .identity(reqwest::Identity::from_pem(identity.as_bytes()).unwrap())
        .http1_only()
        .build()
        .unwrap();
    let (status, _, body) = post(
        &authenticated,
        &harness.url("/validate"),
        &fixture("validate-create-v1.26.json"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["response"]["allowed"], false);
    // A certificate from another CA is refused too.
    let (_, stranger) = client_identity();
    let stranger = common::trusting(&harness.ca)
        .identity(reqwest::Identity::from_pem(stranger.as_bytes()).unwrap())
        .build()
        .unwrap();
    assert!(stranger.get(harness.url("/healthz")).send().await.is_err());
    harness.server.shutdown().await;

    // And without a client CA, anonymous clients are served.
    let open = start("no-mtls").await;
    assert!(
        client(&open.ca, false)
            .get(open.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    open.server.shutdown().await;
}

#[tokio::test]
async fn a_config_reload_applies_and_a_bad_one_is_rejected() {
    let harness = start_with(
        "reload",
        Some("rules:\n  selector-matches-no-node: {action: deny}\n"),
        None,
        corpus_inventory(),
    )
    .await;
    let client = client(&harness.ca, false);
    let review = fixture("validate-create-v1.26.json");
    assert_eq!(
        post(&client, &harness.url("/validate"), &review).await.2["response"]["allowed"],
        false
    );

    std::fs::write(
        harness.dir.join("config.yaml"),
        "rules:\n  selector-matches-no-node: {action: warn}\n  missing-resource-limits: {action: warn}\n",
    )
    .unwrap();
    eventually(
        "the new config takes effect without a restart",
        async || {
            post(&client, &harness.url("/validate"), &review).await.2["response"]["allowed"] == true
        },
    )
    .await;

    std::fs::write(
        harness.dir.join("config.yaml"),
        "rules:\n  missing-resource-limits: {action: block}\n",
    )
    .unwrap();
    eventually("the bad config is counted as a failed reload", async || {
        harness
            .metrics()
            .await
            .contains("dsguard_config_reloads_total{result=\"failed\"} 1")
    })
    .await;
    let metrics = harness.metrics().await;
    assert!(
        metrics.contains("dsguard_config_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );
    let body = post(&client, &harness.url("/validate"), &review).await.2;
    assert_eq!(
        body["response"]["allowed"], true,
        "the last good config stays in force"
    );
    harness.server.shutdown().await;
}

#[tokio::test]
async fn readiness_waits_for_the_inventory_and_metrics_report_it() {
    let harness = start_with("readyz", None, None, dsguard::inventory::Inventory::new()).await;
    let plain = format!(
        "http://127.0.0.1:{}",
        harness.server.metrics_address.unwrap().port()
    );
    let response = reqwest::get(format!("{plain}/readyz")).await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("first full sync of nodes")
    );
    assert_eq!(
        reqwest::get(format!("{plain}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    // Unsynced: node rules do not deny.
    let (_, _, body) = post(
        &client(&harness.ca, false),
        &harness.url("/validate"),
        &fixture("validate-create-v1.26.json"),
    )
    .await;
    assert!(
        !body["response"]["status"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("DSG001")
    );
    harness.server.state.replace_inventory(corpus_inventory());
    assert_eq!(
        reqwest::get(format!("{plain}/readyz"))
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = reqwest::get(format!("{plain}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("dsguard_inventory_objects{kind=\"nodes\"} 20"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dsguard_inventory_age_seconds"),
        "{metrics}"
    );
    assert!(metrics.contains("dsguard_log_lines_dropped"), "{metrics}");
    assert!(
        metrics.contains("dsguard_admission_duration_seconds_bucket{le=\"0.001\""),
        "{metrics}"
    );
    harness.server.shutdown().await;
}

#[tokio::test]
async fn requests_and_exemptions_are_counted_by_rule_and_source() {
    let harness = start("counted").await;
    let client = client(&harness.ca, false);
    let mut review = fixture("validate-create-v1.26.json");
    review["request"]["object"]["metadata"]["annotations"] =
        json!({"dsguard.io/exempt": "DSG003", "dsguard.io/exempt-reason": "test"});
    post(&client, &harness.url("/validate"), &review).await;
    let metrics = harness.metrics().await;
    assert!(
        metrics.contains("dsguard_rule_hits_total{rule=\"DSG001\",action=\"deny\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dsguard_exemptions_used_total{source=\"annotation\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "dsguard_admission_requests_total{endpoint=\"validate\",decision=\"denied\"} 1"
        ),
        "{metrics}"
    );
    harness.server.shutdown().await;
}
