//! The runtime loop: it runs [`Controller`]s against the API through a
//! [`Client`] — list+watch caches per watched kind feeding a [`View`], a work queue keyed by
//! object with rate-limited retry, expectations, actions sent with their preconditions,
//! leader election on a Lease, and a periodic resync as the level-triggered safety net.
//!
//! Everything runs in **one task** (no threads, no spawned tasks): one biased
//! `tokio::select!` over the shutdown signal, the election timer, the watch streams, the
//! writes in flight and the next due work. Waiting is `tokio::time::sleep` (virtual under
//! madsim and under tokio's paused time); `now` comes from the [`Clock`].
//!
//! ```text
//!   watch ──► informer ──► View ──► keys_for ──► WorkQueue ──► reconcile ──► actions ──► Client
//!              ▲  │ 410: relist          ▲                 ▲ expectations      │
//!              └──┘ closed: resume       └── resync ───────┘ backoff ◄── failure┘
//! ```
//!
//! - [`run`] runs one controller; [`Manager`] runs several under one leader lease (like
//!   kube-controller-manager). Both return `Ok(())` after a clean [`Shutdown`] and
//!   [`RunError::LeaderElectionLost`] when leadership was lost (upstream's controller manager
//!   exits then; the caller may start again with a fresh controller).
//! - A controller is reconciled only once all its informers have listed (upstream
//!   `WaitForCacheSync`), only while leading, and one key is never reconciled twice at once.
//! - Actions of one reconcile are sent in order; the first failure stops the rest (upstream's
//!   slow-start batches stop on error), calls [`Controller::action_failed`] and requeues the
//!   key with backoff. A key whose writes succeeded is not reconciled again until the view
//!   shows them ([`expectations`]).
//! - While standing by, a candidate keeps its caches warm (informers run, keys are queued and
//!   deduplicated) but reconciles nothing; on becoming leader it reconciles every resync key.
//!   upstream's controller manager starts its informers only after winning; warm caches make
//!   a takeover act sooner and change nothing about who may act.
//! - Each controller has its own informers (one per watched kind; a second `Watched` of the
//!   same kind is ignored); upstream's shared informer factory would let the controllers of a
//!   [`Manager`] share one cache per kind.
//! - A writer whose call is in flight when the acting window closes may still land that one
//!   write (as upstream: a lease is not a fencing token); no further action starts.

mod clock;
pub mod election;
pub mod expectations;
pub mod informer;
pub mod queue;

use std::collections::{BTreeMap, BTreeSet};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use skiff_core::client::{Client, ClientError, Deleted, WatchEvent};
use skiff_core::clock::Clock;
use skiff_core::object::Object;
use skiff_core::rng::SplitMix64;
use tokio::sync::watch;

pub use self::clock::TokioClock;
use self::election::{Elector, LeaderElectionConfig};
use self::expectations::{Expectations, Expected, Observed};
use self::informer::{Informer, Progress, replace_kind};
use self::queue::{RateLimit, WorkQueue};
use crate::reconcile::{Action, Controller, Now};
use crate::view::{ObjectKey, View};

/// Default period of the level-triggered resync: every key is reconciled again this often
/// even when nothing changed.
pub const RESYNC_PERIOD: Duration = Duration::from_secs(30);
/// Watch events handled in a row before a ready key gets its turn, so a busy watch cannot
/// starve the workers.
pub const EVENTS_PER_TURN: u32 = 64;
/// How long a stop waits for writes in flight to be answered.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the loop sleeps when nothing at all is scheduled.
const IDLE: Duration = Duration::from_secs(3600);
/// Reconciles of one key at one instant of the runner's clock beyond which the runner is
/// livelocked (see [`SpinGuard`]).
const SPIN_LIMIT: u32 = 10_000;

/// A stop signal for [`run`] and [`Manager::run`]: the loop stops (cleanly: writes in flight
/// finish, the lease is released) once the trigger fires or is dropped.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    receiver: Option<watch::Receiver<bool>>,
}

/// Fires a [`Shutdown`].
#[derive(Debug)]
pub struct ShutdownTrigger {
    sender: watch::Sender<bool>,
}

