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
//! [`ClusterNetwork`] puts every node's dataplane together with node and pod addresses and
//! cluster DNS: a connection from a pod, a node or an outside client, by name or address, ends
//! at a pod (what the simulator and `exec` use).
//!
//! Connection tracking is not modelled: every call is a new connection.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

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
    nat: BTreeMap<String, CompiledChain>,
    filter: BTreeMap<String, CompiledChain>,
    local: BTreeSet<Ipv4Addr>,
    /// `threshold(n)` of every `1/n` the rules use.
    thresholds: BTreeMap<u32, u32>,
}

/// One packet's walk: the packet, its mark, and what the matches may read or change.
struct Walk<'a> {
    packet: &'a Packet,
    mark: u32,
    rng: &'a mut SplitMix64,
    recent: &'a mut RecentLists,
    now: Duration,
}

/// A node's `xt_recent` lists: for each list name (an endpoint chain), the source addresses
/// seen and when last (`--set`). ClientIP session affinity reads them with `--rcheck
/// --seconds N --reap`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentLists {
    lists: BTreeMap<String, BTreeMap<Ipv4Addr, Duration>>,
}

impl RecentLists {
    /// `--set`: records `src` in list `name` at `now`.
    pub fn set(&mut self, name: &str, src: Ipv4Addr, now: Duration) {
        self.lists
            .entry(name.to_owned())
            .or_default()
            .insert(src, now);
    }

    /// `--rcheck --seconds <window> --reap`: whether `src` was recorded in list `name`
    /// within `window` before `now`; entries older than the window are dropped.
    pub fn check(&mut self, name: &str, src: Ipv4Addr, now: Duration, window: Duration) -> bool {
        let Some(list) = self.lists.get_mut(name) else {
            return false;
        };
        list.retain(|_, seen| now.saturating_sub(*seen) <= window);
        list.contains_key(&src)
    }

    /// How many addresses list `name` holds.
    pub fn len(&self, name: &str) -> usize {
        self.lists.get(name).map_or(0, BTreeMap::len)
    }
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

/// The exact `(protocol, destination, port)` a rule requires, when it requires all three
/// (every cluster-IP and external-IP rule of `KUBE-SERVICES`).
fn exact_key(rule: &Rule) -> Option<(Protocol, Ipv4Addr, u16)> {
    let mut protocol = None;
    let mut destination = None;
    let mut port = None;
    for m in &rule.matches {
        match m {
            Match::Protocol(p) => protocol = Some(*p),
            Match::Destination(ip) => destination = Some(*ip),
            Match::DestinationPort(p) => port = Some(*p),
            _ => {}
        }
    }
    Some((protocol?, destination?, port?))
}

/// A chain ready to walk: its rules, and an index so that a packet only looks at the rules
/// that can match its `(protocol, destination, port)` (the ones keyed by exactly it, plus
/// every rule not keyed), still in rule order. With thousands of services this skips the
/// linear scan of `KUBE-SERVICES` without changing which rule matches first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CompiledChain {
    rules: Vec<Rule>,
    keyed: BTreeMap<(Protocol, Ipv4Addr, u16), Vec<usize>>,
    unkeyed: Vec<usize>,
}

impl CompiledChain {
    fn new(rules: &[Rule]) -> Self {
        let mut keyed: BTreeMap<_, Vec<usize>> = BTreeMap::new();
        let mut unkeyed = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            match exact_key(rule) {
                Some(key) => keyed.entry(key).or_default().push(i),
                None => unkeyed.push(i),
            }
        }
        Self {
            rules: rules.to_vec(),
            keyed,
            unkeyed,
        }
    }

    /// The indexes of the rules that may match `packet`, in rule order.
    fn candidates(&self, packet: &Packet) -> Vec<usize> {
        let keyed = self
            .keyed
            .get(&(packet.protocol, packet.dst, packet.dport))
            .map_or(&[][..], Vec::as_slice);
        let mut out = Vec::with_capacity(keyed.len() + self.unkeyed.len());
        let (mut a, mut b) = (keyed.iter().peekable(), self.unkeyed.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if x < y => {
                    out.push(x);
                    a.next();
                }
                (_, Some(&&y)) => {
                    out.push(y);
                    b.next();
                }
                (Some(&&x), None) => {
                    out.push(x);
                    a.next();
                }
                (None, None) => return out,
            }
        }
    }
}

