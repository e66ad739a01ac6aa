//! No node's pod requests exceed its allocatable (upstream scheduler `NodeResourcesFit`: a
//! pod fits only if, for every resource, the requests of the pods already on the node plus its
//! own stay within `status.allocatable`; the `pods` resource caps the pod count).
//!
//! From the log: pods bound by the scheduler (their `spec.nodeName` appears in an update, the
//! binding subresource) and not yet terminal or deleted are summed per node; the event that
//! binds one more must leave every resource within the node's allocatable at that revision.
//! Pods created with `spec.nodeName` already set bypass the scheduler (the kubelet admits or
//! rejects them) and are not counted.

use std::collections::BTreeMap;

use skiff_core::event::{Change, Event};
use skiff_core::object::{Container, Node, Object, Pod};

use super::{Violation, object_of};

/// The checker's name in reports.
pub const NAME: &str = "node-capacity";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Amounts {
    pub(crate) cpu_milli: i64,
    pub(crate) memory_bytes: i64,
    pub(crate) pods: i64,
}

#[derive(Debug, Clone)]
struct Placed {
    node: String,
    amounts: Amounts,
}

/// Tracks allocatable per node and the scheduled pods' requests.
#[derive(Debug, Default)]
pub struct CapacityChecker {
    allocatable: BTreeMap<String, Amounts>,
    placed: BTreeMap<String, Placed>,
}

fn container_requests(c: &Container) -> (i64, i64) {
    let get = |name: &str| {
        c.resources
            .requests
            .get(name)
            .or_else(|| c.resources.limits.get(name))
    };
    (
        get("cpu").map_or(0, skiff_core::quantity::Quantity::milli_value),
        get("memory").map_or(0, skiff_core::quantity::Quantity::value),
    )
}

/// A pod's effective request: the sum over its containers, or the largest init container if
/// that is more (upstream `computePodResourceRequest`).
pub(crate) fn pod_requests(pod: &Pod) -> Amounts {
    let (mut cpu, mut memory) = (0, 0);
    for c in &pod.spec.containers {
        let (a, b) = container_requests(c);
        cpu += a;
        memory += b;
    }
    for c in &pod.spec.init_containers {
        let (a, b) = container_requests(c);
        cpu = cpu.max(a);
        memory = memory.max(b);
    }
    Amounts {
        cpu_milli: cpu,
        memory_bytes: memory,
        pods: 1,
    }
}

pub(crate) fn node_allocatable(node: &Node) -> Amounts {
    let source = if node.status.allocatable.is_empty() {
        &node.status.capacity
    } else {
        &node.status.allocatable
    };
    Amounts {
        cpu_milli: source
            .get("cpu")
            .map_or(i64::MAX, skiff_core::quantity::Quantity::milli_value),
        memory_bytes: source
            .get("memory")
            .map_or(i64::MAX, skiff_core::quantity::Quantity::value),
        pods: source
            .get("pods")
            .map_or(i64::MAX, skiff_core::quantity::Quantity::value),
    }
}

pub(crate) fn is_terminal(pod: &Pod) -> bool {
    matches!(pod.status.phase.as_deref(), Some("Succeeded" | "Failed"))
}

impl CapacityChecker {
    /// Checks one event.
    pub fn observe(&mut self, event: &Event, out: &mut Vec<Violation>) {
        match object_of(&event.change) {
            Some(Object::Node(node)) => {
                let name = node.metadata.name_or_empty().to_owned();
                if matches!(event.change, Change::Delete(_)) {
                    self.allocatable.remove(&name);
                } else {
                    self.allocatable.insert(name, node_allocatable(node));
                }
            }
            Some(Object::Pod(pod)) => self.pod_event(event, pod, out),
            _ => {}
        }
    }

    fn pod_event(&mut self, event: &Event, pod: &Pod, out: &mut Vec<Violation>) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let node = pod.spec.node_name.clone().unwrap_or_default();
        let gone = matches!(event.change, Change::Delete(_)) || is_terminal(pod);
        if gone {
            self.placed.remove(&uid);
            return;
        }
        let newly_bound = matches!(event.change, Change::Update { .. })
            && !node.is_empty()
            && !self.placed.contains_key(&uid);
        if !newly_bound {
            return;
        }
        self.placed.insert(
            uid,
            Placed {
                node: node.clone(),
                amounts: pod_requests(pod),
            },
        );
        let Some(allocatable) = self.allocatable.get(&node) else {
            return; // bound to a node that does not exist: the kubelet never admits it
        };
        let mut used = Amounts::default();
        for placed in self.placed.values().filter(|p| p.node == node) {
            used.cpu_milli += placed.amounts.cpu_milli;
            used.memory_bytes += placed.amounts.memory_bytes;
            used.pods += placed.amounts.pods;
        }
        for (resource, requested, allocatable) in [
            ("cpu", used.cpu_milli, allocatable.cpu_milli),
            ("memory", used.memory_bytes, allocatable.memory_bytes),
            ("pods", used.pods, allocatable.pods),
        ] {
            if requested > allocatable {
                out.push(Violation::NodeOvercommitted {
                    node: node.clone(),
                    resource,
                    requested,
                    allocatable,
                    revision: event.revision.0,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::event;
    use skiff_core::event::Revision;
    use skiff_core::object::ObjectMeta;
    use skiff_core::quantity::Quantity;

    fn node(cpu: &str) -> Object {
        let mut n = Node {
            metadata: ObjectMeta::named("worker-1"),
            ..Node::default()
        };
        n.status
            .allocatable
            .insert("cpu".into(), Quantity::parse(cpu).unwrap());
        n.into()
    }

    fn bound_pod(name: &str, cpu: &str) -> Event {
        let mut c = Container::new("c", "nginx");
        c.resources
            .requests
            .insert("cpu".into(), Quantity::parse(cpu).unwrap());
        let mut p = Pod::new(name, vec![c]);
        p.metadata.namespace = Some("default".into());
        p.metadata.uid = Some(format!("uid-{name}"));
        p.spec.node_name = Some("worker-1".into());
        event(
            0,
            Change::Update {
                object: p.into(),
                create_revision: Revision(1),
                version: 2,
            },
        )
    }

    #[test]
    fn binding_past_allocatable_fires() {
        let mut c = CapacityChecker::default();
        let mut out = Vec::new();
        c.observe(&event(1, Change::Create(node("1"))), &mut out);
        let mut first = bound_pod("a", "600m");
        first.revision = Revision(2);
        c.observe(&first, &mut out);
        assert_eq!(out, []);
        let mut second = bound_pod("b", "500m");
        second.revision = Revision(3);
        c.observe(&second, &mut out);
        assert_eq!(
            out,
            [Violation::NodeOvercommitted {
                node: "worker-1".into(),
                resource: "cpu",
                requested: 1100,
                allocatable: 1000,
                revision: 3,
            }]
        );
    }
}
