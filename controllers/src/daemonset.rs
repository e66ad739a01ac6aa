//! DaemonSet controller: one pod per eligible node, rolling update (upstream
//! `pkg/controller/daemon/daemon_controller.go`, `update.go`, `util/daemonset_util.go`).
//!
//! One reconcile of a DaemonSet at `now`, as upstream's `syncDaemonSet`:
//!
//! 1. An empty selector, or a DaemonSet being deleted: nothing (upstream returns early too).
//! 2. **Claim** the namespace's pods (adopt matching orphans, release owned pods that stopped
//!    matching) and group the owned ones by their target node: `spec.nodeName`, or for a pod
//!    not yet scheduled the node its required node affinity pins (`metadata.name In [node]`).
//! 3. **Manage** (upstream `manage` / `podsShouldBeOnNode`), for every node (name order):
//!    - the node should run the pod ([`node_should_run`]: the template's `nodeName`, the
//!      node selector and required node affinity, and the node's `NoSchedule`/`NoExecute`
//!      taints against the template's tolerations plus the DaemonSet defaults, see
//!      [`add_daemon_tolerations`]) and has none: create one;
//!    - the pod may keep running (only `NoExecute` taints count): delete `Succeeded` pods,
//!      and `Failed` ones unless the node is backing off ([`FailedPodBackoff`]); without
//!      surge, keep the oldest running pod and delete the rest; with surge, keep the oldest
//!      new and oldest old pod while the new one is not yet available;
//!    - it may not: delete its pods.
//!
//!    Pods that target a node that does not exist and are not bound are deleted too.
//!    At most 250 creates and 250 deletes (upstream's DaemonSet `BurstReplicas`).
//! 4. **Rolling update** (strategy `RollingUpdate`, the default), only when manage had
//!    nothing to do (upstream waits for its expectations): without surge, delete old pods
//!    while fewer than `maxUnavailable` (of the desired count, rounding **up**; default 1)
//!    are unavailable — unavailable old pods first — and let the next manage create the new
//!    ones; with `maxSurge`, create new pods beside old ones (up to `maxSurge` at a time) and
//!    delete each old pod once its replacement is available.
//! 5. **Status** (upstream `updateDaemonSetStatus`), counted before this reconcile's writes:
//!    `desiredNumberScheduled`, `currentNumberScheduled`, `numberMisscheduled`,
//!    `numberReady`, `updatedNumberScheduled`, `numberAvailable`, `numberUnavailable`,
//!    `observedGeneration`; written only when one changed.
//!
//! # Pods and where they go
//!
//! A created pod is the template plus the DaemonSet default tolerations, the label
//! `controller-revision-hash` (the template's hash, see below), `generateName: <ds>-`, the
//! controller reference, and a **required node affinity** `metadata.name In [<node>]`
//! replacing any required node affinity of the template (upstream
//! `ReplaceDaemonSetPodNodeNameNodeAffinity`). skiff follows upstream here rather than setting
//! `nodeName`: the scheduler then still checks resources and ports, binds the pod, and can
//! preempt for it; the node selector and taints were already checked by this controller.
//!
//! # Simplifications
//!
//! - No ControllerRevisions (skiff does not serve them): the revision hash is
//!   [`crate::deployment::pod_template_hash`] of the template and `collisionCount`, so a
//!   DaemonSet cannot be rolled back to an earlier revision by `rollout undo`.
//! - No events (upstream's pod control writes `SuccessfulCreate` with the created pod's
//!   name, which a reconcile cannot know). The failed-pod backoff ([`FailedPodBackoff`]) requeues for the time left
//!   rather than for the whole delay.
//! - Upstream's per-node work follows its lister's (random) order; skiff's follows node names.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use skiff_core::object::{
    Affinity, DaemonSet, HasKindInfo, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, Object, Pod, PodSpec, Taint, Toleration,
};
use skiff_core::selector::Selector;

use crate::deployment::pod_template_hash;
use crate::reconcile::{Action, Controller, Output, Watched};
use crate::replicaset::podutil::{self, Availability};
use crate::view::{ObjectKey, View};

/// The label carrying the DaemonSet revision hash a pod was created from (upstream
/// `DefaultDaemonSetUniqueLabelKey`).
pub const CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";
/// The label carrying the template generation (upstream `DaemonSetTemplateGenerationKey`).
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// The annotation the API server keeps the template generation in (upstream
/// `deprecated.daemonset.template.generation`).
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";
/// upstream's DaemonSet controller `BurstReplicas`.
pub const DAEMON_BURST_REPLICAS: usize = 250;

