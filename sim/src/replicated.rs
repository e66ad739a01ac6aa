//! `cargo sim --control-plane 3|5`: the whole cluster on a replicated control plane (Raft,
//! issue #11 items 3–5) under the simulator, with Raft's faults and checkers.
//!
//! # What runs
//!
//! - **N members**, each a madsim node (`10.0.0.<id>`) with its own [`SimDisk`] and
//!   [`SkewedClock`] (both survive restarts), opened with [`Store::open_member`]: a Raft node
//!   serving its peers on simulated TCP, the store's writer proposing batches to it. Each boot
//!   of a member also runs what `skiff up` runs on a member: the **API server** over the
//!   member's store (wire protocol on [`crate::cluster::API_PORT`], the member's id in each
//!   handshake; reads linearizable by default through the ReadIndex barrier, writes on a
//!   follower forwarded to the leader, watches served from the member's applied log; its
//!   bootstrap retried until it succeeds), and **kube-controller-manager and kube-scheduler**
//!   beside it, each a candidate for its Lease as `member-<id>` ([`member_identity`]), so
//!   exactly one of each acts. Their users carry the member ([`controller_manager_user`]) so
//!   the single-leader checker can attribute every write.
//! - **The fleet** ([`crate::cluster::start_fleet`]): the workers (kubelet, kube-proxy and the
//!   simulated runtime) and the seeded workload's client, given every member's endpoint
//!   ([`api_endpoints`]): their wire clients fail over between members; the first worker also
//!   runs a watcher of Pods and one of ConfigMaps given every endpoint.
//! - **Pinned watchers** (node `watchers`): for every member, a watch of Pods and one of
//!   ConfigMaps through that member's API server only, which end or stall when the member
//!   crashes or is cut off and resume from the last revision delivered (or relist after an
//!   error such as `Expired`), whether or not the member leads.
//! - **Linearizability clients** ([`LIN_CLIENTS`] of them, on a client node of their own) doing
//!   get / create / update (with and without a `resourceVersion` precondition) / delete on a
//!   small set of ConfigMaps, each value unique, every operation recorded with its simulated
//!   invocation and answer times ([`History`]). Clients call the members' [`Store`] handles
//!   in process: mostly the member the harness knows leads, a quarter of the writes a
//!   follower (which forwards them), a third of the reads a follower. Reads are linearizable:
//!   [`Store::read_barrier`] (ReadIndex), then the member's applied state. With
//!   [`Options::plant_stale_reads`] (tests only) half of the reads go to the most lagging
//!   follower with no barrier — the planted bug the checker must catch.
//!
//! # Faults (when N > 1; each enabled by its [`FaultKind`])
//!
//! Faults strike the members only (the workers and clients are not crashed, cut off or
//! skewed here; the single-node run covers those):
//!
//! - crash: the leader (half the time) or a member crashes (process crash: the OS keeps what
//!   redb handed it) and restarts after an episode;
//! - partition: the leader isolated from the quorum, a minority split off, a split that leaves
//!   the leader in the minority (the majority elects anew), or one direction of one link cut;
//! - loss: packet loss and latency spikes on the whole network;
//! - skew: a member's clock offset, drift or step (batch timestamps come from the leader's
//!   clock; safety must not depend on clocks);
//! - disk: a member's power loss armed to strike inside a later write or sync (typically mid
//!   commit; the node panics and madsim restarts it), or now (torn unsynced writes).
//!
//! At most a minority is down by a crash or disk fault at once, so a quorum always survives.
//!
//! # Checkers
//!
//! Every tick: at most one leader per term ([`check::raft_leader`]), equal state hashes at
//! equal revisions ([`check::member_state`]), committed entries never change
//! ([`check::committed`], every [`COMMITTED_CHECK_TICKS`] ticks), and the log read from the
//! most advanced member through the single-node run's log checkers ([`LogCheckers`]:
//! revisions, acknowledged writes of the fleet and of the linearizability clients, watch
//! order of every session — pinned and failing over, across crashes and leader changes —,
//! single binding, node capacity, node lease, single leader per Lease); after a member's
//! restart its whole log is re-read and compared. An acknowledged write is looked for once
//! the log read reaches its revision (a delete, whose answer names none, after
//! [`DELETE_ACK_GRACE`] with every member up). The node-lease checker is given true commit
//! times bounded by the harness's reads (the members' clocks differ, and any of them may
//! have stamped a batch), so a gap between a renewal and a marking is only overestimated.
//!
//! After the heal (clients and workload stopped), the run converges when every member agrees
//! on one leader and applied the same revision, and the cluster converged as in the
//! single-node run (every worker Ready with its Lease renewed twice since the heal,
//! ReplicaSets and Endpoints at their wanted state, no pending pod, no orphan). Then: every
//! member's whole log and projection against a rebuild, every acknowledgement, and the
//! linearizability checker over the whole client history.
//!
//! # Not covered (yet)
//!
//! Membership changes are not injected (`member add/remove/promote` are refused); the store's
//! compactor does not run on the members (`compaction` of the options is ignored); faults do
//! not strike the workers or clients.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::Handle;
use madsim::task::NodeId;
use skiff_controllers::builtin::{self, ControlPlaneConfig};
use skiff_controllers::runtime::RunOptions;
use skiff_controllers::runtime::election::LeaderElectionConfig;
use skiff_core::client::{BoxFuture, Client};
use skiff_core::clock::{Clock, Skew, SkewedClock, SystemClock};
use skiff_core::event::{Actor, Change, Event, Revision};
use skiff_core::object::info;
use skiff_core::object::{ConfigMap, Object, ObjectMeta};
use skiff_core::rng::SplitMix64;
use skiff_core::status::Status;
use skiff_store::apiserver::authn::Authenticator;
use skiff_store::apiserver::{ApiHandler, ApiServer, LocalClient};
use skiff_store::codec::StoredValue;
use skiff_store::disk::{Generation, PowerLoss, SIMULATED_POWER_LOSS, SimDisk};
use skiff_store::raft::{MemberConfig, RaftTiming, Replica, Replication};
use skiff_store::request::{Applied, Op as StoreOp};
use skiff_store::wire::{MemberInfo, Membership, RaftStatus, serve_member};
use skiff_store::{Backing, ListOptions, ReadError, Rejection, Store, StoreError, WriteError};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::check::committed::CommittedChecker;
use crate::check::leader::Candidate;
use crate::check::linearizability::{self, Bounds, History, Op, Outcome, Refusal};
use crate::check::member_state::MemberStates;
use crate::check::node_lease::NODE_LEASE_NAMESPACE;
use crate::check::raft_leader::LeaderPerTerm;
use crate::check::watch_order::WatchLog;
use crate::check::{
    LogCheckers, Violation, acked_writes::AckedWritesChecker, object_of, orphans, projection,
};
use crate::cluster::{Components, Role};
use crate::cluster::{Fleet, start_fleet};
use crate::liveness::{Wanted, unconverged};
use crate::options::{FaultKind, Options};
use crate::oracle::{Ack, AckOp, Oracle};
use crate::report::{Found, PodCounts, Report};
use crate::run::{RunFlags, TICK};
use crate::trace::{Trace, event_hash};
use crate::worker::lock;

/// The members' Raft peer port (etcd's peer port).
pub const RAFT_PORT: u16 = 2380;
/// Raft timing in the simulator: short, so many elections fit in a run.
pub const TIMING: RaftTiming = RaftTiming {
    heartbeat_ms: 50,
    election_min_ms: 300,
    election_max_ms: 600,
};
/// Raft entries between two snapshots: small, so lagging members catch up from snapshots
/// and logs are purged within a short run.
pub const SNAPSHOT_EVERY: u64 = 64;
/// ConfigMaps the linearizability clients share (few keys: many conflicts).
pub const LIN_KEYS: u64 = 3;
/// Linearizability clients.
pub const LIN_CLIENTS: u32 = 4;
/// A client gives up waiting for an answer after this long (the outcome is then unknown).
pub const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest pause of a client between two operations, in ms.
pub const CLIENT_PAUSE_MAX_MS: u64 = 300;
/// Pause of a client that finds no leader, before it looks again.
pub const NO_LEADER_PAUSE: Duration = Duration::from_millis(50);
/// The committed-entries checker reads every member's committed log every this many ticks.
pub const COMMITTED_CHECK_TICKS: u64 = 4;
/// The shortest pause between a kill and the restart (madsim.md §7).
pub const RESTART_DELAY_MIN: Duration = Duration::from_millis(10);
/// Armed power losses strike within this many I/O operations of the member's disk.
pub const ARMED_OPS_MAX: u64 = 40;
/// madsim's default per-message latency, restored when a loss episode heals.
pub const DEFAULT_LATENCY: std::ops::Range<Duration> =
    Duration::from_millis(1)..Duration::from_millis(10);
