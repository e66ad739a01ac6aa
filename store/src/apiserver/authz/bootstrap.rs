//! Upstream's bootstrap policy (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`):
//! the default ClusterRoles and ClusterRoleBindings kube-apiserver creates at start-up, labelled
//! `kubernetes.io/bootstrapping: rbac-defaults` and annotated
//! `rbac.authorization.kubernetes.io/autoupdate: "true"`.
//!
//! A subset: the roles skiff's components and users need. `admin`, `edit` and `view` are
//! aggregated upstream (a controller copies the rules of `system:aggregate-to-*` into them);
//! skiff runs no aggregation controller, so they are given here already flattened, as an
//! upstream cluster shows them (`view` ⊂ `edit` ⊂ `admin`), for the API groups skiff serves
//! plus the core workload groups clients commonly name (batch, autoscaling, policy,
//! networking). `system:node` is kept with upstream's `NodeRules()` and its binding has no
//! subjects: since 1.8 nodes are authorized by the Node authorizer, not by RBAC.

use std::collections::BTreeMap;

use skiff_core::object::{
    ClusterRole, ClusterRoleBinding, Object, ObjectMeta, PolicyRule, RoleRef, Subject,
};

use crate::apiserver::authn::{GROUP_AUTHENTICATED, GROUP_MASTERS, GROUP_UNAUTHENTICATED};

/// The RBAC API group.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// The label every bootstrap object carries (upstream `bootstrappolicy.Label`).
pub const BOOTSTRAPPING_LABEL: (&str, &str) = ("kubernetes.io/bootstrapping", "rbac-defaults");
/// The annotation that lets the API server reconcile the object at start-up.
pub const AUTOUPDATE_ANNOTATION: (&str, &str) =
    ("rbac.authorization.kubernetes.io/autoupdate", "true");
/// The kube-scheduler's user (upstream `user.KubeScheduler`).
pub const USER_KUBE_SCHEDULER: &str = "system:kube-scheduler";
/// The kube-controller-manager's user (upstream `user.KubeControllerManager`).
pub const USER_KUBE_CONTROLLER_MANAGER: &str = "system:kube-controller-manager";
/// kube-proxy's user (upstream `user.KubeProxy`).
pub const USER_KUBE_PROXY: &str = "system:kube-proxy";

// Upstream's verb sets (`bootstrappolicy.Read`, `Write`, `ReadWrite`, `ReadUpdate`).
const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];
const READ_WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];
const READ_UPDATE: &[&str] = &["get", "list", "watch", "update", "patch"];

const CORE: &str = "";
const APPS: &str = "apps";
const AUTHENTICATION: &str = "authentication.k8s.io";
const AUTHORIZATION: &str = "authorization.k8s.io";
const AUTOSCALING: &str = "autoscaling";
const BATCH: &str = "batch";
const CERTIFICATES: &str = "certificates.k8s.io";
const COORDINATION: &str = "coordination.k8s.io";
const DISCOVERY: &str = "discovery.k8s.io";
const EVENTS: &str = "events.k8s.io";
const NETWORKING: &str = "networking.k8s.io";
const POLICY: &str = "policy";
const STORAGE: &str = "storage.k8s.io";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// A resource rule (upstream `NewRule(verbs...).Groups(groups...).Resources(resources...)`).
fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: strings(verbs),
        api_groups: strings(groups),
        resources: strings(resources),
        ..PolicyRule::default()
    }
}

/// A resource rule limited to object names (`.Names(...)`).
fn named(mut rule: PolicyRule, names: &[&str]) -> PolicyRule {
    rule.resource_names = strings(names);
    rule
}

/// A non-resource rule (`NewRule(verbs...).URLs(urls...)`).
fn urls(verbs: &[&str], urls: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: strings(verbs),
        non_resource_urls: strings(urls),
        ..PolicyRule::default()
    }
}

/// Upstream `eventsRule()`: create, update and patch events in the core and events groups.
fn events_rule() -> PolicyRule {
    rule(&["create", "update", "patch"], &[CORE, EVENTS], &["events"])
}

