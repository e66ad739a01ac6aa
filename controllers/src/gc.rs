//! Garbage collector (ownerReferences: background, foreground, orphan) and pod GC.
//!
//! Being built: see ARCHITECTURE.md.
