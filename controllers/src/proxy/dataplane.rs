//! The in-process dataplane: a connection's first packet walked through a node's
//! [`RuleSet`] the way netfilter walks the tables kube-proxy programmed.
//!
//! The nat table is walked from `KUBE-SERVICES` (where `PREROUTING` and `OUTPUT` jump): each
//! rule's matches are checked in order, `-j <chain>` descends and comes back when the chain
//! falls off its end or hits `RETURN`, `MARK` sets bits and carries on, and `DNAT` decides.
//! Without a DNAT the filter table's `KUBE-SERVICES` and `KUBE-EXTERNAL-SERVICES` are walked
//! (a `REJECT` there is a service without endpoints). The `statistic` match draws as the
//! kernel's `xt_statistic` does: the rule's printed probability `p` becomes the 31-bit
//! threshold `lround(p · 2³¹)` (what iptables stores) and a draw of 31 random bits matches
//! when below it; the bits come from the injected [`SplitMix64`], so a seed replays every
//! choice.
//!
//! Connection tracking is not modelled: every call is a new connection.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use skiff_core::rng::SplitMix64;

use super::iptables::probability;
pub use super::rules::Protocol;
use super::rules::{KUBE_EXTERNAL_SERVICES, KUBE_SERVICES, Match, Rule, RuleSet, Table, Target};

/// How deep chains may nest before the walk gives up (a hand-built rule set could loop;
/// kube-proxy's own nest three deep).
const MAX_DEPTH: usize = 32;

/// The first packet of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Source address (a pod IP, a node IP, or an outside client).
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Destination port.
    pub dport: u16,
    /// Transport protocol.
    pub protocol: Protocol,
}

/// What the rules did with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Translated to a backend.
    Dnat {
        /// The backend pod's `ip:port`.
        to: SocketAddrV4,
        /// The endpoint chain that translated it.
        endpoint_chain: String,
        /// Marked for masquerade (`KUBE-MARK-MASQ`): the source will be the node's address.
        masquerade: bool,
    },
    /// Refused: the service has no endpoints (`-j REJECT`, "connection refused").
    Rejected {
        /// The comment of the rule that refused it.
        comment: Option<String>,
    },
    /// Dropped (`-j DROP`).
    Dropped,
    /// No service rule matched: the destination is used as it is (pod-to-pod traffic).
    NotAService,
}

/// A node's rules ready to walk, and the addresses the node counts as its own
/// (`-m addrtype --dst-type LOCAL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataplane {
    nat: BTreeMap<String, Vec<Rule>>,
    filter: BTreeMap<String, Vec<Rule>>,
    local: BTreeSet<Ipv4Addr>,
}

enum Step {
    /// The chain ended (or returned) without deciding.
    Fallthrough,
    /// A terminal target decided.
    Decided(Terminal),
}

enum Terminal {
    Dnat(SocketAddrV4, String),
    Reject(Option<String>),
    Drop,
    Accept,
}

fn chains(table: &Table) -> BTreeMap<String, Vec<Rule>> {
    table
        .chains
        .iter()
        .map(|c| (c.name.clone(), c.rules.clone()))
        .collect()
}

/// The 31-bit threshold iptables stores for `--probability <p>` where `p` is the text the
/// proxier printed for 1/n: `lround(p · 2^31)`, computed exactly from the decimal text.
fn threshold(n: u32) -> u32 {
    let text = probability(n);
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut scaled: u128 = int.parse().unwrap_or(0);
    let mut scale: u128 = 1;
    for digit in frac.bytes() {
        scaled = scaled * 10 + u128::from(digit - b'0');
        scale *= 10;
    }
    let value = (scaled * (1u128 << 31) + scale / 2) / scale;
    u32::try_from(value).unwrap_or(u32::MAX)
}

impl Dataplane {
    /// The dataplane of `rules`, with no local addresses yet (node ports need them).
    pub fn from_rules(rules: &RuleSet) -> Self {
        Self {
            nat: chains(&rules.nat),
            filter: chains(&rules.filter),
            local: BTreeSet::new(),
        }
    }

    /// Adds addresses that count as the node's own: node ports answer on them. skiff's pod
    /// network is flat and every node runs the same Cluster-policy rules, so passing every
    /// node's address lets a NodePort be reached on any node IP.
    #[must_use]
    pub fn with_local_addresses(mut self, addresses: impl IntoIterator<Item = Ipv4Addr>) -> Self {
        self.local.extend(addresses);
        self
    }

