//! The minimal worker agent: until the kubelet lands, each worker node registers its Node and
//! renews its Lease `kube-node-lease/<node>` every 10 s through a [`WireClient`], reading time
//! from its own (skewed) clock — the two duties of upstream's kubelet that the node lifecycle
//! controller watches (upstream-semantics.md §8: renew every 40 × 0.25 = 10 s, retry with
//! exponential backoff from 200 ms capped at 7 s).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_core::client::{Client, ClientError};
use skiff_core::clock::{Clock, SkewedClock};
use skiff_core::object::{
    Lease, LeaseSpec, Node, NodeCondition, Object, ObjectMeta, TypedObject, info,
};
use skiff_core::quantity::Quantity;
use skiff_core::status::Reason;
use skiff_store::wire::WireClient;

use crate::oracle::{AckOp, Oracle};

/// Upstream kubelet `NodeLeaseDurationSeconds`.
pub const NODE_LEASE_DURATION_SECONDS: i32 = 40;
/// Upstream kubelet lease renew interval: a quarter of the lease duration.
pub const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// First retry delay after a failed renewal (upstream kubelet).
pub const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Largest retry delay (upstream kubelet: 7 s).
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(7);
/// How long any one API call may take before the agent treats the connection as dead: a
/// partitioned simulated TCP connection stalls rather than fails (madsim.md §4).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `call` with [`CALL_TIMEOUT`]; a timeout is a transport error (outcome unknown).
pub async fn timed<T>(
    call: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(ClientError::Transport(format!(
            "no answer within {} s",
            CALL_TIMEOUT.as_secs()
        ))),
    }
}

/// Connects with a timeout.
pub async fn connect(server: &str, token: &str) -> Result<WireClient, ClientError> {
    timed(WireClient::connect(server, token)).await
}

/// Sleeps `local` of `clock`'s time (a drifting clock sleeps longer or shorter in true time).
pub async fn sleep_local(clock: &SkewedClock, local: Duration) {
    tokio::time::sleep(clock.base_duration(local)).await;
}

/// What one worker agent needs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The node's name.
    pub name: String,
    /// The API server's wire address.
    pub server: String,
    /// Its node token (`system:node:<name>`).
    pub token: String,
    /// Its clock.
    pub clock: SkewedClock,
    /// CPU it offers, in millicores.
    pub cpu_milli: i64,
    /// Memory it offers, in bytes.
    pub memory_bytes: u64,
}

/// Counters a worker keeps for the report.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    /// Lease renewals acknowledged.
    pub renewals: u64,
    /// Connections made.
    pub connects: u64,
}

fn node_object(config: &WorkerConfig) -> Node {
    let mut node = Node {
        metadata: ObjectMeta {
            labels: BTreeMap::from([("kubernetes.io/hostname".to_owned(), config.name.clone())]),
            ..ObjectMeta::named(&config.name)
        },
        ..Node::default()
    };
    let resources = BTreeMap::from([
        ("cpu".to_owned(), Quantity::from_milli(config.cpu_milli)),
        (
            "memory".to_owned(),
            Quantity::from_bytes(config.memory_bytes),
        ),
        (
            "pods".to_owned(),
            Quantity::parse("110").expect("a valid quantity"),
        ),
    ]);
    node.status.capacity = resources.clone();
    node.status.allocatable = resources;
    node
}

fn ready_condition(clock: &SkewedClock) -> NodeCondition {
    NodeCondition {
        type_: "Ready".to_owned(),
        status: "True".to_owned(),
        last_heartbeat_time: Some(clock.now_time()),
        last_transition_time: Some(clock.now_time()),
        reason: Some("KubeletReady".to_owned()),
        message: Some("kubelet is posting ready status".to_owned()),
    }
}

/// Registers the Node (idempotently) and reports it Ready.
async fn register(
    client: &WireClient,
    config: &WorkerConfig,
    oracle: &Mutex<Oracle>,
) -> Result<(), ClientError> {
    let created = timed(client.create(None, node_object(config).into())).await;
    match &created {
        Err(ClientError::Status(s)) if s.reason == Reason::AlreadyExists => {}
        other => lock(oracle).record(AckOp::Create, other),
    }
    if let Err(ClientError::Transport(e)) = created {
        return Err(ClientError::Transport(e));
    }
    ensure_ready(client, config, oracle).await
}

