//! The scheduler's picture of the cluster for one scheduling pass: every node with what is
//! already requested on it (upstream `NodeInfo` in the cache snapshot), aggregated once from
//! the bound pods and then changed incrementally as pods are assumed, so a decision never
//! re-sums pods.

use std::collections::BTreeMap;

use skiff_core::object::{Node, Pod, Taint, info};

use super::resources::{PodRequests, Resources, node_allocatable, pod_requests};
use crate::view::View;

/// A host port a pod asks for (upstream `HostPortInfo` entry): protocol, host IP, port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostPort {
    /// `TCP` (the default), `UDP` or `SCTP`.
    pub protocol: String,
    /// Host IP; `0.0.0.0` (the default) binds every address.
    pub ip: String,
    /// The port, above zero.
    pub port: i32,
}

/// Host IP that binds every address (upstream `DefaultBindAllHostIP`).
pub const BIND_ALL_HOST_IP: &str = "0.0.0.0";

impl HostPort {
    /// Whether two host ports cannot be on one node (upstream `HostPortInfo.CheckConflict`):
    /// same protocol and port, and the same IP or either binds every address.
    pub fn conflicts_with(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == BIND_ALL_HOST_IP || other.ip == BIND_ALL_HOST_IP)
    }
}

/// The host ports of a pod's app containers (upstream `getContainerPorts`), with the
/// defaults filled in; ports without a host port are not listed.
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    pod.spec
        .containers
        .iter()
        .flat_map(|c| &c.ports)
        .filter_map(|p| {
            let port = p.host_port.filter(|&h| h > 0)?;
            Some(HostPort {
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
                ip: p
                    .host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| BIND_ALL_HOST_IP.to_owned()),
                port,
            })
        })
        .collect()
}

/// A pod as the scheduler uses it: the object plus what is computed from it once per
/// scheduling attempt.
#[derive(Debug, Clone)]
pub struct PodInfo<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// Its effective and non-zero requests.
    pub requests: PodRequests,
    /// Its host ports.
    pub host_ports: Vec<HostPort>,
}

impl<'a> PodInfo<'a> {
    /// Computes the scheduling facts of `pod`.
    pub fn new(pod: &'a Pod) -> Self {
        Self {
            pod,
            requests: pod_requests(&pod.spec),
            host_ports: host_ports(pod),
        }
    }
}

/// What a pod takes on a node, kept to undo an assumption.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Effective and non-zero requests.
    pub requests: PodRequests,
    /// Host ports.
    pub host_ports: Vec<HostPort>,
}

impl From<&PodInfo<'_>> for Footprint {
    fn from(p: &PodInfo<'_>) -> Self {
        Self {
            requests: p.requests,
            host_ports: p.host_ports.clone(),
        }
    }
}

/// One node and what its pods (bound and assumed) request.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub(crate) name: String,
    pub(crate) resource_version: Option<String>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) unschedulable: bool,
    pub(crate) taints: Vec<Taint>,
    pub(crate) allocatable: Resources,
    pub(crate) allowed_pods: i64,
    pub(crate) requested: Resources,
    pub(crate) non_zero_requested: Resources,
    pub(crate) pods: i64,
    pub(crate) used_ports: Vec<HostPort>,
}

