//! Reconcile tests under virtual time: a [`ManualClock`], the simulated runtime, and a tiny
//! in-memory API (the view, updated with the kubelet's own writes). The harness steps once
//! per simulated second (upstream PLEG relists every second), and once more at the same time
//! when the reconcile asks for an immediate requeue.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use skiff_core::clock::{Clock, ManualClock};
use skiff_core::object::{
    Container, ExecAction, HttpGetAction, IntOrString, Node, NodeSpec, Object, ObjectMeta, Pod,
    Probe,
};

use super::*;
use crate::cri::Runtime;
use crate::cri::sim::{SimConfig, SimRuntime};
use crate::reconcile::Action;

const START: u64 = 1_700_000_000;

struct Harness {
    clock: ManualClock,
    runtime: Arc<SimRuntime>,
    kubelet: Kubelet,
    view: View,
    rv: u64,
    /// Every API write, with its time (seconds since the start) and description.
    api_log: Vec<(u64, Action)>,
}

fn pod(name: &str, containers: Vec<Container>) -> Pod {
    let mut p = Pod::new(name, containers);
    p.metadata.namespace = Some("default".into());
    p.metadata.uid = Some(format!("uid-{name}"));
    p.metadata.resource_version = Some("1".into());
    p.spec.node_name = Some("node-1".into());
    p
}

fn container(name: &str, image: &str, command: &[&str]) -> Container {
    Container {
        command: command.iter().map(|s| (*s).to_owned()).collect(),
        ..Container::new(name, image)
    }
}

impl Harness {
    fn new() -> Self {
        let clock = ManualClock::new(START);
        let runtime = Arc::new(SimRuntime::new(
            Arc::new(clock.clone()),
            SimConfig {
                node_ip: std::net::Ipv4Addr::new(10, 0, 0, 11),
                ..SimConfig::default()
            },
        ));
        let mut config = KubeletConfig::new("node-1");
        config.node_ip = "10.0.0.11".into();
        let mut h = Self {
            clock,
            runtime,
            kubelet: Kubelet::new(config),
            view: View::new(),
            rv: 10,
            api_log: Vec::new(),
        };
        let node = Node {
            metadata: ObjectMeta {
                name: Some("node-1".into()),
                uid: Some("uid-node-1".into()),
                resource_version: Some("2".into()),
                ..ObjectMeta::default()
            },
            spec: NodeSpec {
                pod_cidr: Some("10.244.1.0/24".into()),
                ..NodeSpec::default()
            },
            ..Node::default()
        };
        h.view.insert(node.into());
        h
    }

    fn secs(&self) -> u64 {
        self.clock.elapsed().as_secs()
    }

    fn now(&self) -> SystemTime {
        self.clock.wall()
    }

    /// The API server, as far as the kubelet's writes go.
    fn send(&mut self, action: Action) {
        self.api_log.push((self.secs(), action.clone()));
        self.rv += 1;
        let rv = Some(self.rv.to_string());
        match action {
            Action::Create(mut o) => {
                let meta = o.metadata_mut();
                if meta.uid.is_none() {
                    meta.uid = Some(format!("uid-{}", meta.name_or_empty()));
                }
                meta.resource_version = rv;
                self.view.insert(o);
            }
            Action::Update(mut o) | Action::UpdateStatus(mut o) => {
                o.metadata_mut().resource_version = rv;
                self.view.insert(o);
            }
            Action::Delete {
                namespace, name, ..
            } => {
                if let Some(o) = self
                    .view
                    .get_object("Pod", &crate::view::ObjectKey::new(&namespace, &name))
                    .cloned()
                {
                    self.view.remove(&o);
                }
            }
            Action::Bind { .. } => {}
        }
    }

    /// One kubelet round: probes, reconcile, runtime actions, API actions. Returns the runtime
    /// actions as `describe` text, with the outcome when it was not plain success.
    fn step(&mut self) -> Vec<String> {
        let mut log = Vec::new();
        for _ in 0..4 {
            let now = self.now();
            let snapshot = Snapshot::take(self.runtime.as_ref());
            self.kubelet.run_probes(
                &self.view,
                &snapshot,
                self.runtime.as_ref(),
                self.runtime.as_ref(),
                now,
            );
            let out = self.kubelet.reconcile(&self.view, &snapshot, now);
            let applied = self.kubelet.apply(
                self.runtime.as_ref(),
                self.runtime.as_ref(),
                &out.runtime,
                now,
            );
            for (a, r) in out.runtime.iter().zip(&applied) {
                log.push(match r {
                    Applied::Ok | Applied::Pulled { .. } => a.describe(),
                    Applied::Pulling(_) => format!("{}: pulling", a.describe()),
                    Applied::Skipped => format!("{}: skipped", a.describe()),
                    Applied::Failed(_) => format!("{}: failed", a.describe()),
                });
            }
            for action in out.api {
                self.send(action);
            }
            if out.requeue_after != Some(Duration::ZERO) {
                break;
            }
        }
        log
    }

    /// Steps every second for `secs` seconds; the non-empty rounds, by time.
    fn run_for(&mut self, secs: u64) -> Vec<(u64, Vec<String>)> {
        let mut timeline = Vec::new();
        for _ in 0..secs {
            let t = self.secs();
            let log = self.step();
            if !log.is_empty() {
                timeline.push((t, log));
            }
            self.clock.advance(Duration::from_secs(1));
        }
        timeline
    }

    fn pod(&self, name: &str) -> Pod {
        self.view.get::<Pod>("default", name).cloned().unwrap()
    }

    fn add(&mut self, p: Pod) {
        self.view.insert(p.into());
    }

    fn container_id(&self, pod: &str, name: &str) -> String {
        self.pod(pod)
            .status
            .container_statuses
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.container_id.clone())
            .unwrap()
            .trim_start_matches("skiff-sim://")
            .to_owned()
    }

    fn exec(&self, id: &str, cmd: &[&str]) -> i32 {
        let cmd: Vec<String> = cmd.iter().map(|s| (*s).to_owned()).collect();
        self.runtime
            .exec_sync(id, &cmd, Duration::from_secs(1))
            .unwrap()
            .exit_code
    }

    /// The pod-status writes, as (time, phase, Ready status).
    fn ready_writes(&self, name: &str) -> Vec<(u64, String, String)> {
        self.api_log
            .iter()
            .filter_map(|(t, a)| match a {
                Action::UpdateStatus(Object::Pod(p)) if p.metadata.name_or_empty() == name => {
                    let ready = p
                        .status
                        .conditions
                        .iter()
                        .find(|c| c.r#type == "Ready")
                        .map(|c| c.status.clone())
                        .unwrap_or_default();
                    Some((*t, p.status.phase.clone().unwrap_or_default(), ready))
                }
                _ => None,
            })
            .collect()
    }
}

