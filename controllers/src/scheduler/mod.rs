//! kube-scheduler (seed §6) as a pure reconcile: for each pending pod, filter the nodes, score
//! the feasible ones with upstream's weights, pick the best (ties broken by a seeded draw) and
//! bind; or report why no node fits, as upstream words it, and retry with backoff when the
//! cluster changes.
//!
//! - [`plugins`]: the filters and scores, and [`FitError`]'s message.
//! - [`snapshot`]: [`Snapshot`], every node with its requests aggregated once and changed
//!   incrementally by assumed pods.
//! - [`resources`]: a pod's effective and non-zero requests.
//!
//! [`Scheduler`] holds what upstream's scheduler keeps between cycles: the scheduling queue's
//! backoff and unschedulable bookkeeping, the assume cache (a pod counts on its node from the
//! moment it is chosen until the binding is observed, so two pods cannot take the same room),
//! the seeded tie-break generator and the rotating start index of the node search.
//! [`Scheduler::schedule_batch`] is the same decision loop without a view, for a caller that
//! holds a snapshot (the `skiff bench scheduler` command).
//!
//! Departures from upstream, knowingly:
//!
//! - No preemption (upstream's PostFilter): a FitError message never ends in
//!   ` preemption: …`, and `nominatedNodeName` is never set.
//! - Not run: the volume plugins, PodTopologySpread (including its system default spreading),
//!   InterPodAffinity, ImageLocality. Only cpu, memory and the pod count are fitted (no
//!   ephemeral-storage, extended resources or pod overhead).
//! - NodeAffinity's PreFilter narrowing (`metadata.name` field terms) is not done: such nodes
//!   report the NodeAffinity reason, not "node is filtered out by the prefilter result".
//! - Queueing hints are coarse: any node change, a bound pod that left or shrank (deleted,
//!   finished, fewer requests or ports) or a failed binding wakes every waiting pod (upstream
//!   asks each plugin); a pod being bound or added never does.
//! - Nodes are searched one by one in name order from the rotating start index (upstream runs
//!   16 filters in parallel over a zone-interleaved node list).
//! - Assumed pods never expire (upstream's default since its assume TTL became 0).

pub mod plugins;
pub mod resources;
pub mod snapshot;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use skiff_core::client::{Binding, ClientError};
use skiff_core::object::{Object, Pod, PodCondition, Value, info};
use skiff_core::rng::SplitMix64;

pub use plugins::{FitError, Reason};
pub use snapshot::{Footprint, NodeInfo, PodInfo, Snapshot};

use crate::reconcile::{self, Action, Controller, EventType, Output, Watched};
use crate::view::{ObjectKey, View};

/// The scheduler's name: pods with this `spec.schedulerName` (or none) are ours, and it is the
/// event source component (upstream `DefaultSchedulerName`).
pub const SCHEDULER_NAME: &str = "default-scheduler";
/// The scheduler's leader lease (`kube-system/kube-scheduler`, as upstream).
pub const SCHEDULER_LEASE: &str = "kube-scheduler";
/// First retry delay of a pod that failed to schedule (upstream `DefaultPodInitialBackoffDuration`).
pub const POD_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Longest retry delay (upstream `DefaultPodMaxBackoffDuration`).
pub const POD_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// An unschedulable pod is retried after this long even without a cluster event (upstream
/// `DefaultPodMaxInUnschedulablePodsDuration`).
pub const POD_MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);
/// Below this many nodes every node is examined (upstream `minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never goes below this (upstream `minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;
/// `PodScheduled=False` message of a pod with scheduling gates (upstream
/// `PodReasonSchedulingGated` condition, set by the scheduling queue's PreEnqueue check).
pub const SCHEDULING_GATED_MESSAGE: &str =
    "Scheduling is blocked due to non-empty scheduling gates";
/// Message when there is no node at all (upstream `ErrNoNodesAvailable`).
pub const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// kube-scheduler as the runtime loop runs it: the default scheduler alone under the
/// `kube-scheduler` lease, its tie-breaks drawn from `seed`.
pub fn manager(seed: u64) -> crate::runtime::Manager {
    crate::runtime::Manager::new(SCHEDULER_LEASE).with(Scheduler::new(seed))
}

