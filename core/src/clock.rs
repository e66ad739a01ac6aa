//! Time, only through a [`Clock`]: every component reads monotonic and wall time from one, so the
//! simulator can give each node its own offset, drift and steps (DESIGN.md, "Clock").
//!
//! This is the only module allowed to read the system clock. Under `--cfg madsim` the system
//! clock itself is virtual (madsim intercepts `clock_gettime`), so [`SystemClock`] is already
//! deterministic there; [`SkewedClock`] layers per-node skew on top of any base clock.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::object::{MicroTime, Time};

/// Locks clock state; a panic elsewhere cannot leave it half-updated (every update is a plain
/// assignment), so a poisoned lock is still good.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A source of time.
///
/// # Guarantees (for implementers)
///
/// - `elapsed` never decreases between two calls on the same clock.
/// - `wall` may jump (steps, skew) and is what timestamps written into objects use.
pub trait Clock: Debug + Send + Sync + 'static {
    /// Local monotonic time since the clock's origin.
    fn elapsed(&self) -> Duration;
    /// Local wall-clock time.
    fn wall(&self) -> SystemTime;

    /// The wall time as an API timestamp with second precision (`creationTimestamp`).
    fn now_time(&self) -> Time {
        Time::from_unix_seconds(unix_micros(self.wall()).div_euclid(1_000_000))
    }

    /// The wall time as an API timestamp with microsecond precision (Lease `renewTime`).
    fn now_micro_time(&self) -> MicroTime {
        MicroTime::from_unix_micros(unix_micros(self.wall()))
    }
}

/// Microseconds since the Unix epoch, negative before it, saturating far outside ±292,000 years.
pub fn unix_micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |m| -m),
    }
}

/// The machine's clock (virtual under the simulator).
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose monotonic origin is now.
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place that reads the system clock"
    )]
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place that reads the system clock"
    )]
    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "the one place that reads the system clock"
    )]
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// How a node's clock departs from true time (TigerBeetle's time model: an ideal monotonic
/// clock per node, with the wall clock offset from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Skew {
    /// Constant wall-clock offset, in nanoseconds (positive: the node is ahead).
    pub offset_ns: i64,
    /// Rate error in parts per million: local time runs `1 + ppm/1e6` times true time.
    pub drift_ppm: i64,
}

/// Largest drift accepted: real quartz is within ±100 ppm; ±100,000 ppm (10 %) is far beyond it
/// and still keeps the arithmetic exact in i128.
pub const DRIFT_PPM_MAX: i64 = 100_000;

/// A clock that runs skewed relative to a base clock: local monotonic time drifts by
/// `drift_ppm`, and wall time is the base wall time at the clock's origin plus local elapsed
/// plus `offset_ns`. The skew can be changed (a step) while the clock is shared.
#[derive(Debug, Clone)]
pub struct SkewedClock {
    base: Arc<dyn Clock>,
    state: Arc<Mutex<SkewState>>,
}

#[derive(Debug)]
struct SkewState {
    skew: Skew,
    /// Base elapsed and local elapsed at the last skew change, so a change never makes local
    /// monotonic time go backwards.
    base_at_change: Duration,
    local_at_change: Duration,
    /// Largest local elapsed handed out (monotonicity guard).
    local_max: Duration,
}

impl SkewedClock {
    /// A clock over `base` with the given skew.
    ///
    /// # Panics
    ///
    /// If `skew.drift_ppm` is outside ±[`DRIFT_PPM_MAX`].
    pub fn new(base: Arc<dyn Clock>, skew: Skew) -> Self {
        assert!(
            skew.drift_ppm.abs() <= DRIFT_PPM_MAX,
            "drift {} ppm out of range",
            skew.drift_ppm
        );
        let now = base.elapsed();
        Self {
            base,
            state: Arc::new(Mutex::new(SkewState {
                skew,
                base_at_change: now,
                local_at_change: now,
                local_max: now,
            })),
        }
    }

    /// Changes the skew from now on (a clock step or a new drift). Local monotonic time stays
    /// continuous; the wall clock jumps by the change of offset.
    ///
    /// # Panics
    ///
    /// If `skew.drift_ppm` is outside ±[`DRIFT_PPM_MAX`].
    pub fn set_skew(&self, skew: Skew) {
        assert!(
            skew.drift_ppm.abs() <= DRIFT_PPM_MAX,
            "drift {} ppm out of range",
            skew.drift_ppm
        );
        let base_now = self.base.elapsed();
        let mut state = lock(&self.state);
        let local_now = local_elapsed(&state, base_now);
        state.base_at_change = base_now;
        state.local_at_change = local_now;
        state.skew = skew;
    }

