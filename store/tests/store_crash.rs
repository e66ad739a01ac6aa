//! Power loss against the whole [`Store`] on the crash-faithful [`SimDisk`]: every acknowledged
//! write survives, whatever else landed is whole requests of the one batch whose commit failed,
//! revisions stay dense, and the projection is the log replayed.
//!
//! The randomized loop keeps a reference model of the log and the projection. The model
//! accepts exactly "acknowledged ⊆ durable": after each reopen, events beyond the last
//! acknowledged revision must be whole requests whose commit failed with
//! [`StoreError::CommitUnknown`], each replayed through the model's own rules (the branch its
//! compares choose, preconditions, create revision and version) before the projection is
//! compared row by row.
//!
//! `SKIFF_CRASH_ITERATIONS` raises the power losses of the randomized loop and
//! `SKIFF_CRASH_SEED` picks its seed; run with `--nocapture` to see the counts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use skiff_core::clock::ManualClock;
use skiff_core::event::{Actor, Change, Event, Revision};
use skiff_core::object::{ConfigMap, Container, Object, ObjectMeta, OwnerReference, Pod};
use skiff_store::codec::{Stored, StoredValue};
use skiff_store::disk::{PowerLoss, SimDisk, SplitMix64};
use skiff_store::key::object_key;
use skiff_store::{
    Applied, Backing, Compare, ListOptions, Op, ReadError, Rejection, Status, Store, StoreError,
    Txn, TxnResponse, WriteError,
};

/// Node lives (one power loss each) of the randomized loop by default: ≈ 25 s in a debug build
/// on 2 busy cores.
const CRASH_ITERATIONS_DEFAULT: u64 = 400;
/// Rounds of concurrent requests one node life runs at most.
const ROUNDS_PER_LIFE_MAX: u64 = 6;
/// Requests submitted concurrently in one round at most (they share one or a few batches).
const REQUESTS_PER_ROUND_MAX: u64 = 8;
/// Operations in the success branch of a random multi-op transaction at most.
const TXN_SUCCESS_OPS_MAX: u64 = 4;
/// An armed power loss fires on one of the first this many I/Os of a life (writes, `set_len`s,
/// syncs). A batch commit with quick-repair issues ≈ 10–25 of them; a life commits up to ~20
/// batches, so a third or so of the armed crashes outlive the workload and the life ends with a
/// power loss between commits or at close instead.
const ARM_IO_MAX: u64 = 100;
/// Log size above which a life compacts, so `verify`'s full rebuild stays cheap.
const LOG_EVENTS_SOFT_MAX: usize = 160;
/// Open attempts after one power loss (each may itself lose power) before giving up.
const OPEN_ATTEMPTS_MAX: u64 = 8;
/// Upper bound of the power-loss-at-every-I/O sweeps: a batch commit issues far fewer.
const SWEEP_IO_MAX: u64 = 400;

const CONFIGMAPS: u64 = 5;
const PODS: u64 = 3;
const RAWS: u64 = 3;
const NODES: [&str; 2] = ["node-a", "node-b"];
const OWNERS: [&str; 2] = ["uid-rs-1", "uid-rs-2"];
const NAMESPACE: &str = "default";
const PROBE_KEY: &str = "/skiff-crash/probe";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        let parsed = v
            .strip_prefix("0x")
            .map_or_else(|| v.parse(), |hex| u64::from_str_radix(hex, 16));
        parsed.unwrap_or_else(|_| panic!("{name}={v} is not a u64"))
    })
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_700_000_000))
}

// ---------------------------------------------------------------------------------------------
// Keyspace and objects

/// One of the few keys the workload touches, so that conflicts, deletes and re-creates happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    ConfigMap(u64),
    Pod(u64),
    Raw(u64),
}

impl Slot {
    fn random(rng: &mut SplitMix64) -> Slot {
        let n = rng.below(CONFIGMAPS + PODS + RAWS);
        if n < CONFIGMAPS {
            Slot::ConfigMap(n)
        } else if n < CONFIGMAPS + PODS {
            Slot::Pod(n - CONFIGMAPS)
        } else {
            Slot::Raw(n - CONFIGMAPS - PODS)
        }
    }

    fn key(self) -> String {
        match self {
            Slot::ConfigMap(i) => format!("/registry/configmaps/{NAMESPACE}/cm-{i}"),
            Slot::Pod(i) => format!("/registry/pods/{NAMESPACE}/pod-{i}"),
            Slot::Raw(i) => format!("/skiff-crash/raw-{i}"),
        }
    }

    fn is_raw(self) -> bool {
        matches!(self, Slot::Raw(_))
    }
}

fn text(rng: &mut SplitMix64, len: u64) -> String {
    (0..len)
        .map(|_| char::from(b'a' + u8::try_from(rng.below(26)).expect("below 26")))
        .collect()
}

/// Mostly small payloads, sometimes several pages, so that commits touch overflow pages.
fn payload_len(rng: &mut SplitMix64) -> u64 {
    if rng.chance(1, 8) {
        rng.below(9000)
    } else {
        rng.below(200)
    }
}

fn configmap(name: &str, value: String) -> Object {
    let mut cm = ConfigMap {
        metadata: ObjectMeta {
            namespace: Some(NAMESPACE.into()),
            ..ObjectMeta::named(name)
        },
        ..ConfigMap::default()
    };
    cm.data.insert("v".into(), value);
    cm.into()
}

fn pod(name: &str, node: Option<&str>, owner: Option<&str>, image: String) -> Object {
    let mut pod = Pod::new(name, vec![Container::new("c", image)]);
    pod.metadata.namespace = Some(NAMESPACE.into());
    pod.spec.node_name = node.map(str::to_owned);
    if let Some(uid) = owner {
        pod.metadata.owner_references.push(OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "rs".into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: None,
        });
    }
    pod.into()
}

/// A random object for an object slot (pods move between nodes and owners, to exercise the
/// indexes).
fn random_object(rng: &mut SplitMix64, slot: Slot) -> Object {
    let len = payload_len(rng);
    match slot {
        Slot::ConfigMap(i) => configmap(&format!("cm-{i}"), text(rng, len)),
        Slot::Pod(i) => {
            let node = match rng.below(3) {
                0 => None,
                n => Some(NODES[usize::try_from(n - 1).expect("small")]),
            };
            let owner = match rng.below(3) {
                0 => None,
                n => Some(OWNERS[usize::try_from(n - 1).expect("small")]),
            };
            pod(
                &format!("pod-{i}"),
                node,
                owner,
                text(rng, len.min(300) + 1),
            )
        }
        Slot::Raw(_) => unreachable!("raw slots hold bytes"),
    }
}

fn raw_value(rng: &mut SplitMix64) -> Vec<u8> {
    let len = payload_len(rng);
    text(rng, len).into_bytes()
}

// ---------------------------------------------------------------------------------------------
// The reference model

/// What an event records besides its revision and time.
#[derive(Debug, Clone, PartialEq)]
struct Logged {
    actor: Actor,
    change: Change,
}

/// The log and projection the store must hold: built from acknowledged responses and from the
/// unacknowledged requests found durable after a reopen, each checked against the rules of
/// the store's API (upstream etcd3 semantics) before it is applied.
#[derive(Debug, Default)]
struct Model {
    rows: BTreeMap<String, Stored>,
    head: Revision,
    compacted: Revision,
    /// Events known to be in the log, pruned to what the store still holds after each check.
    log: BTreeMap<u64, Logged>,
}

