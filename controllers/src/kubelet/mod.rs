//! The kubelet (seed §7): registers its Node, renews its Lease, and runs the pods bound to it
//! through a [`crate::cri::Runtime`], reporting their status.
//!
//! The decisions are a pure reconcile ([`Kubelet::reconcile`]): the node's pods from the API
//! (a [`View`]), a [`Snapshot`] of the runtime's sandboxes, containers and images, the
//! kubelet's own memory (crash and pull backoff, probe results, statuses written) and `now`
//! in; [`RuntimeAction`]s and API [`Action`]s out ([`Output`]). The agent ([`agent`]) takes
//! the snapshot, applies the runtime actions ([`Kubelet::apply`]), then sends the API actions.
//!
//! Upstream rules followed (cited where applied): registration and node status
//! (`pkg/kubelet/kubelet_node_status.go`), the Lease (`pkg/kubelet/nodelease`), the sync of
//! one pod (`pkg/kubelet/kuberuntime/kuberuntime_manager.go`, `computePodActions`), pod
//! status (`pkg/kubelet/kubelet_pods.go`, `generateAPIPodStatus`, `getPhase`), crash and
//! image pull backoff (`client-go/util/flowcontrol/backoff.go`), probes
//! (`pkg/kubelet/prober`), static and mirror pods (`pkg/kubelet/config/file.go`,
//! `pkg/kubelet/pod/mirror_client.go`).
//!
//! ```
//! use std::sync::Arc;
//! use skiff_controllers::cri::sim::{SimConfig, SimRuntime};
//! use skiff_controllers::kubelet::{Kubelet, KubeletConfig, Snapshot};
//! use skiff_controllers::view::View;
//! use skiff_core::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::new(1_700_000_000);
//! let runtime = SimRuntime::new(Arc::new(clock.clone()), SimConfig::default());
//! let mut config = KubeletConfig::new("node-1");
//! config.pod_cidr = Some("10.244.1.0/24".into());
//! let mut kubelet = Kubelet::new(config);
//! // No Node in the API yet: the first round registers it.
//! let view = View::new();
//! let out = kubelet.reconcile(&view, &Snapshot::take(&runtime), clock.wall());
//! assert_eq!(out.api[0].describe(), "create node/node-1");
//! // The agent would now apply `out.runtime` with `kubelet.apply(..)` and send `out.api`.
//! ```

pub mod agent;
mod backoff;
pub mod bench;
pub mod crictl_cmd;
mod node;
pub mod probe;
mod reconcile;
pub mod server;
pub mod static_pods;
mod status;

#[cfg(test)]
mod agent_tests;
#[cfg(test)]
mod server_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use skiff_core::client::ClientError;
use skiff_core::object::{ObjectMeta, Pod, PodStatus, Taint, Time};
use skiff_core::quantity::{Format, Quantity};

use crate::cri::{
    ContainerConfig, ContainerFilter, ContainerStatus, CriError, HostFs, PodSandboxConfig,
    PodSandboxStatus, PullImageResponse, Runtime, RuntimeStatus, SandboxFilter, VersionResponse,
    normalize_image,
};
use crate::reconcile::Action;
use crate::view::View;

pub use backoff::Backoff;

/// Label of sandboxes and containers: the pod's name (upstream `types.KubernetesPodNameLabel`).
pub const POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
/// Label: the pod's namespace.
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
/// Label: the pod's uid.
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
/// Label of containers: the container's name in the pod spec.
pub const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";
/// Annotation of containers: how many times the container was restarted before this one.
pub const RESTART_COUNT_ANNOTATION: &str = "io.kubernetes.container.restartCount";
/// Annotation of sandboxes: the pod's termination grace period.
pub const GRACE_ANNOTATION: &str = "io.kubernetes.pod.terminationGracePeriod";

