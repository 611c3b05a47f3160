//! `dsguard lint`: the CI dry-run. Reads manifests, runs exactly what the webhook runs
//! (the mutation, then the validation of the mutated object) through the same
//! [`policy::evaluate`], and reports every finding at the `file:line:col` of the field it
//! is about, as text, JSON, SARIF, JUnit or GitHub Actions annotations. Exit codes: 0 clean or warnings only, 1 a
//! denial, 2 unreadable input (after everything readable was still linted).

mod fix;
mod github;
mod json;
mod junit;
mod sarif;
mod stream;
mod text;

use serde_json::Value;

use crate::config::Config;
use crate::inventory::Inventory;
use crate::manifests::{Manifest, ManifestError, REMOVED_DAEMONSET_APIS};
use crate::policy::{self, Context, DaemonSet, Rule, Severity};
use crate::yaml::{Position, escape_pointer};

pub use fix::{FixOutcome, Patched, fix_files};
pub use github::{github_commands, github_summary, to_github};
pub use json::{JsonReport, to_json};
pub use junit::to_junit;
pub use sarif::to_sarif;
pub use stream::{StreamOptions, Streamed, lint_paths};
pub use text::{TextOptions, TextWriter, printable, to_text};

/// A reported problem, placed in its file. Exemptions and notes about the object, which
/// no rule produces, carry [`DSG000`] ("exemption").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocatedFinding {
    pub rule_id: &'static str,
    pub rule_name: &'static str,
    pub severity: Severity,
    pub pointer: String,
    pub position: Position,
    pub message: String,
}

/// The rule ID dsguard's own notices about an object carry (exemptions used, a malformed
/// exemption annotation).
pub const DSG000: (&str, &str) = ("DSG000", "exemption");

/// One DaemonSet, linted.
#[derive(Clone, Debug)]
pub struct LintedDaemonSet {
    pub file: String,
    pub position: Position,
    pub namespace: String,
    pub name: String,
    pub findings: Vec<LocatedFinding>,
    pub patch: Vec<Value>,
}

impl LintedDaemonSet {
    pub fn denied(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Deny)
    }

    pub fn warned(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Warn)
    }
}

/// Everything one lint run found. A streamed run that writes its report as it goes
/// (text, GitHub annotations) moves what it wrote into `written`, so only counts are kept
/// of it.
#[derive(Debug, Default)]
pub struct LintReport {
    pub daemonsets: Vec<LintedDaemonSet>,
    /// Files and documents that could not be read or decoded.
    pub errors: Vec<ManifestError>,
    /// Run-wide notes (a rule skipped for want of an inventory), said once.
    pub notices: Vec<String>,
    /// What was already written out and dropped.
    pub written: Totals,
}

/// What a report (or the part of it already written) counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub daemonsets: usize,
    pub denied: usize,
    /// Warned and not denied.
    pub warned: usize,
    pub deny_findings: usize,
    pub warn_findings: usize,
    pub info_findings: usize,
    pub patched: usize,
    pub errors: usize,
}

impl std::ops::Add for Totals {
    type Output = Totals;

    fn add(self, other: Totals) -> Totals {
        Totals {
            daemonsets: self.daemonsets + other.daemonsets,
            denied: self.denied + other.denied,
            warned: self.warned + other.warned,
            deny_findings: self.deny_findings + other.deny_findings,
            warn_findings: self.warn_findings + other.warn_findings,
            info_findings: self.info_findings + other.info_findings,
            patched: self.patched + other.patched,
            errors: self.errors + other.errors,
        }
    }
}

impl LintReport {
    /// The counts of the whole run: what is held and what was written already.
    pub fn totals(&self) -> Totals {
        let mut held = Totals {
            daemonsets: self.daemonsets.len(),
            errors: self.errors.len(),
            ..Totals::default()
        };
        for daemonset in &self.daemonsets {
            held.denied += usize::from(daemonset.denied());
            held.warned += usize::from(!daemonset.denied() && daemonset.warned());
            held.patched += usize::from(!daemonset.patch.is_empty());
            for finding in &daemonset.findings {
                match finding.severity {
                    Severity::Deny => held.deny_findings += 1,
                    Severity::Warn => held.warn_findings += 1,
                    Severity::Info => held.info_findings += 1,
                }
            }
        }
        held + self.written
    }

