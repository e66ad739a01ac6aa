//! The testing kit end to end: a user controller (examples/support/pod_keeper.rs) under
//! crashes and partitions with a checker of the user's own — the correct controller passes,
//! the planted bug (two pods per ConfigMap) is caught with the checker's exact message; and a
//! dynamic custom kind served by the simulated cluster, its objects applied and deleted by
//! scripted steps, with the same trace hash for the same seed. (The typed `GameServer` kind
//! and its controller under the kit: examples/chaos_test.rs, `cargo simexample chaos_test`.)
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

/// Every event of CronTabs (a dynamic kind) the checker saw: `create default/tab-1` …
#[derive(Clone, Default)]
struct CronTabLog(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl skiff_sim::check::user::Checker for CronTabLog {
    fn name(&self) -> &'static str {
        "crontab-log"
    }

    fn observe(&mut self, event: &skiff_core::event::Event, _out: &mut Vec<String>) {
        use skiff_core::event::Change;
        let (what, object) = match &event.change {
            Change::Create(o) => ("create", o),
            Change::Update { object, .. } => ("update", object),
            Change::Delete(o) => ("delete", o),
            _ => return,
        };
        if object.info().kind != "CronTab" {
            return;
        }
        let meta = object.metadata();
        let spec = match object {
            skiff_core::object::Object::Custom(o) => o
                .field("spec")
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            _ => String::new(),
        };
        self.0.lock().unwrap().push(format!(
            "{what} {}/{} {spec}",
            meta.namespace_or_empty(),
            meta.name_or_empty()
        ));
    }
}

const CRONTABS: &str = "
apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: tab-1
spec:
  cronSpec: '* * * * */5'
---
apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: tab-2
spec:
  cronSpec: '0 * * * *'
";

fn crontab_test(seed: u64, log: CronTabLog) -> skiff_sim::report::Report {
    ChaosTest::new(seed)
        .workers(2)
        .duration(std::time::Duration::from_secs(60))
        .faults(Faults::parse("crash,partition"))
        .dynamic_kind(skiff_core::object::DynamicKind::new(
            "stable.example.com",
            "v1",
            "CronTab",
            "crontabs",
        ))
        .apply_at(std::time::Duration::from_secs(1), CRONTABS)
        .apply_at(
            std::time::Duration::from_secs(20),
            &CRONTABS.replace("'0 * * * *'", "'30 * * * *'"),
        )
        .delete_at(
            std::time::Duration::from_secs(30),
            "crontabs",
            "default",
            "tab-1",
        )
        .checker(log)
        .quiet()
        .run()
}

#[test]
fn a_dynamic_kind_is_served_and_the_same_seed_gives_the_same_trace_hash() {
    let (log_a, log_b) = (CronTabLog::default(), CronTabLog::default());
    let a = crontab_test(5, log_a.clone());
    let b = crontab_test(5, log_b.clone());
    assert_eq!(a.violations, [], "{}", a.text());
    assert_eq!(
        (a.trace_hash, a.events, a.faults.clone()),
        (b.trace_hash, b.events, b.faults.clone())
    );
    let seen = log_a.0.lock().unwrap().clone();
    assert_eq!(seen, *log_b.0.lock().unwrap());
    // Created, the second changed at 20 s (the first re-applied unchanged: no event), the
    // first deleted at 30 s — each once, whatever the faults did to the client's answers.
    assert_eq!(
        seen,
        [
            r#"create default/tab-1 Map({"cronSpec": String("* * * * */5")})"#,
            r#"create default/tab-2 Map({"cronSpec": String("0 * * * *")})"#,
            r#"update default/tab-2 Map({"cronSpec": String("30 * * * *")})"#,
            r#"delete default/tab-1 Map({"cronSpec": String("* * * * */5")})"#,
        ],
        "{}",
        a.text()
    );
}
