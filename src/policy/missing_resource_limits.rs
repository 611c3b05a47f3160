//! DSG003 missing-resource-limits: a DaemonSet runs one pod on every node, so a container
//! without a limit is unbounded everywhere at once. One finding per container, at the
//! container, listing what is wrong with its limits.
//!
//! A limit is only a limit when Kubernetes enforces it: a positive quantity whose value
//! the kubelet reads without overflow. The kubelet reads cpu with `MilliValue()` and
//! memory with `Value()` (`pkg/kubelet/cm`, `kuberuntime_container_linux.go`); a zero
//! limit sets no CFS quota and no memory limit, and a quantity past int64 at that scale
//! reads as 0 (apimachinery `Quantity.ScaledValue` drops the overflow), so `cpu: "0"`,
//! `"0m"`, `"+"`, `"."` and `cpu: "1E"` are no limit at all, though the API server stores
//! them. A limit a LimitRange of the namespace will supply (`type: Container` `default`,
//! which the API server fills from `max`) counts as present when `honorLimitRange` is on,
//! and the finding says so.
//!
//! What the API server refuses (a limit that is not a quantity, a negative one, a limit
//! below its request: `ValidateResourceRequirements`) can only reach `lint`; it is named
//! as refused, so the fix is clear.

use std::collections::BTreeSet;

use super::daemonset::{Container, TEMPLATE_SPEC};
use super::{Context, DaemonSet, Finding, Rule, Severity};
use crate::scheduling::resources::{QuantityText, amount, display};

/// How a written limit reads to the kubelet.
enum Limit {
    /// Enforced.
    Enforced,
    /// Stored, but no limit: why.
    Unenforced(String),
    /// Refused by the API server: why.
    Refused(String),
}

/// The kubelet's reading of `text` as the limit of `resource`.
fn limit(resource: &str, text: &QuantityText) -> Limit {
    let value = match amount(resource, text) {
        Ok(value) => value,
        Err(_) => {
            return Limit::Refused(format!(
                "{resource} limit {:?} is not a quantity (the API server refuses it)",
                text.0
            ));
        }
    };
    let scale = if resource == "cpu" {
        "MilliValue"
    } else {
        "Value"
    };
    if value < 0 {
        Limit::Refused(format!(
            "{resource} limit {:?} is negative (the API server refuses it: must be greater than or equal to 0)",
            text.0
        ))
    } else if value == 0 {
        Limit::Unenforced(format!(
            "{resource} limit {:?} is 0, which is no limit ({})",
            text.0,
            if resource == "cpu" {
                "the kubelet sets no CFS quota"
            } else {
                "the kubelet sets none"
            }
        ))
    } else if value > i128::from(i64::MAX) {
        Limit::Unenforced(format!(
            "{resource} limit {:?} overflows int64 as the kubelet reads it ({scale}), which makes it 0: no limit",
            text.0
        ))
    } else {
        Limit::Enforced
    }
}

/// The resources whose limit is below its request: the API server refuses the object
/// (`must be less than or equal to cpu limit of 1`).
fn below_requests(container: &Container) -> Vec<String> {
    let resources = &container.resources;
    let mut below = Vec::new();
    for (resource, written) in &resources.limits {
        let Some(requested) = resources.requests.get(resource) else {
            continue;
        };
        if let (Ok(limit), Ok(request)) = (amount(resource, written), amount(resource, requested))
            && request > limit
        {
            below.push(format!(
                "{resource} request {} is above its limit {} (the API server refuses it: must be less than or equal to {resource} limit of {})",
                display(resource, request),
                display(resource, limit),
                written.0.trim()
            ));
        }
    }
    below
}

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
            let mut missing: Vec<&str> = Vec::new();
            let mut unenforced: Vec<(&str, String)> = Vec::new();
            let mut refused: Vec<String> = Vec::new();
            for resource in settings.resources.iter().map(String::as_str) {
                match container.resources.limits.get(resource) {
                    None => missing.push(resource),
                    Some(text) => match limit(resource, text) {
                        Limit::Enforced => {}
                        Limit::Unenforced(why) => unenforced.push((resource, why)),
                        Limit::Refused(why) => refused.push(why),
                    },
                }
            }
            refused.extend(below_requests(container));
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
            if uncovered.is_empty() && unenforced.is_empty() && refused.is_empty() {
                if !range_note.is_empty() {
                    findings.push(Finding {
                        rule: Rule::MissingResourceLimits,
                        severity: Severity::Info,
                        pointer,
                        message: format!("{kind} {name:?}: {range_note}"),
                        atoms: Vec::new(),
                    });
                }
                continue;
            }
            let mut problems = Vec::new();
            if !uncovered.is_empty() {
                problems.push(format!("has no {} limit", uncovered.join(", ")));
            }
            problems.extend(unenforced.iter().map(|(_, why)| why.clone()));
            problems.extend(refused.iter().cloned());
            let to_set: Vec<&str> = uncovered
                .iter()
                .copied()
                .chain(unenforced.iter().map(|(r, _)| *r))
                .collect();
            let mut message = format!("{kind} {name:?} {}", problems.join("; "));
            if !to_set.is_empty() {
                let fix: Vec<String> = to_set.iter().map(|r| format!("{r}: <limit>")).collect();
                message.push_str(&format!(
                    "; a DaemonSet runs it on every node. Set resources.limits {{{}}}{}",
                    fix.join(", "),
                    if unenforced.is_empty() {
                        ""
                    } else {
                        " (a positive quantity)"
                    }
                ));
            } else {
                message.push_str("; fix resources so that the API server accepts the object");
            }
            if !range_note.is_empty() {
                message.push_str(&format!(" ({range_note})"));
            }
            let mut atoms: Vec<String> = to_set
                .iter()
                .map(|r| format!("{list}/{name}/{r}"))
                .collect();
            atoms.extend(
                refused
                    .iter()
                    .map(|why| format!("{list}/{name}/refused: {why}")),
            );
            findings.push(Finding {
                rule: Rule::MissingResourceLimits,
                severity,
                pointer,
                message,
                atoms,
            });
        }
    }
}
