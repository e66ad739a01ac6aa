//! The Node authorizer (upstream `plugin/pkg/auth/authorizer/node/node_authorizer.go`) and the
//! NodeRestriction admission checks (upstream `plugin/pkg/admission/noderestriction`).
//!
//! A kubelet authenticates as `system:node:<name>` in `system:nodes`. The Node authorizer
//! grants every node upstream's `NodeRules()` ([`bootstrap::node_rules`]) and subdivides the
//! sensitive kinds by relationship:
//! - secrets and configmaps: get, list and watch of a *named* object referenced by a pod bound
//!   to the node (`node ← pod ← secret`);
//! - persistentvolumeclaims: get of a claim a bound pod uses (and update of its status);
//! - serviceaccounts: create of the `token` subresource of an account a bound pod runs as;
//! - leases: get, create, update, patch and delete in `kube-node-lease` of the lease named
//!   after the node (create is checked by NodeRestriction, which sees the object).
//!
//! Upstream keeps a graph fed by informers; skiff asks the [`RequestContext`] for the pods
//! bound to the node and walks their references, which is the same relation for the edges
//! skiff can see (pod → node, secret/configmap/claim/service account → pod). Persistent
//! volumes hang off claims, which the context does not carry: a node's `get` of a PV is
//! refused here (a known gap). skiff follows `NodeRules()` as it stands with the
//! `AuthorizeNodeWithSelectors` gate off: nodes may list and watch all pods and nodes
//! (upstream 1.32+ narrows those reads by field selector, which skiff's attributes do not
//! carry yet).
//!
//! NodeRestriction ([`restrict`]) then limits what the rules allow broadly: a node may modify
//! only its own Node, delete and update the status of only pods bound to it, create only
//! mirror pods bound to it, and touch only its own lease.

use std::collections::{BTreeMap, BTreeSet};

use skiff_core::object::{Object, Pod, Value};
use skiff_core::validate::go_quote;

use super::{Attributes, Decision, RequestContext, bootstrap, forbidden_status, rule_allows};
use crate::apiserver::status::Status;

/// The namespace of node heartbeat leases (upstream `api.NamespaceNodeLease`).
pub const NAMESPACE_NODE_LEASE: &str = "kube-node-lease";
/// The annotation that marks a mirror pod (upstream `api.MirrorPodAnnotationKey`).
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// Label namespace a kubelet may never set on its Node (upstream `LabelNamespaceNodeRestriction`).
pub const LABEL_NAMESPACE_NODE_RESTRICTION: &str = "node-restriction.kubernetes.io";

/// Labels in kubernetes.io namespaces a kubelet may set on its own Node (upstream
/// `kubelet/pkg/apis.kubeletLabels`).
const KUBELET_LABELS: &[&str] = &[
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
];
/// Label namespaces (and their subdomains) a kubelet may set (upstream `kubeletLabelNamespaces`).
const KUBELET_LABEL_NAMESPACES: &[&str] = &["kubelet.kubernetes.io", "node.kubernetes.io"];

/// The kinds of object a node may reach through its pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Referenced {
    Secret,
    ConfigMap,
    PersistentVolumeClaim,
    ServiceAccount,
}

