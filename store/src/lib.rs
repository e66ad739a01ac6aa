//! skiff-store: skiff's etcd — every change to cluster state is an [`Event`] appended to one
//! durable log in redb, and the current objects are projections of that log kept in the same
//! redb transaction.
//!
//! - [`Store`]: open, read (current and past revisions, paged lists, indexes), write (etcd-style
//!   transactions with resourceVersion preconditions, group-committed), watch, compact,
//!   rebuild and verify.
//! - [`apiserver`]: upstream's object life cycle over the store (uids, generateName,
//!   generation, graceful deletion, finalizers, validation, `Status` errors).
//! - [`etcd`]: etcdctl's writes, watch and snapshot stream, shared by the offline CLI and
//!   the API server.
//! - [`codec`]: the versioned, checksummed record envelope.
//! - [`key`]: upstream's registry key layout.
//! - [`wire`]: the wire protocol's frames and messages.
//! - [`disk`]: a crash-faithful redb backend (durable vs volatile bytes, torn writes, power
//!   loss on the n-th I/O) that the crash tests and the simulator use, and crash-atomic database
//!   creation.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use skiff_core::clock::SystemClock;
//! use skiff_core::event::Actor;
//! use skiff_core::object::{ConfigMap, ObjectMeta};
//! use skiff_store::{Backing, Store};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Store::open(Backing::Memory, Arc::new(SystemClock::new())).unwrap();
//! let mut cm = ConfigMap::default();
//! cm.metadata = ObjectMeta { namespace: Some("default".into()), ..ObjectMeta::named("settings") };
//! let stored = store.create(&Actor::new("admin"), cm.into()).await.unwrap();
//! assert_eq!(stored.metadata().resource_version.as_deref(), Some("1"));
//! let (head, entry) = store.get("/registry/configmaps/default/settings").unwrap();
//! assert_eq!((head.0, entry.stored.version), (1, 1));
//! # });
//! ```
//!
//! [`Event`]: skiff_core::event::Event

pub mod apiserver;
pub mod codec;
pub mod compactor;
pub mod disk;
pub mod error;
pub mod etcd;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod history;
pub mod key;
pub mod raft;
pub mod request;
pub mod snapshot;
mod store;
mod tables;
pub mod watch;
pub mod wire;
mod writer;

pub use compactor::{CompactionPolicy, Compactor};
pub use error::{ReadError, Rejection, StoreError, WriteError};
pub use request::{Applied, Compare, Op, Txn, TxnResponse};
pub use store::{
    Backing, DB_FILE, Entry, KIND_DEFINITIONS_ACTOR, KIND_DEFINITIONS_PREFIX, ListOptions,
    ListPage, OpenOptions, Status, Store, TAIL_SCAN_EVENTS, kind_definition, kind_definition_key,
    parse_kind_definition,
};
pub use watch::{Watch, WatchError, WatchEvent, WatchOptions};
pub use writer::{BATCH_REQUESTS_MAX, QUEUE_REQUESTS_MAX, TXN_OPS_MAX};
