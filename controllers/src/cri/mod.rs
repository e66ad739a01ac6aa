//! The container runtime interface (CRI, seed §1): the [`Runtime`] trait the kubelet drives,
//! mirroring upstream's `RuntimeService` and `ImageService` (`k8s.io/cri-api`, `api.proto`),
//! the simulated runtime ([`sim::SimRuntime`]) and a conformance suite every implementation
//! runs ([`conformance::run`]).
//!
//! # Why the trait is synchronous
//!
//! Upstream CRI calls are gRPC calls that may block (`PullImage` for the whole pull,
//! `StopContainer` for up to its timeout). skiff's runtimes are in-memory and driven by a
//! [`Clock`](skiff_core::clock::Clock), so nothing ever waits inside a call: a call changes the
//! runtime's state and returns. The two operations that take time upstream are split into a
//! request and an observation instead:
//!
//! - [`Runtime::pull_image`] answers [`PullImageResponse::InProgress`] until the pull's time
//!   has passed on the runtime's clock; calling it again polls the same pull.
//! - [`Runtime::stop_container`] sends the stop signal and returns; the container reports
//!   `Running` until it has exited (by itself after the signal, or killed when the timeout has
//!   passed).
//!
//! A synchronous trait keeps the kubelet's "apply these runtime actions" step free of await
//! points, so a simulated crash never lands half-way through one runtime call, and keeps the
//! trait object-safe without boxed futures. A remote runtime would sit behind an adapter that
//! owns its own connection.
//!
//! # Guarantees every implementation gives (checked by [`conformance::run`])
//!
//! - **Idempotence per id.** `run_pod_sandbox` with the metadata (namespace, name, uid,
//!   attempt) of an existing sandbox returns that sandbox's id; `create_container` with the
//!   (sandbox, name, attempt) of an existing container returns its id. So a kubelet that
//!   retries after an unknown outcome never makes a duplicate. `stop_pod_sandbox`,
//!   `remove_pod_sandbox`, `stop_container` and `remove_container` of an id that is already
//!   stopped or gone succeed (as upstream's `api.proto` asks). `start_container` of a container
//!   that is not `Created` fails with [`CriError::FailedPrecondition`]: a container runs once;
//!   a restart is a new container with the next attempt number.
//! - **Removal cascades.** Removing a sandbox removes its containers and releases its IP.
//! - **A kubelet restart loses nothing.** The runtime is independent of the kubelet: sandboxes,
//!   containers (running or exited), their labels and annotations, logs and images are all
//!   still there, which is what lets a restarted kubelet adopt them.
//! - **A node crash** (power loss, reboot) stops everything: every running container is
//!   `Exited` with code 255 and reason `Unknown`, every sandbox is `NotReady`, pulls in
//!   progress are lost. What is on disk survives: images, exited containers and their logs,
//!   volume files on the node.
//! - **Determinism.** Ids come from a seeded generator; every listing is ordered by id.

pub mod conformance;
pub mod crictl;
pub mod network;
pub mod sim;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, SystemTime};

/// Result of a runtime call.
pub type Result<T> = std::result::Result<T, CriError>;

/// Why a runtime call failed (the gRPC codes upstream runtimes answer with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CriError {
    /// No sandbox, container or image has that id (gRPC `NotFound`).
    NotFound(String),
    /// The request is malformed (gRPC `InvalidArgument`).
    InvalidArgument(String),
    /// The object is in the wrong state for the call (gRPC `FailedPrecondition`).
    FailedPrecondition(String),
    /// The image could not be pulled: unknown repository or tag, or the registry refused.
    ImagePull(String),
    /// The runtime cannot serve the call now (no pod network yet, …).
    Unavailable(String),
}

impl std::fmt::Display for CriError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CriError::NotFound(m) | CriError::ImagePull(m) => {
                write!(f, "rpc error: code = NotFound desc = {m}")
            }
            CriError::InvalidArgument(m) => {
                write!(f, "rpc error: code = InvalidArgument desc = {m}")
            }
            CriError::FailedPrecondition(m) => {
                write!(f, "rpc error: code = FailedPrecondition desc = {m}")
            }
            CriError::Unavailable(m) => write!(f, "rpc error: code = Unavailable desc = {m}"),
        }
    }
}

