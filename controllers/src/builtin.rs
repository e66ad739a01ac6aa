//! The built-in control plane as upstream ships it: the kube-controller-manager's controllers
//! under one leader lease, and the scheduler under its own (`kube-scheduler`). `skiff up`, the
//! embedding facade and the simulator all start the control plane from here, so the three run
//! the same set.

use std::time::Duration;

use crate::daemonset::DaemonSetController;
use crate::deployment::DeploymentController;
use crate::endpoints::EndpointsController;
use crate::gc::{GarbageCollector, PodGcController};
use crate::namespace::NamespaceController;
use crate::nodelifecycle::{self, NodeLifecycleController};
use crate::proxy::ipam::{
    DEFAULT_CLUSTER_CIDR, DEFAULT_NODE_CIDR_MASK_SIZE, Ipv4Cidr, NodeIpamController,
};
use crate::replicaset::{ReplicaSetController, ReplicationManager};
use crate::runtime::Manager;
use crate::serviceaccount::ServiceAccountController;

/// The controller manager's lease (`kube-system/kube-controller-manager`, as upstream).
pub const CONTROLLER_MANAGER: &str = "kube-controller-manager";

/// Settings of the built-in controllers that differ between a real cluster, a test and the
/// simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneConfig {
    /// Node lifecycle settings (grace period 40 s as in the seed; upstream now 50 s).
    pub node_lifecycle: nodelifecycle::Config,
    /// Allocate pod CIDRs to nodes (`--allocate-node-cidrs`); on by default.
    pub allocate_node_cidrs: bool,
    /// The range node pod CIDRs are cut from (`--cluster-cidr`, default `10.244.0.0/16`).
    pub cluster_cidr: Ipv4Cidr,
    /// The prefix length of each node's range (`--node-cidr-mask-size`, default 24): the
    /// cluster holds `2^(mask − cluster prefix)` nodes with a range (256 by default); the
    /// rest wait, with a `CIDRNotAvailable` event, as upstream's range allocator leaves them.
    /// A mask that does not fit the cluster CIDR leaves node IPAM off (logged).
    pub node_cidr_mask_size: u8,
    /// The kinds served: the garbage collector watches the custom ones too.
    pub kinds: skiff_core::object::KindRegistry,
}

impl Default for ControlPlaneConfig {
    fn default() -> Self {
        Self {
            node_lifecycle: nodelifecycle::Config::default(),
            allocate_node_cidrs: true,
            cluster_cidr: DEFAULT_CLUSTER_CIDR,
            node_cidr_mask_size: DEFAULT_NODE_CIDR_MASK_SIZE,
            kinds: skiff_core::object::KindRegistry::builtin(),
        }
    }
}

impl ControlPlaneConfig {
    /// The config with node lifecycle's grace period set to `grace`.
    #[must_use]
    pub fn with_node_grace_period(mut self, grace: Duration) -> Self {
        self.node_lifecycle.grace_period = grace;
        self
    }
}

/// kube-controller-manager: ReplicaSet, ReplicationController, Deployment, DaemonSet, node
/// lifecycle, node IPAM, Endpoints, Namespace, garbage collector, pod GC and ServiceAccount
/// controllers, run by one loop under the `kube-controller-manager` lease.
pub fn controller_manager(config: &ControlPlaneConfig) -> Manager {
    let mut manager = Manager::new(CONTROLLER_MANAGER)
        .with(ReplicaSetController)
        .with(ReplicationManager)
        .with(DeploymentController)
        .with(DaemonSetController::default())
        .with(NodeLifecycleController::new(config.node_lifecycle.clone()))
        .with(EndpointsController)
        .with(NamespaceController {
            kinds: config.kinds.clone(),
        })
        .with(GarbageCollector {
            config: crate::gc::GcConfig {
                kinds: config.kinds.clone(),
                ..crate::gc::GcConfig::default()
            },
            ..GarbageCollector::default()
        })
        .with(PodGcController::default())
        .with(ServiceAccountController);
    if config.allocate_node_cidrs {
        match NodeIpamController::new(config.cluster_cidr, config.node_cidr_mask_size) {
            Ok(ipam) => manager = manager.with(ipam),
            Err(e) => tracing::error!(error = %e, "node IPAM is off"),
        }
    }
    manager
}

/// kube-scheduler under its `kube-scheduler` lease, ties broken by draws seeded with `seed`.
pub fn scheduler(seed: u64) -> Manager {
    crate::scheduler::manager(seed)
}

