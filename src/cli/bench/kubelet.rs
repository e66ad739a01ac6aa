//! `skiff bench kubelet`: what one kubelet costs per pod sync, and what the heartbeats of a
//! whole cluster of kubelets cost the API server.
//!
//! Phases:
//!
//! 1. **Pod sync** (pure, no I/O): one node's kubelet (`NodeWorkload`: the real reconcile over
//!    the simulated runtime, virtual time one second per round) with `--pods-per-node` pods
//!    bound to it. The rounds until every pod is Running and Ready are timed as *startup*;
//!    then `--rounds` steady rounds, in which the kubelet syncs every pod (runtime snapshot,
//!    probes, reconcile, apply). A round's time over its pods is one per-pod sample:
//!    `pod_sync_latency_p50`/`_p99` (µs per pod), `pod_sync_throughput` (pods/s on one
//!    core) and `pod_sync_cpu_per_pod` (the process's CPU time over the pod syncs). A kubelet's cost does not depend on the cluster's size (each node runs its own),
//!    so one node is measured.
//! 2. **Heartbeats** (real store through `ApiServer`): `--nodes` nodes registered (the Node
//!    the kubelet registers, renamed per node) with their Leases in `kube-node-lease`, in a
//!    store on disk (a temporary directory, every commit fsynced) or in memory with
//!    `--memory`. Upstream's kubelet renews its Lease every 10 s (a quarter of the 40 s lease
//!    duration) and writes an unchanged NodeStatus every 5 min (`nodeStatusReportFrequency`),
//!    so the API server must absorb `nodes/10 + nodes/300` writes/s (516.7 for 5,000 nodes).
//!    One simulated minute of those writes (node *i* of *n* renews at seconds `i mod 10`,
//!    +10, …; writes its status at second `⌊300·i/n⌋` when that falls in the minute) is sent through
//!    `ApiServer::update` / `update_status` with the last resourceVersion as precondition,
//!    each simulated second's writes concurrently, the seconds one after another as fast as
//!    the store takes them. Reported: the writes/s required, the writes/s achieved, the time
//!    one simulated minute took, the write latency, and the slowest simulated second (which
//!    must stay under one real second for the store to keep up).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Args;
use skiff_controllers::cri::sim::{SimConfig, SimRuntime};
use skiff_controllers::kubelet::bench::NodeWorkload;
use skiff_controllers::kubelet::{Kubelet, KubeletConfig, Snapshot};
use skiff_controllers::reconcile::{Action, micro_time_of, time_of};
use skiff_controllers::view::View;
use skiff_core::clock::{Clock, ManualClock, SystemClock};
use skiff_core::event::Actor;
use skiff_core::object::{Lease, LeaseSpec, Node, NodeAddress, Object, ObjectMeta, OwnerReference};
use skiff_store::apiserver::ApiServer;
use skiff_store::{Backing, Store};

use super::measure::{self, CpuMeter, Samples, ms, now, us};
use super::{Param, Report};