impl std::error::Error for CriError {}

/// What identifies a sandbox to the kubelet (upstream `PodSandboxMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct PodSandboxMetadata {
    /// Pod name.
    pub name: String,
    /// Pod uid.
    pub uid: String,
    /// Pod namespace.
    pub namespace: String,
    /// How many sandboxes of this pod were made before this one.
    pub attempt: u32,
}

/// What a sandbox is made from (upstream `PodSandboxConfig`, the parts skiff uses).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodSandboxConfig {
    /// Identity.
    pub metadata: PodSandboxMetadata,
    /// The pod's hostname (what `hostname` prints inside it).
    pub hostname: String,
    /// Labels the kubelet finds the sandbox by (`io.kubernetes.pod.uid`, …).
    pub labels: BTreeMap<String, String>,
    /// Annotations carried for the kubelet.
    pub annotations: BTreeMap<String, String>,
    /// Share the node's network namespace (`hostNetwork: true`): the pod's IP is the node's
    /// and no pod network is needed (how kubeadm's control plane starts before a CNI).
    pub host_network: bool,
    /// The pod's resolver settings (`/etc/resolv.conf`), upstream `DNSConfig`.
    pub dns: DnsConfig,
}

/// A pod's resolver settings (upstream CRI `DNSConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DnsConfig {
    /// Name servers.
    pub servers: Vec<String>,
    /// Search domains.
    pub searches: Vec<String>,
    /// Options (`ndots:5`).
    pub options: Vec<String>,
}

impl DnsConfig {
    /// The `/etc/resolv.conf` these settings make.
    pub fn resolv_conf(&self) -> String {
        let mut lines = Vec::new();
        if !self.searches.is_empty() {
            lines.push(format!("search {}", self.searches.join(" ")));
        }
        for s in &self.servers {
            lines.push(format!("nameserver {s}"));
        }
        if !self.options.is_empty() {
            lines.push(format!("options {}", self.options.join(" ")));
        }
        let mut out = lines.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }
}

/// Sandbox state (upstream `PodSandboxState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SandboxState {
    /// Network set up, containers can run (`SANDBOX_READY`).
    Ready,
    /// Stopped or broken (`SANDBOX_NOTREADY`).
    NotReady,
}

/// A sandbox as the runtime reports it (upstream `PodSandboxStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSandboxStatus {
    /// Sandbox id.
    pub id: String,
    /// Identity.
    pub metadata: PodSandboxMetadata,
    /// Ready or not.
    pub state: SandboxState,
    /// When it was created (the runtime's wall clock).
    pub created_at: SystemTime,
    /// The pod IP; `None` until the network is set up.
    pub ip: Option<String>,
    /// The pod's hostname.
    pub hostname: String,
    /// Labels given at creation.
    pub labels: BTreeMap<String, String>,
    /// Annotations given at creation.
    pub annotations: BTreeMap<String, String>,
}

/// What identifies a container within its sandbox (upstream `ContainerMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ContainerMetadata {
    /// The container's name in the pod spec.
    pub name: String,
    /// How many containers of this name were made in the sandbox before this one.
    pub attempt: u32,
}

/// A host path bind-mounted into a container (upstream `Mount`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mount {
    /// Where it appears in the container.
    pub container_path: String,
    /// The node path (a volume directory the kubelet prepared).
    pub host_path: String,
    /// Mounted read-only.
    pub readonly: bool,
}

