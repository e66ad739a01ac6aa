//! Node.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::event::is_default;
use super::serde_util::null_as_default;
use super::{ApiVersion, Kind, ObjectMeta, Time, Value, impl_resource, info};
use crate::quantity::Quantity;

/// A `Node`: a machine pods run on (upstream `core/v1.Node`).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Node {
    /// Always `v1`.
    #[serde(default)]
    pub api_version: ApiVersion<Node>,
    /// Always `Node`.
    #[serde(default)]
    pub kind: Kind<Node>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Desired state: schedulability, taints, pod CIDRs.
    #[serde(default, skip_serializing_if = "is_default")]
    pub spec: NodeSpec,
    /// Observed state, reported by the node's kubelet and the node lifecycle controller.
    #[serde(default, skip_serializing_if = "is_default")]
    pub status: NodeStatus,
}
impl_resource!(Node, info::NODE);

impl Node {
    /// The status condition of type `type_` (`Ready`, `MemoryPressure`, …), if reported.
    pub fn condition(&self, type_: &str) -> Option<&NodeCondition> {
        self.status.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// The desired state of a [`Node`].
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSpec {
    /// The pod IP range assigned to the node (the first of `podCIDRs`).
    #[serde(default, rename = "podCIDR", skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    /// The pod IP ranges assigned to the node, at most one per IP family.
    #[serde(
        default,
        rename = "podCIDRs",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pod_cidrs: Vec<String>,
    /// Cloud provider id, `<provider>://<id>`.
    #[serde(
        default,
        rename = "providerID",
        skip_serializing_if = "Option::is_none"
    )]
    pub provider_id: Option<String>,
    /// When true, no new pods are scheduled here (`kubectl cordon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unschedulable: Option<bool>,
    /// Taints repelling pods that do not tolerate them.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    // `super::Taint`, not `Taint`: the path stays right when the TEMP definition below is
    // deleted in favour of pod.rs's.
    pub taints: Vec<super::Taint>,
    /// Dynamic kubelet config source; removed upstream, carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub config_source: Option<Value>,
    /// Deprecated cloud id; carried verbatim.
    #[serde(
        default,
        rename = "externalID",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<String>,
}

/// The observed state of a [`Node`].
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeStatus {
    /// Total resources of the node, by resource name (`cpu`, `memory`, `pods`, …).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub capacity: BTreeMap<String, Quantity>,
    /// Resources available to pods; `capacity` when unset.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub allocatable: BTreeMap<String, Quantity>,
    /// Never set upstream and deprecated; carried verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Current conditions: `Ready`, `MemoryPressure`, `DiskPressure`, `PIDPressure`,
    /// `NetworkUnavailable`, …; at most one per type.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<NodeCondition>,
    /// Addresses the node is reachable at.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub addresses: Vec<NodeAddress>,
    /// Ports of daemons on the node (the kubelet's).
    #[serde(default, skip_serializing_if = "is_default")]
    pub daemon_endpoints: NodeDaemonEndpoints,
    /// Versions and ids reported by the node.
    #[serde(default, skip_serializing_if = "is_default")]
    pub node_info: NodeSystemInfo,
    /// Container images present on the node.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub images: Vec<ContainerImage>,
    /// Attachable volumes mounted on the node, by unique volume name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volumes_in_use: Vec<String>,
    /// Volumes attached to the node: carried verbatim (skiff attaches none).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub volumes_attached: Option<Value>,
    /// Dynamic kubelet config status; removed upstream, carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub config: Option<Value>,
    /// Runtime handlers (runtime classes) and their features: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub runtime_handlers: Option<Value>,
    /// Container runtime features: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub features: Option<Value>,
    /// Feature-gate-related features the node declares.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub declared_features: Vec<String>,
}

/// One condition of a [`Node`]: like [`StatusCondition`](super::StatusCondition), plus the last
/// heartbeat.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeCondition {
    /// `Ready`, `MemoryPressure`, `DiskPressure`, `PIDPressure`, `NetworkUnavailable`, …
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// When the kubelet last reported the condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<Time>,
    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Machine-readable CamelCase reason for the last transition, e.g. `KubeletReady`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable details of the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An address of a [`Node`].
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeAddress {
    /// `Hostname`, `InternalIP`, `ExternalIP`, `InternalDNS` or `ExternalDNS`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The address.
    pub address: String,
}