/// The DaemonSet controller (upstream `daemonset-controller`). Its only state is the
/// failed-pod backoff, changed only by `reconcile`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DaemonSetController {
    /// Per node, how soon a failed daemon pod may be deleted again.
    pub backoff: FailedPodBackoff,
}

/// upstream `failedPodsBackoff` (`flowcontrol.NewBackOff(1s, 15m)`, no jitter): per
/// DaemonSet uid, observed generation and node, the delay before another failed daemon pod
/// there is deleted, doubling from 1 s to 15 min, forgotten after 30 min without a failure.
/// Without it the controller would fight a kubelet that keeps rejecting the pod.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailedPodBackoff {
    entries: BTreeMap<String, BackoffEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct BackoffEntry {
    delay: Duration,
    last_update: SystemTime,
}

/// The first failed-pod delay (upstream `failedPodsBackoff`'s initial duration).
pub const FAILED_POD_BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// The longest failed-pod delay (15 minutes).
pub const FAILED_POD_BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);

impl FailedPodBackoff {
    fn expired(entry: &BackoffEntry, now: SystemTime) -> bool {
        now.duration_since(entry.last_update)
            .is_ok_and(|d| d > 2 * FAILED_POD_BACKOFF_MAX)
    }

    /// upstream `IsInBackOffSinceUpdate`: the time left when `key` is still backing off.
    pub fn remaining(&self, key: &str, now: SystemTime) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        if Self::expired(entry, now) {
            return None;
        }
        let since = now.duration_since(entry.last_update).unwrap_or_default();
        entry.delay.checked_sub(since).filter(|d| !d.is_zero())
    }

    /// upstream `Next`: start at the initial delay (or after expiry), else double it up to the
    /// maximum; remember `now`.
    pub fn next(&mut self, key: &str, now: SystemTime) {
        let delay = match self.entries.get(key) {
            Some(e) if !Self::expired(e, now) => (e.delay * 2).min(FAILED_POD_BACKOFF_MAX),
            _ => FAILED_POD_BACKOFF_INITIAL,
        };
        self.entries.insert(
            key.to_owned(),
            BackoffEntry {
                delay,
                last_update: now,
            },
        );
    }

    /// The current delay of `key`, if it has one.
    pub fn delay(&self, key: &str) -> Option<Duration> {
        self.entries.get(key).map(|e| e.delay)
    }

    /// upstream `GC`: forgets expired entries.
    pub fn gc(&mut self, now: SystemTime) {
        self.entries.retain(|_, e| !Self::expired(e, now));
    }
}

/// upstream `failedPodsBackoffKey`: `<uid>/<observedGeneration>/<node>`.
fn backoff_key(ds: &DaemonSet, node: &str) -> String {
    format!(
        "{}/{}/{node}",
        ds.metadata.uid.as_deref().unwrap_or(""),
        ds.status.observed_generation.unwrap_or(0)
    )
}

// ---------------------------------------------------------------------------------------------
// Taints, tolerations, node affinity.
// ---------------------------------------------------------------------------------------------

/// upstream `FindMatchingUntoleratedTaint`: the first taint passing `filter` that no
/// toleration tolerates.
pub fn untolerated_taint<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| filter(t))
        .find(|t| !tolerations.iter().any(|tol| tol.tolerates(t)))
}

fn requirement_matches(requirement: &NodeSelectorRequirement, value: Option<&str>) -> Option<bool> {
    let values = &requirement.values;
    Some(match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| values.iter().all(|x| x != v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let [bound] = values.as_slice() else {
                return None;
            };
            let bound: i64 = bound.parse().ok()?;
            let Some(v) = value.and_then(|v| v.parse::<i64>().ok()) else {
                return Some(false);
            };
            if requirement.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => return None,
    })
}

/// upstream `nodeaffinity` term matching: every label expression holds for the node's labels
/// and every field expression (only `metadata.name`) for its name; a term with neither
/// matches no node, an invalid term matches nothing.
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    if term.match_expressions.is_empty() && term.match_fields.is_empty() {
        return false;
    }
    let labels = &node.metadata.labels;
    let by_label = term
        .match_expressions
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)) == Some(true));
    let by_field = term.match_fields.iter().all(|r| {
        r.key == "metadata.name"
            && matches!(r.operator.as_str(), "In" | "NotIn")
            && requirement_matches(r, Some(node.metadata.name_or_empty())) == Some(true)
    });
    by_label && by_field
}

