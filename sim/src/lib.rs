//! skiff-sim: the whole cluster under the madsim deterministic simulator — a control plane
//! (store on a crash-faithful simulated disk, API server, wire server, controllers), worker
//! nodes and clients, all over the real wire protocol on simulated TCP, with five kinds of
//! faults and one checker per invariant.
//!
//! Built with `--cfg madsim` through the cargo aliases in `.cargo/config.toml` (`cargo simtest`,
//! `cargo sim`). In the normal build only the pure parts compile (options, checkers, oracle,
//! trace, report), so their unit tests run in `cargo test` too.
//!
//! - [`options`]: everything a run does, derived from one seed.
//! - [`check`]: the invariant checkers and the [`check::Violation`] they report.
//! - [`oracle`]: what the clients were acknowledged.
//! - [`trace`]: the trace hash that proves a seed replays exactly.
//! - [`report`]: the end-of-run report (text and `--json` lines).
//! - `cluster`, `faults`, `workload`, `worker`, `run` (simulator build only): the harness.
//! - `replicated` (simulator build only): `--control-plane 3|5`, a Raft-replicated store with
//!   Raft's faults, its checkers and the linearizability checker over client histories.
//! - `testkit` (simulator build only): `ChaosTest`, seeded chaos tests of your own
//!   controllers with your own checkers ([`check::user::Checker`]).
//!
//! ```
//! use skiff_sim::options::{Options, Overrides};
//! let options = Options::from_seed(42, &Overrides::default());
//! assert_eq!(options, Options::from_seed(42, &Overrides::default()));
//! assert!(options.repro_command().starts_with("cargo sim --seed 42 "));
//! ```

pub mod check;
pub mod liveness;
pub mod options;
pub mod oracle;
pub mod reconnect;
pub mod report;
pub mod timeline;
pub mod trace;
pub mod watchdog;

#[cfg(madsim)]
pub mod cluster;
#[cfg(madsim)]
pub mod faults;
pub mod fill;
#[cfg(madsim)]
pub mod replicated;
#[cfg(madsim)]
pub mod run;
#[cfg(madsim)]
pub mod testkit;
pub mod watcher;
pub mod worker;
pub mod workload;

/// True when this crate was compiled for the simulator (`--cfg madsim`).
pub const SIMULATED: bool = cfg!(madsim);

#[cfg(test)]
mod tests {
    /// `cargo simtest` sets `SKIFF_SIMTEST`; if an environment `RUSTFLAGS` replaced the alias's
    /// `build.rustflags`, `cfg(madsim)` is missing and every simulation test would silently
    /// compile to nothing. Fail loudly instead.
    #[test]
    #[allow(
        clippy::assertions_on_constants,
        reason = "the constant differs between the two builds"
    )]
    fn simulation_build_really_has_cfg_madsim() {
        if std::env::var_os("SKIFF_SIMTEST").is_some() {
            assert!(
                super::SIMULATED,
                "SKIFF_SIMTEST is set but cfg(madsim) is not: an environment RUSTFLAGS overrides \
                 build.rustflags; unset RUSTFLAGS and rerun `cargo simtest`"
            );
        }
    }
}
