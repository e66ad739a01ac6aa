//! The simulated container runtime: deterministic, driven by a [`Clock`] and a seeded
//! generator, everything in ordered maps.
//!
//! - **Images** come from a catalog ([`default_catalog`]: nginx, httpd, redis, busybox,
//!   alpine, pause, the kubeadm control-plane images, …). A pull takes
//!   [`SimConfig::pull_time`]; an unknown repository or tag fails the way containerd does.
//! - **Containers** run small programs chosen by image and command (`program.rs`): servers
//!   (nginx listens on 80 and serves its document root), `sleep N`, `sh -c` scripts that
//!   print, sleep, touch and remove files, loop and exit with a code, `stress` that allocates
//!   memory and is OOM-killed over its limit. A program's state is computed from its start
//!   time when asked (a container that "crashes after 5 s" is `Exited` when read at start +
//!   5 s or later): the runtime never reads the system clock and runs nothing in the
//!   background.
//! - **Pods**: the containers of a sandbox share its IP, hostname and `localhost`; mounts of
//!   the same host path (the kubelet's emptyDir, ConfigMap and Secret volume directories) are
//!   one set of files every container of the pod sees (seed §9).
//! - **Exec** runs simulated commands: `hostname`, `env`, `printenv`, `cat`, `ls`, `echo`
//!   (with `>` redirects), `touch`, `rm`, `wget`/`curl` of a pod IP, `localhost` or a
//!   Service (resolved through the node's [`Network`]), and `sh -c` over those.

#![allow(
    clippy::single_match_else,
    reason = "a match over Some/None reads better than if-let-else for these"
)]

pub(crate) mod program;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use skiff_core::clock::Clock;
use skiff_core::rng::SplitMix64;

use self::program::{Event, Exit, OnTerm, Program, Proto};
use super::{
    ContainerConfig, ContainerFilter, ContainerState, ContainerStats, ContainerStatus, CriError,
    ExecSyncResponse, HostFs, HttpResponse, Image, LogLine, LogOptions, LogStream, Network,
    PodSandboxConfig, PodSandboxStatus, PullImageResponse, Result, Runtime, RuntimeCondition,
    RuntimeStatus, SandboxFilter, SandboxState, VersionResponse, normalize_image,
};

/// The sandbox ("pause") image upstream kubelets default to.
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

/// An image the simulated registry serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogImage {
    /// Repository, normalized (`docker.io/library/nginx`).
    pub repository: String,
    /// Tags served.
    pub tags: Vec<String>,
    /// Size in bytes.
    pub size: u64,
    /// `ENTRYPOINT`.
    pub entrypoint: Vec<String>,
    /// `CMD`.
    pub cmd: Vec<String>,
    /// `ENV`.
    pub env: Vec<(String, String)>,
    /// Files in the image, by absolute path.
    pub files: BTreeMap<String, Vec<u8>>,
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| (*s).to_owned()).collect()
}

fn catalog_image(
    repository: &str,
    tags: &[&str],
    size: u64,
    entry: &[&str],
    cmd: &[&str],
) -> CatalogImage {
    CatalogImage {
        repository: repository.to_owned(),
        tags: strings(tags),
        size,
        entrypoint: strings(entry),
        cmd: strings(cmd),
        env: vec![(
            "PATH".to_owned(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        )],
        files: BTreeMap::new(),
    }
}

/// nginx's default page (what `wget -qO- http://<pod IP>` prints).
pub const NGINX_INDEX: &str = "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n</body>\n</html>\n";

/// The images the simulated registry serves by default.
pub fn default_catalog() -> Vec<CatalogImage> {
    let mut nginx = catalog_image(
        "docker.io/library/nginx",
        &["latest", "1.27", "1.26", "1.25", "alpine", "stable"],
        72_000_000,
        &["/docker-entrypoint.sh"],
        &["nginx", "-g", "daemon off;"],
    );
    nginx.files.insert(
        "/usr/share/nginx/html/index.html".into(),
        NGINX_INDEX.as_bytes().to_vec(),
    );
    nginx.files.insert(
        "/etc/nginx/nginx.conf".into(),
        b"events {}\nhttp {}\n".to_vec(),
    );
    let mut httpd = catalog_image(
        "docker.io/library/httpd",
        &["latest", "2.4", "alpine"],
        58_000_000,
        &[],
        &["httpd-foreground"],
    );
    httpd.files.insert(
        "/usr/local/apache2/htdocs/index.html".into(),
        b"<html><body><h1>It works!</h1></body></html>\n".to_vec(),
    );
    let k8s = |name: &str, cmd: &str, size| {
        catalog_image(
            &format!("registry.k8s.io/{name}"),
            &["v1.33.0", "latest"],
            size,
            &[],
            &[cmd],
        )
    };
    vec![
        nginx,
        httpd,
        catalog_image(
            "docker.io/library/redis",
            &["latest", "7", "7.4", "alpine"],
            45_000_000,
            &["docker-entrypoint.sh"],
            &["redis-server"],
        ),
        catalog_image(
            "docker.io/library/busybox",
            &["latest", "1.36", "1.37", "stable"],
            4_300_000,
            &[],
            &["sh"],
        ),
        catalog_image(
            "docker.io/library/alpine",
            &["latest", "3.20", "3.21"],
            7_800_000,
            &[],
            &["/bin/sh"],
        ),
        catalog_image(
            "docker.io/polinux/stress",
            &["latest"],
            9_700_000,
            &[],
            &["stress"],
        ),
        catalog_image(
            "registry.k8s.io/pause",
            &["3.10", "3.9", "latest"],
            320_000,
            &["/pause"],
            &[],
        ),
        catalog_image(
            "registry.k8s.io/etcd",
            &["3.5.21-0", "latest"],
            57_000_000,
            &[],
            &["etcd"],
        ),
        k8s("kube-apiserver", "kube-apiserver", 28_000_000),
        k8s(
            "kube-controller-manager",
            "kube-controller-manager",
            26_000_000,
        ),
        k8s("kube-scheduler", "kube-scheduler", 20_000_000),
    ]
}

/// Settings of a simulated runtime.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of the id generator.
    pub seed: u64,
    /// How long a pull takes.
    pub pull_time: Duration,
    /// Images on the node from the start.
    pub preloaded: Vec<String>,
    /// What the registry serves.
    pub catalog: Vec<CatalogImage>,
    /// The node's address (the IP of host-network pods).
    pub node_ip: std::net::Ipv4Addr,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            pull_time: Duration::ZERO,
            preloaded: vec![PAUSE_IMAGE.to_owned()],
            catalog: default_catalog(),
            node_ip: std::net::Ipv4Addr::new(10, 0, 0, 10),
        }
    }
}

