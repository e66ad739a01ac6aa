//! PersistentVolume, PersistentVolumeClaim.
//!
//! skiff binds claims to volumes and knows host paths; every other volume source (cloud disks,
//! NFS, CSI, …) is carried verbatim as a [`Value`] under its upstream field name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::event::is_default;
use super::serde_util::null_as_default;
use super::{ApiVersion, Kind, ObjectMeta, ObjectReference, Time, Value, impl_resource, info};
use crate::quantity::Quantity;
use crate::selector::LabelSelector;

/// A `PersistentVolume`: a piece of storage provisioned for claims (upstream
/// `core/v1.PersistentVolume`).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistentVolume {
    /// Always `v1`.
    #[serde(default)]
    pub api_version: ApiVersion<PersistentVolume>,
    /// Always `PersistentVolume`.
    #[serde(default)]
    pub kind: Kind<PersistentVolume>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the volume is and how it may be used.
    #[serde(default, skip_serializing_if = "is_default")]
    pub spec: PersistentVolumeSpec,
    /// Binding phase.
    #[serde(default, skip_serializing_if = "is_default")]
    pub status: PersistentVolumeStatus,
}
impl_resource!(PersistentVolume, info::PERSISTENT_VOLUME);

/// What a [`PersistentVolume`] is and how it may be used. Upstream inlines the volume source
/// (`PersistentVolumeSource`) into this struct; so does skiff, one field per source, of which
/// exactly one should be set.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistentVolumeSpec {
    /// Size of the volume, by resource name (`storage`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub capacity: BTreeMap<String, Quantity>,
    /// `ReadWriteOnce`, `ReadOnlyMany`, `ReadWriteMany`, `ReadWriteOncePod`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub access_modes: Vec<String>,
    /// The claim bound to this volume (the claim's `volumeName` is authoritative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_ref: Option<ObjectReference>,
    /// `Retain`, `Delete` or `Recycle`: what happens when the claim goes away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_reclaim_policy: Option<String>,
    /// The StorageClass the volume belongs to; unset means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Mount options, e.g. `ro`, `soft`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mount_options: Vec<String>,
    /// `Filesystem` (the default) or `Block`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mode: Option<String>,
    /// Nodes the volume is reachable from (a `NodeSelector`): carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub node_affinity: Option<Value>,
    /// The VolumeAttributesClass the volume belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_attributes_class_name: Option<String>,
    /// A directory on the node (single-node development and tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<super::HostPathVolumeSource>,
    /// A GCE persistent disk: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub gce_persistent_disk: Option<Value>,
    /// An AWS EBS volume: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub aws_elastic_block_store: Option<Value>,
    /// A GlusterFS volume: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub glusterfs: Option<Value>,
    /// An NFS export: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub nfs: Option<Value>,
    /// A Rados block device: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub rbd: Option<Value>,
    /// An iSCSI disk: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub iscsi: Option<Value>,
    /// A Cinder volume: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub cinder: Option<Value>,
    /// A CephFS mount: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub cephfs: Option<Value>,
    /// A Fibre Channel disk: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub fc: Option<Value>,
    /// A Flocker dataset: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub flocker: Option<Value>,
    /// An exec-plugin volume: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub flex_volume: Option<Value>,
    /// An Azure File share: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub azure_file: Option<Value>,
    /// A vSphere disk: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub vsphere_volume: Option<Value>,
    /// A Quobyte volume: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub quobyte: Option<Value>,
    /// An Azure data disk: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub azure_disk: Option<Value>,
    /// A PhotonController disk: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub photon_persistent_disk: Option<Value>,
    /// A Portworx volume: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub portworx_volume: Option<Value>,
    /// A ScaleIO volume: carried verbatim.
    #[serde(
        default,
        rename = "scaleIO",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub scale_io: Option<Value>,
    /// A local disk with node affinity: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub local: Option<Value>,
    /// A StorageOS volume: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub storageos: Option<Value>,
    /// A CSI driver volume: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub csi: Option<Value>,
}

/// The binding phase of a [`PersistentVolume`].
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistentVolumeStatus {
    /// `Pending`, `Available`, `Bound`, `Released` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Why the volume is in this phase, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why the volume is in this phase, CamelCase for machines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the phase last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_phase_transition_time: Option<Time>,
}

