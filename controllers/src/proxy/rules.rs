//! Services + Endpoints → the rule set upstream's iptables proxier programs on a node
//! (`pkg/proxy/iptables/proxier.go`, `syncProxyRules`), as plain data.
//!
//! The rule set is pure: the same services, endpoints, node and [`Config`] always give the
//! same [`RuleSet`], in a fixed order (services by namespace and name, ports in spec order,
//! endpoints by their `ip:port` text as upstream sorts them). [`RuleSet::to_iptables_save`]
//! prints it; [`super::dataplane::Dataplane`] executes it.
//!
//! What is followed from upstream (iptables mode):
//! - per service port with endpoints: a `KUBE-SERVICES` rule for the cluster IP jumping to
//!   `KUBE-SVC-<hash>`; in that chain a masquerade rule for traffic from outside the cluster
//!   CIDR, then one rule per endpoint, all but the last with `-m statistic --mode random
//!   --probability 1/(n−i)` printed `%0.10f`, each jumping to `KUBE-SEP-<hash>`, whose rules
//!   mark hairpin traffic for masquerade and DNAT to `podIP:port`;
//! - node ports (types NodePort and LoadBalancer) and external IPs go through
//!   `KUBE-EXT-<hash>`, which marks for masquerade and jumps to the `KUBE-SVC` chain;
//!   `KUBE-NODEPORTS` is reached from the last rule of `KUBE-SERVICES`
//!   (`-m addrtype --dst-type LOCAL`);
//! - a service port without endpoints gets no nat rules but a `REJECT` in the filter table's
//!   `KUBE-SERVICES` (cluster IP) and `KUBE-EXTERNAL-SERVICES` (node port, external IPs), with
//!   the comment `"<ns>/<svc>:<port> has no endpoints"`;
//! - headless services (`clusterIP: None`), ExternalName services and IPv6 addresses get no
//!   rules;
//! - traffic policies (upstream `CategorizeEndpoints`): `internalTrafficPolicy: Local` sends
//!   cluster-IP traffic through `KUBE-SVL-<hash>`, which picks only among the endpoints on this
//!   node (`nodeName`), and drops it (`"… has no local endpoints"`) when there are none;
//!   `externalTrafficPolicy: Local` does the same for node ports and external IPs, while pods
//!   and the node itself still reach such a service through the Cluster chain, and the
//!   `healthCheckNodePort` is accepted in the filter table;
//! - the fixed chains and rules of every sync: `KUBE-MARK-MASQ` (`--or-mark 0x4000`),
//!   `KUBE-POSTROUTING` (masquerade marked packets), `KUBE-FORWARD`, `KUBE-FIREWALL`.
//!
//! - `sessionAffinity: ClientIP`: each endpoint chain records the client (`-m recent --set`)
//!   and the policy chain first sends a client seen within the timeout back to its endpoint
//!   (`-m recent --rcheck --seconds 10800 --reap`).
//!
//! Knowingly simplified: load balancer
//! ingress IPs and source ranges (`KUBE-FW-`) are not programmed, topology hints are ignored,
//! and only ready addresses are used (upstream's terminating-endpoint fallback is not
//! modelled).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use sha2::{Digest, Sha256};
use skiff_core::object::{Endpoints, Service};

use super::ipam::{DEFAULT_CLUSTER_CIDR, Ipv4Cidr, LOOPBACK};

/// The nat chain every service rule hangs off (jumped to from `PREROUTING` and `OUTPUT`).
pub const KUBE_SERVICES: &str = "KUBE-SERVICES";
/// The nat chain of node ports (reached from the last rule of `KUBE-SERVICES`).
pub const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
/// The nat chain that marks a packet for masquerading.
pub const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";
/// The nat chain that masquerades marked packets (jumped to from `POSTROUTING`).
pub const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";
/// The filter chain rejecting node ports and external IPs without endpoints.
pub const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
/// The filter chain accepting forwarded service traffic.
pub const KUBE_FORWARD: &str = "KUBE-FORWARD";
/// The filter chain guarding node ports on localhost (`route_localnet`).
pub const KUBE_FIREWALL: &str = "KUBE-FIREWALL";
/// The filter chain for load balancer source ranges (declared, empty: skiff runs no LB).
pub const KUBE_PROXY_FIREWALL: &str = "KUBE-PROXY-FIREWALL";