/// Options of `skiff bench kubelet`.
#[derive(Debug, Clone, Args)]
pub struct KubeletArgs {
    /// Nodes whose heartbeats the API server absorbs.
    #[arg(long, default_value_t = 5000)]
    pub nodes: usize,
    /// Pods on the node whose sync is timed (at most 253, what its /24 pod CIDR holds;
    /// upstream's default maxPods is 110).
    #[arg(long, default_value_t = 110)]
    pub pods_per_node: usize,
    /// Steady sync rounds timed after every pod is ready (one virtual second each).
    #[arg(long, default_value_t = 300)]
    pub rounds: usize,
    /// Seed of the simulated runtime and the API server's uids.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep the store in memory (no disk, no fsync) instead of a temporary directory.
    #[arg(long)]
    pub memory: bool,
    /// Put the scratch store in a temporary directory under DIR; default: the system
    /// temporary directory. Removed when the benchmark ends.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Upstream's Lease renew interval: a quarter of `nodeLeaseDurationSeconds` (40 s).
const LEASE_RENEW: u64 = 10;
/// Upstream's `nodeStatusReportFrequency`: unchanged status is still written every 5 min.
const STATUS_REPORT: u64 = 300;
/// The simulated span of the heartbeat phase.
const MINUTE: u64 = 60;
/// Most pods `NodeWorkload` places on its node (its /24 pod CIDR).
const PODS_PER_NODE_MAX: usize = 253;
/// Rounds a workload gets to bring every pod to Ready before the benchmark gives up.
const STARTUP_ROUNDS_MAX: usize = 120;
/// Concurrent creators while registering the nodes (untimed).
const LOAD_TASKS: usize = 64;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn progress(msg: &str) {
    eprintln!("bench kubelet: {msg}");
}

#[allow(clippy::cast_precision_loss, reason = "counts of pods and writes")]
fn per_second(count: usize, d: Duration) -> f64 {
    count as f64 / d.as_secs_f64().max(1e-9)
}

/// Runs the benchmark.
pub(crate) fn run(args: &KubeletArgs, report: &mut Report<'_, impl Write>) -> Result<(), String> {
    if args.pods_per_node == 0 || args.pods_per_node > PODS_PER_NODE_MAX {
        return Err(format!(
            "--pods-per-node must be between 1 and {PODS_PER_NODE_MAX}"
        ));
    }
    progress(&format!(
        "{} CPUs, load {:.2}",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        measure::load_average().unwrap_or(f64::NAN)
    ));
    pod_sync(args, report)?;
    if args.nodes > 0 {
        heartbeats(args, report)?;
    }
    Ok(())
}

/// Phase 1: one kubelet's per-pod sync cost.
fn pod_sync(args: &KubeletArgs, report: &mut Report<'_, impl Write>) -> Result<(), String> {
    let pods = args.pods_per_node;
    let params = [("pods_per_node", Param::from(pods))];
    progress(&format!("pod sync: one kubelet, {pods} pods"));
    let mut workload = NodeWorkload::new(pods, args.seed);
    let start = now();
    let mut startup_rounds = 0;
    while workload.ready() < pods {
        if startup_rounds == STARTUP_ROUNDS_MAX {
            return Err(format!(
                "only {} of {pods} pods were ready after {STARTUP_ROUNDS_MAX} rounds",
                workload.ready()
            ));
        }
        workload.round();
        startup_rounds += 1;
    }
    let startup = start.elapsed();
    report.metric(
        "pod_startup_cost",
        &params,
        us(startup) / per_second(pods, Duration::from_secs(1)),
        "µs",
        format!("per pod: {startup_rounds} rounds from bound to Ready, summed"),
    );
    let mut samples = Samples::with_capacity(args.rounds);
    let cpu = CpuMeter::start();
    let start = now();
    let mut writes = 0;
    for _ in 0..args.rounds {
        let round = now();
        let (_, api_writes) = workload.round();
        let took = round.elapsed();
        writes += api_writes;
        #[allow(clippy::cast_possible_truncation, reason = "at most 253 pods")]
        samples.push(took / pods as u32);
    }
    let total = start.elapsed();
    let used = cpu.stop();
    if workload.ready() != pods {
        return Err(format!(
            "{} of {pods} pods stayed ready through the steady rounds",
            workload.ready()
        ));
    }
    let note = format!(
        "{} rounds, {writes} API writes; {:.2} other cores busy",
        args.rounds,
        used.other_cores.unwrap_or(f64::NAN)
    );
    report.metric(
        "pod_sync_latency_p50",
        &params,
        us(samples.p50()),
        "µs",
        "per pod, one steady round / pods",
    );
    report.metric("pod_sync_latency_p99", &params, us(samples.p99()), "µs", "");
    report.metric(
        "pod_sync_throughput",
        &params,
        per_second(pods * args.rounds, total),
        "pods/s",
        note,
    );
    // CPU time is what other processes on a busy machine disturb least (its resolution is
    // the kernel's 10 ms tick, so it needs enough rounds).
    report.metric(
        "pod_sync_cpu_per_pod",
        &params,
        us(used.own) / per_second(pods * args.rounds, Duration::from_secs(1)),
        "µs",
        "process CPU over the steady rounds / pod syncs",
    );
    Ok(())
}

/// The Node a kubelet registers (from a real kubelet's registration) and its Lease, for the
/// node named `name`.
fn node_and_lease(template: &Node, i: usize, at: SystemTime) -> (Node, Lease) {
    let name = node_name(i);
    let mut node = template.clone();
    node.metadata.name = Some(name.clone());
    node.metadata
        .labels
        .insert("kubernetes.io/hostname".into(), name.clone());
    let ip = format!("10.{}.{}.{}", 1 + i / 65_536, (i / 256) % 256, i % 256);
    node.status.addresses = vec![
        NodeAddress {
            type_: "InternalIP".into(),
            address: ip,
        },
        NodeAddress {
            type_: "Hostname".into(),
            address: name.clone(),
        },
    ];
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some("kube-node-lease".into()),
            ..ObjectMeta::default()
        },
        spec: LeaseSpec {
            holder_identity: Some(name),
            lease_duration_seconds: Some(40),
            renew_time: Some(micro_time_of(at)),
            ..LeaseSpec::default()
        },
        ..Lease::default()
    };
    (node, lease)
}