impl NodeInfo {
    /// A node with nothing on it.
    pub fn new(node: &Node) -> Self {
        let (allocatable, allowed_pods) = node_allocatable(&node.status.allocatable);
        Self {
            name: node.metadata.name_or_empty().to_owned(),
            resource_version: node.metadata.resource_version.clone(),
            labels: node.metadata.labels.clone(),
            unschedulable: node.spec.unschedulable.unwrap_or(false),
            taints: node.spec.taints.clone(),
            allocatable,
            allowed_pods,
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            pods: 0,
            used_ports: Vec::new(),
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Allocatable cpu and memory.
    pub fn allocatable(&self) -> Resources {
        self.allocatable
    }

    /// Allocatable pod count.
    pub fn allowed_pods(&self) -> i64 {
        self.allowed_pods
    }

    /// Sum of the effective requests of the node's pods.
    pub fn requested(&self) -> Resources {
        self.requested
    }

    /// Sum of the non-zero requests of the node's pods.
    pub fn non_zero_requested(&self) -> Resources {
        self.non_zero_requested
    }

    /// Number of pods on the node.
    pub fn pod_count(&self) -> i64 {
        self.pods
    }

    /// Host ports in use.
    pub fn used_ports(&self) -> &[HostPort] {
        &self.used_ports
    }

    fn add(&mut self, f: &Footprint) {
        self.requested = self.requested.plus(f.requests.fit);
        self.non_zero_requested = self.non_zero_requested.plus(f.requests.non_zero);
        self.pods += 1;
        for p in &f.host_ports {
            // Kept sorted, so the same pods give the same entry whatever order they came in.
            let at = self.used_ports.partition_point(|u| u <= p);
            self.used_ports.insert(at, p.clone());
        }
    }

    fn remove(&mut self, f: &Footprint) {
        self.requested = self.requested.minus(f.requests.fit);
        self.non_zero_requested = self.non_zero_requested.minus(f.requests.non_zero);
        self.pods -= 1;
        for p in &f.host_ports {
            if let Some(i) = self.used_ports.iter().position(|u| u == p) {
                self.used_ports.remove(i);
            }
        }
    }

    /// Whether anything changed between `self` (earlier) and `later` that could let a pod
    /// fit that did not before: the node object changed, or requests, pods or ports went
    /// down.
    pub(crate) fn may_fit_more_in(&self, later: &NodeInfo) -> bool {
        self.resource_version != later.resource_version
            || later.requested.milli_cpu < self.requested.milli_cpu
            || later.requested.memory < self.requested.memory
            || later.pods < self.pods
            || later.used_ports.len() < self.used_ports.len()
    }
}

/// Whether a pod no longer holds resources (upstream's scheduler informer drops pods in
/// phase `Succeeded` or `Failed`).
pub fn is_terminated(pod: &Pod) -> bool {
    matches!(pod.status.phase.as_deref(), Some("Succeeded" | "Failed"))
}

/// A bound pod counted on a node, as of its resourceVersion (keyed by namespace and name).
#[derive(Debug, Clone, PartialEq)]
struct Counted {
    resource_version: Option<String>,
    node: usize,
    footprint: Footprint,
}

/// Every node, in name order, with the requests of the pods on it.
///
/// # Invariants
///
/// Each node's sums equal the footprints of the `counted` pods on it plus the `overlay`
/// (assumed pods) on it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    nodes: Vec<NodeInfo>,
    by_name: BTreeMap<String, usize>,
    counted: BTreeMap<(String, String), Counted>,
    overlay: Vec<(usize, Footprint)>,
}

/// The node index a pod counts on, if it is bound to a known node and not finished.
fn counts_on(snapshot: &Snapshot, pod: &Pod) -> Option<usize> {
    if is_terminated(pod) {
        return None;
    }
    snapshot.index_of(pod.spec.node_name.as_deref().filter(|n| !n.is_empty())?)
}

impl Snapshot {
    /// The nodes, with the non-terminated pods bound to them counted.
    pub fn new<'a>(
        nodes: impl IntoIterator<Item = &'a Node>,
        pods: impl IntoIterator<Item = &'a Pod>,
    ) -> Self {
        let mut snapshot = Self::nodes_only(nodes);
        for pod in pods {
            if let Some(i) = counts_on(&snapshot, pod) {
                snapshot.count(i, pod);
            }
        }
        snapshot
    }

    fn nodes_only<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> Self {
        let mut sorted: Vec<NodeInfo> = nodes.into_iter().map(NodeInfo::new).collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        sorted.dedup_by(|a, b| a.name == b.name);
        let by_name = sorted
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        Self {
            nodes: sorted,
            by_name,
            counted: BTreeMap::new(),
            overlay: Vec::new(),
        }
    }

