//! The single writer: group commit of queued transactions into one redb write transaction,
//! acknowledged only after that transaction's fsync.
//!
//! Every request in a batch is checked in order against the state the earlier requests of the
//! same batch left (the write transaction sees its own writes). Events are appended to the log
//! and applied to the projection in the same redb transaction, so the projection's head is
//! always the log's head. A commit error other than a clean rollback means the outcome is
//! unknown: every request of the batch gets [`StoreError::CommitUnknown`] and the writer stops;
//! the store must be reopened (the log then says what happened).
//!
//! This module is the append path's one seam (DESIGN.md, "Later: high availability"): a
//! replicated log would feed batches through here.

use std::collections::BTreeSet;
use std::sync::Arc;

use redb::{Database, Durability};
use skiff_core::clock::Clock;
use skiff_core::event::{Actor, Change, Event, Revision};
use skiff_core::object::{KindRegistry, Object};
use tokio::sync::{mpsc, oneshot};

use crate::codec::{self, StoredValue};
use crate::error::{Rejection, StoreError, WriteError};
use crate::key::{REGISTRY_PREFIX, object_key};
use crate::request::{Applied, Compare, Op, Txn, TxnResponse};
use crate::tables::{self, EVENTS, IndexEntries, ProjectionTables};
use crate::watch::WatchHub;

/// Requests queued for the writer before callers wait for room (backpressure).
pub const QUEUE_REQUESTS_MAX: usize = 4096;
/// Requests committed in one redb transaction at most. storage.md §2: batches of 100–1000
/// events reach 20–30k events/s with the projection updated; larger batches only add latency.
pub const BATCH_REQUESTS_MAX: usize = 1024;
/// Operations in one transaction at most (etcd's default `--max-txn-ops` is 128).
pub const TXN_OPS_MAX: usize = 128;
const _: () = assert!(BATCH_REQUESTS_MAX > 0 && QUEUE_REQUESTS_MAX >= BATCH_REQUESTS_MAX);
/// Scheduler turns the writer gives its callers before committing a batch, at most, while
/// each turn brings more requests (adaptive group commit; see [`Writer::run`]).
pub const GATHER_TURNS_MAX: usize = 8;

/// One queued write, or the request to stop.
pub(crate) enum Request {
    /// A transaction to commit.
    Write {
        actor: Actor,
        txn: Txn,
        reply: oneshot::Sender<Result<TxnResponse, WriteError>>,
    },
    /// Finish what is queued before this, then stop and release the database.
    Shutdown(oneshot::Sender<()>),
}

/// A write taken from the queue.
pub(crate) struct Write {
    actor: Actor,
    txn: Txn,
    reply: oneshot::Sender<Result<TxnResponse, WriteError>>,
}

/// A change planned for one operation, before it has a revision.
/// Each carries what applying it needs from the row planning read (the old row's index
/// entries), so the row is read and decoded once per write. Objects and raw values stay in
/// their [`Op`] until [`realize`] moves them out (no copy).
#[allow(
    clippy::large_enum_variant,
    reason = "planned changes live for one batch; a delete's removed value is moved, not copied"
)]
enum Planned {
    /// The key, derived from the object once while planning.
    Create(String),
    Update {
        key: String,
        create_revision: Revision,
        version: u64,
        old_index: IndexEntries,
    },
    Delete(StoredValue, String),
    PutRaw {
        create_revision: Option<Revision>,
        version: u64,
    },
    Compact(Revision),
}

fn compare_holds(t: &ProjectionTables<'_>, compare: &Compare) -> Result<bool, StoreError> {
    Ok(match compare {
        Compare::Exists(key) => t.exists(key)?,
        Compare::Absent(key) => !t.exists(key)?,
        Compare::ModRevision(key, rev) => t.header(key)?.is_some_and(|s| s.mod_revision == *rev),
    })
}

fn check_expected(
    key: &str,
    mod_revision: Revision,
    expected: Option<Revision>,
) -> Result<(), Rejection> {
    match expected {
        Some(expected) if expected != mod_revision => Err(Rejection::Conflict {
            key: key.to_owned(),
            expected,
            actual: mod_revision,
        }),
        _ => Ok(()),
    }
}

