use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use skiff_core::clock::ManualClock;

use super::*;
use crate::cri::{Caller, ContainerMetadata, Mount, PodSandboxMetadata, conformance};

const S: fn(u64) -> Duration = Duration::from_secs;

fn runtime() -> (ManualClock, SimRuntime) {
    let clock = ManualClock::new(1_700_000_000);
    let rt = SimRuntime::new(Arc::new(clock.clone()), SimConfig::default());
    rt.update_runtime_config("10.244.1.0/24").unwrap();
    (clock, rt)
}

fn sandbox(rt: &SimRuntime, name: &str) -> String {
    rt.run_pod_sandbox(&PodSandboxConfig {
        metadata: PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        },
        hostname: name.into(),
        ..PodSandboxConfig::default()
    })
    .unwrap()
}

fn start(rt: &SimRuntime, sandbox: &str, name: &str, image: &str, command: &[&str]) -> String {
    start_with(rt, sandbox, name, image, command, Vec::new(), None)
}

fn start_with(
    rt: &SimRuntime,
    sandbox: &str,
    name: &str,
    image: &str,
    command: &[&str],
    mounts: Vec<Mount>,
    memory: Option<u64>,
) -> String {
    if let PullImageResponse::InProgress { .. } = rt.pull_image(image).unwrap() {
        panic!("pull in progress");
    }
    let id = rt
        .create_container(
            sandbox,
            &ContainerConfig {
                metadata: ContainerMetadata {
                    name: name.into(),
                    attempt: 0,
                },
                image: image.into(),
                command: command.iter().map(|s| (*s).to_owned()).collect(),
                mounts,
                memory_limit_bytes: memory,
                envs: vec![("GREETING".into(), "hello".into())],
                ..ContainerConfig::default()
            },
        )
        .unwrap();
    rt.start_container(&id).unwrap();
    id
}

fn exec(rt: &SimRuntime, id: &str, cmd: &[&str]) -> (String, String, i32) {
    let cmd: Vec<String> = cmd.iter().map(|s| (*s).to_owned()).collect();
    let r = rt.exec_sync(id, &cmd, S(5)).unwrap();
    (r.stdout_text(), r.stderr_text(), r.exit_code)
}

#[test]
fn simulated_runtime_passes_the_conformance_suite() {
    let clock = ManualClock::new(1_700_000_000);
    let rt = SimRuntime::new(Arc::new(clock), SimConfig::default());
    let report = conformance::run(&rt);
    report.assert_passed();
    assert_eq!(report.checks.len(), 18);
}

#[test]
fn container_that_crashes_after_five_seconds_is_exited_when_read_then() {
    let (clock, rt) = runtime();
    let sb = sandbox(&rt, "web");
    let id = start(
        &rt,
        &sb,
        "app",
        "busybox",
        &["sh", "-c", "echo up; sleep 5; exit 3"],
    );
    clock.advance(S(4));
    assert_eq!(
        rt.container_status(&id).unwrap().state,
        ContainerState::Running
    );
    clock.advance(S(1));
    let status = rt.container_status(&id).unwrap();
    assert_eq!(
        (status.state, status.exit_code, status.reason.as_str()),
        (ContainerState::Exited, 3, "Error")
    );
    assert_eq!(status.finished_at, Some(UNIX_EPOCH + S(1_700_000_005)));
    let logs = rt.container_logs(&id, &LogOptions::default()).unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].text, "up");
}

#[test]
fn unknown_image_fails_to_pull_with_containerds_message() {
    let (_clock, rt) = runtime();
    assert_eq!(
        rt.pull_image("nosuch").unwrap_err(),
        CriError::ImagePull(
            "failed to pull and unpack image \"docker.io/library/nosuch:latest\": failed to \
             resolve reference \"docker.io/library/nosuch:latest\": pull access denied, \
             repository does not exist or may require authorization: server message: \
             insufficient_scope: authorization failed"
                .into()
        )
    );
    assert_eq!(
        rt.pull_image("nginx:0.0.1").unwrap_err(),
        CriError::ImagePull(
            "failed to pull and unpack image \"docker.io/library/nginx:0.0.1\": failed to \
             resolve reference \"docker.io/library/nginx:0.0.1\": \
             docker.io/library/nginx:0.0.1: not found"
                .into()
        )
    );
}

