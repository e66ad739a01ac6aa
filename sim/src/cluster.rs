//! The cluster harness: madsim nodes for the control plane (store on a [`SimDisk`] that
//! survives restarts, API server, wire server, controllers), one per worker (the worker agent;
//! the kubelet once it lands) and one for the client running the workload, all talking the
//! real wire protocol over simulated TCP. Every node has its own [`SkewedClock`], captured by
//! its `init` closure so its skew survives restarts.
//!
//! What survives a restart lives in `Arc`s captured by the `init` closures (madsim.md §2): the
//! disk, the clocks, the oracle, the watch log, the workload's memory.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::runtime::Handle;
use madsim::task::NodeId;
use skiff_controllers::builtin::{self, ControlPlaneConfig};
use skiff_controllers::cri::sim::{SimConfig, SimRuntime};
use skiff_controllers::kubelet::agent::Agent;
use skiff_controllers::kubelet::{Kubelet, KubeletConfig};
use skiff_controllers::proxy::ipam::{DEFAULT_CLUSTER_CIDR, Ipv4Cidr};
use skiff_controllers::proxy::{self, KubeProxy};
use skiff_controllers::reconcile::Controller;
use skiff_controllers::runtime::election::LeaderElectionConfig;
use skiff_controllers::runtime::{self, RunOptions};
use skiff_core::client::{Client, ClientError};
use skiff_core::clock::{Clock, Skew, SkewedClock, SystemClock};
use skiff_core::object::{
    ClusterRoleBinding, KindRegistry, Object, ObjectMeta, RoleRef, ServiceAccount, Subject, info,
};
use skiff_core::status::Reason;
use skiff_store::apiserver::authn::Authenticator;
use skiff_store::apiserver::{ApiHandler, ApiServer, LocalClient};
use skiff_store::disk::{SIMULATED_POWER_LOSS, SimDisk};
use skiff_store::wire::serve;
use skiff_store::{Backing, CompactionPolicy, OpenOptions, Store};
use tokio::net::TcpListener;

use crate::check::watch_order::WatchLog;
use crate::options::Options;
use crate::oracle::Oracle;
use crate::reconnect::ReconnectingClient;
use crate::worker::{WorkerConfig, WorkerStats, lock};
use crate::workload::WorkloadState;

/// The API server's wire port (upstream's secure port).
pub const API_PORT: u16 = 6443;
/// CPU each worker offers, in millicores.
pub const WORKER_CPU_MILLI: i64 = 4_000;
/// Memory each worker offers.
pub const WORKER_MEMORY_BYTES: u64 = 8 << 30;

/// Which components of the cluster the harness runs (they land one by one; checkers and
/// liveness conditions that need a missing one are off).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Components {
    /// Controllers run by the control plane's controller manager, by name.
    pub controller_manager: Vec<&'static str>,
    /// The scheduler runs on the control plane.
    pub scheduler: bool,
    /// Workers run the kubelet (otherwise the minimal worker agent).
    pub kubelet: bool,
    /// Workers run kube-proxy.
    pub proxy: bool,
}

impl Components {
    /// What this build of the harness wires in.
    pub fn wired() -> Self {
        Self {
            controller_manager: builtin::controller_manager(&ControlPlaneConfig::default())
                .controllers()
                .iter()
                .map(|c| c.name())
                .collect(),
            proxy: true,
            scheduler: true,
            kubelet: true,
        }
    }

    /// Whether the controller manager runs controller `name`.
    pub fn runs(&self, name: &str) -> bool {
        self.controller_manager.contains(&name)
    }

    /// Every component's name, for the report.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = self.controller_manager.clone();
        if self.scheduler {
            names.push("scheduler");
        }
        if self.kubelet {
            names.push("kubelet");
        }
        if self.proxy {
            names.push("kube-proxy");
        }
        names
    }
}

/// Makes a fresh instance of a user controller (after each crash or lost election).
pub type ControllerFactory = Arc<dyn Fn() -> Box<dyn Controller> + Send + Sync>;

