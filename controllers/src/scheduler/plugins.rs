//! The default filter and score plugins skiff runs (upstream `pkg/scheduler/framework/plugins`,
//! default order from `apis/config/v1/default_plugins.go`):
//!
//! - filters, in order: NodeUnschedulable, NodeName, TaintToleration, NodeAffinity
//!   (`nodeSelector` and required terms), NodePorts, NodeResourcesFit (cpu, memory, pods). As
//!   upstream's `RunFilterPlugins`, the first failing plugin decides a node's reasons.
//! - scores, each 0–100 (`MaxNodeScore`) times its weight: TaintToleration ×3
//!   (PreferNoSchedule, reverse-normalized), NodeAffinity ×2 (preferred terms, normalized),
//!   NodeResourcesFit ×1 (LeastAllocated, cpu:1 memory:1), NodeResourcesBalancedAllocation ×1.
//!
//! Not run (skiff has nothing for them to act on yet): volume plugins, PodTopologySpread,
//! InterPodAffinity, ImageLocality, DefaultPreemption.

use std::collections::BTreeMap;
use std::fmt;

use skiff_core::object::{NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration};

use super::snapshot::{NodeInfo, PodInfo};

/// Highest score one plugin gives a node (upstream `MaxNodeScore`).
pub const MAX_NODE_SCORE: i64 = 100;
/// Score weight of TaintToleration (upstream default plugins).
pub const WEIGHT_TAINT_TOLERATION: i64 = 3;
/// Score weight of NodeAffinity.
pub const WEIGHT_NODE_AFFINITY: i64 = 2;
/// Score weight of NodeResourcesFit.
pub const WEIGHT_NODE_RESOURCES_FIT: i64 = 1;
/// Score weight of NodeResourcesBalancedAllocation.
pub const WEIGHT_BALANCED_ALLOCATION: i64 = 1;

/// The taint a cordoned node is treated as having (upstream `TaintNodeUnschedulable`).
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Why a node cannot take a pod, worded as upstream's plugin reasons.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// NodeUnschedulable: the node is cordoned and the pod does not tolerate it.
    Unschedulable,
    /// NodeName: the pod names another node.
    NodeName,
    /// TaintToleration: the first NoSchedule/NoExecute taint the pod does not tolerate.
    UntoleratedTaint {
        /// Taint key.
        key: String,
        /// Taint value (empty when unset).
        value: String,
    },
    /// NodeAffinity: `nodeSelector` or the required terms do not match.
    NodeAffinity,
    /// NodePorts: a requested host port is taken.
    NodePorts,
    /// NodeResourcesFit: not enough cpu left.
    InsufficientCpu,
    /// NodeResourcesFit: not enough memory left.
    InsufficientMemory,
    /// NodeResourcesFit: the node's pod count is at its allocatable `pods`.
    TooManyPods,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // upstream nodeunschedulable.ErrReasonUnschedulable
            Reason::Unschedulable => f.write_str("node(s) were unschedulable"),
            // upstream nodename.ErrReason
            Reason::NodeName => f.write_str("node(s) didn't match the requested node name"),
            // upstream tainttoleration: "node(s) had untolerated taint {%s: %s}"
            Reason::UntoleratedTaint { key, value } => {
                write!(f, "node(s) had untolerated taint {{{key}: {value}}}")
            }
            // upstream nodeaffinity.ErrReasonPod
            Reason::NodeAffinity => {
                f.write_str("node(s) didn't match Pod's node affinity/selector")
            }
            // upstream nodeports.ErrReason
            Reason::NodePorts => {
                f.write_str("node(s) didn't have free ports for the requested pod ports")
            }
            // upstream noderesources: "Insufficient " + resource name, ErrReasonTooManyPods
            Reason::InsufficientCpu => f.write_str("Insufficient cpu"),
            Reason::InsufficientMemory => f.write_str("Insufficient memory"),
            Reason::TooManyPods => f.write_str("Too many pods"),
        }
    }
}

/// No node can take the pod (upstream `FitError`): how many nodes there were and how many
/// failed for each reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FitError {
    /// Nodes in the snapshot.
    pub num_all_nodes: usize,
    /// Failing nodes per reason (a node short of cpu and memory counts for both).
    pub reasons: BTreeMap<Reason, usize>,
}

impl fmt::Display for FitError {
    /// Upstream `FitError.Error()`: `0/N nodes are available: ` then `"<count> <reason>"`
    /// items sorted as strings, joined by `, `, ending in `.`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        let mut items: Vec<String> = self
            .reasons
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        items.sort();
        if !items.is_empty() {
            write!(f, " {}.", items.join(", "))?;
        }
        Ok(())
    }
}

fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

/// NodeUnschedulable: a cordoned node takes only pods tolerating
/// `node.kubernetes.io/unschedulable:NoSchedule`.
fn node_unschedulable_fits(pod: &Pod, node: &NodeInfo) -> bool {
    !node.unschedulable
        || tolerated(
            &pod.spec.tolerations,
            &Taint {
                key: TAINT_NODE_UNSCHEDULABLE.to_owned(),
                effect: "NoSchedule".to_owned(),
                ..Taint::default()
            },
        )
}

