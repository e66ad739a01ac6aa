//! The fault injector: the five kinds of [`FaultKind`], each switchable, drawn from the seed.
//!
//! - crash: madsim `kill`, then `restart` after at least 10 ms (a faster restart can find the
//!   dying database still open, madsim.md §7). Killing the control plane is a process crash:
//!   the OS keeps every write redb handed it, so the disk loses power with
//!   [`PowerLoss::KeepUnsynced`] — which also fences the dead process's database handles.
//! - partition: isolate a node (`clog_node`), cut one direction of a link (`clog_link`), or
//!   split the nodes into two groups; healed after an episode.
//! - loss: packet loss and latency spikes (`NetSim::update_config`); over simulated TCP a lost
//!   segment is retransmitted, so this shows as latency and stalls.
//! - skew: a node's clock offset, drift or step (`SkewedClock::set_skew`); it persists.
//! - disk: power loss of the control plane — now (torn or dropped unsynced writes) or armed
//!   to strike inside a later write, set_len or sync (`SimDisk::arm_crash_after`), typically
//!   mid-commit — then a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use madsim::net::NetSim;
use madsim::task::NodeId;
use skiff_core::rng::SplitMix64;
use skiff_store::disk::{Generation, PowerLoss};
use tokio::time::Instant;

use crate::cluster::{Cluster, Role};
use crate::options::{FaultKind, Options};
use crate::trace::Trace;
use crate::worker::lock;

/// The shortest pause between a kill and the restart (madsim.md §7: `kill`, `sleep(10 ms)`,
/// `restart` always reopened).
pub const RESTART_DELAY_MIN: Duration = Duration::from_millis(10);
/// Armed disk crashes strike within this many I/O operations (a commit is a handful).
pub const ARMED_OPS_MAX: u64 = 40;
/// madsim's default per-message latency, restored when a loss episode heals.
pub const DEFAULT_LATENCY: std::ops::Range<Duration> =
    Duration::from_millis(1)..Duration::from_millis(10);

#[derive(Debug, Clone)]
enum Heal {
    Restart(usize),
    UnclogNode(NodeId),
    UnclogLinks(Vec<(NodeId, NodeId)>),
    ResetNetwork,
}

#[derive(Debug, Clone)]
struct Episode {
    heal_at: Instant,
    heal: Heal,
}

#[derive(Debug, Clone, Copy)]
struct Armed {
    generation: Generation,
    give_up_at: Instant,
}

/// Injects and heals faults.
pub struct Injector {
    rng: SplitMix64,
    options: Options,
    net: Arc<NetSim>,
    episodes: Vec<Episode>,
    armed: Option<Armed>,
    next_at: Instant,
    start: Instant,
    /// Faults injected, by name (`crash`, `crash-control-plane`, `partition-isolate`, …).
    pub counts: BTreeMap<String, u64>,
    /// Disk power losses that struck so far (now, or armed and struck).
    pub disk_losses: u64,
}

impl Injector {
    /// An injector for `options`, starting now.
    pub fn new(options: &Options, start: Instant) -> Self {
        let mut rng = SplitMix64::new(options.seed ^ 0xfa17_5eed_0000_0001);
        let first = Self::gap(&mut rng, options);
        Self {
            rng,
            options: options.clone(),
            net: NetSim::current(),
            episodes: Vec::new(),
            armed: None,
            next_at: start + first,
            start,
            counts: BTreeMap::new(),
            disk_losses: 0,
        }
    }

    fn gap(rng: &mut SplitMix64, options: &Options) -> Duration {
        let mean_ms = u64::try_from(options.rates.mean_interval.as_millis()).unwrap_or(1);
        Duration::from_millis(1 + rng.below(mean_ms * 2))
    }

    fn episode(&mut self) -> Duration {
        let max_ms = u64::try_from(self.options.rates.episode_max.as_millis()).unwrap_or(1);
        RESTART_DELAY_MIN + Duration::from_millis(self.rng.below(max_ms.max(1)))
    }

