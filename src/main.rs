//! The `dsguard` binary: parses the command line, loads config and inventory files, and
//! dispatches to the adapters. The only place errors become exit codes.
#![forbid(unsafe_code)]

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::Parser;

use dsguard::admission::{self, Endpoint};
use dsguard::cli::{Cli, Command, LogFormat, OutputFormat, ServeArgs, WebhookKind};
use dsguard::config::Config;
use dsguard::coverage::{self, CoverageReport};
use dsguard::inventory::{Inventory, Synced, snapshot};
use dsguard::policy::DaemonSet;
use dsguard::scheduling::TemplateKind;
use dsguard::server::{self, AppState, CertificateSource, ServeOptions, parse_duration};
use dsguard::{lint, manifests};
use std::sync::Arc;
use std::time::Duration;

use dsguard::cluster::certificates::ManagedWebhooks;
use dsguard::cluster::leader::{self, Candidate};

/// Exit codes shared by every command (README "Commands").
const EXIT_DENIED: u8 = 1;
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("dsguard: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode> {
    if let Some(base) = &cli.help_uri_base
        && !(base.starts_with("https://") || base.starts_with("http://"))
    {
        bail!(
            "--help-uri-base {base:?} is not an http(s) URL; give where the docs are published, e.g. https://github.com/ORG/dsguard/blob/v0.1.0"
        );
    }
    let config = match &cli.config {
        Some(path) => Config::load(path, cli.max_file_bytes)?,
        None => Config::default(),
    };
    if let Command::Serve(args) = &cli.command {
        return serve(cli, args, config);
    }
    // One-shot commands: the library's warnings (a special file skipped in a snapshot
    // folder, a list that had to be retried) go to stderr, plainly.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .without_time()
        .with_target(false)
        .init();
    let mut inventory = load_inventory(cli)?;
    load_daemonsets(cli, &mut inventory, &config)?;
    // `audit --cluster` judges the cluster's DaemonSets, which are each node's daemon
    // overhead too: listed once, for both.
    let cluster_daemonsets =
        if matches!(cli.command, Command::Audit) && cli.daemonsets.is_none() && cli.cluster {
            let listed = cluster_daemonsets()?;
            let objects: Vec<(String, DaemonSet)> = listed
                .iter()
                .filter_map(|m| Some((m.file.clone(), DaemonSet::from_value(&m.value).ok()?)))
                .collect();
            set_daemon_loads(&objects, &mut inventory, &config);
            Some(listed)
        } else {
            None
        };
    match &cli.command {
        Command::Review { webhook } => review(*webhook, cli.max_file_bytes, &inventory, &config),
        Command::Serve(_) => unreachable!("serve returned above"),
        Command::Certs {
            service,
            namespace,
            ips,
            dns,
            force,
            out,
        } => certs(service, namespace, ips, dns, out, *force),
        Command::Lint {
            paths,
            show_patch,
            fix,
            out,
        } => lint(
            cli,
            paths,
            *show_patch,
            *fix,
            out.as_deref(),
            &inventory,
            &config,
        ),
        Command::Audit => {
            if cli.daemonsets.is_none() && !cli.cluster {
                bail!(
                    "audit judges the DaemonSets already in the cluster: --daemonsets FILE|DIR (the output of `kubectl get daemonsets -A -o yaml`) or --cluster"
                );
            }
            audit(cli, cluster_daemonsets, &inventory, &config)
        }
        Command::Coverage {
            paths,
            what_if_taints,
        } => {
            if cli.nodes.is_none() && !cli.cluster {
                bail!(
                    "coverage needs a node inventory: --nodes FILE (the output of `kubectl get nodes -o yaml`) or --cluster"
                );
            }
            if paths.is_empty() && !cli.cluster {
                bail!(
                    "coverage needs manifest paths, or --cluster to cover the cluster's DaemonSets"
                );
            }
            let what_if = what_if_taints
                .iter()
                .map(|text| coverage::WhatIfTaint::parse(text))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|why| anyhow::anyhow!("--what-if-taint {why}"))?;
            coverage(paths, cli, &inventory, &config, &what_if)
        }
    }
}

