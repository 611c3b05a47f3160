//! dsguard's rules and mutations (README "Rules"): [`evaluate`] takes a decoded DaemonSet, the
//! inventory and the config, and returns a [`Verdict`] — every finding at once (a denial
//! lists every problem), the RFC 6902 patch, and the exemptions used. Violations are data,
//! never errors. No IO, no async, no kube client: the webhook, `lint`, `review` and
//! `coverage` are adapters around this one function, which is what makes them agree.

pub mod daemonset;
mod default_priority_class;
mod default_tolerations;
mod exemptions;
mod missing_resource_limits;
pub mod no_room_beside_running_pods;
mod patch;
mod requests_exceed_allocatable;
mod selector_matches_no_node;
mod surge_with_host_port;
mod unknown_priority_class;
mod untolerated_taints;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::config::{Action, Config};
use crate::inventory::{Inventory, Reach, ReachKey};
use crate::scheduling::Toleration;

pub use daemonset::{DaemonSet, DecodeError};
pub use exemptions::ExemptionUse;
pub use requests_exceed_allocatable::{effective_requests, surges, unfit_groups};
pub use untolerated_taints::toleration_fix;

/// Every rule and mutation, with its stable ID and name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    SelectorMatchesNoNode,
    UntoleratedTaints,
    MissingResourceLimits,
    UnknownPriorityClass,
    RequestsExceedAllocatable,
    SurgeWithHostPort,
    NoRoomBesideRunningPods,
    DefaultPriorityClass,
    DefaultTolerations,
}

impl Rule {
    pub const ALL: [Rule; 9] = [
        Rule::SelectorMatchesNoNode,
        Rule::UntoleratedTaints,
        Rule::MissingResourceLimits,
        Rule::UnknownPriorityClass,
        Rule::RequestsExceedAllocatable,
        Rule::SurgeWithHostPort,
        Rule::NoRoomBesideRunningPods,
        Rule::DefaultPriorityClass,
        Rule::DefaultTolerations,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Rule::SelectorMatchesNoNode => "DSG001",
            Rule::UntoleratedTaints => "DSG002",
            Rule::MissingResourceLimits => "DSG003",
            Rule::UnknownPriorityClass => "DSG004",
            Rule::RequestsExceedAllocatable => "DSG005",
            Rule::SurgeWithHostPort => "DSG006",
            Rule::NoRoomBesideRunningPods => "DSG007",
            Rule::DefaultPriorityClass => "DSG101",
            Rule::DefaultTolerations => "DSG102",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Rule::SelectorMatchesNoNode => "selector-matches-no-node",
            Rule::UntoleratedTaints => "untolerated-taints",
            Rule::MissingResourceLimits => "missing-resource-limits",
            Rule::UnknownPriorityClass => "unknown-priority-class",
            Rule::RequestsExceedAllocatable => "requests-exceed-allocatable",
            Rule::SurgeWithHostPort => "surge-with-host-port",
            Rule::NoRoomBesideRunningPods => "no-room-beside-running-pods",
            Rule::DefaultPriorityClass => "default-priority-class",
            Rule::DefaultTolerations => "default-tolerations",
        }
    }

    /// One sentence on what the rule protects against (help text for reports).
    pub fn summary(self) -> &'static str {
        match self {
            Rule::SelectorMatchesNoNode => {
                "The pod template's nodeSelector, required node affinity and nodeName select no node: the DaemonSet runs nowhere."
            }
            Rule::UntoleratedTaints => {
                "Targeted nodes carry NoSchedule/NoExecute taints the pods do not tolerate: the DaemonSet silently skips them."
            }
            Rule::MissingResourceLimits => {
                "A container has no limit for a required resource, on every node of the cluster at once."
            }
            Rule::UnknownPriorityClass => {
                "priorityClassName names a class the cluster does not have: every pod the DaemonSet creates is rejected."
            }
            Rule::RequestsExceedAllocatable => {
                "The pod's requests exceed the allocatable of nodes it would run on: its pod stays Pending there forever."
            }
            Rule::SurgeWithHostPort => {
                "The rollout cannot progress (maxSurge with a hostPort) or takes every daemon pod down at once (maxUnavailable)."
            }
            Rule::NoRoomBesideRunningPods => {
                "The pod fits the node but not beside the pods already running there: it stays Pending, or preempts them."
            }
            Rule::DefaultPriorityClass => {
                "Sets the configured default PriorityClass on templates that name none."
            }
            Rule::DefaultTolerations => {
                "Appends the configured default tolerations the template does not already have."
            }
        }
    }

    /// Parses an ID (`DSG003`) or a name (`missing-resource-limits`).
    pub fn parse(text: &str) -> Option<Rule> {
        let text = text.trim();
        Rule::ALL
            .into_iter()
            .find(|r| r.id().eq_ignore_ascii_case(text) || r.name() == text)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id(), self.name())
    }
}

