//! `skiff logs`, `skiff exec` and `skiff crictl --node N` (seed §1, §4): each goes to the API
//! server (`pods/log`, `pods/exec`, `nodes/proxy`), which asks the kubelet of the node over its
//! node API. Output and failures in kubectl's and crictl's words.

use std::io::Write;

use skiff_core::client::{Client, ExecParams, LogParams};

use super::connect::ConnectArgs;
use super::verbs::Failure;

/// `skiff logs POD`.
#[derive(Debug, Clone, clap::Args)]
pub struct LogsArgs {
    /// The pod.
    pub pod: String,
    /// The container (needed when the pod has several).
    #[arg(short, long)]
    pub container: Option<String>,
    /// Namespace.
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    /// Only the last N lines (-1: all).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// Prefix each line with its RFC 3339 time.
    #[arg(long)]
    pub timestamps: bool,
    /// The previous instance of the container (after a restart).
    #[arg(short, long)]
    pub previous: bool,
    /// Only lines newer than this (`30s`, `5m`, `1h`).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<u64>,
    /// At most this many bytes.
    #[arg(long)]
    pub limit_bytes: Option<u64>,
    /// Keep printing new lines until the container stops (polled once a second).
    #[arg(short, long)]
    pub follow: bool,
}

/// `skiff exec POD -- CMD…`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecArgs {
    /// The pod.
    pub pod: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
    /// The container (default: the pod's only one).
    #[arg(short, long)]
    pub container: Option<String>,
    /// Namespace.
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    /// Accepted for kubectl's `-it`; standard input is not forwarded (exec is synchronous).
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Accepted for kubectl's `-it`; no terminal is allocated.
    #[arg(short = 't', long)]
    pub tty: bool,
}

/// `skiff crictl --node N <verb> …`.
#[derive(Debug, Clone, clap::Args)]
pub struct CrictlArgs {
    /// The node whose runtime to ask.
    #[arg(long, required = true)]
    pub node: String,
    /// `ps [-a]`, `pods`, `images`, `inspect ID`, `inspectp ID`, `logs [--tail N] ID`,
    /// `exec ID CMD…`, `stats`, `info`, `version`, `pull IMAGE`, `rmi IMAGE`, `stop ID`,
    /// `rm ID`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub args: Vec<String>,
}

/// kubectl's `--since` durations (Go `time.ParseDuration` units s, m, h, combined).
fn parse_since(text: &str) -> Result<u64, String> {
    let mut total = 0_u64;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(format!("time: unknown unit {c:?} in duration {text:?}")),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("time: invalid duration {text:?}"))?;
        total = total.saturating_add(n.saturating_mul(unit));
        digits.clear();
    }
    if !digits.is_empty() || text.is_empty() {
        return Err(format!("time: missing unit in duration {text:?}"));
    }
    Ok(total)
}

fn block_on<T>(f: impl std::future::Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Client(e.to_string()))?
        .block_on(f)
}

fn report(out: &mut dyn Write, failure: &Failure) -> u8 {
    let _ = out.flush();
    if !matches!(failure, Failure::Silent) {
        eprintln!("{failure}");
    }
    1
}

/// Runs `skiff logs`; returns the process's exit code.
pub fn logs(connect: &ConnectArgs, args: &LogsArgs, out: &mut dyn Write) -> u8 {
    let params = LogParams {
        container: args.container.clone(),
        tail_lines: u64::try_from(args.tail).ok(),
        since_seconds: args.since,
        since_time_micros: None,
        timestamps: args.timestamps,
        previous: args.previous,
        limit_bytes: args.limit_bytes,
    };
    let result = block_on(async {
        let client = connect.connect().await?;
        if args.follow {
            follow(&client, args, params, out).await?;
            return Ok(String::new());
        }
        Ok(client.pod_logs(&args.namespace, &args.pod, params).await?)
    });
    match result {
        Ok(text) => {
            let _ = out.write_all(text.as_bytes());
            0
        }
        Err(e) => report(out, &e),
    }
}

/// Whether the pod's container (the named one, or its first) may still write to its log.
async fn still_writing(client: &dyn Client, args: &LogsArgs) -> Result<bool, Failure> {
    let object = client
        .get(&skiff_core::object::info::POD, &args.namespace, &args.pod)
        .await?;
    let skiff_core::object::Object::Pod(pod) = object else {
        return Ok(false);
    };
    Ok(skiff::http::still_writing(&pod, args.container.as_deref()))
}

/// `logs -f`: prints the log, then what is new each second while the container may still
/// write (reads with timestamps, so each line is printed once).
async fn follow(
    client: &dyn Client,
    args: &LogsArgs,
    params: LogParams,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let show = params.timestamps;
    let mut params = LogParams {
        timestamps: true,
        limit_bytes: None,
        ..params
    };
    let mut cursor = skiff::http::LogCursor::default();
    loop {
        let text = client
            .pod_logs(&args.namespace, &args.pod, params.clone())
            .await?;
        let _ = out.write_all(cursor.take(&text, show).as_bytes());
        let _ = out.flush();
        if let Some(micros) = cursor.since_micros() {
            params.since_time_micros = Some(micros);
            params.since_seconds = None;
            params.tail_lines = None;
        }
        if !still_writing(client, args).await? {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Runs `skiff exec`; returns the command's exit code (kubectl's `command terminated with
/// exit code N` on standard error when it is not 0).
pub fn exec(connect: &ConnectArgs, args: &ExecArgs, out: &mut dyn Write) -> u8 {
    let params = ExecParams {
        container: args.container.clone(),
        command: args.command.clone(),
    };
    let result = block_on(async {
        let client = connect.connect().await?;
        Ok(client.pod_exec(&args.namespace, &args.pod, params).await?)
    });
    match result {
        Ok(output) => {
            let _ = out.write_all(&output.stdout);
            let _ = out.flush();
            let _ = std::io::stderr().write_all(&output.stderr);
            if output.exit_code == 0 {
                0
            } else {
                eprintln!("command terminated with exit code {}", output.exit_code);
                u8::try_from(output.exit_code & 0xff).unwrap_or(1)
            }
        }
        Err(e) => report(out, &e),
    }
}

/// Runs `skiff crictl --node N …`; returns crictl's exit code.
pub fn crictl(connect: &ConnectArgs, args: &CrictlArgs, out: &mut dyn Write) -> u8 {
    let result = block_on(async {
        let client = connect.connect().await?;
        Ok(client.node_crictl(&args.node, args.args.clone()).await?)
    });
    match result {
        Ok(output) => {
            let _ = out.write_all(&output.stdout);
            let _ = out.flush();
            let _ = std::io::stderr().write_all(&output.stderr);
            u8::try_from(output.exit_code & 0xff).unwrap_or(1)
        }
        Err(e) => report(out, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_durations_read_like_kubectl() {
        assert_eq!(parse_since("30s"), Ok(30));
        assert_eq!(parse_since("1h5m"), Ok(3900));
        assert_eq!(
            parse_since("5"),
            Err("time: missing unit in duration \"5\"".to_owned())
        );
        assert_eq!(
            parse_since("5d"),
            Err("time: unknown unit 'd' in duration \"5d\"".to_owned())
        );
    }
}
