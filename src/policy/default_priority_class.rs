//! DSG101 default-priority-class: a template with neither `priorityClassName` nor
//! `priority` gets the configured class — only a class the cluster is known to have,
//! since a pod naming a missing class is rejected at pod creation, long after the
//! DaemonSet was accepted.

use super::daemonset::TEMPLATE_SPEC;
use super::{Context, DaemonSet, Finding, Injection, Rule, Severity};

pub(crate) fn mutate(
    object: &DaemonSet,
    context: &Context<'_>,
    injection: &mut Injection,
    findings: &mut Vec<Finding>,
) {
    let settings = &context.config.mutations.default_priority_class;
    let pod = object.pod();
    let has_class = pod
        .priority_class_name
        .as_deref()
        .is_some_and(|c| !c.is_empty());
    if !settings.enabled || has_class || pod.priority.is_some() {
        return;
    }
    let class = settings.class_for(context.namespace);
    let inventory = context.inventory;
    if inventory.priority_class_exists(class) {
        injection.priority_class = Some(class.to_owned());
        return;
    }
    let synced = inventory.synced().priority_classes;
    if !synced && context.quiet_when_unsynced {
        return;
    }
    let why = if synced {
        format!(
            "the cluster has no PriorityClass {class:?}; create it (deploy/ ships dsguard-default) or change mutations.default-priority-class"
        )
    } else {
        "the PriorityClass inventory is not synced yet, so its existence cannot be checked"
            .to_owned()
    };
    let fallback = match inventory.global_default_priority_class() {
        Some(global) => format!(
            "; pods will get the cluster's globalDefault class {:?} (value {}) instead",
            global.name, global.value
        ),
        None => "; pods will run with priority 0".to_owned(),
    };
    findings.push(Finding {
        rule: Rule::DefaultPriorityClass,
        severity: Severity::Warn,
        pointer: TEMPLATE_SPEC.into(),
        message: format!("default priorityClassName {class:?} not injected: {why}{fallback}"),
        atoms: Vec::new(),
    });
}