/// How the kubelet is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeletConfig {
    /// The node's name (and hostname label).
    pub node_name: String,
    /// The node's address (`InternalIP`).
    pub node_ip: String,
    /// The port of the kubelet's node API (upstream `--port`, 10250), recorded in
    /// `status.daemonEndpoints.kubeletEndpoint.port`.
    pub port: u16,
    /// `topology.kubernetes.io/zone`, if any.
    pub zone: Option<String>,
    /// Extra labels registered with the node.
    pub labels: BTreeMap<String, String>,
    /// Taints registered with the node (`--register-with-taints`).
    pub taints: Vec<Taint>,
    /// Capacity (`cpu` 4, `memory` 8Gi, `pods` 110 by default).
    pub capacity: BTreeMap<String, Quantity>,
    /// Reserved for the system; allocatable is capacity minus this.
    pub reserved: BTreeMap<String, Quantity>,
    /// Pod CIDR used while the node has none in `spec.podCIDR`.
    pub pod_cidr: Option<String>,
    /// How often node status is computed (upstream `nodeStatusUpdateFrequency`, 10 s).
    pub node_status_update_frequency: Duration,
    /// How often unchanged node status is still written (`nodeStatusReportFrequency`, 5 min).
    pub node_status_report_frequency: Duration,
    /// Lease duration (`nodeLeaseDurationSeconds`, 40); renewed every quarter of it.
    pub lease_duration_seconds: i32,
    /// Crash loop backoff cap (`MaxContainerBackOff`, 300 s).
    pub max_container_backoff: Duration,
    /// The kubelet version reported in node info.
    pub kubelet_version: String,
    /// Cluster DNS servers given to `ClusterFirst` pods (`clusterDNS`, kubeadm's 10.96.0.10).
    pub cluster_dns: Vec<String>,
    /// The cluster's DNS domain (`clusterDomain`, `cluster.local`).
    pub cluster_domain: String,
    /// The node's own resolver, given to `dnsPolicy: Default` and host-network pods.
    pub node_dns: crate::cri::DnsConfig,
}

impl KubeletConfig {
    /// Upstream defaults for a node named `node_name`.
    pub fn new(node_name: impl Into<String>) -> Self {
        Self {
            node_name: node_name.into(),
            node_ip: "10.0.0.10".to_owned(),
            port: skiff_core::kubelet_api::KUBELET_PORT,
            zone: None,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            capacity: BTreeMap::from([
                ("cpu".to_owned(), Quantity::new(4, Format::DecimalSI)),
                (
                    "memory".to_owned(),
                    Quantity::new(8 << 30, Format::BinarySI),
                ),
                ("pods".to_owned(), Quantity::new(110, Format::DecimalSI)),
            ]),
            reserved: BTreeMap::new(),
            pod_cidr: None,
            node_status_update_frequency: Duration::from_secs(10),
            node_status_report_frequency: Duration::from_secs(300),
            lease_duration_seconds: 40,
            max_container_backoff: Duration::from_secs(300),
            kubelet_version: "v1.33.0-skiff".to_owned(),
            cluster_dns: vec!["10.96.0.10".to_owned()],
            cluster_domain: "cluster.local".to_owned(),
            node_dns: crate::cri::DnsConfig {
                servers: vec!["10.0.0.2".to_owned()],
                searches: Vec::new(),
                options: Vec::new(),
            },
        }
    }
}