#[test]
fn pull_takes_the_configured_time() {
    let (clock, rt) = runtime();
    rt.set_pull_time(S(3));
    assert_eq!(
        rt.pull_image("nginx").unwrap(),
        PullImageResponse::InProgress { remaining: S(3) }
    );
    clock.advance(S(2));
    assert_eq!(
        rt.pull_image("nginx").unwrap(),
        PullImageResponse::InProgress { remaining: S(1) }
    );
    assert_eq!(rt.image_status("nginx").unwrap(), None);
    clock.advance(S(1));
    assert!(matches!(
        rt.pull_image("nginx").unwrap(),
        PullImageResponse::Pulled { image_ref } if image_ref.starts_with("docker.io/library/nginx@sha256:")
    ));
    assert!(
        rt.image_status("docker.io/library/nginx:latest")
            .unwrap()
            .is_some()
    );
}

#[test]
fn pod_ips_are_the_lowest_free_from_dot_two_and_released_on_removal() {
    let (_clock, rt) = runtime();
    let a = sandbox(&rt, "a");
    let b = sandbox(&rt, "b");
    let ip = |id: &str| rt.pod_sandbox_status(id).unwrap().ip.unwrap();
    assert_eq!(
        (ip(&a), ip(&b)),
        ("10.244.1.2".to_owned(), "10.244.1.3".to_owned())
    );
    rt.remove_pod_sandbox(&a).unwrap();
    let c = sandbox(&rt, "c");
    assert_eq!(ip(&c), "10.244.1.2");
}

#[test]
fn wget_reaches_nginx_in_another_pod_and_over_localhost() {
    let (_clock, rt) = runtime();
    let web = sandbox(&rt, "web");
    let nginx = start(&rt, &web, "nginx", "nginx", &[]);
    let sidecar = start(&rt, &web, "sidecar", "busybox", &["sleep", "3600"]);
    let client = sandbox(&rt, "client");
    let bb = start(&rt, &client, "bb", "busybox", &["sleep", "3600"]);
    assert_eq!(
        exec(&rt, &bb, &["wget", "-qO-", "http://10.244.1.2"]),
        (NGINX_INDEX.to_owned(), String::new(), 0)
    );
    // Containers of one pod share localhost.
    assert_eq!(
        exec(
            &rt,
            &sidecar,
            &["wget", "-q", "-O", "-", "http://localhost:80/"]
        )
        .0,
        NGINX_INDEX
    );
    assert_eq!(
        exec(&rt, &bb, &["wget", "-qO-", "http://10.244.1.2/nope"]),
        (
            String::new(),
            "wget: server returned error: HTTP/1.1 404 Not Found\n".to_owned(),
            1
        )
    );
    assert_eq!(
        exec(&rt, &bb, &["wget", "-qO-", "http://10.244.1.2:8080"]).1,
        "wget: can't connect to remote host (10.244.1.2): Connection refused\n"
    );
    assert_eq!(
        exec(&rt, &bb, &["wget", "-qO-", "http://my-svc"]).1,
        "wget: bad address 'my-svc'\n"
    );
    let logs: Vec<String> = rt
        .container_logs(&nginx, &LogOptions::default())
        .unwrap()
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(
        logs,
        [
            "/docker-entrypoint.sh: Configuration complete; ready for start up",
            "10.244.1.3 - - \"GET / HTTP/1.1\" 200 121 \"-\" \"Wget\" \"-\"",
            "10.244.1.2 - - \"GET / HTTP/1.1\" 200 121 \"-\" \"Wget\" \"-\"",
            "10.244.1.3 - - \"GET /nope HTTP/1.1\" 404 118 \"-\" \"Wget\" \"-\"",
        ]
    );
}

