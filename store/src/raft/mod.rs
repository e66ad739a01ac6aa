//! Replication of the event log by Raft (issue #11): writes through any member, linearizable
//! reads, membership changes, snapshots and log purging.
//!
//! # Design
//!
//! - **The Raft log carries the writer's batches.** In a replicated store the group-commit
//!   writer (`writer.rs`) does not apply a batch itself: it encodes the batch — the leader's
//!   commit time, the member it came from ([`BATCH_FORMAT`] 2) and every `(actor, transaction)`
//!   of it, in the store's checksummed record envelope — and proposes it as one Raft entry. A
//!   write is acknowledged only after its entry is committed by a quorum **and applied** on the
//!   member the write was submitted to.
//! - **Applying is the single-node code path.** Every member applies each committed batch with
//!   `writer::apply_batch`, the same function the single-node writer commits with: planning,
//!   preconditions, events and projections all come from the batch and the member's own state,
//!   and the batch's time comes from the entry, so every member's log and projections are the
//!   same bytes. The applied log id (and the last membership) is written in the same redb
//!   transaction as the batch's events: the state machine never disagrees with its own
//!   "applied" mark, even across a crash.
//! - **Writes on a follower are forwarded** (`RaftRequest::Forward` in `network.rs`, on the Raft
//!   port and frames): the follower tags the batch with an `Origin` (member, boot counter
//!   kept in `raft_meta`, sequence number) and registers a waiter; the leader decodes it,
//!   stamps its own time, proposes it and answers with the entry's index once committed and
//!   applied there; the follower answers its writers with the outcomes of **its own** apply of
//!   that entry (the apply is deterministic, so they equal the leader's), so a write
//!   acknowledged through any member is visible in that member's reads at once.
//! - **Linearizable reads by ReadIndex** (Raft thesis §6.4; etcd's default `--consistency=l`):
//!   [`Replica::read_barrier`] (through [`crate::Store::read_barrier`]) has the leader confirm
//!   its leadership with a heartbeat round to a quorum and name its commit index (openraft's
//!   `ReadPolicy::ReadIndex`); a follower asks the leader for it over the Raft port
//!   (`RaftRequest::ReadIndex`); the member then waits until it has applied up to
//!   that index. Reads without the barrier are serializable (possibly stale on a follower).
//! - **Membership** ([`Replica::members`], [`Replica::add_learner`], [`Replica::promote`],
//!   [`Replica::remove`]): openraft's joint consensus; a learner is added with its address and
//!   catches up (from the log, or by snapshot when the log was purged) before `add_learner`
//!   returns; a member started with [`MemberConfig::join`] never initializes a cluster itself.
//!   A leader that removes itself steps down once the change commits. Any member takes a
//!   change: a follower forwards it to the leader over the Raft port
//!   (`RaftRequest::Membership`), as etcd forwards member changes to its leader, and answers
//!   with the leader's outcome (unreachable leader: [`crate::StoreError::Unavailable`]
//!   naming it; connection broken after sending: [`crate::StoreError::ReplicationUnknown`]).
//!   [`Replica::shutdown`] also closes the member's Raft port, so its peers find it
//!   unreachable.
//! - **A Raft snapshot is a store image** (`image.rs`): every store table copied in one read
//!   transaction, with the projection's state hash and a CRC-32. A lagging member receives it
//!   in chunks of at most [`MemberConfig::snapshot_chunk_bytes`] ([`SNAPSHOT_CHUNK_BYTES`],
//!   4 MiB, by default; `chunks.rs`), one frame each, each naming the sender's vote, the
//!   snapshot's meta, the image's length and CRC, its offset and whether it is the last (Raft
//!   §7's InstallSnapshot). The receiver reassembles one image at a time (a first chunk, or a
//!   newer vote, replaces a half-received one; a chunk out of order or of another snapshot is
//!   refused and the leader starts again), and once the last chunk is in and the image's CRC
//!   matches, installs it (`install_full_snapshot`) only after the image's own CRC and the
//!   state hash of the rows (loaded into a scratch database) check out, replacing its tables,
//!   applied mark and membership in one transaction; its live watches then end
//!   (`WatchHub::reset`), since its history jumped. Snapshots are built every [`MemberConfig::snapshot_every`] entries;
//!   the Raft log is purged below the snapshot, keeping `min(snapshot_every, 1000)` entries so
//!   a member a little behind catches up from the log. The store's own compaction drops events
//!   from the image as it does from the log.
//! - **Raft state lives in the member's own database**, in its own tables
//!   (`log_store.rs`): `raft_log` (index → entry) and `raft_meta` (vote, committed, purged,
//!   applied, membership, boots). `append` acknowledges (`IOFlushed`) only after the redb
//!   commit (durable, one fsync).
//! - **Network**: skiff's length-prefixed frames ([`crate::wire::frame()`]) over `tokio::net`
//!   TCP (simulated under madsim), one request and one response per frame, bincode's serde path
//!   for openraft's messages. A frame that is too large or does not decode ends only its own
//!   connection; nothing panics on peer input.
//! - **Runtime**: `runtime.rs`, on madsim-tokio, so the same code runs in production (real tokio)
//!   and in the simulator (seeded, deterministic).
//! - **openraft stays inside this module**: the rest of skiff sees [`Replication`] (id,
//!   leadership, [`MemberStatus`]: what `etcdctl endpoint status` shows per member),
//!   [`Replica`], [`Member`], [`MemberConfig`], [`check`], [`crate::Store::open_member`] and
//!   [`crate::Store::read_barrier`]. openraft is pinned to `=0.10.0-alpha.37` (raft.md: an
//!   alpha; expect work on every bump).
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
//!   exactly once, in log order (applied mark and events in one redb transaction), or covered by
//!   an installed snapshot (tables and applied mark in one transaction).
//! - A write that was certainly not proposed answers [`crate::StoreError::NotLeader`] (no
//!   leader known, or the member asked does not lead) or [`crate::StoreError::Unavailable`]
//!   (the leader is unreachable, or refused the forwarded batch); one whose fate is unknown
//!   (leadership changed in flight, the connection broke after sending, or it committed but this
//!   member did not apply it in time) answers [`crate::StoreError::ReplicationUnknown`]. The
//!   store keeps running.
//! - After [`Replica::read_barrier`] returns `Ok`, this member has applied every entry
//!   committed before the call; it never returns `Ok` without a quorum's confirmation.
//!
//! # Not done yet
//!
//! - A snapshot image is built, kept (the last one) and reassembled in memory: one copy of the
//!   store on the sender, one on the receiver while it arrives (bounded by one image). Chunks
//!   are sent one at a time, each waiting for its answer.
//! - Snapshot images are trusted once their CRC checks: a malicious member could make an
//!   install panic inside redb's key decoding (members are trusted peers).
//! - `etcdctl snapshot save` (snapshot.rs) refuses a member's database: it does not know the
//!   `raft_log`/`raft_meta` tables.
//! - One batch is in flight at a time per member (the writer waits for its commit before
//!   proposing the next), and the state machine commits each batch with its own fsync on top of
//!   the log's (the log's fsync alone would do).
//! - Election timeouts in the normal build draw from rand's thread RNG (real entropy); only the
//!   simulator's runs are seeded.
//!
//! # Tests
//!
//! `log_store` unit tests (append, truncate, purge, vote and committed across reopen, exact
//! contents, a corrupt row); `image` (a flipped byte is refused); `check` tests including a
//! planted rewrite of a committed entry; `store/tests/raft_members.rs` (three members on
//! loopback TCP, bad frames refused, writes through the leader and forwarded through a
//! follower, equal state and endpoint status on every member); `store/tests/raft_membership.rs`
//! (a learner joins, is promoted, the old leader removes itself, exact member lists and writes
//! throughout; the same changes sent to followers are made by the leader and seen by every
//! member, its refusals come back word for word, and with the leader stopped a follower
//! answers that the leader, named, is unreachable; a follower read after the barrier sees the leader's write, a stopped follower is
//! stale without it and its barrier fails; a learner added after purging catches up by
//! snapshot with the same history, also in 1 KiB chunks of an image more than 8 chunks long);
//! `chunks` unit tests (exact chunk offsets, reassembly, an out-of-order chunk or another
//! snapshot refused, a newer vote replacing a half-received image, a corrupt image refused);
//! `sim/tests/raft_replication.rs` (madsim, 3 and 5 members:
//! leader crash with power loss, new leader within the bound, catch-up after restart, equal
//! state hashes, committed entries checked throughout, the same seed giving the same trace in
//! two processes; an isolated leader whose write is never acknowledged and which rejoins as a
//! follower; a partitioned follower stale without the barrier, refusing with it, and forwarding
//! writes once healed).
//!
//! Note: [`Replication::status`] reads openraft's metrics, which can trail the member's own
//! apply by a moment; compare stores, not metrics, when exactness matters.