/// What a container is made from (upstream `ContainerConfig`, the parts skiff uses).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerConfig {
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// Image reference as the pod spec wrote it.
    pub image: String,
    /// Entrypoint override (pod `command`).
    pub command: Vec<String>,
    /// Arguments (pod `args`).
    pub args: Vec<String>,
    /// Working directory.
    pub working_dir: Option<String>,
    /// Environment, in order.
    pub envs: Vec<(String, String)>,
    /// Bind mounts.
    pub mounts: Vec<Mount>,
    /// Labels the kubelet finds the container by.
    pub labels: BTreeMap<String, String>,
    /// Annotations (restart count, spec hash, …).
    pub annotations: BTreeMap<String, String>,
    /// Memory limit in bytes (cgroup `memory.max`); exceeding it is an OOM kill.
    pub memory_limit_bytes: Option<u64>,
}

/// Container state (upstream `ContainerState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContainerState {
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// Exited (by itself, stopped, killed or lost in a crash).
    Exited,
    /// The runtime does not know.
    Unknown,
}

/// A container as the runtime reports it (upstream `ContainerStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    /// Container id.
    pub id: String,
    /// Its sandbox.
    pub sandbox_id: String,
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// State now.
    pub state: ContainerState,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it started.
    pub started_at: Option<SystemTime>,
    /// When it exited.
    pub finished_at: Option<SystemTime>,
    /// Exit code (meaningful when `Exited`).
    pub exit_code: i32,
    /// Image reference as requested.
    pub image: String,
    /// The resolved image (`docker.io/library/nginx@sha256:…`).
    pub image_ref: String,
    /// Why it exited: `Completed`, `Error`, `OOMKilled`, `StartError`, `Unknown`.
    pub reason: String,
    /// Details for people.
    pub message: String,
    /// Labels given at creation.
    pub labels: BTreeMap<String, String>,
    /// Annotations given at creation.
    pub annotations: BTreeMap<String, String>,
}

/// Which sandboxes to list (upstream `PodSandboxFilter`); unset fields match everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SandboxFilter {
    /// Only this id.
    pub id: Option<String>,
    /// Only in this state.
    pub state: Option<SandboxState>,
    /// Only with all these labels.
    pub labels: BTreeMap<String, String>,
}

/// Which containers to list (upstream `ContainerFilter`); unset fields match everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerFilter {
    /// Only this id.
    pub id: Option<String>,
    /// Only in this sandbox.
    pub sandbox_id: Option<String>,
    /// Only in this state.
    pub state: Option<ContainerState>,
    /// Only with all these labels.
    pub labels: BTreeMap<String, String>,
}

/// What `exec` printed and how it ended (upstream `ExecSyncResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecSyncResponse {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// Exit code.
    pub exit_code: i32,
}

impl ExecSyncResponse {
    /// Standard output as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text (lossy).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line of a container's log (the CRI log format: time, stream, text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When it was written.
    pub time: SystemTime,
    /// Which stream.
    pub stream: LogStream,
    /// The text, without the newline.
    pub text: String,
}

/// Which log lines to return (`kubectl logs --tail`, `--since-time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogOptions {
    /// Only the last this many lines.
    pub tail: Option<usize>,
    /// Only lines written at or after this time.
    pub since: Option<SystemTime>,
}

/// Resource usage of a container (upstream `ContainerStats`, the fields skiff reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStats {
    /// Container id.
    pub id: String,
    /// Container name and attempt.
    pub metadata: ContainerMetadata,
    /// When measured.
    pub timestamp: SystemTime,
    /// Cumulative CPU time, in nanoseconds.
    pub cpu_usage_core_nano_seconds: u64,
    /// Memory in use, in bytes.
    pub memory_working_set_bytes: u64,
}

/// An image on the node (upstream `Image`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `sha256:…` id.
    pub id: String,
    /// Tags it is known by (`docker.io/library/nginx:1.27`).
    pub repo_tags: Vec<String>,
    /// Digests it is known by (`docker.io/library/nginx@sha256:…`).
    pub repo_digests: Vec<String>,
    /// Size in bytes.
    pub size: u64,
}

