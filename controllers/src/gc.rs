//! Garbage collector (upstream `pkg/controller/garbagecollector`: ownerReferences with
//! background, foreground and orphan propagation, `blockOwnerDeletion`) and pod GC (upstream
//! `pkg/controller/podgc`).
//!
//! # Garbage collector
//!
//! Its keys name one object of any kind ([`gc_key`]: the namespace, and `<Kind>/<name>`).
//! [`collect`] is the pure function behind a key:
//!
//! - **Dependents** (objects with `ownerReferences`; upstream `attemptToDeleteItem`). Each owner
//!   is looked up in the view by kind, namespace (the dependent's, or none for a
//!   cluster-scoped owner kind) and name, and must carry the referenced uid. An owner is
//!   *solid* if present and not being deleted in the foreground, *waiting* if present with
//!   `deletionTimestamp` and the `foregroundDeletion` finalizer, *dangling* if absent (or
//!   present under another uid). Owner kinds skiff does not serve are taken as solid: they
//!   cannot be checked, and the collector never deletes on a guess.
//!   - With a solid owner, references to dangling and waiting owners are removed (Update).
//!   - With no solid owner, the dependent is deleted (uid and resourceVersion
//!     preconditions): in the **foreground** if an owner is waiting and the dependent has
//!     dependents of its own (so the deletion propagates down), else with the propagation its
//!     own finalizers ask for (`orphan`, `foregroundDeletion`), else **background**.
//!   - Objects already being deleted (without `foregroundDeletion`) are left alone.
//! - **Owners deleted in the foreground** (`deletionTimestamp` and the `foregroundDeletion`
//!   finalizer; upstream `processDeletingDependentsItem`): their dependents delete themselves
//!   by the rule above; the owner's finalizer is removed (Update) once no dependent with
//!   `blockOwnerDeletion: true` remains in the view — a pod being deleted gracefully still
//!   blocks until it is gone. The API server then removes the owner.
//! - **Owners deleted with orphan propagation** (the `orphan` finalizer; upstream
//!   `attemptToOrphan`): every dependent loses its references to the owner (Update); once the
//!   view shows none left, the finalizer is removed.
//!
//! skiff's API server adds those finalizers in its delete path
//! (`store/src/apiserver/mod.rs`: `propagationPolicy` Foreground/Orphan become
//! `foregroundDeletion`/`orphan`; an orphan delete of an object without dependents removes it
//! at once) and removes an object whose last finalizer an update took away.
//!
//! **A synced view is assumed**: an owner missing from a view still loading is not gone. The
//! runtime lists every watched kind before the first reconcile (and must not reconcile
//! between clearing a kind and refilling it on a relist). Because watches of different kinds
//! may deliver a little out of step (an owner's creation could arrive after its dependent's),
//! a decision that rests on a dangling owner is only taken once the owner has been seen
//! missing for [`GcConfig::dangling_confirmation`] (1 s by default; upstream instead checks
//! with a live read, which a pure reconcile cannot do).
//!
//! The collector watches every kind skiff serves except Events ([`gc_kinds`]): any of them
//! can own or depend (a node's Lease is owned by its Node; pods by ReplicaSets, DaemonSets,
//! ReplicationControllers; ReplicaSets by Deployments; users may hang ConfigMaps, Secrets,
//! Services off anything). Events are left out: they are many, short-lived, and never owned.
//!
//! # Pod GC
//!
//! [`gc_pods`], one pass over all pods every 20 s (upstream `gcCheckPeriod`), in upstream's
//! order:
//!
//! 1. **Terminated pods** (`Succeeded`/`Failed`, not already being deleted) beyond
//!    [`PodGcConfig::terminated_pod_threshold`] (upstream `--terminated-pod-gc-threshold`,
//!    12500; 0 disables) are force-deleted (grace 0), evicted ones first, then oldest first,
//!    ties by namespace and name.
//! 2. **Terminating pods on out-of-service nodes** (taint `node.kubernetes.io/out-of-service`,
//!    node not Ready): marked Failed and force-deleted.
//! 3. **Orphaned pods**, bound to a node that does not exist: once the node has been missing
//!    for the 40 s quarantine (upstream `quarantineTime`), marked `Failed` with a
//!    `DisruptionTarget` condition (reason `DeletionByPodGC`, "PodGC: node no longer exists")
//!    and force-deleted.
//! 4. **Unscheduled terminating pods** (no node, `deletionTimestamp` set): marked Failed and
//!    force-deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use skiff_core::client::{DeleteOptions, Propagation};
use skiff_core::clock::unix_micros;
use skiff_core::object::{
    HasKindInfo, KindInfo, KindLookup, KindRegistry, Node, Object, OwnerReference, Pod,
    PodCondition, info,
};