/// A test's own workload: run on its own client node with an admin client; started again
/// from the beginning when that node restarts.
pub type UserWorkload =
    Arc<dyn Fn(Arc<dyn Client>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A user controller the harness runs on a node of its own (`controller-<name>`), over the
/// wire with the service account token of `kube-system/<name>`, elected on the Lease
/// `kube-system/<name>`.
#[derive(Clone)]
pub struct UserController {
    /// The controller's name (its Lease and service account).
    pub name: &'static str,
    /// Makes the controller.
    pub factory: ControllerFactory,
}

/// What a test adds to the cluster ([`crate::testkit`]); empty for `cargo sim`.
#[derive(Clone, Default)]
pub struct Extras {
    /// User controllers, each on its own node.
    pub controllers: Vec<UserController>,
    /// A workload of the test's own, on its own client node.
    pub workload: Option<UserWorkload>,
    /// Do not run the seeded background workload.
    pub quiet: bool,
    /// The kinds the cluster serves (the built-ins unless a test registers custom kinds):
    /// the control plane's store, API server and garbage collector, and the user
    /// controllers' and workload's clients decode objects with it.
    pub kinds: KindRegistry,
}

/// The service account namespace of user controllers.
pub const USER_CONTROLLER_NAMESPACE: &str = "kube-system";

/// The user a user controller acts as (`system:serviceaccount:kube-system:<name>`).
pub fn user_controller_user(name: &str) -> String {
    format!("system:serviceaccount:{USER_CONTROLLER_NAMESPACE}:{name}")
}

/// The node (and leader identity) of a user controller.
pub fn user_controller_node(name: &str) -> String {
    format!("controller-{name}")
}

/// The objects the control plane applies at every boot for the user controllers: each one's
/// ServiceAccount, and a ClusterRoleBinding `skiff-sim:<name>` of it to `cluster-admin` (the
/// testkit tests behaviour under faults, not RBAC; the embedded cluster's
/// `ClusterBuilder::controller` grants least privilege).
fn grants(extras: &Extras) -> Vec<Object> {
    let mut objects = Vec::new();
    for c in &extras.controllers {
        objects.push(
            ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(c.name.to_owned()),
                    namespace: Some(USER_CONTROLLER_NAMESPACE.to_owned()),
                    ..ObjectMeta::default()
                },
                ..ServiceAccount::default()
            }
            .into(),
        );
        objects.push(
            ClusterRoleBinding {
                metadata: ObjectMeta::named(format!("skiff-sim:{}", c.name)),
                subjects: vec![Subject {
                    kind: "ServiceAccount".to_owned(),
                    api_group: None,
                    name: c.name.to_owned(),
                    namespace: Some(USER_CONTROLLER_NAMESPACE.to_owned()),
                }],
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".to_owned(),
                    kind: "ClusterRole".to_owned(),
                    name: "cluster-admin".to_owned(),
                },
                ..ClusterRoleBinding::default()
            }
            .into(),
        );
    }
    objects
}

/// What a node is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Store, API server, controllers, scheduler.
    ControlPlane,
    /// Worker agent (kubelet).
    Worker,
    /// The workload's client (the seeded workload's, or a test's own).
    Client,
    /// A user controller of a test ([`crate::testkit`]).
    Controller,
}

/// One simulated machine.
#[derive(Debug, Clone)]
pub struct SimNode {
    /// Its name (`control-plane`, `worker-1`, `client`).
    pub name: String,
    /// What it runs.
    pub role: Role,
    /// madsim's id.
    pub id: NodeId,
    /// Its clock (shared with the node's tasks).
    pub clock: SkewedClock,
    /// False between a kill and the restart.
    pub up: bool,
}

/// The control plane's state shared with the harness.
#[derive(Clone, Default)]
pub struct ControlPlaneShared {
    /// The store of the current boot (`None` while down or before it opened).
    pub store: Arc<Mutex<Option<Store>>>,
    /// Boots so far.
    pub boots: Arc<AtomicU64>,
    /// Failures to start (store open, bind): crash-class violations.
    pub errors: Arc<Mutex<Vec<String>>>,
    /// Expected failures (a write refused after an injected power loss), for the trace.
    pub notes: Arc<Mutex<Vec<String>>>,
}

/// The simulated cluster.
pub struct Cluster {
    /// madsim's supervisor handle.
    pub handle: Handle,
    /// Every node, control plane first, then workers, then the client.
    pub nodes: Vec<SimNode>,
    /// The control plane's disk.
    pub disk: SimDisk,
    /// Control-plane state.
    pub control_plane: ControlPlaneShared,
    /// What the clients were told.
    pub oracle: Arc<Mutex<Oracle>>,
    /// The watcher's sessions.
    pub watch_log: Arc<Mutex<WatchLog>>,
    /// The workload's memory.
    pub workload: Arc<Mutex<WorkloadState>>,
    /// Per-worker counters, by node name.
    pub worker_stats: BTreeMap<String, Arc<Mutex<WorkerStats>>>,
    /// What runs.
    pub components: Components,
}

