//! ServiceAccount controller: a `default` ServiceAccount in every namespace.
//!
//! Being built: see ARCHITECTURE.md.