/// upstream `GetRequiredNodeAffinity(pod).Match(node)`: the pod's `nodeSelector` labels are
/// all on the node, and any term of its required node affinity matches.
pub fn required_node_affinity_matches(spec: &PodSpec, node: &Node) -> bool {
    let labels = &node.metadata.labels;
    if !spec
        .node_selector
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    match spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        }) {
        None => true,
        Some(selector) => selector
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, node)),
    }
}

fn exists(key: &str, effect: &str) -> Toleration {
    Toleration {
        key: Some(key.to_owned()),
        operator: Some("Exists".to_owned()),
        effect: Some(effect.to_owned()),
        ..Toleration::default()
    }
}

/// upstream `AddOrUpdateDaemonPodTolerations`: DaemonSet pods tolerate `not-ready` and
/// `unreachable` `NoExecute` forever (no `tolerationSeconds`), and `disk-pressure`,
/// `memory-pressure`, `pid-pressure`, `unschedulable` `NoSchedule` (and with `hostNetwork`,
/// `network-unavailable` `NoSchedule`). A toleration with the same key, operator, value and
/// effect is replaced (upstream `AddOrUpdateTolerationInPodSpec`).
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut defaults = vec![
        exists("node.kubernetes.io/not-ready", "NoExecute"),
        exists("node.kubernetes.io/unreachable", "NoExecute"),
        exists("node.kubernetes.io/disk-pressure", "NoSchedule"),
        exists("node.kubernetes.io/memory-pressure", "NoSchedule"),
        exists("node.kubernetes.io/pid-pressure", "NoSchedule"),
        exists("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        defaults.push(exists(
            "node.kubernetes.io/network-unavailable",
            "NoSchedule",
        ));
    }
    for toleration in defaults {
        let same = |t: &Toleration| {
            t.key == toleration.key
                && t.effect == toleration.effect
                && t.operator == toleration.operator
                && t.value == toleration.value
        };
        if let Some(existing) = spec.tolerations.iter_mut().find(|t| same(t)) {
            *existing = toleration;
        } else {
            spec.tolerations.push(toleration);
        }
    }
}

/// upstream `NodeShouldRunDaemonPod`: `(should run, should continue running)`. The template's
/// `nodeName` (when set) must be the node; the node selector and required node affinity must
/// match; an untolerated `NoSchedule`/`NoExecute` taint stops new pods, and only an untolerated
/// `NoExecute` one evicts running pods.
pub fn node_should_run(ds: &DaemonSet, node: &Node) -> (bool, bool) {
    let mut spec = ds.spec.template.spec.clone();
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty())
        && name != node.metadata.name_or_empty()
    {
        return (false, false);
    }
    add_daemon_tolerations(&mut spec);
    if !required_node_affinity_matches(&spec, node) {
        return (false, false);
    }
    let taints = &node.spec.taints;
    let blocking = untolerated_taint(taints, &spec.tolerations, |t| {
        t.effect == "NoExecute" || t.effect == "NoSchedule"
    });
    if blocking.is_some() {
        let evicting = untolerated_taint(taints, &spec.tolerations, |t| t.effect == "NoExecute");
        return (false, evicting.is_none());
    }
    (true, true)
}

/// upstream `ReplaceDaemonSetPodNodeNameNodeAffinity`: the required node affinity becomes the
/// single term `metadata.name In [node]`, other affinity kept.
pub fn pin_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let selector = NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_expressions: Vec::new(),
            match_fields: vec![NodeSelectorRequirement {
                key: "metadata.name".to_owned(),
                operator: "In".to_owned(),
                values: vec![node.to_owned()],
            }],
        }],
    };
    let mut affinity = affinity.unwrap_or_default();
    affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default)
        .required_during_scheduling_ignored_during_execution = Some(selector);
    affinity
}

/// upstream `GetTargetNodeName`: `spec.nodeName`, or the single node a required
/// `metadata.name In [node]` field term pins.
pub fn target_node(pod: &Pod) -> Option<&str> {
    if let Some(n) = pod.spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n);
    }
    let terms = &pod
        .spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields
            .iter()
            .find_map(|r| match r.values.as_slice() {
                [node] if r.key == "metadata.name" && r.operator == "In" => Some(node.as_str()),
                _ => None,
            })
    })
}

