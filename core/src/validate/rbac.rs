//! Roles and bindings (upstream `pkg/apis/rbac/validation`). RBAC names are path segments
//! (`system:kube-scheduler` is valid), not DNS names.

use crate::object::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use super::format::{go_quote, go_string_slice};
use super::meta;
use super::syntax::{self, NameRule};
use super::{Errors, FieldError, Path};

/// The one API group a binding's roleRef and User/Group subjects may name.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// upstream `ValidateRole`.
pub(crate) fn validate_role(role: &Role, errs: &mut Errors) {
    meta::validate_object_meta(&role.metadata, true, NameRule::PathSegment, errs);
    for (i, rule) in role.rules.iter().enumerate() {
        validate_policy_rule(rule, true, &Path::root("rules").index(i), errs);
    }
}

/// upstream `ValidateClusterRole` (rules only; an aggregation rule is carried verbatim).
pub(crate) fn validate_cluster_role(role: &ClusterRole, errs: &mut Errors) {
    meta::validate_object_meta(&role.metadata, false, NameRule::PathSegment, errs);
    for (i, rule) in role.rules.iter().enumerate() {
        validate_policy_rule(rule, false, &Path::root("rules").index(i), errs);
    }
}

/// upstream `validatePolicyRule`: verbs, and either non-resource URLs (cluster roles only, and
/// alone) or API groups and resources.
fn validate_policy_rule(rule: &PolicyRule, namespaced: bool, path: &Path, errs: &mut Errors) {
    if rule.verbs.is_empty() {
        errs.push(FieldError::required(
            &path.child("verbs"),
            "verbs must contain at least one value",
        ));
    }
    if !rule.non_resource_urls.is_empty() {
        let urls = path.child("nonResourceURLs");
        if namespaced {
            errs.push(FieldError::invalid(
                &urls,
                go_string_slice(&rule.non_resource_urls),
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if !rule.api_groups.is_empty()
            || !rule.resources.is_empty()
            || !rule.resource_names.is_empty()
        {
            errs.push(FieldError::invalid(
                &urls,
                go_string_slice(&rule.non_resource_urls),
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return;
    }
    if rule.api_groups.is_empty() {
        errs.push(FieldError::required(
            &path.child("apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if rule.resources.is_empty() {
        errs.push(FieldError::required(
            &path.child("resources"),
            "resource rules must supply at least one resource",
        ));
    }
    if !rule.resource_names.is_empty() && rule.resources.len() > 1 {
        errs.push(FieldError::required(
            &path.child("resourceNames"),
            "resource names cannot apply to multiple resources",
        ));
    }
}

/// upstream `ValidateRoleBinding`.
pub(crate) fn validate_role_binding(binding: &RoleBinding, errs: &mut Errors) {
    meta::validate_object_meta(&binding.metadata, true, NameRule::PathSegment, errs);
    validate_role_ref(&binding.role_ref, &["Role", "ClusterRole"], errs);
    for (i, subject) in binding.subjects.iter().enumerate() {
        validate_subject(subject, true, &Path::root("subjects").index(i), errs);
    }
}

/// upstream `ValidateClusterRoleBinding`: only ClusterRoles may be bound cluster-wide.
pub(crate) fn validate_cluster_role_binding(binding: &ClusterRoleBinding, errs: &mut Errors) {
    meta::validate_object_meta(&binding.metadata, false, NameRule::PathSegment, errs);
    validate_role_ref(&binding.role_ref, &["ClusterRole"], errs);
    for (i, subject) in binding.subjects.iter().enumerate() {
        validate_subject(subject, false, &Path::root("subjects").index(i), errs);
    }
}

/// upstream: roleRef apiGroup is the RBAC group, kind one of `kinds`, name a path segment.
fn validate_role_ref(role_ref: &RoleRef, kinds: &[&str], errs: &mut Errors) {
    let path = Path::root("roleRef");
    if role_ref.api_group != RBAC_GROUP {
        errs.push(FieldError::not_supported(
            &path.child("apiGroup"),
            go_quote(&role_ref.api_group),
            &[RBAC_GROUP],
        ));
    }
    if !kinds.contains(&role_ref.kind.as_str()) {
        errs.push(FieldError::not_supported(
            &path.child("kind"),
            go_quote(&role_ref.kind),
            kinds,
        ));
    }
    if role_ref.name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else {
        for message in syntax::path_segment_name(&role_ref.name) {
            errs.push(FieldError::invalid(
                &path.child("name"),
                go_quote(&role_ref.name),
                message,
            ));
        }
    }
}

/// upstream `validateRoleBindingSubject`. An empty apiGroup of a User or Group subject is
/// defaulted to the RBAC group upstream.
fn validate_subject(subject: &Subject, namespaced: bool, path: &Path, errs: &mut Errors) {
    if subject.name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    }
    let api_group = subject.api_group.as_deref().unwrap_or("");
    match subject.kind.as_str() {
        "ServiceAccount" => {
            if !subject.name.is_empty() {
                for message in NameRule::Subdomain.check(&subject.name, false) {
                    errs.push(FieldError::invalid(
                        &path.child("name"),
                        go_quote(&subject.name),
                        message,
                    ));
                }
            }
            if !api_group.is_empty() {
                errs.push(FieldError::not_supported(
                    &path.child("apiGroup"),
                    go_quote(api_group),
                    &[""],
                ));
            }
            if !namespaced && subject.namespace.as_deref().unwrap_or("").is_empty() {
                errs.push(FieldError::required(&path.child("namespace"), ""));
            }
        }
        kind @ ("User" | "Group") => {
            if subject.name.is_empty() {
                let detail = if kind == "User" {
                    "user name cannot be empty"
                } else {
                    "group name cannot be empty"
                };
                errs.push(FieldError::invalid(&path.child("name"), "\"\"", detail));
            }
            if !api_group.is_empty() && api_group != RBAC_GROUP {
                errs.push(FieldError::not_supported(
                    &path.child("apiGroup"),
                    go_quote(api_group),
                    &[RBAC_GROUP],
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            &path.child("kind"),
            go_quote(other),
            &["ServiceAccount", "User", "Group"],
        )),
    }
}
