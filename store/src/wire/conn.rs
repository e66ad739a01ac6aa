//! Frames over a byte stream, and the server and client loops of the wire protocol.
//!
//! Both ends split the stream with `tokio::io::split` (simulated TCP has no `into_split`) and
//! flush after every frame (simulated TCP sends only on flush: madsim.md §4). Each end has one
//! reader task and one writer task joined by a bounded channel, so a slow peer slows only its own
//! connection. A malformed or oversized frame ends that connection with a logged error; the
//! server keeps serving everyone else.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use skiff_core::client::{
    AccessDecision, AccessReview, Binding, BoxFuture, Client, ClientError, DeleteOptions, Deleted,
    ExecOutput, ExecParams, ListParams, LogParams, ObjectList, PatchType, Scale, WatchEvent,
    WatchStream,
};
use skiff_core::event::Event;
use skiff_core::object::{KindInfo, KindRegistry, Object};
use skiff_core::status::Status;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::endpoints::{ATTEMPTS_MAX, Endpoints, Move, RETRY_PAUSE_MS, not_leader};
use super::frame::{FrameError, Split, split_frame};
use super::member::{MemberInfo, Membership};
use super::message::{
    ClientMessage, EtcdRange, EtcdStatus, PROTOCOL_VERSION, Request, Response, ServerMessage,
    StreamItem,
};
use crate::apiserver::authn::UserInfo;

/// Frames queued for a connection's writer before senders wait (backpressure).
pub const OUTBOX_FRAMES_MAX: usize = 1024;
/// Watch events buffered per watch on the client before the reader waits.
pub const WATCH_BUFFER_EVENTS_MAX: usize = 1024;
/// Items buffered per stream on the client before the reader waits (a snapshot's chunks are
/// large: a few suffice to keep the connection busy).
pub const STREAM_BUFFER_ITEMS_MAX: usize = 16;
/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Reads frames from a byte stream.
struct FrameReader<R> {
    inner: R,
    buffer: Vec<u8>,
}

/// Why reading a frame stopped.
#[derive(Debug)]
enum ReadEnd {
    /// The peer closed the stream cleanly between frames.
    Closed,
    /// I/O failed.
    Io(std::io::Error),
    /// The bytes are not a frame.
    Frame(FrameError),
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            buffer: Vec::new(),
        }
    }

    async fn next(&mut self) -> Result<Vec<u8>, ReadEnd> {
        loop {
            match split_frame(&self.buffer).map_err(ReadEnd::Frame)? {
                Split::Frame { payload, consumed } => {
                    let payload = payload.to_vec();
                    self.buffer.drain(..consumed);
                    return Ok(payload);
                }
                Split::NeedMore(_) => {
                    let mut chunk = vec![0; READ_CHUNK_BYTES];
                    let n = self.inner.read(&mut chunk).await.map_err(ReadEnd::Io)?;
                    if n == 0 {
                        return if self.buffer.is_empty() {
                            Err(ReadEnd::Closed)
                        } else {
                            Err(ReadEnd::Io(std::io::ErrorKind::UnexpectedEof.into()))
                        };
                    }
                    self.buffer.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }
}

async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &[u8]) -> std::io::Result<()> {
    w.write_all(frame).await?;
    w.flush().await
}

/// Writes queued frames until the queue closes or the socket fails.
async fn writer_loop<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(frame) = rx.recv().await {
        if let Err(e) = write_frame(&mut w, &frame).await {
            tracing::debug!(error = %e, "connection write failed");
            return;
        }
    }
    let _ = w.shutdown().await;
}

/// What the server needs from the API behind it.
pub trait Handler: Send + Sync + 'static {
    /// Maps a bearer token to the caller, or refuses (401).
    fn authenticate(&self, token: &str) -> Result<UserInfo, Status>;
    /// Serves one non-watch request as `user`.
    fn call<'a>(
        &'a self,
        user: &'a UserInfo,
        request: Request,
    ) -> BoxFuture<'a, Result<Response, Status>>;
    /// Starts a watch as `user`.
    fn watch<'a>(
        &'a self,
        user: &'a UserInfo,
        request: Request,
    ) -> BoxFuture<'a, Result<Box<dyn WatchStream>, Status>>;
    /// Starts a streamed answer ([`Request::is_stream`]) as `user`. By default no request
    /// streams.
    fn stream<'a>(
        &'a self,
        user: &'a UserInfo,
        request: Request,
    ) -> BoxFuture<'a, Result<Box<dyn ItemStream>, Status>> {
        let _ = (user, request);
        Box::pin(async { Err(Status::bad_request("this server streams no such request")) })
    }
    /// Authorizes `request` for `user` without serving it (requests the wire server answers
    /// itself: a replicated member's `member` requests). By default everything is refused.
    fn authorize(&self, user: &UserInfo, request: &Request) -> Result<(), Status> {
        let _ = (user, request);
        Err(Status {
            reason: skiff_core::status::Reason::Forbidden,
            message: "forbidden".into(),
            name: None,
            kind: None,
            causes: Vec::new(),
        })
    }
    /// The kinds requests may carry objects of (the frames' decode context); the built-ins
    /// unless the handler serves custom kinds.
    fn kinds(&self) -> KindRegistry {
        KindRegistry::builtin()
    }
}

