//! Authorization (seed §4 step 2): may this user do this?
//!
//! skiff runs upstream's `--authorization-mode=Node,RBAC`: a union of the Node authorizer
//! and the RBAC authorizer (upstream `authorization/union`). The first authorizer that allows
//! wins; when none does, the request is refused with `Status` 403 in upstream's words
//! (`responsewriters.Forbidden` over `apierrors.NewForbidden`), the authorizers' reasons
//! appended after `": "` and joined by newlines:
//!
//! ```text
//! pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "default"
//! nodes "worker-2" is forbidden: User "jane" cannot get resource "nodes" in API group "" at the cluster scope
//! pods "web" is forbidden: User "jane" cannot update resource "pods/status" in API group "" in the namespace "dev"
//! forbidden: User "jane" cannot get path "/metrics"
//! ```
//!
//! After an allow, requests from nodes pass upstream's NodeRestriction admission checks
//! ([`node`]), which look at the objects involved (the pod a kubelet deletes must be bound to
//! it, the Node it updates must be its own, a pod it creates must be a mirror pod bound to
//! it). Those refusals keep admission's message shape, `<resource> "<name>" is forbidden:
//! <why>`, so a client sees exactly what an upstream cluster would say.
//!
//! - [`rbac`]: rule matching and the rule resolver over an [`RbacSnapshot`].
//! - [`node`]: the Node authorizer and NodeRestriction.
//! - [`bootstrap`]: upstream's default ClusterRoles and ClusterRoleBindings.

pub mod bootstrap;
pub mod node;
pub mod rbac;

use skiff_core::object::{KindInfo, Object, Pod};
use skiff_core::validate::go_quote;

use super::authn::UserInfo;
use super::status::{Reason, Status};

pub use rbac::{RbacSnapshot, rule_allows};

