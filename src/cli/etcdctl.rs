//! `skiff etcdctl`: etcdctl's commands on skiff's store (seed §2–§3: `get / --prefix
//! --keys-only`, `put`, `snapshot save`, `endpoint health`), with etcdctl's flags and output
//! shapes (etcd 3.4's simple, `-w json` and `-w table` printers).
//!
//! Two ways to reach the store:
//!
//! - **On a data dir** (the default): the store is opened in this process, so the command needs
//!   the data directory to itself (a second process is refused by the database lock). `watch`
//!   then replays history (with `--rev`) and waits for writes made through this process, of
//!   which there are none; `--max-events` ends it. `defrag` works only this way, as `etcdutl
//!   defrag --data-dir` does.
//! - **Through the server** (`--server HOST:PORT`, with `skiff up` running): every command but
//!   `defrag` goes through the API server, which authorizes it as the non-resource path
//!   `/etcd` (verbs `get`, `put`, `delete`, `compact`, `watch`, `snapshot`; cluster-admin may,
//!   others are refused with upstream's `forbidden: User "jane" cannot put path "/etcd"`).
//!   `watch` streams until Ctrl-C; `snapshot save` streams the snapshot in chunks and checks
//!   its checksums before the file appears. Errors for revisions out of range are etcd's
//!   (`etcdserver: mvcc: required revision has been compacted`). `snapshot status` and
//!   `snapshot restore --data-dir D` read files and never need the server.
//!
//! Values under `/registry/` are typed objects: `get` prints them as JSON, and `put` accepts
//! only a manifest (JSON or YAML) whose kind, namespace and name are the ones the key names and
//! that passes validation (`skiff_store::etcd::registry_object`). Elsewhere values are raw
//! bytes, as in etcd. Every write is an event in the log with the caller as its actor.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::connect::ConnectArgs;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::{Subcommand, ValueEnum};
use serde::Serialize;
use skiff_core::client::ClientError;
use skiff_core::clock::{Clock, SystemClock};
use skiff_core::event::{Actor, Change, Revision};
use skiff_core::object::Object;
use skiff_store::codec::{RECORD_BYTES_MAX, StoredValue};
use skiff_store::etcd;
use skiff_store::key::object_key;
use skiff_store::snapshot::SnapshotStatus;
use skiff_store::wire::StreamItem;
use skiff_store::{Backing, DB_FILE, Entry, ListOptions, OpenOptions, ReadError, Status, Store};

/// The arguments of `skiff etcdctl` (the data dir is skiff's global `--data-dir`).
#[derive(Debug, clap::Args)]
pub struct EtcdctlArgs {
    /// The output format.
    #[arg(short = 'w', long = "write-out", global = true, value_enum, default_value_t = WriteOut::Simple)]
    pub write_out: WriteOut,
    /// Accepted so etcdctl command lines run unchanged; a local data directory needs no TLS.
    #[arg(long = "cacert", id = "tls_cacert", global = true, hide = true)]
    pub tls_cacert: Option<String>,
    /// Accepted so etcdctl command lines run unchanged; a local data directory needs no TLS.
    #[arg(long = "cert", id = "tls_cert", global = true, hide = true)]
    pub tls_cert: Option<String>,
    /// Accepted so etcdctl command lines run unchanged; a local data directory needs no TLS.
    #[arg(long = "key", id = "tls_key", global = true, hide = true)]
    pub tls_key: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: EtcdctlCommand,
}

/// etcdctl's `--write-out` formats that skiff prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WriteOut {
    /// etcdctl's default: plain lines.
    Simple,
    /// One JSON document, shaped like etcdctl's.
    Json,
    /// A table (status commands).
    Table,
}

/// The commands of `skiff etcdctl`.
#[derive(Debug, Subcommand)]
pub enum EtcdctlCommand {
    /// Gets a key, or the keys with a prefix.
    Get {
        /// The key (or prefix, with --prefix).
        key: String,
        /// Get the keys that start with KEY.
        #[arg(long)]
        prefix: bool,
        /// Print only the keys.
        #[arg(long)]
        keys_only: bool,
        /// Print only the values (simple format).
        #[arg(long)]
        print_value_only: bool,
        /// At most this many keys (0: no limit).
        #[arg(long, default_value_t = 0)]
        limit: u64,
        /// Read at this revision (0: the current one).
        #[arg(long, default_value_t = 0)]
        rev: u64,
    },
    /// Puts a value under a key (read from standard input when VALUE is absent).
    Put {
        /// The key.
        key: String,
        /// The value: raw bytes, or under /registry/ a manifest (JSON or YAML) of one object.
        value: Option<String>,
    },
    /// Deletes a key, or the keys with a prefix; prints how many were deleted.
    Del {
        /// The key (or prefix, with --prefix).
        key: String,
        /// Delete the keys that start with KEY.
        #[arg(long)]
        prefix: bool,
    },
    /// Watches the events on a key, or on the keys with a prefix.
    Watch {
        /// The key (or prefix, with --prefix).
        key: String,
        /// Watch the keys that start with KEY.
        #[arg(long)]
        prefix: bool,
        /// Start at this revision, replaying history from it (0: from now).
        #[arg(long, default_value_t = 0)]
        rev: u64,
        /// Stop after this many events.
        #[arg(long)]
        max_events: Option<u64>,
    },
    /// Discards the history before a revision.
    Compaction {
        /// The revision: reads below it fail afterwards.
        revision: u64,
        /// Accepted for etcdctl compatibility: skiff always compacts physically.
        #[arg(long)]
        physical: bool,
    },
    /// Returns the space freed by deletes and compactions to the filesystem (store stopped).
    Defrag,
    /// Saves, restores and inspects snapshots.
    Snapshot {
        /// The snapshot command.
        #[command(subcommand)]
        command: SnapshotCommand,
    },
    /// Checks the store: health and status.
    Endpoint {
        /// The endpoint command.
        #[command(subcommand)]
        command: EndpointCommand,
    },
    /// The members of a replicated control plane (through a running member: `--endpoints`).
    Member {
        /// The member command.
        #[command(subcommand)]
        command: MemberCommand,
    },
}

/// `skiff etcdctl member …` (etcdctl 3.4's).
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Lists the members: ID, STATUS, NAME, PEER ADDRS, CLIENT ADDRS, IS LEARNER.
    List,
    /// Adds a member as a learner; start it with the printed `skiff up` line, then promote it.
    Add {
        /// The new member's name (its id derives from it).
        name: String,
        /// Its Raft peer address, `HOST:PORT` (its API will be on port + 1).
        #[arg(long = "peer-urls")]
        peer_urls: String,
        /// Add as a learner (always: skiff adds members as learners first).
        #[arg(long)]
        learner: bool,
    },
    /// Removes a member by its hex id.
    Remove {
        /// The member's id, in hex.
        id: String,
    },
    /// Makes a learner that has caught up a voter.
    Promote {
        /// The learner's id, in hex.
        id: String,
    },
}