fn metadata(name: &str) -> ObjectMeta {
    let mut meta = ObjectMeta::named(name);
    meta.labels = BTreeMap::from([(
        BOOTSTRAPPING_LABEL.0.to_owned(),
        BOOTSTRAPPING_LABEL.1.to_owned(),
    )]);
    meta.annotations = BTreeMap::from([(
        AUTOUPDATE_ANNOTATION.0.to_owned(),
        AUTOUPDATE_ANNOTATION.1.to_owned(),
    )]);
    meta
}

fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: metadata(name),
        rules,
        ..ClusterRole::default()
    }
}

/// Upstream `NodeRules()`: what the Node authorizer grants every node before it subdivides
/// secrets, configmaps, PVCs, PVs, leases and service-account tokens by relationship.
pub fn node_rules() -> Vec<PolicyRule> {
    vec![
        // Needed to check API access; these creates are non-mutating.
        rule(&["create"], &[AUTHENTICATION], &["tokenreviews"]),
        rule(
            &["create"],
            &[AUTHORIZATION],
            &["subjectaccessreviews", "localsubjectaccessreviews"],
        ),
        // Service environment variables.
        rule(READ, &[CORE], &["services"]),
        // Registration and status; NodeRestriction limits a node to its own Node.
        rule(&["create", "get", "list", "watch"], &[CORE], &["nodes"]),
        rule(&["update", "patch"], &[CORE], &["nodes/status"]),
        rule(&["update", "patch"], &[CORE], &["nodes"]),
        rule(&["create", "update", "patch"], &[CORE], &["events"]),
        rule(READ, &[CORE], &["pods"]),
        // Mirror pods; NodeRestriction limits them to pods bound to the node.
        rule(&["create", "delete"], &[CORE], &["pods"]),
        rule(&["update", "patch"], &[CORE], &["pods/status"]),
        rule(&["create"], &[CORE], &["pods/eviction"]),
        // Subdivided by the Node authorizer to objects referenced by the node's pods.
        rule(READ, &[CORE], &["secrets", "configmaps"]),
        rule(
            &["get"],
            &[CORE],
            &["persistentvolumeclaims", "persistentvolumes"],
        ),
        rule(&["get"], &[CORE], &["endpoints"]),
        rule(
            &["create", "get", "list", "watch"],
            &[CERTIFICATES],
            &["certificatesigningrequests"],
        ),
        rule(
            &["get", "create", "update", "patch", "delete"],
            &[COORDINATION],
            &["leases"],
        ),
        rule(&["get"], &[STORAGE], &["volumeattachments"]),
        rule(
            &["get", "update", "patch"],
            &[CORE],
            &["persistentvolumeclaims/status"],
        ),
        rule(&["create"], &[CORE], &["serviceaccounts/token"]),
        rule(&["get", "watch", "list"], &[STORAGE], &["csidrivers"]),
        rule(
            &["get", "create", "update", "patch", "delete"],
            &[STORAGE],
            &["csinodes"],
        ),
        rule(
            &["get", "list", "watch"],
            &["node.k8s.io"],
            &["runtimeclasses"],
        ),
    ]
}

/// Upstream `system:aggregate-to-view`: read-only access to non-escalating namespaced
/// resources (not secrets, not roles).
fn view_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            READ,
            &[CORE],
            &[
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "configmaps",
            ],
        ),
        rule(
            READ,
            &[CORE],
            &[
                "limitranges",
                "resourcequotas",
                "bindings",
                "events",
                "pods/status",
                "resourcequotas/status",
                "namespaces/status",
                "replicationcontrollers/status",
                "pods/log",
            ],
        ),
        // Reading namespaces at namespace scope reads *this* namespace.
        rule(READ, &[CORE], &["namespaces"]),
        rule(READ, &[DISCOVERY], &["endpointslices"]),
        rule(
            READ,
            &[APPS],
            &[
                "controllerrevisions",
                "statefulsets",
                "statefulsets/status",
                "statefulsets/scale",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/status",
                "deployments/scale",
                "replicasets",
                "replicasets/status",
                "replicasets/scale",
            ],
        ),
        rule(
            READ,
            &[AUTOSCALING],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
        ),
        rule(
            READ,
            &[BATCH],
            &["jobs", "cronjobs", "cronjobs/status", "jobs/status"],
        ),
        rule(
            READ,
            &[POLICY],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
        ),
        rule(
            READ,
            &[NETWORKING],
            &["networkpolicies", "ingresses", "ingresses/status"],
        ),
    ]
}

