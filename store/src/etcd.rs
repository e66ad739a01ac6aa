//! etcdctl's operations on the store: what `skiff etcdctl` does on a stopped data dir and what
//! the API server does for an admin's `skiff etcdctl --server …` (`put`, `del`, `compaction`,
//! `watch`, `snapshot save`), so both paths check and record the same way.
//!
//! Under `/registry/` the store keeps only typed objects: a `put` there must carry one manifest
//! (JSON or YAML) of the kind the key names, whose namespace and name are the key's, and that
//! passes validation ([`registry_object`]). Elsewhere values are raw bytes, as in etcd. Every
//! write is an event in the log with the caller as its actor.
//!
//! Errors for revisions out of range carry etcd's wording: [`EtcdError`]'s `Display` is the mvcc
//! package's text with the revisions (what an offline command prints), and
//! [`EtcdError::to_status`] is what etcd's server returns to etcdctl
//! (`etcdserver: mvcc: required revision has been compacted`, upstream
//! `api/v3rpc/rpctypes/error.go`).

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::sync::Arc;

use skiff_core::event::{Actor, Change, Event, Revision};
use skiff_core::manifest;
use skiff_core::object::Object;
use skiff_core::status::{Reason, Status};
use skiff_core::validate::validate_object;

use crate::error::{ReadError, Rejection, WriteError};
use crate::key::{REGISTRY_PREFIX, kind_of_key, object_key};
use crate::request::{Compare, Op, Txn};
use crate::store::{ListOptions, Status as StoreStatus, Store};
use crate::watch::{Watch, WatchError};
use crate::writer::TXN_OPS_MAX;

/// etcd's client-side text for a read, watch or compaction below the compacted revision
/// (upstream `rpctypes.ErrCompacted`).
pub const ERR_COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
/// etcd's client-side text for a read or compaction above the head (upstream
/// `rpctypes.ErrFutureRev`).
pub const ERR_FUTURE_REV: &str = "etcdserver: mvcc: required revision is a future revision";
/// Bytes of one streamed snapshot chunk: well below the wire's frame limit, so a snapshot of
/// any size travels as many small frames.
pub const SNAPSHOT_CHUNK_BYTES: usize = 256 * 1024;
/// Times a prefix delete retries a page whose keys another writer deleted first.
const DELETE_RETRIES_MAX: usize = 16;

const _: () = assert!(SNAPSHOT_CHUNK_BYTES > 0 && DELETE_RETRIES_MAX > 0);

/// Why an etcdctl operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EtcdError {
    /// The revision is below the compacted one (mvcc `ErrCompacted`).
    #[error(
        "mvcc: required revision has been compacted (requested {requested}, compacted revision {compacted_revision})"
    )]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The oldest revision still readable.
        compacted_revision: Revision,
    },
    /// The revision is above the head (mvcc `ErrFutureRev`).
    #[error("mvcc: required revision is a future revision (requested {requested}, head {head})")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The newest revision.
        head: Revision,
    },
    /// The request was refused: nothing changed (an invalid object under `/registry/`, a raw
    /// value where only objects live, …).
    #[error("{0}")]
    Invalid(String),
    /// The store failed; a write's outcome is unknown.
    #[error("{0}")]
    Failed(String),
}

impl EtcdError {
    /// The error as the API server returns it: etcd's own client-side texts for revisions
    /// out of range, 400 for a refused request, 500 for a store failure.
    pub fn to_status(&self) -> Status {
        match self {
            EtcdError::Compacted { .. } => Status::bad_request(ERR_COMPACTED),
            EtcdError::FutureRevision { .. } => Status::bad_request(ERR_FUTURE_REV),
            EtcdError::Invalid(message) => Status::bad_request(message.clone()),
            EtcdError::Failed(message) => Status {
                reason: Reason::InternalError,
                message: message.clone(),
                name: None,
                kind: None,
                causes: Vec::new(),
            },
        }
    }
}

impl From<ReadError> for EtcdError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Compacted {
                requested,
                compacted_revision,
            } => EtcdError::Compacted {
                requested,
                compacted_revision,
            },
            ReadError::FutureRevision { requested, head } => {
                EtcdError::FutureRevision { requested, head }
            }
            ReadError::Fatal(f) => EtcdError::Failed(f.to_string()),
            other => EtcdError::Invalid(other.to_string()),
        }
    }
}

