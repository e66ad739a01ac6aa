//! kubectl's columns for server-side Tables, from the CLI's own printer (`src/cli/print.rs`,
//! compiled here too) so `kubectl get` and `skiff get` print the same table.

use skiff_core::object::{KindInfo, Object, Time};

#[allow(
    dead_code,
    reason = "the CLI's printer; the HTTP API uses only its columns"
)]
#[path = "../cli/print.rs"]
mod print;

/// Splits a rendered one-row table into its header and its cells: every column but the last
/// is padded to its width plus three spaces, and header names have no spaces, so the header
/// words mark where each column starts.
fn split(rendered: &str) -> (Vec<String>, Vec<String>) {
    let mut lines = rendered.lines();
    let header: Vec<char> = lines.next().unwrap_or("").chars().collect();
    let row: Vec<char> = lines.next().unwrap_or("").chars().collect();
    let mut starts = Vec::new();
    for (i, c) in header.iter().enumerate() {
        if *c != ' ' && (i == 0 || header[i - 1] == ' ') {
            starts.push(i);
        }
    }
    let cut = |text: &[char], from: usize, to: Option<usize>| -> String {
        let to = to.unwrap_or(text.len()).min(text.len());
        let from = from.min(to);
        text[from..to]
            .iter()
            .collect::<String>()
            .trim_end()
            .to_owned()
    };
    let mut names = Vec::new();
    let mut cells = Vec::new();
    for (k, start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied();
        names.push(cut(&header, *start, end));
        cells.push(cut(&row, *start, end));
    }
    (names, cells)
}

/// The column names of `info`'s table (`-o wide` adds some).
pub fn header(info: &KindInfo, wide: bool) -> Vec<String> {
    split(&print::table(
        info,
        &[],
        Time::from_unix_seconds(0),
        wide,
        false,
    ))
    .0
}

/// One object's cells, in [`header`]'s order.
pub fn row(object: &Object, now: Time, wide: bool) -> Vec<String> {
    split(&print::table(
        object.info(),
        std::slice::from_ref(object),
        now,
        wide,
        false,
    ))
    .1
}
