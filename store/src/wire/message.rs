//! The messages of the wire protocol (version [`PROTOCOL_VERSION`]), bincode-encoded inside
//! frames.
//!
//! A connection starts with the client's [`ClientMessage::Hello`] (protocol version and bearer
//! token) and the server's [`ServerMessage::Welcome`] or [`ServerMessage::Refused`]. Then the
//! client sends requests with ids of its choosing; the server answers each id once, and streams
//! [`ServerMessage::WatchEvent`]s for watch requests until the client cancels the id or the
//! watch ends with an error.

use bincode::{Decode, Encode};
use skiff_core::client::{
    AccessDecision, AccessReview, Binding, DeleteOptions, Deleted, ExecOutput, ExecParams,
    ListParams, LogParams, ObjectList, PatchType, Scale, WatchEvent,
};
use skiff_core::event::Event;
use skiff_core::object::{KindRegistry, Object};

use super::frame::{FRAME_BYTES_MAX, FrameError};
use crate::codec::Stored;
use skiff_core::status::Status;

/// Version of this protocol; a server refuses other versions in the handshake. Version 2 added
/// etcdctl's writes, watch and snapshot stream ([`Request::EtcdPut`] and after); version 3 the
/// member id in [`ServerMessage::Welcome`], Raft state in [`EtcdStatus`] and the `member`
/// requests (replicated control planes, issue #11).
pub const PROTOCOL_VERSION: u32 = 3;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
#[bincode(decode_context = "skiff_core::object::KindRegistry")]
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

