//! Deployment controller: ReplicaSets per pod-template-hash, rolling update, recreate,
//! revision history, pause, progress deadline (upstream `pkg/controller/deployment`:
//! `deployment_controller.go`, `sync.go`, `rolling.go`, `recreate.go`, `progress.go` and
//! `util/deployment_util.go`). The kubectl side (`rollout status|history|undo|pause|resume`)
//! is in [`rollout`].
//!
//! One reconcile of a Deployment at `now`, as upstream's `syncDeployment`:
//!
//! 1. An empty selector selects everything: only `observedGeneration` is written.
//! 2. **Claim** the namespace's ReplicaSets with the Deployment's selector (adopt matching
//!    orphans, release owned ones that stopped matching), as the ReplicaSet controller claims
//!    pods.
//! 3. Being deleted: status only. Otherwise the `Progressing` condition follows pause and
//!    resume (`DeploymentPaused` / `DeploymentResumed`, status `Unknown`).
//! 4. Paused, or a **scaling event** (an active ReplicaSet's `desired-replicas` annotation
//!    differs from `spec.replicas`): scale proportionally (upstream `scale`), clean up old
//!    ReplicaSets when paused, write the status.
//! 5. Otherwise roll out with the strategy:
//!    - **RollingUpdate**: find or create the new ReplicaSet (named `<deployment>-<hash>`,
//!      label `pod-template-hash` on its selector, template and itself), scale it up within
//!      `maxSurge`, else scale old ReplicaSets down within `maxUnavailable` (unhealthy
//!      replicas first), else, once complete, clean up history beyond
//!      `revisionHistoryLimit`.
//!    - **Recreate**: scale every old ReplicaSet to 0, wait until no old pod is left, then
//!      create the new ReplicaSet at full size.
//!
//!    Then the status: counts summed over the ReplicaSets, `Available` (at least
//!    `replicas − maxUnavailable` available), `Progressing` (`NewReplicaSetCreated`,
//!    `FoundNewReplicaSet`, `ReplicaSetUpdated`, `NewReplicaSetAvailable`,
//!    `ProgressDeadlineExceeded` after `progressDeadlineSeconds` without progress).
//!
//! # How the writes map onto actions
//!
//! Upstream writes as it goes and reads its own writes back. A reconcile plans the whole sync
//! on working copies and emits each object once, in this order: releases, the new
//! ReplicaSet's `Create`, one `Update` per changed ReplicaSet (in the order upstream first
//! changed it: the new one's scale-up before the old ones' scale-down), ReplicaSet deletions
//! (history cleanup), the Deployment's `Update` when its `deployment.kubernetes.io/revision`
//! annotation changed, and its `UpdateStatus`. The status subresource keeps metadata, so the
//! annotation needs its own `Update`; when both are written the `UpdateStatus` carries no
//! resourceVersion (the `Update` just changed it, to a value a pure reconcile cannot know).
//! The runtime stops at the first failure, so a failed `Create` never lets old ReplicaSets
//! scale down.
//!
//! # pod-template-hash
//!
//! Upstream hashes the template with fnv32a over a `spew` dump of the Go struct, then the
//! `collisionCount` as 4 little-endian bytes, and renders the decimal `uint32` through
//! `rand.SafeEncodeString` (each digit mapped into `bcdfghjklmnpqrstvwxz2456789`). skiff
//! hashes the template's JSON (`serde_json`, maps in key order, so canonical) the same way
//! ([`pod_template_hash`]): the same shape of name (`web-7b9c8d6f45`), stable across runs
//! and builds, but not upstream's value for the same template.
//!
//! # Simplifications
//!
//! - Events: `ScalingReplicaSet` (`Scaled up replica set web-6d8f5b8cc7 from 0 to 1`, after
//!   all other writes); not `SelectingAll` or `ReplicaSetCreateError`. No `ReplicaFailure`
//!   mirroring from ReplicaSets (skiff's ReplicaSet controller never sets that condition).
//! - The deprecated `deprecated.deployment.rollback.to` annotation is not acted on: rollback
//!   is the client-side update kubectl does ([`rollout::rollback_to`]).

pub mod rollout;

#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::time::{Duration, SystemTime};

use skiff_core::client::DeleteOptions;
use skiff_core::clock::unix_micros;
use skiff_core::object::{
    Deployment, DeploymentCondition, DeploymentStatus, HasKindInfo, IntOrString, Object,
    ObjectMeta, Pod, PodTemplateSpec, ReplicaSet,
};
use skiff_core::selector::Selector;

use crate::reconcile::{Action, Controller, EventType, Output, Watched, event, time_of};
use crate::replicaset::podutil;
use crate::view::{ObjectKey, View};

/// The label (and ReplicaSet name suffix) that tells a Deployment's ReplicaSets apart
/// (upstream `DefaultDeploymentUniqueLabelKey`).
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The revision a ReplicaSet (and its Deployment) is at.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a rolled-back-to ReplicaSet had, comma-separated.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// `spec.replicas` of the Deployment when it last scaled the ReplicaSet.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas + maxSurge` of the Deployment when it last scaled the ReplicaSet.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// kubectl's change-cause annotation, shown by `rollout history`.
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

/// upstream `annotationsToSkip`: Deployment annotations not copied to its ReplicaSets.
const ANNOTATIONS_TO_SKIP: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// upstream `maxRevHistoryLengthInChars`.
const MAX_REV_HISTORY_CHARS: usize = 2000;

/// The Deployment controller (upstream `deployment-controller`). Holds no state.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeploymentController;

// ---------------------------------------------------------------------------------------------
// Defaults and fenceposts.
// ---------------------------------------------------------------------------------------------

/// The largest replica count the arithmetic here takes from an object: counts are clamped to
/// `0..=COUNT_MAX` so sums and differences of a few of them cannot overflow `i32` (validation
/// rejects negative counts; counts near `i32::MAX` are not a cluster skiff can run).
pub const COUNT_MAX: i32 = 1 << 29;