/// `skiff etcdctl snapshot …`.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Writes a consistent snapshot of the store to FILE.
    Save {
        /// The snapshot file.
        file: PathBuf,
    },
    /// Creates the data directory (--data-dir, absent or empty) from a snapshot.
    Restore {
        /// The snapshot file.
        file: PathBuf,
    },
    /// Checks a snapshot and prints its hash, revision, key count and size.
    Status {
        /// The snapshot file.
        file: PathBuf,
    },
}

/// `skiff etcdctl endpoint …`.
#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Opens the store and proves its projection is what its log says.
    Health,
    /// Prints the store's revision, size, key count and hash.
    Status,
}

/// The actor every write of this command is recorded under.
fn actor() -> Actor {
    Actor::new("etcdctl")
}

/// Runs `skiff etcdctl`; results go to `out`, errors to `err` (prefixed `Error: `, as etcdctl
/// does). Returns true on success. With `--server`, the running server serves the command
/// instead of this process opening the data dir.
pub fn run(
    connect: &ConnectArgs,
    args: &EtcdctlArgs,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> bool {
    let result = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) if connect.server_flag().is_some() => {
            runtime.block_on(remote(connect, args, stdin, out, err))
        }
        Ok(runtime) => runtime.block_on(dispatch(&connect.data_dir, args, stdin, out)),
        Err(e) => Err(format!("cannot start the runtime: {e}")),
    };
    let _ = out.flush();
    match result {
        Ok(()) => true,
        Err(message) => {
            let _ = writeln!(err, "Error: {message}");
            false
        }
    }
}

async fn dispatch(
    dir: &Path,
    args: &EtcdctlArgs,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
) -> Result<(), String> {
    let w = args.write_out;
    match &args.command {
        EtcdctlCommand::Get {
            key,
            prefix,
            keys_only,
            print_value_only,
            limit,
            rev,
        } => {
            let options = GetOptions {
                prefix: *prefix,
                keys_only: *keys_only,
                print_value_only: *print_value_only,
                limit: *limit,
                rev: *rev,
            };
            with_store(dir, false, |store| async move {
                get(&store, key, &options, w, out)
            })
            .await
        }
        EtcdctlCommand::Put { key, value } => {
            let value = match value {
                Some(v) => v.clone().into_bytes(),
                None => read_value(stdin)?,
            };
            with_store(dir, true, |store| async move {
                put(&store, key, value, w, out).await
            })
            .await
        }
        EtcdctlCommand::Del { key, prefix } => {
            with_store(dir, true, |store| async move {
                del(&store, key, *prefix, w, out).await
            })
            .await
        }
        EtcdctlCommand::Watch {
            key,
            prefix,
            rev,
            max_events,
        } => {
            with_store(dir, false, |store| async move {
                watch(&store, key, *prefix, *rev, *max_events, w, out).await
            })
            .await
        }
        EtcdctlCommand::Compaction { revision, .. } => {
            with_store(dir, false, |store| async move {
                etcd::compact(&store, &actor(), *revision)
                    .await
                    .map_err(|e| e.to_string())?;
                // etcdctl prints this line whatever the output format.
                line(out, &format!("compacted revision {revision}"))
            })
            .await
        }
        EtcdctlCommand::Defrag => match Store::defrag(dir) {
            Ok(_) => line(
                out,
                &format!("Finished defragmenting skiff store[{}]", dir.display()),
            ),
            Err(e) => Err(format!(
                "Failed to defragment skiff store[{}] ({}){}",
                dir.display(),
                chain(&e),
                in_use_hint(&chain(&e))
            )),
        },
        EtcdctlCommand::Snapshot { command } => snapshot(dir, command, w, out).await,
        EtcdctlCommand::Endpoint { command } => endpoint(dir, command, w, out).await,
        EtcdctlCommand::Member { .. } => Err(
            "member commands go through a running member: pass --endpoints HOST:PORT,...".into(),
        ),
    }
}

/// Every command but `defrag` through a running server (`--server`): the server reads and
/// writes its own store, so the data dir need not be free. The server authorizes each
/// request (see the module documentation).
async fn remote(
    connect: &ConnectArgs,
    args: &EtcdctlArgs,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), String> {
    let w = args.write_out;
    // Files only: no server needed.
    if let EtcdctlCommand::Snapshot {
        command: command @ (SnapshotCommand::Restore { .. } | SnapshotCommand::Status { .. }),
    } = &args.command
    {
        return snapshot(&connect.data_dir, command, w, out).await;
    }
    if let EtcdctlCommand::Defrag = &args.command {
        return Err(
            "defrag needs the store to itself: stop skiff up, then run skiff etcdctl defrag --data-dir DIR"
                .into(),
        );
    }
    let client = connect.connect().await?;
    let server = connect.server_flag().unwrap_or_default().to_owned();
    match &args.command {
        EtcdctlCommand::Get {
            key,
            prefix,
            keys_only,
            print_value_only,
            limit,
            rev,
        } => {
            let options = GetOptions {
                prefix: *prefix,
                keys_only: *keys_only,
                print_value_only: *print_value_only,
                limit: *limit,
                rev: *rev,
            };
            remote_get(&client, key, &options, w, out).await
        }
        EtcdctlCommand::Put { key, value } => {
            let value = match value {
                Some(v) => v.clone().into_bytes(),
                None => read_value(stdin)?,
            };
            let revision = client.etcd_put(key, value).await.map_err(refused)?;
            print_put(revision, w, out)
        }
        EtcdctlCommand::Del { key, prefix } => {
            let (revision, deleted) = client.etcd_delete(key, *prefix).await.map_err(refused)?;
            print_deleted(revision, deleted, w, out)
        }
        EtcdctlCommand::Compaction { revision, .. } => {
            client.etcd_compact(*revision).await.map_err(refused)?;
            line(out, &format!("compacted revision {revision}"))
        }
        EtcdctlCommand::Watch {
            key,
            prefix,
            rev,
            max_events,
        } => remote_watch(&client, key, *prefix, *rev, *max_events, w, out, err).await,
        EtcdctlCommand::Snapshot {
            command: SnapshotCommand::Save { file },
        } => remote_snapshot_save(&client, file, out).await,
        EtcdctlCommand::Endpoint {
            command: EndpointCommand::Status,
        } => remote_status(connect, w, out, err).await,
        EtcdctlCommand::Endpoint { command } => {
            remote_endpoint(&client, server, command, w, out).await
        }
        EtcdctlCommand::Member { command } => member(&client, command, w, out).await,
        EtcdctlCommand::Snapshot { .. } | EtcdctlCommand::Defrag => {
            unreachable!("handled before connecting")
        }
    }
}

