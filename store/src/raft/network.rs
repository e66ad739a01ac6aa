//! Raft between members: one request frame, one response frame, over `tokio::net` TCP
//! (simulated under madsim). Frames are skiff's length-prefixed frames ([`crate::wire::frame`]);
//! payloads are openraft's messages through bincode's serde path. The server feeds
//! `Raft::{append_entries, vote, pre_vote, install_full_snapshot}`; a frame that is too large
//! or does not decode ends its connection, never the process.
//!
//! A snapshot image travels in chunks ([`RaftRequest::SnapshotChunk`], `chunks.rs`), one
//! frame each, reassembled by the receiver before it is installed.
//!
//! Three requests are skiff's own, on the same port and frames: a follower forwards a writer
//! batch to the leader ([`RaftRequest::Forward`]), asks it for a read index
//! ([`RaftRequest::ReadIndex`]) for a linearizable read, and forwards it a membership change
//! ([`RaftRequest::Membership`]).
//!
//! New variants are appended to [`RaftRequest`] and [`RaftResponse`] (bincode encodes the
//! variant's index): an older member refuses a request it does not know by closing the
//! connection, which the sender sees as a network error.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::impls::BasicNode;
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, VoteOf};
use openraft::type_config::async_runtime::WatchReceiver;
use skiff_core::clock::Clock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::chunks::{Accepted, ChunkAnswer, Complete, Reassembly, SnapshotChunk, split};
use super::state_machine::SnapshotData;
use super::{
    BATCH_FORMAT, Batch, ChangeError, MembershipChange, ProposeError, RaftTiming,
    SNAPSHOT_CHUNK_BYTES, SNAPSHOT_CHUNK_BYTES_MAX, SkiffRaft, TypeConfig, change_membership,
    decode, encode, propose_record, read_index,
};
use crate::wire::{FRAME_BYTES_MAX, LENGTH_PREFIX_BYTES, frame};

/// A request from one member to another.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum RaftRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    Snapshot {
        vote: VoteOf<TypeConfig>,
        meta: SnapshotMetaOf<TypeConfig>,
        data: SnapshotData,
    },
    /// A follower's writer batch (a `Batch` record) for the leader to propose.
    Forward(Vec<u8>),
    /// A follower asks the leader for a read index.
    ReadIndex,
    /// One piece of a snapshot image (`chunks.rs`); replaces [`RaftRequest::Snapshot`],
    /// which a member still accepts from an older peer.
    SnapshotChunk(SnapshotChunk),
    /// A follower forwards a membership change (`member add|promote|remove`) to the leader.
    Membership(MembershipChange),
}

/// The answer to a [`RaftRequest`].
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum RaftResponse {
    Append(AppendEntriesResponse<TypeConfig>),
    Vote(VoteResponse<TypeConfig>),
    Snapshot(SnapshotResponse<TypeConfig>),
    /// The receiving Raft node failed (it is shutting down, or fatal).
    Failed(String),
    /// A forwarded batch was committed and applied on the leader at this log index, or why
    /// not.
    Forwarded(Result<u64, ProposeError>),
    /// The leader's read index (its leadership confirmed by a quorum), or why not.
    ReadIndex(Result<LogIdOf<TypeConfig>, ProposeError>),
    /// What became of a snapshot chunk.
    SnapshotChunk(ChunkAnswer),
    /// The outcome of a forwarded membership change on the leader.
    Membership(Result<(), ChangeError>),
}

/// What the serving side of a member needs.
pub(crate) struct Server {
    pub raft: SkiffRaft,
    pub id: u64,
    pub timing: RaftTiming,
    /// Stamps forwarded batches with the leader's time.
    pub clock: Arc<dyn Clock>,
    /// The kinds forwarded batches' objects may be of (the member's store's).
    pub kinds: skiff_core::object::KindRegistry,
    /// The snapshot image being received in chunks, at most one.
    pub snapshots: std::sync::Mutex<Reassembly>,
}

impl Server {
    /// Proposes a batch a follower forwarded: decoded (a batch that does not decode is refused,
    /// never proposed), stamped with this leader's time, proposed as the leader's own.
    async fn forwarded(&self, record: &[u8]) -> Result<u64, ProposeError> {
        let mut batch: Batch = crate::codec::decode_with(BATCH_FORMAT, record, &self.kinds)
            .map_err(|e| ProposeError::Unavailable(format!("forwarded batch refused: {e}")))?;
        if batch.origin.is_none() {
            return Err(ProposeError::Unavailable(
                "forwarded batch refused: it names no origin".into(),
            ));
        }
        let leader = self.raft.metrics().borrow_watched().current_leader;
        if leader != Some(self.id) {
            return Err(ProposeError::NotLeader(leader));
        }
        batch.at = self.clock.now_micro_time();
        let record = crate::codec::encode_with(BATCH_FORMAT, &batch);
        propose_record(&self.raft, self.id, self.timing, record)
            .await
            .map(|(index, _)| index)
    }

