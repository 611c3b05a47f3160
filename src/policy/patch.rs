//! The RFC 6902 patch for what the mutations inject, built against the object exactly as
//! it arrived: `add` of a whole array or map where the field is missing (or null), `/-`
//! appends where it exists, and `~1` escaping in the annotation key. Nothing is ever
//! serialized from the typed view, so fields dsguard does not model are never touched.
//! The `dsguard.io/mutated` annotation on the DaemonSet (not on the pod template, which
//! would roll every pod) records what was injected.

use serde_json::{Value, json};

use super::daemonset::TEMPLATE_SPEC;
use super::{DaemonSet, Injection};
use crate::yaml::escape_pointer;

pub const MUTATED_ANNOTATION: &str = "dsguard.io/mutated";

/// The patch for `injection`; empty when nothing is injected.
pub(crate) fn build(object: &DaemonSet, injection: &Injection) -> Vec<Value> {
    let mut ops = Vec::new();
    let mut injected = Vec::new();
    if let Some(class) = &injection.priority_class {
        ops.push(json!({"op": "add", "path": format!("{TEMPLATE_SPEC}/priorityClassName"), "value": class}));
        injected.push(format!("priorityClassName={class}"));
    }
    if !injection.tolerations.is_empty() {
        let values: Vec<Value> = injection
            .tolerations
            .iter()
            .map(|t| serde_json::to_value(t).expect("a toleration serializes"))
            .collect();
        if object.pod().tolerations.is_some() {
            for value in values {
                ops.push(json!({"op": "add", "path": format!("{TEMPLATE_SPEC}/tolerations/-"), "value": value}));
            }
        } else {
            ops.push(json!({"op": "add", "path": format!("{TEMPLATE_SPEC}/tolerations"), "value": values}));
        }
        injected.extend(
            injection
                .tolerations
                .iter()
                .map(|t| format!("toleration={t}")),
        );
    }
    if injected.is_empty() {
        return ops;
    }
    let metadata = object.metadata.as_ref();
    let annotations = metadata.and_then(|m| m.annotations.as_ref());
    let mut recorded: Vec<String> = annotations
        .and_then(|a| a.get(MUTATED_ANNOTATION))
        .map(|existing| {
            existing
                .split("; ")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    for item in injected {
        if !recorded.contains(&item) {
            recorded.push(item);
        }
    }
    let record = recorded.join("; ");
    match (metadata, annotations) {
        (None, _) => ops.push(json!({"op": "add", "path": "/metadata", "value": {"annotations": {MUTATED_ANNOTATION: record}}})),
        (Some(_), None) => ops.push(json!({"op": "add", "path": "/metadata/annotations", "value": {MUTATED_ANNOTATION: record}})),
        (Some(_), Some(_)) => ops.push(json!({
            "op": "add",
            "path": format!("/metadata/annotations/{}", escape_pointer(MUTATED_ANNOTATION)),
            "value": record
        })),
    }
    ops
}
