//! [`TokioClock`]: a [`Clock`] over tokio's time, for runtimes whose timers are tokio's own —
//! tests with paused time (`#[tokio::test(start_paused = true)]`), where sleeping and reading
//! the clock must agree.

use std::time::{Duration, SystemTime};

use skiff_core::clock::Clock;

/// A clock whose monotonic time is tokio's `Instant` since construction and whose wall time
/// is a fixed wall time at construction plus that elapsed time. With tokio's paused time it
/// advances exactly as far as the runtime's timers do; under madsim tokio's time is the
/// simulator's.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
    wall_at_origin: SystemTime,
}

impl TokioClock {
    /// A clock at elapsed zero whose wall time is `wall_at_origin`.
    #[allow(
        clippy::disallowed_methods,
        reason = "this clock is tokio's time, read only here and handed out as a Clock"
    )]
    pub fn new(wall_at_origin: SystemTime) -> Self {
        Self {
            origin: tokio::time::Instant::now(),
            wall_at_origin,
        }
    }
}

impl Clock for TokioClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "this clock is tokio's time, read only here and handed out as a Clock"
    )]
    fn elapsed(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.origin)
    }

    fn wall(&self) -> SystemTime {
        self.wall_at_origin + self.elapsed()
    }
}
