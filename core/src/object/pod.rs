//! Pod: the unit the scheduler places and the kubelet runs, with everything embedded in it
//! (containers, probes, volumes, affinity, tolerations, status).
//!
//! Field names and required-ness follow upstream `core/v1`. What skiff acts on is typed; what it
//! only carries (security contexts, lifecycle hooks, DNS config, volume sources it has no plugin
//! for, …) is a [`Value`] kept verbatim, so a misspelt field name is still rejected.
//! Enum-like strings (`restartPolicy`, `phase`, taint effects, operators) stay `String`: the
//! validator checks their values with field paths, and a value a newer client sends still parses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::serde_util::null_as_default;
use super::{ApiVersion, IntOrString, Kind, ObjectMeta, Time, Value, impl_resource, info};
use crate::quantity::Quantity;
use crate::selector::LabelSelector;

/// True when `value` equals its type's default; used to omit empty nested objects on output.
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// A `Pod`: one or more containers that share a network namespace and volumes, scheduled
/// together onto one node.
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
pub struct Pod {
    /// Always `v1`.
    #[serde(default)]
    pub api_version: ApiVersion<Pod>,
    /// Always `Pod`.
    #[serde(default)]
    pub kind: Kind<Pod>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the pod should run. Absent in a manifest means the empty spec (which validation
    /// rejects: a pod needs at least one container).
    #[serde(default)]
    pub spec: PodSpec,
    /// What the kubelet and scheduler last observed; omitted while empty.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_default"
    )]
    pub status: PodStatus,
}
impl_resource!(Pod, info::POD);

impl Pod {
    /// A pod with a name and containers, everything else unset.
    pub fn new(name: impl Into<String>, containers: Vec<Container>) -> Self {
        Self {
            metadata: ObjectMeta::named(name),
            spec: PodSpec {
                containers,
                ..PodSpec::default()
            },
            ..Self::default()
        }
    }

    /// The pod's quality-of-service class (upstream `GetPodQOS`): `BestEffort` when no
    /// container requests or limits cpu or memory, `Guaranteed` when every container limits
    /// both and every request equals its limit (an unset request defaults to the limit),
    /// `Burstable` otherwise.
    pub fn qos_class(&self) -> &'static str {
        const SUPPORTED: [&str; 2] = ["cpu", "memory"];
        let positive = |q: &crate::quantity::Quantity| q.milli_value() > 0;
        let mut any = false;
        let mut guaranteed = true;
        for c in self.spec.all_containers() {
            let r = &c.resources;
            for res in SUPPORTED {
                if r.requests.get(res).is_some_and(positive)
                    || r.limits.get(res).is_some_and(positive)
                {
                    any = true;
                }
                let limit = r.limits.get(res).filter(|q| positive(q));
                let request = r.requests.get(res).or(limit);
                if limit.is_none() || request != limit {
                    guaranteed = false;
                }
            }
        }
        match (any, guaranteed) {
            (false, _) => "BestEffort",
            (true, true) => "Guaranteed",
            (true, false) => "Burstable",
        }
    }
}

/// A pod template, as embedded in ReplicaSets, ReplicationControllers, Deployments and
/// DaemonSets: the metadata and spec each created pod starts from.
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
pub struct PodTemplateSpec {
    /// Metadata given to each pod created from the template.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The pod spec.
    #[serde(default)]
    pub spec: PodSpec,
}

/// The desired state of a pod (upstream `PodSpec`).
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
pub struct PodSpec {
    /// Volumes the containers may mount, by name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volumes: Vec<Volume>,
    /// Containers run to completion, one after another, before `containers` start; an init
    /// container with `restartPolicy: Always` is a sidecar that keeps running instead.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub init_containers: Vec<Container>,
    /// The pod's main containers (required; validation asks for at least one).
    pub containers: Vec<Container>,
    /// Debugging containers added through the `ephemeralcontainers` subresource; carried
    /// verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub ephemeral_containers: Option<Value>,
    /// `Always` (the default), `OnFailure` or `Never`: whether exited containers are restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// Seconds between the termination signal and the kill on graceful deletion (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// Seconds after `status.startTime` after which the pod is failed and its containers killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    /// `ClusterFirst` (the default), `ClusterFirstWithHostNet`, `Default` or `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_policy: Option<String>,
    /// Labels a node must carry, all of them, for the pod to be placed there.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub node_selector: BTreeMap<String, String>,
    /// The ServiceAccount the pod runs as (admission defaults it to `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Deprecated spelling of `serviceAccountName`, still accepted and echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Whether the ServiceAccount token is mounted into the containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
    /// The node the pod is bound to; empty until the scheduler (or the author) picks one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// Run in the node's network namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,
    /// Run in the node's PID namespace.
    #[serde(default, rename = "hostPID", skip_serializing_if = "Option::is_none")]
    pub host_pid: Option<bool>,
    /// Run in the node's IPC namespace.
    #[serde(default, rename = "hostIPC", skip_serializing_if = "Option::is_none")]
    pub host_ipc: Option<bool>,
    /// One PID namespace for all containers of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_process_namespace: Option<bool>,
    /// Pod-level security settings (`runAsUser`, `fsGroup`, `seccompProfile`, …); carried
    /// verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub security_context: Option<Value>,
    /// Secrets, by name in the pod's namespace, used to pull the images.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// The pod's hostname; the pod name when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// With `hostname`, gives the pod the DNS name `<hostname>.<subdomain>.<namespace>.svc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    /// Node and inter-pod scheduling constraints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// The scheduler responsible for the pod (`default-scheduler` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// Taints the pod tolerates.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tolerations: Vec<Toleration>,
    /// Extra `/etc/hosts` entries; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub host_aliases: Option<Value>,
    /// Name of the PriorityClass the pod's `priority` is resolved from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Scheduling and eviction priority; higher wins. Filled in by admission from
    /// `priorityClassName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Resolver settings merged into those `dnsPolicy` produces; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub dns_config: Option<Value>,
    /// Extra pod conditions that must be `True` for the pod to be ready; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub readiness_gates: Option<Value>,
    /// The RuntimeClass (container runtime handler) to run the pod with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,
    /// Whether Service environment variables (`<SVC>_SERVICE_HOST`, …) are injected
    /// (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_service_links: Option<bool>,
    /// `PreemptLowerPriority` (the default) or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemption_policy: Option<String>,
    /// Resources the RuntimeClass adds on top of the containers'; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub overhead: Option<Value>,
    /// How replicas should spread over zones or nodes; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub topology_spread_constraints: Option<Value>,
    /// Set the kernel hostname to the pod's fully qualified domain name.
    #[serde(
        default,
        rename = "setHostnameAsFQDN",
        skip_serializing_if = "Option::is_none"
    )]
    pub set_hostname_as_fqdn: Option<bool>,
    /// The operating system the containers need (`{name: linux}`); carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub os: Option<Value>,
    /// `false` runs the pod in its own user namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_users: Option<bool>,
    /// Gates that hold the pod back from scheduling while present; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub scheduling_gates: Option<Value>,
    /// Dynamic resource allocation claims; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub resource_claims: Option<Value>,
    /// Pod-level requests and limits shared by all containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// A hostname that replaces the one derived from `hostname`/`subdomain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname_override: Option<String>,
}

impl PodSpec {
    /// Init containers in order, then the main containers in order.
    pub fn all_containers(&self) -> impl Iterator<Item = &Container> {
        self.init_containers.iter().chain(&self.containers)
    }
}

/// A reference to an object of a known kind in the same namespace, by name (upstream
/// `LocalObjectReference`; used for image pull secrets).
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
pub struct LocalObjectReference {
    /// Name of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------------------------

/// One container of a pod (upstream `Container`; init and main containers share the type).
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
pub struct Container {
    /// Unique among all containers of the pod (DNS label).
    pub name: String,
    /// The image reference; may be left to a workload controller to fill in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Replaces the image's entrypoint.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub command: Vec<String>,
    /// Replaces the image's default arguments.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub args: Vec<String>,
    /// The process's working directory; the image's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Ports the container listens on (informational, plus host port reservations).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<ContainerPort>,
    /// Whole ConfigMaps or Secrets turned into environment variables.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env_from: Vec<EnvFromSource>,
    /// Environment variables, applied after `envFrom` (later entries win).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<EnvVar>,
    /// Requests (what scheduling reserves) and limits (what the runtime enforces).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_default"
    )]
    pub resources: ResourceRequirements,
    /// Whether resizing a resource in place restarts the container; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub resize_policy: Option<Value>,
    /// Per-container restart policy; on an init container `Always` makes it a sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// Exit-code rules that override `restartPolicy`; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub restart_policy_rules: Option<Value>,
    /// Volumes mounted into the container's filesystem.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volume_mounts: Vec<VolumeMount>,
    /// Raw block devices from volumes; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub volume_devices: Option<Value>,
    /// Restart the container when this check keeps failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// Take the pod out of Service endpoints while this check fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    /// Hold off the other probes until this check first succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    /// `postStart`/`preStop` hooks and stop signal; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub lifecycle: Option<Value>,
    /// File the container may write its termination message to (default
    /// `/dev/termination-log`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_message_path: Option<String>,
    /// `File` (the default) or `FallbackToLogsOnError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_message_policy: Option<String>,
    /// `Always`, `IfNotPresent` or `Never`; defaulted from the image tag when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Container-level security settings (`privileged`, `capabilities`, …); carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub security_context: Option<Value>,
    /// Allocate a stdin stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<bool>,
    /// Close stdin after the first attach detaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_once: Option<bool>,
    /// Allocate a terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
}

