//! `skiff up`: the embedded default cluster — the store in a data dir, the API server on
//! loopback behind the wire protocol, the controller manager, and a client config for the CLI.
//! Ctrl-C stops it cleanly; starting it again resumes from the log.
//!
//! # A replicated control plane (issue #11)
//!
//! `skiff up --name a --initial-cluster a=127.0.0.1:2380,b=127.0.0.1:2390,c=127.0.0.1:2400`
//! runs one member of a three-member control plane, as etcd's flags of the same names:
//!
//! - **Ids** come from names ([`member_id`]: FNV-1a 64 of the name), so every process derives
//!   the same ids from the same `--initial-cluster`.
//! - **Addresses**: the `--initial-cluster` address is the member's Raft peer address
//!   (etcd's peer URL); its wire API (the client address, etcd's client URL) listens on the
//!   peer port plus one and its Kubernetes HTTP API on the peer port plus two, unless
//!   `--listen`/`--http-listen` say otherwise.
//! - **Data**: the member's store is `<data-dir>/<name>` (its HTTP kubeconfig beside it);
//!   `<data-dir>`'s admin token and signing key are shared by the members started with the
//!   same `--data-dir` (on separate machines, copy them), and `<data-dir>/config.json` lists
//!   every member's client address, so CLI verbs fail over between them.
//! - Each member runs its API server (wire and HTTP), the controller manager and the scheduler
//!   (Lease-elected: one acts); in-process nodes only with `--nodes N`. Writes go through
//!   Raft: a follower refuses them with the leader's id and clients move to the leader.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff::Cluster;
use skiff_controllers::builtin::ControlPlaneConfig;
use skiff_controllers::proxy::ipam::{Ipv4Cidr, NodeIpamController};
use skiff_core::clock::{Clock, SystemClock, unix_micros};
use skiff_core::rng::SplitMix64;
use skiff_store::apiserver::ApiHandler;
use skiff_store::apiserver::authn::Authenticator;
use std::collections::BTreeMap;

use skiff_core::client::BoxFuture;
use skiff_core::status::{Reason, Status};
use skiff_store::raft::{MemberConfig, Replica, Replication};
use skiff_store::wire::{MemberInfo, Membership, RaftStatus, serve_member};
use skiff_store::{Backing, Store, StoreError};
use tokio::net::TcpListener;

use super::connect::{ClientConfig, write_private};

/// Name of the admin token file inside the data dir.
pub const TOKEN_FILE: &str = "admin.token";

/// Options of `skiff up` (the data dir is the global `--data-dir`).
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Address of the wire protocol (port 0 picks a free one; the config file records it).
    /// Default `127.0.0.1:7443`; in a cluster, the member's peer port + 1.
    #[arg(long)]
    pub listen: Option<String>,
    /// Address of the Kubernetes HTTP/JSON API for kubectl and client libraries (port 0 picks
    /// a free one; `<data-dir>/kubeconfig` records it). Default `127.0.0.1:6443`; in a
    /// cluster, the member's peer port + 2.
    #[arg(long)]
    pub http_listen: Option<String>,
    /// Serve the HTTP API without TLS. kubectl then sends no token, so on a loopback address
    /// requests without one are served as an admin (upstream's old insecure port).
    #[arg(long)]
    pub http_insecure: bool,
    /// Simulated worker nodes run in-process (`node-1` … `node-N`): kubelets over a simulated
    /// container runtime on one pod network. 0 runs the control plane alone. Default 3; 0 in
    /// a cluster (`--initial-cluster`).
    #[arg(long)]
    pub nodes: Option<u8>,
    /// Static bearer tokens, upstream's `--token-auth-file` CSV (`token,user,uid,"group1,group2"`).
    #[arg(long, value_name = "FILE")]
    pub token_auth_file: Option<PathBuf>,
    /// This member's name in `--initial-cluster` (etcd's `--name`).
    #[arg(long, requires = "initial_cluster")]
    pub name: Option<String>,
    /// Run as one member of a replicated control plane: every member as `NAME=HOST:PORT`,
    /// comma-separated, where `HOST:PORT` is the member's Raft peer address (etcd's
    /// `--initial-cluster`). The member serves its wire API on peer port + 1 and its HTTP API
    /// on peer port + 2, keeps its store in `<data-dir>/<name>` and shares `<data-dir>`'s
    /// admin token and signing key with the other members.
    #[arg(long, requires = "name", value_name = "NAME=HOST:PORT,...")]
    pub initial_cluster: Option<String>,
    /// `new` to bootstrap a new cluster with `--initial-cluster` as its voters; `existing` to
    /// join a running one after `skiff etcdctl member add` (etcd's `--initial-cluster-state`).
    #[arg(long, value_enum, default_value_t = ClusterState::New)]
    pub initial_cluster_state: ClusterState,
    /// The range node pod CIDRs are cut from (kube-controller-manager's `--cluster-cidr`).
    /// Default `10.244.0.0/16`.
    #[arg(long, value_name = "CIDR", value_parser = parse_cluster_cidr)]
    pub cluster_cidr: Option<Ipv4Cidr>,
    /// The prefix length of each node's pod range (kube-controller-manager's
    /// `--node-cidr-mask-size`): the cluster CIDR holds `2^(mask − its prefix)` node ranges,
    /// and nodes past that wait with a `CIDRNotAvailable` event. Default 24.
    #[arg(long, value_name = "BITS", value_parser = clap::value_parser!(u8).range(1..=32))]
    pub node_cidr_mask_size: Option<u8>,
}

