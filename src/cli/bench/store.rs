//! `skiff bench store`: the event store on this machine's disk.
//!
//! Phases, in order (each on its own scratch database under one temporary directory):
//!
//! 1. **Durable puts** — closed-loop updates of ~1 KiB pods by 1, 16 and 256 concurrent
//!    writers over a preloaded keyspace (like etcd's put benchmark: 100,000 keys, task `t`'s
//!    `j`-th put goes to key `(t + j·T) mod keys`); throughput, latency p50/p99, process CPU
//!    per op, and what the rest of the machine used meanwhile. A bare 4 KiB write + fdatasync
//!    probe runs just before, as the durability floor to compare with. The same runs on the
//!    in-memory backend (`disk=memory`, no fsync) give the CPU ceiling of the write path.
//! 2. **Point get** — random keys of the same store, warm.
//! 3. **Watch** — one sequential putter paced at a fixed rate, 1 and 100 in-process watchers
//!    of the prefix; latency from just before the put is sent until each watcher has the
//!    event (the send time travels in an annotation). On disk, then in memory (no fsync) to
//!    separate the commit from the fan-out.
//! 4. **Reopen after a crash** — a child process loads N events and reports them
//!    acknowledged, then is killed with SIGKILL; this process times `Store::open`. (Dropping a
//!    store without `shutdown` is not a crash: redb's `Drop` closes the file cleanly.) Two
//!    more rounds crash right after a one-event commit, and a last one right after an open
//!    that wrote nothing (`reopen_after_crash_before_first_write`).
//! 5. **Prefix list** — `list("/registry/pods/", limit 1000)` over the N-key store.
//! 6. **Clean reopen** and **RSS** at the end.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use skiff_core::clock::{Clock, SystemClock};
use skiff_core::event::{Actor, Change, Event, Revision};
use skiff_core::object::{
    Container, ContainerPort, EnvVar, Object, ObjectMeta, OwnerReference, Pod, ResourceRequirements,
};
use skiff_core::quantity::Quantity;
use skiff_store::{Backing, ListOptions, Op, Store, TXN_OPS_MAX, Txn, codec};

use super::measure::{self, CpuMeter, Samples, ms, now, us};
use super::{Param, Report, StoreArgs};

/// Arguments of the hidden crash child (`skiff bench store-crash-child`).
#[derive(Debug, Clone, Args)]
pub struct CrashChildArgs {
    /// The store's data directory.
    #[arg(long)]
    data_dir: PathBuf,
    /// Events to load (creates of distinct keys, as the prefix list expects them).
    #[arg(long, default_value_t = 0)]
    events: u64,
    /// Instead of loading, create one pod with this name.
    #[arg(long)]
    extra: Option<String>,
    /// Only open the store (no write) before being killed.
    #[arg(long)]
    open_only: bool,
}

/// Sizes and durations of one run.
#[derive(Debug, Clone)]
struct Plan {
    keys: u64,
    events: u64,
    put_keys: u64,
    put_writers: Vec<usize>,
    memory_writers: Vec<usize>,
    put_warm: Duration,
    put_run: Duration,
    fsync_ops: usize,
    gets: usize,
    watch_watchers: [usize; 2],
    watch_puts: u64,
    watch_rate: f64,
    range_iters: usize,
    reopen_rounds: usize,
    /// Phases to run (`--only`); empty for all.
    only: Vec<String>,
}

/// The phases `--only` may name.
const PHASES: [&str; 6] = ["put", "get", "watch", "memory", "crash", "list"];

impl Plan {
    fn new(args: &StoreArgs) -> Result<Plan, String> {
        let (default_n, plan) = if args.quick {
            (
                10_000,
                Plan {
                    keys: 0,
                    events: 0,
                    put_keys: 1_024,
                    put_writers: vec![1, 16, 256],
                    memory_writers: vec![1, 256],
                    put_warm: Duration::from_millis(100),
                    put_run: Duration::from_millis(400),
                    fsync_ops: 20,
                    gets: 5_000,
                    watch_watchers: [1, 100],
                    watch_puts: 50,
                    watch_rate: 500.0,
                    range_iters: 10,
                    reopen_rounds: 3,
                    only: Vec::new(),
                },
            )
        } else {
            (
                1_000_000,
                Plan {
                    keys: 0,
                    events: 0,
                    put_keys: 102_400,
                    put_writers: vec![1, 16, 256],
                    memory_writers: vec![1, 256],
                    put_warm: Duration::from_secs(1),
                    put_run: Duration::from_secs(10),
                    fsync_ops: 1_000,
                    gets: 100_000,
                    watch_watchers: [1, 100],
                    watch_puts: 2_000,
                    watch_rate: 200.0,
                    range_iters: 100,
                    reopen_rounds: 3,
                    only: Vec::new(),
                },
            )
        };
        let keys = args.keys.unwrap_or(default_n);
        let events = args.events.unwrap_or(default_n);
        if keys == 0 || events == 0 {
            return Err("--keys and --events must be at least 1".into());
        }
        if let Some(unknown) = args.only.iter().find(|p| !PHASES.contains(&p.as_str())) {
            return Err(format!(
                "unknown phase {unknown}; --only takes {}",
                PHASES.join(",")
            ));
        }
        let (put_writers, memory_writers) = if args.writers.is_empty() {
            (plan.put_writers.clone(), plan.memory_writers.clone())
        } else {
            (args.writers.clone(), args.writers.clone())
        };
        if put_writers.contains(&0) {
            return Err("--writers must be at least 1".into());
        }
        Ok(Plan {
            keys,
            events,
            put_writers,
            memory_writers,
            only: args.only.clone(),
            ..plan
        })
    }

