//! The API server behind the wire protocol: [`ApiHandler`] implements
//! [`crate::wire::Handler`], and [`LocalClient`] implements [`Client`] in-process — the same
//! calls, with or without a network in between.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_core::client::{
    AccessDecision, AccessReview, Binding, BoxFuture, Client, ClientError, DeleteOptions, Deleted,
    ExecOutput, ExecParams, ListParams, LogParams, ObjectList, PatchType, Scale, WatchEvent,
    WatchStream,
};
use skiff_core::event::{Actor, Change, Event, Revision};
use skiff_core::object::{KindInfo, KindRegistry, Object, Pod, info};
use skiff_core::selector::{FieldSelector, Selector};
use skiff_core::status::{Reason, Status};

use super::authn::{Authenticator, UserInfo};
use super::authz::{Attributes, Authorizer, RbacSnapshot, RequestContext};
use super::{ApiError, ApiServer};
use crate::codec::StoredValue;
use crate::store::{ListOptions, Store};
use crate::watch::{Watch, WatchError, WatchEvent as StoreWatchEvent, WatchOptions};
use crate::wire::{Handler, ItemStream, Request, Response, StreamItem};

/// Whether a list must see every write acknowledged before it (upstream: a list without a
/// resourceVersion is a "most recent" read, served by a quorum read from etcd; `"0"` means
/// "any", served from the watch cache; a continue token or a given resourceVersion names the
/// revision to read at).
fn needs_consistent_read(params: &ListParams) -> bool {
    params.continue_token.is_none() && params.resource_version.as_deref().is_none_or(str::is_empty)
}

/// Makes the read that follows linearizable: on a member of a replicated control plane, waits
/// until this member has applied everything committed before the call (ReadIndex, etcd's
/// default read consistency); a no-op on a single-node store. A member that cannot confirm it
/// (no leader, partitioned) answers as a write would: an internal error carrying the store's
/// message, which multi-endpoint clients read to move to another member.
async fn consistent_read(store: &Store) -> Result<(), Status> {
    store.read_barrier().await.map_err(|e| Status {
        reason: Reason::InternalError,
        message: e.to_string(),
        name: None,
        kind: None,
        causes: Vec::new(),
    })
}

fn to_status(e: ApiError) -> Status {
    match e {
        ApiError::Rejected(status) => status,
        ApiError::Fatal(fatal) => Status {
            reason: Reason::InternalError,
            message: fatal.to_string(),
            name: None,
            kind: None,
            causes: Vec::new(),
        },
    }
}

fn resource(kinds: &KindRegistry, name: &str) -> Result<&'static KindInfo, Status> {
    kinds.resolve_resource(name).ok_or_else(|| {
        Status::bad_request(format!(
            "the server doesn't have a resource type \"{name}\""
        ))
    })
}

