//! Watch: every event after a revision, in order, with no gaps and no duplicates — first caught
//! up from the log, then live.
//!
//! Live events reach watchers through one bounded broadcast ring ([`WATCH_BUFFER_EVENTS`]). A
//! watcher that falls further behind than the ring is cut off with
//! [`WatchError::Overflowed`] naming the last revision it received; it resumes from there
//! (catch-up then reads the log). The writer never waits for a watcher.
//!
//! A watch can filter by label and field selectors and ask for progress bookmarks
//! ([`WatchOptions`]); [`Watch::next_event`] then says what each event means to this watcher
//! ([`WatchEvent`]): as upstream's watch cache does, an update that makes an object start
//! matching arrives as [`WatchEvent::Added`] and one that makes it stop matching as
//! [`WatchEvent::Deleted`].

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use redb::{Database, ReadableDatabase};
use skiff_core::clock::Clock;
use skiff_core::event::{Change, Event, Revision};
use skiff_core::object::KindRegistry;
use skiff_core::selector::{FieldSelector, Selector};
use tokio::sync::broadcast;

use crate::codec;
use crate::error::{ReadError, StoreError};
use crate::store::{Filter, check_readable, read_meta, scan};
use crate::tables::{self, EVENTS};

/// Live events buffered for slow watchers before they are cut off. upstream etcd buffers 1024
/// events per watch stream (`chanBufLen`) and syncs at most 512 watchers per round
/// (`maxWatchersPerSync`); a shared ring of this size holds several seconds of peak load.
pub const WATCH_BUFFER_EVENTS: usize = 16_384;
/// Events read from the log per catch-up step, so catch-up never holds a read transaction for
/// long or buffers an unbounded history.
pub const CATCH_UP_CHUNK_EVENTS: u64 = 512;
/// Live events taken from the ring in one go once one has arrived (the same bound as a
/// catch-up step).
const LIVE_DRAIN_EVENTS: usize = 512;
const _: () = assert!(LIVE_DRAIN_EVENTS > 0 && CATCH_UP_CHUNK_EVENTS > 0);

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
    /// The ring's size ([`WATCH_BUFFER_EVENTS`] unless the store was opened with
    /// [`crate::OpenOptions::watch_buffer_events`]).
    capacity: usize,
}

impl WatchHub {
    pub(crate) fn new() -> Self {
        Self::with_capacity(WATCH_BUFFER_EVENTS)
    }

    /// A hub whose ring holds `capacity` events (rounded up to a power of two by the ring);
    /// `capacity` must be above zero.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            sender: Arc::new(std::sync::Mutex::new(Some(broadcast::channel(capacity).0))),
            capacity,
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

    /// Ends every live watch with [`WatchError::Stopped`] and lets new ones start: a member of
    /// a replicated store installed a Raft snapshot, so its history jumped (raft/image.rs).
    /// A stopped hub stays stopped.
    pub(crate) fn reset(&self) {
        let mut sender = self.lock();
        if sender.is_some() {
            *sender = Some(broadcast::channel(self.capacity).0);
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

/// Upstream's watch cache sends a bookmark about once a minute to each watcher that asked for
/// them (`allowWatchBookmarks`); the default of [`WatchOptions::bookmark_interval`].
pub const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// What to watch (see [`crate::Store::watch_with`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// Only keys starting with this (`""` for every key, and for compaction records).
    pub prefix: String,
    /// Start after this revision (≥ the compacted revision, ≤ the head).
    pub from: Revision,
    /// Only objects whose labels match; checked like [`crate::ListOptions::label_selector`].
    pub label_selector: Option<Selector>,
    /// Only objects whose fields match; the fields must be supported by the kind `prefix`
    /// names, as for [`crate::ListOptions::field_selector`].
    pub field_selector: Option<FieldSelector>,
    /// Send [`WatchEvent::Bookmark`]s.
    pub bookmarks: bool,
    /// At most one bookmark per this much of the store's clock's monotonic time; the first
    /// comes no sooner than this after the watch starts.
    pub bookmark_interval: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            from: Revision::ZERO,
            label_selector: None,
            field_selector: None,
            bookmarks: false,
            bookmark_interval: BOOKMARK_INTERVAL,
        }
    }
}

/// One thing a watch reports, from the watcher's point of view (upstream `watch.Event` types).
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// The key now exists and matches: a create, a raw put of a new key, or an update that
    /// made the object start matching the selectors.
    Added(Arc<Event>),
    /// The key existed and matched before and after.
    Modified(Arc<Event>),
    /// The key is gone for this watcher: a delete, or an update that made the object stop
    /// matching. In the latter case the event carries the new state (the one that no longer
    /// matches); upstream sends the previous object instead, with the new resourceVersion.
    Deleted(Arc<Event>),
    /// The log recorded a compaction (only to watches of every key without selectors).
    Compaction(Arc<Event>),
    /// Progress: every event at or below this revision has been delivered or filtered out,
    /// and no event delivered later is at or below it (etcd's "Bookmarkable"). Resume from it.
    Bookmark(Revision),
}

