//! The kubelet's node API (upstream: the kubelet's server on port 10250,
//! `pkg/kubelet/server/server.go`): container logs, exec and `crictl`, asked by the API server
//! over skiff's wire framing, one call per connection (messages in
//! [`skiff_core::kubelet_api`]). Runs on madsim-tokio, so the simulator serves it too.
//!
//! Only the API server may call: every request carries the credential the API server was
//! configured with (upstream authenticates the API server's kubelet client certificate), and
//! anything else is refused with 401. A malformed or oversized frame ends only its own
//! connection; nothing a caller sends can panic the server.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use skiff_core::client::{ExecOutput, LogParams};
use skiff_core::clock::Clock;
use skiff_core::kubelet_api::{
    self, KUBELET_PREFIX_BYTES, KUBELET_PROTOCOL_VERSION, KubeletAnswer, KubeletCall, KubeletError,
    KubeletReply, KubeletRequest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::crictl_cmd;
use super::{CONTAINER_NAME_LABEL, POD_UID_LABEL};
use crate::cri::{ContainerFilter, ContainerState, CriError, LogOptions, Runtime};

/// How long `exec` may run (upstream's streaming exec has no limit; `crictl exec --sync`
/// defaults to none either — skiff's simulated commands finish at once).
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// The node API of one kubelet.
pub struct NodeServer {
    node: String,
    runtime: Arc<dyn Runtime>,
    clock: Arc<dyn Clock>,
    token: String,
}

impl std::fmt::Debug for NodeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeServer")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// Upstream's kubelet answers a failed CRI call about a container with its gRPC text.
fn cri_error(e: &CriError) -> KubeletError {
    match e {
        CriError::NotFound(_) => KubeletError::NotFound(e.to_string()),
        CriError::InvalidArgument(_) | CriError::FailedPrecondition(_) => {
            KubeletError::BadRequest(e.to_string())
        }
        CriError::ImagePull(_) | CriError::Unavailable(_) => KubeletError::Internal(e.to_string()),
    }
}

/// Go's `time.RFC3339Nano` (trailing zeros of the fraction dropped), as the kubelet writes log
/// timestamps.
pub fn rfc3339_nano(t: SystemTime) -> String {
    let (secs, nanos) = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(e) => {
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() == 0 {
                (-whole, 0)
            } else {
                (-whole - 1, 1_000_000_000 - d.subsec_nanos())
            }
        }
    };
    let base = skiff_core::object::Time::from_unix_seconds(secs).to_string();
    if nanos == 0 {
        return base;
    }
    let fraction = format!("{nanos:09}");
    format!(
        "{}.{}Z",
        base.trim_end_matches('Z'),
        fraction.trim_end_matches('0')
    )
}

impl NodeServer {
    /// The node API of node `node` over its runtime, accepting only callers that present
    /// `token` (the API server's kubelet client credential).
    pub fn new(
        node: impl Into<String>,
        runtime: Arc<dyn Runtime>,
        clock: Arc<dyn Clock>,
        token: impl Into<String>,
    ) -> Self {
        Self {
            node: node.into(),
            runtime,
            clock,
            token: token.into(),
        }
    }

    /// The node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Serves one request: checks the protocol version and the credential, then the call.
    pub async fn handle(&self, request: KubeletRequest) -> KubeletAnswer {
        if request.protocol != KUBELET_PROTOCOL_VERSION {
            return Err(KubeletError::BadRequest(format!(
                "protocol version {} is not supported; this kubelet speaks {KUBELET_PROTOCOL_VERSION}",
                request.protocol
            )));
        }
        if self.token.is_empty()
            || !skiff_core::secret::constant_time_eq(
                request.token.as_bytes(),
                self.token.as_bytes(),
            )
        {
            return Err(KubeletError::Unauthorized);
        }
        match request.call {
            KubeletCall::ContainerLogs {
                namespace,
                pod,
                uid,
                container,
                container_id,
                params,
            } => {
                let _ = namespace;
                self.logs(&pod, &uid, &container, &container_id, &params)
                    .map(KubeletReply::Logs)
            }
            KubeletCall::Exec {
                namespace,
                pod,
                uid,
                container,
                command,
            } => {
                let _ = (namespace, pod);
                self.exec(&uid, &container, &command)
                    .map(KubeletReply::Exec)
            }
            KubeletCall::Crictl { args } => Ok(KubeletReply::Exec(
                crictl_cmd::run(self.runtime.as_ref(), &args, self.clock.wall()).await,
            )),
        }
    }