fn stamp(mut object: Object, revision: Revision) -> Object {
    object.metadata_mut().resource_version = Some(revision.to_string());
    object
}

impl Model {
    fn holds(&self, compare: &Compare) -> bool {
        match compare {
            Compare::Exists(key) => self.rows.contains_key(key),
            Compare::Absent(key) => !self.rows.contains_key(key),
            Compare::ModRevision(key, rev) => {
                self.rows.get(key).is_some_and(|s| s.mod_revision == *rev)
            }
        }
    }

    /// The branch the writer runs for `txn` in the current state (etcd `Txn`).
    fn branch<'t>(&self, txn: &'t Txn) -> (bool, &'t [Op]) {
        if txn.compare.iter().all(|c| self.holds(c)) {
            (true, &txn.success)
        } else {
            (false, &txn.failure)
        }
    }

    fn check_expected(key: &str, row: &Stored, expected: Option<Revision>) -> Result<(), String> {
        match expected {
            Some(e) if e != row.mod_revision => Err(format!(
                "{key}: expected revision {e}, found {}",
                row.mod_revision
            )),
            _ => Ok(()),
        }
    }

    /// The event change and the response entry of `op` committed at `revision` in the
    /// current state, or why the store must have rejected it.
    fn expect(&self, op: &Op, revision: Revision) -> Result<(Change, Applied), String> {
        let applied = |key: String, value: Option<StoredValue>| Applied {
            revision,
            key,
            value,
        };
        Ok(match op {
            Op::Create(object) => {
                let key = object_key(object)?;
                if self.rows.contains_key(&key) {
                    return Err(format!("{key} already exists"));
                }
                let object = stamp(object.clone(), revision);
                let value = Some(StoredValue::Object(object.clone()));
                (Change::Create(object), applied(key, value))
            }
            Op::Update { object, expected } => {
                let key = object_key(object)?;
                let row = self.rows.get(&key).ok_or(format!("{key} not found"))?;
                Self::check_expected(&key, row, *expected)?;
                let object = stamp(object.clone(), revision);
                let value = Some(StoredValue::Object(object.clone()));
                let change = Change::Update {
                    object,
                    create_revision: row.create_revision,
                    version: row.version + 1,
                };
                (change, applied(key, value))
            }
            Op::Delete { key, expected } => {
                let row = self.rows.get(key).ok_or(format!("{key} not found"))?;
                Self::check_expected(key, row, *expected)?;
                let change = match &row.value {
                    StoredValue::Object(object) => Change::Delete(object.clone()),
                    StoredValue::Raw(_) => Change::DeleteRaw { key: key.clone() },
                };
                (change, applied(key.clone(), Some(row.value.clone())))
            }
            Op::PutRaw { key, value } => {
                let (create_revision, version) = match self.rows.get(key) {
                    Some(Stored {
                        value: StoredValue::Object(_),
                        ..
                    }) => return Err(format!("{key} holds an object")),
                    Some(row) => (row.create_revision, row.version + 1),
                    None => (revision, 1),
                };
                let change = Change::PutRaw {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision,
                    version,
                };
                (
                    change,
                    applied(key.clone(), Some(StoredValue::Raw(value.clone()))),
                )
            }
            Op::Compact { below } => {
                if *below <= self.compacted || *below > self.head {
                    return Err(format!(
                        "compaction to {below} outside {}..={}",
                        self.compacted, self.head
                    ));
                }
                (
                    Change::Compact { below: *below },
                    applied(String::new(), None),
                )
            }
        })
    }

    /// Whether the store must reject `txn` in the current state (all operations of the chosen
    /// branch are checked against the state before any applies).
    fn rejects(&self, txn: &Txn) -> bool {
        let (_, ops) = self.branch(txn);
        ops.iter()
            .any(|op| self.expect(op, self.head.next()).is_err())
    }

    /// Appends one event, asserting it is the next one and legal in the current state.
    fn apply(&mut self, revision: Revision, actor: &Actor, change: Change) {
        assert_eq!(revision, self.head.next(), "model: gap before {revision}");
        let key_of = |o: &Object| object_key(o).expect("model objects have keys");
        match &change {
            Change::Create(object) => {
                let key = key_of(object);
                assert!(!self.rows.contains_key(&key), "model: create of live {key}");
                let row = Stored {
                    create_revision: revision,
                    mod_revision: revision,
                    version: 1,
                    value: StoredValue::Object(object.clone()),
                };
                self.rows.insert(key, row);
            }
            Change::Update {
                object,
                create_revision,
                version,
            } => {
                let key = key_of(object);
                let old = self.rows.get(&key).expect("model: update of a live key");
                assert_eq!(
                    (old.create_revision, old.version + 1),
                    (*create_revision, *version),
                    "model: update of {key} at {revision}"
                );
                let row = Stored {
                    create_revision: *create_revision,
                    mod_revision: revision,
                    version: *version,
                    value: StoredValue::Object(object.clone()),
                };
                self.rows.insert(key, row);
            }
            Change::Delete(object) => {
                let key = key_of(object);
                let old = self.rows.remove(&key).expect("model: delete of a live key");
                assert_eq!(
                    old.value,
                    StoredValue::Object(object.clone()),
                    "model: delete of {key} carries its last state"
                );
            }
            Change::PutRaw {
                key,
                value,
                create_revision,
                version,
            } => {
                let expected = match self.rows.get(key) {
                    Some(old) => (old.create_revision, old.version + 1),
                    None => (revision, 1),
                };
                assert_eq!(
                    expected,
                    (*create_revision, *version),
                    "model: put of {key} at {revision}"
                );
                let row = Stored {
                    create_revision: *create_revision,
                    mod_revision: revision,
                    version: *version,
                    value: StoredValue::Raw(value.clone()),
                };
                self.rows.insert(key.clone(), row);
            }
            Change::DeleteRaw { key } => {
                let old = self
                    .rows
                    .remove(key)
                    .expect("model: delete of a live raw key");
                assert!(
                    matches!(old.value, StoredValue::Raw(_)),
                    "model: {key} is raw"
                );
            }
            Change::Compact { below } => {
                assert!(
                    self.compacted < *below && *below <= self.head,
                    "model: compaction to {below} outside {}..={}",
                    self.compacted,
                    self.head
                );
                self.compacted = *below;
            }
        }
        self.head = revision;
        self.log.insert(
            revision.0,
            Logged {
                actor: actor.clone(),
                change,
            },
        );
    }

    /// Records an acknowledged response, which must be the next in revision order; checks it
    /// against what the model says the request does.
    fn record_acked(&mut self, actor: &Actor, txn: &Txn, response: &TxnResponse, ctx: &str) {
        let (succeeded, ops) = self.branch(txn);
        assert_eq!(
            response.succeeded, succeeded,
            "{ctx}: acknowledged {actor:?} took the other branch"
        );
        assert_eq!(
            response.applied.len(),
            ops.len(),
            "{ctx}: {actor:?} applied {} ops of a {}-op branch",
            response.applied.len(),
            ops.len()
        );
        // Plan every op against the state before the transaction, as the writer does.
        let mut planned = Vec::with_capacity(ops.len());
        for (i, (op, applied)) in ops.iter().zip(&response.applied).enumerate() {
            let revision = Revision(self.head.0 + 1 + i as u64);
            assert_eq!(
                applied.revision, revision,
                "{ctx}: acknowledged revisions are not dense"
            );
            let (change, expected) = self
                .expect(op, revision)
                .unwrap_or_else(|why| panic!("{ctx}: acknowledged {actor:?} must fail: {why}"));
            assert_eq!(applied, &expected, "{ctx}: response of {actor:?}");
            planned.push((revision, change));
        }
        for (revision, change) in planned {
            self.apply(revision, actor, change);
        }
        assert_eq!(response.revision, self.head, "{ctx}: response head");
    }

    fn index(&self, of: impl Fn(&Stored) -> Vec<String>) -> BTreeMap<String, Vec<String>> {
        let mut index: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, row) in &self.rows {
            for value in of(row) {
                index.entry(value).or_default().push(key.clone());
            }
        }
        index
    }
}

