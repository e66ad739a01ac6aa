//! `apply`: create an object, or patch it to the manifest's desired state when it exists —
//! what `skiff apply -f` and [`crate::Cluster::apply_yaml`] do (kubectl's client-side apply:
//! a three-way merge of the last-applied manifest, the new one and the live object).

use serde_json::Value;
use skiff_core::client::{Client, ClientError, PatchType};
use skiff_core::object::Object;
use skiff_core::status::Reason;

/// What an apply did to one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The object did not exist and was created.
    Created(Object),
    /// The object existed and was updated.
    Configured(Object),
    /// The object already had this desired state; nothing was written.
    Unchanged(Object),
}

impl Applied {
    /// The object as stored after the apply.
    pub fn object(&self) -> &Object {
        match self {
            Applied::Created(o) | Applied::Configured(o) | Applied::Unchanged(o) => o,
        }
    }

    /// kubectl's verb for the outcome: `created`, `configured`, `unchanged`.
    pub fn verb(&self) -> &'static str {
        match self {
            Applied::Created(_) => "created",
            Applied::Configured(_) => "configured",
            Applied::Unchanged(_) => "unchanged",
        }
    }
}

/// The annotation holding the manifest last applied (kubectl's name): the "original" of the
/// next apply's three-way merge, telling which fields a manifest dropped (and so removes) from
/// fields it never set (and so leaves alone).
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manifest as JSON, without its own last-applied annotation: what [`LAST_APPLIED`] holds.
fn last_applied(object: &Object) -> String {
    let mut copy = object.clone();
    copy.metadata_mut().annotations.remove(LAST_APPLIED);
    serde_json::to_string(&copy).unwrap_or_default()
}

/// Creates `object`, or brings the stored object of the same kind, namespace and name to the
/// manifest's desired state the way `kubectl apply` does: a three-way merge of the manifest
/// last applied (the [`LAST_APPLIED`] annotation), the new manifest and the live object, sent
/// as a JSON merge patch. Fields the new manifest sets are set; fields the last manifest set
/// and the new one drops are removed; fields neither manifest mentions — server defaults,
/// admission's additions (a pod's service account), other writers' labels — are kept. So a
/// pod's manifest can be applied again with a new label even though its spec may no longer
/// change. The patch carries the live resourceVersion, so a concurrent change between the
/// read and the write is a Conflict, never a lost update.
pub async fn apply(client: &dyn Client, mut object: Object) -> Result<Applied, ClientError> {
    let info = object.info();
    let applied = last_applied(&object);
    object
        .metadata_mut()
        .annotations
        .insert(LAST_APPLIED.to_owned(), applied);
    let ns = match object.metadata().namespace.clone() {
        Some(ns) if !ns.is_empty() => ns,
        _ if info.namespaced => "default".to_owned(),
        _ => String::new(),
    };
    let name = object.metadata().name_or_empty().to_owned();
    match client.get(info, &ns, &name).await {
        Err(ClientError::Status(s)) if s.reason == Reason::NotFound => {
            let ns = info.namespaced.then_some(ns);
            Ok(Applied::Created(
                client.create(ns.as_deref(), object).await?,
            ))
        }
        Err(e) => Err(e),
        Ok(current) => {
            let original = current
                .metadata()
                .annotations
                .get(LAST_APPLIED)
                .and_then(|text| serde_json::from_str::<Value>(text).ok());
            let modified = serde_json::to_value(&object)
                .map_err(|e| ClientError::Transport(format!("encoding the manifest: {e}")))?;
            let mut patch = three_way_patch(original.as_ref(), &modified);
            if let Value::Object(fields) = &mut patch {
                // Status is written through its subresource only; the precondition guards
                // against a change between the read above and this write.
                fields.remove("status");
                let metadata = fields
                    .entry("metadata")
                    .or_insert_with(|| Value::Object(serde_json::Map::new()));
                if let Value::Object(metadata) = metadata {
                    metadata.insert(
                        "resourceVersion".to_owned(),
                        Value::String(
                            current
                                .metadata()
                                .resource_version
                                .clone()
                                .unwrap_or_default(),
                        ),
                    );
                }
            }
            let body = serde_json::to_vec(&patch)
                .map_err(|e| ClientError::Transport(format!("encoding the patch: {e}")))?;
            let patched = client
                .patch(info, &ns, &name, PatchType::Merge, body)
                .await?;
            // The API server writes nothing for a patch that changes nothing.
            if patched.metadata().resource_version == current.metadata().resource_version {
                Ok(Applied::Unchanged(patched))
            } else {
                Ok(Applied::Configured(patched))
            }
        }
    }
}

/// The JSON merge patch taking the live object to `modified` without touching what neither
/// manifest mentions: every field of `modified`, plus `null` for each field `original` had
/// and `modified` dropped (recursively through objects; lists are replaced whole, as RFC 7386
/// does).
fn three_way_patch(original: Option<&Value>, modified: &Value) -> Value {
    match (original, modified) {
        (Some(Value::Object(original)), Value::Object(modified)) => {
            let mut patch = serde_json::Map::new();
            for (key, value) in modified {
                patch.insert(key.clone(), three_way_patch(original.get(key), value));
            }
            for key in original.keys() {
                if !modified.contains_key(key) {
                    patch.insert(key.clone(), Value::Null);
                }
            }
            Value::Object(patch)
        }
        (_, modified) => modified.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::three_way_patch;
    use serde_json::json;

    #[test]
    fn three_way_patch_sets_new_fields_and_removes_only_what_the_last_manifest_set() {
        let original = json!({"metadata": {"labels": {"app": "web", "old": "x"}}, "spec": {"replicas": 3, "paused": true}});
        let modified = json!({"metadata": {"labels": {"app": "api"}}, "spec": {"replicas": 3, "template": {"a": [1, 2]}}});
        assert_eq!(
            three_way_patch(Some(&original), &modified),
            json!({"metadata": {"labels": {"app": "api", "old": null}}, "spec": {"replicas": 3, "paused": null, "template": {"a": [1, 2]}}})
        );
        // Without a last-applied manifest nothing is removed.
        assert_eq!(three_way_patch(None, &modified), modified);
    }
}