/// How many feasible nodes to find before scoring (upstream `numFeasibleNodesToFind`,
/// `pkg/scheduler/schedule_one.go`; docs "Scheduler Performance Tuning"): every node below
/// 100 nodes or at 100 %; otherwise `percentage` of the nodes, where 0 means adaptive
/// `50 − nodes/125` floored at 5 %; never fewer than 100.
pub fn num_feasible_nodes_to_find(num_all_nodes: usize, percentage: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND || percentage >= 100 {
        return num_all_nodes;
    }
    let percentage = if percentage == 0 {
        50usize
            .saturating_sub(num_all_nodes / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    } else {
        percentage
    };
    (num_all_nodes * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// The wait before the next attempt after `attempts` failed ones (upstream
/// `calculateBackoffDuration`): 1 s, doubled per further attempt, at most 10 s.
pub fn backoff_duration(attempts: u32) -> Duration {
    if attempts == 0 {
        return Duration::ZERO;
    }
    let mut d = POD_INITIAL_BACKOFF;
    for _ in 1..attempts {
        d *= 2;
        if d > POD_MAX_BACKOFF {
            return POD_MAX_BACKOFF;
        }
    }
    d
}

/// Whether the default scheduler should place `pod`: no node yet, not being deleted, not
/// finished, and `spec.schedulerName` ours or unset.
pub fn is_pending_for_us(pod: &Pod) -> bool {
    pod.spec.node_name.as_deref().is_none_or(str::is_empty)
        && pod.metadata.deletion_timestamp.is_none()
        && !snapshot::is_terminated(pod)
        && matches!(
            pod.spec.scheduler_name.as_deref(),
            None | Some("" | SCHEDULER_NAME)
        )
}

/// Whether `spec.schedulingGates` holds a gate: the pod waits, unscheduled, until every gate
/// is removed (upstream SchedulingGates plugin).
pub fn is_gated(pod: &Pod) -> bool {
    matches!(&pod.spec.scheduling_gates, Some(Value::Seq(gates)) if !gates.is_empty())
}

/// Why a pod could not be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    /// The cluster has no node (upstream `ErrNoNodesAvailable`, a scheduler error).
    NoNodes,
    /// Nodes exist but none fits.
    Unschedulable(FitError),
}

impl ScheduleError {
    /// The `PodScheduled=False` reason: `Unschedulable`, or `SchedulerError` for a failure
    /// other than a fit error (upstream `PodReasonUnschedulable`, `PodReasonSchedulerError`).
    pub fn reason(&self) -> &'static str {
        match self {
            ScheduleError::NoNodes => "SchedulerError",
            ScheduleError::Unschedulable(_) => "Unschedulable",
        }
    }
}

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScheduleError::NoNodes => f.write_str(NO_NODES_AVAILABLE),
            ScheduleError::Unschedulable(e) => e.fmt(f),
        }
    }
}

/// A pod the queue holds after a failed attempt: backing off, then waiting for a cluster
/// change (upstream backoffQ and unschedulablePods).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedPod {
    /// The pod's uid (a recreated pod starts afresh).
    pub uid: Option<String>,
    /// The pod's `metadata.generation` at the failure: a spec change retries at once.
    pub generation: Option<i64>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// No retry before this.
    pub backoff_until: SystemTime,
    /// When the last attempt failed.
    pub failed_at: SystemTime,
    /// [`Scheduler::cluster_events`] at the failure: a later count means the cluster changed in a
    /// way that may let the pod fit.
    pub events_seen: u64,
}

/// A pod chosen for a node whose binding has not been observed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumedPod {
    /// The pod's uid.
    pub uid: Option<String>,
    /// The node it was bound to.
    pub node: String,
    /// What it takes there.
    pub footprint: Footprint,
}

#[derive(Debug, Clone, Default)]
struct Scratch {
    feasible: Vec<usize>,
    reasons: Vec<Reason>,
    taint: Vec<i64>,
    affinity: Vec<i64>,
    totals: Vec<i64>,
}

