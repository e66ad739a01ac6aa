//! A user controller tested under chaos with skiff's testing kit: the `GameServer` kind and its
//! controller — the very ones `examples/custom_kind.rs` embeds, shared through
//! `examples/support/game_server.rs` — run in a whole simulated cluster: the kind registered
//! in the simulated control plane (store, API server, garbage collector), the controller on a
//! node of its own, GameServers created, scaled and deleted by a scripted workload, crash and
//! partition faults (plus message loss, clock skew and disk faults), every built-in invariant
//! checker and one for GameServers (`examples/support/game_server_checks.rs`), over a few
//! seeds. Then the same controller with a planted off-by-one must be caught with the exact
//! violation. It exits non-zero if any of that fails.
//!
//! It runs under the deterministic simulator (`--cfg madsim`), through a cargo alias:
//!
//! ```sh
//! cargo simexample chaos_test
//! ```

#[cfg(madsim)]
#[path = "support/game_server.rs"]
mod game_server;
#[cfg(madsim)]
#[path = "support/game_server_checks.rs"]
mod game_server_checks;

/// The seeds every run of the example tries.
#[cfg(madsim)]
const SEEDS: [u64; 3] = [1, 2, 3];

#[cfg(madsim)]
fn chaos_test(
    seed: u64,
    faults: &str,
    controller: fn() -> game_server::GameServerController,
) -> skiff_sim::report::Report {
    use skiff_sim::testkit::{ChaosTest, Faults};
    use std::time::Duration;

    let test = ChaosTest::new(seed)
        .workers(3)
        .duration(Duration::from_secs(100))
        .faults(Faults::parse(faults))
        .kind::<game_server::GameServer>()
        .controller(controller)
        .checker(game_server_checks::FleetChecker::for_script())
        .quiet();
    game_server_checks::script(test).run()
}

#[cfg(madsim)]
fn main() -> std::process::ExitCode {
    use skiff_sim::check::Violation;

    let mut failed = false;
    for (seed, faults) in SEEDS
        .into_iter()
        .zip(["crash,partition", "all", "crash,partition"])
    {
        let report = chaos_test(seed, faults, game_server::GameServerController::new);
        let injected: u64 = report.faults.values().sum();
        if report.violations.is_empty() && report.converged_after.is_some() {
            println!(
                "seed {seed} ({faults}): ok — {injected} faults ({:?}), {} events, converged after {:?}, trace hash {:016x}",
                report.faults, report.events, report.converged_after, report.trace_hash
            );
        } else {
            failed = true;
            println!("seed {seed} ({faults}): FAILED\n{}", report.text());
        }
    }
    // The planted bug: one pod too many per GameServer, caught at its first pod.
    let report = chaos_test(
        1,
        "crash,partition",
        game_server::GameServerController::planted_bug,
    );
    let expected = Violation::User {
        checker: game_server_checks::CHECKER,
        message: "GameServer default/arena (spec.replicas at most 3) controls pod default/arena-3"
            .into(),
    };
    match report.violations.first() {
        Some(found) if found.violation == expected => {
            println!("planted bug: caught — {}", found.violation);
        }
        other => {
            failed = true;
            println!(
                "planted bug: expected {expected}, found {:?}\n{}",
                other.map(|f| &f.violation),
                report.text()
            );
        }
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        println!(
            "gameserver-controller: no violation in {} seeds, the planted bug caught",
            SEEDS.len()
        );
        std::process::ExitCode::SUCCESS
    }
}

#[cfg(not(madsim))]
fn main() {
    println!("chaos_test runs under the simulator: `cargo simexample chaos_test`");
}