    /// Moves what is held into the written counts (after it was written out).
    pub fn forget_written(&mut self) {
        self.written = self.totals();
        self.daemonsets.clear();
        self.errors.clear();
    }

    pub fn denied(&self) -> usize {
        self.totals().denied
    }

    pub fn warned(&self) -> usize {
        self.totals().warned
    }

    /// 2 for unreadable input (or, with `fail_on_empty`, no DaemonSet at all), else 1 for
    /// a denial, else 0 (README "Commands").
    pub fn exit_code(&self, fail_on_empty: bool) -> u8 {
        let totals = self.totals();
        if totals.errors > 0 || (fail_on_empty && totals.daemonsets == 0) {
            2
        } else if totals.denied > 0 {
            1
        } else {
            0
        }
    }
}

/// What the inventory holds, for the run-wide notices.
#[derive(Clone, Copy, Debug, Default)]
pub struct InventorySources {
    pub nodes: bool,
    pub priority_classes: bool,
    pub limit_ranges: bool,
}

/// The run-wide notes on what the inventory lacks: each rule that was skipped for want of
/// an inventory part, said once (lint, audit and review say the same).
pub fn inventory_notices(
    inventory: &Inventory,
    config: &Config,
    sources: InventorySources,
) -> Vec<String> {
    let mut notices = Vec::new();
    if !sources.nodes {
        notices.push("no node inventory (--nodes or --cluster): DSG001 selector-matches-no-node, DSG002 untolerated-taints and DSG005 requests-exceed-allocatable were not evaluated".into());
    } else if inventory.node_count() == 0 {
        notices.push(
            "the node inventory holds no node: DSG001, DSG002 and DSG005 were not evaluated".into(),
        );
    }
    if sources.nodes
        && inventory.occupancy().is_none()
        && config.rules.no_room_beside_running_pods.action != crate::config::Action::Off
    {
        notices.push("no pods (--pods or --cluster): DSG007 no-room-beside-running-pods was not evaluated (nothing is known about what already runs on the nodes)".into());
    }
    if !sources.priority_classes {
        notices.push("no PriorityClass inventory (--priorityclasses or --cluster): DSG004 was not evaluated and DSG101 injects only the built-in system classes".into());
    }
    if !sources.limit_ranges && config.rules.missing_resource_limits.honor_limit_range {
        notices.push("no LimitRange inventory (--limitranges or --cluster): DSG003 counts only limits written in the manifests".into());
    }
    notices
}