    /// Takes one chunk of a snapshot image; once the last is in, installs the whole image
    /// (`install_full_snapshot` checks the vote, the image its CRC and state hash).
    async fn snapshot_chunk(&self, chunk: SnapshotChunk) -> RaftResponse {
        let accepted = self
            .snapshots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .accept(&chunk);
        match accepted {
            Ok(Accepted::Next(offset)) => RaftResponse::SnapshotChunk(ChunkAnswer::Next(offset)),
            Ok(Accepted::Complete(Complete { vote, meta, image })) => self
                .raft
                .install_full_snapshot(
                    vote,
                    openraft::storage::Snapshot {
                        meta,
                        snapshot: image,
                    },
                )
                .await
                .map_or_else(
                    |e| RaftResponse::Failed(e.to_string()),
                    |r| RaftResponse::SnapshotChunk(ChunkAnswer::Done(r)),
                ),
            Err(why) => {
                tracing::info!(member = self.id, %why, "snapshot chunk refused");
                RaftResponse::SnapshotChunk(ChunkAnswer::Refused(why))
            }
        }
    }
}

/// Reads one frame's payload; `Ok(None)` on a clean end of stream.
async fn read_frame(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut prefix = [0u8; LENGTH_PREFIX_BYTES];
    match stream.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = usize::try_from(u32::from_le_bytes(prefix)).unwrap_or(usize::MAX);
    if len > FRAME_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {FRAME_BYTES_MAX}"),
        ));
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    Ok(Some(payload))
}

async fn write_frame(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let bytes = frame(payload).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    stream.write_all(&bytes).await?;
    stream.flush().await
}

/// Returns once `stop` turns true; never if its sender is dropped without that.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Serves Raft requests from peers until the listener fails or `stop` turns true (the member
/// shut down): then the listener and every connection close, and peers find this member
/// unreachable rather than talk to a stopped Raft node.
pub(crate) async fn serve(listener: TcpListener, server: Arc<Server>, stop: watch::Receiver<bool>) {
    let mut stop_accepting = stop.clone();
    loop {
        let accepted = tokio::select! {
            biased;
            () = stopped(&mut stop_accepting) => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                // Small request/response frames: Nagle's delay would add tens of ms per RPC.
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, server.clone(), stop.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "raft listener failed");
                return;
            }
        }
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    server: Arc<Server>,
    mut stop: watch::Receiver<bool>,
) {
    let raft = &server.raft;
    loop {
        let read = tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            read = read_frame(&mut stream) => read,
        };
        let payload = match read {
            Ok(Some(payload)) => payload,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "raft connection ended");
                return;
            }
        };
        let request: RaftRequest = match decode(&payload) {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(error = %e, "malformed raft frame; closing the connection");
                return;
            }
        };
        let response = match request {
            RaftRequest::Append(rpc) => raft.append_entries(rpc).await.map_or_else(
                |e| RaftResponse::Failed(e.to_string()),
                RaftResponse::Append,
            ),
            RaftRequest::Vote(rpc) => raft
                .vote(rpc)
                .await
                .map_or_else(|e| RaftResponse::Failed(e.to_string()), RaftResponse::Vote),
            RaftRequest::PreVote(rpc) => raft
                .pre_vote(rpc)
                .await
                .map_or_else(|e| RaftResponse::Failed(e.to_string()), RaftResponse::Vote),
            RaftRequest::Snapshot { vote, meta, data } => raft
                .install_full_snapshot(
                    vote,
                    openraft::storage::Snapshot {
                        meta,
                        snapshot: data,
                    },
                )
                .await
                .map_or_else(
                    |e| RaftResponse::Failed(e.to_string()),
                    RaftResponse::Snapshot,
                ),
            RaftRequest::Forward(record) => {
                RaftResponse::Forwarded(server.forwarded(&record).await)
            }
            RaftRequest::ReadIndex => RaftResponse::ReadIndex(read_index(raft).await),
            RaftRequest::SnapshotChunk(chunk) => server.snapshot_chunk(chunk).await,
            RaftRequest::Membership(change) => RaftResponse::Membership(
                change_membership(raft, server.id, server.timing, &change)
                    .await
                    .map_err(ChangeError::from_store_error),
            ),
        };
        let Ok(bytes) = encode(&response) else {
            return;
        };
        if write_frame(&mut stream, &bytes).await.is_err() {
            return;
        }
    }
}