impl Container {
    /// A container with a name and an image, everything else unset.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            image: Some(image.into()),
            ..Self::default()
        }
    }
}

/// A port a container listens on (upstream `ContainerPort`).
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
pub struct ContainerPort {
    /// IANA service name Services can target instead of the number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port on the node forwarded to `containerPort`; reserves it on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    /// Port number inside the pod's network namespace (required).
    pub container_port: i32,
    /// `TCP` (the default), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Node address the host port binds to.
    #[serde(default, rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
}

/// One environment variable (upstream `EnvVar`).
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
pub struct EnvVar {
    /// Variable name (required).
    pub name: String,
    /// Literal value; `$(OTHER)` references are expanded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Where to read the value from instead of `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// The source of an environment variable's value; exactly one field is set (upstream
/// `EnvVarSource`).
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
pub struct EnvVarSource {
    /// A field of the pod itself (`metadata.name`, `status.podIP`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<ObjectFieldSelector>,
    /// A request or limit of one of the pod's containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldSelector>,
    /// One key of a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<ConfigMapKeySelector>,
    /// One key of a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeySelector>,
    /// One key of an env file inside a volume; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub file_key_ref: Option<Value>,
}

/// Selects one key of a ConfigMap in the pod's namespace (upstream `ConfigMapKeySelector`).
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
pub struct ConfigMapKeySelector {
    /// Name of the ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The key to read (required).
    pub key: String,
    /// When true, a missing ConfigMap or key leaves the variable unset instead of failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Selects one key of a Secret in the pod's namespace (upstream `SecretKeySelector`).
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
pub struct SecretKeySelector {
    /// Name of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The key to read (required).
    pub key: String,
    /// When true, a missing Secret or key leaves the variable unset instead of failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Selects a field of the pod by path (upstream `ObjectFieldSelector`, the downward API).
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
pub struct ObjectFieldSelector {
    /// Schema version `fieldPath` is written against (default `v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Path of the field, e.g. `metadata.labels['app']` (required).
    pub field_path: String,
}

/// Selects a container's request or limit (upstream `ResourceFieldSelector`).
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
pub struct ResourceFieldSelector {
    /// The container whose resources are read; required in volumes, the current container in
    /// environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// `limits.cpu`, `requests.memory`, … (required).
    pub resource: String,
    /// Unit the value is divided by before it is written (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divisor: Option<Quantity>,
}

/// A whole ConfigMap or Secret exposed as environment variables (upstream `EnvFromSource`).
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
pub struct EnvFromSource {
    /// Prepended to every key to form the variable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The ConfigMap to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ConfigMapEnvSource>,
    /// The Secret to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretEnvSource>,
}

/// A ConfigMap whose keys become environment variables (upstream `ConfigMapEnvSource`).
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
pub struct ConfigMapEnvSource {
    /// Name of the ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When true, a missing ConfigMap is not an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A Secret whose keys become environment variables (upstream `SecretEnvSource`).
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
pub struct SecretEnvSource {
    /// Name of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When true, a missing Secret is not an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Compute resources of a container or pod (upstream `ResourceRequirements`).
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
pub struct ResourceRequirements {
    /// The most of each resource the container may use, by resource name (`cpu`, `memory`, …).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub limits: BTreeMap<String, Quantity>,
    /// What scheduling reserves, by resource name; defaults to `limits` where unset.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub requests: BTreeMap<String, Quantity>,
    /// Dynamic resource allocation claims the container uses; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub claims: Option<Value>,
}

/// A volume mounted into a container (upstream `VolumeMount`).
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
pub struct VolumeMount {
    /// Name of a volume in `spec.volumes` (required).
    pub name: String,
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// `Disabled`, `IfPossible` or `Enabled`: whether read-only applies to submounts too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive_read_only: Option<String>,
    /// Where the volume appears in the container (required).
    pub mount_path: String,
    /// Mount only this path inside the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
    /// `None` (the default), `HostToContainer` or `Bidirectional`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_propagation: Option<String>,
    /// Like `subPath`, with `$(VAR)` expanded from the container's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path_expr: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Probes
// ---------------------------------------------------------------------------------------------

/// A periodic health check of a container (upstream `Probe`); exactly one action is set.
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
pub struct Probe {
    /// Run a command in the container; exit status 0 is success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// Send an HTTP GET; a status in 200..400 is success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    /// Open a TCP connection; connecting is success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    /// Call the gRPC health checking service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcAction>,
    /// Seconds after the container starts before the first check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i32>,
    /// Seconds a check may take (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// Seconds between checks (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
    /// Consecutive successes that count as passing after a failure (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i32>,
    /// Consecutive failures that count as failing (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i32>,
    /// Grace period used instead of the pod's when this probe's failure kills the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
}

/// A command run inside the container (upstream `ExecAction`).
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
pub struct ExecAction {
    /// The command and its arguments, run without a shell.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub command: Vec<String>,
}

/// An HTTP GET request (upstream `HTTPGetAction`).
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
pub struct HttpGetAction {
    /// Request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Port number or container port name (required).
    pub port: IntOrString,
    /// Host to connect to; the pod IP when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `HTTP` (the default) or `HTTPS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Extra request headers.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub http_headers: Vec<HttpHeader>,
}

/// One HTTP header of a probe request (upstream `HTTPHeader`).
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
pub struct HttpHeader {
    /// Header name (required).
    pub name: String,
    /// Header value (required).
    pub value: String,
}

/// A TCP connection attempt (upstream `TCPSocketAction`).
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
pub struct TcpSocketAction {
    /// Port number or container port name (required).
    pub port: IntOrString,
    /// Host to connect to; the pod IP when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// A gRPC health check (upstream `GRPCAction`).
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
pub struct GrpcAction {
    /// Port number of the gRPC service (required; names are not allowed here).
    pub port: i32,
    /// Service name sent in the health check request; empty asks about the server as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Volumes
// ---------------------------------------------------------------------------------------------

/// A named volume of a pod (upstream `Volume` with its inlined `VolumeSource`): at most one
/// source is set, and none means an emptyDir. Sources skiff has no plugin for are carried
/// verbatim.
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
pub struct Volume {
    /// Unique within the pod (DNS label); what volume mounts refer to (required).
    pub name: String,
    /// A file or directory of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathVolumeSource>,
    /// A scratch directory that lives as long as the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolumeSource>,
    /// Deprecated in-tree GCE disk; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub gce_persistent_disk: Option<Value>,
    /// Deprecated in-tree AWS EBS disk; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub aws_elastic_block_store: Option<Value>,
    /// Deprecated git checkout; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub git_repo: Option<Value>,
    /// The keys of a Secret as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,
    /// An NFS export; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub nfs: Option<Value>,
    /// An iSCSI disk; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub iscsi: Option<Value>,
    /// Deprecated GlusterFS mount; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub glusterfs: Option<Value>,
    /// The volume bound to a PersistentVolumeClaim of the pod's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<PersistentVolumeClaimVolumeSource>,
    /// Deprecated Ceph RBD disk; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub rbd: Option<Value>,
    /// Deprecated exec-based volume plugin; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub flex_volume: Option<Value>,
    /// Deprecated in-tree OpenStack Cinder disk; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub cinder: Option<Value>,
    /// Deprecated CephFS mount; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub cephfs: Option<Value>,
    /// Deprecated Flocker dataset; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub flocker: Option<Value>,
    /// Pod fields as files; carried verbatim.
    #[serde(
        default,
        rename = "downwardAPI",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub downward_api: Option<Value>,
    /// A Fibre Channel disk; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub fc: Option<Value>,
    /// Deprecated in-tree Azure File share; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub azure_file: Option<Value>,
    /// The keys of a ConfigMap as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolumeSource>,
    /// Deprecated in-tree vSphere disk; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub vsphere_volume: Option<Value>,
    /// Deprecated Quobyte mount; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub quobyte: Option<Value>,
    /// Deprecated in-tree Azure disk; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub azure_disk: Option<Value>,
    /// Deprecated Photon Controller disk; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub photon_persistent_disk: Option<Value>,
    /// Secrets, ConfigMaps, downward API and tokens merged into one directory; carried
    /// verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub projected: Option<Value>,
    /// Deprecated in-tree Portworx volume; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub portworx_volume: Option<Value>,
    /// Deprecated ScaleIO volume; carried verbatim.
    #[serde(
        default,
        rename = "scaleIO",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub scale_io: Option<Value>,
    /// Deprecated StorageOS volume; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub storageos: Option<Value>,
    /// An inline CSI driver volume; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub csi: Option<Value>,
    /// A per-pod PersistentVolumeClaim created from a template; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub ephemeral: Option<Value>,
    /// An OCI image or artifact mounted read-only; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub image: Option<Value>,
}

/// A path on the node (upstream `HostPathVolumeSource`).
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
pub struct HostPathVolumeSource {
    /// Path on the node (required).
    pub path: String,
    /// What must (or will be made to) exist there: `""`, `DirectoryOrCreate`, `Directory`,
    /// `FileOrCreate`, `File`, `Socket`, `CharDevice`, `BlockDevice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
}

/// A scratch directory (upstream `EmptyDirVolumeSource`).
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
pub struct EmptyDirVolumeSource {
    /// `""` (the node's disk) or `Memory` (tmpfs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    /// Most the directory may hold before the pod is evicted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<Quantity>,
}

/// A ConfigMap projected as files (upstream `ConfigMapVolumeSource`).
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
pub struct ConfigMapVolumeSource {
    /// Name of the ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which keys to project and where; every key, as a file of its name, when empty.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub items: Vec<KeyToPath>,
    /// Permission bits of the files (default 0644).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
    /// When true, a missing ConfigMap or key is not an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A Secret projected as files (upstream `SecretVolumeSource`).
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
pub struct SecretVolumeSource {
    /// Name of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Which keys to project and where; every key, as a file of its name, when empty.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub items: Vec<KeyToPath>,
    /// Permission bits of the files (default 0644).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
    /// When true, a missing Secret or key is not an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// One key of a ConfigMap or Secret written to a file (upstream `KeyToPath`).
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
pub struct KeyToPath {
    /// The key to project (required).
    pub key: String,
    /// Relative file path inside the volume (required).
    pub path: String,
    /// Permission bits of this file; the volume's `defaultMode` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<i32>,
}

/// A PersistentVolumeClaim used as a volume (upstream `PersistentVolumeClaimVolumeSource`).
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
pub struct PersistentVolumeClaimVolumeSource {
    /// Name of the claim in the pod's namespace (required).
    pub claim_name: String,
    /// Force every mount of the volume read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Scheduling constraints
// ---------------------------------------------------------------------------------------------

/// Node affinity and pod (anti-)affinity (upstream `Affinity`).
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
pub struct Affinity {
    /// Constraints on the labels and fields of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<NodeAffinity>,
    /// Be placed in the same topology domain as certain pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_affinity: Option<PodAffinity>,
    /// Stay out of the topology domains of certain pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_anti_affinity: Option<PodAntiAffinity>,
}

/// Node constraints of a pod (upstream `NodeAffinity`).
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
pub struct NodeAffinity {
    /// A node must match this to be chosen; not re-checked once the pod runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelector>,
    /// Nodes matching these terms score their weights higher.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub preferred_during_scheduling_ignored_during_execution: Vec<PreferredSchedulingTerm>,
}

/// Terms over node labels and fields, ORed (upstream `NodeSelector`; also a PersistentVolume's
/// node affinity).
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
pub struct NodeSelector {
    /// A node matches when it matches any term (required).
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

/// Requirements over a node's labels and fields, ANDed (upstream `NodeSelectorTerm`). A term
/// with no requirements matches no node.
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
pub struct NodeSelectorTerm {
    /// Requirements on node labels.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_expressions: Vec<NodeSelectorRequirement>,
    /// Requirements on node fields (only `metadata.name` upstream).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

/// One requirement on a node label or field (upstream `NodeSelectorRequirement`).
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
pub struct NodeSelectorRequirement {
    /// The label key or field path (required).
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt` or `Lt` (required).
    pub operator: String,
    /// Operands: several for `In`/`NotIn`, none for `Exists`/`DoesNotExist`, one integer for
    /// `Gt`/`Lt`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub values: Vec<String>,
}

/// A weighted preference for nodes (upstream `PreferredSchedulingTerm`).
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
pub struct PreferredSchedulingTerm {
    /// Added to a matching node's score, 1..=100 (required).
    pub weight: i32,
    /// The nodes preferred (required).
    pub preference: NodeSelectorTerm,
}

/// Inter-pod affinity rules (upstream `PodAffinity`; `PodAntiAffinity` has the same shape).
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
pub struct PodAffinity {
    /// Every term must hold on the chosen node; not re-checked once the pod runs.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub required_during_scheduling_ignored_during_execution: Vec<PodAffinityTerm>,
    /// Nodes where these terms hold score their weights higher (or lower, for anti-affinity).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub preferred_during_scheduling_ignored_during_execution: Vec<WeightedPodAffinityTerm>,
}

/// Inter-pod anti-affinity rules: the same shape as [`PodAffinity`], with the terms meaning
/// "not with" instead of "with".
pub type PodAntiAffinity = PodAffinity;

/// A set of pods and the topology domain the rule applies within (upstream `PodAffinityTerm`).
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
pub struct PodAffinityTerm {
    /// The pods the rule is about; none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Namespaces searched; with no `namespaceSelector`, the pod's own when empty.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub namespaces: Vec<String>,
    /// Node label whose value defines a domain, e.g. `topology.kubernetes.io/zone` (required).
    pub topology_key: String,
    /// Namespaces searched, by label, in addition to `namespaces`; `{}` means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Label keys whose values on the incoming pod are added to `labelSelector` as `In`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_label_keys: Vec<String>,
    /// Label keys whose values on the incoming pod are added to `labelSelector` as `NotIn`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mismatch_label_keys: Vec<String>,
}

/// A weighted inter-pod preference (upstream `WeightedPodAffinityTerm`).
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
pub struct WeightedPodAffinityTerm {
    /// Score added for nodes where the term holds, 1..=100 (required).
    pub weight: i32,
    /// The term (required).
    pub pod_affinity_term: PodAffinityTerm,
}

/// Lets a pod be scheduled onto, or keep running on, nodes with a matching taint (upstream
/// `Toleration`).
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
pub struct Toleration {
    /// The taint key; empty with `Exists` tolerates every taint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `Equal` (the default), `Exists`, or the numeric `Lt`/`Gt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// The taint value to compare with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The effect tolerated; empty tolerates all effects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// For `NoExecute`: seconds the pod may stay after the taint appears; forever when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

/// A mark on a node that repels pods not tolerating it (upstream `Taint`; stored on the Node).
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
pub struct Taint {
    /// The taint key (required).
    pub key: String,
    /// The taint value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute` (required).
    pub effect: String,
    /// When a `NoExecute` taint was added; set by the system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<Time>,
}

impl Toleration {
    /// Whether this toleration tolerates `taint` (upstream `Toleration.ToleratesTaint`): the
    /// effect and key match when set (empty matches all), then `Exists` matches any value,
    /// `Equal` (or empty) needs the same value, and the numeric `Lt`/`Gt` (KEP-5471, which the
    /// validation accepts) compare the taint's value with the toleration's: the taint's below
    /// for `Lt`, above for `Gt`, both integers, else no match.
    ///
    /// ```
    /// use skiff_core::object::{Taint, Toleration};
    /// let taint = Taint { key: "tier".into(), value: Some("950".into()), effect: "NoSchedule".into(), ..Taint::default() };
    /// let gt = Toleration { key: Some("tier".into()), operator: Some("Gt".into()), value: Some("900".into()), ..Toleration::default() };
    /// assert!(gt.tolerates(&taint));
    /// ```
    #[must_use]
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self
            .effect
            .as_deref()
            .is_some_and(|e| !e.is_empty() && e != taint.effect)
        {
            return false;
        }
        if self
            .key
            .as_deref()
            .is_some_and(|k| !k.is_empty() && k != taint.key)
        {
            return false;
        }
        let taint_value = taint.value.as_deref().unwrap_or("");
        let value = self.value.as_deref().unwrap_or("");
        match self.operator.as_deref().unwrap_or("") {
            "" | "Equal" => value == taint_value,
            "Exists" => true,
            op @ ("Lt" | "Gt") => match (taint_value.parse::<i64>(), value.parse::<i64>()) {
                (Ok(t), Ok(v)) => {
                    if op == "Lt" {
                        t < v
                    } else {
                        t > v
                    }
                }
                _ => false,
            },
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------------

/// The observed state of a pod (upstream `PodStatus`).
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
pub struct PodStatus {
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `PodScheduled`, `Initialized`, `ContainersReady`, `Ready`, ….
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<PodCondition>,
    /// Why the pod is in its phase, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why the pod is in its phase, as a CamelCase word (`Evicted`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The node preemption freed room on, before the pod is bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nominated_node_name: Option<String>,
    /// Primary IP of the node the pod runs on.
    #[serde(default, rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// All IPs of the node (at most one per family); the first equals `hostIP`.
    #[serde(
        default,
        rename = "hostIPs",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub host_ips: Vec<HostIp>,
    /// Primary IP of the pod.
    #[serde(default, rename = "podIP", skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    /// All IPs of the pod (at most one per family); the first equals `podIP`.
    #[serde(
        default,
        rename = "podIPs",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pod_ips: Vec<PodIp>,
    /// When the kubelet accepted the pod, before images were pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// One entry per init container, in spec order.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub init_container_statuses: Vec<ContainerStatus>,
    /// One entry per main container.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub container_statuses: Vec<ContainerStatus>,
    /// `Guaranteed`, `Burstable` or `BestEffort`, from the containers' requests and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos_class: Option<String>,
    /// One entry per ephemeral container.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ephemeral_container_statuses: Vec<ContainerStatus>,
    /// Deprecated state of an in-place resize; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub resize: Option<Value>,
    /// Names of the ResourceClaims generated for the pod; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub resource_claim_statuses: Option<Value>,
    /// The claim backing extended resources through dynamic allocation; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub extended_resource_claim_status: Option<Value>,
}

/// One condition of a pod (upstream `PodCondition`).
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
pub struct PodCondition {
    /// `PodScheduled`, `Ready`, … or a readiness gate's condition (required).
    pub r#type: String,
    /// The `metadata.generation` the condition was set from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `True`, `False` or `Unknown` (required).
    pub status: String,
    /// When the condition was last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Why the status last changed, as a CamelCase word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why the status last changed, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One IP address of a node, as reported in a pod's status (upstream `HostIP`).
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
pub struct HostIp {
    /// The address (required).
    pub ip: String,
}

/// One IP address of a pod (upstream `PodIP`).
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
pub struct PodIp {
    /// The address (required).
    pub ip: String,
}

/// The observed state of one container (upstream `ContainerStatus`).
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
pub struct ContainerStatus {
    /// The container's name in the spec (required).
    pub name: String,
    /// What the container is doing now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ContainerState>,
    /// How its previous run ended, if it was restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_state: Option<ContainerState>,
    /// Whether the readiness probe passes (required).
    pub ready: bool,
    /// Times the container has been restarted (required).
    pub restart_count: i32,
    /// The image the container runs (required).
    pub image: String,
    /// The image's resolved digest reference (required).
    #[serde(rename = "imageID")]
    pub image_id: String,
    /// `<runtime>://<id>` of the running container.
    #[serde(
        default,
        rename = "containerID",
        skip_serializing_if = "Option::is_none"
    )]
    pub container_id: Option<String>,
    /// Whether the container has started and its startup probe passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
    /// Resources the node allocated to the container.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub allocated_resources: BTreeMap<String, Quantity>,
    /// Requests and limits the runtime has actually applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Mounts as the runtime reports them; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub volume_mounts: Option<Value>,
    /// Identity the first process runs as; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub user: Option<Value>,
    /// Health of allocated devices; carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub allocated_resources_status: Option<Value>,
    /// The signal sent to stop the container (`SIGTERM`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// The state of a container: at most one field is set; none means waiting (upstream
/// `ContainerState`).
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
pub struct ContainerState {
    /// Not running yet (pulling, backing off after a crash, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<ContainerStateWaiting>,
    /// Running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<ContainerStateRunning>,
    /// Exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated: Option<ContainerStateTerminated>,
}

/// A container that is not running yet (upstream `ContainerStateWaiting`).
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
pub struct ContainerStateWaiting {
    /// `ContainerCreating`, `CrashLoopBackOff`, `ErrImagePull`, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Details for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A running container (upstream `ContainerStateRunning`).
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
pub struct ContainerStateRunning {
    /// When the container last started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
}

/// An exited container (upstream `ContainerStateTerminated`).
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
pub struct ContainerStateTerminated {
    /// The process's exit status (required).
    pub exit_code: i32,
    /// The signal that ended it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// `Completed`, `Error`, `OOMKilled`, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Details for people (the termination message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// `<runtime>://<id>` of the exited container.
    #[serde(
        default,
        rename = "containerID",
        skip_serializing_if = "Option::is_none"
    )]
    pub container_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use super::*;
    use crate::object::TypeMeta;
    use crate::selector::LabelSelectorRequirement;

    /// Single-document manifests of kind Pod in the conformance corpus.
    const POD_MANIFESTS: [&str; 21] = [
        "admin__logging__two-files-counter-pod-streaming-sidecar.yaml",
        "configmap__configure-pod.yaml",
        "pods__init-containers.yaml",
        "pods__inject__dapi-envars-pod.yaml",
        "pods__inject__pod-secret-envFrom.yaml",
        "pods__multi-container__resources.yaml",
        "pods__multi-container__shared-volume.yaml",
        "pods__pod-configmap-envFrom.yaml",
        "pods__pod-nginx.yaml",
        "pods__pod-with-affinity-preferred-weight.yaml",
        "pods__pod-with-node-affinity-1.yaml",
        "pods__pod-with-numeric-toleration.yaml",
        "pods__pod-with-pod-affinity.yaml",
        "pods__pod-with-toleration.yaml",
        "pods__probe__exec-liveness.yaml",
        "pods__probe__http-liveness.yaml",
        "pods__probe__tcp-liveness-readiness.yaml",
        "pods__resource__cpu-request-limit.yaml",
        "pods__simple-pod.yaml",
        "pods__storage__pv-pod.yaml",
        "pods__two-container-pod.yaml",
    ];

    /// The conformance corpus sits beside the repository as `../shared`; a worktree elsewhere
    /// can point at it with `SKIFF_CONFORMANCE_DIR`. `None` (with a note) when it is absent.
    fn conformance_dir() -> Option<PathBuf> {
        let dir = std::env::var_os("SKIFF_CONFORMANCE_DIR").map_or_else(
            || {
                PathBuf::from(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../shared/conformance/manifests"
                ))
            },
            PathBuf::from,
        );
        if dir.is_dir() {
            Some(dir)
        } else {
            eprintln!(
                "skipping: conformance manifests not found at {} (set SKIFF_CONFORMANCE_DIR)",
                dir.display()
            );
            None
        }
    }

