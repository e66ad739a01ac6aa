//! [`Trace`]: a hash over everything a run decided and committed — the harness's decisions
//! (each fault, with its simulated time) and the committed event log — plus an optional text
//! trace. Two runs of one seed must end with the same hash (madsim.md §5: comparing an
//! application-level trace catches divergence madsim's own RNG check misses).

use std::fmt::Write as _;
use std::time::Duration;

use skiff_core::event::Event;

/// FNV-1a, 64 bit: stable across platforms and builds, unlike std's `DefaultHasher`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv64(u64);

impl Fnv64 {
    /// The FNV offset basis.
    pub const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    /// Mixes in bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Mixes in a `u64` (little-endian).
    pub fn write_u64(&mut self, value: u64) {
        self.write(&value.to_le_bytes());
    }

    /// The hash so far.
    pub const fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv64 {
    fn default() -> Self {
        Self::new()
    }
}

/// The hash of one event as committed: its bincode encoding (the store's own encoding of the
/// same value), so two logs with equal hashes hold equal events.
///
/// # Panics
///
/// If bincode cannot encode an event (it always can: the store wrote it the same way).
pub fn event_hash(event: &Event) -> u64 {
    let bytes = bincode::encode_to_vec(event, bincode::config::standard())
        .expect("an event always encodes");
    let mut h = Fnv64::new();
    h.write(&bytes);
    h.finish()
}

/// Bound on the text trace kept in memory; past it only the hash grows (a 30-minute run
/// records a few thousand harness lines).
pub const TRACE_LINES_MAX: usize = 200_000;

/// The run's trace: a hash of harness decisions and committed events, and optionally the text.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    decisions: Fnv64,
    events: Fnv64,
    events_hashed: u64,
    lines: Option<Vec<String>>,
    recent: std::collections::VecDeque<String>,
}

/// Harness decisions kept for a failure's context.
pub const RECENT_DECISIONS_MAX: usize = 16;

impl Trace {
    /// A trace that keeps only hashes (`keep_text` false) or also the text lines.
    pub fn new(keep_text: bool) -> Self {
        Self {
            lines: keep_text.then(Vec::new),
            ..Self::default()
        }
    }

    /// Records a harness decision at simulated time `at_ms`.
    pub fn decision(&mut self, at_ms: u64, text: &str) {
        self.decisions.write_u64(at_ms);
        self.decisions.write(text.as_bytes());
        let mut line = String::new();
        let _ = write!(
            line,
            "{:>10.3}s  {text}",
            Duration::from_millis(at_ms).as_secs_f64()
        );
        if self.recent.len() == RECENT_DECISIONS_MAX {
            self.recent.pop_front();
        }
        self.recent.push_back(line.clone());
        if let Some(lines) = &mut self.lines
            && lines.len() < TRACE_LINES_MAX
        {
            lines.push(line);
        }
    }

    /// The last few decisions (for a failure's context).
    pub fn recent(&self) -> Vec<String> {
        self.recent.iter().cloned().collect()
    }

    /// Records the next committed event (in revision order, each once).
    pub fn event(&mut self, revision: u64, hash: u64) {
        self.events.write_u64(revision);
        self.events.write_u64(hash);
        self.events_hashed += 1;
    }

    /// Events hashed so far.
    pub fn events_hashed(&self) -> u64 {
        self.events_hashed
    }

    /// The trace hash: decisions and events together.
    pub fn hash(&self) -> u64 {
        let mut h = Fnv64::new();
        h.write_u64(self.decisions.finish());
        h.write_u64(self.events.finish());
        h.write_u64(self.events_hashed);
        h.finish()
    }

    /// The text lines, if kept.
    pub fn lines(&self) -> &[String] {
        self.lines.as_deref().unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_vector() {
        // FNV-1a 64 of "a" (reference value from the FNV authors' test suite).
        let mut h = Fnv64::new();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn trace_hash_depends_on_decisions_and_their_times() {
        let mut a = Trace::new(true);
        let mut b = Trace::new(false);
        a.decision(1_000, "crash worker-1");
        b.decision(1_000, "crash worker-1");
        assert_eq!(a.hash(), b.hash());
        b.decision(2_000, "heal");
        assert_ne!(a.hash(), b.hash());
        a.decision(2_001, "heal");
        assert_ne!(a.hash(), b.hash());
        assert_eq!(
            a.lines(),
            ["     1.000s  crash worker-1", "     2.001s  heal"]
        );
    }
}
