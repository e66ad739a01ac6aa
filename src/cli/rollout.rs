//! `skiff rollout status|history|undo|pause|resume`: kubectl's `rollout` verbs (upstream
//! `kubectl/pkg/cmd/rollout`) against `skiff up`, with kubectl's flags and wording. The
//! decisions and messages come from `skiff_controllers::deployment::rollout` and
//! `skiff_controllers::daemonset::rollout_status`; this module reads and writes through the
//! wire client and prints.

use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use skiff_controllers::deployment::rollout::{self, Rollback};
use skiff_controllers::reconcile::Action;
use skiff_core::client::{Client, ClientError, ListParams, WatchEvent};
use skiff_core::object::{
    DaemonSet, Deployment, HasKindInfo, KindInfo, Object, PodTemplateSpec, ReplicaSet,
    resolve_resource,
};

use super::connect::ConnectArgs;

/// The arguments every rollout verb takes: the object and its namespace.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// `TYPE/NAME` (`deployment/web`, `deploy/web`, `daemonset/agent`) or `TYPE NAME`.
    #[arg(required = true, num_args = 1..=2)]
    pub resource: Vec<String>,
    /// Namespace.
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
}

/// `skiff rollout …`.
#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// The rollout verb.
    #[command(subcommand)]
    pub verb: RolloutVerb,
}

/// A `kubectl rollout` verb.
#[derive(Debug, clap::Subcommand)]
pub enum RolloutVerb {
    /// Show the status of the rollout; by default wait until it completes.
    Status {
        /// The object.
        #[command(flatten)]
        target: Target,
        /// Watch until the rollout completes (`--watch=false` prints the status once).
        #[arg(
            short,
            long,
            default_value_t = true,
            action = clap::ArgAction::Set,
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = "true"
        )]
        watch: bool,
        /// How long to wait before giving up (`30s`, `5m`, `1h30m`); 0 waits forever.
        #[arg(long, default_value = "0s")]
        timeout: String,
    },
    /// Show the revisions of a Deployment, or one revision's pod template.
    History {
        /// The object.
        #[command(flatten)]
        target: Target,
        /// Show the pod template of this revision (0: the table of all).
        #[arg(long, default_value_t = 0)]
        revision: i64,
    },
    /// Roll a Deployment back to an earlier revision.
    Undo {
        /// The object.
        #[command(flatten)]
        target: Target,
        /// The revision to roll back to (0: the previous one).
        #[arg(long, default_value_t = 0)]
        to_revision: i64,
    },
    /// Pause a Deployment: template changes do not roll out until it is resumed.
    Pause {
        /// The object.
        #[command(flatten)]
        target: Target,
    },
    /// Resume a paused Deployment.
    Resume {
        /// The object.
        #[command(flatten)]
        target: Target,
    },
}

/// A server error as the other verbs print it.
fn server(e: &ClientError) -> String {
    format!("Error from server: {e}")
}

/// A client-side error as kubectl prints it (`error: …`).
fn cli(message: &str) -> String {
    format!("error: {message}")
}

/// kubectl's resource argument: `TYPE/NAME` or `TYPE NAME`; the type may carry its group
/// (`deployments.apps`).
fn parse_target(args: &[String]) -> Result<(&'static KindInfo, String), String> {
    let (kind, name) = match args {
        [one] => match one.split_once('/') {
            Some((k, n)) if !k.is_empty() && !n.is_empty() => (k, n),
            _ => {
                return Err(cli(&format!(
                    "expected TYPE/NAME or TYPE NAME, got {one:?}"
                )));
            }
        },
        [k, n] => (k.as_str(), n.as_str()),
        _ => return Err(cli("required resource not specified")),
    };
    let bare = kind.strip_suffix(".apps").unwrap_or(kind);
    let info = resolve_resource(bare).ok_or_else(|| {
        cli(&format!(
            "the server doesn't have a resource type \"{kind}\""
        ))
    })?;
    Ok((info, name.to_owned()))
}

/// Parses a Go duration as kubectl's `--timeout` takes it (`0`, `90s`, `1m30s`, `2h`, `500ms`).
///
/// # Errors
///
/// A message naming the invalid value.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(invalid)?;
        if digits == 0 {
            return Err(invalid());
        }
        let value: f64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(value * scale).map_err(|_| invalid())?;
    }
    Ok(total)
}

