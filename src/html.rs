//! The HTML picture that `coverage -o html` and `doctor -o html` share: one self-contained
//! page of DaemonSets (rows) by node pool and autoscaler template (columns), a legend, and
//! a detail section with each cell's reason and fix.
//!
//! This module owns the page frame, the stable DOM (docs/html.md) and escaping; the two
//! commands only decide what each cell says. The page fetches nothing and runs nothing:
//! its Content-Security-Policy forbids every fetch and every script, so even a string that
//! escaped [`escape`] could not act. Every string that comes from a manifest or the cluster
//! goes through [`escape`] on its way out.

use std::collections::BTreeMap;
use std::fmt::Write;

/// What one DaemonSet does on some nodes of one column. `data-state` of the DOM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Runs,
    Preempts,
    NoRoom,
    Unfit,
    Unhealthy,
    Blocked,
    NotTargeted,
}

impl State {
    pub const ALL: [State; 7] = [
        State::Runs,
        State::NotTargeted,
        State::Blocked,
        State::Unfit,
        State::NoRoom,
        State::Preempts,
        State::Unhealthy,
    ];

    /// The word of `data-state`, the same as `coverage -o json`'s sets.
    pub fn word(self) -> &'static str {
        match self {
            State::Runs => "runs",
            State::NotTargeted => "not-targeted",
            State::Blocked => "blocked",
            State::Unfit => "unfit",
            State::NoRoom => "no-room",
            State::Preempts => "preempts",
            State::Unhealthy => "unhealthy",
        }
    }

    /// The words a cell shows.
    fn label(self) -> &'static str {
        match self {
            State::Runs => "runs",
            State::NotTargeted => "not targeted",
            State::Blocked => "blocked by taint",
            State::Unfit => "unfit",
            State::NoRoom => "no room",
            State::Preempts => "preempts",
            State::Unhealthy => "unhealthy",
        }
    }

    fn meaning(self) -> &'static str {
        match self {
            State::Runs => "a pod runs (or will run) on these nodes",
            State::NotTargeted => {
                "its nodeSelector, node affinity or nodeName selects none of these nodes"
            }
            State::Blocked => "targeted, but a taint it does not tolerate keeps the pod off",
            State::Unfit => "its pod alone requests more than the node's allocatable",
            State::NoRoom => "it fits the node, not beside the pods running there: Pending",
            State::Preempts => "it fits only by preempting lower-priority pods there",
            State::Unhealthy => "its pod there is not running and Ready (the reason is shown)",
        }
    }

    /// A state worth a line in the detail section: something to do.
    fn is_problem(self) -> bool {
        !matches!(self, State::Runs | State::NotTargeted)
    }
}

/// One cause of a state in one cell: why, what to do, and a few of its nodes.
#[derive(Debug)]
pub struct Cause {
    pub nodes: u64,
    pub why: String,
    pub fix: String,
    pub examples: Vec<String>,
}

/// The nodes of one cell in one state (and, for `unhealthy`, one reason).
#[derive(Debug)]
pub struct Part {
    pub state: State,
    /// For `unhealthy`: doctor's reason (`CrashLoop`, `Missing`, ...).
    pub reason: Option<&'static str>,
    pub nodes: u64,
    pub causes: Vec<Cause>,
}

/// One matrix cell: its parts, in [`State`] order.
#[derive(Debug, Default)]
pub struct Cell {
    pub parts: Vec<Part>,
}

impl Cell {
    pub fn nodes(&self) -> u64 {
        self.parts.iter().map(|p| p.nodes).sum()
    }

    /// `data-state`: the one state of every part, else `mixed`.
    pub fn state_word(&self) -> &'static str {
        match self.parts.split_first() {
            None => "empty",
            Some((first, rest)) if rest.iter().all(|p| p.state == first.state) => {
                first.state.word()
            }
            Some(_) => "mixed",
        }
    }

    fn has(&self, state: State) -> bool {
        self.parts.iter().any(|p| p.state == state)
    }

    fn has_problem(&self) -> bool {
        self.parts.iter().any(|p| p.state.is_problem())
    }
}

