//! Node lifecycle controller (seed §5; upstream `pkg/controller/nodelifecycle` and the taint
//! eviction controller `pkg/controller/tainteviction`): Ready=Unknown after the grace period,
//! condition taints, rate-limited NoExecute tainting per zone, full-disruption detection, and
//! eviction of pods whose tolerations run out.
//!
//! # One pass over the cluster
//!
//! Like upstream's `monitorNodeHealth`, the controller works in passes over every node, every
//! [`Config::monitor_period`] (5 s, the seed's "노드 상태를 5초마다 테스트"). It has a single
//! key, [`monitor_key`]; [`monitor`] is the pure function behind it. A pass:
//!
//! 1. **Health** (upstream `tryUpdateNodeHealth`). Per node the controller keeps a
//!    [`NodeHealth`] (upstream `nodeHealthData`): `probe` is **the controller's own `now`**
//!    (its monotonic clock, so a step of its own wall clock moves no grace period) at
//!    the pass that observed the kubelet post — a new `lastHeartbeatTime` on the Ready
//!    condition, or a Lease (`kube-node-lease/<node>`) whose `spec.renewTime` changed. The
//!    kubelet's timestamps are compared only with the kubelet's own earlier ones, never with
//!    `now`, so a kubelet whose clock is skewed (or stepped) but keeps heartbeating is never
//!    marked Unknown. When `now > probe + grace` (40 s by default as in the seed, "40초 후
//!    unreachable"; upstream's default is 50 s since kubernetes#126287; nodes that never posted
//!    a Ready condition get the 60 s startup grace), Ready, MemoryPressure, DiskPressure and
//!    PIDPressure become `Unknown` with reason `NodeStatusUnknown` and message "Kubelet stopped
//!    posting node status." (`NodeStatusNeverUpdated` / "Kubelet never posted node status."
//!    for a condition the kubelet never wrote), written with [`Action::UpdateStatus`]. When
//!    Ready leaves `True`, the node's pods get `Ready=False` (upstream `MarkPodsNotReady`).
//! 2. **Zones** (upstream `handleDisruption`, `ComputeZoneState`). Nodes are grouped by the
//!    `topology.kubernetes.io/zone` label (`""` without one; upstream also folds in the
//!    region label, and leaves out nodes labelled `node.kubernetes.io/exclude-disruption`:
//!    skiff does neither). A zone with no Ready node is in
//!    `FullDisruption`; one with more than 2 not-Ready nodes making up at least 55 % is in
//!    `PartialDisruption`; else `Normal`. When **every** zone is fully disrupted the controller
//!    assumes the problem is its own connectivity: it removes its NoExecute taints from every
//!    node and adds none until a node is Ready again; on leaving that mode it restarts every
//!    node's grace period.
//! 3. **Taints.** NoSchedule taints follow the conditions at once (upstream
//!    `doNoScheduleTaintingPass`: Ready False → `not-ready`, Unknown → `unreachable`,
//!    MemoryPressure/DiskPressure/PIDPressure/NetworkUnavailable True → their taints,
//!    `spec.unschedulable` → `unschedulable`). The NoExecute taint (`not-ready` for Ready=False,
//!    `unreachable` for Unknown) is **rate-limited per zone**: a node that needs it joins its
//!    zone's queue and is tainted when the zone's token bucket (burst 1) has a token — 0.1
//!    nodes/s in a Normal zone or a fully disrupted zone while others are not; in a partially
//!    disrupted zone 0.01/s if the zone has more than 50 nodes, else 0 (upstream
//!    `ReducedQPSFunc`: small clusters stop). Swapping `not-ready` for `unreachable` (or back)
//!    and removing both when the node is Ready again are not limited (upstream
//!    `SwapNodeControllerTaint`, `markNodeAsReachable`). **What is limited is exactly the
//!    addition of a NoExecute taint to a node that has neither.** Every taint added carries
//!    `timeAdded = now`. A node is written at most once per pass (status first, taints in the
//!    next pass, which the status write's own watch event triggers; the pass also asks to run
//!    again after 100 ms, upstream's tainting loop period).
//! 4. **Eviction** (upstream taint eviction controller). For each pod (not already being
//!    deleted) on a node with NoExecute taints: a taint the pod does not tolerate evicts it at
//!    once; otherwise the first matching toleration of each taint counts, and the pod is
//!    evicted when `timeAdded + tolerationSeconds` (the smallest over the taints) is reached —
//!    300 s with the tolerations the DefaultTolerationSeconds admission adds, the seed's "5분";
//!    tolerations without `tolerationSeconds` tolerate forever. Eviction is an
//!    [`Action::UpdateStatus`] adding the `DisruptionTarget` condition (reason
//!    `DeletionByTaintManager`), an event, then a delete with the pod's uid as precondition.
//!    Upstream starts the timer when its own controller first sees the (pod, taint) pair;
//!    skiff uses the taint's `timeAdded` (written by this controller from the same clock), so
//!    a controller restart does not restart the timers — a taint without `timeAdded` is timed
//!    from when this controller first saw it.
//!
//! State kept between passes ([`State`]) is plain data; a controller restart forgets it, which
//! (as upstream) gives every node a fresh grace period. Upstream also removes the NoExecute
//! taints of every node it sees for the first time (and so restarts all eviction timers after
//! a restart); skiff keeps them, so that a controller restart changes nothing for pods already
//! counting down.
//!
//! When the write adding a NoExecute taint fails ([`Controller::action_failed`]), the zone's
//! token is given back and the node goes to the front of its queue.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use skiff_core::client::{ClientError, DeleteOptions};
use skiff_core::clock::unix_micros;
use skiff_core::object::{
    HasKindInfo, Lease, MicroTime, Node, NodeCondition, Object, Pod, PodCondition, Taint, Time,
    Toleration, info,
};

