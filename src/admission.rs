//! AdmissionReview bytes ⇄ [`policy::evaluate`] ⇄ AdmissionResponse (docs/decisions.md "Admission").
//!
//! Owns what is specific to admission: which requests are judged at all (only `apps/v1`
//! DaemonSets on CREATE/UPDATE, never subresources), the `uid` and `apiVersion` echo,
//! UPDATE grandfathering against `oldObject`, no template patch on an UPDATE that leaves
//! `spec.template` alone (any template change rolls every pod), the 1 KiB deny message and
//! the warning format. `dryRun` changes nothing: the webhook has no side effects.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::config::Config;
use crate::inventory::Inventory;
use crate::policy::daemonset::MAX_DECODED_ITEMS;
use crate::policy::{self, Context, DaemonSet, Phase, Severity, Verdict};
use crate::serde_util::{DecodeBudget, null_as_default};

/// Which webhook is being answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /validate`: judge the object as it is.
    Validate,
    /// `POST /mutate`: return the patch (never denies: validation is the validating
    /// webhook's job, after the patch is applied).
    Mutate,
    /// `dsguard review`: both, as the API server would chain them.
    Both,
}

/// The deny message limit (1 KiB, docs/decisions.md "Admission") and Kubernetes' advice for one warning.
const MAX_DENY_MESSAGE: usize = 1024;
const MAX_WARNING: usize = 256;
/// How many warnings, and how many bytes of them, a response carries at most.
const MAX_WARNINGS: usize = 16;
const MAX_WARNING_BYTES: usize = 4096;

/// A request body that is not an AdmissionReview dsguard can answer (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AdmissionError(pub String);

/// An AdmissionReview, with its objects as `O`: raw JSON for the careful path, DaemonSet
/// views for the fast one.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn<O> {
    #[serde(default, deserialize_with = "null_as_default")]
    api_version: String,
    #[serde(default, deserialize_with = "null_as_default")]
    kind: String,
    #[serde(default = "none", bound(deserialize = "O: Deserialize<'de>"))]
    request: Option<RequestIn<O>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn<O> {
    #[serde(default, deserialize_with = "null_as_default")]
    uid: String,
    #[serde(default, deserialize_with = "null_as_default")]
    kind: GroupVersionKind,
    #[serde(default, deserialize_with = "null_as_default")]
    sub_resource: String,
    #[serde(default, deserialize_with = "null_as_default")]
    namespace: String,
    #[serde(default, deserialize_with = "null_as_default")]
    operation: String,
    #[serde(default = "none", bound(deserialize = "O: Deserialize<'de>"))]
    object: Option<O>,
    #[serde(default = "none", bound(deserialize = "O: Deserialize<'de>"))]
    old_object: Option<O>,
}

/// `Option::default` without requiring `O: Default`.
fn none<T>() -> Option<T> {
    None
}

#[derive(Deserialize, Default)]
struct GroupVersionKind {
    #[serde(default, deserialize_with = "null_as_default")]
    group: String,
    #[serde(default, deserialize_with = "null_as_default")]
    version: String,
    #[serde(default, deserialize_with = "null_as_default")]
    kind: String,
}

/// The decision for one request, with what logs and metrics report about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub api_version: String,
    pub uid: String,
    pub operation: String,
    pub namespace: String,
    pub name: String,
    pub allowed: bool,
    /// The deny message (starts with the rule ID), when denied.
    pub message: Option<String>,
    pub warnings: Vec<String>,
    pub patch: Vec<Value>,
    /// Why the request was allowed without evaluation, if it was.
    pub skipped: Option<String>,
    /// The verdict, when the object was evaluated.
    pub verdict: Option<Verdict>,
    /// The answer is the over-budget one: the evaluation could not finish by its deadline.
    pub over_budget: bool,
}

/// The AdmissionReview response, serialized straight from the decision (no JSON tree).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'a str,
    kind: &'static str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusOut<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    /// The RFC 6902 patch, base64-encoded as the API expects.
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
}

