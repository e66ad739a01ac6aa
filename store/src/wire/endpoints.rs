//! Which API server a client talks to when it is given several (issue #11: every control-plane
//! member serves the API; clients are given all endpoints and fail over), as etcd's clientv3
//! does with `--endpoints`.
//!
//! # Rules
//!
//! - Endpoints are tried in the order given, starting with the first.
//! - A connection that cannot be made, or that is lost, moves to the next endpoint (wrapping).
//! - A member that refuses a write because it does not lead (`NotLeader { leader }`) moves the
//!   client to the endpoint of the named leader when the client has met that member before
//!   (each server names its member id in the handshake); otherwise to the next endpoint.
//! - Every move counts against a bound ([`ATTEMPTS_MAX`]); moves that do not go to a named
//!   leader pause [`RETRY_PAUSE_MS`] first, so a client rides out an election (about one to two
//!   seconds) and then gives up with the last error.
//!
//! [`Endpoints`] is the pure selection state; `WireClient` drives it.

use std::collections::BTreeMap;

use skiff_core::status::{Reason, Status};

/// Most connection attempts or retries of one call before the client gives up.
pub const ATTEMPTS_MAX: u32 = 40;

/// Pause before a retry that does not go straight to a named leader (40 × 250 ms: a call
/// gives up after about ten seconds without a leader).
pub const RETRY_PAUSE_MS: u64 = 250;

/// The endpoints a client may use and which one it uses now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    addrs: Vec<String>,
    current: usize,
    /// Member id → index of its endpoint, learned from handshakes.
    members: BTreeMap<u64, usize>,
}

/// Where a move went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// To the endpoint of the named leader (retry at once).
    ToLeader,
    /// To the next endpoint in order (pause before retrying).
    Next,
}

impl Endpoints {
    /// Parses a comma-separated list of `host:port` (etcdctl's `--endpoints`); blanks around
    /// commas are ignored and an `http://`/`https://` prefix is dropped. Refuses an empty list.
    pub fn parse(list: &str) -> Result<Self, String> {
        let addrs: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .to_owned()
            })
            .collect();
        if addrs.is_empty() {
            return Err(format!("no endpoint in {list:?}"));
        }
        Ok(Self {
            addrs,
            current: 0,
            members: BTreeMap::new(),
        })
    }

    /// The endpoint in use.
    pub fn current(&self) -> &str {
        &self.addrs[self.current]
    }

    /// Every endpoint, in order.
    pub fn all(&self) -> &[String] {
        &self.addrs
    }

    /// Whether the client may fail over at all (more than one endpoint).
    pub fn fails_over(&self) -> bool {
        self.addrs.len() > 1
    }

    /// The current endpoint answered the handshake as `member` (a replicated member's id).
    pub fn connected(&mut self, member: Option<u64>) {
        if let Some(member) = member {
            self.members.retain(|_, index| *index != self.current);
            self.members.insert(member, self.current);
        }
    }

    /// The current endpoint could not be reached or its connection was lost: use the next.
    pub fn failed(&mut self) -> Move {
        self.current = (self.current + 1) % self.addrs.len();
        Move::Next
    }

    /// The current endpoint refused a write as not the leader, naming `leader` if it knows it.
    pub fn not_leader(&mut self, leader: Option<u64>) -> Move {
        match leader.and_then(|l| self.members.get(&l).copied()) {
            Some(index) if index != self.current => {
                self.current = index;
                Move::ToLeader
            }
            _ => self.failed(),
        }
    }
}

/// The leader named by a refusal that the member is not the leader, `Some(None)` when it knows
/// no leader, `None` when `status` is another error. The store's `StoreError::NotLeader`
/// reaches clients as an internal error with its message (`not the leader; the leader is
/// member N` or `… is unknown`): this reads it back.
pub fn not_leader(status: &Status) -> Option<Option<u64>> {
    if status.reason != Reason::InternalError {
        return None;
    }
    let rest = status
        .message
        .strip_prefix("not the leader; the leader is ")?;
    Some(
        rest.strip_prefix("member ")
            .and_then(|id| id.trim().parse().ok()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Endpoints {
        Endpoints::parse("127.0.0.1:1, http://127.0.0.1:2,,127.0.0.1:3").unwrap()
    }

    #[test]
    fn parse_keeps_order_and_drops_blanks_and_schemes() {
        let e = three();
        assert_eq!(e.all(), ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]);
        assert_eq!(e.current(), "127.0.0.1:1");
        assert!(e.fails_over());
        assert!(!Endpoints::parse("a:1").unwrap().fails_over());
        assert_eq!(
            Endpoints::parse(" , ").unwrap_err(),
            "no endpoint in \" , \""
        );
    }

    #[test]
    fn failures_move_round_robin() {
        let mut e = three();
        assert_eq!(e.failed(), Move::Next);
        assert_eq!(e.current(), "127.0.0.1:2");
        e.failed();
        assert_eq!(e.current(), "127.0.0.1:3");
        e.failed();
        assert_eq!(e.current(), "127.0.0.1:1");
    }

    #[test]
    fn not_leader_goes_to_a_known_leader_else_next() {
        let mut e = three();
        e.connected(Some(0xa));
        e.failed();
        e.connected(Some(0xb));
        // Member b names a: a's endpoint is known.
        assert_eq!(e.not_leader(Some(0xa)), Move::ToLeader);
        assert_eq!(e.current(), "127.0.0.1:1");
        // a names c, never met: the next endpoint.
        assert_eq!(e.not_leader(Some(0xc)), Move::Next);
        assert_eq!(e.current(), "127.0.0.1:2");
        // No leader known: the next endpoint.
        assert_eq!(e.not_leader(None), Move::Next);
        assert_eq!(e.current(), "127.0.0.1:3");
        // A member naming itself (stale): the next endpoint, not a loop.
        e.connected(Some(0xc));
        assert_eq!(e.not_leader(Some(0xc)), Move::Next);
        assert_eq!(e.current(), "127.0.0.1:1");
    }

    #[test]
    fn a_restarted_endpoint_forgets_its_old_member() {
        let mut e = three();
        e.connected(Some(1));
        e.connected(Some(9));
        e.failed();
        assert_eq!(e.not_leader(Some(1)), Move::Next);
        assert_eq!(e.current(), "127.0.0.1:3");
        assert_eq!(e.not_leader(Some(9)), Move::ToLeader);
        assert_eq!(e.current(), "127.0.0.1:1");
    }

    #[test]
    fn not_leader_is_read_from_the_store_error() {
        let refused = |message: &str| Status {
            reason: Reason::InternalError,
            message: message.into(),
            name: None,
            kind: None,
            causes: Vec::new(),
        };
        assert_eq!(
            not_leader(&refused("not the leader; the leader is member 42")),
            Some(Some(42))
        );
        assert_eq!(
            not_leader(&refused("not the leader; the leader is unknown")),
            Some(None)
        );
        assert_eq!(not_leader(&refused("store is stopped")), None);
        assert_eq!(
            not_leader(&Status::bad_request(
                "not the leader; the leader is member 42"
            )),
            None
        );
    }
}