    fn read_manifest(dir: &std::path::Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    fn parse_pod(name: &str, yaml: &str) -> Pod {
        serde_saphyr::from_str::<Pod>(yaml).unwrap_or_else(|e| panic!("parse {name}: {e}"))
    }

    /// YAML → Pod → YAML → Pod, Pod → JSON → Pod and Pod → bincode → Pod are all identity,
    /// and bincode decoding consumes every byte and re-encodes to the same bytes.
    fn assert_round_trips(pod: &Pod, what: &str) {
        let yaml = serde_saphyr::to_string(pod).unwrap_or_else(|e| panic!("{what}: to YAML: {e}"));
        let from_yaml: Pod = serde_saphyr::from_str(&yaml)
            .unwrap_or_else(|e| panic!("{what}: reparse YAML: {e}\n{yaml}"));
        assert_eq!(
            &from_yaml, pod,
            "{what}: YAML round trip changed the pod:\n{yaml}"
        );

        let json = serde_json::to_string(pod).unwrap();
        let from_json: Pod =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{what}: reparse JSON: {e}"));
        assert_eq!(
            &from_json, pod,
            "{what}: JSON round trip changed the pod:\n{json}"
        );

        let config = bincode::config::standard();
        let bytes = bincode::encode_to_vec(pod, config).unwrap();
        let (decoded, used): (Pod, usize) = bincode::decode_from_slice(&bytes, config)
            .unwrap_or_else(|e| panic!("{what}: bincode decode: {e}"));
        assert_eq!(used, bytes.len(), "{what}: bincode left trailing bytes");
        assert_eq!(&decoded, pod, "{what}: bincode round trip changed the pod");
        assert_eq!(
            bincode::encode_to_vec(&decoded, config).unwrap(),
            bytes,
            "{what}: bincode re-encoding differs"
        );
    }

    fn value(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    /// Built through serde so the test does not depend on `Quantity`'s representation.
    fn quantity(text: &str) -> Quantity {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).unwrap()
    }

    fn keys(json: &serde_json::Value) -> BTreeSet<String> {
        json.as_object()
            .unwrap_or_else(|| panic!("not an object: {json}"))
            .keys()
            .cloned()
            .collect()
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn every_single_document_pod_manifest_is_listed() {
        let Some(dir) = conformance_dir() else { return };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let is_yaml = std::path::Path::new(&name)
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("yaml"));
            if !is_yaml {
                continue;
            }
            // Multi-document files fail to read as one TypeMeta and are not Pod fixtures here.
            let Ok(type_meta) = serde_saphyr::from_str::<TypeMeta>(&read_manifest(&dir, &name))
            else {
                continue;
            };
            if type_meta.kind.as_deref() == Some("Pod") {
                found.push(name);
            }
        }
        found.sort();
        assert_eq!(found, POD_MANIFESTS);
    }

