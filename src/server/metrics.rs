//! Prometheus metrics (text format, `prometheus-client`): requests by endpoint and
//! decision, rule hits by rule and action, a latency histogram with sub-millisecond
//! buckets (the webhook answers in microseconds; the API server's budget is seconds),
//! inventory sizes and age, config and certificate reloads, exemptions used; with
//! `serve --cluster`, each DaemonSet's node counts and findings (from the audit's latest
//! summary, encoded at scrape time so a deleted DaemonSet's series go with it), on the
//! leader each DaemonSet's pods by problem reason (the doctor's diagnosis, renewed by the
//! pod health pass) and whether this replica is the leader.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use arc_swap::ArcSwap;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::audit::SummaryRow;
use crate::doctor::PodCount;

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
    /// What the config in force lets through without a check (`Config::warnings`).
    pub config_warnings: Gauge,
    pub certificate_reloads: Family<ResultLabels, Counter>,
    pub exemptions: Family<SourceLabels, Counter>,
    pub log_lines_dropped: Gauge,
    /// Requests whose evaluation did not finish within their time budget.
    pub evaluation_timeouts: Family<EndpointLabels, Counter>,
    /// The audit's latest per-DaemonSet summary (empty unless `serve --cluster`).
    pub daemonsets: Arc<ArcSwap<Vec<SummaryRow>>>,
    /// The latest pod health pass: pods by DaemonSet and problem reason (empty but on
    /// the leader of `serve --cluster`).
    pub daemon_pods: Arc<ArcSwap<Vec<PodCount>>>,
    /// 1 on the replica that writes Events and PolicyReports.
    pub leader: Gauge,
    /// Events and report writes by object and result.
    pub audit_writes: Family<WriteLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    /// `event` or `report`.
    pub object: &'static str,
    pub result: &'static str,
}

/// `dsguard_daemonset_nodes` and `dsguard_daemonset_findings`, written from the summary at
/// scrape time: every node state of every DaemonSet (0 included), findings only where
/// there are some.
#[derive(Debug)]
struct DaemonSetSeries(Arc<ArcSwap<Vec<SummaryRow>>>);

impl Collector for DaemonSetSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let rows = self.0.load();
        let mut nodes = encoder.encode_descriptor(
            "daemonset_nodes",
            "Nodes each DaemonSet targets (targeted), can run on (runnable: targeted and tolerated), is kept off by taints (blocked), and cannot fit on (unfit, among runnable)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for row in rows.iter() {
            for (state, value) in row.nodes.states() {
                let labels = [
                    ("namespace", row.key.namespace.as_str()),
                    ("daemonset", row.key.name.as_str()),
                    ("state", state),
                ];
                nodes.encode_family(&labels)?.encode_gauge(&value)?;
            }
        }
        let mut findings = encoder.encode_descriptor(
            "daemonset_findings",
            "Findings of each DaemonSet in the cluster, by rule ID and severity (absent when none)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for row in rows.iter() {
            for ((rule, severity), count) in &row.findings {
                let labels = [
                    ("namespace", row.key.namespace.as_str()),
                    ("daemonset", row.key.name.as_str()),
                    ("rule", rule.id()),
                    ("severity", severity.as_str()),
                ];
                findings.encode_family(&labels)?.encode_gauge(count)?;
            }
        }
        let mut exemptions = encoder.encode_descriptor(
            "daemonset_exemptions",
            "Exemptions each DaemonSet in the cluster uses, by source (namespace, objectSelector, annotation; absent when none)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for row in rows.iter() {
            for (source, count) in &row.exemptions {
                let labels = [
                    ("namespace", row.key.namespace.as_str()),
                    ("daemonset", row.key.name.as_str()),
                    ("source", *source),
                ];
                exemptions.encode_family(&labels)?.encode_gauge(count)?;
            }
        }
        Ok(())
    }
}

/// `dsguard_daemonset_pods`, written from the latest pod health pass at scrape time: a
/// reason gone at the last pass leaves no series behind, and a DaemonSet the audit no
/// longer has (deleted since that pass) none either.
#[derive(Debug)]
struct DaemonPodSeries {
    counts: Arc<ArcSwap<Vec<PodCount>>>,
    daemonsets: Arc<ArcSwap<Vec<SummaryRow>>>,
}

impl Collector for DaemonPodSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counts = self.counts.load();
        let rows = self.daemonsets.load();
        let present: std::collections::HashSet<(&str, &str)> = rows
            .iter()
            .map(|row| (row.key.namespace.as_str(), row.key.name.as_str()))
            .collect();
        let mut pods = encoder.encode_descriptor(
            "daemonset_pods",
            "Pods of each DaemonSet by the problem reason dsguard doctor gives (for Missing and UntoleratedTaint, the nodes without a pod; absent when none; exported by the leader)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for count in counts
            .iter()
            .filter(|c| present.contains(&(c.namespace.as_str(), c.daemonset.as_str())))
        {
            let labels = [
                ("namespace", count.namespace.as_str()),
                ("daemonset", count.daemonset.as_str()),
                ("reason", count.reason),
            ];
            pods.encode_family(&labels)?
                .encode_gauge(&(count.pods as i64))?;
        }
        Ok(())
    }
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
        let config_warnings = Gauge::default();
        registry.register(
            "config_warnings",
            "Warnings about the config in force: rules that check nothing, every rule off, an exemption selector that exempts nearly everything (0 when none; the log says which)",
            config_warnings.clone(),
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
        let daemonsets = Arc::new(ArcSwap::from_pointee(Vec::new()));
        registry.register_collector(Box::new(DaemonSetSeries(daemonsets.clone())));
        let daemon_pods = Arc::new(ArcSwap::from_pointee(Vec::new()));
        registry.register_collector(Box::new(DaemonPodSeries {
            counts: daemon_pods.clone(),
            daemonsets: daemonsets.clone(),
        }));
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 on the replica that holds the dsguard-leader Lease and writes Events and PolicyReports",
            leader.clone(),
        );
        let audit_writes = Family::<WriteLabels, Counter>::default();
        registry.register(
            "audit_writes",
            "Events and PolicyReport writes by the leader, by object (event, report) and result (ok, failed)",
            audit_writes.clone(),
        );
        Self {
            registry,
            daemonsets,
            daemon_pods,
            leader,
            audit_writes,
            evaluation_timeouts,
            requests,
            rule_hits,
            latency,
            inventory_objects,
            inventory_age_seconds,
            config_reloads,
            config_warnings,
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
