//! Watch: every event after a revision, in order, with no gaps and no duplicates — first caught
//! up from the log, then live.
//!
//! Live events reach watchers through one bounded broadcast ring ([`WATCH_BUFFER_EVENTS`]). A
//! watcher that falls further behind than the ring is cut off with
//! [`WatchError::Overflowed`] naming the last revision it received; it resumes from there
//! (catch-up then reads the log). The writer never waits for a watcher.

use std::sync::Arc;

use redb::{Database, ReadableDatabase};
use skiff_core::event::{Event, Revision};
use tokio::sync::broadcast;

use crate::codec;
use crate::error::{ReadError, StoreError};
use crate::tables::{self, EVENTS, META};

/// Live events buffered for slow watchers before they are cut off. upstream etcd buffers 1024
/// events per watch stream (`chanBufLen`) and syncs at most 512 watchers per round
/// (`maxWatchersPerSync`); a shared ring of this size holds several seconds of peak load.
pub const WATCH_BUFFER_EVENTS: usize = 16_384;
/// Events read from the log per catch-up step, so catch-up never holds a read transaction for
/// long or buffers an unbounded history.
pub const CATCH_UP_CHUNK_EVENTS: u64 = 512;

/// Why a watch ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The start revision is below the compacted one.
    #[error("revision {requested} is compacted (compacted revision {compacted_revision})")]
    Compacted {
        /// The revision the watch asked to start after.
        requested: Revision,
        /// The oldest revision still available.
        compacted_revision: Revision,
    },
    /// The watcher fell behind the live buffer; resume from `resume_from`.
    #[error("watcher fell behind; resume from revision {resume_from}")]
    Overflowed {
        /// The last revision this watcher received (or its start).
        resume_from: Revision,
    },
    /// The store stopped.
    #[error("store stopped")]
    Stopped,
    /// Reading the log failed.
    #[error("{0}")]
    Store(String),
}

/// The writer's side: publishes committed events in revision order. Holds the only sender, so
/// stopping the hub ends every live watch with [`WatchError::Stopped`].
#[derive(Clone)]
pub(crate) struct WatchHub {
    sender: Arc<std::sync::Mutex<Option<broadcast::Sender<Arc<Event>>>>>,
}

impl WatchHub {
    pub(crate) fn new() -> Self {
        Self {
            sender: Arc::new(std::sync::Mutex::new(Some(
                broadcast::channel(WATCH_BUFFER_EVENTS).0,
            ))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<broadcast::Sender<Arc<Event>>>> {
        self.sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn publish(&self, events: Vec<Arc<Event>>) {
        if let Some(sender) = self.lock().as_ref() {
            for event in events {
                // No receivers is fine: nobody is watching.
                let _ = sender.send(event);
            }
        }
    }

    /// Ends every live watch (the store stopped).
    pub(crate) fn stop(&self) {
        self.lock().take();
    }

    pub(crate) fn subscribe(&self) -> Option<broadcast::Receiver<Arc<Event>>> {
        self.lock().as_ref().map(broadcast::Sender::subscribe)
    }
}

/// A stream of events whose key starts with a prefix (`""` for every event, compactions
/// included).
pub struct Watch {
    db: Arc<Database>,
    prefix: String,
    /// The last revision delivered or skipped: the next event must be `last + 1`.
    last: Revision,
    /// The head revision when the watch started: catch-up reads the log up to it.
    caught_up_to: Revision,
    pending: std::collections::VecDeque<Arc<Event>>,
    live: broadcast::Receiver<Arc<Event>>,
    failed: Option<WatchError>,
}

impl Watch {
    /// Starts a watch after `from`, subscribing before reading the head so no event falls
    /// between catch-up and live.
    pub(crate) fn start(
        db: Arc<Database>,
        hub: &WatchHub,
        prefix: String,
        from: Revision,
    ) -> Result<Watch, ReadError> {
        let live = hub
            .subscribe()
            .ok_or(ReadError::Fatal(StoreError::Stopped))?;
        let read = db.begin_read()?;
        let meta = read.open_table(META)?;
        let head = Revision(meta.get(tables::META_HEAD)?.map_or(0, |v| v.value()));
        let compacted = Revision(meta.get(tables::META_COMPACTED)?.map_or(0, |v| v.value()));
        if from < compacted {
            return Err(ReadError::Compacted {
                requested: from,
                compacted_revision: compacted,
            });
        }
        if from > head {
            return Err(ReadError::FutureRevision {
                requested: from,
                head,
            });
        }
        Ok(Watch {
            db,
            prefix,
            last: from,
            caught_up_to: head,
            pending: std::collections::VecDeque::new(),
            live,
            failed: None,
        })
    }

    /// The last revision this watch has passed (delivered or filtered out): a bookmark a client
    /// can resume from.
    pub fn bookmark(&self) -> Revision {
        self.last
    }

    fn matches(&self, event: &Event) -> bool {
        if self.prefix.is_empty() {
            return true;
        }
        tables::event_key(&event.change).is_some_and(|k| k.starts_with(&self.prefix))
    }

    fn catch_up_chunk(&mut self) -> Result<(), WatchError> {
        let start = self.last.0 + 1;
        let end = self.caught_up_to.0.min(self.last.0 + CATCH_UP_CHUNK_EVENTS);
        let store_err = |e: &dyn std::fmt::Display| WatchError::Store(e.to_string());
        let read = self.db.begin_read().map_err(|e| store_err(&e))?;
        let events = read.open_table(EVENTS).map_err(|e| store_err(&e))?;
        let mut expected = start;
        for row in events.range(start..=end).map_err(|e| store_err(&e))? {
            let (rev, bytes) = row.map_err(|e| store_err(&e))?;
            if rev.value() != expected {
                // Compaction removed events after the watch started.
                return Err(WatchError::Compacted {
                    requested: self.last,
                    compacted_revision: Revision(rev.value()),
                });
            }
            let event = codec::decode_event(bytes.value()).map_err(|e| {
                store_err(&StoreError::Corrupt {
                    what: "event",
                    revision: rev.value(),
                    reason: e.to_string(),
                })
            })?;
            expected += 1;
            self.pending.push_back(Arc::new(event));
        }
        if expected != end + 1 {
            return Err(WatchError::Compacted {
                requested: self.last,
                compacted_revision: Revision(end),
            });
        }
        Ok(())
    }

    /// The next matching event. Returns `Err` once, after which the watch is finished.
    pub async fn next(&mut self) -> Result<Arc<Event>, WatchError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.next_inner().await;
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    async fn next_inner(&mut self) -> Result<Arc<Event>, WatchError> {
        loop {
            while let Some(event) = self.pending.pop_front() {
                assert_eq!(
                    event.revision,
                    self.last.next(),
                    "watch gap after {}",
                    self.last
                );
                self.last = event.revision;
                if self.matches(&event) {
                    return Ok(event);
                }
            }
            if self.last < self.caught_up_to {
                self.catch_up_chunk()?;
                continue;
            }
            match self.live.recv().await {
                Ok(event) => {
                    if event.revision <= self.last {
                        continue; // already delivered by catch-up
                    }
                    self.pending.push_back(event);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Err(WatchError::Overflowed {
                        resume_from: self.last,
                    });
                }
                Err(broadcast::error::RecvError::Closed) => return Err(WatchError::Stopped),
            }
        }
    }
}
