//! The Raft log in redb: `raft_log` (index → bincode entry) and `raft_meta` (vote, committed,
//! purged; the state machine keeps applied and membership there too). Every write is one
//! durable redb transaction; `append` reports the entries flushed only after that commit.

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::type_config::alias::{EntryOf, LogIdOf, VoteOf};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::{TypeConfig, decode, encode};
use crate::error::StoreError;

/// Log entries by index.
pub(crate) const RAFT_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
/// Raft's own state: [`META_VOTE`], [`META_COMMITTED`], [`META_PURGED`], [`META_APPLIED`],
/// [`META_MEMBERSHIP`].
pub(crate) const RAFT_META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
/// The last vote this member made or saw.
pub(crate) const META_VOTE: &str = "vote";
/// The last log id known committed.
pub(crate) const META_COMMITTED: &str = "committed";
/// The last purged log id.
pub(crate) const META_PURGED: &str = "purged";
/// The last log id applied to the store (written with the applied batch).
pub(crate) const META_APPLIED: &str = "applied";
/// The membership in effect as of the last applied membership entry.
pub(crate) const META_MEMBERSHIP: &str = "membership";
/// How many times this member's Raft node has started (tags forwarded batches).
pub(crate) const META_BOOTS: &str = "boots";

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Creates the Raft tables if absent.
pub(crate) fn init_tables(db: &Database) -> Result<(), StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_quick_repair(true);
    drop(txn.open_table(RAFT_LOG)?);
    drop(txn.open_table(RAFT_META)?);
    txn.commit()?;
    Ok(())
}

/// Counts one more start of this member's Raft node, durably; returns the new count.
pub(crate) fn next_boot(db: &Database) -> Result<u64, StoreError> {
    let boots: u64 = read_meta(db, META_BOOTS)
        .map_err(|e| StoreError::Database(e.to_string()))?
        .unwrap_or(0);
    let boot = boots + 1;
    write(db, |txn| put_meta(txn, META_BOOTS, &boot))
        .map_err(|e| StoreError::Database(e.to_string()))?;
    Ok(boot)
}

/// Reads and decodes a meta row.
pub(crate) fn read_meta<T: serde::de::DeserializeOwned>(
    db: &Database,
    key: &str,
) -> io::Result<Option<T>> {
    let read = db.begin_read().map_err(io_err)?;
    let meta = read.open_table(RAFT_META).map_err(io_err)?;
    match meta.get(key).map_err(io_err)? {
        Some(bytes) => Ok(Some(decode(bytes.value())?)),
        None => Ok(None),
    }
}

/// Writes a meta row inside a write transaction.
pub(crate) fn put_meta<T: serde::Serialize>(
    txn: &redb::WriteTransaction,
    key: &str,
    value: &T,
) -> io::Result<()> {
    let bytes = encode(value)?;
    let mut meta = txn.open_table(RAFT_META).map_err(io_err)?;
    meta.insert(key, bytes.as_slice()).map_err(io_err)?;
    Ok(())
}

/// One durable write transaction.
fn write(
    db: &Database,
    f: impl FnOnce(&redb::WriteTransaction) -> io::Result<()>,
) -> io::Result<()> {
    let mut txn = db.begin_write().map_err(io_err)?;
    txn.set_durability(Durability::Immediate).map_err(io_err)?;
    txn.set_quick_repair(true);
    f(&txn)?;
    txn.commit().map_err(io_err)
}

/// The committed entries of a member's log up to `committed` (inclusive), as
/// [`super::check::LogRecord`]s, for the "committed entries never change" checker.
pub(crate) fn committed_records(
    db: &Database,
    committed: u64,
) -> io::Result<Vec<super::check::LogRecord>> {
    let read = db.begin_read().map_err(io_err)?;
    let log = read.open_table(RAFT_LOG).map_err(io_err)?;
    let mut records = Vec::new();
    for row in log.range(..=committed).map_err(io_err)? {
        let (index, bytes) = row.map_err(io_err)?;
        let entry: EntryOf<TypeConfig> = decode(bytes.value())?;
        records.push(super::check::LogRecord {
            index: index.value(),
            term: entry.log_id.leader_id.term,
            leader: entry.log_id.leader_id.node_id,
            digest: crc32fast::hash(bytes.value()),
        });
    }
    Ok(records)
}

