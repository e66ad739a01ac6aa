//! The sync of each pod: what to pull, create, start and stop (upstream
//! `kuberuntime_manager.go`, `computePodActions` and `SyncPod`), graceful termination and final
//! deletion, orphans, and mirror pods of static pods.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use skiff_core::client::DeleteOptions;
use skiff_core::object::{
    Container, HasKindInfo, Node, Object, ObjectMeta, OwnerReference, Pod, PodStatus,
};

use super::probe::{ProbeKind, ProbeResult};
use super::static_pods::{CONFIG_HASH_ANNOTATION, MIRROR_ANNOTATION};
use super::{
    CONTAINER_NAME_LABEL, CRASH_BACKOFF_INITIAL, GRACE_ANNOTATION, Kubelet, Output, POD_NAME_LABEL,
    POD_NAMESPACE_LABEL, POD_UID_LABEL, RESTART_COUNT_ANNOTATION, RuntimeAction, Snapshot,
};
use crate::cri::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatus, Mount, PodSandboxConfig,
    PodSandboxMetadata, PodSandboxStatus, SandboxState, image_tag, normalize_image,
};
use crate::reconcile::Action;
use crate::view::View;

/// Upstream's default `terminationGracePeriodSeconds`.
pub const DEFAULT_GRACE_SECONDS: i64 = 30;
/// Grace period for containers of a pod the kubelet no longer knows (upstream
/// `minimumGracePeriodInSeconds`).
pub const MINIMUM_GRACE_SECONDS: i64 = 2;

/// A pod the kubelet runs: from the API, or static (from a manifest) with its mirror pod.
#[derive(Debug, Clone)]
pub(crate) struct WorkPod {
    pub(crate) pod: Pod,
    pub(crate) uid: String,
    pub(crate) key: String,
    /// The API object status is written to: the pod itself, or a static pod's mirror.
    pub(crate) api: Option<Pod>,
}

/// Why a container is waiting, decided by the sync and shown in its status.
pub(crate) type Waiting = BTreeMap<String, (String, String)>;

pub(crate) fn is_mirror(pod: &Pod) -> bool {
    pod.metadata.annotations.contains_key(MIRROR_ANNOTATION)
}

fn since(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or(Duration::ZERO)
}

/// Upstream `restartPolicy` default.
pub(crate) fn restart_policy(pod: &Pod) -> &str {
    pod.spec.restart_policy.as_deref().unwrap_or("Always")
}

/// Upstream `ShouldContainerBeRestarted` for an exited container.
fn should_restart(pod: &Pod, exit_code: i32) -> bool {
    match restart_policy(pod) {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

/// The pull policy, defaulted from the tag as upstream's defaulting does.
fn pull_policy(c: &Container) -> &str {
    match c.image_pull_policy.as_deref() {
        Some(p) => p,
        None if image_tag(c.image.as_deref().unwrap_or("")).as_deref() == Some("latest") => {
            "Always"
        }
        None => "IfNotPresent",
    }
}

/// The containers of one pod in the runtime, grouped by name, each list by attempt.
pub(crate) struct PodRuntime<'s> {
    pub(crate) sandboxes: Vec<&'s PodSandboxStatus>,
    pub(crate) containers: BTreeMap<String, Vec<&'s ContainerStatus>>,
}

impl<'s> PodRuntime<'s> {
    pub(crate) fn of(snapshot: &'s Snapshot, uid: &str) -> Self {
        let mut sandboxes: Vec<&PodSandboxStatus> = snapshot
            .sandboxes
            .iter()
            .filter(|s| s.labels.get(POD_UID_LABEL).map(String::as_str) == Some(uid))
            .collect();
        sandboxes.sort_by_key(|s| (s.metadata.attempt, s.created_at));
        let ids: BTreeSet<&str> = sandboxes.iter().map(|s| s.id.as_str()).collect();
        let mut containers: BTreeMap<String, Vec<&ContainerStatus>> = BTreeMap::new();
        for c in &snapshot.containers {
            if ids.contains(c.sandbox_id.as_str()) {
                containers
                    .entry(c.metadata.name.clone())
                    .or_default()
                    .push(c);
            }
        }
        for list in containers.values_mut() {
            list.sort_by_key(|c| (c.metadata.attempt, c.created_at));
        }
        Self {
            sandboxes,
            containers,
        }
    }

    pub(crate) fn latest_sandbox(&self) -> Option<&'s PodSandboxStatus> {
        self.sandboxes.last().copied()
    }

    /// The ready sandbox, if the latest one is ready.
    pub(crate) fn ready_sandbox(&self) -> Option<&'s PodSandboxStatus> {
        self.latest_sandbox()
            .filter(|s| s.state == SandboxState::Ready)
    }

    /// The latest container of a name in the current sandbox.
    pub(crate) fn latest(&self, name: &str) -> Option<&'s ContainerStatus> {
        let sandbox = self.latest_sandbox()?;
        self.containers
            .get(name)?
            .iter()
            .rev()
            .find(|c| c.sandbox_id == sandbox.id)
            .copied()
    }

    /// The container before the latest of a name (its last termination), any sandbox.
    pub(crate) fn previous(&self, name: &str) -> Option<&'s ContainerStatus> {
        let list = self.containers.get(name)?;
        let latest = self.latest(name)?;
        list.iter()
            .rev()
            .find(|c| c.id != latest.id && c.state == ContainerState::Exited)
            .copied()
    }

    /// The restart count of the next start of a container: one more than the highest
    /// attempt so far.
    fn next_attempt(&self, name: &str) -> u32 {
        self.containers
            .get(name)
            .and_then(|l| l.iter().map(|c| c.metadata.attempt).max())
            .map_or(0, |a| a + 1)
    }

    pub(crate) fn running(&self) -> impl Iterator<Item = &'s ContainerStatus> + '_ {
        self.containers
            .values()
            .flatten()
            .filter(|c| c.state == ContainerState::Running)
            .copied()
    }
}

