//! [`Cluster`]: the whole control plane in your process — the event-sourced store, the API
//! server, the scheduler and the built-in controllers (kube-controller-manager's set) — behind
//! one builder.

use std::path::PathBuf;
use std::sync::Arc;

use skiff_controllers::builtin::{self, ControlPlaneConfig};
use skiff_controllers::kubelet::server::NodeServer;
use skiff_controllers::reconcile::Controller;
use skiff_controllers::runtime::Manager;
use skiff_controllers::runtime::election::LeaderElectionConfig;
use skiff_controllers::runtime::{RunOptions, Shutdown, ShutdownTrigger};
use skiff_core::client::{Client, ClientError};
use skiff_core::clock::{Clock, SystemClock, unix_micros};
use skiff_core::manifest::{self, ManifestError};
use skiff_core::object::{
    CustomKind, CustomResource, DynamicKind, KindRegistry, ObjectKind, PolicyRule, RegisterError,
};
use skiff_store::apiserver::{ApiServer, KubeletClientConfig, LocalClient};
use skiff_store::{Backing, OpenOptions, Store};

use crate::api::Api;
use crate::apply::{Applied, apply};

/// The user in-process calls act as (the embedding program is trusted: in-process calls are
/// authenticated as this user and not authorized; the audit trail in the log names it).
pub const EMBEDDER_USER: &str = "admin";

/// Why a cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened (the path and the reason).
    #[error("opening the store{0}: {1}")]
    Store(String, String),
    /// Bootstrapping the system namespaces failed.
    #[error("bootstrap: {0}")]
    Bootstrap(String),
    /// An in-process node's kubelet API could not listen (the node and the reason).
    #[error("kubelet API of {0}: {1}")]
    Kubelet(String, String),
    /// A custom kind could not be registered.
    #[error("registering a custom kind: {0}")]
    Kind(#[from] RegisterError),
}

/// Why an apply of YAML failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A document did not parse (file, document, line, column and field in the message).
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The API refused an object; the objects before it were applied.
    #[error("{object}: {error}")]
    Api {
        /// `kind/name` of the refused object.
        object: String,
        /// The refusal.
        error: ClientError,
    },
}

/// The user the controller manager acts as (its events in the log name it).
pub const CONTROLLER_MANAGER_USER: &str = "system:kube-controller-manager";

/// The user the scheduler acts as.
pub const SCHEDULER_USER: &str = "system:kube-scheduler";

/// Builds a [`Cluster`].
#[derive(Default)]
#[must_use]
pub struct ClusterBuilder {
    data_dir: Option<PathBuf>,
    clock: Option<Arc<dyn Clock>>,
    seed: Option<u64>,
    without_controllers: bool,
    control_plane: ControlPlaneConfig,
    nodes: u8,
    custom_kinds: Vec<&'static CustomKind>,
    controllers: Vec<crate::controller::Registered>,
    replicated: Option<(Store, String)>,
}

