//! Expectations: after a controller wrote for a key, that key is not reconciled again until
//! the controller's view reflects those writes — otherwise a reconcile from the stale view
//! would repeat them (upstream `pkg/controller/controller_utils.go`,
//! `ControllerExpectations`: "not synced until expectations are fulfilled or expire").
//!
//! upstream counts the adds and deletes it expects to observe; skiff has something more
//! exact, the revision each write returned: the view reflects a write once the informer of
//! that kind has delivered every event up to that revision. A delete that removed the object
//! at once returns the object's last state, not the deletion's revision, so it is expected
//! as the object's absence from the view instead.
//!
//! A write the informer's selectors do not match produces no event; the informer's revision
//! still passes it with the next event of that kind or the next bookmark (about once a
//! minute). And expectations expire after [`EXPECTATIONS_TIMEOUT`] (upstream
//! `ExpectationsTimeout`, 5 minutes), so a write the view never shows delays its key but never
//! wedges it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::view::ObjectKey;

/// How long expectations hold a key at most (upstream `ExpectationsTimeout = 5 * time.Minute`).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);

/// What a controller's caches have observed, as expectations need it.
pub trait Observed {
    /// The revision up to which every event of `kind` has been applied, or `None` when the
    /// controller does not watch `kind` (its writes of that kind cannot be observed).
    fn revision_of(&self, kind: &str) -> Option<u64>;
    /// True when the view still holds the object of `kind` at `key` (with `uid`, when given).
    fn holds(&self, kind: &str, key: &ObjectKey, uid: Option<&str>) -> bool;
}

/// One written object the view has to show before the key is reconciled again.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expected {
    /// The informer of `kind` has reached `revision` (a create, update, status update, bind,
    /// or a delete that left the object terminating).
    Revision {
        /// The kind written.
        kind: &'static str,
        /// The revision the write returned.
        revision: u64,
    },
    /// The object is gone from the view (a delete that removed it).
    Gone {
        /// The kind deleted.
        kind: &'static str,
        /// Its key.
        key: ObjectKey,
        /// Its uid, so a recreated object of the same name does not count as the old one.
        uid: Option<String>,
    },
}

#[derive(Debug, Clone)]
struct Pending {
    revisions: BTreeMap<&'static str, u64>,
    gone: BTreeSet<(&'static str, ObjectKey, Option<String>)>,
    expires_at: Duration,
}

/// Outstanding expectations per key.
///
/// # Invariants
///
/// - A key has an entry only while something is expected of it; a satisfied or expired
///   entry is removed when checked.
#[derive(Debug, Clone, Default)]
pub struct Expectations<K> {
    pending: BTreeMap<K, Pending>,
}

impl<K: Ord + Clone> Expectations<K> {
    /// No expectations.
    pub fn new() -> Self {
        Self {
            pending: BTreeMap::new(),
        }
    }

