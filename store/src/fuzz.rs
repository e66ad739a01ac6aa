//! Bodies of the store's cargo-fuzz targets (`fuzz/fuzz_targets/{log_record,store_ops}.rs`), as
//! plain functions so that `tests/fuzz_replay.rs` replays the seeds and saved regressions on
//! stable. Built with the `fuzzing` feature only.
//!
//! - [`log_record`]: arbitrary bytes through the record codec.
//! - [`store_ops`]: a bounded sequence of writes, reads and watches, decoded with `arbitrary`,
//!   applied to a [`Backing::Memory`] store and to a reference model; every answer must agree.
//!
//! Each body panics only when the store breaks a promise; any input is otherwise fine.

use std::collections::{BTreeMap, BTreeSet};
use std::future::{Future, poll_fn};
use std::num::NonZeroUsize;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use skiff_core::clock::ManualClock;
use skiff_core::event::{Actor, Change, Event, Revision};
use skiff_core::object::{ConfigMap, MicroTime, Node, Object, ObjectMeta, OwnerReference, Pod};

use crate::codec::{self, DecodeError, EVENT_FORMAT, STORED_FORMAT, Stored, StoredValue};
use crate::key::{REGISTRY_PREFIX, object_key};
use crate::watch::{CATCH_UP_CHUNK_EVENTS, Watch, WatchError};
use crate::{
    Applied, Backing, Compare, Entry, ListOptions, ListPage, Op, OpenOptions, ReadError, Rejection,
    Store, StoreError, TXN_OPS_MAX, Txn, TxnResponse, WriteError,
};

// ---------------------------------------------------------------------------------------------
// `log_record`.
// ---------------------------------------------------------------------------------------------

/// Envelope header: format byte and CRC-32 (codec's private `HEADER_LEN`, restated here so a
/// change there shows up as a failing replay rather than silently).
const HEADER_BYTES: usize = 5;

/// The `log_record` target: arbitrary bytes as an event record and as a projection record,
/// then the same bytes as the payload of a record with a valid format byte and CRC-32 (so the
/// fuzzer reaches bincode rather than checksum failures).
///
/// - Decoding never panics.
/// - A record that decodes re-encodes to exactly the same bytes (one value, one encoding).
/// - A record that does not decode is refused for the first reason in envelope order:
///   truncated, format, checksum, then payload.
///
/// # Panics
///
/// When one of those promises is broken.
pub fn log_record(data: &[u8]) {
    event_record_round_trips(data);
    stored_record_round_trips(data);
    let framed = |format: u8| {
        let mut record = Vec::with_capacity(HEADER_BYTES + data.len());
        record.push(format);
        record.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
        record.extend_from_slice(data);
        record
    };
    event_record_round_trips(&framed(EVENT_FORMAT));
    stored_record_round_trips(&framed(STORED_FORMAT));
}

fn event_record_round_trips(bytes: &[u8]) {
    match codec::decode_event(bytes) {
        Ok(event) => {
            let again = codec::encode_event(&event);
            assert!(
                again == bytes,
                "event record re-encodes differently:\n  in:  {bytes:?}\n  out: {again:?}\n  {event:?}"
            );
        }
        Err(error) => check_refusal(bytes, EVENT_FORMAT, &error),
    }
}

fn stored_record_round_trips(bytes: &[u8]) {
    match codec::decode_stored(bytes) {
        Ok(stored) => {
            let again = codec::encode_stored(&stored);
            assert!(
                again == bytes,
                "projection record re-encodes differently:\n  in:  {bytes:?}\n  out: {again:?}\n  {stored:?}"
            );
        }
        Err(error) => check_refusal(bytes, STORED_FORMAT, &error),
    }
}

