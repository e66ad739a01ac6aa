//! `apply`: create an object, or update it to the manifest's desired state when it exists —
//! what `skiff apply -f` and [`crate::Cluster::apply_yaml`] do (client-side apply: the
//! manifest replaces the stored object's desired state; server-owned metadata and the status
//! are kept).

use skiff_core::client::{Client, ClientError};
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

/// The annotation holding the manifest last applied (kubectl's name), so that applying the
/// same manifest again is recognised as unchanged even though the server added defaults.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manifest as JSON, without its own last-applied annotation: what [`LAST_APPLIED`] holds.
fn last_applied(object: &Object) -> String {
    let mut copy = object.clone();
    copy.metadata_mut().annotations.remove(LAST_APPLIED);
    serde_json::to_string(&copy).unwrap_or_default()
}

/// Creates `object`, or replaces the desired state of the stored object of the same kind,
/// namespace and name. The update carries the stored resourceVersion, so a concurrent change
/// between the read and the write is a Conflict, never a lost update.
pub async fn apply(client: &dyn Client, mut object: Object) -> Result<Applied, ClientError> {
    let info = object.info();
    let applied = last_applied(&object);
    object
        .metadata_mut()
        .annotations
        .insert(LAST_APPLIED.to_owned(), applied.clone());
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
            if current.metadata().annotations.get(LAST_APPLIED) == Some(&applied) {
                return Ok(Applied::Unchanged(current));
            }
            let mut next = object;
            {
                let (meta, old) = (next.metadata_mut(), current.metadata());
                meta.namespace.clone_from(&old.namespace);
                meta.uid.clone_from(&old.uid);
                meta.resource_version.clone_from(&old.resource_version);
                meta.creation_timestamp = old.creation_timestamp;
                meta.generation = old.generation;
                meta.deletion_timestamp = old.deletion_timestamp;
                meta.deletion_grace_period_seconds = old.deletion_grace_period_seconds;
                meta.managed_fields.clone_from(&old.managed_fields);
            }
            next.copy_status_from(&current);
            if next == current {
                Ok(Applied::Unchanged(current))
            } else {
                Ok(Applied::Configured(client.update(next).await?))
            }
        }
    }
}
