//! Informers: one list+watch cache per [`Watched`] kind of a controller, feeding its [`View`]
//! (client-go's reflector). List (in pages) at the current revision, then watch from the
//! list's resourceVersion; when a watch ends, resume it from the last revision seen; when the
//! API says that revision is gone (410 Expired, after compaction), clear the kind and list
//! again. Failures back off like the reflector's.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use skiff_core::client::{Client, ClientError, ListParams, WatchEvent, WatchStream};
use skiff_core::object::{KindInfo, Object};
use skiff_core::rng::SplitMix64;
use skiff_core::status::Reason;

use crate::reconcile::Watched;
use crate::view::{ObjectKey, View};

/// Objects per list page (client-go's pager `defaultPageSize = 500`).
pub const PAGE_SIZE: u64 = 500;
/// First delay after a failed list or watch (client-go reflector:
/// `NewExponentialBackoffManager(800ms, 30s, 2min, 2.0, 1.0)`).
pub const BACKOFF_INITIAL: Duration = Duration::from_millis(800);
/// Largest delay (same source: 30 s).
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The backoff starts over after this long without a failure (same source: 2 min).
pub const BACKOFF_RESET: Duration = Duration::from_secs(120);

/// Exponential backoff with full jitter, reset after a quiet spell (the reflector's
/// backoff manager: initial 800 ms, factor 2, cap 30 s, jitter 1.0, reset after 2 min).
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    next: Duration,
    last_failure: Option<Duration>,
}

impl Backoff {
    /// The wait after a failure at `now`: the current step plus up to as much again (jitter
    /// 1.0) drawn from `rng`; the step doubles up to [`BACKOFF_MAX`].
    pub fn failure(&mut self, now: Duration, rng: &mut SplitMix64) -> Duration {
        if self
            .last_failure
            .is_none_or(|at| now.saturating_sub(at) >= BACKOFF_RESET)
        {
            self.next = BACKOFF_INITIAL;
        }
        self.last_failure = Some(now);
        let step = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        let nanos = u64::try_from(step.as_nanos()).unwrap_or(u64::MAX);
        step + Duration::from_nanos(if nanos == 0 { 0 } else { rng.below(nanos) })
    }
}

/// A running watch's next event, owning the watch so it can be kept across loop turns.
pub(crate) type NextEvent = Pin<Box<dyn Future<Output = (Option<WatchEvent>, LiveWatch)> + Send>>;

/// A list or a watch start not answered within this long failed (kube-apiserver's default
/// `--request-timeout` is 1 minute).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// A watch that delivered nothing, not even a bookmark (the API sends one about once a
/// minute), for this long is taken for dead and resumed (the reflector's watches last
/// `minWatchTimeout` = 5 minutes at least).
pub const WATCH_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// A watch stream with its idle deadline.
pub(crate) struct LiveWatch {
    stream: Box<dyn WatchStream>,
    idle: IdleTimer,
}

impl LiveWatch {
    /// A watch that started at `now` (the runner's clock).
    fn new(stream: Box<dyn WatchStream>, now: Duration) -> Self {
        Self {
            stream,
            idle: IdleTimer::new(now),
        }
    }
}

/// One idle deadline per watch: [`WATCH_IDLE_TIMEOUT`] after the last event. The timer is
/// armed once and moved only when it fires: if an event came after it was armed, it is
/// re-armed as far past its old deadline as that event was past the arming, so it fires
/// exactly [`WATCH_IDLE_TIMEOUT`] after the last event. (A fresh timeout per event would leave
/// one timer per event in the timer heap for five minutes: under madsim a timer stays queued
/// until its deadline, and every poll of a pending `Sleep` queues another.)
struct IdleTimer {
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// The waker the pending `Sleep` was last polled with (its timer wakes that one).
    registered: Option<std::task::Waker>,
    /// The runner's clock when the deadline was set.
    armed_at: Duration,
    /// The runner's clock at the last event.
    last_event: Duration,
}

