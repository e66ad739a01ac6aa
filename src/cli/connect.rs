//! How CLI verbs find the server: a client config file written by `skiff up`
//! (`<data-dir>/config.json`: server address, every member's address in a replicated control
//! plane, and the bearer token), or `--server`/`--endpoints`/`--token`.
//!
//! Several endpoints (`--endpoints a,b,c`, or the `endpoints` of the config file) make the
//! client fail over between the members of a replicated control plane
//! ([`skiff_store::wire::endpoints`]): a member that is down is skipped and a write refused by
//! a follower goes to the leader.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use skiff_core::object::KindRegistry;
use skiff_store::wire::WireClient;

/// The client config `skiff up` writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfig {
    /// `host:port` of the wire protocol.
    pub server: String,
    /// Every member's `host:port` (a replicated control plane), in order; empty for one
    /// server. When present, clients use these and fail over between them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    /// The admin bearer token.
    pub token: String,
}

/// Name of the client config inside a data dir.
pub const CONFIG_FILE: &str = "config.json";

/// Where to connect, from flags or the config file.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// The server's `host:port` (default: from `<data-dir>/config.json`). Several,
    /// comma-separated, fail over as `--endpoints`.
    #[arg(long, global = true)]
    pub server: Option<String>,
    /// Every member of a replicated control plane, comma-separated `host:port` (etcdctl's
    /// `--endpoints`): the client fails over between them. Overrides `--server`.
    #[arg(long, global = true, value_name = "HOST:PORT,...")]
    pub endpoints: Option<String>,
    /// Bearer token (default: from `<data-dir>/config.json`).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// The data dir: where `skiff up` keeps state and writes `config.json` for the other verbs.
    #[arg(long, global = true, default_value = ".skiff")]
    pub data_dir: PathBuf,
}

impl ClientConfig {
    /// Reads the config file of `data_dir`.
    pub fn load(data_dir: &Path) -> Result<Self, String> {
        let path = data_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{}: {e} (is `skiff up` running with --data-dir {}?)",
                path.display(),
                data_dir.display()
            )
        })?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes the config file of `data_dir` (owner-readable only: it holds the admin token).
    /// Written beside it and renamed into place, so a reader (or the other members of a local
    /// replicated control plane, which write the same file) never sees it half-written.
    pub fn save(&self, data_dir: &Path) -> Result<PathBuf, String> {
        let path = data_dir.join(CONFIG_FILE);
        let own = data_dir.join(format!(".{CONFIG_FILE}.{}", std::process::id()));
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        write_private(&own, &text).map_err(|e| format!("{}: {e}", own.display()))?;
        std::fs::rename(&own, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, text)
    }
}

impl ClientConfig {
    /// The address list a [`WireClient`] connects to: every endpoint when the config lists
    /// them, else the server.
    pub fn addresses(&self) -> String {
        if self.endpoints.is_empty() {
            self.server.clone()
        } else {
            self.endpoints.join(",")
        }
    }
}

impl ConnectArgs {
    /// The server (or servers) named on the command line: `--endpoints`, else `--server`.
    pub fn server_flag(&self) -> Option<&str> {
        self.endpoints.as_deref().or(self.server.as_deref())
    }

    /// The server address(es) and token these arguments name: flags first, then the
    /// config file.
    pub fn config(&self) -> Result<ClientConfig, String> {
        if let (Some(server), Some(token)) = (self.server_flag(), &self.token) {
            return Ok(ClientConfig {
                server: server.to_owned(),
                endpoints: Vec::new(),
                token: token.clone(),
            });
        }
        let mut config = ClientConfig::load(&self.data_dir)?;
        if let Some(server) = self.server_flag() {
            server.clone_into(&mut config.server);
            config.endpoints.clear();
        }
        if let Some(token) = &self.token {
            config.token.clone_from(token);
        }
        Ok(config)
    }

    /// Every endpoint these arguments name, in order (one when there is one server).
    pub fn endpoint_list(&self) -> Result<Vec<String>, String> {
        let config = self.config()?;
        Ok(
            skiff_store::wire::endpoints::Endpoints::parse(&config.addresses())?
                .all()
                .to_vec(),
        )
    }

    /// Connects to the one endpoint `addr` with these arguments' token (no failover: for
    /// commands about each member, such as `endpoint status`).
    pub async fn connect_one(&self, addr: &str) -> Result<WireClient, String> {
        let config = self.config()?;
        WireClient::connect(addr, &config.token)
            .await
            .map_err(|e| e.to_string())
    }

    /// Connects to the server these arguments name.
    pub async fn connect(&self) -> Result<WireClient, String> {
        let config = self.config()?;
        let refused = |e| match e {
            // kubectl's wording for a refused credential.
            skiff_core::client::ClientError::Status(s)
                if s.reason == skiff_core::status::Reason::Unauthorized =>
            {
                "You must be logged in to the server (Unauthorized)".to_owned()
            }
            other => other.to_string(),
        };
        let addresses = config.addresses();
        let client = WireClient::connect(&addresses, &config.token)
            .await
            .map_err(refused)?;
        // Discovery: the server's custom kinds, so `get gameservers` resolves and their
        // objects decode. A server without custom kinds needs no second connection.
        let described = match client.custom_kinds().await {
            Ok(described) if described.is_empty() => return Ok(client),
            Ok(described) => described,
            Err(e) => return Err(format!("discovering the server's kinds: {e}")),
        };
        let mut kinds = KindRegistry::builtin();
        for description in described {
            kinds
                .register(description.to_dynamic().define())
                .map_err(|e| format!("the server's kind {}: {e}", description.kind))?;
        }
        WireClient::connect_with_kinds(&addresses, &config.token, kinds)
            .await
            .map_err(refused)
    }
}
