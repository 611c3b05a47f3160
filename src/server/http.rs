//! The routes: `POST /validate` and `POST /mutate` (AdmissionReview in, AdmissionReview out,
//! through [`admission::review`]), `/healthz`, `/readyz`, `/metrics`. Bad requests get a JSON
//! error with the right status (400 malformed, 413 too large, 408 over the time budget);
//! nothing here panics on input, and every answered review carries its request's uid.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde_json::json;

use super::AppState;
use super::metrics::{EndpointLabels, RuleLabels, SourceLabels};
use crate::admission::{self, Endpoint};
use crate::policy::Severity;

/// Every route, for the TLS listener.
pub fn webhook_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .merge(probe_router())
        .with_state(state)
}

/// Health, readiness and metrics, for the plain-HTTP listener too.
pub fn probe_router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

pub fn plain_router(state: Arc<AppState>) -> Router {
    probe_router().with_state(state)
}

async fn validate(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    admit(&state, Endpoint::Validate, "validate", &uri, &headers, body).await
}

async fn mutate(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    admit(&state, Endpoint::Mutate, "mutate", &uri, &headers, body).await
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": message, "code": status.as_u16()}).to_string(),
    )
        .into_response()
}

/// The longest `timeoutSeconds` Kubernetes allows a webhook (admissionregistration
/// validation): a longer `?timeout=` is not from an API server, and is not honoured.
pub const MAX_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// The API server's `?timeout=10s` (the webhook's `timeoutSeconds`), at most 30 s, less a
/// margin to answer in; 10 s when absent.
pub fn time_budget(query: Option<&str>) -> Duration {
    let timeout = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("timeout="))
        .and_then(parse_duration)
        .unwrap_or(Duration::from_secs(10))
        .min(MAX_WEBHOOK_TIMEOUT);
    timeout
        .saturating_sub(Duration::from_millis(100))
        .max(Duration::from_millis(50))
}

/// A Go-style duration as the API server writes it: `10s`, `1m30s`, `500ms`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit] {
            "ms" => number / 1000.0,
            "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            _ => return None,
        };
        // Checked: `?timeout=` comes from the caller, and a sum past the largest duration
        // must not panic the handler (it is capped by the caller anyway).
        total = total.checked_add(Duration::try_from_secs_f64(seconds).ok()?)?;
        rest = &rest[unit..];
    }
    (!text.is_empty()).then_some(total)
}

/// How much of an oversized body is read and thrown away before its 413 is sent, and for
/// how long at most: a client that gets its answer only once it has finished sending sees
/// it whole, where an answer sent early ends the stream under the client (over HTTP/2 a
/// RST_STREAM, which curl before 8.1 reports as an error instead of the 413; over
/// HTTP/1.1 a closed connection). Nothing drained is kept; past either bound the answer
/// goes out at once.
const DRAIN_BYTES: u64 = 16 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// A body that fits its limit and the budget, with the share of the budget it holds
/// (given back when the request is done).
type Received = (bytes::Bytes, tokio::sync::OwnedSemaphorePermit);

/// Reads a request body within its limit (413 past it) and within the server's budget of
/// body bytes held at once (429 when the bodies in flight hold it all: with a declared
/// length before anything is read, otherwise as the bytes arrive).
async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    deadline: tokio::time::Instant,
) -> Result<Received, Response> {
    let limit = state.body_limit;
    let message =
        format!("the request body is larger than the {limit}-byte limit (--max-body-bytes)");
    let busy = |body: Body| {
        let mut response = refuse_unread(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "busy: the request bodies being received already hold the {}-byte budget (--max-inflight-body-bytes); retry shortly",
                state.body_budget_bytes
            ),
            body,
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        response
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = body;
    if declared.is_some_and(|length| length > limit as u64) {
        if declared.is_some_and(|length| length <= DRAIN_BYTES) {
            body = drain(body, 0, deadline).await;
        }
        return Err(refuse_unread(StatusCode::PAYLOAD_TOO_LARGE, message, body));
    }
    let take = |bytes: usize| {
        u32::try_from(bytes)
            .ok()
            .and_then(|n| state.body_budget.clone().try_acquire_many_owned(n).ok())
    };
    let Some(mut held) = take(declared.map_or(0, |length| length as usize)) else {
        return Err(busy(body));
    };
    let mut bytes = bytes::BytesMut::new();
    loop {
        match body.frame().await {
            None => return Ok((bytes.freeze(), held)),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let needed = (bytes.len() + data.len()).saturating_sub(held.num_permits());
                    if needed > 0 && bytes.len() + data.len() <= limit {
                        match take(needed) {
                            Some(more) => held.merge(more),
                            None => return Err(busy(body)),
                        }
                    }
                    if bytes.len() + data.len() > limit {
                        let read = (bytes.len() + data.len()) as u64;
                        drop(bytes);
                        let body = drain(body, read, deadline).await;
                        return Err(refuse_unread(StatusCode::PAYLOAD_TOO_LARGE, message, body));
                    }
                    bytes.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the request body: {e}"),
                ));
            }
        }
    }
}

