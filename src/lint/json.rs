//! `lint -o json`: the documented, versioned shape (`schemaVersion: 1`, README "Commands").

use serde::Serialize;
use serde_json::Value;

use super::LintReport;
use crate::policy::Severity;

/// The report, shaped as it is written: serialized straight to the output, never built as
/// a `Value` tree of every finding (a stream of 11,200 DaemonSets has tens of thousands,
/// and writing the report is the part of a parallel lint that runs on one core).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonReport<'a> {
    schema_version: u32,
    findings: Vec<JsonFinding<'a>>,
    patches: Vec<JsonPatch<'a>>,
    summary: JsonSummary,
    errors: Vec<JsonError<'a>>,
    notices: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonFinding<'a> {
    rule_id: &'a str,
    rule: &'a str,
    action: Severity,
    kind: &'static str,
    namespace: &'a str,
    name: &'a str,
    file: &'a str,
    line: usize,
    column: usize,
    pointer: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonPatch<'a> {
    file: &'a str,
    namespace: &'a str,
    name: &'a str,
    patch: &'a [Value],
}

#[derive(Serialize)]
struct JsonSummary {
    daemonsets: usize,
    denied: usize,
    warned: usize,
}

#[derive(Serialize)]
struct JsonError<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    message: &'a str,
}

impl<'a> JsonReport<'a> {
    pub fn of(report: &'a LintReport) -> Self {
        JsonReport {
            schema_version: 1,
            findings: report
                .daemonsets
                .iter()
                .flat_map(|ds| {
                    ds.findings.iter().map(move |f| JsonFinding {
                        rule_id: f.rule_id,
                        rule: f.rule_name,
                        action: f.severity,
                        kind: "DaemonSet",
                        namespace: &ds.namespace,
                        name: &ds.name,
                        file: &ds.file,
                        line: f.position.line,
                        column: f.position.column,
                        pointer: &f.pointer,
                        message: &f.message,
                    })
                })
                .collect(),
            patches: report
                .daemonsets
                .iter()
                .filter(|ds| !ds.patch.is_empty())
                .map(|ds| JsonPatch {
                    file: &ds.file,
                    namespace: &ds.namespace,
                    name: &ds.name,
                    patch: &ds.patch,
                })
                .collect(),
            summary: JsonSummary {
                daemonsets: report.daemonsets.len(),
                denied: report.denied(),
                warned: report.warned(),
            },
            errors: report
                .errors
                .iter()
                .map(|e| JsonError {
                    file: &e.file,
                    line: e.position.line,
                    column: e.position.column,
                    message: &e.message,
                })
                .collect(),
            notices: &report.notices,
        }
    }
}

/// The report as a JSON tree (tests and benches compare them).
pub fn to_json(report: &LintReport) -> Value {
    serde_json::to_value(JsonReport::of(report)).unwrap_or_default()
}
