//! [`Store`]: open, read, write, watch, rebuild and verify.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, StorageBackend,
};
use skiff_core::clock::Clock;
use skiff_core::event::{Actor, Change, Event, Revision};
use skiff_core::object::{
    KindDescription, KindInfo, KindRegistry, KindResolver, Object, check_field_selector, info,
};
use skiff_core::selector::{FieldSelector, Selector};
use tokio::sync::{mpsc, oneshot};

use crate::codec::{self, Stored, StoredValue};
use crate::error::{ReadError, StoreError, WriteError};
use crate::key::kind_of_key;
use crate::request::{Op, Txn, TxnResponse};
use crate::tables::{
    self, BY_NAMESPACE, BY_OWNER, EVENTS, KEY_REVISIONS, META, OBJECTS, PODS_BY_NODE,
    ProjectionTables,
};
use crate::watch::{WATCH_BUFFER_EVENTS, Watch, WatchHub, WatchOptions};
use crate::writer::{QUEUE_REQUESTS_MAX, Request, Writer};

/// Where a store keeps its bytes.
pub enum Backing {
    /// A redb file `skiff.redb` in this directory (created atomically if absent).
    Dir(PathBuf),
    /// The crash-faithful simulated disk ([`crate::disk::SimDisk`]), created crash-atomically.
    Sim(crate::disk::SimDisk),
    /// Any other redb backend.
    Backend(Box<dyn StorageBackend>),
    /// In memory, gone when dropped (tests, fuzzing). Its commits skip redb's quick-repair
    /// record (the allocator state saved with every commit so that reopening after a crash
    /// needs no repair walk): a memory database is never reopened.
    Memory,
}

/// Lets a boxed backend be handed to redb, which takes backends by value.
#[derive(Debug)]
struct BoxedBackend(Box<dyn StorageBackend>);

impl StorageBackend for BoxedBackend {
    fn len(&self) -> std::io::Result<u64> {
        self.0.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.0.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.0.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.0.write(offset, data)
    }
    fn close(&self) -> std::io::Result<()> {
        self.0.close()
    }
}

/// The name of the database file inside a data directory.
pub const DB_FILE: &str = "skiff.redb";

/// A current object or raw value with its revisions, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its key.
    pub key: String,
    /// The row.
    pub stored: Stored,
}

/// Options of [`Store::list`].
///
/// # Selectors
///
/// `label_selector` and `field_selector` keep only the objects that satisfy both (upstream
/// `labelSelector`/`fieldSelector`); `None` selects everything. Field selectors may name only
/// the fields the listed kind supports ([`skiff_core::object::kind_fields`], decided by the
/// kind whose registry prefix `prefix` lies under) plus `metadata.name` and
/// `metadata.namespace`; a prefix spanning several kinds supports only those two. Anything
/// else fails with [`ReadError::InvalidSelector`] before any row is read. Raw values (outside
/// `/registry/`) match only selectors that select everything.
///
/// # Limits and continuation with selectors
///
/// `limit` counts *matching* entries: the scan goes on past non-matching keys until it has
/// `limit` matches (upstream etcd3 store does the same, fetching more chunks until the limit is
/// met). `continue_after` is set exactly when another matching entry follows at the page's
/// revision, so the last page is never empty; finding that out may scan to the next match. A
/// continuation must pass back the same selectors and the page's `revision`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Read at this revision (≥ the compacted revision); `None` for the head.
    pub revision: Option<Revision>,
    /// At most this many entries (0 = no limit).
    pub limit: usize,
    /// Start strictly after this key (from a previous page's `continue_after`).
    pub continue_after: Option<String>,
    /// Only objects whose labels match.
    pub label_selector: Option<Selector>,
    /// Only objects whose fields match.
    pub field_selector: Option<FieldSelector>,
    /// Keys and revisions only (etcd's `--keys-only`): every entry's `stored` carries its
    /// revisions and version but an empty value, `StoredValue::Raw(vec![])`, whatever the key
    /// holds. Without selectors the values are not decoded at all (each row's checksum is still
    /// checked); selectors still decode the values they need to test.
    pub keys_only: bool,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// The revision the page was read at; pass it back with `continue_after` for the next page.
    pub revision: Revision,
    /// The entries, in key order.
    pub entries: Vec<Entry>,
    /// Set when more (matching) entries follow: the last key of this page.
    pub continue_after: Option<String>,
}

/// Options of [`Store::open_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// When the last [`TAIL_SCAN_EVENTS`] records hold one that is missing or does not decode,
    /// delete every event from the first bad one to the head and rebuild the projection from
    /// what remains (in one transaction), instead of failing with [`StoreError::Corrupt`].
    /// Acknowledged writes after the bad record are lost: this is the operator's choice.
    pub truncate_corrupt_tail: bool,
    /// Live events each watcher's queue holds before a watcher that fell further behind is
    /// cut off with [`crate::watch::WatchError::Overflowed`]; `None` for
    /// [`WATCH_BUFFER_EVENTS`]. A short run (the `store_ops` fuzz target) can ask for a queue
    /// just larger than everything it will write, so that no watcher is ever cut off.
    pub watch_buffer_events: Option<NonZeroUsize>,
}

/// Events checked on open, counting back from the head. A torn or corrupt write lands at the
/// tail; older damage is found by [`Store::verify_log`], which reads the whole log. 1,024
/// decodes cost about a millisecond.
pub const TAIL_SCAN_EVENTS: u64 = 1024;
const _: () = assert!(TAIL_SCAN_EVENTS > 0);

/// Status of a store (what `etcdctl endpoint status` and `snapshot status` show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The head revision.
    pub revision: Revision,
    /// The compacted revision.
    pub compacted: Revision,
    /// Events in the log.
    pub events: u64,
    /// Keys in the projection.
    pub keys: u64,
    /// Hash of the projection ([`Store::state_hash`]).
    pub hash: u64,
}

/// The event-sourced store: one append-only log and its projections in redb.
///
/// # Guarantees
///
/// - Revisions are dense, start at 1 and are never reused; the projection's revision is always
///   the log's head (both change in one redb transaction).
/// - A write is acknowledged only after the fsync of the batch that contains it.
/// - A rejected write changes nothing; a [`WriteError::Fatal`] leaves the outcome unknown and
///   stops the store (reopen to learn what the log holds).
/// - Watches see every event after their start, in order, without gaps or duplicates, or end
///   with an explicit error.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Arc<Database>,
    pub(crate) requests: mpsc::Sender<Request>,
    pub(crate) hub: WatchHub,
    /// The writer's clock: watch bookmarks and the compactor read time through it.
    pub(crate) clock: Arc<dyn Clock>,
    /// The kinds this store's objects may be of: the built-ins and the registered custom kinds.
    pub(crate) kinds: KindRegistry,
    /// A replicated store's Raft member (`None` for a single-node store).
    pub(crate) replica: Option<Arc<crate::raft::Replica>>,
}

