//! The RBAC authorizer (upstream `plugin/pkg/auth/authorizer/rbac`, rule matching from
//! `pkg/apis/rbac/v1/evaluation_helpers.go`, the rule resolver from
//! `pkg/registry/rbac/validation/rule.go`).
//!
//! Rules only add permissions. For a request in namespace `ns`, the rules that apply to a user
//! are those of every ClusterRoleBinding naming the user, then those of every RoleBinding in
//! `ns` naming the user — a RoleBinding to a ClusterRole grants that role's rules in the
//! binding's namespace only. Cluster-scoped requests (empty namespace) see ClusterRoleBindings
//! only.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use skiff_core::object::{
    ClusterRole, ClusterRoleBinding, Object, PolicyRule, Role, RoleBinding, Subject,
};
use skiff_core::validate::go_quote;

use super::{Attributes, Decision};
use crate::apiserver::authn::UserInfo;

/// `*` in verbs, apiGroups, resources and nonResourceURLs (upstream `VerbAll`, `APIGroupAll`,
/// `ResourceAll`, `NonResourceAll`).
pub const ALL: &str = "*";

/// Whether `rule` allows the request (upstream `RuleAllows`).
///
/// - verbs: `*` or the request's verb;
/// - apiGroups: `*` or the request's group;
/// - resources: `*`, the exact `resource` or `resource/subresource`, or `*/subresource`;
/// - resourceNames: empty, or containing the request's name (so a rule with names never
///   matches a request without one: list, watch, create);
/// - nonResourceURLs (non-resource requests): `*`, the exact path, or a prefix ending in `*`.
pub fn rule_allows(attrs: &Attributes, rule: &PolicyRule) -> bool {
    let verb_matches = rule.verbs.iter().any(|v| v == ALL || *v == attrs.verb);
    let Some(path) = &attrs.path else {
        return verb_matches
            && rule
                .api_groups
                .iter()
                .any(|g| g == ALL || *g == attrs.api_group)
            && resource_matches(rule, &attrs.combined_resource(), &attrs.subresource)
            && (rule.resource_names.is_empty() || rule.resource_names.contains(&attrs.name));
    };
    verb_matches
        && rule.non_resource_urls.iter().any(|url| {
            url == ALL
                || url == path
                || url
                    .strip_suffix('*')
                    .is_some_and(|prefix| path.starts_with(prefix.trim_end_matches('*')))
        })
}

/// Upstream `ResourceMatches`.
fn resource_matches(rule: &PolicyRule, combined: &str, subresource: &str) -> bool {
    rule.resources.iter().any(|r| {
        r == ALL
            || r == combined
            || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource))
    })
}

/// Upstream `appliesToUser`: a User subject by name, a Group subject by membership, a
/// ServiceAccount subject by its user name, its namespace defaulting to the binding's (a
/// ClusterRoleBinding's service account must name its namespace). Other kinds never apply.
fn applies_to(user: &UserInfo, subject: &Subject, binding_namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => user.name == subject.name,
        "Group" => user.in_group(&subject.name),
        "ServiceAccount" => {
            let namespace = subject
                .namespace
                .as_deref()
                .filter(|ns| !ns.is_empty())
                .unwrap_or(binding_namespace);
            !namespace.is_empty() && user.is_service_account(namespace, &subject.name)
        }
        _ => false,
    }
}

/// Upstream `describeSubject`.
fn describe_subject(subject: &Subject, binding_namespace: &str) -> String {
    if subject.kind == "ServiceAccount" {
        let namespace = subject
            .namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .unwrap_or(binding_namespace);
        format!(
            "{} {}",
            subject.kind,
            go_quote(&format!("{}/{namespace}", subject.name))
        )
    } else {
        format!("{} {}", subject.kind, go_quote(&subject.name))
    }
}

/// The Roles, ClusterRoles and bindings the RBAC authorizer reads, as of one revision.
///
/// # Guarantees
/// Iteration is in name order (bindings by namespace then name), so the reason of an allow
/// and the order of resolution errors are deterministic (upstream's informer order is not).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RbacSnapshot {
    roles: BTreeMap<(String, String), Role>,
    cluster_roles: BTreeMap<String, ClusterRole>,
    role_bindings: BTreeMap<(String, String), RoleBinding>,
    cluster_role_bindings: BTreeMap<String, ClusterRoleBinding>,
}

fn key(meta: &skiff_core::object::ObjectMeta) -> (String, String) {
    (
        meta.namespace_or_empty().to_owned(),
        meta.name_or_empty().to_owned(),
    )
}

impl RbacSnapshot {
    /// A snapshot of the Role, ClusterRole, RoleBinding and ClusterRoleBinding objects in
    /// `objects` (other kinds are ignored; a later object replaces an earlier one of the same
    /// kind, namespace and name).
    pub fn from_objects(objects: &[Object]) -> Self {
        let mut snapshot = Self::default();
        for object in objects {
            snapshot.insert(object);
        }
        snapshot
    }

