//! kubectl-style output: tables with kubectl's columns, `-o name|yaml|json`, and `AGE`.

use std::fmt::Write as _;

use skiff_core::object::{KindInfo, Object, Time};

/// kubectl's `HumanDuration` (apimachinery `util/duration`): `5s`, `2m30s`, `3h`, `4d5h`, `2y`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let secs = seconds.max(0);
    let (mins, hours) = (secs / 60, secs / 3600);
    let days = hours / 24;
    let years = days / 365;
    if secs < 60 * 2 {
        format!("{secs}s")
    } else if mins < 10 {
        if secs % 60 == 0 {
            format!("{mins}m")
        } else {
            format!("{mins}m{}s", secs % 60)
        }
    } else if mins < 60 * 3 {
        format!("{mins}m")
    } else if hours < 8 {
        if mins % 60 == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{}m", mins % 60)
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        if hours % 24 == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{}h", hours % 24)
        }
    } else if hours < 24 * 365 * 2 {
        format!("{days}d")
    } else if hours < 24 * 365 * 8 {
        if days % 365 == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{}d", days % 365)
        }
    } else {
        format!("{years}y")
    }
}

/// `kind.group/name` as kubectl prints it (`pod/nginx`, `replicaset.apps/web`).
pub fn resource_name(object: &Object) -> String {
    let info = object.info();
    let group = if info.group.is_empty() {
        String::new()
    } else {
        format!(".{}", info.group)
    };
    format!(
        "{}{group}/{}",
        info.singular,
        object.metadata().name_or_empty()
    )
}

fn age(object: &Object, now: Time) -> String {
    object.metadata().creation_timestamp.map_or_else(
        || "<unknown>".into(),
        |t| human_duration(now.unix_seconds - t.unix_seconds),
    )
}

