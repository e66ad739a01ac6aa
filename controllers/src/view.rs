//! [`View`]: the cluster as a controller sees it — the objects of the kinds it watches, at one
//! revision, with the indexes controllers need. The runtime fills it from list+watch; tests
//! build one directly with [`View::insert`]. Reconcile functions only ever read it.

use std::collections::{BTreeMap, BTreeSet};

use skiff_core::client::WatchEvent;
use skiff_core::object::{HasKindInfo, Object, Pod, TypedObject};

/// Identifies one object of a kind: `(namespace, name)`, namespace `""` for cluster-scoped
/// kinds. Ordered so every iteration is deterministic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ObjectKey {
    /// Namespace, `""` for cluster-scoped kinds.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// The key of `(namespace, name)`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of an object.
    pub fn of(object: &Object) -> Self {
        let meta = object.metadata();
        Self::new(meta.namespace_or_empty(), meta.name_or_empty())
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// Objects of several kinds at one revision, with indexes: pods by node and objects by owner
/// uid.
///
/// # Invariants
///
/// - Every object is stored once, under its kind and [`ObjectKey`]; the indexes hold exactly
///   the keys of the objects present.
/// - `revision` is the highest resourceVersion applied (list revision or event).
#[derive(Debug, Clone, Default)]
pub struct View {
    revision: u64,
    kinds: BTreeMap<&'static str, BTreeMap<ObjectKey, Object>>,
    indexes: Indexes,
}

#[derive(Debug, Clone, Default)]
struct Indexes {
    pods_by_node: BTreeMap<String, BTreeSet<ObjectKey>>,
    by_owner: BTreeMap<String, BTreeSet<(&'static str, ObjectKey)>>,
}

fn rv_of(object: &Object) -> u64 {
    object
        .metadata()
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

impl View {
    /// An empty view at revision 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The revision this view reflects.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Raises the revision (a list's or a bookmark's resourceVersion).
    pub fn observe_revision(&mut self, revision: u64) {
        self.revision = self.revision.max(revision);
    }

    /// Inserts or replaces an object (by kind and key).
    pub fn insert(&mut self, object: Object) {
        self.observe_revision(rv_of(&object));
        let kind = object.info().kind;
        let key = ObjectKey::of(&object);
        let objects = self.kinds.entry(kind).or_default();
        if let Some(old) = objects.get(&key) {
            self.indexes.update(kind, &key, old, false);
        }
        self.indexes.update(kind, &key, &object, true);
        objects.insert(key, object);
    }

    /// Removes an object (by kind and key); returns it if it was present.
    pub fn remove(&mut self, object: &Object) -> Option<Object> {
        self.observe_revision(rv_of(object));
        let kind = object.info().kind;
        let key = ObjectKey::of(object);
        let old = self.kinds.get_mut(kind)?.remove(&key)?;
        self.indexes.update(kind, &key, &old, false);
        Some(old)
    }

    /// Applies one watch event; returns the object it concerned, if any.
    pub fn apply(&mut self, event: &WatchEvent) -> Option<Object> {
        match event {
            WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                self.insert(o.clone());
                Some(o.clone())
            }
            WatchEvent::Deleted(o) => {
                self.remove(o);
                Some(o.clone())
            }
            WatchEvent::Bookmark(rv) => {
                self.observe_revision(*rv);
                None
            }
            WatchEvent::Error(_) => None,
        }
    }

    /// Drops every object of `kind` (before a relist).
    pub fn clear_kind(&mut self, kind: &'static str) {
        let Some(objects) = self.kinds.remove(kind) else {
            return;
        };
        for (key, object) in &objects {
            self.indexes.update(kind, key, object, false);
        }
    }
}

impl Indexes {
    fn update(&mut self, kind: &'static str, key: &ObjectKey, object: &Object, add: bool) {
        if let Object::Pod(pod) = object
            && let Some(node) = pod.spec.node_name.as_deref().filter(|n| !n.is_empty())
        {
            let set = self.pods_by_node.entry(node.to_owned()).or_default();
            if add {
                set.insert(key.clone());
            } else {
                set.remove(key);
                if set.is_empty() {
                    self.pods_by_node.remove(node);
                }
            }
        }
        for owner in &object.metadata().owner_references {
            let set = self.by_owner.entry(owner.uid.clone()).or_default();
            if add {
                set.insert((kind, key.clone()));
            } else {
                set.remove(&(kind, key.clone()));
                if set.is_empty() {
                    self.by_owner.remove(&owner.uid);
                }
            }
        }
    }
}

impl View {
    /// One object of kind `T`.
    pub fn get<T: TypedObject>(&self, namespace: &str, name: &str) -> Option<&T> {
        self.get_object(T::INFO.kind, &ObjectKey::new(namespace, name))
            .and_then(T::from_ref)
    }

    /// One object of a kind by key.
    pub fn get_object(&self, kind: &str, key: &ObjectKey) -> Option<&Object> {
        self.kinds.get(kind)?.get(key)
    }

    /// Every object of kind `T`, in key order.
    pub fn list<T: TypedObject>(&self) -> impl Iterator<Item = &T> + '_ {
        self.objects(T::INFO.kind).filter_map(T::from_ref)
    }

    /// Every object of a kind, in key order.
    pub fn objects(&self, kind: &str) -> impl Iterator<Item = &Object> + '_ {
        self.kinds.get(kind).into_iter().flat_map(BTreeMap::values)
    }

    /// The objects of kind `T` in one namespace, in name order.
    pub fn list_in<'a, T: TypedObject>(
        &'a self,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a T> + 'a {
        let start = ObjectKey::new(namespace, "");
        self.kinds
            .get(T::INFO.kind)
            .into_iter()
            .flat_map(move |m| m.range(start.clone()..))
            .take_while(move |(k, _)| k.namespace == namespace)
            .filter_map(|(_, o)| T::from_ref(o))
    }

    /// The pods bound to `node`, in key order.
    pub fn pods_on_node<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a Pod> + 'a {
        let pods = self.kinds.get(Pod::INFO.kind);
        self.indexes
            .pods_by_node
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(move |k| pods?.get(k))
            .filter_map(Pod::from_ref)
    }

    /// Names of the nodes that have at least one pod bound, in order.
    pub fn nodes_with_pods(&self) -> impl Iterator<Item = &str> + '_ {
        self.indexes.pods_by_node.keys().map(String::as_str)
    }

    /// The objects (of any watched kind) with an owner reference to `uid`, in kind then key
    /// order.
    pub fn owned_by<'a>(&'a self, uid: &str) -> impl Iterator<Item = &'a Object> + 'a {
        self.indexes
            .by_owner
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|(kind, key)| self.get_object(kind, key))
    }

    /// How many objects of a kind the view holds.
    pub fn count(&self, kind: &str) -> usize {
        self.kinds.get(kind).map_or(0, BTreeMap::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_core::object::{Container, OwnerReference, ReplicaSet};

    fn pod(ns: &str, name: &str, node: Option<&str>, rv: u64) -> Object {
        let mut p = Pod::new(name, vec![Container::new("c", "nginx")]);
        p.metadata.namespace = Some(ns.into());
        p.metadata.resource_version = Some(rv.to_string());
        p.spec.node_name = node.map(Into::into);
        p.into()
    }

    #[test]
    fn pods_follow_their_node_through_updates_and_deletes() {
        let mut view = View::new();
        view.insert(pod("default", "a", Some("n1"), 5));
        view.insert(pod("default", "b", None, 6));
        view.insert(pod("kube-system", "c", Some("n1"), 7));
        let on = |v: &View, n: &str| -> Vec<String> {
            v.pods_on_node(n)
                .map(|p| p.metadata.name.clone().unwrap())
                .collect()
        };
        assert_eq!(on(&view, "n1"), ["a", "c"]);
        view.insert(pod("default", "b", Some("n2"), 8));
        assert_eq!(on(&view, "n2"), ["b"]);
        view.insert(pod("default", "a", Some("n2"), 9));
        assert_eq!(on(&view, "n1"), ["c"]);
        assert_eq!(on(&view, "n2"), ["a", "b"]);
        view.remove(&pod("default", "a", Some("n2"), 10));
        assert_eq!(on(&view, "n2"), ["b"]);
        assert_eq!(view.revision(), 10);
        assert_eq!(view.nodes_with_pods().collect::<Vec<_>>(), ["n1", "n2"]);
    }

    #[test]
    fn list_in_stops_at_the_namespace_boundary() {
        let mut view = View::new();
        view.insert(pod("a", "x", None, 1));
        view.insert(pod("ab", "y", None, 2));
        view.insert(pod("b", "z", None, 3));
        let names: Vec<_> = view
            .list_in::<Pod>("a")
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["x"]);
        assert_eq!(view.list::<Pod>().count(), 3);
        assert!(view.get::<ReplicaSet>("a", "x").is_none());
        assert!(view.get::<Pod>("a", "x").is_some());
    }

    #[test]
    fn owner_index_tracks_owner_reference_changes() {
        let mut view = View::new();
        let mut p = pod("default", "a", None, 1);
        p.metadata_mut().owner_references = vec![OwnerReference {
            uid: "rs-1".into(),
            ..OwnerReference::default()
        }];
        view.insert(p.clone());
        assert_eq!(view.owned_by("rs-1").count(), 1);
        p.metadata_mut().owner_references.clear();
        view.insert(p);
        assert_eq!(view.owned_by("rs-1").count(), 0);
    }
}
