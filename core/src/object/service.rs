//! Service, Endpoints.
use super::{ApiVersion, Kind, ObjectMeta, impl_resource, info};
use serde::{Deserialize, Serialize};

/// A `Service` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<Service>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<Service>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(Service, info::SERVICE);

/// A `Endpoints` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Endpoints {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<Endpoints>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<Endpoints>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(Endpoints, info::ENDPOINTS);
