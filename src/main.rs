//! The `dsguard` binary: parses the command line, loads config and inventory files, and
//! dispatches to the adapters. The only place errors become exit codes.
#![forbid(unsafe_code)]

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{CommandFactory, FromArgMatches};

use dsguard::admission::{self, Endpoint};
use dsguard::cli::{
    AuditArgs, CertsArgs, Cli, ClusterArgs, ColorChoice, Command, CompletionArgs, ConfigArgs,
    CoverageArgs, CoverageFormat, DoctorArgs, DoctorFormat, ExplainArgs, InventoryArgs, LintArgs,
    ListFormat, LogFormat, ManArgs, NamespaceArgs, ReportFormat, ReviewArgs, RulesArgs, SarifArgs,
    ServeArgs, WebhookKind,
};
use dsguard::cluster::Connection;
use dsguard::cluster::certificates::ManagedWebhooks;
use dsguard::cluster::leader::{self, Candidate};
use dsguard::config::Config;
use dsguard::coverage::{self, CoverageReport};
use dsguard::inventory::{Inventory, Synced, snapshot};
use dsguard::policy::DaemonSet;
use dsguard::scheduling::TemplateKind;
use dsguard::server::{self, AppState, CertificateSource, ServeOptions, parse_duration};
use dsguard::{lint, manifests};

/// Exit codes shared by every command (README "Commands").
const EXIT_DENIED: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// The name kubectl runs a plugin by: `kubectl dsguard ...` execs `kubectl-dsguard`.
const KUBECTL_PLUGIN: &str = "kubectl-dsguard";

fn main() -> ExitCode {
    let mut command = Cli::command();
    // As a kubectl plugin, help and usage say how the user runs it.
    let invoked_as = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    if invoked_as.as_deref() == Some(KUBECTL_PLUGIN) {
        command = command.bin_name("kubectl dsguard");
    }
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("dsguard: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Lint(args) => {
            one_shot_logging(args.color.color);
            lint(&args)
        }
        Command::Audit(args) => {
            one_shot_logging(args.color.color);
            audit(&args)
        }
        Command::Review(args) => {
            one_shot_logging(ColorChoice::Auto);
            review(&args)
        }
        Command::Doctor(args) => {
            one_shot_logging(args.color.color);
            doctor(&args)
        }
        Command::Coverage(args) => {
            one_shot_logging(args.color.color);
            coverage(&args)
        }
        Command::Certs(args) => certs(&args),
        Command::Rules(args) => rules(&args),
        Command::Explain(args) => explain(&args),
        Command::Completion(args) => completion(&args),
        Command::Man(args) => man(&args),
    }
}

/// One-shot commands: the library's warnings (a special file skipped in a snapshot
/// folder, a list that had to be retried) go to stderr, plainly, coloured only on a
/// terminal.
fn one_shot_logging(color: ColorChoice) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(color.enabled(std::io::stderr().is_terminal()))
        .with_max_level(tracing::Level::WARN)
        .without_time()
        .with_target(false)
        .init();
}

/// The config file (or the defaults); what it lets through unchecked is said on stderr
/// by the one-shot commands (`serve` logs it and counts it in a metric).
fn load_config(args: &ConfigArgs, max_file_bytes: u64) -> Result<Config> {
    Ok(match &args.config {
        Some(path) => Config::load(path, max_file_bytes)?,
        None => Config::default(),
    })
}

fn warn_about_config(config: &Config) {
    for warning in config.warnings() {
        eprintln!("dsguard: warning: {warning}");
    }
}

/// `--kubeconfig`, `--context` and `--request-timeout` as kubectl reads them: they say
/// which cluster `--cluster` reads, so they need it.
fn connection(args: &ClusterArgs) -> Result<Option<Connection>> {
    if !args.cluster {
        for (given, flag) in [
            (args.kubeconfig.is_some(), "--kubeconfig"),
            (args.context.is_some(), "--context"),
            (args.request_timeout.is_some(), "--request-timeout"),
        ] {
            if given {
                bail!("{flag} says which cluster to read and how; add --cluster to read it");
            }
        }
        return Ok(None);
    }
    let request_timeout = match &args.request_timeout {
        None => None,
        Some(text) => Some(parse_request_timeout(text).with_context(|| {
            format!("--request-timeout {text:?} is not a duration like 30s, 1m or a number of seconds (0: no limit)")
        })?),
    };
    Ok(Some(Connection {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        request_timeout,
        watches: false,
    }))
}

