//! A pod is never bound twice or to two nodes (upstream: `spec.nodeName` is immutable once
//! set — pod update validation, and the `pods/binding` subresource refuses a pod that already
//! has a node: "pod … is already assigned to node …").
//!
//! From the log: for every pod uid, once an event carries a non-empty `spec.nodeName`, every
//! later event of that uid carries the same one.

use std::collections::BTreeMap;

use skiff_core::event::Event;
use skiff_core::object::Object;

use super::{Violation, object_of};

/// The checker's name in reports.
pub const NAME: &str = "single-binding";

/// Remembers each pod's node.
#[derive(Debug, Default)]
pub struct BindingChecker {
    nodes: BTreeMap<String, String>,
}

impl BindingChecker {
    /// Checks one event.
    pub fn observe(&mut self, event: &Event, out: &mut Vec<Violation>) {
        let Some(Object::Pod(pod)) = object_of(&event.change) else {
            return;
        };
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let node = pod.spec.node_name.clone().unwrap_or_default();
        match self.nodes.get(&uid) {
            Some(bound) if *bound != node => out.push(Violation::PodRebound {
                pod: format!(
                    "{}/{}",
                    pod.metadata.namespace_or_empty(),
                    pod.metadata.name_or_empty()
                ),
                uid,
                from: bound.clone(),
                to: node,
                revision: event.revision.0,
            }),
            Some(_) => {}
            None if node.is_empty() => {}
            None => {
                self.nodes.insert(uid, node);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::event;
    use skiff_core::event::{Change, Revision};
    use skiff_core::object::{Container, ObjectMeta, Pod};

    fn pod(node: Option<&str>) -> Object {
        let mut p = Pod::new("web", vec![Container::new("c", "nginx")]);
        p.metadata = ObjectMeta {
            namespace: Some("default".into()),
            uid: Some("u1".into()),
            ..ObjectMeta::named("web")
        };
        p.spec.node_name = node.map(Into::into);
        p.into()
    }

    fn update(revision: u64, node: Option<&str>) -> Event {
        event(
            revision,
            Change::Update {
                object: pod(node),
                create_revision: Revision(1),
                version: 2,
            },
        )
    }

    #[test]
    fn binding_to_a_second_node_fires() {
        let mut c = BindingChecker::default();
        let mut out = Vec::new();
        c.observe(&event(1, Change::Create(pod(None))), &mut out);
        c.observe(&update(2, Some("worker-1")), &mut out);
        c.observe(&update(3, Some("worker-1")), &mut out);
        assert_eq!(out, []);
        c.observe(&update(4, Some("worker-2")), &mut out);
        assert_eq!(
            out,
            [Violation::PodRebound {
                pod: "default/web".into(),
                uid: "u1".into(),
                from: "worker-1".into(),
                to: "worker-2".into(),
                revision: 4,
            }]
        );
    }
}
