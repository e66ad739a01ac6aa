//! [`Options`]: everything one simulation run does, derived from one seed (TigerBeetle VOPR's
//! `options_swarm`): cluster size, workload mix, which faults and how often, durations. Any
//! option can be overridden; the rest still come from the seed, so a failing run is reproduced
//! by its seed plus the overrides printed in its report.

use std::collections::BTreeSet;
use std::fmt;
use std::fmt::Write as _;
use std::time::Duration;

use skiff_core::rng::SplitMix64;

/// The five fault kinds the simulator injects (issue #7, §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// Kill a node (control plane included), wait, restart it.
    Crash,
    /// Isolate a node, cut one direction of a link, or split the nodes into two groups.
    Partition,
    /// Packet loss and latency spikes on the whole network.
    Loss,
    /// A node's clock: offset, drift, step.
    Skew,
    /// Power loss of the control plane's disk, possibly inside a commit, then a restart.
    Disk,
}

impl FaultKind {
    /// Every kind, in report order.
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Crash,
        FaultKind::Partition,
        FaultKind::Loss,
        FaultKind::Skew,
        FaultKind::Disk,
    ];

    /// The name used by `--faults`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Partition => "partition",
            FaultKind::Loss => "loss",
            FaultKind::Skew => "skew",
            FaultKind::Disk => "disk",
        }
    }

    /// Parses a `--faults` name.
    pub fn parse(name: &str) -> Option<FaultKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Parses `--faults`: `none`, `all`, or a comma-separated list of kinds.
///
/// # Errors
///
/// The first unknown name.
pub fn parse_faults(text: &str) -> Result<BTreeSet<FaultKind>, String> {
    match text.trim() {
        "none" | "" => Ok(BTreeSet::new()),
        "all" => Ok(FaultKind::ALL.into_iter().collect()),
        list => list
            .split(',')
            .map(|name| {
                FaultKind::parse(name.trim()).ok_or_else(|| {
                    format!(
                        "unknown fault kind {name:?}; expected crash, partition, loss, skew, disk, all or none"
                    )
                })
            })
            .collect(),
    }
}

/// Prints a fault set the way `--faults` reads it.
pub fn faults_arg(faults: &BTreeSet<FaultKind>) -> String {
    if faults.is_empty() {
        "none".to_owned()
    } else {
        faults
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Relative weights of the workload's operations (0 turns one off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkloadMix {
    /// Create (or re-create) a ReplicaSet from the example manifests.
    pub apply_replica_set: u32,
    /// Create a bare pod.
    pub bare_pod: u32,
    /// Create or update a ConfigMap.
    pub config_map: u32,
    /// Create a Service.
    pub service: u32,
    /// Change a ReplicaSet's replicas.
    pub scale: u32,
    /// Delete one of the objects created so far.
    pub delete: u32,
    /// Create a Deployment (the example's) or change its image (a rollout).
    pub deployment: u32,
    /// Create a DaemonSet.
    pub daemon_set: u32,
    /// Cordon or uncordon a node; sometimes drain it (cordon, then delete its pods).
    pub cordon_drain: u32,
}

impl WorkloadMix {
    /// The sum of the weights.
    pub fn total(&self) -> u32 {
        self.apply_replica_set
            + self.bare_pod
            + self.config_map
            + self.service
            + self.scale
            + self.delete
            + self.deployment
            + self.daemon_set
            + self.cordon_drain
    }
}

/// How often each fault kind strikes, and how long its episodes last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultRates {
    /// Mean time between two fault injections (of any enabled kind).
    pub mean_interval: Duration,
    /// Longest a partition, loss episode or crashed node lasts before it is healed.
    pub episode_max: Duration,
    /// Highest packet-loss rate of a loss episode, in percent.
    pub loss_percent_max: u32,
    /// Largest clock offset a skew fault sets, either sign.
    pub skew_offset_max: Duration,
    /// Largest drift a skew fault sets, either sign, in parts per million.
    pub skew_drift_ppm_max: i64,
}

