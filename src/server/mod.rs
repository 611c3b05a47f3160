//! `dsguard serve`: the HTTPS admission webhook (README "Commands"; docs/decisions.md "serve").
//!
//! A TLS listener (rustls, HTTP/1.1 keep-alive as the API server uses it, and HTTP/2 for
//! other clients, TCP_NODELAY) serves the admission routes; an optional plain-HTTP listener
//! serves health, readiness and metrics to probes and scrapers. The inventory and the
//! config sit behind atomic pointers: a request reads one consistent snapshot of each,
//! and a reload or relist swaps them without making a request wait. Certificate and config
//! files are polled and replaced only by a new version that loads; a bad file is logged,
//! counted and ignored. SIGTERM stops accepting, lets in-flight requests finish, and exits.

mod http;
pub mod metrics;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

pub use http::{parse_duration, time_budget};
use metrics::{KindLabels, Metrics};
use tls::{CertificateFiles, RotatingCertificate};

use crate::config::Config;
use crate::inventory::{Inventory, Synced};

/// What `serve` needs to know beyond the config file.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Plain-HTTP health/readiness/metrics; `None` to serve them on the TLS port only.
    pub metrics_listen: Option<SocketAddr>,
    /// Where the serving certificate comes from.
    pub certificate: CertificateSource,
    pub client_ca: Option<PathBuf>,
    /// The config file to poll for changes (the initial config is passed separately).
    pub config_path: Option<PathBuf>,
    pub max_body_bytes: usize,
    /// How often certificate and config files are checked for changes.
    pub reload_interval: Duration,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// Connection limits and timeouts (see [`ConnectionLimits`]).
    pub connections: ConnectionLimits,
    /// The largest config file read on reload.
    pub max_file_bytes: u64,
}

/// Bounds on connections, so that clients that connect and say nothing, or never leave,
/// cannot take the server's descriptors or memory, nor keep callers out.
///
/// At either listener's cap, a new connection does not wait behind idle ones: the one
/// idle longest (no request in flight; a connection that has not sent its first request
/// counts as idle since it connected) is closed to make room. Only when every connection
/// has a request in flight does a new one wait in the listen backlog.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Webhook connections served at once.
    pub max_connections: usize,
    /// Health and metrics connections served at once, on their own listener, so a flood
    /// of webhook connections never hides the probes.
    pub max_probe_connections: usize,
    /// How long a new connection may take to send its first complete request (TLS
    /// handshake included).
    pub first_request_timeout: Duration,
    /// How long a connection may sit idle between requests (no request in flight).
    pub idle_timeout: Duration,
    /// The same two bounds on the health and metrics listener: a kubelet probe sends one
    /// request and waits seconds for the next, so anything idle longer is not a probe.
    pub probe_idle_timeout: Duration,
    /// HTTP/2 streams one connection may have open at once (the API server speaks
    /// HTTP/1.1; a client that opens many streams gets this many at a time).
    pub max_concurrent_streams: u32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_probe_connections: 64,
            first_request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            probe_idle_timeout: Duration::from_secs(5),
            max_concurrent_streams: 16,
        }
    }
}

impl ConnectionLimits {
    /// The limits of the health and metrics listener: its own cap, and short idle bounds.
    fn for_probes(self) -> Self {
        Self {
            max_connections: self.max_probe_connections,
            first_request_timeout: self.first_request_timeout.min(self.probe_idle_timeout),
            idle_timeout: self.probe_idle_timeout,
            ..self
        }
    }
}

#[derive(Clone, Debug)]
pub enum CertificateSource {
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// A self-signed pair for localhost made at start; the CA is written to `ca_path`.
    SelfSigned {
        ca_path: PathBuf,
    },
    /// Filled from outside (`serve --manage-webhooks`, from its Secret): the server is not
    /// ready until the owner has put a certificate in and said so.
    Managed(Arc<RotatingCertificate>),
}

