//! The DaemonSets already in the cluster, judged and kept judged (`serve --cluster`).
//!
//! An adapter like `lint`: it feeds each DaemonSet to the same `policy::evaluate` and
//! `policy::placement` and keeps what came out: node counts, findings, and the coverage
//! gaps, the targeted places a DaemonSet cannot run on, grouped by pool and cause (a taint
//! it does not tolerate, too little allocatable, a template it cannot run on, a selector
//! that matches nothing). Comparing a DaemonSet's gaps before and after a change gives
//! the coverage transitions its Events report; [`policy_reports`] turns the findings into
//! PolicyReports. Pure: the watch, the Events and the report writes live in `cluster/`.
//! docs/audit.md says what each output means.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::config::Config;
use crate::inventory::{Inventory, NodeDifference};
use crate::policy::{self, Context, DaemonSet, Rule, Severity};
use crate::scheduling::NodeSelection;

/// Where a DaemonSet is: namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn of(object: &DaemonSet) -> Self {
        Key {
            namespace: object.namespace_or_default().to_owned(),
            name: object.name().to_owned(),
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// How many existing nodes a DaemonSet targets, and what becomes of its pod there.
/// `runnable` is targeted and tolerated, as `coverage` counts it; `unfit` are the
/// runnable nodes whose allocatable cannot hold one pod (its pod stays Pending there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeCounts {
    pub targeted: u64,
    pub runnable: u64,
    pub blocked: u64,
    pub unfit: u64,
}

impl NodeCounts {
    /// Every state the `dsguard_daemonset_nodes` metric exports, with its value.
    pub fn states(&self) -> [(&'static str, u64); 4] {
        [
            ("targeted", self.targeted),
            ("runnable", self.runnable),
            ("blocked", self.blocked),
            ("unfit", self.unfit),
        ]
    }
}

/// One finding of the engine about a DaemonSet, as reports carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditFinding {
    pub rule: Rule,
    pub severity: Severity,
    pub message: String,
}

/// What a gap is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GapKind {
    /// Existing nodes of one pool; the count is the number of nodes.
    Nodes,
    /// An autoscaler template (the nodes it will make); the count is 1.
    Template,
    /// The selector matches no node at all; the count is 1.
    Selector,
}

/// A place a DaemonSet targets but cannot run on, and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gap {
    pub kind: GapKind,
    /// The pool (first pool label value), the template (`NodePool general`), or empty.
    pub place: String,
    /// `untolerated taints dedicated=infra:NoSchedule`, `requests exceed allocatable: cpu`…
    pub cause: String,
}

/// Everything the audit keeps about one DaemonSet after judging it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Judgement {
    pub uid: String,
    pub nodes: NodeCounts,
    pub findings: Vec<AuditFinding>,
    /// Exemptions used, by where they came from (`namespace`, `objectSelector`,
    /// `annotation`), with how many rules each silenced.
    pub exemptions: BTreeMap<&'static str, u64>,
    /// Shared with every DaemonSet of the same reach whose gaps are only its taints.
    pub gaps: Arc<BTreeMap<Gap, u64>>,
}

impl Judgement {
    /// Findings by rule and severity, with their number (the findings metric).
    pub fn finding_counts(&self) -> BTreeMap<(Rule, Severity), u64> {
        let mut counts = BTreeMap::new();
        for finding in &self.findings {
            *counts.entry((finding.rule, finding.severity)).or_insert(0) += 1;
        }
        counts
    }
}

const NO_POOL: &str = "(no pool label)";

