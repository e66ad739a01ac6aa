//! What the workload controllers share about pods and ownership (upstream
//! `pkg/controller/controller_utils.go`, `controller_ref_manager.go` and `pkg/api/v1/pod`):
//! which pods count, readiness and availability, the controller ownerReference, pods made from
//! a template, adoption and release, slow-start batches and the scale-down ranking.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use skiff_core::clock::unix_micros;
use skiff_core::object::{
    HasKindInfo, KindInfo, ObjectMeta, OwnerReference, Pod, PodCondition, PodTemplateSpec,
    TypedObject,
};
use skiff_core::selector::Selector;

use crate::reconcile::Action;

/// upstream `BurstReplicas`: at most this many pod creations or deletions per sync.
pub const BURST_REPLICAS: usize = 500;

/// upstream `SlowStartInitialBatchSize`: the first creation batch of a sync has one pod.
pub const SLOW_START_INITIAL_BATCH_SIZE: usize = 1;

/// The annotation whose integer value makes a pod cheaper (lower) or dearer (higher) to delete
/// on scale-down (upstream `PodDeletionCost`).
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The batch sizes upstream's `slowStartBatch` uses to create `count` pods: 1, 2, 4, … doubling,
/// the last batch holding what is left (100 pods: 1, 2, 4, 8, 16, 32, 37).
///
/// # How the batches map onto an action list
///
/// A reconcile returns the creates as one ordered list, and the runtime sends them in order
/// and stops at the first failure. That is `slowStartBatch` with every call of a batch made
/// one after the other: a failure skips everything after it, as a failed batch skips the
/// remaining batches upstream. A runtime that wants upstream's parallelism may send each
/// batch of this list concurrently; the order and the stop-at-failure rule stay the same.
pub fn slow_start_batches(count: usize) -> Vec<usize> {
    let mut batches = Vec::new();
    let mut remaining = count;
    let mut size = SLOW_START_INITIAL_BATCH_SIZE.min(remaining);
    while size > 0 {
        batches.push(size);
        remaining -= size;
        size = (2 * size).min(remaining);
    }
    batches
}

/// upstream `IsPodActive`: not `Succeeded`, not `Failed`, not being deleted.
pub fn is_pod_active(pod: &Pod) -> bool {
    let phase = pod.status.phase.as_deref();
    phase != Some("Succeeded")
        && phase != Some("Failed")
        && pod.metadata.deletion_timestamp.is_none()
}

/// The pod's `Ready` condition, if it has one.
pub fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status.conditions.iter().find(|c| c.r#type == "Ready")
}

/// upstream `podutil.IsPodReady`: the `Ready` condition is `True`.
pub fn is_pod_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// Whether a pod counts as available (upstream `podutil.IsPodAvailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Not ready.
    NotReady,
    /// Ready, but not yet for `minReadySeconds`; available after `left` more.
    ReadyFor {
        /// Time until the pod becomes available.
        left: Duration,
    },
    /// Ready for at least `minReadySeconds`.
    Available,
}

/// upstream `IsPodAvailable`: ready, and either `minReadySeconds` is 0 or the `Ready`
/// condition's `lastTransitionTime + minReadySeconds` is strictly before `now`. A ready pod
/// without a transition time never becomes available while `minReadySeconds > 0`, as upstream;
/// its `left` is then `minReadySeconds`.
///
/// `left` is the time until the first instant strictly after the deadline (one millisecond
/// past it), so a requeue after `left` finds the pod available.
pub fn availability(pod: &Pod, min_ready_seconds: i32, now: SystemTime) -> Availability {
    if !is_pod_ready(pod) {
        return Availability::NotReady;
    }
    if min_ready_seconds <= 0 {
        return Availability::Available;
    }
    let min_ready = i64::from(min_ready_seconds) * 1_000_000;
    let Some(since) = ready_condition(pod).and_then(|c| c.last_transition_time) else {
        return Availability::ReadyFor {
            left: Duration::from_secs(u64::from(min_ready_seconds.unsigned_abs())),
        };
    };
    let deadline = since
        .unix_seconds
        .saturating_mul(1_000_000)
        .saturating_add(min_ready);
    let now = unix_micros(now);
    if deadline < now {
        Availability::Available
    } else {
        let left = u64::try_from(deadline - now).unwrap_or(0) + 1_000;
        Availability::ReadyFor {
            left: Duration::from_micros(left),
        }
    }
}

