//! kube-scheduler (seed §6): filters, scores with upstream weights, the scheduling queue and
//! the assume cache, as a pure reconcile.
//!
//! Being built: see ARCHITECTURE.md.