/// Ports of the daemons on a [`Node`].
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeDaemonEndpoints {
    /// Where the kubelet listens.
    #[serde(default, skip_serializing_if = "is_default")]
    pub kubelet_endpoint: DaemonEndpoint,
}

/// A daemon's port (upstream `DaemonEndpoint`).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(deny_unknown_fields)]
pub struct DaemonEndpoint {
    /// The port. Capitalised `Port` in YAML and JSON, as upstream kept it for compatibility.
    #[serde(rename = "Port")]
    pub port: i32,
}

/// Versions and ids a [`Node`] reports (upstream `NodeSystemInfo`).
///
/// Upstream lists every string as required, but real node manifests (kwok's among them) give
/// only some: absent ones stay absent rather than becoming `""`.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSystemInfo {
    /// Contents of `/etc/machine-id`; the preferred unique machine id.
    #[serde(default, rename = "machineID", skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// The system UUID.
    #[serde(
        default,
        rename = "systemUUID",
        skip_serializing_if = "Option::is_none"
    )]
    pub system_uuid: Option<String>,
    /// The boot id; changes on reboot.
    #[serde(default, rename = "bootID", skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// `uname -r`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_version: Option<String>,
    /// The OS image, from `/etc/os-release`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_image: Option<String>,
    /// The container runtime and its version, e.g. `containerd://1.7.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_runtime_version: Option<String>,
    /// The kubelet version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_version: Option<String>,
    /// The kube-proxy version (deprecated upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_proxy_version: Option<String>,
    /// `linux`, `windows`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system: Option<String>,
    /// `amd64`, `arm64`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Swap capacity: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub swap: Option<Value>,
}

