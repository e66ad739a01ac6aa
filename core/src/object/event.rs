//! Event.
use super::{ApiVersion, Kind, ObjectMeta, impl_resource, info};
use serde::{Deserialize, Serialize};

/// A `Event` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Event {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<Event>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<Event>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(Event, info::EVENT);
