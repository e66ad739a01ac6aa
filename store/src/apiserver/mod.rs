//! The API server (seed §4): the only component that changes the store, and the only public
//! holder of its write path once the wire protocol lands. This first slice gives every write
//! upstream's object life-cycle semantics; authentication, RBAC, admission defaults and the wire
//! protocol build on it.
//!
//! - **create**: namespace defaulting, `generateName`, `uid`, `creationTimestamp` from the
//!   [`Clock`], `generation` 1, validation (422 with field causes), `AlreadyExists` (409).
//! - **update**: the `resourceVersion` (and `uid`) precondition (409 Conflict in upstream's
//!   words), immutable metadata kept from the stored object, status kept (it changes only
//!   through `update_status`), `generation` bumped when the desired state changes.
//! - **update_status**: only status changes.
//! - **delete**: finalizers and, for pods bound to a node, a grace period turn a delete into
//!   setting `deletionTimestamp`; the last finalizer removed by an update then deletes the
//!   object. `propagationPolicy` Orphan and Foreground are recorded as the upstream finalizers
//!   for the garbage collector.
//! - **patch** (`patch.rs`): JSON merge patch (RFC 7386) and strategic merge patch by
//!   upstream's merge keys, read back through the manifest parser (422 naming the field), then
//!   written as an update; retried against newer versions unless the patch pins one.
//! - **scale** (`scale.rs`): the `scale` subresource of ReplicaSets, ReplicationControllers and
//!   Deployments (`autoscaling/v1` `Scale`).
//! - **access reviews** (`handler.rs`): whether a user may do something, answered by the
//!   authorizer; asking about someone else needs the right to impersonate them.
//! - **logs, exec, crictl** (`kubelet.rs`): `pods/log`, `pods/exec` and `nodes/proxy`
//!   forwarded to the kubelet of the pod's node over its node API.
//! - **admission** (`admission.rs`): defaults (`skiff_core::defaults`), then NamespaceLifecycle,
//!   ServiceAccount, Priority and DefaultTolerationSeconds, and the Service IP and node port
//!   allocators, whose allocations commit in the Service's own transaction.

mod admission;
pub mod authn;
pub mod authz;
mod handler;
mod kubelet;
pub mod patch;
mod scale;
mod status;

pub use handler::{ApiHandler, LocalClient};
pub use kubelet::{KubeletClientConfig, crictl_reads_only};
use std::sync::{Arc, Mutex};

use skiff_core::clock::Clock;
use skiff_core::defaults::{default_object, prepare_for_create};
use skiff_core::event::{Actor, Revision};
use skiff_core::object::{KindInfo, Object, Time};
use skiff_core::rng::SplitMix64;
use skiff_core::validate::{validate_object, validate_update};

use crate::codec::StoredValue;
use crate::error::{ReadError, Rejection, WriteError};
use crate::key::registry_key;
use crate::store::{ListOptions, Store};

pub use admission::{
    DEFAULT_SERVICE_ACCOUNT_NAME, IMMORTAL_NAMESPACES, NODE_PORT_KEY_PREFIX,
    SERVICE_CLUSTER_IP_RANGE, SERVICE_IP_KEY_PREFIX, SERVICE_NODE_PORT_RANGE, SYSTEM_NAMESPACES,
    TOLERATION_SECONDS_DEFAULT,
};
pub use skiff_core::client::{
    AccessDecision, AccessReview, Binding, DeleteOptions, Deleted, ObjectList, PatchType,
    Propagation, Scale,
};
pub use status::{ApiError, Cause, Reason, Status};

/// Characters upstream's `generateName` suffix uses (no vowels, no look-alikes).
const NAME_SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Length of the `generateName` suffix (upstream `randomLength`).
const NAME_SUFFIX_LEN: usize = 5;
/// Creates retried with a fresh suffix when a generated name is taken.
const GENERATE_NAME_ATTEMPTS_MAX: usize = 8;
/// Default pod grace period (upstream `DefaultTerminationGracePeriodSeconds`).
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// Finalizer that makes the garbage collector delete dependents first (upstream).
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";
/// Finalizer that makes the garbage collector orphan dependents (upstream).
pub const FINALIZER_ORPHAN: &str = "orphan";