    #[test]
    fn conformance_pod_manifests_round_trip_through_yaml_json_and_bincode() {
        let Some(dir) = conformance_dir() else { return };
        for name in POD_MANIFESTS {
            let pod = parse_pod(name, &read_manifest(&dir, name));
            assert!(!pod.spec.containers.is_empty(), "{name}: no containers");
            assert_round_trips(&pod, name);
        }
    }

    /// One conformance manifest as a Pod; `None` when the corpus is absent.
    fn load(name: &str) -> Option<Pod> {
        let dir = conformance_dir()?;
        Some(parse_pod(name, &read_manifest(&dir, name)))
    }

    #[test]
    fn conformance_nginx_pod_keeps_node_selector_and_pull_policy() {
        let Some(nginx) = load("pods__pod-nginx.yaml") else {
            return;
        };
        assert_eq!(nginx.metadata.name.as_deref(), Some("nginx"));
        assert_eq!(
            nginx.spec.node_selector,
            BTreeMap::from([("disktype".to_owned(), "ssd".to_owned())])
        );
        assert_eq!(
            nginx.spec.containers[0].image_pull_policy.as_deref(),
            Some("IfNotPresent")
        );
    }

    #[test]
    fn conformance_probes_parse_exec_http_and_tcp_actions() {
        let Some(http) = load("pods__probe__http-liveness.yaml") else {
            return;
        };
        let probe = http.spec.containers[0].liveness_probe.clone().unwrap();
        assert_eq!(
            probe.http_get,
            Some(HttpGetAction {
                path: Some("/healthz".to_owned()),
                port: IntOrString::Int(8080),
                host: None,
                scheme: None,
                http_headers: vec![HttpHeader {
                    name: "Custom-Header".to_owned(),
                    value: "Awesome".to_owned(),
                }],
            })
        );
        assert_eq!(probe.initial_delay_seconds, Some(3));
        assert_eq!(probe.period_seconds, Some(3));

        let tcp = load("pods__probe__tcp-liveness-readiness.yaml").unwrap();
        let readiness = tcp.spec.containers[0].readiness_probe.clone().unwrap();
        assert_eq!(
            readiness.tcp_socket,
            Some(TcpSocketAction {
                port: IntOrString::Int(8080),
                host: None
            })
        );

        let exec = load("pods__probe__exec-liveness.yaml").unwrap();
        assert_eq!(
            exec.spec.containers[0]
                .liveness_probe
                .as_ref()
                .unwrap()
                .exec,
            Some(ExecAction {
                command: vec!["cat".to_owned(), "/tmp/healthy".to_owned()]
            })
        );
    }