/// The Node authorizer's decision for `attrs` (upstream `NodeAuthorizer.Authorize`): no opinion
/// for users that are not nodes.
pub fn authorize(attrs: &Attributes, ctx: &RequestContext<'_>) -> Decision {
    let Some(node) = attrs.user.node_identity() else {
        return Decision::NoOpinion(String::new());
    };
    if node.is_empty() {
        return Decision::NoOpinion(format!(
            "unknown node for user {}",
            go_quote(&attrs.user.name)
        ));
    }
    if attrs.is_resource_request() {
        match (attrs.api_group.as_str(), attrs.resource.as_str()) {
            ("", "secrets") => return read_namespaced(node, Referenced::Secret, attrs, ctx),
            ("", "configmaps") => return read_namespaced(node, Referenced::ConfigMap, attrs, ctx),
            ("", "persistentvolumeclaims") => {
                return if attrs.subresource == "status" {
                    status_update(node, Referenced::PersistentVolumeClaim, attrs, ctx)
                } else {
                    get(node, Some(Referenced::PersistentVolumeClaim), attrs, ctx)
                };
            }
            ("", "persistentvolumes") => return get(node, None, attrs, ctx),
            ("", "serviceaccounts") => return create_token(node, attrs, ctx),
            ("coordination.k8s.io", "leases") => return lease(node, attrs),
            _ => {}
        }
    }
    if bootstrap::node_rules()
        .iter()
        .any(|r| rule_allows(attrs, r))
    {
        Decision::Allow(String::new())
    } else {
        Decision::NoOpinion(String::new())
    }
}

fn no(reason: &str) -> Decision {
    Decision::NoOpinion(reason.to_owned())
}

/// Upstream `authorizeReadNamespacedObject`.
fn read_namespaced(
    node: &str,
    kind: Referenced,
    attrs: &Attributes,
    ctx: &RequestContext<'_>,
) -> Decision {
    if !matches!(attrs.verb.as_str(), "get" | "list" | "watch") {
        return no("can only read resources of this type");
    }
    if !attrs.subresource.is_empty() {
        return no("cannot read subresource");
    }
    if attrs.namespace.is_empty() {
        return no("can only read namespaced object of this type");
    }
    related(node, kind, attrs, ctx)
}

/// Upstream `authorizeGet`; `kind` `None` is a kind the context cannot relate (PVs).
fn get(
    node: &str,
    kind: Option<Referenced>,
    attrs: &Attributes,
    ctx: &RequestContext<'_>,
) -> Decision {
    if attrs.verb != "get" {
        return no("can only get individual resources of this type");
    }
    if !attrs.subresource.is_empty() {
        return no("cannot get subresource");
    }
    match kind {
        Some(kind) => related(node, kind, attrs, ctx),
        None if attrs.name.is_empty() => no("No Object name found"),
        None => no_relationship(node),
    }
}

/// Upstream `authorizeStatusUpdate`.
fn status_update(
    node: &str,
    kind: Referenced,
    attrs: &Attributes,
    ctx: &RequestContext<'_>,
) -> Decision {
    if !matches!(attrs.verb.as_str(), "update" | "patch") {
        return no("can only get/update/patch this type");
    }
    if attrs.subresource != "status" {
        return no("can only update status subresource");
    }
    related(node, kind, attrs, ctx)
}

/// Upstream `authorizeCreateToken`.
fn create_token(node: &str, attrs: &Attributes, ctx: &RequestContext<'_>) -> Decision {
    if attrs.verb != "create" || attrs.name.is_empty() {
        return no("can only create tokens for individual service accounts");
    }
    if attrs.subresource != "token" {
        return no("can only create token subresource of serviceaccount");
    }
    related(node, Referenced::ServiceAccount, attrs, ctx)
}

/// Upstream `authorizeLease`.
fn lease(node: &str, attrs: &Attributes) -> Decision {
    let verb = attrs.verb.as_str();
    if !matches!(verb, "get" | "create" | "update" | "patch" | "delete") {
        return no("can only get, create, update, patch, or delete a node lease");
    }
    if attrs.namespace != NAMESPACE_NODE_LEASE {
        return Decision::NoOpinion(format!(
            "can only access leases in the {} system namespace",
            go_quote(NAMESPACE_NODE_LEASE)
        ));
    }
    // Create is checked by NodeRestriction, which sees the object's name.
    if verb != "create" && attrs.name != node {
        return no("can only access node lease with the same name as the requesting node");
    }
    Decision::Allow(String::new())
}

fn no_relationship(node: &str) -> Decision {
    Decision::NoOpinion(format!(
        "no relationship found between node '{node}' and this object"
    ))
}

