//! `skiff bench store --members N`: durable writes through a replicated store (issue #11).
//!
//! Starts `N` members of one replicated store **in this process**, each with its own data
//! directory (its own redb file, every commit durable: `Durability::Immediate`, fsynced) and
//! its own Raft listener on a loopback TCP port: the members talk to each other over real
//! loopback sockets exactly as `skiff up --initial-cluster` members do, with the same default
//! Raft timing (100 ms heartbeats, 1–2 s election timeout) and snapshot policy. Then, once a
//! leader is elected and every member knows it:
//!
//! 1. preloads the keyspace of the single-node put benchmark through the leader;
//! 2. runs the same closed-loop put workload as `skiff bench store` (≈ 1 KiB pods, 1/16/256
//!    writers, warm-up then measured; writer `t`'s `j`-th put goes to key `(t + j·T) mod
//!    keys`) through the **leader's** store, then through a **follower's** store (which
//!    forwards each batch to the leader and acknowledges once it applied the entry itself).
//!
//! Metrics are the single-node bench's (`put_throughput`, `put_latency_p50`,
//! `put_latency_p99`, `put_cpu_per_op`, `other_cpu`) with `params.members` and `params.via`
//! (`leader` or `follower`), plus `ops_per_entry`: acknowledged puts per Raft log entry (each
//! entry is one group-commit batch; each member commits it twice, once in its log and once
//! when applying, each commit durable). `put_cpu_per_op` is this whole process: the client
//! tasks and all `N` members.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use skiff_core::clock::{Clock, SystemClock};
use skiff_core::event::{Actor, Change, Event, Revision};
use skiff_core::object::Pod;
use skiff_store::raft::{MemberConfig, Replica, Replication};
use skiff_store::{Backing, Op, Store, TXN_OPS_MAX, Txn, codec};
use tokio::net::TcpListener;

use super::measure::{self, us};
use super::store::{PutRun, named, put_key, put_run, template_pod};
use super::{Param, Report, StoreArgs};

/// The largest `--members` accepted (a benchmark on one machine, not a deployment).
pub(super) const MEMBERS_MAX: usize = 7;

/// Preload transactions in flight. Each group-commit batch is one Raft entry sent in one frame
/// (at most 16 MiB with a whole append of entries): a few 128-create transactions per batch
/// keep entries well below that.
const PRELOAD_TASKS: usize = 2;

/// How long to wait for the first leader (election timeouts are 1–2 s by default).
const ELECTION_WAIT: Duration = Duration::from_secs(30);

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn progress(msg: &str) {
    eprintln!("bench store: {msg}");
}

/// Sizes and durations of a replicated run.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct MembersPlan {
    /// Members of the store.
    pub members: usize,
    /// Keys the puts overwrite (preloaded first).
    pub keys: u64,
    /// Writer counts, each run through the leader and then through a follower.
    pub writers: Vec<usize>,
    /// Warm-up before each measured run.
    pub warm: Duration,
    /// Measured part of each run.
    pub run: Duration,
}

impl MembersPlan {
    /// The plan for `--members N` and the other flags of `skiff bench store`.
    pub(super) fn new(members: usize, args: &StoreArgs) -> Result<Self, String> {
        if !(2..=MEMBERS_MAX).contains(&members) {
            return Err(format!(
                "--members takes 2 to {MEMBERS_MAX} (1 is the single-node benchmark: leave it out)"
            ));
        }
        if let Some(other) = args.only.iter().find(|p| p.as_str() != "put") {
            return Err(format!(
                "--members runs only the put phase; --only {other} is not available"
            ));
        }
        if args.writers.contains(&0) {
            return Err("--writers must be at least 1".into());
        }
        let (keys, warm, run) = if args.quick {
            (
                1_024,
                Duration::from_millis(100),
                Duration::from_millis(400),
            )
        } else {
            (102_400, Duration::from_secs(1), Duration::from_secs(10))
        };
        Ok(Self {
            members,
            keys,
            writers: if args.writers.is_empty() {
                vec![1, 16, 256]
            } else {
                args.writers.clone()
            },
            warm,
            run,
        })
    }
}

/// One running member.
struct Node {
    store: Store,
    replica: Arc<Replica>,
}

