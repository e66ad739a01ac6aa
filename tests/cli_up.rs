//! `skiff up` and the kubectl-style verbs end to end: the real binary as a server process and
//! as the CLI, a restart in the middle, and nothing acknowledged lost.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

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

/// Starts `skiff up` on a free port and waits until it has written its client config.
fn up(data_dir: &Path) -> Child {
    let _ = std::fs::remove_file(data_dir.join("config.json"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["up", "--listen", "127.0.0.1:0"])
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

/// Stops `skiff up` the way a user does, with Ctrl-C (SIGINT), and waits for it.
fn stop(mut child: Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "skiff up exits cleanly on Ctrl-C: {exit}");
}

fn names(listing: &str) -> Vec<String> {
    listing
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn the_seed_session_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let server = up(data);
    assert_eq!(
        ok(data, &["apply", "-f", "examples/"]),
        "deployment.apps/myapp-deployment created\npod/nginx created\n\
         replicationcontroller/myapp-rc created\nreplicaset.apps/myapp-replicaset created\n\
         service/myapp-service created\n"
    );
    assert!(names(&ok(data, &["get", "pods"])).contains(&"nginx".to_owned()));
    assert_eq!(
        ok(data, &["scale", "--replicas=6", "rs", "myapp-replicaset"]),
        "replicaset.apps/myapp-replicaset scaled\n"
    );
    assert_eq!(
        ok(data, &["delete", "pod", "nginx"]),
        "pod \"nginx\" deleted\n"
    );
    assert_eq!(
        ok(data, &["run", "web", "--image=nginx"]),
        "pod/web created\n"
    );
    let missing = skiff(data, &["get", "pod", "nginx"]);
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "Error from server: pods \"nginx\" not found\n"
    );
    stop(server);

    let server = up(data);
    let pods = names(&ok(data, &["get", "pods"]));
    assert!(pods.contains(&"web".to_owned()), "{pods:?}");
    assert!(!pods.contains(&"nginx".to_owned()), "{pods:?}");
    // The controller manager runs in `skiff up`: the ReplicaSet scaled to 6 gets its 6 pods.
    let mut replicas = 0;
    for _ in 0..100 {
        replicas = names(&ok(data, &["get", "pods"]))
            .iter()
            .filter(|n| n.starts_with("myapp-replicaset-"))
            .count();
        if replicas == 6 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(replicas, 6);
    let rs = ok(data, &["get", "rs", "myapp-replicaset", "-o", "yaml"]);
    assert!(rs.contains("\n  replicas: 6\n"), "{rs}");
    let unknown = skiff(data, &["get", "widgets"]);
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr),
        "Error from server: the server doesn't have a resource type \"widgets\"\n"
    );
    assert_eq!(
        ok(
            data,
            &["apply", "-f", "examples/replicaset-definition.yaml"]
        ),
        "replicaset.apps/myapp-replicaset configured\n"
    );
    stop(server);
}