impl Shutdown {
    /// A signal that never fires.
    pub fn never() -> Self {
        Self::default()
    }

    /// A trigger and the signal it fires.
    pub fn channel() -> (ShutdownTrigger, Shutdown) {
        let (sender, receiver) = watch::channel(false);
        (
            ShutdownTrigger { sender },
            Shutdown {
                receiver: Some(receiver),
            },
        )
    }

    /// True once the trigger fired or was dropped.
    pub fn is_triggered(&self) -> bool {
        self.receiver
            .as_ref()
            .is_some_and(|r| *r.borrow() || r.has_changed().is_err())
    }

    /// Waits until the signal fires.
    pub async fn wait(&mut self) {
        let Some(receiver) = self.receiver.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            if *receiver.borrow_and_update() {
                return;
            }
            if receiver.changed().await.is_err() {
                return;
            }
        }
    }
}

impl ShutdownTrigger {
    /// Stops the loop.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }
}

/// How [`run`] and [`Manager::run`] behave.
#[derive(Debug)]
pub struct RunOptions {
    /// Period of the level-triggered resync ([`RESYNC_PERIOD`] by default).
    pub resync_period: Duration,
    /// Reconciles whose actions may be in flight at once (upstream's `--concurrent-*-syncs`;
    /// default 1). A key is never in flight twice.
    pub workers: usize,
    /// List page size ([`informer::PAGE_SIZE`]).
    pub page_size: u64,
    /// Retry spacing of failed keys (upstream's default controller rate limiter).
    pub rate_limit: RateLimit,
    /// Elect a leader before acting; `None` acts at once.
    pub leader_election: Option<LeaderElectionConfig>,
    /// Seed of the jitter (election retries, informer backoff).
    pub seed: u64,
    /// The stop signal.
    pub shutdown: Shutdown,
    /// Told `true` when this instance starts acting and `false` when it stops.
    pub leading: Option<watch::Sender<bool>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            resync_period: RESYNC_PERIOD,
            workers: 1,
            page_size: informer::PAGE_SIZE,
            rate_limit: RateLimit::default(),
            leader_election: None,
            seed: 0,
            shutdown: Shutdown::never(),
            leading: None,
        }
    }
}

/// Why the loop stopped other than by [`Shutdown`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// This instance led and could not renew its lease within the renew deadline, or saw
    /// another holder (upstream: "leaderelection lost").
    LeaderElectionLost {
        /// This candidate's identity.
        identity: String,
        /// `namespace/name` of the lease.
        lease: String,
    },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::LeaderElectionLost { identity, lease } => {
                write!(f, "leaderelection lost: {identity} no longer holds {lease}")
            }
        }
    }
}

impl std::error::Error for RunError {}

/// Runs one controller until `options.shutdown` fires (`Ok`) or leadership is lost. With
/// leader election the lease is `kube-system/<controller name>` unless the config names one.
pub async fn run(
    controller: &mut dyn Controller,
    client: Arc<dyn Client>,
    clock: Arc<dyn Clock>,
    options: RunOptions,
) -> Result<(), RunError> {
    let name = controller.name();
    Runner::new(vec![controller], client, clock, options, name)
        .run()
        .await
}

/// Several controllers run by one loop under one leader lease, like kube-controller-manager
/// (whose lease is `kube-system/kube-controller-manager`).
pub struct Manager {
    name: String,
    controllers: Vec<Box<dyn Controller>>,
}

impl Manager {
    /// A manager whose lease is named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            controllers: Vec::new(),
        }
    }

    /// Adds a controller.
    #[must_use]
    pub fn with(mut self, controller: impl Controller + 'static) -> Self {
        self.controllers.push(Box::new(controller));
        self
    }

    /// Adds a boxed controller.
    pub fn add(&mut self, controller: Box<dyn Controller>) {
        self.controllers.push(controller);
    }

    /// The controllers, in the order added.
    pub fn controllers(&self) -> &[Box<dyn Controller>] {
        &self.controllers
    }

    /// Runs every controller until `options.shutdown` fires (`Ok`) or leadership is lost.
    pub async fn run(
        &mut self,
        client: Arc<dyn Client>,
        clock: Arc<dyn Clock>,
        options: RunOptions,
    ) -> Result<(), RunError> {
        let controllers: Vec<&mut dyn Controller> = self
            .controllers
            .iter_mut()
            .map(|c| &mut **c as &mut dyn Controller)
            .collect();
        Runner::new(controllers, client, clock, options, &self.name)
            .run()
            .await
    }
}

