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
//! Fencing, as client-go's leader election does with its renew deadline: a leader writes
//! only while the Lease it last saw renewed under its name is younger than the renew
//! deadline (between the renew interval and the lease duration, see [`Timing`]). It reads
//! the Lease every poll period; when the API server cannot be reached (a partition, a hung
//! request, a paused process), the deadline passes before the Lease expires, so the old
//! leader has stopped writing before any other replica can take over.
//!
//! RBAC: `get`, `create`, `patch` on `leases` in `coordination.k8s.io`, in dsguard's
//! namespace only (a Role).

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
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

/// The clock of one election, from the lease duration (whole seconds, at least 2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    pub lease_seconds: u64,
    /// Renew when this much of the Lease is left (a third): two renewals can fail before
    /// it expires.
    pub grace_seconds: u64,
    /// How long after its last renewal the leader still writes: a quarter grace before
    /// expiry, three quarters of a grace after the next renewal is due (the time the leader
    /// has to see it), so a renewal that arrives keeps it writing and one that never does
    /// stops it before the Lease expires.
    pub renew_deadline: Duration,
    /// How often the leader reads the Lease back, and the longest it waits for an answer:
    /// a tenth of the grace, at most a second.
    pub poll: Duration,
}

impl Timing {
    pub fn of(lease_duration: Duration) -> Self {
        let lease_seconds = lease_duration.as_secs().max(2);
        let grace_seconds = (lease_seconds / 3).max(1);
        let renew_deadline = Duration::from_millis(lease_seconds * 1000 - grace_seconds * 250);
        let poll = Duration::from_millis(grace_seconds * 100).min(Duration::from_secs(1));
        Timing {
            lease_seconds,
            grace_seconds,
            renew_deadline,
            poll,
        }
    }
}

/// Whether the Lease is confirmed ours at `now`: held by `identity` and renewed within the
/// renew deadline. `renewed` is the last renewal seen under its name.
fn confirmed(renewed: Option<SystemTime>, deadline: Duration, now: SystemTime) -> bool {
    renewed.is_some_and(|at| now.duration_since(at).unwrap_or(Duration::ZERO) < deadline)
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

/// Starts competing for the Lease; `gauge` shows 1 while this replica leads (and may
/// write: the Lease confirmed within the renew deadline).
pub fn elect(client: Client, candidate: Candidate, gauge: Gauge) -> Leadership {
    let (leading_sender, leading) = watch::channel(false);
    // What kube-lease-manager says, before fencing.
    let (held_sender, held) = watch::channel(false);
    let (stop, mut stopping) = watch::channel(false);
    let timing = Timing::of(candidate.lease_duration);
    let (seconds, grace) = (timing.lease_seconds, timing.grace_seconds);
    tokio::spawn(fence(
        kube::Api::namespaced(client.clone(), &candidate.namespace),
        candidate.identity.clone(),
        timing,
        held,
        leading_sender,
        gauge,
    ));
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
                        let _ = held_sender.send(is_leader);
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "leader election failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
            }
        }
        let _ = held_sender.send(false);
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

/// Publishes `leading`: held (kube-lease-manager) and confirmed (the Lease read back shows
/// a renewal under `identity` within the renew deadline). Ends when the election does.
async fn fence(
    leases: kube::Api<Lease>,
    identity: String,
    timing: Timing,
    mut held: watch::Receiver<bool>,
    leading: watch::Sender<bool>,
    gauge: Gauge,
) {
    let mut renewed: Option<SystemTime> = None;
    let publish = |is_held: bool, renewed: Option<SystemTime>| {
        let writing = is_held && confirmed(renewed, timing.renew_deadline, SystemTime::now());
        if *leading.borrow() != writing {
            if writing {
                tracing::info!(%identity, "leader Lease confirmed: this replica writes");
            } else if is_held {
                tracing::warn!(%identity, renew_deadline = ?timing.renew_deadline, "cannot confirm the leader Lease within the renew deadline: this replica stopped writing until it can");
            }
            gauge.set(i64::from(writing));
            let _ = leading.send(writing);
        }
    };
    loop {
        let is_held = *held.borrow_and_update();
        if !is_held {
            renewed = None;
        }
        // Judged before the read too: a read that hangs must not hold a passed deadline.
        publish(is_held, renewed);
        if is_held
            && let Ok(Ok(Some(lease))) =
                tokio::time::timeout(timing.poll, leases.get_opt(LEASE_NAME)).await
        {
            let spec = lease.spec.unwrap_or_default();
            renewed = if spec.holder_identity.as_deref() == Some(identity.as_str()) {
                renewed.max(
                    spec.renew_time
                        .or(spec.acquire_time)
                        .map(|t| SystemTime::from(t.0)),
                )
            } else {
                None
            };
            publish(is_held, renewed);
        }
        // The next read after a poll, or sooner when the deadline comes first.
        let until_deadline = renewed
            .and_then(|at| {
                (at + timing.renew_deadline)
                    .duration_since(SystemTime::now())
                    .ok()
            })
            .filter(|left| !left.is_zero());
        let wait = until_deadline.map_or(timing.poll, |left| left.min(timing.poll));
        tokio::select! {
            changed = held.changed() => if changed.is_err() {
                gauge.set(0);
                let _ = leading.send(false);
                return;
            },
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_renew_deadline_falls_between_the_renewal_and_the_expiry() {
        for seconds in [2, 3, 15, 60, 137] {
            let t = Timing::of(Duration::from_secs(seconds));
            let renew_interval = Duration::from_secs(t.lease_seconds - t.grace_seconds);
            let lease = Duration::from_secs(t.lease_seconds);
            assert!(
                t.renew_deadline > renew_interval + t.poll,
                "{seconds}: {t:?}"
            );
            // Stopped, at the latest one poll after the deadline, before anyone may take over.
            assert!(t.renew_deadline + t.poll < lease, "{seconds}: {t:?}");
        }
        let default = Timing::of(Duration::from_secs(15));
        assert_eq!(
            (default.grace_seconds, default.renew_deadline, default.poll),
            (5, Duration::from_millis(13_750), Duration::from_millis(500))
        );
    }

    #[test]
    fn a_renewal_older_than_the_deadline_is_not_confirmed() {
        let now = SystemTime::now();
        let deadline = Duration::from_secs(10);
        assert!(confirmed(Some(now - Duration::from_secs(9)), deadline, now));
        assert!(!confirmed(
            Some(now - Duration::from_secs(10)),
            deadline,
            now
        ));
        assert!(!confirmed(None, deadline, now));
        // A renewal stamped a little ahead of this clock counts as now.
        assert!(confirmed(Some(now + Duration::from_secs(1)), deadline, now));
    }
}