    #[test]
    fn conformance_numeric_toleration_keeps_operator_and_value() {
        let Some(numeric) = load("pods__pod-with-numeric-toleration.yaml") else {
            return;
        };
        assert_eq!(
            numeric.spec.tolerations,
            vec![Toleration {
                key: Some("servicelevel.organization.example/agreed-service-level".to_owned()),
                operator: Some("Gt".to_owned()),
                value: Some("900".to_owned()),
                effect: Some("NoSchedule".to_owned()),
                toleration_seconds: None,
            }]
        );
    }

    #[test]
    fn conformance_node_and_pod_affinity_terms_are_typed() {
        let Some(node_affinity) = load("pods__pod-with-node-affinity-1.yaml") else {
            return;
        };
        let affinity = node_affinity.spec.affinity.unwrap().node_affinity.unwrap();
        assert_eq!(
            affinity.required_during_scheduling_ignored_during_execution,
            Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: vec![NodeSelectorRequirement {
                        key: "topology.kubernetes.io/zone".to_owned(),
                        operator: "In".to_owned(),
                        values: vec!["antarctica-east1".to_owned(), "antarctica-west1".to_owned()],
                    }],
                    match_fields: vec![],
                }],
            })
        );
        assert_eq!(
            affinity
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .map(|term| term.weight)
                .collect::<Vec<_>>(),
            vec![1]
        );

        let pod_affinity = load("pods__pod-with-pod-affinity.yaml").unwrap();
        let affinity = pod_affinity.spec.affinity.unwrap();
        let anti = affinity.pod_anti_affinity.unwrap();
        assert_eq!(
            anti.preferred_during_scheduling_ignored_during_execution,
            vec![WeightedPodAffinityTerm {
                weight: 100,
                pod_affinity_term: PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: BTreeMap::new(),
                        match_expressions: vec![LabelSelectorRequirement {
                            key: "security".to_owned(),
                            operator: "In".to_owned(),
                            values: vec!["S2".to_owned()],
                        }],
                    }),
                    namespaces: vec![],
                    topology_key: "topology.kubernetes.io/zone".to_owned(),
                    namespace_selector: None,
                    match_label_keys: vec![],
                    mismatch_label_keys: vec![],
                },
            }]
        );
        assert_eq!(
            affinity
                .pod_affinity
                .unwrap()
                .required_during_scheduling_ignored_during_execution
                .len(),
            1
        );
    }

    #[test]
    fn conformance_sidecar_keeps_restart_policy_and_resources() {
        let Some(sidecar) = load("pods__multi-container__resources.yaml") else {
            return;
        };
        let names: Vec<&str> = sidecar
            .spec
            .all_containers()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["setup", "log-shipper", "app"]);
        assert_eq!(sidecar.spec.init_containers[0].restart_policy, None);
        assert_eq!(
            sidecar.spec.init_containers[1].restart_policy.as_deref(),
            Some("Always")
        );
        let app = &sidecar.spec.containers[0].resources;
        assert_eq!(
            app.requests.keys().map(String::as_str).collect::<Vec<_>>(),
            ["cpu", "memory"]
        );
        assert_eq!(
            app.limits.keys().map(String::as_str).collect::<Vec<_>>(),
            ["memory"]
        );
    }

    #[test]
    fn conformance_volumes_and_ports_parse_typed() {
        let Some(pv) = load("pods__storage__pv-pod.yaml") else {
            return;
        };
        assert_eq!(
            pv.spec.volumes[0].persistent_volume_claim,
            Some(PersistentVolumeClaimVolumeSource {
                claim_name: "task-pv-claim".to_owned(),
                read_only: None,
            })
        );
        assert_eq!(
            pv.spec.containers[0].ports,
            vec![ContainerPort {
                name: Some("http-server".to_owned()),
                host_port: None,
                container_port: 80,
                protocol: None,
                host_ip: None,
            }]
        );

        let shared = load("pods__multi-container__shared-volume.yaml").unwrap();
        assert_eq!(
            shared.spec.volumes[0].empty_dir,
            Some(EmptyDirVolumeSource {
                medium: None,
                size_limit: Some(quantity("10Mi")),
            })
        );
        assert_eq!(
            shared.spec.containers[0].volume_mounts[0].read_only,
            Some(true)
        );
    }

    #[test]
    fn conformance_env_sources_are_typed() {
        let Some(dapi) = load("pods__inject__dapi-envars-pod.yaml") else {
            return;
        };
        assert_eq!(
            dapi.spec.containers[0].env[0],
            EnvVar {
                name: "MY_NODE_NAME".to_owned(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: None,
                        field_path: "spec.nodeName".to_owned(),
                    }),
                    ..EnvVarSource::default()
                }),
            }
        );
        assert_eq!(dapi.spec.restart_policy.as_deref(), Some("Never"));

        let configure = load("configmap__configure-pod.yaml").unwrap();
        assert_eq!(
            configure.spec.volumes[0].config_map,
            Some(ConfigMapVolumeSource {
                name: Some("game-demo".to_owned()),
                items: vec![
                    KeyToPath {
                        key: "game.properties".to_owned(),
                        path: "game.properties".to_owned(),
                        mode: None,
                    },
                    KeyToPath {
                        key: "user-interface.properties".to_owned(),
                        path: "user-interface.properties".to_owned(),
                        mode: None,
                    },
                ],
                default_mode: None,
                optional: None,
            })
        );
        assert_eq!(
            configure.spec.containers[0].env[0].value_from,
            Some(EnvVarSource {
                config_map_key_ref: Some(ConfigMapKeySelector {
                    name: Some("game-demo".to_owned()),
                    key: "player_initial_lives".to_owned(),
                    optional: None,
                }),
                ..EnvVarSource::default()
            })
        );

        let env_from = load("pods__inject__pod-secret-envFrom.yaml").unwrap();
        assert_eq!(
            env_from.spec.containers[0].env_from,
            vec![EnvFromSource {
                prefix: None,
                config_map_ref: None,
                secret_ref: Some(SecretEnvSource {
                    name: Some("test-secret".to_owned()),
                    optional: None,
                }),
            }]
        );
    }

    fn full_probe(port: IntOrString) -> Probe {
        Probe {
            exec: Some(ExecAction {
                command: vec!["cat".to_owned(), "/tmp/healthy".to_owned()],
            }),
            http_get: Some(HttpGetAction {
                path: Some("/healthz".to_owned()),
                port: port.clone(),
                host: Some("127.0.0.1".to_owned()),
                scheme: Some("HTTPS".to_owned()),
                http_headers: vec![HttpHeader {
                    name: "X-Probe".to_owned(),
                    value: "1".to_owned(),
                }],
            }),
            tcp_socket: Some(TcpSocketAction {
                port,
                host: Some("localhost".to_owned()),
            }),
            grpc: Some(GrpcAction {
                port: 9090,
                service: Some("health".to_owned()),
            }),
            initial_delay_seconds: Some(5),
            timeout_seconds: Some(2),
            period_seconds: Some(10),
            success_threshold: Some(1),
            failure_threshold: Some(3),
            termination_grace_period_seconds: Some(7),
        }
    }

