//! Role, ClusterRole, RoleBinding, ClusterRoleBinding.
use super::{ApiVersion, Kind, ObjectMeta, impl_resource, info};
use serde::{Deserialize, Serialize};

/// A `Role` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Role {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<Role>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<Role>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(Role, info::ROLE);

/// A `ClusterRole` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterRole {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<ClusterRole>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<ClusterRole>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(ClusterRole, info::CLUSTER_ROLE);

/// A `RoleBinding` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleBinding {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<RoleBinding>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<RoleBinding>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(RoleBinding, info::ROLE_BINDING);

/// A `ClusterRoleBinding` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterRoleBinding {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<ClusterRoleBinding>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<ClusterRoleBinding>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(ClusterRoleBinding, info::CLUSTER_ROLE_BINDING);