fn open_database(backing: Backing) -> Result<Database, StoreError> {
    let builder = Database::builder();
    let created = |e: crate::disk::CreateDatabaseError| {
        let cause = std::error::Error::source(&e)
            .map(ToString::to_string)
            .unwrap_or_default();
        StoreError::Database(format!("{e}: {cause}"))
    };
    Ok(match backing {
        Backing::Dir(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| StoreError::Database(format!("{}: {e}", dir.display())))?;
            crate::disk::create_database_atomically(&dir.join(DB_FILE), &builder)
                .map_err(created)?
        }
        Backing::Sim(disk) => disk.create_database_atomically(&builder).map_err(created)?,
        Backing::Backend(backend) => builder.create_with_backend(BoxedBackend(backend))?,
        Backing::Memory => builder.create_with_backend(redb::backends::InMemoryBackend::new())?,
    })
}

/// Where a store keeps the definition of each custom kind it was opened with
/// ([`Store::open_with_kinds`]): `<prefix><plural>.<group>` (upstream's CRD name), the value
/// upstream's `CustomResourceDefinition` (`apiextensions.k8s.io/v1`) as JSON.
///
/// Why in the log, and why here: the definitions must travel with the data — into snapshots
/// (which copy the log and its projection), to Raft members (which replicate the log), and to
/// any tool that opens the data dir later without the embedder's code. A key written through
/// the log gets all three for free, and `etcdctl get --prefix /skiff/` shows it. Upstream
/// keeps CRDs under `/registry/apiextensions.k8s.io/customresourcedefinitions/`, but in skiff
/// `/registry/` holds only API objects (every reader of it decodes objects, and raw writes
/// there are refused), and a CRD is not an object skiff serves: a typed kind's code is the
/// embedder's, so a definition read back gives a dynamic kind — enough to decode, list,
/// print and restore its objects, not to validate them.
///
/// A definition is written at open when missing or different, as one event of the actor
/// [`KIND_DEFINITIONS_ACTOR`]; an open with the built-in kinds only writes nothing.
pub const KIND_DEFINITIONS_PREFIX: &str = "/skiff/customresourcedefinitions/";

/// The actor of the events that record kind definitions.
pub const KIND_DEFINITIONS_ACTOR: &str = "system:skiff:kind-definitions";

/// The key of a custom kind's definition (`<prefix><plural>.<group>`).
pub fn kind_definition_key(info: &KindInfo) -> String {
    format!("{KIND_DEFINITIONS_PREFIX}{}.{}", info.plural, info.group)
}

/// A custom kind's definition as stored: upstream's `CustomResourceDefinition` JSON (the
/// fields skiff reads back, in upstream's shape: `spec.group`, `spec.names`, `spec.scope`,
/// `spec.versions[0]` with its `subresources.status`).
pub fn kind_definition(kind: &KindDescription) -> Vec<u8> {
    let mut version = serde_json::json!({
        "name": kind.version,
        "served": true,
        "storage": true,
    });
    if kind.status_subresource {
        version["subresources"] = serde_json::json!({ "status": {} });
    }
    let definition = serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{}.{}", kind.plural, kind.group) },
        "spec": {
            "group": kind.group,
            "names": {
                "kind": kind.kind,
                "plural": kind.plural,
                "singular": kind.kind.to_ascii_lowercase(),
                "shortNames": kind.short_names,
            },
            "scope": if kind.namespaced { "Namespaced" } else { "Cluster" },
            "versions": [version],
        },
    });
    definition.to_string().into_bytes()
}

/// Reads a stored definition back; `None` when `bytes` is not one.
pub fn parse_kind_definition(bytes: &[u8]) -> Option<KindDescription> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let spec = value.get("spec")?;
    let names = spec.get("names")?;
    let text = |v: &serde_json::Value, field: &str| v.get(field)?.as_str().map(str::to_owned);
    let version = spec.get("versions")?.get(0)?;
    Some(KindDescription {
        group: text(spec, "group")?,
        version: text(version, "name")?,
        kind: text(names, "kind")?,
        plural: text(names, "plural")?,
        short_names: names
            .get("shortNames")
            .and_then(serde_json::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        namespaced: text(spec, "scope")? == "Namespaced",
        status_subresource: version
            .get("subresources")
            .and_then(|s| s.get("status"))
            .is_some(),
    })
}

/// The kind definitions the data holds, in key order (a value that is not one is skipped).
pub(crate) fn stored_kind_definitions(db: &Database) -> Result<Vec<KindDescription>, StoreError> {
    let read = db.begin_read()?;
    let objects = read.open_table(OBJECTS)?;
    let mut out = Vec::new();
    for row in objects.range(KIND_DEFINITIONS_PREFIX..)? {
        let (key, bytes) = row?;
        let key = key.value();
        if !key.starts_with(KIND_DEFINITIONS_PREFIX) {
            break;
        }
        let stored = tables::decode_stored_row(key, bytes.value(), &KindRegistry::builtin())?;
        if let StoredValue::Raw(raw) = stored.value
            && let Some(definition) = parse_kind_definition(&raw)
        {
            out.push(definition);
        }
    }
    Ok(out)
}

/// `kinds` plus every kind the data defines that `kinds` does not serve (by `apiVersion` and
/// kind); a definition that cannot be registered (its names clash) is skipped.
pub(crate) fn stored_kinds(
    db: &Database,
    kinds: &KindRegistry,
) -> Result<KindRegistry, StoreError> {
    let mut all = kinds.clone();
    for definition in stored_kind_definitions(db)? {
        let api_version = format!("{}/{}", definition.group, definition.version);
        if all.custom_kind(&api_version, &definition.kind).is_some() {
            continue;
        }
        let _ = all.register(definition.to_dynamic().define());
    }
    Ok(all)
}

/// Writes the definition of every custom kind of `kinds` that the data lacks or holds
/// differently, in one event each, before the writer starts.
fn persist_kind_definitions(
    db: &Database,
    clock: &dyn Clock,
    kinds: &KindRegistry,
) -> Result<(), StoreError> {
    let mut ops = Vec::new();
    {
        let read = db.begin_read()?;
        let objects = read.open_table(OBJECTS)?;
        for kind in kinds.custom_kinds() {
            let key = kind_definition_key(&kind.info);
            let value = kind_definition(&KindDescription::from(kind));
            let current = match objects.get(key.as_str())? {
                Some(bytes) => Some(
                    tables::decode_stored_row(&key, bytes.value(), &KindRegistry::builtin())?.value,
                ),
                None => None,
            };
            if !matches!(&current, Some(StoredValue::Raw(raw)) if *raw == value) {
                ops.push(Op::PutRaw { key, value });
            }
        }
    }
    if ops.is_empty() {
        return Ok(());
    }
    let actor = Actor::new(KIND_DEFINITIONS_ACTOR);
    let mut txn = Txn {
        compare: Vec::new(),
        success: ops,
        failure: Vec::new(),
    };
    let (mut outcomes, mut events) = (Vec::new(), Vec::new());
    crate::writer::apply_batch(
        db,
        clock.now_micro_time(),
        &mut [(&actor, &mut txn)],
        &mut outcomes,
        &mut events,
        &|_| Ok(()),
        kinds,
    )?;
    match outcomes.pop() {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(StoreError::Database(format!(
            "recording the custom kinds' definitions: {e}"
        ))),
        None => Err(StoreError::Database(
            "recording the custom kinds' definitions: no outcome".to_owned(),
        )),
    }
}