impl ApiServer {
    /// The object's retained history from the log, oldest first.
    pub fn history(
        &self,
        info: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<Event>, Status> {
        let ns = if info.namespaced { namespace } else { "" };
        let key = crate::key::registry_key(info, ns, name);
        let events = self
            .store()
            .history(&key)
            .map_err(|e| to_status(super::read_failed(e, info, name)))?;
        if events.is_empty() {
            return Err(super::not_found(info, name));
        }
        Ok(events)
    }

    /// Lists with wire parameters: label and field selectors, paging, a past revision.
    pub fn list_params(
        &self,
        info: &'static KindInfo,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList, Status> {
        let (label_selector, field_selector) = selectors(params)?;
        let options = ListOptions {
            revision: resource_version(params)?,
            limit: usize::try_from(params.limit).unwrap_or(usize::MAX),
            continue_after: params.continue_token.clone(),
            label_selector,
            field_selector,
            keys_only: false,
        };
        self.list(info, namespace, &options).map_err(to_status)
    }

    /// Watches objects of a kind after `params.resource_version` (the head when unset), with
    /// label and field selectors; an object that starts or stops matching arrives as ADDED or
    /// DELETED, and progress bookmarks come at most once a minute.
    pub fn watch_params(
        &self,
        info: &'static KindInfo,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<Box<dyn WatchStream>, Status> {
        let (label_selector, field_selector) = selectors(params)?;
        let from = match resource_version(params)? {
            Some(rv) => rv,
            None => {
                self.store()
                    .status()
                    .map_err(|e| to_status(super::read_failed(e, info, "")))?
                    .revision
            }
        };
        let prefix = match (info.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/", info.registry_prefix),
            _ => info.registry_prefix.to_owned(),
        };
        let watch = self
            .store()
            .watch_with(WatchOptions {
                prefix,
                from,
                label_selector,
                field_selector,
                bookmarks: true,
                bookmark_interval: BOOKMARK_INTERVAL,
            })
            .map_err(|e| to_status(super::read_failed(e, info, "")))?;
        Ok(Box::new(KindWatch {
            watch,
            info,
            done: false,
        }))
    }
}

/// How often a watch with nothing to deliver reports progress (upstream sends a bookmark about
/// once a minute).
pub const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

fn resource_version(params: &ListParams) -> Result<Option<Revision>, Status> {
    match params.resource_version.as_deref() {
        None | Some("" | "0") => Ok(None),
        Some(rv) => Revision::parse(rv)
            .map(Some)
            .ok_or_else(|| Status::bad_request(format!("invalid resourceVersion {rv:?}"))),
    }
}

fn selectors(params: &ListParams) -> Result<(Option<Selector>, Option<FieldSelector>), Status> {
    let labels = if params.label_selector.is_empty() {
        None
    } else {
        Some(
            Selector::parse(&params.label_selector)
                .map_err(|e| Status::bad_request(format!("unable to parse requirement: {e}")))?,
        )
    };
    let fields = if params.field_selector.is_empty() {
        None
    } else {
        Some(
            FieldSelector::parse(&params.field_selector)
                .map_err(|e| Status::bad_request(format!("invalid field selector: {e}")))?,
        )
    };
    Ok((labels, fields))
}

/// A store watch seen as a stream of one kind's watch events.
struct KindWatch {
    watch: Watch,
    info: &'static KindInfo,
    done: bool,
}

fn object_of(change: &Change) -> Option<&Object> {
    match change {
        Change::Create(o) | Change::Update { object: o, .. } | Change::Delete(o) => Some(o),
        _ => None,
    }
}

impl WatchStream for KindWatch {
    fn next(&mut self) -> BoxFuture<'_, Option<WatchEvent>> {
        Box::pin(async move {
            if self.done {
                return None;
            }
            loop {
                let event = match self.watch.next_event().await {
                    Ok(event) => event,
                    Err(e) => {
                        self.done = true;
                        let (reason, message) = match e {
                            WatchError::Compacted {
                                requested,
                                compacted_revision,
                            } => (
                                Reason::Expired,
                                format!(
                                    "too old resource version: {requested} ({compacted_revision})"
                                ),
                            ),
                            other => (Reason::InternalError, other.to_string()),
                        };
                        return Some(WatchEvent::Error(Status {
                            reason,
                            message,
                            name: None,
                            kind: Some(self.info.plural.to_owned()),
                            causes: Vec::new(),
                        }));
                    }
                };
                let (event, make): (_, fn(Object) -> WatchEvent) = match event {
                    StoreWatchEvent::Bookmark(revision) => {
                        return Some(WatchEvent::Bookmark(revision.0));
                    }
                    StoreWatchEvent::Added(e) => (e, WatchEvent::Added),
                    StoreWatchEvent::Modified(e) => (e, WatchEvent::Modified),
                    StoreWatchEvent::Deleted(e) => (e, WatchEvent::Deleted),
                    StoreWatchEvent::Compaction(_) => continue,
                };
                if let Some(object) = object_of(&event.change)
                    && object.info().kind == self.info.kind
                {
                    // Upstream: a watch event's object carries the revision of the event — a
                    // DELETED one the deletion's, not the object's last write.
                    let mut object = object.clone();
                    object.metadata_mut().resource_version = Some(event.revision.to_string());
                    return Some(make(object));
                }
            }
        })
    }
}

/// Serves the wire protocol with an [`ApiServer`]: every request is authenticated by bearer
/// token and authorized (Node authorizer, then RBAC over the bootstrap policy and the stored
/// roles and bindings) before it reaches the server.
pub struct ApiHandler {
    api: Arc<ApiServer>,
    authn: Authenticator,
}

/// What a request acts on, for authorization.
struct Target<'a> {
    verb: &'static str,
    info: &'static KindInfo,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<&'static str>,
    object: Option<&'a Object>,
}