// ---------------------------------------------------------------------------------------------
// The reconcile.
// ---------------------------------------------------------------------------------------------

/// The DaemonSet's selector, `None` when missing, empty or invalid.
pub fn daemon_set_selector(ds: &DaemonSet) -> Option<Selector> {
    let s = ds.spec.selector.as_ref()?;
    if s.is_empty() {
        return None;
    }
    s.to_selector().ok()
}

/// The revision hash of the DaemonSet's current template.
pub fn revision_hash(ds: &DaemonSet) -> String {
    pod_template_hash(&ds.spec.template, ds.status.collision_count)
}

fn template_generation(ds: &DaemonSet) -> Option<&str> {
    ds.metadata
        .annotations
        .get(TEMPLATE_GENERATION_ANNOTATION)
        .map(String::as_str)
}

/// upstream `IsPodUpdated`: the pod carries the current hash (or template generation).
fn is_updated(pod: &Pod, hash: &str, generation: Option<&str>) -> bool {
    let labels = &pod.metadata.labels;
    labels.get(CONTROLLER_REVISION_HASH).map(String::as_str) == Some(hash)
        || generation
            .is_some_and(|g| labels.get(TEMPLATE_GENERATION_LABEL).map(String::as_str) == Some(g))
}

/// upstream `podByCreationTimestampAndPhase`: bound pods first, then older, then by name.
fn by_creation_and_phase(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    let bound = |p: &Pod| p.spec.node_name.as_deref().is_some_and(|n| !n.is_empty());
    bound(b)
        .cmp(&bound(a))
        .then_with(|| {
            let t = |p: &Pod| p.metadata.creation_timestamp.map_or(0, |t| t.unix_seconds);
            t(a).cmp(&t(b))
        })
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

fn is_rolling(ds: &DaemonSet) -> bool {
    ds.spec
        .update_strategy
        .type_
        .as_deref()
        .unwrap_or("RollingUpdate")
        == "RollingUpdate"
}

/// upstream `SurgeCount` / `UnavailableCount` (both round **up**), with the API defaults
/// (`maxUnavailable: 1`, `maxSurge: 0`) for unset values; when both are 0 with pods to
/// schedule, `maxUnavailable` is 1.
pub fn surge_and_unavailable(ds: &DaemonSet, desired: i32) -> (i32, i32) {
    if !is_rolling(ds) {
        return (0, 0);
    }
    let rolling = ds.spec.update_strategy.rolling_update.as_ref();
    let scaled = |v: Option<&skiff_core::object::IntOrString>, default: i32| {
        v.map_or(Ok(default), |v| v.scaled_value(desired, true))
            .unwrap_or(0)
    };
    let surge = scaled(rolling.and_then(|r| r.max_surge.as_ref()), 0);
    let unavailable = scaled(rolling.and_then(|r| r.max_unavailable.as_ref()), 1);
    if desired > 0 && surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// What `manage` decided: nodes needing a pod, pods to delete, and when a backed-off node
/// may be looked at again.
#[derive(Debug, Default)]
struct Managed {
    create: Vec<String>,
    delete: Vec<String>,
    requeue_after: Option<Duration>,
}

struct Sync<'a> {
    ds: &'a DaemonSet,
    hash: String,
    nodes: Vec<&'a Node>,
    /// Owned pods by target node (terminal pods being deleted left out).
    by_node: BTreeMap<String, Vec<&'a Pod>>,
    /// [`node_should_run`] of every node, computed once.
    eligible: BTreeMap<&'a str, (bool, bool)>,
    now: SystemTime,
}

impl Sync<'_> {
    fn eligibility(&self, node: &Node) -> (bool, bool) {
        self.eligible
            .get(node.metadata.name_or_empty())
            .copied()
            .unwrap_or_else(|| node_should_run(self.ds, node))
    }

    fn min_ready(&self) -> i32 {
        self.ds.spec.min_ready_seconds.unwrap_or(0)
    }

    fn available(&self, pod: &Pod) -> bool {
        podutil::availability(pod, self.min_ready(), self.now) == Availability::Available
    }

    /// upstream `podsShouldBeOnNode`.
    fn should_be_on_node(&self, node: &Node, backoff: &mut FailedPodBackoff, out: &mut Managed) {
        let (create, delete) = (&mut out.create, &mut out.delete);
        let (should_run, should_continue) = self.eligibility(node);
        let name = node.metadata.name_or_empty();
        let pods = self.by_node.get(name);
        let surge = surge_and_unavailable(self.ds, 1).0 > 0;
        if should_run && pods.is_none() {
            create.push(name.to_owned());
            return;
        }
        let Some(pods) = pods else { return };
        if should_continue {
            let mut running: Vec<&Pod> = Vec::new();
            for pod in pods
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
            {
                match pod.status.phase.as_deref() {
                    Some("Failed") => {
                        // upstream: back off per node before deleting another failed pod.
                        let key = backoff_key(self.ds, name);
                        if let Some(left) = backoff.remaining(&key, self.now) {
                            out.requeue_after =
                                Some(out.requeue_after.map_or(left, |d| d.min(left)));
                            continue;
                        }
                        backoff.next(&key, self.now);
                        delete.push(pod.metadata.name_or_empty().to_owned());
                    }
                    Some("Succeeded") => delete.push(pod.metadata.name_or_empty().to_owned()),
                    _ => running.push(pod),
                }
            }
            running.sort_by(|a, b| by_creation_and_phase(a, b));
            if !surge {
                delete.extend(
                    running
                        .iter()
                        .skip(1)
                        .map(|p| p.metadata.name_or_empty().to_owned()),
                );
                return;
            }
            let mut oldest_new: Option<&Pod> = None;
            let mut oldest_old: Option<&Pod> = None;
            for pod in running {
                let slot = if pod.metadata.labels.get(CONTROLLER_REVISION_HASH) == Some(&self.hash)
                {
                    &mut oldest_new
                } else {
                    &mut oldest_old
                };
                if slot.is_none() {
                    *slot = Some(pod);
                } else {
                    delete.push(pod.metadata.name_or_empty().to_owned());
                }
            }
            if let (Some(new), Some(old)) = (oldest_new, oldest_old)
                && (!podutil::is_pod_ready(old) || self.available(new))
            {
                delete.push(old.metadata.name_or_empty().to_owned());
            }
        } else {
            delete.extend(
                pods.iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .map(|p| p.metadata.name_or_empty().to_owned()),
            );
        }
    }

    /// upstream `manage`: (nodes needing a pod, pods to delete).
    fn manage(&self, backoff: &mut FailedPodBackoff) -> Managed {
        let mut out = Managed::default();
        for node in &self.nodes {
            self.should_be_on_node(node, backoff, &mut out);
        }
        let Managed {
            create,
            mut delete,
            requeue_after,
        } = out;
        // upstream getUnscheduledPodsWithoutNode.
        for (node, pods) in &self.by_node {
            if self.eligible.contains_key(node.as_str()) {
                continue;
            }
            delete.extend(
                pods.iter()
                    .filter(|p| p.spec.node_name.as_deref().is_none_or(str::is_empty))
                    .map(|p| p.metadata.name_or_empty().to_owned()),
            );
        }
        Managed {
            create,
            delete,
            requeue_after,
        }
    }

    /// upstream `findUpdatedPodsOnNode`: `None` when the node has more than one new or more
    /// than one old pod.
    fn split_on_node<'p>(&self, pods: &[&'p Pod]) -> Option<(Option<&'p Pod>, Option<&'p Pod>)> {
        let generation = template_generation(self.ds);
        let mut new = None;
        let mut old = None;
        for pod in pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
        {
            let slot = if is_updated(pod, &self.hash, generation) {
                &mut new
            } else {
                &mut old
            };
            if slot.is_some() {
                return None;
            }
            *slot = Some(*pod);
        }
        Some((new, old))
    }

    /// upstream `rollingUpdate`: (nodes to create on, pods to delete).
    fn rolling_update(&self) -> (Vec<String>, Vec<String>) {
        let mut per_node: BTreeMap<&str, Vec<&Pod>> = self
            .by_node
            .iter()
            .map(|(n, pods)| (n.as_str(), pods.clone()))
            .collect();
        let mut desired = 0;
        for node in &self.nodes {
            if self.eligibility(node).0 {
                desired += 1;
                per_node.entry(node.metadata.name_or_empty()).or_default();
            }
        }
        let (max_surge, max_unavailable) = surge_and_unavailable(self.ds, desired);
        if max_surge == 0 {
            self.rolling_without_surge(&per_node, max_unavailable)
        } else {
            self.rolling_with_surge(&per_node, desired, max_surge)
        }
    }

    /// upstream `rollingUpdate` without surge: delete old pods while fewer than
    /// `maxUnavailable` nodes are unavailable, unavailable old pods first.
    fn rolling_without_surge(
        &self,
        per_node: &BTreeMap<&str, Vec<&Pod>>,
        max_unavailable: i32,
    ) -> (Vec<String>, Vec<String>) {
        let name = |p: &Pod| p.metadata.name_or_empty().to_owned();
        let mut unavailable = 0;
        let mut replacements = Vec::new();
        let mut candidates = Vec::new();
        for pods in per_node.values() {
            let Some((new, old)) = self.split_on_node(pods) else {
                unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(new), None) => {
                    if !self.available(new) {
                        unavailable += 1;
                    }
                }
                (None, Some(old)) => {
                    if !self.available(old) {
                        replacements.push(name(old));
                        unavailable += 1;
                    } else if unavailable < max_unavailable {
                        candidates.push(name(old));
                    }
                }
            }
        }
        let room = usize::try_from(max_unavailable.saturating_sub(unavailable).max(0))
            .unwrap_or(0)
            .min(candidates.len());
        replacements.extend(candidates.into_iter().take(room));
        (Vec::new(), replacements)
    }

    /// upstream `rollingUpdate` with surge: a new pod beside each old one (at most
    /// `maxSurge` at a time; at once where the old pod is unavailable), the old one deleted
    /// once the new one is available.
    fn rolling_with_surge(
        &self,
        per_node: &BTreeMap<&str, Vec<&Pod>>,
        desired: i32,
        max_surge: i32,
    ) -> (Vec<String>, Vec<String>) {
        let name = |p: &Pod| p.metadata.name_or_empty().to_owned();
        let mut delete = Vec::new();
        let mut not_run_delete = Vec::new();
        let mut candidates = Vec::new();
        let mut allowed = Vec::new();
        let mut surging = 0;
        let mut available: i32 = 0;
        for (node_name, pods) in per_node {
            let Some((new, old)) = self.split_on_node(pods) else {
                surging += 1;
                continue;
            };
            if let Some(p) = old.or(new)
                && self.available(p)
            {
                available += 1;
            }
            let should_run = || self.eligible.get(node_name).is_some_and(|e| e.0);
            match (new, old) {
                (_, None) => {}
                (None, Some(old)) => {
                    if !self.available(old) {
                        if should_run() {
                            allowed.push((*node_name).to_owned());
                        } else {
                            delete.push(name(old));
                        }
                    } else if !should_run() {
                        not_run_delete.push(name(old));
                    } else if surging < max_surge {
                        candidates.push((*node_name).to_owned());
                    }
                }
                (Some(new), Some(old)) => {
                    if self.available(new) {
                        delete.push(name(old));
                    } else {
                        surging += 1;
                    }
                }
            }
        }
        let deletable = usize::try_from(available.saturating_sub(desired).max(0))
            .unwrap_or(0)
            .min(not_run_delete.len());
        delete.extend(not_run_delete.into_iter().take(deletable));
        let room = usize::try_from(max_surge.saturating_sub(surging).max(0))
            .unwrap_or(0)
            .min(candidates.len());
        allowed.extend(candidates.into_iter().take(room));
        (allowed, delete)
    }

    /// The pod to create on `node` (upstream `CreatePodTemplate` + the node affinity pin).
    fn pod_for(&self, node: &str) -> Pod {
        let mut template = self.ds.spec.template.clone();
        add_daemon_tolerations(&mut template.spec);
        if let Some(g) = template_generation(self.ds) {
            template
                .metadata
                .labels
                .insert(TEMPLATE_GENERATION_LABEL.to_owned(), g.to_owned());
        }
        template
            .metadata
            .labels
            .insert(CONTROLLER_REVISION_HASH.to_owned(), self.hash.clone());
        template.spec.affinity = Some(pin_to_node(template.spec.affinity.take(), node));
        podutil::pod_from_template(&template, &DaemonSet::INFO, &self.ds.metadata)
    }

    /// upstream `syncNodes`: creates (burst-capped, slow start through the action order),
    /// then deletes (burst-capped) with the pods' uids as preconditions.
    fn sync_nodes(&self, create: &[String], delete: &[String], pods: &[&Pod]) -> Vec<Action> {
        let mut actions: Vec<Action> = create
            .iter()
            .take(DAEMON_BURST_REPLICAS)
            .map(|node| Action::Create(self.pod_for(node).into()))
            .collect();
        for name in delete.iter().take(DAEMON_BURST_REPLICAS) {
            if let Some(pod) = pods.iter().find(|p| p.metadata.name_or_empty() == name) {
                actions.push(podutil::delete_pod(pod));
            }
        }
        actions
    }

    /// upstream `updateDaemonSetStatus`: the status and how long until a ready pod becomes
    /// available.
    fn status(&self) -> (skiff_core::object::DaemonSetStatus, Option<Duration>) {
        let mut s = self.ds.status.clone();
        let (mut desired, mut current, mut misscheduled, mut ready, mut updated, mut available) =
            (0, 0, 0, 0, 0, 0);
        let mut requeue: Option<Duration> = None;
        let generation = template_generation(self.ds);
        for node in &self.nodes {
            let (should_run, _) = self.eligibility(node);
            let pods = self
                .by_node
                .get(node.metadata.name_or_empty())
                .filter(|p| !p.is_empty());
            if !should_run {
                if pods.is_some() {
                    misscheduled += 1;
                }
                continue;
            }
            desired += 1;
            let Some(pods) = pods else { continue };
            current += 1;
            let mut sorted = pods.clone();
            sorted.sort_by(|a, b| by_creation_and_phase(a, b));
            let pod = sorted[0];
            match podutil::availability(pod, self.min_ready(), self.now) {
                Availability::NotReady => {}
                Availability::ReadyFor { left } => {
                    ready += 1;
                    requeue = Some(requeue.map_or(left, |d| d.min(left)));
                }
                Availability::Available => {
                    ready += 1;
                    available += 1;
                }
            }
            if is_updated(pod, &self.hash, generation) {
                updated += 1;
            }
        }
        let opt = |n: i32| (n != 0).then_some(n);
        s.desired_number_scheduled = desired;
        s.current_number_scheduled = current;
        s.number_misscheduled = misscheduled;
        s.number_ready = ready;
        s.updated_number_scheduled = opt(updated);
        s.number_available = opt(available);
        s.number_unavailable = opt(desired - available);
        let generation = self.ds.metadata.generation.unwrap_or(0);
        s.observed_generation = (generation != 0).then_some(generation);
        (s, requeue)
    }
}

