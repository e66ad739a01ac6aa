//! Workload controllers: ReplicationController (upstream core validation) and ReplicaSet,
//! Deployment, DaemonSet (upstream `pkg/apis/apps/validation`).

use std::collections::BTreeMap;

use crate::object::{
    DaemonSet, Deployment, IntOrString, PodTemplateSpec, ReplicaSet, ReplicationController,
};
use crate::selector::{LabelSelector, Selector};

use super::format::{go_quote, go_string_map, int_or_string, label_selector};
use super::meta;
use super::pod::{effective_restart_policy, validate_pod_template_spec};
use super::syntax::{self, IS_NEGATIVE, NameRule};
use super::{Errors, FieldError, Path};

/// upstream's message when a controller's selector does not select its own template.
const SELECTOR_MISMATCH: &str = "`selector` does not match template `labels`";

/// upstream `ValidateNonnegativeField` for an optional field (unset is defaulted upstream).
fn non_negative(value: Option<i32>, path: &Path, errs: &mut Errors) {
    if let Some(value) = value.filter(|v| *v < 0) {
        errs.push(FieldError::invalid(path, value.to_string(), IS_NEGATIVE));
    }
}

/// The template rules every workload shares (upstream `ValidatePodTemplateSpecForReplicaSet`,
/// `ValidatePodTemplateSpecForRC` and `ValidateDaemonSetSpec`): the pod template, a restart
/// policy of `Always`, no `activeDeadlineSeconds`.
fn validate_controller_template(
    template: &PodTemplateSpec,
    path: &Path,
    kind: &str,
    errs: &mut Errors,
) {
    validate_pod_template_spec(template, path, errs);
    let policy = effective_restart_policy(&template.spec);
    if policy != "Always" {
        errs.push(FieldError::not_supported(
            &path.child("spec").child("restartPolicy"),
            go_quote(policy),
            &["Always"],
        ));
    }
    if template.spec.active_deadline_seconds.is_some() {
        errs.push(FieldError::forbidden(
            &path.child("spec").child("activeDeadlineSeconds"),
            format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
}

/// The selector check ReplicaSet and Deployment share (upstream `ValidateReplicaSetSpec`,
/// `ValidateDeploymentSpec`): required, valid, non-empty; then the template, which the
/// selector must select. upstream reports an empty selector as invalid "for deployment" for
/// ReplicaSets too.
fn validate_selected_template(
    selector: Option<&LabelSelector>,
    template: &PodTemplateSpec,
    spec: &Path,
    kind: &str,
    errs: &mut Errors,
) {
    let selector_path = spec.child("selector");
    match selector {
        None => errs.push(FieldError::required(&selector_path, "")),
        Some(selector) => {
            meta::validate_label_selector(selector, &selector_path, errs);
            if selector.is_empty() {
                errs.push(FieldError::invalid(
                    &selector_path,
                    label_selector(selector),
                    "empty selector is invalid for deployment",
                ));
            }
        }
    }
    // upstream LabelSelectorAsSelector: a missing selector selects nothing.
    let compiled = selector.map_or_else(|| Ok(Selector::nothing()), LabelSelector::to_selector);
    match compiled {
        Err(_) => errs.push(FieldError::invalid(
            &selector_path,
            selector.map_or_else(|| "null".to_owned(), label_selector),
            "invalid label selector",
        )),
        Ok(compiled) => {
            let template_path = spec.child("template");
            check_selects_template(&compiled, &template.metadata.labels, &template_path, errs);
            validate_controller_template(template, &template_path, kind, errs);
        }
    }
}

/// upstream: a non-empty selector must match the template's labels.
fn check_selects_template(
    selector: &Selector,
    labels: &BTreeMap<String, String>,
    template_path: &Path,
    errs: &mut Errors,
) {
    if !selector.is_empty() && !selector.matches(labels) {
        errs.push(FieldError::invalid(
            &template_path.child("metadata").child("labels"),
            go_string_map(labels),
            SELECTOR_MISMATCH,
        ));
    }
}

/// upstream core `ValidateReplicationController`. The selector defaults to the template's
/// labels (upstream v1 defaulting), so only a selector that stays empty is an error; upstream
/// does not check the selector's syntax.
pub(crate) fn validate_replication_controller(rc: &ReplicationController, errs: &mut Errors) {
    meta::validate_object_meta(&rc.metadata, true, NameRule::Subdomain, errs);
    let spec = Path::root("spec");
    non_negative(
        rc.spec.min_ready_seconds,
        &spec.child("minReadySeconds"),
        errs,
    );
    let selector = if rc.spec.selector.is_empty() {
        rc.spec
            .template
            .as_ref()
            .map(|t| t.metadata.labels.clone())
            .unwrap_or_default()
    } else {
        rc.spec.selector.clone()
    };
    if selector.is_empty() {
        errs.push(FieldError::required(&spec.child("selector"), ""));
    }
    non_negative(rc.spec.replicas, &spec.child("replicas"), errs);
    let template_path = spec.child("template");
    let Some(template) = &rc.spec.template else {
        errs.push(FieldError::required(&template_path, ""));
        return;
    };
    let matches = selector
        .iter()
        .all(|(key, value)| template.metadata.labels.get(key) == Some(value));
    if !selector.is_empty() && !matches {
        errs.push(FieldError::invalid(
            &template_path.child("metadata").child("labels"),
            go_string_map(&template.metadata.labels),
            SELECTOR_MISMATCH,
        ));
    }
    validate_controller_template(template, &template_path, "ReplicationController", errs);
}

/// upstream apps `ValidateReplicaSet`.
pub(crate) fn validate_replica_set(rs: &ReplicaSet, errs: &mut Errors) {
    meta::validate_object_meta(&rs.metadata, true, NameRule::Subdomain, errs);
    let spec = Path::root("spec");
    non_negative(rs.spec.replicas, &spec.child("replicas"), errs);
    non_negative(
        rs.spec.min_ready_seconds,
        &spec.child("minReadySeconds"),
        errs,
    );
    validate_selected_template(
        rs.spec.selector.as_ref(),
        &rs.spec.template,
        &spec,
        "ReplicaSet",
        errs,
    );
}

/// upstream apps `ValidateDeployment`.
pub(crate) fn validate_deployment(deployment: &Deployment, errs: &mut Errors) {
    meta::validate_object_meta(&deployment.metadata, true, NameRule::Subdomain, errs);
    let spec = Path::root("spec");
    let d = &deployment.spec;
    non_negative(d.replicas, &spec.child("replicas"), errs);
    validate_selected_template(d.selector.as_ref(), &d.template, &spec, "ReplicaSet", errs);
    validate_deployment_strategy(deployment, &spec.child("strategy"), errs);
    non_negative(d.min_ready_seconds, &spec.child("minReadySeconds"), errs);
    non_negative(
        d.revision_history_limit,
        &spec.child("revisionHistoryLimit"),
        errs,
    );
    if let Some(deadline) = d.progress_deadline_seconds {
        let path = spec.child("progressDeadlineSeconds");
        non_negative(Some(deadline), &path, errs);
        if deadline <= d.min_ready_seconds.unwrap_or(0) {
            errs.push(FieldError::invalid(
                &path,
                deadline.to_string(),
                "must be greater than minReadySeconds",
            ));
        }
    }
}

/// upstream's default `maxUnavailable` and `maxSurge` of a Deployment's rolling update.
fn deployment_default() -> IntOrString {
    IntOrString::String("25%".to_owned())
}

/// upstream `ValidateDeploymentStrategy`. An unset type is `RollingUpdate` and unset rolling
/// parameters are 25% each (upstream defaulting). upstream reports an unknown type with the
/// whole strategy struct as the value at `spec.strategy`; skiff names the type field.
fn validate_deployment_strategy(deployment: &Deployment, path: &Path, errs: &mut Errors) {
    let strategy = &deployment.spec.strategy;
    match strategy.type_.as_deref() {
        Some("Recreate") => {
            if strategy.rolling_update.is_some() {
                errs.push(FieldError::forbidden(
                    &path.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        None | Some("" | "RollingUpdate") => {
            let Some(rolling) = &strategy.rolling_update else {
                return;
            };
            let path = path.child("rollingUpdate");
            let max_unavailable = rolling
                .max_unavailable
                .clone()
                .unwrap_or_else(deployment_default);
            let max_surge = rolling.max_surge.clone().unwrap_or_else(deployment_default);
            // upstream ValidateRollingUpdateDeployment.
            validate_int_or_percent(&max_unavailable, &path.child("maxUnavailable"), errs);
            validate_int_or_percent(&max_surge, &path.child("maxSurge"), errs);
            if int_or_percent_value(&max_unavailable) == 0 && int_or_percent_value(&max_surge) == 0
            {
                errs.push(FieldError::invalid(
                    &path.child("maxUnavailable"),
                    int_or_string(&max_unavailable),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
            not_more_than_100_percent(&max_unavailable, &path.child("maxUnavailable"), errs);
        }
        Some(other) => errs.push(FieldError::not_supported(
            &path.child("type"),
            go_quote(other),
            &["Recreate", "RollingUpdate"],
        )),
    }
}

/// upstream apps `ValidatePositiveIntOrPercent`: a non-negative integer or `N%`.
fn validate_int_or_percent(value: &IntOrString, path: &Path, errs: &mut Errors) {
    match value {
        IntOrString::String(text) => {
            if let Err(message) = syntax::percent(text) {
                // upstream passes the IntOrString, whose String() prints unquoted.
                errs.push(FieldError::invalid(path, int_or_string(value), message));
            }
        }
        IntOrString::Int(number) => non_negative(Some(*number), path, errs),
    }
}

/// upstream apps `getIntOrPercentValue`: the percentage, or the integer (a string that is
/// neither reads as 0, as Go's `Atoi` failure does).
fn int_or_percent_value(value: &IntOrString) -> i64 {
    match value {
        IntOrString::Int(number) => i64::from(*number),
        IntOrString::String(text) => syntax::percent(text)
            .or_else(|_| text.parse::<i64>().map_err(|_| ()))
            .unwrap_or(0),
    }
}

/// upstream apps `IsNotMoreThan100Percent`.
fn not_more_than_100_percent(value: &IntOrString, path: &Path, errs: &mut Errors) {
    if let IntOrString::String(text) = value
        && syntax::percent(text).is_ok_and(|percent| percent > 100)
    {
        errs.push(FieldError::invalid(
            path,
            int_or_string(value),
            "must not be greater than 100%",
        ));
    }
}

/// upstream apps `ValidateDaemonSet`. apps/v1 has no selector defaulting, so a missing
/// selector is reported as Required (upstream only reports that it selects nothing).
pub(crate) fn validate_daemon_set(ds: &DaemonSet, errs: &mut Errors) {
    meta::validate_object_meta(&ds.metadata, true, NameRule::Subdomain, errs);
    let spec = Path::root("spec");
    let d = &ds.spec;
    let selector_path = spec.child("selector");
    let template_path = spec.child("template");
    match &d.selector {
        None => {
            errs.push(FieldError::required(&selector_path, ""));
            check_selects_template(
                &Selector::nothing(),
                &d.template.metadata.labels,
                &template_path,
                errs,
            );
        }
        Some(selector) => {
            meta::validate_label_selector(selector, &selector_path, errs);
            // upstream checks the match only when the selector compiles, and an empty one
            // selects everything.
            if let Ok(compiled) = selector.to_selector() {
                check_selects_template(
                    &compiled,
                    &d.template.metadata.labels,
                    &template_path,
                    errs,
                );
            }
            if selector.is_empty() {
                errs.push(FieldError::invalid(
                    &selector_path,
                    label_selector(selector),
                    "empty selector is invalid for daemonset",
                ));
            }
        }
    }
    validate_controller_template(&d.template, &template_path, "DaemonSet", errs);
    non_negative(d.min_ready_seconds, &spec.child("minReadySeconds"), errs);
    validate_daemon_set_update_strategy(ds, &spec.child("updateStrategy"), errs);
    non_negative(
        d.revision_history_limit,
        &spec.child("revisionHistoryLimit"),
        errs,
    );
}

/// upstream apps `ValidateDaemonSetUpdateStrategy` / `ValidateRollingUpdateDaemonSet`. An unset
/// type is `RollingUpdate` with `maxUnavailable: 1`, `maxSurge: 0` (upstream defaulting).
fn validate_daemon_set_update_strategy(ds: &DaemonSet, path: &Path, errs: &mut Errors) {
    let strategy = &ds.spec.update_strategy;
    match strategy.type_.as_deref() {
        Some("OnDelete") => {}
        None | Some("" | "RollingUpdate") => {
            let Some(rolling) = &strategy.rolling_update else {
                return;
            };
            let path = path.child("rollingUpdate");
            let max_unavailable = rolling
                .max_unavailable
                .clone()
                .unwrap_or(IntOrString::Int(1));
            let max_surge = rolling.max_surge.clone().unwrap_or(IntOrString::Int(0));
            validate_int_or_percent(&max_unavailable, &path.child("maxUnavailable"), errs);
            validate_int_or_percent(&max_surge, &path.child("maxSurge"), errs);
            not_more_than_100_percent(&max_unavailable, &path.child("maxUnavailable"), errs);
            not_more_than_100_percent(&max_surge, &path.child("maxSurge"), errs);
            let has_unavailable = int_or_percent_value(&max_unavailable) != 0;
            let has_surge = int_or_percent_value(&max_surge) != 0;
            if has_unavailable && has_surge {
                errs.push(FieldError::invalid(
                    &path.child("maxSurge"),
                    int_or_string(&max_surge),
                    "may not be set when maxUnavailable is non-zero",
                ));
            } else if !has_unavailable && !has_surge {
                errs.push(FieldError::required(
                    &path.child("maxUnavailable"),
                    "cannot be 0 when maxSurge is 0",
                ));
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            &path.child("type"),
            go_quote(other),
            &["RollingUpdate", "OnDelete"],
        )),
    }
}
