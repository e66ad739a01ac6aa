//! Test fixtures shared by the workload controllers' tests: objects with the fields the API
//! server would have set, and [`Sim`], a tiny in-test API server that applies a reconcile's
//! actions to a [`View`] (creates get fresh names, uids and resourceVersions).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use skiff_core::object::{
    Container, Object, ObjectMeta, OwnerReference, Pod, PodCondition, PodTemplateSpec, ReplicaSet,
    Time,
};
use skiff_core::selector::LabelSelector;

use crate::reconcile::{Action, Output};
use crate::view::{ObjectKey, View};

/// The test clock's `now`: 1,000,000 s after the epoch.
pub const NOW_SECONDS: i64 = 1_000_000;

/// `now` as a `SystemTime`.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECONDS.unsigned_abs())
}

/// `now - seconds` as an API time.
pub fn ago(seconds: i64) -> Time {
    Time::from_unix_seconds(NOW_SECONDS - seconds)
}

/// Labels from pairs.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A pod template with these labels and one `nginx` container.
pub fn template(pairs: &[(&str, &str)]) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: ObjectMeta {
            labels: labels(pairs),
            ..ObjectMeta::default()
        },
        spec: Pod::new("", vec![Container::new("web", "nginx")]).spec,
    }
}

/// Metadata as stored: namespace `default`, uid `uid-<name>`, resourceVersion `rv`,
/// generation 1, created an hour ago.
pub fn stored_meta(name: &str, rv: u64) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some("default".to_owned()),
        uid: Some(format!("uid-{name}")),
        resource_version: Some(rv.to_string()),
        generation: Some(1),
        creation_timestamp: Some(ago(3600)),
        ..ObjectMeta::default()
    }
}

/// A stored ReplicaSet `name` selecting `app=<app>` with `replicas`.
pub fn replica_set(name: &str, app: &str, replicas: i32) -> ReplicaSet {
    let mut rs = ReplicaSet {
        metadata: stored_meta(name, 10),
        ..ReplicaSet::default()
    };
    rs.spec.replicas = Some(replicas);
    rs.spec.selector = Some(LabelSelector::from_labels(labels(&[("app", app)])));
    rs.spec.template = template(&[("app", app)]);
    rs
}

/// A stored pod `name` with labels, created `age` seconds ago, Pending and unassigned.
pub fn pod(name: &str, pairs: &[(&str, &str)], age: i64) -> Pod {
    let mut p = Pod::new(name, vec![Container::new("web", "nginx")]);
    p.metadata = stored_meta(name, 20);
    p.metadata.generation = None;
    p.metadata.labels = labels(pairs);
    p.metadata.creation_timestamp = Some(ago(age));
    p.status.phase = Some("Pending".to_owned());
    p
}

/// `pod` controlled by `owner` (a ReplicaSet's reference).
pub fn owned_by(mut p: Pod, owner: &ObjectMeta, kind: &str, api_version: &str) -> Pod {
    p.metadata.owner_references.push(OwnerReference {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        name: owner.name_or_empty().to_owned(),
        uid: owner.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    });
    p
}

/// `pod` Running on `node`, ready since `ready_for` seconds ago (not ready when `None`).
pub fn running(mut p: Pod, node: &str, ready_for: Option<i64>) -> Pod {
    p.spec.node_name = Some(node.to_owned());
    p.status.phase = Some("Running".to_owned());
    p.status.conditions = vec![PodCondition {
        r#type: "Ready".to_owned(),
        status: if ready_for.is_some() { "True" } else { "False" }.to_owned(),
        last_transition_time: Some(ago(ready_for.unwrap_or(60))),
        ..PodCondition::default()
    }];
    p
}

/// A view holding these objects.
pub fn view_of(objects: impl IntoIterator<Item = Object>) -> View {
    let mut view = View::new();
    for o in objects {
        view.insert(o);
    }
    view
}

/// `describe()` of each action, for readable assertions on long lists.
pub fn described(output: &Output) -> Vec<String> {
    output.actions.iter().map(Action::describe).collect()
}

