//! What "converged" means once the controllers run (issue #7, liveness phase), as pure
//! functions over the objects at one revision:
//!
//! - every ReplicaSet not being deleted has exactly `spec.replicas` ready, non-terminating
//!   pods it controls (upstream ReplicaSet controller's steady state: `status.readyReplicas ==
//!   spec.replicas`);
//! - every Service with a selector has Endpoints whose ready addresses are exactly the pod IPs
//!   of the ready pods it selects (upstream endpoints controller);
//! - no pod that some Ready, schedulable, untainted node has room for is still unbound (the
//!   scheduler's job; upstream `NodeResourcesFit` and `NodeUnschedulable`).

use std::collections::{BTreeMap, BTreeSet};

use skiff_core::object::{Node, Object, Pod};

use crate::check::capacity::{Amounts, is_terminal, node_allocatable, pod_requests};

/// Which conditions to require (each needs the controllers that produce it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    /// ReplicaSets at their ready count (ReplicaSet controller, scheduler, kubelets).
    pub replica_sets: bool,
    /// Endpoints equal to ready pods (endpoints controller, kubelets).
    pub endpoints: bool,
    /// No schedulable pod pending (scheduler).
    pub no_pending: bool,
}

fn pod_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .conditions
            .iter()
            .any(|c| c.r#type == "Ready" && c.status == "True")
}

fn node_ready(node: &Node) -> bool {
    node.condition("Ready").is_some_and(|c| c.status == "True")
}

/// How many unconverged conditions a report lists before counting the rest.
pub const SHOWN_MAX: usize = 20;

/// `missing` joined with "; ", the first [`SHOWN_MAX`] only, then how many more: a
/// thousand-node run's report stays readable.
pub fn summarize(missing: &[String]) -> String {
    let shown = missing
        .iter()
        .take(SHOWN_MAX)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    match missing.len().checked_sub(SHOWN_MAX) {
        Some(more) if more > 0 => format!("{shown}; … and {more} more"),
        _ => shown,
    }
}

/// What is not yet converged, one line each; empty when everything wanted holds.
pub fn unconverged(objects: &[Object], wanted: Wanted) -> Vec<String> {
    let mut missing = Vec::new();
    let pods: Vec<&Pod> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Pod(p) => Some(p),
            _ => None,
        })
        .collect();
    let free = free_capacity(objects, &pods);
    if wanted.replica_sets {
        replica_sets(objects, &pods, &free, &mut missing);
    }
    if wanted.endpoints {
        endpoints(objects, &pods, &mut missing);
    }
    if wanted.no_pending {
        pending(&pods, &free, &mut missing);
    }
    missing
}

fn replica_sets(
    objects: &[Object],
    pods: &[&Pod],
    free: &BTreeMap<&str, (Amounts, &Node)>,
    missing: &mut Vec<String>,
) {
    for object in objects {
        let Object::ReplicaSet(rs) = object else {
            continue;
        };
        if rs.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let uid = rs.metadata.uid.as_deref().unwrap_or("");
        let owned: Vec<&&Pod> = pods
            .iter()
            .filter(|p| p.metadata.controller_ref().is_some_and(|r| r.uid == uid))
            .filter(|p| p.metadata.deletion_timestamp.is_none() && !is_terminal(p))
            .collect();
        let ready = owned.iter().filter(|p| pod_ready(p)).count();
        // A pod no node has room for waits for capacity, not for a controller.
        let waiting = owned
            .iter()
            .filter(|p| unbound(p) && fits_somewhere(p, free).is_none())
            .count();
        let want = usize::try_from(rs.spec.replicas.unwrap_or(1).max(0)).unwrap_or(0);
        if owned.len() != want || ready + waiting != want {
            missing.push(format!(
                "replicaset {}/{} has {ready} ready pods of {want} ({} pods, {waiting} waiting for room)",
                rs.metadata.namespace_or_empty(),
                rs.metadata.name_or_empty(),
                owned.len()
            ));
        }
    }
}

fn endpoints(objects: &[Object], pods: &[&Pod], missing: &mut Vec<String>) {
    let mut published: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for object in objects {
        if let Object::Endpoints(e) = object {
            let ips = e
                .subsets
                .iter()
                .flat_map(|s| s.addresses.iter().map(|a| a.ip.as_str()))
                .collect();
            published.insert(
                (e.metadata.namespace_or_empty(), e.metadata.name_or_empty()),
                ips,
            );
        }
    }
    for object in objects {
        let Object::Service(svc) = object else {
            continue;
        };
        if svc.spec.selector.is_empty() {
            continue;
        }
        let ns = svc.metadata.namespace_or_empty();
        let want: BTreeSet<&str> = pods
            .iter()
            .filter(|p| p.metadata.namespace_or_empty() == ns && pod_ready(p))
            .filter(|p| {
                svc.spec
                    .selector
                    .iter()
                    .all(|(k, v)| p.metadata.labels.get(k) == Some(v))
            })
            .filter_map(|p| p.status.pod_ip.as_deref())
            .collect();
        let have = published
            .get(&(ns, svc.metadata.name_or_empty()))
            .cloned()
            .unwrap_or_default();
        if have != want {
            missing.push(format!(
                "endpoints {ns}/{} hold {have:?}, ready pods are {want:?}",
                svc.metadata.name_or_empty()
            ));
        }
    }
}

