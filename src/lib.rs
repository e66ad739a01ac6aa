//! skiff: an embeddable, event-sourced Kubernetes-style control plane.
//!
//! skiff is the Kubernetes control plane as a Rust library: an API server with upstream's
//! object model, authentication, RBAC, admission and validation; an etcd-like store where
//! every change is an event in one durable log; the kube-controller-manager's controllers, the
//! scheduler, kubelets over a simulated container runtime and kube-proxy — all as pure
//! reconcile functions run by one runtime loop. You start a whole cluster inside your process
//! with [`Cluster::builder`], use it through typed clients ([`Api`]), add controllers of your
//! own ([`ClusterBuilder::controller`]), and test them under crashes and partitions with the
//! deterministic simulator's testing kit (`skiff_sim::testkit`). The same code runs for real
//! (`skiff up`, kubectl over HTTP) and under the madsim simulator, where one seed replays a
//! run exactly.
//!
//! # An object's life
//!
//! What happens to a manifest (the seed's pod-creation flow, and DESIGN.md):
//!
//! 1. **Manifest** — [`Cluster::apply_yaml`] (or `skiff apply -f`) parses each YAML/JSON
//!    document into its typed object ([`core::manifest`]); errors name the document, line,
//!    column and field.
//! 2. **API server** — the request is authenticated, authorized (RBAC), admitted (defaults,
//!    namespace lifecycle, service accounts, …) and validated ([`store::apiserver`]).
//! 3. **Log** — the change is appended to the event log as `Event { revision, at, actor,
//!    change }` and the current-state projection is updated in the same transaction; the
//!    caller is answered only once that is durable ([`store`]).
//! 4. **Watch** — every watcher (informers, kubectl, your [`api::Watch`]) receives the event
//!    in revision order, without gaps.
//! 5. **Controllers** — each controller's informer applies it to its view, the keys it
//!    concerns are queued, and the controller's pure `reconcile(view, key, now)` returns the
//!    actions to take; the runtime sends them with their preconditions
//!    ([`controllers::reconcile`], [`controllers::runtime`]). The scheduler binds the pod to a
//!    node.
//! 6. **Kubelet** — the node's kubelet sees the pod bound to it, has the container runtime pull
//!    the image and start the containers, and reports the pod's status through the API — one
//!    more event in the log ([`controllers::kubelet`]).
//!
//! Every step is an event with its actor: [`core::client::Client::history`] (or
//! `skiff describe`) shows an object's whole story.
//!
//! # Example
//!
//! Start a cluster in memory, apply a manifest, read the object back typed:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use skiff::Cluster;
//! use skiff::core::object::Pod;
//!
//! let cluster = Cluster::builder().seed(1).build().await?;
//! cluster
//!     .apply_yaml(
//!         "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nginx\nspec:\n  containers:\n  - name: nginx\n    image: nginx:1.27\n",
//!     )
//!     .await?;
//! let pod = cluster.api::<Pod>("default").get("nginx").await?;
//! assert_eq!(pod.spec.containers[0].image.as_deref(), Some("nginx:1.27"));
//! // The API server applied upstream's defaults and the log names who did what.
//! assert_eq!(pod.spec.restart_policy.as_deref(), Some("Always"));
//! let history = cluster
//!     .client()
//!     .history(&skiff::core::object::info::POD, "default", "nginx")
//!     .await?;
//! assert_eq!(history[0].actor.user, "admin");
//! cluster.shutdown().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! With `.nodes(3)` the pods of a ReplicaSet come up `Running` on in-process nodes
//! (`examples/embed_basic.rs`); with `.controller(…)` your own reconciler runs beside the
//! built-ins ([`controller`]); with `.kind::<T>()` it serves a custom kind of yours
//! (`examples/custom_kind.rs`: a `GameServer` kind and its reconciler). The simulator's
//! testing kit (`skiff_sim::testkit::ChaosTest`, `--cfg madsim` builds) runs that same
//! reconciler on a node of its own in a whole simulated cluster that serves your kinds
//! (`.kind::<T>()`, `.dynamic_kind(..)`), under the faults you choose, with a workload of
//! yours (a closure, or manifests applied and objects deleted at given times), every built-in
//! invariant checker and checkers of your own, and returns a report whose trace hash a seed
//! reproduces: `examples/chaos_test.rs` does so for the GameServer reconciler (and catches a
//! planted bug). The store keeps each custom kind's definition beside its objects, so
//! offline tools (`skiff etcdctl` on a stopped data dir, snapshot restore) read them without
//! your code.
//!
//! # Map of the crates and modules
//!
//! | where | what |
//! |---|---|
//! | [`cluster`] | [`Cluster`] and [`ClusterBuilder`]: store, API server, built-in controllers, scheduler, in-process nodes, user controllers |
//! | [`api`] | [`Api<K>`]: typed get/list/create/update/delete/watch for one kind |
//! | [`apply`] | create-or-update with kubectl's last-applied annotation |
//! | [`controller`] | user controllers: identity, RBAC, leader election, the authorizing in-process client |
//! | `http` | the Kubernetes HTTP/JSON API for kubectl and kube-rs (normal build only) |
//! | [`core`] (skiff-core) | API objects, manifests, selectors, quantities, the log's events, the `Client` trait, clocks, seeded randomness — no I/O |
//! | [`store`] (skiff-store) | the event log and projections (redb), watch, compaction, snapshots, the API server, the wire protocol |
//! | [`controllers`] (skiff-controllers) | the reconcile contract, the runtime loop, every built-in controller, the scheduler, kubelet, kube-proxy, the CRI and its simulated runtime |
//! | `skiff_sim` (skiff-sim) | the madsim cluster harness, fault injection, invariant checkers, the testing kit (`testkit::ChaosTest`) |
//!
//! # Logs
//!
//! Every API request, reconcile and kubelet pod sync runs in a `tracing` span
//! (`request{verb resource namespace name user}`, `reconcile{controller key}`,
//! `pod_sync{node pod}`). skiff installs no subscriber in your process: add
//! `tracing-subscriber` and filter with `RUST_LOG`, e.g. `skiff_controllers=debug`. The
//! `skiff` CLI logs to stderr with `-v` (info) and `-vv` (debug).

pub mod api;
pub mod apply;
pub mod cluster;
pub mod controller;
#[cfg(not(madsim))]
pub mod http;

pub use api::Api;
pub use cluster::{Cluster, ClusterBuilder};
pub use skiff_controllers as controllers;
pub use skiff_core as core;
pub use skiff_store as store;
