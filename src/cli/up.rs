//! `skiff up`: the embedded default cluster — the store in a data dir, the API server on
//! loopback behind the wire protocol, and a client config for the CLI. Ctrl-C stops it cleanly;
//! starting it again resumes from the log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skiff_core::clock::{Clock, SystemClock, unix_micros};
use skiff_core::rng::SplitMix64;
use skiff_store::apiserver::{ApiHandler, ApiServer};
use skiff_store::wire::serve;
use skiff_store::{Backing, Store};
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
}

/// The admin token of `data_dir`, created on first start and reused after.
fn admin_token(data_dir: &Path, clock: &dyn Clock) -> Result<String, String> {
    let path = data_dir.join(TOKEN_FILE);
    if let Ok(token) = std::fs::read_to_string(&path) {
        let token = token.trim().to_owned();
        if !token.is_empty() {
            return Ok(token);
        }
    }
    let seed =
        unix_micros(clock.wall()).unsigned_abs() ^ u64::from(std::process::id()).rotate_left(32);
    let mut rng = SplitMix64::new(seed);
    let token = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
    write_private(&path, &token).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(token)
}

async fn up(data_dir: PathBuf, args: UpArgs) -> Result<(), String> {
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let store = Store::open(Backing::Dir(data_dir.clone()), clock.clone())
        .map_err(|e| format!("opening {}: {e}", data_dir.display()))?;
    let token = admin_token(&data_dir, &*clock)?;
    let seed = unix_micros(clock.wall()).unsigned_abs();
    let api = Arc::new(ApiServer::new(store.clone(), clock, seed));
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
        "skiff is up on {addr} (revision {}, {} keys); state in {}, client config {}",
        status.revision,
        status.keys,
        data_dir.display(),
        config.display()
    );
    let tokens = BTreeMap::from([(token, "admin".to_owned())]);
    let handler = Arc::new(ApiHandler::new(api, tokens));
    tokio::select! {
        biased;
        signal = tokio::signal::ctrl_c() => {
            signal.map_err(|e| e.to_string())?;
            println!("stopping");
        }
        () = serve(listener, handler) => {}
    }
    store.shutdown().await;
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
