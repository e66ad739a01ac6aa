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
