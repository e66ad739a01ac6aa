//! The invariant checkers, one file per invariant (openraft's simulator layout), each citing
//! the rule it guards and each proven by a unit test that feeds it a synthetic violation.
//!
//! Checkers are plain data structures fed from the outside: the harness reads the committed
//! log after every tick and after every control-plane restart and hands each event to every
//! checker, in revision order, exactly once ([`LogCheckers::observe`]). Checkers that need
//! more (client acknowledgements, watch records, a projection hash, the final objects) take
//! it as arguments. All of them push into one [`Violation`] enum.

pub mod acked_writes;
pub mod binding;
pub mod capacity;
pub mod committed;
pub mod leader;
pub mod linearizability;
pub mod member_state;
pub mod node_lease;
pub mod orphans;
pub mod projection;
pub mod raft_leader;
pub mod revisions;
pub mod user;
pub mod watch_order;

use std::fmt;

use skiff_core::event::{Change, Event};
use skiff_core::object::Object;

/// How a failure is classed in the report (VOPR): something crashed, the cluster did not
/// converge after healing, or an invariant was broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// A node panicked or the store could not reopen.
    Crash,
    /// The liveness phase did not converge within its bound.
    Liveness,
    /// A safety invariant was broken.
    Correctness,
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::Crash => "crash",
            Class::Liveness => "liveness",
            Class::Correctness => "correctness",
        })
    }
}

/// One broken invariant, with the values that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// An acknowledged create or update is not at its revision in the log.
    AckedWriteLost {
        /// The revision the client was given.
        revision: u64,
        /// The key written.
        key: String,
        /// What the log holds there instead.
        found: String,
    },
    /// An acknowledged delete has no delete event in the log, or the object came back.
    AckedDeleteLost {
        /// The key deleted.
        key: String,
        /// The uid of the object deleted.
        uid: String,
        /// What was seen.
        found: String,
    },
    /// The log skipped a revision (revisions must be dense).
    RevisionGap {
        /// The revision expected next.
        expected: u64,
        /// The revision found.
        found: u64,
    },
    /// A revision read earlier holds a different event now (revisions are never reused).
    RevisionRewritten {
        /// The revision.
        revision: u64,
    },
    /// The head went backwards across a restart: committed events were lost.
    HeadWentBack {
        /// The highest revision read before.
        before: u64,
        /// The head after the restart.
        after: u64,
    },
    /// A watch delivered something other than the log's next event of its kind.
    Watch {
        /// Which watch (`<kind> session <n>`).
        watch: String,
        /// What went wrong.
        problem: String,
    },
    /// The projection differs from a rebuild from the log.
    ProjectionDiverged {
        /// The hashes or the verify error.
        detail: String,
    },
    /// A pod's `spec.nodeName` changed (or was cleared) once set.
    PodRebound {
        /// `namespace/name`.
        pod: String,
        /// Its uid.
        uid: String,
        /// The first node.
        from: String,
        /// The later one (`""` when cleared).
        to: String,
        /// The revision of the change.
        revision: u64,
    },
    /// The scheduled pods on a node request more than its allocatable.
    NodeOvercommitted {
        /// The node.
        node: String,
        /// `cpu`, `memory` or `pods`.
        resource: &'static str,
        /// Sum of requests (milli-units for cpu, bytes for memory, a count for pods).
        requested: i64,
        /// Allocatable in the same unit.
        allocatable: i64,
        /// The revision of the binding that overcommitted it.
        revision: u64,
    },
    /// A node was marked NotReady/Unknown although its lease had been renewed within the
    /// grace period.
    NodeMarkedWhileRenewing {
        /// The node.
        node: String,
        /// The Ready status written (`False` or `Unknown`).
        status: String,
        /// Milliseconds since the last renewal was committed.
        renewed_ago_ms: i64,
        /// The revision of the marking.
        revision: u64,
    },
    /// A controller wrote while another identity held its leader Lease.
    ActedWithoutLease {
        /// The Lease (`namespace/name`).
        lease: String,
        /// The identity that wrote.
        identity: String,
        /// The holder at that revision (`""` for none).
        holder: String,
        /// The revision of the write.
        revision: u64,
    },
    /// An object whose owners are all gone was not collected.
    OrphanNotCollected {
        /// `kind namespace/name`.
        object: String,
        /// The owner uids it still references.
        owners: Vec<String>,
    },
    /// The liveness phase did not converge.
    NotConverged {
        /// What was still not true at the deadline.
        detail: String,
    },
    /// A checker of the test's own ([`user::Checker`]) found a violation.
    User {
        /// The checker's name.
        checker: &'static str,
        /// Its message.
        message: String,
    },
    /// Two members claimed to lead the same Raft term.
    TwoLeaders {
        /// The term.
        term: u64,
        /// The member first seen leading it.
        first: u64,
        /// The other member that claimed it.
        second: u64,
    },
    /// A committed Raft entry changed (store/src/raft/check.rs's text).
    CommittedEntryChanged {
        /// The store checker's violation.
        detail: String,
    },
    /// Two members showed different projection hashes at the same revision.
    MembersDiverged {
        /// The revision.
        revision: u64,
        /// The member first seen at it.
        first: u64,
        /// Its hash.
        first_hash: u64,
        /// The member that differs.
        member: u64,
        /// Its hash.
        hash: u64,
    },
    /// The client history of store operations has no linearization.
    NotLinearizable {
        /// The checker's explanation for one key.
        detail: String,
    },
    /// A node crashed (a panic) or the store failed to reopen.
    Crashed {
        /// The node.
        node: String,
        /// The panic or error message.
        message: String,
    },
}

