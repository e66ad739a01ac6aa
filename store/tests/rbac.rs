//! Authentication and authorization: the RBAC matrix, the Node authorizer and NodeRestriction,
//! upstream's exact 401 and 403 messages, and token-file parsing.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use skiff_core::object::{
    ClusterRoleBinding, Container, Lease, Node, Object, ObjectMeta, OwnerReference, Pod,
    PolicyRule, ReplicaSet, Role, RoleBinding, RoleRef, Secret, SecretVolumeSource, Subject,
    Volume, info,
};
use skiff_store::apiserver::authn::{Authenticator, TokenFileError, UserInfo, parse_token_file};
use skiff_store::apiserver::authz::{
    Attributes, Authorizer, Decision, RbacSnapshot, RequestContext, bootstrap,
};
use skiff_store::apiserver::{Reason, Status};

const SEED: u64 = 7;
const TOKEN_FILE: &str = "jane-token,jane,u-1001,\"developers,qa\"\n";

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: strings(verbs),
        api_groups: strings(groups),
        resources: strings(resources),
        ..PolicyRule::default()
    }
}

fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: namespace.map(ToOwned::to_owned),
        ..ObjectMeta::named(name)
    }
}

fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
    Subject {
        kind: kind.into(),
        api_group: (kind != "ServiceAccount").then(|| bootstrap::RBAC_GROUP.into()),
        name: name.into(),
        namespace: namespace.map(ToOwned::to_owned),
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: bootstrap::RBAC_GROUP.into(),
        kind: kind.into(),
        name: name.into(),
    }
}

fn role_binding(namespace: &str, name: &str, subjects: Vec<Subject>, to: RoleRef) -> Object {
    RoleBinding {
        metadata: meta(Some(namespace), name),
        subjects,
        role_ref: to,
        ..RoleBinding::default()
    }
    .into()
}

/// jane's Role in `dev`: pods read-write, replicasets read, one named secret.
fn developer_role() -> Object {
    let mut secret = rule(&["get"], &[""], &["secrets"]);
    secret.resource_names = strings(&["db-password"]);
    Role {
        metadata: meta(Some("dev"), "developer"),
        rules: vec![
            rule(
                &["get", "list", "watch", "create", "update", "delete"],
                &[""],
                &["pods"],
            ),
            rule(&["get", "list", "watch"], &["apps"], &["replicasets"]),
            secret,
        ],
        ..Role::default()
    }
    .into()
}

fn cluster_objects() -> Vec<Object> {
    vec![
        developer_role(),
        role_binding(
            "dev",
            "jane-developer",
            vec![subject("User", "jane", None)],
            role_ref("Role", "developer"),
        ),
        // The service account's namespace defaults to the binding's.
        role_binding(
            "dev",
            "reader-view",
            vec![subject("ServiceAccount", "reader", None)],
            role_ref("ClusterRole", "view"),
        ),
    ]
}

fn authorizer() -> Authorizer {
    Authorizer::new(RbacSnapshot::with_bootstrap_policy(&cluster_objects()))
}

fn authenticator(anonymous: bool) -> Authenticator {
    let mut authn = Authenticator::new(SEED).with_anonymous(anonymous);
    authn.load_token_file("tokens.csv", TOKEN_FILE).unwrap();
    authn
}

/// A pod in `dev` bound to `node` that mounts `secret`.
fn bound_pod(name: &str, node: &str, secret: &str) -> Pod {
    let mut pod = Pod::new(name, vec![Container::new("app", "nginx:1.27")]);
    pod.metadata.namespace = Some("dev".into());
    pod.metadata.labels = BTreeMap::from([("app".into(), name.into())]);
    pod.spec.node_name = Some(node.into());
    pod.spec.volumes = vec![Volume {
        name: "creds".into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }];
    pod
}

/// The pods bound to each node: `dev/web` on worker-1, `dev/api` on worker-2.
fn pods_on_node(node: &str) -> Vec<Pod> {
    [
        bound_pod("web", "worker-1", "db-password"),
        bound_pod("api", "worker-2", "api-key"),
    ]
    .into_iter()
    .filter(|p| p.spec.node_name.as_deref() == Some(node))
    .collect()
}

/// A mirror pod as a kubelet creates it for a static pod of `node`.
fn mirror_pod(name: &str, node: &str) -> Pod {
    let mut pod = Pod::new(name, vec![Container::new("etcd", "etcd:3.5")]);
    pod.metadata.namespace = Some("dev".into());
    pod.metadata.annotations =
        BTreeMap::from([("kubernetes.io/config.mirror".into(), "hash".into())]);
    pod.metadata.owner_references = vec![OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: node.into(),
        uid: "node-uid".into(),
        controller: Some(true),
        block_owner_deletion: None,
    }];
    pod.spec.node_name = Some(node.into());
    pod
}

fn node_object(name: &str) -> Node {
    Node {
        metadata: meta(None, name),
        ..Node::default()
    }
}

