//! The whole cluster on a replicated control plane (issue #11, items 3–5): every member runs
//! the API server, the controller manager and the scheduler; workers, the workload and a
//! watcher are given every member's endpoint; watchers pinned to each member follow it through
//! crashes and leader changes. The single-node run's checkers hold here too, and the planted
//! bugs they exist for are caught on three members as on one.
#![cfg(madsim)]

use std::collections::BTreeSet;
use std::time::Duration;

use skiff_sim::options::{FaultKind, Options, Overrides};
use skiff_sim::report::Report;
use skiff_sim::run::{RunFlags, run};

fn run_seed(options: Options, flags: RunFlags) -> Report {
    let seed = options.seed;
    std::thread::spawn(move || {
        madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default())
            .block_on(run(options, flags))
            .0
    })
    .join()
    .expect("the simulation panicked")
}

/// Three members, two workers, `safety` of the given faults (one every ~3 s, episodes ≤ 5 s).
fn three(seed: u64, safety: Duration, faults: &[FaultKind]) -> Options {
    let mut options = Options::from_seed(
        seed,
        &Overrides {
            workers: Some(2),
            duration: Some(safety),
            faults: Some(faults.iter().copied().collect::<BTreeSet<_>>()),
        },
    );
    options.control_plane = 3;
    options.rates.mean_interval = Duration::from_secs(3);
    options.rates.episode_max = Duration::from_secs(5);
    options.converge_within = Duration::from_secs(90);
    options
}

/// Member crashes (the leader half the time): the watchers pinned to a crashed member see
/// their session end and resume on its next boot from the last revision delivered; the
/// failing-over watcher moves to another member. Every session is ordered, gap-free and
/// duplicate-free against the log, the scheduler bound pods through the members' API servers,
/// and the cluster converged after the heal.
#[test]
fn watches_resume_across_member_crashes_and_the_cluster_converges() {
    let report = run_seed(
        three(11, Duration::from_secs(45), &[FaultKind::Crash]),
        RunFlags::default(),
    );
    assert_eq!(report.violations, [], "{}", report.text());
    assert!(report.converged_after.is_some(), "{}", report.text());
    assert!(
        report.faults_by_kind.get("crash").copied().unwrap_or(0) >= 2,
        "{}",
        report.text()
    );
    // 3 members × 2 kinds pinned, 2 failing over: more sessions means some resumed.
    assert!(report.watch_sessions > 8, "{}", report.text());
    assert!(report.pods.bound > 0, "{}", report.text());
    assert!(report.checkers_off.is_empty(), "{:?}", report.checkers_off);
}

/// The watch checker is live on the replicated run: held to the old `DELETED` revision rule
/// (see the single-node sweep's test of the same name), a run with deletes fails it.
#[test]
fn watch_checker_catches_the_deleted_revision_divergence_on_three_members() {
    let flags = RunFlags {
        legacy_deleted_revision: true,
        ..RunFlags::default()
    };
    let mut options = three(7, Duration::from_secs(90), &[]);
    options.workload.delete = options.workload.delete.max(4);
    let report = run_seed(options, flags);
    let first = report.violations.first().expect("a violation");
    assert_eq!(
        first.violation.checker(),
        "watch-order",
        "{}",
        report.text()
    );
}

/// The node-lease checker is live on the replicated run, whose batches are stamped by
/// whichever member leads: a node lifecycle controller with a 5 s grace period marks nodes
/// that keep renewing.
#[test]
fn node_lease_checker_catches_a_too_short_grace_period_on_three_members() {
    let flags = RunFlags {
        node_grace_period: Some(Duration::from_secs(5)),
        ..RunFlags::default()
    };
    let report = run_seed(three(7, Duration::from_secs(60), &[]), flags);
    let first = report.violations.first().expect("a violation");
    assert_eq!(first.violation.checker(), "node-lease", "{}", report.text());
}