/// The node directory of a pod volume (upstream layout).
pub(crate) fn volume_dir(uid: &str, plugin: &str, name: &str) -> String {
    format!("/var/lib/kubelet/pods/{uid}/volumes/kubernetes.io~{plugin}/{name}")
}

impl Kubelet {
    /// The pods this kubelet runs: its API pods (not mirrors) and its static pods.
    pub(crate) fn work_pods(&self, view: &View) -> Vec<WorkPod> {
        let node = &self.config.node_name;
        let mut pods: Vec<WorkPod> = view
            .pods_on_node(node)
            .filter(|p| !is_mirror(p))
            .map(|p| WorkPod {
                pod: p.clone(),
                uid: p.metadata.uid.clone().unwrap_or_default(),
                key: format!(
                    "{}/{}",
                    p.metadata.namespace_or_empty(),
                    p.metadata.name_or_empty()
                ),
                api: Some(p.clone()),
            })
            .collect();
        for p in &self.static_pods {
            let ns = p.metadata.namespace_or_empty();
            let name = p.metadata.name_or_empty();
            let mirror = view.get::<Pod>(ns, name).filter(|m| is_mirror(m)).cloned();
            pods.push(WorkPod {
                pod: p.clone(),
                uid: p.metadata.uid.clone().unwrap_or_default(),
                key: format!("{ns}/{name}"),
                api: mirror,
            });
        }
        pods
    }

    /// The uid the kubelet's memory uses for a pod object: a mirror pod's static pod's.
    pub(crate) fn uid_for_status(pod: &Pod) -> Option<String> {
        pod.metadata.annotations.get(MIRROR_ANNOTATION).cloned()
    }

    pub(crate) fn reconcile_pods(
        &mut self,
        view: &View,
        snapshot: &Snapshot,
        now: SystemTime,
        out: &mut Output,
    ) {
        let pods = self.work_pods(view);
        let desired: BTreeSet<&str> = pods.iter().map(|p| p.uid.as_str()).collect();
        for wp in &pods {
            self.sync_pod(view, wp, snapshot, now, out);
        }
        self.kill_orphans(snapshot, &desired, now, out);
        self.reconcile_mirrors(view, now, out);
        // Forget what belongs to pods that are gone for good.
        let live: BTreeSet<String> = pods.iter().map(|p| p.uid.clone()).collect();
        self.start_times.retain(|uid, _| live.contains(uid));
        self.statuses.retain(|uid, _| live.contains(uid));
        self.status_versions.retain(|uid, _| live.contains(uid));
        self.crash_backoff.retain(|(uid, _), _| live.contains(uid));
        self.pulls.retain(|(uid, _), _| live.contains(uid));
        self.finalized.retain(|uid| live.contains(uid));
        self.volume_files.retain(|uid, _| live.contains(uid));
        let running: BTreeSet<&str> = snapshot
            .containers
            .iter()
            .filter(|c| c.state == ContainerState::Running)
            .map(|c| c.id.as_str())
            .collect();
        self.stopping.retain(|id, _| running.contains(id.as_str()));
        self.probes.retain_running(&running);
    }

    fn sync_pod(
        &mut self,
        view: &View,
        wp: &WorkPod,
        snapshot: &Snapshot,
        now: SystemTime,
        out: &mut Output,
    ) {
        // One span per pod sync (upstream's kubelet logs `SyncPod` per pod); entering it
        // changes nothing the sync computes.
        let span = tracing::debug_span!("pod_sync", node = %self.config.node_name, pod = %wp.key);
        let _entered = span.enter();
        tracing::trace!("sync");
        let rt = PodRuntime::of(snapshot, &wp.uid);
        let mut waiting = Waiting::new();
        self.start_times
            .entry(wp.uid.clone())
            .or_insert_with(|| crate::reconcile::time_of(now));
        if wp.pod.metadata.deletion_timestamp.is_some() {
            self.terminate(wp, &rt, now, out);
            return;
        }
        if let Some(deadline) = wp.pod.spec.active_deadline_seconds
            && let Some(start) = self.start_times.get(&wp.uid)
        {
            let end = start.unix_seconds.saturating_add(deadline);
            let now_secs = crate::reconcile::time_of(now).unix_seconds;
            if now_secs >= end {
                self.deadline_exceeded(wp, &rt, now, out);
                return;
            }
            out.requeue_at_most(Duration::from_secs((end - now_secs).unsigned_abs()));
        }
        // A pod the API already records as finished never runs again (upstream: terminal
        // pods are not restarted, even when the kubelet lost their containers).
        let recorded_terminal = wp
            .api
            .as_ref()
            .is_some_and(|a| matches!(a.status.phase.as_deref(), Some("Succeeded" | "Failed")));
        if recorded_terminal && rt.running().next().is_none() {
            if let Some(sb) = rt.ready_sandbox() {
                out.runtime.push(RuntimeAction::StopPodSandbox {
                    pod: wp.key.clone(),
                    sandbox_id: sb.id.clone(),
                });
            }
            return;
        }
        // Volumes are set up before the sandbox (upstream `WaitForAttachAndMount`) and kept
        // in step with their ConfigMaps and Secrets afterwards.
        if !self.sync_volumes(view, wp, &rt, &mut waiting, out) {
            self.write_status(wp, &rt, &waiting, now, out);
            return;
        }
        let terminal = Self::is_terminal(wp, &rt);
        if terminal {
            // A finished pod keeps its exited containers but not its sandbox.
            if let Some(sb) = rt.ready_sandbox() {
                out.runtime.push(RuntimeAction::StopPodSandbox {
                    pod: wp.key.clone(),
                    sandbox_id: sb.id.clone(),
                });
            }
        } else if let Some(sandbox) = rt.ready_sandbox() {
            // Sandboxes replaced by this one (after a node crash) go, with their containers.
            for old in &rt.sandboxes {
                if old.id != sandbox.id {
                    out.runtime.push(RuntimeAction::RemovePodSandbox {
                        pod: wp.key.clone(),
                        sandbox_id: old.id.clone(),
                    });
                }
            }
            self.sync_containers(view, wp, &rt, sandbox, snapshot, now, &mut waiting, out);
        } else if snapshot.network_ready() || wp.pod.spec.host_network == Some(true) {
            Self::create_sandbox(&self.config, wp, &rt, out);
        }
        self.write_status(wp, &rt, &waiting, now, out);
    }

