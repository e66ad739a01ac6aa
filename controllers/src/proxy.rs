//! kube-proxy (seed §8): Services and Endpoints to iptables-style rules and an in-process
//! dataplane; node IPAM and cluster DNS.
//!
//! Being built: see ARCHITECTURE.md.