/// Upstream `system:aggregate-to-edit`: all user-level actions in a namespace, including
/// reading secrets, but no `/status` writes and no RBAC.
fn edit_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            READ,
            &[CORE],
            &[
                "pods/attach",
                "pods/proxy",
                "pods/exec",
                "pods/portforward",
                "secrets",
                "services/proxy",
            ],
        ),
        rule(&["impersonate"], &[CORE], &["serviceaccounts"]),
        rule(
            WRITE,
            &[CORE],
            &[
                "pods",
                "pods/attach",
                "pods/proxy",
                "pods/exec",
                "pods/portforward",
            ],
        ),
        rule(&["create"], &[CORE], &["pods/eviction"]),
        rule(
            WRITE,
            &[CORE],
            &[
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/proxy",
                "persistentvolumeclaims",
                "configmaps",
                "secrets",
                "events",
            ],
        ),
        rule(&["create"], &[CORE], &["serviceaccounts/token"]),
        rule(
            WRITE,
            &[APPS],
            &[
                "statefulsets",
                "statefulsets/scale",
                "daemonsets",
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "replicasets",
                "replicasets/scale",
            ],
        ),
        rule(WRITE, &[AUTOSCALING], &["horizontalpodautoscalers"]),
        rule(WRITE, &[BATCH], &["jobs", "cronjobs"]),
        rule(WRITE, &[POLICY], &["poddisruptionbudgets"]),
        rule(WRITE, &[NETWORKING], &["networkpolicies", "ingresses"]),
    ]
}

/// Upstream `system:aggregate-to-admin`: `edit` plus granting permissions in the namespace.
fn admin_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            &["create"],
            &[AUTHORIZATION],
            &["localsubjectaccessreviews"],
        ),
        rule(READ_WRITE, &[RBAC_GROUP], &["roles", "rolebindings"]),
    ]
}

/// The default ClusterRoles, in upstream's order.
pub fn cluster_roles() -> Vec<ClusterRole> {
    let view = view_rules();
    let edit: Vec<PolicyRule> = view.iter().cloned().chain(edit_rules()).collect();
    let admin: Vec<PolicyRule> = edit.iter().cloned().chain(admin_rules()).collect();
    vec![
        // The root role, which can do anything.
        cluster_role(
            "cluster-admin",
            vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])],
        ),
        // Enough to learn whether the server is ready and which APIs it serves.
        cluster_role(
            "system:discovery",
            vec![urls(
                &["get"],
                &[
                    "/livez",
                    "/readyz",
                    "/healthz",
                    "/version",
                    "/version/",
                    "/openapi",
                    "/openapi/*",
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                ],
            )],
        ),
        // Enough for a user to learn about themselves.
        cluster_role(
            "system:basic-user",
            vec![rule(
                &["create"],
                &[AUTHORIZATION],
                &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            )],
        ),
        // Health and version, for everyone.
        cluster_role(
            "system:public-info-viewer",
            vec![urls(
                &["get"],
                &["/livez", "/readyz", "/healthz", "/version", "/version/"],
            )],
        ),
        cluster_role("admin", admin),
        cluster_role("edit", edit),
        cluster_role("view", view),
        cluster_role("system:node", node_rules()),
        cluster_role(
            "system:node-proxier",
            vec![
                rule(&["list", "watch"], &[CORE], &["services", "endpoints"]),
                rule(READ, &[CORE], &["nodes"]),
                events_rule(),
                rule(&["list", "watch"], &[DISCOVERY], &["endpointslices"]),
            ],
        ),
        cluster_role(
            "system:kube-controller-manager",
            vec![
                events_rule(),
                // Leader election.
                rule(&["create"], &[COORDINATION], &["leases"]),
                named(
                    rule(&["get", "update"], &[COORDINATION], &["leases"]),
                    &["kube-controller-manager"],
                ),
                rule(&["create"], &[CORE], &["secrets", "serviceaccounts"]),
                rule(&["delete"], &[CORE], &["secrets"]),
                rule(
                    &["get"],
                    &[CORE],
                    &["namespaces", "secrets", "serviceaccounts", "configmaps"],
                ),
                rule(&["update"], &[CORE], &["secrets", "serviceaccounts"]),
                rule(&["create"], &[AUTHENTICATION], &["tokenreviews"]),
                rule(&["create"], &[AUTHORIZATION], &["subjectaccessreviews"]),
                // Every shared informer.
                rule(&["list", "watch"], &["*"], &["*"]),
                rule(&["create"], &[CORE], &["serviceaccounts/token"]),
            ],
        ),
        cluster_role(
            "system:kube-scheduler",
            vec![
                events_rule(),
                // Leader election.
                rule(&["create"], &[COORDINATION], &["leases"]),
                named(
                    rule(&["get", "update"], &[COORDINATION], &["leases"]),
                    &["kube-scheduler"],
                ),
                rule(READ, &[CORE], &["nodes"]),
                rule(&["get", "list", "watch", "delete"], &[CORE], &["pods"]),
                rule(&["create"], &[CORE], &["pods/binding", "bindings"]),
                rule(&["patch", "update"], &[CORE], &["pods/status"]),
                // What selects pods.
                rule(READ, &[CORE], &["services", "replicationcontrollers"]),
                rule(READ, &[APPS, "extensions"], &["replicasets"]),
                rule(READ, &[APPS], &["statefulsets"]),
                // What pods use.
                rule(READ, &[POLICY], &["poddisruptionbudgets"]),
                rule(
                    READ,
                    &[CORE],
                    &["persistentvolumeclaims", "persistentvolumes"],
                ),
                rule(&["create"], &[AUTHENTICATION], &["tokenreviews"]),
                rule(&["create"], &[AUTHORIZATION], &["subjectaccessreviews"]),
                rule(READ, &[STORAGE], &["csinodes"]),
                rule(READ, &[CORE], &["namespaces"]),
                rule(READ, &[STORAGE], &["csidrivers"]),
                rule(READ, &[STORAGE], &["csistoragecapacities"]),
            ],
        ),
        cluster_role(
            "system:volume-scheduler",
            vec![
                rule(READ_UPDATE, &[CORE], &["persistentvolumes"]),
                rule(READ, &[STORAGE], &["storageclasses"]),
                rule(READ_UPDATE, &[CORE], &["persistentvolumeclaims"]),
            ],
        ),
    ]
}