/// The items of a streamed answer, as a server produces them.
pub trait ItemStream: Send {
    /// The next item; `None` when the stream is over. A stream that ends by itself sends
    /// [`StreamItem::End`] or [`StreamItem::Error`] last.
    fn next(&mut self) -> BoxFuture<'_, Option<StreamItem>>;
}

/// Accepts connections forever, serving each on its own task.
pub async fn serve(listener: TcpListener, handler: Arc<dyn Handler>) {
    serve_member(listener, handler, None).await;
}

/// Accept loops sharing one listener. Under madsim every accept first waits a random delay,
/// and a madsim sleep lasts at least 1 ms of simulated time, so one loop admits at most 1,000
/// connections per simulated second. At 5,000 simulated workers the kubelets and kube-proxies
/// connecting at boot queued for 10 s, their 5 s connect timeouts fired, each retry queued one
/// more connection behind the stale ones, and half the kubelets never got in (BENCHMARKS.md,
/// "5,000 workers"). Concurrent accepts on one listener are ordinary in tokio too.
pub const ACCEPT_LOOPS: usize = 16;

/// Accepts connections forever as the API server of a replicated member (`member`): its id
/// is named in each handshake (so clients with several endpoints learn where the leader is),
/// `endpoint status` carries its Raft state and it answers etcdctl's `member` requests.
/// [`ACCEPT_LOOPS`] tasks accept at once; they stop when this future is dropped.
pub async fn serve_member(
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    member: Option<Arc<dyn Membership>>,
) {
    let listener = Arc::new(listener);
    let mut loops = AbortOnDrop(
        (0..ACCEPT_LOOPS)
            .map(|_| {
                tokio::spawn(accept_loop(
                    listener.clone(),
                    handler.clone(),
                    member.clone(),
                ))
            })
            .collect(),
    );
    // The loops never end; a panic in one ends this future, and dropping it aborts the rest.
    std::future::poll_fn(|cx| {
        for task in &mut loops.0 {
            if std::pin::Pin::new(task).poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await;
}

/// Aborts its tasks when dropped.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// One accept loop: each connection is served on its own task.
async fn accept_loop(
    listener: Arc<TcpListener>,
    handler: Arc<dyn Handler>,
    member: Option<Arc<dyn Membership>>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let handler = handler.clone();
                let member = member.clone();
                tokio::spawn(async move {
                    if let Err(reason) = serve_connection(stream, handler, member).await {
                        tracing::warn!(%peer, %reason, "connection closed");
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "accept failed"),
        }
    }
}

/// Queues a message for the connection's writer, waiting while the outbox is full: a peer
/// that reads slowly slows only its own connection.
async fn send(outbox: &mpsc::Sender<Vec<u8>>, message: &ServerMessage) -> Result<(), String> {
    let frame = message.to_frame().map_err(|e| e.to_string())?;
    outbox
        .send(frame)
        .await
        .map_err(|_| "connection closed".to_owned())
}

/// Serves one connection: handshake, then requests until the peer leaves or misbehaves.
async fn serve_connection(
    stream: TcpStream,
    handler: Arc<dyn Handler>,
    member: Option<Arc<dyn Membership>>,
) -> Result<(), String> {
    let (read, write) = tokio::io::split(stream);
    let mut reader = FrameReader::new(read);
    let (outbox, rx) = mpsc::channel::<Vec<u8>>(OUTBOX_FRAMES_MAX);
    let writer = tokio::spawn(writer_loop(write, rx));
    let kinds = handler.kinds();
    let user = match reader
        .next()
        .await
        .map(|p| ClientMessage::decode_in(&p, &kinds))
    {
        Ok(Ok(ClientMessage::Hello { protocol, token })) if protocol == PROTOCOL_VERSION => {
            match handler.authenticate(&token) {
                Ok(user) => user,
                Err(status) => {
                    send(&outbox, &ServerMessage::Refused(status)).await?;
                    drop(outbox);
                    let _ = writer.await;
                    return Err("authentication failed".into());
                }
            }
        }
        Ok(Ok(ClientMessage::Hello { protocol, .. })) => {
            let status = Status::bad_request(format!(
                "protocol version {protocol} is not supported; this server speaks {PROTOCOL_VERSION}"
            ));
            send(&outbox, &ServerMessage::Refused(status)).await?;
            drop(outbox);
            let _ = writer.await;
            return Err(format!("client protocol {protocol}"));
        }
        Ok(Ok(_)) => return Err("first message was not Hello".into()),
        Ok(Err(e)) => return Err(e.to_string()),
        Err(e) => return Err(format!("{e:?}")),
    };
    send(
        &outbox,
        &ServerMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            user: user.name.clone(),
            member: member.as_ref().map(|m| m.id()),
        },
    )
    .await?;
    let watches: Arc<Mutex<BTreeMap<u64, tokio::task::JoinHandle<()>>>> = Arc::default();
    let result = loop {
        let payload = match reader.next().await {
            Ok(p) => p,
            Err(ReadEnd::Closed) => break Ok(()),
            Err(ReadEnd::Io(e)) => break Err(e.to_string()),
            Err(ReadEnd::Frame(e)) => break Err(e.to_string()),
        };
        match ClientMessage::decode_in(&payload, &kinds) {
            Err(e) => break Err(e.to_string()),
            Ok(ClientMessage::Hello { .. }) => break Err("second Hello".into()),
            Ok(ClientMessage::Cancel { id }) => {
                if let Some(task) = lock(&watches).remove(&id) {
                    task.abort();
                }
            }
            Ok(ClientMessage::Request { id, request }) => {
                let handler = handler.clone();
                let outbox = outbox.clone();
                let user = user.clone();
                if matches!(request, Request::Watch { .. }) {
                    let task = tokio::spawn(run_watch(handler, user, id, request, outbox));
                    if let Some(old) = lock(&watches).insert(id, task) {
                        old.abort();
                    }
                } else if request.is_stream() {
                    let task = tokio::spawn(run_stream(handler, user, id, request, outbox));
                    if let Some(old) = lock(&watches).insert(id, task) {
                        old.abort();
                    }
                } else {
                    let member = member.clone();
                    tokio::spawn(async move {
                        let result = answer(&*handler, member.as_deref(), &user, request).await;
                        let _ = send(&outbox, &ServerMessage::Response { id, result }).await;
                    });
                }
            }
        }
    };
    for (_, task) in std::mem::take(&mut *lock(&watches)) {
        task.abort();
    }
    drop(outbox);
    writer.abort();
    result
}

/// Serves one request: the handler's answer, with a member's Raft state added to `endpoint
/// status` and its `member` requests answered here once the handler authorized them.
async fn answer(
    handler: &dyn Handler,
    member: Option<&dyn Membership>,
    user: &UserInfo,
    request: Request,
) -> Result<Response, Status> {
    let Some(member) = member else {
        return handler.call(user, request).await;
    };
    let members = match request {
        Request::EtcdStatus => {
            return match handler.call(user, request).await? {
                Response::EtcdStatus(mut status) => {
                    status.raft = Some(member.status());
                    Ok(Response::EtcdStatus(status))
                }
                other => Ok(other),
            };
        }
        Request::EtcdMemberList => {
            handler.authorize(user, &request)?;
            member.list().await?
        }
        Request::EtcdMemberAdd { ref name, ref peer } => {
            handler.authorize(user, &request)?;
            member.add(name.clone(), peer.clone()).await?
        }
        Request::EtcdMemberRemove { id } => {
            handler.authorize(user, &request)?;
            member.remove(id).await?
        }
        Request::EtcdMemberPromote { id } => {
            handler.authorize(user, &request)?;
            member.promote(id).await?
        }
        other => return handler.call(user, other).await,
    };
    Ok(Response::EtcdMembers(members))
}

async fn run_watch(
    handler: Arc<dyn Handler>,
    user: UserInfo,
    id: u64,
    request: Request,
    outbox: mpsc::Sender<Vec<u8>>,
) {
    let mut stream = match handler.watch(&user, request).await {
        Ok(stream) => stream,
        Err(status) => {
            let _ = send(
                &outbox,
                &ServerMessage::Response {
                    id,
                    result: Err(status),
                },
            )
            .await;
            return;
        }
    };
    if send(
        &outbox,
        &ServerMessage::Response {
            id,
            result: Ok(Response::WatchStarted),
        },
    )
    .await
    .is_err()
    {
        return;
    }
    while let Some(event) = stream.next().await {
        let last = matches!(event, WatchEvent::Error(_));
        if send(&outbox, &ServerMessage::WatchEvent { id, event })
            .await
            .is_err()
            || last
        {
            return;
        }
    }
}

/// Serves one streamed request: [`Response::StreamStarted`], then the items until the stream
/// ends, fails or the client cancels (which aborts this task).
async fn run_stream(
    handler: Arc<dyn Handler>,
    user: UserInfo,
    id: u64,
    request: Request,
    outbox: mpsc::Sender<Vec<u8>>,
) {
    let mut stream = match handler.stream(&user, request).await {
        Ok(stream) => stream,
        Err(status) => {
            let _ = send(
                &outbox,
                &ServerMessage::Response {
                    id,
                    result: Err(status),
                },
            )
            .await;
            return;
        }
    };
    let started = ServerMessage::Response {
        id,
        result: Ok(Response::StreamStarted),
    };
    if send(&outbox, &started).await.is_err() {
        return;
    }
    while let Some(item) = stream.next().await {
        let last = matches!(item, StreamItem::End | StreamItem::Error(_));
        if send(&outbox, &ServerMessage::Stream { id, item })
            .await
            .is_err()
            || last
        {
            return;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where a client's answers go.
#[derive(Default)]
struct Pending {
    calls: BTreeMap<u64, oneshot::Sender<Result<Response, Status>>>,
    watches: BTreeMap<u64, mpsc::Sender<WatchEvent>>,
    streams: BTreeMap<u64, mpsc::Sender<StreamItem>>,
    closed: Option<String>,
}

/// One connection of a client to one endpoint.
struct Conn {
    outbox: mpsc::Sender<Vec<u8>>,
    pending: Arc<Mutex<Pending>>,
}

/// Where a request's later answers (watch events, stream items) go.
enum Sink {
    None,
    Watch(mpsc::Sender<WatchEvent>),
    Stream(mpsc::Sender<StreamItem>),
}

/// The receiving end of a [`Sink`].
enum Answers {
    None,
    Watch(mpsc::Receiver<WatchEvent>),
    Stream(mpsc::Receiver<StreamItem>),
}

/// What kind of answer a request expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Call,
    Watch,
    Stream,
}

impl Expect {
    fn channel(self) -> (Sink, Answers) {
        match self {
            Expect::Call => (Sink::None, Answers::None),
            Expect::Watch => {
                let (tx, rx) = mpsc::channel(WATCH_BUFFER_EVENTS_MAX);
                (Sink::Watch(tx), Answers::Watch(rx))
            }
            Expect::Stream => {
                let (tx, rx) = mpsc::channel(STREAM_BUFFER_ITEMS_MAX);
                (Sink::Stream(tx), Answers::Stream(rx))
            }
        }
    }
}

/// Why a request on one connection failed.
#[derive(Debug)]
enum Failure {
    /// No connection could be made (or the handshake was refused: a `Status`).
    Connect(ClientError),
    /// The server answered with an error.
    Status(Status),
    /// The request never left: the connection was already closed.
    NotSent(String),
    /// The request was sent and its answer lost: its outcome is unknown.
    Lost(String),
    /// The request could not be encoded.
    Local(String),
}

impl Failure {
    fn into_error(self) -> ClientError {
        match self {
            Failure::Connect(e) => e,
            Failure::Status(s) => ClientError::Status(s),
            Failure::NotSent(why) | Failure::Lost(why) | Failure::Local(why) => {
                ClientError::Transport(why)
            }
        }
    }
}

impl Conn {
    /// Sends one request and waits for its (first) answer; watch events and stream items go
    /// to `sink`.
    async fn request(&self, id: u64, request: Request, sink: Sink) -> Result<Response, Failure> {
        let (reply, answer) = oneshot::channel();
        {
            let mut pending = lock(&self.pending);
            if let Some(reason) = &pending.closed {
                return Err(Failure::NotSent(reason.clone()));
            }
            pending.calls.insert(id, reply);
            match sink {
                Sink::None => {}
                Sink::Watch(tx) => {
                    pending.watches.insert(id, tx);
                }
                Sink::Stream(tx) => {
                    pending.streams.insert(id, tx);
                }
            }
        }
        let frame = match (ClientMessage::Request { id, request }).to_frame() {
            Ok(frame) => frame,
            Err(e) => {
                self.forget(id);
                return Err(Failure::Local(e.to_string()));
            }
        };
        if self.outbox.send(frame).await.is_err() {
            self.forget(id);
            return Err(Failure::NotSent("connection closed".into()));
        }
        match answer.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(status)) => {
                self.forget(id);
                Err(Failure::Status(status))
            }
            Err(_) => Err(Failure::Lost(
                lock(&self.pending)
                    .closed
                    .clone()
                    .unwrap_or_else(|| "connection closed".into()),
            )),
        }
    }

    /// Drops whatever waits for request `id`'s answers.
    fn forget(&self, id: u64) {
        let mut pending = lock(&self.pending);
        pending.calls.remove(&id);
        pending.watches.remove(&id);
        pending.streams.remove(&id);
    }

    fn is_closed(&self) -> bool {
        lock(&self.pending).closed.is_some()
    }
}

/// Whether a request may be sent again after its answer was lost: reads only (a write's
/// outcome is then unknown and the caller decides).
fn retry_safe(request: &Request) -> bool {
    matches!(
        request,
        Request::Get { .. }
            | Request::List { .. }
            | Request::History { .. }
            | Request::Watch { .. }
            | Request::GetScale { .. }
            | Request::AccessReview { .. }
            | Request::EtcdRange { .. }
            | Request::EtcdStatus
            | Request::EtcdMemberList
            | Request::EtcdWatch { .. }
            | Request::CustomKinds
            | Request::PodLogs { .. }
    )
}

/// What a client shares with its watches: the endpoints, the credential and the connection
/// in use.
struct Inner {
    endpoints: Mutex<Endpoints>,
    token: String,
    kinds: KindRegistry,
    conn: Mutex<Option<Arc<Conn>>>,
    next_id: Mutex<u64>,
}

/// A request that was answered, with the connection it went over.
struct Sent {
    conn: Arc<Conn>,
    id: u64,
    response: Response,
    answers: Answers,
}

impl Inner {
    fn id(&self) -> u64 {
        let mut next = lock(&self.next_id);
        let id = *next;
        *next += 1;
        id
    }

    fn fails_over(&self) -> bool {
        lock(&self.endpoints).fails_over()
    }

    /// Connects to the current endpoint: the handshake, then the connection's reader and
    /// writer tasks. Returns the connection and the user the server authenticated.
    async fn dial(&self) -> Result<(Arc<Conn>, String), ClientError> {
        let addr = lock(&self.endpoints).current().to_owned();
        let transport = |e: &dyn std::fmt::Display| ClientError::Transport(format!("{addr}: {e}"));
        let stream = TcpStream::connect(&addr).await.map_err(|e| transport(&e))?;
        let (read, mut write) = tokio::io::split(stream);
        let hello = ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            token: self.token.clone(),
        };
        let frame = hello.to_frame().map_err(|e| transport(&e))?;
        write_frame(&mut write, &frame)
            .await
            .map_err(|e| transport(&e))?;
        let mut reader = FrameReader::new(read);
        let payload = reader
            .next()
            .await
            .map_err(|e| transport(&format!("{e:?}")))?;
        let (user, member) =
            match ServerMessage::decode_in(&payload, &self.kinds).map_err(|e| transport(&e))? {
                ServerMessage::Welcome { user, member, .. } => (user, member),
                ServerMessage::Refused(status) => return Err(ClientError::Status(status)),
                other => return Err(transport(&format!("unexpected handshake answer {other:?}"))),
            };
        lock(&self.endpoints).connected(member);
        let (outbox, rx) = mpsc::channel(OUTBOX_FRAMES_MAX);
        tokio::spawn(writer_loop(write, rx));
        let pending: Arc<Mutex<Pending>> = Arc::default();
        tokio::spawn(client_reader(reader, pending.clone(), self.kinds.clone()));
        let conn = Arc::new(Conn { outbox, pending });
        *lock(&self.conn) = Some(conn.clone());
        Ok((conn, user))
    }

    /// The connection in use; with several endpoints, a closed one is replaced by a new one
    /// to the current endpoint. A client of one endpoint keeps its one connection.
    async fn connection(&self) -> Result<Arc<Conn>, ClientError> {
        let current = lock(&self.conn).clone();
        if let Some(conn) = current
            && (!conn.is_closed() || !self.fails_over())
        {
            return Ok(conn);
        }
        self.dial().await.map(|(conn, _)| conn)
    }

    /// Forgets `conn` if it is still the one in use (the next request dials again).
    fn drop_conn(&self, conn: &Arc<Conn>) {
        let mut current = lock(&self.conn);
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            *current = None;
        }
    }

    /// Sends `request` and waits for its answer. With several endpoints, fails over
    /// ([`super::endpoints`]): a connection that cannot be made or a refusal as not the leader
    /// moves to another member and sends again; a lost answer too, for reads only. At most
    /// [`ATTEMPTS_MAX`] attempts.
    async fn send(&self, request: &Request, expect: Expect) -> Result<Sent, ClientError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.connection().await {
                Err(e) => Failure::Connect(e),
                Ok(conn) => {
                    let id = self.id();
                    let (sink, answers) = expect.channel();
                    match conn.request(id, request.clone(), sink).await {
                        Ok(response) => {
                            return Ok(Sent {
                                conn,
                                id,
                                response,
                                answers,
                            });
                        }
                        Err(failure) => {
                            if matches!(failure, Failure::NotSent(_) | Failure::Lost(_)) {
                                self.drop_conn(&conn);
                            }
                            if let Failure::Status(status) = &failure
                                && not_leader(status).is_some()
                            {
                                self.drop_conn(&conn);
                            }
                            failure
                        }
                    }
                }
            };
            if !self.fails_over() || attempt >= ATTEMPTS_MAX {
                return Err(failure.into_error());
            }
            let moved = {
                let mut endpoints = lock(&self.endpoints);
                match &failure {
                    Failure::Connect(ClientError::Transport(_)) | Failure::NotSent(_) => {
                        endpoints.failed()
                    }
                    Failure::Lost(_) if retry_safe(request) => endpoints.failed(),
                    Failure::Status(status) => match not_leader(status) {
                        Some(leader) => endpoints.not_leader(leader),
                        None => return Err(failure.into_error()),
                    },
                    _ => return Err(failure.into_error()),
                }
            };
            tracing::debug!(?failure, attempt, "failing over");
            if moved == Move::Next {
                tokio::time::sleep(std::time::Duration::from_millis(RETRY_PAUSE_MS)).await;
            }
        }
    }
}

