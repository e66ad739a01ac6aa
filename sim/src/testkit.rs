//! The testing kit: seeded chaos tests of **your** controller in a few lines. A
//! [`ChaosTest`] runs the whole simulated cluster (control plane, workers with kubelets,
//! the built-in controllers) plus your controller on a node of its own, your workload on a
//! client node of its own, the faults you choose, every built-in invariant checker and yours
//! — and returns the [`Report`]: violations, faults injected, trace hash.
//!
//! ```no_run
//! # // Simulator build only (`--cfg madsim`): see sim/tests/testkit.rs for a running one.
//! use std::time::Duration;
//! use skiff_sim::testkit::{ChaosTest, Faults};
//! # use skiff_controllers::reconcile::{Controller, Output, Watched};
//! # use skiff_controllers::view::{ObjectKey, View};
//! # struct MyController;
//! # impl Controller for MyController {
//! #     fn name(&self) -> &'static str { "mine" }
//! #     fn watches(&self) -> Vec<Watched> { Vec::new() }
//! #     fn keys_for(&self, _: &View, _: &skiff_core::object::Object) -> Vec<ObjectKey> { Vec::new() }
//! #     fn resync_keys(&self, _: &View) -> Vec<ObjectKey> { Vec::new() }
//! #     fn reconcile(&mut self, _: &View, _: &ObjectKey, _: std::time::SystemTime) -> Output { Output::none() }
//! # }
//! let report = ChaosTest::new(7)
//!     .workers(3)
//!     .faults(Faults::parse("crash,partition"))
//!     // .kind::<MyKind>() serves a custom kind of yours
//!     .controller(|| MyController)
//!     .workload(|client| async move {
//!         // create the objects your controller acts on, through `client` (admin)
//!         let _ = client;
//!     })
//!     // or scripted steps: manifests applied, objects deleted, at given times
//!     .apply_at(Duration::from_secs(5), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n")
//!     .delete_at(Duration::from_secs(60), "configmaps", "default", "a")
//!     .run();
//! assert!(report.violations.is_empty(), "{}", report.text());
//! ```
//!
//! # What happens
//!
//! - Your controller runs on node `controller-<name>` over the wire protocol (simulated TCP),
//!   as the service account `kube-system/<name>` (bound to `cluster-admin`: the kit tests
//!   behaviour under faults; least privilege is `skiff::ClusterBuilder::controller`'s), in the
//!   same runtime loop as the built-ins, elected on the Lease `kube-system/<name>`. A crash of
//!   its node or a lost election starts a fresh instance from your factory. Crash and
//!   partition faults pick its node like any other, and the single-leader checker holds it to
//!   its Lease.
//! - Your workload runs on node `user-client` with an admin client, started again from the
//!   beginning if that node crashes (make it idempotent). Besides (or instead of) a closure,
//!   it can be a script of steps at given times ([`ChaosTest::apply_at`] a manifest,
//!   [`ChaosTest::delete_at`] an object): each step is retried until the API answers and is
//!   not run again after a crash. By default the seeded background workload (ReplicaSets,
//!   drains, deletes, …) runs too; [`ChaosTest::quiet`] turns it off.
//! - Your custom kinds ([`ChaosTest::kind`], [`ChaosTest::dynamic_kind`]) are served by the
//!   simulated control plane like built-in ones: its store and API server, its garbage
//!   collector (for what their objects own), your controllers' and workload's clients and the
//!   scripted manifests all know them; your checkers see their objects in the log.
//!   (`examples/chaos_test.rs` tests the `GameServer` kind's controller this way.)
//! - Your [`Checker`]s see every committed event once, in order; the liveness phase waits
//!   for their `unconverged` lists to empty (within its bound, else a liveness violation),
//!   then hands them the final objects.
//! - Each run gets a fresh thread and madsim runtime seeded with the seed: the same seed and
//!   settings give the same trace hash (run one seed per process to compare hashes: some
//!   process-wide state leaks between runs, DESIGN.md).

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_controllers::reconcile::Controller;
use skiff_core::client::{Client, ClientError, DeleteOptions};
use skiff_core::object::{CustomKind, CustomResource, DynamicKind, KindInfo, KindRegistry, Object};
use skiff_core::status::Reason;
use tokio::time::Instant;

use crate::check::user::{Checker, UserCheckers};
use crate::cluster::{Extras, UserController, UserWorkload};
use crate::options::{FaultKind, Options, Overrides, parse_faults};
use crate::report::Report;
use crate::run::{RunFlags, run_with};

/// A set of fault kinds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Faults(pub BTreeSet<FaultKind>);