pub mod check;
pub(crate) mod chunks;
pub(crate) mod image;
pub(crate) mod log_store;
pub(crate) mod network;
pub(crate) mod runtime;
pub(crate) mod state_machine;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openraft::errors::{ClientWriteError, LinearizableReadError, RaftError};
use openraft::impls::BasicNode;
use openraft::raft::ReadPolicy;
use openraft::raft::linearizable_read::{Linearizer, ReadLogId};
use openraft::type_config::alias::LogIdOf;
use openraft::type_config::async_runtime::WatchReceiver;
use openraft::{ChangeMembers, Raft};
use skiff_core::clock::Clock;
use skiff_core::event::Actor;
use skiff_core::object::MicroTime;
use tokio::sync::oneshot;

use crate::error::{StoreError, WriteError};
use crate::request::{Txn, TxnResponse};

/// Format of a replicated batch record (the payload of a Raft entry). Bump on any change to
/// `Batch`'s encoding. 2: the batch names the member it was forwarded from (`Origin`).
pub const BATCH_FORMAT: u8 = 2;

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

/// Where a forwarded batch came from: the member whose writer took it, that member's boot
/// (a counter kept in its database, so a restarted member never mistakes an entry of its
/// previous life for one it waits for) and a sequence number within the boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub(crate) struct Origin {
    pub member: u64,
    pub boot: u64,
    pub seq: u64,
}

