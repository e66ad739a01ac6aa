//! Watch: every event after a revision, in order, with no gaps and no duplicates — first caught
//! up from the log, then live.
//!
//! Live events reach each watcher through its own bounded queue ([`WATCH_BUFFER_EVENTS`]),
//! holding only the events that can concern it (the hub indexes watchers by prefix, and by
//! pinned name or pod node: see `WatchHub`). A watcher that falls further behind than its
//! queue is cut off with [`WatchError::Overflowed`] naming the last revision it received; it
//! resumes from there (catch-up then reads the log). The writer never waits for a watcher.
//!
//! A watch can filter by label and field selectors and ask for progress bookmarks
//! ([`WatchOptions`]); [`Watch::next_event`] then says what each event means to this watcher
//! ([`WatchEvent`]): as upstream's watch cache does, an update that makes an object start
//! matching arrives as [`WatchEvent::Added`] and one that makes it stop matching as
//! [`WatchEvent::Deleted`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use redb::{Database, ReadableDatabase};
use skiff_core::clock::Clock;
use skiff_core::event::{Change, Event, Revision};
use skiff_core::object::{KindRegistry, Object};
use skiff_core::selector::{FieldSelector, Selector};
use tokio::sync::Notify;

use crate::codec;
use crate::error::{ReadError, StoreError};
use crate::store::{Filter, check_readable, read_meta, scan};
use crate::tables::{self, EVENTS};

/// Live events buffered for a slow watcher before it is cut off. upstream etcd buffers 1024
/// events per watch stream (`chanBufLen`) and syncs at most 512 watchers per round
/// (`maxWatchersPerSync`); a queue of this size holds several seconds of peak load.
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

/// The writer's side: publishes committed events in revision order. Stopping the hub ends
/// every live watch with [`WatchError::Stopped`].
///
/// Each watcher has its own queue, and the hub indexes watchers by key prefix, so a watcher
/// is handed (and woken for) only the events that can concern it: those under its prefix
/// and, when its field selector pins `metadata.name`, those of objects of that name, or when
/// it pins a pod's `spec.nodeName`, those of pods on that node plus every later change of a
/// pod it was handed on that node (the pod left the node or was deleted). Upstream's watch
/// cache does the same for pods: it indexes watchers by the `spec.nodeName` of their field
/// selector (`pkg/registry/core/pod/storage/storage.go` registers the `spec.nodeName`
/// trigger; `staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go` dispatches an event
/// to the watchers of the old and the new object's node). Everything a watcher was not
/// handed cannot change what it reports; it still counts as passed for its bookmarks, through
/// the revision published last.
#[derive(Clone)]
pub(crate) struct WatchHub {
    state: Arc<std::sync::Mutex<HubState>>,
    /// How many events each watcher's queue holds ([`WATCH_BUFFER_EVENTS`] unless the store
    /// was opened with [`crate::OpenOptions::watch_buffer_events`]).
    capacity: usize,
}

/// What the hub knows of its watchers.
struct HubState {
    /// False once stopped: no new watches, every live one ended.
    open: bool,
    /// The revision of the last event published (zero after a reset): every event at or below
    /// it is in the queue of each watcher it concerns.
    published: Revision,
    next_id: u64,
    subscribers: BTreeMap<u64, Subscriber>,
    /// Watchers by prefix.
    groups: BTreeMap<String, Group>,
    /// Watchers to wake at the next publish, whatever it holds (a bookmark waits for progress).
    progress_waiters: BTreeSet<u64>,
}

/// One watcher, as the hub indexes it.
struct Subscriber {
    prefix: String,
    interest: Interest,
    slot: Arc<Slot>,
}

/// Which events under its prefix a watcher can care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Interest {
    /// All of them (compaction records too, under the prefix `""`).
    All,
    /// Those of objects with this `metadata.name` (the field selector requires it; a key's
    /// name never changes, raw values never match a selector).
    Name(String),
    /// Those of pods whose `spec.nodeName` is this (the field selector requires it), and every
    /// later change of a pod handed to the watcher on that node.
    Node(String),
}

/// The watchers of one prefix.
#[derive(Default)]
struct Group {
    all: BTreeSet<u64>,
    by_name: BTreeMap<String, BTreeSet<u64>>,
    by_node: BTreeMap<String, BTreeSet<u64>>,
    /// Pod key → the node watchers its last published state was handed to (those of its
    /// node): they see its next change whatever it is.
    holding: BTreeMap<String, BTreeSet<u64>>,
}

