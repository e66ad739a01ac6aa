//! Pod networking: node IPAM and pod IP allocation.
//!
//! - [`NodeIpamController`] is upstream's node IPAM controller with the `RangeAllocator`
//!   (kube-controller-manager `--allocate-node-cidrs --cluster-cidr=10.244.0.0/16
//!   --node-cidr-mask-size=24`): every Node without `spec.podCIDR` gets the lowest free /24 of
//!   the cluster CIDR. A deleted node's range is free again as soon as the node is gone from
//!   the view.
//! - [`PodIpPool`] hands out pod IPs inside a node's podCIDR, lowest free first from `.2`
//!   (`.0` is the network, `.1` the node's bridge/gateway as with the bridge CNI plugin, the
//!   last address the broadcast); the kubelet releases an IP with the pod's sandbox.
//! - [`node_for_ip`] routes: every pod IP belongs to exactly one node's podCIDR, so every pod
//!   can reach every pod (seed §8) by sending to the node that owns the address.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::SystemTime;

use skiff_core::client::ClientError;
use skiff_core::object::{HasKindInfo, Node, Object};

use crate::reconcile::{Action, Controller, EventType, Output, Watched, event};
use crate::view::{ObjectKey, View};

/// An IPv4 network, `10.244.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix: u8,
}

/// Why a CIDR did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CidrError {}

impl Ipv4Cidr {
    /// The network `address/prefix`; host bits of `address` are cleared.
    ///
    /// # Errors
    /// If `prefix` is above 32.
    pub fn new(address: Ipv4Addr, prefix: u8) -> Result<Self, CidrError> {
        if prefix > 32 {
            return Err(CidrError(format!(
                "invalid CIDR address: {address}/{prefix}"
            )));
        }
        Ok(Self {
            network: Ipv4Addr::from(u32::from(address) & Self::mask_of(prefix)),
            prefix,
        })
    }

    const fn mask_of(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        }
    }

    /// The network address.
    pub fn network(self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(self) -> u8 {
        self.prefix
    }

    /// How many addresses the network holds.
    pub fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// Whether `ip` is inside the network.
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask_of(self.prefix) == u32::from(self.network)
    }

    /// Whether `other` lies entirely inside this network.
    pub fn covers(self, other: Ipv4Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.network)
    }

    /// The `index`-th address of the network (`0` is the network address), if inside.
    pub fn nth(self, index: u64) -> Option<Ipv4Addr> {
        (index < self.size())
            .then(|| u32::try_from(index).ok())
            .flatten()
            .map(|i| Ipv4Addr::from(u32::from(self.network) + i))
    }

    /// The `index`-th subnet of length `prefix` inside the network.
    pub fn subnet(self, prefix: u8, index: u64) -> Option<Ipv4Cidr> {
        if prefix < self.prefix || prefix > 32 {
            return None;
        }
        let count = 1u64 << (prefix - self.prefix);
        if index >= count {
            return None;
        }
        let offset = u32::try_from(index << (32 - u32::from(prefix))).ok()?;
        Ipv4Cidr::new(Ipv4Addr::from(u32::from(self.network) + offset), prefix).ok()
    }

    /// Which subnet of length `prefix` `other` is (its index), when it is exactly one.
    fn subnet_index(self, prefix: u8, other: Ipv4Cidr) -> Option<u64> {
        (other.prefix == prefix && self.covers(other)).then(|| {
            u64::from(u32::from(other.network) - u32::from(self.network))
                >> (32 - u32::from(prefix))
        })
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;

    /// Parses `a.b.c.d/n` (host bits set are an error, as upstream's `net.ParseCIDR` users
    /// that require a network address report).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || CidrError(format!("invalid CIDR address: {s}"));
        let (address, prefix) = s.split_once('/').ok_or_else(invalid)?;
        let address: Ipv4Addr = address.parse().map_err(|_| invalid())?;
        if prefix.is_empty() || prefix.len() > 2 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        let cidr = Ipv4Cidr::new(address, prefix).map_err(|_| invalid())?;
        if cidr.network != address {
            return Err(invalid());
        }
        Ok(cidr)
    }
}

