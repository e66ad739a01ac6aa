//! `crictl` on a node, as the kubelet's node API runs it for `skiff crictl --node N …` (seed
//! §1 table): `ps [-a]`, `pods`, `images`, `inspect ID`, `inspectp ID`, `logs [--tail N] ID`,
//! `exec ID CMD…`, `stats`, `info`, `version`, `pull IMG`, `rmi IMG`, `stop ID`, `rm ID`.
//! Tables come from [`crate::cri::crictl`]; ids may be given as unique prefixes, as crictl
//! accepts. Output and exit codes follow crictl: errors go to standard error with exit code 1.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use skiff_core::client::ExecOutput;

use super::server::rfc3339_nano;
use crate::cri::{
    ContainerFilter, ContainerState, PullImageResponse, Runtime, SandboxFilter, SandboxState,
    crictl,
};

/// How long `crictl pull` waits for a pull in progress (polling the runtime).
pub const PULL_WAIT_MAX: Duration = Duration::from_secs(600);
/// How long `crictl stop` lets a container stop before it is killed (crictl's `--timeout`
/// default is 0; the runtime kills at once).
const STOP_TIMEOUT: Duration = Duration::ZERO;

fn ok(stdout: String) -> ExecOutput {
    ExecOutput {
        stdout: stdout.into_bytes(),
        stderr: Vec::new(),
        exit_code: 0,
    }
}

fn fail(message: &str) -> ExecOutput {
    ExecOutput {
        stdout: Vec::new(),
        stderr: format!("{message}\n").into_bytes(),
        exit_code: 1,
    }
}

/// The usage line of each verb, for `crictl` without a verb or with a wrong one.
const USAGE: &str = "usage: crictl <ps [-a] | pods | images | inspect ID | inspectp ID | logs [--tail N] ID | exec ID CMD... | stats | info | version | pull IMAGE | rmi IMAGE | stop ID | rm ID>";

/// A container id from a unique prefix.
fn container_id(rt: &dyn Runtime, prefix: &str) -> Result<String, String> {
    let ids: Vec<String> = rt
        .list_containers(&ContainerFilter::default())
        .into_iter()
        .map(|c| c.id)
        .filter(|id| id.starts_with(prefix))
        .collect();
    unique(ids, prefix, "container")
}

/// A sandbox id from a unique prefix.
fn sandbox_id(rt: &dyn Runtime, prefix: &str) -> Result<String, String> {
    let ids: Vec<String> = rt
        .list_pod_sandbox(&SandboxFilter::default())
        .into_iter()
        .map(|s| s.id)
        .filter(|id| id.starts_with(prefix))
        .collect();
    unique(ids, prefix, "pod sandbox")
}

fn unique(mut ids: Vec<String>, prefix: &str, what: &str) -> Result<String, String> {
    if prefix.is_empty() {
        return Err("ID cannot be empty".to_owned());
    }
    if let Some(exact) = ids.iter().position(|id| id == prefix) {
        return Ok(ids.swap_remove(exact));
    }
    match ids.len() {
        1 => Ok(ids.swap_remove(0)),
        0 => Err(format!(
            "rpc error: code = NotFound desc = {what} {prefix:?} not found"
        )),
        _ => Err(format!("{what} id {prefix:?} is ambiguous")),
    }
}

fn state_text(s: ContainerState) -> &'static str {
    match s {
        ContainerState::Created => "CONTAINER_CREATED",
        ContainerState::Running => "CONTAINER_RUNNING",
        ContainerState::Exited => "CONTAINER_EXITED",
        ContainerState::Unknown => "CONTAINER_UNKNOWN",
    }
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn inspect(rt: &dyn Runtime, prefix: &str) -> Result<String, String> {
    let id = container_id(rt, prefix)?;
    let c = rt.container_status(&id).map_err(|e| e.to_string())?;
    let time = |t: Option<SystemTime>| t.map_or(Value::Null, |t| Value::String(rfc3339_nano(t)));
    Ok(pretty(&json!({
        "status": {
            "id": c.id,
            "metadata": {"attempt": c.metadata.attempt, "name": c.metadata.name},
            "state": state_text(c.state),
            "createdAt": rfc3339_nano(c.created_at),
            "startedAt": time(c.started_at),
            "finishedAt": time(c.finished_at),
            "exitCode": c.exit_code,
            "image": {"image": c.image},
            "imageRef": c.image_ref,
            "reason": c.reason,
            "message": c.message,
            "labels": c.labels,
            "annotations": c.annotations,
        },
        "info": {"sandboxID": c.sandbox_id},
    })))
}

fn inspectp(rt: &dyn Runtime, prefix: &str) -> Result<String, String> {
    let id = sandbox_id(rt, prefix)?;
    let s = rt.pod_sandbox_status(&id).map_err(|e| e.to_string())?;
    Ok(pretty(&json!({
        "status": {
            "id": s.id,
            "metadata": {
                "attempt": s.metadata.attempt,
                "name": s.metadata.name,
                "namespace": s.metadata.namespace,
                "uid": s.metadata.uid,
            },
            "state": match s.state {
                SandboxState::Ready => "SANDBOX_READY",
                SandboxState::NotReady => "SANDBOX_NOTREADY",
            },
            "createdAt": rfc3339_nano(s.created_at),
            "network": {"ip": s.ip.unwrap_or_default()},
            "hostname": s.hostname,
            "labels": s.labels,
            "annotations": s.annotations,
        },
    })))
}

