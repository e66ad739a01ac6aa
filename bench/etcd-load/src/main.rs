//! `etcd-load`: the etcd side of skiff's replicated-store benchmark (`bench/members3.sh`).
//!
//! Closed-loop puts of 1 KiB values through etcd's gRPC KV API, shaped like the put phase of
//! `skiff bench store --members 3`:
//!
//! 1. preload `--keys` keys (`/registry/pods/default/pod-N`, as in the etcd baseline notes),
//!    256 tasks over 4 connections, each key once;
//! 2. for each endpoint role (`leader`, then `follower`) and each writer count (`--writers`):
//!    `--warm` seconds of warm-up, then `--secs` measured seconds; writer `t`'s `j`-th put goes
//!    to key `(t + j·T) mod keys`. One writer uses one connection; more writers are spread
//!    round-robin over `--conns` connections, every connection to that one member's endpoint
//!    (a follower forwards the proposal to the leader, like a skiff follower forwards a batch).
//!
//! Prints `skiff bench`'s JSON lines (`"bench":"etcd"`): `put_throughput` (ops/s),
//! `put_latency_p50`/`put_latency_p99` (µs), and with `--pids` the CPU per op of the etcd
//! processes together (`server_cpu_per_op`), of this client (`client_cpu_per_op`), their sum
//! (`put_cpu_per_op`, comparable with skiff's in-process figure) and what everything else on
//! the machine used (`other_cpu`, cores). Progress goes to standard error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use etcd_client::{Client, KvClient};

/// Linux's `USER_HZ` (clock ticks per second in `/proc`), 100 on every mainstream target.
const USER_HZ: f64 = 100.0;

struct Args {
    endpoints: Vec<String>,
    writers: Vec<usize>,
    conns: usize,
    secs: f64,
    warm: f64,
    keys: u64,
    pids: Vec<u32>,
    via: Vec<String>,
    members: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: etcd-load --endpoints URL,URL,.. [--writers 1,16,256] [--conns 4] [--secs 10] \
         [--warm 1] [--keys 102400] [--pids PID,..] [--via leader,follower]"
    );
    std::process::exit(2)
}

fn list<T: std::str::FromStr>(value: &str) -> Vec<T> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or_else(|_| usage()))
        .collect()
}

fn parse_args() -> Args {
    let mut args = Args {
        endpoints: Vec::new(),
        writers: vec![1, 16, 256],
        conns: 4,
        secs: 10.0,
        warm: 1.0,
        keys: 102_400,
        pids: Vec::new(),
        via: vec!["leader".into(), "follower".into()],
        members: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--endpoints" => args.endpoints = list(&value),
            "--writers" => args.writers = list(&value),
            "--conns" => args.conns = value.parse().unwrap_or_else(|_| usage()),
            "--secs" => args.secs = value.parse().unwrap_or_else(|_| usage()),
            "--warm" => args.warm = value.parse().unwrap_or_else(|_| usage()),
            "--keys" => args.keys = value.parse().unwrap_or_else(|_| usage()),
            "--pids" => args.pids = list(&value),
            "--via" => args.via = list(&value),
            _ => usage(),
        }
    }
    if args.endpoints.is_empty() || args.writers.contains(&0) || args.conns == 0 || args.keys == 0
    {
        usage();
    }
    if args.via.iter().any(|v| v != "leader" && v != "follower") {
        usage();
    }
    args.members = args.endpoints.len();
    args
}

fn key(i: u64) -> String {
    format!("/registry/pods/default/pod-{i}")
}

/// CPU seconds (user + system) of a process, from `/proc/PID/stat`.
fn process_cpu(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    #[allow(clippy::cast_precision_loss)]
    Some((utime + stime) as f64 / USER_HZ)
}

/// Busy CPU seconds of the whole machine, from `/proc/stat`.
fn machine_busy() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let values: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    #[allow(clippy::cast_precision_loss)]
    Some((total - idle) as f64 / USER_HZ)
}