impl IdleTimer {
    fn new(now: Duration) -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep(WATCH_IDLE_TIMEOUT)),
            registered: None,
            armed_at: now,
            last_event: now,
        }
    }

    /// An event arrived at `now`.
    fn touch(&mut self, now: Duration) {
        self.last_event = self.last_event.max(now);
    }

    /// Ready once [`WATCH_IDLE_TIMEOUT`] passed since the last event.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            // Under madsim every poll of a pending `Sleep` queues one more timer, so the
            // sleep is polled only to register (first time, or another task's waker) and
            // once its deadline has passed. tokio's own `Sleep` keeps one registration, and
            // its poll may return early for cooperative scheduling without registering, so
            // there it is polled every time.
            let must_poll = !cfg!(madsim)
                || self
                    .registered
                    .as_ref()
                    .is_none_or(|w| !w.will_wake(cx.waker()))
                || self.sleep.is_elapsed();
            if !must_poll {
                return Poll::Pending;
            }
            self.registered = Some(cx.waker().clone());
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let moved = self.last_event.saturating_sub(self.armed_at);
            if moved.is_zero() {
                return Poll::Ready(());
            }
            let deadline = self.sleep.deadline() + moved;
            self.sleep.as_mut().reset(deadline);
            self.armed_at = self.last_event;
            self.registered = None;
        }
    }
}

/// The watch's next event; `None` when the stream ended or delivered nothing for
/// [`WATCH_IDLE_TIMEOUT`] since its last event.
pub(crate) fn next_event(mut watch: LiveWatch) -> NextEvent {
    Box::pin(async move {
        let event = {
            let LiveWatch { stream, idle } = &mut watch;
            let mut next = stream.next();
            std::future::poll_fn(|cx| {
                // The stream first, as `timeout` does.
                if let Poll::Ready(event) = next.as_mut().poll(cx) {
                    return Poll::Ready(event);
                }
                idle.poll_idle(cx).map(|()| None)
            })
            .await
        };
        (event, watch)
    })
}

fn timed_out(what: &str) -> ClientError {
    ClientError::Transport(format!("{what}: no answer within {REQUEST_TIMEOUT:?}"))
}

/// A list in progress: every page at one revision.
pub(crate) type Listing =
    Pin<Box<dyn Future<Output = Result<(u64, Vec<Object>), ClientError>> + Send>>;
/// A watch being started.
pub(crate) type Starting =
    Pin<Box<dyn Future<Output = Result<Box<dyn WatchStream>, ClientError>> + Send>>;

/// Where an informer is. Calls in progress are futures the loop polls beside everything
/// else, so a slow list never holds up the workers or the lease renewals.
pub(crate) enum State {
    /// Must list (first start, or after 410 Expired).
    List,
    /// Listing.
    Listing(Listing),
    /// Listed or watched up to `revision`; must (re)start the watch.
    Watch,
    /// Starting the watch.
    Starting(Starting),
    /// Watching.
    Watching(NextEvent),
}

/// What an informer's call in progress came back with.
#[allow(
    clippy::large_enum_variant,
    reason = "one value per completed call, moved straight to its handler"
)]
pub(crate) enum Progress {
    /// A list finished.
    Listed(Result<(u64, Vec<Object>), ClientError>),
    /// A watch started (or did not).
    Started(Result<Box<dyn WatchStream>, ClientError>),
    /// The watch delivered an event, or ended (`None`).
    Delivered(Option<WatchEvent>, LiveWatch),
}

/// One list+watch cache.
pub(crate) struct Informer {
    pub(crate) watched: Watched,
    /// Every event of this kind up to here has been applied to the view.
    pub(crate) revision: u64,
    pub(crate) state: State,
    /// Do not retry before this time.
    pub(crate) not_before: Duration,
    pub(crate) backoff: Backoff,
    /// A list completed at least once.
    pub(crate) synced: bool,
}