/// upstream `metav1.NewControllerRef`: `controller: true`, `blockOwnerDeletion: true`.
pub fn controller_ref(info: &KindInfo, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: info.api_version.to_owned(),
        kind: info.kind.to_owned(),
        name: owner.name_or_empty().to_owned(),
        uid: owner.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// True when `meta`'s controller reference names the owner with `uid`.
pub fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.controller_ref().is_some_and(|r| r.uid == uid)
}

/// upstream `GetPodFromTemplate`: a pod to create for `owner`, named by the server from
/// `generateName: <owner>-`, with the template's labels, annotations, finalizers and spec, the
/// owner's namespace and the controller reference.
pub fn pod_from_template(template: &PodTemplateSpec, info: &KindInfo, owner: &ObjectMeta) -> Pod {
    let mut pod = Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", owner.name_or_empty())),
            namespace: owner.namespace.clone(),
            labels: template.metadata.labels.clone(),
            annotations: template.metadata.annotations.clone(),
            finalizers: template.metadata.finalizers.clone(),
            owner_references: vec![controller_ref(info, owner)],
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        ..Pod::default()
    };
    pod.metadata.namespace.get_or_insert_with(String::new);
    pod
}

/// What claiming found: the objects the owner controls (kept and adopted), and the writes.
#[derive(Debug)]
pub struct Claimed<'a, T> {
    /// Objects controlled by the owner after the claim (matching and owned, plus adopted).
    pub owned: Vec<&'a T>,
    /// `Update`s adding (adoption) or removing (release) the controller reference, in the
    /// order of the candidates.
    pub actions: Vec<Action>,
}

/// upstream `ClaimObject` (`BaseControllerRefManager`) over `candidates` of one namespace:
///
/// - controlled by another owner: ignored;
/// - controlled by this owner and matching: kept;
/// - controlled by this owner and not matching: released (its reference with the owner's uid
///   removed), unless the owner is being deleted;
/// - orphan, matching, not being deleted, and the owner not being deleted: adopted (the
///   controller reference added, replacing a non-controller reference with the same uid).
///
/// Each write is an `Update` carrying the object's resourceVersion as precondition (upstream
/// patches with a uid precondition).
pub fn claim<'a, T>(
    info: &KindInfo,
    owner: &ObjectMeta,
    selector: &Selector,
    candidates: impl IntoIterator<Item = &'a T>,
) -> Claimed<'a, T>
where
    T: TypedObject + Clone + 'a,
{
    let uid = owner.uid.as_deref().unwrap_or("");
    let owner_deleting = owner.deletion_timestamp.is_some();
    let mut claimed = Claimed {
        owned: Vec::new(),
        actions: Vec::new(),
    };
    for object in candidates {
        let meta = object.metadata();
        let matches = selector.matches(&meta.labels);
        match meta.controller_ref() {
            Some(r) if r.uid != uid => {}
            Some(_) if matches => claimed.owned.push(object),
            Some(_) => {
                if !owner_deleting {
                    let mut released = object.clone();
                    released
                        .metadata_mut()
                        .owner_references
                        .retain(|r| r.uid != uid);
                    claimed.actions.push(Action::Update(released.into()));
                }
            }
            None => {
                if owner_deleting || !matches || meta.deletion_timestamp.is_some() {
                    continue;
                }
                let mut adopted = object.clone();
                let refs = &mut adopted.metadata_mut().owner_references;
                let reference = controller_ref(info, owner);
                if let Some(existing) = refs.iter_mut().find(|r| r.uid == uid) {
                    *existing = reference;
                } else {
                    refs.push(reference);
                }
                claimed.actions.push(Action::Update(adopted.into()));
                claimed.owned.push(object);
            }
        }
    }
    claimed
}

