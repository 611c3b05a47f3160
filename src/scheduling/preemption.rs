//! Whether a pod pinned to one node (a DaemonSet pod is: the controller gives it
//! `matchFields metadata.name In [node]`) fits beside the pods already there, and if not,
//! which pods kube-scheduler's default preemption would evict for it
//! (`pkg/scheduler/framework/plugins/defaultpreemption/default_preemption.go`
//! `SelectVictimsOnNode`, `pkg/scheduler/framework/preemption/preemption.go`
//! `filterPodsWithPDBViolation`, `pkg/scheduler/util` `MoreImportantPod`):
//!
//! 1. The filters: pod count first, then each requested resource (`Insufficient cpu`,
//!    `Too many pods`), then host ports, in the scheduler's own words.
//! 2. Not eligible with `preemptionPolicy: Never`.
//! 3. The potential victims are the pods of strictly lower priority; none: no preemption.
//!    With all of them gone the pod must fit, or the node stays Pending.
//! 4. They are sorted most important first (higher priority, then earlier start time; a
//!    pod with no start time counts as started now), and split, in that order, by
//!    whether evicting them would violate a PodDisruptionBudget, counting each budget's
//!    `disruptionsAllowed` down as it goes (pods listed in `disruptedPods` do not count).
//! 5. Reprieve: the violating ones first, then the others, each in sorted order: add it
//!    back; if the pod still fits it stays, else it is a victim.
//!
//! Pure: the caller passes the node's allocatable and its pods (the DaemonSet's own pods
//! left out unless it surges), and gets the answer.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::sync::Arc;

use super::ports::{FREE_PORTS_REASON, HostPort, ports_conflict};
use super::resources::{PODS, ResourceList};
use super::selector::LabelSelector;

/// A pod already bound to the node, as the filters and preemption read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePod {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    /// `spec.priority` as admission resolved it.
    pub priority: i32,
    /// `status.startTime`, in seconds since the epoch; `None` counts as now.
    pub start_time: Option<i64>,
    /// The effective request (the scheduler's rule, `resources::pod_requests`).
    pub requests: Arc<ResourceList>,
    pub host_ports: Arc<[HostPort]>,
    /// Sorted by key (for PodDisruptionBudget selectors).
    pub labels: Arc<[(Arc<str>, Arc<str>)]>,
}

impl NodePod {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| self.labels[i].1.as_ref())
    }
}

/// The pod that wants the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming<'a> {
    pub requests: &'a ResourceList,
    pub host_ports: &'a [HostPort],
    pub priority: i32,
    /// `preemptionPolicy: Never`: it waits, it never preempts.
    pub never_preempts: bool,
}

/// A PodDisruptionBudget, as preemption reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    pub namespace: String,
    pub name: String,
    pub selector: LabelSelector,
    /// `status.disruptionsAllowed`.
    pub disruptions_allowed: i32,
    /// `status.disruptedPods`: names of pods already being evicted (they do not count).
    pub disrupted_pods: Vec<String>,
}

/// Why preemption cannot make room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// `preemptionPolicy: Never`.
    PolicyNever,
    /// No pod on the node has a lower priority ("No preemption victims found for incoming
    /// pod").
    NoLowerPriority,
    /// Even with every lower-priority pod gone it does not fit: why, in the scheduler's
    /// words.
    StillNoRoom(Vec<String>),
}

/// A pod's chances on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Room {
    Fits,
    /// It fits once these pods are evicted (indices into the pods given), of which
    /// `violating` violate a PodDisruptionBudget.
    Preempts {
        victims: Vec<Victim>,
        violating: usize,
    },
    /// It stays Pending: why (the scheduler's words), and why preemption cannot help.
    Pending {
        reasons: Vec<String>,
        blocked: Blocked,
    },
}

/// A pod preemption would evict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Victim {
    /// Its index in the pods given.
    pub pod: usize,
    /// Evicting it violates a PodDisruptionBudget.
    pub pdb_violated: bool,
}