/// Parses `--cluster-cidr` (`a.b.c.d/n`, host bits clear).
fn parse_cluster_cidr(s: &str) -> Result<Ipv4Cidr, String> {
    s.parse::<Ipv4Cidr>().map_err(|e| e.to_string())
}

impl UpArgs {
    /// The built-in controllers' settings these options ask for. A mask the node IPAM
    /// controller cannot cut the cluster CIDR with is refused here (by the controller's own
    /// rule) rather than leaving node IPAM off.
    pub fn control_plane(&self) -> Result<ControlPlaneConfig, String> {
        let mut config = ControlPlaneConfig::default();
        if let Some(cidr) = self.cluster_cidr {
            config.cluster_cidr = cidr;
        }
        if let Some(mask) = self.node_cidr_mask_size {
            config.node_cidr_mask_size = mask;
        }
        NodeIpamController::new(config.cluster_cidr, config.node_cidr_mask_size)
            .map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// etcd's `--initial-cluster-state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterState {
    /// Bootstrap a new cluster.
    New,
    /// Join a running cluster (the member was added with `etcdctl member add`).
    Existing,
}

/// A member's id, derived from its name: the 64-bit FNV-1a hash of the name's bytes (0, which
/// etcd never uses as an id, becomes 1). Every process derives the same ids from the same
/// `--initial-cluster`, so no id has to be configured.
pub fn member_id(name: &str) -> u64 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash.max(1)
}

/// One member of `--initial-cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// Its name.
    pub name: String,
    /// Its id ([`member_id`]).
    pub id: u64,
    /// Its Raft peer address.
    pub peer: String,
    /// Its wire API address (peer port + 1).
    pub client: String,
    /// Its HTTP API address (peer port + 2).
    pub http: String,
}

