//! skiff-controllers: pure reconcile functions (scheduler, ReplicaSet, node lifecycle, kubelet,
//! kube-proxy, …), the container-runtime interface and the runtime loop.
//!
//! Controllers never depend on the store: a reconcile cannot reach the log. This crate is being
//! built (see ARCHITECTURE.md); it keeps its place in the dependency graph: `controllers → core`.
