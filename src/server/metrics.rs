//! Prometheus metrics (text format, `prometheus-client`): requests by endpoint and
//! decision, rule hits by rule and action, a latency histogram with sub-millisecond
//! buckets (the webhook answers in microseconds; the API server's budget is seconds),
//! inventory sizes and age, config and certificate reloads, exemptions used.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub endpoint: &'static str,
    /// allowed, denied, skipped (not judged), or error (400/413/408).
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: &'static str,
    pub action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

// Label values are static strings: counting a request allocates nothing.

/// Every metric dsguard exports.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub rule_hits: Family<RuleLabels, Counter>,
    pub latency: Family<EndpointLabels, Histogram>,
    pub inventory_objects: Family<KindLabels, Gauge>,
    pub inventory_age_seconds: Gauge<f64, AtomicU64>,
    pub config_reloads: Family<ResultLabels, Counter>,
    pub certificate_reloads: Family<ResultLabels, Counter>,
    pub exemptions: Family<SourceLabels, Counter>,
    pub log_lines_dropped: Gauge,
    /// Requests whose evaluation did not finish within their time budget.
    pub evaluation_timeouts: Family<EndpointLabels, Counter>,
}

/// Latency buckets in seconds: 50 µs to 5 s, finer than 5 ms where answers fall.
const LATENCY_BUCKETS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0,
];

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("dsguard");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission requests by endpoint and decision",
            requests.clone(),
        );
        let rule_hits = Family::<RuleLabels, Counter>::default();
        registry.register(
            "rule_hits",
            "Findings by rule and action (deny, warn) in admission decisions",
            rule_hits.clone(),
        );
        let latency = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(LATENCY_BUCKETS)
        });
        registry.register(
            "admission_duration_seconds",
            "Time from request received to response ready",
            latency.clone(),
        );
        let inventory_objects = Family::<KindLabels, Gauge>::default();
        registry.register(
            "inventory_objects",
            "Objects in the inventory by kind",
            inventory_objects.clone(),
        );
        let inventory_age_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "inventory_age_seconds",
            "Seconds since the inventory last changed or was confirmed current",
            inventory_age_seconds.clone(),
        );
        let config_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Config file reloads by result (ok, failed)",
            config_reloads.clone(),
        );
        let certificate_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "certificate_reloads",
            "Serving certificate reloads by result (ok, failed)",
            certificate_reloads.clone(),
        );
        let exemptions = Family::<SourceLabels, Counter>::default();
        registry.register(
            "exemptions_used",
            "Exemptions that changed a decision, by source",
            exemptions.clone(),
        );
        let log_lines_dropped = Gauge::default();
        registry.register(
            "log_lines_dropped",
            "Log lines dropped because the log writer could not keep up (requests never wait for logs)",
            log_lines_dropped.clone(),
        );
        let evaluation_timeouts = Family::<EndpointLabels, Counter>::default();
        registry.register(
            "evaluation_timeouts",
            "Admission requests whose evaluation exceeded the time budget (validate denies them, mutate allows them unpatched)",
            evaluation_timeouts.clone(),
        );
        Self {
            registry,
            evaluation_timeouts,
            requests,
            rule_hits,
            latency,
            inventory_objects,
            inventory_age_seconds,
            config_reloads,
            certificate_reloads,
            exemptions,
            log_lines_dropped,
        }
    }
}

impl Metrics {
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }

    pub fn count_request(&self, endpoint: &'static str, decision: &'static str) {
        self.requests
            .get_or_create(&RequestLabels { endpoint, decision })
            .inc();
    }

    pub fn count_reload(family: &Family<ResultLabels, Counter>, ok: bool) {
        family
            .get_or_create(&ResultLabels {
                result: if ok { "ok" } else { "failed" },
            })
            .inc();
    }
}
