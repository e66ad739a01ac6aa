//! The cluster harness: madsim nodes for the control plane (store on a [`SimDisk`] that
//! survives restarts, API server, wire server, controllers), one per worker (the worker agent;
//! the kubelet once it lands) and one for the client running the workload, all talking the
//! real wire protocol over simulated TCP. Every node has its own [`SkewedClock`], captured by
//! its `init` closure so its skew survives restarts.
//!
//! What survives a restart lives in `Arc`s captured by the `init` closures (madsim.md §2): the
//! disk, the clocks, the oracle, the watch log, the workload's memory.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use madsim::runtime::Handle;
use madsim::task::NodeId;
use skiff_core::clock::{Clock, Skew, SkewedClock, SystemClock};
use skiff_core::object::info;
use skiff_store::apiserver::authn::Authenticator;
use skiff_store::apiserver::{ApiHandler, ApiServer};
use skiff_store::disk::{SIMULATED_POWER_LOSS, SimDisk};
use skiff_store::wire::serve;
use skiff_store::{Backing, CompactionPolicy, Store};
use tokio::net::TcpListener;

use crate::check::watch_order::WatchLog;
use crate::options::Options;
use crate::oracle::Oracle;
use crate::worker::{WorkerConfig, WorkerStats, lock};
use crate::workload::WorkloadState;

/// The API server's wire port (upstream's secure port).
pub const API_PORT: u16 = 6443;
/// CPU each worker offers, in millicores.
pub const WORKER_CPU_MILLI: i64 = 4_000;
/// Memory each worker offers.
pub const WORKER_MEMORY_BYTES: u64 = 8 << 30;

/// What a node is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Store, API server, controllers, scheduler.
    ControlPlane,
    /// Worker agent (kubelet).
    Worker,
    /// The workload's client.
    Client,
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
}

fn base_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock::new())
}

impl Cluster {
    /// Builds and boots every node. Must run inside the madsim runtime.
    pub fn start(options: &Options) -> Cluster {
        let handle = Handle::current();
        let authn = Authenticator::new(options.seed);
        let admin_token = authn.admin_token().to_owned();
        let cp_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let server = format!("{cp_ip}:{API_PORT}");
        let disk = SimDisk::new();
        let shared = ControlPlaneShared::default();
        let oracle = Arc::new(Mutex::new(Oracle::default()));
        let watch_log = Arc::new(Mutex::new(WatchLog::default()));
        let workload = Arc::new(Mutex::new(WorkloadState::new(
            options.seed,
            options.workload,
            options.op_interval,
        )));
        let mut nodes = Vec::new();

        let cp_clock = SkewedClock::new(base_clock(), Skew::default());
        let cp = {
            let (disk, clock, shared, authn) = (
                disk.clone(),
                cp_clock.clone(),
                shared.clone(),
                authn.clone(),
            );
            let (seed, compaction) = (options.seed, options.compaction);
            handle
                .create_node()
                .name("control-plane")
                .ip(cp_ip)
                .restart_on_panic_matching(SIMULATED_POWER_LOSS)
                .init(move || {
                    control_plane(
                        disk.clone(),
                        clock.clone(),
                        shared.clone(),
                        authn.clone(),
                        seed,
                        compaction,
                    )
                })
                .build()
        };
        nodes.push(SimNode {
            name: "control-plane".into(),
            role: Role::ControlPlane,
            id: cp.id(),
            clock: cp_clock,
            up: true,
        });

        let mut worker_stats = BTreeMap::new();
        for i in 1..=options.workers {
            let name = format!("worker-{i}");
            let clock = SkewedClock::new(base_clock(), Skew::default());
            let config = WorkerConfig {
                name: name.clone(),
                server: server.clone(),
                token: authn.issue_node_token(&name),
                clock: clock.clone(),
                cpu_milli: WORKER_CPU_MILLI,
                memory_bytes: WORKER_MEMORY_BYTES,
            };
            let stats = Arc::new(Mutex::new(WorkerStats::default()));
            worker_stats.insert(name.clone(), stats.clone());
            let (oracle, watch_log, admin_token, server) = (
                oracle.clone(),
                watch_log.clone(),
                admin_token.clone(),
                server.clone(),
            );
            let watcher = i == 1;
            let octets = u8::try_from(i).expect("at most 255 workers");
            let node = handle
                .create_node()
                .name(&name)
                .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 1, octets)))
                .init(move || {
                    let (config, oracle, stats) = (config.clone(), oracle.clone(), stats.clone());
                    let (watch_log, token, server) =
                        (watch_log.clone(), admin_token.clone(), server.clone());
                    async move {
                        if watcher {
                            for kind in [&info::POD, &info::CONFIG_MAP] {
                                tokio::spawn(crate::watcher::run(
                                    server.clone(),
                                    token.clone(),
                                    kind,
                                    watch_log.clone(),
                                ));
                            }
                        }
                        crate::worker::run(config, oracle, stats).await;
                    }
                })
                .build();
            nodes.push(SimNode {
                name,
                role: Role::Worker,
                id: node.id(),
                clock,
                up: true,
            });
        }

        let client_clock = SkewedClock::new(base_clock(), Skew::default());
        let client = {
            let (oracle, workload, token, server) =
                (oracle.clone(), workload.clone(), admin_token, server);
            handle
                .create_node()
                .name("client")
                .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 1)))
                .init(move || {
                    crate::workload::run(
                        server.clone(),
                        token.clone(),
                        workload.clone(),
                        oracle.clone(),
                    )
                })
                .build()
        };
        nodes.push(SimNode {
            name: "client".into(),
            role: Role::Client,
            id: client.id(),
            clock: client_clock,
            up: true,
        });

        Cluster {
            handle,
            nodes,
            disk,
            control_plane: shared,
            oracle,
            watch_log,
            workload,
            worker_stats,
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

/// One boot of the control plane: open the store on the simulated disk, start the API server
/// and serve the wire protocol.
async fn control_plane(
    disk: SimDisk,
    clock: SkewedClock,
    shared: ControlPlaneShared,
    authn: Authenticator,
    seed: u64,
    compaction: bool,
) {
    let boot = shared.boots.fetch_add(1, Ordering::SeqCst);
    drop(lock(&shared.store).take());
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let store = match Store::open(Backing::Sim(disk), clock.clone()) {
        Ok(store) => store,
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
    let listener = match TcpListener::bind(("0.0.0.0", API_PORT)).await {
        Ok(l) => l,
        Err(e) => {
            lock(&shared.errors).push(format!("boot {boot}: bind failed: {e}"));
            return;
        }
    };
    let handler = Arc::new(ApiHandler::new(api, authn));
    serve(listener, handler).await;
}
