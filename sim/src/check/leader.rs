//! At most one leader per Lease acts at a time (upstream client-go `leaderelection`: a
//! candidate acts only while it holds the Lease — `holderIdentity` is itself and the lease has
//! not expired — and "the leader should stop acting before the lease expires"; etcd/Jepsen:
//! locks built on leases are "fundamentally unsafe" without fencing, which is what this
//! checks).
//!
//! From the log: each registered writer (an actor, acting as an identity for one Lease) may
//! write only while the Lease's `holderIdentity`, as last committed before the write, is that
//! identity. Writes to the Lease itself (acquiring, renewing) are exempt.

use std::collections::BTreeMap;

use skiff_core::event::{Change, Event};
use skiff_core::object::Object;

use super::{Violation, object_of};

/// The checker's name in reports.
pub const NAME: &str = "single-leader";

/// A writer that must hold a Lease to act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The actor its writes carry (`system:kube-scheduler`).
    pub actor: String,
    /// The Lease, `namespace/name` (`kube-system/kube-scheduler`).
    pub lease: String,
    /// Its `holderIdentity` when it leads.
    pub identity: String,
}

/// Tracks Lease holders and checks registered writers against them.
#[derive(Debug, Default)]
pub struct LeaderChecker {
    candidates: BTreeMap<String, Candidate>,
    holders: BTreeMap<String, String>,
}

impl LeaderChecker {
    /// Registers a writer (one identity per actor).
    pub fn register(&mut self, candidate: Candidate) {
        self.candidates.insert(candidate.actor.clone(), candidate);
    }

    /// Checks one event.
    pub fn observe(&mut self, event: &Event, out: &mut Vec<Violation>) {
        let object = object_of(&event.change);
        if let Some(Object::Lease(lease)) = object {
            let key = format!(
                "{}/{}",
                lease.metadata.namespace_or_empty(),
                lease.metadata.name_or_empty()
            );
            let holder = if matches!(event.change, Change::Delete(_)) {
                String::new()
            } else {
                lease.spec.holder_identity.clone().unwrap_or_default()
            };
            self.holders.insert(key, holder);
            return;
        }
        let Some(candidate) = self.candidates.get(&event.actor.user) else {
            return;
        };
        let holder = self
            .holders
            .get(&candidate.lease)
            .cloned()
            .unwrap_or_default();
        if holder != candidate.identity {
            out.push(Violation::ActedWithoutLease {
                lease: candidate.lease.clone(),
                identity: candidate.identity.clone(),
                holder,
                revision: event.revision.0,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::{config_map, event_by};
    use skiff_core::object::{Lease, ObjectMeta};

    fn lease(holder: &str) -> Object {
        let mut l = Lease {
            metadata: ObjectMeta {
                namespace: Some("kube-system".into()),
                ..ObjectMeta::named("kube-scheduler")
            },
            ..Lease::default()
        };
        l.spec.holder_identity = Some(holder.into());
        l.into()
    }

    #[test]
    fn writing_while_another_holds_the_lease_fires() {
        let mut c = LeaderChecker::default();
        c.register(Candidate {
            actor: "scheduler-a".into(),
            lease: "kube-system/kube-scheduler".into(),
            identity: "a".into(),
        });
        let mut out = Vec::new();
        c.observe(
            &event_by(1, "scheduler-a", Change::Create(lease("a"))),
            &mut out,
        );
        c.observe(
            &event_by(2, "scheduler-a", Change::Create(config_map("x", 2))),
            &mut out,
        );
        assert_eq!(out, []);
        c.observe(
            &event_by(3, "scheduler-b", Change::Create(lease("b"))),
            &mut out,
        );
        c.observe(
            &event_by(4, "scheduler-a", Change::Create(config_map("y", 4))),
            &mut out,
        );
        assert_eq!(
            out,
            [Violation::ActedWithoutLease {
                lease: "kube-system/kube-scheduler".into(),
                identity: "a".into(),
                holder: "b".into(),
                revision: 4,
            }]
        );
    }
}
