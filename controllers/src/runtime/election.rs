//! Leader election on a `coordination.k8s.io/v1` Lease, after client-go's
//! `tools/leaderelection`: a pure state machine ([`Elector`]: the lease as read plus `now` in,
//! the write to attempt out) and one async round ([`election_round`]) around it.
//!
//! The rules (client-go `leaderelection.go`, `tryAcquireOrRenew`):
//!
//! - A candidate takes the lease when it is absent, has no holder, or has not changed for a
//!   whole `leaseDurationSeconds` **as the candidate observed it**: the candidate records its
//!   own monotonic time whenever it sees the record change and never compares the holder's
//!   timestamps with its own clock, so clock skew between the two cannot cause a takeover.
//! - Every write is a compare-and-swap on the lease's resourceVersion, so of two candidates
//!   only one wins; the holder renews every `RetryPeriod`.
//! - The holder acts only while its last successful renewal is younger than `RenewDeadline`
//!   (measured from when that renewal *started*), and stops at once if it sees another
//!   holder. Since `RenewDeadline < LeaseDuration`, a holder that cannot renew has stopped
//!   before anyone may take over.
//! - On a clean stop the holder releases the lease (upstream `ReleaseOnCancel`): holder
//!   cleared, `leaseDurationSeconds: 1`, so a candidate takes over at its next retry.

use std::time::{Duration, SystemTime};

use skiff_core::client::{Client, ClientError};
use skiff_core::clock::Clock;
use skiff_core::object::{Lease, LeaseSpec, Object, ObjectMeta, TypedObject, info};
use skiff_core::rng::SplitMix64;
use skiff_core::status::Reason;

use crate::reconcile::micro_time_of;

/// How long a lease is valid after a candidate last saw it change (client-go
/// `LeaseDuration`, kube-controller-manager's `--leader-elect-lease-duration` default 15 s).
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long a leader keeps acting without a successful renewal (`RenewDeadline`,
/// `--leader-elect-renew-deadline` default 10 s).
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often candidates try to acquire and the leader renews (`RetryPeriod`,
/// `--leader-elect-retry-period` default 2 s).
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);
/// A candidate's retries are spread over `RetryPeriod × [1, 1 + JitterFactor)` (client-go
/// `JitterFactor = 1.2`), here in tenths.
pub const JITTER_FACTOR_TENTHS: u64 = 12;
/// The namespace of controller leases (kube-controller-manager and kube-scheduler lock in
/// `kube-system`).
pub const LEASE_NAMESPACE: &str = "kube-system";

/// Where and how to elect a leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// This candidate's identity, written as `holderIdentity` (upstream: hostname plus a
    /// unique suffix). Must differ between candidates.
    pub identity: String,
    /// Lease name; `None` uses the controller's (or manager's) name.
    pub name: Option<String>,
    /// Lease namespace.
    pub namespace: String,
    /// See [`LEASE_DURATION`].
    pub lease_duration: Duration,
    /// See [`RENEW_DEADLINE`]; must be shorter than `lease_duration`.
    pub renew_deadline: Duration,
    /// See [`RETRY_PERIOD`].
    pub retry_period: Duration,
    /// Release the lease on a clean stop (upstream `ReleaseOnCancel`).
    pub release_on_cancel: bool,
}

impl LeaderElectionConfig {
    /// upstream's defaults for candidate `identity`, in `kube-system`.
    pub fn new(identity: impl Into<String>) -> Self {
        Self {
            identity: identity.into(),
            name: None,
            namespace: LEASE_NAMESPACE.to_owned(),
            lease_duration: LEASE_DURATION,
            renew_deadline: RENEW_DEADLINE,
            retry_period: RETRY_PERIOD,
            release_on_cancel: true,
        }
    }
}

/// The write an election step asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ElectionStep {
    /// No lease exists: create it, held by us.
    Create(Lease),
    /// Take over or renew: replace the lease (its resourceVersion is the precondition).
    Update(Lease),
    /// Someone else holds a valid lease: try again later.
    Wait,
}