fn init_tables(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    drop(txn.open_table(EVENTS)?);
    drop(ProjectionTables::open(txn, &KindRegistry::builtin())?);
    Ok(())
}

impl Store {
    /// Opens (or creates) a store and starts its writer task. Must be called inside a tokio
    /// (or madsim) runtime.
    ///
    /// Opening checks the tail of the log (see [`Store::open_with`]) and fails with
    /// [`StoreError::Corrupt`] naming the first bad revision.
    pub fn open(backing: Backing, clock: Arc<dyn Clock>) -> Result<Store, StoreError> {
        Self::open_with(backing, clock, OpenOptions::default())
    }

    /// Opens (or creates) a store with options and starts its writer task. Must be called
    /// inside a tokio (or madsim) runtime.
    ///
    /// Opening checks the last [`TAIL_SCAN_EVENTS`] revisions up to the projection's head:
    /// each must be present, decode, carry its own revision, and not lie beyond the head.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] with `what: "event"` and the lowest bad revision found; with
    /// [`OpenOptions::truncate_corrupt_tail`], the log is cut there instead, unless that would
    /// cut at or below the compacted revision (the history to rebuild from is gone), or older
    /// damage shows once the tail is cut (reported the same way).
    pub fn open_with(
        backing: Backing,
        clock: Arc<dyn Clock>,
        options: OpenOptions,
    ) -> Result<Store, StoreError> {
        Self::open_with_kinds(backing, clock, options, KindRegistry::builtin())
    }

    /// Opens (or creates) a store whose objects may be of the custom kinds of `kinds` too, as
    /// [`Store::open_with`] does. Register every kind the log holds objects of before opening:
    /// a stored object of a kind `kinds` does not know fails the tail check on open (or the read
    /// that meets it) with [`StoreError::Corrupt`] naming the kind, never a panic.
    ///
    /// # Errors
    ///
    /// As [`Store::open_with`].
    ///
    /// The definition of each custom kind of `kinds` is kept in the store (see
    /// [`KIND_DEFINITIONS_PREFIX`]) so that tools reading the data dir without the embedder's
    /// registry ([`Store::open_with_stored_kinds`]) can decode its objects.
    pub fn open_with_kinds(
        backing: Backing,
        clock: Arc<dyn Clock>,
        options: OpenOptions,
        kinds: KindRegistry,
    ) -> Result<Store, StoreError> {
        Self::open_inner(backing, clock, options, Some(kinds))
    }

    /// Opens (or creates) a store serving the built-in kinds and every custom kind whose
    /// definition the data holds ([`KIND_DEFINITIONS_PREFIX`]), as [`Store::open_with`]
    /// does: for tools that read a data dir an embedder wrote without the embedder's kind
    /// registry (offline `skiff etcdctl`, snapshot restore). The kinds are rebuilt as
    /// dynamic kinds (objects keep every field; the embedder's validation hooks are not
    /// there), and each open defines them anew (a few hundred bytes for the process's life).
    ///
    /// # Errors
    ///
    /// As [`Store::open_with`]; an object of a kind with no stored definition (a data dir
    /// written before definitions were kept) still fails as there.
    pub fn open_with_stored_kinds(
        backing: Backing,
        clock: Arc<dyn Clock>,
        options: OpenOptions,
    ) -> Result<Store, StoreError> {
        Self::open_inner(backing, clock, options, None)
    }

    /// Opens with `kinds`, or (`None`) with the kinds the data defines.
    fn open_inner(
        backing: Backing,
        clock: Arc<dyn Clock>,
        options: OpenOptions,
        kinds: Option<KindRegistry>,
    ) -> Result<Store, StoreError> {
        // Every commit keeps redb's allocator state (quick-repair); one commit without it
        // would make the next crash cost a full repair walk (seconds per million events). A
        // memory database is never reopened, so it skips the record.
        let quick_repair = !matches!(backing, Backing::Memory);
        let db = open_database(backing)?;
        {
            let mut txn = db.begin_write()?;
            txn.set_quick_repair(quick_repair);
            init_tables(&txn)?;
            txn.commit()?;
        }
        let kinds = match kinds {
            Some(kinds) => kinds,
            None => stored_kinds(&db, &KindRegistry::builtin())?,
        };
        if options.truncate_corrupt_tail
            && let Some(bad) = first_bad_in_tail(&db, &kinds)?
        {
            truncate_log(&db, &bad, &kinds)?;
        }
        check_tail(&db, &kinds)?;
        persist_kind_definitions(&db, &*clock, &kinds)?;
        let db = Arc::new(db);
        let hub = WatchHub::with_capacity(
            options
                .watch_buffer_events
                .map_or(WATCH_BUFFER_EVENTS, NonZeroUsize::get),
        );
        let (requests, rx) = mpsc::channel(QUEUE_REQUESTS_MAX);
        let writer = Writer {
            db: db.clone(),
            clock: clock.clone(),
            hub: hub.clone(),
            kinds: kinds.clone(),
            replica: None,
            quick_repair,
        };
        tokio::spawn(writer.run(rx));
        Ok(Store {
            db,
            requests,
            hub,
            clock,
            kinds,
            replica: None,
        })
    }

    /// The kinds this store's objects may be of.
    pub fn kinds(&self) -> &KindRegistry {
        &self.kinds
    }

    /// Opens (or creates) one member of a replicated store (issue #11) and starts its Raft
    /// node, serving peers on `raft_listener`. Writes go through Raft: on the leader they are
    /// acknowledged once committed by a quorum and applied; on other members they are
    /// forwarded to the leader and acknowledged once applied here too. Reads and watches serve
    /// this member's applied state (call [`Store::read_barrier`] first for a linearizable read).
    ///
    /// A fresh member initializes the cluster with `member.members` (every member of a new
    /// cluster does the same); a member with Raft state resumes from it.
    pub async fn open_member(
        backing: Backing,
        clock: Arc<dyn Clock>,
        member: &crate::raft::MemberConfig,
        raft_listener: tokio::net::TcpListener,
    ) -> Result<(Store, Arc<crate::raft::Replica>), StoreError> {
        Self::open_member_with_kinds(
            backing,
            clock,
            member,
            raft_listener,
            &KindRegistry::builtin(),
        )
        .await
    }