/// Upstream `authorize` over `hasPathFrom`: a named object referenced by a pod bound to `node`.
fn related(node: &str, kind: Referenced, attrs: &Attributes, ctx: &RequestContext<'_>) -> Decision {
    if attrs.name.is_empty() {
        return no("No Object name found");
    }
    let pods = (ctx.pods_on_node)(node);
    let found = pods.iter().any(|pod| {
        pod.metadata.namespace_or_empty() == attrs.namespace
            && pod.spec.node_name.as_deref() == Some(node)
            && references(pod, kind).contains(&attrs.name)
    });
    if found {
        Decision::Allow(String::new())
    } else {
        no_relationship(node)
    }
}

/// The names of objects of `kind` a pod refers to (upstream `podutil.VisitPodSecretNames`,
/// `VisitPodConfigmapNames`, the claims of its volumes and its service account).
fn references(pod: &Pod, kind: Referenced) -> BTreeSet<String> {
    let spec = &pod.spec;
    let names: BTreeSet<&str> = match kind {
        Referenced::Secret => secret_names(pod),
        Referenced::ConfigMap => config_map_names(pod),
        Referenced::PersistentVolumeClaim => {
            let claims = spec
                .volumes
                .iter()
                .filter_map(|v| v.persistent_volume_claim.as_ref())
                .map(|c| c.claim_name.clone());
            // Generic ephemeral volumes are claims named `<pod>-<volume>` (upstream
            // `ephemeral.VolumeClaimName`).
            let pod_name = pod.metadata.name_or_empty();
            let ephemeral = spec
                .volumes
                .iter()
                .filter(|v| v.ephemeral.is_some())
                .map(|v| format!("{pod_name}-{}", v.name));
            return claims.chain(ephemeral).collect();
        }
        Referenced::ServiceAccount => spec
            .service_account_name
            .as_deref()
            .or(spec.service_account.as_deref())
            .filter(|n| !n.is_empty())
            .into_iter()
            .collect(),
    };
    names.into_iter().map(ToOwned::to_owned).collect()
}

/// Upstream `VisitPodSecretNames` over all containers.
fn secret_names(pod: &Pod) -> BTreeSet<&str> {
    let spec = &pod.spec;
    let mut names: BTreeSet<&str> = spec
        .image_pull_secrets
        .iter()
        .filter_map(|s| s.name.as_deref())
        .collect();
    for c in spec.init_containers.iter().chain(&spec.containers) {
        names.extend(
            c.env_from
                .iter()
                .filter_map(|e| e.secret_ref.as_ref()?.name.as_deref()),
        );
        names.extend(c.env.iter().filter_map(|e| {
            e.value_from
                .as_ref()?
                .secret_key_ref
                .as_ref()?
                .name
                .as_deref()
        }));
    }
    for c in items(spec.ephemeral_containers.as_ref()) {
        names.extend(
            items(field(c, &["envFrom"])).filter_map(|e| string(e, &["secretRef", "name"])),
        );
        names.extend(
            items(field(c, &["env"]))
                .filter_map(|e| string(e, &["valueFrom", "secretKeyRef", "name"])),
        );
    }
    for v in &spec.volumes {
        names.extend(v.secret.as_ref().and_then(|s| s.secret_name.as_deref()));
        if let Some(projected) = &v.projected {
            names.extend(
                items(field(projected, &["sources"]))
                    .filter_map(|s| string(s, &["secret", "name"])),
            );
        }
        // Volume plugins that take a secret reference.
        let plugins = [
            &v.cephfs,
            &v.cinder,
            &v.flex_volume,
            &v.rbd,
            &v.scale_io,
            &v.iscsi,
            &v.storageos,
        ];
        for source in plugins.into_iter().flatten() {
            names.extend(string(source, &["secretRef", "name"]));
        }
        names.extend(
            v.azure_file
                .as_ref()
                .and_then(|a| string(a, &["secretName"])),
        );
        names.extend(
            v.csi
                .as_ref()
                .and_then(|c| string(c, &["nodePublishSecretRef", "name"])),
        );
    }
    names
}