fn waiting_reason(p: &Pod, name: &str) -> Option<(String, String)> {
    let c = p
        .status
        .container_statuses
        .iter()
        .find(|c| c.name == name)?;
    let w = c.state.as_ref()?.waiting.as_ref()?;
    Some((
        w.reason.clone().unwrap_or_default(),
        w.message.clone().unwrap_or_default(),
    ))
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| (*s).to_owned()).collect()
}

fn at(t: u64, actions: &[&str]) -> (u64, Vec<String>) {
    (t, strings(actions))
}

#[test]
fn first_start_creates_the_sandbox_then_pulls_and_starts_each_container() {
    let mut h = Harness::new();
    h.add(pod(
        "web",
        vec![
            container("nginx", "nginx:1.27", &[]),
            container("sidecar", "busybox:1.36", &["sleep", "3600"]),
        ],
    ));
    assert_eq!(
        h.run_for(3),
        [
            at(0, &["runtime-config 10.244.1.0/24"]),
            at(
                1,
                &[
                    "run-sandbox default/web",
                    "pull nginx:1.27",
                    "start default/web/nginx attempt 0",
                    "pull busybox:1.36",
                    "start default/web/sidecar attempt 0",
                ]
            ),
        ]
    );
    let p = h.pod("web");
    assert_eq!(p.status.phase.as_deref(), Some("Running"));
    assert_eq!(p.status.pod_ip.as_deref(), Some("10.244.1.2"));
    let conditions: Vec<(&str, &str)> = p
        .status
        .conditions
        .iter()
        .map(|c| (c.r#type.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(
        conditions,
        [
            ("PodReadyToStartContainers", "True"),
            ("Initialized", "True"),
            ("Ready", "True"),
            ("ContainersReady", "True"),
            ("PodScheduled", "True"),
        ]
    );
    // The sidecar reaches nginx over the pod's shared localhost.
    let sidecar = h.container_id("web", "sidecar");
    assert_eq!(h.exec(&sidecar, &["wget", "-qO-", "http://localhost"]), 0);
}

#[test]
fn image_pull_failure_reports_err_image_pull_then_backs_off_10_20_40_to_300s() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    h.add(pod("web", vec![container("app", "nosuch:1.0", &[])]));
    let pull = [
        "pull nosuch:1.0: failed",
        "start default/web/app attempt 0: skipped",
    ];
    let first = h.run_for(2);
    assert_eq!(
        first,
        [at(
            0,
            &[
                "run-sandbox default/web",
                "pull nosuch:1.0: failed",
                "start default/web/app attempt 0: skipped"
            ]
        )]
    );
    let (reason, message) = waiting_reason(&h.pod("web"), "app").unwrap();
    assert_eq!(reason, "ErrImagePull");
    assert!(
        message.starts_with(
            "rpc error: code = NotFound desc = failed to pull and unpack image \
             \"docker.io/library/nosuch:1.0\""
        ),
        "{message}"
    );
    h.run_for(1);
    assert_eq!(
        waiting_reason(&h.pod("web"), "app"),
        Some((
            "ImagePullBackOff".into(),
            "Back-off pulling image \"nosuch:1.0\"".into()
        ))
    );
    let later = h.run_for(700);
    assert_eq!(
        later,
        [
            (10, strings(&pull)),
            (30, strings(&pull)),
            (70, strings(&pull)),
            (150, strings(&pull)),
            (310, strings(&pull)),
            (610, strings(&pull)),
        ]
    );
    assert_eq!(h.pod("web").status.phase.as_deref(), Some("Pending"));
}

#[test]
fn crash_loop_restarts_after_10_20_40_80_160_300_300s() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    h.add(pod(
        "crash",
        vec![container("app", "busybox:1.36", &["sh", "-c", "exit 1"])],
    ));
    let timeline = h.run_for(1000);
    let starts: Vec<(u64, String)> = timeline
        .iter()
        .flat_map(|(t, a)| a.iter().map(move |a| (*t, a.clone())))
        .filter(|(_, a)| a.starts_with("start"))
        .collect();
    let times: Vec<u64> = starts.iter().map(|(t, _)| *t).collect();
    // The first exit restarts at once, then 10, 20, 40, 80, 160 s, capped at 300 s.
    assert_eq!(times, [0, 1, 11, 31, 71, 151, 311, 611, 911]);
    let gaps: Vec<u64> = times.windows(2).skip(1).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps, [10, 20, 40, 80, 160, 300, 300]);
    assert_eq!(
        timeline[2],
        at(
            11,
            &[
                "start default/crash/app attempt 2",
                "remove default/crash/app attempt 0"
            ]
        )
    );
    let p = h.pod("crash");
    let status = &p.status.container_statuses[0];
    assert_eq!(status.restart_count, 8);
    assert_eq!(
        waiting_reason(&p, "app"),
        Some((
            "CrashLoopBackOff".into(),
            "back-off 5m0s restarting failed container=app pod=crash_default(uid-crash)".into()
        ))
    );
    let last = status
        .last_state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    assert_eq!(p.status.phase.as_deref(), Some("Running"));
}

#[test]
fn crash_backoff_resets_after_ten_minutes_of_running() {
    let starts = |script: &str, secs: u64| {
        let mut h = Harness::new();
        h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
        h.add(pod(
            "p",
            vec![container("app", "busybox:1.36", &["sh", "-c", script])],
        ));
        h.run_for(secs)
            .into_iter()
            .filter(|(_, a)| a.iter().any(|a| a.starts_with("start")))
            .map(|(t, _)| t)
            .collect::<Vec<u64>>()
    };
    // Running 500 s between crashes: the backoff grows (second restart waits 10 s).
    assert_eq!(starts("sleep 500; exit 1", 1600), [0, 500, 1010, 1530]);
    // Running 700 s (more than 2 × 300 s): every restart is immediate again.
    assert_eq!(starts("sleep 700; exit 1", 2200), [0, 700, 1400, 2100]);
}