    /// The addresses counted as local.
    pub fn local_addresses(&self) -> &BTreeSet<Ipv4Addr> {
        &self.local
    }

    fn matches(&self, m: &Match, packet: &Packet, mark: u32, rng: &mut SplitMix64) -> bool {
        match m {
            Match::Protocol(p) => packet.protocol == *p,
            Match::Destination(ip) => packet.dst == *ip,
            Match::DestinationPort(port) => packet.dport == *port,
            Match::Source(ip) => packet.src == *ip,
            Match::SourceIn(cidr) => cidr.contains(packet.src),
            Match::NotSource(cidr) => !cidr.contains(packet.src),
            Match::SourceLocal => self.local.contains(&packet.src),
            Match::DestinationLocal => self.local.contains(&packet.dst),
            Match::RandomOneIn(n) => {
                // 31 random bits, as `get_random_u32() & 0x7FFFFFFF`.
                let draw = u32::try_from(rng.next_u64() >> 33).unwrap_or(u32::MAX);
                draw < threshold(*n)
            }
            Match::Mark {
                mark: bits,
                negated,
            } => (mark & bits == *bits) != *negated,
            // Every walk is a connection's first packet: conntrack state NEW.
            Match::ConntrackState(_) => false,
        }
    }

    fn walk(
        &self,
        table: &BTreeMap<String, Vec<Rule>>,
        chain: &str,
        packet: &Packet,
        mark: &mut u32,
        rng: &mut SplitMix64,
        depth: usize,
    ) -> Step {
        if depth > MAX_DEPTH {
            return Step::Fallthrough;
        }
        for rule in table.get(chain).into_iter().flatten() {
            if !rule
                .matches
                .iter()
                .all(|m| self.matches(m, packet, *mark, rng))
            {
                continue;
            }
            match &rule.target {
                Target::Jump(next) => {
                    if let Step::Decided(t) = self.walk(table, next, packet, mark, rng, depth + 1) {
                        return Step::Decided(t);
                    }
                }
                Target::OrMark(bits) => *mark |= bits,
                Target::XorMark(bits) => *mark ^= bits,
                Target::Return => return Step::Fallthrough,
                Target::Dnat(to) => return Step::Decided(Terminal::Dnat(*to, chain.to_owned())),
                Target::Reject => return Step::Decided(Terminal::Reject(rule.comment.clone())),
                Target::Drop => return Step::Decided(Terminal::Drop),
                Target::Accept | Target::Masquerade => return Step::Decided(Terminal::Accept),
            }
        }
        Step::Fallthrough
    }

    /// Walks a connection's first packet through the rules.
    pub fn trace(&self, packet: &Packet, rng: &mut SplitMix64) -> Verdict {
        let mut mark = 0u32;
        if let Step::Decided(Terminal::Dnat(to, endpoint_chain)) =
            self.walk(&self.nat, KUBE_SERVICES, packet, &mut mark, rng, 0)
        {
            return Verdict::Dnat {
                to,
                endpoint_chain,
                masquerade: mark & super::rules::MASQUERADE_MARK != 0,
            };
        }
        for chain in [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES] {
            let mut mark = 0u32;
            match self.walk(&self.filter, chain, packet, &mut mark, rng, 0) {
                Step::Decided(Terminal::Reject(comment)) => return Verdict::Rejected { comment },
                Step::Decided(Terminal::Drop) => return Verdict::Dropped,
                Step::Decided(_) | Step::Fallthrough => {}
            }
        }
        Verdict::NotAService
    }

    /// The backend `(pod IP, port)` a new connection to `dst:dport` lands on, from a pod of
    /// the cluster; `None` when it is refused or `dst` is not a service address.
    pub fn resolve(
        &self,
        dst: Ipv4Addr,
        dport: u16,
        protocol: Protocol,
        rng: &mut SplitMix64,
    ) -> Option<(Ipv4Addr, u16)> {
        let packet = Packet {
            src: Ipv4Addr::UNSPECIFIED,
            dst,
            dport,
            protocol,
        };
        match self.trace(&packet, rng) {
            Verdict::Dnat { to, .. } => Some((*to.ip(), to.port())),
            Verdict::Rejected { .. } | Verdict::Dropped | Verdict::NotAService => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_what_iptables_stores_for_the_printed_probability() {
        assert_eq!(threshold(1), 1 << 31);
        assert_eq!(threshold(2), 1 << 30);
        // lround(0.3333333333 * 2^31) = lround(715827882.595...)
        assert_eq!(threshold(3), 715_827_883);
        assert_eq!(threshold(4), 1 << 29);
    }
}
