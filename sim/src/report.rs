//! [`Report`]: what a run did and found — seed and options, faults injected by kind, events
//! committed, pod counts, time to converge, each checker's result, the trace hash and the
//! simulated/wall speed — as text, and as DESIGN.md "Benchmarks" JSON lines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::check::{Class, Violation};
use crate::options::{FaultKind, Options, format_duration};

/// Every checker, in report order.
pub const CHECKERS: [&str; 15] = [
    crate::check::acked_writes::NAME,
    crate::check::revisions::NAME,
    crate::check::watch_order::NAME,
    crate::check::projection::NAME,
    crate::check::binding::NAME,
    crate::check::capacity::NAME,
    crate::check::node_lease::NAME,
    crate::check::leader::NAME,
    crate::check::orphans::NAME,
    crate::check::raft_leader::NAME,
    crate::check::committed::NAME,
    crate::check::member_state::NAME,
    crate::check::linearizability::NAME,
    "liveness",
    "crash",
];

/// Pod life-cycle counts read from the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodCounts {
    /// Pods created (by anyone).
    pub created: u64,
    /// Pods bound to a node through the binding subresource.
    pub bound: u64,
    /// Pods deleted by a controller (evictions, scale-down, garbage collection).
    pub deleted_by_controllers: u64,
    /// Pods created by a controller (replacements included).
    pub created_by_controllers: u64,
    /// Pods evicted by the node lifecycle controller (marked `DisruptionTarget`).
    pub evicted: u64,
    /// Pods created by a controller whose earlier pod was evicted (replacements).
    pub rescheduled: u64,
}

/// A violation with when it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Simulated time when found, in ms.
    pub at_ms: u64,
    /// What.
    pub violation: Violation,
}

/// The outcome of one run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The options (seed included).
    pub options: Option<Options>,
    /// Faults injected, by name (`crash-node`, `partition-split`, …).
    pub faults: BTreeMap<String, u64>,
    /// Faults injected, by kind.
    pub faults_by_kind: BTreeMap<&'static str, u64>,
    /// The head revision at the end: events committed.
    pub events: u64,
    /// Writes acknowledged / unknown / refused.
    pub writes: (u64, u64, u64),
    /// Control-plane boots (1 + restarts).
    pub control_plane_boots: u64,
    /// Watch sessions the watcher ran.
    pub watch_sessions: u64,
    /// Pod counts from the log.
    pub pods: PodCounts,
    /// Time from healing to convergence, if it converged.
    pub converged_after: Option<Duration>,
    /// Checkers switched off in this run (e.g. waiting for a controller), with why.
    pub checkers_off: BTreeMap<&'static str, &'static str>,
    /// Every violation found, in order.
    pub violations: Vec<Found>,
    /// The last events of the log before the first violation (context).
    pub last_events: Vec<String>,
    /// The last harness decisions before the first violation.
    pub last_decisions: Vec<String>,
    /// The trace hash.
    pub trace_hash: u64,
    /// Simulated time of the whole run.
    pub simulated: Duration,
    /// Wall time of the whole run (measured by the binary outside the simulation).
    pub wall: Option<Duration>,
    /// Controllers wired into the control plane.
    pub controllers: Vec<&'static str>,
    /// The run's timeline, when asked for (`--timeline`).
    pub timeline: Option<crate::timeline::Timeline>,
}

impl Report {
    /// The class of the first violation, if any.
    pub fn failure(&self) -> Option<Class> {
        self.violations.first().map(|f| f.violation.class())
    }

    /// Simulated seconds per wall second.
    pub fn speed(&self) -> Option<f64> {
        let wall = self.wall?.as_secs_f64();
        (wall > 0.0).then(|| self.simulated.as_secs_f64() / wall)
    }

    /// The one command that reproduces the run.
    pub fn repro(&self) -> String {
        self.options
            .as_ref()
            .map_or_else(String::new, Options::repro_command)
    }