#[derive(Debug)]
struct OneService;

impl Network for OneService {
    fn resolve(&self, from: &Caller<'_>, host: &str, port: u16) -> Option<(String, u16)> {
        // `web` is a Service of `default`, as cluster DNS resolves it from there.
        (from.namespace == "default" && (host == "web" || host == "10.96.0.12"))
            .then(|| ("10.244.1.2".to_owned(), port))
    }
    fn http_get(
        &self,
        _from: &Caller<'_>,
        _ip: &str,
        _port: u16,
        _path: &str,
    ) -> Option<HttpResponse> {
        None
    }
}

#[test]
fn wget_of_a_service_name_goes_through_the_network() {
    let (_clock, rt) = runtime();
    rt.set_network(Arc::new(OneService));
    let web = sandbox(&rt, "web");
    start(&rt, &web, "nginx", "nginx", &[]);
    let client = sandbox(&rt, "client");
    let bb = start(&rt, &client, "bb", "busybox", &["sleep", "3600"]);
    assert_eq!(
        exec(&rt, &bb, &["wget", "-qO-", "http://web"]).0,
        NGINX_INDEX
    );
    assert_eq!(exec(&rt, &bb, &["curl", "-s", "10.96.0.12"]).0, NGINX_INDEX);
}

#[test]
fn empty_dir_and_config_map_volumes_are_shared_by_the_pods_containers() {
    let (clock, rt) = runtime();
    let dir = "/var/lib/kubelet/pods/uid-web/volumes";
    rt.write_file(&format!("{dir}/kubernetes.io~configmap/cfg/color"), b"blue");
    let mounts = || {
        vec![
            Mount {
                container_path: "/data".into(),
                host_path: format!("{dir}/kubernetes.io~empty-dir/data"),
                readonly: false,
            },
            Mount {
                container_path: "/etc/cfg".into(),
                host_path: format!("{dir}/kubernetes.io~configmap/cfg"),
                readonly: true,
            },
        ]
    };
    let web = sandbox(&rt, "web");
    let writer = start_with(
        &rt,
        &web,
        "writer",
        "busybox",
        &[
            "sh",
            "-c",
            "sleep 2; echo from-writer > /data/msg; sleep 3600",
        ],
        mounts(),
        None,
    );
    let reader = start_with(
        &rt,
        &web,
        "reader",
        "busybox",
        &["sleep", "3600"],
        mounts(),
        None,
    );
    assert_eq!(
        exec(&rt, &reader, &["cat", "/data/msg"]).1,
        "cat: can't open '/data/msg': No such file or directory\n"
    );
    clock.advance(S(2));
    assert_eq!(exec(&rt, &reader, &["cat", "/data/msg"]).0, "from-writer\n");
    assert_eq!(exec(&rt, &reader, &["ls", "/etc/cfg"]).0, "color\n");
    assert_eq!(exec(&rt, &writer, &["cat", "/etc/cfg/color"]).0, "blue");
    assert_eq!(
        exec(&rt, &reader, &["sh", "-c", "echo x > /etc/cfg/color"]).1,
        "sh: can't create /etc/cfg/color: Read-only file system\n"
    );
    // Private files are private.
    exec(&rt, &reader, &["touch", "/tmp/mine"]);
    assert_eq!(exec(&rt, &writer, &["ls", "/tmp/mine"]).2, 1);
    assert_eq!(exec(&rt, &reader, &["hostname"]).0, "web\n");
    assert_eq!(exec(&rt, &reader, &["printenv", "GREETING"]).0, "hello\n");
}

#[test]
fn memory_over_the_limit_is_oom_killed() {
    let (clock, rt) = runtime();
    let sb = sandbox(&rt, "hog");
    let id = start_with(
        &rt,
        &sb,
        "hog",
        "polinux/stress",
        &[
            "stress",
            "--vm",
            "1",
            "--vm-bytes",
            "250M",
            "--vm-hang",
            "1",
        ],
        Vec::new(),
        Some(100 << 20),
    );
    clock.advance(S(1));
    let status = rt.container_status(&id).unwrap();
    assert_eq!(
        (status.exit_code, status.reason.as_str()),
        (137, "OOMKilled")
    );
}

