//! The official Python `kubernetes` client (PyPI) against a real `skiff up` (skiff issue #10):
//! `tests/python/kubernetes_smoke.py` lists, creates, patches, watches with `timeout_seconds`
//! and deletes, with exact checks, and exits non-zero on the first failed one.
//!
//! The client is installed on first use into a virtual environment under the target dir
//! (`python3 -m venv`, then `pip install kubernetes==<KUBERNETES_VERSION>`), and reused after.
//! `SKIFF_PYTHON` names another interpreter than `python3`. Without python3 or its `venv`
//! module the test fails with what to install: it never passes silently.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::Up;

/// The `kubernetes` release the test installs (pinned, so a new release cannot change the
/// outcome unseen).
const KUBERNETES_VERSION: &str = "37.0.2";

fn run(command: &mut Command) -> Result<Output, String> {
    let shown = format!("{command:?}");
    let out = command
        .output()
        .map_err(|e| format!("{shown} did not start: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The venv's interpreter, with `kubernetes` installed; created on first use.
fn venv_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("python-kubernetes-{KUBERNETES_VERSION}"));
    let python = venv.join("bin").join("python");
    let probe = format!(
        "import kubernetes, sys; sys.exit(kubernetes.__version__ != {KUBERNETES_VERSION:?})"
    );
    if run(Command::new(&python).args(["-c", &probe])).is_ok() {
        return python;
    }
    let system = std::env::var("SKIFF_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if let Err(e) = run(Command::new(&system).arg("--version")) {
        panic!(
            "this test needs Python 3 with venv and pip ({e}); install python3 and python3-venv \
             (Debian) or set SKIFF_PYTHON to an interpreter"
        );
    }
    let _ = std::fs::remove_dir_all(&venv);
    if let Err(e) = run(Command::new(&system).args(["-m", "venv"]).arg(&venv)) {
        panic!("creating the virtual environment failed; on Debian install python3-venv. {e}");
    }
    let pip = venv.join("bin").join("pip");
    let requirement = format!("kubernetes=={KUBERNETES_VERSION}");
    if let Err(e) = run(Command::new(&pip).args(["install", "--quiet", &requirement])) {
        let _ = std::fs::remove_dir_all(&venv);
        panic!("pip install {requirement} failed (is PyPI reachable?): {e}");
    }
    if let Err(e) = run(Command::new(&python).args(["-c", &probe])) {
        panic!("{requirement} installed but does not import: {e}");
    }
    python
}

#[test]
fn python_kubernetes_client_lists_creates_patches_watches_and_deletes() {
    let python = venv_python();
    let mut up = Up::start(0);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/kubernetes_smoke.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(up.kubeconfig())
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}{stderr}\nskiff up stderr:\n{}",
        script.display(),
        out.status,
        up.stop()
    );
    assert_eq!(
        stdout,
        "list pods: none\n\
         create pods: py-web, py-db\n\
         errors: 409 AlreadyExists, 404 NotFound\n\
         read and list by label: py-web\n\
         create and patch configmap: py-settings\n\
         watch pods from the list: ADDED py-web, ADDED py-db\n\
         live watch of configmaps app=py: ADDED py-later, DELETED py-later\n\
         quiet watch with timeout_seconds=2: ends with no events\n\
         delete pod: py-web gone\n\
         delete configmap: Status Success\n\
         ok\n"
    );
    assert_eq!(up.stop(), "");
}