impl Group {
    fn is_empty(&self) -> bool {
        self.all.is_empty() && self.by_name.is_empty() && self.by_node.is_empty()
    }

    /// The watchers of this group `event` (under the group's prefix, key `key`) concerns;
    /// keeps `holding` up to date.
    fn route(&mut self, key: &str, change: &Change, targets: &mut BTreeSet<u64>) {
        targets.extend(self.all.iter().copied());
        let (object, deleted) = match change {
            Change::Create(o) | Change::Update { object: o, .. } => (o, false),
            Change::Delete(o) => (o, true),
            // Raw values never pass a selector; compactions go to `all` of `""` only.
            Change::PutRaw { .. } | Change::DeleteRaw { .. } | Change::Compact { .. } => return,
        };
        if let Some(ids) = object
            .metadata()
            .name
            .as_deref()
            .and_then(|name| self.by_name.get(name))
        {
            targets.extend(ids.iter().copied());
        }
        if self.by_node.is_empty() && self.holding.is_empty() {
            return;
        }
        if let Object::Pod(pod) = object {
            if let Some(previous) = self.holding.remove(key) {
                targets.extend(previous);
            }
            if !deleted
                && let Some(ids) = pod
                    .spec
                    .node_name
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .and_then(|node| self.by_node.get(node))
            {
                targets.extend(ids.iter().copied());
                self.holding.insert(key.to_owned(), ids.clone());
            }
        }
    }
}

/// One watcher's queue of events handed to it.
pub(crate) struct Slot {
    state: std::sync::Mutex<SlotState>,
    notify: Notify,
    /// How many events may wait before the watcher is cut off.
    limit: usize,
}

#[derive(Default)]
struct SlotState {
    events: VecDeque<Arc<Event>>,
    end: Option<SlotEnd>,
}

/// Why a watcher's queue takes no more events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotEnd {
    /// More than the queue's limit waited: the watcher fell behind.
    Overflowed,
    /// The hub stopped or reset.
    Stopped,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, event: &Arc<Event>) {
        let mut state = self.lock();
        if state.end.is_some() {
            return;
        }
        if state.events.len() >= self.limit {
            state.events.clear();
            state.end = Some(SlotEnd::Overflowed);
        } else {
            state.events.push_back(event.clone());
        }
        drop(state);
        self.notify.notify_one();
    }

    fn end(&self, end: SlotEnd) {
        let mut state = self.lock();
        if state.end.is_none() {
            state.end = Some(end);
        }
        drop(state);
        self.notify.notify_one();
    }
}

/// What a watcher finds in its queue.
enum Take {
    /// Events handed to it, in revision order.
    Events(Vec<Arc<Event>>),
    /// Nothing: every event it was handed is taken; `published` is the revision published
    /// last, which every event it cares about up to there has been handed already.
    Idle { published: Revision },
    /// The queue ended (after everything handed before was taken, unless it overflowed).
    End(SlotEnd),
}

/// A watcher's registration; dropping it unregisters.
struct Subscription {
    hub: WatchHub,
    id: u64,
    slot: Arc<Slot>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.id);
    }
}

impl Subscription {
    /// Takes up to `max` queued events. When there are none and `progress_after` is given and
    /// nothing was published past it, the next publish wakes this watcher whatever it holds.
    fn take(&self, max: usize, progress_after: Option<Revision>) -> Take {
        let mut hub = self.hub.lock();
        let mut slot = self.slot.lock();
        if !slot.events.is_empty() {
            let n = slot.events.len().min(max);
            return Take::Events(slot.events.drain(..n).collect());
        }
        if let Some(end) = slot.end {
            return Take::End(end);
        }
        if progress_after.is_some_and(|after| hub.published <= after) {
            hub.progress_waiters.insert(self.id);
        }
        Take::Idle {
            published: hub.published,
        }
    }
}

impl WatchHub {
    pub(crate) fn new() -> Self {
        Self::with_capacity(WATCH_BUFFER_EVENTS)
    }

