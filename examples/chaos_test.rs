//! A user controller tested under chaos with skiff's testing kit: `PodKeeper` (one pod per
//! labelled ConfigMap, `examples/support/pod_keeper.rs`) runs on its own simulated node
//! beside a whole simulated cluster, with crash and partition faults, every built-in
//! invariant checker and one of its own (`examples/support/keeper_checks.rs`), over a few
//! seeds. It asserts that no seed finds a violation and exits non-zero otherwise.
//!
//! It runs under the deterministic simulator (`--cfg madsim`), through a cargo alias:
//!
//! ```sh
//! cargo simexample chaos_test
//! ```
//!
//! (The custom-kinds work adds a `GameServer` kind with its own reconciler in
//! `examples/custom_kind.rs`; until that lands on main this example tests `PodKeeper`, which
//! has the same shape: an owner object, a pod per owner, garbage collection.)

#[cfg(madsim)]
#[path = "support/keeper_checks.rs"]
mod keeper_checks;
#[cfg(madsim)]
#[path = "support/pod_keeper.rs"]
mod pod_keeper;

/// The seeds every run of the example tries.
#[cfg(madsim)]
const SEEDS: [u64; 3] = [1, 2, 3];

#[cfg(madsim)]
fn main() -> std::process::ExitCode {
    use skiff_sim::testkit::{ChaosTest, Faults};

    let mut failed = false;
    for seed in SEEDS {
        let report = ChaosTest::new(seed)
            .workers(3)
            .faults(Faults::parse("crash,partition"))
            .controller(pod_keeper::PodKeeper::new)
            .workload(keeper_checks::workload)
            .checker(keeper_checks::OnePodPerConfigMap::default())
            .run();
        let faults: u64 = report.faults.values().sum();
        if report.violations.is_empty() {
            println!(
                "seed {seed}: ok — {faults} faults ({:?}), {} events, converged after {:?}, trace hash {:016x}",
                report.faults, report.events, report.converged_after, report.trace_hash
            );
        } else {
            failed = true;
            println!("seed {seed}: FAILED\n{}", report.text());
        }
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        println!("pod-keeper: no violation in {} seeds", SEEDS.len());
        std::process::ExitCode::SUCCESS
    }
}

#[cfg(not(madsim))]
fn main() {
    println!("chaos_test runs under the simulator: `cargo simexample chaos_test`");
}