#[allow(clippy::too_many_lines, reason = "one arm per request")]
fn target<'a>(request: &'a Request, kinds: &KindRegistry) -> Result<Target<'a>, Status> {
    let named = |verb, r: &str, namespace: &str, name: &str| -> Result<Target<'_>, Status> {
        Ok(Target {
            verb,
            info: resource(kinds, r)?,
            namespace: Some(namespace.to_owned()),
            name: Some(name.to_owned()),
            subresource: None,
            object: None,
        })
    };
    let all = |verb, r: &str, namespace: &Option<String>| -> Result<Target<'_>, Status> {
        Ok(Target {
            verb,
            info: resource(kinds, r)?,
            namespace: namespace.clone(),
            name: None,
            subresource: None,
            object: None,
        })
    };
    match request {
        Request::Create { namespace, object } => Ok(Target {
            verb: "create",
            info: object.info(),
            namespace: namespace
                .clone()
                .or_else(|| object.metadata().namespace.clone()),
            name: None,
            subresource: None,
            object: Some(object),
        }),
        // Reading an object's history is reading the object.
        Request::Get {
            resource: r,
            namespace,
            name,
        }
        | Request::History {
            resource: r,
            namespace,
            name,
        } => named("get", r, namespace, name),
        Request::Delete {
            resource: r,
            namespace,
            name,
            ..
        } => named("delete", r, namespace, name),
        Request::Bind {
            namespace, name, ..
        } => Ok(Target {
            verb: "create",
            info: &info::POD,
            namespace: Some(namespace.clone()),
            name: Some(name.clone()),
            subresource: Some("binding"),
            object: None,
        }),
        Request::List {
            resource: r,
            namespace,
            ..
        } => all("list", r, namespace),
        Request::Watch {
            resource: r,
            namespace,
            ..
        } => all("watch", r, namespace),
        Request::Patch {
            resource: r,
            namespace,
            name,
            ..
        } => named("patch", r, namespace, name),
        Request::GetScale {
            resource: r,
            namespace,
            name,
        } => Ok(Target {
            subresource: Some("scale"),
            ..named("get", r, namespace, name)?
        }),
        Request::UpdateScale { resource: r, scale } => Ok(Target {
            subresource: Some("scale"),
            ..named("update", r, &scale.namespace, &scale.name)?
        }),
        Request::PodLogs {
            namespace, name, ..
        } => Ok(Target {
            verb: "get",
            info: &info::POD,
            namespace: Some(namespace.clone()),
            name: Some(name.clone()),
            subresource: Some("log"),
            object: None,
        }),
        Request::PodExec {
            namespace, name, ..
        } => Ok(Target {
            verb: "create",
            info: &info::POD,
            namespace: Some(namespace.clone()),
            name: Some(name.clone()),
            subresource: Some("exec"),
            object: None,
        }),
        // Upstream maps a proxied GET to `get` and a POST to `create` on `nodes/proxy`.
        Request::NodeCrictl { node, args } => Ok(Target {
            verb: if super::crictl_reads_only(args) {
                "get"
            } else {
                "create"
            },
            info: &info::NODE,
            namespace: None,
            name: Some(node.clone()),
            subresource: Some("proxy"),
            object: None,
        }),
        Request::Update { object } | Request::UpdateStatus { object } => Ok(Target {
            verb: "update",
            info: object.info(),
            namespace: object.metadata().namespace.clone(),
            name: object.metadata().name.clone(),
            subresource: matches!(request, Request::UpdateStatus { .. }).then_some("status"),
            object: Some(object),
        }),
        // Access reviews (every authenticated user may ask about itself, upstream's
        // `system:basic-user` allows creating selfsubjectaccessreviews; asking about another
        // user is checked as impersonation when the review is answered) and etcdctl's
        // requests (authorized as the path `/etcd`).
        _ => Err(Status::bad_request("not a resource request")),
    }
}

impl ApiHandler {
    /// A handler over `api` authenticating with `authn`.
    pub fn new(api: Arc<ApiServer>, authn: Authenticator) -> Self {
        Self { api, authn }
    }

    /// Authorizes `request` for `user`, as upstream's filter chain does before the handler.
    fn authorize(&self, user: &UserInfo, request: &Request) -> Result<(), Status> {
        // Discovery is open to every authenticated user (upstream `system:discovery`).
        if matches!(request, Request::AccessReview { .. } | Request::CustomKinds) {
            return Ok(());
        }
        if let Some(verb) = etcd_verb(request) {
            // The store underneath, as etcdctl sees it. Upstream only the API server (and
            // whoever holds etcd's client certificates) reaches etcd; skiff has no such API,
            // so it authorizes these requests as the non-resource path `/etcd` with one verb
            // per etcdctl command: cluster-admin (`nonResourceURLs: ["*"]`, bound to
            // system:masters) may; anyone else needs a ClusterRole granting that verb on
            // `/etcd`. Refusals read as upstream's for a non-resource path.
            return self.api.authorizer().map_err(to_status)?.authorize(
                &Attributes::non_resource(user, verb, ETCD_PATH),
                &RequestContext::empty(),
            );
        }
        let Target {
            verb,
            info,
            namespace,
            name,
            subresource,
            object,
        } = target(request, self.api.kinds())?;
        let mut attrs = Attributes::resource(user, verb, info);
        if let Some(ns) = namespace
            .as_deref()
            .filter(|n| !n.is_empty() && info.namespaced)
        {
            attrs = attrs.namespace(ns);
        } else if info.namespaced && verb == "create" {
            attrs = attrs.namespace("default");
        }
        if let Some(name) = name.as_deref().filter(|n| !n.is_empty()) {
            attrs = attrs.name(name);
        }
        if let Some(sub) = subresource {
            attrs = attrs.subresource(sub);
        }
        let old = match (verb, &name) {
            ("update" | "patch" | "delete", Some(name)) => self
                .api
                .get(info, namespace.as_deref().unwrap_or(""), name)
                .ok(),
            _ => None,
        };
        let store = self.api.store();
        let pods_on_node = |node: &str| -> Vec<Pod> {
            let keys = store.pods_on_node(node).unwrap_or_default();
            keys.iter()
                .filter_map(|key| match store.get(key) {
                    Ok((_, entry)) => match entry.stored.value {
                        StoredValue::Object(Object::Pod(pod)) => Some(pod),
                        _ => None,
                    },
                    Err(_) => None,
                })
                .collect()
        };
        // A patch is admitted on the object it would make (upstream runs admission on the
        // patched object), so NodeRestriction sees a node patching its own taints or labels.
        let patched = match (request, &old) {
            (
                Request::Patch {
                    patch_type, patch, ..
                },
                Some(old),
            ) => super::patch::preview(self.api.kinds(), info, old, *patch_type, patch),
            _ => None,
        };
        let mut ctx = RequestContext::with_pods(&pods_on_node);
        if let Some(object) = object.or(patched.as_ref()) {
            ctx = ctx.object(object);
        }
        if let Some(old) = &old {
            ctx = ctx.old_object(old);
        }
        self.api
            .authorizer()
            .map_err(to_status)?
            .authorize(&attrs, &ctx)
    }
}

