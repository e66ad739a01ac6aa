//! The CLI's verbs, one module each.

pub mod bench;
pub mod validate;