    /// The current skew.
    pub fn skew(&self) -> Skew {
        lock(&self.state).skew
    }

    /// How long `local` of this clock's time takes in base time (what a sleep must wait).
    pub fn base_duration(&self, local: Duration) -> Duration {
        let ppm = i128::from(self.skew().drift_ppm);
        let nanos = local.as_nanos().cast_signed() * 1_000_000 / (1_000_000 + ppm);
        Duration::from_nanos(u64::try_from(nanos.max(0)).unwrap_or(u64::MAX))
    }
}

fn local_elapsed(state: &SkewState, base_now: Duration) -> Duration {
    let since = base_now
        .saturating_sub(state.base_at_change)
        .as_nanos()
        .cast_signed();
    let scaled = since + since * i128::from(state.skew.drift_ppm) / 1_000_000;
    let nanos = state.local_at_change.as_nanos().cast_signed() + scaled.max(0);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

impl Clock for SkewedClock {
    fn elapsed(&self) -> Duration {
        let base_now = self.base.elapsed();
        let mut state = lock(&self.state);
        let local = local_elapsed(&state, base_now).max(state.local_max);
        state.local_max = local;
        local
    }

    fn wall(&self) -> SystemTime {
        let base_now = self.base.elapsed();
        let base_wall = self.base.wall();
        let state = lock(&self.state);
        let local = local_elapsed(&state, base_now);
        // The drift's accumulated effect plus the constant offset.
        let drift_ns = local.as_nanos().cast_signed() - base_now.as_nanos().cast_signed();
        let shift_ns = drift_ns + i128::from(state.skew.offset_ns);
        let shift =
            Duration::from_nanos(u64::try_from(shift_ns.unsigned_abs()).unwrap_or(u64::MAX));
        if shift_ns >= 0 {
            base_wall + shift
        } else {
            base_wall - shift
        }
    }
}

/// A clock moved only by hand: for tests of anything that reads a [`Clock`].
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<Mutex<(Duration, SystemTime)>>,
}

impl ManualClock {
    /// A clock at elapsed zero whose wall time is `unix_seconds` after the epoch.
    pub fn new(unix_seconds: u64) -> Self {
        Self {
            state: Arc::new(Mutex::new((
                Duration::ZERO,
                UNIX_EPOCH + Duration::from_secs(unix_seconds),
            ))),
        }
    }

    /// Moves both monotonic and wall time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut state = lock(&self.state);
        state.0 += d;
        state.1 += d;
    }
}

impl Clock for ManualClock {
    fn elapsed(&self) -> Duration {
        lock(&self.state).0
    }

    fn wall(&self) -> SystemTime {
        lock(&self.state).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skewed_clock_applies_offset_and_drift() {
        let base = ManualClock::new(1_700_000_000);
        let clock = SkewedClock::new(
            Arc::new(base.clone()),
            Skew {
                offset_ns: -3_000_000_000,
                drift_ppm: -500,
            },
        );
        base.advance(Duration::from_secs(3600));
        // -500 ppm over one hour: 1.8 s behind on the monotonic clock.
        assert_eq!(clock.elapsed(), Duration::from_millis(3_598_200));
        // Wall: base + drift (-1.8 s) + offset (-3 s).
        assert_eq!(
            clock.wall(),
            UNIX_EPOCH + Duration::from_secs(1_700_003_600) - Duration::from_millis(4_800)
        );
    }

    #[test]
    fn clock_step_keeps_monotonic_time_continuous() {
        let base = ManualClock::new(0);
        let clock = SkewedClock::new(
            Arc::new(base.clone()),
            Skew {
                offset_ns: 0,
                drift_ppm: 100_000,
            },
        );
        base.advance(Duration::from_secs(10));
        assert_eq!(clock.elapsed(), Duration::from_secs(11));
        clock.set_skew(Skew {
            offset_ns: 5_000_000_000,
            drift_ppm: -100_000,
        });
        assert_eq!(clock.elapsed(), Duration::from_secs(11));
        base.advance(Duration::from_secs(10));
        assert_eq!(clock.elapsed(), Duration::from_secs(20));
        assert_eq!(clock.now_time(), Time::from_unix_seconds(25));
    }

    #[test]
    fn base_duration_inverts_drift() {
        let clock = SkewedClock::new(
            Arc::new(ManualClock::new(0)),
            Skew {
                offset_ns: 0,
                drift_ppm: 100_000,
            },
        );
        assert_eq!(
            clock.base_duration(Duration::from_secs(11)),
            Duration::from_secs(10)
        );
    }
}