/// The envelope checks run in order, so the first failing one names the refusal.
fn check_refusal(bytes: &[u8], format: u8, error: &DecodeError) {
    if bytes.len() < HEADER_BYTES {
        assert_eq!(*error, DecodeError::Truncated(bytes.len()));
    } else if bytes[0] != format {
        let expected = DecodeError::Format {
            found: bytes[0],
            expected: format,
        };
        assert_eq!(*error, expected);
    } else {
        let stored = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        let computed = crc32fast::hash(&bytes[HEADER_BYTES..]);
        if stored == computed {
            assert!(
                !matches!(
                    error,
                    DecodeError::Truncated(_)
                        | DecodeError::Format { .. }
                        | DecodeError::Checksum { .. }
                ),
                "a record with a valid envelope refused as {error:?}"
            );
        } else {
            assert_eq!(*error, DecodeError::Checksum { stored, computed });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `store_ops`: the input.
// ---------------------------------------------------------------------------------------------

/// Steps per input at most: enough for compaction, paging and watches to interleave, small
/// enough for thousands of inputs per second.
pub const STEPS_MAX: usize = 64;
/// Operations per generated transaction branch (the store's own limit, [`TXN_OPS_MAX`], is
/// reached only by [`Step::OversizedTxn`]).
const TXN_OPS_FUZZ_MAX: usize = 6;
/// Compares per generated transaction.
const COMPARES_MAX: usize = 3;
/// Transactions submitted together in one [`Step::Batch`].
const BATCH_TXNS_MAX: usize = 6;
/// Watches open at once.
const WATCHES_MAX: usize = 4;
/// Bytes of a raw value.
const RAW_VALUE_BYTES_MAX: usize = 8;
/// Pages one [`Step::ListAll`] follows.
const LIST_PAGES_MAX: usize = 64;
/// Events one drain takes from a watch (more than any input can write).
const DRAIN_EVENTS_MAX: usize = 4096;
const _: () = assert!(TXN_OPS_FUZZ_MAX < TXN_OPS_MAX);
const _: () =
    assert!(STEPS_MAX * BATCH_TXNS_MAX * TXN_OPS_FUZZ_MAX + TXN_OPS_MAX < DRAIN_EVENTS_MAX);

/// Object names: two valid, and three that have no key.
const NAMES: [&str; 5] = ["a", "b", "", "a/b", ".."];
/// Namespaces: none (right for nodes only) and two real ones.
const NAMESPACES: [Option<&str>; 3] = [None, Some("default"), Some("kube-system")];
/// Raw keys: valid ones (one with a NUL, right after `a` in key order), an empty one and one
/// under `/registry/` (both refused).
const RAW_KEYS: [&str; 6] = ["/a", "/b", "/a/b", "a\0", "", "/registry/x"];
/// List and watch prefixes.
const PREFIXES: [&str; 11] = [
    "",
    "/",
    "/a",
    "a",
    "z",
    "/registry/",
    "/registry/configmaps/",
    "/registry/configmaps/default/",
    "/registry/pods/",
    "/registry/minions/",
    "/registry/minions/a",
];
/// Owner uids and node names (index lookups).
const OWNERS: [&str; 2] = ["u0", "u1"];
const NODES: [&str; 3] = ["n0", "n1", ""];
/// The model's and the store's clock start here (2024-01-01T00:00:00Z).
const CLOCK_START_UNIX_SECONDS: u64 = 1_704_067_200;

/// One `store_ops` input: at most [`STEPS_MAX`] steps (more are ignored).
#[derive(Debug, Clone, Arbitrary)]
pub struct StoreOps {
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step: a write (through `txn`, a batch, or the convenience methods), a read, or a watch.
#[derive(Debug, Clone, Arbitrary)]
pub enum Step {
    /// One transaction; `actor` picks one of two users.
    Txn {
        /// Second actor instead of the first.
        actor: bool,
        /// The transaction.
        txn: TxnSpec,
    },
    /// Transactions submitted together, so the writer commits them as one batch.
    Batch(Vec<TxnSpec>),
    /// One operation through `create`/`update`/`delete`/`compact` (or `op` for raw puts).
    Op(OpSpec),
    /// A transaction of `TXN_OPS_MAX + 1` raw puts: refused as a whole.
    OversizedTxn,
    /// `get` of a key.
    Get(u8),
    /// `get_at` of a key at a revision.
    GetAt(u8, RevSpec),
    /// One `list` page.
    List {
        /// Prefix index.
        prefix: u8,
        /// `None` for the head.
        revision: Option<RevSpec>,
        /// Page size, 0 for no limit.
        limit: u8,
        /// Continue after this key.
        continue_after: Option<u8>,
    },
    /// Every page of a list, following `continue_after` at the first page's revision.
    ListAll {
        /// Prefix index.
        prefix: u8,
        /// `None` for the head.
        revision: Option<RevSpec>,
        /// Page size, 1 to 4.
        limit: u8,
    },
    /// `events(from, to)`.
    Events(RevSpec, RevSpec),
    /// Starts a watch (at most [`WATCHES_MAX`] open).
    Watch {
        /// Prefix index.
        prefix: u8,
        /// Start after this revision.
        from: RevSpec,
    },
    /// Takes every event a watch has ready.
    Drain(u8),
    /// Advances the clock by this many milliseconds.
    Tick(u16),
}

/// A transaction: compares, then the branch they choose.
#[derive(Debug, Clone, Arbitrary)]
pub struct TxnSpec {
    /// Conditions (at most [`COMPARES_MAX`]).
    pub compare: Vec<CompareSpec>,
    /// Operations when every condition holds (at most [`TXN_OPS_FUZZ_MAX`]).
    pub success: Vec<OpSpec>,
    /// Operations otherwise.
    pub failure: Vec<OpSpec>,
}

/// A compare on a key (by index into the key universe).
#[derive(Debug, Clone, Arbitrary)]
pub enum CompareSpec {
    /// The key exists.
    Exists(u8),
    /// The key does not exist.
    Absent(u8),
    /// The key exists with this modification revision.
    ModRevision(u8, RevSpec),
}

/// One operation.
#[derive(Debug, Clone, Arbitrary)]
pub enum OpSpec {
    /// Create an object.
    Create(ObjectSpec),
    /// Replace an object, with or without a precondition.
    Update {
        /// The new state.
        object: ObjectSpec,
        /// resourceVersion precondition.
        expected: Option<RevSpec>,
    },
    /// Delete a key, with or without a precondition.
    Delete {
        /// Key index.
        key: u8,
        /// resourceVersion precondition.
        expected: Option<RevSpec>,
    },
    /// Write raw bytes.
    PutRaw {
        /// Raw key index.
        key: u8,
        /// The bytes (at most [`RAW_VALUE_BYTES_MAX`]).
        value: Vec<u8>,
    },
    /// Compact history.
    Compact(RevSpec),
}

/// Which object an operation carries.
#[derive(Debug, Clone, Arbitrary)]
pub struct ObjectSpec {
    /// Its kind.
    pub kind: KindSpec,
    /// Name index.
    pub name: u8,
    /// Namespace index.
    pub namespace: u8,
    /// A data value (ConfigMap) to tell versions apart.
    pub data: u8,
    /// Owner uid index.
    pub owner: Option<u8>,
    /// Node name index (Pod).
    pub node: Option<u8>,
}

/// Kinds: two namespaced (one indexed by node), one cluster-scoped.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum KindSpec {
    /// A ConfigMap.
    ConfigMap,
    /// A Pod.
    Pod,
    /// A Node.
    Node,
}

/// A revision, resolved against the model's state when the step runs.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum RevSpec {
    /// This revision.
    Exact(u8),
    /// The head minus 0 to 3.
    Head(u8),
    /// One or two past the head.
    Future(u8),
    /// The compacted revision minus 1 to plus 1.
    Compacted(u8),
    /// The current modification revision of a key (0 if absent).
    ModOf(u8),
}

// ---------------------------------------------------------------------------------------------
// `store_ops`: the reference model.
// ---------------------------------------------------------------------------------------------

/// The model: the current rows, every event ever appended, and the two counters. Reads at past
/// revisions and the retained log are computed from the full history, by the rules the store
/// documents, not by its algorithm.
struct Model {
    head: Revision,
    compacted: Revision,
    now: MicroTime,
    current: BTreeMap<String, Stored>,
    /// Every event, `history[i].revision == i + 1`.
    history: Vec<Event>,
}

/// A read refusal, comparable.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ReadFailure {
    NotFound(String),
    Compacted { requested: u64, compacted: u64 },
    Future { requested: u64, head: u64 },
    InvalidContinue,
}

fn read_failure(error: ReadError) -> ReadFailure {
    match error {
        ReadError::NotFound { key } => ReadFailure::NotFound(key),
        ReadError::Compacted {
            requested,
            compacted_revision,
        } => ReadFailure::Compacted {
            requested: requested.0,
            compacted: compacted_revision.0,
        },
        ReadError::FutureRevision { requested, head } => ReadFailure::Future {
            requested: requested.0,
            head: head.0,
        },
        ReadError::InvalidContinue => ReadFailure::InvalidContinue,
        ReadError::Fatal(fatal) => panic!("a read failed: {fatal}"),
        ReadError::InvalidSelector(e) => panic!("store_ops sends no selectors, yet: {e}"),
    }
}

/// The key an event touches (`None` for compaction).
fn event_key(change: &Change) -> Option<String> {
    match change {
        Change::Create(o) | Change::Update { object: o, .. } | Change::Delete(o) => {
            Some(object_key(o).expect("events carry objects with keys"))
        }
        Change::PutRaw { key, .. } | Change::DeleteRaw { key } => Some(key.clone()),
        Change::Compact { .. } => None,
    }
}

/// The row an event leaves for its key (`None` after a delete or for compaction).
fn row_after(event: &Event) -> Option<Stored> {
    let (create_revision, version, value) = match &event.change {
        Change::Create(object) => (event.revision, 1, StoredValue::Object(object.clone())),
        Change::Update {
            object,
            create_revision,
            version,
        } => (
            *create_revision,
            *version,
            StoredValue::Object(object.clone()),
        ),
        Change::PutRaw {
            value,
            create_revision,
            version,
            ..
        } => (*create_revision, *version, StoredValue::Raw(value.clone())),
        Change::Delete(_) | Change::DeleteRaw { .. } | Change::Compact { .. } => return None,
    };
    Some(Stored {
        create_revision,
        mod_revision: event.revision,
        version,
        value,
    })
}

impl Model {
    fn new() -> Self {
        Self {
            head: Revision::ZERO,
            compacted: Revision::ZERO,
            now: MicroTime::from_unix_micros(
                i64::try_from(CLOCK_START_UNIX_SECONDS).expect("fits") * 1_000_000,
            ),
            current: BTreeMap::new(),
            history: Vec::new(),
        }
    }

    fn mod_revision(&self, key: &str) -> Revision {
        self.current
            .get(key)
            .map_or(Revision::ZERO, |s| s.mod_revision)
    }

    fn resolve(&self, spec: RevSpec, keys: &[String]) -> Revision {
        match spec {
            RevSpec::Exact(n) => Revision(u64::from(n)),
            RevSpec::Head(n) => Revision(self.head.0.saturating_sub(u64::from(n % 4))),
            RevSpec::Future(n) => Revision(self.head.0 + 1 + u64::from(n % 2)),
            RevSpec::Compacted(n) => {
                Revision((self.compacted.0 + u64::from(n % 3)).saturating_sub(1))
            }
            RevSpec::ModOf(k) => self.mod_revision(pick(keys, k).as_str()),
        }
    }

    /// The transaction as the store documents it: compares against the state before it, every
    /// operation of the chosen branch checked against that same state (with keys unique), the
    /// first refusal refusing all; then one event per operation.
    fn txn(&mut self, actor: &Actor, txn: &Txn) -> Result<TxnResponse, Rejection> {
        let succeeded = txn.compare.iter().all(|c| match c {
            Compare::Exists(k) => self.current.contains_key(k),
            Compare::Absent(k) => !self.current.contains_key(k),
            Compare::ModRevision(k, r) => self.current.get(k).is_some_and(|s| s.mod_revision == *r),
        });
        let ops = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        let invalid = || Rejection::Invalid(String::new());
        if ops.len() > TXN_OPS_MAX {
            return Err(invalid());
        }
        let mut keys = BTreeSet::new();
        // A later compaction of the same transaction must not go below an earlier one: the
        // compacted revision never decreases (Change::Compact: reads below it fail).
        let mut compact_floor = self.compacted;
        for op in ops {
            let key = match op {
                Op::Create(o) | Op::Update { object: o, .. } => {
                    object_key(o).map_err(Rejection::Invalid)?
                }
                Op::Delete { key, .. } | Op::PutRaw { key, .. } => key.clone(),
                Op::Compact { .. } => String::new(),
            };
            if !key.is_empty() && !keys.insert(key.clone()) {
                return Err(invalid());
            }
            let current = self.current.get(&key);
            match op {
                Op::Create(_) if current.is_some() => {
                    return Err(Rejection::AlreadyExists { key });
                }
                Op::Create(_) => {}
                Op::Update { expected, .. } | Op::Delete { expected, .. } => {
                    let Some(stored) = current else {
                        return Err(Rejection::NotFound { key });
                    };
                    if let Some(expected) = *expected
                        && expected != stored.mod_revision
                    {
                        return Err(Rejection::Conflict {
                            key,
                            expected,
                            actual: stored.mod_revision,
                        });
                    }
                }
                Op::PutRaw { .. } => {
                    if key.starts_with(REGISTRY_PREFIX)
                        || key.is_empty()
                        || current.is_some_and(|s| matches!(s.value, StoredValue::Object(_)))
                    {
                        return Err(invalid());
                    }
                }
                Op::Compact { below } => {
                    if *below <= compact_floor || *below > self.head {
                        return Err(Rejection::BadCompaction {
                            requested: *below,
                            reason: String::new(),
                        });
                    }
                    compact_floor = *below;
                }
            }
        }
        let applied = ops.iter().map(|op| self.apply(actor, op)).collect();
        Ok(TxnResponse {
            succeeded,
            revision: self.head,
            applied,
        })
    }

    /// Appends the event of one checked operation and updates the rows.
    fn apply(&mut self, actor: &Actor, op: &Op) -> Applied {
        let revision = self.head.next();
        let stamp = |object: &Object| {
            let mut object = object.clone();
            object.metadata_mut().resource_version = Some(revision.to_string());
            object
        };
        let (change, key, value) = match op {
            Op::Create(object) => {
                let object = stamp(object);
                let key = object_key(&object).expect("checked");
                let value = StoredValue::Object(object.clone());
                (Change::Create(object), key, Some(value))
            }
            Op::Update { object, .. } => {
                let object = stamp(object);
                let key = object_key(&object).expect("checked");
                let old = &self.current[&key];
                let change = Change::Update {
                    object: object.clone(),
                    create_revision: old.create_revision,
                    version: old.version + 1,
                };
                (change, key, Some(StoredValue::Object(object)))
            }
            Op::Delete { key, .. } => {
                let old = self.current[key].value.clone();
                let change = match &old {
                    StoredValue::Object(object) => Change::Delete(object.clone()),
                    StoredValue::Raw(_) => Change::DeleteRaw { key: key.clone() },
                };
                (change, key.clone(), Some(old))
            }
            Op::PutRaw { key, value } => {
                let old = self.current.get(key);
                let change = Change::PutRaw {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: old.map_or(revision, |s| s.create_revision),
                    version: old.map_or(1, |s| s.version + 1),
                };
                (change, key.clone(), Some(StoredValue::Raw(value.clone())))
            }
            Op::Compact { below } => {
                self.compacted = *below;
                (Change::Compact { below: *below }, String::new(), None)
            }
        };
        let event = Event {
            revision,
            at: self.now,
            actor: actor.clone(),
            change,
        };
        if let Some(key) = event_key(&event.change) {
            match row_after(&event) {
                Some(row) => self.current.insert(key, row),
                None => self.current.remove(&key),
            };
        }
        self.history.push(event);
        self.head = revision;
        Applied {
            revision,
            key,
            value,
        }
    }

    fn check_readable(&self, revision: Revision) -> Result<(), ReadFailure> {
        if revision < self.compacted {
            return Err(ReadFailure::Compacted {
                requested: revision.0,
                compacted: self.compacted.0,
            });
        }
        if revision > self.head {
            return Err(ReadFailure::Future {
                requested: revision.0,
                head: self.head.0,
            });
        }
        Ok(())
    }

    /// Every key's row at `revision`, from the full history.
    fn rows_at(&self, revision: Revision) -> BTreeMap<String, Stored> {
        let mut rows = BTreeMap::new();
        for event in self.history.iter().take_while(|e| e.revision <= revision) {
            if let Some(key) = event_key(&event.change) {
                match row_after(event) {
                    Some(row) => rows.insert(key, row),
                    None => rows.remove(&key),
                };
            }
        }
        rows
    }

    fn get(&self, key: &str) -> Result<(Revision, Entry), ReadFailure> {
        let stored = self
            .current
            .get(key)
            .ok_or_else(|| ReadFailure::NotFound(key.to_owned()))?;
        Ok((
            self.head,
            Entry {
                key: key.to_owned(),
                stored: stored.clone(),
            },
        ))
    }

    fn get_at(&self, key: &str, revision: Revision) -> Result<Entry, ReadFailure> {
        self.check_readable(revision)?;
        let stored = self
            .rows_at(revision)
            .remove(key)
            .ok_or_else(|| ReadFailure::NotFound(key.to_owned()))?;
        Ok(Entry {
            key: key.to_owned(),
            stored,
        })
    }

    fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListPage, ReadFailure> {
        let revision = options.revision.unwrap_or(self.head);
        self.check_readable(revision)?;
        let start = options
            .continue_after
            .clone()
            .map_or_else(|| prefix.to_owned(), |k| k + "\0");
        if !start.starts_with(prefix) {
            return Err(ReadFailure::InvalidContinue);
        }
        let mut entries: Vec<Entry> = self
            .rows_at(revision)
            .into_iter()
            .filter(|(key, _)| *key >= start && key.starts_with(prefix))
            .map(|(key, stored)| Entry { key, stored })
            .collect();
        let limit = if options.limit == 0 {
            usize::MAX
        } else {
            options.limit
        };
        let more = entries.len() > limit;
        entries.truncate(limit);
        let continue_after = if more {
            entries.last().map(|e| e.key.clone())
        } else {
            None
        };
        Ok(ListPage {
            revision,
            entries,
            continue_after,
        })
    }

    /// The log after compaction, by the rule the store documents: every event at or above the
    /// compacted revision, plus, for each key alive there, the event that gave it its value.
    fn retained(&self) -> BTreeMap<u64, &Event> {
        let below = self.compacted;
        let mut last_change: BTreeMap<String, &Event> = BTreeMap::new();
        for event in self.history.iter().take_while(|e| e.revision <= below) {
            if let Some(key) = event_key(&event.change) {
                last_change.insert(key, event);
            }
        }
        let kept: BTreeSet<u64> = last_change
            .values()
            .filter(|e| row_after(e).is_some())
            .map(|e| e.revision.0)
            .collect();
        self.history
            .iter()
            .filter(|e| e.revision >= below || kept.contains(&e.revision.0))
            .map(|e| (e.revision.0, e))
            .collect()
    }

    fn events(&self, from: Revision, to: Revision) -> Vec<Event> {
        self.retained()
            .into_values()
            .filter(|e| from <= e.revision && e.revision <= to)
            .cloned()
            .collect()
    }
}

/// A watch in the model: where it is, how far catch-up reads the log, and how it ended.
struct ModelWatch {
    prefix: String,
    last: Revision,
    caught_up_to: Revision,
    failed: Option<WatchError>,
}

impl ModelWatch {
    fn matches(&self, event: &Event) -> bool {
        self.prefix.is_empty()
            || event_key(&event.change).is_some_and(|k| k.starts_with(&self.prefix))
    }

    /// Everything the watch has ready: catch-up from the retained log in chunks (a gap means
    /// compaction overtook it), then every later event live.
    fn drain(&mut self, model: &Model) -> (Vec<Event>, Option<WatchError>) {
        if let Some(error) = &self.failed {
            return (Vec::new(), Some(error.clone()));
        }
        let retained = model.retained();
        let mut delivered = Vec::new();
        while self.last < self.caught_up_to {
            let start = self.last.0 + 1;
            let end = self.caught_up_to.0.min(self.last.0 + CATCH_UP_CHUNK_EVENTS);
            let mut expected = start;
            let mut chunk = Vec::new();
            for (&revision, &event) in retained.range(start..=end) {
                if revision != expected {
                    return self.fail(delivered, revision);
                }
                expected += 1;
                chunk.push(event);
            }
            if expected != end + 1 {
                return self.fail(delivered, end);
            }
            for event in chunk {
                self.last = event.revision;
                if self.matches(event) {
                    delivered.push(event.clone());
                }
            }
        }
        let after = self.last;
        for event in model.history.iter().filter(|e| e.revision > after) {
            self.last = event.revision;
            if self.matches(event) {
                delivered.push(event.clone());
            }
        }
        (delivered, None)
    }

    fn fail(&mut self, delivered: Vec<Event>, compacted: u64) -> (Vec<Event>, Option<WatchError>) {
        let error = WatchError::Compacted {
            requested: self.last,
            compacted_revision: Revision(compacted),
        };
        self.failed = Some(error.clone());
        (delivered, Some(error))
    }
}

// ---------------------------------------------------------------------------------------------
// `store_ops`: the run.
// ---------------------------------------------------------------------------------------------

fn pick<T>(items: &[T], index: u8) -> &T {
    &items[usize::from(index) % items.len()]
}

/// The keys compares, deletes and reads pick from: every object key the specs can produce, the
/// raw keys, and a key under `/registry/` no object has.
fn key_universe() -> Vec<String> {
    let mut keys = BTreeSet::new();
    for kind in [KindSpec::ConfigMap, KindSpec::Pod, KindSpec::Node] {
        for name in 0..2 {
            for namespace in 0..3 {
                let spec = ObjectSpec {
                    kind,
                    name,
                    namespace,
                    data: 0,
                    owner: None,
                    node: None,
                };
                if let Ok(key) = object_key(&build_object(&spec)) {
                    keys.insert(key);
                }
            }
        }
    }
    keys.extend(RAW_KEYS.iter().map(|k| (*k).to_owned()));
    keys.insert("/registry/configmaps/default/c".to_owned());
    keys.into_iter().collect()
}

fn build_object(spec: &ObjectSpec) -> Object {
    let name = *pick(&NAMES, spec.name);
    let mut metadata = ObjectMeta {
        name: Some(name.to_owned()),
        namespace: pick(&NAMESPACES, spec.namespace).map(str::to_owned),
        ..ObjectMeta::default()
    };
    if let Some(owner) = spec.owner {
        metadata.owner_references.push(OwnerReference {
            api_version: "apps/v1".to_owned(),
            kind: "ReplicaSet".to_owned(),
            name: "owner".to_owned(),
            uid: (*pick(&OWNERS, owner)).to_owned(),
            controller: Some(true),
            block_owner_deletion: None,
        });
    }
    match spec.kind {
        KindSpec::ConfigMap => ConfigMap {
            metadata,
            data: BTreeMap::from([("value".to_owned(), spec.data.to_string())]),
            ..ConfigMap::default()
        }
        .into(),
        KindSpec::Pod => {
            let mut pod = Pod {
                metadata,
                ..Pod::default()
            };
            pod.spec.node_name = spec.node.map(|n| (*pick(&NODES, n)).to_owned());
            pod.into()
        }
        KindSpec::Node => Node {
            metadata,
            ..Node::default()
        }
        .into(),
    }
}

/// Where a check runs, for its failure message. Formatted only when a check fails: a step's
/// `Debug` text costs more than most steps do.
#[derive(Clone, Copy)]
enum Context<'a> {
    /// `step {index}: {step:?}`.
    Step(usize, &'a Step),
    /// One transaction of a batch step.
    Transaction(&'a Context<'a>, usize),
    /// Draining watch `i` at the end, before shutdown.
    FinalDrain(usize),
    /// Draining watch `i` after shutdown.
    DrainAfterShutdown(usize),
}

impl std::fmt::Display for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Context::Step(index, step) => write!(f, "step {index}: {step:?}"),
            Context::Transaction(step, i) => write!(f, "{step}, transaction {i}"),
            Context::FinalDrain(i) => write!(f, "final drain {i}"),
            Context::DrainAfterShutdown(i) => write!(f, "drain {i} after shutdown"),
        }
    }
}

