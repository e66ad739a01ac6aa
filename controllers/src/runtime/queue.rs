//! The work queue: keys to reconcile, deduplicated, never processed twice at once, retried with
//! per-key exponential backoff under an overall token bucket.
//!
//! This follows client-go's `workqueue` package: a rate-limited delaying queue whose
//! semantics are
//!
//! - `Add` of a key already waiting to be processed is a no-op (the dirty set);
//! - a key handed out by `Get` is *processing*: adding it again marks it dirty, and `Done`
//!   puts it back in the queue, so one key is never processed concurrently and a change seen
//!   while it was being processed is never lost;
//! - `AddAfter` keeps the earliest pending time of a key;
//! - `AddRateLimited` waits what `DefaultControllerRateLimiter` says: the larger of a per-key
//!   exponential backoff (5 ms doubling to 1000 s, `ItemExponentialFailureRateLimiter`) and
//!   an overall token bucket (10 qps, burst 100, `BucketRateLimiter`); `Forget` resets the
//!   key's backoff after a success.
//!
//! Time comes in as a value (a [`Duration`] since some origin, e.g. [`Clock::elapsed`]), so
//! every rule is tested without sleeping.
//!
//! [`Clock::elapsed`]: skiff_core::clock::Clock::elapsed

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// First retry delay of a failing key (client-go `DefaultControllerRateLimiter`:
/// `NewItemExponentialFailureRateLimiter(5*time.Millisecond, 1000*time.Second)`).
pub const BASE_DELAY: Duration = Duration::from_millis(5);
/// Largest retry delay of a failing key (same source: 1000 s).
pub const MAX_DELAY: Duration = Duration::from_secs(1000);
/// Overall retry rate, in retries per second (same source:
/// `BucketRateLimiter{Limiter: rate.NewLimiter(rate.Limit(10), 100)}`).
pub const BUCKET_QPS: u32 = 10;
/// Overall retry burst (same source: 100).
pub const BUCKET_BURST: u32 = 100;

/// How retries are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Delay of a key's first retry; each further failure doubles it.
    pub base_delay: Duration,
    /// Largest per-key delay.
    pub max_delay: Duration,
    /// Overall retries per second; 0 turns the token bucket off.
    pub qps: u32,
    /// Retries the bucket lets through at once.
    pub burst: u32,
}

impl Default for RateLimit {
    /// Upstream's `DefaultControllerRateLimiter`.
    fn default() -> Self {
        Self {
            base_delay: BASE_DELAY,
            max_delay: MAX_DELAY,
            qps: BUCKET_QPS,
            burst: BUCKET_BURST,
        }
    }
}

/// Per-key exponential backoff combined with a token bucket (the larger delay wins).
///
/// # Invariants
///
/// - `failures` holds exactly the keys that failed since their last [`RateLimiter::forget`].
/// - `credit_nanos` never exceeds the bucket's capacity (`burst` tokens' worth of time).
#[derive(Debug, Clone)]
pub struct RateLimiter<K> {
    limit: RateLimit,
    failures: BTreeMap<K, u32>,
    /// Bucket content, as time: one token is worth `1 s / qps`. Negative when retries were
    /// promised slots in the future.
    credit_nanos: i128,
    /// When the bucket was last refilled.
    refilled_at: Duration,
}

impl<K: Ord + Clone> RateLimiter<K> {
    /// A limiter with a full bucket at time zero.
    pub fn new(limit: RateLimit) -> Self {
        let mut limiter = Self {
            limit,
            failures: BTreeMap::new(),
            credit_nanos: 0,
            refilled_at: Duration::ZERO,
        };
        limiter.credit_nanos = limiter.capacity_nanos();
        limiter
    }

    fn token_nanos(&self) -> i128 {
        if self.limit.qps == 0 {
            0
        } else {
            1_000_000_000 / i128::from(self.limit.qps)
        }
    }

    fn capacity_nanos(&self) -> i128 {
        self.token_nanos() * i128::from(self.limit.burst)
    }

    /// How long `key` waits before its next retry, counting this as one more failure.
    pub fn when(&mut self, key: &K, now: Duration) -> Duration {
        let exponent = self.failures.get(key).copied().unwrap_or(0);
        self.failures
            .insert(key.clone(), exponent.saturating_add(1));
        // base × 2^exponent, capped (upstream caps at maxDelay, and at MaxInt64 first).
        let max = self.limit.max_delay.as_nanos();
        let backoff = if exponent >= 64 {
            max
        } else {
            self.limit
                .base_delay
                .as_nanos()
                .checked_mul(1u128 << exponent)
                .map_or(max, |d| d.min(max))
        };
        let per_key = Duration::from_nanos(u64::try_from(backoff).unwrap_or(u64::MAX));
        per_key.max(self.bucket_delay(now))
    }