fn liveness_pod() -> Pod {
    let mut c = container(
        "app",
        "busybox:1.36",
        &[
            "sh",
            "-c",
            "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600",
        ],
    );
    c.liveness_probe = Some(Probe {
        exec: Some(ExecAction {
            command: strings(&["cat", "/tmp/healthy"]),
        }),
        initial_delay_seconds: Some(5),
        period_seconds: Some(5),
        ..Probe::default()
    });
    pod("liveness", vec![c])
}

#[test]
fn failed_liveness_probe_kills_the_container_with_its_grace_and_restarts_it() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    h.add(liveness_pod());
    // Probes every 5 s from 5 s; the file goes at 30 s; three failures (30, 35, 40) kill it
    // with the pod's 30 s grace; `sh` ignores SIGTERM, so it dies at 70 s and restarts.
    assert_eq!(
        h.run_for(160),
        [
            at(
                0,
                &[
                    "run-sandbox default/liveness",
                    "pull busybox:1.36",
                    "start default/liveness/app attempt 0"
                ]
            ),
            at(40, &["stop default/liveness/app grace 30s"]),
            at(70, &["start default/liveness/app attempt 1"]),
            at(110, &["stop default/liveness/app grace 30s"]),
            at(
                150,
                &[
                    "start default/liveness/app attempt 2",
                    "remove default/liveness/app attempt 0"
                ]
            ),
        ]
    );
    let status = &h.pod("liveness").status.container_statuses[0];
    assert_eq!(status.restart_count, 2);
    let last = status
        .last_state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .unwrap();
    assert_eq!(last.exit_code, 137);
}

#[test]
fn readiness_probe_flips_the_ready_condition_without_restarting() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    let mut c = container("web", "nginx:1.27", &[]);
    c.readiness_probe = Some(Probe {
        http_get: Some(HttpGetAction {
            path: Some("/".into()),
            port: IntOrString::Int(80),
            ..HttpGetAction::default()
        }),
        period_seconds: Some(5),
        ..Probe::default()
    });
    h.add(pod("ready", vec![c]));
    let mut timeline = h.run_for(10);
    let id = h.container_id("ready", "web");
    // Someone removes the page: the probe gets 404s.
    assert_eq!(h.exec(&id, &["rm", "/usr/share/nginx/html/index.html"]), 0);
    timeline.extend(h.run_for(20));
    assert_eq!(
        h.exec(
            &id,
            &["sh", "-c", "echo back > /usr/share/nginx/html/index.html"]
        ),
        0
    );
    timeline.extend(h.run_for(10));
    // Only the first start: readiness never restarts anything.
    assert_eq!(
        timeline,
        [at(
            0,
            &[
                "run-sandbox default/ready",
                "pull nginx:1.27",
                "start default/ready/web attempt 0"
            ]
        )]
    );
    assert_eq!(
        h.ready_writes("ready"),
        [
            // Sandbox created, then ready for containers.
            (0, "Pending".into(), "False".into()),
            (0, "Pending".into(), "False".into()),
            // The first probe (t = 1 s) passes.
            (1, "Running".into(), "True".into()),
            // Page removed at 10 s: failures at 11, 16, 21 s (failureThreshold 3).
            (21, "Running".into(), "False".into()),
            // Page back at 30 s: the next probe passes (successThreshold 1).
            (31, "Running".into(), "True".into()),
        ]
    );
    let p = h.pod("ready");
    assert_eq!(p.status.container_statuses[0].restart_count, 0);
}

#[test]
fn graceful_delete_stops_containers_with_the_grace_period_then_deletes_the_pod() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    h.add(pod(
        "web",
        vec![
            container("nginx", "nginx:1.27", &[]),
            container("sidecar", "busybox:1.36", &["sleep", "3600"]),
        ],
    ));
    h.run_for(100);
    // The API server's graceful delete: deletionTimestamp = now + 30 s.
    let mut p = h.pod("web");
    p.metadata.deletion_timestamp = Some(skiff_core::object::Time::from_unix_seconds(
        i64::try_from(START + 130).unwrap(),
    ));
    p.metadata.deletion_grace_period_seconds = Some(30);
    h.add(p);
    let log_from = h.api_log.len();
    assert_eq!(
        h.run_for(40),
        [
            at(
                100,
                &[
                    "stop default/web/nginx grace 30s",
                    "stop default/web/sidecar grace 30s"
                ]
            ),
            // nginx exits at once on SIGTERM; `sleep` ignores it and is killed at 30 s.
            at(
                130,
                &[
                    "stop-sandbox default/web",
                    "remove-sandbox default/web",
                    "remove /var/lib/kubelet/pods/uid-web"
                ]
            ),
        ]
    );
    let api: Vec<(u64, String)> = h.api_log[log_from..]
        .iter()
        .filter(|(_, a)| a.describe().contains("pod/"))
        .map(|(t, a)| (*t, a.describe()))
        .collect();
    assert_eq!(
        api,
        [
            (101, "update-status pod/default/web".to_owned()),
            (130, "update-status pod/default/web".to_owned()),
            (130, "delete pod/default/web".to_owned()),
        ]
    );
    let (_, last) = h.api_log.last().unwrap();
    let Action::Delete { options, .. } = last else {
        panic!("not a delete: {last:?}");
    };
    assert_eq!(options.grace_period_seconds, Some(0));
    assert_eq!(options.uid.as_deref(), Some("uid-web"));
    let terminal = h
        .api_log
        .iter()
        .rev()
        .find_map(|(_, a)| match a {
            Action::UpdateStatus(Object::Pod(p)) => Some(p.clone()),
            _ => None,
        })
        .unwrap();
    // The sidecar was killed (137): the deleted pod ends Failed.
    assert_eq!(terminal.status.phase.as_deref(), Some("Failed"));
    assert!(h.view.get::<Pod>("default", "web").is_none());
    assert!(
        h.runtime
            .list_pod_sandbox(&crate::cri::SandboxFilter::default())
            .is_empty()
    );
}

