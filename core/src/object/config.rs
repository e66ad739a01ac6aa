//! Namespace, ConfigMap, Secret, ServiceAccount.
use super::{ApiVersion, Kind, ObjectMeta, impl_resource, info};
use serde::{Deserialize, Serialize};

/// A `Namespace` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Namespace {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<Namespace>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<Namespace>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(Namespace, info::NAMESPACE);

/// A `ConfigMap` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMap {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<ConfigMap>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<ConfigMap>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(ConfigMap, info::CONFIG_MAP);

/// A `Secret` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secret {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<Secret>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<Secret>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(Secret, info::SECRET);

/// A `ServiceAccount` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccount {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<ServiceAccount>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<ServiceAccount>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(ServiceAccount, info::SERVICE_ACCOUNT);
