//! ReplicaSet (apps/v1) and ReplicationController (v1) controllers (seed §11: "the controller
//! makes sure the given number of pods is always running"), after upstream
//! `pkg/controller/replicaset/replica_set.go` (the replication manager upstream is the same
//! controller over ReplicationControllers converted to ReplicaSets, and so it is here).
//!
//! One reconcile of an owner (a ReplicaSet or a ReplicationController) at `now`:
//!
//! 1. **Claim** (upstream `claimPods`, [`podutil::claim`]): among the *active* pods of the
//!    owner's namespace (not `Succeeded`/`Failed`, no `deletionTimestamp`), orphans matching
//!    the selector are adopted (an `Update` adding the controller ownerReference) and owned
//!    pods that stopped matching are released (an `Update` removing it); nothing is adopted or
//!    released while the owner is being deleted.
//! 2. **Manage** (upstream `manageReplicas`), unless the owner is being deleted: with `diff =
//!    owned − replicas`, create `min(−diff, 500)` pods (`BurstReplicas`) from the template
//!    (`generateName: <owner>-`, the controller ownerReference, the owner's namespace), or
//!    delete `min(diff, 500)` pods chosen by upstream's ranking
//!    ([`podutil::pods_to_delete`]), each with its uid as precondition. Creations follow the
//!    slow-start rule through the action order: see [`podutil::slow_start_batches`].
//! 3. **Status** (upstream `calculateStatus` / `updateReplicaSetStatus`): `replicas`,
//!    `fullyLabeledReplicas` (pods carrying all the template's labels), `readyReplicas`,
//!    `availableReplicas` (ready for `minReadySeconds`), `observedGeneration`, counted over the
//!    owned pods *before* this reconcile's creates and deletes; written (`UpdateStatus` with
//!    the owner's resourceVersion) only when a count, the conditions or the generation
//!    changed. Zero counts are omitted, as upstream's `omitempty` does.
//!
//! When a ready pod still waits for `minReadySeconds`, the output asks to be requeued when
//! the first such pod becomes available (upstream requeues after `minReadySeconds` when all
//! replicas are ready but not all available; skiff requeues for the exact time left).
//!
//! # Simplifications
//!
//! - Upstream sets a `ReplicaFailure` condition when a create or delete fails; a pure
//!   reconcile does not see the outcome of its actions, so skiff never sets it, and removes an
//!   existing one once the pod count matches `replicas` (upstream removes it after a sync
//!   whose creates and deletes all succeeded).
//! - Upstream's `SuccessfulCreate`/`SuccessfulDelete` events are not emitted.
//! - `terminatingReplicas` is left unset (upstream's `DeploymentReplicaSetTerminatingReplicas`
//!   feature gate is off by default).
//! - Expectations (do not sync until the owner's own writes are observed) are the runtime's
//!   job (DESIGN.md, "Reconcile").

pub mod podutil;

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testsupport;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use skiff_core::object::{
    HasKindInfo, KindInfo, Object, ObjectMeta, Pod, PodTemplateSpec, ReplicaSet,
    ReplicationController, StatusCondition, TypedObject,
};
use skiff_core::selector::{LabelSelector, Selector};

use crate::reconcile::{Action, Controller, Output, Watched};
use crate::view::{ObjectKey, View};
use podutil::{Availability, BURST_REPLICAS};

/// The ReplicaSet controller (upstream `replicaset-controller`). Holds no state: everything it
/// needs is in the view.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplicaSetController;

/// The ReplicationController controller (upstream `replicationcontroller`, the "replication
/// manager"). Holds no state.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplicationManager;

/// What one owner looks like to the shared sync: the parts of a ReplicaSet or a
/// ReplicationController the rules read.
struct Owner<'a> {
    info: &'static KindInfo,
    meta: &'a ObjectMeta,
    replicas: i32,
    min_ready_seconds: i32,
    selector: Selector,
    template: Option<&'a PodTemplateSpec>,
}

/// Counts over the owned pods (upstream `calculateStatus`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    replicas: i32,
    fully_labeled: i32,
    ready: i32,
    available: i32,
}