#[test]
fn restarted_kubelet_adopts_running_containers_instead_of_starting_duplicates() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    h.add(pod(
        "web",
        vec![
            container("nginx", "nginx:1.27", &[]),
            container("job", "busybox:1.36", &["sh", "-c", "sleep 5; exit 2"]),
        ],
    ));
    h.run_for(20);
    let nginx = h.container_id("web", "nginx");
    let restarts = |h: &Harness| -> Vec<(String, i32)> {
        h.pod("web")
            .status
            .container_statuses
            .iter()
            .map(|c| (c.name.clone(), c.restart_count))
            .collect()
    };
    // `job` crashed once (at 5 s) and again at 10 s; it is backing off until 20 s.
    assert_eq!(
        restarts(&h),
        [("nginx".to_owned(), 0), ("job".to_owned(), 1)]
    );
    // The kubelet process restarts: its memory is gone, the runtime is not.
    let config = h.kubelet.config().clone();
    h.kubelet = Kubelet::new(config);
    // nginx is adopted (no duplicate); `job` restarts with the next attempt, its count read
    // back from the runtime's annotations (the backoff memory was lost, as upstream).
    assert_eq!(
        h.run_for(2),
        [at(
            20,
            &[
                "start default/web/job attempt 2",
                "remove default/web/job attempt 0"
            ]
        )]
    );
    assert_eq!(h.container_id("web", "nginx"), nginx);
    assert_eq!(
        restarts(&h),
        [("nginx".to_owned(), 0), ("job".to_owned(), 2)]
    );
    assert_eq!(
        h.runtime
            .list_containers(&crate::cri::ContainerFilter::default())
            .len(),
        3
    );
}

const ETCD_MANIFEST: &str = "apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
  labels: {component: etcd, tier: control-plane}
spec:
  containers:
  - name: etcd
    image: registry.k8s.io/etcd:3.5.21-0
    command: [etcd, --data-dir=/var/lib/etcd]
";

#[test]
fn static_pod_runs_from_its_manifest_with_a_mirror_pod_and_stops_when_removed() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    let (pods, errors) =
        static_pods::from_manifests(&[("etcd.yaml".into(), ETCD_MANIFEST.into())], "node-1");
    assert_eq!(errors, Vec::<String>::new());
    let uid = pods[0].metadata.uid.clone().unwrap();
    h.kubelet.set_static_pods(pods);
    assert_eq!(
        h.run_for(2),
        [at(
            0,
            &[
                "run-sandbox kube-system/etcd-node-1",
                "pull registry.k8s.io/etcd:3.5.21-0",
                "start kube-system/etcd-node-1/etcd attempt 0"
            ]
        )]
    );
    let mirror = h
        .view
        .get::<Pod>("kube-system", "etcd-node-1")
        .unwrap()
        .clone();
    assert_eq!(
        mirror
            .metadata
            .annotations
            .get("kubernetes.io/config.mirror"),
        Some(&uid)
    );
    let owner = &mirror.metadata.owner_references[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Node", "node-1", Some(true))
    );
    assert_eq!(mirror.status.phase.as_deref(), Some("Running"));
    // Deleting the mirror pod does not stop the static pod; the kubelet recreates it.
    h.view.remove(&mirror.clone().into());
    assert_eq!(h.run_for(1), []);
    assert!(h.view.get::<Pod>("kube-system", "etcd-node-1").is_some());
    // Removing the manifest stops the pod (its 30 s grace; etcd exits on SIGTERM) and
    // deletes the mirror.
    h.kubelet.set_static_pods(Vec::new());
    let log_from = h.api_log.len();
    assert_eq!(
        h.run_for(2),
        [
            at(3, &["stop kube-system/etcd-node-1/etcd grace 30s"]),
            at(
                4,
                &[
                    "stop-sandbox kube-system/etcd-node-1",
                    "remove-sandbox kube-system/etcd-node-1",
                    &format!("remove /var/lib/kubelet/pods/{uid}")
                ]
            ),
        ]
    );
    let api: Vec<String> = h.api_log[log_from..]
        .iter()
        .map(|(_, a)| a.describe())
        .collect();
    assert_eq!(api, ["delete pod/kube-system/etcd-node-1"]);
}

#[test]
fn node_registers_reports_status_on_change_and_renews_its_lease_every_10s() {
    let clock = ManualClock::new(START);
    let runtime = SimRuntime::new(Arc::new(clock.clone()), SimConfig::default());
    let mut config = KubeletConfig::new("node-1");
    config.zone = Some("zone-a".into());
    config.pod_cidr = Some("10.244.9.0/24".into());
    let mut kubelet = Kubelet::new(config);
    let mut view = View::new();
    let t = |s: u64| UNIX_EPOCH + Duration::from_secs(START + s);
    let describe = |out: &Output| out.api.iter().map(Action::describe).collect::<Vec<_>>();

    let out = kubelet.reconcile(&view, &Snapshot::take(&runtime), t(0));
    assert_eq!(describe(&out), ["create node/node-1"]);
    let Action::Create(Object::Node(mut node)) = out.api[0].clone() else {
        panic!()
    };
    assert_eq!(
        node.metadata
            .labels
            .get("kubernetes.io/hostname")
            .map(String::as_str),
        Some("node-1")
    );
    assert_eq!(
        node.metadata
            .labels
            .get("topology.kubernetes.io/zone")
            .map(String::as_str),
        Some("zone-a")
    );
    assert_eq!(node.status.capacity["pods"].to_string(), "110");
    assert_eq!(node.status.capacity["memory"].to_string(), "8Gi");
    // No pod network yet: NotReady with the CNI's reason.
    let ready = node.condition("Ready").unwrap();
    assert_eq!(ready.status, "False");
    assert_eq!(
        ready.message.as_deref(),
        Some(
            "container runtime network not ready: NetworkReady=false \
             reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin \
             not initialized"
        )
    );
    node.metadata.uid = Some("uid-node-1".into());
    node.metadata.resource_version = Some("5".into());
    view.insert(node.into());

    // Registered: configure the runtime with the configured CIDR, create the Lease.
    let out = kubelet.reconcile(&view, &Snapshot::take(&runtime), t(1));
    assert_eq!(
        out.runtime,
        [RuntimeAction::UpdateRuntimeConfig {
            pod_cidr: "10.244.9.0/24".into()
        }]
    );
    assert_eq!(describe(&out), ["create lease/kube-node-lease/node-1"]);
    let Action::Create(Object::Lease(lease)) = out.api[0].clone() else {
        panic!()
    };
    assert_eq!(lease.spec.holder_identity.as_deref(), Some("node-1"));
    assert_eq!(lease.spec.lease_duration_seconds, Some(40));
    assert_eq!(
        lease.spec.renew_time,
        Some(crate::reconcile::micro_time_of(t(1)))
    );
    assert_eq!(lease.metadata.owner_references[0].uid, "uid-node-1");
    view.insert(lease.into());
    runtime.update_runtime_config("10.244.9.0/24").unwrap();

    // At 2 s: the network became ready, written at once; at 11 s: the Lease is renewed.
    let out = kubelet.reconcile(&view, &Snapshot::take(&runtime), t(2));
    assert_eq!(describe(&out), ["update-status node/node-1"]);
    let Action::UpdateStatus(Object::Node(node)) = out.api[0].clone() else {
        panic!()
    };
    assert_eq!(node.condition("Ready").unwrap().status, "True");
    view.insert(node.into());
    assert_eq!(
        describe(&kubelet.reconcile(&view, &Snapshot::take(&runtime), t(11))),
        ["update lease/kube-node-lease/node-1"]
    );
    // Unchanged status is not written again until 5 minutes after the last report.
    let mut written = Vec::new();
    for s in 12..=320 {
        for d in describe(&kubelet.reconcile(&view, &Snapshot::take(&runtime), t(s))) {
            written.push((s, d));
        }
    }
    let status_writes: Vec<u64> = written
        .iter()
        .filter(|(_, d)| d.starts_with("update-status"))
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(status_writes, [302]);
    let renewals: Vec<u64> = written
        .iter()
        .filter(|(_, d)| d.starts_with("update lease"))
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(renewals.first(), Some(&21));
    assert!(
        renewals.windows(2).all(|w| w[1] - w[0] == 10),
        "{renewals:?}"
    );
}