async fn remote_get(
    client: &skiff_store::wire::WireClient,
    key: &str,
    options: &GetOptions,
    w: WriteOut,
    out: &mut dyn Write,
) -> Result<(), String> {
    if w == WriteOut::Table {
        return Err("table output is not supported by get; use simple or json".into());
    }
    let range = client
        .etcd_range(
            key,
            options.prefix,
            options.limit,
            options.rev,
            options.keys_only,
        )
        .await
        .map_err(refused)?;
    let entries: Vec<Entry> = range
        .kvs
        .into_iter()
        .map(|(key, stored)| Entry { key, stored })
        .collect();
    print_range(
        &entries,
        range.more,
        range.count,
        Revision(range.head),
        options,
        w,
        out,
    )
}

async fn remote_endpoint(
    client: &skiff_store::wire::WireClient,
    server: String,
    command: &EndpointCommand,
    w: WriteOut,
    out: &mut dyn Write,
) -> Result<(), String> {
    match command {
        EndpointCommand::Status => {
            let s = client.etcd_status().await.map_err(refused)?;
            let status = Status {
                revision: Revision(s.revision),
                compacted: Revision(s.compacted),
                events: s.events,
                keys: s.keys,
                hash: s.hash,
            };
            print_status(server, &status, None, w, out)
        }
        EndpointCommand::Health => {
            let clock = SystemClock::new();
            let start = clock.elapsed();
            let checked = client
                .etcd_status()
                .await
                .map(|s| Revision(s.revision))
                .map_err(refused);
            let took = format!("{:?}", clock.elapsed().saturating_sub(start));
            print_health(
                server,
                checked,
                took,
                "read the store's status at revision",
                w,
                out,
            )
        }
    }
}

/// One member's `endpoint status` row.
struct MemberRow {
    endpoint: String,
    status: Status,
    raft: Option<skiff_store::wire::RaftStatus>,
}

/// `endpoint status` through the server(s): one row per endpoint, each asked on its own
/// connection (a member's Raft state is its own); an endpoint that does not answer is reported
/// on stderr, as etcdctl does, and fails the command only when none answers.
async fn remote_status(
    connect: &ConnectArgs,
    w: WriteOut,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), String> {
    let mut rows = Vec::new();
    let mut failed = None;
    let endpoints = connect.endpoint_list()?;
    let several = endpoints.len() > 1;
    for endpoint in endpoints {
        let asked = match connect.connect_one(&endpoint).await {
            Ok(client) => client.etcd_status().await.map_err(refused),
            Err(e) => Err(e),
        };
        if !several {
            // One endpoint: its error is the command's, as before.
            asked.as_ref().map_err(Clone::clone)?;
        }
        match asked {
            Ok(s) => rows.push(MemberRow {
                endpoint,
                status: Status {
                    revision: Revision(s.revision),
                    compacted: Revision(s.compacted),
                    events: s.events,
                    keys: s.keys,
                    hash: s.hash,
                },
                raft: s.raft,
            }),
            Err(e) => {
                let message = format!("Failed to get the status of endpoint {endpoint} ({e})");
                let _ = writeln!(err, "{message}");
                failed = Some(message);
            }
        }
    }
    if rows.is_empty() {
        return Err(failed.unwrap_or_else(|| "no endpoint".into()));
    }
    if rows.iter().all(|r| r.raft.is_none()) && rows.len() == 1 {
        let row = rows.remove(0);
        return print_status(row.endpoint, &row.status, None, w, out);
    }
    print_member_status(&rows, w, out)
}

/// `endpoint status` of replicated members, as etcdctl 3.4 prints it (its columns, then
/// skiff's revision and hash); the database size is unknown through the server.
fn print_member_status(rows: &[MemberRow], w: WriteOut, out: &mut dyn Write) -> Result<(), String> {
    let version = env!("CARGO_PKG_VERSION");
    if w == WriteOut::Json {
        let json: Vec<MemberStatusJson> = rows
            .iter()
            .map(|r| MemberStatusJson {
                Endpoint: r.endpoint.clone(),
                Status: MemberStatusInner {
                    header: MemberHeader {
                        member_id: r.raft.as_ref().map_or(0, |s| s.member),
                        revision: r.status.revision.0,
                    },
                    version,
                    db_size: 0,
                    leader: r.raft.as_ref().and_then(|s| s.leader).unwrap_or(0),
                    raft_index: r.raft.as_ref().map_or(0, |s| s.committed),
                    raft_term: r.raft.as_ref().map_or(0, |s| s.term),
                    raft_applied_index: r.raft.as_ref().map_or(0, |s| s.applied),
                    is_learner: r.raft.as_ref().is_some_and(|s| s.learner),
                    compact_revision: r.status.compacted.0,
                    keys: r.status.keys,
                    events: r.status.events,
                    hash: r.status.hash,
                },
            })
            .collect();
        return print_json(out, &json);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let (id, leader, learner, term, index, applied) = match &r.raft {
                Some(s) => (
                    format!("{:x}", s.member),
                    (s.leader == Some(s.member)).to_string(),
                    s.learner.to_string(),
                    s.term.to_string(),
                    s.committed.to_string(),
                    s.applied.to_string(),
                ),
                None => ["-"; 6].map(str::to_owned).into(),
            };
            vec![
                r.endpoint.clone(),
                id,
                version.to_owned(),
                "-".to_owned(),
                leader,
                learner,
                term,
                index,
                applied,
                r.status.revision.to_string(),
                format!("{:x}", r.status.hash),
                String::new(),
            ]
        })
        .collect();
    if w == WriteOut::Table {
        let headers = [
            "ENDPOINT",
            "ID",
            "VERSION",
            "DB SIZE",
            "IS LEADER",
            "IS LEARNER",
            "RAFT TERM",
            "RAFT INDEX",
            "RAFT APPLIED INDEX",
            "REVISION",
            "HASH",
            "ERRORS",
        ];
        let mut align = [Align::Left; 12];
        for i in [3, 6, 7, 8, 9] {
            align[i] = Align::Right;
        }
        return out
            .write_all(table(&headers, &align, &cells).as_bytes())
            .map_err(|e| format!("writing output: {e}"));
    }
    for row in cells {
        line(out, &row.join(", "))?;
    }
    Ok(())
}