/// kubectl's `--request-timeout`: a duration with a unit, or whole seconds; `0` is none.
fn parse_request_timeout(text: &str) -> Option<Duration> {
    let text = text.trim();
    match text.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => parse_duration(text),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// A client for the cluster `connection` names; a kubeconfig or context that cannot be
/// used is an error before anything is sent.
async fn client(connection: &Connection) -> Result<kube::Client> {
    Ok(dsguard::cluster::client(connection).await?)
}

/// The inventory of a one-shot command: listed from the cluster with `--cluster` (files
/// given beside it override the listed view of their kind), else read from the files.
fn load_inventory(
    files: &InventoryArgs,
    cluster: Option<&Connection>,
    max_file_bytes: u64,
) -> Result<Inventory> {
    let mut inventory = match cluster {
        Some(connection) => {
            if files.nodes.is_some() {
                bail!(
                    "--nodes is a snapshot of the cluster's nodes; with --cluster they are listed from it. Give one or the other"
                );
            }
            runtime()?.block_on(async {
                let client = client(connection).await?;
                let mut inventory = dsguard::cluster::list_inventory(&client).await?;
                if files.pods.is_none() {
                    let (occupancy, notices) = dsguard::cluster::list_occupancy(&client).await?;
                    for notice in &notices {
                        eprintln!("dsguard: note: {}", lint::printable(notice));
                    }
                    inventory.set_occupancy(occupancy);
                }
                Ok::<_, anyhow::Error>(inventory)
            })?
        }
        None => {
            let mut inventory = Inventory::new();
            if let Some(path) = &files.nodes {
                inventory.reset_nodes(snapshot::load_nodes(path, max_file_bytes)?);
            }
            inventory
        }
    };
    if let Some(path) = &files.priorityclasses {
        inventory.reset_priority_classes(snapshot::load_priority_classes(path, max_file_bytes)?);
    }
    if let Some(path) = &files.limitranges {
        inventory.reset_limit_ranges(snapshot::load_limit_ranges(path, max_file_bytes)?);
    }
    load_templates(files, &mut inventory, max_file_bytes)?;
    load_pods(files, &mut inventory, max_file_bytes)?;
    Ok(inventory)
}

/// `--pods` and `--pdbs`: the pods already on each node (a pod on a node the inventory
/// does not have, or that cannot be read, is left out with a note) and the budgets
/// preemption weighs.
fn load_pods(files: &InventoryArgs, inventory: &mut Inventory, max_file_bytes: u64) -> Result<()> {
    let Some(path) = &files.pods else {
        if let (Some(path), Some(_)) = (&files.pdbs, inventory.occupancy()) {
            // Pods listed from the cluster, budgets from a file.
            let (budgets, notices) = dsguard::inventory::pods::load_budgets(path, max_file_bytes)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for notice in &notices {
                eprintln!("dsguard: note: {}", lint::printable(notice));
            }
            inventory.update_occupancy(|occupancy| occupancy.set_budgets(Some(budgets)));
            return Ok(());
        }
        if files.pdbs.is_some() {
            bail!(
                "--pdbs weighs which running pods preemption evicts; give the pods too (--pods FILE|DIR)"
            );
        }
        return Ok(());
    };
    if !inventory.synced().nodes {
        bail!(
            "--pods are counted on the nodes they run on; give the nodes too (--nodes FILE|DIR or --cluster)"
        );
    }
    let known = |node: &str| inventory.node_by_name(node).is_some();
    let priority_of = |class: Option<&str>| {
        match inventory.admitted_priority(class) {
            Some((value, _)) => Some(value),
            // Not knowing the classes is not the pod's fault: count it at 0.
            None if !inventory.synced().priority_classes => Some(0),
            None => None,
        }
    };
    let loaded = dsguard::inventory::pods::load_pods(path, max_file_bytes, &known, &priority_of)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for notice in &loaded.notices {
        eprintln!("dsguard: note: {}", lint::printable(notice));
    }
    let mut occupancy = loaded.occupancy;
    if let Some(path) = &files.pdbs {
        let (budgets, notices) = dsguard::inventory::pods::load_budgets(path, max_file_bytes)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for notice in &notices {
            eprintln!("dsguard: note: {}", lint::printable(notice));
        }
        occupancy.set_budgets(Some(budgets));
    }
    inventory.set_occupancy(Some(occupancy));
    Ok(())
}

/// `--daemonsets`: every DaemonSet's footprint on the loaded nodes, judged with the same
/// placement and request code as the rules (namespace `default` when a manifest has none).
fn load_daemonsets(
    files: &InventoryArgs,
    inventory: &mut Inventory,
    config: &Config,
    max_file_bytes: u64,
) -> Result<()> {
    let Some(path) = &files.daemonsets else {
        return Ok(());
    };
    let read = read_manifests(std::slice::from_ref(path), max_file_bytes);
    if let Some(error) = read.errors.first() {
        bail!("--daemonsets: {error}");
    }
    if !read.manifests.iter().any(|m| m.is_daemonset()) {
        bail!(
            "--daemonsets {}: holds no DaemonSet; expected the output of `kubectl get daemonsets -A -o yaml` or DaemonSet manifests",
            path.display()
        );
    }
    let mut objects = Vec::new();
    for manifest in read.manifests.iter().filter(|m| m.is_daemonset()) {
        match DaemonSet::from_value(&manifest.value) {
            Ok(object) => objects.push((manifest.file.clone(), object)),
            Err(error) => {
                let at = manifest.position_of(&error.pointer);
                bail!(
                    "--daemonsets: {}:{}:{}: {error}",
                    manifest.file,
                    at.line,
                    at.column
                );
            }
        }
    }
    set_daemon_loads(&objects, inventory, config);
    Ok(())
}

/// The cluster's DaemonSets, listed once (`audit --cluster`, `coverage --cluster` with no
/// path), from one namespace or all.
fn cluster_daemonsets(
    connection: &Connection,
    namespace: Option<&str>,
) -> Result<Vec<manifests::Manifest>> {
    runtime()?.block_on(async {
        let client = client(connection).await?;
        Ok(dsguard::cluster::list_daemonsets(&client, namespace).await?)
    })
}

/// Each DaemonSet's footprint (with the file it came from) on the loaded nodes, judged
/// with the same placement and request code as the rules; one whose resources cannot be
/// read is left out with a note.
fn set_daemon_loads(objects: &[(String, DaemonSet)], inventory: &mut Inventory, config: &Config) {
    let (loads, unreadable) =
        dsguard::policy::daemon_loads(objects.iter().map(|(_, o)| o), inventory, config);
    for index in unreadable {
        let (file, object) = &objects[index];
        eprintln!(
            "dsguard: note: {}: {}/{}: resources unreadable, not counted as daemon overhead",
            lint::printable(file),
            object.namespace_or_default(),
            lint::printable(object.name())
        );
    }
    inventory.set_daemon_loads(Some(loads));
}

/// `--node-templates`: replaces whatever templates were listed from the cluster, like the
/// other files given beside `--cluster`; what was left out is said on stderr.
fn load_templates(
    files: &InventoryArgs,
    inventory: &mut Inventory,
    max_file_bytes: u64,
) -> Result<()> {
    let Some(path) = &files.node_templates else {
        return Ok(());
    };
    let loaded = snapshot::load_templates(path, max_file_bytes)?;
    for notice in &loaded.notices {
        eprintln!("dsguard: note: {}", lint::printable(notice));
    }
    for kind in [
        TemplateKind::NodePool,
        TemplateKind::MachineDeployment,
        TemplateKind::MachineSet,
    ] {
        inventory.reset_templates(
            kind,
            loaded.templates.iter().filter(|t| t.kind == kind).cloned(),
        );
    }
    Ok(())
}

/// The manifests under `paths`, and what could not be read; the walk's notices (special
/// files and link loops skipped, files without a DaemonSet) go to stderr.
fn read_manifests(paths: &[PathBuf], max_file_bytes: u64) -> manifests::ReadPaths {
    let read = manifests::read_paths(paths, max_file_bytes);
    for notice in &read.notices {
        eprintln!("dsguard: note: {}", lint::printable(notice));
    }
    read
}

/// Which inventory parts the flags give (for lint's run-wide notes).
fn inventory_sources(files: &InventoryArgs, cluster: bool) -> lint::InventorySources {
    lint::InventorySources {
        nodes: files.nodes.is_some() || cluster,
        priority_classes: files.priorityclasses.is_some() || cluster,
        limit_ranges: files.limitranges.is_some() || cluster,
    }
}

fn check_help_uri_base(sarif: &SarifArgs) -> Result<()> {
    if let Some(base) = &sarif.help_uri_base
        && !(base.starts_with("https://") || base.starts_with("http://"))
    {
        bail!(
            "--help-uri-base {base:?} is not an http(s) URL; give where the docs are published, e.g. https://github.com/ORG/dsguard/blob/TAG"
        );
    }
    Ok(())
}

fn lint(args: &LintArgs) -> Result<ExitCode> {
    check_help_uri_base(&args.sarif)?;
    let max = args.files.max_file_bytes;
    let config = load_config(&args.config, max)?;
    warn_about_config(&config);
    let cluster = connection(&args.kube)?;
    if args.fix && args.out.is_none() && args.paths.iter().any(|p| p.as_os_str() == "-") {
        bail!("--fix cannot rewrite stdin; use --show-patch, or --fix with files");
    }
    let mut inventory = load_inventory(&args.inventory, cluster.as_ref(), max)?;
    load_daemonsets(&args.inventory, &mut inventory, &config, max)?;
    let sources = inventory_sources(&args.inventory, cluster.is_some());
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, usize::from);
    let mut output = ReportOutput::new(args.output, args.color.color, &args.sarif, args.show_patch);
    let streams = output.streams();
    let mut write_failed = None;
    let mut write_part = |report: &lint::LintReport| {
        if write_failed.is_none() {
            write_failed = output.part(report).err();
        }
    };
    let streamed = lint::lint_paths(
        &args.paths,
        &inventory,
        &config,
        sources,
        lint::StreamOptions {
            jobs,
            max_file_bytes: max,
            keep_patched: args.fix,
        },
        if streams { Some(&mut write_part) } else { None },
    );
    if let Some(error) = write_failed {
        return Err(error).context("writing the report");
    }
    for notice in &streamed.input_notices {
        eprintln!("dsguard: note: {}", lint::printable(notice));
    }
    let report = streamed.report;
    output.finish(&report, &config)?;
    if args.fix {
        let outcome = lint::fix_files(&streamed.patched, args.out.as_deref());
        for file in &outcome.written {
            eprintln!("dsguard: fixed {}", lint::printable(file));
        }
        for why in &outcome.skipped {
            eprintln!("dsguard: {}", lint::printable(why));
        }
        for why in &outcome.failed {
            eprintln!("dsguard: error: {}", lint::printable(why));
        }
        if !outcome.failed.is_empty() {
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    }
    Ok(ExitCode::from(report.exit_code(args.fail_on_empty)))
}

/// The report of `lint` and `audit`, in the format asked for. Text and GitHub
/// annotations can be written in parts as a streamed run goes ([`ReportOutput::part`]);
/// the other formats are one document, written whole at the end.
struct ReportOutput<'a> {
    format: ReportFormat,
    text: lint::TextWriter,
    sarif: &'a SarifArgs,
}