/// Reads the Node and posts Ready (with capacity) if the stored status says otherwise.
async fn ensure_ready(
    client: &WireClient,
    config: &WorkerConfig,
    oracle: &Mutex<Oracle>,
) -> Result<(), ClientError> {
    let current = timed(client.get(&info::NODE, "", &config.name)).await?;
    let Object::Node(mut node) = current else {
        return Err(ClientError::Transport(
            "get node returned another kind".into(),
        ));
    };
    let ready = node.condition("Ready").is_some_and(|c| c.status == "True");
    if ready && !node.status.allocatable.is_empty() {
        return Ok(());
    }
    let fresh = node_object(config);
    node.status.capacity = fresh.status.capacity;
    node.status.allocatable = fresh.status.allocatable;
    node.status.conditions.retain(|c| c.type_ != "Ready");
    node.status.conditions.push(ready_condition(&config.clock));
    let result = timed(client.update_status(node.into())).await;
    lock(oracle).record(AckOp::Update, &result);
    result.map(|_| ())
}

/// Renews (or creates) the node's Lease with the node's own clock.
async fn renew(
    client: &WireClient,
    config: &WorkerConfig,
    oracle: &Mutex<Oracle>,
) -> Result<(), ClientError> {
    let now = config.clock.now_micro_time();
    let current = timed(client.get(
        &info::LEASE,
        crate::check::node_lease::NODE_LEASE_NAMESPACE,
        &config.name,
    ))
    .await;
    let result = match current {
        Err(ClientError::Status(s)) if s.reason == Reason::NotFound => {
            let lease = Lease {
                metadata: ObjectMeta {
                    namespace: Some(crate::check::node_lease::NODE_LEASE_NAMESPACE.to_owned()),
                    ..ObjectMeta::named(&config.name)
                },
                spec: LeaseSpec {
                    holder_identity: Some(config.name.clone()),
                    lease_duration_seconds: Some(NODE_LEASE_DURATION_SECONDS),
                    renew_time: Some(now),
                    ..LeaseSpec::default()
                },
                ..Lease::default()
            };
            let r = timed(client.create(None, lease.into())).await;
            lock(oracle).record(AckOp::Create, &r);
            r
        }
        Err(e) => return Err(e),
        Ok(object) => {
            let Some(mut lease) = Lease::from_ref(&object).cloned() else {
                return Err(ClientError::Transport(
                    "get lease returned another kind".into(),
                ));
            };
            lease.spec.renew_time = Some(now);
            lease.spec.holder_identity = Some(config.name.clone());
            let r = timed(client.update(lease.into())).await;
            lock(oracle).record(AckOp::Update, &r);
            r
        }
    };
    result.map(|_| ())
}

/// The agent: connect, register, renew every 10 s of local time; on any failure reconnect
/// with backoff. Never returns (the node's death ends it).
pub async fn run(config: WorkerConfig, oracle: Arc<Mutex<Oracle>>, stats: Arc<Mutex<WorkerStats>>) {
    let mut backoff = RETRY_BACKOFF_MIN;
    loop {
        let Ok(client) = connect(&config.server, &config.token).await else {
            sleep_local(&config.clock, backoff).await;
            backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
            continue;
        };
        lock(&stats).connects += 1;
        if register(&client, &config, &oracle).await.is_err() {
            sleep_local(&config.clock, backoff).await;
            backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
            continue;
        }
        loop {
            // Like upstream's kubelet, which fetches its Node every status period and posts
            // its own status when the stored one differs (the node lifecycle controller may
            // have marked it Unknown during a partition).
            let posted = ensure_ready(&client, &config, &oracle).await;
            match posted.and(renew(&client, &config, &oracle).await) {
                Ok(()) => {
                    backoff = RETRY_BACKOFF_MIN;
                    lock(&stats).renewals += 1;
                    sleep_local(&config.clock, LEASE_RENEW_INTERVAL).await;
                }
                Err(ClientError::Status(_)) => {
                    // A Conflict or a refusal: the connection is fine, retry soon.
                    sleep_local(&config.clock, backoff).await;
                    backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
                }
                Err(ClientError::Transport(_)) => break,
            }
        }
        sleep_local(&config.clock, backoff).await;
        backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
    }
}

/// Locks a mutex, ignoring poisoning (every update under it is a plain assignment or push).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
