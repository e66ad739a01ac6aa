//! `skiff bench store --quick`: the real binary runs a tiny configuration; every `--json` line
//! parses and the project's metric names are there.

use std::collections::BTreeSet;
use std::process::{Command, Output};

fn skiff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .output()
        .expect("the skiff binary runs")
}

#[test]
fn quick_store_bench_prints_json_lines_with_the_metric_names() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().to_str().unwrap();
    let out = skiff(&[
        "bench",
        "store",
        "--quick",
        "--json",
        "--keys",
        "2000",
        "--events",
        "2000",
        "--data-dir",
        dir,
    ]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "status {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen = BTreeSet::new();
    for line in stdout.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        let object = v.as_object().expect("an object per line");
        // Field order exactly as DESIGN.md shows it.
        let fields: Vec<&str> = object.keys().map(String::as_str).collect();
        let expected: &[&str] = if object.contains_key("params") {
            &["bench", "metric", "params", "value", "unit"]
        } else {
            &["bench", "metric", "value", "unit"]
        };
        let mut sorted = expected.to_vec();
        sorted.sort_unstable();
        assert_eq!(fields, sorted, "{line}");
        assert!(
            line.starts_with("{\"bench\":\"store\",\"metric\":\""),
            "{line}"
        );
        let order: Vec<usize> = expected
            .iter()
            .map(|f| line.find(&format!("\"{f}\":")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "field order: {line}");
        assert!(v["value"].is_number(), "{line}");
        assert!(v["unit"].is_string(), "{line}");
        let metric = v["metric"].as_str().unwrap().to_owned();
        let params = &v["params"];
        let param = |name: &str| params.get(name).map(ToString::to_string);
        let id = match metric.as_str() {
            "put_throughput" | "put_latency_p50" | "put_latency_p99" => {
                format!("{metric} writers={}", param("writers").unwrap())
            }
            "watch_latency_p99" => format!(
                "{metric} watchers={} disk={}",
                param("watchers").unwrap(),
                param("disk").unwrap()
            ),
            "reopen_after_crash" => format!("{metric} events={}", param("events").unwrap()),
            "range_keys_only_limit_1000" => format!("{metric} keys={}", param("keys").unwrap()),
            _ => metric.clone(),
        };
        seen.insert(id);
    }
    for required in [
        "put_throughput writers=1",
        "put_throughput writers=16",
        "put_throughput writers=256",
        "put_latency_p50 writers=1",
        "put_latency_p99 writers=256",
        "get_latency_p50",
        "range_keys_only_limit_1000 keys=2000",
        "watch_latency_p99 watchers=1 disk=\"dir\"",
        "watch_latency_p99 watchers=100 disk=\"dir\"",
        "watch_latency_p99 watchers=100 disk=\"memory\"",
        "reopen_after_crash events=2000",
        "fsync_4k_latency_p50",
        "rss",
    ] {
        assert!(
            seen.contains(required),
            "{required} missing from:\n{stdout}"
        );
    }
    // The scratch databases are gone.
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
}

#[test]
fn bad_sizes_are_refused_clearly() {
    let out = skiff(&["bench", "store", "--quick", "--keys", "0"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--keys and --events must be at least 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn quick_api_bench_reports_each_phase_through_the_wire() {
    let scratch = tempfile::tempdir().unwrap();
    let out = skiff(&[
        "bench",
        "api",
        "--quick",
        "--json",
        "--clients",
        "8",
        "--objects",
        "64",
        "--data-dir",
        scratch.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metrics: Vec<String> = stdout
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["bench"], "api");
            v["metric"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        metrics,
        [
            "machine_load",
            "create_throughput",
            "create_latency_p50",
            "create_latency_p99",
            "get_throughput",
            "get_latency_p50",
            "get_latency_p99",
            "list_throughput",
            "list_latency_p50",
            "list_latency_p99",
            "watch_events_throughput",
            "watch_latency_p50",
            "watch_latency_p99",
            "machine_load",
        ]
    );
}

#[test]
fn tiny_kubelet_bench_reports_sync_cost_and_heartbeat_load() {
    let scratch = tempfile::tempdir().unwrap();
    let out = skiff(&[
        "bench",
        "kubelet",
        "--json",
        "--nodes",
        "30",
        "--pods-per-node",
        "5",
        "--rounds",
        "5",
        "--data-dir",
        scratch.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "status {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let metrics: Vec<(String, String)> = lines
        .iter()
        .map(|v| {
            assert_eq!(v["bench"], "kubelet");
            (
                v["metric"].as_str().unwrap().to_owned(),
                v["params"].to_string(),
            )
        })
        .collect();
    let pods = r#"{"pods_per_node":5}"#;
    let nodes = r#"{"nodes":30}"#;
    let expected: Vec<(String, String)> = [
        ("pod_startup_cost", pods),
        ("pod_sync_latency_p50", pods),
        ("pod_sync_latency_p99", pods),
        ("pod_sync_throughput", pods),
        ("pod_sync_cpu_per_pod", pods),
        ("heartbeat_writes_required", nodes),
        ("heartbeat_writes_achieved", nodes),
        ("heartbeat_minute_time", nodes),
        ("heartbeat_second_max", nodes),
        ("heartbeat_write_latency_p50", nodes),
        ("heartbeat_write_latency_p99", nodes),
        ("heartbeat_cpu_per_write", nodes),
    ]
    .iter()
    .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
    .collect();
    assert_eq!(metrics, expected);
    // 30 nodes must absorb 30/10 + 30/300 = 3.1 writes/s.
    assert_eq!(lines[5]["value"], 3.1);
    assert_eq!(lines[5]["unit"], "ops/s");
    // The scratch store is gone.
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
}

#[test]
fn kubelet_bench_refuses_more_pods_than_the_node_holds() {
    let out = skiff(&["bench", "kubelet", "--pods-per-node", "300", "--nodes", "0"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "skiff bench: --pods-per-node must be between 1 and 253\n"
    );
}