/// One writer batch as replicated: the leader's commit time and the transactions in order.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
#[bincode(decode_context = "skiff_core::object::KindRegistry")]
pub(crate) struct Batch {
    /// Stamped on every event of the batch (the leader's clock at proposal).
    pub at: MicroTime,
    /// Set when a follower forwarded the batch: that follower answers its writers with the
    /// outcomes of its own apply of this entry.
    pub origin: Option<Origin>,
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

/// Raft log entries between two snapshots by default (etcd's `--snapshot-count` is 10 000).
pub const SNAPSHOT_EVERY_DEFAULT: u64 = 10_000;

/// Largest piece of a snapshot image sent in one frame by default (4 MiB; one frame holds at
/// most [`crate::wire::FRAME_BYTES_MAX`], 16 MiB). openraft's own default chunk is 3 MiB.
pub const SNAPSHOT_CHUNK_BYTES: usize = 4 << 20;

/// Largest chunk a member accepts to send: a frame's limit less 1 MiB for the chunk's vote,
/// snapshot meta (the membership) and encoding.
pub const SNAPSHOT_CHUNK_BYTES_MAX: usize = crate::wire::FRAME_BYTES_MAX - (1 << 20);

/// Who a member is and who its peers are (etcd's `--name` and `--initial-cluster`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberConfig {
    /// This member's id (a key of `members` for a member of the initial cluster).
    pub id: u64,
    /// Every voting member of the initial cluster: id → Raft peer address (`host:port`).
    /// Ignored when `join` is set.
    pub members: BTreeMap<u64, String>,
    /// Election and heartbeat timing.
    pub timing: RaftTiming,
    /// This member joins an existing cluster (etcd's `--initial-cluster-state=existing`): it
    /// does not initialize a cluster and waits for the leader to add it
    /// ([`Replica::add_learner`]) and replicate to it.
    pub join: bool,
    /// Build a Raft snapshot (a copy of the store) after this many log entries since the last
    /// one, and purge the log below it; 0 never snapshots (the log is never purged).
    pub snapshot_every: u64,
    /// Largest piece of a snapshot image sent to a lagging member in one frame
    /// ([`SNAPSHOT_CHUNK_BYTES`] by default; between 1 and [`SNAPSHOT_CHUNK_BYTES_MAX`]).
    pub snapshot_chunk_bytes: usize,
}

impl MemberConfig {
    /// A member of a new cluster with `members`, default timing and snapshot policy.
    #[must_use]
    pub fn new(id: u64, members: BTreeMap<u64, String>) -> Self {
        Self {
            id,
            members,
            timing: RaftTiming::default(),
            join: false,
            snapshot_every: SNAPSHOT_EVERY_DEFAULT,
            snapshot_chunk_bytes: SNAPSHOT_CHUNK_BYTES,
        }
    }
}

/// One member of the current membership (what `etcdctl member list` shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's id.
    pub id: u64,
    /// Its Raft peer address (`host:port`).
    pub addr: String,
    /// True for a voter; false for a learner (etcd's `IS LEARNER` column, inverted).
    pub voter: bool,
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
    /// Index of the last entry its latest Raft snapshot (a copy of the store) covers.
    pub snapshot_index: Option<u64>,
    /// Index of the last entry purged from its log (covered by a snapshot).
    pub purged_index: Option<u64>,
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum ProposeError {
    /// Not proposed: this member (or the one forwarded to) does not lead.
    NotLeader(Option<u64>),
    /// Proposed (or possibly proposed), fate unknown.
    Unknown(String),
    /// Certainly not proposed: the leader could not be reached or refused the request.
    Unavailable(String),
}

impl ProposeError {
    /// The store error each write of the batch is answered with.
    pub(crate) fn to_store_error(&self) -> StoreError {
        match self {
            ProposeError::NotLeader(leader) => StoreError::NotLeader { leader: *leader },
            ProposeError::Unknown(why) => StoreError::ReplicationUnknown(why.clone()),
            ProposeError::Unavailable(why) => StoreError::Unavailable(why.clone()),
        }
    }
}

/// Writers of this member waiting for the apply of the batches they forwarded to the leader,
/// by sequence number. Shared by the [`Replica`] and its state machine.
pub(crate) struct Pending {
    member: u64,
    boot: u64,
    waiters: std::sync::Mutex<BTreeMap<u64, oneshot::Sender<Outcomes>>>,
}

