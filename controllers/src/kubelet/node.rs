//! The kubelet's own Node and Lease: registration, node status (on change, and every
//! `nodeStatusReportFrequency` otherwise) and the heartbeat Lease.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use skiff_core::object::{
    ContainerImage, DaemonEndpoint, Lease, LeaseSpec, Node, NodeAddress, NodeCondition,
    NodeDaemonEndpoints, NodeSpec, NodeStatus, NodeSystemInfo, ObjectMeta, OwnerReference,
};

use super::{Kubelet, Output, RuntimeAction, Snapshot};
use crate::reconcile::{Action, micro_time_of, time_of};
use crate::view::View;

/// Namespace of node heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// First retry delay of a failed Lease write (upstream `nodelease` controller, 200 ms).
pub const LEASE_RETRY_INITIAL: Duration = Duration::from_millis(200);
/// Longest retry delay of a failed Lease write (7 s).
pub const LEASE_RETRY_MAX: Duration = Duration::from_secs(7);
/// How long before an unacknowledged registration is sent again.
const REGISTER_RETRY: Duration = Duration::from_secs(7);

/// Node-level memory.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeMemory {
    pub(crate) registered_at: Option<SystemTime>,
    pub(crate) last_status_check: Option<SystemTime>,
    pub(crate) last_status_report: Option<SystemTime>,
    pub(crate) last_status: Option<NodeStatus>,
    pub(crate) lease_renewed: Option<SystemTime>,
    /// After a failed Lease write: when to try again, and the delay used.
    pub(crate) lease_retry: Option<(SystemTime, Duration)>,
    /// The pod CIDR last given to the runtime.
    pub(crate) pod_cidr_applied: Option<String>,
    /// Mirror pods created and not yet seen in the view.
    pub(crate) mirror_pending: BTreeSet<String>,
}

fn since(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or(Duration::ZERO)
}

fn condition(type_: &str, status: bool, reason: &str, message: &str) -> NodeCondition {
    NodeCondition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        ..NodeCondition::default()
    }
}

/// Conditions with heartbeat times cleared: what "changed" compares.
fn without_heartbeats(status: &NodeStatus) -> NodeStatus {
    let mut s = status.clone();
    for c in &mut s.conditions {
        c.last_heartbeat_time = None;
        c.last_transition_time = None;
    }
    s
}