    /// Whether the pod has run to completion (upstream: all containers terminated and none
    /// will restart, or an init container failed under `restartPolicy: Never`).
    fn is_terminal(wp: &WorkPod, rt: &PodRuntime<'_>) -> bool {
        let pod = &wp.pod;
        if rt.latest_sandbox().is_none() {
            return false;
        }
        let never = restart_policy(pod) == "Never";
        for c in &pod.spec.init_containers {
            match rt.latest(&c.name) {
                Some(st) if st.state == ContainerState::Exited && st.exit_code != 0 && never => {
                    return true;
                }
                Some(st) if st.state == ContainerState::Exited && st.exit_code == 0 => {}
                _ => return false,
            }
        }
        pod.spec.containers.iter().all(|c| {
            rt.latest(&c.name).is_some_and(|st| {
                st.state == ContainerState::Exited && !should_restart(pod, st.exit_code)
            })
        })
    }

    fn create_sandbox(
        config: &super::KubeletConfig,
        wp: &WorkPod,
        rt: &PodRuntime<'_>,
        out: &mut Output,
    ) {
        let pod = &wp.pod;
        let attempt = rt.latest_sandbox().map_or(0, |s| s.metadata.attempt + 1);
        let grace = pod
            .spec
            .termination_grace_period_seconds
            .unwrap_or(DEFAULT_GRACE_SECONDS);
        out.runtime.push(RuntimeAction::RunPodSandbox {
            pod: wp.key.clone(),
            config: PodSandboxConfig {
                metadata: PodSandboxMetadata {
                    name: pod.metadata.name_or_empty().to_owned(),
                    uid: wp.uid.clone(),
                    namespace: pod.metadata.namespace_or_empty().to_owned(),
                    attempt,
                },
                hostname: pod
                    .spec
                    .hostname
                    .clone()
                    .unwrap_or_else(|| pod.metadata.name_or_empty().to_owned()),
                labels: BTreeMap::from([
                    (
                        POD_NAME_LABEL.to_owned(),
                        pod.metadata.name_or_empty().to_owned(),
                    ),
                    (
                        POD_NAMESPACE_LABEL.to_owned(),
                        pod.metadata.namespace_or_empty().to_owned(),
                    ),
                    (POD_UID_LABEL.to_owned(), wp.uid.clone()),
                ]),
                annotations: BTreeMap::from([(GRACE_ANNOTATION.to_owned(), grace.to_string())]),
                host_network: pod.spec.host_network == Some(true),
                dns: dns_config(config, pod),
            },
        });
        out.requeue_at_most(Duration::ZERO);
    }

    /// Writes the pod's ConfigMap and Secret volume files that changed since last written
    /// (all of them the first time) and removes keys that are gone. `false` when a volume
    /// cannot be made and the pod has no sandbox yet (it waits in `ContainerCreating`); a
    /// running pod keeps its files when its ConfigMap goes away, as upstream.
    fn sync_volumes(
        &mut self,
        view: &View,
        wp: &WorkPod,
        rt: &PodRuntime<'_>,
        waiting: &mut Waiting,
        out: &mut Output,
    ) -> bool {
        let files = match Self::volume_files(view, wp) {
            Ok(files) => files,
            Err(_) if rt.ready_sandbox().is_some() => return true,
            Err(message) => {
                for c in wp.pod.spec.all_containers() {
                    waiting.insert(
                        c.name.clone(),
                        ("ContainerCreating".to_owned(), message.clone()),
                    );
                }
                return false;
            }
        };
        let written = self.volume_files.entry(wp.uid.clone()).or_default();
        let wanted: BTreeMap<String, Vec<u8>> = files.into_iter().collect();
        for (path, content) in &wanted {
            if written.get(path) != Some(content) {
                out.runtime.push(RuntimeAction::WriteFile {
                    path: path.clone(),
                    content: content.clone(),
                });
            }
        }
        for path in written.keys() {
            if !wanted.contains_key(path) {
                out.runtime
                    .push(RuntimeAction::RemoveDir { path: path.clone() });
            }
        }
        *written = wanted;
        true
    }