#[derive(Serialize)]
struct MemberHeader {
    member_id: u64,
    revision: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MemberStatusInner {
    header: MemberHeader,
    version: &'static str,
    db_size: u64,
    leader: u64,
    raft_index: u64,
    raft_term: u64,
    raft_applied_index: u64,
    is_learner: bool,
    compact_revision: u64,
    keys: u64,
    events: u64,
    hash: u64,
}

#[derive(Serialize)]
#[allow(
    non_snake_case,
    reason = "etcdctl prints its epStatus struct's Go field names"
)]
struct MemberStatusJson {
    Endpoint: String,
    Status: MemberStatusInner,
}

/// A member id as etcdctl takes it: hex.
fn member_id_arg(id: &str) -> Result<u64, String> {
    u64::from_str_radix(id.trim_start_matches("0x"), 16)
        .map_err(|_| format!("bad member ID arg ({id:?}: not a hex id)"))
}

/// `member list|add|remove|promote` through a running member.
async fn member(
    client: &skiff_store::wire::WireClient,
    command: &MemberCommand,
    w: WriteOut,
    out: &mut dyn Write,
) -> Result<(), String> {
    match command {
        MemberCommand::List => {
            let members = client.etcd_member_list().await.map_err(refused)?;
            print_members(&members, w, out)
        }
        MemberCommand::Add {
            name, peer_urls, ..
        } => {
            let peer = peer_urls.trim_start_matches("http://").to_owned();
            let members = client.etcd_member_add(name, &peer).await.map_err(refused)?;
            let id = super::up::member_id(name);
            let initial: Vec<String> = members
                .iter()
                .map(|m| {
                    let name = if m.id == id {
                        name.clone()
                    } else {
                        m.name.clone()
                    };
                    format!("{name}={}", m.peer)
                })
                .collect();
            line(out, &format!("Member {id:16x} added to cluster"))?;
            line(out, "")?;
            line(
                out,
                &format!(
                    "skiff --data-dir DIR up --name {name} --initial-cluster {} --initial-cluster-state existing",
                    initial.join(",")
                ),
            )
        }
        MemberCommand::Remove { id } => {
            let id = member_id_arg(id)?;
            client.etcd_member_remove(id).await.map_err(refused)?;
            line(out, &format!("Member {id:16x} removed from cluster"))
        }
        MemberCommand::Promote { id } => {
            let id = member_id_arg(id)?;
            client.etcd_member_promote(id).await.map_err(refused)?;
            line(out, &format!("Member {id:16x} promoted in cluster"))
        }
    }
}

#[derive(Serialize)]
#[allow(non_snake_case, reason = "etcdctl prints etcd's member fields")]
struct MemberJson {
    ID: u64,
    name: String,
    peerURLs: Vec<String>,
    clientURLs: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    isLearner: bool,
}

#[derive(Serialize)]
struct MembersJson {
    members: Vec<MemberJson>,
}

/// `member list` as etcdctl 3.4 prints it: `ID, STATUS, NAME, PEER ADDRS, CLIENT ADDRS, IS
/// LEARNER`, ids in hex; a member whose name the answering member does not know is
/// `unstarted`, as etcd shows a member that never joined.
fn print_members(
    members: &[skiff_store::wire::MemberInfo],
    w: WriteOut,
    out: &mut dyn Write,
) -> Result<(), String> {
    if w == WriteOut::Json {
        return print_json(
            out,
            &MembersJson {
                members: members
                    .iter()
                    .map(|m| MemberJson {
                        ID: m.id,
                        name: m.name.clone(),
                        peerURLs: vec![format!("http://{}", m.peer)],
                        clientURLs: vec![format!("http://{}", m.client)],
                        isLearner: m.learner,
                    })
                    .collect(),
            },
        );
    }
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            vec![
                format!("{:x}", m.id),
                if m.name.is_empty() {
                    "unstarted"
                } else {
                    "started"
                }
                .to_owned(),
                m.name.clone(),
                format!("http://{}", m.peer),
                format!("http://{}", m.client),
                m.learner.to_string(),
            ]
        })
        .collect();
    if w == WriteOut::Table {
        let headers = [
            "ID",
            "STATUS",
            "NAME",
            "PEER ADDRS",
            "CLIENT ADDRS",
            "IS LEARNER",
        ];
        return out
            .write_all(table(&headers, &[Align::Left; 6], &rows).as_bytes())
            .map_err(|e| format!("writing output: {e}"));
    }
    for row in rows {
        line(out, &row.join(", "))?;
    }
    Ok(())
}

/// The message of a refused or failed call, as etcdctl prints it after `Error: `.
fn refused(e: ClientError) -> String {
    match e {
        ClientError::Status(status) => status.message,
        ClientError::Transport(message) => message,
    }
}

/// `watch` through the server: prints each event as it arrives until `max_events`, the
/// server ends the watch (then as etcdctl: `watch was canceled (…)` on standard error and
/// `Error: watch is canceled by the server`), or the user presses Ctrl-C.
#[allow(
    clippy::too_many_arguments,
    reason = "the watch flags, the client and both output streams"
)]
async fn remote_watch(
    client: &skiff_store::wire::WireClient,
    key: &str,
    prefix: bool,
    rev: u64,
    max_events: Option<u64>,
    w: WriteOut,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), String> {
    const CANCELED: &str = "watch is canceled by the server";
    if w == WriteOut::Table {
        return Err("table output is not supported by watch; use simple or json".into());
    }
    let mut stream = match client.etcd_watch(key, prefix, rev).await {
        Ok(stream) => stream,
        // etcd creates the watch and cancels it at once with the compaction error.
        Err(ClientError::Status(status)) if status.message == etcd::ERR_COMPACTED => {
            let _ = writeln!(err, "watch was canceled ({})", status.message);
            return Err(CANCELED.into());
        }
        Err(e) => return Err(refused(e)),
    };
    let mut seen: u64 = 0;
    while max_events.is_none_or(|max| seen < max) {
        match stream.next().await {
            Some(StreamItem::Event(event)) => {
                let Some(p) = printed(&event.change, event.revision)? else {
                    continue;
                };
                print_event(out, &p, event.revision, w)?;
                seen += 1;
            }
            Some(StreamItem::Error(status)) => {
                let _ = writeln!(err, "watch was canceled ({})", status.message);
                return Err(CANCELED.into());
            }
            Some(StreamItem::End | StreamItem::Chunk(_)) | None => return Err(CANCELED.into()),
        }
    }
    Ok(())
}

