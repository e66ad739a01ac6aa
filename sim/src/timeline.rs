//! [`Timeline`]: the picture of a run (`cargo sim --timeline FILE.svg`, issue #7 §6) — one row
//! per node, simulated time across, bands for up, down (crashed), disk power loss, partitioned
//! and skewed (with the offset), and each worker's running pods as a thin step line.
//!
//! The harness samples every node once per tick (`Recorder::sample`, simulator build only) and keeps only changes,
//! so memory grows with what happened, not with the run's length. Running pods are counted from
//! the committed log (`Recorder::observe`): a pod is running on a node from the first event
//! that shows it bound there with phase `Running` until an event shows it otherwise or deletes
//! it. The SVG is written by hand with integer coordinates only, so a seed gives a
//! byte-identical file.

use std::fmt::Write as _;

#[cfg(madsim)]
pub use record::Recorder;

/// What one node is doing at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeState {
    /// Running (false between a kill and the restart).
    pub up: bool,
    /// Down because its disk lost power (the control plane after a disk fault).
    pub power_loss: bool,
    /// Isolated, or cut (either direction) from the control plane.
    pub partitioned: bool,
    /// Its clock's offset, in ms (either sign).
    pub offset_ms: i64,
    /// Its clock's drift, in parts per million.
    pub drift_ppm: i64,
}

impl NodeState {
    /// The clock is skewed (an offset or a drift).
    pub fn skewed(&self) -> bool {
        self.offset_ms != 0 || self.drift_ppm != 0
    }
}

/// One node's history: its states and (for a worker) its running-pod counts, each as
/// `(simulated ms, value)` from that moment on; consecutive equal values are never stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    /// The node's name.
    pub name: String,
    /// A worker (gets a pod line).
    pub worker: bool,
    /// State changes.
    pub states: Vec<(u64, NodeState)>,
    /// Running-pod count changes.
    pub pods: Vec<(u64, u32)>,
}

impl Row {
    /// A row with no history yet.
    pub fn new(name: impl Into<String>, worker: bool) -> Self {
        Self {
            name: name.into(),
            worker,
            states: Vec::new(),
            pods: Vec::new(),
        }
    }

    /// Records `state` at `at_ms` if it differs from the last one.
    pub fn state(&mut self, at_ms: u64, state: NodeState) {
        if self.states.last().is_none_or(|(_, s)| *s != state) {
            self.states.push((at_ms, state));
        }
    }

    /// Records a running-pod count at `at_ms` if it differs from the last one.
    pub fn pods(&mut self, at_ms: u64, count: u32) {
        if self.pods.last().map_or(count != 0, |(_, c)| *c != count) {
            self.pods.push((at_ms, count));
        }
    }
}

/// A run's timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    /// The title: seed and options.
    pub title: String,
    /// Where the time axis ends (the run's simulated length), in ms.
    pub end_ms: u64,
    /// One row per node, in the cluster's order.
    pub rows: Vec<Row>,
}

/// Width of the name column, px.
pub const LABEL_WIDTH_PX: u64 = 130;
/// Width of the time axis, px.
pub const PLOT_WIDTH_PX: u64 = 1000;
/// Height of one node's row, px.
pub const ROW_HEIGHT_PX: u64 = 16;
/// Where the first row starts (below title, legend and axis), px.
pub const ROWS_TOP_PX: u64 = 84;
/// Fewest pixels a skew band needs before its offset is written on it.
pub const SKEW_LABEL_MIN_PX: u64 = 48;

const COLOR_UP: &str = "#c8e6c9";
const COLOR_DOWN: &str = "#e53935";
const COLOR_POWER_LOSS: &str = "#6a1b9a";
const COLOR_PARTITIONED: &str = "#fb8c00";
const COLOR_SKEWED: &str = "#1e88e5";
const COLOR_PODS: &str = "#212121";

/// Candidate axis steps, in ms: the first giving at most ten ticks is used.
const AXIS_STEPS_MS: [u64; 12] = [
    10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
    7_200_000, 14_400_000,
];