/// One candidate's view of the election.
///
/// # Invariants
///
/// - `observed_at` is this candidate's monotonic time when `observed` last changed.
/// - `renewed_at` is set only by a successful acquire or renewal of ours.
#[derive(Debug, Clone)]
pub struct Elector {
    config: LeaderElectionConfig,
    name: String,
    observed: Option<Lease>,
    observed_at: Duration,
    renewed_at: Option<Duration>,
}

fn seconds_i32(d: Duration) -> i32 {
    i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
}

impl Elector {
    /// A candidate for the lease `name` (the config's own name wins when set).
    pub fn new(config: LeaderElectionConfig, name: &str) -> Self {
        let name = config.name.clone().unwrap_or_else(|| name.to_owned());
        Self {
            config,
            name,
            observed: None,
            observed_at: Duration::ZERO,
            renewed_at: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LeaderElectionConfig {
        &self.config
    }

    /// The lease's name.
    pub fn lease_name(&self) -> &str {
        &self.name
    }

    /// The lease as last read or written.
    pub fn observed(&self) -> Option<&Lease> {
        self.observed.as_ref()
    }

    fn observed_holder(&self) -> Option<&str> {
        self.observed
            .as_ref()
            .and_then(Lease::holder_identity)
            .filter(|h| !h.is_empty())
    }

    /// Takes in the lease as just read (`None`: it does not exist) at monotonic `now` and wall
    /// time `wall`, and says what to write.
    pub fn step(&mut self, lease: Option<&Lease>, now: Duration, wall: SystemTime) -> ElectionStep {
        let Some(lease) = lease else {
            self.observed = None;
            let mut created = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                ..Lease::default()
            };
            created.spec = self.record(None, wall);
            return ElectionStep::Create(created);
        };
        let changed = self.observed.as_ref().is_none_or(|seen| {
            seen.spec != lease.spec
                || seen.metadata.resource_version != lease.metadata.resource_version
        });
        if changed {
            self.observed = Some(lease.clone());
            self.observed_at = now;
        }
        if let Some(holder) = self.observed_holder()
            && holder != self.config.identity
            && self.observed_valid(now)
        {
            return ElectionStep::Wait;
        }
        let mut next = lease.clone();
        next.spec = self.record(Some(lease), wall);
        ElectionStep::Update(next)
    }

    /// The lease record we would write: renewing keeps `acquireTime` and the transition
    /// count; taking over sets `acquireTime` and counts one more transition.
    fn record(&self, old: Option<&Lease>, wall: SystemTime) -> LeaseSpec {
        let now = micro_time_of(wall);
        let ours = old.is_some_and(|l| l.is_held_by(&self.config.identity));
        let old_spec = old.map(|l| l.spec.clone()).unwrap_or_default();
        let transitions = old_spec.lease_transitions.unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(seconds_i32(self.config.lease_duration)),
            acquire_time: if ours {
                old_spec.acquire_time.or(Some(now))
            } else {
                Some(now)
            },
            renew_time: Some(now),
            lease_transitions: Some(match old {
                Some(_) if !ours => transitions.saturating_add(1),
                _ => transitions,
            }),
            ..old_spec
        }
    }

    /// upstream `isLeaseValid`: the observed record has not been seen to change for less than
    /// its own `leaseDurationSeconds`.
    fn observed_valid(&self, now: Duration) -> bool {
        let seconds = self
            .observed
            .as_ref()
            .and_then(|l| l.spec.lease_duration_seconds)
            .map_or(self.config.lease_duration, |s| {
                Duration::from_secs(u64::try_from(s.max(0)).unwrap_or(0))
            });
        self.observed_at.saturating_add(seconds) > now
    }

    /// Our write (`written`, as the API returned it) succeeded; the attempt started at
    /// `started` (before the lease was read) and finished at `now`.
    pub fn succeeded(&mut self, written: Lease, started: Duration, now: Duration) {
        self.observed = Some(written);
        self.observed_at = now;
        self.renewed_at = Some(started);
    }