fn node_name(i: usize) -> String {
    format!("node-{i:05}")
}

/// The Node a real kubelet registers, from one reconcile of a fresh kubelet over the
/// simulated runtime.
fn registered_node(seed: u64) -> Result<Node, String> {
    let clock = ManualClock::new(1_700_000_000);
    let runtime = SimRuntime::new(
        Arc::new(clock.clone()),
        SimConfig {
            seed,
            ..SimConfig::default()
        },
    );
    let mut kubelet = Kubelet::new(KubeletConfig::new(node_name(0)));
    let snapshot = Snapshot::take(&runtime);
    let out = kubelet.reconcile(&View::new(), &snapshot, clock.wall());
    out.api
        .into_iter()
        .find_map(|a| match a {
            Action::Create(Object::Node(node)) => Some(node),
            _ => None,
        })
        .ok_or_else(|| "the kubelet registered no Node".to_owned())
}

/// Phase 2: a simulated minute of `--nodes` nodes' heartbeats through the API server.
fn heartbeats(args: &KubeletArgs, report: &mut Report<'_, impl Write>) -> Result<(), String> {
    let mut scratch = tempfile::Builder::new();
    scratch.prefix("skiff-bench-kubelet-");
    let scratch = match &args.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            scratch.tempdir_in(dir)
        }
        None => scratch.tempdir(),
    }
    .map_err(|e| format!("creating the scratch directory: {e}"))?;
    let backing = if args.memory {
        Backing::Memory
    } else {
        Backing::Dir(scratch.path().join("store"))
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    let template = registered_node(args.seed)?;
    let result = runtime.block_on(async {
        let clock = Arc::new(SystemClock::new());
        let store = Store::open(backing, clock.clone()).map_err(err)?;
        let api = Arc::new(ApiServer::new(store.clone(), clock.clone(), args.seed));
        api.bootstrap().await.map_err(err)?;
        let result = heartbeat_minute(&api, &template, clock.wall(), args, report).await;
        store.shutdown().await;
        result
    });
    drop(runtime);
    drop(scratch);
    result
}

/// One heartbeat write: node `i`'s Lease renewal or NodeStatus report.
#[derive(Debug, Clone, Copy)]
enum Beat {
    Lease(usize),
    Status(usize),
}

