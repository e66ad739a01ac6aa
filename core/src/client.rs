//! The API as controllers, kubelets and the CLI see it: a [`Client`] trait with one in-process
//! implementation (over the API server, in skiff-store) and one remote (over the wire
//! protocol). Controllers depend only on this trait, so a reconcile loop cannot reach the log
//! (DESIGN.md: `controllers` never depends on `store`).

use std::future::Future;
use std::pin::Pin;

use crate::event::Event;
use crate::object::{KindInfo, Object};
use crate::status::Status;

/// A boxed, sendable future: keeps [`Client`] usable as `dyn Client`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How dependents are handled when an owner is deleted (upstream `DeletionPropagation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub enum Propagation {
    /// Delete the owner now; the garbage collector deletes dependents afterwards.
    #[default]
    Background,
    /// Keep the owner (with `deletionTimestamp`) until its blocking dependents are gone.
    Foreground,
    /// Delete the owner; its dependents lose their owner reference.
    Orphan,
}

/// Options of a delete (upstream `DeleteOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct DeleteOptions {
    /// Grace period; `None` uses the object's own (pods: `terminationGracePeriodSeconds`).
    pub grace_period_seconds: Option<i64>,
    /// Delete only if the stored object has this uid.
    pub uid: Option<String>,
    /// Delete only if the stored object has this resourceVersion.
    pub resource_version: Option<String>,
    /// Dependent handling.
    pub propagation: Propagation,
}

/// Options of a list or watch (upstream `ListOptions`; selectors in their string syntax).
#[derive(Debug, Clone, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct ListParams {
    /// `kubectl -l` syntax; empty selects everything.
    pub label_selector: String,
    /// `metadata.name=x,spec.nodeName=y`; empty selects everything.
    pub field_selector: String,
    /// Page size; 0 for no limit.
    pub limit: u64,
    /// Continue token of the previous page.
    pub continue_token: Option<String>,
    /// List: read at this resourceVersion. Watch: start after it.
    pub resource_version: Option<String>,
}

/// A pod's binding to a node (upstream `Binding`, posted to `pods/<name>/binding`).
#[derive(Debug, Clone, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Binding {
    /// The node the pod is bound to.
    pub node: String,
    /// Bind only if the stored pod has this uid (a pod deleted and recreated under the same
    /// name is another pod).
    pub uid: Option<String>,
    /// Bind only if the stored pod has this resourceVersion.
    pub resource_version: Option<String>,
}

/// How a patch's bytes apply (upstream `types.PatchType`; the HTTP `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum PatchType {
    /// RFC 7386 JSON merge patch (`application/merge-patch+json`): objects merge, `null`
    /// deletes, lists are replaced.
    Merge,
    /// Strategic merge patch (`application/strategic-merge-patch+json`): as a merge patch,
    /// but lists upstream declares mergeable merge by key (containers by name, …) and honour
    /// `"$patch": "delete"`.
    Strategic,
}

/// The `scale` subresource of a ReplicaSet, ReplicationController or Deployment (upstream
/// `autoscaling/v1` `Scale`).
#[derive(Debug, Clone, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Scale {
    /// The object's name.
    pub name: String,
    /// The object's namespace.
    pub namespace: String,
    /// The object's resourceVersion; on update, a precondition when set.
    pub resource_version: Option<String>,
    /// `spec.replicas`: the desired count.
    pub replicas: i32,
    /// `status.replicas`: the observed count.
    pub status_replicas: i32,
    /// `status.selector`: the label selector of the pods, in its string form.
    pub selector: String,
}

/// Whether a user may do something (upstream `SubjectAccessReview`'s spec and status): asked
/// with [`Client::access_review`], answered by the server's authorizer.
#[derive(Debug, Clone, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct AccessReview {
    /// The user to ask about; empty means the caller (a `SelfSubjectAccessReview`). Asking
    /// about another user needs impersonation rights.
    pub user: String,
    /// That user's groups (only with `user`).
    pub groups: Vec<String>,
    /// `get`, `list`, `create`, … (`*` for any).
    pub verb: String,
    /// API group of the resource (`""` for the core group).
    pub group: String,
    /// Plural resource (`pods`), `*` for any.
    pub resource: String,
    /// Subresource (`status`, `scale`), empty for the resource itself.
    pub subresource: String,
    /// Namespace; empty for cluster scope or every namespace.
    pub namespace: String,
    /// Object name; empty for any.
    pub name: String,
}