    /// Whether `--only` asked for this phase (or for every phase).
    fn runs(&self, phase: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == phase)
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn progress(msg: &str) {
    eprintln!("bench store: {msg}");
}

/// Annotation carrying a put's send time (nanoseconds since the benchmark's origin).
const SENT_ANNOTATION: &str = "bench.skiff.dev/sent-ns";
/// Namespace of the put benchmark's keys.
const PUT_NAMESPACE: &str = "bench-put";
/// Prefix the watchers watch, and its keys.
const WATCH_NAMESPACE: &str = "watchbench";
const WATCH_PREFIX: &str = "/registry/pods/watchbench/";
const WATCH_KEYS: u64 = 100;
/// Prefix of the list benchmark (all pods, as etcd's `--prefix /registry/pods`).
const LIST_PREFIX: &str = "/registry/pods/";
/// Names per namespace in the N-key store (1,000 namespaces × 1,000 pods at 1M keys).
const NAMES_PER_NAMESPACE: u64 = 1_000;
/// Transactions in flight while loading: with [`TXN_OPS_MAX`] creates each, up to ≈ 8k
/// events per group commit (storage.md §3 builds in 10k-event transactions).
const LOAD_TASKS: usize = 64;

fn quantity(s: &str) -> Quantity {
    Quantity::parse(s).expect("a valid quantity")
}

fn container(name: &str, image: &str, port: i32) -> Container {
    let mut c = Container::new(name, image);
    c.ports = vec![ContainerPort {
        name: Some("http".into()),
        container_port: port,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }];
    c.env = [
        ("LOG_LEVEL", "info"),
        ("POD_ROLE", "backend"),
        ("UPSTREAM", "http://upstream.default.svc:8080"),
    ]
    .into_iter()
    .map(|(n, v)| EnvVar {
        name: n.into(),
        value: Some(v.into()),
        value_from: None,
    })
    .collect();
    c.resources = ResourceRequirements {
        limits: [
            ("cpu".to_owned(), quantity("500m")),
            ("memory".to_owned(), quantity("256Mi")),
        ]
        .into_iter()
        .collect(),
        requests: [
            ("cpu".to_owned(), quantity("100m")),
            ("memory".to_owned(), quantity("128Mi")),
        ]
        .into_iter()
        .collect(),
        ..ResourceRequirements::default()
    };
    c.image_pull_policy = Some("IfNotPresent".into());
    c
}

/// A bound ReplicaSet pod with labels, annotations and two containers: ≈ 1 KiB encoded
/// (reported as `object_size`).
pub(super) fn template_pod() -> Pod {
    let mut pod = Pod::new(
        "template",
        vec![
            container("app", "registry.example.com/team/app:1.24.3", 8080),
            container("proxy", "registry.example.com/infra/proxy:2.8.1", 15001),
        ],
    );
    pod.metadata.uid = Some("5f0c7a8e-2b61-4d3f-9a4e-7c1d2e3f4a5b".into());
    pod.metadata.labels = [
        ("app", "bench"),
        ("tier", "backend"),
        ("pod-template-hash", "7d4b9c8f6d"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    pod.metadata.annotations = [
        (
            "kubernetes.io/config.seen",
            "2024-05-01T12:00:00.000000000Z",
        ),
        ("kubernetes.io/config.source", "api"),
        ("prometheus.io/scrape", "true"),
        ("prometheus.io/port", "9090"),
        ("team.example.com/owner", "platform-storage"),
        ("kubectl.kubernetes.io/restartedAt", "2024-05-01T11:58:12Z"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    pod.metadata.owner_references = vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "bench-7d4b9c8f6d".into(),
        uid: "0b6e3f1c-9d2a-4c5b-8e7f-1a2b3c4d5e6f".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }];
    pod.spec.node_name = Some("node-017".into());
    pod.spec.restart_policy = Some("Always".into());
    pod.spec.service_account_name = Some("default".into());
    pod.spec.termination_grace_period_seconds = Some(30);
    pod
}

pub(super) fn named(template: &Pod, namespace: &str, name: String) -> Object {
    let mut pod = template.clone();
    pod.metadata = ObjectMeta {
        name: Some(name),
        namespace: Some(namespace.to_owned()),
        ..pod.metadata
    };
    pod.into()
}

/// Namespace and name of key `i` of the N-key store.
fn list_key(i: u64) -> (String, String) {
    (
        format!("ns-{:04}", i / NAMES_PER_NAMESPACE),
        format!("pod-{:06}", i % NAMES_PER_NAMESPACE),
    )
}

pub(super) fn put_key(i: u64) -> (String, String) {
    (PUT_NAMESPACE.to_owned(), format!("pod-{i:06}"))
}

/// Creates keys `0..n` named by `key` in transactions of [`TXN_OPS_MAX`] creates,
/// [`LOAD_TASKS`] in flight; returns when every one is acknowledged.
async fn load(
    store: &Store,
    template: &Arc<Pod>,
    n: u64,
    key: fn(u64) -> (String, String),
) -> Result<Duration, String> {
    let chunk = TXN_OPS_MAX as u64;
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let started = now();
    let mut tasks = Vec::new();
    for _ in 0..LOAD_TASKS {
        let (store, template, next, done) =
            (store.clone(), template.clone(), next.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let actor = Actor::new("bench");
            loop {
                let start = next.fetch_add(chunk, Ordering::Relaxed);
                if start >= n {
                    return Ok::<(), String>(());
                }
                let end = (start + chunk).min(n);
                let success = (start..end)
                    .map(|i| {
                        let (ns, name) = key(i);
                        Op::Create(named(&template, &ns, name))
                    })
                    .collect();
                let txn = Txn {
                    success,
                    ..Txn::default()
                };
                store.txn(&actor, txn).await.map_err(err)?;
                let before = done.fetch_add(end - start, Ordering::Relaxed);
                let tenth = (n / 10).max(1);
                if n >= 100_000 && (before + end - start) / tenth > before / tenth {
                    progress(&format!(
                        "loaded {} of {n} keys ({:.0} s)",
                        before + end - start,
                        started.elapsed().as_secs_f64()
                    ));
                }
            }
        }));
    }
    for task in tasks {
        task.await.map_err(err)??;
    }
    Ok(started.elapsed())
}

/// The result of one closed-loop put run.
pub(super) struct PutRun {
    /// Puts acknowledged within the measured interval.
    pub(super) ops: u64,
    /// Every put acknowledged, warm-up included.
    pub(super) all_ops: u64,
    pub(super) latencies: Samples,
    pub(super) cpu: measure::CpuUse,
}

/// One closed-loop put run: `writers` tasks update keys `0..keys` (writer `t`'s `j`-th put
/// goes to key `(t + j·T) mod keys`) for `warm`, then for `measured`, which alone is counted.
pub(super) async fn put_run(
    store: &Store,
    template: &Arc<Pod>,
    writers: usize,
    keys: u64,
    (warm, measured): (Duration, Duration),
) -> Result<PutRun, String> {
    let t0 = now();
    let measure_from = t0 + warm;
    let end = measure_from + measured;
    let mut tasks = Vec::new();
    for t in 0..writers {
        let (store, template) = (store.clone(), template.clone());
        tasks.push(tokio::spawn(async move {
            let actor = Actor::new("bench");
            let mut latencies = Samples::with_capacity(1024);
            let mut ops = 0u64;
            let mut all_ops = 0u64;
            let writers = writers as u64;
            for j in 0u64.. {
                let (ns, name) = put_key((t as u64 + j * writers) % keys);
                let object = named(&template, &ns, name);
                let started = now();
                if started >= end {
                    break;
                }
                store
                    .op(
                        &actor,
                        Op::Update {
                            object,
                            expected: None,
                        },
                    )
                    .await
                    .map_err(err)?;
                let finished = now();
                all_ops += 1;
                if finished >= measure_from && finished <= end {
                    ops += 1;
                    if started >= measure_from {
                        latencies.push(finished - started);
                    }
                }
            }
            Ok::<_, String>((ops, all_ops, latencies))
        }));
    }
    tokio::time::sleep_until(tokio::time::Instant::from_std(measure_from)).await;
    let meter = CpuMeter::start();
    tokio::time::sleep_until(tokio::time::Instant::from_std(end)).await;
    let cpu = meter.stop();
    let mut run = PutRun {
        ops: 0,
        all_ops: 0,
        latencies: Samples::default(),
        cpu,
    };
    for task in tasks {
        let (ops, all_ops, latencies) = task.await.map_err(err)??;
        run.ops += ops;
        run.all_ops += all_ops;
        run.latencies.extend(latencies);
    }
    Ok(run)
}

/// Closed-loop put runs with each writer count; `memory` marks runs on the in-memory backend.
async fn put_phase(
    store: &Store,
    template: &Arc<Pod>,
    plan: &Plan,
    writer_counts: &[usize],
    memory: Option<&'static str>,
    report: &mut Report<'_, impl Write>,
) -> Result<(), String> {
    for &writers in writer_counts {
        progress(&format!(
            "put: {writers} writer(s) for {:?} after {:?} warm-up{}",
            plan.put_run,
            plan.put_warm,
            memory.map_or(String::new(), |m| format!(", {m}"))
        ));
        let mut run = put_run(
            store,
            template,
            writers,
            plan.put_keys,
            (plan.put_warm, plan.put_run),
        )
        .await?;
        let mut params = vec![("writers", Param::from(writers))];
        if let Some(m) = memory {
            params.push(("disk", m.into()));
        }
        #[allow(clippy::cast_precision_loss, reason = "op counts")]
        let ops = run.ops as f64;
        let throughput = ops / plan.put_run.as_secs_f64();
        let what = if memory.is_some() {
            "no fsync: the CPU ceiling"
        } else {
            "durable (acknowledged after fsync)"
        };
        report.metric(
            "put_throughput",
            &params,
            throughput,
            "ops/s",
            format!("{} ops, {what}", run.ops),
        );
        report.metric(
            "put_latency_p50",
            &params,
            us(run.latencies.p50()),
            "µs",
            "",
        );
        report.metric(
            "put_latency_p99",
            &params,
            us(run.latencies.p99()),
            "µs",
            "",
        );
        if run.ops > 0 {
            report.metric(
                "put_cpu_per_op",
                &params,
                us(run.cpu.own) / ops,
                "µs",
                "CPU of this process (client and store) per put",
            );
        }
        if let Some(other) = run.cpu.other_cores {
            report.metric(
                "other_cpu",
                &params,
                other,
                "cores",
                "CPU used by other processes during the run",
            );
        }
    }
    Ok(())
}

/// A bare 4 KiB write + `fdatasync` per op, one thread: the durability floor.
/// `append` grows the file (its size must be synced too); otherwise it overwrites a
/// preallocated, synced file, which is what a redb commit mostly does.
fn fsync_probe(dir: &Path, ops: usize, append: bool) -> Result<Samples, String> {
    use std::os::unix::fs::FileExt;
    const BLOCK: u64 = 4096;
    const SLOTS: u64 = 1024;
    let path = dir.join(if append {
        "fsync-append"
    } else {
        "fsync-overwrite"
    });
    let file = std::fs::File::create(&path).map_err(err)?;
    let block = vec![0x5a_u8; 4096];
    if !append {
        for slot in 0..SLOTS {
            file.write_all_at(&block, slot * BLOCK).map_err(err)?;
        }
        file.sync_all().map_err(err)?;
    }
    let mut samples = Samples::with_capacity(ops);
    for i in 0..ops as u64 {
        let offset = if append { i } else { i % SLOTS } * BLOCK;
        let started = now();
        file.write_all_at(&block, offset).map_err(err)?;
        file.sync_data().map_err(err)?;
        samples.push(started.elapsed());
    }
    drop(file);
    let _ = std::fs::remove_file(path);
    Ok(samples)
}

/// Sets up the watched keys of a store.
async fn create_watch_keys(store: &Store, template: &Arc<Pod>) -> Result<(), String> {
    let txn = Txn {
        success: (0..WATCH_KEYS)
            .map(|i| Op::Create(named(template, WATCH_NAMESPACE, format!("w-{i:03}"))))
            .collect(),
        ..Txn::default()
    };
    store
        .txn(&Actor::new("bench"), txn)
        .await
        .map(drop)
        .map_err(err)
}

fn sent_at(event: &Event) -> Option<u64> {
    let (Change::Create(object) | Change::Update { object, .. }) = &event.change else {
        return None;
    };
    object
        .metadata()
        .annotations
        .get(SENT_ANNOTATION)?
        .parse()
        .ok()
}

fn nanos_since(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// What one watch run measured.
struct WatchRun {
    /// Put sent → event received, every watcher's every event.
    latencies: Samples,
    /// Put sent → put acknowledged (after the commit's fsync).
    puts: Samples,
    /// Put acknowledged → event received, every watcher's every event (zero when the watcher
    /// had the event before the putter saw its reply): the delivery part of the latency.
    delivery: Samples,
}

/// One watch run: the put→event latencies of every watcher, the put latencies, and the
/// delivery part (acknowledgement → event).
async fn watch_run(
    store: &Store,
    template: &Arc<Pod>,
    watchers: usize,
    plan: &Plan,
) -> Result<WatchRun, String> {
    let origin = now();
    let (head, _) = store.get(&format!("{WATCH_PREFIX}w-000")).map_err(err)?;
    let puts = plan.watch_puts;
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let mut watch = store.watch(WATCH_PREFIX, head).map_err(err)?;
        tasks.push(tokio::spawn(async move {
            // The k-th event is the k-th put: only the putter writes under the prefix.
            let mut received = Vec::with_capacity(usize::try_from(puts).unwrap_or(0));
            for _ in 0..puts {
                let event = watch.next().await.map_err(err)?;
                let at = nanos_since(origin);
                let sent = sent_at(&event).ok_or("a watched event without its send time")?;
                received.push((sent, at));
            }
            Ok::<_, String>(received)
        }));
    }
    let actor = Actor::new("bench");
    let mut put_latencies = Samples::with_capacity(usize::try_from(puts).unwrap_or(0));
    let mut acked = Vec::with_capacity(usize::try_from(puts).unwrap_or(0));
    let start = now();
    for i in 0..puts {
        #[allow(clippy::cast_precision_loss, reason = "a put count")]
        let due = start + Duration::from_secs_f64(i as f64 / plan.watch_rate);
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        let Object::Pod(mut pod) = named(template, WATCH_NAMESPACE, format!("w-{:03}", i % 100))
        else {
            unreachable!("named builds pods")
        };
        let sent = nanos_since(origin);
        pod.metadata
            .annotations
            .insert(SENT_ANNOTATION.into(), sent.to_string());
        let started = now();
        store
            .op(
                &actor,
                Op::Update {
                    object: pod.into(),
                    expected: None,
                },
            )
            .await
            .map_err(err)?;
        put_latencies.push(started.elapsed());
        acked.push(nanos_since(origin));
    }
    let mut run = WatchRun {
        latencies: Samples::default(),
        puts: put_latencies,
        delivery: Samples::default(),
    };
    let deadline = Duration::from_secs(60);
    for task in tasks {
        let joined = tokio::time::timeout(deadline, task)
            .await
            .map_err(|_| "a watcher did not receive every event within 60 s".to_owned())?;
        for ((sent, at), acked) in joined.map_err(err)??.into_iter().zip(&acked) {
            run.latencies
                .push(Duration::from_nanos(at.saturating_sub(sent)));
            run.delivery
                .push(Duration::from_nanos(at.saturating_sub(*acked)));
        }
    }
    Ok(run)
}

async fn watch_phase(
    store: &Store,
    template: &Arc<Pod>,
    disk: &'static str,
    fsync_dir: Option<&Path>,
    plan: &Plan,
    report: &mut Report<'_, impl Write>,
) -> Result<(), String> {
    create_watch_keys(store, template).await?;
    for watchers in plan.watch_watchers {
        if let Some(dir) = fsync_dir {
            // The disk's state right before this run: a commit is two fdatasyncs (quick-repair
            // implies two-phase commit), so the watch p99 cannot be below this probe's p99.
            let mut probe = fsync_probe(dir, plan.fsync_ops, false)?;
            let params = [
                ("mode", Param::from("overwrite")),
                ("watchers", Param::from(watchers)),
            ];
            report.metric(
                "fsync_4k_latency_p50",
                &params,
                us(probe.p50()),
                "µs",
                format!("just before the watch run, {} ops", probe.len()),
            );
            report.metric("fsync_4k_latency_p99", &params, us(probe.p99()), "µs", "");
        }
        progress(&format!(
            "watch: {watchers} watcher(s), {} puts at {}/s, {disk}",
            plan.watch_puts, plan.watch_rate
        ));
        let WatchRun {
            mut latencies,
            mut puts,
            mut delivery,
        } = watch_run(store, template, watchers, plan).await?;
        let params = [("watchers", Param::from(watchers)), ("disk", disk.into())];
        let note = format!(
            "p50 {:.0} µs; put p50 {:.0} µs in the same run; {} events",
            us(latencies.p50()),
            us(puts.p50()),
            latencies.len()
        );
        report.metric(
            "watch_latency_p99",
            &params,
            us(latencies.p99()),
            "µs",
            note,
        );
        report.metric("watch_latency_p50", &params, us(latencies.p50()), "µs", "");
        report.metric(
            "watch_put_latency_p99",
            &params,
            us(puts.p99()),
            "µs",
            format!(
                "the commit part: put sent → acknowledged, p50 {:.0} µs",
                us(puts.p50())
            ),
        );
        report.metric(
            "watch_delivery_p99",
            &params,
            us(delivery.p99()),
            "µs",
            format!(
                "the delivery part: put acknowledged → event at the watcher (0 if first), p50 {:.0} µs",
                us(delivery.p50())
            ),
        );
    }
    Ok(())
}

/// Spawns the crash child, waits until it reports its writes acknowledged, kills it
/// (SIGKILL) and returns the acknowledged head revision and the child's load time.
fn crash_round(
    dir: &Path,
    events: u64,
    extra: Option<&str>,
    open_only: bool,
) -> Result<(u64, f64), String> {
    let exe = std::env::current_exe().map_err(err)?;
    let mut command = Command::new(exe);
    command
        .args(["bench", "store-crash-child", "--data-dir"])
        .arg(dir)
        .args(["--events", &events.to_string()]);
    if let Some(name) = extra {
        command.args(["--extra", name]);
    }
    if open_only {
        command.arg("--open-only");
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting the crash child: {e}"))?;
    let mut line = String::new();
    let read = BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .map_err(err);
    let _ = child.kill();
    let status = child.wait().map_err(err)?;
    read?;
    let mut words = line.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("acked"), Some(head), Some(load_ms)) => {
            Ok((head.parse().map_err(err)?, load_ms.parse().map_err(err)?))
        }
        _ => Err(format!(
            "the crash child failed ({status}) before acknowledging its writes"
        )),
    }
}