#[derive(Clone, Copy)]
struct CpuSnapshot {
    server: f64,
    client: f64,
    machine: f64,
    at: Instant,
}

fn cpu_snapshot(pids: &[u32]) -> CpuSnapshot {
    CpuSnapshot {
        server: pids
            .iter()
            .filter_map(|p| process_cpu(&p.to_string()))
            .sum(),
        client: process_cpu("self").unwrap_or(0.0),
        machine: machine_busy().unwrap_or(0.0),
        at: Instant::now(),
    }
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn rounded(value: f64) -> f64 {
    let scale = if value.abs() >= 1000.0 {
        10.0
    } else if value.abs() >= 10.0 {
        100.0
    } else {
        1000.0
    };
    (value * scale).round() / scale
}

fn metric(name: &str, params: &BTreeMap<&str, serde_json::Value>, value: f64, unit: &str) {
    let mut line = serde_json::Map::new();
    line.insert("bench".into(), "etcd".into());
    line.insert("metric".into(), name.into());
    if !params.is_empty() {
        let p: serde_json::Map<String, serde_json::Value> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        line.insert("params".into(), p.into());
    }
    line.insert("value".into(), rounded(value).into());
    line.insert("unit".into(), unit.into());
    println!("{}", serde_json::Value::Object(line));
}

async fn connect(endpoint: &str) -> Result<Client, String> {
    Client::connect([endpoint], None)
        .await
        .map_err(|e| format!("connect {endpoint}: {e}"))
}

/// Each key once, 256 tasks over 4 connections.
async fn preload(endpoint: &str, keys: u64, value: &Arc<Vec<u8>>) -> Result<(), String> {
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(connect(endpoint).await?.kv_client());
    }
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..256 {
        let mut kv = clients[t % clients.len()].clone();
        let (next, value) = (next.clone(), value.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= keys {
                    return Ok::<(), String>(());
                }
                kv.put(key(i), value.as_slice(), None)
                    .await
                    .map_err(|e| format!("preload put: {e}"))?;
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

struct Run {
    ops: u64,
    latencies_ns: Vec<u64>,
    before: CpuSnapshot,
    after: CpuSnapshot,
}

async fn put_run(
    clients: &[KvClient],
    writers: usize,
    args: &Args,
    value: &Arc<Vec<u8>>,
) -> Result<Run, String> {
    let t0 = Instant::now();
    let measure_from = t0 + Duration::from_secs_f64(args.warm);
    let end = measure_from + Duration::from_secs_f64(args.secs);
    let keys = args.keys;
    let mut tasks = Vec::new();
    for t in 0..writers {
        let mut kv = clients[t % clients.len()].clone();
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            let mut ops = 0u64;
            let mut latencies = Vec::with_capacity(1024);
            let writers = writers as u64;
            for j in 0u64.. {
                let k = key((t as u64 + j * writers) % keys);
                let started = Instant::now();
                if started >= end {
                    break;
                }
                kv.put(k, value.as_slice(), None)
                    .await
                    .map_err(|e| format!("put: {e}"))?;
                let finished = Instant::now();
                if finished >= measure_from && finished <= end {
                    ops += 1;
                    if started >= measure_from {
                        latencies.push(
                            u64::try_from((finished - started).as_nanos()).unwrap_or(u64::MAX),
                        );
                    }
                }
            }
            Ok::<_, String>((ops, latencies))
        }));
    }
    tokio::time::sleep_until(tokio::time::Instant::from_std(measure_from)).await;
    let before = cpu_snapshot(&args.pids);
    tokio::time::sleep_until(tokio::time::Instant::from_std(end)).await;
    let after = cpu_snapshot(&args.pids);
    let mut run = Run {
        ops: 0,
        latencies_ns: Vec::new(),
        before,
        after,
    };
    for task in tasks {
        let (ops, latencies) = task.await.map_err(|e| e.to_string())??;
        run.ops += ops;
        run.latencies_ns.extend(latencies);
    }
    run.latencies_ns.sort_unstable();
    Ok(run)
}