/// A pod `Delete` with the pod's uid as precondition (a pod deleted and recreated under the
/// same name is another pod).
pub fn delete_pod(pod: &Pod) -> Action {
    Action::Delete {
        resource: &Pod::INFO,
        namespace: pod.metadata.namespace_or_empty().to_owned(),
        name: pod.metadata.name_or_empty().to_owned(),
        options: skiff_core::client::DeleteOptions {
            uid: pod.metadata.uid.clone(),
            ..skiff_core::client::DeleteOptions::default()
        },
    }
}

/// upstream `podPhaseToOrdinal`: Pending 0, Unknown 1, Running 2; any other phase 0.
fn phase_ordinal(pod: &Pod) -> u8 {
    match pod.status.phase.as_deref() {
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    }
}

/// upstream `GetDeletionCostFromPodAnnotations`: the annotation as an `int32`, 0 when absent
/// or invalid.
pub fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .get(POD_DELETION_COST)
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0)
}

/// upstream `maxContainerRestarts`: the highest restart count of the regular containers, and of
/// the sidecars (init containers with `restartPolicy: Always`).
fn max_restarts(pod: &Pod) -> (i32, i32) {
    let regular = pod
        .status
        .container_statuses
        .iter()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
        .max(0);
    let sidecar = pod
        .status
        .init_container_statuses
        .iter()
        .filter(|s| {
            pod.spec
                .init_containers
                .iter()
                .any(|c| c.name == s.name && c.restart_policy.as_deref() == Some("Always"))
        })
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
        .max(0);
    (regular, sidecar)
}

/// `floor(log2(now - t))` in nanoseconds, -1 when `t` is not before `now` (upstream
/// `logarithmicRankDiff`'s per-time rank; the integer logarithm equals upstream's
/// `int64(math.Log2(float64(d)))` for every duration below 2^53 ns, about 104 days, and differs
/// beyond that only where the float conversion rounds up to the next power of two).
fn log_rank(t_seconds: i64, now_micros: i64) -> i64 {
    let d_nanos = i128::from(now_micros) * 1_000 - i128::from(t_seconds) * 1_000_000_000;
    if d_nanos <= 0 {
        -1
    } else {
        i64::from(d_nanos.ilog2())
    }
}

/// Compares two timestamps (seconds; `None` is the zero time) as upstream's `LogarithmicScaleDown`
/// branch does: `Less` when `a` goes first. Zero times go first (`afterOrZero`); otherwise the
/// more recent log2 bucket goes first, ties broken by uid.
fn compare_times(a: Option<i64>, b: Option<i64>, now_micros: i64, pa: &Pod, pb: &Pod) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) if x == y => Ordering::Equal,
        (Some(x), Some(y)) => {
            let diff = log_rank(x, now_micros) - log_rank(y, now_micros);
            if diff == 0 {
                pa.metadata.uid.cmp(&pb.metadata.uid)
            } else {
                diff.cmp(&0)
            }
        }
    }
}