fn chains(table: &Table) -> BTreeMap<String, CompiledChain> {
    table
        .chains()
        .iter()
        .map(|c| (c.name.clone(), CompiledChain::new(&c.rules)))
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
        let thresholds = rules
            .nat
            .chains()
            .iter()
            .chain(rules.filter.chains())
            .flat_map(|c| &c.rules)
            .flat_map(|r| &r.matches)
            .filter_map(|m| match m {
                Match::RandomOneIn(n) => Some((*n, threshold(*n))),
                _ => None,
            })
            .collect();
        Self {
            nat: chains(&rules.nat),
            filter: chains(&rules.filter),
            local: BTreeSet::new(),
            thresholds,
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

    fn matches(&self, m: &Match, walk: &mut Walk<'_>) -> bool {
        let packet = walk.packet;
        match m {
            Match::Protocol(p) => packet.protocol == *p,
            Match::Destination(ip) => packet.dst == *ip,
            Match::DestinationPort(port) => packet.dport == *port,
            Match::Source(ip) => packet.src == *ip,
            Match::SourceIn(cidr) => cidr.contains(packet.src),
            Match::NotSource(cidr) => !cidr.contains(packet.src),
            Match::SourceLocal => self.local.contains(&packet.src),
            Match::DestinationLocal => self.local.contains(&packet.dst),
            Match::DestinationIn(cidr) => cidr.contains(packet.dst),
            Match::RandomOneIn(n) => {
                // 31 random bits, as `get_random_u32() & 0x7FFFFFFF`.
                let draw = u32::try_from(walk.rng.next_u64() >> 33).unwrap_or(u32::MAX);
                draw < self
                    .thresholds
                    .get(n)
                    .copied()
                    .unwrap_or_else(|| threshold(*n))
            }
            Match::Mark {
                mark: bits,
                negated,
            } => (walk.mark & bits == *bits) != *negated,
            // Every walk is a connection's first packet: conntrack state NEW.
            Match::ConntrackState { negated, .. } => *negated,
            Match::RecentCheck { name, seconds } => walk.recent.check(
                name,
                packet.src,
                walk.now,
                Duration::from_secs(u64::from(*seconds)),
            ),
            Match::RecentSet { name } => {
                walk.recent.set(name, packet.src, walk.now);
                true
            }
        }
    }

    fn walk(
        &self,
        table: &BTreeMap<String, CompiledChain>,
        chain: &str,
        walk: &mut Walk<'_>,
        depth: usize,
    ) -> Step {
        if depth > MAX_DEPTH {
            return Step::Fallthrough;
        }
        let Some(compiled) = table.get(chain) else {
            return Step::Fallthrough;
        };
        for rule in compiled
            .candidates(walk.packet)
            .into_iter()
            .map(|i| &compiled.rules[i])
        {
            // Matches are checked in order and stop at the first miss (a later `statistic`
            // draws, or a `recent --set` records, only when the earlier ones matched).
            if !rule.matches.iter().all(|m| self.matches(m, walk)) {
                continue;
            }
            match &rule.target {
                Target::Jump(next) => {
                    if let Step::Decided(t) = self.walk(table, next, walk, depth + 1) {
                        return Step::Decided(t);
                    }
                }
                Target::OrMark(bits) => walk.mark |= bits,
                Target::XorMark(bits) => walk.mark ^= bits,
                Target::Return => return Step::Fallthrough,
                Target::Dnat(to) => return Step::Decided(Terminal::Dnat(*to, chain.to_owned())),
                Target::Reject => return Step::Decided(Terminal::Reject(rule.comment.clone())),
                Target::Drop => return Step::Decided(Terminal::Drop),
                Target::Accept | Target::Masquerade => return Step::Decided(Terminal::Accept),
            }
        }
        Step::Fallthrough
    }

    /// Walks a connection's first packet through the rules, with no memory of earlier
    /// connections (session affinity starts afresh).
    pub fn trace(&self, packet: &Packet, rng: &mut SplitMix64) -> Verdict {
        self.trace_with(packet, rng, &mut RecentLists::default(), Duration::ZERO)
    }

    /// Walks a connection's first packet at `now` (monotonic), reading and updating the
    /// node's `-m recent` lists (ClientIP session affinity).
    pub fn trace_with(
        &self,
        packet: &Packet,
        rng: &mut SplitMix64,
        recent: &mut RecentLists,
        now: Duration,
    ) -> Verdict {
        let mut walk = Walk {
            packet,
            mark: 0,
            rng,
            recent,
            now,
        };
        if let Step::Decided(Terminal::Dnat(to, endpoint_chain)) =
            self.walk(&self.nat, KUBE_SERVICES, &mut walk, 0)
        {
            return Verdict::Dnat {
                to,
                endpoint_chain,
                masquerade: walk.mark & super::rules::MASQUERADE_MARK != 0,
            };
        }
        for chain in [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES] {
            walk.mark = 0;
            match self.walk(&self.filter, chain, &mut walk, 0) {
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

/// Why a connection could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The name is neither an IPv4 address nor a name cluster DNS answers (curl: "Could not
    /// resolve host").
    UnknownHost(String),
    /// A service without endpoints refused it (`REJECT`: "Connection refused").
    Refused {
        /// The rule's comment (`default/web:http has no endpoints`).
        reason: String,
    },
    /// A rule dropped it (no local endpoints for a Local traffic policy): the client times
    /// out.
    Dropped,
    /// No node owns the address (it is in no node's podCIDR and no pod has it).
    NoRoute(Ipv4Addr),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownHost(host) => write!(f, "Could not resolve host: {host}"),
            Self::Refused { reason } => write!(f, "Connection refused ({reason})"),
            Self::Dropped => f.write_str("Connection timed out"),
            Self::NoRoute(ip) => write!(f, "No route to host {ip}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Where a connection starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A pod: its node, its IP and its namespace (for DNS short names).
    Pod {
        /// The node the pod runs on.
        node: String,
        /// The pod's IP.
        ip: Ipv4Addr,
        /// The pod's namespace.
        namespace: String,
    },
    /// A node itself (hostNetwork, `curl` on the node).
    Node(String),
    /// A client outside the cluster at this address (it can reach node ports and external
    /// IPs only).
    External(Ipv4Addr),
}

/// The nodes' kernel state that outlives a connection: each node's `-m recent` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkState {
    /// The `-m recent` lists, by node.
    pub recent: BTreeMap<String, RecentLists>,
}

/// Where a connection landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The backend's address after any DNAT.
    pub to: SocketAddrV4,
    /// The pod with that IP, when the view has one.
    pub pod: Option<crate::view::ObjectKey>,
    /// The node the backend lives on.
    pub node: String,
    /// The node whose rules translated it, when a service did.
    pub translated_by: Option<String>,
    /// Masqueraded: the backend sees the node's address, not the client's.
    pub masquerade: bool,
}

/// The cluster's network as pods see it (seed §8): every node's kube-proxy rules, node
/// addresses, pod addresses and cluster DNS, so a connection by name or address ends at a pod
/// exactly as the rules printed by `skiff proxy-rules` say.
///
/// A packet is handled by the rules of the node it is on: a pod's or node's own connection by
/// its node's rules (PREROUTING/OUTPUT there), a connection to another node's address by that
/// node's rules once routed there, an outside client's by the node it addresses.
#[derive(Debug, Clone)]
pub struct ClusterNetwork {
    nodes: BTreeMap<String, Dataplane>,
    node_addresses: BTreeMap<Ipv4Addr, String>,
    node_cidrs: Vec<(super::ipam::Ipv4Cidr, String)>,
    pods: BTreeMap<Ipv4Addr, (crate::view::ObjectKey, String)>,
    services: Vec<skiff_core::object::Service>,
    dns: super::dns::ClusterDns,
}

impl ClusterNetwork {
    /// The network of the Nodes, Pods, Services and Endpoints in `view`.
    pub fn from_view(
        view: &crate::view::View,
        config: &super::rules::Config,
        dns: super::dns::ClusterDns,
    ) -> Self {
        use skiff_core::object::{Endpoints, Node, Pod, Service};
        let services: Vec<Service> = view.list::<Service>().cloned().collect();
        let endpoints: Vec<&Endpoints> = view.list::<Endpoints>().collect();
        let mut nodes = BTreeMap::new();
        let mut node_addresses = BTreeMap::new();
        let mut node_cidrs = Vec::new();
        for node in view.list::<Node>() {
            let name = node.metadata.name_or_empty().to_owned();
            let addresses: Vec<Ipv4Addr> = node
                .status
                .addresses
                .iter()
                .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
                .filter_map(|a| a.address.parse().ok())
                .collect();
            for a in &addresses {
                node_addresses.entry(*a).or_insert_with(|| name.clone());
            }
            if let Some(cidr) = node
                .spec
                .pod_cidr
                .as_deref()
                .and_then(|c| c.parse::<super::ipam::Ipv4Cidr>().ok())
            {
                node_cidrs.push((cidr, name.clone()));
            }
            let rules =
                super::rules::rules_with(config, &services, endpoints.iter().copied(), &name);
            nodes.insert(
                name,
                Dataplane::from_rules(&rules).with_local_addresses(addresses),
            );
        }
        let mut pods = BTreeMap::new();
        for pod in view.list::<Pod>() {
            let (Some(ip), Some(node)) = (
                pod.status
                    .pod_ip
                    .as_deref()
                    .and_then(|ip| ip.parse::<Ipv4Addr>().ok()),
                pod.spec.node_name.as_deref(),
            ) else {
                continue;
            };
            pods.entry(ip).or_insert_with(|| {
                (
                    crate::view::ObjectKey::new(
                        pod.metadata.namespace_or_empty(),
                        pod.metadata.name_or_empty(),
                    ),
                    node.to_owned(),
                )
            });
        }
        Self {
            nodes,
            node_addresses,
            node_cidrs,
            pods,
            services,
            dns,
        }
    }

    /// The dataplane of one node.
    pub fn node(&self, name: &str) -> Option<&Dataplane> {
        self.nodes.get(name)
    }

    /// Opens a connection from `origin` to `host:port` (`host` an IPv4 address or a name
    /// cluster DNS resolves from the origin's namespace).
    pub fn connect(
        &self,
        origin: &Origin,
        host: &str,
        port: u16,
        protocol: Protocol,
        rng: &mut SplitMix64,
    ) -> Result<Connection, ConnectError> {
        self.connect_with(
            origin,
            host,
            port,
            protocol,
            rng,
            &mut NetworkState::default(),
            Duration::ZERO,
        )
    }

    /// [`ClusterNetwork::connect`] at `now` (monotonic), with the nodes' kernel state that
    /// outlives one connection (the `-m recent` lists of ClientIP session affinity).
    #[allow(
        clippy::too_many_arguments,
        reason = "a connection's five facts plus the state and time it runs against"
    )]
    pub fn connect_with(
        &self,
        origin: &Origin,
        host: &str,
        port: u16,
        protocol: Protocol,
        rng: &mut SplitMix64,
        state: &mut NetworkState,
        now: Duration,
    ) -> Result<Connection, ConnectError> {
        let namespace = match origin {
            Origin::Pod { namespace, .. } => namespace.as_str(),
            Origin::Node(_) | Origin::External(_) => "default",
        };
        let dst = match host.parse::<Ipv4Addr>() {
            Ok(ip) => ip,
            Err(_) => self
                .dns
                .resolve(host, namespace, &self.services)
                .ok_or_else(|| ConnectError::UnknownHost(host.to_owned()))?,
        };
        let (src, own_node) = match origin {
            Origin::Pod { node, ip, .. } => (*ip, Some(node.as_str())),
            Origin::Node(node) => (
                self.nodes
                    .get(node)
                    .and_then(|d| d.local_addresses().iter().next().copied())
                    .unwrap_or(Ipv4Addr::UNSPECIFIED),
                Some(node.as_str()),
            ),
            Origin::External(ip) => (*ip, None),
        };
        // The rules of the node the packet is on: the addressed node for node addresses,
        // else the origin's own node.
        let handler = self
            .node_addresses
            .get(&dst)
            .map(String::as_str)
            .or(own_node);
        let packet = Packet {
            src,
            dst,
            dport: port,
            protocol,
        };
        let (to, translated_by, masquerade) =
            match handler.and_then(|n| Some((n, self.nodes.get(n)?))) {
                Some((name, dataplane)) => match dataplane.trace_with(
                    &packet,
                    rng,
                    state.recent.entry(name.to_owned()).or_default(),
                    now,
                ) {
                    Verdict::Dnat { to, masquerade, .. } => (to, Some(name.to_owned()), masquerade),
                    Verdict::Rejected { comment } => {
                        return Err(ConnectError::Refused {
                            reason: comment.unwrap_or_default(),
                        });
                    }
                    Verdict::Dropped => return Err(ConnectError::Dropped),
                    Verdict::NotAService => (SocketAddrV4::new(dst, port), None, false),
                },
                None => (SocketAddrV4::new(dst, port), None, false),
            };
        let (pod, node) = if let Some((key, node)) = self.pods.get(to.ip()) {
            (Some(key.clone()), node.clone())
        } else if let Some(node) = self.node_addresses.get(to.ip()) {
            (None, node.clone())
        } else if let Some((_, node)) = self.node_cidrs.iter().find(|(c, _)| c.contains(*to.ip())) {
            (None, node.clone())
        } else {
            return Err(ConnectError::NoRoute(*to.ip()));
        };
        Ok(Connection {
            to,
            pod,
            node,
            translated_by,
            masquerade,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_keep_rule_order_and_skip_only_rules_keyed_to_another_address() {
        use crate::proxy::rules::Rule;
        let keyed = |d: u8, port: u16| Rule {
            comment: None,
            matches: vec![
                Match::Protocol(Protocol::Tcp),
                Match::Destination(Ipv4Addr::new(10, 96, 0, d)),
                Match::DestinationPort(port),
            ],
            target: Target::Return,
        };
        let any = Rule {
            comment: None,
            matches: vec![Match::DestinationLocal],
            target: Target::Return,
        };
        let chain = CompiledChain::new(&[
            keyed(1, 80),
            any.clone(),
            keyed(2, 80),
            keyed(1, 80),
            keyed(1, 443),
            any,
        ]);
        let packet = |d: u8, port: u16, protocol| Packet {
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::new(10, 96, 0, d),
            dport: port,
            protocol,
        };
        assert_eq!(
            chain.candidates(&packet(1, 80, Protocol::Tcp)),
            [0, 1, 3, 5]
        );
        assert_eq!(chain.candidates(&packet(2, 80, Protocol::Tcp)), [1, 2, 5]);
        assert_eq!(chain.candidates(&packet(1, 80, Protocol::Udp)), [1, 5]);
        assert_eq!(chain.candidates(&packet(1, 443, Protocol::Tcp)), [1, 4, 5]);
    }

    #[test]
    fn thresholds_are_what_iptables_stores_for_the_printed_probability() {
        assert_eq!(threshold(1), 1 << 31);
        assert_eq!(threshold(2), 1 << 30);
        // lround(0.3333333333 * 2^31) = lround(715827882.595...)
        assert_eq!(threshold(3), 715_827_883);
        assert_eq!(threshold(4), 1 << 29);
    }
}
