//! `lint -o text`: findings grouped by file, `line:col  action  RULE  namespace/name:
//! message`, continuation lines indented, a summary line. Colour only on a terminal and
//! never with `NO_COLOR` set (the caller decides). Everything that comes from the input
//! (file names, object names, messages quoting manifest values) is passed through
//! [`printable`], so a manifest cannot write escape sequences or fake lines into a CI log.

use std::borrow::Cow;
use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use super::LintReport;
use crate::policy::Severity;

#[derive(Clone, Copy, Debug, Default)]
pub struct TextOptions {
    pub color: bool,
    pub show_patch: bool,
}

/// `text` with control characters (and the Unicode bidirectional overrides that can make
/// a line read differently than it is) written as `\u{..}` escapes. Newlines included:
/// callers split multi-line messages into lines first.
pub fn printable(text: &str) -> Cow<'_, str> {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

fn paint(options: TextOptions, style: Style, text: &str) -> String {
    if options.color {
        format!("{style}{text}{style:#}")
    } else {
        text.to_owned()
    }
}

pub fn to_text(report: &LintReport, options: TextOptions) -> String {
    let mut writer = TextWriter::new(options);
    let mut out = writer.part(report);
    out.push_str(&writer.finish(report));
    out
}

fn severity_style(severity: Severity) -> Style {
    match severity {
        Severity::Deny => Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
        Severity::Warn => Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold(),
        Severity::Info => Style::new().fg_color(Some(AnsiColor::Cyan.into())),
    }
}

/// The text report written in parts as a streamed run finishes files (see
/// [`super::lint_paths`]): a part continues the section of the file the last part ended
/// in, so the parts together are [`to_text`] of the whole.
pub struct TextWriter {
    options: TextOptions,
    /// The file whose section is open (its header written, its closing line not yet).
    open_file: Option<String>,
}

impl TextWriter {
    pub fn new(options: TextOptions) -> Self {
        Self {
            options,
            open_file: None,
        }
    }

    /// The sections of what `report` holds now.
    pub fn part(&mut self, report: &LintReport) -> String {
        let options = self.options;
        let bold = Style::new().bold();
        let dim = Style::new().dimmed();
        let mut out = String::new();
        let mut files: Vec<&str> = report.daemonsets.iter().map(|d| d.file.as_str()).collect();
        files.extend(report.errors.iter().map(|e| e.file.as_str()));
        files.dedup();
        let mut seen = Vec::new();
        for file in files {
            if seen.contains(&file) {
                continue;
            }
            seen.push(file);
            let errors: Vec<_> = report.errors.iter().filter(|e| e.file == file).collect();
            let daemonsets: Vec<_> = report
                .daemonsets
                .iter()
                .filter(|d| d.file == file)
                .collect();
            let has_output = !errors.is_empty()
                || daemonsets
                    .iter()
                    .any(|d| !d.findings.is_empty() || (options.show_patch && !d.patch.is_empty()));
            if !has_output {
                continue;
            }
            if self.open_file.as_deref() != Some(file) {
                if self.open_file.take().is_some() {
                    out.push('\n');
                }
                let _ = writeln!(out, "{}", paint(options, bold, &printable(file)));
                self.open_file = Some(file.to_owned());
            }
            for error in errors {
                let place = format!("{}:{}", error.position.line, error.position.column);
                let _ = writeln!(
                    out,
                    "  {place:<8} {}  {}",
                    paint(options, severity_style(Severity::Deny), "error"),
                    printable(&error.message)
                );
            }
            for ds in daemonsets {
                for finding in &ds.findings {
                    let place = format!("{}:{}", finding.position.line, finding.position.column);
                    let label = match finding.severity {
                        Severity::Deny => "deny ",
                        Severity::Warn => "warn ",
                        Severity::Info => "info ",
                    };
                    let mut lines = finding.message.lines();
                    let first = lines.next().unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  {place:<8} {}  {} {}  {}/{}: {}",
                        paint(options, severity_style(finding.severity), label),
                        finding.rule_id,
                        paint(options, dim, finding.rule_name),
                        printable(&ds.namespace),
                        printable(&ds.name),
                        printable(first)
                    );
                    for line in lines {
                        let _ = writeln!(out, "  {:<8}        {}", "", printable(line));
                    }
                }
                if options.show_patch && !ds.patch.is_empty() {
                    let patch = serde_json::to_string_pretty(&ds.patch).expect("patch serializes");
                    let _ = writeln!(
                        out,
                        "  {} {}/{} (RFC 6902, from line {}):",
                        paint(options, bold, "patch"),
                        printable(&ds.namespace),
                        printable(&ds.name),
                        ds.position.line
                    );
                    for line in patch.lines() {
                        let _ = writeln!(out, "    {line}");
                    }
                }
            }
        }
        out
    }

    /// The end of the report: the open section closed, and the summary of the whole run.
    pub fn finish(&mut self, report: &LintReport) -> String {
        let options = self.options;
        let mut out = String::new();
        if self.open_file.take().is_some() {
            out.push('\n');
        }
        let totals = report.totals();
        let mut summary = format!(
            "{}: {} denied, {} warned; findings: {} deny, {} warn, {} info; {} to patch",
            crate::words::count(totals.daemonsets, "DaemonSet"),
            totals.denied,
            totals.warned,
            totals.deny_findings,
            totals.warn_findings,
            totals.info_findings,
            totals.patched,
        );
        if totals.errors > 0 {
            let _ = write!(
                summary,
                "; {}",
                crate::words::count(totals.errors, "unreadable document")
            );
        }
        let style = if totals.denied > 0 || totals.errors > 0 {
            severity_style(Severity::Deny)
        } else {
            Style::new().bold()
        };
        let _ = writeln!(out, "{}", paint(options, style, &summary));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::{LintedDaemonSet, LocatedFinding};
    use crate::yaml::Position;

    fn report() -> LintReport {
        LintReport {
            daemonsets: vec![LintedDaemonSet {
                file: "a.yaml".into(),
                position: Position { line: 1, column: 1 },
                namespace: "ns".into(),
                name: "ds".into(),
                findings: vec![LocatedFinding {
                    rule_id: "DSG003",
                    rule_name: "missing-resource-limits",
                    severity: Severity::Deny,
                    pointer: "/spec".into(),
                    position: Position { line: 7, column: 3 },
                    message: "first line\nsecond line".into(),
                }],
                patch: Vec::new(),
            }],
            ..LintReport::default()
        }
    }

    #[test]
    fn colour_only_when_asked_and_continuation_lines_are_indented() {
        let plain = to_text(
            &report(),
            TextOptions {
                color: false,
                show_patch: false,
            },
        );
        assert!(!plain.contains('\u{1b}'));
        assert!(plain.contains("  7:3      deny   DSG003 missing-resource-limits  ns/ds: first line\n                  second line\n"), "{plain}");
        assert!(
            plain.ends_with(
                "1 DaemonSet: 1 denied, 0 warned; findings: 1 deny, 0 warn, 0 info; 0 to patch\n"
            ),
            "{plain}"
        );
        let coloured = to_text(
            &report(),
            TextOptions {
                color: true,
                show_patch: false,
            },
        );
        assert!(coloured.contains("\u{1b}["), "{coloured}");
    }
}