/// The non-resource path etcdctl's requests are authorized as.
pub const ETCD_PATH: &str = "/etcd";

/// The verb an etcdctl request is authorized with on [`ETCD_PATH`]: `get` (range, status),
/// `put`, `delete`, `compact`, `watch`, `snapshot`; `None` for other requests.
fn etcd_verb(request: &Request) -> Option<&'static str> {
    Some(match request {
        Request::EtcdRange { .. } | Request::EtcdStatus | Request::EtcdMemberList => "get",
        Request::EtcdPut { .. } => "put",
        Request::EtcdDelete { .. } => "delete",
        Request::EtcdCompact { .. } => "compact",
        Request::EtcdWatch { .. } => "watch",
        Request::EtcdSnapshot => "snapshot",
        Request::EtcdMemberAdd { .. }
        | Request::EtcdMemberRemove { .. }
        | Request::EtcdMemberPromote { .. } => "member",
        _ => return None,
    })
}

/// etcd's wording for reads out of range, as its server returns them to etcdctl
/// (`etcdserver: mvcc: required revision has been compacted`).
fn etcd_error(e: crate::ReadError) -> Status {
    crate::etcd::EtcdError::from(e).to_status()
}

/// etcdctl's `get [--prefix] [--limit] [--rev] [--keys-only]` on the store: the rows, whether
/// more matched, and how many matched in all (etcd's `count`).
fn etcd_range(
    store: &Store,
    key: &str,
    prefix: bool,
    limit: u64,
    revision: u64,
    keys_only: bool,
) -> Result<crate::wire::EtcdRange, Status> {
    let revision = (revision > 0).then_some(Revision(revision));
    let head = crate::etcd::head(store).map_err(|e| e.to_status())?.0;
    if !prefix {
        let found = match revision {
            None => store.get(key).map(|(_, entry)| entry),
            Some(r) => store.get_at(key, r),
        };
        return match found {
            Ok(mut entry) => Ok(crate::wire::EtcdRange {
                head,
                kvs: vec![(entry.key, {
                    if keys_only {
                        entry.stored.value = StoredValue::Raw(Vec::new());
                    }
                    entry.stored
                })],
                more: false,
                count: 1,
            }),
            Err(crate::ReadError::NotFound { .. }) => Ok(crate::wire::EtcdRange {
                head,
                kvs: Vec::new(),
                more: false,
                count: 0,
            }),
            Err(e) => Err(etcd_error(e)),
        };
    }
    let page = store
        .list(
            key,
            &ListOptions {
                revision,
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
                keys_only,
                ..ListOptions::default()
            },
        )
        .map_err(etcd_error)?;
    let mut count = page.entries.len() as u64;
    if let Some(after) = &page.continue_after {
        let rest = store
            .list(
                key,
                &ListOptions {
                    revision: Some(page.revision),
                    continue_after: Some(after.clone()),
                    keys_only: true,
                    ..ListOptions::default()
                },
            )
            .map_err(etcd_error)?;
        count += rest.entries.len() as u64;
    }
    Ok(crate::wire::EtcdRange {
        head,
        more: page.continue_after.is_some(),
        count,
        kvs: page
            .entries
            .into_iter()
            .map(|e| (e.key, e.stored))
            .collect(),
    })
}

/// The authorizer for the roles and bindings in force, rebuilt only after one of them changed.
///
/// A task watches the log for writes under the four RBAC prefixes and bumps a generation; the
/// next request rebuilds the snapshot. Like upstream's informer-fed authorizer, a request that
/// races a role change may be judged by the previous roles for a moment.
pub(crate) struct RbacCache {
    generation: AtomicU64,
    current: Mutex<Option<(u64, Arc<Authorizer>)>>,
}

/// Registry prefixes whose changes invalidate the RBAC snapshot.
const RBAC_PREFIXES: [&str; 4] = [
    info::ROLE.registry_prefix,
    info::CLUSTER_ROLE.registry_prefix,
    info::ROLE_BINDING.registry_prefix,
    info::CLUSTER_ROLE_BINDING.registry_prefix,
];

