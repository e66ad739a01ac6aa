//! The messages of the wire protocol (version [`PROTOCOL_VERSION`]), bincode-encoded inside
//! frames.
//!
//! A connection starts with the client's [`ClientMessage::Hello`] (protocol version and bearer
//! token) and the server's [`ServerMessage::Welcome`] or [`ServerMessage::Refused`]. Then the
//! client sends requests with ids of its choosing; the server answers each id once, and streams
//! [`ServerMessage::WatchEvent`]s for watch requests until the client cancels the id or the
//! watch ends with an error.

use bincode::{Decode, Encode};
use skiff_core::object::Object;

use super::frame::{FRAME_BYTES_MAX, FrameError};
use crate::apiserver::Status;

/// Version of this protocol; a server refuses other versions in the handshake.
pub const PROTOCOL_VERSION: u32 = 1;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
#[allow(
    clippy::large_enum_variant,
    reason = "messages are encoded and dropped at once"
)]
pub enum ClientMessage {
    /// The first message: protocol version and bearer token.
    Hello {
        /// Must be [`PROTOCOL_VERSION`].
        protocol: u32,
        /// Bearer token identifying the caller.
        token: String,
    },
    /// A request; the server answers with the same id.
    Request {
        /// Chosen by the client, unique among its outstanding requests.
        id: u64,
        /// What is asked.
        request: Request,
    },
    /// Stop the watch started by request `id`.
    Cancel {
        /// The watch's request id.
        id: u64,
    },
}

/// Options of a list (upstream `ListOptions`, as strings the server parses).
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct ListParams {
    /// `kubectl -l` syntax; empty selects everything.
    pub label_selector: String,
    /// `metadata.name=x,spec.nodeName=y`; empty selects everything.
    pub field_selector: String,
    /// Page size; 0 for no limit.
    pub limit: u64,
    /// Continue token of the previous page.
    pub continue_token: Option<String>,
    /// Read at this resourceVersion (must be ≥ the compacted revision).
    pub resource_version: Option<String>,
}

/// Options of a delete (upstream `DeleteOptions`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct DeleteParams {
    /// Grace period in seconds.
    pub grace_period_seconds: Option<i64>,
    /// uid precondition.
    pub uid: Option<String>,
    /// resourceVersion precondition.
    pub resource_version: Option<String>,
    /// `Background`, `Foreground` or `Orphan`.
    pub propagation_policy: Option<String>,
}

/// One API call. Resources are named by their plural (`pods`, `replicasets`).
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub enum Request {
    /// Create an object in `namespace` (or the object's own).
    Create {
        /// The request's namespace.
        namespace: Option<String>,
        /// The object.
        object: Object,
    },
    /// Read one object.
    Get {
        /// Plural resource name.
        resource: String,
        /// Namespace (`""` for cluster-scoped).
        namespace: String,
        /// Name.
        name: String,
    },
    /// List objects.
    List {
        /// Plural resource name.
        resource: String,
        /// Namespace, or all namespaces.
        namespace: Option<String>,
        /// Selectors, paging, revision.
        params: ListParams,
    },
    /// Replace an object.
    Update {
        /// The new state (its `resourceVersion` is a precondition when set).
        object: Object,
    },
    /// Replace an object's status.
    UpdateStatus {
        /// The object carrying the new status.
        object: Object,
    },
    /// Delete an object.
    Delete {
        /// Plural resource name.
        resource: String,
        /// Namespace (`""` for cluster-scoped).
        namespace: String,
        /// Name.
        name: String,
        /// Grace period, preconditions, propagation.
        params: DeleteParams,
    },
    /// Watch objects after a resourceVersion.
    Watch {
        /// Plural resource name.
        resource: String,
        /// Namespace, or all namespaces.
        namespace: Option<String>,
        /// Selectors and the starting resourceVersion (`resource_version`).
        params: ListParams,
    },
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub enum Response {
    /// The object created, read or updated.
    Object(Object),
    /// A list page.
    List {
        /// The revision it was read at.
        resource_version: u64,
        /// The objects.
        items: Vec<Object>,
        /// Token for the next page.
        continue_token: Option<String>,
    },
    /// A delete: `gone` when removed now, else the object with `deletionTimestamp` set.
    Deleted {
        /// Removed now (true) or deletion pending (false).
        gone: bool,
        /// The object.
        object: Object,
    },
    /// The watch is established; events follow as [`ServerMessage::WatchEvent`].
    WatchStarted,
}

/// One event of a watch stream (upstream `WatchEvent` types).
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub enum WatchEvent {
    /// The object appeared (or started matching the selectors).
    Added(Object),
    /// The object changed.
    Modified(Object),
    /// The object was deleted (or stopped matching); its last state.
    Deleted(Object),
    /// Progress: every event up to this resourceVersion has been sent.
    Bookmark(u64),
    /// The watch ended (e.g. 410 Expired after compaction); no more events for this id.
    Error(Status),
}

/// What a server sends.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
#[allow(
    clippy::large_enum_variant,
    reason = "messages are encoded and dropped at once"
)]
pub enum ServerMessage {
    /// Handshake accepted.
    Welcome {
        /// The server's protocol version.
        protocol: u32,
        /// The authenticated user.
        user: String,
    },
    /// Handshake refused (wrong version, bad token); the server closes the connection.
    Refused(Status),
    /// The answer to request `id`.
    Response {
        /// The request's id.
        id: u64,
        /// The result.
        result: Result<Response, Status>,
    },
    /// An event of the watch started by request `id`.
    WatchEvent {
        /// The watch's request id.
        id: u64,
        /// The event.
        event: WatchEvent,
    },
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<FRAME_BYTES_MAX>()
}

fn decode<T: Decode<()>>(payload: &[u8]) -> Result<T, FrameError> {
    let (message, used) = bincode::decode_from_slice(payload, config())
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    if used != payload.len() {
        return Err(FrameError::Malformed(format!(
            "{} trailing bytes after the message",
            payload.len() - used
        )));
    }
    Ok(message)
}

fn encode<T: Encode>(message: &T) -> Result<Vec<u8>, FrameError> {
    let payload = bincode::encode_to_vec(message, config())
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    super::frame::frame(&payload)
}

impl ClientMessage {
    /// Decodes a frame's payload. Never panics.
    pub fn decode(payload: &[u8]) -> Result<Self, FrameError> {
        decode(payload)
    }
    /// Encodes as a whole frame (length prefix included).
    pub fn to_frame(&self) -> Result<Vec<u8>, FrameError> {
        encode(self)
    }
}

impl ServerMessage {
    /// Decodes a frame's payload. Never panics.
    pub fn decode(payload: &[u8]) -> Result<Self, FrameError> {
        decode(payload)
    }
    /// Encodes as a whole frame (length prefix included).
    pub fn to_frame(&self) -> Result<Vec<u8>, FrameError> {
        encode(self)
    }
}
