//! Graceful shutdown of the real binary, and the `?timeout=` budget, with a raw TLS client
//! that can stop halfway through a request (no HTTP library would).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::tls_connector as connector;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

async fn connect(
    connector: &TlsConnector,
    address: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(address).await?;
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("shutdown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_path = dir.join("ca.crt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsguard"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--log-format",
            "json",
            "--nodes",
        ])
        .arg(common::corpus("nodes"))
        .arg("--dev-ca")
        .arg(&ca_path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("the server logs its address").unwrap();
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
        if entry["message"]
            .as_str()
            .unwrap()
            .starts_with("webhook listening")
        {
            break entry["address"].as_str().unwrap().to_owned();
        }
    };
    let connector = connector(&std::fs::read(&ca_path).unwrap());
    let body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/admission/validate-create-v1.26.json"),
    )
    .unwrap();
    let mut stream = connect(&connector, &address).await.unwrap();
    let head = format!(
        "POST /validate?timeout=10s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: application/json, */*\r\nUser-Agent: kube-apiserver-admission\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    // The listener closes: new connections are refused while the old request goes on.
    let mut refused = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if connect(&connector, &address).await.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "the listener stops accepting after SIGTERM");

    stream.write_all(&body[body.len() / 2..]).await.unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 16384];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .unwrap()
            .unwrap_or(0);
        if read == 0 {
            break;
        }
        response.extend_from_slice(&buffer[..read]);
        if String::from_utf8_lossy(&response).contains("\"uid\"") && response.ends_with(b"}}") {
            break;
        }
    }
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("5a11e3df-22ce-471f-88b5-ad00a9a7ecf4"),
        "{response}"
    );
    drop(stream);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("stopped accepting")),
        "{rest:?}"
    );
}

#[tokio::test]
async fn a_body_slower_than_the_timeout_budget_gets_408() {
    use dsguard::server::{self, AppState, CertificateSource};
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("budget-{}", std::process::id()));
    let ca_path = dir.join("ca.crt");
    let options = common::loopback_options(CertificateSource::SelfSigned {
        ca_path: ca_path.clone(),
    });
    let state = Arc::new(AppState::new(
        common::corpus_inventory(),
        Default::default(),
        options.max_body_bytes,
    ));
    let running = server::start(options, state).await.unwrap();
    let connector = connector(&std::fs::read(&ca_path).unwrap());
    let mut stream = connect(&connector, &running.webhook_address.to_string())
        .await
        .unwrap();
    stream
        .write_all(b"POST /validate?timeout=1s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buffer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    let response = String::from_utf8_lossy(&buffer[..read]);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(started.elapsed() < Duration::from_secs(3));
    running.shutdown().await;
}