/// The namespace of the clients' ConfigMaps.
pub const LIN_NAMESPACE: &str = "default";

type Slot = Arc<Mutex<Option<(Store, Arc<Replica>)>>>;

/// One member as the harness sees it.
pub struct Member {
    /// Raft id (1..=N).
    pub id: u64,
    /// madsim's node.
    pub node: NodeId,
    /// Its disk (survives restarts).
    pub disk: SimDisk,
    /// Its clock (survives restarts).
    pub clock: SkewedClock,
    slot: Slot,
    boots: Arc<AtomicU64>,
    /// False between a kill and its restart.
    pub up: bool,
}

impl Member {
    fn store(&self) -> Option<Store> {
        lock(&self.slot).as_ref().map(|(s, _)| s.clone())
    }
    fn replica(&self) -> Option<Arc<Replica>> {
        lock(&self.slot).as_ref().map(|(_, r)| r.clone())
    }
}

/// What every boot of a member starts from (captured by its `init`).
#[derive(Clone)]
struct Boot {
    config: MemberConfig,
    disk: SimDisk,
    clock: SkewedClock,
    slot: Slot,
    boots: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<String>>>,
    /// Every member's API server authenticates with the same keys (one cluster).
    authn: Authenticator,
    seed: u64,
    /// The controller manager's settings.
    controllers: ControlPlaneConfig,
}

/// One boot of a member: open its store on its disk and start Raft.
async fn boot(b: Boot) {
    let boot = b.boots.fetch_add(1, Ordering::SeqCst);
    drop(lock(&b.slot).take());
    let listener = match TcpListener::bind(("0.0.0.0", RAFT_PORT)).await {
        Ok(l) => l,
        Err(e) => {
            lock(&b.errors).push(format!("member {} boot {boot}: bind: {e}", b.config.id));
            return;
        }
    };
    let clock: Arc<dyn Clock> = Arc::new(b.clock.clone());
    match Store::open_member(Backing::Sim(b.disk.clone()), clock, &b.config, listener).await {
        Ok((store, replica)) => {
            *lock(&b.slot) = Some((store.clone(), replica.clone()));
            serve_api(&b, boot, store, replica).await;
        }
        // A power loss armed on its disk struck inside the open: the machine is down again;
        // madsim restarts it (`restart_on_panic_matching`), as it does for a strike later on.
        Err(e) if e.to_string().contains(SIMULATED_POWER_LOSS) => {
            panic!("member {} boot {boot}: open: {e}", b.config.id)
        }
        Err(e) => lock(&b.errors).push(format!("member {} boot {boot}: open: {e}", b.config.id)),
    }
    std::future::pending::<()>().await;
}

/// The identity member `id`'s controller manager and scheduler hold their leader Leases
/// under (upstream: the host name plus a unique suffix; it differs between members).
pub fn member_identity(id: u64) -> String {
    format!("member-{id}")
}

/// The user member `id`'s controller manager acts as: upstream's
/// `system:kube-controller-manager`, suffixed with the member so that the single-leader
/// checker can tell the members' writes apart (the in-process client is not authorized, so
/// the suffix changes no permission).
pub fn controller_manager_user(id: u64) -> String {
    format!(
        "{}:{}",
        crate::cluster::CONTROLLER_MANAGER_USER,
        member_identity(id)
    )
}

/// The user member `id`'s scheduler acts as (upstream's `system:kube-scheduler`, suffixed as
/// [`controller_manager_user`]).
pub fn scheduler_user(id: u64) -> String {
    format!("{}:{}", crate::cluster::SCHEDULER_USER, member_identity(id))
}

/// Member `id`'s API endpoint (the wire protocol on [`crate::cluster::API_PORT`]).
///
/// # Panics
///
/// Past member 255.
pub fn api_endpoint(id: u64) -> String {
    let octet = u8::try_from(id).expect("at most 255 members");
    format!("10.0.0.{octet}:{}", crate::cluster::API_PORT)
}

/// Every member's API endpoint, comma-separated: what the workers, the workload's client and
/// the failing-over watcher are given (etcd clientv3's `--endpoints`).
pub fn api_endpoints(count: u64) -> String {
    (1..=count).map(api_endpoint).collect::<Vec<_>>().join(",")
}

/// A member's replication as its wire server reports it: its id in each handshake (clients
/// with several endpoints learn where the leader is) and its Raft state in `endpoint status`.
/// Membership changes are not simulated: `member add/remove/promote` are refused.
struct SimMembership {
    replica: Arc<Replica>,
}

impl SimMembership {
    fn rows(&self) -> Vec<MemberInfo> {
        self.replica
            .members()
            .into_iter()
            .map(|m| MemberInfo {
                id: m.id,
                name: member_identity(m.id),
                client: api_endpoint(m.id),
                peer: m.addr,
                learner: !m.voter,
            })
            .collect()
    }

    fn refused() -> BoxFuture<'static, Result<Vec<MemberInfo>, Status>> {
        Box::pin(async {
            Err(Status::bad_request(
                "etcdserver: membership changes are not simulated",
            ))
        })
    }
}

impl Membership for SimMembership {
    fn id(&self) -> u64 {
        self.replica.id()
    }

    fn status(&self) -> RaftStatus {
        let s = self.replica.status();
        RaftStatus {
            member: s.id,
            leader: s.leader,
            term: s.term,
            committed: s.committed_index.unwrap_or(0),
            applied: s.applied_index.unwrap_or(0),
            learner: !s.voters.contains(&s.id),
        }
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<MemberInfo>, Status>> {
        Box::pin(async move { Ok(self.rows()) })
    }

    fn add(&self, _name: String, _peer: String) -> BoxFuture<'_, Result<Vec<MemberInfo>, Status>> {
        Self::refused()
    }

    fn remove(&self, _id: u64) -> BoxFuture<'_, Result<Vec<MemberInfo>, Status>> {
        Self::refused()
    }

    fn promote(&self, _id: u64) -> BoxFuture<'_, Result<Vec<MemberInfo>, Status>> {
        Self::refused()
    }
}

