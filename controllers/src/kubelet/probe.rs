//! Liveness, readiness and startup probes (upstream `pkg/kubelet/prober`): one worker per
//! (container, probe), probing every `periodSeconds` after `initialDelaySeconds`, flipping its
//! result after `failureThreshold` consecutive failures or `successThreshold` successes.
//! Initial results as upstream: liveness Success, readiness Failure, startup Unknown; while a
//! startup probe has not succeeded, the other two do not run.
//!
//! Running a probe touches the runtime (exec) or the network (HTTP, TCP), so it is done by
//! [`Kubelet::run_probes`] before the reconcile; the reconcile only reads the results.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use skiff_core::object::{Container, IntOrString, Probe};

use super::reconcile::PodRuntime;
use super::{Kubelet, Snapshot};
use crate::cri::sim::SimRuntime;
use crate::cri::{ContainerState, HttpResponse, Runtime};
use crate::view::View;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProbeKind {
    /// `startupProbe`.
    Startup,
    /// `livenessProbe`.
    Liveness,
    /// `readinessProbe`.
    Readiness,
}

/// A probe's current verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// Passing.
    Success,
    /// Failing (after `failureThreshold` consecutive failures).
    Failure,
    /// Not decided yet.
    Unknown,
}

/// How the kubelet reaches a pod's IP for HTTP and TCP probes.
pub trait Prober {
    /// An HTTP GET; `None` when the connection fails.
    fn http_get(&self, ip: &str, port: u16, path: &str) -> Option<HttpResponse>;
    /// Whether a TCP connection succeeds.
    fn tcp_connect(&self, ip: &str, port: u16) -> bool;
}

impl Prober for SimRuntime {
    fn http_get(&self, ip: &str, port: u16, path: &str) -> Option<HttpResponse> {
        SimRuntime::http_get(self, ip, port, path)
    }
    fn tcp_connect(&self, ip: &str, port: u16) -> bool {
        SimRuntime::tcp_connect(self, ip, port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Worker {
    next_run: SystemTime,
    successes: i32,
    failures: i32,
    result: ProbeResult,
}

/// Every probe worker, by (container id, probe).
#[derive(Debug, Clone, Default)]
pub struct Probes {
    workers: BTreeMap<(String, ProbeKind), Worker>,
}

impl Probes {
    /// The current result of a container's probe, if it has a worker.
    pub fn result(&self, container_id: &str, kind: ProbeKind) -> Option<ProbeResult> {
        self.workers
            .get(&(container_id.to_owned(), kind))
            .map(|w| w.result)
    }

    /// When the container's next probe is due.
    pub fn next_due(&self, container_id: &str) -> Option<SystemTime> {
        self.workers
            .range((container_id.to_owned(), ProbeKind::Startup)..)
            .take_while(|((id, _), _)| id == container_id)
            .map(|(_, w)| w.next_run)
            .min()
    }

    /// Drops the workers of containers that no longer run.
    pub(crate) fn retain_running(&mut self, running: &BTreeSet<&str>) {
        self.workers
            .retain(|(id, _), _| running.contains(id.as_str()));
    }

    /// Sets a result directly (tests, and probes run elsewhere).
    pub fn set(
        &mut self,
        container_id: &str,
        kind: ProbeKind,
        result: ProbeResult,
        next_run: SystemTime,
    ) {
        self.workers.insert(
            (container_id.to_owned(), kind),
            Worker {
                next_run,
                successes: 0,
                failures: 0,
                result,
            },
        );
    }
}

fn secs(v: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(u64::try_from(v.unwrap_or(default).max(0)).unwrap_or(0))
}

fn port_of(c: &Container, port: &IntOrString) -> Option<u16> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).ok(),
        IntOrString::String(name) => c
            .ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .or_else(|| name.parse().ok()),
    }
}