/// What the node's pods take, over only what the filters compare: the resources the
/// incoming pod requests (dense, in its order), the pod count, and host ports when it
/// wants any. Adding and removing a pod is then a few integer additions, with no map and
/// no allocation: preemption adds and removes each pod of the node up to three times.
struct Taken<'a> {
    /// The incoming pod's requested resources (request above zero), by name.
    names: Vec<&'a str>,
    need: Vec<i128>,
    have: Vec<i128>,
    pod_cap: Option<i128>,
    used: Vec<i128>,
    pods: u64,
    /// Host ports in use, only kept when the incoming pod wants one.
    ports: Option<Vec<HostPort>>,
}

impl<'a> Taken<'a> {
    fn new(incoming: &Incoming<'a>, allocatable: &ResourceList) -> Self {
        let (names, need): (Vec<&str>, Vec<i128>) = incoming
            .requests
            .iter()
            .filter(|(name, value)| name.as_str() != PODS && **value > 0)
            .map(|(name, value)| (name.as_str(), *value))
            .unzip();
        let have = names
            .iter()
            .map(|name| allocatable.get(*name).copied().unwrap_or(0))
            .collect();
        Taken {
            used: vec![0; names.len()],
            names,
            need,
            have,
            pod_cap: allocatable.get(PODS).copied(),
            pods: 0,
            ports: (!incoming.host_ports.is_empty()).then(Vec::new),
        }
    }

    /// Nothing taken: ready for the next node.
    fn clear(&mut self) {
        self.used.iter_mut().for_each(|u| *u = 0);
        self.pods = 0;
        if let Some(ports) = &mut self.ports {
            ports.clear();
        }
    }

    /// Appends a pod's requests over the compared resources to `into`.
    fn extend_vector(&self, pod: &NodePod, into: &mut Vec<i128>) {
        into.extend(
            self.names
                .iter()
                .map(|name| pod.requests.get(*name).copied().unwrap_or(0)),
        );
    }

    fn add(&mut self, pod: &NodePod, vector: &[i128], sign: i128) {
        for (used, value) in self.used.iter_mut().zip(vector) {
            *used = used.saturating_add(sign * *value);
        }
        if sign > 0 {
            self.pods += 1;
            if let Some(ports) = &mut self.ports {
                ports.extend(pod.host_ports.iter().cloned());
            }
        } else {
            self.pods -= 1;
            if let Some(ports) = &mut self.ports {
                for port in pod.host_ports.iter() {
                    if let Some(at) = ports.iter().position(|p| p == port) {
                        ports.swap_remove(at);
                    }
                }
            }
        }
    }

    /// The filters pass: pod count, every requested resource, host ports.
    fn fits(&self, incoming: &Incoming<'_>) -> bool {
        self.pod_cap.is_none_or(|cap| i128::from(self.pods) < cap)
            && self
                .used
                .iter()
                .zip(&self.need)
                .zip(&self.have)
                .all(|((used, need), have)| need.saturating_add(*used) <= *have)
            && self
                .ports
                .as_ref()
                .is_none_or(|ports| !ports_conflict(incoming.host_ports, ports))
    }

    /// Why not, in the scheduler's words: `Too many pods`, `Insufficient RESOURCE` per
    /// resource short (the NodeResourcesFit filter), then the host-port one (NodePorts).
    fn reasons(&self, incoming: &Incoming<'_>) -> Vec<String> {
        let mut reasons = Vec::new();
        if self
            .pod_cap
            .is_some_and(|cap| i128::from(self.pods) + 1 > cap)
        {
            reasons.push("Too many pods".to_owned());
        }
        for (i, name) in self.names.iter().enumerate() {
            if self.need[i].saturating_add(self.used[i]) > self.have[i] {
                reasons.push(format!("Insufficient {name}"));
            }
        }
        if self
            .ports
            .as_ref()
            .is_some_and(|ports| ports_conflict(incoming.host_ports, ports))
        {
            reasons.push(FREE_PORTS_REASON.to_owned());
        }
        reasons
    }
}

/// `util.MoreImportantPod`: higher priority first, then the one started earlier (no start
/// time: started now). Ties keep a stable order by name, so the answer does not depend on
/// the order pods were listed in.
pub fn more_important(a: &NodePod, b: &NodePod, now: i64) -> Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| {
            a.start_time
                .unwrap_or(now)
                .cmp(&b.start_time.unwrap_or(now))
        })
        .then_with(|| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)))
}

