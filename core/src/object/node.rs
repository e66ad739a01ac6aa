//! Node.
use super::{ApiVersion, Kind, ObjectMeta, impl_resource, info};
use serde::{Deserialize, Serialize};

/// A `Node` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Node {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<Node>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<Node>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(Node, info::NODE);
