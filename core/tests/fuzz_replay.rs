//! Replays the fuzz targets' seed inputs and saved regressions on stable, so CI covers them.

use std::fs;
use std::path::{Path, PathBuf};

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn manifest_target_holds_on_examples_and_regressions() {
    let mut inputs = files_in(&repo().join("examples"));
    inputs.extend(files_in(&repo().join("fuzz/regressions/manifest")));
    let conformance = repo().join("../shared/conformance/manifests");
    if conformance.is_dir() {
        inputs.extend(files_in(&conformance));
    } else {
        eprintln!(
            "note: {} not found; conformance seeds skipped",
            conformance.display()
        );
    }
    assert!(
        inputs.len() >= 5,
        "expected the examples at least, found {inputs:?}"
    );
    for input in inputs {
        let bytes = fs::read(&input).unwrap();
        skiff_core::fuzz::manifest(&bytes);
    }
}