/// A `PersistentVolumeClaim`: a request for storage, bound to one [`PersistentVolume`]
/// (upstream `core/v1.PersistentVolumeClaim`).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistentVolumeClaim {
    /// Always `v1`.
    #[serde(default)]
    pub api_version: ApiVersion<PersistentVolumeClaim>,
    /// Always `PersistentVolumeClaim`.
    #[serde(default)]
    pub kind: Kind<PersistentVolumeClaim>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What is requested.
    #[serde(default, skip_serializing_if = "is_default")]
    pub spec: PersistentVolumeClaimSpec,
    /// What was bound.
    #[serde(default, skip_serializing_if = "is_default")]
    pub status: PersistentVolumeClaimStatus,
}
impl_resource!(PersistentVolumeClaim, info::PERSISTENT_VOLUME_CLAIM);

/// What a [`PersistentVolumeClaim`] requests.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistentVolumeClaimSpec {
    /// Access modes the volume must offer.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub access_modes: Vec<String>,
    /// Labels a volume must match to be bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Minimum (and maximum) resources of the volume.
    #[serde(default, skip_serializing_if = "is_default")]
    pub resources: VolumeResourceRequirements,
    /// The volume bound to the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_name: Option<String>,
    /// The StorageClass required; `""` asks for a volume without a class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// `Filesystem` (the default) or `Block`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mode: Option<String>,
    /// A snapshot or claim to populate the volume from: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub data_source: Option<Value>,
    /// Any object to populate the volume from: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub data_source_ref: Option<Value>,
    /// The VolumeAttributesClass to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_attributes_class_name: Option<String>,
}

/// Storage a [`PersistentVolumeClaim`] asks for (upstream `VolumeResourceRequirements`).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeResourceRequirements {
    /// Most the claim may use, by resource name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub limits: BTreeMap<String, Quantity>,
    /// Least the volume must offer, by resource name (`storage`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub requests: BTreeMap<String, Quantity>,
}

/// What a [`PersistentVolumeClaim`] was bound to.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistentVolumeClaimStatus {
    /// `Pending`, `Bound` or `Lost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Access modes of the bound volume.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub access_modes: Vec<String>,
    /// Resources of the bound volume.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub capacity: BTreeMap<String, Quantity>,
    /// Resize progress and failures.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<PersistentVolumeClaimCondition>,
    /// Resources allotted while resizing, by resource name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub allocated_resources: BTreeMap<String, Quantity>,
    /// Resize state per resource name, e.g. `ControllerResizeInProgress`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub allocated_resource_statuses: BTreeMap<String, String>,
    /// The VolumeAttributesClass currently applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_volume_attributes_class_name: Option<String>,
    /// Progress of a VolumeAttributesClass change: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub modify_volume_status: Option<Value>,
}