fn base_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock::new())
}

/// What every node's `init` needs to reach the control plane.
#[derive(Clone)]
struct Common {
    server: String,
    admin_token: String,
    oracle: Arc<Mutex<Oracle>>,
    watch_log: Arc<Mutex<WatchLog>>,
    /// The kinds served (the user nodes' clients decode with it).
    kinds: KindRegistry,
    /// The pods' range: node IPAM cuts nodes' ranges from it, kube-proxy masquerades
    /// traffic from outside it.
    cluster_cidr: Ipv4Cidr,
}

/// The cluster CIDR for `workers` nodes: upstream's usual `10.244.0.0/16` (256 node ranges of
/// /24) up to 256 workers, else `10.128.0.0/9` (32,768 ranges; the simulator's own machines
/// live in `10.0.0.0/16`), as an operator sizes `--cluster-cidr` for a large cluster.
pub fn cluster_cidr_for(workers: u32) -> Ipv4Cidr {
    if workers <= 256 {
        DEFAULT_CLUSTER_CIDR
    } else {
        Ipv4Cidr::new(Ipv4Addr::new(10, 128, 0, 0), 9).unwrap_or(DEFAULT_CLUSTER_CIDR)
    }
}

impl Cluster {
    /// Builds and boots every node. Must run inside the madsim runtime.
    ///
    /// # Panics
    ///
    /// With more than 65,535 workers.
    pub fn start(options: &Options, config: &ControlPlaneConfig) -> Cluster {
        Self::start_with(options, config, &Extras::default())
    }

    /// Builds and boots every node, with a test's user controllers and workload. Must run
    /// inside the madsim runtime.
    ///
    /// # Panics
    ///
    /// With more than 65,535 workers or 255 user controllers.
    pub fn start_with(options: &Options, config: &ControlPlaneConfig, extras: &Extras) -> Cluster {
        let handle = Handle::current();
        let authn = Authenticator::new(options.seed);
        let cp_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let common = Common {
            server: format!("{cp_ip}:{API_PORT}"),
            admin_token: authn.admin_token().to_owned(),
            oracle: Arc::new(Mutex::new(Oracle::default())),
            watch_log: Arc::new(Mutex::new(WatchLog::default())),
            kinds: extras.kinds.clone(),
            cluster_cidr: cluster_cidr_for(options.workers),
        };
        // The control plane serves the test's kinds: its store decodes them, its API server
        // serves them, its garbage collector watches them.
        let config = &ControlPlaneConfig {
            kinds: extras.kinds.clone(),
            cluster_cidr: common.cluster_cidr,
            ..config.clone()
        };
        let disk = SimDisk::new();
        let shared = ControlPlaneShared::default();
        let workload = Arc::new(Mutex::new(WorkloadState::new(
            options.seed,
            options.workload,
            options.op_interval,
        )));
        let mut nodes = vec![start_control_plane(
            &handle,
            options,
            cp_ip,
            &disk,
            &shared,
            &authn,
            config,
            grants(extras),
        )];
        let mut worker_stats = BTreeMap::new();
        for i in 1..=options.workers {
            let stats = Arc::new(Mutex::new(WorkerStats::default()));
            let node = start_worker(&handle, &common, &authn, i, stats.clone());
            worker_stats.insert(node.name.clone(), stats);
            nodes.push(node);
        }
        if extras.quiet {
            lock(&workload).stopped = true;
        } else {
            nodes.push(start_client(&handle, &common, &workload, options.pods));
        }
        for (i, controller) in extras.controllers.iter().enumerate() {
            let octet = u8::try_from(i + 1).expect("at most 255 user controllers");
            nodes.push(start_user_controller(
                &handle,
                &common,
                &authn,
                octet,
                controller,
                options.seed,
            ));
        }
        if let Some(user_workload) = &extras.workload {
            nodes.push(start_user_client(&handle, &common, user_workload));
        }
        Cluster {
            handle,
            nodes,
            disk,
            control_plane: shared,
            oracle: common.oracle,
            watch_log: common.watch_log,
            workload,
            worker_stats,
            components: Components::wired(),
        }
    }