/// One DaemonSet through the engine, mutation first then validation, as `lint` and
/// `dsguard audit` judge it, plus where it runs.
pub fn judge(object: &DaemonSet, inventory: &Inventory, config: &Config) -> Judgement {
    let namespace = object.namespace_or_default();
    let context = Context::offline(inventory, config, namespace);
    let (verdict, placement) = policy::evaluate_placed(object, &context);
    let mut exemptions = BTreeMap::new();
    for used in &verdict.exemptions {
        *exemptions.entry(used.source.as_str()).or_insert(0) += 1;
    }
    let findings: Vec<AuditFinding> = verdict
        .findings
        .into_iter()
        .map(|f| AuditFinding {
            rule: f.rule,
            severity: f.severity,
            message: f.message,
        })
        .collect();
    let mut judgement = Judgement {
        uid: object.uid().to_owned(),
        exemptions,
        ..Judgement::default()
    };
    // Exempt as a whole (no placement judged): not audited for coverage either.
    let Some(placement) = placement else {
        judgement.findings = findings;
        return judgement;
    };
    let pool_keys = &config.rules.untolerated_taints.pool_label_keys;
    let reach = &placement.reach;
    // The gaps taints make depend on the reach alone: shared by every DaemonSet with the
    // same selection and tolerations.
    let taint_gaps = reach.remembered.get_or_compute(pool_keys, || {
        let mut gaps = BTreeMap::new();
        for group in &reach.blocked {
            add_nodes(
                &mut gaps,
                inventory,
                pool_keys,
                &group.nodes,
                &format!("untolerated taints {}", group.taint_list()),
            );
        }
        gaps
    });
    let mut gaps = taint_gaps;
    let mut unfit = 0;
    // Where one pod does not fit depends on the reach and its requests alone. (Requests
    // that cannot be read have been reported by DSG005; no node is judged unfit.)
    let unfit_groups = match policy::effective_requests(object, inventory, namespace) {
        Ok(requests) => reach.remembered.get_or_compute(&requests, || {
            policy::unfit_groups(&requests, inventory, &reach.runnable)
        }),
        Err(_) => Arc::default(),
    };
    for (short, nodes) in unfit_groups.iter() {
        unfit += nodes.len();
        add_nodes(
            Arc::make_mut(&mut gaps),
            inventory,
            pool_keys,
            nodes,
            &format!("requests exceed allocatable: {}", short.join(", ")),
        );
    }
    for template_placement in placement.templates.iter().filter(|p| p.targeted) {
        if template_placement.untolerated.is_empty() {
            continue;
        }
        let template = &inventory.templates()[template_placement.index];
        Arc::make_mut(&mut gaps).insert(
            Gap {
                kind: GapKind::Template,
                place: format!("{} {}", template.kind.as_str(), template.name),
                cause: format!(
                    "untolerated taints {}",
                    crate::scheduling::taint_list(&template_placement.untolerated)
                ),
            },
            1,
        );
    }
    if let Some(no_node) = findings
        .iter()
        .find(|f| f.rule == Rule::SelectorMatchesNoNode && f.severity != Severity::Info)
    {
        let first_line = no_node.message.lines().next().unwrap_or_default();
        Arc::make_mut(&mut gaps).insert(
            Gap {
                kind: GapKind::Selector,
                place: String::new(),
                cause: first_line.to_owned(),
            },
            1,
        );
    }
    judgement.nodes = NodeCounts {
        targeted: reach.targeted.len(),
        runnable: reach.runnable.len(),
        blocked: reach.blocked_count(),
        unfit,
    };
    judgement.findings = findings;
    judgement.gaps = gaps;
    judgement
}

/// Counts `nodes` into `gaps`, one gap per pool, all with the same cause.
fn add_nodes(
    gaps: &mut BTreeMap<Gap, u64>,
    inventory: &Inventory,
    pool_keys: &[String],
    nodes: &roaring::RoaringBitmap,
    cause: &str,
) {
    for (pool, members) in inventory.split_by_pool(nodes, pool_keys).iter() {
        let gap = Gap {
            kind: GapKind::Nodes,
            place: pool.clone().unwrap_or_else(|| NO_POOL.to_owned()),
            cause: cause.to_owned(),
        };
        *gaps.entry(gap).or_insert(0) += members.len();
    }
}

/// A gap that grew, shrank, appeared or went away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GapChange {
    pub gap: Gap,
    pub before: u64,
    pub after: u64,
}

impl GapChange {
    fn describe(&self, count: u64) -> String {
        match self.gap.kind {
            GapKind::Nodes => format!(
                "{count} node{} in pool {}: {}",
                if count == 1 { "" } else { "s" },
                self.gap.place,
                self.gap.cause
            ),
            GapKind::Template => format!("template {}: {}", self.gap.place, self.gap.cause),
            GapKind::Selector => self.gap.cause.clone(),
        }
    }
}

/// How a DaemonSet's coverage changed between two judgements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverageChange {
    /// Gaps that appeared or grew.
    pub lost: Vec<GapChange>,
    /// Gaps that went away or shrank.
    pub restored: Vec<GapChange>,
}

/// Longest Event note the Events API accepts (1 kB).
const MAX_NOTE_BYTES: usize = 1024;