fn subject(kind: &str, name: &str) -> Subject {
    Subject {
        kind: kind.to_owned(),
        api_group: Some(RBAC_GROUP.to_owned()),
        name: name.to_owned(),
        namespace: None,
    }
}

/// Upstream `NewClusterBinding(role)`: a binding named after the role it grants.
fn cluster_binding(role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: metadata(role),
        subjects,
        role_ref: RoleRef {
            api_group: RBAC_GROUP.to_owned(),
            kind: "ClusterRole".to_owned(),
            name: role.to_owned(),
        },
        ..ClusterRoleBinding::default()
    }
}

/// The default ClusterRoleBindings, in upstream's order.
pub fn cluster_role_bindings() -> Vec<ClusterRoleBinding> {
    vec![
        cluster_binding("cluster-admin", vec![subject("Group", GROUP_MASTERS)]),
        cluster_binding(
            "system:discovery",
            vec![subject("Group", GROUP_AUTHENTICATED)],
        ),
        cluster_binding(
            "system:basic-user",
            vec![subject("Group", GROUP_AUTHENTICATED)],
        ),
        cluster_binding(
            "system:public-info-viewer",
            vec![
                subject("Group", GROUP_AUTHENTICATED),
                subject("Group", GROUP_UNAUTHENTICATED),
            ],
        ),
        cluster_binding(
            "system:node-proxier",
            vec![subject("User", USER_KUBE_PROXY)],
        ),
        cluster_binding(
            "system:kube-controller-manager",
            vec![subject("User", USER_KUBE_CONTROLLER_MANAGER)],
        ),
        cluster_binding(
            "system:kube-scheduler",
            vec![subject("User", USER_KUBE_SCHEDULER)],
        ),
        cluster_binding(
            "system:volume-scheduler",
            vec![subject("User", USER_KUBE_SCHEDULER)],
        ),
        // Kept with no subjects since 1.8: nodes go through the Node authorizer.
        cluster_binding("system:node", Vec::new()),
    ]
}

/// Every bootstrap object, roles first: what the API server creates when they are missing.
pub fn objects() -> Vec<Object> {
    cluster_roles()
        .into_iter()
        .map(Object::from)
        .chain(cluster_role_bindings().into_iter().map(Object::from))
        .collect()
}