impl CertificateSource {
    /// A managed source holding a throwaway certificate until the real one arrives (a
    /// handshake before then fails verification, as it should).
    pub fn managed() -> Result<(Self, Arc<RotatingCertificate>), ServeError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let placeholder =
            crate::certs::generate("dsguard-pending", &["localhost".to_owned()], &[])?;
        let certificate = RotatingCertificate::new(tls::certified_key(
            placeholder.cert.as_bytes(),
            placeholder.key.as_bytes(),
        )?);
        Ok((CertificateSource::Managed(certificate.clone()), certificate))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {address}: {cause}")]
    Listen {
        address: SocketAddr,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Certificates(#[from] crate::certs::CertError),
    #[error("cannot write the development CA to {path}: {cause}")]
    WriteCa { path: String, cause: std::io::Error },
}

/// The default budget of request-body bytes held at once: four bodies at the default
/// 8 MiB limit, or hundreds of real reviews (5 to 50 KB), well inside the shipped 256 MiB
/// memory limit.
pub const DEFAULT_BODY_BUDGET: usize = 32 * 1024 * 1024;

/// What every request reads.
pub struct AppState {
    pub inventory: ArcSwap<Inventory>,
    /// Serializes writers (one watcher per kind): each update is a copy-on-write of the
    /// current view, so readers never wait and never see a half-applied change.
    inventory_writer: Mutex<()>,
    /// Which inventory parts must be synced before `/readyz` turns ready.
    required: Synced,
    /// When the inventory last changed or was confirmed current, for its age metric.
    inventory_seen: Mutex<Instant>,
    pub config: ArcSwap<Config>,
    pub metrics: Metrics,
    pub certificates_ready: AtomicBool,
    pub body_limit: usize,
    /// Bytes of request bodies held at once across every connection, one permit a byte:
    /// a body that would take more than what is left is refused with 429 before it is
    /// read (see `http::read_body`), so memory for bodies stays bounded however many
    /// connections and streams send at once.
    pub body_budget: Arc<Semaphore>,
    /// The size of [`AppState::body_budget`], for messages and metrics.
    pub body_budget_bytes: usize,
    /// Places for evaluations judged apart from the serving threads (large requests):
    /// half the cores, so costly requests can never take every core from cheap ones.
    pub costly_evaluations: Arc<Semaphore>,
    /// How many log lines the non-blocking log writer had to drop, if one is in use.
    dropped_log_lines: Option<Box<dyn Fn() -> usize + Send + Sync>>,
    /// Bumped whenever the inventory or the config changes: what the audit of the
    /// cluster's DaemonSets waits on to judge them again.
    pub judgement_inputs: tokio::sync::watch::Sender<u64>,
}

impl AppState {
    pub fn new(inventory: Inventory, config: Config, body_limit: usize) -> Self {
        Self {
            inventory: ArcSwap::from_pointee(inventory),
            inventory_writer: Mutex::new(()),
            required: Synced {
                nodes: true,
                priority_classes: false,
                limit_ranges: false,
            },
            inventory_seen: Mutex::new(Instant::now()),
            config: ArcSwap::from_pointee(config),
            metrics: Metrics::default(),
            certificates_ready: AtomicBool::new(false),
            body_limit,
            body_budget: Arc::new(Semaphore::new(DEFAULT_BODY_BUDGET.max(body_limit))),
            body_budget_bytes: DEFAULT_BODY_BUDGET.max(body_limit),
            costly_evaluations: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            )),
            dropped_log_lines: None,
            judgement_inputs: tokio::sync::watch::Sender::new(0),
        }
    }

    fn judgement_inputs_changed(&self) {
        self.judgement_inputs
            .send_modify(|generation| *generation += 1);
    }

    /// Swaps in a new config (a reload).
    pub fn replace_config(&self, config: Config) {
        self.note_config_warnings(&config);
        self.config.store(Arc::new(config));
        self.judgement_inputs_changed();
    }