/// The masquerade mark: bit 14 (`--iptables-masquerade-bit` default 14), `0x4000`.
pub const MASQUERADE_MARK: u32 = 1 << 14;

/// A transport protocol of a service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// `TCP` (the default).
    Tcp,
    /// `UDP`.
    Udp,
    /// `SCTP`.
    Sctp,
}

impl Protocol {
    /// Parses an API protocol (`TCP`, `UDP`, `SCTP`; `None` is TCP, upstream's default).
    pub fn from_api(protocol: Option<&str>) -> Option<Self> {
        match protocol.unwrap_or("TCP") {
            "TCP" => Some(Self::Tcp),
            "UDP" => Some(Self::Udp),
            "SCTP" => Some(Self::Sctp),
            _ => None,
        }
    }

    /// The lowercase name iptables and the chain-name hash use (`tcp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Upstream `ServicePortName`: `<ns>/<name>` plus `:<port name>` when the port is named.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    /// The service's namespace.
    pub namespace: String,
    /// The service's name.
    pub name: String,
    /// The port's name (`""` for an unnamed port).
    pub port: String,
}

impl fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// RFC 4648 base32 (standard alphabet) of `bytes`, without padding. Written here rather than
/// pulled in as a crate: it is a dozen lines.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The first 16 characters of base32(sha256(`text`)): upstream's chain-name hash, which keeps
/// chain names within iptables' 28-character limit.
fn hash16(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut encoded = base32(&digest);
    encoded.truncate(16);
    encoded
}

/// The hash shared by a service port's `KUBE-SVC-`, `KUBE-EXT-`, `KUBE-SVL-` and `KUBE-FW-`
/// chains: over `<ns>/<svc>:<port>` followed by the lowercase protocol (upstream
/// `servicePortChainNameBase`).
pub fn service_port_chain_base(name: &ServicePortName, protocol: Protocol) -> String {
    hash16(&format!("{name}{protocol}"))
}

/// `KUBE-SVC-<hash>`: the chain choosing among a service port's endpoints.
pub fn service_chain(name: &ServicePortName, protocol: Protocol) -> String {
    format!("KUBE-SVC-{}", service_port_chain_base(name, protocol))
}

/// `KUBE-SVL-<hash>`: the chain choosing among a service port's endpoints on this node
/// (traffic policy `Local`).
pub fn local_chain(name: &ServicePortName, protocol: Protocol) -> String {
    format!("KUBE-SVL-{}", service_port_chain_base(name, protocol))
}

/// `KUBE-EXT-<hash>`: the chain node-port and external-IP traffic enters.
pub fn external_chain(name: &ServicePortName, protocol: Protocol) -> String {
    format!("KUBE-EXT-{}", service_port_chain_base(name, protocol))
}

/// `KUBE-SEP-<hash>`: one endpoint's chain; the hash also covers the endpoint's `ip:port`
/// (upstream `servicePortEndpointChainName`: name + protocol + endpoint, concatenated).
pub fn endpoint_chain(
    name: &ServicePortName,
    protocol: Protocol,
    endpoint: SocketAddrV4,
) -> String {
    format!(
        "KUBE-SEP-{}",
        hash16(&format!("{name}{protocol}{endpoint}"))
    )
}

/// How the proxier is configured (upstream `KubeProxyConfiguration`, the parts that change the
/// rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The pods' CIDR (`--cluster-cidr`): traffic to a cluster IP from outside it is marked for
    /// masquerade. `None` (upstream: no local-traffic detector) omits those rules.
    pub cluster_cidr: Option<Ipv4Cidr>,
    /// `--masquerade-all`: mark every packet to a cluster IP for masquerade.
    pub masquerade_all: bool,
}

impl Default for Config {
    /// kubeadm with flannel's pod network: cluster CIDR `10.244.0.0/16`, no masquerade-all.
    fn default() -> Self {
        Self {
            cluster_cidr: Some(DEFAULT_CLUSTER_CIDR),
            masquerade_all: false,
        }
    }
}

