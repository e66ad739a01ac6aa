//! The Kubernetes-compatible HTTP/JSON API (skiff issue #10): what kubectl, kube-rs and the
//! Python client speak, in front of the same API server as the wire protocol.
//!
//! Every resource request is translated into a wire [`Request`] and served by a wire
//! [`Handler`] (the [`skiff_store::apiserver::ApiHandler`]), so authentication (bearer
//! tokens), authorization (Node authorizer, RBAC) and admission are exactly the wire's. The
//! HTTP layer adds upstream's URL layout, content negotiation (JSON and server-side `Table`s),
//! `Status` bodies, discovery, `/version` and health checks.
//!
//! PATCH: merge and strategic merge patches of an object go to the API server's own PATCH
//! (`$setElementOrder` directives, which only order a list, are dropped first); JSON patches
//! (RFC 6902), patches of `status` and `scale`, and server-side apply
//! (`application/apply-patch+yaml`) are read, changed and written back with the read's
//! resourceVersion as precondition (retried on conflict). Server-side apply is simplified: it
//! creates a missing object or is merged into an existing one, without managed fields.
//! Request bodies are JSON, except kubectl's protobuf `SelfSubjectAccessReview` (other
//! protobuf bodies get 415). `deletecollection` deletes what the selectors match one by one,
//! each authorized as a `delete`. `Impersonate-User`/`-Group` (kubectl `--as`) are honoured
//! when the caller may impersonate. `pods/log` is served as text (`logs.rs`, with `follow`);
//! `exec` over WebSocket (`exec.rs`, kubectl's `v5.channel.k8s.io`). Not served yet: SPDY,
//! `attach`, `port-forward`. OpenAPI v2 and v3 documents with every kind's schema are
//! `openapi.rs`'s; `events.k8s.io/v1` Events are the core Events converted (`events.rs`).
//!
//! [`HttpApi::handle`] works on plain values ([`HttpRequest`] → [`HttpResponse`]) so tests can
//! call it directly; [`serve`] runs it over HTTP/1.1 (hyper). Compiled out under `--cfg
//! madsim` (hyper runs on the real tokio).

mod discovery;
mod encode;
mod events;
mod exec;
mod logs;
mod openapi;
mod patch;
mod query;
#[allow(
    dead_code,
    reason = "served once the API server's access review lands on main"
)]
mod review;
mod table;
mod tls;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use skiff_core::client::{
    AccessReview, Binding, DeleteOptions, Deleted, ListParams, PatchType, Propagation, Scale,
    WatchEvent,
};
use skiff_core::clock::{Clock, unix_micros};
use skiff_core::manifest;
use skiff_core::object::{KindInfo, KindRegistry, Object, Time};
use skiff_core::status::Reason;
use skiff_store::apiserver::authn::UserInfo;
use skiff_store::wire::{Handler, Request, Response};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

pub use discovery::KUBERNETES_MINOR;
pub use encode::HttpError;
use encode::{IncludeObject, TableOptions, WatchFormat};
pub use logs::{LogCursor, still_writing};
use query::{Query, segments};
pub use tls::TlsIdentity;

/// Largest request body accepted (upstream's `--max-request-body-bytes` default is 3 MiB).
pub const REQUEST_BODY_BYTES_MAX: usize = 3 * 1024 * 1024;
/// Watch lines buffered per watch before the pump waits for the client.
const WATCH_LINES_BUFFERED: usize = 256;
/// Patch retries when the object changed between the read and the write (upstream retries a
/// patch on conflict too, up to 5 times).
const PATCH_ATTEMPTS_MAX: usize = 5;

/// One HTTP request, as plain values.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query (`/api/v1/pods?watch=1`).
    pub uri: String,
    /// Headers, names lower-cased (the first value of each).
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A request with no headers and no body.
    pub fn new(method: &str, uri: &str) -> Self {
        Self {
            method: method.to_owned(),
            uri: uri.to_owned(),
            ..Self::default()
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .insert(name.to_ascii_lowercase(), value.to_owned());
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// A response body: whole, or a stream of chunks (a watch).
#[derive(Debug)]
pub enum HttpBody {
    /// The whole body.
    Full(Vec<u8>),
    /// Chunks as they come; the stream ends when the sender is dropped.
    Stream(mpsc::Receiver<Bytes>),
}

/// One HTTP response, as plain values.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: HttpBody,
}

impl HttpResponse {
    fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: HttpBody::Full(serde_json::to_vec(value).unwrap_or_default()),
        }
    }

    fn text(status: u16, text: &str) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: HttpBody::Full(text.as_bytes().to_vec()),
        }
    }

    fn error(error: &HttpError) -> Self {
        Self::json(error.code, &error.to_json())
    }

    /// The whole body (empty for a stream).
    pub fn bytes(&self) -> &[u8] {
        match &self.body {
            HttpBody::Full(b) => b,
            HttpBody::Stream(_) => &[],
        }
    }

    /// The body parsed as JSON (`Null` when it is not JSON).
    pub fn json_body(&self) -> Value {
        serde_json::from_slice(self.bytes()).unwrap_or(Value::Null)
    }
}

/// How a GET's result is rendered (the `Accept` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Render {
    Json,
    Table(&'static str),
    /// `PartialObjectMetadata` / `PartialObjectMetadataList` (metadata-only informers).
    Metadata(&'static str),
}

/// Whether an `Accept` header allows JSON (none does too): the OpenAPI documents are served as
/// JSON only.
fn accepts_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return true;
    };
    accept.split(',').any(|range| {
        let media = range.split(';').next().unwrap_or("").trim();
        matches!(
            media.to_ascii_lowercase().as_str(),
            "application/json" | "application/*" | "*/*"
        )
    })
}

