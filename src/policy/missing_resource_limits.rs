//! DSG003 missing-resource-limits: a DaemonSet runs one pod on every node, so a container
//! without a limit is unbounded everywhere at once. One finding per container, at the
//! container, listing the missing resources. A limit a LimitRange of the namespace will
//! supply (`type: Container` `default`, which the API server fills from `max`) counts as
//! present when `honorLimitRange` is on, and the finding says so.

use std::collections::BTreeSet;

use super::daemonset::{Container, TEMPLATE_SPEC};
use super::{Context, DaemonSet, Finding, Rule, Severity};

pub(crate) fn check(object: &DaemonSet, context: &Context<'_>, findings: &mut Vec<Finding>) {
    let settings = &context.config.rules.missing_resource_limits;
    let Some(severity) = Severity::of(settings.action) else {
        return;
    };
    let inventory = context.inventory;
    // Resource -> the LimitRange that defaults it.
    let mut defaulted: Vec<(&str, &str)> = Vec::new();
    if settings.honor_limit_range {
        for range in inventory.limit_ranges_in(context.namespace) {
            for resource in &range.default_limits {
                defaulted.push((resource.as_str(), range.name.as_str()));
            }
        }
    }
    let pod = object.pod();
    let mut lists: Vec<(&str, &[Container])> = vec![("containers", &pod.containers)];
    if settings.include_init_containers {
        lists.insert(0, ("initContainers", &pod.init_containers));
    }
    for (list, containers) in lists {
        for (index, container) in containers.iter().enumerate() {
            let missing: Vec<&str> = settings
                .resources
                .iter()
                .map(String::as_str)
                .filter(|r| !container.resources.limits.contains_key(*r))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let from_range: BTreeSet<(&str, &str)> = missing
                .iter()
                .filter_map(|r| defaulted.iter().find(|(d, _)| d == r).copied())
                .collect();
            let uncovered: Vec<&str> = missing
                .iter()
                .copied()
                .filter(|r| !from_range.iter().any(|(d, _)| d == r))
                .collect();
            let kind = if list == "initContainers" {
                "init container"
            } else {
                "container"
            };
            let name = if container.name.is_empty() {
                format!("#{index}")
            } else {
                container.name.clone()
            };
            let range_note = if from_range.is_empty() {
                String::new()
            } else {
                let parts: Vec<String> = from_range
                    .iter()
                    .map(|(r, range)| format!("{r} from LimitRange {range}"))
                    .collect();
                format!("limits defaulted by the namespace: {}", parts.join(", "))
            };
            let pointer = format!("{TEMPLATE_SPEC}/{list}/{index}/resources/limits");
            if uncovered.is_empty() {
                findings.push(Finding {
                    rule: Rule::MissingResourceLimits,
                    severity: Severity::Info,
                    pointer,
                    message: format!("{kind} {name:?}: {range_note}"),
                    atoms: Vec::new(),
                });
                continue;
            }
            let fix: Vec<String> = uncovered.iter().map(|r| format!("{r}: <limit>")).collect();
            let mut message = format!(
                "{kind} {name:?} has no {} limit; a DaemonSet runs it on every node. Set resources.limits {{{}}}",
                uncovered.join(", "),
                fix.join(", ")
            );
            if !range_note.is_empty() {
                message.push_str(&format!(" ({range_note})"));
            }
            findings.push(Finding {
                rule: Rule::MissingResourceLimits,
                severity,
                pointer,
                message,
                atoms: uncovered
                    .iter()
                    .map(|r| format!("{list}/{name}/{r}"))
                    .collect(),
            });
        }
    }
}