#[derive(Serialize)]
struct StatusOut<'a> {
    code: u16,
    reason: &'static str,
    message: &'a str,
}

impl Decision {
    fn out(&self) -> ReviewOut<'_> {
        let patch = (self.allowed && !self.patch.is_empty()).then(|| {
            let patch = serde_json::to_vec(&self.patch).expect("a patch serializes");
            base64::engine::general_purpose::STANDARD.encode(patch)
        });
        ReviewOut {
            api_version: &self.api_version,
            kind: "AdmissionReview",
            response: ResponseOut {
                uid: &self.uid,
                allowed: self.allowed,
                status: self.message.as_deref().map(|message| StatusOut {
                    code: 403,
                    reason: "Forbidden",
                    message,
                }),
                warnings: &self.warnings,
                patch_type: patch.is_some().then_some("JSONPatch"),
                patch,
            },
        }
    }

    /// The AdmissionReview response body, as JSON bytes (what the webhook sends).
    pub fn to_response_bytes(&self) -> Vec<u8> {
        // Sized up front: growing from serde_json's 128 bytes reallocated a denial's
        // response four or five times (seen in the load profile).
        let text: usize = self.message.as_ref().map_or(0, String::len)
            + self.warnings.iter().map(String::len).sum::<usize>();
        let patch = if self.patch.is_empty() { 0 } else { 1024 };
        let mut bytes = Vec::with_capacity(256 + text + text / 8 + patch);
        serde_json::to_writer(&mut bytes, &self.out()).expect("a response serializes");
        bytes
    }

    /// The AdmissionReview response body, as a JSON value (for `review` and tests).
    pub fn to_response(&self) -> Value {
        serde_json::to_value(self.out()).expect("a response serializes")
    }
}

/// The request, read from the body.
struct Parsed {
    api_version: String,
    uid: String,
    operation: String,
    namespace: String,
    kind: GroupVersionKind,
    sub_resource: String,
    /// `None` when the request carries no object.
    object: Option<Result<DaemonSet, crate::policy::DecodeError>>,
    old_object: Option<DaemonSet>,
}

/// A syntax error or a premature end: the bytes are not JSON, whatever they decode into.
fn not_json(error: &serde_json::Error) -> bool {
    error.is_syntax() || error.is_eof()
}

fn not_a_review(error: &serde_json::Error) -> AdmissionError {
    AdmissionError(format!("the body is not an AdmissionReview: {error}"))
}

fn check_envelope(api_version: &str, kind: &str) -> Result<(), AdmissionError> {
    if !matches!(
        api_version,
        "admission.k8s.io/v1" | "admission.k8s.io/v1beta1"
    ) || kind != "AdmissionReview"
    {
        return Err(AdmissionError(format!(
            "expected kind AdmissionReview of admission.k8s.io/v1, got kind {kind:?} of {api_version:?}"
        )));
    }
    Ok(())
}