    /// A hub whose watchers' queues hold `capacity` events each; `capacity` must be above
    /// zero.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            state: Arc::new(std::sync::Mutex::new(HubState {
                open: true,
                published: Revision::ZERO,
                next_id: 0,
                subscribers: BTreeMap::new(),
                groups: BTreeMap::new(),
                progress_waiters: BTreeSet::new(),
            })),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands each event, in order, to the watchers it concerns.
    pub(crate) fn publish(&self, events: Vec<Arc<Event>>) {
        let mut state = self.lock();
        if !state.open {
            return;
        }
        let HubState {
            published,
            subscribers,
            groups,
            progress_waiters,
            ..
        } = &mut *state;
        let mut targets = BTreeSet::new();
        for event in events {
            targets.clear();
            match tables::event_key(&event.change) {
                Some(key) => {
                    for (prefix, group) in groups.iter_mut() {
                        if key.starts_with(prefix.as_str()) {
                            group.route(&key, &event.change, &mut targets);
                        }
                    }
                }
                None => {
                    if let Some(group) = groups.get("") {
                        targets.extend(group.all.iter().copied());
                    }
                }
            }
            for id in &targets {
                if let Some(subscriber) = subscribers.get(id) {
                    subscriber.slot.push(&event);
                }
            }
            *published = (*published).max(event.revision);
        }
        for id in std::mem::take(progress_waiters) {
            if let Some(subscriber) = subscribers.get(&id) {
                subscriber.slot.notify.notify_one();
            }
        }
    }

    /// Ends every live watch with [`WatchError::Stopped`] and lets new ones start: a member of
    /// a replicated store installed a Raft snapshot, so its history jumped (raft/image.rs).
    /// A stopped hub stays stopped.
    pub(crate) fn reset(&self) {
        let mut state = self.lock();
        if state.open {
            Self::end_all(&mut state);
        }
    }

    /// Ends every live watch (the store stopped).
    pub(crate) fn stop(&self) {
        let mut state = self.lock();
        state.open = false;
        Self::end_all(&mut state);
    }

    fn end_all(state: &mut HubState) {
        for subscriber in std::mem::take(&mut state.subscribers).into_values() {
            subscriber.slot.end(SlotEnd::Stopped);
        }
        state.groups.clear();
        state.progress_waiters.clear();
        state.published = Revision::ZERO;
    }

    /// Registers a watcher of `prefix`. `under_lock` runs while no event can be published:
    /// it reads the store's head and returns, for a [`Interest::Node`] watcher, the keys under
    /// `prefix` of the pods matching its filter at that head (the pods it holds).
    fn subscribe<T>(
        &self,
        prefix: &str,
        interest: Interest,
        under_lock: impl FnOnce() -> Result<(T, Vec<String>), ReadError>,
    ) -> Result<(Subscription, T), ReadError> {
        let mut state = self.lock();
        if !state.open {
            return Err(ReadError::Fatal(StoreError::Stopped));
        }
        let (value, held) = under_lock()?;
        let id = state.next_id;
        state.next_id += 1;
        let slot = Arc::new(Slot {
            state: std::sync::Mutex::new(SlotState::default()),
            notify: Notify::new(),
            limit: self.capacity,
        });
        let group = state.groups.entry(prefix.to_owned()).or_default();
        match &interest {
            Interest::All => {
                group.all.insert(id);
            }
            Interest::Name(name) => {
                group.by_name.entry(name.clone()).or_default().insert(id);
            }
            Interest::Node(node) => {
                group.by_node.entry(node.clone()).or_default().insert(id);
                for key in held {
                    group.holding.entry(key).or_default().insert(id);
                }
            }
        }
        state.subscribers.insert(
            id,
            Subscriber {
                prefix: prefix.to_owned(),
                interest,
                slot: slot.clone(),
            },
        );
        Ok((
            Subscription {
                hub: self.clone(),
                id,
                slot,
            },
            value,
        ))
    }

    fn unsubscribe(&self, id: u64) {
        let mut state = self.lock();
        state.progress_waiters.remove(&id);
        let Some(subscriber) = state.subscribers.remove(&id) else {
            return;
        };
        let Some(group) = state.groups.get_mut(&subscriber.prefix) else {
            return;
        };
        let remove = |map: &mut BTreeMap<String, BTreeSet<u64>>, key: &str| {
            if let Some(ids) = map.get_mut(key) {
                ids.remove(&id);
                if ids.is_empty() {
                    map.remove(key);
                }
            }
        };
        match &subscriber.interest {
            Interest::All => {
                group.all.remove(&id);
            }
            Interest::Name(name) => remove(&mut group.by_name, name),
            Interest::Node(node) => {
                remove(&mut group.by_node, node);
                group.holding.retain(|_, ids| {
                    ids.remove(&id);
                    !ids.is_empty()
                });
            }
        }
        if group.is_empty() {
            state.groups.remove(&subscriber.prefix);
        }
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
    /// The timer that wakes a waiting watcher when `next_due` comes, kept across waits.
    alarm: Option<Alarm>,
}