impl CoverageChange {
    pub fn between(before: &Judgement, after: &Judgement) -> Self {
        let mut change = CoverageChange::default();
        if Arc::ptr_eq(&before.gaps, &after.gaps) || before.gaps == after.gaps {
            return change;
        }
        for (gap, &now) in after.gaps.iter() {
            let was = before.gaps.get(gap).copied().unwrap_or(0);
            if now > was {
                change.lost.push(GapChange {
                    gap: gap.clone(),
                    before: was,
                    after: now,
                });
            }
        }
        for (gap, &was) in before.gaps.iter() {
            let now = after.gaps.get(gap).copied().unwrap_or(0);
            if now < was {
                change.restored.push(GapChange {
                    gap: gap.clone(),
                    before: was,
                    after: now,
                });
            }
        }
        change
    }

    pub fn is_empty(&self) -> bool {
        self.lost.is_empty() && self.restored.is_empty()
    }

    /// The `CoverageLost` note: what it can no longer run on, by pool and cause.
    pub fn lost_note(&self) -> String {
        let nodes = nodes_changed(&self.lost);
        bounded_note(
            format!(
                "no longer runs on {}: ",
                crate::words::count(nodes, "targeted node")
            ),
            describe_all(&self.lost),
        )
    }

    /// The `CoverageRestored` note: where it can run again.
    pub fn restored_note(&self) -> String {
        let nodes = nodes_changed(&self.restored);
        bounded_note(
            format!("runs again on {}: ", crate::words::count(nodes, "node")),
            describe_all(&self.restored),
        )
    }
}

impl GapChange {
    /// By how much the gap grew or shrank.
    fn size(&self) -> u64 {
        self.after.abs_diff(self.before)
    }
}

/// Nodes (not templates or selectors) that changes moved in or out of coverage.
fn nodes_changed(changes: &[GapChange]) -> u64 {
    changes
        .iter()
        .filter(|c| c.gap.kind == GapKind::Nodes)
        .map(GapChange::size)
        .sum()
}

fn describe_all(changes: &[GapChange]) -> Vec<String> {
    changes.iter().map(|c| c.describe(c.size())).collect()
}

/// `head` then the parts joined by `; `, cut (with how many were left out) to what the
/// Events API accepts.
fn bounded_note(head: String, parts: Vec<String>) -> String {
    let mut note = head;
    for (index, part) in parts.iter().enumerate() {
        let separator = if index == 0 { "" } else { "; " };
        let rest = parts.len() - index - 1;
        let tail = if rest > 0 {
            format!("; … and {rest} more")
        } else {
            String::new()
        };
        if note.len() + separator.len() + part.len() + tail.len() > MAX_NOTE_BYTES {
            note.push_str(&format!("; … and {} more", parts.len() - index));
            break;
        }
        note.push_str(separator);
        note.push_str(part);
    }
    if note.len() > MAX_NOTE_BYTES {
        let mut cut = MAX_NOTE_BYTES - 3;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push('…');
    }
    note
}

/// A DaemonSet whose coverage changed while it was watched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub key: Key,
    pub uid: String,
    pub change: CoverageChange,
}

#[derive(Debug)]
struct Audited {
    object: Arc<DaemonSet>,
    /// The nodes it selects, and the tolerations its pods carry without dsguard's
    /// injection (its own and the DaemonSet controller's): kept to tell which node changes
    /// can affect it.
    selection: NodeSelection,
    tolerations: Vec<crate::scheduling::Toleration>,
    judgement: Judgement,
    /// Where its pods run and what each requests: its part of every node's daemon
    /// overhead (`None`: resources unreadable, not counted), as of the nodes of the last
    /// judgement of every DaemonSet.
    footprint: Option<crate::inventory::DaemonLoad>,
}

/// A DaemonSet's footprint on `inventory`'s nodes, as `lint --daemonsets` counts it.
fn footprint(
    object: &DaemonSet,
    inventory: &Inventory,
    config: &Config,
) -> Option<crate::inventory::DaemonLoad> {
    policy::daemon_load(
        object,
        &Context::offline(inventory, config, object.namespace_or_default()),
    )
}

/// `object`'s footprint now, and whether it moved the overhead. One equal to what `before`
/// had keeps `before`'s (which is as of the nodes of the last judgement of all).
fn footprint_after(
    object: &DaemonSet,
    before: Option<&Audited>,
    inventory: &Inventory,
    config: &Config,
) -> (Option<crate::inventory::DaemonLoad>, bool) {
    let now = footprint(object, inventory, config);
    match before {
        Some(before) if before.footprint == now => (before.footprint.clone(), false),
        None if now.is_none() => (None, false),
        _ => (now, true),
    }
}