impl Violation {
    /// Its class.
    pub fn class(&self) -> Class {
        match self {
            Violation::Crashed { .. } => Class::Crash,
            Violation::NotConverged { .. } | Violation::OrphanNotCollected { .. } => {
                Class::Liveness
            }
            _ => Class::Correctness,
        }
    }

    /// The checker that found it.
    pub fn checker(&self) -> &'static str {
        match self {
            Violation::AckedWriteLost { .. } | Violation::AckedDeleteLost { .. } => {
                acked_writes::NAME
            }
            Violation::RevisionGap { .. }
            | Violation::RevisionRewritten { .. }
            | Violation::HeadWentBack { .. } => revisions::NAME,
            Violation::Watch { .. } => watch_order::NAME,
            Violation::ProjectionDiverged { .. } => projection::NAME,
            Violation::PodRebound { .. } => binding::NAME,
            Violation::NodeOvercommitted { .. } => capacity::NAME,
            Violation::NodeMarkedWhileRenewing { .. } => node_lease::NAME,
            Violation::ActedWithoutLease { .. } => leader::NAME,
            Violation::OrphanNotCollected { .. } => orphans::NAME,
            Violation::TwoLeaders { .. } => raft_leader::NAME,
            Violation::CommittedEntryChanged { .. } => committed::NAME,
            Violation::MembersDiverged { .. } => member_state::NAME,
            Violation::NotLinearizable { .. } => linearizability::NAME,
            Violation::NotConverged { .. } => "liveness",
            Violation::Crashed { .. } => "crash",
            Violation::User { checker, .. } => checker,
        }
    }
}

impl fmt::Display for Violation {
    #[allow(clippy::too_many_lines, reason = "one arm per violation")]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::AckedWriteLost {
                revision,
                key,
                found,
            } => write!(
                f,
                "acknowledged write of {key} at revision {revision} is not in the log: {found}"
            ),
            Violation::AckedDeleteLost { key, uid, found } => {
                write!(
                    f,
                    "acknowledged delete of {key} (uid {uid}) is not in the log: {found}"
                )
            }
            Violation::RevisionGap { expected, found } => {
                write!(f, "log gap: expected revision {expected}, found {found}")
            }
            Violation::RevisionRewritten { revision } => {
                write!(
                    f,
                    "revision {revision} holds a different event than when first read"
                )
            }
            Violation::HeadWentBack { before, after } => write!(
                f,
                "head went back from {before} to {after}: committed events were lost"
            ),
            Violation::Watch { watch, problem } => write!(f, "watch {watch}: {problem}"),
            Violation::ProjectionDiverged { detail } => {
                write!(
                    f,
                    "projection differs from a rebuild from the log: {detail}"
                )
            }
            Violation::PodRebound {
                pod,
                uid,
                from,
                to,
                revision,
            } => write!(
                f,
                "pod {pod} (uid {uid}) bound to {from} was changed to {to:?} at revision {revision}"
            ),
            Violation::NodeOvercommitted {
                node,
                resource,
                requested,
                allocatable,
                revision,
            } => write!(
                f,
                "node {node} overcommitted on {resource} at revision {revision}: requests {requested} > allocatable {allocatable}"
            ),
            Violation::NodeMarkedWhileRenewing {
                node,
                status,
                renewed_ago_ms,
                revision,
            } => write!(
                f,
                "node {node} marked Ready={status} at revision {revision} although its lease was renewed {renewed_ago_ms} ms before"
            ),
            Violation::ActedWithoutLease {
                lease,
                identity,
                holder,
                revision,
            } => write!(
                f,
                "{identity} wrote at revision {revision} while lease {lease} was held by {holder:?}"
            ),
            Violation::OrphanNotCollected { object, owners } => write!(
                f,
                "{object} still exists although its owners {owners:?} are gone"
            ),
            Violation::TwoLeaders {
                term,
                first,
                second,
            } => write!(
                f,
                "two leaders in term {term}: member {first} and member {second}"
            ),
            Violation::CommittedEntryChanged { detail } | Violation::NotLinearizable { detail } => {
                f.write_str(detail)
            }
            Violation::MembersDiverged {
                revision,
                first,
                first_hash,
                member,
                hash,
            } => write!(
                f,
                "members diverged at revision {revision}: member {first} hash {first_hash:016x}, \
                 member {member} hash {hash:016x}"
            ),
            Violation::NotConverged { detail } => write!(f, "did not converge: {detail}"),
            Violation::Crashed { node, message } => write!(f, "{node} crashed: {message}"),
            Violation::User { message, .. } => f.write_str(message),
        }
    }
}