/// The address `offset` ports above `peer` (`HOST:PORT`).
pub fn offset_port(peer: &str, offset: u16) -> Result<String, String> {
    let (host, port) = peer
        .rsplit_once(':')
        .ok_or_else(|| format!("{peer:?} is not HOST:PORT"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{peer:?} is not HOST:PORT"))?;
    let port = port
        .checked_add(offset)
        .filter(|_| port != 0)
        .ok_or_else(|| {
            format!(
                "{peer:?}: the peer port must be between 1 and {}",
                u16::MAX - 2
            )
        })?;
    Ok(format!("{host}:{port}"))
}

/// Parses `--initial-cluster` (`a=HOST:PORT,b=HOST:PORT`): members in the order given; names
/// and peer addresses must be unique.
pub fn parse_initial_cluster(text: &str) -> Result<Vec<PeerSpec>, String> {
    let mut members: Vec<PeerSpec> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, peer) = entry
            .split_once('=')
            .ok_or_else(|| format!("--initial-cluster: {entry:?} is not NAME=HOST:PORT"))?;
        let (name, peer) = (name.trim(), peer.trim().trim_start_matches("http://"));
        if name.is_empty() {
            return Err(format!("--initial-cluster: {entry:?} has no name"));
        }
        let spec = PeerSpec {
            name: name.to_owned(),
            id: member_id(name),
            peer: peer.to_owned(),
            client: offset_port(peer, 1)?,
            http: offset_port(peer, 2)?,
        };
        if members
            .iter()
            .any(|m| m.name == spec.name || m.id == spec.id)
        {
            return Err(format!("--initial-cluster: member {name:?} appears twice"));
        }
        if members.iter().any(|m| m.peer == spec.peer) {
            return Err(format!(
                "--initial-cluster: peer address {peer} appears twice"
            ));
        }
        members.push(spec);
    }
    if members.is_empty() {
        return Err("--initial-cluster names no member".into());
    }
    Ok(members)
}

/// Where the wire API listens by default (one server).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7443";

/// Where the HTTP API listens by default (one server).
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:6443";

/// In-process worker nodes by default (one server).
pub const DEFAULT_NODES: u8 = 3;

/// Name of the token-signing key file inside the data dir.
pub const KEY_FILE: &str = "signing.key";