    /// The control plane's current store, if it is up and open.
    pub fn store(&self) -> Option<Store> {
        lock(&self.control_plane.store).clone()
    }

    /// Boots of the control plane so far.
    pub fn boots(&self) -> u64 {
        self.control_plane.boots.load(Ordering::SeqCst)
    }
}

/// The nodes of a cluster besides its control plane: the workers (kubelet, kube-proxy; the
/// first also runs the watcher client) and the workload's client, all given `server` (one
/// endpoint, or several comma-separated: the wire clients then fail over between them).
/// The replicated harness ([`crate::replicated`]) runs them against its members.
pub struct Fleet {
    /// The workers, then the client, in creation order.
    pub nodes: Vec<SimNode>,
    /// What the clients were told.
    pub oracle: Arc<Mutex<Oracle>>,
    /// The watcher's sessions.
    pub watch_log: Arc<Mutex<WatchLog>>,
    /// The workload's memory.
    pub workload: Arc<Mutex<WorkloadState>>,
    /// Per-worker counters, by node name.
    pub worker_stats: BTreeMap<String, Arc<Mutex<WorkerStats>>>,
}

/// Boots `options.workers` workers and the workload's client against `server` (see
/// [`Fleet`]); the first worker's watcher records into `watch_log`. Must run inside the
/// madsim runtime.
pub fn start_fleet(
    handle: &Handle,
    options: &Options,
    server: &str,
    authn: &Authenticator,
    watch_log: Arc<Mutex<WatchLog>>,
) -> Fleet {
    let common = Common {
        server: server.to_owned(),
        admin_token: authn.admin_token().to_owned(),
        oracle: Arc::new(Mutex::new(Oracle::default())),
        watch_log,
        kinds: KindRegistry::builtin(),
        cluster_cidr: cluster_cidr_for(options.workers),
    };
    let workload = Arc::new(Mutex::new(WorkloadState::new(
        options.seed,
        options.workload,
        options.op_interval,
    )));
    let mut nodes = Vec::new();
    let mut worker_stats = BTreeMap::new();
    for i in 1..=options.workers {
        let stats = Arc::new(Mutex::new(WorkerStats::default()));
        let node = start_worker(handle, &common, authn, i, stats.clone());
        worker_stats.insert(node.name.clone(), stats);
        nodes.push(node);
    }
    nodes.push(start_client(handle, &common, &workload, options.pods));
    Fleet {
        nodes,
        oracle: common.oracle,
        watch_log: common.watch_log,
        workload,
        worker_stats,
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "everything the control plane's boots share, passed once"
)]
fn start_control_plane(
    handle: &Handle,
    options: &Options,
    ip: IpAddr,
    disk: &SimDisk,
    shared: &ControlPlaneShared,
    authn: &Authenticator,
    config: &ControlPlaneConfig,
    grants: Vec<Object>,
) -> SimNode {
    let clock = SkewedClock::new(base_clock(), Skew::default());
    let (disk, node_clock, shared, authn) =
        (disk.clone(), clock.clone(), shared.clone(), authn.clone());
    let boot = Boot {
        disk,
        clock: node_clock,
        shared,
        authn,
        seed: options.seed,
        compaction: options.compaction,
        config: config.clone(),
        grants,
    };
    let node = handle
        .create_node()
        .name("control-plane")
        .ip(ip)
        .restart_on_panic_matching(SIMULATED_POWER_LOSS)
        .init(move || control_plane(boot.clone()))
        .build();
    SimNode {
        name: "control-plane".into(),
        role: Role::ControlPlane,
        id: node.id(),
        clock,
        up: true,
    }
}

/// Worker `i`'s address: `10.0.1.i` for the first 255 (as always), then `10.1.hi.lo`.
///
/// # Panics
///
/// Past 65,535 workers.
pub fn worker_ip(i: u32) -> Ipv4Addr {
    let i = u16::try_from(i).expect("at most 65,535 workers");
    let [hi, lo] = i.to_be_bytes();
    if hi == 0 {
        Ipv4Addr::new(10, 0, 1, lo)
    } else {
        Ipv4Addr::new(10, 1, hi, lo)
    }
}