/// One change the kubelet asks of the runtime (or of the node's files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeAction {
    /// Give the runtime the node's pod CIDR.
    UpdateRuntimeConfig {
        /// The CIDR.
        pod_cidr: String,
    },
    /// Write a volume file on the node.
    WriteFile {
        /// Node path.
        path: String,
        /// Content.
        content: Vec<u8>,
    },
    /// Remove a pod's volume directory.
    RemoveDir {
        /// Node path.
        path: String,
    },
    /// Pull an image for a pod.
    PullImage {
        /// `namespace/name` of the pod.
        pod: String,
        /// The pod's uid (the backoff key).
        pod_uid: String,
        /// The image as the spec writes it.
        image: String,
    },
    /// Create and start a sandbox.
    RunPodSandbox {
        /// `namespace/name`.
        pod: String,
        /// Its config.
        config: PodSandboxConfig,
    },
    /// Create a container and start it (skipped when the batch's pull of its image did not
    /// complete).
    StartContainer {
        /// `namespace/name`.
        pod: String,
        /// The pod's uid.
        pod_uid: String,
        /// The sandbox.
        sandbox_id: String,
        /// Its config.
        config: ContainerConfig,
    },
    /// Stop a container with a grace period.
    StopContainer {
        /// `namespace/name/container`.
        container: String,
        /// Container id.
        container_id: String,
        /// Grace period.
        timeout: Duration,
    },
    /// Remove an exited container (garbage collection of older attempts).
    RemoveContainer {
        /// `namespace/name/container`.
        container: String,
        /// Its attempt.
        attempt: u32,
        /// Container id.
        container_id: String,
    },
    /// Stop a sandbox.
    StopPodSandbox {
        /// `namespace/name`.
        pod: String,
        /// Sandbox id.
        sandbox_id: String,
    },
    /// Remove a sandbox (and its containers).
    RemovePodSandbox {
        /// `namespace/name`.
        pod: String,
        /// Sandbox id.
        sandbox_id: String,
    },
}

impl RuntimeAction {
    /// A short description for tests and logs: `start default/web/app attempt 1`.
    pub fn describe(&self) -> String {
        match self {
            RuntimeAction::UpdateRuntimeConfig { pod_cidr } => format!("runtime-config {pod_cidr}"),
            RuntimeAction::WriteFile { path, .. } => format!("write {path}"),
            RuntimeAction::RemoveDir { path } => format!("remove {path}"),
            RuntimeAction::PullImage { image, .. } => format!("pull {image}"),
            RuntimeAction::RunPodSandbox { pod, config } if config.metadata.attempt == 0 => {
                format!("run-sandbox {pod}")
            }
            RuntimeAction::RunPodSandbox { pod, config } => {
                format!("run-sandbox {pod} attempt {}", config.metadata.attempt)
            }
            RuntimeAction::StartContainer { pod, config, .. } => format!(
                "start {pod}/{} attempt {}",
                config.metadata.name, config.metadata.attempt
            ),
            RuntimeAction::StopContainer {
                container, timeout, ..
            } => format!("stop {container} grace {}s", timeout.as_secs()),
            RuntimeAction::RemoveContainer {
                container, attempt, ..
            } => format!("remove {container} attempt {attempt}"),
            RuntimeAction::StopPodSandbox { pod, .. } => format!("stop-sandbox {pod}"),
            RuntimeAction::RemovePodSandbox { pod, .. } => format!("remove-sandbox {pod}"),
        }
    }
}

/// What one kubelet reconcile returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Runtime changes, applied first, in order.
    pub runtime: Vec<RuntimeAction>,
    /// API writes, sent after the runtime changes, in order.
    pub api: Vec<Action>,
    /// Reconcile again after this long even if nothing changes.
    pub requeue_after: Option<Duration>,
}

impl Output {
    /// Keeps the earlier of two requeue deadlines.
    pub fn requeue_at_most(&mut self, after: Duration) {
        self.requeue_after = Some(self.requeue_after.map_or(after, |d| d.min(after)));
    }
}

/// The runtime's state at one moment, as the reconcile reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Every sandbox.
    pub sandboxes: Vec<PodSandboxStatus>,
    /// Every container.
    pub containers: Vec<ContainerStatus>,
    /// Normalized references of the images on the node.
    pub images: BTreeSet<String>,
    /// Image names and sizes (for node status).
    pub image_list: Vec<crate::cri::Image>,
    /// Runtime and network readiness.
    pub status: RuntimeStatus,
    /// Runtime version.
    pub version: VersionResponse,
}