#[derive(Debug, Clone)]
struct ImageRecord {
    id: String,
    repository: String,
    tag: String,
    digest: String,
    size: u64,
}

#[derive(Debug)]
struct Sandbox {
    config: PodSandboxConfig,
    created_at: Duration,
    state: SandboxState,
    ip: Option<u32>,
}

#[derive(Debug)]
struct Container {
    sandbox_id: String,
    config: ContainerConfig,
    image_key: String,
    created_at: Duration,
    started_at: Option<Duration>,
    program: Option<Program>,
    /// When and how it ends (natural, stopped, killed, crashed), once known.
    exit: Option<Exit>,
    /// Files written by exec outside the mounts (time, order, path, content or removal).
    writes: Vec<(Duration, u64, String, Option<Vec<u8>>)>,
    /// Lines logged by the runtime on the container's behalf (access logs of requests).
    extra_logs: Vec<(Duration, LogStream, String)>,
}

/// One change to the node's files.
#[derive(Debug, Clone)]
struct HostOp {
    at: Duration,
    seq: u64,
    path: String,
    /// `Some` writes, `None` removes the path and everything under it.
    content: Option<Vec<u8>>,
}

struct State {
    rng: SplitMix64,
    seq: u64,
    pull_time: Duration,
    catalog: Vec<CatalogImage>,
    images: BTreeMap<String, ImageRecord>,
    pulls: BTreeMap<String, Duration>,
    pod_cidr: Option<(u32, u8)>,
    node_ip: u32,
    sandboxes: BTreeMap<String, Sandbox>,
    containers: BTreeMap<String, Container>,
    host_ops: Vec<HostOp>,
    network: Option<Arc<dyn Network>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("sandboxes", &self.sandboxes.len())
            .field("containers", &self.containers.len())
            .field("images", &self.images.len())
            .finish_non_exhaustive()
    }
}

/// The simulated runtime. Cheap to share (`Arc`); every method takes `&self`.
#[derive(Debug)]
pub struct SimRuntime {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// The wall clock as seen from the monotonic one: from each elapsed time on, the wall
    /// time at elapsed zero (a new entry when the wall clock is stepped).
    epochs: Mutex<Vec<(Duration, SystemTime)>>,
}

/// How far the wall clock must move against the monotonic one to count as a step (the two
/// are read a moment apart, and a real wall clock is slewed by parts per million; NTP steps
/// only past 128 ms).
const WALL_STEP: Duration = Duration::from_millis(100);

/// How many wall-clock steps the runtime remembers (moments before the oldest kept one take
/// its time).
const WALL_STEPS_KEPT: usize = 256;

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// 64 hex digits derived from `s` (image digests and ids: the same image has the same digest
/// on every node).
fn hex64_of(s: &str) -> String {
    let mut g = SplitMix64::new(fnv(s));
    hex64(&mut g)
}

/// 64 hex digits from four draws of `g`.
fn hex64(g: &mut SplitMix64) -> String {
    use std::fmt::Write as _;
    (0..4).fold(String::with_capacity(64), |mut s, _| {
        let _ = write!(s, "{:016x}", g.next_u64());
        s
    })
}

fn parse_cidr(cidr: &str) -> Option<(u32, u8)> {
    let (addr, prefix) = cidr.split_once('/')?;
    let prefix: u8 = prefix.parse().ok()?;
    if prefix > 30 {
        return None;
    }
    let ip: std::net::Ipv4Addr = addr.parse().ok()?;
    let base = u32::from(ip) & (u32::MAX << (32 - prefix));
    Some((base, prefix))
}