/// The options of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The seed everything else comes from; also madsim's seed.
    pub seed: u64,
    /// Worker nodes (besides the control plane and the client node).
    pub workers: u32,
    /// Simulated length of the safety phase (faults on).
    pub duration: Duration,
    /// How long the liveness phase may take to converge after everything is healed.
    pub converge_within: Duration,
    /// Fault kinds switched on.
    pub faults: BTreeSet<FaultKind>,
    /// Fault frequencies and sizes.
    pub rates: FaultRates,
    /// Workload operation weights.
    pub workload: WorkloadMix,
    /// Mean time between two workload operations.
    pub op_interval: Duration,
    /// Run the store's automatic compactor (watches then meet `Expired`).
    pub compaction: bool,
    /// A standing pod population the client creates besides the workload (`--pods`, see
    /// [`crate::fill`]); 0 for none. Never drawn from the seed.
    pub pods: u32,
    /// Control-plane members: 1 is the single-node store; 3 or 5 run a replicated store
    /// (Raft, issue #11) with its own faults and checkers (`cargo sim --control-plane 3`).
    /// Never drawn from the seed, so a seed's single-node run is unchanged.
    pub control_plane: u32,
    /// **Test only, a planted bug**: serve some reads of the replicated run's linearizability
    /// clients from a follower's applied state with no read barrier (a stale read). The
    /// linearizability checker must catch it; never set outside the tests that prove so.
    pub plant_stale_reads: bool,
}

/// Overrides of [`Options::from_seed`]: `None` keeps the seed's choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Worker count.
    pub workers: Option<u32>,
    /// Safety-phase length.
    pub duration: Option<Duration>,
    /// Fault kinds.
    pub faults: Option<BTreeSet<FaultKind>>,
}

/// Most worker nodes a seed picks by itself (an override may ask for more).
pub const SWARM_WORKERS_MAX: u32 = 6;
/// How long the liveness phase may take: the kubelet's lease (40 s) plus upstream's node
/// monitor grace period (40 s) plus room for the control plane to restart and every watch to
/// resync.
pub const CONVERGE_WITHIN_DEFAULT: Duration = Duration::from_secs(180);

fn between(rng: &mut SplitMix64, lo: u64, hi: u64) -> u64 {
    assert!(lo <= hi, "empty range {lo}..={hi}");
    lo + rng.below(hi - lo + 1)
}

fn weight(rng: &mut SplitMix64, max: u64) -> u32 {
    u32::try_from(rng.below(max + 1)).expect("weight below a u32 bound")
}

impl Options {
    /// Every option drawn from `seed`, then `overrides` applied.
    ///
    /// # Panics
    ///
    /// Never: every drawn number is within the bounds it is converted to.
    pub fn from_seed(seed: u64, overrides: &Overrides) -> Options {
        // A generator of its own, so the options never depend on how madsim uses the seed.
        let mut rng = SplitMix64::new(seed ^ 0x0005_eed0_f097_10a5);
        let workers = u32::try_from(between(&mut rng, 1, u64::from(SWARM_WORKERS_MAX)))
            .expect("small worker count");
        let duration = Duration::from_secs(between(&mut rng, 120, 1800));
        let faults: BTreeSet<FaultKind> = FaultKind::ALL
            .into_iter()
            .filter(|_| rng.chance(3, 4))
            .collect();
        let rates = FaultRates {
            mean_interval: Duration::from_secs(between(&mut rng, 5, 60)),
            episode_max: Duration::from_secs(between(&mut rng, 2, 90)),
            loss_percent_max: u32::try_from(between(&mut rng, 5, 40)).expect("percent"),
            skew_offset_max: Duration::from_millis(between(&mut rng, 100, 30_000)),
            skew_drift_ppm_max: i64::try_from(between(&mut rng, 0, 2_000)).expect("ppm"),
        };
        let mut workload = WorkloadMix {
            apply_replica_set: weight(&mut rng, 4),
            bare_pod: weight(&mut rng, 6),
            config_map: weight(&mut rng, 10),
            service: weight(&mut rng, 3),
            scale: weight(&mut rng, 5),
            delete: weight(&mut rng, 6),
            deployment: weight(&mut rng, 3),
            daemon_set: weight(&mut rng, 2),
            cordon_drain: weight(&mut rng, 2),
        };
        if workload.total() == 0 {
            workload.config_map = 1;
        }
        let op_interval = Duration::from_millis(between(&mut rng, 100, 3_000));
        let compaction = rng.chance(1, 2);
        Options {
            seed,
            workers: overrides.workers.unwrap_or(workers),
            duration: overrides.duration.unwrap_or(duration),
            converge_within: CONVERGE_WITHIN_DEFAULT,
            faults: overrides.faults.clone().unwrap_or(faults),
            rates,
            workload,
            op_interval,
            compaction,
            pods: 0,
            control_plane: 1,
            plant_stale_reads: false,
        }
    }