/// The object an event carries, if any.
pub fn object_of(change: &Change) -> Option<&Object> {
    match change {
        Change::Create(o) | Change::Update { object: o, .. } | Change::Delete(o) => Some(o),
        _ => None,
    }
}

/// `create`, `update`, `delete` or `other`.
pub fn change_name(change: &Change) -> &'static str {
    match change {
        Change::Create(_) => "create",
        Change::Update { .. } => "update",
        Change::Delete(_) => "delete",
        _ => "other",
    }
}

/// The checkers that read only the log, fed every committed event once, in order.
#[derive(Debug, Default)]
pub struct LogCheckers {
    /// Dense, monotonic, never rewritten.
    pub revisions: revisions::RevisionChecker,
    /// Acknowledged writes present.
    pub acked: acked_writes::AckedWritesChecker,
    /// Watches ordered and gap-free (keeps the log's items of the watched kinds).
    pub watches: watch_order::WatchChecker,
    /// Pods never rebound.
    pub binding: binding::BindingChecker,
    /// No node overcommitted.
    pub capacity: capacity::CapacityChecker,
    /// Renewing nodes are never marked.
    pub node_lease: node_lease::NodeLeaseChecker,
    /// Controllers act only while leading.
    pub leader: leader::LeaderChecker,
}

impl LogCheckers {
    /// Feeds one newly read event to every checker.
    pub fn observe(&mut self, event: &Event, out: &mut Vec<Violation>) {
        self.revisions.observe(event, out);
        self.acked.observe(event, out);
        self.watches.observe(event);
        self.binding.observe(event, out);
        self.capacity.observe(event, out);
        self.node_lease.observe(event, out);
        self.leader.observe(event, out);
    }
}

/// Synthetic events for the checkers' unit tests.
#[cfg(test)]
pub(crate) mod tests {
    use skiff_core::event::{Actor, Change, Event, Revision};
    use skiff_core::object::{ConfigMap, MicroTime, Object, ObjectMeta};

    /// An event at `revision`, committed at `revision` seconds, by `admin`.
    pub fn event(revision: u64, change: Change) -> Event {
        event_by(revision, "admin", change)
    }

    /// An event at `revision`, committed at `revision` seconds, by `user`.
    pub fn event_by(revision: u64, user: &str, change: Change) -> Event {
        Event {
            revision: Revision(revision),
            at: MicroTime::from_unix_micros(i64::try_from(revision).unwrap() * 1_000_000),
            actor: Actor::new(user),
            change,
        }
    }

    /// A ConfigMap `default/<name>` with uid `uid-<name>` at `revision`.
    pub fn config_map(name: &str, revision: u64) -> Object {
        ConfigMap {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                resource_version: Some(revision.to_string()),
                ..ObjectMeta::named(name)
            },
            ..ConfigMap::default()
        }
        .into()
    }

    /// The creation of ConfigMap `name` at `revision`.
    pub fn config_map_event(revision: u64, name: &str) -> Event {
        event(revision, Change::Create(config_map(name, revision)))
    }

    /// An update of ConfigMap `name` at `revision`.
    pub fn update_event(revision: u64, name: &str) -> Event {
        event(
            revision,
            Change::Update {
                object: config_map(name, revision),
                create_revision: Revision(1),
                version: 2,
            },
        )
    }
}