use crate::nodelifecycle::CONDITION_DISRUPTION_TARGET;
use crate::reconcile::{Action, Controller, Output, Watched, time_of};
use crate::view::{ObjectKey, View};

#[cfg(test)]
mod tests;

/// Finalizer of an object whose dependents are deleted first (upstream
/// `FinalizerDeleteDependents`).
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";
/// Finalizer of an object whose dependents are orphaned (upstream `FinalizerOrphanDependents`).
pub const FINALIZER_ORPHAN: &str = "orphan";
/// The taint that lets pod GC force-delete terminating pods of a node known to be down
/// (upstream `TaintNodeOutOfService`).
pub const TAINT_OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

/// The kinds the garbage collector watches: every served kind but Event.
pub fn gc_kinds() -> Vec<&'static KindInfo> {
    gc_kinds_in(&KindRegistry::builtin())
}

/// The kinds the garbage collector watches when `kinds` are served: every kind but Event,
/// custom kinds included (a custom object can own pods, and be owned).
pub fn gc_kinds_in(kinds: &KindRegistry) -> Vec<&'static KindInfo> {
    kinds.kinds().filter(|k| k.kind != "Event").collect()
}

/// The key of one object for the garbage collector: `(namespace, "<Kind>/<name>")` (names
/// never contain `/`).
pub fn gc_key(kind: &KindInfo, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new(namespace, format!("{}/{name}", kind.kind))
}

/// The key of `object` for the garbage collector.
pub fn gc_key_of(object: &Object) -> ObjectKey {
    let meta = object.metadata();
    gc_key(
        object.info(),
        meta.namespace_or_empty(),
        meta.name_or_empty(),
    )
}

/// The kind, namespace and name of a [`gc_key`].
pub fn parse_gc_key(key: &ObjectKey) -> Option<(&'static KindInfo, &str, &str)> {
    parse_gc_key_in(&KindRegistry::builtin(), key)
}

/// The kind, namespace and name of a [`gc_key`], custom kinds of `kinds` included.
pub fn parse_gc_key_in<'k>(
    kinds: &KindRegistry,
    key: &'k ObjectKey,
) -> Option<(&'static KindInfo, &'k str, &'k str)> {
    let (kind, name) = key.name.split_once('/')?;
    let info = kinds.kinds().find(|k| k.kind == kind)?;
    Some((info, key.namespace.as_str(), name))
}

/// Settings of the garbage collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcConfig {
    /// How long an owner must be seen missing before the collector acts on it.
    pub dangling_confirmation: Duration,
    /// The kinds served: owners and dependents of the custom kinds here are collected too.
    pub kinds: KindRegistry,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self {
            dangling_confirmation: Duration::from_secs(1),
            kinds: KindRegistry::builtin(),
        }
    }
}

/// What the garbage collector remembers: since when (µs, own clock) each dependent has had a
/// dangling owner.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GcState {
    /// By dependent key.
    pub dangling_since: BTreeMap<ObjectKey, i64>,
}

/// How an owner reference resolves in the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnerState {
    Solid,
    Waiting,
    Dangling,
}

fn has_finalizer(object: &Object, finalizer: &str) -> bool {
    object.metadata().finalizers.iter().any(|f| f == finalizer)
}