    /// Logs what `config` lets through unchecked and sets `dsguard_config_warnings`.
    pub fn note_config_warnings(&self, config: &Config) {
        let warnings = config.warnings();
        for warning in &warnings {
            tracing::warn!(warning = %warning, "the config in force checks less than it seems");
        }
        self.metrics.config_warnings.set(warnings.len() as i64);
    }

    /// Sets the budget of request-body bytes held at once (at least one body's limit).
    pub fn with_body_budget(mut self, bytes: usize) -> Self {
        let bytes = bytes.max(self.body_limit).min(Semaphore::MAX_PERMITS);
        self.body_budget = Arc::new(Semaphore::new(bytes));
        self.body_budget_bytes = bytes;
        self
    }

    /// Reports the log writer's dropped lines as `dsguard_log_lines_dropped`.
    pub fn count_dropped_log_lines(
        mut self,
        dropped: impl Fn() -> usize + Send + Sync + 'static,
    ) -> Self {
        self.dropped_log_lines = Some(Box::new(dropped));
        self
    }

    /// Readiness also waits for these inventory parts (every watcher, in cluster mode).
    pub fn require_synced(mut self, required: Synced) -> Self {
        self.required = required;
        self
    }

    /// Swaps in a new inventory view (a relist, or a snapshot reload).
    pub fn replace_inventory(&self, inventory: Inventory) {
        let _writer = self
            .inventory_writer
            .lock()
            .expect("the lock is never poisoned");
        self.inventory.store(Arc::new(inventory));
        self.mark_inventory_current();
        self.judgement_inputs_changed();
    }

    /// Applies `change` to a copy of the current view and swaps the copy in. Requests keep
    /// reading the previous view until the swap.
    pub fn update_inventory(&self, change: impl FnOnce(&mut Inventory)) {
        let _writer = self
            .inventory_writer
            .lock()
            .expect("the lock is never poisoned");
        let mut next = Inventory::clone(&self.inventory.load());
        change(&mut next);
        self.inventory.store(Arc::new(next));
        self.mark_inventory_current();
        self.judgement_inputs_changed();
    }

    /// Gives the live inventory the daemon loads the audit computed against `judged` (the
    /// DaemonSets it watches, as `--daemonsets` gives them to `lint`), when its nodes are
    /// still the ones they were computed on. Returns the judgement-input generation this
    /// change made, so the audit can tell its own change from a later one; `None` when the
    /// nodes moved on (the change that moved them asks for a new judgement anyway).
    pub fn adopt_daemon_loads(&self, judged: &Inventory) -> Option<u64> {
        let _writer = self
            .inventory_writer
            .lock()
            .expect("the lock is never poisoned");
        let mut next = Inventory::clone(&self.inventory.load());
        if next.same_daemon_loads(judged) || !next.adopt_daemon_loads(judged) {
            return None;
        }
        self.inventory.store(Arc::new(next));
        self.judgement_inputs_changed();
        Some(*self.judgement_inputs.borrow())
    }

    /// Seconds since the inventory last heard from its source.
    pub fn inventory_age(&self) -> Duration {
        self.inventory_seen
            .lock()
            .expect("the lock is never poisoned")
            .elapsed()
    }

    pub fn mark_inventory_current(&self) {
        *self
            .inventory_seen
            .lock()
            .expect("the lock is never poisoned") = Instant::now();
    }