/// The default scheduler: decision state plus the queue and assume cache the reconcile keeps
/// between calls. Plain data; tests build one with [`Scheduler::new`] and drive it.
#[derive(Debug, Clone)]
pub struct Scheduler {
    /// `percentageOfNodesToScore`: 0 for upstream's adaptive value.
    pub percentage_of_nodes_to_score: usize,
    rng: SplitMix64,
    next_start_node_index: usize,
    queue: BTreeMap<ObjectKey, QueuedPod>,
    assumed: BTreeMap<ObjectKey, AssumedPod>,
    cached: Option<(u64, Snapshot)>,
    /// Whether `cached` has followed every change [`Controller::observe`] reported since its
    /// last refresh from a view (a node added or deleted clears it until the next refresh).
    observing: bool,
    cluster_events: u64,
    scratch: Scratch,
}

impl Scheduler {
    /// A scheduler drawing its tie-breaks from `seed`, with the adaptive percentage of nodes
    /// to score.
    pub fn new(seed: u64) -> Self {
        Self {
            percentage_of_nodes_to_score: 0,
            rng: SplitMix64::new(seed),
            next_start_node_index: 0,
            queue: BTreeMap::new(),
            assumed: BTreeMap::new(),
            cached: None,
            observing: false,
            cluster_events: 0,
            scratch: Scratch::default(),
        }
    }

    /// Where the next node search starts (upstream `nextStartNodeIndex`).
    pub fn next_start_node_index(&self) -> usize {
        self.next_start_node_index
    }

    /// The pods waiting after a failed attempt.
    pub fn queued(&self) -> &BTreeMap<ObjectKey, QueuedPod> {
        &self.queue
    }

    /// The pods assumed on a node, binding not yet observed.
    pub fn assumed(&self) -> &BTreeMap<ObjectKey, AssumedPod> {
        &self.assumed
    }

    /// How many cluster changes that may let a waiting pod fit have been seen.
    pub fn cluster_events(&self) -> u64 {
        self.cluster_events
    }

    /// Chooses a node for one pod (upstream `schedulePod`): filters nodes from the rotating
    /// start index until enough feasible ones are found, scores them and draws among the best.
    /// Returns the node's index in `snapshot`; the snapshot is not changed.
    pub fn schedule_pod(
        &mut self,
        snapshot: &Snapshot,
        pod: &PodInfo<'_>,
    ) -> Result<usize, ScheduleError> {
        let n = snapshot.len();
        if n == 0 {
            return Err(ScheduleError::NoNodes);
        }
        let want = num_feasible_nodes_to_find(n, self.percentage_of_nodes_to_score);
        let start = self.next_start_node_index % n;
        let mut feasible = std::mem::take(&mut self.scratch.feasible);
        let mut reasons = std::mem::take(&mut self.scratch.reasons);
        feasible.clear();
        let mut diagnosis: BTreeMap<Reason, usize> = BTreeMap::new();
        let mut processed = 0;
        for k in 0..n {
            let i = if start + k >= n {
                start + k - n
            } else {
                start + k
            };
            processed += 1;
            if plugins::filter(pod, snapshot.node(i), &mut reasons) {
                feasible.push(i);
                if feasible.len() >= want {
                    break;
                }
            } else {
                for r in reasons.drain(..) {
                    *diagnosis.entry(r).or_insert(0) += 1;
                }
            }
        }
        // upstream: nextStartNodeIndex = (nextStartNodeIndex + processedNodes) % len(nodes)
        self.next_start_node_index = (start + processed) % n;
        let result = match feasible.as_slice() {
            [] => Err(ScheduleError::Unschedulable(FitError {
                num_all_nodes: n,
                reasons: diagnosis,
            })),
            // upstream: with one feasible node, scoring is skipped.
            [only] => Ok(*only),
            _ => Ok(self.prioritize_and_select(snapshot, pod, &feasible)),
        };
        self.scratch.feasible = feasible;
        self.scratch.reasons = reasons;
        result
    }

