//! `lint -o json`: the documented, versioned shape (`schemaVersion: 1`, README "Commands").

use serde_json::{Value, json};

use super::LintReport;

pub fn to_json(report: &LintReport) -> Value {
    let findings: Vec<Value> = report
        .daemonsets
        .iter()
        .flat_map(|ds| {
            ds.findings.iter().map(move |f| {
                json!({
                    "ruleId": f.rule_id,
                    "rule": f.rule_name,
                    "action": f.severity,
                    "kind": "DaemonSet",
                    "namespace": ds.namespace,
                    "name": ds.name,
                    "file": ds.file,
                    "line": f.position.line,
                    "column": f.position.column,
                    "pointer": f.pointer,
                    "message": f.message,
                })
            })
        })
        .collect();
    let patches: Vec<Value> = report
        .daemonsets
        .iter()
        .filter(|ds| !ds.patch.is_empty())
        .map(|ds| json!({"file": ds.file, "namespace": ds.namespace, "name": ds.name, "patch": ds.patch}))
        .collect();
    let errors: Vec<Value> = report
        .errors
        .iter()
        .map(|e| json!({"file": e.file, "line": e.position.line, "column": e.position.column, "message": e.message}))
        .collect();
    json!({
        "schemaVersion": 1,
        "findings": findings,
        "patches": patches,
        "summary": {
            "daemonsets": report.daemonsets.len(),
            "denied": report.denied(),
            "warned": report.warned(),
        },
        "errors": errors,
        "notices": report.notices,
    })
}