/// Everything a run holds: the store and its clock, the model, the open watches.
struct Run {
    store: Store,
    clock: ManualClock,
    model: Model,
    keys: Vec<String>,
    watches: Vec<(Watch, ModelWatch)>,
    actors: [Actor; 2],
}

/// The `store_ops` target: decodes [`StoreOps`] from `data` (an input that does not decode is
/// skipped) and runs it against a memory store and the model on a fresh current-thread runtime.
///
/// After every step the answers agree exactly: write results (revisions, applied values,
/// rejections by variant and key, revision or `requested`), `get`/`get_at`/`list` pages and
/// their refusals, `events`, and each watch's deliveries and errors; after every write the
/// head and compacted revisions agree. At the end: `status`, the whole retained log, the
/// indexes, [`Store::verify`], and after `shutdown` a refused write and watches ending with
/// `Stopped`.
///
/// # Panics
///
/// When the store and the model disagree, or the store fails.
pub fn store_ops(data: &[u8]) {
    // The decoding libfuzzer-sys does for a typed target, so `cargo fuzz fmt` shows the steps.
    if let Ok(input) = StoreOps::arbitrary_take_rest(Unstructured::new(data)) {
        store_ops_input(input);
    }
}

/// [`store_ops`] on decoded input (the fuzz target's typed entry point).
///
/// # Panics
///
/// As [`store_ops`].
pub fn store_ops_input(input: StoreOps) {
    if std::env::var_os("SKIFF_FUZZ_DEBUG").is_some() {
        eprintln!("{input:#?}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds");
    runtime.block_on(run(input));
}

async fn run(mut input: StoreOps) {
    input.steps.truncate(STEPS_MAX);
    let clock = ManualClock::new(CLOCK_START_UNIX_SECONDS);
    let ring = events_bound(&input.steps).max(1);
    let options = OpenOptions {
        watch_buffer_events: NonZeroUsize::new(ring),
        ..OpenOptions::default()
    };
    let store = Store::open_with(Backing::Memory, Arc::new(clock.clone()), options)
        .expect("memory store opens");
    let mut run = Run {
        store,
        clock,
        model: Model::new(),
        keys: key_universe(),
        watches: Vec::new(),
        actors: [Actor::new("admin"), Actor::new("system:kube-scheduler")],
    };
    for (index, step) in input.steps.iter().enumerate() {
        run.step(index, step).await;
    }
    assert!(
        usize::try_from(run.model.head.0).is_ok_and(|head| head <= ring),
        "{} events written, more than the ring of {ring} the input was given",
        run.model.head
    );
    run.finish().await;
}

/// The most events `steps` can write (each write step's larger branch; a refused step writes
/// none, and [`Step::OversizedTxn`] must be refused). The store under test gets a watch ring of
/// this size ([`OpenOptions::watch_buffer_events`]): as with the default ring of
/// [`crate::watch::WATCH_BUFFER_EVENTS`], no watch can be cut off for falling behind (the
/// model has no overflow), and a short input opens a small ring instead of 16,384 slots.
fn events_bound(steps: &[Step]) -> usize {
    let txn = |t: &TxnSpec| t.success.len().max(t.failure.len()).min(TXN_OPS_FUZZ_MAX);
    steps
        .iter()
        .map(|step| match step {
            Step::Txn { txn: t, .. } => txn(t),
            Step::Batch(specs) => specs.iter().take(BATCH_TXNS_MAX).map(txn).sum(),
            Step::Op(_) => 1,
            _ => 0,
        })
        .sum()
}

impl Run {
    fn txn(&self, spec: &TxnSpec) -> Txn {
        let keys = &self.keys;
        let compare = spec
            .compare
            .iter()
            .take(COMPARES_MAX)
            .map(|c| match c {
                CompareSpec::Exists(k) => Compare::Exists(pick(keys, *k).clone()),
                CompareSpec::Absent(k) => Compare::Absent(pick(keys, *k).clone()),
                CompareSpec::ModRevision(k, r) => {
                    Compare::ModRevision(pick(keys, *k).clone(), self.model.resolve(*r, keys))
                }
            })
            .collect();
        let ops = |specs: &[OpSpec]| -> Vec<Op> {
            specs
                .iter()
                .take(TXN_OPS_FUZZ_MAX)
                .map(|op| self.op(op))
                .collect()
        };
        Txn {
            compare,
            success: ops(&spec.success),
            failure: ops(&spec.failure),
        }
    }

    fn op(&self, spec: &OpSpec) -> Op {
        let keys = &self.keys;
        let resolve = |r: &Option<RevSpec>| r.map(|r| self.model.resolve(r, keys));
        match spec {
            OpSpec::Create(object) => Op::Create(build_object(object)),
            OpSpec::Update { object, expected } => Op::Update {
                object: build_object(object),
                expected: resolve(expected),
            },
            OpSpec::Delete { key, expected } => Op::Delete {
                key: pick(keys, *key).clone(),
                expected: resolve(expected),
            },
            OpSpec::PutRaw { key, value } => Op::PutRaw {
                key: (*pick(&RAW_KEYS, *key)).to_owned(),
                value: value.iter().copied().take(RAW_VALUE_BYTES_MAX).collect(),
            },
            OpSpec::Compact(below) => Op::Compact {
                below: self.model.resolve(*below, keys),
            },
        }
    }

    async fn step(&mut self, index: usize, step: &Step) {
        let context = Context::Step(index, step);
        match step {
            Step::Txn { actor, txn } => {
                let actor = self.actors[usize::from(*actor)].clone();
                let txn = self.txn(txn);
                let store = self.store.txn(&actor, txn.clone()).await;
                let model = self.model.txn(&actor, &txn);
                check_write(&context, store, &model);
            }
            Step::Batch(specs) => {
                let actor = self.actors[0].clone();
                let txns: Vec<Txn> = specs
                    .iter()
                    .take(BATCH_TXNS_MAX)
                    .map(|s| self.txn(s))
                    .collect();
                let pending = txns
                    .iter()
                    .map(|txn| self.store.txn(&actor, txn.clone()))
                    .collect();
                let answers = join_in_order(pending).await;
                for (i, (txn, store)) in txns.iter().zip(answers).enumerate() {
                    let model = self.model.txn(&actor, txn);
                    check_write(&Context::Transaction(&context, i), store, &model);
                }
            }
            Step::Op(spec) => self.convenience(&context, spec).await,
            Step::OversizedTxn => {
                let txn = Txn {
                    success: (0..=TXN_OPS_MAX)
                        .map(|i| Op::PutRaw {
                            key: format!("/many/{i}"),
                            value: Vec::new(),
                        })
                        .collect(),
                    ..Txn::default()
                };
                let store = self.store.txn(&self.actors[0], txn.clone()).await;
                let model = self.model.txn(&self.actors[0], &txn);
                check_write(&context, store, &model);
            }
            Step::Tick(ms) => {
                let d = Duration::from_millis(u64::from(*ms));
                self.clock.advance(d);
                let micros = i64::try_from(d.as_micros()).expect("at most 65 s");
                self.model.now = MicroTime::from_unix_micros(self.model.now.unix_micros + micros);
            }
            read => self.read(&context, read).await,
        }
        if matches!(
            step,
            Step::Txn { .. } | Step::Batch(_) | Step::Op(_) | Step::OversizedTxn
        ) {
            let status = self
                .store
                .status()
                .unwrap_or_else(|e| panic!("{context}: {e}"));
            assert_eq!(status.revision, self.model.head, "{context}: head");
            assert_eq!(
                status.compacted, self.model.compacted,
                "{context}: compacted"
            );
        }
    }

    /// A read or watch step: the store's answer against the model's.
    async fn read(&mut self, context: &Context<'_>, step: &Step) {
        match step {
            Step::Get(key) => {
                let key = pick(&self.keys, *key);
                let store = self.store.get(key).map_err(read_failure);
                assert_eq!(store, self.model.get(key), "{context}");
            }
            Step::GetAt(key, revision) => {
                let key = pick(&self.keys, *key);
                let revision = self.model.resolve(*revision, &self.keys);
                let store = self.store.get_at(key, revision).map_err(read_failure);
                assert_eq!(store, self.model.get_at(key, revision), "{context}");
            }
            Step::List {
                prefix,
                revision,
                limit,
                continue_after,
            } => {
                let prefix = pick(&PREFIXES, *prefix);
                let options = ListOptions {
                    revision: revision.map(|r| self.model.resolve(r, &self.keys)),
                    limit: usize::from(*limit % 5),
                    continue_after: continue_after.map(|k| pick(&self.keys, k).clone()),
                    ..ListOptions::default()
                };
                let store = self.store.list(prefix, &options).map_err(read_failure);
                assert_eq!(store, self.model.list(prefix, &options), "{context}");
            }
            Step::ListAll {
                prefix,
                revision,
                limit,
            } => self.list_all(context, *prefix, *revision, *limit),
            Step::Events(from, to) => {
                let from = self.model.resolve(*from, &self.keys);
                let to = self.model.resolve(*to, &self.keys);
                let store = self
                    .store
                    .events(from, to)
                    .unwrap_or_else(|e| panic!("{context}: {e}"));
                assert_eq!(store, self.model.events(from, to), "{context}");
            }
            Step::Watch { prefix, from } => {
                if self.watches.len() >= WATCHES_MAX {
                    return;
                }
                let prefix = *pick(&PREFIXES, *prefix);
                let from = self.model.resolve(*from, &self.keys);
                let store = self.store.watch(prefix, from).map_err(read_failure);
                let model = self.model.check_readable(from);
                match (store, model) {
                    (Ok(watch), Ok(())) => self.watches.push((
                        watch,
                        ModelWatch {
                            prefix: prefix.to_owned(),
                            last: from,
                            caught_up_to: self.model.head,
                            failed: None,
                        },
                    )),
                    (Ok(_), Err(model)) => panic!("{context}: store watched, model {model:?}"),
                    (Err(store), Ok(())) => panic!("{context}: store refused {store:?}"),
                    (Err(store), Err(model)) => assert_eq!(store, model, "{context}"),
                }
            }
            Step::Drain(watch) => {
                if !self.watches.is_empty() {
                    let at = usize::from(*watch) % self.watches.len();
                    let (watch, model) = &mut self.watches[at];
                    drain_and_compare(context, watch, model, &self.model, false).await;
                }
            }
            Step::Txn { .. }
            | Step::Batch(_)
            | Step::Op(_)
            | Step::OversizedTxn
            | Step::Tick(_) => unreachable!("not a read: {step:?}"),
        }
    }

    /// One operation through the convenience methods, which unwrap the transaction response.
    async fn convenience(&mut self, context: &Context<'_>, spec: &OpSpec) {
        let op = self.op(spec);
        let actor = &self.actors[0];
        let model = self.model.txn(actor, &Txn::single(op.clone()));
        let unwrap_rejection = |e: WriteError| match e {
            WriteError::Rejected(r) => r,
            WriteError::Fatal(f) => panic!("{context}: fatal {f}"),
        };
        let model_value = |r: &TxnResponse| r.applied[0].value.clone();
        match op {
            Op::Create(object) => {
                let store = self.store.create(actor, object).await;
                compare_results(
                    context,
                    &store.map(StoredValue::Object).map_err(unwrap_rejection),
                    &model.map(|r| model_value(&r).expect("created")),
                );
            }
            Op::Update { object, expected } => {
                let store = self.store.update(actor, object, expected).await;
                compare_results(
                    context,
                    &store.map(StoredValue::Object).map_err(unwrap_rejection),
                    &model.map(|r| model_value(&r).expect("updated")),
                );
            }
            Op::Delete { key, expected } => {
                let store = self.store.delete(actor, &key, expected).await;
                compare_results(
                    context,
                    &store.map_err(unwrap_rejection),
                    &model.map(|r| model_value(&r).expect("deleted")),
                );
            }
            Op::Compact { below } => {
                let store = self.store.compact(actor, below).await;
                compare_results(
                    context,
                    &store.map_err(unwrap_rejection),
                    &model.map(|r| r.revision),
                );
            }
            op @ Op::PutRaw { .. } => {
                let store = self.store.op(actor, op).await;
                check_write(context, store, &model);
            }
        }
    }

    fn list_all(&self, context: &Context<'_>, prefix: u8, revision: Option<RevSpec>, limit: u8) {
        let prefix = pick(&PREFIXES, prefix);
        let mut options = ListOptions {
            revision: revision.map(|r| self.model.resolve(r, &self.keys)),
            limit: usize::from(limit % 4) + 1,
            continue_after: None,
            ..ListOptions::default()
        };
        let mut keys = Vec::new();
        for page in 0..LIST_PAGES_MAX {
            let store = self.store.list(prefix, &options).map_err(read_failure);
            let model = self.model.list(prefix, &options);
            assert_eq!(store, model, "{context}, page {page}");
            let Ok(page) = store else { return };
            keys.extend(page.entries.iter().map(|e| e.key.clone()));
            let Some(after) = page.continue_after else {
                let all = self.model.list(
                    prefix,
                    &ListOptions {
                        revision: Some(page.revision),
                        ..ListOptions::default()
                    },
                );
                let all: Vec<String> = all
                    .expect("readable")
                    .entries
                    .into_iter()
                    .map(|e| e.key)
                    .collect();
                assert_eq!(keys, all, "{context}: pages do not add up to the list");
                return;
            };
            options.revision = Some(page.revision);
            options.continue_after = Some(after);
        }
        panic!("{context}: more than {LIST_PAGES_MAX} pages");
    }

    async fn finish(mut self) {
        let status = self.store.status().expect("status");
        let retained = self.model.retained();
        assert_eq!(status.revision, self.model.head, "final head");
        assert_eq!(status.compacted, self.model.compacted, "final compacted");
        assert_eq!(
            status.events,
            u64::try_from(retained.len()).expect("fits"),
            "retained events"
        );
        assert_eq!(
            status.keys,
            u64::try_from(self.model.current.len()).expect("fits"),
            "keys"
        );
        let log = self
            .store
            .events(Revision::ZERO, Revision(u64::MAX))
            .expect("events");
        let expected: Vec<Event> = retained.into_values().cloned().collect();
        assert_eq!(log, expected, "the retained log");
        let all = self.store.list("", &ListOptions::default()).expect("list");
        assert_eq!(
            Ok(all),
            self.model.list("", &ListOptions::default()),
            "final list"
        );
        self.check_indexes();
        // An empty store verifies too (fuzz/regressions/store_ops/verify-fails-on-a-fresh-store
        // pinned the bug this once had).
        if let Err(error) = self.store.verify() {
            panic!("the projection is not what the log says: {error}");
        }

        // Drain before shutdown, so what is left after it is only the end of the stream.
        for (i, (watch, model)) in self.watches.iter_mut().enumerate() {
            drain_and_compare(&Context::FinalDrain(i), watch, model, &self.model, false).await;
        }
        self.store.shutdown().await;
        let refused = self
            .store
            .op(&self.actors[0], Op::Compact { below: Revision(1) })
            .await;
        assert!(
            matches!(refused, Err(WriteError::Fatal(StoreError::Stopped))),
            "a write after shutdown: {refused:?}"
        );
        for (i, (watch, model)) in self.watches.iter_mut().enumerate() {
            drain_and_compare(
                &Context::DrainAfterShutdown(i),
                watch,
                model,
                &self.model,
                true,
            )
            .await;
        }
    }

    fn check_indexes(&self) {
        let objects = || {
            self.model
                .current
                .iter()
                .filter_map(|(key, stored)| match &stored.value {
                    StoredValue::Object(object) => Some((key.clone(), object)),
                    StoredValue::Raw(_) => None,
                })
        };
        for node in NODES.iter().filter(|n| !n.is_empty()) {
            let expected: Vec<String> = objects()
                .filter(|(_, o)| {
                    matches!(o, Object::Pod(p) if p.spec.node_name.as_deref() == Some(*node))
                })
                .map(|(k, _)| k)
                .collect();
            assert_eq!(
                self.store.pods_on_node(node).expect("index"),
                expected,
                "pods on {node}"
            );
        }
        for owner in OWNERS {
            let expected: Vec<String> = objects()
                .filter(|(_, o)| o.metadata().owner_references.iter().any(|r| r.uid == owner))
                .map(|(k, _)| k)
                .collect();
            assert_eq!(
                self.store.owned_by(owner).expect("index"),
                expected,
                "owned by {owner}"
            );
        }
        for namespace in NAMESPACES.iter().flatten() {
            let expected: Vec<String> = objects()
                .filter(|(_, o)| {
                    o.info().namespaced && o.metadata().namespace.as_deref() == Some(*namespace)
                })
                .map(|(k, _)| k)
                .collect();
            assert_eq!(
                self.store.in_namespace(namespace).expect("index"),
                expected,
                "in {namespace}"
            );
        }
    }
}

fn check_write(
    context: &Context<'_>,
    store: Result<TxnResponse, WriteError>,
    model: &Result<TxnResponse, Rejection>,
) {
    let store = store.map_err(|e| match e {
        WriteError::Rejected(r) => r,
        WriteError::Fatal(f) => panic!("{context}: fatal {f}"),
    });
    compare_results(context, &store, model);
}

/// Equal results; rejections by variant, key and revisions (not the prose of `Invalid` and
/// `BadCompaction`).
fn compare_results<T: PartialEq + std::fmt::Debug>(
    context: &Context<'_>,
    store: &Result<T, Rejection>,
    model: &Result<T, Rejection>,
) {
    match (store, model) {
        (Err(Rejection::Invalid(_)), Err(Rejection::Invalid(_))) => {}
        (
            Err(Rejection::BadCompaction { requested: a, .. }),
            Err(Rejection::BadCompaction { requested: b, .. }),
        ) => assert_eq!(a, b, "{context}"),
        _ => assert_eq!(store, model, "{context}"),
    }
}

/// Takes every event the store's watch has ready (polling `next` until it would wait) and
/// compares with the model's.
async fn drain_and_compare(
    context: &Context<'_>,
    watch: &mut Watch,
    model: &mut ModelWatch,
    m: &Model,
    stopped: bool,
) {
    let mut delivered = Vec::new();
    let mut ended = None;
    for _ in 0..DRAIN_EVENTS_MAX {
        match poll_once(watch.next()).await {
            Poll::Ready(Ok(event)) => delivered.push(Arc::unwrap_or_clone(event)),
            Poll::Ready(Err(error)) => {
                ended = Some(error);
                break;
            }
            Poll::Pending => break,
        }
    }
    let (expected, mut expected_end) = model.drain(m);
    if stopped && expected_end.is_none() {
        // After shutdown: whatever was ready, then the end.
        model.failed = Some(WatchError::Stopped);
        expected_end = Some(WatchError::Stopped);
    }
    assert_eq!(delivered, expected, "{context}: events delivered");
    assert_eq!(ended, expected_end, "{context}: how the watch ended");
}

/// Polls `future` once: its output, or `Pending` if it would wait.
async fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    let mut future = pin!(future);
    poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await
}