    /// [`Store::open_member`] for a store that also holds custom kinds: `kinds` (and the
    /// kinds the data already defines) decode this member's objects, the batches it applies
    /// and the batches it is forwarded. Every member of one cluster must be opened with the
    /// same kinds, or a member that cannot decode a committed batch stops. Unlike
    /// [`Store::open_with_kinds`], a member does not write the kinds' definitions itself: a
    /// local write would make it diverge from the others.
    ///
    /// # Errors
    ///
    /// As [`Store::open_member`].
    pub async fn open_member_with_kinds(
        backing: Backing,
        clock: Arc<dyn Clock>,
        member: &crate::raft::MemberConfig,
        raft_listener: tokio::net::TcpListener,
        kinds: &KindRegistry,
    ) -> Result<(Store, Arc<crate::raft::Replica>), StoreError> {
        let db = open_database(backing)?;
        {
            let mut txn = db.begin_write()?;
            txn.set_quick_repair(true);
            init_tables(&txn)?;
            txn.commit()?;
        }
        // The kinds given and those the data defines: the member's reads, its writer, its
        // state machine and the batches it is forwarded all decode with them.
        let kinds = stored_kinds(&db, kinds)?;
        check_tail(&db, &kinds)?;
        let db = Arc::new(db);
        let hub = WatchHub::new();
        let replica = Arc::new(
            crate::raft::start(
                member,
                db.clone(),
                hub.clone(),
                raft_listener,
                clock.clone(),
                kinds.clone(),
            )
            .await?,
        );
        let (requests, rx) = mpsc::channel(QUEUE_REQUESTS_MAX);
        let writer = Writer {
            db: db.clone(),
            clock: clock.clone(),
            hub: hub.clone(),
            kinds: kinds.clone(),
            replica: Some(replica.clone()),
            quick_repair: true,
        };
        tokio::spawn(writer.run(rx));
        Ok((
            Store {
                db,
                requests,
                hub,
                clock,
                kinds,
                replica: Some(replica.clone()),
            },
            replica,
        ))
    }

    /// Makes the reads that follow linearizable (etcd's default read consistency): on a
    /// member of a replicated store, waits until this member has applied everything committed
    /// before the call (ReadIndex, [`crate::raft::Replica::read_barrier`]); on a single-node
    /// store it returns at once (every acknowledged write is already applied). Serializable
    /// reads skip it and may be stale on a follower.
    ///
    /// # Errors
    ///
    /// As [`crate::raft::Replica::read_barrier`].
    pub async fn read_barrier(&self) -> Result<(), StoreError> {
        match &self.replica {
            Some(replica) => replica.read_barrier().await,
            None => Ok(()),
        }
    }

