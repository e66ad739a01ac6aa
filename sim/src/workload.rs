//! The client workload: the example manifests (`examples/`, read with
//! `skiff_core::manifest`) applied, scaled and deleted, plus bare pods, ConfigMaps and
//! Services, in a mix and at a pace drawn from the seed. Every write's outcome goes to the
//! [`Oracle`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_core::client::ListParams;
use skiff_core::client::{Client, ClientError, DeleteOptions, Deleted};
use skiff_core::object::{
    ConfigMap, DaemonSet, Deployment, KindInfo, Object, ObjectMeta, Pod, ReplicaSet, info,
};
use skiff_core::quantity::Quantity;
use skiff_core::rng::SplitMix64;
use skiff_core::selector::LabelSelector;
use skiff_store::wire::WireClient;

use crate::options::WorkloadMix;
use crate::oracle::{AckOp, Oracle};
use crate::worker::{RETRY_BACKOFF_MAX, connect, lock, timed};

const REPLICA_SET_YAML: &str = include_str!("../../examples/replicaset-definition.yaml");
const POD_YAML: &str = include_str!("../../examples/pod-definition.yaml");
const SERVICE_YAML: &str = include_str!("../../examples/service-definition.yaml");
const DEPLOYMENT_YAML: &str = include_str!("../../examples/deployment-definition.yaml");

/// Image tags a rollout moves between (all served by the simulated registry).
const ROLLOUT_TAGS: [&str; 6] = ["1.27", "1.26", "1.25", "latest", "stable", "alpine"];
/// Objects of one kind the workload keeps at most (deletes and name reuse keep it bounded).
pub const OBJECTS_PER_KIND_MAX: u64 = 40;
/// Most replicas the workload asks of one ReplicaSet.
pub const REPLICAS_MAX: u64 = 5;

/// The example objects, parsed once per run.
#[derive(Debug, Clone)]
pub struct Examples {
    replica_set: ReplicaSet,
    pod: Pod,
    service: Object,
    deployment: Deployment,
}

impl Examples {
    /// Parses the manifests in `examples/`.
    ///
    /// # Panics
    ///
    /// If an example no longer parses (the manifests are part of this repository).
    pub fn load() -> Self {
        let one = |file: &str, text: &str| {
            skiff_core::manifest::parse_str(file, text)
                .unwrap_or_else(|e| panic!("examples/{file} does not parse: {e}"))
                .remove(0)
        };
        let Object::ReplicaSet(replica_set) = one("replicaset-definition.yaml", REPLICA_SET_YAML)
        else {
            panic!("examples/replicaset-definition.yaml is not a ReplicaSet")
        };
        let Object::Pod(pod) = one("pod-definition.yaml", POD_YAML) else {
            panic!("examples/pod-definition.yaml is not a Pod")
        };
        let Object::Deployment(deployment) = one("deployment-definition.yaml", DEPLOYMENT_YAML)
        else {
            panic!("examples/deployment-definition.yaml is not a Deployment")
        };
        Self {
            replica_set,
            pod,
            service: one("service-definition.yaml", SERVICE_YAML),
            deployment,
        }
    }
}

/// Counts of what the workload did.
#[derive(Debug, Clone, Default)]
pub struct WorkloadStats {
    /// Operations attempted, by name.
    pub ops: BTreeMap<&'static str, u64>,
}

/// The workload's memory, kept across client restarts.
#[derive(Debug)]
pub struct WorkloadState {
    rng: SplitMix64,
    mix: WorkloadMix,
    op_interval: Duration,
    examples: Examples,
    /// Stats for the report.
    pub stats: WorkloadStats,
    /// Set by the harness when the liveness phase starts: the client stops changing things,
    /// uncordons every node (the operator ends the maintenance) and idles.
    pub stop: bool,
    /// Set by the client once every node is uncordoned after `stop`.
    pub stopped: bool,
}

