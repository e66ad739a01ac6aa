//! Scheduling constraints of a pod spec: node and pod affinity, tolerations, and the taint
//! effects Nodes share (upstream core `validateAffinity`, `ValidateTolerations`,
//! `validateTaintEffect`).

use std::collections::BTreeSet;

use crate::object::{
    Affinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodAffinity,
    PodAffinityTerm, Toleration,
};

use super::format::go_quote;
use super::meta;
use super::syntax;
use super::{Errors, FieldError, Path};

/// upstream `validateTaintEffect`'s valid values, in its order.
const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// upstream `validateAffinity`.
pub(super) fn validate_affinity(affinity: &Affinity, path: &Path, errs: &mut Errors) {
    if let Some(node) = &affinity.node_affinity {
        let node_path = path.child("nodeAffinity");
        if let Some(required) = &node.required_during_scheduling_ignored_during_execution {
            validate_node_selector(
                required,
                &node_path.child("requiredDuringSchedulingIgnoredDuringExecution"),
                errs,
            );
        }
        // upstream ValidatePreferredSchedulingTerms: weights 1..=100; label values are not
        // checked in preferences.
        let preferred = node_path.child("preferredDuringSchedulingIgnoredDuringExecution");
        for (i, term) in node
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .enumerate()
        {
            if !(1..=100).contains(&term.weight) {
                errs.push(FieldError::invalid(
                    &preferred.index(i).child("weight"),
                    term.weight.to_string(),
                    "must be in the range 1-100",
                ));
            }
            validate_node_selector_term(
                &term.preference,
                false,
                &preferred.index(i).child("preference"),
                errs,
            );
        }
    }
    if let Some(pod) = &affinity.pod_affinity {
        validate_pod_affinity(pod, &path.child("podAffinity"), errs);
    }
    if let Some(anti) = &affinity.pod_anti_affinity {
        validate_pod_affinity(anti, &path.child("podAntiAffinity"), errs);
    }
}

/// upstream `ValidateNodeSelector`: at least one term.
fn validate_node_selector(selector: &NodeSelector, path: &Path, errs: &mut Errors) {
    let terms = path.child("nodeSelectorTerms");
    if selector.node_selector_terms.is_empty() {
        errs.push(FieldError::required(
            &terms,
            "must have at least one node selector term",
        ));
        return;
    }
    for (i, term) in selector.node_selector_terms.iter().enumerate() {
        validate_node_selector_term(term, true, &terms.index(i), errs);
    }
}

/// upstream `ValidateNodeSelectorTerm`.
fn validate_node_selector_term(
    term: &NodeSelectorTerm,
    check_values: bool,
    path: &Path,
    errs: &mut Errors,
) {
    for (j, requirement) in term.match_expressions.iter().enumerate() {
        validate_node_selector_requirement(
            requirement,
            check_values,
            &path.child("matchExpressions").index(j),
            errs,
        );
    }
    for (j, requirement) in term.match_fields.iter().enumerate() {
        validate_node_field_selector_requirement(
            requirement,
            &path.child("matchFields").index(j),
            errs,
        );
    }
}

/// upstream `ValidateNodeSelectorRequirement`: operator and value count, key, values.
fn validate_node_selector_requirement(
    requirement: &NodeSelectorRequirement,
    check_values: bool,
    path: &Path,
    errs: &mut Errors,
) {
    let values = path.child("values");
    let count = requirement.values.len();
    match requirement.operator.as_str() {
        "In" | "NotIn" if count == 0 => errs.push(FieldError::required(
            &values,
            "must be specified when `operator` is 'In' or 'NotIn'",
        )),
        "Exists" | "DoesNotExist" if count > 0 => errs.push(FieldError::forbidden(
            &values,
            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        )),
        "Gt" | "Lt" if count != 1 => errs.push(FieldError::required(
            &values,
            "must be specified single value when `operator` is 'Lt' or 'Gt'",
        )),
        "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt" => {}
        other => errs.push(FieldError::invalid(
            &path.child("operator"),
            go_quote(other),
            "not a valid selector operator",
        )),
    }
    meta::validate_label_name(&requirement.key, &path.child("key"), errs);
    if check_values {
        for (i, value) in requirement.values.iter().enumerate() {
            for message in syntax::label_value(value) {
                errs.push(FieldError::invalid(
                    &values.index(i),
                    go_quote(value),
                    message,
                ));
            }
        }
    }
}

/// upstream `ValidateNodeFieldSelectorRequirement`: `metadata.name In/NotIn <one node name>`.
fn validate_node_field_selector_requirement(
    requirement: &NodeSelectorRequirement,
    path: &Path,
    errs: &mut Errors,
) {
    match requirement.operator.as_str() {
        "In" | "NotIn" => {
            if requirement.values.len() != 1 {
                errs.push(FieldError::required(
                    &path.child("values"),
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                ));
            }
        }
        other => errs.push(FieldError::invalid(
            &path.child("operator"),
            go_quote(other),
            "not a valid selector operator",
        )),
    }
    if requirement.key == "metadata.name" {
        for (i, value) in requirement.values.iter().enumerate() {
            for message in syntax::dns1123_subdomain(value) {
                errs.push(FieldError::invalid(
                    &path.child("values").index(i),
                    go_quote(value),
                    message,
                ));
            }
        }
    } else {
        errs.push(FieldError::invalid(
            &path.child("key"),
            go_quote(&requirement.key),
            "not a valid field selector key",
        ));
    }
}