    /// Submits a transaction and waits for its commit.
    pub async fn txn(&self, actor: &Actor, txn: Txn) -> Result<TxnResponse, WriteError> {
        let (reply, answer) = oneshot::channel();
        let request = Request::Write {
            actor: actor.clone(),
            txn,
            reply,
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }

    /// Commits everything queued so far, stops the writer and releases its hold on the
    /// database. Reads through this and other clones keep working until they are dropped; the
    /// database file is closed when the last clone is gone. Later writes fail with
    /// [`StoreError::Stopped`].
    pub async fn shutdown(&self) {
        let (done, stopped) = oneshot::channel();
        if self.requests.send(Request::Shutdown(done)).await.is_ok() {
            let _ = stopped.await;
        }
    }

    /// Runs one operation.
    pub async fn op(&self, actor: &Actor, op: Op) -> Result<TxnResponse, WriteError> {
        self.txn(actor, Txn::single(op)).await
    }

    /// Creates an object; returns it as stored (with its `resourceVersion`).
    pub async fn create(&self, actor: &Actor, object: Object) -> Result<Object, WriteError> {
        let response = self.op(actor, Op::Create(object)).await?;
        Ok(stored_object(response))
    }

    /// Replaces an object, optionally only if its `resourceVersion` is `expected`.
    pub async fn update(
        &self,
        actor: &Actor,
        object: Object,
        expected: Option<Revision>,
    ) -> Result<Object, WriteError> {
        let response = self.op(actor, Op::Update { object, expected }).await?;
        Ok(stored_object(response))
    }

    /// Deletes a key, optionally only if its modification revision is `expected`; returns the
    /// removed value.
    ///
    /// # Panics
    ///
    /// If the writer answered a delete without the removed value (a bug of ours).
    pub async fn delete(
        &self,
        actor: &Actor,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<StoredValue, WriteError> {
        let response = self
            .op(
                actor,
                Op::Delete {
                    key: key.to_owned(),
                    expected,
                },
            )
            .await?;
        let applied = response
            .applied
            .into_iter()
            .next()
            .expect("one op, one result");
        Ok(applied.value.expect("a delete returns the removed value"))
    }

    /// Compacts history below `below`.
    pub async fn compact(&self, actor: &Actor, below: Revision) -> Result<Revision, WriteError> {
        Ok(self.op(actor, Op::Compact { below }).await?.revision)
    }

    /// The current value of `key` and the head revision it was read at.
    pub fn get(&self, key: &str) -> Result<(Revision, Entry), ReadError> {
        let read = self.db.begin_read()?;
        let head = read_meta(&read, tables::META_HEAD)?;
        let objects = read.open_table(OBJECTS)?;
        let Some(bytes) = objects.get(key)? else {
            return Err(ReadError::NotFound {
                key: key.to_owned(),
            });
        };
        let stored = tables::decode_stored_row(key, bytes.value(), &self.kinds)?;
        Ok((
            head,
            Entry {
                key: key.to_owned(),
                stored,
            },
        ))
    }

    /// The value `key` had at `revision` (≥ the compacted revision, ≤ the head).
    pub fn get_at(&self, key: &str, revision: Revision) -> Result<Entry, ReadError> {
        let read = self.db.begin_read()?;
        check_readable(&read, revision)?;
        let history = read.open_table(KEY_REVISIONS)?;
        let events = read.open_table(EVENTS)?;
        value_at(&history, &events, key, revision, &self.kinds)?.ok_or_else(|| {
            ReadError::NotFound {
                key: key.to_owned(),
            }
        })
    }

    /// Lists keys starting with `prefix`, in key order, consistently at one revision, keeping
    /// those that match the options' selectors (see [`ListOptions`]).
    ///
    /// A pods list whose field selector pins `spec.nodeName` to a node reads the
    /// `pods_by_node` index instead of every pod (at the head; past revisions scan history).
    pub fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListPage, ReadError> {
        let filter = Filter::new(
            prefix,
            options.label_selector.as_ref(),
            options.field_selector.as_ref(),
        )?;
        let read = self.db.begin_read()?;
        let head = read_meta(&read, tables::META_HEAD)?;
        let revision = options.revision.unwrap_or(head);
        check_readable(&read, revision)?;
        let start = options
            .continue_after
            .clone()
            .map_or_else(|| prefix.to_owned(), |k| k + "\0");
        if !start.starts_with(prefix) {
            return Err(ReadError::InvalidContinue);
        }
        let limit = if options.limit == 0 {
            usize::MAX
        } else {
            options.limit
        };
        let mut entries = Vec::new();
        let mut more = false;
        let visit = |mut entry: Entry| {
            if entries.len() == limit {
                more = true;
                return false;
            }
            if options.keys_only {
                entry.stored.value = StoredValue::Raw(Vec::new());
            }
            entries.push(entry);
            true
        };
        if options.keys_only && revision == head && filter.selects_everything() {
            scan_keys_only(&read, prefix, &start, visit)?;
        } else {
            scan(
                &read,
                prefix,
                &start,
                revision,
                head,
                &filter,
                &self.kinds,
                visit,
            )?;
        }
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

    /// Keys of pods bound to `node` (the kubelet's and node controller's index).
    pub fn pods_on_node(&self, node: &str) -> Result<Vec<String>, ReadError> {
        self.index_keys(PODS_BY_NODE, node)
    }

    /// Keys of objects with an owner reference to `uid` (the garbage collector's index).
    pub fn owned_by(&self, uid: &str) -> Result<Vec<String>, ReadError> {
        self.index_keys(BY_OWNER, uid)
    }

    /// Keys of namespaced objects in `namespace` (namespace deletion).
    pub fn in_namespace(&self, namespace: &str) -> Result<Vec<String>, ReadError> {
        self.index_keys(BY_NAMESPACE, namespace)
    }

    fn index_keys(
        &self,
        table: redb::TableDefinition<(&str, &str), ()>,
        value: &str,
    ) -> Result<Vec<String>, ReadError> {
        let read = self.db.begin_read()?;
        let index = read.open_table(table)?;
        let mut keys = Vec::new();
        for row in index.range((value, "")..)? {
            let (k, _) = row?;
            let (v, key) = k.value();
            if v != value {
                break;
            }
            keys.push(key.to_owned());
        }
        Ok(keys)
    }

    /// Watches every event after `from` whose key starts with `prefix` (`""` for all events).
    pub fn watch(&self, prefix: &str, from: Revision) -> Result<Watch, ReadError> {
        self.watch_with(WatchOptions {
            prefix: prefix.to_owned(),
            from,
            ..WatchOptions::default()
        })
    }

    /// Watches with selectors and progress bookmarks (see [`WatchOptions`] and
    /// [`Watch::next_event`]).
    ///
    /// # Errors
    ///
    /// [`ReadError::InvalidSelector`] for a field the watched kind does not support,
    /// [`ReadError::Compacted`] / [`ReadError::FutureRevision`] for a start outside the log.
    pub fn watch_with(&self, options: WatchOptions) -> Result<Watch, ReadError> {
        Watch::start(
            self.db.clone(),
            self.kinds.clone(),
            &self.hub,
            self.clock.clone(),
            options,
        )
    }

    /// Events with revisions in `from..=to` that are still in the log (all of them at or above
    /// the compacted revision), in order.
    pub fn events(&self, from: Revision, to: Revision) -> Result<Vec<Event>, ReadError> {
        let read = self.db.begin_read()?;
        let events = read.open_table(EVENTS)?;
        let mut out = Vec::new();
        for row in events.range(from.0..=to.0)? {
            let (rev, bytes) = row?;
            out.push(decode_event_row(rev.value(), bytes.value(), &self.kinds)?);
        }
        Ok(out)
    }

    /// The head revision, compacted revision, sizes and hash.
    pub fn status(&self) -> Result<Status, ReadError> {
        let read = self.db.begin_read()?;
        Ok(Status {
            revision: read_meta(&read, tables::META_HEAD)?,
            compacted: read_meta(&read, tables::META_COMPACTED)?,
            events: read.open_table(EVENTS)?.len()?,
            keys: read.open_table(OBJECTS)?.len()?,
            hash: hash_projection(&read)?,
        })
    }

    /// A hash of the whole projection (keys, rows and indexes) at the head, like etcd's
    /// `HashKV`: equal stores have equal hashes; the simulator compares them across restarts.
    pub fn state_hash(&self) -> Result<u64, ReadError> {
        let read = self.db.begin_read()?;
        hash_projection(&read)
    }

    /// Rebuilds the projection from the log into a fresh in-memory database and returns its
    /// hash; [`Store::verify`] compares it with the live projection's.
    pub fn rebuild_hash(&self) -> Result<u64, StoreError> {
        let scratch =
            Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        let read = self.db.begin_read().map_err(StoreError::from)?;
        let events = read.open_table(EVENTS).map_err(StoreError::from)?;
        let compacted = read_meta(&read, tables::META_COMPACTED).map_err(fatal)?;
        let head = read_meta(&read, tables::META_HEAD).map_err(fatal)?;
        let txn = scratch.begin_write()?;
        {
            let mut t = ProjectionTables::open(&txn, &self.kinds)?;
            replay(&mut t, &events, compacted, head)?;
        }
        txn.commit()?;
        let scratch_read = scratch.begin_read()?;
        hash_projection(&scratch_read).map_err(fatal)
    }

    /// Reads the whole log and checks every record: retained events below the compacted
    /// revision decode, and from the compacted revision to the head every revision is present,
    /// decodes and carries its own revision, with nothing beyond the head. Open checks only the
    /// last [`TAIL_SCAN_EVENTS`]; this is the full scan (`etcdctl check datascale`'s cousin).
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] with `what: "event"` naming the lowest bad revision.
    pub fn verify_log(&self) -> Result<(), StoreError> {
        let read = self.db.begin_read()?;
        match first_bad_record(&read, None, &self.kinds)? {
            Some(bad) => Err(bad.into_error()),
            None => Ok(()),
        }
    }

    /// Proves the projection is what the log says: rebuilds it and compares hashes.
    pub fn verify(&self) -> Result<(), StoreError> {
        let live = self
            .state_hash()
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let rebuilt = self.rebuild_hash()?;
        if live == rebuilt {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                what: "projection",
                revision: 0,
                reason: format!("live hash {live:#018x} differs from rebuilt {rebuilt:#018x}"),
            })
        }
    }
}

fn stored_object(response: TxnResponse) -> Object {
    match response.applied.into_iter().next().and_then(|a| a.value) {
        Some(StoredValue::Object(object)) => object,
        other => unreachable!("create/update returns the stored object, got {other:?}"),
    }
}

pub(crate) fn read_meta(read: &redb::ReadTransaction, key: &str) -> Result<Revision, ReadError> {
    let meta = read.open_table(META)?;
    Ok(Revision(meta.get(key)?.map_or(0, |v| v.value())))
}

pub(crate) fn check_readable(
    read: &redb::ReadTransaction,
    revision: Revision,
) -> Result<(), ReadError> {
    let head = read_meta(read, tables::META_HEAD)?;
    let compacted = read_meta(read, tables::META_COMPACTED)?;
    if revision < compacted {
        return Err(ReadError::Compacted {
            requested: revision,
            compacted_revision: compacted,
        });
    }
    if revision > head {
        return Err(ReadError::FutureRevision {
            requested: revision,
            head,
        });
    }
    Ok(())
}

