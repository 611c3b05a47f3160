//! `lint -o github`: GitHub Actions workflow commands, one per finding, so that each one
//! appears as an annotation on the line of the pull request it is about
//! (`::error file=F,line=L,col=C,title=T::message`; deny is `error`, warn `warning`, info
//! `notice`). Values are escaped as the runner's command parser expects: `%` and line
//! breaks in messages, and also `:` and `,` in properties; other control characters are
//! shown as escapes, as in the text report.

use super::LintReport;
use crate::policy::Severity;

/// Control and bidi characters shown as escapes (as in the text report), line breaks
/// kept: an annotation may span lines.
fn escape_data(text: &str) -> String {
    text.split('\n')
        .map(|line| super::printable(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
        .replace('%', "%25")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn command(
    kind: &str,
    file: &str,
    line: usize,
    column: usize,
    title: &str,
    message: &str,
) -> String {
    format!(
        "::{kind} file={},line={line},col={column},title={}::{}\n",
        escape_property(file),
        escape_property(title),
        escape_data(message)
    )
}

/// The workflow commands for a lint run, then a one-line summary.
pub fn to_github(report: &LintReport) -> String {
    let mut out = github_commands(report);
    out.push_str(&github_summary(report));
    out
}

/// The workflow commands for what `report` holds (a streamed run writes them as it goes).
pub fn github_commands(report: &LintReport) -> String {
    let mut out = String::new();
    for error in &report.errors {
        out.push_str(&command(
            "error",
            &error.file,
            error.position.line,
            error.position.column,
            "dsguard: unreadable input",
            &error.message,
        ));
    }
    for daemonset in &report.daemonsets {
        for finding in &daemonset.findings {
            let kind = match finding.severity {
                Severity::Deny => "error",
                Severity::Warn => "warning",
                Severity::Info => "notice",
            };
            let title = format!("{} {}", finding.rule_id, finding.rule_name);
            let message = format!(
                "{}/{}: {}",
                daemonset.namespace, daemonset.name, finding.message
            );
            out.push_str(&command(
                kind,
                &daemonset.file,
                finding.position.line,
                finding.position.column,
                &title,
                &message,
            ));
        }
    }
    out
}

/// The one-line summary of the whole run.
pub fn github_summary(report: &LintReport) -> String {
    let totals = report.totals();
    format!(
        "dsguard: {}, {} denied, {} warned, {} unreadable\n",
        crate::words::count(totals.daemonsets, "DaemonSet"),
        totals.denied,
        totals.warned,
        totals.errors
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_escape_what_the_runner_would_split_on() {
        assert_eq!(
            command(
                "warning",
                "a,b:c.yaml",
                3,
                7,
                "DSG002 untolerated-taints",
                "50% of nodes:\nadd\r"
            ),
            "::warning file=a%2Cb%3Ac.yaml,line=3,col=7,title=DSG002 untolerated-taints::50%25 of nodes:%0Aadd\\u{d}\n"
        );
    }
}