/// Checks every operation of the branch against the current state and plans its change.
/// Nothing is written here.
fn plan(
    t: &ProjectionTables<'_>,
    txn: &Txn,
    head: Revision,
) -> Result<(bool, Vec<Planned>), WriteError> {
    let mut succeeded = true;
    for c in &txn.compare {
        if !compare_holds(t, c)? {
            succeeded = false;
            break;
        }
    }
    let ops = if succeeded {
        &txn.success
    } else {
        &txn.failure
    };
    if ops.len() > TXN_OPS_MAX {
        return Err(Rejection::Invalid(format!(
            "{} operations in one transaction; at most {TXN_OPS_MAX}",
            ops.len()
        ))
        .into());
    }
    let mut keys = BTreeSet::new();
    let mut planned = Vec::with_capacity(ops.len());
    // Operations are checked against the state before the transaction, but a compaction must
    // also not go below an earlier one of the same transaction: the compacted revision never
    // decreases (found by the store_ops fuzz target).
    let mut compacted_here = None;
    for op in ops {
        if let Op::Compact { below } = op {
            if let Some(earlier) = compacted_here
                && *below <= earlier
            {
                return Err(Rejection::BadCompaction {
                    requested: *below,
                    reason: format!("compacted to {earlier} earlier in this transaction"),
                }
                .into());
            }
            compacted_here = Some(*below);
        }
        let key = match op {
            Op::Create(o) | Op::Update { object: o, .. } => {
                object_key(o).map_err(Rejection::Invalid)?
            }
            Op::Compact { .. } => String::new(),
            _ => op.explicit_key().unwrap_or_default().to_owned(),
        };
        // A single operation cannot repeat a key: no set (and no key copy) needed.
        if ops.len() > 1 && !key.is_empty() && !keys.insert(key.clone()) {
            return Err(
                Rejection::Invalid(format!("duplicate key {key} in one transaction")).into(),
            );
        }
        planned.push(plan_op(t, op, key, head)?);
    }
    Ok((succeeded, planned))
}

/// `head` is the batch's head so far (the `meta` row is written once per batch).
fn plan_op(
    t: &ProjectionTables<'_>,
    op: &Op,
    key: String,
    head: Revision,
) -> Result<Planned, WriteError> {
    Ok(match op {
        Op::Create(_) => {
            if t.exists(&key)? {
                return Err(Rejection::AlreadyExists { key }.into());
            }
            Planned::Create(key)
        }
        Op::Update { expected, .. } => {
            let Some(stored) = t.get(&key)? else {
                return Err(Rejection::NotFound { key }.into());
            };
            check_expected(&key, stored.mod_revision, *expected)?;
            Planned::Update {
                old_index: tables::index_entries(&stored.value),
                key,
                create_revision: stored.create_revision,
                version: stored.version + 1,
            }
        }
        Op::Delete { key, expected } => {
            let Some(stored) = t.get(key)? else {
                return Err(Rejection::NotFound { key: key.clone() }.into());
            };
            check_expected(key, stored.mod_revision, *expected)?;
            Planned::Delete(stored.value, key.clone())
        }
        Op::PutRaw { key, .. } => {
            if key.starts_with(REGISTRY_PREFIX) {
                return Err(Rejection::Invalid(format!(
                    "raw values cannot be written under {REGISTRY_PREFIX}: {key} must hold a decodable object"
                ))
                .into());
            }
            if key.is_empty() {
                return Err(Rejection::Invalid("empty key".into()).into());
            }
            match t.header(key)? {
                Some(stored) if stored.is_object() => {
                    return Err(Rejection::Invalid(format!("{key} holds an object")).into());
                }
                Some(stored) => Planned::PutRaw {
                    create_revision: Some(stored.create_revision),
                    version: stored.version + 1,
                },
                None => Planned::PutRaw {
                    create_revision: None,
                    version: 1,
                },
            }
        }
        Op::Compact { below } => {
            let compacted = t.compacted()?;
            if *below <= compacted {
                return Err(Rejection::BadCompaction {
                    requested: *below,
                    reason: format!("already compacted to {compacted}"),
                }
                .into());
            }
            if *below > head {
                return Err(Rejection::BadCompaction {
                    requested: *below,
                    reason: format!("beyond the head revision {head}"),
                }
                .into());
            }
            Planned::Compact(*below)
        }
    })
}

