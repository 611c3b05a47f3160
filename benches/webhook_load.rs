//! `cargo bench --bench webhook_load`: the webhook under load over TLS on loopback, side
//! by side with a "null webhook" (the same TLS listener, connection handling and router
//! stack, answering `allowed` from the uid alone without evaluating), in one run.
//!
//! The request is a 41 KB UPDATE AdmissionReview (the captured kube-apiserver request with
//! realistic managedFields) against 5,000 synthetic nodes. Modes, as BENCHMARKS.md names them:
//! - HTTP/1.1 keep-alive over 25 connections, as the API server (ALPN `http/1.1` only);
//! - HTTP/2, 25 concurrent streams on one connection;
//! - a new TLS connection per request;
//! - HTTP/1.1 at half of dsguard's saturation rate, for latency under ordinary load, with
//!   the server-side p99 read from dsguard's own latency histogram.
//!
//! Client and server share the machine's 2 cores, for both servers alike.
//!
//! `cargo bench --bench webhook_load -- soak [SECONDS] [RATE]` is the soak instead: the
//! real `dsguard serve` binary (so its RSS is the server's alone) at a steady RATE
//! requests/s (default 500) for SECONDS (default 600) over HTTP/1.1 keep-alive, plus one
//! new TLS connection per second, with its RSS sampled every 10 s and every error counted.
//!
//! `cargo bench --bench webhook_load -- records [SECONDS]` drives the real binary the way
//! other clients do and reports the server process's CPU per request beside throughput:
//! HTTP/1.1 keep-alive over 25 connections, the 41 KB review sent in 16 KB TLS records (the
//! TLS maximum, as the load above and h2load send) and in records of 1,208 bytes (what Go's
//! TLS client, the API server's, sends on a fresh connection: `tcpMSSEstimate` in
//! crypto/tls/conn.go), the same number of bytes refused at the first one (what receiving
//! alone costs: "x" and spaces are answered 400 without a decode), and `GET /healthz` on
//! the same listener for comparison. Then the receive path's floor: the null webhook in a
//! process of its own (receive the review over TLS, validate its JSON once), and the
//! decided review's CPU per request as a multiple of it.
//! `DSGUARD_BIN=path` drives another build of dsguard instead (an older commit, to measure
//! what a change costs).
//! `benches/h2load.sh` is the external cross-check against nginx.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dsguard::config::Config;
use dsguard::inventory::{Inventory, NodeUpdate};
use dsguard::scheduling::Taint;
use dsguard::server::{self, AppState, CertificateSource, RunningServer, ServeOptions};
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const CONNECTIONS: usize = 25;
const SECONDS: u64 = 5;

fn inventory(nodes: usize) -> Inventory {
    let mut inventory = Inventory::new();
    inventory.reset_nodes(node_updates(nodes));
    inventory.reset_priority_classes([]);
    inventory.reset_limit_ranges([]);
    inventory
}

/// The synthetic nodes: 3 zones, 8 pools, every 20th node tainted for GPUs.
fn node_updates(nodes: usize) -> impl Iterator<Item = NodeUpdate> {
    (0..nodes).map(|i| NodeUpdate {
        name: format!("node-{i}"),
        labels: [
            ("kubernetes.io/os".to_string(), "linux".to_string()),
            ("kubernetes.io/hostname".to_string(), format!("node-{i}")),
            (
                "topology.kubernetes.io/zone".to_string(),
                format!("zone-{}", i % 3),
            ),
            (
                "karpenter.sh/nodepool".to_string(),
                format!("pool-{}", i % 8),
            ),
            ("research/role".to_string(), "worker".to_string()),
        ]
        .into(),
        taints: if i % 20 == 0 {
            vec![Taint::new("dedicated", "gpu", "NoSchedule")]
        } else {
            Vec::new()
        },
        allocatable: None,
    })
}