/// What the shared sync decided.
struct Synced {
    actions: Vec<Action>,
    counts: Counts,
    requeue_after: Option<Duration>,
    /// The owned pod count equals `replicas` (no create or delete was needed).
    settled: bool,
}

fn count_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// `Some(n)` unless `n` is 0 (upstream's `omitempty` on the optional counts).
fn non_zero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// The compiled selector of a ReplicaSet; `None` when it is missing, empty or invalid (the API
/// server rejects all three; a controller acting on an empty selector would adopt every pod of
/// the namespace).
pub fn replica_set_selector(rs: &ReplicaSet) -> Option<Selector> {
    let selector = rs.spec.selector.as_ref()?;
    if selector.is_empty() {
        return None;
    }
    selector.to_selector().ok()
}

/// The selector a ReplicationController uses: `spec.selector`, or the template's labels when
/// it is empty (upstream `SetDefaults_ReplicationController`); `None` when both are empty or
/// invalid.
pub fn replication_controller_selector(rc: &ReplicationController) -> Option<Selector> {
    let labels = if rc.spec.selector.is_empty() {
        rc.spec.template.as_ref()?.metadata.labels.clone()
    } else {
        rc.spec.selector.clone()
    };
    if labels.is_empty() {
        return None;
    }
    LabelSelector::from_labels(labels).to_selector().ok()
}

/// The shared sync of upstream `syncReplicaSet`: claim, manage, count.
fn sync(owner: &Owner<'_>, pods: &[&Pod], related: &[&Pod], now: SystemTime) -> Synced {
    let active = pods.iter().copied().filter(|p| podutil::is_pod_active(p));
    let podutil::Claimed { owned, mut actions } =
        podutil::claim(owner.info, owner.meta, &owner.selector, active);

    let want = usize::try_from(owner.replicas.max(0)).unwrap_or(0);
    let settled = owned.len() == want;
    if owner.meta.deletion_timestamp.is_none() {
        if owned.len() < want {
            let count = (want - owned.len()).min(BURST_REPLICAS);
            if let Some(template) = owner.template {
                let pod = podutil::pod_from_template(template, owner.info, owner.meta);
                actions.extend((0..count).map(|_| Action::Create(pod.clone().into())));
            }
        } else if owned.len() > want {
            let count = (owned.len() - want).min(BURST_REPLICAS);
            let victims = podutil::pods_to_delete(&owned, related, count, now);
            actions.extend(victims.into_iter().map(podutil::delete_pod));
        }
    }

    let template_labels = owner
        .template
        .map(|t| t.metadata.labels.clone())
        .unwrap_or_default();
    let mut counts = Counts {
        replicas: count_i32(owned.len()),
        ..Counts::default()
    };
    let mut requeue_after: Option<Duration> = None;
    for pod in &owned {
        if template_labels
            .iter()
            .all(|(k, v)| pod.metadata.labels.get(k) == Some(v))
        {
            counts.fully_labeled += 1;
        }
        match podutil::availability(pod, owner.min_ready_seconds, now) {
            Availability::NotReady => {}
            Availability::ReadyFor { left } => {
                counts.ready += 1;
                requeue_after = Some(requeue_after.map_or(left, |d| d.min(left)));
            }
            Availability::Available => {
                counts.ready += 1;
                counts.available += 1;
            }
        }
    }
    Synced {
        actions,
        counts,
        requeue_after,
        settled,
    }
}

/// upstream `getIndirectlyRelatedPods`: the pods selected by every owner of the same kind that
/// shares this owner's controller (a Deployment's ReplicaSets), the owner included; none when
/// the owner has no controller. Used only to rank pods by how crowded their node is.
fn related_pods<'v>(
    pods: &[&'v Pod],
    owner: &ObjectMeta,
    siblings: impl Iterator<Item = (&'v ObjectMeta, Option<Selector>)>,
) -> Vec<&'v Pod> {
    let Some(controller) = owner.controller_ref() else {
        return Vec::new();
    };
    let mut seen = BTreeSet::new();
    let mut related = Vec::new();
    for (meta, selector) in siblings {
        if !podutil::is_controlled_by(meta, &controller.uid) {
            continue;
        }
        let Some(selector) = selector else { continue };
        for pod in pods {
            if selector.matches(&pod.metadata.labels) && seen.insert(pod.metadata.name_or_empty()) {
                related.push(*pod);
            }
        }
    }
    related
}

