//! Pod status as the kubelet reports it (upstream `kubelet_pods.go`: `generateAPIPodStatus`,
//! `convertToAPIContainerStatuses`, `getPhase`, and `pkg/kubelet/status/generate.go` for the
//! conditions).

use std::time::SystemTime;

use skiff_core::object::{
    Container, ContainerState as ApiState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus as ApiStatus, HostIp, Pod, PodCondition, PodIp,
    PodStatus,
};

use super::probe::{ProbeKind, ProbeResult};
use super::reconcile::{PodRuntime, Waiting, WorkPod};
use super::{Kubelet, Output};
use crate::cri::{ContainerState, ContainerStatus, SandboxState, normalize_image};
use crate::reconcile::{Action, time_of};

fn terminated(runtime: &str, st: &ContainerStatus) -> ApiState {
    ApiState {
        terminated: Some(ContainerStateTerminated {
            exit_code: st.exit_code,
            signal: None,
            reason: Some(st.reason.clone()).filter(|r| !r.is_empty()),
            message: Some(st.message.clone()).filter(|m| !m.is_empty()),
            started_at: st.started_at.map(time_of),
            finished_at: st.finished_at.map(time_of),
            container_id: Some(format!("{runtime}://{}", st.id)),
        }),
        ..ApiState::default()
    }
}

fn waiting_state(reason: &str, message: &str) -> ApiState {
    ApiState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()).filter(|m| !m.is_empty()),
        }),
        ..ApiState::default()
    }
}

fn is_terminated_ok(s: &ApiStatus) -> bool {
    s.state
        .as_ref()
        .and_then(|st| st.terminated.as_ref())
        .is_some_and(|t| t.exit_code == 0)
}

