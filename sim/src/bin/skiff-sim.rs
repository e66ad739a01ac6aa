//! `cargo sim`: the deterministic chaos simulator (README's main job). One seed runs a whole
//! cluster — control plane, workers, clients — under madsim with crashes, partitions, packet
//! loss, clock skew and disk power loss, checks every invariant, and prints a report.
//!
//! ```text
//! cargo sim --seed 42                      # 1 control plane + 5 workers, all faults, 30 min
//! cargo sim --seeds 1..20 --duration 2m    # a sweep, one child process per seed
//! cargo sim --seed 42 --check-determinism  # twice in child processes, trace hashes compared
//! cargo sim --seed 42 --timeline run.svg   # the picture: nodes × time, faults and pods
//! cargo sim --seed 42 --workers 100 --pods 3000 --duration 5m   # a scale run
//! cargo sim --seed 7 --control-plane 3      # a Raft-replicated store: Raft faults, linearizability
//! ```

/// The binary's allocator: mimalloc rather than glibc's malloc. A scale run
/// (`--workers 100 --pods 3000`) spent about a third of its CPU in glibc's slow paths
/// (`_int_malloc` walking its bins, `malloc_consolidate`, `unlink_chunk`: BENCHMARKS.md, "Scale,
/// third round"). The allocator does not touch the simulation: the trace hash is the same.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Logs only when RUST_LOG asks (e.g. `RUST_LOG=skiff_controllers=debug cargo sim …`):
    // spans per API request, reconcile and pod sync. No timestamps: under madsim the
    // system clock is not the simulation's, and the output must not depend on it.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .without_time()
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .try_init();
    }
    std::process::exit(cli::main());
}

#[cfg(not(madsim))]
mod cli {
    pub fn main() -> i32 {
        eprintln!(
            "skiff-sim runs only in the simulator build: use `cargo sim -- …` (it builds with \
             --cfg madsim into target/sim)"
        );
        2
    }
}

