//! Embedding skiff: start a cluster in this process with three simulated worker nodes, apply
//! the seed's ReplicaSet (`examples/replicaset-definition.yaml`), and watch its pods until all
//! three are `Running`. Exits non-zero if they are not within a minute.
//!
//! ```sh
//! cargo run --example embed_basic
//! ```

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use skiff::Cluster;
use skiff::api::Event;
use skiff::core::client::ListParams;
use skiff::core::object::Pod;

/// The manifest, as a user would keep it beside their program.
const REPLICA_SET: &str = include_str!("replicaset-definition.yaml");
/// How long the pods may take.
const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(pods) => {
            println!("3 pods Running:");
            for (name, node) in pods {
                println!("  {name} on {node}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("embed_basic failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Returns the Running pods (name → node) once there are three.
async fn run() -> Result<BTreeMap<String, String>, Box<dyn std::error::Error>> {
    // The whole control plane in memory, plus node-1..node-3 (kubelets over a simulated
    // container runtime).
    let cluster = Cluster::builder().nodes(3).build().await?;
    let pods = cluster.api::<Pod>("default");
    // Watch from now, before applying: every pod the ReplicaSet creates is seen.
    let mut watch = pods
        .watch(ListParams {
            label_selector: "app=myapp".into(),
            ..ListParams::default()
        })
        .await?;
    for applied in cluster.apply_yaml(REPLICA_SET).await? {
        println!("replicaset.apps/myapp-replicaset {}", applied.verb());
    }
    let mut running = BTreeMap::new();
    let outcome = tokio::time::timeout(DEADLINE, async {
        while running.len() < 3 {
            let Some(event) = watch.next().await else {
                return Err("the watch ended".to_owned());
            };
            match event.map_err(|e| e.to_string())? {
                Event::Added(pod) | Event::Modified(pod) => {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    if pod.status.phase.as_deref() == Some("Running") {
                        let node = pod.spec.node_name.clone().unwrap_or_default();
                        if running.insert(name.clone(), node.clone()).is_none() {
                            println!("pod/{name} Running on {node}");
                        }
                    } else {
                        running.remove(&name);
                    }
                }
                Event::Deleted(pod) => {
                    running.remove(pod.metadata.name_or_empty());
                }
                Event::Bookmark(_) => {}
                Event::Error(status) => return Err(status.message),
            }
        }
        Ok(())
    })
    .await;
    cluster.shutdown().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => {
            return Err(format!(
                "only {} of 3 pods Running after {} s",
                running.len(),
                DEADLINE.as_secs()
            )
            .into());
        }
    }
    // The outcome, asserted: three distinct pods, each on a node.
    if running.len() != 3 || running.values().any(String::is_empty) {
        return Err(format!("unexpected pods: {running:?}").into());
    }
    Ok(running)
}
