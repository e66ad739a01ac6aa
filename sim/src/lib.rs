//! skiff-sim: the whole cluster under the madsim deterministic simulator.
//!
//! Built with `--cfg madsim` through the cargo aliases in `.cargo/config.toml` (`cargo simtest`,
//! `cargo sim`). The harness is being built (see ARCHITECTURE.md).

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
