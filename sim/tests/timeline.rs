//! `--timeline`: one seed gives a byte-identical SVG twice, with a row per node and the faults
//! the run injected drawn on them.
#![cfg(madsim)]

use std::time::Duration;

use skiff_sim::options::{FaultKind, Options, Overrides};
use skiff_sim::report::Report;
use skiff_sim::run::{RunFlags, run};

fn run_seed(options: Options) -> Report {
    let seed = options.seed;
    let flags = RunFlags {
        timeline: true,
        ..RunFlags::default()
    };
    std::thread::spawn(move || {
        madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default())
            .block_on(run(options, flags))
            .0
    })
    .join()
    .expect("the simulation panicked")
}

fn short(seed: u64) -> Options {
    Options::from_seed(
        seed,
        &Overrides {
            workers: Some(3),
            duration: Some(Duration::from_secs(120)),
            faults: Some(FaultKind::ALL.into_iter().collect()),
        },
    )
}

#[test]
fn same_seed_gives_a_byte_identical_timeline() {
    let a = run_seed(short(7));
    let b = run_seed(short(7));
    let (ta, tb) = (
        a.timeline.expect("a timeline"),
        b.timeline.expect("a timeline"),
    );
    let names: Vec<&str> = ta.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["control-plane", "worker-1", "worker-2", "worker-3"]);
    assert_eq!(ta.end_ms, u64::try_from(a.simulated.as_millis()).unwrap());
    let (sa, sb) = (ta.svg(), tb.svg());
    assert_eq!(sa, sb, "same seed, same bytes");
    assert!(sa.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(sa.contains("<title>skiff-sim: seed 7 · 3 workers"), "{sa}");
}

#[test]
fn timeline_shows_the_crashes_and_the_running_pods() {
    let mut options = short(7);
    options.faults = [FaultKind::Crash].into_iter().collect();
    options.pods = 12;
    let report = run_seed(options);
    let crashes: u64 = report.faults.values().sum();
    let timeline = report.timeline.expect("a timeline");
    let downs: usize = timeline
        .rows
        .iter()
        .map(|r| r.states.iter().filter(|(_, s)| !s.up).count())
        .sum();
    assert!(crashes > 0, "the seed crashes something");
    assert!(downs > 0, "{crashes} crashes, no down band");
    let running_at_end: u32 = timeline
        .rows
        .iter()
        .filter_map(|r| r.pods.last().map(|(_, c)| *c))
        .sum();
    assert!(
        running_at_end >= 12,
        "the 12 standing pods run at the end: {running_at_end}"
    );
}