use crate::reconcile::{Action, Controller, EventType, Now, Output, Watched, event, time_of};
use crate::view::{ObjectKey, View};

#[cfg(test)]
mod tests;

/// upstream `TaintNodeNotReady`: Ready is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// upstream `TaintNodeUnreachable`: Ready is Unknown (the kubelet stopped posting).
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// upstream `TaintNodeMemoryPressure`.
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// upstream `TaintNodeDiskPressure`.
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// upstream `TaintNodePIDPressure`.
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// upstream `TaintNodeNetworkUnavailable`.
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";
/// upstream `TaintNodeUnschedulable`: `spec.unschedulable` (cordon).
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// The zone label nodes are grouped by (upstream `LabelTopologyZone`).
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// Where kubelets keep their heartbeat Leases (upstream `NamespaceNodeLease`).
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// The pod condition set before a taint eviction (upstream `DisruptionTarget`).
pub const CONDITION_DISRUPTION_TARGET: &str = "DisruptionTarget";
/// Event source of the health and tainting part (upstream's node lifecycle controller).
pub const COMPONENT: &str = "node-controller";
/// Event source of the eviction part (upstream's taint eviction controller).
pub const EVICTION_COMPONENT: &str = "taint-eviction-controller";

/// One token of a zone bucket, in billionths.
const TOKEN: u64 = 1_000_000_000;
/// The conditions the controller sets to Unknown (upstream leaves NetworkUnavailable alone: it
/// is managed by the control plane).
const UNKNOWN_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Settings, upstream's kube-controller-manager flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `--node-monitor-period`: how often a pass runs (5 s).
    pub monitor_period: Duration,
    /// `--node-monitor-grace-period`: how long a node may go without posting before it is
    /// Unknown. 40 s as in the seed and older upstream; upstream's default is 50 s since
    /// kubernetes#126287.
    pub grace_period: Duration,
    /// `--node-startup-grace-period`: the grace of a node that never posted Ready (60 s).
    pub startup_grace_period: Duration,
    /// `--node-eviction-rate`, in nodes per 1000 s (0.1/s = 100).
    pub eviction_rate_per_1000s: u64,
    /// `--secondary-node-eviction-rate`, in nodes per 1000 s (0.01/s = 10).
    pub secondary_eviction_rate_per_1000s: u64,
    /// `--large-cluster-size-threshold`: a partially disrupted zone of at most this many
    /// nodes stops tainting (50).
    pub large_cluster_threshold: usize,
    /// `--unhealthy-zone-threshold`, in percent (55).
    pub unhealthy_zone_threshold_percent: u32,
    /// How soon to run again when a taint waits for a token or for the node's status write
    /// (upstream's NoExecute tainting loop runs every 100 ms).
    pub tainting_period: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            monitor_period: Duration::from_secs(5),
            grace_period: Duration::from_secs(40),
            startup_grace_period: Duration::from_secs(60),
            eviction_rate_per_1000s: 100,
            secondary_eviction_rate_per_1000s: 10,
            large_cluster_threshold: 50,
            unhealthy_zone_threshold_percent: 55,
            tainting_period: Duration::from_millis(100),
        }
    }
}

/// What the controller remembers of one node (upstream `nodeHealthData`). Times are the
/// controller's own, in microseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeHealth {
    /// The Ready condition as last posted by the kubelet or written by this controller.
    pub ready: Option<NodeCondition>,
    /// When this controller last observed the kubelet post (upstream `probeTimestamp`), on
    /// the monotonic clock of [`monitor_at`].
    pub probe_micros: i64,
    /// When this controller last observed Ready change (upstream `readyTransitionTimestamp`),
    /// on the monotonic clock.
    pub ready_transition_micros: i64,
    /// The Lease `renewTime` last observed, once a Lease was seen.
    pub lease_renew_time: Option<Option<MicroTime>>,
    /// Since when the node waits in its zone's queue for a NoExecute taint (monotonic).
    pub taint_queued_micros: Option<i64>,
    /// The last pass took a token to add the node's NoExecute taint (given back if that
    /// write fails).
    pub token_taken: bool,
}

/// A zone's state (upstream `ZoneState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZoneState {
    /// Seen for the first time.
    #[default]
    Initial,
    /// Healthy enough.
    Normal,
    /// More than 2 nodes and at least the threshold share not Ready.
    PartialDisruption,
    /// No node Ready.
    FullDisruption,
}

