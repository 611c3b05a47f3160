//! PolicyReports (`wgpolicyk8s.io/v1alpha2`), kept current by the leader when that API is
//! served (the Policy Report CRDs installed, as Kyverno or the policy-reporter chart do;
//! asked again every `--discovery-interval` until then). One report named `dsguard` per
//! namespace with findings, built by `audit::policy_reports`; each write is a server-side
//! apply of the whole report, and a namespace whose last finding went has its report
//! deleted. On becoming leader, the reports already there (label
//! `app.kubernetes.io/managed-by: dsguard`) are listed, so none is left behind by an
//! earlier leader.
//!
//! RBAC: `list`, `create`, `patch`, `delete` on `policyreports` in `wgpolicyk8s.io`,
//! cluster-wide.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::value::RawValue;
use tokio::sync::watch;

use super::events::count_write;
use crate::audit::REPORT_NAME;
use crate::server::AppState;

const GROUP_VERSION: &str = "wgpolicyk8s.io/v1alpha2";
const MANAGED_BY: &str = "app.kubernetes.io/managed-by=dsguard";

/// The reports the audit wants, by namespace, as JSON text (a third of a JSON tree's
/// memory; they are only ever sent).
pub type DesiredReports = Arc<BTreeMap<String, Box<RawValue>>>;

/// What was written to a namespace, as a fingerprint of the report's text (`None`: a
/// report found there whose content is unknown).
type Written = BTreeMap<String, Option<u64>>;

fn fingerprint(report: &RawValue) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    report.get().hash(&mut hasher);
    hasher.finish()
}

fn resource() -> ApiResource {
    ApiResource {
        group: "wgpolicyk8s.io".into(),
        version: "v1alpha2".into(),
        api_version: GROUP_VERSION.into(),
        kind: "PolicyReport".into(),
        plural: "policyreports".into(),
    }
}

async fn served(client: &Client) -> Result<bool, kube::Error> {
    match client.list_api_group_resources(GROUP_VERSION).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == "policyreports")),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(error) => Err(error),
    }
}

/// Keeps the cluster's reports equal to `desired` while this replica leads.
pub async fn keep_reports(
    client: Client,
    mut leading: watch::Receiver<bool>,
    mut desired: watch::Receiver<DesiredReports>,
    wanted: watch::Sender<bool>,
    discovery_interval: Duration,
    state: Arc<AppState>,
) {
    // What the cluster holds, as far as this replica knows; `None` until listed.
    let mut written: Option<Written> = None;
    let mut api_served = false;
    let mut said_absent = false;
    loop {
        if !*leading.borrow() {
            written = None;
        } else if !api_served {
            match served(&client).await {
                Ok(true) => {
                    api_served = true;
                    tracing::info!("PolicyReport API served: keeping dsguard's reports");
                }
                Ok(false) if !said_absent => {
                    said_absent = true;
                    tracing::info!(
                        "PolicyReport API ({GROUP_VERSION}) not served: no reports; checking again every {}s",
                        discovery_interval.as_secs()
                    );
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(error = %error, "discovery failed; trying again"),
            }
        }
        let mut failed = false;
        let writing = *leading.borrow() && api_served;
        // The audit builds reports only while they are written; asking again makes it
        // publish the current ones, which wakes this loop through `desired`.
        if *wanted.borrow() != writing {
            wanted.send_replace(writing);
            if writing {
                tokio::select! {
                    _ = desired.changed() => {}
                    _ = leading.changed() => continue,
                }
            }
        }
        if writing {
            if written.is_none() {
                written = list_written(&client).await;
                failed = written.is_none();
            }
            if let Some(written) = written.as_mut() {
                let wanted = desired.borrow_and_update().clone();
                failed |= !reconcile(&client, written, &wanted, &state).await;
            }
        }
        let retry = if failed || (*leading.borrow() && !api_served) {
            discovery_interval
        } else {
            Duration::from_secs(24 * 3600)
        };
        tokio::select! {
            changed = leading.changed() => if changed.is_err() { return },
            changed = desired.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(retry) => {}
        }
    }
}

/// The reports earlier leaders left, by namespace (their content unknown: re-applied if
/// still wanted, deleted if not).
async fn list_written(client: &Client) -> Option<Written> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource());
    let listed = super::list_pages(
        &api,
        ListParams::default().labels(MANAGED_BY),
        "policyreports",
        |report| {
            (report.metadata.name == Some(REPORT_NAME.into())).then_some(report.metadata.namespace)
        },
    )
    .await;
    match listed {
        Ok(namespaces) => Some(
            namespaces
                .into_iter()
                .flatten()
                .flatten()
                .map(|ns| (ns, None))
                .collect(),
        ),
        Err(error) => {
            tracing::warn!(error = %error, "could not list the existing PolicyReports; trying again");
            None
        }
    }
}

/// Applies what changed and deletes what is no longer wanted; false when a write failed
/// (it is tried again).
async fn reconcile(
    client: &Client,
    written: &mut Written,
    wanted: &BTreeMap<String, Box<RawValue>>,
    state: &AppState,
) -> bool {
    let mut all_ok = true;
    let params = PatchParams::apply("dsguard").force();
    for (namespace, report) in wanted {
        let print = fingerprint(report);
        if written.get(namespace) == Some(&Some(print)) {
            continue;
        }
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource());
        match api.patch(REPORT_NAME, &params, &Patch::Apply(report)).await {
            Ok(_) => {
                written.insert(namespace.clone(), Some(print));
                count_write(&state.metrics, "report", true);
            }
            Err(error) => {
                all_ok = false;
                count_write(&state.metrics, "report", false);
                tracing::warn!(namespace, error = %error, "could not write the PolicyReport");
            }
        }
    }
    let gone: Vec<String> = written
        .keys()
        .filter(|ns| !wanted.contains_key(*ns))
        .cloned()
        .collect();
    for namespace in gone {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource());
        match api.delete(REPORT_NAME, &DeleteParams::default()).await {
            Ok(_) => {
                written.remove(&namespace);
                count_write(&state.metrics, "report", true);
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                written.remove(&namespace);
                count_write(&state.metrics, "report", true);
            }
            Err(error) => {
                all_ok = false;
                count_write(&state.metrics, "report", false);
                tracing::warn!(namespace, error = %error, "could not delete the PolicyReport");
            }
        }
    }
    all_ok
}
