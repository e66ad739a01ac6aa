//! Replays the fuzz targets' seed inputs and saved regressions on stable, so CI covers them:
//! every file in `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/` goes through the
//! target's body in `skiff_core::fuzz` (see FUZZING.md).

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

/// The seeds and regressions of `target`; at least one seed, so a moved directory fails loudly.
fn corpus(target: &str) -> Vec<PathBuf> {
    let seeds = files_in(&repo().join("fuzz/seeds").join(target));
    assert!(
        !seeds.is_empty(),
        "no seeds for {target} in fuzz/seeds/{target}"
    );
    let mut inputs = seeds;
    inputs.extend(files_in(&repo().join("fuzz/regressions").join(target)));
    inputs
}

fn replay(inputs: &[PathBuf], body: fn(&[u8])) {
    for input in inputs {
        let bytes = fs::read(input).unwrap();
        eprintln!("replaying {}", input.display());
        body(&bytes);
    }
}

#[test]
fn manifest_target_holds_on_examples_seeds_and_regressions() {
    let mut inputs = files_in(&repo().join("examples"));
    assert!(
        inputs.len() >= 5,
        "expected the examples at least, found {inputs:?}"
    );
    inputs.extend(corpus("manifest"));
    // shared/ sits beside the clone (CI), or beside the worktrees' folder (/work/wt/<name>).
    let conformance = ["../shared", "../../shared"]
        .map(|shared| repo().join(shared).join("conformance/manifests"))
        .into_iter()
        .find(|dir| dir.is_dir());
    match conformance {
        Some(dir) => inputs.extend(files_in(&dir)),
        None => {
            eprintln!("note: shared/conformance/manifests not found; conformance seeds skipped");
        }
    }
    replay(&inputs, skiff_core::fuzz::manifest);
}

#[test]
fn selector_target_holds_on_seeds_and_regressions() {
    replay(&corpus("selector"), skiff_core::fuzz::selector);
}

#[test]
fn quantity_target_holds_on_seeds_and_regressions() {
    replay(&corpus("quantity"), skiff_core::fuzz::quantity);
}
