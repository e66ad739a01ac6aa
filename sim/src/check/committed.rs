//! Committed Raft entries never change (Raft's State Machine Safety, Ongaro & Ousterhout
//! 2014, figure 3): the harness feeds every live member's committed log to the store's
//! [`CommittedEntries`] checker (store/src/raft/check.rs) and reports what it finds.

use skiff_store::raft::check::{CommittedEntries, LogRecord};

use super::Violation;

/// The checker's name in reports.
pub const NAME: &str = "committed-entries";

/// Every committed entry seen, across members and time.
#[derive(Debug, Default)]
pub struct CommittedChecker {
    entries: CommittedEntries,
}

impl CommittedChecker {
    /// Member `member` shows `records` committed now.
    pub fn observe(&mut self, member: u64, records: &[LogRecord], out: &mut Vec<Violation>) {
        for v in self.entries.observe(member, records) {
            out.push(Violation::CommittedEntryChanged {
                detail: v.to_string(),
            });
        }
    }

    /// Committed entries recorded so far.
    pub fn entries(&self) -> u64 {
        self.entries.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: u64, term: u64, digest: u32) -> LogRecord {
        LogRecord {
            index,
            term,
            leader: 1,
            digest,
        }
    }

    #[test]
    fn a_changed_committed_entry_is_reported_with_the_stores_text() {
        let mut check = CommittedChecker::default();
        let mut out = Vec::new();
        check.observe(1, &[record(1, 1, 0xa), record(2, 1, 0xb)], &mut out);
        check.observe(2, &[record(1, 1, 0xa)], &mut out);
        assert_eq!(out, vec![]);
        check.observe(2, &[record(1, 1, 0xa), record(2, 2, 0xc)], &mut out);
        assert_eq!(
            out,
            vec![Violation::CommittedEntryChanged {
                detail: "committed entry 2 changed: member 2 showed term 2 leader 1 digest \
                         0000000c, member 1 had committed term 1 leader 1 digest 0000000b"
                    .to_owned()
            }]
        );
        assert_eq!(check.entries(), 2);
    }
}
