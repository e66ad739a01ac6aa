//! DaemonSet controller: one pod per eligible node.
//!
//! Being built: see ARCHITECTURE.md.
