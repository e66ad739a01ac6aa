//! PATCH bodies and the `scale` subresource, on JSON values.

use serde_json::{Map, Value, json};
use skiff_core::client::Scale;

use super::encode::HttpError;

/// RFC 7386 JSON merge patch: objects merge key by key, `null` removes a key, anything else
/// (lists included) replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// The patch types served (upstream's PATCH `Content-Type`s).
pub const PATCH_TYPES: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// 415 for a body in a media type the server does not read.
pub fn unsupported_media_type(accepted: &[&str]) -> HttpError {
    HttpError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            accepted.join(", ")
        ),
    )
}

/// Decodes an RFC 6901 JSON pointer into its reference tokens.
fn pointer_tokens(pointer: &str) -> Result<Vec<String>, HttpError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(HttpError::new(
            422,
            "Invalid",
            format!("invalid JSON pointer {pointer:?}"),
        ));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn json_patch_error(message: String) -> HttpError {
    HttpError::new(422, "Invalid", message)
}

/// The parent container of a pointer's last token, and that token.
fn parent<'a>(target: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), HttpError> {
    let mut tokens = pointer_tokens(path)?;
    let Some(last) = tokens.pop() else {
        return Err(json_patch_error("the root cannot be patched".into()));
    };
    let mut here = target;
    for token in &tokens {
        here = match here {
            Value::Object(map) => map.get_mut(token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| json_patch_error(format!("path {path:?} does not exist")))?;
    }
    Ok((here, last))
}

fn remove_at(target: &mut Value, path: &str) -> Result<Value, HttpError> {
    let (container, last) = parent(target, path)?;
    let removed = match container {
        Value::Object(map) => map.remove(&last),
        Value::Array(items) => last
            .parse::<usize>()
            .ok()
            .filter(|i| *i < items.len())
            .map(|i| items.remove(i)),
        _ => None,
    };
    removed.ok_or_else(|| json_patch_error(format!("path {path:?} does not exist")))
}

fn add_at(target: &mut Value, path: &str, value: Value, replace: bool) -> Result<(), HttpError> {
    let (container, last) = parent(target, path)?;
    match container {
        Value::Object(map) => {
            if replace && !map.contains_key(&last) {
                return Err(json_patch_error(format!("path {path:?} does not exist")));
            }
            map.insert(last, value);
            Ok(())
        }
        Value::Array(items) => {
            let index = if last == "-" && !replace {
                items.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| {
                        if replace {
                            *i < items.len()
                        } else {
                            *i <= items.len()
                        }
                    })
                    .ok_or_else(|| json_patch_error(format!("path {path:?} is out of range")))?
            };
            if replace {
                items[index] = value;
            } else {
                items.insert(index, value);
            }
            Ok(())
        }
        _ => Err(json_patch_error(format!("path {path:?} does not exist"))),
    }
}

/// RFC 6902 JSON patch: `add`, `remove`, `replace`, `move`, `copy` and `test`, in order; a
/// failing operation fails the whole patch (422).
pub fn json_patch(target: &mut Value, document: &Value) -> Result<(), HttpError> {
    let Some(operations) = document.as_array() else {
        return Err(HttpError::bad_request(
            "a JSON patch must be a list of operations",
        ));
    };
    for op in operations {
        let path = op["path"].as_str().unwrap_or("");
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| json_patch_error(format!("operation {op} has no value")))
        };
        let from = || {
            op["from"]
                .as_str()
                .ok_or_else(|| json_patch_error(format!("operation {op} has no from")))
        };
        match op["op"].as_str().unwrap_or("") {
            "add" => add_at(target, path, value()?, false)?,
            "replace" => add_at(target, path, value()?, true)?,
            "remove" => drop(remove_at(target, path)?),
            "move" => {
                let moved = remove_at(target, from()?)?;
                add_at(target, path, moved, false)?;
            }
            "copy" => {
                let copied = target.pointer(from()?).cloned().ok_or_else(|| {
                    json_patch_error(format!("path {:?} does not exist", from().unwrap_or("")))
                })?;
                add_at(target, path, copied, false)?;
            }
            "test" => {
                let expected = value()?;
                // Upstream (evanphx/json-patch v4, which the API server uses) takes a missing
                // member of an existing parent as `null`: kube-rs's finalizer helper tests
                // `/metadata/finalizers` against `null` before adding the first finalizer.
                let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
                let found = match target.pointer(path) {
                    None if expected.is_null() && target.pointer(parent).is_some() => {
                        Some(&Value::Null)
                    }
                    found => found,
                };
                if found != Some(&expected) {
                    return Err(json_patch_error(format!("testing value {path} failed")));
                }
            }
            other => {
                return Err(json_patch_error(format!(
                    "unexpected JSON patch operation {other:?}"
                )));
            }
        }
    }
    Ok(())
}

