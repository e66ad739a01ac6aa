//! The kinds skiff serves, where upstream serves them, and what to say about the ones it does not.

/// Where and how one kind is served (what `kubectl api-resources` prints, plus the registry key
/// prefix of the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// API group; `""` for the core group.
    pub group: &'static str,
    /// API version within the group, e.g. `v1`.
    pub version: &'static str,
    /// `group/version`, or just the version for the core group.
    pub api_version: &'static str,
    /// The kind, e.g. `ReplicaSet`.
    pub kind: &'static str,
    /// The resource name in URLs and RBAC rules, e.g. `replicasets`.
    pub plural: &'static str,
    /// Lowercase singular, e.g. `replicaset`.
    pub singular: &'static str,
    /// kubectl short names, e.g. `rs`.
    pub short_names: &'static [&'static str],
    /// Namespaced (true) or cluster-scoped (false).
    pub namespaced: bool,
    /// Prefix of the upstream etcd registry key, e.g. `/registry/replicasets/` (nodes live under
    /// `/registry/minions/`, services under `/registry/services/specs/`).
    pub registry_prefix: &'static str,
}

macro_rules! kinds {
    ($($konst:ident: $group:literal, $version:literal, $api_version:literal, $kind:literal,
       $plural:literal, $singular:literal, [$($short:literal),*], $namespaced:literal, $prefix:literal;)*) => {
        $(
            #[doc = concat!("Where `", $kind, "` is served.")]
            pub const $konst: KindInfo = KindInfo {
                group: $group,
                version: $version,
                api_version: $api_version,
                kind: $kind,
                plural: $plural,
                singular: $singular,
                short_names: &[$($short),*],
                namespaced: $namespaced,
                registry_prefix: $prefix,
            };
        )*
        /// Every kind skiff serves, in a fixed order.
        pub const KINDS: &[KindInfo] = &[$($konst),*];
    };
}

/// The served kinds, one constant each.
pub mod info {
    use super::KindInfo;
    kinds! {
        POD: "", "v1", "v1", "Pod", "pods", "pod", ["po"], true, "/registry/pods/";
        REPLICATION_CONTROLLER: "", "v1", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller", ["rc"], true, "/registry/controllers/";
        SERVICE: "", "v1", "v1", "Service", "services", "service", ["svc"], true, "/registry/services/specs/";
        ENDPOINTS: "", "v1", "v1", "Endpoints", "endpoints", "endpoints", ["ep"], true, "/registry/services/endpoints/";
        NODE: "", "v1", "v1", "Node", "nodes", "node", ["no"], false, "/registry/minions/";
        NAMESPACE: "", "v1", "v1", "Namespace", "namespaces", "namespace", ["ns"], false, "/registry/namespaces/";
        CONFIG_MAP: "", "v1", "v1", "ConfigMap", "configmaps", "configmap", ["cm"], true, "/registry/configmaps/";
        SECRET: "", "v1", "v1", "Secret", "secrets", "secret", [], true, "/registry/secrets/";
        SERVICE_ACCOUNT: "", "v1", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", ["sa"], true, "/registry/serviceaccounts/";
        EVENT: "", "v1", "v1", "Event", "events", "event", ["ev"], true, "/registry/events/";
        PERSISTENT_VOLUME: "", "v1", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", ["pv"], false, "/registry/persistentvolumes/";
        PERSISTENT_VOLUME_CLAIM: "", "v1", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", ["pvc"], true, "/registry/persistentvolumeclaims/";
        REPLICA_SET: "apps", "v1", "apps/v1", "ReplicaSet", "replicasets", "replicaset", ["rs"], true, "/registry/replicasets/";
        DEPLOYMENT: "apps", "v1", "apps/v1", "Deployment", "deployments", "deployment", ["deploy"], true, "/registry/deployments/";
        DAEMON_SET: "apps", "v1", "apps/v1", "DaemonSet", "daemonsets", "daemonset", ["ds"], true, "/registry/daemonsets/";
        ROLE: "rbac.authorization.k8s.io", "v1", "rbac.authorization.k8s.io/v1", "Role", "roles", "role", [], true, "/registry/roles/";
        CLUSTER_ROLE: "rbac.authorization.k8s.io", "v1", "rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", "clusterrole", [], false, "/registry/clusterroles/";
        ROLE_BINDING: "rbac.authorization.k8s.io", "v1", "rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", "rolebinding", [], true, "/registry/rolebindings/";
        CLUSTER_ROLE_BINDING: "rbac.authorization.k8s.io", "v1", "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", [], false, "/registry/clusterrolebindings/";
        LEASE: "coordination.k8s.io", "v1", "coordination.k8s.io/v1", "Lease", "leases", "lease", [], true, "/registry/leases/";
    }
}

pub use info::KINDS;