/// What a request wants to do (upstream `authorizer.Attributes`). Empty strings mean "not
/// set", as upstream's attributes use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// Who asks.
    pub user: UserInfo,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`, … for
    /// resources; the lowercase HTTP method (`get`, `post`, …) for non-resource paths.
    pub verb: String,
    /// API group of the resource; `""` is the core group.
    pub api_group: String,
    /// Resource (plural), e.g. `pods`.
    pub resource: String,
    /// Subresource, e.g. `status`; empty for the resource itself.
    pub subresource: String,
    /// Namespace of the request; empty for cluster-scoped resources and all-namespace lists.
    pub namespace: String,
    /// Object name; empty for list, watch and (as upstream) create.
    pub name: String,
    /// The URL path of a non-resource request (`/healthz`); `None` for resource requests.
    pub path: Option<String>,
}

impl Attributes {
    /// A request on a served kind (group and plural from `info`).
    pub fn resource(user: &UserInfo, verb: &str, info: &KindInfo) -> Self {
        Self::resource_in(user, verb, info.group, info.plural)
    }

    /// A request on any resource, by group and plural.
    pub fn resource_in(user: &UserInfo, verb: &str, api_group: &str, resource: &str) -> Self {
        Self {
            user: user.clone(),
            verb: verb.to_owned(),
            api_group: api_group.to_owned(),
            resource: resource.to_owned(),
            subresource: String::new(),
            namespace: String::new(),
            name: String::new(),
            path: None,
        }
    }

    /// A request for a non-resource URL such as `/healthz`.
    pub fn non_resource(user: &UserInfo, verb: &str, path: &str) -> Self {
        Self {
            path: Some(path.to_owned()),
            ..Self::resource_in(user, verb, "", "")
        }
    }

    /// The same request in `namespace`.
    #[must_use]
    pub fn namespace(mut self, namespace: &str) -> Self {
        namespace.clone_into(&mut self.namespace);
        self
    }

    /// The same request for the object `name`.
    #[must_use]
    pub fn name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// The same request on `subresource` (`status`, `log`, …).
    #[must_use]
    pub fn subresource(mut self, subresource: &str) -> Self {
        subresource.clone_into(&mut self.subresource);
        self
    }

    /// Whether this is a resource request (upstream `IsResourceRequest`).
    pub fn is_resource_request(&self) -> bool {
        self.path.is_none()
    }

    /// `resource` or `resource/subresource`, as rules and messages name it.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// One authorizer's answer (upstream `authorizer.Decision` with its reason). Neither RBAC nor
/// the Node authorizer ever denies outright: they allow or have no opinion, and a request no
/// authorizer allows is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; the reason says by what (e.g. the binding), for audit.
    Allow(String),
    /// Not allowed by this authorizer; the reason, if not empty, is shown to the client.
    NoOpinion(String),
}

impl Decision {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The reason, allowed or not.
    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow(r) | Decision::NoOpinion(r) => r,
        }
    }
}

/// What the Node authorizer and NodeRestriction need to know beyond the attributes: upstream
/// reads them from its informers (the node authorizer graph, the admission plugin's listers)
/// and from the admission request's objects.
#[derive(Clone, Copy)]
pub struct RequestContext<'a> {
    /// The pods bound to a node (`spec.nodeName` equal to it), all namespaces. The API server
    /// answers it from the store's pods-by-node index.
    pub pods_on_node: &'a dyn Fn(&str) -> Vec<Pod>,
    /// The object a create or update sends, when the request carries one.
    pub object: Option<&'a Object>,
    /// The stored object an update or delete acts on, when there is one.
    pub old_object: Option<&'a Object>,
}

fn no_pods(_: &str) -> Vec<Pod> {
    Vec::new()
}

impl RequestContext<'static> {
    /// A context that knows no pods and carries no objects (enough for every request that
    /// is not from a node).
    pub fn empty() -> Self {
        Self {
            pods_on_node: &no_pods,
            object: None,
            old_object: None,
        }
    }
}

impl<'a> RequestContext<'a> {
    /// A context answering pods-on-node from `pods_on_node`.
    pub fn with_pods(pods_on_node: &'a dyn Fn(&str) -> Vec<Pod>) -> Self {
        Self {
            pods_on_node,
            object: None,
            old_object: None,
        }
    }

    /// The same context with the request's object.
    #[must_use]
    pub fn object(mut self, object: &'a Object) -> Self {
        self.object = Some(object);
        self
    }

    /// The same context with the stored object the request acts on.
    #[must_use]
    pub fn old_object(mut self, object: &'a Object) -> Self {
        self.old_object = Some(object);
        self
    }
}

/// The authorizer chain `Node,RBAC` over one RBAC snapshot.
///
/// # Guarantees
/// Deny by default: a request is allowed only by a rule of a role bound to the user (or one
/// of its groups, or its service account), or by the Node authorizer for the user's own node.
#[derive(Debug, Clone, Default)]
pub struct Authorizer {
    rbac: RbacSnapshot,
}

impl Authorizer {
    /// An authorizer over `rbac` (rebuild it when roles or bindings change).
    pub fn new(rbac: RbacSnapshot) -> Self {
        Self { rbac }
    }

    /// The RBAC snapshot in use.
    pub fn rbac(&self) -> &RbacSnapshot {
        &self.rbac
    }

    /// The union's decision (upstream `union.Authorize` over `Node,RBAC`): the first allow
    /// wins; otherwise no opinion, with the non-empty reasons joined by newlines.
    pub fn decide(&self, attrs: &Attributes, ctx: &RequestContext<'_>) -> Decision {
        let mut reasons = Vec::new();
        for decision in [node::authorize(attrs, ctx), self.rbac.authorize(attrs)] {
            match decision {
                Decision::Allow(reason) => return Decision::Allow(reason),
                Decision::NoOpinion(reason) if !reason.is_empty() => reasons.push(reason),
                Decision::NoOpinion(_) => {}
            }
        }
        Decision::NoOpinion(reasons.join("\n"))
    }

    /// Authorizes a request, then applies NodeRestriction to requests from nodes.
    ///
    /// # Errors
    /// `Status` 403: [`forbidden`] when no authorizer allows; NodeRestriction's admission
    /// refusal when a node oversteps its own objects.
    pub fn authorize(&self, attrs: &Attributes, ctx: &RequestContext<'_>) -> Result<(), Status> {
        match self.decide(attrs, ctx) {
            Decision::Allow(_) => node::restrict(attrs, ctx),
            Decision::NoOpinion(reason) => Err(forbidden(attrs, &reason)),
        }
    }
}

/// Escapes what could make a message look like HTML (upstream `responsewriters` sanitizer:
/// quotes are left alone).
fn sanitize(message: &str) -> String {
    message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Upstream `forbiddenMessage`: who cannot do what, where.
pub fn forbidden_message(attrs: &Attributes) -> String {
    let user = go_quote(&attrs.user.name);
    let verb = &attrs.verb;
    if let Some(path) = &attrs.path {
        return format!("User {user} cannot {verb} path {}", go_quote(path));
    }
    let resource = go_quote(&attrs.combined_resource());
    let group = go_quote(&attrs.api_group);
    if attrs.namespace.is_empty() {
        format!(
            "User {user} cannot {verb} resource {resource} in API group {group} at the cluster scope"
        )
    } else {
        format!(
            "User {user} cannot {verb} resource {resource} in API group {group} in the namespace {}",
            go_quote(&attrs.namespace)
        )
    }
}

/// The 403 for a request no authorizer allowed (upstream `responsewriters.Forbidden`):
/// `<resource>[.<group>] ["<name>"] is forbidden: <forbiddenMessage>[: <reason>]`, or
/// `forbidden: …` for non-resource paths.
pub fn forbidden(attrs: &Attributes, reason: &str) -> Status {
    let mut why = sanitize(&forbidden_message(attrs));
    if !reason.is_empty() {
        why = format!("{why}: {reason}");
    }
    forbidden_status(&attrs.api_group, &attrs.resource, &attrs.name, &why)
}

/// `apierrors.NewForbidden(groupResource, name, err)`.
pub(crate) fn forbidden_status(group: &str, resource: &str, name: &str, why: &str) -> Status {
    let qualified = if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    };
    let message = if qualified.is_empty() {
        format!("forbidden: {why}")
    } else if name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} {} is forbidden: {why}", go_quote(name))
    };
    Status {
        reason: Reason::Forbidden,
        message,
        name: (!name.is_empty()).then(|| name.to_owned()),
        kind: (!resource.is_empty()).then(|| resource.to_owned()),
        causes: Vec::new(),
    }
}