impl Informer {
    pub(crate) fn new(watched: Watched) -> Self {
        Self {
            watched,
            revision: 0,
            state: State::List,
            not_before: Duration::ZERO,
            backoff: Backoff::default(),
            synced: false,
        }
    }

    /// Waits to start a list or a watch (maybe not before `not_before`).
    pub(crate) fn idle(&self) -> bool {
        matches!(self.state, State::List | State::Watch)
    }

    /// Needs a list or watch started, and may at `now`.
    pub(crate) fn due(&self, now: Duration) -> bool {
        self.idle() && self.not_before <= now
    }

    fn params(&self) -> ListParams {
        ListParams {
            label_selector: self.watched.label_selector.clone(),
            field_selector: self.watched.field_selector.clone(),
            ..ListParams::default()
        }
    }

    fn failed(&mut self, now: Duration, rng: &mut SplitMix64) {
        self.not_before = now + self.backoff.failure(now, rng);
    }

    /// Starts the list or the watch this informer waits for.
    pub(crate) fn start(&mut self, client: &Arc<dyn Client>, page_size: u64) {
        match self.state {
            State::List => {
                self.state = State::Listing(list(
                    client.clone(),
                    self.watched.resource,
                    self.params(),
                    page_size,
                ));
            }
            State::Watch => {
                let client = client.clone();
                let resource = self.watched.resource;
                let params = ListParams {
                    resource_version: Some(self.revision.to_string()),
                    ..self.params()
                };
                self.state = State::Starting(Box::pin(async move {
                    tokio::time::timeout(REQUEST_TIMEOUT, client.watch(resource, None, params))
                        .await
                        .unwrap_or_else(|_| Err(timed_out("watch")))
                }));
            }
            _ => {}
        }
    }

    /// Polls the call in progress, if any. On completion the state is left at
    /// [`State::Watch`] until the caller hands the result back ([`Informer::listed`],
    /// [`Informer::started`], [`Informer::delivered`]).
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Progress> {
        let progress = match &mut self.state {
            State::Listing(listing) => match listing.as_mut().poll(cx) {
                Poll::Ready(result) => Progress::Listed(result),
                Poll::Pending => return Poll::Pending,
            },
            State::Starting(starting) => match starting.as_mut().poll(cx) {
                Poll::Ready(result) => Progress::Started(result),
                Poll::Pending => return Poll::Pending,
            },
            State::Watching(next) => match next.as_mut().poll(cx) {
                Poll::Ready((event, stream)) => Progress::Delivered(event, stream),
                Poll::Pending => return Poll::Pending,
            },
            State::List | State::Watch => return Poll::Pending,
        };
        self.state = State::Watch;
        Poll::Ready(progress)
    }

    /// A list finished at `revision`: the watch starts from there.
    pub(crate) fn listed(&mut self, revision: u64) {
        self.revision = revision;
        self.synced = true;
        self.state = State::Watch;
    }

    /// A list failed.
    pub(crate) fn list_failed(&mut self, now: Duration, rng: &mut SplitMix64) {
        self.state = State::List;
        self.failed(now, rng);
    }

    /// The watch started from `self.revision`, or not: a 410 means the revision was
    /// compacted, so list again; any other failure retries the watch. Either after the
    /// backoff every restart takes (the reflector's ListAndWatch restarts under its backoff
    /// manager).
    pub(crate) fn started(
        &mut self,
        result: Result<Box<dyn WatchStream>, ClientError>,
        now: Duration,
        rng: &mut SplitMix64,
    ) {
        match result {
            Ok(stream) => self.state = State::Watching(next_event(LiveWatch::new(stream, now))),
            Err(ClientError::Status(s)) if s.reason == Reason::Expired => {
                self.state = State::List;
                self.failed(now, rng);
            }
            Err(_) => {
                self.state = State::Watch;
                self.failed(now, rng);
            }
        }
    }

