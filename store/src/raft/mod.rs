//! Replication of the event log by Raft (issue #11): the first working slice.
//!
//! # Design
//!
//! - **The Raft log carries the writer's batches.** In a replicated store the group-commit
//!   writer (`writer.rs`) does not apply a batch itself: it encodes the batch — the leader's
//!   commit time and every `(actor, transaction)` of it, in the store's checksummed record
//!   envelope ([`BATCH_FORMAT`]) — and proposes it as one Raft entry. A write is acknowledged
//!   only after its entry is committed by a quorum **and applied** on the leader.
//! - **Applying is the single-node code path.** Every member applies each committed batch with
//!   `writer::apply_batch`, the same function the single-node writer commits with: planning,
//!   preconditions, events and projections all come from the batch and the member's own state,
//!   and the batch's time comes from the entry, so every member's log and projections are the
//!   same bytes. The applied log id (and the last membership) is written in the same redb
//!   transaction as the batch's events: the state machine never disagrees with its own
//!   "applied" mark, even across a crash.
//! - **Raft state lives in the member's own database**, in its own tables
//!   (`log_store.rs`): `raft_log` (index → entry) and `raft_meta` (vote, committed, purged,
//!   applied, membership). `append` acknowledges (`IOFlushed`) only after the redb commit
//!   (durable, one fsync).
//! - **Network**: skiff's length-prefixed frames ([`crate::wire::frame()`]) over `tokio::net`
//!   TCP (simulated under madsim), one request and one response per frame, bincode's serde path
//!   for openraft's messages. A frame that is too large or does not decode ends only its own
//!   connection; nothing panics on peer input.
//! - **Runtime**: `runtime.rs`, on madsim-tokio, so the same code runs in production (real tokio)
//!   and in the simulator (seeded, deterministic).
//! - **openraft stays inside this module**: the rest of skiff sees [`Replication`] (id,
//!   leadership, [`MemberStatus`]: what `etcdctl endpoint status` shows per member),
//!   [`Replica`], [`MemberConfig`], [`check`] and [`crate::Store::open_member`]. openraft is
//!   pinned to `=0.10.0-alpha.37` (raft.md: an alpha; expect work on every bump).
//! - **A new leader waits for its lease**: openraft refuses writes ("forward to: unknown") until
//!   a quorum has acknowledged a new leader; the proposer retries every heartbeat for up to one
//!   election timeout while this member still believes it leads.
//!
//! # Invariants
//!
//! - A write is acknowledged only after its batch is committed by a quorum and applied by the
//!   acknowledging member; a rejected write (precondition, validation) is committed too (every
//!   member must reject it the same way) and changes nothing.
//! - The store's revision sequence is the same on every member: each committed batch is applied
//!   exactly once, in log order (applied mark and events in one redb transaction).
//! - A member that is not the leader refuses writes with [`crate::StoreError::NotLeader`] before
//!   proposing anything; a proposal whose fate is unknown (leadership changed in flight) answers
//!   [`crate::StoreError::ReplicationUnknown`] and the store keeps running.
//!
//! # Not done yet
//!
//! - Snapshots: the snapshot policy is `Never` and logs are never purged, so a lagging member
//!   always catches up from the log. Building and installing a Raft snapshot from a store
//!   snapshot (snapshot.rs) and purging the log after compaction are next.
//! - Reads are served from each member's applied state (serializable), not linearizable
//!   (ReadIndex); followers do not forward writes; membership changes (`member add/remove`) and
//!   the CLI (`skiff up --initial-cluster`) are not wired.
//! - One batch is in flight at a time (the writer waits for its commit before proposing the
//!   next), and the state machine commits each batch with its own fsync on top of the log's
//!   (the log's fsync alone would do; the state machine could commit with `Durability::None`).
//! - Election timeouts in the normal build draw from rand's thread RNG (real entropy); only the
//!   simulator's runs are seeded.
//! - Members reach each other only through Raft; client writes reach the leader through its
//!   in-process [`crate::Store`] handle (no forwarding over the wire yet).
//!
//! # Tests
//!
//! `log_store` unit tests (append, truncate, purge, vote and committed across reopen, exact
//! contents, a corrupt row); `check` tests including a planted rewrite of a committed entry;
//! `store/tests/raft_members.rs` (three members on loopback TCP, bad frames refused, writes
//! through the leader, a follower refusing with the leader's id, equal state and endpoint
//! status on every member); `sim/tests/raft_replication.rs` (madsim, 3 and 5 members: leader
//! crash with power loss, new leader within the bound, catch-up after restart, equal state
//! hashes, committed entries checked throughout, the same seed giving the same trace in two
//! processes; an isolated leader whose write is never acknowledged — it answers
//! `ReplicationUnknown` once the entry is discarded — and which rejoins as a follower).
//!
//! Note: [`Replication::status`] reads openraft's metrics, which can trail the member's own
//! apply by a moment; compare stores, not metrics, when exactness matters.