    fn full_resources() -> ResourceRequirements {
        ResourceRequirements {
            limits: BTreeMap::from([
                ("cpu".to_owned(), quantity("1")),
                ("memory".to_owned(), quantity("128Mi")),
            ]),
            requests: BTreeMap::from([
                ("cpu".to_owned(), quantity("500m")),
                ("memory".to_owned(), quantity("64Mi")),
            ]),
            claims: Some(value(r#"[{"name":"gpu","request":"one"}]"#)),
        }
    }

    #[allow(clippy::too_many_lines)] // one literal naming every field is the point
    fn full_container(name: &str) -> Container {
        Container {
            name: name.to_owned(),
            image: Some("registry.example/app:1.0".to_owned()),
            command: vec!["/bin/app".to_owned()],
            args: vec!["--port".to_owned(), "8080".to_owned(), "yes".to_owned()],
            working_dir: Some("/srv".to_owned()),
            ports: vec![ContainerPort {
                name: Some("http".to_owned()),
                host_port: Some(18080),
                container_port: 8080,
                protocol: Some("TCP".to_owned()),
                host_ip: Some("0.0.0.0".to_owned()),
            }],
            env_from: vec![
                EnvFromSource {
                    prefix: Some("CM_".to_owned()),
                    config_map_ref: Some(ConfigMapEnvSource {
                        name: Some("settings".to_owned()),
                        optional: Some(true),
                    }),
                    secret_ref: None,
                },
                EnvFromSource {
                    prefix: None,
                    config_map_ref: None,
                    secret_ref: Some(SecretEnvSource {
                        name: Some("creds".to_owned()),
                        optional: Some(false),
                    }),
                },
            ],
            env: vec![
                EnvVar {
                    name: "PLAIN".to_owned(),
                    value: Some("0123".to_owned()),
                    value_from: None,
                },
                EnvVar {
                    name: "FROM_EVERYWHERE".to_owned(),
                    value: None,
                    value_from: Some(EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            api_version: Some("v1".to_owned()),
                            field_path: "metadata.labels['app']".to_owned(),
                        }),
                        resource_field_ref: Some(ResourceFieldSelector {
                            container_name: Some(name.to_owned()),
                            resource: "limits.memory".to_owned(),
                            divisor: Some(quantity("1Mi")),
                        }),
                        config_map_key_ref: Some(ConfigMapKeySelector {
                            name: Some("settings".to_owned()),
                            key: "level".to_owned(),
                            optional: Some(true),
                        }),
                        secret_key_ref: Some(SecretKeySelector {
                            name: Some("creds".to_owned()),
                            key: "password".to_owned(),
                            optional: Some(false),
                        }),
                        file_key_ref: Some(value(
                            r#"{"volumeName":"cfg","path":"app.env","key":"LEVEL"}"#,
                        )),
                    }),
                },
            ],
            resources: full_resources(),
            resize_policy: Some(value(
                r#"[{"resourceName":"cpu","restartPolicy":"NotRequired"}]"#,
            )),
            restart_policy: Some("Always".to_owned()),
            restart_policy_rules: Some(value(
                r#"[{"action":"Restart","exitCodes":{"operator":"In","values":[42]}}]"#,
            )),
            volume_mounts: vec![VolumeMount {
                name: "data".to_owned(),
                read_only: Some(true),
                recursive_read_only: Some("IfPossible".to_owned()),
                mount_path: "/data".to_owned(),
                sub_path: Some("sub".to_owned()),
                mount_propagation: Some("HostToContainer".to_owned()),
                sub_path_expr: Some("$(POD_NAME)".to_owned()),
            }],
            volume_devices: Some(value(r#"[{"name":"raw","devicePath":"/dev/xvda"}]"#)),
            liveness_probe: Some(full_probe(IntOrString::Int(8080))),
            readiness_probe: Some(full_probe(IntOrString::String("http".to_owned()))),
            startup_probe: Some(full_probe(IntOrString::String("8080".to_owned()))),
            lifecycle: Some(value(
                r#"{"preStop":{"exec":{"command":["sleep","5"]}},"stopSignal":"SIGUSR1"}"#,
            )),
            termination_message_path: Some("/dev/termination-log".to_owned()),
            termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
            image_pull_policy: Some("IfNotPresent".to_owned()),
            security_context: Some(value(
                r#"{"capabilities":{"drop":["ALL"]},"runAsNonRoot":true,"runAsUser":1000}"#,
            )),
            stdin: Some(true),
            stdin_once: Some(false),
            tty: Some(true),
        }
    }

    #[allow(clippy::too_many_lines)]
    fn full_volume() -> Volume {
        let opaque = |kind: &str| Some(value(&format!(r#"{{"source":"{kind}","n":1.5}}"#)));
        Volume {
            name: "data".to_owned(),
            host_path: Some(HostPathVolumeSource {
                path: "/var/data".to_owned(),
                r#type: Some("DirectoryOrCreate".to_owned()),
            }),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".to_owned()),
                size_limit: Some(quantity("1Gi")),
            }),
            gce_persistent_disk: opaque("gce"),
            aws_elastic_block_store: opaque("aws"),
            git_repo: opaque("git"),
            secret: Some(SecretVolumeSource {
                secret_name: Some("creds".to_owned()),
                items: vec![KeyToPath {
                    key: "password".to_owned(),
                    path: "pw".to_owned(),
                    mode: Some(0o400),
                }],
                default_mode: Some(0o644),
                optional: Some(false),
            }),
            nfs: opaque("nfs"),
            iscsi: opaque("iscsi"),
            glusterfs: opaque("glusterfs"),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: "claim".to_owned(),
                read_only: Some(true),
            }),
            rbd: opaque("rbd"),
            flex_volume: opaque("flex"),
            cinder: opaque("cinder"),
            cephfs: opaque("cephfs"),
            flocker: opaque("flocker"),
            downward_api: Some(value(
                r#"{"items":[{"path":"labels","fieldRef":{"fieldPath":"metadata.labels"}}]}"#,
            )),
            fc: opaque("fc"),
            azure_file: opaque("azureFile"),
            config_map: Some(ConfigMapVolumeSource {
                name: Some("settings".to_owned()),
                items: vec![KeyToPath {
                    key: "level".to_owned(),
                    path: "conf/level".to_owned(),
                    mode: None,
                }],
                default_mode: Some(420),
                optional: Some(true),
            }),
            vsphere_volume: opaque("vsphere"),
            quobyte: opaque("quobyte"),
            azure_disk: opaque("azureDisk"),
            photon_persistent_disk: opaque("photon"),
            projected: Some(value(
                r#"{"sources":[{"serviceAccountToken":{"path":"token","expirationSeconds":3600}}]}"#,
            )),
            portworx_volume: opaque("portworx"),
            scale_io: opaque("scaleIO"),
            storageos: opaque("storageos"),
            csi: opaque("csi"),
            ephemeral: opaque("ephemeral"),
            image: opaque("image"),
        }
    }

    fn label_selector(key: &str) -> LabelSelector {
        LabelSelector {
            match_labels: BTreeMap::from([("app".to_owned(), "web".to_owned())]),
            match_expressions: vec![LabelSelectorRequirement {
                key: key.to_owned(),
                operator: "In".to_owned(),
                values: vec!["a".to_owned(), "b".to_owned()],
            }],
        }
    }

    fn full_pod_affinity() -> PodAffinity {
        let term = PodAffinityTerm {
            label_selector: Some(label_selector("tier")),
            namespaces: vec!["default".to_owned()],
            topology_key: "kubernetes.io/hostname".to_owned(),
            namespace_selector: Some(LabelSelector::default()),
            match_label_keys: vec!["pod-template-hash".to_owned()],
            mismatch_label_keys: vec!["tenant".to_owned()],
        };
        PodAffinity {
            required_during_scheduling_ignored_during_execution: vec![term.clone()],
            preferred_during_scheduling_ignored_during_execution: vec![WeightedPodAffinityTerm {
                weight: 50,
                pod_affinity_term: term,
            }],
        }
    }

