//! The redb tables and how one event changes them.
//!
//! - `events`: revision → event record (the log: the truth).
//! - `objects`: key → [`Stored`] record (the projection: current state).
//! - `key_revisions`: (key, revision) → () for every event that touched a key (history, for
//!   reads at past revisions and for compaction).
//! - `pods_by_node`, `by_owner`, `by_namespace`: (index value, key) → () (the indexes the
//!   controllers need).
//! - `meta`: `head` (last revision applied) and `compacted` (oldest readable revision).
//!
//! [`apply`] is the only function that changes the projection tables; the writer calls it for
//! every new event and [`crate::Store::rebuild`] calls it for every event of the log, so the two
//! cannot drift apart.

use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};
use skiff_core::event::{Change, Event, Revision};
use skiff_core::object::{KindRegistry, Object};

use crate::codec::{self, Stored, StoredHeader, StoredValue, StoredValueRef};
use crate::error::StoreError;
use crate::key::object_key;

/// The log.
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// The projection.
pub(crate) const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
/// Which revisions touched which key.
pub(crate) const KEY_REVISIONS: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("key_revisions");
/// Pods by `spec.nodeName`.
pub(crate) const PODS_BY_NODE: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("pods_by_node");
/// Objects by owner uid.
pub(crate) const BY_OWNER: TableDefinition<(&str, &str), ()> = TableDefinition::new("by_owner");
/// Namespaced objects by namespace.
pub(crate) const BY_NAMESPACE: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("by_namespace");
/// Counters.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// `meta` key of the last applied revision.
pub(crate) const META_HEAD: &str = "head";
/// `meta` key of the compacted revision.
pub(crate) const META_COMPACTED: &str = "compacted";

/// The projection tables, open in one write transaction.
pub(crate) struct ProjectionTables<'txn> {
    pub objects: Table<'txn, &'static str, &'static [u8]>,
    pub key_revisions: Table<'txn, (&'static str, u64), ()>,
    pub pods_by_node: Table<'txn, (&'static str, &'static str), ()>,
    pub by_owner: Table<'txn, (&'static str, &'static str), ()>,
    pub by_namespace: Table<'txn, (&'static str, &'static str), ()>,
    pub meta: Table<'txn, &'static str, u64>,
    /// The kinds stored objects may be of (the decode context).
    pub kinds: KindRegistry,
}

impl<'txn> ProjectionTables<'txn> {
    pub(crate) fn open(
        txn: &'txn WriteTransaction,
        kinds: &KindRegistry,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            objects: txn.open_table(OBJECTS)?,
            key_revisions: txn.open_table(KEY_REVISIONS)?,
            pods_by_node: txn.open_table(PODS_BY_NODE)?,
            by_owner: txn.open_table(BY_OWNER)?,
            by_namespace: txn.open_table(BY_NAMESPACE)?,
            meta: txn.open_table(META)?,
            kinds: kinds.clone(),
        })
    }

    /// The stored row of `key`, decoded.
    pub(crate) fn get(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        match self.objects.get(key)? {
            None => Ok(None),
            Some(bytes) => decode_stored_row(key, bytes.value(), &self.kinds).map(Some),
        }
    }

    /// Whether `key` has a row (nothing decoded).
    pub(crate) fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.objects.get(key)?.is_some())
    }

    /// The revisions and value kind of `key`'s row, without decoding the value.
    pub(crate) fn header(&self, key: &str) -> Result<Option<StoredHeader>, StoreError> {
        match self.objects.get(key)? {
            None => Ok(None),
            Some(bytes) => decode_stored_header_row(key, bytes.value()).map(Some),
        }
    }

    /// The last applied revision.
    pub(crate) fn head(&self) -> Result<Revision, StoreError> {
        Ok(Revision(self.meta.get(META_HEAD)?.map_or(0, |v| v.value())))
    }

    /// The compacted revision.
    pub(crate) fn compacted(&self) -> Result<Revision, StoreError> {
        Ok(Revision(
            self.meta.get(META_COMPACTED)?.map_or(0, |v| v.value()),
        ))
    }
}