    /// Why the server is not ready yet, if it is not.
    pub fn not_ready(&self) -> Option<String> {
        if !self.certificates_ready.load(Ordering::Acquire) {
            return Some("the serving certificate is not loaded".into());
        }
        let synced = self.inventory.load().synced();
        let missing: Vec<&str> = [
            (self.required.nodes && !synced.nodes, "nodes"),
            (
                self.required.priority_classes && !synced.priority_classes,
                "priorityclasses",
            ),
            (
                self.required.limit_ranges && !synced.limit_ranges,
                "limitranges",
            ),
        ]
        .into_iter()
        .filter_map(|(missing, kind)| missing.then_some(kind))
        .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "the inventory has not completed its first full sync of {}",
                missing.join(", ")
            )
        })
    }

    fn refresh_inventory_gauges(&self) {
        let inventory = self.inventory.load();
        let set = |kind: &'static str, count: usize| {
            self.metrics
                .inventory_objects
                .get_or_create(&KindLabels { kind })
                .set(count as i64);
        };
        set("nodes", inventory.node_count());
        set("taint_sets", inventory.taint_set_count());
        set("priority_classes", inventory.priority_class_count());
        set("limit_ranges", inventory.limit_range_count());
        let age = self
            .inventory_seen
            .lock()
            .expect("the lock is never poisoned")
            .elapsed();
        self.metrics.inventory_age_seconds.set(age.as_secs_f64());
    }
}

/// A started server: its bound addresses, and how to stop it.
pub struct RunningServer {
    pub webhook_address: SocketAddr,
    pub metrics_address: Option<SocketAddr>,
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish (up to the grace period), and
    /// returns when every listener is closed.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Binds the listeners and starts serving; returns once they accept connections.
pub async fn start(
    options: ServeOptions,
    state: Arc<AppState>,
) -> Result<RunningServer, ServeError> {
    let router = http::webhook_router(state.clone());
    start_with_router(options, state, router).await
}

/// [`start`] with another router on the same TLS listener and connection handling: how
/// the load generator measures the stack itself (a "null webhook" that answers without
/// evaluating) side by side with dsguard.
pub async fn start_with_router(
    options: ServeOptions,
    state: Arc<AppState>,
    router: axum::Router,
) -> Result<RunningServer, ServeError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Every address is bound before anything is written: a serve that cannot listen (the
    // port is taken) leaves the development CA of the one that is running alone.
    let bind = |address: SocketAddr| async move {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|cause| ServeError::Listen { address, cause })?;
        let bound = listener
            .local_addr()
            .map_err(|cause| ServeError::Listen { address, cause })?;
        Ok::<_, ServeError>((listener, bound))
    };
    let (listener, webhook_address) = bind(options.listen).await?;
    let probes = match options.metrics_listen {
        Some(address) => Some(bind(address).await?),
        None => None,
    };
    let (certificate, files) = match &options.certificate {
        CertificateSource::Files { cert, key } => {
            let files = CertificateFiles {
                cert: cert.clone(),
                key: key.clone(),
            };
            let (cert_pem, key_pem) = files.read()?;
            (
                RotatingCertificate::new(tls::certified_key(&cert_pem, &key_pem).map_err(|e| {
                    tls::TlsError::Invalid(format!(
                        "{} with {}: {e}",
                        cert.display(),
                        key.display()
                    ))
                })?),
                Some((files, cert_pem, key_pem)),
            )
        }
        CertificateSource::SelfSigned { ca_path } => {
            let names = vec!["localhost".to_owned()];
            let ips = [
                "127.0.0.1".parse().expect("an IP"),
                "::1".parse().expect("an IP"),
            ];
            let generated = crate::certs::generate("dsguard-dev", &names, &ips)?;
            if let Some(dir) = ca_path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            std::fs::write(ca_path, &generated.ca_cert).map_err(|cause| ServeError::WriteCa {
                path: ca_path.display().to_string(),
                cause,
            })?;
            tracing::info!(ca = %ca_path.display(), "self-signed development certificate for localhost; trust this CA file");
            (
                RotatingCertificate::new(tls::certified_key(
                    generated.cert.as_bytes(),
                    generated.key.as_bytes(),
                )?),
                None,
            )
        }
        CertificateSource::Managed(certificate) => (certificate.clone(), None),
    };
    let tls_config = tls::server_config(certificate.clone(), options.client_ca.as_deref())?;
    if !matches!(options.certificate, CertificateSource::Managed(_)) {
        state.certificates_ready.store(true, Ordering::Release);
    }

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(serve_connections(
        listener,
        Some(TlsAcceptor::from(Arc::new(tls_config))),
        router,
        options.connections,
        shutdown_rx.clone(),
        options.shutdown_grace,
    )));
    tracing::info!(address = %webhook_address, "webhook listening (HTTPS: /validate, /mutate, /healthz, /readyz, /metrics)");

    let mut metrics_address = None;
    if let Some((listener, bound)) = probes {
        metrics_address = Some(bound);
        tasks.push(tokio::spawn(serve_connections(
            listener,
            None,
            http::plain_router(state.clone()),
            options.connections.for_probes(),
            shutdown_rx.clone(),
            options.shutdown_grace,
        )));
        tracing::info!(address = %bound, "health and metrics listening (HTTP: /healthz, /readyz, /metrics)");
    }

    if let Some((files, cert_pem, key_pem)) = files {
        tokio::spawn(poll_certificate(
            files,
            (cert_pem, key_pem),
            certificate,
            state.clone(),
            options.reload_interval,
            shutdown_rx.clone(),
        ));
    }
    if let Some(path) = options.config_path.clone() {
        let limit = options.max_file_bytes;
        let initial = read_config_file(&path, limit);
        tokio::spawn(poll_config(
            path,
            limit,
            initial,
            state.clone(),
            options.reload_interval,
            shutdown_rx.clone(),
        ));
    }
    Ok(RunningServer {
        webhook_address,
        metrics_address,
        state,
        shutdown,
        tasks,
    })
}

