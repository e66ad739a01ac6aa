//! The controller runtime loop against a real API server and store, in tokio's paused time:
//! convergence, retry with backoff, relist after compaction, and leader election between two
//! controller managers (one acts; a stopped, killed or cut-off leader hands over; never two
//! at once).

#![allow(
    clippy::unchecked_time_subtraction,
    reason = "times compared here are ordered; an underflow would panic the test, as it should"
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use skiff_controllers::reconcile::{Action, Controller, Output, Watched};
use skiff_controllers::replicaset::ReplicaSetController;
use skiff_controllers::runtime::election::LeaderElectionConfig;
use skiff_controllers::runtime::{
    Manager, RunError, RunOptions, Shutdown, ShutdownTrigger, TokioClock, run,
};
use skiff_controllers::view::{ObjectKey, View};
use skiff_core::client::{
    Binding, BoxFuture, Client, ClientError, DeleteOptions, Deleted, ListParams, ObjectList,
    WatchEvent, WatchStream,
};
use skiff_core::clock::{Clock, Skew, SkewedClock};
use skiff_core::event::{Actor, Change, Event};
use skiff_core::object::{
    ConfigMap, KindInfo, Lease, Namespace, Object, ReplicaSet, TypedObject, info,
};
use skiff_core::status::Reason;
use skiff_store::apiserver::{ApiServer, LocalClient};
use skiff_store::{Backing, ListOptions, Store};
use tokio::sync::watch;

const START: u64 = 1_700_000_000;
const LABEL: &str = "runtime.skiff.test/labeled-by";
const LEASE: &str = "kube-controller-manager";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A store and API server on tokio's (paused) time, bootstrapped like a new cluster.
async fn cluster() -> (Arc<ApiServer>, Arc<dyn Clock>) {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new(UNIX_EPOCH + secs(START)));
    let store = Store::open(Backing::Memory, clock.clone()).unwrap();
    let api = Arc::new(ApiServer::new(store, clock.clone(), 42));
    api.bootstrap().await.unwrap();
    (api, clock)
}

fn admin() -> Actor {
    Actor::new("admin")
}

fn config_map(namespace: &str, name: &str) -> Object {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm.metadata.namespace = Some(namespace.into());
    cm.data.insert("k".into(), format!("v-{name}"));
    cm.into()
}

async fn create_namespace(api: &ApiServer, name: &str) {
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.into());
    api.create(&admin(), None, ns.into()).await.unwrap();
}

async fn create_config_map(api: &ApiServer, namespace: &str, name: &str) {
    api.create(&admin(), Some(namespace), config_map(namespace, name))
        .await
        .unwrap();
}

/// Who changed the object, oldest first: `create by admin`, `update by labeler`, ….
fn history(api: &ApiServer, namespace: &str, name: &str) -> Vec<String> {
    api.history(&info::CONFIG_MAP, namespace, name)
        .unwrap()
        .iter()
        .map(|e: &Event| {
            let verb = match e.change {
                Change::Create(_) => "create",
                Change::Update { .. } => "update",
                Change::Delete(_) => "delete",
                _ => "other",
            };
            format!("{verb} by {}", e.actor.user)
        })
        .collect()
}

fn labels_in(api: &ApiServer, namespace: &str) -> BTreeMap<String, String> {
    api.list(&info::CONFIG_MAP, Some(namespace), &ListOptions::default())
        .unwrap()
        .items
        .iter()
        .map(|o| {
            let m = o.metadata();
            (
                m.name_or_empty().to_owned(),
                m.labels.get(LABEL).cloned().unwrap_or_default(),
            )
        })
        .collect()
}

fn lease(api: &ApiServer) -> Lease {
    Lease::from_object(api.get(&info::LEASE, "kube-system", LEASE).unwrap()).unwrap()
}

/// Monotonic time of a wall timestamp of the test clock.
fn elapsed_at(unix_micros: i64) -> Duration {
    Duration::from_micros(u64::try_from(unix_micros).unwrap()) - secs(START)
}

/// (identity, monotonic time) of every reconcile, in the order they ran.
type ActingLog = Arc<Mutex<Vec<(&'static str, Duration)>>>;

/// Labels every ConfigMap in `default` with the identity of the instance that labels it.
struct Labeler {
    identity: &'static str,
    clock: Arc<dyn Clock>,
    log: ActingLog,
}

impl Controller for Labeler {
    fn name(&self) -> &'static str {
        "labeler"
    }

    fn watches(&self) -> Vec<Watched> {
        vec![Watched::all(&info::CONFIG_MAP)]
    }

    fn keys_for(&self, _view: &View, object: &Object) -> Vec<ObjectKey> {
        if object.metadata().namespace_or_empty() == "default" {
            vec![ObjectKey::of(object)]
        } else {
            Vec::new()
        }
    }

    fn resync_keys(&self, view: &View) -> Vec<ObjectKey> {
        view.list_in::<ConfigMap>("default")
            .map(|cm| ObjectKey::new("default", cm.metadata.name_or_empty()))
            .collect()
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, _now: SystemTime) -> Output {
        self.log
            .lock()
            .unwrap()
            .push((self.identity, self.clock.elapsed()));
        let Some(cm) = view.get::<ConfigMap>(&key.namespace, &key.name) else {
            return Output::none();
        };
        if cm.metadata.labels.contains_key(LABEL) {
            return Output::none();
        }
        let mut labeled = cm.clone();
        labeled
            .metadata
            .labels
            .insert(LABEL.into(), self.identity.into());
        Output {
            actions: vec![Action::Update(labeled.into())],
            requeue_after: None,
        }
    }
}

