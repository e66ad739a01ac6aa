//! PATCH (upstream `apiserver/pkg/endpoints/handlers/patch.go`): a JSON merge patch (RFC 7386)
//! or a strategic merge patch applied to the object's JSON form, then read back through the
//! manifest parser, so a patch that leaves a field of the wrong type or an unknown field is a
//! 422 naming the field.
//!
//! Strategic merge (upstream `apimachinery/pkg/util/strategicpatch`) differs from a merge patch
//! only for lists: a list the upstream type declares `patchStrategy:"merge"` with a
//! `patchMergeKey` is merged element by element (the patch's element replaces fields of the
//! element with the same key, or is appended), and an element carrying `"$patch": "delete"` is
//! removed; a list of strings declared `merge` (finalizers) becomes the union. Every other list
//! is atomic and replaced whole, as upstream's `+listType=atomic` lists are. The merge keys
//! below are those of `k8s.io/api` `core/v1/types.go` and `meta/v1/types.go` struct tags:
//!
//! | list | merge key |
//! |---|---|
//! | `metadata.ownerReferences` | `uid` |
//! | `metadata.finalizers` | (strings, union) |
//! | pod `spec.containers`, `spec.initContainers`, `spec.ephemeralContainers` | `name` |
//! | container `ports` | `containerPort` |
//! | container `env` | `name` |
//! | container `volumeMounts` | `mountPath` |
//! | container `volumeDevices` | `devicePath` |
//! | pod `spec.volumes`, `spec.imagePullSecrets` | `name` |
//! | pod `spec.hostAliases` | `ip` |
//! | Service `spec.ports` | `port` |
//! | `status.conditions` (Pod, Node, workloads) | `type` |
//! | Node `status.addresses` | `type` |
//!
//! Pod `spec.tolerations` and Node `spec.taints` carry no patch strategy upstream (they are
//! `+listType=atomic`), so a patch replaces them whole; `kubectl taint` therefore sends the
//! whole list. Simplified: `$setElementOrder`, `$retainKeys` and `$deleteFromPrimitiveList`
//! directives are refused as unsupported rather than honoured.

use serde_json::{Map, Value};
use skiff_core::event::Actor;
use skiff_core::manifest;
use skiff_core::object::{KindInfo, KindRegistry, Object};
use skiff_core::validate::{FieldError, go_quote};

use super::status::{ApiError, Reason, Status};
use super::{ApiServer, invalid, qualified_resource};

/// How a patch's bytes are to be applied (upstream `types.PatchType`).
pub use skiff_core::client::PatchType;

/// Attempts of a patch without a resourceVersion that keeps losing the race to other writers
/// (upstream `maxRetryWhenPatchConflicts`).
const PATCH_CONFLICT_RETRIES_MAX: usize = 5;

/// Applies an RFC 7386 JSON merge patch to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// How a list field is patched strategically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListStrategy {
    /// Replaced whole.
    Atomic,
    /// Objects merged by this key.
    MergeKey(&'static str),
    /// Strings: the union, original order first.
    Union,
}

/// The strategy of the list at `path` (field names from the object root; list indices left
/// out) in an object of `kind`.
fn list_strategy(kind: &str, path: &[&str]) -> ListStrategy {
    use ListStrategy::{Atomic, MergeKey, Union};
    match path {
        ["metadata", "ownerReferences"] => return MergeKey("uid"),
        ["metadata", "finalizers"] => return Union,
        ["status", "conditions"] => return MergeKey("type"),
        _ => {}
    }
    // Where a PodSpec sits: at `spec` in a Pod, at `spec.template.spec` in the workloads.
    let pod_spec = match (kind, path) {
        ("Pod", ["spec", rest @ ..])
        | (
            "ReplicaSet" | "ReplicationController" | "Deployment" | "DaemonSet",
            ["spec", "template", "spec", rest @ ..],
        ) => Some(rest),
        _ => None,
    };
    if let Some(rest) = pod_spec {
        return match rest {
            [
                "containers"
                | "initContainers"
                | "ephemeralContainers"
                | "volumes"
                | "imagePullSecrets",
            ] => MergeKey("name"),
            ["hostAliases"] => MergeKey("ip"),
            [
                "containers" | "initContainers" | "ephemeralContainers",
                field,
            ] => match *field {
                "ports" => MergeKey("containerPort"),
                "env" => MergeKey("name"),
                "volumeMounts" => MergeKey("mountPath"),
                "volumeDevices" => MergeKey("devicePath"),
                _ => Atomic,
            },
            _ => Atomic,
        };
    }
    match (kind, path) {
        ("Service", ["spec", "ports"]) => MergeKey("port"),
        ("Node", ["status", "addresses"]) => MergeKey("type"),
        _ => Atomic,
    }
}