    /// The watch delivered `event` (or ended with `None`); returns the event to apply, if any.
    pub(crate) fn delivered(
        &mut self,
        event: Option<WatchEvent>,
        mut watch: LiveWatch,
        now: Duration,
        rng: &mut SplitMix64,
    ) -> Option<WatchEvent> {
        match event {
            None => {
                // The stream closed (connection lost, server stopped): resume from the last
                // revision seen, after a backoff.
                self.state = State::Watch;
                self.failed(now, rng);
                None
            }
            Some(WatchEvent::Error(status)) => {
                // 410 Expired: the revision is compacted, list again. Overflowed or an
                // internal error: resume where we were.
                self.state = if status.reason == Reason::Expired {
                    State::List
                } else {
                    State::Watch
                };
                self.failed(now, rng);
                None
            }
            Some(event) => {
                let revision = match &event {
                    WatchEvent::Bookmark(rv) => *rv,
                    WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                        resource_version(o)
                    }
                    WatchEvent::Error(_) => 0,
                };
                self.revision = self.revision.max(revision);
                watch.idle.touch(now);
                self.state = State::Watching(next_event(watch));
                Some(event)
            }
        }
    }
}

/// Lists every page of a kind at one revision (the first page's).
fn list(
    client: Arc<dyn Client>,
    resource: &'static KindInfo,
    params: ListParams,
    page_size: u64,
) -> Listing {
    Box::pin(async move {
        let mut params = ListParams {
            limit: page_size,
            ..params
        };
        let mut items = Vec::new();
        loop {
            let page =
                tokio::time::timeout(REQUEST_TIMEOUT, client.list(resource, None, params.clone()))
                    .await
                    .unwrap_or_else(|_| Err(timed_out("list")))?;
            items.extend(page.items);
            match page.continue_token {
                Some(token) => {
                    params.continue_token = Some(token);
                    params.resource_version = Some(page.resource_version.to_string());
                }
                None => return Ok((page.resource_version, items)),
            }
        }
    })
}