/// How serious a finding is. `Info` explains a decision without asking for action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warn,
    Deny,
}

impl Severity {
    /// `deny`, `warn` or `info`, as reports and metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Deny => "deny",
        }
    }

    /// The severity a configured action gives a violation (`None` for `off`).
    pub fn of(action: Action) -> Option<Severity> {
        match action {
            Action::Off => None,
            Action::Warn => Some(Severity::Warn),
            Action::Deny => Some(Severity::Deny),
        }
    }
}

/// One problem, or one explanation, about one place of the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    /// JSON pointer into the DaemonSet of the field the finding is about.
    pub pointer: String,
    pub message: String,
    /// The individual violations this finding reports (a taint, a container's resource):
    /// an UPDATE only adds a violation when one of these is new.
    pub atoms: Vec<String>,
}

impl Finding {
    /// `DSG003 missing-resource-limits: message`, as users read it in kubectl.
    pub fn headline(&self) -> String {
        format!("{} {}: {}", self.rule.id(), self.rule.name(), self.message)
    }
}

/// What the webhook endpoint being answered does: `/mutate` computes the patch,
/// `/validate` judges the object as it is, and `lint`/`review` do both in order (the
/// validation then sees what the mutation injected, as the validating webhook will).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Mutate,
    Validate,
    MutateThenValidate,
}

impl Phase {
    fn mutates(self) -> bool {
        matches!(self, Phase::Mutate | Phase::MutateThenValidate)
    }

    fn validates(self) -> bool {
        matches!(self, Phase::Validate | Phase::MutateThenValidate)
    }
}

/// What [`evaluate`] needs beyond the object.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub inventory: &'a Inventory,
    pub config: &'a Config,
    /// The namespace the DaemonSet lives in (the request's, or the manifest's, or
    /// `default`).
    pub namespace: &'a str,
    pub phase: Phase,
    /// Where an inventory part is absent by design (lint without `--nodes`), rules that
    /// need it are skipped without a finding; the adapter says so once. Otherwise an
    /// unsynced part is reported as a warning on each object.
    pub quiet_when_unsynced: bool,
    /// When the answer is due (the webhook's `?timeout=`): an evaluation that reaches it
    /// stops where it is and says so ([`Verdict::incomplete`]), so no request is judged
    /// past its deadline however its object is written. `None` where nobody waits (lint).
    pub deadline: Option<std::time::Instant>,
}

impl<'a> Context<'a> {
    /// How `lint` and `coverage` judge a manifest: the mutation then the validation, as
    /// the webhook chain would, with inventory parts that were not given skipped quietly
    /// (the adapter says so once).
    pub fn offline(inventory: &'a Inventory, config: &'a Config, namespace: &'a str) -> Self {
        Context {
            inventory,
            config,
            namespace,
            phase: Phase::MutateThenValidate,
            quiet_when_unsynced: true,
            deadline: None,
        }
    }

    /// True once the deadline has passed.
    pub(crate) fn past_deadline(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| std::time::Instant::now() >= deadline)
    }
}

/// The outcome for one DaemonSet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    pub findings: Vec<Finding>,
    /// RFC 6902 operations against the object as it arrived; empty when nothing is
    /// injected.
    pub patch: Vec<serde_json::Value>,
    pub exemptions: Vec<ExemptionUse>,
    /// Other warnings about the object (a malformed exemption annotation).
    pub notes: Vec<String>,
    /// The evaluation reached its deadline before it finished: the findings are not all
    /// there, and no answer may rest on them.
    pub incomplete: bool,
}