impl WatchEvent {
    /// The revision this reports.
    pub fn revision(&self) -> Revision {
        match self {
            WatchEvent::Added(e)
            | WatchEvent::Modified(e)
            | WatchEvent::Deleted(e)
            | WatchEvent::Compaction(e) => e.revision,
            WatchEvent::Bookmark(revision) => *revision,
        }
    }

    /// The log event behind it (none for a bookmark).
    pub fn event(&self) -> Option<&Arc<Event>> {
        match self {
            WatchEvent::Added(e)
            | WatchEvent::Modified(e)
            | WatchEvent::Deleted(e)
            | WatchEvent::Compaction(e) => Some(e),
            WatchEvent::Bookmark(_) => None,
        }
    }
}

/// When the next bookmark may go out.
struct Bookmarks {
    clock: Arc<dyn Clock>,
    interval: Duration,
    /// The highest revision reported: the last delivered event or bookmark.
    reported: Revision,
    /// Clock time (monotonic) before which no bookmark is sent.
    next_due: Duration,
}

/// A stream of events whose key starts with a prefix (`""` for every event, compactions
/// included), optionally filtered by selectors and interleaved with progress bookmarks.
pub struct Watch {
    db: Arc<Database>,
    kinds: KindRegistry,
    prefix: String,
    /// The last revision delivered or skipped: the next event must be `last + 1`.
    last: Revision,
    /// The head revision when the watch started: catch-up reads the log up to it.
    caught_up_to: Revision,
    pending: VecDeque<Arc<Event>>,
    live: broadcast::Receiver<Arc<Event>>,
    failed: Option<WatchError>,
    filter: Filter,
    /// With selectors: the keys whose state as of `last` matches them, to tell a matching
    /// update (Modified) from one that starts (Added) or stops (Deleted) matching. `None` when
    /// the filter selects everything.
    matching: Option<BTreeSet<String>>,
    bookmarks: Option<Bookmarks>,
}

impl Watch {
    /// Starts a watch after `options.from`, subscribing before reading the head so no event
    /// falls between catch-up and live. A selective watch reads which keys match at `from`
    /// in the same read transaction.
    pub(crate) fn start(
        db: Arc<Database>,
        kinds: KindRegistry,
        hub: &WatchHub,
        clock: Arc<dyn Clock>,
        options: WatchOptions,
    ) -> Result<Watch, ReadError> {
        let WatchOptions {
            prefix,
            from,
            label_selector,
            field_selector,
            bookmarks,
            bookmark_interval,
        } = options;
        let filter = Filter::new(&prefix, label_selector.as_ref(), field_selector.as_ref())?;
        let live = hub
            .subscribe()
            .ok_or(ReadError::Fatal(StoreError::Stopped))?;
        let read = db.begin_read()?;
        let head = read_meta(&read, tables::META_HEAD)?;
        check_readable(&read, from)?;
        let matching = if filter.selects_everything() {
            None
        } else {
            let mut keys = BTreeSet::new();
            scan(
                &read,
                &prefix,
                &prefix,
                from,
                head,
                &filter,
                &kinds,
                |entry| {
                    keys.insert(entry.key);
                    true
                },
            )?;
            Some(keys)
        };
        let bookmarks = bookmarks.then(|| Bookmarks {
            next_due: clock.elapsed().saturating_add(bookmark_interval),
            clock,
            interval: bookmark_interval,
            reported: from,
        });
        Ok(Watch {
            db,
            kinds,
            prefix,
            last: from,
            caught_up_to: head,
            pending: VecDeque::new(),
            live,
            failed: None,
            filter,
            matching,
            bookmarks,
        })
    }

    /// The last revision this watch has passed (delivered or filtered out): a bookmark a client
    /// can resume from.
    pub fn bookmark(&self) -> Revision {
        self.last
    }

