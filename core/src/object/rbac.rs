//! Role, ClusterRole, RoleBinding, ClusterRoleBinding (upstream `rbac.authorization.k8s.io/v1`).

use serde::{Deserialize, Serialize};

use super::serde_util::null_as_default;
use super::{ApiVersion, Kind, ObjectMeta, Value, impl_resource, info};

/// A `Role`: permissions within one namespace.
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
pub struct Role {
    /// Always `rbac.authorization.k8s.io/v1`.
    #[serde(default)]
    pub api_version: ApiVersion<Role>,
    /// Always `Role`.
    #[serde(default)]
    pub kind: Kind<Role>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the role allows; permissions only add up, nothing denies.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub rules: Vec<PolicyRule>,
}
impl_resource!(Role, info::ROLE);

/// A `ClusterRole`: permissions cluster-wide, or a reusable set bound per namespace.
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
pub struct ClusterRole {
    /// Always `rbac.authorization.k8s.io/v1`.
    #[serde(default)]
    pub api_version: ApiVersion<ClusterRole>,
    /// Always `ClusterRole`.
    #[serde(default)]
    pub kind: Kind<ClusterRole>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the role allows; permissions only add up, nothing denies.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub rules: Vec<PolicyRule>,
    /// Selectors of ClusterRoles whose rules a controller copies into this one: carried
    /// verbatim (skiff runs no aggregation controller).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub aggregation_rule: Option<Value>,
}
impl_resource!(ClusterRole, info::CLUSTER_ROLE);

/// One permission: verbs on resources (or on non-resource URLs).
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
pub struct PolicyRule {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, … or `*`.
    pub verbs: Vec<String>,
    /// API groups of the resources; `""` is the core group, `*` any.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub api_groups: Vec<String>,
    /// Resources (plural names, `pods/log` for subresources), or `*`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<String>,
    /// Object names the rule is limited to; empty means all.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resource_names: Vec<String>,
    /// URL paths such as `/healthz` (ClusterRoles only).
    #[serde(
        default,
        rename = "nonResourceURLs",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

/// A `RoleBinding`: grants a Role (or a ClusterRole, within this namespace) to subjects.
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
pub struct RoleBinding {
    /// Always `rbac.authorization.k8s.io/v1`.
    #[serde(default)]
    pub api_version: ApiVersion<RoleBinding>,
    /// Always `RoleBinding`.
    #[serde(default)]
    pub kind: Kind<RoleBinding>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Who is granted the role.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub subjects: Vec<Subject>,
    /// The role granted; cannot change once created.
    pub role_ref: RoleRef,
}
impl_resource!(RoleBinding, info::ROLE_BINDING);

/// A `ClusterRoleBinding`: grants a ClusterRole cluster-wide.
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
pub struct ClusterRoleBinding {
    /// Always `rbac.authorization.k8s.io/v1`.
    #[serde(default)]
    pub api_version: ApiVersion<ClusterRoleBinding>,
    /// Always `ClusterRoleBinding`.
    #[serde(default)]
    pub kind: Kind<ClusterRoleBinding>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Who is granted the role.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub subjects: Vec<Subject>,
    /// The ClusterRole granted; cannot change once created.
    pub role_ref: RoleRef,
}
impl_resource!(ClusterRoleBinding, info::CLUSTER_ROLE_BINDING);

/// Who a binding grants to: a user, a group or a service account.
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
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// `rbac.authorization.k8s.io` for users and groups, `""` for service accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// The user, group or service account name.
    pub name: String,
    /// The service account's namespace; empty for users and groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The role a binding grants.
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
pub struct RoleRef {
    /// Always `rbac.authorization.k8s.io`.
    pub api_group: String,
    /// `Role` or `ClusterRole`.
    pub kind: String,
    /// The role's name.
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::config::test_support::{assert_round_trips, conformance_objects, names};

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn roles_in_the_corpus_round_trip() {
        let Some(objects) = conformance_objects::<Role>() else {
            return;
        };
        assert_eq!(
            names(&objects),
            [("access__simple-role.yaml", "pod-reader")]
        );
        assert_eq!(
            objects[0].1.rules,
            [PolicyRule {
                verbs: strings(&["get", "watch", "list"]),
                api_groups: strings(&[""]),
                resources: strings(&["pods"]),
                ..PolicyRule::default()
            }]
        );
        assert_round_trips(&objects[0].1);
    }

