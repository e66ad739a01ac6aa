//! The kubelet process: list+watch of its pods (`spec.nodeName=<node>`) and its own Node, a
//! get of its Lease (nodes may not list or watch leases, upstream `NodeRules()`); every second (upstream PLEG relists every second) or sooner when asked, one round:
//! read the static pod directory, fetch the ConfigMaps and Secrets its pods use, snapshot the
//! runtime, run due probes, reconcile, apply the runtime actions, send the API actions.
//!
//! A small list+watch of its own (two watches, relisted when a watch ends); the generic
//! informers of `crate::runtime` can replace it.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use skiff_core::client::{Client, ClientError, Deleted, ListParams, WatchEvent, WatchStream};
use skiff_core::clock::Clock;
use skiff_core::object::{
    ConfigMap, HasKindInfo, KindInfo, Lease, Node, Object, Pod, Secret, TypedObject,
};

use super::node::NODE_LEASE_NAMESPACE;
use super::probe::Prober;
use super::{Kubelet, Snapshot, static_pods};
use crate::cri::{HostFs, Runtime};
use crate::reconcile::Action;
use crate::view::View;

/// How often a round runs when nothing asks for one sooner (upstream PLEG relist period).
pub const ROUND: Duration = Duration::from_secs(1);
/// The shortest gap between two rounds: a round that asks for the next one at once (after it
/// changed the runtime) still lets the clock move, so a round that keeps asking cannot hold a
/// simulated clock at one instant.
pub const MIN_ROUND: Duration = Duration::from_millis(1);
/// How long a fetched ConfigMap or Secret is trusted before it is read again.
pub const REFERENCED_TTL: Duration = Duration::from_secs(10);
/// Wait after a failed list or watch before trying again.
const RELIST_BACKOFF: Duration = Duration::from_secs(1);

type NextEvent = Pin<Box<dyn Future<Output = (Option<WatchEvent>, Box<dyn WatchStream>)> + Send>>;

fn next_event(mut stream: Box<dyn WatchStream>) -> NextEvent {
    Box::pin(async move {
        let event = stream.next().await;
        (event, stream)
    })
}

/// One list+watch: a kind, where, which objects.
struct Watch {
    resource: &'static KindInfo,
    namespace: Option<String>,
    field_selector: String,
    pending: Option<NextEvent>,
}

impl Watch {
    fn new(resource: &'static KindInfo, namespace: Option<&str>, field_selector: String) -> Self {
        Self {
            resource,
            namespace: namespace.map(str::to_owned),
            field_selector,
            pending: None,
        }
    }

    /// Lists into the view (replacing what it held of the kind) and starts watching.
    async fn relist(&mut self, client: &dyn Client, view: &mut View) -> Result<(), ClientError> {
        let params = ListParams {
            field_selector: self.field_selector.clone(),
            ..ListParams::default()
        };
        let list = client
            .list(self.resource, self.namespace.as_deref(), params.clone())
            .await?;
        view.clear_kind(self.resource.kind);
        for o in list.items {
            view.insert(o);
        }
        view.observe_revision(list.resource_version);
        let stream = client
            .watch(
                self.resource,
                self.namespace.as_deref(),
                ListParams {
                    resource_version: Some(list.resource_version.to_string()),
                    ..params
                },
            )
            .await?;
        self.pending = Some(next_event(stream));
        Ok(())
    }
}