/// A secret of `words` random 64-bit words in hex, read from `data_dir/file` or created there on
/// first start (owner-readable only). The generator is seeded from the clock and the process id:
/// fine for a loopback development cluster, not a substitute for an OS CSPRNG. Members of a
/// local replicated control plane share the file: the first to start creates it (exclusively)
/// and the others wait for it and read it.
fn secret(data_dir: &Path, file: &str, words: usize, clock: &dyn Clock) -> Result<String, String> {
    let path = data_dir.join(file);
    let valid =
        |text: &str| text.len() == words * 16 && text.bytes().all(|b| b.is_ascii_hexdigit());
    if let Ok(text) = std::fs::read_to_string(&path) {
        let text = text.trim().to_owned();
        if valid(&text) {
            return Ok(text);
        }
        // Not a secret (an interrupted first start): made again below.
        let _ = std::fs::remove_file(&path);
    }
    let seed = unix_micros(clock.wall()).unsigned_abs()
        ^ u64::from(std::process::id()).rotate_left(32)
        ^ file
            .bytes()
            .fold(0_u64, |h, b| h.rotate_left(8) ^ u64::from(b));
    let mut rng = SplitMix64::new(seed);
    let mut text = String::with_capacity(words * 16);
    for _ in 0..words {
        let _ = write!(text, "{:016x}", rng.next_u64());
    }
    // Written to a file of our own, then linked into place only if no other process did
    // first (a link fails on an existing name, and the linked file is complete): every member
    // started with this data dir ends up reading one secret.
    let own = data_dir.join(format!(".{file}.{}", std::process::id()));
    write_private(&own, &text).map_err(|e| format!("{}: {e}", own.display()))?;
    let linked = std::fs::hard_link(&own, &path);
    let _ = std::fs::remove_file(&own);
    match linked {
        Ok(()) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .trim()
                .to_owned();
            if valid(&text) {
                Ok(text)
            } else {
                Err(format!(
                    "{}: not a secret of {words} words; remove it",
                    path.display()
                ))
            }
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The authenticator of `data_dir`: its signing key and admin token, created on first start and
/// reused after (so issued tokens stay valid across restarts).
fn authenticator(data_dir: &Path, clock: &dyn Clock) -> Result<Authenticator, String> {
    let key_hex = secret(data_dir, KEY_FILE, 4, clock)?;
    let mut key = [0_u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&key_hex[i * 2..i * 2 + 2], 16).map_err(|e| e.to_string())?;
    }
    let token = secret(data_dir, TOKEN_FILE, 2, clock)?;
    Ok(Authenticator::with_key(key, token))
}

/// This process's place in a replicated control plane.
struct MemberPlan {
    me: PeerSpec,
    members: Vec<PeerSpec>,
    state: ClusterState,
}

fn member_plan(args: &UpArgs) -> Result<Option<MemberPlan>, String> {
    let (Some(name), Some(initial)) = (&args.name, &args.initial_cluster) else {
        return Ok(None);
    };
    let members = parse_initial_cluster(initial)?;
    let me = members
        .iter()
        .find(|m| &m.name == name)
        .cloned()
        .ok_or_else(|| format!("--name {name:?} is not a member of --initial-cluster"))?;
    Ok(Some(MemberPlan {
        me,
        members,
        state: args.initial_cluster_state,
    }))
}

#[allow(
    clippy::too_many_lines,
    reason = "the parts of `skiff up`, started in order"
)]
async fn up(data_dir: PathBuf, args: UpArgs) -> Result<(), String> {
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let plan = member_plan(&args)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let mut authn = authenticator(&data_dir, &*clock)?;
    if let Some(file) = &args.token_auth_file {
        let shown = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|e| format!("{shown}: {e}"))?;
        let users = authn
            .load_token_file(&shown, &text)
            .map_err(|e| e.to_string())?;
        println!("{users} static token(s) from {shown}");
    }
    let token = authn.admin_token().to_owned();
    let seed = unix_micros(clock.wall()).unsigned_abs();
    let nodes = args
        .nodes
        .unwrap_or(if plan.is_some() { 0 } else { DEFAULT_NODES });
    // The store, the API server (bootstrapped: system namespaces, their default service
    // accounts and the `kubernetes` Service; idempotent across restarts) and the controller
    // manager.
    let builder = Cluster::builder()
        .clock(clock.clone())
        .seed(seed)
        .nodes(nodes)
        .control_plane(args.control_plane()?);
    let (cluster, replica, member_dir) = match &plan {
        None => {
            let cluster = builder
                .data_dir(&data_dir)
                .build()
                .await
                .map_err(|e| e.to_string())?;
            (cluster, None, data_dir.clone())
        }
        Some(plan) => {
            let member_dir = data_dir.join(&plan.me.name);
            std::fs::create_dir_all(&member_dir)
                .map_err(|e| format!("{}: {e}", member_dir.display()))?;
            let peers = TcpListener::bind(&plan.me.peer)
                .await
                .map_err(|e| format!("listen on {} (peers): {e}", plan.me.peer))?;
            let mut member = MemberConfig::new(
                plan.me.id,
                plan.members
                    .iter()
                    .map(|m| (m.id, m.peer.clone()))
                    .collect(),
            );
            // A joining member starts empty and learns its membership from the leader.
            member.join = plan.state == ClusterState::Existing;
            let (store, replica) = Store::open_member(
                Backing::Dir(member_dir.clone()),
                clock.clone(),
                &member,
                peers,
            )
            .await
            .map_err(|e| format!("opening the store {}: {e}", member_dir.display()))?;
            let cluster = builder
                .replicated(store, format!("{}_{:x}", plan.me.name, plan.me.id))
                .build()
                .await
                .map_err(|e| e.to_string())?;
            (cluster, Some(replica), member_dir)
        }
    };
    let store = cluster.store().clone();
    let api = cluster.api_server().clone();
    let listen = match (&args.listen, &plan) {
        (Some(listen), _) => listen.clone(),
        (None, Some(plan)) => plan.me.client.clone(),
        (None, None) => DEFAULT_LISTEN.to_owned(),
    };
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("listen on {listen}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let endpoints: Vec<String> = plan
        .as_ref()
        .map(|p| p.members.iter().map(|m| m.client.clone()).collect())
        .unwrap_or_default();
    let config = ClientConfig {
        server: endpoints.first().cloned().unwrap_or_else(|| addr.clone()),
        endpoints,
        token: token.clone(),
    }
    .save(&data_dir)?;
    let status = store.status().map_err(|e| e.to_string())?;
    match &plan {
        None => println!(
            "skiff is up on {addr} with {nodes} node(s) (revision {}, {} keys); state in {}, client config {}",
            status.revision,
            status.keys,
            data_dir.display(),
            config.display()
        ),
        Some(plan) => println!(
            "skiff member {} (id {:x}) is up on {addr}, peers on {}, with {nodes} node(s) (revision {}, {} keys); state in {}, client config {}",
            plan.me.name,
            plan.me.id,
            plan.me.peer,
            status.revision,
            status.keys,
            member_dir.display(),
            config.display()
        ),
    }
    let handler = Arc::new(ApiHandler::new(api, authn));
    let http_listen = match (&args.http_listen, &plan) {
        (Some(listen), _) => listen.clone(),
        (None, Some(plan)) => plan.me.http.clone(),
        (None, None) => DEFAULT_HTTP_LISTEN.to_owned(),
    };
    // The Kubernetes HTTP API beside the wire protocol; a taken address only turns it off.
    if let Err(e) = http_api(
        &member_dir,
        &http_listen,
        args.http_insecure,
        &handler,
        &clock,
        &token,
    )
    .await
    {
        eprintln!(
            "warning: the Kubernetes HTTP API is off: {e} (choose an address with --http-listen)"
        );
    }
    let member: Option<Arc<dyn Membership>> = match (&replica, &plan) {
        (Some(replica), Some(plan)) => Some(Arc::new(Member {
            replica: replica.clone(),
            names: Mutex::new(
                plan.members
                    .iter()
                    .map(|m| (m.id, m.name.clone()))
                    .collect(),
            ),
        })),
        _ => None,
    };
    tokio::select! {
        biased;
        signal = tokio::signal::ctrl_c() => {
            signal.map_err(|e| e.to_string())?;
            println!("stopping");
        }
        () = serve_member(listener, handler, member) => {}
    }
    if let Some(replica) = replica {
        replica.shutdown().await;
    }
    cluster.shutdown().await;
    Ok(())
}