/// The log storage of one member (and its reader: the same handle).
#[derive(Clone)]
pub(crate) struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    pub(crate) fn new(db: Arc<Database>) -> Self {
        Self { db }
    }

    fn last_entry_log_id(&self) -> io::Result<Option<LogIdOf<TypeConfig>>> {
        let read = self.db.begin_read().map_err(io_err)?;
        let log = read.open_table(RAFT_LOG).map_err(io_err)?;
        match log.last().map_err(io_err)? {
            Some((_, bytes)) => {
                let entry: EntryOf<TypeConfig> = decode(bytes.value())?;
                Ok(Some(entry.log_id))
            }
            None => Ok(None),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<TypeConfig>>, io::Error> {
        let read = self.db.begin_read().map_err(io_err)?;
        let log = read.open_table(RAFT_LOG).map_err(io_err)?;
        let mut entries = Vec::new();
        for row in log.range(range).map_err(io_err)? {
            let (index, bytes) = row.map_err(io_err)?;
            let entry: EntryOf<TypeConfig> = decode(bytes.value())?;
            if entry.log_id.index != index.value() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "raft log row {} holds entry {}",
                        index.value(),
                        entry.log_id.index
                    ),
                ));
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<TypeConfig>>, io::Error> {
        read_meta(&self.db, META_VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged_log_id: Option<LogIdOf<TypeConfig>> = read_meta(&self.db, META_PURGED)?;
        let last_log_id = self.last_entry_log_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> Result<(), io::Error> {
        write(&self.db, |txn| put_meta(txn, META_VOTE, vote))
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogIdOf<TypeConfig>>,
    ) -> Result<(), io::Error> {
        write(&self.db, |txn| put_meta(txn, META_COMMITTED, &committed))
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<TypeConfig>>, io::Error> {
        Ok(read_meta::<Option<LogIdOf<TypeConfig>>>(&self.db, META_COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let result = write(&self.db, |txn| {
            let mut log = txn.open_table(RAFT_LOG).map_err(io_err)?;
            for entry in entries {
                let bytes = encode(&entry)?;
                log.insert(entry.log_id.index, bytes.as_slice())
                    .map_err(io_err)?;
            }
            Ok(())
        });
        // Flushed only once the redb transaction has committed (fsync).
        match result {
            Ok(()) => {
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.io_completed(Err(io::Error::new(e.kind(), e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate_after(
        &mut self,
        last_log_id: Option<LogIdOf<TypeConfig>>,
    ) -> Result<(), io::Error> {
        let from = last_log_id.map_or(0, |l| l.index + 1);
        write(&self.db, |txn| {
            let mut log = txn.open_table(RAFT_LOG).map_err(io_err)?;
            log.retain_in(from.., |_, _| false).map_err(io_err)?;
            Ok(())
        })
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> Result<(), io::Error> {
        write(&self.db, |txn| {
            put_meta(txn, META_PURGED, &log_id)?;
            let mut log = txn.open_table(RAFT_LOG).map_err(io_err)?;
            log.retain_in(..=log_id.index, |_, _| false)
                .map_err(io_err)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;
    use std::sync::Arc;

    use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};
    use openraft::testing::{blank_ent, log_id, membership_ent};
    use openraft::type_config::alias::{EntryOf, VoteOf};
    use openraft::{Entry, EntryPayload};
    use redb::Database;

    use super::{LogStore, RAFT_LOG, TypeConfig, init_tables};
    use crate::raft::Proposal;
    use crate::raft::runtime::TokioOneshot;

    fn open(path: &Path) -> LogStore {
        let db = Arc::new(Database::create(path).unwrap());
        init_tables(&db).unwrap();
        LogStore::new(db)
    }

    fn normal(term: u64, index: u64, bytes: &[u8]) -> EntryOf<TypeConfig> {
        Entry {
            log_id: log_id::<TypeConfig>(term, 1, index),
            payload: EntryPayload::Normal(Proposal(bytes.to_vec())),
        }
    }

    /// Appends and waits for the flush callback, which must report success.
    async fn append(store: &mut LogStore, entries: Vec<EntryOf<TypeConfig>>) {
        let (tx, rx) = <TokioOneshot as openraft::type_config::async_runtime::Oneshot>::channel();
        store.append(entries, IOFlushed::signal(tx)).await.unwrap();
        rx.await.unwrap().unwrap();
    }

    async fn indexes(store: &mut LogStore) -> Vec<u64> {
        let entries = store.try_get_log_entries(..).await.unwrap();
        entries.iter().map(|e| e.log_id.index).collect()
    }

    fn five() -> Vec<EntryOf<TypeConfig>> {
        (1..=5_u8).map(|i| normal(1, u64::from(i), &[i])).collect()
    }

    #[tokio::test]
    async fn appended_entries_read_back_exactly_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.redb");
        let written = vec![
            membership_ent::<TypeConfig>(0, 0, 0, vec![BTreeSet::from([1, 2, 3])]),
            blank_ent::<TypeConfig>(1, 1, 1),
            normal(1, 2, b"batch"),
        ];
        {
            let mut store = open(&path);
            append(&mut store, written.clone()).await;
        }
        let mut store = open(&path);
        assert_eq!(store.try_get_log_entries(..).await.unwrap(), written);
        assert_eq!(
            store.try_get_log_entries(1..2).await.unwrap(),
            written[1..2]
        );
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, None);
        assert_eq!(state.last_log_id, Some(log_id::<TypeConfig>(1, 1, 2)));
    }

    #[tokio::test]
    async fn truncate_after_removes_exactly_the_tail_durably() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.redb");
        {
            let mut store = open(&path);
            append(&mut store, five()).await;
            store
                .truncate_after(Some(log_id::<TypeConfig>(1, 1, 2)))
                .await
                .unwrap();
        }
        let mut store = open(&path);
        assert_eq!(indexes(&mut store).await, [1, 2]);
        assert_eq!(
            store.get_log_state().await.unwrap().last_log_id,
            Some(log_id::<TypeConfig>(1, 1, 2))
        );
        // A conflicting entry from a newer term replaces the truncated tail.
        append(&mut store, vec![normal(2, 3, b"new")]).await;
        assert_eq!(
            store.try_get_log_entries(3..).await.unwrap(),
            [normal(2, 3, b"new")]
        );
        store.truncate_after(None).await.unwrap();
        assert_eq!(indexes(&mut store).await, Vec::<u64>::new());
        assert_eq!(store.get_log_state().await.unwrap().last_log_id, None);
    }

    #[tokio::test]
    async fn purge_removes_the_head_and_remembers_the_purged_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.redb");
        {
            let mut store = open(&path);
            append(&mut store, five()).await;
            store.purge(log_id::<TypeConfig>(1, 1, 3)).await.unwrap();
        }
        let mut store = open(&path);
        assert_eq!(indexes(&mut store).await, [4, 5]);
        let state = store.get_log_state().await.unwrap();
        assert_eq!(
            state.last_purged_log_id,
            Some(log_id::<TypeConfig>(1, 1, 3))
        );
        assert_eq!(state.last_log_id, Some(log_id::<TypeConfig>(1, 1, 5)));
        // Everything purged: the last log id is the purged one.
        store.purge(log_id::<TypeConfig>(1, 1, 5)).await.unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(log_id::<TypeConfig>(1, 1, 5)));
        assert_eq!(indexes(&mut store).await, Vec::<u64>::new());
    }

    #[tokio::test]
    async fn vote_and_committed_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.redb");
        {
            let mut store = open(&path);
            assert_eq!(store.read_vote().await.unwrap(), None);
            assert_eq!(store.read_committed().await.unwrap(), None);
            store
                .save_vote(&VoteOf::<TypeConfig>::new(3, 2))
                .await
                .unwrap();
            store
                .save_vote(&VoteOf::<TypeConfig>::new_committed(4, 3))
                .await
                .unwrap();
            store
                .save_committed(Some(log_id::<TypeConfig>(4, 3, 7)))
                .await
                .unwrap();
        }
        let mut store = open(&path);
        assert_eq!(
            store.read_vote().await.unwrap(),
            Some(VoteOf::<TypeConfig>::new_committed(4, 3))
        );
        assert_eq!(
            store.read_committed().await.unwrap(),
            Some(log_id::<TypeConfig>(4, 3, 7))
        );
    }

    #[tokio::test]
    async fn a_corrupt_log_row_is_an_invalid_data_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.redb");
        let db = Arc::new(Database::create(&path).unwrap());
        init_tables(&db).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(RAFT_LOG)
            .unwrap()
            .insert(1, [0xff_u8, 0xff, 0xff].as_slice())
            .unwrap();
        txn.commit().unwrap();
        let mut store = LogStore::new(db);
        let err = store.try_get_log_entries(..).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }
}