impl Verdict {
    pub fn denied(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Deny)
    }

    pub fn with_severity(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity == severity)
    }

    /// Warnings a user should see: warn findings, then each exemption used.
    pub fn warnings(&self) -> Vec<String> {
        self.with_severity(Severity::Warn)
            .map(Finding::headline)
            .chain(self.exemptions.iter().map(|e| e.message.clone()))
            .chain(self.notes.iter().cloned())
            .collect()
    }

    /// Rules that produced a deny or warn finding, for logs and metrics.
    pub fn rules_hit(&self) -> Vec<Rule> {
        let mut rules: Vec<Rule> = self
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
            .map(|f| f.rule)
            .collect();
        rules.sort();
        rules.dedup();
        rules
    }

    /// UPDATE grandfathering: a denial whose every violation was already present in the
    /// old object's verdict becomes a warning, so a new policy never freezes an existing
    /// DaemonSet; a violation the update introduces stays denied.
    pub fn grandfather(&mut self, old: &Verdict) {
        for finding in self
            .findings
            .iter_mut()
            .filter(|f| f.severity == Severity::Deny)
        {
            let already = finding.atoms.iter().all(|atom| {
                old.findings.iter().any(|o| {
                    o.rule == finding.rule && o.severity >= Severity::Warn && o.atoms.contains(atom)
                })
            });
            if already && !finding.atoms.is_empty() {
                finding.severity = Severity::Warn;
                finding.message = format!(
                    "already present before this update, so not denied: {}",
                    finding.message
                );
            }
        }
    }
}

/// Every autoscaler template's placement for the object being judged, computed at most
/// once per evaluation, and only when a rule needs every template's answer (DSG001 when no
/// live node is targeted, DSG002 when no live node runs the pods, DSG005 when a template
/// states its size or some node does not fit): the common evaluation never builds it.
pub(crate) struct Templates<'a> {
    placements: std::cell::OnceCell<Arc<Vec<crate::inventory::TemplatePlacement>>>,
    tolerations: std::cell::OnceCell<Vec<Toleration>>,
    key: &'a ReachKey,
    reach: &'a Reach,
    context: &'a Context<'a>,
}

/// What every template's placement is remembered by, on a reach and a set of templates.
#[derive(Clone, PartialEq, Eq, Hash)]
struct EveryTemplatePlacement;

impl<'a> Templates<'a> {
    fn new(key: &'a ReachKey, reach: &'a Reach, context: &'a Context<'a>) -> Self {
        Self {
            placements: std::cell::OnceCell::new(),
            tolerations: std::cell::OnceCell::new(),
            key,
            reach,
            context,
        }
    }

    pub(crate) fn selection(&self) -> &crate::scheduling::NodeSelection {
        &self.key.selection
    }

    /// Every toleration the pods carry (built when a template asks for it).
    pub(crate) fn tolerations(&self) -> &[Toleration] {
        self.tolerations.get_or_init(|| self.key.pod_tolerations())
    }

    pub(crate) fn all(&self) -> &[crate::inventory::TemplatePlacement] {
        self.shared()
    }

    /// Remembered per reach and set of templates: they depend on nothing else.
    fn shared(&self) -> &Arc<Vec<crate::inventory::TemplatePlacement>> {
        self.placements.get_or_init(|| {
            let inventory = self.context.inventory;
            self.reach
                .with_templates(inventory.templates_version())
                .get_or_compute(&EveryTemplatePlacement, || {
                    inventory.template_placements(
                        &self.key.selection,
                        self.tolerations(),
                        self.key.comparison_operators,
                    )
                })
        })
    }
}

/// Everything the mutation adds, which the validation must then see.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Injection {
    pub priority_class: Option<String>,
    pub tolerations: Vec<Toleration>,
}

/// Where the DaemonSet's pods will run once admitted: its selection, and its tolerations
/// with the DaemonSet controller's and whatever the mutation would inject. Rule actions
/// and `ignoreTaintKeys` play no part: this is the scheduling truth `coverage` reports.
pub fn placement(object: &DaemonSet, context: &Context<'_>) -> crate::inventory::Placement {
    let (key, reach) = reach_of(object, context);
    let templates = Templates::new(&key, &reach, context).all().to_vec();
    crate::inventory::Placement {
        targeted: roaring::RoaringBitmap::clone(&reach.targeted),
        blocked: reach.blocked.clone(),
        templates,
    }
}

