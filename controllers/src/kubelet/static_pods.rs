//! Static pods (seed §4–§6: how kubeadm runs the control plane from
//! `/etc/kubernetes/manifests`): pods the kubelet runs from manifest files rather than from the
//! API, made visible in the API as mirror pods (upstream `pkg/kubelet/config/file.go`,
//! `config/common.go`).

use std::path::Path;

use skiff_core::manifest;
use skiff_core::object::{Object, Pod, Toleration};

/// The static pod's identity, the hash of its manifest (upstream `ConfigHashAnnotationKey`).
pub const CONFIG_HASH_ANNOTATION: &str = "kubernetes.io/config.hash";
/// Marks a mirror pod, with the static pod's hash (upstream `ConfigMirrorAnnotationKey`).
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// Where the pod came from (`file`).
pub const CONFIG_SOURCE_ANNOTATION: &str = "kubernetes.io/config.source";

fn fnv(seed: u64, s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A manifest's pod as this node runs it (upstream `applyDefaults`): named
/// `<name>-<node>`, in `default` unless it says otherwise, bound to the node, its uid the hash
/// of the manifest and the node, tolerating every NoExecute taint.
pub fn static_pod(mut pod: Pod, node: &str, source: &str) -> Pod {
    // The manifest's content, in a stable rendering (Debug of ordered maps and vectors).
    let text = format!("{pod:?}");
    let key = format!("{text}\n{node}\n{source}");
    let hash = format!("{:016x}{:016x}", fnv(1, &key), fnv(2, &key));
    let name = format!("{}-{node}", pod.metadata.name_or_empty());
    pod.metadata.name = Some(name);
    if pod.metadata.namespace.as_deref().is_none_or(str::is_empty) {
        pod.metadata.namespace = Some("default".to_owned());
    }
    pod.metadata.uid = Some(hash.clone());
    pod.metadata
        .annotations
        .insert(CONFIG_HASH_ANNOTATION.to_owned(), hash);
    pod.metadata
        .annotations
        .insert(CONFIG_SOURCE_ANNOTATION.to_owned(), "file".to_owned());
    pod.spec.node_name = Some(node.to_owned());
    pod.spec.tolerations.push(Toleration {
        operator: Some("Exists".to_owned()),
        effect: Some("NoExecute".to_owned()),
        ..Toleration::default()
    });
    pod
}

/// The static pods in manifest texts `(file name, text)`, and an error per document that is
/// not a pod or does not parse.
pub fn from_manifests(files: &[(String, String)], node: &str) -> (Vec<Pod>, Vec<String>) {
    let mut pods = Vec::new();
    let mut errors = Vec::new();
    for (file, text) in files {
        match manifest::parse_str(file, text) {
            Ok(objects) => {
                for o in objects {
                    match o {
                        Object::Pod(p) => pods.push(static_pod(p, node, file)),
                        other => errors.push(format!(
                            "{file}: static pod manifests hold pods, not {}",
                            other.info().kind
                        )),
                    }
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    (pods, errors)
}

/// Reads the manifest directory (files in name order, hidden files skipped, as upstream).
pub fn load_dir(dir: &Path, node: &str) -> (Vec<Pod>, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if name.starts_with('.') || !path.is_file() {
                    continue;
                }
                match std::fs::read_to_string(&path) {
                    Ok(text) => files.push((path.display().to_string(), text)),
                    Err(e) => errors.push(format!("{}: {e}", path.display())),
                }
            }
        }
        Err(e) => errors.push(format!("{}: {e}", dir.display())),
    }
    let (pods, mut parse_errors) = from_manifests(&files, node);
    errors.append(&mut parse_errors);
    (pods, errors)
}