#[cfg(madsim)]
mod cli {
    use std::collections::VecDeque;
    use std::process::{Child, Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;
    use std::time::{Duration, Instant};

    use clap::Parser;
    use skiff_sim::options::{Options, Overrides, parse_duration, parse_faults};
    use skiff_sim::report::Report;
    use skiff_sim::run::{RunFlags, run};
    use skiff_sim::watchdog::join_unless_stalled;

    /// Sweep children running at once (the CI machine has 2 cores).
    const SWEEP_JOBS_MAX: usize = 2;
    /// How often the watchdog reads the simulation's heartbeat.
    const WATCHDOG_POLL: Duration = Duration::from_millis(200);

    #[derive(Debug, Parser)]
    #[allow(clippy::struct_excessive_bools, reason = "command-line switches")]
    #[command(name = "skiff-sim", about = "skiff's deterministic chaos simulator")]
    struct Args {
        /// The seed of one run.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// A sweep `A..B` (B excluded), each seed in its own child process.
        #[arg(long)]
        seeds: Option<String>,
        /// Worker nodes.
        #[arg(long, default_value_t = 5)]
        workers: u32,
        /// Simulated length of the safety phase (90s, 15m, 2h).
        #[arg(long, default_value = "30m")]
        duration: String,
        /// Fault kinds: crash,partition,loss,skew,disk, `all` or `none`.
        #[arg(long, default_value = "all")]
        faults: String,
        /// Control-plane members: 1, or 3 or 5 for a Raft-replicated store with Raft's faults
        /// and the linearizability checker.
        #[arg(long, default_value_t = 1)]
        control_plane: u32,
        /// Draw workers, duration and faults from the seed too (VOPR swarm).
        #[arg(long)]
        swarm: bool,
        /// A standing population of this many pods (ReplicaSets of 100 created by the client).
        #[arg(long, default_value_t = 0)]
        pods: u32,
        /// Write the run's timeline (nodes × simulated time: up, down, disk power loss,
        /// partitioned, skewed, running pods) to this SVG file.
        #[arg(long)]
        timeline: Option<std::path::PathBuf>,
        /// Write the harness trace (decisions and violations) to this file.
        #[arg(long)]
        trace: Option<std::path::PathBuf>,
        /// Benchmark JSON lines instead of the text report.
        #[arg(long)]
        json: bool,
        /// Run the seed twice in child processes and compare trace hashes.
        #[arg(long)]
        check_determinism: bool,
        /// No progress lines.
        #[arg(long)]
        quiet: bool,
        /// Wall time without simulated time moving after which the run fails as stalled (a
        /// task spinning at one simulated instant, which no checker inside can see).
        #[arg(long, default_value = "120s")]
        stall_timeout: String,
    }

    fn overrides(args: &Args) -> Result<Overrides, String> {
        if args.swarm {
            return Ok(Overrides::default());
        }
        Ok(Overrides {
            workers: Some(args.workers),
            duration: Some(parse_duration(&args.duration)?),
            faults: Some(parse_faults(&args.faults)?),
        })
    }

    pub fn main() -> i32 {
        let args = Args::parse();
        let overrides = match overrides(&args) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        if let Some(range) = &args.seeds {
            return sweep(range, &args);
        }
        if args.check_determinism {
            return check_determinism(args.seed);
        }
        if args.control_plane == 0 {
            eprintln!("error: --control-plane takes 1, 3 or 5");
            return 2;
        }
        let mut options = Options::from_seed(args.seed, &overrides);
        options.control_plane = args.control_plane;
        options.pods = args.pods;
        one(&args, options)
    }

    /// CPU time this process has used (user + system), from `/proc/self/stat` in clock ticks
    /// of 1/100 s (Linux's `USER_HZ`); `None` off Linux.
    fn cpu_time() -> Option<Duration> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may hold spaces) start at the state, field 3.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some(Duration::from_millis((utime + stime) * 10))
    }

    /// Peak resident memory of this process (`VmHWM` in `/proc/self/status`), in bytes.
    fn peak_rss_bytes() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Runs one seed on a fresh thread (madsim's own `Builder::run` does the same: std's
    /// per-thread hash keys then start from the seed).
    fn one(args: &Args, options: Options) -> i32 {
        let stall_timeout = match parse_duration(&args.stall_timeout) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: --stall-timeout: {e}");
                return 2;
            }
        };
        let heartbeat = Arc::new(AtomicU64::new(0));
        let flags = RunFlags {
            keep_trace: args.trace.is_some(),
            progress: !args.quiet && !args.json,
            legacy_deleted_revision: false,
            node_grace_period: None,
            timeline: args.timeline.is_some(),
            heartbeat: Some(heartbeat.clone()),
        };
        let wall = Instant::now();
        let cpu_before = cpu_time();
        let seed = options.seed;
        let simulation = std::thread::spawn(move || {
            let runtime =
                madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
            runtime.block_on(run(options, flags))
        });
        let outcome =
            match join_unless_stalled(simulation, &heartbeat, stall_timeout, WATCHDOG_POLL) {
                Ok(outcome) => outcome,
                Err(stalled) => {
                    failed(args, seed, "stall", &stalled.to_string());
                    // The simulation thread cannot be stopped; the caller exits the process.
                    return 1;
                }
            };
        let wall = wall.elapsed();
        let cpu = cpu_time()
            .zip(cpu_before)
            .map(|(after, before)| after.saturating_sub(before));
        let (mut report, trace) = match outcome {
            Ok(r) => r,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a node panicked".to_owned());
                failed(args, seed, "crash", &message);
                return 1;
            }
        };
        report.wall = Some(wall);
        if let Some(path) = &args.trace {
            let mut text = trace.lines().join("\n");
            text.push('\n');
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("error: {}: {e}", path.display());
            }
        }
        if let (Some(path), Some(timeline)) = (&args.timeline, &report.timeline)
            && let Err(e) = std::fs::write(path, timeline.svg())
        {
            eprintln!("error: {}: {e}", path.display());
        }
        print_report(args, &report, wall, cpu);
        i32::from(!report.violations.is_empty())
    }

    /// Prints the report: JSON lines or text, with the run's cost.
    fn print_report(args: &Args, report: &Report, wall: Duration, cpu: Option<Duration>) {
        let simulated = report.simulated.as_secs_f64();
        let cpu_speed = cpu
            .map(|c| c.as_secs_f64())
            .filter(|c| *c > 0.0)
            .map(|c| simulated / c);
        let rss = peak_rss_bytes();
        if args.json {
            for line in report.json_lines() {
                println!("{line}");
            }
            let params = report.json_lines()[0]
                .split(r#""params":"#)
                .nth(1)
                .and_then(|p| p.split(r#","value""#).next())
                .unwrap_or("{}")
                .to_owned();
            if let Some(speed) = cpu_speed {
                println!(
                    r#"{{"bench":"sim","metric":"sim_speed_cpu","params":{params},"value":{speed:.1},"unit":"x"}}"#
                );
            }
            if let Some(rss) = rss {
                println!(
                    r#"{{"bench":"sim","metric":"peak_rss","params":{params},"value":{},"unit":"MiB"}}"#,
                    rss >> 20
                );
            }
        } else {
            print!("{}", report.text());
            println!(
                "cost: {:.1} s wall, {} CPU ({}), peak RSS {}",
                wall.as_secs_f64(),
                cpu.map_or_else(|| "?".to_owned(), |c| format!("{:.1} s", c.as_secs_f64())),
                cpu_speed.map_or_else(
                    || "simulated/CPU ?".to_owned(),
                    |s| format!("{s:.0}× simulated/CPU")
                ),
                rss.map_or_else(|| "?".to_owned(), |r| format!("{} MiB", r >> 20))
            );
        }
    }

    /// The one line that reproduces `seed` with these flags.
    fn repro(args: &Args, seed: u64) -> String {
        let mut options = Options::from_seed(seed, &overrides(args).unwrap_or_default());
        options.control_plane = args.control_plane;
        options.repro_command()
    }

    /// Reports a run that failed before its report (`class`: crash or stall) with the line
    /// that reproduces it; with `--json` (as sweep children run) a JSON line on stdout and
    /// the message on stderr, which a sweep passes through.
    fn failed(args: &Args, seed: u64, class: &str, message: &str) {
        let text = format!(
            "FAILED ({class}): seed {seed}: {message}\nreproduce: {}",
            repro(args, seed)
        );
        if args.json {
            println!(
                r#"{{"bench":"sim","metric":"violations","params":{{"seed":{seed},"class":"{class}"}},"value":1,"unit":"count"}}"#
            );
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    /// Re-executes this binary with the same flags but one `--seed`.
    fn child(seed: u64, extra: &[&str]) -> std::io::Result<Child> {
        let exe = std::env::current_exe()?;
        let mut args: Vec<String> = Vec::new();
        let mut skip = false;
        for a in std::env::args().skip(1) {
            if skip {
                skip = false;
                continue;
            }
            match a.as_str() {
                "--seeds" | "--seed" => skip = true,
                "--check-determinism" => {}
                _ if a.starts_with("--seeds=") || a.starts_with("--seed=") => {}
                _ => args.push(a),
            }
        }
        Command::new(exe)
            .args(&args)
            .args(["--seed", &seed.to_string(), "--quiet"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
    }

    fn sweep(range: &str, args: &Args) -> i32 {
        let Some((a, b)) = range.split_once("..") else {
            eprintln!("error: --seeds takes A..B");
            return 2;
        };
        let (Ok(a), Ok(b)) = (a.trim().parse::<u64>(), b.trim().parse::<u64>()) else {
            eprintln!("error: --seeds takes two integers A..B");
            return 2;
        };
        let wall = Instant::now();
        let mut queue: VecDeque<u64> = (a..b).collect();
        let mut running: Vec<(u64, Child)> = Vec::new();
        let mut failed = Vec::new();
        let extra: &[&str] = if args.json { &[] } else { &["--json"] };
        while !queue.is_empty() || !running.is_empty() {
            while running.len() < SWEEP_JOBS_MAX
                && let Some(seed) = queue.pop_front()
            {
                match child(seed, extra) {
                    Ok(c) => running.push((seed, c)),
                    Err(e) => {
                        eprintln!("error: seed {seed}: {e}");
                        failed.push(seed);
                    }
                }
            }
            let (seed, c) = running.remove(0);
            let output = c.wait_with_output();
            match output {
                Ok(out) => {
                    let text = String::from_utf8_lossy(&out.stdout);
                    if args.json {
                        print!("{text}");
                    } else {
                        let line = text
                            .lines()
                            .find(|l| l.contains(r#""metric":"violations""#));
                        let mut violations = line
                            .and_then(|l| l.split(r#""value":"#).nth(1))
                            .and_then(|v| v.split(',').next())
                            .unwrap_or("?")
                            .to_owned();
                        if let Some(class) = line
                            .and_then(|l| l.split(r#""class":""#).nth(1))
                            .and_then(|c| c.split('"').next())
                        {
                            violations = format!("{violations} ({class})");
                        }
                        let hash = text
                            .lines()
                            .find(|l| l.contains(r#""metric":"trace_hash""#))
                            .and_then(|l| l.split(r#""value":""#).nth(1))
                            .and_then(|v| v.split('"').next())
                            .unwrap_or("?")
                            .to_owned();
                        println!("seed {seed}: violations {violations}, trace {hash}");
                    }
                    if !out.status.success() {
                        failed.push(seed);
                    }
                }
                Err(e) => {
                    eprintln!("error: seed {seed}: {e}");
                    failed.push(seed);
                }
            }
        }
        eprintln!(
            "sweep {a}..{b}: {} seeds, {} failed{} in {:.1} s wall",
            b.saturating_sub(a),
            failed.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!(" ({failed:?})")
            },
            wall.elapsed().as_secs_f64()
        );
        i32::from(!failed.is_empty())
    }

    fn check_determinism(seed: u64) -> i32 {
        let mut hashes = Vec::new();
        for _ in 0..2 {
            let out = match child(seed, &["--json"]).and_then(Child::wait_with_output) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let hash = text
                .lines()
                .find(|l| l.contains(r#""metric":"trace_hash""#))
                .and_then(|l| l.split(r#""value":""#).nth(1))
                .and_then(|v| v.split('"').next())
                .map(str::to_owned);
            hashes.push(hash);
        }
        let _ = Duration::ZERO;
        match (&hashes[0], &hashes[1]) {
            (Some(a), Some(b)) if a == b => {
                println!("deterministic: seed {seed} gave trace hash {a} twice");
                0
            }
            (a, b) => {
                println!("NOT deterministic: seed {seed} gave trace hashes {a:?} and {b:?}");
                1
            }
        }
    }
}
