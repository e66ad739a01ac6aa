//! The kubelet's node API (seed §4: the API server asks the kubelet for logs and exec): the
//! messages the API server sends to a node and the kubelet's answers.
//!
//! Upstream the kubelet serves HTTPS on port 10250 (`/containerLogs/{ns}/{pod}/{container}`,
//! `/exec/…`, …) and authenticates the API server by its kubelet client certificate. skiff's
//! kubelet serves the same calls over skiff's wire framing (a 4-byte little-endian length, then
//! a bincode payload), one call per connection: the API server connects, sends one
//! [`KubeletRequest`] carrying the credential it was configured with, and reads one answer
//! (`Result<`[`KubeletReply`]`, `[`KubeletError`]`>`). The node records where it listens in
//! `Node.status.daemonEndpoints.kubeletEndpoint.port` and `status.addresses`.
//!
//! Only the messages and their framing live here (no I/O): the kubelet's server is in
//! skiff-controllers, its client in the API server (skiff-store).

use bincode::{Decode, Encode};

use crate::client::{ExecOutput, LogParams};

/// Version of this protocol; a kubelet refuses other versions.
pub const KUBELET_PROTOCOL_VERSION: u32 = 1;
/// The kubelet's port (upstream `--port`, 10250).
pub const KUBELET_PORT: u16 = 10250;
/// Largest payload accepted, in bytes (a log is at most this big on the wire).
pub const KUBELET_FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Bytes of the length prefix.
pub const KUBELET_PREFIX_BYTES: usize = 4;

/// One call to a kubelet, with the caller's credential.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct KubeletRequest {
    /// Must be [`KUBELET_PROTOCOL_VERSION`].
    pub protocol: u32,
    /// The API server's kubelet client credential.
    pub token: String,
    /// What is asked.
    pub call: KubeletCall,
}

/// What the API server asks of a kubelet.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum KubeletCall {
    /// A container's log (upstream `GET /containerLogs/{namespace}/{pod}/{container}`).
    ContainerLogs {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        pod: String,
        /// The pod's uid (a pod deleted and recreated under the same name is another pod).
        uid: String,
        /// The container's name.
        container: String,
        /// The runtime id of the instance to read, as the pod's status names it (see
        /// [`log_container_id`]); empty for the latest instance (with `params.previous`, the
        /// one before it).
        container_id: String,
        /// Tail, since, timestamps, previous, limit (`params.container` is ignored).
        params: LogParams,
    },
    /// Run a command in a running container (upstream `POST /exec/{ns}/{pod}/{container}`,
    /// synchronous here).
    Exec {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        pod: String,
        /// The pod's uid.
        uid: String,
        /// The container's name.
        container: String,
        /// The command and its arguments.
        command: Vec<String>,
    },
    /// Run `crictl` with these arguments against the node's runtime (upstream: a debug
    /// shell on the node; skiff reaches it through `nodes/proxy`).
    Crictl {
        /// `ps -a`, `inspect ID`, …
        args: Vec<String>,
    },
}

/// A kubelet's answer.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum KubeletReply {
    /// The log text.
    Logs(String),
    /// What the command printed and its exit code.
    Exec(ExecOutput),
}

/// Why a kubelet refused or failed a call (the HTTP status class upstream's kubelet answers
/// with, and its message).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, thiserror::Error)]
pub enum KubeletError {
    /// The credential is not the API server's (401).
    #[error("Unauthorized")]
    Unauthorized,
    /// The request cannot be served as asked (400): a container waiting to start, no
    /// previous container, a wrong protocol version.
    #[error("{0}")]
    BadRequest(String),
    /// No such container (404).
    #[error("{0}")]
    NotFound(String),
    /// The runtime failed (500).
    #[error("{0}")]
    Internal(String),
}

/// A time in microseconds since the epoch (`sinceTime`), as a [`SystemTime`](std::time::SystemTime).
pub fn system_time_of_micros(micros: i64) -> std::time::SystemTime {
    let epoch = std::time::SystemTime::UNIX_EPOCH;
    let d = std::time::Duration::from_micros(micros.unsigned_abs());
    if micros >= 0 {
        epoch.checked_add(d).unwrap_or(epoch)
    } else {
        epoch.checked_sub(d).unwrap_or(epoch)
    }
}