impl Pending {
    fn waiters(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, oneshot::Sender<Outcomes>>> {
        self.waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn register(&self, seq: u64) -> oneshot::Receiver<Outcomes> {
        let (tx, rx) = oneshot::channel();
        self.waiters().insert(seq, tx);
        rx
    }

    fn cancel(&self, seq: u64) {
        self.waiters().remove(&seq);
    }

    /// Hands the outcomes of an applied batch to the writer of this member that forwarded it;
    /// gives them back when no one here waits for them.
    pub(crate) fn deliver(&self, origin: Option<Origin>, outcomes: Outcomes) -> Option<Outcomes> {
        let Some(origin) = origin else {
            return Some(outcomes);
        };
        if origin.member != self.member || origin.boot != self.boot {
            return Some(outcomes);
        }
        let waiter = self.waiters().remove(&origin.seq);
        match waiter {
            Some(tx) => tx.send(outcomes).err(),
            None => Some(outcomes),
        }
    }
}

/// A running member: its Raft node. Shut down with [`Replica::shutdown`].
pub struct Replica {
    id: u64,
    timing: RaftTiming,
    raft: SkiffRaft,
    db: Arc<redb::Database>,
    pending: Arc<Pending>,
    next_seq: AtomicU64,
    client: network::Client,
    /// The last snapshot the state machine built or installed.
    last_snapshot: state_machine::LastSnapshot,
    /// Turns true on shutdown: the Raft port stops serving.
    stop: tokio::sync::watch::Sender<bool>,
}

impl fmt::Debug for Replica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replica")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Proposes one encoded batch on this member, which must lead, and waits until it is committed
/// and applied here; returns the entry's index and the outcomes of the apply.
pub(crate) async fn propose_record(
    raft: &SkiffRaft,
    id: u64,
    timing: RaftTiming,
    record: Vec<u8>,
) -> Result<(u64, Outcomes), ProposeError> {
    // A newly elected leader refuses writes until a quorum has acknowledged it (its lease),
    // answering "forward to: unknown" although it leads: wait for that, up to one election
    // timeout, rather than failing the batch.
    let mut waited = 0;
    loop {
        match raft.client_write(Proposal(record.clone())).await {
            Ok(response) => return Ok((response.log_id.index, response.data)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                let leading = forward.leader_id.is_none()
                    && raft.metrics().borrow_watched().current_leader == Some(id);
                if !leading || waited >= timing.election_max_ms {
                    return Err(ProposeError::NotLeader(forward.leader_id));
                }
            }
            Err(e) => return Err(ProposeError::Unknown(e.to_string())),
        }
        let pause = timing.heartbeat_ms.max(1);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        waited += pause;
    }
}

/// Maps an openraft write error of a membership change.
fn membership_error(e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> StoreError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => StoreError::NotLeader {
            leader: f.leader_id,
        },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            StoreError::Membership(e.to_string())
        }
        other => StoreError::ReplicationUnknown(other.to_string()),
    }
}

impl Replica {
    /// Longest a forwarded write or a read index request waits for the leader's answer.
    fn rpc_ttl(&self) -> Duration {
        Duration::from_millis(self.timing.election_max_ms.saturating_mul(4).max(1000))
    }

    /// Longest this member waits to apply up to an index the leader named.
    fn apply_ttl(&self) -> Duration {
        Duration::from_millis(self.timing.election_max_ms.saturating_mul(4).max(1000))
    }

    /// The leader this member knows of, waiting up to one election timeout for one.
    async fn known_leader(&self) -> Option<u64> {
        if let Some(leader) = self.leader() {
            return Some(leader);
        }
        let bound = Duration::from_millis(self.timing.election_max_ms);
        self.wait_for(bound, |s| s.leader.is_some()).await;
        self.leader()
    }