/// The hidden child: opens the store, writes, prints `acked <head> <load ms>` once every
/// write is acknowledged, then waits to be killed (it never closes the database).
pub(crate) fn crash_child(args: &CrashChildArgs, out: &mut impl Write) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    runtime.block_on(async {
        let clock = Arc::new(SystemClock::new());
        let store = Store::open(Backing::Dir(args.data_dir.clone()), clock).map_err(err)?;
        let template = Arc::new(template_pod());
        let started = now();
        let head = if args.open_only {
            "0".to_owned()
        } else if let Some(name) = &args.extra {
            let created = store
                .create(
                    &Actor::new("bench"),
                    named(&template, "crash-extra", name.clone()),
                )
                .await
                .map_err(err)?;
            created
                .metadata()
                .resource_version
                .clone()
                .unwrap_or_default()
        } else {
            load(&store, &template, args.events, list_key).await?;
            let (ns, name) = list_key(args.events - 1);
            let (head, _) = store
                .get(&format!("/registry/pods/{ns}/{name}"))
                .map_err(err)?;
            head.to_string()
        };
        let load_ms = ms(started.elapsed());
        writeln!(out, "acked {head} {load_ms:.1}").map_err(err)?;
        out.flush().map_err(err)?;
        // Killed by the parent; exit without closing the database if it never comes.
        tokio::time::sleep(Duration::from_secs(300)).await;
        std::process::exit(3)
    })
}