/// The API server over one store.
pub struct ApiServer {
    store: Store,
    clock: Arc<dyn Clock>,
    rng: Mutex<SplitMix64>,
    rbac: Arc<handler::RbacCache>,
    admission: admission::Admission,
    kubelet: Mutex<kubelet::KubeletClientConfig>,
}

/// How often a delete without a resourceVersion precondition is tried again after losing a
/// race with another writer.
const DELETE_CONFLICT_RETRIES_MAX: usize = 5;

/// The usual cause of a 409 Conflict (upstream `OptimisticLockErrorMsg`).
pub const MODIFIED: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// The resource as upstream's messages name it: `pods`, `replicasets.apps`
/// (`schema.GroupResource.String()`).
pub fn qualified_resource(info: &KindInfo) -> String {
    if info.group.is_empty() {
        info.plural.to_owned()
    } else {
        format!("{}.{}", info.plural, info.group)
    }
}

/// `<resource>[.<group>] "<name>" not found` (upstream `NewNotFound`; `details.kind` is the
/// plural resource).
pub(crate) fn not_found(info: &KindInfo, name: &str) -> Status {
    Status {
        kind: Some(info.plural.to_owned()),
        ..Status::not_found(&qualified_resource(info), name)
    }
}

/// `<resource>[.<group>] "<name>" already exists` (upstream `NewAlreadyExists`).
pub(crate) fn already_exists(info: &KindInfo, name: &str) -> Status {
    Status {
        kind: Some(info.plural.to_owned()),
        ..Status::already_exists(&qualified_resource(info), name)
    }
}

/// `Operation cannot be fulfilled on <resource>[.<group>] "<name>": <why>` (upstream
/// `NewConflict`).
pub(crate) fn conflict(info: &KindInfo, name: &str, why: &str) -> Status {
    Status {
        kind: Some(info.plural.to_owned()),
        ..Status::conflict(&qualified_resource(info), name, why)
    }
}

/// `<Kind>[.<group>] "<name>" is invalid: …` (upstream `NewInvalid` over the qualified kind).
pub(crate) fn invalid(
    info: &KindInfo,
    name: &str,
    errors: &[skiff_core::validate::FieldError],
) -> Status {
    let kind = if info.group.is_empty() {
        info.kind.to_owned()
    } else {
        format!("{}.{}", info.kind, info.group)
    };
    Status::invalid(&kind, name, errors)
}

fn rejected(e: WriteError, info: &KindInfo, name: &str) -> ApiError {
    match e {
        WriteError::Fatal(f) => ApiError::Fatal(f),
        WriteError::Rejected(Rejection::AlreadyExists { .. }) => already_exists(info, name).into(),
        WriteError::Rejected(Rejection::NotFound { .. }) => not_found(info, name).into(),
        WriteError::Rejected(Rejection::Conflict { .. }) => conflict(info, name, MODIFIED).into(),
        WriteError::Rejected(other) => Status::bad_request(other.to_string()).into(),
    }
}

pub(crate) fn read_failed(e: ReadError, info: &KindInfo, name: &str) -> ApiError {
    match e {
        ReadError::NotFound { .. } => not_found(info, name).into(),
        ReadError::Compacted {
            requested,
            compacted_revision,
        } => Status {
            reason: Reason::Expired,
            message: format!("too old resource version: {requested} ({compacted_revision})"),
            name: None,
            kind: Some(info.plural.to_owned()),
            causes: Vec::new(),
        }
        .into(),
        ReadError::Fatal(f) => ApiError::Fatal(f),
        other => Status::bad_request(other.to_string()).into(),
    }
}