fn finish(
    mut actions: Vec<Action>,
    requeue_after: Option<Duration>,
    status: Option<Object>,
) -> Output {
    actions.extend(status.map(Action::UpdateStatus));
    Output {
        actions,
        requeue_after,
    }
}

/// Status conditions after a sync: `ReplicaFailure` dropped once nothing needs creating or
/// deleting.
fn conditions_after(conditions: &[StatusCondition], settled: bool) -> Vec<StatusCondition> {
    conditions
        .iter()
        .filter(|c| !(settled && c.type_ == "ReplicaFailure"))
        .cloned()
        .collect()
}

/// Reconciles the ReplicaSet at `key` (pure: view and `now` in, actions out).
pub fn reconcile_replica_set(view: &View, key: &ObjectKey, now: SystemTime) -> Output {
    let Some(rs) = view.get::<ReplicaSet>(&key.namespace, &key.name) else {
        return Output::none();
    };
    let Some(selector) = replica_set_selector(rs) else {
        return Output::none();
    };
    let pods: Vec<&Pod> = view.list_in::<Pod>(&key.namespace).collect();
    let siblings = view
        .list_in::<ReplicaSet>(&key.namespace)
        .map(|r| (&r.metadata, replica_set_selector(r)));
    let related = related_pods(&pods, &rs.metadata, siblings);
    let owner = Owner {
        info: &ReplicaSet::INFO,
        meta: &rs.metadata,
        replicas: rs.spec.replicas.unwrap_or(1),
        min_ready_seconds: rs.spec.min_ready_seconds.unwrap_or(0),
        selector,
        template: Some(&rs.spec.template),
    };
    let synced = sync(&owner, &pods, &related, now);

    let old = &rs.status;
    let generation = rs.metadata.generation.unwrap_or(0);
    let counts = synced.counts;
    let conditions = conditions_after(&old.conditions, synced.settled);
    let unchanged = old.replicas == counts.replicas
        && old.fully_labeled_replicas.unwrap_or(0) == counts.fully_labeled
        && old.ready_replicas.unwrap_or(0) == counts.ready
        && old.available_replicas.unwrap_or(0) == counts.available
        && old.observed_generation.unwrap_or(0) == generation
        && old.conditions == conditions;
    let status = (!unchanged).then(|| {
        let mut next = rs.clone();
        next.status.replicas = counts.replicas;
        next.status.fully_labeled_replicas = non_zero(counts.fully_labeled);
        next.status.ready_replicas = non_zero(counts.ready);
        next.status.available_replicas = non_zero(counts.available);
        next.status.terminating_replicas = None;
        next.status.observed_generation = (generation != 0).then_some(generation);
        next.status.conditions = conditions;
        next.into()
    });
    finish(synced.actions, synced.requeue_after, status)
}

/// Reconciles the ReplicationController at `key` (pure: view and `now` in, actions out).
pub fn reconcile_replication_controller(view: &View, key: &ObjectKey, now: SystemTime) -> Output {
    let Some(rc) = view.get::<ReplicationController>(&key.namespace, &key.name) else {
        return Output::none();
    };
    let Some(selector) = replication_controller_selector(rc) else {
        return Output::none();
    };
    let pods: Vec<&Pod> = view.list_in::<Pod>(&key.namespace).collect();
    let siblings = view
        .list_in::<ReplicationController>(&key.namespace)
        .map(|r| (&r.metadata, replication_controller_selector(r)));
    let related = related_pods(&pods, &rc.metadata, siblings);
    let owner = Owner {
        info: &ReplicationController::INFO,
        meta: &rc.metadata,
        replicas: rc.spec.replicas.unwrap_or(1),
        min_ready_seconds: rc.spec.min_ready_seconds.unwrap_or(0),
        selector,
        template: rc.spec.template.as_ref(),
    };
    let synced = sync(&owner, &pods, &related, now);

    let old = &rc.status;
    let generation = rc.metadata.generation.unwrap_or(0);
    let counts = synced.counts;
    let conditions = conditions_after(&old.conditions, synced.settled);
    let unchanged = old.replicas == counts.replicas
        && old.fully_labeled_replicas.unwrap_or(0) == counts.fully_labeled
        && old.ready_replicas.unwrap_or(0) == counts.ready
        && old.available_replicas.unwrap_or(0) == counts.available
        && old.observed_generation.unwrap_or(0) == generation
        && old.conditions == conditions;
    let status = (!unchanged).then(|| {
        let mut next = rc.clone();
        next.status.replicas = counts.replicas;
        next.status.fully_labeled_replicas = non_zero(counts.fully_labeled);
        next.status.ready_replicas = non_zero(counts.ready);
        next.status.available_replicas = non_zero(counts.available);
        next.status.observed_generation = (generation != 0).then_some(generation);
        next.status.conditions = conditions;
        next.into()
    });
    finish(synced.actions, synced.requeue_after, status)
}

