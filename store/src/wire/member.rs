//! What the API server of a replicated member answers about replication (issue #11):
//! etcdctl's `endpoint status` columns and `member list|add|remove|promote`.
//!
//! The wire server ([`super::serve_member`]) answers these requests itself from a
//! [`Membership`], after the [`super::Handler`] authorized them (as the path `/etcd`, like
//! every etcdctl request); a server that is not a member refuses them.

use bincode::{Decode, Encode};
use skiff_core::client::BoxFuture;
use skiff_core::status::Status;

/// One member's replication state, as `etcdctl endpoint status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct RaftStatus {
    /// The member answering.
    pub member: u64,
    /// The leader it knows of.
    pub leader: Option<u64>,
    /// Its Raft term.
    pub term: u64,
    /// Index of the last entry it knows committed (0: none).
    pub committed: u64,
    /// Index of the last entry it applied (0: none).
    pub applied: u64,
    /// Whether it is a learner (not a voter).
    pub learner: bool,
}

/// One row of `etcdctl member list`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct MemberInfo {
    /// The member's id.
    pub id: u64,
    /// Its name, when the answering member knows it (empty otherwise, as etcd shows a member
    /// that has not started).
    pub name: String,
    /// Its Raft peer address.
    pub peer: String,
    /// Its API (client) address.
    pub client: String,
    /// Whether it is a learner.
    pub learner: bool,
}

/// Replication as one member's wire server sees it.
pub trait Membership: Send + Sync + 'static {
    /// This member's id (named in every handshake).
    fn id(&self) -> u64;
    /// This member's replication state.
    fn status(&self) -> RaftStatus;
    /// Every member, by id.
    fn list(&self) -> BoxFuture<'_, Result<Vec<MemberInfo>, Status>>;
    /// Adds a learner named `name` at Raft address `peer`; the members afterwards.
    fn add(&self, name: String, peer: String) -> BoxFuture<'_, Result<Vec<MemberInfo>, Status>>;
    /// Removes member `id`; the members afterwards.
    fn remove(&self, id: u64) -> BoxFuture<'_, Result<Vec<MemberInfo>, Status>>;
    /// Makes learner `id` a voter; the members afterwards.
    fn promote(&self, id: u64) -> BoxFuture<'_, Result<Vec<MemberInfo>, Status>>;
}