pub(crate) fn decode_event_row(
    revision: u64,
    bytes: &[u8],
    kinds: &KindRegistry,
) -> Result<Event, ReadError> {
    let event = codec::decode_event_in(bytes, kinds).map_err(|e| StoreError::Corrupt {
        what: "event",
        revision,
        reason: e.to_string(),
    })?;
    if event.revision.0 != revision {
        return Err(StoreError::Corrupt {
            what: "event",
            revision,
            reason: format!("record claims revision {}", event.revision),
        }
        .into());
    }
    Ok(event)
}

/// The entry of `key` as of `revision`, from its history and the log.
pub(crate) fn value_at(
    history: &impl ReadableTable<(&'static str, u64), ()>,
    events: &impl ReadableTable<u64, &'static [u8]>,
    key: &str,
    revision: Revision,
    kinds: &KindRegistry,
) -> Result<Option<Entry>, ReadError> {
    let Some(row) = history.range((key, 0)..=(key, revision.0))?.next_back() else {
        return Ok(None);
    };
    let rev = row?.0.value().1;
    let Some(bytes) = events.get(rev)? else {
        // Retained history always keeps the event a readable revision needs.
        return Err(StoreError::Corrupt {
            what: "event",
            revision: rev,
            reason: format!("history of {key} points at a missing event"),
        }
        .into());
    };
    let event = decode_event_row(rev, bytes.value(), kinds)?;
    let stored = match event.change {
        Change::Create(object) => Stored {
            create_revision: event.revision,
            mod_revision: event.revision,
            version: 1,
            value: StoredValue::Object(object),
        },
        Change::Update {
            object,
            create_revision,
            version,
        } => Stored {
            create_revision,
            mod_revision: event.revision,
            version,
            value: StoredValue::Object(object),
        },
        Change::PutRaw {
            value,
            create_revision,
            version,
            ..
        } => Stored {
            create_revision,
            mod_revision: event.revision,
            version,
            value: StoredValue::Raw(value),
        },
        Change::Delete(_) | Change::DeleteRaw { .. } | Change::Compact { .. } => return Ok(None),
    };
    Ok(Some(Entry {
        key: key.to_owned(),
        stored,
    }))
}

/// FNV-1a, 64-bit: a stable, dependency-free hash for comparing projections (not a
/// cryptographic digest).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn write_len(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }
}

pub(crate) fn hash_projection(read: &redb::ReadTransaction) -> Result<u64, ReadError> {
    let mut h = Fnv::new();
    for row in read.open_table(OBJECTS)?.iter()? {
        let (k, v) = row?;
        h.write_len(k.value().as_bytes());
        h.write_len(v.value());
    }
    for table in [PODS_BY_NODE, BY_OWNER, BY_NAMESPACE] {
        h.write(b"|");
        for row in read.open_table(table)?.iter()? {
            let (k, _) = row?;
            let (a, b) = k.value();
            h.write_len(a.as_bytes());
            h.write_len(b.as_bytes());
        }
    }
    h.write(b"|");
    for row in read.open_table(KEY_REVISIONS)?.iter()? {
        let (k, _) = row?;
        let (key, rev) = k.value();
        h.write_len(key.as_bytes());
        h.write(&rev.to_le_bytes());
    }
    h.write(b"|");
    for row in read.open_table(META)?.iter()? {
        let (k, v) = row?;
        h.write_len(k.value().as_bytes());
        h.write(&v.value().to_le_bytes());
    }
    Ok(h.0)
}

/// Checks, on open, the last [`TAIL_SCAN_EVENTS`] revisions of the log up to the projection's
/// head (see [`Store::open_with`]).
pub(crate) fn check_tail(db: &Database, kinds: &KindRegistry) -> Result<(), StoreError> {
    match first_bad_in_tail(db, kinds)? {
        Some(bad) => Err(bad.into_error()),
        None => Ok(()),
    }
}

/// A read error that can only be fatal here (the revision and key checks do not apply).
pub(crate) fn fatal(e: ReadError) -> StoreError {
    match e {
        ReadError::Fatal(f) => f,
        other => StoreError::Database(other.to_string()),
    }
}

/// Replays every event of `events` into empty projection tables, then records the compacted
/// revision (state of the log, not of any single retained event) and the head. The one
/// definition of "the projection the log implies": [`Store::rebuild_hash`] and the truncation
/// on open both use it, so `verify` after a truncation compares like with like.
pub(crate) fn replay(
    t: &mut ProjectionTables<'_>,
    events: &impl ReadableTable<u64, &'static [u8]>,
    compacted: Revision,
    head: Revision,
) -> Result<(), StoreError> {
    for row in events.iter()? {
        let (rev, bytes) = row?;
        let event = decode_event_row(rev.value(), bytes.value(), &t.kinds).map_err(fatal)?;
        tables::apply(t, &event)?;
    }
    if compacted > Revision::ZERO {
        t.meta.insert(tables::META_COMPACTED, compacted.0)?;
    }
    // Like the live table, which has no `head` row before the first event: an empty store
    // must verify too (found by store_crash.rs: a power loss before any write).
    if head > Revision::ZERO {
        t.meta.insert(tables::META_HEAD, head.0)?;
    } else {
        t.meta.remove(tables::META_HEAD)?;
    }
    Ok(())
}

/// A log record that is missing, does not decode, or should not be there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadRecord {
    pub revision: u64,
    pub reason: String,
}

impl BadRecord {
    pub(crate) fn into_error(self) -> StoreError {
        StoreError::Corrupt {
            what: "event",
            revision: self.revision,
            reason: self.reason,
        }
    }
}

/// Why the record stored under `revision` is bad, if it is.
fn record_problem(revision: u64, bytes: &[u8], head: u64, kinds: &KindRegistry) -> Option<String> {
    match codec::decode_event_in(bytes, kinds) {
        Err(e) => Some(e.to_string()),
        Ok(event) if event.revision.0 != revision => {
            Some(format!("record claims revision {}", event.revision))
        }
        Ok(_) if revision > head => Some(format!("beyond the projection head {head}")),
        Ok(_) => None,
    }
}

/// The lowest bad record: within the last `window` revisions up to the head (or the last
/// event, if that is higher), or — with no window — in the whole log, retained history below
/// the compacted revision included. From the compacted revision (or 1) up, the log is dense.
pub(crate) fn first_bad_record(
    read: &redb::ReadTransaction,
    window: Option<u64>,
    kinds: &KindRegistry,
) -> Result<Option<BadRecord>, StoreError> {
    let events = read.open_table(EVENTS)?;
    let head = read_meta(read, tables::META_HEAD).map_err(fatal)?.0;
    let compacted = read_meta(read, tables::META_COMPACTED).map_err(fatal)?.0;
    let floor = compacted.max(1);
    let top = head.max(events.last()?.map_or(0, |(k, _)| k.value()));
    let from = if let Some(window) = window {
        assert!(window > 0, "empty tail window");
        top.saturating_sub(window - 1).max(floor)
    } else {
        for row in events.range(..floor)? {
            let (rev, bytes) = row?;
            if let Some(reason) = record_problem(rev.value(), bytes.value(), head, kinds) {
                return Ok(Some(BadRecord {
                    revision: rev.value(),
                    reason,
                }));
            }
        }
        floor
    };
    let missing = |revision: u64| BadRecord {
        revision,
        reason: "missing from the log".into(),
    };
    let mut expected = from;
    for row in events.range(from..)? {
        let (rev, bytes) = row?;
        if rev.value() != expected {
            return Ok(Some(missing(expected)));
        }
        if let Some(reason) = record_problem(expected, bytes.value(), head, kinds) {
            return Ok(Some(BadRecord {
                revision: expected,
                reason,
            }));
        }
        expected += 1;
    }
    if expected <= head {
        return Ok(Some(missing(expected)));
    }
    Ok(None)
}