/// API versions Kubernetes once served and has removed, with the release that removed them.
/// Upstream: https://kubernetes.io/docs/reference/using-api/deprecation-guide/
const REMOVED_API_VERSIONS: &[(&str, &str)] = &[
    ("extensions/v1beta1", "1.16"),
    ("apps/v1beta1", "1.16"),
    ("apps/v1beta2", "1.16"),
    ("batch/v1beta1", "1.25"),
    ("rbac.authorization.k8s.io/v1beta1", "1.22"),
    ("rbac.authorization.k8s.io/v1alpha1", "1.22"),
    ("coordination.k8s.io/v1beta1", "1.22"),
    ("policy/v1beta1", "1.25"),
    ("networking.k8s.io/v1beta1", "1.22"),
    ("events.k8s.io/v1beta1", "1.25"),
];

/// Kinds upstream serves that skiff does not, with their current API version (so the message
/// can name where they live).
const UNSERVED_KINDS: &[(&str, &str)] = &[
    ("StatefulSet", "apps/v1"),
    ("ControllerRevision", "apps/v1"),
    ("Job", "batch/v1"),
    ("CronJob", "batch/v1"),
    ("LimitRange", "v1"),
    ("ResourceQuota", "v1"),
    ("PodTemplate", "v1"),
    ("Binding", "v1"),
    ("ComponentStatus", "v1"),
    ("Ingress", "networking.k8s.io/v1"),
    ("IngressClass", "networking.k8s.io/v1"),
    ("NetworkPolicy", "networking.k8s.io/v1"),
    ("HorizontalPodAutoscaler", "autoscaling/v2"),
    ("PodDisruptionBudget", "policy/v1"),
    ("StorageClass", "storage.k8s.io/v1"),
    ("CSIDriver", "storage.k8s.io/v1"),
    ("VolumeAttachment", "storage.k8s.io/v1"),
    ("PriorityClass", "scheduling.k8s.io/v1"),
    ("RuntimeClass", "node.k8s.io/v1"),
    ("CertificateSigningRequest", "certificates.k8s.io/v1"),
    ("CustomResourceDefinition", "apiextensions.k8s.io/v1"),
    (
        "MutatingWebhookConfiguration",
        "admissionregistration.k8s.io/v1",
    ),
    (
        "ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io/v1",
    ),
    ("EndpointSlice", "discovery.k8s.io/v1"),
];

/// What an `apiVersion`/`kind` pair refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindLookup {
    /// A kind skiff serves, at the right version.
    Served(&'static KindInfo),
    /// A kind skiff serves, named with a version that does not serve it.
    WrongVersion {
        /// The kind as served.
        served: &'static KindInfo,
        /// When the version given was removed from Kubernetes, the release that removed it.
        removed_in: Option<&'static str>,
    },
    /// A kind skiff does not serve.
    Unsupported,
}

/// Looks up an `apiVersion`/`kind` pair.
pub fn lookup_kind(api_version: &str, kind: &str) -> KindLookup {
    if let Some(info) = KINDS.iter().find(|k| k.kind == kind) {
        if info.api_version == api_version {
            return KindLookup::Served(info);
        }
        let removed_in = REMOVED_API_VERSIONS
            .iter()
            .find(|(v, _)| *v == api_version)
            .map(|(_, r)| *r);
        return KindLookup::WrongVersion {
            served: info,
            removed_in,
        };
    }
    KindLookup::Unsupported
}

/// The release that removed `api_version`, if Kubernetes once served it.
pub fn removed_in(api_version: &str) -> Option<&'static str> {
    REMOVED_API_VERSIONS
        .iter()
        .find(|(v, _)| *v == api_version)
        .map(|(_, r)| *r)
}

/// Where upstream serves a kind skiff does not, if it is one skiff knows of.
pub fn unserved_kind_version(kind: &str) -> Option<&'static str> {
    UNSERVED_KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, v)| *v)
}

/// Finds a served kind by plural, singular, short name or kind (case-insensitive), as kubectl
/// resolves `get rs`, `get replicaset`, `get ReplicaSet`.
pub fn resolve_resource(name: &str) -> Option<&'static KindInfo> {
    let lower = name.to_ascii_lowercase();
    KINDS.iter().find(|k| {
        k.plural == lower
            || k.singular == lower
            || k.kind.eq_ignore_ascii_case(&lower)
            || k.short_names.contains(&lower.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_kubectl_short_names() {
        assert_eq!(resolve_resource("rs").unwrap().kind, "ReplicaSet");
        assert_eq!(resolve_resource("deploy").unwrap().kind, "Deployment");
        assert_eq!(
            resolve_resource("Nodes").unwrap().registry_prefix,
            "/registry/minions/"
        );
        assert_eq!(resolve_resource("statefulsets"), None);
    }

    #[test]
    fn removed_versions_point_at_the_serving_version() {
        assert_eq!(
            lookup_kind("extensions/v1beta1", "Deployment"),
            KindLookup::WrongVersion {
                served: &info::DEPLOYMENT,
                removed_in: Some("1.16")
            }
        );
        assert_eq!(
            lookup_kind("v1", "ReplicaSet"),
            KindLookup::WrongVersion {
                served: &info::REPLICA_SET,
                removed_in: None
            }
        );
        assert_eq!(
            lookup_kind("apps/v1", "StatefulSet"),
            KindLookup::Unsupported
        );
    }
}