fn start_worker(
    handle: &Handle,
    common: &Common,
    authn: &Authenticator,
    octet: u32,
    stats: Arc<Mutex<WorkerStats>>,
) -> SimNode {
    let name = format!("worker-{octet}");
    let clock = SkewedClock::new(base_clock(), Skew::default());
    let config = WorkerConfig {
        name: name.clone(),
        server: common.server.clone(),
        token: authn.issue_node_token(&name),
        clock: clock.clone(),
        cpu_milli: WORKER_CPU_MILLI,
        memory_bytes: WORKER_MEMORY_BYTES,
    };
    let common = common.clone();
    let kubelet = Components::wired().kubelet;
    let boots = Arc::new(AtomicU64::new(0));
    // The first worker also runs the watcher client.
    let watcher = octet == 1;
    let node = handle
        .create_node()
        .name(&name)
        .ip(IpAddr::V4(worker_ip(octet)))
        .init(move || {
            let (config, stats, common, boots) =
                (config.clone(), stats.clone(), common.clone(), boots.clone());
            async move {
                if watcher {
                    for kind in [&info::POD, &info::CONFIG_MAP] {
                        tokio::spawn(crate::watcher::run(
                            common.server.clone(),
                            common.admin_token.clone(),
                            kind,
                            common.watch_log.clone(),
                        ));
                    }
                }
                // kube-proxy: watches Services, Endpoints and its Node over the wire and
                // recomputes its node's rules (it writes nothing).
                let proxy_client: Arc<dyn Client> = Arc::new(ReconnectingClient::new(
                    common.server.clone(),
                    config.token.clone(),
                ));
                let proxy_clock: Arc<dyn Clock> = Arc::new(config.clock.clone());
                let node = config.name.clone();
                let cluster_cidr = common.cluster_cidr;
                let proxy_config = proxy::Config {
                    cluster_cidr: Some(cluster_cidr),
                    ..proxy::Config::default()
                };
                tokio::spawn(async move {
                    let mut proxy = KubeProxy::new(node, proxy_config);
                    let _ =
                        runtime::run(&mut proxy, proxy_client, proxy_clock, RunOptions::default())
                            .await;
                });
                if kubelet {
                    run_kubelet(&config, octet, &boots).await;
                } else {
                    crate::worker::run(config, common.oracle, stats).await;
                }
            }
        })
        .build();
    SimNode {
        name,
        role: Role::Worker,
        id: node.id(),
        clock,
        up: true,
    }
}

/// The kubelet of one boot of a worker: a fresh simulated container runtime (a machine crash
/// loses its containers), the node's own clock, and a reconnecting wire client with the
/// node's token.
async fn run_kubelet(config: &WorkerConfig, octet: u32, boots: &AtomicU64) {
    let boot = boots.fetch_add(1, Ordering::SeqCst);
    let clock: Arc<dyn Clock> = Arc::new(config.clock.clone());
    let node_ip = worker_ip(octet);
    let runtime = Arc::new(SimRuntime::new(
        clock.clone(),
        SimConfig {
            seed: u64::from(octet).rotate_left(32) ^ boot,
            node_ip,
            ..SimConfig::default()
        },
    ));
    let mut kubelet = KubeletConfig::new(&config.name);
    kubelet.node_ip = node_ip.to_string();
    let client: Arc<dyn Client> = Arc::new(ReconnectingClient::new(
        config.server.clone(),
        config.token.clone(),
    ));
    Agent::new(
        Kubelet::new(kubelet),
        client,
        clock,
        runtime.clone(),
        runtime.clone(),
        runtime,
    )
    .run()
    .await;
}

fn start_client(
    handle: &Handle,
    common: &Common,
    workload: &Arc<Mutex<WorkloadState>>,
    pods: u32,
) -> SimNode {
    let clock = SkewedClock::new(base_clock(), Skew::default());
    let (common, workload) = (common.clone(), workload.clone());
    let node = handle
        .create_node()
        .name("client")
        .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 1)))
        .init(move || {
            let (common, workload) = (common.clone(), workload.clone());
            // Spawned inside the node's future: `init` itself runs outside the node.
            async move {
                if pods > 0 {
                    tokio::spawn(crate::fill::run(
                        common.server.clone(),
                        common.admin_token.clone(),
                        pods,
                        common.oracle.clone(),
                    ));
                }
                Box::pin(crate::workload::run(
                    common.server,
                    common.admin_token,
                    workload,
                    common.oracle,
                ))
                .await;
            }
        })
        .build();
    SimNode {
        name: "client".into(),
        role: Role::Client,
        id: node.id(),
        clock,
        up: true,
    }
}