impl Audited {
    fn new(
        object: DaemonSet,
        judgement: Judgement,
        footprint: Option<crate::inventory::DaemonLoad>,
    ) -> Self {
        let tolerations = object.pod_tolerations(&[]);
        Audited {
            selection: object.selection(),
            tolerations,
            object: Arc::new(object),
            judgement,
            footprint,
        }
    }

    /// True when one of `changes` can change its judgement:
    /// - a node it selected before the change and not after, or the other way round;
    /// - a node it selects both times whose taints it does not tolerate, allocatable,
    ///   pool or pods changed. A taint it tolerates, or a label nothing reads, changes nothing.
    ///   When the config injects tolerations for the taints found on the targeted nodes
    ///   (`autoTolerateTaintKeys`), any taint change counts: the injection can change;
    /// - anything, when it selects no node at all: its explanation names the labels the
    ///   cluster has.
    ///
    /// With `occupants` false, what else runs on a node is left out: what is left can move
    /// where its own pods run (its footprint).
    fn affected_by(
        &self,
        changes: &[NodeDifference<'_>],
        config: &Config,
        occupants: bool,
    ) -> bool {
        if self.judgement.nodes.targeted == 0 {
            return true;
        }
        let selects = |node: &crate::inventory::NodeRecord| {
            self.selection.matches(&node.name, |k| node.label(k))
        };
        let operators = config.toleration_comparison_operators;
        let every_taint = !config
            .mutations
            .default_tolerations
            .auto_tolerate_taint_keys
            .is_empty();
        let pool_keys = &config.rules.untolerated_taints.pool_label_keys;
        let relevant = |node: &crate::inventory::NodeRecord| {
            let taints: Vec<crate::scheduling::Taint> = if every_taint {
                node.taints.to_vec()
            } else {
                crate::scheduling::untolerated_taints(&node.taints, &self.tolerations, operators)
                    .cloned()
                    .collect()
            };
            let pools: Vec<Option<String>> = pool_keys
                .iter()
                .map(|k| node.label(k).map(str::to_owned))
                .collect();
            (taints, node.allocatable.clone(), pools)
        };
        changes.iter().any(|change| {
            match (
                change.before.filter(|n| selects(n)),
                change.after.filter(|n| selects(n)),
            ) {
                (None, None) => false,
                (Some(before), Some(after)) => {
                    (occupants && change.occupants_changed) || relevant(before) != relevant(after)
                }
                _ => true,
            }
        })
    }
}

/// Every watched DaemonSet with its current judgement.
#[derive(Debug, Default)]
pub struct Audit {
    daemonsets: BTreeMap<Key, Audited>,
    /// A DaemonSet added, removed or changed where its pods run or what they request
    /// since [`Audit::take_footprints_moved`] last asked: every node's overhead may differ.
    footprints_moved: bool,
}

impl Audit {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.daemonsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.daemonsets.is_empty()
    }

    /// A DaemonSet added or changed: judged now. A transition when it was known before
    /// (same uid) and its coverage changed; one seen for the first time has none.
    pub fn apply(
        &mut self,
        object: DaemonSet,
        inventory: &Inventory,
        config: &Config,
    ) -> Option<Transition> {
        let key = Key::of(&object);
        let judgement = judge(&object, inventory, config);
        let (footprint, moved) =
            footprint_after(&object, self.daemonsets.get(&key), inventory, config);
        self.footprints_moved |= moved;
        let before = self
            .daemonsets
            .insert(key.clone(), Audited::new(object, judgement, footprint))?;
        let after = &self.daemonsets[&key].judgement;
        transition(&key, &before.judgement, after, &mut ChangesSeen::default())
    }

    /// A DaemonSet deleted: its series and report results go with it.
    pub fn delete(&mut self, key: &Key) -> bool {
        let removed = self.daemonsets.remove(key);
        if removed.as_ref().is_some_and(|a| a.footprint.is_some()) {
            self.footprints_moved = true;
        }
        removed.is_some()
    }

    /// Whether a DaemonSet moved the overhead since the last call (and forgets it).
    pub fn take_footprints_moved(&mut self) -> bool {
        std::mem::take(&mut self.footprints_moved)
    }

