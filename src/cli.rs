//! The command line (clap derive). Every flag can also come from `DSGUARD_<FLAG>`.

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
    /// For each DaemonSet in the manifests, the nodes it runs on and the ones it does not.
    Coverage {
        /// Manifest files or folders; `-` reads stdin.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
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
}