/// One controller with its caches, queue and expectations.
struct Unit<'a> {
    controller: &'a mut dyn Controller,
    view: View,
    informers: Vec<Informer>,
    queue: WorkQueue<ObjectKey>,
    expectations: Expectations<ObjectKey>,
    /// Keys popped while their expectations were outstanding.
    parked: BTreeSet<ObjectKey>,
}

impl Unit<'_> {
    fn synced(&self) -> bool {
        self.informers.iter().all(|i| i.synced)
    }

    fn watches(&self, kind: &str) -> bool {
        self.informers
            .iter()
            .any(|i| i.watched.resource.kind == kind)
    }
}

/// What expectations see of a unit.
struct Observation<'v> {
    view: &'v View,
    informers: &'v [Informer],
}

impl Observed for Observation<'_> {
    fn revision_of(&self, kind: &str) -> Option<u64> {
        self.informers
            .iter()
            .find(|i| i.watched.resource.kind == kind)
            .map(|i| i.revision)
    }

    fn holds(&self, kind: &str, key: &ObjectKey, uid: Option<&str>) -> bool {
        self.view
            .get_object(kind, key)
            .is_some_and(|o| uid.is_none() || o.metadata().uid.as_deref() == uid)
    }
}

/// What a reconcile's writes did.
#[derive(Debug, Default)]
struct SendReport {
    written: Vec<Expected>,
    failure: Option<(Action, ClientError)>,
    /// Stopped before the end because we stopped leading.
    stopped: bool,
}

type Sending = Pin<Box<dyn Future<Output = SendReport> + Send>>;

struct InFlight {
    unit: usize,
    key: ObjectKey,
    requeue_after: Option<Duration>,
    sending: Sending,
}

/// Counts the reconciles of each key at the current instant of the runner's clock. A key
/// reconciled [`SPIN_LIMIT`] times without the clock moving is a livelock: under a simulated
/// clock, which moves only when every task waits, that instant would never end and the
/// simulation would stop while memory grows. Failing loudly names the controller and key.
#[derive(Debug, Default)]
struct SpinGuard {
    at: Duration,
    counts: BTreeMap<(&'static str, ObjectKey), u32>,
}

impl SpinGuard {
    /// One reconcile of `key` by `controller` at `now`.
    ///
    /// # Panics
    ///
    /// When the key was reconciled [`SPIN_LIMIT`] times at `now` (an invariant of the
    /// runtime: each reconcile at one instant is driven by a change, and changes at one
    /// instant are finite).
    fn reconciled(&mut self, now: Duration, controller: &'static str, key: &ObjectKey) {
        if now != self.at {
            self.at = now;
            self.counts.clear();
        }
        let count = self.counts.entry((controller, key.clone())).or_insert(0);
        *count += 1;
        assert!(
            *count < SPIN_LIMIT,
            "livelock: controller {controller} reconciled {key} {count} times at one instant \
             ({now:?} of its clock) without the clock moving"
        );
    }
}

/// The acting deadline shared with writes in flight, in nanoseconds of the clock's
/// monotonic time: no action starts at or after it.
#[derive(Debug, Clone)]
struct Gate(Arc<AtomicU64>);

impl Gate {
    fn set(&self, until: Option<Duration>) {
        let nanos = until.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.0.store(nanos, Ordering::SeqCst);
    }