    /// The containers of a pod (by uid) and name, oldest attempt first.
    fn containers(&self, uid: &str, container: &str) -> Vec<crate::cri::ContainerStatus> {
        let mut list = self.runtime.list_containers(&ContainerFilter {
            labels: [
                (POD_UID_LABEL.to_owned(), uid.to_owned()),
                (CONTAINER_NAME_LABEL.to_owned(), container.to_owned()),
            ]
            .into(),
            ..ContainerFilter::default()
        });
        list.sort_by_key(|c| (c.metadata.attempt, c.created_at));
        list
    }

    /// A container's log (upstream `GetContainerLogs`): the instance `container_id` names
    /// (the API server chose it from the pod's status, see
    /// [`kubelet_api::log_container_id`]) if it belongs to that pod and container, else the
    /// latest (or, with `previous`, the one before it).
    fn logs(
        &self,
        pod: &str,
        uid: &str,
        container: &str,
        container_id: &str,
        params: &LogParams,
    ) -> Result<String, KubeletError> {
        let instances = self.containers(uid, container);
        let chosen = match Some(container_id).filter(|id| !id.is_empty()) {
            Some(id) => instances.iter().find(|c| c.id == id),
            None if params.previous => instances.iter().rev().nth(1),
            None => instances.last(),
        };
        let Some(chosen) = chosen else {
            return Err(if params.previous {
                KubeletError::BadRequest(format!(
                    "previous terminated container {container:?} in pod {pod:?} not found"
                ))
            } else {
                KubeletError::BadRequest(format!(
                    "container {container:?} in pod {pod:?} is not available"
                ))
            });
        };
        let now = self.clock.wall();
        let since = match (params.since_time_micros, params.since_seconds) {
            (Some(micros), _) => Some(kubelet_api::system_time_of_micros(micros)),
            (None, Some(secs)) => now.checked_sub(Duration::from_secs(secs)),
            (None, None) => None,
        };
        let lines = self
            .runtime
            .container_logs(
                &chosen.id,
                &LogOptions {
                    tail: params
                        .tail_lines
                        .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
                    since,
                },
            )
            .map_err(|e| cri_error(&e))?;
        let mut out = String::new();
        for line in lines {
            if params.timestamps {
                out.push_str(&rfc3339_nano(line.time));
                out.push(' ');
            }
            out.push_str(&line.text);
            out.push('\n');
        }
        if let Some(limit) = params.limit_bytes {
            // Upstream's `limitBytes` keeps the head of what would be returned.
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            if out.len() > limit {
                let mut cut = limit;
                while !out.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.truncate(cut);
            }
        }
        Ok(out)
    }

    /// Runs a command in the pod's running container of that name (upstream `GetExec`:
    /// `container not found ("<name>")` when none runs).
    fn exec(
        &self,
        uid: &str,
        container: &str,
        command: &[String],
    ) -> Result<ExecOutput, KubeletError> {
        let running = self
            .containers(uid, container)
            .into_iter()
            .rev()
            .find(|c| c.state == ContainerState::Running)
            .ok_or_else(|| {
                KubeletError::NotFound(format!("container not found ({container:?})"))
            })?;
        let r = self
            .runtime
            .exec_sync(&running.id, command, EXEC_TIMEOUT)
            .map_err(|e| cri_error(&e))?;
        Ok(ExecOutput {
            stdout: r.stdout,
            stderr: r.stderr,
            exit_code: r.exit_code,
        })
    }
}

/// Accepts connections forever, serving each on its own task.
pub async fn serve(listener: TcpListener, server: Arc<NodeServer>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let server = server.clone();
                tokio::spawn(async move {
                    if let Err(reason) = serve_connection(stream, &server).await {
                        tracing::debug!(node = %server.node, %peer, %reason, "kubelet API connection closed");
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "kubelet API accept failed"),
        }
    }
}

/// Reads one length-prefixed payload.
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

/// One call: read the request, answer, close.
async fn serve_connection(stream: TcpStream, server: &NodeServer) -> Result<(), String> {
    let (mut read, mut write) = tokio::io::split(stream);
    let answer: KubeletAnswer = match read_frame(&mut read)
        .await
        .and_then(|p| kubelet_api::decode::<KubeletRequest>(&p))
    {
        Ok(request) => server.handle(request).await,
        Err(e) => Err(KubeletError::BadRequest(e)),
    };
    let frame = kubelet_api::to_frame(&answer)
        .or_else(|e| kubelet_api::to_frame(&KubeletAnswer::Err(KubeletError::Internal(e))))?;
    write.write_all(&frame).await.map_err(|e| e.to_string())?;
    write.flush().await.map_err(|e| e.to_string())?;
    let _ = write.shutdown().await;
    Ok(())
}
