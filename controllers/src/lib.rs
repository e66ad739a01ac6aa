//! skiff-controllers: every control loop of the cluster as a pure reconcile function — the
//! scheduler, the controller-manager's controllers, the kubelet and kube-proxy — plus the
//! container-runtime interface (CRI) with a simulated runtime, and the runtime loop that feeds
//! views in and sends actions out through a [`skiff_core::client::Client`].
//!
//! Controllers never depend on the store: a reconcile cannot reach the log (DESIGN.md,
//! `controllers → core` only). The contract every controller follows is in [`reconcile`]:
//!
//! ```
//! use std::time::SystemTime;
//! use skiff_controllers::reconcile::{Action, Output};
//! use skiff_controllers::view::View;
//!
//! // A (trivial) controller: a view and `now` in, actions out; nothing else.
//! fn reconcile(view: &View, _now: SystemTime) -> Output {
//!     Output { actions: Vec::new(), requeue_after: None }
//! }
//! assert_eq!(reconcile(&View::new(), SystemTime::UNIX_EPOCH), Output::none());
//! ```

pub mod builtin;
pub mod cri;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod gc;
pub mod kubelet;
pub mod namespace;
pub mod nodelifecycle;
pub mod proxy;
pub mod reconcile;
pub mod replicaset;
pub mod runtime;
pub mod scheduler;
pub mod serviceaccount;
pub mod view;
