//! skiff: an embeddable, event-sourced Kubernetes-style control plane.
//!
//! Start a cluster in your process, apply manifests, and use the API with typed clients:
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
//! cluster.shutdown().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! Every change is an event in one durable log (see [`store`]); the API server authenticates,
//! admits and validates every write; controllers are pure reconcile functions (see
//! [`controllers`]).

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
