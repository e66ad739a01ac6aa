//! `skiff bench scheduler`: pods scheduled and their bindings committed per second, like
//! upstream scheduler_perf's `SchedulingBasic/5000Nodes_10000Pods` (nodes and pods created
//! first, untimed; then every pending pod is scheduled and bound).
//!
//! Phases:
//!
//! 1. **Load** (untimed): `--nodes` nodes (4 CPU, 32 GiB, 110 pods, like scheduler_perf's node
//!    template) and `--pods` pending pods (one container requesting 100m and 500Mi, like its
//!    pod template) created through the API server into a store on disk (a temporary
//!    directory; every commit is fsynced) or in memory with `--memory`.
//! 2. **Decide only**: the pending pods scheduled against a snapshot built from a list of the
//!    store, with the assume cache, and nothing written. The rate of the scheduling algorithm
//!    itself.
//! 3. **End to end**: list nodes and pods, build the snapshot, then schedule in batches and
//!    send each binding through `ApiServer::bind` (the `pods/binding` subresource, a
//!    compare-and-swap write) with up to `--in-flight` bindings outstanding, so the store
//!    group-commits them. Timed until the last binding is acknowledged (durable);
//!    `scheduling_throughput` is pods over that time.
//!
//! A check at the end reads every pod back: each must be bound, and no node may hold more
//! requests than it has allocatable.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use skiff_controllers::reconcile::{Action, Controller};
use skiff_controllers::runtime::{self, RunOptions, Shutdown};
use skiff_controllers::scheduler::{Scheduler, Snapshot};
use skiff_controllers::view::{ObjectKey, View};
use skiff_core::client::{Client, ListParams, WatchEvent};
use skiff_core::clock::SystemClock;
use skiff_core::event::Actor;
use skiff_core::object::{Container, Node, Object, Pod, info};
use skiff_core::quantity::Quantity;
use skiff_store::apiserver::{ApiServer, Binding, LocalClient};
use skiff_store::{Backing, ListOptions, Store};

use super::measure::{self, CpuMeter, ms, now};
use super::{Param, Report};

/// Options of `skiff bench scheduler`.
#[derive(Debug, Clone, Args)]
pub struct SchedulerArgs {
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 5000)]
    pub nodes: usize,
    /// Pending pods to schedule.
    #[arg(long, default_value_t = 10_000)]
    pub pods: usize,
    /// Pods decided before their bindings are sent.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Bindings outstanding at once.
    #[arg(long, default_value_t = 1024)]
    pub in_flight: usize,
    /// Pending pods scheduled afterwards by the scheduler under the runtime loop (watch,
    /// reconcile per pod, bind), with the first `--pods` already bound; 0 skips the phase.
    #[arg(long, default_value_t = 1000)]
    pub runtime_pods: usize,
    /// Seed of the scheduler's tie-breaks and the API server's uids.
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

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn progress(msg: &str) {
    eprintln!("bench scheduler: {msg}");
}

fn quantity(text: &str) -> Quantity {
    Quantity::parse(text).expect("a constant quantity parses")
}

/// scheduler_perf's default node: 4 CPU, 32 GiB, 110 pods.
fn bench_node(i: usize) -> Node {
    let mut n = Node::default();
    n.metadata.name = Some(format!("node-{i:05}"));
    for (k, v) in [("cpu", "4"), ("memory", "32Gi"), ("pods", "110")] {
        n.status.capacity.insert(k.into(), quantity(v));
        n.status.allocatable.insert(k.into(), quantity(v));
    }
    n
}

/// scheduler_perf's default pod: one container requesting 100m CPU and 500Mi.
fn bench_pod(i: usize) -> Pod {
    let mut c = Container::new("pause", "registry.k8s.io/pause:3.10");
    c.resources.requests.insert("cpu".into(), quantity("100m"));
    c.resources
        .requests
        .insert("memory".into(), quantity("500Mi"));
    let mut p = Pod::new(format!("pod-{i:06}"), vec![c]);
    p.metadata.namespace = Some("default".into());
    p
}

