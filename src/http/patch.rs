//! PATCH bodies and the `scale` subresource, on JSON values.

use serde_json::{Map, Value, json};
use skiff_core::object::Object;

use super::encode::{self, HttpError};

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

/// Applies a patch of the request's `Content-Type`. A strategic merge patch is applied as a
/// merge patch (lists replace instead of merging by key; `$patch` directives are refused).
pub fn apply(content_type: &str, target: &mut Value, patch: &Value) -> Result<(), HttpError> {
    match content_type {
        "application/merge-patch+json" => {
            merge(target, patch);
            Ok(())
        }
        "application/strategic-merge-patch+json" => {
            if contains_directive(patch) {
                return Err(HttpError::new(
                    415,
                    "UnsupportedMediaType",
                    "strategic merge patch directives ($patch, $retainKeys, $setElementOrder, $deleteFromPrimitiveList) are not supported",
                ));
            }
            merge(target, patch);
            Ok(())
        }
        _ => Err(HttpError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({content_type}) - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json"
            ),
        )),
    }
}

fn contains_directive(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.starts_with('$') || contains_directive(v)),
        Value::Array(items) => items.iter().any(contains_directive),
        _ => false,
    }
}

/// A label selector (`matchLabels`/`matchExpressions`, or a ReplicationController's plain
/// map) in its string form, as `Scale.status.selector` carries it.
fn selector_string(selector: &Value) -> String {
    let labels = selector.get("matchLabels").unwrap_or(selector);
    let mut parts: Vec<String> = labels
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| *k != "matchExpressions" && *k != "matchLabels")
                .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
                .collect()
        })
        .unwrap_or_default();
    for expression in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expression["key"].as_str().unwrap_or("");
        let values: Vec<&str> = expression["values"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match expression["operator"].as_str().unwrap_or("") {
            "In" => parts.push(format!("{key} in ({})", values.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
            "Exists" => parts.push(key.to_owned()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    parts.join(",")
}

/// The `autoscaling/v1` `Scale` of a ReplicaSet, ReplicationController or Deployment.
pub fn scale_of(object: &Object) -> Value {
    let value = encode::object(object);
    let meta = &value["metadata"];
    let mut metadata = Map::new();
    for key in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if !meta[key].is_null() {
            metadata.insert(key.into(), meta[key].clone());
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": value["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {
            "replicas": value["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector_string(&value["spec"]["selector"]),
        },
    })
}

/// The object with `spec.replicas` from `scale` (its `metadata.resourceVersion`, when set, is
/// a precondition).
pub fn set_replicas(current: &Object, scale: &Value) -> Result<Object, HttpError> {
    let Some(replicas) = scale["spec"]["replicas"].as_i64() else {
        return Err(HttpError::bad_request("Scale spec.replicas is required"));
    };
    let mut value = encode::object(current);
    value["spec"]["replicas"] = replicas.into();
    match scale["metadata"]["resourceVersion"].as_str() {
        Some(rv) if !rv.is_empty() => value["metadata"]["resourceVersion"] = rv.into(),
        _ => {
            if let Some(meta) = value["metadata"].as_object_mut() {
                meta.remove("resourceVersion");
            }
        }
    }
    let text = serde_json::to_string(&value).unwrap_or_default();
    skiff_core::manifest::parse_str("scale", &text)
        .ok()
        .and_then(|mut objects| (objects.len() == 1).then(|| objects.remove(0)))
        .ok_or_else(|| HttpError::bad_request("the scaled object does not decode"))
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
    fn selectors_render_in_string_form() {
        assert_eq!(
            selector_string(&json!({"matchLabels": {"app": "web", "tier": "fe"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]}]})),
            "app=web,tier=fe,env in (a,b)"
        );
        assert_eq!(selector_string(&json!({"app": "myapp"})), "app=myapp");
    }
}
