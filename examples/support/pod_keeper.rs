//! `PodKeeper`: a small user controller shared by the examples and the tests. For every
//! ConfigMap labelled `example.skiff.dev/keep-pod=true` it keeps exactly one Pod,
//! `<configmap>-pod`, running the image named in the ConfigMap's `image` key (default
//! `nginx:1.27`) and owned by the ConfigMap (a controller reference with
//! `blockOwnerDeletion`), so deleting the ConfigMap lets the garbage collector delete the Pod.
//!
//! The reconcile is pure: the ConfigMap and the pods it owns in, the actions out.
//! [`PodKeeper::planted_bug`] is the same controller with a bug for the chaos tests to find:
//! it creates a second pod beside the first.

#![allow(
    dead_code,
    reason = "each example or test uses a part of the shared module"
)]

use std::time::SystemTime;

use skiff_controllers::reconcile::{Action, Controller, Output, Watched};
use skiff_controllers::view::{ObjectKey, View};
use skiff_core::client::DeleteOptions;
use skiff_core::object::{
    ConfigMap, Container, HasKindInfo, Object, ObjectMeta, OwnerReference, Pod, info,
};

/// The label that asks for a kept pod.
pub const LABEL: &str = "example.skiff.dev/keep-pod";
/// The controller's name: its Lease and its service account.
pub const NAME: &str = "pod-keeper";
/// The image when the ConfigMap names none.
pub const DEFAULT_IMAGE: &str = "nginx:1.27";

/// Keeps one pod per labelled ConfigMap.
#[derive(Debug, Clone, Default)]
pub struct PodKeeper {
    /// Create two pods instead of one (the planted bug).
    pub buggy: bool,
}

impl PodKeeper {
    /// The correct controller.
    pub fn new() -> Self {
        Self::default()
    }

    /// The controller with its planted bug: it creates `<configmap>-pod` and
    /// `<configmap>-pod-b`, and never deletes an extra pod.
    pub fn planted_bug() -> Self {
        Self { buggy: true }
    }
}

/// Whether a ConfigMap asks for a kept pod.
pub fn wants_pod(cm: &ConfigMap) -> bool {
    cm.metadata.labels.get(LABEL).map(String::as_str) == Some("true")
}

/// The pod `PodKeeper` creates for `cm`, named `name`.
pub fn pod_for(cm: &ConfigMap, name: &str) -> Pod {
    let image = cm.data.get("image").map_or(DEFAULT_IMAGE, String::as_str);
    let mut pod = Pod::new(name, vec![Container::new("main", image)]);
    pod.metadata = ObjectMeta {
        name: Some(name.to_owned()),
        namespace: cm.metadata.namespace.clone(),
        labels: [(LABEL.to_owned(), cm.metadata.name_or_empty().to_owned())].into(),
        owner_references: vec![OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: cm.metadata.name_or_empty().to_owned(),
            uid: cm.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }],
        ..ObjectMeta::default()
    };
    pod
}

impl Controller for PodKeeper {
    fn name(&self) -> &'static str {
        NAME
    }

    fn watches(&self) -> Vec<Watched> {
        vec![Watched::all(&info::CONFIG_MAP), Watched::all(&info::POD)]
    }

    fn keys_for(&self, _view: &View, object: &Object) -> Vec<ObjectKey> {
        match object {
            Object::ConfigMap(cm) if wants_pod(cm) => vec![ObjectKey::of(object)],
            Object::Pod(pod) => pod
                .metadata
                .controller_ref()
                .filter(|r| r.kind == "ConfigMap")
                .map(|r| ObjectKey::new(pod.metadata.namespace_or_empty(), r.name.clone()))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    fn resync_keys(&self, view: &View) -> Vec<ObjectKey> {
        view.list::<ConfigMap>()
            .filter(|cm| wants_pod(cm))
            .map(|cm| {
                ObjectKey::new(
                    cm.metadata.namespace_or_empty(),
                    cm.metadata.name_or_empty(),
                )
            })
            .collect()
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, _now: SystemTime) -> Output {
        let Some(cm) = view.get::<ConfigMap>(&key.namespace, &key.name) else {
            return Output::none();
        };
        if !wants_pod(cm) || cm.metadata.deletion_timestamp.is_some() {
            return Output::none();
        }
        let uid = cm.metadata.uid.as_deref().unwrap_or_default();
        let pods: Vec<&Pod> = view
            .owned_by(uid)
            .filter_map(|o| match o {
                Object::Pod(p) if p.metadata.deletion_timestamp.is_none() => Some(p),
                _ => None,
            })
            .collect();
        let base = format!("{}-pod", key.name);
        let mut actions = Vec::new();
        if self.buggy {
            for name in [base.clone(), format!("{base}-b")] {
                if !pods.iter().any(|p| p.metadata.name_or_empty() == name) {
                    actions.push(Action::Create(pod_for(cm, &name).into()));
                }
            }
            return Output {
                actions,
                requeue_after: None,
            };
        }
        if pods.is_empty() {
            actions.push(Action::Create(pod_for(cm, &base).into()));
        }
        // Keep the first by name; delete the rest (uid precondition: never another pod
        // that took the name).
        for extra in pods.iter().skip(1) {
            actions.push(Action::Delete {
                resource: &Pod::INFO,
                namespace: key.namespace.clone(),
                name: extra.metadata.name_or_empty().to_owned(),
                options: DeleteOptions {
                    uid: extra.metadata.uid.clone(),
                    ..DeleteOptions::default()
                },
            });
        }
        Output {
            actions,
            requeue_after: None,
        }
    }
}