/// Room left on every Ready, schedulable, untainted node.
fn free_capacity<'a>(
    objects: &'a [Object],
    pods: &[&Pod],
) -> BTreeMap<&'a str, (Amounts, &'a Node)> {
    let mut free: BTreeMap<&str, (Amounts, &Node)> = BTreeMap::new();
    for object in objects {
        if let Object::Node(node) = object
            && node_ready(node)
            && node.spec.unschedulable != Some(true)
            && !node
                .spec
                .taints
                .iter()
                .any(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        {
            free.insert(
                node.metadata.name_or_empty(),
                (node_allocatable(node), node),
            );
        }
    }
    for pod in pods {
        let Some(node) = pod.spec.node_name.as_deref().filter(|n| !n.is_empty()) else {
            continue;
        };
        if is_terminal(pod) {
            continue;
        }
        if let Some((left, _)) = free.get_mut(node) {
            let used = pod_requests(pod);
            left.cpu_milli -= used.cpu_milli;
            left.memory_bytes -= used.memory_bytes;
            left.pods -= used.pods;
        }
    }
    free
}

/// A node with room for `pod`, if any.
fn fits_somewhere<'a>(pod: &Pod, free: &BTreeMap<&'a str, (Amounts, &Node)>) -> Option<&'a str> {
    let need = pod_requests(pod);
    free.iter()
        .find(|(_, (left, node))| {
            left.cpu_milli >= need.cpu_milli
                && left.memory_bytes >= need.memory_bytes
                && left.pods >= need.pods
                && pod
                    .spec
                    .node_selector
                    .iter()
                    .all(|(k, v)| node.metadata.labels.get(k) == Some(v))
        })
        .map(|(name, _)| *name)
}

fn unbound(pod: &Pod) -> bool {
    pod.spec.node_name.as_deref().is_none_or(str::is_empty)
}

fn pending(pods: &[&Pod], free: &BTreeMap<&str, (Amounts, &Node)>, missing: &mut Vec<String>) {
    for pod in pods {
        if !unbound(pod) || pod.metadata.deletion_timestamp.is_some() || is_terminal(pod) {
            continue;
        }
        if let Some(node) = fits_somewhere(pod, free) {
            missing.push(format!(
                "pod {}/{} is pending although {node} has room",
                pod.metadata.namespace_or_empty(),
                pod.metadata.name_or_empty()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_unconverged_list_shows_twenty_then_counts_the_rest() {
        let missing: Vec<String> = (1..=23)
            .map(|i| format!("worker-{i} is not Ready"))
            .collect();
        let text = summarize(&missing);
        assert!(text.starts_with("worker-1 is not Ready; worker-2 is not Ready; "));
        assert!(
            text.ends_with("; worker-20 is not Ready; … and 3 more"),
            "{text}"
        );
        assert_eq!(
            summarize(&missing[..2]),
            "worker-1 is not Ready; worker-2 is not Ready"
        );
    }
    use skiff_core::object::{
        Container, Endpoints, NodeCondition, ObjectMeta, OwnerReference, PodCondition, ReplicaSet,
        Service,
    };
    use skiff_core::quantity::Quantity;

    fn node(name: &str) -> Object {
        let mut n = Node {
            metadata: ObjectMeta::named(name),
            ..Node::default()
        };
        n.status
            .allocatable
            .insert("cpu".into(), Quantity::parse("1").unwrap());
        n.status.conditions.push(NodeCondition {
            type_: "Ready".into(),
            status: "True".into(),
            ..NodeCondition::default()
        });
        n.into()
    }

    fn pod(name: &str, node: Option<&str>, ready: bool, ip: &str) -> Pod {
        let mut p = Pod::new(name, vec![Container::new("c", "nginx")]);
        p.metadata.namespace = Some("default".into());
        p.metadata.labels.insert("app".into(), "web".into());
        p.metadata.owner_references = vec![OwnerReference {
            uid: "rs-uid".into(),
            controller: Some(true),
            ..OwnerReference::default()
        }];
        p.spec.node_name = node.map(Into::into);
        p.status.pod_ip = Some(ip.into());
        if ready {
            p.status.conditions.push(PodCondition {
                r#type: "Ready".into(),
                status: "True".into(),
                ..PodCondition::default()
            });
        }
        p
    }

    #[test]
    fn short_replica_set_stale_endpoints_and_a_pending_pod_are_reported() {
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                uid: Some("rs-uid".into()),
                ..ObjectMeta::named("web")
            },
            ..ReplicaSet::default()
        };
        rs.spec.replicas = Some(2);
        let mut svc = Service {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                ..ObjectMeta::named("web")
            },
            ..Service::default()
        };
        svc.spec.selector.insert("app".into(), "web".into());
        let ep = Endpoints {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                ..ObjectMeta::named("web")
            },
            ..Endpoints::default()
        };
        let objects = vec![
            node("worker-1"),
            rs.into(),
            svc.into(),
            ep.into(),
            pod("a", Some("worker-1"), true, "10.1.0.2").into(),
            pod("b", None, false, "").into(),
        ];
        let all = Wanted {
            replica_sets: true,
            endpoints: true,
            no_pending: true,
        };
        assert_eq!(
            unconverged(&objects, all),
            [
                "replicaset default/web has 1 ready pods of 2 (2 pods, 0 waiting for room)"
                    .to_owned(),
                "endpoints default/web hold {}, ready pods are {\"10.1.0.2\"}".to_owned(),
                "pod default/b is pending although worker-1 has room".to_owned(),
            ]
        );
        assert_eq!(
            unconverged(&objects, Wanted::default()),
            Vec::<String>::new()
        );
    }
}