/// Picks the first acceptable media type of an `Accept` header: a `Table` (`as=Table;
/// g=meta.k8s.io; v=v1|v1beta1`) or JSON. Protobuf and other `as=` kinds are skipped.
fn negotiate(accept: Option<&str>) -> Result<Render, HttpError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Render::Json);
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let params: BTreeMap<String, String> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        if !matches!(media.as_str(), "application/json" | "application/*" | "*/*") {
            continue;
        }
        match params.get("as").map(String::as_str) {
            None => return Ok(Render::Json),
            Some(kind @ ("Table" | "PartialObjectMetadata" | "PartialObjectMetadataList"))
                if params.get("g").map(String::as_str) == Some("meta.k8s.io") =>
            {
                let version = match params.get("v").map(String::as_str) {
                    Some("v1") => "meta.k8s.io/v1",
                    Some("v1beta1") => "meta.k8s.io/v1beta1",
                    _ => continue,
                };
                return Ok(if kind == "Table" {
                    Render::Table(version)
                } else {
                    Render::Metadata(version)
                });
            }
            Some(_) => {}
        }
    }
    Err(HttpError::new(
        406,
        "NotAcceptable",
        format!(
            "only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io (got {accept})"
        ),
    ))
}

/// Which object a resource request names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    info: &'static KindInfo,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn find_kind(
    kinds: &KindRegistry,
    group: &str,
    version: &str,
    plural: &str,
) -> Result<&'static KindInfo, HttpError> {
    kinds
        .find(group, version, plural)
        .ok_or_else(HttpError::not_found_path)
}

/// Parses the part of a resource path after `/api/v1` or `/apis/<group>/<version>`.
fn parse_target(
    kinds: &KindRegistry,
    group: &str,
    version: &str,
    rest: &[String],
) -> Result<Target, HttpError> {
    let at = |i: usize| rest.get(i).cloned();
    let namespaced_path = rest.len() >= 3
        && rest[0] == "namespaces"
        && !(rest.len() == 3 && matches!(rest[2].as_str(), "status" | "finalize"));
    let (info, namespace, tail) = if namespaced_path {
        let info = find_kind(kinds, group, version, &rest[2])?;
        if !info.namespaced {
            return Err(HttpError::not_found_path());
        }
        (info, at(1), &rest[3..])
    } else {
        let Some(plural) = rest.first() else {
            return Err(HttpError::not_found_path());
        };
        let info = find_kind(kinds, group, version, plural)?;
        // A namespaced kind without a namespace is only a list across all of them.
        if info.namespaced && rest.len() > 1 {
            return Err(HttpError::not_found_path());
        }
        (info, None, &rest[1..])
    };
    if tail.len() > 2 {
        return Err(HttpError::not_found_path());
    }
    Ok(Target {
        info,
        namespace,
        name: tail.first().cloned(),
        subresource: tail.get(1).cloned(),
    })
}

/// The API over HTTP: a wire [`Handler`] plus the clock `AGE` columns are counted with.
pub struct HttpApi {
    handler: Arc<dyn Handler>,
    /// The kinds served (the handler's): discovery, paths and bodies of custom kinds.
    kinds: KindRegistry,
    clock: Arc<dyn Clock>,
    unsecured: Option<UserInfo>,
}

/// The user a request without credentials is served as on a loopback-only listener with
/// [`HttpApi::loopback_unsecured`]: upstream's old insecure port (`localhost:8080`, removed in
/// 1.20) served such requests as `system:unsecured` in `system:masters`.
pub fn unsecured_user() -> UserInfo {
    UserInfo::new(
        "system:unsecured",
        &["system:masters", "system:authenticated"],
    )
}

fn now_time(clock: &dyn Clock) -> Time {
    Time::from_unix_seconds(unix_micros(clock.wall()).div_euclid(1_000_000))
}

fn wire_error(status: skiff_core::status::Status) -> HttpError {
    HttpError::from(status)
}

impl HttpApi {
    /// The HTTP API over `handler` (usually an [`skiff_store::apiserver::ApiHandler`]).
    pub fn new(handler: Arc<dyn Handler>, clock: Arc<dyn Clock>) -> Self {
        Self {
            kinds: handler.kinds(),
            handler,
            clock,
            unsecured: None,
        }
    }

    /// Serves requests that carry no `Authorization` header as [`unsecured_user`], as
    /// upstream's insecure loopback port did. kubectl sends a kubeconfig's bearer token only
    /// over TLS (client-go sets it for https servers only; kubernetes/kubectl#744), so over
    /// plain HTTP this is what lets `kubectl --kubeconfig` work. Only for a listener bound to
    /// a loopback address; a request with a token is still authenticated by it.
    #[must_use]
    pub fn loopback_unsecured(mut self, enabled: bool) -> Self {
        self.unsecured = enabled.then(unsecured_user);
        self
    }

    /// Serves one request.
    pub async fn handle(&self, request: HttpRequest) -> HttpResponse {
        match self.route(&request).await {
            Ok(response) => response,
            Err(error) => HttpResponse::error(&error),
        }
    }

    fn authenticate(&self, request: &HttpRequest) -> Result<UserInfo, HttpError> {
        if let Some(user) = &self.unsecured
            && !request.headers.contains_key("authorization")
        {
            return Ok(user.clone());
        }
        // Upstream's bearer-token authenticator: `Bearer <token>` (scheme case-insensitive);
        // anything else is a request without credentials.
        let token = request
            .headers
            .get("authorization")
            .and_then(|value| {
                let mut parts = value.trim().splitn(3, ' ');
                let scheme = parts.next()?;
                let token = parts.next()?;
                scheme.eq_ignore_ascii_case("bearer").then_some(token)
            })
            .unwrap_or("");
        self.handler.authenticate(token).map_err(wire_error)
    }