fn serve(cli: &Cli, args: &ServeArgs, config: Config) -> Result<ExitCode> {
    let (_flush_logs_on_exit, dropped_log_lines) = init_logging(args.log_format);
    if cli.cluster && cli.daemonsets.is_some() {
        bail!(
            "--daemonsets is a snapshot of fixed nodes; serve --cluster sees nodes change under it. Use --daemonsets with --nodes, or with lint/coverage/review"
        );
    }
    if cli.nodes.is_none() && !cli.cluster {
        bail!(
            "serve needs an inventory: --cluster (watch the cluster) or --nodes FILE (a static snapshot, e.g. `kubectl get nodes -o yaml`)"
        );
    }
    let inventory = if cli.cluster {
        // Template files given beside --cluster stand in for the template watch.
        let mut inventory = Inventory::new();
        load_templates(cli, &mut inventory)?;
        inventory
    } else {
        let mut inventory = load_inventory(cli)?;
        load_daemonsets(cli, &mut inventory, &config)?;
        inventory
    };
    if args.manage_webhooks && !cli.cluster {
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
                .unwrap_or_else(|| std::env::temp_dir().join("dsguard-dev").join("ca.crt")),
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
        config_path: cli.config.clone(),
        max_body_bytes: args.max_body_bytes,
        reload_interval: duration("reload-interval", &args.reload_interval)?,
        shutdown_grace: duration("shutdown-grace", &args.shutdown_grace)?,
        connections: server::ConnectionLimits {
            max_connections: args.max_connections,
            first_request_timeout: duration("header-timeout", &args.header_timeout)?,
            idle_timeout: duration("idle-timeout", &args.idle_timeout)?,
            ..server::ConnectionLimits::default()
        },
        max_file_bytes: cli.max_file_bytes,
    };
    let discovery_interval = duration("discovery-interval", &args.discovery_interval)?;
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
    let watch_templates = cli.node_templates.is_none();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let cluster = cli.cluster;
    runtime.block_on(async move {
        let mut state = AppState::new(inventory, config, options.max_body_bytes)
            .count_dropped_log_lines(move || dropped_log_lines.dropped_lines());
        if cluster {
            // Ready only once every watcher has completed its first full list.
            state = state.require_synced(Synced {
                nodes: true,
                priority_classes: true,
                limit_ranges: true,
            });
        }
        let state = Arc::new(state);
        let mut leadership = None;
        if cluster {
            let client = dsguard::cluster::client().await?;
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
fn init_logging(
    format: LogFormat,
) -> (
    tracing_appender::non_blocking::WorkerGuard,
    tracing_appender::non_blocking::ErrorCounter,
) {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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

fn certs(
    service: &str,
    namespace: &str,
    ips: &[std::net::IpAddr],
    dns: &[String],
    out: &std::path::Path,
    force: bool,
) -> Result<ExitCode> {
    let mut names = dsguard::certs::service_names(service, namespace);
    names.extend(dns.iter().cloned());
    let generated = dsguard::certs::generate(service, &names, ips)?;
    let files = ["ca.crt", "ca.key", "tls.crt", "tls.key", "ca-bundle.yaml"];
    let existing: Vec<String> = files
        .iter()
        .map(|name| out.join(name))
        .filter(|path| path.symlink_metadata().is_ok())
        .map(|path| path.display().to_string())
        .collect();
    if !existing.is_empty() && !force {
        bail!(
            "{} already exist(s); nothing was written. Replacing them makes a new CA: pass --force, then apply the new ca-bundle.yaml patch with the new Secret (it trusts the old CA too, so requests keep passing while replicas switch), or choose another --out",
            existing.join(", ")
        );
    }
    // A rotation: the patch trusts the CA being replaced as well as the new one, so the
    // API server accepts both certificates while the replicas pick up the new one.
    let previous_ca = std::fs::read_to_string(out.join("ca.crt"))
        .ok()
        .filter(|pem| pem.contains("BEGIN CERTIFICATE") && *pem != generated.ca_cert);
    let bundle = match &previous_ca {
        Some(previous) => format!("{}{previous}", generated.ca_cert),
        None => generated.ca_cert.clone(),
    };
    let patch = dsguard::certs::ca_bundle_patch(&bundle);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, content, private) in [
        ("ca.crt", &generated.ca_cert, false),
        ("ca.key", &generated.ca_key, true),
        ("tls.crt", &generated.cert, false),
        ("tls.key", &generated.key, true),
        ("ca-bundle.yaml", &patch, false),
    ] {
        let path = out.join(name);
        write_file(&path, content, private)
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

/// Writes a file; private keys are readable by their owner only.
fn write_file(path: &std::path::Path, content: &str, private: bool) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if private {
        options.mode(0o600);
    }
    options.open(path)?.write_all(content.as_bytes())
}

fn load_inventory(cli: &Cli) -> Result<Inventory> {
    if cli.cluster {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut inventory = runtime.block_on(async {
            let client = dsguard::cluster::client().await?;
            dsguard::cluster::list_inventory(&client).await
        })?;
        // Files given beside --cluster override the listed view of their kind.
        if let Some(path) = &cli.priorityclasses {
            inventory
                .reset_priority_classes(snapshot::load_priority_classes(path, cli.max_file_bytes)?);
        }
        if let Some(path) = &cli.limitranges {
            inventory.reset_limit_ranges(snapshot::load_limit_ranges(path, cli.max_file_bytes)?);
        }
        load_templates(cli, &mut inventory)?;
        return Ok(inventory);
    }
    let mut inventory = Inventory::new();
    if let Some(path) = &cli.nodes {
        inventory.reset_nodes(snapshot::load_nodes(path, cli.max_file_bytes)?);
    }
    if let Some(path) = &cli.priorityclasses {
        inventory
            .reset_priority_classes(snapshot::load_priority_classes(path, cli.max_file_bytes)?);
    }
    if let Some(path) = &cli.limitranges {
        inventory.reset_limit_ranges(snapshot::load_limit_ranges(path, cli.max_file_bytes)?);
    }
    load_templates(cli, &mut inventory)?;
    Ok(inventory)
}

/// `--daemonsets`: every DaemonSet's footprint on the loaded nodes, judged with the same
/// placement and request code as the rules (namespace `default` when a manifest has none).
fn load_daemonsets(cli: &Cli, inventory: &mut Inventory, config: &Config) -> Result<()> {
    let Some(path) = &cli.daemonsets else {
        return Ok(());
    };
    let (manifests, errors) = read_manifests(std::slice::from_ref(path), cli);
    if let Some(error) = errors.first() {
        bail!("--daemonsets: {error}");
    }
    if !manifests.iter().any(|m| m.is_daemonset()) {
        bail!(
            "--daemonsets {}: holds no DaemonSet; expected the output of `kubectl get daemonsets -A -o yaml` or DaemonSet manifests",
            path.display()
        );
    }
    let mut objects = Vec::new();
    for manifest in manifests.iter().filter(|m| m.is_daemonset()) {
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
/// path).
fn cluster_daemonsets() -> Result<Vec<manifests::Manifest>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(async {
        let client = dsguard::cluster::client().await?;
        dsguard::cluster::list_daemonsets(&client).await
    })?)
}

/// Each DaemonSet's footprint (with the file it came from) on the loaded nodes, judged
/// with the same placement and request code as the rules; one whose resources cannot be
/// read is left out with a note.
fn set_daemon_loads(objects: &[(String, DaemonSet)], inventory: &mut Inventory, config: &Config) {
    let mut loads = Vec::new();
    for (file, object) in objects {
        let namespace = object.namespace_or_default().to_owned();
        let context = dsguard::policy::Context::offline(inventory, config, &namespace);
        match dsguard::policy::daemon_load(object, &context) {
            Some(load) => loads.push(load),
            None => eprintln!(
                "dsguard: note: {}: {namespace}/{}: resources unreadable, not counted as daemon overhead",
                lint::printable(file),
                lint::printable(object.name())
            ),
        }
    }
    inventory.set_daemon_loads(Some(loads));
}

/// `--node-templates`: replaces whatever templates were listed from the cluster, like the
/// other files given beside `--cluster`; what was left out is said on stderr.
fn load_templates(cli: &Cli, inventory: &mut Inventory) -> Result<()> {
    let Some(path) = &cli.node_templates else {
        return Ok(());
    };
    let loaded = snapshot::load_templates(path, cli.max_file_bytes)?;
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
/// files and link loops skipped) go to stderr.
fn read_manifests(
    paths: &[std::path::PathBuf],
    cli: &Cli,
) -> (Vec<manifests::Manifest>, Vec<manifests::ManifestError>) {
    let read = manifests::read_paths(paths, cli.max_file_bytes);
    for notice in &read.notices {
        eprintln!("dsguard: note: {}", lint::printable(notice));
    }
    (read.manifests, read.errors)
}

fn lint(
    cli: &Cli,
    paths: &[std::path::PathBuf],
    show_patch: bool,
    fix: bool,
    out: Option<&std::path::Path>,
    inventory: &Inventory,
    config: &Config,
) -> Result<ExitCode> {
    if fix && out.is_none() && paths.iter().any(|p| p.as_os_str() == "-") {
        bail!("--fix cannot rewrite stdin; use --show-patch, or --fix with files");
    }
    let (manifests, errors) = read_manifests(paths, cli);
    let sources = inventory_sources(cli);
    let report = lint::lint(&manifests, errors, inventory, config, sources);
    write_lint_report(cli, &report, config, show_patch)?;
    if fix {
        let outcome = lint::fix_files(&report, &manifests, out);
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
    Ok(ExitCode::from(report.exit_code()))
}

/// Which inventory parts the flags give (for lint's run-wide notes).
fn inventory_sources(cli: &Cli) -> lint::InventorySources {
    lint::InventorySources {
        nodes: cli.nodes.is_some() || cli.cluster,
        priority_classes: cli.priorityclasses.is_some() || cli.cluster,
        limit_ranges: cli.limitranges.is_some() || cli.cluster,
    }
}

/// The report of `lint` and `audit`, in the format asked for.
fn write_lint_report(
    cli: &Cli,
    report: &lint::LintReport,
    config: &Config,
    show_patch: bool,
) -> Result<()> {
    for notice in &report.notices {
        eprintln!("dsguard: note: {}", lint::printable(notice));
    }
    let mut stdout = std::io::stdout().lock();
    match cli.output.unwrap_or(OutputFormat::Text) {
        OutputFormat::Text | OutputFormat::Table => {
            let color = std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb");
            write!(
                stdout,
                "{}",
                lint::to_text(report, lint::TextOptions { color, show_patch })
            )?;
        }
        OutputFormat::Json => writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&lint::to_json(report))?
        )?,
        OutputFormat::Sarif => writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&lint::to_sarif(
                report,
                config,
                cli.help_uri_base.as_deref()
            ))?
        )?,
        OutputFormat::Junit => write!(stdout, "{}", lint::to_junit(report))?,
        OutputFormat::Github => write!(stdout, "{}", lint::to_github(report))?,
    }
    Ok(())
}

/// `dsguard audit`: the DaemonSets already in the cluster (`--daemonsets` files, or listed
/// with `--cluster`), judged as `lint` judges manifests.
fn audit(
    cli: &Cli,
    listed: Option<Vec<manifests::Manifest>>,
    inventory: &Inventory,
    config: &Config,
) -> Result<ExitCode> {
    let (manifests, errors) = match (listed, &cli.daemonsets) {
        (Some(listed), _) => (listed, Vec::new()),
        (None, Some(path)) => read_manifests(std::slice::from_ref(path), cli),
        (None, None) => bail!("audit needs --daemonsets FILE|DIR or --cluster"),
    };
    let sources = inventory_sources(cli);
    let report = lint::lint(&manifests, errors, inventory, config, sources);
    write_lint_report(cli, &report, config, false)?;
    Ok(ExitCode::from(report.exit_code()))
}

fn review(
    webhook: WebhookKind,
    max_file_bytes: u64,
    inventory: &Inventory,
    config: &Config,
) -> Result<ExitCode> {
    let body = dsguard::input::read_stdin(max_file_bytes)
        .context("reading the AdmissionReview from stdin")?;
    let endpoint = match webhook {
        WebhookKind::Validate => Endpoint::Validate,
        WebhookKind::Mutate => Endpoint::Mutate,
        WebhookKind::Both => Endpoint::Both,
    };
    let decision = admission::review(&body, endpoint, inventory, config)?;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &decision.to_response())?;
    writeln!(stdout)?;
    Ok(if decision.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DENIED)
    })
}

fn coverage(
    paths: &[std::path::PathBuf],
    cli: &Cli,
    inventory: &Inventory,
    config: &Config,
    what_if: &[coverage::WhatIfTaint],
) -> Result<ExitCode> {
    let output = cli.output;
    let (manifests, errors) = if paths.is_empty() {
        (cluster_daemonsets()?, Vec::new())
    } else {
        read_manifests(paths, cli)
    };
    let tainted = (!what_if.is_empty()).then(|| coverage::with_taints(inventory, what_if));
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
                inventory,
                config,
                tainted.as_ref().map(|t| (t, what_if)),
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
    let report = CoverageReport::new(daemonsets, inventory, config);
    let mut stdout = std::io::stdout().lock();
    match output.unwrap_or(OutputFormat::Table) {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
        OutputFormat::Table | OutputFormat::Text => {
            // Names and pool values come from the input: no raw control characters.
            for line in report.to_table(inventory.node_count()).lines() {
                writeln!(stdout, "{}", lint::printable(line))?;
            }
        }
        OutputFormat::Sarif | OutputFormat::Junit | OutputFormat::Github => {
            bail!("coverage writes -o table or -o json")
        }
    }
    Ok(if failed {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::SUCCESS
    })
}