    /// [`RbacSnapshot::from_objects`] over upstream's bootstrap policy ([`super::bootstrap`])
    /// followed by `objects`: what a cluster holds after kube-apiserver's `rbac/bootstrap-roles`
    /// hook created the defaults, a stored object of the same name taking precedence.
    pub fn with_bootstrap_policy(objects: &[Object]) -> Self {
        let mut snapshot = Self::from_objects(&super::bootstrap::objects());
        for object in objects {
            snapshot.insert(object);
        }
        snapshot
    }

    /// Adds (or replaces) one object; other kinds are ignored.
    pub fn insert(&mut self, object: &Object) {
        match object {
            Object::Role(r) => {
                self.roles.insert(key(&r.metadata), r.clone());
            }
            Object::ClusterRole(r) => {
                self.cluster_roles
                    .insert(r.metadata.name_or_empty().to_owned(), r.clone());
            }
            Object::RoleBinding(b) => {
                self.role_bindings.insert(key(&b.metadata), b.clone());
            }
            Object::ClusterRoleBinding(b) => {
                self.cluster_role_bindings
                    .insert(b.metadata.name_or_empty().to_owned(), b.clone());
            }
            _ => {}
        }
    }

    /// Number of roles, cluster roles, role bindings and cluster role bindings held.
    pub fn len(&self) -> usize {
        self.roles.len()
            + self.cluster_roles.len()
            + self.role_bindings.len()
            + self.cluster_role_bindings.len()
    }

    /// Whether the snapshot holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Upstream `GetRoleReferenceRules`: the rules a binding in `namespace` (empty for a
    /// ClusterRoleBinding) refers to, or upstream's NotFound text.
    fn role_ref_rules(
        &self,
        role_ref: &skiff_core::object::RoleRef,
        namespace: &str,
    ) -> Result<&[PolicyRule], String> {
        match role_ref.kind.as_str() {
            "Role" => self
                .roles
                .get(&(namespace.to_owned(), role_ref.name.clone()))
                .map(|r| r.rules.as_slice())
                .ok_or_else(|| {
                    format!(
                        "role.rbac.authorization.k8s.io {} not found",
                        go_quote(&role_ref.name)
                    )
                }),
            "ClusterRole" => self
                .cluster_roles
                .get(&role_ref.name)
                .map(|r| r.rules.as_slice())
                .ok_or_else(|| {
                    format!(
                        "clusterrole.rbac.authorization.k8s.io {} not found",
                        go_quote(&role_ref.name)
                    )
                }),
            other => Err(format!(
                "unsupported role reference kind: {}",
                go_quote(other)
            )),
        }
    }

    /// Upstream `VisitRulesFor`: calls `visit(source, rule)` for every rule that applies to
    /// `user` in `namespace`, ClusterRoleBindings first, and collects resolution errors
    /// (missing roles); stops early when `visit` returns `false`.
    pub fn visit_rules_for(
        &self,
        user: &UserInfo,
        namespace: &str,
        mut visit: impl FnMut(&dyn Fn() -> String, &PolicyRule) -> bool,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        for (name, binding) in &self.cluster_role_bindings {
            let Some(subject) = binding.subjects.iter().find(|s| applies_to(user, s, "")) else {
                continue;
            };
            match self.role_ref_rules(&binding.role_ref, "") {
                Err(e) => errors.push(e),
                Ok(rules) => {
                    let source = || {
                        format!(
                            "ClusterRoleBinding {} of {} {} to {}",
                            go_quote(name),
                            binding.role_ref.kind,
                            go_quote(&binding.role_ref.name),
                            describe_subject(subject, "")
                        )
                    };
                    for rule in rules {
                        if !visit(&source, rule) {
                            return errors;
                        }
                    }
                }
            }
        }
        if namespace.is_empty() {
            return errors;
        }
        let range = (namespace.to_owned(), String::new())..;
        for ((ns, name), binding) in self.role_bindings.range(range) {
            if ns != namespace {
                break;
            }
            let Some(subject) = binding
                .subjects
                .iter()
                .find(|s| applies_to(user, s, namespace))
            else {
                continue;
            };
            match self.role_ref_rules(&binding.role_ref, namespace) {
                Err(e) => errors.push(e),
                Ok(rules) => {
                    let source = || {
                        format!(
                            "RoleBinding {} of {} {} to {}",
                            go_quote(&format!("{name}/{ns}")),
                            binding.role_ref.kind,
                            go_quote(&binding.role_ref.name),
                            describe_subject(subject, namespace)
                        )
                    };
                    for rule in rules {
                        if !visit(&source, rule) {
                            return errors;
                        }
                    }
                }
            }
        }
        errors
    }