/// The owner object a reference names, if the view holds it with that uid; `Err` when the
/// kind cannot be checked.
fn owner_of<'a>(
    kinds: &KindRegistry,
    view: &'a View,
    dependent_namespace: &str,
    reference: &OwnerReference,
) -> Result<Option<&'a Object>, ()> {
    let info = match kinds.lookup(&reference.api_version, &reference.kind) {
        KindLookup::Served(info) if info.kind != "Event" => info,
        _ => return Err(()),
    };
    if info.namespaced && dependent_namespace.is_empty() {
        // A cluster-scoped object cannot be owned by a namespaced one: unresolvable, absent.
        return Ok(None);
    }
    let namespace = if info.namespaced {
        dependent_namespace
    } else {
        ""
    };
    Ok(view
        .get_object(info.kind, &ObjectKey::new(namespace, &reference.name))
        .filter(|o| o.metadata().uid.as_deref() == Some(reference.uid.as_str())))
}

fn owner_state(
    kinds: &KindRegistry,
    view: &View,
    dependent_namespace: &str,
    reference: &OwnerReference,
) -> OwnerState {
    match owner_of(kinds, view, dependent_namespace, reference) {
        Ok(None) => OwnerState::Dangling,
        Ok(Some(owner))
            if owner.metadata().deletion_timestamp.is_some()
                && has_finalizer(owner, FINALIZER_FOREGROUND) =>
        {
            OwnerState::Waiting
        }
        // Present, or of a kind that cannot be checked.
        Ok(Some(_)) | Err(()) => OwnerState::Solid,
    }
}

fn delete_action(object: &Object, propagation: Propagation) -> Action {
    let meta = object.metadata();
    Action::Delete {
        resource: object.info(),
        namespace: meta.namespace_or_empty().to_owned(),
        name: meta.name_or_empty().to_owned(),
        options: DeleteOptions {
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            propagation,
            grace_period_seconds: None,
        },
    }
}

fn without_finalizer(object: &Object, finalizer: &str) -> Action {
    let mut updated = object.clone();
    updated.metadata_mut().finalizers.retain(|f| f != finalizer);
    Action::Update(updated)
}

