//! The real kubectl against skiff's OpenAPI documents: `kubectl explain` (OpenAPI v3, and v2
//! with `--output plaintext-openapiv2`) prints skiff's own descriptions and field lists, and
//! `kubectl apply --validate=strict` refuses an unknown field. Every installed kubectl minor
//! (the dispatcher's `kubectl.1.27` … `kubectl.1.33` next to it) is run. The API runs in this
//! process on a free loopback port over TLS, as in `http_kubectl.rs`. Skipped, with a
//! message, when `kubectl` is not on PATH.

use std::path::{Path, PathBuf};

#[path = "support/kubectl.rs"]
mod kubectl;

use kubectl::{Kubectl, kubectl_on_path, start};

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