/// Creates objects through the API server with `tasks` concurrent creators.
async fn create_all(
    api: &Arc<ApiServer>,
    objects: Vec<Object>,
    tasks: usize,
) -> Result<(), String> {
    let objects = Arc::new(std::sync::Mutex::new(objects));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (api, objects) = (api.clone(), objects.clone());
        handles.push(tokio::spawn(async move {
            let actor = Actor::new("bench");
            loop {
                let next = objects
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .pop();
                let Some(object) = next else {
                    return Ok::<(), String>(());
                };
                api.create(&actor, None, object).await.map_err(err)?;
            }
        }));
    }
    for h in handles {
        h.await.map_err(err)??;
    }
    Ok(())
}

/// Every node and every pod, listed from the store.
fn list_cluster(api: &ApiServer) -> Result<(Vec<Node>, Vec<Pod>), String> {
    let nodes = api
        .list(&info::NODE, None, &ListOptions::default())
        .map_err(err)?
        .items
        .into_iter()
        .filter_map(|o| match o {
            Object::Node(n) => Some(n),
            _ => None,
        })
        .collect();
    let pods = api
        .list(&info::POD, None, &ListOptions::default())
        .map_err(err)?
        .items
        .into_iter()
        .filter_map(|o| match o {
            Object::Pod(p) => Some(p),
            _ => None,
        })
        .collect();
    Ok((nodes, pods))
}

/// CPU time (user + system) of the calling thread, from `/proc/thread-self/stat` (the
/// decisions run on one thread, so this separates their CPU from the binds').
fn thread_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return Duration::ZERO;
    };
    let Some(close) = stat.rfind(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of proc(5), in USER_HZ (100) ticks.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn per_second(count: usize, d: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "a pod count")]
    let count = count as f64;
    count / d.as_secs_f64().max(1e-9)
}

/// What the end-to-end phase measured.
struct EndToEnd {
    list: Duration,
    list_cpu: Duration,
    decide_cpu: Duration,
    snapshot: Duration,
    decide: Duration,
    commit: Duration,
    total: Duration,
    bound: usize,
    unschedulable: usize,
}

async fn end_to_end(api: &Arc<ApiServer>, args: &SchedulerArgs) -> Result<EndToEnd, String> {
    let started = now();
    let list_cpu = measure::process_cpu().unwrap_or_default();
    let (nodes, pods) = list_cluster(api)?;
    let list_cpu = measure::process_cpu()
        .unwrap_or_default()
        .saturating_sub(list_cpu);
    let listed = now();
    let pending: Vec<&Pod> = pods
        .iter()
        .filter(|p| skiff_controllers::scheduler::is_pending_for_us(p))
        .collect();
    let mut snapshot = Snapshot::new(&nodes, &pods);
    let built = now();
    let mut scheduler = Scheduler::new(args.seed);
    let permits = Arc::new(tokio::sync::Semaphore::new(args.in_flight.max(1)));
    let mut handles = Vec::with_capacity(pending.len());
    let mut decide = Duration::ZERO;
    let mut decide_cpu = Duration::ZERO;
    let mut unschedulable = 0;
    let mut first_bind = None;
    for chunk in pending.chunks(args.batch.max(1)) {
        let (t, c) = (now(), thread_cpu());
        let decisions = scheduler.schedule_batch(&mut snapshot, chunk);
        decide += t.elapsed();
        decide_cpu += thread_cpu().saturating_sub(c);
        for (pod, decision) in chunk.iter().zip(decisions) {
            let Ok(i) = decision else {
                unschedulable += 1;
                continue;
            };
            let binding = Binding {
                node: snapshot.node(i).name().to_owned(),
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            };
            let name = pod.metadata.name.clone().unwrap_or_default();
            let namespace = pod.metadata.namespace.clone().unwrap_or_default();
            let permit = permits.clone().acquire_owned().await.map_err(err)?;
            first_bind.get_or_insert_with(now);
            let api = api.clone();
            handles.push(tokio::spawn(async move {
                let actor = Actor::new("system:kube-scheduler");
                let result = api.bind(&actor, &namespace, &name, &binding).await;
                drop(permit);
                result.map(|_| ()).map_err(err)
            }));
        }
    }
    let bound = handles.len();
    for h in handles {
        h.await.map_err(err)??;
    }
    let done = now();
    Ok(EndToEnd {
        list: listed - started,
        list_cpu,
        decide_cpu,
        snapshot: built - listed,
        decide,
        commit: first_bind.map_or(Duration::ZERO, |f| done - f),
        total: done - started,
        bound,
        unschedulable,
    })
}