/// One match of a rule, printed in upstream's argument order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `-m <proto> -p <proto>`.
    Protocol(Protocol),
    /// `-d <ip>`.
    Destination(Ipv4Addr),
    /// `--dport <port>` (follows a [`Match::Protocol`]).
    DestinationPort(u16),
    /// `-s <ip>`.
    Source(Ipv4Addr),
    /// `-s <cidr>`.
    SourceIn(Ipv4Cidr),
    /// `! -s <cidr>`.
    NotSource(Ipv4Cidr),
    /// `-m addrtype --src-type LOCAL`: the source is one of the node's own addresses.
    SourceLocal,
    /// `-m addrtype --dst-type LOCAL`: the destination is one of the node's own addresses.
    DestinationLocal,
    /// `-m statistic --mode random --probability 1/n`, for the rule that picks one of the
    /// `n` endpoints still left.
    RandomOneIn(u32),
    /// `-m mark --mark <m>/<m>` (or `-m mark ! --mark <m>/<m>` when negated).
    Mark {
        /// The mark bits.
        mark: u32,
        /// `!`: the bits are not all set.
        negated: bool,
    },
    /// `-m conntrack --ctstate <states>` (or `! --ctstate` when negated).
    ConntrackState {
        /// Comma-separated states (`RELATED,ESTABLISHED`).
        states: &'static str,
        /// `!`: the connection is in none of them.
        negated: bool,
    },
    /// `-d <cidr>`.
    DestinationIn(Ipv4Cidr),
    /// `-m recent --name <list> --rcheck --seconds <s> --reap`: the source was recorded in
    /// the list within the last `s` seconds (ClientIP session affinity).
    RecentCheck {
        /// The list (the endpoint's chain name).
        name: String,
        /// The affinity timeout.
        seconds: u32,
    },
    /// `-m recent --name <list> --set`: record the source in the list (always matches).
    RecentSet {
        /// The list (the endpoint's chain name).
        name: String,
    },
}

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `-j <chain>`: evaluate a user chain, then carry on here unless it decided.
    Jump(String),
    /// `-j DNAT --to-destination <ip>:<port>`.
    Dnat(SocketAddrV4),
    /// `-j MARK --or-mark <m>`.
    OrMark(u32),
    /// `-j MARK --xor-mark <m>`.
    XorMark(u32),
    /// `-j MASQUERADE`.
    Masquerade,
    /// `-j RETURN`.
    Return,
    /// `-j REJECT`.
    Reject,
    /// `-j DROP`.
    Drop,
    /// `-j ACCEPT`.
    Accept,
}

/// One `-A` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `-m comment --comment <text>`, first as upstream writes it.
    pub comment: Option<String>,
    /// Matches, in order.
    pub matches: Vec<Match>,
    /// What happens on a match.
    pub target: Target,
}

/// A user chain and its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The chain's name.
    pub name: String,
    /// Its rules, in order.
    pub rules: Vec<Rule>,
}

/// One iptables table: its chains in declaration order.
///
/// # Invariants
/// Chain names are unique; `index` maps each name to its position in `chains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    name: &'static str,
    chains: Vec<Chain>,
    index: BTreeMap<String, usize>,
}

impl Table {
    fn new(name: &'static str, fixed: &[&str]) -> Self {
        let mut table = Self {
            name,
            chains: Vec::new(),
            index: BTreeMap::new(),
        };
        for chain in fixed {
            table.declare(chain);
        }
        table
    }

    /// `filter` or `nat`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The chains, in declaration order.
    pub fn chains(&self) -> &[Chain] {
        &self.chains
    }

    /// The chain named `name`.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.index.get(name).map(|&i| &self.chains[i])
    }

    /// The position of `chain`, declaring it (empty, last) if it is new.
    fn declare(&mut self, chain: &str) -> usize {
        if let Some(&i) = self.index.get(chain) {
            return i;
        }
        self.chains.push(Chain {
            name: chain.to_owned(),
            rules: Vec::new(),
        });
        self.index.insert(chain.to_owned(), self.chains.len() - 1);
        self.chains.len() - 1
    }

    fn push(&mut self, chain: &str, rule: Rule) {
        let i = self.declare(chain);
        self.chains[i].rules.push(rule);
    }
}