/// Upstream `getPhase`.
fn phase(pod: &Pod, init: &[ApiStatus], main: &[ApiStatus], pod_is_terminal: bool) -> &'static str {
    let mut pending_init = 0;
    let mut failed_init = 0;
    for s in init {
        let state = s.state.clone().unwrap_or_default();
        if state.running.is_some() {
            pending_init += 1;
        } else if let Some(t) = &state.terminated {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if let Some(last) = s.last_state.as_ref().and_then(|l| l.terminated.as_ref()) {
            if last.exit_code != 0 {
                failed_init += 1;
            }
        } else {
            pending_init += 1;
        }
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in main {
        let state = s.state.clone().unwrap_or_default();
        if state.running.is_some() {
            running += 1;
        } else if let Some(t) = &state.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if s
            .last_state
            .as_ref()
            .is_some_and(|l| l.terminated.is_some())
        {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    let policy = super::reconcile::restart_policy(pod);
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    if pending_init > 0 || waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        if pod_is_terminal {
            return if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        if policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

impl Kubelet {
    fn api_container_status(
        &self,
        rt: &PodRuntime<'_>,
        c: &Container,
        waiting: &Waiting,
        is_init: bool,
    ) -> ApiStatus {
        let runtime = &self.runtime_name;
        let image = normalize_image(c.image.as_deref().unwrap_or(""));
        let noted = waiting.get(&c.name);
        let Some(st) = rt.latest(&c.name) else {
            let (reason, message) =
                noted.map_or(("ContainerCreating", ""), |(r, m)| (r.as_str(), m.as_str()));
            return ApiStatus {
                name: c.name.clone(),
                state: Some(waiting_state(reason, message)),
                image,
                ready: false,
                restart_count: 0,
                started: Some(false),
                ..ApiStatus::default()
            };
        };
        let previous = rt.previous(&c.name).map(|p| terminated(runtime, p));
        let probe_ok = |kind: ProbeKind, has: bool| {
            !has || self.probes.result(&st.id, kind) == Some(ProbeResult::Success)
        };
        let (state, last_state, started, ready) = match st.state {
            ContainerState::Running => {
                let started = probe_ok(ProbeKind::Startup, c.startup_probe.is_some());
                let ready = !is_init
                    && started
                    && probe_ok(ProbeKind::Readiness, c.readiness_probe.is_some());
                let state = ApiState {
                    running: Some(ContainerStateRunning {
                        started_at: st.started_at.map(time_of),
                    }),
                    ..ApiState::default()
                };
                (state, previous, started, ready)
            }
            ContainerState::Exited => match noted {
                Some((reason, message)) => (
                    waiting_state(reason, message),
                    Some(terminated(runtime, st)),
                    false,
                    false,
                ),
                None => (
                    terminated(runtime, st),
                    previous,
                    false,
                    is_init && st.exit_code == 0,
                ),
            },
            ContainerState::Created | ContainerState::Unknown => (
                waiting_state("ContainerCreating", ""),
                previous,
                false,
                false,
            ),
        };
        ApiStatus {
            name: c.name.clone(),
            state: Some(state),
            last_state,
            ready,
            restart_count: i32::try_from(st.metadata.attempt).unwrap_or(i32::MAX),
            image,
            image_id: st.image_ref.clone(),
            container_id: Some(format!("{runtime}://{}", st.id)),
            started: Some(started),
            ..ApiStatus::default()
        }
    }

    /// The status of one pod now. `pod_is_terminal` marks a deleted pod whose containers have
    /// all stopped (it gets Succeeded or Failed whatever its restart policy).
    #[allow(
        clippy::too_many_lines,
        reason = "the fields of a pod status, in order"
    )]
    pub(crate) fn pod_status(
        &self,
        wp: &WorkPod,
        rt: &PodRuntime<'_>,
        waiting: &Waiting,
        pod_is_terminal: bool,
        now: SystemTime,
    ) -> PodStatus {
        let pod = &wp.pod;
        let old: PodStatus = self
            .statuses
            .get(&wp.uid)
            .cloned()
            .or_else(|| wp.api.as_ref().map(|a| a.status.clone()))
            .unwrap_or_default();
        let init: Vec<ApiStatus> = pod
            .spec
            .init_containers
            .iter()
            .map(|c| self.api_container_status(rt, c, waiting, true))
            .collect();
        let main: Vec<ApiStatus> = pod
            .spec
            .containers
            .iter()
            .map(|c| self.api_container_status(rt, c, waiting, false))
            .collect();
        let mut phase = phase(pod, &init, &main, pod_is_terminal);
        // Upstream: a pod that is done (deleted and stopped) and not Succeeded is Failed.
        if pod_is_terminal && phase != "Succeeded" {
            phase = "Failed";
        }
        let sandbox = rt.latest_sandbox();
        let ready_to_start =
            sandbox.is_some_and(|s| s.state == SandboxState::Ready && s.ip.is_some());
        let incomplete: Vec<&str> = init
            .iter()
            .filter(|s| !is_terminated_ok(s))
            .map(|s| s.name.as_str())
            .collect();
        let unready: Vec<&str> = main
            .iter()
            .filter(|s| !s.ready)
            .map(|s| s.name.as_str())
            .collect();
        let completed = phase == "Succeeded" || phase == "Failed";
        let cond = |type_: &str, ok: bool, reason: &str, message: String| {
            let status = if ok { "True" } else { "False" };
            let previous = old.conditions.iter().find(|c| c.r#type == type_);
            PodCondition {
                r#type: type_.to_owned(),
                status: status.to_owned(),
                last_transition_time: match previous {
                    Some(p) if p.status == status => p.last_transition_time,
                    _ => Some(time_of(now)),
                },
                reason: (!ok && !reason.is_empty()).then(|| reason.to_owned()),
                message: (!ok && !message.is_empty()).then_some(message),
                ..PodCondition::default()
            }
        };
        let list = |names: &[&str]| format!("[{}]", names.join(" "));
        let (ready_reason, ready_message) = if completed {
            ("PodCompleted", String::new())
        } else {
            (
                "ContainersNotReady",
                format!("containers with unready status: {}", list(&unready)),
            )
        };
        let mut conditions = vec![
            cond(
                "PodReadyToStartContainers",
                ready_to_start,
                "",
                String::new(),
            ),
            cond(
                "Initialized",
                incomplete.is_empty(),
                if completed {
                    "PodCompleted"
                } else {
                    "ContainersNotInitialized"
                },
                if completed {
                    String::new()
                } else {
                    format!("containers with incomplete status: {}", list(&incomplete))
                },
            ),
            cond(
                "Ready",
                unready.is_empty() && !completed,
                ready_reason,
                ready_message.clone(),
            ),
            cond(
                "ContainersReady",
                unready.is_empty() && !completed,
                ready_reason,
                ready_message,
            ),
        ];
        // PodScheduled is the scheduler's; a static pod (never scheduled) gets True.
        let scheduled = old
            .conditions
            .iter()
            .find(|c| c.r#type == "PodScheduled")
            .cloned()
            .unwrap_or_else(|| cond("PodScheduled", true, "", String::new()));
        conditions.push(scheduled);
        let pod_ip = sandbox
            .filter(|s| s.state == SandboxState::Ready)
            .and_then(|s| s.ip.clone());
        PodStatus {
            phase: Some(phase.to_owned()),
            conditions,
            host_ip: Some(self.config.node_ip.clone()),
            host_ips: vec![HostIp {
                ip: self.config.node_ip.clone(),
            }],
            pod_ip: pod_ip.clone(),
            pod_ips: pod_ip.map(|ip| vec![PodIp { ip }]).unwrap_or_default(),
            start_time: self.start_times.get(&wp.uid).copied(),
            init_container_statuses: init,
            container_statuses: main,
            qos_class: Some(pod.qos_class().to_owned()),
            ..old
        }
    }

    /// Computes the pod's status and writes it when it changed since last written.
    pub(crate) fn write_status(
        &mut self,
        wp: &WorkPod,
        rt: &PodRuntime<'_>,
        waiting: &Waiting,
        now: SystemTime,
        out: &mut Output,
    ) {
        let status = self.pod_status(wp, rt, waiting, false, now);
        self.write(wp, status, out);
    }

    /// Writes `status` when it differs from what was last written (or, before any write,
    /// from the API's), or when someone else has since written a different status into the
    /// API (upstream's status manager syncs against the API server's copy: the node
    /// lifecycle controller marks a lost node's pods NotReady, and a kubelet that comes back
    /// must post Ready again).
    pub(crate) fn write(&mut self, wp: &WorkPod, status: PodStatus, out: &mut Output) {
        let Some(api) = &wp.api else {
            return;
        };
        let last = self.statuses.get(&wp.uid);
        let overwritten = self
            .status_versions
            .get(&wp.uid)
            .is_some_and(|seen| *seen != api.metadata.resource_version)
            && api.status != status;
        if !overwritten && (last == Some(&status) || (last.is_none() && api.status == status)) {
            if api.status == status {
                self.status_versions
                    .insert(wp.uid.clone(), api.metadata.resource_version.clone());
            }
            self.statuses.insert(wp.uid.clone(), status);
            return;
        }
        let mut updated = api.clone();
        updated.status = status.clone();
        out.api.push(Action::UpdateStatus(updated.into()));
        self.status_versions
            .insert(wp.uid.clone(), api.metadata.resource_version.clone());
        self.statuses.insert(wp.uid.clone(), status);
    }
}
