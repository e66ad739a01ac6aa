//! `skiff rollout status|history|undo|pause|resume` end to end: the real `skiff up` (store, API
//! server, controller manager, scheduler; no kubelets, so pods never become ready) and the real
//! CLI, with kubectl's exact wording.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const NAME: &str = "myapp-deployment";

fn skiff(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the skiff binary runs")
}

fn ok(data_dir: &Path, args: &[&str]) -> String {
    let out = skiff(data_dir, args);
    assert!(
        out.status.success(),
        "skiff {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a verb that must fail; returns its stdout and stderr.
fn fails(data_dir: &Path, args: &[&str]) -> (String, String) {
    let out = skiff(data_dir, args);
    assert!(
        !out.status.success(),
        "skiff {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs `args` until its stdout is `want` (at most 20 s); returns the last stdout.
fn poll_until(data_dir: &Path, args: &[&str], want: &str) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        last = ok(data_dir, args);
        if last == want {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    last
}

/// Starts `skiff up` on a free port and waits until it has written its client config.
fn up(data_dir: &Path) -> Child {
    let _ = std::fs::remove_file(data_dir.join("config.json"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["up", "--listen", "127.0.0.1:0", "--nodes", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("skiff up starts");
    for _ in 0..200 {
        if data_dir.join("config.json").exists() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("skiff up did not write its config within 10 s");
}

/// Stops `skiff up` with Ctrl-C (SIGINT) and waits for it.
fn stop(mut child: Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "skiff up exits cleanly on Ctrl-C: {exit}");
}

/// The objects `skiff get KIND -o json` prints (one JSON document each).
fn json_objects(data_dir: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let text = ok(data_dir, args);
    serde_json::Deserializer::from_str(&text)
        .into_iter::<serde_json::Value>()
        .map(Result::unwrap)
        .collect()
}

fn deployment_image(data_dir: &Path) -> String {
    let d = &json_objects(data_dir, &["get", "deploy", NAME, "-o", "json"])[0];
    d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The pod-template-hash of the Deployment's ReplicaSet at `revision`.
fn hash_of_revision(data_dir: &Path, revision: &str) -> String {
    json_objects(data_dir, &["get", "rs", "-o", "json"])
        .iter()
        .find(|rs| {
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"].as_str()
                == Some(revision)
        })
        .and_then(|rs| rs["metadata"]["labels"]["pod-template-hash"].as_str())
        .expect("a ReplicaSet at the revision")
        .to_owned()
}

fn history_table(rows: &[&str]) -> String {
    let mut text = format!("deployment.apps/{NAME} \nREVISION  CHANGE-CAUSE\n");
    for r in rows {
        let _ = writeln!(text, "{r:<10}<none>");
    }
    text.push('\n');
    text
}

#[test]
#[allow(clippy::too_many_lines, reason = "one session, step by step")]
fn rollout_verbs_speak_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let server = up(data);
    assert_eq!(
        ok(
            data,
            &["apply", "-f", "examples/deployment-definition.yaml"]
        ),
        format!("deployment.apps/{NAME} created\n")
    );

    // status: the ReplicaSet gets its 3 pods, but no kubelet ever makes them ready.
    let waiting = format!(
        "Waiting for deployment \"{NAME}\" rollout to finish: 0 of 3 updated replicas are available...\n"
    );
    let deploy = format!("deployment/{NAME}");
    assert_eq!(
        poll_until(
            data,
            &["rollout", "status", &deploy, "--watch=false"],
            &waiting
        ),
        waiting
    );
    assert_eq!(
        ok(
            data,
            &["rollout", "status", "deploy", NAME, "--watch=false"]
        ),
        waiting
    );
    // Watching with a timeout: the line once, then kubectl's timeout error.
    let (stdout, stderr) = fails(data, &["rollout", "status", &deploy, "--timeout=1s"]);
    assert_eq!(stdout, waiting);
    assert_eq!(stderr, "error: timed out waiting for the condition\n");
    let (_, stderr) = fails(
        data,
        &["rollout", "status", "deployment/nope", "--watch=false"],
    );
    assert_eq!(
        stderr,
        "Error from server: deployments.apps \"nope\" not found\n"
    );

    assert_eq!(
        fails(data, &["rollout", "status", "pod/nginx"]).1,
        "error: no status viewer has been implemented for Pod\n"
    );
    assert_eq!(
        fails(data, &["rollout", "pause", "daemonset/agent"]).1,
        "error: daemonsets.apps \"agent\" pausing is not supported\n"
    );

    // pause / resume, and kubectl's errors when already in that state.
    assert_eq!(
        ok(data, &["rollout", "pause", &deploy]),
        format!("deployment.apps/{NAME} paused\n")
    );
    assert_eq!(
        fails(data, &["rollout", "pause", &deploy]).1,
        format!("error: deployments.apps \"{NAME}\" is already paused\n")
    );
    assert_eq!(
        fails(data, &["rollout", "undo", &deploy]).1,
        format!(
            "error: you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume deployment/{NAME}' and try again\n"
        )
    );
    assert_eq!(
        ok(data, &["rollout", "resume", &deploy]),
        format!("deployment.apps/{NAME} resumed\n")
    );
    assert_eq!(
        fails(data, &["rollout", "resume", &deploy]).1,
        format!("error: deployments.apps \"{NAME}\" is not paused\n")
    );

    // history: revision 1; a new image makes revision 2.
    assert_eq!(
        poll_until(
            data,
            &["rollout", "history", &deploy],
            &history_table(&["1"])
        ),
        history_table(&["1"])
    );
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/deployment-definition.yaml"),
    )
    .unwrap();
    assert!(manifest.contains("image: nginx:1.27"));
    let updated = dir.path().join("deployment-1.28.yaml");
    std::fs::write(
        &updated,
        manifest.replace("image: nginx:1.27", "image: nginx:1.28"),
    )
    .unwrap();
    assert_eq!(
        ok(data, &["apply", "-f", updated.to_str().unwrap()]),
        format!("deployment.apps/{NAME} configured\n")
    );
    assert_eq!(
        poll_until(
            data,
            &["rollout", "history", &deploy],
            &history_table(&["1", "2"])
        ),
        history_table(&["1", "2"])
    );
    let hash = hash_of_revision(data, "2");
    assert_eq!(
        ok(data, &["rollout", "history", &deploy, "--revision=2"]),
        format!(
            "deployment.apps/{NAME} with revision #2\n\
             Pod Template:\n\
             \x20 Labels:      app=myapp-web\n\
             \x20              pod-template-hash={hash}\n\
             \x20 Containers:\n\
             \x20  nginx:\n\
             \x20   Image:       nginx:1.28\n\
             \x20   Port:        80/TCP\n\
             \x20   Host Port:   0/TCP\n\
             \x20   Environment: <none>\n\
             \x20   Mounts:      <none>\n\
             \x20 Volumes:     <none>\n\n"
        )
    );
    assert_eq!(
        fails(data, &["rollout", "history", &deploy, "--revision=7"]).1,
        "error: unable to find the specified revision\n"
    );

    // undo: back to revision 1's template, which becomes revision 3.
    assert_eq!(
        fails(data, &["rollout", "undo", &deploy, "--to-revision=9"]).1,
        "error: unable to find specified revision 9 in history\n"
    );
    assert_eq!(
        ok(data, &["rollout", "undo", &deploy]),
        format!("deployment.apps/{NAME} rolled back\n")
    );
    assert_eq!(deployment_image(data), "nginx:1.27");
    assert_eq!(
        poll_until(
            data,
            &["rollout", "history", &deploy],
            &history_table(&["2", "3"])
        ),
        history_table(&["2", "3"])
    );
    assert_eq!(
        ok(data, &["rollout", "undo", &deploy, "--to-revision=3"]),
        format!(
            "deployment.apps/{NAME} skipped rollback (current template already matches revision 3)\n"
        )
    );

    // status --watch follows the rollout to its end (the rollback's rollout is stuck on pods
    // that never become available; scaled to 0, there is nothing left to wait for).
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(data)
        .args(["rollout", "status", &deploy, "--timeout=60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        ok(data, &["scale", "deploy", NAME, "--replicas=0"]),
        format!("deployment.apps/{NAME} scaled\n")
    );
    let exit = watcher.wait().unwrap();
    let mut stdout = String::new();
    watcher
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    watcher
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(exit.success(), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.last().copied(),
        Some(format!("deployment \"{NAME}\" successfully rolled out").as_str()),
        "{stdout}"
    );
    let waiting_prefix = format!("Waiting for deployment \"{NAME}\" rollout to finish: ");
    assert!(lines.len() >= 2, "{stdout}");
    assert!(
        lines[..lines.len() - 1].iter().all(|l| {
            l.starts_with(&waiting_prefix)
                || *l == "Waiting for deployment spec update to be observed..."
        }),
        "{stdout}"
    );
    // Each line is new: kubectl's line per change, repeats left out.
    assert!(lines.windows(2).all(|w| w[0] != w[1]), "{stdout}");
    assert_eq!(stderr, "");
    stop(server);
}