    fn open(&self, now: Duration) -> bool {
        u64::try_from(now.as_nanos()).unwrap_or(u64::MAX) < self.0.load(Ordering::SeqCst)
    }
}

fn expected_of(object: &Object) -> Expected {
    Expected::Revision {
        kind: object.info().kind,
        revision: informer::resource_version(object),
    }
}

/// Sends one action with the preconditions it carries.
async fn send(client: &dyn Client, action: &Action) -> Result<Expected, ClientError> {
    match action {
        Action::Create(object) => {
            let namespace = object.metadata().namespace.clone();
            let created = client
                .create(
                    namespace.as_deref().filter(|n| !n.is_empty()),
                    object.clone(),
                )
                .await?;
            Ok(expected_of(&created))
        }
        Action::Update(object) => Ok(expected_of(&client.update(object.clone()).await?)),
        Action::UpdateStatus(object) => {
            Ok(expected_of(&client.update_status(object.clone()).await?))
        }
        Action::Delete {
            resource,
            namespace,
            name,
            options,
        } => match client
            .delete(resource, namespace, name, options.clone())
            .await?
        {
            Deleted::Gone(object) => Ok(Expected::Gone {
                kind: resource.kind,
                key: ObjectKey::of(&object),
                uid: object.metadata().uid.clone(),
            }),
            Deleted::Pending(object) => Ok(expected_of(&object)),
        },
        Action::Bind {
            namespace,
            name,
            binding,
        } => Ok(expected_of(
            &client.bind(namespace, name, binding.clone()).await?,
        )),
    }
}

/// Sends a reconcile's actions in order, stopping at the first failure or when the gate
/// closes.
fn send_all(
    client: Arc<dyn Client>,
    clock: Arc<dyn Clock>,
    gate: Gate,
    actions: Vec<Action>,
) -> Sending {
    Box::pin(async move {
        let mut report = SendReport::default();
        for action in actions {
            if !gate.open(clock.elapsed()) {
                report.stopped = true;
                break;
            }
            match send(&*client, &action).await {
                Ok(expected) => report.written.push(expected),
                Err(error) => {
                    report.failure = Some((action, error));
                    break;
                }
            }
        }
        report
    })
}

struct Runner<'a> {
    units: Vec<Unit<'a>>,
    client: Arc<dyn Client>,
    clock: Arc<dyn Clock>,
    options: RunOptions,
    elector: Option<Elector>,
    gate: Gate,
    rng: SplitMix64,
    in_flight: Vec<InFlight>,
    leading: bool,
    /// Rotating start of the watch poll and of the unit to take work from.
    watch_turn: usize,
    work_turn: usize,
    /// Fails loudly if one key is reconciled without end at one instant.
    spin_guard: SpinGuard,
}

impl<'a> Runner<'a> {
    fn new(
        controllers: Vec<&'a mut dyn Controller>,
        client: Arc<dyn Client>,
        clock: Arc<dyn Clock>,
        options: RunOptions,
        lease_name: &str,
    ) -> Self {
        let units = controllers
            .into_iter()
            .map(|controller| {
                let mut informers: Vec<Informer> = Vec::new();
                for watched in controller.watches() {
                    // One cache per kind: a second Watched of a kind would share (and clear)
                    // the same objects of the view.
                    if !informers
                        .iter()
                        .any(|i| i.watched.resource.kind == watched.resource.kind)
                    {
                        informers.push(Informer::new(watched));
                    }
                }
                Unit {
                    controller,
                    view: View::new(),
                    informers,
                    queue: WorkQueue::new(options.rate_limit),
                    expectations: Expectations::new(),
                    parked: BTreeSet::new(),
                }
            })
            .collect();
        let elector = options
            .leader_election
            .clone()
            .map(|config| Elector::new(config, lease_name));
        let gate = Gate(Arc::new(AtomicU64::new(0)));
        if elector.is_none() {
            gate.set(Some(Duration::MAX));
        }
        Self {
            units,
            client,
            clock,
            rng: SplitMix64::new(options.seed),
            leading: elector.is_none(),
            elector,
            options,
            gate,
            in_flight: Vec::new(),
            watch_turn: 0,
            work_turn: 0,
            spin_guard: SpinGuard::default(),
        }
    }

    fn lease_path(&self) -> String {
        self.elector.as_ref().map_or_else(String::new, |e| {
            format!("{}/{}", e.config().namespace, e.lease_name())
        })
    }

    fn tell_leading(&self, leading: bool) {
        if let Some(sender) = &self.options.leading {
            sender.send_replace(leading);
        }
    }

