//! Hostile clients and hostile bodies against the running webhook over real TLS on
//! loopback: connections that say nothing, a flood up to the connection cap, a selector
//! built to be slow, malformed bodies (answered exactly as `review` answers them), and a
//! config file replaced by nothing, garbage or an alias bomb.

mod common;

use std::sync::Arc;
use std::time::Duration;

use dsguard::admission::{self, Endpoint};
use dsguard::config::Config;
use dsguard::inventory::{Inventory, NodeUpdate};
use dsguard::server::{self, AppState, CertificateSource, ConnectionLimits, RunningServer};
use rustls_pki_types::ServerName;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn scratch(name: &str) -> std::path::PathBuf {
    common::scratch_dir("hostile-server", name)
}

struct Harness {
    server: RunningServer,
    ca: String,
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!(
            "https://localhost:{}{path}",
            self.server.webhook_address.port()
        )
    }

    fn probe_url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}{path}",
            self.server.metrics_address.unwrap().port()
        )
    }

    fn client(&self) -> reqwest::Client {
        common::trusting(&self.ca).http1_only().build().unwrap()
    }

    async fn metrics(&self) -> String {
        let response = reqwest::get(self.probe_url("/metrics")).await.unwrap();
        response.text().await.unwrap()
    }
}

/// POSTs `body` as JSON and reads the JSON answer.
async fn post(client: &reqwest::Client, url: String, body: &Value) -> Value {
    let response = client.post(url).json(body).send().await.unwrap();
    response.json().await.unwrap()
}

async fn start(
    name: &str,
    inventory: Inventory,
    limits: ConnectionLimits,
    config: Option<std::path::PathBuf>,
) -> Harness {
    let dir = scratch(name);
    let ca_path = dir.join("ca.crt");
    let options = dsguard::server::ServeOptions {
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        connections: limits,
        config_path: config.clone(),
        reload_interval: Duration::from_millis(50),
        max_body_bytes: 8 << 20,
        ..common::loopback_options(CertificateSource::SelfSigned {
            ca_path: ca_path.clone(),
        })
    };
    let initial = match &config {
        Some(path) => Config::load(path, 1 << 20).unwrap(),
        None => Config::default(),
    };
    let state = Arc::new(AppState::new(inventory, initial, options.max_body_bytes));
    let server = server::start(options, state).await.unwrap();
    Harness {
        server,
        ca: std::fs::read_to_string(ca_path).unwrap(),
    }
}

fn small_inventory() -> Inventory {
    let mut inventory = Inventory::new();
    inventory.reset_nodes((0..20).map(|i| NodeUpdate {
        name: format!("n{i}"),
        labels: [("kubernetes.io/os".to_owned(), "linux".to_owned())].into(),
        taints: Vec::new(),
        allocatable: None,
    }));
    inventory
}

fn review(object: Value) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "7c3a-hostile", "kind": {"group": "apps", "version": "v1", "kind": "DaemonSet"},
            "resource": {"group": "apps", "version": "v1", "resource": "daemonsets"},
            "namespace": "default", "operation": "CREATE", "object": object
        }
    })
}

fn daemonset(pod_spec: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "default"},
        "spec": {"template": {"spec": pod_spec}}
    })
}

#[tokio::test]
async fn silent_connections_are_closed_and_the_cap_keeps_probes_reachable() {
    let limits = ConnectionLimits {
        max_connections: 8,
        max_probe_connections: 4,
        first_request_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(2),
        ..ConnectionLimits::default()
    };
    let harness = start("silent", small_inventory(), limits, None).await;
    let address = harness.server.webhook_address.to_string();
    let connector = common::tls_connector(harness.ca.as_bytes());

    // A completed handshake followed by silence is closed by the server.
    let tcp = TcpStream::connect(&address).await.unwrap();
    let mut silent = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(20), silent.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the silent connection was closed: {read:?}"
    );

    // Fill every webhook slot (and more) with connections that never finish a handshake.
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(&address).await.unwrap());
    }
    // The probes have their own listener and allowance.
    let probe = reqwest::get(harness.probe_url("/healthz")).await.unwrap();
    assert_eq!(probe.status(), 200);
    // The held connections time out one by one and a real client gets through.
    let response = harness
        .client()
        .post(harness.url("/validate"))
        .json(&review(daemonset(json!({"containers": []}))))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    drop(held);

    // A probe flood on the plain listener closes too: it cannot pin its slots either.
    let probe_address = harness.server.metrics_address.unwrap();
    let mut probes = Vec::new();
    for _ in 0..4 {
        probes.push(TcpStream::connect(probe_address).await.unwrap());
    }
    let mut first = probes.remove(0);
    let read = tokio::time::timeout(Duration::from_secs(20), first.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    harness.server.shutdown().await;
}

