//! The command line (clap derive). Every flag can also come from `DSGUARD_<FLAG>`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "dsguard",
    version,
    about = "Keeps Kubernetes DaemonSets honest: admission webhook and CI linter"
)]
pub struct Cli {
    /// dsguard config file (YAML); defaults apply without one.
    #[arg(long, global = true, env = "DSGUARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Node snapshot: `kubectl get nodes -o yaml` or `-o json`, Node documents, or a folder of them.
    #[arg(long, global = true, env = "DSGUARD_NODES", value_name = "FILE")]
    pub nodes: Option<PathBuf>,
    /// Autoscaler templates, nodes that do not exist yet: Karpenter NodePools and Cluster
    /// API MachineDeployments/MachineSets scaled from zero (a file or a folder).
    #[arg(
        long,
        global = true,
        env = "DSGUARD_NODE_TEMPLATES",
        value_name = "FILE|DIR"
    )]
    pub node_templates: Option<PathBuf>,
    /// The DaemonSets of the cluster (`kubectl get daemonsets -A -o yaml`, manifests, or a
    /// folder): their requests count as each node's daemon overhead (DSG005, coverage).
    #[arg(
        long,
        global = true,
        env = "DSGUARD_DAEMONSETS",
        value_name = "FILE|DIR"
    )]
    pub daemonsets: Option<PathBuf>,
    /// PriorityClass snapshot (`kubectl get priorityclasses -o yaml`).
    #[arg(
        long,
        global = true,
        env = "DSGUARD_PRIORITYCLASSES",
        value_name = "FILE"
    )]
    pub priorityclasses: Option<PathBuf>,
    /// LimitRange snapshot (`kubectl get limitranges -A -o yaml`).
    #[arg(long, global = true, env = "DSGUARD_LIMITRANGES", value_name = "FILE")]
    pub limitranges: Option<PathBuf>,
    /// Read the inventory from the cluster of the current kubeconfig context (or the
    /// in-cluster service account): `serve` watches it, other commands list it once.
    #[arg(long, global = true, env = "DSGUARD_CLUSTER", conflicts_with = "nodes")]
    pub cluster: bool,
    /// Largest input file read (manifests, snapshots, config, stdin), in bytes.
    #[arg(
        long,
        global = true,
        env = "DSGUARD_MAX_FILE_BYTES",
        default_value_t = crate::input::DEFAULT_MAX_FILE_BYTES,
        value_name = "BYTES"
    )]
    pub max_file_bytes: u64,
    /// With `-o sarif`: where the repository's docs are published, e.g.
    /// `https://github.com/ORG/dsguard/blob/v0.1.0`; each rule's `helpUri` is this followed by
    /// `/docs/rules/DSGnnn.md`. Without it, rules carry their page as `help.markdown` only.
    #[arg(long, global = true, env = "DSGUARD_HELP_URI_BASE", value_name = "URL")]
    pub help_uri_base: Option<String>,
    /// Output format.
    #[arg(
        short = 'o',
        long = "output",
        global = true,
        env = "DSGUARD_OUTPUT",
        value_enum
    )]
    pub output: Option<OutputFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read one AdmissionReview on stdin and write the webhook's response on stdout.
    /// Exit code 0 allowed, 1 denied, 2 unreadable input.
    Review {
        /// Which webhook to answer as: `both` runs the mutation, then validates the
        /// mutated object, as the API server chains the two webhooks.
        #[arg(long, value_enum, default_value_t = WebhookKind::Both, env = "DSGUARD_WEBHOOK")]
        webhook: WebhookKind,
    },
    /// CI dry-run: mutate then validate every DaemonSet in the manifests, as the webhook
    /// would, and report findings at file:line:col. Exit 0 clean or warnings only, 1 a
    /// denial, 2 usage error or unreadable input.
    Lint {
        /// Manifest files or folders (recursively: .yaml, .yml, .json); `-` reads stdin.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Print the JSON patch (RFC 6902) for each DaemonSet the mutation changes.
        #[arg(long, env = "DSGUARD_SHOW_PATCH")]
        show_patch: bool,
        /// Write the mutated manifests: in place, or under --out.
        #[arg(long, env = "DSGUARD_FIX")]
        fix: bool,
        /// With --fix, write the fixed files under DIR (their relative paths kept).
        #[arg(long, value_name = "DIR", requires = "fix", env = "DSGUARD_OUT")]
        out: Option<PathBuf>,
    },
    /// Run the HTTPS admission webhook (POST /validate, /mutate; /healthz, /readyz, /metrics).
    Serve(Box<ServeArgs>),
    /// Write a CA and a serving certificate for the webhook's Service, and print the
    /// base64 caBundle for the webhook configurations.
    Certs {
        /// The webhook's Service name.
        #[arg(long, default_value = "dsguard", env = "DSGUARD_SERVICE")]
        service: String,
        /// The Service's namespace.
        #[arg(long, default_value = "dsguard-system", env = "DSGUARD_NAMESPACE")]
        namespace: String,
        /// Extra IP SANs (repeatable).
        #[arg(long = "ip", value_name = "IP")]
        ips: Vec<IpAddr>,
        /// Extra DNS SANs (repeatable).
        #[arg(long = "dns", value_name = "NAME")]
        dns: Vec<String>,
        /// Replace the files if they exist (a rotation: the new ca-bundle.yaml trusts the
        /// old CA and the new one).
        #[arg(long, env = "DSGUARD_FORCE")]
        force: bool,
        /// Folder for ca.crt, ca.key, tls.crt, tls.key and ca-bundle.yaml (the caBundle
        /// patch of both webhook configurations, also printed on stdout).
        #[arg(
            long,
            default_value = "certs",
            value_name = "DIR",
            env = "DSGUARD_CERTS_OUT"
        )]
        out: PathBuf,
    },
    /// Judge the DaemonSets already in the cluster (--daemonsets FILE|DIR, or --cluster)
    /// as `lint` judges manifests: same formats, same exit codes.
    Audit,
    /// For each DaemonSet in the manifests, the nodes it runs on and the ones it does not.
    Coverage {
        /// Manifest files or folders; `-` reads stdin. With --cluster and no path, the
        /// cluster's own DaemonSets.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Judge as if the nodes matching SELECTOR (kubectl label-selector syntax) carried
        /// this taint: `KEY[=VALUE]:EFFECT@SELECTOR`, e.g.
        /// `dedicated=infra:NoExecute@pool=general`. Repeatable; never changes the cluster.
        #[arg(long = "what-if-taint", value_name = "TAINT@SELECTOR")]
        what_if_taints: Vec<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address of the HTTPS webhook listener.
    #[arg(long, default_value = "0.0.0.0:8443", env = "DSGUARD_LISTEN")]
    pub listen: SocketAddr,
    /// Address of the plain-HTTP health and metrics listener; `off` to serve them on the
    /// HTTPS listener only.
    #[arg(long, default_value = "0.0.0.0:8080", env = "DSGUARD_METRICS_LISTEN")]
    pub metrics_listen: String,
    /// Serving certificate (PEM chain), reloaded when it changes. Without it (and
    /// --tls-key), a self-signed certificate for localhost is made at start.
    #[arg(
        long,
        requires = "tls_key",
        env = "DSGUARD_TLS_CERT",
        value_name = "FILE"
    )]
    pub tls_cert: Option<PathBuf>,
    /// Serving key (PEM), reloaded with the certificate.
    #[arg(
        long,
        requires = "tls_cert",
        env = "DSGUARD_TLS_KEY",
        value_name = "FILE"
    )]
    pub tls_key: Option<PathBuf>,
    /// With --cluster: manage the certificates (a CA and serving pair in the Secret
    /// --tls-secret, renewed before expiry) and register the webhook configurations with
    /// their caBundle once a replica is Ready. The leader writes; every replica serves
    /// from the Secret. Not with --tls-cert/--tls-key.
    #[arg(long, conflicts_with = "tls_cert", env = "DSGUARD_MANAGE_WEBHOOKS")]
    pub manage_webhooks: bool,
    /// With --manage-webhooks: the Secret holding the CA and serving certificate.
    #[arg(long, default_value = "dsguard-tls", env = "DSGUARD_TLS_SECRET")]
    pub tls_secret: String,
    /// With --manage-webhooks: the Service the API server calls (the certificate's names).
    #[arg(long, default_value = "dsguard", env = "DSGUARD_SERVICE")]
    pub service: String,
    /// With --manage-webhooks: the serving certificate's lifetime (renewed at two thirds of
    /// it); the CA lasts ten times as long.
    #[arg(long, default_value = "8760h", env = "DSGUARD_CERT_VALIDITY")]
    pub cert_validity: String,
    /// Require client certificates signed by this CA (PEM).
    #[arg(long, env = "DSGUARD_CLIENT_CA", value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// Where the self-signed development CA is written when no certificate is given.
    #[arg(long, env = "DSGUARD_DEV_CA", value_name = "FILE")]
    pub dev_ca: Option<PathBuf>,
    /// Largest request body accepted (a review carries object and oldObject).
    #[arg(long, default_value_t = 8 * 1024 * 1024, env = "DSGUARD_MAX_BODY_BYTES")]
    pub max_body_bytes: usize,
    /// How often certificate and config files are checked for changes (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", env = "DSGUARD_RELOAD_INTERVAL")]
    pub reload_interval: String,
    /// Most connections served at once on the webhook listener; further ones wait to be
    /// accepted. The health and metrics listener has its own small allowance.
    #[arg(long, default_value_t = 1024, env = "DSGUARD_MAX_CONNECTIONS")]
    pub max_connections: usize,
    /// How long a new connection may take to send its first complete request headers.
    #[arg(long, default_value = "10s", env = "DSGUARD_HEADER_TIMEOUT")]
    pub header_timeout: String,
    /// How long a keep-alive connection may stay idle between requests. Longer than the
    /// API server's own 90 s idle timeout, so the server never closes a connection the
    /// client is about to reuse.
    #[arg(long, default_value = "120s", env = "DSGUARD_IDLE_TIMEOUT")]
    pub idle_timeout: String,
    /// With --cluster: how often to ask again whether an absent optional API (Karpenter
    /// NodePools, Cluster API MachineDeployments/MachineSets, PolicyReports) is now served.
    #[arg(long, default_value = "30s", env = "DSGUARD_DISCOVERY_INTERVAL")]
    pub discovery_interval: String,
    /// With --cluster: the namespace of the `dsguard-leader` Lease when POD_NAMESPACE is
    /// not set (one replica, the Lease holder, writes Events and PolicyReports).
    #[arg(
        long,
        default_value = "dsguard-system",
        env = "DSGUARD_LEADER_NAMESPACE"
    )]
    pub leader_namespace: String,
    /// With --cluster: how long the leader's Lease lasts without renewal; another replica
    /// takes over at most this long after the leader dies.
    #[arg(long, default_value = "15s", env = "DSGUARD_LEADER_LEASE_DURATION")]
    pub leader_lease_duration: String,
    /// How long in-flight requests may take to finish after SIGTERM.
    #[arg(long, default_value = "30s", env = "DSGUARD_SHUTDOWN_GRACE")]
    pub shutdown_grace: String,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Json, env = "DSGUARD_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WebhookKind {
    Validate,
    Mutate,
    Both,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Table,
    Json,
    Sarif,
    Junit,
    /// GitHub Actions workflow commands: an annotation per finding (lint only).
    Github,
}