    /// Scores the feasible nodes (upstream `prioritizeNodes`) and picks one of the highest
    /// (upstream `selectHost`: reservoir sampling over ties, here with the seeded generator).
    fn prioritize_and_select(
        &mut self,
        snapshot: &Snapshot,
        pod: &PodInfo<'_>,
        feasible: &[usize],
    ) -> usize {
        prioritize(snapshot, pod, feasible, &mut self.scratch);
        let totals = &self.scratch.totals;
        let mut best = 0;
        let mut max = i64::MIN;
        let mut ties = 0u64;
        for (j, &total) in totals.iter().enumerate() {
            if total > max {
                max = total;
                best = j;
                ties = 1;
            } else if total == max {
                ties += 1;
                if self.rng.below(ties) == 0 {
                    best = j;
                }
            }
        }
        feasible[best]
    }

    /// Schedules `pods` in order against `snapshot`, assuming each placed pod on its node
    /// before the next decision (so a batch never double-books a node). Returns, per pod, the
    /// chosen node's index in `snapshot` or why none fits.
    pub fn schedule_batch(
        &mut self,
        snapshot: &mut Snapshot,
        pods: &[&Pod],
    ) -> Vec<Result<usize, ScheduleError>> {
        pods.iter()
            .map(|pod| {
                let info = PodInfo::new(pod);
                let decision = self.schedule_pod(snapshot, &info);
                if let Ok(i) = decision {
                    snapshot.assume(i, &Footprint::from(&info));
                }
                decision
            })
            .collect()
    }

    /// Brings the cached snapshot to the view's revision: the view's bound pods plus the
    /// assumed pods the view has not caught up with. A refresh that shows room may have
    /// appeared counts as a cluster event.
    fn refresh(&mut self, view: &View) {
        if matches!(&self.cached, Some((rev, _)) if *rev == view.revision()) {
            return;
        }
        self.assumed.retain(|key, a| {
            view.get::<Pod>(&key.namespace, &key.name)
                .is_some_and(|p| p.metadata.uid == a.uid && is_pending_for_us(p))
        });
        let assumed = self
            .assumed
            .values()
            .map(|a| (a.node.as_str(), &a.footprint));
        if let Some((revision, snapshot)) = &mut self.cached {
            if snapshot.refresh_from_view(view, assumed) {
                self.cluster_events += 1;
            }
            *revision = view.revision();
        } else {
            let mut snapshot = Snapshot::default();
            snapshot.refresh_from_view(view, assumed);
            self.cached = Some((view.revision(), snapshot));
        }
        self.observing = true;
    }

    /// Follows one change of the view in the cached snapshot (upstream's scheduler cache is
    /// fed by its informers' event handlers the same way), so a reconcile after it finds the
    /// snapshot at the view's revision instead of walking every pod. Without a cache, or after
    /// a change it cannot follow (a node added or deleted), it does nothing and the next
    /// reconcile refreshes from the view.
    fn follow(&mut self, view: &View, old: Option<&Object>, new: Option<&Object>) {
        if !self.observing {
            return;
        }
        let Some((revision, snapshot)) = &mut self.cached else {
            return;
        };
        let Some(object) = new.or(old) else {
            return;
        };
        let more = match object {
            Object::Pod(_) => {
                let key = ObjectKey::of(object);
                let pod = match new {
                    Some(Object::Pod(p)) => Some(p),
                    _ => None,
                };
                // The same rule as `refresh`: an assumption lasts while the pod is still
                // pending for us with the same uid.
                let settled = self.assumed.get(&key).is_some_and(|a| {
                    !pod.is_some_and(|p| p.metadata.uid == a.uid && is_pending_for_us(p))
                });
                let settled = if settled {
                    self.assumed.remove(&key)
                } else {
                    None
                };
                snapshot.observe_pod(
                    &key.namespace,
                    &key.name,
                    pod,
                    settled.as_ref().map(|a| (a.node.as_str(), &a.footprint)),
                )
            }
            Object::Node(_) => {
                let known = match new {
                    Some(Object::Node(n)) => snapshot.observe_node(n),
                    _ => None,
                };
                let Some(more) = known else {
                    // Added or deleted: the node indexes move; rebuild at the next reconcile.
                    self.observing = false;
                    return;
                };
                more
            }
            _ => false,
        };
        if more {
            self.cluster_events += 1;
        }
        *revision = view.revision();
    }