/// `snapshot save FILE` through the server: the chunks go to `FILE.part`, which is synced
/// and checked against the snapshot's own checksums before it is renamed to `FILE`.
async fn remote_snapshot_save(
    client: &skiff_store::wire::WireClient,
    file: &Path,
    out: &mut dyn Write,
) -> Result<(), String> {
    let mut part_name = file.as_os_str().to_owned();
    part_name.push(skiff_store::snapshot::SNAPSHOT_PART_SUFFIX);
    let part = PathBuf::from(part_name);
    let result = receive_snapshot(client, &part).await;
    if let Err(e) = result {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    std::fs::rename(&part, file).map_err(|e| {
        let _ = std::fs::remove_file(&part);
        format!(
            "cannot rename {} to {}: {e}",
            part.display(),
            file.display()
        )
    })?;
    line(out, &format!("Snapshot saved at {}", file.display()))
}

async fn receive_snapshot(
    client: &skiff_store::wire::WireClient,
    part: &Path,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("{}: {e}", part.display());
    let mut stream = client.etcd_snapshot().await.map_err(refused)?;
    let mut sink = std::fs::File::create(part).map_err(io)?;
    loop {
        match stream.next().await {
            Some(StreamItem::Chunk(bytes)) => sink.write_all(&bytes).map_err(io)?,
            Some(StreamItem::End) => break,
            Some(StreamItem::Error(status)) => return Err(status.message),
            Some(StreamItem::Event(_)) | None => {
                return Err("the server ended the snapshot early".into());
            }
        }
    }
    sink.sync_all().map_err(io)?;
    drop(sink);
    Store::snapshot_status(part).map_err(|e| chain(&e))?;
    Ok(())
}

/// Opens the store in `dir` (creating it only if `create`), runs `f`, then shuts the store
/// down so everything is committed and the database is closed.
async fn with_store<F, Fut>(dir: &Path, create: bool, f: F) -> Result<(), String>
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let store = open(dir, create)?;
    let result = f(store.clone()).await;
    store.shutdown().await;
    result
}

fn open(dir: &Path, create: bool) -> Result<Store, String> {
    if !create && !dir.join(DB_FILE).exists() {
        return Err(format!(
            "no skiff store in {} ({DB_FILE} not found); pass --data-dir",
            dir.display()
        ));
    }
    // The data dir may hold objects of an embedder's custom kinds: the store keeps their
    // definitions (skiff_store::KIND_DEFINITIONS_PREFIX), so they decode (and print as JSON)
    // without the embedder's registry.
    Store::open_with_stored_kinds(
        Backing::Dir(dir.to_path_buf()),
        Arc::new(SystemClock::new()),
        OpenOptions::default(),
    )
    .map_err(|e| {
        format!(
            "cannot open the store in {}: {e}{}",
            dir.display(),
            in_use_hint(&e.to_string())
        )
    })
}

/// What to say when redb's lock refused the database: another process has it open.
fn in_use_hint(message: &str) -> &'static str {
    if message.contains("already open") {
        " (another process, such as skiff up or a running etcdctl watch, is using this data dir; with skiff up running, `--server` reads through it)"
    } else {
        ""
    }
}

/// An error with its causes, joined as etcdctl joins wrapped errors.
fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn line(out: &mut dyn Write, text: &str) -> Result<(), String> {
    writeln!(out, "{text}").map_err(|e| format!("writing output: {e}"))
}

fn print_json(out: &mut dyn Write, value: &impl Serialize) -> Result<(), String> {
    let text = serde_json::to_string(value).map_err(|e| format!("encoding JSON: {e}"))?;
    line(out, &text)
}

/// etcd's error texts for revisions out of range (mvcc `ErrCompacted`, `ErrFutureRev`), with
/// the values.
fn read_error(e: ReadError) -> String {
    match e {
        ReadError::Compacted {
            requested,
            compacted_revision,
        } => format!(
            "mvcc: required revision has been compacted (requested {requested}, compacted revision {compacted_revision})"
        ),
        ReadError::FutureRevision { requested, head } => format!(
            "mvcc: required revision is a future revision (requested {requested}, head {head})"
        ),
        other => chain(&other),
    }
}

/// Reads a value from standard input, bounded by the largest record the store keeps.
fn read_value(stdin: &mut dyn Read) -> Result<Vec<u8>, String> {
    let mut value = Vec::new();
    let max = u64::try_from(RECORD_BYTES_MAX).unwrap_or(u64::MAX);
    stdin
        .take(max + 1)
        .read_to_end(&mut value)
        .map_err(|e| format!("reading the value from standard input: {e}"))?;
    if value.len() > RECORD_BYTES_MAX {
        return Err(format!(
            "the value is larger than the limit of {RECORD_BYTES_MAX} bytes"
        ));
    }
    Ok(value)
}

/// The head revision, read cheaply (one row).
fn head(store: &Store) -> Result<Revision, String> {
    let options = ListOptions {
        limit: 1,
        ..ListOptions::default()
    };
    Ok(store.list("", &options).map_err(read_error)?.revision)
}

/// A value as `get` and `watch` print it: raw bytes as they are, objects as one line of JSON
/// (what the Kubernetes API server writes to etcd with the JSON codec).
fn value_bytes(value: &StoredValue) -> Result<Vec<u8>, String> {
    match value {
        StoredValue::Raw(bytes) => Ok(bytes.clone()),
        StoredValue::Object(object) => object_json(object).map(String::into_bytes),
    }
}

fn object_json(object: &Object) -> Result<String, String> {
    serde_json::to_string(object)
        .map_err(|e| format!("encoding {} as JSON: {e}", object.kind_slash_name()))
}

// ---- JSON shapes (etcd's etcdserverpb messages as etcdctl -w json prints them; zero values
// are omitted as Go's encoding of those messages omits them) ----

#[derive(Serialize)]
struct Header {
    revision: u64,
}

#[derive(Serialize)]
struct HeaderOnly {
    header: Header,
}