/// The pod network of in-process nodes: on every change of Services, Endpoints, Nodes or
/// Pods it recomputes the cluster's kube-proxy rules and addresses and hands them to the
/// simulated runtimes' shared network (what kube-proxy programming iptables on every node
/// amounts to). It writes nothing to the API.
pub struct PodNetwork {
    network: std::sync::Arc<crate::cri::network::SimCluster>,
    config: crate::proxy::Config,
}

impl std::fmt::Debug for PodNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodNetwork").finish_non_exhaustive()
    }
}

impl PodNetwork {
    /// Programs `network` with upstream kube-proxy's default settings.
    pub fn new(network: std::sync::Arc<crate::cri::network::SimCluster>) -> Self {
        Self {
            network,
            config: crate::proxy::Config::default(),
        }
    }
}

impl crate::reconcile::Controller for PodNetwork {
    fn name(&self) -> &'static str {
        "pod-network"
    }

    fn watches(&self) -> Vec<crate::reconcile::Watched> {
        use skiff_core::object::info;
        [&info::SERVICE, &info::ENDPOINTS, &info::NODE, &info::POD]
            .into_iter()
            .map(crate::reconcile::Watched::all)
            .collect()
    }

    fn keys_for(
        &self,
        _view: &crate::view::View,
        _object: &skiff_core::object::Object,
    ) -> Vec<crate::view::ObjectKey> {
        vec![crate::view::ObjectKey::default()]
    }

    fn resync_keys(&self, _view: &crate::view::View) -> Vec<crate::view::ObjectKey> {
        vec![crate::view::ObjectKey::default()]
    }

    fn reconcile(
        &mut self,
        view: &crate::view::View,
        _key: &crate::view::ObjectKey,
        _now: std::time::SystemTime,
    ) -> crate::reconcile::Output {
        self.network
            .set_network(crate::proxy::dataplane::ClusterNetwork::from_view(
                view,
                &self.config,
                crate::proxy::dns::ClusterDns::default(),
            ));
        crate::reconcile::Output::none()
    }
}

/// One in-process worker node: a kubelet agent over a simulated container runtime joined to
/// `network`. `index` (from 1) gives the node its address `10.0.0.(10 + index)`; its
/// runtime's ids are drawn from `seed`. Run the agent (`Agent::run`) with a client acting as
/// `system:node:<name>`.
pub fn sim_node(
    name: &str,
    index: u8,
    seed: u64,
    clock: std::sync::Arc<dyn skiff_core::clock::Clock>,
    client: std::sync::Arc<dyn skiff_core::client::Client>,
    network: &std::sync::Arc<crate::cri::network::SimCluster>,
) -> (
    crate::kubelet::agent::Agent,
    std::sync::Arc<crate::cri::sim::SimRuntime>,
) {
    sim_node_on_port(
        name,
        index,
        skiff_core::kubelet_api::KUBELET_PORT,
        seed,
        clock,
        client,
        network,
    )
}

/// [`sim_node`] whose kubelet reports its node API on `kubelet_port` (in
/// `status.daemonEndpoints.kubeletEndpoint.port`): an in-process node whose
/// [`NodeServer`](crate::kubelet::server::NodeServer) listens on a port picked at start.
pub fn sim_node_on_port(
    name: &str,
    index: u8,
    kubelet_port: u16,
    seed: u64,
    clock: std::sync::Arc<dyn skiff_core::clock::Clock>,
    client: std::sync::Arc<dyn skiff_core::client::Client>,
    network: &std::sync::Arc<crate::cri::network::SimCluster>,
) -> (
    crate::kubelet::agent::Agent,
    std::sync::Arc<crate::cri::sim::SimRuntime>,
) {
    let ip = std::net::Ipv4Addr::new(10, 0, 0, 10_u8.saturating_add(index));
    let runtime = std::sync::Arc::new(crate::cri::sim::SimRuntime::new(
        clock.clone(),
        crate::cri::sim::SimConfig {
            seed,
            node_ip: ip,
            ..crate::cri::sim::SimConfig::default()
        },
    ));
    network.add_node(name, &runtime);
    let mut config = crate::kubelet::KubeletConfig::new(name);
    config.node_ip = ip.to_string();
    config.port = kubelet_port;
    let agent = crate::kubelet::agent::Agent::new(
        crate::kubelet::Kubelet::new(config),
        client,
        clock,
        runtime.clone(),
        runtime.clone(),
        runtime.clone(),
    );
    (agent, runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_manager_runs_every_builtin_controller_once() {
        let manager = controller_manager(&ControlPlaneConfig::default());
        let names: Vec<&str> = manager.controllers().iter().map(|c| c.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "a controller twice: {names:?}");
        assert_eq!(names.len(), 11, "{names:?}");
    }
}