    #[allow(clippy::too_many_lines, reason = "one arm per path shape")]
    async fn route(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        let (path, query) = request
            .uri
            .split_once('?')
            .unwrap_or((request.uri.as_str(), ""));
        let segs = segments(path);
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let get_only = || {
            if request.method == "GET" {
                Ok(())
            } else {
                Err(HttpError::method_not_allowed())
            }
        };
        // Public endpoints (upstream's `system:public-info-viewer`).
        match segs.as_slice() {
            ["version"] => {
                get_only()?;
                return Ok(HttpResponse::json(200, &discovery::version()));
            }
            ["healthz" | "readyz" | "livez", ..] => {
                get_only()?;
                return Ok(HttpResponse::text(200, "ok"));
            }
            _ => {}
        }
        let user = self
            .impersonate(self.authenticate(request)?, request)
            .await?;
        let host = request.headers.get("host").map_or("", String::as_str);
        let found = |v: Option<Value>| {
            v.map(|v| HttpResponse::json(200, &v))
                .ok_or_else(HttpError::not_found_path)
        };
        let accept = request.headers.get("accept").map(String::as_str);
        match segs.as_slice() {
            ["api" | "apis"] if discovery::wants_aggregated(accept) => {
                get_only()?;
                let mut response =
                    HttpResponse::json(200, &discovery::aggregated(&self.kinds, segs == ["api"]));
                // client-go tells the aggregated document from the legacy one by this.
                response.content_type = discovery::AGGREGATED_MEDIA_TYPE;
                Ok(response)
            }
            ["api"] => {
                get_only()?;
                Ok(HttpResponse::json(200, &discovery::core_versions(host)))
            }
            ["apis"] => {
                get_only()?;
                Ok(HttpResponse::json(200, &discovery::group_list(&self.kinds)))
            }
            ["apis", group] => {
                get_only()?;
                found(discovery::group(&self.kinds, group))
            }
            ["api", version] => {
                get_only()?;
                found(discovery::resource_list(&self.kinds, "", version))
            }
            ["apis", group, version] => {
                get_only()?;
                found(discovery::resource_list(&self.kinds, group, version))
            }
            ["openapi", "v2"] => {
                get_only()?;
                let gvs = discovery::schema_group_versions(&self.kinds);
                let document = openapi::v2(&self.kinds, &gvs);
                if openapi::wants_v2_protobuf(accept) {
                    return Ok(HttpResponse {
                        status: 200,
                        content_type: openapi::V2_PROTOBUF,
                        body: HttpBody::Full(openapi::v2_protobuf(&document)),
                    });
                }
                if !accepts_json(accept) {
                    return Err(HttpError::new(
                        406,
                        "NotAcceptable",
                        "only application/json and protobuf are served",
                    ));
                }
                Ok(HttpResponse::json(200, &document))
            }
            ["openapi", "v3"] => {
                get_only()?;
                let gvs = discovery::schema_group_versions(&self.kinds);
                Ok(HttpResponse::json(200, &openapi::v3_root(&gvs)))
            }
            ["openapi", "v3", "api", version] => {
                get_only()?;
                found(openapi::v3_group_version(&self.kinds, "", version))
            }
            ["openapi", "v3", "apis", group, version] => {
                get_only()?;
                found(openapi::v3_group_version(&self.kinds, group, version))
            }
            ["api", version, rest @ ..] => {
                let rest: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
                let target = parse_target(&self.kinds, "", version, &rest)?;
                self.resource(&user, request, &Query::parse(query), target)
                    .await
            }
            [
                "apis",
                "authorization.k8s.io",
                "v1",
                "selfsubjectaccessreviews",
            ] => self.access_review(&user, request, true).await,
            ["apis", "authorization.k8s.io", "v1", "subjectaccessreviews"] => {
                self.access_review(&user, request, false).await
            }
            ["apis", events::GROUP, "v1", rest @ ..] if !rest.is_empty() => {
                self.events_v1(&user, request, rest, query).await
            }
            ["apis", group, version, rest @ ..] => {
                let rest: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
                let target = parse_target(&self.kinds, group, version, &rest)?;
                self.resource(&user, request, &Query::parse(query), target)
                    .await
            }
            _ => Err(HttpError::not_found_path()),
        }
    }

    /// Upstream's impersonation filter: `Impersonate-User` (and `Impersonate-Group`, one
    /// header per group, newline-joined in [`HttpRequest::headers`]) make the request act as
    /// that user, if the caller may `impersonate` the user and each group (checked as access
    /// reviews, so by the same RBAC as everything else). `kubectl --as` sends them.
    async fn impersonate(
        &self,
        caller: UserInfo,
        request: &HttpRequest,
    ) -> Result<UserInfo, HttpError> {
        let groups: Vec<&str> = request
            .headers
            .get("impersonate-group")
            .map(|g| g.split('\n').collect())
            .unwrap_or_default();
        let Some(name) = request.headers.get("impersonate-user") else {
            if groups.is_empty() {
                return Ok(caller);
            }
            return Err(HttpError::new(
                500,
                "InternalError",
                "Internal error occurred: requested [{Group  }] without impersonating a user",
            ));
        };
        let mut checks = vec![("users", name.as_str())];
        checks.extend(groups.iter().map(|g| ("groups", *g)));
        for (resource, target) in checks {
            let review = AccessReview {
                verb: "impersonate".into(),
                resource: resource.into(),
                name: target.into(),
                ..AccessReview::default()
            };
            let Response::Access(decision) =
                self.call(&caller, Request::AccessReview { review }).await?
            else {
                return Err(unexpected());
            };
            if !decision.allowed {
                return Err(HttpError::new(
                    403,
                    "Forbidden",
                    format!(
                        "{resource} \"{target}\" is forbidden: User \"{}\" cannot impersonate resource \"{resource}\" in API group \"\" at the cluster scope",
                        caller.name
                    ),
                ));
            }
        }
        Ok(UserInfo::new(name.clone(), &groups).with_authenticated_group())
    }

    async fn call(&self, user: &UserInfo, request: Request) -> Result<Response, HttpError> {
        self.handler.call(user, request).await.map_err(wire_error)
    }