fn clamp(n: i32) -> i32 {
    n.clamp(0, COUNT_MAX)
}

/// `spec.replicas`, 1 when unset (upstream defaulting), clamped to `0..=COUNT_MAX`.
pub fn replicas(d: &Deployment) -> i32 {
    clamp(d.spec.replicas.unwrap_or(1))
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    clamp(rs.spec.replicas.unwrap_or(1))
}

/// True for the `RollingUpdate` strategy (the default).
pub fn is_rolling_update(d: &Deployment) -> bool {
    d.spec.strategy.type_.as_deref().unwrap_or("RollingUpdate") == "RollingUpdate"
}

fn default_quarter(value: Option<&IntOrString>) -> IntOrString {
    value
        .cloned()
        .unwrap_or_else(|| IntOrString::String("25%".to_owned()))
}

/// upstream `ResolveFenceposts`: `maxSurge` as a count of `desired` rounding **up**,
/// `maxUnavailable` rounding **down**; when both come to 0, `maxUnavailable` is 1 ("better to
/// make progress than to block"). Unset values are upstream's defaults, 25 % each; an invalid
/// value counts as 0 (validation rejects it).
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> (i32, i32) {
    let surge = default_quarter(max_surge)
        .scaled_value(desired, true)
        .unwrap_or(0);
    let unavailable = default_quarter(max_unavailable)
        .scaled_value(desired, false)
        .unwrap_or(0);
    let (surge, unavailable) = (clamp(surge), clamp(unavailable));
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

fn fenceposts(d: &Deployment) -> (i32, i32) {
    let rolling = d.spec.strategy.rolling_update.as_ref();
    resolve_fenceposts(
        rolling.and_then(|r| r.max_surge.as_ref()),
        rolling.and_then(|r| r.max_unavailable.as_ref()),
        replicas(d),
    )
}

/// upstream `MaxSurge`: 0 unless rolling.
pub fn max_surge(d: &Deployment) -> i32 {
    if is_rolling_update(d) {
        fenceposts(d).0
    } else {
        0
    }
}

/// upstream `MaxUnavailable`: 0 unless rolling with replicas, at most `replicas`.
pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling_update(d) || replicas(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas(d))
}

fn progress_deadline(d: &Deployment) -> Option<i32> {
    match d.spec.progress_deadline_seconds.unwrap_or(600) {
        i32::MAX => None,
        s => Some(s),
    }
}

fn revision_history_limit(d: &Deployment) -> Option<i32> {
    match d.spec.revision_history_limit.unwrap_or(10) {
        i32::MAX => None,
        n => Some(n),
    }
}

/// The compiled selector of a Deployment; `None` when missing or invalid. An empty selector
/// compiles to "everything" (see step 1 of the module doc).
pub fn deployment_selector(d: &Deployment) -> Option<Selector> {
    d.spec.selector.as_ref()?.to_selector().ok()
}

// ---------------------------------------------------------------------------------------------
// Hash, revisions, template comparison.
// ---------------------------------------------------------------------------------------------

/// upstream `rand.SafeEncodeString`'s alphabet (no vowels, no confusable characters).
const SAFE_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

/// The pod-template-hash of `template` with `collision_count` (upstream `ComputeHash`): fnv32a
/// over the template's JSON, then the collision count as 4 little-endian bytes when set; the
/// decimal value with each digit mapped through upstream's `SafeEncodeString`.
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash = (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193);
        }
    };
    feed(&serde_json::to_vec(template).unwrap_or_default());
    if let Some(count) = collision_count {
        feed(&count.to_le_bytes());
    }
    hash.to_string()
        .bytes()
        .map(|b| char::from(SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()]))
        .collect()
}

/// upstream `EqualIgnoreHash`: the templates are equal once the `pod-template-hash` label is
/// removed from both.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        t.metadata.labels.remove(POD_TEMPLATE_HASH);
        t
    };
    strip(a) == strip(b)
}

/// upstream `Revision`: the ReplicaSet's revision annotation, if it is an integer.
pub fn revision(rs: &ReplicaSet) -> Option<i64> {
    rs.metadata.annotations.get(REVISION)?.parse().ok()
}

/// upstream `ReplicaSetsByCreationTimestamp`: older first, then by name.
fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let t = |rs: &ReplicaSet| rs.metadata.creation_timestamp.map_or(0, |t| t.unix_seconds);
    t(a).cmp(&t(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// upstream `ReplicaSetsByRevision`: lower revision first; unparsable or equal revisions by
/// creation.
fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    match (revision(a), revision(b)) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        _ => by_creation(a, b),
    }
}

fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: SystemTime,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        last_update_time: Some(time_of(now)),
        last_transition_time: Some(time_of(now)),
        reason: Some(reason.to_owned()),
        message: Some(message),
    }
}

/// upstream `SetDeploymentCondition`: no change when status and reason are the same; the
/// transition time is kept when only the reason changes; the condition moves to the end.
fn set_condition(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(current) = condition(status, &cond.type_) {
        if current.status == cond.status && current.reason == cond.reason {
            return;
        }
        if current.status == cond.status {
            cond.last_transition_time = current.last_transition_time;
        }
    }
    status.conditions.retain(|c| c.type_ != cond.type_);
    status.conditions.push(cond);
}

fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    status.conditions.retain(|c| c.type_ != type_);
}

fn opt(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

// ---------------------------------------------------------------------------------------------
// The plan: working copies of the Deployment and its ReplicaSets.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Working {
    rs: ReplicaSet,
    /// Created by this reconcile (emitted as a `Create`).
    created: bool,
}

