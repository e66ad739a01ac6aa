//! skiff: an embeddable, event-sourced Kubernetes-style control plane.
pub use skiff_core as core;