    /// Records that `key`'s reconcile wrote `expected` at `now`; the key's expectations expire
    /// [`EXPECTATIONS_TIMEOUT`] after the latest write.
    pub fn expect(&mut self, key: &K, expected: Expected, now: Duration) {
        let pending = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            revisions: BTreeMap::new(),
            gone: BTreeSet::new(),
            expires_at: now,
        });
        pending.expires_at = now.saturating_add(EXPECTATIONS_TIMEOUT);
        match expected {
            Expected::Revision { kind, revision } => {
                let r = pending.revisions.entry(kind).or_insert(0);
                *r = (*r).max(revision);
            }
            Expected::Gone { kind, key, uid } => {
                pending.gone.insert((kind, key, uid));
            }
        }
    }

    /// True when `key` may be reconciled at `now`: nothing is expected of it, the view shows
    /// every write, or the expectations expired. A satisfied or expired entry is dropped.
    pub fn satisfied(&mut self, key: &K, observed: &dyn Observed, now: Duration) -> bool {
        let Some(pending) = self.pending.get_mut(key) else {
            return true;
        };
        if now >= pending.expires_at {
            self.pending.remove(key);
            return true;
        }
        pending
            .revisions
            .retain(|kind, revision| observed.revision_of(kind).is_some_and(|r| r < *revision));
        pending.gone.retain(|(kind, object, uid)| {
            observed.revision_of(kind).is_some() && observed.holds(kind, object, uid.as_deref())
        });
        if pending.revisions.is_empty() && pending.gone.is_empty() {
            self.pending.remove(key);
            return true;
        }
        false
    }

    /// When `key`'s expectations expire, if it has any.
    pub fn expires_at(&self, key: &K) -> Option<Duration> {
        self.pending.get(key).map(|p| p.expires_at)
    }

    /// Drops what is expected of `key`.
    pub fn forget(&mut self, key: &K) {
        self.pending.remove(key);
    }

    /// Keys with outstanding expectations.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when nothing is expected.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake observation: revisions per watched kind and the (kind, key, uid) held.
    #[derive(Default)]
    struct Seen {
        revisions: BTreeMap<&'static str, u64>,
        held: BTreeSet<(&'static str, ObjectKey, String)>,
    }

    impl Observed for Seen {
        fn revision_of(&self, kind: &str) -> Option<u64> {
            self.revisions.get(kind).copied()
        }
        fn holds(&self, kind: &str, key: &ObjectKey, uid: Option<&str>) -> bool {
            self.held
                .iter()
                .any(|(k, o, u)| *k == kind && o == key && uid.is_none_or(|uid| uid == u))
        }
    }

    fn key() -> ObjectKey {
        ObjectKey::new("default", "rs")
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_key_waits_until_the_informer_of_the_written_kind_reaches_the_write() {
        let mut e = Expectations::new();
        let mut seen = Seen::default();
        seen.revisions.insert("Pod", 10);
        seen.revisions.insert("ReplicaSet", 50);
        e.expect(
            &key(),
            Expected::Revision {
                kind: "Pod",
                revision: 12,
            },
            secs(0),
        );
        // Another kind's informer being ahead proves nothing about pods.
        assert!(!e.satisfied(&key(), &seen, secs(1)));
        seen.revisions.insert("Pod", 11);
        assert!(!e.satisfied(&key(), &seen, secs(1)));
        seen.revisions.insert("Pod", 12);
        assert!(e.satisfied(&key(), &seen, secs(1)));
        assert!(e.is_empty());
    }

    #[test]
    fn a_key_with_nothing_expected_is_satisfied() {
        let mut e: Expectations<ObjectKey> = Expectations::new();
        assert!(e.satisfied(&key(), &Seen::default(), secs(0)));
        assert_eq!(e.expires_at(&key()), None);
    }

    #[test]
    fn every_write_of_a_reconcile_must_be_seen() {
        let mut e = Expectations::new();
        let mut seen = Seen::default();
        seen.revisions.insert("Pod", 5);
        for revision in [6, 9, 7] {
            e.expect(
                &key(),
                Expected::Revision {
                    kind: "Pod",
                    revision,
                },
                secs(0),
            );
        }
        seen.revisions.insert("Pod", 8);
        assert!(!e.satisfied(&key(), &seen, secs(0)));
        seen.revisions.insert("Pod", 9);
        assert!(e.satisfied(&key(), &seen, secs(0)));
    }

    #[test]
    fn a_removed_object_is_expected_gone_by_uid() {
        let mut e = Expectations::new();
        let mut seen = Seen::default();
        seen.revisions.insert("Pod", 5);
        let pod = ObjectKey::new("default", "web-1");
        seen.held.insert(("Pod", pod.clone(), "uid-1".into()));
        e.expect(
            &key(),
            Expected::Gone {
                kind: "Pod",
                key: pod.clone(),
                uid: Some("uid-1".into()),
            },
            secs(0),
        );
        assert!(!e.satisfied(&key(), &seen, secs(0)));
        // A new pod under the same name is not the one deleted.
        seen.held.clear();
        seen.held.insert(("Pod", pod, "uid-2".into()));
        assert!(e.satisfied(&key(), &seen, secs(0)));
    }

    #[test]
    fn writes_of_unwatched_kinds_are_not_waited_for() {
        let mut e = Expectations::new();
        e.expect(
            &key(),
            Expected::Revision {
                kind: "Event",
                revision: 99,
            },
            secs(0),
        );
        assert!(e.satisfied(&key(), &Seen::default(), secs(0)));
    }

    #[test]
    fn expectations_expire_five_minutes_after_the_last_write() {
        let mut e = Expectations::new();
        let mut seen = Seen::default();
        seen.revisions.insert("Pod", 1);
        let pod = |revision| Expected::Revision {
            kind: "Pod",
            revision,
        };
        e.expect(&key(), pod(10), secs(100));
        e.expect(&key(), pod(11), secs(160));
        assert_eq!(e.expires_at(&key()), Some(secs(460)));
        assert!(!e.satisfied(&key(), &seen, secs(459)));
        assert!(e.satisfied(&key(), &seen, secs(460)));
        assert!(e.is_empty());
        // Other keys are independent.
        let other = ObjectKey::new("default", "other");
        e.expect(&other, pod(10), secs(0));
        assert!(e.satisfied(&key(), &seen, secs(0)));
        assert_eq!(e.len(), 1);
        e.forget(&other);
        assert!(e.is_empty());
    }
}