/// Reads the body in one typed pass when it is what the API server sends (the common
/// case, and the fast one: a 41 KB UPDATE is scanned once); anything unusual takes the
/// careful path, which keeps the objects raw and reports exactly where one is wrong.
///
/// A body that is not JSON at all is read once: the careful path would stop at the same
/// byte for the same kind of reason (both scan every byte up to it), so a 41 KB body of
/// spaces or a truncated one costs one scan, not two.
fn parse(body: &[u8]) -> Result<Parsed, AdmissionError> {
    // The object and the old object share one budget in the typed pass (a real review
    // uses a few percent of it); past it, the careful path gives each its own, so an
    // object is judged within the same bound as `lint` judges it.
    let typed = {
        let _budget = DecodeBudget::begin(MAX_DECODED_ITEMS);
        serde_json::from_slice::<ReviewIn<DaemonSet>>(body)
    };
    if let Err(error) = &typed
        && not_json(error)
    {
        return Err(not_a_review(error));
    }
    if let Ok(ReviewIn {
        api_version,
        kind,
        request: Some(request),
    }) = typed
        && check_envelope(&api_version, &kind).is_ok()
        && !request.uid.is_empty()
        && let Some(Ok(object)) = request.object.map(DaemonSet::with_pod_spec)
    {
        return Ok(Parsed {
            api_version,
            uid: request.uid,
            operation: request.operation,
            namespace: request.namespace,
            kind: request.kind,
            sub_resource: request.sub_resource,
            object: Some(Ok(object)),
            old_object: request.old_object.and_then(|o| o.with_pod_spec().ok()),
        });
    }
    let review: ReviewIn<&RawValue> = serde_json::from_slice(body).map_err(|e| not_a_review(&e))?;
    check_envelope(&review.api_version, &review.kind)?;
    let request = review
        .request
        .ok_or_else(|| AdmissionError("the AdmissionReview has no request".into()))?;
    if request.uid.is_empty() {
        return Err(AdmissionError(
            "the AdmissionReview request has no uid".into(),
        ));
    }
    Ok(Parsed {
        api_version: review.api_version,
        uid: request.uid,
        operation: request.operation,
        namespace: request.namespace,
        kind: request.kind,
        sub_resource: request.sub_resource,
        object: request
            .object
            .map(|raw| DaemonSet::from_json(raw.get().as_bytes())),
        old_object: request
            .old_object
            .and_then(|raw| DaemonSet::from_json(raw.get().as_bytes()).ok()),
    })
}

/// Whether an UPDATE leaves `spec.template` as it was (read again from the body: only
/// asked when a mutation would patch an UPDATE). The API server encodes `object` and
/// `oldObject` from its typed objects the same way (fields in schema order, map keys
/// sorted), so an unchanged template is the same text in both: compared as text, nothing
/// is built however large the template is. Templates that differ only in encoding count as
/// changed (the patch is then sent, as for a real change).
fn template_unchanged(body: &[u8]) -> bool {
    let Ok(ReviewIn {
        request: Some(request),
        ..
    }) = serde_json::from_slice::<ReviewIn<&RawValue>>(body)
    else {
        return false;
    };
    match (request.object, request.old_object) {
        (Some(object), Some(old)) => match (pod_template(object), pod_template(old)) {
            (Some(new), Some(old)) => new.get() == old.get(),
            _ => false,
        },
        _ => false,
    }
}

/// Decides one AdmissionReview, as the webhook does: an inventory part that is not synced
/// yet is said in a warning on the response.
pub fn review(
    body: &[u8],
    endpoint: Endpoint,
    inventory: &Inventory,
    config: &Config,
) -> Result<Decision, AdmissionError> {
    decide(body, endpoint, inventory, config, false, None)
}

/// [`review`] due by `deadline`: an evaluation that reaches it stops, and the answer is
/// the documented over-budget one ([`over_budget`], `budget` being what the caller gave).
pub fn review_within(
    body: &[u8],
    endpoint: Endpoint,
    inventory: &Inventory,
    config: &Config,
    deadline: std::time::Instant,
    budget: std::time::Duration,
) -> Result<Decision, AdmissionError> {
    let decision = decide(body, endpoint, inventory, config, false, Some(deadline))?;
    if decision.verdict.as_ref().is_some_and(|v| v.incomplete) {
        return over_budget(body, endpoint, budget);
    }
    Ok(decision)
}

/// Decides one AdmissionReview with an inventory read from files (`dsguard review`): a
/// part that was not given is skipped quietly, as `lint` skips it (the caller says so
/// once), instead of being reported as "not synced yet".
pub fn review_offline(
    body: &[u8],
    endpoint: Endpoint,
    inventory: &Inventory,
    config: &Config,
) -> Result<Decision, AdmissionError> {
    decide(body, endpoint, inventory, config, true, None)
}

