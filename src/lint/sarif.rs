//! `lint -o sarif`: SARIF 2.1.0 for code-scanning uploads, with rule metadata (ID, name,
//! description, help, default level), and one result per finding located at its field.
//! Unreadable documents are results too (rule `DSG900`), so a broken manifest shows up in
//! code scanning instead of vanishing.

use serde_json::json;
use serde_sarif::sarif::{
    ArtifactLocation, Location, Message, MultiformatMessageString, PhysicalLocation, Region,
    ReportingConfiguration, ReportingDescriptor, Result as SarifResult, ResultLevel, Run, Sarif,
    Tool, ToolComponent,
};

use super::{DSG900, LintReport, RuleEntry, rule_catalogue};
use crate::config::Config;
use crate::policy::Severity;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level_of(severity: Severity) -> ResultLevel {
    match severity {
        Severity::Deny => ResultLevel::Error,
        Severity::Warn => ResultLevel::Warning,
        Severity::Info => ResultLevel::Note,
    }
}

fn default_level(id: &str, config: &Config) -> &'static str {
    match super::default_action(id, config) {
        "deny" => "error",
        "off" => "none",
        _ => "warning",
    }
}

fn level_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Deny => "deny",
        Severity::Warn => "warn",
        Severity::Info => "info",
    }
}

/// A result's identity that survives edits elsewhere in the file (code scanning matches
/// results across runs by it): the rule, the file, the DaemonSet and the field, not the
/// line. FNV-1a 64, hex.
fn fingerprint(parts: &[&str]) -> std::collections::BTreeMap<String, String> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    [("dsguardFinding/v1".to_owned(), format!("{hash:016x}"))].into()
}

/// SARIF paths are URIs relative to the repository root: forward slashes, no `./`.
fn uri(file: &str) -> String {
    let file = file.replace('\\', "/");
    file.strip_prefix("./").unwrap_or(&file).to_owned()
}

fn location(file: &str, line: usize, column: usize) -> Location {
    Location::builder()
        .physical_location(
            PhysicalLocation::builder()
                .artifact_location(ArtifactLocation::builder().uri(uri(file)).build())
                .region(
                    Region::builder()
                        .start_line(line.max(1) as i64)
                        .start_column(column.max(1) as i64)
                        .build(),
                )
                .build(),
        )
        .build()
}

/// The SARIF log of `report`. With `help_uri_base` (where the repository's docs are
/// published), each rule with a page links to it as `helpUri`.
pub fn to_sarif(report: &LintReport, config: &Config, help_uri_base: Option<&str>) -> Sarif {
    let catalogue = rule_catalogue();
    let rules: Vec<ReportingDescriptor> = catalogue
        .iter()
        .map(|RuleEntry { id, name, summary }| {
            let level = default_level(id, config);
            let help_uri = help_uri_base
                .filter(|_| super::rule_page(id).is_some())
                .map(|base| format!("{}/docs/rules/{id}.md", base.trim_end_matches('/')));
            let mut descriptor = ReportingDescriptor::builder()
                .id(*id)
                .name(*name)
                .short_description(
                    MultiformatMessageString::builder()
                        .text(format!("{id} {name}"))
                        .build(),
                )
                .full_description(MultiformatMessageString::builder().text(*summary).build())
                .help(match super::rule_page(id) {
                    Some(page) => MultiformatMessageString::builder()
                        .text(format!("{summary} See docs/rules/{id}.md."))
                        .markdown(page)
                        .build(),
                    None => MultiformatMessageString::builder().text(*summary).build(),
                })
                .default_configuration(
                    ReportingConfiguration::builder()
                        .level(json!(level))
                        .build(),
                )
                .build();
            descriptor.help_uri = help_uri;
            descriptor
        })
        .collect();
    let index_of = |id: &str| catalogue.iter().position(|e| e.id == id).unwrap_or(0) as i64;
    let mut results: Vec<SarifResult> = Vec::new();
    for ds in &report.daemonsets {
        for (index, finding) in ds.findings.iter().enumerate() {
            // Findings of one rule on one field (a partial block and its information
            // line) are told apart by severity, then by order.
            let ordinal = ds.findings[..index]
                .iter()
                .filter(|f| {
                    f.rule_id == finding.rule_id
                        && f.pointer == finding.pointer
                        && f.severity == finding.severity
                })
                .count()
                .to_string();
            results.push(
                SarifResult::builder()
                    .rule_id(finding.rule_id)
                    .rule_index(index_of(finding.rule_id))
                    .level(level_of(finding.severity))
                    .message(
                        Message::builder()
                            .text(format!("{}/{}: {}", ds.namespace, ds.name, finding.message))
                            .build(),
                    )
                    .locations(vec![location(
                        &ds.file,
                        finding.position.line,
                        finding.position.column,
                    )])
                    .partial_fingerprints(fingerprint(&[
                        finding.rule_id,
                        &uri(&ds.file),
                        &ds.namespace,
                        &ds.name,
                        &finding.pointer,
                        level_name(finding.severity),
                        &ordinal,
                    ]))
                    .build(),
            );
        }
    }
    for error in &report.errors {
        results.push(
            SarifResult::builder()
                .rule_id(DSG900.0)
                .rule_index(index_of(DSG900.0))
                .level(ResultLevel::Error)
                .message(Message::builder().text(error.message.clone()).build())
                .locations(vec![location(
                    &error.file,
                    error.position.line,
                    error.position.column,
                )])
                .build(),
        );
    }
    let driver = ToolComponent::builder()
        .name("dsguard")
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .version(env!("CARGO_PKG_VERSION"))
        .rules(rules)
        .build();
    Sarif::builder()
        .schema(SCHEMA)
        .version(json!("2.1.0"))
        .runs(vec![
            Run::builder()
                .tool(Tool::builder().driver(driver).build())
                .results(results)
                .build(),
        ])
        .build()
}