/// upstream `validatePodAffinity` / `validatePodAntiAffinity`.
fn validate_pod_affinity(affinity: &PodAffinity, path: &Path, errs: &mut Errors) {
    let required = path.child("requiredDuringSchedulingIgnoredDuringExecution");
    for (i, term) in affinity
        .required_during_scheduling_ignored_during_execution
        .iter()
        .enumerate()
    {
        validate_pod_affinity_term(term, &required.index(i), errs);
    }
    let preferred = path.child("preferredDuringSchedulingIgnoredDuringExecution");
    for (i, weighted) in affinity
        .preferred_during_scheduling_ignored_during_execution
        .iter()
        .enumerate()
    {
        if !(1..=100).contains(&weighted.weight) {
            errs.push(FieldError::invalid(
                &preferred.index(i).child("weight"),
                weighted.weight.to_string(),
                "must be in the range 1-100",
            ));
        }
        validate_pod_affinity_term(
            &weighted.pod_affinity_term,
            &preferred.index(i).child("podAffinityTerm"),
            errs,
        );
    }
}

/// upstream `validatePodAffinityTerm`: selectors, namespaces (reported at `namespace`, as
/// upstream does), matchLabelKeys/mismatchLabelKeys, topologyKey.
fn validate_pod_affinity_term(term: &PodAffinityTerm, path: &Path, errs: &mut Errors) {
    if let Some(selector) = &term.label_selector {
        meta::validate_label_selector(selector, &path.child("labelSelector"), errs);
    }
    if let Some(selector) = &term.namespace_selector {
        meta::validate_label_selector(selector, &path.child("namespaceSelector"), errs);
    }
    for namespace in &term.namespaces {
        for message in syntax::dns1123_label(namespace) {
            errs.push(FieldError::invalid(
                &path.child("namespace"),
                go_quote(namespace),
                message,
            ));
        }
    }
    for (field, keys) in [
        ("matchLabelKeys", &term.match_label_keys),
        ("mismatchLabelKeys", &term.mismatch_label_keys),
    ] {
        if keys.is_empty() {
            continue;
        }
        if term.label_selector.is_none() {
            errs.push(FieldError::forbidden(
                &path.child(field),
                "must not be specified when labelSelector is not set",
            ));
            continue;
        }
        for (i, key) in keys.iter().enumerate() {
            meta::validate_label_name(key, &path.child(field).index(i), errs);
        }
    }
    let mismatch: BTreeSet<&String> = term.mismatch_label_keys.iter().collect();
    for (i, key) in term.match_label_keys.iter().enumerate() {
        if mismatch.contains(key) {
            errs.push(FieldError::invalid(
                &path.child("matchLabelKeys").index(i),
                go_quote(key),
                "exists in both matchLabelKeys and mismatchLabelKeys",
            ));
        }
    }
    if term.topology_key.is_empty() {
        errs.push(FieldError::required(
            &path.child("topologyKey"),
            "can not be empty",
        ));
    }
    meta::validate_label_name(&term.topology_key, &path.child("topologyKey"), errs);
}

/// upstream `ValidateTolerations`, with the numeric `Lt`/`Gt` operators of the
/// `TaintTolerationComparisonOperators` feature accepted (their value must be a canonical
/// 64-bit decimal integer).
pub(crate) fn validate_tolerations(tolerations: &[Toleration], path: &Path, errs: &mut Errors) {
    for (i, toleration) in tolerations.iter().enumerate() {
        let path = path.index(i);
        let key = toleration.key.as_deref().unwrap_or("");
        let operator = toleration.operator.as_deref().unwrap_or("");
        let value = toleration.value.as_deref().unwrap_or("");
        let effect = toleration.effect.as_deref().unwrap_or("");
        if !key.is_empty() {
            meta::validate_label_name(key, &path.child("key"), errs);
        }
        if key.is_empty() && operator != "Exists" {
            errs.push(FieldError::invalid(
                &path.child("operator"),
                go_quote(operator),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if toleration.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                &path.child("effect"),
                go_quote(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            "" | "Equal" => {
                let messages = syntax::label_value(value);
                if !messages.is_empty() {
                    errs.push(FieldError::invalid(
                        &path.child("operator"),
                        go_quote(value),
                        messages.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        &path.child("operator"),
                        go_quote(value),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            "Lt" | "Gt" => {
                if !is_canonical_i64(value) {
                    errs.push(FieldError::invalid(
                        &path.child("value"),
                        go_quote(value),
                        "value must be a valid integer for numeric operators",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                &path.child("operator"),
                go_quote(other),
                &["Equal", "Exists", "Lt", "Gt"],
            )),
        }
        if !effect.is_empty() {
            validate_taint_effect(effect, &path.child("effect"), errs);
        }
    }
}

/// A decimal integer that fits 64 bits, written canonically (`0`, `5`, `-5`; not `05`, `+5`,
/// `-0`).
fn is_canonical_i64(value: &str) -> bool {
    value
        .parse::<i64>()
        .is_ok_and(|number| number.to_string() == value)
}

/// upstream `validateTaintEffect` for a non-empty effect.
pub(crate) fn validate_taint_effect(effect: &str, path: &Path, errs: &mut Errors) {
    if !TAINT_EFFECTS.contains(&effect) {
        errs.push(FieldError::not_supported(
            path,
            go_quote(effect),
            &TAINT_EFFECTS,
        ));
    }
}