impl RbacCache {
    /// A cache whose invalidation task follows `store` from its head. Needs a runtime.
    pub(crate) fn start(store: &Store) -> Arc<Self> {
        let cache = Arc::new(Self {
            generation: AtomicU64::new(0),
            current: Mutex::new(None),
        });
        let from = store.status().map_or(Revision::ZERO, |s| s.revision);
        let (store, weak) = (store.clone(), Arc::downgrade(&cache));
        tokio::spawn(async move {
            let mut from = from;
            loop {
                let Ok(mut watch) = store.watch("", from) else {
                    return;
                };
                loop {
                    match watch.next().await {
                        Ok(event) => {
                            let Some(cache) = weak.upgrade() else { return };
                            let key = crate::tables::event_key(&event.change).unwrap_or_default();
                            if RBAC_PREFIXES.iter().any(|p| key.starts_with(p)) {
                                cache.generation.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Err(WatchError::Overflowed { resume_from }) => {
                            // Events were skipped: assume a role changed among them.
                            let Some(cache) = weak.upgrade() else { return };
                            cache.generation.fetch_add(1, Ordering::SeqCst);
                            from = resume_from;
                            break;
                        }
                        Err(_) => return,
                    }
                }
            }
        });
        cache
    }
}

impl ApiServer {
    /// The roles and bindings in force: upstream's bootstrap policy plus every stored Role,
    /// ClusterRole, RoleBinding and ClusterRoleBinding.
    pub fn rbac_snapshot(&self) -> Result<RbacSnapshot, ApiError> {
        let mut objects = Vec::new();
        for info in [
            &info::ROLE,
            &info::CLUSTER_ROLE,
            &info::ROLE_BINDING,
            &info::CLUSTER_ROLE_BINDING,
        ] {
            objects.extend(self.list(info, None, &ListOptions::default())?.items);
        }
        Ok(RbacSnapshot::with_bootstrap_policy(&objects))
    }

    /// The authorizer for the current roles and bindings, cached until one of them changes.
    pub fn authorizer(&self) -> Result<Arc<Authorizer>, ApiError> {
        let generation = self.rbac.generation.load(Ordering::SeqCst);
        let mut current = self
            .rbac
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((built_at, authorizer)) = current.as_ref()
            && *built_at == generation
        {
            return Ok(authorizer.clone());
        }
        let authorizer = Arc::new(Authorizer::new(self.rbac_snapshot()?));
        *current = Some((generation, authorizer.clone()));
        Ok(authorizer)
    }
}

impl ApiServer {
    /// Answers an access review for `caller` (upstream `SelfSubjectAccessReview`, or
    /// `SubjectAccessReview` when `review.user` names someone else): whether the authorizers
    /// (Node, then RBAC) would allow the request. Asking about another user or groups needs the
    /// rights to impersonate them (upstream's `impersonate` verb on `users` and `groups`),
    /// which only admins (`system:masters`) hold by default.
    ///
    /// # Errors
    /// 403 when the caller may not impersonate the user or a group asked about.
    pub fn access_review(
        &self,
        caller: &UserInfo,
        review: &AccessReview,
    ) -> Result<AccessDecision, Status> {
        let authorizer = self.authorizer().map_err(to_status)?;
        let ctx = RequestContext::empty();
        let subject = if review.user.is_empty() && review.groups.is_empty() {
            caller.clone()
        } else {
            let mut checks = vec![
                Attributes::resource_in(caller, "impersonate", "", "users").name(&review.user),
            ];
            for group in &review.groups {
                checks
                    .push(Attributes::resource_in(caller, "impersonate", "", "groups").name(group));
            }
            for attrs in &checks {
                authorizer.authorize(attrs, &ctx)?;
            }
            let groups: Vec<&str> = review.groups.iter().map(String::as_str).collect();
            UserInfo::new(review.user.clone(), &groups).with_authenticated_group()
        };
        let attrs =
            Attributes::resource_in(&subject, &review.verb, &review.group, &review.resource)
                .namespace(&review.namespace)
                .name(&review.name)
                .subresource(&review.subresource);
        let decision = authorizer.decide(&attrs, &ctx);
        Ok(AccessDecision {
            allowed: decision.is_allowed(),
            reason: decision.reason().to_owned(),
        })
    }
}

/// The span of one API request (upstream's apiserver logs each request with its verb, resource,
/// namespace, name and user): `request{verb resource namespace name user}`, with one debug
/// event when it starts.
fn request_span(user: &UserInfo, request: &Request, kinds: &KindRegistry) -> tracing::Span {
    let span = if let Ok(t) = target(request, kinds) {
        tracing::debug_span!(
            "request",
            verb = t.verb,
            resource = t.info.plural,
            subresource = t.subresource.unwrap_or(""),
            namespace = t.namespace.as_deref().unwrap_or(""),
            name = t.name.as_deref().unwrap_or(""),
            user = %user.name,
        )
    } else {
        tracing::debug_span!("request", verb = request_verb(request), user = %user.name)
    };
    span.in_scope(|| tracing::debug!("request"));
    span
}

/// The verb of a request that names no resource.
fn request_verb(request: &Request) -> &'static str {
    match request {
        Request::AccessReview { .. } => "create selfsubjectaccessreviews",
        Request::EtcdRange { .. } => "etcd range",
        Request::EtcdStatus => "etcd status",
        _ => "other",
    }
}

impl Handler for ApiHandler {
    fn authenticate(&self, token: &str) -> Result<UserInfo, Status> {
        self.authn.authenticate(Some(token))
    }

    fn authorize(&self, user: &UserInfo, request: &Request) -> Result<(), Status> {
        ApiHandler::authorize(self, user, request)
    }

    fn kinds(&self) -> KindRegistry {
        self.api.kinds().clone()
    }

