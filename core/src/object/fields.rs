//! The fields a field selector can name, per kind, and their values: upstream's
//! `ToSelectableFields` functions (`pkg/registry/core/pod/strategy.go` and its siblings) plus the
//! field-label conversions that reject every other field with `field label not supported`.
//!
//! | Kind | Fields besides `metadata.name` and `metadata.namespace` |
//! |---|---|
//! | Pod | `spec.nodeName` `spec.restartPolicy` `spec.schedulerName` `spec.serviceAccountName` `spec.hostNetwork` `status.phase` `status.podIP` `status.nominatedNodeName` |
//! | Event | `involvedObject.kind` `involvedObject.namespace` `involvedObject.name` `involvedObject.uid` `involvedObject.apiVersion` `involvedObject.resourceVersion` `involvedObject.fieldPath` `reason` `reportingComponent` `source` `type` |
//! | Secret | `type` |
//! | Namespace | `status.phase` |
//! | ReplicaSet, ReplicationController | `status.replicas` |
//! | Node | `spec.unschedulable` |
//!
//! Values follow upstream's spelling: an unset string is `""`, booleans are `true`/`false` (an
//! unset one is `false`), counts are decimal. An Event's `source` is `source.component`, or
//! `reportingComponent` when that is empty.

use crate::selector::FieldSelector;

use super::{KindInfo, Object};

/// The fields every kind supports.
pub const COMMON_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

const POD_FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];
const SECRET_FIELDS: &[&str] = &["type"];
const NAMESPACE_FIELDS: &[&str] = &["status.phase"];
const REPLICAS_FIELDS: &[&str] = &["status.replicas"];
const NODE_FIELDS: &[&str] = &["spec.unschedulable"];

/// The kind-specific selectable fields of `kind` (without [`COMMON_FIELDS`]).
pub fn kind_fields(kind: &KindInfo) -> &'static [&'static str] {
    match kind.kind {
        "Pod" => POD_FIELDS,
        "Event" => EVENT_FIELDS,
        "Secret" => SECRET_FIELDS,
        "Namespace" => NAMESPACE_FIELDS,
        "ReplicaSet" | "ReplicationController" => REPLICAS_FIELDS,
        "Node" => NODE_FIELDS,
        _ => &[],
    }
}

/// Whether a field selector may name `field` for objects of `kind`; with `kind` unknown (a
/// list or watch spanning several kinds), only [`COMMON_FIELDS`] are supported.
pub fn field_supported(kind: Option<&KindInfo>, field: &str) -> bool {
    COMMON_FIELDS.contains(&field) || kind.is_some_and(|k| kind_fields(k).contains(&field))
}

/// A field selector names a field its kind does not support (upstream's field-label
/// conversion error, HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field label not supported: {field}")]
pub struct UnsupportedField {
    /// The field as written.
    pub field: String,
}

/// Checks every term of `selector` against the fields `kind` supports (see
/// [`field_supported`]); the first unsupported one, in the selector's sorted order, is the error.
pub fn check_field_selector(
    kind: Option<&KindInfo>,
    selector: &FieldSelector,
) -> Result<(), UnsupportedField> {
    match selector
        .requirements()
        .iter()
        .find(|term| !field_supported(kind, term.field()))
    {
        Some(term) => Err(UnsupportedField {
            field: term.field().to_owned(),
        }),
        None => Ok(()),
    }
}

fn text(value: Option<&String>) -> String {
    value.cloned().unwrap_or_default()
}

fn flag(value: Option<bool>) -> String {
    value.unwrap_or(false).to_string()
}

impl Object {
    /// The value of a selectable field (see the module docs), or `None` if this object's kind
    /// does not support `path`. Unset values of supported fields are `""` (or `false`).
    pub fn field(&self, path: &str) -> Option<String> {
        let meta = self.metadata();
        match path {
            "metadata.name" => return Some(text(meta.name.as_ref())),
            "metadata.namespace" => return Some(text(meta.namespace.as_ref())),
            _ => {}
        }
        match self {
            Object::Pod(pod) => match path {
                "spec.nodeName" => Some(text(pod.spec.node_name.as_ref())),
                "spec.restartPolicy" => Some(text(pod.spec.restart_policy.as_ref())),
                "spec.schedulerName" => Some(text(pod.spec.scheduler_name.as_ref())),
                "spec.serviceAccountName" => Some(text(pod.spec.service_account_name.as_ref())),
                "spec.hostNetwork" => Some(flag(pod.spec.host_network)),
                "status.phase" => Some(text(pod.status.phase.as_ref())),
                "status.podIP" => Some(text(pod.status.pod_ip.as_ref())),
                "status.nominatedNodeName" => Some(text(pod.status.nominated_node_name.as_ref())),
                _ => None,
            },
            Object::Event(event) => {
                let involved = &event.involved_object;
                match path {
                    "involvedObject.kind" => Some(text(involved.kind.as_ref())),
                    "involvedObject.namespace" => Some(text(involved.namespace.as_ref())),
                    "involvedObject.name" => Some(text(involved.name.as_ref())),
                    "involvedObject.uid" => Some(text(involved.uid.as_ref())),
                    "involvedObject.apiVersion" => Some(text(involved.api_version.as_ref())),
                    "involvedObject.resourceVersion" => {
                        Some(text(involved.resource_version.as_ref()))
                    }
                    "involvedObject.fieldPath" => Some(text(involved.field_path.as_ref())),
                    "reason" => Some(text(event.reason.as_ref())),
                    "reportingComponent" => Some(text(event.reporting_component.as_ref())),
                    // upstream event strategy: Source.Component, else ReportingController.
                    "source" => Some(
                        event
                            .source
                            .component
                            .clone()
                            .filter(|c| !c.is_empty())
                            .unwrap_or_else(|| text(event.reporting_component.as_ref())),
                    ),
                    "type" => Some(text(event.type_.as_ref())),
                    _ => None,
                }
            }
            Object::Secret(secret) if path == "type" => Some(text(secret.type_.as_ref())),
            Object::Namespace(ns) if path == "status.phase" => Some(text(ns.status.phase.as_ref())),
            Object::ReplicaSet(rs) if path == "status.replicas" => {
                Some(rs.status.replicas.to_string())
            }
            Object::ReplicationController(rc) if path == "status.replicas" => {
                Some(rc.status.replicas.to_string())
            }
            Object::Node(node) if path == "spec.unschedulable" => {
                Some(flag(node.spec.unschedulable))
            }
            _ => None,
        }
    }