    /// The human-readable report.
    #[allow(clippy::too_many_lines, reason = "one line of output after another")]
    pub fn text(&self) -> String {
        let mut s = String::new();
        if let Some(o) = &self.options {
            let _ = writeln!(s, "skiff-sim: {o}");
        }
        let _ = writeln!(
            s,
            "controllers: {}",
            if self.controllers.is_empty() {
                "none yet (worker agents renew leases)".to_owned()
            } else {
                self.controllers.join(", ")
            }
        );
        let kinds: Vec<String> = FaultKind::ALL
            .iter()
            .map(|k| {
                format!(
                    "{} {}",
                    k.name(),
                    self.faults_by_kind.get(k.name()).unwrap_or(&0)
                )
            })
            .collect();
        let detail: Vec<String> = self
            .faults
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            s,
            "faults injected: {} ({})",
            kinds.join(", "),
            detail.join(", ")
        );
        let _ = writeln!(
            s,
            "events committed: {} · writes acknowledged {} / unknown {} / refused {} · control-plane boots {} · watch sessions {}",
            self.events,
            self.writes.0,
            self.writes.1,
            self.writes.2,
            self.control_plane_boots,
            self.watch_sessions
        );
        let p = self.pods;
        let _ = writeln!(
            s,
            "pods: created {} (by controllers {}), bound {}, deleted by controllers {}, evicted {}, rescheduled {}",
            p.created,
            p.created_by_controllers,
            p.bound,
            p.deleted_by_controllers,
            p.evicted,
            p.rescheduled
        );
        let _ = writeln!(
            s,
            "converged after heal: {}",
            self.converged_after
                .map_or_else(|| "no".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
        );
        let _ = writeln!(s, "checkers:");
        for name in CHECKERS {
            let n = self
                .violations
                .iter()
                .filter(|f| f.violation.checker() == name)
                .count();
            let state = match (n, self.checkers_off.get(name)) {
                (0, Some(why)) => format!("off ({why})"),
                (0, None) => "ok".to_owned(),
                (n, _) => format!("FAILED ({n})"),
            };
            let _ = writeln!(s, "  {name:<18} {state}");
        }
        let _ = writeln!(s, "trace hash: {:016x}", self.trace_hash);
        let speed = self.speed().map_or_else(String::new, |x| {
            format!(
                " in {:.2} s wall ({x:.0}x)",
                self.wall.unwrap_or_default().as_secs_f64()
            )
        });
        let _ = writeln!(
            s,
            "simulated: {}{speed}",
            format_duration(Duration::from_millis(
                u64::try_from(self.simulated.as_millis()).unwrap_or(0)
            ))
        );
        if let Some(first) = self.violations.first() {
            let class = first.violation.class();
            let _ = writeln!(
                s,
                "\nFAILED ({class}): {} violation(s); first at {:.3} s:",
                self.violations.len(),
                Duration::from_millis(first.at_ms).as_secs_f64()
            );
            let _ = writeln!(s, "  [{}] {}", first.violation.checker(), first.violation);
            if !self.last_decisions.is_empty() {
                let _ = writeln!(s, "last harness decisions:");
                for d in &self.last_decisions {
                    let _ = writeln!(s, "  {d}");
                }
            }
            if !self.last_events.is_empty() {
                let _ = writeln!(s, "last events:");
                for e in &self.last_events {
                    let _ = writeln!(s, "  {e}");
                }
            }
            for more in self.violations.iter().skip(1).take(9) {
                let _ = writeln!(
                    s,
                    "  also: [{}] {}",
                    more.violation.checker(),
                    more.violation
                );
            }
            let _ = writeln!(s, "reproduce: {}", self.repro());
        } else {
            let _ = writeln!(s, "result: ok, no violations");
        }
        s
    }

    /// DESIGN.md "Benchmarks" lines: `sim_speed`, `violations`, `trace_hash`, plus events and
    /// time to converge.
    pub fn json_lines(&self) -> Vec<String> {
        let (seed, params) = self.options.as_ref().map_or((0, String::new()), |o| {
            (
                o.seed,
                format!(
                    r#"{{"seed":{},"workers":{},"duration_s":{},"faults":"{}"}}"#,
                    o.seed,
                    o.workers,
                    o.duration.as_secs(),
                    crate::options::faults_arg(&o.faults)
                ),
            )
        });
        let _ = seed;
        let line = |metric: &str, value: String, unit: &str| {
            format!(
                r#"{{"bench":"sim","metric":"{metric}","params":{params},"value":{value},"unit":"{unit}"}}"#
            )
        };
        let mut lines = Vec::new();
        if let Some(speed) = self.speed() {
            lines.push(line("sim_speed", format!("{speed:.1}"), "x"));
        }
        lines.push(line(
            "violations",
            self.violations.len().to_string(),
            "count",
        ));
        lines.push(line(
            "trace_hash",
            format!("\"{:016x}\"", self.trace_hash),
            "hash",
        ));
        lines.push(line("events", self.events.to_string(), "count"));
        if let Some(d) = self.converged_after {
            lines.push(line("converge_after_heal", d.as_millis().to_string(), "ms"));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Overrides;

    #[test]
    fn a_failed_report_names_class_first_violation_and_repro() {
        let options = Options::from_seed(
            7,
            &Overrides {
                workers: Some(2),
                duration: Some(Duration::from_secs(120)),
                faults: Some(crate::options::parse_faults("crash,disk").unwrap()),
            },
        );
        let report = Report {
            options: Some(options),
            violations: vec![Found {
                at_ms: 1500,
                violation: Violation::RevisionGap {
                    expected: 3,
                    found: 5,
                },
            }],
            trace_hash: 0xabc,
            ..Report::default()
        };
        let text = report.text();
        assert!(text.contains("FAILED (correctness): 1 violation(s); first at 1.500 s:\n  [revisions] log gap: expected revision 3, found 5\n"), "{text}");
        assert!(
            text.contains(
                "reproduce: cargo sim --seed 7 --workers 2 --duration 2m --faults crash,disk\n"
            ),
            "{text}"
        );
        assert!(text.contains("  revisions          FAILED (1)\n"), "{text}");
        assert_eq!(
            report.json_lines()[0],
            r#"{"bench":"sim","metric":"violations","params":{"seed":7,"workers":2,"duration_s":120,"faults":"crash,disk"},"value":1,"unit":"count"}"#
        );
    }
}
