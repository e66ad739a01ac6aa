//! The API server behind the wire protocol: [`ApiHandler`] implements
//! [`crate::wire::Handler`], and [`LocalClient`] implements [`Client`] in-process — the same
//! calls, with or without a network in between.

use std::collections::BTreeMap;
use std::sync::Arc;

use skiff_core::client::{
    BoxFuture, Client, ClientError, DeleteOptions, Deleted, ListParams, ObjectList, WatchEvent,
    WatchStream,
};
use skiff_core::event::{Actor, Change, Revision};
use skiff_core::object::{KindInfo, Object, resolve_resource};
use skiff_core::selector::Selector;
use skiff_core::status::{Reason, Status};

use super::{ApiError, ApiServer};
use crate::store::ListOptions;
use crate::watch::{Watch, WatchError};
use crate::wire::{Handler, Request, Response};

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

fn resource(name: &str) -> Result<&'static KindInfo, Status> {
    resolve_resource(name).ok_or_else(|| {
        Status::bad_request(format!(
            "the server doesn't have a resource type \"{name}\""
        ))
    })
}

fn label_selector(params: &ListParams) -> Result<Selector, Status> {
    Selector::parse(&params.label_selector)
        .map_err(|e| Status::bad_request(format!("unable to parse requirement: {e}")))
}

fn unsupported_field_selector(params: &ListParams) -> Result<(), Status> {
    if params.field_selector.is_empty() {
        Ok(())
    } else {
        // Field selectors arrive with the store's selector support.
        Err(Status::bad_request("field selectors are not supported yet"))
    }
}

impl ApiServer {
    /// Lists with wire parameters (label selector applied to each object).
    pub fn list_params(
        &self,
        info: &'static KindInfo,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList, Status> {
        unsupported_field_selector(params)?;
        let selector = label_selector(params)?;
        let revision =
            match params.resource_version.as_deref() {
                None | Some("" | "0") => None,
                Some(rv) => Some(Revision::parse(rv).ok_or_else(|| {
                    Status::bad_request(format!("invalid resourceVersion {rv:?}"))
                })?),
            };
        let options = ListOptions {
            revision,
            limit: usize::try_from(params.limit).unwrap_or(usize::MAX),
            continue_after: params.continue_token.clone(),
        };
        let mut list = self.list(info, namespace, &options).map_err(to_status)?;
        list.items
            .retain(|o| selector.matches(&o.metadata().labels));
        Ok(list)
    }

    /// Watches objects of a kind after `params.resource_version` (label selector applied to
    /// each event's object).
    pub fn watch_params(
        &self,
        info: &'static KindInfo,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<Box<dyn WatchStream>, Status> {
        unsupported_field_selector(params)?;
        let selector = label_selector(params)?;
        let from = match params.resource_version.as_deref() {
            None | Some("" | "0") => {
                self.store()
                    .status()
                    .map_err(|e| to_status(super::read_failed(e, info, "")))?
                    .revision
            }
            Some(rv) => Revision::parse(rv)
                .ok_or_else(|| Status::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        };
        let prefix = match (info.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/", info.registry_prefix),
            _ => info.registry_prefix.to_owned(),
        };
        let watch = self
            .store()
            .watch(&prefix, from)
            .map_err(|e| to_status(super::read_failed(e, info, "")))?;
        Ok(Box::new(KindWatch {
            watch,
            info,
            selector,
            done: false,
        }))
    }
}

/// A store watch seen as a stream of one kind's watch events.
struct KindWatch {
    watch: Watch,
    info: &'static KindInfo,
    selector: Selector,
    done: bool,
}

impl WatchStream for KindWatch {
    fn next(&mut self) -> BoxFuture<'_, Option<WatchEvent>> {
        Box::pin(async move {
            if self.done {
                return None;
            }
            loop {
                let event = match self.watch.next().await {
                    Ok(event) => event,
                    Err(e) => {
                        self.done = true;
                        let status = match e {
                            WatchError::Compacted {
                                requested,
                                compacted_revision,
                            } => Status {
                                reason: Reason::Expired,
                                message: format!(
                                    "too old resource version: {requested} ({compacted_revision})"
                                ),
                                name: None,
                                kind: Some(self.info.plural.to_owned()),
                                causes: Vec::new(),
                            },
                            other => Status {
                                reason: Reason::InternalError,
                                message: other.to_string(),
                                name: None,
                                kind: Some(self.info.plural.to_owned()),
                                causes: Vec::new(),
                            },
                        };
                        return Some(WatchEvent::Error(status));
                    }
                };
                let (object, make): (&Object, fn(Object) -> WatchEvent) = match &event.change {
                    Change::Create(o) => (o, WatchEvent::Added),
                    Change::Update { object, .. } => (object, WatchEvent::Modified),
                    Change::Delete(o) => (o, WatchEvent::Deleted),
                    _ => continue,
                };
                if object.info().kind == self.info.kind
                    && self.selector.matches(&object.metadata().labels)
                {
                    return Some(make(object.clone()));
                }
            }
        })
    }
}