    /// The files of the pod's ConfigMap and Secret volumes, or why they cannot be made
    /// (upstream's `FailedMount` message).
    fn volume_files(view: &View, wp: &WorkPod) -> Result<Vec<(String, Vec<u8>)>, String> {
        use skiff_core::object::{ConfigMap, Secret};
        let ns = wp.pod.metadata.namespace_or_empty();
        let mut files = Vec::new();
        for v in &wp.pod.spec.volumes {
            if let Some(src) = &v.config_map {
                let name = src.name.clone().unwrap_or_default();
                let dir = volume_dir(&wp.uid, "configmap", &v.name);
                match view.get::<ConfigMap>(ns, &name) {
                    Some(cm) => {
                        let data: BTreeMap<String, Vec<u8>> = cm
                            .data
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                            .chain(cm.binary_data.iter().map(|(k, v)| (k.clone(), v.0.clone())))
                            .collect();
                        files.extend(project(&dir, &data, &src.items));
                    }
                    None if src.optional == Some(true) => {}
                    None => {
                        return Err(format!(
                            "MountVolume.SetUp failed for volume \"{}\" : configmap \"{name}\" not found",
                            v.name
                        ));
                    }
                }
            }
            if let Some(src) = &v.secret {
                let name = src.secret_name.clone().unwrap_or_default();
                let dir = volume_dir(&wp.uid, "secret", &v.name);
                match view.get::<Secret>(ns, &name) {
                    Some(secret) => {
                        let data: BTreeMap<String, Vec<u8>> = secret
                            .data
                            .iter()
                            .map(|(k, v)| (k.clone(), v.0.clone()))
                            .collect();
                        files.extend(project(&dir, &data, &src.items));
                    }
                    None if src.optional == Some(true) => {}
                    None => {
                        return Err(format!(
                            "MountVolume.SetUp failed for volume \"{}\" : secret \"{name}\" not found",
                            v.name
                        ));
                    }
                }
            }
        }
        Ok(files)
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the sync's inputs and outputs, threaded explicitly"
    )]
    fn sync_containers(
        &mut self,
        view: &View,
        wp: &WorkPod,
        rt: &PodRuntime<'_>,
        sandbox: &PodSandboxStatus,
        snapshot: &Snapshot,
        now: SystemTime,
        waiting: &mut Waiting,
        out: &mut Output,
    ) {
        let pod = &wp.pod;
        // Init containers, one at a time, in order.
        for c in &pod.spec.init_containers {
            match rt.latest(&c.name) {
                None => {
                    self.start(view, wp, rt, c, sandbox, snapshot, now, waiting, out);
                    mark_initializing(pod, waiting);
                    return;
                }
                Some(st) if st.state == ContainerState::Exited && st.exit_code == 0 => {}
                Some(st) if st.state == ContainerState::Exited => {
                    if should_restart(pod, st.exit_code) {
                        self.restart(view, wp, rt, c, st, sandbox, snapshot, now, waiting, out);
                    }
                    mark_initializing(pod, waiting);
                    return;
                }
                Some(_) => {
                    mark_initializing(pod, waiting);
                    return;
                }
            }
        }
        for c in &pod.spec.containers {
            match rt.latest(&c.name) {
                None => {
                    self.start(view, wp, rt, c, sandbox, snapshot, now, waiting, out);
                }
                Some(st) if st.state == ContainerState::Running => {
                    self.check_probes(wp, c, st, now, out);
                }
                Some(st) if st.state == ContainerState::Exited => {
                    if should_restart(pod, st.exit_code) {
                        self.restart(view, wp, rt, c, st, sandbox, snapshot, now, waiting, out);
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// A failed liveness or startup probe kills the container (upstream: "Container app failed
    /// liveness probe, will be restarted"); the restart follows as for any exit.
    fn check_probes(
        &mut self,
        wp: &WorkPod,
        c: &Container,
        st: &ContainerStatus,
        now: SystemTime,
        out: &mut Output,
    ) {
        let failed = [ProbeKind::Startup, ProbeKind::Liveness]
            .into_iter()
            .find(|k| self.probes.result(&st.id, *k) == Some(ProbeResult::Failure));
        let Some(kind) = failed else {
            if let Some(next) = self.probes.next_due(&st.id) {
                out.requeue_at_most(since(next, now));
            }
            return;
        };
        if self.stopping.contains_key(&st.id) {
            return;
        }
        let probe = match kind {
            ProbeKind::Startup => c.startup_probe.as_ref(),
            _ => c.liveness_probe.as_ref(),
        };
        let grace = probe
            .and_then(|p| p.termination_grace_period_seconds)
            .or(wp.pod.spec.termination_grace_period_seconds)
            .unwrap_or(DEFAULT_GRACE_SECONDS);
        out.runtime.push(RuntimeAction::StopContainer {
            container: format!("{}/{}", wp.key, c.name),
            container_id: st.id.clone(),
            timeout: Duration::from_secs(u64::try_from(grace.max(0)).unwrap_or(0)),
        });
    }

    /// Restarts an exited container unless it is backing off (CrashLoopBackOff).
    #[allow(
        clippy::too_many_arguments,
        reason = "the sync's inputs and outputs, threaded explicitly"
    )]
    fn restart(
        &mut self,
        view: &View,
        wp: &WorkPod,
        rt: &PodRuntime<'_>,
        c: &Container,
        st: &ContainerStatus,
        sandbox: &PodSandboxStatus,
        snapshot: &Snapshot,
        now: SystemTime,
        waiting: &mut Waiting,
        out: &mut Output,
    ) {
        let max = self.config.max_container_backoff;
        let finished = st.finished_at.unwrap_or(now);
        let key = (wp.uid.clone(), c.name.clone());
        if let Some(b) = self.crash_backoff.get(&key)
            && b.in_backoff_since(finished, now, max)
        {
            // Upstream kuberuntime `doBackOff`.
            waiting.insert(
                c.name.clone(),
                (
                    "CrashLoopBackOff".to_owned(),
                    format!(
                        "back-off {} restarting failed container={} pod={}_{}({})",
                        go_duration(b.delay),
                        c.name,
                        wp.pod.metadata.name_or_empty(),
                        wp.pod.metadata.namespace_or_empty(),
                        wp.uid
                    ),
                ),
            );
            out.requeue_at_most(since(b.until_since(finished), now));
            return;
        }
        let started = self.start(view, wp, rt, c, sandbox, snapshot, now, waiting, out);
        if started {
            self.crash_backoff
                .entry(key)
                .or_insert_with(|| super::Backoff::new(now))
                .next(finished, now, CRASH_BACKOFF_INITIAL, max);
            // Garbage: keep the latest exited attempt (the last termination), remove older.
            if let Some(list) = rt.containers.get(&c.name) {
                for old in list {
                    if old.id != st.id && old.state == ContainerState::Exited {
                        out.runtime.push(RuntimeAction::RemoveContainer {
                            container: format!("{}/{}", wp.key, c.name),
                            attempt: old.metadata.attempt,
                            container_id: old.id.clone(),
                        });
                    }
                }
            }
        }
    }

    /// Pulls the image as the policy asks and starts the container; `false` when it cannot
    /// start now (pull backing off or in progress, image missing under `Never`).
    #[allow(
        clippy::too_many_arguments,
        reason = "the sync's inputs and outputs, threaded explicitly"
    )]
    fn start(
        &mut self,
        view: &View,
        wp: &WorkPod,
        rt: &PodRuntime<'_>,
        c: &Container,
        sandbox: &PodSandboxStatus,
        snapshot: &Snapshot,
        now: SystemTime,
        waiting: &mut Waiting,
        out: &mut Output,
    ) -> bool {
        let image = c.image.clone().unwrap_or_default();
        let present = snapshot.images.contains(&normalize_image(&image));
        let policy = pull_policy(c);
        let must_pull = match policy {
            "Never" if !present => {
                waiting.insert(
                    c.name.clone(),
                    (
                        "ErrImageNeverPull".to_owned(),
                        format!(
                            "Container image \"{image}\" is not present with pull policy of Never"
                        ),
                    ),
                );
                return false;
            }
            "Never" => false,
            "Always" => true,
            _ => !present,
        };
        if must_pull {
            let key = (wp.uid.clone(), image.clone());
            if let Some(memory) = self.pulls.get_mut(&key) {
                if let Some(until) = memory.pulling_until
                    && until > now
                {
                    waiting.insert(
                        c.name.clone(),
                        ("ContainerCreating".to_owned(), String::new()),
                    );
                    out.requeue_at_most(since(until, now));
                    return false;
                }
                if let Some(b) = &memory.backoff
                    && b.in_backoff_since_update(now, self.config.max_container_backoff)
                {
                    // Upstream: the failed pull shows as ErrImagePull, then
                    // ImagePullBackOff while backing off (image manager, reason cache).
                    let shown = if memory.reported {
                        (
                            "ImagePullBackOff".to_owned(),
                            format!("Back-off pulling image \"{image}\""),
                        )
                    } else {
                        memory.reported = true;
                        (
                            "ErrImagePull".to_owned(),
                            memory.last_error.clone().unwrap_or_default(),
                        )
                    };
                    waiting.insert(c.name.clone(), shown);
                    out.requeue_at_most(since(b.last_update + b.delay, now));
                    return false;
                }
            }
            out.runtime.push(RuntimeAction::PullImage {
                pod: wp.key.clone(),
                pod_uid: wp.uid.clone(),
                image: image.clone(),
            });
        }
        let attempt = rt.next_attempt(&c.name);
        out.runtime.push(RuntimeAction::StartContainer {
            pod: wp.key.clone(),
            pod_uid: wp.uid.clone(),
            sandbox_id: sandbox.id.clone(),
            config: self.container_config(view, wp, c, sandbox, attempt),
        });
        true
    }

    fn container_config(
        &self,
        view: &View,
        wp: &WorkPod,
        c: &Container,
        sandbox: &PodSandboxStatus,
        attempt: u32,
    ) -> ContainerConfig {
        let pod = &wp.pod;
        let mut mounts = Vec::new();
        for m in &c.volume_mounts {
            let Some(v) = pod.spec.volumes.iter().find(|v| v.name == m.name) else {
                continue;
            };
            let host_path = if let Some(hp) = &v.host_path {
                hp.path.clone()
            } else if v.config_map.is_some() {
                volume_dir(&wp.uid, "configmap", &v.name)
            } else if v.secret.is_some() {
                volume_dir(&wp.uid, "secret", &v.name)
            } else {
                volume_dir(&wp.uid, "empty-dir", &v.name)
            };
            let host_path = match &m.sub_path {
                Some(sub) if !sub.is_empty() => format!("{host_path}/{sub}"),
                _ => host_path,
            };
            mounts.push(Mount {
                container_path: m.mount_path.clone(),
                host_path,
                readonly: m.read_only == Some(true) || v.config_map.is_some() || v.secret.is_some(),
            });
        }
        let memory_limit_bytes = c
            .resources
            .limits
            .get("memory")
            .and_then(|q| u64::try_from(q.value()).ok());
        ContainerConfig {
            metadata: ContainerMetadata {
                name: c.name.clone(),
                attempt,
            },
            image: c.image.clone().unwrap_or_default(),
            command: c.command.clone(),
            args: c.args.clone(),
            working_dir: c.working_dir.clone(),
            envs: self.environment(view, wp, c, sandbox),
            mounts,
            labels: BTreeMap::from([
                (
                    POD_NAME_LABEL.to_owned(),
                    pod.metadata.name_or_empty().to_owned(),
                ),
                (
                    POD_NAMESPACE_LABEL.to_owned(),
                    pod.metadata.namespace_or_empty().to_owned(),
                ),
                (POD_UID_LABEL.to_owned(), wp.uid.clone()),
                (CONTAINER_NAME_LABEL.to_owned(), c.name.clone()),
            ]),
            annotations: BTreeMap::from([(
                RESTART_COUNT_ANNOTATION.to_owned(),
                attempt.to_string(),
            )]),
            memory_limit_bytes,
        }
    }

    /// The container's environment: literal values, the downward API fields skiff knows, and
    /// keys of ConfigMaps and Secrets in the view.
    fn environment(
        &self,
        view: &View,
        wp: &WorkPod,
        c: &Container,
        sandbox: &PodSandboxStatus,
    ) -> Vec<(String, String)> {
        use skiff_core::object::{ConfigMap, Secret};
        let pod = &wp.pod;
        let ns = pod.metadata.namespace_or_empty();
        let mut env = Vec::new();
        for from in &c.env_from {
            let prefix = from.prefix.clone().unwrap_or_default();
            if let Some(r) = &from.config_map_ref
                && let Some(cm) = view.get::<ConfigMap>(ns, r.name.as_deref().unwrap_or(""))
            {
                for (k, v) in &cm.data {
                    env.push((format!("{prefix}{k}"), v.clone()));
                }
            }
            if let Some(r) = &from.secret_ref
                && let Some(s) = view.get::<Secret>(ns, r.name.as_deref().unwrap_or(""))
            {
                for (k, v) in &s.data {
                    env.push((
                        format!("{prefix}{k}"),
                        String::from_utf8_lossy(&v.0).into_owned(),
                    ));
                }
            }
        }
        for e in &c.env {
            let value = if let Some(v) = &e.value {
                Some(v.clone())
            } else if let Some(src) = &e.value_from {
                if let Some(f) = &src.field_ref {
                    match f.field_path.as_str() {
                        "metadata.name" => Some(pod.metadata.name_or_empty().to_owned()),
                        "metadata.namespace" => Some(ns.to_owned()),
                        "metadata.uid" => Some(wp.uid.clone()),
                        "spec.nodeName" => Some(self.config.node_name.clone()),
                        "spec.serviceAccountName" => pod.spec.service_account_name.clone(),
                        "status.podIP" => sandbox.ip.clone(),
                        "status.hostIP" => Some(self.config.node_ip.clone()),
                        _ => None,
                    }
                } else if let Some(k) = &src.config_map_key_ref {
                    view.get::<ConfigMap>(ns, k.name.as_deref().unwrap_or(""))
                        .and_then(|cm| cm.data.get(&k.key).cloned())
                } else if let Some(k) = &src.secret_key_ref {
                    view.get::<Secret>(ns, k.name.as_deref().unwrap_or(""))
                        .and_then(|s| s.data.get(&k.key))
                        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                } else {
                    None
                }
            } else {
                None
            };
            env.push((e.name.clone(), value.unwrap_or_default()));
        }
        env
    }

    /// Graceful termination of a deleted pod: stop its containers with the grace period; once
    /// none runs, remove the sandbox, write the terminal status and delete the pod for good
    /// (grace 0, uid precondition).
    fn terminate(&mut self, wp: &WorkPod, rt: &PodRuntime<'_>, now: SystemTime, out: &mut Output) {
        let pod = &wp.pod;
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .or(pod.spec.termination_grace_period_seconds)
            .unwrap_or(DEFAULT_GRACE_SECONDS)
            .max(0);
        let running: Vec<&ContainerStatus> = rt.running().collect();
        for c in &running {
            if !self.stopping.contains_key(&c.id) {
                out.runtime.push(RuntimeAction::StopContainer {
                    container: format!("{}/{}", wp.key, c.metadata.name),
                    container_id: c.id.clone(),
                    timeout: Duration::from_secs(u64::try_from(grace).unwrap_or(0)),
                });
            }
        }
        let waiting = Waiting::new();
        if !running.is_empty() {
            // Status while terminating: what has stopped so far.
            self.write_status(wp, rt, &waiting, now, out);
            out.requeue_at_most(Duration::from_secs(1));
            return;
        }
        if self.finalized.contains(&wp.uid) {
            return;
        }
        Self::remove_sandboxes(&wp.key, &wp.uid, rt, out);
        // Upstream (1.27+): a deleted pod reaches a terminal phase before it is removed.
        let snapshot_less = self.pod_status(wp, rt, &waiting, true, now);
        if let Some(api) = &wp.api {
            let mut updated = api.clone();
            updated.status = snapshot_less;
            if updated.status != api.status {
                out.api.push(Action::UpdateStatus(updated.into()));
            }
            out.api.push(Action::Delete {
                resource: &Pod::INFO,
                namespace: api.metadata.namespace_or_empty().to_owned(),
                name: api.metadata.name_or_empty().to_owned(),
                options: DeleteOptions {
                    grace_period_seconds: Some(0),
                    uid: api.metadata.uid.clone(),
                    ..DeleteOptions::default()
                },
            });
        }
        self.finalized.insert(wp.uid.clone());
    }

    /// Upstream `activeDeadlineSeconds`: the pod is killed and Failed with reason
    /// `DeadlineExceeded`.
    fn deadline_exceeded(
        &mut self,
        wp: &WorkPod,
        rt: &PodRuntime<'_>,
        now: SystemTime,
        out: &mut Output,
    ) {
        let grace = wp
            .pod
            .spec
            .termination_grace_period_seconds
            .unwrap_or(DEFAULT_GRACE_SECONDS)
            .max(0);
        let mut running = false;
        for c in rt.running() {
            running = true;
            if !self.stopping.contains_key(&c.id) {
                out.runtime.push(RuntimeAction::StopContainer {
                    container: format!("{}/{}", wp.key, c.metadata.name),
                    container_id: c.id.clone(),
                    timeout: Duration::from_secs(grace.unsigned_abs()),
                });
            }
        }
        if !running && let Some(sb) = rt.ready_sandbox() {
            out.runtime.push(RuntimeAction::StopPodSandbox {
                pod: wp.key.clone(),
                sandbox_id: sb.id.clone(),
            });
        }
        let mut status = self.pod_status(wp, rt, &Waiting::new(), true, now);
        status.phase = Some("Failed".to_owned());
        status.reason = Some("DeadlineExceeded".to_owned());
        status.message =
            Some("Pod was active on the node longer than the specified deadline".to_owned());
        self.write(wp, status, out);
    }

    fn remove_sandboxes(key: &str, uid: &str, rt: &PodRuntime<'_>, out: &mut Output) {
        for sb in &rt.sandboxes {
            if sb.state == SandboxState::Ready {
                out.runtime.push(RuntimeAction::StopPodSandbox {
                    pod: key.to_owned(),
                    sandbox_id: sb.id.clone(),
                });
            }
            out.runtime.push(RuntimeAction::RemovePodSandbox {
                pod: key.to_owned(),
                sandbox_id: sb.id.clone(),
            });
        }
        if !rt.sandboxes.is_empty() {
            out.runtime.push(RuntimeAction::RemoveDir {
                path: format!("/var/lib/kubelet/pods/{uid}"),
            });
        }
    }

    /// Sandboxes of pods the kubelet no longer runs (deleted with no grace, static manifests
    /// removed, or left from before a restart): stop their containers with the grace period
    /// the sandbox recorded, then remove them.
    fn kill_orphans(
        &mut self,
        snapshot: &Snapshot,
        desired: &BTreeSet<&str>,
        _now: SystemTime,
        out: &mut Output,
    ) {
        let orphans: BTreeSet<&str> = snapshot
            .sandboxes
            .iter()
            .filter_map(|s| s.labels.get(POD_UID_LABEL).map(String::as_str))
            .filter(|uid| !desired.contains(uid))
            .collect();
        for uid in orphans {
            let rt = PodRuntime::of(snapshot, uid);
            let Some(latest) = rt.latest_sandbox() else {
                continue;
            };
            let key = format!("{}/{}", latest.metadata.namespace, latest.metadata.name);
            let grace: u64 = latest
                .annotations
                .get(GRACE_ANNOTATION)
                .and_then(|g| g.parse().ok())
                .unwrap_or(MINIMUM_GRACE_SECONDS.unsigned_abs());
            let running: Vec<&ContainerStatus> = rt.running().collect();
            for c in &running {
                if !self.stopping.contains_key(&c.id) {
                    out.runtime.push(RuntimeAction::StopContainer {
                        container: format!("{key}/{}", c.metadata.name),
                        container_id: c.id.clone(),
                        timeout: Duration::from_secs(grace),
                    });
                }
            }
            if running.is_empty() {
                Self::remove_sandboxes(&key, uid, &rt, out);
            } else {
                out.requeue_at_most(Duration::from_secs(1));
            }
        }
    }

    /// Mirror pods: one per static pod, recreated when deleted or when the manifest changed;
    /// mirrors without a static pod are deleted (upstream `mirror_client.go`).
    fn reconcile_mirrors(&mut self, view: &View, _now: SystemTime, out: &mut Output) {
        let node_name = self.config.node_name.clone();
        let node_uid = view
            .get::<Node>("", &node_name)
            .and_then(|n| n.metadata.uid.clone());
        let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
        for sp in &self.static_pods {
            let ns = sp.metadata.namespace_or_empty().to_owned();
            let name = sp.metadata.name_or_empty().to_owned();
            wanted.insert((ns.clone(), name.clone()));
            let hash = sp
                .metadata
                .annotations
                .get(CONFIG_HASH_ANNOTATION)
                .cloned()
                .unwrap_or_default();
            match view.get::<Pod>(&ns, &name) {
                Some(existing) if is_mirror(existing) => {
                    self.node.mirror_pending.remove(&name);
                    // An outdated mirror, or one someone deleted gracefully, goes now (grace
                    // 0); the next round creates it afresh.
                    if existing.metadata.annotations.get(MIRROR_ANNOTATION) != Some(&hash)
                        || existing.metadata.deletion_timestamp.is_some()
                    {
                        out.api.push(delete_pod(existing));
                    }
                }
                Some(_) => {} // A regular pod holds the name: upstream leaves it alone.
                None => {
                    let Some(node_uid) = node_uid.clone() else {
                        continue;
                    };
                    if self.node.mirror_pending.contains(&name) {
                        continue;
                    }
                    let mut mirror = sp.clone();
                    mirror.metadata = ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(ns),
                        labels: sp.metadata.labels.clone(),
                        annotations: sp.metadata.annotations.clone(),
                        owner_references: vec![OwnerReference {
                            api_version: "v1".to_owned(),
                            kind: "Node".to_owned(),
                            name: node_name.clone(),
                            uid: node_uid,
                            controller: Some(true),
                            block_owner_deletion: None,
                        }],
                        ..ObjectMeta::default()
                    };
                    mirror
                        .metadata
                        .annotations
                        .insert(MIRROR_ANNOTATION.to_owned(), hash);
                    mirror.status = PodStatus::default();
                    self.node.mirror_pending.insert(name);
                    out.api.push(Action::Create(Object::Pod(mirror)));
                }
            }
        }
        for p in view.pods_on_node(&node_name) {
            let key = (
                p.metadata.namespace_or_empty().to_owned(),
                p.metadata.name_or_empty().to_owned(),
            );
            if is_mirror(p) && !wanted.contains(&key) {
                out.api.push(delete_pod(p));
            }
        }
    }
}