/// Decodes a projection row, reporting corruption with the key.
pub(crate) fn decode_stored_row(
    key: &str,
    bytes: &[u8],
    kinds: &KindRegistry,
) -> Result<Stored, StoreError> {
    codec::decode_stored_in(bytes, kinds).map_err(|e| StoreError::Corrupt {
        what: "object",
        revision: 0,
        reason: format!("{key}: {e}"),
    })
}

/// Decodes a projection row's header, reporting corruption with the key.
pub(crate) fn decode_stored_header_row(
    key: &str,
    bytes: &[u8],
) -> Result<StoredHeader, StoreError> {
    codec::decode_stored_header(bytes).map_err(|e| StoreError::Corrupt {
        what: "object",
        revision: 0,
        reason: format!("{key}: {e}"),
    })
}

/// Index entries of one stored value: (node, key), (owner uid, key), (namespace, key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IndexEntries {
    node: Option<String>,
    owners: Vec<String>,
    namespace: Option<String>,
}

/// Index entries of a stored value (raw values have none).
pub(crate) fn index_entries(value: &StoredValue) -> IndexEntries {
    match value {
        StoredValue::Object(object) => object_index_entries(object),
        StoredValue::Raw(_) => IndexEntries::default(),
    }
}

/// Index entries of an object.
pub(crate) fn object_index_entries(object: &Object) -> IndexEntries {
    let node = match object {
        Object::Pod(pod) => pod.spec.node_name.clone().filter(|n| !n.is_empty()),
        _ => None,
    };
    let meta = object.metadata();
    let mut owners: Vec<String> = meta
        .owner_references
        .iter()
        .map(|r| r.uid.clone())
        .collect();
    owners.sort();
    owners.dedup();
    let namespace = meta.namespace.clone().filter(|_| object.info().namespaced);
    IndexEntries {
        node,
        owners,
        namespace,
    }
}

/// Brings the index rows of `key` from `old` to `new`, touching only the rows that differ
/// (an update usually leaves every index entry as it was).
fn update_indexes(
    t: &mut ProjectionTables<'_>,
    key: &str,
    old: &IndexEntries,
    new: &IndexEntries,
) -> Result<(), StoreError> {
    if old.node != new.node {
        if let Some(node) = &old.node {
            t.pods_by_node.remove((node.as_str(), key))?;
        }
        if let Some(node) = &new.node {
            t.pods_by_node.insert((node.as_str(), key), ())?;
        }
    }
    if old.owners != new.owners {
        for owner in old.owners.iter().filter(|o| !new.owners.contains(o)) {
            t.by_owner.remove((owner.as_str(), key))?;
        }
        for owner in new.owners.iter().filter(|o| !old.owners.contains(o)) {
            t.by_owner.insert((owner.as_str(), key), ())?;
        }
    }
    if old.namespace != new.namespace {
        if let Some(ns) = &old.namespace {
            t.by_namespace.remove((ns.as_str(), key))?;
        }
        if let Some(ns) = &new.namespace {
            t.by_namespace.insert((ns.as_str(), key), ())?;
        }
    }
    Ok(())
}

/// The index entries of `key`'s current row: given by the caller (`prior`, when it already
/// decoded the row), else read and decoded.
fn prior_entries(
    t: &ProjectionTables<'_>,
    key: &str,
    prior: Option<IndexEntries>,
) -> Result<IndexEntries, StoreError> {
    match prior {
        Some(entries) => Ok(entries),
        None => Ok(t
            .get(key)?
            .map(|old| index_entries(&old.value))
            .unwrap_or_default()),
    }
}

/// A row to write: its revisions and a borrowed value.
#[derive(Clone, Copy)]
struct Row<'a> {
    create_revision: Revision,
    mod_revision: Revision,
    version: u64,
    value: StoredValueRef<'a>,
}