/// Turns a planned change and the operation it was planned from into the event's change,
/// stamping `resourceVersion`, with the index entries of the key's row before the change
/// (empty when absent or raw). The operation's object or value moves into the event; the
/// reply gets the one copy.
fn realize(planned: Planned, op: Op, revision: Revision) -> (Change, Applied, IndexEntries) {
    let stamp = |mut object: Object| {
        object.metadata_mut().resource_version = Some(revision.to_string());
        object
    };
    match planned {
        Planned::Create(key) => {
            let Op::Create(object) = op else {
                unreachable!("a create is planned from a create")
            };
            let object = stamp(object);
            let applied = Applied {
                revision,
                key,
                value: Some(StoredValue::Object(object.clone())),
            };
            (Change::Create(object), applied, IndexEntries::default())
        }
        Planned::Update {
            key,
            create_revision,
            version,
            old_index,
        } => {
            let Op::Update { object, .. } = op else {
                unreachable!("an update is planned from an update")
            };
            let object = stamp(object);
            let applied = Applied {
                revision,
                key,
                value: Some(StoredValue::Object(object.clone())),
            };
            (
                Change::Update {
                    object,
                    create_revision,
                    version,
                },
                applied,
                old_index,
            )
        }
        Planned::Delete(value, key) => {
            let old_index = tables::index_entries(&value);
            let change = match &value {
                StoredValue::Object(object) => Change::Delete(object.clone()),
                StoredValue::Raw(_) => Change::DeleteRaw { key: key.clone() },
            };
            (
                change,
                Applied {
                    revision,
                    key,
                    value: Some(value),
                },
                old_index,
            )
        }
        Planned::PutRaw {
            create_revision,
            version,
        } => {
            let Op::PutRaw { key, value } = op else {
                unreachable!("a raw put is planned from a raw put")
            };
            let applied = Applied {
                revision,
                key: key.clone(),
                value: Some(StoredValue::Raw(value.clone())),
            };
            let change = Change::PutRaw {
                key,
                value,
                create_revision: create_revision.unwrap_or(revision),
                version,
            };
            (change, applied, IndexEntries::default())
        }
        Planned::Compact(below) => (
            Change::Compact { below },
            Applied {
                revision,
                key: String::new(),
                value: None,
            },
            IndexEntries::default(),
        ),
    }
}

/// The writer task's state.
pub(crate) struct Writer {
    pub db: Arc<Database>,
    pub clock: Arc<dyn Clock>,
    pub hub: WatchHub,
    pub kinds: KindRegistry,
    /// Set in a replicated store: batches are proposed to Raft and applied by its state
    /// machine on every member (raft/), instead of committed here.
    pub replica: Option<Arc<crate::raft::Replica>>,
    /// Whether commits keep redb's allocator state for a fast repair after a crash (off only
    /// for [`crate::Backing::Memory`], which is never reopened).
    pub quick_repair: bool,
}

impl Writer {
    /// Runs until every sender is gone, a shutdown is asked for, or a commit fails.
    ///
    /// Group commit is adaptive: when the previous batch held more than one request, callers
    /// are writing concurrently, and those just answered are about to send their next
    /// request. The writer then yields (one scheduler turn, no timer) and takes what arrived,
    /// as long as each turn brings more, before committing: one fsync for all of them instead
    /// of a small batch now and the rest in the next. A lone writer never waits.
    pub(crate) async fn run(self, mut rx: mpsc::Receiver<Request>) {
        let mut shutdown = None;
        let mut previous_batch = 0;
        while shutdown.is_none() {
            let Some(first) = rx.recv().await else { break };
            let mut batch = Vec::new();
            take(first, &mut batch, &mut shutdown);
            drain(&mut rx, &mut batch, &mut shutdown);
            if previous_batch > 1 {
                for _ in 0..GATHER_TURNS_MAX {
                    if shutdown.is_some() || batch.len() >= BATCH_REQUESTS_MAX {
                        break;
                    }
                    tokio::task::yield_now().await;
                    let before = batch.len();
                    drain(&mut rx, &mut batch, &mut shutdown);
                    if batch.len() == before {
                        break;
                    }
                }
            }
            previous_batch = batch.len();
            if batch.is_empty() {
                continue;
            }
            if let Some(replica) = &self.replica {
                self.propose_batch(replica, batch).await;
                continue;
            }
            if let Err(fatal) = self.commit_batch(batch) {
                tracing::error!(error = %fatal, "store writer stopped");
                break;
            }
        }
        self.hub.stop();
        rx.close();
        drop(self.db);
        if let Some(done) = shutdown {
            let _ = done.send(());
        }
        // Requests still queued learn the store stopped when their reply senders drop.
    }

