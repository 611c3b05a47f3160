//! A `dsguard serve --cluster` process run against the local API server, as a replica of
//! a Deployment would run: its own `POD_NAME`, the namespace `dsguard-system`, a 3-second
//! leader Lease, and what it logs kept for the test.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::fake_apiserver::FakeApiServer;

pub struct Replica {
    child: Child,
    pub webhook_address: String,
    pub metrics_address: String,
    pub logs: Arc<Mutex<Vec<String>>>,
}

/// Starts a replica named `name` with `extra` arguments after the common ones.
pub fn start_replica(api: &FakeApiServer, dir: &Path, name: &str, extra: &[&str]) -> Replica {
    start_replica_at(api.address, dir, name, extra)
}

/// [`start_replica`], talking to the API server at `server` (a relay in front of it).
pub fn start_replica_at(server: SocketAddr, dir: &Path, name: &str, extra: &[&str]) -> Replica {
    let kubeconfig = dir.join(format!("{name}.kubeconfig"));
    super::fake_apiserver::write_kubeconfig_for(server, &kubeconfig);
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsguard"))
        .args([
            "serve",
            "--cluster",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--leader-lease-duration",
            "3s",
            "--discovery-interval",
            "200ms",
            "--dev-ca",
        ])
        .arg(dir.join(format!("{name}-ca.crt")))
        .args(extra)
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAME", name)
        .env("POD_NAMESPACE", "dsguard-system")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut webhook_address, mut metrics_address) = (None, None);
    while webhook_address.is_none() || metrics_address.is_none() {
        let line = lines
            .next()
            .expect("the server logs its addresses")
            .unwrap();
        let entry: Value = serde_json::from_str(&line).unwrap_or_default();
        let message = entry["message"].as_str().unwrap_or_default();
        let address = entry["address"].as_str().map(str::to_owned);
        if message.starts_with("webhook listening") {
            webhook_address = address;
        } else if message.starts_with("health and metrics listening") {
            metrics_address = address;
        }
    }
    let logs = Arc::new(Mutex::new(Vec::new()));
    let kept = logs.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    Replica {
        child,
        webhook_address: webhook_address.unwrap(),
        metrics_address: metrics_address.unwrap(),
        logs,
    }
}

impl Replica {
    pub async fn metrics(&self) -> String {
        match reqwest::get(format!("http://{}/metrics", self.metrics_address)).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The value of one series (`name{labels}`), if exported.
    pub async fn series(&self, series: &str) -> Option<f64> {
        let text = self.metrics().await;
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    pub async fn leading(&self) -> bool {
        self.series("dsguard_leader").await == Some(1.0)
    }

    pub async fn ready(&self) -> bool {
        reqwest::get(format!("http://{}/readyz", self.metrics_address))
            .await
            .is_ok_and(|r| r.status() == 200)
    }

    /// True when the replica logged a line containing `text`.
    pub fn logged(&self, text: &str) -> bool {
        !self.logged_lines(&[text]).is_empty()
    }

    /// The lines the replica logged containing every one of `texts`.
    pub fn logged_lines(&self, texts: &[&str]) -> Vec<String> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|l| texts.iter().all(|t| l.contains(t)))
            .cloned()
            .collect()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