/// Escapes text for XML content and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// `m:ss` of simulated minutes, or `N min` on whole minutes.
fn minutes_label(ms: u64) -> String {
    let secs = ms / 1000;
    if secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

impl Timeline {
    /// Pixel column of simulated time `at_ms`.
    fn x(&self, at_ms: u64) -> u64 {
        let end = self.end_ms.max(1);
        let at = u128::from(at_ms.min(end));
        let px = at * u128::from(PLOT_WIDTH_PX) / u128::from(end);
        LABEL_WIDTH_PX + u64::try_from(px).unwrap_or(PLOT_WIDTH_PX)
    }

    /// The most pods any worker ran at once (at least 1).
    fn pods_max(&self) -> u32 {
        self.rows
            .iter()
            .flat_map(|r| r.pods.iter().map(|(_, c)| *c))
            .max()
            .unwrap_or(0)
            .max(1)
    }

    /// The SVG document.
    pub fn svg(&self) -> String {
        let width = LABEL_WIDTH_PX + PLOT_WIDTH_PX + 10;
        let rows = self.rows.len() as u64;
        let height = ROWS_TOP_PX + rows * ROW_HEIGHT_PX + 10;
        let pods_max = self.pods_max();
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">"#
        );
        let title = escape(&self.title);
        let _ = writeln!(s, "<title>{title}</title>");
        let _ = writeln!(
            s,
            r##"<rect width="{width}" height="{height}" fill="#ffffff"/>"##
        );
        let _ = writeln!(s, r#"<text x="4" y="14">{title}</text>"#);
        Self::legend(&mut s, pods_max);
        self.axis(&mut s, height);
        for (i, row) in self.rows.iter().enumerate() {
            self.row(&mut s, i as u64, row, pods_max);
        }
        s.push_str("</svg>\n");
        s
    }

    fn legend(s: &mut String, pods_max: u32) {
        let items = [
            (COLOR_UP, "up"),
            (COLOR_DOWN, "down (crashed)"),
            (COLOR_POWER_LOSS, "disk power loss"),
            (COLOR_PARTITIONED, "partitioned"),
            (COLOR_SKEWED, "clock skewed (offset)"),
        ];
        let mut x = 4;
        for (color, label) in items {
            let _ = writeln!(
                s,
                r#"<rect x="{x}" y="26" width="12" height="10" fill="{color}"/><text x="{}" y="35">{label}</text>"#,
                x + 16
            );
            x += 16 + 7 * label.len() as u64 + 14;
        }
        let _ = writeln!(
            s,
            r#"<line x1="{x}" y1="31" x2="{}" y2="31" stroke="{COLOR_PODS}"/><text x="{}" y="35">running pods (row height = {pods_max})</text>"#,
            x + 12,
            x + 16
        );
    }

    fn axis(&self, s: &mut String, height: u64) {
        let step = AXIS_STEPS_MS
            .into_iter()
            .find(|step| self.end_ms / step <= 10)
            .unwrap_or(AXIS_STEPS_MS[AXIS_STEPS_MS.len() - 1]);
        let top = ROWS_TOP_PX - 8;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">simulated time</text>"#,
            LABEL_WIDTH_PX - 6,
            top - 4
        );
        let mut at = 0;
        while at <= self.end_ms {
            let x = self.x(at);
            let _ = writeln!(
                s,
                r##"<line x1="{x}" y1="{top}" x2="{x}" y2="{}" stroke="#bdbdbd"/><text x="{x}" y="{}" text-anchor="middle">{}</text>"##,
                height - 10,
                top - 4,
                minutes_label(at)
            );
            at += step;
        }
    }

    fn row(&self, s: &mut String, index: u64, row: &Row, pods_max: u32) {
        let y = ROWS_TOP_PX + index * ROW_HEIGHT_PX;
        let h = ROW_HEIGHT_PX - 2;
        let _ = writeln!(
            s,
            r#"<text x="4" y="{}">{}</text>"#,
            y + h - 3,
            escape(&row.name)
        );
        for (n, (from, state)) in row.states.iter().enumerate() {
            let to = row.states.get(n + 1).map_or(self.end_ms, |(t, _)| *t);
            let (x0, x1) = (self.x(*from), self.x(to));
            let w = x1.saturating_sub(x0).max(1);
            let (color, what) = if state.up {
                (COLOR_UP, "up")
            } else if state.power_loss {
                (COLOR_POWER_LOSS, "disk power loss")
            } else {
                (COLOR_DOWN, "down")
            };
            let span = format!(
                "{}: {what} {}–{}",
                row.name,
                minutes_label(*from),
                minutes_label(to)
            );
            let _ = writeln!(
                s,
                r#"<rect x="{x0}" y="{y}" width="{w}" height="{h}" fill="{color}"><title>{}</title></rect>"#,
                escape(&span)
            );
            if state.partitioned {
                let _ = writeln!(
                    s,
                    r#"<rect x="{x0}" y="{}" width="{w}" height="{}" fill="{COLOR_PARTITIONED}"><title>{}: partitioned</title></rect>"#,
                    y + 1,
                    h / 2 - 1,
                    escape(&row.name)
                );
            }
            if state.skewed() {
                let _ = writeln!(
                    s,
                    r#"<rect x="{x0}" y="{}" width="{w}" height="4" fill="{COLOR_SKEWED}"><title>{}: clock offset {} ms, drift {} ppm</title></rect>"#,
                    y + h - 4,
                    escape(&row.name),
                    state.offset_ms,
                    state.drift_ppm
                );
                if w >= SKEW_LABEL_MIN_PX {
                    let _ = writeln!(
                        s,
                        r#"<text x="{}" y="{}" font-size="8" fill="{COLOR_SKEWED}">{:+} ms</text>"#,
                        x0 + 2,
                        y + h - 5,
                        state.offset_ms
                    );
                }
            }
        }
        if row.worker && !row.pods.is_empty() {
            let bottom = y + h - 1;
            let level = |count: u32| bottom - u64::from(count) * (h - 2) / u64::from(pods_max);
            let mut points = format!("{},{}", self.x(0), bottom);
            let mut last = bottom;
            for (at, count) in &row.pods {
                let x = self.x(*at);
                let next = level(*count);
                let _ = write!(points, " {x},{last} {x},{next}");
                last = next;
            }
            let _ = write!(points, " {},{last}", self.x(self.end_ms));
            let _ = writeln!(
                s,
                r#"<polyline points="{points}" fill="none" stroke="{COLOR_PODS}" stroke-width="1"/>"#
            );
        }
    }
}