    /// The Raft address of a member of the current membership.
    fn addr_of(&self, id: u64) -> Option<String> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        m.membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.addr.clone())
    }

    /// Proposes one batch and waits until it is committed and applied here. On a follower the
    /// batch is forwarded to the leader, which proposes it; this member answers once it has
    /// applied the entry itself, with the outcomes of its own apply.
    pub(crate) async fn propose(
        &self,
        at: MicroTime,
        writes: Vec<(Actor, Txn)>,
    ) -> Result<Vec<Result<TxnResponse, WriteError>>, ProposeError> {
        let batch = Batch {
            at,
            origin: None,
            writes,
        };
        // A leader hint that turns out stale is followed, a couple of hops at most.
        let mut target = self.known_leader().await;
        let mut hops = 0;
        loop {
            let result = match target {
                None => return Err(ProposeError::NotLeader(None)),
                Some(leader) if leader == self.id => {
                    let record = crate::codec::encode_with(BATCH_FORMAT, &batch);
                    propose_record(&self.raft, self.id, self.timing, record)
                        .await
                        .map(|(_, outcomes)| outcomes.0)
                }
                Some(leader) => self.forward(leader, batch.clone()).await,
            };
            match result {
                Err(ProposeError::NotLeader(Some(other))) if Some(other) != target && hops < 2 => {
                    hops += 1;
                    target = Some(other);
                }
                result => return result,
            }
        }
    }

    /// Sends a batch to the leader to propose; waits for this member's own apply of it.
    async fn forward(
        &self,
        leader: u64,
        mut batch: Batch,
    ) -> Result<Vec<Result<TxnResponse, WriteError>>, ProposeError> {
        let Some(addr) = self.addr_of(leader) else {
            return Err(ProposeError::NotLeader(Some(leader)));
        };
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        batch.origin = Some(Origin {
            member: self.id,
            boot: self.pending.boot,
            seq,
        });
        let record = crate::codec::encode_with(BATCH_FORMAT, &batch);
        let applied = self.pending.register(seq);
        let answer = self
            .client
            .call(
                &addr,
                &network::RaftRequest::Forward(record),
                self.rpc_ttl(),
            )
            .await;
        let index = match answer {
            Ok(network::RaftResponse::Forwarded(Ok(index))) => index,
            Ok(network::RaftResponse::Forwarded(Err(e))) => {
                self.pending.cancel(seq);
                return Err(e);
            }
            Ok(_) => {
                self.pending.cancel(seq);
                return Err(ProposeError::Unknown(format!(
                    "member {leader} answered a forwarded write with a response of another kind"
                )));
            }
            Err(network::CallError::Unreachable(e)) => {
                self.pending.cancel(seq);
                return Err(ProposeError::Unavailable(format!(
                    "the leader (member {leader} at {addr}) is unreachable: {e}"
                )));
            }
            Err(network::CallError::Network(e)) => {
                self.pending.cancel(seq);
                return Err(ProposeError::Unknown(format!(
                    "forwarding to the leader (member {leader}): {e}"
                )));
            }
        };
        let ttl = self.apply_ttl();
        if let Ok(Ok(outcomes)) = tokio::time::timeout(ttl, applied).await {
            return Ok(outcomes.0);
        }
        self.pending.cancel(seq);
        Err(ProposeError::Unknown(format!(
            "committed at index {index} by member {leader} but not applied on member {} within {ttl:?}",
            self.id
        )))
    }

    /// ReadIndex (Raft thesis §6.4): after this returns, this member's store reflects every
    /// write acknowledged anywhere in the cluster before the call. The leader confirms its
    /// leadership with a quorum and names its commit index; a follower asks the leader for
    /// that index over the Raft network; either then waits until it has applied up to it.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotLeader`] with `leader: None` when no leader is known within an
    /// election timeout; [`StoreError::Unavailable`] when the leader cannot confirm its
    /// leadership, cannot be reached, or this member does not apply up to the index in time.
    pub async fn read_barrier(&self) -> Result<(), StoreError> {
        let Some(leader) = self.known_leader().await else {
            return Err(StoreError::NotLeader { leader: None });
        };
        let read_log_id = if leader == self.id {
            match read_index(&self.raft).await {
                Ok(log_id) => log_id,
                Err(ProposeError::NotLeader(Some(other))) if other != self.id => {
                    self.remote_read_index(other).await?
                }
                Err(e) => return Err(e.to_store_error()),
            }
        } else {
            self.remote_read_index(leader).await?
        };
        let index = read_log_id.index;
        let ttl = self.apply_ttl();
        let linearizer = Linearizer::new(self.id, ReadLogId::from_log_id(read_log_id), None);
        match linearizer.try_await_ready(&self.raft, Some(ttl)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(StoreError::Unavailable(format!(
                "member {} did not apply up to the read index {index} within {ttl:?}",
                self.id
            ))),
            Err(fatal) => Err(StoreError::Unavailable(format!(
                "member {}: raft stopped: {fatal}",
                self.id
            ))),
        }
    }

    async fn remote_read_index(&self, leader: u64) -> Result<LogIdOf<TypeConfig>, StoreError> {
        let Some(addr) = self.addr_of(leader) else {
            return Err(StoreError::NotLeader {
                leader: Some(leader),
            });
        };
        match self
            .client
            .call(&addr, &network::RaftRequest::ReadIndex, self.rpc_ttl())
            .await
        {
            Ok(network::RaftResponse::ReadIndex(Ok(log_id))) => Ok(log_id),
            Ok(network::RaftResponse::ReadIndex(Err(e))) => Err(e.to_store_error()),
            Ok(_) => Err(StoreError::Unavailable(format!(
                "member {leader} answered a read index request with a response of another kind"
            ))),
            Err(network::CallError::Unreachable(e) | network::CallError::Network(e)) => Err(
                StoreError::Unavailable(format!("read index from member {leader} at {addr}: {e}")),
            ),
        }
    }

    /// The current membership (the last membership entry in this member's log, committed or
    /// not), voters and learners, by id.
    #[must_use]
    pub fn members(&self) -> Vec<Member> {
        members_of(&self.raft)
    }

    /// Adds a member as a learner (etcd's `member add --learner`): it receives the log (or a
    /// snapshot) but does not vote. Returns once the leader sees it caught up, or fails after
    /// ten election timeouts (the learner stays in the membership; retry or remove it). On a
    /// follower the change is forwarded to the leader ([`Replica::promote`] tells how).
    ///
    /// # Errors
    ///
    /// [`StoreError::NotLeader`] when no leader is known; [`StoreError::Membership`] when
    /// the change is refused (another change in progress); [`StoreError::Unavailable`] when the
    /// learner does not catch up in time, or the leader cannot be reached;
    /// [`StoreError::ReplicationUnknown`] otherwise.
    pub async fn add_learner(&self, id: u64, addr: String) -> Result<(), StoreError> {
        self.change(MembershipChange::AddLearner { id, addr }).await
    }

    /// Promotes a learner to a voter (etcd's `member promote`), through a joint configuration;
    /// returns once the new membership is committed.
    ///
    /// Any member takes a membership change: on a follower it is forwarded to the leader over
    /// the Raft port (`RaftRequest::Membership`), as etcd forwards `member promote` to its
    /// leader, and as etcd's Raft forwards a follower's proposals (conf changes among them) to
    /// the leader; the follower answers with the leader's outcome.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotLeader`] when no leader is known; [`StoreError::Membership`] when
    /// `id` is not a learner, holds less than 90 % of the leader's log (etcd's
    /// `ErrLearnerNotReady`), or another change is in progress; [`StoreError::Unavailable`]
    /// when the leader cannot be reached (the change was certainly not made);
    /// [`StoreError::ReplicationUnknown`] when the change's fate is unknown (the connection
    /// to the leader broke after sending, or leadership changed in flight).
    pub async fn promote(&self, id: u64) -> Result<(), StoreError> {
        self.change(MembershipChange::Promote(id)).await
    }

    /// Removes a member, voter or learner (etcd's `member remove`); returns once the new
    /// membership is committed. A leader that removes itself steps down once the change is
    /// committed, and the remaining voters elect a new one. Forwarded from a follower as
    /// [`Replica::promote`] tells.
    ///
    /// # Errors
    ///
    /// As [`Replica::promote`]; also [`StoreError::Membership`] for an unknown member or the
    /// last voter.
    pub async fn remove(&self, id: u64) -> Result<(), StoreError> {
        self.change(MembershipChange::Remove(id)).await
    }

    /// Makes a membership change on the leader: here when this member leads, else forwarded;
    /// a stale leader hint is followed, a couple of hops at most (as [`Replica::propose`]).
    async fn change(&self, change: MembershipChange) -> Result<(), StoreError> {
        let mut target = self.known_leader().await;
        let mut hops = 0;
        loop {
            let result = match target {
                None => return Err(StoreError::NotLeader { leader: None }),
                Some(leader) if leader == self.id => {
                    change_membership(&self.raft, self.id, self.timing, &change).await
                }
                Some(leader) => self.forward_change(leader, &change).await,
            };
            match result {
                Err(StoreError::NotLeader {
                    leader: Some(other),
                }) if Some(other) != target && hops < 2 => {
                    hops += 1;
                    target = Some(other);
                }
                result => return result,
            }
        }
    }

    /// Sends a membership change to the leader and returns its outcome.
    async fn forward_change(
        &self,
        leader: u64,
        change: &MembershipChange,
    ) -> Result<(), StoreError> {
        let Some(addr) = self.addr_of(leader) else {
            return Err(StoreError::NotLeader {
                leader: Some(leader),
            });
        };
        // The leader may wait ten election timeouts for a learner to catch up.
        let ttl = membership_ttl(self.timing) + self.rpc_ttl();
        let request = network::RaftRequest::Membership(change.clone());
        match self.client.call(&addr, &request, ttl).await {
            Ok(network::RaftResponse::Membership(result)) => {
                result.map_err(ChangeError::into_store_error)
            }
            Ok(_) => Err(StoreError::ReplicationUnknown(format!(
                "member {leader} answered a forwarded membership change with a response of another kind"
            ))),
            Err(network::CallError::Unreachable(e)) => Err(StoreError::Unavailable(format!(
                "the leader (member {leader} at {addr}) is unreachable: {e}"
            ))),
            Err(network::CallError::Network(e)) => Err(StoreError::ReplicationUnknown(format!(
                "forwarding the membership change to the leader (member {leader} at {addr}): {e}"
            ))),
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

    /// Size in bytes of the last Raft snapshot (store image) this member built or installed
    /// since it started, if any.
    #[must_use]
    pub fn snapshot_bytes(&self) -> Option<usize> {
        self.last_snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|s| s.snapshot.len())
    }

    /// Stops the Raft node (its tasks end, its Raft port closes and peers find it
    /// unreachable; the store's database stays open).
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
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

/// Longest the leader waits for a new learner to catch up (ten election timeouts).
fn membership_ttl(timing: RaftTiming) -> Duration {
    Duration::from_millis(timing.election_max_ms.saturating_mul(10))
}

/// The share of the leader's log a learner must hold before it may become a voter (etcd's
/// `readyPercentThreshold`, 0.9, in `isLearnerReady`): a voter that lags far behind would
/// count toward quorums it cannot serve, and could even cost the cluster its quorum.
const LEARNER_READY_PERCENT: u64 = 90;

/// Refuses to promote learner `id` while it holds less than [`LEARNER_READY_PERCENT`] of the
/// leader's log, as etcd's `member promote` answers `ErrLearnerNotReady`.
fn learner_ready(raft: &SkiffRaft, id: u64) -> Result<(), StoreError> {
    let metrics = raft.metrics();
    let m = metrics.borrow_watched();
    let leader_last = m.last_log_index.unwrap_or(0);
    let matched = m
        .replication
        .as_ref()
        .and_then(|r| r.get(&id))
        .and_then(|l| l.as_ref().map(|l| l.index))
        .unwrap_or(0);
    if u128::from(matched) * 100 < u128::from(leader_last) * u128::from(LEARNER_READY_PERCENT) {
        return Err(StoreError::Membership(format!(
            "can only promote a learner member which is in sync with leader (member {id} \
             holds the log up to index {matched} of the leader's {leader_last})"
        )));
    }
    Ok(())
}

/// The current membership of `raft` (the last membership entry in its log), by id.
fn members_of(raft: &SkiffRaft) -> Vec<Member> {
    let metrics = raft.metrics();
    let m = metrics.borrow_watched();
    let membership = m.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    membership
        .nodes()
        .map(|(id, node)| Member {
            id: *id,
            addr: node.addr.clone(),
            voter: voters.contains(id),
        })
        .collect()
}

/// A membership change, made by the leader; a follower forwards it
/// (`network::RaftRequest::Membership`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum MembershipChange {
    /// Add a learner at this Raft address.
    AddLearner { id: u64, addr: String },
    /// Make a learner a voter.
    Promote(u64),
    /// Remove a voter or learner.
    Remove(u64),
}