/// Upstream `VisitPodConfigmapNames` over all containers.
fn config_map_names(pod: &Pod) -> BTreeSet<&str> {
    let spec = &pod.spec;
    let mut names = BTreeSet::new();
    for c in spec.init_containers.iter().chain(&spec.containers) {
        names.extend(
            c.env_from
                .iter()
                .filter_map(|e| e.config_map_ref.as_ref()?.name.as_deref()),
        );
        names.extend(c.env.iter().filter_map(|e| {
            e.value_from
                .as_ref()?
                .config_map_key_ref
                .as_ref()?
                .name
                .as_deref()
        }));
    }
    for c in items(spec.ephemeral_containers.as_ref()) {
        names.extend(
            items(field(c, &["envFrom"])).filter_map(|e| string(e, &["configMapRef", "name"])),
        );
        names.extend(
            items(field(c, &["env"]))
                .filter_map(|e| string(e, &["valueFrom", "configMapKeyRef", "name"])),
        );
    }
    for v in &spec.volumes {
        names.extend(v.config_map.as_ref().and_then(|c| c.name.as_deref()));
        if let Some(projected) = &v.projected {
            names.extend(
                items(field(projected, &["sources"]))
                    .filter_map(|s| string(s, &["configMap", "name"])),
            );
        }
    }
    names
}

/// Walks a `Value` map by keys.
fn field<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    let mut at = value;
    for key in path {
        match at {
            Value::Map(map) => at = map.get(*key)?,
            _ => return None,
        }
    }
    Some(at)
}

fn string<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    match field(value, path)? {
        Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

fn items<'v>(value: impl Into<Option<&'v Value>>) -> impl Iterator<Item = &'v Value> {
    let seq: &[Value] = match value.into() {
        Some(Value::Seq(items)) => items,
        _ => &[],
    };
    seq.iter()
}

// ---------------------------------------------------------------------------------------------
// NodeRestriction
// ---------------------------------------------------------------------------------------------

/// Upstream `admission.NewForbidden(a, err)`: the resource and the request's name (or, on
/// create, the object's).
fn refuse(attrs: &Attributes, ctx: &RequestContext<'_>, why: &str) -> Status {
    let name = if attrs.name.is_empty() {
        ctx.object
            .map(|o| o.metadata().name_or_empty().to_owned())
            .unwrap_or_default()
    } else {
        attrs.name.clone()
    };
    forbidden_status(&attrs.api_group, &attrs.resource, &name, why)
}

/// The admission operation a verb performs (upstream `admission.Operation`), for the verbs
/// NodeRestriction looks at (it registers for create, update and delete only).
fn operation(verb: &str) -> Option<&'static str> {
    match verb {
        "create" => Some("CREATE"),
        "update" | "patch" => Some("UPDATE"),
        "delete" | "deletecollection" => Some("DELETE"),
        _ => None,
    }
}

/// Upstream's `%T` of the object NodeRestriction expected and did not get.
fn type_name(object: Option<&Object>) -> String {
    object.map_or_else(
        || "<nil>".to_owned(),
        |o| format!("*core.{}", o.info().kind),
    )
}