pub mod check;
pub(crate) mod log_store;
pub(crate) mod network;
pub(crate) mod runtime;
pub(crate) mod state_machine;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use openraft::Raft;
use openraft::errors::{ClientWriteError, RaftError};
use openraft::impls::BasicNode;
use openraft::type_config::async_runtime::WatchReceiver;
use skiff_core::event::Actor;
use skiff_core::object::MicroTime;

use crate::error::{StoreError, WriteError};
use crate::request::{Txn, TxnResponse};

/// Format of a replicated batch record (the payload of a Raft entry). Bump on any change to
/// `Batch`'s encoding.
pub const BATCH_FORMAT: u8 = 1;

openraft::declare_raft_types!(
    /// skiff's Raft type configuration.
    pub(crate) TypeConfig:
        D = Proposal,
        R = Outcomes,
        NodeId = u64,
        Node = BasicNode,
        AsyncRuntime = runtime::SkiffRuntime,
);

/// The openraft handle of a member.
pub(crate) type SkiffRaft = Raft<TypeConfig, state_machine::StateMachine>;

/// One writer batch as replicated: the leader's commit time and the transactions in order.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub(crate) struct Batch {
    /// Stamped on every event of the batch (the leader's clock at proposal).
    pub at: MicroTime,
    /// Who asked, and what.
    pub writes: Vec<(Actor, Txn)>,
}

/// A Raft entry's application data: a [`Batch`] in its record envelope.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Proposal(pub Vec<u8>);

impl fmt::Debug for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proposal({} bytes)", self.0.len())
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What applying a batch answered, one outcome per write, handed back to the proposing
/// writer in memory. Never sent over the network (openraft requires serde on it; encoding
/// fails).
#[derive(Debug, Default)]
pub(crate) struct Outcomes(pub Vec<Result<TxnResponse, WriteError>>);

impl serde::Serialize for Outcomes {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "apply outcomes stay on their member",
        ))
    }
}

impl<'de> serde::Deserialize<'de> for Outcomes {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "apply outcomes stay on their member",
        ))
    }
}

/// bincode settings for openraft's types (serde path), bounded like the wire's frames.
fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ crate::wire::FRAME_BYTES_MAX }>()
}

/// Encodes an openraft value (serde path).
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> io::Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, bincode_config()).map_err(io::Error::other)
}

/// Decodes an openraft value, refusing trailing bytes. Never panics.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, bincode_config())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if used != bytes.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} trailing bytes", bytes.len() - used),
        ));
    }
    Ok(value)
}

/// Timing of elections and heartbeats, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftTiming {
    /// Leader heartbeat interval.
    pub heartbeat_ms: u64,
    /// Smallest election timeout (a follower that hears no leader for this long may campaign).
    pub election_min_ms: u64,
    /// Largest election timeout (the timeout is drawn uniformly from `[min, max)`).
    pub election_max_ms: u64,
}

impl Default for RaftTiming {
    /// etcd's defaults: 100 ms heartbeats, 1 s election timeout (drawn up to 2 s here).
    fn default() -> Self {
        Self {
            heartbeat_ms: 100,
            election_min_ms: 1000,
            election_max_ms: 2000,
        }
    }
}

/// Who a member is and who its peers are (etcd's `--name` and `--initial-cluster`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberConfig {
    /// This member's id (a key of `members`).
    pub id: u64,
    /// Every voting member of the initial cluster: id → Raft peer address (`host:port`).
    pub members: BTreeMap<u64, String>,
    /// Election and heartbeat timing.
    pub timing: RaftTiming,
}

/// One member's view of replication (what `etcdctl endpoint status` shows per member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    /// This member's id.
    pub id: u64,
    /// The leader it knows of.
    pub leader: Option<u64>,
    /// Its current Raft term.
    pub term: u64,
    /// Index of the last entry in its log.
    pub last_log_index: Option<u64>,
    /// Index of the last entry it knows committed.
    pub committed_index: Option<u64>,
    /// Index of the last entry it applied to its store.
    pub applied_index: Option<u64>,
    /// The voters of its current membership.
    pub voters: BTreeSet<u64>,
}

/// Replication as the rest of skiff sees it (openraft stays behind this).
pub trait Replication: Send + Sync {
    /// This member's id.
    fn id(&self) -> u64;
    /// True while this member believes it leads.
    fn is_leader(&self) -> bool;
    /// The member this one believes leads, if any.
    fn leader(&self) -> Option<u64>;
    /// Term, log, commit and apply positions.
    fn status(&self) -> MemberStatus;
}

/// Why a proposal did not produce outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProposeError {
    /// Not proposed: this member does not lead.
    NotLeader(Option<u64>),
    /// Proposed, fate unknown.
    Unknown(String),
}

impl ProposeError {
    /// The store error each write of the batch is answered with.
    pub(crate) fn to_store_error(&self) -> StoreError {
        match self {
            ProposeError::NotLeader(leader) => StoreError::NotLeader { leader: *leader },
            ProposeError::Unknown(why) => StoreError::ReplicationUnknown(why.clone()),
        }
    }
}

