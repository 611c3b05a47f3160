//! `doctor`'s text: per DaemonSet its status as `kubectl get ds` shows it, the rollout
//! state, each problem group once (a count and a few examples, never a line per node), the
//! revisions, and the rollback command when one is due.

use std::fmt::Write;

use super::{Diagnosis, DoctorReport, EXAMPLES, RevisionReport, age};

fn examples(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(EXAMPLES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > EXAMPLES {
        let _ = write!(text, " and {} more", items.len() - EXAMPLES);
    }
    text
}

fn one(out: &mut String, d: &Diagnosis) {
    let _ = writeln!(
        out,
        "{}/{}: {}",
        d.namespace,
        d.name,
        if d.healthy { "healthy" } else { "unhealthy" }
    );
    let s = &d.status;
    let _ = writeln!(
        out,
        "  desired {}  current {}  ready {}  up-to-date {}  available {}  misscheduled {}",
        s.desired, s.current, s.ready, s.updated, s.available, s.misscheduled
    );
    let _ = writeln!(out, "  {}", rollout_line(d));
    for p in &d.problems {
        let mut place = format!("pool {}", p.pool);
        if !p.nodes.is_empty() {
            let _ = write!(
                place,
                ": {} ({})",
                crate::words::count(p.nodes.len(), "node"),
                examples(&p.nodes)
            );
        }
        if !p.pods.is_empty() {
            let _ = write!(place, "; pods {}", examples(&p.pods));
        }
        let gap = if p.affects_health {
            ""
        } else {
            " (not counted by the controller)"
        };
        let _ = writeln!(out, "  {}{gap}  {place}", p.reason);
        let _ = writeln!(out, "    {}", p.message);
        for (i, line) in p.fix.lines().enumerate() {
            let _ = writeln!(out, "    {}{line}", if i == 0 { "fix: " } else { "  " });
        }
    }
    if !d.revisions.is_empty() {
        let _ = writeln!(out, "  revisions (newest first):");
        for r in &d.revisions {
            let _ = writeln!(out, "    {}", revision_line(r));
        }
    }
    if let Some(rollback) = &d.rollback {
        let _ = writeln!(
            out,
            "  roll back to revision {} (its pods are Ready and its template passes the rules):\n    {}",
            rollback.revision, rollback.command
        );
    }
}

/// One revision as the text and the picture show it: number, age, its pods, the rules'
/// verdict, change-cause and what differs from the current template.
pub(super) fn revision_line(r: &RevisionReport) -> String {
    let mut line = format!(
        "{}{}  {} ago  pods {} (ready {})  {}",
        r.revision,
        if r.current { " current" } else { "" },
        age(r.age),
        r.pods,
        r.ready,
        r.verdict
    );
    if let Some(cause) = &r.change_cause {
        let _ = write!(line, "  change-cause: {cause}");
    }
    if !r.differs.is_empty() {
        let _ = write!(line, "  differs: {}", r.differs.join(", "));
    }
    if let Some(denial) = &r.denied_by {
        let _ = write!(line, "  ({denial})");
    }
    line
}

/// The rollout line: state, the current revision, and why.
pub(super) fn rollout_line(d: &Diagnosis) -> String {
    let revision = d
        .rollout
        .current_revision
        .map(|r| format!(" (revision {r})"))
        .unwrap_or_default();
    format!("rollout {}{revision}: {}", d.rollout.state, d.rollout.cause)
}

/// The whole report as text.
pub fn to_text(report: &DoctorReport) -> String {
    let mut out = String::new();
    for d in &report.daemonsets {
        one(&mut out, d);
        out.push('\n');
    }
    let unhealthy = report.daemonsets.iter().filter(|d| !d.healthy).count();
    let _ = writeln!(
        out,
        "{}: {} healthy, {} unhealthy",
        crate::words::count(report.daemonsets.len(), "DaemonSet"),
        report.daemonsets.len() - unhealthy,
        unhealthy
    );
    out
}
