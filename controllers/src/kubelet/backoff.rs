//! Per-item exponential backoff with upstream's semantics (`client-go/util/flowcontrol/
//! backoff.go`), used for crash loops and image pulls.
//!
//! - `Next(id, eventTime)`: a new entry (or one not updated for more than twice the cap
//!   before `eventTime`) starts at the initial delay; otherwise the delay doubles, capped.
//!   `lastUpdate` becomes now.
//! - `IsInBackOffSince(id, eventTime)`: `now - eventTime < backoff` (not expired).
//! - `IsInBackOffSinceUpdate(id, eventTime)`: `eventTime - lastUpdate < backoff`.
//!
//! "Expired" (`hasExpired`) is `eventTime - lastUpdate > 2 × max`: with the 300 s cap, a
//! container that ran for more than 10 minutes since its last restart starts again at 10 s
//! (upstream "reset after 10 min of clean running").

use std::time::{Duration, SystemTime};

/// One item's backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The current delay (zero before the first `next`).
    pub delay: Duration,
    /// When `next` last ran.
    pub last_update: SystemTime,
}

fn since(later: SystemTime, earlier: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or(Duration::ZERO)
}

impl Backoff {
    /// An entry that has not backed off yet.
    pub fn new(now: SystemTime) -> Self {
        Self {
            delay: Duration::ZERO,
            last_update: now,
        }
    }

    fn expired(&self, event_time: SystemTime, max: Duration) -> bool {
        since(event_time, self.last_update) > max * 2
    }

    /// Upstream `Next`.
    pub fn next(
        &mut self,
        event_time: SystemTime,
        now: SystemTime,
        initial: Duration,
        max: Duration,
    ) {
        self.delay = if self.delay.is_zero() || self.expired(event_time, max) {
            initial
        } else {
            (self.delay * 2).min(max)
        };
        self.last_update = now;
    }

    /// Upstream `IsInBackOffSince`: still waiting after an event (a container's exit).
    pub fn in_backoff_since(&self, event_time: SystemTime, now: SystemTime, max: Duration) -> bool {
        !self.delay.is_zero()
            && !self.expired(event_time, max)
            && since(now, event_time) < self.delay
    }

    /// Upstream `IsInBackOffSinceUpdate`: still waiting after the last `next` (a failed pull).
    pub fn in_backoff_since_update(&self, now: SystemTime, max: Duration) -> bool {
        !self.delay.is_zero()
            && !self.expired(now, max)
            && since(now, self.last_update) < self.delay
    }

    /// When waiting after `event_time` ends.
    pub fn until_since(&self, event_time: SystemTime) -> SystemTime {
        event_time + self.delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn delays_double_to_the_cap_and_reset_after_twice_the_cap() {
        let s = |n| UNIX_EPOCH + Duration::from_secs(n);
        let max = Duration::from_secs(300);
        let initial = Duration::from_secs(10);
        let mut b = Backoff::new(s(0));
        let mut delays = Vec::new();
        for i in 0..8 {
            b.next(s(i), s(i), initial, max);
            delays.push(b.delay.as_secs());
        }
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert!(b.in_backoff_since(s(10), s(11), max));
        // 601 s after the last update: expired, back to 10 s.
        b.next(s(7 + 601), s(7 + 601), initial, max);
        assert_eq!(b.delay.as_secs(), 10);
    }
}
