//! [`Oracle`]: what the workload's clients were told. Every write whose answer arrived is
//! recorded with the revision it was given; a write whose answer was lost (a
//! `ClientError::Transport`, a timeout) is only counted: its outcome is unknown, and the log
//! may or may not hold it (core `Client`'s contract).

use skiff_core::client::ClientError;
use skiff_core::object::Object;

/// What an acknowledged write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOp {
    /// A create (or a generated-name create).
    Create,
    /// An update, status update or binding.
    Update,
    /// A delete that removed the object (`Deleted::Gone`).
    Delete,
}

/// One acknowledged write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// What it did.
    pub op: AckOp,
    /// The registry key it wrote.
    pub key: String,
    /// The uid of the object written.
    pub uid: String,
    /// The revision of the write (its `resourceVersion`); `None` for a delete, whose answer
    /// carries the object's last state.
    pub revision: Option<u64>,
}

impl Ack {
    /// The acknowledgement of a create or update that returned `object`.
    pub fn of(op: AckOp, object: &Object) -> Ack {
        let meta = object.metadata();
        Ack {
            op,
            key: skiff_store::key::object_key(object).unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            revision: if op == AckOp::Delete {
                None
            } else {
                meta.resource_version
                    .as_deref()
                    .and_then(|rv| rv.parse().ok())
            },
        }
    }
}

/// Everything the clients were told.
#[derive(Debug, Default, Clone)]
pub struct Oracle {
    /// Acknowledged writes, in the order the answers arrived.
    pub acks: Vec<Ack>,
    /// Writes whose outcome is unknown.
    pub unknown: u64,
    /// Writes the API refused (nothing changed).
    pub rejected: u64,
}

impl Oracle {
    /// Records the outcome of one write.
    pub fn record(&mut self, op: AckOp, result: &Result<Object, ClientError>) {
        match result {
            Ok(object) => self.acks.push(Ack::of(op, object)),
            Err(ClientError::Transport(_)) => self.unknown += 1,
            Err(ClientError::Status(_)) => self.rejected += 1,
        }
    }
}