/// The garbage collector's decision for the object at `key` (see the module documentation).
pub fn collect(
    view: &View,
    key: &ObjectKey,
    state: &mut GcState,
    config: &GcConfig,
    now: SystemTime,
) -> Output {
    let Some((info, namespace, name)) = parse_gc_key_in(&config.kinds, key) else {
        return Output::none();
    };
    let Some(object) = view.get_object(info.kind, &ObjectKey::new(namespace, name)) else {
        state.dangling_since.remove(key);
        return Output::none();
    };
    let meta = object.metadata();
    if meta.deletion_timestamp.is_some() {
        state.dangling_since.remove(key);
        if has_finalizer(object, FINALIZER_FOREGROUND) {
            return foreground_owner(view, object);
        }
        if has_finalizer(object, FINALIZER_ORPHAN) {
            return orphaning_owner(view, object);
        }
        return Output::none();
    }
    let states: Vec<(&OwnerReference, OwnerState)> = meta
        .owner_references
        .iter()
        .map(|r| (r, owner_state(&config.kinds, view, namespace, r)))
        .collect();
    let any = |s: OwnerState| states.iter().any(|(_, st)| *st == s);
    if !any(OwnerState::Dangling) {
        state.dangling_since.remove(key);
    } else if !confirmed_dangling(state, key, config, now) {
        let since = state.dangling_since.get(key).copied().unwrap_or(0);
        let wait = since
            .saturating_add(micros(config.dangling_confirmation))
            .saturating_sub(unix_micros(now));
        return Output {
            actions: Vec::new(),
            requeue_after: Some(Duration::from_micros(u64::try_from(wait).unwrap_or(0))),
        };
    }
    if states.is_empty() || (!any(OwnerState::Dangling) && !any(OwnerState::Waiting)) {
        return Output::none();
    }
    let action = if any(OwnerState::Solid) {
        // Keep the object; drop the references to owners that are gone or going.
        let mut updated = object.clone();
        updated.metadata_mut().owner_references = states
            .iter()
            .filter(|(_, s)| *s == OwnerState::Solid)
            .map(|(r, _)| (*r).clone())
            .collect();
        Action::Update(updated)
    } else {
        let has_dependents = meta
            .uid
            .as_deref()
            .is_some_and(|uid| view.owned_by(uid).next().is_some());
        let propagation = if any(OwnerState::Waiting) && has_dependents {
            Propagation::Foreground
        } else if has_finalizer(object, FINALIZER_ORPHAN) {
            Propagation::Orphan
        } else if has_finalizer(object, FINALIZER_FOREGROUND) {
            Propagation::Foreground
        } else {
            Propagation::Background
        };
        delete_action(object, propagation)
    };
    state.dangling_since.remove(key);
    Output {
        actions: vec![action],
        requeue_after: None,
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Records when a dependent was first seen with a dangling owner; true once that is at least
/// the confirmation period ago.
fn confirmed_dangling(
    state: &mut GcState,
    key: &ObjectKey,
    config: &GcConfig,
    now: SystemTime,
) -> bool {
    let now_us = unix_micros(now);
    let since = *state.dangling_since.entry(key.clone()).or_insert(now_us);
    now_us >= since.saturating_add(micros(config.dangling_confirmation))
}

/// An owner deleted in the foreground: done once no blocking dependent remains.
fn foreground_owner(view: &View, owner: &Object) -> Output {
    let uid = owner.metadata().uid.as_deref().unwrap_or("");
    let blocked = view.owned_by(uid).any(|d| {
        d.metadata()
            .owner_references
            .iter()
            .any(|r| r.uid == uid && r.block_owner_deletion == Some(true))
    });
    if blocked {
        return Output::none();
    }
    Output {
        actions: vec![without_finalizer(owner, FINALIZER_FOREGROUND)],
        requeue_after: None,
    }
}

/// An owner deleted with orphan propagation: its dependents lose their references to it,
/// then it loses its finalizer. Dependents being deleted themselves are not updated (they are
/// going; and skiff's API server removes a terminating object that an update leaves without
/// finalizers).
fn orphaning_owner(view: &View, owner: &Object) -> Output {
    let uid = owner.metadata().uid.as_deref().unwrap_or("");
    let actions: Vec<Action> = view
        .owned_by(uid)
        .filter(|d| d.metadata().deletion_timestamp.is_none())
        .map(|d| {
            let mut updated = d.clone();
            updated
                .metadata_mut()
                .owner_references
                .retain(|r| r.uid != uid);
            Action::Update(updated)
        })
        .collect();
    if actions.is_empty() {
        return Output {
            actions: vec![without_finalizer(owner, FINALIZER_ORPHAN)],
            requeue_after: None,
        };
    }
    Output {
        actions,
        requeue_after: None,
    }
}

/// The garbage collector as the runtime runs it.
#[derive(Debug, Clone, Default)]
pub struct GarbageCollector {
    /// Settings.
    pub config: GcConfig,
    /// Dangling-owner observations.
    pub state: GcState,
}

impl Controller for GarbageCollector {
    fn name(&self) -> &'static str {
        "garbage-collector-controller"
    }

    fn watches(&self) -> Vec<Watched> {
        gc_kinds_in(&self.config.kinds)
            .into_iter()
            .map(Watched::all)
            .collect()
    }

    /// The object itself, its dependents (they may have lost an owner or have one waiting
    /// for them) and its owners (a foreground or orphaning owner waits on its dependents).
    fn keys_for(&self, view: &View, object: &Object) -> Vec<ObjectKey> {
        let meta = object.metadata();
        let mut keys = BTreeSet::from([gc_key_of(object)]);
        if let Some(uid) = meta.uid.as_deref() {
            keys.extend(view.owned_by(uid).map(gc_key_of));
        }
        for reference in &meta.owner_references {
            if let KindLookup::Served(info) = self
                .config
                .kinds
                .lookup(&reference.api_version, &reference.kind)
            {
                let namespace = if info.namespaced {
                    meta.namespace_or_empty()
                } else {
                    ""
                };
                keys.insert(gc_key(info, namespace, &reference.name));
            }
        }
        keys.into_iter().collect()
    }

    /// Every object with owner references, and every object being deleted with a GC
    /// finalizer.
    fn resync_keys(&self, view: &View) -> Vec<ObjectKey> {
        gc_kinds_in(&self.config.kinds)
            .into_iter()
            .flat_map(|k| view.objects(k.kind))
            .filter(|o| {
                let meta = o.metadata();
                !meta.owner_references.is_empty()
                    || (meta.deletion_timestamp.is_some()
                        && (has_finalizer(o, FINALIZER_FOREGROUND)
                            || has_finalizer(o, FINALIZER_ORPHAN)))
            })
            .map(gc_key_of)
            .collect()
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, now: SystemTime) -> Output {
        collect(view, key, &mut self.state, &self.config, now)
    }
}

// ---------------------------------------------------------------------------------------------
// Pod GC
// ---------------------------------------------------------------------------------------------

/// Settings of pod GC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodGcConfig {
    /// `--terminated-pod-gc-threshold`: terminated pods kept (12500); 0 disables that rule.
    pub terminated_pod_threshold: usize,
    /// How often a pass runs (upstream `gcCheckPeriod`, 20 s).
    pub check_period: Duration,
    /// How long a node must be missing before its pods are deleted (upstream
    /// `quarantineTime`, 40 s).
    pub quarantine: Duration,
}

