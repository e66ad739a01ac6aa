//! Watches are ordered, gap-free, duplicate-free and resumable, or end explicitly (DESIGN.md
//! "Watch": "every event after it, in order, no gaps, no duplicates"; etcd robustness's watch
//! properties Ordered, Unique, Bookmarkable, Reliable and Resumable, and the bugs it found:
//! "watch travelling back in time after a partition" etcd-io/etcd#15271, "duplicated watch
//! event" #17247).
//!
//! A watcher client (on a worker node, over the wire) records every [`WatchSession`]: the
//! revision it started after and what it was delivered. Each session's events must be exactly
//! the log's events of its kind after its start, in order; a bookmark at `b` promises that
//! every event up to `b` was delivered. A session may end at any point (connection lost, or an
//! explicit `Expired` after compaction); the watcher then starts a new one.

use std::collections::{BTreeMap, BTreeSet};

use skiff_core::event::{Change, Event};

use super::{Violation, object_of};

/// The checker's name in reports.
pub const NAME: &str = "watch-order";

/// A delivered event's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `ADDED`.
    Added,
    /// `MODIFIED`.
    Modified,
    /// `DELETED`.
    Deleted,
}

/// One delivered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Its type.
    pub type_: EventType,
    /// The object's registry key.
    pub key: String,
    /// The object's uid.
    pub uid: String,
    /// The object's `resourceVersion` as delivered.
    pub resource_version: u64,
}

/// What a watch session was delivered, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An event.
    Event(Delivered),
    /// A bookmark: every event up to this revision was delivered.
    Bookmark(u64),
    /// The session ended: `Expired`, another error, or the connection closed.
    Ended(String),
}

/// One watch, from its start to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSession {
    /// The watched kind (`Pod`).
    pub kind: &'static str,
    /// The revision the watch started after.
    pub from: u64,
    /// What it was delivered.
    pub records: Vec<Record>,
}

/// Every session of a run (shared between the watcher task and the harness).
#[derive(Debug, Clone, Default)]
pub struct WatchLog {
    /// The sessions, in start order.
    pub sessions: Vec<WatchSession>,
}

/// Which `resourceVersion` a `DELETED` event carries.
///
/// Upstream (apiserver etcd3 watcher) gives the deleted object the revision of the delete, so
/// resourceVersions increase along every watch; skiff's store does the same since main
/// 4ee32f9 (before it, the object's last write's revision — which this checker found).
/// [`DeletedRevision::LastState`] keeps the old rule so a test can show the checker telling
/// the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeletedRevision {
    /// The object's last stored revision (skiff's store before 4ee32f9).
    LastState,
    /// The revision of the delete (upstream, and skiff's store).
    #[default]
    OfTheDelete,
}

#[derive(Debug, Clone)]
struct Item {
    revision: u64,
    delivered: Delivered,
}

#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    record: usize,
    item: Option<usize>,
    failed: bool,
}

/// Keeps the log's events of the watched kinds and checks each session against them.
#[derive(Debug)]
pub struct WatchChecker {
    kinds: BTreeSet<&'static str>,
    items: BTreeMap<&'static str, Vec<Item>>,
    head: u64,
    cursors: Vec<Cursor>,
    /// Which resourceVersion a `DELETED` carries.
    pub deleted_revision: DeletedRevision,
}

impl Default for WatchChecker {
    fn default() -> Self {
        Self::new(&["Pod", "ConfigMap"])
    }
}