#[test]
fn stop_waits_for_the_program_or_kills_at_the_timeout() {
    let (clock, rt) = runtime();
    let sb = sandbox(&rt, "p");
    let nginx = start(&rt, &sb, "nginx", "nginx", &[]);
    let sleeper = start(&rt, &sb, "sleep", "busybox", &["sleep", "3600"]);
    rt.stop_container(&nginx, S(30)).unwrap();
    rt.stop_container(&sleeper, S(30)).unwrap();
    let state = |id: &str| {
        let s = rt.container_status(id).unwrap();
        (s.state, s.exit_code)
    };
    // nginx handles SIGTERM at once; sleep as PID 1 ignores it and is killed at 30 s.
    assert_eq!(state(&nginx), (ContainerState::Exited, 0));
    clock.advance(S(29));
    assert_eq!(state(&sleeper), (ContainerState::Running, 0));
    clock.advance(S(1));
    assert_eq!(state(&sleeper), (ContainerState::Exited, 137));
}

#[test]
fn unknown_command_is_a_start_error() {
    let (_clock, rt) = runtime();
    let sb = sandbox(&rt, "p");
    rt.pull_image("busybox").unwrap();
    let id = rt
        .create_container(
            &sb,
            &ContainerConfig {
                metadata: ContainerMetadata {
                    name: "x".into(),
                    attempt: 0,
                },
                image: "busybox".into(),
                command: vec!["frobnicate".into()],
                ..ContainerConfig::default()
            },
        )
        .unwrap();
    assert!(matches!(
        rt.start_container(&id),
        Err(CriError::FailedPrecondition(_))
    ));
    let s = rt.container_status(&id).unwrap();
    assert_eq!(
        (s.state, s.exit_code, s.reason.as_str()),
        (ContainerState::Exited, 128, "StartError")
    );
}

#[test]
fn node_crash_exits_running_containers_and_keeps_what_is_on_disk() {
    let (clock, rt) = runtime();
    let sb = sandbox(&rt, "p");
    let id = start(&rt, &sb, "nginx", "nginx", &[]);
    clock.advance(S(10));
    rt.crash();
    let s = rt.container_status(&id).unwrap();
    assert_eq!(
        (s.state, s.exit_code, s.reason.as_str()),
        (ContainerState::Exited, 255, "Unknown")
    );
    assert_eq!(
        rt.pod_sandbox_status(&sb).unwrap().state,
        SandboxState::NotReady
    );
    assert_eq!(
        rt.container_logs(&id, &LogOptions::default())
            .unwrap()
            .len(),
        1
    );
    assert!(rt.image_status("nginx").unwrap().is_some());
    let _ = BTreeMap::<String, String>::new();
}

#[test]
fn same_seed_gives_the_same_ids() {
    let ids = || {
        let (_c, rt) = runtime();
        let sb = sandbox(&rt, "p");
        let c = start(&rt, &sb, "a", "busybox", &["sleep", "1"]);
        (sb, c)
    };
    assert_eq!(ids(), ids());
}

proptest::proptest! {
    #[test]
    fn arbitrary_scripts_and_exec_commands_never_panic(
        script in "[ -~\n]{0,60}",
        words in proptest::collection::vec("[ -~]{0,12}", 0..5),
        secs in 0u64..100,
    ) {
        let (clock, rt) = runtime();
        let sb = sandbox(&rt, "p");
        rt.pull_image("busybox").unwrap();
        let id = rt
            .create_container(
                &sb,
                &ContainerConfig {
                    metadata: ContainerMetadata { name: "c".into(), attempt: 0 },
                    image: "busybox".into(),
                    command: vec!["sh".into(), "-c".into(), script],
                    ..ContainerConfig::default()
                },
            )
            .unwrap();
        let _ = rt.start_container(&id);
        clock.advance(S(secs));
        let _ = rt.container_status(&id);
        let _ = rt.container_logs(&id, &LogOptions::default());
        let _ = rt.list_container_stats();
        let _ = rt.exec_sync(&id, &words, S(1));
        let shell = vec!["sh".to_owned(), "-c".to_owned(), words.join(" ")];
        let _ = rt.exec_sync(&id, &shell, S(1));
    }
}