    /// Takes one token from the bucket; the wait until that token exists.
    fn bucket_delay(&mut self, now: Duration) -> Duration {
        if self.limit.qps == 0 {
            return Duration::ZERO;
        }
        let refill = now.saturating_sub(self.refilled_at).as_nanos();
        self.refilled_at = self.refilled_at.max(now);
        self.credit_nanos = self
            .credit_nanos
            .saturating_add(i128::try_from(refill).unwrap_or(i128::MAX))
            .min(self.capacity_nanos());
        self.credit_nanos -= self.token_nanos();
        if self.credit_nanos >= 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(u64::try_from(-self.credit_nanos).unwrap_or(u64::MAX))
        }
    }

    /// The key succeeded: its next failure starts again at the base delay.
    pub fn forget(&mut self, key: &K) {
        self.failures.remove(key);
    }

    /// Failures of `key` since it was last forgotten (upstream `NumRequeues`).
    pub fn failures(&self, key: &K) -> u32 {
        self.failures.get(key).copied().unwrap_or(0)
    }
}

/// A deduplicating, delaying, rate-limited queue of keys (see the module documentation).
///
/// # Invariants
///
/// - A key is in `ready` at most once, and exactly when it is dirty and not processing.
/// - `waiting` and `waiting_at` describe the same entries (one per key, its earliest time).
#[derive(Debug, Clone)]
pub struct WorkQueue<K> {
    ready: VecDeque<K>,
    dirty: BTreeSet<K>,
    processing: BTreeSet<K>,
    waiting: BTreeMap<(Duration, u64), K>,
    waiting_at: BTreeMap<K, (Duration, u64)>,
    sequence: u64,
    limiter: RateLimiter<K>,
}