/// Nearest-rank quantile in µs.
fn quantile_us(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    #[allow(clippy::cast_precision_loss)]
    let ns = sorted[rank - 1] as f64;
    ns / 1000.0
}

/// The endpoint of the leader and of one follower, from each member's status.
async fn roles(endpoints: &[String]) -> Result<(String, String), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut leader = None;
        let mut follower = None;
        for endpoint in endpoints {
            let Ok(mut client) = connect(endpoint).await else {
                continue;
            };
            let Ok(status) = client.status().await else {
                continue;
            };
            let me = status.header().map_or(0, |h| h.member_id());
            if status.leader() != 0 && status.leader() == me {
                leader = Some(endpoint.clone());
            } else if status.leader() != 0 && follower.is_none() {
                follower = Some(endpoint.clone());
            }
        }
        match (leader, follower) {
            (Some(l), Some(f)) => return Ok((l, f)),
            (Some(l), None) if endpoints.len() == 1 => return Ok((l.clone(), l)),
            _ if Instant::now() >= deadline => return Err("no leader within 30 s".into()),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    if let Err(e) = run(&args).await {
        eprintln!("etcd-load: {e}");
        std::process::exit(1);
    }
}

async fn run(args: &Args) -> Result<(), String> {
    let value = Arc::new(vec![b'x'; 1024]);
    let (leader, follower) = roles(&args.endpoints).await?;
    eprintln!("etcd-load: leader {leader}, follower {follower}, load {:.2}", load_average());
    let mut params = BTreeMap::new();
    params.insert("at", "start".into());
    metric("machine_load", &params, load_average(), "load1");
    let started = Instant::now();
    preload(&leader, args.keys, &value).await?;
    eprintln!(
        "etcd-load: preloaded {} keys in {:.1} s",
        args.keys,
        started.elapsed().as_secs_f64()
    );
    for via in &args.via {
        let endpoint = if via == "leader" { &leader } else { &follower };
        for &writers in &args.writers {
            let conns = if writers == 1 { 1 } else { args.conns };
            let mut clients = Vec::new();
            for _ in 0..conns {
                clients.push(connect(endpoint).await?.kv_client());
            }
            eprintln!("etcd-load: put via {via} ({endpoint}), {writers} writer(s), {conns} conn(s)");
            let run = put_run(&clients, writers, args, &value).await?;
            let mut params: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
            params.insert("members", args.members.into());
            params.insert("via", via.as_str().into());
            params.insert("writers", writers.into());
            params.insert("conns", conns.into());
            #[allow(clippy::cast_precision_loss)]
            let ops = run.ops as f64;
            metric("put_throughput", &params, ops / args.secs, "ops/s");
            metric(
                "put_latency_p50",
                &params,
                quantile_us(&run.latencies_ns, 0.50),
                "µs",
            );
            metric(
                "put_latency_p99",
                &params,
                quantile_us(&run.latencies_ns, 0.99),
                "µs",
            );
            if run.ops > 0 && !args.pids.is_empty() {
                let server = run.after.server - run.before.server;
                let client = run.after.client - run.before.client;
                let wall = (run.after.at - run.before.at).as_secs_f64();
                let other = (run.after.machine - run.before.machine - server - client) / wall;
                metric("server_cpu_per_op", &params, server * 1e6 / ops, "µs");
                metric("client_cpu_per_op", &params, client * 1e6 / ops, "µs");
                metric("put_cpu_per_op", &params, (server + client) * 1e6 / ops, "µs");
                metric("other_cpu", &params, other.max(0.0), "cores");
            }
        }
    }
    let mut params = BTreeMap::new();
    params.insert("at", "end".into());
    metric("machine_load", &params, load_average(), "load1");
    Ok(())
}