    #[allow(
        clippy::too_many_lines,
        reason = "one short arm per request reads best as one dispatch"
    )]
    fn call<'a>(
        &'a self,
        user: &'a UserInfo,
        request: Request,
    ) -> BoxFuture<'a, Result<Response, Status>> {
        let span = request_span(user, &request, self.api.kinds());
        Box::pin(tracing::Instrument::instrument(
            async move {
                self.authorize(user, &request)?;
                let actor = Actor::new(user.name.clone());
                let api = &self.api;
                match request {
                    Request::Create { namespace, object } => api
                        .create(&actor, namespace.as_deref(), object)
                        .await
                        .map(Response::Object)
                        .map_err(to_status),
                    Request::Get {
                        resource: r,
                        namespace,
                        name,
                    } => {
                        let info = resource(self.api.kinds(), &r)?;
                        consistent_read(api.store()).await?;
                        api.get(info, &namespace, &name)
                            .map(Response::Object)
                            .map_err(to_status)
                    }
                    Request::List {
                        resource: r,
                        namespace,
                        params,
                    } => {
                        let info = resource(self.api.kinds(), &r)?;
                        if needs_consistent_read(&params) {
                            consistent_read(api.store()).await?;
                        }
                        api.list_params(info, namespace.as_deref(), &params)
                            .map(Response::List)
                    }
                    Request::Update { object } => api
                        .update(&actor, object)
                        .await
                        .map(Response::Object)
                        .map_err(to_status),
                    Request::UpdateStatus { object } => api
                        .update_status(&actor, object)
                        .await
                        .map(Response::Object)
                        .map_err(to_status),
                    Request::Delete {
                        resource: r,
                        namespace,
                        name,
                        options,
                    } => api
                        .delete(
                            &actor,
                            resource(self.api.kinds(), &r)?,
                            &namespace,
                            &name,
                            &options,
                        )
                        .await
                        .map(Response::Deleted)
                        .map_err(to_status),
                    Request::Bind {
                        namespace,
                        name,
                        binding,
                    } => api
                        .bind(&actor, &namespace, &name, &binding)
                        .await
                        .map(Response::Object)
                        .map_err(to_status),
                    Request::History {
                        resource: r,
                        namespace,
                        name,
                    } => api
                        .history(resource(self.api.kinds(), &r)?, &namespace, &name)
                        .map(Response::History),
                    Request::Patch {
                        resource: r,
                        namespace,
                        name,
                        patch_type,
                        patch,
                    } => api
                        .patch(
                            &actor,
                            resource(self.api.kinds(), &r)?,
                            &namespace,
                            &name,
                            patch_type,
                            &patch,
                        )
                        .await
                        .map(Response::Object)
                        .map_err(to_status),
                    Request::GetScale {
                        resource: r,
                        namespace,
                        name,
                    } => api
                        .get_scale(resource(self.api.kinds(), &r)?, &namespace, &name)
                        .map(Response::Scale)
                        .map_err(to_status),
                    Request::UpdateScale { resource: r, scale } => api
                        .update_scale(&actor, resource(self.api.kinds(), &r)?, &scale)
                        .await
                        .map(Response::Scale)
                        .map_err(to_status),
                    Request::AccessReview { review } => {
                        api.access_review(user, &review).map(Response::Access)
                    }
                    Request::EtcdRange {
                        key,
                        prefix,
                        limit,
                        revision,
                        keys_only,
                    } => {
                        // etcd's Range is linearizable unless asked to be serializable.
                        consistent_read(api.store()).await?;
                        etcd_range(api.store(), &key, prefix, limit, revision, keys_only)
                            .map(Response::EtcdRange)
                    }
                    Request::EtcdPut { key, value } => {
                        crate::etcd::put(api.store(), &actor, &key, value)
                            .await
                            .map(|r| Response::EtcdRevision(r.0))
                            .map_err(|e| e.to_status())
                    }
                    Request::EtcdDelete { key, prefix } => {
                        crate::etcd::delete(api.store(), &actor, &key, prefix)
                            .await
                            .map(|(revision, deleted)| Response::EtcdDeleted {
                                revision: revision.0,
                                deleted,
                            })
                            .map_err(|e| e.to_status())
                    }
                    Request::EtcdCompact { revision } => {
                        crate::etcd::compact(api.store(), &actor, revision)
                            .await
                            .map(|r| Response::EtcdRevision(r.0))
                            .map_err(|e| e.to_status())
                    }
                    Request::EtcdStatus => {
                        let s = api.store().status().map_err(etcd_error)?;
                        Ok(Response::EtcdStatus(crate::wire::EtcdStatus {
                            revision: s.revision.0,
                            compacted: s.compacted.0,
                            events: s.events,
                            keys: s.keys,
                            hash: s.hash,
                            raft: None,
                        }))
                    }
                    // Answered by a replicated member's wire server (`wire::serve_member`).
                    Request::EtcdMemberList
                    | Request::EtcdMemberAdd { .. }
                    | Request::EtcdMemberRemove { .. }
                    | Request::EtcdMemberPromote { .. } => Err(Status::bad_request(
                        "etcdserver: this server is not a member of a replicated control plane",
                    )),
                    Request::CustomKinds => Ok(Response::CustomKinds(
                        api.kinds().custom_kinds().map(Into::into).collect(),
                    )),
                    Request::PodLogs {
                        namespace,
                        name,
                        params,
                    } => api
                        .pod_logs(&namespace, &name, &params)
                        .await
                        .map(Response::Logs),
                    Request::PodExec {
                        namespace,
                        name,
                        params,
                    } => api
                        .pod_exec(&namespace, &name, &params)
                        .await
                        .map(Response::Exec),
                    Request::NodeCrictl { node, args } => {
                        api.node_crictl(&node, &args).await.map(Response::Exec)
                    }
                    Request::Watch { .. } | Request::EtcdWatch { .. } | Request::EtcdSnapshot => {
                        Err(Status::bad_request("watch is a streaming request"))
                    }
                }
            },
            span,
        ))
    }

    fn watch<'a>(
        &'a self,
        user: &'a UserInfo,
        request: Request,
    ) -> BoxFuture<'a, Result<Box<dyn WatchStream>, Status>> {
        let _span = request_span(user, &request, self.api.kinds());
        Box::pin(async move {
            self.authorize(user, &request)?;
            let Request::Watch {
                resource: r,
                namespace,
                params,
            } = request
            else {
                return Err(Status::bad_request("not a watch request"));
            };
            self.api.watch_params(
                resource(self.api.kinds(), &r)?,
                namespace.as_deref(),
                &params,
            )
        })
    }

    fn stream<'a>(
        &'a self,
        user: &'a UserInfo,
        request: Request,
    ) -> BoxFuture<'a, Result<Box<dyn ItemStream>, Status>> {
        Box::pin(async move {
            self.authorize(user, &request)?;
            let store = self.api.store();
            match request {
                Request::EtcdWatch {
                    key,
                    prefix,
                    revision,
                } => {
                    let watch = crate::etcd::KeyWatch::start(store, &key, prefix, revision)
                        .map_err(|e| e.to_status())?;
                    Ok(Box::new(EtcdWatchStream { watch, done: false }) as Box<dyn ItemStream>)
                }
                Request::EtcdSnapshot => {
                    let chunks =
                        crate::etcd::SnapshotChunks::save(store).map_err(|e| e.to_status())?;
                    Ok(Box::new(SnapshotStream {
                        chunks,
                        done: false,
                    }) as Box<dyn ItemStream>)
                }
                _ => Err(Status::bad_request("not a streamed request")),
            }
        })
    }
}