impl std::fmt::Debug for ClusterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterBuilder")
            .field("data_dir", &self.data_dir)
            .field("seed", &self.seed)
            .field("without_controllers", &self.without_controllers)
            .field("nodes", &self.nodes)
            .field("custom_kinds", &self.custom_kinds)
            .field(
                "controllers",
                &self
                    .controllers
                    .iter()
                    .map(|c| c.controller.name())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ClusterBuilder {
    /// Keep state in `dir` (created if absent): a restart with the same dir resumes from the
    /// log with nothing lost. Without it the cluster lives in memory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Serve `store`, one member of a replicated store (`Store::open_member`), instead of
    /// opening one (issue #11). Only the leader accepts writes, so the bootstrap objects are
    /// created in the background, retried every second until this member's bootstrap succeeds
    /// (it does on the leader; the objects then replicate to every member). The controller
    /// manager and scheduler run here as on every member: their Lease election lets exactly
    /// one act: each is a candidate named `identity` (upstream: hostname plus a unique suffix;
    /// it must differ between members).
    pub fn replicated(mut self, store: Store, identity: impl Into<String>) -> Self {
        self.replicated = Some((store, identity.into()));
        self
    }

    /// Read time from `clock` (default: the system clock — virtual under the simulator).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Seed of the generated uids and names (default: from the clock). Fix it for
    /// reproducible runs.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Do not run the built-in controllers (the store and API server only: objects are
    /// stored and watched, nothing reconciles them).
    pub fn without_controllers(mut self) -> Self {
        self.without_controllers = true;
        self
    }

    /// Run `n` simulated worker nodes in-process (`node-1` … `node-n`): each a kubelet over a
    /// simulated container runtime, all on one pod network programmed from kube-proxy's rules
    /// (seed §7–§9), each serving its node API (logs, exec, crictl) to the API server on a
    /// loopback port. At most 240.
    pub fn nodes(mut self, n: u8) -> Self {
        self.nodes = n.min(240);
        self
    }

    /// Settings of the built-in controllers (node grace period, CIDR allocation).
    pub fn control_plane(mut self, config: ControlPlaneConfig) -> Self {
        self.control_plane = config;
        self
    }

    /// Serves the typed custom kind `T` like a built-in one: storage, watch, its validation
    /// hook, RBAC by its group and plural, [`Cluster::api`], manifests, garbage collection of
    /// what its objects own. A data dir holding objects of a kind must register it again on
    /// every start.
    pub fn kind<T: CustomResource>(self) -> Self {
        self.custom_kind(T::KIND)
    }

    /// Serves a custom kind described at run time (its spec kept as JSON-like values), as
    /// [`ClusterBuilder::kind`] does a typed one.
    pub fn dynamic_kind(self, kind: DynamicKind) -> Self {
        self.custom_kind(kind.define())
    }

    /// Serves a custom kind already defined ([`CustomResource::KIND`], [`DynamicKind::define`]).
    pub fn custom_kind(mut self, kind: &'static CustomKind) -> Self {
        self.custom_kinds.push(kind);
        self
    }

    /// Runs `controller` beside the built-in ones, in the same runtime loop (informer caches,
    /// work queue with backoff, expectations), elected on its own Lease
    /// `kube-system/<name>`, as the service account `kube-system/<name>` with
    /// [`crate::controller::default_rules`]: full access to the kinds it watches, and Events.
    /// See [`crate::controller`] for the identity, the RBAC objects created and garbage
    /// collection of what it owns.
    pub fn controller(self, controller: impl Controller + 'static) -> Self {
        let rules = crate::controller::default_rules(&controller);
        self.controller_with_rules(controller, rules)
    }

    /// Runs `controller` as [`ClusterBuilder::controller`] does, granted exactly `rules`
    /// (cluster-wide, in its ClusterRole `system:controller:<name>`) besides its Lease.
    pub fn controller_with_rules(
        mut self,
        controller: impl Controller + 'static,
        rules: Vec<PolicyRule>,
    ) -> Self {
        self.controllers.push(crate::controller::Registered {
            controller: Box::new(controller),
            rules,
        });
        self
    }

    /// Starts the cluster: opens (or creates) the store and bootstraps the system namespaces,
    /// their default ServiceAccounts and the `kubernetes` Service.
    #[allow(
        clippy::too_many_lines,
        reason = "the cluster's parts, started in order"
    )]
    pub async fn build(self) -> Result<Cluster, StartError> {
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(SystemClock::new()) as Arc<dyn Clock>);
        let mut kinds = KindRegistry::builtin();
        for kind in &self.custom_kinds {
            kinds.register(kind)?;
        }
        let replicated = self.replicated.is_some();
        let (store, identity) = match self.replicated {
            Some((store, identity)) => (store, Some(identity)),
            None => (open_store(self.data_dir.as_ref(), &clock, &kinds)?, None),
        };
        let seed = self
            .seed
            .unwrap_or_else(|| unix_micros(clock.wall()).unsigned_abs());
        let api = Arc::new(ApiServer::new(store.clone(), clock.clone(), seed));
        let (stop, shutdown) = Shutdown::channel();
        let mut tasks = Vec::new();
        if replicated {
            tasks.push(tokio::spawn(bootstrap_replicated(
                api.clone(),
                shutdown.clone(),
            )));
        } else {
            api.bootstrap()
                .await
                .map_err(|e| StartError::Bootstrap(e.to_string()))?;
        }
        let client: Arc<dyn Client> = Arc::new(LocalClient::new(api.clone(), EMBEDDER_USER));
        let managers = control_loops(self.without_controllers, &self.control_plane, &kinds, seed);
        {
            for (mut manager, user) in managers {
                let manager_client: Arc<dyn Client> = Arc::new(LocalClient::new(api.clone(), user));
                let options = RunOptions {
                    seed,
                    shutdown: shutdown.clone(),
                    // Every member runs the loops; the Lease lets one act.
                    leader_election: identity
                        .as_ref()
                        .map(|identity| LeaderElectionConfig::new(identity.clone())),
                    ..RunOptions::default()
                };
                let manager_clock = clock.clone();
                tasks.push(tokio::spawn(async move {
                    if let Err(e) = manager.run(manager_client, manager_clock, options).await {
                        tracing::error!(error = %e, user, "control-plane loop stopped");
                    }
                }));
            }
        }
        tasks.extend(
            crate::controller::start(self.controllers, &api, &*client, &clock, seed, &shutdown)
                .await
                .map_err(StartError::Bootstrap)?,
        );
        let network = skiff_controllers::cri::network::SimCluster::new(seed);
        let mut runtimes = Vec::new();
        if self.nodes > 0 {
            let mut pod_network = skiff_controllers::runtime::Manager::new("pod-network")
                .with(builtin::PodNetwork::new(network.clone()));
            let network_client: Arc<dyn Client> =
                Arc::new(LocalClient::new(api.clone(), "system:kube-proxy"));
            let options = RunOptions {
                seed,
                shutdown: shutdown.clone(),
                ..RunOptions::default()
            };
            let network_clock = clock.clone();
            tasks.push(tokio::spawn(async move {
                let _ = pod_network
                    .run(network_client, network_clock, options)
                    .await;
            }));
        }
        // The kubelets' node API (logs, exec, crictl): each in-process node listens on a
        // loopback port of its own and accepts only the API server's credential, drawn from
        // the seed.
        let kubelet_token = {
            let mut rng = skiff_core::rng::SplitMix64::new(seed ^ 0x6b75_6265_6c65_7421);
            format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())
        };
        api.set_kubelet_client(KubeletClientConfig {
            token: kubelet_token.clone(),
            ..KubeletClientConfig::default()
        });
        for index in 1..=self.nodes {
            let name = format!("node-{index}");
            let node_client: Arc<dyn Client> = Arc::new(LocalClient::new(
                api.clone(),
                &format!("system:node:{name}"),
            ));
            let (agent, runtime, server) = start_node(
                &api,
                &name,
                index,
                seed,
                &clock,
                node_client,
                &network,
                &kubelet_token,
            )
            .await?;
            let mut stop_server = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                tokio::select! {
                    biased;
                    () = stop_server.wait() => {}
                    () = server => {}
                }
            }));
            runtimes.push((name, runtime));
            let mut stop_node = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                tokio::select! {
                    biased;
                    () = stop_node.wait() => {}
                    () = agent.run() => {}
                }
            }));
        }
        Ok(Cluster {
            kinds,
            runtimes,
            store,
            api,
            client,
            clock,
            stop,
            tasks,
        })
    }
}