struct Plan<'v> {
    view: &'v View,
    d: Deployment,
    rss: Vec<Working>,
    /// Indexes into `rss` of changed ReplicaSets, in the order first changed.
    touched: Vec<usize>,
    releases: Vec<Action>,
    deletes: Vec<Action>,
    /// Messages of the `ScalingReplicaSet` events, in order.
    events: Vec<String>,
    now: SystemTime,
}

impl Plan<'_> {
    fn spec(&self, i: usize) -> i32 {
        rs_replicas(&self.rss[i].rs)
    }

    fn touch(&mut self, i: usize) {
        if !self.touched.contains(&i) {
            self.touched.push(i);
        }
    }

    fn sum_spec(&self, set: &[usize]) -> i32 {
        set.iter()
            .fold(0i32, |sum, &i| sum.saturating_add(self.spec(i)))
    }

    fn sum_status(&self, set: &[usize], f: impl Fn(&ReplicaSet) -> Option<i32>) -> i32 {
        set.iter().fold(0i32, |sum, &i| {
            sum.saturating_add(clamp(f(&self.rss[i].rs).unwrap_or(0)))
        })
    }

    /// upstream `FindNewReplicaSet` / `FindOldReplicaSets`: the oldest ReplicaSet whose
    /// template equals the Deployment's (ignoring the hash), and all the others, in creation
    /// order.
    fn split(&self) -> (Option<usize>, Vec<usize>) {
        let mut order: Vec<usize> = (0..self.rss.len()).collect();
        order.sort_by(|&a, &b| by_creation(&self.rss[a].rs, &self.rss[b].rs));
        let new = order
            .iter()
            .copied()
            .find(|&i| equal_ignore_hash(&self.rss[i].rs.spec.template, &self.d.spec.template));
        let old = order.into_iter().filter(|&i| Some(i) != new).collect();
        (new, old)
    }

    fn active(&self, set: &[usize]) -> Vec<usize> {
        set.iter().copied().filter(|&i| self.spec(i) > 0).collect()
    }

    /// upstream `SetReplicasAnnotations`: true when it changed something.
    fn set_replicas_annotations(&mut self, i: usize) -> bool {
        let desired = replicas(&self.d).to_string();
        let max = (replicas(&self.d) + max_surge(&self.d)).to_string();
        let annotations = &mut self.rss[i].rs.metadata.annotations;
        let mut changed = false;
        for (key, value) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
            if annotations.get(key) != Some(&value) {
                annotations.insert(key.to_owned(), value);
                changed = true;
            }
        }
        changed
    }

    /// upstream `scaleReplicaSet`: true when the size changed.
    fn scale(&mut self, i: usize, to: i32) -> bool {
        let from = self.spec(i);
        let size_changed = from != to;
        let annotations_changed = self.set_replicas_annotations(i);
        if size_changed || annotations_changed {
            self.rss[i].rs.spec.replicas = Some(to);
            self.touch(i);
        }
        if size_changed {
            let direction = if from < to { "up" } else { "down" };
            let name = self.rss[i].rs.metadata.name_or_empty();
            self.events.push(format!(
                "Scaled {direction} replica set {name} from {from} to {to}"
            ));
        }
        size_changed
    }

    /// upstream `SetNewReplicaSetAnnotations`: copies the Deployment's annotations (but the
    /// skipped ones), raises the revision (keeping the old one in the revision history), and
    /// for a ReplicaSet about to be created sets the replicas annotations.
    fn set_new_rs_annotations(&mut self, i: usize, new_revision: i64, exists: bool) -> bool {
        let mut changed = false;
        let copied: Vec<(String, String)> = self
            .d
            .metadata
            .annotations
            .iter()
            .filter(|(k, _)| !ANNOTATIONS_TO_SKIP.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let annotations = &mut self.rss[i].rs.metadata.annotations;
        for (k, v) in copied {
            if annotations.get(&k) != Some(&v) {
                annotations.insert(k, v);
                changed = true;
            }
        }
        let old = annotations.get(REVISION).cloned();
        let old_int = match old.as_deref() {
            None | Some("") => 0,
            Some(s) => match s.parse::<i64>() {
                Ok(n) => n,
                Err(_) => return false,
            },
        };
        if old_int < new_revision {
            annotations.insert(REVISION.to_owned(), new_revision.to_string());
            changed = true;
            if let Some(old) = old.filter(|o| !o.is_empty()) {
                let history = annotations
                    .get(REVISION_HISTORY)
                    .cloned()
                    .unwrap_or_default();
                if history.is_empty() {
                    annotations.insert(REVISION_HISTORY.to_owned(), old);
                } else {
                    let mut parts: Vec<&str> = history.split(',').collect();
                    let mut total = history.len() + old.len() + 1;
                    let mut start = 0;
                    while total > MAX_REV_HISTORY_CHARS && start < parts.len() {
                        total -= parts[start].len() + 1;
                        start += 1;
                    }
                    if total <= MAX_REV_HISTORY_CHARS {
                        parts = parts.split_off(start);
                        parts.push(&old);
                        annotations.insert(REVISION_HISTORY.to_owned(), parts.join(","));
                    }
                }
            }
        }
        if !exists && self.set_replicas_annotations(i) {
            changed = true;
        }
        changed
    }

    fn set_deployment_revision(&mut self, revision: &str) {
        if self
            .d
            .metadata
            .annotations
            .get(REVISION)
            .map(String::as_str)
            != Some(revision)
        {
            self.d
                .metadata
                .annotations
                .insert(REVISION.to_owned(), revision.to_owned());
        }
    }

    /// upstream `NewRSNewReplicas`.
    fn new_rs_new_replicas(&self, all: &[usize], new: usize) -> i32 {
        let desired = replicas(&self.d);
        if !is_rolling_update(&self.d) {
            return desired;
        }
        let max_total = desired + max_surge(&self.d);
        let current = self.sum_spec(all);
        if current >= max_total {
            return self.spec(new);
        }
        let up = (max_total - current).min(desired - self.spec(new));
        self.spec(new) + up
    }

    /// upstream `getAllReplicaSetsAndSyncRevision` / `getNewReplicaSet`. `None` for the new
    /// ReplicaSet when there is none (and `create` is false) or its name collided.
    fn new_and_old(&mut self, create: bool) -> (Option<usize>, Vec<usize>) {
        let (new, old) = self.split();
        let max_old = old
            .iter()
            .filter_map(|&i| revision(&self.rss[i].rs))
            .max()
            .unwrap_or(0);
        let new_revision = max_old.saturating_add(1);
        if let Some(i) = new {
            let annotations_changed = self.set_new_rs_annotations(i, new_revision, true);
            let min_ready = self.d.spec.min_ready_seconds.unwrap_or(0);
            if annotations_changed
                || self.rss[i].rs.spec.min_ready_seconds.unwrap_or(0) != min_ready
            {
                self.rss[i].rs.spec.min_ready_seconds = opt(min_ready);
                self.touch(i);
                return (Some(i), old);
            }
            let rs_revision = self.rss[i]
                .rs
                .metadata
                .annotations
                .get(REVISION)
                .cloned()
                .unwrap_or_default();
            self.set_deployment_revision(&rs_revision);
            if progress_deadline(&self.d).is_some()
                && condition(&self.d.status, "Progressing").is_none()
            {
                let message = format!(
                    "Found new replica set {:?}",
                    self.rss[i].rs.metadata.name_or_empty()
                );
                let cond = new_condition(
                    "Progressing",
                    "True",
                    "FoundNewReplicaSet",
                    message,
                    self.now,
                );
                set_condition(&mut self.d.status, cond);
            }
            return (Some(i), old);
        }
        if !create {
            return (None, old);
        }
        let created = self.create_new(&old, new_revision);
        (created, old)
    }

    /// The creating half of upstream `getNewReplicaSet`: the new ReplicaSet (`None` on a
    /// hash collision, with `collisionCount` raised).
    fn create_new(&mut self, old: &[usize], new_revision: i64) -> Option<usize> {
        let hash = pod_template_hash(&self.d.spec.template, self.d.status.collision_count);
        let name = format!("{}-{hash}", self.d.metadata.name_or_empty());
        let namespace = self.d.metadata.namespace_or_empty().to_owned();
        if self.view.get::<ReplicaSet>(&namespace, &name).is_some() {
            // upstream: AlreadyExists for a ReplicaSet that is not this template's is a hash
            // collision: bump collisionCount and retry with the next hash.
            self.d.status.collision_count =
                Some(self.d.status.collision_count.unwrap_or(0).saturating_add(1));
            return None;
        }
        let mut template = self.d.spec.template.clone();
        template
            .metadata
            .labels
            .insert(POD_TEMPLATE_HASH.to_owned(), hash.clone());
        let mut selector = self.d.spec.selector.clone().unwrap_or_default();
        selector
            .match_labels
            .insert(POD_TEMPLATE_HASH.to_owned(), hash);
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace),
                labels: template.metadata.labels.clone(),
                owner_references: vec![podutil::controller_ref(
                    &Deployment::INFO,
                    &self.d.metadata,
                )],
                creation_timestamp: Some(time_of(self.now)),
                ..ObjectMeta::default()
            },
            ..ReplicaSet::default()
        };
        rs.spec.replicas = Some(0);
        rs.spec.min_ready_seconds = opt(self.d.spec.min_ready_seconds.unwrap_or(0));
        rs.spec.selector = Some(selector);
        rs.spec.template = template;
        self.rss.push(Working { rs, created: true });
        let i = self.rss.len() - 1;
        let mut all = old.to_vec();
        all.push(i);
        let count = self.new_rs_new_replicas(&all, i);
        self.rss[i].rs.spec.replicas = Some(count);
        if count > 0 {
            self.events
                .push(format!("Scaled up replica set {name} from 0 to {count}"));
        }
        self.set_new_rs_annotations(i, new_revision, false);
        self.set_deployment_revision(&new_revision.to_string());
        if progress_deadline(&self.d).is_some() {
            let message = format!("Created new replica set {name:?}");
            let cond = new_condition(
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                message,
                self.now,
            );
            set_condition(&mut self.d.status, cond);
        }
        Some(i)
    }

    /// upstream `isScalingEvent`.
    fn is_scaling_event(&mut self) -> bool {
        let (new, old) = self.new_and_old(false);
        let mut all = old;
        all.extend(new);
        let desired = replicas(&self.d);
        self.active(&all).into_iter().any(|i| {
            self.rss[i]
                .rs
                .metadata
                .annotations
                .get(DESIRED_REPLICAS)
                .and_then(|v| v.parse::<i32>().ok())
                .is_some_and(|v| v != desired)
        })
    }

    /// upstream `IsSaturated`.
    fn is_saturated(&self, i: usize) -> bool {
        let rs = &self.rss[i].rs;
        let desired = replicas(&self.d);
        let annotated = rs
            .metadata
            .annotations
            .get(DESIRED_REPLICAS)
            .and_then(|v| v.parse::<i32>().ok());
        annotated == Some(desired)
            && rs_replicas(rs) == desired
            && rs.status.available_replicas.unwrap_or(0) == desired
    }

    /// upstream `scale`: proportional scaling of the active ReplicaSets.
    fn scale_all(&mut self, new: Option<usize>, old: &[usize]) {
        let desired = replicas(&self.d);
        // FindActiveOrLatest: the only active ReplicaSet, or the newest when none is active.
        let mut all = old.to_vec();
        all.extend(new);
        let active = self.active(&all);
        let active_or_latest = match active.len() {
            0 => new.or_else(|| {
                old.iter()
                    .copied()
                    .max_by(|&a, &b| by_creation(&self.rss[a].rs, &self.rss[b].rs))
            }),
            1 => Some(active[0]),
            _ => None,
        };
        if let Some(i) = active_or_latest {
            if self.spec(i) != desired {
                self.scale(i, desired);
            }
            return;
        }
        if new.is_some_and(|n| self.is_saturated(n)) {
            for i in self.active(old) {
                self.scale(i, 0);
            }
            return;
        }
        if !is_rolling_update(&self.d) {
            return;
        }
        let allowed = if desired > 0 {
            desired + max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - self.sum_spec(&active);
        let mut sorted = active;
        match to_add.cmp(&0) {
            // ReplicaSetsBySizeNewer: larger first, equal sizes newer first.
            Ordering::Greater => sorted.sort_by(|&a, &b| {
                self.spec(b)
                    .cmp(&self.spec(a))
                    .then_with(|| by_creation(&self.rss[b].rs, &self.rss[a].rs))
            }),
            // ReplicaSetsBySizeOlder: larger first, equal sizes older first.
            Ordering::Less => sorted.sort_by(|&a, &b| {
                self.spec(b)
                    .cmp(&self.spec(a))
                    .then_with(|| by_creation(&self.rss[a].rs, &self.rss[b].rs))
            }),
            Ordering::Equal => {}
        }
        let mut added = 0;
        let mut sizes: Vec<i32> = Vec::with_capacity(sorted.len());
        for &i in &sorted {
            if to_add == 0 {
                sizes.push(self.spec(i));
            } else {
                let p = self.proportion(i, to_add, added);
                sizes.push(self.spec(i) + p);
                added += p;
            }
        }
        for (k, &i) in sorted.iter().enumerate() {
            if k == 0 && to_add != 0 {
                sizes[0] = (sizes[0] + to_add - added).max(0);
            }
            self.scale(i, sizes[k]);
        }
    }

    /// upstream `GetProportion` / `getReplicaSetFraction`.
    fn proportion(&self, i: usize, to_add: i32, added: i32) -> i32 {
        let rs = &self.rss[i].rs;
        let size = rs_replicas(rs);
        if size == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let desired = replicas(&self.d);
        let fraction = if desired == 0 {
            -size
        } else {
            let max_now = desired + max_surge(&self.d);
            let before = rs
                .metadata
                .annotations
                .get(MAX_REPLICAS)
                .and_then(|v| v.parse::<i32>().ok())
                .filter(|&v| v > 0)
                .unwrap_or_else(|| clamp(self.d.status.replicas.unwrap_or(0)));
            if before == 0 {
                0
            } else {
                // math.Round(size * max_now / before) − size, half away from zero, exactly.
                let num = i64::from(size) * i64::from(max_now);
                let den = i64::from(before);
                let rounded = (2 * num + den).div_euclid(2 * den);
                i32::try_from(rounded).unwrap_or(i32::MAX) - size
            }
        };
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// upstream `cleanupDeployment`: delete the oldest (by revision) old ReplicaSets beyond
    /// `revisionHistoryLimit` that have no pods and whose status is current.
    fn cleanup(&mut self, old: &[usize]) {
        let Some(limit) = revision_history_limit(&self.d) else {
            return;
        };
        let mut cleanable: Vec<usize> = old
            .iter()
            .copied()
            .filter(|&i| self.rss[i].rs.metadata.deletion_timestamp.is_none())
            .collect();
        let diff = i64::try_from(cleanable.len()).unwrap_or(i64::MAX) - i64::from(limit);
        if diff <= 0 {
            return;
        }
        podutil::merge_sort_by(&mut cleanable, |&a, &b| {
            by_revision(&self.rss[a].rs, &self.rss[b].rs)
        });
        for &i in cleanable.iter().take(usize::try_from(diff).unwrap_or(0)) {
            let rs = &self.rss[i].rs;
            if rs.status.replicas != 0
                || rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > rs.status.observed_generation.unwrap_or(0)
            {
                continue;
            }
            self.deletes.push(Action::Delete {
                resource: &ReplicaSet::INFO,
                namespace: rs.metadata.namespace_or_empty().to_owned(),
                name: rs.metadata.name_or_empty().to_owned(),
                options: DeleteOptions {
                    uid: rs.metadata.uid.clone(),
                    ..DeleteOptions::default()
                },
            });
        }
    }

    /// upstream `calculateStatus`.
    fn calculate_status(&self, new: Option<usize>, old: &[usize]) -> DeploymentStatus {
        let mut all = old.to_vec();
        all.extend(new);
        let available = self.sum_status(&all, |rs| rs.status.available_replicas);
        let total = self.sum_spec(&all);
        let unavailable = (total - available).max(0);
        let generation = self.d.metadata.generation.unwrap_or(0);
        let mut status = DeploymentStatus {
            observed_generation: (generation != 0).then_some(generation),
            replicas: opt(self.sum_status(&all, |rs| Some(rs.status.replicas))),
            updated_replicas: opt(new.map_or(0, |i| clamp(self.rss[i].rs.status.replicas))),
            ready_replicas: opt(self.sum_status(&all, |rs| rs.status.ready_replicas)),
            available_replicas: opt(available),
            unavailable_replicas: opt(unavailable),
            terminating_replicas: None,
            conditions: self.d.status.conditions.clone(),
            collision_count: self.d.status.collision_count,
        };
        let cond = if available >= replicas(&self.d) - max_unavailable(&self.d) {
            new_condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".to_owned(),
                self.now,
            )
        } else {
            new_condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".to_owned(),
                self.now,
            )
        };
        set_condition(&mut status, cond);
        status
    }

    /// upstream `syncDeploymentStatus`.
    fn sync_status(&mut self, new: Option<usize>, old: &[usize]) {
        self.d.status = self.calculate_status(new, old);
    }

    /// upstream `syncRolloutStatus`.
    fn sync_rollout_status(&mut self, new: Option<usize>, old: &[usize]) {
        let mut status = self.calculate_status(new, old);
        let d = &self.d;
        let deadline = progress_deadline(d);
        if deadline.is_none() {
            remove_condition(&mut status, "Progressing");
        }
        let current = condition(&d.status, "Progressing").cloned();
        let complete_already = status.replicas == status.updated_replicas
            && current
                .as_ref()
                .is_some_and(|c| c.reason.as_deref() == Some("NewReplicaSetAvailable"));
        let new_name = new.map(|i| self.rss[i].rs.metadata.name_or_empty().to_owned());
        let subject = |what: &str| match &new_name {
            Some(n) => format!("ReplicaSet {n:?} {what}"),
            None => format!("Deployment {:?} {what}", d.metadata.name_or_empty()),
        };
        if deadline.is_some() && !complete_already {
            if deployment_complete(d, &status) {
                let cond = new_condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    subject("has successfully progressed."),
                    self.now,
                );
                set_condition(&mut status, cond);
            } else if deployment_progressing(d, &status) {
                let mut cond = new_condition(
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    subject("is progressing."),
                    self.now,
                );
                if let Some(current) = &current {
                    if current.status == "True" {
                        cond.last_transition_time = current.last_transition_time;
                    }
                    remove_condition(&mut status, "Progressing");
                }
                set_condition(&mut status, cond);
            } else if deployment_timed_out(d, &status, self.now) {
                let cond = new_condition(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    subject("has timed out progressing."),
                    self.now,
                );
                set_condition(&mut status, cond);
            }
        }
        remove_condition(&mut status, "ReplicaFailure");
        self.d.status = status;
    }

    /// upstream `checkPausedConditions`.
    fn check_paused_conditions(&mut self) {
        if progress_deadline(&self.d).is_none() {
            return;
        }
        let cond = condition(&self.d.status, "Progressing");
        if cond.is_some_and(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded")) {
            return;
        }
        let paused_exists = cond.is_some_and(|c| c.reason.as_deref() == Some("DeploymentPaused"));
        let paused = self.d.spec.paused.unwrap_or(false);
        if paused && !paused_exists {
            let c = new_condition(
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused".to_owned(),
                self.now,
            );
            set_condition(&mut self.d.status, c);
        } else if !paused && paused_exists {
            let c = new_condition(
                "Progressing",
                "Unknown",
                "DeploymentResumed",
                "Deployment is resumed".to_owned(),
                self.now,
            );
            set_condition(&mut self.d.status, c);
        }
    }

    /// upstream `sync`: scale, clean up when paused, status.
    fn sync(&mut self) {
        let (new, old) = self.new_and_old(false);
        self.scale_all(new, &old);
        if self.d.spec.paused.unwrap_or(false) {
            self.cleanup(&old);
        }
        self.sync_status(new, &old);
    }

    /// upstream `rolloutRolling`.
    fn rollout_rolling(&mut self) {
        let (new, old) = self.new_and_old(true);
        let Some(new) = new else {
            // A hash collision: only the bumped collisionCount is written.
            return;
        };
        let mut all = old.clone();
        all.push(new);
        if self.reconcile_new(new, &all) || self.reconcile_old(new, &old) {
            self.sync_rollout_status(Some(new), &old);
            return;
        }
        let original = self.d.status.clone();
        if deployment_complete(&self.d, &original) {
            self.cleanup(&old);
        }
        self.sync_rollout_status(Some(new), &old);
    }

    /// upstream `reconcileNewReplicaSet`.
    fn reconcile_new(&mut self, new: usize, all: &[usize]) -> bool {
        let desired = replicas(&self.d);
        match self.spec(new).cmp(&desired) {
            Ordering::Equal => false,
            Ordering::Greater => self.scale(new, desired),
            Ordering::Less => {
                let count = self.new_rs_new_replicas(all, new);
                self.scale(new, count)
            }
        }
    }

    /// upstream `reconcileOldReplicaSets`.
    fn reconcile_old(&mut self, new: usize, old: &[usize]) -> bool {
        let active_old = self.active(old);
        if self.sum_spec(&active_old) == 0 {
            return false;
        }
        let mut all = old.to_vec();
        all.push(new);
        let all_pods = self.sum_spec(&all);
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let new_unavailable =
            self.spec(new) - self.rss[new].rs.status.available_replicas.unwrap_or(0);
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let cleaned = self.cleanup_unhealthy(&active_old, max_scaled_down);
        let scaled = self.scale_down_old_for_rolling(new, &active_old);
        cleaned + scaled > 0
    }

    /// upstream `cleanupUnhealthyReplicas`.
    fn cleanup_unhealthy(&mut self, old: &[usize], max_cleanup: i32) -> i32 {
        let mut sorted = old.to_vec();
        sorted.sort_by(|&a, &b| by_creation(&self.rss[a].rs, &self.rss[b].rs));
        let mut total = 0;
        for i in sorted {
            if total >= max_cleanup {
                break;
            }
            let size = self.spec(i);
            let available = self.rss[i].rs.status.available_replicas.unwrap_or(0);
            if size == 0 || size == available {
                continue;
            }
            let down = (max_cleanup - total).min(size - available);
            self.scale(i, size - down);
            total += down;
        }
        total
    }

    /// upstream `scaleDownOldReplicaSetsForRollingUpdate`.
    fn scale_down_old_for_rolling(&mut self, new: usize, old: &[usize]) -> i32 {
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let mut all = old.to_vec();
        all.push(new);
        let available = self.sum_status(&all, |rs| rs.status.available_replicas);
        if available <= min_available {
            return 0;
        }
        let mut sorted = old.to_vec();
        sorted.sort_by(|&a, &b| by_creation(&self.rss[a].rs, &self.rss[b].rs));
        let wanted = available - min_available;
        let mut total = 0;
        for i in sorted {
            if total >= wanted {
                break;
            }
            let size = self.spec(i);
            if size == 0 {
                continue;
            }
            let down = size.min(wanted - total);
            self.scale(i, size - down);
            total += down;
        }
        total
    }

    /// upstream `rolloutRecreate`.
    fn rollout_recreate(&mut self, pods: &[&Pod]) {
        let (mut new, mut old) = self.new_and_old(false);
        let mut scaled_down = false;
        for i in self.active(&old) {
            scaled_down |= self.scale(i, 0);
        }
        if scaled_down || self.old_pods_running(new, &old, pods) {
            self.sync_rollout_status(new, &old);
            return;
        }
        if new.is_none() {
            (new, old) = self.new_and_old(true);
        }
        let Some(n) = new else {
            return;
        };
        let desired = replicas(&self.d);
        self.scale(n, desired);
        let original = self.d.status.clone();
        if deployment_complete(&self.d, &original) {
            self.cleanup(&old);
        }
        self.sync_rollout_status(new, &old);
    }

    /// upstream `oldPodsRunning`.
    fn old_pods_running(&self, new: Option<usize>, old: &[usize], pods: &[&Pod]) -> bool {
        if self.sum_status(old, |rs| Some(rs.status.replicas)) > 0 {
            return true;
        }
        let new_uid = new.and_then(|i| self.rss[i].rs.metadata.uid.clone());
        let old_uids: Vec<&str> = old
            .iter()
            .filter_map(|&i| self.rss[i].rs.metadata.uid.as_deref())
            .filter(|uid| Some(*uid) != new_uid.as_deref())
            .collect();
        pods.iter().any(|p| {
            p.metadata
                .controller_ref()
                .is_some_and(|r| old_uids.contains(&r.uid.as_str()))
                && !matches!(p.status.phase.as_deref(), Some("Failed" | "Succeeded"))
        })
    }

    /// upstream `requeueStuckDeployment`: when a rollout is in progress, look again just after
    /// its deadline would pass.
    fn requeue(&self) -> Option<Duration> {
        let deadline = progress_deadline(&self.d)?;
        let current = condition(&self.d.status, "Progressing")?;
        if deployment_complete(&self.d, &self.d.status)
            || current.reason.as_deref() == Some("ProgressDeadlineExceeded")
        {
            return None;
        }
        let from = current.last_update_time?.unix_seconds;
        let at = (from + i64::from(deadline)) * 1_000_000;
        let after = at - unix_micros(self.now);
        if after < 1_000_000 {
            return Some(Duration::ZERO);
        }
        // upstream adds a second "to avoid milliseconds skew".
        Some(Duration::from_micros(u64::try_from(after).unwrap_or(0)) + Duration::from_secs(1))
    }
}