/// Reads and discards the rest of `body` (of which `read` bytes were read already), up to
/// [`DRAIN_BYTES`] in all and [`DRAIN_TIME`] (or `deadline`, if sooner); returns what is
/// left of it, to be given up once the answer is sent.
async fn drain(mut body: Body, mut read: u64, deadline: tokio::time::Instant) -> Body {
    let deadline = deadline.min(tokio::time::Instant::now() + DRAIN_TIME);
    while read <= DRAIN_BYTES {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                read += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
            Ok(None) | Ok(Some(Err(_))) | Err(_) => break,
        }
    }
    body
}

/// An error answer sent before the request body was read to its end (413). Over HTTP/2 the
/// unread request body is given up only once the answer is sent: given up earlier, the
/// stream is reset with CANCEL and the client never sees the answer; given up after, it is
/// reset with NO_ERROR, which tells the client to stop sending and read the answer
/// (RFC 9113 §8.1). Over HTTP/1.1 the connection closes after the answer.
fn refuse_unread(status: StatusCode, message: String, request: Body) -> Response {
    let answer = json!({"error": message, "code": status.as_u16()}).to_string();
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::new(HoldingRequest {
            answer: Some(bytes::Bytes::from(answer)),
            _request: request,
        }),
    )
        .into_response()
}

/// A response body of one chunk that keeps the request's unread body until it is dropped
/// itself, which the server does after the response's last frame is sent.
struct HoldingRequest {
    answer: Option<bytes::Bytes>,
    _request: Body,
}

impl http_body::Body for HoldingRequest {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(
            self.answer
                .take()
                .map(|data| Ok(http_body::Frame::data(data))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.answer.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.answer.as_ref().map_or(0, |a| a.len() as u64))
    }
}

/// Bodies up to this size are judged on the request's own task: a real DaemonSet review
/// (object and oldObject) is 5 to 50 KB, and an object this small cannot hold enough
/// selector terms to be slow. Larger ones are judged apart (see [`evaluate_apart`]).
/// Either way the evaluation stops at the request's deadline.
const INLINE_EVALUATION_BYTES: usize = 64 * 1024;

/// Judges a large request on the blocking pool, never on the threads that serve
/// connections, at most [`AppState::costly_evaluations`] at once, within `budget`: past
/// it, the documented over-budget answer ([`admission::over_budget`]) is sent and
/// counted, and the evaluation stops at its next deadline check on its own thread.
async fn evaluate_apart(
    state: &AppState,
    bytes: bytes::Bytes,
    endpoint: Endpoint,
    deadline: tokio::time::Instant,
    budget: Duration,
) -> Result<admission::Decision, admission::AdmissionError> {
    let inventory = state.inventory.load_full();
    let config = state.config.load_full();
    let body = bytes.clone();
    let places = state.costly_evaluations.clone();
    let stop = deadline.into_std();
    let work = async move {
        let place = places.acquire_owned().await.expect("never closed");
        tokio::task::spawn_blocking(move || {
            let _place = place;
            admission::review_within(&body, endpoint, &inventory, &config, stop, budget)
        })
        .await
    };
    match tokio::time::timeout_at(deadline, work).await {
        Ok(Ok(decision)) => decision,
        Ok(Err(failed)) => Err(admission::AdmissionError(format!(
            "the evaluation failed: {failed}"
        ))),
        Err(_) => admission::over_budget(&bytes, endpoint, budget),
    }
}