#[test]
fn a_loop_that_barely_waits_is_cut_off_instead_of_hanging() {
    let (clock, rt) = runtime();
    let sb = sandbox(&rt, "p");
    let id = start(
        &rt,
        &sb,
        "c",
        "busybox",
        &["sh", "-c", "while true; do echo x; sleep 0.000001; done"],
    );
    clock.advance(S(3600));
    assert_eq!(
        rt.container_status(&id).unwrap().state,
        ContainerState::Running
    );
    assert_eq!(
        rt.container_logs(&id, &LogOptions::default())
            .unwrap()
            .len(),
        100_000
    );
}

#[test]
fn termination_log_becomes_the_exit_message() {
    let (clock, rt) = runtime();
    let sb = sandbox(&rt, "p");
    let id = start(
        &rt,
        &sb,
        "c",
        "busybox",
        &[
            "sh",
            "-c",
            "sleep 1; echo disk full > /dev/termination-log; exit 3",
        ],
    );
    clock.advance(S(2));
    let s = rt.container_status(&id).unwrap();
    assert_eq!((s.exit_code, s.message.as_str()), (3, "disk full\n"));
}

/// A runtime that breaks one guarantee: removing a container that is already gone fails.
#[derive(Debug)]
struct StrictRemove(SimRuntime);

impl Runtime for StrictRemove {
    fn version(&self) -> VersionResponse {
        self.0.version()
    }
    fn status(&self) -> RuntimeStatus {
        self.0.status()
    }
    fn update_runtime_config(&self, pod_cidr: &str) -> Result<()> {
        self.0.update_runtime_config(pod_cidr)
    }
    fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String> {
        self.0.run_pod_sandbox(config)
    }
    fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        self.0.stop_pod_sandbox(id)
    }
    fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        self.0.remove_pod_sandbox(id)
    }
    fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus> {
        self.0.pod_sandbox_status(id)
    }
    fn list_pod_sandbox(&self, filter: &SandboxFilter) -> Vec<PodSandboxStatus> {
        self.0.list_pod_sandbox(filter)
    }
    fn create_container(&self, sandbox_id: &str, config: &ContainerConfig) -> Result<String> {
        self.0.create_container(sandbox_id, config)
    }
    fn start_container(&self, id: &str) -> Result<()> {
        self.0.start_container(id)
    }
    fn stop_container(&self, id: &str, timeout: Duration) -> Result<()> {
        self.0.stop_container(id, timeout)
    }
    fn remove_container(&self, id: &str) -> Result<()> {
        self.0.container_status(id)?;
        self.0.remove_container(id)
    }
    fn container_status(&self, id: &str) -> Result<ContainerStatus> {
        self.0.container_status(id)
    }
    fn list_containers(&self, filter: &ContainerFilter) -> Vec<ContainerStatus> {
        self.0.list_containers(filter)
    }
    fn exec_sync(&self, id: &str, cmd: &[String], timeout: Duration) -> Result<ExecSyncResponse> {
        self.0.exec_sync(id, cmd, timeout)
    }
    fn attach(&self, id: &str) -> Result<Vec<u8>> {
        self.0.attach(id)
    }
    fn container_logs(&self, id: &str, options: &LogOptions) -> Result<Vec<LogLine>> {
        self.0.container_logs(id, options)
    }
    fn container_stats(&self, id: &str) -> Result<ContainerStats> {
        self.0.container_stats(id)
    }
    fn list_container_stats(&self) -> Vec<ContainerStats> {
        self.0.list_container_stats()
    }
    fn list_images(&self) -> Vec<Image> {
        self.0.list_images()
    }
    fn image_status(&self, image: &str) -> Result<Option<Image>> {
        self.0.image_status(image)
    }
    fn pull_image(&self, image: &str) -> Result<PullImageResponse> {
        self.0.pull_image(image)
    }
    fn remove_image(&self, image: &str) -> Result<()> {
        self.0.remove_image(image)
    }
}