/// Bootstraps a replicated member's API server: retried every second until it succeeds (on
/// whichever member leads; followers refuse writes) or the cluster shuts down.
async fn bootstrap_replicated(api: Arc<ApiServer>, mut shutdown: Shutdown) {
    loop {
        match api.bootstrap().await {
            Ok(()) => return,
            Err(e) => tracing::debug!(error = %e, "bootstrap deferred"),
        }
        tokio::select! {
            biased;
            () = shutdown.wait() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

/// One in-process node: its kubelet agent, its runtime, and its node API served on a loopback
/// port that the kubelet records in its Node and the API server is routed to.
#[allow(clippy::too_many_arguments, reason = "the parts of one node")]
async fn start_node(
    api: &Arc<ApiServer>,
    name: &str,
    index: u8,
    seed: u64,
    clock: &Arc<dyn Clock>,
    client: Arc<dyn Client>,
    network: &Arc<skiff_controllers::cri::network::SimCluster>,
    token: &str,
) -> Result<
    (
        skiff_controllers::kubelet::agent::Agent,
        Arc<skiff_controllers::cri::sim::SimRuntime>,
        impl std::future::Future<Output = ()> + Send + 'static,
    ),
    StartError,
> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| StartError::Kubelet(name.to_owned(), e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Kubelet(name.to_owned(), e.to_string()))?;
    let (agent, runtime) = builtin::sim_node_on_port(
        name,
        index,
        addr.port(),
        seed ^ u64::from(index).rotate_left(32),
        clock.clone(),
        client,
        network,
    );
    api.route_kubelet(name, &addr.to_string());
    let server = Arc::new(NodeServer::new(name, runtime.clone(), clock.clone(), token));
    Ok((
        agent,
        runtime,
        skiff_controllers::kubelet::server::serve(listener, server),
    ))
}

/// Opens the store in `data_dir` (created if absent) or in memory, serving `kinds`.
fn open_store(
    data_dir: Option<&PathBuf>,
    clock: &Arc<dyn Clock>,
    kinds: &KindRegistry,
) -> Result<Store, StartError> {
    let (backing, place) = match data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| StartError::Store(format!(" {}", dir.display()), e.to_string()))?;
            (Backing::Dir(dir.clone()), format!(" {}", dir.display()))
        }
        None => (Backing::Memory, String::new()),
    };
    Store::open_with_kinds(
        backing,
        clock.clone(),
        OpenOptions::default(),
        kinds.clone(),
    )
    .map_err(|e| StartError::Store(place, e.to_string()))
}