    async fn run(mut self) -> Result<(), RunError> {
        let start = self.clock.elapsed();
        let mut next_election = start;
        let mut next_resync = start.saturating_add(self.options.resync_period);
        let mut events_in_a_row = 0u32;
        let mut shutdown = std::mem::take(&mut self.options.shutdown);
        if self.leading {
            self.tell_leading(true);
        }
        loop {
            let now = self.clock.elapsed();
            if shutdown.is_triggered() {
                break;
            }
            if self.leading && self.elector.as_ref().is_some_and(|e| !e.is_leader(now)) {
                return Err(self.lose().await);
            }
            self.start_informers(now);
            if now >= next_resync {
                if self.leading {
                    self.resync_all();
                }
                next_resync = now.saturating_add(self.options.resync_period);
            }
            let can_work = self.leading
                && self.in_flight.len() < self.options.workers.max(1)
                && self
                    .units
                    .iter()
                    .any(|u| u.synced() && u.queue.has_ready(now));
            let wake = self.next_wake(now, next_resync);
            let election_wait = next_election.saturating_sub(now);
            let electing = self.elector.is_some();
            let take_events = events_in_a_row < EVENTS_PER_TURN || !can_work;
            let has_in_flight = !self.in_flight.is_empty();
            tokio::select! {
                biased;
                () = shutdown.wait() => break,
                () = tokio::time::sleep(election_wait), if electing => {
                    next_election = self.elect().await;
                }
                (u, i, progress) = poll_informers(&mut self.units, &mut self.watch_turn),
                    if take_events => {
                    events_in_a_row = events_in_a_row.saturating_add(1);
                    self.handle_progress(u, i, progress);
                }
                (index, report) = poll_in_flight(&mut self.in_flight), if has_in_flight => {
                    let done = self.in_flight.remove(index);
                    self.finish(done, report);
                }
                () = std::future::ready(()), if can_work => {
                    events_in_a_row = 0;
                    self.work_one();
                }
                () = tokio::time::sleep(wake.saturating_sub(now)) => {}
            }
        }
        self.stop().await;
        Ok(())
    }

    /// The earliest future time something is scheduled: a delayed key, the resync, an
    /// informer retry, the end of our acting window. Times already past are not counted: what
    /// is due now is either taken by this turn or waits for a write in flight to end (which
    /// wakes the loop itself), so the loop never spins.
    fn next_wake(&self, now: Duration, next_resync: Duration) -> Duration {
        let mut candidates = vec![next_resync];
        for unit in &self.units {
            if self.leading {
                candidates.extend(unit.queue.next_due_after(now));
            }
            for informer in &unit.informers {
                if informer.idle() {
                    candidates.push(informer.not_before);
                }
            }
        }
        candidates.extend(self.elector.as_ref().and_then(|e| e.acting_until(now)));
        candidates
            .into_iter()
            .filter(|at| *at > now)
            .fold(now.saturating_add(IDLE), Duration::min)
    }

    /// One election attempt; returns when to attempt next.
    async fn elect(&mut self) -> Duration {
        let Some(elector) = self.elector.as_mut() else {
            return Duration::MAX;
        };
        let started = self.clock.elapsed();
        // One attempt may take the retry period, or for the leader what is left of its acting
        // window (upstream bounds renewals by RenewDeadline): a stuck call must not hold up
        // the loop, nor keep a leader that can no longer renew from noticing. A failed or
        // timed-out attempt changes nothing; the next one comes after the retry period.
        let budget = elector
            .acting_until(started)
            .map_or(elector.config().retry_period, |until| {
                until.saturating_sub(started)
            })
            .max(Duration::from_millis(1));
        let round = election::election_round(elector, &*self.client, &*self.clock);
        let _ = tokio::time::timeout(budget, round).await;
        let now = self.clock.elapsed();
        let acting_until = elector.acting_until(now);
        let next = elector.next_attempt(started, now, &mut self.rng);
        if acting_until.is_some() {
            self.gate.set(acting_until);
            if !self.leading {
                self.leading = true;
                self.tell_leading(true);
                // Whatever happened while standing by: look at everything.
                self.resync_all();
            }
        }
        next
    }