/// An etcdctl watch as a stream of wire items: the matching events, then an error if the
/// watch ends (compaction, the store stopping).
struct EtcdWatchStream {
    watch: crate::etcd::KeyWatch,
    done: bool,
}

impl ItemStream for EtcdWatchStream {
    fn next(&mut self) -> BoxFuture<'_, Option<StreamItem>> {
        Box::pin(async move {
            if self.done {
                return None;
            }
            match self.watch.next().await {
                Ok(event) => Some(StreamItem::Event(Arc::unwrap_or_clone(event))),
                Err(e) => {
                    self.done = true;
                    Some(StreamItem::Error(e.to_status()))
                }
            }
        })
    }
}

/// A snapshot as a stream of chunks, then [`StreamItem::End`].
struct SnapshotStream {
    chunks: crate::etcd::SnapshotChunks,
    done: bool,
}

impl ItemStream for SnapshotStream {
    fn next(&mut self) -> BoxFuture<'_, Option<StreamItem>> {
        let item = if self.done {
            None
        } else {
            match self.chunks.next_chunk() {
                Ok(Some(chunk)) => Some(StreamItem::Chunk(chunk)),
                Ok(None) => {
                    self.done = true;
                    Some(StreamItem::End)
                }
                Err(e) => {
                    self.done = true;
                    Some(StreamItem::Error(e.to_status()))
                }
            }
        };
        Box::pin(async move { item })
    }
}

/// The API in-process, as one user: the [`Client`] controllers use when they run beside the
/// API server.
pub struct LocalClient {
    api: Arc<ApiServer>,
    actor: Actor,
}

impl LocalClient {
    /// A client acting as `user`.
    pub fn new(api: Arc<ApiServer>, user: &str) -> Self {
        Self {
            api,
            actor: Actor::new(user),
        }
    }
}

impl LocalClient {
    /// The span of one in-process request, shaped as the wire's (`request{verb resource
    /// namespace name user}`), with one debug event.
    fn span(
        &self,
        verb: &'static str,
        info: &KindInfo,
        namespace: &str,
        name: &str,
    ) -> tracing::Span {
        let span = tracing::debug_span!(
            "request",
            verb,
            resource = info.plural,
            subresource = "",
            namespace,
            name,
            user = %self.actor.user,
        );
        span.in_scope(|| tracing::debug!("request"));
        span
    }
}

fn client_err(e: ApiError) -> ClientError {
    match e {
        ApiError::Rejected(status) => ClientError::Status(status),
        ApiError::Fatal(fatal) => ClientError::Transport(fatal.to_string()),
    }
}

impl Client for LocalClient {
    fn create(
        &self,
        namespace: Option<&str>,
        object: Object,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let namespace = namespace.map(str::to_owned);
        let span = self.span(
            "create",
            object.info(),
            namespace
                .as_deref()
                .unwrap_or(object.metadata().namespace_or_empty()),
            object.metadata().name_or_empty(),
        );
        Box::pin(tracing::Instrument::instrument(
            async move {
                self.api
                    .create(&self.actor, namespace.as_deref(), object)
                    .await
                    .map_err(client_err)
            },
            span,
        ))
    }