/// What `pull_image` did (see the module doc on why pulls are polled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullImageResponse {
    /// The image is on the node; its reference by digest.
    Pulled {
        /// `docker.io/library/nginx@sha256:…`.
        image_ref: String,
    },
    /// The pull is under way; ask again after `remaining`.
    InProgress {
        /// Time left on the runtime's clock.
        remaining: Duration,
    },
}

/// Runtime name and versions (upstream `VersionResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionResponse {
    /// CRI API version of the kubelet side (`0.1.0`).
    pub version: String,
    /// Runtime name (`skiff-sim`).
    pub runtime_name: String,
    /// Runtime version.
    pub runtime_version: String,
    /// CRI API version the runtime speaks (`v1`).
    pub runtime_api_version: String,
}

/// One condition of the runtime (upstream `RuntimeCondition`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeCondition {
    /// `RuntimeReady` or `NetworkReady`.
    pub type_: String,
    /// Whether it holds.
    pub status: bool,
    /// Why not, as a CamelCase word.
    pub reason: String,
    /// Why not, for people.
    pub message: String,
}

/// The runtime's health (upstream `RuntimeStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeStatus {
    /// `RuntimeReady` and `NetworkReady`.
    pub conditions: Vec<RuntimeCondition>,
}

impl RuntimeStatus {
    /// The condition of a type, if reported.
    pub fn condition(&self, type_: &str) -> Option<&RuntimeCondition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// A container runtime, as the kubelet drives it: upstream `RuntimeService` plus
/// `ImageService`. See the module documentation for the guarantees.
pub trait Runtime: Send + Sync + Debug {
    /// Runtime name and versions.
    fn version(&self) -> VersionResponse;
    /// `RuntimeReady` and `NetworkReady` (the latter false until a pod CIDR is configured).
    fn status(&self) -> RuntimeStatus;
    /// Gives the runtime's network plugin the node's pod CIDR (upstream
    /// `UpdateRuntimeConfig`); sandbox IPs come from it.
    fn update_runtime_config(&self, pod_cidr: &str) -> Result<()>;

    /// Creates and starts a sandbox with an IP from the pod CIDR; returns its id.
    fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String>;
    /// Stops every container of the sandbox (killed at once) and tears its network down.
    fn stop_pod_sandbox(&self, id: &str) -> Result<()>;
    /// Removes a sandbox and its containers, releasing its IP.
    fn remove_pod_sandbox(&self, id: &str) -> Result<()>;
    /// One sandbox.
    fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus>;
    /// Sandboxes matching the filter, by id.
    fn list_pod_sandbox(&self, filter: &SandboxFilter) -> Vec<PodSandboxStatus>;

    /// Creates a container in a ready sandbox; returns its id.
    fn create_container(&self, sandbox_id: &str, config: &ContainerConfig) -> Result<String>;
    /// Starts a created container.
    fn start_container(&self, id: &str) -> Result<()>;
    /// Sends the stop signal; the container is killed if still running after `timeout`.
    fn stop_container(&self, id: &str, timeout: Duration) -> Result<()>;
    /// Removes a container (stopping it at once if it runs).
    fn remove_container(&self, id: &str) -> Result<()>;
    /// One container.
    fn container_status(&self, id: &str) -> Result<ContainerStatus>;
    /// Containers matching the filter, by id.
    fn list_containers(&self, filter: &ContainerFilter) -> Vec<ContainerStatus>;
    /// Runs a command in a running container and returns its output.
    fn exec_sync(&self, id: &str, cmd: &[String], timeout: Duration) -> Result<ExecSyncResponse>;
    /// Attaches to a container's standard output: everything it has printed so far (an
    /// in-memory runtime has no stream to hand out).
    fn attach(&self, id: &str) -> Result<Vec<u8>>;
    /// The container's log lines.
    fn container_logs(&self, id: &str, options: &LogOptions) -> Result<Vec<LogLine>>;
    /// Resource usage of one container.
    fn container_stats(&self, id: &str) -> Result<ContainerStats>;
    /// Resource usage of every container.
    fn list_container_stats(&self) -> Vec<ContainerStats>;