fn put(
    t: &mut ProjectionTables<'_>,
    key: &str,
    row: Row<'_>,
    prior: Option<IndexEntries>,
    encoded: Option<&[u8]>,
) -> Result<(), StoreError> {
    let old = prior_entries(t, key, prior)?;
    let new = match row.value {
        StoredValueRef::Object(object) => object_index_entries(object),
        StoredValueRef::Raw(_) => IndexEntries::default(),
    };
    if let Some(bytes) = encoded {
        t.objects.insert(key, bytes)?;
    } else {
        let bytes = codec::encode_stored_parts(
            row.create_revision,
            row.mod_revision,
            row.version,
            row.value,
        );
        t.objects.insert(key, bytes.as_slice())?;
    }
    update_indexes(t, key, &old, &new)?;
    t.key_revisions.insert((key, row.mod_revision.0), ())?;
    Ok(())
}

fn remove(
    t: &mut ProjectionTables<'_>,
    key: &str,
    revision: Revision,
    prior: Option<IndexEntries>,
) -> Result<(), StoreError> {
    let old = prior_entries(t, key, prior)?;
    update_indexes(t, key, &old, &IndexEntries::default())?;
    t.objects.remove(key)?;
    t.key_revisions.insert((key, revision.0), ())?;
    Ok(())
}

/// The key an event changes, if it changes one.
pub(crate) fn event_key(change: &Change) -> Option<String> {
    match change {
        Change::Create(o) | Change::Update { object: o, .. } | Change::Delete(o) => {
            // Events are only built from objects whose key was checked; a failure here means a
            // corrupt or foreign log, reported by the caller.
            object_key(o).ok()
        }
        Change::PutRaw { key, .. } | Change::DeleteRaw { key } => Some(key.clone()),
        Change::Compact { .. } => None,
    }
}

/// Applies one event to the projection. The event must be the next one: its revision is
/// exactly head + 1 (pair assertion with the writer, which checked it before appending).
pub(crate) fn apply(t: &mut ProjectionTables<'_>, event: &Event) -> Result<(), StoreError> {
    apply_known(t, event, None)
}

/// [`apply`], given the index entries of the changed key's current row when the caller already
/// knows them (the writer decoded the row while planning; empty when the key is absent or
/// raw), which saves reading and decoding that row again.
fn apply_known(
    t: &mut ProjectionTables<'_>,
    event: &Event,
    prior: Option<IndexEntries>,
) -> Result<(), StoreError> {
    let head = t.head()?;
    assert!(
        event.revision > head,
        "event {} applied at or below head {head}",
        event.revision
    );
    apply_event(t, event, prior, None, None)?;
    t.meta.insert(META_HEAD, event.revision.0)?;
    Ok(())
}

/// The writer's [`apply`]: given the old row's index entries (`prior`) and, when it already
/// encoded it with the event record, the new projection row (`row`, exactly the bytes
/// [`codec::encode_stored`] gives), and the key the event changes (the writer derived it from
/// the object while planning; [`event_key`] of the change). It does not touch `meta`'s head:
/// the writer, which checked the revision (pair assertion with [`apply`]), writes the head once
/// per batch.
pub(crate) fn apply_change(
    t: &mut ProjectionTables<'_>,
    event: &Event,
    prior: IndexEntries,
    row: Option<&[u8]>,
    key: &str,
) -> Result<(), StoreError> {
    apply_event(t, event, Some(prior), row, Some(key))
}