/// A token bucket with a burst of one token (upstream `flowcontrol.NewTokenBucketRateLimiter`
/// with `EvictionRateLimiterBurst` 1), in billionths of a token, filled from the controller's
/// own clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenBucket {
    /// Tokens per 1000 s; 0 never gives a token.
    pub rate_per_1000s: u64,
    /// Billionths of a token available (at most one token).
    pub nano_tokens: u64,
    /// When the bucket was last filled, µs.
    pub last_micros: i64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(rate_per_1000s: u64, now_micros: i64) -> Self {
        Self {
            rate_per_1000s,
            nano_tokens: if rate_per_1000s == 0 { 0 } else { TOKEN },
            last_micros: now_micros,
        }
    }

    fn refill(&mut self, now_micros: i64) {
        if now_micros > self.last_micros {
            let elapsed = u64::try_from(now_micros - self.last_micros).unwrap_or(u64::MAX);
            let added = elapsed.saturating_mul(self.rate_per_1000s);
            self.nano_tokens = self.nano_tokens.saturating_add(added).min(TOKEN);
            self.last_micros = now_micros;
        }
    }

    /// Takes a token if one is available at `now_micros`.
    pub fn try_take(&mut self, now_micros: i64) -> bool {
        if self.rate_per_1000s == 0 {
            return false;
        }
        self.refill(now_micros);
        if self.nano_tokens >= TOKEN {
            self.nano_tokens -= TOKEN;
            true
        } else {
            false
        }
    }

    /// Microseconds until a token is available (`None` at rate 0).
    pub fn wait_micros(&self) -> Option<i64> {
        if self.rate_per_1000s == 0 {
            return None;
        }
        let missing = TOKEN.saturating_sub(self.nano_tokens);
        let micros = missing.div_ceil(self.rate_per_1000s);
        Some(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    /// Changes the rate (upstream `SwapLimiter`): the new bucket is full if the old one had a
    /// token, empty otherwise.
    pub fn swap_rate(&mut self, rate_per_1000s: u64, now_micros: i64) {
        if rate_per_1000s == self.rate_per_1000s {
            return;
        }
        self.refill(now_micros);
        let had_token = self.rate_per_1000s > 0 && self.nano_tokens >= TOKEN;
        *self = Self {
            rate_per_1000s,
            nano_tokens: if had_token && rate_per_1000s > 0 {
                TOKEN
            } else {
                0
            },
            last_micros: now_micros,
        };
    }
}

/// A zone: its state and its NoExecute tainting bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Zone {
    /// The state the last pass computed.
    pub state: ZoneState,
    /// Rate limit of NoExecute tainting in the zone.
    pub bucket: TokenBucket,
}

/// Everything the controller remembers between passes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    /// Per node, by name.
    pub nodes: BTreeMap<String, NodeHealth>,
    /// Per zone key.
    pub zones: BTreeMap<String, Zone>,
    /// When this controller first saw a NoExecute taint without `timeAdded`, by
    /// `(node, taint key)`.
    pub untimed_taints: BTreeMap<(String, String), i64>,
}

impl State {
    /// True while every zone is fully disrupted (no NoExecute tainting, no evictions for
    /// the controller's own taints).
    pub fn in_full_disruption(&self) -> bool {
        !self.zones.is_empty()
            && self
                .zones
                .values()
                .all(|z| z.state == ZoneState::FullDisruption)
    }
}

/// The one key of the controller: a pass over the whole cluster.
pub fn monitor_key() -> ObjectKey {
    ObjectKey::default()
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn duration_of_micros(m: i64) -> Duration {
    Duration::from_micros(u64::try_from(m).unwrap_or(0))
}

fn time_micros(t: Time) -> i64 {
    t.unix_seconds.saturating_mul(1_000_000)
}

/// The zone key of a node (`""` without the zone label).
pub fn zone_of(node: &Node) -> String {
    node.metadata
        .labels
        .get(LABEL_ZONE)
        .cloned()
        .unwrap_or_default()
}

/// When a pod on a node with `taints` (the NoExecute ones, each with the time its timer
/// started) must go: `Some(at)` (µs; at or before now means at once) or `None` (tolerated
/// forever). upstream `GetMatchingTolerations` (the first toleration matching each taint) and
/// `getMinTolerationTime` (a toleration of ≤ 0 s evicts at once), with each taint timed from
/// its own start.
pub fn eviction_deadline(tolerations: &[Toleration], taints: &[(&Taint, i64)]) -> Option<i64> {
    let mut deadline: Option<i64> = None;
    for (taint, started) in taints {
        let Some(used) = tolerations.iter().find(|t| t.tolerates(taint)) else {
            return Some(i64::MIN);
        };
        if let Some(seconds) = used.toleration_seconds {
            let at = if seconds <= 0 {
                i64::MIN
            } else {
                started.saturating_add(seconds.saturating_mul(1_000_000))
            };
            deadline = Some(deadline.map_or(at, |d| d.min(at)));
        }
    }
    deadline
}

/// upstream `ComputeZoneState` over the Ready statuses of a zone's nodes (`None`: no Ready
/// condition yet). Returns the number of not-Ready nodes and the state.
pub fn compute_zone_state(ready: &[Option<&str>], threshold_percent: u32) -> (usize, ZoneState) {
    let ready_count = ready.iter().filter(|s| **s == Some("True")).count();
    let not_ready = ready.len() - ready_count;
    let state = if ready_count == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2
        && (not_ready as u128) * 100 >= u128::from(threshold_percent) * (ready.len() as u128)
    {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    };
    (not_ready, state)
}

/// The NoExecute tainting rate of a zone in `state` with `size` nodes (upstream
/// `setLimiterInZone` with `ReducedQPSFunc` / `HealthyQPSFunc`).
fn zone_rate(config: &Config, state: ZoneState, size: usize) -> u64 {
    match state {
        ZoneState::PartialDisruption if size > config.large_cluster_threshold => {
            config.secondary_eviction_rate_per_1000s
        }
        ZoneState::PartialDisruption => 0,
        ZoneState::Initial | ZoneState::Normal | ZoneState::FullDisruption => {
            config.eviction_rate_per_1000s
        }
    }
}

/// What one pass decided for one node.
struct NodePass<'a> {
    node: &'a Node,
    zone: String,
    /// The node with its new conditions, when this pass writes them.
    status_write: Option<Node>,
    /// The Ready condition after this pass.
    ready: Option<NodeCondition>,
    /// Ready as the view had it before this pass (a fake Unknown when never posted).
    observed_ready_status: String,
}