fn columns(info: &KindInfo, wide: bool) -> Vec<&'static str> {
    let mut cols = match info.kind {
        "Pod" => vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "ReplicaSet" | "ReplicationController" => {
            vec!["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
        }
        "Deployment" => vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "DaemonSet" => vec![
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
        ],
        "Service" => vec![
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
        ],
        "Node" => vec!["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        "Namespace" => vec!["NAME", "STATUS", "AGE"],
        _ => vec!["NAME", "AGE"],
    };
    if wide && info.kind == "Pod" {
        cols.extend(["IP", "NODE"]);
    }
    cols
}

#[allow(clippy::too_many_lines, reason = "one arm per kind's kubectl columns")]
fn cells(object: &Object, now: Time, wide: bool) -> Vec<String> {
    let name = object.metadata().name_or_empty().to_owned();
    let age = age(object, now);
    let n = |v: Option<i32>| v.unwrap_or(0).to_string();
    match object {
        Object::Pod(pod) => {
            let total = pod.spec.containers.len();
            let ready = pod
                .status
                .container_statuses
                .iter()
                .filter(|c| c.ready)
                .count();
            let restarts: i32 = pod
                .status
                .container_statuses
                .iter()
                .map(|c| c.restart_count)
                .sum();
            let status = if pod.metadata.deletion_timestamp.is_some() {
                "Terminating".to_owned()
            } else {
                pod.status
                    .reason
                    .clone()
                    .or_else(|| pod.status.phase.clone())
                    .unwrap_or_else(|| "Pending".into())
            };
            let mut row = vec![
                name,
                format!("{ready}/{total}"),
                status,
                restarts.to_string(),
                age,
            ];
            if wide {
                row.push(pod.status.pod_ip.clone().unwrap_or_else(|| "<none>".into()));
                row.push(
                    pod.spec
                        .node_name
                        .clone()
                        .unwrap_or_else(|| "<none>".into()),
                );
            }
            row
        }
        Object::ReplicaSet(rs) => vec![
            name,
            n(rs.spec.replicas.or(Some(1))),
            rs.status.replicas.to_string(),
            n(rs.status.ready_replicas),
            age,
        ],
        Object::ReplicationController(rc) => vec![
            name,
            n(rc.spec.replicas.or(Some(1))),
            rc.status.replicas.to_string(),
            n(rc.status.ready_replicas),
            age,
        ],
        Object::Deployment(d) => vec![
            name,
            format!(
                "{}/{}",
                n(d.status.ready_replicas),
                n(d.spec.replicas.or(Some(1)))
            ),
            n(d.status.updated_replicas),
            n(d.status.available_replicas),
            age,
        ],
        Object::DaemonSet(ds) => vec![
            name,
            ds.status.desired_number_scheduled.to_string(),
            ds.status.current_number_scheduled.to_string(),
            ds.status.number_ready.to_string(),
            n(ds.status.updated_number_scheduled),
            n(ds.status.number_available),
            age,
        ],
        Object::Service(svc) => {
            let ports: Vec<String> = svc
                .spec
                .ports
                .iter()
                .map(|p| {
                    let proto = p.protocol.as_deref().unwrap_or("TCP");
                    match p.node_port {
                        Some(np) => format!("{}:{np}/{proto}", p.port),
                        None => format!("{}/{proto}", p.port),
                    }
                })
                .collect();
            vec![
                name,
                svc.spec.type_.clone().unwrap_or_else(|| "ClusterIP".into()),
                svc.spec
                    .cluster_ip
                    .clone()
                    .unwrap_or_else(|| "<none>".into()),
                if svc.spec.external_ips.is_empty() {
                    "<none>".into()
                } else {
                    svc.spec.external_ips.join(",")
                },
                if ports.is_empty() {
                    "<none>".into()
                } else {
                    ports.join(",")
                },
                age,
            ]
        }
        Object::Node(node) => {
            let ready = node.condition("Ready").map(|c| c.status.as_str());
            let mut status = match ready {
                Some("True") => "Ready".to_owned(),
                Some(_) => "NotReady".to_owned(),
                None => "Unknown".to_owned(),
            };
            if node.spec.unschedulable == Some(true) {
                status.push_str(",SchedulingDisabled");
            }
            let roles: Vec<&str> = node
                .metadata
                .labels
                .keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .collect();
            let version = node.status.node_info.kubelet_version.clone();
            vec![
                name,
                status,
                if roles.is_empty() {
                    "<none>".into()
                } else {
                    roles.join(",")
                },
                age,
                version.unwrap_or_default(),
            ]
        }
        Object::Namespace(ns) => vec![
            name,
            ns.status.phase.clone().unwrap_or_else(|| "Active".into()),
            age,
        ],
        _ => vec![name, age],
    }
}

/// The header of kind's table (with NAMESPACE first for `-A`).
pub fn header(info: &KindInfo, wide: bool, all_namespaces: bool) -> Vec<String> {
    let mut header: Vec<String> = columns(info, wide)
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    if all_namespaces && info.namespaced {
        header.insert(0, "NAMESPACE".to_owned());
    }
    header
}

/// One object's row of its kind's table.
pub fn row(object: &Object, now: Time, wide: bool, all_namespaces: bool) -> Vec<String> {
    let mut row = cells(object, now, wide);
    if all_namespaces && object.info().namespaced {
        row.insert(0, object.metadata().namespace_or_empty().to_owned());
    }
    row
}

/// Column widths of rows (in characters).
pub fn widths(rows: &[Vec<String>]) -> Vec<usize> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    (0..columns)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect()
}

/// One row padded to `widths`, three spaces between columns (kubectl's tabwriter padding).
pub fn pad(row: &[String], widths: &[usize]) -> String {
    let mut out = String::new();
    let last = row.len().saturating_sub(1);
    for (i, cell) in row.iter().enumerate() {
        if i == last {
            out.push_str(cell);
        } else {
            let width = widths.get(i).copied().unwrap_or(0);
            let _ = write!(out, "{cell:<width$}   ");
        }
    }
    out
}

/// Rows aligned in columns, one line each.
pub fn align(rows: &[Vec<String>]) -> String {
    let widths = widths(rows);
    let mut out = String::new();
    for row in rows {
        out.push_str(&pad(row, &widths));
        out.push('\n');
    }
    out
}

/// Renders objects of one kind as kubectl's table (with a NAMESPACE column for `-A`).
pub fn table(
    info: &KindInfo,
    objects: &[Object],
    now: Time,
    wide: bool,
    all_namespaces: bool,
) -> String {
    let mut rows = vec![header(info, wide, all_namespaces)];
    rows.extend(objects.iter().map(|o| row(o, now, wide, all_namespaces)));
    align(&rows)
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600 + 120, "3h2m"),
            (30 * 3600, "30h"),
            (3 * 86400 + 3600, "3d1h"),
            (40 * 86400, "40d"),
            (-5, "<invalid>"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(seconds), expected, "{seconds}s");
        }
    }
}
