//! DSG004 unknown-priority-class: the template names a PriorityClass the cluster does not
//! have. The DaemonSet itself is accepted, but the Priority admission plugin rejects every
//! pod the controller creates ("no PriorityClass with name X was found"). Only judged
//! against a synced class inventory; the built-in system classes always exist.

use super::daemonset::TEMPLATE_SPEC;
use super::{Context, DaemonSet, Finding, Rule, Severity};

pub(crate) fn check(object: &DaemonSet, context: &Context<'_>, findings: &mut Vec<Finding>) {
    let Some(severity) = Severity::of(context.config.rules.unknown_priority_class.action) else {
        return;
    };
    let Some(class) = object
        .pod()
        .priority_class_name
        .as_deref()
        .filter(|c| !c.is_empty())
    else {
        return;
    };
    let inventory = context.inventory;
    if !inventory.synced().priority_classes || inventory.priority_class_exists(class) {
        return;
    }
    findings.push(Finding {
        rule: Rule::UnknownPriorityClass,
        severity,
        pointer: format!("{TEMPLATE_SPEC}/priorityClassName"),
        message: format!(
            "priorityClassName {class:?} names no PriorityClass in the cluster: the API server will reject every pod of this DaemonSet (\"no PriorityClass with name {class} was found\"). Create the class first, or use an existing one such as system-node-critical"
        ),
        atoms: vec![class.to_owned()],
    });
}