/// `filterPodsWithPDBViolation` over `order` (indices into `pods`, sorted): which of them
/// violate a budget, counting each budget down as kube-scheduler counts it.
fn violating<P: Borrow<NodePod>>(pods: &[P], order: &[usize], budgets: &[Budget]) -> Vec<bool> {
    let mut allowed: Vec<i32> = budgets.iter().map(|b| b.disruptions_allowed).collect();
    order
        .iter()
        .map(|&index| {
            let pod = pods[index].borrow();
            let mut violated = false;
            // A pod with no labels matches no budget.
            if pod.labels.is_empty() {
                return false;
            }
            for (i, budget) in budgets.iter().enumerate() {
                if budget.namespace != pod.namespace.as_ref()
                    || !budget.selector.matches_with(|key| pod.label(key))
                    || budget.disrupted_pods.iter().any(|n| n == pod.name.as_ref())
                {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
            violated
        })
        .collect()
}

/// Whether `incoming` fits on a node of `allocatable` beside `pods`, and if not, what
/// preemption would do (see the module). `budgets` are the PodDisruptionBudgets of the
/// cluster (those of other namespaces never match); `now` is what "started now" means for
/// a pod with no start time, in seconds since the epoch.
pub fn room_on_node<P: Borrow<NodePod>>(
    incoming: &Incoming<'_>,
    allocatable: &ResourceList,
    pods: &[P],
    budgets: &[Budget],
    now: i64,
) -> Room {
    let mut order: Vec<usize> = (0..pods.len()).collect();
    order.sort_by(|&a, &b| more_important(pods[a].borrow(), pods[b].borrow(), now));
    let sorted: Vec<&NodePod> = order.iter().map(|&i| pods[i].borrow()).collect();
    match NodeJudge::new(incoming, allocatable).room(incoming, &sorted, budgets) {
        Room::Preempts { victims, violating } => Room::Preempts {
            victims: victims
                .into_iter()
                .map(|v| Victim {
                    pod: order[v.pod],
                    ..v
                })
                .collect(),
            violating,
        },
        other => other,
    }
}

/// Judges one incoming pod on many nodes of one allocatable: the compared resources are
/// worked out once, and the buffers are reused from node to node (no allocation per
/// node but what the answer holds).
pub struct NodeJudge<'a> {
    taken: Taken<'a>,
    vectors: Vec<i128>,
    seen: Vec<(*const ResourceList, usize)>,
    potential: Vec<usize>,
}

impl<'a> NodeJudge<'a> {
    pub fn new(incoming: &Incoming<'a>, allocatable: &ResourceList) -> Self {
        NodeJudge {
            taken: Taken::new(incoming, allocatable),
            vectors: Vec::new(),
            seen: Vec::new(),
            potential: Vec::new(),
        }
    }

    /// [`room_on_node`] on one node's pods already sorted most important first (the order
    /// [`crate::inventory::NodeOccupancy::by_importance`] keeps), so a node is judged
    /// without sorting; victims are indices into `pods`.
    pub fn room<P: Borrow<NodePod>>(
        &mut self,
        incoming: &Incoming<'_>,
        pods: &[P],
        budgets: &[Budget],
    ) -> Room {
        let taken = &mut self.taken;
        taken.clear();
        let width = taken.names.len();
        // One flat list of every pod's compared requests, and a request list shared by
        // replicas (interned) read from its map once.
        let vectors = &mut self.vectors;
        vectors.clear();
        self.seen.clear();
        for pod in pods {
            let pod = pod.borrow();
            let key = Arc::as_ptr(&pod.requests);
            match self.seen.iter().find(|(k, _)| *k == key) {
                Some(&(_, at)) => vectors.extend_from_within(at..at + width),
                None => {
                    self.seen.push((key, vectors.len()));
                    taken.extend_vector(pod, vectors);
                }
            }
        }
        let vector = |i: usize| &vectors[i * width..(i + 1) * width];
        for (i, pod) in pods.iter().enumerate() {
            taken.add(pod.borrow(), vector(i), 1);
        }
        if taken.fits(incoming) {
            return Room::Fits;
        }
        let reasons = taken.reasons(incoming);
        if incoming.never_preempts {
            return Room::Pending {
                reasons,
                blocked: Blocked::PolicyNever,
            };
        }
        // In the given order: most important first.
        let potential = &mut self.potential;
        potential.clear();
        potential
            .extend((0..pods.len()).filter(|&i| pods[i].borrow().priority < incoming.priority));
        if potential.is_empty() {
            return Room::Pending {
                reasons,
                blocked: Blocked::NoLowerPriority,
            };
        }
        for &i in potential.iter() {
            taken.add(pods[i].borrow(), vector(i), -1);
        }
        if !taken.fits(incoming) {
            return Room::Pending {
                reasons,
                blocked: Blocked::StillNoRoom(taken.reasons(incoming)),
            };
        }
        let flags = if budgets.is_empty() {
            Vec::new()
        } else {
            violating(pods, potential, budgets)
        };
        let violates = |position: usize| flags.get(position).copied().unwrap_or(false);
        let mut victims = Vec::new();
        let mut violating_count = 0;
        // The violating ones are reprieved first, then the others, each most important first.
        for want_violating in [true, false] {
            if want_violating && flags.is_empty() {
                continue;
            }
            for (position, &index) in potential.iter().enumerate() {
                if violates(position) != want_violating {
                    continue;
                }
                taken.add(pods[index].borrow(), vector(index), 1);
                if !taken.fits(incoming) {
                    taken.add(pods[index].borrow(), vector(index), -1);
                    victims.push(Victim {
                        pod: index,
                        pdb_violated: want_violating,
                    });
                    violating_count += usize::from(want_violating);
                }
            }
        }
        Room::Preempts {
            victims,
            violating: violating_count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduling::selector::NodeSelectorRequirement;

    fn list(pairs: &[(&str, i128)]) -> ResourceList {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    /// A pod of `cpu` millicores and `memory` bytes at `priority`, started at `start`.
    fn pod(name: &str, priority: i32, start: Option<i64>, cpu: i128, memory: i128) -> NodePod {
        NodePod {
            namespace: Arc::from("default"),
            name: Arc::from(name),
            priority,
            start_time: start,
            requests: Arc::new(list(&[("cpu", cpu), ("memory", memory)])),
            host_ports: Arc::from(Vec::new()),
            labels: Arc::from(vec![(Arc::from("app"), Arc::from(name))]),
        }
    }

    fn labelled(mut pod: NodePod, app: &str) -> NodePod {
        pod.labels = Arc::from(vec![(Arc::from("app"), Arc::from(app))]);
        pod
    }

    fn budget(app: &str, allowed: i32) -> Budget {
        Budget {
            namespace: "default".into(),
            name: format!("pdb-{app}"),
            selector: LabelSelector {
                match_labels: [("app".to_string(), app.to_string())].into(),
                match_expressions: Vec::new(),
            },
            disruptions_allowed: allowed,
            disrupted_pods: Vec::new(),
        }
    }

    /// 4 cpus, 4 GiB, 10 pods: the node of `default_preemption_test.go`'s tables
    /// (`veryLargeRes`-style sizes scaled down).
    fn node() -> ResourceList {
        list(&[("cpu", 4000), ("memory", 4 << 30), ("pods", 10)])
    }

    fn incoming(requests: &ResourceList, priority: i32) -> Incoming<'_> {
        Incoming {
            requests,
            host_ports: &[],
            priority,
            never_preempts: false,
        }
    }

    fn victims(room: &Room, pods: &[NodePod]) -> Vec<String> {
        match room {
            Room::Preempts { victims, .. } => victims
                .iter()
                .map(|v| pods[v.pod].name.to_string())
                .collect(),
            other => panic!("no preemption: {other:?}"),
        }
    }

    #[test]
    fn a_pod_that_fits_preempts_nothing() {
        let pods = [pod("a", 0, Some(1), 1000, 1 << 30)];
        let requests = list(&[("cpu", 1000)]);
        assert_eq!(
            room_on_node(&incoming(&requests, 0), &node(), &pods, &[], 100),
            Room::Fits
        );
    }

    /// Only strictly lower priority pods are potential victims: equal and higher never.
    #[test]
    fn only_lower_priority_pods_are_victims() {
        let pods = [
            pod("higher", 20, Some(1), 1000, 0),
            pod("equal", 10, Some(1), 1000, 0),
            pod("lower", 5, Some(1), 2000, 0),
        ];
        let requests = list(&[("cpu", 2000)]);
        let room = room_on_node(&incoming(&requests, 10), &node(), &pods, &[], 100);
        assert_eq!(victims(&room, &pods), ["lower"]);
        // Nothing below it: "No preemption victims found for incoming pod".
        let room = room_on_node(&incoming(&requests, 5), &node(), &pods, &[], 100);
        assert_eq!(
            room,
            Room::Pending {
                reasons: vec!["Insufficient cpu".into()],
                blocked: Blocked::NoLowerPriority
            }
        );
    }

    /// The fewest and least important pods go: the most important are reprieved first.
    #[test]
    fn the_most_important_victims_are_reprieved_first() {
        let pods = [
            pod("p1", 1, Some(1), 1000, 0),
            pod("p2", 2, Some(1), 1000, 0),
            pod("p3", 3, Some(1), 1000, 0),
            pod("p4", 4, Some(1), 1000, 0),
        ];
        let requests = list(&[("cpu", 2000)]);
        let room = room_on_node(&incoming(&requests, 10), &node(), &pods, &[], 100);
        assert_eq!(victims(&room, &pods), ["p2", "p1"]);
    }

    /// Equal priorities: the one started earlier is more important and stays; a pod with
    /// no start time counts as started now (the latest).
    #[test]
    fn start_time_breaks_priority_ties() {
        let pods = [
            pod("old", 1, Some(10), 2000, 0),
            pod("new", 1, Some(50), 2000, 0),
            pod("unstarted", 1, None, 2000, 0),
        ];
        let requests = list(&[("cpu", 2000)]);
        let full = list(&[("cpu", 6000), ("pods", 10)]);
        let room = room_on_node(&incoming(&requests, 10), &full, &pods, &[], 100);
        assert_eq!(victims(&room, &pods), ["unstarted"]);
        let four = list(&[("cpu", 4000), ("pods", 10)]);
        let room = room_on_node(&incoming(&requests, 10), &four, &pods, &[], 100);
        assert_eq!(victims(&room, &pods), ["new", "unstarted"]);
    }

    /// `preemptionPolicy: Never` waits whatever is below it.
    #[test]
    fn preemption_policy_never_never_preempts() {
        let pods = [pod("low", 0, Some(1), 4000, 0)];
        let requests = list(&[("cpu", 1000)]);
        let mut never = incoming(&requests, 1_000_000);
        never.never_preempts = true;
        assert_eq!(
            room_on_node(&never, &node(), &pods, &[], 100),
            Room::Pending {
                reasons: vec!["Insufficient cpu".into()],
                blocked: Blocked::PolicyNever
            }
        );
    }

    /// A pod too large even with every lower-priority pod gone stays Pending, with why.
    #[test]
    fn a_pod_that_does_not_fit_even_with_every_victim_gone_stays_pending() {
        let pods = [
            pod("high", 100, Some(1), 3000, 0),
            pod("low", 0, Some(1), 500, 0),
        ];
        let requests = list(&[("cpu", 2000)]);
        let room = room_on_node(&incoming(&requests, 10), &node(), &pods, &[], 100);
        assert_eq!(
            room,
            Room::Pending {
                reasons: vec!["Insufficient cpu".into()],
                blocked: Blocked::StillNoRoom(vec!["Insufficient cpu".into()])
            }
        );
    }

    /// PDB-violating pods are reprieved before the others: of two equal candidates, the
    /// one a budget protects stays and the other goes.
    #[test]
    fn pdb_violating_pods_are_reprieved_first() {
        let pods = [
            labelled(pod("protected", 1, Some(1), 2000, 0), "db"),
            labelled(pod("free", 1, Some(5), 2000, 0), "batch"),
        ];
        let requests = list(&[("cpu", 2000)]);
        // Without a budget the later-started one goes.
        let room = room_on_node(&incoming(&requests, 10), &node(), &pods, &[], 100);
        assert_eq!(victims(&room, &pods), ["free"]);
        // A budget with no disruption allowed on the earlier one: it is violating, so
        // reprieved first; the other goes.
        let room = room_on_node(
            &incoming(&requests, 10),
            &node(),
            &pods,
            &[budget("db", 0)],
            100,
        );
        assert_eq!(victims(&room, &pods), ["free"]);
        assert_eq!(
            room,
            Room::Preempts {
                victims: vec![Victim {
                    pod: 1,
                    pdb_violated: false
                }],
                violating: 0
            }
        );
        // A budget on the later one, more important by the budget than by its start.
        let room = room_on_node(
            &incoming(&requests, 10),
            &node(),
            &pods,
            &[budget("batch", 0)],
            100,
        );
        assert_eq!(victims(&room, &pods), ["protected"]);
        // Both protected: one must still go, and it is counted as violating.
        let both = [
            labelled(pod("a", 1, Some(1), 2000, 0), "db"),
            labelled(pod("b", 1, Some(5), 2000, 0), "db"),
        ];
        let needs_both = list(&[("cpu", 4000)]);
        let room = room_on_node(
            &incoming(&needs_both, 10),
            &node(),
            &both,
            &[budget("db", 1)],
            100,
        );
        // The budget allows one: counted down in order, "a" uses it, "b" violates.
        assert_eq!(
            room,
            Room::Preempts {
                victims: vec![
                    Victim {
                        pod: 1,
                        pdb_violated: true
                    },
                    Victim {
                        pod: 0,
                        pdb_violated: false
                    }
                ],
                violating: 1
            }
        );
    }

    /// `disruptedPods` do not count against the budget; another namespace's budget and an
    /// empty selector match nothing.
    #[test]
    fn budgets_count_as_kube_scheduler_counts_them() {
        let pods = [
            labelled(pod("a", 1, Some(1), 2000, 0), "db"),
            labelled(pod("b", 1, Some(5), 2000, 0), "db"),
        ];
        let mut already = budget("db", 0);
        already.disrupted_pods = vec!["a".into()];
        assert_eq!(violating(&pods, &[0, 1], &[already]), [false, true]);
        let mut elsewhere = budget("db", 0);
        elsewhere.namespace = "other".into();
        assert_eq!(violating(&pods, &[0, 1], &[elsewhere]), [false, false]);
        let mut empty = budget("db", 0);
        empty.selector = LabelSelector::default();
        assert_eq!(violating(&pods, &[0, 1], &[empty]), [false, false]);
        let mut gt = budget("db", 0);
        gt.selector.match_expressions = vec![NodeSelectorRequirement {
            key: "app".into(),
            operator: "Gt".into(),
            values: vec!["1".into()],
        }];
        assert_eq!(
            violating(&pods, &[0, 1], &[gt]),
            [false, false],
            "an invalid selector matches nothing"
        );
        assert_eq!(violating(&pods, &[0, 1], &[budget("db", 1)]), [false, true]);
    }

    /// The pod count and host ports are filters too, in the scheduler's words, and
    /// evicting a pod frees its port.
    #[test]
    fn pod_count_and_host_ports_are_filters() {
        let small = list(&[("cpu", 8000), ("pods", 2)]);
        let pods = [pod("a", 0, Some(1), 0, 0), pod("b", 0, Some(2), 0, 0)];
        let requests = ResourceList::new();
        assert_eq!(
            room_on_node(&incoming(&requests, 0), &small, &pods, &[], 100),
            Room::Pending {
                reasons: vec!["Too many pods".into()],
                blocked: Blocked::NoLowerPriority
            }
        );
        let room = room_on_node(&incoming(&requests, 1), &small, &pods, &[], 100);
        assert_eq!(victims(&room, &pods), ["b"]);
        let port = HostPort {
            protocol: "TCP".into(),
            host_ip: String::new(),
            port: 9100,
        };
        let mut exporter = pod("old-exporter", 0, Some(1), 0, 0);
        exporter.host_ports = Arc::from(vec![port.clone()]);
        let ports = [port];
        let wanting = Incoming {
            requests: &requests,
            host_ports: &ports,
            priority: 0,
            never_preempts: false,
        };
        assert_eq!(
            room_on_node(&wanting, &node(), std::slice::from_ref(&exporter), &[], 100),
            Room::Pending {
                reasons: vec![FREE_PORTS_REASON.into()],
                blocked: Blocked::NoLowerPriority
            }
        );
        let higher = Incoming {
            priority: 5,
            ..wanting
        };
        let room = room_on_node(&higher, &node(), std::slice::from_ref(&exporter), &[], 100);
        assert_eq!(
            victims(&room, std::slice::from_ref(&exporter)),
            ["old-exporter"]
        );
    }
}
