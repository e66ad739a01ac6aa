//! The "committed entries never change" checker (issue #11, checkers): once any member has
//! shown an entry at index `i` as committed, every later look at index `i` on any member must
//! show the same entry (same term, leader and bytes). Raft's State Machine Safety property
//! (Ongaro & Ousterhout 2014, figure 3: "if a server has applied a log entry at a given index
//! to its state machine, no other server will ever apply a different log entry for the same
//! index").

use std::collections::BTreeMap;

/// One committed log entry as a member showed it: where, from which leader, and a digest of
/// its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogRecord {
    /// Log index.
    pub index: u64,
    /// Term of the leader that created it.
    pub term: u64,
    /// The leader that created it.
    pub leader: u64,
    /// CRC-32 of the stored entry's bytes.
    pub digest: u32,
}

/// A committed entry that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The member that showed the different entry.
    pub member: u64,
    /// What was first seen committed at that index (by `first_seen_on`).
    pub committed: LogRecord,
    /// The member that first showed it.
    pub first_seen_on: u64,
    /// What `member` showed instead.
    pub found: LogRecord,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "committed entry {} changed: member {} showed term {} leader {} digest {:08x}, \
             member {} had committed term {} leader {} digest {:08x}",
            self.committed.index,
            self.member,
            self.found.term,
            self.found.leader,
            self.found.digest,
            self.first_seen_on,
            self.committed.term,
            self.committed.leader,
            self.committed.digest,
        )
    }
}

/// Accumulates every committed entry seen, across members and time.
#[derive(Debug, Clone, Default)]
pub struct CommittedEntries {
    /// index → (first record seen committed there, the member that showed it).
    seen: BTreeMap<u64, (LogRecord, u64)>,
}

impl CommittedEntries {
    /// Records what `member` shows committed now; returns every entry that differs from what
    /// was seen committed at the same index before.
    pub fn observe(&mut self, member: u64, records: &[LogRecord]) -> Vec<Violation> {
        let mut violations = Vec::new();
        for record in records {
            match self.seen.get(&record.index) {
                Some((committed, first)) if committed != record => violations.push(Violation {
                    member,
                    committed: *committed,
                    first_seen_on: *first,
                    found: *record,
                }),
                Some(_) => {}
                None => {
                    self.seen.insert(record.index, (*record, member));
                }
            }
        }
        violations
    }

    /// Entries recorded so far.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True before anything was recorded.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use openraft::storage::{IOFlushed, RaftLogStorage};
    use openraft::testing::log_id;
    use openraft::{Entry, EntryPayload};
    use redb::Database;

    use super::{CommittedEntries, LogRecord, Violation};
    use crate::raft::log_store::{LogStore, committed_records, init_tables};
    use crate::raft::{Proposal, TypeConfig};

    fn record(index: u64, term: u64, digest: u32) -> LogRecord {
        LogRecord {
            index,
            term,
            leader: 1,
            digest,
        }
    }

    #[test]
    fn the_same_entries_seen_again_are_no_violation() {
        let mut check = CommittedEntries::default();
        let log = [record(1, 1, 0xa), record(2, 1, 0xb)];
        assert_eq!(check.observe(1, &log), []);
        assert_eq!(check.observe(2, &log[..1]), []);
        assert_eq!(check.observe(1, &log), []);
        assert_eq!(check.len(), 2);
    }

    #[test]
    fn a_changed_committed_entry_is_reported_exactly() {
        let mut check = CommittedEntries::default();
        assert_eq!(check.observe(1, &[record(1, 1, 0xa)]), []);
        let violations = check.observe(3, &[record(1, 2, 0xc)]);
        assert_eq!(
            violations,
            [Violation {
                member: 3,
                committed: record(1, 1, 0xa),
                first_seen_on: 1,
                found: record(1, 2, 0xc),
            }]
        );
        assert_eq!(
            violations[0].to_string(),
            "committed entry 1 changed: member 3 showed term 2 leader 1 digest 0000000c, \
             member 1 had committed term 1 leader 1 digest 0000000a"
        );
    }

    /// Planted bug: a member's log storage lets a committed entry be truncated and replaced
    /// (what a follower accepting a stale leader's entries, or a storage bug, would do). The
    /// checker, fed from the real log tables, must catch it.
    #[tokio::test]
    async fn a_planted_rewrite_of_a_committed_entry_is_caught() {
        let db = Arc::new(
            Database::builder()
                .create_with_backend(redb::backends::InMemoryBackend::new())
                .unwrap(),
        );
        init_tables(&db).unwrap();
        let mut log = LogStore::new(db.clone());
        let entry = |term: u64, index: u64, bytes: &[u8]| Entry {
            log_id: log_id::<TypeConfig>(term, 1, index),
            payload: EntryPayload::Normal(Proposal(bytes.to_vec())),
        };
        let entries = vec![entry(1, 1, b"a"), entry(1, 2, b"b"), entry(1, 3, b"c")];
        log.append(entries, IOFlushed::noop()).await.unwrap();
        let mut check = CommittedEntries::default();
        let before = committed_records(&db, 2).unwrap();
        assert_eq!(before.len(), 2);
        assert_eq!(check.observe(1, &before), []);

        // The bug: truncate below the committed index and write another entry there.
        log.truncate_after(Some(log_id::<TypeConfig>(1, 1, 1)))
            .await
            .unwrap();
        log.append(vec![entry(2, 2, b"B")], IOFlushed::noop())
            .await
            .unwrap();
        let after = committed_records(&db, 2).unwrap();
        let violations = check.observe(1, &after);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].committed, before[1]);
        assert_eq!(violations[0].found, after[1]);
        assert_eq!((after[1].index, after[1].term), (2, 2));
    }
}