/// A 5,000-node cluster where every node has a distinct integer label, and a DaemonSet
/// with 2,600 distinct `Gt` terms over it (within the decode bound of 8,192 items): the
/// shape that stays costly after indexing.
fn costly() -> (Inventory, Value) {
    let mut inventory = Inventory::new();
    inventory.reset_nodes((0..5000).map(|i| NodeUpdate {
        name: format!("n{i}"),
        labels: [("node-id".to_owned(), i.to_string())].into(),
        taints: Vec::new(),
        allocatable: None,
    }));
    let terms: Vec<Value> = (0..2600)
        .map(|i| json!({"matchExpressions": [{"key": "node-id", "operator": "Gt", "values": [i.to_string()]}]}))
        .collect();
    let object = daemonset(json!({
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}},
        "containers": []
    }));
    (inventory, review(object))
}

#[tokio::test]
async fn a_costly_selector_is_answered_within_its_budget_and_never_delays_others() {
    let (inventory, body) = costly();
    let harness = start("costly", inventory, ConnectionLimits::default(), None).await;
    let client = harness.client();
    // A budget far below what the evaluation needs: ?timeout=100ms.
    let costly = {
        let client = client.clone();
        let url = harness.url("/validate?timeout=100ms");
        tokio::spawn(async move { post(&client, url, &body).await })
    };
    // Cheap requests sent meanwhile are answered; none waits for the costly one.
    for _ in 0..5 {
        let cheap = review(daemonset(json!({"containers": []})));
        let answer = post(&client, harness.url("/validate"), &cheap).await;
        assert_eq!(answer["response"]["uid"], "7c3a-hostile");
    }
    let answer = costly.await.unwrap();
    assert_eq!(answer["response"]["uid"], "7c3a-hostile", "{answer}");
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("DSG000 evaluation-budget"), "{message}");
    let metrics = harness.metrics().await;
    assert!(
        metrics.contains("evaluation_timeouts_total{endpoint=\"validate\"} 1"),
        "{metrics}"
    );
    harness.server.shutdown().await;
}

/// A review whose pod spec `field` holds `count` empty items (`[{}, {}, ...]`).
fn padded(field: &str, count: usize) -> Vec<u8> {
    let mut pod = json!({"containers": []});
    pod[field] = Value::Array(vec![json!({}); count]);
    serde_json::to_vec(&review(daemonset(pod))).unwrap()
}

/// Bodies an attacker or a broken client might send. Each is answered over TLS exactly as
/// `admission::review` (what `dsguard review` runs) answers it: a 400 where it refuses,
/// the same AdmissionReview where it answers.
fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let good = serde_json::to_string(&review(daemonset(json!({"containers": []})))).unwrap();
    let duplicate = good.replacen(
        "\"containers\":[]",
        "\"nodeSelector\":{\"kubernetes.io/os\":\"linux\"},\"nodeSelector\":{\"no\":\"such\"},\"containers\":[]",
        1,
    );
    let deep = format!(
        "{{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{{\"uid\":\"u\",\"object\":{}1{}}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let huge_label = good.replacen(
        "\"containers\":[]",
        &format!(
            "\"nodeSelector\":{{\"{}\":\"x\"}},\"containers\":[]",
            "k".repeat(1 << 20)
        ),
        1,
    );
    let many_containers = serde_json::to_string(&review(daemonset(json!({
        "containers": (0..500).map(|i| json!({"name": format!("c{i}")})).collect::<Vec<_>>()
    }))))
    .unwrap();
    vec![
        ("truncated", good.as_bytes()[..good.len() / 2].to_vec()),
        ("not json", b"\x00\xff garbage".to_vec()),
        ("empty", Vec::new()),
        ("no uid", good.replace("7c3a-hostile", "").into_bytes()),
        (
            "wrong types",
            good.replace("\"containers\":[]", "\"containers\":7")
                .into_bytes(),
        ),
        ("duplicate keys", duplicate.into_bytes()),
        ("deep nesting", deep.into_bytes()),
        ("huge label key", huge_label.into_bytes()),
        ("500 containers", many_containers.into_bytes()),
        ("padded with empty containers", padded("containers", 300_000)),
        ("padded with empty tolerations", padded("tolerations", 300_000)),
        ("zero and overflowing limits", serde_json::to_vec(&review(daemonset(json!({
            "containers": [{"name": "a", "resources": {"limits": {"cpu": "0", "memory": "1e308"}}}]
        })))).unwrap()),
    ]
}