/// An object's resourceVersion as a revision (0 when unset or not a number).
pub(crate) fn resource_version(object: &Object) -> u64 {
    object
        .metadata()
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

/// One object's change, as the view saw it: `(before, after)`.
pub type Change = (Option<Object>, Option<Object>);

/// Replaces every object of `kind` in `view` with a fresh list taken at `revision`, and
/// returns what changed (so deletes missed while the watch was down are seen): objects added,
/// modified (another resourceVersion) or deleted, in key order.
pub fn replace_kind(
    view: &mut View,
    kind: &'static str,
    items: Vec<Object>,
    revision: u64,
) -> Vec<Change> {
    let mut before: std::collections::BTreeMap<ObjectKey, Object> = view
        .objects(kind)
        .map(|o| (ObjectKey::of(o), o.clone()))
        .collect();
    view.clear_kind(kind);
    let mut changes = Vec::new();
    let mut after = std::collections::BTreeMap::new();
    for object in items {
        if object.info().kind != kind {
            continue;
        }
        view.insert(object.clone());
        after.insert(ObjectKey::of(&object), object);
    }
    view.observe_revision(revision);
    let keys: std::collections::BTreeSet<ObjectKey> =
        before.keys().chain(after.keys()).cloned().collect();
    for key in keys {
        let old = before.remove(&key);
        let new = after.remove(&key);
        let same = match (&old, &new) {
            (Some(a), Some(b)) => {
                a.metadata().resource_version == b.metadata().resource_version
                    && a.metadata().uid == b.metadata().uid
            }
            _ => false,
        };
        if !same {
            changes.push((old, new));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_core::object::ConfigMap;

    fn cm(name: &str, rv: u64) -> Object {
        let mut c = ConfigMap::default();
        c.metadata.name = Some(name.into());
        c.metadata.namespace = Some("default".into());
        c.metadata.resource_version = Some(rv.to_string());
        c.metadata.uid = Some(format!("uid-{name}"));
        c.into()
    }

    fn names(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|(old, new)| {
                let n = |o: &Option<Object>| {
                    o.as_ref()
                        .map_or("-".to_owned(), |o| o.metadata().name_or_empty().to_owned())
                };
                format!("{}>{}", n(old), n(new))
            })
            .collect()
    }

    #[test]
    fn a_relist_reports_adds_changes_and_deletes_missed_while_away() {
        let mut view = View::new();
        for o in [cm("kept", 3), cm("changed", 4), cm("deleted", 5)] {
            view.insert(o);
        }
        let changes = replace_kind(
            &mut view,
            "ConfigMap",
            vec![cm("added", 9), cm("changed", 8), cm("kept", 3)],
            10,
        );
        assert_eq!(names(&changes), ["->added", "changed>changed", "deleted>-"]);
        assert_eq!(view.count("ConfigMap"), 3);
        assert!(
            view.get_object("ConfigMap", &ObjectKey::new("default", "deleted"))
                .is_none()
        );
        assert_eq!(view.revision(), 10);
    }

    /// A stream that delivers a bookmark after each of `gaps`, then nothing.
    struct Scripted {
        gaps: Vec<Duration>,
        sent: u64,
    }

    impl WatchStream for Scripted {
        fn next(&mut self) -> skiff_core::client::BoxFuture<'_, Option<WatchEvent>> {
            Box::pin(async move {
                let Some(gap) = self.gaps.get(usize::try_from(self.sent).unwrap()).copied() else {
                    return std::future::pending().await;
                };
                tokio::time::sleep(gap).await;
                self.sent += 1;
                Some(WatchEvent::Bookmark(self.sent))
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_ends_five_minutes_after_its_last_event_not_its_first_wait() {
        use skiff_core::clock::Clock;
        let clock = crate::runtime::TokioClock::new(std::time::UNIX_EPOCH);
        let stream = Scripted {
            gaps: vec![Duration::from_secs(200), Duration::from_secs(250)],
            sent: 0,
        };
        let mut watch = LiveWatch::new(Box::new(stream), clock.elapsed());
        let mut seen = Vec::new();
        loop {
            let (event, mut next) = next_event(watch).await;
            seen.push((event.clone(), clock.elapsed().as_secs()));
            if event.is_none() {
                break;
            }
            next.idle.touch(clock.elapsed());
            watch = next;
        }
        // Events at 200 s and 450 s (each within five minutes of the one before, though the
        // second comes 450 s after the watch started); then silence: it ends at 450 + 300 s.
        assert_eq!(
            seen,
            [
                (Some(WatchEvent::Bookmark(1)), 200),
                (Some(WatchEvent::Bookmark(2)), 450),
                (None, 750)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_watch_ends_after_five_minutes() {
        use skiff_core::clock::Clock;
        let clock = crate::runtime::TokioClock::new(std::time::UNIX_EPOCH);
        let stream = Scripted {
            gaps: Vec::new(),
            sent: 0,
        };
        let (event, _) = next_event(LiveWatch::new(Box::new(stream), clock.elapsed())).await;
        assert_eq!((event, clock.elapsed()), (None, WATCH_IDLE_TIMEOUT));
    }

    #[test]
    fn backoff_doubles_from_800ms_to_30s_with_jitter_and_resets_after_two_quiet_minutes() {
        let mut backoff = Backoff::default();
        let mut rng = SplitMix64::new(1);
        let mut steps = Vec::new();
        for n in 0..8 {
            let d = backoff.failure(Duration::from_secs(n), &mut rng);
            steps.push(d);
        }
        let bases =
            [800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000].map(Duration::from_millis);
        for (d, base) in steps.iter().zip(bases) {
            assert!(*d >= base && *d < base * 2, "{d:?} not in [{base:?}, 2×)");
        }
        let d = backoff.failure(Duration::from_secs(7 + 120), &mut rng);
        assert!(
            d >= Duration::from_millis(800) && d < Duration::from_millis(1600),
            "{d:?}"
        );
    }
}
