//! Timing, percentiles and what `/proc` says about this process and the machine.
//!
//! The only place in the CLI that reads the system clock ([`now`]): a benchmark measures wall
//! time, which the deterministic `Clock` of the library crates is not meant for.

use std::time::{Duration, Instant};

/// The current instant. Every timing of `skiff bench` goes through here.
#[allow(
    clippy::disallowed_methods,
    reason = "benchmarks measure real elapsed time; this is their one clock read"
)]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// Latency samples in nanoseconds.
#[derive(Debug, Default, Clone)]
pub(crate) struct Samples {
    ns: Vec<u64>,
    sorted: bool,
}

impl Samples {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            ns: Vec::with_capacity(n),
            sorted: true,
        }
    }

    pub(crate) fn push(&mut self, d: Duration) {
        self.ns
            .push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.sorted = false;
    }

    pub(crate) fn extend(&mut self, other: Samples) {
        self.ns.extend(other.ns);
        self.sorted = false;
    }

    pub(crate) fn len(&self) -> usize {
        self.ns.len()
    }

    /// The `q` quantile (nearest rank), or zero without samples.
    pub(crate) fn quantile(&mut self, q: f64) -> Duration {
        if self.ns.is_empty() {
            return Duration::ZERO;
        }
        if !self.sorted {
            self.ns.sort_unstable();
            self.sorted = true;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a rank within the sample count"
        )]
        let rank = ((q * self.ns.len() as f64).ceil() as usize).clamp(1, self.ns.len());
        Duration::from_nanos(self.ns[rank - 1])
    }

    pub(crate) fn p50(&mut self) -> Duration {
        self.quantile(0.50)
    }

    pub(crate) fn p99(&mut self) -> Duration {
        self.quantile(0.99)
    }
}

/// Microseconds as a float.
pub(crate) fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Milliseconds as a float.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Linux reports process CPU time in clock ticks of `USER_HZ`, which is 100 on every
/// mainstream architecture (reading `sysconf(_SC_CLK_TCK)` would need `unsafe`).
const USER_HZ: f64 = 100.0;

/// CPU time (user + system) this process has used so far, from `/proc/self/stat`.
pub(crate) fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces; fields resume after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the man page, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    #[allow(clippy::cast_precision_loss, reason = "clock ticks")]
    Some(Duration::from_secs_f64((utime + stime) as f64 / USER_HZ))
}

/// Busy and total jiffies of the whole machine (all CPUs), from `/proc/stat`.
pub(crate) fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// CPU use of this process and of the rest of the machine over an interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuMeter {
    own: Option<Duration>,
    machine: Option<(u64, u64)>,
    at: Instant,
}

/// What a [`CpuMeter`] saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuUse {
    /// CPU time of this process.
    pub own: Duration,
    /// Cores used by everything else on the machine (average over the interval).
    pub other_cores: Option<f64>,
}

impl CpuMeter {
    pub(crate) fn start() -> Self {
        Self {
            own: process_cpu(),
            machine: machine_ticks(),
            at: now(),
        }
    }

    pub(crate) fn stop(&self) -> CpuUse {
        let wall = self.at.elapsed();
        let own_end = process_cpu();
        let own = match (self.own, own_end) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => Duration::ZERO,
        };
        let other_cores = match (self.machine, machine_ticks()) {
            (Some((busy0, _)), Some((busy1, _))) if wall > Duration::ZERO => {
                #[allow(clippy::cast_precision_loss, reason = "jiffies")]
                let busy = (busy1 - busy0) as f64 / USER_HZ;
                Some(((busy - own.as_secs_f64()) / wall.as_secs_f64()).max(0.0))
            }
            _ => None,
        };
        CpuUse { own, other_cores }
    }
}

/// `VmRSS` and `VmHWM` of this process in KiB, from `/proc/self/status`.
pub(crate) fn rss_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The 1-minute load average.
pub(crate) fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let mut s = Samples::default();
        for i in 1..=100 {
            s.push(Duration::from_nanos(i));
        }
        assert_eq!(s.p50(), Duration::from_nanos(50));
        assert_eq!(s.p99(), Duration::from_nanos(99));
        assert_eq!(s.quantile(1.0), Duration::from_nanos(100));
        assert_eq!(Samples::default().p50(), Duration::ZERO);
    }

    #[test]
    fn proc_readers_answer_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(process_cpu().is_some());
            assert!(machine_ticks().is_some());
            let (rss, hwm) = rss_kib().unwrap();
            assert!(rss > 0 && hwm >= rss);
        }
    }
}
