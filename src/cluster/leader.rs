//! One writer among the replicas: leader election on the `coordination.k8s.io` Lease
//! `dsguard-leader` in dsguard's namespace, through `kube-lease-manager` (server-side apply
//! on the Lease, so two candidates cannot both take it). Every replica judges, serves
//! admission and exports metrics; only the leader writes Events and PolicyReports.
//!
//! The leader renews well before the Lease expires; if it dies, another replica takes the
//! Lease once it has expired (within `--leader-lease-duration`, 15 s by default). On
//! SIGTERM the leader releases the Lease first, so a rolling update hands over without
//! waiting for expiry beyond what the others had already planned to wait.
//!
//! RBAC: `get`, `create`, `patch` on `leases` in `coordination.k8s.io`, in dsguard's
//! namespace only (a Role).

use std::time::Duration;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;

/// The Lease every replica competes for.
pub const LEASE_NAME: &str = "dsguard-leader";

/// Who this replica is and where the Lease lives.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub namespace: String,
    pub identity: String,
    pub lease_duration: Duration,
}

impl Candidate {
    /// The pod's name and namespace from the downward API (`POD_NAME`, `POD_NAMESPACE`),
    /// else the host name and pid and `fallback_namespace`.
    pub fn from_environment(fallback_namespace: &str, lease_duration: Duration) -> Self {
        let non_empty = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let identity = non_empty("POD_NAME").unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "dsguard".into());
            format!("{host}-{}", std::process::id())
        });
        Candidate {
            namespace: non_empty("POD_NAMESPACE").unwrap_or_else(|| fallback_namespace.to_owned()),
            identity,
            lease_duration,
        }
    }
}

/// A running election: whether this replica leads, and how to step down.
pub struct Leadership {
    pub leading: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Leadership {
    /// Releases the Lease if held (SIGTERM), waiting at most `grace` for the API server.
    pub async fn step_down(self, grace: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(grace, self.task).await.is_err() {
            tracing::warn!(
                "the Lease was not released in time; the next leader waits for it to expire"
            );
        }
    }
}

/// Starts competing for the Lease; `gauge` shows 1 while this replica leads.
pub fn elect(client: Client, candidate: Candidate, gauge: Gauge) -> Leadership {
    let (leading_sender, leading) = watch::channel(false);
    let (stop, mut stopping) = watch::channel(false);
    let seconds = candidate.lease_duration.as_secs().max(2);
    // Renew when a third of the Lease is left: two renewals can fail before it expires.
    let grace = (seconds / 3).max(1);
    let task = tokio::spawn(async move {
        let mut retry = Duration::from_secs(1);
        let manager = loop {
            let built = LeaseManagerBuilder::new(client.clone(), LEASE_NAME)
                .with_namespace(&candidate.namespace)
                .with_identity(&candidate.identity)
                .with_duration(seconds)
                .with_grace(grace)
                .with_field_manager(format!("dsguard-{}", candidate.identity))
                .build();
            tokio::select! {
                _ = stopping.changed() => return,
                built = built => match built {
                    Ok(manager) => break manager,
                    Err(error) => {
                        tracing::warn!(error = %error, lease = LEASE_NAME, namespace = %candidate.namespace, "cannot reach the leader Lease; retrying (this replica does not write Events or reports meanwhile)");
                    }
                },
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(Duration::from_secs(30));
        };
        loop {
            tokio::select! {
                _ = stopping.changed() => break,
                changed = manager.changed() => match changed {
                    Ok(is_leader) => {
                        tracing::info!(identity = %candidate.identity, leading = is_leader, "leadership changed");
                        gauge.set(i64::from(is_leader));
                        let _ = leading_sender.send(is_leader);
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "leader election failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
            }
        }
        gauge.set(0);
        let _ = leading_sender.send(false);
        if let Err(error) = manager.release().await {
            tracing::warn!(error = %error, "could not release the leader Lease");
        } else {
            tracing::info!(identity = %candidate.identity, "leader Lease released");
        }
    });
    Leadership {
        leading,
        stop,
        task,
    }
}