impl<K: Ord + Clone> WorkQueue<K> {
    /// An empty queue retrying with `limit`.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            ready: VecDeque::new(),
            dirty: BTreeSet::new(),
            processing: BTreeSet::new(),
            waiting: BTreeMap::new(),
            waiting_at: BTreeMap::new(),
            sequence: 0,
            limiter: RateLimiter::new(limit),
        }
    }

    /// Queues `key` now. A key already queued stays queued once; a key being processed is
    /// queued again when it is [`done`](Self::done).
    pub fn add(&mut self, key: K) {
        if !self.dirty.insert(key.clone()) {
            return;
        }
        if !self.processing.contains(&key) {
            self.ready.push_back(key);
        }
    }

    /// Queues `key` once `delay` has passed after `now`; of several pending times for one key
    /// the earliest wins (upstream `AddAfter`).
    pub fn add_after(&mut self, key: K, delay: Duration, now: Duration) {
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let at = now.saturating_add(delay);
        if let Some(&(existing, seq)) = self.waiting_at.get(&key) {
            if existing <= at {
                return;
            }
            self.waiting.remove(&(existing, seq));
        }
        self.sequence += 1;
        self.waiting.insert((at, self.sequence), key.clone());
        self.waiting_at.insert(key, (at, self.sequence));
    }

    /// Queues `key` after its rate-limited backoff (a failure; upstream `AddRateLimited`).
    /// Returns the delay chosen.
    pub fn add_rate_limited(&mut self, key: K, now: Duration) -> Duration {
        let delay = self.limiter.when(&key, now);
        self.add_after(key, delay, now);
        delay
    }

    /// The key succeeded: reset its backoff (upstream `Forget`).
    pub fn forget(&mut self, key: &K) {
        self.limiter.forget(key);
    }

    /// Failures of `key` since it was last forgotten (upstream `NumRequeues`).
    pub fn failures(&self, key: &K) -> u32 {
        self.limiter.failures(key)
    }

    /// Moves every delayed key due at `now` into the queue.
    fn promote(&mut self, now: Duration) {
        while let Some(entry) = self.waiting.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.waiting_at.remove(&key);
            self.add(key);
        }
    }

    /// The next key to process at `now`, marking it processing until [`done`](Self::done).
    pub fn pop(&mut self, now: Duration) -> Option<K> {
        self.promote(now);
        let key = self.ready.pop_front()?;
        self.dirty.remove(&key);
        self.processing.insert(key.clone());
        Some(key)
    }

    /// Processing of `key` ended; if it was added meanwhile, it is queued again.
    pub fn done(&mut self, key: &K) {
        if self.processing.remove(key) && self.dirty.contains(key) {
            self.ready.push_back(key.clone());
        }
    }

    /// True when [`pop`](Self::pop) at `now` would return a key.
    pub fn has_ready(&self, now: Duration) -> bool {
        // A due key that is not processing becomes ready when promoted (if it is dirty it
        // is already in `ready`).
        !self.ready.is_empty()
            || self
                .waiting
                .range(..=(now, u64::MAX))
                .any(|(_, key)| !self.processing.contains(key))
    }

    /// When the earliest delayed key is due.
    pub fn next_due(&self) -> Option<Duration> {
        self.waiting.first_key_value().map(|(&(at, _), _)| at)
    }

    /// When the earliest delayed key due strictly after `now` is due.
    pub fn next_due_after(&self, now: Duration) -> Option<Duration> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.waiting
            .range((Excluded((now, u64::MAX)), Unbounded))
            .next()
            .map(|(&(at, _), _)| at)
    }

    /// True while `key` is being processed.
    pub fn is_processing(&self, key: &K) -> bool {
        self.processing.contains(key)
    }

    /// Keys queued and not being processed (not counting delayed ones).
    pub fn len(&self) -> usize {
        self.ready.len()
    }

    /// True when no key is queued (delayed keys aside).
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Duration = Duration::ZERO;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn no_bucket() -> RateLimit {
        RateLimit {
            qps: 0,
            ..RateLimit::default()
        }
    }

    fn drain(q: &mut WorkQueue<&'static str>, now: Duration) -> Vec<&'static str> {
        let mut out = Vec::new();
        while let Some(k) = q.pop(now) {
            out.push(k);
            q.done(&k);
        }
        out
    }

    #[test]
    fn a_key_added_twice_is_processed_once_in_first_added_order() {
        let mut q = WorkQueue::new(RateLimit::default());
        q.add("b");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        assert_eq!(drain(&mut q, T0), ["b", "a"]);
        assert_eq!(q.pop(T0), None);
    }

    #[test]
    fn a_key_added_while_processing_comes_back_after_done_and_not_before() {
        let mut q = WorkQueue::new(RateLimit::default());
        q.add("a");
        assert_eq!(q.pop(T0), Some("a"));
        q.add("a");
        q.add("a");
        assert!(q.is_processing(&"a"));
        assert_eq!(q.pop(T0), None, "never handed out while processing");
        assert!(!q.has_ready(T0));
        q.done(&"a");
        assert_eq!(q.pop(T0), Some("a"));
        q.done(&"a");
        assert_eq!(q.pop(T0), None);
    }

    #[test]
    fn done_without_a_new_add_does_not_requeue() {
        let mut q = WorkQueue::new(RateLimit::default());
        q.add("a");
        assert_eq!(q.pop(T0), Some("a"));
        q.done(&"a");
        assert!(q.is_empty());
        assert!(!q.has_ready(ms(1_000_000)));
    }

    #[test]
    fn add_after_waits_and_the_earliest_time_wins() {
        let mut q = WorkQueue::new(RateLimit::default());
        q.add_after("a", ms(100), T0);
        q.add_after("a", ms(300), T0);
        assert_eq!(q.next_due(), Some(ms(100)));
        q.add_after("a", ms(50), ms(20));
        assert_eq!(q.next_due(), Some(ms(70)));
        assert_eq!(q.next_due_after(ms(70)), None);
        assert_eq!(q.next_due_after(ms(69)), Some(ms(70)));
        assert!(!q.has_ready(ms(69)));
        assert_eq!(q.pop(ms(69)), None);
        assert!(q.has_ready(ms(70)));
        assert_eq!(q.pop(ms(70)), Some("a"));
        q.done(&"a");
        assert_eq!(q.next_due(), None);
        assert_eq!(q.pop(ms(1000)), None);
    }

    #[test]
    fn delayed_keys_become_ready_in_due_order() {
        let mut q = WorkQueue::new(RateLimit::default());
        q.add_after("late", ms(30), T0);
        q.add_after("early", ms(10), T0);
        q.add_after("middle", ms(20), T0);
        q.add("now");
        assert_eq!(drain(&mut q, ms(30)), ["now", "early", "middle", "late"]);
    }

    #[test]
    fn a_due_delayed_key_that_is_processing_waits_for_done() {
        let mut q = WorkQueue::new(RateLimit::default());
        q.add("a");
        assert_eq!(q.pop(T0), Some("a"));
        q.add_after("a", ms(5), T0);
        assert!(!q.has_ready(ms(5)));
        assert_eq!(q.pop(ms(5)), None);
        q.done(&"a");
        assert_eq!(q.pop(ms(5)), Some("a"));
    }

    #[test]
    fn failures_back_off_from_5ms_doubling_to_1000s_and_forget_resets() {
        let mut q = WorkQueue::new(no_bucket());
        let delays: Vec<Duration> = (0..5).map(|_| q.add_rate_limited("a", T0)).collect();
        assert_eq!(delays, [ms(5), ms(10), ms(20), ms(40), ms(80)]);
        assert_eq!(q.failures(&"a"), 5);
        // 5 ms × 2^17 = 655.36 s; × 2^18 = 1310.72 s, capped at 1000 s.
        for _ in 5..17 {
            q.add_rate_limited("a", T0);
        }
        assert_eq!(q.add_rate_limited("a", T0), ms(655_360));
        assert_eq!(q.add_rate_limited("a", T0), Duration::from_secs(1000));
        for _ in 0..100 {
            assert_eq!(q.add_rate_limited("a", T0), Duration::from_secs(1000));
        }
        // Other keys have their own count.
        assert_eq!(q.add_rate_limited("b", T0), ms(5));
        q.forget(&"a");
        assert_eq!(q.failures(&"a"), 0);
        assert_eq!(q.add_rate_limited("a", T0), ms(5));
    }

    #[test]
    fn the_bucket_lets_100_retries_through_then_spaces_them_100ms_apart() {
        let mut limiter = RateLimiter::new(RateLimit::default());
        let keys: Vec<u32> = (0..103).collect();
        let delays: Vec<Duration> = keys.iter().map(|k| limiter.when(k, T0)).collect();
        // Distinct keys: each backoff is 5 ms; the bucket's burst covers the first 100.
        assert!(delays[..100].iter().all(|d| *d == ms(5)));
        assert_eq!(delays[100..], [ms(100), ms(200), ms(300)]);
        // One second later ten tokens have come back: the promised slots are paid off up to
        // the 300 ms debt, and the bucket holds 7 tokens.
        let later: Vec<Duration> = (200..208).map(|k| limiter.when(&k, ms(1000))).collect();
        assert_eq!(later[..7], [ms(5); 7]);
        assert_eq!(later[7], ms(100));
    }

    #[test]
    fn the_larger_of_backoff_and_bucket_wins() {
        let mut limiter = RateLimiter::new(RateLimit {
            burst: 1,
            ..RateLimit::default()
        });
        assert_eq!(limiter.when(&"a", T0), ms(5));
        assert_eq!(limiter.when(&"b", T0), ms(100));
        assert_eq!(limiter.when(&"b", ms(100)), ms(100));
    }

    mod model {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Add(u8),
            AddAfter(u8, u8),
            Fail(u8),
            Pop,
            Done(u8),
            Advance(u8),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0..6u8).prop_map(Op::Add),
                (0..6u8, 0..50u8).prop_map(|(k, d)| Op::AddAfter(k, d)),
                (0..6u8).prop_map(Op::Fail),
                Just(Op::Pop),
                (0..6u8).prop_map(Op::Done),
                (0..40u8).prop_map(Op::Advance),
            ]
        }

        proptest! {
            /// Whatever the order of adds, delays, failures, pops and dones: a key is never
            /// handed out while it is being processed, and every key added is handed out
            /// (once everything in flight is done and enough time has passed).
            #[test]
            fn never_concurrent_and_never_lost(ops in proptest::collection::vec(op(), 0..200)) {
                let mut q = WorkQueue::new(RateLimit::default());
                let mut now = Duration::ZERO;
                let mut processing = BTreeSet::new();
                // Keys added (in any way) since they were last handed out.
                let mut owed = BTreeSet::new();
                for op in ops {
                    match op {
                        Op::Add(k) => {
                            q.add(k);
                            owed.insert(k);
                        }
                        Op::AddAfter(k, d) => {
                            q.add_after(k, ms(u64::from(d)), now);
                            owed.insert(k);
                        }
                        Op::Fail(k) => {
                            q.add_rate_limited(k, now);
                            owed.insert(k);
                        }
                        Op::Pop => {
                            if let Some(k) = q.pop(now) {
                                prop_assert!(processing.insert(k), "{k} handed out twice");
                                owed.remove(&k);
                            }
                        }
                        Op::Done(k) => {
                            if processing.remove(&k) {
                                q.done(&k);
                            }
                        }
                        Op::Advance(d) => now += ms(u64::from(d)),
                    }
                }
                for k in std::mem::take(&mut processing) {
                    q.done(&k);
                }
                now += Duration::from_secs(10_000);
                while let Some(k) = q.pop(now) {
                    owed.remove(&k);
                    q.done(&k);
                }
                prop_assert!(owed.is_empty(), "never handed out: {owed:?}");
                prop_assert_eq!(q.next_due(), None);
            }
        }
    }
}