    /// Proposes one batch to Raft and answers every request once it is committed and applied
    /// here (or with why not). Never stops the writer: a failed proposal is the cluster's
    /// business (a new leader, a retry elsewhere).
    async fn propose_batch(&self, replica: &crate::raft::Replica, batch: Vec<Write>) {
        let at = self.clock.now_micro_time();
        let (writes, replies): (Vec<(Actor, Txn)>, Vec<_>) = batch
            .into_iter()
            .map(|w| ((w.actor, w.txn), w.reply))
            .unzip();
        match replica.propose(at, writes).await {
            Ok(outcomes) => {
                let mut outcomes = outcomes.into_iter();
                for reply in replies {
                    let outcome = outcomes.next().unwrap_or_else(|| {
                        Err(WriteError::Fatal(StoreError::ReplicationUnknown(
                            "the applied batch answered fewer writes than it held".into(),
                        )))
                    });
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(WriteError::Fatal(e.to_store_error())));
                }
            }
        }
    }

    /// Commits one batch; on a fatal error every request of the batch has been answered.
    fn commit_batch(&self, mut batch: Vec<Write>) -> Result<(), StoreError> {
        let mut outcomes: Vec<Result<TxnResponse, WriteError>> = Vec::with_capacity(batch.len());
        let mut events: Vec<Arc<Event>> = Vec::new();
        let result = self.write_batch(&mut batch, &mut outcomes, &mut events);
        match result {
            Ok(()) => {
                assert_eq!(outcomes.len(), batch.len(), "one outcome per request");
                for (request, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = request.reply.send(outcome);
                }
                self.hub.publish(events);
                Ok(())
            }
            Err(fatal) => {
                // Every request of the batch, also those not yet planned when an I/O error
                // struck before the commit (redb grows the file while inserting): answering
                // them by dropping their reply would tell them `Stopped` instead.
                for request in batch {
                    let _ = request
                        .reply
                        .send(Err(WriteError::Fatal(StoreError::CommitUnknown(
                            fatal.to_string(),
                        ))));
                }
                Err(fatal)
            }
        }
    }

    fn write_batch(
        &self,
        batch: &mut [Write],
        outcomes: &mut Vec<Result<TxnResponse, WriteError>>,
        events: &mut Vec<Arc<Event>>,
    ) -> Result<(), StoreError> {
        let at = self.clock.now_micro_time();
        let mut writes: Vec<(&Actor, &mut Txn)> =
            batch.iter_mut().map(|w| (&w.actor, &mut w.txn)).collect();
        apply_batch_with(
            &self.db,
            at,
            &mut writes,
            outcomes,
            events,
            &|_| Ok(()),
            &self.kinds,
            self.quick_repair,
        )
    }
}

/// Adds a queued request to the batch, or takes note of a shutdown.
fn take(request: Request, batch: &mut Vec<Write>, shutdown: &mut Option<oneshot::Sender<()>>) {
    match request {
        Request::Write { actor, txn, reply } => batch.push(Write { actor, txn, reply }),
        Request::Shutdown(done) => *shutdown = Some(done),
    }
}

/// Takes what is queued, up to the batch bound or a shutdown (which finishes what was queued
/// before it: nothing after it is taken).
fn drain(
    rx: &mut mpsc::Receiver<Request>,
    batch: &mut Vec<Write>,
    shutdown: &mut Option<oneshot::Sender<()>>,
) {
    while shutdown.is_none() && batch.len() < BATCH_REQUESTS_MAX {
        let Ok(request) = rx.try_recv() else { break };
        take(request, batch, shutdown);
    }
}

/// One write of a batch: who asks, and the transaction (its chosen branch's operations are
/// moved out while applying).
pub(crate) type BatchWrite<'a> = (&'a Actor, &'a mut Txn);

