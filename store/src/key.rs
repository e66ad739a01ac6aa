//! Registry keys in upstream's etcd layout: `/registry/<resource>/<namespace>/<name>` for
//! namespaced kinds, `/registry/<resource>/<name>` for cluster-scoped ones (nodes under
//! `/registry/minions/`, services under `/registry/services/specs/`).

use skiff_core::object::{KINDS, KindInfo, Object};

/// The prefix every typed object lives under; raw `etcdctl put`s may not write below it.
pub const REGISTRY_PREFIX: &str = "/registry/";

/// The registry key of an object of `info` named `name` in `namespace`.
pub fn registry_key(info: &KindInfo, namespace: &str, name: &str) -> String {
    if info.namespaced {
        format!("{}{namespace}/{name}", info.registry_prefix)
    } else {
        format!("{}{name}", info.registry_prefix)
    }
}

/// The key of an object, or why it has none (no name, no namespace on a namespaced kind, a
/// namespace on a cluster-scoped kind, or characters that would break the key layout).
pub fn object_key(object: &Object) -> Result<String, String> {
    let info = object.info();
    let meta = object.metadata();
    let name = meta.name.as_deref().unwrap_or("");
    if name.is_empty() {
        return Err(format!("{} has no metadata.name", info.kind));
    }
    check_segment("metadata.name", name)?;
    let namespace = meta.namespace.as_deref().unwrap_or("");
    if info.namespaced {
        if namespace.is_empty() {
            return Err(format!("{} {name} has no metadata.namespace", info.kind));
        }
        check_segment("metadata.namespace", namespace)?;
    } else if !namespace.is_empty() {
        return Err(format!(
            "{} is cluster-scoped but {name} names namespace {namespace}",
            info.kind
        ));
    }
    Ok(registry_key(info, namespace, name))
}

fn check_segment(field: &str, value: &str) -> Result<(), String> {
    if value.contains('/') || value == "." || value == ".." || value.contains('\0') {
        return Err(format!("{field} {value:?} cannot be part of a key"));
    }
    Ok(())
}

/// The kind whose registry prefix `key` lies under, if any.
pub fn kind_of_key(key: &str) -> Option<&'static KindInfo> {
    // Longest prefix first: `/registry/services/endpoints/` must not match `/registry/services/`.
    KINDS
        .iter()
        .filter(|k| key.starts_with(k.registry_prefix))
        .max_by_key(|k| k.registry_prefix.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_core::object::{Node, ObjectMeta, Pod, info};

    #[test]
    fn keys_follow_the_upstream_layout() {
        let pod = Pod {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                ..ObjectMeta::named("nginx")
            },
            ..Pod::default()
        };
        assert_eq!(
            object_key(&pod.into()).unwrap(),
            "/registry/pods/default/nginx"
        );
        let node = Node {
            metadata: ObjectMeta::named("worker-1"),
            ..Node::default()
        };
        assert_eq!(
            object_key(&node.into()).unwrap(),
            "/registry/minions/worker-1"
        );
        assert_eq!(
            registry_key(&info::SERVICE, "default", "web"),
            "/registry/services/specs/default/web"
        );
        assert_eq!(
            kind_of_key("/registry/services/endpoints/default/web")
                .unwrap()
                .kind,
            "Endpoints"
        );
        assert_eq!(
            kind_of_key("/registry/services/specs/default/web")
                .unwrap()
                .kind,
            "Service"
        );
        assert_eq!(kind_of_key("/foo"), None);
    }

    #[test]
    fn names_that_would_break_the_layout_are_refused() {
        let pod = Pod {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                ..ObjectMeta::named("a/b")
            },
            ..Pod::default()
        };
        assert_eq!(
            object_key(&pod.into()).unwrap_err(),
            "metadata.name \"a/b\" cannot be part of a key"
        );
    }
}