async fn admit(
    state: &AppState,
    endpoint: Endpoint,
    name: &'static str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let budget = time_budget(uri.query());
    let metrics = &state.metrics;
    let deadline = tokio::time::Instant::from_std(started + budget);
    let (bytes, _held) =
        match tokio::time::timeout_at(deadline, read_body(state, headers, body, deadline)).await {
            Ok(Ok(received)) => received,
            Ok(Err(response)) => {
                let decision = if response.status() == StatusCode::TOO_MANY_REQUESTS {
                    "busy"
                } else {
                    "error"
                };
                metrics.count_request(name, decision);
                return response;
            }
            Err(_) => {
                metrics.count_request(name, "error");
                return error(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request body did not arrive within the {budget:?} budget of ?timeout="
                    ),
                );
            }
        };
    let decision = if bytes.len() <= INLINE_EVALUATION_BYTES {
        let inventory = state.inventory.load();
        let config = state.config.load();
        admission::review_within(
            &bytes,
            endpoint,
            &inventory,
            &config,
            deadline.into_std(),
            budget,
        )
    } else {
        evaluate_apart(state, bytes, endpoint, deadline, budget).await
    };
    if decision.as_ref().is_ok_and(|d| d.over_budget) {
        metrics
            .evaluation_timeouts
            .get_or_create(&EndpointLabels { endpoint: name })
            .inc();
    }
    let decision = match decision {
        Ok(decision) => decision,
        Err(e) => {
            metrics.count_request(name, "error");
            tracing::warn!(endpoint = name, error = %e, "malformed admission request");
            return error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    let response = decision.to_response_bytes();
    let elapsed = started.elapsed();
    let outcome = match (&decision.skipped, decision.allowed) {
        (Some(_), _) => "skipped",
        (None, true) => "allowed",
        (None, false) => "denied",
    };
    metrics.count_request(name, outcome);
    metrics
        .latency
        .get_or_create(&EndpointLabels { endpoint: name })
        .observe(elapsed.as_secs_f64());
    let mut rules = Vec::new();
    if let Some(verdict) = &decision.verdict {
        for finding in verdict
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
        {
            let action = if finding.severity == Severity::Deny && !decision.allowed {
                "deny"
            } else {
                "warn"
            };
            metrics
                .rule_hits
                .get_or_create(&RuleLabels {
                    rule: finding.rule.id(),
                    action,
                })
                .inc();
            rules.push(finding.rule.id());
        }
        for exemption in &verdict.exemptions {
            metrics
                .exemptions
                .get_or_create(&SourceLabels {
                    source: exemption.source.as_str(),
                })
                .inc();
        }
    }
    rules.dedup();
    tracing::info!(
        uid = %decision.uid,
        endpoint = name,
        operation = %decision.operation,
        namespace = %decision.namespace,
        name = %decision.name,
        allowed = decision.allowed,
        outcome,
        rules = %rules.join(","),
        warnings = decision.warnings.len(),
        patch_bytes = if decision.patch.is_empty() { 0 } else { serde_json::to_vec(&decision.patch).map_or(0, |p| p.len()) },
        latency_us = elapsed.as_micros() as u64,
        "admission decision"
    );
    ([(header::CONTENT_TYPE, "application/json")], response).into_response()
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.not_ready() {
        None => (StatusCode::OK, "ready").into_response(),
        Some(why) => error(StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    state.refresh_inventory_gauges();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_the_api_server_writes_them() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        for bad in ["", "10", "s", "10x", "-1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        // Sums past the largest duration are refused, never a panic.
        assert_eq!(
            parse_duration("18446744073709551615s18446744073709551615s"),
            None
        );
        assert_eq!(
            time_budget(Some("timeout=18446744073709551615s18446744073709551615s")),
            Duration::from_millis(9900)
        );
        assert_eq!(
            time_budget(Some("timeout=10s")),
            Duration::from_millis(9900)
        );
        assert_eq!(
            time_budget(Some("a=b&timeout=1s")),
            Duration::from_millis(900)
        );
        assert_eq!(time_budget(None), Duration::from_millis(9900));
        assert_eq!(time_budget(Some("timeout=10ms")), Duration::from_millis(50));
        // Kubernetes' maximum timeoutSeconds is 30: an hour is not honoured.
        assert_eq!(
            time_budget(Some("timeout=3600s")),
            Duration::from_millis(29_900)
        );
        assert_eq!(
            time_budget(Some("timeout=1h")),
            Duration::from_millis(29_900)
        );
    }
}
