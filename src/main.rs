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

/// skiff: an embeddable, event-sourced, deterministic Kubernetes-style control plane.
#[derive(Debug, Parser)]
#[command(name = "skiff", version, about)]
struct Args {
    #[command(flatten)]
    connect: cli::connect::ConnectArgs,
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
    /// kubectl-style verbs against `skiff up`.
    #[command(flatten)]
    Kube(cli::kube::Verb),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let ok = match args.command {
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