/// Runs `skiff bench store --members N`.
pub(super) fn run(
    members: usize,
    args: &StoreArgs,
    report: &mut Report<'_, impl Write>,
) -> Result<(), String> {
    let plan = MembersPlan::new(members, args)?;
    let scratch = super::store::scratch_dir("skiff-bench-members-", args.data_dir.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    progress(&format!(
        "{} members in this process, data under {}, {} CPUs, load {:.2}",
        plan.members,
        scratch.path().display(),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        measure::load_average().unwrap_or(f64::NAN)
    ));
    let result = runtime.block_on(phases(&plan, scratch.path(), report));
    drop(runtime);
    drop(scratch);
    result
}

/// Opens the members, each on its own loopback port and data directory.
async fn start(
    plan: &MembersPlan,
    dir: &Path,
    clock: &Arc<SystemClock>,
) -> Result<Vec<Node>, String> {
    let mut listeners = Vec::new();
    let mut addrs = BTreeMap::new();
    for id in 1..=plan.members as u64 {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(err)?;
        addrs.insert(id, listener.local_addr().map_err(err)?.to_string());
        listeners.push((id, listener));
    }
    let mut nodes = Vec::new();
    for (id, listener) in listeners {
        let member_dir = dir.join(format!("member-{id}"));
        std::fs::create_dir_all(&member_dir).map_err(err)?;
        let config = MemberConfig::new(id, addrs.clone());
        let (store, replica) =
            Store::open_member(Backing::Dir(member_dir), clock.clone(), &config, listener)
                .await
                .map_err(|e| format!("opening member {id}: {e}"))?;
        nodes.push(Node { store, replica });
    }
    Ok(nodes)
}

/// Waits until a leader is elected and every member knows it; returns its id.
async fn elected_leader(nodes: &[Node]) -> Result<u64, String> {
    let first = &nodes[0].replica;
    if !first.wait_for(ELECTION_WAIT, |s| s.leader.is_some()).await {
        return Err(format!("no leader within {ELECTION_WAIT:?}"));
    }
    let leader = first.leader().ok_or("the leader vanished")?;
    for node in nodes {
        if !node
            .replica
            .wait_for(ELECTION_WAIT, |s| s.leader == Some(leader))
            .await
        {
            return Err(format!(
                "member {} does not know leader {leader}",
                node.replica.id()
            ));
        }
    }
    Ok(leader)
}

/// Creates keys `0..n` of the put keyspace through `store`, [`PRELOAD_TASKS`] transactions of
/// [`TXN_OPS_MAX`] creates in flight.
async fn preload(store: &Store, template: &Arc<Pod>, n: u64) -> Result<(), String> {
    let chunk = TXN_OPS_MAX as u64;
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..PRELOAD_TASKS {
        let (store, template, next) = (store.clone(), template.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let actor = Actor::new("bench");
            loop {
                let start = next.fetch_add(chunk, std::sync::atomic::Ordering::Relaxed);
                if start >= n {
                    return Ok::<(), String>(());
                }
                let success = (start..(start + chunk).min(n))
                    .map(|i| {
                        let (ns, name) = put_key(i);
                        Op::Create(named(&template, &ns, name))
                    })
                    .collect();
                let txn = Txn {
                    success,
                    ..Txn::default()
                };
                store.txn(&actor, txn).await.map_err(err)?;
            }
        }));
    }
    for task in tasks {
        task.await.map_err(err)??;
    }
    Ok(())
}

/// The size of one encoded update event of the benchmark's pod.
fn object_size(template: &Pod, clock: &SystemClock) -> usize {
    let event = Event {
        revision: Revision(1_000_000),
        at: clock.now_micro_time(),
        actor: Actor::new("bench"),
        change: Change::Update {
            object: named(template, "bench-put", "pod-000000".into()),
            create_revision: Revision(1),
            version: 2,
        },
    };
    codec::encode_event(&event).len()
}

