//! Automatic compaction: every [`CompactionPolicy::interval`], compact the log to the newest
//! revision whose event is older than [`CompactionPolicy::retention`], recorded as an event by
//! [`COMPACTOR_ACTOR`].
//!
//! Upstream: kube-apiserver's `--etcd-compaction-interval` (default 5m) compacts etcd
//! periodically, which is why "clusters using etcd 3 preserve changes in the last 5 minutes by
//! default" (API concepts, 410 Gone). skiff keys the window on event time (`Event::at`, the
//! writer's clock) rather than on the revision seen one interval earlier, so the window holds
//! however bursty the writes were.
//!
//! Time: the cutoff is read from the store's [`skiff_core::clock::Clock`]; the wait between
//! rounds is a runtime timer (`tokio::time::sleep`, virtual under madsim). The decision of one
//! round is [`crate::Store::compaction_target`], a read of the log given `now`, testable
//! without timers.

use std::time::Duration;

use redb::ReadableDatabase;
use skiff_core::event::{Actor, Change, Revision};
use skiff_core::object::MicroTime;
use tokio::sync::oneshot;

use crate::error::{ReadError, StoreError, WriteError};
use crate::store::{Store, decode_event_row, fatal, read_meta};
use crate::tables::{self, EVENTS};

/// Upstream kube-apiserver `--etcd-compaction-interval` default.
pub const COMPACTION_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// History kept: upstream's de facto window, one compaction interval.
pub const COMPACTION_RETENTION: Duration = Duration::from_secs(5 * 60);
/// The actor compaction events are recorded under.
pub const COMPACTOR_ACTOR: &str = "system:compactor";
/// Probes of one binary search at most: the log's revisions fit in a `u64`.
const SEARCH_STEPS_MAX: u32 = 64;

/// When and how much to compact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// Time between compaction rounds (runtime timer).
    pub interval: Duration,
    /// Events newer than this (by the store's clock) are never compacted away.
    pub retention: Duration,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            interval: COMPACTION_INTERVAL,
            retention: COMPACTION_RETENTION,
        }
    }
}

/// The largest `r` in `lo..=hi` with `at(r) < cutoff`, by binary search (`None` if even `lo`
/// is not older). Event times are the writer's wall clock, non-decreasing unless the clock is
/// stepped back; after such a step the search still returns a revision older than the cutoff,
/// just not necessarily the newest one.
///
/// # Panics
///
/// If the search takes more than 64 probes (impossible for a `u64` range).
pub fn newest_before<E>(
    lo: u64,
    hi: u64,
    cutoff: MicroTime,
    mut at: impl FnMut(u64) -> Result<MicroTime, E>,
) -> Result<Option<u64>, E> {
    if lo > hi || at(lo)? >= cutoff {
        return Ok(None);
    }
    // Invariant: at(older) < cutoff; newer is hi + 1 or a probe with at(newer) >= cutoff.
    let (mut older, mut newer) = (lo, hi + 1);
    let mut steps = 0;
    while newer - older > 1 {
        steps += 1;
        assert!(
            steps <= SEARCH_STEPS_MAX,
            "binary search over {lo}..={hi} did not end"
        );
        let mid = older + (newer - older) / 2;
        if at(mid)? < cutoff {
            older = mid;
        } else {
            newer = mid;
        }
    }
    Ok(Some(older))
}

/// A running compactor ([`Store::start_compactor`]). Dropping it stops the task.
pub struct Compactor {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Compactor {
    /// Stops the task and waits until it has ended (a round in progress finishes first).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Store {
    /// The revision a compaction round at `now` would compact to: the newest revision whose
    /// event time is before `now - retention`, found by binary search over the dense part of
    /// the log (from the compacted revision to the head). `None` when that is not above the
    /// compacted revision, or when it would only drop the previous compaction's own record
    /// (so an idle store stops compacting instead of recording a compaction every round).
    pub fn compaction_target(
        &self,
        now: MicroTime,
        retention: Duration,
    ) -> Result<Option<Revision>, ReadError> {
        let retention_us = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
        let cutoff = MicroTime::from_unix_micros(now.unix_micros.saturating_sub(retention_us));
        let read = self.db.begin_read()?;
        let head = read_meta(&read, tables::META_HEAD)?;
        let compacted = read_meta(&read, tables::META_COMPACTED)?;
        let events = read.open_table(EVENTS)?;
        let event_at = |revision: u64| -> Result<_, ReadError> {
            let Some(bytes) = events.get(revision)? else {
                return Err(StoreError::Corrupt {
                    what: "event",
                    revision,
                    reason: "missing from the log".into(),
                }
                .into());
            };
            decode_event_row(revision, bytes.value(), &self.kinds)
        };
        let found = newest_before(compacted.0.max(1), head.0, cutoff, |r| {
            event_at(r).map(|e| e.at)
        })?;
        let Some(target) = found.map(Revision).filter(|t| *t > compacted) else {
            return Ok(None);
        };
        if target.0 == compacted.0 + 1
            && matches!(event_at(target.0)?.change, Change::Compact { .. })
        {
            return Ok(None);
        }
        Ok(Some(target))
    }