/// Opens a store, timing it.
fn timed_open(dir: &Path, clock: &Arc<SystemClock>) -> Result<(Store, Duration), String> {
    let started = now();
    let store = Store::open(Backing::Dir(dir.to_owned()), clock.clone()).map_err(err)?;
    Ok((store, started.elapsed()))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn list_all(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A scratch directory named `prefix…` under `data_dir` (created if missing) or the system's
/// temporary directory; removed when dropped.
pub(super) fn scratch_dir(
    prefix: &str,
    data_dir: Option<&std::path::Path>,
) -> Result<tempfile::TempDir, String> {
    let mut scratch = tempfile::Builder::new();
    scratch.prefix(prefix);
    match data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            scratch.tempdir_in(dir)
        }
        None => scratch.tempdir(),
    }
    .map_err(|e| format!("creating the scratch directory: {e}"))
}

/// Runs `skiff bench store`.
pub(crate) fn run(args: &StoreArgs, report: &mut Report<'_, impl Write>) -> Result<(), String> {
    let plan = Plan::new(args)?;
    let scratch = scratch_dir("skiff-bench-", args.data_dir.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    progress(&format!(
        "scratch directory {}, {} CPUs, load {:.2}",
        scratch.path().display(),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        measure::load_average().unwrap_or(f64::NAN)
    ));
    let result = runtime.block_on(phases(&plan, scratch.path(), report));
    drop(runtime);
    drop(scratch);
    result
}

#[allow(
    clippy::too_many_lines,
    reason = "the phases read best in order, in one place"
)]
async fn phases(
    plan: &Plan,
    dir: &Path,
    report: &mut Report<'_, impl Write>,
) -> Result<(), String> {
    let clock = Arc::new(SystemClock::new());
    let template = Arc::new(template_pod());
    let actor = Actor::new("bench");

    report.metric(
        "machine_load",
        &[("at", "start".into())],
        measure::load_average().unwrap_or(f64::NAN),
        "load1",
        "1-minute load average (2 = both cores of a 2-core machine busy)",
    );
    let sample_event = Event {
        revision: Revision(1_000_000),
        at: clock.now_micro_time(),
        actor: actor.clone(),
        change: Change::Update {
            object: named(&template, PUT_NAMESPACE, "pod-000000".into()),
            create_revision: Revision(1),
            version: 2,
        },
    };
    #[allow(clippy::cast_precision_loss, reason = "a byte count")]
    let object_bytes = codec::encode_event(&sample_event).len() as f64;
    report.metric(
        "object_size",
        &[],
        object_bytes,
        "bytes",
        "one encoded update event of the benchmark's pod",
    );

    // 1. Durable puts.
    if plan.runs("put") || plan.runs("get") || plan.runs("watch") {
        let put_dir = dir.join("put");
        let store = Store::open(Backing::Dir(put_dir.clone()), clock.clone()).map_err(err)?;
        if plan.runs("put") || plan.runs("get") {
            progress(&format!("put: preloading {} keys", plan.put_keys));
            load(&store, &template, plan.put_keys, put_key).await?;
        }
        if plan.runs("put") {
            for append in [false, true] {
                let mode = if append { "append" } else { "overwrite" };
                let mut probe = fsync_probe(dir, plan.fsync_ops, append)?;
                let params = [("mode", Param::from(mode))];
                report.metric(
                    "fsync_4k_latency_p50",
                    &params,
                    us(probe.p50()),
                    "µs",
                    format!("bare 4 KiB write + fdatasync, {} ops", probe.len()),
                );
                report.metric("fsync_4k_latency_p99", &params, us(probe.p99()), "µs", "");
            }
            put_phase(&store, &template, plan, &plan.put_writers, None, report).await?;
        }

        // 2. Point get, warm.
        if plan.runs("get") {
            progress(&format!("get: {} random keys", plan.gets));
            let keys: Vec<String> = (0..plan.put_keys)
                .map(|i| {
                    let (ns, name) = put_key(i);
                    format!("/registry/pods/{ns}/{name}")
                })
                .collect();
            for key in &keys {
                store.get(key).map_err(err)?;
            }
            let mut gets = Samples::with_capacity(plan.gets);
            let mut x = 0x9e37_79b9_7f4a_7c15_u64;
            for _ in 0..plan.gets {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let key = &keys[usize::try_from((x >> 33) % keys.len() as u64).unwrap_or(0)];
                let started = now();
                let got = store.get(key).map_err(err)?;
                gets.push(started.elapsed());
                std::hint::black_box(got);
            }
            report.metric(
                "get_latency_p50",
                &[],
                us(gets.p50()),
                "µs",
                format!(
                    "{} keys of {}, decoded; p99 {:.1} µs",
                    keys.len(),
                    plan.put_keys,
                    us(gets.p99())
                ),
            );
            report.metric("get_latency_p99", &[], us(gets.p99()), "µs", "");
        }

        // 3. Watch, on disk, then in memory.
        if plan.runs("watch") {
            watch_phase(&store, &template, "dir", Some(dir), plan, report).await?;
        }
        store.shutdown().await;
        drop(store);
    }
    if plan.runs("memory") {
        let memory = Store::open(Backing::Memory, clock.clone()).map_err(err)?;
        progress(&format!("put: preloading {} keys in memory", plan.put_keys));
        load(&memory, &template, plan.put_keys, put_key).await?;
        put_phase(
            &memory,
            &template,
            plan,
            &plan.memory_writers,
            Some("memory"),
            report,
        )
        .await?;
        watch_phase(&memory, &template, "memory", None, plan, report).await?;
        memory.shutdown().await;
        drop(memory);
    }

    // 4. Reopen after a crash.
    let crash_dir = dir.join("crash");
    if plan.runs("crash") {
        progress(&format!(
            "crash: a child process loads {} events, then is killed",
            plan.events
        ));
        let (acked, load_ms) = crash_round(&crash_dir, plan.events, None, false)?;
        #[allow(clippy::cast_precision_loss, reason = "an event count")]
        let load_rate = plan.events as f64 / (load_ms / 1e3);
        report.metric(
            "bulk_load_throughput",
            &[("events", plan.events.into())],
            load_rate,
            "events/s",
            format!("creates in {TXN_OPS_MAX}-op transactions, {LOAD_TASKS} in flight"),
        );
        let mut crash_reopens = Vec::new();
        let mut store = None;
        for round in 0..plan.reopen_rounds {
            let acked = if round == 0 {
                acked
            } else {
                drop(store.take());
                crash_round(&crash_dir, 0, Some(&format!("extra-{round}")), false)?.0
            };
            let (opened, took) = timed_open(&crash_dir, &clock)?;
            let (head, _) = opened
                .get(&format!("{LIST_PREFIX}crash-extra/extra-{round}"))
                .or_else(|_| {
                    let (ns, name) = list_key(plan.events - 1);
                    opened.get(&format!("{LIST_PREFIX}{ns}/{name}"))
                })
                .map_err(err)?;
            if head.0 < acked {
                return Err(format!(
                    "acknowledged revision {acked} lost in the crash (head {head})"
                ));
            }
            crash_reopens.push(ms(took));
            opened.shutdown().await;
            store = Some(opened);
        }
        let note = format!(
            "median of {} rounds [{}] ms; SIGKILL after acknowledgement; quick-repair on",
            crash_reopens.len(),
            list_all(&crash_reopens)
        );
        report.metric(
            "reopen_after_crash",
            &[("events", plan.events.into())],
            median(&mut crash_reopens),
            "ms",
            note,
        );
        // A crash after an open that wrote nothing: the open's own commit (which creates missing
        // tables) runs without quick-repair, and every redb commit drops the saved allocator state
        // unless it saves it again, so this reopen pays a full repair.
        if let Some(open) = store.take() {
            drop(open);
        }
        crash_round(&crash_dir, 0, None, true)?;
        let (opened, took) = timed_open(&crash_dir, &clock)?;
        report.metric(
            "reopen_after_crash_before_first_write",
            &[("events", plan.events.into())],
            ms(took),
            "ms",
            "killed right after Store::open, before any write",
        );
        opened.shutdown().await;
        drop(opened);
    }

    // 5. Prefix list of 1,000 keys over N keys.
    if plan.runs("list") {
        let range_dir = if plan.keys == plan.events && plan.runs("crash") {
            crash_dir.clone()
        } else {
            let range_dir = dir.join("range");
            let store = Store::open(Backing::Dir(range_dir.clone()), clock.clone()).map_err(err)?;
            progress(&format!("list: loading {} keys", plan.keys));
            load(&store, &template, plan.keys, list_key).await?;
            store.shutdown().await;
            range_dir
        };
        let mut clean_reopens = Vec::new();
        let mut store: Option<Store> = None;
        for _ in 0..plan.reopen_rounds {
            // Without `shutdown` the writer task still holds the database and closes it only when
            // it next runs: an immediate reopen would find it open.
            if let Some(open) = store.take() {
                open.shutdown().await;
            }
            let (opened, took) = timed_open(&range_dir, &clock)?;
            clean_reopens.push(ms(took));
            store = Some(opened);
        }
        let store = store.expect("at least one round");
        let note = format!(
            "median of {} rounds [{}] ms",
            clean_reopens.len(),
            list_all(&clean_reopens)
        );
        report.metric(
            "reopen_clean",
            &[("events", plan.keys.into())],
            median(&mut clean_reopens),
            "ms",
            note,
        );
        progress(&format!("list: {} lists of 1000 keys", plan.range_iters));
        let measure = |keys_only: bool| -> Result<(Samples, skiff_store::ListPage), String> {
            let options = ListOptions {
                limit: 1000,
                keys_only,
                ..ListOptions::default()
            };
            for _ in 0..3 {
                store.list(LIST_PREFIX, &options).map_err(err)?;
            }
            let mut lists = Samples::with_capacity(plan.range_iters);
            let mut page = None;
            for _ in 0..plan.range_iters {
                let started = now();
                let got = store.list(LIST_PREFIX, &options).map_err(err)?;
                lists.push(started.elapsed());
                page = Some(got);
            }
            Ok((lists, page.ok_or("no list ran")?))
        };
        let (mut lists, page) = measure(true)?;
        let params = [
            ("keys", Param::from(plan.keys)),
            ("keys_only", Param::from(true)),
        ];
        report.metric(
        "range_keys_only_limit_1000",
        &params,
        ms(lists.p50()),
        "ms",
        format!(
            "{} entries per page, keys and revisions only (ListOptions::keys_only); p99 {:.2} ms",
            page.entries.len(),
            ms(lists.p99())
        ),
    );
        report.metric("range_limit_1000_p99", &params, ms(lists.p99()), "ms", "");
        // The same list with values decoded (what the API server's list does).
        let (mut value_lists, page) = measure(false)?;
        let value_params = [
            ("keys", Param::from(plan.keys)),
            ("keys_only", Param::from(false)),
        ];
        report.metric(
            "range_limit_1000",
            &value_params,
            ms(value_lists.p50()),
            "ms",
            format!(
                "{} entries per page, values decoded; p99 {:.2} ms",
                page.entries.len(),
                ms(value_lists.p99())
            ),
        );

        // What decoding the page's values costs: the part a keys-only list saves.
        let rows: Vec<Vec<u8>> = page
            .entries
            .iter()
            .map(|e| codec::encode_stored(&e.stored))
            .collect();
        let mut passes = Vec::new();
        for _ in 0..5 {
            let started = now();
            for row in &rows {
                std::hint::black_box(codec::decode_stored(row).map_err(err)?);
            }
            #[allow(clippy::cast_precision_loss, reason = "a row count")]
            passes.push(us(started.elapsed()) / rows.len().max(1) as f64);
        }
        report.metric(
            "object_decode_latency",
            &[],
            median(&mut passes),
            "µs",
            "decoding one stored pod row (mean over a page, median of 5 passes)",
        );
        store.shutdown().await;
        drop(store);
    }

    // 6. Memory.
    if let Some((rss, hwm)) = measure::rss_kib() {
        #[allow(clippy::cast_precision_loss, reason = "KiB")]
        let (rss, hwm) = (rss as f64 / 1024.0, hwm as f64 / 1024.0);
        report.metric("rss", &[], rss, "MiB", "VmRSS at the end");
        report.metric("rss_peak", &[], hwm, "MiB", "VmHWM");
    }
    report.metric(
        "machine_load",
        &[("at", "end".into())],
        measure::load_average().unwrap_or(f64::NAN),
        "load1",
        "",
    );
    checks(plan, report);
    Ok(())
}

