//! `skiff proxy-rules --node N` end to end: the real binary as `skiff up` and as the CLI, the
//! seed's §8 service (10.96.0.12 → 10.32.0.15) and a NodePort service without endpoints.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn skiff(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
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

fn stop(mut child: Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "skiff up exits cleanly on Ctrl-C: {exit}");
}

const MANIFESTS: &str = "
apiVersion: v1
kind: Node
metadata: {name: node01}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.12
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints  # written by hand: `web` has no selector, so no controller owns them
metadata: {name: web, namespace: default}
subsets:
- addresses: [{ip: 10.32.0.15, nodeName: node01}]
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: default}
spec:
  type: NodePort
  selector: {app: shop}
  clusterIP: 10.96.1.7
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
";

#[test]
fn proxy_rules_prints_the_nodes_rules_from_a_running_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let manifest = dir.path().join("web.yaml");
    std::fs::write(&manifest, MANIFESTS).unwrap();
    let server = up(&data);
    ok(&data, &["apply", "-f", manifest.to_str().unwrap()]);

    let rules = ok(&data, &["proxy-rules", "--node", "node01"]);
    // The `kubernetes` Service of the bootstrap has no Endpoints here: it is rejected too.
    insta::assert_snapshot!(rules);

    // -t nat: the nat table alone, exactly as it appears in the full output.
    let nat = ok(&data, &["proxy-rules", "--node", "node01", "-t", "nat"]);
    assert!(nat.starts_with("*nat\n:KUBE-SERVICES - [0:0]\n"), "{nat}");
    assert!(rules.ends_with(&nat));

    let missing = skiff(&data, &["proxy-rules", "--node", "node09"]);
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "Error from server: nodes \"node09\" not found\n"
    );
    let bad = skiff(
        &data,
        &[
            "proxy-rules",
            "--node",
            "node01",
            "--cluster-cidr",
            "10.244.0.1/16",
        ],
    );
    assert!(!bad.status.success());
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "error: --cluster-cidr: invalid CIDR address: 10.244.0.1/16\n"
    );
    stop(server);
}