#[test]
fn failed_lease_renewal_retries_after_200ms_doubling_to_7s() {
    let clock = ManualClock::new(START);
    let runtime = SimRuntime::new(Arc::new(clock), SimConfig::default());
    let mut kubelet = Kubelet::new(KubeletConfig::new("node-1"));
    let mut view = View::new();
    view.insert(
        Node {
            metadata: ObjectMeta::named("node-1"),
            ..Node::default()
        }
        .into(),
    );
    let snapshot = Snapshot::take(&runtime);
    let base = UNIX_EPOCH + Duration::from_secs(START);
    let mut now = base;
    let mut attempts = Vec::new();
    let error = skiff_core::client::ClientError::Transport("connection refused".into());
    // The agent reconciles again soon after a failure; step every 100 ms.
    for _ in 0..280 {
        let out = kubelet.reconcile(&view, &snapshot, now);
        if let Some(lease) = out.api.iter().find(|a| a.describe().contains("lease")) {
            attempts.push(now.duration_since(base).unwrap().as_millis());
            kubelet.api_failed(lease, &error, now);
        }
        now += Duration::from_millis(100);
    }
    assert_eq!(
        attempts,
        [0, 200, 600, 1400, 3000, 6200, 12600, 19600, 26600]
    );
}

#[test]
fn init_containers_run_one_at_a_time_before_the_main_containers() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    let mut p = pod("init", vec![container("app", "nginx:1.27", &[])]);
    p.spec.init_containers = vec![
        container("migrate", "busybox:1.36", &["sh", "-c", "sleep 3"]),
        container("warm", "busybox:1.36", &["sh", "-c", "sleep 2"]),
    ];
    h.add(p);
    let mut timeline = h.run_for(1);
    let p = h.pod("init");
    assert_eq!(p.status.phase.as_deref(), Some("Pending"));
    let initialized = p
        .status
        .conditions
        .iter()
        .find(|c| c.r#type == "Initialized")
        .unwrap();
    assert_eq!(
        initialized.message.as_deref(),
        Some("containers with incomplete status: [migrate warm]")
    );
    assert_eq!(
        waiting_reason(&p, "app"),
        Some(("PodInitializing".into(), String::new()))
    );
    timeline.extend(h.run_for(8));
    assert_eq!(
        timeline,
        [
            at(
                0,
                &[
                    "run-sandbox default/init",
                    "pull busybox:1.36",
                    "start default/init/migrate attempt 0"
                ]
            ),
            at(3, &["start default/init/warm attempt 0"]),
            at(5, &["pull nginx:1.27", "start default/init/app attempt 0"]),
        ]
    );
    assert_eq!(h.pod("init").status.phase.as_deref(), Some("Running"));
}

#[test]
fn failed_init_container_under_restart_policy_never_fails_the_pod() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    let mut p = pod("init", vec![container("app", "nginx:1.27", &[])]);
    p.spec.restart_policy = Some("Never".into());
    p.spec.init_containers = vec![container("check", "busybox:1.36", &["sh", "-c", "exit 3"])];
    h.add(p);
    let timeline = h.run_for(5);
    assert_eq!(
        timeline,
        [
            at(
                0,
                &[
                    "run-sandbox default/init",
                    "pull busybox:1.36",
                    "start default/init/check attempt 0"
                ]
            ),
            at(1, &["stop-sandbox default/init"]),
        ]
    );
    assert_eq!(h.pod("init").status.phase.as_deref(), Some("Failed"));
}

#[test]
fn restart_policies_decide_what_an_exit_means() {
    let run = |policy: &str, script: &str| {
        let mut h = Harness::new();
        h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
        let mut p = pod(
            "p",
            vec![container("app", "busybox:1.36", &["sh", "-c", script])],
        );
        p.spec.restart_policy = Some(policy.into());
        h.add(p);
        let starts = h
            .run_for(30)
            .into_iter()
            .flat_map(|(t, a)| a.into_iter().map(move |a| (t, a)))
            .filter(|(_, a)| a.starts_with("start") || a.starts_with("stop-sandbox"))
            .collect::<Vec<_>>();
        (starts, h.pod("p").status.phase.unwrap_or_default())
    };
    let s = |t: u64, a: &str| (t, a.to_owned());
    // Never: one run; exit 0 is Succeeded and the sandbox is stopped.
    assert_eq!(
        run("Never", "sleep 2"),
        (
            vec![
                s(0, "start default/p/app attempt 0"),
                s(2, "stop-sandbox default/p")
            ],
            "Succeeded".into()
        )
    );
    assert_eq!(run("Never", "exit 1").1, "Failed");
    // OnFailure: a failure restarts, success ends the pod.
    assert_eq!(
        run("OnFailure", "sleep 2; exit 0"),
        (
            vec![
                s(0, "start default/p/app attempt 0"),
                s(2, "stop-sandbox default/p")
            ],
            "Succeeded".into()
        )
    );
    assert_eq!(
        run("OnFailure", "sleep 2; exit 1").0[..3],
        [
            s(0, "start default/p/app attempt 0"),
            s(2, "start default/p/app attempt 1"),
            s(14, "start default/p/app attempt 2"),
        ]
    );
    // Always: even a clean exit restarts.
    assert_eq!(
        run("Always", "sleep 2").0[..2],
        [
            s(0, "start default/p/app attempt 0"),
            s(2, "start default/p/app attempt 1"),
        ]
    );
}