impl Default for PodGcConfig {
    fn default() -> Self {
        Self {
            terminated_pod_threshold: 12_500,
            check_period: Duration::from_secs(20),
            quarantine: Duration::from_secs(40),
        }
    }
}

/// What pod GC remembers: since when (µs, own clock) each missing node has been missing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodGcState {
    /// By node name.
    pub missing_nodes: BTreeMap<String, i64>,
}

/// The one key of pod GC.
pub fn pod_gc_key() -> ObjectKey {
    ObjectKey::default()
}

fn is_terminated(pod: &Pod) -> bool {
    matches!(pod.status.phase.as_deref(), Some("Succeeded" | "Failed"))
}

fn force_delete(pod: &Pod) -> Action {
    Action::Delete {
        resource: &info::POD,
        namespace: pod.metadata.namespace_or_empty().to_owned(),
        name: pod.metadata.name_or_empty().to_owned(),
        options: DeleteOptions {
            grace_period_seconds: Some(0),
            uid: pod.metadata.uid.clone(),
            ..DeleteOptions::default()
        },
    }
}

/// upstream `markFailedAndDeletePodWithCondition`: phase Failed (unless terminal already),
/// the condition if any, then a force delete.
fn mark_failed_and_delete(
    pod: &Pod,
    condition: Option<PodCondition>,
    now: SystemTime,
    out: &mut Output,
) {
    let mut updated = pod.clone();
    if !is_terminated(pod) {
        updated.status.phase = Some("Failed".to_owned());
    }
    if let Some(mut condition) = condition {
        condition.last_transition_time = Some(time_of(now));
        updated
            .status
            .conditions
            .retain(|c| c.r#type != condition.r#type);
        updated.status.conditions.push(condition);
    }
    if updated != *pod {
        out.actions.push(Action::UpdateStatus(updated.into()));
    }
    out.actions.push(force_delete(pod));
}

fn node_ready(node: &Node) -> bool {
    node.condition("Ready").is_some_and(|c| c.status == "True")
}

/// One pod GC pass (see the module documentation).
pub fn gc_pods(
    view: &View,
    state: &mut PodGcState,
    config: &PodGcConfig,
    now: SystemTime,
) -> Output {
    let now_us = unix_micros(now);
    let mut out = Output::none();
    let mut handled: BTreeSet<(String, String)> = BTreeSet::new();
    let id = |p: &Pod| {
        (
            p.metadata.namespace_or_empty().to_owned(),
            p.metadata.name_or_empty().to_owned(),
        )
    };
    // 1. Terminated pods over the threshold.
    if config.terminated_pod_threshold > 0 {
        let mut terminated: Vec<&Pod> = view
            .list::<Pod>()
            .filter(|p| is_terminated(p) && p.metadata.deletion_timestamp.is_none())
            .collect();
        if terminated.len() > config.terminated_pod_threshold {
            terminated.sort_by_key(|p| {
                let evicted = p.status.phase.as_deref() == Some("Failed")
                    && p.status.reason.as_deref() == Some("Evicted");
                (!evicted, p.metadata.creation_timestamp, id(p))
            });
            let excess = terminated.len() - config.terminated_pod_threshold;
            for pod in terminated.into_iter().take(excess) {
                handled.insert(id(pod));
                out.actions.push(force_delete(pod));
            }
        }
    }
    // 2. Terminating pods on out-of-service nodes.
    for node in view.list::<Node>() {
        let out_of_service = node
            .spec
            .taints
            .iter()
            .any(|t| t.key == TAINT_OUT_OF_SERVICE);
        if !out_of_service || node_ready(node) {
            continue;
        }
        for pod in view.pods_on_node(node.metadata.name_or_empty()) {
            if pod.metadata.deletion_timestamp.is_some() && handled.insert(id(pod)) {
                mark_failed_and_delete(pod, None, now, &mut out);
            }
        }
    }
    // 3. Pods on nodes that do not exist, after the quarantine.
    let missing: Vec<String> = view
        .nodes_with_pods()
        .filter(|n| view.get::<Node>("", n).is_none())
        .map(str::to_owned)
        .collect();
    state.missing_nodes.retain(|n, _| missing.contains(n));
    let quarantine = micros(config.quarantine);
    for node in missing {
        let since = *state.missing_nodes.entry(node.clone()).or_insert(now_us);
        let due = since.saturating_add(quarantine);
        if now_us < due {
            out.requeue_at_most(Duration::from_micros(
                u64::try_from(due - now_us).unwrap_or(0),
            ));
            continue;
        }
        for pod in view.pods_on_node(&node) {
            if handled.insert(id(pod)) {
                let condition = PodCondition {
                    r#type: CONDITION_DISRUPTION_TARGET.to_owned(),
                    status: "True".to_owned(),
                    reason: Some("DeletionByPodGC".to_owned()),
                    message: Some("PodGC: node no longer exists".to_owned()),
                    ..PodCondition::default()
                };
                mark_failed_and_delete(pod, Some(condition), now, &mut out);
            }
        }
    }
    // 4. Unscheduled pods being deleted.
    for pod in view.list::<Pod>() {
        let unscheduled = pod.spec.node_name.as_deref().is_none_or(str::is_empty);
        if unscheduled && pod.metadata.deletion_timestamp.is_some() && handled.insert(id(pod)) {
            mark_failed_and_delete(pod, None, now, &mut out);
        }
    }
    out.requeue_at_most(config.check_period);
    out
}

/// Pod GC as the runtime runs it: one key, [`pod_gc_key`], a pass every 20 s.
#[derive(Debug, Clone, Default)]
pub struct PodGcController {
    /// Settings.
    pub config: PodGcConfig,
    /// Missing-node observations.
    pub state: PodGcState,
}

impl Controller for PodGcController {
    fn name(&self) -> &'static str {
        "pod-garbage-collector"
    }

    fn watches(&self) -> Vec<Watched> {
        vec![Watched::all(&Pod::INFO), Watched::all(&Node::INFO)]
    }

    /// A node change (a deletion above all) starts a pass; pods are looked at periodically,
    /// as upstream.
    fn keys_for(&self, _view: &View, object: &Object) -> Vec<ObjectKey> {
        match object {
            Object::Node(_) => vec![pod_gc_key()],
            _ => Vec::new(),
        }
    }

    fn resync_keys(&self, _view: &View) -> Vec<ObjectKey> {
        vec![pod_gc_key()]
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, now: SystemTime) -> Output {
        if *key != pod_gc_key() {
            return Output::none();
        }
        gc_pods(view, &mut self.state, &self.config, now)
    }
}
