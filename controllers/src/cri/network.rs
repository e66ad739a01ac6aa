//! The pod network of several nodes' simulated runtimes joined through kube-proxy's
//! dataplane ([`crate::proxy::dataplane::ClusterNetwork`]): a connection from a pod is
//! resolved (cluster DNS) and translated (the node's iptables rules) to a backend pod, and the
//! runtime of the node that pod lives on serves it. What `wget http://web` in a pod does.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use skiff_core::rng::SplitMix64;

use super::sim::SimRuntime;
use super::{Caller, HttpResponse, Network};
use crate::proxy::dataplane::{ClusterNetwork, NetworkState, Origin, Protocol};

struct Inner {
    network: Option<ClusterNetwork>,
    rng: SplitMix64,
    state: NetworkState,
    runtimes: BTreeMap<String, Weak<SimRuntime>>,
}

/// Several nodes' runtimes on one simulated network. Refresh the rules with
/// [`SimCluster::set_network`] whenever Services, Endpoints, Nodes or Pods change.
pub struct SimCluster {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCluster").finish_non_exhaustive()
    }
}

impl SimCluster {
    /// A network with no rules yet; `seed` drives kube-proxy's random backend choice.
    pub fn new(seed: u64) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                network: None,
                rng: SplitMix64::new(seed),
                state: NetworkState::default(),
                runtimes: BTreeMap::new(),
            }),
        })
    }

    /// Replaces the cluster's rules and addresses.
    pub fn set_network(&self, network: ClusterNetwork) {
        self.lock().network = Some(network);
    }

    /// Joins `node`'s runtime: its pods reach the cluster through this network, and
    /// connections to its pods are served by it.
    pub fn add_node(self: &Arc<Self>, node: &str, runtime: &Arc<SimRuntime>) {
        self.lock()
            .runtimes
            .insert(node.to_owned(), Arc::downgrade(runtime));
        runtime.set_network(Arc::new(NodeNetwork {
            cluster: Arc::clone(self),
            node: node.to_owned(),
        }));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where a connection from `caller` on `node` to `host:port` lands: the backend's address
    /// and its node.
    fn connect(
        &self,
        node: &str,
        caller: &Caller<'_>,
        host: &str,
        port: u16,
    ) -> Option<(Ipv4Addr, u16, String)> {
        let mut inner = self.lock();
        let Inner {
            network,
            rng,
            state,
            ..
        } = &mut *inner;
        let network = network.as_ref()?;
        let origin = Origin::Pod {
            node: node.to_owned(),
            ip: caller.pod_ip.parse().ok()?,
            namespace: caller.namespace.to_owned(),
        };
        let connection = network
            .connect_with(
                &origin,
                host,
                port,
                Protocol::Tcp,
                rng,
                state,
                Duration::ZERO,
            )
            .ok()?;
        Some((*connection.to.ip(), connection.to.port(), connection.node))
    }
}

/// One node's view of the [`SimCluster`] (what its runtime calls).
struct NodeNetwork {
    cluster: Arc<SimCluster>,
    node: String,
}

