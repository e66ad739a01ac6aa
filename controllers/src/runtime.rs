//! The runtime loop: list+watch caches, work queue with rate-limited retry, expectations,
//! leader election on a Lease, periodic resync, and sending actions through a client.
//!
//! Being built: see ARCHITECTURE.md.