/// A client of the wire protocol: implements [`Client`] over TCP, to one API server or to
/// several (the members of a replicated control plane).
///
/// # Guarantees
///
/// With one endpoint, the client is one connection: a request whose answer is lost
/// (connection reset, server gone) fails with [`ClientError::Transport`] (its outcome is
/// unknown), later requests fail the same way, and watches end with `None` when the
/// connection closes.
///
/// With several endpoints (`a,b,c`), the client fails over as [`super::endpoints`] describes:
/// a request that could not be sent, or that a member refused because it does not lead, is
/// sent again to another member (the leader when known); a read whose answer was lost is sent
/// again; a write whose answer was lost fails with [`ClientError::Transport`] (its outcome is
/// unknown). A watch whose connection is lost resumes on another member from the last
/// revision it delivered, so no event is lost or repeated.
pub struct WireClient {
    inner: Arc<Inner>,
    user: String,
}

/// A resource as a wire request names it: the plural for a built-in kind,
/// `<plural>.<group>` for a custom one (unambiguous whatever else is registered).
fn wire_resource(resource: &KindInfo) -> String {
    if skiff_core::object::KINDS.contains(resource) {
        resource.plural.to_owned()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    }
}

impl WireClient {
    /// Connects to `addr` and authenticates with `token`. `addr` may list several endpoints,
    /// comma-separated (`127.0.0.1:7443,127.0.0.1:7453`): the client then fails over between
    /// them.
    pub async fn connect(addr: &str, token: &str) -> Result<WireClient, ClientError> {
        Self::connect_with_kinds(addr, token, KindRegistry::builtin()).await
    }