/// upstream `DeploymentComplete`.
pub fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let want = replicas(d);
    status.updated_replicas.unwrap_or(0) == want
        && status.replicas.unwrap_or(0) == want
        && status.available_replicas.unwrap_or(0) == want
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// upstream `DeploymentProgressing`: more updated, fewer old, more ready or more available
/// replicas than the Deployment's current status says.
fn deployment_progressing(d: &Deployment, status: &DeploymentStatus) -> bool {
    let old = &d.status;
    let v = |n: Option<i32>, _: i32| clamp(n.unwrap_or(0));
    let old_old = v(old.replicas, 0) - v(old.updated_replicas, 0);
    let new_old = v(status.replicas, 0) - v(status.updated_replicas, 0);
    v(status.updated_replicas, 0) > v(old.updated_replicas, 0)
        || new_old < old_old
        || v(status.ready_replicas, 0) > v(old.ready_replicas, 0)
        || v(status.available_replicas, 0) > v(old.available_replicas, 0)
}

/// upstream `DeploymentTimedOut`: the `Progressing` condition was last updated more than
/// `progressDeadlineSeconds` before `now` (and is not a completed or already timed-out one).
fn deployment_timed_out(d: &Deployment, status: &DeploymentStatus, now: SystemTime) -> bool {
    let Some(deadline) = progress_deadline(d) else {
        return false;
    };
    let Some(cond) = condition(status, "Progressing") else {
        return false;
    };
    match cond.reason.as_deref() {
        Some("NewReplicaSetAvailable") => false,
        Some("ProgressDeadlineExceeded") => true,
        _ => cond
            .last_update_time
            .is_some_and(|t| (t.unix_seconds + i64::from(deadline)) * 1_000_000 < unix_micros(now)),
    }
}

