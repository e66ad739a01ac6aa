//! The real kubectl against skiff's HTTPS API: finding the binary, an API server in this
//! process on a free loopback port (store in memory, manual clock, self-signed certificate,
//! bearer token), and a kubectl bound to a kubeconfig in a temporary directory.
#![allow(dead_code, reason = "each test file uses part of the kit")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use skiff::core::clock::ManualClock;
use skiff::http::{HttpApi, TlsIdentity, kubeconfig, serve_with};
use skiff::store::apiserver::authn::Authenticator;
use skiff::store::apiserver::{ApiHandler, ApiServer};
use skiff::store::{Backing, Store};

/// `kubectl` on PATH, if there is one.
pub fn kubectl_on_path() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kubectl"))
            .find(|p| p.is_file())
    })
}

/// Starts the API (store in memory, manual clock) and its HTTPS front on a free loopback
/// port; returns the runtime that serves it and the kubeconfig.
pub fn start() -> (tokio::runtime::Runtime, String) {
    serve(|clock| async move {
        let store = Store::open(Backing::Memory, clock.clone()).unwrap();
        let api = Arc::new(ApiServer::new(store, clock.clone(), 7));
        api.bootstrap().await.unwrap();
        let handler = Arc::new(ApiHandler::new(
            api,
            Authenticator::with_key([7; 32], "admin-token"),
        ));
        HttpApi::new(handler, clock)
    })
}

/// Serves the API `make` builds (on a manual clock at 1,700,000,000 s, bearer token
/// `admin-token`) over HTTPS on a free loopback port; returns the runtime that serves it and
/// the kubeconfig.
pub fn serve<F, Fut>(make: F) -> (tokio::runtime::Runtime, String)
where
    F: FnOnce(Arc<ManualClock>) -> Fut,
    Fut: std::future::Future<Output = HttpApi>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let identity = TlsIdentity::self_signed(&["127.0.0.1".to_owned()]).unwrap();
    let acceptor = identity.acceptor().unwrap();
    let config = runtime.block_on(async {
        let http = make(Arc::new(ManualClock::new(1_700_000_000))).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_with(listener, Arc::new(http), Some(acceptor)));
        kubeconfig(
            &format!("https://{addr}"),
            "admin-token",
            Some(&identity.cert_pem),
        )
    });
    (runtime, config)
}

/// A kubectl binary with its own kubeconfig, cache and home in a temporary directory.
pub struct Kubectl {
    binary: PathBuf,
    dir: tempfile::TempDir,
}

impl Kubectl {
    /// `binary` with the kubeconfig text `config`.
    pub fn new(binary: PathBuf, config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), config).unwrap();
        Self { binary, dir }
    }

    /// The command for `kubectl <args>`, not started (run from the crate's directory).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("--kubeconfig")
            .arg(self.dir.path().join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", self.dir.path())
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
        command
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.command(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs kubectl, which must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.run(args);
        assert!(ok, "kubectl {args:?} failed:\n{stdout}{stderr}");
        stdout
    }

    /// Writes `text` to `name` in the kubectl's directory; returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}