/// upstream `ActivePodsWithRanks.Less` with `PodDeletionCost` and `LogarithmicScaleDown` (both
/// on by default): `Less` when `a` should be deleted before `b`.
///
///
/// 1. unassigned before assigned;
/// 2. Pending before Unknown before Running;
/// 3. not ready before ready;
/// 4. lower `pod-deletion-cost` first;
/// 5. higher rank (more active related pods on the same node) first;
/// 6. both ready: ready for a shorter time first;
/// 7. more restarts first (regular containers, then sidecars);
/// 8. newer first, missing creation time first.
///
/// Times in 6 and 8 compare by their log2 bucket relative to `now`, ties broken by uid.
pub fn compare_for_deletion(a: (&Pod, usize), b: (&Pod, usize), now: SystemTime) -> Ordering {
    let ((pa, ra), (pb, rb)) = (a, b);
    let node_a = pa.spec.node_name.as_deref().unwrap_or("");
    let node_b = pb.spec.node_name.as_deref().unwrap_or("");
    if node_a != node_b && (node_a.is_empty() || node_b.is_empty()) {
        return if node_a.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let by_phase = phase_ordinal(pa).cmp(&phase_ordinal(pb));
    if by_phase != Ordering::Equal {
        return by_phase;
    }
    let (ready_a, ready_b) = (is_pod_ready(pa), is_pod_ready(pb));
    if ready_a != ready_b {
        return if ready_a {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    let by_cost = deletion_cost(pa).cmp(&deletion_cost(pb));
    if by_cost != Ordering::Equal {
        return by_cost;
    }
    if ra != rb {
        return rb.cmp(&ra);
    }
    let now_micros = unix_micros(now);
    if ready_a && ready_b {
        let since = |p: &Pod| {
            ready_condition(p)
                .and_then(|c| c.last_transition_time)
                .map(|t| t.unix_seconds)
        };
        let by_ready = compare_times(since(pa), since(pb), now_micros, pa, pb);
        if by_ready != Ordering::Equal {
            return by_ready;
        }
    }
    let (regular_a, sidecar_a) = max_restarts(pa);
    let (regular_b, sidecar_b) = max_restarts(pb);
    if regular_a != regular_b {
        return regular_b.cmp(&regular_a);
    }
    if sidecar_a != sidecar_b {
        return sidecar_b.cmp(&sidecar_a);
    }
    let created = |p: &Pod| p.metadata.creation_timestamp.map(|t| t.unix_seconds);
    compare_times(created(pa), created(pb), now_micros, pa, pb)
}

/// A stable merge sort that never panics, whatever `compare` answers.
///
/// Upstream's orderings are not always total (the log2-bucket rule of
/// [`compare_for_deletion`] breaks ties by uid only between distinct times, so it is not
/// transitive in corner cases; `ReplicaSetsByRevision` mixes two keys), and Rust's
/// `sort_by` may panic on an ordering that is not total. This sort gives a deterministic
/// order for any comparator, and the same order as `sort_by` for a total one.
pub fn merge_sort_by<T: Copy>(items: &mut [T], mut compare: impl FnMut(&T, &T) -> Ordering) {
    let n = items.len();
    if n < 2 {
        return;
    }
    let mut buffer: Vec<T> = items.to_vec();
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j, mut k) = (start, mid, start);
            while i < mid && j < end {
                if compare(&items[j], &items[i]) == Ordering::Less {
                    buffer[k] = items[j];
                    j += 1;
                } else {
                    buffer[k] = items[i];
                    i += 1;
                }
                k += 1;
            }
            buffer[k..k + (mid - i)].copy_from_slice(&items[i..mid]);
            k += mid - i;
            buffer[k..k + (end - j)].copy_from_slice(&items[j..end]);
            start = end;
        }
        items.copy_from_slice(&buffer);
        width *= 2;
    }
}

/// upstream `getPodsToDelete`: the `count` pods of `pods` to delete first. When every pod goes
/// no sorting is needed; otherwise the pods are ranked by the number of active `related` pods
/// on their node (upstream `getPodsRankedByRelatedPodsOnSameNode`) and sorted by
/// [`compare_for_deletion`] with [`merge_sort_by`]. The sort is stable over `pods`' order
/// (upstream's `sort.Sort` is not, so its ties are unspecified; skiff's follow name order).
pub fn pods_to_delete<'a>(
    pods: &[&'a Pod],
    related: &[&Pod],
    count: usize,
    now: SystemTime,
) -> Vec<&'a Pod> {
    if count >= pods.len() {
        return pods.to_vec();
    }
    let mut on_node: BTreeMap<&str, usize> = BTreeMap::new();
    for pod in related.iter().filter(|p| is_pod_active(p)) {
        *on_node
            .entry(pod.spec.node_name.as_deref().unwrap_or(""))
            .or_default() += 1;
    }
    let mut ranked: Vec<(&Pod, usize)> = pods
        .iter()
        .map(|p| {
            let node = p.spec.node_name.as_deref().unwrap_or("");
            (*p, on_node.get(node).copied().unwrap_or(0))
        })
        .collect();
    merge_sort_by(&mut ranked, |a, b| compare_for_deletion(*a, *b, now));
    ranked.into_iter().take(count).map(|(p, _)| p).collect()
}
