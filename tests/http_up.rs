//! `skiff up` serves the Kubernetes HTTP API beside the wire protocol and writes
//! `<data-dir>/kubeconfig` for it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn up(data_dir: &Path, http_args: &[&str]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["up", "--listen", "127.0.0.1:0"])
        .args(http_args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
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
    panic!("skiff up did not start within 10 s");
}

/// Ctrl-C, as a user stops it; returns what it wrote to stderr.
fn stop(mut child: Child) -> String {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

fn get(addr: &str, path: &str, token: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    stream.flush().unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

fn kubeconfig(data_dir: &Path) -> String {
    let path = data_dir.join("kubeconfig");
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(&path)
            && text.ends_with("preferences: {}\n")
        {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no kubeconfig within 5 s");
}

#[test]
fn up_serves_https_by_default_with_the_certificate_in_the_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let child = up(dir.path(), &["--http-listen", "127.0.0.1:0"]);
    let kubeconfig = kubeconfig(dir.path());
    assert!(
        kubeconfig.contains("    server: https://127.0.0.1:"),
        "{kubeconfig}"
    );
    assert!(
        kubeconfig.contains("    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"),
        "{kubeconfig}"
    );
    // Ctrl-C is handled once the servers run, a moment after the kubeconfig is written.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(stop(child), "");
}

#[test]
fn up_serves_the_http_api_and_writes_a_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let child = up(
        dir.path(),
        &["--http-listen", "127.0.0.1:0", "--http-insecure"],
    );
    let kubeconfig = kubeconfig(dir.path());
    let token = std::fs::read_to_string(dir.path().join("admin.token")).unwrap();
    let server = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: http://"))
        .unwrap()
        .to_owned();
    assert!(kubeconfig.contains(&format!("    token: {}\n", token.trim())));
    assert!(kubeconfig.contains("current-context: skiff\n"));

    let version = get(&server, "/version", None);
    assert!(version.starts_with("HTTP/1.1 200 OK\r\n"), "{version}");
    assert!(version.contains(r#""minor":"33""#), "{version}");
    let with_token = get(&server, "/api/v1/namespaces/default", Some(token.trim()));
    assert!(
        with_token.starts_with("HTTP/1.1 200 OK\r\n"),
        "{with_token}"
    );
    assert!(with_token.contains(r#""kind":"Namespace""#), "{with_token}");
    // kubectl sends no token over plain HTTP: on loopback that is upstream's insecure port.
    let without = get(&server, "/api/v1/namespaces/default", None);
    assert!(without.starts_with("HTTP/1.1 200 OK\r\n"), "{without}");
    let wrong = get(&server, "/api/v1/namespaces/default", Some("wrong"));
    assert!(
        wrong.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
        "{wrong}"
    );

    // A second cluster whose HTTP address is taken still starts, without the HTTP API.
    let other = tempfile::tempdir().unwrap();
    let second = up(other.path(), &["--http-listen", &server, "--http-insecure"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!other.path().join("kubeconfig").exists());
    let warning = stop(second);
    assert!(
        warning.starts_with(&format!(
            "warning: the Kubernetes HTTP API is off: listen on {server}: "
        )),
        "{warning}"
    );
    assert_eq!(stop(child), "");
}