/// One timer per bookmark deadline, kept across waits. A fresh `sleep` per wait would queue
/// one timer per wake-up (every live event handed to the watcher), each left in madsim's timer
/// heap until the bookmark deadline and each waking the watcher again when it fires; and under
/// madsim every poll of a pending `Sleep` queues another timer. So the sleep is polled only to
/// register (first time, or another task's waker) and once its deadline has passed. tokio's own
/// `Sleep` keeps one registration and may return early for cooperative scheduling without
/// registering, so there it is polled every time.
struct Alarm {
    /// The clock time (`Bookmarks::next_due`) this timer is armed for.
    due: Duration,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// The waker the pending `Sleep` was last polled with (its timer wakes that one).
    registered: Option<std::task::Waker>,
}

impl Alarm {
    /// Ready once the deadline has passed.
    fn poll_due(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let must_poll = !cfg!(madsim)
            || self
                .registered
                .as_ref()
                .is_none_or(|w| !w.will_wake(cx.waker()))
            || self.sleep.is_elapsed();
        if !must_poll {
            return std::task::Poll::Pending;
        }
        self.registered = Some(cx.waker().clone());
        self.sleep.as_mut().poll(cx)
    }
}

/// A stream of events whose key starts with a prefix (`""` for every event, compactions
/// included), optionally filtered by selectors and interleaved with progress bookmarks.
pub struct Watch {
    db: Arc<Database>,
    kinds: KindRegistry,
    prefix: String,
    /// Every event up to here was delivered or filtered out.
    last: Revision,
    /// The head revision when the watch started: catch-up reads the log up to it.
    caught_up_to: Revision,
    pending: VecDeque<Arc<Event>>,
    live: Subscription,
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
        let interest = filter.interest();
        let (live, (read, head)) = hub.subscribe(&prefix, interest.clone(), || {
            let read = db.begin_read()?;
            let head = read_meta(&read, tables::META_HEAD)?;
            check_readable(&read, from)?;
            let mut pods_on_node = Vec::new();
            if let Interest::Node(_) = interest {
                scan(
                    &read,
                    &prefix,
                    &prefix,
                    head,
                    head,
                    &filter,
                    &kinds,
                    |entry| {
                        pods_on_node.push(entry.key);
                        true
                    },
                )?;
            }
            Ok(((read, head), pods_on_node))
        })?;
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
            alarm: None,
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
                // Catch-up reads the log without gaps (checked there); live events skip
                // what this watcher was not handed.
                assert!(
                    event.revision > self.last,
                    "watch went back from {} to {}",
                    self.last,
                    event.revision
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
            // With nothing to report yet, a bookmark waits for the next publish.
            let progress_after = self
                .bookmarks
                .as_ref()
                .filter(|b| self.last <= b.reported)
                .map(|b| b.reported);
            match self.live.take(LIVE_DRAIN_EVENTS, progress_after) {
                Take::Events(events) => {
                    let last = self.last;
                    // Catch-up already delivered those at or below `last`.
                    self.pending
                        .extend(events.into_iter().filter(|e| e.revision > last));
                    continue;
                }
                Take::End(SlotEnd::Overflowed) => {
                    return Err(WatchError::Overflowed {
                        resume_from: self.last,
                    });
                }
                Take::End(SlotEnd::Stopped) => return Err(WatchError::Stopped),
                Take::Idle { published } => {
                    if published > self.last {
                        // Everything up to `published` this watcher cares about was handed
                        // to it and taken: the rest is filtered out.
                        self.last = published;
                        continue;
                    }
                }
            }
            let wait = self.bookmark_wait();
            let notified = self.live.slot.notify.notified();
            match (wait, self.bookmarks.as_mut()) {
                (Some(wait), Some(bookmarks)) => {
                    let due = bookmarks.next_due;
                    let alarm = match &mut bookmarks.alarm {
                        // (A timer that fired before the clock reached `due` is armed anew
                        // for what remains, never polled again as ready.)
                        Some(alarm) if alarm.due == due && !alarm.sleep.is_elapsed() => alarm,
                        slot => slot.insert(Alarm {
                            due,
                            sleep: Box::pin(tokio::time::sleep(wait)),
                            registered: None,
                        }),
                    };
                    // Woken for a bookmark or an event: look again.
                    tokio::select! {
                        biased;
                        () = notified => {}
                        () = std::future::poll_fn(|cx| alarm.poll_due(cx)) => {}
                    }
                }
                _ => notified.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Backing, Op, Store};
    use skiff_core::clock::ManualClock;
    use skiff_core::event::Actor;
    use skiff_core::object::{Container, Pod};

    const PODS: &str = "/registry/pods/";

    fn pod(name: &str, node: Option<&str>, app: &str) -> Object {
        let mut pod = Pod::new(name, vec![Container::new("c", "nginx")]);
        pod.metadata.namespace = Some("default".into());
        pod.metadata.labels.insert("app".into(), app.into());
        pod.spec.node_name = node.map(str::to_owned);
        pod.into()
    }

    fn update(object: Object) -> Op {
        Op::Update {
            object,
            expected: None,
        }
    }

    /// The revisions waiting in a watcher's queue: what the hub handed it.
    fn handed(watch: &Watch) -> Vec<u64> {
        watch
            .live
            .slot
            .lock()
            .events
            .iter()
            .map(|e| e.revision.0)
            .collect()
    }

    fn seen(event: &WatchEvent) -> (&'static str, u64) {
        let kind = match event {
            WatchEvent::Added(_) => "added",
            WatchEvent::Modified(_) => "modified",
            WatchEvent::Deleted(_) => "deleted",
            WatchEvent::Compaction(_) => "compaction",
            WatchEvent::Bookmark(_) => "bookmark",
        };
        (kind, event.revision().0)
    }

    #[tokio::test]
    async fn a_node_watch_is_handed_only_its_nodes_pods_and_sees_pods_arrive_and_leave() {
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let store = Store::open(Backing::Memory, clock.clone()).unwrap();
        let admin = Actor::new("admin");
        let write = |op: Op| store.op(&admin, op);
        write(Op::Create(pod("here", Some("n1"), "web")))
            .await
            .unwrap(); // 1
        write(Op::Create(pod("mover", None, "web"))).await.unwrap(); // 2
        let mut on_n1 = store
            .watch_with(WatchOptions {
                prefix: PODS.into(),
                from: Revision(2),
                field_selector: Some(FieldSelector::parse("spec.nodeName=n1").unwrap()),
                bookmarks: true,
                bookmark_interval: Duration::from_secs(10),
                ..WatchOptions::default()
            })
            .unwrap();
        // Fed live from here: once it has an event, every watcher's queue has it too.
        let mut probe = store.watch("", Revision(2)).unwrap();
        let mut published = async |revision: u64| {
            while probe.next().await.unwrap().revision.0 < revision {}
        };
        // Other nodes' pods and unscheduled ones: nothing is handed to the n1 watch.
        write(Op::Create(pod("there", Some("n2"), "web")))
            .await
            .unwrap(); // 3
        write(update(pod("there", Some("n2"), "db"))).await.unwrap(); // 4
        write(Op::Create(pod("pending", None, "web")))
            .await
            .unwrap(); // 5
        write(Op::Delete {
            key: format!("{PODS}default/there"),
            expected: None,
        })
        .await
        .unwrap(); // 6
        published(6).await;
        assert_eq!(handed(&on_n1), Vec::<u64>::new());
        // Progress past them is still reported, as a bookmark at the last published revision.
        clock.advance(Duration::from_secs(10));
        assert_eq!(seen(&on_n1.next_event().await.unwrap()), ("bookmark", 6));
        // A pod bound to n1 arrives (ADDED); a change of a pod already there (MODIFIED); the
        // pod moved to another node leaves (DELETED, with its new state); once gone, its
        // changes are not handed; a delete of a pod on n1 is.
        write(update(pod("mover", Some("n1"), "web")))
            .await
            .unwrap(); // 7
        write(update(pod("here", Some("n1"), "db"))).await.unwrap(); // 8
        write(update(pod("mover", Some("n3"), "web")))
            .await
            .unwrap(); // 9
        write(update(pod("mover", Some("n3"), "db"))).await.unwrap(); // 10
        write(Op::Delete {
            key: format!("{PODS}default/here"),
            expected: None,
        })
        .await
        .unwrap(); // 11
        published(11).await;
        assert_eq!(handed(&on_n1), [7, 8, 9, 11]);
        let mut events = Vec::new();
        for _ in 0..4 {
            events.push(seen(&on_n1.next_event().await.unwrap()));
        }
        assert_eq!(
            events,
            [
                ("added", 7),
                ("modified", 8),
                ("deleted", 9),
                ("deleted", 11)
            ]
        );
        let WatchEvent::Deleted(left) = store
            .watch_with(WatchOptions {
                prefix: PODS.into(),
                from: Revision(8),
                field_selector: Some(FieldSelector::parse("spec.nodeName=n1").unwrap()),
                ..WatchOptions::default()
            })
            .unwrap()
            .next_event()
            .await
            .unwrap()
        else {
            panic!("expected the move off n1 as DELETED");
        };
        // The same from the log (catch-up): the DELETED carries the state that left.
        assert_eq!(left.revision, Revision(9));
    }

    #[tokio::test]
    async fn a_name_watch_is_handed_only_that_names_events() {
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let store = Store::open(Backing::Memory, clock).unwrap();
        let admin = Actor::new("admin");
        let mut named = store
            .watch_with(WatchOptions {
                prefix: PODS.into(),
                field_selector: Some(FieldSelector::parse("metadata.name=a").unwrap()),
                ..WatchOptions::default()
            })
            .unwrap();
        let mut probe = store.watch("", Revision(0)).unwrap();
        for name in ["b", "a", "c"] {
            store
                .op(&admin, Op::Create(pod(name, Some("n1"), "web")))
                .await
                .unwrap();
        }
        while probe.next().await.unwrap().revision.0 < 3 {}
        assert_eq!(handed(&named), [2]);
        assert_eq!(seen(&named.next_event().await.unwrap()), ("added", 2));
    }

    /// tokio's (paused) time as the store's clock, so a bookmark deadline and the watch's
    /// timer agree.
    #[derive(Debug)]
    struct TokioTime(tokio::time::Instant);

    impl skiff_core::clock::Clock for TokioTime {
        #[allow(
            clippy::disallowed_methods,
            reason = "the test's clock is tokio's paused time"
        )]
        fn elapsed(&self) -> Duration {
            tokio::time::Instant::now().saturating_duration_since(self.0)
        }