/// The lowest bad record among the last [`TAIL_SCAN_EVENTS`] revisions.
pub(crate) fn first_bad_in_tail(
    db: &Database,
    kinds: &KindRegistry,
) -> Result<Option<BadRecord>, StoreError> {
    let read = db.begin_read()?;
    first_bad_record(&read, Some(TAIL_SCAN_EVENTS), kinds)
}

/// Deletes the events from `bad.revision` up and rebuilds the projection from what remains, in
/// one durable transaction. Refuses to cut at or below the compacted revision: what compaction
/// retained rebuilds the state at the compacted revision, not before it.
fn truncate_log(db: &Database, bad: &BadRecord, kinds: &KindRegistry) -> Result<(), StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    txn.set_quick_repair(true);
    {
        let compacted = {
            let meta = txn.open_table(META)?;
            meta.get(tables::META_COMPACTED)?.map_or(0, |v| v.value())
        };
        if bad.revision <= compacted {
            return Err(StoreError::Corrupt {
                what: "event",
                revision: bad.revision,
                reason: format!(
                    "{}; cannot truncate at or below the compacted revision {compacted}",
                    bad.reason
                ),
            });
        }
        let head = Revision(bad.revision - 1);
        let mut events = txn.open_table(EVENTS)?;
        let doomed = events
            .range(bad.revision..)?
            .map(|row| row.map(|(rev, _)| rev.value()))
            .collect::<Result<Vec<u64>, _>>()?;
        for rev in &doomed {
            events.remove(*rev)?;
        }
        txn.delete_table(OBJECTS)?;
        txn.delete_table(KEY_REVISIONS)?;
        txn.delete_table(PODS_BY_NODE)?;
        txn.delete_table(BY_OWNER)?;
        txn.delete_table(BY_NAMESPACE)?;
        txn.delete_table(META)?;
        let mut t = ProjectionTables::open(&txn, kinds)?;
        replay(&mut t, &events, Revision(compacted), head)?;
        assert_eq!(t.head()?, head, "rebuilt head after truncation");
        tracing::warn!(
            from = bad.revision,
            removed = doomed.len(),
            reason = %bad.reason,
            "truncated a corrupt log tail and rebuilt the projection"
        );
    }
    txn.commit()?;
    Ok(())
}

/// Label and field selectors, checked against the kind a prefix names: what list and watch
/// keep.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    kind: Option<&'static KindInfo>,
    labels: Option<Selector>,
    fields: Option<FieldSelector>,
}

impl Filter {
    /// Checks the field selector's fields against the kind `prefix` lies under.
    pub(crate) fn new(
        prefix: &str,
        labels: Option<&Selector>,
        fields: Option<&FieldSelector>,
    ) -> Result<Self, ReadError> {
        let kind = kind_of_key(prefix);
        if let Some(fields) = fields {
            check_field_selector(kind, fields)?;
        }
        Ok(Self {
            kind,
            labels: labels.cloned(),
            fields: fields.cloned(),
        })
    }

    /// True when nothing is filtered out.
    pub(crate) fn selects_everything(&self) -> bool {
        self.labels.as_ref().is_none_or(Selector::is_empty)
            && self.fields.as_ref().is_none_or(FieldSelector::is_empty)
    }

    /// Whether an object passes both selectors.
    pub(crate) fn matches_object(&self, object: &Object) -> bool {
        self.labels
            .as_ref()
            .is_none_or(|s| s.matches(&object.metadata().labels))
            && self
                .fields
                .as_ref()
                .is_none_or(|f| object.matches_fields(f))
    }

    /// Whether a stored value passes: objects by their labels and fields; raw values only when
    /// nothing is filtered.
    pub(crate) fn matches(&self, value: &StoredValue) -> bool {
        match value {
            StoredValue::Object(object) => self.matches_object(object),
            StoredValue::Raw(_) => self.selects_everything(),
        }
    }

    /// Which events a watch with this filter can care about, for the hub's index: those of
    /// one object name when `metadata.name` is pinned, of one node's pods when a pod's
    /// `spec.nodeName` is, else all.
    pub(crate) fn interest(&self) -> crate::watch::Interest {
        if let Some(name) = self
            .fields
            .as_ref()
            .and_then(|f| f.requires_exact_match("metadata.name"))
        {
            return crate::watch::Interest::Name(name.to_owned());
        }
        match self.indexed_node() {
            Some(node) => crate::watch::Interest::Node(node.to_owned()),
            None => crate::watch::Interest::All,
        }
    }

    /// The node a pods filter pins `spec.nodeName` to, if it pins a non-empty one: the
    /// `pods_by_node` index holds exactly those pods (unscheduled pods are not indexed).
    fn indexed_node(&self) -> Option<&str> {
        if self.kind != Some(&info::POD) {
            return None;
        }
        self.fields
            .as_ref()?
            .requires_exact_match("spec.nodeName")
            .filter(|node| !node.is_empty())
    }
}

/// [`scan`] at the head with no filter, decoding only each row's revisions: the entries carry
/// an empty value (`StoredValue::Raw(vec![])`).
fn scan_keys_only(
    read: &redb::ReadTransaction,
    prefix: &str,
    start: &str,
    mut visit: impl FnMut(Entry) -> bool,
) -> Result<(), ReadError> {
    let objects = read.open_table(OBJECTS)?;
    for row in objects.range(start..)? {
        let (k, v) = row?;
        let key = k.value();
        if !key.starts_with(prefix) {
            break;
        }
        let header = tables::decode_stored_header_row(key, v.value())?;
        let entry = Entry {
            key: key.to_owned(),
            stored: Stored {
                create_revision: header.create_revision,
                mod_revision: header.mod_revision,
                version: header.version,
                value: StoredValue::Raw(Vec::new()),
            },
        };
        if !visit(entry) {
            break;
        }
    }
    Ok(())
}