/// True when an idle connection has nothing to read and has not ended: one poll of a read,
/// which must be pending.
fn still_open(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let mut buf = tokio::io::ReadBuf::new(&mut byte);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    matches!(
        tokio::io::AsyncRead::poll_read(std::pin::Pin::new(stream), &mut cx, &mut buf),
        std::task::Poll::Pending
    )
}

/// Makes a [`Peer`] per target member.
pub(crate) struct NetworkFactory;

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Peer;

    async fn new_client(&mut self, _target: u64, node: &BasicNode) -> Peer {
        Peer {
            addr: node.addr.clone(),
            stream: tokio::sync::Mutex::new(None),
        }
    }
}

/// The connection to one peer, opened on first use and dropped after any error.
pub(crate) struct Peer {
    addr: String,
    /// Only ever reached through `&mut self` (`get_mut`, no locking): the mutex makes the
    /// peer `Sync` as openraft requires, which simulated TCP streams are not.
    stream: tokio::sync::Mutex<Option<TcpStream>>,
}

/// Why a call to a peer failed.
pub(crate) enum CallError {
    /// Could not connect.
    Unreachable(io::Error),
    /// Connected, but the exchange failed or timed out, or the peer answered `Failed`.
    Network(io::Error),
}

impl CallError {
    fn into_rpc(self) -> RPCError<TypeConfig> {
        match self {
            CallError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
            CallError::Network(e) => RPCError::Network(NetworkError::new(&e)),
        }
    }
    fn into_streaming(self) -> StreamingError<TypeConfig> {
        match self {
            CallError::Unreachable(e) => StreamingError::Unreachable(Unreachable::new(&e)),
            CallError::Network(e) => StreamingError::Network(NetworkError::new(&e)),
        }
    }
}

impl Peer {
    async fn exchange(&mut self, request: &[u8]) -> Result<RaftResponse, CallError> {
        let slot = self.stream.get_mut();
        if slot.is_none() {
            let stream = TcpStream::connect(self.addr.as_str())
                .await
                .map_err(CallError::Unreachable)?;
            let _ = stream.set_nodelay(true);
            *slot = Some(stream);
        }
        let Some(stream) = slot.as_mut() else {
            return Err(CallError::Unreachable(io::Error::other("no connection")));
        };
        write_frame(stream, request)
            .await
            .map_err(CallError::Network)?;
        let payload = read_frame(stream)
            .await
            .map_err(CallError::Network)?
            .ok_or_else(|| {
                CallError::Network(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed the connection",
                ))
            })?;
        match decode(&payload).map_err(CallError::Network)? {
            RaftResponse::Failed(why) => Err(CallError::Network(io::Error::other(why))),
            response => Ok(response),
        }
    }

    /// One request and its response within `ttl`; any failure drops the connection.
    async fn call(
        &mut self,
        request: &RaftRequest,
        ttl: Duration,
    ) -> Result<RaftResponse, CallError> {
        let bytes = encode(request).map_err(CallError::Network)?;
        let result = match tokio::time::timeout(ttl, self.exchange(&bytes)).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Network(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer from {} within {ttl:?}", self.addr),
            ))),
        };
        if result.is_err() {
            *self.stream.get_mut() = None;
        }
        result
    }
}

/// Connections to other members for skiff's own requests (forwarded writes, read indexes),
/// kept for reuse; one per concurrent call.
#[derive(Default)]
pub(crate) struct Client {
    idle: std::sync::Mutex<Vec<(String, TcpStream)>>,
}