    /// What `event` (the next one in the log) means to this watcher, if anything; keeps the
    /// set of matching keys up to date.
    fn classify(&mut self, event: Arc<Event>) -> Option<WatchEvent> {
        if let Change::Compact { .. } = event.change {
            return (self.prefix.is_empty() && self.matching.is_none())
                .then_some(WatchEvent::Compaction(event));
        }
        let key = tables::event_key(&event.change)?;
        if !key.starts_with(&self.prefix) {
            return None;
        }
        let Some(matching) = &mut self.matching else {
            return Some(match &event.change {
                Change::Create(_) | Change::PutRaw { version: 1, .. } => WatchEvent::Added(event),
                Change::Update { .. } | Change::PutRaw { .. } => WatchEvent::Modified(event),
                Change::Delete(_) | Change::DeleteRaw { .. } => WatchEvent::Deleted(event),
                Change::Compact { .. } => unreachable!("handled above"),
            });
        };
        let (was, now) = match &event.change {
            Change::Create(object) => {
                let now = self.filter.matches_object(object);
                let was = if now {
                    !matching.insert(key.clone())
                } else {
                    matching.contains(&key)
                };
                assert!(
                    !was,
                    "watch saw {key} alive before its create at {}",
                    event.revision
                );
                (was, now)
            }
            Change::Update { object, .. } => {
                let now = self.filter.matches_object(object);
                let was = if now {
                    !matching.insert(key)
                } else {
                    matching.remove(&key)
                };
                (was, now)
            }
            Change::Delete(object) => {
                let was = matching.remove(&key);
                // The delete carries the last state, which this watch tracked: pair assertion.
                assert_eq!(
                    was,
                    self.filter.matches_object(object),
                    "matching set disagrees with the deleted state of {key} at {}",
                    event.revision
                );
                (was, false)
            }
            // A selective filter never matches raw values.
            Change::PutRaw { .. } | Change::DeleteRaw { .. } => (false, false),
            Change::Compact { .. } => unreachable!("handled above"),
        };
        match (was, now) {
            (false, true) => Some(WatchEvent::Added(event)),
            (true, true) => Some(WatchEvent::Modified(event)),
            (true, false) => Some(WatchEvent::Deleted(event)),
            (false, false) => None,
        }
    }

    /// A bookmark at `last`, if filtered events moved it past what was reported and the
    /// interval has passed.
    fn bookmark_due(&mut self) -> Option<Revision> {
        let bookmarks = self.bookmarks.as_mut()?;
        if self.last <= bookmarks.reported {
            return None;
        }
        let now = bookmarks.clock.elapsed();
        if now < bookmarks.next_due {
            return None;
        }
        bookmarks.reported = self.last;
        bookmarks.next_due = now.saturating_add(bookmarks.interval);
        Some(self.last)
    }

    /// How long to wait for a live event before a bookmark falls due, if one will.
    fn bookmark_wait(&self) -> Option<Duration> {
        let bookmarks = self.bookmarks.as_ref()?;
        (self.last > bookmarks.reported)
            .then(|| bookmarks.next_due.saturating_sub(bookmarks.clock.elapsed()))
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
            let event = codec::decode_event_in(bytes.value(), &self.kinds).map_err(|e| {
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

    /// The next matching event, as the log holds it (bookmarks skipped; an event that made an
    /// object stop matching is returned like any other — use [`Watch::next_event`] to tell).
    /// Returns `Err` once, after which the watch is finished.
    pub async fn next(&mut self) -> Result<Arc<Event>, WatchError> {
        loop {
            if let Some(event) = self.next_event().await?.event() {
                return Ok(event.clone());
            }
        }
    }

    /// The next thing this watcher should see: a change from its point of view, or a
    /// bookmark (if asked for). Returns `Err` once, after which the watch is finished.
    ///
    /// # Guarantees
    ///
    /// Revisions strictly increase; every event after the start that passes the prefix and
    /// selectors is reported exactly once, in order; a bookmark is never at or below an
    /// event reported after it, and bookmarks are at least the bookmark interval apart.
    pub async fn next_event(&mut self) -> Result<WatchEvent, WatchError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.next_inner().await;
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    async fn next_inner(&mut self) -> Result<WatchEvent, WatchError> {
        loop {
            while let Some(event) = self.pending.pop_front() {
                assert_eq!(
                    event.revision,
                    self.last.next(),
                    "watch gap after {}",
                    self.last
                );
                self.last = event.revision;
                if let Some(out) = self.classify(event) {
                    if let Some(bookmarks) = &mut self.bookmarks {
                        bookmarks.reported = self.last;
                    }
                    return Ok(out);
                }
            }
            if let Some(revision) = self.bookmark_due() {
                return Ok(WatchEvent::Bookmark(revision));
            }
            if self.last < self.caught_up_to {
                self.catch_up_chunk()?;
                continue;
            }
            let received = match self.bookmark_wait() {
                None => self.live.recv().await,
                Some(wait) => {
                    let received = tokio::select! {
                        biased;
                        received = self.live.recv() => Some(received),
                        () = tokio::time::sleep(wait) => None,
                    };
                    // Woken for a bookmark: check the clock again.
                    let Some(received) = received else { continue };
                    received
                }
            };
            match received {
                Ok(event) => {
                    if event.revision <= self.last {
                        continue; // already delivered by catch-up
                    }
                    self.pending.push_back(event);
                    // Take what else is already published, so a bookmark reports the latest
                    // progress rather than the first filtered event of a burst.
                    while self.pending.len() < LIVE_DRAIN_EVENTS {
                        match self.live.try_recv() {
                            Ok(event) => self.pending.push_back(event),
                            Err(broadcast::error::TryRecvError::Lagged(_)) => {
                                return Err(WatchError::Overflowed {
                                    resume_from: self.last,
                                });
                            }
                            // Closed is reported by the next `recv`, after these are delivered.
                            Err(
                                broadcast::error::TryRecvError::Empty
                                | broadcast::error::TryRecvError::Closed,
                            ) => break,
                        }
                    }
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
