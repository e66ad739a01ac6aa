//! The reconcile contract (DESIGN.md, "Reconcile"): a controller is a pure function from a
//! view of the cluster at one revision plus `now` to an [`Output`]: the [`Action`]s to send and
//! when to look again. No clock, no client, no randomness except a seed passed in: the same
//! input gives the same output, so every rule can be tested exactly and replayed under the
//! simulator.
//!
//! Status writes are actions too ([`Action::UpdateStatus`]): the runtime sends every action with
//! the resourceVersion (or uid) precondition it carries, and a Conflict only means the view was
//! stale — the key is reconciled again once the view has caught up.

use std::time::{Duration, SystemTime};

use skiff_core::client::{Binding, ClientError, DeleteOptions};

use crate::view::{ObjectKey, View};
use skiff_core::clock::unix_micros;
use skiff_core::object::{
    Event, EventSource, KindInfo, MicroTime, Object, ObjectMeta, ObjectReference, Time,
};

/// One write a reconcile asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create the object (in its `metadata.namespace`).
    Create(Object),
    /// Replace the object; its `metadata.resourceVersion` is the precondition.
    Update(Object),
    /// Replace the object's status; its `metadata.resourceVersion` is the precondition.
    UpdateStatus(Object),
    /// Delete an object; `options.uid` / `options.resource_version` are the preconditions.
    Delete {
        /// The kind.
        resource: &'static KindInfo,
        /// Namespace (`""` for cluster-scoped kinds).
        namespace: String,
        /// Name.
        name: String,
        /// Grace period, preconditions and propagation.
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
}

impl Action {
    /// A short `verb kind/namespace/name` description, for logs and test failure output.
    pub fn describe(&self) -> String {
        fn path(o: &Object) -> String {
            let m = o.metadata();
            match m.namespace.as_deref() {
                Some(ns) if !ns.is_empty() => {
                    format!("{}/{ns}/{}", o.info().singular, m.name_or_empty())
                }
                _ => format!("{}/{}", o.info().singular, m.name_or_empty()),
            }
        }
        match self {
            Action::Create(o) => format!("create {}", path(o)),
            Action::Update(o) => format!("update {}", path(o)),
            Action::UpdateStatus(o) => format!("update-status {}", path(o)),
            Action::Delete {
                resource,
                namespace,
                name,
                ..
            } if namespace.is_empty() => format!("delete {}/{name}", resource.singular),
            Action::Delete {
                resource,
                namespace,
                name,
                ..
            } => format!("delete {}/{namespace}/{name}", resource.singular),
            Action::Bind {
                namespace,
                name,
                binding,
            } => format!("bind pod/{namespace}/{name} to {}", binding.node),
        }
    }
}

/// The time a reconcile runs at: the wall clock and the runtime's monotonic clock, read
/// together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Wall time (what objects record: conditions' transition times, taints' `timeAdded`).
    pub wall: SystemTime,
    /// Monotonic time since the runtime's clock began: it never steps; only differences
    /// between two readings of one runtime mean anything.
    pub monotonic: Duration,
}

/// What one reconcile returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Writes to send, in order.
    pub actions: Vec<Action>,
    /// Reconcile this key again after this long even if nothing changes (timers such as
    /// toleration expiry, backoff, minReadySeconds). `Some(Duration::ZERO)` means "look
    /// again now": the runtime requeues the key after its rate-limited backoff (5 ms
    /// doubling, upstream's `AddRateLimited`), never at the same instant.
    pub requeue_after: Option<Duration>,
}

impl Output {
    /// No actions, no requeue.
    pub fn none() -> Self {
        Self::default()
    }

    /// Keeps the earlier of two requeue deadlines.
    pub fn requeue_at_most(&mut self, after: Duration) {
        self.requeue_after = Some(self.requeue_after.map_or(after, |d| d.min(after)));
    }
}

/// The API timestamp (second precision) of `now`.
pub fn time_of(now: SystemTime) -> Time {
    Time::from_unix_seconds(unix_micros(now).div_euclid(1_000_000))
}

/// The API timestamp (microsecond precision) of `now`.
pub fn micro_time_of(now: SystemTime) -> MicroTime {
    MicroTime::from_unix_micros(unix_micros(now))
}

/// `Normal` or `Warning`, the two event types upstream uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something went wrong.
    Warning,
}