fn lease_object(name: &str) -> Lease {
    Lease {
        metadata: meta(Some("kube-node-lease"), name),
        ..Lease::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------------

const VERBS: [&str; 6] = ["get", "list", "watch", "create", "update", "delete"];
const RESOURCES: [&str; 6] = [
    "pods",
    "pods/status",
    "nodes",
    "secrets",
    "leases",
    "replicasets",
];

/// The subjects: a column title and the bearer token (or none), and whether the server has
/// anonymous access on.
fn subjects(authn: &Authenticator) -> Vec<(&'static str, Option<String>, bool)> {
    vec![
        ("admin", Some(authn.admin_token().to_owned()), false),
        ("jane", Some("jane-token".to_owned()), false),
        (
            "sa:dev:reader",
            Some(authn.issue_service_account_token("dev", "reader")),
            false,
        ),
        (
            "node:worker-1",
            Some(authn.issue_node_token("worker-1")),
            false,
        ),
        ("anonymous", None, false),
        ("anonymous(on)", None, true),
    ]
}

/// The request of one cell, and the object a create or update sends with it. Each resource
/// has one fixed target: `dev/web` pods, node `worker-1`, secret `dev/db-password`, lease
/// `kube-node-lease/worker-1`, replicaset `dev/web`. get, update and delete name it; list,
/// watch and create do not (as upstream's attributes).
fn cell_request(user: &UserInfo, verb: &str, resource: &str) -> (Attributes, Option<Object>) {
    let (info, subresource, namespace, name, object): (_, _, _, _, Object) = match resource {
        "pods" => (&info::POD, "", "dev", "web", {
            if verb == "create" {
                mirror_pod("static-web-worker-1", "worker-1").into()
            } else {
                bound_pod("web", "worker-1", "db-password").into()
            }
        }),
        "pods/status" => (
            &info::POD,
            "status",
            "dev",
            "web",
            bound_pod("web", "worker-1", "db-password").into(),
        ),
        "nodes" => (
            &info::NODE,
            "",
            "",
            "worker-1",
            node_object("worker-1").into(),
        ),
        "secrets" => (
            &info::SECRET,
            "",
            "dev",
            "db-password",
            Secret {
                metadata: meta(Some("dev"), "db-password"),
                ..Secret::default()
            }
            .into(),
        ),
        "leases" => (
            &info::LEASE,
            "",
            "kube-node-lease",
            "worker-1",
            lease_object("worker-1").into(),
        ),
        "replicasets" => (
            &info::REPLICA_SET,
            "",
            "dev",
            "web",
            ReplicaSet {
                metadata: meta(Some("dev"), "web"),
                ..ReplicaSet::default()
            }
            .into(),
        ),
        other => panic!("no fixture for {other}"),
    };
    let mut attrs = Attributes::resource(user, verb, info)
        .namespace(namespace)
        .subresource(subresource);
    if matches!(verb, "get" | "update" | "delete") {
        attrs = attrs.name(name);
    }
    let sends_object = matches!(verb, "create" | "update");
    (attrs, sends_object.then_some(object))
}

/// `allow`, `401` or `403` for one cell, through authentication then authorization.
fn cell(
    authorizer: &Authorizer,
    authenticator: &Authenticator,
    token: Option<&str>,
    verb: &str,
    resource: &str,
) -> &'static str {
    let user = match authenticator.authenticate(token) {
        Ok(user) => user,
        Err(status) => {
            assert_eq!(status.code(), 401);
            return "401";
        }
    };
    let (attrs, object) = cell_request(&user, verb, resource);
    let mut ctx = RequestContext::with_pods(&pods_on_node);
    if let Some(object) = &object {
        ctx = ctx.object(object);
    }
    match authorizer.authorize(&attrs, &ctx) {
        Ok(()) => "allow",
        Err(status) => {
            assert_eq!((status.code(), status.reason), (403, Reason::Forbidden));
            "403"
        }
    }
}

fn matrix() -> BTreeMap<(String, String), &'static str> {
    let chain = authorizer();
    let mut cells = BTreeMap::new();
    for (title, token, anonymous) in subjects(&authenticator(false)) {
        let tokens = authenticator(anonymous);
        for resource in RESOURCES {
            for verb in VERBS {
                let outcome = cell(&chain, &tokens, token.as_deref(), verb, resource);
                cells.insert((format!("{verb} {resource}"), title.to_owned()), outcome);
            }
        }
    }
    cells
}