/// The rules kube-proxy programs on one node: the filter and nat tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    /// The node the rules are for.
    pub node: String,
    /// The filter table (rejects for services without endpoints, forwarding accepts).
    pub filter: Table,
    /// The nat table (service → endpoint translation).
    pub nat: Table,
}

/// One ready endpoint of a service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Backend {
    address: SocketAddrV4,
    /// On the node the rules are for (upstream `Endpoint.IsLocal`).
    local: bool,
}

/// The ready endpoints of the service port `port_name`/`protocol`, sorted by their `ip:port`
/// text (upstream sorts by `String()` so that rules are stable), without duplicates.
fn backends(
    endpoints: Option<&Endpoints>,
    port_name: &str,
    protocol: Protocol,
    node: &str,
) -> Vec<Backend> {
    let mut found: BTreeMap<String, Backend> = BTreeMap::new();
    for subset in endpoints.into_iter().flat_map(|e| &e.subsets) {
        for port in &subset.ports {
            if port.name.as_deref().unwrap_or("") != port_name
                || Protocol::from_api(port.protocol.as_deref()) != Some(protocol)
            {
                continue;
            }
            let Ok(number) = u16::try_from(port.port) else {
                continue;
            };
            if number == 0 {
                continue;
            }
            for address in &subset.addresses {
                if let Ok(ip) = address.ip.parse::<Ipv4Addr>() {
                    let socket = SocketAddrV4::new(ip, number);
                    let local = address.node_name.as_deref() == Some(node);
                    let entry = found.entry(socket.to_string()).or_insert(Backend {
                        address: socket,
                        local,
                    });
                    entry.local |= local;
                }
            }
        }
    }
    found.into_values().collect()
}

fn rule(comment: Option<String>, matches: Vec<Match>, target: Target) -> Rule {
    Rule {
        comment,
        matches,
        target,
    }
}

/// One service port, as the proxier sees it.
struct PortRules<'a> {
    spn: ServicePortName,
    protocol: Protocol,
    cluster_ip: Ipv4Addr,
    service_port: u16,
    node_port: Option<u16>,
    external_ips: &'a [Ipv4Addr],
    /// `internalTrafficPolicy: Local`.
    internal_local: bool,
    /// `externalTrafficPolicy: Local` (only counts when the port is externally accessible).
    external_local: bool,
    health_check_node_port: Option<u16>,
    /// `sessionAffinity: ClientIP`: its timeout in seconds.
    affinity_seconds: Option<u32>,
}

/// Upstream's default ClientIP affinity timeout: 3 hours (`DefaultClientIPServiceAffinitySeconds`).
pub const DEFAULT_AFFINITY_SECONDS: u32 = 10_800;