    /// Every rule that applies to `user` in `namespace` (upstream `RulesFor`), with the
    /// resolution errors met on the way.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
        let mut rules = Vec::new();
        let errors = self.visit_rules_for(user, namespace, |_, rule| {
            rules.push(rule.clone());
            true
        });
        (rules, errors)
    }

    /// Upstream `RBACAuthorizer.Authorize`: allowed by the first applying rule that matches
    /// (reason `RBAC: allowed by <binding>`); otherwise no opinion, the reason listing the
    /// resolution errors (`RBAC: role.rbac.authorization.k8s.io "x" not found`), if any.
    pub fn authorize(&self, attrs: &Attributes) -> Decision {
        let mut allowed_by = None;
        let errors = self.visit_rules_for(&attrs.user, &attrs.namespace, |source, rule| {
            if rule_allows(attrs, rule) {
                allowed_by = Some(source());
                return false;
            }
            true
        });
        if let Some(source) = allowed_by {
            return Decision::Allow(format!("RBAC: allowed by {source}"));
        }
        if errors.is_empty() {
            Decision::NoOpinion(String::new())
        } else {
            Decision::NoOpinion(format!("RBAC: {}", aggregate(&errors)))
        }
    }
}

/// Upstream `utilerrors.NewAggregate(errs).Error()`: one message as is; several, deduplicated
/// in order, as `[a, b]`.
fn aggregate(errors: &[String]) -> String {
    if let [one] = errors {
        return one.clone();
    }
    let mut seen: Vec<&str> = Vec::new();
    for e in errors {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    if let [one] = seen.as_slice() {
        return (*one).to_owned();
    }
    let mut out = String::from("[");
    for (i, e) in seen.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{e}");
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: verbs.iter().map(ToString::to_string).collect(),
            api_groups: groups.iter().map(ToString::to_string).collect(),
            resources: resources.iter().map(ToString::to_string).collect(),
            ..PolicyRule::default()
        }
    }

    fn jane() -> UserInfo {
        UserInfo::new("jane", &[])
    }

    #[test]
    fn resource_matching_follows_upstream() {
        let get_pods = Attributes::resource_in(&jane(), "get", "", "pods");
        let get_status = get_pods.clone().subresource("status");
        assert!(rule_allows(&get_pods, &rule(&["get"], &[""], &["pods"])));
        assert!(!rule_allows(&get_status, &rule(&["get"], &[""], &["pods"])));
        assert!(rule_allows(
            &get_status,
            &rule(&["get"], &[""], &["pods/status"])
        ));
        assert!(rule_allows(
            &get_status,
            &rule(&["get"], &[""], &["*/status"])
        ));
        assert!(!rule_allows(
            &get_pods,
            &rule(&["get"], &[""], &["*/status"])
        ));
        assert!(!rule_allows(
            &get_status,
            &rule(&["get"], &[""], &["*/scale"])
        ));
        assert!(rule_allows(&get_status, &rule(&["*"], &["*"], &["*"])));
        assert!(!rule_allows(&get_pods, &rule(&["list"], &[""], &["pods"])));
        assert!(!rule_allows(
            &get_pods,
            &rule(&["get"], &["apps"], &["pods"])
        ));
        assert!(!rule_allows(&get_pods, &rule(&["get"], &[], &["pods"])));
    }

    #[test]
    fn resource_names_need_a_named_request() {
        let mut named = rule(&["get", "list"], &[""], &["secrets"]);
        named.resource_names = vec!["db".into()];
        let get = Attributes::resource_in(&jane(), "get", "", "secrets").namespace("dev");
        assert!(rule_allows(&get.clone().name("db"), &named));
        assert!(!rule_allows(&get.clone().name("other"), &named));
        let list = Attributes::resource_in(&jane(), "list", "", "secrets").namespace("dev");
        assert!(!rule_allows(&list, &named), "a list has no name");
    }

    #[test]
    fn non_resource_urls_match_exactly_or_by_star_prefix() {
        let urls = PolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/healthz".into(), "/apis/*".into()],
            ..PolicyRule::default()
        };
        let get = |path: &str| Attributes::non_resource(&jane(), "get", path);
        assert!(rule_allows(&get("/healthz"), &urls));
        assert!(!rule_allows(&get("/healthz/etcd"), &urls));
        assert!(rule_allows(&get("/apis/apps/v1"), &urls));
        assert!(rule_allows(&get("/apis/"), &urls));
        assert!(!rule_allows(&get("/apis"), &urls));
        // A resource rule never matches a path, nor a URL rule a resource.
        assert!(!rule_allows(
            &get("/healthz"),
            &rule(&["*"], &["*"], &["*"])
        ));
        assert!(!rule_allows(
            &Attributes::resource_in(&jane(), "get", "", "pods"),
            &urls
        ));
    }

    #[test]
    fn aggregate_prints_like_upstream() {
        assert_eq!(aggregate(&["a".into()]), "a");
        assert_eq!(aggregate(&["a".into(), "a".into()]), "a");
        assert_eq!(aggregate(&["a".into(), "b".into(), "a".into()]), "[a, b]");
    }
}
