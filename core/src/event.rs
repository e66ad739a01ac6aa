//! The event log's vocabulary: [`Revision`], [`Event`], [`Change`], [`Actor`].
//!
//! Every change to cluster state is one [`Event`] appended to the log (DESIGN.md, "Event log"):
//! revisions are dense (+1 per event), never reused, never reordered. The store encodes events
//! with bincode's own derives inside a versioned, checksummed envelope; watchers, `describe`'s
//! history and the simulator's checkers all read these same values.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::object::{MicroTime, Object};

/// A position in the event log. Revision 0 is "before the first event".
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
pub struct Revision(pub u64);

impl Revision {
    /// Before the first event.
    pub const ZERO: Revision = Revision(0);

    /// The revision after this one.
    ///
    /// # Panics
    ///
    /// At `u64::MAX` (2^64 events: an invariant of ours, never reachable from input).
    #[must_use]
    pub fn next(self) -> Revision {
        Revision(self.0.checked_add(1).expect("revision space exhausted"))
    }

    /// Parses a `resourceVersion` string (a decimal revision, as upstream's etcd3 store writes).
    pub fn parse(resource_version: &str) -> Option<Revision> {
        if resource_version.is_empty()
            || !resource_version.bytes().all(|b| b.is_ascii_digit())
            || (resource_version.len() > 1 && resource_version.starts_with('0'))
        {
            return None;
        }
        resource_version.parse().ok().map(Revision)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Who caused an event: the authenticated user (`admin`, `system:node:worker-1`,
/// `system:kube-scheduler`, `system:serviceaccount:default:builder`).
#[derive(
    Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
pub struct Actor {
    /// The user name.
    pub user: String,
}

impl Actor {
    /// An actor named `user`.
    pub fn new(user: impl Into<String>) -> Self {
        Self { user: user.into() }
    }
}

/// What one event changed. Each variant carries everything the projection row needs, so
/// replaying any suffix of the log that starts with the latest event of every key (what
/// compaction retains) rebuilds the projection exactly.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
#[bincode(decode_context = "crate::object::KindRegistry")]
pub enum Change {
    /// An object was created; carries it as stored (its `resourceVersion` is this event's
    /// revision). Its create revision is this event's revision and its version is 1.
    Create(Object),
    /// An object was replaced; carries the new state.
    Update {
        /// The object as stored.
        object: Object,
        /// Revision of the event that created the key.
        create_revision: Revision,
        /// Number of changes since creation, this one included.
        version: u64,
    },
    /// An object was removed; carries its last state.
    Delete(Object),
    /// A raw value was written outside `/registry/` (`etcdctl put`).
    PutRaw {
        /// The key.
        key: String,
        /// The value bytes.
        value: Vec<u8>,
        /// Revision of the event that created the key.
        create_revision: Revision,
        /// Number of changes since creation, this one included.
        version: u64,
    },
    /// A raw key outside `/registry/` was removed (`etcdctl del`).
    DeleteRaw {
        /// The key.
        key: String,
    },
    /// History below `below` was compacted away (recorded so the log says when and by whom).
    Compact {
        /// The new compacted revision: reads and watches below it fail with `Compacted`.
        below: Revision,
    },
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
#[bincode(decode_context = "crate::object::KindRegistry")]
pub struct Event {
    /// Its position: exactly one more than the previous event's.
    pub revision: Revision,
    /// Wall time of the API server's clock when the event was committed.
    pub at: MicroTime,
    /// Who asked for the change.
    pub actor: Actor,
    /// What changed.
    pub change: Change,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_versions_parse_only_as_canonical_decimals() {
        assert_eq!(Revision::parse("42"), Some(Revision(42)));
        assert_eq!(Revision::parse("0"), Some(Revision(0)));
        assert_eq!(Revision::parse("042"), None);
        assert_eq!(Revision::parse("-1"), None);
        assert_eq!(Revision::parse(""), None);
        assert_eq!(Revision::parse("18446744073709551616"), None);
    }
}