#[test]
fn conformance_suite_catches_a_runtime_that_breaks_idempotent_removal() {
    let clock = ManualClock::new(1_700_000_000);
    let rt = StrictRemove(SimRuntime::new(Arc::new(clock), SimConfig::default()));
    let report = conformance::run(&rt);
    let failed: Vec<&str> = report.failures().iter().map(|c| c.name).collect();
    assert_eq!(failed, ["remove_container is idempotent"]);
}

/// A wall clock read a moment after the monotonic one: each wall read lands a few
/// microseconds later than the last (as two real clocks read in turn do).
#[derive(Debug)]
struct JitteryClock {
    base: ManualClock,
    reads: std::sync::Mutex<u64>,
}

impl Clock for JitteryClock {
    fn elapsed(&self) -> Duration {
        self.base.elapsed()
    }

    fn wall(&self) -> SystemTime {
        let mut reads = self.reads.lock().unwrap();
        *reads += 1;
        self.base.wall() + Duration::from_micros(*reads % 7)
    }
}

/// A runtime on `clock` running the counter program (`one`, 2 s later `two`); returns the
/// runtime and the container's id.
fn counter_on(clock: Arc<dyn Clock>) -> (SimRuntime, String) {
    let rt = SimRuntime::new(clock, SimConfig::default());
    rt.update_runtime_config("10.244.1.0/24").unwrap();
    let sb = sandbox(&rt, "counter");
    let id = start(
        &rt,
        &sb,
        "c",
        "busybox",
        &["sh", "-c", "echo one; sleep 2; echo two"],
    );
    (rt, id)
}

#[test]
fn a_log_line_has_the_same_time_on_every_read() {
    let base = ManualClock::new(1_700_000_000);
    let clock = Arc::new(JitteryClock {
        base: base.clone(),
        reads: std::sync::Mutex::new(0),
    });
    let (rt, id) = counter_on(clock);
    base.advance(S(1));
    let first = rt.container_logs(&id, &LogOptions::default()).unwrap();
    base.advance(S(2));
    let second = rt.container_logs(&id, &LogOptions::default()).unwrap();
    let third = rt.container_logs(&id, &LogOptions::default()).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(second.len(), 2);
    assert_eq!(first[0], second[0]);
    assert_eq!(second, third);
    assert_eq!(second[1].time - S(2), second[0].time);
}

#[test]
fn a_wall_clock_step_moves_only_the_lines_written_after_the_runtime_sees_it() {
    use skiff_core::clock::{Skew, SkewedClock};
    let base = ManualClock::new(1_700_000_000);
    let clock = SkewedClock::new(Arc::new(base.clone()), Skew::default());
    let (rt, id) = counter_on(Arc::new(clock.clone()));
    base.advance(S(1));
    let before = rt.container_logs(&id, &LogOptions::default()).unwrap();
    clock.set_skew(Skew {
        offset_ns: -17_000_000_000,
        drift_ppm: 0,
    });
    // The runtime sees the step at its next call (the kubelet calls it every sync).
    let _ = rt.container_status(&id).unwrap();
    base.advance(S(2));
    let after = rt.container_logs(&id, &LogOptions::default()).unwrap();
    let times: Vec<SystemTime> = after.iter().map(|l| l.time).collect();
    assert_eq!(before[0].time, UNIX_EPOCH + S(1_700_000_000));
    assert_eq!(
        times,
        [
            UNIX_EPOCH + S(1_700_000_000),
            UNIX_EPOCH + S(1_700_000_002) - S(17)
        ]
    );
}