/// The NodeRestriction admission checks (upstream `noderestriction.Plugin.Admit`) for a
/// request the authorizers allowed. Requests from users that are not nodes, and reads, pass.
///
/// # Errors
/// `Status` 403 in admission's shape: `<resource> "<name>" is forbidden: <why>`.
pub fn restrict(attrs: &Attributes, ctx: &RequestContext<'_>) -> Result<(), Status> {
    let Some(node) = attrs.user.node_identity() else {
        return Ok(());
    };
    let Some(op) = operation(&attrs.verb) else {
        return Ok(());
    };
    let deny = |why: String| Err(refuse(attrs, ctx, &why));
    if node.is_empty() {
        return deny(format!(
            "could not determine node from user {}",
            go_quote(&attrs.user.name)
        ));
    }
    if !attrs.is_resource_request() {
        return Ok(());
    }
    match (attrs.api_group.as_str(), attrs.resource.as_str()) {
        ("", "pods") => admit_pod(node, op, attrs, ctx),
        ("", "nodes") => admit_node(node, op, attrs, ctx),
        ("", "persistentvolumeclaims") if attrs.subresource != "status" => {
            deny("may only update PVC status".to_owned())
        }
        ("coordination.k8s.io", "leases") => {
            if attrs.namespace != NAMESPACE_NODE_LEASE {
                return deny(format!(
                    "can only access leases in the {} system namespace",
                    go_quote(NAMESPACE_NODE_LEASE)
                ));
            }
            let name = if op == "CREATE" {
                match ctx.object {
                    Some(Object::Lease(lease)) => lease.metadata.name_or_empty(),
                    other => return deny(format!("unexpected type {}", type_name(other))),
                }
            } else {
                attrs.name.as_str()
            };
            if name != node {
                return deny(
                    "can only access node lease with the same name as the requesting node"
                        .to_owned(),
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Upstream `admitPod`, `admitPodStatus` and `admitPodEviction`.
fn admit_pod(
    node: &str,
    op: &str,
    attrs: &Attributes,
    ctx: &RequestContext<'_>,
) -> Result<(), Status> {
    let deny = |why: String| Err(refuse(attrs, ctx, &why));
    let bound = |namespace: &str, name: &str| -> Option<Pod> {
        // Upstream reads the existing pod by name (`podsGetter.Pods(ns).Get(name)`) and
        // compares its `spec.nodeName`: the stored object an update or delete acts on is that
        // pod, so it is used when the request carries it, rather than decoding every pod of
        // the node.
        if let Some(Object::Pod(stored)) = ctx.old_object
            && stored.metadata.namespace_or_empty() == namespace
            && stored.metadata.name_or_empty() == name
        {
            return (stored.spec.node_name.as_deref() == Some(node)).then(|| stored.clone());
        }
        (ctx.pods_on_node)(node).into_iter().find(|p| {
            p.metadata.namespace_or_empty() == namespace
                && p.metadata.name_or_empty() == name
                && p.spec.node_name.as_deref() == Some(node)
        })
    };
    match attrs.subresource.as_str() {
        "" => match op {
            "CREATE" => admit_mirror_pod(node, attrs, ctx),
            "DELETE" => {
                if bound(&attrs.namespace, &attrs.name).is_none() {
                    return deny(format!(
                        "node {} can only delete pods with spec.nodeName set to itself",
                        go_quote(node)
                    ));
                }
                Ok(())
            }
            other => deny(format!(
                "unexpected operation {}, node {} can only create and delete mirror pods",
                go_quote(other),
                go_quote(node)
            )),
        },
        "status" => {
            if op != "UPDATE" {
                return deny(format!("unexpected operation {}", go_quote(op)));
            }
            let Some(old) = bound(&attrs.namespace, &attrs.name) else {
                return deny(format!(
                    "node {} can only update pod status for pods with spec.nodeName set to itself",
                    go_quote(node)
                ));
            };
            if let Some(Object::Pod(new)) = ctx.object
                && new.metadata.labels != old.metadata.labels
            {
                return deny(format!(
                    "node {} cannot update labels through pod status",
                    go_quote(node)
                ));
            }
            Ok(())
        }
        "eviction" => {
            if op != "CREATE" {
                return deny(format!("unexpected operation {op}"));
            }
            if bound(&attrs.namespace, &attrs.name).is_none() {
                return deny(format!(
                    "node {node} can only evict pods with spec.nodeName set to itself"
                ));
            }
            Ok(())
        }
        other => deny(format!(
            "unexpected pod subresource {}, only 'status' and 'eviction' are allowed",
            go_quote(other)
        )),
    }
}

/// Upstream `admitPodCreate`: a node creates only mirror pods of its own, owned by its Node,
/// referencing no other API object.
fn admit_mirror_pod(
    node: &str,
    attrs: &Attributes,
    ctx: &RequestContext<'_>,
) -> Result<(), Status> {
    let deny = |why: String| Err(refuse(attrs, ctx, &why));
    let quoted = go_quote(node);
    let pod = match ctx.object {
        Some(Object::Pod(pod)) => pod,
        other => return deny(format!("unexpected type {}", type_name(other))),
    };
    if !pod.metadata.annotations.contains_key(MIRROR_POD_ANNOTATION) {
        return deny(format!(
            "pod does not have {} annotation, node {quoted} can only create mirror pods",
            go_quote(MIRROR_POD_ANNOTATION)
        ));
    }
    if pod.spec.node_name.as_deref() != Some(node) {
        return deny(format!(
            "node {quoted} can only create pods with spec.nodeName set to itself"
        ));
    }
    match pod.metadata.owner_references.as_slice() {
        [] => {
            return deny(format!(
                "node {quoted} can only create pods with an owner reference set to itself"
            ));
        }
        [owner] => {
            if owner.api_version != "v1" || owner.kind != "Node" || owner.name != node {
                return deny(format!(
                    "node {quoted} can only create pods with an owner reference set to itself"
                ));
            }
            if owner.controller != Some(true) {
                return deny(format!(
                    "node {quoted} can only create pods with a controller owner reference set to itself"
                ));
            }
            if owner.block_owner_deletion == Some(true) {
                return deny(format!(
                    "node {quoted} must not set blockOwnerDeletion on an owner reference"
                ));
            }
            // Upstream also checks the owner's uid against the Node object's; the context
            // does not carry the Node, so the uid is not verified here.
        }
        _ => {
            return deny(format!(
                "node {quoted} can only create pods with a single owner reference set to itself"
            ));
        }
    }
    if pod
        .spec
        .service_account_name
        .as_deref()
        .is_some_and(|n| !n.is_empty())
    {
        return deny(format!(
            "node {quoted} can not create pods that reference a service account"
        ));
    }
    if !references(pod, Referenced::Secret).is_empty() {
        return deny(format!(
            "node {quoted} can not create pods that reference secrets"
        ));
    }
    if !references(pod, Referenced::ConfigMap).is_empty() {
        return deny(format!(
            "node {quoted} can not create pods that reference configmaps"
        ));
    }
    if pod.spec.volumes.iter().any(|v| {
        v.projected.as_ref().is_some_and(|p| {
            items(field(p, &["sources"])).any(|s| field(s, &["clusterTrustBundle"]).is_some())
        })
    }) {
        return deny(format!(
            "node {quoted} can not create pods that reference clustertrustbundles"
        ));
    }
    if pod
        .spec
        .volumes
        .iter()
        .any(|v| v.persistent_volume_claim.is_some())
    {
        return deny(format!(
            "node {quoted} can not create pods that reference persistentvolumeclaims"
        ));
    }
    Ok(())
}

/// Upstream `admitNode`: a node modifies only its own Node, and not its taints or the labels
/// reserved to the control plane.
fn admit_node(
    node: &str,
    op: &str,
    attrs: &Attributes,
    ctx: &RequestContext<'_>,
) -> Result<(), Status> {
    let deny = |why: String| Err(refuse(attrs, ctx, &why));
    let requested = if attrs.name.is_empty() {
        ctx.object
            .map(|o| o.metadata().name_or_empty())
            .unwrap_or_default()
    } else {
        attrs.name.as_str()
    };
    if requested != node {
        return deny(format!(
            "node {} is not allowed to modify node {}",
            go_quote(node),
            go_quote(requested)
        ));
    }
    let new = match ctx.object {
        Some(Object::Node(n)) => Some(n),
        _ => None,
    };
    match op {
        "CREATE" => {
            let Some(new) = new else {
                return deny(format!("unexpected type {}", type_name(ctx.object)));
            };
            if new.spec.config_source.is_some() {
                return deny(format!(
                    "node {} is not allowed to create pods with a non-nil configSource",
                    go_quote(node)
                ));
            }
            let forbidden = forbidden_labels(modified_labels(&new.metadata.labels, None));
            if !forbidden.is_empty() {
                return deny(format!(
                    "node {} is not allowed to set the following labels: {}",
                    go_quote(node),
                    forbidden.join(", ")
                ));
            }
        }
        "UPDATE" => {
            let (Some(new), Some(Object::Node(old))) = (new, ctx.old_object) else {
                // Without both objects there is nothing to compare: the API server passes
                // them for updates of nodes; a status-only or metadata-less patch by the
                // node's own identity is let through, as the authorizer allowed it.
                return Ok(());
            };
            if new.spec.config_source.is_some() && new.spec.config_source != old.spec.config_source
            {
                return deny(format!(
                    "node {} is not allowed to update configSource to a new non-nil configSource",
                    go_quote(node)
                ));
            }
            if new.spec.taints != old.spec.taints {
                return deny(format!(
                    "node {} is not allowed to modify taints",
                    go_quote(node)
                ));
            }
            let forbidden = forbidden_labels(modified_labels(
                &new.metadata.labels,
                Some(&old.metadata.labels),
            ));
            if !forbidden.is_empty() {
                // Upstream's message has no node name here.
                return deny(format!(
                    "is not allowed to modify labels: {}",
                    forbidden.join(", ")
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Upstream `getModifiedLabels`: keys added, removed or changed.
fn modified_labels<'l>(
    new: &'l BTreeMap<String, String>,
    old: Option<&'l BTreeMap<String, String>>,
) -> BTreeSet<&'l str> {
    let mut modified: BTreeSet<&str> = BTreeSet::new();
    for (k, v) in new {
        if old.and_then(|o| o.get(k)) != Some(v) {
            modified.insert(k);
        }
    }
    for (k, v) in old.into_iter().flatten() {
        if new.get(k) != Some(v) {
            modified.insert(k);
        }
    }
    modified
}

fn label_namespace(key: &str) -> &str {
    key.split_once('/').map_or("", |(ns, _)| ns)
}

fn in_namespace(namespace: &str, domain: &str) -> bool {
    namespace == domain
        || namespace
            .strip_suffix(domain)
            .is_some_and(|prefix| prefix.ends_with('.'))
}

/// Upstream `getForbiddenLabels`, sorted: node-restriction labels, and kubernetes.io or
/// k8s.io labels that are not kubelet labels.
fn forbidden_labels(modified: BTreeSet<&str>) -> Vec<&str> {
    modified
        .into_iter()
        .filter(|label| {
            let namespace = label_namespace(label);
            let restricted = in_namespace(namespace, LABEL_NAMESPACE_NODE_RESTRICTION);
            let kubernetes =
                in_namespace(namespace, "kubernetes.io") || in_namespace(namespace, "k8s.io");
            let kubelet = KUBELET_LABELS.contains(label)
                || KUBELET_LABEL_NAMESPACES
                    .iter()
                    .any(|allowed| in_namespace(namespace, allowed));
            restricted || (kubernetes && !kubelet)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_labels_follow_upstream() {
        let modified = BTreeSet::from([
            "kubernetes.io/hostname",
            "node.kubernetes.io/exclude-from-external-load-balancers",
            "foo.node.kubernetes.io/x",
            "node-restriction.kubernetes.io/pool",
            "node-role.kubernetes.io/control-plane",
            "example.com/team",
            "k8s.io/x",
            "plain",
        ]);
        assert_eq!(
            forbidden_labels(modified),
            [
                "k8s.io/x",
                "node-restriction.kubernetes.io/pool",
                "node-role.kubernetes.io/control-plane",
            ]
        );
    }
}