#[test]
fn container_over_its_memory_limit_is_reported_oom_killed() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    let mut c = container(
        "hog",
        "polinux/stress:latest",
        &["stress", "--vm", "1", "--vm-bytes", "250M"],
    );
    c.image_pull_policy = Some("IfNotPresent".into());
    c.resources.limits.insert(
        "memory".into(),
        skiff_core::quantity::Quantity::parse("100Mi").unwrap(),
    );
    let mut p = pod("hog", vec![c]);
    p.spec.restart_policy = Some("Never".into());
    h.add(p);
    h.run_for(3);
    let p = h.pod("hog");
    let state = p.status.container_statuses[0].state.clone().unwrap();
    let t = state.terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
    assert_eq!(p.status.phase.as_deref(), Some("Failed"));
    assert_eq!(p.status.qos_class.as_deref(), Some("Burstable"));
}

#[test]
fn after_a_node_crash_the_pod_gets_a_new_sandbox_and_its_containers_restart() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    h.add(pod("web", vec![container("nginx", "nginx:1.27", &[])]));
    h.run_for(10);
    h.runtime.crash();
    // The image is still on disk (IfNotPresent: no pull); the dead sandbox is removed once
    // its replacement is ready.
    assert_eq!(
        h.run_for(2),
        [at(
            10,
            &[
                "run-sandbox default/web attempt 1",
                "remove-sandbox default/web",
                "start default/web/nginx attempt 1"
            ]
        )]
    );
    let p = h.pod("web");
    assert_eq!(p.status.phase.as_deref(), Some("Running"));
    assert_eq!(p.status.container_statuses[0].restart_count, 1);
    // The crashed sandbox's address is free again; the new one took the next.
    assert_eq!(p.status.pod_ip.as_deref(), Some("10.244.1.3"));
}

#[test]
fn events_tell_what_the_runtime_did_in_upstream_words() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    h.runtime.pull_image("busybox:1.36").unwrap();
    h.add(pod(
        "web",
        vec![
            container("nginx", "nginx:1.27", &[]),
            container("sidecar", "busybox:1.36", &["sleep", "3600"]),
            container("broken", "nosuch:1", &[]),
        ],
    ));
    let mut events = Vec::new();
    for _ in 0..2 {
        let now = h.now();
        let snapshot = Snapshot::take(h.runtime.as_ref());
        let out = h.kubelet.reconcile(&h.view, &snapshot, now);
        let applied = h
            .kubelet
            .apply(h.runtime.as_ref(), h.runtime.as_ref(), &out.runtime, now);
        events.extend(h.kubelet.events(&h.view, &out.runtime, &applied, now));
        for a in out.api {
            h.send(a);
        }
    }
    let text: Vec<(String, String, String)> = events
        .iter()
        .map(|a| match a {
            Action::Create(Object::Event(e)) => (
                e.type_.clone().unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
                e.message.clone().unwrap_or_default(),
            ),
            other => panic!("not an event: {other:?}"),
        })
        .collect();
    let e = |t: &str, r: &str, m: &str| (t.to_owned(), r.to_owned(), m.to_owned());
    assert_eq!(
        text[..9],
        [
            e("Normal", "Pulling", "Pulling image \"nginx:1.27\""),
            e(
                "Normal",
                "Pulled",
                "Successfully pulled image \"nginx:1.27\" in 0s (0s including waiting). Image \
                 size: 72000000 bytes."
            ),
            e("Normal", "Created", "Created container: nginx"),
            e("Normal", "Started", "Started container nginx"),
            e(
                "Normal",
                "Pulled",
                "Container image \"busybox:1.36\" already present on machine"
            ),
            e("Normal", "Created", "Created container: sidecar"),
            e("Normal", "Started", "Started container sidecar"),
            e("Normal", "Pulling", "Pulling image \"nosuch:1\""),
            e(
                "Warning",
                "Failed",
                "Failed to pull image \"nosuch:1\": rpc error: code = NotFound desc = failed \
                 to pull and unpack image \"docker.io/library/nosuch:1\": failed to resolve \
                 reference \"docker.io/library/nosuch:1\": pull access denied, repository does \
                 not exist or may require authorization: server message: insufficient_scope: \
                 authorization failed"
            ),
        ]
    );
    assert_eq!(text[9], e("Warning", "Failed", "Error: ErrImagePull"));
    assert_eq!(text.len(), 10);
    let names: std::collections::BTreeSet<String> = events
        .iter()
        .map(|a| match a {
            Action::Create(o) => o.metadata().name.clone().unwrap(),
            _ => String::new(),
        })
        .collect();
    assert_eq!(names.len(), 10, "event names must be unique");
}