/// The answer frame's payload type.
pub type KubeletAnswer = Result<KubeletReply, KubeletError>;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<KUBELET_FRAME_BYTES_MAX>()
}

/// Encodes a message as a whole frame (length prefix included).
///
/// # Errors
/// When the message is larger than [`KUBELET_FRAME_BYTES_MAX`].
pub fn to_frame<T: Encode>(message: &T) -> Result<Vec<u8>, String> {
    let payload = bincode::encode_to_vec(message, config()).map_err(|e| e.to_string())?;
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&n| n as usize <= KUBELET_FRAME_BYTES_MAX)
        .ok_or_else(|| format!("message of {} bytes is too large", payload.len()))?;
    let mut out = Vec::with_capacity(KUBELET_PREFIX_BYTES + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// How many payload bytes the frame starting with this length prefix announces.
///
/// # Errors
/// When the length exceeds [`KUBELET_FRAME_BYTES_MAX`] (refused before anything is read).
pub fn announced_len(prefix: [u8; KUBELET_PREFIX_BYTES]) -> Result<usize, String> {
    let len = u32::from_le_bytes(prefix) as usize;
    if len > KUBELET_FRAME_BYTES_MAX {
        return Err(format!(
            "frame of {len} bytes exceeds the limit of {KUBELET_FRAME_BYTES_MAX}"
        ));
    }
    Ok(len)
}

/// Decodes a frame's payload. Never panics; trailing bytes are an error.
///
/// # Errors
/// When the payload is not one whole message of type `T`.
pub fn decode<T: Decode<()>>(payload: &[u8]) -> Result<T, String> {
    let (message, used) = bincode::decode_from_slice(payload, config())
        .map_err(|e| format!("malformed frame: {e}"))?;
    if used != payload.len() {
        return Err(format!(
            "malformed frame: {} trailing bytes after the message",
            payload.len() - used
        ));
    }
    Ok(message)
}

/// Which container instance a log read is about, from the pod's status as its kubelet
/// reported it: upstream's `validateContainerLogStatus` (`pkg/kubelet/kubelet_pods.go`), with
/// its messages. Returns the runtime's container id (the part of `containerID` after `://`).
///
/// # Errors
/// Upstream's wording: `container "c" in pod "p" is not available`, `previous terminated
/// container "c" in pod "p" not found`, `container "c" in pod "p" is terminated`,
/// `container "c" in pod "p" is waiting to start: <reason>` (`image can't be pulled`,
/// `trying and failing to pull image` for the pull errors), `… - no logs yet`.
pub fn log_container_id(
    pod: &crate::object::Pod,
    container: &str,
    previous: bool,
) -> Result<String, String> {
    let name = pod.metadata.name_or_empty();
    let status = pod
        .status
        .container_statuses
        .iter()
        .chain(&pod.status.init_container_statuses)
        .chain(&pod.status.ephemeral_container_statuses)
        .find(|s| s.name == container)
        .ok_or_else(|| format!("container {container:?} in pod {name:?} is not available"))?;
    let id = |full: &Option<String>| -> Option<String> {
        full.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| s.split_once("://").map_or(s, |(_, id)| id).to_owned())
    };
    let last_terminated = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref());
    let state = status.state.clone().unwrap_or_default();
    if previous {
        return last_terminated
            .and_then(|t| id(&t.container_id))
            .ok_or_else(|| {
                format!("previous terminated container {container:?} in pod {name:?} not found")
            });
    }
    let terminated_msg = || format!("container {container:?} in pod {name:?} is terminated");
    if state.running.is_some() {
        return id(&status.container_id).ok_or_else(terminated_msg);
    }
    if let Some(t) = &state.terminated {
        // The next container did not start: the logs are the last terminated one's.
        return id(&t.container_id)
            .or_else(|| last_terminated.and_then(|l| id(&l.container_id)))
            .ok_or_else(terminated_msg);
    }
    if let Some(t) = last_terminated {
        return id(&t.container_id).ok_or_else(terminated_msg);
    }
    match state.waiting.and_then(|w| w.reason) {
        Some(reason) if reason == "ErrImagePull" => Err(format!(
            "container {container:?} in pod {name:?} is waiting to start: image can't be pulled"
        )),
        Some(reason) if reason == "ImagePullBackOff" => Err(format!(
            "container {container:?} in pod {name:?} is waiting to start: trying and failing to pull image"
        )),
        Some(reason) => Err(format!(
            "container {container:?} in pod {name:?} is waiting to start: {reason}"
        )),
        None => Err(format!(
            "container {container:?} in pod {name:?} is waiting to start - no logs yet"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(statuses: &str) -> crate::object::Pod {
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  containers: [{{name: app, image: nginx}}]\nstatus:\n  containerStatuses:\n{statuses}"
        );
        match crate::manifest::parse_str("pod.yaml", &yaml)
            .unwrap()
            .remove(0)
        {
            crate::object::Object::Pod(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_log_container_is_chosen_from_the_status_like_upstream() {
        let common = "ready: false, restartCount: 1, image: nginx, imageID: ''";
        let running = pod(&format!(
            "  - {{name: app, {common}, containerID: 'sim://c2', state: {{running: {{}}}}, lastState: {{terminated: {{exitCode: 1, containerID: 'sim://c1'}}}}}}\n"
        ));
        assert_eq!(log_container_id(&running, "app", false), Ok("c2".into()));
        assert_eq!(log_container_id(&running, "app", true), Ok("c1".into()));
        assert_eq!(
            log_container_id(&running, "db", false),
            Err(r#"container "db" in pod "web" is not available"#.into())
        );
        let crashing = pod(&format!(
            "  - {{name: app, {common}, state: {{waiting: {{reason: CrashLoopBackOff}}}}, lastState: {{terminated: {{exitCode: 1, containerID: 'sim://c1'}}}}}}\n"
        ));
        assert_eq!(log_container_id(&crashing, "app", false), Ok("c1".into()));
        let pulling = pod(&format!(
            "  - {{name: app, {common}, state: {{waiting: {{reason: ImagePullBackOff}}}}}}\n"
        ));
        assert_eq!(
            log_container_id(&pulling, "app", false),
            Err(r#"container "app" in pod "web" is waiting to start: trying and failing to pull image"#.into())
        );
        assert_eq!(
            log_container_id(&pulling, "app", true),
            Err(r#"previous terminated container "app" in pod "web" not found"#.into())
        );
        let creating = pod(&format!(
            "  - {{name: app, {common}, state: {{waiting: {{reason: ContainerCreating}}}}}}\n"
        ));
        assert_eq!(
            log_container_id(&creating, "app", false),
            Err(r#"container "app" in pod "web" is waiting to start: ContainerCreating"#.into())
        );
    }

    #[test]
    fn requests_and_answers_round_trip_through_frames() {
        let request = KubeletRequest {
            protocol: KUBELET_PROTOCOL_VERSION,
            token: "secret".into(),
            call: KubeletCall::Exec {
                namespace: "default".into(),
                pod: "nginx".into(),
                uid: "u1".into(),
                container: "nginx".into(),
                command: vec!["hostname".into()],
            },
        };
        let frame = to_frame(&request).unwrap();
        let len = announced_len(frame[..4].try_into().unwrap()).unwrap();
        assert_eq!(len, frame.len() - 4);
        assert_eq!(decode::<KubeletRequest>(&frame[4..]).unwrap(), request);
        let answer: KubeletAnswer = Err(KubeletError::BadRequest("no".into()));
        let frame = to_frame(&answer).unwrap();
        assert_eq!(decode::<KubeletAnswer>(&frame[4..]).unwrap(), answer);
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        assert_eq!(
            announced_len(u32::MAX.to_le_bytes()).unwrap_err(),
            "frame of 4294967295 bytes exceeds the limit of 16777216"
        );
        assert!(decode::<KubeletRequest>(&[0xff, 0xff, 0xff]).is_err());
        let mut frame = to_frame(&KubeletRequest {
            protocol: 1,
            token: String::new(),
            call: KubeletCall::Crictl { args: Vec::new() },
        })
        .unwrap();
        frame.push(0);
        assert_eq!(
            decode::<KubeletRequest>(&frame[4..]).unwrap_err(),
            "malformed frame: 1 trailing bytes after the message"
        );
        for len in 0_u8..64 {
            let bytes: Vec<u8> = (0..len)
                .map(|i: u8| i.wrapping_mul(37).wrapping_add(11))
                .collect();
            let _ = decode::<KubeletRequest>(&bytes);
            let _ = decode::<KubeletAnswer>(&bytes);
        }
    }
}