    #[test]
    fn cluster_roles_in_the_corpus_round_trip() {
        let Some(objects) = conformance_objects::<ClusterRole>() else {
            return;
        };
        assert_eq!(
            names(&objects),
            [("access__simple-clusterrole.yaml", "secret-reader")]
        );
        assert_eq!(objects[0].1.rules[0].resources, ["secrets"]);
        assert_round_trips(&objects[0].1);
    }

    #[test]
    fn role_bindings_in_the_corpus_round_trip() {
        let Some(objects) = conformance_objects::<RoleBinding>() else {
            return;
        };
        assert_eq!(
            names(&objects),
            [
                (
                    "access__simple-rolebinding-with-clusterrole.yaml",
                    "read-secrets"
                ),
                ("access__simple-rolebinding-with-role.yaml", "read-pods"),
            ]
        );
        assert_eq!(
            objects[1].1.subjects,
            [Subject {
                kind: "User".into(),
                api_group: Some("rbac.authorization.k8s.io".into()),
                name: "jane".into(),
                namespace: None,
            }]
        );
        assert_eq!(
            objects[1].1.role_ref,
            RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: "pod-reader".into(),
            }
        );
        for (_, binding) in &objects {
            assert_round_trips(binding);
        }
    }

    #[test]
    fn cluster_role_bindings_in_the_corpus_round_trip() {
        let Some(objects) = conformance_objects::<ClusterRoleBinding>() else {
            return;
        };
        assert_eq!(
            names(&objects),
            [
                (
                    "access__simple-clusterrolebinding.yaml",
                    "read-secrets-global"
                ),
                (
                    "admin__sched__my-scheduler.yaml",
                    "my-scheduler-as-kube-scheduler"
                ),
                (
                    "admin__sched__my-scheduler.yaml",
                    "my-scheduler-as-volume-scheduler"
                ),
            ]
        );
        assert_eq!(
            objects[1].1.subjects[0].namespace.as_deref(),
            Some("kube-system")
        );
        assert_eq!(objects[1].1.role_ref.name, "system:kube-scheduler");
        for (_, binding) in &objects {
            assert_round_trips(binding);
        }
    }

    #[test]
    fn cluster_role_accepts_every_upstream_field_and_round_trips() {
        let role: ClusterRole = serde_saphyr::from_str(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: monitoring
aggregationRule:
  clusterRoleSelectors:
  - matchLabels:
      rbac.example.com/aggregate-to-monitoring: "true"
rules:
- apiGroups: [""]
  resources: [services, endpoints, pods]
  resourceNames: [web]
  verbs: [get, list, watch]
- nonResourceURLs: [/metrics, /healthz/*]
  verbs: [get]
"#,
        )
        .unwrap();
        assert_eq!(role.rules[0].resource_names, ["web"]);
        assert_eq!(role.rules[1].non_resource_urls, ["/metrics", "/healthz/*"]);
        assert!(role.aggregation_rule.is_some());
        assert_round_trips(&role);
    }

    #[test]
    fn rule_without_verbs_is_a_missing_field() {
        let err =
            serde_json::from_str::<Role>(r#"{"rules":[{"resources":["pods"]}]}"#).unwrap_err();
        assert_eq!(err.to_string(), "missing field `verbs` at line 1 column 32");
    }

    #[test]
    fn binding_without_role_ref_is_a_missing_field() {
        let err = serde_json::from_str::<RoleBinding>(r#"{"metadata":{"name":"b"}}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing field `roleRef` at line 1 column 25"
        );
    }
}