impl<'a> ReportOutput<'a> {
    fn new(
        format: ReportFormat,
        color: ColorChoice,
        sarif: &'a SarifArgs,
        show_patch: bool,
    ) -> Self {
        let color = color.enabled(std::io::stdout().is_terminal());
        Self {
            format,
            text: lint::TextWriter::new(lint::TextOptions { color, show_patch }),
            sarif,
        }
    }

    /// Whether the format can be written as the run goes.
    fn streams(&self) -> bool {
        matches!(self.format, ReportFormat::Text | ReportFormat::Github)
    }

    /// What `report` holds now (a streaming format only).
    fn part(&mut self, report: &lint::LintReport) -> std::io::Result<()> {
        let part = match self.format {
            ReportFormat::Text => self.text.part(report),
            ReportFormat::Github => lint::github_commands(report),
            _ => return Ok(()),
        };
        std::io::stdout().lock().write_all(part.as_bytes())
    }

    /// The rest of the report and its end; the run-wide notices on stderr first.
    fn finish(&mut self, report: &lint::LintReport, config: &Config) -> Result<()> {
        for notice in &report.notices {
            eprintln!("dsguard: note: {}", lint::printable(notice));
        }
        if self.streams() {
            self.part(report)?;
        }
        let mut stdout = std::io::stdout().lock();
        match self.format {
            ReportFormat::Text => write!(stdout, "{}", self.text.finish(report))?,
            ReportFormat::Github => write!(stdout, "{}", lint::github_summary(report))?,
            ReportFormat::Json => {
                let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut stdout);
                serde_json::to_writer_pretty(&mut out, &lint::JsonReport::of(report))?;
                writeln!(out)?;
                out.flush()?;
            }
            ReportFormat::Sarif => writeln!(
                stdout,
                "{}",
                serde_json::to_string_pretty(&lint::to_sarif(
                    report,
                    config,
                    self.sarif.help_uri_base.as_deref()
                ))?
            )?,
            ReportFormat::Junit => write!(stdout, "{}", lint::to_junit(report))?,
        }
        Ok(())
    }
}

