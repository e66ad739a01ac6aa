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
    up_with(data_dir, &[])
}

/// Starts `skiff up` with extra flags.
fn up_with(data_dir: &Path, extra: &[&str]) -> Child {
    let _ = std::fs::remove_file(data_dir.join("config.json"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(data_dir)
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .args(extra)
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
        "Error from server (NotFound): pods \"nginx\" not found\n"
    );
    assert_eq!(
        ok(
            data,
            &["scale", "deploy", "myapp-deployment", "--replicas=1"]
        ),
        "deployment.apps/myapp-deployment scaled\n"
    );
    assert_eq!(
        ok(data, &["delete", "svc", "myapp-service"]),
        "service \"myapp-service\" deleted\n"
    );
    stop(server);

    // Every acknowledged change is there after the restart.
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
    let deploy = ok(data, &["get", "deploy", "myapp-deployment", "-o", "yaml"]);
    assert!(deploy.contains("\n  replicas: 1\n"), "{deploy}");
    assert_eq!(
        ok(data, &["get", "rc", "-o", "name"]),
        "replicationcontroller/myapp-rc\n"
    );
    // Only the `kubernetes` Service bootstrap made is left.
    assert_eq!(names(&ok(data, &["get", "svc"])), ["kubernetes"]);
    let unknown = skiff(data, &["get", "widgets"]);
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr),
        "error: the server doesn't have a resource type \"widgets\"\n"
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

/// Runs skiff with `stdin` as its standard input.
fn with_stdin(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn fails(data_dir: &Path, args: &[&str]) -> String {
    let out = skiff(data_dir, args);
    assert!(!out.status.success(), "skiff {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

#[allow(clippy::too_many_lines, reason = "one session against one server")]
#[test]
fn maintenance_verbs_work_against_a_running_server() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let up_server = up(data);
    ok(data, &["apply", "-f", "examples/pod-definition.yaml"]);

    // label / annotate with kubectl's overwrite rule.
    assert_eq!(
        ok(data, &["label", "pods", "nginx", "env=prod"]),
        "pod/nginx labeled\n"
    );
    assert_eq!(
        fails(data, &["label", "pod/nginx", "tier=backend"]),
        "error: 'tier' already has a value (frontend), and --overwrite is false\n"
    );
    assert_eq!(
        ok(data, &["label", "pod/nginx", "tier=backend", "--overwrite"]),
        "pod/nginx labeled\n"
    );
    assert_eq!(
        ok(data, &["annotate", "pods", "nginx", "owner=team-a"]),
        "pod/nginx annotated\n"
    );
    assert_eq!(
        ok(
            data,
            &[
                "patch",
                "pod",
                "nginx",
                "-p",
                r#"{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}"#
            ]
        ),
        "pod/nginx patched\n"
    );

    // A node to cordon, taint and drain.
    // Born tainted, so the scheduler of `skiff up` never puts the pods of this test on it.
    let node = with_stdin(
        data,
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: worker-1\n\
         spec:\n  taints:\n  - {key: reserved, effect: NoSchedule}\n",
    );
    assert!(node.status.success(), "{node:?}");
    assert_eq!(
        ok(data, &["taint", "nodes", "worker-1", "gpu=true:NoSchedule"]),
        "node/worker-1 tainted\n"
    );
    assert_eq!(
        ok(data, &["cordon", "worker-1"]),
        "node/worker-1 cordoned\n"
    );
    let nodes = ok(data, &["get", "nodes"]);
    assert!(
        nodes.contains("worker-1   Unknown,SchedulingDisabled"),
        "{nodes}"
    );
    assert_eq!(
        ok(data, &["drain", "worker-1"]),
        "node/worker-1 already cordoned\nnode/worker-1 drained\n"
    );
    assert_eq!(
        ok(data, &["uncordon", "worker-1"]),
        "node/worker-1 uncordoned\n"
    );

    // Discovery and authorization questions.
    let resources = ok(data, &["api-resources"]);
    assert_eq!(
        resources.lines().next().unwrap(),
        "NAME                     SHORTNAMES   APIVERSION                     NAMESPACED   KIND"
    );
    assert_eq!(ok(data, &["auth", "can-i", "create", "pods"]), "yes\n");
    let no = skiff(data, &["auth", "can-i", "create", "pods", "--as", "jane"]);
    assert_eq!(
        (
            no.status.code(),
            String::from_utf8_lossy(&no.stdout).as_ref()
        ),
        (Some(1), "no\n")
    );

    // etcdctl through the running server (the data dir is locked by it).
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("config.json")).unwrap()).unwrap();
    let server = config["server"].as_str().unwrap().to_owned();
    assert_eq!(
        ok(
            data,
            &[
                "etcdctl",
                "--server",
                &server,
                "get",
                "/registry/pods/",
                "--prefix",
                "--keys-only"
            ]
        ),
        "/registry/pods/default/nginx\n\n"
    );
    let status = ok(
        data,
        &["etcdctl", "--server", &server, "endpoint", "status"],
    );
    assert!(
        status.starts_with(&format!("{server}, 0.1.0, -, ")),
        "{status}"
    );
    let locked = skiff(data, &["etcdctl", "get", "/registry/pods/", "--prefix"]);
    assert!(
        String::from_utf8_lossy(&locked.stderr)
            .contains("with skiff up running, `--server` reads through it"),
        "{locked:?}"
    );

    // get -w: the list, then a row per change.
    let mut watch = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(data)
        .args(["get", "pods", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let header = lines.next().unwrap().unwrap();
    assert!(
        header.starts_with("NAME    READY   STATUS    RESTARTS   AGE"),
        "{header}"
    );
    assert!(
        lines
            .next()
            .unwrap()
            .unwrap()
            .starts_with("nginx   0/1     Pending   0 ")
    );
    ok(data, &["run", "web", "--image=nginx"]);
    // nginx may change meanwhile (the scheduler records why it cannot place it): skip its rows.
    let added = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|line| !line.starts_with("nginx "))
        .unwrap();
    assert!(added.starts_with("web     0/1     Pending   0 "), "{added}");
    ok(data, &["delete", "pod", "web"]);
    let deleted = lines.next().unwrap().unwrap();
    assert!(deleted.starts_with("web "), "{deleted}");
    watch.kill().unwrap();
    watch.wait().unwrap();
    stop(up_server);

    // The edits survive a restart.
    let server = up(data);
    let pod = ok(data, &["get", "pod", "nginx", "-o", "yaml"]);
    for expected in [
        "env: prod",
        "tier: backend",
        "owner: team-a",
        "image: nginx:1.27",
    ] {
        assert!(pod.contains(expected), "{expected} in {pod}");
    }
    let node = ok(data, &["get", "node", "worker-1", "-o", "yaml"]);
    assert!(
        node.contains("key: gpu") && !node.contains("unschedulable"),
        "{node}"
    );
    stop(server);
}

#[test]
fn static_token_file_users_authenticate_and_are_authorized_by_rbac() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "s3cret-jane,jane,1001,\"devs\"\n").unwrap();
    let server = up_with(
        &data,
        &[
            "--nodes",
            "0",
            "--token-auth-file",
            tokens.to_str().unwrap(),
        ],
    );
    let jane = skiff(&data, &["--token", "s3cret-jane", "get", "pods"]);
    assert!(!jane.status.success());
    assert_eq!(
        String::from_utf8_lossy(&jane.stderr),
        "Error from server (Forbidden): pods is forbidden: User \"jane\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"\n"
    );
    let stranger = skiff(&data, &["--token", "wrong", "get", "pods"]);
    assert!(!stranger.status.success());
    assert_eq!(
        String::from_utf8_lossy(&stranger.stderr),
        "error: You must be logged in to the server (Unauthorized)\n"
    );
    stop(server);
}
