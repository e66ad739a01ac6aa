//! The testing kit end to end: a user controller (examples/support/pod_keeper.rs) under
//! crashes and partitions with a checker of the user's own — the correct controller passes,
//! the planted bug (two pods per ConfigMap) is caught with the checker's exact message.
#![cfg(madsim)]

#[path = "../../examples/support/keeper_checks.rs"]
mod keeper_checks;
#[path = "../../examples/support/pod_keeper.rs"]
mod pod_keeper;

use keeper_checks::{CHECKER, OnePodPerConfigMap, workload};
use pod_keeper::PodKeeper;
use skiff_sim::check::Violation;
use skiff_sim::testkit::{ChaosTest, Faults};

fn keeper_test(seed: u64, keeper: fn() -> PodKeeper) -> skiff_sim::report::Report {
    ChaosTest::new(seed)
        .workers(3)
        .faults(Faults::parse("crash,partition"))
        .controller(keeper)
        .workload(workload)
        .checker(OnePodPerConfigMap::default())
        .run()
}

#[test]
fn a_correct_user_controller_passes_under_crashes_and_partitions() {
    let report = keeper_test(1, PodKeeper::new);
    assert_eq!(report.violations, [], "{}", report.text());
    assert!(report.controllers.contains(&"pod-keeper"));
    let faults: u64 = report.faults.values().sum();
    assert!(faults >= 5, "only {faults} faults: {:?}", report.faults);
    assert!(report.converged_after.is_some());
}

#[test]
fn a_planted_bug_is_caught_by_the_user_checker() {
    let report = keeper_test(1, PodKeeper::planted_bug);
    let first = &report
        .violations
        .first()
        .expect("the bug was not caught")
        .violation;
    assert_eq!(
        first,
        &Violation::User {
            checker: CHECKER,
            message: "ConfigMap default/cache-1 has 2 live pods: cache-1-pod, cache-1-pod-b".into(),
        },
        "{}",
        report.text()
    );
}