/// The ClientIP affinity timeout of a service, when it has ClientIP affinity: its
/// `sessionAffinityConfig.clientIP.timeoutSeconds` (1 to 86400), or 10800.
fn affinity_seconds(service: &Service) -> Option<u32> {
    use skiff_core::object::Value;
    if service.spec.session_affinity.as_deref() != Some("ClientIP") {
        return None;
    }
    let configured = match &service.spec.session_affinity_config {
        Some(Value::Map(config)) => match config.get("clientIP") {
            Some(Value::Map(client_ip)) => match client_ip.get("timeoutSeconds") {
                Some(Value::Int(seconds)) => u32::try_from(*seconds)
                    .ok()
                    .filter(|s| (1..=86_400).contains(s)),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    Some(configured.unwrap_or(DEFAULT_AFFINITY_SECONDS))
}

impl PortRules<'_> {
    /// Upstream `syncProxyRules` for one service port (after `CategorizeEndpoints`).
    #[allow(
        clippy::too_many_lines,
        reason = "one pass in upstream's order reads best as one function"
    )]
    fn write(&self, config: &Config, backends: &[Backend], filter: &mut Table, nat: &mut Table) {
        let Self {
            spn,
            protocol,
            cluster_ip,
            service_port,
            ..
        } = self;
        let protocol = *protocol;
        let externally_accessible = self.node_port.is_some() || !self.external_ips.is_empty();
        let external_local = self.external_local && externally_accessible;
        // upstream `UsesClusterEndpoints`: even with external policy Local, cluster endpoints
        // are needed to short-circuit pod traffic to external destinations.
        let uses_cluster = !self.internal_local || externally_accessible;
        let uses_local = self.internal_local || external_local;
        let cluster_endpoints: Vec<Backend> = if uses_cluster {
            backends.to_vec()
        } else {
            Vec::new()
        };
        let local_endpoints: Vec<Backend> = if uses_local {
            backends.iter().copied().filter(|b| b.local).collect()
        } else {
            Vec::new()
        };
        let has_endpoints = !backends.is_empty();
        let has_internal = if self.internal_local {
            !local_endpoints.is_empty()
        } else {
            has_endpoints
        };
        let has_external = if external_local {
            !local_endpoints.is_empty()
        } else {
            has_endpoints
        };

        let svc_chain = service_chain(spn, protocol);
        let local_policy_chain = local_chain(spn, protocol);
        let ext_chain = external_chain(spn, protocol);
        let internal_chain = if self.internal_local {
            &local_policy_chain
        } else {
            &svc_chain
        };
        let external_policy_chain = if external_local {
            &local_policy_chain
        } else {
            &svc_chain
        };
        let uses_external_chain = has_endpoints && externally_accessible;

        let filter_target = |has: bool| {
            if !has_endpoints {
                Some((format!("{spn} has no endpoints"), Target::Reject))
            } else if !has {
                Some((format!("{spn} has no local endpoints"), Target::Drop))
            } else {
                None
            }
        };
        let cluster_ip_match = vec![
            Match::Protocol(protocol),
            Match::Destination(*cluster_ip),
            Match::DestinationPort(*service_port),
        ];

        // Capture the cluster IP.
        if has_internal {
            nat.push(
                KUBE_SERVICES,
                rule(
                    Some(format!("{spn} cluster IP")),
                    cluster_ip_match.clone(),
                    Target::Jump(internal_chain.clone()),
                ),
            );
        } else if let Some((comment, target)) = filter_target(has_internal) {
            filter.push(
                KUBE_SERVICES,
                rule(Some(comment), cluster_ip_match.clone(), target),
            );
        }

        // Capture external IPs.
        for &external_ip in self.external_ips {
            let matches = vec![
                Match::Protocol(protocol),
                Match::Destination(external_ip),
                Match::DestinationPort(*service_port),
            ];
            if has_endpoints {
                nat.push(
                    KUBE_SERVICES,
                    rule(
                        Some(format!("{spn} external IP")),
                        matches.clone(),
                        Target::Jump(ext_chain.clone()),
                    ),
                );
            }
            if let Some((comment, target)) = filter_target(has_external) {
                filter.push(KUBE_EXTERNAL_SERVICES, rule(Some(comment), matches, target));
            }
        }

        // Capture node ports.
        if let Some(node_port) = self.node_port {
            if has_endpoints {
                nat.push(
                    KUBE_NODEPORTS,
                    rule(
                        Some(spn.to_string()),
                        vec![Match::Protocol(protocol), Match::DestinationPort(node_port)],
                        Target::Jump(ext_chain.clone()),
                    ),
                );
            }
            if let Some((comment, target)) = filter_target(has_external) {
                filter.push(
                    KUBE_EXTERNAL_SERVICES,
                    rule(
                        Some(comment),
                        vec![
                            Match::DestinationLocal,
                            Match::Protocol(protocol),
                            Match::DestinationPort(node_port),
                        ],
                        target,
                    ),
                );
            }
        }

        // Accept the load balancer's health checks.
        if let Some(port) = self.health_check_node_port.filter(|_| external_local) {
            filter.push(
                KUBE_NODEPORTS,
                rule(
                    Some(format!("{spn} health check node port")),
                    vec![Match::Protocol(Protocol::Tcp), Match::DestinationPort(port)],
                    Target::Accept,
                ),
            );
        }

        if !has_endpoints {
            return;
        }

        // Declare the chains in use: policy chains, then the external chain.
        if !cluster_endpoints.is_empty() {
            nat.declare(&svc_chain);
        }
        if !local_endpoints.is_empty() {
            nat.declare(&local_policy_chain);
        }
        if uses_external_chain {
            nat.declare(&ext_chain);
        }

        // Internal traffic: masquerade what comes from outside the cluster.
        if has_internal {
            if config.masquerade_all {
                nat.push(
                    internal_chain,
                    rule(
                        Some(format!("{spn} cluster IP")),
                        cluster_ip_match.clone(),
                        Target::Jump(KUBE_MARK_MASQ.into()),
                    ),
                );
            } else if let Some(cidr) = config.cluster_cidr {
                let mut matches = cluster_ip_match.clone();
                matches.push(Match::NotSource(cidr));
                nat.push(
                    internal_chain,
                    rule(
                        Some(format!("{spn} cluster IP")),
                        matches,
                        Target::Jump(KUBE_MARK_MASQ.into()),
                    ),
                );
            }
        }

        // External traffic.
        if uses_external_chain {
            if external_local {
                // Keep the client's address; pods and the node itself still go the cluster
                // way (as if out to a load balancer and back).
                if let Some(cidr) = config.cluster_cidr {
                    nat.push(
                        &ext_chain,
                        rule(
                            Some(format!("pod traffic for {spn} external destinations")),
                            vec![Match::SourceIn(cidr)],
                            Target::Jump(svc_chain.clone()),
                        ),
                    );
                }
                nat.push(
                    &ext_chain,
                    rule(
                        Some(format!(
                            "masquerade LOCAL traffic for {spn} external destinations"
                        )),
                        vec![Match::SourceLocal],
                        Target::Jump(KUBE_MARK_MASQ.into()),
                    ),
                );
                nat.push(
                    &ext_chain,
                    rule(
                        Some(format!(
                            "route LOCAL traffic for {spn} external destinations"
                        )),
                        vec![Match::SourceLocal],
                        Target::Jump(svc_chain.clone()),
                    ),
                );
            } else {
                // Traffic from outside may cross nodes: masquerade it.
                nat.push(
                    &ext_chain,
                    rule(
                        Some(format!(
                            "masquerade traffic for {spn} external destinations"
                        )),
                        Vec::new(),
                        Target::Jump(KUBE_MARK_MASQ.into()),
                    ),
                );
            }
            if has_external {
                nat.push(
                    &ext_chain,
                    rule(
                        None,
                        Vec::new(),
                        Target::Jump(external_policy_chain.clone()),
                    ),
                );
            }
        }

        // The policy chains pick an endpoint.
        for (chain, endpoints) in [
            (&svc_chain, &cluster_endpoints),
            (&local_policy_chain, &local_endpoints),
        ] {
            // ClientIP affinity first: a client seen recently goes back to its endpoint.
            if let Some(seconds) = self.affinity_seconds {
                for backend in endpoints {
                    let sep = endpoint_chain(spn, protocol, backend.address);
                    nat.push(
                        chain,
                        rule(
                            Some(format!("{spn} -> {}", backend.address)),
                            vec![Match::RecentCheck {
                                name: sep.clone(),
                                seconds,
                            }],
                            Target::Jump(sep),
                        ),
                    );
                }
            }
            let n = u32::try_from(endpoints.len()).unwrap_or(u32::MAX);
            for (i, backend) in (0u32..).zip(endpoints.iter()) {
                let matches = if i + 1 < n {
                    vec![Match::RandomOneIn(n - i)]
                } else {
                    Vec::new()
                };
                nat.push(
                    chain,
                    rule(
                        Some(format!("{spn} -> {}", backend.address)),
                        matches,
                        Target::Jump(endpoint_chain(spn, protocol, backend.address)),
                    ),
                );
            }
        }

        // One chain per reachable endpoint: hairpin masquerade, then DNAT.
        let reachable: BTreeMap<String, SocketAddrV4> = cluster_endpoints
            .iter()
            .chain(&local_endpoints)
            .map(|b| (b.address.to_string(), b.address))
            .collect();
        for address in reachable.into_values() {
            let chain = endpoint_chain(spn, protocol, address);
            nat.push(
                &chain,
                rule(
                    Some(spn.to_string()),
                    vec![Match::Source(*address.ip())],
                    Target::Jump(KUBE_MARK_MASQ.into()),
                ),
            );
            let mut matches = Vec::new();
            if self.affinity_seconds.is_some() {
                matches.push(Match::RecentSet {
                    name: chain.clone(),
                });
            }
            matches.push(Match::Protocol(protocol));
            nat.push(
                &chain,
                rule(Some(spn.to_string()), matches, Target::Dnat(address)),
            );
        }
    }
}