/// The reach `evaluate` judges the DaemonSet by (remembered on the node index per key),
/// and its key.
fn reach_of(object: &DaemonSet, context: &Context<'_>) -> (ReachKey, Arc<Reach>) {
    let selection = object.selection();
    let targeted = context.inventory.targeted_shared(&selection);
    let mut injection = Injection::default();
    let exempt = exemptions::resolve(object, context.namespace, context.config);
    if exempt.whole_object.is_none() && !exempt.covers(Rule::DefaultTolerations) {
        default_tolerations::mutate(object, context, Some(&targeted), &mut injection);
    }
    let key = object.reach_key(
        selection,
        &injection.tolerations,
        context.config.toleration_comparison_operators,
    );
    let reach = context.inventory.reach(&key, targeted);
    (key, reach)
}

/// Where the pods already running leave room for the DaemonSet's pod (DSG007's answer,
/// for `coverage`): over the nodes [`placement`] says it runs on, with the PriorityClass
/// the mutation would inject. `None` when the pods are not known.
pub fn room_beside_pods(
    object: &DaemonSet,
    context: &Context<'_>,
) -> Option<no_room_beside_running_pods::RoomReport> {
    context.inventory.occupancy()?;
    let runnable = placement(object, context).runnable();
    let mut injection = Injection::default();
    let exempt = exemptions::resolve(object, context.namespace, context.config);
    if exempt.whole_object.is_none() && !exempt.covers(Rule::DefaultPriorityClass) {
        default_priority_class::mutate(object, context, &mut injection, &mut Vec::new());
    }
    no_room_beside_running_pods::room(
        object,
        &runnable,
        injection.priority_class.as_deref(),
        context,
    )
}

/// A DaemonSet's footprint on the nodes (`--daemonsets`): where its pods run (as
/// [`placement`] says) and one pod's effective request. `None` when its resources cannot
/// be read (the API server would not have stored it).
pub fn daemon_load(
    object: &DaemonSet,
    context: &Context<'_>,
) -> Option<crate::inventory::DaemonLoad> {
    let requests = effective_requests(object, context.inventory, context.namespace).ok()?;
    Some(crate::inventory::DaemonLoad {
        namespace: context.namespace.to_owned(),
        name: object.name().to_owned(),
        nodes: reach_of(object, context).1.runnable.clone(),
        requests,
    })
}

/// Every DaemonSet's footprint ([`daemon_load`]), each judged in its own namespace as
/// `lint --daemonsets` and the live audit both count them: the loads, and the indices of
/// the objects left out because their resources cannot be read.
pub fn daemon_loads<'a>(
    objects: impl IntoIterator<Item = &'a DaemonSet>,
    inventory: &Inventory,
    config: &Config,
) -> (Vec<crate::inventory::DaemonLoad>, Vec<usize>) {
    let mut loads = Vec::new();
    let mut unreadable = Vec::new();
    let objects = objects.into_iter();
    inventory.remember_answers_for(objects.size_hint().0);
    for (index, object) in objects.enumerate() {
        let context = Context::offline(inventory, config, object.namespace_or_default());
        match daemon_load(object, &context) {
            Some(load) => loads.push(load),
            None => unreadable.push(index),
        }
    }
    (loads, unreadable)
}

/// The one policy engine: mutation (when the phase mutates), then validation of the
/// object with what the mutation injected.
pub fn evaluate(object: &DaemonSet, context: &Context<'_>) -> Verdict {
    evaluate_inner(object, context, false).0
}

/// Where an evaluation found the pods go: the live nodes (shared with every DaemonSet of
/// the same selection and tolerations) and each autoscaler template.
#[derive(Clone, Debug)]
pub struct Placed {
    pub reach: Arc<Reach>,
    pub templates: Arc<Vec<crate::inventory::TemplatePlacement>>,
}

/// [`evaluate`], and the placement it judged by (as [`placement`] gives it), for the audit,
/// which needs both: `None` when the object was not judged against the nodes (exempt as a
/// whole, validation not asked, nodes not synced).
pub fn evaluate_placed(object: &DaemonSet, context: &Context<'_>) -> (Verdict, Option<Placed>) {
    evaluate_inner(object, context, true)
}