    async fn get_object(
        &self,
        user: &UserInfo,
        info: &KindInfo,
        namespace: &str,
        name: &str,
    ) -> Result<Object, HttpError> {
        match self
            .call(
                user,
                Request::Get {
                    resource: info.plural.to_owned(),
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                },
            )
            .await?
        {
            Response::Object(o) => Ok(o),
            _ => Err(unexpected()),
        }
    }

    async fn get_scale(
        &self,
        user: &UserInfo,
        info: &KindInfo,
        namespace: &str,
        name: &str,
    ) -> Result<Scale, HttpError> {
        match self
            .call(
                user,
                Request::GetScale {
                    resource: info.plural.to_owned(),
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                },
            )
            .await?
        {
            Response::Scale(scale) => Ok(scale),
            _ => Err(unexpected()),
        }
    }

    /// `POST …/selfsubjectaccessreviews` and `…/subjectaccessreviews`: the API server's access
    /// review, answered as a review object (201, as upstream).
    async fn access_review(
        &self,
        user: &UserInfo,
        request: &HttpRequest,
        self_review: bool,
    ) -> Result<HttpResponse, HttpError> {
        if request.method != "POST" {
            return Err(HttpError::method_not_allowed());
        }
        let question = review::decode(&content_type(request), &request.body, self_review)?;
        if question.path.is_some() {
            return Err(HttpError::bad_request(
                "access reviews of non-resource URLs (nonResourceAttributes) are not supported",
            ));
        }
        let Response::Access(decision) = self
            .call(
                user,
                Request::AccessReview {
                    review: AccessReview {
                        user: question.user.clone(),
                        groups: question.groups.clone(),
                        verb: question.verb.clone(),
                        group: question.group.clone(),
                        resource: question.resource.clone(),
                        subresource: question.subresource.clone(),
                        namespace: question.namespace.clone(),
                        name: question.name.clone(),
                    },
                },
            )
            .await?
        else {
            return Err(unexpected());
        };
        Ok(HttpResponse::json(
            201,
            &review::answer(&question, self_review, decision.allowed, &decision.reason),
        ))
    }