    /// One compaction round now (by the store's clock): compacts to
    /// [`Store::compaction_target`] as [`COMPACTOR_ACTOR`]; returns the new compacted revision,
    /// or `None` if there was nothing to do.
    ///
    /// # Errors
    ///
    /// A rejection if another compaction got there first; fatal store errors.
    pub async fn compact_expired(
        &self,
        retention: Duration,
    ) -> Result<Option<Revision>, WriteError> {
        let now = self.clock.now_micro_time();
        let Some(target) = self
            .compaction_target(now, retention)
            .map_err(|e| WriteError::Fatal(fatal(e)))?
        else {
            return Ok(None);
        };
        self.compact(&Actor::new(COMPACTOR_ACTOR), target).await?;
        Ok(Some(target))
    }

    /// Starts compacting automatically under `policy` until the returned [`Compactor`] is
    /// stopped or dropped, or the store stops. The task holds a handle on the store.
    ///
    /// # Panics
    ///
    /// If `policy.interval` is zero (the task would spin).
    pub fn start_compactor(&self, policy: CompactionPolicy) -> Compactor {
        assert!(
            !policy.interval.is_zero(),
            "compaction interval must be positive"
        );
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(self.clone(), policy, stopped));
        Compactor {
            stop: Some(stop),
            task: Some(task),
        }
    }
}

async fn run(store: Store, policy: CompactionPolicy, mut stopped: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            () = tokio::time::sleep(policy.interval) => {}
        }
        match store.compact_expired(policy.retention).await {
            Ok(Some(below)) => tracing::info!(below = below.0, "compacted expired history"),
            Ok(None) => {}
            // Another compaction got there first; the next round starts from it.
            Err(WriteError::Rejected(rejection)) => {
                tracing::debug!(%rejection, "compaction round skipped");
            }
            Err(WriteError::Fatal(error)) => {
                tracing::warn!(%error, "compactor stopped");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(times: &[i64], lo: u64, hi: u64, cutoff: i64) -> Option<u64> {
        newest_before::<()>(lo, hi, MicroTime::from_unix_micros(cutoff), |r| {
            Ok(MicroTime::from_unix_micros(
                times[usize::try_from(r).unwrap()],
            ))
        })
        .unwrap()
    }

    #[test]
    fn newest_before_finds_the_last_revision_older_than_the_cutoff() {
        // Index = revision; revision 0 unused.
        let times = [0, 10, 10, 20, 30, 30, 30, 40];
        assert_eq!(search(&times, 1, 7, 5), None);
        assert_eq!(search(&times, 1, 7, 10), None);
        assert_eq!(search(&times, 1, 7, 11), Some(2));
        assert_eq!(search(&times, 1, 7, 30), Some(3));
        assert_eq!(search(&times, 1, 7, 31), Some(6));
        assert_eq!(search(&times, 1, 7, 1_000), Some(7));
        assert_eq!(search(&times, 4, 7, 31), Some(6));
        assert_eq!(search(&times, 5, 4, 1_000), None);
    }

    #[test]
    fn newest_before_agrees_with_a_linear_scan() {
        let times: Vec<i64> = (0..200).map(|i| i / 3 * 7).collect();
        for cutoff in 0..500 {
            for lo in [1_u64, 2, 50, 199] {
                let linear = (lo..200)
                    .filter(|r| times[usize::try_from(*r).unwrap()] < cutoff)
                    .max();
                assert_eq!(
                    search(&times, lo, 199, cutoff),
                    linear,
                    "cutoff {cutoff} lo {lo}"
                );
            }
        }
    }
}