/// Why nodes are not targeted, as a cell's hover and the details say it (the stylesheet's
/// hover for cells that are only "not targeted" says the same).
pub const NOT_TARGETED_WHY: &str = "not selected by its nodeSelector, node affinity or nodeName";

/// Rows per `<tbody>`, the unit the browser skips while it is off screen.
const ROWS_PER_BODY: usize = 100;

/// Examples kept per cause.
const EXAMPLES: usize = 5;

/// Collects one cell node by node (or a count of nodes at once), grouping causes.
#[derive(Default)]
pub struct CellBuilder {
    parts: BTreeMap<(State, Option<&'static str>), BTreeMap<String, Cause>>,
}

impl CellBuilder {
    /// `count` nodes in `state` for the cause `why`; `node` is an example when known. A
    /// count of 0 still makes the part (an autoscaler template with no node yet).
    pub fn add(
        &mut self,
        state: State,
        reason: Option<&'static str>,
        why: &str,
        fix: impl FnOnce() -> String,
        count: u64,
        node: Option<&str>,
    ) {
        let causes = self.parts.entry((state, reason)).or_default();
        let cause = match causes.get_mut(why) {
            Some(cause) => cause,
            None => causes.entry(why.to_owned()).or_insert(Cause {
                nodes: 0,
                why: why.to_owned(),
                fix: fix(),
                examples: Vec::new(),
            }),
        };
        cause.nodes += count;
        if let Some(node) = node
            && cause.examples.len() < EXAMPLES
        {
            cause.examples.push(node.to_owned());
        }
    }

