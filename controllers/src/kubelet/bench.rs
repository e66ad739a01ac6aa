//! A kubelet workload for `skiff bench kubelet`: one node, `pods` pods bound to it, the
//! simulated runtime, virtual time moved one second per round. The caller times the rounds
//! (controllers read no clock); the API is the workload's own view, updated with the
//! kubelet's writes as an API server would.

use std::sync::Arc;
use std::time::Duration;

use skiff_core::clock::{Clock, ManualClock};
use skiff_core::object::{Container, Node, NodeSpec, Object, ObjectMeta, Pod};

use super::{Kubelet, KubeletConfig, Snapshot};
use crate::cri::sim::{SimConfig, SimRuntime};
use crate::reconcile::Action;
use crate::view::View;

/// One node's kubelet with its pods.
#[derive(Debug)]
pub struct NodeWorkload {
    clock: ManualClock,
    runtime: Arc<SimRuntime>,
    kubelet: Kubelet,
    view: View,
    revision: u64,
}

impl NodeWorkload {
    /// `pods` nginx pods (at most what a /24 holds, 253) on a node named `node-1`.
    pub fn new(pods: usize, seed: u64) -> Self {
        let clock = ManualClock::new(1_700_000_000);
        let runtime = Arc::new(SimRuntime::new(
            Arc::new(clock.clone()),
            SimConfig {
                seed,
                ..SimConfig::default()
            },
        ));
        let mut view = View::new();
        view.insert(
            Node {
                metadata: ObjectMeta {
                    name: Some("node-1".into()),
                    uid: Some("uid-node-1".into()),
                    ..ObjectMeta::default()
                },
                spec: NodeSpec {
                    pod_cidr: Some("10.244.0.0/24".into()),
                    ..NodeSpec::default()
                },
                ..Node::default()
            }
            .into(),
        );
        for i in 0..pods.min(253) {
            let mut p = Pod::new(
                format!("web-{i}"),
                vec![Container::new("nginx", "nginx:1.27")],
            );
            p.metadata.namespace = Some("default".into());
            p.metadata.uid = Some(format!("uid-web-{i}"));
            p.spec.node_name = Some("node-1".into());
            view.insert(p.into());
        }
        let mut config = KubeletConfig::new("node-1");
        config.capacity.insert(
            "pods".into(),
            skiff_core::quantity::Quantity::new(256, skiff_core::quantity::Format::DecimalSI),
        );
        Self {
            clock,
            runtime,
            kubelet: Kubelet::new(config),
            view,
            revision: 1,
        }
    }

    /// One round (snapshot, probes, reconcile, apply, writes), then one virtual second.
    /// Returns how many runtime actions and API writes it made.
    pub fn round(&mut self) -> (usize, usize) {
        let now = self.clock.wall();
        let snapshot = Snapshot::take(self.runtime.as_ref());
        self.kubelet.run_probes(
            &self.view,
            &snapshot,
            self.runtime.as_ref(),
            self.runtime.as_ref(),
            now,
        );
        let out = self.kubelet.reconcile(&self.view, &snapshot, now);
        self.kubelet.apply(
            self.runtime.as_ref(),
            self.runtime.as_ref(),
            &out.runtime,
            now,
        );
        let writes = out.api.len();
        for action in out.api {
            self.revision += 1;
            let rv = Some(self.revision.to_string());
            match action {
                Action::Create(mut o) | Action::Update(mut o) | Action::UpdateStatus(mut o) => {
                    o.metadata_mut().resource_version = rv;
                    self.view.insert(o);
                }
                Action::Delete { .. } | Action::Bind { .. } => {}
            }
        }
        if out.requeue_after != Some(Duration::ZERO) {
            self.clock.advance(Duration::from_secs(1));
        }
        (out.runtime.len(), writes)
    }

    /// How many pods the API shows Running and Ready.
    pub fn ready(&self) -> usize {
        self.view
            .objects("Pod")
            .filter(|o| match o {
                Object::Pod(p) => p
                    .status
                    .conditions
                    .iter()
                    .any(|c| c.r#type == "Ready" && c.status == "True"),
                _ => false,
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_brings_every_pod_to_ready() {
        let mut w = NodeWorkload::new(110, 7);
        let mut rounds = 0;
        while w.ready() < 110 && rounds < 10 {
            w.round();
            rounds += 1;
        }
        assert_eq!(w.ready(), 110);
        assert_eq!(rounds, 4);
    }
}