/// Reconciles the DaemonSet at `key` with no failed-pod history (pure: view and `now` in,
/// actions out): [`reconcile_daemon_set_with`] and a fresh [`FailedPodBackoff`].
pub fn reconcile_daemon_set(view: &View, key: &ObjectKey, now: SystemTime) -> Output {
    reconcile_daemon_set_with(view, key, now, &mut FailedPodBackoff::default())
}

/// Reconciles the DaemonSet at `key`, consulting and updating the failed-pod `backoff` (the
/// controller's only state): same view, `now` and backoff give the same output and backoff.
pub fn reconcile_daemon_set_with(
    view: &View,
    key: &ObjectKey,
    now: SystemTime,
    backoff: &mut FailedPodBackoff,
) -> Output {
    let Some(ds) = view.get::<DaemonSet>(&key.namespace, &key.name) else {
        return Output::none();
    };
    let Some(selector) = daemon_set_selector(ds) else {
        return Output::none();
    };
    if ds.metadata.deletion_timestamp.is_some() {
        return Output::none();
    }
    let pods: Vec<&Pod> = view.list_in::<Pod>(&key.namespace).collect();
    let claimed = podutil::claim(
        &DaemonSet::INFO,
        &ds.metadata,
        &selector,
        pods.iter().copied(),
    );
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for pod in &claimed.owned {
        let terminal = matches!(pod.status.phase.as_deref(), Some("Failed" | "Succeeded"));
        if terminal && pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(node) = target_node(pod) {
            by_node.entry(node.to_owned()).or_default().push(pod);
        }
    }
    let nodes: Vec<&Node> = view.list::<Node>().collect();
    let eligible = nodes
        .iter()
        .map(|n| (n.metadata.name_or_empty(), node_should_run(ds, n)))
        .collect();
    let sync = Sync {
        ds,
        hash: revision_hash(ds),
        nodes,
        by_node,
        eligible,
        now,
    };
    let (status, mut requeue_after) = sync.status();
    let mut actions = claimed.actions;
    let Managed {
        create,
        delete,
        requeue_after: backed_off,
    } = sync.manage(backoff);
    if let Some(left) = backed_off {
        requeue_after = Some(requeue_after.map_or(left, |d| d.min(left)));
    }
    if create.is_empty() && delete.is_empty() {
        if is_rolling(ds) {
            let (create, delete) = sync.rolling_update();
            actions.extend(sync.sync_nodes(&create, &delete, &claimed.owned));
        }
    } else {
        actions.extend(sync.sync_nodes(&create, &delete, &claimed.owned));
    }
    let old = &ds.status;
    let unchanged = old.desired_number_scheduled == status.desired_number_scheduled
        && old.current_number_scheduled == status.current_number_scheduled
        && old.number_misscheduled == status.number_misscheduled
        && old.number_ready == status.number_ready
        && old.updated_number_scheduled.unwrap_or(0)
            == status.updated_number_scheduled.unwrap_or(0)
        && old.number_available.unwrap_or(0) == status.number_available.unwrap_or(0)
        && old.number_unavailable.unwrap_or(0) == status.number_unavailable.unwrap_or(0)
        && old.observed_generation.unwrap_or(0) >= ds.metadata.generation.unwrap_or(0);
    if !unchanged {
        let mut next = ds.clone();
        next.status = status;
        actions.push(Action::UpdateStatus(next.into()));
    }
    Output {
        actions,
        requeue_after,
    }
}