/// One API call. Resources are named by their plural (`pods`, `replicasets`).
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
#[bincode(decode_context = "skiff_core::object::KindRegistry")]
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
        options: DeleteOptions,
    },
    /// Bind a pod to a node (the `pods/binding` subresource).
    Bind {
        /// Namespace of the pod.
        namespace: String,
        /// Name of the pod.
        name: String,
        /// Node and preconditions.
        binding: Binding,
    },
    /// An object's history from the log.
    History {
        /// Plural resource name.
        resource: String,
        /// Namespace (`""` for cluster-scoped).
        namespace: String,
        /// Name.
        name: String,
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
    /// Patch an object (merge or strategic merge patch).
    Patch {
        /// Plural resource name.
        resource: String,
        /// Namespace (`""` for cluster-scoped).
        namespace: String,
        /// Name.
        name: String,
        /// How the bytes apply.
        patch_type: PatchType,
        /// The patch, JSON.
        patch: Vec<u8>,
    },
    /// Read the `scale` subresource.
    GetScale {
        /// Plural resource name (`replicasets`, `replicationcontrollers`, `deployments`).
        resource: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Set `spec.replicas` through the `scale` subresource.
    UpdateScale {
        /// Plural resource name.
        resource: String,
        /// The object (name, namespace), the new count and an optional precondition.
        scale: Scale,
    },
    /// May a user do something? (upstream `SelfSubjectAccessReview` /
    /// `SubjectAccessReview`).
    AccessReview {
        /// The question.
        review: AccessReview,
    },
    /// etcdctl's range read on the store behind the server (`skiff etcdctl --server … get`);
    /// only admins (`system:masters`) may ask, as only they hold etcd's credentials upstream.
    EtcdRange {
        /// The key, or the prefix.
        key: String,
        /// Every key starting with `key`.
        prefix: bool,
        /// Most keys returned (0: no limit).
        limit: u64,
        /// Read at this revision (0: the head).
        revision: u64,
        /// Rows without their values (`--keys-only`).
        keys_only: bool,
    },
    /// etcdctl's `endpoint status` on the store behind the server (admins only).
    EtcdStatus,
    /// etcdctl's `put`: raw bytes outside `/registry/`, one valid manifest object at its own
    /// key under it. Answered with [`Response::EtcdRevision`].
    EtcdPut {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// etcdctl's `del [--prefix]`. Answered with [`Response::EtcdDeleted`].
    EtcdDelete {
        /// The key, or the prefix.
        key: String,
        /// Every key starting with `key`.
        prefix: bool,
    },
    /// etcdctl's `compaction REV`. Answered with [`Response::EtcdRevision`] (the head).
    EtcdCompact {
        /// Reads below this revision fail afterwards.
        revision: u64,
    },
    /// etcdctl's `watch [--prefix] [--rev]`, streamed: [`Response::StreamStarted`], then one
    /// [`StreamItem::Event`] per matching event until the client cancels or an
    /// [`StreamItem::Error`] ends it.
    EtcdWatch {
        /// The key, or the prefix.
        key: String,
        /// Every key starting with `key`.
        prefix: bool,
        /// The first revision delivered (0: from now).
        revision: u64,
    },
    /// etcdctl's `snapshot save`, streamed: [`Response::StreamStarted`], then the snapshot
    /// file as [`StreamItem::Chunk`]s and a final [`StreamItem::End`].
    EtcdSnapshot,
    /// A container's log (the `pods/log` subresource; `get`).
    PodLogs {
        /// Namespace of the pod.
        namespace: String,
        /// Name of the pod.
        name: String,
        /// Container, tail, since, timestamps, previous.
        params: LogParams,
    },
    /// Run a command in a container (the `pods/exec` subresource; `create`).
    PodExec {
        /// Namespace of the pod.
        namespace: String,
        /// Name of the pod.
        name: String,
        /// Container and command.
        params: ExecParams,
    },
    /// Run `crictl` on a node (through `nodes/proxy`).
    NodeCrictl {
        /// The node.
        node: String,
        /// crictl's arguments (`ps -a`).
        args: Vec<String>,
    },
    /// Discovery of the custom kinds the server serves (every authenticated user, as
    /// upstream's `system:discovery`).
    CustomKinds,
    /// etcdctl's `member list` (a replicated member; admins only). Answered with
    /// [`Response::EtcdMembers`].
    EtcdMemberList,
    /// etcdctl's `member add NAME --peer-urls ADDR --learner`: a learner that catches up and
    /// is then promoted. Answered with [`Response::EtcdMembers`].
    EtcdMemberAdd {
        /// The new member's name (its id derives from it).
        name: String,
        /// Its Raft peer address.
        peer: String,
    },
    /// etcdctl's `member remove ID`. Answered with [`Response::EtcdMembers`].
    EtcdMemberRemove {
        /// The member's id.
        id: u64,
    },
    /// etcdctl's `member promote ID`. Answered with [`Response::EtcdMembers`].
    EtcdMemberPromote {
        /// The learner's id.
        id: u64,
    },
}

impl Request {
    /// Whether the server answers with a stream ([`ServerMessage::Stream`]) rather than one
    /// response.
    pub fn is_stream(&self) -> bool {
        matches!(self, Request::EtcdWatch { .. } | Request::EtcdSnapshot)
    }
}

/// One item of a streamed answer ([`Request::EtcdWatch`], [`Request::EtcdSnapshot`]).
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
#[bincode(decode_context = "skiff_core::object::KindRegistry")]
#[allow(
    clippy::large_enum_variant,
    reason = "items are encoded and dropped at once"
)]
pub enum StreamItem {
    /// An event of the log, on a watched key.
    Event(Event),
    /// The next bytes of a snapshot file.
    Chunk(Vec<u8>),
    /// The stream is complete.
    End,
    /// The stream failed and is over.
    Error(Status),
}

/// The rows of an [`Request::EtcdRange`].
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
#[bincode(decode_context = "skiff_core::object::KindRegistry")]
pub struct EtcdRange {
    /// The head revision when read.
    pub head: u64,
    /// The keys and their rows, in key order.
    pub kvs: Vec<(String, Stored)>,
    /// More keys matched than `limit` allowed.
    pub more: bool,
    /// How many keys matched in all.
    pub count: u64,
}