    #[allow(clippy::too_many_lines, reason = "one arm per verb and subresource")]
    async fn resource(
        &self,
        user: &UserInfo,
        request: &HttpRequest,
        query: &Query,
        target: Target,
    ) -> Result<HttpResponse, HttpError> {
        let info = target.info;
        let namespace = target.namespace.clone().unwrap_or_default();
        let accept = request.headers.get("accept").map(String::as_str);
        match (
            request.method.as_str(),
            target.name.as_deref(),
            target.subresource.as_deref(),
        ) {
            ("GET", None, None) => {
                let render = negotiate(accept)?;
                let params = list_params(query)?;
                if query.flag("watch") {
                    return self
                        .watch(user, info, target.namespace, params, query, render)
                        .await;
                }
                let Response::List(list) = self
                    .call(
                        user,
                        Request::List {
                            resource: info.plural.to_owned(),
                            namespace: target.namespace,
                            params,
                        },
                    )
                    .await?
                else {
                    return Err(unexpected());
                };
                Ok(match render {
                    Render::Json => HttpResponse::json(200, &encode::list(info, &list)),
                    Render::Metadata(version) => {
                        HttpResponse::json(200, &encode::metadata_list(version, &list))
                    }
                    Render::Table(version) => {
                        let mut table = encode::table(
                            info,
                            &list.items,
                            Some(list.resource_version),
                            self.table_options(version, query)?,
                            true,
                        );
                        if let Some(token) = &list.continue_token {
                            table["metadata"]["continue"] = token.clone().into();
                        }
                        HttpResponse::json(200, &table)
                    }
                })
            }
            ("GET", Some(name), None | Some("status")) => {
                let render = negotiate(accept)?;
                let object = self.get_object(user, info, &namespace, name).await?;
                Ok(match render {
                    Render::Json => HttpResponse::json(200, &encode::object(&object)),
                    Render::Metadata(version) => {
                        HttpResponse::json(200, &encode::partial_metadata(version, &object))
                    }
                    Render::Table(version) => HttpResponse::json(
                        200,
                        &encode::table(
                            info,
                            std::slice::from_ref(&object),
                            None,
                            self.table_options(version, query)?,
                            true,
                        ),
                    ),
                })
            }
            ("GET", Some(name), Some("log")) if info.kind == "Pod" => {
                self.pod_log(user, &namespace, name, query).await
            }
            ("GET", Some(name), Some("scale")) if has_scale(info) => {
                let scale = self.get_scale(user, info, &namespace, name).await?;
                Ok(HttpResponse::json(200, &patch::scale_json(&scale)))
            }
            ("POST", None, None) => {
                json_body(request)?;
                let object = decode_object(&self.kinds, info, &request.body)?;
                let Response::Object(created) = self
                    .call(
                        user,
                        Request::Create {
                            namespace: target.namespace.filter(|_| info.namespaced),
                            object,
                        },
                    )
                    .await?
                else {
                    return Err(unexpected());
                };
                Ok(HttpResponse::json(201, &encode::object(&created)))
            }
            ("POST", Some(name), Some("binding")) if info.kind == "Pod" => {
                let binding = decode_binding(&request.body, name)?;
                self.call(
                    user,
                    Request::Bind {
                        namespace,
                        name: name.to_owned(),
                        binding,
                    },
                )
                .await?;
                Ok(HttpResponse::json(201, &encode::success(201)))
            }
            ("PUT", Some(name), sub @ (None | Some("status"))) => {
                json_body(request)?;
                let mut object = decode_object(&self.kinds, info, &request.body)?;
                check_identity(&mut object, info, &namespace, name)?;
                let request = if sub.is_some() {
                    Request::UpdateStatus { object }
                } else {
                    Request::Update { object }
                };
                let Response::Object(updated) = self.call(user, request).await? else {
                    return Err(unexpected());
                };
                Ok(HttpResponse::json(200, &encode::object(&updated)))
            }
            ("PUT" | "PATCH", Some(name), Some("scale")) if has_scale(info) => {
                let content_type = content_type(request);
                let wanted = if request.method == "PATCH" {
                    if !patch::PATCH_TYPES.contains(&content_type.as_str()) {
                        return Err(patch::unsupported_media_type(&patch::PATCH_TYPES));
                    }
                    let body = patch_body(&self.kinds, &content_type, &request.body)?;
                    let mut value =
                        patch::scale_json(&self.get_scale(user, info, &namespace, name).await?);
                    // The patch applies to the current scale; only a resourceVersion the
                    // patch itself carries is a precondition.
                    if body["metadata"]["resourceVersion"].is_null()
                        && let Some(meta) = value["metadata"].as_object_mut()
                    {
                        meta.remove("resourceVersion");
                    }
                    patch::apply(&content_type, "Scale", &mut value, &body)?;
                    value
                } else {
                    json_body(request)?;
                    serde_json::from_slice(&request.body)
                        .map_err(|e| HttpError::bad_request(format!("invalid Scale: {e}")))?
                };
                let scale = patch::scale_from(&wanted, &namespace, name)?;
                let Response::Scale(updated) = self
                    .call(
                        user,
                        Request::UpdateScale {
                            resource: info.plural.to_owned(),
                            scale,
                        },
                    )
                    .await?
                else {
                    return Err(unexpected());
                };
                Ok(HttpResponse::json(200, &patch::scale_json(&updated)))
            }
            ("PATCH", Some(name), sub @ (None | Some("status"))) => {
                let content_type = content_type(request);
                if !patch::PATCH_TYPES.contains(&content_type.as_str()) {
                    return Err(patch::unsupported_media_type(&patch::PATCH_TYPES));
                }
                let body = patch_body(&self.kinds, &content_type, &request.body)?;
                if content_type == "application/apply-patch+yaml" && sub.is_none() {
                    // Server-side apply of an object that does not exist creates it.
                    match self.get_object(user, info, &namespace, name).await {
                        Err(e) if e.code == 404 => {
                            let mut object = decode_object(
                                &self.kinds,
                                info,
                                &serde_json::to_vec(&body).unwrap_or_default(),
                            )?;
                            check_identity(&mut object, info, &namespace, name)?;
                            let Response::Object(created) = self
                                .call(
                                    user,
                                    Request::Create {
                                        namespace: target.namespace.filter(|_| info.namespaced),
                                        object,
                                    },
                                )
                                .await?
                            else {
                                return Err(unexpected());
                            };
                            return Ok(HttpResponse::json(201, &encode::object(&created)));
                        }
                        Err(e) => return Err(e),
                        Ok(_) => {}
                    }
                }
                let patch_type = match content_type.as_str() {
                    "application/merge-patch+json" => Some(PatchType::Merge),
                    "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
                    _ => None,
                };
                if let (Some(patch_type), None) = (patch_type, sub) {
                    // The API server's own PATCH (admitted on the patched object).
                    let mut body = body;
                    patch::strip_set_element_order(&mut body);
                    let Response::Object(updated) = self
                        .call(
                            user,
                            Request::Patch {
                                resource: info.plural.to_owned(),
                                namespace,
                                name: name.to_owned(),
                                patch_type,
                                patch: serde_json::to_vec(&body).unwrap_or_default(),
                            },
                        )
                        .await?
                    else {
                        return Err(unexpected());
                    };
                    return Ok(HttpResponse::json(200, &encode::object(&updated)));
                }
                let updated = self
                    .modify(user, info, &namespace, name, sub.is_some(), |current| {
                        let mut value = encode::object(current);
                        patch::apply(&content_type, info.kind, &mut value, &body)?;
                        let mut object = decode_object(
                            &self.kinds,
                            info,
                            &serde_json::to_vec(&value).unwrap_or_default(),
                        )?;
                        check_identity(&mut object, info, &namespace, name)?;
                        Ok(object)
                    })
                    .await?;
                Ok(HttpResponse::json(200, &encode::object(&updated)))
            }
            ("DELETE", Some(name), None) => {
                let options = delete_options(query, &request.body)?;
                let Response::Deleted(deleted) = self
                    .call(
                        user,
                        Request::Delete {
                            resource: info.plural.to_owned(),
                            namespace,
                            name: name.to_owned(),
                            options,
                        },
                    )
                    .await?
                else {
                    return Err(unexpected());
                };
                // Upstream answers 200 with the object while it is only marked for deletion
                // (202 only when a finalizer holds it and the request asked for foreground
                // deletion; 200 is what kubectl and the clients read either way). Once gone,
                // most kinds answer with a success Status instead (`ReturnDeletedObject`).
                Ok(HttpResponse::json(
                    200,
                    &match deleted {
                        Deleted::Gone(o) if !encode::returns_deleted_object(info) => {
                            encode::deleted_status(info, &o)
                        }
                        Deleted::Gone(o) | Deleted::Pending(o) => encode::object(&o),
                    },
                ))
            }
            ("DELETE", None, None) if info.namespaced == target.namespace.is_some() => {
                // deletecollection: what the selectors match, deleted one by one (each
                // authorized as a delete); upstream answers with the list of what it deleted.
                let options = delete_options(query, &request.body)?;
                let Response::List(list) = self
                    .call(
                        user,
                        Request::List {
                            resource: info.plural.to_owned(),
                            namespace: target.namespace.clone(),
                            params: ListParams {
                                limit: 0,
                                continue_token: None,
                                ..list_params(query)?
                            },
                        },
                    )
                    .await?
                else {
                    return Err(unexpected());
                };
                let mut deleted = list.clone();
                deleted.items.clear();
                for object in &list.items {
                    let meta = object.metadata();
                    match self
                        .call(
                            user,
                            Request::Delete {
                                resource: info.plural.to_owned(),
                                namespace: meta.namespace_or_empty().to_owned(),
                                name: meta.name_or_empty().to_owned(),
                                options: options.clone(),
                            },
                        )
                        .await
                    {
                        Ok(Response::Deleted(Deleted::Gone(o) | Deleted::Pending(o))) => {
                            deleted.items.push(o);
                        }
                        // Gone meanwhile: nothing left to delete.
                        Err(e) if e.code == 404 => {}
                        Err(e) => return Err(e),
                        Ok(_) => return Err(unexpected()),
                    }
                }
                Ok(HttpResponse::json(200, &encode::list(info, &deleted)))
            }
            _ => Err(HttpError::method_not_allowed()),
        }
    }

