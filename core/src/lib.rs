//! skiff-core: the Kubernetes object model and everything about it that needs no I/O.
//!
//! - [`object`]: typed API objects (Pod, ReplicaSet, Node, …) with Kubernetes field names in
//!   YAML/JSON and bincode's own `Encode`/`Decode` for storage.
//! - [`manifest`]: multi-document YAML/JSON manifests parsed into typed objects, with errors that
//!   name the file, document, line, column and field path.
//! - [`quantity`]: exact resource quantities (`500m`, `1Gi`) with upstream canonical formatting.
//! - [`selector`]: label selectors, structured and in `kubectl -l` string syntax.
//! - [`client`]: the API as every component uses it (the `Client` trait and its vocabulary).
//! - [`defaults`]: the defaults the API server fills in before validation (upstream's v1
//!   defaulters).
//! - [`validate`]: the object validation the API server runs.
//! - [`kubelet_api`]: the messages of the kubelet's node API (logs, exec, crictl), which the API
//!   server sends to a node.
//! - [`status`]: refusals shaped like upstream's `metav1.Status` (code, reason, message, causes).
//!
//! # Example
//!
//! ```
//! use skiff_core::manifest::parse_str;
//! use skiff_core::object::Object;
//!
//! let objects = parse_str("pod.yaml", r#"
//! apiVersion: v1
//! kind: Pod
//! metadata:
//!   name: nginx
//! spec:
//!   containers:
//!   - name: nginx
//!     image: nginx:1.27
//! "#).unwrap();
//! let Object::Pod(pod) = &objects[0] else { panic!("expected a pod") };
//! assert_eq!(pod.metadata.name.as_deref(), Some("nginx"));
//! assert_eq!(pod.spec.containers[0].image.as_deref(), Some("nginx:1.27"));
//! ```

pub mod client;
pub mod clock;
pub mod defaults;
pub mod event;
pub mod fuzz;
pub mod kubelet_api;
pub mod manifest;
pub mod object;
pub mod quantity;
pub mod rng;
pub mod secret;
pub mod selector;
pub mod status;
pub mod validate;