/// Reconciles the Deployment at `key` (pure: view and `now` in, actions out).
pub fn reconcile_deployment(view: &View, key: &ObjectKey, now: SystemTime) -> Output {
    let Some(d) = view.get::<Deployment>(&key.namespace, &key.name) else {
        return Output::none();
    };
    let Some(selector) = deployment_selector(d) else {
        return Output::none();
    };
    if d.spec
        .selector
        .as_ref()
        .is_some_and(skiff_core::selector::LabelSelector::is_empty)
    {
        // upstream: "This deployment is selecting all pods. A non-empty selector is required."
        let generation = d.metadata.generation.unwrap_or(0);
        if d.status.observed_generation.unwrap_or(0) < generation {
            let mut next = d.clone();
            next.status.observed_generation = Some(generation);
            return Output {
                actions: vec![Action::UpdateStatus(next.into())],
                requeue_after: None,
            };
        }
        return Output::none();
    }
    let claimed = podutil::claim(
        &Deployment::INFO,
        &d.metadata,
        &selector,
        view.list_in::<ReplicaSet>(&key.namespace),
    );
    let mut plan = Plan {
        view,
        d: d.clone(),
        rss: Vec::new(),
        touched: Vec::new(),
        releases: Vec::new(),
        deletes: Vec::new(),
        events: Vec::new(),
        now,
    };
    // Adoptions become part of the ReplicaSet's single Update; releases are written as is.
    let uid = d.metadata.uid.as_deref().unwrap_or("");
    for action in claimed.actions {
        match &action {
            Action::Update(Object::ReplicaSet(rs))
                if podutil::is_controlled_by(&rs.metadata, uid) =>
            {
                plan.rss.push(Working {
                    rs: rs.clone(),
                    created: false,
                });
                let i = plan.rss.len() - 1;
                plan.touch(i);
            }
            _ => plan.releases.push(action),
        }
    }
    for rs in claimed.owned {
        if !plan
            .rss
            .iter()
            .any(|w| w.rs.metadata.name == rs.metadata.name)
        {
            plan.rss.push(Working {
                rs: rs.clone(),
                created: false,
            });
        }
    }
    let pods: Vec<&Pod> = view
        .list_in::<Pod>(&key.namespace)
        .filter(|p| selector.matches(&p.metadata.labels))
        .collect();

    if d.metadata.deletion_timestamp.is_some() {
        let (new, old) = plan.new_and_old(false);
        plan.sync_status(new, &old);
    } else {
        plan.check_paused_conditions();
        if d.spec.paused.unwrap_or(false) || plan.is_scaling_event() {
            plan.sync();
        } else if is_rolling_update(d) {
            plan.rollout_rolling();
        } else {
            plan.rollout_recreate(&pods);
        }
    }
    finish(d, plan)
}

