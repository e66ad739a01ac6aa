//! `get -w`: kubectl's watch output. The list first, as a table; then one row per change, in
//! the list's columns, as each ADDED, MODIFIED or DELETED event arrives (kubectl prints the
//! object's row for every event type alike, without the event name unless asked).

use std::io::Write;

use skiff_core::client::{Client, ListParams, WatchEvent};
use skiff_core::clock::{Clock, SystemClock};
use skiff_core::object::KindInfo;

use super::print::{header, pad, row, widths};
use super::verbs::{Failure, Outcome};

/// Lists, prints the table, then prints a row per change until the watch ends.
#[allow(
    clippy::too_many_arguments,
    reason = "the flags of `get`, passed through"
)]
pub async fn run(
    client: &dyn Client,
    out: &mut dyn Write,
    info: &'static KindInfo,
    namespace: &str,
    all_namespaces: bool,
    name: Option<&str>,
    selector: Option<&str>,
    wide: bool,
) -> Outcome {
    let scope = if all_namespaces || !info.namespaced {
        None
    } else {
        Some(namespace)
    };
    let params = ListParams {
        label_selector: selector.unwrap_or_default().to_owned(),
        field_selector: name
            .map(|n| format!("metadata.name={n}"))
            .unwrap_or_default(),
        ..ListParams::default()
    };
    let list = client.list(info, scope, params.clone()).await?;
    let clock = SystemClock::new();
    let mut rows = vec![header(info, wide, all_namespaces)];
    rows.extend(
        list.items
            .iter()
            .map(|o| row(o, clock.now_time(), wide, all_namespaces)),
    );
    let mut widths = widths(&rows);
    if list.items.is_empty() {
        rows.truncate(0);
    }
    for r in &rows {
        let _ = writeln!(out, "{}", pad(r, &widths));
    }
    let _ = out.flush();
    let mut watch = client
        .watch(
            info,
            scope,
            ListParams {
                resource_version: Some(list.resource_version.to_string()),
                ..params
            },
        )
        .await?;
    let mut printed_header = !list.items.is_empty();
    while let Some(event) = watch.next().await {
        let object = match event {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => o,
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(status) => return Err(Failure::Server(status)),
        };
        let cells = row(&object, clock.now_time(), wide, all_namespaces);
        for (w, c) in widths.iter_mut().zip(&cells) {
            *w = (*w).max(c.chars().count());
        }
        if !printed_header {
            let _ = writeln!(out, "{}", pad(&header(info, wide, all_namespaces), &widths));
            printed_header = true;
        }
        let _ = writeln!(out, "{}", pad(&cells, &widths));
        let _ = out.flush();
    }
    Ok(())
}
