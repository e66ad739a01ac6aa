//! Update validation: what may not change once an object exists (upstream `ValidatePodUpdate`,
//! `ValidateImmutableField` on apps/v1 selectors, `ValidateConfigMapUpdate`,
//! `ValidateSecretUpdate`). The create-time rules still apply to the new object; these are
//! the rules that compare it with the stored one.

use crate::object::{Object, Pod, PodSpec, Toleration};
use crate::selector::LabelSelector;

use super::format::go_quote;
use super::{Errors, FieldError};

/// upstream `ValidatePodUpdate`'s list of the pod spec fields an update may change, joined
/// as upstream joins them (`strings.Join(updatablePodSpecFields, ",")`).
pub const POD_UPDATABLE_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// upstream `ValidateImmutableField`'s detail.
const IMMUTABLE: &str = "field is immutable";

/// upstream's detail for `data`/`binaryData`/`immutable` of an immutable ConfigMap or Secret.
const IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";

/// Validates an update of `old` to `new` (same kind, same name): the rules that compare the two.
/// Run after defaulting and admission, next to the create-time [`validate_object`] of `new`.
/// Kinds without such rules give an empty list; so does a pair of different kinds (the caller
/// never passes one).
///
/// # Guarantees
///
/// Deterministic and never panics, whatever the two objects hold.
///
/// [`validate_object`]: super::validate_object
pub fn validate_update(new: &Object, old: &Object) -> Vec<FieldError> {
    let mut errs = Errors::new();
    match (new, old) {
        (Object::Pod(new), Object::Pod(old)) => validate_pod_update(new, old, &mut errs),
        (Object::ReplicaSet(new), Object::ReplicaSet(old)) => {
            selector_immutable(
                new.spec.selector.as_ref(),
                old.spec.selector.as_ref(),
                &mut errs,
            );
        }
        (Object::Deployment(new), Object::Deployment(old)) => {
            selector_immutable(
                new.spec.selector.as_ref(),
                old.spec.selector.as_ref(),
                &mut errs,
            );
        }
        (Object::DaemonSet(new), Object::DaemonSet(old)) => {
            selector_immutable(
                new.spec.selector.as_ref(),
                old.spec.selector.as_ref(),
                &mut errs,
            );
        }
        // upstream ValidateConfigMapUpdate.
        (Object::ConfigMap(new), Object::ConfigMap(old)) if old.immutable == Some(true) => {
            if new.immutable != Some(true) {
                errs.push(FieldError::forbidden("immutable", IMMUTABLE_WHEN_SET));
            }
            if new.data != old.data {
                errs.push(FieldError::forbidden("data", IMMUTABLE_WHEN_SET));
            }
            if new.binary_data != old.binary_data {
                errs.push(FieldError::forbidden("binaryData", IMMUTABLE_WHEN_SET));
            }
        }
        (Object::Secret(new), Object::Secret(old)) => {
            // upstream ValidateSecretUpdate: the type never changes; data is frozen by
            // `immutable` (stringData was merged into data before validation).
            if new.type_ != old.type_ {
                errs.push(FieldError::invalid(
                    "type",
                    go_quote(new.type_.as_deref().unwrap_or("")),
                    IMMUTABLE,
                ));
            }
            if old.immutable == Some(true) {
                if new.immutable != Some(true) {
                    errs.push(FieldError::forbidden("immutable", IMMUTABLE_WHEN_SET));
                }
                if new.data != old.data {
                    errs.push(FieldError::forbidden("data", IMMUTABLE_WHEN_SET));
                }
            }
        }
        _ => {}
    }
    errs
}

/// upstream `ValidateImmutableField(update.Spec.Selector, old.Spec.Selector, "spec.selector")`
/// for apps/v1 workloads, with the value printed as Go's `%#v` of the dereferenced selector.
fn selector_immutable(new: Option<&LabelSelector>, old: Option<&LabelSelector>, errs: &mut Errors) {
    if new != old {
        let value = new.map_or_else(|| "null".to_owned(), go_label_selector);
        errs.push(FieldError::invalid("spec.selector", value, IMMUTABLE));
    }
}