fn decide(
    body: &[u8],
    endpoint: Endpoint,
    inventory: &Inventory,
    config: &Config,
    quiet_when_unsynced: bool,
    deadline: Option<std::time::Instant>,
) -> Result<Decision, AdmissionError> {
    let request = parse(body)?;
    let mut decision = Decision {
        api_version: request.api_version,
        uid: request.uid,
        operation: request.operation.clone(),
        namespace: request.namespace.clone(),
        name: String::new(),
        allowed: true,
        message: None,
        warnings: Vec::new(),
        patch: Vec::new(),
        skipped: None,
        verdict: None,
        over_budget: false,
    };
    let gvk = &request.kind;
    let skip = if (gvk.group.as_str(), gvk.version.as_str(), gvk.kind.as_str())
        != ("apps", "v1", "DaemonSet")
    {
        Some(format!(
            "not an apps/v1 DaemonSet ({}/{} {})",
            gvk.group, gvk.version, gvk.kind
        ))
    } else if !request.sub_resource.is_empty() {
        Some(format!("subresource {}", request.sub_resource))
    } else if !matches!(request.operation.as_str(), "CREATE" | "UPDATE") {
        Some(format!("operation {}", request.operation))
    } else {
        None
    };
    if skip.is_some() {
        decision.skipped = skip;
        return Ok(decision);
    }
    let object = match request.object {
        None => {
            return Err(AdmissionError(format!(
                "a {} request without an object",
                request.operation
            )));
        }
        Some(Ok(object)) => object,
        Some(Err(error)) if error.is_over_budget() => {
            // Too large to judge within bounds: a validation cannot vouch for it (allowing
            // would let padding bypass the policy), a mutation leaves it unpatched.
            let why = format!(
                "DSG000 input-bounds: the DaemonSet holds more containers, ports, tolerations, selector terms, values, labels and resource entries than dsguard judges in one object ({MAX_DECODED_ITEMS} in all); split it, or run `dsguard lint` on it"
            );
            if endpoint == Endpoint::Mutate {
                decision.warnings.push(truncate(&why, MAX_WARNING));
            } else {
                decision.allowed = false;
                decision.message = Some(truncate(&why, MAX_DENY_MESSAGE));
            }
            return Ok(decision);
        }
        Some(Err(error)) => {
            // The API server only sends objects that passed its own schema, so this is
            // dsguard's blind spot, not the user's mistake: never block the cluster on it.
            decision.skipped = Some(format!("object not evaluated: {error}"));
            decision.warnings.push(truncate(
                &format!("dsguard could not evaluate this DaemonSet and allowed it: {error}"),
                MAX_WARNING,
            ));
            return Ok(decision);
        }
    };
    decision.name = object.name().to_owned();
    let namespace = match request.namespace.as_str() {
        "" => object.namespace_or_default().to_owned(),
        ns => ns.to_owned(),
    };
    decision.namespace = namespace.clone();
    let is_update = request.operation == "UPDATE";
    let old_object = request.old_object.filter(|_| is_update);
    let phase = match endpoint {
        Endpoint::Validate => Phase::Validate,
        Endpoint::Mutate => Phase::Mutate,
        Endpoint::Both => Phase::MutateThenValidate,
    };
    let context = Context {
        inventory,
        config,
        namespace: &namespace,
        phase,
        quiet_when_unsynced,
        deadline,
    };
    let mut verdict = policy::evaluate(&object, &context);
    // An UPDATE that leaves the pod template alone must not get a template patch: it would
    // roll every daemon pod in the cluster.
    if is_update && !verdict.patch.is_empty() && old_object.is_some() && template_unchanged(body) {
        if endpoint == Endpoint::Mutate {
            decision.skipped = Some("UPDATE leaves spec.template unchanged".into());
            return Ok(decision);
        }
        verdict = policy::evaluate(
            &object,
            &Context {
                phase: Phase::Validate,
                ..context
            },
        );
    }
    // Grandfathering can only change a denial, so the old object is judged only then.
    if is_update
        && endpoint != Endpoint::Mutate
        && verdict.denied()
        && let Some(old) = &old_object
    {
        let old_verdict = if old.same_rule_inputs(&object) && phase == Phase::Validate {
            verdict.clone()
        } else {
            policy::evaluate(
                old,
                &Context {
                    phase: Phase::Validate,
                    ..context
                },
            )
        };
        verdict.incomplete |= old_verdict.incomplete;
        verdict.grandfather(&old_verdict);
    }
    decision.allowed = endpoint == Endpoint::Mutate || !verdict.denied();
    if !decision.allowed {
        decision.message = Some(deny_message(&verdict));
    }
    decision.warnings = capped_warnings(verdict.warnings());
    decision.patch = verdict.patch.clone();
    decision.verdict = Some(verdict);
    Ok(decision)
}