impl WorkloadState {
    /// A workload drawing from `seed`.
    pub fn new(seed: u64, mix: WorkloadMix, op_interval: Duration) -> Self {
        Self {
            rng: SplitMix64::new(seed ^ 0x0b5e_55ed_c11e_9700),
            mix,
            op_interval,
            examples: Examples::load(),
            stats: WorkloadStats::default(),
            stop: false,
            stopped: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    ApplyReplicaSet(u64, u64),
    BarePod(u64, u64),
    ConfigMap(u64, u64),
    Service(u64),
    Scale(u64, u64),
    Delete(u64, u64),
    Deployment(u64, u64),
    DaemonSet(u64),
    CordonDrain(u64, u64),
}

fn choose(state: &mut WorkloadState) -> (Op, Duration) {
    let m = state.mix;
    let total = u64::from(m.total().max(1));
    let mut pick = state.rng.below(total);
    let n = state.rng.below(OBJECTS_PER_KIND_MAX);
    let x = state.rng.next_u64();
    let mut op = Op::ConfigMap(n, x);
    for (weight, candidate) in [
        (m.apply_replica_set, Op::ApplyReplicaSet(n, x)),
        (m.bare_pod, Op::BarePod(n, x)),
        (m.config_map, Op::ConfigMap(n, x)),
        (m.service, Op::Service(n)),
        (m.scale, Op::Scale(n, x)),
        (m.delete, Op::Delete(n, x)),
        (m.deployment, Op::Deployment(n, x)),
        (m.daemon_set, Op::DaemonSet(n)),
        (m.cordon_drain, Op::CordonDrain(n, x)),
    ] {
        let w = u64::from(weight);
        if pick < w {
            op = candidate;
            break;
        }
        pick -= w;
    }
    let interval_ms = u64::try_from(state.op_interval.as_millis()).unwrap_or(u64::MAX);
    let pause = Duration::from_millis(state.rng.below(interval_ms.saturating_mul(2).max(1)));
    (op, pause)
}

fn in_default(mut meta: ObjectMeta, name: String) -> ObjectMeta {
    meta.name = Some(name);
    meta.namespace = Some("default".to_owned());
    meta
}

fn replica_set(examples: &Examples, n: u64, replicas: u64) -> Object {
    let mut rs = examples.replica_set.clone();
    let app = format!("myapp-{n}");
    rs.metadata = in_default(rs.metadata, format!("myapp-replicaset-{n}"));
    rs.metadata.labels.insert("app".to_owned(), app.clone());
    if let Some(selector) = &mut rs.spec.selector {
        selector.match_labels.insert("app".to_owned(), app.clone());
    }
    rs.spec
        .template
        .metadata
        .labels
        .insert("app".to_owned(), app);
    rs.spec.replicas = Some(i32::try_from(replicas).unwrap_or(1));
    rs.into()
}

fn bare_pod(examples: &Examples, n: u64, x: u64) -> Object {
    let mut pod = examples.pod.clone();
    pod.metadata = in_default(pod.metadata, format!("nginx-{n}"));
    for c in &mut pod.spec.containers {
        c.resources.requests.insert(
            "cpu".to_owned(),
            Quantity::from_milli(i64::try_from(100 + x % 900).unwrap_or(100)),
        );
        c.resources.requests.insert(
            "memory".to_owned(),
            Quantity::from_bytes((64 + x % 448) << 20),
        );
    }
    pod.into()
}

fn service(examples: &Examples, n: u64) -> Object {
    let mut svc = examples.service.clone();
    let meta = svc.metadata().clone();
    *svc.metadata_mut() = in_default(meta, format!("myapp-service-{n}"));
    if let Object::Service(s) = &mut svc {
        s.spec
            .selector
            .insert("app".to_owned(), format!("myapp-{}", n % 8));
    }
    svc
}

fn deployment(examples: &Examples, n: u64, x: u64) -> Object {
    let mut d = examples.deployment.clone();
    let app = format!("web-{n}");
    d.metadata = in_default(d.metadata, format!("myapp-deployment-{n}"));
    d.metadata.labels.insert("app".to_owned(), app.clone());
    if let Some(selector) = &mut d.spec.selector {
        selector.match_labels.insert("app".to_owned(), app.clone());
    }
    d.spec
        .template
        .metadata
        .labels
        .insert("app".to_owned(), app);
    d.spec.replicas = Some(i32::try_from(1 + x % REPLICAS_MAX).unwrap_or(1));
    d.into()
}

fn daemon_set(examples: &Examples, n: u64) -> Object {
    let app = format!("agent-{n}");
    let mut ds = DaemonSet {
        metadata: in_default(ObjectMeta::default(), format!("node-agent-{n}")),
        ..DaemonSet::default()
    };
    ds.spec.selector = Some(LabelSelector {
        match_labels: BTreeMap::from([("app".to_owned(), app.clone())]),
        ..LabelSelector::default()
    });
    ds.spec.template.metadata.labels = BTreeMap::from([("app".to_owned(), app)]);
    ds.spec.template.spec = examples.pod.spec.clone();
    ds.into()
}

/// Cordons or uncordons `worker-<k>`; when `drain`, also deletes the pods bound to it
/// (`kubectl drain` without the eviction API).
async fn cordon_drain(
    client: &WireClient,
    k: u64,
    drain: bool,
    oracle: &Mutex<Oracle>,
) -> Result<&'static str, ClientError> {
    let name = format!("worker-{k}");
    let Object::Node(mut node) = timed(client.get(&info::NODE, "", &name)).await? else {
        return Ok("noop");
    };
    let cordoned = node.spec.unschedulable == Some(true);
    node.spec.unschedulable = if cordoned && !drain { None } else { Some(true) };
    let r = timed(client.update(node.into())).await;
    lock(oracle).record(AckOp::Update, &r);
    r?;
    if !drain {
        return Ok(if cordoned { "uncordon" } else { "cordon" });
    }
    let params = ListParams {
        field_selector: format!("spec.nodeName={name}"),
        ..ListParams::default()
    };
    let pods = timed(client.list(&info::POD, None, params)).await?;
    for pod in pods.items {
        let meta = pod.metadata();
        let r = timed(client.delete(
            &info::POD,
            meta.namespace_or_empty(),
            meta.name_or_empty(),
            DeleteOptions::default(),
        ))
        .await;
        record_delete(oracle, &r);
    }
    Ok("drain")
}

fn record_delete(oracle: &Mutex<Oracle>, r: &Result<Deleted, ClientError>) {
    match r {
        Ok(Deleted::Gone(o)) => lock(oracle).record(AckOp::Delete, &Ok(o.clone())),
        Ok(Deleted::Pending(o)) => lock(oracle).record(AckOp::Update, &Ok(o.clone())),
        Err(e) => lock(oracle).record(AckOp::Delete, &Err(e.clone())),
    }
}

async fn run_op(
    client: &WireClient,
    examples: &Examples,
    op: Op,
    oracle: &Mutex<Oracle>,
) -> Result<&'static str, ClientError> {
    let record = |op: AckOp, r: &Result<Object, ClientError>| lock(oracle).record(op, r);
    match op {
        Op::ApplyReplicaSet(n, x) => {
            let r = timed(client.create(None, replica_set(examples, n % 8, 1 + x % REPLICAS_MAX)))
                .await;
            record(AckOp::Create, &r);
            r.map(|_| "apply-replicaset")
        }
        Op::BarePod(n, x) => {
            let r = timed(client.create(None, bare_pod(examples, n, x))).await;
            record(AckOp::Create, &r);
            r.map(|_| "create-pod")
        }
        Op::Service(n) => {
            let r = timed(client.create(None, service(examples, n % 8))).await;
            record(AckOp::Create, &r);
            r.map(|_| "create-service")
        }
        Op::ConfigMap(n, x) => {
            let name = format!("settings-{n}");
            match timed(client.get(&info::CONFIG_MAP, "default", &name)).await {
                Ok(Object::ConfigMap(mut cm)) => {
                    cm.data.insert("value".to_owned(), x.to_string());
                    let r = timed(client.update(cm.into())).await;
                    record(AckOp::Update, &r);
                    r.map(|_| "update-configmap")
                }
                Ok(_) => Ok("noop"),
                Err(ClientError::Status(_)) => {
                    let cm = ConfigMap {
                        metadata: in_default(ObjectMeta::default(), name),
                        data: BTreeMap::from([("value".to_owned(), x.to_string())]),
                        ..ConfigMap::default()
                    };
                    let r = timed(client.create(None, cm.into())).await;
                    record(AckOp::Create, &r);
                    r.map(|_| "create-configmap")
                }
                Err(e) => Err(e),
            }
        }
        Op::Scale(n, x) => {
            let name = format!("myapp-replicaset-{}", n % 8);
            match timed(client.get(&info::REPLICA_SET, "default", &name)).await? {
                Object::ReplicaSet(mut rs) => {
                    rs.spec.replicas = Some(i32::try_from(x % (REPLICAS_MAX + 1)).unwrap_or(0));
                    let r = timed(client.update(rs.into())).await;
                    record(AckOp::Update, &r);
                    r.map(|_| "scale")
                }
                _ => Ok("noop"),
            }
        }
        Op::Delete(n, x) => {
            let (resource, name): (&'static KindInfo, String) = match x % 6 {
                0 => (&info::REPLICA_SET, format!("myapp-replicaset-{}", n % 8)),
                1 => (&info::POD, format!("nginx-{n}")),
                2 => (&info::SERVICE, format!("myapp-service-{}", n % 8)),
                3 => (&info::DEPLOYMENT, format!("myapp-deployment-{}", n % 4)),
                4 => (&info::DAEMON_SET, format!("node-agent-{}", n % 2)),
                _ => (&info::CONFIG_MAP, format!("settings-{n}")),
            };
            let r =
                timed(client.delete(resource, "default", &name, DeleteOptions::default())).await;
            record_delete(oracle, &r);
            r.map(|_| "delete")
        }
        Op::Deployment(n, x) => {
            let name = format!("myapp-deployment-{}", n % 4);
            match timed(client.get(&info::DEPLOYMENT, "default", &name)).await {
                Ok(Object::Deployment(mut d)) => {
                    // A rollout: a new image tag changes the template.
                    for c in &mut d.spec.template.spec.containers {
                        c.image = Some(format!(
                            "nginx:{}",
                            ROLLOUT_TAGS[usize::try_from(x % 6).unwrap_or(0)]
                        ));
                    }
                    let r = timed(client.update(d.into())).await;
                    record(AckOp::Update, &r);
                    r.map(|_| "rollout")
                }
                Ok(_) => Ok("noop"),
                Err(ClientError::Status(_)) => {
                    let r = timed(client.create(None, deployment(examples, n % 4, x))).await;
                    record(AckOp::Create, &r);
                    r.map(|_| "create-deployment")
                }
                Err(e) => Err(e),
            }
        }
        Op::DaemonSet(n) => {
            let r = timed(client.create(None, daemon_set(examples, n % 2))).await;
            record(AckOp::Create, &r);
            r.map(|_| "create-daemonset")
        }
        Op::CordonDrain(n, x) => cordon_drain(client, 1 + n % 8, x % 3 == 0, oracle).await,
    }
}

