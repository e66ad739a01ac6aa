//! `skiff bench store --members 3`: the real binary starts three replicated members on loopback
//! TCP, runs a tiny put workload through the leader and through a follower, and prints exactly
//! the expected metric lines (no timed assertions: only which figures appear).

use std::fmt::Write as _;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn skiff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .output()
        .expect("the skiff binary runs")
}

/// Runs skiff, killing it (and failing with what it printed) if it has not ended within
/// `limit`: a bench that never finishes must fail the test, not hang the suite.
fn skiff_within(args: &[&str], limit: Duration) -> Output {
    let logs = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("the skiff binary runs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "skiff {args:?} still running after {limit:?}; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: std::fs::read(&out_path).unwrap(),
        stderr: std::fs::read(&err_path).unwrap(),
    }
}

#[test]
fn three_member_bench_reports_puts_through_leader_and_follower() {
    let scratch = tempfile::tempdir().unwrap();
    let out = skiff_within(
        &[
            "bench",
            "store",
            "--members",
            "3",
            "--quick",
            "--writers",
            "1,4",
            "--json",
            "--data-dir",
            scratch.path().to_str().unwrap(),
        ],
        Duration::from_secs(300),
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "status {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let mut ids = Vec::new();
    for line in stdout.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert_eq!(v["bench"], "store", "{line}");
        assert!(v["value"].is_number(), "{line}");
        let params = v
            .get("params")
            .and_then(serde_json::Value::as_object)
            .map(|p| {
                p.iter().fold(String::new(), |mut text, (k, v)| {
                    let _ = write!(text, " {k}={v}");
                    text
                })
            })
            .unwrap_or_default();
        ids.push(format!(
            "{} {}{params}",
            v["metric"].as_str().unwrap(),
            v["unit"].as_str().unwrap()
        ));
    }
    let mut expected = vec![
        "machine_load load1 at=\"start\"".to_owned(),
        "object_size bytes".to_owned(),
    ];
    for via in ["leader", "follower"] {
        for writers in [1, 4] {
            let params = format!(" members=3 via=\"{via}\" writers={writers}");
            for (metric, unit) in [
                ("put_throughput", "ops/s"),
                ("put_latency_p50", "µs"),
                ("put_latency_p99", "µs"),
                ("put_cpu_per_op", "µs"),
                ("ops_per_entry", "ops"),
                ("other_cpu", "cores"),
            ] {
                expected.push(format!("{metric} {unit}{params}"));
            }
        }
    }
    expected.push("machine_load load1 at=\"end\"".to_owned());
    assert_eq!(ids, expected, "stderr:\n{stderr}");
    // Each member had its own data directory under the scratch directory, removed at the end.
    assert!(
        stderr.contains("3 members in this process"),
        "stderr:\n{stderr}"
    );
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
}

#[test]
fn member_counts_and_phases_outside_the_replicated_bench_are_refused() {
    let out = skiff(&["bench", "store", "--members", "1", "--quick"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "skiff bench: --members takes 2 to 7 (1 is the single-node benchmark: leave it out)\n"
    );
    let out = skiff(&["bench", "store", "--members", "3", "--only", "put,get"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "skiff bench: --members runs only the put phase; --only get is not available\n"
    );
}