/// `-n`/`-A` for the commands that list DaemonSets cluster-wide by default: the one
/// namespace asked for, else every namespace.
/// `dsguard doctor`: read the snapshot (or list the cluster), diagnose the DaemonSets
/// asked for, write the report.
fn doctor(args: &DoctorArgs) -> Result<ExitCode> {
    let max = args.files.max_file_bytes;
    let config = load_config(&args.config, max)?;
    warn_about_config(&config);
    let cluster = connection(&args.kube)?;
    let snapshot = match (&args.snapshot, &cluster) {
        (Some(path), None) => dsguard::doctor::objects::Snapshot::load(path, max)?,
        (None, Some(connection)) => runtime()?.block_on(async {
            let client = client(connection).await?;
            let namespace = listed_namespace(&args.namespaces);
            Ok::<_, anyhow::Error>(dsguard::cluster::doctor_snapshot(&client, namespace).await?)
        })?,
        _ => bail!(
            "doctor reads a live cluster: --cluster (read-only), or a support bundle: --snapshot FILE|DIR (kubectl get nodes,ds,pods,events,controllerrevisions,priorityclasses,pdb -A -o yaml > cluster.yaml)"
        ),
    };
    for notice in &snapshot.notices {
        eprintln!("dsguard: note: {}", lint::printable(notice));
    }
    if snapshot.daemonsets.is_empty() {
        eprintln!("dsguard: note: no DaemonSet in the snapshot");
    }
    for (kind, present) in [
        ("Node", snapshot.has_nodes),
        ("Pod", snapshot.has_pods),
        ("ControllerRevision", snapshot.has_revisions),
        ("Event", snapshot.has_events),
    ] {
        if !present && !snapshot.daemonsets.is_empty() {
            eprintln!(
                "dsguard: note: the snapshot has no {kind}: what depends on it is not diagnosed"
            );
        }
    }
    let now = match &args.now {
        Some(text) => dsguard::inventory::pods::parse_time(text).with_context(|| {
            format!("--now {text:?} is not an RFC 3339 time like 2026-12-06T12:00:00Z")
        })?,
        None if cluster.is_some() => dsguard::inventory::pods::now(),
        None if snapshot.newest > 0 => snapshot.newest,
        None => dsguard::inventory::pods::now(),
    };
    // Which DaemonSets: named ones, else the namespace's (-n, the context's), else all (-A).
    let default_namespace = match (&args.namespaces.namespace, args.namespaces.all_namespaces) {
        (Some(namespace), _) => Some(namespace.clone()),
        (None, true) => None,
        (None, false) => Some(
            runtime()?
                .block_on(dsguard::cluster::default_namespace(
                    cluster.as_ref().unwrap_or(&Connection::default()),
                ))
                .unwrap_or_else(|_| "default".into()),
        ),
    };
    let named: Vec<(String, String)> = args
        .daemonsets
        .iter()
        .map(|text| match text.split_once('/') {
            Some((namespace, name)) => (namespace.to_owned(), name.to_owned()),
            None => (
                default_namespace
                    .clone()
                    .unwrap_or_else(|| "default".into()),
                text.clone(),
            ),
        })
        .collect();
    for (namespace, name) in &named {
        if !snapshot
            .daemonsets
            .iter()
            .any(|d| &d.namespace == namespace && &d.name == name)
        {
            bail!(
                "daemonset {namespace}/{name} is not in the {}",
                if cluster.is_some() {
                    "cluster"
                } else {
                    "snapshot"
                }
            );
        }
    }
    let wanted = |d: &dsguard::doctor::objects::DaemonSetObject| {
        if !named.is_empty() {
            return named
                .iter()
                .any(|(ns, n)| ns == &d.namespace && n == &d.name);
        }
        default_namespace
            .as_ref()
            .is_none_or(|ns| ns == &d.namespace)
    };
    for node in &args.nodes {
        if !snapshot.nodes.iter().any(|n| n.name == *node) {
            bail!(
                "node {node} is not in the {}",
                if cluster.is_some() {
                    "cluster"
                } else {
                    "snapshot"
                }
            );
        }
    }
    let options = dsguard::doctor::Options {
        config: &config,
        now,
        nodes: &args.nodes,
    };
    let inventory = dsguard::doctor::inventory_of(&snapshot);
    let (report, notes) =
        dsguard::doctor::diagnose_against(&snapshot, &inventory, &wanted, &options);
    for note in &notes {
        eprintln!("dsguard: {}", lint::printable(note));
    }
    if report.daemonsets.is_empty() && named.is_empty() {
        eprintln!(
            "dsguard: note: no DaemonSet in {} (-A for every namespace)",
            default_namespace
                .as_deref()
                .map_or("any namespace".to_owned(), |n| format!("namespace {n}"))
        );
    }
    // Buffered: the standard output is line-buffered, and a report of 2,000 DaemonSets is
    // tens of thousands of lines of JSON.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match args.output {
        DoctorFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        DoctorFormat::Text => write!(out, "{}", dsguard::doctor::to_text(&report))?,
        DoctorFormat::Html => {
            out.write_all(dsguard::doctor::to_html(&report, &inventory, &config).as_bytes())?
        }
    }
    out.flush()?;
    let code = if !notes.is_empty() {
        ExitCode::from(2)
    } else if report.daemonsets.iter().all(|d| d.healthy) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    // The process ends here, and the system takes its memory back at once: freeing a
    // support bundle's 150,000 pods one allocation at a time took a tenth of the run
    // (BENCHMARKS.md, "doctor -A").
    std::mem::forget((snapshot, inventory, report));
    Ok(code)
}