impl WatchChecker {
    /// A checker of watches on `kinds`.
    pub fn new(kinds: &[&'static str]) -> Self {
        Self {
            kinds: kinds.iter().copied().collect(),
            items: BTreeMap::new(),
            head: 0,
            cursors: Vec::new(),
            deleted_revision: DeletedRevision::default(),
        }
    }

    /// Keeps the event if it is of a watched kind.
    pub fn observe(&mut self, event: &Event) {
        self.head = self.head.max(event.revision.0);
        let Some(object) = object_of(&event.change) else {
            return;
        };
        let Some(&kind) = self.kinds.get(object.info().kind) else {
            return;
        };
        let meta = object.metadata();
        let (type_, resource_version) = match (&event.change, self.deleted_revision) {
            (Change::Create(_), _) => (EventType::Added, event.revision.0),
            (Change::Delete(_), DeletedRevision::LastState) => (
                EventType::Deleted,
                meta.resource_version
                    .as_deref()
                    .and_then(|rv| rv.parse().ok())
                    .unwrap_or(0),
            ),
            (Change::Delete(_), DeletedRevision::OfTheDelete) => {
                (EventType::Deleted, event.revision.0)
            }
            _ => (EventType::Modified, event.revision.0),
        };
        self.items.entry(kind).or_default().push(Item {
            revision: event.revision.0,
            delivered: Delivered {
                type_,
                key: skiff_store::key::object_key(object).unwrap_or_default(),
                uid: meta.uid.clone().unwrap_or_default(),
                resource_version,
            },
        });
    }

    /// Checks what the sessions were delivered since the last call, against the log read so
    /// far. A session that breaks a rule is reported once and then ignored.
    pub fn check(&mut self, log: &WatchLog, out: &mut Vec<Violation>) {
        self.cursors.resize(log.sessions.len(), Cursor::default());
        for (n, session) in log.sessions.iter().enumerate() {
            let mut cursor = self.cursors[n];
            if !cursor.failed
                && let Err(problem) = self.advance(session, &mut cursor)
            {
                cursor.failed = true;
                out.push(Violation::Watch {
                    watch: format!(
                        "{} session {n} (from revision {})",
                        session.kind, session.from
                    ),
                    problem,
                });
            }
            self.cursors[n] = cursor;
        }
    }

    fn advance(&self, session: &WatchSession, cursor: &mut Cursor) -> Result<(), String> {
        let empty = Vec::new();
        let items = self.items.get(session.kind).unwrap_or(&empty);
        let mut next = cursor
            .item
            .unwrap_or_else(|| items.partition_point(|i| i.revision <= session.from));
        while let Some(record) = session.records.get(cursor.record) {
            match record {
                Record::Event(got) => {
                    let Some(expected) = items.get(next) else {
                        if got.resource_version > self.head {
                            break; // the log has not been read that far yet
                        }
                        return Err(format!(
                            "delivered {:?} {} at {} which is not a later {} event in the log (head {})",
                            got.type_, got.key, got.resource_version, session.kind, self.head
                        ));
                    };
                    if expected.delivered != *got {
                        return Err(mismatch(items, next, got));
                    }
                    next += 1;
                }
                Record::Bookmark(b) => {
                    if *b > self.head {
                        break;
                    }
                    if let Some(missed) = items.get(next).filter(|i| i.revision <= *b) {
                        return Err(format!(
                            "bookmark at {b} but the {} event at revision {} ({}) was never delivered",
                            session.kind, missed.revision, missed.delivered.key
                        ));
                    }
                }
                Record::Ended(_) => {}
            }
            cursor.record += 1;
        }
        cursor.item = Some(next);
        Ok(())
    }
}

fn mismatch(items: &[Item], next: usize, got: &Delivered) -> String {
    let expected = &items[next];
    if items[..next].iter().any(|i| i.delivered == *got) {
        format!(
            "delivered {:?} {} at {} again (duplicate or out of order); expected revision {} next",
            got.type_, got.key, got.resource_version, expected.revision
        )
    } else if let Some(later) = items[next..].iter().find(|i| i.delivered == *got) {
        format!(
            "gap: delivered revision {} but revision {} ({:?} {}) was skipped",
            later.revision, expected.revision, expected.delivered.type_, expected.delivered.key
        )
    } else {
        format!(
            "delivered {:?} {} at {} which the log does not hold; expected {:?} {} at revision {}",
            got.type_,
            got.key,
            got.resource_version,
            expected.delivered.type_,
            expected.delivered.key,
            expected.revision
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::{config_map, config_map_event, event, update_event};

    fn delivered(type_: EventType, name: &str, rv: u64) -> Record {
        Record::Event(Delivered {
            type_,
            key: format!("/registry/configmaps/default/{name}"),
            uid: format!("uid-{name}"),
            resource_version: rv,
        })
    }

    fn checker() -> WatchChecker {
        let mut c = WatchChecker::new(&["ConfigMap"]);
        c.observe(&config_map_event(1, "a"));
        c.observe(&config_map_event(2, "b"));
        c.observe(&update_event(3, "a"));
        c.observe(&event(4, Change::Delete(config_map("b", 2))));
        c
    }

    fn run(records: Vec<Record>, from: u64) -> Vec<Violation> {
        let mut c = checker();
        let log = WatchLog {
            sessions: vec![WatchSession {
                kind: "ConfigMap",
                from,
                records,
            }],
        };
        let mut out = Vec::new();
        c.check(&log, &mut out);
        out
    }

    #[test]
    fn a_faithful_watch_passes_and_may_resume_anywhere() {
        let all = vec![
            delivered(EventType::Added, "a", 1),
            delivered(EventType::Added, "b", 2),
            delivered(EventType::Modified, "a", 3),
            delivered(EventType::Deleted, "b", 4),
            Record::Bookmark(4),
            Record::Ended("closed".into()),
        ];
        assert_eq!(run(all, 0), []);
        assert_eq!(run(vec![delivered(EventType::Modified, "a", 3)], 2), []);
    }

    #[test]
    fn gap_duplicate_and_missed_bookmark_fire() {
        let gap = run(
            vec![
                delivered(EventType::Added, "a", 1),
                delivered(EventType::Modified, "a", 3),
            ],
            0,
        );
        assert_eq!(
            gap,
            [Violation::Watch {
                watch: "ConfigMap session 0 (from revision 0)".into(),
                problem: "gap: delivered revision 3 but revision 2 (Added /registry/configmaps/default/b) was skipped".into(),
            }]
        );
        let duplicate = run(
            vec![
                delivered(EventType::Added, "a", 1),
                delivered(EventType::Added, "a", 1),
            ],
            0,
        );
        assert_eq!(
            duplicate,
            [Violation::Watch {
                watch: "ConfigMap session 0 (from revision 0)".into(),
                problem: "delivered Added /registry/configmaps/default/a at 1 again (duplicate or out of order); expected revision 2 next".into(),
            }]
        );
        // A DELETED carrying the object's last write's revision, not the delete's.
        let stale_delete = run(vec![delivered(EventType::Deleted, "b", 2)], 3);
        assert_eq!(
            stale_delete,
            [Violation::Watch {
                watch: "ConfigMap session 0 (from revision 3)".into(),
                problem: "delivered Deleted /registry/configmaps/default/b at 2 which the log does not hold; expected Deleted /registry/configmaps/default/b at revision 4".into(),
            }]
        );
        let bookmark = run(
            vec![delivered(EventType::Added, "a", 1), Record::Bookmark(3)],
            0,
        );
        assert_eq!(
            bookmark,
            [Violation::Watch {
                watch: "ConfigMap session 0 (from revision 0)".into(),
                problem: "bookmark at 3 but the ConfigMap event at revision 2 (/registry/configmaps/default/b) was never delivered".into(),
            }]
        );
    }
}