    /// True while we may act: we hold the lease as last observed and our last successful
    /// renewal started less than `RenewDeadline` before `now`.
    pub fn is_leader(&self, now: Duration) -> bool {
        self.observed_holder() == Some(self.config.identity.as_str())
            && self
                .renewed_at
                .is_some_and(|at| now < self.acting_deadline(at))
    }

    fn acting_deadline(&self, renewed_at: Duration) -> Duration {
        renewed_at.saturating_add(self.config.renew_deadline)
    }

    /// The monotonic time until which we may act, if we hold the lease.
    pub fn acting_until(&self, now: Duration) -> Option<Duration> {
        if self.is_leader(now) {
            self.renewed_at.map(|at| self.acting_deadline(at))
        } else {
            None
        }
    }

    /// True when we led once and no longer do (upstream `OnStoppedLeading`).
    pub fn lost(&self, now: Duration) -> bool {
        self.renewed_at.is_some() && !self.is_leader(now)
    }

    /// The release record (upstream `release()`): holder cleared, `leaseDurationSeconds: 1`,
    /// times set to now, transitions kept. `None` unless we lead.
    pub fn release(&self, now: Duration, wall: SystemTime) -> Option<Lease> {
        if !self.is_leader(now) {
            return None;
        }
        let mut lease = self.observed.clone()?;
        let at = micro_time_of(wall);
        lease.spec = LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            acquire_time: Some(at),
            renew_time: Some(at),
            ..lease.spec
        };
        Some(lease)
    }

    /// When to attempt next after an attempt that started at `started`: the leader renews
    /// every `RetryPeriod`; a candidate waits `RetryPeriod` with client-go's jitter (up to
    /// `JitterFactor` more), drawn from `rng`.
    pub fn next_attempt(&self, started: Duration, now: Duration, rng: &mut SplitMix64) -> Duration {
        let period = self.config.retry_period;
        if self.is_leader(now) {
            return started.saturating_add(period);
        }
        let period_nanos = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        let extra = period_nanos
            .saturating_mul(JITTER_FACTOR_TENTHS)
            .checked_div(10)
            .map_or(0, |max| if max == 0 { 0 } else { rng.below(max) });
        now.saturating_add(period)
            .saturating_add(Duration::from_nanos(extra))
    }
}

fn lease_of(object: Object) -> Result<Lease, ClientError> {
    Lease::from_object(object)
        .map_err(|o| ClientError::Transport(format!("expected a Lease, got {}", o.info().kind)))
}

/// One election attempt: read the lease, let the elector decide, write. Errors only mean
/// this attempt failed; the elector keeps its observation and the caller tries again.
pub async fn election_round(
    elector: &mut Elector,
    client: &dyn Client,
    clock: &dyn Clock,
) -> Result<(), ClientError> {
    let started = clock.elapsed();
    let namespace = elector.config.namespace.clone();
    let name = elector.name.clone();
    let lease = match client.get(&info::LEASE, &namespace, &name).await {
        Ok(object) => Some(lease_of(object)?),
        Err(ClientError::Status(s)) if s.reason == Reason::NotFound => None,
        Err(e) => return Err(e),
    };
    let written = match elector.step(lease.as_ref(), clock.elapsed(), clock.wall()) {
        ElectionStep::Wait => return Ok(()),
        ElectionStep::Create(lease) => client.create(Some(&namespace), lease.into()).await?,
        ElectionStep::Update(lease) => client.update(lease.into()).await?,
    };
    elector.succeeded(lease_of(written)?, started, clock.elapsed());
    Ok(())
}