/// Serves the Kubernetes HTTP/JSON API beside the wire protocol (over TLS with a fresh
/// self-signed certificate unless `--http-insecure`) and writes `<data-dir>/kubeconfig` for
/// it, with the admin token and the certificate to trust.
async fn http_api(
    data_dir: &Path,
    listen: &str,
    insecure: bool,
    handler: &Arc<ApiHandler>,
    clock: &Arc<dyn Clock>,
    token: &str,
) -> Result<(), String> {
    let kubeconfig = data_dir.join("kubeconfig");
    let _ = std::fs::remove_file(&kubeconfig);
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("listen on {listen}: {e}"))?;
    let mut addr = listener.local_addr().map_err(|e| e.to_string())?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let (scheme, tls, ca) = if insecure {
        ("http", None, None)
    } else {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
        if !hosts.contains(&addr.ip().to_string()) {
            hosts.push(addr.ip().to_string());
        }
        let identity = skiff::http::TlsIdentity::self_signed(&hosts)?;
        ("https", Some(identity.acceptor()?), Some(identity.cert_pem))
    };
    let server = format!("{scheme}://{addr}");
    write_private(
        &kubeconfig,
        &skiff::http::kubeconfig(&server, token, ca.as_deref()),
    )
    .map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
    println!(
        "Kubernetes API on {server}: kubectl --kubeconfig {} get pods",
        kubeconfig.display()
    );
    let api = skiff::http::HttpApi::new(handler.clone(), clock.clone())
        .loopback_unsecured(insecure && addr.ip().is_loopback());
    tokio::spawn(skiff::http::serve_with(listener, Arc::new(api), tls));
    Ok(())
}

/// Runs `skiff up` until Ctrl-C; returns false on error.
pub fn run(data_dir: PathBuf, args: UpArgs) -> bool {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return false;
        }
    };
    match runtime.block_on(up(data_dir, args)) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("error: {e}");
            false
        }
    }
}

/// A member's replication as its wire server reports it ([`Membership`]).
struct Member {
    replica: Arc<Replica>,
    /// Names of the members this process knows (from `--initial-cluster` and the members it
    /// added).
    names: Mutex<BTreeMap<u64, String>>,
}