/// Why a membership change failed, as it crosses the network back to a follower.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum ChangeError {
    /// [`StoreError::NotLeader`].
    NotLeader(Option<u64>),
    /// [`StoreError::Membership`]: refused, nothing changed.
    Refused(String),
    /// [`StoreError::Unavailable`].
    Unavailable(String),
    /// [`StoreError::ReplicationUnknown`] (and any other store error).
    Unknown(String),
}

impl ChangeError {
    pub(crate) fn from_store_error(e: StoreError) -> Self {
        match e {
            StoreError::NotLeader { leader } => ChangeError::NotLeader(leader),
            StoreError::Membership(why) => ChangeError::Refused(why),
            StoreError::Unavailable(why) => ChangeError::Unavailable(why),
            StoreError::ReplicationUnknown(why) => ChangeError::Unknown(why),
            other => ChangeError::Unknown(other.to_string()),
        }
    }

    fn into_store_error(self) -> StoreError {
        match self {
            ChangeError::NotLeader(leader) => StoreError::NotLeader { leader },
            ChangeError::Refused(why) => StoreError::Membership(why),
            ChangeError::Unavailable(why) => StoreError::Unavailable(why),
            ChangeError::Unknown(why) => StoreError::ReplicationUnknown(why),
        }
    }
}

