//! The state machine: the store itself. A committed batch is applied by
//! `writer::apply_batch`, the single-node commit path, with the entry's log id written as
//! "applied" in the same redb transaction; blank and membership entries only move that mark
//! (and the membership).

use std::io;
use std::sync::Arc;

use futures_util::StreamExt;
use openraft::EntryPayload;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::type_config::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use redb::{Database, Durability};

use super::log_store::{META_APPLIED, META_MEMBERSHIP, put_meta, read_meta};
use super::{BATCH_FORMAT, Batch, Outcomes, Pending, TypeConfig};
use crate::error::StoreError;
use crate::watch::WatchHub;
use crate::writer::{BatchWrite, apply_batch};
use skiff_core::object::KindRegistry;

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// A Raft snapshot's bytes: a store image (`image.rs`).
pub(crate) type SnapshotData = Vec<u8>;

/// The last snapshot this member built or installed, shared by the state machine and its
/// builders.
pub(crate) type LastSnapshot = Arc<std::sync::Mutex<Option<SnapshotOf<TypeConfig, SnapshotData>>>>;

fn remember(last: &LastSnapshot, snapshot: &SnapshotOf<TypeConfig, SnapshotData>) {
    let mut slot = last
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *slot = Some(openraft::storage::Snapshot {
        meta: snapshot.meta.clone(),
        snapshot: snapshot.snapshot.clone(),
    });
}

/// Builds a snapshot of the store now (as of its applied log id) and remembers it.
fn build_now(
    db: &Database,
    last: &LastSnapshot,
) -> io::Result<SnapshotOf<TypeConfig, SnapshotData>> {
    let (meta, data) = super::image::build(db)?;
    let snapshot = openraft::storage::Snapshot {
        meta,
        snapshot: data,
    };
    remember(last, &snapshot);
    tracing::info!(
        last_log_id = ?snapshot.meta.last_log_id,
        bytes = snapshot.snapshot.len(),
        "raft snapshot built"
    );
    Ok(snapshot)
}

/// One member's store as Raft's state machine.
pub(crate) struct StateMachine {
    db: Arc<Database>,
    hub: WatchHub,
    /// This member's writers waiting for batches they forwarded to the leader.
    pending: Arc<Pending>,
    last_snapshot: LastSnapshot,
    /// The kinds the batches' objects may be of (the member's store's).
    kinds: KindRegistry,
}

impl StateMachine {
    pub(crate) fn new(
        db: Arc<Database>,
        hub: WatchHub,
        pending: Arc<Pending>,
        last_snapshot: LastSnapshot,
        kinds: KindRegistry,
    ) -> Self {
        Self {
            db,
            hub,
            pending,
            last_snapshot,
            kinds,
        }
    }

    /// Moves the applied mark (and the membership) without a batch.
    fn mark(
        &self,
        log_id: LogIdOf<TypeConfig>,
        membership: Option<&StoredMembershipOf<TypeConfig>>,
    ) -> io::Result<()> {
        let mut txn = self.db.begin_write().map_err(io_err)?;
        txn.set_durability(Durability::Immediate).map_err(io_err)?;
        txn.set_quick_repair(true);
        put_meta(&txn, META_APPLIED, &log_id)?;
        if let Some(m) = membership {
            put_meta(&txn, META_MEMBERSHIP, m)?;
        }
        txn.commit().map_err(io_err)
    }

    /// Applies one committed batch; returns its outcomes, unless a writer of this member
    /// forwarded the batch and takes them.
    fn apply_normal(&self, log_id: LogIdOf<TypeConfig>, record: &[u8]) -> io::Result<Outcomes> {
        // The leader encoded this record; one that does not decode is corruption or a bug, and
        // applying anything else would make this member diverge: stop (openraft goes fatal).
        let kinds = &self.kinds;
        let batch: Batch = crate::codec::decode_with(BATCH_FORMAT, record, kinds).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("raft entry {log_id}: {e}"),
            )
        })?;
        let Batch {
            at,
            origin,
            mut writes,
        } = batch;
        let mut refs: Vec<BatchWrite<'_>> = writes.iter_mut().map(|(a, t)| (&*a, t)).collect();
        let mut outcomes = Vec::with_capacity(refs.len());
        let mut events = Vec::new();
        let mark = |txn: &redb::WriteTransaction| -> Result<(), StoreError> {
            put_meta(txn, META_APPLIED, &log_id).map_err(|e| StoreError::Database(e.to_string()))
        };
        apply_batch(
            &self.db,
            at,
            &mut refs,
            &mut outcomes,
            &mut events,
            &mark,
            kinds,
        )
        .map_err(io_err)?;
        self.hub.publish(events);
        Ok(self
            .pending
            .deliver(origin, Outcomes(outcomes))
            .unwrap_or_default())
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = Builder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>), io::Error> {
        let applied = read_meta(&self.db, META_APPLIED)?;
        let membership = read_meta(&self.db, META_MEMBERSHIP)?.unwrap_or_default();
        Ok((applied, membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: futures_util::Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>>
            + Unpin
            + Send,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let log_id = entry.log_id;
            let outcomes = match entry.payload {
                EntryPayload::Blank => {
                    self.mark(log_id, None)?;
                    Outcomes::default()
                }
                EntryPayload::Normal(proposal) => self.apply_normal(log_id, &proposal.0)?,
                EntryPayload::Membership(membership) => {
                    let stored = StoredMembershipOf::<TypeConfig>::new(Some(log_id), membership);
                    self.mark(log_id, Some(&stored))?;
                    Outcomes::default()
                }
            };
            if let Some(responder) = responder {
                responder.send(outcomes);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        Builder {
            db: self.db.clone(),
            last: self.last_snapshot.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        snapshot: Self::SnapshotData,
    ) -> Result<(), io::Error> {
        super::image::install(&self.db, meta, &snapshot)?;
        // The store's history jumped: live watches cannot go on without a gap; they end
        // (`WatchError::Stopped`) and clients watch again from the new state.
        self.hub.reset();
        tracing::info!(last_log_id = ?meta.last_log_id, "raft snapshot installed");
        remember(
            &self.last_snapshot,
            &openraft::storage::Snapshot {
                meta: meta.clone(),
                snapshot,
            },
        );
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, Self::SnapshotData>>, io::Error> {
        let last = self
            .last_snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|s| openraft::storage::Snapshot {
                meta: s.meta.clone(),
                snapshot: s.snapshot.clone(),
            });
        if last.is_some() {
            return Ok(last);
        }
        // None kept in memory (this member restarted): a snapshot of the store now is as good
        // (it covers at least what the log lost to purging), unless nothing was applied yet.
        if read_meta::<LogIdOf<TypeConfig>>(&self.db, META_APPLIED)?.is_none() {
            return Ok(None);
        }
        build_now(&self.db, &self.last_snapshot).map(Some)
    }
}

/// Builds snapshots of the store (a consistent copy in one read transaction).
pub(crate) struct Builder {
    db: Arc<Database>,
    last: LastSnapshot,
}

impl RaftSnapshotBuilder<TypeConfig> for Builder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(
        &mut self,
    ) -> Result<SnapshotOf<TypeConfig, Self::SnapshotData>, io::Error> {
        build_now(&self.db, &self.last)
    }
}
