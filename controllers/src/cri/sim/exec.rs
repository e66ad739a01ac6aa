//! Commands `exec` runs inside a simulated container (busybox's wording for errors).
#![allow(
    clippy::single_match_else,
    clippy::too_many_lines,
    reason = "one arm per command reads best as one long match"
)]

use std::time::Duration;

use super::program::split_commands;
use super::{HostOp, State, ip_text, join};
use crate::cri::{ExecSyncResponse, HttpResponse};

#[derive(Default)]
struct Out {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Out {
    fn out(&mut self, text: &str) {
        self.stdout.extend_from_slice(text.as_bytes());
    }
    fn err(&mut self, text: &str) {
        self.stderr.extend_from_slice(text.as_bytes());
    }
}

fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// Runs `cmd` in container `id` at `now`.
pub(super) fn run(s: &mut State, id: &str, cmd: &[String], now: Duration) -> ExecSyncResponse {
    let mut out = Out::default();
    let exit_code = match cmd {
        [shell, flag, script, ..]
            if matches!(basename(shell), "sh" | "bash" | "ash") && flag == "-c" =>
        {
            let mut code = 0;
            for words in split_commands(script) {
                code = simple(s, id, &words, now, &mut out, true);
                if words[0] == "exit" {
                    break;
                }
            }
            code
        }
        [] => {
            out.err("exec: no command given\n");
            126
        }
        _ => simple(s, id, cmd, now, &mut out, false),
    };
    ExecSyncResponse {
        stdout: out.stdout,
        stderr: out.stderr,
        exit_code,
    }
}

/// Resolves a path against the working directory.
fn absolute(cwd: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        join(cwd, path)
    }
}

fn simple(
    s: &mut State,
    id: &str,
    words: &[String],
    now: Duration,
    out: &mut Out,
    in_shell: bool,
) -> i32 {
    let (words, redirect) = match words.iter().position(|w| w == ">" || w == ">>") {
        Some(i) => (&words[..i], words.get(i + 1).cloned()),
        None => (words, None),
    };
    let Some(c) = s.containers.get(id) else {
        return 1;
    };
    let cwd = c
        .config
        .working_dir
        .clone()
        .unwrap_or_else(|| "/".to_owned());
    let Some(first) = words.first() else {
        return 0;
    };
    let args = &words[1..];
    match basename(first) {
        "hostname" => {
            let host = s
                .sandboxes
                .get(&c.sandbox_id)
                .map_or_else(String::new, |sb| sb.config.hostname.clone());
            out.out(&format!("{host}\n"));
            0
        }
        "env" | "printenv" => {
            let env = environment(s, id);
            match args.first() {
                Some(name) => match env.iter().find(|(k, _)| k == name) {
                    Some((_, v)) => {
                        out.out(&format!("{v}\n"));
                        0
                    }
                    None => 1,
                },
                None => {
                    for (k, v) in env {
                        out.out(&format!("{k}={v}\n"));
                    }
                    0
                }
            }
        }
        "cat" => {
            let files = s.container_files(c, now);
            let mut code = 0;
            for a in args {
                match files.get(&absolute(&cwd, a)) {
                    Some(content) => out.stdout.extend_from_slice(content),
                    None => {
                        out.err(&format!(
                            "cat: can't open '{a}': No such file or directory\n"
                        ));
                        code = 1;
                    }
                }
            }
            code
        }
        "ls" => {
            let files = s.container_files(c, now);
            let targets: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
            let dirs = if targets.is_empty() {
                vec![cwd.clone()]
            } else {
                targets.iter().map(|t| absolute(&cwd, t)).collect()
            };
            let mut code = 0;
            for dir in dirs {
                if files.contains_key(&dir) {
                    out.out(&format!("{dir}\n"));
                    continue;
                }
                let names: std::collections::BTreeSet<&str> = files
                    .keys()
                    .filter_map(|p| {
                        if dir == "/" {
                            p.strip_prefix('/')
                        } else {
                            p.strip_prefix(dir.trim_end_matches('/'))
                                .and_then(|r| r.strip_prefix('/'))
                        }
                    })
                    .filter_map(|rest| rest.split('/').next())
                    .collect();
                if names.is_empty() && dir != "/" {
                    out.err(&format!("ls: {dir}: No such file or directory\n"));
                    code = 1;
                }
                for n in names {
                    out.out(&format!("{n}\n"));
                }
            }
            code
        }
        "echo" => {
            let text = format!("{}\n", args.join(" "));
            match redirect {
                Some(path) => write(
                    s,
                    id,
                    &absolute(&cwd, &path),
                    Some(text.into_bytes()),
                    now,
                    out,
                ),
                None => {
                    out.out(&text);
                    0
                }
            }
        }
        "touch" => {
            let files = s.container_files(c, now);
            let mut code = 0;
            for a in args {
                let path = absolute(&cwd, a);
                if !files.contains_key(&path) {
                    code |= write(s, id, &path, Some(Vec::new()), now, out);
                }
            }
            code
        }
        "rm" => {
            let mut code = 0;
            for a in args.iter().filter(|a| !a.starts_with('-')) {
                code |= write(s, id, &absolute(&cwd, a), None, now, out);
            }
            code
        }
        "true" | ":" | "sleep" | "mkdir" | "cd" => 0,
        "false" => 1,
        "exit" => args.first().and_then(|a| a.parse().ok()).unwrap_or(0),
        "wget" | "curl" => http(s, id, basename(first), args, now, out),
        other => {
            if in_shell {
                out.err(&format!("sh: {other}: not found\n"));
                127
            } else {
                out.err(&format!(
                    "OCI runtime exec failed: exec failed: unable to start container process: \
                     exec: \"{other}\": executable file not found in $PATH: unknown\n"
                ));
                126
            }
        }
    }
}