/// Keeps namespace `dst` a copy of the ConfigMaps of namespace `src`: creates missing copies,
/// deletes copies whose source is gone.
struct Mirror;

impl Controller for Mirror {
    fn name(&self) -> &'static str {
        "mirror"
    }

    fn watches(&self) -> Vec<Watched> {
        vec![Watched::all(&info::CONFIG_MAP)]
    }

    fn keys_for(&self, _view: &View, object: &Object) -> Vec<ObjectKey> {
        let meta = object.metadata();
        match meta.namespace_or_empty() {
            "src" | "dst" => vec![ObjectKey::new("src", meta.name_or_empty())],
            _ => Vec::new(),
        }
    }

    fn resync_keys(&self, view: &View) -> Vec<ObjectKey> {
        let mut keys: Vec<ObjectKey> = view
            .list_in::<ConfigMap>("src")
            .chain(view.list_in::<ConfigMap>("dst"))
            .map(|cm| ObjectKey::new("src", cm.metadata.name_or_empty()))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, _now: SystemTime) -> Output {
        let source = view.get::<ConfigMap>("src", &key.name);
        let copy = view.get::<ConfigMap>("dst", &key.name);
        let actions = match (source, copy) {
            (Some(source), None) => {
                let mut copy = ConfigMap::default();
                copy.metadata.name = Some(key.name.clone());
                copy.metadata.namespace = Some("dst".into());
                copy.data = source.data.clone();
                vec![Action::Create(copy.into())]
            }
            (None, Some(copy)) => vec![Action::Delete {
                resource: &info::CONFIG_MAP,
                namespace: "dst".into(),
                name: key.name.clone(),
                options: DeleteOptions {
                    uid: copy.metadata.uid.clone(),
                    ..DeleteOptions::default()
                },
            }],
            _ => Vec::new(),
        };
        Output {
            actions,
            requeue_after: None,
        }
    }
}

/// A client whose connection the test controls: it can refuse everything (and cut the
/// watches it serves), or refuse only Lease calls (a leader cut off from its lock while its
/// other writes still land — the case where acting past the renew deadline would do harm).
struct Flaky {
    inner: LocalClient,
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<FlakyState>>,
    cut: watch::Sender<u64>,
}

#[derive(Default)]
struct FlakyState {
    down: bool,
    leases_down: bool,
    /// Lease calls never answer (a connection that went silent).
    leases_hang: bool,
    /// List calls per kind.
    lists: BTreeMap<&'static str, u32>,
    /// Watch starts refused with 410 Expired.
    expired: u32,
    /// Start time of every successful lease write.
    lease_writes: Vec<Duration>,
    /// Every watch event reaches the caller this much later (a slow network).
    watch_delay: Duration,
    /// Every list answers this much later (a large list over a slow network).
    list_delay: Duration,
}

impl Flaky {
    fn new(api: Arc<ApiServer>, user: &str, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            inner: LocalClient::new(api, user),
            clock,
            state: Arc::default(),
            cut: watch::channel(0).0,
        })
    }

    /// Refuses every call and ends every watch.
    fn go_down(&self) {
        self.state.lock().unwrap().down = true;
        self.cut.send_modify(|n| *n += 1);
    }

    fn come_back(&self) {
        self.state.lock().unwrap().down = false;
    }

    fn cut_leases(&self) {
        self.state.lock().unwrap().leases_down = true;
    }

    fn hang_leases(&self) {
        self.state.lock().unwrap().leases_hang = true;
    }

    /// Lets a call through, refuses it, or (for a silent connection) never answers.
    async fn pass(&self, kind: &str) -> Result<(), ClientError> {
        let hang = {
            let state = self.state.lock().unwrap();
            if state.down || (state.leases_down && kind == "Lease") {
                return Err(ClientError::Transport("connection refused".into()));
            }
            state.leases_hang && kind == "Lease"
        };
        if hang {
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    fn lease_written(&self, result: &Result<Object, ClientError>, started: Duration) {
        if let Ok(Object::Lease(_)) = result {
            self.state.lock().unwrap().lease_writes.push(started);
        }
    }
}

struct CutStream {
    inner: Box<dyn WatchStream>,
    cut: watch::Receiver<u64>,
    delay: Duration,
}

impl WatchStream for CutStream {
    fn next(&mut self) -> BoxFuture<'_, Option<WatchEvent>> {
        Box::pin(async move {
            let event = tokio::select! {
                biased;
                _ = self.cut.changed() => None,
                event = self.inner.next() => event,
            };
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            event
        })
    }
}

