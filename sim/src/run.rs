//! One simulation run: start the cluster, then two phases (TigerBeetle VOPR, openraft):
//!
//! 1. **Safety** for `options.duration`: faults on, the workload running, the log read every
//!    [`TICK`] and fed to every checker; after every control-plane restart the whole retained
//!    log is re-read and the projection compared with a rebuild.
//! 2. **Liveness**: heal everything, stop injecting, and require convergence within
//!    `options.converge_within`: the control plane up, every worker's Node `Ready` with its
//!    Lease renewed twice since the heal, every acknowledged write in the log (and, once the
//!    controllers run, their steady states).
//!
//! The run stops at the first safety violation.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use skiff_core::event::{Change, Event, Revision};
use skiff_core::object::Object;
use skiff_store::ListOptions;
use skiff_store::codec::StoredValue;
use tokio::time::Instant;

use crate::check::leader::Candidate;
use crate::check::user::UserCheckers;
use crate::check::{LogCheckers, Violation, change_name, object_of, orphans, projection};
use crate::cluster::{Cluster, Extras, Role};
use crate::faults::Injector;
use crate::liveness::{Wanted, unconverged};
use crate::options::{FaultKind, Options};
use crate::report::{Found, PodCounts, Report};
use crate::trace::{Trace, event_hash};
use crate::worker::lock;
use skiff_controllers::builtin::ControlPlaneConfig;

/// How often the harness reads the log, follows faults and runs the checkers.
pub const TICK: Duration = Duration::from_millis(250);
/// How often the liveness phase looks for convergence.
pub const LIVENESS_POLL: Duration = Duration::from_secs(1);
/// Lease renewals each worker must show after the heal.
pub const RENEWALS_AFTER_HEAL: u64 = 2;
/// Events kept for a failure's context.
pub const RECENT_EVENTS_MAX: usize = 20;
/// Simulated time between two progress lines.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(60);

/// What the caller wants besides the report.
#[derive(Debug, Clone, Default)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent switches of one run, each set by its own flag or test"
)]
pub struct RunFlags {
    /// Keep the text trace.
    pub keep_trace: bool,
    /// Print progress lines (simulated time) on stderr.
    pub progress: bool,
    /// Hold watches to the old rule that a `DELETED` event carries the object's last write's
    /// revision (see [`crate::check::watch_order::DeletedRevision`]): a run with deletes then
    /// fails, which is how the tests prove the watch checker finds a divergence end to end.
    pub legacy_deleted_revision: bool,
    /// Run the node lifecycle controller with this grace period instead of 40 s: shorter than
    /// the node-lease checker's bound it is a re-introduced bug (a controller that marks
    /// renewing nodes), which the tests use to prove the checker fires.
    pub node_grace_period: Option<Duration>,
    /// Record the run's [`crate::timeline::Timeline`] (`--timeline FILE.svg`) into the report.
    pub timeline: bool,
    /// Simulated milliseconds reached, stored at every harness tick, for a watchdog outside
    /// the simulation: if it stops moving while wall time passes, some task is spinning at
    /// one simulated instant (a livelock that no checker inside can see). Only written.
    pub heartbeat: Option<Arc<AtomicU64>>,
}