impl Kubelet {
    /// The node's labels as the kubelet registers them (upstream `initialNode`).
    fn node_labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::from([
            ("beta.kubernetes.io/arch".to_owned(), "amd64".to_owned()),
            ("beta.kubernetes.io/os".to_owned(), "linux".to_owned()),
            ("kubernetes.io/arch".to_owned(), "amd64".to_owned()),
            (
                "kubernetes.io/hostname".to_owned(),
                self.config.node_name.clone(),
            ),
            ("kubernetes.io/os".to_owned(), "linux".to_owned()),
        ]);
        if let Some(zone) = &self.config.zone {
            labels.insert("topology.kubernetes.io/zone".to_owned(), zone.clone());
        }
        labels.extend(self.config.labels.clone());
        labels
    }

    /// Where the kubelet's node API listens (upstream `status.daemonEndpoints`).
    fn daemon_endpoints(&self) -> NodeDaemonEndpoints {
        NodeDaemonEndpoints {
            kubelet_endpoint: DaemonEndpoint {
                port: self.config.port.into(),
            },
        }
    }

    /// The node status the kubelet would report now, with transition times carried over from
    /// `previous` where a condition did not change.
    pub(crate) fn node_status(
        &self,
        snapshot: &Snapshot,
        previous: Option<&NodeStatus>,
        now: SystemTime,
    ) -> NodeStatus {
        let network = snapshot.status.condition("NetworkReady");
        let ready = if snapshot.network_ready() {
            condition(
                "Ready",
                true,
                "KubeletReady",
                "kubelet is posting ready status",
            )
        } else {
            let (reason, message) =
                network.map_or(("", ""), |c| (c.reason.as_str(), c.message.as_str()));
            condition(
                "Ready",
                false,
                "KubeletNotReady",
                &format!(
                    "container runtime network not ready: NetworkReady=false reason:{reason} \
                     message:{message}"
                ),
            )
        };
        let mut conditions = vec![
            condition(
                "MemoryPressure",
                false,
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            condition(
                "DiskPressure",
                false,
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
            ),
            condition(
                "PIDPressure",
                false,
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            ready,
        ];
        for c in &mut conditions {
            c.last_heartbeat_time = Some(time_of(now));
            let old = previous.and_then(|p| p.conditions.iter().find(|o| o.type_ == c.type_));
            c.last_transition_time = match old {
                Some(o) if o.status == c.status => o.last_transition_time,
                _ => Some(time_of(now)),
            };
        }
        let mut allocatable = self.config.capacity.clone();
        for (name, reserved) in &self.config.reserved {
            if let Some(q) = allocatable.get_mut(name)
                && let Some(left) = q.checked_sub(reserved)
            {
                *q = left;
            }
        }
        let mut images: Vec<ContainerImage> = snapshot
            .image_list
            .iter()
            .map(|i| ContainerImage {
                names: i.repo_digests.iter().chain(&i.repo_tags).cloned().collect(),
                size_bytes: i64::try_from(i.size).ok(),
            })
            .collect();
        // Upstream: largest first, at most 50 (`nodeStatusMaxImages`).
        images.sort_by(|a, b| b.size_bytes.cmp(&a.size_bytes).then(a.names.cmp(&b.names)));
        images.truncate(50);
        NodeStatus {
            capacity: self.config.capacity.clone(),
            allocatable,
            conditions,
            addresses: vec![
                NodeAddress {
                    type_: "InternalIP".to_owned(),
                    address: self.config.node_ip.clone(),
                },
                NodeAddress {
                    type_: "Hostname".to_owned(),
                    address: self.config.node_name.clone(),
                },
            ],
            daemon_endpoints: self.daemon_endpoints(),
            node_info: NodeSystemInfo {
                kernel_version: Some("6.8.0-skiff".to_owned()),
                os_image: Some("skiff simulated node".to_owned()),
                container_runtime_version: Some(format!(
                    "{}://{}",
                    snapshot.version.runtime_name, snapshot.version.runtime_version
                )),
                kubelet_version: Some(self.config.kubelet_version.clone()),
                operating_system: Some("linux".to_owned()),
                architecture: Some("amd64".to_owned()),
                ..NodeSystemInfo::default()
            },
            images,
            ..NodeStatus::default()
        }
    }

    /// Registration, node status and the Lease.
    pub(crate) fn reconcile_node(
        &mut self,
        view: &View,
        snapshot: &Snapshot,
        now: SystemTime,
        out: &mut Output,
    ) {
        let name = self.config.node_name.clone();
        let Some(node) = view.get::<Node>("", &name) else {
            // Upstream `registerWithAPIServer`: create the Node, retrying until it exists.
            if self
                .node
                .registered_at
                .is_none_or(|at| since(now, at) >= REGISTER_RETRY)
            {
                let status = self.node_status(snapshot, None, now);
                let object = Node {
                    metadata: ObjectMeta {
                        name: Some(name),
                        labels: self.node_labels(),
                        annotations: BTreeMap::from([(
                            "volumes.kubernetes.io/controller-managed-attach-detach".to_owned(),
                            "true".to_owned(),
                        )]),
                        ..ObjectMeta::default()
                    },
                    spec: NodeSpec {
                        taints: self.config.taints.clone(),
                        ..NodeSpec::default()
                    },
                    status: status.clone(),
                    ..Node::default()
                };
                out.api.push(Action::Create(object.into()));
                self.node.registered_at = Some(now);
                self.node.last_status = Some(status);
                self.node.last_status_report = Some(now);
                self.node.last_status_check = Some(now);
            }
            out.requeue_at_most(Duration::from_secs(1));
            return;
        };

        // The pod CIDR: the node IPAM's, else the configured one.
        let cidr = node
            .spec
            .pod_cidr
            .clone()
            .filter(|c| !c.is_empty())
            .or_else(|| self.config.pod_cidr.clone());
        // Given to the runtime when its network is not set up, and again when the node's
        // CIDR changes (the node IPAM assigned one after the configured one was used).
        if let Some(pod_cidr) = cidr
            && (!snapshot.network_ready()
                || self
                    .node
                    .pod_cidr_applied
                    .as_ref()
                    .is_some_and(|applied| *applied != pod_cidr))
        {
            out.runtime
                .push(RuntimeAction::UpdateRuntimeConfig { pod_cidr });
        }

        let frequency = self.config.node_status_update_frequency;
        // Readiness changing is reported at once (upstream's fast status update while the
        // node comes up), everything else at the next periodic check.
        let reported_ready = node.condition("Ready").map(|c| c.status == "True");
        let due = self
            .node
            .last_status_check
            .is_none_or(|at| since(now, at) >= frequency)
            || reported_ready.is_some_and(|r| r != snapshot.network_ready());
        if due {
            self.node.last_status_check = Some(now);
            let status = self.node_status(snapshot, Some(&node.status), now);
            let changed = without_heartbeats(&status) != without_heartbeats(&node.status);
            let report_due = self
                .node
                .last_status_report
                .is_none_or(|at| since(now, at) >= self.config.node_status_report_frequency);
            if changed || report_due {
                let mut updated = node.clone();
                updated.status = status.clone();
                out.api.push(Action::UpdateStatus(updated.into()));
                self.node.last_status = Some(status);
                self.node.last_status_report = Some(now);
            }
        }
        let next_check = self
            .node
            .last_status_check
            .map_or(frequency, |at| frequency.saturating_sub(since(now, at)));
        out.requeue_at_most(next_check);

        self.reconcile_lease(view, node, now, out);
    }

    fn reconcile_lease(&mut self, view: &View, node: &Node, now: SystemTime, out: &mut Output) {
        if let Some((next, _)) = self.node.lease_retry
            && now < next
        {
            out.requeue_at_most(since(next, now));
            return;
        }
        // Upstream renews every quarter of the lease duration (40 s × 0.25 = 10 s).
        let interval = Duration::from_secs(
            u64::try_from(self.config.lease_duration_seconds.max(4)).unwrap_or(40) / 4,
        );
        if let Some(renewed) = self.node.lease_renewed
            && since(now, renewed) < interval
        {
            out.requeue_at_most(interval.saturating_sub(since(now, renewed)));
            return;
        }
        let name = &self.config.node_name;
        let spec = LeaseSpec {
            holder_identity: Some(name.clone()),
            lease_duration_seconds: Some(self.config.lease_duration_seconds),
            renew_time: Some(micro_time_of(now)),
            ..LeaseSpec::default()
        };
        #[allow(clippy::single_match_else, reason = "update or create, side by side")]
        match view.get::<Lease>(NODE_LEASE_NAMESPACE, name) {
            Some(lease) => {
                let mut lease = lease.clone();
                lease.spec.holder_identity = spec.holder_identity;
                lease.spec.lease_duration_seconds = spec.lease_duration_seconds;
                lease.spec.renew_time = spec.renew_time;
                out.api.push(Action::Update(lease.into()));
            }
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(NODE_LEASE_NAMESPACE.to_owned()),
                        owner_references: vec![OwnerReference {
                            api_version: "v1".to_owned(),
                            kind: "Node".to_owned(),
                            name: name.clone(),
                            uid: node.metadata.uid.clone().unwrap_or_default(),
                            ..OwnerReference::default()
                        }],
                        ..ObjectMeta::default()
                    },
                    spec,
                    ..Lease::default()
                };
                out.api.push(Action::Create(lease.into()));
            }
        }
        self.node.lease_renewed = Some(now);
        out.requeue_at_most(interval);
    }

    /// A Lease write failed: retry after 200 ms, doubling up to 7 s.
    pub(crate) fn lease_failed(&mut self, now: SystemTime) {
        let delay = self
            .node
            .lease_retry
            .map_or(LEASE_RETRY_INITIAL, |(_, d)| (d * 2).min(LEASE_RETRY_MAX));
        self.node.lease_retry = Some((now + delay, delay));
        self.node.lease_renewed = None;
    }

    /// Whether the last Lease write failed (the Lease should be read again before the next).
    pub fn lease_stale(&self) -> bool {
        self.node.lease_retry.is_some()
    }

    /// A Lease write succeeded: the retry backoff resets.
    pub fn lease_succeeded(&mut self) {
        self.node.lease_retry = None;
    }

    /// A node status write failed: write again at the next check.
    pub(crate) fn node_status_failed(&mut self) {
        self.node.last_status_report = None;
        self.node.last_status_check = None;
        self.node.registered_at = None;
    }
}