#[test]
fn startup_probe_holds_the_other_probes_and_kills_a_container_that_never_starts() {
    let probe = |port: i32, threshold: i32| Probe {
        tcp_socket: Some(skiff_core::object::TcpSocketAction {
            port: IntOrString::Int(port),
            host: None,
        }),
        period_seconds: Some(2),
        failure_threshold: Some(threshold),
        ..Probe::default()
    };
    let never_live = Probe {
        exec: Some(ExecAction {
            command: strings(&["false"]),
        }),
        period_seconds: Some(1),
        failure_threshold: Some(1),
        ..Probe::default()
    };
    // Started: the startup probe passes on 80 at the first check (1 s).
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    let mut c = container("web", "nginx:1.27", &[]);
    c.startup_probe = Some(probe(80, 3));
    h.add(pod("ok", vec![c]));
    h.run_for(1);
    let started = |h: &Harness, name: &str| {
        let s = &h.pod(name).status.container_statuses[0];
        (s.started, s.ready)
    };
    assert_eq!(started(&h, "ok"), (Some(false), false));
    h.run_for(1);
    assert_eq!(started(&h, "ok"), (Some(true), true));

    // Never starts: nothing listens on 8080; three failures (1, 3, 5 s) kill it. The failing
    // liveness probe never ran (it would have killed it at 1 s).
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    let mut c = container("web", "nginx:1.27", &[]);
    c.startup_probe = Some(probe(8080, 3));
    c.liveness_probe = Some(never_live);
    h.add(pod("slow", vec![c]));
    assert_eq!(
        h.run_for(7),
        [
            at(
                0,
                &[
                    "run-sandbox default/slow",
                    "pull nginx:1.27",
                    "start default/slow/web attempt 0"
                ]
            ),
            at(5, &["stop default/slow/web grace 30s"]),
            at(6, &["start default/slow/web attempt 1"]),
        ]
    );
}

#[test]
fn static_pods_are_read_from_a_manifest_directory() {
    let dir = std::env::temp_dir().join(format!("skiff-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("etcd.yaml"), ETCD_MANIFEST).unwrap();
    std::fs::write(dir.join(".hidden.yaml"), "not: yaml: at: all").unwrap();
    std::fs::write(
        dir.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    )
    .unwrap();
    let (pods, errors) = static_pods::load_dir(&dir, "node-1");
    std::fs::remove_dir_all(&dir).unwrap();
    let names: Vec<&str> = pods.iter().map(|p| p.metadata.name_or_empty()).collect();
    assert_eq!(names, ["etcd-node-1"]);
    assert_eq!(pods[0].spec.node_name.as_deref(), Some("node-1"));
    assert_eq!(
        pods[0]
            .metadata
            .annotations
            .get("kubernetes.io/config.source")
            .map(String::as_str),
        Some("file")
    );
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].ends_with("cm.yaml: static pod manifests hold pods, not ConfigMap"),
        "{errors:?}"
    );
}

#[test]
fn same_seed_and_inputs_give_the_same_actions_and_statuses() {
    let run = || {
        let mut h = Harness::new();
        h.add(liveness_pod());
        h.add(pod(
            "crash",
            vec![container(
                "app",
                "busybox:1.36",
                &["sh", "-c", "sleep 3; exit 1"],
            )],
        ));
        let timeline = h.run_for(200);
        (timeline, format!("{:?}", h.api_log))
    };
    let (a, b) = (run(), run());
    assert!(!a.0.is_empty());
    assert_eq!(a, b);
}

#[test]
fn pod_deleted_before_it_ran_ends_failed_and_is_deleted() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    h.add(pod("web", vec![container("app", "nosuch:1", &[])]));
    h.run_for(3);
    let mut p = h.pod("web");
    p.metadata.deletion_timestamp = Some(skiff_core::object::Time::from_unix_seconds(0));
    p.metadata.deletion_grace_period_seconds = Some(30);
    h.add(p);
    let from = h.api_log.len();
    assert_eq!(
        h.run_for(1),
        [at(
            3,
            &[
                "stop-sandbox default/web",
                "remove-sandbox default/web",
                "remove /var/lib/kubelet/pods/uid-web"
            ]
        )]
    );
    let written: Vec<String> = h.api_log[from..]
        .iter()
        .map(|(_, a)| match a {
            Action::UpdateStatus(Object::Pod(p)) => {
                format!("status {}", p.status.phase.clone().unwrap_or_default())
            }
            other => other.describe(),
        })
        .collect();
    assert_eq!(written, ["status Failed", "delete pod/default/web"]);
}

#[test]
fn pod_ips_come_from_the_nodes_pod_cidr_and_follow_a_change() {
    let mut h = Harness::new();
    h.add(pod("a", vec![container("app", "nginx:1.27", &[])]));
    h.run_for(2);
    assert_eq!(h.pod("a").status.pod_ip.as_deref(), Some("10.244.1.2"));
    let mut node = h.view.get::<Node>("", "node-1").unwrap().clone();
    node.spec.pod_cidr = Some("10.244.7.0/24".into());
    h.view.insert(node.into());
    h.add(pod("b", vec![container("app", "nginx:1.27", &[])]));
    let timeline = h.run_for(1);
    assert_eq!(timeline[0].1[0], "runtime-config 10.244.7.0/24");
    h.run_for(1);
    assert_eq!(h.pod("b").status.pod_ip.as_deref(), Some("10.244.7.2"));
}

#[test]
fn finished_pod_is_not_run_again_after_its_containers_are_gone() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    let mut p = pod(
        "job",
        vec![container("app", "busybox:1.36", &["sh", "-c", "exit 0"])],
    );
    p.spec.restart_policy = Some("Never".into());
    h.add(p);
    h.run_for(3);
    assert_eq!(h.pod("job").status.phase.as_deref(), Some("Succeeded"));
    // A kubelet restart on a node whose runtime lost everything (a new disk).
    for s in h
        .runtime
        .list_pod_sandbox(&crate::cri::SandboxFilter::default())
    {
        h.runtime.remove_pod_sandbox(&s.id).unwrap();
    }
    let config = h.kubelet.config().clone();
    h.kubelet = Kubelet::new(config);
    assert_eq!(h.run_for(3), []);
    assert_eq!(h.pod("job").status.phase.as_deref(), Some("Succeeded"));
}

#[test]
fn active_deadline_kills_the_pod_and_fails_it_with_deadline_exceeded() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    let mut p = pod(
        "job",
        vec![container("app", "busybox:1.36", &["sleep", "3600"])],
    );
    p.spec.active_deadline_seconds = Some(20);
    p.spec.termination_grace_period_seconds = Some(5);
    h.add(p);
    assert_eq!(
        h.run_for(30),
        [
            at(
                0,
                &[
                    "run-sandbox default/job",
                    "pull busybox:1.36",
                    "start default/job/app attempt 0"
                ]
            ),
            at(20, &["stop default/job/app grace 5s"]),
            at(25, &["stop-sandbox default/job"]),
        ]
    );
    let p = h.pod("job");
    assert_eq!(
        (
            p.status.phase.as_deref(),
            p.status.reason.as_deref(),
            p.status.message.as_deref()
        ),
        (
            Some("Failed"),
            Some("DeadlineExceeded"),
            Some("Pod was active on the node longer than the specified deadline")
        )
    );
}

