//! What a write asks for: an etcd-style transaction of compares and operations.

use skiff_core::event::Revision;
use skiff_core::object::Object;

use crate::codec::StoredValue;

/// One operation of a write.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub enum Op {
    /// Create an object; fails `AlreadyExists` if its key exists.
    Create(Object),
    /// Replace an object; fails `NotFound` if absent, `Conflict` if `expected` is given and is
    /// not the key's current modification revision.
    Update {
        /// The new state.
        object: Object,
        /// resourceVersion precondition.
        expected: Option<Revision>,
    },
    /// Remove a key (object or raw); fails `NotFound` if absent, `Conflict` on a stale
    /// `expected`.
    Delete {
        /// The key.
        key: String,
        /// resourceVersion precondition.
        expected: Option<Revision>,
    },
    /// Write raw bytes under a key outside `/registry/` (`etcdctl put`).
    PutRaw {
        /// The key; must not start with `/registry/`.
        key: String,
        /// The bytes.
        value: Vec<u8>,
    },
    /// Compact history below `below`.
    Compact {
        /// The new compacted revision.
        below: Revision,
    },
}

impl Op {
    /// The key this operation touches, if known before planning (creates and updates derive
    /// it from the object).
    pub(crate) fn explicit_key(&self) -> Option<&str> {
        match self {
            Op::Delete { key, .. } | Op::PutRaw { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// A condition on a key, checked before a transaction chooses its branch.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Compare {
    /// The key exists.
    Exists(String),
    /// The key does not exist.
    Absent(String),
    /// The key exists with this modification revision.
    ModRevision(String, Revision),
}

/// An atomic transaction: if every compare holds, `success` runs, else `failure` (etcd `Txn`).
/// All operations of the chosen branch are checked against the state before any applies;
/// a rejection leaves the store unchanged.
#[derive(Debug, Clone, PartialEq, Default, bincode::Encode, bincode::Decode)]
pub struct Txn {
    /// Conditions.
    pub compare: Vec<Compare>,
    /// Operations when every condition holds.
    pub success: Vec<Op>,
    /// Operations otherwise.
    pub failure: Vec<Op>,
}

impl Txn {
    /// A transaction of one unconditional operation.
    pub fn single(op: Op) -> Self {
        Self {
            compare: Vec::new(),
            success: vec![op],
            failure: Vec::new(),
        }
    }
}

/// What one applied operation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The revision of the event it appended.
    pub revision: Revision,
    /// The key it touched (empty for compaction).
    pub key: String,
    /// For create/update/put: the value as stored (objects carry their new
    /// `resourceVersion`); for delete: the value removed; for compaction: `None`.
    pub value: Option<StoredValue>,
}

/// The result of a committed transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnResponse {
    /// True when the compares held and `success` ran.
    pub succeeded: bool,
    /// The store's head revision after this transaction.
    pub revision: Revision,
    /// One entry per operation of the branch that ran.
    pub applied: Vec<Applied>,
}