impl HeaderOnly {
    fn at(revision: Revision) -> Self {
        HeaderOnly {
            header: Header {
                revision: revision.0,
            },
        }
    }
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
struct KeyValue {
    key: String,
    #[serde(skip_serializing_if = "is_zero")]
    create_revision: u64,
    #[serde(skip_serializing_if = "is_zero")]
    mod_revision: u64,
    #[serde(skip_serializing_if = "is_zero")]
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

#[derive(Serialize)]
struct RangeResponse {
    header: Header,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kvs: Vec<KeyValue>,
    #[serde(skip_serializing_if = "is_false")]
    more: bool,
    #[serde(skip_serializing_if = "is_zero")]
    count: u64,
}

#[derive(Serialize)]
struct DeleteRangeResponse {
    header: Header,
    #[serde(skip_serializing_if = "is_zero")]
    deleted: u64,
}

// ---- get ----

struct GetOptions {
    prefix: bool,
    keys_only: bool,
    print_value_only: bool,
    limit: u64,
    rev: u64,
}

fn get(
    store: &Store,
    key: &str,
    options: &GetOptions,
    w: WriteOut,
    out: &mut dyn Write,
) -> Result<(), String> {
    if w == WriteOut::Table {
        return Err("table output is not supported by get; use simple or json".into());
    }
    let revision = (options.rev > 0).then_some(Revision(options.rev));
    let head = head(store)?;
    let (entries, more, count) = if options.prefix {
        let limit = usize::try_from(options.limit).unwrap_or(usize::MAX);
        let page = store
            .list(
                key,
                &ListOptions {
                    revision,
                    limit,
                    continue_after: None,
                    ..ListOptions::default()
                },
            )
            .map_err(read_error)?;
        let mut count = page.entries.len() as u64;
        if let Some(after) = &page.continue_after
            && w == WriteOut::Json
        {
            // etcd's count is every key in the range, not only those returned.
            let rest = store
                .list(
                    key,
                    &ListOptions {
                        revision: Some(page.revision),
                        limit: 0,
                        continue_after: Some(after.clone()),
                        ..ListOptions::default()
                    },
                )
                .map_err(read_error)?;
            count += rest.entries.len() as u64;
        }
        (page.entries, page.continue_after.is_some(), count)
    } else {
        let found = match revision {
            None => store.get(key).map(|(_, entry)| entry),
            Some(r) => store.get_at(key, r),
        };
        match found {
            Ok(entry) => (vec![entry], false, 1),
            Err(ReadError::NotFound { .. }) => (Vec::new(), false, 0),
            Err(e) => return Err(read_error(e)),
        }
    };
    print_range(&entries, more, count, head, options, w, out)
}

/// Prints what a `get` read, as etcdctl does.
fn print_range(
    entries: &[Entry],
    more: bool,
    count: u64,
    head: Revision,
    options: &GetOptions,
    w: WriteOut,
    out: &mut dyn Write,
) -> Result<(), String> {
    match w {
        WriteOut::Json => {
            let kvs = entries
                .iter()
                .map(|e| entry_json(e, options.keys_only))
                .collect::<Result<Vec<_>, _>>()?;
            print_json(
                out,
                &RangeResponse {
                    header: Header { revision: head.0 },
                    kvs,
                    more,
                    count,
                },
            )
        }
        WriteOut::Simple | WriteOut::Table => {
            for entry in entries {
                write_kv(out, entry, options.keys_only, options.print_value_only)?;
            }
            Ok(())
        }
    }
}

fn entry_json(entry: &Entry, keys_only: bool) -> Result<KeyValue, String> {
    Ok(KeyValue {
        key: BASE64.encode(entry.key.as_bytes()),
        create_revision: entry.stored.create_revision.0,
        mod_revision: entry.stored.mod_revision.0,
        version: entry.stored.version,
        value: if keys_only {
            None
        } else {
            Some(BASE64.encode(value_bytes(&entry.stored.value)?))
        },
    })
}

/// etcdctl's simple format: the key on one line, the value on the next (an empty line with
/// --keys-only, as etcdctl prints the empty value it asked for).
fn write_kv(
    out: &mut dyn Write,
    entry: &Entry,
    keys_only: bool,
    value_only: bool,
) -> Result<(), String> {
    let value = if keys_only {
        Vec::new()
    } else {
        value_bytes(&entry.stored.value)?
    };
    let io = |e: std::io::Error| format!("writing output: {e}");
    if !value_only {
        writeln!(out, "{}", entry.key).map_err(io)?;
    }
    out.write_all(&value).map_err(io)?;
    out.write_all(b"\n").map_err(io)
}

// ---- put ----

async fn put(
    store: &Store,
    key: &str,
    value: Vec<u8>,
    w: WriteOut,
    out: &mut dyn Write,
) -> Result<(), String> {
    let revision = etcd::put(store, &actor(), key, value)
        .await
        .map_err(|e| e.to_string())?;
    print_put(revision.0, w, out)
}

/// etcdctl's answer to a put: `OK`, or the response header.
fn print_put(revision: u64, w: WriteOut, out: &mut dyn Write) -> Result<(), String> {
    match w {
        WriteOut::Json => print_json(out, &HeaderOnly::at(Revision(revision))),
        _ => line(out, "OK"),
    }
}

// ---- del ----

async fn del(
    store: &Store,
    key: &str,
    prefix: bool,
    w: WriteOut,
    out: &mut dyn Write,
) -> Result<(), String> {
    let (revision, deleted) = etcd::delete(store, &actor(), key, prefix)
        .await
        .map_err(|e| e.to_string())?;
    print_deleted(revision.0, deleted, w, out)
}

/// etcdctl's answer to a delete: how many keys went, or the response.
fn print_deleted(
    revision: u64,
    deleted: u64,
    w: WriteOut,
    out: &mut dyn Write,
) -> Result<(), String> {
    match w {
        WriteOut::Json => print_json(
            out,
            &DeleteRangeResponse {
                header: Header { revision },
                deleted,
            },
        ),
        _ => line(out, &deleted.to_string()),
    }
}

// ---- watch ----

#[derive(Serialize)]
struct WatchEvent {
    /// etcd's `mvccpb.Event_EventType`: PUT is 0 (omitted), DELETE is 1.
    #[serde(rename = "type", skip_serializing_if = "is_zero")]
    kind: u64,
    kv: KeyValue,
}

#[derive(Serialize)]
#[allow(
    non_snake_case,
    reason = "etcdctl prints clientv3.WatchResponse's Go field names"
)]
struct WatchResponse {
    Header: Header,
    Events: Vec<WatchEvent>,
    CompactRevision: u64,
    Canceled: bool,
    Created: bool,
}

/// One event as `watch` prints it: PUT or DELETE, the key, the row after the event.
struct Printed {
    delete: bool,
    key: String,
    create_revision: u64,
    version: u64,
    value: Vec<u8>,
}