/// NodeName: a pod naming a node fits only there.
fn node_name_fits(pod: &Pod, node: &NodeInfo) -> bool {
    match pod.spec.node_name.as_deref() {
        None | Some("") => true,
        Some(name) => name == node.name,
    }
}

/// TaintToleration filter: the first NoSchedule or NoExecute taint (in the node's order) the
/// pod does not tolerate.
fn untolerated_taint<'n>(pod: &Pod, node: &'n NodeInfo) -> Option<&'n Taint> {
    node.taints.iter().find(|taint| {
        matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute")
            && !tolerated(&pod.spec.tolerations, taint)
    })
}

/// One label requirement (upstream `nodeSelectorRequirementsAsSelector` semantics); `None`
/// when the requirement is malformed, which makes its term match nothing.
fn label_requirement_matches(
    req: &NodeSelectorRequirement,
    labels: &BTreeMap<String, String>,
) -> Option<bool> {
    let value = labels.get(&req.key);
    let single_int = || -> Option<i64> {
        match req.values.as_slice() {
            [v] => v.parse().ok(),
            _ => None,
        }
    };
    match req.operator.as_str() {
        "In" if !req.values.is_empty() => Some(value.is_some_and(|v| req.values.contains(v))),
        "NotIn" if !req.values.is_empty() => Some(!value.is_some_and(|v| req.values.contains(v))),
        "Exists" if req.values.is_empty() => Some(value.is_some()),
        "DoesNotExist" if req.values.is_empty() => Some(value.is_none()),
        "Gt" => {
            let bound = single_int()?;
            Some(
                value
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > bound),
            )
        }
        "Lt" => {
            let bound = single_int()?;
            Some(
                value
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < bound),
            )
        }
        _ => None,
    }
}

/// One field requirement: only `metadata.name` with `In`/`NotIn` (upstream node field
/// selector keys).
fn field_requirement_matches(req: &NodeSelectorRequirement, name: &str) -> Option<bool> {
    if req.key != "metadata.name" {
        return None;
    }
    match req.operator.as_str() {
        "In" if !req.values.is_empty() => Some(req.values.iter().any(|v| v == name)),
        "NotIn" if !req.values.is_empty() => Some(!req.values.iter().any(|v| v == name)),
        _ => None,
    }
}

/// Whether a node selector term matches: every expression and field requirement holds. An
/// empty or malformed term matches nothing (upstream API docs: "A null or empty node selector
/// term matches no objects").
pub fn term_matches(term: &NodeSelectorTerm, node: &NodeInfo) -> bool {
    if term.match_expressions.is_empty() && term.match_fields.is_empty() {
        return false;
    }
    term.match_expressions
        .iter()
        .all(|r| label_requirement_matches(r, &node.labels) == Some(true))
        && term
            .match_fields
            .iter()
            .all(|r| field_requirement_matches(r, &node.name) == Some(true))
}

/// NodeAffinity filter (upstream `RequiredNodeAffinity.Match`): every `nodeSelector` label
/// equal, and, when required terms are given, at least one of them matching.
fn node_affinity_fits(pod: &Pod, node: &NodeInfo) -> bool {
    let selector_ok = pod
        .spec
        .node_selector
        .iter()
        .all(|(k, v)| node.labels.get(k) == Some(v));
    if !selector_ok {
        return false;
    }
    let required = pod
        .spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    required.is_none_or(|sel| {
        sel.node_selector_terms
            .iter()
            .any(|t| term_matches(t, node))
    })
}

/// NodePorts filter: no requested host port conflicts with one in use.
fn node_ports_fit(pod: &PodInfo<'_>, node: &NodeInfo) -> bool {
    !pod.host_ports
        .iter()
        .any(|want| node.used_ports.iter().any(|used| used.conflicts_with(want)))
}

/// NodeResourcesFit filter (upstream `fitsRequest`): the pod count first, then — unless the
/// pod requests nothing — each requested resource against what is left.
fn resources_fit(pod: &PodInfo<'_>, node: &NodeInfo, reasons: &mut Vec<Reason>) {
    if node.pods + 1 > node.allowed_pods {
        reasons.push(Reason::TooManyPods);
    }
    let want = pod.requests.fit;
    let left = node.allocatable.minus(node.requested);
    if want.milli_cpu > 0 && want.milli_cpu > left.milli_cpu {
        reasons.push(Reason::InsufficientCpu);
    }
    if want.memory > 0 && want.memory > left.memory {
        reasons.push(Reason::InsufficientMemory);
    }
}