/// Every pod bound and no node over its allocatable, read back from the store.
fn verify(api: &ApiServer, expected_pods: usize) -> Result<(), String> {
    let (nodes, pods) = list_cluster(api)?;
    let unbound = pods
        .iter()
        .filter(|p| p.spec.node_name.as_deref().is_none_or(str::is_empty))
        .count();
    if unbound != 0 || pods.len() != expected_pods {
        return Err(format!(
            "check failed: {unbound} of {} pods unbound (expected {expected_pods} pods)",
            pods.len()
        ));
    }
    let snapshot = Snapshot::new(&nodes, &pods);
    let mut per_node: BTreeMap<&str, i64> = BTreeMap::new();
    for n in snapshot.nodes() {
        let (req, alloc) = (n.requested(), n.allocatable());
        if req.milli_cpu > alloc.milli_cpu
            || req.memory > alloc.memory
            || n.pod_count() > n.allowed_pods()
        {
            return Err(format!("check failed: node {} over allocatable", n.name()));
        }
        per_node.insert(n.name(), n.pod_count());
    }
    let max = per_node.values().copied().max().unwrap_or(0);
    progress(&format!(
        "check: {} pods bound, at most {max} on one node",
        pods.len()
    ));
    Ok(())
}

/// Runs `skiff bench scheduler`.
pub(crate) fn run(args: &SchedulerArgs, report: &mut Report<'_, impl Write>) -> Result<(), String> {
    let mut scratch = tempfile::Builder::new();
    scratch.prefix("skiff-bench-scheduler-");
    let scratch = match &args.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            scratch.tempdir_in(dir)
        }
        None => scratch.tempdir(),
    }
    .map_err(|e| format!("creating the scratch directory: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    let backing = if args.memory {
        Backing::Memory
    } else {
        Backing::Dir(scratch.path().join("store"))
    };
    progress(&format!(
        "store {}, {} CPUs, load {:.2}",
        if args.memory {
            "in memory".to_owned()
        } else {
            scratch.path().display().to_string()
        },
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        measure::load_average().unwrap_or(f64::NAN)
    ));
    let result = runtime.block_on(async {
        let clock = Arc::new(SystemClock::new());
        let store = Store::open(backing, clock.clone()).map_err(err)?;
        let api = Arc::new(ApiServer::new(store.clone(), clock, args.seed));
        api.bootstrap().await.map_err(err)?;
        let result = phases(&api, args, report).await;
        store.shutdown().await;
        result
    });
    drop(runtime);
    drop(scratch);
    result
}

/// Microseconds of `d` per pod.
fn per_pod(d: Duration, pods: usize) -> f64 {
    d.as_secs_f64() * 1e6 / per_second(pods.max(1), Duration::from_secs(1))
}