/// Uncordons every node (the end of the workload: the liveness phase needs every node
/// schedulable to judge convergence).
async fn uncordon_all(client: &WireClient, oracle: &Mutex<Oracle>) -> Result<(), ClientError> {
    let nodes = timed(client.list(&info::NODE, None, ListParams::default())).await?;
    for node in nodes.items {
        if let Object::Node(mut node) = node
            && node.spec.unschedulable == Some(true)
        {
            node.spec.unschedulable = None;
            let r = timed(client.update(node.into())).await;
            lock(oracle).record(AckOp::Update, &r);
            r?;
        }
    }
    Ok(())
}

/// Runs the workload forever against `server` (the client node's death ends it).
pub async fn run(
    server: String,
    token: String,
    state: Arc<Mutex<WorkloadState>>,
    oracle: Arc<Mutex<Oracle>>,
) {
    let examples = lock(&state).examples.clone();
    loop {
        let Ok(client) = connect(&server, &token).await else {
            tokio::time::sleep(RETRY_BACKOFF_MAX).await;
            continue;
        };
        loop {
            if lock(&state).stop {
                if uncordon_all(&client, &oracle).await.is_ok() {
                    lock(&state).stopped = true;
                    std::future::pending::<()>().await;
                }
                break;
            }
            let (op, pause) = choose(&mut lock(&state));
            tokio::time::sleep(pause).await;
            match run_op(&client, &examples, op, &oracle).await {
                Ok(name) => *lock(&state).stats.ops.entry(name).or_default() += 1,
                Err(ClientError::Status(_)) => {
                    *lock(&state).stats.ops.entry("refused").or_default() += 1;
                }
                Err(ClientError::Transport(_)) => {
                    *lock(&state).stats.ops.entry("unknown").or_default() += 1;
                    break;
                }
            }
        }
    }
}