/// One pass of the node lifecycle controller over the view at `now` (see the module
/// documentation), the wall clock standing in for the monotonic one (for tests and callers
/// without one: see [`monitor_at`]). Changes `state` and returns the writes.
pub fn monitor(view: &View, state: &mut State, config: &Config, now: SystemTime) -> Output {
    monitor_at(view, state, config, now, unix_micros(now))
}

/// One pass at wall time `now` and monotonic time `monotonic_us` (microseconds of the
/// runtime's clock). The intervals kept only in memory — each node's grace since the
/// controller last saw it heartbeat, the zones' rate limiters, the taint queue — run on the
/// monotonic clock, so a step of the controller's own wall clock neither marks a renewing
/// node early nor lets evictions through faster (upstream gets the same from Go's
/// `time.Now()`, whose monotonic reading `After`/`Sub` use). Times written into objects or
/// read from them (taints' `timeAdded`, conditions) stay wall times.
pub fn monitor_at(
    view: &View,
    state: &mut State,
    config: &Config,
    now: SystemTime,
    monotonic_us: i64,
) -> Output {
    let now_us = unix_micros(now);
    let mono_us = monotonic_us;
    let mut out = Output::none();
    state
        .nodes
        .retain(|name, _| view.get::<Node>("", name).is_some());
    for health in state.nodes.values_mut() {
        health.token_taken = false;
    }
    let mut passes: Vec<NodePass<'_>> = view
        .list::<Node>()
        .map(|node| update_health(view, state, config, node, mono_us, now))
        .collect();
    let zones = zone_sizes_and_states(&passes, config);
    handle_disruption(state, config, &zones, mono_us);
    let full_disruption = state.in_full_disruption();
    let mut desired: BTreeMap<String, Vec<Taint>> = BTreeMap::new();
    for pass in &mut passes {
        let taints = plan_taints(state, pass, full_disruption, now, mono_us);
        desired.insert(pass.node.metadata.name_or_empty().to_owned(), taints);
    }
    take_tokens(state, config, &passes, &mut desired, now, mono_us, &mut out);
    let mut evictions = Output::none();
    let evicted = evict(view, state, &desired, now, now_us, &mut evictions);
    for pass in &passes {
        node_status_actions(view, pass, &evicted, now, &mut out);
    }
    for pass in &passes {
        let name = pass.node.metadata.name_or_empty();
        if pass.status_write.is_some() {
            out.requeue_at_most(config.tainting_period);
            continue;
        }
        if let Some(taints) = desired.get(name)
            && *taints != pass.node.spec.taints
        {
            let mut node = pass.node.clone();
            node.spec.taints.clone_from(taints);
            out.actions.push(Action::Update(node.into()));
        }
    }
    out.actions.append(&mut evictions.actions);
    if let Some(after) = evictions.requeue_after {
        out.requeue_at_most(after);
    }
    out.requeue_at_most(config.monitor_period);
    out
}