fn delete_pod(p: &Pod) -> Action {
    Action::Delete {
        resource: &Pod::INFO,
        namespace: p.metadata.namespace_or_empty().to_owned(),
        name: p.metadata.name_or_empty().to_owned(),
        options: DeleteOptions {
            grace_period_seconds: Some(0),
            uid: p.metadata.uid.clone(),
            ..DeleteOptions::default()
        },
    }
}

/// The pod's resolver (upstream `dns.go`, `GetPodDNS`): `ClusterFirst` (the default) uses
/// cluster DNS with `<ns>.svc.<domain> svc.<domain> <domain>` searches and `ndots:5`, unless
/// the pod is on the host network (then, as `Default`, the node's resolver); `None` starts
/// empty; `dnsConfig` is carried, not merged.
fn dns_config(config: &super::KubeletConfig, pod: &Pod) -> crate::cri::DnsConfig {
    let host_network = pod.spec.host_network == Some(true);
    match pod.spec.dns_policy.as_deref().unwrap_or("ClusterFirst") {
        "None" => crate::cri::DnsConfig::default(),
        "Default" => config.node_dns.clone(),
        "ClusterFirst" if host_network => config.node_dns.clone(),
        _ => {
            let domain = &config.cluster_domain;
            let ns = pod.metadata.namespace_or_empty();
            crate::cri::DnsConfig {
                servers: config.cluster_dns.clone(),
                searches: vec![
                    format!("{ns}.svc.{domain}"),
                    format!("svc.{domain}"),
                    domain.clone(),
                ],
                options: vec!["ndots:5".to_owned()],
            }
        }
    }
}

