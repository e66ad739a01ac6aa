//! Lease (upstream `coordination.k8s.io/v1`): node heartbeats and leader election.

use serde::{Deserialize, Serialize};

use super::event::is_default;
use super::{ApiVersion, Kind, MicroTime, ObjectMeta, impl_resource, info};

/// A `Lease`: a named lock with a holder and an expiry. Each node's kubelet renews the Lease
/// named after it in `kube-node-lease`; the node lifecycle controller reads `renewTime`.
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
pub struct Lease {
    /// Always `coordination.k8s.io/v1`.
    #[serde(default)]
    pub api_version: ApiVersion<Lease>,
    /// Always `Lease`.
    #[serde(default)]
    pub kind: Kind<Lease>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Holder and timing.
    #[serde(default, skip_serializing_if = "is_default")]
    pub spec: LeaseSpec,
}
impl_resource!(Lease, info::LEASE);

impl Lease {
    /// Who holds the lease, if anyone.
    pub fn holder_identity(&self) -> Option<&str> {
        self.spec.holder_identity.as_deref()
    }

    /// True when `identity` holds the lease.
    pub fn is_held_by(&self, identity: &str) -> bool {
        self.holder_identity() == Some(identity)
    }

    /// When the lease lapses unless renewed: `renewTime + leaseDurationSeconds`. `None` when
    /// either is unset; saturates rather than overflowing.
    pub fn expires_at(&self) -> Option<MicroTime> {
        let renewed = self.spec.renew_time?;
        let duration_micros = i64::from(self.spec.lease_duration_seconds?) * 1_000_000;
        Some(MicroTime::from_unix_micros(
            renewed.unix_micros.saturating_add(duration_micros),
        ))
    }
}

/// Holder and timing of a [`Lease`].
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
pub struct LeaseSpec {
    /// Identity of the current holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_identity: Option<String>,
    /// Seconds a candidate waits after `renewTime` before it may take the lease over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
    /// When the current holder acquired the lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquire_time: Option<MicroTime>,
    /// When the current holder last renewed the lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_time: Option<MicroTime>,
    /// How many times the lease has changed holders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_transitions: Option<i32>,
    /// Coordinated leader election strategy, e.g. `OldestEmulationVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// The holder the election coordinator would like to hand the lease to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_holder: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::config::test_support::assert_round_trips;

    const NODE_LEASE: &str = r#"
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: node-1
  namespace: kube-node-lease
spec:
  holderIdentity: node-1
  leaseDurationSeconds: 40
  acquireTime: "2024-05-01T11:00:00.000000Z"
  renewTime: "2024-05-01T12:00:00.250000Z"
  leaseTransitions: 2
  strategy: OldestEmulationVersion
  preferredHolder: node-2
"#;

    #[test]
    fn lease_accepts_every_upstream_field_and_round_trips() {
        let lease: Lease = serde_saphyr::from_str(NODE_LEASE).unwrap();
        assert_eq!(
            lease.spec,
            LeaseSpec {
                holder_identity: Some("node-1".into()),
                lease_duration_seconds: Some(40),
                acquire_time: Some(MicroTime::from_unix_micros(1_714_561_200_000_000)),
                renew_time: Some(MicroTime::from_unix_micros(1_714_564_800_250_000)),
                lease_transitions: Some(2),
                strategy: Some("OldestEmulationVersion".into()),
                preferred_holder: Some("node-2".into()),
            }
        );
        assert_round_trips(&lease);
    }

    #[test]
    fn holder_accessors_read_the_spec() {
        let lease: Lease = serde_saphyr::from_str(NODE_LEASE).unwrap();
        assert_eq!(lease.holder_identity(), Some("node-1"));
        assert!(lease.is_held_by("node-1"));
        assert!(!lease.is_held_by("node-2"));
        assert_eq!(
            lease.expires_at(),
            Some(MicroTime::from_unix_micros(1_714_564_840_250_000))
        );
        let empty = Lease::default();
        assert_eq!(empty.holder_identity(), None);
        assert!(!empty.is_held_by(""));
        assert_eq!(empty.expires_at(), None);
    }

    #[test]
    fn renew_time_is_written_to_the_microsecond() {
        let mut lease = Lease::default();
        lease.spec.renew_time = Some(MicroTime::from_unix_micros(1_714_564_800_000_001));
        assert_eq!(
            serde_json::to_string(&lease).unwrap(),
            r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{},"spec":{"renewTime":"2024-05-01T12:00:00.000001Z"}}"#
        );
    }
}