async fn phases(
    api: &Arc<ApiServer>,
    args: &SchedulerArgs,
    report: &mut Report<'_, impl Write>,
) -> Result<(), String> {
    let params = [
        ("nodes", Param::from(args.nodes)),
        ("pods", Param::from(args.pods)),
    ];
    // 1. Load.
    progress(&format!(
        "creating {} nodes and {} pods",
        args.nodes, args.pods
    ));
    let t = now();
    let nodes = (0..args.nodes).map(|i| bench_node(i).into()).collect();
    create_all(api, nodes, 256).await?;
    let pods = (0..args.pods).map(|i| bench_pod(i).into()).collect();
    create_all(api, pods, 256).await?;
    progress(&format!("created in {:.1} s", t.elapsed().as_secs_f64()));
    report.metric(
        "machine_load",
        &[],
        measure::load_average().unwrap_or(f64::NAN),
        "load1",
        "1-minute load average before measuring (2 = both cores busy)",
    );
    decide_only(api, args, &params, report)?;
    let cpu = CpuMeter::start();
    let e2e = end_to_end(api, args).await?;
    let used = cpu.stop();
    report_end_to_end(&e2e, &used, args, &params, report);
    verify(api, args.pods)?;
    if args.runtime_pods > 0 {
        runtime_path(api, args, report).await?;
        verify(api, args.pods + args.runtime_pods)?;
    }
    Ok(())
}

/// Phase 4, the scheduler as deployed: `Scheduler` under the runtime loop (list+watch into a view,
/// one reconcile per pod key, binds sent with up to 64 in flight) through a `LocalClient`,
/// scheduling `--runtime-pods` pods created just before it starts, with the earlier pods
/// bound. Timed from the start of the loop until a watch has seen every one of them bound.
async fn runtime_path(
    api: &Arc<ApiServer>,
    args: &SchedulerArgs,
    report: &mut Report<'_, impl Write>,
) -> Result<(), String> {
    let n = args.runtime_pods;
    let late = (0..n)
        .map(|i| {
            let mut p = bench_pod(i);
            p.metadata.name = Some(format!("late-{i:06}"));
            p.into()
        })
        .collect();
    create_all(api, late, 256).await?;
    let client: Arc<dyn Client> = Arc::new(LocalClient::new(api.clone(), "system:kube-scheduler"));
    let from = api
        .list(
            &info::POD,
            None,
            &ListOptions {
                limit: 1,
                ..ListOptions::default()
            },
        )
        .map_err(err)?
        .resource_version;
    let mut watch = client
        .watch(
            &info::POD,
            None,
            ListParams {
                resource_version: Some(from.to_string()),
                ..ListParams::default()
            },
        )
        .await
        .map_err(err)?;
    let (trigger, shutdown) = Shutdown::channel();
    let options = RunOptions {
        workers: 64,
        seed: args.seed,
        shutdown,
        ..RunOptions::default()
    };
    let clock: Arc<dyn skiff_core::clock::Clock> = Arc::new(SystemClock::new());
    let seed = args.seed;
    let started = now();
    let cpu = CpuMeter::start();
    let runner = tokio::spawn(async move {
        let mut scheduler = Scheduler::new(seed);
        runtime::run(&mut scheduler, client, clock, options).await
    });
    let mut bound = std::collections::BTreeSet::new();
    while bound.len() < n {
        let event = tokio::time::timeout(Duration::from_secs(60), watch.next())
            .await
            .map_err(|_| {
                format!(
                    "runtime path: no progress for 60 s ({} of {n} bound)",
                    bound.len()
                )
            })?;
        match event {
            Some(WatchEvent::Modified(Object::Pod(p)))
                if p.spec.node_name.is_some()
                    && p.metadata.name_or_empty().starts_with("late-") =>
            {
                bound.insert(p.metadata.name_or_empty().to_owned());
            }
            Some(_) => {}
            None => return Err("runtime path: the watch ended".to_owned()),
        }
    }
    let wall = started.elapsed();
    let used = cpu.stop();
    trigger.trigger();
    runner.await.map_err(err)?.map_err(err)?;
    report.metric(
        "scheduling_runtime_throughput",
        &[
            ("nodes", Param::from(args.nodes)),
            ("pods", Param::from(n)),
            ("bound", Param::from(args.pods)),
        ],
        per_second(n, wall),
        "pods/s",
        format!(
            "Scheduler under the runtime loop via LocalClient, 64 binds in flight, durable; \
             {n} pods in {:.0} ms, {:.0} µs CPU/pod (loop, API server, store)",
            ms(wall),
            per_pod(used.own, n)
        ),
    );
    Ok(())
}