    /// Connects to `addr` (one endpoint or several, comma-separated) and authenticates with
    /// `token`, decoding objects of the custom kinds of `kinds` too (the server must serve
    /// them). With several endpoints, each is tried in turn until one answers.
    pub async fn connect_with_kinds(
        addr: &str,
        token: &str,
        kinds: KindRegistry,
    ) -> Result<WireClient, ClientError> {
        let endpoints = Endpoints::parse(addr).map_err(ClientError::Transport)?;
        let tries = endpoints.all().len();
        let inner = Arc::new(Inner {
            endpoints: Mutex::new(endpoints),
            token: token.to_owned(),
            kinds,
            conn: Mutex::new(None),
            next_id: Mutex::new(1),
        });
        let mut last = None;
        for _ in 0..tries {
            match inner.dial().await {
                Ok((_, user)) => return Ok(WireClient { inner, user }),
                Err(e @ ClientError::Status(_)) => return Err(e),
                Err(e) => {
                    lock(&inner.endpoints).failed();
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Transport("no endpoint".into())))
    }

    /// The user the server authenticated this client as (at its first connection).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The endpoint in use now.
    pub fn endpoint(&self) -> String {
        lock(&self.inner.endpoints).current().to_owned()
    }

    /// etcdctl's range read on the store behind the server (admins only): `key`, or every
    /// key with that prefix, at `revision` (0: the head), at most `limit` keys (0: all),
    /// without values when `keys_only`.
    pub async fn etcd_range(
        &self,
        key: &str,
        prefix: bool,
        limit: u64,
        revision: u64,
        keys_only: bool,
    ) -> Result<EtcdRange, ClientError> {
        let request = Request::EtcdRange {
            key: key.to_owned(),
            prefix,
            limit,
            revision,
            keys_only,
        };
        match self.call(request).await? {
            Response::EtcdRange(range) => Ok(range),
            other => Err(unexpected(&other)),
        }
    }

    /// The custom kinds the server serves (discovery; any authenticated user). Connect again
    /// with [`WireClient::connect_with_kinds`] and the kinds they define to read their objects.
    pub async fn custom_kinds(
        &self,
    ) -> Result<Vec<skiff_core::object::KindDescription>, ClientError> {
        match self.call(Request::CustomKinds).await? {
            Response::CustomKinds(kinds) => Ok(kinds),
            other => Err(unexpected(&other)),
        }
    }

    /// The kinds this client decodes objects of.
    pub fn kinds(&self) -> &KindRegistry {
        &self.inner.kinds
    }

    /// The status of the store behind the server (admins only).
    pub async fn etcd_status(&self) -> Result<EtcdStatus, ClientError> {
        match self.call(Request::EtcdStatus).await? {
            Response::EtcdStatus(status) => Ok(status),
            other => Err(unexpected(&other)),
        }
    }

    /// etcdctl's `member list` (a replicated member; admins only).
    pub async fn etcd_member_list(&self) -> Result<Vec<MemberInfo>, ClientError> {
        self.members(Request::EtcdMemberList).await
    }

    /// etcdctl's `member add NAME --peer-urls PEER` (as a learner); the members afterwards.
    pub async fn etcd_member_add(
        &self,
        name: &str,
        peer: &str,
    ) -> Result<Vec<MemberInfo>, ClientError> {
        self.members(Request::EtcdMemberAdd {
            name: name.to_owned(),
            peer: peer.to_owned(),
        })
        .await
    }

    /// etcdctl's `member remove ID`; the members afterwards.
    pub async fn etcd_member_remove(&self, id: u64) -> Result<Vec<MemberInfo>, ClientError> {
        self.members(Request::EtcdMemberRemove { id }).await
    }

    /// etcdctl's `member promote ID`; the members afterwards.
    pub async fn etcd_member_promote(&self, id: u64) -> Result<Vec<MemberInfo>, ClientError> {
        self.members(Request::EtcdMemberPromote { id }).await
    }

    async fn members(&self, request: Request) -> Result<Vec<MemberInfo>, ClientError> {
        match self.call(request).await? {
            Response::EtcdMembers(members) => Ok(members),
            other => Err(unexpected(&other)),
        }
    }

    /// etcdctl's `put` through the server (admins only); the revision of the write.
    pub async fn etcd_put(&self, key: &str, value: Vec<u8>) -> Result<u64, ClientError> {
        let request = Request::EtcdPut {
            key: key.to_owned(),
            value,
        };
        match self.call(request).await? {
            Response::EtcdRevision(revision) => Ok(revision),
            other => Err(unexpected(&other)),
        }
    }

    /// etcdctl's `del [--prefix]` through the server (admins only): the head revision
    /// afterwards and how many keys were deleted.
    pub async fn etcd_delete(&self, key: &str, prefix: bool) -> Result<(u64, u64), ClientError> {
        let request = Request::EtcdDelete {
            key: key.to_owned(),
            prefix,
        };
        match self.call(request).await? {
            Response::EtcdDeleted { revision, deleted } => Ok((revision, deleted)),
            other => Err(unexpected(&other)),
        }
    }

    /// etcdctl's `compaction REV` through the server (admins only); the head revision.
    pub async fn etcd_compact(&self, revision: u64) -> Result<u64, ClientError> {
        match self.call(Request::EtcdCompact { revision }).await? {
            Response::EtcdRevision(head) => Ok(head),
            other => Err(unexpected(&other)),
        }
    }

    /// etcdctl's `watch` through the server (admins only): a stream of
    /// [`StreamItem::Event`]s, ended by an [`StreamItem::Error`] or by dropping it.
    pub async fn etcd_watch(
        &self,
        key: &str,
        prefix: bool,
        revision: u64,
    ) -> Result<RemoteStream, ClientError> {
        let request = Request::EtcdWatch {
            key: key.to_owned(),
            prefix,
            revision,
        };
        self.open_stream(request).await
    }

    /// etcdctl's `snapshot save` through the server (admins only): the snapshot file as
    /// [`StreamItem::Chunk`]s, then [`StreamItem::End`].
    pub async fn etcd_snapshot(&self) -> Result<RemoteStream, ClientError> {
        self.open_stream(Request::EtcdSnapshot).await
    }

    /// Sends a streamed request and waits for the server to start the stream.
    async fn open_stream(&self, request: Request) -> Result<RemoteStream, ClientError> {
        let sent = self.inner.send(&request, Expect::Stream).await?;
        match (sent.response, sent.answers) {
            (Response::StreamStarted, Answers::Stream(items)) => Ok(RemoteStream {
                items,
                id: sent.id,
                outbox: sent.conn.outbox.clone(),
            }),
            (other, _) => {
                sent.conn.forget(sent.id);
                Err(unexpected(&other))
            }
        }
    }

    async fn call(&self, request: Request) -> Result<Response, ClientError> {
        self.inner
            .send(&request, Expect::Call)
            .await
            .map(|sent| sent.response)
    }
}

/// Starts a watch over `inner`'s connection (failing over as any request).
async fn start_watch(inner: &Inner, request: &Request) -> Result<RemoteWatch, ClientError> {
    let sent = inner.send(request, Expect::Watch).await?;
    match (sent.response, sent.answers) {
        (Response::WatchStarted, Answers::Watch(events)) => Ok(RemoteWatch {
            events,
            id: sent.id,
            outbox: sent.conn.outbox.clone(),
        }),
        (other, _) => {
            sent.conn.forget(sent.id);
            Err(unexpected(&other))
        }
    }
}

async fn client_reader<R: AsyncRead + Unpin>(
    mut reader: FrameReader<R>,
    pending: Arc<Mutex<Pending>>,
    kinds: KindRegistry,
) {
    let reason = loop {
        let payload = match reader.next().await {
            Ok(p) => p,
            Err(e) => break format!("{e:?}"),
        };
        match ServerMessage::decode_in(&payload, &kinds) {
            Ok(ServerMessage::Response { id, result }) => {
                let waiter = lock(&pending).calls.remove(&id);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(result);
                }
            }
            Ok(ServerMessage::WatchEvent { id, event }) => {
                let sink = lock(&pending).watches.get(&id).cloned();
                if let Some(sink) = sink
                    && sink.send(event).await.is_err()
                {
                    lock(&pending).watches.remove(&id);
                }
            }
            Ok(ServerMessage::Stream { id, item }) => {
                let sink = lock(&pending).streams.get(&id).cloned();
                if let Some(sink) = sink
                    && sink.send(item).await.is_err()
                {
                    lock(&pending).streams.remove(&id);
                }
            }
            Ok(other) => break format!("unexpected message {other:?}"),
            Err(e) => break e.to_string(),
        }
    };
    let mut pending = lock(&pending);
    pending.closed = Some(reason);
    pending.calls.clear();
    pending.watches.clear();
    pending.streams.clear();
}