/// The cluster CIDR skiff uses by default: `10.244.0.0/16` (kubeadm with flannel's
/// `--pod-network-cidr`).
pub const DEFAULT_CLUSTER_CIDR: Ipv4Cidr = Ipv4Cidr {
    network: Ipv4Addr::new(10, 244, 0, 0),
    prefix: 16,
};

/// `127.0.0.0/8`, the loopback network.
pub const LOOPBACK: Ipv4Cidr = Ipv4Cidr {
    network: Ipv4Addr::new(127, 0, 0, 0),
    prefix: 8,
};

/// Upstream's default `--node-cidr-mask-size` for IPv4: each node gets a /24.
pub const DEFAULT_NODE_CIDR_MASK_SIZE: u8 = 24;

/// The node IPAM controller (upstream `pkg/controller/nodeipam`, `RangeAllocator`): assigns
/// each Node without `spec.podCIDR` the lowest free subnet of the cluster CIDR.
///
/// Allocation is deterministic: nodes waiting for a range get them in node-name order, so the
/// same view always gives the same assignment whatever order the keys are reconciled in.
/// Ranges this controller has written but not yet seen back in its view are remembered
/// (`assumed`), so two nodes reconciled before the view catches up never get the same range.
#[derive(Debug, Clone)]
pub struct NodeIpamController {
    cluster_cidr: Ipv4Cidr,
    node_mask: u8,
    assumed: BTreeMap<String, Ipv4Cidr>,
    reported_full: BTreeSet<String>,
}

impl Default for NodeIpamController {
    fn default() -> Self {
        Self {
            cluster_cidr: DEFAULT_CLUSTER_CIDR,
            node_mask: DEFAULT_NODE_CIDR_MASK_SIZE,
            assumed: BTreeMap::new(),
            reported_full: BTreeSet::new(),
        }
    }
}

impl NodeIpamController {
    /// A controller handing out `/node_mask` subnets of `cluster_cidr`.
    ///
    /// # Errors
    /// If `node_mask` is shorter than the cluster CIDR's prefix or longer than 30 (a node
    /// range needs room for a gateway and at least one pod).
    pub fn new(cluster_cidr: Ipv4Cidr, node_mask: u8) -> Result<Self, CidrError> {
        if node_mask < cluster_cidr.prefix() || node_mask > 30 {
            return Err(CidrError(format!(
                "--node-cidr-mask-size {node_mask} does not fit the cluster CIDR {cluster_cidr}"
            )));
        }
        Ok(Self {
            cluster_cidr,
            node_mask,
            ..Self::default()
        })
    }

    /// The ranges written but not yet observed, by node name.
    pub fn assumed(&self) -> &BTreeMap<String, Ipv4Cidr> {
        &self.assumed
    }

    fn pod_cidr(node: &Node) -> Option<&str> {
        node.spec
            .pod_cidr
            .as_deref()
            .filter(|c| !c.is_empty())
            .or_else(|| node.spec.pod_cidrs.first().map(String::as_str))
    }

    /// The subnet index a node's podCIDR occupies in the cluster CIDR, if any.
    fn occupied(&self, node: &Node) -> Vec<u64> {
        let mut cidrs: Vec<&str> = node.spec.pod_cidrs.iter().map(String::as_str).collect();
        cidrs.extend(node.spec.pod_cidr.as_deref());
        cidrs
            .into_iter()
            .filter_map(|c| c.parse::<Ipv4Cidr>().ok())
            .filter_map(|c| self.cluster_cidr.subnet_index(self.node_mask, c))
            .collect()
    }

