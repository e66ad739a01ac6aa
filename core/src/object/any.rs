//! [`Object`]: any served kind (in progress).

/// Any object of a kind skiff serves (stub).
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// A Pod.
    Pod(super::Pod),
}
