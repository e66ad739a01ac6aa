//! Errors of the store, one enum per operation family (redb's style), plus the fatal tier.

use skiff_core::event::Revision;

/// The store failed in a way the caller cannot fix: I/O, corruption, or a commit whose outcome
/// is unknown. After a `StoreError` from a write, the store stops accepting writes; reopen it
/// (the log decides what was committed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// redb reported an error.
    #[error("database error: {0}")]
    Database(String),
    /// A record failed its checksum or did not decode.
    #[error("corrupt record {what} at revision {revision}: {reason}")]
    Corrupt {
        /// Which table the record is in.
        what: &'static str,
        /// Its revision (or the revision of the object's last change).
        revision: u64,
        /// Why it was rejected.
        reason: String,
    },
    /// A commit failed after it may have reached the disk; the store is stopped.
    #[error("commit outcome unknown; store stopped: {0}")]
    CommitUnknown(String),
    /// The store was stopped by an earlier fatal error or by shutdown.
    #[error("store is stopped")]
    Stopped,
    /// A replicated store's member is not the leader: the write was not proposed. `leader` is
    /// the member id it believes leads, if any (retry there).
    #[error("not the leader; the leader is {}", .leader.map_or_else(|| "unknown".to_owned(), |l| format!("member {l}")))]
    NotLeader {
        /// The leader's member id, if known.
        leader: Option<u64>,
    },
    /// A replicated write was proposed but leadership changed (or replication failed) before it
    /// was known to be committed: it may still commit. The store keeps running.
    #[error("replication outcome unknown: {0}")]
    ReplicationUnknown(String),
    /// A replicated member could not serve the request: the leader could not be reached or
    /// could not confirm its leadership with a quorum, or this member did not catch up in time.
    /// Nothing was proposed unless the message says otherwise; retry.
    #[error("replication unavailable: {0}")]
    Unavailable(String),
    /// A membership change was refused (unknown member, a change already in progress, the last
    /// voter); nothing changed.
    #[error("membership change refused: {0}")]
    Membership(String),
}

macro_rules! from_redb {
    ($($ty:ty),*) => {$(
        impl From<$ty> for StoreError {
            fn from(e: $ty) -> Self {
                StoreError::Database(e.to_string())
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// Why a write was rejected. A rejected write changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Create of a key that exists.
    #[error("{key} already exists")]
    AlreadyExists {
        /// The key.
        key: String,
    },
    /// Update or delete of a key that does not exist.
    #[error("{key} not found")]
    NotFound {
        /// The key.
        key: String,
    },
    /// The resourceVersion precondition did not hold (HTTP 409).
    #[error("{key}: the object has been modified; expected revision {expected}, found {actual}")]
    Conflict {
        /// The key.
        key: String,
        /// The revision the caller expected.
        expected: Revision,
        /// The key's current modification revision.
        actual: Revision,
    },
    /// The request itself is malformed (an object without a name, a key twice in one
    /// transaction, a raw value under `/registry/`, …).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Compaction to a revision that is not between the compacted revision and the head.
    #[error("cannot compact to revision {requested}: {reason}")]
    BadCompaction {
        /// The requested revision.
        requested: Revision,
        /// Why not.
        reason: String,
    },
}

/// The outcome of a write: rejected (nothing changed) or fatal (outcome unknown).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The write was checked and refused; nothing changed.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The store failed; the write may or may not have been committed.
    #[error(transparent)]
    Fatal(#[from] StoreError),
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// No such key (at that revision).
    #[error("{key} not found")]
    NotFound {
        /// The key.
        key: String,
    },
    /// The revision asked for has been compacted away (HTTP 410 Gone).
    #[error("revision {requested} is compacted (compacted revision {compacted_revision})")]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The oldest revision still readable.
        compacted_revision: Revision,
    },
    /// The revision asked for is newer than the head.
    #[error("revision {requested} is in the future (head {head})")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The newest revision.
        head: Revision,
    },
    /// A continue token that was not issued by this store.
    #[error("invalid continue token")]
    InvalidContinue,
    /// A field selector names a field the listed or watched kind does not support (HTTP 400,
    /// upstream `field label not supported: spec.foo`).
    #[error(transparent)]
    InvalidSelector(#[from] skiff_core::object::UnsupportedField),
    /// The store failed.
    #[error(transparent)]
    Fatal(#[from] StoreError),
}

impl From<redb::StorageError> for ReadError {
    fn from(e: redb::StorageError) -> Self {
        ReadError::Fatal(e.into())
    }
}
impl From<redb::TableError> for ReadError {
    fn from(e: redb::TableError) -> Self {
        ReadError::Fatal(e.into())
    }
}
impl From<redb::TransactionError> for ReadError {
    fn from(e: redb::TransactionError) -> Self {
        ReadError::Fatal(e.into())
    }
}