        fn wall(&self) -> std::time::SystemTime {
            std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + self.elapsed()
        }
    }

    #[tokio::test(start_paused = true)]
    #[allow(
        clippy::disallowed_methods,
        reason = "the test's clock is tokio's paused time"
    )]
    async fn a_waiting_watch_gets_its_bookmark_at_the_deadline_though_woken_by_filtered_events() {
        let clock = Arc::new(TokioTime(tokio::time::Instant::now()));
        let store = Store::open(Backing::Memory, clock.clone()).unwrap();
        let admin = Actor::new("admin");
        let mut watch = store
            .watch_with(WatchOptions {
                prefix: PODS.into(),
                label_selector: Some(Selector::parse("app=web").unwrap()),
                bookmarks: true,
                bookmark_interval: Duration::from_secs(10),
                ..WatchOptions::default()
            })
            .unwrap();
        // Six filtered-out pods, one at the start and one a second for five seconds: each
        // wakes the waiting watcher, which must keep waiting for the same deadline.
        let writer = async {
            for i in 0..6 {
                if i > 0 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                let name = format!("db{i}");
                store
                    .op(&admin, Op::Create(pod(&name, Some("n1"), "db")))
                    .await
                    .unwrap();
            }
        };
        let waiter = async {
            let event = watch.next_event().await.unwrap();
            (seen(&event), clock.elapsed())
        };
        let ((), got) = tokio::join!(writer, waiter);
        assert_eq!(got, (("bookmark", 6), Duration::from_secs(10)));
        // The next bookmark only once there is progress past 6 and another interval passed.
        store
            .op(&admin, Op::Create(pod("db6", Some("n1"), "db")))
            .await
            .unwrap();
        let event = watch.next_event().await.unwrap();
        assert_eq!(
            (seen(&event), clock.elapsed()),
            (("bookmark", 7), Duration::from_secs(20))
        );
    }
}