/// A miniature API server over a [`View`]: applies actions the way the real one would for
/// what these controllers write, with a revision counter for resourceVersions and
/// `generateName` suffixes.
#[derive(Debug, Clone)]
pub struct Sim {
    /// The objects.
    pub view: View,
    /// The next revision.
    pub revision: u64,
    /// The simulated time.
    pub now: SystemTime,
    /// Pods become Running and Ready on node `n1` as soon as they are created (a kubelet).
    pub pods_become_ready: bool,
}

impl Sim {
    /// A simulation over `view`, at [`now`].
    pub fn new(view: View) -> Self {
        let revision = view.revision() + 1;
        Self {
            view,
            revision,
            now: now(),
            pods_become_ready: false,
        }
    }

    fn next(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }

    /// Applies `actions` in order, as the runtime sends them. An action whose precondition
    /// fails (or whose object is missing) stops the list, as the runtime does.
    pub fn apply(&mut self, actions: &[Action]) {
        for action in actions {
            if !self.apply_one(action) {
                return;
            }
        }
    }

    fn apply_one(&mut self, action: &Action) -> bool {
        let rv = self.next();
        let now_time = Time::from_unix_seconds(
            i64::try_from(
                self.now
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs(),
            )
            .unwrap_or(0),
        );
        match action {
            Action::Create(object) => {
                let mut object = object.clone();
                let kind = object.info().kind;
                let meta = object.metadata_mut();
                if meta.name.is_none() {
                    meta.name = Some(format!(
                        "{}{rv:05}",
                        meta.generate_name.as_deref().unwrap_or("")
                    ));
                }
                let key = ObjectKey::new(meta.namespace_or_empty(), meta.name_or_empty());
                if self.view.get_object(kind, &key).is_some() {
                    return false;
                }
                meta.uid = Some(format!("uid-{}", meta.name_or_empty()));
                meta.resource_version = Some(rv.to_string());
                meta.creation_timestamp = Some(now_time);
                meta.generation = Some(1);
                if let Object::Pod(p) = &mut object {
                    p.metadata.generation = None;
                    p.status.phase = Some("Pending".to_owned());
                    if self.pods_become_ready {
                        let node = crate::daemonset::target_node(p).unwrap_or("n1").to_owned();
                        *p = running(p.clone(), &node, Some(0));
                        p.status.conditions[0].last_transition_time = Some(now_time);
                    }
                }
                self.view.insert(object);
                true
            }
            Action::Update(object) | Action::UpdateStatus(object) => {
                let key = ObjectKey::of(object);
                let Some(current) = self.view.get_object(object.info().kind, &key) else {
                    return false;
                };
                let expected = object.metadata().resource_version.clone();
                if expected.is_some() && expected != current.metadata().resource_version {
                    return false;
                }
                let mut next = current.clone();
                if matches!(action, Action::UpdateStatus(_)) {
                    next.copy_status_from(object);
                } else {
                    let status_keeper = current.clone();
                    next = object.clone();
                    next.copy_status_from(&status_keeper);
                    let spec_changed = {
                        let mut a = next.clone();
                        let mut b = current.clone();
                        *a.metadata_mut() = ObjectMeta::default();
                        *b.metadata_mut() = ObjectMeta::default();
                        a != b
                    };
                    let meta = next.metadata_mut();
                    if spec_changed && meta.generation.is_some() {
                        meta.generation = meta.generation.map(|g| g + 1);
                    }
                }
                next.metadata_mut().resource_version = Some(rv.to_string());
                self.view.insert(next);
                true
            }
            Action::Delete {
                resource,
                namespace,
                name,
                options,
            } => {
                let key = ObjectKey::new(namespace.clone(), name.clone());
                let Some(current) = self.view.get_object(resource.kind, &key).cloned() else {
                    return false;
                };
                if options.uid.is_some() && options.uid != current.metadata().uid {
                    return false;
                }
                self.view.remove(&current);
                true
            }
            Action::Bind { .. } => true,
        }
    }
}