/// A container image present on a [`Node`].
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerImage {
    /// Names the image is known by, e.g. `nginx:1.27` and its digest form.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub names: Vec<String>,
    /// Size of the image in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::config::test_support::{assert_round_trips, conformance_objects, names};

    /// Taints as JSON: the tests do not depend on how pod.rs (where Taint is going) types them.
    fn as_json(taints: &[crate::object::Taint]) -> serde_json::Value {
        serde_json::to_value(taints).unwrap()
    }

    /// A quantity parsed from its text, without relying on how quantity.rs represents it.
    fn quantity(text: &str) -> Quantity {
        serde_json::from_value(serde_json::Value::String(text.into())).unwrap()
    }

    const EVERY_FIELD: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: node-1
spec:
  podCIDR: 10.244.1.0/24
  podCIDRs: [10.244.1.0/24, "fd00:10:244:1::/64"]
  providerID: kind://docker/kind/node-1
  unschedulable: true
  taints:
  - key: node.kubernetes.io/unreachable
    effect: NoExecute
    timeAdded: "2024-05-01T12:00:40Z"
  - key: dedicated
    value: gpu
    effect: NoSchedule
  configSource:
    configMap: {name: kubelet, namespace: kube-system, kubeletConfigKey: kubelet}
  externalID: node-1
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110", ephemeral-storage: 100Gi}
  allocatable: {cpu: 3800m, memory: 7Gi, pods: "110"}
  phase: Running
  conditions:
  - type: MemoryPressure
    status: "False"
    lastHeartbeatTime: "2024-05-01T12:00:00Z"
    lastTransitionTime: "2024-05-01T11:00:00Z"
    reason: KubeletHasSufficientMemory
    message: kubelet has sufficient memory available
  - type: Ready
    status: Unknown
    lastHeartbeatTime: "2024-05-01T12:00:00Z"
    lastTransitionTime: "2024-05-01T12:00:40Z"
    reason: NodeStatusUnknown
    message: Kubelet stopped posting node status.
  addresses:
  - {type: InternalIP, address: 172.18.0.2}
  - {type: Hostname, address: node-1}
  daemonEndpoints:
    kubeletEndpoint: {Port: 10250}
  nodeInfo:
    machineID: 5f0c1e0b6a0e4a5f8d6c4c1b2a3e4f50
    systemUUID: 4c4c4544-0042-4810-8052-b4c04f4e3232
    bootID: 1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d
    kernelVersion: 6.8.0-31-generic
    osImage: Debian GNU/Linux 12 (bookworm)
    containerRuntimeVersion: containerd://1.7.15
    kubeletVersion: v1.33.0
    kubeProxyVersion: v1.33.0
    operatingSystem: linux
    architecture: amd64
    swap: {capacity: 0}
  images:
  - names: [registry.k8s.io/pause@sha256:7031c1b2, registry.k8s.io/pause:3.10]
    sizeBytes: 320368
  volumesInUse: [kubernetes.io/csi/ebs.csi.aws.com^vol-1]
  volumesAttached:
  - {name: kubernetes.io/csi/ebs.csi.aws.com^vol-1, devicePath: ""}
  config:
    error: none
  runtimeHandlers:
  - name: runc
    features: {recursiveReadOnlyMounts: true, userNamespaces: true}
  features:
    supplementalGroupsPolicy: true
  declaredFeatures: [InPlacePodVerticalScaling]
"#;

    #[test]
    fn node_accepts_every_upstream_field_and_round_trips() {
        let node: Node = serde_saphyr::from_str(EVERY_FIELD).unwrap();
        assert_eq!(node.spec.pod_cidr.as_deref(), Some("10.244.1.0/24"));
        assert_eq!(node.spec.pod_cidrs.len(), 2);
        assert_eq!(
            node.spec.provider_id.as_deref(),
            Some("kind://docker/kind/node-1")
        );
        assert_eq!(node.spec.unschedulable, Some(true));
        assert_eq!(
            as_json(&node.spec.taints),
            serde_json::json!([
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute",
                 "timeAdded": "2024-05-01T12:00:40Z"},
                {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
            ])
        );
        assert_eq!(node.spec.external_id.as_deref(), Some("node-1"));
        assert_eq!(node.status.capacity["memory"], quantity("8Gi"));
        assert_eq!(node.status.allocatable["cpu"], quantity("3800m"));
        assert_eq!(node.status.addresses[0].address, "172.18.0.2");
        assert_eq!(node.status.daemon_endpoints.kubelet_endpoint.port, 10250);
        assert_eq!(
            node.status.node_info.boot_id.as_deref(),
            Some("1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d")
        );
        assert_eq!(
            node.status.node_info.os_image.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(node.status.images[0].size_bytes, Some(320_368));
        assert_eq!(node.status.declared_features, ["InPlacePodVerticalScaling"]);
        assert_round_trips(&node);
    }

    #[test]
    fn condition_finds_the_condition_of_a_type() {
        let node: Node = serde_saphyr::from_str(EVERY_FIELD).unwrap();
        let ready = node.condition("Ready").unwrap();
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(node.condition("MemoryPressure").unwrap().status, "False");
        assert_eq!(node.condition("DiskPressure"), None);
    }

    #[test]
    fn kubelet_port_is_written_capitalised() {
        let mut node = Node::default();
        node.status.daemon_endpoints.kubelet_endpoint.port = 10250;
        assert_eq!(
            serde_json::to_string(&node).unwrap(),
            r#"{"apiVersion":"v1","kind":"Node","metadata":{},"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}}}"#
        );
    }

    #[test]
    fn node_condition_needs_type_and_status() {
        let err = serde_json::from_str::<NodeCondition>(r#"{"type":"Ready"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing field `status` at line 1 column 16"
        );
    }

    #[test]
    fn nodes_in_the_corpus_round_trip() {
        let Some(objects) = conformance_objects::<Node>() else {
            return;
        };
        assert_eq!(
            names(&objects),
            [
                ("kwok__simulation__scenario-2__node.yaml", "node-1"),
                ("kwok__simulation__scenario-2__node.yaml", "node-2"),
                ("kwok__static__examples__node.yaml", "kwok-node-0"),
            ]
        );
        let node_1 = &objects[0].1;
        assert_eq!(
            as_json(&node_1.spec.taints),
            serde_json::json!([
                {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"},
            ])
        );
        assert_eq!(
            node_1.status.node_info.architecture.as_deref(),
            Some("arm64")
        );
        assert_eq!(node_1.status.node_info.machine_id, None);
        for (_, node) in &objects {
            assert_round_trips(node);
        }
    }
}