impl Client {
    fn take(&self, addr: &str) -> Option<TcpStream> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A connection the peer closed while it was idle (it restarted or shut down) is
        // dropped here: a request sent on it would fail after sending, an unknown outcome,
        // where a fresh connection tells at once whether the peer is reachable.
        while let Some(at) = idle.iter().position(|(a, _)| a == addr) {
            let (_, mut stream) = idle.swap_remove(at);
            if still_open(&mut stream) {
                return Some(stream);
            }
        }
        None
    }

    fn put(&self, addr: &str, stream: TcpStream) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A few idle connections are plenty; drop the rest.
        if idle.len() < 8 {
            idle.push((addr.to_owned(), stream));
        }
    }

    /// One request to the member at `addr` and its answer within `ttl`. A connection that
    /// fails is dropped; a successful one is kept for the next call.
    pub(crate) async fn call(
        &self,
        addr: &str,
        request: &RaftRequest,
        ttl: Duration,
    ) -> Result<RaftResponse, CallError> {
        let bytes = encode(request).map_err(CallError::Network)?;
        let exchange = async {
            let mut stream = if let Some(stream) = self.take(addr) {
                stream
            } else {
                let stream = TcpStream::connect(addr)
                    .await
                    .map_err(CallError::Unreachable)?;
                let _ = stream.set_nodelay(true);
                stream
            };
            write_frame(&mut stream, &bytes)
                .await
                .map_err(CallError::Network)?;
            let payload = read_frame(&mut stream)
                .await
                .map_err(CallError::Network)?
                .ok_or_else(|| {
                    CallError::Network(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer closed the connection",
                    ))
                })?;
            let response = decode(&payload).map_err(CallError::Network)?;
            Ok((stream, response))
        };
        match tokio::time::timeout(ttl, exchange).await {
            Ok(Ok((stream, response))) => {
                self.put(addr, stream);
                match response {
                    RaftResponse::Failed(why) => Err(CallError::Network(io::Error::other(why))),
                    response => Ok(response),
                }
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(CallError::Network(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer from {addr} within {ttl:?}"),
            ))),
        }
    }
}

fn unexpected() -> CallError {
    CallError::Network(io::Error::new(
        io::ErrorKind::InvalidData,
        "response of another kind",
    ))
}

impl RaftNetworkV2<TypeConfig> for Peer {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .call(&RaftRequest::Append(rpc), option.hard_ttl())
            .await
        {
            Ok(RaftResponse::Append(r)) => Ok(r),
            Ok(_) => Err(unexpected().into_rpc()),
            Err(e) => Err(e.into_rpc()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self.call(&RaftRequest::Vote(rpc), option.hard_ttl()).await {
            Ok(RaftResponse::Vote(r)) => Ok(r),
            Ok(_) => Err(unexpected().into_rpc()),
            Err(e) => Err(e.into_rpc()),
        }
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .call(&RaftRequest::PreVote(rpc), option.hard_ttl())
            .await
        {
            Ok(RaftResponse::Vote(r)) => Ok(r),
            Ok(_) => Err(unexpected().into_rpc()),
            Err(e) => Err(e.into_rpc()),
        }
    }

    /// Streams the image in chunks of at most `option.snapshot_chunk_size()` bytes
    /// ([`super::MemberConfig::snapshot_chunk_bytes`]), one frame each, every chunk within
    /// the hard TTL (openraft's `install_snapshot_timeout` bounds one segment). A refused
    /// chunk fails the transfer; openraft then sends the snapshot again from the start.
    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, SnapshotData>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let chunk = option
            .snapshot_chunk_size()
            .unwrap_or(SNAPSHOT_CHUNK_BYTES)
            .clamp(1, SNAPSHOT_CHUNK_BYTES_MAX);
        let ttl = option.hard_ttl();
        let mut cancel = std::pin::pin!(cancel);
        for piece in split(&vote, &snapshot.meta, &snapshot.snapshot, chunk) {
            let (offset, last) = (piece.offset, piece.last);
            let request = RaftRequest::SnapshotChunk(piece);
            let answer = tokio::select! {
                biased;
                closed = &mut cancel => return Err(StreamingError::Closed(closed)),
                result = self.call(&request, ttl) => result,
            };
            match answer {
                Ok(RaftResponse::SnapshotChunk(ChunkAnswer::Done(r))) => return Ok(r),
                Ok(RaftResponse::SnapshotChunk(ChunkAnswer::Next(next))) if !last => {
                    if next != offset + chunk as u64 {
                        return Err(unexpected().into_streaming());
                    }
                }
                Ok(RaftResponse::SnapshotChunk(ChunkAnswer::Refused(why))) => {
                    return Err(CallError::Network(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("snapshot chunk at offset {offset} refused: {why}"),
                    ))
                    .into_streaming());
                }
                Ok(_) => return Err(unexpected().into_streaming()),
                Err(e) => return Err(e.into_streaming()),
            }
        }
        // The receiver answers the last chunk with `Done` or `Refused`.
        Err(unexpected().into_streaming())
    }
}