/// upstream `getPodReplicaSets` / `resolveControllerRef`: the owners of kind `T` a pod change
/// concerns. A pod with a controller reference concerns that controller when it is a `T` in
/// the view with the same uid; an orphan concerns every `T` of its namespace whose (non-empty,
/// valid) selector matches its labels.
fn owner_keys<T: TypedObject>(
    view: &View,
    pod: &Pod,
    selector_of: impl Fn(&T) -> Option<Selector>,
) -> Vec<ObjectKey> {
    let namespace = pod.metadata.namespace_or_empty();
    if let Some(r) = pod.metadata.controller_ref() {
        if r.kind != T::INFO.kind {
            return Vec::new();
        }
        return match view.get::<T>(namespace, &r.name) {
            Some(owner) if owner.metadata().uid.as_deref() == Some(r.uid.as_str()) => {
                vec![ObjectKey::new(namespace, r.name.clone())]
            }
            _ => Vec::new(),
        };
    }
    view.list_in::<T>(namespace)
        .filter(|owner| selector_of(owner).is_some_and(|s| s.matches(&pod.metadata.labels)))
        .map(|owner| ObjectKey::new(namespace, owner.metadata().name_or_empty()))
        .collect()
}

fn keys_of<T: TypedObject>(view: &View) -> Vec<ObjectKey> {
    view.list::<T>()
        .map(|o| {
            let meta = o.metadata();
            ObjectKey::new(meta.namespace_or_empty(), meta.name_or_empty())
        })
        .collect()
}

impl Controller for ReplicaSetController {
    fn name(&self) -> &'static str {
        "replicaset-controller"
    }

    fn watches(&self) -> Vec<Watched> {
        vec![Watched::all(&Pod::INFO), Watched::all(&ReplicaSet::INFO)]
    }

    fn keys_for(&self, view: &View, object: &Object) -> Vec<ObjectKey> {
        match object {
            Object::ReplicaSet(_) => vec![ObjectKey::of(object)],
            Object::Pod(pod) => owner_keys::<ReplicaSet>(view, pod, replica_set_selector),
            _ => Vec::new(),
        }
    }

    fn resync_keys(&self, view: &View) -> Vec<ObjectKey> {
        keys_of::<ReplicaSet>(view)
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, now: SystemTime) -> Output {
        reconcile_replica_set(view, key, now)
    }
}

impl Controller for ReplicationManager {
    fn name(&self) -> &'static str {
        "replicationcontroller"
    }

    fn watches(&self) -> Vec<Watched> {
        vec![
            Watched::all(&Pod::INFO),
            Watched::all(&ReplicationController::INFO),
        ]
    }

    fn keys_for(&self, view: &View, object: &Object) -> Vec<ObjectKey> {
        match object {
            Object::ReplicationController(_) => vec![ObjectKey::of(object)],
            Object::Pod(pod) => {
                owner_keys::<ReplicationController>(view, pod, replication_controller_selector)
            }
            _ => Vec::new(),
        }
    }

    fn resync_keys(&self, view: &View) -> Vec<ObjectKey> {
        keys_of::<ReplicationController>(view)
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, now: SystemTime) -> Output {
        reconcile_replication_controller(view, key, now)
    }
}