/// The null webhook: reads the body, answers `allowed` for its uid, judges nothing.
fn null_router() -> axum::Router {
    #[derive(serde::Deserialize)]
    struct Review {
        request: Request_,
    }
    #[derive(serde::Deserialize)]
    struct Request_ {
        uid: String,
    }
    axum::Router::new().route(
        "/validate",
        axum::routing::post(|body: Bytes| async move {
            let uid = serde_json::from_slice::<Review>(&body).map(|r| r.request.uid).unwrap_or_default();
            axum::Json(serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": uid, "allowed": true}}))
        }),
    )
}

async fn start(null: bool, ca_path: &std::path::Path) -> RunningServer {
    start_on(null, 0, 0, ca_path).await
}

/// dsguard (or the null webhook) on loopback ports `port` and `metrics_port` (0: any),
/// its development CA written to `ca_path`.
async fn start_on(
    null: bool,
    port: u16,
    metrics_port: u16,
    ca_path: &std::path::Path,
) -> RunningServer {
    let options = ServeOptions {
        listen: ([127, 0, 0, 1], port).into(),
        metrics_listen: Some(([127, 0, 0, 1], metrics_port).into()),
        certificate: CertificateSource::SelfSigned {
            ca_path: ca_path.to_owned(),
        },
        client_ca: None,
        config_path: None,
        max_body_bytes: 8 << 20,
        reload_interval: Duration::from_secs(60),
        shutdown_grace: Duration::from_secs(1),
        connections: dsguard::server::ConnectionLimits::default(),
        max_file_bytes: dsguard::input::DEFAULT_MAX_FILE_BYTES,
    };
    let state = Arc::new(AppState::new(inventory(5_000), Config::default(), 8 << 20));
    if null {
        server::start_with_router(options, state, null_router())
            .await
            .unwrap()
    } else {
        server::start(options, state).await.unwrap()
    }
}

fn connector(ca: &[u8], alpn: &[u8]) -> TlsConnector {
    connector_with_records(ca, alpn, None)
}

/// A client whose TLS records carry at most `max_record` bytes of plaintext (`None`: the
/// TLS maximum, 16 KB).
fn connector_with_records(ca: &[u8], alpn: &[u8], max_record: Option<usize>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    config.max_fragment_size = max_record;
    TlsConnector::from(Arc::new(config))
}

async fn tls(
    connector: &TlsConnector,
    address: std::net::SocketAddr,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(address).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// A keep-alive HTTP/1.1 connection over TLS, its driver spawned.
async fn http1_connection(
    connector: &TlsConnector,
    address: std::net::SocketAddr,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = tls(connector, address).await;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

fn request(body: &Bytes) -> Request<Full<Bytes>> {
    Request::post("/validate?timeout=10s")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("accept", "application/json, */*")
        .header("user-agent", "kube-apiserver-admission")
        .body(Full::new(body.clone()))
        .unwrap()
}

#[derive(Default)]
struct Run {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Run {
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn quantile(&mut self, q: f64) -> Duration {
        self.latencies.sort();
        self.latencies[((self.latencies.len() as f64 * q) as usize).min(self.latencies.len() - 1)]
    }

    fn report(&mut self, name: &str) {
        let (p50, p99, p999) = (
            self.quantile(0.5),
            self.quantile(0.99),
            self.quantile(0.999),
        );
        println!(
            "{name:<44} {:>8.0} req/s  client p50 {:>8.1?}  p99 {:>8.1?}  p99.9 {:>8.1?}  ({} requests)",
            self.throughput(),
            p50,
            p99,
            p999,
            self.latencies.len()
        );
    }
}

/// HTTP/1.1 keep-alive: `connections` connections, each one request at a time, for
/// `SECONDS`; `interval` spaces each connection's requests (None: as fast as possible).
async fn http1(
    address: std::net::SocketAddr,
    ca: &[u8],
    body: &Bytes,
    connections: usize,
    interval: Option<Duration>,
) -> Run {
    let connector = connector(ca, b"http/1.1");
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let mut sender = http1_connection(&connector, address).await;
        let (body, stop) = (body.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if let Some(interval) = interval {
                    tokio::time::sleep_until(next.into()).await;
                    next += interval;
                }
                let sent = Instant::now();
                let response = sender.send_request(request(&body)).await.unwrap();
                assert!(response.status().is_success());
                response.into_body().collect().await.unwrap();
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    finish(tasks, &stop, started).await
}

/// HTTP/2: `streams` concurrent requests on one connection.
async fn http2(address: std::net::SocketAddr, ca: &[u8], body: &Bytes, streams: usize) -> Run {
    let stream = tls(&connector(ca, b"h2"), address).await;
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            let (mut sender, body, stop) = (sender.clone(), body.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let response = sender.send_request(request(&body)).await.unwrap();
                    response.into_body().collect().await.unwrap();
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    finish(tasks, &stop, started).await
}

/// A new TLS connection (full handshake) for every request, `parallel` at a time.
async fn new_connections(
    address: std::net::SocketAddr,
    ca: &[u8],
    body: &Bytes,
    parallel: usize,
) -> Run {
    let connector = connector(ca, b"http/1.1");
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..parallel)
        .map(|_| {
            let (connector, body, stop) = (connector.clone(), body.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let stream = tls(&connector, address).await;
                    let (mut sender, connection) =
                        hyper::client::conn::http1::handshake(TokioIo::new(stream))
                            .await
                            .unwrap();
                    tokio::spawn(connection);
                    let response = sender.send_request(request(&body)).await.unwrap();
                    response.into_body().collect().await.unwrap();
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    finish(tasks, &stop, started).await
}

/// Saturation rounds per protocol: single runs on a shared 2-core machine vary by ±15%.
const ROUNDS: usize = 5;

/// Runs the null webhook and dsguard `ROUNDS` times each, alternating which goes first, and
/// prints every round's ratio and the median. Returns dsguard's median throughput.
async fn compare(name: &str, mut run: impl AsyncFnMut(bool) -> Run) -> f64 {
    let (mut ratios, mut dsguard_rates) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        let (mut null_run, mut dsguard_run) = (Run::default(), Run::default());
        for side in order {
            let result = run(side).await;
            if side {
                dsguard_run = result
            } else {
                null_run = result
            }
        }
        if round == ROUNDS - 1 {
            null_run.report(&format!("null webhook, {name}"));
            dsguard_run.report(&format!("dsguard, {name}"));
        }
        ratios.push(dsguard_run.throughput() / null_run.throughput());
        dsguard_rates.push(dsguard_run.throughput());
    }
    let shown: Vec<String> = ratios
        .iter()
        .map(|r| format!("{:.1}%", 100.0 * r))
        .collect();
    ratios.sort_by(f64::total_cmp);
    dsguard_rates.sort_by(f64::total_cmp);
    println!(
        "{:<44} median {:.1}% of the null webhook over {ROUNDS} rounds ({})\n",
        "saturation throughput",
        100.0 * ratios[ROUNDS / 2],
        shown.join(", ")
    );
    dsguard_rates[ROUNDS / 2]
}

/// Lets `tasks` run for `SECONDS`, stops them, and gathers their latencies.
async fn finish(
    tasks: Vec<tokio::task::JoinHandle<Vec<Duration>>>,
    stop: &AtomicBool,
    started: Instant,
) -> Run {
    tokio::time::sleep(Duration::from_secs(SECONDS)).await;
    stop.store(true, Ordering::Relaxed);
    let mut run = Run::default();
    for task in tasks {
        run.latencies.extend(task.await.unwrap());
    }
    run.elapsed = started.elapsed();
    run
}

/// Server-side quantile from dsguard's own histogram (upper bucket bound).
async fn server_side_quantile(metrics: std::net::SocketAddr, q: f64) -> String {
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter(|l| l.starts_with("dsguard_admission_duration_seconds_bucket{"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let count = l.rsplit(' ').next()?.parse().ok()?;
            Some((
                if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                },
                count,
            ))
        })
        .collect();
    let total = buckets.iter().map(|b| b.1).fold(0.0, f64::max);
    let bound = buckets
        .iter()
        .find(|(_, count)| *count >= total * q)
        .map_or(f64::INFINITY, |b| b.0);
    format!("≤ {:.0} µs ({} requests)", bound * 1e6, total)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("soak") {
        let number =
            |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
        soak(number(1, 600), number(2, 500)).await;
        return;
    }
    if args.first().map(String::as_str) == Some("null-server") {
        null_server(&args[1..]).await;
        return;
    }
    if args.first().map(String::as_str) == Some("records") {
        let seconds = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
        records(seconds).await;
        return;
    }
    let body = update_review();
    println!(
        "request: {} bytes (UPDATE AdmissionReview), 5,000 nodes, {CONNECTIONS} connections, {SECONDS} s per run\n",
        body.len()
    );
    let dir = std::env::temp_dir().join(format!("dsguard-load-{}", std::process::id()));
    let (dsguard, null) = (
        start(false, &dir.join("dsguard-ca.crt")).await,
        start(true, &dir.join("null-ca.crt")).await,
    );
    let dsguard_ca = std::fs::read(dir.join("dsguard-ca.crt")).unwrap();
    let null_ca = std::fs::read(dir.join("null-ca.crt")).unwrap();

    let target = |dsguard_side: bool| {
        if dsguard_side {
            (dsguard.webhook_address, dsguard_ca.as_slice())
        } else {
            (null.webhook_address, null_ca.as_slice())
        }
    };
    // Warm-up.
    http1(
        dsguard.webhook_address,
        &dsguard_ca,
        &body,
        CONNECTIONS,
        None,
    )
    .await;
    let dsguard_h1 = compare("HTTP/1.1 keep-alive", async |side| {
        let (address, ca) = target(side);
        http1(address, ca, &body, CONNECTIONS, None).await
    })
    .await;
    compare("HTTP/2 (25 streams, 1 connection)", async |side| {
        let (address, ca) = target(side);
        http2(address, ca, &body, CONNECTIONS).await
    })
    .await;

    let mut null_new = new_connections(null.webhook_address, &null_ca, &body, 8).await;
    let mut dsguard_new = new_connections(dsguard.webhook_address, &dsguard_ca, &body, 8).await;
    null_new.report("null webhook, new TLS connection per request");
    dsguard_new.report("dsguard, new TLS connection per request");
    println!(
        "{:<44} {:>8.1}% of the null webhook\n",
        "saturation throughput",
        100.0 * dsguard_new.throughput() / null_new.throughput()
    );

    // Half load: each connection paced so the total is half of the saturation rate.
    let half = dsguard_h1 / 2.0;
    let interval = Duration::from_secs_f64(CONNECTIONS as f64 / half);
    let fresh = start(false, &dir.join("half-ca.crt")).await;
    let fresh_ca = std::fs::read(dir.join("half-ca.crt")).unwrap();
    let mut paced = http1(
        fresh.webhook_address,
        &fresh_ca,
        &body,
        CONNECTIONS,
        Some(interval),
    )
    .await;
    paced.report(&format!("dsguard, HTTP/1.1 at half load ({half:.0} req/s)"));
    println!(
        "{:<44} p50 {}  p99 {}",
        "  server side (dsguard's histogram)",
        server_side_quantile(fresh.metrics_address.unwrap(), 0.5).await,
        server_side_quantile(fresh.metrics_address.unwrap(), 0.99).await
    );
    for server in [dsguard, null, fresh] {
        server.shutdown().await;
    }
}

/// The 41 KB UPDATE AdmissionReview every mode sends.
fn update_review() -> Bytes {
    Bytes::from(
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/update-41k.json"
        ))
        .unwrap(),
    )
}

/// The RSS of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The soak: a steady load on the real binary for `seconds`, RSS every 10 s, errors
/// counted (a failed connection, a failed request or a non-2xx answer), never a panic.
async fn soak(seconds: u64, rate: u64) {
    let dir = std::env::temp_dir().join(format!("dsguard-soak-{}", std::process::id()));
    let (mut server, address, ca) = spawn_server(&dir).await;
    let body = update_review();
    println!(
        "soak: dsguard serve (pid {}), 5,000 nodes, 41 KB UPDATE reviews at {rate} req/s over {CONNECTIONS} keep-alive connections plus 1 new connection/s, {seconds} s",
        server.id()
    );

    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let connector = connector(&ca, b"http/1.1");
    let interval = Duration::from_secs_f64(CONNECTIONS as f64 / rate as f64);
    let mut tasks = Vec::new();
    for i in 0..=CONNECTIONS {
        let (connector, body, stop, errors, done) = (
            connector.clone(),
            body.clone(),
            stop.clone(),
            errors.clone(),
            done.clone(),
        );
        // Task CONNECTIONS churns: a new connection for each request, once a second.
        let churn = i == CONNECTIONS;
        let pace = if churn {
            Duration::from_secs(1)
        } else {
            interval
        };
        tasks.push(tokio::spawn(async move {
            let mut next = Instant::now();
            let mut sender = None;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep_until(next.into()).await;
                next += pace;
                if sender.is_none() || churn {
                    let Ok(tcp) = TcpStream::connect(address).await else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let _ = tcp.set_nodelay(true);
                    let Ok(stream) = connector
                        .connect(ServerName::try_from("localhost").unwrap(), tcp)
                        .await
                    else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let Ok((handle, connection)) =
                        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
                    else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    tokio::spawn(connection);
                    sender = Some(handle);
                }
                let handle = sender.as_mut().expect("connected above");
                let ok = match handle.send_request(request(&body)).await {
                    Ok(response) => {
                        let success = response.status().is_success();
                        success && response.into_body().collect().await.is_ok()
                    }
                    Err(_) => false,
                };
                if ok {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    sender = None;
                }
            }
        }));
    }
    let pid = server.id();
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let rss = rss_kib(pid);
        samples.push(rss);
        println!(
            "t={:>4}s  rss {:>7.1} MiB  requests {:>8}  errors {}",
            started.elapsed().as_secs(),
            rss as f64 / 1024.0,
            done.load(Ordering::Relaxed),
            errors.load(Ordering::Relaxed)
        );
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let _ = server.kill();
    let _ = server.wait();
    // Growth judged after the first minute (allocator and caches warm up).
    let settled: Vec<u64> = samples.iter().copied().skip(6).collect();
    if let (Some(first), Some(max), Some(last)) =
        (settled.first(), settled.iter().max(), settled.last())
    {
        println!(
            "soak: {} requests, {} errors; RSS after 1 min {:.1} MiB, max {:.1} MiB, last {:.1} MiB ({:+.1}% first to last)",
            done.load(Ordering::Relaxed),
            errors.load(Ordering::Relaxed),
            *first as f64 / 1024.0,
            *max as f64 / 1024.0,
            *last as f64 / 1024.0,
            100.0 * (*last as f64 - *first as f64) / *first as f64
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// CPU time (user + system, all threads) the process has used, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields 14 and 15 (utime, stime), counted after the ")" that ends the command name.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
    ticks as f64 / clock_ticks_per_second()
}

/// `getconf CLK_TCK` (the unit of /proc/PID/stat's times; 100 on every Linux seen).
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Keep-alive load on `address` for `seconds`: `CONNECTIONS` connections, each sending
/// `make()` one at a time. Returns the requests answered with `expected` and the time taken.
async fn keep_alive(
    address: std::net::SocketAddr,
    connector: &TlsConnector,
    make: MakeRequest,
    body: &Bytes,
    expected: StatusCode,
    seconds: u64,
) -> (u64, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut sender = http1_connection(connector, address).await;
        let (body, stop) = (body.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut answered = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let response = sender.send_request(make(&body)).await.unwrap();
                assert_eq!(response.status(), expected);
                response.into_body().collect().await.unwrap();
                answered += 1;
            }
            answered
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut answered = 0;
    for task in tasks {
        answered += task.await.unwrap();
    }
    (answered, started.elapsed())
}

/// Builds one request of a run from the review body.
type MakeRequest = fn(&Bytes) -> Request<Full<Bytes>>;

fn healthz(_: &Bytes) -> Request<Full<Bytes>> {
    Request::get("/healthz")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// The `records` mode: the real binary, throughput and its CPU per request, with the
/// review in 16 KB records and in Go's small ones; beside them, the same number of bytes
/// refused at the first (what receiving alone costs) and a GET. Then the floor of the
/// receive path, in a process of its own so that its CPU is its own: the null webhook
/// (this bench binary, `null-server`), which receives the same review over the same TLS
/// and HTTP stack and validates its JSON once, and the decided review's cost against it.
async fn records(seconds: u64) {
    let dir = std::env::temp_dir().join(format!("dsguard-records-{}", std::process::id()));
    let (mut server, address, ca) = spawn_server(&dir).await;
    let (mut floor_server, floor_address, floor_ca) = spawn_null_server(&dir).await;
    let body = update_review();
    // "x" then spaces: not JSON from its first byte, so answered 400 without a decode.
    let mut not_json = vec![b' '; body.len()];
    not_json[0] = b'x';
    let not_json = Bytes::from(not_json);
    let pid = server.id();
    println!(
        "records: dsguard serve (pid {pid}), 5,000 nodes, {CONNECTIONS} keep-alive connections, {seconds} s per run"
    );
    let ok = StatusCode::OK;
    let runs: [(&str, Option<usize>, MakeRequest, &Bytes, StatusCode); 4] = [
        (
            "POST /validate, 16 KB TLS records",
            None,
            request,
            &body,
            ok,
        ),
        (
            "POST /validate, 1,208-byte TLS records",
            Some(1208),
            request,
            &body,
            ok,
        ),
        (
            "POST, as many bytes, not JSON (receive only)",
            None,
            request,
            &not_json,
            StatusCode::BAD_REQUEST,
        ),
        ("GET /healthz", None, healthz, &body, ok),
    ];
    // Warm-up: connections, allocator, caches.
    keep_alive(address, &connector(&ca, b"http/1.1"), request, &body, ok, 1).await;
    for (name, max_record, make, body, expected) in runs {
        let connector = connector_with_records(&ca, b"http/1.1", max_record);
        cpu_per_request(
            name,
            (pid, address),
            &connector,
            make,
            body,
            expected,
            seconds,
        )
        .await;
    }
    // The floor and the decided review in rounds, alternating which goes first, so that
    // each ratio compares two runs of the same minute on this shared machine.
    println!();
    let mut ratios = Vec::new();
    for round in 0..ROUNDS {
        let (mut floor, mut decided) = (0.0, 0.0);
        for floor_side in [round % 2 == 0, round % 2 != 0] {
            if floor_side {
                floor = cpu_per_request(
                    "floor: null webhook (receive, validate JSON)",
                    (floor_server.id(), floor_address),
                    &connector(&floor_ca, b"http/1.1"),
                    request,
                    &body,
                    ok,
                    seconds,
                )
                .await;
            } else {
                decided = cpu_per_request(
                    "decided review (POST /validate)",
                    (pid, address),
                    &connector(&ca, b"http/1.1"),
                    request,
                    &body,
                    ok,
                    seconds,
                )
                .await;
            }
        }
        ratios.push(decided / floor);
    }
    let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}x")).collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "{:<44} median {:.2}x the floor over {ROUNDS} rounds ({}), goal at most 1.25x",
        "decided review, CPU per request",
        ratios[ROUNDS / 2],
        shown.join(", ")
    );
    for child in [&mut server, &mut floor_server] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One keep-alive run against the process `pid`, printed; returns its CPU per request in µs.
async fn cpu_per_request(
    name: &str,
    (pid, address): (u32, std::net::SocketAddr),
    connector: &TlsConnector,
    make: MakeRequest,
    body: &Bytes,
    expected: StatusCode,
    seconds: u64,
) -> f64 {
    let before = cpu_seconds(pid);
    let (answered, elapsed) = keep_alive(address, connector, make, body, expected, seconds).await;
    let cost = (cpu_seconds(pid) - before) * 1e6 / answered.max(1) as f64;
    println!(
        "{name:<44} {:>8.0} req/s  server CPU {cost:>6.1} µs per request  ({answered} requests)",
        answered as f64 / elapsed.as_secs_f64(),
    );
    cost
}

/// The `null-server DIR PORT METRICS_PORT` mode: the null webhook alone in this process,
/// with its CA written to `DIR/null-ca.crt`, until it is killed.
async fn null_server(args: &[String]) {
    let dir = std::path::PathBuf::from(&args[0]);
    let port = |i: usize| -> u16 { args[i].parse().unwrap() };
    let _running = start_on(true, port(1), port(2), &dir.join("null-ca.crt")).await;
    std::future::pending::<()>().await;
}

/// This bench binary in `null-server` mode, ready: the process, its address and its CA.
async fn spawn_null_server(
    dir: &std::path::Path,
) -> (std::process::Child, std::net::SocketAddr, Vec<u8>) {
    let (port, metrics_port) = (free_port(), free_port());
    let server = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("null-server")
        .arg(dir)
        .args([port.to_string(), metrics_port.to_string()])
        .stderr(std::fs::File::create(dir.join("null-server.log")).unwrap())
        .spawn()
        .unwrap();
    let ready = format!("http://127.0.0.1:{metrics_port}/readyz");
    assert!(
        reqwest_free_ready(&ready).await,
        "the null webhook did not become ready"
    );
    let address = format!("127.0.0.1:{port}").parse().unwrap();
    (
        server,
        address,
        std::fs::read(dir.join("null-ca.crt")).unwrap(),
    )
}

/// The real binary serving 5,000 nodes from a file, with a development CA, ready: the
/// process, its webhook address and the CA to trust.
async fn spawn_server(
    dir: &std::path::Path,
) -> (std::process::Child, std::net::SocketAddr, Vec<u8>) {
    std::fs::create_dir_all(dir).unwrap();
    let nodes = dir.join("nodes.json");
    let items: Vec<serde_json::Value> = node_updates(5_000)
        .map(|node| {
            serde_json::json!({"kind": "Node", "metadata": {"name": node.name, "labels": node.labels},
                "spec": {"taints": node.taints}})
        })
        .collect();
    std::fs::write(
        &nodes,
        serde_json::json!({"kind": "List", "items": items}).to_string(),
    )
    .unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let ca_path = dir.join("ca.crt");
    // Another build can be driven the same way, to compare two versions side by side.
    let binary =
        std::env::var_os("DSGUARD_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_dsguard").into());
    let server = std::process::Command::new(binary)
        .args(["serve", "--log-format", "json", "--nodes"])
        .arg(&nodes)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .arg("--dev-ca")
        .arg(&ca_path)
        .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let ready = format!("http://127.0.0.1:{metrics_port}/readyz");
    let client = reqwest_free_ready(&ready).await;
    assert!(client, "the server did not become ready");
    let address: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ca = std::fs::read(&ca_path).unwrap();
    (server, address, ca)
}

/// Polls a plain-HTTP readiness URL (up to 60 s) with a bare hyper client.
async fn reqwest_free_ready(url: &str) -> bool {
    let uri: hyper::Uri = url.parse().unwrap();
    let address = format!("{}:{}", uri.host().unwrap(), uri.port_u16().unwrap());
    for _ in 0..600 {
        if let Ok(tcp) = TcpStream::connect(&address).await
            && let Ok((mut sender, connection)) =
                hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await
        {
            tokio::spawn(connection);
            let request = Request::get(uri.path())
                .header("host", "localhost")
                .body(Full::new(Bytes::new()))
                .unwrap();
            if let Ok(response) = sender.send_request(request).await
                && response.status().is_success()
            {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