fn listed_namespace(namespaces: &NamespaceArgs) -> Option<&str> {
    namespaces
        .namespace
        .as_deref()
        .filter(|_| !namespaces.all_namespaces)
}

/// `dsguard audit`: the DaemonSets already in the cluster (`--daemonsets` files, or listed
/// with `--cluster`), judged as `lint` judges manifests.
fn audit(args: &AuditArgs) -> Result<ExitCode> {
    check_help_uri_base(&args.sarif)?;
    let max = args.files.max_file_bytes;
    let config = load_config(&args.config, max)?;
    warn_about_config(&config);
    let cluster = connection(&args.kube)?;
    if args.inventory.daemonsets.is_none() && cluster.is_none() {
        bail!(
            "audit judges the DaemonSets already in the cluster: --daemonsets FILE|DIR (the output of `kubectl get daemonsets -A -o yaml`) or --cluster"
        );
    }
    let mut inventory = load_inventory(&args.inventory, cluster.as_ref(), max)?;
    let namespace = listed_namespace(&args.namespaces);
    let (manifests, errors) = match (&cluster, &args.inventory.daemonsets) {
        (_, Some(path)) => {
            load_daemonsets(&args.inventory, &mut inventory, &config, max)?;
            let read = read_manifests(std::slice::from_ref(path), max);
            (read.manifests, read.errors)
        }
        (Some(connection), None) => {
            // The cluster's DaemonSets are each node's daemon overhead too: listed once,
            // every namespace, for both; only those asked for are judged.
            let listed = cluster_daemonsets(connection, None)?;
            let objects: Vec<(String, DaemonSet)> = listed
                .iter()
                .filter_map(|m| Some((m.file.clone(), DaemonSet::from_value(&m.value).ok()?)))
                .collect();
            set_daemon_loads(&objects, &mut inventory, &config);
            (listed, Vec::new())
        }
        (None, None) => unreachable!("checked above"),
    };
    let manifests: Vec<manifests::Manifest> = match namespace {
        Some(namespace) => manifests
            .into_iter()
            .filter(|m| !m.is_daemonset() || manifest_namespace(m) == namespace)
            .collect(),
        None => manifests,
    };
    let sources = inventory_sources(&args.inventory, cluster.is_some());
    let report = lint::lint(&manifests, errors, &inventory, &config, sources);
    ReportOutput::new(args.output, args.color.color, &args.sarif, false)
        .finish(&report, &config)?;
    Ok(ExitCode::from(report.exit_code(args.fail_on_empty)))
}

/// The namespace a manifest is applied to (`default` when it names none).
fn manifest_namespace(manifest: &manifests::Manifest) -> &str {
    manifest
        .value
        .pointer("/metadata/namespace")
        .and_then(serde_json::Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
}

fn review(args: &ReviewArgs) -> Result<ExitCode> {
    let max = args.files.max_file_bytes;
    let config = load_config(&args.config, max)?;
    warn_about_config(&config);
    let cluster = connection(&args.kube)?;
    let mut inventory = load_inventory(&args.inventory, cluster.as_ref(), max)?;
    load_daemonsets(&args.inventory, &mut inventory, &config, max)?;
    let body = dsguard::input::read_stdin(max).context("reading the AdmissionReview from stdin")?;
    let endpoint = match args.webhook {
        WebhookKind::Validate => Endpoint::Validate,
        WebhookKind::Mutate => Endpoint::Mutate,
        WebhookKind::Both => Endpoint::Both,
    };
    // What was not given is skipped and said once, as lint says it; the webhook itself
    // always has an inventory to wait for.
    let sources = inventory_sources(&args.inventory, cluster.is_some());
    for notice in lint::inventory_notices(&inventory, &config, sources) {
        eprintln!("dsguard: note: {notice}");
    }
    let decision = admission::review_offline(&body, endpoint, &inventory, &config)?;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &decision.to_response())?;
    writeln!(stdout)?;
    Ok(if decision.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DENIED)
    })
}