/// Visits, in key order, the entries under `prefix` from `start` on that exist at `revision`
/// and pass `filter`, until `visit` returns false. One read transaction: consistent at one
/// revision.
#[allow(
    clippy::too_many_arguments,
    reason = "a read at one revision: each argument is one of its coordinates"
)]
pub(crate) fn scan(
    read: &redb::ReadTransaction,
    prefix: &str,
    start: &str,
    revision: Revision,
    head: Revision,
    filter: &Filter,
    kinds: &KindRegistry,
    mut visit: impl FnMut(Entry) -> bool,
) -> Result<(), ReadError> {
    assert!(
        start.starts_with(prefix),
        "scan start {start} outside {prefix}"
    );
    if revision == head {
        let objects = read.open_table(OBJECTS)?;
        if let Some(node) = filter.indexed_node() {
            let index = read.open_table(PODS_BY_NODE)?;
            for row in index.range((node, start)..)? {
                let (k, _) = row?;
                let (indexed, key) = k.value();
                if indexed != node || !key.starts_with(prefix) {
                    break;
                }
                let Some(bytes) = objects.get(key)? else {
                    return Err(StoreError::Corrupt {
                        what: "index",
                        revision: head.0,
                        reason: format!("pods_by_node names {key}, which is not in the projection"),
                    }
                    .into());
                };
                let stored = tables::decode_stored_row(key, bytes.value(), kinds)?;
                if filter.matches(&stored.value)
                    && !visit(Entry {
                        key: key.to_owned(),
                        stored,
                    })
                {
                    break;
                }
            }
            return Ok(());
        }
        for row in objects.range(start..)? {
            let (k, v) = row?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            let stored = tables::decode_stored_row(key, v.value(), kinds)?;
            if filter.matches(&stored.value)
                && !visit(Entry {
                    key: key.to_owned(),
                    stored,
                })
            {
                break;
            }
        }
    } else {
        let history = read.open_table(KEY_REVISIONS)?;
        let events = read.open_table(EVENTS)?;
        let mut last_key: Option<String> = None;
        for row in history.range((start, 0)..)? {
            let (k, _) = row?;
            let (key, _) = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            if last_key.as_deref() == Some(key) {
                continue;
            }
            last_key = Some(key.to_owned());
            if let Some(entry) = value_at(&history, &events, key, revision, kinds)?
                && filter.matches(&entry.stored.value)
                && !visit(entry)
            {
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::WatchError;
    use skiff_core::clock::ManualClock;
    use skiff_core::object::{DynamicKind, DynamicObject, ObjectMeta};

    fn crontab_kind() -> &'static skiff_core::object::CustomKind {
        let mut kind = DynamicKind::new("stable.example.com", "v1", "CronTab", "crontabs");
        kind.short_names = vec!["ct".into()];
        kind.status_subresource = true;
        kind.define()
    }

    /// `OpenOptions::watch_buffer_events`: each watcher's queue holds 3 events. A watcher
    /// that took the first before the 4th was published gets every event; one 4 events
    /// behind is cut off, naming the revision to resume from.
    #[tokio::test]
    async fn a_watcher_further_behind_than_the_chosen_queue_is_cut_off() {
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let options = OpenOptions {
            watch_buffer_events: NonZeroUsize::new(3),
            ..OpenOptions::default()
        };
        let store = Store::open_with(Backing::Memory, clock, options).unwrap();
        let actor = Actor::new("admin");
        let mut keeping_up = store.watch("/", Revision::ZERO).unwrap();
        let mut behind = store.watch("/", Revision::ZERO).unwrap();
        let put = |i: u64| Op::PutRaw {
            key: format!("/k{i}"),
            value: Vec::new(),
        };
        let mut delivered = Vec::new();
        for i in 1..=3 {
            store.op(&actor, put(i)).await.unwrap();
        }
        delivered.push(keeping_up.next().await.unwrap().revision.0);
        store.op(&actor, put(4)).await.unwrap();
        for _ in 2..=4 {
            delivered.push(keeping_up.next().await.unwrap().revision.0);
        }
        assert_eq!(delivered, [1, 2, 3, 4]);
        assert_eq!(
            behind.next().await.unwrap_err(),
            WatchError::Overflowed {
                resume_from: Revision::ZERO
            }
        );
    }

    #[test]
    fn a_kind_definition_reads_back_as_the_same_description() {
        let description = KindDescription::from(crontab_kind());
        let bytes = kind_definition(&description);
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"crontabs.stable.example.com"},"spec":{"group":"stable.example.com","names":{"kind":"CronTab","plural":"crontabs","shortNames":["ct"],"singular":"crontab"},"scope":"Namespaced","versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}}}]}}"#
        );
        assert_eq!(parse_kind_definition(&bytes), Some(description));
        assert_eq!(parse_kind_definition(b"{\"spec\":{}}"), None);
        assert_eq!(parse_kind_definition(b"not json"), None);
    }

    #[tokio::test]
    async fn a_store_records_its_kinds_once_and_reopens_without_them() {
        let disk = crate::disk::SimDisk::new();
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let kind = crontab_kind();
        let mut kinds = KindRegistry::builtin();
        kinds.register(kind).unwrap();
        let mut tab = DynamicObject::new(kind);
        tab.metadata = ObjectMeta {
            namespace: Some("default".into()),
            ..ObjectMeta::named("nightly")
        };
        let key = "/registry/stable.example.com/crontabs/default/nightly";
        let definition = "/skiff/customresourcedefinitions/crontabs.stable.example.com";
        {
            let store = Store::open_with_kinds(
                Backing::Sim(disk.clone()),
                clock.clone(),
                OpenOptions::default(),
                kinds.clone(),
            )
            .unwrap();
            assert_eq!(store.status().unwrap().revision, Revision(1));
            let (_, entry) = store.get(definition).unwrap();
            assert_eq!(entry.stored.mod_revision, Revision(1));
            store
                .txn(
                    &Actor::new("admin"),
                    Txn::single(Op::Create(Object::Custom(tab.clone()))),
                )
                .await
                .unwrap();
            store.shutdown().await;
        }
        // Opened again with the same kinds: nothing more is recorded.
        {
            let store = Store::open_with_kinds(
                Backing::Sim(disk.clone()),
                clock.clone(),
                OpenOptions::default(),
                kinds,
            )
            .unwrap();
            assert_eq!(store.status().unwrap().revision, Revision(2));
            store.shutdown().await;
        }
        // Without the registry: strict open refuses, the stored kinds decode.
        let Err(StoreError::Corrupt { reason, .. }) =
            Store::open(Backing::Sim(disk.clone()), clock.clone())
        else {
            panic!("the built-in kinds alone decoded a CronTab");
        };
        assert_eq!(
            reason,
            "payload does not decode: OtherString(\"no kind \\\"CronTab\\\" is registered in version \\\"stable.example.com/v1\\\"\")"
        );
        let store =
            Store::open_with_stored_kinds(Backing::Sim(disk), clock, OpenOptions::default())
                .unwrap();
        let (_, entry) = store.get(key).unwrap();
        let StoredValue::Object(Object::Custom(read)) = entry.stored.value else {
            panic!("not a custom object: {:?}", entry.stored.value);
        };
        assert_eq!(read.info().kind, "CronTab");
        assert_eq!(read.metadata.name.as_deref(), Some("nightly"));
        assert!(read.custom_kind().status_subresource);
        store.verify().unwrap();
        store.shutdown().await;
    }
}
