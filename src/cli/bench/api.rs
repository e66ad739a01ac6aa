//! `skiff bench api`: the API server through the wire protocol, as many remote clients use
//! it. An in-process server (durable store in a scratch directory, authentication, RBAC,
//! admission, validation: the whole request path) listens on loopback; `--clients`
//! connections (64 by default), one TCP connection each, then:
//!
//! 1. **create**: every client creates its share of the pods, one request at a time;
//! 2. **get**: every client reads random pods (seeded, so runs read the same ones);
//! 3. **list**: every client lists the namespace in pages of 500 (kubectl's chunk size);
//! 4. **watch**: every client watches the namespace while one more client updates pods; each
//!    update carries its send time, so a watcher knows how late each event arrived.
//!
//! Each phase reports throughput (requests or delivered events per second over the phase's
//! wall time) and per-request latency percentiles.
//!
//! With `--http` the same phases go through the Kubernetes HTTP/JSON API in front of the same
//! server ([`skiff::http`], plain HTTP on loopback, bearer token on every request): each client
//! is one HTTP/1.1 keep-alive connection (hyper), bodies are JSON, a list's `items` are parsed
//! as JSON values, and every watch is its own streaming request on its own connection (as
//! client-go and kube-rs open them). Every figure carries `protocol=wire` or `protocol=http`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use skiff_core::client::{Client, ListParams, WatchEvent, WatchStream};
use skiff_core::clock::{Clock, SystemClock};
use skiff_core::object::{Container, Namespace, Object, ObjectMeta, Pod, info};
use skiff_core::rng::SplitMix64;
use skiff_store::apiserver::authn::Authenticator;
use skiff_store::apiserver::{ApiHandler, ApiServer};
use skiff_store::wire::{WireClient, serve};
use skiff_store::{Backing, Store};
use tokio::net::{TcpListener, TcpStream};

use super::measure::{self, Samples};
use super::{Param, Report};

/// Options of `skiff bench api`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// Concurrent clients, one connection each.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Pods created (and then read, listed, watched) [default: 10000; 640 with --quick].
    #[arg(long, value_name = "N")]
    pub objects: Option<usize>,
    /// Put the scratch store in a temporary directory under DIR; default: the system
    /// temporary directory. Removed when the benchmark ends.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// A tiny configuration that finishes in seconds (smoke test, not a measurement).
    #[arg(long)]
    pub quick: bool,
    /// Go through the Kubernetes HTTP/JSON API (HTTP/1.1 keep-alive, JSON) instead of the
    /// wire protocol.
    #[arg(long)]
    pub http: bool,
}

const NAMESPACE: &str = "bench-api";
const TOKEN: &str = "bench-admin-token";
/// Page size of the list phase (kubectl's `--chunk-size` default).
const LIST_PAGE: u64 = 500;
/// Annotation carrying an update's send time (nanoseconds since the benchmark's origin).
const SENT_ANNOTATION: &str = "bench.skiff.dev/sent-ns";

/// How much each phase does.
struct Plan {
    clients: usize,
    objects: usize,
    gets_per_client: usize,
    lists_per_client: usize,
    watch_updates: usize,
}

impl Plan {
    fn new(args: &ApiArgs) -> Result<Self, String> {
        let clients = args.clients.max(1);
        let objects = args
            .objects
            .unwrap_or(if args.quick { 640 } else { 10_000 })
            .max(clients);
        if clients > 1024 {
            return Err("--clients is at most 1024".into());
        }
        Ok(Self {
            clients,
            objects,
            gets_per_client: if args.quick { 50 } else { 500 },
            lists_per_client: if args.quick { 2 } else { 5 },
            watch_updates: if args.quick { 200 } else { 2_000 },
        })
    }
}

fn progress(msg: &str) {
    eprintln!("bench api: {msg}");
}

fn pod_name(i: usize) -> String {
    format!("pod-{i:06}")
}

fn pod(i: usize) -> Object {
    let mut pod = Pod::new(pod_name(i), vec![Container::new("web", "nginx:1.27")]);
    pod.metadata.namespace = Some(NAMESPACE.to_owned());
    pod.metadata.labels.insert("app".into(), "bench".into());
    pod.metadata
        .labels
        .insert("shard".into(), (i % 16).to_string());
    pod.into()
}

