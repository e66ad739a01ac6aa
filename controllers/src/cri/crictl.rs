//! crictl's views of a runtime (seed §1: `crictl ps`, `pods`, `images`, `logs`, `exec`,
//! `stats`, `version`), as text in crictl's table layout (Go `tabwriter` with minimum width
//! 20 and padding 3; ids cut to 13 characters; docker's human durations).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::{
    ContainerFilter, ContainerState, LogOptions, Result, Runtime, SandboxFilter, SandboxState,
};

/// Lays out rows as crictl's tabwriter does (`tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)`).
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(20)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn short(id: &str) -> String {
    id.chars().take(13).collect()
}

/// Docker's `units.HumanDuration` followed by " ago" (crictl's CREATED column).
pub fn ago(then: SystemTime, now: SystemTime) -> String {
    let d = now.duration_since(then).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let text = match secs {
        0 => "Less than a second".to_owned(),
        1 => "1 second".to_owned(),
        s if s < 60 => format!("{s} seconds"),
        s if s / 60 == 1 => "About a minute".to_owned(),
        s if s < 60 * 60 => format!("{} minutes", s / 60),
        s if (s + 1800) / 3600 == 1 => "About an hour".to_owned(),
        s if s < 48 * 3600 => format!("{} hours", (s + 1800) / 3600),
        s if s < 7 * 24 * 3600 * 2 => format!("{} days", s / (24 * 3600)),
        s if s < 30 * 24 * 3600 * 3 => format!("{} weeks", s / (7 * 24 * 3600)),
        s if s < 365 * 24 * 3600 * 2 => format!("{} months", s / (30 * 24 * 3600)),
        s => format!("{} years", s / (365 * 24 * 3600)),
    };
    format!("{text} ago")
}

fn state_name(s: ContainerState) -> &'static str {
    match s {
        ContainerState::Created => "Created",
        ContainerState::Running => "Running",
        ContainerState::Exited => "Exited",
        ContainerState::Unknown => "Unknown",
    }
}