/// One look at the object's rollout: the status line and whether it is done.
fn status_of(object: &Object) -> Result<(String, bool), String> {
    match object {
        Object::Deployment(d) => rollout::rollout_status(d),
        Object::DaemonSet(ds) => skiff_controllers::daemonset::rollout_status(ds),
        other => Err(format!(
            "no status viewer has been implemented for {}",
            other.info().kind
        )),
    }
}

/// Prints the status line of `object` unless it repeats the last one; true when the
/// rollout is done.
fn show(object: &Object, last: &mut String, out: &mut dyn Write) -> Result<bool, String> {
    let (line, done) = status_of(object).map_err(|e| cli(&e))?;
    if line != *last {
        let _ = write!(out, "{line}");
        let _ = out.flush();
        line.clone_into(last);
    }
    Ok(done)
}

/// `rollout status`: kubectl's loop (upstream `RolloutStatusOptions.Run`): print the status,
/// and with `--watch` follow the object's changes until the rollout is done; a watch that
/// ends is started again from a fresh read.
async fn status(
    client: &dyn Client,
    info: &'static KindInfo,
    namespace: &str,
    name: &str,
    watch: bool,
    out: &mut dyn Write,
) -> Result<(), String> {
    let mut last = String::new();
    loop {
        let object = client
            .get(info, namespace, name)
            .await
            .map_err(|e| server(&e))?;
        if show(&object, &mut last, out)? || !watch {
            return Ok(());
        }
        let params = ListParams {
            resource_version: object.metadata().resource_version.clone(),
            ..ListParams::default()
        };
        let mut stream = client
            .watch(info, Some(namespace), params)
            .await
            .map_err(|e| server(&e))?;
        while let Some(event) = stream.next().await {
            match event {
                WatchEvent::Added(o) | WatchEvent::Modified(o)
                    if o.metadata().name_or_empty() == name && show(&o, &mut last, out)? =>
                {
                    return Ok(());
                }
                WatchEvent::Deleted(o) if o.metadata().name_or_empty() == name => {
                    return Err(cli("object has been deleted"));
                }
                WatchEvent::Error(_) => break,
                _ => {}
            }
        }
        // The watch ended (compaction, server restart): look again shortly.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The Deployment named, or kubectl's error for another kind.
async fn deployment(
    client: &dyn Client,
    info: &'static KindInfo,
    namespace: &str,
    name: &str,
    unsupported: &str,
) -> Result<Deployment, String> {
    if info.kind != Deployment::INFO.kind {
        return Err(cli(&format!(
            "{}{} {name:?} {unsupported}",
            info.plural,
            if info.group.is_empty() {
                String::new()
            } else {
                format!(".{}", info.group)
            }
        )));
    }
    match client
        .get(info, namespace, name)
        .await
        .map_err(|e| server(&e))?
    {
        Object::Deployment(d) => Ok(d),
        other => Err(cli(&format!("unexpected {}", other.info().kind))),
    }
}

/// The ReplicaSets the Deployment controls, oldest first (then by name).
async fn replica_sets(client: &dyn Client, d: &Deployment) -> Result<Vec<ReplicaSet>, String> {
    let uid = d.metadata.uid.as_deref().unwrap_or("");
    let list = client
        .list(
            &ReplicaSet::INFO,
            Some(d.metadata.namespace_or_empty()),
            ListParams::default(),
        )
        .await
        .map_err(|e| server(&e))?;
    let mut owned: Vec<ReplicaSet> = list
        .items
        .into_iter()
        .filter_map(|o| match o {
            Object::ReplicaSet(rs)
                if rs
                    .metadata
                    .controller_ref()
                    .is_some_and(|r| r.uid == uid && !uid.is_empty()) =>
            {
                Some(rs)
            }
            _ => None,
        })
        .collect();
    owned.sort_by(|a, b| {
        (a.metadata.creation_timestamp, a.metadata.name_or_empty())
            .cmp(&(b.metadata.creation_timestamp, b.metadata.name_or_empty()))
    });
    Ok(owned)
}

/// Writes `label:` and `value` aligned the way kubectl's describe tabwriter lays a block out.
fn field(out: &mut String, indent: usize, label: &str, value: &str) {
    let _ = writeln!(out, "{:indent$}{:<width$}{value}", "", label, width = 13);
}

fn map_field(
    out: &mut String,
    indent: usize,
    label: &str,
    map: &std::collections::BTreeMap<String, String>,
) {
    if map.is_empty() {
        field(out, indent, label, "<none>");
        return;
    }
    for (i, (k, v)) in map.iter().enumerate() {
        field(
            out,
            indent,
            if i == 0 { label } else { "" },
            &format!("{k}={v}"),
        );
    }
}

/// A pod template as `kubectl rollout history --revision=N` shows it (upstream
/// `DescribePodTemplate`, the common fields).
pub fn describe_template(template: &PodTemplateSpec) -> String {
    let mut out = String::from("Pod Template:\n");
    map_field(&mut out, 2, "Labels:", &template.metadata.labels);
    if !template.metadata.annotations.is_empty() {
        map_field(&mut out, 2, "Annotations:", &template.metadata.annotations);
    }
    let _ = writeln!(out, "  Containers:");
    for c in &template.spec.containers {
        let _ = writeln!(out, "   {}:", c.name);
        field(&mut out, 4, "Image:", c.image.as_deref().unwrap_or(""));
        let ports: Vec<String> = c
            .ports
            .iter()
            .map(|p| {
                format!(
                    "{}/{}",
                    p.container_port,
                    p.protocol.as_deref().unwrap_or("TCP")
                )
            })
            .collect();
        let host_ports: Vec<String> = c
            .ports
            .iter()
            .map(|p| {
                format!(
                    "{}/{}",
                    p.host_port.unwrap_or(0),
                    p.protocol.as_deref().unwrap_or("TCP")
                )
            })
            .collect();
        let none = |v: Vec<String>| {
            if v.is_empty() {
                "<none>".to_owned()
            } else {
                v.join(", ")
            }
        };
        field(&mut out, 4, "Port:", &none(ports));
        field(&mut out, 4, "Host Port:", &none(host_ports));
        if c.env.is_empty() {
            field(&mut out, 4, "Environment:", "<none>");
        } else {
            let _ = writeln!(out, "    Environment:");
            for e in &c.env {
                let value = e.value.as_deref().unwrap_or("<set from a source>");
                let _ = writeln!(out, "      {}:  {value}", e.name);
            }
        }
        if c.volume_mounts.is_empty() {
            field(&mut out, 4, "Mounts:", "<none>");
        } else {
            let _ = writeln!(out, "    Mounts:");
            for m in &c.volume_mounts {
                let mode = if m.read_only.unwrap_or(false) {
                    "ro"
                } else {
                    "rw"
                };
                let _ = writeln!(out, "      {} from {} ({mode})", m.mount_path, m.name);
            }
        }
    }
    if template.spec.volumes.is_empty() {
        field(&mut out, 2, "Volumes:", "<none>");
    } else {
        let _ = writeln!(out, "  Volumes:");
        for v in &template.spec.volumes {
            let _ = writeln!(out, "   {}", v.name);
        }
    }
    out
}

async fn run_verb(
    connect: &ConnectArgs,
    verb: RolloutVerb,
    out: &mut dyn Write,
) -> Result<(), String> {
    let target = match &verb {
        RolloutVerb::Status { target, .. }
        | RolloutVerb::History { target, .. }
        | RolloutVerb::Undo { target, .. }
        | RolloutVerb::Pause { target }
        | RolloutVerb::Resume { target } => target.clone(),
    };
    let (info, name) = parse_target(&target.resource)?;
    let ns = target.namespace.as_str();
    let client = connect.connect().await.map_err(|e| cli(&e))?;
    let client: &dyn Client = &client;
    match verb {
        RolloutVerb::Status { watch, timeout, .. } => {
            let limit = parse_duration(&timeout).map_err(|e| cli(&e))?;
            if info.kind != Deployment::INFO.kind && info.kind != DaemonSet::INFO.kind {
                return Err(cli(&format!(
                    "no status viewer has been implemented for {}",
                    info.kind
                )));
            }
            let run = status(client, info, ns, &name, watch, out);
            if limit.is_zero() {
                run.await
            } else {
                tokio::time::timeout(limit, run)
                    .await
                    .unwrap_or_else(|_| Err(cli("timed out waiting for the condition")))
            }
        }
        RolloutVerb::History { revision, .. } => {
            let d = deployment(client, info, ns, &name, "history is not supported").await?;
            let rss = replica_sets(client, &d).await?;
            let refs: Vec<&ReplicaSet> = rss.iter().collect();
            match revision.cmp(&0) {
                std::cmp::Ordering::Greater => {
                    let template =
                        rollout::history_revision(&refs, revision).map_err(|e| cli(&e))?;
                    let _ = writeln!(
                        out,
                        "deployment.apps/{name} with revision #{revision}\n{}",
                        describe_template(template)
                    );
                }
                std::cmp::Ordering::Less => {
                    return Err(cli(&format!(
                        "revision must be a positive integer: {revision}"
                    )));
                }
                std::cmp::Ordering::Equal => {
                    // kubectl prints the name with the table as its "operation": a space, the
                    // table on the next line, and a blank line after it.
                    let _ = writeln!(
                        out,
                        "deployment.apps/{name} \n{}",
                        rollout::rollout_history(&refs)
                    );
                }
            }
            Ok(())
        }
        RolloutVerb::Undo { to_revision, .. } => {
            // kubectl patches without a resourceVersion; skiff updates with one, so a write
            // that lost a race with the controller's status update is recomputed from a fresh
            // read (client-go `RetryOnConflict`).
            for attempt in 1..=CONFLICT_RETRIES {
                let d = deployment(client, info, ns, &name, "rollback is not supported").await?;
                let rss = replica_sets(client, &d).await?;
                let refs: Vec<&ReplicaSet> = rss.iter().collect();
                match rollout::rollback_to(&d, to_revision, &refs).map_err(|e| cli(&e))? {
                    Rollback::Skipped(message) => {
                        let _ = writeln!(out, "{message}");
                        return Ok(());
                    }
                    Rollback::RolledBack { action, message } => {
                        if write(client, *action, attempt).await? {
                            let _ = writeln!(out, "{message}");
                            return Ok(());
                        }
                    }
                }
            }
            unreachable!("the last attempt returns")
        }
        RolloutVerb::Pause { .. } | RolloutVerb::Resume { .. } => {
            let pause = matches!(verb, RolloutVerb::Pause { .. });
            let unsupported = if pause {
                "pausing is not supported"
            } else {
                "resuming is not supported"
            };
            for attempt in 1..=CONFLICT_RETRIES {
                let d = deployment(client, info, ns, &name, unsupported).await?;
                let (action, message) = rollout::set_paused(&d, pause).map_err(|e| cli(&e))?;
                if write(client, action, attempt).await? {
                    let _ = writeln!(out, "{message}");
                    return Ok(());
                }
            }
            unreachable!("the last attempt returns")
        }
    }
}

/// How often a write that hit a Conflict is recomputed and retried (client-go
/// `retry.DefaultRetry`: 5 steps of 10 ms).
const CONFLICT_RETRIES: u32 = 5;

/// Sends the `Update` a rollout function decided on: `Ok(true)` when written, `Ok(false)`
/// when it hit a Conflict and `attempt` was not the last (wait 10 ms and recompute).
async fn write(client: &dyn Client, action: Action, attempt: u32) -> Result<bool, String> {
    let Action::Update(object) = action else {
        return Err(cli(&format!("unexpected action {action:?}")));
    };
    match client.update(object).await {
        Ok(_) => Ok(true),
        Err(ClientError::Status(s)) if s.code() == 409 && attempt < CONFLICT_RETRIES => {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(false)
        }
        Err(e) => Err(server(&e)),
    }
}

/// Runs one rollout verb against the server; returns false (after printing the error to
/// stderr) on failure.
pub fn run(connect: &ConnectArgs, args: RolloutArgs, out: &mut dyn Write) -> bool {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return false;
        }
    };
    match runtime.block_on(run_verb(connect, args.verb, out)) {
        Ok(()) => true,
        Err(e) => {
            let _ = out.flush();
            eprintln!("{e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_kubectl_timeout() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(
            parse_duration("5"),
            Err("time: invalid duration \"5\"".to_owned())
        );
        assert_eq!(
            parse_duration("s"),
            Err("time: invalid duration \"s\"".to_owned())
        );
    }

    #[test]
    fn targets_take_kubectl_forms() {
        let args = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let (info, name) = parse_target(&args(&["deployment/web"])).unwrap();
        assert_eq!((info.kind, name.as_str()), ("Deployment", "web"));
        let (info, name) = parse_target(&args(&["deploy", "web"])).unwrap();
        assert_eq!((info.kind, name.as_str()), ("Deployment", "web"));
        let (info, _) = parse_target(&args(&["deployments.apps/web"])).unwrap();
        assert_eq!(info.kind, "Deployment");
        let (info, _) = parse_target(&args(&["daemonset/agent"])).unwrap();
        assert_eq!(info.kind, "DaemonSet");
        assert_eq!(
            parse_target(&args(&["widget/x"])),
            Err("error: the server doesn't have a resource type \"widget\"".to_owned())
        );
    }
}