async fn phases(
    plan: &MembersPlan,
    dir: &Path,
    report: &mut Report<'_, impl Write>,
) -> Result<(), String> {
    let clock = Arc::new(SystemClock::new());
    let template = Arc::new(template_pod());
    report.metric(
        "machine_load",
        &[("at", "start".into())],
        measure::load_average().unwrap_or(f64::NAN),
        "load1",
        "1-minute load average (2 = both cores of a 2-core machine busy)",
    );
    #[allow(clippy::cast_precision_loss, reason = "a byte count")]
    let object_bytes = object_size(&template, &clock) as f64;
    report.metric(
        "object_size",
        &[],
        object_bytes,
        "bytes",
        "one encoded update event of the benchmark's pod",
    );
    let nodes = start(plan, dir, &clock).await?;
    let result = measure_puts(plan, &nodes, &template, report).await;
    for node in &nodes {
        node.store.shutdown().await;
        node.replica.shutdown().await;
    }
    result?;
    report.metric(
        "machine_load",
        &[("at", "end".into())],
        measure::load_average().unwrap_or(f64::NAN),
        "load1",
        "",
    );
    Ok(())
}

async fn measure_puts(
    plan: &MembersPlan,
    nodes: &[Node],
    template: &Arc<Pod>,
    report: &mut Report<'_, impl Write>,
) -> Result<(), String> {
    let leader = elected_leader(nodes).await?;
    progress(&format!(
        "member {leader} leads; preloading {} keys through it",
        plan.keys
    ));
    let by_id = |id: u64| nodes.iter().find(|n| n.replica.id() == id);
    let leader_node = by_id(leader).ok_or("the leader is not one of ours")?;
    preload(&leader_node.store, template, plan.keys).await?;
    let follower = nodes
        .iter()
        .find(|n| n.replica.id() != leader)
        .ok_or("no follower")?;
    for (via, node) in [("leader", leader_node), ("follower", follower)] {
        for &writers in &plan.writers {
            progress(&format!(
                "put through the {via} (member {}): {writers} writer(s) for {:?} after {:?} warm-up",
                node.replica.id(),
                plan.run,
                plan.warm
            ));
            let entries_before = leader_node.replica.status().last_log_index.unwrap_or(0);
            let mut run = put_run(
                &node.store,
                template,
                writers,
                plan.keys,
                (plan.warm, plan.run),
            )
            .await?;
            let entries = leader_node
                .replica
                .status()
                .last_log_index
                .unwrap_or(0)
                .saturating_sub(entries_before);
            let now_leader = leader_node.replica.leader();
            let params = [
                ("members", Param::from(plan.members)),
                ("via", Param::from(via)),
                ("writers", Param::from(writers)),
            ];
            record(
                report,
                &params,
                &mut run,
                plan.run,
                entries,
                now_leader != Some(leader),
            );
        }
    }
    Ok(())
}

/// Reports one run's figures.
fn record(
    report: &mut Report<'_, impl Write>,
    params: &[(&'static str, Param)],
    run: &mut PutRun,
    measured: Duration,
    entries: u64,
    leader_changed: bool,
) {
    #[allow(clippy::cast_precision_loss, reason = "op counts")]
    let ops = run.ops as f64;
    let mut note = format!(
        "{} ops, durable on a quorum, applied by the member asked",
        run.ops
    );
    if leader_changed {
        note.push_str("; THE LEADER CHANGED during the run");
    }
    report.metric(
        "put_throughput",
        params,
        ops / measured.as_secs_f64(),
        "ops/s",
        note,
    );
    report.metric("put_latency_p50", params, us(run.latencies.p50()), "µs", "");
    report.metric("put_latency_p99", params, us(run.latencies.p99()), "µs", "");
    if run.ops > 0 {
        report.metric(
            "put_cpu_per_op",
            params,
            us(run.cpu.own) / ops,
            "µs",
            "CPU of this process (client and every member) per put",
        );
    }
    if entries > 0 {
        #[allow(clippy::cast_precision_loss, reason = "op and entry counts")]
        let per_entry = run.all_ops as f64 / entries as f64;
        report.metric(
            "ops_per_entry",
            params,
            per_entry,
            "ops",
            format!(
                "{} puts in {entries} Raft entries (warm-up and run): one batch per entry",
                run.all_ops
            ),
        );
    }
    if let Some(other) = run.cpu.other_cores {
        report.metric(
            "other_cpu",
            params,
            other,
            "cores",
            "CPU used by other processes during the run",
        );
    }
}