impl Client for Flaky {
    fn create(
        &self,
        namespace: Option<&str>,
        object: Object,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let namespace = namespace.map(str::to_owned);
        Box::pin(async move {
            self.pass(object.info().kind).await?;
            let started = self.clock.elapsed();
            let result = self.inner.create(namespace.as_deref(), object).await;
            self.lease_written(&result, started);
            result
        })
    }

    fn get(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        Box::pin(async move {
            self.pass(resource.kind).await?;
            self.inner.get(resource, &namespace, &name).await
        })
    }

    fn list(
        &self,
        resource: &'static KindInfo,
        namespace: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<ObjectList, ClientError>> {
        if self.state.lock().unwrap().down {
            return Box::pin(
                async move { Err(ClientError::Transport("connection refused".into())) },
            );
        }
        let delay = {
            let mut state = self.state.lock().unwrap();
            *state.lists.entry(resource.kind).or_default() += 1;
            state.list_delay
        };
        let namespace = namespace.map(str::to_owned);
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            self.inner
                .list(resource, namespace.as_deref(), params)
                .await
        })
    }

    fn update(&self, object: Object) -> BoxFuture<'_, Result<Object, ClientError>> {
        Box::pin(async move {
            self.pass(object.info().kind).await?;
            let started = self.clock.elapsed();
            let result = self.inner.update(object).await;
            self.lease_written(&result, started);
            result
        })
    }

    fn update_status(&self, object: Object) -> BoxFuture<'_, Result<Object, ClientError>> {
        Box::pin(async move {
            self.pass(object.info().kind).await?;
            self.inner.update_status(object).await
        })
    }

    fn delete(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
        options: DeleteOptions,
    ) -> BoxFuture<'_, Result<Deleted, ClientError>> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        Box::pin(async move {
            self.pass(resource.kind).await?;
            self.inner
                .delete(resource, &namespace, &name, options)
                .await
        })
    }

    fn bind(
        &self,
        namespace: &str,
        name: &str,
        binding: Binding,
    ) -> BoxFuture<'_, Result<Object, ClientError>> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        Box::pin(async move {
            self.pass("Pod").await?;
            self.inner.bind(&namespace, &name, binding).await
        })
    }

    fn history(
        &self,
        resource: &'static KindInfo,
        namespace: &str,
        name: &str,
    ) -> BoxFuture<'_, Result<Vec<Event>, ClientError>> {
        self.inner.history(resource, namespace, name)
    }

    fn watch(
        &self,
        resource: &'static KindInfo,
        namespace: Option<&str>,
        params: ListParams,
    ) -> BoxFuture<'_, Result<Box<dyn WatchStream>, ClientError>> {
        let namespace = namespace.map(str::to_owned);
        Box::pin(async move {
            self.pass(resource.kind).await?;
            let mut cut = self.cut.subscribe();
            cut.borrow_and_update();
            let delay = self.state.lock().unwrap().watch_delay;
            match self
                .inner
                .watch(resource, namespace.as_deref(), params)
                .await
            {
                Ok(inner) => Ok(Box::new(CutStream { inner, cut, delay }) as Box<dyn WatchStream>),
                Err(ClientError::Status(s)) if s.reason == Reason::Expired => {
                    self.state.lock().unwrap().expired += 1;
                    Err(ClientError::Status(s))
                }
                Err(e) => Err(e),
            }
        })
    }
}

fn labeler(identity: &'static str, clock: &Arc<dyn Clock>, log: &ActingLog) -> Labeler {
    Labeler {
        identity,
        clock: clock.clone(),
        log: log.clone(),
    }
}