impl std::fmt::Debug for NodeNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeNetwork")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Network for NodeNetwork {
    fn resolve(&self, from: &Caller<'_>, host: &str, port: u16) -> Option<(String, u16)> {
        let (ip, port, _) = self.cluster.connect(&self.node, from, host, port)?;
        Some((ip.to_string(), port))
    }

    fn http_get(&self, from: &Caller<'_>, ip: &str, port: u16, path: &str) -> Option<HttpResponse> {
        let (ip, port, node) = self.cluster.connect(&self.node, from, ip, port)?;
        if node == self.node {
            // The caller's own runtime serves its own pods; asking it again here would
            // re-enter it.
            return None;
        }
        let runtime = self.cluster.lock().runtimes.get(&node)?.upgrade()?;
        runtime.http_get(&ip.to_string(), port, path)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use skiff_core::clock::ManualClock;
    use skiff_core::manifest;

    use super::*;
    use crate::cri::sim::{NGINX_INDEX, SimConfig};
    use crate::cri::{
        ContainerConfig, ContainerMetadata, PodSandboxConfig, PodSandboxMetadata, Runtime,
    };
    use crate::proxy::dns::ClusterDns;
    use crate::view::View;

    fn run(rt: &SimRuntime, pod: &str, namespace: &str, image: &str, command: &[&str]) -> String {
        let sb = rt
            .run_pod_sandbox(&PodSandboxConfig {
                metadata: PodSandboxMetadata {
                    name: pod.into(),
                    uid: format!("uid-{pod}"),
                    namespace: namespace.into(),
                    attempt: 0,
                },
                hostname: pod.into(),
                ..PodSandboxConfig::default()
            })
            .unwrap();
        rt.pull_image(image).unwrap();
        let id = rt
            .create_container(
                &sb,
                &ContainerConfig {
                    metadata: ContainerMetadata {
                        name: "c".into(),
                        attempt: 0,
                    },
                    image: image.into(),
                    command: command.iter().map(|s| (*s).to_owned()).collect(),
                    ..ContainerConfig::default()
                },
            )
            .unwrap();
        rt.start_container(&id).unwrap();
        id
    }

    const CLUSTER: &str = "
apiVersion: v1
kind: Node
metadata: {name: node01}
spec: {podCIDR: 10.244.1.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.11}]}
---
apiVersion: v1
kind: Node
metadata: {name: node02}
spec: {podCIDR: 10.244.2.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.12}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec: {nodeName: node01, containers: [{name: c, image: nginx}]}
status: {podIP: 10.244.1.2}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec: {nodeName: node02, containers: [{name: c, image: busybox}]}
status: {podIP: 10.244.2.2}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.12
  ports: [{name: http, port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: default}
subsets:
- addresses: [{ip: 10.244.1.2, nodeName: node01}]
  ports: [{name: http, port: 80}]
";

    #[test]
    fn wget_of_a_service_crosses_nodes_through_kube_proxys_rules() {
        let clock = ManualClock::new(1_700_000_000);
        let node01 = Arc::new(SimRuntime::new(
            Arc::new(clock.clone()),
            SimConfig::default(),
        ));
        let node02 = Arc::new(SimRuntime::new(
            Arc::new(clock.clone()),
            SimConfig {
                seed: 2,
                ..SimConfig::default()
            },
        ));
        node01.update_runtime_config("10.244.1.0/24").unwrap();
        node02.update_runtime_config("10.244.2.0/24").unwrap();
        let cluster = SimCluster::new(9);
        cluster.add_node("node01", &node01);
        cluster.add_node("node02", &node02);
        let mut view = View::new();
        for o in manifest::parse_str("cluster.yaml", CLUSTER).unwrap() {
            view.insert(o);
        }
        cluster.set_network(ClusterNetwork::from_view(
            &view,
            &crate::proxy::Config::default(),
            ClusterDns::default(),
        ));
        run(&node01, "web", "default", "nginx", &[]);
        let client = run(&node02, "client", "default", "busybox", &["sleep", "3600"]);
        let wget = |url: &str| {
            let cmd: Vec<String> = ["wget", "-qO-", url]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            let out = node02
                .exec_sync(&client, &cmd, Duration::from_secs(1))
                .unwrap();
            (out.stdout_text(), out.stderr_text())
        };
        // By Service name (DNS short name in the caller's namespace), by FQDN, by cluster IP
        // and by pod IP on the other node.
        assert_eq!(wget("http://web").0, NGINX_INDEX);
        assert_eq!(wget("http://web.default.svc.cluster.local").0, NGINX_INDEX);
        assert_eq!(wget("http://10.96.0.12").0, NGINX_INDEX);
        assert_eq!(wget("http://10.244.1.2").0, NGINX_INDEX);
        assert_eq!(wget("http://nope").1, "wget: bad address 'nope'\n");
    }
}
