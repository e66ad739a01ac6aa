//! Object validation shared by the API server and `skiff validate`.
//!
//! Errors follow upstream's `field.Error` shape: a field path, a type (Required, Invalid, …)
//! and a detail, printed as `spec.replicas: Invalid value: -1: must be greater than or equal
//! to 0`.
//!
//! # What is checked
//!
//! The rules are upstream's create-time validation (`pkg/apis/core/validation`,
//! `pkg/apis/apps/validation`, `pkg/apis/rbac/validation`, `pkg/apis/coordination/validation`
//! and apimachinery's `ValidateObjectMeta`), rule by rule, with upstream's field paths and
//! messages. Each rule names its upstream source in a comment.
//!
//! # Assumptions
//!
//! Upstream validates an object *after* defaulting and after the request has filled in the
//! namespace and generated the name. skiff validates the object as written (what `skiff
//! validate` sees), so a field upstream defaults is accepted when unset and checked as its
//! default would be: an unset `restartPolicy` is `Always`, an unset port `protocol` is `TCP`,
//! an unset namespace is the request's, a `generateName` without `name` gets a name. Where the
//! defaulted value would itself be invalid (a ReplicationController whose template has no labels
//! to default its selector from), the error is reported as upstream reports it.
//!
//! # Guarantees
//!
//! - Deterministic: maps are walked in key order (upstream walks Go maps in random order), so
//!   the same object always gives the same list in the same order — field walk order otherwise.
//! - Never panics, whatever the input (a fuzz target validates every object that parses).
//! - Bounded: every loop walks a collection of the object, whose size the manifest parser
//!   bounds (`manifest::MANIFEST_BYTES_MAX`).

use std::fmt;

use crate::object::Object;

mod config;
mod container;
mod format;
mod meta;
mod pod;
mod rbac;
mod scheduling;
mod service;
mod storage;
mod syntax;
mod update;
mod workload;

pub use format::go_quote;
pub use update::{POD_UPDATABLE_FIELDS, validate_update};

/// The kind of a validation failure (upstream `field.ErrorType`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldErrorType {
    /// A required field is missing or empty.
    Required,
    /// A value is malformed or out of range; carries the value rendered as upstream prints it
    /// (strings quoted Go-style, numbers plain).
    Invalid(String),
    /// A value is not one of the supported ones; carries the rendered value and the supported
    /// set, in upstream's order.
    NotSupported(String, Vec<String>),
    /// A value appears twice where it must be unique; carries the rendered value.
    Duplicate(String),
    /// A value is longer than allowed; carries the limit.
    TooLong(usize),
    /// The field may not be set (or changed) here.
    Forbidden,
    /// A reference names something that does not exist (upstream `field.NotFound`, e.g. a
    /// volume mount of an undeclared volume); carries the rendered value.
    NotFound(String),
}

/// One validation failure at one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field path, e.g. `spec.template.spec.containers[0].name`.
    pub field: String,
    /// What kind of failure.
    pub error_type: FieldErrorType,
    /// Why, in words (may be empty).
    pub detail: String,
}

