//! The control plane in-process (real store, API server, controller manager and scheduler)
//! with fake nodes — objects and lease renewals, no kubelet — under paused tokio time: the
//! controllers issue's end-to-end story.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use skiff::Cluster;
use skiff::controllers::runtime::TokioClock;
use skiff::core::client::{DeleteOptions, ListParams};
use skiff::core::object::{
    Lease, LeaseSpec, Node, NodeCondition, ObjectMeta, Pod, ReplicaSet, Taint,
};
use skiff::core::quantity::Quantity;

const NODES: [&str; 3] = ["node-1", "node-2", "node-3"];

fn q(s: &str) -> Quantity {
    s.parse().unwrap()
}

async fn add_node(cluster: &Cluster, name: &str) {
    let mut node = Node::default();
    node.metadata.name = Some(name.to_owned());
    node.metadata.labels = BTreeMap::from([("kubernetes.io/hostname".to_owned(), name.to_owned())]);
    let nodes = cluster.api_all::<Node>();
    nodes.create(node).await.unwrap();
    let resources = BTreeMap::from([
        ("cpu".to_owned(), q("4")),
        ("memory".to_owned(), q("8Gi")),
        ("pods".to_owned(), q("110")),
    ]);
    // The node IPAM controller writes the node too: retry on Conflict, as a kubelet does.
    loop {
        let mut node = nodes.get(name).await.unwrap();
        node.status.capacity = resources.clone();
        node.status.allocatable = resources.clone();
        node.status.conditions = vec![NodeCondition {
            type_: "Ready".into(),
            status: "True".into(),
            last_heartbeat_time: Some(cluster.clock().now_time()),
            last_transition_time: Some(cluster.clock().now_time()),
            reason: Some("KubeletReady".into()),
            message: Some("kubelet is posting ready status".into()),
        }];
        if nodes.update_status(node).await.is_ok() {
            return;
        }
    }
}

/// Renews `node`'s Lease in `kube-node-lease` as its kubelet would (every 10 s).
async fn renew(cluster: &Cluster, node: &str) {
    let leases = cluster.api::<Lease>("kube-node-lease");
    let now = cluster.clock().now_micro_time();
    if let Some(mut lease) = leases.get_opt(node).await.unwrap() {
        lease.spec.renew_time = Some(now);
        leases.update(lease).await.unwrap();
    } else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(node.to_owned()),
                namespace: Some("kube-node-lease".to_owned()),
                ..ObjectMeta::default()
            },
            spec: LeaseSpec {
                holder_identity: Some(node.to_owned()),
                lease_duration_seconds: Some(40),
                renew_time: Some(now),
                ..LeaseSpec::default()
            },
            ..Lease::default()
        };
        leases.create(lease).await.unwrap();
    }
}

