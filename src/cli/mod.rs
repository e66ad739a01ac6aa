//! The CLI's verbs, one module each.

pub mod validate;