/// Releases the lease if we hold it (a clean stop).
pub async fn release(
    elector: &mut Elector,
    client: &dyn Client,
    clock: &dyn Clock,
) -> Result<(), ClientError> {
    if let Some(lease) = elector.release(clock.elapsed(), clock.wall()) {
        let written = client.update(lease.into()).await?;
        elector.observed = Some(lease_of(written)?);
        elector.observed_at = clock.elapsed();
        elector.renewed_at = None;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_core::object::MicroTime;
    use std::time::UNIX_EPOCH;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Wall time `n` seconds after 2023-11-14T22:13:20Z.
    fn wall(n: u64) -> SystemTime {
        UNIX_EPOCH + secs(1_700_000_000 + n)
    }

    #[allow(clippy::unnecessary_wraps, reason = "lease times are optional fields")]
    fn micro(n: u64) -> Option<MicroTime> {
        Some(micro_time_of(wall(n)))
    }

    fn elector(identity: &str) -> Elector {
        Elector::new(
            LeaderElectionConfig::new(identity),
            "kube-controller-manager",
        )
    }

    /// The lease as the API would return it after a write: `resourceVersion` set.
    fn stored(mut lease: Lease, rv: u64) -> Lease {
        lease.metadata.resource_version = Some(rv.to_string());
        lease
    }

    fn held_by(holder: &str, renewed: u64, rv: u64) -> Lease {
        let mut lease = Lease::default();
        lease.metadata.name = Some("kube-controller-manager".into());
        lease.metadata.namespace = Some("kube-system".into());
        lease.spec = LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            acquire_time: micro(0),
            renew_time: micro(renewed),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        };
        stored(lease, rv)
    }

    #[test]
    fn a_missing_lease_is_created_held_by_us() {
        let mut a = elector("a");
        let ElectionStep::Create(lease) = a.step(None, secs(0), wall(0)) else {
            panic!("expected a create");
        };
        assert_eq!(
            lease.metadata.name.as_deref(),
            Some("kube-controller-manager")
        );
        assert_eq!(lease.metadata.namespace.as_deref(), Some("kube-system"));
        assert_eq!(
            lease.spec,
            LeaseSpec {
                holder_identity: Some("a".into()),
                lease_duration_seconds: Some(15),
                acquire_time: micro(0),
                renew_time: micro(0),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }
        );
        assert!(!a.is_leader(secs(0)), "not before the write succeeded");
        a.succeeded(stored(lease, 7), secs(0), secs(0));
        assert!(a.is_leader(secs(0)));
        assert_eq!(a.acting_until(secs(3)), Some(secs(10)));
    }

    #[test]
    fn a_candidate_waits_a_full_lease_duration_of_its_own_observation() {
        let mut b = elector("b");
        // The holder's renewTime is far in the past by b's wall clock (skew): irrelevant.
        let lease = held_by("a", 0, 5);
        assert_eq!(
            b.step(Some(&lease), secs(100), wall(5000)),
            ElectionStep::Wait
        );
        assert_eq!(
            b.step(Some(&lease), secs(114), wall(5014)),
            ElectionStep::Wait
        );
        let ElectionStep::Update(taken) = b.step(Some(&lease), secs(115), wall(5015)) else {
            panic!("the lease did not change for 15 s of b's time");
        };
        assert_eq!(taken.metadata.resource_version.as_deref(), Some("5"));
        assert_eq!(
            taken.spec,
            LeaseSpec {
                holder_identity: Some("b".into()),
                lease_duration_seconds: Some(15),
                acquire_time: micro(5015),
                renew_time: micro(5015),
                lease_transitions: Some(1),
                ..LeaseSpec::default()
            }
        );
    }

    #[test]
    fn every_renewal_seen_restarts_the_candidates_wait() {
        let mut b = elector("b");
        assert_eq!(
            b.step(Some(&held_by("a", 0, 5)), secs(0), wall(0)),
            ElectionStep::Wait
        );
        // A renewal (new resourceVersion and renewTime) observed at 10 s.
        assert_eq!(
            b.step(Some(&held_by("a", 10, 6)), secs(10), wall(10)),
            ElectionStep::Wait
        );
        assert_eq!(
            b.step(Some(&held_by("a", 10, 6)), secs(24), wall(24)),
            ElectionStep::Wait
        );
        assert!(matches!(
            b.step(Some(&held_by("a", 10, 6)), secs(25), wall(25)),
            ElectionStep::Update(_)
        ));
    }

    #[test]
    fn a_released_lease_is_taken_at_once() {
        let mut b = elector("b");
        let mut released = held_by("a", 3, 9);
        released.spec.holder_identity = None;
        released.spec.lease_duration_seconds = Some(1);
        let ElectionStep::Update(taken) = b.step(Some(&released), secs(4), wall(4)) else {
            panic!("a lease without holder is free");
        };
        assert_eq!(taken.spec.holder_identity.as_deref(), Some("b"));
        assert_eq!(taken.spec.lease_transitions, Some(1));
    }

    #[test]
    fn the_holder_renews_keeping_acquire_time_and_transitions() {
        let mut a = elector("a");
        let ElectionStep::Create(lease) = a.step(None, secs(0), wall(0)) else {
            panic!("expected a create");
        };
        a.succeeded(stored(lease, 7), secs(0), secs(0));
        let current = a.observed().cloned().unwrap();
        let ElectionStep::Update(renewed) = a.step(Some(&current), secs(2), wall(2)) else {
            panic!("the holder renews");
        };
        assert_eq!(renewed.spec.acquire_time, micro(0));
        assert_eq!(renewed.spec.renew_time, micro(2));
        assert_eq!(renewed.spec.lease_transitions, Some(0));
        assert_eq!(renewed.metadata.resource_version.as_deref(), Some("7"));
    }

    #[test]
    fn the_leader_stops_acting_renew_deadline_after_its_last_renewal_started() {
        let mut a = elector("a");
        let ElectionStep::Create(lease) = a.step(None, secs(1), wall(1)) else {
            panic!("expected a create");
        };
        // The attempt started at 0 s and the write came back at 1 s.
        a.succeeded(stored(lease, 7), secs(0), secs(1));
        assert!(a.is_leader(secs(9)));
        assert!(!a.lost(secs(9)));
        assert!(!a.is_leader(secs(10)));
        assert!(a.lost(secs(10)));
        assert_eq!(a.acting_until(secs(10)), None);
    }

    #[test]
    fn the_leader_stops_at_once_when_it_sees_another_holder() {
        let mut a = elector("a");
        let ElectionStep::Create(lease) = a.step(None, secs(0), wall(0)) else {
            panic!("expected a create");
        };
        a.succeeded(stored(lease, 7), secs(0), secs(0));
        assert_eq!(
            a.step(Some(&held_by("b", 1, 8)), secs(1), wall(1)),
            ElectionStep::Wait
        );
        assert!(!a.is_leader(secs(1)));
        assert!(a.lost(secs(1)));
    }

    #[test]
    fn a_leader_releases_with_an_empty_holder_and_a_one_second_duration() {
        let mut a = elector("a");
        assert_eq!(a.release(secs(0), wall(0)), None, "nothing to release");
        let ElectionStep::Create(lease) = a.step(None, secs(0), wall(0)) else {
            panic!("expected a create");
        };
        a.succeeded(stored(lease, 7), secs(0), secs(0));
        let released = a.release(secs(4), wall(4)).unwrap();
        assert_eq!(released.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(
            released.spec,
            LeaseSpec {
                holder_identity: None,
                lease_duration_seconds: Some(1),
                acquire_time: micro(4),
                renew_time: micro(4),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }
        );
    }

    #[test]
    fn leaders_renew_every_retry_period_and_candidates_jitter_up_to_2_2_periods() {
        let mut rng = SplitMix64::new(3);
        let mut b = elector("b");
        b.step(Some(&held_by("a", 0, 5)), secs(0), wall(0));
        for _ in 0..100 {
            let next = b.next_attempt(secs(0), secs(1), &mut rng);
            assert!(
                next >= secs(3) && next < Duration::from_millis(5_400),
                "{next:?}"
            );
        }
        let mut a = elector("a");
        let ElectionStep::Create(lease) = a.step(None, secs(0), wall(0)) else {
            panic!("expected a create");
        };
        a.succeeded(stored(lease, 7), secs(0), secs(1));
        assert_eq!(a.next_attempt(secs(0), secs(1), &mut rng), secs(2));
    }
}