#[allow(clippy::cast_precision_loss, reason = "counts and durations as rates")]
fn rate(n: usize, wall: Duration) -> f64 {
    n as f64 / wall.as_secs_f64().max(1e-9)
}

fn nanos_since(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The path of the benchmark's pods (`/api/v1/namespaces/bench-api/pods`).
fn pods_path() -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/pods")
}

/// One HTTP/1.1 keep-alive connection to the HTTP API.
struct HttpConn {
    host: String,
    sender: tokio::sync::Mutex<SendRequest<Full<Bytes>>>,
}

async fn http_connect(addr: &str) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

fn http_request(
    host: &str,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<hyper::Request<Full<Bytes>>, String> {
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(hyper::header::ACCEPT, "application/json");
    if body.is_some() {
        request = request.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    request
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| e.to_string())
}

impl HttpConn {
    async fn connect(addr: &str) -> Result<Self, String> {
        Ok(Self {
            host: addr.to_owned(),
            sender: tokio::sync::Mutex::new(http_connect(addr).await?),
        })
    }

    /// One request and its whole response body; a non-2xx status is an error.
    async fn call(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<Bytes, String> {
        let request = http_request(&self.host, method, path, body)?;
        // The connection carries one request at a time; the lock is held until the body is read.
        let mut sender = self.sender.lock().await;
        sender.ready().await.map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?
            .to_bytes();
        if !status.is_success() {
            return Err(format!(
                "{method} {path}: {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(body)
    }
}

/// A benchmark client: a wire connection, or one HTTP/1.1 keep-alive connection.
enum Conn {
    Wire(WireClient),
    Http(HttpConn),
}

impl Conn {
    async fn connect(addrs: &Addrs, http: bool) -> Result<Self, String> {
        Ok(if http {
            Conn::Http(HttpConn::connect(&addrs.http).await?)
        } else {
            Conn::Wire(
                WireClient::connect(&addrs.wire, TOKEN)
                    .await
                    .map_err(|e| e.to_string())?,
            )
        })
    }

    async fn create_namespace(&self) -> Result<(), String> {
        let namespace: Object = Namespace {
            metadata: ObjectMeta::named(NAMESPACE),
            ..Namespace::default()
        }
        .into();
        match self {
            Conn::Wire(c) => c
                .create(None, namespace)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Conn::Http(c) => {
                let body = serde_json::to_vec(&namespace).map_err(|e| e.to_string())?;
                c.call("POST", "/api/v1/namespaces", Some(body))
                    .await
                    .map(drop)
            }
        }
    }

    async fn create(&self, i: usize) -> Result<(), String> {
        match self {
            Conn::Wire(c) => c
                .create(None, pod(i))
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Conn::Http(c) => {
                let body = serde_json::to_vec(&pod(i)).map_err(|e| e.to_string())?;
                c.call("POST", &pods_path(), Some(body)).await.map(drop)
            }
        }
    }

    async fn get(&self, i: usize) -> Result<(), String> {
        match self {
            Conn::Wire(c) => c
                .get(&info::POD, NAMESPACE, &pod_name(i))
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Conn::Http(c) => {
                let body = c
                    .call("GET", &format!("{}/{}", pods_path(), pod_name(i)), None)
                    .await?;
                serde_json::from_slice::<Value>(&body)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// One page of `LIST_PAGE` pods; returns how many it held.
    async fn list_page(&self) -> Result<usize, String> {
        match self {
            Conn::Wire(c) => c
                .list(
                    &info::POD,
                    Some(NAMESPACE),
                    ListParams {
                        limit: LIST_PAGE,
                        ..ListParams::default()
                    },
                )
                .await
                .map(|page| page.items.len())
                .map_err(|e| e.to_string()),
            Conn::Http(c) => {
                #[derive(serde::Deserialize)]
                struct Page {
                    items: Vec<Value>,
                }
                let body = c
                    .call("GET", &format!("{}?limit={LIST_PAGE}", pods_path()), None)
                    .await?;
                serde_json::from_slice::<Page>(&body)
                    .map(|page| page.items.len())
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Reads pod `i` and writes it back with `sent` in its annotation (get, then update with
    /// the read's resourceVersion as precondition).
    async fn stamp(&self, i: usize, sent: u64) -> Result<(), String> {
        match self {
            Conn::Wire(c) => {
                let mut object = c
                    .get(&info::POD, NAMESPACE, &pod_name(i))
                    .await
                    .map_err(|e| e.to_string())?;
                object
                    .metadata_mut()
                    .annotations
                    .insert(SENT_ANNOTATION.into(), sent.to_string());
                c.update(object).await.map(drop).map_err(|e| e.to_string())
            }
            Conn::Http(c) => {
                let path = format!("{}/{}", pods_path(), pod_name(i));
                let body = c.call("GET", &path, None).await?;
                let mut object: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                object["metadata"]["annotations"][SENT_ANNOTATION] = Value::from(sent.to_string());
                let body = serde_json::to_vec(&object).map_err(|e| e.to_string())?;
                c.call("PUT", &path, Some(body)).await.map(drop)
            }
        }
    }

    /// Watches the namespace's pods after revision `after` (an HTTP watch on a connection
    /// of its own).
    async fn watch(&self, addrs: &Addrs, after: u64) -> Result<Watch, String> {
        match self {
            Conn::Wire(c) => c
                .watch(
                    &info::POD,
                    Some(NAMESPACE),
                    ListParams {
                        resource_version: Some(after.to_string()),
                        ..ListParams::default()
                    },
                )
                .await
                .map(Watch::Wire)
                .map_err(|e| e.to_string()),
            Conn::Http(_) => {
                let mut sender = http_connect(&addrs.http).await?;
                let path = format!("{}?watch=true&resourceVersion={after}", pods_path());
                let response = sender
                    .send_request(http_request(&addrs.http, "GET", &path, None)?)
                    .await
                    .map_err(|e| format!("GET {path}: {e}"))?;
                if !response.status().is_success() {
                    return Err(format!("GET {path}: {}", response.status()));
                }
                Ok(Watch::Http {
                    body: response.into_body(),
                    buffer: Vec::new(),
                    _sender: sender,
                })
            }
        }
    }
}

/// A watch of the benchmark's pods.
enum Watch {
    Wire(Box<dyn WatchStream>),
    Http {
        body: Incoming,
        /// Bytes of an event line not complete yet.
        buffer: Vec<u8>,
        /// Keeps the connection open.
        _sender: SendRequest<Full<Bytes>>,
    },
}

impl Watch {
    /// The next MODIFIED event's send time (`None` for an event without one); an error when
    /// the watch fails or ends.
    async fn next_sent(&mut self) -> Result<Option<u64>, String> {
        match self {
            Watch::Wire(stream) => match stream.next().await {
                Some(WatchEvent::Modified(object)) => Ok(object
                    .metadata()
                    .annotations
                    .get(SENT_ANNOTATION)
                    .and_then(|s| s.parse::<u64>().ok())),
                Some(WatchEvent::Error(status)) => Err(status.message),
                Some(_) => Ok(None),
                None => Err("the watch ended early".to_owned()),
            },
            Watch::Http { body, buffer, .. } => loop {
                if let Some(end) = buffer.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    let event: Value =
                        serde_json::from_slice(&line).map_err(|e| format!("watch line: {e}"))?;
                    return match event["type"].as_str() {
                        Some("MODIFIED") => Ok(event["object"]["metadata"]["annotations"]
                            [SENT_ANNOTATION]
                            .as_str()
                            .and_then(|s| s.parse::<u64>().ok())),
                        Some("ERROR") => Err(event["object"]["message"].to_string()),
                        _ => Ok(None),
                    };
                }
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            buffer.extend_from_slice(&data);
                        }
                    }
                    Some(Err(e)) => return Err(format!("watch: {e}")),
                    None => return Err("the watch ended early".to_owned()),
                }
            },
        }
    }
}

/// Where the benchmark's server listens.
struct Addrs {
    wire: String,
    http: String,
}

/// Runs `skiff bench api`.
pub(crate) fn run(
    args: &ApiArgs,
    report: &mut Report<'_, impl std::io::Write>,
) -> Result<(), String> {
    let plan = Plan::new(args)?;
    let mut scratch = tempfile::Builder::new();
    scratch.prefix("skiff-bench-api-");
    let scratch = match &args.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            scratch.tempdir_in(dir)
        }
        None => scratch.tempdir(),
    }
    .map_err(|e| format!("creating the scratch directory: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    progress(&format!(
        "scratch directory {}, {} CPUs, load {:.2}",
        scratch.path().display(),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        measure::load_average().unwrap_or(f64::NAN)
    ));
    let result = runtime.block_on(phases(&plan, args.http, scratch.path(), report));
    drop(runtime);
    drop(scratch);
    result
}

async fn start(dir: &std::path::Path) -> Result<(Store, Addrs), String> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let store =
        Store::open(Backing::Dir(dir.to_path_buf()), clock.clone()).map_err(|e| e.to_string())?;
    let api = Arc::new(ApiServer::new(store.clone(), clock.clone(), 7));
    api.bootstrap().await.map_err(|e| e.to_string())?;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let handler = Arc::new(ApiHandler::new(
        api,
        Authenticator::with_key([7; 32], TOKEN),
    ));
    tokio::spawn(serve(listener, handler.clone()));
    let http_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let http = http_listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let front = skiff::http::HttpApi::new(handler, clock);
    tokio::spawn(skiff::http::serve(http_listener, Arc::new(front)));
    Ok((store, Addrs { wire: addr, http }))
}

/// Runs one task per client and gathers their latency samples; returns them with the wall
/// time from the first start to the last finish.
async fn fan_out<F, Fut>(clients: &[Arc<Conn>], f: F) -> Result<(Samples, Duration), String>
where
    F: Fn(usize, Arc<Conn>) -> Fut,
    Fut: std::future::Future<Output = Result<Samples, String>> + Send + 'static,
{
    let started = measure::now();
    let tasks: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| tokio::spawn(f(i, c.clone())))
        .collect();
    let mut all = Samples::default();
    for task in tasks {
        all.extend(task.await.map_err(|e| e.to_string())??);
    }
    Ok((all, started.elapsed()))
}

fn latency_metrics(
    report: &mut Report<'_, impl std::io::Write>,
    names: [&'static str; 3],
    params: &[(&'static str, Param)],
    samples: &mut Samples,
    wall: Duration,
    note: &str,
) {
    let n = samples.len();
    report.metric(
        names[0],
        params,
        rate(n, wall),
        "ops/s",
        format!("{n} requests in {:.2} s; {note}", wall.as_secs_f64()),
    );
    report.metric(names[1], params, measure::us(samples.p50()), "µs", "");
    report.metric(names[2], params, measure::us(samples.p99()), "µs", "");
}

#[allow(
    clippy::too_many_lines,
    reason = "the phases read best in order, in one place"
)]
async fn phases(
    plan: &Plan,
    http: bool,
    dir: &std::path::Path,
    report: &mut Report<'_, impl std::io::Write>,
) -> Result<(), String> {
    let (store, addrs) = start(dir).await?;
    report.metric(
        "machine_load",
        &[("at", "start".into())],
        measure::load_average().unwrap_or(f64::NAN),
        "load1",
        "1-minute load average (2 = both cores of a 2-core machine busy)",
    );
    let mut clients = Vec::with_capacity(plan.clients);
    for _ in 0..plan.clients {
        clients.push(Arc::new(Conn::connect(&addrs, http).await?));
    }
    clients[0].create_namespace().await?;
    let protocol =
        || -> (&'static str, Param) { ("protocol", if http { "http" } else { "wire" }.into()) };
    let params: Vec<(&'static str, Param)> = vec![("clients", plan.clients.into()), protocol()];

    // 1. create
    progress(&format!(
        "create: {} pods from {} clients",
        plan.objects, plan.clients
    ));
    let (objects, n) = (plan.objects, plan.clients);
    let (mut samples, wall) = fan_out(&clients, |c, client| async move {
        let mut samples = Samples::with_capacity(objects / n + 1);
        for i in (c..objects).step_by(n) {
            let t = measure::now();
            client.create(i).await?;
            samples.push(t.elapsed());
        }
        Ok(samples)
    })
    .await?;
    latency_metrics(
        report,
        [
            "create_throughput",
            "create_latency_p50",
            "create_latency_p99",
        ],
        &params,
        &mut samples,
        wall,
        "each acknowledged after fsync",
    );

    // 2. get
    progress("get: random reads");
    let gets = plan.gets_per_client;
    let (mut samples, wall) = fan_out(&clients, |c, client| async move {
        let mut rng = SplitMix64::new(0x5eed ^ c as u64);
        let mut samples = Samples::with_capacity(gets);
        for _ in 0..gets {
            let i = usize::try_from(rng.below(objects as u64)).unwrap_or(0);
            let t = measure::now();
            client.get(i).await?;
            samples.push(t.elapsed());
        }
        Ok(samples)
    })
    .await?;
    latency_metrics(
        report,
        ["get_throughput", "get_latency_p50", "get_latency_p99"],
        &params,
        &mut samples,
        wall,
        "",
    );

    // 3. list
    progress("list: pages of 500");
    let lists = plan.lists_per_client;
    let (mut samples, wall) = fan_out(&clients, |_, client| async move {
        let mut samples = Samples::with_capacity(lists);
        for _ in 0..lists {
            let t = measure::now();
            let held = client.list_page().await?;
            samples.push(t.elapsed());
            if held != usize::try_from(LIST_PAGE).unwrap_or(0).min(objects) {
                return Err(format!("a list page held {held} pods"));
            }
        }
        Ok(samples)
    })
    .await?;
    let mut list_params = params.clone();
    list_params.push(("limit", Param::Int(LIST_PAGE)));
    latency_metrics(
        report,
        ["list_throughput", "list_latency_p50", "list_latency_p99"],
        &list_params,
        &mut samples,
        wall,
        "one page of 500 pods per request",
    );

    // 4. watch
    progress(&format!(
        "watch: {} watchers, {} updates",
        plan.clients, plan.watch_updates
    ));
    let head = store.status().map_err(|e| e.to_string())?.revision.0;
    let origin = measure::now();
    let updates = plan.watch_updates;
    let mut watchers = Vec::new();
    for client in &clients {
        let mut watch = client.watch(&addrs, head).await?;
        watchers.push(tokio::spawn(async move {
            let mut samples = Samples::with_capacity(updates);
            while samples.len() < updates {
                if let Some(sent) = watch.next_sent().await? {
                    samples.push(Duration::from_nanos(
                        nanos_since(origin).saturating_sub(sent),
                    ));
                }
            }
            Ok::<_, String>((samples, measure::now()))
        }));
    }
    let writer = Conn::connect(&addrs, http).await?;
    let started = measure::now();
    let mut rng = SplitMix64::new(0x0bad_cafe);
    for _ in 0..updates {
        let i = usize::try_from(rng.below(objects as u64)).unwrap_or(0);
        writer.stamp(i, nanos_since(origin)).await?;
    }
    let mut all = Samples::default();
    let mut last: Option<Instant> = None;
    for watcher in watchers {
        let (samples, done) = watcher.await.map_err(|e| e.to_string())??;
        all.extend(samples);
        last = Some(last.map_or(done, |l| l.max(done)));
    }
    let wall = last.map_or(Duration::ZERO, |l| l.duration_since(started));
    let watch_params: Vec<(&'static str, Param)> =
        vec![("watchers", plan.clients.into()), protocol()];
    let delivered = all.len();
    report.metric(
        "watch_events_throughput",
        &watch_params,
        rate(delivered, wall),
        "events/s",
        format!(
            "{delivered} deliveries ({updates} updates × {} watchers) in {:.2} s; the writer is one client, one update at a time",
            plan.clients,
            wall.as_secs_f64()
        ),
    );
    report.metric(
        "watch_latency_p50",
        &watch_params,
        measure::us(all.p50()),
        "µs",
        "from the update being sent to its event arriving",
    );
    report.metric(
        "watch_latency_p99",
        &watch_params,
        measure::us(all.p99()),
        "µs",
        "",
    );
    report.metric(
        "machine_load",
        &[("at", "end".into())],
        measure::load_average().unwrap_or(f64::NAN),
        "load1",
        "",
    );
    drop(clients);
    drop(writer);
    store.shutdown().await;
    Ok(())
}