fn printed(change: &Change, revision: Revision) -> Result<Option<Printed>, String> {
    let object_event = |object: &Object, create: Revision, version: u64, delete: bool| {
        let key = object_key(object)?;
        Ok::<_, String>(Some(Printed {
            delete,
            key,
            create_revision: if delete { 0 } else { create.0 },
            version: if delete { 0 } else { version },
            value: if delete {
                Vec::new()
            } else {
                object_json(object)?.into_bytes()
            },
        }))
    };
    match change {
        Change::Create(object) => object_event(object, revision, 1, false),
        Change::Update {
            object,
            create_revision,
            version,
        } => object_event(object, *create_revision, *version, false),
        Change::Delete(object) => object_event(object, Revision::ZERO, 0, true),
        Change::PutRaw {
            key,
            value,
            create_revision,
            version,
        } => Ok(Some(Printed {
            delete: false,
            key: key.clone(),
            create_revision: create_revision.0,
            version: *version,
            value: value.clone(),
        })),
        Change::DeleteRaw { key } => Ok(Some(Printed {
            delete: true,
            key: key.clone(),
            create_revision: 0,
            version: 0,
            value: Vec::new(),
        })),
        Change::Compact { .. } => Ok(None),
    }
}

async fn watch(
    store: &Store,
    key: &str,
    prefix: bool,
    rev: u64,
    max_events: Option<u64>,
    w: WriteOut,
    out: &mut dyn Write,
) -> Result<(), String> {
    if w == WriteOut::Table {
        return Err("table output is not supported by watch; use simple or json".into());
    }
    let mut watch = etcd::KeyWatch::start(store, key, prefix, rev).map_err(|e| e.to_string())?;
    let mut seen: u64 = 0;
    while max_events.is_none_or(|max| seen < max) {
        let event = watch.next().await.map_err(|e| e.to_string())?;
        let Some(p) = printed(&event.change, event.revision)? else {
            continue;
        };
        print_event(out, &p, event.revision, w)?;
        seen += 1;
    }
    Ok(())
}

/// Prints one watch event as etcdctl does: `PUT`/`DELETE`, key, value lines, or one JSON
/// watch response per event.
fn print_event(
    out: &mut dyn Write,
    p: &Printed,
    revision: Revision,
    w: WriteOut,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("writing output: {e}");
    match w {
        WriteOut::Json => print_json(
            out,
            &WatchResponse {
                Header: Header {
                    revision: revision.0,
                },
                Events: vec![WatchEvent {
                    kind: u64::from(p.delete),
                    kv: KeyValue {
                        key: BASE64.encode(p.key.as_bytes()),
                        create_revision: p.create_revision,
                        mod_revision: revision.0,
                        version: p.version,
                        value: (!p.value.is_empty()).then(|| BASE64.encode(&p.value)),
                    },
                }],
                CompactRevision: 0,
                Canceled: false,
                Created: false,
            },
        )?,
        WriteOut::Simple | WriteOut::Table => {
            let kind = if p.delete { "DELETE" } else { "PUT" };
            writeln!(out, "{kind}\n{}", p.key).map_err(io)?;
            out.write_all(&p.value).map_err(io)?;
            out.write_all(b"\n").map_err(io)?;
        }
    }
    // A watch streams: each event is visible as soon as it is printed.
    out.flush().map_err(io)
}

// ---- snapshot ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SnapshotStatusJson {
    hash: u64,
    revision: u64,
    total_key: u64,
    total_size: u64,
}

async fn snapshot(
    dir: &Path,
    command: &SnapshotCommand,
    w: WriteOut,
    out: &mut dyn Write,
) -> Result<(), String> {
    match command {
        SnapshotCommand::Save { file } => {
            let db = dir.join(DB_FILE);
            if let (Ok(a), Ok(b)) = (std::fs::canonicalize(file), std::fs::canonicalize(&db))
                && a == b
            {
                return Err(format!(
                    "refusing to write a snapshot over the store's own database {}",
                    db.display()
                ));
            }
            with_store(dir, false, |store| async move {
                store.snapshot_save(file).map_err(|e| chain(&e))?;
                line(out, &format!("Snapshot saved at {}", file.display()))
            })
            .await
        }
        SnapshotCommand::Restore { file } => {
            let status = Store::restore(file, dir).map_err(|e| chain(&e))?;
            line(
                out,
                &format!(
                    "Snapshot restored into {} at revision {} (hash {:x})",
                    dir.display(),
                    status.revision,
                    status.hash
                ),
            )
        }
        SnapshotCommand::Status { file } => {
            let SnapshotStatus { status, size_bytes } =
                Store::snapshot_status(file).map_err(|e| chain(&e))?;
            match w {
                WriteOut::Json => print_json(
                    out,
                    &SnapshotStatusJson {
                        hash: status.hash,
                        revision: status.revision.0,
                        total_key: status.keys,
                        total_size: size_bytes,
                    },
                ),
                WriteOut::Simple | WriteOut::Table => {
                    let row = vec![
                        format!("{:x}", status.hash),
                        status.revision.to_string(),
                        status.keys.to_string(),
                        human_bytes(size_bytes),
                    ];
                    if w == WriteOut::Table {
                        write_table(
                            out,
                            &["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"],
                            &[Align::Left, Align::Right, Align::Right, Align::Left],
                            row,
                        )
                    } else {
                        line(out, &row.join(", "))
                    }
                }
            }
        }
    }
}

// ---- endpoint ----

#[derive(Serialize)]
struct HealthJson {
    endpoint: String,
    health: bool,
    took: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusJson {
    header: Header,
    version: &'static str,
    db_size: u64,
    compact_revision: u64,
    keys: u64,
    events: u64,
    hash: u64,
}

#[derive(Serialize)]
#[allow(
    non_snake_case,
    reason = "etcdctl prints its epStatus struct's Go field names"
)]
struct EndpointStatusJson {
    Endpoint: String,
    Status: StatusJson,
}

async fn endpoint(
    dir: &Path,
    command: &EndpointCommand,
    w: WriteOut,
    out: &mut dyn Write,
) -> Result<(), String> {
    match command {
        EndpointCommand::Health => endpoint_health(dir, w, out).await,
        EndpointCommand::Status => endpoint_status(dir, w, out).await,
    }
}

async fn endpoint_health(dir: &Path, w: WriteOut, out: &mut dyn Write) -> Result<(), String> {
    let endpoint = dir.display().to_string();
    let clock = SystemClock::new();
    let start = clock.elapsed();
    let checked = check_health(dir).await;
    let took = format!("{:?}", clock.elapsed().saturating_sub(start));
    print_health(
        endpoint,
        checked,
        took,
        "verified the projection against the log at revision",
        w,
        out,
    )
}