/// The object without metadata and status: what `generation` counts changes of.
fn desired_state(object: &Object) -> Object {
    let mut copy = object.clone();
    *copy.metadata_mut() = skiff_core::object::ObjectMeta::default();
    copy.clear_status();
    copy
}

impl ApiServer {
    /// An API server over `store`, reading time from `clock` and drawing uids and generated
    /// names from a generator seeded with `seed`.
    pub fn new(store: Store, clock: Arc<dyn Clock>, seed: u64) -> Self {
        let rbac = handler::RbacCache::start(&store);
        Self {
            store,
            clock,
            rng: Mutex::new(SplitMix64::new(seed)),
            rbac,
            admission: admission::Admission::default(),
            kubelet: Mutex::default(),
        }
    }

    /// The kinds this server serves: the built-ins and the custom kinds its store was opened
    /// with ([`Store::open_with_kinds`]).
    pub fn kinds(&self) -> &skiff_core::object::KindRegistry {
        self.store.kinds()
    }

    /// The store behind this server (reads only; writes go through the server).
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn rng(&self) -> std::sync::MutexGuard<'_, SplitMix64> {
        self.rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A random RFC 4122 version-4 uid.
    fn new_uid(&self) -> String {
        let mut rng = self.rng();
        let (a, b) = (rng.next_u64(), rng.next_u64());
        let a = (a & !0xF000) | 0x4000; // version 4
        let b = (b & !(0xC << 60)) | (0x8 << 60); // variant 10
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }

    fn name_suffix(&self) -> String {
        let mut rng = self.rng();
        (0..NAME_SUFFIX_LEN)
            .map(|_| {
                let i = usize::try_from(rng.below(NAME_SUFFIX_ALPHABET.len() as u64)).unwrap_or(0);
                char::from(NAME_SUFFIX_ALPHABET[i])
            })
            .collect()
    }