/// A core/v1 Event about `object`, as upstream's event recorder writes it: named
/// `<object name>.<unique suffix>` (here derived from `now` and the reason so the same input
/// gives the same name), in the object's namespace (`default` for cluster-scoped objects).
pub fn event(
    object: &Object,
    type_: EventType,
    reason: &str,
    message: impl Into<String>,
    component: &str,
    now: SystemTime,
) -> Action {
    let meta = object.metadata();
    let namespace = match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => ns.to_owned(),
        _ => "default".to_owned(),
    };
    let micros = unix_micros(now);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in reason
        .bytes()
        .chain(meta.uid.as_deref().unwrap_or("").bytes())
    {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let name = format!("{}.{:x}{:04x}", meta.name_or_empty(), micros, hash & 0xffff);
    let info = object.info();
    let api_version = if info.group.is_empty() {
        info.version.to_owned()
    } else {
        format!("{}/{}", info.group, info.version)
    };
    let ev = Event {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some(api_version),
            kind: Some(info.kind.to_owned()),
            namespace: meta.namespace.clone(),
            name: meta.name.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            ..ObjectReference::default()
        },
        reason: Some(reason.to_owned()),
        message: Some(message.into()),
        source: EventSource {
            component: Some(component.to_owned()),
            ..EventSource::default()
        },
        first_timestamp: Some(time_of(now)),
        last_timestamp: Some(time_of(now)),
        count: Some(1),
        type_: Some(
            match type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .to_owned(),
        ),
        ..Event::default()
    };
    Action::Create(ev.into())
}

/// What a controller's view holds of one kind: all objects, or those matching the selectors
/// (the kubelet watches pods with `spec.nodeName=<itself>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// The kind.
    pub resource: &'static KindInfo,
    /// Label selector (`kubectl -l` syntax); empty for all.
    pub label_selector: String,
    /// Field selector (`spec.nodeName=n1`); empty for all.
    pub field_selector: String,
}

impl Watched {
    /// Every object of a kind.
    pub fn all(resource: &'static KindInfo) -> Self {
        Self {
            resource,
            label_selector: String::new(),
            field_selector: String::new(),
        }
    }
}

/// A controller as the runtime loop runs it: which kinds it watches, which keys a change
/// concerns, and the reconcile of one key.
///
/// The reconcile itself is pure: given the same view, key, `now` and controller state it
/// returns the same output. State a controller keeps between reconciles (the node lifecycle
/// controller's own observation times, the scheduler's backoff queue and assumed pods) lives
/// in the implementing struct, is changed only by `reconcile` and `action_failed`, and is
/// plain data a test can set up.
pub trait Controller: Send {
    /// The controller's name: its Lease for leader election, its event source component.
    fn name(&self) -> &'static str;
    /// The kinds the view must hold.
    fn watches(&self) -> Vec<Watched>;
    /// The keys to reconcile after `object` changed (added, modified or deleted): the object
    /// itself, its owner, the Services selecting it, …
    fn keys_for(&self, view: &View, object: &Object) -> Vec<ObjectKey>;
    /// Every key a periodic resync reconciles.
    fn resync_keys(&self, view: &View) -> Vec<ObjectKey>;
    /// Reconciles one key at `now`.
    fn reconcile(&mut self, view: &View, key: &ObjectKey, now: SystemTime) -> Output;
    /// Reconciles one key at `now`, with the runtime's monotonic time beside the wall time.
    /// What the runtime calls. A controller that measures intervals it keeps only in memory
    /// (a grace period since it last saw a heartbeat, a rate limiter's refill) overrides this
    /// and measures them on [`Now::monotonic`], so a step of its own wall clock moves none of
    /// them — as upstream's Go controllers do without asking, `time.Now()` carrying a
    /// monotonic reading that `Sub`, `Add` and `After` use. Times written into objects or read
    /// from them stay wall times. The default calls [`Controller::reconcile`] with the wall
    /// time.
    fn reconcile_at(&mut self, view: &View, key: &ObjectKey, now: Now) -> Output {
        self.reconcile(view, key, now.wall)
    }
    /// The view just changed: `old` is the object before the change (for a deletion, the
    /// deleted object), `new` the object after it (`None` for a deletion). The runtime calls
    /// this for every change it applies to the view, before [`Controller::keys_for`], so a
    /// controller can keep state derived from the view up to date without walking it (as
    /// upstream informers' event handlers feed the scheduler's cache). Reconcile must stay
    /// correct without it: a test driving `reconcile` by hand never calls it. The default
    /// does nothing.
    fn observe(&mut self, view: &View, old: Option<&Object>, new: Option<&Object>) {
        let _ = (view, old, new);
    }
    /// An action this controller asked for failed (a Conflict, a transport error): forget
    /// what was assumed about it. The key is reconciled again with backoff either way.
    fn action_failed(&mut self, key: &ObjectKey, action: &Action, error: &ClientError) {
        let _ = (key, action, error);
    }
}