/// Prints `endpoint health` as etcdctl does; `what` says what the check proved.
fn print_health(
    endpoint: String,
    checked: Result<Revision, String>,
    took: String,
    what: &str,
    w: WriteOut,
    out: &mut dyn Write,
) -> Result<(), String> {
    let error = checked.as_ref().err().cloned();
    match (w, &checked) {
        (WriteOut::Json, _) => print_json(
            out,
            &[HealthJson {
                endpoint,
                health: checked.is_ok(),
                took,
                error,
            }],
        )?,
        (WriteOut::Table, _) => write_table(
            out,
            &["ENDPOINT", "HEALTH", "TOOK", "ERROR"],
            &[Align::Left; 4],
            vec![
                endpoint,
                checked.is_ok().to_string(),
                took,
                error.unwrap_or_default(),
            ],
        )?,
        (WriteOut::Simple, Ok(revision)) => line(
            out,
            &format!("{endpoint} is healthy: {what} {revision}: took = {took}"),
        )?,
        (WriteOut::Simple, Err(e)) => line(out, &format!("{endpoint} is unhealthy: {e}"))?,
    }
    checked
        .map(|_| ())
        .map_err(|_| "unhealthy store".to_owned())
}

async fn endpoint_status(dir: &Path, w: WriteOut, out: &mut dyn Write) -> Result<(), String> {
    let (status, db_size) = with_status(dir).await?;
    print_status(dir.display().to_string(), &status, Some(db_size), w, out)
}

/// Prints `endpoint status` as etcdctl does; the database size is unknown (`-`, 0 in JSON)
/// when the store was asked through the server.
fn print_status(
    endpoint: String,
    status: &Status,
    db_size: Option<u64>,
    w: WriteOut,
    out: &mut dyn Write,
) -> Result<(), String> {
    let version = env!("CARGO_PKG_VERSION");
    if w == WriteOut::Json {
        return print_json(
            out,
            &[EndpointStatusJson {
                Endpoint: endpoint,
                Status: StatusJson {
                    header: Header {
                        revision: status.revision.0,
                    },
                    version,
                    db_size: db_size.unwrap_or(0),
                    compact_revision: status.compacted.0,
                    keys: status.keys,
                    events: status.events,
                    hash: status.hash,
                },
            }],
        );
    }
    let row = vec![
        endpoint,
        version.to_owned(),
        db_size.map_or_else(|| "-".to_owned(), human_bytes),
        status.revision.to_string(),
        status.compacted.to_string(),
        status.keys.to_string(),
        status.events.to_string(),
        format!("{:x}", status.hash),
    ];
    if w == WriteOut::Table {
        write_table(
            out,
            &[
                "ENDPOINT",
                "VERSION",
                "DB SIZE",
                "REVISION",
                "COMPACT REVISION",
                "KEYS",
                "EVENTS",
                "HASH",
            ],
            &[
                Align::Left,
                Align::Left,
                Align::Right,
                Align::Right,
                Align::Right,
                Align::Right,
                Align::Right,
                Align::Left,
            ],
            row,
        )
    } else {
        line(out, &row.join(", "))
    }
}

/// Opens the store and verifies it; the head revision when healthy.
async fn check_health(dir: &Path) -> Result<Revision, String> {
    let store = open(dir, false)?;
    let result = store
        .verify()
        .map_err(|e| chain(&e))
        .and_then(|()| head(&store));
    store.shutdown().await;
    result
}

async fn with_status(dir: &Path) -> Result<(Status, u64), String> {
    let store = open(dir, false)?;
    let status = store.status().map_err(read_error);
    store.shutdown().await;
    drop(store);
    let db = dir.join(DB_FILE);
    let size = std::fs::metadata(&db)
        .map_err(|e| format!("{}: {e}", db.display()))?
        .len();
    Ok((status?, size))
}

// ---- formatting ----

/// Sizes as etcdctl prints them (go-humanize `Bytes`: powers of 1000, one decimal below 10).
#[allow(
    clippy::cast_precision_loss,
    reason = "a displayed size needs three significant digits"
)]
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 10 {
        return format!("{n} B");
    }
    let mut exp = 0;
    let mut scale: u64 = 1;
    while exp + 1 < UNITS.len() && n / scale >= 1000 {
        scale *= 1000;
        exp += 1;
    }
    let value = ((n as f64 / scale as f64) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[exp])
    } else {
        format!("{value:.0} {}", UNITS[exp])
    }
}

#[derive(Debug, Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Writes a one-row table.
fn write_table(
    out: &mut dyn Write,
    headers: &[&str],
    align: &[Align],
    row: Vec<String>,
) -> Result<(), String> {
    out.write_all(table(headers, align, &[row]).as_bytes())
        .map_err(|e| format!("writing output: {e}"))
}

/// A table as etcdctl draws one: `+---+` rules, centered headers, one row per line.
fn table(headers: &[&str], align: &[Align], rows: &[Vec<String>]) -> String {
    use std::fmt::Write as _;
    assert_eq!(headers.len(), align.len(), "one alignment per column");
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        assert_eq!(row.len(), headers.len(), "one cell per column");
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let rule: String = widths.iter().fold("+".to_owned(), |mut s, w| {
        s.push_str(&"-".repeat(w + 2));
        s.push('+');
        s
    });
    let mut text = format!("{rule}\n|");
    for (h, w) in headers.iter().zip(&widths) {
        let gap = w - h.chars().count();
        let left = gap / 2;
        let _ = write!(text, " {}{h}{} |", " ".repeat(left), " ".repeat(gap - left));
    }
    let _ = write!(text, "\n{rule}\n");
    for row in rows {
        text.push('|');
        for ((cell, w), a) in row.iter().zip(&widths).zip(align) {
            let pad = " ".repeat(w - cell.chars().count());
            let _ = match a {
                Align::Left => write!(text, " {cell}{pad} |"),
                Align::Right => write!(text, " {pad}{cell} |"),
            };
        }
        text.push('\n');
    }
    text.push_str(&rule);
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_etcdctl_prints_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(9), "9 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1000), "1.0 kB");
        assert_eq!(human_bytes(24_576), "25 kB");
        assert_eq!(human_bytes(2_097_152), "2.1 MB");
    }

    #[test]
    fn tables_draw_as_etcdctl_draws_them() {
        let text = table(
            &["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"],
            &[Align::Left, Align::Right, Align::Right, Align::Left],
            &[vec![
                "c55e8b8".into(),
                "9".into(),
                "13".into(),
                "25 kB".into(),
            ]],
        );
        assert_eq!(
            text,
            "+---------+----------+------------+------------+\n\
             |  HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |\n\
             +---------+----------+------------+------------+\n\
             | c55e8b8 |        9 |         13 | 25 kB      |\n\
             +---------+----------+------------+------------+\n"
        );
    }
}