impl Member {
    fn info(&self, id: u64, peer: String, learner: bool) -> MemberInfo {
        MemberInfo {
            id,
            name: lock(&self.names).get(&id).cloned().unwrap_or_default(),
            client: offset_port(&peer, 1).unwrap_or_default(),
            peer,
            learner,
        }
    }
}

/// A store error of a membership change as the client sees it: `NotLeader` keeps the store's
/// wording (clients read it back and move to the leader, `wire::endpoints::not_leader`);
/// refusals are etcd's `etcdserver: …` bad requests.
fn membership_status(e: &StoreError) -> Status {
    match e {
        StoreError::Membership(why) => Status::bad_request(format!("etcdserver: {why}")),
        other => Status {
            reason: Reason::InternalError,
            message: other.to_string(),
            name: None,
            kind: None,
            causes: Vec::new(),
        },
    }
}

impl Member {
    fn rows(&self) -> Vec<MemberInfo> {
        self.replica
            .members()
            .into_iter()
            .map(|m| self.info(m.id, m.addr, !m.voter))
            .collect()
    }
}

impl Membership for Member {
    fn id(&self) -> u64 {
        self.replica.id()
    }

    fn status(&self) -> RaftStatus {
        let s = self.replica.status();
        RaftStatus {
            member: s.id,
            leader: s.leader,
            term: s.term,
            committed: s.committed_index.unwrap_or(0),
            applied: s.applied_index.unwrap_or(0),
            learner: !s.voters.contains(&s.id),
        }
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<MemberInfo>, Status>> {
        Box::pin(async move { Ok(self.rows()) })
    }

    /// Adds a learner and answers once the membership names it, as etcd's `member add`
    /// answers before the member starts: the learner catches up (by log or snapshot) once it
    /// is started, in the background. On a follower the change is forwarded to the leader
    /// (`Replica::add_learner`), as etcd forwards member changes; this member answers once
    /// its own copy of the membership names the learner.
    fn add(&self, name: String, peer: String) -> BoxFuture<'_, Result<Vec<MemberInfo>, Status>> {
        Box::pin(async move {
            let id = member_id(&name);
            if self.rows().iter().any(|m| m.id == id) {
                return Err(Status::bad_request(format!(
                    "etcdserver: member {id:x} ({name}) already exists"
                )));
            }
            lock(&self.names).insert(id, name);
            let replica = self.replica.clone();
            let adding = tokio::spawn(async move { replica.add_learner(id, peer).await });
            for _ in 0..100 {
                if adding.is_finished() {
                    break;
                }
                if self.rows().iter().any(|m| m.id == id) {
                    return Ok(self.rows());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if adding.is_finished() {
                return match adding.await {
                    Ok(Ok(())) => Ok(self.rows()),
                    Ok(Err(e)) => Err(membership_status(&e)),
                    Err(e) => Err(Status::bad_request(e.to_string())),
                };
            }
            Err(membership_status(&StoreError::Unavailable(format!(
                "member {id:x} was not added within 5 s"
            ))))
        })
    }

    fn remove(&self, id: u64) -> BoxFuture<'_, Result<Vec<MemberInfo>, Status>> {
        Box::pin(async move {
            self.replica
                .remove(id)
                .await
                .map_err(|e| membership_status(&e))?;
            Ok(self.rows())
        })
    }

    fn promote(&self, id: u64) -> BoxFuture<'_, Result<Vec<MemberInfo>, Status>> {
        Box::pin(async move {
            self.replica
                .promote(id)
                .await
                .map_err(|e| membership_status(&e))?;
            Ok(self.rows())
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `skiff up`'s own options, parsed as the binary parses them.
    #[derive(clap::Parser)]
    struct Up {
        #[command(flatten)]
        up: UpArgs,
    }

    fn up(argv: &[&str]) -> Result<UpArgs, String> {
        use clap::Parser as _;
        Up::try_parse_from(std::iter::once("up").chain(argv.iter().copied()))
            .map(|u| u.up)
            .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_owned())
    }

    #[test]
    fn cluster_cidr_and_node_mask_reach_the_controllers() {
        let config = up(&[
            "--cluster-cidr",
            "10.128.0.0/9",
            "--node-cidr-mask-size",
            "26",
        ])
        .unwrap()
        .control_plane()
        .unwrap();
        assert_eq!(config.cluster_cidr, "10.128.0.0/9".parse().unwrap());
        assert_eq!(config.node_cidr_mask_size, 26);
        let defaults = up(&[]).unwrap().control_plane().unwrap();
        assert_eq!(
            defaults.cluster_cidr,
            ControlPlaneConfig::default().cluster_cidr
        );
        assert_eq!(defaults.node_cidr_mask_size, 24);
    }

    #[test]
    fn a_cluster_cidr_with_host_bits_or_a_mask_that_does_not_fit_is_refused() {
        assert_eq!(
            up(&["--cluster-cidr", "10.244.1.0/16"]).err().as_deref(),
            Some(
                "error: invalid value '10.244.1.0/16' for '--cluster-cidr <CIDR>': \
                 invalid CIDR address: 10.244.1.0/16"
            )
        );
        assert_eq!(
            up(&["--node-cidr-mask-size", "33"]).err().as_deref(),
            Some(
                "error: invalid value '33' for '--node-cidr-mask-size <BITS>': 33 is not in 1..=32"
            )
        );
        let refused = |argv: &[&str]| up(argv).unwrap().control_plane().unwrap_err();
        assert_eq!(
            refused(&[
                "--cluster-cidr",
                "10.0.0.0/16",
                "--node-cidr-mask-size",
                "8"
            ]),
            "--node-cidr-mask-size 8 does not fit the cluster CIDR 10.0.0.0/16"
        );
        assert_eq!(
            refused(&["--node-cidr-mask-size", "31"]),
            "--node-cidr-mask-size 31 does not fit the cluster CIDR 10.244.0.0/16"
        );
    }

    #[test]
    fn member_ids_are_fnv1a_of_the_name() {
        // FNV-1a 64 test vectors: "" and "a".
        assert_eq!(member_id(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(member_id("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(member_id("b"), member_id("c"));
    }

    #[test]
    fn initial_cluster_gives_peer_client_and_http_addresses() {
        let members = parse_initial_cluster("a=127.0.0.1:2380, b=http://127.0.0.1:2390").unwrap();
        assert_eq!(
            members,
            vec![
                PeerSpec {
                    name: "a".into(),
                    id: member_id("a"),
                    peer: "127.0.0.1:2380".into(),
                    client: "127.0.0.1:2381".into(),
                    http: "127.0.0.1:2382".into(),
                },
                PeerSpec {
                    name: "b".into(),
                    id: member_id("b"),
                    peer: "127.0.0.1:2390".into(),
                    client: "127.0.0.1:2391".into(),
                    http: "127.0.0.1:2392".into(),
                },
            ]
        );
    }

    #[test]
    fn initial_cluster_refusals_name_the_problem() {
        assert_eq!(
            parse_initial_cluster("a=127.0.0.1:1,a=127.0.0.1:2").unwrap_err(),
            "--initial-cluster: member \"a\" appears twice"
        );
        assert_eq!(
            parse_initial_cluster("a=127.0.0.1:1,b=127.0.0.1:1").unwrap_err(),
            "--initial-cluster: peer address 127.0.0.1:1 appears twice"
        );
        assert_eq!(
            parse_initial_cluster("a").unwrap_err(),
            "--initial-cluster: \"a\" is not NAME=HOST:PORT"
        );
        assert_eq!(
            parse_initial_cluster("a=host").unwrap_err(),
            "\"host\" is not HOST:PORT"
        );
        assert_eq!(
            parse_initial_cluster("a=h:65535").unwrap_err(),
            "\"h:65535\": the peer port must be between 1 and 65533"
        );
        assert_eq!(
            parse_initial_cluster(" ").unwrap_err(),
            "--initial-cluster names no member"
        );
    }
}
