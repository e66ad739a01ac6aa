//! Endpoints controller: Services and ready pods to Endpoints.
//!
//! Being built: see ARCHITECTURE.md.
