//! Exemptions (README "Rules"): whole namespaces and a label selector on the DaemonSet (config),
//! and per-rule exemptions by annotation, which must give a reason. Every exemption that
//! changes an outcome is reported, so an exemption is never silent.

use std::collections::BTreeSet;

use super::{DaemonSet, Finding, Injection, Rule, Severity};
use crate::config::Config;

pub const EXEMPT_ANNOTATION: &str = "dsguard.io/exempt";
pub const EXEMPT_REASON_ANNOTATION: &str = "dsguard.io/exempt-reason";

/// Where an exemption came from (a metrics label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExemptionSource {
    Namespace,
    ObjectSelector,
    Annotation,
}

impl ExemptionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ExemptionSource::Namespace => "namespace",
            ExemptionSource::ObjectSelector => "objectSelector",
            ExemptionSource::Annotation => "annotation",
        }
    }
}

/// An exemption that changed the outcome, with the warning that says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExemptionUse {
    pub source: ExemptionSource,
    /// The rules it silenced; every rule for a whole-object exemption.
    pub rules: Vec<Rule>,
    pub message: String,
}

pub(crate) struct Exemptions {
    pub whole_object: Option<ExemptionUse>,
    rules: BTreeSet<Rule>,
    reason: String,
    pub notes: Vec<String>,
}

pub(crate) fn resolve(object: &DaemonSet, namespace: &str, config: &Config) -> Exemptions {
    let whole = |source: ExemptionSource, why: String| ExemptionUse {
        source,
        rules: Rule::ALL.to_vec(),
        message: format!("dsguard: not evaluated, {why}"),
    };
    let exemptions = &config.exemptions;
    let whole_object = if exemptions.namespaces.iter().any(|n| n == namespace) {
        Some(whole(
            ExemptionSource::Namespace,
            format!("namespace {namespace} is exempt (config exemptions.namespaces)"),
        ))
    } else if exemptions.object_selector.matches(object.labels()) {
        Some(whole(
            ExemptionSource::ObjectSelector,
            "the DaemonSet's labels match the exempt objectSelector (config exemptions.objectSelector)".into(),
        ))
    } else {
        None
    };
    let mut result = Exemptions {
        whole_object,
        rules: BTreeSet::new(),
        reason: String::new(),
        notes: Vec::new(),
    };
    let Some(listed) = object.annotation(EXEMPT_ANNOTATION) else {
        return result;
    };
    let reason = object
        .annotation(EXEMPT_REASON_ANNOTATION)
        .unwrap_or("")
        .trim();
    if !exemptions.allow_annotations {
        result.notes.push(format!(
            "dsguard: annotation {EXEMPT_ANNOTATION} is ignored: exemptions by annotation are turned off here (config exemptions.allowAnnotations: false)"
        ));
        return result;
    }
    if !exemptions.annotation_namespaces.is_empty()
        && !exemptions
            .annotation_namespaces
            .iter()
            .any(|n| n == namespace)
    {
        result.notes.push(format!(
            "dsguard: annotation {EXEMPT_ANNOTATION} is ignored: exemptions by annotation are not allowed in namespace {namespace} (config exemptions.annotationNamespaces)"
        ));
        return result;
    }
    if reason.is_empty() {
        result.notes.push(format!(
            "dsguard: annotation {EXEMPT_ANNOTATION} is ignored: it needs {EXEMPT_REASON_ANNOTATION} saying why"
        ));
        return result;
    }
    let waivable = |rule: Rule| {
        exemptions.annotation_rules.is_empty()
            || exemptions
                .annotation_rules
                .iter()
                .any(|r| Rule::parse(r) == Some(rule))
    };
    for item in listed.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match Rule::parse(item) {
            Some(rule) if !waivable(rule) => result.notes.push(format!(
                "dsguard: annotation {EXEMPT_ANNOTATION} cannot waive {} {} here (config exemptions.annotationRules); it still applies",
                rule.id(),
                rule.name()
            )),
            Some(rule) => {
                result.rules.insert(rule);
            }
            None => result.notes.push(format!(
                "dsguard: annotation {EXEMPT_ANNOTATION} names unknown rule {item:?} (known: {})",
                Rule::ALL.map(Rule::id).join(", ")
            )),
        }
    }
    result.reason = reason.to_owned();
    result
}

impl Exemptions {
    pub fn covers(&self, rule: Rule) -> bool {
        self.rules.contains(&rule)
    }

    fn record(&self, rule: Rule, uses: &mut Vec<ExemptionUse>) {
        if uses.iter().any(|u| u.rules == [rule]) {
            return;
        }
        uses.push(ExemptionUse {
            source: ExemptionSource::Annotation,
            rules: vec![rule],
            message: format!(
                "{} {}: exempted by annotation {EXEMPT_ANNOTATION} (reason: {})",
                rule.id(),
                rule.name(),
                self.reason
            ),
        });
    }

    /// A mutation that was skipped because of the annotation counts as used when it
    /// would have injected something.
    pub fn record_skipped_mutation(
        &self,
        rule: Rule,
        skipped: &Injection,
        uses: &mut Vec<ExemptionUse>,
    ) {
        if skipped != &Injection::default() {
            self.record(rule, uses);
        }
    }

    /// Drops the findings of exempted rules, recording each exemption that silenced a
    /// warning or a denial.
    pub fn apply(&self, findings: Vec<Finding>, uses: &mut Vec<ExemptionUse>) -> Vec<Finding> {
        findings
            .into_iter()
            .filter(|finding| {
                if !self.covers(finding.rule) {
                    return true;
                }
                if finding.severity > Severity::Info {
                    self.record(finding.rule, uses);
                }
                false
            })
            .collect()
    }
}
