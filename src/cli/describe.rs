//! `skiff describe KIND NAME`: the object's fields as kubectl shows them, then its own history
//! from the event log — who changed what, when (seed §4: every step is an event with its actor).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use skiff_core::event::{Change, Event};
use skiff_core::object::Object;

/// Changed fields listed per history entry at most.
const CHANGES_SHOWN_MAX: usize = 6;
/// Characters of a changed value shown.
const VALUE_CHARS_MAX: usize = 40;

fn map_lines(out: &mut String, title: &str, map: &BTreeMap<String, String>) {
    if map.is_empty() {
        let _ = writeln!(out, "{title:<14}<none>");
        return;
    }
    for (i, (k, v)) in map.iter().enumerate() {
        let label = if i == 0 { title } else { "" };
        let _ = writeln!(out, "{label:<14}{k}={v}");
    }
}

/// Flattens a JSON value into `path → scalar` leaves (`spec.containers[0].image`).
fn leaves(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&path, v, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                leaves(&format!("{prefix}[{i}]"), v, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

fn flatten(object: &Object) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Ok(value) = serde_json::to_value(object) {
        leaves("", &value, &mut out);
    }
    // Bookkeeping that changes with every write says nothing about what the writer changed.
    out.retain(|k, _| k != "metadata.resourceVersion" && k != "metadata.generation");
    out
}

fn short(value: Option<&String>) -> String {
    let text = value.map_or("<none>", String::as_str);
    if text.chars().count() > VALUE_CHARS_MAX {
        let cut: String = text.chars().take(VALUE_CHARS_MAX).collect();
        format!("{cut}…")
    } else {
        text.to_owned()
    }
}

/// What changed between two versions, as `path: old -> new` items.
pub fn changes(before: &Object, after: &Object) -> Vec<String> {
    let (a, b) = (flatten(before), flatten(after));
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| format!("{p}: {} -> {}", short(a.get(p)), short(b.get(p))))
        .collect()
}

fn kind_fields(out: &mut String, object: &Object) {
    match object {
        Object::Pod(pod) => {
            let _ = writeln!(
                out,
                "{:<14}{}",
                "Node:",
                pod.spec.node_name.as_deref().unwrap_or("<none>")
            );
            let _ = writeln!(
                out,
                "{:<14}{}",
                "Status:",
                pod.status.phase.as_deref().unwrap_or("Pending")
            );
            let _ = writeln!(
                out,
                "{:<14}{}",
                "IP:",
                pod.status.pod_ip.as_deref().unwrap_or("")
            );
            let _ = writeln!(out, "Containers:");
            for c in &pod.spec.containers {
                let _ = writeln!(
                    out,
                    "  {}:\n    Image:  {}",
                    c.name,
                    c.image.as_deref().unwrap_or("")
                );
            }
        }
        Object::ReplicaSet(rs) => {
            let selector = rs
                .spec
                .selector
                .as_ref()
                .map(|s| format!("{:?}", s.match_labels))
                .unwrap_or_default();
            let _ = writeln!(out, "{:<14}{selector}", "Selector:");
            let _ = writeln!(
                out,
                "{:<14}{} current / {} desired",
                "Replicas:",
                rs.status.replicas,
                rs.spec.replicas.unwrap_or(1)
            );
        }
        Object::ReplicationController(rc) => {
            let _ = writeln!(
                out,
                "{:<14}{} current / {} desired",
                "Replicas:",
                rc.status.replicas,
                rc.spec.replicas.unwrap_or(1)
            );
        }
        Object::Deployment(d) => {
            let _ = writeln!(
                out,
                "{:<14}{} desired | {} updated | {} available",
                "Replicas:",
                d.spec.replicas.unwrap_or(1),
                d.status.updated_replicas.unwrap_or(0),
                d.status.available_replicas.unwrap_or(0)
            );
        }
        _ => {}
    }
}

/// Renders `describe` for an object and its history (oldest event first).
pub fn render(object: &Object, history: &[Event]) -> String {
    let mut out = String::new();
    let meta = object.metadata();
    let _ = writeln!(out, "{:<14}{}", "Name:", meta.name_or_empty());
    if object.info().namespaced {
        let _ = writeln!(out, "{:<14}{}", "Namespace:", meta.namespace_or_empty());
    }
    let _ = writeln!(out, "{:<14}{}", "Kind:", object.info().kind);
    map_lines(&mut out, "Labels:", &meta.labels);
    map_lines(&mut out, "Annotations:", &meta.annotations);
    if let Some(t) = meta.creation_timestamp {
        let _ = writeln!(out, "{:<14}{t}", "Created:");
    }
    if let Some(t) = meta.deletion_timestamp {
        let _ = writeln!(out, "{:<14}{t}", "Deleting at:");
    }
    kind_fields(&mut out, object);
    let _ = writeln!(out, "History (from the event log):");
    let _ = writeln!(
        out,
        "  REVISION  TIME                         ACTOR                          CHANGE"
    );
    let mut previous: Option<&Object> = None;
    for event in history {
        let (action, current) = match &event.change {
            Change::Create(o) => ("created", Some(o)),
            Change::Update { object, .. } => ("updated", Some(object)),
            Change::Delete(o) => ("deleted", Some(o)),
            _ => ("", None),
        };
        let Some(current) = current else { continue };
        let _ = writeln!(
            out,
            "  {:<8}  {:<27}  {:<29}  {action}",
            event.revision,
            event.at.to_string(),
            event.actor.user
        );
        if let (Some(before), "updated") = (previous, action) {
            let changed = changes(before, current);
            for line in changed.iter().take(CHANGES_SHOWN_MAX) {
                let _ = writeln!(out, "            {line}");
            }
            if changed.len() > CHANGES_SHOWN_MAX {
                let _ = writeln!(
                    out,
                    "            … and {} more",
                    changed.len() - CHANGES_SHOWN_MAX
                );
            }
        }
        previous = Some(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::changes;
    use skiff_core::manifest::parse_str;

    #[test]
    fn changes_list_changed_leaves_only() {
        let a = parse_str("a", "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: r, resourceVersion: \"1\"}\nspec: {replicas: 3}\n").unwrap();
        let b = parse_str("b", "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: r, resourceVersion: \"2\", labels: {x: y}}\nspec: {replicas: 6}\n").unwrap();
        assert_eq!(
            changes(&a[0], &b[0]),
            [
                "metadata.labels.x: <none> -> \"y\"",
                "spec.replicas: 3 -> 6"
            ]
        );
    }
}