fn render(cells: &BTreeMap<(String, String), &'static str>) -> String {
    let titles: Vec<&str> = subjects(&authenticator(false))
        .iter()
        .map(|s| s.0)
        .collect();
    let mut out = format!("{:<20}", "request");
    for title in &titles {
        let _ = write!(out, " {title:<14}");
    }
    out = out.trim_end().to_owned();
    out.push('\n');
    for resource in RESOURCES {
        for verb in VERBS {
            let row = format!("{verb} {resource}");
            let mut line = format!("{row:<20}");
            for title in &titles {
                let _ = write!(line, " {:<14}", cells[&(row.clone(), (*title).to_owned())]);
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

#[test]
fn rbac_matrix_matches_the_snapshot() {
    insta::assert_snapshot!("rbac_matrix", render(&matrix()));
}

#[test]
fn rbac_matrix_key_cells() {
    let cells = matrix();
    let at = |row: &str, subject: &str| cells[&(row.to_owned(), subject.to_owned())];
    // The admin (system:masters → cluster-admin) may do everything.
    for resource in RESOURCES {
        for verb in VERBS {
            assert_eq!(at(&format!("{verb} {resource}"), "admin"), "allow");
        }
    }
    // Anonymous: 401 while anonymous access is off, 403 when it is on.
    for resource in RESOURCES {
        for verb in VERBS {
            let row = format!("{verb} {resource}");
            assert_eq!(at(&row, "anonymous"), "401", "{row}");
            assert_eq!(at(&row, "anonymous(on)"), "403", "{row}");
        }
    }
    // jane: her Role in dev, nothing else.
    assert_eq!(at("update pods", "jane"), "allow");
    assert_eq!(at("update pods/status", "jane"), "403", "no status rule");
    assert_eq!(at("get secrets", "jane"), "allow", "the named secret");
    assert_eq!(at("list secrets", "jane"), "403", "a list has no name");
    assert_eq!(at("get nodes", "jane"), "403", "cluster scope");
    assert_eq!(at("get leases", "jane"), "403", "another namespace");
    assert_eq!(at("list replicasets", "jane"), "allow");
    assert_eq!(at("create replicasets", "jane"), "403");
    // The service account: ClusterRole view through a RoleBinding in dev.
    assert_eq!(at("watch pods", "sa:dev:reader"), "allow");
    assert_eq!(at("get pods/status", "sa:dev:reader"), "allow");
    assert_eq!(at("delete pods", "sa:dev:reader"), "403");
    assert_eq!(
        at("get secrets", "sa:dev:reader"),
        "403",
        "view excludes secrets"
    );
    assert_eq!(at("get nodes", "sa:dev:reader"), "403");
    assert_eq!(at("get replicasets", "sa:dev:reader"), "allow");
    // The node: NodeRules, subdivided and restricted.
    let node = "node:worker-1";
    assert_eq!(at("list pods", node), "allow");
    assert_eq!(
        at("create pods", node),
        "allow",
        "a mirror pod bound to itself"
    );
    assert_eq!(at("update pods", node), "403", "no pod spec updates");
    assert_eq!(at("delete pods", node), "allow", "dev/web is bound to it");
    assert_eq!(at("update pods/status", node), "allow");
    assert_eq!(at("get pods/status", node), "403");
    assert_eq!(at("update nodes", node), "allow", "its own Node");
    assert_eq!(at("delete nodes", node), "403");
    assert_eq!(at("get secrets", node), "allow", "referenced by dev/web");
    assert_eq!(at("list secrets", node), "403", "only named reads");
    assert_eq!(at("update secrets", node), "403");
    assert_eq!(at("create leases", node), "allow");
    assert_eq!(at("update leases", node), "allow");
    assert_eq!(at("list leases", node), "403");
    assert_eq!(at("get replicasets", node), "403");
}

/// One row of the node matrix: title, kind, subresource, namespace, name, the object a create
/// sends, and the stored object (also what an update sends).
type NodeTarget = (
    &'static str,
    &'static skiff_core::object::KindInfo,
    &'static str,
    &'static str,
    &'static str,
    Object,
    Object,
);

#[allow(clippy::too_many_lines, reason = "one fixture per row of a table")]
fn node_targets() -> Vec<NodeTarget> {
    let secret = |name: &str| -> Object {
        Secret {
            metadata: meta(Some("dev"), name),
            ..Secret::default()
        }
        .into()
    };
    vec![
        (
            "nodes worker-1 (own)",
            &info::NODE,
            "",
            "",
            "worker-1",
            node_object("worker-1").into(),
            node_object("worker-1").into(),
        ),
        (
            "nodes worker-2 (other)",
            &info::NODE,
            "",
            "",
            "worker-2",
            node_object("worker-2").into(),
            node_object("worker-2").into(),
        ),
        (
            "nodes/status worker-1",
            &info::NODE,
            "status",
            "",
            "worker-1",
            node_object("worker-1").into(),
            node_object("worker-1").into(),
        ),
        (
            "nodes/status worker-2",
            &info::NODE,
            "status",
            "",
            "worker-2",
            node_object("worker-2").into(),
            node_object("worker-2").into(),
        ),
        (
            "leases worker-1 (own)",
            &info::LEASE,
            "",
            "kube-node-lease",
            "worker-1",
            lease_object("worker-1").into(),
            lease_object("worker-1").into(),
        ),
        (
            "leases worker-2 (other)",
            &info::LEASE,
            "",
            "kube-node-lease",
            "worker-2",
            lease_object("worker-2").into(),
            lease_object("worker-2").into(),
        ),
        (
            "pods dev/web (bound)",
            &info::POD,
            "",
            "dev",
            "web",
            mirror_pod("web", "worker-1").into(),
            bound_pod("web", "worker-1", "db-password").into(),
        ),
        (
            "pods dev/api (worker-2)",
            &info::POD,
            "",
            "dev",
            "api",
            mirror_pod("api", "worker-2").into(),
            bound_pod("api", "worker-2", "api-key").into(),
        ),
        (
            "pods/status dev/web",
            &info::POD,
            "status",
            "dev",
            "web",
            bound_pod("web", "worker-1", "db-password").into(),
            bound_pod("web", "worker-1", "db-password").into(),
        ),
        (
            "pods/status dev/api",
            &info::POD,
            "status",
            "dev",
            "api",
            bound_pod("api", "worker-2", "api-key").into(),
            bound_pod("api", "worker-2", "api-key").into(),
        ),
        (
            "secrets dev/db-password",
            &info::SECRET,
            "",
            "dev",
            "db-password",
            secret("db-password"),
            secret("db-password"),
        ),
        (
            "secrets dev/api-key",
            &info::SECRET,
            "",
            "dev",
            "api-key",
            secret("api-key"),
            secret("api-key"),
        ),
    ]
}

/// The Node authorizer and NodeRestriction for `worker-1`, own objects against another
/// node's: one row per target, the same verbs as the matrix. Creates send an object of the
/// target's name (a mirror pod bound to the target's node for pods); updates send the target
/// and, as the stored object, the target again.
fn node_matrix() -> String {
    let chain = authorizer();
    let node = worker_1();
    let mut out = format!("{:<26}", "worker-1 on");
    for verb in VERBS {
        let _ = write!(out, " {verb:<7}");
    }
    out = out.trim_end().to_owned();
    out.push('\n');
    for (title, kind, subresource, namespace, name, created, stored) in &node_targets() {
        let mut line = format!("{title:<26}");
        for verb in VERBS {
            let mut attrs = Attributes::resource(&node, verb, kind)
                .namespace(namespace)
                .subresource(subresource);
            let mut ctx = RequestContext::with_pods(&pods_on_node);
            match verb {
                "create" => ctx = ctx.object(created),
                "update" => ctx = ctx.object(stored).old_object(stored),
                _ => {}
            }
            // get, update and delete name the target; a list or watch names it too (a
            // `metadata.name` field selector, which the Node authorizer honours for secrets).
            if verb != "create" {
                attrs = attrs.name(name);
            }
            let outcome = match chain.authorize(&attrs, &ctx) {
                Ok(()) => "allow",
                Err(status) => {
                    assert_eq!(status.code(), 403);
                    "403"
                }
            };
            let _ = write!(line, " {outcome:<7}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[test]
fn node_matrix_matches_the_snapshot() {
    insta::assert_snapshot!("node_matrix", node_matrix());
}

// ---------------------------------------------------------------------------------------------
// 401 and 403 messages
// ---------------------------------------------------------------------------------------------

fn refuse(attrs: &Attributes) -> Status {
    authorizer()
        .authorize(attrs, &RequestContext::with_pods(&pods_on_node))
        .unwrap_err()
}

fn jane() -> UserInfo {
    authenticator(false)
        .authenticate(Some("jane-token"))
        .unwrap()
}

#[test]
fn unauthorized_is_401_with_upstream_message() {
    for (anonymous, token) in [
        (false, None),
        (false, Some("")),
        (false, Some("bogus")),
        (true, Some("bogus")),
    ] {
        let status = authenticator(anonymous).authenticate(token).unwrap_err();
        assert_eq!(
            (status.code(), status.reason, status.message.as_str()),
            (401, Reason::Unauthorized, "Unauthorized"),
            "anonymous {anonymous}, token {token:?}"
        );
    }
}

#[test]
fn forbidden_messages_match_upstream() {
    let user = jane();
    let cases = [
        (
            Attributes::resource(&user, "list", &info::POD).namespace("default"),
            r#"pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "default""#,
        ),
        (
            Attributes::resource(&user, "get", &info::NODE).name("worker-2"),
            r#"nodes "worker-2" is forbidden: User "jane" cannot get resource "nodes" in API group "" at the cluster scope"#,
        ),
        (
            Attributes::resource(&user, "list", &info::NODE),
            r#"nodes is forbidden: User "jane" cannot list resource "nodes" in API group "" at the cluster scope"#,
        ),
        (
            Attributes::resource(&user, "update", &info::POD)
                .namespace("dev")
                .name("web")
                .subresource("status"),
            r#"pods "web" is forbidden: User "jane" cannot update resource "pods/status" in API group "" in the namespace "dev""#,
        ),
        (
            Attributes::resource(&user, "delete", &info::REPLICA_SET)
                .namespace("dev")
                .name("web"),
            r#"replicasets.apps "web" is forbidden: User "jane" cannot delete resource "replicasets" in API group "apps" in the namespace "dev""#,
        ),
        (
            Attributes::non_resource(&user, "get", "/metrics"),
            r#"forbidden: User "jane" cannot get path "/metrics""#,
        ),
    ];
    for (attrs, message) in cases {
        let status = refuse(&attrs);
        assert_eq!((status.code(), status.reason), (403, Reason::Forbidden));
        assert_eq!(status.message, message);
    }
    let status = refuse(&Attributes::resource(&user, "get", &info::NODE).name("worker-2"));
    assert_eq!(
        (status.name.as_deref(), status.kind.as_deref()),
        (Some("worker-2"), Some("nodes"))
    );
}

#[test]
fn forbidden_message_escapes_html_but_not_quotes() {
    let user = UserInfo::new("<b>&co", &[]);
    let status = refuse(&Attributes::resource(&user, "get", &info::POD).namespace("dev"));
    assert_eq!(
        status.message,
        r#"pods is forbidden: User "&lt;b&gt;&amp;co" cannot get resource "pods" in API group "" in the namespace "dev""#
    );
}

#[test]
fn missing_role_is_named_in_the_reason() {
    let mut objects = cluster_objects();
    objects.push(role_binding(
        "dev",
        "ghost-binding",
        vec![subject("User", "jane", None)],
        role_ref("Role", "ghost"),
    ));
    objects.push(role_binding(
        "dev",
        "other-binding",
        vec![subject("User", "jane", None)],
        role_ref("ClusterRole", "phantom"),
    ));
    let authz = Authorizer::new(RbacSnapshot::with_bootstrap_policy(&objects));
    let attrs = Attributes::resource(&jane(), "create", &info::SECRET).namespace("dev");
    let status = authz
        .authorize(&attrs, &RequestContext::empty())
        .unwrap_err();
    assert_eq!(
        status.message,
        r#"secrets is forbidden: User "jane" cannot create resource "secrets" in API group "" in the namespace "dev": RBAC: [role.rbac.authorization.k8s.io "ghost" not found, clusterrole.rbac.authorization.k8s.io "phantom" not found]"#
    );
    // A rule that matches still allows despite the broken bindings (rules only add).
    let allowed = Attributes::resource(&jane(), "get", &info::POD).namespace("dev");
    assert!(authz.authorize(&allowed, &RequestContext::empty()).is_ok());
}

#[test]
fn allow_reason_names_the_binding() {
    let authz = authorizer();
    let admin = authenticator(false)
        .authenticate(Some(authenticator(false).admin_token()))
        .unwrap();
    let attrs = Attributes::resource(&admin, "delete", &info::NODE).name("worker-1");
    assert_eq!(
        authz.decide(&attrs, &RequestContext::empty()),
        Decision::Allow(
            r#"RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group "system:masters""#
                .into()
        )
    );
    let sa = UserInfo::for_service_account("dev", "reader");
    let attrs = Attributes::resource(&sa, "get", &info::POD)
        .namespace("dev")
        .name("web");
    assert_eq!(
        authz.decide(&attrs, &RequestContext::empty()),
        Decision::Allow(
            r#"RBAC: allowed by RoleBinding "reader-view/dev" of ClusterRole "view" to ServiceAccount "reader/dev""#
                .into()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// RBAC semantics
// ---------------------------------------------------------------------------------------------

#[test]
fn role_binding_to_cluster_role_grants_in_its_namespace_only() {
    let sa = UserInfo::for_service_account("dev", "reader");
    let list = |ns: &str| {
        authorizer().authorize(
            &Attributes::resource(&sa, "list", &info::POD).namespace(ns),
            &RequestContext::empty(),
        )
    };
    assert!(list("dev").is_ok());
    assert_eq!(
        list("prod").unwrap_err().message,
        r#"pods is forbidden: User "system:serviceaccount:dev:reader" cannot list resource "pods" in API group "" in the namespace "prod""#
    );
    assert_eq!(
        list("").unwrap_err().message,
        r#"pods is forbidden: User "system:serviceaccount:dev:reader" cannot list resource "pods" in API group "" at the cluster scope"#,
        "an all-namespaces list needs a ClusterRoleBinding"
    );
}

#[test]
fn subjects_match_by_user_group_and_service_account() {
    let objects = vec![
        role_binding(
            "qa",
            "by-group",
            vec![subject("Group", "developers", None)],
            role_ref("ClusterRole", "view"),
        ),
        role_binding(
            "qa",
            "other-namespace-sa",
            vec![subject("ServiceAccount", "deployer", Some("ci"))],
            role_ref("ClusterRole", "edit"),
        ),
        ClusterRoleBinding {
            metadata: meta(None, "sa-without-namespace"),
            subjects: vec![subject("ServiceAccount", "deployer", None)],
            role_ref: role_ref("ClusterRole", "cluster-admin"),
            ..ClusterRoleBinding::default()
        }
        .into(),
    ];
    let authz = Authorizer::new(RbacSnapshot::with_bootstrap_policy(&objects));
    let allowed = |user: &UserInfo, verb: &str, ns: &str| {
        authz
            .decide(
                &Attributes::resource(user, verb, &info::POD).namespace(ns),
                &RequestContext::empty(),
            )
            .is_allowed()
    };
    // jane is in `developers` through the token file.
    assert!(allowed(&jane(), "list", "qa"));
    assert!(!allowed(&jane(), "create", "qa"));
    // A service account subject may name another namespace.
    let deployer = UserInfo::for_service_account("ci", "deployer");
    assert!(allowed(&deployer, "create", "qa"));
    // ... and a ClusterRoleBinding's service account must name one: this one applies to no one.
    assert!(!allowed(&deployer, "create", "ci"));
    assert!(!allowed(
        &UserInfo::for_service_account("qa", "deployer"),
        "create",
        "qa"
    ));
}

#[test]
fn unknown_subject_and_role_ref_kinds_grant_nothing() {
    let mut odd = subject("User", "jane", None);
    odd.kind = "Robot".into();
    let objects = vec![
        role_binding("dev", "robots", vec![odd], role_ref("ClusterRole", "view")),
        role_binding(
            "dev",
            "weird-ref",
            vec![subject("User", "bob", None)],
            role_ref("Policy", "view"),
        ),
    ];
    let authz = Authorizer::new(RbacSnapshot::from_objects(&objects));
    let bob = UserInfo::new("bob", &[]);
    let attrs = Attributes::resource(&bob, "get", &info::POD).namespace("dev");
    assert_eq!(
        authz.decide(&attrs, &RequestContext::empty()),
        Decision::NoOpinion(r#"RBAC: unsupported role reference kind: "Policy""#.into())
    );
    let attrs = Attributes::resource(&jane(), "get", &info::POD).namespace("dev");
    assert_eq!(
        authz.decide(&attrs, &RequestContext::empty()),
        Decision::NoOpinion(String::new())
    );
}

#[test]
fn snapshot_from_objects_ignores_other_kinds_and_keeps_the_last_of_a_name() {
    let mut objects: Vec<Object> = vec![bound_pod("web", "worker-1", "s").into()];
    objects.extend(cluster_objects());
    let mut weaker = Role {
        metadata: meta(Some("dev"), "developer"),
        ..Role::default()
    };
    weaker.rules = vec![rule(&["get"], &[""], &["pods"])];
    objects.push(weaker.into());
    let snapshot = RbacSnapshot::from_objects(&objects);
    assert_eq!(snapshot.len(), 3);
    let (rules, errors) = snapshot.rules_for(&jane(), "dev");
    assert_eq!(rules, vec![rule(&["get"], &[""], &["pods"])]);
    assert!(errors.is_empty());
}

#[test]
fn bootstrap_roles_serve_the_control_plane() {
    let authz = authorizer();
    let allowed = |attrs: Attributes| authz.decide(&attrs, &RequestContext::empty()).is_allowed();
    let scheduler = UserInfo::new(bootstrap::USER_KUBE_SCHEDULER, &["system:authenticated"]);
    let s = &scheduler;
    assert!(allowed(
        Attributes::resource(s, "create", &info::POD)
            .namespace("dev")
            .name("web")
            .subresource("binding")
    ));
    assert!(allowed(
        Attributes::resource(s, "update", &info::POD)
            .namespace("dev")
            .name("web")
            .subresource("status")
    ));
    assert!(allowed(
        Attributes::resource(s, "update", &info::LEASE)
            .namespace("kube-system")
            .name("kube-scheduler")
    ));
    assert!(!allowed(
        Attributes::resource(s, "update", &info::LEASE)
            .namespace("kube-system")
            .name("kube-controller-manager")
    ));
    assert!(!allowed(
        Attributes::resource(s, "update", &info::POD)
            .namespace("dev")
            .name("web")
    ));
    let kcm = UserInfo::new(
        bootstrap::USER_KUBE_CONTROLLER_MANAGER,
        &["system:authenticated"],
    );
    assert!(allowed(Attributes::resource(
        &kcm,
        "watch",
        &info::REPLICA_SET
    )));
    assert!(!allowed(
        Attributes::resource(&kcm, "create", &info::POD).namespace("dev")
    ));
    // Discovery for every authenticated user; health for everyone.
    let anonymous = UserInfo::anonymous();
    assert!(allowed(Attributes::non_resource(
        &jane(),
        "get",
        "/apis/apps/v1"
    )));
    assert!(allowed(Attributes::non_resource(
        &jane(),
        "get",
        "/healthz"
    )));
    assert!(allowed(Attributes::non_resource(
        &anonymous, "get", "/healthz"
    )));
    assert!(!allowed(Attributes::non_resource(
        &anonymous, "get", "/apis"
    )));
    // system:node is bound to nothing: a user in system:nodes that is not a node identity
    // gets nothing from it.
    let impostor = UserInfo::new("kubelet", &["system:nodes", "system:authenticated"]);
    assert!(!allowed(Attributes::resource(
        &impostor,
        "list",
        &info::POD
    )));
    let bindings = bootstrap::cluster_role_bindings();
    let node_binding = bindings
        .iter()
        .find(|b| b.metadata.name.as_deref() == Some("system:node"))
        .unwrap();
    assert!(node_binding.subjects.is_empty());
}

#[test]
fn bootstrap_view_is_within_edit_within_admin() {
    let defaults = bootstrap::cluster_roles();
    let rules_of = |name: &str| {
        defaults
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .unwrap()
            .rules
            .clone()
    };
    let (view, edit, admin) = (rules_of("view"), rules_of("edit"), rules_of("admin"));
    assert!(view.iter().all(|r| edit.contains(r)));
    assert!(edit.iter().all(|r| admin.contains(r)));
    assert!(edit.len() > view.len() && admin.len() > edit.len());
    for role in &defaults {
        assert_eq!(
            role.metadata
                .labels
                .get("kubernetes.io/bootstrapping")
                .map(String::as_str),
            Some("rbac-defaults")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Node authorizer and NodeRestriction
// ---------------------------------------------------------------------------------------------

fn worker_1() -> UserInfo {
    let authn = authenticator(false);
    authn
        .authenticate(Some(&authn.issue_node_token("worker-1")))
        .unwrap()
}

fn node_outcome(
    attrs: &Attributes,
    object: Option<&Object>,
    old: Option<&Object>,
) -> Result<(), String> {
    let mut ctx = RequestContext::with_pods(&pods_on_node);
    if let Some(object) = object {
        ctx = ctx.object(object);
    }
    if let Some(old) = old {
        ctx = ctx.old_object(old);
    }
    authorizer().authorize(attrs, &ctx).map_err(|status| {
        assert_eq!(status.code(), 403);
        status.message
    })
}

#[test]
fn node_may_modify_its_own_node_only() {
    let node = worker_1();
    let own = Attributes::resource(&node, "update", &info::NODE).name("worker-1");
    let own_object: Object = node_object("worker-1").into();
    assert_eq!(
        node_outcome(&own, Some(&own_object), Some(&own_object)),
        Ok(())
    );
    let status = own.clone().subresource("status");
    assert_eq!(node_outcome(&status, Some(&own_object), None), Ok(()));
    let other = Attributes::resource(&node, "update", &info::NODE).name("worker-2");
    let other_object: Object = node_object("worker-2").into();
    assert_eq!(
        node_outcome(&other, Some(&other_object), None),
        Err(r#"nodes "worker-2" is forbidden: node "worker-1" is not allowed to modify node "worker-2""#.into())
    );
    assert_eq!(
        node_outcome(&other.clone().subresource("status"), Some(&other_object), None),
        Err(r#"nodes "worker-2" is forbidden: node "worker-1" is not allowed to modify node "worker-2""#.into())
    );
    // Create: the name comes from the object.
    let create = Attributes::resource(&node, "create", &info::NODE);
    assert_eq!(node_outcome(&create, Some(&own_object), None), Ok(()));
    assert_eq!(
        node_outcome(&create, Some(&other_object), None),
        Err(r#"nodes "worker-2" is forbidden: node "worker-1" is not allowed to modify node "worker-2""#.into())
    );
    // Reads are not restricted (NodeRules with AuthorizeNodeWithSelectors off).
    let read_other = Attributes::resource(&node, "get", &info::NODE).name("worker-2");
    assert_eq!(node_outcome(&read_other, None, None), Ok(()));
}

#[test]
fn node_may_not_change_its_taints_or_restricted_labels() {
    let node = worker_1();
    let update = Attributes::resource(&node, "update", &info::NODE).name("worker-1");
    let old: Object = node_object("worker-1").into();
    let mut tainted = node_object("worker-1");
    tainted.spec.taints = vec![skiff_core::object::Taint {
        key: "gpu".into(),
        value: None,
        effect: "NoSchedule".into(),
        time_added: None,
    }];
    assert_eq!(
        node_outcome(&update, Some(&tainted.into()), Some(&old)),
        Err(
            r#"nodes "worker-1" is forbidden: node "worker-1" is not allowed to modify taints"#
                .into()
        )
    );
    let mut labelled = node_object("worker-1");
    labelled.metadata.labels = BTreeMap::from([
        (
            "node-role.kubernetes.io/control-plane".into(),
            String::new(),
        ),
        ("kubernetes.io/hostname".into(), "worker-1".into()),
        ("team".into(), "a".into()),
    ]);
    assert_eq!(
        node_outcome(&update, Some(&labelled.clone().into()), Some(&old)),
        Err(r#"nodes "worker-1" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/control-plane"#.into())
    );
    let create = Attributes::resource(&node, "create", &info::NODE);
    assert_eq!(
        node_outcome(&create, Some(&labelled.into()), None),
        Err(r#"nodes "worker-1" is forbidden: node "worker-1" is not allowed to set the following labels: node-role.kubernetes.io/control-plane"#.into())
    );
}

#[test]
fn node_may_use_its_own_lease_only() {
    let node = worker_1();
    let lease = |verb: &str, ns: &str, name: &str| {
        Attributes::resource(&node, verb, &info::LEASE)
            .namespace(ns)
            .name(name)
    };
    for verb in ["get", "update", "patch", "delete"] {
        assert_eq!(
            node_outcome(&lease(verb, "kube-node-lease", "worker-1"), None, None),
            Ok(()),
            "{verb}"
        );
    }
    assert_eq!(
        node_outcome(&lease("get", "kube-node-lease", "worker-2"), None, None),
        Err(r#"leases.coordination.k8s.io "worker-2" is forbidden: User "system:node:worker-1" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "kube-node-lease": can only access node lease with the same name as the requesting node"#.into())
    );
    assert_eq!(
        node_outcome(&lease("get", "kube-system", "worker-1"), None, None),
        Err(r#"leases.coordination.k8s.io "worker-1" is forbidden: User "system:node:worker-1" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "kube-system": can only access leases in the "kube-node-lease" system namespace"#.into())
    );
    assert_eq!(
        node_outcome(&Attributes::resource(&node, "list", &info::LEASE).namespace("kube-node-lease"), None, None),
        Err(r#"leases.coordination.k8s.io is forbidden: User "system:node:worker-1" cannot list resource "leases" in API group "coordination.k8s.io" in the namespace "kube-node-lease": can only get, create, update, patch, or delete a node lease"#.into())
    );
    // Create: the authorizer cannot see the name; NodeRestriction checks the object.
    let create = Attributes::resource(&node, "create", &info::LEASE).namespace("kube-node-lease");
    assert_eq!(
        node_outcome(&create, Some(&lease_object("worker-1").into()), None),
        Ok(())
    );
    assert_eq!(
        node_outcome(&create, Some(&lease_object("worker-2").into()), None),
        Err(r#"leases.coordination.k8s.io "worker-2" is forbidden: can only access node lease with the same name as the requesting node"#.into())
    );
    assert_eq!(
        node_outcome(&create, None, None),
        Err("leases.coordination.k8s.io is forbidden: unexpected type <nil>".into())
    );
}

#[test]
fn node_may_act_on_pods_bound_to_it_only() {
    let node = worker_1();
    let pod = |verb: &str, name: &str| {
        Attributes::resource(&node, verb, &info::POD)
            .namespace("dev")
            .name(name)
    };
    assert_eq!(node_outcome(&pod("delete", "web"), None, None), Ok(()));
    assert_eq!(
        node_outcome(&pod("delete", "api"), None, None),
        Err(r#"pods "api" is forbidden: node "worker-1" can only delete pods with spec.nodeName set to itself"#.into())
    );
    let web: Object = bound_pod("web", "worker-1", "db-password").into();
    assert_eq!(
        node_outcome(
            &pod("update", "web").subresource("status"),
            Some(&web),
            None
        ),
        Ok(())
    );
    let api: Object = bound_pod("api", "worker-2", "api-key").into();
    assert_eq!(
        node_outcome(&pod("patch", "api").subresource("status"), Some(&api), None),
        Err(r#"pods "api" is forbidden: node "worker-1" can only update pod status for pods with spec.nodeName set to itself"#.into())
    );
    let mut relabelled = bound_pod("web", "worker-1", "db-password");
    relabelled
        .metadata
        .labels
        .insert("tier".into(), "gold".into());
    assert_eq!(
        node_outcome(
            &pod("update", "web").subresource("status"),
            Some(&relabelled.into()),
            None
        ),
        Err(
            r#"pods "web" is forbidden: node "worker-1" cannot update labels through pod status"#
                .into()
        )
    );
    assert_eq!(
        node_outcome(&pod("create", "web").subresource("eviction"), None, None),
        Ok(())
    );
    assert_eq!(
        node_outcome(&pod("create", "api").subresource("eviction"), None, None),
        Err(r#"pods "api" is forbidden: node worker-1 can only evict pods with spec.nodeName set to itself"#.into())
    );
    // Spec updates are not in NodeRules at all.
    assert_eq!(
        node_outcome(&pod("update", "web"), Some(&web), None),
        Err(r#"pods "web" is forbidden: User "system:node:worker-1" cannot update resource "pods" in API group "" in the namespace "dev""#.into())
    );
}

#[test]
fn node_pod_status_update_is_judged_by_the_stored_pod_it_acts_on() {
    let node = worker_1();
    let status = |name: &str| {
        Attributes::resource(&node, "update", &info::POD)
            .namespace("dev")
            .name(name)
            .subresource("status")
    };
    // A pod the node's pod list does not hold, stored bound to worker-1: allowed.
    let ghost: Object = bound_pod("ghost", "worker-1", "db-password").into();
    assert_eq!(
        node_outcome(&status("ghost"), Some(&ghost), Some(&ghost)),
        Ok(())
    );
    // The stored "web" is bound to worker-2 whatever the pod list says: refused.
    let moved: Object = bound_pod("web", "worker-2", "db-password").into();
    let sent: Object = bound_pod("web", "worker-1", "db-password").into();
    assert_eq!(
        node_outcome(&status("web"), Some(&sent), Some(&moved)),
        Err(r#"pods "web" is forbidden: node "worker-1" can only update pod status for pods with spec.nodeName set to itself"#.into())
    );
    // A stored object of another name is not the pod acted on: the pod list decides.
    assert_eq!(
        node_outcome(&status("web"), Some(&sent), Some(&ghost)),
        Ok(())
    );
}

#[test]
fn node_may_create_mirror_pods_bound_to_it_only() {
    let node = worker_1();
    let create = Attributes::resource(&node, "create", &info::POD).namespace("dev");
    let outcome = |pod: Pod| node_outcome(&create, Some(&pod.into()), None);
    assert_eq!(outcome(mirror_pod("etcd-worker-1", "worker-1")), Ok(()));
    assert_eq!(
        outcome(mirror_pod("etcd-worker-2", "worker-2")),
        Err(r#"pods "etcd-worker-2" is forbidden: node "worker-1" can only create pods with spec.nodeName set to itself"#.into())
    );
    let mut plain = mirror_pod("plain", "worker-1");
    plain.metadata.annotations.clear();
    assert_eq!(
        outcome(plain),
        Err(r#"pods "plain" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "worker-1" can only create mirror pods"#.into())
    );
    let mut orphan = mirror_pod("orphan", "worker-1");
    orphan.metadata.owner_references.clear();
    assert_eq!(
        outcome(orphan),
        Err(r#"pods "orphan" is forbidden: node "worker-1" can only create pods with an owner reference set to itself"#.into())
    );
    let mut not_controller = mirror_pod("nc", "worker-1");
    not_controller.metadata.owner_references[0].controller = None;
    assert_eq!(
        outcome(not_controller),
        Err(r#"pods "nc" is forbidden: node "worker-1" can only create pods with a controller owner reference set to itself"#.into())
    );
    let mut with_secret = mirror_pod("ws", "worker-1");
    with_secret.spec.volumes = bound_pod("x", "worker-1", "db-password").spec.volumes;
    assert_eq!(
        outcome(with_secret),
        Err(
            r#"pods "ws" is forbidden: node "worker-1" can not create pods that reference secrets"#
                .into()
        )
    );
    let mut with_sa = mirror_pod("sa", "worker-1");
    with_sa.spec.service_account_name = Some("default".into());
    assert_eq!(
        outcome(with_sa),
        Err(r#"pods "sa" is forbidden: node "worker-1" can not create pods that reference a service account"#.into())
    );
}

#[test]
fn node_reads_secrets_only_through_its_pods() {
    let node = worker_1();
    let secret = |verb: &str, ns: &str, name: &str| {
        Attributes::resource(&node, verb, &info::SECRET)
            .namespace(ns)
            .name(name)
    };
    assert_eq!(
        node_outcome(&secret("get", "dev", "db-password"), None, None),
        Ok(())
    );
    // A list or watch of one named object (metadata.name field selector) is a read too.
    assert_eq!(
        node_outcome(&secret("watch", "dev", "db-password"), None, None),
        Ok(())
    );
    assert_eq!(
        node_outcome(&secret("get", "dev", "api-key"), None, None),
        Err(r#"secrets "api-key" is forbidden: User "system:node:worker-1" cannot get resource "secrets" in API group "" in the namespace "dev": no relationship found between node 'worker-1' and this object"#.into()),
        "api-key belongs to a pod on worker-2"
    );
    assert_eq!(
        node_outcome(&secret("get", "prod", "db-password"), None, None).unwrap_err(),
        r#"secrets "db-password" is forbidden: User "system:node:worker-1" cannot get resource "secrets" in API group "" in the namespace "prod": no relationship found between node 'worker-1' and this object"#
    );
    assert_eq!(
        node_outcome(&secret("update", "dev", "db-password"), None, None).unwrap_err(),
        r#"secrets "db-password" is forbidden: User "system:node:worker-1" cannot update resource "secrets" in API group "" in the namespace "dev": can only read resources of this type"#
    );
    assert_eq!(
        node_outcome(
            &Attributes::resource(&node, "list", &info::SECRET).namespace("dev"),
            None,
            None
        )
        .unwrap_err(),
        r#"secrets is forbidden: User "system:node:worker-1" cannot list resource "secrets" in API group "" in the namespace "dev": No Object name found"#
    );
}

#[test]
fn node_with_an_empty_name_is_unidentifiable() {
    let nameless = UserInfo::new("system:node:", &["system:nodes", "system:authenticated"]);
    let attrs = Attributes::resource(&nameless, "list", &info::POD);
    assert_eq!(
        node_outcome(&attrs, None, None),
        Err(r#"pods is forbidden: User "system:node:" cannot list resource "pods" in API group "" at the cluster scope: unknown node for user "system:node:""#.into())
    );
}

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

#[test]
fn tokens_map_to_upstream_users_and_groups() {
    let authn = authenticator(false);
    let user = |token: &str| authn.authenticate(Some(token)).unwrap();
    assert_eq!(
        user(authn.admin_token()),
        UserInfo::new("admin", &["system:masters", "system:authenticated"])
    );
    assert_eq!(
        user("jane-token"),
        UserInfo {
            name: "jane".into(),
            uid: Some("u-1001".into()),
            groups: strings(&["developers", "qa", "system:authenticated"]),
        }
    );
    assert_eq!(
        user(&authn.issue_service_account_token("dev", "reader")),
        UserInfo::new(
            "system:serviceaccount:dev:reader",
            &[
                "system:serviceaccounts",
                "system:serviceaccounts:dev",
                "system:authenticated"
            ]
        )
    );
    assert_eq!(
        user(&authn.issue_node_token("worker-1")),
        UserInfo::new(
            "system:node:worker-1",
            &["system:nodes", "system:authenticated"]
        )
    );
    assert_eq!(
        authenticator(true).authenticate(None).unwrap(),
        UserInfo::new("system:anonymous", &["system:unauthenticated"])
    );
}

#[test]
fn issued_tokens_cannot_be_forged_or_moved() {
    let authn = authenticator(false);
    let token = authn.issue_service_account_token("dev", "reader");
    assert!(token.starts_with("skiff-sa_dev_reader_"));
    // Same seed, same token (deterministic); another key refuses it.
    assert_eq!(
        Authenticator::new(SEED).issue_service_account_token("dev", "reader"),
        token
    );
    assert!(
        Authenticator::new(SEED + 1)
            .authenticate(Some(&token))
            .is_err()
    );
    // Moving the MAC to another namespace, name or kind fails.
    let mac = token.rsplit('_').next().unwrap();
    for forged in [
        format!("skiff-sa_prod_reader_{mac}"),
        format!("skiff-sa_dev_admin_{mac}"),
        format!("skiff-node_reader_{mac}"),
        format!("skiff-sa_dev_reader_{}", mac.to_uppercase()),
        format!("skiff-sa_dev_reader_{}", &mac[1..]),
        "skiff-sa_dev_reader_".into(),
        "skiff-sa__reader_00".into(),
        format!("{token}_extra"),
    ] {
        assert!(authn.authenticate(Some(&forged)).is_err(), "{forged}");
    }
    let node = authn.issue_node_token("worker-1");
    assert_ne!(node, authn.issue_node_token("worker-2"));
    assert!(
        authn
            .authenticate(Some(&node.replace("worker-1", "worker-2")))
            .is_err()
    );
}

#[test]
fn authorization_header_carries_only_bearer_tokens() {
    let authn = authenticator(true);
    let name = |header: Option<&str>| authn.authenticate_header(header).map(|u| u.name);
    assert_eq!(name(Some("Bearer jane-token")), Ok("jane".into()));
    assert_eq!(name(Some("bearer jane-token")), Ok("jane".into()));
    assert_eq!(name(Some("  Bearer jane-token \t")), Ok("jane".into()));
    assert_eq!(
        name(Some("Basic amFuZTpwdw==")),
        Ok("system:anonymous".into())
    );
    assert_eq!(name(Some("Bearer ")), Ok("system:anonymous".into()));
    assert_eq!(name(None), Ok("system:anonymous".into()));
    assert_eq!(
        name(Some("Bearer nope")).unwrap_err().message,
        "Unauthorized",
        "a bad token is never anonymous"
    );
}

#[test]
fn debug_output_hides_secrets() {
    let authn = authenticator(false);
    let printed = format!("{authn:?}");
    assert!(!printed.contains(authn.admin_token()));
    assert!(!printed.contains("jane-token"));
}

// ---------------------------------------------------------------------------------------------
// Token file
// ---------------------------------------------------------------------------------------------

#[test]
fn token_file_reads_like_go_csv() {
    let text = "\
t1,alice,uid-1,\"admins,ops\"\r\n\
\n\
t2,bob,,\n\
,nobody,uid-0\n\
t3,carol,uid-3,\"line\n\
break\",extra\n\
t1,alice2,uid-9\n\
t4,\"dan \"\"the man\"\"\",uid-4";
    let tokens = parse_token_file("tokens.csv", text).unwrap();
    let users: Vec<(&str, &str, Option<&str>, Vec<&str>)> = tokens
        .iter()
        .map(|(t, u)| {
            (
                t.as_str(),
                u.name.as_str(),
                u.uid.as_deref(),
                u.groups.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        users,
        vec![
            // A repeated token: the later record wins.
            ("t1", "alice2", Some("uid-9"), vec![]),
            // An empty fourth column is one empty group (upstream's strings.Split).
            ("t2", "bob", None, vec![""]),
            ("t3", "carol", Some("uid-3"), vec!["line\nbreak"]),
            ("t4", "dan \"the man\"", Some("uid-4"), vec![]),
        ]
    );
}

#[test]
fn token_file_errors_name_their_line() {
    let error = |text: &str| {
        parse_token_file("tokens.csv", text)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        error("t1,alice,uid-1\nt2,bob\n"),
        "record on line 2: token file 'tokens.csv' must have at least 3 columns (token, user name, user uid), found 2"
    );
    assert_eq!(
        error("\n\nt1\n"),
        "record on line 3: token file 'tokens.csv' must have at least 3 columns (token, user name, user uid), found 1"
    );
    assert_eq!(
        error("t1,alice,uid-1\nt2,b\"ob,uid-2\n"),
        "parse error on line 2, column 5: bare \" in non-quoted-field"
    );
    assert_eq!(
        error("\"t1\"x,alice,uid-1\n"),
        "parse error on line 1, column 4: extraneous or missing \" in quoted-field"
    );
    assert_eq!(
        error("t1,alice,uid-1,\"g1\ng2"),
        "record on line 1; parse error on line 2, column 3: extraneous or missing \" in quoted-field"
    );
    assert_eq!(
        error("t1,alice,uid-1,\"g1\n"),
        "parse error on line 1, column 20: extraneous or missing \" in quoted-field"
    );
    let huge = "x".repeat(skiff_store::apiserver::authn::TOKEN_FILE_BYTES_MAX + 1);
    assert!(matches!(
        parse_token_file("big.csv", &huge),
        Err(TokenFileError::TooLarge { bytes, .. }) if bytes == huge.len()
    ));
}