    /// Leadership is gone: stop acting, let writes in flight stop at the gate.
    async fn lose(&mut self) -> RunError {
        self.gate.set(None);
        self.leading = false;
        self.tell_leading(false);
        self.drain().await;
        RunError::LeaderElectionLost {
            identity: self
                .elector
                .as_ref()
                .map(|e| e.config().identity.clone())
                .unwrap_or_default(),
            lease: self.lease_path(),
        }
    }

    /// A clean stop: no new action starts, writes in flight end, the lease is released.
    async fn stop(&mut self) {
        self.gate.set(None);
        if self.leading {
            self.tell_leading(false);
        }
        self.drain().await;
        if let Some(elector) = self.elector.as_mut()
            && elector.config().release_on_cancel
        {
            let _ = election::release(elector, &*self.client, &*self.clock).await;
        }
        self.leading = false;
    }

    /// Waits for the writes in flight (the gate is closed, so each ends after its current
    /// call), at most [`DRAIN_TIMEOUT`]; a call still unanswered then is dropped, its outcome
    /// unknown.
    async fn drain(&mut self) {
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while !self.in_flight.is_empty() {
                let (index, report) = poll_in_flight(&mut self.in_flight).await;
                let done = self.in_flight.remove(index);
                self.finish(done, report);
            }
        })
        .await;
        if drained.is_err() {
            self.in_flight.clear();
        }
    }

    fn resync_all(&mut self) {
        for unit in &mut self.units {
            for key in unit.controller.resync_keys(&unit.view) {
                unit.queue.add(key);
            }
        }
    }

    /// Starts the lists and watches that are due.
    fn start_informers(&mut self, now: Duration) {
        for unit in &mut self.units {
            for informer in &mut unit.informers {
                if informer.due(now) {
                    informer.start(&self.client, self.options.page_size);
                }
            }
        }
    }

    /// An informer's call came back.
    fn handle_progress(&mut self, u: usize, i: usize, progress: Progress) {
        let now = self.clock.elapsed();
        match progress {
            Progress::Listed(Ok((revision, items))) => {
                let unit = &mut self.units[u];
                let kind = unit.informers[i].watched.resource.kind;
                let changes = replace_kind(&mut unit.view, kind, items, revision);
                unit.informers[i].listed(revision);
                for (old, new) in &changes {
                    enqueue_change(unit, old.as_ref(), new.as_ref());
                }
                recheck_parked(unit, now);
            }
            Progress::Listed(Err(_)) => {
                self.units[u].informers[i].list_failed(now, &mut self.rng);
            }
            Progress::Started(result) => {
                self.units[u].informers[i].started(result, now, &mut self.rng);
            }
            Progress::Delivered(event, stream) => self.handle_event(u, i, event, stream),
        }
    }

    fn handle_event(
        &mut self,
        u: usize,
        i: usize,
        event: Option<WatchEvent>,
        watch: informer::LiveWatch,
    ) {
        let now = self.clock.elapsed();
        let unit = &mut self.units[u];
        let Some(event) = unit.informers[i].delivered(event, watch, now, &mut self.rng) else {
            return;
        };
        let old = match &event {
            WatchEvent::Added(o) | WatchEvent::Modified(o) => unit
                .view
                .get_object(o.info().kind, &ObjectKey::of(o))
                .cloned(),
            WatchEvent::Deleted(o) => Some(o.clone()),
            _ => None,
        };
        let changed = unit.view.apply(&event);
        let new = match &event {
            WatchEvent::Added(_) | WatchEvent::Modified(_) => changed,
            _ => None,
        };
        if old.is_some() || new.is_some() {
            enqueue_change(unit, old.as_ref(), new.as_ref());
        }
        recheck_parked(unit, now);
    }

    /// Takes one ready key and reconciles it.
    fn work_one(&mut self) {
        let now = self.clock.elapsed();
        let count = self.units.len();
        for offset in 0..count {
            let u = (self.work_turn + offset) % count;
            let unit = &mut self.units[u];
            if !unit.synced() {
                continue;
            }
            while let Some(key) = unit.queue.pop(now) {
                let observation = Observation {
                    view: &unit.view,
                    informers: &unit.informers,
                };
                if !unit.expectations.satisfied(&key, &observation, now) {
                    // Not yet: back when the view catches up, or when the expectations expire.
                    unit.queue.done(&key);
                    if let Some(at) = unit.expectations.expires_at(&key) {
                        unit.queue
                            .add_after(key.clone(), at.saturating_sub(now), now);
                    }
                    unit.parked.insert(key);
                    continue;
                }
                unit.parked.remove(&key);
                // One span per reconcile (controller, key); its event carries what came out.
                let span = tracing::debug_span!(
                    "reconcile",
                    controller = unit.controller.name(),
                    key = %key
                );
                let output = span.in_scope(|| {
                    let at = Now {
                        wall: self.clock.wall(),
                        monotonic: self.clock.elapsed(),
                    };
                    let output = unit.controller.reconcile_at(&unit.view, &key, at);
                    tracing::debug!(
                        actions = output.actions.len(),
                        requeue_after = ?output.requeue_after,
                        "reconciled"
                    );
                    output
                });
                self.work_turn = (u + 1) % count;
                self.spin_guard
                    .reconciled(now, unit.controller.name(), &key);
                if output.actions.is_empty() {
                    requeue(&mut unit.queue, &key, output.requeue_after, now);
                    unit.queue.done(&key);
                } else {
                    self.in_flight.push(InFlight {
                        unit: u,
                        key,
                        requeue_after: output.requeue_after,
                        sending: send_all(
                            self.client.clone(),
                            self.clock.clone(),
                            self.gate.clone(),
                            output.actions,
                        ),
                    });
                }
                return;
            }
        }
    }

    /// A reconcile's writes ended: record expectations, retry on failure.
    fn finish(&mut self, done: InFlight, report: SendReport) {
        let now = self.clock.elapsed();
        let unit = &mut self.units[done.unit];
        let key = done.key;
        for expected in report.written {
            let kind = match &expected {
                Expected::Revision { kind, .. } | Expected::Gone { kind, .. } => *kind,
            };
            if unit.watches(kind) {
                unit.expectations.expect(&key, expected, now);
            }
        }
        if let Some((action, error)) = &report.failure {
            unit.controller.action_failed(&key, action, error);
            unit.queue.add_rate_limited(key.clone(), now);
        } else if report.stopped {
            unit.queue.add(key.clone());
        } else {
            requeue(&mut unit.queue, &key, done.requeue_after, now);
            unit.queue.done(&key);
            return;
        }
        // Already queued again (after a backoff, or at once): a timer asked for still
        // stands, the earliest winning.
        if let Some(after) = done.requeue_after.filter(|d| !d.is_zero()) {
            unit.queue.add_after(key.clone(), after, now);
        }
        unit.queue.done(&key);
    }
}