/// Where `serve` writes the development CA when no certificate is given and `--dev-ca`
/// says nothing: `dsguard-dev/ca.crt` in the temporary folder (`$TMPDIR`, else `/tmp`).
pub fn default_dev_ca_path() -> PathBuf {
    std::env::temp_dir().join("dsguard-dev").join("ca.crt")
}

/// Waits for SIGTERM or SIGINT.
pub async fn termination_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = terminate => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

/// Resolves once shutdown is requested (the guard `wait_for` returns is not `Send`).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopped| *stopped).await;
}

/// Accepts connections (TLS when `acceptor` is given) and serves `router` on each, at
/// most `limits.max_connections` at once. At the cap the connection idle longest is
/// closed to make room for the new one; when none is idle, accepting pauses and new
/// connections wait in the kernel's backlog until one closes (the timeouts make sure one
/// does).
async fn serve_connections(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    router: axum::Router,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let open = Arc::new(OpenConnections::default());
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                // Full: room for a caller is made from the idle, not taken from the busy;
                // while every connection is busy, one that goes idle is taken next.
                let mut slot = None;
                while slot.is_none() {
                    open.evict_longest_idle();
                    tokio::select! {
                        acquired = slots.clone().acquire_owned() => {
                            slot = Some(acquired.expect("the semaphore is never closed"));
                        }
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                        _ = stopped(&mut shutdown) => break,
                    }
                }
                match slot {
                    Some(slot) => slot,
                    None => break,
                }
            }
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        let started = Instant::now();
        let tracked = open.add(started);
        tokio::spawn(async move {
            let _slot = slot;
            let deadline = tokio::time::Instant::from_std(started + limits.first_request_timeout);
            let Some(acceptor) = acceptor else {
                serve_connection(tcp, None, router, limits, &tracked, watcher, peer).await;
                return;
            };
            let tls = tokio::select! {
                handshake = tokio::time::timeout_at(deadline, acceptor.accept(tcp)) => match handshake {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
                _ = tracked.evicted.notified() => {
                    tracing::debug!(%peer, "closing a connection still in its handshake to make room");
                    return;
                }
            };
            let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            serve_connection(tls, alpn, router, limits, &tracked, watcher, peer).await;
        });
    }
    drop(listener);
    tracing::info!("stopped accepting; finishing in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace,
            "in-flight requests did not finish within the grace period"
        );
    }
}