    /// What each node still waiting gets, in node-name order, given the view.
    fn plan(&self, view: &View) -> BTreeMap<String, Option<Ipv4Cidr>> {
        let mut used: BTreeSet<u64> = view.list::<Node>().flat_map(|n| self.occupied(n)).collect();
        used.extend(
            self.assumed
                .values()
                .filter_map(|c| self.cluster_cidr.subnet_index(self.node_mask, *c)),
        );
        let count = 1u64 << (self.node_mask - self.cluster_cidr.prefix());
        let mut next = 0u64;
        let mut plan = BTreeMap::new();
        for node in view.list::<Node>() {
            let name = node.metadata.name_or_empty();
            if Self::pod_cidr(node).is_some() || self.assumed.contains_key(name) {
                continue;
            }
            while used.contains(&next) {
                next += 1;
            }
            let range = (next < count)
                .then(|| self.cluster_cidr.subnet(self.node_mask, next))
                .flatten();
            if range.is_some() {
                used.insert(next);
            }
            plan.insert(name.to_owned(), range);
        }
        plan
    }

    /// Forgets assumed ranges the view now shows (or whose node is gone).
    fn observe(&mut self, view: &View) {
        self.assumed.retain(|name, _| {
            view.get::<Node>("", name)
                .is_some_and(|n| Self::pod_cidr(n).is_none())
        });
        self.reported_full.retain(|name| {
            view.get::<Node>("", name)
                .is_some_and(|n| Self::pod_cidr(n).is_none())
        });
    }
}

impl Controller for NodeIpamController {
    fn name(&self) -> &'static str {
        "node-ipam-controller"
    }

    fn watches(&self) -> Vec<Watched> {
        vec![Watched::all(&Node::INFO)]
    }

    fn keys_for(&self, view: &View, object: &Object) -> Vec<ObjectKey> {
        // The node itself; and, when a range may have been freed — the node is gone from the
        // view, or the view's copy lost the range this object held — every node still waiting
        // for one. A node added or updated frees nothing: requeueing every waiting node on
        // each such event made registering n nodes cost n³.
        let own = ObjectKey::of(object);
        let mut keys = vec![own.clone()];
        let Object::Node(node) = object else {
            return keys;
        };
        let freed = match view.get::<Node>("", &own.name) {
            None => true,
            Some(now) => Self::pod_cidr(node).is_some() && Self::pod_cidr(now).is_none(),
        };
        if !freed {
            return keys;
        }
        keys.extend(
            view.list::<Node>()
                .filter(|n| Self::pod_cidr(n).is_none())
                .map(|n| ObjectKey::new("", n.metadata.name_or_empty()))
                .filter(|k| *k != own),
        );
        keys
    }

    fn resync_keys(&self, view: &View) -> Vec<ObjectKey> {
        view.list::<Node>()
            .map(|n| ObjectKey::new("", n.metadata.name_or_empty()))
            .collect()
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, now: SystemTime) -> Output {
        self.observe(view);
        let Some(node) = view.get::<Node>("", &key.name) else {
            return Output::none();
        };
        if Self::pod_cidr(node).is_some() || self.assumed.contains_key(&key.name) {
            return Output::none();
        }
        match self.plan(view).remove(&key.name).flatten() {
            Some(range) => {
                let mut updated = node.clone();
                updated.spec.pod_cidr = Some(range.to_string());
                updated.spec.pod_cidrs = vec![range.to_string()];
                self.assumed.insert(key.name.clone(), range);
                Output {
                    actions: vec![Action::Update(updated.into())],
                    requeue_after: None,
                }
            }
            None if self.reported_full.insert(key.name.clone()) => {
                // upstream RangeAllocator: `RecordNodeStatusChange(node, "CIDRNotAvailable")`.
                let object: Object = node.clone().into();
                Output {
                    actions: vec![event(
                        &object,
                        EventType::Normal,
                        "CIDRNotAvailable",
                        format!("Node {} status is now: CIDRNotAvailable", key.name),
                        self.name(),
                        now,
                    )],
                    requeue_after: None,
                }
            }
            None => Output::none(),
        }
    }

    fn action_failed(&mut self, key: &ObjectKey, action: &Action, _error: &ClientError) {
        if matches!(action, Action::Update(_)) {
            self.assumed.remove(&key.name);
        }
    }
}