/// A running member: its Raft node. Shut down with [`Replica::shutdown`].
pub struct Replica {
    id: u64,
    timing: RaftTiming,
    raft: SkiffRaft,
    db: Arc<redb::Database>,
}

impl fmt::Debug for Replica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replica")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// Proposes one batch and waits until it is committed and applied here.
    pub(crate) async fn propose(
        &self,
        at: MicroTime,
        writes: Vec<(Actor, Txn)>,
    ) -> Result<Vec<Result<TxnResponse, WriteError>>, ProposeError> {
        let batch = Batch { at, writes };
        let record = crate::codec::encode_with(BATCH_FORMAT, &batch);
        // A newly elected leader refuses writes until a quorum has acknowledged it (its lease),
        // answering "forward to: unknown" although it leads: wait for that, up to one election
        // timeout, rather than failing the batch.
        let mut waited = 0;
        loop {
            match self.raft.client_write(Proposal(record.clone())).await {
                Ok(response) => return Ok(response.data.0),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                    let leading = forward.leader_id.is_none() && self.is_leader();
                    if !leading || waited >= self.timing.election_max_ms {
                        return Err(ProposeError::NotLeader(forward.leader_id));
                    }
                }
                Err(e) => return Err(ProposeError::Unknown(e.to_string())),
            }
            let pause = self.timing.heartbeat_ms.max(1);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            waited += pause;
        }
    }

    /// The entries of this member's log that it knows committed, oldest first, for
    /// [`check::CommittedEntries`].
    pub fn committed_log(&self) -> Result<Vec<check::LogRecord>, StoreError> {
        let Some(committed) = self.status().committed_index else {
            return Ok(Vec::new());
        };
        log_store::committed_records(&self.db, committed)
            .map_err(|e| StoreError::Database(e.to_string()))
    }

    /// Stops the Raft node (its tasks end; the store's database stays open).
    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }

    /// Waits until this member's metrics satisfy `pred` or `timeout` passes; true if they did.
    pub async fn wait_for(&self, timeout: Duration, pred: impl Fn(&MemberStatus) -> bool) -> bool {
        let mut metrics = self.raft.metrics();
        let wait = async {
            loop {
                if pred(&self.status()) {
                    return;
                }
                if metrics.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

impl Replication for Replica {
    fn id(&self) -> u64 {
        self.id
    }
    fn is_leader(&self) -> bool {
        self.leader() == Some(self.id)
    }
    fn leader(&self) -> Option<u64> {
        self.raft.metrics().borrow_watched().current_leader
    }
    fn status(&self) -> MemberStatus {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        MemberStatus {
            id: self.id,
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            committed_index: m.local_committed.map(|l| l.index),
            applied_index: m.last_applied.map(|l| l.index),
            voters: m.membership_config.membership().voter_ids().collect(),
        }
    }
}

/// Builds the Raft node of a member over the store's database and starts serving peers on
/// `listener`. On a fresh member (empty Raft state) it initializes the cluster with the
/// configured members: every member of an initial cluster does the same with the same
/// membership, so whichever campaigns first may win.
pub(crate) async fn start(
    config: &MemberConfig,
    db: Arc<redb::Database>,
    hub: crate::watch::WatchHub,
    listener: tokio::net::TcpListener,
) -> Result<Replica, StoreError> {
    let raft_config = openraft::Config {
        cluster_name: "skiff".into(),
        heartbeat_interval: config.timing.heartbeat_ms,
        election_timeout_min: config.timing.election_min_ms,
        election_timeout_max: config.timing.election_max_ms,
        snapshot_policy: openraft::SnapshotPolicy::Never,
        broadcast_submitted_on_append: Some(true),
        ..Default::default()
    }
    .validate()
    .map_err(|e| StoreError::Database(format!("raft configuration: {e}")))?;
    log_store::init_tables(&db)?;
    let log = log_store::LogStore::new(db.clone());
    let sm = state_machine::StateMachine::new(db.clone(), hub);
    let raft = Raft::new(
        config.id,
        Arc::new(raft_config),
        network::NetworkFactory,
        log,
        sm,
    )
    .await
    .map_err(|e| StoreError::Database(format!("raft: {e}")))?;
    tokio::spawn(network::serve(listener, raft.clone()));
    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| StoreError::Database(format!("raft: {e}")))?;
    if !initialized {
        let members: BTreeMap<u64, BasicNode> = config
            .members
            .iter()
            .map(|(id, addr)| (*id, BasicNode::new(addr)))
            .collect();
        if let Err(e) = raft.initialize(members).await {
            // Another member's initialization may have reached us first: not an error.
            tracing::info!(error = %e, member = config.id, "raft initialize skipped");
        }
    }
    Ok(Replica {
        id: config.id,
        timing: config.timing,
        raft,
        db,
    })
}
