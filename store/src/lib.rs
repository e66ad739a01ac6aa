//! skiff-store: the event log, its redb projections, watch, compaction and snapshots, and the
//! API server in front of them — the only public way to change the log.
//!
//! The store is being built (see ARCHITECTURE.md); this crate currently re-exports nothing but
//! keeps its place in the dependency graph: `store → core`.
