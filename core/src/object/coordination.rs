//! Lease.
use super::{ApiVersion, Kind, ObjectMeta, impl_resource, info};
use serde::{Deserialize, Serialize};

/// A `Lease` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lease {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<Lease>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<Lease>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(Lease, info::LEASE);