    fn get(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let span = self.span("get", resource, namespace, name);
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        Box::pin(tracing::Instrument::instrument(
            async move {
                consistent_read(self.api.store())
                    .await
                    .map_err(ClientError::Status)?;
                self.api
                    .get(resource, &namespace, &name)
                    .map_err(client_err)
            },
            span,
        ))
    }

    fn list(
        &self,
        resource: &'static KindInfo,
        namespace: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<ObjectList, ClientError>> {
        let span = self.span("list", resource, namespace.unwrap_or(""), "");
        let namespace = namespace.map(str::to_owned);
        Box::pin(tracing::Instrument::instrument(
            async move {
                if needs_consistent_read(&params) {
                    consistent_read(self.api.store())
                        .await
                        .map_err(ClientError::Status)?;
                }
                self.api
                    .list_params(resource, namespace.as_deref(), &params)
                    .map_err(ClientError::Status)
            },
            span,
        ))
    }

    fn update(&self, object: Object) -> BoxFuture<'_, Result<Object, ClientError>> {
        let span = self.span(
            "update",
            object.info(),
            object.metadata().namespace_or_empty(),
            object.metadata().name_or_empty(),
        );
        Box::pin(tracing::Instrument::instrument(
            async move {
                self.api
                    .update(&self.actor, object)
                    .await
                    .map_err(client_err)
            },
            span,
        ))
    }

    fn update_status(&self, object: Object) -> BoxFuture<'_, Result<Object, ClientError>> {
        let span = self.span(
            "update",
            object.info(),
            object.metadata().namespace_or_empty(),
            object.metadata().name_or_empty(),
        );
        Box::pin(tracing::Instrument::instrument(
            async move {
                self.api
                    .update_status(&self.actor, object)
                    .await
                    .map_err(client_err)
            },
            span,
        ))
    }

    fn delete(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
        options: DeleteOptions,
    ) -> BoxFuture<'_, Result<Deleted, ClientError>> {
        let span = self.span("delete", resource, namespace, name);
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        Box::pin(tracing::Instrument::instrument(
            async move {
                self.api
                    .delete(&self.actor, resource, &namespace, &name, &options)
                    .await
                    .map_err(client_err)
            },
            span,
        ))
    }

    fn bind(
        &self,
        namespace: &str,
        name: &str,
        binding: Binding,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let span = self.span("create", &info::POD, namespace, name);
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        Box::pin(tracing::Instrument::instrument(
            async move {
                self.api
                    .bind(&self.actor, &namespace, &name, &binding)
                    .await
                    .map_err(client_err)
            },
            span,
        ))
    }

    fn history(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Vec<Event>, ClientError>> {
        let result = self
            .api
            .history(resource, namespace, name)
            .map_err(ClientError::Status);
        Box::pin(async move { result })
    }

    fn watch(
        &self,
        resource: &'static KindInfo,
        namespace: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<Box<dyn WatchStream>, ClientError>> {
        let result = self
            .api
            .watch_params(resource, namespace, &params)
            .map_err(ClientError::Status);
        Box::pin(async move { result })
    }

    fn patch(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        patch: Vec<u8>,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        Box::pin(async move {
            self.api
                .patch(&self.actor, resource, &namespace, &name, patch_type, &patch)
                .await
                .map_err(client_err)
        })
    }

    fn get_scale(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Scale, ClientError>> {
        let result = self
            .api
            .get_scale(resource, namespace, name)
            .map_err(client_err);
        Box::pin(async move { result })
    }

    fn update_scale(
        &self,
        resource: &'static KindInfo,
        scale: Scale,
    ) -> BoxFuture<'_, Result<Scale, ClientError>> {
        Box::pin(async move {
            self.api
                .update_scale(&self.actor, resource, &scale)
                .await
                .map_err(client_err)
        })
    }

    fn access_review(
        &self,
        review: AccessReview,
    ) -> BoxFuture<'_, Result<AccessDecision, ClientError>> {
        // In-process callers act with the rights of the user they were made for; the
        // controllers that use this client are trusted components, so the review is
        // answered as for an admin caller (impersonation allowed).
        let caller = UserInfo::new(self.actor.user.clone(), &[super::authn::GROUP_MASTERS]);
        let result = self
            .api
            .access_review(&caller, &review)
            .map_err(ClientError::Status);
        Box::pin(async move { result })
    }

    fn pod_logs(
        &self,
        namespace: &str,
        name: &str,
        params: LogParams,
    ) -> BoxFuture<'_, Result<String, ClientError>> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        Box::pin(async move {
            self.api
                .pod_logs(&namespace, &name, &params)
                .await
                .map_err(ClientError::Status)
        })
    }

    fn pod_exec(
        &self,
        namespace: &str,
        name: &str,
        params: ExecParams,
    ) -> BoxFuture<'_, Result<ExecOutput, ClientError>> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        Box::pin(async move {
            self.api
                .pod_exec(&namespace, &name, &params)
                .await
                .map_err(ClientError::Status)
        })
    }

    fn node_crictl(
        &self,
        node: &str,
        args: Vec<String>,
    ) -> BoxFuture<'_, Result<ExecOutput, ClientError>> {
        let node = node.to_owned();
        Box::pin(async move {
            self.api
                .node_crictl(&node, &args)
                .await
                .map_err(ClientError::Status)
        })
    }
}