impl Snapshot {
    /// Reads everything the reconcile needs from `runtime`.
    pub fn take(runtime: &dyn Runtime) -> Self {
        let image_list = runtime.list_images();
        Self {
            sandboxes: runtime.list_pod_sandbox(&SandboxFilter::default()),
            containers: runtime.list_containers(&ContainerFilter::default()),
            images: image_list
                .iter()
                .flat_map(|i| i.repo_tags.iter().map(|t| normalize_image(t)))
                .collect(),
            image_list,
            status: runtime.status(),
            version: runtime.version(),
        }
    }

    /// Whether the runtime's network is ready (it has a pod CIDR).
    pub fn network_ready(&self) -> bool {
        self.status
            .condition("NetworkReady")
            .is_some_and(|c| c.status)
    }
}

/// What the agent did with one runtime action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Done.
    Ok,
    /// The image is on the node.
    Pulled {
        /// How long the pull took (zero when the runtime had it at once).
        took: Duration,
        /// The image's size in bytes.
        size: u64,
    },
    /// A pull is under way.
    Pulling(Duration),
    /// Not attempted: the pull of its image did not complete in this batch.
    Skipped,
    /// The runtime refused.
    Failed(CriError),
}

/// Image pull memory of one (pod, image).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PullMemory {
    pub(crate) backoff: Option<Backoff>,
    pub(crate) last_error: Option<String>,
    pub(crate) pulling_until: Option<SystemTime>,
    /// Whether the last failure was shown as `ErrImagePull` already (then `ImagePullBackOff`).
    pub(crate) reported: bool,
    /// When the pull under way began.
    pub(crate) pull_started: Option<SystemTime>,
}

/// A kubelet: its configuration and its memory between reconciles.
#[derive(Debug, Clone)]
pub struct Kubelet {
    pub(crate) config: KubeletConfig,
    /// Crash loop backoff per (pod uid, container name).
    pub(crate) crash_backoff: BTreeMap<(String, String), Backoff>,
    /// Pull state per (pod uid, image).
    pub(crate) pulls: BTreeMap<(String, String), PullMemory>,
    /// Why the last create/start of a container failed, per (pod uid, container name).
    pub(crate) start_errors: BTreeMap<(String, String), (String, String)>,
    /// Why the last sandbox creation failed, per pod uid.
    pub(crate) sandbox_errors: BTreeMap<String, String>,
    /// Probe workers.
    pub(crate) probes: probe::Probes,
    /// Containers being stopped: id → when the stop was sent.
    pub(crate) stopping: BTreeMap<String, SystemTime>,
    /// Last status written per pod uid.
    pub(crate) statuses: BTreeMap<String, PodStatus>,
    /// The API pod's resourceVersion when its status was last written or confirmed, per uid:
    /// a newer version whose status differs means someone else wrote it (the node lifecycle
    /// controller marking pods NotReady), and the kubelet writes its own again.
    pub(crate) status_versions: BTreeMap<String, Option<String>>,
    /// When the kubelet first saw each pod (`status.startTime`).
    pub(crate) start_times: BTreeMap<String, Time>,
    /// Pods whose final deletion was sent.
    pub(crate) finalized: BTreeSet<String>,
    /// Volume files last written, per pod uid (path → content).
    pub(crate) volume_files: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// Node registration, status and lease memory.
    pub(crate) node: node::NodeMemory,
    /// Static pods read from the manifest directory.
    pub(crate) static_pods: Vec<Pod>,
    /// The runtime's name, for `containerID` (`skiff-sim://…`).
    pub(crate) runtime_name: String,
}