/// The answer to [`Request::EtcdStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct EtcdStatus {
    /// The head revision.
    pub revision: u64,
    /// The compacted revision.
    pub compacted: u64,
    /// Events in the log.
    pub events: u64,
    /// Keys in the projection.
    pub keys: u64,
    /// Hash of the projection.
    pub hash: u64,
    /// Replication, when the server is a member of a replicated control plane.
    pub raft: Option<super::member::RaftStatus>,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
#[bincode(decode_context = "skiff_core::object::KindRegistry")]
pub enum Response {
    /// The object created, read or updated.
    Object(Object),
    /// A list page.
    List(ObjectList),
    /// What a delete did.
    Deleted(Deleted),
    /// An object's history, oldest first.
    History(Vec<Event>),
    /// The watch is established; events follow as [`ServerMessage::WatchEvent`].
    WatchStarted,
    /// A `scale` subresource.
    Scale(Scale),
    /// The answer to an access review.
    Access(AccessDecision),
    /// The rows of an etcd range read.
    EtcdRange(EtcdRange),
    /// The store's status.
    EtcdStatus(EtcdStatus),
    /// The revision of a put, or the head after a compaction.
    EtcdRevision(u64),
    /// What a delete did.
    EtcdDeleted {
        /// The head revision afterwards.
        revision: u64,
        /// How many keys were deleted.
        deleted: u64,
    },
    /// The stream is established; items follow as [`ServerMessage::Stream`].
    StreamStarted,
    /// A container's log.
    Logs(String),
    /// What a command printed and its exit code.
    Exec(ExecOutput),
    /// The custom kinds served, in registration order.
    CustomKinds(Vec<skiff_core::object::KindDescription>),
    /// The members of a replicated control plane, by id.
    EtcdMembers(Vec<super::member::MemberInfo>),
}

/// What a server sends.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
#[bincode(decode_context = "skiff_core::object::KindRegistry")]
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
        /// The id of the replicated member serving this connection (`None`: a single-node
        /// store). Clients with several endpoints learn from it where each member is.
        member: Option<u64>,
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
    /// An item of the stream started by request `id`.
    Stream {
        /// The stream's request id.
        id: u64,
        /// The item.
        item: StreamItem,
    },
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<FRAME_BYTES_MAX>()
}

fn decode<T: Decode<KindRegistry>>(payload: &[u8], kinds: &KindRegistry) -> Result<T, FrameError> {
    let (message, used) = bincode::decode_from_slice_with_context(payload, config(), kinds.clone())
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
    /// Decodes a frame's payload (built-in kinds only). Never panics.
    pub fn decode(payload: &[u8]) -> Result<Self, FrameError> {
        decode(payload, &KindRegistry::builtin())
    }
    /// Decodes a frame's payload whose objects may be of the custom kinds of `kinds`. Never
    /// panics.
    pub fn decode_in(payload: &[u8], kinds: &KindRegistry) -> Result<Self, FrameError> {
        decode(payload, kinds)
    }
    /// Encodes as a whole frame (length prefix included).
    pub fn to_frame(&self) -> Result<Vec<u8>, FrameError> {
        encode(self)
    }
}

impl ServerMessage {
    /// Decodes a frame's payload (built-in kinds only). Never panics.
    pub fn decode(payload: &[u8]) -> Result<Self, FrameError> {
        decode(payload, &KindRegistry::builtin())
    }
    /// Decodes a frame's payload whose objects may be of the custom kinds of `kinds`. Never
    /// panics.
    pub fn decode_in(payload: &[u8], kinds: &KindRegistry) -> Result<Self, FrameError> {
        decode(payload, kinds)
    }
    /// Encodes as a whole frame (length prefix included).
    pub fn to_frame(&self) -> Result<Vec<u8>, FrameError> {
        encode(self)
    }
}