/// Makes a membership change on this member, which must lead (openraft's joint consensus).
pub(crate) async fn change_membership(
    raft: &SkiffRaft,
    id: u64,
    timing: RaftTiming,
    change: &MembershipChange,
) -> Result<(), StoreError> {
    let leader = raft.metrics().borrow_watched().current_leader;
    if leader != Some(id) {
        return Err(StoreError::NotLeader { leader });
    }
    match change {
        MembershipChange::AddLearner { id, addr } => {
            let ttl = membership_ttl(timing);
            match tokio::time::timeout(
                ttl,
                raft.add_learner(*id, BasicNode::new(addr.clone()), true),
            )
            .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(membership_error(e)),
                Err(_) => Err(StoreError::Unavailable(format!(
                    "member {id} was added as a learner but did not catch up within {ttl:?}"
                ))),
            }
        }
        MembershipChange::Promote(id) => {
            if !members_of(raft).iter().any(|m| m.id == *id && !m.voter) {
                return Err(StoreError::Membership(format!(
                    "member {id} is not a learner of the cluster"
                )));
            }
            learner_ready(raft, *id)?;
            raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([*id])), false)
                .await
                .map(|_| ())
                .map_err(membership_error)
        }
        MembershipChange::Remove(id) => {
            let members = members_of(raft);
            let Some(member) = members.iter().find(|m| m.id == *id) else {
                return Err(StoreError::Membership(format!(
                    "member {id} is not in the cluster"
                )));
            };
            let change = if member.voter {
                if members.iter().filter(|m| m.voter).count() == 1 {
                    return Err(StoreError::Membership(format!(
                        "member {id} is the last voter of the cluster"
                    )));
                }
                ChangeMembers::RemoveVoters(BTreeSet::from([*id]))
            } else {
                ChangeMembers::RemoveNodes(BTreeSet::from([*id]))
            };
            raft.change_membership(change, false)
                .await
                .map(|_| ())
                .map_err(membership_error)
        }
    }
}

