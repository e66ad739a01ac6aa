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
use crate::proxy::ipam::NodeIpamController;
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
}

impl Default for ControlPlaneConfig {
    fn default() -> Self {
        Self {
            node_lifecycle: nodelifecycle::Config::default(),
            allocate_node_cidrs: true,
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
        .with(NamespaceController)
        .with(GarbageCollector::default())
        .with(PodGcController::default())
        .with(ServiceAccountController);
    if config.allocate_node_cidrs {
        manager = manager.with(NodeIpamController::default());
    }
    manager
}

/// kube-scheduler under its `kube-scheduler` lease, ties broken by draws seeded with `seed`.
pub fn scheduler(seed: u64) -> Manager {
    crate::scheduler::manager(seed)
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