/// Waits for the next event of a watch; never ready when the watch is not running.
async fn wait(w: &mut Watch) -> (Option<WatchEvent>, Box<dyn WatchStream>) {
    match w.pending.as_mut() {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// The kubelet process around a [`Kubelet`].
pub struct Agent {
    kubelet: Kubelet,
    client: Arc<dyn Client>,
    clock: Arc<dyn Clock>,
    runtime: Arc<dyn Runtime>,
    host: Arc<dyn HostFs>,
    prober: Arc<dyn Prober + Send + Sync>,
    static_pod_dir: Option<PathBuf>,
    view: View,
    last_refresh: Option<Duration>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("node", &self.kubelet.config.node_name)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// A kubelet process over a runtime, its node's files and a prober (for the simulated
    /// runtime, the same `Arc<SimRuntime>` thrice).
    pub fn new(
        kubelet: Kubelet,
        client: Arc<dyn Client>,
        clock: Arc<dyn Clock>,
        runtime: Arc<dyn Runtime>,
        host: Arc<dyn HostFs>,
        prober: Arc<dyn Prober + Send + Sync>,
    ) -> Self {
        Self {
            kubelet,
            client,
            clock,
            runtime,
            host,
            prober,
            static_pod_dir: None,
            view: View::new(),
            last_refresh: None,
        }
    }

    /// Runs static pods from the manifests in `dir` (kubeadm's `/etc/kubernetes/manifests`).
    #[must_use]
    pub fn with_static_pod_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.static_pod_dir = Some(dir.into());
        self
    }

    /// What the agent currently sees of the API.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// The view, for tests that fill it by hand.
    #[cfg(test)]
    pub(crate) fn view_mut(&mut self) -> &mut View {
        &mut self.view
    }

    /// The kubelet (configuration and memory).
    pub fn kubelet(&self) -> &Kubelet {
        &self.kubelet
    }

    /// Runs forever: watches and rounds. Drop the task to stop it (the runtime keeps running
    /// its containers, as a real node does when its kubelet stops).
    pub async fn run(mut self) {
        let node = self.kubelet.config.node_name.clone();
        let mut watches = [
            Watch::new(&Pod::INFO, None, format!("spec.nodeName={node}")),
            Watch::new(&Node::INFO, None, format!("metadata.name={node}")),
        ];
        let mut next_round = self.clock.elapsed();
        loop {
            for w in &mut watches {
                if w.pending.is_none()
                    && let Err(e) = w.relist(self.client.as_ref(), &mut self.view).await
                {
                    tracing::warn!(node = %node, kind = w.resource.kind, error = %e, "kubelet list+watch failed");
                }
            }
            let wait_for = next_round.saturating_sub(self.clock.elapsed());
            let [pods, nodes] = &mut watches;
            let (which, event) = tokio::select! {
                biased;
                () = tokio::time::sleep(wait_for) => (usize::MAX, None),
                r = wait(pods) => (0, Some(r)),
                r = wait(nodes) => (1, Some(r)),
            };
            match event {
                None => {
                    let requeue = self.round().await;
                    next_round = self.clock.elapsed() + requeue.clamp(MIN_ROUND, ROUND);
                    if watches.iter().any(|w| w.pending.is_none()) {
                        tokio::time::sleep(RELIST_BACKOFF).await;
                    }
                }
                Some((event, stream)) => {
                    let w = &mut watches[which];
                    match event {
                        None | Some(WatchEvent::Error(_)) => w.pending = None,
                        Some(e) => {
                            self.view.apply(&e);
                            w.pending = Some(next_event(stream));
                        }
                    }
                }
            }
        }
    }

    /// One round; returns when the kubelet wants the next one.
    pub async fn round(&mut self) -> Duration {
        let node = self.kubelet.config.node_name.clone();
        if let Some(dir) = &self.static_pod_dir {
            let (pods, errors) = static_pods::load_dir(dir, &node);
            for e in errors {
                tracing::warn!(node = %node, error = %e, "static pod manifest");
            }
            self.kubelet.set_static_pods(pods);
        }
        self.fetch_referenced().await;
        self.fetch_lease().await;
        let now = self.clock.wall();
        let snapshot = Snapshot::take(self.runtime.as_ref());
        self.kubelet.run_probes(
            &self.view,
            &snapshot,
            self.runtime.as_ref(),
            self.prober.as_ref(),
            now,
        );
        let out = self.kubelet.reconcile(&self.view, &snapshot, now);
        let applied =
            self.kubelet
                .apply(self.runtime.as_ref(), self.host.as_ref(), &out.runtime, now);
        let events = self.kubelet.events(&self.view, &out.runtime, &applied, now);
        for action in out.api.into_iter().chain(events) {
            self.send(action).await;
        }
        out.requeue_after.unwrap_or(ROUND)
    }

    /// The node's Lease, when the view lacks it or the last write of it failed (it may have
    /// changed under us).
    async fn fetch_lease(&mut self) {
        let node = self.kubelet.config.node_name.clone();
        let key = crate::view::ObjectKey::new(NODE_LEASE_NAMESPACE, &node);
        if self.view.get_object(Lease::INFO.kind, &key).is_some() && !self.kubelet.lease_stale() {
            return;
        }
        match self
            .client
            .get(&Lease::INFO, NODE_LEASE_NAMESPACE, &node)
            .await
        {
            Ok(lease) => {
                self.view.insert(lease);
            }
            Err(ClientError::Status(s)) if s.code() == 404 => {
                if let Some(old) = self.view.get_object(Lease::INFO.kind, &key).cloned() {
                    self.view.remove(&old);
                }
            }
            Err(_) => {}
        }
    }

    /// ConfigMaps and Secrets the node's pods use and the view lacks (upstream: the kubelet's
    /// per-object watches of what its pods reference).
    async fn fetch_referenced(&mut self) {
        let mut wanted: Vec<(&'static KindInfo, String, String)> = Vec::new();
        for p in self.view.pods_on_node(&self.kubelet.config.node_name) {
            let ns = p.metadata.namespace_or_empty().to_owned();
            for v in &p.spec.volumes {
                if let Some(name) = v.config_map.as_ref().and_then(|c| c.name.clone()) {
                    wanted.push((&ConfigMap::INFO, ns.clone(), name));
                }
                if let Some(name) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
                    wanted.push((&Secret::INFO, ns.clone(), name));
                }
            }
            for c in p.spec.all_containers() {
                for e in &c.env {
                    if let Some(src) = &e.value_from {
                        if let Some(k) = &src.config_map_key_ref {
                            wanted.push((
                                &ConfigMap::INFO,
                                ns.clone(),
                                k.name.clone().unwrap_or_default(),
                            ));
                        }
                        if let Some(k) = &src.secret_key_ref {
                            wanted.push((
                                &Secret::INFO,
                                ns.clone(),
                                k.name.clone().unwrap_or_default(),
                            ));
                        }
                    }
                }
            }
        }
        wanted.sort_by(|a, b| (a.0.kind, &a.1, &a.2).cmp(&(b.0.kind, &b.1, &b.2)));
        wanted.dedup_by(|a, b| a.0.kind == b.0.kind && a.1 == b.1 && a.2 == b.2);
        // Everything missing now; everything again once per TTL (upstream's TTL-based
        // change detection for ConfigMaps and Secrets), so changes reach the volumes.
        let now = self.clock.elapsed();
        let refresh = self
            .last_refresh
            .is_none_or(|at| now.saturating_sub(at) >= REFERENCED_TTL);
        if refresh {
            self.last_refresh = Some(now);
        }
        for (info, ns, name) in wanted {
            let key = crate::view::ObjectKey::new(&ns, &name);
            let cached = self.view.get_object(info.kind, &key).cloned();
            if cached.is_some() && !refresh {
                continue;
            }
            match self.client.get(info, &ns, &name).await {
                Ok(o) => self.view.insert(o),
                Err(ClientError::Status(s)) if s.code() == 404 => {
                    if let Some(old) = cached {
                        self.view.remove(&old);
                    }
                }
                Err(_) => {}
            }
        }
    }

    /// Sends one API action; the result goes into the view, a failure into the kubelet's
    /// memory.
    async fn send(&mut self, action: Action) {
        let result: Result<Option<Object>, ClientError> = match &action {
            Action::Create(o) => {
                let ns = o.metadata().namespace.clone();
                self.client.create(ns.as_deref(), o.clone()).await.map(Some)
            }
            Action::Update(o) => self.client.update(o.clone()).await.map(Some),
            Action::UpdateStatus(o) => self.client.update_status(o.clone()).await.map(Some),
            Action::Delete {
                resource,
                namespace,
                name,
                options,
            } => match self
                .client
                .delete(resource, namespace, name, options.clone())
                .await
            {
                Ok(Deleted::Gone(o)) => {
                    self.view.remove(&o);
                    Ok(None)
                }
                Ok(Deleted::Pending(o)) => Ok(Some(o)),
                Err(e) => Err(e),
            },
            Action::Bind {
                namespace,
                name,
                binding,
            } => self
                .client
                .bind(namespace, name, binding.clone())
                .await
                .map(Some),
        };
        match result {
            Ok(written) => {
                if let Some(o) = written {
                    if Lease::from_ref(&o).is_some() {
                        self.kubelet.lease_succeeded();
                    }
                    self.view.insert(o);
                }
            }
            Err(e) => {
                tracing::debug!(action = %action.describe(), error = %e, "kubelet write failed");
                let now = self.clock.wall();
                self.kubelet.api_failed(&action, &e, now);
            }
        }
    }
}
