//! The command line (clap derive). Every flag can also come from `DSGUARD_<FLAG>`.
//!
//! Each subcommand takes only the flags it uses (its `--help` lists nothing else): the
//! shared groups below ([`ConfigArgs`], [`InventoryArgs`], [`ClusterArgs`],
//! [`NamespaceArgs`], [`ColorArgs`]) are flattened into the commands that read them, and
//! each command's `-o` takes only the formats it writes, so `review -o json` or
//! `coverage -o sarif` is a usage error rather than an ignored flag.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "dsguard",
    version,
    about = "Keeps Kubernetes DaemonSets honest: admission webhook, CI linter, live auditor and doctor",
    long_about = "Keeps Kubernetes DaemonSets honest: admission webhook, CI linter, live auditor and doctor.\n\nInstalled as `kubectl-dsguard` on the PATH, it also runs as the kubectl plugin `kubectl dsguard`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// CI dry-run: mutate then validate every DaemonSet in the manifests, as the webhook
    /// would, and report findings at file:line:col. Exit 0 clean or warnings only, 1 a
    /// denial, 2 usage error or unreadable input.
    Lint(Box<LintArgs>),
    /// Judge the DaemonSets already in the cluster (--daemonsets FILE|DIR, or --cluster)
    /// as `lint` judges manifests: same formats, same exit codes.
    Audit(Box<AuditArgs>),
    /// Read one AdmissionReview on stdin and write the webhook's response on stdout.
    /// Exit code 0 allowed, 1 denied, 2 unreadable input.
    Review(Box<ReviewArgs>),
    /// For each DaemonSet in the manifests (or the cluster's), the nodes it runs on and the
    /// ones it does not, grouped by node pool and reason.
    Coverage(Box<CoverageArgs>),
    /// Why a live DaemonSet is unhealthy, why its rollout stopped, and which revision to roll
    /// back to, from the cluster (--cluster, read-only) or a support bundle (--snapshot).
    /// Exit 0 every DaemonSet shown is healthy, 1 one is not, 2 usage or unreadable input.
    Doctor(Box<DoctorArgs>),
    /// Run the HTTPS admission webhook (POST /validate, /mutate; /healthz, /readyz, /metrics).
    Serve(Box<ServeArgs>),
    /// Write a CA and a serving certificate for the webhook's Service, and print the
    /// base64 caBundle for the webhook configurations.
    Certs(CertsArgs),
    /// List the rules and mutations: ID, name, default action, what each catches.
    Rules(RulesArgs),
    /// Print a rule's page (what, why, exact semantics, examples, the fix) in the terminal.
    Explain(ExplainArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completion(CompletionArgs),
    /// Write man pages (dsguard.1 and one per subcommand) into a folder.
    Man(ManArgs),
}

/// The policy file.
#[derive(Debug, Args, Clone, Default)]
pub struct ConfigArgs {
    /// dsguard config file (YAML); defaults apply without one.
    #[arg(long, env = "DSGUARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Snapshot files that stand in for (or override) what `--cluster` would list.
#[derive(Debug, Args, Clone, Default)]
pub struct InventoryArgs {
    /// Node snapshot: `kubectl get nodes -o yaml` or `-o json`, Node documents, or a folder of them.
    #[arg(long, env = "DSGUARD_NODES", value_name = "FILE|DIR")]
    pub nodes: Option<PathBuf>,
    /// Autoscaler templates, nodes that do not exist yet: Karpenter NodePools and Cluster
    /// API MachineDeployments/MachineSets scaled from zero (a file or a folder).
    #[arg(long, env = "DSGUARD_NODE_TEMPLATES", value_name = "FILE|DIR")]
    pub node_templates: Option<PathBuf>,
    /// The DaemonSets of the cluster (`kubectl get daemonsets -A -o yaml`, manifests, or a
    /// folder): their requests count as each node's daemon overhead (DSG005, coverage).
    #[arg(long, env = "DSGUARD_DAEMONSETS", value_name = "FILE|DIR")]
    pub daemonsets: Option<PathBuf>,
    /// PriorityClass snapshot (`kubectl get priorityclasses -o yaml`).
    #[arg(long, env = "DSGUARD_PRIORITYCLASSES", value_name = "FILE")]
    pub priorityclasses: Option<PathBuf>,
    /// LimitRange snapshot (`kubectl get limitranges -A -o yaml`).
    #[arg(long, env = "DSGUARD_LIMITRANGES", value_name = "FILE")]
    pub limitranges: Option<PathBuf>,
    /// The pods already running (`kubectl get pods -A -o yaml` or `-o json`, pod documents,
    /// or a folder): whether the daemon pod has room beside them, or preempts them (DSG007,
    /// coverage). With --cluster they are listed from it.
    #[arg(long, env = "DSGUARD_PODS", value_name = "FILE|DIR")]
    pub pods: Option<PathBuf>,
    /// PodDisruptionBudgets (`kubectl get pdb -A -o yaml`): which pods preemption avoids
    /// evicting first (DSG007).
    #[arg(long, env = "DSGUARD_PDBS", value_name = "FILE|DIR")]
    pub pdbs: Option<PathBuf>,
}

/// Which cluster, and how to reach it, as kubectl chooses it.
#[derive(Debug, Args, Clone, Default)]
pub struct ClusterArgs {
    /// Read the inventory from the cluster (the kubeconfig's current context, else the
    /// in-cluster service account): `serve` watches it, other commands list it once.
    #[arg(long, env = "DSGUARD_CLUSTER")]
    pub cluster: bool,
    /// The kubeconfig file to use (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, env = "DSGUARD_KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current-context).
    #[arg(long, env = "DSGUARD_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,
    /// How long one request to the API server may take, as kubectl's flag: `30s`, `1m`,
    /// or a number of seconds; `0` for no limit.
    #[arg(long, env = "DSGUARD_REQUEST_TIMEOUT", value_name = "DURATION")]
    pub request_timeout: Option<String>,
}

/// Which namespaces, as kubectl's `-n` and `-A`.
#[derive(Debug, Args, Clone, Default)]
pub struct NamespaceArgs {
    /// Only the DaemonSets of this namespace.
    #[arg(
        short = 'n',
        long,
        env = "DSGUARD_NAMESPACE",
        value_name = "NAMESPACE",
        conflicts_with = "all_namespaces"
    )]
    pub namespace: Option<String>,
    /// The DaemonSets of every namespace.
    #[arg(short = 'A', long, env = "DSGUARD_ALL_NAMESPACES")]
    pub all_namespaces: bool,
}