/// Applies a patch of the request's `Content-Type` to the JSON of an object of `kind`: a
/// strategic merge patch with the API server's own implementation (lists merged by their
/// upstream keys; `$setElementOrder` dropped first), a server-side apply patch
/// (`application/apply-patch+yaml`) as a merge patch, without field ownership (see the
/// module doc of [`super`]).
pub fn apply(
    content_type: &str,
    kind: &str,
    target: &mut Value,
    patch: &Value,
) -> Result<(), HttpError> {
    match content_type {
        "application/json-patch+json" => json_patch(target, patch),
        "application/merge-patch+json" | "application/apply-patch+yaml" => {
            merge(target, patch);
            Ok(())
        }
        "application/strategic-merge-patch+json" => {
            let mut patch = patch.clone();
            strip_set_element_order(&mut patch);
            skiff_store::apiserver::patch::strategic_merge_patch(kind, target, &patch)
                .map_err(HttpError::from)
        }
        _ => Err(unsupported_media_type(&PATCH_TYPES)),
    }
}

/// Removes `$setElementOrder/<list>` directives. They only order a merged list (kubectl's
/// client-side apply sends one beside every merge-keyed list it patches); without them the
/// merged list keeps the stored order and appends new elements.
pub fn strip_set_element_order(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !k.starts_with("$setElementOrder/"));
            map.values_mut().for_each(strip_set_element_order);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_set_element_order),
        _ => {}
    }
}

/// The `autoscaling/v1` `Scale` JSON of a [`Scale`].
pub fn scale_json(scale: &Scale) -> Value {
    let mut metadata = Map::new();
    metadata.insert("name".into(), scale.name.clone().into());
    metadata.insert("namespace".into(), scale.namespace.clone().into());
    if let Some(rv) = &scale.resource_version {
        metadata.insert("resourceVersion".into(), rv.clone().into());
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": scale.replicas},
        "status": {"replicas": scale.status_replicas, "selector": scale.selector},
    })
}

/// The [`Scale`] a `Scale` JSON body asks for, for the object named by the URL;
/// `metadata.resourceVersion`, when given, is a precondition.
pub fn scale_from(value: &Value, namespace: &str, name: &str) -> Result<Scale, HttpError> {
    let replicas = value["spec"]["replicas"]
        .as_i64()
        .and_then(|r| i32::try_from(r).ok())
        .ok_or_else(|| {
            HttpError::new(
                422,
                "Invalid",
                format!("Scale.autoscaling \"{name}\" is invalid: spec.replicas: Required value"),
            )
        })?;
    if let Some(n) = value["metadata"]["name"].as_str().filter(|n| *n != name) {
        return Err(HttpError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    Ok(Scale {
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        resource_version: value["metadata"]["resourceVersion"]
            .as_str()
            .filter(|rv| !rv.is_empty())
            .map(str::to_owned),
        replicas,
        ..Scale::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge(
            &mut target,
            &json!({"a": "z", "c": {"f": null}, "l": [3], "n": {"x": 1}}),
        );
        assert_eq!(
            target,
            json!({"a": "z", "c": {"d": "e"}, "l": [3], "n": {"x": 1}})
        );
    }

    #[test]
    fn json_patch_follows_rfc_6902() {
        let mut target = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"items": [1, 2]}});
        json_patch(
            &mut target,
            &json!([
                {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
                {"op": "replace", "path": "/metadata/labels/a", "value": "9"},
                {"op": "add", "path": "/spec/items/-", "value": 3},
                {"op": "remove", "path": "/spec/items/0"},
                {"op": "copy", "from": "/spec/items", "path": "/spec/copy"},
                {"op": "move", "from": "/spec/copy", "path": "/spec/moved"},
                {"op": "test", "path": "/spec/moved/1", "value": 3}
            ]),
        )
        .unwrap();
        assert_eq!(
            target,
            json!({"metadata": {"labels": {"a": "9", "b/c": "2"}},
                   "spec": {"items": [2, 3], "moved": [2, 3]}})
        );
        let err = json_patch(&mut target, &json!([{"op": "remove", "path": "/nope"}])).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (422, "path \"/nope\" does not exist")
        );
    }

    #[test]
    fn a_json_patch_test_of_a_missing_member_against_null_passes() {
        // kube-rs's finalizer helper adds the first finalizer with exactly this patch.
        let mut target = json!({"metadata": {"name": "a"}});
        json_patch(
            &mut target,
            &json!([
                {"op": "test", "path": "/metadata/finalizers", "value": null},
                {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/f"]}
            ]),
        )
        .unwrap();
        assert_eq!(
            target,
            json!({"metadata": {"name": "a", "finalizers": ["example.com/f"]}})
        );
        // Present now: testing it against null fails, as does a missing parent.
        for (path, value) in [
            ("/metadata/finalizers", json!(null)),
            ("/spec/x", json!(null)),
            ("/metadata/nope", json!("v")),
        ] {
            let err = json_patch(
                &mut target,
                &json!([{"op": "test", "path": path, "value": value}]),
            )
            .unwrap_err();
            assert_eq!(
                (err.code, err.message),
                (422, format!("testing value {path} failed"))
            );
        }
    }

    #[test]
    fn set_element_order_directives_are_dropped() {
        let mut patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}],
            "containers": [{"name": "nginx", "image": "nginx:1.28"}]}}}});
        strip_set_element_order(&mut patch);
        assert_eq!(
            patch,
            json!({"spec": {"template": {"spec": {
                "containers": [{"name": "nginx", "image": "nginx:1.28"}]}}}})
        );
    }
}