/// A condition of a [`PersistentVolumeClaim`]: like
/// [`StatusCondition`](super::StatusCondition), plus when it was last probed.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistentVolumeClaimCondition {
    /// `Resizing`, `FileSystemResizePending`, `ModifyingVolume`, …
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// When the condition was last probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Machine-readable CamelCase reason for the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable details of the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::config::test_support::{assert_round_trips, conformance_objects, names};

    /// A quantity parsed from its text, without relying on how quantity.rs represents it.
    fn quantity(text: &str) -> Quantity {
        serde_json::from_value(serde_json::Value::String(text.into())).unwrap()
    }

    #[test]
    fn persistent_volumes_in_the_corpus_round_trip() {
        let Some(objects) = conformance_objects::<PersistentVolume>() else {
            return;
        };
        assert_eq!(
            names(&objects),
            [("pods__storage__pv-volume.yaml", "task-pv-volume")]
        );
        let spec = &objects[0].1.spec;
        assert_eq!(spec.capacity["storage"], quantity("10Gi"));
        assert_eq!(spec.access_modes, ["ReadWriteOnce"]);
        assert_eq!(
            spec.host_path,
            Some(crate::object::HostPathVolumeSource {
                path: "/mnt/data".into(),
                r#type: None
            })
        );
        assert_eq!(spec.storage_class_name.as_deref(), Some("manual"));
        assert_round_trips(&objects[0].1);
    }

    #[test]
    fn persistent_volume_claims_in_the_corpus_round_trip() {
        let Some(objects) = conformance_objects::<PersistentVolumeClaim>() else {
            return;
        };
        assert_eq!(
            names(&objects),
            [
                (
                    "application__wordpress__mysql-deployment.yaml",
                    "mysql-pv-claim"
                ),
                ("pods__storage__pv-claim.yaml", "task-pv-claim"),
            ]
        );
        assert_eq!(
            objects[1].1.spec.resources.requests["storage"],
            quantity("3Gi")
        );
        assert_eq!(objects[0].1.spec.storage_class_name, None);
        for (_, pvc) in &objects {
            assert_round_trips(pvc);
        }
    }

    #[test]
    fn persistent_volume_accepts_every_upstream_field_and_round_trips() {
        let sources = [
            "gcePersistentDisk: {pdName: d}",
            "awsElasticBlockStore: {volumeID: v}",
            "glusterfs: {endpoints: e, path: p}",
            "nfs: {server: nfs.example.com, path: /export}",
            "rbd: {monitors: [m], image: i}",
            "iscsi: {targetPortal: t, iqn: q, lun: 0}",
            "cinder: {volumeID: v}",
            "cephfs: {monitors: [m]}",
            "fc: {wwids: [w]}",
            "flocker: {datasetName: d}",
            "flexVolume: {driver: d}",
            "azureFile: {secretName: s, shareName: n}",
            "vsphereVolume: {volumePath: p}",
            "quobyte: {registry: r, volume: v}",
            "azureDisk: {diskName: d, diskURI: u}",
            "photonPersistentDisk: {pdID: p}",
            "portworxVolume: {volumeID: v}",
            "scaleIO: {gateway: g, system: s, secretRef: {name: n}}",
            "local: {path: /mnt/disks/ssd1}",
            "storageos: {volumeName: v}",
            "csi: {driver: ebs.csi.aws.com, volumeHandle: vol-1}",
        ];
        for source in sources {
            let yaml = format!(
                "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: pv\nspec:\n  {source}\n  \
                 capacity: {{storage: 5Gi}}\n  accessModes: [ReadWriteOnce, ReadOnlyMany]\n  \
                 claimRef: {{kind: PersistentVolumeClaim, namespace: default, name: data, uid: u1}}\n  \
                 persistentVolumeReclaimPolicy: Retain\n  storageClassName: fast\n  \
                 mountOptions: [hard, nfsvers=4.1]\n  volumeMode: Filesystem\n  nodeAffinity:\n    \
                 required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {{key: \
                 kubernetes.io/hostname, operator: In, values: [node-1]}}\n  \
                 volumeAttributesClassName: gold\nstatus:\n  phase: Bound\n  message: bound\n  \
                 reason: Ok\n  lastPhaseTransitionTime: \"2024-05-01T12:00:00Z\"\n"
            );
            let pv: PersistentVolume =
                serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{source}: {e}"));
            assert_eq!(
                pv.spec.claim_ref.as_ref().unwrap().name.as_deref(),
                Some("data")
            );
            assert_eq!(pv.spec.mount_options, ["hard", "nfsvers=4.1"]);
            assert_eq!(pv.status.phase.as_deref(), Some("Bound"));
            assert_round_trips(&pv);
        }
    }

    #[test]
    fn persistent_volume_claim_accepts_every_upstream_field_and_round_trips() {
        let pvc: PersistentVolumeClaim = serde_saphyr::from_str(
            r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  selector:
    matchLabels: {tier: fast}
  resources:
    limits: {storage: 20Gi}
    requests: {storage: 10Gi}
  volumeName: pv-1
  storageClassName: ""
  volumeMode: Block
  dataSource: {kind: PersistentVolumeClaim, name: old}
  dataSourceRef: {kind: PersistentVolumeClaim, name: old}
  volumeAttributesClassName: gold
status:
  phase: Bound
  accessModes: [ReadWriteOnce]
  capacity: {storage: 10Gi}
  conditions:
  - type: Resizing
    status: "True"
    lastProbeTime: "2024-05-01T12:00:00Z"
    lastTransitionTime: "2024-05-01T12:00:00Z"
    reason: Resizing
    message: resizing from 10Gi to 20Gi
  allocatedResources: {storage: 20Gi}
  allocatedResourceStatuses: {storage: ControllerResizeInProgress}
  currentVolumeAttributesClassName: silver
  modifyVolumeStatus: {targetVolumeAttributesClassName: gold, status: InProgress}
"#,
        )
        .unwrap();
        assert_eq!(pvc.spec.storage_class_name.as_deref(), Some(""));
        assert_eq!(pvc.spec.resources.limits["storage"], quantity("20Gi"));
        assert_eq!(
            pvc.spec.selector.as_ref().unwrap().match_labels["tier"],
            "fast"
        );
        assert_eq!(
            pvc.status.conditions[0].last_probe_time,
            Some(Time::from_unix_seconds(1_714_564_800))
        );
        assert_eq!(
            pvc.status.allocated_resource_statuses["storage"],
            "ControllerResizeInProgress"
        );
        assert_round_trips(&pvc);
    }

    #[test]
    fn host_path_needs_a_path() {
        let err = serde_json::from_str::<PersistentVolume>(
            r#"{"spec":{"hostPath":{"type":"Directory"}}}"#,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "missing field `path` at line 1 column 40");
    }
}