/// The simulated minute's writes, by second: node `i` of `n` renews at `i mod 10` (+10, …)
/// and reports its status at `⌊300·i/n⌋` when that second is in the minute.
fn schedule(nodes: usize) -> Vec<Vec<Beat>> {
    let mut seconds: Vec<Vec<Beat>> = (0..MINUTE).map(|_| Vec::new()).collect();
    for i in 0..nodes {
        let offset = i as u64;
        let mut t = offset % LEASE_RENEW;
        while t < MINUTE {
            seconds[usize::try_from(t).unwrap_or(0)].push(Beat::Lease(i));
            t += LEASE_RENEW;
        }
        // Spread evenly over the report period, so a minute holds exactly its share.
        let status_at = offset * STATUS_REPORT / nodes as u64;
        if status_at < MINUTE {
            seconds[usize::try_from(status_at).unwrap_or(0)].push(Beat::Status(i));
        }
    }
    seconds
}

/// Registers the nodes and leases (untimed), then sends the minute's writes.
#[allow(
    clippy::too_many_lines,
    reason = "load, run and report read best in order"
)]
async fn heartbeat_minute(
    api: &Arc<ApiServer>,
    template: &Node,
    start: SystemTime,
    args: &KubeletArgs,
    report: &mut Report<'_, impl Write>,
) -> Result<(), String> {
    let n = args.nodes;
    progress(&format!(
        "heartbeats: registering {n} nodes and leases ({})",
        if args.memory { "in memory" } else { "on disk" }
    ));
    let pairs: Vec<(Node, Lease)> = (0..n).map(|i| node_and_lease(template, i, start)).collect();
    let mut nodes: Vec<Option<Node>> = vec![None; n];
    let mut leases: Vec<Option<Lease>> = vec![None; n];
    let pairs = Arc::new(std::sync::Mutex::new(
        pairs.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let mut handles = Vec::new();
    for _ in 0..LOAD_TASKS {
        let (api, pairs) = (api.clone(), pairs.clone());
        handles.push(tokio::spawn(async move {
            let actor = Actor::new("bench");
            let mut done = Vec::new();
            loop {
                let next = pairs
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .pop();
                let Some((i, (node, mut lease))) = next else {
                    return Ok::<_, String>(done);
                };
                let status = node.status.clone();
                let created = api.create(&actor, None, node.into()).await.map_err(err)?;
                let Object::Node(mut node) = created else {
                    return Err("a node create returned another kind".into());
                };
                // The create may drop the status (as upstream's does): the kubelet's first
                // status update sets it.
                node.status = status;
                let Object::Node(node) =
                    api.update_status(&actor, node.into()).await.map_err(err)?
                else {
                    return Err("a status update returned another kind".into());
                };
                lease.metadata.owner_references = vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: node_name(i),
                    uid: node.metadata.uid.clone().unwrap_or_default(),
                    ..OwnerReference::default()
                }];
                let Object::Lease(lease) =
                    api.create(&actor, None, lease.into()).await.map_err(err)?
                else {
                    return Err("a lease create returned another kind".into());
                };
                done.push((i, node, lease));
            }
        }));
    }
    for h in handles {
        for (i, node, lease) in h.await.map_err(err)?? {
            nodes[i] = Some(node);
            leases[i] = Some(lease);
        }
    }

    let seconds = schedule(n);
    let total: usize = seconds.iter().map(Vec::len).sum();
    #[allow(clippy::cast_precision_loss, reason = "node counts")]
    let required = n as f64 / LEASE_RENEW as f64 + n as f64 / STATUS_REPORT as f64;
    let params = [("nodes", Param::from(n))];
    report.metric(
        "heartbeat_writes_required",
        &params,
        required,
        "ops/s",
        format!("Lease every {LEASE_RENEW} s + NodeStatus every {STATUS_REPORT} s"),
    );
    progress(&format!("heartbeats: one simulated minute, {total} writes"));
    let mut latencies = Samples::with_capacity(total);
    let mut slowest_second = Duration::ZERO;
    let cpu = CpuMeter::start();
    let began = now();
    for (t, beats) in seconds.iter().enumerate() {
        let at = start + Duration::from_secs(t as u64 + 1);
        let second = now();
        let mut tasks = Vec::with_capacity(beats.len());
        for beat in beats {
            let object: Object = match *beat {
                Beat::Lease(i) => {
                    let mut lease = leases[i].take().ok_or("a lease renewed twice at once")?;
                    lease.spec.renew_time = Some(micro_time_of(at));
                    lease.into()
                }
                Beat::Status(i) => {
                    let mut node = nodes[i].take().ok_or("a node reported twice at once")?;
                    for c in &mut node.status.conditions {
                        c.last_heartbeat_time = Some(time_of(at));
                    }
                    node.into()
                }
            };
            let (api, beat) = (api.clone(), *beat);
            tasks.push(tokio::spawn(async move {
                let actor = Actor::new(match beat {
                    Beat::Lease(i) | Beat::Status(i) => format!("system:node:{}", node_name(i)),
                });
                let sent = now();
                let written = match beat {
                    Beat::Lease(_) => api.update(&actor, object).await,
                    Beat::Status(_) => api.update_status(&actor, object).await,
                };
                (beat, written.map_err(err), sent.elapsed())
            }));
        }
        for task in tasks {
            let (beat, written, took) = task.await.map_err(err)?;
            latencies.push(took);
            match (beat, written?) {
                (Beat::Lease(i), Object::Lease(lease)) => leases[i] = Some(lease),
                (Beat::Status(i), Object::Node(node)) => nodes[i] = Some(node),
                _ => return Err("a heartbeat write returned another kind".into()),
            }
        }
        slowest_second = slowest_second.max(second.elapsed());
    }
    let minute = began.elapsed();
    let used = cpu.stop();
    let achieved = per_second(total, minute);
    report.metric(
        "heartbeat_writes_achieved",
        &params,
        achieved,
        "ops/s",
        format!(
            "{total} writes, {:.1}x the required rate; {:.2} other cores busy",
            achieved / required,
            used.other_cores.unwrap_or(f64::NAN)
        ),
    );
    report.metric(
        "heartbeat_minute_time",
        &params,
        minute.as_secs_f64(),
        "s",
        "wall time of one simulated minute of heartbeats",
    );
    report.metric(
        "heartbeat_second_max",
        &params,
        ms(slowest_second),
        "ms",
        "slowest simulated second (must stay under 1000)",
    );
    report.metric(
        "heartbeat_write_latency_p50",
        &params,
        us(latencies.p50()),
        "µs",
        "",
    );
    report.metric(
        "heartbeat_write_latency_p99",
        &params,
        us(latencies.p99()),
        "µs",
        "",
    );
    #[allow(clippy::cast_precision_loss, reason = "CPU time per write")]
    report.metric(
        "heartbeat_cpu_per_write",
        &params,
        us(used.own) / total.max(1) as f64,
        "µs",
        "this process (API server + store + senders)",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_of_5000_nodes_is_30000_renewals_and_1000_status_reports() {
        let seconds = schedule(5000);
        let count = |lease: bool| {
            seconds
                .iter()
                .flatten()
                .filter(|b| matches!(b, Beat::Lease(_)) == lease)
                .count()
        };
        assert_eq!((count(true), count(false)), (30_000, 1000));
        // Every second carries a tenth of the nodes' renewals.
        assert!(
            seconds
                .iter()
                .all(|s| s.iter().filter(|b| matches!(b, Beat::Lease(_))).count() == 500)
        );
        // A node renews every 10 s: node 7 at 7, 17, …, 57.
        let node7: Vec<usize> = seconds
            .iter()
            .enumerate()
            .filter(|(_, s)| s.iter().any(|b| matches!(b, Beat::Lease(7))))
            .map(|(t, _)| t)
            .collect();
        assert_eq!(node7, [7, 17, 27, 37, 47, 57]);
    }
}