    fn full_container_status(name: &str) -> ContainerStatus {
        let at = |s: i64| Some(Time::from_unix_seconds(1_714_564_800 + s));
        ContainerStatus {
            name: name.to_owned(),
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some("CrashLoopBackOff".to_owned()),
                    message: Some("back-off 10s".to_owned()),
                }),
                running: Some(ContainerStateRunning { started_at: at(5) }),
                terminated: None,
            }),
            last_state: Some(ContainerState {
                waiting: None,
                running: None,
                terminated: Some(ContainerStateTerminated {
                    exit_code: 137,
                    signal: Some(9),
                    reason: Some("OOMKilled".to_owned()),
                    message: Some("killed".to_owned()),
                    started_at: at(1),
                    finished_at: at(4),
                    container_id: Some("sim://c-0".to_owned()),
                }),
            }),
            ready: true,
            restart_count: 2,
            image: "registry.example/app:1.0".to_owned(),
            image_id: "registry.example/app@sha256:00ff".to_owned(),
            container_id: Some("sim://c-1".to_owned()),
            started: Some(true),
            allocated_resources: BTreeMap::from([("cpu".to_owned(), quantity("500m"))]),
            resources: Some(full_resources()),
            volume_mounts: Some(value(
                r#"[{"name":"data","mountPath":"/data","readOnly":true}]"#,
            )),
            user: Some(value(
                r#"{"linux":{"uid":1000,"gid":1000,"supplementalGroups":[1]}}"#,
            )),
            allocated_resources_status: Some(value(
                r#"[{"name":"claim:gpu/one","resources":[{"resourceID":"dev0","health":"Healthy"}]}]"#,
            )),
            stop_signal: Some("SIGTERM".to_owned()),
        }
    }

    #[allow(clippy::too_many_lines)]
    fn full_pod() -> Pod {
        let mut metadata = ObjectMeta::named("full");
        metadata.namespace = Some("default".to_owned());
        metadata.labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        let node_term = NodeSelectorTerm {
            match_expressions: vec![NodeSelectorRequirement {
                key: "disktype".to_owned(),
                operator: "In".to_owned(),
                values: vec!["ssd".to_owned()],
            }],
            match_fields: vec![NodeSelectorRequirement {
                key: "metadata.name".to_owned(),
                operator: "NotIn".to_owned(),
                values: vec!["node-9".to_owned()],
            }],
        };
        let spec = PodSpec {
            volumes: vec![full_volume()],
            init_containers: vec![full_container("init")],
            containers: vec![full_container("app"), Container::new("side", "busybox")],
            ephemeral_containers: Some(value(
                r#"[{"name":"debug","image":"busybox","targetContainerName":"app"}]"#,
            )),
            restart_policy: Some("OnFailure".to_owned()),
            termination_grace_period_seconds: Some(30),
            active_deadline_seconds: Some(600),
            dns_policy: Some("ClusterFirst".to_owned()),
            node_selector: BTreeMap::from([("disktype".to_owned(), "ssd".to_owned())]),
            service_account_name: Some("builder".to_owned()),
            service_account: Some("builder".to_owned()),
            automount_service_account_token: Some(false),
            node_name: Some("node-1".to_owned()),
            host_network: Some(false),
            host_pid: Some(false),
            host_ipc: Some(true),
            share_process_namespace: Some(true),
            security_context: Some(value(
                r#"{"fsGroup":2000,"seccompProfile":{"type":"RuntimeDefault"},"sysctls":[]}"#,
            )),
            image_pull_secrets: vec![LocalObjectReference {
                name: Some("regcred".to_owned()),
            }],
            hostname: Some("web-0".to_owned()),
            subdomain: Some("web".to_owned()),
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![node_term.clone()],
                    }),
                    preferred_during_scheduling_ignored_during_execution: vec![
                        PreferredSchedulingTerm {
                            weight: 10,
                            preference: node_term,
                        },
                    ],
                }),
                pod_affinity: Some(full_pod_affinity()),
                pod_anti_affinity: Some(full_pod_affinity()),
            }),
            scheduler_name: Some("default-scheduler".to_owned()),
            tolerations: vec![Toleration {
                key: Some("node.kubernetes.io/not-ready".to_owned()),
                operator: Some("Exists".to_owned()),
                value: None,
                effect: Some("NoExecute".to_owned()),
                toleration_seconds: Some(300),
            }],
            host_aliases: Some(value(r#"[{"ip":"10.0.0.1","hostnames":["db"]}]"#)),
            priority_class_name: Some("high".to_owned()),
            priority: Some(1_000_000),
            dns_config: Some(value(
                r#"{"nameservers":["1.1.1.1"],"options":[{"name":"ndots","value":"2"}]}"#,
            )),
            readiness_gates: Some(value(r#"[{"conditionType":"example.com/ready"}]"#)),
            runtime_class_name: Some("sim".to_owned()),
            enable_service_links: Some(false),
            preemption_policy: Some("Never".to_owned()),
            overhead: Some(value(r#"{"cpu":"250m"}"#)),
            topology_spread_constraints: Some(value(
                r#"[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}]"#,
            )),
            set_hostname_as_fqdn: Some(true),
            os: Some(value(r#"{"name":"linux"}"#)),
            host_users: Some(false),
            scheduling_gates: Some(value(r#"[{"name":"example.com/wait"}]"#)),
            resource_claims: Some(value(
                r#"[{"name":"gpu","resourceClaimTemplateName":"gpu-template"}]"#,
            )),
            resources: Some(full_resources()),
            hostname_override: Some("override".to_owned()),
        };
        let status = PodStatus {
            observed_generation: Some(3),
            phase: Some("Running".to_owned()),
            conditions: vec![PodCondition {
                r#type: "Ready".to_owned(),
                observed_generation: Some(3),
                status: "True".to_owned(),
                last_probe_time: Some(Time::from_unix_seconds(1_714_564_900)),
                last_transition_time: Some(Time::from_unix_seconds(1_714_564_810)),
                reason: Some("PodReady".to_owned()),
                message: Some("all containers ready".to_owned()),
            }],
            message: Some("running".to_owned()),
            reason: Some("Started".to_owned()),
            nominated_node_name: Some("node-2".to_owned()),
            host_ip: Some("192.168.0.1".to_owned()),
            host_ips: vec![
                HostIp {
                    ip: "192.168.0.1".to_owned(),
                },
                HostIp {
                    ip: "fd00::1".to_owned(),
                },
            ],
            pod_ip: Some("10.244.0.5".to_owned()),
            pod_ips: vec![PodIp {
                ip: "10.244.0.5".to_owned(),
            }],
            start_time: Some(Time::from_unix_seconds(1_714_564_800)),
            init_container_statuses: vec![full_container_status("init")],
            container_statuses: vec![full_container_status("app")],
            qos_class: Some("Burstable".to_owned()),
            ephemeral_container_statuses: vec![full_container_status("debug")],
            resize: Some(value(r#""InProgress""#)),
            resource_claim_statuses: Some(value(
                r#"[{"name":"gpu","resourceClaimName":"full-gpu-x7k2"}]"#,
            )),
            extended_resource_claim_status: Some(value(
                r#"{"resourceClaimName":"full-extended","requestMappings":[]}"#,
            )),
        };
        Pod {
            api_version: ApiVersion::default(),
            kind: Kind::default(),
            metadata,
            spec,
            status,
        }
    }

    #[test]
    fn fully_populated_pod_round_trips_through_yaml_json_and_bincode() {
        assert_round_trips(&full_pod(), "full pod");
    }

    #[test]
    fn fully_populated_pod_spec_serializes_every_upstream_field_name() {
        let json = serde_json::to_value(full_pod()).unwrap();
        assert_eq!(
            keys(&json),
            set(&["apiVersion", "kind", "metadata", "spec", "status"])
        );
        assert_eq!(json["apiVersion"], "v1");
        assert_eq!(json["kind"], "Pod");
        let spec = &json["spec"];
        assert_eq!(
            keys(spec),
            set(&[
                "activeDeadlineSeconds",
                "affinity",
                "automountServiceAccountToken",
                "containers",
                "dnsConfig",
                "dnsPolicy",
                "enableServiceLinks",
                "ephemeralContainers",
                "hostAliases",
                "hostIPC",
                "hostNetwork",
                "hostPID",
                "hostUsers",
                "hostname",
                "hostnameOverride",
                "imagePullSecrets",
                "initContainers",
                "nodeName",
                "nodeSelector",
                "os",
                "overhead",
                "preemptionPolicy",
                "priority",
                "priorityClassName",
                "readinessGates",
                "resourceClaims",
                "resources",
                "restartPolicy",
                "runtimeClassName",
                "schedulerName",
                "schedulingGates",
                "securityContext",
                "serviceAccount",
                "serviceAccountName",
                "setHostnameAsFQDN",
                "shareProcessNamespace",
                "subdomain",
                "terminationGracePeriodSeconds",
                "tolerations",
                "topologySpreadConstraints",
                "volumes",
            ])
        );
    }

    #[test]
    fn fully_populated_container_serializes_every_upstream_field_name() {
        let json = serde_json::to_value(full_pod()).unwrap();
        let container = &json["spec"]["containers"][0];
        assert_eq!(
            keys(container),
            set(&[
                "args",
                "command",
                "env",
                "envFrom",
                "image",
                "imagePullPolicy",
                "lifecycle",
                "livenessProbe",
                "name",
                "ports",
                "readinessProbe",
                "resizePolicy",
                "resources",
                "restartPolicy",
                "restartPolicyRules",
                "securityContext",
                "startupProbe",
                "stdin",
                "stdinOnce",
                "terminationMessagePath",
                "terminationMessagePolicy",
                "tty",
                "volumeDevices",
                "volumeMounts",
                "workingDir",
            ])
        );
        assert_eq!(
            keys(&container["ports"][0]),
            set(&["containerPort", "hostIP", "hostPort", "name", "protocol"])
        );
        assert_eq!(
            keys(&container["env"][1]["valueFrom"]),
            set(&[
                "configMapKeyRef",
                "fieldRef",
                "fileKeyRef",
                "resourceFieldRef",
                "secretKeyRef",
            ])
        );
        assert_eq!(
            keys(&container["volumeMounts"][0]),
            set(&[
                "mountPath",
                "mountPropagation",
                "name",
                "readOnly",
                "recursiveReadOnly",
                "subPath",
                "subPathExpr",
            ])
        );
        assert_eq!(
            keys(&container["livenessProbe"]),
            set(&[
                "exec",
                "failureThreshold",
                "grpc",
                "httpGet",
                "initialDelaySeconds",
                "periodSeconds",
                "successThreshold",
                "tcpSocket",
                "terminationGracePeriodSeconds",
                "timeoutSeconds",
            ])
        );
        assert_eq!(
            keys(&container["livenessProbe"]["httpGet"]),
            set(&["host", "httpHeaders", "path", "port", "scheme"])
        );
    }

    #[test]
    fn fully_populated_volume_and_affinity_serialize_every_upstream_field_name() {
        let json = serde_json::to_value(full_pod()).unwrap();
        let spec = &json["spec"];
        assert_eq!(
            keys(&spec["volumes"][0]),
            set(&[
                "awsElasticBlockStore",
                "azureDisk",
                "azureFile",
                "cephfs",
                "cinder",
                "configMap",
                "csi",
                "downwardAPI",
                "emptyDir",
                "ephemeral",
                "fc",
                "flexVolume",
                "flocker",
                "gcePersistentDisk",
                "gitRepo",
                "glusterfs",
                "hostPath",
                "image",
                "iscsi",
                "name",
                "nfs",
                "persistentVolumeClaim",
                "photonPersistentDisk",
                "portworxVolume",
                "projected",
                "quobyte",
                "rbd",
                "scaleIO",
                "secret",
                "storageos",
                "vsphereVolume",
            ])
        );
        assert_eq!(
            keys(&spec["volumes"][0]["hostPath"]),
            set(&["path", "type"])
        );
        assert_eq!(
            keys(
                &spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                    [0]
            ),
            set(&[
                "labelSelector",
                "matchLabelKeys",
                "mismatchLabelKeys",
                "namespaceSelector",
                "namespaces",
                "topologyKey",
            ])
        );
    }

    #[test]
    fn fully_populated_status_serializes_every_upstream_field_name() {
        let json = serde_json::to_value(full_pod()).unwrap();
        let status = &json["status"];
        assert_eq!(
            keys(status),
            set(&[
                "conditions",
                "containerStatuses",
                "ephemeralContainerStatuses",
                "extendedResourceClaimStatus",
                "hostIP",
                "hostIPs",
                "initContainerStatuses",
                "message",
                "nominatedNodeName",
                "observedGeneration",
                "phase",
                "podIP",
                "podIPs",
                "qosClass",
                "reason",
                "resize",
                "resourceClaimStatuses",
                "startTime",
            ])
        );
        assert_eq!(
            keys(&status["conditions"][0]),
            set(&[
                "lastProbeTime",
                "lastTransitionTime",
                "message",
                "observedGeneration",
                "reason",
                "status",
                "type",
            ])
        );
        let container_status = &status["containerStatuses"][0];
        assert_eq!(
            keys(container_status),
            set(&[
                "allocatedResources",
                "allocatedResourcesStatus",
                "containerID",
                "image",
                "imageID",
                "lastState",
                "name",
                "ready",
                "resources",
                "restartCount",
                "started",
                "state",
                "stopSignal",
                "user",
                "volumeMounts",
            ])
        );
        assert_eq!(
            keys(&container_status["lastState"]["terminated"]),
            set(&[
                "containerID",
                "exitCode",
                "finishedAt",
                "message",
                "reason",
                "signal",
                "startedAt",
            ])
        );
        assert_eq!(
            status["conditions"][0]["lastTransitionTime"],
            "2024-05-01T12:00:10Z"
        );
    }

    #[test]
    fn minimal_pod_serializes_without_absent_fields() {
        let pod = Pod::new("web", vec![Container::new("app", "nginx")]);
        assert_eq!(
            serde_json::to_string(&pod).unwrap(),
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"app","image":"nginx"}]}}"#
        );
        assert_round_trips(&pod, "minimal pod");
    }

    #[test]
    fn misspelt_field_is_rejected_as_unknown() {
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: typo\nspec:\n  containers:\n  - name: app\n    image: nginx\n    imagePullPolicyy: Always\n";
        let err = serde_saphyr::from_str::<Pod>(yaml).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "error: line 9 column 5: unknown field `imagePullPolicyy`, expected one of name, \
                 image,"
            ),
            "unexpected error: {err}"
        );
    }

    #[test]
    fn missing_required_fields_are_rejected() {
        let cases = [
            ("spec: {}\n", "missing field `containers`"),
            (
                "spec:\n  containers:\n  - image: nginx\n",
                "missing field `name`",
            ),
            (
                "spec:\n  containers:\n  - name: app\n    ports:\n    - name: http\n",
                "missing field `containerPort`",
            ),
            (
                "spec:\n  containers:\n  - name: app\n  volumes:\n  - emptyDir: {}\n",
                "missing field `name`",
            ),
            (
                "spec:\n  containers:\n  - name: app\n    env:\n    - name: X\n      valueFrom:\n        secretKeyRef:\n          name: s\n",
                "missing field `key`",
            ),
        ];
        for (yaml, expected) in cases {
            let err = serde_saphyr::from_str::<Pod>(yaml).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{yaml}: expected {expected:?} in: {err}"
            );
        }
    }

    #[test]
    fn security_context_survives_a_round_trip_verbatim() {
        let yaml = r"
apiVersion: v1
kind: Pod
metadata:
  name: secure
spec:
  securityContext:
    runAsUser: 1000
    fsGroup: 2000
    seccompProfile:
      type: RuntimeDefault
  containers:
  - name: app
    image: nginx
    securityContext:
      allowPrivilegeEscalation: false
      runAsNonRoot: true
      capabilities:
        drop: [ALL]
        add: [NET_BIND_SERVICE]
      seLinuxOptions:
        level: 's0:c123,c456'
";
        let expected_container = serde_json::json!({
            "allowPrivilegeEscalation": false,
            "runAsNonRoot": true,
            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
            "seLinuxOptions": {"level": "s0:c123,c456"},
        });
        let expected_pod = serde_json::json!({
            "runAsUser": 1000,
            "fsGroup": 2000,
            "seccompProfile": {"type": "RuntimeDefault"},
        });
        let pod = parse_pod("secure", yaml);
        let container_context = pod.spec.containers[0].security_context.as_ref().unwrap();
        assert_eq!(container_context.to_json(), expected_container);
        assert_eq!(
            pod.spec.security_context.as_ref().unwrap().to_json(),
            expected_pod
        );

        let written = serde_saphyr::to_string(&pod).unwrap();
        let reread: serde_json::Value = serde_saphyr::from_str(&written).unwrap();
        assert_eq!(
            reread["spec"]["containers"][0]["securityContext"],
            expected_container
        );
        assert_eq!(reread["spec"]["securityContext"], expected_pod);
        assert_round_trips(&pod, "secure");
    }

    #[test]
    fn explicit_nulls_read_as_absent() {
        let yaml = "metadata:\n  name: nulls\nspec:\n  containers:\n  - name: app\n    args:\n    env: null\n    resources:\n  volumes: null\n  nodeSelector:\n  tolerations: ~\nstatus: null\n";
        let pod = parse_pod("nulls", yaml);
        assert_eq!(
            pod,
            Pod::new(
                "nulls",
                vec![Container {
                    name: "app".to_owned(),
                    ..Container::default()
                }]
            )
        );
    }

    #[test]
    fn probe_port_reads_a_number_or_a_name_and_keeps_numeric_names_as_strings() {
        let yaml = "metadata:\n  name: ports\nspec:\n  containers:\n  - name: app\n    livenessProbe:\n      httpGet:\n        port: http\n    readinessProbe:\n      tcpSocket:\n        port: 8080\n    startupProbe:\n      tcpSocket:\n        port: '8080'\n";
        let pod = parse_pod("ports", yaml);
        let container = &pod.spec.containers[0];
        let port = |probe: &Option<Probe>| {
            let probe = probe.as_ref().unwrap();
            probe
                .http_get
                .as_ref()
                .map(|a| a.port.clone())
                .or_else(|| probe.tcp_socket.as_ref().map(|a| a.port.clone()))
                .unwrap()
        };
        assert_eq!(
            port(&container.liveness_probe),
            IntOrString::String("http".to_owned())
        );
        assert_eq!(port(&container.readiness_probe), IntOrString::Int(8080));
        assert_eq!(
            port(&container.startup_probe),
            IntOrString::String("8080".to_owned())
        );
        assert_round_trips(&pod, "ports");

        let too_big = yaml.replace("port: 8080", "port: 4294967296");
        let err = serde_saphyr::from_str::<Pod>(&too_big)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "integer 4294967296 is out of range for IntOrString: it must fit in 32 bits"
            ),
            "unexpected error: {err}"
        );
    }

    #[test]
    fn all_containers_yields_init_containers_first() {
        let mut spec = PodSpec {
            containers: vec![Container::new("b", "x"), Container::new("c", "x")],
            ..PodSpec::default()
        };
        spec.init_containers = vec![Container::new("a", "x")];
        let names: Vec<&str> = spec.all_containers().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn taint_round_trips_with_time_added() {
        let taint = Taint {
            key: "node.kubernetes.io/unreachable".to_owned(),
            value: None,
            effect: "NoExecute".to_owned(),
            time_added: Some(Time::from_unix_seconds(1_714_564_800)),
        };
        let json = serde_json::to_string(&taint).unwrap();
        assert_eq!(
            json,
            r#"{"key":"node.kubernetes.io/unreachable","effect":"NoExecute","timeAdded":"2024-05-01T12:00:00Z"}"#
        );
        assert_eq!(serde_json::from_str::<Taint>(&json).unwrap(), taint);
        let yaml = serde_saphyr::to_string(&taint).unwrap();
        assert_eq!(serde_saphyr::from_str::<Taint>(&yaml).unwrap(), taint);
    }

    #[test]
    fn tolerations_match_taints_as_upstream() {
        let t = Taint {
            key: "k".into(),
            effect: "NoExecute".into(),
            ..Taint::default()
        };
        let valued = Taint {
            value: Some("v".into()),
            ..t.clone()
        };
        let tol =
            |key: Option<&str>, op: Option<&str>, value: Option<&str>, effect: Option<&str>| {
                Toleration {
                    key: key.map(Into::into),
                    operator: op.map(Into::into),
                    value: value.map(Into::into),
                    effect: effect.map(Into::into),
                    toleration_seconds: None,
                }
            };
        assert!(tol(None, Some("Exists"), None, None).tolerates(&valued));
        assert!(tol(Some("k"), None, Some("v"), None).tolerates(&valued));
        assert!(!tol(Some("k"), Some("Equal"), Some("w"), None).tolerates(&valued));
        assert!(tol(Some("k"), Some("Equal"), None, None).tolerates(&t));
        assert!(!tol(Some("k"), Some("Exists"), None, Some("NoSchedule")).tolerates(&t));
        assert!(!tol(Some("other"), Some("Exists"), None, None).tolerates(&t));
        let numeric = Taint {
            value: Some("5".into()),
            ..t.clone()
        };
        assert!(tol(Some("k"), Some("Lt"), Some("10"), None).tolerates(&numeric));
        assert!(!tol(Some("k"), Some("Gt"), Some("10"), None).tolerates(&numeric));
        assert!(!tol(Some("k"), Some("Lt"), Some("x"), None).tolerates(&numeric));
    }
}