/// The pod IPs of one node's podCIDR: lowest free first, from the network address + 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodIpPool {
    cidr: Ipv4Cidr,
    used: BTreeSet<Ipv4Addr>,
}

impl PodIpPool {
    /// An empty pool over `cidr` (a node's podCIDR).
    pub fn new(cidr: Ipv4Cidr) -> Self {
        Self {
            cidr,
            used: BTreeSet::new(),
        }
    }

    /// A pool with `used` already taken (a kubelet restarting with its pods' IPs).
    pub fn with_used(cidr: Ipv4Cidr, used: impl IntoIterator<Item = Ipv4Addr>) -> Self {
        Self {
            cidr,
            used: used.into_iter().filter(|ip| cidr.contains(*ip)).collect(),
        }
    }

    /// The pool's range.
    pub fn cidr(&self) -> Ipv4Cidr {
        self.cidr
    }

    /// The addresses in use, in order.
    pub fn used(&self) -> &BTreeSet<Ipv4Addr> {
        &self.used
    }

    /// Takes the lowest free address (from `.2`, never the broadcast address); `None` when
    /// the range is full.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        let ip = allocate_pod_ip(self.cidr, &self.used)?;
        self.used.insert(ip);
        Some(ip)
    }

    /// Gives `ip` back (the pod's sandbox is gone); returns whether it was in use.
    pub fn release(&mut self, ip: Ipv4Addr) -> bool {
        self.used.remove(&ip)
    }
}

/// The lowest free pod IP of `cidr` given the addresses `used`: from the network address + 2
/// up to the one before the broadcast address.
pub fn allocate_pod_ip(cidr: Ipv4Cidr, used: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let last = cidr.size().checked_sub(2)?;
    (2..=last)
        .filter_map(|i| cidr.nth(i))
        .find(|ip| !used.contains(ip))
}