fn finish(original: &Deployment, plan: Plan<'_>) -> Output {
    let requeue_after = plan.requeue();
    let mut actions = plan.releases;
    for w in plan.rss.iter().filter(|w| w.created) {
        let mut rs = w.rs.clone();
        rs.metadata.creation_timestamp = None;
        actions.push(Action::Create(rs.into()));
    }
    for &i in &plan.touched {
        if !plan.rss[i].created {
            actions.push(Action::Update(plan.rss[i].rs.clone().into()));
        }
    }
    actions.extend(plan.deletes);
    let mut d = plan.d;
    let meta_changed = d.metadata.annotations != original.metadata.annotations;
    if meta_changed {
        let mut next = d.clone();
        next.status = original.status.clone();
        actions.push(Action::Update(next.into()));
    }
    if d.status != original.status {
        if meta_changed {
            d.metadata.resource_version = None;
        }
        d.metadata
            .annotations
            .clone_from(&original.metadata.annotations);
        actions.push(Action::UpdateStatus(d.into()));
    }
    // Events last: a failed event write must not hold back the writes that matter. Each is
    // stamped a microsecond apart so events of one reconcile get distinct names.
    let involved: Object = original.clone().into();
    for (offset, message) in (0u64..).zip(plan.events) {
        actions.push(event(
            &involved,
            EventType::Normal,
            "ScalingReplicaSet",
            message,
            "deployment-controller",
            plan.now + Duration::from_micros(offset),
        ));
    }
    Output {
        actions,
        requeue_after,
    }
}