#[tokio::test]
async fn hostile_bodies_get_the_same_answer_over_tls_as_from_review() {
    let inventory = small_inventory();
    let config = Config::default();
    let harness = start(
        "bodies",
        inventory.clone(),
        ConnectionLimits::default(),
        None,
    )
    .await;
    let client = harness.client();
    for (what, body) in hostile_bodies() {
        let offline = admission::review(&body, Endpoint::Validate, &inventory, &config);
        let response = client
            .post(harness.url("/validate"))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        match offline {
            Ok(decision) => {
                assert_eq!(status, 200, "{what}: {answer}");
                assert_eq!(answer, decision.to_response(), "{what}");
            }
            Err(error) => {
                assert_eq!(status, 400, "{what}: {answer}");
                assert_eq!(answer["error"], error.to_string(), "{what}");
            }
        }
    }
    harness.server.shutdown().await;
}

#[tokio::test]
async fn a_config_emptied_deleted_or_bombed_keeps_the_last_good_one() {
    let dir = scratch("config-file");
    let path = dir.join("config.yaml");
    let strict =
        "rules:\n  missing-resource-limits:\n    resources: [cpu, memory, ephemeral-storage]\n";
    std::fs::write(&path, strict).unwrap();
    let harness = start(
        "config",
        small_inventory(),
        ConnectionLimits::default(),
        Some(path.clone()),
    )
    .await;
    let failed = || async {
        harness
            .metrics()
            .await
            .lines()
            .find(|l| l.starts_with("dsguard_config_reloads_total{result=\"failed\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mut bomb = String::from("a0: &a0 [lol]\n");
    for level in 1..10 {
        bomb.push_str(&format!(
            "a{level}: &a{level} [{}]\n",
            vec![format!("*a{}", level - 1); 9].join(", ")
        ));
    }
    let replacements: [(&str, Option<String>); 4] = [
        ("emptied", Some(String::new())),
        ("garbage", Some("rules: [unclosed\n".into())),
        ("alias bomb", Some(bomb)),
        ("deleted", None),
    ];
    for (round, (what, content)) in replacements.into_iter().enumerate() {
        match content {
            Some(text) => std::fs::write(&path, text).unwrap(),
            None => std::fs::remove_file(&path).unwrap(),
        }
        let wanted = round as u64 + 1;
        common::eventually(&format!("{what} counted as a failed reload"), async || {
            failed().await >= wanted
        })
        .await;
        let config = harness.server.state.config.load();
        assert_eq!(
            config.rules.missing_resource_limits.resources,
            ["cpu", "memory", "ephemeral-storage"],
            "{what}: the strict config stays in force"
        );
    }
    // The webhook still answers.
    let limitless = review(daemonset(json!({"containers": [{"name": "a"}]})));
    let answer = post(&harness.client(), harness.url("/validate"), &limitless).await;
    assert_eq!(answer["response"]["allowed"], false);
    harness.server.shutdown().await;
}

#[tokio::test]
async fn a_body_trickled_past_the_capped_timeout_is_cut() {
    // ?timeout=3600s is read as 30 s, Kubernetes' maximum; the test shortens it with 1s to
    // see the cut happen, and the unit tests pin the cap itself.
    let harness = start(
        "trickle",
        small_inventory(),
        ConnectionLimits::default(),
        None,
    )
    .await;
    let connector = common::tls_connector(harness.ca.as_bytes());
    let tcp = TcpStream::connect(harness.server.webhook_address)
        .await
        .unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(
        b"POST /validate?timeout=1s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{",
    )
    .await
    .unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    harness.server.shutdown().await;
}

/// Idle connections never keep a caller out: at the cap the connection idle longest is
/// closed to make room, on the webhook listener (idle TLS connections, 1,024 by default)
/// and on the probe listener (64), so `/healthz` and `/readyz` stay answerable however
/// many idle sockets an attacker holds, and the probe listener's short idle timeout
/// closes the rest.
#[tokio::test]
async fn idle_connections_are_evicted_at_the_cap_so_probes_and_callers_get_in() {
    let limits = ConnectionLimits {
        max_connections: 16,
        max_probe_connections: 8,
        ..ConnectionLimits::default()
    };
    let harness = start("evict", small_inventory(), limits, None).await;
    let connector = common::tls_connector(harness.ca.as_bytes());
    // Sixteen idle TLS connections (handshake done, nothing sent) and twenty idle plain
    // ones on the probe port: every slot of both listeners, and more.
    let mut idle_tls = Vec::new();
    for _ in 0..16 {
        let tcp = TcpStream::connect(harness.server.webhook_address)
            .await
            .unwrap();
        idle_tls.push(
            connector
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .unwrap(),
        );
    }
    let probe_address = harness.server.metrics_address.unwrap();
    let mut idle_probes = Vec::new();
    for _ in 0..20 {
        idle_probes.push(TcpStream::connect(probe_address).await.unwrap());
    }
    // A probe is answered at once, not after an idle timeout.
    let started = std::time::Instant::now();
    let probe = reqwest::Client::new()
        .get(harness.probe_url("/readyz"))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .expect("the probe is answered while idle connections fill the probe listener");
    assert_eq!(probe.status(), 200);
    // So is a new webhook caller.
    let answer = harness
        .client()
        .post(harness.url("/validate"))
        .json(&review(daemonset(json!({"containers": []}))))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .expect("a caller is served while idle connections fill the webhook listener");
    assert_eq!(answer.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The oldest idle TLS connection was the one closed.
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(2), idle_tls[0].read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    // A busy connection is never evicted: a request in flight on every slot keeps them.
    drop(idle_tls);
    drop(idle_probes);
    harness.server.shutdown().await;
}

/// Bodies in flight share one byte budget: past it, a body is refused with 429 before
/// it is read, however many connections or HTTP/2 streams send at once; the server
/// answers normally once they are gone.
#[tokio::test]
async fn bodies_in_flight_share_a_byte_budget() {
    let dir = scratch("budget");
    let ca_path = dir.join("ca.crt");
    let options = dsguard::server::ServeOptions {
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        max_body_bytes: 1 << 20,
        ..common::loopback_options(CertificateSource::SelfSigned {
            ca_path: ca_path.clone(),
        })
    };
    let state = Arc::new(
        AppState::new(small_inventory(), Config::default(), options.max_body_bytes)
            .with_body_budget(3 << 20),
    );
    let server = server::start(options, state).await.unwrap();
    let harness = Harness {
        server,
        ca: std::fs::read_to_string(ca_path).unwrap(),
    };
    // Connections that declare a 900 KB body and send it slowly hold their share.
    let connector = common::tls_connector(harness.ca.as_bytes());
    let mut slow = Vec::new();
    for _ in 0..3 {
        let tcp = TcpStream::connect(harness.server.webhook_address)
            .await
            .unwrap();
        let mut tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        tls.write_all(
            b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 900000\r\n\r\n{",
        )
        .await
        .unwrap();
        slow.push(tls);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fourth large body does not fit what is left: 429, with when to retry.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(900_000));
    let client = harness.client();
    let refused = client
        .post(harness.url("/validate"))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    let error: Value = refused.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("--max-inflight-body-bytes"),
        "{error}"
    );
    // Over HTTP/2, forty streams of large bodies on one connection get no more.
    let h2 = common::trusting(&harness.ca)
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut streams = Vec::new();
    for _ in 0..40 {
        let h2 = h2.clone();
        let url = harness.url("/validate");
        let body = big.clone();
        streams.push(tokio::spawn(async move {
            h2.post(url)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    for stream in streams {
        let status = stream.await.unwrap().expect("every stream is answered");
        assert_eq!(status, 429);
    }
    // Once the slow bodies are gone, their share is back.
    drop(slow);
    common::eventually("the budget is given back", async || {
        let review = review(daemonset(json!({"containers": []})));
        client
            .post(harness.url("/validate"))
            .json(&review)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    let metrics = harness.metrics().await;
    assert!(metrics.contains("decision=\"busy\"} 41"), "{metrics}");
    harness.server.shutdown().await;
}

/// `?timeout=` values that overflow a duration are read as the 30 s cap, never a panic.
#[tokio::test]
async fn a_timeout_that_overflows_is_read_as_the_cap() {
    let harness = start(
        "timeout-overflow",
        small_inventory(),
        ConnectionLimits::default(),
        None,
    )
    .await;
    let client = harness.client();
    for query in [
        "timeout=18446744073709551615s18446744073709551615s",
        "timeout=99999999999999999999999999h",
        "timeout=1e308s",
        "timeout=-5s",
    ] {
        let answer = post(
            &client,
            harness.url(&format!("/validate?{query}")),
            &review(daemonset(json!({"containers": []}))),
        )
        .await;
        assert_eq!(answer["response"]["uid"], "7c3a-hostile", "{query}");
    }
    harness.server.shutdown().await;
}