fn info(rt: &dyn Runtime) -> String {
    let status = rt.status();
    let conditions: Vec<Value> = status
        .conditions
        .iter()
        .map(|c| {
            json!({
                "type": c.type_,
                "status": c.status,
                "reason": c.reason,
                "message": c.message,
            })
        })
        .collect();
    pretty(&json!({"status": {"conditions": conditions}}))
}

async fn pull(rt: &dyn Runtime, image: &str) -> Result<String, String> {
    let mut waited = Duration::ZERO;
    loop {
        match rt
            .pull_image(image)
            .map_err(|e| format!("pulling image: {e}"))?
        {
            PullImageResponse::Pulled { .. } => {
                let id = rt
                    .image_status(image)
                    .ok()
                    .flatten()
                    .map(|i| i.id)
                    .unwrap_or_default();
                return Ok(format!("Image is up to date for {id}\n"));
            }
            PullImageResponse::InProgress { remaining } => {
                if waited >= PULL_WAIT_MAX {
                    return Err(format!("pulling image {image:?}: still in progress"));
                }
                let step = remaining.clamp(Duration::from_millis(10), Duration::from_secs(1));
                tokio::time::sleep(step).await;
                waited += step;
            }
        }
    }
}

/// Runs one crictl command line against `rt` at wall time `now`.
pub async fn run(rt: &dyn Runtime, args: &[String], now: SystemTime) -> ExecOutput {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result: Result<String, String> = match words.as_slice() {
        ["ps"] => Ok(crictl::ps(rt, false, now)),
        ["ps", "-a" | "--all"] => Ok(crictl::ps(rt, true, now)),
        ["pods"] => Ok(crictl::pods(rt, now)),
        ["images" | "image" | "img"] => Ok(crictl::images(rt)),
        ["inspect", id] => inspect(rt, id),
        ["inspectp", id] => inspectp(rt, id),
        ["logs", id] => container_id(rt, id)
            .and_then(|id| crictl::logs(rt, &id, None).map_err(|e| e.to_string())),
        ["logs", "--tail" | "-t", n, id] => match n.parse::<usize>() {
            Ok(n) => container_id(rt, id)
                .and_then(|id| crictl::logs(rt, &id, Some(n)).map_err(|e| e.to_string())),
            Err(_) => Err(format!("invalid value {n:?} for flag --tail")),
        },
        ["exec", id, cmd @ ..] if !cmd.is_empty() => {
            return match container_id(rt, id) {
                Ok(id) => {
                    let cmd: Vec<String> = cmd.iter().map(|s| (*s).to_owned()).collect();
                    match rt.exec_sync(&id, &cmd, super::server::EXEC_TIMEOUT) {
                        Ok(r) => ExecOutput {
                            stdout: r.stdout,
                            stderr: r.stderr,
                            exit_code: r.exit_code,
                        },
                        Err(e) => fail(&format!("execing command in container: {e}")),
                    }
                }
                Err(e) => fail(&e),
            };
        }
        ["stats"] => Ok(crictl::stats(rt)),
        ["info"] => Ok(info(rt)),
        ["version"] => Ok(crictl::version(rt)),
        ["pull", image] => pull(rt, image).await,
        ["rmi", images @ ..] if !images.is_empty() => {
            let mut out = String::new();
            let mut errors = Vec::new();
            for image in images {
                match rt.remove_image(image) {
                    Ok(()) => {
                        let _ = writeln!(out, "Deleted: {}", crate::cri::normalize_image(image));
                    }
                    Err(e) => errors.push(format!("error of removing image {image:?}: {e}")),
                }
            }
            if errors.is_empty() {
                Ok(out)
            } else {
                return ExecOutput {
                    stdout: out.into_bytes(),
                    stderr: format!("{}\n", errors.join("\n")).into_bytes(),
                    exit_code: 1,
                };
            }
        }
        ["stop", ids @ ..] if !ids.is_empty() => each(rt, ids, |rt, id| {
            rt.stop_container(id, STOP_TIMEOUT)
                .map_err(|e| format!("stopping the container {id:?}: {e}"))
        }),
        ["rm", ids @ ..] if !ids.is_empty() => each(rt, ids, |rt, id| {
            rt.remove_container(id)
                .map_err(|e| format!("removing container {id:?}: {e}"))
        }),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(stdout) => ok(stdout),
        Err(e) => fail(&e),
    }
}

/// `stop`/`rm`: each id printed once done, crictl's way.
fn each(
    rt: &dyn Runtime,
    ids: &[&str],
    act: impl Fn(&dyn Runtime, &str) -> Result<(), String>,
) -> Result<String, String> {
    let mut out = String::new();
    for prefix in ids {
        let id = container_id(rt, prefix)?;
        act(rt, &id)?;
        out.push_str(prefix);
        out.push('\n');
    }
    Ok(out)
}
