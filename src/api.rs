//! [`Api<K>`]: a typed view of the cluster's API for one kind, in the style of kube-rs's
//! `Api<K>` — `Api::<Pod>::namespaced(client, "default").get("web")` returns a `Pod`, not an
//! [`Object`]; a typed custom kind ([`skiff_core::object::CustomResource`]) works the same.
//! It works over any [`Client`]: in-process ([`crate::Cluster::client`]) or remote
//! over the wire protocol.

use std::marker::PhantomData;
use std::sync::Arc;

use skiff_core::client::{
    Client, ClientError, DeleteOptions, Deleted, ListParams, WatchEvent, WatchStream,
};
use skiff_core::object::{HasKindInfo, Object, ObjectKind};
use skiff_core::status::Status;

/// A typed client for objects of kind `K`, in one namespace or (for lists and watches) all.
pub struct Api<K> {
    client: Arc<dyn Client>,
    namespace: Option<String>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            namespace: self.namespace.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for Api<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("kind", &std::any::type_name::<K>())
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// The answer had another kind than asked for: a server bug, reported rather than hidden.
fn wrong_kind<K: HasKindInfo>(object: &Object) -> ClientError {
    ClientError::Transport(format!(
        "expected a {}, the server answered with a {}",
        K::INFO.kind,
        object.info().kind
    ))
}

fn typed<K: ObjectKind>(object: Object) -> Result<K, ClientError> {
    if object.info() != &K::INFO {
        return Err(wrong_kind::<K>(&object));
    }
    K::try_from_object(object)
        .map_err(|e| ClientError::Transport(format!("reading a {}: {e}", K::INFO.kind)))
}

fn untyped<K: ObjectKind>(object: K) -> Result<Object, ClientError> {
    object
        .into_object()
        .map_err(|e| ClientError::Transport(format!("writing a {}: {e}", K::INFO.kind)))
}

impl<K: ObjectKind> Api<K> {
    /// Objects of `K` in `namespace` (for cluster-scoped kinds the namespace is ignored).
    pub fn namespaced(client: Arc<dyn Client>, namespace: &str) -> Self {
        Self {
            client,
            namespace: Some(namespace.to_owned()),
            kind: PhantomData,
        }
    }

    /// Objects of `K` in every namespace (lists and watches); single-object calls on a
    /// namespaced kind use `default`.
    pub fn all(client: Arc<dyn Client>) -> Self {
        Self {
            client,
            namespace: None,
            kind: PhantomData,
        }
    }

    fn ns(&self) -> &str {
        if K::INFO.namespaced {
            self.namespace.as_deref().unwrap_or("default")
        } else {
            ""
        }
    }

    /// Creates `object` (in this Api's namespace when its own is unset).
    pub async fn create(&self, object: K) -> Result<K, ClientError> {
        let namespace = K::INFO.namespaced.then(|| self.ns().to_owned());
        typed(
            self.client
                .create(namespace.as_deref(), untyped(object)?)
                .await?,
        )
    }

    /// Reads the object named `name`.
    pub async fn get(&self, name: &str) -> Result<K, ClientError> {
        typed(self.client.get(&K::INFO, self.ns(), name).await?)
    }

    /// Reads the object named `name`, or `None` when it does not exist.
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>, ClientError> {
        match self.get(name).await {
            Ok(o) => Ok(Some(o)),
            Err(ClientError::Status(Status {
                reason: skiff_core::status::Reason::NotFound,
                ..
            })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists objects (label and field selectors, paging and revision in `params`).
    pub async fn list(&self, params: ListParams) -> Result<Vec<K>, ClientError> {
        let scope = if K::INFO.namespaced {
            self.namespace.as_deref()
        } else {
            None
        };
        self.client
            .list(&K::INFO, scope, params)
            .await?
            .items
            .into_iter()
            .map(typed)
            .collect()
    }

    /// Replaces the object (its `resourceVersion`, when set, is a precondition).
    pub async fn update(&self, object: K) -> Result<K, ClientError> {
        typed(self.client.update(untyped(object)?).await?)
    }

    /// Replaces the object's status.
    pub async fn update_status(&self, object: K) -> Result<K, ClientError> {
        typed(self.client.update_status(untyped(object)?).await?)
    }

    /// Deletes the object named `name`; `Ok(None)` when it is gone at once, `Ok(Some(k))` when
    /// its deletion is pending (grace period or finalizers).
    pub async fn delete(
        &self,
        name: &str,
        options: DeleteOptions,
    ) -> Result<Option<K>, ClientError> {
        match self
            .client
            .delete(&K::INFO, self.ns(), name, options)
            .await?
        {
            Deleted::Gone(_) => Ok(None),
            Deleted::Pending(o) => typed(o).map(Some),
        }
    }

    /// Watches objects after `params.resource_version` (the current revision when unset).
    pub async fn watch(&self, params: ListParams) -> Result<Watch<K>, ClientError> {
        let scope = if K::INFO.namespaced {
            self.namespace.as_deref()
        } else {
            None
        };
        let stream = self.client.watch(&K::INFO, scope, params).await?;
        Ok(Watch {
            stream,
            kind: PhantomData,
        })
    }
}

/// One typed watch event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<K> {
    /// The object appeared or started matching.
    Added(K),
    /// The object changed.
    Modified(K),
    /// The object was deleted or stopped matching (its last state).
    Deleted(K),
    /// Every change up to this resourceVersion has been delivered.
    Bookmark(u64),
    /// The watch ended with this status (e.g. 410 Expired): list again and watch from there.
    Error(Status),
}

/// A typed watch stream from [`Api::watch`].
pub struct Watch<K> {
    stream: Box<dyn WatchStream>,
    kind: PhantomData<fn() -> K>,
}

impl<K> std::fmt::Debug for Watch<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("kind", &std::any::type_name::<K>())
            .finish_non_exhaustive()
    }
}

impl<K: ObjectKind> Watch<K> {
    /// The next event; `None` once the stream has ended.
    pub async fn next(&mut self) -> Option<Result<Event<K>, ClientError>> {
        let event = self.stream.next().await?;
        Some(match event {
            WatchEvent::Added(o) => typed(o).map(Event::Added),
            WatchEvent::Modified(o) => typed(o).map(Event::Modified),
            WatchEvent::Deleted(o) => typed(o).map(Event::Deleted),
            WatchEvent::Bookmark(rv) => Ok(Event::Bookmark(rv)),
            WatchEvent::Error(s) => Ok(Event::Error(s)),
        })
    }
}