fn ip_text(ip: u32) -> String {
    std::net::Ipv4Addr::from(ip).to_string()
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn under(path: &str, dir: &str) -> Option<String> {
    let dir = dir.trim_end_matches('/');
    if path == dir {
        Some(String::new())
    } else {
        path.strip_prefix(dir)
            .and_then(|rest| rest.strip_prefix('/'))
            .map(str::to_owned)
    }
}

fn labels_match(have: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

impl SimRuntime {
    /// A runtime reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>, config: SimConfig) -> Self {
        let mut state = State {
            rng: SplitMix64::new(config.seed),
            seq: 0,
            pull_time: config.pull_time,
            catalog: config.catalog,
            images: BTreeMap::new(),
            pulls: BTreeMap::new(),
            pod_cidr: None,
            node_ip: u32::from(config.node_ip),
            sandboxes: BTreeMap::new(),
            containers: BTreeMap::new(),
            host_ops: Vec::new(),
            network: None,
        };
        for image in &config.preloaded {
            let key = normalize_image(image);
            if let Some(record) = state.catalog_lookup(&key) {
                state.images.insert(key, record);
            }
        }
        Self {
            clock,
            state: Mutex::new(state),
            epochs: Mutex::new(Vec::new()),
        }
    }

    /// Sets how long pulls started from now on take.
    pub fn set_pull_time(&self, d: Duration) {
        lock(&self.state).pull_time = d;
    }

    /// Adds (or replaces) an image in the registry's catalog.
    pub fn add_catalog_image(&self, image: CatalogImage) {
        let mut s = lock(&self.state);
        s.catalog.retain(|i| i.repository != image.repository);
        s.catalog.push(image);
    }

    /// Connects the pods of this runtime to the rest of the cluster (DNS and Service rules).
    pub fn set_network(&self, network: Arc<dyn Network>) {
        lock(&self.state).network = Some(network);
    }

    /// A node crash (power loss or reboot): every running container exits with code 255
    /// (reason `Unknown`), every sandbox is `NotReady`, pulls in progress are lost; images,
    /// exited containers, logs and files on the node survive.
    pub fn crash(&self) {
        let now = self.clock.elapsed();
        let mut s = lock(&self.state);
        for c in s.containers.values_mut() {
            if c.started_at.is_some() && c.exit.as_ref().is_none_or(|e| e.at > now) {
                c.exit = Some(Exit {
                    at: now,
                    code: 255,
                    reason: "Unknown",
                    message: "the node crashed".to_owned(),
                });
            }
        }
        for sb in s.sandboxes.values_mut() {
            sb.state = SandboxState::NotReady;
        }
        s.pulls.clear();
    }

    /// An HTTP GET to `ip:port` served by a container of this runtime (for probes and the
    /// node's proxy dataplane); `None` when nothing here listens there.
    pub fn http_get(&self, ip: &str, port: u16, path: &str) -> Option<HttpResponse> {
        let now = self.clock.elapsed();
        let mut s = lock(&self.state);
        s.serve_http(now, ip, port, path, ip)
    }

    /// Whether a container of this runtime accepts TCP connections on `ip:port`.
    pub fn tcp_connect(&self, ip: &str, port: u16) -> bool {
        let now = self.clock.elapsed();
        let s = lock(&self.state);
        s.listener(now, ip, port).is_some()
    }

    /// The wall time of the runtime's moment `at`: the wall clock as it stood then, as a
    /// real runtime stamps a line when it is written. The same moment gets the same time on
    /// every read (a log follower relies on it); a later wall-clock step moves only what
    /// comes after it.
    fn wall_of(&self, at: Duration) -> SystemTime {
        let now = self.clock.elapsed();
        let wall = self.clock.wall();
        let epoch = wall.checked_sub(now).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut epochs = self.epochs.lock().unwrap_or_else(PoisonError::into_inner);
        let stepped = epochs.last().is_none_or(|(_, last)| {
            let gap = epoch.duration_since(*last).unwrap_or_else(|e| e.duration());
            gap > WALL_STEP
        });
        if stepped {
            if epochs.len() == WALL_STEPS_KEPT {
                epochs.remove(0);
            }
            epochs.push((now, epoch));
        }
        let i = epochs.partition_point(|(from, _)| *from <= at).max(1) - 1;
        let (_, epoch) = epochs[i];
        epoch.checked_add(at).unwrap_or(wall)
    }
}

impl State {
    fn next_id(&mut self) -> String {
        hex64(&mut self.rng)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn catalog_lookup(&self, key: &str) -> Option<ImageRecord> {
        let (repository, tag) = match key.split_once('@') {
            Some((repo, _)) => (repo, "latest"),
            None => {
                let last_slash = key.rfind('/').map_or(0, |i| i + 1);
                let colon = key[last_slash..].rfind(':')? + last_slash;
                (&key[..colon], &key[colon + 1..])
            }
        };
        let entry = self
            .catalog
            .iter()
            .find(|i| i.repository == repository && i.tags.iter().any(|t| t == tag))?;
        let digest = hex64_of(&format!("digest:{repository}:{tag}"));
        Some(ImageRecord {
            id: format!("sha256:{}", hex64_of(&format!("id:{repository}:{tag}"))),
            repository: repository.to_owned(),
            tag: tag.to_owned(),
            digest,
            size: entry.size,
        })
    }

    fn catalog_entry(&self, repository: &str) -> Option<&CatalogImage> {
        self.catalog.iter().find(|i| i.repository == repository)
    }

    fn image_ref(&self, key: &str) -> String {
        self.images.get(key).map_or_else(String::new, |r| {
            format!("{}@sha256:{}", r.repository, r.digest)
        })
    }

    fn exit_at(c: &Container, now: Duration) -> Option<&Exit> {
        c.exit.as_ref().filter(|e| e.at <= now)
    }

    fn container_state(c: &Container, now: Duration) -> ContainerState {
        if Self::exit_at(c, now).is_some() {
            ContainerState::Exited
        } else if c.started_at.is_some() {
            ContainerState::Running
        } else {
            ContainerState::Created
        }
    }

    /// What the program did up to `now` (or its exit).
    fn events(c: &Container, now: Duration) -> Vec<(Duration, Event)> {
        let (Some(program), Some(start)) = (&c.program, c.started_at) else {
            return Vec::new();
        };
        let horizon = c.exit.as_ref().map_or(now, |e| e.at.min(now));
        if horizon < start {
            return Vec::new();
        }
        program::run(program, start, c.config.memory_limit_bytes, horizon).0
    }

    /// The mount (host path) a container path falls under, with the path below it.
    fn mounted<'c>(c: &'c Container, path: &str) -> Option<(&'c super::Mount, String)> {
        c.config
            .mounts
            .iter()
            .filter_map(|m| under(path, &m.container_path).map(|rest| (m, rest)))
            .max_by_key(|(m, _)| m.container_path.len())
    }

    /// The node's files at `now`: the kubelet's and exec's writes plus what container programs
    /// wrote into mounted paths, in time order.
    fn host_files(&self, now: Duration) -> BTreeMap<String, Vec<u8>> {
        let mut ops: Vec<HostOp> = self
            .host_ops
            .iter()
            .filter(|o| o.at <= now)
            .cloned()
            .collect();
        for c in self.containers.values() {
            for (at, event) in Self::events(c, now) {
                if let Event::Write(path, content) = event
                    && let Some((mount, rest)) = Self::mounted(c, &path)
                {
                    let host = join(&mount.host_path, &rest);
                    ops.push(HostOp {
                        at,
                        seq: 0,
                        path: host,
                        content,
                    });
                }
            }
        }
        ops.sort_by_key(|o| (o.at, o.seq));
        let mut files = BTreeMap::new();
        for op in ops {
            match op.content {
                Some(content) => {
                    files.insert(op.path, content);
                }
                None => files.retain(|p: &String, _| under(p, &op.path).is_none()),
            }
        }
        files
    }

    /// Every file a container sees at `now`, by container path: the image's, its own writes,
    /// and its mounts (which hide what the image has under them).
    fn container_files(&self, c: &Container, now: Duration) -> BTreeMap<String, Vec<u8>> {
        let repository = repository_of(&c.image_key);
        let mut files = self
            .catalog_entry(&repository)
            .map(|i| i.files.clone())
            .unwrap_or_default();
        if let Some(sb) = self.sandboxes.get(&c.sandbox_id) {
            files.insert(
                "/etc/hostname".to_owned(),
                format!("{}\n", sb.config.hostname).into_bytes(),
            );
            if !sb.config.dns.servers.is_empty() {
                files.insert(
                    "/etc/resolv.conf".to_owned(),
                    sb.config.dns.resolv_conf().into_bytes(),
                );
            }
            if let Some(ip) = sb.ip {
                files.insert(
                    "/etc/hosts".to_owned(),
                    format!(
                        "127.0.0.1\tlocalhost\n{}\t{}\n",
                        ip_text(ip),
                        sb.config.hostname
                    )
                    .into_bytes(),
                );
            }
        }
        let mut writes: Vec<(Duration, u64, String, Option<Vec<u8>>)> = c.writes.clone();
        for (at, event) in Self::events(c, now) {
            if let Event::Write(path, content) = event
                && Self::mounted(c, &path).is_none()
            {
                writes.push((at, 0, path, content));
            }
        }
        writes.retain(|w| w.0 <= now);
        writes.sort_by_key(|w| (w.0, w.1));
        for (_, _, path, content) in writes {
            match content {
                Some(content) => {
                    files.insert(path, content);
                }
                None => {
                    files.remove(&path);
                }
            }
        }
        if !c.config.mounts.is_empty() {
            let host = self.host_files(now);
            for m in &c.config.mounts {
                files.retain(|p, _| under(p, &m.container_path).is_none());
                for (hp, content) in &host {
                    if let Some(rest) = under(hp, &m.host_path) {
                        files.insert(join(&m.container_path, &rest), content.clone());
                    }
                }
            }
        }
        files
    }

    /// The ready sandboxes with this IP: one pod, or every host-network pod for the node's.
    /// What the container left in its termination log (`/dev/termination-log`, upstream's
    /// default `terminationMessagePath`) when it exited. Upstream the kubelet reads that file
    /// through a mount; here the runtime reports it as the status message.
    fn termination_message(&self, c: &Container, at: Duration) -> String {
        self.container_files(c, at)
            .get("/dev/termination-log")
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }

    fn sandboxes_of_ip(&self, ip: &str) -> Vec<&str> {
        self.sandboxes
            .iter()
            .filter(|(_, sb)| {
                sb.state == SandboxState::Ready && sb.ip.map(ip_text).as_deref() == Some(ip)
            })
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// The running container listening on `ip:port` and how.
    fn listener(&self, now: Duration, ip: &str, port: u16) -> Option<(String, Proto)> {
        let sandboxes = self.sandboxes_of_ip(ip);
        for (id, c) in &self.containers {
            if !sandboxes.contains(&c.sandbox_id.as_str())
                || Self::container_state(c, now) != ContainerState::Running
            {
                continue;
            }
            for (_, event) in Self::events(c, now) {
                if let Event::Listen(p, proto) = event
                    && p == port
                {
                    return Some((id.clone(), proto));
                }
            }
        }
        None
    }

    fn serve_http(
        &mut self,
        now: Duration,
        ip: &str,
        port: u16,
        path: &str,
        client: &str,
    ) -> Option<HttpResponse> {
        let (id, proto) = self.listener(now, ip, port)?;
        let Proto::Http { docroot } = proto else {
            // Not an HTTP server: the connection is closed without an answer.
            return Some(HttpResponse {
                status: 0,
                body: Vec::new(),
            });
        };
        let c = self.containers.get(&id)?;
        let files = self.container_files(c, now);
        let mut file = join(&docroot, path.trim_start_matches('/'));
        if path.ends_with('/') || path.is_empty() {
            file = join(&file, "index.html");
        }
        let (status, body) = match files.get(&file) {
            Some(body) => (200, body.clone()),
            None => (
                404,
                b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n</body>\r\n</html>\r\n".to_vec(),
            ),
        };
        let line = format!(
            "{client} - - \"GET {} HTTP/1.1\" {status} {} \"-\" \"Wget\" \"-\"",
            if path.is_empty() { "/" } else { path },
            body.len()
        );
        if let Some(c) = self.containers.get_mut(&id) {
            c.extra_logs.push((now, LogStream::Stdout, line));
        }
        Some(HttpResponse { status, body })
    }

    /// host-local IPAM: the lowest free address of the pod CIDR from .2 (.1 is the gateway)
    /// to the last before broadcast.
    fn allocate_ip(&self) -> Result<u32> {
        let Some((base, prefix)) = self.pod_cidr else {
            return Err(CriError::Unavailable(
                "failed to setup network for sandbox: cni plugin not initialized".to_owned(),
            ));
        };
        let used: BTreeSet<u32> = self
            .sandboxes
            .values()
            .filter(|sb| !sb.config.host_network)
            .filter_map(|sb| sb.ip)
            .collect();
        let last = base | !(u32::MAX << (32 - prefix));
        (base + 2..last)
            .find(|ip| !used.contains(ip))
            .ok_or_else(|| {
                CriError::Unavailable(format!(
                    "failed to allocate for range 0: no IP addresses available in range set: {}-{}",
                    ip_text(base + 1),
                    ip_text(last - 1)
                ))
            })
    }

    fn release(&mut self, sandbox_id: &str) {
        self.containers.retain(|_, c| c.sandbox_id != sandbox_id);
        self.sandboxes.remove(sandbox_id);
    }

    fn stop(c: &mut Container, now: Duration, timeout: Duration) {
        if c.started_at.is_none() {
            if c.exit.is_none() {
                c.exit = Some(Exit::new(now, 0));
            }
            return;
        }
        if Self::exit_at(c, now).is_some() {
            return;
        }
        let program = c.program.as_ref();
        let by_signal = match program.map_or(OnTerm::Ignore, |p| p.on_term) {
            OnTerm::Exit(after, code) if after <= timeout => {
                Exit::new(now.saturating_add(after), code)
            }
            // Still running at the timeout (or no handler): SIGKILL, exit 137.
            _ => Exit::new(now.saturating_add(timeout), 137),
        };
        match &c.exit {
            Some(e) if e.at <= by_signal.at => {}
            _ => c.exit = Some(by_signal),
        }
    }
}

/// `docker.io/library/nginx` of `docker.io/library/nginx:1.27` (or of a digest reference).
fn repository_of(key: &str) -> String {
    if let Some((repo, _)) = key.split_once('@') {
        return repo.to_owned();
    }
    let last_slash = key.rfind('/').map_or(0, |i| i + 1);
    key[..key[last_slash..]
        .rfind(':')
        .map_or(key.len(), |i| i + last_slash)]
        .to_owned()
}

fn join(dir: &str, rest: &str) -> String {
    if rest.is_empty() {
        dir.trim_end_matches('/').to_owned()
    } else {
        format!("{}/{rest}", dir.trim_end_matches('/'))
    }
}

impl Runtime for SimRuntime {
    fn version(&self) -> VersionResponse {
        VersionResponse {
            version: "0.1.0".to_owned(),
            runtime_name: "skiff-sim".to_owned(),
            runtime_version: env!("CARGO_PKG_VERSION").to_owned(),
            runtime_api_version: "v1".to_owned(),
        }
    }

    fn status(&self) -> RuntimeStatus {
        let s = lock(&self.state);
        let network = s.pod_cidr.is_some();
        RuntimeStatus {
            conditions: vec![
                RuntimeCondition {
                    type_: "RuntimeReady".to_owned(),
                    status: true,
                    reason: String::new(),
                    message: String::new(),
                },
                RuntimeCondition {
                    type_: "NetworkReady".to_owned(),
                    status: network,
                    reason: if network { "" } else { "NetworkPluginNotReady" }.to_owned(),
                    message: if network {
                        ""
                    } else {
                        "Network plugin returns error: cni plugin not initialized"
                    }
                    .to_owned(),
                },
            ],
        }
    }

    fn update_runtime_config(&self, pod_cidr: &str) -> Result<()> {
        let cidr = parse_cidr(pod_cidr)
            .ok_or_else(|| CriError::InvalidArgument(format!("invalid pod CIDR {pod_cidr:?}")))?;
        lock(&self.state).pod_cidr = Some(cidr);
        Ok(())
    }

    fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String> {
        let now = self.clock.elapsed();
        let mut s = lock(&self.state);
        if let Some((id, _)) = s
            .sandboxes
            .iter()
            .find(|(_, sb)| sb.config.metadata == config.metadata)
        {
            return Ok(id.clone());
        }
        if config.metadata.name.is_empty() || config.metadata.uid.is_empty() {
            return Err(CriError::InvalidArgument(
                "sandbox metadata needs a name and a uid".to_owned(),
            ));
        }
        let pause = normalize_image(PAUSE_IMAGE);
        if !s.images.contains_key(&pause)
            && let Some(record) = s.catalog_lookup(&pause)
        {
            s.images.insert(pause, record);
        }
        let ip = if config.host_network {
            s.node_ip
        } else {
            s.allocate_ip()?
        };
        let id = s.next_id();
        s.sandboxes.insert(
            id.clone(),
            Sandbox {
                config: config.clone(),
                created_at: now,
                state: SandboxState::Ready,
                ip: Some(ip),
            },
        );
        Ok(id)
    }

    fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let now = self.clock.elapsed();
        let mut s = lock(&self.state);
        let Some(sb) = s.sandboxes.get_mut(id) else {
            return Ok(());
        };
        sb.state = SandboxState::NotReady;
        for c in s.containers.values_mut().filter(|c| c.sandbox_id == id) {
            State::stop(c, now, Duration::ZERO);
        }
        Ok(())
    }

    fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        lock(&self.state).release(id);
        Ok(())
    }

    fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus> {
        self.list_pod_sandbox(&SandboxFilter {
            id: Some(id.to_owned()),
            ..SandboxFilter::default()
        })
        .pop()
        .ok_or_else(|| {
            CriError::NotFound(format!(
                "an error occurred when try to find sandbox: not found {id}"
            ))
        })
    }

    fn list_pod_sandbox(&self, filter: &SandboxFilter) -> Vec<PodSandboxStatus> {
        let s = lock(&self.state);
        s.sandboxes
            .iter()
            .filter(|(id, sb)| {
                filter.id.as_ref().is_none_or(|f| f == *id)
                    && filter.state.is_none_or(|st| st == sb.state)
                    && labels_match(&sb.config.labels, &filter.labels)
            })
            .map(|(id, sb)| PodSandboxStatus {
                id: id.clone(),
                metadata: sb.config.metadata.clone(),
                state: sb.state,
                created_at: self.wall_of(sb.created_at),
                ip: sb.ip.map(ip_text),
                hostname: sb.config.hostname.clone(),
                labels: sb.config.labels.clone(),
                annotations: sb.config.annotations.clone(),
            })
            .collect()
    }

    fn create_container(&self, sandbox_id: &str, config: &ContainerConfig) -> Result<String> {
        let now = self.clock.elapsed();
        let mut s = lock(&self.state);
        let Some(sb) = s.sandboxes.get(sandbox_id) else {
            return Err(CriError::NotFound(format!(
                "failed to get sandbox {sandbox_id:?}: not found"
            )));
        };
        if sb.state != SandboxState::Ready {
            return Err(CriError::FailedPrecondition(format!(
                "sandbox container {sandbox_id:?} is not running"
            )));
        }
        if let Some((id, _)) = s
            .containers
            .iter()
            .find(|(_, c)| c.sandbox_id == sandbox_id && c.config.metadata == config.metadata)
        {
            return Ok(id.clone());
        }
        let key = normalize_image(&config.image);
        if !s.images.contains_key(&key) {
            return Err(CriError::NotFound(format!(
                "failed to create containerd container: get image: image \"{key}\": not found"
            )));
        }
        let id = s.next_id();
        s.containers.insert(
            id.clone(),
            Container {
                sandbox_id: sandbox_id.to_owned(),
                config: config.clone(),
                image_key: key,
                created_at: now,
                started_at: None,
                program: None,
                exit: None,
                writes: Vec::new(),
                extra_logs: Vec::new(),
            },
        );
        Ok(id)
    }

    fn start_container(&self, id: &str) -> Result<()> {
        let now = self.clock.elapsed();
        let mut s = lock(&self.state);
        let argv = {
            let Some(c) = s.containers.get(id) else {
                return Err(CriError::NotFound(format!("container {id:?} not found")));
            };
            if c.started_at.is_some() || c.exit.is_some() {
                return Err(CriError::FailedPrecondition(format!(
                    "container {id:?} is in {} state, only a created container can start",
                    match State::container_state(c, now) {
                        ContainerState::Running => "CONTAINER_RUNNING",
                        _ => "CONTAINER_EXITED",
                    }
                )));
            }
            let image = s.catalog_entry(&repository_of(&c.image_key));
            let (entrypoint, cmd) = image.map_or((Vec::new(), Vec::new()), |i| {
                (i.entrypoint.clone(), i.cmd.clone())
            });
            // Docker's rule: `command` replaces ENTRYPOINT (and drops CMD); `args` replaces CMD.
            let mut argv = if c.config.command.is_empty() {
                entrypoint
            } else {
                c.config.command.clone()
            };
            if !c.config.args.is_empty() {
                argv.extend(c.config.args.iter().cloned());
            } else if c.config.command.is_empty() {
                argv.extend(cmd);
            }
            argv
        };
        let c = s
            .containers
            .get_mut(id)
            .ok_or_else(|| CriError::NotFound(id.to_owned()))?;
        match program::interpret(&argv) {
            Ok(p) => {
                c.exit = program::natural_exit(&p, now, c.config.memory_limit_bytes);
                c.program = Some(p);
                c.started_at = Some(now);
                Ok(())
            }
            Err(message) => {
                // runc could not exec: the container is exited with 128 (`StartError`).
                c.exit = Some(Exit {
                    at: now,
                    code: 128,
                    reason: "StartError",
                    message: message.clone(),
                });
                Err(CriError::FailedPrecondition(message))
            }
        }
    }

    fn stop_container(&self, id: &str, timeout: Duration) -> Result<()> {
        let now = self.clock.elapsed();
        let mut s = lock(&self.state);
        if let Some(c) = s.containers.get_mut(id) {
            State::stop(c, now, timeout);
        }
        Ok(())
    }

    fn remove_container(&self, id: &str) -> Result<()> {
        lock(&self.state).containers.remove(id);
        Ok(())
    }

    fn container_status(&self, id: &str) -> Result<ContainerStatus> {
        self.list_containers(&ContainerFilter {
            id: Some(id.to_owned()),
            ..ContainerFilter::default()
        })
        .pop()
        .ok_or_else(|| {
            CriError::NotFound(format!(
                "an error occurred when try to find container {id:?}: not found"
            ))
        })
    }

    fn list_containers(&self, filter: &ContainerFilter) -> Vec<ContainerStatus> {
        let now = self.clock.elapsed();
        let s = lock(&self.state);
        s.containers
            .iter()
            .filter(|(id, c)| {
                filter.id.as_ref().is_none_or(|f| f == *id)
                    && filter
                        .sandbox_id
                        .as_ref()
                        .is_none_or(|f| *f == c.sandbox_id)
                    && filter
                        .state
                        .is_none_or(|st| st == State::container_state(c, now))
                    && labels_match(&c.config.labels, &filter.labels)
            })
            .map(|(id, c)| {
                let exit = State::exit_at(c, now);
                ContainerStatus {
                    id: id.clone(),
                    sandbox_id: c.sandbox_id.clone(),
                    metadata: c.config.metadata.clone(),
                    state: State::container_state(c, now),
                    created_at: self.wall_of(c.created_at),
                    started_at: c.started_at.map(|t| self.wall_of(t)),
                    finished_at: exit.map(|e| self.wall_of(e.at)),
                    exit_code: exit.map_or(0, |e| e.code),
                    image: c.config.image.clone(),
                    image_ref: s.image_ref(&c.image_key),
                    reason: exit.map_or_else(String::new, |e| e.reason.to_owned()),
                    message: exit.map_or_else(String::new, |e| {
                        if e.message.is_empty() {
                            s.termination_message(c, e.at)
                        } else {
                            e.message.clone()
                        }
                    }),
                    labels: c.config.labels.clone(),
                    annotations: c.config.annotations.clone(),
                }
            })
            .collect()
    }

    fn exec_sync(&self, id: &str, cmd: &[String], _timeout: Duration) -> Result<ExecSyncResponse> {
        let now = self.clock.elapsed();
        let mut s = lock(&self.state);
        let Some(c) = s.containers.get(id) else {
            return Err(CriError::NotFound(format!("container {id:?} not found")));
        };
        if State::container_state(c, now) != ContainerState::Running {
            return Err(CriError::FailedPrecondition(format!(
                "failed to exec in container: container is in {} state",
                match State::container_state(c, now) {
                    ContainerState::Created => "CONTAINER_CREATED",
                    _ => "CONTAINER_EXITED",
                }
            )));
        }
        Ok(exec::run(&mut s, id, cmd, now))
    }

    fn attach(&self, id: &str) -> Result<Vec<u8>> {
        let lines = self.container_logs(id, &LogOptions::default())?;
        let mut out = Vec::new();
        for line in lines.iter().filter(|l| l.stream == LogStream::Stdout) {
            out.extend_from_slice(line.text.as_bytes());
            out.push(b'\n');
        }
        Ok(out)
    }

    fn container_logs(&self, id: &str, options: &LogOptions) -> Result<Vec<LogLine>> {
        let now = self.clock.elapsed();
        let s = lock(&self.state);
        let c = s
            .containers
            .get(id)
            .ok_or_else(|| CriError::NotFound(format!("container {id:?} not found")))?;
        let mut lines: Vec<(Duration, LogStream, String)> = State::events(c, now)
            .into_iter()
            .filter_map(|(at, e)| match e {
                Event::Log(stream, text) => Some((at, stream, text)),
                _ => None,
            })
            .collect();
        lines.extend(c.extra_logs.iter().filter(|l| l.0 <= now).cloned());
        lines.sort_by_key(|l| l.0);
        let mut out: Vec<LogLine> = lines
            .into_iter()
            .map(|(at, stream, text)| LogLine {
                time: self.wall_of(at),
                stream,
                text,
            })
            .filter(|l| options.since.is_none_or(|since| l.time >= since))
            .collect();
        if let Some(tail) = options.tail {
            let skip = out.len().saturating_sub(tail);
            out.drain(..skip);
        }
        Ok(out)
    }

    fn container_stats(&self, id: &str) -> Result<ContainerStats> {
        self.list_container_stats()
            .into_iter()
            .find(|st| st.id == id)
            .ok_or_else(|| CriError::NotFound(format!("container {id:?} not found")))
    }

    fn list_container_stats(&self) -> Vec<ContainerStats> {
        let now = self.clock.elapsed();
        let s = lock(&self.state);
        s.containers
            .iter()
            .map(|(id, c)| {
                let running = State::container_state(c, now) == ContainerState::Running;
                let memory = if running {
                    c.program.as_ref().map_or(0, |p| p.base_memory)
                        + State::events(c, now)
                            .iter()
                            .map(|(_, e)| if let Event::Alloc(b) = e { *b } else { 0 })
                            .sum::<u64>()
                } else {
                    0
                };
                let ran = c.started_at.map_or(Duration::ZERO, |st| {
                    State::exit_at(c, now)
                        .map_or(now, |e| e.at)
                        .saturating_sub(st)
                });
                ContainerStats {
                    id: id.clone(),
                    metadata: c.config.metadata.clone(),
                    timestamp: self.wall_of(now),
                    // A thousandth of a core while running.
                    cpu_usage_core_nano_seconds: u64::try_from(ran.as_micros()).unwrap_or(u64::MAX),
                    memory_working_set_bytes: memory,
                }
            })
            .collect()
    }

    fn list_images(&self) -> Vec<Image> {
        let s = lock(&self.state);
        let mut by_id: BTreeMap<String, Image> = BTreeMap::new();
        for r in s.images.values() {
            let image = by_id.entry(r.id.clone()).or_insert_with(|| Image {
                id: r.id.clone(),
                repo_tags: Vec::new(),
                repo_digests: vec![format!("{}@sha256:{}", r.repository, r.digest)],
                size: r.size,
            });
            image.repo_tags.push(format!("{}:{}", r.repository, r.tag));
        }
        by_id.into_values().collect()
    }

    fn image_status(&self, image: &str) -> Result<Option<Image>> {
        let key = normalize_image(image);
        let id = lock(&self.state).images.get(&key).map(|r| r.id.clone());
        Ok(id.and_then(|id| self.list_images().into_iter().find(|i| i.id == id)))
    }

    fn pull_image(&self, image: &str) -> Result<PullImageResponse> {
        let now = self.clock.elapsed();
        let key = normalize_image(image);
        let mut s = lock(&self.state);
        let Some(record) = s.catalog_lookup(&key) else {
            let repository_known = s
                .catalog
                .iter()
                .any(|i| key.starts_with(&format!("{}:", i.repository)));
            let why = if repository_known {
                format!("{key}: not found")
            } else {
                "pull access denied, repository does not exist or may require authorization: \
                 server message: insufficient_scope: authorization failed"
                    .to_owned()
            };
            return Err(CriError::ImagePull(format!(
                "failed to pull and unpack image \"{key}\": failed to resolve reference \
                 \"{key}\": {why}"
            )));
        };
        if s.images.contains_key(&key) {
            return Ok(PullImageResponse::Pulled {
                image_ref: s.image_ref(&key),
            });
        }
        let done = match s.pulls.get(&key) {
            Some(done) => *done,
            None => {
                let done = now.saturating_add(s.pull_time);
                s.pulls.insert(key.clone(), done);
                done
            }
        };
        if done <= now {
            s.pulls.remove(&key);
            s.images.insert(key.clone(), record);
            Ok(PullImageResponse::Pulled {
                image_ref: s.image_ref(&key),
            })
        } else {
            Ok(PullImageResponse::InProgress {
                remaining: done.saturating_sub(now),
            })
        }
    }

    fn remove_image(&self, image: &str) -> Result<()> {
        let key = normalize_image(image);
        let mut s = lock(&self.state);
        if s.containers.values().any(|c| c.image_key == key) {
            return Err(CriError::FailedPrecondition(format!(
                "image \"{key}\" is in use by a container"
            )));
        }
        s.images.remove(&key);
        Ok(())
    }
}

impl HostFs for SimRuntime {
    fn write_file(&self, path: &str, content: &[u8]) {
        let at = self.clock.elapsed();
        let mut s = lock(&self.state);
        let seq = s.next_seq();
        s.host_ops.push(HostOp {
            at,
            seq,
            path: path.to_owned(),
            content: Some(content.to_vec()),
        });
    }

    fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        let now = self.clock.elapsed();
        lock(&self.state).host_files(now).remove(path)
    }

    fn remove_all(&self, path: &str) {
        let at = self.clock.elapsed();
        let mut s = lock(&self.state);
        let seq = s.next_seq();
        // What the removal hides is gone for good: drop it, so the log of the node's file
        // changes stays as small as what is on the node.
        s.host_ops.retain(|o| under(&o.path, path).is_none());
        s.host_ops.push(HostOp {
            at,
            seq,
            path: path.to_owned(),
            content: None,
        });
    }
}

mod exec;

#[cfg(test)]
mod tests;
