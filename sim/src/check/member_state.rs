//! All members' state hashes are equal at the same applied revision (issue #11; etcd's
//! `HashKV` corruption check compares members' hashes at one revision).
//!
//! Fed every tick with each live member's head revision and the hash of its projection read
//! in the same read transaction ([`skiff_store::Store::status`]); at quiescence after the
//! heal the harness feeds every member once more, so all of them are compared at the final
//! revision.

use std::collections::BTreeMap;

use super::Violation;

/// The checker's name in reports.
pub const NAME: &str = "member-state";

/// The first hash seen at each revision, and the member that showed it.
#[derive(Debug, Default)]
pub struct MemberStates {
    by_revision: BTreeMap<u64, (u64, u64)>,
}

impl MemberStates {
    /// Member `member` is at `revision` with projection hash `hash`.
    pub fn observe(&mut self, member: u64, revision: u64, hash: u64, out: &mut Vec<Violation>) {
        match self.by_revision.get(&revision) {
            Some(&(first_hash, first)) if first_hash != hash => {
                out.push(Violation::MembersDiverged {
                    revision,
                    first,
                    first_hash,
                    member,
                    hash,
                });
            }
            Some(_) => {}
            None => {
                self.by_revision.insert(revision, (hash, member));
            }
        }
    }

    /// Revisions compared so far.
    pub fn revisions(&self) -> u64 {
        self.by_revision.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_hashes_at_one_revision_are_reported_exactly() {
        let mut check = MemberStates::default();
        let mut out = Vec::new();
        check.observe(1, 10, 0xaa, &mut out);
        check.observe(2, 10, 0xaa, &mut out);
        check.observe(2, 11, 0xbb, &mut out);
        assert_eq!(out, vec![]);
        check.observe(3, 10, 0xcc, &mut out);
        assert_eq!(
            out,
            vec![Violation::MembersDiverged {
                revision: 10,
                first: 1,
                first_hash: 0xaa,
                member: 3,
                hash: 0xcc
            }]
        );
        assert_eq!(
            out[0].to_string(),
            "members diverged at revision 10: member 1 hash 00000000000000aa, member 3 hash \
             00000000000000cc"
        );
        assert_eq!(check.revisions(), 2);
    }
}