/// The directive key of a strategic merge patch.
const DIRECTIVE: &str = "$patch";

/// Applies a strategic merge patch to `target`, an object of `kind`.
pub fn strategic_merge_patch(kind: &str, target: &mut Value, patch: &Value) -> Result<(), Status> {
    let mut trail = Vec::new();
    strategic_map(kind, &mut trail, target, patch)
}

fn strategic_map<'p>(
    kind: &str,
    trail: &mut Vec<&'p str>,
    target: &mut Value,
    patch: &'p Value,
) -> Result<(), Status> {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match fields.get(DIRECTIVE).and_then(Value::as_str) {
        Some("replace") => {
            let mut rest = fields.clone();
            rest.remove(DIRECTIVE);
            *target = Value::Object(rest);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Object(Map::new());
            return Ok(());
        }
        Some(other) => {
            return Err(Status::bad_request(format!(
                "Unknown fields type: {other} in map: {}",
                Value::Object(fields.clone())
            )));
        }
        None => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else {
        return Ok(());
    };
    for (key, value) in fields {
        if key.starts_with('$') {
            return Err(Status::bad_request(format!(
                "the fields directive {key} is not supported by skiff"
            )));
        }
        if value.is_null() {
            map.remove(key);
            continue;
        }
        trail.push(key);
        let slot = map.entry(key.clone()).or_insert(Value::Null);
        let result = match value {
            Value::Array(items) => strategic_list(kind, trail, slot, items),
            Value::Object(_) => strategic_map(kind, trail, slot, value),
            other => {
                *slot = other.clone();
                Ok(())
            }
        };
        trail.pop();
        result?;
    }
    Ok(())
}

fn strategic_list<'p>(
    kind: &str,
    trail: &mut Vec<&'p str>,
    target: &mut Value,
    items: &'p [Value],
) -> Result<(), Status> {
    let strategy = list_strategy(kind, trail);
    let original = match target {
        Value::Array(original) => std::mem::take(original),
        _ => Vec::new(),
    };
    let merged = match strategy {
        ListStrategy::Atomic => items.to_vec(),
        ListStrategy::Union => {
            let mut merged = original;
            for item in items {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            merged
        }
        ListStrategy::MergeKey(key) => {
            // `{"$patch": "replace"}` as an element replaces the list with the other elements.
            if items
                .iter()
                .any(|i| i.get(DIRECTIVE).and_then(Value::as_str) == Some("replace"))
            {
                items
                    .iter()
                    .filter(|i| i.get(DIRECTIVE).is_none())
                    .cloned()
                    .collect()
            } else {
                merge_by_key(kind, trail, original, items, key)?
            }
        }
    };
    *target = Value::Array(merged);
    Ok(())
}

fn merge_by_key<'p>(
    kind: &str,
    trail: &mut Vec<&'p str>,
    mut merged: Vec<Value>,
    items: &'p [Value],
    key: &str,
) -> Result<Vec<Value>, Status> {
    for item in items {
        let Some(id) = item.get(key).filter(|v| !v.is_null()) else {
            // upstream mergepatch: "map: %v does not contain declared merge key: %s"
            return Err(Status::bad_request(format!(
                "map: {item} does not contain declared merge key: {key}"
            )));
        };
        let at = merged.iter().position(|m| m.get(key) == Some(id));
        match item.get(DIRECTIVE).and_then(Value::as_str) {
            Some("delete") => {
                if let Some(at) = at {
                    merged.remove(at);
                }
            }
            Some("replace") => {
                let mut whole = item.clone();
                if let Value::Object(m) = &mut whole {
                    m.remove(DIRECTIVE);
                }
                match at {
                    Some(at) => merged[at] = whole,
                    None => merged.push(whole),
                }
            }
            Some(other) => {
                return Err(Status::bad_request(format!(
                    "Unknown patch type: {other} in map: {item}"
                )));
            }
            None => {
                if let Some(at) = at {
                    strategic_map(kind, trail, &mut merged[at], item)?;
                } else {
                    let mut fresh = Value::Object(Map::new());
                    strategic_map(kind, trail, &mut fresh, item)?;
                    merged.push(fresh);
                }
            }
        }
    }
    Ok(merged)
}