fn object_of(row: &Stored) -> Option<&Object> {
    match &row.value {
        StoredValue::Object(o) => Some(o),
        StoredValue::Raw(_) => None,
    }
}

// ---------------------------------------------------------------------------------------------
// The workload

/// A random operation on `slot`, with preconditions that are mostly current, sometimes absent
/// and sometimes stale (so 409 conflicts happen).
fn random_op(rng: &mut SplitMix64, model: &Model, slot: Slot) -> Op {
    let key = slot.key();
    let current = model.rows.get(&key).map(|r| r.mod_revision);
    let expected = |rng: &mut SplitMix64| match rng.below(6) {
        0 | 1 => None,
        2 => Some(Revision(rng.below(model.head.0 + 2))),
        _ => current.or(Some(Revision(rng.below(model.head.0 + 2)))),
    };
    if slot.is_raw() {
        if rng.chance(1, 4) {
            Op::Delete {
                key,
                expected: expected(rng),
            }
        } else {
            Op::PutRaw {
                key,
                value: raw_value(rng),
            }
        }
    } else {
        match rng.below(9) {
            0..=2 => Op::Create(random_object(rng, slot)),
            3..=6 => Op::Update {
                object: random_object(rng, slot),
                expected: expected(rng),
            },
            _ => Op::Delete {
                key,
                expected: expected(rng),
            },
        }
    }
}

fn random_compaction(rng: &mut SplitMix64, model: &Model) -> Option<Op> {
    (model.head > model.compacted).then(|| Op::Compact {
        below: Revision(model.compacted.0 + 1 + rng.below(model.head.0 - model.compacted.0)),
    })
}

/// Operations on distinct keys (a transaction may not touch a key twice).
fn random_ops(rng: &mut SplitMix64, model: &Model, count: u64) -> Vec<Op> {
    let mut used = BTreeSet::new();
    let mut ops = Vec::new();
    for _ in 0..count {
        let slot = Slot::random(rng);
        if used.insert(slot.key()) {
            ops.push(random_op(rng, model, slot));
        }
    }
    ops
}

fn random_compare(rng: &mut SplitMix64, model: &Model) -> Compare {
    let key = Slot::random(rng).key();
    match rng.below(3) {
        0 => Compare::Exists(key),
        1 => Compare::Absent(key),
        _ => {
            let current = model.rows.get(&key).map(|r| r.mod_revision);
            let rev = match current {
                Some(rev) if rng.chance(3, 4) => rev,
                _ => Revision(rng.below(model.head.0 + 2)),
            };
            Compare::ModRevision(key, rev)
        }
    }
}

fn random_txn(rng: &mut SplitMix64, model: &Model) -> Txn {
    match rng.below(20) {
        0 => Txn::single(random_compaction(rng, model).unwrap_or_else(|| {
            let slot = Slot::random(rng);
            random_op(rng, model, slot)
        })),
        1..=4 => {
            let compare = (0..rng.below(3))
                .map(|_| random_compare(rng, model))
                .collect();
            let success_ops = 2 + rng.below(TXN_SUCCESS_OPS_MAX - 1);
            let mut success = random_ops(rng, model, success_ops);
            if rng.chance(1, 10)
                && let Some(compact) = random_compaction(rng, model)
            {
                success.push(compact);
            }
            let failure_ops = rng.below(3);
            let failure = random_ops(rng, model, failure_ops);
            Txn {
                compare,
                success,
                failure,
            }
        }
        _ => {
            let slot = Slot::random(rng);
            Txn::single(random_op(rng, model, slot))
        }
    }
}

/// One request of a round and what came of it.
struct Outcome {
    actor: Actor,
    txn: Txn,
    result: Result<TxnResponse, WriteError>,
}

/// Submits the requests concurrently; a `yield_now` between two submissions (when `split` says
/// so) lets the writer commit what is queued, so a round spans one or several batches.
async fn submit(
    store: &Store,
    requests: Vec<(Actor, Txn)>,
    mut split: impl FnMut() -> bool,
) -> Vec<Outcome> {
    let mut tasks = Vec::with_capacity(requests.len());
    for (actor, txn) in requests {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let result = store.txn(&actor, txn.clone()).await;
            Outcome { actor, txn, result }
        }));
        if split() {
            tokio::task::yield_now().await;
        }
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.expect("request task panicked"));
    }
    outcomes
}

