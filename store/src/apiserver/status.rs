//! The API server's error type.

pub use skiff_core::status::{Cause, Reason, Status};

use crate::error::StoreError;

/// The API server's two-tier error (openraft's `RaftError` shape): a refusal the caller can act
/// on, or a store failure after which the server stops.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request was refused; nothing changed.
    #[error(transparent)]
    Rejected(#[from] Status),
    /// The store failed; the outcome of a write is unknown.
    #[error("store failed; server stopped: {0}")]
    Fatal(#[source] StoreError),
}

impl ApiError {
    /// The status of a rejection, if this is one.
    pub fn status(&self) -> Option<&Status> {
        match self {
            ApiError::Rejected(status) => Some(status),
            ApiError::Fatal(_) => None,
        }
    }
}
