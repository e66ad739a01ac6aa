//! The testing kit: seeded chaos tests of **your** controller in a few lines. A
//! [`ChaosTest`] runs the whole simulated cluster (control plane, workers with kubelets,
//! the built-in controllers) plus your controller on a node of its own, your workload on a
//! client node of its own, the faults you choose, every built-in invariant checker and yours
//! — and returns the [`Report`]: violations, faults injected, trace hash.
//!
//! ```no_run
//! # // Simulator build only (`--cfg madsim`): see sim/tests/testkit.rs for a running one.
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
//!     .controller(|| MyController)
//!     .workload(|client| async move {
//!         // create the objects your controller acts on, through `client` (admin)
//!         let _ = client;
//!     })
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
//!   beginning if that node crashes (make it idempotent). By default the seeded background
//!   workload (ReplicaSets, drains, deletes, …) runs too; [`ChaosTest::quiet`] turns it off.
//! - Your [`Checker`]s see every committed event once, in order; the liveness phase waits
//!   for their `unconverged` lists to empty (within its bound, else a liveness violation),
//!   then hands them the final objects.
//! - Each run gets a fresh thread and madsim runtime seeded with the seed: the same seed and
//!   settings give the same trace hash (run one seed per process to compare hashes: some
//!   process-wide state leaks between runs, DESIGN.md).

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use skiff_controllers::reconcile::Controller;
use skiff_core::client::Client;

use crate::check::user::{Checker, UserCheckers};
use crate::cluster::{Extras, UserController};
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
        }
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
        let (extras, checkers) = (self.extras, UserCheckers::new(self.checkers));
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
