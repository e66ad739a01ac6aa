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
    ListParams, ObjectList, PatchType, Scale, WatchEvent, WatchStream,
};
use skiff_core::event::Event;
use skiff_core::object::{KindInfo, Object};
use skiff_core::status::Status;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::frame::{FrameError, Split, split_frame};
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
}

/// The items of a streamed answer, as a server produces them.
pub trait ItemStream: Send {
    /// The next item; `None` when the stream is over. A stream that ends by itself sends
    /// [`StreamItem::End`] or [`StreamItem::Error`] last.
    fn next(&mut self) -> BoxFuture<'_, Option<StreamItem>>;
}

/// Accepts connections forever, serving each on its own task.
pub async fn serve(listener: TcpListener, handler: Arc<dyn Handler>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let handler = handler.clone();
                tokio::spawn(async move {
                    if let Err(reason) = serve_connection(stream, handler).await {
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
async fn serve_connection(stream: TcpStream, handler: Arc<dyn Handler>) -> Result<(), String> {
    let (read, write) = tokio::io::split(stream);
    let mut reader = FrameReader::new(read);
    let (outbox, rx) = mpsc::channel::<Vec<u8>>(OUTBOX_FRAMES_MAX);
    let writer = tokio::spawn(writer_loop(write, rx));
    let user = match reader.next().await.map(|p| ClientMessage::decode(&p)) {
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
        match ClientMessage::decode(&payload) {
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
                    tokio::spawn(async move {
                        let result = handler.call(&user, request).await;
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

/// A client of the wire protocol: implements [`Client`] over one TCP connection.
///
/// # Guarantees
///
/// A request whose answer is lost (connection reset, server gone) fails with
/// [`ClientError::Transport`]; its outcome is unknown. Watches end with `None` when the
/// connection closes.
pub struct WireClient {
    outbox: mpsc::Sender<Vec<u8>>,
    pending: Arc<Mutex<Pending>>,
    next_id: Arc<Mutex<u64>>,
    user: String,
}

impl WireClient {
    /// Connects to `addr` and authenticates with `token`.
    pub async fn connect(addr: &str, token: &str) -> Result<WireClient, ClientError> {
        let transport = |e: &dyn std::fmt::Display| ClientError::Transport(format!("{addr}: {e}"));
        let stream = TcpStream::connect(addr).await.map_err(|e| transport(&e))?;
        let (read, mut write) = tokio::io::split(stream);
        let hello = ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            token: token.to_owned(),
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
        let user = match ServerMessage::decode(&payload).map_err(|e| transport(&e))? {
            ServerMessage::Welcome { user, .. } => user,
            ServerMessage::Refused(status) => return Err(ClientError::Status(status)),
            other => return Err(transport(&format!("unexpected handshake answer {other:?}"))),
        };
        let (outbox, rx) = mpsc::channel(OUTBOX_FRAMES_MAX);
        tokio::spawn(writer_loop(write, rx));
        let pending: Arc<Mutex<Pending>> = Arc::default();
        tokio::spawn(client_reader(reader, pending.clone()));
        Ok(WireClient {
            outbox,
            pending,
            next_id: Arc::new(Mutex::new(1)),
            user,
        })
    }

    /// The user the server authenticated this connection as.
    pub fn user(&self) -> &str {
        &self.user
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

    /// The status of the store behind the server (admins only).
    pub async fn etcd_status(&self) -> Result<EtcdStatus, ClientError> {
        match self.call(Request::EtcdStatus).await? {
            Response::EtcdStatus(status) => Ok(status),
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
        let id = self.id();
        let (sink, items) = mpsc::channel(STREAM_BUFFER_ITEMS_MAX);
        let (reply, answer) = oneshot::channel();
        {
            let mut pending = lock(&self.pending);
            if let Some(reason) = &pending.closed {
                return Err(ClientError::Transport(reason.clone()));
            }
            pending.calls.insert(id, reply);
            pending.streams.insert(id, sink);
        }
        let fail = |pending: &Mutex<Pending>| {
            let mut pending = lock(pending);
            pending.streams.remove(&id);
            pending.calls.remove(&id);
        };
        let frame = match (ClientMessage::Request { id, request }).to_frame() {
            Ok(frame) => frame,
            Err(e) => {
                fail(&self.pending);
                return Err(ClientError::Transport(e.to_string()));
            }
        };
        if self.outbox.send(frame).await.is_err() {
            fail(&self.pending);
            return Err(ClientError::Transport("connection closed".into()));
        }
        match answer.await {
            Ok(Ok(Response::StreamStarted)) => Ok(RemoteStream {
                items,
                id,
                outbox: self.outbox.clone(),
            }),
            Ok(Ok(other)) => {
                fail(&self.pending);
                Err(unexpected(&other))
            }
            Ok(Err(status)) => {
                fail(&self.pending);
                Err(ClientError::Status(status))
            }
            Err(_) => Err(ClientError::Transport("connection closed".into())),
        }
    }

    fn id(&self) -> u64 {
        let mut next = lock(&self.next_id);
        let id = *next;
        *next += 1;
        id
    }

    async fn call(&self, request: Request) -> Result<Response, ClientError> {
        let id = self.id();
        let (reply, answer) = oneshot::channel();
        {
            let mut pending = lock(&self.pending);
            if let Some(reason) = &pending.closed {
                return Err(ClientError::Transport(reason.clone()));
            }
            pending.calls.insert(id, reply);
        }
        let frame = ClientMessage::Request { id, request }
            .to_frame()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        if self.outbox.send(frame).await.is_err() {
            lock(&self.pending).calls.remove(&id);
            return Err(ClientError::Transport("connection closed".into()));
        }
        match answer.await {
            Ok(result) => result.map_err(ClientError::Status),
            Err(_) => Err(ClientError::Transport(
                lock(&self.pending)
                    .closed
                    .clone()
                    .unwrap_or_else(|| "connection closed".into()),
            )),
        }
    }
}

async fn client_reader<R: AsyncRead + Unpin>(
    mut reader: FrameReader<R>,
    pending: Arc<Mutex<Pending>>,
) {
    let reason = loop {
        let payload = match reader.next().await {
            Ok(p) => p,
            Err(e) => break format!("{e:?}"),
        };
        match ServerMessage::decode(&payload) {
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
            resource: resource.plural.to_owned(),
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
            resource: resource.plural.to_owned(),
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
            resource: resource.plural.to_owned(),
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
            resource: resource.plural.to_owned(),
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
            resource: resource.plural.to_owned(),
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
            resource: resource.plural.to_owned(),
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
            resource: resource.plural.to_owned(),
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

    fn watch(
        &self,
        resource: &'static KindInfo,
        namespace: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<Box<dyn WatchStream>, ClientError>> {
        let request = Request::Watch {
            resource: resource.plural.to_owned(),
            namespace: namespace.map(str::to_owned),
            params,
        };
        Box::pin(async move {
            let id = self.id();
            let (sink, events) = mpsc::channel(WATCH_BUFFER_EVENTS_MAX);
            let (reply, answer) = oneshot::channel();
            {
                let mut pending = lock(&self.pending);
                if let Some(reason) = &pending.closed {
                    return Err(ClientError::Transport(reason.clone()));
                }
                pending.calls.insert(id, reply);
                pending.watches.insert(id, sink);
            }
            let frame = ClientMessage::Request { id, request }
                .to_frame()
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            let fail = |pending: &Mutex<Pending>| {
                let mut pending = lock(pending);
                pending.watches.remove(&id);
                pending.calls.remove(&id);
            };
            if self.outbox.send(frame).await.is_err() {
                fail(&self.pending);
                return Err(ClientError::Transport("connection closed".into()));
            }
            match answer.await {
                Ok(Ok(Response::WatchStarted)) => Ok(Box::new(RemoteWatch {
                    events,
                    id,
                    outbox: self.outbox.clone(),
                }) as Box<dyn WatchStream>),
                Ok(Ok(other)) => {
                    fail(&self.pending);
                    Err(unexpected(&other))
                }
                Ok(Err(status)) => {
                    fail(&self.pending);
                    Err(ClientError::Status(status))
                }
                Err(_) => Err(ClientError::Transport("connection closed".into())),
            }
        })
    }
}
