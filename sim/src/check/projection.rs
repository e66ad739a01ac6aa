//! After every control-plane restart the projection equals a rebuild from the log (DESIGN.md
//! "Projections": "A projection can always be rebuilt from the log"; etcd's `HashKV`
//! comparison; etcd robustness found "crash during defrag → inconsistent revision",
//! etcd-io/etcd#14685).
//!
//! The harness computes the live projection's hash ([`skiff_store::Store::state_hash`]) and a
//! rebuild's ([`skiff_store::Store::rebuild_hash`]) after each restart and at the end; this
//! checker compares them.

use super::Violation;

/// The checker's name in reports.
pub const NAME: &str = "projection";

/// Compares the live projection's hash with a rebuild's; `Err` carries a failure to compute
/// either (itself a violation: the log or projection could not be read back).
pub fn check(when: &str, hashes: Result<(u64, u64), String>, out: &mut Vec<Violation>) {
    match hashes {
        Ok((live, rebuilt)) if live == rebuilt => {}
        Ok((live, rebuilt)) => out.push(Violation::ProjectionDiverged {
            detail: format!("{when}: live hash {live:#018x}, rebuilt {rebuilt:#018x}"),
        }),
        Err(e) => out.push(Violation::ProjectionDiverged {
            detail: format!("{when}: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differing_hashes_fire() {
        let mut out = Vec::new();
        check("after restart 1", Ok((7, 7)), &mut out);
        assert_eq!(out, []);
        check("after restart 2", Ok((7, 8)), &mut out);
        check(
            "at the end",
            Err("corrupt record event at revision 9".into()),
            &mut out,
        );
        assert_eq!(
            out,
            [
                Violation::ProjectionDiverged {
                    detail:
                        "after restart 2: live hash 0x0000000000000007, rebuilt 0x0000000000000008"
                            .into()
                },
                Violation::ProjectionDiverged {
                    detail: "at the end: corrupt record event at revision 9".into()
                },
            ]
        );
    }
}