/// The answer when evaluating the request would take longer than `budget`: validation
/// denies (the API server would fail the call at its timeout anyway, and allowing would
/// let a selector built to be slow bypass the policy), mutation allows without a patch.
/// Only the envelope and the uid are read.
pub fn over_budget(
    body: &[u8],
    endpoint: Endpoint,
    budget: std::time::Duration,
) -> Result<Decision, AdmissionError> {
    let review: ReviewIn<serde::de::IgnoredAny> =
        serde_json::from_slice(body).map_err(|e| not_a_review(&e))?;
    check_envelope(&review.api_version, &review.kind)?;
    let request = review
        .request
        .filter(|r| !r.uid.is_empty())
        .ok_or_else(|| AdmissionError("the AdmissionReview request has no uid".into()))?;
    let why = format!(
        "DSG000 evaluation-budget: dsguard could not judge this object within {budget:?} (its node selection is unusually costly: thousands of distinct terms?); simplify the selector, or run `dsguard lint` on it"
    );
    let allowed = endpoint == Endpoint::Mutate;
    Ok(Decision {
        api_version: review.api_version,
        uid: request.uid,
        operation: request.operation,
        namespace: request.namespace,
        name: String::new(),
        allowed,
        message: (!allowed).then(|| truncate(&why, MAX_DENY_MESSAGE)),
        warnings: allowed
            .then(|| truncate(&why, MAX_WARNING))
            .into_iter()
            .collect(),
        patch: Vec::new(),
        skipped: None,
        verdict: None,
        over_budget: true,
    })
}

/// `spec.template` of a raw object, as its text, for the UPDATE comparison.
fn pod_template(raw: &RawValue) -> Option<&RawValue> {
    #[derive(Deserialize)]
    struct Only<'a> {
        #[serde(borrow)]
        spec: Option<Spec<'a>>,
    }
    #[derive(Deserialize)]
    struct Spec<'a> {
        #[serde(borrow)]
        template: Option<&'a RawValue>,
    }
    serde_json::from_str::<Only<'_>>(raw.get())
        .ok()?
        .spec?
        .template
}

/// Every denial, each starting with its rule ID, cut to 1 KiB with a pointer to the rest.
/// Built only as far as it is shown: thousands of denials cost their count, not a joined
/// text of all of them.
fn deny_message(verdict: &Verdict) -> String {
    let count = verdict.with_severity(Severity::Deny).count();
    let mut message = String::new();
    for finding in verdict.with_severity(Severity::Deny) {
        if !message.is_empty() {
            message.push('\n');
        }
        message.push_str(&finding.headline());
        if message.len() > MAX_DENY_MESSAGE {
            break;
        }
    }
    if message.len() <= MAX_DENY_MESSAGE {
        return message;
    }
    let tail = format!(
        " … ({count} denials in all; run `dsguard lint` on the manifest for the full report)"
    );
    let mut cut = truncate(&message, MAX_DENY_MESSAGE - tail.len());
    cut.push_str(&tail);
    cut
}

