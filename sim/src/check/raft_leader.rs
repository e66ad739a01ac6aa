//! At most one leader per term (Raft's Election Safety property: Ongaro & Ousterhout 2014,
//! figure 3, "at most one leader can be elected in a given term").
//!
//! Fed every tick with each live member's own view (its id, term and the leader it knows);
//! only a member's claim that **it** leads counts, so a follower's stale belief is never
//! mistaken for a second leader. Ticks sample: two leaders of one term that never overlap a
//! tick are missed.

use std::collections::BTreeMap;

use super::Violation;

/// The checker's name in reports.
pub const NAME: &str = "one-leader-per-term";

/// The first member seen leading each term.
#[derive(Debug, Default)]
pub struct LeaderPerTerm {
    leaders: BTreeMap<u64, u64>,
}

impl LeaderPerTerm {
    /// Member `member`, at `term`, believes `leader` leads.
    pub fn observe(
        &mut self,
        member: u64,
        term: u64,
        leader: Option<u64>,
        out: &mut Vec<Violation>,
    ) {
        if leader != Some(member) {
            return;
        }
        match self.leaders.get(&term) {
            Some(&first) if first != member => out.push(Violation::TwoLeaders {
                term,
                first,
                second: member,
            }),
            Some(_) => {}
            None => {
                self.leaders.insert(term, member);
            }
        }
    }

    /// Terms with a leader seen.
    pub fn terms(&self) -> u64 {
        self.leaders.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_leader_in_one_term_is_reported_exactly() {
        let mut check = LeaderPerTerm::default();
        let mut out = Vec::new();
        check.observe(1, 3, Some(1), &mut out);
        check.observe(2, 3, Some(1), &mut out);
        check.observe(1, 3, Some(1), &mut out);
        check.observe(2, 4, Some(2), &mut out);
        assert_eq!(out, vec![]);
        check.observe(3, 3, Some(3), &mut out);
        assert_eq!(
            out,
            vec![Violation::TwoLeaders {
                term: 3,
                first: 1,
                second: 3
            }]
        );
        assert_eq!(
            out[0].to_string(),
            "two leaders in term 3: member 1 and member 3"
        );
        assert_eq!(check.terms(), 2);
    }
}