/// The pods of the seed's ReplicaSet that are not being deleted, as (name, node).
async fn active_pods(cluster: &Cluster) -> Vec<(String, Option<String>)> {
    cluster
        .api::<Pod>("default")
        .list(ListParams {
            label_selector: "app=myapp".into(),
            ..ListParams::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| (p.metadata.name.unwrap(), p.spec.node_name))
        .collect()
}

fn bound(pods: &[(String, Option<String>)]) -> usize {
    pods.iter().filter(|(_, n)| n.is_some()).count()
}

/// Advances paused time one second at a time, renewing the leases of `alive` every 10 s,
/// until `done` holds; returns how many seconds it took (or panics after `limit`).
async fn run_until<F, Fut>(cluster: &Cluster, alive: &[&str], limit: u64, mut done: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for second in 0..=limit {
        if second % 10 == 0 {
            for node in alive {
                renew(cluster, node).await;
            }
        }
        if done().await {
            return second;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("not done within {limit} s");
}

#[tokio::test(start_paused = true)]
#[allow(clippy::too_many_lines, reason = "one story, told in order")]
async fn replicaset_story_with_a_node_that_stops_renewing_its_lease() {
    let clock = Arc::new(TokioClock::new(
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    ));
    let cluster = Cluster::builder()
        .seed(21)
        .clock(clock)
        .build()
        .await
        .unwrap();
    for node in NODES {
        add_node(&cluster, node).await;
        renew(&cluster, node).await;
    }
    let manifest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/replicaset-definition.yaml"),
    )
    .unwrap();
    cluster.apply_yaml(&manifest).await.unwrap();

    // A ReplicaSet of 3 gets 3 bound pods.
    run_until(&cluster, &NODES, 60, || async {
        let pods = active_pods(&cluster).await;
        pods.len() == 3 && bound(&pods) == 3
    })
    .await;

    // Deleting one brings a replacement.
    let victim = active_pods(&cluster).await[0].0.clone();
    let force = DeleteOptions {
        grace_period_seconds: Some(0),
        ..DeleteOptions::default()
    };
    cluster
        .api::<Pod>("default")
        .delete(&victim, force.clone())
        .await
        .unwrap();
    run_until(&cluster, &NODES, 60, || async {
        let pods = active_pods(&cluster).await;
        pods.len() == 3 && bound(&pods) == 3 && pods.iter().all(|(n, _)| *n != victim)
    })
    .await;

    // A bare pod matching the selector is adopted and the surplus deleted.
    cluster
        .apply_yaml(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: stray\n  labels: {app: myapp, type: front-end}\nspec:\n  containers:\n  - {name: c, image: nginx}\n",
        )
        .await
        .unwrap();
    run_until(&cluster, &NODES, 60, || async {
        let pods = cluster
            .api::<Pod>("default")
            .list(ListParams {
                label_selector: "app=myapp".into(),
                ..ListParams::default()
            })
            .await
            .unwrap();
        let active: Vec<&Pod> = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        active.len() == 3
            && active.iter().all(|p| {
                p.metadata
                    .controller_ref()
                    .is_some_and(|r| r.name == "myapp-replicaset")
            })
    })
    .await;

    // Scale to 6.
    let replica_sets = cluster.api::<ReplicaSet>("default");
    let mut rs = replica_sets.get("myapp-replicaset").await.unwrap();
    rs.spec.replicas = Some(6);
    replica_sets.update(rs).await.unwrap();
    run_until(&cluster, &NODES, 60, || async {
        let pods = active_pods(&cluster).await;
        pods.len() == 6 && bound(&pods) == 6
    })
    .await;
    let on_node_3 = active_pods(&cluster)
        .await
        .into_iter()
        .filter(|(_, n)| n.as_deref() == Some("node-3"))
        .count();
    assert!(on_node_3 > 0, "the spread puts pods on node-3 too");

    // node-3 stops renewing its lease: Unknown after the 40 s grace period (checked every
    // 5 s), its unreachable NoExecute taint, then its pods evicted 300 s later and recreated
    // on the other nodes.
    let alive = ["node-1", "node-2"];
    renew(&cluster, "node-3").await;
    let unknown_after = run_until(&cluster, &alive, 120, || async {
        let node = cluster.api_all::<Node>().get("node-3").await.unwrap();
        node.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "Unknown")
    })
    .await;
    // The controller observes a renewal at its next 5 s pass and checks every 5 s: Unknown
    // between the grace period and the grace period plus two monitor periods.
    assert!(
        (40..=50).contains(&unknown_after),
        "Ready=Unknown {unknown_after} s after the last renewal"
    );
    let tainted_after = run_until(&cluster, &alive, 30, || async {
        let node = cluster.api_all::<Node>().get("node-3").await.unwrap();
        node.spec
            .taints
            .iter()
            .any(|t: &Taint| t.key == "node.kubernetes.io/unreachable" && t.effect == "NoExecute")
    })
    .await;
    assert!(
        tainted_after <= 2,
        "tainted {tainted_after} s after Unknown"
    );
    let evicted_after = run_until(&cluster, &alive, 400, || async {
        active_pods(&cluster)
            .await
            .iter()
            .all(|(_, n)| n.as_deref() != Some("node-3"))
    })
    .await;
    assert!(
        (299..=302).contains(&evicted_after),
        "evicted {evicted_after} s after the taint (toleration 300 s)"
    );
    run_until(&cluster, &alive, 60, || async {
        let pods = active_pods(&cluster).await;
        pods.len() == 6
            && bound(&pods) == 6
            && pods.iter().all(|(_, n)| n.as_deref() != Some("node-3"))
    })
    .await;
    cluster.shutdown().await;
}