/// The Deployments a change concerns: a ReplicaSet's controller (when a Deployment in the
/// view with that uid), or for an orphan every Deployment of its namespace whose non-empty
/// selector matches; a pod's ReplicaSet's Deployment.
fn deployment_keys(view: &View, rs: &ReplicaSet) -> Vec<ObjectKey> {
    let namespace = rs.metadata.namespace_or_empty();
    if let Some(r) = rs.metadata.controller_ref() {
        if r.kind != Deployment::INFO.kind {
            return Vec::new();
        }
        return match view.get::<Deployment>(namespace, &r.name) {
            Some(d) if d.metadata.uid.as_deref() == Some(r.uid.as_str()) => {
                vec![ObjectKey::new(namespace, r.name.clone())]
            }
            _ => Vec::new(),
        };
    }
    view.list_in::<Deployment>(namespace)
        .filter(|d| {
            d.spec.selector.as_ref().is_some_and(|s| !s.is_empty())
                && deployment_selector(d).is_some_and(|s| s.matches(&rs.metadata.labels))
        })
        .map(|d| ObjectKey::new(namespace, d.metadata.name_or_empty()))
        .collect()
}

impl Controller for DeploymentController {
    fn name(&self) -> &'static str {
        "deployment-controller"
    }

    fn watches(&self) -> Vec<Watched> {
        vec![
            Watched::all(&Deployment::INFO),
            Watched::all(&ReplicaSet::INFO),
            Watched::all(&Pod::INFO),
        ]
    }

    fn keys_for(&self, view: &View, object: &Object) -> Vec<ObjectKey> {
        match object {
            Object::Deployment(_) => vec![ObjectKey::of(object)],
            Object::ReplicaSet(rs) => deployment_keys(view, rs),
            Object::Pod(pod) => {
                // upstream deletePod: a Recreate rollout waits for the old pods to go.
                let namespace = pod.metadata.namespace_or_empty();
                pod.metadata
                    .controller_ref()
                    .filter(|r| r.kind == ReplicaSet::INFO.kind)
                    .and_then(|r| view.get::<ReplicaSet>(namespace, &r.name))
                    .map(|rs| deployment_keys(view, rs))
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    fn resync_keys(&self, view: &View) -> Vec<ObjectKey> {
        view.list::<Deployment>()
            .map(|d| ObjectKey::new(d.metadata.namespace_or_empty(), d.metadata.name_or_empty()))
            .collect()
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, now: SystemTime) -> Output {
        reconcile_deployment(view, key, now)
    }
}

/// The ReplicaSets of `view` controlled by `d` (what `rollout history` and `undo` read).
pub fn replica_sets_of<'v>(view: &'v View, d: &'v Deployment) -> Vec<&'v ReplicaSet> {
    let uid = d.metadata.uid.as_deref().unwrap_or("");
    view.list_in::<ReplicaSet>(d.metadata.namespace_or_empty())
        .filter(|rs| podutil::is_controlled_by(&rs.metadata, uid))
        .collect()
}