/// Queues `key` again after a reconcile that succeeded, as its output asked: after a delay
/// (its backoff reset), or for a zero delay after its rate-limited backoff without resetting it
/// (upstream's `AddRateLimited` for "look again now", as `requeueStuckDeployment` does). A
/// zero delay taken literally would reconcile the key again at the same instant, and under a
/// simulated clock that instant never ends.
fn requeue(
    queue: &mut WorkQueue<ObjectKey>,
    key: &ObjectKey,
    after: Option<Duration>,
    now: Duration,
) {
    match after {
        Some(after) if after.is_zero() => {
            queue.add_rate_limited(key.clone(), now);
        }
        Some(after) => {
            queue.forget(key);
            queue.add_after(key.clone(), after, now);
        }
        None => queue.forget(key),
    }
}

/// Tells the controller of a change of its view, then queues the keys the changed object
/// concerns, before and after the change.
fn enqueue_change(unit: &mut Unit<'_>, old: Option<&Object>, new: Option<&Object>) {
    unit.controller.observe(&unit.view, old, new);
    let mut keys = BTreeSet::new();
    if let Some(new) = new {
        keys.extend(unit.controller.keys_for(&unit.view, new));
    }
    if let Some(old) = old
        && new != Some(old)
    {
        keys.extend(unit.controller.keys_for(&unit.view, old));
    }
    for key in keys {
        unit.queue.add(key);
    }
}