fn coverage(args: &CoverageArgs) -> Result<ExitCode> {
    let max = args.files.max_file_bytes;
    let config = load_config(&args.config, max)?;
    warn_about_config(&config);
    let cluster = connection(&args.kube)?;
    if args.inventory.nodes.is_none() && cluster.is_none() {
        bail!(
            "coverage needs a node inventory: --nodes FILE (the output of `kubectl get nodes -o yaml`) or --cluster"
        );
    }
    if args.paths.is_empty() && cluster.is_none() {
        bail!("coverage needs manifest paths, or --cluster to cover the cluster's DaemonSets");
    }
    let what_if = args
        .what_if_taints
        .iter()
        .map(|text| coverage::WhatIfTaint::parse(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|why| anyhow::anyhow!("--what-if-taint {why}"))?;
    let mut inventory = load_inventory(&args.inventory, cluster.as_ref(), max)?;
    load_daemonsets(&args.inventory, &mut inventory, &config, max)?;
    let (manifests, errors) = match &cluster {
        Some(connection) if args.paths.is_empty() => (
            cluster_daemonsets(connection, listed_namespace(&args.namespaces))?,
            Vec::new(),
        ),
        _ => {
            let read = read_manifests(&args.paths, max);
            (read.manifests, read.errors)
        }
    };
    let tainted = (!what_if.is_empty()).then(|| coverage::with_taints(&inventory, &what_if));
    let mut failed = !errors.is_empty();
    for error in &errors {
        eprintln!("dsguard: {}", lint::printable(&error.to_string()));
    }
    let mut daemonsets = Vec::new();
    for manifest in manifests.iter().filter(|m| m.is_daemonset()) {
        match DaemonSet::from_value(&manifest.value) {
            Ok(object) => daemonsets.push(coverage::cover(
                &object,
                &manifest.file,
                manifest.position.line,
                &inventory,
                &config,
                tainted.as_ref().map(|t| (t, what_if.as_slice())),
            )),
            Err(error) => {
                let at = manifest.position_of(&error.pointer);
                eprintln!(
                    "dsguard: {}",
                    lint::printable(&format!(
                        "{}:{}:{}: {error}",
                        manifest.file, at.line, at.column
                    ))
                );
                failed = true;
            }
        }
    }
    if daemonsets.is_empty() && !failed {
        eprintln!("dsguard: note: no DaemonSet to cover in the input");
    }
    let report = CoverageReport::new(daemonsets, &inventory, &config);
    // Buffered: the standard output is line-buffered, and the report has a line per pool
    // and DaemonSet.
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match args.output {
        CoverageFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
        CoverageFormat::Html => {
            stdout.write_all(coverage::to_html(&report, &inventory, &config).as_bytes())?;
        }
        CoverageFormat::Text => {
            // Names and pool values come from the input: no raw control characters.
            for line in report.to_table(inventory.node_count()).lines() {
                writeln!(stdout, "{}", lint::printable(line))?;
            }
        }
    }
    stdout.flush()?;
    Ok(if failed {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::SUCCESS
    })
}

fn serve(args: &ServeArgs) -> Result<ExitCode> {
    let (_flush_logs_on_exit, dropped_log_lines) = init_logging(args.log_format, args.color.color);
    let max = args.files.max_file_bytes;
    let config = load_config(&args.config, max)?;
    let cluster = connection(&args.kube)?;
    let inventory_files = &args.inventory;
    if cluster.is_some() && inventory_files.daemonsets.is_some() {
        bail!(
            "--daemonsets is a snapshot of fixed nodes; serve --cluster sees nodes change under it. Use --daemonsets with --nodes, or with lint/coverage/review"
        );
    }
    if cluster.is_some() && inventory_files.nodes.is_some() {
        bail!(
            "--nodes is a static snapshot; serve --cluster watches the cluster's nodes. Give one or the other"
        );
    }
    if cluster.is_some() && (inventory_files.pods.is_some() || inventory_files.pdbs.is_some()) {
        bail!(
            "--pods and --pdbs are snapshots; serve --cluster watches the cluster's pods and PodDisruptionBudgets. Give one or the other"
        );
    }
    if inventory_files.nodes.is_none() && cluster.is_none() {
        bail!(
            "serve needs an inventory: --cluster (watch the cluster) or --nodes FILE (a static snapshot, e.g. `kubectl get nodes -o yaml`)"
        );
    }
    let inventory = if cluster.is_some() {
        // Template files given beside --cluster stand in for the template watch.
        let mut inventory = Inventory::new();
        load_templates(inventory_files, &mut inventory, max)?;
        inventory
    } else {
        let mut inventory = load_inventory(inventory_files, None, max)?;
        load_daemonsets(inventory_files, &mut inventory, &config, max)?;
        inventory
    };
    if args.manage_webhooks && cluster.is_none() {
        bail!(
            "--manage-webhooks keeps its certificates in a Secret and registers the webhooks: it needs --cluster"
        );
    }
    let mut managed_certificate = None;
    let certificate = match (&args.tls_cert, &args.tls_key) {
        _ if args.manage_webhooks => {
            let (source, certificate) = CertificateSource::managed()?;
            managed_certificate = Some(certificate);
            source
        }
        (Some(cert), Some(key)) => CertificateSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => CertificateSource::SelfSigned {
            ca_path: args
                .dev_ca
                .clone()
                .unwrap_or_else(server::default_dev_ca_path),
        },
    };
    let duration = |flag: &str, text: &str| {
        parse_duration(text)
            .with_context(|| format!("--{flag} {text:?} is not a duration like 2s or 500ms"))
    };
    let options = ServeOptions {
        listen: args.listen,
        metrics_listen: match args.metrics_listen.as_str() {
            "off" | "" => None,
            address => Some(
                address
                    .parse()
                    .with_context(|| format!("--metrics-listen {address:?} is not an address"))?,
            ),
        },
        certificate,
        client_ca: args.client_ca.clone(),
        config_path: args.config.config.clone(),
        max_body_bytes: args.max_body_bytes,
        reload_interval: duration("reload-interval", &args.reload_interval)?,
        shutdown_grace: duration("shutdown-grace", &args.shutdown_grace)?,
        connections: server::ConnectionLimits {
            max_connections: args.max_connections,
            first_request_timeout: duration("header-timeout", &args.header_timeout)?,
            idle_timeout: duration("idle-timeout", &args.idle_timeout)?,
            probe_idle_timeout: duration("probe-idle-timeout", &args.probe_idle_timeout)?,
            max_concurrent_streams: args.max_concurrent_streams.max(1),
            ..server::ConnectionLimits::default()
        },
        max_file_bytes: max,
    };
    let discovery_interval = duration("discovery-interval", &args.discovery_interval)?;
    // Each pass lists every daemon pod: more often than every 10 s would be dsguard
    // loading the API server for a metric.
    let pod_health_interval = match args.pod_health_interval.as_str() {
        "0" => None,
        text => Some(duration("pod-health-interval", text)?).filter(|d| !d.is_zero()),
    };
    if pod_health_interval.is_some_and(|d| d < Duration::from_secs(10)) {
        bail!("--pod-health-interval must be at least 10s, or 0 to turn the pass off");
    }
    let lease_duration = duration("leader-lease-duration", &args.leader_lease_duration)?;
    if lease_duration < Duration::from_secs(2) {
        bail!(
            "--leader-lease-duration must be at least 2s (the leader renews at two thirds of it)"
        );
    }
    let candidate = Candidate::from_environment(&args.leader_namespace, lease_duration);
    let managed_webhooks = ManagedWebhooks {
        namespace: candidate.namespace.clone(),
        secret: args.tls_secret.clone(),
        service: args.service.clone(),
        serving_validity: duration("cert-validity", &args.cert_validity)?,
    };
    dsguard::certs::validate_dns_name(&managed_webhooks.service)
        .with_context(|| format!("--service {:?}", managed_webhooks.service))?;
    let watch_templates = inventory_files.node_templates.is_none();
    let body_budget = args.max_inflight_body_bytes;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut state = AppState::new(inventory, config, options.max_body_bytes)
            .with_body_budget(body_budget)
            .count_dropped_log_lines(move || dropped_log_lines.dropped_lines());
        state.note_config_warnings(&state.config.load());
        // Resolved before anything listens: a kubeconfig or context that cannot be used
        // stops here, with nothing bound.
        let client = match &cluster {
            Some(connection) => Some(client(&connection.for_watches()).await?),
            None => None,
        };
        if client.is_some() {
            // Ready only once every watcher has completed its first full list.
            state = state.require_synced(Synced {
                nodes: true,
                priority_classes: true,
                limit_ranges: true,
            });
        }
        let state = Arc::new(state);
        let mut leadership = None;
        if let Some(client) = client {
            dsguard::cluster::spawn_watchers(client.clone(), state.clone());
            if watch_templates {
                dsguard::cluster::spawn_template_watchers(
                    client.clone(),
                    state.clone(),
                    discovery_interval,
                );
            }
            let identity = candidate.identity.clone();
            let elected = leader::elect(client.clone(), candidate, state.metrics.leader.clone());
            if let Some(certificate) = managed_certificate {
                tokio::spawn(dsguard::cluster::certificates::manage(
                    client.clone(),
                    managed_webhooks,
                    certificate,
                    state.clone(),
                    elected.leading.clone(),
                ));
            }
            dsguard::cluster::spawn_audit(
                client,
                state.clone(),
                elected.leading.clone(),
                identity,
                discovery_interval,
                pod_health_interval,
            );
            leadership = Some(elected);
        }
        let running = server::start(options, state).await?;
        server::termination_signal().await;
        tracing::info!("SIGTERM: shutting down");
        // The Lease goes first, so another replica takes over the writes at once.
        if let Some(leadership) = leadership {
            leadership.step_down(Duration::from_secs(5)).await;
        }
        running.shutdown().await;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Decision logs go to stderr through a writer thread: a stalled log pipe (a wedged
/// collector) must never stall admission requests, so when the buffer is full lines are
/// dropped, and counted in `dsguard_log_lines_dropped`. The guard flushes on exit.
/// Pretty lines are coloured only on a terminal (`--color`); JSON lines never are.
fn init_logging(
    format: LogFormat,
    color: ColorChoice,
) -> (
    tracing_appender::non_blocking::WorkerGuard,
    tracing_appender::non_blocking::ErrorCounter,
) {
    let ansi = format == LogFormat::Pretty && color.enabled(std::io::stderr().is_terminal());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
        LogFormat::Pretty => builder.init(),
    }
    (guard, dropped)
}

fn certs(args: &CertsArgs) -> Result<ExitCode> {
    let mut names = dsguard::certs::service_names(&args.service, &args.namespace);
    names.extend(args.dns.iter().cloned());
    let generated = dsguard::certs::generate(&args.service, &names, &args.ips)?;
    let out = &args.out;
    let files = ["ca.crt", "ca.key", "tls.crt", "tls.key", "ca-bundle.yaml"];
    let existing: Vec<String> = files
        .iter()
        .map(|name| out.join(name))
        .filter(|path| path.symlink_metadata().is_ok())
        .map(|path| path.display().to_string())
        .collect();
    if !existing.is_empty() && !args.force {
        bail!(
            "{} already exist(s); nothing was written. Replacing them makes a new CA: pass --force, then apply the new ca-bundle.yaml patch with the new Secret (it trusts the old CA too, so requests keep passing while replicas switch), or choose another --out",
            existing.join(", ")
        );
    }
    // A rotation: the patch trusts the CA being replaced as well as the new one, so the
    // API server accepts both certificates while the replicas pick up the new one. Only
    // a regular file is read (a FIFO would block).
    let previous_ca = std::fs::symlink_metadata(out.join("ca.crt"))
        .ok()
        .filter(std::fs::Metadata::is_file)
        .and_then(|_| dsguard::input::read_text_file(&out.join("ca.crt"), 1 << 20).ok())
        .filter(|pem| pem.contains("BEGIN CERTIFICATE") && *pem != generated.ca_cert);
    let bundle = match &previous_ca {
        Some(previous) => format!("{}{previous}", generated.ca_cert),
        None => generated.ca_cert.clone(),
    };
    let patch = dsguard::certs::ca_bundle_patch(&bundle);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // Every target is checked before any is written: a set is replaced whole or not at all.
    for name in files {
        let path = out.join(name);
        if let Some(why) = dsguard::certs::unsafe_to_replace(&path) {
            bail!("{} {why}; nothing was written", path.display());
        }
    }
    for (name, content, mode) in [
        ("ca.crt", &generated.ca_cert, 0o644),
        ("ca.key", &generated.ca_key, 0o600),
        ("tls.crt", &generated.cert, 0o644),
        ("tls.key", &generated.key, 0o600),
        ("ca-bundle.yaml", &patch, 0o644),
    ] {
        let path = out.join(name);
        dsguard::certs::write_file_safely(&path, content.as_bytes(), mode)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("dsguard: wrote {}", path.display());
    }
    if previous_ca.is_some() {
        eprintln!(
            "dsguard: ca-bundle.yaml trusts the previous CA too; apply it together with the new Secret"
        );
    }
    print!("{patch}");
    Ok(ExitCode::SUCCESS)
}

/// `dsguard rules`: every rule and mutation, and dsguard's own notices.
fn rules(args: &RulesArgs) -> Result<ExitCode> {
    let catalogue = lint::rule_catalogue();
    let defaults = Config::default();
    let mut stdout = std::io::stdout().lock();
    match args.output {
        ListFormat::Json => {
            let rules: Vec<serde_json::Value> = catalogue
                .iter()
                .map(|entry| {
                    serde_json::json!({
                        "id": entry.id, "name": entry.name,
                        "default": lint::default_action(entry.id, &defaults),
                        "summary": entry.summary,
                    })
                })
                .collect();
            writeln!(
                stdout,
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"schemaVersion": 1, "rules": rules})
                )?
            )?;
        }
        ListFormat::Text => {
            let width = catalogue.iter().map(|e| e.name.len()).max().unwrap_or(0);
            for entry in &catalogue {
                writeln!(
                    stdout,
                    "{}  {:<width$}  {:<8}  {}",
                    entry.id,
                    entry.name,
                    lint::default_action(entry.id, &defaults),
                    entry.summary
                )?;
            }
            writeln!(stdout, "\n`dsguard explain ID` prints a rule's page.")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `dsguard explain DSGnnn`: the rule's page, as docs/rules holds it.
fn explain(args: &ExplainArgs) -> Result<ExitCode> {
    let catalogue = lint::rule_catalogue();
    let wanted = args.rule.trim();
    let Some(entry) = catalogue
        .iter()
        .find(|e| e.id.eq_ignore_ascii_case(wanted) || e.name == wanted)
    else {
        let known: Vec<&str> = catalogue.iter().map(|e| e.id).collect();
        bail!(
            "{wanted:?} is not a rule; the rules are {} (`dsguard rules` lists them)",
            known.join(", ")
        );
    };
    let page = lint::rule_page(entry.id).expect("every catalogued rule has a page");
    print!("{page}");
    Ok(ExitCode::SUCCESS)
}

fn completion(args: &CompletionArgs) -> Result<ExitCode> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "dsguard", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// `dsguard man DIR`: `dsguard.1`, and `dsguard-COMMAND.1` for each command.
fn man(args: &ManArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let command = Cli::command();
    clap_mangen::generate_to(command, &args.dir)
        .with_context(|| format!("writing man pages into {}", args.dir.display()))?;
    eprintln!("dsguard: wrote man pages into {}", args.dir.display());
    Ok(ExitCode::SUCCESS)
}
