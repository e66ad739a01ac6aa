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
