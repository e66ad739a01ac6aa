//! The API server as a client of kubelets (seed §4: logs and exec go from the API server to
//! the kubelet of the pod's node): the `pods/log` and `pods/exec` subresources and `crictl`
//! through `nodes/proxy`, each resolved pod → node → kubelet endpoint and forwarded over the
//! kubelet's node API ([`skiff_core::kubelet_api`]).
//!
//! Upstream rules followed: `LogLocation` and `streamLocation` in
//! `pkg/registry/core/pod/strategy.go` (container defaulting and its messages, `pod <name>
//! does not have a host assigned`, an unscheduled pod's log is empty), the kubelet address
//! from `status.addresses` in kubeadm's preference order (`--kubelet-preferred-address-types
//! =InternalIP,ExternalIP,Hostname`) and the port from
//! `status.daemonEndpoints.kubeletEndpoint.port`, and `error dialing backend: …` when the
//! kubelet cannot be reached.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use skiff_core::client::{ExecOutput, ExecParams, LogParams};
use skiff_core::kubelet_api::{
    self, KUBELET_PREFIX_BYTES, KUBELET_PROTOCOL_VERSION, KubeletAnswer, KubeletCall, KubeletError,
    KubeletReply, KubeletRequest,
};
use skiff_core::object::{Node, Object, Pod, info};
use skiff_core::status::{Reason, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{ApiError, ApiServer};

/// How the API server reaches kubelets: its credential, addresses that override a node's own
/// (in-process nodes listen on loopback), and an optional time bound per call.
#[derive(Debug, Default)]
pub struct KubeletClientConfig {
    /// The credential every kubelet is configured to accept (upstream: the API server's
    /// kubelet client certificate).
    pub token: String,
    /// `host:port` to dial for a node, instead of its address and kubelet port from its
    /// status.
    pub routes: BTreeMap<String, String>,
    /// Give up on a call after this long (`None`: wait; under paused tokio time a bound
    /// would fire while real sockets are still answering).
    pub timeout: Option<Duration>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn rejected(e: ApiError) -> Status {
    match e {
        ApiError::Rejected(status) => status,
        ApiError::Fatal(fatal) => Status {
            reason: Reason::InternalError,
            message: fatal.to_string(),
            name: None,
            kind: None,
            causes: Vec::new(),
        },
    }
}

fn status(reason: Reason, message: String) -> Status {
    Status {
        reason,
        message,
        name: None,
        kind: None,
        causes: Vec::new(),
    }
}

/// The container a request names, or the pod's only one (upstream `validateContainer` /
/// `streamLocation`, with their messages).
fn pick_container(pod: &Pod, container: Option<&str>) -> Result<String, Status> {
    let name = pod.metadata.name_or_empty();
    let names = |list: &[skiff_core::object::Container]| -> String {
        list.iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    match container.filter(|c| !c.is_empty()) {
        Some(c) => {
            // Ephemeral containers are carried verbatim, never run: not valid targets.
            let known = pod
                .spec
                .containers
                .iter()
                .chain(&pod.spec.init_containers)
                .any(|k| k.name == c);
            if known {
                Ok(c.to_owned())
            } else {
                Err(Status::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
        None => match pod.spec.containers.as_slice() {
            [only] => Ok(only.name.clone()),
            [] => Err(Status::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            many => {
                let mut message = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    names(many)
                );
                if !pod.spec.init_containers.is_empty() {
                    let _ = write!(
                        message,
                        " or one of the init containers: [{}]",
                        names(&pod.spec.init_containers)
                    );
                }
                Err(Status::bad_request(message))
            }
        },
    }
}

/// `host:port` of a node's kubelet from its status (kubeadm's address preference).
fn kubelet_address(node: &Node) -> Result<String, Status> {
    let port = node.status.daemon_endpoints.kubelet_endpoint.port;
    let port = u16::try_from(port)
        .ok()
        .filter(|&p| p > 0)
        .unwrap_or(kubelet_api::KUBELET_PORT);
    for kind in ["InternalIP", "ExternalIP", "Hostname"] {
        if let Some(a) = node
            .status
            .addresses
            .iter()
            .find(|a| a.type_ == kind && !a.address.is_empty())
        {
            return Ok(if a.address.contains(':') {
                format!("[{}]:{port}", a.address)
            } else {
                format!("{}:{port}", a.address)
            });
        }
    }
    let known: Vec<String> = node
        .status
        .addresses
        .iter()
        .map(|a| format!("{{{} {}}}", a.type_, a.address))
        .collect();
    Err(status(
        Reason::BadRequest,
        format!(
            "no preferred addresses found; known addresses: [{}]",
            known.join(" ")
        ),
    ))
}

async fn read_frame<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, String> {
    let mut prefix = [0_u8; KUBELET_PREFIX_BYTES];
    r.read_exact(&mut prefix).await.map_err(|e| e.to_string())?;
    let len = kubelet_api::announced_len(prefix)?;
    let mut payload = vec![0_u8; len];
    r.read_exact(&mut payload)
        .await
        .map_err(|e| e.to_string())?;
    Ok(payload)
}

/// A failed dial in Go's words (`connect: connection refused`), as upstream's message shows it.
fn dial_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_owned(),
        std::io::ErrorKind::TimedOut => "i/o timeout".to_owned(),
        std::io::ErrorKind::HostUnreachable => "connect: no route to host".to_owned(),
        std::io::ErrorKind::NetworkUnreachable => "connect: network is unreachable".to_owned(),
        _ => e.to_string(),
    }
}

/// One call over one connection: dial, send, read the answer. `Err` is a transport failure.
async fn exchange(addr: &str, request: &KubeletRequest) -> Result<KubeletAnswer, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("error dialing backend: dial tcp {addr}: {}", dial_error(&e)))?;
    let (mut read, mut write) = tokio::io::split(stream);
    let frame = kubelet_api::to_frame(request)?;
    write
        .write_all(&frame)
        .await
        .map_err(|e| format!("error sending to kubelet {addr}: {e}"))?;
    write
        .flush()
        .await
        .map_err(|e| format!("error sending to kubelet {addr}: {e}"))?;
    let payload = read_frame(&mut read)
        .await
        .map_err(|e| format!("error reading from kubelet {addr}: {e}"))?;
    kubelet_api::decode::<KubeletAnswer>(&payload)
}

impl ApiServer {
    /// Sets how this server reaches kubelets (credential, in-process routes, time bound).
    pub fn set_kubelet_client(&self, config: KubeletClientConfig) {
        *lock(&self.kubelet) = config;
    }

    /// Dials node `node` at `addr` instead of the address in its status (an in-process
    /// node's loopback listener).
    pub fn route_kubelet(&self, node: &str, addr: &str) {
        lock(&self.kubelet)
            .routes
            .insert(node.to_owned(), addr.to_owned());
    }

    fn pod(&self, namespace: &str, name: &str) -> Result<Pod, Status> {
        match self.get(&info::POD, namespace, name).map_err(rejected)? {
            Object::Pod(pod) => Ok(pod),
            _ => Err(super::not_found(&info::POD, name)),
        }
    }

    /// Sends one call to the kubelet of node `node_name`.
    async fn call_kubelet(
        &self,
        node_name: &str,
        call: KubeletCall,
    ) -> Result<KubeletReply, Status> {
        let Object::Node(node) = self.get(&info::NODE, "", node_name).map_err(rejected)? else {
            return Err(super::not_found(&info::NODE, node_name));
        };
        let (route, token, timeout) = {
            let k = lock(&self.kubelet);
            (k.routes.get(node_name).cloned(), k.token.clone(), k.timeout)
        };
        let addr = match route {
            Some(addr) => addr,
            None => kubelet_address(&node)?,
        };
        let request = KubeletRequest {
            protocol: KUBELET_PROTOCOL_VERSION,
            token,
            call,
        };
        let answer = match timeout {
            Some(limit) => match tokio::time::timeout(limit, exchange(&addr, &request)).await {
                Ok(answer) => answer,
                Err(_) => Err(format!(
                    "error dialing backend: dial tcp {addr}: i/o timeout"
                )),
            },
            None => exchange(&addr, &request).await,
        };
        match answer {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(KubeletError::Unauthorized)) => {
                Err(status(Reason::Unauthorized, "Unauthorized".to_owned()))
            }
            Ok(Err(KubeletError::BadRequest(m))) => Err(Status::bad_request(m)),
            Ok(Err(KubeletError::NotFound(m))) => Err(status(Reason::NotFound, m)),
            Ok(Err(KubeletError::Internal(m))) | Err(m) => Err(status(Reason::InternalError, m)),
        }
    }

    /// A container's log (the `pods/log` subresource).
    ///
    /// # Errors
    /// 404 for a missing pod or node; 400 for a container that is not the pod's, or whose
    /// status has no log yet (upstream's messages); 500 when the kubelet cannot be reached.
    pub async fn pod_logs(
        &self,
        namespace: &str,
        name: &str,
        params: &LogParams,
    ) -> Result<String, Status> {
        let pod = self.pod(namespace, name)?;
        let container = pick_container(&pod, params.container.as_deref())?;
        let Some(node) = pod.spec.node_name.clone().filter(|n| !n.is_empty()) else {
            // Upstream: no host, no location, an empty log.
            return Ok(String::new());
        };
        let container_id = kubelet_api::log_container_id(&pod, &container, params.previous)
            .map_err(Status::bad_request)?;
        let call = KubeletCall::ContainerLogs {
            namespace: namespace.to_owned(),
            pod: name.to_owned(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            container,
            container_id,
            params: params.clone(),
        };
        match self.call_kubelet(&node, call).await? {
            KubeletReply::Logs(text) => Ok(text),
            KubeletReply::Exec(_) => Err(status(
                Reason::InternalError,
                "the kubelet answered a log request with exec output".to_owned(),
            )),
        }
    }

    /// Runs a command in a container (the `pods/exec` subresource, synchronous).
    ///
    /// # Errors
    /// 404 for a missing pod or node, or no running container of that name on the node; 400
    /// for a wrong container or a pod with no node (`pod <name> does not have a host
    /// assigned`); 500 when the kubelet cannot be reached.
    pub async fn pod_exec(
        &self,
        namespace: &str,
        name: &str,
        params: &ExecParams,
    ) -> Result<ExecOutput, Status> {
        let pod = self.pod(namespace, name)?;
        let container = pick_container(&pod, params.container.as_deref())?;
        let Some(node) = pod.spec.node_name.clone().filter(|n| !n.is_empty()) else {
            return Err(Status::bad_request(format!(
                "pod {name} does not have a host assigned"
            )));
        };
        if params.command.is_empty() {
            return Err(Status::bad_request(
                "you must specify at least one command for the container",
            ));
        }
        let call = KubeletCall::Exec {
            namespace: namespace.to_owned(),
            pod: name.to_owned(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            container,
            command: params.command.clone(),
        };
        match self.call_kubelet(&node, call).await? {
            KubeletReply::Exec(out) => Ok(out),
            KubeletReply::Logs(_) => Err(status(
                Reason::InternalError,
                "the kubelet answered an exec request with a log".to_owned(),
            )),
        }
    }

    /// Runs `crictl` with `args` on node `node` (through `nodes/proxy`).
    ///
    /// # Errors
    /// 404 for a missing node; 500 when its kubelet cannot be reached.
    pub async fn node_crictl(&self, node: &str, args: &[String]) -> Result<ExecOutput, Status> {
        let call = KubeletCall::Crictl {
            args: args.to_vec(),
        };
        match self.call_kubelet(node, call).await? {
            KubeletReply::Exec(out) => Ok(out),
            KubeletReply::Logs(_) => Err(status(
                Reason::InternalError,
                "the kubelet answered crictl with a log".to_owned(),
            )),
        }
    }
}

/// Whether a crictl command line only reads (authorized as `get` on `nodes/proxy`; the
/// others are `create`, as upstream maps a proxied GET and POST).
pub fn crictl_reads_only(args: &[String]) -> bool {
    matches!(
        args.first().map(String::as_str),
        None | Some(
            "ps" | "pods"
                | "images"
                | "image"
                | "img"
                | "inspect"
                | "inspectp"
                | "logs"
                | "stats"
                | "info"
                | "version"
        )
    )
}
