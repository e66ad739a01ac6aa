//! The `skiff` command-line interface.
//!
//! `skiff up` runs a cluster; kubectl's verbs (`get`, `apply`, `scale`, `drain`, …), `skiff
//! etcdctl`, `skiff validate` and `skiff bench` talk to it or to a data directory. `skiff
//! --help` lists them all.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// The binary's allocator: mimalloc rather than glibc's malloc, whose slow paths cost the
/// store's write path and the scheduler a large share of their CPU (BENCHMARKS.md). The
/// library leaves the choice to embedders.
#[cfg(not(madsim))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// skiff: an embeddable, event-sourced, deterministic Kubernetes-style control plane.
#[derive(Debug, Parser)]
#[command(name = "skiff", version, about)]
struct Args {
    #[command(flatten)]
    connect: cli::connect::ConnectArgs,
    /// Log more on stderr: -v for info, -vv for debug (every API request, reconcile and pod
    /// sync, as spans), -vvv for trace. `RUST_LOG` (e.g. `skiff=debug,skiff_store=info`)
    /// overrides it.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check manifests: parse every document, validate every object, report precise errors.
    Validate {
        /// A manifest file, a directory of manifests (.yaml, .yml, .json), or `-` for stdin.
        /// May be repeated.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
        /// Descend into subdirectories of a directory given with -f.
        #[arg(short = 'R', long)]
        recursive: bool,
    },
    /// Measure performance on this machine (like `etcdctl check perf`).
    Bench {
        #[command(subcommand)]
        target: cli::bench::BenchTarget,
    },
    /// etcdctl on the data dir: get, put, del, watch, compaction, defrag,
    /// snapshot save|restore|status, endpoint health|status.
    Etcdctl(cli::etcdctl::EtcdctlArgs),
    /// Print the version of skiff.
    Version,
    /// Run the embedded cluster: the store in a data dir and the API server on loopback.
    Up(cli::up::UpArgs),
    /// Print the rules kube-proxy programs on a node, in iptables-save syntax.
    ProxyRules(cli::proxy_rules::ProxyRulesArgs),
    /// Manage the rollout of a Deployment or DaemonSet: status, history, undo, pause, resume.
    Rollout(cli::rollout::RolloutArgs),
    /// Print a container's log (through the API server, from the kubelet of its node).
    Logs(cli::node::LogsArgs),
    /// Run a command in a container: `skiff exec POD [-c C] -- CMD…`.
    Exec(cli::node::ExecArgs),
    /// crictl on a node's container runtime: `skiff crictl --node N ps -a`.
    Crictl(cli::node::CrictlArgs),
    /// kubectl-style verbs against `skiff up`.
    #[command(flatten)]
    Kube(cli::kube::Verb),
}

/// The log level of `-v` counts, like kubectl's `-v` levels in spirit: warnings only by
/// default, then info, debug (kubectl's `-v=6` logs every request), trace.
fn level_of(verbose: u8) -> &'static str {
    match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    }
}

/// Logs to stderr, filtered by `RUST_LOG` when it is set, else by `-v`.
fn init_logging(verbose: u8) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level_of(verbose)));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.verbose);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let code = match &args.command {
        Command::Logs(logs) => Some(cli::node::logs(&args.connect, logs, &mut out)),
        Command::Exec(exec) => Some(cli::node::exec(&args.connect, exec, &mut out)),
        Command::Crictl(crictl) => Some(cli::node::crictl(&args.connect, crictl, &mut out)),
        _ => None,
    };
    if let Some(code) = code {
        let _ = out.flush();
        return ExitCode::from(code);
    }
    let ok = match args.command {
        Command::Logs(_) | Command::Exec(_) | Command::Crictl(_) => true,
        Command::Validate { files, recursive } => {
            cli::validate::run(&files, recursive, &mut std::io::stdin().lock(), &mut out)
        }
        Command::Up(up) => cli::up::run(args.connect.data_dir.clone(), up),
        Command::Rollout(rollout) => cli::rollout::run(&args.connect, rollout, &mut out),
        Command::Kube(verb) => cli::kube::run(&args.connect, verb, &mut out),
        Command::ProxyRules(rules) => cli::proxy_rules::run(&args.connect, &rules, &mut out),
        Command::Bench { target } => cli::bench::run(target, &mut out),
        Command::Version => {
            let _ = writeln!(out, "skiff {}", env!("CARGO_PKG_VERSION"));
            true
        }
        Command::Etcdctl(etcdctl) => cli::etcdctl::run(
            &args.connect,
            &etcdctl,
            &mut std::io::stdin().lock(),
            &mut out,
            &mut std::io::stderr().lock(),
        ),
    };
    let _ = out.flush();
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Args, level_of};

    #[test]
    fn verbose_flags_map_to_kubectl_like_levels() {
        let level = |argv: &[&str]| level_of(Args::parse_from(argv).verbose);
        assert_eq!(level(&["skiff", "version"]), "warn");
        assert_eq!(level(&["skiff", "-v", "version"]), "info");
        assert_eq!(level(&["skiff", "-vv", "version"]), "debug");
        assert_eq!(level(&["skiff", "version", "-vvv"]), "trace");
    }
}