impl Faults {
    /// Parses `--faults` syntax: `none`, `all`, or a comma-separated list of `crash`,
    /// `partition`, `loss`, `skew`, `disk`.
    ///
    /// # Panics
    ///
    /// On an unknown kind, with the parser's message (a test's typo should stop the test).
    pub fn parse(text: &str) -> Faults {
        Faults(parse_faults(text).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Every kind.
    pub fn all() -> Faults {
        Faults(FaultKind::ALL.into_iter().collect())
    }
}

/// The default safety-phase length of a chaos test (the liveness phase follows).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(120);
/// The default mean time between two faults: about a dozen in the default safety phase.
pub const DEFAULT_FAULT_EVERY: Duration = Duration::from_secs(10);
/// The default worker count.
pub const DEFAULT_WORKERS: u32 = 3;

/// One seeded chaos test of user controllers (see the module docs).
#[must_use]
pub struct ChaosTest {
    seed: u64,
    overrides: Overrides,
    fault_every: Duration,
    extras: Extras,
    checkers: Vec<Box<dyn Checker>>,
    kinds: Vec<&'static CustomKind>,
    script: Vec<(Duration, StepSpec)>,
}

/// One step of a scripted workload, as written ([`ChaosTest::apply_at`],
/// [`ChaosTest::delete_at`]); read with the test's kinds when the test runs.
#[derive(Debug, Clone)]
enum StepSpec {
    Apply(String),
    Delete {
        resource: String,
        namespace: String,
        name: String,
    },
}

/// One step of a scripted workload, resolved against the test's kinds.
#[derive(Debug, Clone)]
enum Step {
    /// Create each object, or replace the stored one's labels, annotations and fields
    /// (`kubectl apply`'s outcome for a whole-object manifest).
    Apply(Vec<Object>),
    /// Delete one object (background propagation: the garbage collector removes what it
    /// owned).
    Delete(&'static KindInfo, String, String),
}

impl std::fmt::Debug for ChaosTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosTest")
            .field("seed", &self.seed)
            .field("overrides", &self.overrides)
            .field(
                "controllers",
                &self
                    .extras
                    .controllers
                    .iter()
                    .map(|c| c.name)
                    .collect::<Vec<_>>(),
            )
            .field(
                "checkers",
                &self.checkers.iter().map(|c| c.name()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ChaosTest {
    /// A test of `seed`: [`DEFAULT_WORKERS`] workers, [`DEFAULT_DURATION`] of crash and
    /// partition faults, one every [`DEFAULT_FAULT_EVERY`] on average; the other options
    /// (fault lengths, background workload mix) drawn from the seed as `cargo sim` draws
    /// them. (A report's repro line names the seed's own fault rate: reproduce a kit run
    /// with the kit.)
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            overrides: Overrides {
                workers: Some(DEFAULT_WORKERS),
                duration: Some(DEFAULT_DURATION),
                faults: Some(Faults::parse("crash,partition").0),
            },
            fault_every: DEFAULT_FAULT_EVERY,
            extras: Extras::default(),
            checkers: Vec::new(),
            kinds: Vec::new(),
            script: Vec::new(),
        }
    }

    /// Serves the typed custom kind `T` in the simulated cluster: the control plane's store,
    /// API server and garbage collector, your controllers' and workload's clients, and the
    /// scripted steps all know it, and your checkers see its objects in the log.
    pub fn kind<T: CustomResource>(self) -> Self {
        self.custom_kind(T::KIND)
    }

    /// Serves a custom kind described at run time, as [`ChaosTest::kind`] does a typed one.
    /// (Its description is made here, once per call: define a kind once per test.)
    pub fn dynamic_kind(self, kind: DynamicKind) -> Self {
        self.custom_kind(kind.define())
    }

    /// Serves a custom kind already defined ([`CustomResource::KIND`],
    /// [`DynamicKind::define`]).
    pub fn custom_kind(mut self, kind: &'static CustomKind) -> Self {
        self.kinds.push(kind);
        self
    }

    /// A scripted step: at `at` after the start, apply the YAML manifest stream `yaml`
    /// (objects of the built-in kinds or of the test's kinds; a namespaced object without a
    /// namespace goes to `default`): each object is created, or, if it exists, its labels,
    /// annotations and other fields (`spec`; not a status-subresource kind's `status`) are
    /// replaced. Steps run in order on node `user-client`, beside the [`ChaosTest::workload`]
    /// closure; each is retried until the API answers (a lost answer is retried, so the step
    /// is idempotent), and a step done before a crash of that node is not run again.
    ///
    /// The manifest is read when the test runs: [`ChaosTest::run`] panics on a manifest
    /// error.
    pub fn apply_at(mut self, at: Duration, yaml: &str) -> Self {
        self.script.push((at, StepSpec::Apply(yaml.to_owned())));
        self
    }

    /// A scripted step: at `at` after the start, delete the object `namespace/name` of
    /// `resource` (a plural, singular, short name or kind, as kubectl resolves `get gs`;
    /// namespace empty for a cluster-scoped kind), as [`ChaosTest::apply_at`] runs steps.
    /// Not found counts as done.
    ///
    /// [`ChaosTest::run`] panics when no served kind has the name `resource`.
    pub fn delete_at(mut self, at: Duration, resource: &str, namespace: &str, name: &str) -> Self {
        self.script.push((
            at,
            StepSpec::Delete {
                resource: resource.to_owned(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            },
        ));
        self
    }

    /// The kinds the test's cluster serves: the built-ins and the kinds registered with
    /// [`ChaosTest::kind`] and its siblings.
    ///
    /// # Panics
    ///
    /// When a kind cannot be registered (its name is taken or not usable), with the
    /// registry's message.
    pub fn kinds(&self) -> KindRegistry {
        let mut kinds = KindRegistry::builtin();
        for kind in &self.kinds {
            if let Err(e) = kinds.register(kind) {
                panic!("kind {} cannot be served: {e}", kind.info.kind);
            }
        }
        kinds
    }

    /// Worker nodes (each a kubelet over a simulated container runtime).
    pub fn workers(mut self, n: u32) -> Self {
        self.overrides.workers = Some(n);
        self
    }

    /// The fault kinds injected during the safety phase.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.overrides.faults = Some(faults.0);
        self
    }

    /// Mean time between two faults (their kind, target and length still come from the
    /// seed).
    pub fn fault_every(mut self, mean: Duration) -> Self {
        self.fault_every = mean;
        self
    }

    /// Length of the safety phase (faults on); the liveness phase follows.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.overrides.duration = Some(duration);
        self
    }

    /// Adds a controller, made by `factory` at every start of its node and after every lost
    /// election.
    pub fn controller<C, F>(mut self, factory: F) -> Self
    where
        C: Controller + 'static,
        F: Fn() -> C + Send + Sync + 'static,
    {
        let name = factory().name();
        self.extras.controllers.push(UserController {
            name,
            factory: Arc::new(move || Box::new(factory()) as Box<dyn Controller>),
        });
        self
    }

    /// The test's workload, run on node `user-client` with an admin client.
    pub fn workload<F, Fut>(mut self, workload: F) -> Self
    where
        F: Fn(Arc<dyn Client>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.extras.workload = Some(Arc::new(move |client| Box::pin(workload(client))));
        self
    }

    /// Adds a checker of your own.
    pub fn checker(mut self, checker: impl Checker + 'static) -> Self {
        self.checkers.push(Box::new(checker));
        self
    }

    /// No seeded background workload: only yours changes the cluster.
    pub fn quiet(mut self) -> Self {
        self.extras.quiet = true;
        self
    }

    /// The options the run will use (for its repro line).
    pub fn options(&self) -> Options {
        let mut options = Options::from_seed(self.seed, &self.overrides);
        options.rates.mean_interval = self.fault_every.max(Duration::from_millis(1));
        options
    }

    /// Runs the test on a fresh thread in a fresh madsim runtime seeded with the seed, and
    /// returns the report.
    ///
    /// # Panics
    ///
    /// If the simulation itself panicked (a bug in a controller's code panics its node, which
    /// the report shows as a crash; a panic here is the harness's).
    pub fn run(self) -> Report {
        let options = self.options();
        let seed = options.seed;
        let kinds = self.kinds();
        let script = resolve(&self.script, &kinds);
        let mut extras = self.extras;
        extras.workload = with_script(extras.workload.take(), script);
        extras.kinds = kinds;
        let checkers = UserCheckers::new(self.checkers);
        // The thread only hosts the simulation (as `cargo simtest`'s tests do): inside it,
        // madsim runs every task on one thread in seeded order.
        std::thread::spawn(move || {
            madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default())
                .block_on(run_with(options, RunFlags::default(), extras, checkers))
                .0
        })
        .join()
        .expect("the simulation panicked")
    }
}

/// Reads the scripted steps with the test's kinds, sorted by time (stable: steps at the same
/// time keep their order).
fn resolve(script: &[(Duration, StepSpec)], kinds: &KindRegistry) -> Vec<(Duration, Step)> {
    let mut steps: Vec<(Duration, Step)> = script
        .iter()
        .enumerate()
        .map(|(i, (at, spec))| {
            let step = match spec {
                StepSpec::Apply(yaml) => {
                    let file = format!("step-{i}.yaml");
                    let objects = skiff_core::manifest::parse_str_with(&file, yaml, kinds)
                        .unwrap_or_else(|e| panic!("scripted step {i}: {e}"));
                    Step::Apply(objects)
                }
                StepSpec::Delete {
                    resource,
                    namespace,
                    name,
                } => {
                    let info = kinds.resolve_resource(resource).unwrap_or_else(|| {
                        panic!(
                            "scripted step {i}: the server doesn't have a resource type {resource:?}"
                        )
                    });
                    Step::Delete(info, namespace.clone(), name.clone())
                }
            };
            (*at, step)
        })
        .collect();
    steps.sort_by_key(|(at, _)| *at);
    steps
}

/// The test's workload: its closure and its scripted steps side by side (either may be
/// absent). What survives a restart of the node lives in the closure's captures: the
/// script's start and how many steps are done.
fn with_script(
    workload: Option<UserWorkload>,
    script: Vec<(Duration, Step)>,
) -> Option<UserWorkload> {
    if script.is_empty() {
        return workload;
    }
    let script: Arc<[(Duration, Step)]> = Arc::from(script);
    let done = Arc::new(AtomicUsize::new(0));
    let start: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    Some(Arc::new(move |client: Arc<dyn Client>| {
        let (script, done, start, workload) = (
            script.clone(),
            done.clone(),
            start.clone(),
            workload.clone(),
        );
        Box::pin(async move {
            let steps = run_script(client.clone(), script, done, start);
            match workload {
                Some(workload) => {
                    tokio::join!(workload(client), steps);
                }
                None => steps.await,
            }
        })
    }))
}

/// Runs the steps not done yet, each at its time (measured from the script's first start).
async fn run_script(
    client: Arc<dyn Client>,
    script: Arc<[(Duration, Step)]>,
    done: Arc<AtomicUsize>,
    start: Arc<Mutex<Option<Instant>>>,
) {
    let start = *crate::worker::lock(&start).get_or_insert_with(Instant::now);
    while let Some((at, step)) = script.get(done.load(Ordering::SeqCst)) {
        tokio::time::sleep_until(start + *at).await;
        while !run_step(&*client, step).await {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        done.fetch_add(1, Ordering::SeqCst);
    }
}

/// One try of a step: true once the API answered every part of it (a refusal counts: the
/// step is not retried), false when an answer was lost or a write conflicted.
async fn run_step(client: &dyn Client, step: &Step) -> bool {
    match step {
        Step::Apply(objects) => {
            for object in objects {
                if !apply(client, object).await {
                    return false;
                }
            }
            true
        }
        Step::Delete(info, namespace, name) => {
            match crate::worker::timed(client.delete(
                info,
                namespace,
                name,
                DeleteOptions::default(),
            ))
            .await
            {
                Ok(_) | Err(ClientError::Status(_)) => true,
                Err(ClientError::Transport(_)) => false,
            }
        }
    }
}

/// Creates `object`, or replaces the stored one's labels, annotations and fields.
async fn apply(client: &dyn Client, object: &Object) -> bool {
    let mut object = object.clone();
    if object.info().namespaced && object.metadata().namespace.is_none() {
        object.metadata_mut().namespace = Some("default".to_owned());
    }
    let namespace = object.metadata().namespace.clone();
    let created = crate::worker::timed(client.create(namespace.as_deref(), object.clone())).await;
    match created {
        Err(ClientError::Status(s)) if s.reason == Reason::AlreadyExists => {}
        // Created, or refused (nothing to retry: a refusal is the step's outcome).
        Ok(_) | Err(ClientError::Status(_)) => return true,
        Err(ClientError::Transport(_)) => return false,
    }
    let (info, name) = (object.info(), object.metadata().name_or_empty().to_owned());
    let Ok(current) =
        crate::worker::timed(client.get(info, namespace.as_deref().unwrap_or_default(), &name))
            .await
    else {
        return false;
    };
    let mut next = object;
    let wanted = next.metadata().clone();
    let meta = next.metadata_mut();
    meta.clone_from(current.metadata());
    meta.labels = wanted.labels;
    meta.annotations = wanted.annotations;
    match crate::worker::timed(client.update(next)).await {
        Ok(_) => true,
        Err(ClientError::Status(s)) => s.reason != Reason::Conflict,
        Err(ClientError::Transport(_)) => false,
    }
}
