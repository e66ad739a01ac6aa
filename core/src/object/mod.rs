//! Typed Kubernetes API objects.
//!
//! Every kind is a plain struct with Kubernetes field names (camelCase in YAML and JSON) and
//! bincode's own `Encode`/`Decode` for storage. `apiVersion` and `kind` are not stored in the
//! struct: they are constants of the kind ([`Resource`]), written on serialization and checked by
//! the manifest parser before a document is read into its type.
//!
//! Fields that real manifests carry but skiff does not act on are declared as [`Value`] and kept
//! verbatim; a field name the upstream schema does not have is an error (`deny_unknown_fields`).

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

mod any;
mod config;
mod coordination;
mod custom;
mod event;
mod fields;
mod intstr;
mod meta;
mod node;
mod pod;
mod rbac;
mod registry;
pub mod serde_util;
mod service;
mod storage;
mod time;
mod type_field;
mod value;
mod workload;

pub(crate) use any::with_kinds;
pub use any::{Object, ObjectKind, TypedObject};
pub use config::*;
pub use coordination::*;
pub(crate) use custom::DynamicBody;
pub use custom::{
    CustomKind, CustomResource, DynamicKind, DynamicObject, KindDescription, KindRegistry,
    KindResolver, RegisterError, ValidateFn,
};
pub use event::*;
pub use fields::{
    COMMON_FIELDS, UnsupportedField, check_field_selector, field_supported, kind_fields,
};
pub use intstr::IntOrString;
pub use meta::{ObjectMeta, OwnerReference, TypeMeta};
pub use node::*;
pub use pod::*;
pub use rbac::*;
pub use registry::{
    KINDS, KindInfo, KindLookup, info, lookup_kind, removed_in, resolve_resource,
    unserved_kind_version,
};
pub use service::*;
pub use storage::*;
pub use time::{MicroTime, Time};
pub use type_field::{ApiVersion, HasKindInfo, Kind};
pub use value::{VALUE_DEPTH_MAX, Value};
pub use workload::*;

/// A kind of object skiff serves: its API coordinates and access to its metadata.
pub trait Resource:
    HasKindInfo
    + Debug
    + Clone
    + PartialEq
    + Serialize
    + DeserializeOwned
    + bincode::Encode
    + bincode::Decode<()>
    + Send
    + Sync
    + 'static
{
    /// The object's metadata.
    fn metadata(&self) -> &ObjectMeta;
    /// The object's metadata, mutably.
    fn metadata_mut(&mut self) -> &mut ObjectMeta;
}

/// Implements [`HasKindInfo`] and [`Resource`] for a top-level kind whose metadata field is
/// `metadata`.
macro_rules! impl_resource {
    ($ty:ty, $info:expr) => {
        impl $crate::object::HasKindInfo for $ty {
            const INFO: $crate::object::KindInfo = $info;
        }
        impl $crate::object::Resource for $ty {
            fn metadata(&self) -> &$crate::object::ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut $crate::object::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
pub(crate) use impl_resource;