    /// Whether a queued pod may be tried now; otherwise how long until it may.
    fn wait_for(&self, entry: &QueuedPod, pod: &Pod, now: SystemTime) -> Option<Duration> {
        if let Ok(left) = entry.backoff_until.duration_since(now)
            && !left.is_zero()
        {
            return Some(left);
        }
        let changed =
            self.cluster_events > entry.events_seen || pod.metadata.generation != entry.generation;
        let flush_at = entry.failed_at + POD_MAX_IN_UNSCHEDULABLE;
        match flush_at.duration_since(now) {
            Ok(left) if !left.is_zero() && !changed => Some(left),
            _ => None,
        }
    }

    fn unschedulable_keys(&self) -> impl Iterator<Item = ObjectKey> + '_ {
        self.queue.keys().cloned()
    }
}

/// Whether `pod`, a state the view held before its latest change, held room on a node that
/// the view's current state no longer holds: the pod was deleted (or replaced by another of
/// the same name), finished, or now asks for other requests or ports (upstream wakes on a
/// scale-down only; any change is taken here). Only then can a waiting pod fit where it
/// did not (upstream's queueing hints: NodeResourcesFit and NodePorts register
/// `AssignedPodDelete` and `UpdatePodScaleDown`, `pkg/scheduler/framework/plugins/
/// noderesources/fit.go` `EventsToRegister`; a pod being bound or added only takes room, and
/// InterPodAffinity and PodTopologySpread, which a bound pod could satisfy, are not run). For
/// the current state itself (the view holds it unchanged) this is false.
fn released_room(view: &View, pod: &Pod) -> bool {
    if snapshot::is_terminated(pod) {
        return false;
    }
    let Some(node) = pod.spec.node_name.as_deref().filter(|n| !n.is_empty()) else {
        return false;
    };
    let Some(now) = view.get::<Pod>(
        pod.metadata.namespace_or_empty(),
        pod.metadata.name_or_empty(),
    ) else {
        return true;
    };
    if now.metadata.uid != pod.metadata.uid
        || now.spec.node_name.as_deref() != Some(node)
        || snapshot::is_terminated(now)
    {
        return true;
    }
    let before = Footprint::from(&PodInfo::new(pod));
    let after = Footprint::from(&PodInfo::new(now));
    before != after
}

/// The weighted total score of each feasible node, in `feasible`'s order (upstream
/// `prioritizeNodes`): TaintToleration ×3 and NodeAffinity ×2, each normalized over these
/// nodes, plus NodeResourcesFit ×1 and BalancedAllocation ×1.
pub fn node_scores(snapshot: &Snapshot, pod: &PodInfo<'_>, feasible: &[usize]) -> Vec<i64> {
    let mut scratch = Scratch::default();
    prioritize(snapshot, pod, feasible, &mut scratch);
    scratch.totals
}

/// [`node_scores`] into reused buffers (`s.totals`).
fn prioritize(snapshot: &Snapshot, pod: &PodInfo<'_>, feasible: &[usize], s: &mut Scratch) {
    let tolerations = plugins::prefer_no_schedule_tolerations(pod.pod);
    let has_preferred = pod
        .pod
        .spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .is_some_and(|na| {
            !na.preferred_during_scheduling_ignored_during_execution
                .is_empty()
        });
    s.taint.clear();
    s.affinity.clear();
    s.totals.clear();
    for &i in feasible {
        let node = snapshot.node(i);
        s.taint
            .push(plugins::intolerable_prefer_no_schedule(&tolerations, node));
        s.affinity.push(if has_preferred {
            plugins::preferred_affinity(pod.pod, node)
        } else {
            0
        });
        s.totals.push(
            plugins::WEIGHT_NODE_RESOURCES_FIT * plugins::least_allocated(pod, node)
                + plugins::WEIGHT_BALANCED_ALLOCATION * plugins::balanced_allocation(pod, node),
        );
    }
    plugins::default_normalize(&mut s.taint, true);
    plugins::default_normalize(&mut s.affinity, false);
    for ((total, taint), affinity) in s.totals.iter_mut().zip(&s.taint).zip(&s.affinity) {
        *total +=
            plugins::WEIGHT_TAINT_TOLERATION * taint + plugins::WEIGHT_NODE_AFFINITY * affinity;
    }
}