/// Runs the filters on one node, in upstream order, stopping at the first plugin that fails;
/// `true` if the node fits, otherwise the reasons are in `reasons` (cleared first).
pub fn filter(pod: &PodInfo<'_>, node: &NodeInfo, reasons: &mut Vec<Reason>) -> bool {
    reasons.clear();
    let p = pod.pod;
    if !node_unschedulable_fits(p, node) {
        reasons.push(Reason::Unschedulable);
    } else if !node_name_fits(p, node) {
        reasons.push(Reason::NodeName);
    } else if let Some(taint) = untolerated_taint(p, node) {
        reasons.push(Reason::UntoleratedTaint {
            key: taint.key.clone(),
            value: taint.value.clone().unwrap_or_default(),
        });
    } else if !node_affinity_fits(p, node) {
        reasons.push(Reason::NodeAffinity);
    } else if !node_ports_fit(pod, node) {
        reasons.push(Reason::NodePorts);
    } else {
        resources_fit(pod, node, reasons);
    }
    reasons.is_empty()
}

// ---------------------------------------------------------------------------------------------
// Scores
// ---------------------------------------------------------------------------------------------

/// Upstream `leastRequestedScore`: `(capacity − requested) × 100 / capacity`, 0 when over.
fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    let score =
        (i128::from(capacity - requested) * i128::from(MAX_NODE_SCORE)) / i128::from(capacity);
    i64::try_from(score).unwrap_or(0)
}

/// NodeResourcesFit score, LeastAllocated with cpu:1 and memory:1 (upstream
/// `leastResourceScorer`): the non-zero requests of the node's pods plus this pod's, against
/// allocatable; resources with zero allocatable are left out of the weighted mean.
pub fn least_allocated(pod: &PodInfo<'_>, node: &NodeInfo) -> i64 {
    let requested = node.non_zero_requested.plus(pod.requests.non_zero);
    let mut score = 0;
    let mut weights = 0;
    for (req, alloc) in [
        (requested.milli_cpu, node.allocatable.milli_cpu),
        (requested.memory, node.allocatable.memory),
    ] {
        if alloc == 0 {
            continue;
        }
        score += least_requested_score(req, alloc);
        weights += 1;
    }
    if weights == 0 { 0 } else { score / weights }
}

/// NodeResourcesBalancedAllocation score (upstream `balancedResourceScorer`, `useRequested`):
/// `(1 − std) × 100` of the cpu and memory fractions requested after placing the pod, each
/// capped at 1. Best-effort pods (no requests) are skipped (score 0 everywhere), as upstream
/// since kubernetes#129138.
pub fn balanced_allocation(pod: &PodInfo<'_>, node: &NodeInfo) -> i64 {
    let want = pod.requests.fit;
    if want.milli_cpu == 0 && want.memory == 0 {
        return 0;
    }
    let requested = node.requested.plus(want);
    let mut fractions = [0.0_f64; 2];
    let mut n = 0;
    for (req, alloc) in [
        (requested.milli_cpu, node.allocatable.milli_cpu),
        (requested.memory, node.allocatable.memory),
    ] {
        if alloc == 0 {
            continue;
        }
        #[allow(
            clippy::cast_precision_loss,
            reason = "upstream computes the fraction in float64 too"
        )]
        let fraction = (req as f64 / alloc as f64).min(1.0);
        fractions[n] = fraction;
        n += 1;
    }
    let std = if n == 2 {
        ((fractions[0] - fractions[1]) / 2.0).abs()
    } else {
        0.0
    };
    #[allow(
        clippy::cast_possible_truncation,
        reason = "a value in 0..=100, truncated like upstream's int64()"
    )]
    let score = ((1.0 - std) * 100.0) as i64;
    score
}

/// Tolerations that count for PreferNoSchedule scoring (upstream
/// `getAllTolerationPreferNoSchedule`: empty effect or PreferNoSchedule).
pub fn prefer_no_schedule_tolerations(pod: &Pod) -> Vec<&Toleration> {
    pod.spec
        .tolerations
        .iter()
        .filter(|t| matches!(t.effect.as_deref(), None | Some("" | "PreferNoSchedule")))
        .collect()
}

/// TaintToleration raw score: PreferNoSchedule taints the pod does not tolerate (reverse-
/// normalized later: fewer is better).
pub fn intolerable_prefer_no_schedule(tolerations: &[&Toleration], node: &NodeInfo) -> i64 {
    let count = node
        .taints
        .iter()
        .filter(|t| {
            t.effect == "PreferNoSchedule" && !tolerations.iter().any(|tol| tol.tolerates(t))
        })
        .count();
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// NodeAffinity raw score: the sum of the weights of the preferred terms the node matches.
pub fn preferred_affinity(pod: &Pod, node: &NodeInfo) -> i64 {
    let Some(na) = pod
        .spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
    else {
        return 0;
    };
    na.preferred_during_scheduling_ignored_during_execution
        .iter()
        .filter(|p| p.weight != 0 && term_matches(&p.preference, node))
        .map(|p| i64::from(p.weight))
        .sum()
}

/// Upstream `helper.DefaultNormalizeScore`: scale to 0..=`MAX_NODE_SCORE` by the highest
/// score (integer division), or reversed (`MAX − score`); all zero stays zero, or all
/// `MAX_NODE_SCORE` when reversed.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0).max(0);
    if max == 0 {
        if reverse {
            scores.fill(MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores {
        let scaled = MAX_NODE_SCORE * *s / max;
        *s = if reverse {
            MAX_NODE_SCORE - scaled
        } else {
            scaled
        };
    }
}