/// A watch over the wire: events arrive through the connection's reader.
struct RemoteWatch {
    events: mpsc::Receiver<WatchEvent>,
    id: u64,
    outbox: mpsc::Sender<Vec<u8>>,
}

impl WatchStream for RemoteWatch {
    fn next(&mut self) -> BoxFuture<'_, Option<WatchEvent>> {
        Box::pin(self.events.recv())
    }
}

impl Drop for RemoteWatch {
    fn drop(&mut self) {
        if let Ok(frame) = (ClientMessage::Cancel { id: self.id }).to_frame() {
            let _ = self.outbox.try_send(frame);
        }
    }
}

/// A streamed answer over the wire; dropping it cancels the stream on the server.
pub struct RemoteStream {
    items: mpsc::Receiver<StreamItem>,
    id: u64,
    outbox: mpsc::Sender<Vec<u8>>,
}

impl RemoteStream {
    /// The next item; `None` when the connection closed before the stream ended.
    pub async fn next(&mut self) -> Option<StreamItem> {
        self.items.recv().await
    }
}

impl Drop for RemoteStream {
    fn drop(&mut self) {
        if let Ok(frame) = (ClientMessage::Cancel { id: self.id }).to_frame() {
            let _ = self.outbox.try_send(frame);
        }
    }
}