/// The pod with `PodScheduled=False` set (upstream `updatePod` with
/// `podutil.UpdatePodCondition`: the transition time is kept while the status stays the
/// same), or `None` when the condition already says exactly this.
fn unschedulable_status(pod: &Pod, reason: &str, message: &str, now: SystemTime) -> Option<Pod> {
    let old = pod
        .status
        .conditions
        .iter()
        .find(|c| c.r#type == "PodScheduled");
    if let Some(c) = old
        && c.status == "False"
        && c.reason.as_deref() == Some(reason)
        && c.message.as_deref() == Some(message)
    {
        return None;
    }
    let last_transition_time = match old {
        Some(c) if c.status == "False" => c.last_transition_time,
        _ => Some(reconcile::time_of(now)),
    };
    let condition = PodCondition {
        r#type: "PodScheduled".to_owned(),
        status: "False".to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_transition_time,
        ..PodCondition::default()
    };
    let mut next = pod.clone();
    match next
        .status
        .conditions
        .iter_mut()
        .find(|c| c.r#type == "PodScheduled")
    {
        Some(c) => *c = condition,
        None => next.status.conditions.push(condition),
    }
    Some(next)
}

impl Controller for Scheduler {
    fn name(&self) -> &'static str {
        SCHEDULER_NAME
    }

    fn watches(&self) -> Vec<Watched> {
        vec![Watched::all(&info::POD), Watched::all(&info::NODE)]
    }

    /// A pending pod is its own key. A node change, or a change of a bound pod (which may have
    /// freed room), concerns every pod waiting after a failure (upstream moves them to the
    /// active or backoff queue on such cluster events).
    fn keys_for(&self, view: &View, object: &Object) -> Vec<ObjectKey> {
        match object {
            Object::Pod(pod) => {
                let key = ObjectKey::of(object);
                let mut keys = Vec::new();
                let bound = !pod.spec.node_name.as_deref().is_none_or(str::is_empty);
                if !bound || self.queue.contains_key(&key) || self.assumed.contains_key(&key) {
                    keys.push(key.clone());
                }
                if released_room(view, pod) {
                    keys.extend(self.unschedulable_keys().filter(|k| *k != key));
                }
                keys
            }
            Object::Node(_) => self.unschedulable_keys().collect(),
            _ => Vec::new(),
        }
    }

    fn resync_keys(&self, view: &View) -> Vec<ObjectKey> {
        let mut keys: Vec<ObjectKey> = view
            .list::<Pod>()
            .filter(|p| is_pending_for_us(p))
            .map(|p| ObjectKey::new(p.metadata.namespace_or_empty(), p.metadata.name_or_empty()))
            .collect();
        keys.extend(self.unschedulable_keys());
        keys.sort();
        keys.dedup();
        keys
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, now: SystemTime) -> Output {
        let Some(pod) = view.get::<Pod>(&key.namespace, &key.name) else {
            self.queue.remove(key);
            self.assumed.remove(key);
            return Output::none();
        };
        if !is_pending_for_us(pod) {
            // Bound (the assumption, if any, is now observed), being deleted, finished, or
            // another scheduler's.
            self.queue.remove(key);
            self.assumed.remove(key);
            return Output::none();
        }
        if self
            .assumed
            .get(key)
            .is_some_and(|a| a.uid == pod.metadata.uid)
        {
            // Bound by us; the binding is not in the view yet.
            return Output::none();
        }
        if is_gated(pod) {
            // Not queued at all until the gates are removed (a pod update brings it back).
            self.queue.remove(key);
            let actions =
                unschedulable_status(pod, "SchedulingGated", SCHEDULING_GATED_MESSAGE, now)
                    .map(|p| Action::UpdateStatus(p.into()))
                    .into_iter()
                    .collect();
            return Output {
                actions,
                requeue_after: None,
            };
        }
        // Refreshing first lets a change in this view count as the cluster event a waiting
        // pod needs.
        self.refresh(view);
        if let Some(entry) = self.queue.get(key) {
            if entry.uid != pod.metadata.uid {
                self.queue.remove(key);
            } else if let Some(wait) = self.wait_for(entry, pod, now) {
                return Output {
                    actions: Vec::new(),
                    requeue_after: Some(wait),
                };
            }
        }
        let Some((_, mut snapshot)) = self.cached.take() else {
            return Output::none();
        };
        let info = PodInfo::new(pod);
        let decision = self.schedule_pod(&snapshot, &info);
        let output = match decision {
            Ok(i) => {
                let footprint = Footprint::from(&info);
                snapshot.assume(i, &footprint);
                let node = snapshot.node(i).name().to_owned();
                self.queue.remove(key);
                self.assumed.insert(
                    key.clone(),
                    AssumedPod {
                        uid: pod.metadata.uid.clone(),
                        node: node.clone(),
                        footprint,
                    },
                );
                let message = format!(
                    "Successfully assigned {}/{} to {node}",
                    key.namespace, key.name
                );
                Output {
                    actions: vec![
                        Action::Bind {
                            namespace: key.namespace.clone(),
                            name: key.name.clone(),
                            binding: Binding {
                                node,
                                uid: pod.metadata.uid.clone(),
                                resource_version: None,
                            },
                        },
                        reconcile::event(
                            &Object::Pod(pod.clone()),
                            EventType::Normal,
                            "Scheduled",
                            message,
                            SCHEDULER_NAME,
                            now,
                        ),
                    ],
                    requeue_after: None,
                }
            }
            Err(e) => self.failed(key, pod, &e, now),
        };
        self.cached = Some((view.revision(), snapshot));
        output
    }

    fn observe(&mut self, view: &View, old: Option<&Object>, new: Option<&Object>) {
        self.follow(view, old, new);
    }

    fn action_failed(&mut self, key: &ObjectKey, action: &Action, _error: &ClientError) {
        if let Action::Bind { .. } = action
            && let Some(a) = self.assumed.remove(key)
        {
            // upstream ForgetPod: the room it held is free again.
            if let Some((_, snapshot)) = &mut self.cached
                && let Some(i) = snapshot.index_of(&a.node)
            {
                snapshot.forget(i, &a.footprint);
            }
            self.cluster_events += 1;
        }
    }
}

impl Scheduler {
    /// Records a failed attempt: FailedScheduling event, `PodScheduled=False` when it changed,
    /// and the pod waits in the queue (backoff, then until a cluster change or the 5-minute
    /// flush).
    fn failed(&mut self, key: &ObjectKey, pod: &Pod, e: &ScheduleError, now: SystemTime) -> Output {
        let attempts = self
            .queue
            .get(key)
            .map_or(0, |q| q.attempts)
            .saturating_add(1);
        self.queue.insert(
            key.clone(),
            QueuedPod {
                uid: pod.metadata.uid.clone(),
                generation: pod.metadata.generation,
                attempts,
                backoff_until: now + backoff_duration(attempts),
                failed_at: now,
                events_seen: self.cluster_events,
            },
        );
        let message = e.to_string();
        let mut actions = vec![reconcile::event(
            &Object::Pod(pod.clone()),
            EventType::Warning,
            "FailedScheduling",
            message.clone(),
            SCHEDULER_NAME,
            now,
        )];
        if let Some(next) = unschedulable_status(pod, e.reason(), &message, now) {
            actions.push(Action::UpdateStatus(next.into()));
        }
        Output {
            actions,
            requeue_after: Some(POD_MAX_IN_UNSCHEDULABLE),
        }
    }
}
