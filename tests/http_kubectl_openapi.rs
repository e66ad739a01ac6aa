//! The real kubectl against skiff's OpenAPI documents: `kubectl explain` (OpenAPI v3, and v2
//! with `--output plaintext-openapiv2`) prints skiff's own descriptions and field lists, and
//! `kubectl apply --validate=strict` refuses an unknown field. Every installed kubectl minor
//! (the dispatcher's `kubectl.1.27` … `kubectl.1.33` next to it) is run. The API runs in this
//! process on a free loopback port over TLS, as in `http_kubectl.rs`. Skipped, with a
//! message, when `kubectl` is not on PATH.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use skiff::core::clock::ManualClock;
use skiff::http::{HttpApi, TlsIdentity, kubeconfig, serve_with};
use skiff::store::apiserver::authn::Authenticator;
use skiff::store::apiserver::{ApiHandler, ApiServer};
use skiff::store::{Backing, Store};

fn kubectl_on_path() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kubectl"))
            .find(|p| p.is_file())
    })
}

/// The per-minor binaries next to the dispatcher (`kubectl.1.27` …), or the one on PATH.
fn kubectl_binaries() -> Vec<(String, PathBuf)> {
    let Some(dispatcher) = kubectl_on_path() else {
        return Vec::new();
    };
    let real = std::fs::canonicalize(&dispatcher).unwrap_or(dispatcher.clone());
    let dir = real.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut out: Vec<(String, PathBuf)> = (27..=33)
        .map(|minor| (format!("1.{minor}"), dir.join(format!("kubectl.1.{minor}"))))
        .filter(|(_, p)| p.is_file())
        .collect();
    if out.is_empty() {
        out.push(("PATH".to_owned(), dispatcher));
    }
    out
}

fn start() -> (tokio::runtime::Runtime, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let identity = TlsIdentity::self_signed(&["127.0.0.1".to_owned()]).unwrap();
    let acceptor = identity.acceptor().unwrap();
    let config = runtime.block_on(async {
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let store = Store::open(Backing::Memory, clock.clone()).unwrap();
        let api = Arc::new(ApiServer::new(store, clock.clone(), 7));
        api.bootstrap().await.unwrap();
        let handler = Arc::new(ApiHandler::new(
            api,
            Authenticator::with_key([7; 32], "admin-token"),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let http = HttpApi::new(handler, clock);
        tokio::spawn(serve_with(listener, Arc::new(http), Some(acceptor)));
        kubeconfig(
            &format!("https://{addr}"),
            "admin-token",
            Some(&identity.cert_pem),
        )
    });
    (runtime, config)
}

struct Kubectl {
    binary: PathBuf,
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(binary: PathBuf, config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), config).unwrap();
        Self { binary, dir }
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(&self.binary)
            .arg("--kubeconfig")
            .arg(self.dir.path().join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", self.dir.path())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.run(args);
        assert!(ok, "kubectl {args:?} failed:\n{stdout}{stderr}");
        stdout
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

/// The first occurrence of each line of `text` that is in `wanted`, in order (kubectl's layout
/// around them differs between minors; these lines do not).
fn lines_in<'a>(text: &'a str, wanted: &[&str]) -> Vec<&'a str> {
    let mut seen = std::collections::BTreeSet::new();
    text.lines()
        .map(str::trim)
        .filter(|l| wanted.contains(l) && seen.insert(*l))
        .collect()
}

#[test]
fn kubectl_explain_prints_skiffs_descriptions_and_fields() {
    let binaries = kubectl_binaries();
    if binaries.is_empty() {
        eprintln!("skipping: kubectl is not on PATH");
        return;
    }
    let (_runtime, config) = start();
    for (minor, binary) in binaries {
        let k = Kubectl::new(binary, &config);
        let out = k.ok(&["explain", "pod.spec.containers"]);
        let wanted = [
            "KIND:       Pod",
            "VERSION:    v1",
            "FIELD: containers <[]Container>",
            "The pod's main containers (required; validation asks for at least one).",
            "One container of a pod (upstream `Container`; init and main containers share",
            "image\t<string>",
            "name\t<string> -required-",
        ];
        assert_eq!(lines_in(&out, &wanted), wanted, "kubectl {minor}:\n{out}");
        let out = k.ok(&["explain", "replicaset", "--recursive"]);
        let wanted = [
            "KIND:       ReplicaSet",
            "spec\t<ReplicaSetSpec>",
            "selector\t<LabelSelector>",
            "matchLabels\t<map[string]string>",
            "template\t<PodTemplateSpec>",
        ];
        assert_eq!(lines_in(&out, &wanted), wanted, "kubectl {minor}:\n{out}");
        // The events.k8s.io/v1 Event, with that API's field names.
        let out = k.ok(&["explain", "events", "--api-version=events.k8s.io/v1"]);
        let wanted = [
            "GROUP:      events.k8s.io",
            "KIND:       Event",
            "eventTime\t<string> -required-",
            "note\t<string>",
            "regarding\t<ObjectReference>",
            "reportingController\t<string>",
        ];
        assert_eq!(lines_in(&out, &wanted), wanted, "kubectl {minor}:\n{out}");
    }
}

const POD_WITH_TYPO: &str = "apiVersion: v1
kind: Pod
metadata:
  name: typo
spec:
  containers:
  - name: web
    image: nginx
    imagePullPolicyy: Always
";

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: nginx
";

#[test]
fn kubectl_strict_validation_refuses_an_unknown_field_and_accepts_a_correct_manifest() {
    let binaries = kubectl_binaries();
    if binaries.is_empty() {
        eprintln!("skipping: kubectl is not on PATH");
        return;
    }
    let (_runtime, config) = start();
    for (minor, binary) in binaries {
        let k = Kubectl::new(binary, &config);
        let typo = k.file("typo.yaml", POD_WITH_TYPO);
        let (ok, stdout, stderr) = k.run(&["apply", "--validate=strict", "-f", &typo]);
        assert!(!ok, "kubectl {minor}: {stdout}");
        assert_eq!(
            stderr,
            format!(
                "Error from server (BadRequest): error when creating \"{typo}\": Pod in \
                 version \"v1\" cannot be handled as a Pod: \
                 spec.containers[0].imagePullPolicyy: unknown field `imagePullPolicyy`\n"
            ),
            "kubectl {minor}"
        );
        let pod = k.file("pod.yaml", POD);
        assert_eq!(
            k.ok(&["apply", "--validate=strict", "-f", &pod]),
            "pod/web created\n",
            "kubectl {minor}"
        );
        assert_eq!(
            k.ok(&["delete", "pod", "web"]),
            "pod \"web\" deleted\n",
            "kubectl {minor}"
        );
    }
}
