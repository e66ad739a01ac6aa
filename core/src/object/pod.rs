//! Pod.
use super::{ApiVersion, Kind, ObjectMeta, impl_resource, info};
use serde::{Deserialize, Serialize};

/// A `Pod` (stub: fields to come).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pod {
    /// Always `{}` of this kind.
    #[serde(default)]
    pub api_version: ApiVersion<Pod>,
    /// Always the kind name.
    #[serde(default)]
    pub kind: Kind<Pod>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl_resource!(Pod, info::POD);

/// The desired state of a pod (stub).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSpec {
    /// The containers.
    #[serde(default)]
    pub containers: Vec<Container>,
}

/// A container (stub).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Container {
    /// The container name.
    pub name: String,
    /// The image.
    #[serde(default)]
    pub image: Option<String>,
}

/// A pod template, as embedded in ReplicaSets, Deployments, DaemonSets (stub).
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodTemplateSpec {
    /// Metadata given to each pod created from the template.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The pod spec.
    #[serde(default)]
    pub spec: PodSpec,
}
