//! Node lifecycle controller (seed §5): Ready=Unknown after the grace period, taints,
//! rate-limited eviction, full-disruption detection.
//!
//! Being built: see ARCHITECTURE.md.