    fn table_options(
        &self,
        version: &'static str,
        query: &Query,
    ) -> Result<TableOptions, HttpError> {
        Ok(TableOptions {
            api_version: version,
            include: IncludeObject::parse(query.get("includeObject"))?,
            now: now_time(&*self.clock),
        })
    }

    /// Read, change, write with the read's resourceVersion as precondition; retried when the
    /// object changed in between (upstream's patch handler does the same).
    async fn modify(
        &self,
        user: &UserInfo,
        info: &KindInfo,
        namespace: &str,
        name: &str,
        status: bool,
        change: impl Fn(&Object) -> Result<Object, HttpError>,
    ) -> Result<Object, HttpError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self.get_object(user, info, namespace, name).await?;
            let mut object = change(&current)?;
            let precondition = object.metadata().resource_version.clone();
            if precondition.as_deref().is_none_or(str::is_empty) {
                object
                    .metadata_mut()
                    .resource_version
                    .clone_from(&current.metadata().resource_version);
            }
            let request = if status {
                Request::UpdateStatus { object }
            } else {
                Request::Update { object }
            };
            match self.handler.call(user, request).await {
                Ok(Response::Object(o)) => return Ok(o),
                Ok(_) => return Err(unexpected()),
                Err(s)
                    if s.reason == Reason::Conflict
                        && precondition.as_deref().is_none_or(str::is_empty)
                        && attempt < PATCH_ATTEMPTS_MAX => {}
                Err(s) => return Err(wire_error(s)),
            }
        }
    }

    async fn watch(
        &self,
        user: &UserInfo,
        info: &'static KindInfo,
        namespace: Option<String>,
        mut params: ListParams,
        query: &Query,
        render: Render,
    ) -> Result<HttpResponse, HttpError> {
        let timeout = match query.get("timeoutSeconds") {
            None | Some("") => None,
            Some(t) => Some(Duration::from_secs(t.parse().map_err(|_| {
                HttpError::bad_request(format!("invalid timeoutSeconds {t:?}"))
            })?)),
        };
        let bookmarks = query.flag("allowWatchBookmarks");
        let format = match render {
            Render::Json => WatchFormat::Objects,
            Render::Metadata(version) => WatchFormat::Metadata(version),
            Render::Table(version) => WatchFormat::Table(self.table_options(version, query)?),
        };
        // Upstream: a watch from no resourceVersion (or "0") first sends the current state
        // as ADDED events, then the changes after it; so does `sendInitialEvents=true`.
        let send_initial = query.flag("sendInitialEvents")
            || (query.get("sendInitialEvents").is_none()
                && matches!(params.resource_version.as_deref(), None | Some("" | "0")));
        let mut initial = Vec::new();
        let mut initial_end = None;
        if send_initial {
            let list_params = ListParams {
                limit: 0,
                continue_token: None,
                resource_version: None,
                ..params.clone()
            };
            let Response::List(list) = self
                .call(
                    user,
                    Request::List {
                        resource: info.plural.to_owned(),
                        namespace: namespace.clone(),
                        params: list_params,
                    },
                )
                .await?
            else {
                return Err(unexpected());
            };
            params.resource_version = Some(list.resource_version.to_string());
            initial = list.items;
            if query.flag("sendInitialEvents") {
                initial_end = Some(list.resource_version);
            }
        }
        let (tx, rx) = mpsc::channel(WATCH_LINES_BUFFERED);
        let request = Request::Watch {
            resource: info.plural.to_owned(),
            namespace,
            params,
        };
        match self.handler.watch(user, request).await {
            Ok(stream) => {
                tokio::spawn(pump(
                    stream,
                    tx,
                    Pump {
                        info,
                        format,
                        bookmarks,
                        initial,
                        initial_end,
                        timeout,
                    },
                ));
            }
            // Upstream answers a watch from a compacted resourceVersion with 200 and one
            // ERROR event carrying the 410 Status; clients relist on it.
            Err(status) if status.reason == Reason::Expired => {
                let line =
                    encode::watch_line(info, &WatchEvent::Error(status), format, bookmarks, true)
                        .unwrap_or_default();
                let _ = tx.try_send(Bytes::from(line));
            }
            Err(status) => return Err(wire_error(status)),
        }
        Ok(HttpResponse {
            status: 200,
            content_type: "application/json",
            body: HttpBody::Stream(rx),
        })
    }

    async fn serve_hyper(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<Payload> {
        let (mut parts, body) = request.into_parts();
        let on_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
        let body = match Limited::new(body, REQUEST_BODY_BYTES_MAX).collect().await {
            Ok(collected) => collected.to_bytes().to_vec(),
            Err(_) => {
                return to_hyper(HttpResponse::error(&HttpError::new(
                    413,
                    "RequestEntityTooLarge",
                    format!(
                        "the request body is larger than {REQUEST_BODY_BYTES_MAX} bytes or could not be read"
                    ),
                )));
            }
        };
        let mut headers = BTreeMap::new();
        for (name, value) in &parts.headers {
            if let Ok(value) = value.to_str() {
                let name = name.as_str().to_ascii_lowercase();
                if name == "impersonate-group" {
                    // Repeated: one group each (group names hold no newline).
                    headers
                        .entry(name)
                        .and_modify(|all: &mut String| {
                            all.push('\n');
                            all.push_str(value);
                        })
                        .or_insert_with(|| value.to_owned());
                } else {
                    headers.entry(name).or_insert_with(|| value.to_owned());
                }
            }
        }
        let uri = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), ToString::to_string);
        let request = HttpRequest {
            method: parts.method.as_str().to_owned(),
            uri,
            headers,
            body,
        };
        if let Some(on_upgrade) = on_upgrade
            && exec::is_websocket_exec(&request)
        {
            return match self.websocket_exec(&request).await {
                Ok(upgrade) => {
                    let response = exec::switching_protocols(&upgrade);
                    tokio::spawn(async move {
                        if let Ok(upgraded) = on_upgrade.await {
                            exec::send(upgraded, upgrade.frames).await;
                        }
                    });
                    response
                }
                Err(refused) => to_hyper(refused),
            };
        }
        to_hyper(self.handle(request).await)
    }
}

