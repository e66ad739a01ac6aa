//! A node whose kubelet keeps renewing its lease is never marked NotReady/Unknown, whatever
//! its clock says (upstream node lifecycle controller `tryUpdateNodeHealth`: the probe
//! timestamp is the controller's own `now()` when it sees the Lease's `renewTime` change, and
//! Ready becomes `Unknown` only when `now() > probeTimestamp + gracePeriod`; the renew time is
//! compared only for change, so kubelet↔controller skew alone never causes NotReady — see
//! upstream-semantics.md §7).
//!
//! From the log, on the API server's commit times (`Event::at`, one clock for the server and
//! the controllers beside it): when a writer other than the node itself turns the node's Ready
//! condition from `True` to `False` or `Unknown`, the node's last lease renewal must have been
//! committed at least the grace period earlier. The controller measures the grace on its
//! monotonic clock, so the checker takes out the control plane's wall-clock offset as it stood
//! at each commit ([`NodeLeaseChecker::control_plane_offset`]): a step of that clock between a
//! renewal and the marking is no violation (what is left of `at` is the control plane's
//! monotonic time, drift included, as the controller sees it).

use std::collections::BTreeMap;
use std::time::Duration;

use skiff_core::event::{Change, Event};
use skiff_core::object::Object;

use super::{Violation, object_of};

/// The checker's name in reports.
pub const NAME: &str = "node-lease";

/// Upstream's `--node-monitor-grace-period` before v1.32 (40 s; 50 s since
/// kubernetes/kubernetes#126287): the shortest grace a correct controller may use.
pub const NODE_MONITOR_GRACE_PERIOD: Duration = Duration::from_secs(40);

/// The namespace of node heartbeat Leases (upstream `kube-node-lease`).
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// Tracks each node's last renewal and Ready status.
#[derive(Debug)]
pub struct NodeLeaseChecker {
    grace_micros: i64,
    /// node → (renewTime written, commit time of that renewal less the offset then).
    renewed: BTreeMap<String, (i64, i64)>,
    ready: BTreeMap<String, String>,
    /// The control plane's wall-clock offset for the events read from now on (µs).
    offset_micros: i64,
}

impl Default for NodeLeaseChecker {
    fn default() -> Self {
        Self::new(NODE_MONITOR_GRACE_PERIOD)
    }
}

impl NodeLeaseChecker {
    /// A checker for a controller with grace period `grace`.
    pub fn new(grace: Duration) -> Self {
        Self {
            grace_micros: i64::try_from(grace.as_micros()).unwrap_or(i64::MAX),
            renewed: BTreeMap::new(),
            ready: BTreeMap::new(),
            offset_micros: 0,
        }
    }

    /// The control plane's wall clock runs `offset_ns` from the simulation's true time for
    /// every event observed from now on (the harness calls this after each injected step,
    /// having read every event committed before it).
    pub fn control_plane_offset(&mut self, offset_ns: i64) {
        self.offset_micros = offset_ns / 1000;
    }

    /// An event's commit time on the control plane's monotonic scale.
    fn committed_at(&self, event: &Event) -> i64 {
        event.at.unix_micros.saturating_sub(self.offset_micros)
    }