/// A user controller's node: each boot runs a fresh controller from the factory, elected on
/// `kube-system/<name>` as the node's identity, and starts again (fresh) a second after a lost
/// election (upstream's controller process exits and is restarted).
fn start_user_controller(
    handle: &Handle,
    common: &Common,
    authn: &Authenticator,
    octet: u8,
    controller: &UserController,
    seed: u64,
) -> SimNode {
    let name = user_controller_node(controller.name);
    let clock = SkewedClock::new(base_clock(), Skew::default());
    let token = authn.issue_service_account_token(USER_CONTROLLER_NAMESPACE, controller.name);
    let (server, factory, node_clock, identity, kinds) = (
        common.server.clone(),
        controller.factory.clone(),
        clock.clone(),
        name.clone(),
        common.kinds.clone(),
    );
    let boots = Arc::new(AtomicU64::new(0));
    let node = handle
        .create_node()
        .name(&name)
        .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 3, octet)))
        .init(move || {
            let (server, token, factory, clock, identity, kinds) = (
                server.clone(),
                token.clone(),
                factory.clone(),
                node_clock.clone(),
                identity.clone(),
                kinds.clone(),
            );
            let boot = boots.fetch_add(1, Ordering::SeqCst);
            async move {
                let client: Arc<dyn Client> =
                    Arc::new(ReconnectingClient::with_kinds(server, token, kinds));
                let clock: Arc<dyn Clock> = Arc::new(clock);
                let mut attempt: u64 = 0;
                loop {
                    attempt += 1;
                    let mut controller = factory();
                    let options = RunOptions {
                        leader_election: Some(LeaderElectionConfig::new(identity.clone())),
                        seed: seed ^ boot.rotate_left(19) ^ attempt ^ u64::from(octet),
                        ..RunOptions::default()
                    };
                    if runtime::run(&mut *controller, client.clone(), clock.clone(), options)
                        .await
                        .is_ok()
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        })
        .build();
    SimNode {
        name,
        role: Role::Controller,
        id: node.id(),
        clock,
        up: true,
    }
}

/// The node of a test's own workload, with an admin client over the wire.
fn start_user_client(handle: &Handle, common: &Common, workload: &UserWorkload) -> SimNode {
    let clock = SkewedClock::new(base_clock(), Skew::default());
    let (server, token, workload, kinds) = (
        common.server.clone(),
        common.admin_token.clone(),
        workload.clone(),
        common.kinds.clone(),
    );
    let node = handle
        .create_node()
        .name("user-client")
        .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2)))
        .init(move || {
            let client: Arc<dyn Client> = Arc::new(ReconnectingClient::with_kinds(
                server.clone(),
                token.clone(),
                kinds.clone(),
            ));
            workload(client)
        })
        .build();
    SimNode {
        name: "user-client".into(),
        role: Role::Client,
        id: node.id(),
        clock,
        up: true,
    }
}

/// What every boot of the control plane starts from (captured by its `init`).
#[derive(Clone)]
struct Boot {
    disk: SimDisk,
    clock: SkewedClock,
    shared: ControlPlaneShared,
    authn: Authenticator,
    seed: u64,
    compaction: bool,
    config: ControlPlaneConfig,
    grants: Vec<Object>,
}

/// The control plane's store on its disk, decoding the kinds it serves.
fn open_store(
    disk: SimDisk,
    clock: &Arc<dyn Clock>,
    kinds: &KindRegistry,
) -> Result<Store, skiff_store::StoreError> {
    Store::open_with_kinds(
        Backing::Sim(disk),
        clock.clone(),
        OpenOptions::default(),
        kinds.clone(),
    )
}

