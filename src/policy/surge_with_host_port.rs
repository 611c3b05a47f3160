//! DSG006 surge-with-host-port: two ways a rolling update goes wrong on every node.
//!
//! - `maxSurge` above zero starts the new pod on a node before the old one stops; with a
//!   `hostPort` (on any container or init container, or any port of a `hostNetwork` pod,
//!   whose ports are host ports) the new pod cannot bind it beside the old one, the
//!   scheduler's NodePorts filter keeps it Pending, and the rollout stalls on every node.
//! - `maxUnavailable` of 100% (or a count at least the number of nodes the DaemonSet runs
//!   on) lets one rollout take the daemon down everywhere at once.
//!
//! Source: `pkg/controller/daemon/update.go` (surge and unavailability budgets) and the
//! scheduler's `nodeports` plugin.

use roaring::RoaringBitmap;

use super::daemonset::{DaemonSet, IntOrString};
use super::{Context, Finding, Rule, Severity, surges};

const ROLLING_UPDATE: &str = "/spec/updateStrategy/rollingUpdate";

pub(crate) fn check(
    object: &DaemonSet,
    targeted: Option<&RoaringBitmap>,
    context: &Context<'_>,
    findings: &mut Vec<Finding>,
) {
    let Some(severity) = Severity::of(context.config.rules.surge_with_host_port.action) else {
        return;
    };
    if surges(object)
        && let Some(port) = first_host_port(object)
    {
        findings.push(Finding {
            rule: Rule::SurgeWithHostPort,
            severity,
            pointer: format!("{ROLLING_UPDATE}/maxSurge"),
            message: format!(
                "maxSurge starts each new pod beside the old one, but {port}: the new pod cannot bind it while the old one runs, so it stays Pending and the rollout stalls on every node. Set maxSurge: 0 and maxUnavailable: 1 (replace pods in place), or drop the host port"
            ),
            atoms: vec!["surge-host-port".into()],
        });
    }
    let unavailable = object
        .update_strategy()
        .filter(|s| s.kind.as_deref().is_none_or(|k| k == "RollingUpdate"))
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.as_ref());
    let all_at_once = match unavailable {
        Some(IntOrString::String(text)) => text
            .strip_suffix('%')
            .and_then(|n| n.trim().parse::<i64>().ok())
            .is_some_and(|percent| percent >= 100)
            .then(|| format!("maxUnavailable {text}")),
        Some(IntOrString::Int(count)) => targeted
            .filter(|nodes| !nodes.is_empty() && *count > 0 && (*count as u64) >= nodes.len())
            .map(|nodes| {
                format!(
                    "maxUnavailable {count} (it runs on {})",
                    crate::words::count(nodes.len(), "node")
                )
            }),
        None => None,
    };
    if let Some(what) = all_at_once {
        findings.push(Finding {
            rule: Rule::SurgeWithHostPort,
            severity,
            pointer: format!("{ROLLING_UPDATE}/maxUnavailable"),
            message: format!(
                "{what} lets one rollout stop the daemon on every node at once; a bad image then takes the whole fleet down. Use a small count or percentage (the default is 1)"
            ),
            atoms: vec!["unavailable-all".into()],
        });
    }
}

/// The first host port the pod binds, said as the user wrote it.
fn first_host_port(object: &DaemonSet) -> Option<String> {
    let pod = object.pod();
    let lists = [
        ("container", &pod.containers),
        ("init container", &pod.init_containers),
    ];
    for (kind, containers) in lists {
        for container in containers {
            for port in &container.ports {
                if let Some(host_port) = port.host_port.filter(|p| *p > 0) {
                    return Some(format!(
                        "{kind} {:?} binds hostPort {host_port}",
                        container.name
                    ));
                }
                if pod.host_network
                    && let Some(container_port) = port.container_port.filter(|p| *p > 0)
                {
                    return Some(format!(
                        "{kind} {:?} binds port {container_port} on the host network",
                        container.name
                    ));
                }
            }
        }
    }
    None
}