/// The answer to an [`AccessReview`].
#[derive(Debug, Clone, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct AccessDecision {
    /// Whether the request would be allowed.
    pub allowed: bool,
    /// Why (the binding that allows, or the authorizers' reasons).
    pub reason: String,
}

/// Options of a read of a container's log (upstream `PodLogOptions`, the `pods/log`
/// subresource's query).
#[derive(Debug, Clone, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct LogParams {
    /// The container; may be left out when the pod has exactly one.
    pub container: Option<String>,
    /// Only the last this many lines (`tailLines`, `kubectl logs --tail`).
    pub tail_lines: Option<u64>,
    /// Only lines written in the last this many seconds (`sinceSeconds`).
    pub since_seconds: Option<u64>,
    /// Only lines written at or after this time, in microseconds since the epoch
    /// (`sinceTime`).
    pub since_time_micros: Option<i64>,
    /// Prefix every line with its RFC 3339 time (`timestamps`).
    pub timestamps: bool,
    /// The log of the previous instance of the container (`previous`).
    pub previous: bool,
    /// At most this many bytes of the log's end (`limitBytes`).
    pub limit_bytes: Option<u64>,
}

/// A command to run in a container (upstream `PodExecOptions`, without the streams: skiff's
/// exec is synchronous, like `crictl exec --sync`).
#[derive(Debug, Clone, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct ExecParams {
    /// The container; may be left out when the pod has exactly one.
    pub container: Option<String>,
    /// The command and its arguments.
    pub command: Vec<String>,
}

/// What a command run in a container (or `crictl` on a node) printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct ExecOutput {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// Exit code.
    pub exit_code: i32,
}

/// A list page (upstream `<Kind>List`).
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
#[bincode(decode_context = "crate::object::KindRegistry")]
pub struct ObjectList {
    /// The revision the list was read at: watch from here to see every later change.
    pub resource_version: u64,
    /// The objects, in key order.
    pub items: Vec<Object>,
    /// Continue token for the next page, when there is one.
    pub continue_token: Option<String>,
}

/// What a delete did.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
#[bincode(decode_context = "crate::object::KindRegistry")]
pub enum Deleted {
    /// The object is gone; this was its last state.
    Gone(Object),
    /// Deletion started: the object carries `deletionTimestamp` and waits for its finalizers
    /// or its grace period.
    Pending(Object),
}