/// Requeues parked keys whose expectations the view now satisfies.
fn recheck_parked(unit: &mut Unit<'_>, now: Duration) {
    if unit.parked.is_empty() {
        return;
    }
    let observation = Observation {
        view: &unit.view,
        informers: &unit.informers,
    };
    let ready: Vec<ObjectKey> = unit
        .parked
        .iter()
        .filter(|key| unit.expectations.satisfied(key, &observation, now))
        .cloned()
        .collect();
    for key in ready {
        unit.parked.remove(&key);
        unit.queue.add(key);
    }
}

/// The next result of any informer's call in progress (rotating the start so no informer
/// starves).
fn poll_informers<'b>(
    units: &'b mut [Unit<'_>],
    turn: &'b mut usize,
) -> impl Future<Output = (usize, usize, Progress)> + 'b {
    poll_fn(move |cx| {
        let slots: Vec<(usize, usize)> = units
            .iter()
            .enumerate()
            .flat_map(|(u, unit)| (0..unit.informers.len()).map(move |i| (u, i)))
            .collect();
        let count = slots.len();
        for offset in 0..count {
            let (u, i) = slots[(*turn + offset) % count];
            if let Poll::Ready(progress) = units[u].informers[i].poll(cx) {
                *turn = (*turn + offset + 1) % count;
                return Poll::Ready((u, i, progress));
            }
        }
        Poll::Pending
    })
}

/// The next reconcile whose writes ended.
fn poll_in_flight(in_flight: &mut [InFlight]) -> impl Future<Output = (usize, SendReport)> + '_ {
    poll_fn(move |cx| {
        for (index, flight) in in_flight.iter_mut().enumerate() {
            if let Poll::Ready(report) = flight.sending.as_mut().poll(cx) {
                return Poll::Ready((index, report));
            }
        }
        Poll::Pending
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn spin_guard_counts_per_key_and_instant() {
        let mut guard = SpinGuard::default();
        let (a, b) = (ObjectKey::new("ns", "a"), ObjectKey::new("ns", "b"));
        let at = Duration::from_secs(5);
        for _ in 1..SPIN_LIMIT {
            guard.reconciled(at, "c", &a);
        }
        // Another key, or another controller's same key, counts on its own.
        guard.reconciled(at, "c", &b);
        guard.reconciled(at, "d", &a);
        // The clock moved: the count starts again.
        guard.reconciled(at + Duration::from_nanos(1), "c", &a);
        assert_eq!(guard.counts.get(&("c", a.clone())), Some(&1));
        assert_eq!(guard.counts.len(), 1);
    }

    #[test]
    #[should_panic(
        expected = "livelock: controller c reconciled ns/a 10000 times at one instant (5s of its clock)"
    )]
    fn spin_guard_fails_loudly_on_a_key_reconciled_without_end_at_one_instant() {
        let mut guard = SpinGuard::default();
        let a = ObjectKey::new("ns", "a");
        for _ in 0..SPIN_LIMIT {
            guard.reconciled(Duration::from_secs(5), "c", &a);
        }
    }

    /// The loops can be spawned on a multi-threaded runtime too.
    #[test]
    fn run_futures_are_send() {
        struct Nothing;
        impl Controller for Nothing {
            fn name(&self) -> &'static str {
                "nothing"
            }
            fn watches(&self) -> Vec<crate::reconcile::Watched> {
                Vec::new()
            }
            fn keys_for(&self, _: &View, _: &Object) -> Vec<ObjectKey> {
                Vec::new()
            }
            fn resync_keys(&self, _: &View) -> Vec<ObjectKey> {
                Vec::new()
            }
            fn reconcile(
                &mut self,
                _: &View,
                _: &ObjectKey,
                _: std::time::SystemTime,
            ) -> crate::reconcile::Output {
                crate::reconcile::Output::none()
            }
        }
        fn check(client: Arc<dyn Client>, clock: Arc<dyn Clock>) {
            let mut controller = Nothing;
            let future = run(
                &mut controller,
                client.clone(),
                clock.clone(),
                RunOptions::default(),
            );
            assert_send(&future);
            let mut manager = Manager::new("m").with(Nothing);
            let future = manager.run(client, clock, RunOptions::default());
            assert_send(&future);
        }
        let _ = check;
    }
}
