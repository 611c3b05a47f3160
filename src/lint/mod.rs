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
mod text;

use serde_json::Value;

use crate::config::Config;
use crate::inventory::Inventory;
use crate::manifests::{Manifest, ManifestError};
use crate::policy::{self, Context, DaemonSet, Rule, Severity, Verdict};
use crate::yaml::{Position, escape_pointer};

pub use fix::{FixOutcome, fix_files};
pub use github::to_github;
pub use json::to_json;
pub use junit::to_junit;
pub use sarif::to_sarif;
pub use text::{TextOptions, printable, to_text};

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
    pub verdict: Verdict,
}

impl LintedDaemonSet {
    pub fn denied(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Deny)
    }

    pub fn warned(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Warn)
    }
}

/// Everything one lint run found.
#[derive(Debug, Default)]
pub struct LintReport {
    pub daemonsets: Vec<LintedDaemonSet>,
    /// Files and documents that could not be read or decoded.
    pub errors: Vec<ManifestError>,
    /// Run-wide notes (a rule skipped for want of an inventory), said once.
    pub notices: Vec<String>,
}

impl LintReport {
    pub fn denied(&self) -> usize {
        self.daemonsets.iter().filter(|d| d.denied()).count()
    }

    pub fn warned(&self) -> usize {
        self.daemonsets
            .iter()
            .filter(|d| !d.denied() && d.warned())
            .count()
    }

    /// 2 for unreadable input, else 1 for a denial, else 0 (README "Commands").
    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            2
        } else if self.denied() > 0 {
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

/// Lints the DaemonSets among `manifests` (other kinds are skipped silently).
pub fn lint(
    manifests: &[Manifest],
    read_errors: Vec<ManifestError>,
    inventory: &Inventory,
    config: &Config,
    sources: InventorySources,
) -> LintReport {
    let mut report = LintReport {
        errors: read_errors,
        ..LintReport::default()
    };
    if !sources.nodes {
        report.notices.push("no node inventory (--nodes): DSG001 selector-matches-no-node and DSG002 untolerated-taints were not evaluated".into());
    } else if inventory.node_count() == 0 {
        report.notices.push(
            "the node inventory (--nodes) holds no node: DSG001 and DSG002 were not evaluated"
                .into(),
        );
    }
    if !sources.priority_classes {
        report.notices.push("no PriorityClass inventory (--priorityclasses): DSG004 was not evaluated and DSG101 injects only the built-in system classes".into());
    }
    if !sources.limit_ranges && config.rules.missing_resource_limits.honor_limit_range {
        report.notices.push("no LimitRange inventory (--limitranges): DSG003 counts only limits written in the manifests".into());
    }
    let daemonsets: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| m.is_daemonset() && m.api_version() == "apps/v1")
        .collect();
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
        patch: verdict.patch.clone(),
        verdict,
    }
}

/// Rule metadata for reports: every rule, plus dsguard's own notices.
/// The page of docs/rules that explains a rule (`DSG000` for dsguard's own notes), for
/// reports that carry help text.
pub fn rule_page(id: &str) -> Option<&'static str> {
    Some(match id {
        "DSG000" => include_str!("../../docs/rules/DSG000.md"),
        "DSG001" => include_str!("../../docs/rules/DSG001.md"),
        "DSG002" => include_str!("../../docs/rules/DSG002.md"),
        "DSG003" => include_str!("../../docs/rules/DSG003.md"),
        "DSG004" => include_str!("../../docs/rules/DSG004.md"),
        "DSG005" => include_str!("../../docs/rules/DSG005.md"),
        "DSG006" => include_str!("../../docs/rules/DSG006.md"),
        "DSG101" => include_str!("../../docs/rules/DSG101.md"),
        "DSG102" => include_str!("../../docs/rules/DSG102.md"),
        _ => return None,
    })
}

pub fn rule_catalogue() -> Vec<(&'static str, &'static str, &'static str)> {
    Rule::ALL
        .iter()
        .map(|r| (r.id(), r.name(), r.summary()))
        .chain([(
            DSG000.0,
            DSG000.1,
            "An exemption was used, or an exemption annotation is malformed.",
        )])
        .collect()
}