fn unexpected() -> HttpError {
    HttpError::new(
        500,
        "InternalError",
        "unexpected response from the API server",
    )
}

fn has_scale(info: &KindInfo) -> bool {
    matches!(
        info.kind,
        "ReplicaSet" | "ReplicationController" | "Deployment"
    )
}

fn content_type(request: &HttpRequest) -> String {
    request
        .headers
        .get("content-type")
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Only JSON bodies are read (a missing `Content-Type` means JSON, as the Python client sends
/// none); protobuf, which kubectl's typed clients send for some commands, is refused with 415.
fn json_body(request: &HttpRequest) -> Result<(), HttpError> {
    match content_type(request).as_str() {
        "" | "application/json" | "*/*" => Ok(()),
        _ => Err(patch::unsupported_media_type(&["application/json"])),
    }
}

/// A PATCH body: JSON, or for server-side apply also YAML (one object).
fn patch_body(kinds: &KindRegistry, content_type: &str, body: &[u8]) -> Result<Value, HttpError> {
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(e) if content_type == "application/apply-patch+yaml" => {
            let text = String::from_utf8_lossy(body);
            let mut objects = manifest::parse_str_with("body", &text, kinds).map_err(|y| {
                HttpError::bad_request(format!("invalid apply patch: {e}; as YAML: {y}"))
            })?;
            match objects.len() {
                1 => Ok(encode::object(&objects.remove(0))),
                _ => Err(HttpError::bad_request(
                    "an apply patch holds exactly one object",
                )),
            }
        }
        Err(e) => Err(HttpError::bad_request(format!("invalid patch: {e}"))),
    }
}

fn list_params(query: &Query) -> Result<ListParams, HttpError> {
    let limit = match query.get("limit") {
        None | Some("") => 0,
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| HttpError::bad_request(format!("invalid limit {l:?}")))?
            .max(0)
            .unsigned_abs(),
    };
    Ok(ListParams {
        label_selector: query.text("labelSelector"),
        field_selector: query.text("fieldSelector"),
        limit,
        continue_token: query
            .get("continue")
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
        resource_version: query.get("resourceVersion").map(str::to_owned),
    })
}

/// Decodes a request body as an object of `info`'s kind, with the manifest parser (strict:
/// unknown fields are errors, with their field path). A body without `apiVersion`/`kind`
/// (the Python client sends none) takes them from the URL.
fn decode_object(kinds: &KindRegistry, info: &KindInfo, body: &[u8]) -> Result<Object, HttpError> {
    let cannot = |why: String| {
        HttpError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {why}",
            info.kind, info.version, info.kind
        ))
    };
    let mut value: Value = serde_json::from_slice(body).map_err(|e| cannot(e.to_string()))?;
    let Some(map) = value.as_object_mut() else {
        return Err(cannot("the body is not a JSON object".into()));
    };
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), info.api_version.into());
        }
        Some(v) if v != info.api_version => {
            return Err(HttpError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({})",
                info.api_version
            )));
        }
        Some(_) => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), info.kind.into());
        }
        Some(k) if k != info.kind => {
            return Err(HttpError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                info.kind
            )));
        }
        Some(_) => {}
    }
    let text = serde_json::to_string(&value).map_err(|e| cannot(e.to_string()))?;
    let mut objects = manifest::parse_str_with("body", &text, kinds).map_err(|e| {
        cannot(match &e.field {
            Some(field) => format!("{field}: {}", e.kind),
            None => e.kind.to_string(),
        })
    })?;
    match objects.len() {
        1 => Ok(objects.remove(0)),
        _ => Err(cannot("expected one object".into())),
    }
}

