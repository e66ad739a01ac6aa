//! `skiff bench`: user-facing benchmarks, like `etcdctl check perf`.
//!
//! Each benchmark prints a readable table by default, or with `--json` one JSON object per
//! line (DESIGN.md, "Benchmarks"):
//! `{"bench":"store","metric":"put_throughput","params":{"writers":256},"value":31234.5,"unit":"ops/s"}`.
//! Progress goes to standard error, so standard output stays machine-readable.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

mod api;
mod kubelet;
mod measure;
mod members;
mod scheduler;
mod store;

pub use scheduler::SchedulerArgs;

/// What `skiff bench` measures.
#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// The event store: durable writes, reads, ranges, watch latency, reopen after a crash,
    /// memory.
    Store(StoreArgs),
    /// The API server through the wire protocol: create/get/list/watch throughput and
    /// latency percentiles with many concurrent clients.
    Api(api::ApiArgs),
    /// The scheduler: pods scheduled and bindings committed per second (like upstream
    /// scheduler_perf SchedulingBasic), and the decision rate alone.
    Scheduler(SchedulerArgs),
    /// The kubelet: per-pod sync cost of one kubelet, and the heartbeat write load (Lease
    /// renewals and NodeStatus reports) of a whole cluster of nodes on the API server.
    Kubelet(kubelet::KubeletArgs),
    /// Internal: the writer process `bench store` kills to simulate a crash.
    #[command(hide = true)]
    StoreCrashChild(store::CrashChildArgs),
}

/// Options of `skiff bench store`.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Put the scratch databases in a temporary directory under DIR (on the disk to measure);
    /// default: the system temporary directory. Removed when the benchmark ends.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// A tiny configuration that finishes in seconds (smoke test, not a measurement).
    #[arg(long)]
    pub quick: bool,
    /// Keys in the store the prefix list runs over [default: 1000000; 10000 with --quick].
    #[arg(long, value_name = "N")]
    pub keys: Option<u64>,
    /// Events in the log before the simulated crash [default: 1000000; 10000 with --quick].
    #[arg(long, value_name = "N")]
    pub events: Option<u64>,
    /// Run only these phases (comma-separated): `put` (durable puts and the fsync probe),
    /// `get`, `watch` (on disk), `memory` (in-memory puts and watch), `crash`, `list`
    /// [default: all].
    #[arg(long, value_name = "PHASES", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Writer counts of the put runs, on disk and in memory [default: 1,16,256 on disk and
    /// 1,256 in memory].
    #[arg(long, value_name = "N,..", value_delimiter = ',')]
    pub writers: Vec<usize>,
    /// Replicated durable writes instead (issue #11): start N members of one replicated store
    /// in this process, each with its own data directory and its own Raft port on loopback
    /// TCP, and run the put phase through the leader and then through a follower (which
    /// forwards). Only the put phase runs; `--keys`/`--events` do not apply.
    #[arg(long, value_name = "N")]
    pub members: Option<usize>,
}

/// Runs a benchmark; false if it failed (the reason is on standard error).
pub fn run(target: BenchTarget, out: &mut impl Write) -> bool {
    let result = match target {
        BenchTarget::Store(args) => {
            let mut report = Report::new("store", args.json, out);
            match args.members {
                Some(members) => members::run(members, &args, &mut report),
                None => store::run(&args, &mut report),
            }
        }
        BenchTarget::Scheduler(args) => {
            let mut report = Report::new("scheduler", args.json, out);
            scheduler::run(&args, &mut report)
        }
        BenchTarget::Kubelet(args) => {
            let mut report = Report::new("kubelet", args.json, out);
            kubelet::run(&args, &mut report)
        }
        BenchTarget::StoreCrashChild(args) => store::crash_child(&args, out),
        BenchTarget::Api(args) => api::run(&args, &mut Report::new("api", args.json, out)),
    };
    match result {
        Ok(()) => true,
        Err(e) => {
            eprintln!("skiff bench: {e}");
            false
        }
    }
}

/// A parameter value of a metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum Param {
    Int(u64),
    Text(String),
    Bool(bool),
}