/// Go's `%#v` of a `v1.LabelSelector` (fmt prints map keys sorted, as a `BTreeMap` walks).
fn go_label_selector(selector: &LabelSelector) -> String {
    let labels = if selector.match_labels.is_empty() {
        "map[string]string(nil)".to_owned()
    } else {
        let pairs: Vec<String> = selector
            .match_labels
            .iter()
            .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v)))
            .collect();
        format!("map[string]string{{{}}}", pairs.join(", "))
    };
    let expressions = if selector.match_expressions.is_empty() {
        "[]v1.LabelSelectorRequirement(nil)".to_owned()
    } else {
        let items: Vec<String> = selector
            .match_expressions
            .iter()
            .map(|r| {
                let values = if r.values.is_empty() {
                    "[]string(nil)".to_owned()
                } else {
                    let quoted: Vec<String> = r.values.iter().map(|v| go_quote(v)).collect();
                    format!("[]string{{{}}}", quoted.join(", "))
                };
                format!(
                    "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{values}}}",
                    go_quote(&r.key),
                    go_quote(&r.operator),
                )
            })
            .collect();
        format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{expressions}}}")
}

/// upstream `ValidatePodUpdate`'s spec rules: the spec is frozen but for the fields of
/// [`POD_UPDATABLE_FIELDS`], each of which has its own rule.
fn validate_pod_update(new: &Pod, old: &Pod, errs: &mut Errors) {
    let (new_spec, old_spec) = (&new.spec, &old.spec);
    // activeDeadlineSeconds may be set or lowered, never raised or unset.
    match (
        new_spec.active_deadline_seconds,
        old_spec.active_deadline_seconds,
    ) {
        (Some(new_ads), Some(old_ads)) if old_ads < new_ads => {
            errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                new_ads.to_string(),
                "must be less than or equal to previous value",
            ));
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            "spec.activeDeadlineSeconds",
            "null",
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    let tolerations_ok = only_added_tolerations(&new_spec.tolerations, &old_spec.tolerations);
    if !tolerations_ok {
        errs.push(FieldError::forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    // The munged spec: the new spec with every updatable field put back as it was, so what
    // remains different is what may not change.
    let mut munged = new_spec.clone();
    if munged.containers.len() == old_spec.containers.len() {
        for (c, o) in munged.containers.iter_mut().zip(&old_spec.containers) {
            c.image.clone_from(&o.image);
        }
    }
    if munged.init_containers.len() == old_spec.init_containers.len() {
        for (c, o) in munged
            .init_containers
            .iter_mut()
            .zip(&old_spec.init_containers)
        {
            c.image.clone_from(&o.image);
        }
    }
    munged.active_deadline_seconds = old_spec.active_deadline_seconds;
    munged.tolerations.clone_from(&old_spec.tolerations);
    if old_spec
        .termination_grace_period_seconds
        .is_some_and(|s| s < 0)
        && new_spec.termination_grace_period_seconds == Some(1)
    {
        munged.termination_grace_period_seconds = old_spec.termination_grace_period_seconds;
    }
    if munged != *old_spec {
        errs.push(FieldError::forbidden(
            "spec",
            format!(
                "pod updates may not change fields other than {POD_UPDATABLE_FIELDS}\n{}",
                spec_diff(old_spec, &munged)
            ),
        ));
    }
}

/// upstream `validateOnlyAddedTolerations`: every old toleration is still there, equal but for
/// its `tolerationSeconds`.
fn only_added_tolerations(new: &[Toleration], old: &[Toleration]) -> bool {
    old.iter().all(|o| {
        new.iter().any(|n| {
            let mut o = o.clone();
            o.toleration_seconds = n.toleration_seconds;
            o == *n
        })
    })
}

/// Which spec fields differ, one `-` line with the old JSON and one `+` line with the new
/// per field. Upstream prints `cmp.Diff` of the Go structs here; skiff prints the same facts
/// (which fields, from what, to what) field by field in the API's JSON names.
fn spec_diff(old: &PodSpec, new: &PodSpec) -> String {
    let as_map = |spec: &PodSpec| match serde_json::to_value(spec) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (old, new) = (as_map(old), as_map(new));
    let mut fields: Vec<&String> = old.keys().chain(new.keys()).collect();
    fields.sort();
    fields.dedup();
    let mut out = Vec::new();
    for field in fields {
        let (was, is) = (old.get(field), new.get(field));
        if was == is {
            continue;
        }
        let show = |v: Option<&serde_json::Value>| {
            v.map_or_else(|| "null".to_owned(), ToString::to_string)
        };
        out.push(format!("- {field}: {}", show(was)));
        out.push(format!("+ {field}: {}", show(is)));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_str;

    fn object(yaml: &str) -> Object {
        let mut objects = parse_str("update.yaml", yaml).expect("test manifest parses");
        objects.remove(0)
    }

    const POD: &str = "apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: nginx
    image: nginx:1.25
    ports: [{containerPort: 80}]
  tolerations:
  - {key: a, operator: Exists, effect: NoExecute, tolerationSeconds: 60}
";

    fn messages(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn pod_image_change_is_allowed() {
        let old = object(POD);
        let new = object(&POD.replace("nginx:1.25", "nginx:1.27"));
        assert_eq!(validate_update(&new, &old), Vec::new());
    }

    #[test]
    fn pod_port_change_is_forbidden_with_upstream_message_and_field_diff() {
        let old = object(POD);
        let new = object(&POD.replace("containerPort: 80", "containerPort: 8080"));
        assert_eq!(
            messages(&validate_update(&new, &old)),
            vec![format!(
                "spec: Forbidden: pod updates may not change fields other than {POD_UPDATABLE_FIELDS}\n\
                 - containers: [{{\"image\":\"nginx:1.25\",\"name\":\"nginx\",\"ports\":[{{\"containerPort\":80}}]}}]\n\
                 + containers: [{{\"image\":\"nginx:1.25\",\"name\":\"nginx\",\"ports\":[{{\"containerPort\":8080}}]}}]"
            )]
        );
    }

    #[test]
    fn pod_node_name_change_is_forbidden() {
        let old = object(POD);
        let mut new = old.clone();
        let Object::Pod(pod) = &mut new else {
            unreachable!()
        };
        pod.spec.node_name = Some("node-2".to_owned());
        let errors = messages(&validate_update(&new, &old));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].ends_with("\n- nodeName: null\n+ nodeName: \"node-2\""),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn pod_toleration_may_be_added_and_its_seconds_changed_but_not_removed() {
        let old = object(POD);
        let added = object(&POD.replace(
            "tolerationSeconds: 60}",
            "tolerationSeconds: 30}\n  - {key: b, operator: Exists}",
        ));
        assert_eq!(validate_update(&added, &old), Vec::new());
        let removed = object(&POD.replace("key: a", "key: z"));
        assert_eq!(
            messages(&validate_update(&removed, &old)),
            vec![
                "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
            ]
        );
    }

    #[test]
    fn pod_active_deadline_may_drop_but_not_rise_or_unset() {
        let with = |s: &str| {
            object(&POD.replace(
                "  tolerations:",
                &format!("  activeDeadlineSeconds: {s}\n  tolerations:"),
            ))
        };
        let old = with("100");
        assert_eq!(validate_update(&with("50"), &old), Vec::new());
        assert_eq!(
            messages(&validate_update(&with("200"), &old)),
            vec![
                "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value"
            ]
        );
        assert_eq!(
            messages(&validate_update(&object(POD), &old)),
            vec![
                "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value"
            ]
        );
    }

    const RS: &str = "apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, tier: front}
    spec:
      containers: [{name: nginx, image: nginx}]
";

    #[test]
    fn apps_selector_change_is_refused_as_upstream_prints_it() {
        let old = object(RS);
        assert_eq!(
            validate_update(&object(&RS.replace("replicas: 3", "replicas: 6")), &old),
            Vec::new()
        );
        let new = object(&RS.replace(
            "matchLabels: {app: web}",
            "matchLabels: {app: web, tier: front}",
        ));
        assert_eq!(
            messages(&validate_update(&new, &old)),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"tier\":\"front\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
            ]
        );
        let expr = object(&RS.replace(
            "matchLabels: {app: web}",
            "matchExpressions: [{key: app, operator: In, values: [web, api]}]",
        ));
        assert_eq!(
            messages(&validate_update(&expr, &old)),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:\"app\", Operator:\"In\", Values:[]string{\"web\", \"api\"}}}}: field is immutable"
            ]
        );
    }

    #[test]
    fn immutable_config_map_refuses_data_changes_and_unfreezing() {
        let frozen = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1'}\nimmutable: true\n";
        let old = object(frozen);
        assert_eq!(validate_update(&object(frozen), &old), Vec::new());
        let changed =
            object("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '2'}\n");
        assert_eq!(
            messages(&validate_update(&changed, &old)),
            vec![
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set",
            ]
        );
    }

    #[test]
    fn secret_type_never_changes() {
        let old = object("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: Opaque\n");
        let new =
            object("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\n");
        assert_eq!(
            messages(&validate_update(&new, &old)),
            vec!["type: Invalid value: \"kubernetes.io/tls\": field is immutable"]
        );
    }
}