/// The control loops a cluster runs, each with the user it acts as: kube-controller-manager's
/// set and the scheduler, unless `without_controllers`. The embedder's own controllers are
/// started by [`crate::controller::start`].
fn control_loops(
    without_controllers: bool,
    control_plane: &ControlPlaneConfig,
    kinds: &KindRegistry,
    seed: u64,
) -> Vec<(Manager, &'static str)> {
    let mut managers = Vec::new();
    if !without_controllers {
        let control_plane = ControlPlaneConfig {
            kinds: kinds.clone(),
            ..control_plane.clone()
        };
        managers.push((
            builtin::controller_manager(&control_plane),
            CONTROLLER_MANAGER_USER,
        ));
        managers.push((builtin::scheduler(seed), SCHEDULER_USER));
    }
    managers
}

/// A running control plane, in-process.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use skiff::Cluster;
/// use skiff::core::object::ConfigMap;
///
/// let cluster = Cluster::builder().seed(7).build().await?;
/// cluster
///     .apply_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n")
///     .await?;
/// let settings = cluster.api::<ConfigMap>("default").get("settings").await?;
/// assert_eq!(settings.data["mode"], "fast");
/// cluster.shutdown().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Cluster {
    kinds: KindRegistry,
    runtimes: Vec<(String, Arc<skiff_controllers::cri::sim::SimRuntime>)>,
    store: Store,
    api: Arc<ApiServer>,
    client: Arc<dyn Client>,
    clock: Arc<dyn Clock>,
    stop: ShutdownTrigger,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").finish_non_exhaustive()
    }
}

impl Cluster {
    /// A builder with the defaults: in memory, system clock.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// The API as a [`Client`] acting as [`EMBEDDER_USER`].
    pub fn client(&self) -> Arc<dyn Client> {
        self.client.clone()
    }

    /// A typed API for kind `K` (built-in, or a custom kind registered with
    /// [`ClusterBuilder::kind`]) in `namespace`.
    pub fn api<K: ObjectKind>(&self, namespace: &str) -> Api<K> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// A typed API for kind `K` across all namespaces (lists and watches).
    pub fn api_all<K: ObjectKind>(&self) -> Api<K> {
        Api::all(self.client.clone())
    }

    /// The API server (for a wire server of your own, or calls as another user).
    pub fn api_server(&self) -> &Arc<ApiServer> {
        &self.api
    }

    /// The container runtime of the in-process node `name` (what `crictl` on that node
    /// talks to), if there is such a node.
    pub fn runtime(&self, name: &str) -> Option<&Arc<skiff_controllers::cri::sim::SimRuntime>> {
        self.runtimes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r)
    }

    /// The kinds this cluster serves: the built-ins and the registered custom kinds.
    pub fn kinds(&self) -> &KindRegistry {
        &self.kinds
    }

    /// The event store (reads: history, status, verify).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The cluster's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Applies every document of a YAML (or JSON) manifest stream, in order: creates what is
    /// missing, updates what differs. Parsing happens first, so a malformed manifest changes
    /// nothing.
    pub async fn apply_yaml(&self, yaml: &str) -> Result<Vec<Applied>, ApplyError> {
        let objects = manifest::parse_str_with("<apply>", yaml, &self.kinds)?;
        let mut applied = Vec::with_capacity(objects.len());
        for object in objects {
            let what = object.kind_slash_name();
            applied.push(
                apply(&*self.client, object)
                    .await
                    .map_err(|error| ApplyError::Api {
                        object: what,
                        error,
                    })?,
            );
        }
        Ok(applied)
    }

    /// Stops the cluster: the controllers finish their writes in flight, pending writes are
    /// committed and the store is closed.
    pub async fn shutdown(self) {
        self.stop.trigger();
        for task in self.tasks {
            let _ = task.await;
        }
        self.store.shutdown().await;
    }
}