    /// The command line that reproduces this run.
    pub fn repro_command(&self) -> String {
        let mut command = format!(
            "cargo sim --seed {} --workers {} --duration {} --faults {}",
            self.seed,
            self.workers,
            format_duration(self.duration),
            faults_arg(&self.faults)
        );
        if self.control_plane > 1 {
            let _ = write!(command, " --control-plane {}", self.control_plane);
        }
        if self.pods > 0 {
            let _ = write!(command, " --pods {}", self.pods);
        }
        if self.plant_stale_reads {
            command.push_str(" (with the planted stale reads of the tests)");
        }
        command
    }
}

impl fmt::Display for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.workload;
        let r = &self.rates;
        write!(
            f,
            "seed {} · {} workers · {} safety + ≤{} liveness · faults {} (every ~{}s, episodes ≤{}s, \
             loss ≤{}%, skew ≤{}ms/±{}ppm) · workload rs {} pod {} cm {} svc {} scale {} delete {} \
             deploy {} ds {} cordon {} every ~{}ms · compaction {}",
            self.seed,
            self.workers,
            format_duration(self.duration),
            format_duration(self.converge_within),
            faults_arg(&self.faults),
            r.mean_interval.as_secs(),
            r.episode_max.as_secs(),
            r.loss_percent_max,
            r.skew_offset_max.as_millis(),
            r.skew_drift_ppm_max,
            w.apply_replica_set,
            w.bare_pod,
            w.config_map,
            w.service,
            w.scale,
            w.delete,
            w.deployment,
            w.daemon_set,
            w.cordon_drain,
            self.op_interval.as_millis(),
            if self.compaction { "on" } else { "off" },
        )?;
        // Only when set, so the default run's first trace line (and its hash) is unchanged.
        if self.pods > 0 {
            write!(f, " · {} standing pods", self.pods)?;
        }
        if self.control_plane > 1 {
            write!(f, " · {} control-plane members (Raft)", self.control_plane)?;
        }
        if self.plant_stale_reads {
            write!(f, " · PLANTED stale follower reads")?;
        }
        Ok(())
    }
}

/// Parses `90`, `90s`, `15m`, `2h`, `500ms`.
///
/// # Errors
///
/// Text that is not a number with one of those units.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 90s, 15m, 2h"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!(
            "invalid duration unit in {text:?}: expected ms, s, m or h"
        )),
    }
}

/// Prints a duration the way [`parse_duration`] reads it.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_millis() != 0 || secs == 0 {
        format!("{}ms", d.as_millis())
    } else if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_options_and_overrides_win() {
        let a = Options::from_seed(42, &Overrides::default());
        assert_eq!(a, Options::from_seed(42, &Overrides::default()));
        let b = Options::from_seed(
            42,
            &Overrides {
                workers: Some(9),
                duration: Some(Duration::from_secs(60)),
                faults: Some(BTreeSet::new()),
            },
        );
        assert_eq!(
            (b.workers, b.duration, b.faults.len()),
            (9, Duration::from_secs(60), 0)
        );
        assert_eq!((b.rates, b.workload), (a.rates, a.workload));
    }

    #[test]
    fn fault_lists_and_durations_round_trip() {
        let all = parse_faults("crash,partition,loss,skew,disk").unwrap();
        assert_eq!(faults_arg(&all), "crash,partition,loss,skew,disk");
        assert_eq!(parse_faults("all").unwrap(), all);
        assert_eq!(faults_arg(&parse_faults("none").unwrap()), "none");
        assert_eq!(
            parse_faults("crash,flood").unwrap_err(),
            "unknown fault kind \"flood\"; expected crash, partition, loss, skew, disk, all or none"
        );
        for text in ["30m", "90s", "2h", "500ms"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
        assert_eq!(parse_duration("120").unwrap(), Duration::from_secs(120));
    }
}