/// The rest of one boot of a member, as `skiff up` runs a member (issue #11 item 3): the API
/// server over the member's store (its bootstrap retried every second until it succeeds, as
/// `ClusterBuilder::replicated` does), kube-controller-manager and kube-scheduler beside it
/// under their leader Leases (every member runs them; the Lease lets one act; after a lost
/// election a fresh one starts, as upstream's process exits and is restarted), and the wire
/// protocol served as member `id`.
async fn serve_api(b: &Boot, boot: u64, store: Store, replica: Arc<Replica>) {
    let id = b.config.id;
    let clock: Arc<dyn Clock> = Arc::new(b.clock.clone());
    // A uid stream of its own per member and boot: uids must never repeat.
    let seed = b.seed ^ id.rotate_left(47) ^ (boot + 1).rotate_left(29);
    let api = Arc::new(ApiServer::new(store, clock.clone(), seed));
    let bootstrap = api.clone();
    tokio::spawn(async move {
        while bootstrap.bootstrap().await.is_err() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let listener = match TcpListener::bind(("0.0.0.0", crate::cluster::API_PORT)).await {
        Ok(l) => l,
        Err(e) => {
            lock(&b.errors).push(format!("member {id} boot {boot}: bind the API: {e}"));
            std::future::pending::<()>().await;
            return;
        }
    };
    let client: Arc<dyn Client> =
        Arc::new(LocalClient::new(api.clone(), &controller_manager_user(id)));
    let (config, manager_clock) = (b.controllers.clone(), clock.clone());
    tokio::spawn(async move {
        let mut attempt: u64 = 0;
        loop {
            attempt += 1;
            let mut manager = builtin::controller_manager(&config);
            let options = RunOptions {
                leader_election: Some(LeaderElectionConfig::new(member_identity(id))),
                seed: seed ^ attempt.rotate_left(11),
                ..RunOptions::default()
            };
            if manager
                .run(client.clone(), manager_clock.clone(), options)
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let client: Arc<dyn Client> = Arc::new(LocalClient::new(api.clone(), &scheduler_user(id)));
    let scheduler_clock = clock;
    tokio::spawn(async move {
        let mut attempt: u64 = 0;
        loop {
            attempt += 1;
            let mut scheduler = builtin::scheduler(seed ^ attempt.rotate_left(23));
            let options = RunOptions {
                leader_election: Some(LeaderElectionConfig::new(member_identity(id))),
                seed: seed ^ attempt.rotate_left(13),
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
    let handler = Arc::new(ApiHandler::new(api, b.authn.clone()));
    let member: Arc<dyn Membership> = Arc::new(SimMembership { replica });
    serve_member(listener, handler, Some(member)).await;
}

/// The member slots, shared with the clients: who leads, who lags.
#[derive(Clone)]
struct Directory {
    slots: BTreeMap<u64, Slot>,
}

impl Directory {
    fn pairs(&self) -> Vec<(u64, Store, Arc<Replica>)> {
        self.slots
            .iter()
            .filter_map(|(id, s)| lock(s).as_ref().map(|(st, r)| (*id, st.clone(), r.clone())))
            .collect()
    }

    /// The member that claims to lead at the highest term.
    fn leader(&self) -> Option<(u64, Store)> {
        self.pairs()
            .into_iter()
            .filter_map(|(id, store, r)| {
                let s = r.status();
                (s.leader == Some(id)).then_some((s.term, id, store))
            })
            .max_by_key(|(term, id, _)| (*term, *id))
            .map(|(_, id, store)| (id, store))
    }

    /// Any member that does not claim to lead.
    fn any_follower(&self, rng: &mut SplitMix64) -> Option<(u64, Store)> {
        let followers: Vec<(u64, Store)> = self
            .pairs()
            .into_iter()
            .filter(|(id, _, r)| r.leader() != Some(*id))
            .map(|(id, store, _)| (id, store))
            .collect();
        if followers.is_empty() {
            return None;
        }
        let i = usize::try_from(rng.below(followers.len() as u64)).unwrap_or(0);
        followers.into_iter().nth(i)
    }

    /// The follower with the lowest applied revision (the stalest reads).
    fn laggard(&self) -> Option<(u64, Store)> {
        self.pairs()
            .into_iter()
            .filter(|(id, _, r)| r.leader() != Some(*id))
            .filter_map(|(id, store, _)| {
                let revision = store.status().ok()?.revision.0;
                Some((revision, id, store))
            })
            .min_by_key(|(revision, id, _)| (*revision, *id))
            .map(|(_, id, store)| (id, store))
    }
}

/// The clients' shared record.
#[derive(Clone)]
struct Clients {
    directory: Directory,
    history: Arc<Mutex<History>>,
    oracle: Arc<Mutex<Oracle>>,
    /// The revision of each acknowledged write's event, in the order of `oracle.acks`.
    ack_revisions: Arc<Mutex<Vec<u64>>>,
    stop: Arc<AtomicBool>,
    in_flight: Arc<AtomicU64>,
    start: Instant,
    seed: u64,
    plant_stale_reads: bool,
}

fn key_of(name: &str) -> String {
    format!("/registry/configmaps/{LIN_NAMESPACE}/{name}")
}

/// The ConfigMap a write of `value` stores: the value in `data.v`, a uid of its own (so the
/// acknowledged-write checker tells every write apart).
fn config_map(name: &str, value: u64) -> Object {
    ConfigMap {
        metadata: ObjectMeta {
            namespace: Some(LIN_NAMESPACE.into()),
            uid: Some(format!("lin-v{value}")),
            ..ObjectMeta::named(name)
        },
        data: [("v".to_owned(), value.to_string())].into_iter().collect(),
        ..ConfigMap::default()
    }
    .into()
}

fn revision_of(object: &Object) -> u64 {
    object
        .metadata()
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

fn value_of(object: &Object) -> u64 {
    match object {
        Object::ConfigMap(cm) => cm.data.get("v").and_then(|v| v.parse().ok()).unwrap_or(0),
        _ => 0,
    }
}

/// What an operation's answer means for the history: an outcome, or `None` when the
/// operation certainly never took effect (refused before it was proposed).
enum Answer {
    Outcome(Outcome),
    Never,
}

/// A write's answer: `(object, revision of its event)` on success.
fn write_answer(result: Result<(Object, u64), WriteError>, op: AckOp, c: &Clients) -> Answer {
    let oracle = &c.oracle;
    match result {
        Ok((object, revision)) => {
            let mut o = lock(oracle);
            o.acks.push(Ack::of(op, &object));
            lock(&c.ack_revisions).push(revision);
            Answer::Outcome(Outcome::Written {
                revision: revision_of(&object),
            })
        }
        Err(WriteError::Rejected(r)) => {
            lock(oracle).rejected += 1;
            match r {
                Rejection::AlreadyExists { .. } => {
                    Answer::Outcome(Outcome::Refused(Refusal::AlreadyExists))
                }
                Rejection::NotFound { .. } => Answer::Outcome(Outcome::Refused(Refusal::NotFound)),
                Rejection::Conflict { .. } => Answer::Outcome(Outcome::Refused(Refusal::Conflict)),
                _ => Answer::Never,
            }
        }
        // Refused before anything was proposed.
        Err(WriteError::Fatal(StoreError::NotLeader { .. })) => Answer::Never,
        Err(WriteError::Fatal(_)) => {
            lock(oracle).unknown += 1;
            Answer::Outcome(Outcome::Unknown)
        }
    }
}

fn read_answer(result: Result<(Revision, skiff_store::Entry), ReadError>) -> Answer {
    match result {
        Ok((_, entry)) => match entry.stored.value {
            StoredValue::Object(object) => Answer::Outcome(Outcome::Found {
                value: value_of(&object),
                revision: revision_of(&object),
            }),
            StoredValue::Raw(_) => Answer::Never,
        },
        Err(ReadError::NotFound { .. }) => Answer::Outcome(Outcome::Absent),
        Err(_) => Answer::Never,
    }
}

/// One linearizability client: forever (until stopped) a random operation on a random key.
#[allow(clippy::too_many_lines, reason = "one operation from choice to record")]
async fn client(id: u32, c: Clients) {
    let mut rng = SplitMix64::new(c.seed ^ 0x11ea_5eed ^ u64::from(id).rotate_left(40));
    let actor = Actor::new("admin");
    let mut seq: u64 = 0;
    // The last revision this client saw of each key (for preconditions).
    let mut seen: BTreeMap<u64, u64> = BTreeMap::new();
    let now_ns = |start: Instant| {
        u64::try_from(Instant::now().duration_since(start).as_nanos()).unwrap_or(u64::MAX)
    };
    loop {
        tokio::time::sleep(Duration::from_millis(1 + rng.below(CLIENT_PAUSE_MAX_MS))).await;
        if c.stop.load(Ordering::SeqCst) {
            return;
        }
        let k = rng.below(LIN_KEYS);
        let name = format!("lin-{k}");
        let key = key_of(&name);
        seq += 1;
        let value = (u64::from(id) << 32) | seq;
        let precondition = |rng: &mut SplitMix64| {
            if rng.chance(1, 2) {
                seen.get(&k).copied()
            } else {
                None
            }
        };
        let op = match rng.below(10) {
            0..=3 => Op::Get,
            4 | 5 => Op::Create { value },
            6..=8 => Op::Update {
                value,
                expected: precondition(&mut rng),
            },
            _ => Op::Delete {
                expected: precondition(&mut rng),
            },
        };
        let stale = op == Op::Get && c.plant_stale_reads && rng.chance(1, 2);
        // Reads go to a follower a third of the time (ReadIndex), writes a quarter of the
        // time (forwarded to the leader); the rest to the leader.
        let to_follower = if op == Op::Get {
            rng.chance(1, 3)
        } else {
            rng.chance(1, 4)
        };
        let target = if stale {
            c.directory.laggard()
        } else if to_follower {
            c.directory
                .any_follower(&mut rng)
                .or_else(|| c.directory.leader())
        } else {
            c.directory.leader()
        };
        let Some((_, store)) = target else {
            tokio::time::sleep(NO_LEADER_PAUSE).await;
            continue;
        };
        c.in_flight.fetch_add(1, Ordering::SeqCst);
        let index = lock(&c.history).invoke(id, &key, op, now_ns(c.start));
        let work = async {
            match op {
                Op::Get => {
                    // A linearizable read (etcd's default): the ReadIndex barrier, then
                    // what this member applied. The planted bug skips the barrier.
                    if !stale && store.read_barrier().await.is_err() {
                        return Answer::Never;
                    }
                    read_answer(store.get(&key))
                }
                Op::Create { value } => write_answer(
                    store
                        .create(&actor, config_map(&name, value))
                        .await
                        .map(|o| (o.clone(), revision_of(&o))),
                    AckOp::Create,
                    &c,
                ),
                Op::Update { value, expected } => write_answer(
                    store
                        .update(&actor, config_map(&name, value), expected.map(Revision))
                        .await
                        .map(|o| (o.clone(), revision_of(&o))),
                    AckOp::Update,
                    &c,
                ),
                Op::Delete { expected } => {
                    let delete = StoreOp::Delete {
                        key: key.clone(),
                        expected: expected.map(Revision),
                    };
                    let result = store
                        .op(&actor, delete)
                        .await
                        .and_then(|response| match response.applied.into_iter().next() {
                            Some(Applied {
                                revision,
                                value: Some(StoredValue::Object(o)),
                                ..
                            }) => Ok((o, revision.0)),
                            _ => Err(WriteError::Rejected(Rejection::Invalid(
                                "a delete without the removed object".into(),
                            ))),
                        });
                    write_answer(result, AckOp::Delete, &c)
                }
            }
        };
        let answer = if let Ok(answer) = tokio::time::timeout(OP_TIMEOUT, work).await {
            answer
        } else {
            if op != Op::Get {
                lock(&c.oracle).unknown += 1;
            }
            Answer::Outcome(Outcome::Unknown)
        };
        let at = now_ns(c.start);
        match answer {
            Answer::Outcome(outcome) => {
                match outcome {
                    Outcome::Found { revision, .. } | Outcome::Written { revision }
                        if !matches!(op, Op::Delete { .. }) =>
                    {
                        seen.insert(k, revision);
                    }
                    _ => {}
                }
                lock(&c.history).answer(index, outcome, at);
            }
            Answer::Never => lock(&c.history).forget(index),
        }
        c.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The watchers pinned to one member each (`10.0.2.8`): for every member, a watch of Pods and
/// one of ConfigMaps through that member's API server only (a single endpoint: when the member
/// crashes, is cut off or loses leadership, the session ends or stalls, and the watcher
/// resumes from the last revision it was delivered, or relists after an error such as
/// `Expired`). The first worker's watchers are given every endpoint and fail over instead.
fn start_watchers(handle: &Handle, count: u64, authn: &Authenticator, log: &Arc<Mutex<WatchLog>>) {
    let (token, log) = (authn.admin_token().to_owned(), log.clone());
    handle
        .create_node()
        .name("watchers")
        .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 8)))
        .init(move || {
            let (token, log) = (token.clone(), log.clone());
            async move {
                for id in 1..=count {
                    for kind in [&info::POD, &info::CONFIG_MAP] {
                        tokio::spawn(crate::watcher::run(
                            api_endpoint(id),
                            token.clone(),
                            kind,
                            log.clone(),
                        ));
                    }
                }
                std::future::pending::<()>().await;
            }
        })
        .build();
}

/// The replicated cluster: members, the linearizability clients' node, the watchers' node
/// and the fleet (workers and the workload's client).
pub struct Members {
    handle: Handle,
    /// By Raft id.
    pub members: BTreeMap<u64, Member>,
    errors: Arc<Mutex<Vec<String>>>,
    clients: Clients,
    /// The workers and the workload's client, given every member's endpoint.
    pub fleet: Fleet,
}

impl Members {
    /// Boots `options.control_plane` members and the clients. Must run inside madsim.
    ///
    /// # Panics
    ///
    /// With more than 255 members.
    pub fn start(options: &Options, start: Instant) -> Members {
        Self::start_with(
            options,
            start,
            &ControlPlaneConfig::default()
                .with_node_grace_period(crate::check::node_lease::NODE_MONITOR_GRACE_PERIOD),
        )
    }

    /// [`Members::start`] with the controller manager's settings. Must run inside madsim.
    ///
    /// # Panics
    ///
    /// With more than 255 members.
    pub fn start_with(
        options: &Options,
        start: Instant,
        controllers: &ControlPlaneConfig,
    ) -> Members {
        let handle = Handle::current();
        let authn = Authenticator::new(options.seed);
        let count = u64::from(options.control_plane.max(1));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let addrs: BTreeMap<u64, String> = (1..=count)
            .map(|id| (id, format!("10.0.0.{id}:{RAFT_PORT}")))
            .collect();
        let mut members = BTreeMap::new();
        for id in 1..=count {
            let octet = u8::try_from(id).expect("at most 255 members");
            let b = Boot {
                config: MemberConfig {
                    timing: TIMING,
                    snapshot_every: SNAPSHOT_EVERY,
                    ..MemberConfig::new(id, addrs.clone())
                },
                disk: SimDisk::new(),
                clock: SkewedClock::new(Arc::new(SystemClock::new()), Skew::default()),
                slot: Arc::default(),
                boots: Arc::default(),
                errors: errors.clone(),
                authn: authn.clone(),
                seed: options.seed,
                controllers: controllers.clone(),
            };
            let (disk, clock, slot, boots) = (
                b.disk.clone(),
                b.clock.clone(),
                b.slot.clone(),
                b.boots.clone(),
            );
            let node = handle
                .create_node()
                .name(format!("member-{id}"))
                .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, octet)))
                .restart_on_panic_matching(SIMULATED_POWER_LOSS)
                .init(move || boot(b.clone()))
                .build();
            members.insert(
                id,
                Member {
                    id,
                    node: node.id(),
                    disk,
                    clock,
                    slot,
                    boots,
                    up: true,
                },
            );
        }
        let clients = Clients {
            directory: Directory {
                slots: members
                    .iter()
                    .map(|(id, m)| (*id, m.slot.clone()))
                    .collect(),
            },
            history: Arc::default(),
            oracle: Arc::default(),
            ack_revisions: Arc::default(),
            stop: Arc::default(),
            in_flight: Arc::default(),
            start,
            seed: options.seed,
            plant_stale_reads: options.plant_stale_reads,
        };
        let c = clients.clone();
        handle
            .create_node()
            .name("lin-clients")
            .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 9)))
            .init(move || {
                let c = c.clone();
                async move {
                    for id in 1..=LIN_CLIENTS {
                        tokio::spawn(client(id, c.clone()));
                    }
                    std::future::pending::<()>().await;
                }
            })
            .build();
        // One watch log: the pinned watchers' and the first worker's failing-over ones.
        let watch_log = Arc::new(Mutex::new(WatchLog::default()));
        start_watchers(&handle, count, &authn, &watch_log);
        let fleet = start_fleet(&handle, options, &api_endpoints(count), &authn, watch_log);
        Members {
            handle,
            members,
            errors,
            clients,
            fleet,
        }
    }

    /// Boots of all members so far.
    pub fn boots(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.boots.load(Ordering::SeqCst))
            .sum()
    }

    /// The member that claims to lead at the highest term.
    pub fn leader(&self) -> Option<u64> {
        self.clients.directory.leader().map(|(id, _)| id)
    }

    fn down(&self) -> usize {
        self.members.values().filter(|m| !m.up).count()
    }

    /// Most members that may be down at once with a quorum left.
    fn tolerated(&self) -> usize {
        (self.members.len() - 1) / 2
    }
}

#[derive(Debug, Clone)]
enum Heal {
    Restart(u64),
    UnclogNode(NodeId),
    UnclogLinks(Vec<(NodeId, NodeId)>),
    ResetNetwork,
}

#[derive(Debug, Clone)]
struct Episode {
    heal_at: Instant,
    heal: Heal,
}

/// Raft's faults, drawn from the seed.
struct Injector {
    rng: SplitMix64,
    options: Options,
    net: Arc<NetSim>,
    episodes: Vec<Episode>,
    armed: Option<(u64, Generation, Instant)>,
    next_at: Instant,
    start: Instant,
    counts: BTreeMap<String, u64>,
}

impl Injector {
    fn new(options: &Options, start: Instant) -> Self {
        let mut rng = SplitMix64::new(options.seed ^ 0x4af7_5eed_0000_0003);
        let first = Self::gap(&mut rng, options);
        Self {
            rng,
            options: options.clone(),
            net: NetSim::current(),
            episodes: Vec::new(),
            armed: None,
            next_at: start + first,
            start,
            counts: BTreeMap::new(),
        }
    }

    fn gap(rng: &mut SplitMix64, options: &Options) -> Duration {
        let mean_ms = u64::try_from(options.rates.mean_interval.as_millis()).unwrap_or(1);
        Duration::from_millis(1 + rng.below(mean_ms * 2))
    }

    fn episode(&mut self) -> Duration {
        let max_ms = u64::try_from(self.options.rates.episode_max.as_millis()).unwrap_or(1);
        RESTART_DELAY_MIN + Duration::from_millis(self.rng.below(max_ms.max(1)))
    }

    fn at_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }

    fn count(&mut self, name: &str) {
        *self.counts.entry(name.to_owned()).or_default() += 1;
    }

    fn injected(&self, kind: FaultKind) -> u64 {
        self.counts
            .iter()
            .filter(|(name, _)| name.split('-').next() == Some(kind.name()))
            .map(|(_, n)| *n)
            .sum()
    }

    fn pick(&mut self, m: &Members) -> u64 {
        1 + self.rng.below(m.members.len() as u64)
    }

    fn tick(&mut self, m: &mut Members, trace: &mut Trace, now: Instant) {
        self.heal_due(m, trace, now, false);
        if let Some((id, generation, give_up_at)) = self.armed {
            let disk = m.members[&id].disk.clone();
            if disk.generation() != generation {
                // The member's Raft or writer met the failed I/O and stopped (or panicked):
                // the machine lost power; it reboots after an episode.
                self.armed = None;
                trace.decision(
                    self.at_ms(now),
                    &format!("disk: armed power loss struck member-{id}"),
                );
                let loss = PowerLoss::KeepUnsynced;
                self.kill(m, trace, now, id, loss);
            } else if now >= give_up_at {
                self.armed = None;
                disk.disarm();
                trace.decision(
                    self.at_ms(now),
                    &format!("disk: armed power loss on member-{id} never struck; disarmed"),
                );
            }
        }
        if now >= self.next_at {
            self.next_at = now + Self::gap(&mut self.rng, &self.options);
            let kinds: Vec<FaultKind> = self.options.faults.iter().copied().collect();
            if !kinds.is_empty() {
                let kind = kinds[usize::try_from(self.rng.below(kinds.len() as u64)).unwrap_or(0)];
                self.inject(kind, m, trace, now);
            }
        }
    }

    fn heal_all(&mut self, m: &mut Members, trace: &mut Trace, now: Instant) {
        for member in m.members.values() {
            if member.disk.disarm() {
                trace.decision(
                    self.at_ms(now),
                    &format!("disk of member-{}: disarmed", member.id),
                );
            }
        }
        self.armed = None;
        self.heal_due(m, trace, now, true);
    }

    fn heal_due(&mut self, m: &mut Members, trace: &mut Trace, now: Instant, all: bool) {
        let (due, rest): (Vec<Episode>, Vec<Episode>) = std::mem::take(&mut self.episodes)
            .into_iter()
            .partition(|e| all || e.heal_at <= now);
        self.episodes = rest;
        for episode in due {
            let text = match episode.heal {
                Heal::Restart(id) => {
                    let member = m.members.get_mut(&id).expect("a member");
                    m.handle.restart(member.node);
                    member.up = true;
                    format!("restart member-{id}")
                }
                Heal::UnclogNode(node) => {
                    self.net.unclog_node(node);
                    format!("heal: reconnect {}", name_of(m, node))
                }
                Heal::UnclogLinks(links) => {
                    for (a, b) in &links {
                        self.net.unclog_link(*a, *b);
                    }
                    format!("heal: {} links restored", links.len())
                }
                Heal::ResetNetwork => {
                    self.net.update_config(|c| {
                        c.packet_loss_rate = 0.0;
                        c.send_latency = DEFAULT_LATENCY;
                    });
                    "heal: network loss and latency back to normal".to_owned()
                }
            };
            trace.decision(self.at_ms(now), &text);
        }
    }

    /// Kills member `id` (a process crash, or a power loss that drops or tears what was not
    /// synced) and schedules its restart.
    fn kill(&mut self, m: &mut Members, trace: &mut Trace, now: Instant, id: u64, loss: PowerLoss) {
        let down_for = self.episode();
        let member = m.members.get_mut(&id).expect("a member");
        m.handle.kill(member.node);
        member.up = false;
        drop(lock(&member.slot).take());
        member.disk.disarm();
        if self.armed.is_some_and(|(a, _, _)| a == id) {
            self.armed = None;
        }
        let report = member.disk.power_loss(loss);
        self.episodes.push(Episode {
            heal_at: now + down_for,
            heal: Heal::Restart(id),
        });
        trace.decision(
            self.at_ms(now),
            &format!(
                "kill member-{id} ({loss:?}: {} unsynced ops, {} lost; restart in {} ms)",
                report.pending_ops,
                report.dropped_ops + report.torn_ops,
                down_for.as_millis()
            ),
        );
    }

    fn inject(&mut self, kind: FaultKind, m: &mut Members, trace: &mut Trace, now: Instant) {
        match kind {
            FaultKind::Crash => {
                if m.down() >= m.tolerated() {
                    return;
                }
                let leader = m.leader();
                let (id, name) = match leader {
                    Some(l) if self.rng.chance(1, 2) => (l, "crash-leader"),
                    _ => (self.pick(m), "crash-member"),
                };
                if !m.members[&id].up {
                    return;
                }
                self.count(name);
                self.kill(m, trace, now, id, PowerLoss::KeepUnsynced);
            }
            FaultKind::Partition => self.partition(m, trace, now),
            FaultKind::Loss => {
                if self
                    .episodes
                    .iter()
                    .any(|e| matches!(e.heal, Heal::ResetNetwork))
                {
                    return;
                }
                let lasts = self.episode();
                let text = if self.rng.chance(1, 2) {
                    let percent = 1 + self
                        .rng
                        .below(u64::from(self.options.rates.loss_percent_max));
                    #[allow(clippy::cast_precision_loss, reason = "a percentage below 100")]
                    let rate = percent as f64 / 100.0;
                    self.net.update_config(|c| c.packet_loss_rate = rate);
                    self.count("loss-packets");
                    format!("loss: {percent}% of packets for {} ms", lasts.as_millis())
                } else {
                    let high = Duration::from_millis(50 + self.rng.below(950));
                    self.net
                        .update_config(|c| c.send_latency = Duration::from_millis(1)..high);
                    self.count("loss-latency");
                    format!(
                        "latency spike: up to {} ms for {} ms",
                        high.as_millis(),
                        lasts.as_millis()
                    )
                };
                self.episodes.push(Episode {
                    heal_at: now + lasts,
                    heal: Heal::ResetNetwork,
                });
                trace.decision(self.at_ms(now), &text);
            }
            FaultKind::Skew => self.skew(m, trace, now),
            FaultKind::Disk => {
                if m.down() >= m.tolerated() || self.armed.is_some() {
                    return;
                }
                let id = match m.leader() {
                    Some(l) if self.rng.chance(1, 2) => l,
                    _ => self.pick(m),
                };
                if !m.members[&id].up {
                    return;
                }
                let loss = if self.rng.chance(1, 2) {
                    PowerLoss::TearUnsynced {
                        seed: self.rng.next_u64(),
                    }
                } else {
                    PowerLoss::DropUnsynced
                };
                if self.rng.chance(1, 2) {
                    let ops = 1 + self.rng.below(ARMED_OPS_MAX);
                    let disk = &m.members[&id].disk;
                    disk.arm_crash_after(ops, loss);
                    self.armed = Some((
                        id,
                        disk.generation(),
                        now + self.options.rates.episode_max + Duration::from_secs(5),
                    ));
                    self.count("disk-armed");
                    trace.decision(
                        self.at_ms(now),
                        &format!("disk: power loss of member-{id} armed on I/O #{ops} ({loss:?})"),
                    );
                } else {
                    self.count("disk-now");
                    self.kill(m, trace, now, id, loss);
                }
            }
        }
    }

    fn partition(&mut self, m: &mut Members, trace: &mut Trace, now: Instant) {
        if self
            .episodes
            .iter()
            .any(|e| matches!(e.heal, Heal::UnclogNode(_) | Heal::UnclogLinks(_)))
        {
            return;
        }
        let lasts = self.episode();
        let ids: Vec<u64> = m.members.keys().copied().collect();
        let node = |id: u64| m.members[&id].node;
        let leader = m.leader();
        let variant = self.rng.below(4);
        let (name, text, heal) = match (variant, leader) {
            (0, Some(l)) => {
                self.net.clog_node(node(l));
                (
                    "partition-leader-isolated",
                    format!("partition: leader member-{l} isolated"),
                    Heal::UnclogNode(node(l)),
                )
            }
            (1 | 2, _) => {
                // A minority side; with the leader in it (variant 2) the majority side must
                // elect a new leader.
                let cut_len =
                    1 + usize::try_from(self.rng.below(m.tolerated() as u64)).unwrap_or(0);
                let mut pool = ids.clone();
                let mut side = Vec::new();
                if let (2, Some(l)) = (variant, leader) {
                    pool.retain(|id| *id != l);
                    side.push(l);
                }
                while side.len() < cut_len && !pool.is_empty() {
                    let i = usize::try_from(self.rng.below(pool.len() as u64)).unwrap_or(0);
                    side.push(pool.remove(i));
                }
                side.sort_unstable();
                let mut links = Vec::new();
                for a in &side {
                    for b in ids.iter().filter(|b| !side.contains(b)) {
                        for (x, y) in [(node(*a), node(*b)), (node(*b), node(*a))] {
                            self.net.clog_link(x, y);
                            links.push((x, y));
                        }
                    }
                }
                let names: Vec<String> = side.iter().map(|id| format!("member-{id}")).collect();
                (
                    if variant == 2 && leader.is_some() {
                        "partition-leader-minority"
                    } else {
                        "partition-minority"
                    },
                    format!("partition: split [{}] from the rest", names.join(" ")),
                    Heal::UnclogLinks(links),
                )
            }
            _ => {
                let a = self.pick(m);
                let mut b = self.pick(m);
                if a == b {
                    b = if b == ids.len() as u64 { 1 } else { b + 1 };
                }
                self.net.clog_link(node(a), node(b));
                (
                    "partition-one-way",
                    format!("partition: member-{a} -> member-{b} cut one way"),
                    Heal::UnclogLinks(vec![(node(a), node(b))]),
                )
            }
        };
        self.count(name);
        self.episodes.push(Episode {
            heal_at: now + lasts,
            heal,
        });
        trace.decision(
            self.at_ms(now),
            &format!("{text} for {} ms", lasts.as_millis()),
        );
    }

    fn skew(&mut self, m: &mut Members, trace: &mut Trace, now: Instant) {
        let id = self.pick(m);
        let clock = m.members[&id].clock.clone();
        let rates = self.options.rates;
        let max_ns = u64::try_from(rates.skew_offset_max.as_nanos()).unwrap_or(u64::MAX);
        let signed = |rng: &mut SplitMix64, max: u64| {
            let v = i64::try_from(rng.below(max.max(1))).unwrap_or(0);
            if rng.chance(1, 2) { v } else { -v }
        };
        let mut skew = clock.skew();
        let (name, text) = match self.rng.below(3) {
            0 => {
                skew.offset_ns = signed(&mut self.rng, max_ns);
                (
                    "skew-offset",
                    format!("offset {} ms", skew.offset_ns / 1_000_000),
                )
            }
            1 => {
                skew.drift_ppm = signed(
                    &mut self.rng,
                    u64::try_from(rates.skew_drift_ppm_max).unwrap_or(0),
                );
                ("skew-drift", format!("drift {} ppm", skew.drift_ppm))
            }
            _ => {
                let step = signed(&mut self.rng, max_ns);
                skew.offset_ns = skew.offset_ns.saturating_add(step);
                ("skew-step", format!("step {} ms", step / 1_000_000))
            }
        };
        clock.set_skew(skew);
        self.count(name);
        trace.decision(self.at_ms(now), &format!("clock of member-{id}: {text}"));
    }
}

fn name_of(m: &Members, node: NodeId) -> String {
    m.members
        .values()
        .find(|x| x.node == node)
        .map_or_else(|| node.to_string(), |x| format!("member-{}", x.id))
}

/// An acknowledged delete (whose answer names no revision) is looked for in the log once it
/// was acknowledged this long ago and every member is up: by then the log read from the most
/// advanced member holds whatever any member applied.
pub const DELETE_ACK_GRACE: Duration = Duration::from_secs(10);

/// The true (unskewed) wall time, in µs since the epoch.
fn true_micros() -> i64 {
    skiff_core::clock::unix_micros(SystemClock::new().wall())
}

/// The harness of a replicated run.
struct Harness {
    m: Members,
    trace: Trace,
    found: Vec<Found>,
    start: Instant,
    leaders: LeaderPerTerm,
    states: MemberStates,
    committed: CommittedChecker,
    /// The single-node run's log checkers, fed from the most advanced member's log; their
    /// acknowledged-write checker takes the fleet's (wire) acknowledgements.
    checkers: LogCheckers,
    /// The linearizability clients' acknowledgements.
    lin_acked: AckedWritesChecker,
    boots_seen: BTreeMap<u64, u64>,
    ticks: u64,
    /// True time of the previous log read (µs): a renewal read now was committed after it.
    last_read_us: i64,
    /// `(when, how many)` the fleet's acknowledgements were at each read, oldest first.
    ack_marks: std::collections::VecDeque<(Instant, usize)>,
    /// The fleet's acknowledgements handed to the checker so far (a prefix).
    wire_due: usize,
    pods: PodCounts,
    bound: BTreeSet<String>,
    heal_revision: Option<u64>,
    renewals_after_heal: BTreeMap<String, u64>,
}

impl Harness {
    fn now_ms(&self) -> u64 {
        u64::try_from(Instant::now().duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }

    fn push(&mut self, violations: Vec<Violation>) {
        let at_ms = self.now_ms();
        for violation in violations {
            self.trace.decision(
                at_ms,
                &format!("VIOLATION [{}] {violation}", violation.checker()),
            );
            self.found.push(Found { at_ms, violation });
        }
    }

    fn failed(&self) -> bool {
        !self.found.is_empty()
    }

    /// Feeds one newly read event everywhere.
    fn feed(&mut self, event: &Event, now_us: i64, out: &mut Vec<Violation>) {
        // Commit times: a batch is stamped by whichever member led, on its own skewed clock,
        // so the node-lease checker is given true times instead: a node's renewal was
        // committed after the previous read (its earliest), anything else before this read
        // (its latest). The gap between a renewal and a marking is only ever overestimated.
        let object = object_of(&event.change);
        let renewal = matches!(object, Some(Object::Lease(l))
            if l.metadata.namespace.as_deref() == Some(NODE_LEASE_NAMESPACE));
        let committed = if renewal { self.last_read_us } else { now_us };
        self.checkers.node_lease.control_plane_offset(
            event
                .at
                .unix_micros
                .saturating_sub(committed)
                .saturating_mul(1000),
        );
        self.checkers.observe(event, out);
        self.lin_acked.observe(event, out);
        self.trace.event(event.revision.0, event_hash(event));
        let by_controller = event.actor.user.starts_with("system:kube-");
        match (object, &event.change) {
            (Some(Object::Pod(pod)), change) => match change {
                Change::Create(_) => {
                    self.pods.created += 1;
                    if by_controller {
                        self.pods.created_by_controllers += 1;
                    }
                }
                Change::Delete(_) if by_controller => self.pods.deleted_by_controllers += 1,
                Change::Update { .. }
                    if pod.spec.node_name.as_deref().is_some_and(|n| !n.is_empty())
                        && self
                            .bound
                            .insert(pod.metadata.uid.clone().unwrap_or_default()) =>
                {
                    self.pods.bound += 1;
                }
                _ => {}
            },
            (Some(Object::Lease(lease)), Change::Update { .. } | Change::Create(_))
                if renewal && self.heal_revision.is_some_and(|h| event.revision.0 > h) =>
            {
                *self
                    .renewals_after_heal
                    .entry(lease.metadata.name_or_empty().to_owned())
                    .or_default() += 1;
            }
            _ => {}
        }
    }

    /// One look at every member: leaders, hashes, committed entries, the log, the clients'
    /// acknowledgements and the watches.
    fn observe(&mut self, committed_too: bool) {
        let mut out = Vec::new();
        for e in std::mem::take(&mut *lock(&self.m.errors)) {
            out.push(Violation::Crashed {
                node: "member".into(),
                message: e,
            });
        }
        let mut best: Option<(u64, Store)> = None;
        for (id, member) in &self.m.members {
            let (Some(store), Some(replica)) = (member.store(), member.replica()) else {
                continue;
            };
            let status = replica.status();
            self.leaders
                .observe(*id, status.term, status.leader, &mut out);
            if let Ok(s) = store.status() {
                self.states.observe(*id, s.revision.0, s.hash, &mut out);
                if best.as_ref().is_none_or(|(r, _)| s.revision.0 > *r) {
                    best = Some((s.revision.0, store.clone()));
                }
            }
            if committed_too && let Ok(records) = replica.committed_log() {
                self.committed.observe(*id, &records, &mut out);
            }
            // After a restart: the member's whole log again, against what was read.
            let boots = member.boots.load(Ordering::SeqCst);
            if self.boots_seen.get(id).copied().unwrap_or(1) != boots {
                self.boots_seen.insert(*id, boots);
                if let Ok(events) = store.events(Revision(1), Revision(u64::MAX)) {
                    for event in &events {
                        self.checkers.revisions.recheck(event, &mut out);
                    }
                }
            }
        }
        let now_us = true_micros();
        if let Some((_, store)) = best
            && let Ok(events) = store.events(
                Revision(self.checkers.revisions.last() + 1),
                Revision(u64::MAX),
            )
        {
            for event in &events {
                self.feed(event, now_us, &mut out);
            }
        }
        self.last_read_us = now_us;
        let head = self.checkers.revisions.last();
        // An acknowledged write is looked for once the log read so far reaches its revision:
        // followers apply a commit a heartbeat after the leader answered, and the leader may
        // have died since (the longest prefix of the acknowledgements, in answer order).
        {
            let oracle = lock(&self.m.clients.oracle);
            let due = lock(&self.m.clients.ack_revisions)
                .iter()
                .take_while(|r| **r <= head)
                .count();
            self.lin_acked
                .check(&oracle.acks[..due.min(oracle.acks.len())], &mut out);
        }
        // The fleet's: a create or update once its revision is read; a delete (no revision in
        // its answer) after a grace with every member up.
        {
            let now = Instant::now();
            let all_up = self.m.members.values().all(|m| m.store().is_some());
            let oracle = lock(&self.m.fleet.oracle);
            self.ack_marks.push_back((now, oracle.acks.len()));
            while self.wire_due < oracle.acks.len() {
                while self
                    .ack_marks
                    .front()
                    .is_some_and(|(_, n)| *n <= self.wire_due)
                {
                    self.ack_marks.pop_front();
                }
                let ready = match oracle.acks[self.wire_due].revision {
                    Some(revision) => revision <= head,
                    None => {
                        all_up
                            && self
                                .ack_marks
                                .front()
                                .is_some_and(|(at, _)| *at + DELETE_ACK_GRACE <= now)
                    }
                };
                if !ready {
                    break;
                }
                self.wire_due += 1;
            }
            self.checkers
                .acked
                .check(&oracle.acks[..self.wire_due], &mut out);
        }
        self.checkers
            .watches
            .check(&lock(&self.m.fleet.watch_log), &mut out);
        self.push(out);
    }

    /// Every member up, one leader all agree on, the same applied revision everywhere, no
    /// client operation in flight.
    fn quiescent(&self) -> Option<u64> {
        if self.m.clients.in_flight.load(Ordering::SeqCst) != 0 {
            return None;
        }
        let mut revisions = Vec::new();
        let mut leaders = Vec::new();
        for member in self.m.members.values() {
            let (store, replica) = (member.store()?, member.replica()?);
            let status = replica.status();
            leaders.push(status.leader?);
            revisions.push((store.status().ok()?.revision.0, status.applied_index?));
        }
        let agreed = leaders.windows(2).all(|w| w[0] == w[1]);
        let equal = revisions.windows(2).all(|w| w[0] == w[1]);
        (agreed && equal).then(|| revisions[0].0)
    }

    /// The leader's store, if a member leads.
    fn leader_store(&self) -> Option<Store> {
        self.m.clients.directory.leader().map(|(_, store)| store)
    }

    /// What still keeps the cluster itself from having converged (as in the single-node run:
    /// the workload stopped, every worker's Node Ready with its Lease renewed since the heal,
    /// ReplicaSets and Endpoints at their wanted state, no pending pod, no orphan).
    fn not_converged(&self) -> Vec<String> {
        let mut missing = Vec::new();
        if !lock(&self.m.fleet.workload).stopped {
            missing.push("the workload has not stopped and uncordoned the nodes".to_owned());
        }
        let Some(store) = self.leader_store() else {
            return vec!["no member leads".to_owned()];
        };
        for node in self.m.fleet.nodes.iter().filter(|n| n.role == Role::Worker) {
            let ready = match store.get(&format!("/registry/minions/{}", node.name)) {
                Ok((_, entry)) => match entry.stored.value {
                    StoredValue::Object(Object::Node(n)) => {
                        n.condition("Ready").is_some_and(|c| c.status == "True")
                    }
                    _ => false,
                },
                Err(_) => false,
            };
            if !ready {
                missing.push(format!("{} is not Ready", node.name));
            }
            let renewals = self
                .renewals_after_heal
                .get(&node.name)
                .copied()
                .unwrap_or(0);
            if renewals < crate::run::RENEWALS_AFTER_HEAL {
                missing.push(format!(
                    "{} renewed its lease {renewals} times since the heal",
                    node.name
                ));
            }
        }
        let objects = all_objects(&store);
        missing.extend(unconverged(
            &objects,
            Wanted {
                replica_sets: true,
                endpoints: true,
                no_pending: true,
            },
        ));
        let mut orphaned = Vec::new();
        orphans::check(&objects, &mut orphaned);
        missing.extend(orphaned.iter().map(ToString::to_string));
        missing
    }

    /// At quiescence: every member's whole log and projection, the history, every
    /// acknowledgement, no orphan.
    fn final_checks(&mut self) {
        let mut out = Vec::new();
        for (id, member) in &self.m.members {
            let (Some(store), Some(replica)) = (member.store(), member.replica()) else {
                continue;
            };
            if let Ok(records) = replica.committed_log() {
                self.committed.observe(*id, &records, &mut out);
            }
            if let Ok(s) = store.status() {
                self.states.observe(*id, s.revision.0, s.hash, &mut out);
            }
            if let Ok(events) = store.events(Revision(1), Revision(u64::MAX)) {
                for event in &events {
                    self.checkers.revisions.recheck(event, &mut out);
                }
            }
            let hashes = store
                .state_hash()
                .map_err(|e| e.to_string())
                .and_then(|live| {
                    store
                        .rebuild_hash()
                        .map(|r| (live, r))
                        .map_err(|e| e.to_string())
                });
            projection::check(&format!("member-{id} at the end"), hashes, &mut out);
        }
        // Quiescent: every acknowledged write must be in the log now.
        self.lin_acked
            .check(&lock(&self.m.clients.oracle).acks, &mut out);
        self.checkers
            .acked
            .check(&lock(&self.m.fleet.oracle).acks, &mut out);
        if let Some(store) = self.leader_store() {
            orphans::check(&all_objects(&store), &mut out);
        }
        self.push(out);
    }

    /// The linearizability checker over the whole client history (after the clients stopped,
    /// whether or not the members converged: the history alone decides).
    fn check_history(&mut self) {
        let mut out = Vec::new();
        let history = lock(&self.m.clients.history).operations.clone();
        let summary = linearizability::check(&history, Bounds::default());
        let at = self.now_ms();
        self.trace.decision(
            at,
            &format!(
                "linearizability: {} operations on {} keys, {} violations, {} undecided",
                summary.operations,
                summary.keys,
                summary.violations.len(),
                summary.undecided.len()
            ),
        );
        for (key, explored) in &summary.undecided {
            self.trace.decision(
                at,
                &format!("linearizability: {key} undecided after {explored} configurations"),
            );
        }
        out.extend(
            summary
                .violations
                .into_iter()
                .map(|detail| Violation::NotLinearizable { detail }),
        );
        self.push(out);
    }
}

/// How the watch sessions ended, by the first word of the reason (`closed`, `silent`,
/// `Expired:` …), for the trace: a run with member crashes shows sessions that ended and the
/// watchers' later sessions, which the watch checker held to the same rules.
pub fn watch_endings(log: &WatchLog) -> BTreeMap<String, u64> {
    let mut endings = BTreeMap::new();
    for session in &log.sessions {
        for record in &session.records {
            if let crate::check::watch_order::Record::Ended(reason) = record {
                let word = reason.split_whitespace().next().unwrap_or("").to_owned();
                *endings.entry(word).or_default() += 1;
            }
        }
    }
    endings
}

/// Every object in a store at its head.
fn all_objects(store: &Store) -> Vec<Object> {
    store
        .list("/registry/", &ListOptions::default())
        .map(|page| {
            page.entries
                .into_iter()
                .filter_map(|e| match e.stored.value {
                    StoredValue::Object(o) => Some(o),
                    StoredValue::Raw(_) => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Runs one replicated simulation (`options.control_plane` > 1). Must be called inside a
/// madsim runtime.
#[allow(
    clippy::too_many_lines,
    reason = "the phases in order, then the report"
)]
pub async fn run(options: Options, flags: RunFlags) -> (Report, Trace) {
    let start = Instant::now();
    let controllers = ControlPlaneConfig {
        cluster_cidr: crate::cluster::cluster_cidr_for(options.workers),
        ..ControlPlaneConfig::default().with_node_grace_period(
            flags
                .node_grace_period
                .unwrap_or(crate::check::node_lease::NODE_MONITOR_GRACE_PERIOD),
        )
    };
    let mut h = Harness {
        m: Members::start_with(&options, start, &controllers),
        trace: Trace::new(flags.keep_trace),
        found: Vec::new(),
        start,
        leaders: LeaderPerTerm::default(),
        states: MemberStates::default(),
        committed: CommittedChecker::default(),
        checkers: LogCheckers::default(),
        lin_acked: AckedWritesChecker::default(),
        boots_seen: BTreeMap::new(),
        ticks: 0,
        last_read_us: true_micros(),
        ack_marks: std::collections::VecDeque::new(),
        wire_due: 0,
        pods: PodCounts::default(),
        bound: BTreeSet::new(),
        heal_revision: None,
        renewals_after_heal: BTreeMap::new(),
    };
    if flags.legacy_deleted_revision {
        h.checkers.watches.deleted_revision = crate::check::watch_order::DeletedRevision::LastState;
    }
    // Every member's controller manager and scheduler may act only while their Lease names it.
    for id in h.m.members.keys() {
        h.checkers.leader.register(Candidate {
            actor: controller_manager_user(*id),
            lease: format!("kube-system/{}", builtin::CONTROLLER_MANAGER),
            identity: member_identity(*id),
        });
        h.checkers.leader.register(Candidate {
            actor: scheduler_user(*id),
            lease: format!("kube-system/{}", crate::cluster::SCHEDULER_LEASE),
            identity: member_identity(*id),
        });
    }
    let mut injector = Injector::new(&options, start);
    h.trace.decision(0, &format!("start: {options}"));

    // Safety.
    let safety_end = start + options.duration;
    while Instant::now() < safety_end && !h.failed() {
        tokio::time::sleep(TICK).await;
        // Everything committed before this tick's faults is read first (as the single-node
        // run does).
        h.ticks += 1;
        h.observe(h.ticks.is_multiple_of(COMMITTED_CHECK_TICKS));
        if h.failed() {
            break;
        }
        injector.tick(&mut h.m, &mut h.trace, Instant::now());
        flags.beat(Instant::now().duration_since(start));
        if flags.progress && h.ticks.is_multiple_of(240) {
            eprintln!(
                "[sim {:>7.1} s] safety: {} events, {} violations",
                Instant::now().duration_since(start).as_secs_f64(),
                h.checkers.revisions.last(),
                h.found.len()
            );
        }
    }

    // Liveness: heal, stop the clients and the workload, wait for every member to agree and
    // for the cluster to converge.
    let mut converged_after = None;
    if !h.failed() {
        let heal = Instant::now();
        injector.heal_all(&mut h.m, &mut h.trace, heal);
        h.m.clients.stop.store(true, Ordering::SeqCst);
        lock(&h.m.fleet.workload).stop = true;
        let at = h.now_ms();
        h.trace
            .decision(at, "clients: stop; workload: stop, uncordon every node");
        h.observe(false);
        h.heal_revision = Some(h.checkers.revisions.last());
        let deadline = heal + options.converge_within;
        loop {
            tokio::time::sleep(TICK).await;
            flags.beat(Instant::now().duration_since(start));
            h.observe(false);
            if h.failed() {
                break;
            }
            if let Some(revision) = h.quiescent()
                && h.not_converged().is_empty()
            {
                converged_after = Some(Instant::now().duration_since(heal));
                let at = h.now_ms();
                h.trace.decision(
                    at,
                    &format!("converged: every member at revision {revision}"),
                );
                h.observe(true);
                h.final_checks();
                break;
            }
            if Instant::now() >= deadline {
                let statuses: Vec<String> =
                    h.m.members
                        .values()
                        .map(|m| {
                            m.replica().map_or_else(
                                || format!("member-{} down", m.id),
                                |r| format!("{:?}", r.status()),
                            )
                        })
                        .collect();
                let missing = h.not_converged();
                h.push(vec![Violation::NotConverged {
                    detail: format!(
                        "not converged within {} s: {}{}members: {}",
                        options.converge_within.as_secs(),
                        crate::liveness::summarize(&missing),
                        if missing.is_empty() { "" } else { "; " },
                        statuses.join("; ")
                    ),
                }]);
                break;
            }
        }
    }

    if !h
        .found
        .iter()
        .any(|f| f.violation.checker() == crate::check::linearizability::NAME)
    {
        h.m.clients.stop.store(true, Ordering::SeqCst);
        h.check_history();
    }
    let endings = watch_endings(&lock(&h.m.fleet.watch_log));
    let at = h.now_ms();
    h.trace
        .decision(at, &format!("watch sessions ended: {endings:?}"));
    let lin = lock(&h.m.clients.oracle).clone();
    let wire = lock(&h.m.fleet.oracle).clone();
    let report = Report {
        faults: injector.counts.clone(),
        faults_by_kind: FaultKind::ALL
            .iter()
            .map(|k| (k.name(), injector.injected(*k)))
            .collect(),
        events: h.checkers.revisions.last(),
        writes: (
            (lin.acks.len() + wire.acks.len()) as u64,
            lin.unknown + wire.unknown,
            lin.rejected + wire.rejected,
        ),
        control_plane_boots: h.m.boots(),
        watch_sessions: lock(&h.m.fleet.watch_log).sessions.len() as u64,
        pods: h.pods,
        converged_after,
        violations: std::mem::take(&mut h.found),
        last_decisions: h.trace.recent(),
        trace_hash: h.trace.hash(),
        simulated: Instant::now().duration_since(start),
        controllers: Components::wired().names(),
        options: Some(options),
        ..Report::default()
    };
    (report, h.trace)
}
