//! Namespace controller: deletes the contents of a terminating namespace, then the namespace.
//!
//! Being built: see ARCHITECTURE.md.