/// The connections of one listener, for eviction at its cap.
#[derive(Default)]
struct OpenConnections {
    next: std::sync::atomic::AtomicU64,
    entries: Mutex<std::collections::HashMap<u64, Arc<Activity>>>,
}

/// A connection's entry: removed from its listener's list when dropped.
struct Tracked {
    id: u64,
    activity: Arc<Activity>,
    evicted: Arc<tokio::sync::Notify>,
    open: Arc<OpenConnections>,
}

impl std::ops::Deref for Tracked {
    type Target = Activity;

    fn deref(&self) -> &Activity {
        &self.activity
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.open
            .entries
            .lock()
            .expect("never poisoned")
            .remove(&self.id);
    }
}

impl OpenConnections {
    fn add(self: &Arc<Self>, started: Instant) -> Tracked {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let evicted = Arc::new(tokio::sync::Notify::new());
        let activity = Arc::new(Activity {
            state: Mutex::new((0, 0, started)),
            evicted: evicted.clone(),
        });
        self.entries
            .lock()
            .expect("never poisoned")
            .insert(id, activity.clone());
        Tracked {
            id,
            activity,
            evicted,
            open: self.clone(),
        }
    }

    /// Closes the connection that has been idle longest, if one is idle.
    fn evict_longest_idle(&self) {
        let entries = self.entries.lock().expect("never poisoned");
        let longest = entries
            .values()
            .filter_map(|activity| activity.idle().map(|(since, _)| (since, activity)))
            .min_by_key(|(since, _)| *since);
        if let Some((_, activity)) = longest {
            tracing::debug!("connection cap reached: closing the connection idle longest");
            activity.evicted.notify_one();
        }
    }
}

/// What a connection is doing, for its idle timer: requests in flight, requests begun,
/// and when it last became idle.
struct Activity {
    state: Mutex<(usize, u64, Instant)>,
    /// Told when the listener needs this connection's place (it is idle longest).
    evicted: Arc<tokio::sync::Notify>,
}

/// A request in flight on a connection; the connection is idle again when it drops.
struct InFlight(Arc<Activity>);

impl Activity {
    fn begin(self: &Arc<Self>) -> InFlight {
        let mut state = self.state.lock().expect("never poisoned");
        state.0 += 1;
        state.1 += 1;
        InFlight(self.clone())
    }

    /// Since when the connection has had nothing in flight, and whether it ever had.
    fn idle(&self) -> Option<(Instant, bool)> {
        let state = self.state.lock().expect("never poisoned");
        (state.0 == 0).then_some((state.2, state.1 > 0))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().expect("never poisoned");
        state.0 -= 1;
        state.2 = Instant::now();
    }
}

