//! `skiff validate` end to end: the real binary, its output and its exit status.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn skiff(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the skiff binary runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn examples_are_all_valid() {
    let out = skiff(&["validate", "-f", "examples/"], None);
    assert_eq!(
        stdout(&out),
        "deployment/myapp-deployment (apps/v1) ok\n\
         pod/nginx (v1) ok\n\
         replicationcontroller/myapp-rc (v1) ok\n\
         replicaset/myapp-replicaset (apps/v1) ok\n\
         service/myapp-service (v1) ok\n"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn errors_from_stdin_are_located_and_fail_the_run() {
    let manifest = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web\nspec:\n  replicas: three\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n";
    let out = skiff(&["validate", "-f", "-"], Some(manifest));
    assert_eq!(
        stdout(&out),
        "error: -: document 1, line 6, column 13: spec.replicas: expected i32, found three\n\
         configmap/fine (v1) ok\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_missing_path_is_an_error() {
    let out = skiff(&["validate", "-f", "no/such/file.yaml"], None);
    assert_eq!(
        stdout(&out),
        "error: the path \"no/such/file.yaml\" does not exist\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

fn conformance_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/manifests");
    dir.is_dir().then_some(dir)
}

/// seed §10 and the conformance corpus: every file of a kind skiff serves is accepted; every
/// other file fails only because its kind is not served (or names a removed API version).
#[test]
fn conformance_manifests_are_accepted_or_rejected_only_as_unsupported() {
    let Some(dir) = conformance_dir() else {
        eprintln!("note: ../shared/conformance/manifests not found; skipped");
        return;
    };
    let out = skiff(&["validate", "-f", dir.to_str().unwrap()], None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "some files are of unserved kinds"
    );
    let text = stdout(&out);
    let mut ok = 0;
    for line in text.lines() {
        if line.ends_with(" ok") {
            ok += 1;
        } else {
            assert!(
                line.contains("is not supported by skiff")
                    || line.contains("ReplicaSet is served at apps/v1, not extensions/v1beta1"),
                "unexpected line: {line}"
            );
        }
    }
    assert_eq!(ok, 64, "objects of served kinds accepted:\n{text}");
    assert!(
        out.stderr.is_empty(),
        "nothing on stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn version_prints_the_crate_version() {
    let out = skiff(&["version"], None);
    assert_eq!(
        stdout(&out),
        format!("skiff {}\n", env!("CARGO_PKG_VERSION"))
    );
}