impl From<WriteError> for EtcdError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Rejected(r) => EtcdError::Invalid(r.to_string()),
            WriteError::Fatal(f) => EtcdError::Failed(chain(&f)),
        }
    }
}

/// An error with its causes, joined as Go joins wrapped errors.
fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The object a `put` under `/registry/` may store: one manifest object (JSON or YAML) of the
/// kind `key` names, at exactly `key`, that passes validation. A manifest without a namespace
/// takes the key's, as the API server takes it from the request path.
///
/// # Errors
/// A message naming what is wrong: no kind under that key, not UTF-8, not one manifest
/// object, the object belongs at another key, or the validation errors.
pub fn registry_object(key: &str, value: Vec<u8>) -> Result<Object, String> {
    if kind_of_key(key).is_none() {
        return Err(format!(
            "no kind is stored under {key}: {REGISTRY_PREFIX} holds only typed objects at their registry keys"
        ));
    }
    let text = String::from_utf8(value).map_err(|_| {
        format!("the value for {key} is not UTF-8 text; under {REGISTRY_PREFIX} it must be a manifest (JSON or YAML)")
    })?;
    let mut objects = manifest::parse_str(key, &text).map_err(|e| e.to_string())?;
    if objects.len() != 1 {
        return Err(format!(
            "the value for {key} must be one object, found {}",
            objects.len()
        ));
    }
    let mut object = objects.remove(0);
    let info = object.info();
    if info.namespaced
        && object
            .metadata()
            .namespace
            .as_deref()
            .unwrap_or("")
            .is_empty()
        && let Some((namespace, _)) = key
            .strip_prefix(info.registry_prefix)
            .and_then(|rest| rest.split_once('/'))
    {
        object.metadata_mut().namespace = Some(namespace.to_owned());
    }
    let own_key = object_key(&object)?;
    if own_key != key {
        return Err(format!(
            "{} belongs at {own_key}, not at {key}",
            object.kind_slash_name()
        ));
    }
    let errors = validate_object(&object);
    if !errors.is_empty() {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(format!(
            "{} is invalid: {}",
            object.kind_slash_name(),
            list.join("; ")
        ));
    }
    Ok(object)
}

/// `etcdctl put KEY VALUE`: overwrites `key` (an object under `/registry/`, checked by
/// [`registry_object`]; raw bytes elsewhere). Returns the revision of the write.
///
/// # Errors
/// [`EtcdError::Invalid`] when the value is refused (nothing changed);
/// [`EtcdError::Failed`] when the store failed.
pub async fn put(
    store: &Store,
    actor: &Actor,
    key: &str,
    value: Vec<u8>,
) -> Result<Revision, EtcdError> {
    let response = if key.starts_with(REGISTRY_PREFIX) {
        let object = registry_object(key, value).map_err(EtcdError::Invalid)?;
        // etcd's put overwrites: update when the key exists, create otherwise, atomically.
        let txn = Txn {
            compare: vec![Compare::Exists(key.to_owned())],
            success: vec![Op::Update {
                object: object.clone(),
                expected: None,
            }],
            failure: vec![Op::Create(object)],
        };
        store.txn(actor, txn).await
    } else {
        let op = Op::PutRaw {
            key: key.to_owned(),
            value,
        };
        store.op(actor, op).await
    }?;
    Ok(response.revision)
}