/// `kubectl rollout status` for one look at a DaemonSet (upstream kubectl
/// `DaemonSetStatusViewer.Status`): the line to print and whether the rollout is done.
///
/// # Errors
///
/// kubectl's `rollout status is only available for RollingUpdate strategy type` for any
/// other strategy.
pub fn rollout_status(ds: &DaemonSet) -> Result<(String, bool), String> {
    if !is_rolling(ds) {
        return Err("rollout status is only available for RollingUpdate strategy type".to_owned());
    }
    let name = ds.metadata.name_or_empty();
    let s = &ds.status;
    if ds.metadata.generation.unwrap_or(0) > s.observed_generation.unwrap_or(0) {
        return Ok((
            "Waiting for daemon set spec update to be observed...\n".to_owned(),
            false,
        ));
    }
    let desired = s.desired_number_scheduled;
    let updated = s.updated_number_scheduled.unwrap_or(0);
    let available = s.number_available.unwrap_or(0);
    if updated < desired {
        return Ok((
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated...\n"
            ),
            false,
        ));
    }
    if available < desired {
        return Ok((
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available...\n"
            ),
            false,
        ));
    }
    Ok((
        format!("daemon set {name:?} successfully rolled out\n"),
        true,
    ))
}

fn daemon_set_keys(view: &View, pod: &Pod) -> Vec<ObjectKey> {
    let namespace = pod.metadata.namespace_or_empty();
    if let Some(r) = pod.metadata.controller_ref() {
        if r.kind != DaemonSet::INFO.kind {
            return Vec::new();
        }
        return match view.get::<DaemonSet>(namespace, &r.name) {
            Some(ds) if ds.metadata.uid.as_deref() == Some(r.uid.as_str()) => {
                vec![ObjectKey::new(namespace, r.name.clone())]
            }
            _ => Vec::new(),
        };
    }
    view.list_in::<DaemonSet>(namespace)
        .filter(|ds| daemon_set_selector(ds).is_some_and(|s| s.matches(&pod.metadata.labels)))
        .map(|ds| ObjectKey::new(namespace, ds.metadata.name_or_empty()))
        .collect()
}

fn all_keys(view: &View) -> Vec<ObjectKey> {
    view.list::<DaemonSet>()
        .map(|ds| {
            ObjectKey::new(
                ds.metadata.namespace_or_empty(),
                ds.metadata.name_or_empty(),
            )
        })
        .collect()
}

impl Controller for DaemonSetController {
    fn name(&self) -> &'static str {
        "daemonset-controller"
    }

    fn watches(&self) -> Vec<Watched> {
        vec![
            Watched::all(&DaemonSet::INFO),
            Watched::all(&Pod::INFO),
            Watched::all(&Node::INFO),
        ]
    }

    fn keys_for(&self, view: &View, object: &Object) -> Vec<ObjectKey> {
        match object {
            Object::DaemonSet(_) => vec![ObjectKey::of(object)],
            Object::Pod(pod) => daemon_set_keys(view, pod),
            // A node change can change where every DaemonSet should run.
            Object::Node(_) => all_keys(view),
            _ => Vec::new(),
        }
    }

    fn resync_keys(&self, view: &View) -> Vec<ObjectKey> {
        all_keys(view)
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, now: SystemTime) -> Output {
        self.backoff.gc(now);
        reconcile_daemon_set_with(view, key, now, &mut self.backoff)
    }
}