/// Awaits all `futures`, polling them in order, so that their first steps (here: queueing a
/// write) happen in order before any waits.
async fn join_in_order<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    poll_fn(|cx| {
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none()
                && let Poll::Ready(value) = future.as_mut().poll(cx)
            {
                *output = Some(value);
            }
        }
        if outputs.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("ready")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: u8) -> OpSpec {
        OpSpec::PutRaw {
            key,
            value: vec![key],
        }
    }

    fn txn(success: Vec<OpSpec>) -> Step {
        Step::Txn {
            actor: false,
            txn: TxnSpec {
                compare: Vec::new(),
                success,
                failure: Vec::new(),
            },
        }
    }

    /// Regression: two compactions in one transaction were both checked against the compacted
    /// revision before it, so `compact 3, compact 2` succeeded and left the compacted revision
    /// at 2, below the acknowledged 3 (reads at 2 were allowed after "history below 3 was
    /// compacted").
    #[test]
    fn regression_store_ops_second_compaction_in_a_transaction_cannot_go_back() {
        store_ops_input(StoreOps {
            steps: vec![
                txn(vec![put(0), put(1), put(2)]),
                Step::Watch {
                    prefix: 0,
                    from: RevSpec::Exact(0),
                },
                txn(vec![
                    OpSpec::Compact(RevSpec::Exact(3)),
                    OpSpec::Compact(RevSpec::Exact(2)),
                ]),
                txn(vec![
                    OpSpec::Compact(RevSpec::Exact(2)),
                    OpSpec::Compact(RevSpec::Exact(3)),
                ]),
                Step::GetAt(0, RevSpec::Exact(2)),
                Step::Drain(0),
            ],
        });
    }

    /// Every kind of step once, with compaction between past reads, pages and watches.
    #[test]
    fn every_step_kind_agrees_with_the_model() {
        let object = |kind, name, namespace, node| ObjectSpec {
            kind,
            name,
            namespace,
            data: name,
            owner: Some(name),
            node,
        };
        let pod = object(KindSpec::Pod, 0, 1, Some(0));
        store_ops_input(StoreOps {
            steps: vec![
                Step::Watch {
                    prefix: 5,
                    from: RevSpec::Exact(0),
                },
                txn(vec![
                    OpSpec::Create(pod.clone()),
                    OpSpec::Create(object(KindSpec::ConfigMap, 1, 2, None)),
                    OpSpec::Create(object(KindSpec::Node, 0, 0, None)),
                    put(0),
                ]),
                Step::Op(OpSpec::Update {
                    object: ObjectSpec {
                        node: Some(1),
                        ..pod.clone()
                    },
                    expected: Some(RevSpec::Exact(1)),
                }),
                Step::Op(OpSpec::Update {
                    object: pod.clone(),
                    expected: Some(RevSpec::Exact(1)),
                }),
                Step::Tick(1500),
                Step::Batch(vec![
                    TxnSpec {
                        compare: vec![CompareSpec::Exists(0)],
                        success: vec![put(1)],
                        failure: vec![put(2)],
                    },
                    TxnSpec {
                        compare: vec![CompareSpec::ModRevision(7, RevSpec::Head(0))],
                        success: vec![OpSpec::Create(object(KindSpec::Node, 0, 0, None))],
                        failure: vec![OpSpec::Delete {
                            key: 8,
                            expected: None,
                        }],
                    },
                ]),
                Step::Watch {
                    prefix: 0,
                    from: RevSpec::Head(2),
                },
                Step::Op(OpSpec::Compact(RevSpec::Head(1))),
                Step::Op(OpSpec::Compact(RevSpec::Exact(1))),
                Step::Get(3),
                Step::GetAt(3, RevSpec::Compacted(0)),
                Step::GetAt(3, RevSpec::Compacted(2)),
                Step::List {
                    prefix: 5,
                    revision: Some(RevSpec::Compacted(1)),
                    limit: 2,
                    continue_after: None,
                },
                Step::ListAll {
                    prefix: 0,
                    revision: Some(RevSpec::Head(1)),
                    limit: 0,
                },
                Step::Events(RevSpec::Exact(0), RevSpec::Future(0)),
                Step::Drain(0),
                Step::Drain(1),
                Step::OversizedTxn,
                Step::Op(OpSpec::Delete {
                    key: 0,
                    expected: Some(RevSpec::ModOf(0)),
                }),
            ],
        });
    }
}
