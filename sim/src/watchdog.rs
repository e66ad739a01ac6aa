//! The stall watchdog, outside the simulation. Simulated time moves only when every task of
//! the simulation waits, so a task that spins at one simulated instant (a livelock) stops the
//! clock and every checker with it: from inside, nothing can see it, and memory may grow
//! until the machine runs out. The harness stores the simulated time it reached in a
//! heartbeat at every tick (`RunFlags::heartbeat` in the simulator build); this watchdog, on the
//! thread that started the simulation, fails the run when the heartbeat stands still for a
//! stated wall time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The simulation stood still: its heartbeat did not move for `wall` of wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stalled {
    /// The simulated time the heartbeat stood at, in milliseconds.
    pub simulated_ms: u64,
    /// How long it stood there, in wall time (at least the timeout).
    pub wall: Duration,
}

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "simulated time stood at {:.3} s for {:.0} s of wall time: a task spins at one \
             simulated instant (a livelock)",
            Duration::from_millis(self.simulated_ms).as_secs_f64(),
            self.wall.as_secs_f64()
        )
    }
}

/// Waits for `simulation` to end, reading `heartbeat` every `poll`. Returns what the thread
/// returned (or its panic), or [`Stalled`] once the heartbeat has not moved for `timeout`;
/// the thread then keeps running, and the caller should exit the process.
///
/// # Errors
///
/// [`Stalled`] when the heartbeat stood still for `timeout`.
pub fn join_unless_stalled<T>(
    simulation: JoinHandle<T>,
    heartbeat: &AtomicU64,
    timeout: Duration,
    poll: Duration,
) -> Result<std::thread::Result<T>, Stalled> {
    let mut beat = heartbeat.load(Ordering::Relaxed);
    let mut beat_at = Instant::now();
    while !simulation.is_finished() {
        std::thread::sleep(poll);
        let now = heartbeat.load(Ordering::Relaxed);
        if now != beat {
            (beat, beat_at) = (now, Instant::now());
        } else if beat_at.elapsed() >= timeout {
            return Err(Stalled {
                simulated_ms: beat,
                wall: beat_at.elapsed(),
            });
        }
    }
    Ok(simulation.join())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn a_simulation_whose_heartbeat_stands_still_is_reported_stalled_at_its_last_beat() {
        let heartbeat = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let spinning = std::thread::spawn({
            let (heartbeat, stop) = (heartbeat.clone(), stop.clone());
            move || {
                heartbeat.store(780_300, Ordering::Relaxed);
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            }
        });
        let outcome = join_unless_stalled(
            spinning,
            &heartbeat,
            Duration::from_millis(300),
            Duration::from_millis(10),
        );
        stop.store(true, Ordering::Relaxed);
        let stalled = outcome.unwrap_err();
        assert_eq!(stalled.simulated_ms, 780_300);
        assert!(stalled.wall >= Duration::from_millis(300));
        assert!(
            stalled
                .to_string()
                .starts_with("simulated time stood at 780.300 s for "),
            "{stalled}"
        );
    }

    #[test]
    fn a_simulation_that_beats_and_ends_returns_its_result() {
        let heartbeat = Arc::new(AtomicU64::new(0));
        let beating = std::thread::spawn({
            let heartbeat = heartbeat.clone();
            move || {
                for ms in 1..=20 {
                    heartbeat.store(ms, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
                "report"
            }
        });
        let outcome = join_unless_stalled(
            beating,
            &heartbeat,
            Duration::from_secs(60),
            Duration::from_millis(1),
        );
        assert_eq!(outcome.unwrap().unwrap(), "report");
    }
}