impl Kubelet {
    /// Runs the probes that are due at `now` for the running containers of this kubelet's
    /// pods and records their results.
    pub fn run_probes(
        &mut self,
        view: &View,
        snapshot: &Snapshot,
        runtime: &dyn Runtime,
        prober: &dyn Prober,
        now: SystemTime,
    ) {
        for wp in self.work_pods(view) {
            let rt = PodRuntime::of(snapshot, &wp.uid);
            let ip = rt
                .ready_sandbox()
                .and_then(|s| s.ip.clone())
                .unwrap_or_default();
            for c in &wp.pod.spec.containers {
                let Some(st) = rt.latest(&c.name) else {
                    continue;
                };
                if st.state != ContainerState::Running {
                    continue;
                }
                let started_at = st.started_at.unwrap_or(now);
                let startup_done = c.startup_probe.is_none()
                    || self.probes.result(&st.id, ProbeKind::Startup) == Some(ProbeResult::Success);
                let kinds = [
                    (
                        ProbeKind::Startup,
                        c.startup_probe.as_ref().filter(|_| !startup_done),
                    ),
                    (
                        ProbeKind::Liveness,
                        c.liveness_probe.as_ref().filter(|_| startup_done),
                    ),
                    (
                        ProbeKind::Readiness,
                        c.readiness_probe.as_ref().filter(|_| startup_done),
                    ),
                ];
                for (kind, probe) in kinds {
                    let Some(probe) = probe else {
                        continue;
                    };
                    let key = (st.id.clone(), kind);
                    let worker = self.probes.workers.entry(key).or_insert_with(|| Worker {
                        next_run: started_at + secs(probe.initial_delay_seconds, 0),
                        successes: 0,
                        failures: 0,
                        result: match kind {
                            ProbeKind::Liveness => ProbeResult::Success,
                            ProbeKind::Readiness => ProbeResult::Failure,
                            ProbeKind::Startup => ProbeResult::Unknown,
                        },
                    });
                    if now < worker.next_run {
                        continue;
                    }
                    let ok = probe_once(runtime, prober, c, &st.id, &ip, probe);
                    worker.next_run = now + secs(probe.period_seconds, 10);
                    if ok {
                        worker.successes += 1;
                        worker.failures = 0;
                        if worker.successes >= probe.success_threshold.unwrap_or(1) {
                            worker.result = ProbeResult::Success;
                        }
                    } else {
                        worker.failures += 1;
                        worker.successes = 0;
                        if worker.failures >= probe.failure_threshold.unwrap_or(3) {
                            worker.result = ProbeResult::Failure;
                        }
                    }
                }
            }
        }
    }
}

fn probe_once(
    runtime: &dyn Runtime,
    prober: &dyn Prober,
    c: &Container,
    container_id: &str,
    ip: &str,
    probe: &Probe,
) -> bool {
    let timeout = secs(probe.timeout_seconds, 1);
    if let Some(exec) = &probe.exec {
        return runtime
            .exec_sync(container_id, &exec.command, timeout)
            .is_ok_and(|r| r.exit_code == 0);
    }
    if let Some(http) = &probe.http_get {
        let host = http.host.clone().unwrap_or_else(|| ip.to_owned());
        let Some(port) = port_of(c, &http.port) else {
            return false;
        };
        let path = http.path.clone().unwrap_or_else(|| "/".to_owned());
        // Upstream: a status in 200..400 is success.
        return prober
            .http_get(&host, port, &path)
            .is_some_and(|r| (200..400).contains(&r.status));
    }
    if let Some(tcp) = &probe.tcp_socket {
        let host = tcp.host.clone().unwrap_or_else(|| ip.to_owned());
        return port_of(c, &tcp.port).is_some_and(|p| prober.tcp_connect(&host, p));
    }
    if let Some(grpc) = &probe.grpc {
        return u16::try_from(grpc.port).is_ok_and(|p| prober.tcp_connect(ip, p));
    }
    false
}
