//! ReplicaSet, ReplicationController, Deployment, DaemonSet.
use super::{ApiVersion, Kind, ObjectMeta, impl_resource, info};
use serde::{Deserialize, Serialize};

/// A `ReplicaSet` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicaSet {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<ReplicaSet>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<ReplicaSet>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(ReplicaSet, info::REPLICA_SET);

/// A `ReplicationController` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicationController {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<ReplicationController>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<ReplicationController>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(ReplicationController, info::REPLICATION_CONTROLLER);

/// A `Deployment` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deployment {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<Deployment>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<Deployment>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(Deployment, info::DEPLOYMENT);

/// A `DaemonSet` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DaemonSet {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<DaemonSet>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<DaemonSet>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(DaemonSet, info::DAEMON_SET);