/// Drops every handle of a store and lets its writer task finish, so that its database is
/// closed (or, after a power loss, its dying I/O refused) before the next open.
async fn close(store: Store) {
    drop(store);
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

fn random_power_loss(rng: &mut SplitMix64) -> PowerLoss {
    match rng.below(3) {
        0 => PowerLoss::DropUnsynced,
        1 => PowerLoss::KeepUnsynced,
        _ => PowerLoss::TearUnsynced {
            seed: rng.next_u64(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Checks after a reopen

/// Requests whose outcome is unknown after the last power loss, by actor.
#[derive(Debug, Default)]
struct InDoubt {
    /// Failed with `CommitUnknown`: their batch's commit may be durable.
    commit_unknown: BTreeMap<String, Txn>,
    /// Never committed (answered `Stopped`, or submitted after the power loss): must not be
    /// in the log.
    never_committed: BTreeSet<String>,
}

/// Counts of the randomized loop.
#[derive(Debug, Default)]
struct Report {
    lives: u64,
    power_losses_in_commit: u64,
    power_losses_in_open: u64,
    power_losses_at_close: u64,
    power_losses_inside_close: u64,
    power_losses_between_commits: u64,
    writes_after_power_loss: u64,
    requests: u64,
    acked: u64,
    acked_events: u64,
    rejected: u64,
    alone_outcomes_checked: u64,
    commit_unknown: u64,
    commit_unknown_landed: u64,
    stopped: u64,
    compactions_acked: u64,
    extra_events_replayed: u64,
    events_checked: u64,
    rows_checked: u64,
}

/// Everything the reopened store must satisfy; afterwards the model is the store's state.
#[allow(
    clippy::too_many_lines,
    reason = "one list of post-crash checks reads best top to bottom"
)]
fn check_recovered(
    store: &Store,
    model: &mut Model,
    in_doubt: &mut InDoubt,
    report: &mut Report,
    ctx: &str,
) {
    let status: Status = store
        .status()
        .unwrap_or_else(|e| panic!("{ctx}: status: {e}"));
    let head = status.revision;
    assert!(
        head >= model.head,
        "{ctx}: acknowledged writes lost: head {head} below last acknowledged {}",
        model.head
    );
    let events: Vec<Event> = store
        .events(Revision::ZERO, head)
        .unwrap_or_else(|e| panic!("{ctx}: an event does not decode: {e}"));
    let mut actual: BTreeMap<u64, Logged> = BTreeMap::new();
    let mut previous = 0;
    for event in events {
        assert!(
            event.revision.0 > previous,
            "{ctx}: events out of order or duplicated at {}",
            event.revision
        );
        previous = event.revision.0;
        actual.insert(
            event.revision.0,
            Logged {
                actor: event.actor,
                change: event.change,
            },
        );
    }

    // Events past the last acknowledged revision: whole requests whose commit was in doubt.
    let mut landed = BTreeSet::new();
    while model.head < head {
        let first = model.head.next();
        let actor = actual
            .get(&first.0)
            .unwrap_or_else(|| panic!("{ctx}: gap at {first} below head {head}"))
            .actor
            .clone();
        assert!(
            !in_doubt.never_committed.contains(&actor.user),
            "{ctx}: {actor:?} was never committed, yet its event {first} is durable"
        );
        let txn = in_doubt
            .commit_unknown
            .get(&actor.user)
            .unwrap_or_else(|| {
                panic!("{ctx}: event {first} by {actor:?} was never acknowledged nor in doubt")
            })
            .clone();
        assert!(
            landed.insert(actor.user.clone()),
            "{ctx}: {actor:?} landed twice"
        );
        let (_, ops) = model.branch(&txn);
        assert!(
            !ops.is_empty(),
            "{ctx}: {actor:?} landed at {first} but its branch appends nothing"
        );
        assert!(
            !model.rejects(&txn),
            "{ctx}: {actor:?} landed at {first} but must have been rejected"
        );
        let mut planned = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let revision = Revision(first.0 + i as u64);
            let event = actual.get(&revision.0).unwrap_or_else(|| {
                panic!(
                    "{ctx}: half of {actor:?} landed: {revision} of {} ops",
                    ops.len()
                )
            });
            assert_eq!(
                event.actor, actor,
                "{ctx}: half of {actor:?} landed: {revision} is someone else's"
            );
            let (change, _) = model.expect(op, revision).expect("checked by rejects");
            assert_eq!(
                event.change, change,
                "{ctx}: unacknowledged event {revision}"
            );
            planned.push((revision, change));
        }
        for (revision, change) in planned {
            model.apply(revision, &actor, change);
            report.extra_events_replayed += 1;
        }
        report.commit_unknown_landed += 1;
    }
    in_doubt.commit_unknown.clear();
    in_doubt.never_committed.clear();
    assert_eq!(model.head, head, "{ctx}: head");
    assert_eq!(
        model.compacted, status.compacted,
        "{ctx}: compacted revision"
    );

    // Dense from the compacted revision to the head; equal to the model wherever both hold it.
    let from = status.compacted.0.max(1);
    let dense: Vec<u64> = actual.range(from..).map(|(r, _)| *r).collect();
    assert!(
        dense.iter().copied().eq(from..=head.0),
        "{ctx}: revisions {from}..={head} not dense: {} events",
        dense.len()
    );
    for (rev, logged) in &actual {
        let expected = model
            .log
            .get(rev)
            .unwrap_or_else(|| panic!("{ctx}: event {rev} is unknown to the model"));
        assert_eq!(logged, expected, "{ctx}: event {rev}");
    }
    for rev in model.log.range(from..).map(|(r, _)| r) {
        assert!(
            actual.contains_key(rev),
            "{ctx}: acknowledged event {rev} lost"
        );
    }
    model.log.retain(|rev, _| actual.contains_key(rev));
    report.events_checked += actual.len() as u64;

    // The projection is the model replayed over the surviving log.
    let page = store
        .list("", &ListOptions::default())
        .unwrap_or_else(|e| panic!("{ctx}: list: {e}"));
    assert_eq!(page.revision, head, "{ctx}: list revision");
    assert!(page.continue_after.is_none(), "{ctx}: unlimited list paged");
    let rows: BTreeMap<String, Stored> = page
        .entries
        .into_iter()
        .map(|e| (e.key, e.stored))
        .collect();
    if rows != model.rows {
        let keys = |m: &BTreeMap<String, Stored>| m.keys().cloned().collect::<Vec<_>>();
        let differing: Vec<&String> = model
            .rows
            .iter()
            .filter(|(k, v)| rows.get(*k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        panic!(
            "{ctx}: projection differs from the model: store keys {:?}, model keys {:?}, \
             differing {differing:?}",
            keys(&rows),
            keys(&model.rows)
        );
    }
    report.rows_checked += rows.len() as u64;
    let by_node = model.index(|row| {
        object_of(row)
            .and_then(|o| match o {
                Object::Pod(p) => p.spec.node_name.clone(),
                _ => None,
            })
            .into_iter()
            .collect()
    });
    for node in NODES {
        let keys = store.pods_on_node(node).expect("pods_on_node");
        assert_eq!(
            keys,
            by_node.get(node).cloned().unwrap_or_default(),
            "{ctx}: pods on {node}"
        );
    }
    let by_owner = model.index(|row| {
        object_of(row)
            .map(|o| {
                o.metadata()
                    .owner_references
                    .iter()
                    .map(|r| r.uid.clone())
                    .collect()
            })
            .unwrap_or_default()
    });
    for uid in OWNERS {
        let keys = store.owned_by(uid).expect("owned_by");
        assert_eq!(
            keys,
            by_owner.get(uid).cloned().unwrap_or_default(),
            "{ctx}: owned by {uid}"
        );
    }
    let in_namespace = model.index(|row| {
        object_of(row)
            .and_then(|o| o.metadata().namespace.clone())
            .into_iter()
            .collect()
    });
    assert_eq!(
        store.in_namespace(NAMESPACE).expect("in_namespace"),
        in_namespace.get(NAMESPACE).cloned().unwrap_or_default(),
        "{ctx}: objects in {NAMESPACE}"
    );

    assert_eq!(status.keys, model.rows.len() as u64, "{ctx}: status keys");
    assert_eq!(status.events, actual.len() as u64, "{ctx}: status events");
    assert_eq!(
        status.hash,
        store.state_hash().expect("state_hash"),
        "{ctx}: status hash"
    );
    store
        .verify()
        .unwrap_or_else(|e| panic!("{ctx}: projection is not the log rebuilt: {e}"));
}

// ---------------------------------------------------------------------------------------------
// The randomized loop

/// The randomized loop's state: one disk, one seed, one model, across every life.
struct Harness {
    seed: u64,
    disk: SimDisk,
    clock: Arc<ManualClock>,
    rng: SplitMix64,
    model: Model,
    in_doubt: InDoubt,
    report: Report,
}

impl Harness {
    fn new(seed: u64) -> Self {
        Self {
            seed,
            disk: SimDisk::new(),
            clock: clock(),
            rng: SplitMix64::new(seed),
            model: Model::default(),
            in_doubt: InDoubt::default(),
            report: Report::default(),
        }
    }

    /// Opens the store after a power loss, sometimes losing power again inside the open.
    fn reopen(&mut self, ctx: &str) -> Store {
        for attempt in 0..OPEN_ATTEMPTS_MAX {
            if attempt == 0 && self.rng.chance(1, 8) {
                let power_loss = random_power_loss(&mut self.rng);
                self.disk
                    .arm_crash_after(1 + self.rng.below(12), power_loss);
            }
            let generation = self.disk.generation();
            match Store::open(Backing::Sim(self.disk.clone()), self.clock.clone()) {
                Ok(store) => {
                    assert_eq!(
                        self.disk.generation(),
                        generation,
                        "{ctx}: open succeeded although power was lost inside it"
                    );
                    self.disk.disarm();
                    return store;
                }
                Err(e) => {
                    assert!(
                        self.disk.generation() > generation,
                        "{ctx}: open failed without a power loss: {e}"
                    );
                    self.report.power_losses_in_open += 1;
                }
            }
        }
        panic!("{ctx}: {OPEN_ATTEMPTS_MAX} opens in a row lost power")
    }

    /// Reopens, checks everything recovered, and proves the store takes a new write.
    async fn reopen_and_check(&mut self, life: u64, ctx: &str) -> Store {
        let store = self.reopen(ctx);
        check_recovered(
            &store,
            &mut self.model,
            &mut self.in_doubt,
            &mut self.report,
            ctx,
        );
        self.disk.check_invariants().unwrap();
        let actor = Actor::new(format!("l{life}-probe"));
        let txn = Txn::single(Op::PutRaw {
            key: PROBE_KEY.into(),
            value: life.to_le_bytes().to_vec(),
        });
        let response = store
            .txn(&actor, txn.clone())
            .await
            .unwrap_or_else(|e| panic!("{ctx}: reopened store refused a write: {e}"));
        self.model.record_acked(&actor, &txn, &response, ctx);
        store
    }

    /// One round's requests: random transactions, plus a compaction when the log is long.
    fn round_requests(&mut self, life: u64, seq: &mut u64) -> Vec<(Actor, Txn)> {
        let count = if self.rng.chance(1, 3) {
            1
        } else {
            1 + self.rng.below(REQUESTS_PER_ROUND_MAX)
        };
        let mut requests = Vec::new();
        let model = &self.model;
        if model.log.len() > LOG_EVENTS_SOFT_MAX && model.head.0 > model.compacted.0 + 8 {
            let below = Revision(model.head.0 - self.rng.below(8));
            requests.push((
                Actor::new(format!("l{life}-compactor")),
                Txn::single(Op::Compact { below }),
            ));
        }
        for _ in 0..count {
            *seq += 1;
            requests.push((
                Actor::new(format!("l{life}-r{seq}")),
                random_txn(&mut self.rng, &self.model),
            ));
        }
        requests
    }

    /// Runs one life's rounds until they are done or a power loss stops the writer; returns
    /// whether power was lost.
    async fn run_workload(&mut self, store: &Store, life: u64, ctx: &str) -> bool {
        let generation = self.disk.generation();
        let mut seq = 0;
        for round in 0..=self.rng.below(ROUNDS_PER_LIFE_MAX) {
            let ctx = format!("{ctx} round {round}");
            self.clock.advance(Duration::from_millis(1));
            let requests = self.round_requests(life, &mut seq);
            // Alone, a request's outcome is exactly what the model predicts.
            let rejects_alone = (requests.len() == 1).then(|| self.model.rejects(&requests[0].1));
            let mut split_rng = SplitMix64::new(self.rng.next_u64());
            let outcomes = submit(store, requests, || split_rng.chance(1, 4)).await;
            let lost_power = self.disk.generation() > generation;
            let fatal = self.record_round(outcomes, rejects_alone, lost_power, &ctx);
            if lost_power {
                assert!(
                    fatal > 0,
                    "{ctx}: power was lost in a commit, yet every request succeeded"
                );
                return true;
            }
        }
        false
    }

    /// Sorts a round's outcomes into the model; returns how many failed fatally.
    fn record_round(
        &mut self,
        outcomes: Vec<Outcome>,
        rejects_alone: Option<bool>,
        lost_power: bool,
        ctx: &str,
    ) -> u64 {
        let report = &mut self.report;
        let mut acked = Vec::new();
        let mut fatal = 0;
        for outcome in outcomes {
            report.requests += 1;
            match outcome.result {
                Ok(response) => acked.push((outcome.actor, outcome.txn, response)),
                Err(WriteError::Rejected(rejection)) => {
                    report.rejected += 1;
                    assert!(
                        !matches!(rejection, Rejection::Invalid(_)),
                        "{ctx}: well-formed request refused: {rejection}"
                    );
                    if let Some(rejects) = rejects_alone {
                        assert!(
                            rejects,
                            "{ctx}: {:?} rejected ({rejection}) but valid",
                            outcome.actor
                        );
                        report.alone_outcomes_checked += 1;
                    }
                }
                Err(WriteError::Fatal(StoreError::CommitUnknown(why))) => {
                    assert!(lost_power, "{ctx}: commit failed without power loss: {why}");
                    fatal += 1;
                    report.commit_unknown += 1;
                    self.in_doubt
                        .commit_unknown
                        .insert(outcome.actor.user, outcome.txn);
                }
                Err(WriteError::Fatal(StoreError::Stopped)) => {
                    assert!(lost_power, "{ctx}: writer stopped without power loss");
                    fatal += 1;
                    report.stopped += 1;
                    self.in_doubt.never_committed.insert(outcome.actor.user);
                }
                Err(other) => panic!("{ctx}: unexpected write error {other}"),
            }
        }
        // Acknowledged responses in revision order (an empty branch appends nothing).
        acked.sort_by_key(|(_, _, r)| r.applied.first().map_or(u64::MAX, |a| a.revision.0));
        if rejects_alone == Some(false) {
            assert!(
                lost_power || acked.len() == 1,
                "{ctx}: a valid request was not acknowledged"
            );
        }
        for (actor, txn, response) in &acked {
            report.acked += 1;
            report.acked_events += response.applied.len() as u64;
            report.compactions_acked +=
                response.applied.iter().filter(|a| a.key.is_empty()).count() as u64;
            if rejects_alone.is_some() {
                report.alone_outcomes_checked += 1;
            } else if response.applied.is_empty() {
                // Where it ran among the others is unknown, so its branch cannot be checked.
                continue;
            }
            self.model.record_acked(actor, txn, response, ctx);
        }
        fatal
    }

    /// Ends a life with exactly one power loss: inside a commit (armed, already fired),
    /// during or after a clean close, or between commits while the writer waits.
    async fn end_life(&mut self, store: Store, lost_in_commit: bool, life: u64, ctx: &str) {
        if lost_in_commit {
            self.report.power_losses_in_commit += 1;
            close(store).await;
        } else if self.rng.chance(1, 3) {
            // Clean shutdown, then power loss during or after the database's close.
            store.shutdown().await;
            let power_loss = random_power_loss(&mut self.rng);
            self.disk
                .arm_crash_after(1 + self.rng.below(30), power_loss);
            close(store).await;
            if self.disk.disarm() {
                self.disk.power_loss(random_power_loss(&mut self.rng));
            } else {
                self.report.power_losses_inside_close += 1;
            }
            self.report.power_losses_at_close += 1;
        } else {
            self.disk.disarm();
            self.disk.power_loss(random_power_loss(&mut self.rng));
            self.report.power_losses_between_commits += 1;
            if self.rng.chance(1, 2) {
                // A write after the power loss is refused and never lands.
                let actor = Actor::new(format!("l{life}-late"));
                let txn = random_txn(&mut self.rng, &self.model);
                match store.txn(&actor, txn).await {
                    Err(WriteError::Fatal(StoreError::CommitUnknown(_))) => {}
                    other => panic!("{ctx}: write on a dead disk answered {other:?}"),
                }
                self.in_doubt.never_committed.insert(actor.user);
                self.report.writes_after_power_loss += 1;
            }
            close(store).await;
        }
    }

    /// One life: reopen and check, write, lose power.
    async fn life(&mut self, life: u64) {
        let ctx = format!("seed {:#x} life {life}", self.seed);
        let store = self.reopen_and_check(life, &ctx).await;
        if self.rng.chance(3, 4) {
            let power_loss = random_power_loss(&mut self.rng);
            self.disk
                .arm_crash_after(1 + self.rng.below(ARM_IO_MAX), power_loss);
        }
        let crashes = self.disk.counters().crashes;
        let lost_in_commit = self.run_workload(&store, life, &ctx).await;
        self.end_life(store, lost_in_commit, life, &ctx).await;
        assert_eq!(
            self.disk.counters().crashes,
            crashes + 1,
            "{ctx}: one power loss per life"
        );
        self.disk.check_invariants().unwrap();
        self.report.lives += 1;
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_every_power_loss() {
    let iterations = env_u64("SKIFF_CRASH_ITERATIONS", CRASH_ITERATIONS_DEFAULT);
    let seed = env_u64("SKIFF_CRASH_SEED", 0x5eed_5707e);
    println!("store crash loop: seed {seed:#x}, {iterations} lives");
    let mut harness = Harness::new(seed);
    for life in 0..iterations {
        harness.life(life).await;
    }
    harness
        .reopen_and_check(iterations, &format!("seed {seed:#x} final"))
        .await;

    let (report, counters) = (&harness.report, harness.disk.counters());
    println!("seed {seed:#x}: {report:#?}");
    println!(
        "disk: {} power losses ({} armed, {} torn), {} writes, {} syncs, head {}",
        counters.crashes,
        counters.armed_crashes,
        counters.torn_crashes,
        counters.writes,
        counters.syncs,
        harness.model.head
    );
    assert_eq!(report.lives, iterations);
    assert_eq!(
        counters.crashes,
        iterations + report.power_losses_in_open,
        "every power loss is accounted for"
    );
    if iterations >= 100 {
        assert!(
            report.power_losses_in_commit > 0
                && report.commit_unknown_landed > 0
                && report.compactions_acked > 0
                && report.power_losses_inside_close > 0
                && report.power_losses_between_commits > 0,
            "the loop must reach every kind of fault: {report:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Named scenarios

fn actor(name: &str) -> Actor {
    Actor::new(name)
}

fn cm(name: &str, value: &str) -> Object {
    configmap(name, value.to_owned())
}

fn cm_key(name: &str) -> String {
    format!("/registry/configmaps/{NAMESPACE}/{name}")
}

/// A store's whole observable state: the log, the projection's hash and the status.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    events: Vec<Event>,
    hash: u64,
    status: Status,
}

fn snapshot(store: &Store) -> Snapshot {
    let status = store.status().expect("status");
    Snapshot {
        events: store
            .events(Revision::ZERO, status.revision)
            .expect("events"),
        hash: store.state_hash().expect("state_hash"),
        status,
    }
}

/// What a request's result says, comparable across runs.
fn plain(result: &Result<TxnResponse, WriteError>) -> Result<TxnResponse, Rejection> {
    match result {
        Ok(response) => Ok(response.clone()),
        Err(WriteError::Rejected(r)) => Err(r.clone()),
        Err(WriteError::Fatal(e)) => panic!("fatal error without power loss: {e}"),
    }
}

fn open(disk: &SimDisk) -> Store {
    Store::open(Backing::Sim(disk.clone()), clock()).expect("open")
}

/// Submits the requests as one batch (no yield between them).
async fn submit_batch(store: &Store, batch: &[(Actor, Txn)]) -> Vec<Outcome> {
    submit(store, batch.to_vec(), || false).await
}

/// Builds a history with creates, updates, deletes, re-creates and raw values.
async fn base_history(store: &Store) {
    let a = actor("base");
    for i in 0..4 {
        store
            .create(&a, cm(&format!("cm-{i}"), &"x".repeat(100 * i)))
            .await
            .unwrap();
    }
    store
        .create(
            &a,
            pod("pod-0", Some("node-a"), Some("uid-rs-1"), "nginx".into()),
        )
        .await
        .unwrap();
    store
        .op(
            &a,
            Op::PutRaw {
                key: "/skiff-crash/raw-0".into(),
                value: b"zero".to_vec(),
            },
        )
        .await
        .unwrap();
    for round in 0..3 {
        store
            .update(&a, cm("cm-0", &format!("round {round}")), None)
            .await
            .unwrap();
        store.delete(&a, &cm_key("cm-3"), None).await.unwrap();
        store
            .create(&a, cm("cm-3", &"y".repeat(3000 * round)))
            .await
            .unwrap();
    }
}

/// A batch of several requests: creates, updates with a current and a stale precondition, a
/// delete, a raw put, a compare-guarded multi-op transaction, and a large value.
fn mixed_batch(head: Revision, cm0_rev: Revision) -> Vec<(Actor, Txn)> {
    vec![
        (
            actor("b-create"),
            Txn::single(Op::Create(cm("cm-4", "new"))),
        ),
        (
            actor("b-update"),
            Txn::single(Op::Update {
                object: cm("cm-0", "updated"),
                expected: Some(cm0_rev),
            }),
        ),
        (
            actor("b-stale"),
            Txn::single(Op::Update {
                object: cm("cm-1", "stale"),
                expected: Some(Revision(1_000)),
            }),
        ),
        (
            actor("b-delete"),
            Txn::single(Op::Delete {
                key: "/registry/pods/default/pod-0".into(),
                expected: None,
            }),
        ),
        (
            actor("b-raw"),
            Txn::single(Op::PutRaw {
                key: "/skiff-crash/raw-1".into(),
                value: vec![7; 6000],
            }),
        ),
        (
            actor("b-txn"),
            Txn {
                compare: vec![Compare::Exists(cm_key("cm-2"))],
                success: vec![
                    Op::Update {
                        object: cm("cm-2", &"z".repeat(5000)),
                        expected: None,
                    },
                    Op::Delete {
                        key: "/skiff-crash/raw-0".into(),
                        expected: None,
                    },
                    Op::Create(pod("pod-1", Some("node-b"), None, "redis".into())),
                ],
                failure: vec![],
            },
        ),
        (
            actor("b-failed-compare"),
            Txn {
                compare: vec![Compare::ModRevision(cm_key("cm-1"), head.next())],
                success: vec![Op::Delete {
                    key: cm_key("cm-1"),
                    expected: None,
                }],
                failure: vec![Op::PutRaw {
                    key: "/skiff-crash/raw-2".into(),
                    value: b"compare failed".to_vec(),
                }],
            },
        ),
    ]
}

/// Per power-loss mode: how many crash points reopened at the old and at the new state.
#[derive(Debug, Default)]
struct Sweep {
    points: u64,
    old: u64,
    new: u64,
    /// Per crash point in order: `true` when the new state was found.
    outcomes: Vec<bool>,
}

fn sweep_modes() -> Vec<PowerLoss> {
    let mut modes = vec![PowerLoss::DropUnsynced, PowerLoss::KeepUnsynced];
    modes.extend((0..4).map(|seed| PowerLoss::TearUnsynced { seed }));
    modes
}

/// Every request of a batch whose commit lost power learns that its outcome is unknown.
fn assert_none_acknowledged(outcomes: &[Outcome], ctx: &str) {
    for outcome in outcomes {
        assert!(
            matches!(
                outcome.result,
                Err(WriteError::Fatal(StoreError::CommitUnknown(_)))
            ),
            "{ctx}: {:?} answered {:?} although its commit lost power",
            outcome.actor,
            outcome.result
        );
    }
}

/// After a reopen: the store is at `old` or at `new` exactly, verifies, and takes a write.
async fn check_old_or_new(store: &Store, old: &Snapshot, new: &Snapshot, ctx: &str) -> bool {
    let found = snapshot(store);
    let is_new = if found == *old {
        false
    } else {
        assert!(
            found == *new,
            "{ctx}: neither the state before the batch (head {}) nor after it (head {}): head {}",
            old.status.revision,
            new.status.revision,
            found.status.revision
        );
        true
    };
    store
        .verify()
        .unwrap_or_else(|e| panic!("{ctx}: verify: {e}"));
    store
        .create(&actor("after"), cm("after-reopen", "ok"))
        .await
        .unwrap_or_else(|e| panic!("{ctx}: reopened store refused a write: {e}"));
    is_new
}

/// Arms a power loss at the 1st, 2nd, … I/O of one batch commit of several concurrent
/// requests: none of them is acknowledged, and the reopened store holds either none of the
/// batch or all of it, exactly as a run without power loss left it.
#[tokio::test]
async fn power_loss_inside_the_commit_of_a_batch_loses_only_unacknowledged_writes() {
    // The reference: the same history without power loss.
    let disk = SimDisk::new();
    let store = open(&disk);
    base_history(&store).await;
    let old = snapshot(&store);
    let cm0 = store.get(&cm_key("cm-0")).unwrap().1.stored.mod_revision;
    let batch = mixed_batch(old.status.revision, cm0);
    let reference: Vec<_> = submit_batch(&store, &batch)
        .await
        .iter()
        .map(|o| plain(&o.result))
        .collect();
    let new = snapshot(&store);
    assert_eq!(
        reference.iter().filter(|r| r.is_err()).count(),
        1,
        "one stale update is rejected: {reference:?}"
    );
    assert_eq!(
        new.status.revision.0 - old.status.revision.0,
        8,
        "7 requests, one of them rejected, append 8 events"
    );
    close(store).await;

    for power_loss in sweep_modes() {
        let mut sweep = Sweep::default();
        let mut finished = false;
        for crash_at in 1..=SWEEP_IO_MAX {
            let ctx = format!("{power_loss:?} at I/O {crash_at}");
            let disk = SimDisk::new();
            let store = open(&disk);
            base_history(&store).await;
            assert_eq!(snapshot(&store), old, "{ctx}: deterministic history");
            disk.arm_crash_after(crash_at, power_loss);
            let outcomes = submit_batch(&store, &batch).await;
            if disk.disarm() {
                let results: Vec<_> = outcomes.iter().map(|o| plain(&o.result)).collect();
                assert_eq!(results, reference, "{ctx}: no power loss");
                finished = true;
                break;
            }
            assert_none_acknowledged(&outcomes, &ctx);
            close(store).await;
            let store = open(&disk);
            let is_new = check_old_or_new(&store, &old, &new, &ctx).await;
            sweep.points += 1;
            if is_new {
                sweep.new += 1;
            } else {
                sweep.old += 1;
            }
            sweep.outcomes.push(is_new);
            close(store).await;
            disk.check_invariants_deep().unwrap();
        }
        assert!(
            finished,
            "a batch commit issued more than {SWEEP_IO_MAX} I/Os"
        );
        println!("{power_loss:?}: {sweep:?}");
        assert!(sweep.points >= 2, "a commit writes and syncs: {sweep:?}");
        match power_loss {
            // Durable only through its last sync: a dropped tail is always the old state.
            PowerLoss::DropUnsynced => assert_eq!(sweep.new, 0, "{sweep:?}"),
            // Every accepted write lands: once the commit has written everything, it is there.
            PowerLoss::KeepUnsynced => {
                assert!(sweep.outcomes.is_sorted(), "{sweep:?}");
                assert_eq!(sweep.outcomes.last(), Some(&true), "{sweep:?}");
            }
            PowerLoss::TearUnsynced { .. } => {}
        }
    }
}

/// Four batches of five requests: creates, then compare-guarded updates (or re-creates),
/// raw puts of up to 6 KiB, and a delete per batch.
fn torn_tail_batches() -> Vec<Vec<(Actor, Txn)>> {
    (0..4_u8)
        .map(|b| {
            let mut rng = SplitMix64::new(u64::from(b));
            (0..5_u8)
                .map(|r| {
                    let name = format!("batch{b}-{r}");
                    let value = text(&mut rng, 100 + 1500 * u64::from(r));
                    let txn = if b == 0 {
                        Txn::single(Op::Create(configmap(&format!("cm-{r}"), value)))
                    } else if r == 4 {
                        Txn::single(Op::Delete {
                            key: cm_key(&format!("cm-{}", b - 1)),
                            expected: None,
                        })
                    } else {
                        Txn {
                            compare: vec![Compare::Exists(cm_key(&format!("cm-{r}")))],
                            success: vec![
                                Op::Update {
                                    object: configmap(&format!("cm-{r}"), value.clone()),
                                    expected: None,
                                },
                                Op::PutRaw {
                                    key: format!("/skiff-crash/raw-{r}"),
                                    value: value.clone().into_bytes(),
                                },
                            ],
                            failure: vec![Op::Create(configmap(&format!("cm-{r}"), value))],
                        }
                    };
                    (actor(&name), txn)
                })
                .collect()
        })
        .collect()
}

/// Four acknowledged batches, then a power loss that tears the unsynced writes at every I/O of
/// the whole run and for several tear seeds: the store reopens exactly at the last batch that
/// was acknowledged, or at the one whose commit was cut short, whole.
#[tokio::test]
async fn torn_tail_reopens_at_the_last_durable_batch() {
    const TEAR_SEEDS: u64 = 3;
    let batches = torn_tail_batches();

    // Reference states after 0..=4 batches.
    let disk = SimDisk::new();
    let store = open(&disk);
    let mut states = vec![snapshot(&store)];
    for batch in &batches {
        for outcome in submit_batch(&store, batch).await {
            plain(&outcome.result).expect("every request of the history succeeds");
        }
        states.push(snapshot(&store));
    }
    close(store).await;

    let mut landed_whole = 0;
    let mut rolled_back = 0;
    let mut lost_in_batch = [0_u64; 4];
    for seed in 0..TEAR_SEEDS {
        let mut finished = false;
        for crash_at in 1..=SWEEP_IO_MAX * 4 {
            let ctx = format!("tear seed {seed} at I/O {crash_at}");
            let disk = SimDisk::new();
            let store = open(&disk);
            disk.arm_crash_after(crash_at, PowerLoss::TearUnsynced { seed });
            let mut acked_batches = 0;
            let mut interrupted = false;
            for batch in &batches {
                let outcomes = submit_batch(&store, batch).await;
                if disk.is_armed() {
                    for outcome in &outcomes {
                        plain(&outcome.result).expect("no power loss yet");
                    }
                    acked_batches += 1;
                } else {
                    assert_none_acknowledged(&outcomes, &ctx);
                    interrupted = true;
                    break;
                }
            }
            if !interrupted {
                assert!(disk.disarm(), "{ctx}");
                assert_eq!(acked_batches, 4);
                finished = true;
                break;
            }
            lost_in_batch[acked_batches] += 1;
            close(store).await;
            let store = open(&disk);
            let is_new = check_old_or_new(
                &store,
                &states[acked_batches],
                &states[acked_batches + 1],
                &ctx,
            )
            .await;
            if is_new {
                landed_whole += 1;
            } else {
                rolled_back += 1;
            }
            close(store).await;
            disk.check_invariants_deep().unwrap();
        }
        assert!(
            finished,
            "four batches issued more than {} I/Os",
            SWEEP_IO_MAX * 4
        );
    }
    println!(
        "torn tail: {rolled_back} rolled back, {landed_whole} landed whole, \
         power losses per batch {lost_in_batch:?}"
    );
    assert!(
        lost_in_batch.iter().all(|n| *n > 0),
        "every batch was cut: {lost_in_batch:?}"
    );
    assert!(rolled_back > 0 && landed_whole > 0);
}

/// The history the compaction scenario compacts: deletes and re-creates around it.
async fn compaction_history(store: &Store) {
    base_history(store).await;
    let a = actor("history");
    for i in 0..6 {
        store
            .update(&a, cm("cm-1", &"h".repeat(700 * i)), None)
            .await
            .unwrap();
        if i % 2 == 0 {
            store.delete(&a, &cm_key("cm-2"), None).await.unwrap();
        } else {
            store.create(&a, cm("cm-2", "again")).await.unwrap();
        }
    }
}

/// Every readable revision's full list, and reads below the compacted one refused.
fn history_reads(store: &Store) -> Vec<(u64, Vec<(String, Stored)>)> {
    let status = store.status().unwrap();
    if status.compacted > Revision::ZERO {
        let below = Revision(status.compacted.0 - 1);
        let err = store
            .list(
                "",
                &ListOptions {
                    revision: Some(below),
                    ..ListOptions::default()
                },
            )
            .unwrap_err();
        assert!(matches!(err, ReadError::Compacted { .. }), "{err}");
    }
    (status.compacted.0.max(1)..=status.revision.0)
        .map(|rev| {
            let page = store
                .list(
                    "",
                    &ListOptions {
                        revision: Some(Revision(rev)),
                        ..ListOptions::default()
                    },
                )
                .unwrap();
            let rows = page
                .entries
                .into_iter()
                .map(|e| (e.key, e.stored))
                .collect();
            (rev, rows)
        })
        .collect()
}

/// A compaction committed alone, and one committed in a batch with writes and a second,
/// transactional compaction.
fn compaction_shapes(below: Revision) -> Vec<(&'static str, Vec<(Actor, Txn)>)> {
    vec![
        (
            "compaction alone",
            vec![(actor("c-compact"), Txn::single(Op::Compact { below }))],
        ),
        (
            "compaction with writes",
            vec![
                (actor("c-compact"), Txn::single(Op::Compact { below })),
                (
                    actor("c-update"),
                    Txn::single(Op::Update {
                        object: cm("cm-1", "after compaction"),
                        expected: None,
                    }),
                ),
                (
                    actor("c-delete"),
                    Txn::single(Op::Delete {
                        key: cm_key("cm-0"),
                        expected: None,
                    }),
                ),
                (
                    actor("c-txn"),
                    Txn {
                        compare: vec![Compare::Absent(cm_key("cm-4"))],
                        success: vec![
                            Op::Create(cm("cm-4", "four")),
                            Op::Compact {
                                below: Revision(below.0 + 2),
                            },
                        ],
                        failure: vec![],
                    },
                ),
            ],
        ),
    ]
}

/// A compaction committed alone or with writes, with power lost at each I/O of its commit:
/// the reopened store is either uncompacted or compacted exactly as a run without power loss,
/// reads at every retained revision agree with that run, and later compactions still work.
#[tokio::test]
async fn compaction_interrupted_by_power_loss_keeps_history_consistent() {
    let disk = SimDisk::new();
    let store = open(&disk);
    compaction_history(&store).await;
    let head = store.status().unwrap().revision;
    let below = Revision(head.0 - 5);
    close(store).await;
    let shapes = compaction_shapes(below);

    for (shape, batch) in &shapes {
        // Reference run.
        let disk = SimDisk::new();
        let store = open(&disk);
        compaction_history(&store).await;
        let old = snapshot(&store);
        let old_reads = history_reads(&store);
        for outcome in submit_batch(&store, batch).await {
            plain(&outcome.result).expect("the compaction batch succeeds");
        }
        let new = snapshot(&store);
        let new_reads = history_reads(&store);
        assert!(new.status.compacted > old.status.compacted);
        assert!(
            new.events.len() < old.events.len(),
            "{shape}: compaction removed events"
        );
        close(store).await;

        let modes = [
            PowerLoss::DropUnsynced,
            PowerLoss::KeepUnsynced,
            PowerLoss::TearUnsynced { seed: 0 },
        ];
        for power_loss in modes {
            let mut sweep = Sweep::default();
            let mut finished = false;
            for crash_at in 1..=SWEEP_IO_MAX {
                let ctx = format!("{shape}, {power_loss:?} at I/O {crash_at}");
                let disk = SimDisk::new();
                let store = open(&disk);
                compaction_history(&store).await;
                disk.arm_crash_after(crash_at, power_loss);
                let outcomes = submit_batch(&store, batch).await;
                if disk.disarm() {
                    for outcome in &outcomes {
                        plain(&outcome.result).expect("no power loss");
                    }
                    finished = true;
                    break;
                }
                assert_none_acknowledged(&outcomes, &ctx);
                close(store).await;
                let store = open(&disk);
                // Read the history before `check_old_or_new` writes.
                let reads = history_reads(&store);
                let is_new = check_old_or_new(&store, &old, &new, &ctx).await;
                let expected = if is_new { &new_reads } else { &old_reads };
                assert!(reads == *expected, "{ctx}: reads at past revisions differ");
                // Compaction still works on the recovered history, up to the head.
                let head = store.status().unwrap().revision;
                store
                    .compact(&actor("later"), head)
                    .await
                    .unwrap_or_else(|e| panic!("{ctx}: later compaction: {e}"));
                store.verify().unwrap();
                sweep.points += 1;
                if is_new {
                    sweep.new += 1;
                } else {
                    sweep.old += 1;
                }
                sweep.outcomes.push(is_new);
                close(store).await;
            }
            assert!(
                finished,
                "a compaction commit issued more than {SWEEP_IO_MAX} I/Os"
            );
            println!("{shape}, {power_loss:?}: {sweep:?}");
            assert!(sweep.points >= 2, "{sweep:?}");
            if power_loss == PowerLoss::KeepUnsynced {
                assert_eq!(sweep.outcomes.last(), Some(&true), "{sweep:?}");
            }
        }
    }
}

/// `verify` reported corruption on a store with no events: the rebuilt projection wrote a
/// `head` row of 0 where the live one has none (`Store::rebuild_hash`). Found by the loop above
/// on its first life; it matters after a power loss before the first write.
#[tokio::test]
async fn regression_an_empty_store_verifies() {
    let disk = SimDisk::new();
    let store = open(&disk);
    store.verify().expect("a new store verifies");
    disk.crash();
    close(store).await;
    let store = open(&disk);
    store
        .verify()
        .expect("an empty store verifies after a power loss");
    assert_eq!(store.status().unwrap().revision, Revision::ZERO);
}

/// redb grows the file while a batch is inserted, before its commit. A power loss there failed
/// the request being inserted and those after it with `Stopped` (their replies were dropped)
/// instead of `CommitUnknown` like the rest of the batch (`Writer::commit_batch`). Found by
/// `torn_tail_reopens_at_the_last_durable_batch` at its first I/O.
#[tokio::test]
async fn regression_io_error_before_the_commit_answers_every_request_of_the_batch() {
    let disk = SimDisk::new();
    let store = open(&disk);
    disk.arm_crash_after(1, PowerLoss::DropUnsynced);
    let outcomes = submit_batch(&store, &torn_tail_batches()[0]).await;
    assert!(!disk.is_armed(), "the batch lost power");
    assert_none_acknowledged(&outcomes, "first I/O of the first batch");
    close(store).await;
    let store = open(&disk);
    assert_eq!(store.status().unwrap().revision, Revision::ZERO);
    store.verify().unwrap();
}