/// The rule set for `node` with the default [`Config`] (cluster CIDR `10.244.0.0/16`).
pub fn rules<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    endpoints: impl IntoIterator<Item = &'a Endpoints>,
    node: &str,
) -> RuleSet {
    rules_with(&Config::default(), services, endpoints, node)
}

/// The rule set for `node`: upstream's `syncProxyRules` as a pure function.
#[allow(
    clippy::too_many_lines,
    reason = "one pass per service port, in upstream's order, reads best as one function"
)]
pub fn rules_with<'a>(
    config: &Config,
    services: impl IntoIterator<Item = &'a Service>,
    endpoints: impl IntoIterator<Item = &'a Endpoints>,
    node: &str,
) -> RuleSet {
    let mut filter = Table::new(
        "filter",
        &[
            KUBE_NODEPORTS,
            KUBE_SERVICES,
            KUBE_EXTERNAL_SERVICES,
            KUBE_FIREWALL,
            KUBE_FORWARD,
            KUBE_PROXY_FIREWALL,
        ],
    );
    let mut nat = Table::new(
        "nat",
        &[
            KUBE_SERVICES,
            KUBE_NODEPORTS,
            KUBE_POSTROUTING,
            KUBE_MARK_MASQ,
        ],
    );

    // The fixed rules (upstream writes these on every sync).
    filter.push(
        KUBE_FIREWALL,
        rule(
            Some("block incoming localnet connections".into()),
            vec![
                Match::DestinationIn(LOOPBACK),
                Match::NotSource(LOOPBACK),
                Match::ConntrackState {
                    states: "RELATED,ESTABLISHED,DNAT",
                    negated: true,
                },
            ],
            Target::Drop,
        ),
    );
    filter.push(
        KUBE_FORWARD,
        rule(
            None,
            vec![Match::ConntrackState {
                states: "INVALID",
                negated: false,
            }],
            Target::Drop,
        ),
    );
    filter.push(
        KUBE_FORWARD,
        rule(
            Some("kubernetes forwarding rules".into()),
            vec![Match::Mark {
                mark: MASQUERADE_MARK,
                negated: false,
            }],
            Target::Accept,
        ),
    );
    filter.push(
        KUBE_FORWARD,
        rule(
            Some("kubernetes forwarding conntrack rule".into()),
            vec![Match::ConntrackState {
                states: "RELATED,ESTABLISHED",
                negated: false,
            }],
            Target::Accept,
        ),
    );
    nat.push(
        KUBE_POSTROUTING,
        rule(
            None,
            vec![Match::Mark {
                mark: MASQUERADE_MARK,
                negated: true,
            }],
            Target::Return,
        ),
    );
    nat.push(
        KUBE_POSTROUTING,
        rule(None, Vec::new(), Target::XorMark(MASQUERADE_MARK)),
    );
    nat.push(
        KUBE_POSTROUTING,
        rule(
            Some("kubernetes service traffic requiring SNAT".into()),
            Vec::new(),
            Target::Masquerade,
        ),
    );
    nat.push(
        KUBE_MARK_MASQ,
        rule(None, Vec::new(), Target::OrMark(MASQUERADE_MARK)),
    );

    let endpoints: BTreeMap<(&str, &str), &Endpoints> = endpoints
        .into_iter()
        .map(|e| {
            (
                (e.metadata.namespace_or_empty(), e.metadata.name_or_empty()),
                e,
            )
        })
        .collect();
    let services: BTreeMap<(&str, &str), &Service> = services
        .into_iter()
        .map(|s| {
            (
                (s.metadata.namespace_or_empty(), s.metadata.name_or_empty()),
                s,
            )
        })
        .collect();

    for ((namespace, name), service) in services {
        if service.spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let Some(cluster_ip) = service
            .spec
            .cluster_ip
            .as_deref()
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
        else {
            // Headless (`None`), unset, or IPv6: nothing to proxy.
            continue;
        };
        let uses_node_ports = matches!(
            service.spec.type_.as_deref(),
            Some("NodePort" | "LoadBalancer")
        );
        let external_ips: Vec<Ipv4Addr> = service
            .spec
            .external_ips
            .iter()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        for port in &service.spec.ports {
            let Some(protocol) = Protocol::from_api(port.protocol.as_deref()) else {
                continue;
            };
            let Ok(service_port) = u16::try_from(port.port) else {
                continue;
            };
            let node_port = port
                .node_port
                .filter(|_| uses_node_ports)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0);
            let spn = ServicePortName {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                port: port.name.clone().unwrap_or_default(),
            };
            let port_rules = PortRules {
                spn,
                protocol,
                cluster_ip,
                service_port,
                node_port,
                external_ips: &external_ips,
                internal_local: service.spec.internal_traffic_policy.as_deref() == Some("Local"),
                external_local: service.spec.external_traffic_policy.as_deref() == Some("Local"),
                health_check_node_port: service
                    .spec
                    .health_check_node_port
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p != 0),
                affinity_seconds: affinity_seconds(service),
            };
            let backends = backends(
                endpoints.get(&(namespace, name)).copied(),
                &port_rules.spn.port,
                protocol,
                node,
            );
            port_rules.write(config, &backends, &mut filter, &mut nat);
        }
    }

    // Must stay the last rule of KUBE-SERVICES: anything addressed to the node itself is
    // checked against the node ports.
    nat.push(
        KUBE_SERVICES,
        rule(
            Some(
                "kubernetes service nodeports; NOTE: this must be the last rule in this chain"
                    .into(),
            ),
            vec![Match::DestinationLocal],
            Target::Jump(KUBE_NODEPORTS.into()),
        ),
    );

    RuleSet {
        node: node.to_owned(),
        filter,
        nat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spn(ns: &str, name: &str, port: &str) -> ServicePortName {
        ServicePortName {
            namespace: ns.into(),
            name: name.into(),
            port: port.into(),
        }
    }

    #[test]
    fn base32_matches_rfc_4648_test_vectors() {
        // RFC 4648 §10 (without the padding).
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn kube_dns_service_chain_name_matches_upstream() {
        // upstream-semantics.md §11: `kube-system/kube-dns:dns` + `udp` → KUBE-SVC-TCOU7JCQXEZGVUNU.
        assert_eq!(
            service_chain(&spn("kube-system", "kube-dns", "dns"), Protocol::Udp),
            "KUBE-SVC-TCOU7JCQXEZGVUNU"
        );
        assert_eq!(
            external_chain(&spn("kube-system", "kube-dns", "dns"), Protocol::Udp),
            "KUBE-EXT-TCOU7JCQXEZGVUNU"
        );
    }

    #[test]
    fn unnamed_ports_have_no_colon_and_chain_names_stay_within_28_characters() {
        let name = spn("default", "web", "");
        assert_eq!(name.to_string(), "default/web");
        let chain = endpoint_chain(
            &name,
            Protocol::Tcp,
            SocketAddrV4::new(Ipv4Addr::new(10, 244, 1, 5), 8080),
        );
        assert_eq!(chain.len(), 25);
        assert!(service_chain(&name, Protocol::Tcp).len() <= 28);
        assert_ne!(
            service_chain(&name, Protocol::Tcp),
            service_chain(&name, Protocol::Udp)
        );
    }

    #[test]
    fn protocol_defaults_to_tcp_and_rejects_unknown_names() {
        assert_eq!(Protocol::from_api(None), Some(Protocol::Tcp));
        assert_eq!(Protocol::from_api(Some("UDP")), Some(Protocol::Udp));
        assert_eq!(Protocol::from_api(Some("udp")), None);
    }
}