/// How input files are bounded.
#[derive(Debug, Args, Clone)]
pub struct FileLimitArgs {
    /// Largest input file read (manifests, snapshots, config, stdin), in bytes.
    #[arg(
        long,
        env = "DSGUARD_MAX_FILE_BYTES",
        default_value_t = crate::input::DEFAULT_MAX_FILE_BYTES,
        value_name = "BYTES"
    )]
    pub max_file_bytes: u64,
}

impl Default for FileLimitArgs {
    fn default() -> Self {
        Self {
            max_file_bytes: crate::input::DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// Colour in text output and log lines.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct ColorArgs {
    /// Colour text output: `auto` only on a terminal (and never with NO_COLOR set),
    /// `always`, or `never`.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, env = "DSGUARD_COLOR", value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour what goes to a stream that `is_terminal` says is (or is not) a
    /// terminal: `auto` needs a terminal, an unset or empty `NO_COLOR` and a `TERM` that is
    /// not `dumb`.
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        }
    }
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Manifest files or folders (recursively: .yaml, .yml, .json; what .gitignore
    /// ignores, .git and target/ are skipped unless named); `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", env = "DSGUARD_OUTPUT", value_enum, default_value_t = ReportFormat::Text)]
    pub output: ReportFormat,
    /// Print the JSON patch (RFC 6902) for each DaemonSet the mutation changes.
    #[arg(long, env = "DSGUARD_SHOW_PATCH")]
    pub show_patch: bool,
    /// Write the mutated manifests: in place, or under --out.
    #[arg(long, env = "DSGUARD_FIX")]
    pub fix: bool,
    /// With --fix, write the fixed files under DIR (their relative paths kept).
    #[arg(long, value_name = "DIR", requires = "fix", env = "DSGUARD_OUT")]
    pub out: Option<PathBuf>,
    /// Exit 2 when the input holds no DaemonSet at all (a CI job pointed at the wrong
    /// folder, a render that produced nothing).
    #[arg(long, env = "DSGUARD_FAIL_ON_EMPTY")]
    pub fail_on_empty: bool,
    /// Threads that parse and judge documents (default: one per core); the output is the
    /// same, in the same order, whatever the number.
    #[arg(short = 'j', long, env = "DSGUARD_JOBS", value_name = "N")]
    pub jobs: Option<std::num::NonZeroUsize>,
    #[command(flatten)]
    pub sarif: SarifArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub inventory: InventoryArgs,
    #[command(flatten)]
    pub kube: ClusterArgs,
    #[command(flatten)]
    pub files: FileLimitArgs,
    #[command(flatten)]
    pub color: ColorArgs,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", env = "DSGUARD_OUTPUT", value_enum, default_value_t = ReportFormat::Text)]
    pub output: ReportFormat,
    /// Exit 2 when there is no DaemonSet to judge.
    #[arg(long, env = "DSGUARD_FAIL_ON_EMPTY")]
    pub fail_on_empty: bool,
    #[command(flatten)]
    pub sarif: SarifArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub inventory: InventoryArgs,
    #[command(flatten)]
    pub kube: ClusterArgs,
    #[command(flatten)]
    pub namespaces: NamespaceArgs,
    #[command(flatten)]
    pub files: FileLimitArgs,
    #[command(flatten)]
    pub color: ColorArgs,
}

/// SARIF's help links.
#[derive(Debug, Args, Clone, Default)]
pub struct SarifArgs {
    /// With `-o sarif`: where the repository's docs are published, e.g.
    /// `https://github.com/ORG/dsguard/blob/TAG`; each rule's `helpUri` is this followed by
    /// `/docs/rules/DSGnnn.md`. Without it, rules carry their page as `help.markdown` only.
    #[arg(long, env = "DSGUARD_HELP_URI_BASE", value_name = "URL")]
    pub help_uri_base: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Which webhook to answer as: `both` runs the mutation, then validates the
    /// mutated object, as the API server chains the two webhooks.
    #[arg(long, value_enum, default_value_t = WebhookKind::Both, env = "DSGUARD_WEBHOOK")]
    pub webhook: WebhookKind,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub inventory: InventoryArgs,
    #[command(flatten)]
    pub kube: ClusterArgs,
    #[command(flatten)]
    pub files: FileLimitArgs,
}

#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Manifest files or folders; `-` reads stdin. With --cluster and no path, the
    /// cluster's own DaemonSets.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format (`table` is another name for `text`).
    #[arg(short = 'o', long = "output", env = "DSGUARD_OUTPUT", value_enum, default_value_t = CoverageFormat::Text)]
    pub output: CoverageFormat,
    /// Judge as if the nodes matching SELECTOR (kubectl label-selector syntax) carried
    /// this taint: `KEY[=VALUE]:EFFECT@SELECTOR`, e.g.
    /// `dedicated=infra:NoExecute@pool=general`. Repeatable; never changes the cluster.
    #[arg(long = "what-if-taint", value_name = "TAINT@SELECTOR")]
    pub what_if_taints: Vec<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub inventory: InventoryArgs,
    #[command(flatten)]
    pub kube: ClusterArgs,
    #[command(flatten)]
    pub namespaces: NamespaceArgs,
    #[command(flatten)]
    pub files: FileLimitArgs,
    #[command(flatten)]
    pub color: ColorArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// DaemonSets to diagnose, as NAMESPACE/NAME (or NAME in the namespace of -n, or the
    /// context's); none: every DaemonSet of the namespace (or of all, with -A).
    #[arg(value_name = "NAMESPACE/NAME")]
    pub daemonsets: Vec<String>,
    /// A support bundle: any mix of `kubectl get ... -o yaml|json` output, e.g.
    /// `kubectl get nodes,ds,pods,events,controllerrevisions,priorityclasses,pdb -A -o yaml`.
    #[arg(long, value_name = "FILE|DIR", conflicts_with = "cluster")]
    pub snapshot: Option<PathBuf>,
    #[arg(short = 'o', long = "output", env = "DSGUARD_OUTPUT", value_enum, default_value_t = DoctorFormat::Text)]
    pub output: DoctorFormat,
    /// What "now" is for ages and grace periods (RFC 3339); default: the snapshot's newest
    /// timestamp, or the clock with --cluster.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// A node to explain (repeatable): where the DaemonSet does not target it, a
    /// NotTargeted problem names the nodeSelector or affinity term that fails there.
    #[arg(long = "node", value_name = "NODE")]
    pub nodes: Vec<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub kube: ClusterArgs,
    #[command(flatten)]
    pub namespaces: NamespaceArgs,
    #[command(flatten)]
    pub files: FileLimitArgs,
    #[command(flatten)]
    pub color: ColorArgs,
}