/// The process environment: the image's, then `HOSTNAME`, then the container's own (which
/// override), then `HOME`.
fn environment(s: &State, id: &str) -> Vec<(String, String)> {
    let Some(c) = s.containers.get(id) else {
        return Vec::new();
    };
    let mut env: Vec<(String, String)> = s
        .catalog_entry(&super::repository_of(&c.image_key))
        .map(|i| i.env.clone())
        .unwrap_or_default();
    if let Some(sb) = s.sandboxes.get(&c.sandbox_id) {
        env.push(("HOSTNAME".to_owned(), sb.config.hostname.clone()));
    }
    for (k, v) in &c.config.envs {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    if !env.iter().any(|(k, _)| k == "HOME") {
        env.push(("HOME".to_owned(), "/root".to_owned()));
    }
    env
}

fn write(
    s: &mut State,
    id: &str,
    path: &str,
    content: Option<Vec<u8>>,
    now: Duration,
    out: &mut Out,
) -> i32 {
    let seq = s.next_seq();
    let Some(c) = s.containers.get_mut(id) else {
        return 1;
    };
    match State::mounted(c, path) {
        Some((mount, _)) if mount.readonly => {
            out.err(&format!("sh: can't create {path}: Read-only file system\n"));
            1
        }
        Some((mount, rest)) => {
            let host = join(&mount.host_path, &rest);
            s.host_ops.push(HostOp {
                at: now,
                seq,
                path: host,
                content,
            });
            0
        }
        None => {
            c.writes.push((now, seq, path.to_owned(), content));
            0
        }
    }
}

/// `wget`/`curl` of `http://host[:port]/path`.
fn http(s: &mut State, id: &str, tool: &str, args: &[String], now: Duration, out: &mut Out) -> i32 {
    let mut url = None;
    let mut to_stdout = tool == "curl";
    let mut skip_next = false;
    for a in args {
        if skip_next {
            skip_next = false;
            if a == "-" {
                to_stdout = true;
            }
            continue;
        }
        match a.as_str() {
            "-O" | "-T" | "--timeout" | "-m" | "--max-time" | "-o" => skip_next = true,
            "-" => to_stdout = true,
            _ if a.starts_with('-') => {
                if a.ends_with("O-") {
                    to_stdout = true;
                }
            }
            _ => url = Some(a.clone()),
        }
    }
    let Some(url) = url else {
        out.err(&format!("{tool}: no URL specified\n"));
        return 1;
    };
    let rest = url.strip_prefix("http://").unwrap_or(&url);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(80)),
        None => (authority.to_owned(), 80u16),
    };
    let Some(c) = s.containers.get(id) else {
        return 1;
    };
    let own_ip = s
        .sandboxes
        .get(&c.sandbox_id)
        .and_then(|sb| sb.ip)
        .map(ip_text)
        .unwrap_or_default();
    let namespace = s
        .sandboxes
        .get(&c.sandbox_id)
        .map(|sb| sb.config.metadata.namespace.clone())
        .unwrap_or_default();
    let caller = crate::cri::Caller {
        namespace: &namespace,
        pod_ip: &own_ip,
    };
    let is_ip = host.parse::<std::net::Ipv4Addr>().is_ok();
    let target = if host == "localhost" || host == "127.0.0.1" {
        Some((own_ip.clone(), port))
    } else if !s.sandboxes_of_ip(&host).is_empty() {
        Some((host.clone(), port))
    } else {
        s.network
            .as_ref()
            .and_then(|n| n.resolve(&caller, &host, port))
    };
    let refused = |out: &mut Out, ip: &str| {
        if tool == "curl" {
            out.err(&format!(
                "curl: (7) Failed to connect to {host} port {port}: Connection refused\n"
            ));
            7
        } else {
            out.err(&format!(
                "wget: can't connect to remote host ({ip}): Connection refused\n"
            ));
            1
        }
    };
    let Some((ip, port)) = target else {
        if is_ip {
            return refused(out, &host);
        }
        if tool == "curl" {
            out.err(&format!("curl: (6) Could not resolve host: {host}\n"));
            return 6;
        }
        out.err(&format!("wget: bad address '{host}'\n"));
        return 1;
    };
    let response: Option<HttpResponse> = if s.sandboxes_of_ip(&ip).is_empty() {
        let network = s.network.clone();
        network.and_then(|n| n.http_get(&caller, &ip, port, &path))
    } else {
        s.serve_http(now, &ip, port, &path, &own_ip)
    };
    let Some(response) = response.filter(|r| r.status != 0) else {
        return refused(out, &ip);
    };
    if tool == "curl" {
        out.stdout.extend_from_slice(&response.body);
        return 0;
    }
    if response.status >= 400 {
        let text = match response.status {
            404 => "Not Found",
            403 => "Forbidden",
            _ => "Error",
        };
        out.err(&format!(
            "wget: server returned error: HTTP/1.1 {} {text}\n",
            response.status
        ));
        return 1;
    }
    if to_stdout {
        out.stdout.extend_from_slice(&response.body);
    } else {
        let cwd = s
            .containers
            .get(id)
            .and_then(|c| c.config.working_dir.clone())
            .unwrap_or_else(|| "/".to_owned());
        let file = absolute(&cwd, "index.html");
        write(s, id, &file, Some(response.body), now, out);
        out.err(&format!(
            "Connecting to {host} ({ip}:{port})\nsaving to 'index.html'\n'index.html' saved\n"
        ));
    }
    0
}