/// Main containers wait with `PodInitializing` while init containers run.
fn mark_initializing(pod: &Pod, waiting: &mut Waiting) {
    for c in &pod.spec.containers {
        waiting
            .entry(c.name.clone())
            .or_insert_with(|| ("PodInitializing".to_owned(), String::new()));
    }
}

/// The files of a ConfigMap or Secret volume: every key, or the listed items.
fn project(
    dir: &str,
    data: &BTreeMap<String, Vec<u8>>,
    items: &[skiff_core::object::KeyToPath],
) -> Vec<(String, Vec<u8>)> {
    if items.is_empty() {
        data.iter()
            .map(|(k, v)| (format!("{dir}/{k}"), v.clone()))
            .collect()
    } else {
        items
            .iter()
            .filter_map(|i| {
                data.get(&i.key)
                    .map(|v| (format!("{dir}/{}", i.path), v.clone()))
            })
            .collect()
    }
}

/// Go's `time.Duration` text (`0s`, `250ms`, `2.5s`, `1m30s`, `1h0m0s`).
pub(crate) fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let trim = |whole: u128, frac: u128, digits: usize, unit: &str| {
        let frac = format!("{frac:0digits$}");
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            format!("{whole}{unit}")
        } else {
            format!("{whole}.{frac}{unit}")
        }
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return trim(nanos / 1_000, nanos % 1_000, 3, "µs");
    }
    if nanos < 1_000_000_000 {
        return trim(nanos / 1_000_000, nanos % 1_000_000, 6, "ms");
    }
    let secs = nanos / 1_000_000_000;
    let seconds = trim(secs % 60, nanos % 1_000_000_000, 9, "s");
    match (secs / 3600, secs / 60 % 60) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

#[cfg(test)]
mod duration_tests {
    use super::go_duration;
    use std::time::Duration;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(go_duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
    }
}