/// What `doctor` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    /// Per DaemonSet: status, rollout, problems grouped by pool and cause, revisions.
    Text,
    /// `schemaVersion: 1` (docs/doctor.md).
    Json,
    /// One self-contained page: DaemonSets by node pool, each cell's state, reason and
    /// fix, and a rollout bar per DaemonSet (docs/html.md).
    Html,
}

#[derive(Debug, Args)]
pub struct CertsArgs {
    /// The webhook's Service name.
    #[arg(long, default_value = "dsguard", env = "DSGUARD_SERVICE")]
    pub service: String,
    /// The Service's namespace.
    #[arg(long, default_value = "dsguard-system", env = "DSGUARD_NAMESPACE")]
    pub namespace: String,
    /// Extra IP SANs (repeatable).
    #[arg(long = "ip", value_name = "IP")]
    pub ips: Vec<IpAddr>,
    /// Extra DNS SANs (repeatable).
    #[arg(long = "dns", value_name = "NAME")]
    pub dns: Vec<String>,
    /// Replace the files if they exist (a rotation: the new ca-bundle.yaml trusts the
    /// old CA and the new one).
    #[arg(long, env = "DSGUARD_FORCE")]
    pub force: bool,
    /// Folder for ca.crt, ca.key, tls.crt, tls.key and ca-bundle.yaml (the caBundle
    /// patch of both webhook configurations, also printed on stdout).
    #[arg(
        long,
        default_value = "certs",
        value_name = "DIR",
        env = "DSGUARD_CERTS_OUT"
    )]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", env = "DSGUARD_OUTPUT", value_enum, default_value_t = ListFormat::Text)]
    pub output: ListFormat,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A rule ID (`DSG002`) or name (`untolerated-taints`).
    #[arg(value_name = "RULE")]
    pub rule: String,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The folder to write the pages into (made if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
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
    /// Where the self-signed development CA is written when no certificate is given
    /// (default: dsguard-dev/ca.crt in the temporary folder, $TMPDIR or /tmp).
    #[arg(long, env = "DSGUARD_DEV_CA", value_name = "FILE")]
    pub dev_ca: Option<PathBuf>,
    /// Largest request body accepted (a review carries object and oldObject).
    #[arg(long, default_value_t = 8 * 1024 * 1024, env = "DSGUARD_MAX_BODY_BYTES")]
    pub max_body_bytes: usize,
    /// Request-body bytes held at once across every connection and stream; a body that
    /// would take more is refused with 429 (Retry-After) before it is read.
    #[arg(long, default_value_t = crate::server::DEFAULT_BODY_BUDGET, env = "DSGUARD_MAX_INFLIGHT_BODY_BYTES")]
    pub max_inflight_body_bytes: usize,
    /// HTTP/2 streams one connection may have open at once.
    #[arg(long, default_value_t = 16, env = "DSGUARD_MAX_CONCURRENT_STREAMS")]
    pub max_concurrent_streams: u32,
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
    /// How long a health or metrics connection may stay idle (a probe sends one request).
    #[arg(long, default_value = "5s", env = "DSGUARD_PROBE_IDLE_TIMEOUT")]
    pub probe_idle_timeout: String,
    /// With --cluster: how often to ask again whether an absent optional API (Karpenter
    /// NodePools, Cluster API MachineDeployments/MachineSets, PolicyReports) is now served.
    #[arg(long, default_value = "30s", env = "DSGUARD_DISCOVERY_INTERVAL")]
    pub discovery_interval: String,
    /// With --cluster and the audit: how often the leader lists the DaemonSets' pods and
    /// diagnoses them as `dsguard doctor` does, for `dsguard_daemonset_pods`; `0` turns
    /// the pass off.
    #[arg(long, default_value = "2m", env = "DSGUARD_POD_HEALTH_INTERVAL")]
    pub pod_health_interval: String,
    /// With --cluster: the namespace of the `dsguard-leader` Lease when POD_NAMESPACE is
    /// not set (one replica, the Lease holder, writes Events and PolicyReports).
    #[arg(
        long,
        default_value = "dsguard-system",
        env = "DSGUARD_LEADER_NAMESPACE"
    )]
    pub leader_namespace: String,
    /// With --cluster: how long the leader's Lease lasts without renewal; another replica
    /// takes over at most this long after the leader dies, and a leader that cannot
    /// renew stops writing before then (docs/audit.md "One writer").
    #[arg(long, default_value = "15s", env = "DSGUARD_LEADER_LEASE_DURATION")]
    pub leader_lease_duration: String,
    /// How long in-flight requests may take to finish after SIGTERM.
    #[arg(long, default_value = "30s", env = "DSGUARD_SHUTDOWN_GRACE")]
    pub shutdown_grace: String,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Json, env = "DSGUARD_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub inventory: InventoryArgs,
    #[command(flatten)]
    pub kube: ClusterArgs,
    #[command(flatten)]
    pub files: FileLimitArgs,
    #[command(flatten)]
    pub color: ColorArgs,
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

/// What `lint` and `audit` write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Findings grouped by file, `line:col  action  RULE  namespace/name: message`.
    Text,
    /// `schemaVersion: 1`: findings, patches, summary.
    Json,
    /// SARIF 2.1.0, for code-scanning uploads.
    Sarif,
    /// JUnit XML: a test case per DaemonSet.
    Junit,
    /// GitHub Actions workflow commands: an annotation per finding.
    Github,
}

/// What `coverage` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CoverageFormat {
    /// A table per DaemonSet, grouped by pool and reason.
    #[value(alias = "table")]
    Text,
    /// `schemaVersion: 1`.
    Json,
    /// One self-contained page: DaemonSets by node pool and autoscaler template, each
    /// cell's state, reason and fix (docs/html.md).
    Html,
}

/// What `rules` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}
