//! A real `skiff up` for client tests: the binary on free loopback ports, stopped with Ctrl-C.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `skiff up` in a temporary data dir; stopped with Ctrl-C (SIGINT) when dropped.
pub struct Up {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Up {
    /// Starts `skiff up` with `nodes` in-process nodes, serving the HTTP API over TLS with its
    /// self-signed certificate, and waits for the kubeconfig it writes.
    pub fn start(nodes: u8) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .arg("--data-dir")
            .arg(dir.path())
            .args([
                "up",
                "--listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .args(["--nodes", &nodes.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("skiff up starts");
        let mut up = Self {
            child: Some(child),
            dir,
        };
        let path = up.kubeconfig();
        for _ in 0..400 {
            if std::fs::read_to_string(&path).is_ok_and(|t| t.ends_with("preferences: {}\n")) {
                // Ctrl-C is handled once the servers run, a moment after the kubeconfig.
                std::thread::sleep(Duration::from_millis(100));
                return up;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let stderr = up.stop();
        panic!("skiff up wrote no kubeconfig within 20 s; stderr:\n{stderr}");
    }

    /// The kubeconfig `skiff up` writes (`<data-dir>/kubeconfig`).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Ctrl-C, as a user stops it; returns what it wrote to stderr.
    pub fn stop(&mut self) -> String {
        let Some(mut child) = self.child.take() else {
            return String::new();
        };
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let _ = child.wait();
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        stderr
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        self.stop();
    }
}