impl RunFlags {
    /// Stores the simulated time reached into the heartbeat, if any.
    pub(crate) fn beat(&self, simulated: Duration) {
        if let Some(heartbeat) = &self.heartbeat {
            heartbeat.store(
                u64::try_from(simulated.as_millis()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
    }
}

struct Harness {
    cluster: Cluster,
    checkers: LogCheckers,
    user: UserCheckers,
    trace: Trace,
    found: Vec<Found>,
    start: Instant,
    boots_seen: u64,
    recent_events: VecDeque<String>,
    last_events: Vec<String>,
    last_decisions: Vec<String>,
    pods: PodCounts,
    bound: BTreeSet<String>,
    /// Uids of evicted pods, and the owners that lost a pod to an eviction.
    evicted: BTreeSet<String>,
    evicted_owners: BTreeSet<String>,
    heal_revision: Option<u64>,
    renewals_after_heal: BTreeMap<String, u64>,
    next_progress: Duration,
    flags: RunFlags,
    timeline: Option<crate::timeline::Recorder>,
}

fn summary(event: &Event) -> String {
    let what = object_of(&event.change).map_or_else(
        || format!("{:?}", std::mem::discriminant(&event.change)),
        |o| {
            let m = o.metadata();
            format!(
                "{} {}/{}",
                o.info().kind,
                m.namespace_or_empty(),
                m.name_or_empty()
            )
        },
    );
    format!(
        "rev {} by {}: {} {what}",
        event.revision,
        event.actor.user,
        change_name(&event.change)
    )
}

impl Harness {
    fn now_ms(&self) -> u64 {
        u64::try_from(Instant::now().duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }

    fn push(&mut self, violations: Vec<Violation>) {
        if violations.is_empty() {
            return;
        }
        if self.found.is_empty() {
            self.last_events = self.recent_events.iter().cloned().collect();
            self.last_decisions = self.trace.recent();
        }
        let at_ms = self.now_ms();
        for violation in violations {
            self.trace.decision(
                at_ms,
                &format!("VIOLATION [{}] {violation}", violation.checker()),
            );
            self.found.push(Found { at_ms, violation });
        }
    }

    /// Tells the checkers that compare commit times the control plane's clock offset from
    /// the next event read on (after a step injected by the fault injector).
    fn follow_control_plane_clock(&mut self) {
        let skew = self.cluster.nodes[0].clock.skew();
        self.checkers
            .node_lease
            .control_plane_offset(skew.offset_ns);
    }

    fn failed(&self) -> bool {
        !self.found.is_empty()
    }

    /// Feeds one newly read event everywhere.
    fn observe(&mut self, event: &Event, out: &mut Vec<Violation>) {
        self.checkers.observe(event, out);
        self.user.observe(event, out);
        self.trace.event(event.revision.0, event_hash(event));
        if let Some(timeline) = &mut self.timeline {
            timeline.observe(event);
        }
        if self.recent_events.len() == RECENT_EVENTS_MAX {
            self.recent_events.pop_front();
        }
        self.recent_events.push_back(summary(event));
        let by_controller = event.actor.user != skiff_store::apiserver::authn::ADMIN_USER;
        match (object_of(&event.change), &event.change) {
            (Some(Object::Pod(pod)), change) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                let owner = pod.metadata.controller_ref().map(|r| r.uid.clone());
                if pod.status.conditions.iter().any(|c| {
                    c.r#type == skiff_controllers::nodelifecycle::CONDITION_DISRUPTION_TARGET
                }) && self.evicted.insert(uid.clone())
                {
                    self.pods.evicted += 1;
                    self.evicted_owners.extend(owner.clone());
                }
                if let (Change::Create(_), Some(owner)) = (change, &owner)
                    && by_controller
                    && self.evicted_owners.contains(owner)
                {
                    self.pods.rescheduled += 1;
                }
                match change {
                    Change::Create(_) => {
                        self.pods.created += 1;
                        if by_controller {
                            self.pods.created_by_controllers += 1;
                        }
                    }
                    Change::Delete(_) if by_controller => self.pods.deleted_by_controllers += 1,
                    Change::Update { .. }
                        if pod.spec.node_name.as_deref().is_some_and(|n| !n.is_empty())
                            && self.bound.insert(uid) =>
                    {
                        self.pods.bound += 1;
                    }
                    _ => {}
                }
            }
            (Some(Object::Lease(lease)), Change::Update { .. } | Change::Create(_))
                if self.heal_revision.is_some_and(|h| event.revision.0 > h)
                    && lease.metadata.namespace.as_deref()
                        == Some(crate::check::node_lease::NODE_LEASE_NAMESPACE) =>
            {
                *self
                    .renewals_after_heal
                    .entry(lease.metadata.name_or_empty().to_owned())
                    .or_default() += 1;
            }
            _ => {}
        }
    }

    /// Reads the log past what was read; after a control-plane restart re-reads all of it
    /// and compares the projection with a rebuild.
    fn read_log(&mut self) {
        let mut out = Vec::new();
        for e in std::mem::take(&mut *lock(&self.cluster.control_plane.errors)) {
            out.push(Violation::Crashed {
                node: "control-plane".into(),
                message: e,
            });
        }
        for note in std::mem::take(&mut *lock(&self.cluster.control_plane.notes)) {
            let at = self.now_ms();
            self.trace.decision(at, &format!("control-plane: {note}"));
        }
        let Some(store) = self.cluster.store() else {
            self.push(out);
            return;
        };
        let boots = self.cluster.boots();
        let restarted = boots != self.boots_seen;
        let from = if restarted {
            Revision(1)
        } else {
            Revision(self.checkers.revisions.last() + 1)
        };
        let Ok(events) = store.events(from, Revision(u64::MAX)) else {
            // A power loss just struck: the handle is stale until the restart.
            self.push(out);
            return;
        };
        if self.checkers.revisions.last() == 0
            && let Some(first) = events.first()
        {
            self.checkers.revisions.start_at(first.revision.0);
        }
        let last_before = self.checkers.revisions.last();
        for event in &events {
            if event.revision.0 <= last_before {
                self.checkers.revisions.recheck(event, &mut out);
            } else {
                self.observe(event, &mut out);
            }
        }
        if restarted {
            let head = events.last().map_or(0, |e| e.revision.0);
            self.checkers.revisions.head_after_restart(head, &mut out);
            let hashes = store
                .state_hash()
                .map_err(|e| e.to_string())
                .and_then(|live| {
                    store
                        .rebuild_hash()
                        .map(|r| (live, r))
                        .map_err(|e| e.to_string())
                });
            projection::check(&format!("after boot {boots}"), hashes, &mut out);
            self.boots_seen = boots;
            let at = self.now_ms();
            self.trace.decision(
                at,
                &format!("control-plane boot {boots}: log re-read to head {head}"),
            );
        }
        self.checkers
            .acked
            .check(&lock(&self.cluster.oracle).acks, &mut out);
        self.checkers
            .watches
            .check(&lock(&self.cluster.watch_log), &mut out);
        self.push(out);
    }

    fn sample_timeline(&mut self, injector: &Injector) {
        let at = self.now_ms();
        if let Some(timeline) = &mut self.timeline {
            timeline.sample(at, &self.cluster, injector);
        }
    }

    fn progress(&mut self, phase: &str, injector: &Injector) {
        let elapsed = Instant::now().duration_since(self.start);
        self.flags.beat(elapsed);
        if !self.flags.progress {
            return;
        }
        if elapsed < self.next_progress {
            return;
        }
        self.next_progress = elapsed + PROGRESS_EVERY;
        let faults: u64 = injector.counts.values().sum();
        eprintln!(
            "[sim {:>7.1} s] {phase}: {} events, {} faults, {} violations",
            elapsed.as_secs_f64(),
            self.checkers.revisions.last(),
            faults,
            self.found.len()
        );
    }

    /// What still keeps the cluster from having converged (empty when it has). Unless `full`,
    /// stops at the nodes when one of them is not there yet: the objects' checks decode every
    /// object in the store (3,000 pods at scale) and cannot make a non-empty answer empty.
    fn not_converged(&self, full: bool) -> Vec<String> {
        let mut missing = Vec::new();
        if !lock(&self.cluster.workload).stopped {
            missing.push("the workload has not stopped and uncordoned the nodes".to_owned());
        }
        let Some(store) = self.cluster.store() else {
            return vec!["the control plane is down".to_owned()];
        };
        for node in self.cluster.nodes.iter().filter(|n| n.role == Role::Worker) {
            let ready = match store.get(&format!("/registry/minions/{}", node.name)) {
                Ok((_, entry)) => match entry.stored.value {
                    StoredValue::Object(Object::Node(n)) => {
                        n.condition("Ready").is_some_and(|c| c.status == "True")
                    }
                    _ => false,
                },
                Err(_) => false,
            };
            if !ready {
                missing.push(format!("{} is not Ready", node.name));
            }
            let renewals = self
                .renewals_after_heal
                .get(&node.name)
                .copied()
                .unwrap_or(0);
            if renewals < RENEWALS_AFTER_HEAL {
                missing.push(format!(
                    "{} renewed its lease {renewals} times since the heal",
                    node.name
                ));
            }
        }
        if !full && !missing.is_empty() {
            return missing;
        }
        let components = &self.cluster.components;
        let wanted = Wanted {
            replica_sets: components.runs("replicaset-controller")
                && components.scheduler
                && components.kubelet,
            endpoints: components.runs("endpoint-controller"),
            no_pending: components.scheduler,
        };
        if !self.user.is_empty() {
            missing.extend(self.user.unconverged(&all_objects(&store)));
        }
        if wanted != Wanted::default() || self.gc() {
            let objects = all_objects(&store);
            missing.extend(unconverged(&objects, wanted));
            if self.gc() {
                let mut orphaned = Vec::new();
                orphans::check(&objects, &mut orphaned);
                missing.extend(orphaned.iter().map(ToString::to_string));
            }
        }
        missing
    }

    /// The garbage collector runs (the orphan checker is on).
    fn gc(&self) -> bool {
        self.cluster.components.runs("garbage-collector-controller")
    }

    fn final_checks(&mut self) {
        let mut out = Vec::new();
        if let Some(store) = self.cluster.store() {
            let hashes = store
                .state_hash()
                .map_err(|e| e.to_string())
                .and_then(|live| {
                    store
                        .rebuild_hash()
                        .map(|r| (live, r))
                        .map_err(|e| e.to_string())
                });
            projection::check("at the end", hashes, &mut out);
            if self.gc() {
                orphans::check(&all_objects(&store), &mut out);
            }
            if !self.user.is_empty() {
                self.user.finish(&all_objects(&store), &mut out);
            }
        }
        self.push(out);
    }
}

/// Every object in the store at its head.
fn all_objects(store: &skiff_store::Store) -> Vec<Object> {
    store
        .list("/registry/", &ListOptions::default())
        .map(|page| {
            page.entries
                .into_iter()
                .filter_map(|e| match e.stored.value {
                    StoredValue::Object(o) => Some(o),
                    StoredValue::Raw(_) => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Runs one simulation. Must be called inside a madsim runtime (the bin and the tests create
/// one per seed, each on a fresh thread).
pub async fn run(options: Options, flags: RunFlags) -> (Report, Trace) {
    run_with(options, flags, Extras::default(), UserCheckers::default()).await
}

/// Runs one simulation with a test's user controllers, workload and checkers
/// ([`crate::testkit`]). Must be called inside a madsim runtime.
pub async fn run_with(
    options: Options,
    flags: RunFlags,
    extras: Extras,
    user: UserCheckers,
) -> (Report, Trace) {
    if options.control_plane > 1 {
        return crate::replicated::run(options, flags).await;
    }
    let start = Instant::now();
    let mut h = Harness {
        cluster: Cluster::start_with(
            &options,
            &ControlPlaneConfig::default().with_node_grace_period(
                flags
                    .node_grace_period
                    .unwrap_or(crate::check::node_lease::NODE_MONITOR_GRACE_PERIOD),
            ),
            &extras,
        ),
        checkers: LogCheckers::default(),
        user,
        trace: Trace::new(flags.keep_trace),
        found: Vec::new(),
        start,
        boots_seen: 0,
        recent_events: VecDeque::new(),
        last_events: Vec::new(),
        last_decisions: Vec::new(),
        pods: PodCounts::default(),
        bound: BTreeSet::new(),
        evicted: BTreeSet::new(),
        evicted_owners: BTreeSet::new(),
        heal_revision: None,
        renewals_after_heal: BTreeMap::new(),
        next_progress: Duration::ZERO,
        timeline: None,
        flags,
    };
    if h.flags.timeline {
        h.timeline = Some(crate::timeline::Recorder::new(
            format!("skiff-sim: {options}"),
            &h.cluster,
        ));
    }
    if !h.cluster.components.controller_manager.is_empty() {
        h.checkers.leader.register(Candidate {
            actor: crate::cluster::CONTROLLER_MANAGER_USER.to_owned(),
            lease: format!(
                "kube-system/{}",
                skiff_controllers::builtin::CONTROLLER_MANAGER
            ),
            identity: crate::cluster::CONTROL_PLANE_IDENTITY.to_owned(),
        });
    }
    if h.cluster.components.scheduler {
        h.checkers.leader.register(Candidate {
            actor: crate::cluster::SCHEDULER_USER.to_owned(),
            lease: format!("kube-system/{}", crate::cluster::SCHEDULER_LEASE),
            identity: crate::cluster::CONTROL_PLANE_IDENTITY.to_owned(),
        });
    }
    for controller in &extras.controllers {
        h.checkers.leader.register(Candidate {
            actor: crate::cluster::user_controller_user(controller.name),
            lease: format!(
                "{}/{}",
                crate::cluster::USER_CONTROLLER_NAMESPACE,
                controller.name
            ),
            identity: crate::cluster::user_controller_node(controller.name),
        });
    }
    if h.flags.legacy_deleted_revision {
        h.checkers.watches.deleted_revision = crate::check::watch_order::DeletedRevision::LastState;
    }
    let mut injector = Injector::new(&options, start);
    h.trace.decision(0, &format!("start: {options}"));

    // Safety.
    let safety_end = start + options.duration;
    h.follow_control_plane_clock();
    while Instant::now() < safety_end && !h.failed() {
        tokio::time::sleep(TICK).await;
        // Everything committed before this tick's faults is read first: the store stamps and
        // commits a batch without yielding, so a clock step of the control plane falls
        // between two revisions the checkers know.
        h.read_log();
        if h.failed() {
            break;
        }
        let now = Instant::now();
        injector.tick(&mut h.cluster, &mut h.trace, now);
        h.follow_control_plane_clock();
        h.sample_timeline(&injector);
        h.progress("safety", &injector);
    }

    let converged_after = if h.failed() {
        None
    } else {
        liveness(&mut h, &mut injector, &options).await
    };

    let mut report = build_report(&mut h, &injector, options, converged_after, start);
    report
        .controllers
        .extend(extras.controllers.iter().map(|c| c.name));
    (report, h.trace)
}

/// The report of a finished run.
fn build_report(
    h: &mut Harness,
    injector: &Injector,
    options: Options,
    converged_after: Option<Duration>,
    start: Instant,
) -> Report {
    let oracle = lock(&h.cluster.oracle).clone();
    let mut report = Report {
        faults: injector.counts.clone(),
        faults_by_kind: FaultKind::ALL
            .iter()
            .map(|k| (k.name(), injector.injected(*k)))
            .collect(),
        events: h.checkers.revisions.last(),
        writes: (oracle.acks.len() as u64, oracle.unknown, oracle.rejected),
        control_plane_boots: h.cluster.boots(),
        watch_sessions: lock(&h.cluster.watch_log).sessions.len() as u64,
        pods: h.pods,
        converged_after,
        violations: std::mem::take(&mut h.found),
        last_events: std::mem::take(&mut h.last_events),
        last_decisions: std::mem::take(&mut h.last_decisions),
        trace_hash: h.trace.hash(),
        simulated: Instant::now().duration_since(start),
        timeline: h.timeline.take().map(|t| {
            t.finish(
                u64::try_from(Instant::now().duration_since(start).as_millis()).unwrap_or(u64::MAX),
            )
        }),
        options: Some(options),
        ..Report::default()
    };
    for name in [
        crate::check::raft_leader::NAME,
        crate::check::committed::NAME,
        crate::check::member_state::NAME,
        crate::check::linearizability::NAME,
    ] {
        report
            .checkers_off
            .insert(name, "needs --control-plane 3 or 5");
    }
    let components = &h.cluster.components;
    report.controllers = components.names();
    if !components.runs("garbage-collector-controller") {
        report
            .checkers_off
            .insert(crate::check::orphans::NAME, "needs the garbage collector");
    }
    if components.controller_manager.is_empty() && !components.scheduler {
        report.checkers_off.insert(
            crate::check::leader::NAME,
            "needs leader-elected controllers",
        );
    }
    if !components.scheduler {
        report.checkers_off.insert(
            crate::check::capacity::NAME,
            "vacuous until the scheduler runs",
        );
        report.checkers_off.insert(
            crate::check::binding::NAME,
            "vacuous until the scheduler runs",
        );
    }
    if !components.runs("node-controller") {
        report.checkers_off.insert(
            crate::check::node_lease::NAME,
            "vacuous until the node lifecycle controller runs",
        );
    }
    report
}

/// The liveness phase: heal, then wait for convergence; returns the time it took.
async fn liveness(h: &mut Harness, injector: &mut Injector, options: &Options) -> Option<Duration> {
    let heal = Instant::now();
    injector.heal_all(&mut h.cluster, &mut h.trace, heal);
    lock(&h.cluster.workload).stop = true;
    h.trace
        .decision(h.now_ms(), "workload: stop, uncordon every node");
    h.read_log();
    h.heal_revision = Some(h.checkers.revisions.last());
    let deadline = heal + options.converge_within;
    let mut converged_after = None;
    loop {
        tokio::time::sleep(LIVENESS_POLL).await;
        h.read_log();
        h.sample_timeline(injector);
        h.progress("liveness", injector);
        if h.failed() {
            break;
        }
        // The whole list only when it goes into a violation.
        let missing = h.not_converged(Instant::now() >= deadline);
        if missing.is_empty() {
            converged_after = Some(Instant::now().duration_since(heal));
            let at = h.now_ms();
            h.trace.decision(at, "converged");
            break;
        }
        if Instant::now() >= deadline {
            h.push(vec![Violation::NotConverged {
                detail: format!(
                    "{} after {} s: {}",
                    missing.len(),
                    options.converge_within.as_secs(),
                    crate::liveness::summarize(&missing)
                ),
            }]);
            break;
        }
    }
    if !h.failed() {
        h.final_checks();
    }
    converged_after
}