    /// Counts `pod` on node `i` and records it.
    fn count(&mut self, i: usize, pod: &Pod) {
        let footprint = Footprint::from(&PodInfo::new(pod));
        self.nodes[i].add(&footprint);
        let key = (
            pod.metadata.namespace_or_empty().to_owned(),
            pod.metadata.name_or_empty().to_owned(),
        );
        self.counted.insert(
            key,
            Counted {
                resource_version: pod.metadata.resource_version.clone(),
                node: i,
                footprint,
            },
        );
    }

    /// The nodes and bound pods of a view.
    pub fn from_view(view: &View) -> Self {
        Self::new(view.list::<Node>(), view.list::<Pod>())
    }

    /// Brings the snapshot to `view` plus the `assumed` pods (node name, footprint), and says
    /// whether a pod that fitted nowhere before may fit now (a node added or changed, or room,
    /// pod slots or ports freed).
    ///
    /// When no node object changed, only the pods whose resourceVersion changed are
    /// recounted: one ordered pass over the view's pods, merged with the counted ones, so
    /// unchanged pods cost a key and version comparison rather than a requests sum.
    pub fn refresh_from_view<'a>(
        &mut self,
        view: &View,
        assumed: impl IntoIterator<Item = (&'a str, &'a Footprint)>,
    ) -> bool {
        let same_nodes = view.count(info::NODE.kind) == self.nodes.len()
            && view.list::<Node>().zip(&self.nodes).all(|(n, known)| {
                n.metadata.name_or_empty() == known.name
                    && n.metadata.resource_version == known.resource_version
            });
        if !same_nodes {
            let mut fresh = Self::from_view(view);
            fresh.assume_all(assumed);
            let more = self.may_fit_more_in(&fresh);
            *self = fresh;
            return more;
        }
        let before: Vec<(Resources, i64, usize)> = self
            .nodes
            .iter()
            .map(|n| (n.requested, n.pods, n.used_ports.len()))
            .collect();
        for (i, footprint) in std::mem::take(&mut self.overlay) {
            self.nodes[i].remove(&footprint);
        }
        self.merge_pods(view);
        self.assume_all(assumed);
        self.nodes
            .iter()
            .zip(before)
            .any(|(n, (requested, pods, ports))| {
                n.requested.milli_cpu < requested.milli_cpu
                    || n.requested.memory < requested.memory
                    || n.pods < pods
                    || n.used_ports.len() < ports
            })
    }

    /// Recounts the pods that changed since the last refresh (added, removed, or another
    /// resourceVersion), walking the view's pods and `counted` together in key order.
    fn merge_pods(&mut self, view: &View) {
        // One ordered pass that only reads; the few changes are applied after it, so an
        // unchanged pod costs a key and version comparison and no allocation.
        let mut gone: Vec<(String, String)> = Vec::new();
        let mut recount: Vec<&Pod> = Vec::new();
        let mut old = self.counted.iter().peekable();
        for pod in view.list::<Pod>() {
            let key = (
                pod.metadata.namespace_or_empty(),
                pod.metadata.name_or_empty(),
            );
            while let Some((k, _)) = old.next_if(|(k, _)| (k.0.as_str(), k.1.as_str()) < key) {
                gone.push(k.clone());
            }
            match old.next_if(|(k, _)| (k.0.as_str(), k.1.as_str()) == key) {
                // Same resourceVersion, same object: same node (the node list is unchanged),
                // same footprint.
                Some((_, c)) if c.resource_version == pod.metadata.resource_version => {}
                Some((k, _)) => {
                    gone.push(k.clone());
                    recount.push(pod);
                }
                None => recount.push(pod),
            }
        }
        gone.extend(old.map(|(k, _)| k.clone()));
        for key in gone {
            if let Some(c) = self.counted.remove(&key) {
                self.nodes[c.node].remove(&c.footprint);
            }
        }
        for pod in recount {
            if let Some(i) = counts_on(self, pod) {
                self.count(i, pod);
            }
        }
    }

    /// Applies one observed change of the pod `namespace/name` — now `pod`, or `None` when it
    /// was deleted — as upstream's scheduler cache applies its pod events, so the snapshot
    /// follows the view without walking it. `settled` is an assumption of that pod to drop
    /// (node name and footprint): its binding is now observed, or the pod is gone.
    ///
    /// Returns whether a node freed room (its requests, pod count or ports went down): a
    /// cluster event for the pods waiting after a failure.
    pub fn observe_pod(
        &mut self,
        namespace: &str,
        name: &str,
        pod: Option<&Pod>,
        settled: Option<(&str, &Footprint)>,
    ) -> bool {
        let key = (namespace.to_owned(), name.to_owned());
        let unchanged = match (self.counted.get(&key), pod) {
            (Some(c), Some(p)) => c.resource_version == p.metadata.resource_version,
            (None, Some(p)) => counts_on(self, p).is_none(),
            (_, None) => false,
        };
        if unchanged && settled.is_none() {
            return false;
        }
        let mut touched: Vec<(usize, (Resources, i64, usize))> = Vec::new();
        let mut touch = |nodes: &[NodeInfo], i: usize| {
            if !touched.iter().any(|(j, _)| *j == i) {
                let n = &nodes[i];
                touched.push((i, (n.requested, n.pods, n.used_ports.len())));
            }
        };
        if let Some((node, footprint)) = settled
            && let Some(i) = self.index_of(node)
        {
            touch(&self.nodes, i);
            self.forget(i, footprint);
        }
        if !unchanged {
            if let Some(c) = self.counted.remove(&key) {
                touch(&self.nodes, c.node);
                self.nodes[c.node].remove(&c.footprint);
            }
            if let Some(p) = pod
                && let Some(i) = counts_on(self, p)
            {
                self.count(i, p);
            }
        }
        touched.into_iter().any(|(i, (requested, pods, ports))| {
            let n = &self.nodes[i];
            n.requested.milli_cpu < requested.milli_cpu
                || n.requested.memory < requested.memory
                || n.pods < pods
                || n.used_ports.len() < ports
        })
    }

    /// Applies one observed change of a known node in place (labels, taints,
    /// unschedulable, allocatable; what its pods request is kept). Returns whether a pod
    /// may fit now that did not before (the node object changed), or `None` when the node is
    /// not in the snapshot: a node added (or renamed) needs [`Snapshot::refresh_from_view`].
    pub fn observe_node(&mut self, node: &Node) -> Option<bool> {
        let i = self.index_of(node.metadata.name_or_empty())?;
        let n = &mut self.nodes[i];
        if n.resource_version == node.metadata.resource_version {
            return Some(false);
        }
        let fresh = NodeInfo::new(node);
        n.resource_version = fresh.resource_version;
        n.labels = fresh.labels;
        n.unschedulable = fresh.unschedulable;
        n.taints = fresh.taints;
        n.allocatable = fresh.allocatable;
        n.allowed_pods = fresh.allowed_pods;
        Some(true)
    }

    fn assume_all<'a>(&mut self, assumed: impl IntoIterator<Item = (&'a str, &'a Footprint)>) {
        for (node, footprint) in assumed {
            if let Some(i) = self.index_of(node) {
                self.assume(i, footprint);
            }
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node at `index` (name order).
    pub fn node(&self, index: usize) -> &NodeInfo {
        &self.nodes[index]
    }

    /// Every node, in name order.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// The index of the node called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Counts a pod on a node (an assumed pod, before its binding is observed).
    pub fn assume(&mut self, index: usize, footprint: &Footprint) {
        self.nodes[index].add(footprint);
        self.overlay.push((index, footprint.clone()));
    }

    /// Takes a pod counted by [`Snapshot::assume`] off its node again.
    pub fn forget(&mut self, index: usize, footprint: &Footprint) {
        if let Some(at) = self
            .overlay
            .iter()
            .rposition(|(i, f)| *i == index && f == footprint)
        {
            self.overlay.remove(at);
            self.nodes[index].remove(footprint);
        }
    }

    /// Whether `later` could fit a pod that `self` could not: a node was added or changed, or
    /// one freed resources or ports.
    pub fn may_fit_more_in(&self, later: &Snapshot) -> bool {
        later.nodes.iter().any(|n| match self.index_of(&n.name) {
            None => true,
            Some(i) => self.nodes[i].may_fit_more_in(n),
        })
    }
}
