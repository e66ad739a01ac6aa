//! The CLI's verbs, one module each.

pub mod etcdctl;
pub mod validate;
