//! Acknowledged writes are never lost (DESIGN.md "Event log" and core `Client`: "Writes are
//! acknowledged only once durable"; etcd robustness reproduced "Single node cluster can lose
//! a write on crash", etcd-io/etcd#14370).
//!
//! The client oracle ([`crate::oracle::Oracle`]) records every acknowledged write with its
//! revision. Once the harness has read the log up to its head, every acknowledgement received
//! before that read must be reflected: a create or update by the event at its revision (same
//! key, same uid, same kind of change), a delete by a delete event of that uid with nothing of
//! that uid written after it. Writes whose answer was lost are "unknown" and not checked.

use std::collections::BTreeMap;

use skiff_core::event::{Change, Event};

use super::{Violation, change_name, object_of};
use crate::oracle::{Ack, AckOp};

/// The checker's name in reports.
pub const NAME: &str = "acked-writes";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Written {
    key: String,
    uid: String,
    change: &'static str,
}

/// Indexes the log by revision and by deleted uid, and checks acknowledgements against it.
#[derive(Debug, Default)]
pub struct AckedWritesChecker {
    by_revision: BTreeMap<u64, Written>,
    /// uid → revision of its delete event.
    deleted: BTreeMap<String, u64>,
    /// Acknowledgements already verified (a prefix of the oracle's list).
    verified: usize,
    /// Highest revision indexed.
    head: u64,
}

impl AckedWritesChecker {
    /// Indexes one newly read event; an object written again after its delete is reported.
    pub fn observe(&mut self, event: &Event, out: &mut Vec<Violation>) {
        self.head = self.head.max(event.revision.0);
        let Some(object) = object_of(&event.change) else {
            return;
        };
        let meta = object.metadata();
        let uid = meta.uid.clone().unwrap_or_default();
        let key = skiff_store::key::object_key(object).unwrap_or_default();
        if let Change::Delete(_) = event.change {
            self.deleted.insert(uid.clone(), event.revision.0);
        } else if let Some(&at) = self.deleted.get(&uid) {
            out.push(Violation::AckedDeleteLost {
                key: key.clone(),
                uid: uid.clone(),
                found: format!(
                    "{} at revision {} after its delete at {at}",
                    change_name(&event.change),
                    event.revision
                ),
            });
        }
        self.by_revision.insert(
            event.revision.0,
            Written {
                key,
                uid,
                change: change_name(&event.change),
            },
        );
    }

    /// Checks every acknowledgement not yet verified; call after reading the log to its head.
    /// `compacted` is the store's compacted revision: below it nothing is re-checked.
    pub fn check(&mut self, acks: &[Ack], out: &mut Vec<Violation>) {
        for ack in &acks[self.verified.min(acks.len())..] {
            if let Some(v) = self.check_one(ack) {
                out.push(v);
            }
        }
        self.verified = acks.len();
    }

    fn check_one(&self, ack: &Ack) -> Option<Violation> {
        match (ack.op, ack.revision) {
            (AckOp::Delete, _) => {
                if self.deleted.contains_key(&ack.uid) {
                    None
                } else {
                    Some(Violation::AckedDeleteLost {
                        key: ack.key.clone(),
                        uid: ack.uid.clone(),
                        found: format!("no delete event up to head {}", self.head),
                    })
                }
            }
            (op, Some(revision)) => {
                let expected = if op == AckOp::Create {
                    "create"
                } else {
                    "update"
                };
                let found = match self.by_revision.get(&revision) {
                    None if revision > self.head => format!("head is {}", self.head),
                    None => return None, // read before the harness started (compacted)
                    Some(w) if w.key == ack.key && w.uid == ack.uid && w.change == expected => {
                        return None;
                    }
                    Some(w) => format!("{} of {} (uid {})", w.change, w.key, w.uid),
                };
                Some(Violation::AckedWriteLost {
                    revision,
                    key: ack.key.clone(),
                    found,
                })
            }
            (_, None) => Some(Violation::AckedWriteLost {
                revision: 0,
                key: ack.key.clone(),
                found: "the acknowledgement carried no resourceVersion".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::{config_map, config_map_event, event};

    fn ack(op: AckOp, name: &str, revision: Option<u64>) -> Ack {
        Ack {
            op,
            key: format!("/registry/configmaps/default/{name}"),
            uid: format!("uid-{name}"),
            revision,
        }
    }

    #[test]
    fn acked_create_must_be_at_its_revision() {
        let mut c = AckedWritesChecker::default();
        let mut out = Vec::new();
        c.observe(&config_map_event(1, "a"), &mut out);
        c.observe(&config_map_event(2, "b"), &mut out);
        c.check(&[ack(AckOp::Create, "a", Some(1))], &mut out);
        assert_eq!(out, []);
        // The client was told revision 2 for `a`, the log holds `b` there.
        c.check(
            &[
                ack(AckOp::Create, "a", Some(1)),
                ack(AckOp::Create, "a", Some(2)),
            ],
            &mut out,
        );
        assert_eq!(
            out,
            [Violation::AckedWriteLost {
                revision: 2,
                key: "/registry/configmaps/default/a".into(),
                found: "create of /registry/configmaps/default/b (uid uid-b)".into(),
            }]
        );
        out.clear();
        c.check(
            &[
                ack(AckOp::Create, "a", Some(1)),
                ack(AckOp::Create, "a", Some(2)),
                ack(AckOp::Create, "c", Some(3)),
            ],
            &mut out,
        );
        assert_eq!(
            out,
            [Violation::AckedWriteLost {
                revision: 3,
                key: "/registry/configmaps/default/c".into(),
                found: "head is 2".into(),
            }]
        );
    }

    #[test]
    fn acked_delete_must_be_logged_and_final() {
        let mut c = AckedWritesChecker::default();
        let mut out = Vec::new();
        c.observe(&config_map_event(1, "a"), &mut out);
        c.check(&[ack(AckOp::Delete, "a", None)], &mut out);
        assert_eq!(
            out,
            [Violation::AckedDeleteLost {
                key: "/registry/configmaps/default/a".into(),
                uid: "uid-a".into(),
                found: "no delete event up to head 1".into(),
            }]
        );
        out.clear();
        c.observe(&event(2, Change::Delete(config_map("a", 1))), &mut out);
        c.observe(&config_map_event(3, "a"), &mut out);
        assert_eq!(
            out,
            [Violation::AckedDeleteLost {
                key: "/registry/configmaps/default/a".into(),
                uid: "uid-a".into(),
                found: "create at revision 3 after its delete at 2".into(),
            }]
        );
    }
}
