//! skiff-store: the event log, its redb projections, watch, compaction and snapshots, and the
//! API server in front of them — the only public way to change the log.
//!
//! The store is being built (see ARCHITECTURE.md). Today it holds [`disk`]: the crash-faithful
//! redb `StorageBackend` that the simulator's disk faults use, and crash-atomic database
//! creation. Dependency direction: `store → core`.

pub mod disk;