fn unexpected(response: &Response) -> ClientError {
    ClientError::Transport(format!("unexpected response {response:?}"))
}

impl Client for WireClient {
    fn create(
        &self,
        namespace: Option<&str>,
        object: Object,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let request = Request::Create {
            namespace: namespace.map(str::to_owned),
            object,
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::Object(o) => Ok(o),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn get(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let request = Request::Get {
            resource: wire_resource(resource),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::Object(o) => Ok(o),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn list(
        &self,
        resource: &'static KindInfo,
        namespace: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<ObjectList, ClientError>> {
        let request = Request::List {
            resource: wire_resource(resource),
            namespace: namespace.map(str::to_owned),
            params,
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::List(list) => Ok(list),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn update(&self, object: Object) -> BoxFuture<'_, Result<Object, ClientError>> {
        Box::pin(async move {
            match self.call(Request::Update { object }).await? {
                Response::Object(o) => Ok(o),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn update_status(&self, object: Object) -> BoxFuture<'_, Result<Object, ClientError>> {
        Box::pin(async move {
            match self.call(Request::UpdateStatus { object }).await? {
                Response::Object(o) => Ok(o),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn delete(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
        options: DeleteOptions,
    ) -> BoxFuture<'_, Result<Deleted, ClientError>> {
        let request = Request::Delete {
            resource: wire_resource(resource),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            options,
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::Deleted(d) => Ok(d),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn bind(
        &self,
        namespace: &str,
        name: &str,
        binding: Binding,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let request = Request::Bind {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            binding,
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::Object(o) => Ok(o),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn history(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Vec<Event>, ClientError>> {
        let request = Request::History {
            resource: wire_resource(resource),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::History(events) => Ok(events),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn patch(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        patch: Vec<u8>,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let request = Request::Patch {
            resource: wire_resource(resource),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            patch_type,
            patch,
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::Object(o) => Ok(o),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn get_scale(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Scale, ClientError>> {
        let request = Request::GetScale {
            resource: wire_resource(resource),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::Scale(s) => Ok(s),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn update_scale(
        &self,
        resource: &'static KindInfo,
        scale: Scale,
    ) -> BoxFuture<'_, Result<Scale, ClientError>> {
        let request = Request::UpdateScale {
            resource: wire_resource(resource),
            scale,
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::Scale(s) => Ok(s),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn access_review(
        &self,
        review: AccessReview,
    ) -> BoxFuture<'_, Result<AccessDecision, ClientError>> {
        Box::pin(async move {
            match self.call(Request::AccessReview { review }).await? {
                Response::Access(a) => Ok(a),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn pod_logs(
        &self,
        namespace: &str,
        name: &str,
        params: LogParams,
    ) -> BoxFuture<'_, Result<String, ClientError>> {
        let request = Request::PodLogs {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            params,
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::Logs(text) => Ok(text),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn pod_exec(
        &self,
        namespace: &str,
        name: &str,
        params: ExecParams,
    ) -> BoxFuture<'_, Result<ExecOutput, ClientError>> {
        let request = Request::PodExec {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            params,
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::Exec(out) => Ok(out),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn node_crictl(
        &self,
        node: &str,
        args: Vec<String>,
    ) -> BoxFuture<'_, Result<ExecOutput, ClientError>> {
        let request = Request::NodeCrictl {
            node: node.to_owned(),
            args,
        };
        Box::pin(async move {
            match self.call(request).await? {
                Response::Exec(out) => Ok(out),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn watch(
        &self,
        resource: &'static KindInfo,
        namespace: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<Box<dyn WatchStream>, ClientError>> {
        let resource = wire_resource(resource);
        let namespace = namespace.map(str::to_owned);
        Box::pin(async move {
            let request = Request::Watch {
                resource: resource.clone(),
                namespace: namespace.clone(),
                params: params.clone(),
            };
            let current = start_watch(&self.inner, &request).await?;
            if !self.inner.fails_over() {
                return Ok(Box::new(current) as Box<dyn WatchStream>);
            }
            Ok(Box::new(ResumingWatch {
                inner: self.inner.clone(),
                current: Some(current),
                resource,
                namespace,
                params,
                last: None,
            }) as Box<dyn WatchStream>)
        })
    }
}

/// A watch of a client with several endpoints: when its connection is lost it starts again on
/// another member from the last resourceVersion it delivered (every member serves the same
/// revisions from its applied log), so no event is lost or repeated. It ends when no member
/// takes it within the client's bound, or after a [`WatchEvent::Error`].
struct ResumingWatch {
    inner: Arc<Inner>,
    current: Option<RemoteWatch>,
    resource: String,
    namespace: Option<String>,
    params: ListParams,
    /// The resourceVersion of the last event delivered.
    last: Option<u64>,
}

impl ResumingWatch {
    async fn next_event(&mut self) -> Option<WatchEvent> {
        loop {
            if let Some(current) = &mut self.current {
                if let Some(event) = current.events.recv().await {
                    match &event {
                        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                            if let Some(rv) = o
                                .metadata()
                                .resource_version
                                .as_deref()
                                .and_then(|rv| rv.parse().ok())
                            {
                                self.last = Some(rv);
                            }
                        }
                        WatchEvent::Bookmark(rv) => self.last = Some(*rv),
                        WatchEvent::Error(_) => self.current = None,
                    }
                    return Some(event);
                }
            } else {
                return None;
            }
            // The connection was lost: resume elsewhere from the last revision delivered.
            let mut params = self.params.clone();
            if let Some(last) = self.last {
                params.resource_version = Some(last.to_string());
            }
            let request = Request::Watch {
                resource: self.resource.clone(),
                namespace: self.namespace.clone(),
                params,
            };
            match start_watch(&self.inner, &request).await {
                Ok(watch) => self.current = Some(watch),
                Err(e) => {
                    tracing::debug!(error = %e, "watch not resumed");
                    self.current = None;
                    return None;
                }
            }
        }
    }
}

impl WatchStream for ResumingWatch {
    fn next(&mut self) -> BoxFuture<'_, Option<WatchEvent>> {
        Box::pin(self.next_event())
    }
}