impl std::fmt::Display for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::Int(n) => write!(f, "{n}"),
            Param::Text(s) => f.write_str(s),
            Param::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl From<u64> for Param {
    fn from(n: u64) -> Self {
        Param::Int(n)
    }
}

impl From<usize> for Param {
    fn from(n: usize) -> Self {
        Param::Int(n as u64)
    }
}

impl From<&str> for Param {
    fn from(s: &str) -> Self {
        Param::Text(s.to_owned())
    }
}

impl From<bool> for Param {
    fn from(b: bool) -> Self {
        Param::Bool(b)
    }
}

/// One measured figure: exactly the JSON line's shape and field order.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Figure {
    pub bench: &'static str,
    pub metric: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<&'static str, Param>,
    pub value: f64,
    pub unit: &'static str,
    /// Shown in the table only (spread over rounds, what a figure includes).
    #[serde(skip)]
    pub note: String,
}

/// Rounds to a precision that keeps about four significant digits.
fn round(value: f64) -> f64 {
    let scale = if value.abs() >= 1000.0 {
        10.0
    } else if value.abs() >= 10.0 {
        100.0
    } else {
        1000.0
    };
    (value * scale).round() / scale
}

/// Collects metrics and prints each as soon as it is measured.
pub(crate) struct Report<'a, W: Write> {
    bench: &'static str,
    json: bool,
    out: &'a mut W,
    figures: Vec<Figure>,
    header_done: bool,
}

impl<'a, W: Write> Report<'a, W> {
    fn new(bench: &'static str, json: bool, out: &'a mut W) -> Self {
        Self {
            bench,
            json,
            out,
            figures: Vec::new(),
            header_done: false,
        }
    }

    /// Records and prints one metric.
    pub(crate) fn metric(
        &mut self,
        metric: &'static str,
        params: &[(&'static str, Param)],
        value: f64,
        unit: &'static str,
        note: impl Into<String>,
    ) {
        let m = Figure {
            bench: self.bench,
            metric,
            params: params.iter().cloned().collect(),
            value: round(value),
            unit,
            note: note.into(),
        };
        if self.json {
            let line = serde_json::to_string(&m).expect("a metric serializes");
            let _ = writeln!(self.out, "{line}");
        } else {
            if !self.header_done {
                let _ = writeln!(
                    self.out,
                    "{:<38} {:<36} {:>12} {:<6} NOTE",
                    "METRIC", "PARAMS", "VALUE", "UNIT"
                );
                self.header_done = true;
            }
            let params = m
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(
                self.out,
                "{:<38} {:<36} {:>12} {:<6} {}",
                m.metric, params, m.value, m.unit, m.note
            );
        }
        let _ = self.out.flush();
        self.figures.push(m);
    }

    /// The value of a metric recorded earlier with exactly these params.
    pub(crate) fn value(&self, metric: &str, params: &[(&str, Param)]) -> Option<f64> {
        self.figures
            .iter()
            .find(|m| {
                m.metric == metric
                    && m.params.len() == params.len()
                    && params
                        .iter()
                        .all(|(k, v)| m.params.get(k).is_some_and(|p| p == v))
            })
            .map(|m| m.value)
    }

    /// Free text after the table (nothing in JSON mode).
    pub(crate) fn text(&mut self, text: &str) {
        if !self.json {
            let _ = writeln!(self.out, "{text}");
            let _ = self.out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_have_the_design_shape() {
        let mut buf = Vec::new();
        let mut report = Report::new("store", true, &mut buf);
        report.metric(
            "put_throughput",
            &[("writers", 256u64.into())],
            31_234.54,
            "ops/s",
            "ignored",
        );
        report.metric("rss", &[], 12.0, "MiB", "");
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"bench\":\"store\",\"metric\":\"put_throughput\",\"params\":{\"writers\":256},\"value\":31234.5,\"unit\":\"ops/s\"}\n\
             {\"bench\":\"store\",\"metric\":\"rss\",\"value\":12.0,\"unit\":\"MiB\"}\n"
        );
    }

    #[test]
    fn rounding_keeps_four_digits() {
        assert!((round(6.534_21) - 6.534).abs() < 1e-9);
        assert!((round(189.456) - 189.46).abs() < 1e-9);
        assert!((round(31_234.56) - 31_234.6).abs() < 1e-9);
    }
}
