//! Revisions are dense and monotonic, and never reused (DESIGN.md "Event log": "Revisions are
//! dense (+1 per event), never reused, never reordered"; etcd robustness found "revision
//! decreasing after a crash during compaction", etcd-io/etcd#17780).
//!
//! Fed every event once in order ([`RevisionChecker::observe`]); after every control-plane
//! restart the harness re-reads the retained log and passes each event to
//! [`RevisionChecker::recheck`] and the new head to [`RevisionChecker::head_after_restart`].

use std::collections::BTreeMap;

use skiff_core::event::Event;

use super::Violation;
use crate::trace::event_hash;

/// The checker's name in reports.
pub const NAME: &str = "revisions";

/// Remembers the hash of every event read, by revision.
#[derive(Debug, Default)]
pub struct RevisionChecker {
    hashes: BTreeMap<u64, u64>,
    last: u64,
}

impl RevisionChecker {
    /// The highest revision read so far.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Starts reading at `first` (the compacted revision when the harness first connects): no
    /// gap is reported below it.
    pub fn start_at(&mut self, first: u64) {
        if self.last == 0 && first > 1 {
            self.last = first - 1;
        }
    }

    /// A newly read event: must be exactly one past the last.
    pub fn observe(&mut self, event: &Event, out: &mut Vec<Violation>) {
        let expected = self.last + 1;
        if event.revision.0 != expected {
            out.push(Violation::RevisionGap {
                expected,
                found: event.revision.0,
            });
        }
        self.last = self.last.max(event.revision.0);
        self.hashes.insert(event.revision.0, event_hash(event));
    }

    /// An event re-read after a restart: must equal what was read before at its revision.
    pub fn recheck(&mut self, event: &Event, out: &mut Vec<Violation>) {
        if let Some(&hash) = self.hashes.get(&event.revision.0)
            && hash != event_hash(event)
        {
            out.push(Violation::RevisionRewritten {
                revision: event.revision.0,
            });
        }
    }

    /// The head after a restart: never below what was read (every event read was committed,
    /// so durable).
    pub fn head_after_restart(&mut self, head: u64, out: &mut Vec<Violation>) {
        if head < self.last {
            out.push(Violation::HeadWentBack {
                before: self.last,
                after: head,
            });
        }
    }

    /// Drops remembered hashes below `revision` (compacted away, never re-read).
    pub fn forget_below(&mut self, revision: u64) {
        self.hashes = self.hashes.split_off(&revision);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::{config_map_event, update_event};

    #[test]
    fn gap_rewrite_and_lost_head_fire() {
        let mut c = RevisionChecker::default();
        let mut out = Vec::new();
        c.observe(&config_map_event(1, "a"), &mut out);
        c.observe(&config_map_event(2, "b"), &mut out);
        assert_eq!(out, []);
        c.observe(&config_map_event(4, "c"), &mut out);
        assert_eq!(
            out,
            [Violation::RevisionGap {
                expected: 3,
                found: 4
            }]
        );
        out.clear();
        c.recheck(&config_map_event(2, "b"), &mut out);
        assert_eq!(out, []);
        c.recheck(&update_event(2, "b"), &mut out);
        assert_eq!(out, [Violation::RevisionRewritten { revision: 2 }]);
        out.clear();
        c.head_after_restart(3, &mut out);
        assert_eq!(
            out,
            [Violation::HeadWentBack {
                before: 4,
                after: 3
            }]
        );
    }
}