#[tokio::test(start_paused = true)]
async fn labeler_converges_and_writes_each_config_map_once() {
    let (api, clock) = cluster().await;
    for name in ["a", "b", "c"] {
        create_config_map(&api, "default", name).await;
    }
    let log = ActingLog::default();
    let client: Arc<dyn Client> = Arc::new(LocalClient::new(api.clone(), "labeler"));
    let (stop, task) = spawn_run(
        labeler("labeler", &clock, &log),
        client.clone(),
        &clock,
        RunOptions::default(),
    );
    tokio::time::sleep(secs(1)).await;
    create_config_map(&api, "default", "d").await;
    // Past one resync (30 s): the level-triggered pass finds nothing left to do.
    tokio::time::sleep(secs(40)).await;
    stop.trigger();
    assert_eq!(task.await.unwrap(), Ok(()));
    assert_eq!(
        labels_in(&api, "default"),
        [
            ("a", "labeler"),
            ("b", "labeler"),
            ("c", "labeler"),
            ("d", "labeler")
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into()
    );
    for name in ["a", "b", "c", "d"] {
        assert_eq!(
            history(&api, "default", name),
            ["create by admin", "update by labeler"],
            "{name}"
        );
    }
    // Each key: the initial reconcile (writes), the one its own update's event triggers
    // (nothing to do), and one resync.
    assert_eq!(log.lock().unwrap().len(), 4 * 3);
}

/// Runs `controller` on its own task with `options` and a fresh shutdown signal; trigger it,
/// then await the task, to stop.
fn spawn_run(
    mut controller: impl Controller + 'static,
    client: Arc<dyn Client>,
    clock: &Arc<dyn Clock>,
    options: RunOptions,
) -> (
    ShutdownTrigger,
    tokio::task::JoinHandle<Result<(), RunError>>,
) {
    let (stop, shutdown) = Shutdown::channel();
    let clock = clock.clone();
    let task = tokio::spawn(async move {
        run(
            &mut controller,
            client,
            clock,
            RunOptions {
                shutdown,
                ..options
            },
        )
        .await
    });
    (stop, task)
}

/// Runs `controller` as `user` for 800 ms of paused time, the Namespace `work` created at
/// 100 ms, then stops it cleanly.
async fn run_while_work_appears(
    api: &Arc<ApiServer>,
    clock: &Arc<dyn Clock>,
    user: &str,
    controller: impl Controller + 'static,
) {
    let client: Arc<dyn Client> = Arc::new(LocalClient::new(api.clone(), user));
    let (stop, task) = spawn_run(controller, client, clock, RunOptions::default());
    tokio::time::sleep(ms(100)).await;
    let mut ns = Namespace::default();
    ns.metadata.name = Some("work".into());
    api.create(&admin(), None, ns.into()).await.unwrap();
    tokio::time::sleep(ms(700)).await;
    stop.trigger();
    assert_eq!(task.await.unwrap(), Ok(()));
}

/// Creates `<key>-first` (which exists already) and then `<key>-second`.
struct CreatesTwo {
    clock: Arc<dyn Clock>,
    attempts: Arc<Mutex<Vec<Duration>>>,
    failures: Arc<Mutex<Vec<(String, String, Reason)>>>,
}

impl Controller for CreatesTwo {
    fn name(&self) -> &'static str {
        "creates-two"
    }

    fn watches(&self) -> Vec<Watched> {
        vec![Watched::all(&info::NAMESPACE)]
    }

    fn keys_for(&self, _view: &View, object: &Object) -> Vec<ObjectKey> {
        (object.metadata().name_or_empty() == "work")
            .then(|| ObjectKey::new("", "work"))
            .into_iter()
            .collect()
    }

    fn resync_keys(&self, _view: &View) -> Vec<ObjectKey> {
        Vec::new()
    }

    fn reconcile(&mut self, _view: &View, _key: &ObjectKey, _now: SystemTime) -> Output {
        self.attempts.lock().unwrap().push(self.clock.elapsed());
        Output {
            actions: vec![
                Action::Create(config_map("default", "work-first")),
                Action::Create(config_map("default", "work-second")),
            ],
            requeue_after: None,
        }
    }

    fn action_failed(&mut self, key: &ObjectKey, action: &Action, error: &ClientError) {
        let ClientError::Status(status) = error else {
            panic!("unexpected {error}");
        };
        self.failures
            .lock()
            .unwrap()
            .push((key.to_string(), action.describe(), status.reason));
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_action_stops_the_rest_and_retries_with_doubling_backoff() {
    let (api, clock) = cluster().await;
    create_config_map(&api, "default", "work-first").await;
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let controller = CreatesTwo {
        clock: clock.clone(),
        attempts: attempts.clone(),
        failures: failures.clone(),
    };
    let started = clock.elapsed();
    run_while_work_appears(&api, &clock, "creator", controller).await;
    let attempts = attempts.lock().unwrap().clone();
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    // upstream's per-item backoff: 5 ms doubling.
    assert_eq!(
        gaps,
        [5, 10, 20, 40, 80, 160, 320].map(ms),
        "first attempt at {:?}",
        attempts[0] - started
    );
    let failures = failures.lock().unwrap().clone();
    assert_eq!(failures.len(), 8);
    assert_eq!(
        failures[0],
        (
            "work".to_owned(),
            "create configmap/default/work-first".to_owned(),
            Reason::AlreadyExists
        )
    );
    assert!(failures.iter().all(|f| f == &failures[0]));
    // The action after the failed one was never sent.
    assert_eq!(labels_in(&api, "default").len(), 1);
}

/// Asks to be reconciled again at once, every time, and writes nothing (as the deployment
/// controller does in the last second before a progress deadline).
struct AsksAgainNow {
    clock: Arc<dyn Clock>,
    attempts: Arc<Mutex<Vec<Duration>>>,
}

impl Controller for AsksAgainNow {
    fn name(&self) -> &'static str {
        "asks-again-now"
    }

    fn watches(&self) -> Vec<Watched> {
        vec![Watched::all(&info::NAMESPACE)]
    }

    fn keys_for(&self, _view: &View, object: &Object) -> Vec<ObjectKey> {
        (object.metadata().name_or_empty() == "work")
            .then(|| ObjectKey::new("", "work"))
            .into_iter()
            .collect()
    }

    fn resync_keys(&self, _view: &View) -> Vec<ObjectKey> {
        Vec::new()
    }

    fn reconcile(&mut self, _view: &View, _key: &ObjectKey, _now: SystemTime) -> Output {
        self.attempts.lock().unwrap().push(self.clock.elapsed());
        Output {
            actions: Vec::new(),
            requeue_after: Some(Duration::ZERO),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_zero_requeue_backs_off_instead_of_spinning_at_one_instant() {
    let (api, clock) = cluster().await;
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let controller = AsksAgainNow {
        clock: clock.clone(),
        attempts: attempts.clone(),
    };
    run_while_work_appears(&api, &clock, "asker", controller).await;
    let attempts = attempts.lock().unwrap().clone();
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    // Rate-limited, as upstream's AddRateLimited: 5 ms doubling, never the same instant.
    assert_eq!(gaps, [5, 10, 20, 40, 80, 160, 320].map(ms));
}

#[tokio::test(start_paused = true)]
async fn a_relist_after_compaction_sees_the_deletes_the_watch_missed() {
    let (api, clock) = cluster().await;
    create_namespace(&api, "src").await;
    create_namespace(&api, "dst").await;
    create_config_map(&api, "src", "a").await;
    create_config_map(&api, "src", "b").await;
    let flaky = Flaky::new(api.clone(), "mirror", clock.clone());
    let (stop, task) = spawn_run(Mirror, flaky.clone(), &clock, RunOptions::default());
    tokio::time::sleep(secs(1)).await;
    assert_eq!(
        labels_in(&api, "dst").into_keys().collect::<Vec<_>>(),
        ["a", "b"]
    );
    flaky.go_down();
    tokio::time::sleep(secs(1)).await;
    api.delete(
        &admin(),
        &info::CONFIG_MAP,
        "src",
        "a",
        &DeleteOptions::default(),
    )
    .await
    .unwrap();
    create_config_map(&api, "src", "c").await;
    let head = api.store().status().unwrap().revision;
    api.store().compact(&admin(), head).await.unwrap();
    flaky.come_back();
    // The reflector's backoff is at most 30 s (plus jitter).
    tokio::time::sleep(secs(70)).await;
    stop.trigger();
    assert_eq!(task.await.unwrap(), Ok(()));
    assert_eq!(
        labels_in(&api, "dst").into_keys().collect::<Vec<_>>(),
        ["b", "c"]
    );
    let state = flaky.state.lock().unwrap();
    assert_eq!(state.expired, 1, "the resumed watch hit the compaction");
    assert_eq!(
        state.lists.get("ConfigMap"),
        Some(&2),
        "one list, one relist"
    );
    assert_eq!(
        history(&api, "dst", "a"),
        ["create by mirror", "delete by mirror"]
    );
}

/// One controller-manager candidate: a labeler and a mirror under one lease.
fn manager(identity: &'static str, clock: &Arc<dyn Clock>, log: &ActingLog) -> Manager {
    Manager::new(LEASE)
        .with(labeler(identity, clock, log))
        .with(Mirror)
}

struct Candidate {
    stop: ShutdownTrigger,
    task: tokio::task::JoinHandle<Result<(), RunError>>,
}

fn start(
    identity: &'static str,
    seed: u64,
    client: Arc<dyn Client>,
    clock: &Arc<dyn Clock>,
    log: &ActingLog,
) -> Candidate {
    let (stop, shutdown) = Shutdown::channel();
    let mut manager = manager(identity, clock, log);
    let clock = clock.clone();
    let task = tokio::spawn(async move {
        manager
            .run(
                client,
                clock,
                RunOptions {
                    // A short resync keeps the leader reconciling every second, so the acting
                    // log shows exactly when each instance acted.
                    resync_period: secs(1),
                    leader_election: Some(LeaderElectionConfig::new(identity)),
                    seed,
                    shutdown,
                    ..RunOptions::default()
                },
            )
            .await
    });
    Candidate { stop, task }
}

/// Asserts the acting log is one run of `first` then one run of `second` (never
/// interleaved); returns (last time `first` acted, first time `second` acted).
fn handover(log: &ActingLog, first: &str, second: &str) -> (Duration, Duration) {
    let log = log.lock().unwrap().clone();
    let split = log.iter().position(|(who, _)| *who != first).unwrap();
    assert!(split > 0, "{first} acted first");
    assert!(
        log[split..].iter().all(|(who, _)| *who == second),
        "acting interleaved: {log:?}"
    );
    let last_first = log[split - 1].1;
    let first_second = log[split].1;
    assert!(last_first < first_second);
    (last_first, first_second)
}

#[tokio::test(start_paused = true)]
async fn a_stopped_leader_releases_and_the_other_manager_takes_over_within_a_retry_period() {
    let (api, clock) = cluster().await;
    create_namespace(&api, "src").await;
    create_namespace(&api, "dst").await;
    create_config_map(&api, "default", "x").await;
    let log = ActingLog::default();
    let a = start(
        "a",
        1,
        Arc::new(LocalClient::new(api.clone(), "manager-a")),
        &clock,
        &log,
    );
    tokio::time::sleep(ms(10)).await;
    let b = start(
        "b",
        2,
        Arc::new(LocalClient::new(api.clone(), "manager-b")),
        &clock,
        &log,
    );
    tokio::time::sleep(secs(20)).await;
    assert_eq!(lease(&api).holder_identity(), Some("a"));
    assert!(log.lock().unwrap().iter().all(|(who, _)| *who == "a"));
    assert_eq!(labels_in(&api, "default")["x"], "a");

    let stopped_at = clock.elapsed();
    a.stop.trigger();
    assert_eq!(a.task.await.unwrap(), Ok(()));
    tokio::time::sleep(secs(10)).await;
    let (last_a, first_b) = handover(&log, "a", "b");
    assert!(last_a <= stopped_at);
    // Released: b takes over at its next retry, 2 s × [1, 2.2) after its previous one.
    assert!(
        first_b - stopped_at < ms(4400),
        "{:?}",
        first_b - stopped_at
    );
    let held = lease(&api);
    assert_eq!(held.holder_identity(), Some("b"));
    assert_eq!(held.spec.lease_transitions, Some(1));
    // b acts: the mirror copies a new source and the labeler labels a new map as b.
    create_config_map(&api, "src", "m").await;
    create_config_map(&api, "default", "y").await;
    tokio::time::sleep(secs(2)).await;
    assert_eq!(labels_in(&api, "default")["y"], "b");
    assert_eq!(history(&api, "dst", "m"), ["create by manager-b"]);
    b.stop.trigger();
    assert_eq!(b.task.await.unwrap(), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_killed_leader_is_replaced_a_lease_duration_after_its_last_renewal() {
    let (api, clock) = cluster().await;
    create_namespace(&api, "src").await;
    create_namespace(&api, "dst").await;
    create_config_map(&api, "default", "x").await;
    let log = ActingLog::default();
    let a = start(
        "a",
        1,
        Arc::new(LocalClient::new(api.clone(), "manager-a")),
        &clock,
        &log,
    );
    tokio::time::sleep(ms(10)).await;
    let b = start(
        "b",
        2,
        Arc::new(LocalClient::new(api.clone(), "manager-b")),
        &clock,
        &log,
    );
    tokio::time::sleep(secs(21)).await;
    assert_eq!(lease(&api).holder_identity(), Some("a"));

    // A crash: the task is dropped where it stands, nothing released.
    a.task.abort();
    let killed_at = clock.elapsed();
    let last_renewal = elapsed_at(lease(&api).spec.renew_time.unwrap().unix_micros);
    tokio::time::sleep(secs(40)).await;
    let (last_a, first_b) = handover(&log, "a", "b");
    assert!(last_a <= killed_at);
    // Never before a whole lease duration of b's own observation after the last renewal;
    // at most two jittered retries (2 s × 2.2 each) later.
    assert!(
        first_b - last_renewal >= secs(15),
        "{:?}",
        first_b - last_renewal
    );
    assert!(
        first_b - killed_at <= ms(15_000 + 2 * 4_400),
        "{:?}",
        first_b - killed_at
    );
    let held = lease(&api);
    assert_eq!(held.holder_identity(), Some("b"));
    assert_eq!(held.spec.lease_transitions, Some(1));
    b.stop.trigger();
    assert_eq!(b.task.await.unwrap(), Ok(()));
}

/// How a leader loses its lease in [`leader_cut_off`].
#[derive(Clone, Copy)]
enum CutOff {
    /// Lease calls are refused at once.
    Refused,
    /// Lease calls never answer.
    Silent,
}

/// `a` leads, then loses its lease calls while its other writes still land: it must stop
/// acting by its renew deadline, before `b` may take over.
async fn leader_cut_off(how: CutOff) {
    let (api, clock) = cluster().await;
    create_namespace(&api, "src").await;
    create_namespace(&api, "dst").await;
    create_config_map(&api, "default", "x").await;
    let log = ActingLog::default();
    let flaky_a = Flaky::new(api.clone(), "manager-a", clock.clone());
    let a = start("a", 1, flaky_a.clone(), &clock, &log);
    tokio::time::sleep(ms(10)).await;
    let b = start(
        "b",
        2,
        Arc::new(LocalClient::new(api.clone(), "manager-b")),
        &clock,
        &log,
    );
    tokio::time::sleep(secs(20)).await;
    assert_eq!(lease(&api).holder_identity(), Some("a"));

    match how {
        CutOff::Refused => flaky_a.cut_leases(),
        CutOff::Silent => flaky_a.hang_leases(),
    }
    let cut_at = clock.elapsed();
    let result = tokio::time::timeout(secs(60), a.task)
        .await
        .expect("a stops by itself")
        .unwrap();
    let lost_at = clock.elapsed();
    assert_eq!(
        result,
        Err(RunError::LeaderElectionLost {
            identity: "a".into(),
            lease: "kube-system/kube-controller-manager".into(),
        })
    );
    let last_renewal = *flaky_a.state.lock().unwrap().lease_writes.last().unwrap();
    assert!(last_renewal <= cut_at);
    // a stops at its renew deadline: 10 s after its last renewal started.
    assert_eq!(lost_at, last_renewal + secs(10));
    tokio::time::sleep(secs(30)).await;
    let (last_a, first_b) = handover(&log, "a", "b");
    assert!(last_a < last_renewal + secs(10));
    assert!(
        first_b >= last_renewal + secs(15),
        "{:?}",
        first_b - last_renewal
    );
    assert_eq!(lease(&api).holder_identity(), Some("b"));
    b.stop.trigger();
    assert_eq!(b.task.await.unwrap(), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_leader_refused_its_lease_stops_acting_before_the_other_takes_over() {
    leader_cut_off(CutOff::Refused).await;
}

#[tokio::test(start_paused = true)]
async fn a_leader_whose_lease_calls_hang_stops_acting_before_the_other_takes_over() {
    leader_cut_off(CutOff::Silent).await;
}

/// Keeps three ConfigMaps labeled `app=web` in `default`, created with generateName (so a
/// reconcile from a stale view would create extras, as a ReplicaSet would overshoot), and
/// looks again every 100 ms.
struct Scaler;

impl Controller for Scaler {
    fn name(&self) -> &'static str {
        "scaler"
    }

    fn watches(&self) -> Vec<Watched> {
        vec![Watched {
            label_selector: "app=web".into(),
            ..Watched::all(&info::CONFIG_MAP)
        }]
    }

    fn keys_for(&self, _view: &View, _object: &Object) -> Vec<ObjectKey> {
        vec![ObjectKey::new("default", "web")]
    }

    fn resync_keys(&self, _view: &View) -> Vec<ObjectKey> {
        vec![ObjectKey::new("default", "web")]
    }

    fn reconcile(&mut self, view: &View, _key: &ObjectKey, _now: SystemTime) -> Output {
        let have = view.list_in::<ConfigMap>("default").count();
        let actions = (have..3)
            .map(|_| {
                let mut cm = ConfigMap::default();
                cm.metadata.generate_name = Some("web-".into());
                cm.metadata.namespace = Some("default".into());
                cm.metadata.labels.insert("app".into(), "web".into());
                Action::Create(cm.into())
            })
            .collect();
        Output {
            actions,
            requeue_after: Some(ms(100)),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_key_is_not_reconciled_again_until_the_view_shows_its_writes() {
    let (api, clock) = cluster().await;
    let mut first = config_map("default", "web-first");
    first
        .metadata_mut()
        .labels
        .insert("app".into(), "web".into());
    api.create(&admin(), None, first).await.unwrap();
    let flaky = Flaky::new(api.clone(), "scaler", clock.clone());
    // Watch events arrive a second late: ten 100 ms requeues would each see a stale view.
    flaky.state.lock().unwrap().watch_delay = secs(1);
    let options = RunOptions {
        workers: 4,
        ..RunOptions::default()
    };
    let (stop, task) = spawn_run(Scaler, flaky.clone(), &clock, options);
    tokio::time::sleep(secs(10)).await;
    stop.trigger();
    assert_eq!(task.await.unwrap(), Ok(()));
    assert_eq!(labels_in(&api, "default").len(), 3);
}

#[tokio::test(start_paused = true)]
async fn two_managers_starting_together_elect_exactly_one() {
    let (api, clock) = cluster().await;
    create_namespace(&api, "src").await;
    create_namespace(&api, "dst").await;
    create_config_map(&api, "default", "x").await;
    create_config_map(&api, "src", "m").await;
    let log = ActingLog::default();
    // Both read "no lease" and both create it: the API lets one create succeed.
    let a = start(
        "a",
        1,
        Arc::new(LocalClient::new(api.clone(), "manager-a")),
        &clock,
        &log,
    );
    let b = start(
        "b",
        2,
        Arc::new(LocalClient::new(api.clone(), "manager-b")),
        &clock,
        &log,
    );
    tokio::time::sleep(secs(60)).await;
    let held = lease(&api);
    let winner = held.holder_identity().unwrap().to_owned();
    assert_eq!(held.spec.lease_transitions, Some(0));
    let log = log.lock().unwrap().clone();
    assert!(
        log.len() >= 60,
        "the leader reconciles every second: {}",
        log.len()
    );
    assert!(log.iter().all(|(who, _)| *who == winner), "{log:?}");
    assert_eq!(labels_in(&api, "default")["x"], winner);
    assert_eq!(
        history(&api, "dst", "m"),
        [format!("create by manager-{winner}")]
    );
    a.stop.trigger();
    b.stop.trigger();
    assert_eq!(a.task.await.unwrap(), Ok(()));
    assert_eq!(b.task.await.unwrap(), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_slow_list_does_not_hold_up_lease_renewals() {
    let (api, clock) = cluster().await;
    create_namespace(&api, "src").await;
    create_namespace(&api, "dst").await;
    create_config_map(&api, "default", "x").await;
    let log = ActingLog::default();
    let flaky = Flaky::new(api.clone(), "manager-a", clock.clone());
    // Lists take three lease durations; renewals go on beside them.
    flaky.state.lock().unwrap().list_delay = secs(45);
    let a = start("a", 1, flaky.clone(), &clock, &log);
    tokio::time::sleep(secs(41)).await;
    assert!(
        log.lock().unwrap().is_empty(),
        "nothing reconciled before the caches synced"
    );
    let renewals = flaky.state.lock().unwrap().lease_writes.clone();
    // Acquired at 0 s, renewed every 2 s since.
    assert_eq!(renewals, (0..=20).map(|n| secs(2 * n)).collect::<Vec<_>>());
    tokio::time::sleep(secs(5)).await;
    assert_eq!(labels_in(&api, "default")["x"], "a");
    a.stop.trigger();
    assert_eq!(a.task.await.unwrap(), Ok(()));
}

fn replica_set(api: &ApiServer) -> ReplicaSet {
    ReplicaSet::from_object(
        api.get(&info::REPLICA_SET, "default", "myapp-replicaset")
            .unwrap(),
    )
    .unwrap()
}

/// The pods the ReplicaSet owns, by name.
fn owned_pods(api: &ApiServer, uid: &str) -> Vec<String> {
    api.list(&info::POD, Some("default"), &ListOptions::default())
        .unwrap()
        .items
        .iter()
        .filter(|p| p.metadata().owner_references.iter().any(|o| o.uid == uid))
        .map(|p| p.metadata().name_or_empty().to_owned())
        .collect()
}

async fn scale(api: &ApiServer, replicas: i32) {
    let mut rs = replica_set(api);
    rs.spec.replicas = Some(replicas);
    api.update(&admin(), rs.into()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_seeds_replica_set_converges_and_scales_through_the_runtime() {
    let (api, clock) = cluster().await;
    let manifest = include_str!("../examples/replicaset-definition.yaml");
    for object in skiff_core::manifest::parse_str("replicaset-definition.yaml", manifest).unwrap() {
        api.create(&admin(), Some("default"), object).await.unwrap();
    }
    let client: Arc<dyn Client> = Arc::new(LocalClient::new(api.clone(), "replicaset-controller"));
    let (stop, task) = spawn_run(ReplicaSetController, client, &clock, RunOptions::default());
    tokio::time::sleep(secs(1)).await;
    let uid = replica_set(&api).metadata.uid.clone().unwrap();
    let pods = owned_pods(&api, &uid);
    assert_eq!(pods.len(), 3, "{pods:?}");
    assert!(
        pods.iter().all(|p| p.starts_with("myapp-replicaset-")),
        "{pods:?}"
    );
    assert_eq!(replica_set(&api).status.replicas, 3);

    scale(&api, 5).await;
    tokio::time::sleep(secs(1)).await;
    assert_eq!(owned_pods(&api, &uid).len(), 5);
    assert_eq!(replica_set(&api).status.replicas, 5);

    scale(&api, 1).await;
    tokio::time::sleep(secs(1)).await;
    assert_eq!(owned_pods(&api, &uid).len(), 1);
    assert_eq!(replica_set(&api).status.replicas, 1);

    // Resyncs change nothing once converged.
    let head = api.store().status().unwrap().revision;
    tokio::time::sleep(secs(65)).await;
    assert_eq!(api.store().status().unwrap().revision, head);
    stop.trigger();
    assert_eq!(task.await.unwrap(), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_candidate_whose_clock_runs_an_hour_ahead_never_takes_a_renewed_lease() {
    let (api, clock) = cluster().await;
    create_namespace(&api, "src").await;
    create_namespace(&api, "dst").await;
    create_config_map(&api, "default", "x").await;
    let log = ActingLog::default();
    let a = start(
        "a",
        1,
        Arc::new(LocalClient::new(api.clone(), "manager-a")),
        &clock,
        &log,
    );
    tokio::time::sleep(ms(10)).await;
    // By b's wall clock every renewTime a writes is an hour old, and b's monotonic clock runs
    // 10 % fast: only b's own observation of changes counts.
    let skewed: Arc<dyn Clock> = Arc::new(SkewedClock::new(
        clock.clone(),
        Skew {
            offset_ns: 3_600_000_000_000,
            drift_ppm: 100_000,
        },
    ));
    let b = start(
        "b",
        2,
        Arc::new(LocalClient::new(api.clone(), "manager-b")),
        &skewed,
        &log,
    );
    tokio::time::sleep(secs(120)).await;
    let held = lease(&api);
    assert_eq!(held.holder_identity(), Some("a"));
    assert_eq!(held.spec.lease_transitions, Some(0));
    assert!(log.lock().unwrap().iter().all(|(who, _)| *who == "a"));
    a.stop.trigger();
    b.stop.trigger();
    assert_eq!(a.task.await.unwrap(), Ok(()));
    assert_eq!(b.task.await.unwrap(), Ok(()));
}
