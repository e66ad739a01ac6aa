//! [`ReconnectingClient`]: a [`Client`] over the wire that survives the control plane's
//! restarts and partitions, for long-lived components (kubelets, remote controllers). A
//! [`WireClient`] is one connection and fails for good once it closes; this one reconnects on
//! the next call, and bounds every call with `CALL_TIMEOUT` because a partitioned simulated
//! TCP connection stalls instead of failing (madsim.md §4). A timed-out or failed call is a
//! [`ClientError::Transport`]: its outcome is unknown, as the `Client` contract says.

use std::sync::{Arc, Mutex};

use skiff_core::client::{
    Binding, BoxFuture, Client, ClientError, DeleteOptions, Deleted, ListParams, ObjectList,
    WatchStream,
};
use skiff_core::event::Event;
use skiff_core::object::{KindInfo, KindRegistry, Object};
use skiff_store::wire::WireClient;

use crate::worker::{lock, timed};

/// A client that reconnects after any transport failure.
pub struct ReconnectingClient {
    server: String,
    token: String,
    kinds: KindRegistry,
    current: Mutex<Option<Arc<WireClient>>>,
    /// Connections made so far: with several endpoints, each reconnection starts from the
    /// next one (a fresh `WireClient` starts from its first endpoint, which may be the member
    /// that just stalled the last call).
    connects: Mutex<usize>,
}

impl ReconnectingClient {
    /// A client of `server` authenticating with `token`; connects on first use.
    pub fn new(server: impl Into<String>, token: impl Into<String>) -> Self {
        Self::with_kinds(server, token, KindRegistry::builtin())
    }

    /// A client that also decodes objects of the custom kinds of `kinds` (the server must
    /// serve them: the testkit's user controllers and workload).
    pub fn with_kinds(
        server: impl Into<String>,
        token: impl Into<String>,
        kinds: KindRegistry,
    ) -> Self {
        Self {
            server: server.into(),
            token: token.into(),
            kinds,
            current: Mutex::new(None),
            connects: Mutex::new(0),
        }
    }

    async fn client(&self) -> Result<Arc<WireClient>, ClientError> {
        if let Some(c) = lock(&self.current).clone() {
            return Ok(c);
        }
        let server = {
            let mut connects = lock(&self.connects);
            let server = rotated(&self.server, *connects);
            *connects += 1;
            server
        };
        let c = Arc::new(
            timed(WireClient::connect_with_kinds(
                &server,
                &self.token,
                self.kinds.clone(),
            ))
            .await?,
        );
        *lock(&self.current) = Some(c.clone());
        Ok(c)
    }

    /// Runs one call on the current connection; a transport failure drops the connection.
    async fn call<T>(
        &self,
        f: impl for<'c> FnOnce(&'c WireClient) -> BoxFuture<'c, Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        let client = self.client().await?;
        let result = timed(f(&client)).await;
        if let Err(ClientError::Transport(_)) = &result {
            let mut current = lock(&self.current);
            if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &client)) {
                *current = None;
            }
        }
        result
    }
}

/// `server`'s comma-separated endpoints starting from the `n`-th (modulo their number); a
/// single endpoint unchanged.
fn rotated(server: &str, n: usize) -> String {
    if !server.contains(',') {
        return server.to_owned();
    }
    let endpoints: Vec<&str> = server.split(',').collect();
    let start = n % endpoints.len();
    endpoints[start..]
        .iter()
        .chain(&endpoints[..start])
        .copied()
        .collect::<Vec<_>>()
        .join(",")
}

impl Client for ReconnectingClient {
    fn create(
        &self,
        namespace: Option<&str>,
        object: Object,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let namespace = namespace.map(str::to_owned);
        Box::pin(self.call(move |c| c.create(namespace.as_deref(), object)))
    }

    fn get(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        Box::pin(self.call(move |c| c.get(resource, &namespace, &name)))
    }

    fn list(
        &self,
        resource: &'static KindInfo,
        namespace: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<ObjectList, ClientError>> {
        let namespace = namespace.map(str::to_owned);
        Box::pin(self.call(move |c| c.list(resource, namespace.as_deref(), params)))
    }

    fn update(&self, object: Object) -> BoxFuture<'_, Result<Object, ClientError>> {
        Box::pin(self.call(move |c| c.update(object)))
    }

    fn update_status(&self, object: Object) -> BoxFuture<'_, Result<Object, ClientError>> {
        Box::pin(self.call(move |c| c.update_status(object)))
    }

    fn delete(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
        options: DeleteOptions,
    ) -> BoxFuture<'_, Result<Deleted, ClientError>> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        Box::pin(self.call(move |c| c.delete(resource, &namespace, &name, options)))
    }

    fn bind(
        &self,
        namespace: &str,
        name: &str,
        binding: Binding,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        Box::pin(self.call(move |c| c.bind(&namespace, &name, binding)))
    }

    fn history(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Vec<Event>, ClientError>> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        Box::pin(self.call(move |c| c.history(resource, &namespace, &name)))
    }

    fn watch(
        &self,
        resource: &'static KindInfo,
        namespace: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<Box<dyn WatchStream>, ClientError>> {
        let namespace = namespace.map(str::to_owned);
        Box::pin(self.call(move |c| c.watch(resource, namespace.as_deref(), params)))
    }
}

#[cfg(test)]
mod tests {
    use super::rotated;

    #[test]
    fn each_reconnection_starts_from_the_next_endpoint() {
        assert_eq!(rotated("a:1", 5), "a:1");
        assert_eq!(rotated("a:1,b:2,c:3", 0), "a:1,b:2,c:3");
        assert_eq!(rotated("a:1,b:2,c:3", 1), "b:2,c:3,a:1");
        assert_eq!(rotated("a:1,b:2,c:3", 5), "c:3,a:1,b:2");
    }
}