/// upstream `tryUpdateNodeHealth` for one node.
fn update_health<'a>(
    view: &View,
    state: &mut State,
    config: &Config,
    node: &'a Node,
    mono_us: i64,
    now: SystemTime,
) -> NodePass<'a> {
    let name = node.metadata.name_or_empty().to_owned();
    let created = node.metadata.creation_timestamp.map_or(0, time_micros);
    let current = node.condition("Ready");
    let grace = if current.is_some() {
        micros(config.grace_period)
    } else {
        micros(config.startup_grace_period)
    };
    let first_seen = !state.nodes.contains_key(&name);
    let health = state.nodes.entry(name.clone()).or_default();
    if first_seen {
        // Never-posted nodes are timed from their creation (upstream), others from now; the
        // creation's wall time is carried over to the monotonic scale at first sight.
        let since_created = unix_micros(now).saturating_sub(created).max(0);
        let start = if current.is_some() {
            mono_us
        } else {
            mono_us.saturating_sub(since_created)
        };
        *health = NodeHealth {
            ready: current.cloned(),
            probe_micros: start,
            ready_transition_micros: start,
            ..NodeHealth::default()
        };
    } else {
        match (&health.ready, current) {
            (None, Some(c)) => {
                health.ready = Some(c.clone());
                health.probe_micros = mono_us;
                health.ready_transition_micros = mono_us;
            }
            (Some(saved), None) if saved.reason.as_deref() != Some("NodeStatusNeverUpdated") => {
                // The Ready condition was removed: upstream restarts the timers.
                health.ready = None;
                health.probe_micros = mono_us;
                health.ready_transition_micros = mono_us;
            }
            (Some(saved), Some(c)) if saved.last_heartbeat_time != c.last_heartbeat_time => {
                if saved.last_transition_time != c.last_transition_time {
                    health.ready_transition_micros = mono_us;
                }
                health.ready = Some(c.clone());
                health.probe_micros = mono_us;
            }
            _ => {}
        }
    }
    // A renewed Lease is a heartbeat. Its renewTime is compared only with the one seen
    // before (any change counts: a kubelet whose clock stepped back still renews).
    if let Some(lease) = view.get::<Lease>(NODE_LEASE_NAMESPACE, &name) {
        let renew = lease.spec.renew_time;
        if health.lease_renew_time != Some(renew) {
            health.lease_renew_time = Some(renew);
            health.probe_micros = mono_us;
        }
    }
    let observed_ready_status = current.map_or_else(|| "Unknown".to_owned(), |c| c.status.clone());
    let mut status_write = None;
    let mut ready = current.cloned();
    if mono_us > health.probe_micros.saturating_add(grace) {
        let mut updated = node.clone();
        if mark_unknown(&mut updated, now) {
            ready = updated.condition("Ready").cloned();
            health.ready.clone_from(&ready);
            health.ready_transition_micros = mono_us;
            status_write = Some(updated);
        }
    }
    NodePass {
        node,
        zone: zone_of(node),
        status_write,
        ready,
        observed_ready_status,
    }
}

/// Sets Ready and the pressure conditions to Unknown; true if anything changed.
fn mark_unknown(node: &mut Node, now: SystemTime) -> bool {
    let now_time = time_of(now);
    let created = node.metadata.creation_timestamp;
    let mut changed = false;
    for type_ in UNKNOWN_CONDITIONS {
        let conditions = &mut node.status.conditions;
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            None => {
                conditions.push(NodeCondition {
                    type_: type_.to_owned(),
                    status: "Unknown".to_owned(),
                    last_heartbeat_time: created,
                    last_transition_time: Some(now_time),
                    reason: Some("NodeStatusNeverUpdated".to_owned()),
                    message: Some("Kubelet never posted node status.".to_owned()),
                });
                changed = true;
            }
            Some(c) if c.status != "Unknown" => {
                "Unknown".clone_into(&mut c.status);
                c.reason = Some("NodeStatusUnknown".to_owned());
                c.message = Some("Kubelet stopped posting node status.".to_owned());
                c.last_transition_time = Some(now_time);
                changed = true;
            }
            Some(_) => {}
        }
    }
    changed
}

