//! How CLI verbs find the server: a client config file written by `skiff up`
//! (`<data-dir>/config.json`: server address and bearer token), or `--server`/`--token`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use skiff_core::object::KindRegistry;
use skiff_store::wire::WireClient;

/// The client config `skiff up` writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfig {
    /// `host:port` of the wire protocol.
    pub server: String,
    /// The admin bearer token.
    pub token: String,
}

/// Name of the client config inside a data dir.
pub const CONFIG_FILE: &str = "config.json";

/// Where to connect, from flags or the config file.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// The server's `host:port` (default: from `<data-dir>/config.json`).
    #[arg(long, global = true)]
    pub server: Option<String>,
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
    pub fn save(&self, data_dir: &Path) -> Result<PathBuf, String> {
        let path = data_dir.join(CONFIG_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        write_private(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
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

impl ConnectArgs {
    /// Connects to the server these arguments name.
    pub async fn connect(&self) -> Result<WireClient, String> {
        let config = if let (Some(server), Some(token)) = (&self.server, &self.token) {
            ClientConfig {
                server: server.clone(),
                token: token.clone(),
            }
        } else {
            let mut config = ClientConfig::load(&self.data_dir)?;
            if let Some(server) = &self.server {
                config.server.clone_from(server);
            }
            if let Some(token) = &self.token {
                config.token.clone_from(token);
            }
            config
        };
        let refused = |e| match e {
            // kubectl's wording for a refused credential.
            skiff_core::client::ClientError::Status(s)
                if s.reason == skiff_core::status::Reason::Unauthorized =>
            {
                "You must be logged in to the server (Unauthorized)".to_owned()
            }
            other => other.to_string(),
        };
        let client = WireClient::connect(&config.server, &config.token)
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
        WireClient::connect_with_kinds(&config.server, &config.token, kinds)
            .await
            .map_err(refused)
    }
}