/// Serves one connection: HTTP/2 or HTTP/1.1 as ALPN chose (without ALPN, the version
/// is read from the first bytes), closed when no first request arrives within
/// `first_request_timeout` of its start, when no request is in flight for
/// `idle_timeout`, or when its listener needs its place while it is idle. Hyper's own
/// header timeout bounds a request's headers; the handler bounds its body.
async fn serve_connection<IO>(
    io: IO,
    alpn: Option<Vec<u8>>,
    router: axum::Router,
    limits: ConnectionLimits,
    tracked: &Tracked,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = tracked.activity.clone();
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let in_flight = activity.begin();
            let response = tower::ServiceExt::oneshot(router.clone(), request);
            async move {
                let response = response.await;
                drop(in_flight);
                response
            }
        });
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // Hyper restarts this timer while a keep-alive connection waits for its next
        // request, so it must not be shorter than the idle timeout: the API server keeps
        // idle connections for 90 s and a server that closes one first can fail a POST.
        // First requests and idle connections are bounded by the timer below instead.
        .header_read_timeout(limits.idle_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(64 * 1024)
        .keep_alive_interval(Duration::from_secs(30));
    // The version sniff of an unnegotiated connection waits for bytes with no timer of
    // its own; the idle timer below bounds it.
    let builder = match alpn.as_deref() {
        Some(b"h2") => builder.http2_only(),
        Some(b"http/1.1") => builder.http1_only(),
        _ => builder,
    };
    let connection = watcher.watch(
        builder
            .serve_connection(TokioIo::new(io), service)
            .into_owned(),
    );
    tokio::pin!(connection);
    loop {
        let wake = match tracked.idle() {
            Some((since, true)) => since + limits.idle_timeout,
            Some((since, false)) => since + limits.first_request_timeout,
            None => Instant::now() + limits.first_request_timeout,
        };
        tokio::select! {
            result = &mut connection => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection closed with an error");
                }
                return;
            }
            _ = tracked.evicted.notified() => {
                if tracked.idle().is_some() {
                    tracing::debug!(%peer, "closing an idle connection to make room for a new one");
                    return;
                }
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                let expired = tracked.idle().is_some_and(|(since, used)| {
                    let limit = if used { limits.idle_timeout } else { limits.first_request_timeout };
                    since.elapsed() >= limit
                });
                if expired {
                    tracing::debug!(%peer, "closing a connection with no request in flight");
                    return;
                }
            }
        }
    }
}

/// Every `interval` until shutdown, reads with `read` and calls `changed` when the result
/// differs from the last one. A failed read (a file caught mid-swap) is retried next round;
/// a changed file is judged once, so a bad one is reported once, not every poll.
async fn on_change<T: PartialEq>(
    mut last: T,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
    read: impl Fn() -> Option<T>,
    mut changed: impl FnMut(&T),
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopped(&mut shutdown) => return,
        }
        let Some(current) = read() else { continue };
        if current != last {
            changed(&current);
            last = current;
        }
    }
}

async fn poll_certificate(
    files: CertificateFiles,
    last: (Vec<u8>, Vec<u8>),
    certificate: Arc<RotatingCertificate>,
    state: Arc<AppState>,
    interval: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let read = || files.read().ok();
    on_change(last, interval, shutdown, read, |(cert, key)| match tls::certified_key(cert, key) {
        Ok(key) => {
            certificate.replace(key);
            Metrics::count_reload(&state.metrics.certificate_reloads, true);
            tracing::info!(cert = %files.cert.display(), "serving certificate reloaded");
        }
        Err(e) => {
            Metrics::count_reload(&state.metrics.certificate_reloads, false);
            tracing::error!(cert = %files.cert.display(), error = %e, "new serving certificate rejected; the previous one keeps serving");
        }
    })
    .await;
}

/// The config file's bytes, or why it cannot be read, as compared between polls: a file
/// that goes missing or unreadable is one change, reported once.
fn read_config_file(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, String> {
    crate::input::read_file(path, limit).map_err(|e| e.to_string())
}

async fn poll_config(
    path: PathBuf,
    limit: u64,
    last: Result<Vec<u8>, String>,
    state: Arc<AppState>,
    interval: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let read = || Some(read_config_file(&path, limit));
    on_change(last, interval, shutdown, read, |current| {
        let loaded = match current {
            Ok(bytes) => Config::from_yaml(
                &String::from_utf8_lossy(bytes),
                &path.display().to_string(),
            )
            .map_err(|e| e.to_string()),
            Err(why) => Err(format!("{}: the config file {why}", path.display())),
        };
        match loaded {
            Ok(config) => {
                state.replace_config(config);
                Metrics::count_reload(&state.metrics.config_reloads, true);
                tracing::info!(config = %path.display(), "config reloaded");
            }
            Err(e) => {
                Metrics::count_reload(&state.metrics.config_reloads, false);
                tracing::error!(error = %e, "new config rejected; the last good config stays in force");
            }
        }
    })
    .await;
}
