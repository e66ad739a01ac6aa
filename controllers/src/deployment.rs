//! Deployment controller: ReplicaSets per pod-template-hash, rolling update, recreate,
//! rollback, pause.
//!
//! Being built: see ARCHITECTURE.md.