/// Lints the DaemonSets among `manifests`; other kinds are skipped (the manifest reader
/// said so where it matters), and a run with no DaemonSet at all says so.
pub fn lint(
    manifests: &[Manifest],
    read_errors: Vec<ManifestError>,
    inventory: &Inventory,
    config: &Config,
    sources: InventorySources,
) -> LintReport {
    let mut report = LintReport {
        errors: read_errors,
        notices: inventory_notices(inventory, config, sources),
        ..LintReport::default()
    };
    let daemonsets: Vec<&Manifest> = manifests.iter().filter(|m| judged(m)).collect();
    if daemonsets.is_empty() && report.errors.is_empty() {
        report.notices.push(EMPTY_INPUT_NOTICE.into());
    }
    // Each DaemonSet is judged alone, so large runs use every core; order is kept.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let outcomes: Vec<Result<LintedDaemonSet, ManifestError>> =
        if threads < 2 || daemonsets.len() < PARALLEL_MIN {
            daemonsets
                .iter()
                .map(|m| lint_manifest(m, inventory, config))
                .collect()
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = daemonsets
                    .chunks(daemonsets.len().div_ceil(threads))
                    .map(|group| {
                        scope.spawn(move || {
                            group
                                .iter()
                                .map(|m| lint_manifest(m, inventory, config))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().expect("a lint thread does not panic"))
                    .collect()
            })
        };
    for outcome in outcomes {
        match outcome {
            Ok(linted) => report.daemonsets.push(linted),
            Err(error) => report.errors.push(error),
        }
    }
    report
}

/// What a run that judged no DaemonSet says.
const EMPTY_INPUT_NOTICE: &str =
    "no DaemonSet in the input: nothing was judged (--fail-on-empty makes this exit 2)";

/// Whether `lint` judges a manifest: an `apps/v1` DaemonSet, or one under an API version
/// the API server has removed (judged as `apps/v1` would be, with DSG901).
fn judged(manifest: &Manifest) -> bool {
    manifest.is_daemonset()
        && (manifest.api_version() == "apps/v1"
            || REMOVED_DAEMONSET_APIS.contains(&manifest.api_version()))
}

/// Below this many DaemonSets one thread lints them all.
const PARALLEL_MIN: usize = 64;

fn lint_manifest(
    manifest: &Manifest,
    inventory: &Inventory,
    config: &Config,
) -> Result<LintedDaemonSet, ManifestError> {
    let object = DaemonSet::from_value(&manifest.value).map_err(|error| ManifestError {
        file: manifest.file.clone(),
        position: manifest.position_of(&error.pointer),
        message: format!("not a valid DaemonSet: {error}"),
    })?;
    Ok(lint_one(manifest, &object, inventory, config))
}

/// One DaemonSet through the engine, exactly as the webhook chain would judge it.
pub fn lint_one(
    manifest: &Manifest,
    object: &DaemonSet,
    inventory: &Inventory,
    config: &Config,
) -> LintedDaemonSet {
    let namespace = object.namespace_or_default().to_owned();
    let context = Context::offline(inventory, config, &namespace);
    let verdict = policy::evaluate(object, &context);
    let mut findings: Vec<LocatedFinding> = verdict
        .findings
        .iter()
        .map(|f| LocatedFinding {
            rule_id: f.rule.id(),
            rule_name: f.rule.name(),
            severity: f.severity,
            pointer: f.pointer.clone(),
            position: manifest.position_of(&f.pointer),
            message: f.message.clone(),
        })
        .collect();
    let exempt_pointer = format!(
        "/metadata/annotations/{}",
        escape_pointer("dsguard.io/exempt")
    );
    for exemption in &verdict.exemptions {
        let (rule_id, rule_name) = match exemption.rules.as_slice() {
            [rule] => (rule.id(), rule.name()),
            _ => DSG000,
        };
        let pointer = if exemption.rules.len() == 1 {
            exempt_pointer.clone()
        } else {
            "/metadata".into()
        };
        findings.push(LocatedFinding {
            rule_id,
            rule_name,
            severity: Severity::Warn,
            position: manifest.position_of(&pointer),
            pointer,
            message: exemption.message.clone(),
        });
    }
    if let Some(message) = removed_api_message(manifest.api_version()) {
        findings.push(LocatedFinding {
            rule_id: DSG901.0,
            rule_name: DSG901.1,
            severity: Severity::Deny,
            pointer: "/apiVersion".into(),
            position: manifest.position_of("/apiVersion"),
            message,
        });
    }
    for note in &verdict.notes {
        findings.push(LocatedFinding {
            rule_id: DSG000.0,
            rule_name: DSG000.1,
            severity: Severity::Warn,
            position: manifest.position_of(&exempt_pointer),
            pointer: exempt_pointer.clone(),
            message: note.clone(),
        });
    }
    findings.sort_by(|a, b| {
        a.position
            .cmp(&b.position)
            .then(b.severity.cmp(&a.severity))
    });
    LintedDaemonSet {
        file: manifest.file.clone(),
        position: manifest.position,
        namespace,
        name: object.name().to_owned(),
        findings,
        patch: verdict.patch,
    }
}

/// Why the API server refuses a DaemonSet of `api_version`, and what to write; `None`
/// for `apps/v1`.
fn removed_api_message(api_version: &str) -> Option<String> {
    match api_version {
        "extensions/v1beta1" | "apps/v1beta2" => Some(format!(
            "apiVersion {api_version} no longer serves DaemonSets (removed in Kubernetes 1.16): the API server refuses it with `no matches for kind \"DaemonSet\" in version \"{api_version}\"`. Write `apiVersion: apps/v1`, with a `spec.selector` matching the template's labels (apps/v1 requires it and never changes it after creation); judged below as apps/v1 would judge it"
        )),
        "apps/v1beta1" => Some(
            "apiVersion apps/v1beta1 never served DaemonSets: the API server refuses it with `no matches for kind \"DaemonSet\" in version \"apps/v1beta1\"`. Write `apiVersion: apps/v1`, with a `spec.selector` matching the template's labels; judged below as apps/v1 would judge it".to_owned(),
        ),
        _ => None,
    }
}

/// The rule ID of a document that cannot be read or is not a DaemonSet the rules can
/// read (SARIF and JUnit report it; text and JSON list it as an error).
pub const DSG900: (&str, &str) = ("DSG900", "unreadable-manifest");

/// The rule ID of a DaemonSet under an API version the API server refuses.
pub const DSG901: (&str, &str) = ("DSG901", "removed-api-version");

/// The page of docs/rules that explains a rule (`DSG000` for dsguard's own notes), for
/// reports that carry help text and `dsguard explain`.
pub fn rule_page(id: &str) -> Option<&'static str> {
    Some(match id {
        "DSG000" => include_str!("../../docs/rules/DSG000.md"),
        "DSG001" => include_str!("../../docs/rules/DSG001.md"),
        "DSG002" => include_str!("../../docs/rules/DSG002.md"),
        "DSG003" => include_str!("../../docs/rules/DSG003.md"),
        "DSG004" => include_str!("../../docs/rules/DSG004.md"),
        "DSG005" => include_str!("../../docs/rules/DSG005.md"),
        "DSG006" => include_str!("../../docs/rules/DSG006.md"),
        "DSG007" => include_str!("../../docs/rules/DSG007.md"),
        "DSG101" => include_str!("../../docs/rules/DSG101.md"),
        "DSG102" => include_str!("../../docs/rules/DSG102.md"),
        "DSG900" => include_str!("../../docs/rules/DSG900.md"),
        "DSG901" => include_str!("../../docs/rules/DSG901.md"),
        _ => return None,
    })
}