/// Walks `value` along a field path such as `spec.template.spec.containers[0].image`.
fn value_at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let mut at = value;
    for part in path.split('.') {
        let (field, indices) = part
            .split_once('[')
            .map_or((part, ""), |(f, rest)| (f, rest));
        if !field.is_empty() {
            at = at.get(field)?;
        }
        for index in indices.split('[').filter(|s| !s.is_empty()) {
            let index = index.trim_end_matches(']');
            at = match index.parse::<usize>() {
                Ok(i) => at.get(i)?,
                Err(_) => at.get(index)?,
            };
        }
    }
    Some(at)
}

/// A JSON value rendered as upstream's field errors print a bad value.
fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        other => other.to_string(),
    }
}

/// The object `patch` would make of `current`, or `None` when the patch is refused (the
/// patch itself then reports why).
pub(crate) fn preview(
    kinds: &KindRegistry,
    info: &'static KindInfo,
    current: &Object,
    patch_type: PatchType,
    patch: &[u8],
) -> Option<Object> {
    let patch: Value = serde_json::from_slice(patch).ok()?;
    ApiServer::patched(kinds, info, current, patch_type, &patch).ok()
}

impl ApiServer {
    /// Patches an object (the PATCH verb): applies `patch` to the stored object's JSON form as
    /// `patch_type` says, reads the result back as a typed object, and writes it as an update.
    ///
    /// A `metadata.resourceVersion` in the patch is a precondition (409 when stale); without
    /// one the patch applies to whatever is current, retried against a newer version when
    /// another writer wins the race, as upstream does.
    ///
    /// # Errors
    /// 400 for bytes that are not a JSON object or an unknown directive, 404 for a missing
    /// object, 409 for a stale precondition, 422 naming the field when the patched object does
    /// not parse or does not validate.
    pub async fn patch(
        &self,
        actor: &Actor,
        info: &'static KindInfo,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        patch: &[u8],
    ) -> Result<Object, ApiError> {
        let patch: Value = serde_json::from_slice(patch)
            .map_err(|e| Status::bad_request(format!("error decoding patch: {e}")))?;
        if !patch.is_object() {
            return Err(Status::bad_request(
                "the patch must be a JSON object (a merge patch or a strategic merge patch)",
            )
            .into());
        }
        let pinned = patch
            .get("metadata")
            .and_then(|m| m.get("resourceVersion"))
            .is_some_and(|rv| !rv.is_null());
        let namespace = if info.namespaced { namespace } else { "" };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self.get(info, namespace, name)?;
            let next = Self::patched(self.kinds(), info, &current, patch_type, &patch)?;
            match Box::pin(self.update(actor, next)).await {
                Err(ApiError::Rejected(status))
                    if status.reason == Reason::Conflict
                        && !pinned
                        && attempt < PATCH_CONFLICT_RETRIES_MAX
                        && status.message.ends_with(super::MODIFIED) => {}
                other => return other,
            }
        }
    }

    /// The object `patch` makes of `current`.
    fn patched(
        kinds: &KindRegistry,
        info: &'static KindInfo,
        current: &Object,
        patch_type: PatchType,
        patch: &Value,
    ) -> Result<Object, ApiError> {
        let name = current.metadata().name_or_empty();
        let mut json = serde_json::to_value(current)
            .map_err(|e| Status::bad_request(format!("encoding the object: {e}")))?;
        match patch_type {
            PatchType::Merge => merge_patch(&mut json, patch),
            PatchType::Strategic => strategic_merge_patch(info.kind, &mut json, patch)?,
        }
        for (field, want) in [("apiVersion", info.api_version), ("kind", info.kind)] {
            if json.get(field).and_then(Value::as_str) != Some(want) {
                return Err(Status::bad_request(format!(
                    "the patch may not change {field} of {} {}",
                    qualified_resource(info),
                    go_quote(name)
                ))
                .into());
            }
        }
        let text = json.to_string();
        let parsed = manifest::parse_with("patch", &text, kinds);
        if let Some(error) = parsed.errors.into_iter().next() {
            // upstream refuses an undecodable patched object with 422 (`field.Invalid` at
            // "patch" with the decoder's message); skiff names the field the decoder stopped at.
            let field = error.field.clone().unwrap_or_else(|| "patch".to_owned());
            let value = value_at(&json, &field).map_or_else(|| "null".to_owned(), render_value);
            return Err(invalid(
                info,
                name,
                &[FieldError::invalid(field, value, error.kind.to_string())],
            )
            .into());
        }
        let Some(document) = parsed.documents.into_iter().next() else {
            return Err(Status::bad_request("the patch left no object").into());
        };
        let object = document.object;
        let meta = object.metadata();
        if meta.name_or_empty() != name {
            return Err(Status::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta.name_or_empty()
            ))
            .into());
        }
        if meta.namespace != current.metadata().namespace {
            return Err(Status::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            )
            .into());
        }
        Ok(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386_examples() {
        // RFC 7386 appendix A, a selection.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, want) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, want);
        }
    }

    #[test]
    fn strategic_patch_merges_containers_by_name_and_deletes_with_directive() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]},
            {"name": "log", "image": "busybox"}
        ], "tolerations": [{"key": "a", "operator": "Exists"}]}});
        let patch = json!({"spec": {"containers": [
            {"name": "web", "image": "nginx:2", "ports": [{"containerPort": 443}]},
            {"name": "log", "$patch": "delete"},
            {"name": "sidecar", "image": "envoy"}
        ], "tolerations": [{"key": "b", "operator": "Exists"}]}});
        strategic_merge_patch("Pod", &mut pod, &patch).unwrap();
        assert_eq!(
            pod,
            json!({"spec": {"containers": [
                {"name": "web", "image": "nginx:2",
                 "ports": [{"containerPort": 80}, {"containerPort": 443}]},
                {"name": "sidecar", "image": "envoy"}
            ], "tolerations": [{"key": "b", "operator": "Exists"}]}})
        );
    }

    #[test]
    fn strategic_patch_reaches_the_pod_template_of_workloads() {
        let mut rs = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]}
        ]}}}, "metadata": {"finalizers": ["x"]}});
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "env": [{"name": "B", "value": "2"}]}
        ]}}}, "metadata": {"finalizers": ["y", "x"]}});
        strategic_merge_patch("ReplicaSet", &mut rs, &patch).unwrap();
        assert_eq!(
            rs,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1",
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
            ]}}}, "metadata": {"finalizers": ["x", "y"]}})
        );
    }

    #[test]
    fn strategic_patch_refuses_elements_without_their_merge_key() {
        let mut pod = json!({"spec": {"containers": []}});
        let err = strategic_merge_patch(
            "Pod",
            &mut pod,
            &json!({"spec": {"containers": [{"image": "x"}]}}),
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "map: {\"image\":\"x\"} does not contain declared merge key: name"
        );
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0i64..100).prop_map(|n| json!(n)),
            "[a-c]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                proptest::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// RFC 7386 patches are idempotent, and a patch of only non-null leaves leaves every
        /// one of its values in place.
        #[test]
        fn merge_patches_are_idempotent(target in json_value(), patch in json_value()) {
            let mut once = target.clone();
            merge_patch(&mut once, &patch);
            let mut twice = once.clone();
            merge_patch(&mut twice, &patch);
            proptest::prop_assert_eq!(&once, &twice);
        }

        /// A strategic patch without lists behaves as a merge patch.
        #[test]
        fn strategic_patches_without_lists_are_merge_patches(
            target in json_value(),
            patch in json_value(),
        ) {
            fn has_list(v: &Value) -> bool {
                match v {
                    Value::Array(_) => true,
                    Value::Object(m) => m.values().any(has_list),
                    _ => false,
                }
            }
            proptest::prop_assume!(!has_list(&patch));
            let mut merged = target.clone();
            merge_patch(&mut merged, &patch);
            let mut strategic = target.clone();
            strategic_merge_patch("ConfigMap", &mut strategic, &patch).unwrap();
            proptest::prop_assert_eq!(merged, strategic);
        }
    }

    #[test]
    fn node_taints_are_replaced_whole() {
        let mut node = json!({"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}});
        strategic_merge_patch(
            "Node",
            &mut node,
            &json!({"spec": {"taints": [{"key": "b", "effect": "NoExecute"}]}}),
        )
        .unwrap();
        assert_eq!(
            node,
            json!({"spec": {"taints": [{"key": "b", "effect": "NoExecute"}]}})
        );
    }
}