    pub fn finish(self) -> Cell {
        Cell {
            parts: self
                .parts
                .into_iter()
                .map(|((state, reason), causes)| {
                    let causes: Vec<Cause> = causes.into_values().collect();
                    Part {
                        state,
                        reason,
                        nodes: causes.iter().map(|c| c.nodes).sum(),
                        causes,
                    }
                })
                .collect(),
        }
    }
}

/// A column: a node pool, or an autoscaler template (`KIND/NAME`).
#[derive(Debug)]
pub struct Column {
    /// `data-pool`.
    pub key: String,
    /// Nodes in the pool (a template: the nodes it has now, when known).
    pub nodes: Option<u64>,
    /// A template's namespace (Cluster API objects), shown and given as `data-namespace`.
    pub namespace: Option<String>,
    pub template: bool,
}

/// The node pools as columns: the nodes split by the first pool label each has (`no_pool`
/// for none), and each node slot's column.
pub struct PoolColumns {
    pub columns: Vec<Column>,
    pub split: std::sync::Arc<crate::inventory::PoolSplit>,
    pub column_of: std::collections::HashMap<u32, usize>,
}

impl PoolColumns {
    pub fn of(
        inventory: &crate::inventory::Inventory,
        pool_keys: &[String],
        no_pool: &str,
    ) -> Self {
        let split = inventory.split_by_pool(inventory.all_nodes(), pool_keys);
        let columns = split
            .iter()
            .map(|(pool, nodes)| Column {
                key: pool.clone().unwrap_or_else(|| no_pool.to_owned()),
                nodes: Some(nodes.len()),
                namespace: None,
                template: false,
            })
            .collect();
        let mut column_of = std::collections::HashMap::with_capacity(inventory.node_count());
        for (index, (_, nodes)) in split.iter().enumerate() {
            for slot in nodes.iter() {
                column_of.insert(slot, index);
            }
        }
        Self {
            columns,
            split,
            column_of,
        }
    }
}

/// `doctor`'s rollout bar: updated / ready / unavailable of desired.
#[derive(Debug)]
pub struct RolloutBar {
    pub desired: i64,
    pub updated: i64,
    pub ready: i64,
    pub unavailable: i64,
    /// `complete`, `progressing` or `stalled`.
    pub state: &'static str,
}

/// One DaemonSet.
#[derive(Debug)]
pub struct Row {
    /// `NAMESPACE/NAME`.
    pub daemonset: String,
    /// Where it came from (`file:line`), or its health (`unhealthy`).
    pub note: String,
    pub bar: Option<RolloutBar>,
    /// One per column, in column order.
    pub cells: Vec<Cell>,
    /// More for the detail section: (label, text) pairs, text shown preformatted.
    pub details: Vec<(String, String)>,
}

/// The whole picture.
#[derive(Debug)]
pub struct Page {
    pub title: String,
    /// One line under the title: what was read.
    pub summary: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

/// Text for HTML text and attribute values: `& < > " '` as references, and control
/// characters (which HTML does not allow) as U+FFFD. Newlines and tabs stay.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// Light backgrounds with near-black text: every pair is above WCAG AA's 4.5:1 (the
/// lowest, `not-targeted`, is 8.4:1; a test computes them). Colour repeats what the text
/// says, never replaces it.
const CSS: &str = r#"
:root{color-scheme:light;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111;background:#fff}
body{margin:0 1.5rem 2rem}
h1{font-size:1.4rem;margin:1rem 0 .2rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}h3{font-size:1rem;margin:1rem 0 .3rem}
.summary{margin:0 0 .8rem;color:#333}
.legend ul{display:flex;flex-wrap:wrap;gap:.3rem 1rem;list-style:none;padding:0;margin:0}
.legend li{max-width:26rem}
.swatch{display:inline-block;padding:0 .4rem;border:1px solid #777;border-radius:3px;margin-right:.3rem;font-weight:600}
.matrix{overflow:auto;max-height:80vh;max-width:100%;width:max-content;border:1px solid #999}
table.m{display:block;border-spacing:0}
table.m thead,table.m tbody,table.m tfoot{display:block}
table.m tbody{content-visibility:auto;contain-intrinsic-size:auto 200rem}
table.m tr{display:flex}
table.m th,table.m td{display:block;flex:0 0 8rem;box-sizing:border-box;border-right:1px solid #bbb;border-bottom:1px solid #bbb;padding:.2rem .35rem;overflow-wrap:anywhere}
table.m thead{position:sticky;top:0;z-index:2}
table.m thead th{background:#f4f4f4;text-align:left;font-weight:600}
table.m th[scope=row],table.m thead th.corner{position:sticky;left:0;z-index:1;background:#fafafa;text-align:left;font-weight:600;flex-basis:18rem}
table.m tfoot td,table.m tfoot th{background:#f4f4f4}
table.m small{display:block;font-weight:400;color:#333}
td[data-state=runs]:empty::before{content:"runs " attr(data-nodes)}
td[data-state=not-targeted]:empty::before{content:"not targeted " attr(data-nodes)}
td[data-state=not-targeted]:hover{position:relative}
td[data-state=not-targeted]:hover::after{content:"not selected by its nodeSelector, node affinity or nodeName";position:absolute;left:0;top:100%;z-index:4;width:16rem;padding:.3rem;background:#fff;color:#111;border:1px solid #555}
td.count{background:#fafafa}
[data-state=runs]{background:#c8e6c9}
[data-state=not-targeted]{background:#eceff1;color:#37474f}
[data-state=blocked]{background:#ffe0b2}
[data-state=unfit]{background:#ffcdd2}
[data-state=no-room]{background:#f8bbd0}
[data-state=preempts]{background:#fff59d}
[data-state=unhealthy]{background:#ef9a9a}
[data-state=mixed]{background:#e8e0f5}
td span[data-state]{display:block;margin:.1rem 0;padding:0 .2rem}
td a{color:inherit}
.bar{display:flex;flex-direction:column;gap:1px;margin:.2rem 0;width:12rem}
.bar span{display:block;height:4px;background:#999}
.bar .updated{background:#1b5e20}.bar .ready{background:#0d47a1}.bar .unavailable{background:#b71c1c}
.bar .track{background:#ddd;height:4px}
table.d{border-collapse:collapse;margin-bottom:.5rem}
table.d th,table.d td{border:1px solid #bbb;padding:.2rem .4rem;text-align:left;vertical-align:top}
article{content-visibility:auto;contain-intrinsic-size:auto 12rem}
pre{margin:0;white-space:pre-wrap;font:12px/1.35 ui-monospace,Menlo,Consolas,monospace}
"#;

impl Page {
    /// The page, as one string.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(256 * (1 + self.rows.len() * self.columns.len()));
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
        out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        let _ = writeln!(out, "<title>{}</title>", escape(&self.title));
        let _ = writeln!(out, "<style>{CSS}</style></head>\n<body>");
        let _ = writeln!(
            out,
            "<h1>{}</h1>\n<p class=\"summary\">{}</p>",
            escape(&self.title),
            escape(&self.summary)
        );
        self.legend(&mut out);
        if self.rows.is_empty() {
            out.push_str("<p>No DaemonSet in the input.</p>\n");
        } else {
            // Each column's key escaped once: it is written in every cell of the column.
            let keys: Vec<String> = self.columns.iter().map(|c| escape(&c.key)).collect();
            self.matrix(&mut out, &keys);
            self.details(&mut out, &keys);
        }
        out.push_str("</body></html>\n");
        out
    }

    fn legend(&self, out: &mut String) {
        out.push_str("<section class=\"legend\" aria-label=\"Legend\"><ul>\n");
        for state in State::ALL {
            let _ = writeln!(
                out,
                "<li><span class=\"swatch\" data-state=\"{}\">{}</span>{}</li>",
                state.word(),
                state.label(),
                state.meaning()
            );
        }
        out.push_str("<li><span class=\"swatch\" data-state=\"mixed\">mixed</span>several states in one pool: the cell lists each with its node count</li>\n");
        out.push_str("</ul></section>\n");
    }

    fn matrix(&self, out: &mut String, keys: &[String]) {
        // Rows are flex boxes of fixed widths (no table layout over every cell), and the
        // body comes in groups of rows the browser lays out only when scrolled to
        // (`content-visibility`): a 2,000 × 200 page renders in seconds, not a minute
        // (BENCHMARKS.md).
        let width_rem = 18 + 8 * (self.columns.len() + 1);
        let _ = writeln!(
            out,
            "<div class=\"matrix\" role=\"region\" aria-label=\"DaemonSets by node pool\" tabindex=\"0\">\n<table class=\"m\" style=\"width:{width_rem}rem\">"
        );
        out.push_str("<thead><tr><th scope=\"col\" class=\"corner\">DaemonSet</th>");
        for (column, key) in self.columns.iter().zip(keys) {
            let _ = write!(out, "<th scope=\"col\" data-pool=\"{key}\"");
            if let Some(namespace) = &column.namespace {
                let _ = write!(out, " data-namespace=\"{}\"", escape(namespace));
            }
            let _ = write!(out, ">{key}");
            let what = if column.template { "template, " } else { "" };
            match column.nodes {
                Some(n) => {
                    let _ = write!(
                        out,
                        "<small>{what}{}</small>",
                        crate::words::count(n, "node")
                    );
                }
                None => {
                    let _ = write!(out, "<small>{what}nodes unknown</small>");
                }
            }
            if let Some(namespace) = &column.namespace {
                let _ = write!(out, "<small>namespace {}</small>", escape(namespace));
            }
            out.push_str("</th>");
        }
        out.push_str("<th scope=\"col\">runs on</th></tr></thead>\n");
        for (i, row) in self.rows.iter().enumerate() {
            if i % ROWS_PER_BODY == 0 {
                if i > 0 {
                    out.push_str("</tbody>\n");
                }
                out.push_str("<tbody>\n");
            }
            let daemonset = escape(&row.daemonset);
            let _ = write!(
                out,
                "<tr data-daemonset=\"{daemonset}\"><th scope=\"row\"><a href=\"#ds-{i}\">{daemonset}</a><small>{}</small>",
                escape(&row.note)
            );
            if let Some(bar) = &row.bar {
                rollout_bar(out, bar);
            }
            out.push_str("</th>");
            let mut runs = 0;
            let mut total = 0;
            for (j, (cell, column)) in row.cells.iter().zip(&self.columns).enumerate() {
                if !column.template {
                    runs += cell
                        .parts
                        .iter()
                        .filter(|p| p.state == State::Runs)
                        .map(|p| p.nodes)
                        .sum::<u64>();
                    total += cell.nodes();
                }
                write_cell(out, &daemonset, &keys[j], cell, i, j);
            }
            let _ = writeln!(
                out,
                "<td class=\"count\" data-runs=\"{runs}\" data-of=\"{total}\">{runs} of {}</td></tr>",
                crate::words::count(total, "node")
            );
        }
        out.push_str(
            "</tbody>\n<tfoot><tr><th scope=\"row\">DaemonSets that run here / with a problem</th>",
        );
        for (j, key) in keys.iter().enumerate() {
            let running = self
                .rows
                .iter()
                .filter(|r| r.cells[j].has(State::Runs))
                .count();
            let troubled = self
                .rows
                .iter()
                .filter(|r| r.cells[j].has_problem())
                .count();
            let _ = write!(
                out,
                "<td class=\"count\" data-pool=\"{key}\" data-runs=\"{running}\" data-problems=\"{troubled}\">{running} / {troubled}</td>"
            );
        }
        out.push_str("<td class=\"count\"></td></tr></tfoot>\n</table></div>\n");
    }

    fn details(&self, out: &mut String, keys: &[String]) {
        out.push_str("<section id=\"details\"><h2>Details</h2>\n");
        for (i, row) in self.rows.iter().enumerate() {
            let _ = writeln!(
                out,
                "<article id=\"ds-{i}\"><h3>{}</h3><p>{}</p>",
                escape(&row.daemonset),
                escape(&row.note)
            );
            for (label, text) in &row.details {
                let _ = writeln!(
                    out,
                    "<p><strong>{}</strong></p><pre>{}</pre>",
                    escape(label),
                    escape(text)
                );
            }
            let problems: Vec<(usize, &Cell)> = row
                .cells
                .iter()
                .enumerate()
                .filter(|(_, c)| c.has_problem())
                .collect();
            let runs_somewhere = row.cells.iter().any(|c| c.has(State::Runs));
            if problems.is_empty() && runs_somewhere {
                out.push_str("<p>Nothing to fix: every node it targets runs it.</p>\n");
            } else if problems.is_empty() {
                out.push_str("<p>It targets none of these nodes: its nodeSelector or node affinity selects no node here (<code>dsguard lint</code> names the label that is missing).</p>\n");
            } else {
                out.push_str("<table class=\"d\"><thead><tr><th scope=\"col\">pool</th><th scope=\"col\">state</th><th scope=\"col\">nodes</th><th scope=\"col\">why</th><th scope=\"col\">fix</th></tr></thead><tbody>\n");
                for (j, cell) in problems {
                    let pool = &keys[j];
                    let mut first = true;
                    for p in cell.parts.iter().filter(|p| p.state.is_problem()) {
                        for c in &p.causes {
                            let id = if first {
                                format!(" id=\"c-{i}-{j}\"")
                            } else {
                                String::new()
                            };
                            first = false;
                            let mut nodes = c.nodes.to_string();
                            if !c.examples.is_empty() {
                                let more = c.nodes.saturating_sub(c.examples.len() as u64);
                                let _ = write!(nodes, " (e.g. {}", escape(&c.examples.join(", ")));
                                if more > 0 {
                                    let _ = write!(nodes, " and {more} more");
                                }
                                nodes.push(')');
                            }
                            let _ = writeln!(
                                out,
                                "<tr{id} data-pool=\"{pool}\" data-state=\"{}\"><td>{pool}</td><td>{}</td><td>{nodes}</td><td>{}</td><td><pre>{}</pre></td></tr>",
                                p.state.word(),
                                escape(&part_label(p)),
                                escape(&c.why),
                                escape(&c.fix)
                            );
                        }
                    }
                }
                out.push_str("</tbody></table>\n");
            }
            out.push_str("</article>\n");
        }
        out.push_str("</section>\n");
    }
}

/// One matrix cell (row `i`, column `j`): its DOM, hover, link and words.
fn write_cell(out: &mut String, daemonset: &str, pool: &str, cell: &Cell, i: usize, j: usize) {
    let state = cell.state_word();
    let _ = write!(
        out,
        "<td data-daemonset=\"{daemonset}\" data-pool=\"{pool}\" data-state=\"{state}\" data-nodes=\"{}\"",
        cell.nodes()
    );
    if let [only] = cell.parts.as_slice()
        && let Some(reason) = only.reason
    {
        let _ = write!(out, " data-reason=\"{reason}\"");
    }
    // The hover: every cause's reason and the first line of its fix. A cell that is
    // only "not targeted" (most cells of a large page) gets the stylesheet's hover.
    let only_not_targeted = cell.parts.iter().all(|p| p.state == State::NotTargeted);
    let hover: Vec<String> = cell
        .parts
        .iter()
        .filter(|p| p.state != State::Runs && !only_not_targeted)
        .flat_map(|p| {
            p.causes.iter().map(move |c| {
                let fix = c.fix.lines().next().unwrap_or("");
                format!("{} {}: {}. Fix: {fix}", part_label(p), c.nodes, c.why)
            })
        })
        .collect();
    if !hover.is_empty() {
        let _ = write!(out, " title=\"{}\"", escape(&hover.join("\n")));
    }
    out.push('>');
    let link = cell.has_problem();
    if link {
        let _ = write!(out, "<a href=\"#c-{i}-{j}\">");
    }
    match cell.parts.as_slice() {
        [] => out.push('–'),
        // The bulk of a large page: its words come from the stylesheet (`:empty`), one
        // text node fewer per cell.
        [only] if only.reason.is_none() && !only.state.is_problem() => {}
        [only] => {
            let _ = write!(out, "{} {}", cell_label(only), only.nodes);
        }
        parts => {
            for p in parts {
                let _ = write!(
                    out,
                    "<span data-state=\"{}\" data-nodes=\"{}\"",
                    p.state.word(),
                    p.nodes
                );
                if let Some(reason) = p.reason {
                    let _ = write!(out, " data-reason=\"{reason}\"");
                }
                let _ = write!(out, ">{} {}</span>", cell_label(p), p.nodes);
            }
        }
    }
    if link {
        out.push_str("</a>");
    }
    out.push_str("</td>");
}

/// What a cell says of a part: the state, or for `unhealthy` the reason itself
/// (`CrashLoop 2`: a cell is narrow; the title and the details say `unhealthy (CrashLoop)`).
fn cell_label(part: &Part) -> &'static str {
    part.reason.unwrap_or(part.state.label())
}

fn part_label(part: &Part) -> String {
    match part.reason {
        Some(reason) => format!("{} ({reason})", part.state.label()),
        None => part.state.label().to_owned(),
    }
}

fn rollout_bar(out: &mut String, bar: &RolloutBar) {
    let share = |n: i64| -> f64 {
        if bar.desired <= 0 {
            0.0
        } else {
            (n.clamp(0, bar.desired) as f64) * 100.0 / bar.desired as f64
        }
    };
    let _ = write!(
        out,
        "<div class=\"bar\" data-rollout=\"{}\" data-desired=\"{}\" data-updated=\"{}\" data-ready=\"{}\" data-unavailable=\"{}\">",
        bar.state, bar.desired, bar.updated, bar.ready, bar.unavailable
    );
    for (class, n) in [
        ("updated", bar.updated),
        ("ready", bar.ready),
        ("unavailable", bar.unavailable),
    ] {
        let _ = write!(
            out,
            "<div class=\"track\"><span class=\"{class}\" style=\"width:{:.1}%\"></span></div>",
            share(n)
        );
    }
    let _ = write!(
        out,
        "</div><small>rollout {}: updated {}, ready {}, unavailable {} of {} desired</small>",
        bar.state, bar.updated, bar.ready, bar.unavailable, bar.desired
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_turns_markup_and_quotes_into_text() {
        assert_eq!(
            escape(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
        assert_eq!(escape("a\u{0}b\nc\u{7f}"), "a\u{FFFD}b\nc\u{FFFD}");
    }

    fn page(rows: Vec<Row>) -> Page {
        Page {
            title: "t".into(),
            summary: "s".into(),
            columns: vec![Column {
                key: "</table>".into(),
                nodes: Some(3),
                namespace: None,
                template: false,
            }],
            rows,
        }
    }

    #[test]
    fn one_state_names_the_cell_and_several_make_it_mixed() {
        let mut only = CellBuilder::default();
        only.add(State::Runs, None, "", String::new, 3, None);
        let mut mixed = CellBuilder::default();
        mixed.add(State::Runs, None, "", String::new, 1, None);
        mixed.add(
            State::Blocked,
            None,
            "untolerated a:NoSchedule",
            || "tolerate".into(),
            2,
            Some("n1"),
        );
        let (only, mixed) = (only.finish(), mixed.finish());
        assert_eq!((only.state_word(), only.nodes()), ("runs", 3));
        assert_eq!((mixed.state_word(), mixed.nodes()), ("mixed", 3));
        let mut unhealthy = CellBuilder::default();
        unhealthy.add(
            State::Unhealthy,
            Some("CrashLoop"),
            "a",
            String::new,
            1,
            None,
        );
        unhealthy.add(
            State::Unhealthy,
            Some("ImagePull"),
            "b",
            String::new,
            1,
            None,
        );
        assert_eq!(unhealthy.finish().state_word(), "unhealthy");
    }

    #[test]
    fn every_string_from_the_input_is_escaped_in_the_page() {
        let mut cell = CellBuilder::default();
        cell.add(
            State::Blocked,
            None,
            "<b>why</b>",
            || "\"fix\"".into(),
            3,
            Some("<img src=x>"),
        );
        let html = page(vec![Row {
            daemonset: "ns/<script>alert(1)</script>".into(),
            note: "'note'".into(),
            bar: None,
            cells: vec![cell.finish()],
            details: vec![("<i>".into(), "</pre>".into())],
        }])
        .render();
        for raw in [
            "<script>alert",
            "data-pool=\"</table>\"",
            "<b>why",
            "<img",
            "\"fix\"",
            "<i>",
            "'note'",
        ] {
            assert!(!html.contains(raw), "{raw} is in the page unescaped");
        }
        assert!(html.contains("data-daemonset=\"ns/&lt;script&gt;alert(1)&lt;/script&gt;\""));
        assert!(
            html.contains("data-pool=\"&lt;/table&gt;\" data-state=\"blocked\" data-nodes=\"3\"")
        );
    }

    /// WCAG 2's contrast ratio of two `#rrggbb` / `#rgb` colours.
    fn contrast(a: &str, b: &str) -> f64 {
        let luminance = |hex: &str| {
            let hex = hex.trim_start_matches('#');
            let hex: String = if hex.len() == 3 {
                hex.chars().flat_map(|c| [c, c]).collect()
            } else {
                hex.to_owned()
            };
            let channel = |i: usize| {
                let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
                if c <= 0.03928 {
                    c / 12.92
                } else {
                    ((c + 0.055) / 1.055).powf(2.4)
                }
            };
            0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
        };
        let (x, y) = (luminance(a), luminance(b));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    #[test]
    fn every_state_colour_keeps_its_text_above_wcag_aa() {
        let mut checked = 0;
        for word in State::ALL.map(State::word).into_iter().chain(["mixed"]) {
            let rule_start = CSS
                .find(&format!("\n[data-state={word}]{{"))
                .unwrap_or_else(|| panic!("no colour for {word}"));
            let rule = &CSS[rule_start..CSS[rule_start..].find('}').unwrap() + rule_start];
            let value = |property: &str| {
                rule.split(['{', ';'])
                    .find_map(|d| d.strip_prefix(property))
                    .map(str::to_owned)
            };
            let background = value("background:").unwrap();
            let text = value("color:").unwrap_or_else(|| "#111".into());
            let ratio = contrast(&background, &text);
            assert!(ratio >= 4.5, "{word}: {ratio:.1}:1");
            checked += 1;
        }
        assert_eq!(checked, 8);
    }

    #[test]
    fn a_page_without_rows_says_so() {
        assert!(
            page(Vec::new())
                .render()
                .contains("No DaemonSet in the input.")
        );
    }
}
