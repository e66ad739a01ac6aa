//! The `scale` subresource (upstream `autoscaling/v1` `Scale`, served for ReplicaSets,
//! ReplicationControllers and Deployments by their `ScaleREST` storage): read and set
//! `spec.replicas` without touching the rest of the object.

use skiff_core::client::Scale;
use skiff_core::event::Actor;
use skiff_core::object::{KindInfo, Object};
use skiff_core::selector::LabelSelector;
use skiff_core::validate::FieldError;

use super::status::{ApiError, Reason, Status};
use super::{ApiServer, MODIFIED, conflict};

/// Attempts of a scale without a resourceVersion against objects other writers keep changing
/// (as a patch, upstream retries such writes).
const SCALE_CONFLICT_RETRIES_MAX: usize = 5;

/// 404 for a resource without a `scale` subresource (upstream's router has no such path:
/// `NewNotFound` of the empty resource prints this sentence).
fn no_scale() -> Status {
    Status {
        reason: Reason::NotFound,
        message: "the server could not find the requested resource".to_owned(),
        name: None,
        kind: None,
        causes: Vec::new(),
    }
}

/// `metav1.FormatLabelSelector`: the selector in `kubectl -l` syntax, `<none>` when empty.
fn format_label_selector(selector: Option<&LabelSelector>) -> String {
    let Some(selector) = selector else {
        return String::new();
    };
    match selector.to_selector() {
        Ok(s) if s.is_empty() => "<none>".to_owned(),
        Ok(s) => s.to_string(),
        Err(_) => "<error>".to_owned(),
    }
}

/// The Scale of a scalable object (upstream `scaleFromReplicaSet` and siblings).
fn scale_of(object: &Object) -> Result<Scale, Status> {
    let meta = object.metadata();
    let (replicas, status_replicas, selector) = match object {
        Object::ReplicaSet(rs) => (
            rs.spec.replicas.unwrap_or(1),
            rs.status.replicas,
            format_label_selector(rs.spec.selector.as_ref()),
        ),
        Object::Deployment(d) => (
            d.spec.replicas.unwrap_or(1),
            d.status.replicas.unwrap_or(0),
            format_label_selector(d.spec.selector.as_ref()),
        ),
        Object::ReplicationController(rc) => (
            rc.spec.replicas.unwrap_or(1),
            rc.status.replicas,
            format_label_selector(Some(&LabelSelector::from_labels(rc.spec.selector.clone()))),
        ),
        _ => return Err(no_scale()),
    };
    Ok(Scale {
        name: meta.name_or_empty().to_owned(),
        namespace: meta.namespace_or_empty().to_owned(),
        resource_version: meta.resource_version.clone(),
        replicas,
        status_replicas,
        selector,
    })
}

fn scalable(info: &KindInfo) -> Result<(), Status> {
    match info.kind {
        "ReplicaSet" | "ReplicationController" | "Deployment" => Ok(()),
        _ => Err(no_scale()),
    }
}

impl ApiServer {
    /// Reads the `scale` subresource.
    ///
    /// # Errors
    /// 404 for a missing object or a kind without the subresource.
    pub fn get_scale(
        &self,
        info: &KindInfo,
        namespace: &str,
        name: &str,
    ) -> Result<Scale, ApiError> {
        scalable(info)?;
        Ok(scale_of(&self.get(info, namespace, name)?)?)
    }

    /// Sets `spec.replicas` through the `scale` subresource. `scale.resource_version`, when
    /// set, must be the object's (409 otherwise); without it the write applies to whatever is
    /// current.
    ///
    /// # Errors
    /// 404 as [`ApiServer::get_scale`], 409 for a stale resourceVersion, 422 for a negative
    /// count (upstream `ValidateScale`).
    pub async fn update_scale(
        &self,
        actor: &Actor,
        info: &KindInfo,
        scale: &Scale,
    ) -> Result<Scale, ApiError> {
        scalable(info)?;
        let name = scale.name.as_str();
        if scale.replicas < 0 {
            return Err(Status::invalid(
                "Scale.autoscaling",
                name,
                &[FieldError::invalid(
                    "spec.replicas",
                    scale.replicas.to_string(),
                    "must be greater than or equal to 0",
                )],
            )
            .into());
        }
        let pinned = scale
            .resource_version
            .as_deref()
            .is_some_and(|rv| !rv.is_empty());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut object = self.get(info, &scale.namespace, name)?;
            if pinned && object.metadata().resource_version != scale.resource_version {
                return Err(conflict(info, name, MODIFIED).into());
            }
            match &mut object {
                Object::ReplicaSet(o) => o.spec.replicas = Some(scale.replicas),
                Object::ReplicationController(o) => o.spec.replicas = Some(scale.replicas),
                Object::Deployment(o) => o.spec.replicas = Some(scale.replicas),
                _ => return Err(no_scale().into()),
            }
            match Box::pin(self.update(actor, object)).await {
                Ok(stored) => return Ok(scale_of(&stored)?),
                Err(ApiError::Rejected(status))
                    if status.reason == Reason::Conflict
                        && !pinned
                        && attempt < SCALE_CONFLICT_RETRIES_MAX => {}
                Err(e) => return Err(e),
            }
        }
    }
}