/// Per zone: its size and its new state.
fn zone_sizes_and_states(
    passes: &[NodePass<'_>],
    config: &Config,
) -> BTreeMap<String, (usize, ZoneState)> {
    let mut by_zone: BTreeMap<&str, Vec<Option<&str>>> = BTreeMap::new();
    for pass in passes {
        by_zone
            .entry(pass.zone.as_str())
            .or_default()
            .push(pass.ready.as_ref().map(|c| c.status.as_str()));
    }
    by_zone
        .into_iter()
        .map(|(zone, ready)| {
            let (_, zone_state) =
                compute_zone_state(&ready, config.unhealthy_zone_threshold_percent);
            (zone.to_owned(), (ready.len(), zone_state))
        })
        .collect()
}

/// upstream `handleDisruption`: zone states and the rates of their buckets.
fn handle_disruption(
    state: &mut State,
    config: &Config,
    zones: &BTreeMap<String, (usize, ZoneState)>,
    mono_us: i64,
) {
    let all_are_full = zones.values().all(|(_, s)| *s == ZoneState::FullDisruption);
    state.zones.retain(|zone, _| zones.contains_key(zone));
    for zone in zones.keys() {
        state.zones.entry(zone.clone()).or_insert_with(|| Zone {
            state: ZoneState::Initial,
            bucket: TokenBucket::full(config.eviction_rate_per_1000s, mono_us),
        });
    }
    let all_were_full = state
        .zones
        .values()
        .all(|z| z.state == ZoneState::FullDisruption);
    if all_are_full && all_were_full {
        return;
    }
    if all_are_full {
        // "Controller detected that all Nodes are not-Ready. Entering master disruption
        // mode": stop tainting; the taints themselves are removed by the pass.
        for zone in state.zones.values_mut() {
            zone.bucket.swap_rate(0, mono_us);
            zone.state = ZoneState::FullDisruption;
        }
        return;
    }
    if all_were_full {
        // "Exiting master disruption mode": every node gets a fresh grace period.
        for health in state.nodes.values_mut() {
            health.probe_micros = mono_us;
            health.ready_transition_micros = mono_us;
        }
    }
    for (name, (size, new_state)) in zones {
        let zone = state.zones.get_mut(name).expect("inserted above");
        if zone.state != *new_state || all_were_full {
            zone.bucket
                .swap_rate(zone_rate(config, *new_state, *size), mono_us);
            zone.state = *new_state;
        }
    }
}

/// The status write of a node, its pods' Ready=False, and the NodeNotReady events.
fn node_status_actions(
    view: &View,
    pass: &NodePass<'_>,
    evicted: &BTreeSet<ObjectKey>,
    now: SystemTime,
    out: &mut Output,
) {
    if let Some(node) = &pass.status_write {
        out.actions.push(Action::UpdateStatus(node.clone().into()));
    }
    let ready = pass.ready.as_ref().map_or("Unknown", |c| c.status.as_str());
    if ready == "True" || pass.ready.is_none() {
        return;
    }
    let transition = pass.observed_ready_status == "True";
    if transition {
        let name = pass.node.metadata.name_or_empty();
        out.actions.push(event(
            &Object::Node(pass.node.clone()),
            EventType::Normal,
            "NodeNotReady",
            format!("Node {name} status is now: NodeNotReady"),
            COMPONENT,
            now,
        ));
    }
    // upstream MarkPodsNotReady on the transition; while the kubelet is silent (Unknown) it
    // is repeated until done, as nothing else will.
    if !transition && ready != "Unknown" {
        return;
    }
    let name = pass.node.metadata.name_or_empty();
    for pod in view.pods_on_node(name) {
        if evicted.contains(&pod_key(pod)) {
            continue;
        }
        let Some(i) = pod
            .status
            .conditions
            .iter()
            .position(|c| c.r#type == "Ready" && c.status == "True")
        else {
            continue;
        };
        let mut updated = pod.clone();
        let condition = &mut updated.status.conditions[i];
        "False".clone_into(&mut condition.status);
        condition.last_transition_time = Some(time_of(now));
        out.actions.push(Action::UpdateStatus(updated.into()));
        out.actions.push(event(
            &Object::Pod(pod.clone()),
            EventType::Warning,
            "NodeNotReady",
            "Node is not ready",
            COMPONENT,
            now,
        ));
    }
}

fn is_condition_taint(taint: &Taint) -> bool {
    taint.effect == "NoSchedule"
        && matches!(
            taint.key.as_str(),
            TAINT_NOT_READY
                | TAINT_UNREACHABLE
                | TAINT_MEMORY_PRESSURE
                | TAINT_DISK_PRESSURE
                | TAINT_PID_PRESSURE
                | TAINT_NETWORK_UNAVAILABLE
                | TAINT_UNSCHEDULABLE
        )
}

fn is_own_no_execute(taint: &Taint) -> bool {
    taint.effect == "NoExecute" && (taint.key == TAINT_NOT_READY || taint.key == TAINT_UNREACHABLE)
}

fn new_taint(key: &str, effect: &str, now: SystemTime) -> Taint {
    Taint {
        key: key.to_owned(),
        value: None,
        effect: effect.to_owned(),
        time_added: Some(time_of(now)),
    }
}

/// upstream `nodeConditionToTaintKeyStatusMap` plus the unschedulable taint.
fn condition_taint_keys(node: &Node, ready: Option<&NodeCondition>) -> BTreeSet<&'static str> {
    let mut keys = BTreeSet::new();
    match ready.map(|c| c.status.as_str()) {
        Some("False") => {
            keys.insert(TAINT_NOT_READY);
        }
        Some("Unknown") => {
            keys.insert(TAINT_UNREACHABLE);
        }
        _ => {}
    }
    for c in &node.status.conditions {
        let key = match c.type_.as_str() {
            "MemoryPressure" => TAINT_MEMORY_PRESSURE,
            "DiskPressure" => TAINT_DISK_PRESSURE,
            "PIDPressure" => TAINT_PID_PRESSURE,
            "NetworkUnavailable" => TAINT_NETWORK_UNAVAILABLE,
            _ => continue,
        };
        if c.status == "True" {
            keys.insert(key);
        }
    }
    if node.spec.unschedulable == Some(true) {
        keys.insert(TAINT_UNSCHEDULABLE);
    }
    keys
}

/// The node's taints as this pass wants them, before rate-limited NoExecute additions;
/// updates the zone queue membership.
fn plan_taints(
    state: &mut State,
    pass: &NodePass<'_>,
    full_disruption: bool,
    now: SystemTime,
    mono_us: i64,
) -> Vec<Taint> {
    let node = pass.node;
    let conditions_node = pass.status_write.as_ref().unwrap_or(node);
    let wanted = condition_taint_keys(conditions_node, pass.ready.as_ref());
    let mut taints: Vec<Taint> = node
        .spec
        .taints
        .iter()
        .filter(|t| !is_condition_taint(t) || wanted.contains(t.key.as_str()))
        .cloned()
        .collect();
    for key in &wanted {
        if !taints
            .iter()
            .any(|t| t.effect == "NoSchedule" && t.key == *key)
        {
            taints.push(new_taint(key, "NoSchedule", now));
        }
    }
    let health = state
        .nodes
        .get_mut(node.metadata.name_or_empty())
        .expect("every listed node has health");
    if full_disruption {
        // upstream markNodeAsReachable for every node in master disruption mode.
        taints.retain(|t| !is_own_no_execute(t));
    }
    let (want, other) = match pass.ready.as_ref().map(|c| c.status.as_str()) {
        _ if full_disruption => (None, None),
        Some("False") => (Some(TAINT_NOT_READY), Some(TAINT_UNREACHABLE)),
        Some("Unknown") => (Some(TAINT_UNREACHABLE), Some(TAINT_NOT_READY)),
        _ => (None, None),
    };
    let Some(want) = want else {
        taints.retain(|t| !is_own_no_execute(t));
        health.taint_queued_micros = None;
        return taints;
    };
    let has = |key: &str, taints: &[Taint]| {
        taints
            .iter()
            .any(|t| t.effect == "NoExecute" && t.key == key)
    };
    if has(want, &taints) {
        taints.retain(|t| !(t.effect == "NoExecute" && Some(t.key.as_str()) == other));
        health.taint_queued_micros = None;
    } else if other.is_some_and(|o| has(o, &taints)) {
        // Swap at once (upstream SwapNodeControllerTaint), no token.
        taints.retain(|t| !is_own_no_execute(t));
        taints.push(new_taint(want, "NoExecute", now));
        health.taint_queued_micros = None;
    } else if health.taint_queued_micros.is_none() {
        health.taint_queued_micros = Some(mono_us);
    }
    taints
}

/// Adds the NoExecute taint to queued nodes, in queue order, while their zone has tokens.
#[allow(clippy::too_many_arguments, reason = "one pass's shared state")]
fn take_tokens(
    state: &mut State,
    config: &Config,
    passes: &[NodePass<'_>],
    desired: &mut BTreeMap<String, Vec<Taint>>,
    now: SystemTime,
    mono_us: i64,
    out: &mut Output,
) {
    let mut queues: BTreeMap<&str, BTreeSet<(i64, &str)>> = BTreeMap::new();
    let by_name: BTreeMap<&str, &NodePass<'_>> = passes
        .iter()
        .map(|p| (p.node.metadata.name_or_empty(), p))
        .collect();
    for pass in passes {
        let name = pass.node.metadata.name_or_empty();
        if let Some(since) = state.nodes.get(name).and_then(|h| h.taint_queued_micros) {
            queues
                .entry(pass.zone.as_str())
                .or_default()
                .insert((since, name));
        }
    }
    for (zone_name, queue) in queues {
        let Some(zone) = state.zones.get_mut(zone_name) else {
            continue;
        };
        for (_, name) in queue {
            let pass = by_name.get(name).expect("queued from the passes");
            if pass.status_write.is_some() {
                // The node is written this pass already; its taint waits for the next.
                continue;
            }
            if !zone.bucket.try_take(mono_us) {
                if let Some(wait) = zone.bucket.wait_micros() {
                    out.requeue_at_most(duration_of_micros(wait).max(config.tainting_period));
                }
                break;
            }
            let key = match pass.ready.as_ref().map(|c| c.status.as_str()) {
                Some("False") => TAINT_NOT_READY,
                _ => TAINT_UNREACHABLE,
            };
            if let Some(taints) = desired.get_mut(name) {
                taints.push(new_taint(key, "NoExecute", now));
            }
            if let Some(h) = state.nodes.get_mut(name) {
                h.taint_queued_micros = None;
                h.token_taken = true;
            }
        }
    }
}

/// The taint eviction part: pods on nodes with NoExecute taints (as the view has them, less
/// those this pass removes). Returns the pods evicted.
fn evict(
    view: &View,
    state: &mut State,
    desired: &BTreeMap<String, Vec<Taint>>,
    now: SystemTime,
    now_us: i64,
    out: &mut Output,
) -> BTreeSet<ObjectKey> {
    let mut evicted = BTreeSet::new();
    let mut seen_untimed = BTreeSet::new();
    for node in view.list::<Node>() {
        let name = node.metadata.name_or_empty();
        let kept = desired.get(name);
        let mut taints: Vec<(&Taint, i64)> = Vec::new();
        for taint in node.spec.taints.iter().filter(|t| t.effect == "NoExecute") {
            if kept.is_some_and(|k| {
                !k.iter()
                    .any(|d| d.key == taint.key && d.effect == "NoExecute")
            }) {
                continue;
            }
            let started = if let Some(t) = taint.time_added {
                time_micros(t)
            } else {
                let key = (name.to_owned(), taint.key.clone());
                seen_untimed.insert(key.clone());
                *state.untimed_taints.entry(key).or_insert(now_us)
            };
            taints.push((taint, started));
        }
        if taints.is_empty() {
            continue;
        }
        for pod in view.pods_on_node(name) {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            match eviction_deadline(&pod.spec.tolerations, &taints) {
                Some(at) if at <= now_us => {
                    evicted.insert(pod_key(pod));
                    evict_pod(pod, now, out);
                }
                Some(at) => out.requeue_at_most(duration_of_micros(at - now_us)),
                None => {}
            }
        }
    }
    state.untimed_taints.retain(|k, _| seen_untimed.contains(k));
    evicted
}

fn pod_key(pod: &Pod) -> ObjectKey {
    ObjectKey::new(
        pod.metadata.namespace_or_empty(),
        pod.metadata.name_or_empty(),
    )
}

/// upstream `addConditionAndDeletePod`: the DisruptionTarget condition, an event, a delete.
fn evict_pod(pod: &Pod, now: SystemTime, out: &mut Output) {
    let wanted = PodCondition {
        r#type: CONDITION_DISRUPTION_TARGET.to_owned(),
        status: "True".to_owned(),
        reason: Some("DeletionByTaintManager".to_owned()),
        message: Some("Taint manager: deleting due to NoExecute taint".to_owned()),
        last_transition_time: Some(time_of(now)),
        ..PodCondition::default()
    };
    let present = pod.status.conditions.iter().any(|c| {
        c.r#type == wanted.r#type
            && c.status == wanted.status
            && c.reason == wanted.reason
            && c.message == wanted.message
    });
    if !present {
        let mut updated = pod.clone();
        let conditions = &mut updated.status.conditions;
        conditions.retain(|c| c.r#type != CONDITION_DISRUPTION_TARGET);
        conditions.push(wanted);
        out.actions.push(Action::UpdateStatus(updated.into()));
    }
    let namespace = pod.metadata.namespace_or_empty().to_owned();
    let name = pod.metadata.name_or_empty().to_owned();
    out.actions.push(event(
        &Object::Pod(pod.clone()),
        EventType::Normal,
        "TaintManagerEviction",
        format!("Marking for deletion Pod {namespace}/{name}"),
        EVICTION_COMPONENT,
        now,
    ));
    out.actions.push(Action::Delete {
        resource: &info::POD,
        namespace,
        name,
        options: DeleteOptions {
            uid: pod.metadata.uid.clone(),
            ..DeleteOptions::default()
        },
    });
}

/// The node lifecycle controller as the runtime runs it: one key, [`monitor_key`], a pass
/// every [`Config::monitor_period`].
#[derive(Debug, Clone, Default)]
pub struct NodeLifecycleController {
    /// Settings.
    pub config: Config,
    /// What the passes remember.
    pub state: State,
    /// When the last pass ran, on the monotonic clock of [`Controller::reconcile_at`].
    last_pass_micros: Option<i64>,
}

/// The shortest gap between two passes that changes started. A pass walks every node, and
/// each Node change asks for one: at 5,000 nodes, passes one per change took 71 % of the
/// simulated control plane's CPU (BENCHMARKS.md). Changes closer together than this share the
/// pass that follows the gap. Upstream reacts to a Node change through a queue of its own;
/// 100 ms is its NoExecute tainting loop's period.
pub const PASS_GAP: Duration = Duration::from_millis(100);

impl NodeLifecycleController {
    /// A controller with `config` and no memory.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            state: State::default(),
            last_pass_micros: None,
        }
    }
}

impl Controller for NodeLifecycleController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn watches(&self) -> Vec<Watched> {
        vec![
            Watched::all(&Node::INFO),
            Watched {
                resource: &Lease::INFO,
                label_selector: String::new(),
                field_selector: format!("metadata.namespace={NODE_LEASE_NAMESPACE}"),
            },
            Watched::all(&Pod::INFO),
        ]
    }

    /// Node changes start a pass at once; Lease renewals are observed by the next periodic
    /// pass (as upstream, whose monitor only reads its Lease cache every 5 s); a pod change
    /// starts a pass only when the pod is on a node with a NoExecute taint.
    fn keys_for(&self, view: &View, object: &Object) -> Vec<ObjectKey> {
        match object {
            Object::Node(_) => vec![monitor_key()],
            Object::Pod(pod) => {
                let tainted = pod
                    .spec
                    .node_name
                    .as_deref()
                    .and_then(|n| view.get::<Node>("", n))
                    .is_some_and(|n| n.spec.taints.iter().any(|t| t.effect == "NoExecute"));
                if tainted {
                    vec![monitor_key()]
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }

    fn resync_keys(&self, _view: &View) -> Vec<ObjectKey> {
        vec![monitor_key()]
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, now: SystemTime) -> Output {
        if *key != monitor_key() {
            return Output::none();
        }
        monitor(view, &mut self.state, &self.config, now)
    }

    /// The runtime's entry: grace periods and rate limits on the monotonic clock
    /// ([`monitor_at`]).
    fn reconcile_at(&mut self, view: &View, key: &ObjectKey, now: Now) -> Output {
        if *key != monitor_key() {
            return Output::none();
        }
        let monotonic_us = i64::try_from(now.monotonic.as_micros()).unwrap_or(i64::MAX);
        if let Some(last) = self.last_pass_micros {
            let since = monotonic_us.saturating_sub(last);
            if (0..micros(PASS_GAP)).contains(&since) {
                let mut out = Output::none();
                out.requeue_at_most(duration_of_micros(micros(PASS_GAP) - since));
                return out;
            }
        }
        self.last_pass_micros = Some(monotonic_us);
        monitor_at(view, &mut self.state, &self.config, now.wall, monotonic_us)
    }

    fn action_failed(&mut self, _key: &ObjectKey, action: &Action, _error: &ClientError) {
        let Action::Update(Object::Node(node)) = action else {
            return;
        };
        let Some(health) = self.state.nodes.get_mut(node.metadata.name_or_empty()) else {
            return;
        };
        if !health.token_taken {
            return;
        }
        health.token_taken = false;
        health.taint_queued_micros = Some(i64::MIN);
        if let Some(zone) = self.state.zones.get_mut(&zone_of(node)) {
            zone.bucket.nano_tokens = zone.bucket.nano_tokens.saturating_add(TOKEN).min(TOKEN);
        }
    }
}