/// The warnings an AdmissionResponse carries: each on one line and at most 256 bytes, at
/// most [`MAX_WARNINGS`] of them in [`MAX_WARNING_BYTES`] in all, the last saying how many
/// more there were. The API server passes on only about 4 KiB of warnings anyway
/// (`k8s.io/apiserver` `warning.Recorder`), and a review with 100,000 findings must not
/// answer with megabytes of them.
fn capped_warnings(warnings: Vec<String>) -> Vec<String> {
    let lines: Vec<String> = warnings
        .iter()
        .take(MAX_WARNINGS + 1)
        .map(|w| truncate(&w.replace('\n', " "), MAX_WARNING))
        .collect();
    let fits = |lines: &[String]| lines.iter().map(String::len).sum::<usize>() <= MAX_WARNING_BYTES;
    if warnings.len() <= MAX_WARNINGS && fits(&lines) {
        return lines;
    }
    // Room for the line that says how many more there are.
    let mut kept: Vec<String> = Vec::new();
    let mut bytes = 0;
    for line in lines.into_iter().take(MAX_WARNINGS - 1) {
        if bytes + line.len() > MAX_WARNING_BYTES - MAX_WARNING {
            break;
        }
        bytes += line.len();
        kept.push(line);
    }
    let more = warnings.len() - kept.len();
    kept.push(format!(
        "… and {more} more warnings: run `dsguard lint` on the manifest for all of them"
    ));
    kept
}

/// Cuts at a character boundary, marking the cut.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_capped_in_count_and_bytes_with_how_many_more() {
        let few: Vec<String> = (0..16).map(|i| format!("warning {i}")).collect();
        assert_eq!(capped_warnings(few.clone()), few);
        let many: Vec<String> = (0..100_000).map(|i| format!("warning {i}")).collect();
        let capped = capped_warnings(many);
        assert_eq!(capped.len(), 16);
        assert_eq!(
            capped[15],
            "… and 99985 more warnings: run `dsguard lint` on the manifest for all of them"
        );
        let long: Vec<String> = (0..17).map(|_| "x".repeat(1000)).collect();
        let capped = capped_warnings(long);
        assert!(capped.iter().map(String::len).sum::<usize>() <= MAX_WARNING_BYTES);
        assert!(capped.iter().all(|w| w.len() <= MAX_WARNING));
        assert!(capped.last().unwrap().starts_with("… and"), "{capped:?}");
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        let text = "é".repeat(600);
        let cut = truncate(&text, 257);
        assert!(cut.len() <= 257 && cut.ends_with('…'));
        assert_eq!(truncate("short", 10), "short");
    }

    /// A body that is not JSON is answered from the typed pass alone; the careful pass
    /// would have stopped at the same byte for the same kind of reason (its wording can
    /// be vaguer: "key must be a string" where the typed pass says "trailing comma").
    #[test]
    fn a_body_that_is_not_json_is_refused_where_the_careful_path_would_refuse_it() {
        let object = r#"{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"a"},"spec":{"template":{"spec":{"containers":[]}}}}"#;
        let review = |object: &str| {
            format!(
                r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","kind":{{"group":"apps","version":"v1","kind":"DaemonSet"}},"operation":"CREATE","object":{object}}}}}"#
            )
        };
        let bodies = [
            String::new(),
            " ".repeat(4096),
            "x".to_owned(),
            r#"{"apiVersion": "admission.k8s.io/v1", "kind": "Admiss"#.to_owned(),
            format!("{} trailing", review(object)),
            review(&object.replace(r#""name":"a""#, r#""name":"\q""#)),
            review(&object.replace("[]}", "[],}")),
            review(object)[..150].to_owned(),
            review(&object.replace(r#""containers":[]"#, r#""containers":7, "x": ]"#)),
        ];
        for body in bodies {
            let typed = serde_json::from_slice::<ReviewIn<DaemonSet>>(body.as_bytes())
                .err()
                .expect("malformed");
            let careful = serde_json::from_slice::<ReviewIn<&RawValue>>(body.as_bytes())
                .err()
                .expect("malformed");
            let place = |e: &serde_json::Error| (e.classify(), e.line(), e.column());
            // A wrong type met before the syntax error still takes the careful path.
            let expected = if not_json(&typed) {
                assert_eq!(place(&typed), place(&careful), "{body}");
                typed
            } else {
                careful
            };
            assert_eq!(parse(body.as_bytes()).err(), Some(not_a_review(&expected)));
        }
    }
}