#[test]
fn host_network_static_pod_runs_before_the_pod_network_with_the_node_ip() {
    let mut h = Harness::new();
    // No pod CIDR anywhere: the runtime's network never becomes ready.
    let mut node = h.view.get::<Node>("", "node-1").unwrap().clone();
    node.spec.pod_cidr = None;
    h.view.insert(node.into());
    let manifest = ETCD_MANIFEST.replace("spec:\n", "spec:\n  hostNetwork: true\n");
    let (pods, errors) = static_pods::from_manifests(&[("etcd.yaml".into(), manifest)], "node-1");
    assert_eq!(errors, Vec::<String>::new());
    h.kubelet.set_static_pods(pods);
    h.add(pod("web", vec![container("nginx", "nginx:1.27", &[])]));
    assert_eq!(
        h.run_for(3),
        [at(
            0,
            &[
                "run-sandbox kube-system/etcd-node-1",
                "pull registry.k8s.io/etcd:3.5.21-0",
                "start kube-system/etcd-node-1/etcd attempt 0"
            ]
        )]
    );
    let mirror = h.view.get::<Pod>("kube-system", "etcd-node-1").unwrap();
    assert_eq!(mirror.status.pod_ip.as_deref(), Some("10.0.0.11"));
    assert!(h.runtime.tcp_connect("10.0.0.11", 2379));
    // The ordinary pod waits for the network.
    assert_eq!(h.pod("web").status.phase.as_deref(), Some("Pending"));
}

#[test]
fn cluster_first_pods_resolve_through_cluster_dns() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    h.add(pod(
        "web",
        vec![container("app", "busybox:1.36", &["sleep", "3600"])],
    ));
    h.run_for(2);
    let id = h.container_id("web", "app");
    let out = h
        .runtime
        .exec_sync(
            &id,
            &strings(&["cat", "/etc/resolv.conf"]),
            Duration::from_secs(1),
        )
        .unwrap();
    assert_eq!(
        out.stdout_text(),
        "search default.svc.cluster.local svc.cluster.local cluster.local\n\
         nameserver 10.96.0.10\n\
         options ndots:5\n"
    );
}

#[test]
fn config_map_volume_files_follow_the_config_map() {
    use skiff_core::object::{ConfigMap, ConfigMapVolumeSource, Volume, VolumeMount};
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    let cm = |data: &[(&str, &str)]| ConfigMap {
        metadata: ObjectMeta {
            name: Some("cfg".into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        data: data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..ConfigMap::default()
    };
    let mut c = container("app", "busybox:1.36", &["sleep", "3600"]);
    c.volume_mounts = vec![VolumeMount {
        name: "cfg".into(),
        mount_path: "/etc/app".into(),
        ..VolumeMount::default()
    }];
    let mut p = pod("app", vec![c]);
    p.spec.volumes = vec![Volume {
        name: "cfg".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: Some("cfg".into()),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }];
    h.add(p);
    // No ConfigMap yet: the pod waits with upstream's FailedMount message.
    h.run_for(2);
    assert_eq!(
        waiting_reason(&h.pod("app"), "app"),
        Some((
            "ContainerCreating".into(),
            "MountVolume.SetUp failed for volume \"cfg\" : configmap \"cfg\" not found".into()
        ))
    );
    h.view
        .insert(cm(&[("color", "blue"), ("size", "L")]).into());
    let dir = "/var/lib/kubelet/pods/uid-app/volumes/kubernetes.io~configmap/cfg";
    assert_eq!(
        h.run_for(1),
        [at(
            2,
            &[
                &format!("write {dir}/color"),
                &format!("write {dir}/size"),
                "run-sandbox default/app",
                "pull busybox:1.36",
                "start default/app/app attempt 0"
            ]
        )]
    );
    assert_eq!(h.run_for(1), []);
    let id = h.container_id("app", "app");
    let cat = |h: &Harness, f: &str| {
        h.runtime
            .exec_sync(&id, &strings(&["cat", f]), Duration::from_secs(1))
            .unwrap()
            .stdout_text()
    };
    assert_eq!(cat(&h, "/etc/app/color"), "blue");
    // An update reaches the running container; a removed key disappears.
    h.view.insert(cm(&[("color", "green")]).into());
    assert_eq!(
        h.run_for(1),
        [at(
            4,
            &[&format!("write {dir}/color"), &format!("remove {dir}/size")]
        )]
    );
    assert_eq!(cat(&h, "/etc/app/color"), "green");
    assert_eq!(cat(&h, "/etc/app/size"), "");
}

/// The node lifecycle controller marks a lost node's pods `Ready=False`; when the kubelet is
/// heard again it posts its own status (upstream's status manager syncs against the API's
/// copy). Found by the simulator (seed 1000): pods stayed NotReady after a long partition.
#[test]
fn status_overwritten_by_another_writer_is_posted_again() {
    let mut h = Harness::new();
    h.runtime.update_runtime_config("10.244.1.0/24").unwrap();
    h.add(pod("web", vec![container("web", "nginx:1.27", &[])]));
    h.run_for(5);
    let ready = |h: &Harness| {
        h.pod("web")
            .status
            .conditions
            .iter()
            .find(|c| c.r#type == "Ready")
            .map(|c| c.status.clone())
    };
    assert_eq!(ready(&h).as_deref(), Some("True"));
    let writes_before = h.ready_writes("web").len();
    // Another writer (the node lifecycle controller) flips Ready to False.
    let mut marked = h.pod("web");
    for c in &mut marked.status.conditions {
        if c.r#type == "Ready" {
            c.status = "False".into();
        }
    }
    h.send(Action::UpdateStatus(marked.into()));
    h.run_for(2);
    assert_eq!(ready(&h).as_deref(), Some("True"));
    let writes = h.ready_writes("web");
    // The other writer's write, then exactly one write of the kubelet's own status.
    assert_eq!(writes.len(), writes_before + 2, "{writes:?}");
    assert_eq!(writes.last().map(|w| w.2.as_str()), Some("True"));
    // And nothing more while nobody else writes.
    h.run_for(5);
    assert_eq!(h.ready_writes("web").len(), writes_before + 2);
}
