//! In-process worker nodes (kubelet + simulated runtime + the pod network from kube-proxy's
//! rules) under paused tokio time: the node-agents issue's end-to-end story.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use skiff::Cluster;
use skiff::controllers::cri::{ContainerFilter, Runtime};
use skiff::controllers::runtime::TokioClock;
use skiff::core::client::ListParams;
use skiff::core::object::{Endpoints, Node, Pod};

const APP: &str = "
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: nginx, image: nginx, ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
";

const CLIENT: &str = "
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
  - {name: shell, image: busybox, command: [sleep, '3600']}
";

#[tokio::test(start_paused = true)]
#[allow(clippy::too_many_lines, reason = "one story, told in order")]
async fn three_nginx_pods_run_on_three_nodes_and_their_service_answers_by_name() {
    let clock = Arc::new(TokioClock::new(
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    ));
    let cluster = Cluster::builder()
        .seed(5)
        .clock(clock)
        .nodes(3)
        .build()
        .await
        .unwrap();
    // The three kubelets register their nodes and report Ready.
    for _ in 0..60 {
        let ready = cluster
            .api_all::<Node>()
            .list(ListParams::default())
            .await
            .unwrap()
            .iter()
            .filter(|n| {
                n.status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
            .count();
        if ready == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    cluster.apply_yaml(APP).await.unwrap();
    let pods = cluster.api::<Pod>("default");
    let mut running = Vec::new();
    for _ in 0..120 {
        running = pods
            .list(ListParams {
                label_selector: "app=web".into(),
                ..ListParams::default()
            })
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.status.phase.as_deref() == Some("Running") && p.status.pod_ip.is_some())
            .collect::<Vec<_>>();
        if running.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(running.len(), 3, "three Running pods with IPs");
    let mut nodes: Vec<String> = running
        .iter()
        .filter_map(|p| p.spec.node_name.clone())
        .collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(
        nodes,
        ["node-1", "node-2", "node-3"],
        "spread over the three nodes"
    );

    // The Endpoints controller lists the three ready pods.
    let mut ips: Vec<String> = running
        .iter()
        .filter_map(|p| p.status.pod_ip.clone())
        .collect();
    ips.sort();
    let mut listed = Vec::new();
    for _ in 0..30 {
        if let Some(ep) = cluster
            .api::<Endpoints>("default")
            .get_opt("web")
            .await
            .unwrap()
        {
            listed = ep
                .subsets
                .iter()
                .flat_map(|s| s.addresses.iter().map(|a| a.ip.clone()))
                .collect();
            listed.sort();
            if listed == ips {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(listed, ips);

    // From another pod, `wget http://web` reaches one of them through the Service.
    cluster.apply_yaml(CLIENT).await.unwrap();
    let client = loop {
        let pod = pods.get("client").await.unwrap();
        if pod.status.phase.as_deref() == Some("Running") {
            break pod;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let node = client.spec.node_name.clone().unwrap();
    let runtime = cluster.runtime(&node).unwrap();
    let container = runtime
        .list_containers(&ContainerFilter::default())
        .into_iter()
        .find(|c| c.metadata.name == "shell")
        .expect("the client's container runs on its node");
    let answer = runtime
        .exec_sync(
            &container.id,
            &["wget".into(), "-qO-".into(), "http://web".into()],
            Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!(
        answer.exit_code,
        0,
        "{}",
        String::from_utf8_lossy(&answer.stderr)
    );
    assert!(
        String::from_utf8_lossy(&answer.stdout).contains("Welcome to nginx!"),
        "{}",
        String::from_utf8_lossy(&answer.stdout)
    );
    cluster.shutdown().await;
}