/// 2. Decide only: every pending pod against a fresh snapshot, nothing written.
fn decide_only(
    api: &ApiServer,
    args: &SchedulerArgs,
    params: &[(&'static str, Param)],
    report: &mut Report<'_, impl Write>,
) -> Result<(), String> {
    let (nodes, pods) = list_cluster(api)?;
    let pending: Vec<&Pod> = pods.iter().collect();
    let mut snapshot = Snapshot::new(&nodes, []);
    let mut scheduler = Scheduler::new(args.seed);
    let cpu = thread_cpu();
    let t = now();
    let decisions = scheduler.schedule_batch(&mut snapshot, &pending);
    let wall = t.elapsed();
    let cpu = thread_cpu().saturating_sub(cpu);
    let placed = decisions.iter().filter(|d| d.is_ok()).count();
    report.metric(
        "scheduling_decide_throughput",
        params,
        per_second(pending.len(), wall),
        "pods/s",
        format!(
            "filter+score+assume only, nothing written; {placed} placed in {:.1} ms wall",
            ms(wall)
        ),
    );
    report.metric(
        "scheduling_decide_cpu_per_pod",
        params,
        per_pod(cpu, pending.len()),
        "µs",
        "CPU of the deciding thread per pod (10 ms ticks)",
    );
    // Where the batch put each pod, for the reconcile path's steady-state view.
    let placed_on: Vec<Option<String>> = decisions
        .iter()
        .map(|d| d.as_ref().ok().map(|&i| snapshot.node(i).name().to_owned()))
        .collect();
    reconcile_path(&nodes, &pods, &placed_on, args, params, report);
    Ok(())
}

/// The same decisions through [`Controller::reconcile`], one pod key at a time, as the
/// runtime loop drives it (actions built, nothing sent): first with the view at one revision
/// (the snapshot is built once and assumed pods are added to it), then with the revision
/// moving before every reconcile (a rebuild each time), on the first pods only.
fn reconcile_path(
    nodes: &[Node],
    pods: &[Pod],
    placed_on: &[Option<String>],
    args: &SchedulerArgs,
    params: &[(&'static str, Param)],
    report: &mut Report<'_, impl Write>,
) {
    let mut view = View::new();
    for n in nodes {
        view.insert(n.clone().into());
    }
    for p in pods {
        view.insert(p.clone().into());
    }
    let keys: Vec<ObjectKey> = pods
        .iter()
        .map(|p| ObjectKey::new(p.metadata.namespace_or_empty(), p.metadata.name_or_empty()))
        .collect();
    let at = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut scheduler = Scheduler::new(args.seed);
    let t = now();
    let binds = keys
        .iter()
        .filter(|k| {
            let out = scheduler.reconcile(&view, k, at);
            matches!(out.actions.first(), Some(Action::Bind { .. }))
        })
        .count();
    let wall = t.elapsed();
    report.metric(
        "scheduling_reconcile_throughput",
        params,
        per_second(keys.len(), wall),
        "pods/s",
        format!("Scheduler::reconcile per pod key, view at one revision, {binds} binds built, nothing sent"),
    );
    // Steady state: every pod but the first 200 bound where the batch put it; the revision
    // moves before each reconcile (as if each came after a new event).
    let moving = keys.len().min(200);
    let mut view = View::new();
    for n in nodes {
        view.insert(n.clone().into());
    }
    for (i, (p, node)) in pods.iter().zip(placed_on).enumerate() {
        let mut p = p.clone();
        if i >= moving {
            p.spec.node_name.clone_from(node);
        }
        view.insert(p.into());
    }
    let bound = pods.len() - moving;
    let mut scheduler = Scheduler::new(args.seed);
    let t = now();
    for k in &keys[..moving] {
        view.observe_revision(view.revision() + 1);
        let _ = scheduler.reconcile(&view, k, at);
    }
    let wall = t.elapsed();
    report.metric(
        "scheduling_reconcile_moving_view_throughput",
        params,
        per_second(moving, wall),
        "pods/s",
        format!(
            "{moving} reconciles with {bound} pods bound and the view's revision moving before \
             each: the snapshot's requests re-summed every time"
        ),
    );
}

/// 3. End to end: the figures of [`end_to_end`].
fn report_end_to_end(
    e2e: &EndToEnd,
    used: &measure::CpuUse,
    args: &SchedulerArgs,
    params: &[(&'static str, Param)],
    report: &mut Report<'_, impl Write>,
) {
    report.metric(
        "scheduling_throughput",
        params,
        per_second(e2e.bound, e2e.total),
        "pods/s",
        format!(
            "list+snapshot+decide+bind{}; {} bound, {} unschedulable in {:.0} ms{}",
            if args.memory {
                " (in memory)"
            } else {
                ", durable (fsync)"
            },
            e2e.bound,
            e2e.unschedulable,
            ms(e2e.total),
            used.other_cores
                .map(|c| format!(", other processes used {c:.2} cores"))
                .unwrap_or_default()
        ),
    );
    report.metric(
        "scheduling_commit_throughput",
        params,
        per_second(e2e.bound, e2e.commit),
        "pods/s",
        format!(
            "first bind sent → last bind acknowledged, {} in flight, batches of {}",
            args.in_flight, args.batch
        ),
    );
    let phases = [
        ("scheduling_list", e2e.list, "list nodes and pods"),
        (
            "scheduling_snapshot_build",
            e2e.snapshot,
            "aggregate requests per node",
        ),
        (
            "scheduling_decide",
            e2e.decide,
            "decisions inside the run (sharing the cores with binds)",
        ),
    ];
    for (metric, d, note) in phases {
        report.metric(metric, params, ms(d), "ms", note);
    }
    let commit_cpu = used.own.saturating_sub(e2e.list_cpu + e2e.decide_cpu);
    let cpu = [
        (
            "scheduling_cpu_per_pod",
            used.own,
            "process CPU of the whole run (scheduler, API server, store) per bound pod",
        ),
        (
            "scheduling_cpu_per_pod_list",
            e2e.list_cpu,
            "of which the list",
        ),
        (
            "scheduling_cpu_per_pod_decide",
            e2e.decide_cpu,
            "of which the deciding thread (10 ms ticks)",
        ),
        (
            "scheduling_cpu_per_pod_commit",
            commit_cpu,
            "the rest: binds through the API server and the store writer",
        ),
    ];
    for (metric, d, note) in cpu {
        report.metric(metric, params, per_pod(d, e2e.bound), "µs", note);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_run_binds_every_pod_and_reports_the_metric_names() {
        let args = SchedulerArgs {
            nodes: 20,
            pods: 60,
            batch: 16,
            in_flight: 8,
            runtime_pods: 30,
            seed: 3,
            memory: true,
            data_dir: None,
            json: true,
        };
        let mut out = Vec::new();
        let mut report = Report::new("scheduler", true, &mut out);
        run(&args, &mut report).unwrap();
        let text = String::from_utf8(out).unwrap();
        let metrics: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["bench"], "scheduler", "{l}");
                v["metric"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(
            metrics,
            [
                "machine_load",
                "scheduling_decide_throughput",
                "scheduling_decide_cpu_per_pod",
                "scheduling_reconcile_throughput",
                "scheduling_reconcile_moving_view_throughput",
                "scheduling_throughput",
                "scheduling_commit_throughput",
                "scheduling_list",
                "scheduling_snapshot_build",
                "scheduling_decide",
                "scheduling_cpu_per_pod",
                "scheduling_cpu_per_pod_list",
                "scheduling_cpu_per_pod_decide",
                "scheduling_cpu_per_pod_commit",
                "scheduling_runtime_throughput",
            ]
        );
        assert!(
            text.contains(
                r#""metric":"scheduling_throughput","params":{"nodes":20,"pods":60},"value":"#
            ),
            "{text}"
        );
    }
}
