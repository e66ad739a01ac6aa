//! `skiff proxy-rules --node N`: the rules kube-proxy programs on a node (seed §8), in
//! `iptables-save` syntax, computed from the Services and Endpoints of a running `skiff up`.
//!
//! The same [`skiff_controllers::proxy::rules`] function feeds the in-process dataplane the
//! simulator and `exec` use, so this is exactly what traffic to a service does.

use std::io::Write;

use skiff_controllers::proxy::{self, Config};
use skiff_core::client::{Client, ListParams};
use skiff_core::object::{Endpoints, HasKindInfo, Node, Service, TypedObject};

use super::connect::ConnectArgs;

/// The tables `proxy-rules` can print (`-t`, as `iptables-save -t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableName {
    /// The filter table (rejects for services without endpoints).
    Filter,
    /// The nat table (service to pod translation).
    Nat,
}

/// Options of `proxy-rules`.
#[derive(Debug, Clone, clap::Args)]
pub struct ProxyRulesArgs {
    /// The node whose rules to print.
    #[arg(long, required = true)]
    pub node: String,
    /// The pods' CIDR (kube-proxy `--cluster-cidr`): traffic to a cluster IP from outside it
    /// is masqueraded. `none` leaves those rules out.
    #[arg(long, default_value = "10.244.0.0/16")]
    pub cluster_cidr: String,
    /// Mark all traffic to cluster IPs for masquerade (kube-proxy `--masquerade-all`).
    #[arg(long)]
    pub masquerade_all: bool,
    /// Print only this table (both by default).
    #[arg(short = 't', long, value_enum)]
    pub table: Option<TableName>,
}

impl ProxyRulesArgs {
    /// The proxier configuration the flags describe.
    pub fn config(&self) -> Result<Config, String> {
        let cluster_cidr = if self.cluster_cidr == "none" {
            None
        } else {
            Some(
                self.cluster_cidr
                    .parse()
                    .map_err(|e| format!("--cluster-cidr: {e}"))?,
            )
        };
        Ok(Config {
            cluster_cidr,
            masquerade_all: self.masquerade_all,
        })
    }
}

/// Every object of kind `T` in every namespace.
async fn list_all<T: TypedObject>(client: &dyn Client) -> Result<Vec<T>, String> {
    let list = client
        .list(&T::INFO, None, ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|o| T::from_object(o).ok())
        .collect())
}

/// The rules of `node` as `iptables-save` text, read through `client`.
pub async fn render(
    client: &dyn Client,
    node: &str,
    config: &Config,
    table: Option<TableName>,
) -> Result<String, String> {
    // The node must exist (kube-proxy runs on a registered node).
    client
        .get(&Node::INFO, "", node)
        .await
        .map_err(|e| e.to_string())?;
    let services = list_all::<Service>(client).await?;
    let endpoints = list_all::<Endpoints>(client).await?;
    let rules = proxy::rules_with(config, &services, &endpoints, node);
    Ok(match table {
        None => rules.to_iptables_save(),
        Some(TableName::Filter) => rules.filter_to_iptables_save(),
        Some(TableName::Nat) => rules.nat_to_iptables_save(),
    })
}

/// Runs `proxy-rules`; returns false (after printing the error) on failure.
pub fn run(connect: &ConnectArgs, args: &ProxyRulesArgs, out: &mut dyn Write) -> bool {
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return false;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return false;
        }
    };
    let result = runtime.block_on(async {
        let client = connect.connect().await?;
        render(&client, &args.node, &config, args.table).await
    });
    match result {
        Ok(text) => {
            let _ = out.write_all(text.as_bytes());
            true
        }
        Err(e) => {
            eprintln!("Error from server: {e}");
            false
        }
    }
}