fn apply_event(
    t: &mut ProjectionTables<'_>,
    event: &Event,
    prior: Option<IndexEntries>,
    encoded: Option<&[u8]>,
    known_key: Option<&str>,
) -> Result<(), StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        what: "event",
        revision: event.revision.0,
        reason,
    };
    // The key given, else derived from the object (a failure means a corrupt or foreign log).
    let object_key = |object: &Object| match known_key {
        Some(key) => Ok(std::borrow::Cow::Borrowed(key)),
        None => object_key(object)
            .map(std::borrow::Cow::Owned)
            .map_err(corrupt),
    };
    match &event.change {
        Change::Create(object) => {
            let key = object_key(object)?;
            let row = Row {
                create_revision: event.revision,
                mod_revision: event.revision,
                version: 1,
                value: StoredValueRef::Object(object),
            };
            put(t, &key, row, prior, encoded)?;
        }
        Change::Update {
            object,
            create_revision,
            version,
        } => {
            let key = object_key(object)?;
            let row = Row {
                create_revision: *create_revision,
                mod_revision: event.revision,
                version: *version,
                value: StoredValueRef::Object(object),
            };
            put(t, &key, row, prior, encoded)?;
        }
        Change::Delete(object) => {
            let key = object_key(object)?;
            remove(t, &key, event.revision, prior)?;
        }
        Change::PutRaw {
            key,
            value,
            create_revision,
            version,
        } => {
            let row = Row {
                create_revision: *create_revision,
                mod_revision: event.revision,
                version: *version,
                value: StoredValueRef::Raw(value),
            };
            put(t, key, row, prior, encoded)?;
        }
        Change::DeleteRaw { key } => remove(t, key, event.revision, prior)?,
        Change::Compact { below } => {
            t.meta.insert(META_COMPACTED, below.0)?;
        }
    }
    Ok(())
}

/// Removes history below `below`, keeping for every key its latest event at or below `below`
/// unless that event deleted the key (etcd keeps the same: the newest revision of each key at
/// the compaction point). What remains of the log still rebuilds the projection exactly.
pub(crate) fn compact_history(
    txn: &WriteTransaction,
    below: Revision,
    kinds: &KindRegistry,
) -> Result<u64, StoreError> {
    let mut key_revisions = txn.open_table(KEY_REVISIONS)?;
    let mut events = txn.open_table(EVENTS)?;
    let objects = txn.open_table(OBJECTS)?;
    let mut drop_rows: Vec<(String, u64)> = Vec::new();
    let mut keep: std::collections::BTreeSet<u64> = std::collections::BTreeSet::new();
    let mut current: Option<(String, Vec<u64>)> = None;
    let finish = |group: Option<(String, Vec<u64>)>,
                  drop_rows: &mut Vec<(String, u64)>,
                  keep: &mut std::collections::BTreeSet<u64>|
     -> Result<(), StoreError> {
        let Some((key, revs)) = group else {
            return Ok(());
        };
        let old: Vec<u64> = revs.iter().copied().filter(|r| *r <= below.0).collect();
        let Some(&last_old) = old.last() else {
            return Ok(());
        };
        // Is the key alive at `below`? Alive now with a change at or before `below` that was the
        // last one at or before `below`: it is alive at `below` iff its latest change at or
        // before `below` was not a delete. A delete is recognized by the key being absent now
        // with no later revision, or, in general, by decoding the event.
        let alive_at_below = match events.get(last_old)? {
            Some(bytes) => {
                let event = codec::decode_event_in(bytes.value(), kinds).map_err(|e| {
                    StoreError::Corrupt {
                        what: "event",
                        revision: last_old,
                        reason: e.to_string(),
                    }
                })?;
                !matches!(event.change, Change::Delete(_) | Change::DeleteRaw { .. })
            }
            None => objects.get(key.as_str())?.is_some(),
        };
        for r in old {
            if r == last_old && (alive_at_below || r == below.0) {
                keep.insert(r);
            } else if r < below.0 {
                drop_rows.push((key.clone(), r));
            }
        }
        Ok(())
    };
    for row in key_revisions.iter()? {
        let (k, _) = row?;
        let (key, rev) = k.value();
        match &mut current {
            Some((current_key, revs)) if current_key == key => revs.push(rev),
            _ => {
                let done = current.take();
                finish(done, &mut drop_rows, &mut keep)?;
                current = Some((key.to_owned(), vec![rev]));
            }
        }
    }
    finish(current.take(), &mut drop_rows, &mut keep)?;
    drop(objects);
    for (key, rev) in &drop_rows {
        key_revisions.remove((key.as_str(), *rev))?;
    }
    let mut doomed = Vec::new();
    for row in events.range(..below.0)? {
        let (rev, _) = row?;
        if !keep.contains(&rev.value()) {
            doomed.push(rev.value());
        }
    }
    for rev in &doomed {
        events.remove(*rev)?;
    }
    Ok(u64::try_from(doomed.len()).unwrap_or(u64::MAX))
}
