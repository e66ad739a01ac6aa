//! `skiff logs`, `skiff exec` and `skiff crictl --node N` against `skiff up` with an
//! in-process node: the real binary as the server and as the CLI; every call goes CLI → wire →
//! API server → the kubelet's node API.

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

/// (exit code, stdout, stderr).
fn run(data_dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = skiff(data_dir, args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Kills `skiff up` if the test fails before stopping it.
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// crictl's table with each row's cells (split at runs of two or more spaces), ids and ages
/// replaced by placeholders: what stays the same from run to run.
fn normalized(table: &str) -> String {
    let mut out = String::new();
    for (row, line) in table.lines().enumerate() {
        let cells: Vec<&str> = line
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let cells: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| match (row, i) {
                (0, _) => (*c).to_owned(),
                (_, 0) => "<container id>".to_owned(),
                (_, 2) if c.ends_with(" ago") => "<age>".to_owned(),
                (_, 6) => "<pod id>".to_owned(),
                _ => (*c).to_owned(),
            })
            .collect();
        out.push_str(&cells.join(" | "));
        out.push('\n');
    }
    out
}

#[test]
#[allow(clippy::too_many_lines, reason = "one session, told in order")]
fn logs_exec_and_crictl_reach_the_node_through_skiff_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let up = Up(Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(data)
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--nodes",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("skiff up starts"));
    for _ in 0..200 {
        if data.join("config.json").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, _, err) = run(data, &["run", "nginx", "--image=nginx"]);
    assert_eq!(code, 0, "{err}");
    let mut phase = String::new();
    for _ in 0..300 {
        phase = run(data, &["get", "pod", "nginx", "-o", "json"]).1;
        if phase.contains("\"phase\": \"Running\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(phase.contains("\"phase\": \"Running\""), "{phase}");

    let ready = "/docker-entrypoint.sh: Configuration complete; ready for start up\n";
    assert_eq!(
        run(data, &["logs", "nginx"]),
        (0, ready.to_owned(), String::new())
    );
    assert_eq!(
        run(data, &["logs", "nginx", "--tail", "1", "-c", "nginx"]),
        (0, ready.to_owned(), String::new())
    );
    assert_eq!(
        run(data, &["exec", "nginx", "--", "hostname"]),
        (0, "nginx\n".to_owned(), String::new())
    );
    // A failing command's exit code is the CLI's, with kubectl's note.
    assert_eq!(
        run(
            data,
            &["exec", "nginx", "--", "sh", "-c", "echo no; exit 3"]
        ),
        (
            3,
            "no\n".to_owned(),
            "command terminated with exit code 3\n".to_owned()
        )
    );
    assert_eq!(
        run(data, &["exec", "nginx", "-c", "sidecar", "--", "hostname"]),
        (
            1,
            String::new(),
            "Error from server (BadRequest): container sidecar is not valid for pod nginx\n"
                .to_owned()
        )
    );

    // logs -f follows a container until it stops.
    let counter = data.join("counter.yaml");
    std::fs::write(
        &counter,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: counter}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: c, image: busybox, command: [sh, -c, 'echo one; sleep 2; echo two']}\n",
    )
    .unwrap();
    let (code, _, err) = run(data, &["apply", "-f", counter.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for _ in 0..300 {
        if run(data, &["logs", "counter"]).1 == "one\n" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        run(data, &["logs", "counter", "-f"]),
        (0, "one\ntwo\n".to_owned(), String::new())
    );

    // crictl on the node: its containers in crictl's columns.
    let (code, ps, err) = run(data, &["crictl", "--node", "node-1", "ps"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        ps.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        [
            "CONTAINER",
            "IMAGE",
            "CREATED",
            "STATE",
            "NAME",
            "ATTEMPT",
            "POD",
            "ID",
            "POD"
        ]
    );
    insta::assert_snapshot!("crictl_ps_on_skiff_up", normalized(&ps));
    let (code, images, _) = run(data, &["crictl", "--node", "node-1", "images"]);
    assert_eq!(code, 0);
    assert!(
        images.starts_with("IMAGE ") && images.contains("docker.io/library/nginx"),
        "{images}"
    );
    assert_eq!(
        run(data, &["crictl", "--node", "node-9", "ps"]),
        (
            1,
            String::new(),
            "Error from server (NotFound): nodes \"node-9\" not found\n".to_owned()
        )
    );
    let status = Command::new("kill")
        .args(["-INT", &up.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