#[cfg(madsim)]
mod record {
    use std::collections::{BTreeMap, BTreeSet};

    use skiff_core::event::{Change, Event};
    use skiff_core::object::Object;

    use super::{NodeState, Row, Timeline};
    use crate::check::object_of;
    use crate::cluster::{Cluster, Role};
    use crate::faults::Injector;

    /// Builds a [`Timeline`] during a run.
    #[derive(Debug, Clone, Default)]
    pub struct Recorder {
        timeline: Timeline,
        /// Pod (`namespace/name`) → the node it runs on.
        running: BTreeMap<String, String>,
        /// Running pods per node.
        per_node: BTreeMap<String, u32>,
        disk_losses_seen: u64,
        control_plane_power_lost: bool,
    }

    impl Recorder {
        /// A recorder for `cluster`'s nodes, titled `title`.
        pub fn new(title: impl Into<String>, cluster: &Cluster) -> Self {
            Self {
                timeline: Timeline {
                    title: title.into(),
                    end_ms: 0,
                    rows: cluster
                        .nodes
                        .iter()
                        .filter(|n| matches!(n.role, Role::ControlPlane | Role::Worker))
                        .map(|n| Row::new(n.name.clone(), n.role == Role::Worker))
                        .collect(),
                },
                ..Self::default()
            }
        }