impl FieldError {
    /// A required field is missing (upstream `field.Required`).
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            error_type: FieldErrorType::Required,
            detail: detail.into(),
        }
    }

    /// A malformed value (upstream `field.Invalid`); `value` is already rendered (see
    /// [`go_quote`] for strings).
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            error_type: FieldErrorType::Invalid(value.into()),
            detail: detail.into(),
        }
    }

    /// A value outside an enumeration (upstream `field.NotSupported`); `value` is rendered,
    /// `supported` in upstream's order.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<String>,
        supported: &[&str],
    ) -> Self {
        Self {
            field: field.into(),
            error_type: FieldErrorType::NotSupported(
                value.into(),
                supported.iter().map(|s| (*s).to_owned()).collect(),
            ),
            detail: String::new(),
        }
    }

    /// A value that must be unique appears again (upstream `field.Duplicate`).
    pub fn duplicate(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            error_type: FieldErrorType::Duplicate(value.into()),
            detail: String::new(),
        }
    }

    /// A reference to something that does not exist (upstream `field.NotFound`).
    pub fn not_found(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            error_type: FieldErrorType::NotFound(value.into()),
            detail: String::new(),
        }
    }

    /// A field that may not be set here (upstream `field.Forbidden`).
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            error_type: FieldErrorType::Forbidden,
            detail: detail.into(),
        }
    }

    /// A value over a size limit in bytes (upstream `field.TooLong`).
    pub fn too_long(field: impl Into<String>, max_bytes: usize) -> Self {
        Self {
            field: field.into(),
            error_type: FieldErrorType::TooLong(max_bytes),
            detail: String::new(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.field)?;
        match &self.error_type {
            FieldErrorType::Required => f.write_str("Required value")?,
            FieldErrorType::Invalid(value) => write!(f, "Invalid value: {value}")?,
            FieldErrorType::NotSupported(value, supported) => {
                write!(f, "Unsupported value: {value}")?;
                if !supported.is_empty() {
                    let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
                    write!(f, ": supported values: {}", quoted.join(", "))?;
                }
            }
            FieldErrorType::Duplicate(value) => write!(f, "Duplicate value: {value}")?,
            FieldErrorType::TooLong(max) => {
                // upstream field.TooLong (1.32+): "byte" for a limit of one.
                let unit = if *max == 1 { "byte" } else { "bytes" };
                write!(f, "Too long: may not be more than {max} {unit}")?;
            }
            FieldErrorType::Forbidden => f.write_str("Forbidden")?,
            FieldErrorType::NotFound(value) => write!(f, "Not found: {value}")?,
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldError {}

/// A field path under construction (upstream `field.Path`): `spec.containers[0].ports[1]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Path(String);

impl Path {
    /// A top-level field (`metadata`, `spec`, …).
    pub(crate) fn root(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// upstream `field.NewPath("")`: the whole object, printed `[]`.
    pub(crate) fn whole_object() -> Self {
        Self("[]".to_owned())
    }

    /// `self.name`.
    pub(crate) fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// `self[i]`.
    pub(crate) fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    /// `self[key]` (upstream prints map keys unquoted).
    pub(crate) fn key(&self, key: &str) -> Self {
        Self(format!("{}[{key}]", self.0))
    }
}

impl From<&Path> for String {
    fn from(path: &Path) -> Self {
        path.0.clone()
    }
}

/// The errors found so far, in walk order.
pub(crate) type Errors = Vec<FieldError>;

/// Validates an Event created through `events.k8s.io/v1` (upstream `ValidateEventCreate` for
/// that version): the core rules with the controller named `reportingController`, plus the
/// new API's strict rules (`eventTime` required, `type` `Normal` or `Warning`, no deprecated
/// fields). An empty list means valid.
pub fn validate_event_v1_create(event: &crate::object::Event) -> Vec<FieldError> {
    let mut errs = Errors::new();
    config::validate_event_v1_create(event, &mut errs);
    errs
}

/// Validates one object as the API server does on create, returning every failure found (an
/// empty list means valid).
///
/// # Guarantees
///
/// The same object always gives the same list, in field walk order; no input panics.
pub fn validate_object(object: &Object) -> Vec<FieldError> {
    let mut errs = Errors::new();
    match object {
        Object::Pod(pod) => pod::validate_pod(pod, &mut errs),
        Object::ReplicationController(rc) => {
            workload::validate_replication_controller(rc, &mut errs);
        }
        Object::ReplicaSet(rs) => workload::validate_replica_set(rs, &mut errs),
        Object::Deployment(deployment) => workload::validate_deployment(deployment, &mut errs),
        Object::DaemonSet(ds) => workload::validate_daemon_set(ds, &mut errs),
        Object::Service(service) => service::validate_service(service, &mut errs),
        Object::Endpoints(endpoints) => service::validate_endpoints(endpoints, &mut errs),
        Object::Node(node) => config::validate_node(node, &mut errs),
        Object::Namespace(namespace) => config::validate_namespace(namespace, &mut errs),
        Object::ConfigMap(config_map) => config::validate_config_map(config_map, &mut errs),
        Object::Secret(secret) => config::validate_secret(secret, &mut errs),
        Object::ServiceAccount(account) => config::validate_service_account(account, &mut errs),
        Object::Event(event) => config::validate_event(event, &mut errs),
        Object::Lease(lease) => config::validate_lease(lease, &mut errs),
        Object::PersistentVolume(pv) => storage::validate_persistent_volume(pv, &mut errs),
        Object::PersistentVolumeClaim(pvc) => {
            storage::validate_persistent_volume_claim(pvc, &mut errs);
        }
        Object::Role(role) => rbac::validate_role(role, &mut errs),
        Object::ClusterRole(role) => rbac::validate_cluster_role(role, &mut errs),
        Object::RoleBinding(binding) => rbac::validate_role_binding(binding, &mut errs),
        Object::ClusterRoleBinding(binding) => {
            rbac::validate_cluster_role_binding(binding, &mut errs);
        }
        Object::Custom(custom) => {
            // upstream's CR validation: ObjectMeta with DNS-subdomain names, then the kind's
            // own rules (a CRD's schema; here the registered hook).
            meta::validate_object_meta(
                &custom.metadata,
                custom.info().namespaced,
                syntax::NameRule::Subdomain,
                &mut errs,
            );
            if let Some(validate) = custom.custom_kind().validate {
                errs.extend(validate(custom));
            }
        }
    }
    errs
}