/// One boot of the control plane: open the store on the simulated disk, start the API server,
/// the controller manager and serve the wire protocol.
async fn control_plane(b: Boot) {
    let Boot {
        disk,
        clock,
        shared,
        authn,
        seed,
        compaction,
        config,
        grants,
    } = b;
    let boot = shared.boots.fetch_add(1, Ordering::SeqCst);
    drop(lock(&shared.store).take());
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let clock_for_controllers = clock.clone();
    let clock_for_scheduler = clock.clone();
    let generation = disk.generation();
    let store = match open_store(disk.clone(), &clock, &config.kinds) {
        Ok(store) => store,
        // An armed power loss struck while the store opened (recovery writes and syncs): the
        // machine lost power during its boot. Not a failure of the store; the fault injector
        // sees the struck loss and restarts the node, whose next boot recovers again.
        Err(_) if disk.generation() != generation => return,
        Err(e) => {
            lock(&shared.errors).push(format!("boot {boot}: store open failed: {e}"));
            return;
        }
    };
    let _compactor = compaction.then(|| store.start_compactor(CompactionPolicy::default()));
    *lock(&shared.store) = Some(store.clone());
    // A fresh uid stream per boot: uids must never repeat across restarts.
    let api = Arc::new(ApiServer::new(
        store,
        clock,
        seed ^ (boot + 1).rotate_left(29),
    ));
    if let Err(e) = api.bootstrap().await {
        // Only a disk fault can fail it; the harness restarts the node.
        lock(&shared.notes).push(format!("boot {boot}: bootstrap failed: {e}"));
        std::future::pending::<()>().await;
    }
    // A test's user controllers: their service accounts and bindings (idempotent; a disk
    // fault can fail them like the bootstrap, and the next boot applies them again).
    let admin = LocalClient::new(api.clone(), skiff_store::apiserver::authn::ADMIN_USER);
    for object in grants {
        match admin.create(None, object).await {
            Ok(_) => {}
            Err(ClientError::Status(s)) if s.reason == Reason::AlreadyExists => {}
            Err(e) => lock(&shared.notes).push(format!("boot {boot}: grant failed: {e}")),
        }
    }
    let listener = match TcpListener::bind(("0.0.0.0", API_PORT)).await {
        Ok(l) => l,
        Err(e) => {
            lock(&shared.errors).push(format!("boot {boot}: bind failed: {e}"));
            return;
        }
    };
    // kube-controller-manager beside the API server, over the in-process client (upstream
    // runs it on the control-plane node talking to the local API server), under its leader
    // lease; after a lost election a fresh manager starts (upstream's process exits and is
    // restarted).
    let client: Arc<dyn Client> = Arc::new(LocalClient::new(api.clone(), CONTROLLER_MANAGER_USER));
    tokio::spawn(async move {
        let mut attempt: u64 = 0;
        loop {
            attempt += 1;
            let mut manager = builtin::controller_manager(&config);
            let options = RunOptions {
                leader_election: Some(LeaderElectionConfig::new(CONTROL_PLANE_IDENTITY)),
                seed: seed ^ boot.rotate_left(11) ^ attempt,
                ..RunOptions::default()
            };
            if manager
                .run(client.clone(), clock_for_controllers.clone(), options)
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    // kube-scheduler beside it, under its own lease (`kube-system/kube-scheduler`, upstream).
    let client: Arc<dyn Client> = Arc::new(LocalClient::new(api.clone(), SCHEDULER_USER));
    let scheduler_clock = clock_for_scheduler;
    tokio::spawn(async move {
        let mut attempt: u64 = 0;
        loop {
            attempt += 1;
            let mut scheduler = builtin::scheduler(seed ^ boot.rotate_left(23) ^ attempt);
            let options = RunOptions {
                leader_election: Some(LeaderElectionConfig::new(CONTROL_PLANE_IDENTITY)),
                seed: seed ^ boot.rotate_left(13) ^ attempt,
                ..RunOptions::default()
            };
            if scheduler
                .run(client.clone(), scheduler_clock.clone(), options)
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let handler = Arc::new(ApiHandler::new(api, authn));
    serve(listener, handler).await;
}

/// The identity the control plane's controllers hold their leader leases under.
pub const CONTROL_PLANE_IDENTITY: &str = "control-plane";
/// The user kube-scheduler acts as (upstream's).
pub const SCHEDULER_USER: &str = "system:kube-scheduler";
/// The scheduler's leader lease name (upstream's, in `kube-system`).
pub use skiff_controllers::scheduler::SCHEDULER_LEASE;
/// The user kube-controller-manager acts as (upstream's).
pub const CONTROLLER_MANAGER_USER: &str = "system:kube-controller-manager";