/// The URL names the object: an empty namespace or name in the body takes the URL's, a
/// different one is refused (upstream's wording).
fn check_identity(
    object: &mut Object,
    info: &KindInfo,
    namespace: &str,
    name: &str,
) -> Result<(), HttpError> {
    let meta = object.metadata_mut();
    match meta.name.as_deref() {
        None | Some("") => meta.name = Some(name.to_owned()),
        Some(n) if n != name => {
            return Err(HttpError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        Some(_) => {}
    }
    if info.namespaced {
        match meta.namespace.as_deref() {
            None | Some("") => meta.namespace = Some(namespace.to_owned()),
            Some(n) if n != namespace => {
                return Err(HttpError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn decode_binding(body: &[u8], name: &str) -> Result<Binding, HttpError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| HttpError::bad_request(format!("invalid Binding: {e}")))?;
    let node = value["target"]["name"].as_str().unwrap_or("");
    if node.is_empty() {
        return Err(HttpError::bad_request("Binding target.name is required"));
    }
    if let Some(n) = value["metadata"]["name"].as_str().filter(|n| *n != name) {
        return Err(HttpError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    Ok(Binding {
        node: node.to_owned(),
        uid: text(&value["metadata"]["uid"]),
        resource_version: text(&value["metadata"]["resourceVersion"]),
    })
}

/// `DeleteOptions` from the body (JSON, may be empty) and the query (`gracePeriodSeconds`,
/// `propagationPolicy`, `orphanDependents`); the body wins where both are given.
fn delete_options(query: &Query, body: &[u8]) -> Result<DeleteOptions, HttpError> {
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| HttpError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let grace = match &body["gracePeriodSeconds"] {
        Value::Number(n) => n.as_i64(),
        _ => match query.get("gracePeriodSeconds") {
            Some(g) if !g.is_empty() => Some(g.parse().map_err(|_| {
                HttpError::bad_request(format!("invalid gracePeriodSeconds {g:?}"))
            })?),
            _ => None,
        },
    };
    let policy = body["propagationPolicy"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| query.get("propagationPolicy").map(str::to_owned));
    let orphan = body["orphanDependents"]
        .as_bool()
        .or_else(|| query.get("orphanDependents").map(|o| o == "true"));
    let propagation = match (policy.as_deref(), orphan) {
        (Some("Foreground"), _) => Propagation::Foreground,
        (Some("Orphan"), _) | (None | Some(""), Some(true)) => Propagation::Orphan,
        (Some("Background" | "") | None, _) => Propagation::Background,
        (Some(other), _) => {
            return Err(HttpError::new(
                422,
                "Invalid",
                format!(
                    "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
                ),
            ));
        }
    };
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    Ok(DeleteOptions {
        grace_period_seconds: grace,
        uid: text(&body["preconditions"]["uid"]),
        resource_version: text(&body["preconditions"]["resourceVersion"]),
        propagation,
    })
}

/// What a watch pump sends besides the stream's own events.
struct Pump {
    info: &'static KindInfo,
    format: WatchFormat,
    bookmarks: bool,
    initial: Vec<Object>,
    initial_end: Option<u64>,
    timeout: Option<Duration>,
}

/// Moves watch events to the response body, one JSON line each, until the stream ends, the
/// timeout passes or the client goes away.
async fn pump(
    mut stream: Box<dyn skiff_core::client::WatchStream>,
    tx: mpsc::Sender<Bytes>,
    p: Pump,
) {
    let mut first = true;
    for object in p.initial {
        let event = WatchEvent::Added(object);
        if let Some(line) = encode::watch_line(p.info, &event, p.format, p.bookmarks, first) {
            first = false;
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
        }
    }
    if let Some(rv) = p.initial_end
        && p.bookmarks
        && tx
            .send(Bytes::from(encode::initial_events_end(p.info, rv)))
            .await
            .is_err()
    {
        return;
    }
    let timeout = p.timeout;
    let expiry = async move {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending::<()>().await,
        }
    };
    tokio::pin!(expiry);
    loop {
        let event = tokio::select! {
            biased;
            () = tx.closed() => return,
            () = &mut expiry => return,
            event = stream.next() => event,
        };
        let Some(event) = event else { return };
        let last = matches!(event, WatchEvent::Error(_));
        if let Some(line) = encode::watch_line(p.info, &event, p.format, p.bookmarks, first) {
            first = false;
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
        }
        if last {
            return;
        }
    }
}

/// A hyper response body over [`HttpBody`].
pub struct Payload(PayloadInner);

enum PayloadInner {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body for Payload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().0 {
            PayloadInner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            PayloadInner::Stream(rx) => rx.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.0, PayloadInner::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            PayloadInner::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            PayloadInner::Full(None) => SizeHint::with_exact(0),
            PayloadInner::Stream(_) => SizeHint::default(),
        }
    }
}

fn to_hyper(response: HttpResponse) -> hyper::Response<Payload> {
    let body = match response.body {
        HttpBody::Full(bytes) => PayloadInner::Full(Some(Bytes::from(bytes))),
        HttpBody::Stream(rx) => PayloadInner::Stream(rx),
    };
    let mut out = hyper::Response::new(Payload(body));
    *out.status_mut() = hyper::StatusCode::from_u16(response.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    out.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(response.content_type),
    );
    out
}

/// Serves the HTTP API on `listener` forever, each connection on its own task (HTTP/1.1 with
/// keep-alive), in plain text or, with `tls`, over TLS.
pub async fn serve_with(listener: TcpListener, api: Arc<HttpApi>, tls: Option<TlsAcceptor>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors or a connection reset before accept: wait a moment
            // rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let api = api.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let api = api.clone();
                async move { Ok::<_, Infallible>(api.serve_hyper(request).await) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            // A connection that fails (client gone, bad handshake, malformed request) ends
            // alone.
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = http
                            .serve_connection(TokioIo::new(stream), service)
                            .with_upgrades()
                            .await;
                    }
                }
                None => {
                    let _ = http
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                }
            }
        });
    }
}

/// Serves the HTTP API in plain text on `listener` forever (see [`serve_with`]).
pub async fn serve(listener: TcpListener, api: Arc<HttpApi>) {
    serve_with(listener, api, None).await;
}

/// A kubeconfig for `server` (`https://127.0.0.1:6443`) with a bearer `token` and, for TLS,
/// the certificate authority to trust (PEM): what `skiff up` writes to `<data-dir>/kubeconfig`
/// so `kubectl --kubeconfig` works at once.
pub fn kubeconfig(server: &str, token: &str, ca_pem: Option<&str>) -> String {
    use base64::Engine as _;
    let ca = ca_pem.map_or_else(String::new, |pem| {
        format!(
            "    certificate-authority-data: {}\n",
            base64::engine::general_purpose::STANDARD.encode(pem)
        )
    });
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: skiff\n  cluster:\n{ca}    server: {server}\ncontexts:\n- name: skiff\n  context:\n    cluster: skiff\n    user: skiff-admin\n    namespace: default\ncurrent-context: skiff\nusers:\n- name: skiff-admin\n  user:\n    token: {token}\npreferences: {{}}\n"
    )
}