/// Turns a batch of transactions into events and projection changes in one redb transaction,
/// stamped `at`, and commits it (durably). Every member of a replicated store runs exactly this
/// for each committed batch (raft/), so their logs and projections are the same bytes; `extra`
/// writes more rows in the same transaction before the commit (raft's applied log id).
///
/// Outcomes are pushed in request order; events of the committed transaction are pushed for the
/// watch hub. An `Err` is fatal: the commit's outcome is unknown.
pub(crate) fn apply_batch(
    db: &Database,
    at: skiff_core::object::MicroTime,
    batch: &mut [BatchWrite<'_>],
    outcomes: &mut Vec<Result<TxnResponse, WriteError>>,
    events: &mut Vec<Arc<Event>>,
    extra: &dyn Fn(&redb::WriteTransaction) -> Result<(), StoreError>,
    kinds: &KindRegistry,
) -> Result<(), StoreError> {
    apply_batch_with(db, at, batch, outcomes, events, extra, kinds, true)
}

/// [`apply_batch`], with redb's quick-repair record kept or (`quick_repair: false`, a memory
/// database that is never reopened) skipped.
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_batch_with(
    db: &Database,
    at: skiff_core::object::MicroTime,
    batch: &mut [BatchWrite<'_>],
    outcomes: &mut Vec<Result<TxnResponse, WriteError>>,
    events: &mut Vec<Arc<Event>>,
    extra: &dyn Fn(&redb::WriteTransaction) -> Result<(), StoreError>,
    kinds: &KindRegistry,
    quick_repair: bool,
) -> Result<(), StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    // storage.md §3: without quick-repair a crash costs a full repair walk (3.3 s per 1M
    // events); with batched commits its cost is unmeasurable.
    txn.set_quick_repair(quick_repair);
    let mut compact_to = None;
    {
        let mut t = ProjectionTables::open(&txn, kinds)?;
        let mut log = txn.open_table(EVENTS)?;
        let first_head = t.head()?;
        let mut head = first_head;
        // Encoding buffers reused for every event of the batch (redb copies what it inserts):
        // no allocation per event for its two records.
        let (mut record, mut row) = (Vec::new(), Vec::new());
        for (actor, request) in batch.iter_mut() {
            let outcome = match plan(&t, request, head) {
                Err(WriteError::Fatal(e)) => return Err(e),
                Err(rejected) => Err(rejected),
                Ok((succeeded, planned)) => {
                    let mut applied = Vec::with_capacity(planned.len());
                    let ops = std::mem::take(if succeeded {
                        &mut request.success
                    } else {
                        &mut request.failure
                    });
                    for (p, op) in planned.into_iter().zip(ops) {
                        let revision = head.next();
                        let (change, done, old_index) = realize(p, op, revision);
                        if let Change::Compact { below } = change {
                            compact_to = Some(below);
                        }
                        let event = Event {
                            revision,
                            at,
                            actor: (*actor).clone(),
                            change,
                        };
                        let has_row =
                            codec::encode_event_and_row_into(&event, &mut record, &mut row);
                        log.insert(revision.0, record.as_slice())?;
                        let row = has_row.then_some(row.as_slice());
                        tables::apply_change(&mut t, &event, old_index, row, &done.key)?;
                        head = revision;
                        applied.push(done);
                        events.push(Arc::new(event));
                    }
                    Ok(TxnResponse {
                        succeeded,
                        revision: head,
                        applied,
                    })
                }
            };
            outcomes.push(outcome);
        }
        // Once per batch rather than per event (tables::apply writes it per event).
        if head != first_head {
            t.meta.insert(tables::META_HEAD, head.0)?;
        }
    }
    if let Some(below) = compact_to {
        let removed = tables::compact_history(&txn, below, kinds)?;
        tracing::info!(below = below.0, removed, "compacted history");
    }
    extra(&txn)?;
    txn.commit()
        .map_err(|e| StoreError::CommitUnknown(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use skiff_core::clock::ManualClock;
    use skiff_core::event::Actor;
    use skiff_core::object::{Container, Object, OwnerReference, Pod};

    use crate::codec::StoredValue;
    use crate::{Backing, ListOptions, Store};

    fn pod(node: Option<&str>, owner: &str) -> Object {
        let mut pod = Pod::new("p", vec![Container::new("c", "nginx")]);
        pod.metadata.namespace = Some("default".into());
        pod.spec.node_name = node.map(str::to_owned);
        pod.metadata.owner_references.push(OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "rs".into(),
            uid: owner.into(),
            controller: Some(true),
            block_owner_deletion: None,
        });
        pod.into()
    }

    /// The writer passes the old row's index entries down and touches only the rows that
    /// change: the indexes must still equal what a rebuild from the log gives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn index_rows_follow_updates_and_match_a_rebuild() {
        let store =
            Store::open(Backing::Memory, Arc::new(ManualClock::new(1_700_000_000))).unwrap();
        let admin = Actor::new("admin");
        let key = "/registry/pods/default/p";
        store.create(&admin, pod(Some("n1"), "u1")).await.unwrap();
        assert_eq!(store.pods_on_node("n1").unwrap(), [key]);
        store
            .update(&admin, pod(Some("n1"), "u1"), None)
            .await
            .unwrap();
        assert_eq!(store.pods_on_node("n1").unwrap(), [key]);
        assert_eq!(store.owned_by("u1").unwrap(), [key]);
        store
            .update(&admin, pod(Some("n2"), "u2"), None)
            .await
            .unwrap();
        assert!(store.pods_on_node("n1").unwrap().is_empty());
        assert!(store.owned_by("u1").unwrap().is_empty());
        assert_eq!(store.pods_on_node("n2").unwrap(), [key]);
        assert_eq!(store.owned_by("u2").unwrap(), [key]);
        assert_eq!(store.in_namespace("default").unwrap(), [key]);
        store.update(&admin, pod(None, "u2"), None).await.unwrap();
        assert!(store.pods_on_node("n2").unwrap().is_empty());
        assert_eq!(store.state_hash().unwrap(), store.rebuild_hash().unwrap());
        store.delete(&admin, key, None).await.unwrap();
        assert!(store.owned_by("u2").unwrap().is_empty());
        assert!(store.in_namespace("default").unwrap().is_empty());
        assert_eq!(store.state_hash().unwrap(), store.rebuild_hash().unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_only_lists_carry_revisions_without_values() {
        let store =
            Store::open(Backing::Memory, Arc::new(ManualClock::new(1_700_000_000))).unwrap();
        let admin = Actor::new("admin");
        for (i, node) in ["n1", "n2", "n1"].iter().enumerate() {
            let mut object = pod(Some(node), "u");
            object.metadata_mut().name = Some(format!("p{i}"));
            store.create(&admin, object.clone()).await.unwrap();
            store.update(&admin, object, None).await.unwrap();
        }
        let prefix = "/registry/pods/";
        let full = store.list(prefix, &ListOptions::default()).unwrap();
        let keys = ListOptions {
            keys_only: true,
            ..ListOptions::default()
        };
        let page = store.list(prefix, &keys).unwrap();
        assert_eq!(page.revision, full.revision);
        assert_eq!(page.entries.len(), 3);
        for (k, f) in page.entries.iter().zip(&full.entries) {
            assert_eq!(k.key, f.key);
            assert_eq!(k.stored.create_revision, f.stored.create_revision);
            assert_eq!(k.stored.mod_revision, f.stored.mod_revision);
            assert_eq!(k.stored.version, 2);
            assert_eq!(k.stored.value, StoredValue::Raw(Vec::new()));
        }
        // Paging and selectors work the same with keys only.
        let first = store
            .list(
                prefix,
                &ListOptions {
                    limit: 2,
                    ..keys.clone()
                },
            )
            .unwrap();
        assert_eq!(first.entries.len(), 2);
        assert_eq!(
            first.continue_after.as_deref(),
            Some(full.entries[1].key.as_str())
        );
        let on_n1 = ListOptions {
            field_selector: Some(
                skiff_core::selector::FieldSelector::parse("spec.nodeName=n1").unwrap(),
            ),
            ..keys
        };
        let page = store.list(prefix, &on_n1).unwrap();
        let names: Vec<&str> = page.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            names,
            ["/registry/pods/default/p0", "/registry/pods/default/p2"]
        );
        assert!(
            page.entries
                .iter()
                .all(|e| e.stored.value == StoredValue::Raw(Vec::new()))
        );
    }
}