    /// Every DaemonSet's footprint on `inventory`'s nodes, in namespace and name order:
    /// the loads DSG005 counts. With `changes` (the nodes that changed since the last
    /// judgement of all), only the DaemonSets a change can move are placed again, the
    /// others keep theirs; without, every one is.
    pub fn daemon_loads(
        &mut self,
        changes: Option<&[NodeDifference<'_>]>,
        inventory: &Inventory,
        config: &Config,
    ) -> Vec<crate::inventory::DaemonLoad> {
        self.daemonsets
            .values_mut()
            .filter_map(|audited| {
                if changes.is_none_or(|changes| audited.affected_by(changes, config, false)) {
                    audited.footprint = footprint(&audited.object, inventory, config);
                }
                audited.footprint.clone()
            })
            .collect()
    }

    /// A full list of the DaemonSets (the watch's start or relist): those known before are
    /// compared as by [`Audit::apply`], the others are new, the missing ones deleted.
    pub fn reset(
        &mut self,
        objects: Vec<DaemonSet>,
        inventory: &Inventory,
        config: &Config,
    ) -> Vec<Transition> {
        let mut before = std::mem::take(&mut self.daemonsets);
        let mut transitions = Vec::new();
        let mut changes = ChangesSeen::default();
        inventory.remember_answers_for(objects.len());
        for object in objects {
            let key = Key::of(&object);
            let judgement = judge(&object, inventory, config);
            let old = before.remove(&key);
            let (footprint, moved) = footprint_after(&object, old.as_ref(), inventory, config);
            self.footprints_moved |= moved;
            if let Some(old) = old
                && let Some(t) = transition(&key, &old.judgement, &judgement, &mut changes)
            {
                transitions.push(t);
            }
            self.daemonsets
                .insert(key, Audited::new(object, judgement, footprint));
        }
        if before.values().any(|gone| gone.footprint.is_some()) {
            self.footprints_moved = true;
        }
        transitions
    }

    /// Every DaemonSet judged again against a changed inventory or config.
    pub fn rejudge(&mut self, inventory: &Inventory, config: &Config) -> Vec<Transition> {
        self.rejudge_where(inventory, config, |_| true)
    }

    /// Only the DaemonSets that `changes` (nodes added, changed or removed, nothing else)
    /// can affect, judged again (see `Audited::affected_by`). The others' judgements cannot
    /// differ: every count, gap and finding of a DaemonSet is about the nodes it selects,
    /// their taints it does not tolerate, their allocatable and their pool.
    pub fn rejudge_nodes(
        &mut self,
        changes: &[NodeDifference<'_>],
        inventory: &Inventory,
        config: &Config,
    ) -> Vec<Transition> {
        self.rejudge_where(inventory, config, |audited| {
            audited.affected_by(changes, config, true)
        })
    }

    fn rejudge_where(
        &mut self,
        inventory: &Inventory,
        config: &Config,
        affected: impl Fn(&Audited) -> bool,
    ) -> Vec<Transition> {
        let mut transitions = Vec::new();
        let mut changes = ChangesSeen::default();
        for (key, audited) in &mut self.daemonsets {
            if !affected(audited) {
                continue;
            }
            let judgement = judge(&audited.object, inventory, config);
            if let Some(t) = transition(key, &audited.judgement, &judgement, &mut changes) {
                transitions.push(t);
            }
            audited.judgement = judgement;
        }
        transitions
    }

    /// The DaemonSets audited, in namespace and name order.
    pub fn daemonsets(&self) -> impl Iterator<Item = &DaemonSet> {
        self.daemonsets.values().map(|a| a.object.as_ref())
    }

    pub fn judgements(&self) -> impl Iterator<Item = (&Key, &Judgement)> {
        self.daemonsets.iter().map(|(k, a)| (k, &a.judgement))
    }

    pub fn judgement(&self, key: &Key) -> Option<&Judgement> {
        self.daemonsets.get(key).map(|a| &a.judgement)
    }
}

/// What the metrics export about one DaemonSet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    pub key: Key,
    pub nodes: NodeCounts,
    /// Findings by rule and severity; a pair without findings is absent.
    pub findings: Vec<((Rule, Severity), u64)>,
    /// Exemptions used, by source; a source not used is absent.
    pub exemptions: Vec<(&'static str, u64)>,
}

impl Audit {
    /// The metrics' view of every DaemonSet, taken after each judgement.
    pub fn summary(&self) -> Vec<SummaryRow> {
        self.judgements()
            .map(|(key, judgement)| SummaryRow {
                key: key.clone(),
                nodes: judgement.nodes,
                findings: judgement.finding_counts().into_iter().collect(),
                exemptions: judgement
                    .exemptions
                    .iter()
                    .map(|(source, count)| (*source, *count))
                    .collect(),
            })
            .collect()
    }
}

/// Coverage changes already worked out in one pass over the DaemonSets, by the pair of gap
/// maps compared: DaemonSets of the same reach share their gap maps, so one comparison
/// serves them all. Both maps are held while remembered, so neither address can be
/// reused by another map.
#[derive(Default)]
struct ChangesSeen {
    known: std::collections::HashMap<(usize, usize), ChangeSeen>,
}

struct ChangeSeen {
    _held: [Arc<BTreeMap<Gap, u64>>; 2],
    change: Arc<CoverageChange>,
}

impl ChangesSeen {
    fn between(&mut self, before: &Judgement, after: &Judgement) -> Arc<CoverageChange> {
        let address = |gaps: &Arc<BTreeMap<Gap, u64>>| Arc::as_ptr(gaps) as usize;
        self.known
            .entry((address(&before.gaps), address(&after.gaps)))
            .or_insert_with(|| ChangeSeen {
                _held: [before.gaps.clone(), after.gaps.clone()],
                change: Arc::new(CoverageChange::between(before, after)),
            })
            .change
            .clone()
    }
}

/// The coverage change of one DaemonSet, if any, with `changes` the pass's comparisons.
fn transition(
    key: &Key,
    before: &Judgement,
    after: &Judgement,
    changes: &mut ChangesSeen,
) -> Option<Transition> {
    // A DaemonSet deleted and created again under the same name starts afresh.
    if before.uid != after.uid {
        return None;
    }
    let change = changes.between(before, after);
    (!change.is_empty()).then(|| Transition {
        key: key.clone(),
        uid: after.uid.clone(),
        change: CoverageChange::clone(&change),
    })
}

/// The name every report has, one per namespace.
pub const REPORT_NAME: &str = "dsguard";
/// Results kept in one namespace's report; a PolicyReport is one object, and an object
/// must stay well under the API server's 1.5 MB request limit.
pub const MAX_REPORT_RESULTS: usize = 1000;
/// Longest result message kept.
const MAX_RESULT_MESSAGE: usize = 1024;

/// One `wgpolicyk8s.io/v1alpha2` PolicyReport per namespace that has DaemonSets with deny
/// or warn findings (namespaces without any have none), each built as it is asked for:
/// the object to apply, by namespace, in namespace order.
pub fn policy_reports(audit: &Audit) -> impl Iterator<Item = (String, Value)> + '_ {
    let mut by_namespace: BTreeMap<&str, Vec<(&Key, &Judgement)>> = BTreeMap::new();
    for (key, judgement) in audit.judgements() {
        if judgement
            .findings
            .iter()
            .any(|f| f.severity != Severity::Info)
        {
            by_namespace
                .entry(key.namespace.as_str())
                .or_default()
                .push((key, judgement));
        }
    }
    by_namespace.into_iter().map(|(namespace, daemonsets)| {
        (
            namespace.to_owned(),
            namespace_report(namespace, &daemonsets),
        )
    })
}

fn namespace_report(namespace: &str, daemonsets: &[(&Key, &Judgement)]) -> Value {
    let mut results: Vec<Value> = Vec::new();
    let (mut fail, mut warn) = (0, 0);
    for (key, judgement) in daemonsets {
        for finding in &judgement.findings {
            let (result, severity) = match finding.severity {
                Severity::Deny => ("fail", "high"),
                Severity::Warn => ("warn", "medium"),
                Severity::Info => continue,
            };
            if results.len() >= MAX_REPORT_RESULTS {
                break;
            }
            if finding.severity == Severity::Deny {
                fail += 1;
            } else {
                warn += 1;
            }
            let mut message = finding.message.clone();
            if message.len() > MAX_RESULT_MESSAGE {
                let mut cut = MAX_RESULT_MESSAGE;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
                message.push('…');
            }
            results.push(json!({
                "source": "dsguard",
                "policy": finding.rule.name(),
                "rule": finding.rule.id(),
                "result": result,
                "severity": severity,
                "scored": true,
                "resources": [{
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "namespace": key.namespace,
                    "name": key.name,
                    "uid": judgement.uid,
                }],
                "message": message,
            }));
        }
    }
    json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2",
        "kind": "PolicyReport",
        "metadata": {
            "name": REPORT_NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "dsguard"},
        },
        "summary": {"pass": 0, "fail": fail, "warn": warn, "error": 0, "skip": 0},
        "results": results,
    })
}

#[cfg(test)]
mod tests;
