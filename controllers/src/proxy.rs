//! kube-proxy (seed §8) and pod networking (seed §8: "every pod can reach every other pod").
//!
//! kube-proxy watches Services and Endpoints and, on every node, turns them into rules that
//! send traffic for a service's virtual IP to one of its pods. Upstream writes those rules into
//! iptables (`pkg/proxy/iptables/proxier.go`); skiff computes the same rule set as a pure
//! function and then both prints it and executes it in process:
//!
//! - [`rules()`]: Services + Endpoints + node → a [`RuleSet`] (the filter and nat tables with
//!   upstream's chains: `KUBE-SERVICES`, `KUBE-SVC-<hash>`, `KUBE-EXT-<hash>`,
//!   `KUBE-SEP-<hash>`, `KUBE-NODEPORTS`, `KUBE-MARK-MASQ`, `KUBE-POSTROUTING`, …).
//! - [`iptables`]: the rule set rendered in `iptables-save` syntax, as upstream's proxier hands
//!   it to `iptables-restore` (`skiff proxy-rules --node N` prints it).
//! - [`dataplane`]: an in-process packet walker over those same rules: a connection to a
//!   ClusterIP:port or a NodePort resolves to a backend pod through the `statistic` chains,
//!   drawing from an injected [`skiff_core::rng::SplitMix64`];
//!   [`dataplane::ClusterNetwork`] joins every node's rules with node and pod addresses and DNS
//!   so a connection by name or address ends at a pod. It is what the simulator and `exec`
//!   are meant to connect through, so what the text shows is exactly what traffic does.
//! - [`ipam`]: the node IPAM controller (a podCIDR per node out of the cluster CIDR) and pod IP
//!   allocation inside a node's podCIDR.
//! - [`dns`]: cluster DNS, `<svc>.<ns>.svc.cluster.local` (and the shorter forms a pod's search
//!   path allows) to the service's ClusterIP.
//! - [`KubeProxy`]: the per-node controller the runtime loop runs; it recomputes its node's
//!   rules on every Service or Endpoints change and publishes them ([`RulesHandle`]).
//!
//! The seed's example, traffic to `10.96.0.12` landing on the pod `10.32.0.15`:
//!
//! ```
//! use std::net::Ipv4Addr;
//! use skiff_controllers::proxy::{self, dataplane::{Dataplane, Protocol}};
//! use skiff_core::manifest;
//! use skiff_core::object::{Endpoints, Object, Service};
//! use skiff_core::rng::SplitMix64;
//!
//! let objects = manifest::parse_str("web.yaml", "
//! apiVersion: v1
//! kind: Service
//! metadata: {name: web, namespace: default}
//! spec:
//!   clusterIP: 10.96.0.12
//!   ports: [{name: http, port: 80, targetPort: 8080}]
//! ---
//! apiVersion: v1
//! kind: Endpoints
//! metadata: {name: web, namespace: default}
//! subsets:
//! - addresses: [{ip: 10.32.0.15}]
//!   ports: [{name: http, port: 8080}]
//! ").unwrap();
//! let [Object::Service(service), Object::Endpoints(endpoints)] = &objects[..] else { panic!() };
//! let rules = proxy::rules([service], [endpoints], "node01");
//! assert!(rules.to_iptables_save().contains("-j DNAT --to-destination 10.32.0.15:8080"));
//! let dataplane = Dataplane::from_rules(&rules);
//! let mut rng = SplitMix64::new(1);
//! assert_eq!(
//!     dataplane.resolve(Ipv4Addr::new(10, 96, 0, 12), 80, Protocol::Tcp, &mut rng),
//!     Some((Ipv4Addr::new(10, 32, 0, 15), 8080))
//! );
//! ```

pub mod dataplane;
pub mod dns;
pub mod ipam;
pub mod iptables;
pub mod rules;

pub use rules::{Config, RuleSet, rules, rules_with};

use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use skiff_core::object::{Endpoints, HasKindInfo, Node, Object, Service};

use crate::reconcile::{Controller, Output, Watched};
use crate::view::{ObjectKey, View};

/// kube-proxy on one node as the runtime loop runs it: it watches Services, Endpoints and
/// Nodes, and on every change recomputes its node's [`RuleSet`] (upstream `syncProxyRules`)
/// and publishes it through a [`RulesHandle`]. It writes nothing to the API: its output is
/// the rules, which the in-process dataplane then follows.
#[derive(Debug)]
pub struct KubeProxy {
    node: String,
    config: Config,
    published: Arc<RwLock<Arc<RuleSet>>>,
    syncs: u64,
}

/// A reader of the rules a [`KubeProxy`] last programmed (what `iptables-save` would show on
/// its node).
#[derive(Debug, Clone)]
pub struct RulesHandle(Arc<RwLock<Arc<RuleSet>>>);

impl RulesHandle {
    /// The current rules.
    pub fn current(&self) -> Arc<RuleSet> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl KubeProxy {
    /// kube-proxy for `node`; until its first sync it publishes the rules of an empty cluster.
    pub fn new(node: impl Into<String>, config: Config) -> Self {
        let node = node.into();
        let empty = rules_with(&config, [], [], &node);
        Self {
            node,
            config,
            published: Arc::new(RwLock::new(Arc::new(empty))),
            syncs: 0,
        }
    }

    /// A reader of the published rules.
    pub fn handle(&self) -> RulesHandle {
        RulesHandle(self.published.clone())
    }

    /// How many times the rules were recomputed.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    fn key(&self) -> ObjectKey {
        ObjectKey::new("", self.node.clone())
    }
}

impl Controller for KubeProxy {
    fn name(&self) -> &'static str {
        "kube-proxy"
    }

    fn watches(&self) -> Vec<Watched> {
        vec![
            Watched::all(&Service::INFO),
            Watched::all(&Endpoints::INFO),
            Watched {
                resource: &Node::INFO,
                label_selector: String::new(),
                field_selector: format!("metadata.name={}", self.node),
            },
        ]
    }

    /// Every change concerns the one key: this node's rule set.
    fn keys_for(&self, _view: &View, _object: &Object) -> Vec<ObjectKey> {
        vec![self.key()]
    }

    fn resync_keys(&self, _view: &View) -> Vec<ObjectKey> {
        vec![self.key()]
    }

    fn reconcile(&mut self, view: &View, _key: &ObjectKey, _now: SystemTime) -> Output {
        let next = rules_with(
            &self.config,
            view.list::<Service>(),
            view.list::<Endpoints>(),
            &self.node,
        );
        self.syncs += 1;
        let mut published = self
            .published
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if **published != next {
            *published = Arc::new(next);
        }
        Output::none()
    }
}

#[cfg(test)]
mod tests;