/// Serves the wire protocol with an [`ApiServer`], authenticating with a token table.
pub struct ApiHandler {
    api: Arc<ApiServer>,
    tokens: BTreeMap<String, String>,
}

impl ApiHandler {
    /// A handler accepting the given `token → user` pairs.
    pub fn new(api: Arc<ApiServer>, tokens: BTreeMap<String, String>) -> Self {
        Self { api, tokens }
    }
}

impl Handler for ApiHandler {
    fn authenticate(&self, token: &str) -> Result<String, Status> {
        self.tokens.get(token).cloned().ok_or_else(|| Status {
            reason: Reason::Unauthorized,
            message: "Unauthorized".into(),
            name: None,
            kind: None,
            causes: Vec::new(),
        })
    }

    fn call(&self, user: &str, request: Request) -> BoxFuture<'_, Result<Response, Status>> {
        let actor = Actor::new(user);
        Box::pin(async move {
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
                } => api
                    .get(resource(&r)?, &namespace, &name)
                    .map(Response::Object)
                    .map_err(to_status),
                Request::List {
                    resource: r,
                    namespace,
                    params,
                } => api
                    .list_params(resource(&r)?, namespace.as_deref(), &params)
                    .map(Response::List),
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
                    .delete(&actor, resource(&r)?, &namespace, &name, &options)
                    .await
                    .map(Response::Deleted)
                    .map_err(to_status),
                Request::Watch { .. } => Err(Status::bad_request("watch is a streaming request")),
            }
        })
    }

    fn watch(
        &self,
        _user: &str,
        request: Request,
    ) -> BoxFuture<'_, Result<Box<dyn WatchStream>, Status>> {
        Box::pin(async move {
            let Request::Watch {
                resource: r,
                namespace,
                params,
            } = request
            else {
                return Err(Status::bad_request("not a watch request"));
            };
            self.api
                .watch_params(resource(&r)?, namespace.as_deref(), &params)
        })
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
        Box::pin(async move {
            self.api
                .create(&self.actor, namespace.as_deref(), object)
                .await
                .map_err(client_err)
        })
    }

    fn get(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let result = self.api.get(resource, namespace, name).map_err(client_err);
        Box::pin(async move { result })
    }

    fn list(
        &self,
        resource: &'static KindInfo,
        namespace: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<ObjectList, ClientError>> {
        let result = self
            .api
            .list_params(resource, namespace, &params)
            .map_err(ClientError::Status);
        Box::pin(async move { result })
    }

    fn update(&self, object: Object) -> BoxFuture<'_, Result<Object, ClientError>> {
        Box::pin(async move {
            self.api
                .update(&self.actor, object)
                .await
                .map_err(client_err)
        })
    }

    fn update_status(&self, object: Object) -> BoxFuture<'_, Result<Object, ClientError>> {
        Box::pin(async move {
            self.api
                .update_status(&self.actor, object)
                .await
                .map_err(client_err)
        })
    }

    fn delete(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
        options: DeleteOptions,
    ) -> BoxFuture<'_, Result<Deleted, ClientError>> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        Box::pin(async move {
            self.api
                .delete(&self.actor, resource, &namespace, &name, &options)
                .await
                .map_err(client_err)
        })
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
}