fn evaluate_inner(
    object: &DaemonSet,
    context: &Context<'_>,
    want_placement: bool,
) -> (Verdict, Option<Placed>) {
    let mut placed = None;
    let mut verdict = Verdict::default();
    let exempt = exemptions::resolve(object, context.namespace, context.config);
    if let Some(whole) = exempt.whole_object {
        verdict.exemptions.push(whole);
        return (verdict, None);
    }
    verdict.notes.extend(exempt.notes.iter().cloned());

    let selection = object.selection();
    let nodes_ready = context.inventory.synced().nodes && context.inventory.node_count() > 0;
    let targeted = nodes_ready.then(|| context.inventory.targeted_shared(&selection));

    let mut findings = Vec::new();
    let mut injection = Injection::default();
    if context.phase.mutates() {
        if exempt.covers(Rule::DefaultPriorityClass) {
            let mut skipped = Injection::default();
            default_priority_class::mutate(object, context, &mut skipped, &mut Vec::new());
            exempt.record_skipped_mutation(
                Rule::DefaultPriorityClass,
                &skipped,
                &mut verdict.exemptions,
            );
        } else {
            default_priority_class::mutate(object, context, &mut injection, &mut findings);
        }
        if exempt.covers(Rule::DefaultTolerations) {
            let mut skipped = Injection::default();
            default_tolerations::mutate(object, context, targeted.as_deref(), &mut skipped);
            exempt.record_skipped_mutation(
                Rule::DefaultTolerations,
                &skipped,
                &mut verdict.exemptions,
            );
        } else {
            default_tolerations::mutate(object, context, targeted.as_deref(), &mut injection);
        }
        verdict.patch = patch::build(object, &injection);
    }
    if context.phase.validates() && !context.past_deadline() {
        let reach_key = object.reach_key(
            selection,
            &injection.tolerations,
            context.config.toleration_comparison_operators,
        );
        match &targeted {
            Some(targeted) => {
                // Which targeted nodes the pods cannot get onto: DSG002 reports them,
                // DSG005 judges fit on the others. Shared by every DaemonSet with the
                // same selection and tolerations.
                let reach = context.inventory.reach(&reach_key, Arc::clone(targeted));
                let templates = Templates::new(&reach_key, &reach, context);
                selector_matches_no_node::check(
                    object,
                    &reach_key.selection,
                    targeted,
                    &templates,
                    context,
                    &mut findings,
                );
                untolerated_taints::check(object, &reach, &templates, context, &mut findings);
                requests_exceed_allocatable::check(
                    object,
                    &reach.runnable,
                    &templates,
                    context,
                    &mut findings,
                );
                no_room_beside_running_pods::check(
                    object,
                    &reach.runnable,
                    injection.priority_class.as_deref(),
                    context,
                    &mut findings,
                );
                if want_placement {
                    let templates = Arc::clone(templates.shared());
                    placed = Some(Placed { templates, reach });
                }
            }
            None if !context.quiet_when_unsynced => {
                let why = if context.inventory.synced().nodes {
                    "the node inventory is empty"
                } else {
                    "the node inventory is not synced yet"
                };
                for rule in [Rule::SelectorMatchesNoNode, Rule::UntoleratedTaints] {
                    findings.push(Finding {
                        rule,
                        severity: Severity::Warn,
                        pointer: daemonset::TEMPLATE_SPEC.into(),
                        message: format!(
                            "not evaluated: {why}; the DaemonSet is allowed unchecked"
                        ),
                        atoms: Vec::new(),
                    });
                }
            }
            None => {}
        }
        missing_resource_limits::check(object, context, &mut findings);
        unknown_priority_class::check(object, context, &mut findings);
        surge_with_host_port::check(object, targeted.as_deref(), context, &mut findings);
    }
    if context.past_deadline() {
        verdict.incomplete = true;
        return (verdict, None);
    }
    verdict.findings = exempt.apply(findings, &mut verdict.exemptions);
    if context
        .config
        .exemptions
        .warn_only_namespaces
        .iter()
        .any(|n| n == context.namespace)
    {
        for finding in verdict
            .findings
            .iter_mut()
            .filter(|f| f.severity == Severity::Deny)
        {
            finding.severity = Severity::Warn;
            finding.message = format!(
                "{} (a warning, not a denial: namespace {} is in exemptions.warnOnlyNamespaces)",
                finding.message, context.namespace
            );
        }
    }
    (verdict, placed)
}
