//! kube-proxy, node IPAM and cluster DNS against a real API server in the test's process:
//! the node IPAM controller's updates pass the API server's validation and preconditions, and
//! the rules follow the cluster IPs and node ports the API server allocated.

use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

use skiff::Cluster;
use skiff::controllers::proxy::dataplane::{Dataplane, Protocol};
use skiff::controllers::proxy::dns;
use skiff::controllers::proxy::ipam::NodeIpamController;
use skiff::controllers::proxy::rules;
use skiff::controllers::reconcile::{Action, Controller};
use skiff::controllers::view::{ObjectKey, View};
use skiff::core::client::{ClientError, DeleteOptions, ListParams};
use skiff::core::object::{Endpoints, Node, Service};
use skiff::core::rng::SplitMix64;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

async fn view_of_nodes(cluster: &Cluster) -> View {
    let mut view = View::new();
    for node in cluster
        .api_all::<Node>()
        .list(ListParams::default())
        .await
        .unwrap()
    {
        view.insert(node.into());
    }
    view
}

/// Runs one reconcile per node (in reverse name order) and sends the updates.
async fn ipam_round(
    cluster: &Cluster,
    ipam: &mut NodeIpamController,
) -> Vec<Result<(), ClientError>> {
    let view = view_of_nodes(cluster).await;
    let mut keys = ipam.resync_keys(&view);
    keys.reverse();
    let mut results = Vec::new();
    for key in keys {
        for action in ipam.reconcile(&view, &key, now()).actions {
            let Action::Update(object) = action else {
                panic!("unexpected {}", action.describe())
            };
            results.push(cluster.client().update(object).await.map(|_| ()));
        }
    }
    results
}

async fn pod_cidrs(cluster: &Cluster) -> Vec<(String, Option<String>)> {
    cluster
        .api_all::<Node>()
        .list(ListParams::default())
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.metadata.name.unwrap(), n.spec.pod_cidr))
        .collect()
}

fn node(name: &str) -> String {
    format!("apiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\n")
}

#[tokio::test]
async fn node_ipam_assigns_ranges_through_the_api_server_and_reuses_a_deleted_nodes() {
    let cluster = Cluster::builder()
        .seed(6)
        .without_controllers()
        .build()
        .await
        .unwrap();
    cluster
        .apply_yaml(&[node("node-b"), node("node-a"), node("node-c")].join("---\n"))
        .await
        .unwrap();
    let mut ipam = NodeIpamController::default();
    assert_eq!(
        ipam_round(&cluster, &mut ipam).await,
        [Ok(()), Ok(()), Ok(())]
    );
    assert_eq!(
        pod_cidrs(&cluster).await,
        [
            ("node-a".to_owned(), Some("10.244.0.0/24".to_owned())),
            ("node-b".to_owned(), Some("10.244.1.0/24".to_owned())),
            ("node-c".to_owned(), Some("10.244.2.0/24".to_owned())),
        ]
    );
    // Seen back: nothing more to do.
    assert_eq!(ipam_round(&cluster, &mut ipam).await, []);

    cluster
        .api_all::<Node>()
        .delete("node-b", DeleteOptions::default())
        .await
        .unwrap();
    cluster.apply_yaml(&node("node-d")).await.unwrap();
    assert_eq!(ipam_round(&cluster, &mut ipam).await, [Ok(())]);
    assert_eq!(
        pod_cidrs(&cluster).await[2],
        ("node-d".to_owned(), Some("10.244.1.0/24".to_owned()))
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_stale_ipam_update_is_a_conflict_and_the_range_is_freed() {
    let cluster = Cluster::builder()
        .seed(6)
        .without_controllers()
        .build()
        .await
        .unwrap();
    cluster.apply_yaml(&node("node-a")).await.unwrap();
    let view = view_of_nodes(&cluster).await;
    // Someone else changes the node after the view was read.
    let mut fresh = cluster.api_all::<Node>().get("node-a").await.unwrap();
    fresh.metadata.labels.insert("zone".into(), "a".into());
    cluster.api_all::<Node>().update(fresh).await.unwrap();

    let mut ipam = NodeIpamController::default();
    let key = ObjectKey::new("", "node-a");
    let out = ipam.reconcile(&view, &key, now());
    let Action::Update(object) = out.actions[0].clone() else {
        panic!()
    };
    let err = cluster.client().update(object).await.unwrap_err();
    let ClientError::Status(status) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(status.code(), 409);
    ipam.action_failed(&key, &out.actions[0], &err);
    assert!(ipam.assumed().is_empty());
    assert_eq!(ipam_round(&cluster, &mut ipam).await, [Ok(())]);
    cluster.shutdown().await;
}

#[tokio::test]
async fn rules_follow_the_cluster_ip_and_node_port_the_api_server_allocated() {
    let cluster = Cluster::builder()
        .seed(6)
        .without_controllers()
        .build()
        .await
        .unwrap();
    cluster
        .apply_yaml(
            "apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: default}
subsets:
- addresses: [{ip: 10.244.1.5}]
  ports: [{name: http, port: 8080}]
",
        )
        .await
        .unwrap();
    let services = cluster
        .api_all::<Service>()
        .list(ListParams::default())
        .await
        .unwrap();
    let endpoints = cluster
        .api_all::<Endpoints>()
        .list(ListParams::default())
        .await
        .unwrap();
    let web = services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some("web"))
        .unwrap();
    let cluster_ip: Ipv4Addr = web.spec.cluster_ip.as_deref().unwrap().parse().unwrap();
    let node_port = u16::try_from(web.spec.ports[0].node_port.unwrap()).unwrap();

    let set = rules(&services, &endpoints, "node01");
    let text = set.to_iptables_save();
    assert!(
        text.contains(&format!(
            "-A KUBE-SERVICES -m comment --comment \"default/web:http cluster IP\" -m tcp -p tcp -d {cluster_ip} --dport 80 -j KUBE-SVC-"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "-A KUBE-NODEPORTS -m comment --comment default/web:http -m tcp -p tcp --dport {node_port} -j KUBE-EXT-"
        )),
        "{text}"
    );
    let node_ip = Ipv4Addr::new(192, 168, 0, 11);
    let dataplane = Dataplane::from_rules(&set).with_local_addresses([node_ip]);
    let mut rng = SplitMix64::new(1);
    let backend = Some((Ipv4Addr::new(10, 244, 1, 5), 8080));
    assert_eq!(
        dataplane.resolve(cluster_ip, 80, Protocol::Tcp, &mut rng),
        backend
    );
    assert_eq!(
        dataplane.resolve(node_ip, node_port, Protocol::Tcp, &mut rng),
        backend
    );
    // Cluster DNS answers the allocated address; the bootstrap `kubernetes` Service too.
    assert_eq!(dns::resolve("web", "default", &services), Some(cluster_ip));
    assert_eq!(
        dns::resolve(
            "kubernetes.default.svc.cluster.local",
            "kube-system",
            &services
        ),
        Some(Ipv4Addr::new(10, 96, 0, 1))
    );
    cluster.shutdown().await;
}
