//! Event (core/v1), and [`ObjectReference`], the loose reference several kinds share.

use serde::{Deserialize, Serialize};

use super::{ApiVersion, Kind, MicroTime, ObjectMeta, Time, impl_resource, info};

/// True when `value` equals its type's default: the `skip_serializing_if` predicate for nested
/// structs that upstream declares by value with `omitempty` (a `spec`, a `status`, a
/// `strategy`), so an absent or empty one is not written back.
pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// A reference to another object, or to part of one (upstream `core/v1.ObjectReference`).
///
/// Used by Event (`involvedObject`, `related`), Endpoints (`targetRef`), PersistentVolume
/// (`claimRef`) and ServiceAccount (`secrets`). Every field is optional upstream; which ones must
/// be set depends on where the reference is used.
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
pub struct ObjectReference {
    /// Kind of the referenced object, e.g. `Pod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Namespace of the referenced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name of the referenced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// UID of the referenced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// API version of the referenced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The resourceVersion the reference was taken at, if it pins one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// The part of the object referred to, e.g. `spec.containers{nginx}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
}

/// A report that something happened to an object (upstream `core/v1.Event`).
///
/// Both the older fields (`source`, `firstTimestamp`, `lastTimestamp`, `count`) and the newer
/// ones (`eventTime`, `series`, `reportingComponent`, `reportingInstance`) are typed: recorders
/// in the wild write either set.
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
pub struct Event {
    /// Always `v1`.
    #[serde(default)]
    pub api_version: ApiVersion<Event>,
    /// Always `Event`.
    #[serde(default)]
    pub kind: Kind<Event>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The object this event is about.
    pub involved_object: ObjectReference,
    /// Short, machine-readable CamelCase cause, e.g. `FailedScheduling`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The component (and host) that reported the event.
    #[serde(default, skip_serializing_if = "is_default")]
    pub source: EventSource,
    /// When the event was first recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_timestamp: Option<Time>,
    /// When the most recent occurrence was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<Time>,
    /// How many times the event has occurred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// `Normal` or `Warning`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// When the event was first observed, to the microsecond.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<MicroTime>,
    /// Present when this event stands for a series of repeated occurrences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<EventSeries>,
    /// What was done (or failed) to the object, e.g. `Binding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// A secondary object involved, e.g. the node a pod was bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related: Option<ObjectReference>,
    /// The controller that emitted the event, e.g. `kubernetes.io/kubelet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_component: Option<String>,
    /// The instance of that controller, e.g. `kubelet-node-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_instance: Option<String>,
}
impl_resource!(Event, info::EVENT);

/// Who reported an [`Event`] (upstream `EventSource`).
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
pub struct EventSource {
    /// Reporting component, e.g. `default-scheduler`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Node the event was generated on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// A run of repeated occurrences folded into one [`Event`] (upstream `EventSeries`).
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
pub struct EventSeries {
    /// Occurrences up to `lastObservedTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// Time of the last occurrence observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_observed_time: Option<MicroTime>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::config::test_support::assert_round_trips;

    const EVERY_FIELD: &str = r#"
apiVersion: v1
kind: Event
metadata:
  name: web-0.17c3a1b2
  namespace: default
involvedObject:
  kind: Pod
  namespace: default
  name: web-0
  uid: 0d5c5a3e-1f7b-4c1e-9a51-8d1c1b7f0a11
  apiVersion: v1
  resourceVersion: "42"
  fieldPath: spec.containers{web}
reason: Scheduled
message: Successfully assigned default/web-0 to node-1
source:
  component: default-scheduler
  host: node-1
firstTimestamp: "2024-05-01T12:00:00Z"
lastTimestamp: "2024-05-01T12:05:00Z"
count: 3
type: Normal
eventTime: "2024-05-01T12:00:00.123456Z"
series:
  count: 2
  lastObservedTime: "2024-05-01T12:05:00.000001Z"
action: Binding
related:
  kind: Node
  name: node-1
reportingComponent: default-scheduler
reportingInstance: default-scheduler-cp-1
"#;

    #[test]
    fn event_accepts_every_upstream_field_and_round_trips() {
        let event: Event = serde_saphyr::from_str(EVERY_FIELD).unwrap();
        assert_eq!(event.involved_object.name.as_deref(), Some("web-0"));
        assert_eq!(
            event.involved_object.field_path.as_deref(),
            Some("spec.containers{web}")
        );
        assert_eq!(event.type_.as_deref(), Some("Normal"));
        assert_eq!(event.count, Some(3));
        assert_eq!(
            event.event_time,
            Some(MicroTime::from_unix_micros(1_714_564_800_123_456))
        );
        assert_eq!(event.series.as_ref().and_then(|s| s.count), Some(2),);
        assert_eq!(event.source.host.as_deref(), Some("node-1"));
        assert_eq!(
            event.related.as_ref().and_then(|r| r.kind.as_deref()),
            Some("Node")
        );
        assert_round_trips(&event);
    }

    #[test]
    fn event_reads_null_timestamps_as_absent() {
        // Upstream writes zero timestamps as `null` (e.g. `eventTime: null` from older recorders).
        let event: Event = serde_json::from_str(
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"e"},
                "involvedObject":{"kind":"Pod","name":"p"},"eventTime":null,
                "firstTimestamp":null,"reportingComponent":""}"#,
        )
        .unwrap();
        assert_eq!(event.event_time, None);
        assert_eq!(event.first_timestamp, None);
        assert_eq!(event.reporting_component.as_deref(), Some(""));
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"e"},"involvedObject":{"kind":"Pod","name":"p"},"reportingComponent":""}"#
        );
    }

    #[test]
    fn event_without_involved_object_is_rejected() {
        let err = serde_json::from_str::<Event>(r#"{"metadata":{"name":"e"}}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing field `involvedObject` at line 1 column 25"
        );
    }

    #[test]
    fn object_reference_rejects_unknown_fields() {
        let err =
            serde_json::from_str::<ObjectReference>(r#"{"kind":"Pod","nmae":"p"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown field `nmae`, expected one of `kind`, `namespace`, `name`, `uid`, \
             `apiVersion`, `resourceVersion`, `fieldPath` at line 1 column 20"
        );
    }
}