    /// Whether this object satisfies `selector`, reading fields through [`Object::field`].
    pub fn matches_fields(&self, selector: &FieldSelector) -> bool {
        selector.matches(|path| self.field(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{
        Container, Event, EventSource, Node, ObjectMeta, ObjectReference, Pod, ReplicaSet, Secret,
        info,
    };

    fn pod() -> Object {
        let mut pod = Pod::new("web", vec![Container::new("c", "nginx")]);
        pod.metadata.namespace = Some("default".into());
        pod.spec.node_name = Some("n1".into());
        pod.status.phase = Some("Running".into());
        pod.into()
    }

    #[test]
    fn pod_fields_follow_upstream_spelling() {
        let pod = pod();
        let fields: Vec<(&str, Option<String>)> = [
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "spec.foo",
        ]
        .into_iter()
        .map(|f| (f, pod.field(f)))
        .collect();
        assert_eq!(
            fields,
            [
                ("metadata.name", Some("web".into())),
                ("metadata.namespace", Some("default".into())),
                ("spec.nodeName", Some("n1".into())),
                ("spec.hostNetwork", Some("false".into())),
                ("status.phase", Some("Running".into())),
                ("status.podIP", Some(String::new())),
                ("spec.foo", None),
            ]
        );
    }

    #[test]
    fn every_listed_field_has_a_value_for_its_kind() {
        let objects: Vec<Object> = vec![
            pod(),
            Event::default().into(),
            Secret::default().into(),
            crate::object::Namespace::default().into(),
            ReplicaSet::default().into(),
            crate::object::ReplicationController::default().into(),
            Node::default().into(),
        ];
        for object in objects {
            for field in COMMON_FIELDS.iter().chain(kind_fields(object.info())) {
                assert!(
                    object.field(field).is_some(),
                    "{} lists {field} but has no value for it",
                    object.info().kind
                );
            }
        }
    }

    #[test]
    fn event_source_falls_back_to_the_reporting_component() {
        let mut event = Event {
            metadata: ObjectMeta::named("e"),
            involved_object: ObjectReference {
                kind: Some("Pod".into()),
                ..ObjectReference::default()
            },
            reporting_component: Some("kubelet".into()),
            ..Event::default()
        };
        assert_eq!(
            Object::from(event.clone()).field("source").as_deref(),
            Some("kubelet")
        );
        event.source = EventSource {
            component: Some("default-scheduler".into()),
            host: None,
        };
        let event = Object::from(event);
        assert_eq!(event.field("source").as_deref(), Some("default-scheduler"));
        assert_eq!(event.field("involvedObject.kind").as_deref(), Some("Pod"));
    }

    #[test]
    fn unsupported_fields_are_named_in_the_error() {
        let selector = FieldSelector::parse("spec.nodeName=n1,spec.foo=x").unwrap();
        assert_eq!(
            check_field_selector(Some(&info::POD), &selector)
                .unwrap_err()
                .to_string(),
            "field label not supported: spec.foo"
        );
        let node_name = FieldSelector::parse("spec.nodeName=n1").unwrap();
        assert_eq!(check_field_selector(Some(&info::POD), &node_name), Ok(()));
        assert_eq!(
            check_field_selector(Some(&info::CONFIG_MAP), &node_name),
            Err(UnsupportedField {
                field: "spec.nodeName".into()
            })
        );
        assert_eq!(
            check_field_selector(None, &FieldSelector::parse("metadata.name=a").unwrap()),
            Ok(())
        );
    }

    #[test]
    fn selectors_match_through_field_lookup() {
        let selector = FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed").unwrap();
        assert!(pod().matches_fields(&selector));
        let unscheduled = FieldSelector::parse("spec.nodeName=").unwrap();
        assert!(!pod().matches_fields(&unscheduled));
    }
}
