//! ReplicaSet (apps/v1) and ReplicationController (v1) controllers (seed §11).
//!
//! Being built: see ARCHITECTURE.md.