impl Kubelet {
    /// A kubelet with empty memory (a fresh start or a restart).
    pub fn new(config: KubeletConfig) -> Self {
        Self {
            config,
            crash_backoff: BTreeMap::new(),
            pulls: BTreeMap::new(),
            start_errors: BTreeMap::new(),
            sandbox_errors: BTreeMap::new(),
            probes: probe::Probes::default(),
            stopping: BTreeMap::new(),
            statuses: BTreeMap::new(),
            status_versions: BTreeMap::new(),
            start_times: BTreeMap::new(),
            finalized: BTreeSet::new(),
            volume_files: BTreeMap::new(),
            node: node::NodeMemory::default(),
            static_pods: Vec::new(),
            runtime_name: "containerd".to_owned(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &KubeletConfig {
        &self.config
    }

    /// Replaces the static pods (from [`static_pods::load_dir`]).
    pub fn set_static_pods(&mut self, pods: Vec<Pod>) {
        self.static_pods = pods;
    }

    /// One reconcile of the node and all its pods at `now`.
    pub fn reconcile(&mut self, view: &View, snapshot: &Snapshot, now: SystemTime) -> Output {
        let mut out = Output::default();
        self.runtime_name.clone_from(&snapshot.version.runtime_name);
        self.reconcile_node(view, snapshot, now, &mut out);
        self.reconcile_pods(view, snapshot, now, &mut out);
        out
    }

    #[allow(clippy::too_many_lines, reason = "one arm per runtime action")]
    /// Applies runtime actions in order and records their outcomes in the kubelet's memory.
    /// A container start whose image pull in the same batch did not complete is skipped.
    pub fn apply(
        &mut self,
        runtime: &dyn Runtime,
        host: &dyn HostFs,
        actions: &[RuntimeAction],
        now: SystemTime,
    ) -> Vec<Applied> {
        let mut unpulled: BTreeSet<String> = BTreeSet::new();
        let mut results = Vec::with_capacity(actions.len());
        for action in actions {
            let applied = match action {
                RuntimeAction::UpdateRuntimeConfig { pod_cidr } => {
                    let result = done(runtime.update_runtime_config(pod_cidr));
                    if result == Applied::Ok {
                        self.node.pod_cidr_applied = Some(pod_cidr.clone());
                    }
                    result
                }
                RuntimeAction::WriteFile { path, content } => {
                    host.write_file(path, content);
                    Applied::Ok
                }
                RuntimeAction::RemoveDir { path } => {
                    host.remove_all(path);
                    Applied::Ok
                }
                RuntimeAction::PullImage { pod_uid, image, .. } => {
                    let key = (pod_uid.clone(), image.clone());
                    match runtime.pull_image(image) {
                        Ok(PullImageResponse::Pulled { .. }) => {
                            let started = self
                                .pulls
                                .remove(&key)
                                .and_then(|m| m.pull_started)
                                .unwrap_or(now);
                            let size = runtime
                                .image_status(image)
                                .ok()
                                .flatten()
                                .map_or(0, |i| i.size);
                            Applied::Pulled {
                                took: now.duration_since(started).unwrap_or(Duration::ZERO),
                                size,
                            }
                        }
                        Ok(PullImageResponse::InProgress { remaining }) => {
                            unpulled.insert(image.clone());
                            let memory = self.pulls.entry(key).or_default();
                            memory.pulling_until = Some(now + remaining);
                            memory.pull_started.get_or_insert(now);
                            Applied::Pulling(remaining)
                        }
                        Err(e) => {
                            unpulled.insert(image.clone());
                            let memory = self.pulls.entry(key).or_default();
                            // Upstream image manager: `backOff.Next(key, now)` on a failed
                            // pull, ErrImagePull now, ImagePullBackOff until it expires.
                            memory
                                .backoff
                                .get_or_insert_with(|| Backoff::new(now))
                                .next(
                                    now,
                                    now,
                                    IMAGE_BACKOFF_INITIAL,
                                    self.config.max_container_backoff,
                                );
                            memory.last_error = Some(e.to_string());
                            memory.reported = false;
                            memory.pulling_until = None;
                            Applied::Failed(e)
                        }
                    }
                }
                RuntimeAction::RunPodSandbox { config, .. } => {
                    match runtime.run_pod_sandbox(config) {
                        Ok(_) => {
                            self.sandbox_errors.remove(&config.metadata.uid);
                            Applied::Ok
                        }
                        Err(e) => {
                            self.sandbox_errors
                                .insert(config.metadata.uid.clone(), e.to_string());
                            Applied::Failed(e)
                        }
                    }
                }
                RuntimeAction::StartContainer {
                    pod_uid,
                    sandbox_id,
                    config,
                    ..
                } => {
                    let key = (pod_uid.clone(), config.metadata.name.clone());
                    if unpulled.contains(&config.image) {
                        Applied::Skipped
                    } else {
                        match runtime.create_container(sandbox_id, config) {
                            Err(e) => {
                                self.start_errors.insert(
                                    key,
                                    ("CreateContainerError".to_owned(), e.to_string()),
                                );
                                Applied::Failed(e)
                            }
                            Ok(id) => match runtime.start_container(&id) {
                                Ok(()) => {
                                    self.start_errors.remove(&key);
                                    Applied::Ok
                                }
                                Err(e) => {
                                    self.start_errors.insert(
                                        key,
                                        ("RunContainerError".to_owned(), e.to_string()),
                                    );
                                    Applied::Failed(e)
                                }
                            },
                        }
                    }
                }
                RuntimeAction::StopContainer {
                    container_id,
                    timeout,
                    ..
                } => {
                    self.stopping.insert(container_id.clone(), now);
                    done(runtime.stop_container(container_id, *timeout))
                }
                RuntimeAction::RemoveContainer { container_id, .. } => {
                    done(runtime.remove_container(container_id))
                }
                RuntimeAction::StopPodSandbox { sandbox_id, .. } => {
                    done(runtime.stop_pod_sandbox(sandbox_id))
                }
                RuntimeAction::RemovePodSandbox { sandbox_id, .. } => {
                    done(runtime.remove_pod_sandbox(sandbox_id))
                }
            };
            results.push(applied);
        }
        results
    }

    /// Events about what applied runtime actions did, with upstream's reasons and wording
    /// (`Pulling`, `Pulled`, `Failed`, `Created`, `Started`, `Killing`,
    /// `FailedCreatePodSandBox`, `SandboxChanged`), about the pod (a static pod's mirror).
    #[allow(clippy::too_many_lines, reason = "one arm per action and outcome")]
    pub fn events(
        &self,
        view: &View,
        actions: &[RuntimeAction],
        applied: &[Applied],
        now: SystemTime,
    ) -> Vec<Action> {
        use crate::reconcile::{EventType, event};
        let mut out = Vec::new();
        let mut push = |pod_key: &str, type_: EventType, reason: &str, message: String| {
            let (ns, name) = pod_key.split_once('/').unwrap_or(("", pod_key));
            let Some(pod) = view.get::<Pod>(ns, name) else {
                return;
            };
            let object: skiff_core::object::Object = pod.clone().into();
            let mut action = event(&object, type_, reason, message.clone(), "kubelet", now);
            // One name per (pod, time, reason, message): two containers started in the same
            // round get two events.
            if let Action::Create(skiff_core::object::Object::Event(ev)) = &mut action {
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in reason.bytes().chain(message.bytes()) {
                    h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                }
                let micros = skiff_core::clock::unix_micros(now);
                ev.metadata.name = Some(format!("{name}.{micros:x}{h:016x}"));
                ev.source.host = Some(self.config.node_name.clone());
            }
            out.push(action);
        };
        let mut pulled: BTreeSet<(String, String)> = BTreeSet::new();
        for (action, result) in actions.iter().zip(applied) {
            match (action, result) {
                (RuntimeAction::PullImage { pod, image, .. }, Applied::Pulled { took, size }) => {
                    pulled.insert((pod.clone(), image.clone()));
                    let took = reconcile::go_duration(*took);
                    push(
                        pod,
                        EventType::Normal,
                        "Pulling",
                        format!("Pulling image \"{image}\""),
                    );
                    push(
                        pod,
                        EventType::Normal,
                        "Pulled",
                        format!(
                            "Successfully pulled image \"{image}\" in {took} ({took} including \
                             waiting). Image size: {size} bytes."
                        ),
                    );
                }
                (RuntimeAction::PullImage { pod, image, .. }, Applied::Failed(e)) => {
                    pulled.insert((pod.clone(), image.clone()));
                    push(
                        pod,
                        EventType::Normal,
                        "Pulling",
                        format!("Pulling image \"{image}\""),
                    );
                    push(
                        pod,
                        EventType::Warning,
                        "Failed",
                        format!("Failed to pull image \"{image}\": {e}"),
                    );
                    push(
                        pod,
                        EventType::Warning,
                        "Failed",
                        "Error: ErrImagePull".to_owned(),
                    );
                }
                (RuntimeAction::PullImage { pod, image, .. }, _) => {
                    pulled.insert((pod.clone(), image.clone()));
                }
                (RuntimeAction::StartContainer { pod, config, .. }, Applied::Ok) => {
                    if !pulled.contains(&(pod.clone(), config.image.clone())) {
                        push(
                            pod,
                            EventType::Normal,
                            "Pulled",
                            format!(
                                "Container image \"{}\" already present on machine",
                                config.image
                            ),
                        );
                    }
                    let name = &config.metadata.name;
                    push(
                        pod,
                        EventType::Normal,
                        "Created",
                        format!("Created container: {name}"),
                    );
                    push(
                        pod,
                        EventType::Normal,
                        "Started",
                        format!("Started container {name}"),
                    );
                }
                (RuntimeAction::StartContainer { pod, .. }, Applied::Failed(e)) => {
                    push(pod, EventType::Warning, "Failed", format!("Error: {e}"));
                }
                (RuntimeAction::StopContainer { container, .. }, Applied::Ok) => {
                    let (pod, name) = container.rsplit_once('/').unwrap_or(("", container));
                    push(
                        pod,
                        EventType::Normal,
                        "Killing",
                        format!("Stopping container {name}"),
                    );
                }
                (RuntimeAction::RunPodSandbox { pod, config }, Applied::Ok)
                    if config.metadata.attempt > 0 =>
                {
                    push(
                        pod,
                        EventType::Normal,
                        "SandboxChanged",
                        "Pod sandbox changed, it will be killed and re-created.".to_owned(),
                    );
                }
                (RuntimeAction::RunPodSandbox { pod, .. }, Applied::Failed(e)) => {
                    push(
                        pod,
                        EventType::Warning,
                        "FailedCreatePodSandBox",
                        format!("Failed to create pod sandbox: {e}"),
                    );
                }
                _ => {}
            }
        }
        out
    }

    /// An API action this kubelet asked for failed: forget what was assumed about it (the
    /// status written, the lease renewed, the deletion sent) so the next reconcile retries.
    pub fn api_failed(&mut self, action: &Action, error: &ClientError, now: SystemTime) {
        let _ = error;
        match action {
            Action::UpdateStatus(object) | Action::Update(object) | Action::Create(object) => {
                let meta: &ObjectMeta = object.metadata();
                match object {
                    skiff_core::object::Object::Pod(pod) => {
                        let uid = Self::uid_for_status(pod)
                            .unwrap_or_else(|| meta.uid.clone().unwrap_or_default());
                        self.statuses.remove(&uid);
                        self.status_versions.remove(&uid);
                        if matches!(action, Action::Create(_)) {
                            self.node.mirror_pending.remove(meta.name_or_empty());
                        }
                    }
                    skiff_core::object::Object::Lease(_) => self.lease_failed(now),
                    skiff_core::object::Object::Node(_) => self.node_status_failed(),
                    _ => {}
                }
            }
            Action::Delete { options, .. } => {
                if let Some(uid) = &options.uid {
                    self.finalized.remove(uid);
                }
            }
            Action::Bind { .. } => {}
        }
    }
}

fn done(result: crate::cri::Result<()>) -> Applied {
    match result {
        Ok(()) => Applied::Ok,
        Err(e) => Applied::Failed(e),
    }
}

/// First image pull backoff (upstream kubelet `backOffPeriod`, 10 s).
pub const IMAGE_BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// First crash loop backoff (upstream `initialBackOff`... `backOffPeriod`, 10 s).
pub const CRASH_BACKOFF_INITIAL: Duration = Duration::from_secs(10);