    /// Creates an object. `namespace` is the request's namespace (the URL's, for HTTP): it
    /// fills an empty `metadata.namespace` and must agree with a set one.
    pub async fn create(
        &self,
        actor: &Actor,
        namespace: Option<&str>,
        mut object: Object,
    ) -> Result<Object, ApiError> {
        let info = object.info();
        {
            let meta = object.metadata_mut();
            if info.namespaced {
                let given = meta.namespace.clone().filter(|n| !n.is_empty());
                match (given, namespace) {
                    (Some(a), Some(b)) if a != b => {
                        return Err(Status::bad_request(format!(
                            "the namespace of the provided object ({a}) does not match the namespace sent on the request ({b})"
                        ))
                        .into());
                    }
                    (None, request) => {
                        meta.namespace = Some(request.unwrap_or("default").to_owned());
                    }
                    _ => {}
                }
            }
            meta.uid = Some(self.new_uid());
            meta.creation_timestamp = Some(self.clock.now_time());
            meta.resource_version = None;
            meta.generation = Some(1);
            meta.deletion_timestamp = None;
            meta.deletion_grace_period_seconds = None;
        }
        prepare_for_create(&mut object);
        default_object(&mut object);
        self.admit(&mut object, None)?;
        let generate = object
            .metadata()
            .name
            .as_deref()
            .is_none_or(str::is_empty)
            .then(|| object.metadata().generate_name.clone())
            .flatten();
        let attempts = if generate.is_some() {
            GENERATE_NAME_ATTEMPTS_MAX
        } else {
            1
        };
        for attempt in 0..attempts {
            if let Some(prefix) = &generate {
                object.metadata_mut().name = Some(format!("{prefix}{}", self.name_suffix()));
            }
            let name = object.metadata().name_or_empty().to_owned();
            let errors = validate_object(&object);
            if !errors.is_empty() {
                return Err(invalid(info, &name, &errors).into());
            }
            match Box::pin(self.commit_create(actor, object.clone())).await {
                Ok(stored) => return Ok(stored),
                Err(ApiError::Rejected(status))
                    if status.reason == Reason::AlreadyExists
                        && generate.is_some()
                        && attempt + 1 < attempts => {}
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Reads one object.
    pub fn get(&self, info: &KindInfo, namespace: &str, name: &str) -> Result<Object, ApiError> {
        let key = registry_key(info, namespace, name);
        match self.store.get(&key) {
            Ok((_, entry)) => match entry.stored.value {
                StoredValue::Object(object) => Ok(object),
                StoredValue::Raw(_) => Err(not_found(info, name).into()),
            },
            Err(e) => Err(read_failed(e, info, name)),
        }
    }

    /// Lists objects of a kind, in one namespace or (with `None`) in all.
    pub fn list(
        &self,
        info: &KindInfo,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<ObjectList, ApiError> {
        let prefix = match (info.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/", info.registry_prefix),
            _ => info.registry_prefix.to_owned(),
        };
        let page = self
            .store
            .list(&prefix, options)
            .map_err(|e| read_failed(e, info, ""))?;
        let items = page
            .entries
            .into_iter()
            .filter_map(|e| match e.stored.value {
                StoredValue::Object(o) if o.info().kind == info.kind => Some(o),
                _ => None,
            })
            .collect();
        Ok(ObjectList {
            resource_version: page.revision.0,
            items,
            continue_token: page.continue_after,
        })
    }

    /// Replaces an object's desired state (and metadata labels, annotations, finalizers,
    /// owner references). A non-empty `metadata.resourceVersion` is a precondition.
    pub async fn update(&self, actor: &Actor, object: Object) -> Result<Object, ApiError> {
        self.write_update(actor, object, false).await
    }

    /// Replaces an object's status only (the `status` subresource).
    pub async fn update_status(&self, actor: &Actor, object: Object) -> Result<Object, ApiError> {
        self.write_update(actor, object, true).await
    }

    async fn write_update(
        &self,
        actor: &Actor,
        mut object: Object,
        status_only: bool,
    ) -> Result<Object, ApiError> {
        let info = object.info();
        let name = object.metadata().name_or_empty().to_owned();
        let namespace = object.metadata().namespace_or_empty().to_owned();
        let current = self.get(info, &namespace, &name)?;
        default_object(&mut object);
        let expected =
            match object.metadata().resource_version.as_deref() {
                None | Some("") => None,
                Some(rv) => Some(Revision::parse(rv).ok_or_else(|| {
                    Status::bad_request(format!("invalid resourceVersion {rv:?}"))
                })?),
            };
        let old = current.metadata();
        if let Some(uid) = object.metadata().uid.as_deref()
            && !uid.is_empty()
            && Some(uid) != old.uid.as_deref()
        {
            return Err(conflict(
                info,
                &name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    old.uid.as_deref().unwrap_or("")
                ),
            )
            .into());
        }
        if status_only {
            let mut next = current.clone();
            next.copy_status_from(&object);
            object = next;
        } else {
            object.copy_status_from(&current);
            let meta = object.metadata_mut();
            // Immutable or server-owned metadata comes from the stored object.
            meta.uid.clone_from(&old.uid);
            meta.creation_timestamp = old.creation_timestamp;
            meta.deletion_timestamp = old.deletion_timestamp;
            meta.deletion_grace_period_seconds = old.deletion_grace_period_seconds;
            meta.generate_name.clone_from(&old.generate_name);
            let generation = old.generation.unwrap_or(1);
            meta.generation = Some(generation);
            self.admit(&mut object, Some(&current))?;
            if desired_state(&object) != desired_state(&current) {
                object.metadata_mut().generation = Some(generation + 1);
            }
        }
        let mut errors = validate_object(&object);
        if !status_only {
            errors.extend(validate_update(&object, &current));
        }
        if !errors.is_empty() {
            return Err(invalid(info, &name, &errors).into());
        }
        // A terminating object whose last finalizer was just removed is deleted — once its
        // grace period is over (upstream: finalizers empty and deletionGracePeriodSeconds 0;
        // a pod still shutting down is removed by the kubelet's delete with grace 0).
        if object.metadata().deletion_timestamp.is_some()
            && object.metadata().finalizers.is_empty()
            && object.metadata().deletion_grace_period_seconds.unwrap_or(0) == 0
            && !admission::holds_deletion(&object)
            && !status_only
        {
            let deleted = Box::pin(self.remove(actor, &current, expected))
                .await
                .map_err(|e| rejected(e, info, &name))?;
            return match deleted {
                StoredValue::Object(o) => Ok(o),
                StoredValue::Raw(_) => Err(not_found(info, &name).into()),
            };
        }
        // upstream GuaranteedUpdate: an update that changes nothing is not written — no event,
        // no new resourceVersion — unless its precondition fails.
        let current_revision = old.resource_version.as_deref().and_then(Revision::parse);
        if expected.is_none_or(|e| Some(e) == current_revision) {
            let mut unchanged = object.clone();
            unchanged
                .metadata_mut()
                .resource_version
                .clone_from(&old.resource_version);
            if unchanged == current {
                return Ok(current);
            }
        }
        Box::pin(self.commit_update(actor, &current, object, expected)).await
    }

    /// Deletes an object, gracefully where upstream would.
    ///
    /// Without a resourceVersion precondition, a write that lost a race with another writer
    /// (a kubelet posting status, the scheduler binding) is tried again on the new state, as
    /// upstream's `GuaranteedUpdate` does; with one, the Conflict is the caller's.
    pub async fn delete(
        &self,
        actor: &Actor,
        info: &KindInfo,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Box::pin(self.delete_once(actor, info, namespace, name, options)).await {
                Err(ApiError::Rejected(status))
                    if status.reason == Reason::Conflict
                        && options.resource_version.is_none()
                        && attempt < DELETE_CONFLICT_RETRIES_MAX
                        && status.message.ends_with(MODIFIED) => {}
                other => return other,
            }
        }
    }

    async fn delete_once(
        &self,
        actor: &Actor,
        info: &KindInfo,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let current = self.get(info, namespace, name)?;
        admission::admit_delete(&current)?;
        let meta = current.metadata();
        if let Some(uid) = &options.uid
            && Some(uid.as_str()) != meta.uid.as_deref()
        {
            return Err(conflict(
                info,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta.uid.as_deref().unwrap_or("")
                ),
            )
            .into());
        }
        let expected =
            match &options.resource_version {
                Some(rv) => Some(Revision::parse(rv).ok_or_else(|| {
                    Status::bad_request(format!("invalid resourceVersion {rv:?}"))
                })?),
                None => None,
            };
        let mut next = current.clone();
        let mut finalizers = meta.finalizers.clone();
        match options.propagation {
            Propagation::Orphan => finalizers.push(FINALIZER_ORPHAN.to_owned()),
            Propagation::Foreground => finalizers.push(FINALIZER_FOREGROUND.to_owned()),
            Propagation::Background => {}
        }
        finalizers.dedup();
        let grace = match &current {
            Object::Pod(pod) if pod.spec.node_name.as_deref().is_some_and(|n| !n.is_empty()) => {
                options
                    .grace_period_seconds
                    .or(pod.spec.termination_grace_period_seconds)
                    .unwrap_or(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS)
                    .max(0)
            }
            _ => 0,
        };
        // Orphan propagation needs the garbage collector to act only when there are
        // dependents; with none, deleting now is what upstream's GC would end with.
        let orphan_only = options.propagation == Propagation::Orphan
            && meta.finalizers.iter().all(|f| f == FINALIZER_ORPHAN)
            && self
                .store
                .owned_by(meta.uid.as_deref().unwrap_or(""))
                .map_err(|e| read_failed(e, info, name))?
                .is_empty();
        if (finalizers.is_empty() || orphan_only)
            && grace == 0
            && !admission::holds_deletion(&current)
        {
            let removed = Box::pin(self.remove(actor, &current, expected))
                .await
                .map_err(|e| rejected(e, info, name))?;
            return match removed {
                StoredValue::Object(o) => Ok(Deleted::Gone(o)),
                StoredValue::Raw(_) => Err(not_found(info, name).into()),
            };
        }
        {
            let meta = next.metadata_mut();
            if meta.deletion_timestamp.is_none() {
                let now = self.clock.now_time();
                meta.deletion_timestamp = Some(Time::from_unix_seconds(now.unix_seconds + grace));
                meta.deletion_grace_period_seconds = Some(grace);
            } else if let Some(old) = meta.deletion_grace_period_seconds
                && grace < old
            {
                // A shorter grace period shortens a deletion already under way (upstream).
                let now = self.clock.now_time();
                meta.deletion_timestamp = Some(Time::from_unix_seconds(now.unix_seconds + grace));
                meta.deletion_grace_period_seconds = Some(grace);
            }
            meta.finalizers = finalizers;
        }
        admission::mark_terminating(&mut next);
        let stored = self
            .store
            .update(actor, next, expected.or(Some(stored_revision(&current))))
            .await
            .map_err(|e| rejected(e, info, name))?;
        Ok(Deleted::Pending(stored))
    }
}

impl ApiServer {
    /// Binds a pod to a node (the `pods/binding` subresource): sets `spec.nodeName` and the
    /// `PodScheduled=True` condition in one write, as upstream's binding storage does. The
    /// write is a compare-and-swap on the pod's revision, so two schedulers racing for one
    /// pod cannot both win.
    pub async fn bind(
        &self,
        actor: &Actor,
        namespace: &str,
        name: &str,
        binding: &Binding,
    ) -> Result<Object, ApiError> {
        let info = &skiff_core::object::info::POD;
        let current = self.get(info, namespace, name)?;
        let Object::Pod(pod) = &current else {
            return Err(not_found(info, name).into());
        };
        let conflict = |cause: String| -> ApiError { conflict(info, name, &cause).into() };
        if let Some(uid) = &binding.uid
            && Some(uid.as_str()) != pod.metadata.uid.as_deref()
        {
            return Err(conflict(format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                pod.metadata.uid.as_deref().unwrap_or("")
            )));
        }
        if let Some(rv) = &binding.resource_version
            && Some(rv.as_str()) != pod.metadata.resource_version.as_deref()
        {
            return Err(conflict(MODIFIED.to_owned()));
        }
        if binding.node.is_empty() {
            return Err(Status::invalid(
                "Binding",
                name,
                &[skiff_core::validate::FieldError::required(
                    "target.name",
                    "",
                )],
            )
            .into());
        }
        if pod.metadata.deletion_timestamp.is_some() {
            return Err(conflict(format!(
                "pod {name} is being deleted, cannot be assigned to a host"
            )));
        }
        if let Some(node) = pod.spec.node_name.as_deref().filter(|n| !n.is_empty()) {
            return Err(conflict(format!(
                "pod {name} is already assigned to node \"{node}\""
            )));
        }
        let mut next = pod.clone();
        next.spec.node_name = Some(binding.node.clone());
        let status = &mut next.status;
        let now = self.clock.now_time();
        status.conditions.retain(|c| c.r#type != "PodScheduled");
        status.conditions.push(skiff_core::object::PodCondition {
            r#type: "PodScheduled".to_owned(),
            status: "True".to_owned(),
            last_transition_time: Some(now),
            ..Default::default()
        });
        self.store
            .update(actor, Object::Pod(next), Some(stored_revision(&current)))
            .await
            .map_err(|e| rejected(e, info, name))
    }
}

fn stored_revision(object: &Object) -> Revision {
    object
        .metadata()
        .resource_version
        .as_deref()
        .and_then(Revision::parse)
        .expect("stored objects carry their revision")
}