        /// Follows one committed event: which pods run where.
        pub fn observe(&mut self, event: &Event) {
            let Some(Object::Pod(pod)) = object_of(&event.change) else {
                return;
            };
            let key = format!(
                "{}/{}",
                pod.metadata.namespace_or_empty(),
                pod.metadata.name_or_empty()
            );
            let runs_on =
                match &event.change {
                    Change::Delete(_) => None,
                    _ => pod.spec.node_name.as_deref().filter(|n| {
                        !n.is_empty() && pod.status.phase.as_deref() == Some("Running")
                    }),
                };
            let before = self.running.get(&key).map(String::as_str);
            if before == runs_on {
                return;
            }
            if let Some(node) = before
                && let Some(count) = self.per_node.get_mut(node)
            {
                *count = count.saturating_sub(1);
            }
            match runs_on {
                Some(node) => {
                    *self.per_node.entry(node.to_owned()).or_default() += 1;
                    self.running.insert(key, node.to_owned());
                }
                None => {
                    self.running.remove(&key);
                }
            }
        }

        /// Samples every node at simulated time `at_ms`.
        pub fn sample(&mut self, at_ms: u64, cluster: &Cluster, injector: &Injector) {
            let Some(hub) = cluster.nodes.first().map(|n| n.id) else {
                return;
            };
            if injector.disk_losses > self.disk_losses_seen {
                self.disk_losses_seen = injector.disk_losses;
                self.control_plane_power_lost = true;
            }
            let partitioned: BTreeSet<_> = injector.partitioned(hub);
            let mut rows = self.timeline.rows.iter_mut();
            for node in &cluster.nodes {
                if !matches!(node.role, Role::ControlPlane | Role::Worker) {
                    continue;
                }
                let Some(row) = rows.next() else { break };
                if node.role == Role::ControlPlane && node.up {
                    self.control_plane_power_lost = false;
                }
                let skew = node.clock.skew();
                row.state(
                    at_ms,
                    NodeState {
                        up: node.up,
                        power_loss: node.role == Role::ControlPlane
                            && !node.up
                            && self.control_plane_power_lost,
                        partitioned: partitioned.contains(&node.id),
                        offset_ms: skew.offset_ns / 1_000_000,
                        drift_ppm: skew.drift_ppm,
                    },
                );
                if row.worker {
                    row.pods(at_ms, self.per_node.get(&node.name).copied().unwrap_or(0));
                }
            }
        }

        /// The timeline, its axis ending at `end_ms`.
        pub fn finish(mut self, end_ms: u64) -> Timeline {
            self.timeline.end_ms = end_ms;
            self.timeline
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Timeline {
        let up = NodeState {
            up: true,
            ..NodeState::default()
        };
        let mut cp = Row::new("control-plane", false);
        cp.state(0, up);
        cp.state(20_000, NodeState::default());
        cp.state(30_000, up);
        let mut w = Row::new("worker-1", true);
        w.state(0, up);
        w.state(
            10_000,
            NodeState {
                partitioned: true,
                offset_ms: -250,
                ..up
            },
        );
        w.pods(0, 0);
        w.pods(15_000, 2);
        w.pods(45_000, 1);
        Timeline {
            title: "seed 1 <tiny>".to_owned(),
            end_ms: 60_000,
            rows: vec![cp, w],
        }
    }

    #[test]
    fn rows_keep_only_changes() {
        let t = tiny();
        assert_eq!(t.rows[0].states.len(), 3);
        let mut r = Row::new("w", true);
        r.pods(0, 0);
        r.pods(5, 3);
        r.pods(6, 3);
        r.state(0, NodeState::default());
        r.state(9, NodeState::default());
        assert_eq!(r.pods, [(5, 3)]);
        assert_eq!(r.states, [(0, NodeState::default())]);
    }

    #[test]
    fn tiny_timeline_renders_exact_svg() {
        let svg = tiny().svg();
        let expected = include_str!("timeline_tiny.svg");
        assert_eq!(svg, expected, "got:\n{svg}");
    }

    #[test]
    fn same_timeline_renders_the_same_bytes() {
        assert_eq!(tiny().svg(), tiny().svg());
    }
}