/// One event of a watch (upstream `WatchEvent` types).
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
#[bincode(decode_context = "crate::object::KindRegistry")]
pub enum WatchEvent {
    /// The object appeared (or started matching the selectors).
    Added(Object),
    /// The object changed.
    Modified(Object),
    /// The object was deleted (or stopped matching); its last state.
    Deleted(Object),
    /// Progress: every event up to this resourceVersion has been delivered.
    Bookmark(u64),
    /// The watch ended (e.g. 410 Expired after compaction); relist and watch again.
    Error(Status),
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The API refused the request (404, 409, 422, …).
    #[error(transparent)]
    Status(#[from] Status),
    /// The call did not reach the API or its answer was lost (connection refused or reset,
    /// server stopped); a write's outcome is then unknown.
    #[error("transport: {0}")]
    Transport(String),
}

/// A stream of watch events; `None` when the stream ended (after an `Error` event or when the
/// connection closed).
pub trait WatchStream: Send {
    /// The next event.
    fn next(&mut self) -> BoxFuture<'_, Option<WatchEvent>>;
}

/// The Kubernetes API, as every component uses it.
///
/// # Correctness (for implementers)
///
/// - Writes are acknowledged only once durable; a [`ClientError::Transport`] on a write means
///   its outcome is unknown, never that it did not happen.
/// - A watch started at a list's `resource_version` delivers every later change of matching
///   objects exactly once, in order, or ends with [`WatchEvent::Error`].
pub trait Client: Send + Sync {
    /// Creates `object` in `namespace` (or its own).
    fn create(
        &self,
        namespace: Option<&str>,
        object: Object,
    ) -> BoxFuture<'_, Result<Object, ClientError>>;
    /// Reads one object.
    fn get(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Object, ClientError>>;
    /// Lists objects of a kind, in one namespace or all.
    fn list(
        &self,
        resource: &'static KindInfo,
        namespace: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<ObjectList, ClientError>>;
    /// Replaces an object (its `resourceVersion`, when set, is a precondition).
    fn update(&self, object: Object) -> BoxFuture<'_, Result<Object, ClientError>>;
    /// Replaces an object's status.
    fn update_status(&self, object: Object) -> BoxFuture<'_, Result<Object, ClientError>>;
    /// Deletes an object.
    fn delete(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
        options: DeleteOptions,
    ) -> BoxFuture<'_, Result<Deleted, ClientError>>;
    /// Binds a pod that has no node yet (the `pods/binding` subresource, what the scheduler
    /// posts): sets `spec.nodeName` and the `PodScheduled=True` condition in one write. A pod
    /// already bound, or being deleted, is a Conflict.
    fn bind(
        &self,
        namespace: &str,
        name: &str,
        binding: Binding,
    ) -> BoxFuture<'_, Result<Object, ClientError>>;
    /// The object's own history from the log: every retained event that created, changed or
    /// deleted it, oldest first (skiff's addition to the Kubernetes API; `describe` shows it).
    fn history(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Vec<Event>, ClientError>>;
    /// Watches objects of a kind after `params.resource_version`.
    fn watch(
        &self,
        resource: &'static KindInfo,
        namespace: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<Box<dyn WatchStream>, ClientError>>;
    /// Patches an object (the PATCH verb) with a JSON merge patch or a strategic merge patch.
    /// A `metadata.resourceVersion` in the patch is a precondition.
    fn patch(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        patch: Vec<u8>,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let _ = (resource, namespace, name, patch_type, patch);
        Box::pin(async { Err(unsupported("patch")) })
    }
    /// Reads the `scale` subresource of a ReplicaSet, ReplicationController or Deployment.
    fn get_scale(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Scale, ClientError>> {
        let _ = (resource, namespace, name);
        Box::pin(async { Err(unsupported("get scale")) })
    }
    /// Sets `spec.replicas` through the `scale` subresource (`scale.resource_version`, when
    /// set, is a precondition); returns the new scale.
    fn update_scale(
        &self,
        resource: &'static KindInfo,
        scale: Scale,
    ) -> BoxFuture<'_, Result<Scale, ClientError>> {
        let _ = (resource, scale);
        Box::pin(async { Err(unsupported("update scale")) })
    }
    /// Asks the server's authorizer whether a user may do something (upstream
    /// `SelfSubjectAccessReview`, or `SubjectAccessReview` for another user).
    fn access_review(
        &self,
        review: AccessReview,
    ) -> BoxFuture<'_, Result<AccessDecision, ClientError>> {
        let _ = review;
        Box::pin(async { Err(unsupported("access review")) })
    }
    /// Reads a container's log through the `pods/log` subresource (the API server asks the
    /// kubelet of the pod's node).
    fn pod_logs(
        &self,
        namespace: &str,
        name: &str,
        params: LogParams,
    ) -> BoxFuture<'_, Result<String, ClientError>> {
        let _ = (namespace, name, params);
        Box::pin(async { Err(unsupported("pods/log")) })
    }
    /// Runs a command in a container through the `pods/exec` subresource and returns its
    /// output and exit code.
    fn pod_exec(
        &self,
        namespace: &str,
        name: &str,
        params: ExecParams,
    ) -> BoxFuture<'_, Result<ExecOutput, ClientError>> {
        let _ = (namespace, name, params);
        Box::pin(async { Err(unsupported("pods/exec")) })
    }
    /// Runs `crictl` with `args` on a node, through the `nodes/proxy` subresource.
    fn node_crictl(
        &self,
        node: &str,
        args: Vec<String>,
    ) -> BoxFuture<'_, Result<ExecOutput, ClientError>> {
        let _ = (node, args);
        Box::pin(async { Err(unsupported("nodes/proxy")) })
    }
}

/// What a client that does not implement a call answers (upstream's 405).
fn unsupported(what: &str) -> ClientError {
    ClientError::Status(Status {
        reason: crate::status::Reason::MethodNotAllowed,
        message: format!("{what} is not supported by this client"),
        name: None,
        kind: None,
        causes: Vec::new(),
    })
}