    /// Images on the node, by id.
    fn list_images(&self) -> Vec<Image>;
    /// The image a reference names, if it is on the node.
    fn image_status(&self, image: &str) -> Result<Option<Image>>;
    /// Pulls an image (polled: see the module doc).
    fn pull_image(&self, image: &str) -> Result<PullImageResponse>;
    /// Removes an image; fails if a container uses it.
    fn remove_image(&self, image: &str) -> Result<()>;
}

/// The node's own files, where the kubelet writes volume contents (emptyDir directories,
/// ConfigMap and Secret files) that containers then see through their [`Mount`]s.
pub trait HostFs: Send + Sync {
    /// Writes (or replaces) a file.
    fn write_file(&self, path: &str, content: &[u8]);
    /// Reads a file.
    fn read_file(&self, path: &str) -> Option<Vec<u8>>;
    /// Removes a file or a directory and everything under it.
    fn remove_all(&self, path: &str);
}

/// An HTTP answer, as far as probes and `wget` need one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
}

/// The pod a connection starts from (for DNS short names, which resolve in its namespace,
/// and for the rules that match on the source address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller<'a> {
    /// The pod's namespace.
    pub namespace: &'a str,
    /// The pod's IP.
    pub pod_ip: &'a str,
}

/// The network beyond this node's pods, as seen from inside a pod of this node: cluster DNS
/// plus the node's proxy rules (kube-proxy's dataplane implements this), and pods on other
/// nodes. One implementation serves one node.
pub trait Network: Send + Sync + Debug {
    /// Where a TCP connection from `from` to `host:port` goes: a Service name (resolved in the
    /// caller's namespace) or cluster IP is translated to one backend `(pod IP, port)`; a pod
    /// IP is returned as is. `None` when the name does not resolve or nothing serves the port.
    fn resolve(&self, from: &Caller<'_>, host: &str, port: u16) -> Option<(String, u16)>;
    /// An HTTP GET from `from` to a pod that is not on this node; `None` when unreachable.
    fn http_get(&self, from: &Caller<'_>, ip: &str, port: u16, path: &str) -> Option<HttpResponse>;
}

/// Upstream's image-name defaults: `nginx` is `docker.io/library/nginx:latest`,
/// `user/app:1` is `docker.io/user/app:1`; a reference with a registry host or a digest keeps
/// it.
pub fn normalize_image(image: &str) -> String {
    let (name, suffix) = if let Some(at) = image.find('@') {
        (&image[..at], image[at..].to_owned())
    } else {
        // A tag is a ':' after the last '/'.
        let last_slash = image.rfind('/').map_or(0, |i| i + 1);
        match image[last_slash..].rfind(':') {
            Some(colon) => (
                &image[..last_slash + colon],
                image[last_slash + colon..].to_owned(),
            ),
            None => (image, ":latest".to_owned()),
        }
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        name.to_owned()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{full}{suffix}")
}

/// The tag of an image reference (`latest` when none is written; `None` for a digest
/// reference).
pub fn image_tag(image: &str) -> Option<String> {
    if image.contains('@') {
        return None;
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    Some(
        image[last_slash..]
            .rfind(':')
            .map_or("latest", |c| &image[last_slash + c + 1..])
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_normalize_like_upstream() {
        assert_eq!(normalize_image("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(
            normalize_image("nginx:1.27"),
            "docker.io/library/nginx:1.27"
        );
        assert_eq!(normalize_image("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            normalize_image("registry.k8s.io/pause:3.10"),
            "registry.k8s.io/pause:3.10"
        );
        assert_eq!(
            normalize_image("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(
            normalize_image("busybox@sha256:abc"),
            "docker.io/library/busybox@sha256:abc"
        );
        assert_eq!(image_tag("nginx").as_deref(), Some("latest"));
        assert_eq!(image_tag("localhost:5000/app").as_deref(), Some("latest"));
        assert_eq!(image_tag("nginx:1.27").as_deref(), Some("1.27"));
        assert_eq!(image_tag("nginx@sha256:abc"), None);
    }
}