/// On the leader: confirms leadership with a quorum (a heartbeat round) and returns the read
/// index, without waiting for the apply.
pub(crate) async fn read_index(raft: &SkiffRaft) -> Result<LogIdOf<TypeConfig>, ProposeError> {
    match raft.get_read_linearizer(ReadPolicy::ReadIndex).await {
        Ok(linearizer) => Ok(*linearizer.read_log_id().log_id()),
        Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f))) => {
            Err(ProposeError::NotLeader(f.leader_id))
        }
        Err(e) => Err(ProposeError::Unavailable(e.to_string())),
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
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
        }
    }
}

/// Builds the Raft node of a member over the store's database and starts serving peers on
/// `listener`. On a fresh member of a new cluster (empty Raft state, not `join`) it
/// initializes the cluster with the configured members: every member of an initial cluster
/// does the same with the same membership, so whichever campaigns first may win.
pub(crate) async fn start(
    config: &MemberConfig,
    db: Arc<redb::Database>,
    hub: crate::watch::WatchHub,
    listener: tokio::net::TcpListener,
    clock: Arc<dyn Clock>,
    kinds: skiff_core::object::KindRegistry,
) -> Result<Replica, StoreError> {
    if !(1..=SNAPSHOT_CHUNK_BYTES_MAX).contains(&config.snapshot_chunk_bytes) {
        return Err(StoreError::Database(format!(
            "raft configuration: a snapshot chunk of {} bytes is not between 1 and {SNAPSHOT_CHUNK_BYTES_MAX}",
            config.snapshot_chunk_bytes
        )));
    }
    let snapshot_policy = if config.snapshot_every == 0 {
        openraft::SnapshotPolicy::Never
    } else {
        openraft::SnapshotPolicy::LogsSinceLast(config.snapshot_every)
    };
    let raft_config = openraft::Config {
        cluster_name: "skiff".into(),
        heartbeat_interval: config.timing.heartbeat_ms,
        election_timeout_min: config.timing.election_min_ms,
        election_timeout_max: config.timing.election_max_ms,
        snapshot_policy,
        // Keep this many applied entries below a snapshot, so a member that lags a little
        // catches up from the log rather than a whole snapshot.
        max_in_snapshot_log_to_keep: config.snapshot_every.min(1000),
        // Bounds each chunk of a snapshot (openraft: "the timeout for sending then installing
        // the last snapshot segment", and every other segment); the last one includes the
        // install, one transaction.
        install_snapshot_timeout: config.timing.election_max_ms.saturating_mul(10).max(5000),
        // Handed to the network as `RPCOption::snapshot_chunk_size` (network.rs).
        snapshot_max_chunk_size: config.snapshot_chunk_bytes as u64,
        broadcast_submitted_on_append: Some(true),
        ..Default::default()
    }
    .validate()
    .map_err(|e| StoreError::Database(format!("raft configuration: {e}")))?;
    log_store::init_tables(&db)?;
    let boot = log_store::next_boot(&db)?;
    let pending = Arc::new(Pending {
        member: config.id,
        boot,
        waiters: std::sync::Mutex::new(BTreeMap::new()),
    });
    let log = log_store::LogStore::new(db.clone());
    let last_snapshot = state_machine::LastSnapshot::default();
    let sm = state_machine::StateMachine::new(
        db.clone(),
        hub,
        pending.clone(),
        last_snapshot.clone(),
        kinds.clone(),
    );
    let raft = Raft::new(
        config.id,
        Arc::new(raft_config),
        network::NetworkFactory,
        log,
        sm,
    )
    .await
    .map_err(|e| StoreError::Database(format!("raft: {e}")))?;
    let server = Arc::new(network::Server {
        raft: raft.clone(),
        id: config.id,
        timing: config.timing,
        clock,
        kinds,
        snapshots: std::sync::Mutex::default(),
    });
    let (stop, stop_serving) = tokio::sync::watch::channel(false);
    tokio::spawn(network::serve(listener, server, stop_serving));
    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| StoreError::Database(format!("raft: {e}")))?;
    if !initialized && !config.join {
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
        pending,
        next_seq: AtomicU64::new(0),
        client: network::Client::default(),
        last_snapshot,
        stop,
    })
}