    /// Checks one event.
    pub fn observe(&mut self, event: &Event, out: &mut Vec<Violation>) {
        if matches!(event.change, Change::Delete(_)) {
            return;
        }
        match object_of(&event.change) {
            Some(Object::Lease(lease))
                if lease.metadata.namespace.as_deref() == Some(NODE_LEASE_NAMESPACE) =>
            {
                let node = lease.metadata.name_or_empty().to_owned();
                let renew = lease.spec.renew_time.map_or(i64::MIN, |t| t.unix_micros);
                let changed = self.renewed.get(&node).is_none_or(|(r, _)| *r != renew);
                if changed {
                    self.renewed.insert(node, (renew, self.committed_at(event)));
                }
            }
            Some(Object::Node(node)) => {
                let name = node.metadata.name_or_empty().to_owned();
                let status = node
                    .condition("Ready")
                    .map_or_else(String::new, |c| c.status.clone());
                let before = self.ready.insert(name.clone(), status.clone());
                let by_itself = event.actor.user == format!("system:node:{name}");
                let marked =
                    before.as_deref() == Some("True") && (status == "False" || status == "Unknown");
                if marked
                    && !by_itself
                    && let Some(&(_, renewed_at)) = self.renewed.get(&name)
                {
                    let ago = self.committed_at(event) - renewed_at;
                    if ago < self.grace_micros {
                        out.push(Violation::NodeMarkedWhileRenewing {
                            node: name,
                            status,
                            renewed_ago_ms: ago / 1000,
                            revision: event.revision.0,
                        });
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::event_by;
    use skiff_core::event::Revision;
    use skiff_core::object::{Lease, MicroTime, Node, NodeCondition, ObjectMeta};

    fn lease(renew_secs: i64) -> Object {
        let mut l = Lease {
            metadata: ObjectMeta {
                namespace: Some(NODE_LEASE_NAMESPACE.into()),
                ..ObjectMeta::named("worker-1")
            },
            ..Lease::default()
        };
        l.spec.renew_time = Some(MicroTime::from_unix_micros(renew_secs * 1_000_000));
        l.into()
    }

    fn node(ready: &str) -> Object {
        let mut n = Node {
            metadata: ObjectMeta::named("worker-1"),
            ..Node::default()
        };
        n.status.conditions.push(NodeCondition {
            type_: "Ready".into(),
            status: ready.into(),
            ..NodeCondition::default()
        });
        n.into()
    }

    fn update(object: Object) -> Change {
        Change::Update {
            object,
            create_revision: Revision(1),
            version: 2,
        }
    }

    #[test]
    fn marking_a_renewing_node_fires_even_with_its_clock_far_behind() {
        let mut c = NodeLeaseChecker::default();
        let mut out = Vec::new();
        c.observe(
            &event_by(1, "system:node:worker-1", Change::Create(node("True"))),
            &mut out,
        );
        // The kubelet's clock is an hour behind; its renewals still count when committed.
        c.observe(
            &event_by(10, "system:node:worker-1", update(lease(-3600))),
            &mut out,
        );
        c.observe(
            &event_by(20, "system:node:worker-1", update(lease(-3590))),
            &mut out,
        );
        c.observe(
            &event_by(
                30,
                "system:serviceaccount:kube-system:node-controller",
                update(node("Unknown")),
            ),
            &mut out,
        );
        assert_eq!(
            out,
            [Violation::NodeMarkedWhileRenewing {
                node: "worker-1".into(),
                status: "Unknown".into(),
                renewed_ago_ms: 10_000,
                revision: 30,
            }]
        );
    }

    #[test]
    fn marking_after_the_grace_period_is_fine() {
        let mut c = NodeLeaseChecker::default();
        let mut out = Vec::new();
        c.observe(
            &event_by(1, "system:node:worker-1", Change::Create(node("True"))),
            &mut out,
        );
        c.observe(
            &event_by(10, "system:node:worker-1", update(lease(10))),
            &mut out,
        );
        c.observe(
            &event_by(50, "node-controller", update(node("Unknown"))),
            &mut out,
        );
        assert_eq!(out, []);
    }

    #[test]
    fn a_control_plane_clock_step_between_renewal_and_marking_is_no_violation() {
        let mut c = NodeLeaseChecker::default();
        let mut out = Vec::new();
        c.observe(
            &event_by(1, "system:node:worker-1", Change::Create(node("True"))),
            &mut out,
        );
        c.observe(
            &event_by(10, "system:node:worker-1", update(lease(10))),
            &mut out,
        );
        // The control plane's clock steps back 17 s; 43 s of its monotonic time later its
        // wall clock reads 26 s after the renewal.
        c.control_plane_offset(-17_000_000_000);
        c.observe(
            &event_by(36, "node-controller", update(node("Unknown"))),
            &mut out,
        );
        assert_eq!(out, []);
    }

    #[test]
    fn a_forward_step_does_not_hide_an_early_marking() {
        let mut c = NodeLeaseChecker::default();
        let mut out = Vec::new();
        c.observe(
            &event_by(1, "system:node:worker-1", Change::Create(node("True"))),
            &mut out,
        );
        c.observe(
            &event_by(10, "system:node:worker-1", update(lease(10))),
            &mut out,
        );
        c.control_plane_offset(60_000_000_000);
        c.observe(
            &event_by(80, "node-controller", update(node("Unknown"))),
            &mut out,
        );
        assert_eq!(
            out,
            [Violation::NodeMarkedWhileRenewing {
                node: "worker-1".into(),
                status: "Unknown".into(),
                renewed_ago_ms: 10_000,
                revision: 80,
            }]
        );
    }
}
