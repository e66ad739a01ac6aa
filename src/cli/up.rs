//! `skiff up`: the embedded default cluster — the store in a data dir, the API server on
//! loopback behind the wire protocol, the controller manager, and a client config for the CLI. Ctrl-C stops it cleanly;
//! starting it again resumes from the log.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff::Cluster;
use skiff_core::clock::{Clock, SystemClock, unix_micros};
use skiff_core::rng::SplitMix64;
use skiff_store::apiserver::ApiHandler;
use skiff_store::apiserver::authn::Authenticator;
use skiff_store::wire::serve;
use tokio::net::TcpListener;

use super::connect::{ClientConfig, write_private};

/// Name of the admin token file inside the data dir.
pub const TOKEN_FILE: &str = "admin.token";

/// Options of `skiff up` (the data dir is the global `--data-dir`).
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Address of the wire protocol (port 0 picks a free one; the config file records it).
    #[arg(long, default_value = "127.0.0.1:7443")]
    pub listen: String,
    /// Address of the Kubernetes HTTP/JSON API for kubectl and client libraries (port 0 picks
    /// a free one; `<data-dir>/kubeconfig` records it).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub http_listen: String,
    /// Serve the HTTP API without TLS. kubectl then sends no token, so on a loopback address
    /// requests without one are served as an admin (upstream's old insecure port).
    #[arg(long)]
    pub http_insecure: bool,
    /// Simulated worker nodes run in-process (`node-1` … `node-N`): kubelets over a simulated
    /// container runtime on one pod network. 0 runs the control plane alone.
    #[arg(long, default_value_t = 3)]
    pub nodes: u8,
    /// Static bearer tokens, upstream's `--token-auth-file` CSV (`token,user,uid,"group1,group2"`).
    #[arg(long, value_name = "FILE")]
    pub token_auth_file: Option<PathBuf>,
}

/// Name of the token-signing key file inside the data dir.
pub const KEY_FILE: &str = "signing.key";

/// A secret of `words` random 64-bit words in hex, read from `data_dir/file` or created there on
/// first start (owner-readable only). The generator is seeded from the clock and the process id:
/// fine for a loopback development cluster, not a substitute for an OS CSPRNG.
fn secret(data_dir: &Path, file: &str, words: usize, clock: &dyn Clock) -> Result<String, String> {
    let path = data_dir.join(file);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let text = text.trim().to_owned();
        if text.len() == words * 16 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(text);
        }
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
    write_private(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text)
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

async fn up(data_dir: PathBuf, args: UpArgs) -> Result<(), String> {
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
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
    // The store, the API server (bootstrapped: system namespaces, their default service
    // accounts and the `kubernetes` Service; idempotent across restarts) and the controller
    // manager.
    let cluster = Cluster::builder()
        .data_dir(&data_dir)
        .clock(clock.clone())
        .seed(seed)
        .nodes(args.nodes)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let store = cluster.store().clone();
    let api = cluster.api_server().clone();
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("listen on {}: {e}", args.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let config = ClientConfig {
        server: addr.clone(),
        token: token.clone(),
    }
    .save(&data_dir)?;
    let status = store.status().map_err(|e| e.to_string())?;
    println!(
        "skiff is up on {addr} with {} node(s) (revision {}, {} keys); state in {}, client config {}",
        args.nodes,
        status.revision,
        status.keys,
        data_dir.display(),
        config.display()
    );
    let handler = Arc::new(ApiHandler::new(api, authn));
    // The Kubernetes HTTP API beside the wire protocol; a taken address only turns it off.
    if let Err(e) = http_api(&data_dir, &args, &handler, &clock, &token).await {
        eprintln!(
            "warning: the Kubernetes HTTP API is off: {e} (choose an address with --http-listen)"
        );
    }
    tokio::select! {
        biased;
        signal = tokio::signal::ctrl_c() => {
            signal.map_err(|e| e.to_string())?;
            println!("stopping");
        }
        () = serve(listener, handler) => {}
    }
    cluster.shutdown().await;
    Ok(())
}

/// Serves the Kubernetes HTTP/JSON API beside the wire protocol (over TLS with a fresh
/// self-signed certificate unless `--http-insecure`) and writes `<data-dir>/kubeconfig` for
/// it, with the admin token and the certificate to trust.
async fn http_api(
    data_dir: &Path,
    args: &UpArgs,
    handler: &Arc<ApiHandler>,
    clock: &Arc<dyn Clock>,
    token: &str,
) -> Result<(), String> {
    let kubeconfig = data_dir.join("kubeconfig");
    let _ = std::fs::remove_file(&kubeconfig);
    let listen = &args.http_listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("listen on {listen}: {e}"))?;
    let mut addr = listener.local_addr().map_err(|e| e.to_string())?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let (scheme, tls, ca) = if args.http_insecure {
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
        .loopback_unsecured(args.http_insecure && addr.ip().is_loopback());
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