/// etcd 3.4.23 on the development machine (shared/notes/etcd-baseline.md): durable puts with
/// 256 concurrent clients.
const ETCD_PUT_256: f64 = 10_367.0;

/// Prints the store issue's targets against what was measured (table only).
fn checks(plan: &Plan, report: &mut Report<'_, impl Write>) {
    let get = |metric: &str, params: &[(&str, Param)]| report.value(metric, params);
    let fsync = get("fsync_4k_latency_p50", &[("mode", "overwrite".into())]);
    let rows: Vec<(String, String, Option<f64>, Option<bool>)> = vec![
        {
            let v = get("put_throughput", &[("writers", 256u64.into())]);
            (
                "put_throughput writers=256".into(),
                format!(">= 3 x etcd 3.4 ({:.0} ops/s)", 3.0 * ETCD_PUT_256),
                v,
                v.map(|v| v >= 3.0 * ETCD_PUT_256),
            )
        },
        {
            let v = get("put_latency_p50", &[("writers", 1u64.into())]);
            let limit = fsync.map(|f| f + 100.0);
            (
                "put_latency_p50 writers=1".into(),
                format!(
                    "<= fsync p50 + 100 µs ({} µs)",
                    limit.map_or("?".into(), |l| format!("{l:.0}"))
                ),
                v,
                v.zip(limit).map(|(v, l)| v <= l),
            )
        },
        {
            let v = get("get_latency_p50", &[]);
            (
                "get_latency_p50".into(),
                "<= 10 µs".into(),
                v,
                v.map(|v| v <= 10.0),
            )
        },
        {
            let v = get(
                "range_keys_only_limit_1000",
                &[("keys", plan.keys.into()), ("keys_only", true.into())],
            );
            (
                format!("range_keys_only_limit_1000 keys={}", plan.keys),
                "<= 5 ms at 1M keys".into(),
                v,
                v.map(|v| v <= 5.0),
            )
        },
        {
            let v = get("reopen_after_crash", &[("events", plan.events.into())]);
            (
                format!("reopen_after_crash events={}", plan.events),
                "<= 100 ms at 1M events".into(),
                v,
                v.map(|v| v <= 100.0),
            )
        },
        {
            let v = get(
                "watch_latency_p99",
                &[("watchers", 100u64.into()), ("disk", "dir".into())],
            );
            (
                "watch_latency_p99 watchers=100".into(),
                "<= 1000 µs".into(),
                v,
                v.map(|v| v <= 1000.0),
            )
        },
    ];
    report.text("");
    report.text(&format!(
        "{:<40} {:<36} {:>12} RESULT",
        "TARGET (store issue)", "GOAL", "MEASURED"
    ));
    for (name, goal, value, pass) in rows {
        let result = match pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "?",
        };
        report.text(&format!(
            "{name:<40} {goal:<36} {:>12} {result}",
            value.map_or("-".into(), |v| format!("{v}"))
        ));
    }
    if plan.keys < 1_000_000 || plan.events < 1_000_000 {
        report.text("(targets are stated at 1M keys/events; this run used fewer)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_store::WriteError;

    #[test]
    fn the_benchmark_pod_is_about_one_kib() {
        let event = Event {
            revision: Revision(1_000_000),
            at: SystemClock::new().now_micro_time(),
            actor: Actor::new("bench"),
            change: Change::Update {
                object: named(&template_pod(), PUT_NAMESPACE, "pod-000000".into()),
                create_revision: Revision(1),
                version: 2,
            },
        };
        let len = codec::encode_event(&event).len();
        assert!((900..=1200).contains(&len), "{len} bytes");
    }

    #[test]
    fn keys_of_the_list_store_sort_in_load_order() {
        let keys: Vec<String> = [0, 1, 999, 1000, 999_999]
            .into_iter()
            .map(|i| {
                let (ns, name) = list_key(i);
                format!("{LIST_PREFIX}{ns}/{name}")
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn write_errors_surface_as_text() {
        let e: Result<(), WriteError> = Err(WriteError::Fatal(skiff_store::StoreError::Stopped));
        assert!(!e.map_err(err).unwrap_err().is_empty());
    }
}