/// `crictl ps` (running containers; `all` adds the exited ones, as `crictl ps -a`).
pub fn ps(rt: &dyn Runtime, all: bool, now: SystemTime) -> String {
    let sandboxes = rt.list_pod_sandbox(&SandboxFilter::default());
    let mut rows = vec![
        [
            "CONTAINER",
            "IMAGE",
            "CREATED",
            "STATE",
            "NAME",
            "ATTEMPT",
            "POD ID",
            "POD",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    let mut containers = rt.list_containers(&ContainerFilter::default());
    // Newest first, as crictl sorts.
    containers.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    for c in containers {
        if !all && c.state != ContainerState::Running {
            continue;
        }
        let pod = sandboxes
            .iter()
            .find(|s| s.id == c.sandbox_id)
            .map(|s| s.metadata.name.clone())
            .unwrap_or_default();
        rows.push(vec![
            short(&c.id),
            c.image.clone(),
            ago(c.created_at, now),
            state_name(c.state).to_owned(),
            c.metadata.name.clone(),
            c.metadata.attempt.to_string(),
            short(&c.sandbox_id),
            pod,
        ]);
    }
    table(&rows)
}

/// `crictl pods`.
pub fn pods(rt: &dyn Runtime, now: SystemTime) -> String {
    let mut rows = vec![
        [
            "POD ID",
            "CREATED",
            "STATE",
            "NAME",
            "NAMESPACE",
            "ATTEMPT",
            "RUNTIME",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    let mut sandboxes = rt.list_pod_sandbox(&SandboxFilter::default());
    sandboxes.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    for s in sandboxes {
        rows.push(vec![
            short(&s.id),
            ago(s.created_at, now),
            match s.state {
                SandboxState::Ready => "Ready",
                SandboxState::NotReady => "NotReady",
            }
            .to_owned(),
            s.metadata.name.clone(),
            s.metadata.namespace.clone(),
            s.metadata.attempt.to_string(),
            "(default)".to_owned(),
        ]);
    }
    table(&rows)
}

fn human_size(bytes: u64) -> String {
    // Docker's `units.HumanSizeWithPrecision(size, 3)` (decimal units).
    let units = ["B", "kB", "MB", "GB", "TB"];
    #[allow(
        clippy::cast_precision_loss,
        reason = "a display rounding to three significant digits"
    )]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let rounded = format!("{value:.digits$}");
    let trimmed = if rounded.contains('.') {
        rounded
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    } else {
        rounded
    };
    format!("{trimmed}{}", units[unit])
}

/// `crictl images`.
pub fn images(rt: &dyn Runtime) -> String {
    let mut rows = vec![
        ["IMAGE", "TAG", "IMAGE ID", "SIZE"]
            .map(str::to_owned)
            .to_vec(),
    ];
    let mut lines = Vec::new();
    for image in rt.list_images() {
        for tag in &image.repo_tags {
            let (repo, t) = tag.rsplit_once(':').unwrap_or((tag, "<none>"));
            lines.push(vec![
                repo.to_owned(),
                t.to_owned(),
                short(image.id.trim_start_matches("sha256:")),
                human_size(image.size),
            ]);
        }
    }
    lines.sort();
    rows.extend(lines);
    table(&rows)
}

/// `crictl logs [--tail N] <container>`.
pub fn logs(rt: &dyn Runtime, id: &str, tail: Option<usize>) -> Result<String> {
    let lines = rt.container_logs(id, &LogOptions { tail, since: None })?;
    Ok(lines.iter().fold(String::new(), |mut s, l| {
        s.push_str(&l.text);
        s.push('\n');
        s
    }))
}

/// `crictl exec <container> <cmd…>`: standard output, standard error and the exit code.
pub fn exec(rt: &dyn Runtime, id: &str, cmd: &[&str]) -> Result<(String, String, i32)> {
    let cmd: Vec<String> = cmd.iter().map(|s| (*s).to_owned()).collect();
    let r = rt.exec_sync(id, &cmd, Duration::from_secs(10))?;
    Ok((r.stdout_text(), r.stderr_text(), r.exit_code))
}

/// `crictl stats`.
pub fn stats(rt: &dyn Runtime) -> String {
    let mut rows = vec![
        ["CONTAINER", "NAME", "CPU %", "MEM", "DISK", "INODES"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for s in rt.list_container_stats() {
        rows.push(vec![
            short(&s.id),
            s.metadata.name.clone(),
            "0.00".to_owned(),
            human_size(s.memory_working_set_bytes),
            "0B".to_owned(),
            "0".to_owned(),
        ]);
    }
    table(&rows)
}

/// `crictl version`.
pub fn version(rt: &dyn Runtime) -> String {
    let v = rt.version();
    format!(
        "Version:  {}\nRuntimeName:  {}\nRuntimeVersion:  {}\nRuntimeApiVersion:  {}\n",
        v.version, v.runtime_name, v.runtime_version, v.runtime_api_version
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use skiff_core::clock::{Clock, ManualClock};

    use super::*;
    use crate::cri::sim::{SimConfig, SimRuntime};
    use crate::cri::{ContainerConfig, ContainerMetadata, PodSandboxConfig, PodSandboxMetadata};

    #[test]
    fn ps_pods_and_images_print_crictl_tables() {
        let clock = ManualClock::new(1_700_000_000);
        let rt = SimRuntime::new(Arc::new(clock.clone()), SimConfig::default());
        rt.update_runtime_config("10.244.0.0/24").unwrap();
        let sb = rt
            .run_pod_sandbox(&PodSandboxConfig {
                metadata: PodSandboxMetadata {
                    name: "nginx".into(),
                    uid: "u1".into(),
                    namespace: "default".into(),
                    attempt: 0,
                },
                hostname: "nginx".into(),
                ..PodSandboxConfig::default()
            })
            .unwrap();
        rt.pull_image("nginx").unwrap();
        let c = rt
            .create_container(
                &sb,
                &ContainerConfig {
                    metadata: ContainerMetadata {
                        name: "nginx".into(),
                        attempt: 0,
                    },
                    image: "nginx".into(),
                    ..ContainerConfig::default()
                },
            )
            .unwrap();
        rt.start_container(&c).unwrap();
        clock.advance(Duration::from_secs(90));
        let now = clock.wall();
        let ps = ps(&rt, false, now);
        let lines: Vec<&str> = ps.lines().collect();
        assert_eq!(
            lines[0],
            "CONTAINER           IMAGE               CREATED              STATE               NAME                ATTEMPT             POD ID              POD"
        );
        assert_eq!(
            lines[1],
            format!(
                "{:<20}nginx               About a minute ago   Running             nginx               0                   {:<20}nginx",
                &c[..13],
                &sb[..13]
            )
        );
        assert_eq!(
            pods(&rt, now).lines().nth(1).unwrap(),
            format!(
                "{:<20}About a minute ago   Ready               nginx               default             0                   (default)",
                &sb[..13]
            )
        );
        let images = images(&rt);
        assert!(
            images.contains("docker.io/library/nginx   latest              "),
            "{images}"
        );
        assert!(images.contains("72MB"), "{images}");
        assert!(images.contains("registry.k8s.io/pause"), "{images}");
        assert_eq!(
            logs(&rt, &c, None).unwrap(),
            "/docker-entrypoint.sh: Configuration complete; ready for start up\n"
        );
        assert_eq!(
            exec(&rt, &c, &["hostname"]).unwrap(),
            ("nginx\n".to_owned(), String::new(), 0)
        );
        assert!(version(&rt).contains("RuntimeName:  skiff-sim"));
        assert!(stats(&rt).contains("nginx"));
    }

    #[test]
    fn durations_read_like_docker() {
        let t = std::time::UNIX_EPOCH;
        let s = Duration::from_secs;
        assert_eq!(ago(t, t), "Less than a second ago");
        assert_eq!(ago(t, t + s(45)), "45 seconds ago");
        assert_eq!(ago(t, t + s(100)), "About a minute ago");
        assert_eq!(ago(t, t + s(600)), "10 minutes ago");
        assert_eq!(ago(t, t + s(3700)), "About an hour ago");
        assert_eq!(ago(t, t + s(5 * 3600)), "5 hours ago");
        assert_eq!(human_size(72_000_000), "72MB");
        assert_eq!(human_size(320_000), "320kB");
        assert_eq!(human_size(4_300_000), "4.3MB");
    }
}