/// The node whose podCIDR holds `ip`: where a packet to a pod goes.
pub fn node_for_ip<'a>(nodes: impl IntoIterator<Item = &'a Node>, ip: Ipv4Addr) -> Option<&'a str> {
    nodes.into_iter().find_map(|n| {
        let cidr: Ipv4Cidr = NodeIpamController::pod_cidr(n)?.parse().ok()?;
        cidr.contains(ip).then(|| n.metadata.name_or_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn node(name: &str, cidr: Option<&str>, rv: u64) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some(name.into());
        n.metadata.resource_version = Some(rv.to_string());
        n.spec.pod_cidr = cidr.map(Into::into);
        n.spec.pod_cidrs = cidr.map(|c| vec![c.to_owned()]).unwrap_or_default();
        n
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn updated_cidr(output: &Output) -> Vec<(String, String, String)> {
        output
            .actions
            .iter()
            .map(|a| match a {
                Action::Update(Object::Node(n)) => (
                    n.metadata.name.clone().unwrap(),
                    n.spec.pod_cidr.clone().unwrap(),
                    n.metadata.resource_version.clone().unwrap(),
                ),
                other => panic!("unexpected action {}", other.describe()),
            })
            .collect()
    }

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new("", name)
    }

    #[test]
    fn cidrs_parse_print_and_split() {
        let c: Ipv4Cidr = "10.244.0.0/16".parse().unwrap();
        assert_eq!(c, DEFAULT_CLUSTER_CIDR);
        assert_eq!(c.to_string(), "10.244.0.0/16");
        assert_eq!(c.subnet(24, 3).unwrap().to_string(), "10.244.3.0/24");
        assert_eq!(c.subnet(24, 256), None);
        assert!(c.contains(Ipv4Addr::new(10, 244, 255, 255)));
        assert!(!c.contains(Ipv4Addr::new(10, 245, 0, 0)));
        assert_eq!(
            "10.244.1.0/33".parse::<Ipv4Cidr>().unwrap_err().to_string(),
            "invalid CIDR address: 10.244.1.0/33"
        );
        assert_eq!(
            "10.244.1.7/24".parse::<Ipv4Cidr>().unwrap_err().to_string(),
            "invalid CIDR address: 10.244.1.7/24"
        );
        assert!("10.244.1.0".parse::<Ipv4Cidr>().is_err());
        assert!("10.244.1.0/+8".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn nodes_without_a_pod_cidr_get_the_lowest_free_24_in_name_order() {
        let mut view = View::new();
        view.insert(node("node-b", None, 11).into());
        view.insert(node("node-a", None, 10).into());
        view.insert(node("master", Some("10.244.0.0/24"), 9).into());
        let mut ipam = NodeIpamController::default();
        // node-b is reconciled first but node-a comes first by name.
        let out = ipam.reconcile(&view, &key("node-b"), now());
        assert_eq!(
            updated_cidr(&out),
            [("node-b".into(), "10.244.2.0/24".into(), "11".into())]
        );
        let out = ipam.reconcile(&view, &key("node-a"), now());
        assert_eq!(
            updated_cidr(&out),
            [("node-a".into(), "10.244.1.0/24".into(), "10".into())]
        );
        // Before the view catches up, nothing is handed out twice.
        assert_eq!(ipam.reconcile(&view, &key("node-a"), now()), Output::none());
        assert_eq!(ipam.reconcile(&view, &key("master"), now()), Output::none());
        let Action::Update(Object::Node(n)) = &out.actions[0] else {
            unreachable!()
        };
        assert_eq!(n.spec.pod_cidrs, ["10.244.1.0/24"]);
    }

    #[test]
    fn a_deleted_nodes_range_is_reused_once_it_is_gone_from_the_view() {
        let mut view = View::new();
        view.insert(node("n1", Some("10.244.0.0/24"), 1).into());
        view.insert(node("n2", Some("10.244.1.0/24"), 2).into());
        view.insert(node("n3", Some("10.244.2.0/24"), 3).into());
        let mut ipam = NodeIpamController::default();
        view.remove(&node("n2", Some("10.244.1.0/24"), 4).into());
        view.insert(node("n4", None, 5).into());
        let out = ipam.reconcile(&view, &key("n4"), now());
        assert_eq!(
            updated_cidr(&out),
            [("n4".into(), "10.244.1.0/24".into(), "5".into())]
        );
        // The update is seen back: the assumption is dropped, nothing more to do.
        view.insert(node("n4", Some("10.244.1.0/24"), 6).into());
        assert_eq!(ipam.reconcile(&view, &key("n4"), now()), Output::none());
        assert!(ipam.assumed().is_empty());
    }

    #[test]
    fn a_failed_update_frees_the_assumed_range() {
        let mut view = View::new();
        view.insert(node("n1", None, 1).into());
        let mut ipam = NodeIpamController::default();
        let out = ipam.reconcile(&view, &key("n1"), now());
        assert_eq!(ipam.assumed().len(), 1);
        ipam.action_failed(
            &key("n1"),
            &out.actions[0],
            &ClientError::Transport("reset".into()),
        );
        assert!(ipam.assumed().is_empty());
        assert_eq!(
            updated_cidr(&ipam.reconcile(&view, &key("n1"), now())),
            [("n1".into(), "10.244.0.0/24".into(), "1".into())]
        );
    }

    #[test]
    fn an_exhausted_cluster_cidr_is_reported_once_per_node() {
        let cidr: Ipv4Cidr = "10.0.0.0/23".parse().unwrap();
        let mut ipam = NodeIpamController::new(cidr, 24).unwrap();
        let mut view = View::new();
        view.insert(node("a", Some("10.0.0.0/24"), 1).into());
        view.insert(node("b", Some("10.0.1.0/24"), 2).into());
        view.insert(node("c", None, 3).into());
        let out = ipam.reconcile(&view, &key("c"), now());
        let [Action::Create(Object::Event(e))] = &out.actions[..] else {
            panic!("{out:?}")
        };
        assert_eq!(e.reason.as_deref(), Some("CIDRNotAvailable"));
        assert_eq!(
            e.message.as_deref(),
            Some("Node c status is now: CIDRNotAvailable")
        );
        assert_eq!(ipam.reconcile(&view, &key("c"), now()), Output::none());
        // b leaves: c is named as a key to reconcile, and gets b's range.
        let gone: Object = node("b", Some("10.0.1.0/24"), 4).into();
        view.remove(&gone);
        assert_eq!(ipam.keys_for(&view, &gone), [key("b"), key("c")]);
        assert_eq!(
            updated_cidr(&ipam.reconcile(&view, &key("c"), now())),
            [("c".into(), "10.0.1.0/24".into(), "3".into())]
        );
    }

    #[test]
    fn a_node_added_or_updated_queues_only_itself_and_one_losing_its_range_queues_the_waiting() {
        let mut view = View::new();
        view.insert(node("a", Some("10.244.0.0/24"), 1).into());
        view.insert(node("b", None, 2).into());
        view.insert(node("c", None, 3).into());
        let ipam = NodeIpamController::default();
        let added: Object = node("d", None, 4).into();
        view.insert(added.clone());
        assert_eq!(ipam.keys_for(&view, &added), [key("d")]);
        let updated: Object = node("a", Some("10.244.0.0/24"), 5).into();
        view.insert(updated.clone());
        assert_eq!(ipam.keys_for(&view, &updated), [key("a")]);
        // The old copy held a range the view's copy no longer has: it was freed.
        let old: Object = node("a", Some("10.244.0.0/24"), 5).into();
        view.insert(node("a", None, 6).into());
        assert_eq!(
            ipam.keys_for(&view, &old),
            [key("a"), key("b"), key("c"), key("d")]
        );
    }

    #[test]
    fn node_mask_must_fit_the_cluster_cidr() {
        assert_eq!(
            NodeIpamController::new(DEFAULT_CLUSTER_CIDR, 8)
                .unwrap_err()
                .to_string(),
            "--node-cidr-mask-size 8 does not fit the cluster CIDR 10.244.0.0/16"
        );
    }

    #[test]
    fn pod_ips_start_at_dot_two_and_are_reused_after_release() {
        let mut pool = PodIpPool::new("10.244.1.0/24".parse().unwrap());
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(10, 244, 1, 2)));
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(10, 244, 1, 3)));
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(10, 244, 1, 4)));
        assert!(pool.release(Ipv4Addr::new(10, 244, 1, 3)));
        assert!(!pool.release(Ipv4Addr::new(10, 244, 1, 3)));
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(10, 244, 1, 3)));
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(10, 244, 1, 5)));
    }

    #[test]
    fn a_full_pod_range_allocates_nothing_and_skips_the_broadcast_address() {
        // A /30 has .0 network, .1 gateway, .2 the one pod, .3 broadcast.
        let mut pool = PodIpPool::new("10.244.7.0/30".parse().unwrap());
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(10, 244, 7, 2)));
        assert_eq!(pool.allocate(), None);
        let restarted = PodIpPool::with_used(
            "10.244.7.0/30".parse().unwrap(),
            [Ipv4Addr::new(10, 244, 7, 2), Ipv4Addr::new(10, 9, 9, 9)],
        );
        assert_eq!(restarted.used().len(), 1);
    }

    #[test]
    fn pod_ips_route_to_the_node_owning_their_range() {
        let nodes = [
            node("n1", Some("10.244.0.0/24"), 1),
            node("n2", Some("10.244.1.0/24"), 2),
            node("n3", None, 3),
        ];
        assert_eq!(
            node_for_ip(&nodes, Ipv4Addr::new(10, 244, 1, 9)),
            Some("n2")
        );
        assert_eq!(
            node_for_ip(&nodes, Ipv4Addr::new(10, 244, 0, 2)),
            Some("n1")
        );
        assert_eq!(node_for_ip(&nodes, Ipv4Addr::new(10, 244, 2, 2)), None);
    }
}