/// `etcdctl del KEY [--prefix]`: deletes `key`, or every key starting with it. Returns the
/// head revision afterwards and how many keys were deleted (0 when none matched).
///
/// A range larger than one transaction ([`TXN_OPS_MAX`] operations) is deleted in pages,
/// each atomic (etcd deletes a range in one revision); a key another writer deleted meanwhile
/// is simply not counted.
///
/// # Errors
/// [`EtcdError::Failed`] when the store failed; [`EtcdError::Invalid`] when a page kept
/// racing other writers.
pub async fn delete(
    store: &Store,
    actor: &Actor,
    key: &str,
    prefix: bool,
) -> Result<(Revision, u64), EtcdError> {
    if !prefix {
        let op = Op::Delete {
            key: key.to_owned(),
            expected: None,
        };
        return match store.op(actor, op).await {
            Ok(response) => Ok((response.revision, 1)),
            Err(WriteError::Rejected(Rejection::NotFound { .. })) => Ok((head(store)?, 0)),
            Err(e) => Err(e.into()),
        };
    }
    let mut deleted: u64 = 0;
    let mut revision = head(store)?;
    let mut retries = 0;
    loop {
        let options = ListOptions {
            limit: TXN_OPS_MAX,
            keys_only: true,
            ..ListOptions::default()
        };
        let page = store.list(key, &options)?;
        if page.entries.is_empty() {
            return Ok((revision, deleted));
        }
        let n = page.entries.len() as u64;
        let txn = Txn {
            compare: Vec::new(),
            success: page
                .entries
                .into_iter()
                .map(|e| Op::Delete {
                    key: e.key,
                    expected: None,
                })
                .collect(),
            failure: Vec::new(),
        };
        match store.txn(actor, txn).await {
            Ok(response) => {
                revision = response.revision;
                deleted += n;
            }
            // Another writer deleted one of these keys first: list again.
            Err(WriteError::Rejected(Rejection::NotFound { .. }))
                if retries < DELETE_RETRIES_MAX =>
            {
                retries += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// `etcdctl compaction REV`: discards the history below `revision`; reads and watches below
/// it fail afterwards. Returns the head revision.
///
/// # Errors
/// [`EtcdError::Compacted`] when `revision` is at or below the compacted revision,
/// [`EtcdError::FutureRevision`] when it is above the head (etcd's rules, upstream
/// `mvcc/kvstore.go` `updateCompactRev`).
pub async fn compact(store: &Store, actor: &Actor, revision: u64) -> Result<Revision, EtcdError> {
    let requested = Revision(revision);
    let check = |status: &StoreStatus| {
        if requested <= status.compacted {
            Err(EtcdError::Compacted {
                requested,
                compacted_revision: status.compacted,
            })
        } else if requested > status.revision {
            Err(EtcdError::FutureRevision {
                requested,
                head: status.revision,
            })
        } else {
            Ok(())
        }
    };
    check(&store.status()?)?;
    match store.compact(actor, requested).await {
        Ok(_) => head(store),
        // Another compaction won the race: say which rule the revision now breaks.
        Err(WriteError::Rejected(Rejection::BadCompaction { reason, .. })) => {
            check(&store.status()?)?;
            Err(EtcdError::Invalid(reason))
        }
        Err(e) => Err(e.into()),
    }
}

/// The head revision.
///
/// # Errors
/// When the store cannot be read.
pub fn head(store: &Store) -> Result<Revision, EtcdError> {
    let options = ListOptions {
        limit: 1,
        keys_only: true,
        ..ListOptions::default()
    };
    Ok(store.list("", &options)?.revision)
}

/// The key an event changed, if it changed one.
pub fn event_key(change: &Change) -> Option<String> {
    match change {
        Change::Create(object) | Change::Update { object, .. } | Change::Delete(object) => {
            object_key(object).ok()
        }
        Change::PutRaw { key, .. } | Change::DeleteRaw { key } => Some(key.clone()),
        Change::Compact { .. } => None,
    }
}

/// `etcdctl watch KEY [--prefix] [--rev REV]`: the events on a key (or the keys with a
/// prefix), from `REV` on (replaying history) or from now.
///
/// # Guarantees
/// Every event on a matching key after the start is delivered once, in revision order; a
/// watcher that falls behind the store's live buffer resumes from its last event by itself,
/// so only compaction or the store stopping end the watch.
pub struct KeyWatch {
    store: Store,
    key: String,
    prefix: bool,
    watch: Watch,
    replay: VecDeque<Arc<Event>>,
}

impl KeyWatch {
    /// Starts watching. `rev` 0 starts after the head; otherwise `rev` is the first revision
    /// delivered. As in etcd, the compacted revision itself can still be watched from (its
    /// event is what compaction keeps).
    ///
    /// # Errors
    /// [`EtcdError::Compacted`] when `rev` is below the compacted revision.
    pub fn start(store: &Store, key: &str, prefix: bool, rev: u64) -> Result<Self, EtcdError> {
        let from = if rev == 0 {
            head(store)?
        } else {
            Revision(rev - 1)
        };
        let mut replay = VecDeque::new();
        let watch = match store.watch(key, from) {
            Ok(watch) => watch,
            Err(ReadError::Compacted {
                compacted_revision, ..
            }) if compacted_revision == Revision(rev) => {
                replay.extend(
                    store
                        .events(compacted_revision, compacted_revision)?
                        .into_iter()
                        .map(Arc::new),
                );
                store.watch(key, compacted_revision)?
            }
            Err(ReadError::Compacted {
                compacted_revision, ..
            }) => {
                return Err(EtcdError::Compacted {
                    requested: Revision(rev),
                    compacted_revision,
                });
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            store: store.clone(),
            key: key.to_owned(),
            prefix,
            watch,
            replay,
        })
    }

    /// The next event on a matching key.
    ///
    /// # Errors
    /// [`EtcdError::Compacted`] when the history the watcher still needed was compacted;
    /// [`EtcdError::Failed`] when the store stopped or failed. The watch is over after an
    /// error.
    pub async fn next(&mut self) -> Result<Arc<Event>, EtcdError> {
        loop {
            let event = match self.replay.pop_front() {
                Some(event) => event,
                None => match self.watch.next().await {
                    Ok(event) => event,
                    Err(WatchError::Overflowed { resume_from }) => {
                        self.watch = self.store.watch(&self.key, resume_from)?;
                        continue;
                    }
                    Err(WatchError::Compacted {
                        requested,
                        compacted_revision,
                    }) => {
                        return Err(EtcdError::Compacted {
                            requested,
                            compacted_revision,
                        });
                    }
                    Err(e) => return Err(EtcdError::Failed(format!("watch ended: {e}"))),
                },
            };
            let Some(key) = event_key(&event.change) else {
                continue;
            };
            if key == self.key || (self.prefix && key.starts_with(&self.key)) {
                return Ok(event);
            }
        }
    }
}

/// A consistent snapshot of the store (`etcdctl snapshot save`) read back in chunks, for
/// streaming it to a client: written to a private temporary directory (removed when this is
/// dropped), then read [`SNAPSHOT_CHUNK_BYTES`] at a time.
pub struct SnapshotChunks {
    _dir: tempfile::TempDir,
    file: File,
    status: StoreStatus,
    size_bytes: u64,
}

impl SnapshotChunks {
    /// Saves a snapshot of `store` (see [`Store::snapshot_save`]) to a temporary file.
    ///
    /// # Errors
    /// [`EtcdError::Failed`] when the temporary file cannot be written or the store read.
    pub fn save(store: &Store) -> Result<Self, EtcdError> {
        let failed = |e: &dyn std::error::Error| EtcdError::Failed(chain(e));
        let dir = tempfile::Builder::new()
            .prefix("skiff-snapshot-")
            .tempdir()
            .map_err(|e| failed(&e))?;
        let path = dir.path().join("snapshot.db");
        let status = store.snapshot_save(&path).map_err(|e| failed(&e))?;
        let file = File::open(&path).map_err(|e| failed(&e))?;
        let size_bytes = file.metadata().map_err(|e| failed(&e))?.len();
        Ok(Self {
            _dir: dir,
            file,
            status,
            size_bytes,
        })
    }

    /// What the snapshot holds.
    pub fn status(&self) -> &StoreStatus {
        &self.status
    }

    /// The snapshot file's size.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// The next chunk, or `None` at the end.
    ///
    /// # Errors
    /// [`EtcdError::Failed`] when reading the temporary file fails.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, EtcdError> {
        let mut chunk = vec![0; SNAPSHOT_CHUNK_BYTES];
        let mut filled = 0;
        while filled < chunk.len() {
            match self.file.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(EtcdError::Failed(format!("reading the snapshot: {e}"))),
            }
        }
        chunk.truncate(filled);
        Ok((!chunk.is_empty()).then_some(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Backing;
    use crate::watch::WATCH_BUFFER_EVENTS;
    use skiff_core::clock::ManualClock;

    fn store() -> Store {
        Store::open(Backing::Memory, Arc::new(ManualClock::new(1_700_000_000))).unwrap()
    }

    fn admin() -> Actor {
        Actor::new("admin")
    }

    /// Writes `n` raw keys `<prefix><i>` in transactions of [`TXN_OPS_MAX`].
    async fn fill(store: &Store, prefix: &str, n: usize) {
        let keys: Vec<usize> = (0..n).collect();
        for chunk in keys.chunks(TXN_OPS_MAX) {
            let txn = Txn {
                compare: Vec::new(),
                success: chunk
                    .iter()
                    .map(|i| Op::PutRaw {
                        key: format!("{prefix}{i:06}"),
                        value: b"v".to_vec(),
                    })
                    .collect(),
                failure: Vec::new(),
            };
            store.txn(&admin(), txn).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_prefix_delete_larger_than_one_transaction_deletes_every_key() {
        let store = store();
        fill(&store, "/big/", TXN_OPS_MAX * 2 + 7).await;
        put(&store, &admin(), "/bigger", b"kept".to_vec())
            .await
            .unwrap();
        let (revision, deleted) = delete(&store, &admin(), "/big/", true).await.unwrap();
        assert_eq!(deleted, (TXN_OPS_MAX * 2 + 7) as u64);
        assert_eq!(revision, head(&store).unwrap());
        let left = store.list("/big", &ListOptions::default()).unwrap();
        let keys: Vec<&str> = left.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["/bigger"]);
        assert_eq!(
            delete(&store, &admin(), "/big/", true).await.unwrap(),
            (revision, 0)
        );
        assert_eq!(
            delete(&store, &admin(), "/nope", false).await.unwrap(),
            (revision, 0)
        );
    }

    #[tokio::test]
    async fn compaction_refuses_compacted_and_future_revisions_in_etcds_words() {
        let store = store();
        fill(&store, "/k/", 3).await;
        assert_eq!(compact(&store, &admin(), 2).await, Ok(Revision(4)));
        let again = compact(&store, &admin(), 2).await.unwrap_err();
        assert_eq!(
            again,
            EtcdError::Compacted {
                requested: Revision(2),
                compacted_revision: Revision(2)
            }
        );
        assert_eq!(
            again.to_string(),
            "mvcc: required revision has been compacted (requested 2, compacted revision 2)"
        );
        assert_eq!(again.to_status().message, ERR_COMPACTED);
        let future = compact(&store, &admin(), 9).await.unwrap_err();
        assert_eq!(
            future.to_string(),
            "mvcc: required revision is a future revision (requested 9, head 4)"
        );
        assert_eq!(future.to_status().message, ERR_FUTURE_REV);
    }

    #[tokio::test]
    async fn a_put_under_the_registry_must_be_a_valid_object_at_its_own_key() {
        let store = store();
        let cm =
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}"#;
        let key = "/registry/configmaps/default/a";
        let first = put(&store, &admin(), key, cm.as_bytes().to_vec())
            .await
            .unwrap();
        let second = put(&store, &admin(), key, cm.as_bytes().to_vec())
            .await
            .unwrap();
        let (_, entry) = store.get(key).unwrap();
        assert_eq!(
            (
                entry.stored.create_revision,
                entry.stored.mod_revision,
                entry.stored.version
            ),
            (first, second, 2)
        );
        assert_eq!(
            put(&store, &admin(), "/registry/configmaps/default/b", cm.as_bytes().to_vec()).await,
            Err(EtcdError::Invalid(
                "configmap/a belongs at /registry/configmaps/default/a, not at /registry/configmaps/default/b".into()
            ))
        );
        assert_eq!(
            head(&store).unwrap(),
            second,
            "a refused put writes nothing"
        );
    }

    #[tokio::test]
    async fn a_key_watch_that_falls_behind_resumes_without_a_gap() {
        let store = store();
        let mut watch = KeyWatch::start(&store, "/w/", true, 0).unwrap();
        // More events than the live buffer holds, none read yet: the store cuts the watcher
        // off, and the key watch resumes from its last event by itself.
        let n = WATCH_BUFFER_EVENTS + 2 * TXN_OPS_MAX;
        fill(&store, "/w/", n).await;
        put(&store, &admin(), "/x", b"other".to_vec())
            .await
            .unwrap();
        put(&store, &admin(), "/w/last", b"v".to_vec())
            .await
            .unwrap();
        for i in 0..n {
            let event = watch.next().await.unwrap();
            assert_eq!(event.revision, Revision(i as u64 + 1));
            assert_eq!(event_key(&event.change), Some(format!("/w/{i:06}")));
        }
        let last = watch.next().await.unwrap();
        assert_eq!(
            (last.revision, event_key(&last.change)),
            (Revision(n as u64 + 2), Some("/w/last".to_owned()))
        );
    }
}
