//! PersistentVolume, PersistentVolumeClaim.
use super::{ApiVersion, Kind, ObjectMeta, impl_resource, info};
use serde::{Deserialize, Serialize};

/// A `PersistentVolume` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistentVolume {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<PersistentVolume>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<PersistentVolume>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(PersistentVolume, info::PERSISTENT_VOLUME);

/// A `PersistentVolumeClaim` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistentVolumeClaim {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<PersistentVolumeClaim>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<PersistentVolumeClaim>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(PersistentVolumeClaim, info::PERSISTENT_VOLUME_CLAIM);