/// One entry of the rule catalogue: every rule and mutation, and dsguard's own notices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleEntry {
    pub id: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
}

/// Every rule and mutation, then dsguard's own IDs, in ID order within each.
pub fn rule_catalogue() -> Vec<RuleEntry> {
    Rule::ALL
        .iter()
        .map(|r| RuleEntry {
            id: r.id(),
            name: r.name(),
            summary: r.summary(),
        })
        .chain([
            RuleEntry {
                id: DSG000.0,
                name: DSG000.1,
                summary: "An exemption was used, or an exemption annotation is malformed.",
            },
            RuleEntry {
                id: DSG900.0,
                name: DSG900.1,
                summary: "A manifest document could not be parsed or is not a valid DaemonSet.",
            },
            RuleEntry {
                id: DSG901.0,
                name: DSG901.1,
                summary: "A DaemonSet under an API version the API server no longer serves (extensions/v1beta1, apps/v1beta2): it is refused.",
            },
        ])
        .collect()
}

/// What a rule does under `config` (`deny`, `warn`, `off`; `mutation` for DSG101/102,
/// `on`/`off` by their `enabled`; `deny`/`warn` for dsguard's own IDs), for `rules` and
/// SARIF's default levels.
pub fn default_action(id: &str, config: &Config) -> &'static str {
    use crate::config::Action;
    let rules = &config.rules;
    let action = |action: Action| match action {
        Action::Deny => "deny",
        Action::Warn => "warn",
        Action::Off => "off",
    };
    let mutation = |enabled: bool| if enabled { "on" } else { "off" };
    match Rule::parse(id) {
        Some(Rule::SelectorMatchesNoNode) => action(rules.selector_matches_no_node.action),
        Some(Rule::UntoleratedTaints) => action(rules.untolerated_taints.action),
        Some(Rule::MissingResourceLimits) => action(rules.missing_resource_limits.action),
        Some(Rule::UnknownPriorityClass) => action(rules.unknown_priority_class.action),
        Some(Rule::RequestsExceedAllocatable) => action(rules.requests_exceed_allocatable.action),
        Some(Rule::SurgeWithHostPort) => action(rules.surge_with_host_port.action),
        Some(Rule::NoRoomBesideRunningPods) => action(rules.no_room_beside_running_pods.action),
        Some(Rule::DefaultPriorityClass) => {
            mutation(config.mutations.default_priority_class.enabled)
        }
        Some(Rule::DefaultTolerations) => mutation(config.mutations.default_tolerations.enabled),
        None if id == DSG000.0 => "warn",
        None => "deny",
    }
}