    fn at_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }

    fn count(&mut self, name: &str) {
        *self.counts.entry(name.to_owned()).or_default() += 1;
    }

    /// Faults injected of `kind` (all its variants).
    pub fn injected(&self, kind: FaultKind) -> u64 {
        self.counts
            .iter()
            .filter(|(name, _)| name.split('-').next() == Some(kind.name()))
            .map(|(_, n)| *n)
            .sum()
    }

    /// Nodes cut off now: isolated ones, and those with a cut link to or from `hub` (the
    /// control plane; itself only when isolated). For the timeline.
    pub fn partitioned(&self, hub: NodeId) -> BTreeSet<NodeId> {
        let mut cut = BTreeSet::new();
        for episode in &self.episodes {
            match &episode.heal {
                Heal::UnclogNode(id) => {
                    cut.insert(*id);
                }
                Heal::UnclogLinks(links) => {
                    for (a, b) in links {
                        if *a == hub {
                            cut.insert(*b);
                        } else if *b == hub {
                            cut.insert(*a);
                        }
                    }
                }
                Heal::Restart(_) | Heal::ResetNetwork => {}
            }
        }
        cut
    }

    /// One harness tick of the safety phase: heal what is due, follow an armed disk crash,
    /// inject the next fault when its time has come.
    pub fn tick(&mut self, cluster: &mut Cluster, trace: &mut Trace, now: Instant) {
        self.heal_due(cluster, trace, now, false);
        self.follow_armed(cluster, trace, now);
        if now >= self.next_at {
            self.next_at = now + Self::gap(&mut self.rng, &self.options);
            let kinds: Vec<FaultKind> = self.options.faults.iter().copied().collect();
            if !kinds.is_empty() {
                let kind = kinds[usize::try_from(self.rng.below(kinds.len() as u64)).unwrap_or(0)];
                self.inject(kind, cluster, trace, now);
            }
        }
    }

    /// Heals everything now (the start of the liveness phase): restarts dead nodes, removes
    /// every clog, restores the network, disarms the disk. Clock skew stays: the cluster must
    /// converge whatever the clocks say.
    pub fn heal_all(&mut self, cluster: &mut Cluster, trace: &mut Trace, now: Instant) {
        if cluster.disk.disarm() {
            trace.decision(self.at_ms(now), "disk: disarmed");
        }
        self.armed = None;
        self.heal_due(cluster, trace, now, true);
    }

    fn heal_due(&mut self, cluster: &mut Cluster, trace: &mut Trace, now: Instant, all: bool) {
        let (due, rest): (Vec<Episode>, Vec<Episode>) = std::mem::take(&mut self.episodes)
            .into_iter()
            .partition(|e| all || e.heal_at <= now);
        self.episodes = rest;
        for episode in due {
            let text = match episode.heal {
                Heal::Restart(i) => {
                    let node = &mut cluster.nodes[i];
                    cluster.handle.restart(node.id);
                    node.up = true;
                    format!("restart {}", node.name)
                }
                Heal::UnclogNode(id) => {
                    self.net.unclog_node(id);
                    format!("heal: reconnect {}", name_of(cluster, id))
                }
                Heal::UnclogLinks(links) => {
                    for (a, b) in &links {
                        self.net.unclog_link(*a, *b);
                    }
                    format!("heal: {} links restored", links.len())
                }
                Heal::ResetNetwork => {
                    self.net.update_config(|c| {
                        c.packet_loss_rate = 0.0;
                        c.send_latency = DEFAULT_LATENCY;
                    });
                    "heal: network loss and latency back to normal".to_owned()
                }
            };
            trace.decision(self.at_ms(now), &text);
        }
    }

    fn follow_armed(&mut self, cluster: &mut Cluster, trace: &mut Trace, now: Instant) {
        let Some(armed) = self.armed else { return };
        if cluster.disk.generation() != armed.generation {
            self.armed = None;
            self.disk_losses += 1;
            trace.decision(self.at_ms(now), "disk: armed power loss struck");
            self.kill_and_schedule(cluster, trace, now, 0, false);
        } else if now >= armed.give_up_at {
            self.armed = None;
            cluster.disk.disarm();
            trace.decision(
                self.at_ms(now),
                "disk: armed power loss never struck; disarmed",
            );
        }
    }

    /// Kills node `i` and schedules its restart. A control-plane kill by a crash fault is a
    /// process crash (`process_crash`): every write the OS accepted survives.
    fn kill_and_schedule(
        &mut self,
        cluster: &mut Cluster,
        trace: &mut Trace,
        now: Instant,
        i: usize,
        process_crash: bool,
    ) {
        let down_for = self.episode();
        let node = &mut cluster.nodes[i];
        if node.up {
            cluster.handle.kill(node.id);
            node.up = false;
        }
        if node.role == Role::ControlPlane {
            drop(lock(&cluster.control_plane.store).take());
            if process_crash {
                cluster.disk.disarm();
                self.armed = None;
                cluster.disk.power_loss(PowerLoss::KeepUnsynced);
            }
        }
        let name = node.name.clone();
        self.episodes
            .retain(|e| !matches!(e.heal, Heal::Restart(j) if j == i));
        self.episodes.push(Episode {
            heal_at: now + down_for,
            heal: Heal::Restart(i),
        });
        trace.decision(
            self.at_ms(now),
            &format!("kill {name} (restart in {} ms)", down_for.as_millis()),
        );
    }

    fn pick_node(&mut self, cluster: &Cluster) -> usize {
        usize::try_from(self.rng.below(cluster.nodes.len() as u64)).unwrap_or(0)
    }

    fn inject(&mut self, kind: FaultKind, cluster: &mut Cluster, trace: &mut Trace, now: Instant) {
        match kind {
            FaultKind::Crash => {
                // The control plane is one node of many but the most interesting: a third of
                // the crashes.
                let i = if self.rng.chance(1, 3) {
                    0
                } else {
                    self.pick_node(cluster)
                };
                if !cluster.nodes[i].up {
                    return;
                }
                self.count(if i == 0 {
                    "crash-control-plane"
                } else {
                    "crash-node"
                });
                self.kill_and_schedule(cluster, trace, now, i, true);
            }
            FaultKind::Partition => self.partition(cluster, trace, now),
            FaultKind::Loss => {
                if self
                    .episodes
                    .iter()
                    .any(|e| matches!(e.heal, Heal::ResetNetwork))
                {
                    return;
                }
                let lasts = self.episode();
                let text = if self.rng.chance(1, 2) {
                    let percent = 1 + self
                        .rng
                        .below(u64::from(self.options.rates.loss_percent_max));
                    #[allow(clippy::cast_precision_loss, reason = "a percentage below 100")]
                    let rate = percent as f64 / 100.0;
                    self.net.update_config(|c| c.packet_loss_rate = rate);
                    self.count("loss-packets");
                    format!("loss: {percent}% of packets for {} ms", lasts.as_millis())
                } else {
                    let high = Duration::from_millis(50 + self.rng.below(950));
                    self.net
                        .update_config(|c| c.send_latency = Duration::from_millis(1)..high);
                    self.count("loss-latency");
                    format!(
                        "latency spike: up to {} ms for {} ms",
                        high.as_millis(),
                        lasts.as_millis()
                    )
                };
                self.episodes.push(Episode {
                    heal_at: now + lasts,
                    heal: Heal::ResetNetwork,
                });
                trace.decision(self.at_ms(now), &text);
            }
            FaultKind::Skew => self.skew(cluster, trace, now),
            FaultKind::Disk => self.disk(cluster, trace, now),
        }
    }

    fn partition(&mut self, cluster: &mut Cluster, trace: &mut Trace, now: Instant) {
        let lasts = self.episode();
        let ids: Vec<NodeId> = cluster.nodes.iter().map(|n| n.id).collect();
        let text = match self.rng.below(3) {
            0 => {
                let i = self.pick_node(cluster);
                self.net.clog_node(ids[i]);
                self.episodes.push(Episode {
                    heal_at: now + lasts,
                    heal: Heal::UnclogNode(ids[i]),
                });
                self.count("partition-isolate");
                format!("partition: isolate {}", cluster.nodes[i].name)
            }
            1 => {
                // One direction between the control plane and another node.
                let other = 1 + usize::try_from(self.rng.below(ids.len() as u64 - 1)).unwrap_or(0);
                let (a, b) = if self.rng.chance(1, 2) {
                    (0, other)
                } else {
                    (other, 0)
                };
                self.net.clog_link(ids[a], ids[b]);
                self.episodes.push(Episode {
                    heal_at: now + lasts,
                    heal: Heal::UnclogLinks(vec![(ids[a], ids[b])]),
                });
                self.count("partition-one-way");
                format!(
                    "partition: {} -> {} cut one way",
                    cluster.nodes[a].name, cluster.nodes[b].name
                )
            }
            _ => {
                let mask: Vec<bool> = ids.iter().map(|_| self.rng.chance(1, 2)).collect();
                let mut links = Vec::new();
                for (i, a) in ids.iter().enumerate() {
                    for (j, b) in ids.iter().enumerate() {
                        if mask[i] != mask[j] {
                            self.net.clog_link(*a, *b);
                            links.push((*a, *b));
                        }
                    }
                }
                let side: Vec<&str> = cluster
                    .nodes
                    .iter()
                    .zip(&mask)
                    .filter(|(_, m)| **m)
                    .map(|(n, _)| n.name.as_str())
                    .collect();
                let text = format!("partition: split [{}] from the rest", side.join(" "));
                self.episodes.push(Episode {
                    heal_at: now + lasts,
                    heal: Heal::UnclogLinks(links),
                });
                self.count("partition-split");
                text
            }
        };
        trace.decision(
            self.at_ms(now),
            &format!("{text} for {} ms", lasts.as_millis()),
        );
    }

    fn skew(&mut self, cluster: &mut Cluster, trace: &mut Trace, now: Instant) {
        let i = self.pick_node(cluster);
        let node = &cluster.nodes[i];
        let rates = self.options.rates;
        let max_ns = u64::try_from(rates.skew_offset_max.as_nanos()).unwrap_or(u64::MAX);
        let signed = |rng: &mut SplitMix64, max: u64| {
            let v = i64::try_from(rng.below(max.max(1))).unwrap_or(0);
            if rng.chance(1, 2) { v } else { -v }
        };
        let mut skew = node.clock.skew();
        let (name, text) = match self.rng.below(3) {
            0 => {
                skew.offset_ns = signed(&mut self.rng, max_ns);
                (
                    "skew-offset",
                    format!("offset {} ms", skew.offset_ns / 1_000_000),
                )
            }
            1 => {
                skew.drift_ppm = signed(
                    &mut self.rng,
                    u64::try_from(rates.skew_drift_ppm_max).unwrap_or(0),
                );
                ("skew-drift", format!("drift {} ppm", skew.drift_ppm))
            }
            _ => {
                let step = signed(&mut self.rng, max_ns);
                skew.offset_ns = skew.offset_ns.saturating_add(step);
                ("skew-step", format!("step {} ms", step / 1_000_000))
            }
        };
        node.clock.set_skew(skew);
        let node_name = node.name.clone();
        self.count(name);
        trace.decision(self.at_ms(now), &format!("clock of {node_name}: {text}"));
    }

    fn disk(&mut self, cluster: &mut Cluster, trace: &mut Trace, now: Instant) {
        if !cluster.nodes[0].up || self.armed.is_some() {
            return;
        }
        if self.rng.chance(1, 2) {
            let ops = 1 + self.rng.below(ARMED_OPS_MAX);
            let power_loss = if self.rng.chance(1, 2) {
                PowerLoss::TearUnsynced {
                    seed: self.rng.next_u64(),
                }
            } else {
                PowerLoss::DropUnsynced
            };
            cluster.disk.arm_crash_after(ops, power_loss);
            self.armed = Some(Armed {
                generation: cluster.disk.generation(),
                give_up_at: now + self.options.rates.episode_max + Duration::from_secs(5),
            });
            self.count("disk-armed");
            trace.decision(
                self.at_ms(now),
                &format!("disk: power loss armed on I/O #{ops} ({power_loss:?})"),
            );
        } else {
            self.kill_and_schedule(cluster, trace, now, 0, false);
            let report = cluster.disk.crash_torn(self.rng.next_u64());
            self.disk_losses += 1;
            self.count("disk-now");
            trace.decision(
                self.at_ms(now),
                &format!(
                    "disk: power loss now, {} unsynced ops ({} kept, {} torn, {} lost)",
                    report.pending_ops, report.kept_ops, report.torn_ops, report.dropped_ops
                ),
            );
        }
    }
}

fn name_of(cluster: &Cluster, id: NodeId) -> String {
    cluster
        .nodes
        .iter()
        .find(|n| n.id == id)
        .map_or_else(|| id.to_string(), |n| n.name.clone())
}
