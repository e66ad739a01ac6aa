//! The container runtime interface (CRI) and the simulated runtime.
//!
//! Being built: see ARCHITECTURE.md.
