//! kubectl-style verbs against `skiff up` (seed §9–§11): `get` (and `get -w`), `create`,
//! `apply`, `replace`, `delete`, `scale`, `run`, and in `verbs.rs` `label`, `annotate`,
//! `patch`, `taint`, `cordon`, `uncordon`, `drain`, `api-resources`, `auth can-i`.

use std::io::Write;
use std::path::PathBuf;

use skiff_core::client::{
    Client, ClientError, DeleteOptions, Deleted, ListParams, PatchType, Propagation, Scale,
};
use skiff_core::clock::{Clock, SystemClock};
use skiff_core::manifest::{self, Document};
use skiff_core::object::{Container, Pod};

use super::connect::ConnectArgs;
use super::print::{resource_name, table};
use super::verbs::{self, DrainOptions, Failure, MetaMap, Outcome, kind};

/// Output formats of `get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// The table with extra columns.
    Wide,
    /// YAML documents.
    Yaml,
    /// JSON.
    Json,
    /// `kind/name` per line.
    Name,
}

/// A kubectl-style verb.
#[derive(Debug, clap::Subcommand)]
pub enum Verb {
    /// List objects of a kind, or show one (`get pods`, `get rs web -o yaml`).
    Get {
        /// Kind, plural or short name (`pods`, `po`, `replicaset`, `rs`).
        kind: String,
        /// One object's name.
        name: Option<String>,
        /// Namespace.
        #[arg(short, long, default_value = "default")]
        namespace: String,
        /// Every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Label selector (`app=web,tier!=db`).
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum)]
        output: Option<Output>,
        /// After listing, watch for changes and print each changed object's row.
        #[arg(short = 'w', long)]
        watch: bool,
    },
    /// Show one object in detail, with its own history from the event log.
    Describe {
        /// Kind, plural or short name.
        kind: String,
        /// The object's name.
        name: String,
        /// Namespace.
        #[arg(short, long, default_value = "default")]
        namespace: String,
    },
    /// Create objects from manifests.
    Create {
        /// Manifest file or `-`.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
    },
    /// Create or update objects from manifests.
    Apply {
        /// Manifest file or `-`.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
    },
    /// Replace objects with the manifests' content.
    Replace {
        /// Manifest file or `-`.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
    },
    /// Delete objects named in manifests or on the command line.
    Delete {
        /// Kind and name (`pod nginx`), unless -f is given.
        args: Vec<String>,
        /// Manifest file or `-`.
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// Namespace.
        #[arg(short, long, default_value = "default")]
        namespace: String,
        /// Seconds to wait before a pod is killed.
        #[arg(long)]
        grace_period: Option<i64>,
        /// `background`, `foreground` or `orphan`.
        #[arg(long, default_value = "background")]
        cascade: String,
        /// Wait until each object is gone (a pod's graceful termination, finalizers), as
        /// kubectl does by default; `--wait=false` returns once deletion has begun.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        wait: bool,
        /// How long `--wait` waits: a duration like `30s`, `5m`, `1h`; `0` means a week, as
        /// kubectl's default.
        #[arg(long, default_value = "0s")]
        timeout: String,
    },
    /// Set the replicas of a ReplicaSet, ReplicationController or Deployment.
    Scale {
        /// Kind and name (`rs web`), unless -f is given.
        args: Vec<String>,
        /// The new replica count.
        #[arg(long, required = true)]
        replicas: i32,
        /// Scale only if the object is at this resourceVersion.
        #[arg(long)]
        resource_version: Option<String>,
        /// Scale only if the current replica count is this (-1: any).
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        current_replicas: i32,
        /// Manifest naming the object.
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// Namespace.
        #[arg(short, long, default_value = "default")]
        namespace: String,
    },
    /// Update the labels of an object (`label pods web tier=front env-`).
    Label {
        /// `TYPE NAME` or `TYPE/NAME`, then `KEY=VALUE` to set and `KEY-` to remove.
        #[arg(required = true)]
        args: Vec<String>,
        /// Namespace.
        #[arg(short, long, default_value = "default")]
        namespace: String,
        /// Allow changing a label that already has a value.
        #[arg(long)]
        overwrite: bool,
        /// Change only if the object is at this resourceVersion.
        #[arg(long)]
        resource_version: Option<String>,
    },
    /// Update the annotations of an object (`annotate pods web note=hi old-`).
    Annotate {
        /// `TYPE NAME` or `TYPE/NAME`, then `KEY=VALUE` to set and `KEY-` to remove.
        #[arg(required = true)]
        args: Vec<String>,
        /// Namespace.
        #[arg(short, long, default_value = "default")]
        namespace: String,
        /// Allow changing an annotation that already has a value.
        #[arg(long)]
        overwrite: bool,
        /// Change only if the object is at this resourceVersion.
        #[arg(long)]
        resource_version: Option<String>,
    },
    /// Patch an object with a strategic merge patch or a JSON merge patch.
    Patch {
        /// `TYPE NAME` or `TYPE/NAME`.
        #[arg(required = true)]
        args: Vec<String>,
        /// The patch, JSON.
        #[arg(short, long, required = true)]
        patch: String,
        /// `strategic` (default) or `merge`.
        #[arg(long = "type", default_value = "strategic")]
        patch_type: String,
        /// Namespace.
        #[arg(short, long, default_value = "default")]
        namespace: String,
    },
    /// Add or remove node taints (`taint nodes worker-1 dedicated=gpu:NoSchedule`, `key:NoSchedule-`).
    Taint {
        /// `[nodes] NODE` then `KEY=VALUE:EFFECT` to add and `KEY[:EFFECT]-` to remove.
        #[arg(required = true)]
        args: Vec<String>,
        /// Allow replacing a taint with the same key and effect.
        #[arg(long)]
        overwrite: bool,
    },
    /// Mark a node unschedulable.
    Cordon {
        /// The node.
        node: String,
    },
    /// Mark a node schedulable again.
    Uncordon {
        /// The node.
        node: String,
    },
    /// Cordon a node and evict its pods.
    Drain {
        /// The node.
        node: String,
        /// Leave DaemonSet-managed pods.
        #[arg(long)]
        ignore_daemonsets: bool,
        /// Also delete pods no controller manages.
        #[arg(long)]
        force: bool,
        /// Also delete pods with emptyDir volumes.
        #[arg(long)]
        delete_emptydir_data: bool,
        /// Seconds each pod gets to terminate (default: the pod's own).
        #[arg(long, allow_negative_numbers = true)]
        grace_period: Option<i64>,
    },
    /// List the resource types the server serves.
    ApiResources {
        /// Only namespaced (true) or only cluster-scoped (false) types.
        #[arg(long)]
        namespaced: Option<bool>,
    },
    /// Inspect authorization.
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Run a pod with one container (`run nginx --image=nginx`).
    Run {
        /// The pod's name.
        name: String,
        /// The container image.
        #[arg(long, required = true)]
        image: String,
        /// Namespace.
        #[arg(short, long, default_value = "default")]
        namespace: String,
    },
}

/// `auth` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuthCommand {
    /// May I (or `--as` someone) do VERB on RESOURCE? Prints yes or no.
    CanI {
        /// `get`, `list`, `create`, `delete`, … or `*`.
        verb: String,
        /// Resource (`pods`, `deployments.apps`, `pods/log`) or `*`.
        resource: String,
        /// One object's name.
        name: Option<String>,
        /// Namespace.
        #[arg(short, long, default_value = "default")]
        namespace: String,
        /// In every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Ask for this user (needs impersonation rights).
        #[arg(long = "as")]
        as_user: Option<String>,
        /// Ask for this group (repeatable; needs impersonation rights).
        #[arg(long = "as-group")]
        as_groups: Vec<String>,
    },
}

fn read_manifests(files: &[PathBuf]) -> Result<Vec<Document>, String> {
    let mut documents = Vec::new();
    for path in &super::validate::expand(files, false)? {
        let (name, bytes) = if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
                .map_err(|e| e.to_string())?;
            ("-".to_owned(), bytes)
        } else {
            (
                path.display().to_string(),
                std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?,
            )
        };
        let parsed = manifest::parse_bytes(&name, &bytes);
        if let Some(e) = parsed.errors.first() {
            return Err(e.to_string());
        }
        documents.extend(parsed.documents);
    }
    Ok(documents)
}

#[allow(
    clippy::too_many_lines,
    reason = "one short arm per verb reads best as one dispatch"
)]
async fn run_verb(connect: &ConnectArgs, verb: Verb, out: &mut dyn Write) -> Outcome {
    if let Verb::ApiResources { namespaced } = verb {
        verbs::api_resources(out, namespaced);
        return Ok(());
    }
    let client = connect.connect().await?;
    match verb {
        Verb::Get {
            kind: k,
            name,
            namespace,
            all_namespaces,
            selector,
            output,
            watch,
        } => {
            let info = kind(&k)?;
            let ns = if info.namespaced {
                namespace.as_str()
            } else {
                ""
            };
            if watch {
                return super::watch::run(
                    &client,
                    out,
                    info,
                    &namespace,
                    all_namespaces,
                    name.as_deref(),
                    selector.as_deref(),
                    output == Some(Output::Wide),
                )
                .await;
            }
            let objects = if let Some(name) = &name {
                vec![client.get(info, ns, name).await?]
            } else {
                let params = ListParams {
                    label_selector: selector.unwrap_or_default(),
                    ..ListParams::default()
                };
                let scope = if all_namespaces || !info.namespaced {
                    None
                } else {
                    Some(ns)
                };
                client.list(info, scope, params).await?.items
            };
            match output {
                Some(Output::Yaml) => {
                    for (i, o) in objects.iter().enumerate() {
                        if i > 0 {
                            let _ = writeln!(out, "---");
                        }
                        let _ = write!(out, "{}", manifest::to_yaml(o)?);
                    }
                }
                Some(Output::Json) => {
                    for o in &objects {
                        let _ = writeln!(out, "{}", manifest::to_json(o)?);
                    }
                }
                Some(Output::Name) => {
                    for o in &objects {
                        let _ = writeln!(out, "{}", resource_name(o));
                    }
                }
                Some(Output::Wide) | None => {
                    if objects.is_empty() {
                        let _ = writeln!(out, "No resources found in {namespace} namespace.");
                    } else {
                        let now = SystemClock::new().now_time();
                        let wide = output == Some(Output::Wide);
                        let _ = write!(out, "{}", table(info, &objects, now, wide, all_namespaces));
                    }
                }
            }
        }
        Verb::Describe {
            kind: k,
            name,
            namespace,
        } => {
            let info = kind(&k)?;
            let ns = if info.namespaced {
                namespace.as_str()
            } else {
                ""
            };
            let object = client.get(info, ns, &name).await?;
            let history = client.history(info, ns, &name).await?;
            let _ = write!(out, "{}", super::describe::render(&object, &history));
        }
        Verb::Create { files } => {
            for doc in read_manifests(&files)? {
                let created = client.create(None, doc.object).await?;
                let _ = writeln!(out, "{} created", resource_name(&created));
            }
        }
        Verb::Apply { files } => {
            for doc in read_manifests(&files)? {
                let applied = skiff::apply::apply(&client, doc.object).await?;
                let _ = writeln!(
                    out,
                    "{} {}",
                    resource_name(applied.object()),
                    applied.verb()
                );
            }
        }
        Verb::Replace { files } => {
            for doc in read_manifests(&files)? {
                let mut object = doc.object;
                object.metadata_mut().resource_version = None;
                let replaced = client.update(object).await?;
                let _ = writeln!(out, "{} replaced", resource_name(&replaced));
            }
        }
        Verb::Delete {
            args,
            files,
            namespace,
            grace_period,
            cascade,
            wait,
            timeout,
        } => {
            let timeout = parse_duration(&timeout)?;
            let timeout = if timeout.is_zero() {
                // kubectl delete: "zero means determine a timeout" — a week.
                std::time::Duration::from_secs(168 * 3600)
            } else {
                timeout
            };
            let propagation = match cascade.as_str() {
                "background" | "true" => Propagation::Background,
                "foreground" => Propagation::Foreground,
                "orphan" | "false" => Propagation::Orphan,
                other => {
                    return Err(format!(
                        "invalid --cascade {other:?}: must be background, foreground or orphan"
                    )
                    .into());
                }
            };
            let options = DeleteOptions {
                grace_period_seconds: grace_period,
                propagation,
                ..DeleteOptions::default()
            };
            let mut targets = Vec::new();
            for doc in read_manifests(&files)? {
                let info = doc.object.info();
                let ns = doc
                    .object
                    .metadata()
                    .namespace
                    .clone()
                    .unwrap_or_else(|| namespace.clone());
                targets.push((info, ns, doc.object.metadata().name_or_empty().to_owned()));
            }
            if files.is_empty() {
                let [k, name] = args.as_slice() else {
                    return Err("delete needs KIND NAME or -f FILE".into());
                };
                targets.push((kind(k)?, namespace.clone(), name.clone()));
            }
            let mut pending = Vec::new();
            for (info, ns, name) in targets {
                let ns = if info.namespaced { ns } else { String::new() };
                let deleted = client.delete(info, &ns, &name, options.clone()).await?;
                let _ = writeln!(out, "{} \"{name}\" deleted", info.singular);
                if let Deleted::Pending(object) = deleted {
                    pending.push((info, ns, name, object.metadata().uid.clone()));
                }
            }
            if wait {
                let _ = out.flush();
                let deadline = std::time::Instant::now() + timeout;
                for (info, ns, name, uid) in pending {
                    loop {
                        match client.get(info, &ns, &name).await {
                            Err(ClientError::Status(s)) if s.code() == 404 => break,
                            // A new object of the same name is not the one deleted.
                            Ok(object) if object.metadata().uid != uid => break,
                            Err(e) => return Err(e.into()),
                            Ok(_) => {}
                        }
                        if std::time::Instant::now() >= deadline {
                            return Err(format!(
                                "timed out waiting for the condition on {}/{name}",
                                info.plural
                            )
                            .into());
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        }
        Verb::Scale {
            args,
            replicas,
            resource_version,
            current_replicas,
            files,
            namespace,
        } => {
            let (info, ns, name) = if let Some(doc) = read_manifests(&files)?.into_iter().next() {
                let ns = doc
                    .object
                    .metadata()
                    .namespace
                    .clone()
                    .unwrap_or_else(|| namespace.clone());
                (
                    doc.object.info(),
                    ns,
                    doc.object.metadata().name_or_empty().to_owned(),
                )
            } else {
                let [k, name] = args.as_slice() else {
                    return Err("scale needs KIND NAME or -f FILE".into());
                };
                (kind(k)?, namespace.clone(), name.clone())
            };
            let ns = if info.namespaced { ns } else { String::new() };
            let mut resource_version = resource_version;
            if current_replicas >= 0 {
                // kubectl's precondition, checked on the scale it read; that read's
                // resourceVersion then guards the write.
                let scale = client.get_scale(info, &ns, &name).await?;
                if scale.replicas != current_replicas {
                    return Err(format!(
                        "Expected replicas to be {current_replicas}, was {}",
                        scale.replicas
                    )
                    .into());
                }
                resource_version = resource_version.or(scale.resource_version);
            }
            // The `scale` subresource: only spec.replicas changes.
            let scaled = client
                .update_scale(
                    info,
                    Scale {
                        name: name.clone(),
                        namespace: ns.clone(),
                        resource_version,
                        replicas,
                        ..Scale::default()
                    },
                )
                .await?;
            let _ = writeln!(out, "{}/{} scaled", resource_name_of(info), scaled.name);
        }
        Verb::Run {
            name,
            image,
            namespace,
        } => {
            let mut pod = Pod::new(name.clone(), vec![Container::new(name.clone(), image)]);
            pod.metadata.labels.insert("run".into(), name);
            let created = client.create(Some(&namespace), pod.into()).await?;
            let _ = writeln!(out, "{} created", resource_name(&created));
        }
        Verb::Label {
            args,
            namespace,
            overwrite,
            resource_version,
        } => {
            verbs::edit_meta(
                &client,
                out,
                MetaMap::Labels,
                &args,
                &namespace,
                overwrite,
                resource_version,
            )
            .await?;
        }
        Verb::Annotate {
            args,
            namespace,
            overwrite,
            resource_version,
        } => {
            verbs::edit_meta(
                &client,
                out,
                MetaMap::Annotations,
                &args,
                &namespace,
                overwrite,
                resource_version,
            )
            .await?;
        }
        Verb::Patch {
            args,
            patch,
            patch_type,
            namespace,
        } => {
            let patch_type = match patch_type.as_str() {
                "strategic" => PatchType::Strategic,
                "merge" => PatchType::Merge,
                other => {
                    return Err(format!(
                        "--type must be one of [json merge strategic], not \"{other}\" (json patches are not supported by skiff)"
                    )
                    .into());
                }
            };
            verbs::patch(&client, out, &args, &namespace, &patch, patch_type).await?;
        }
        Verb::Taint { args, overwrite } => verbs::taint(&client, out, &args, overwrite).await?,
        Verb::Cordon { node } => verbs::cordon(&client, out, &node, true).await?,
        Verb::Uncordon { node } => verbs::cordon(&client, out, &node, false).await?,
        Verb::Drain {
            node,
            ignore_daemonsets,
            force,
            delete_emptydir_data,
            grace_period,
        } => {
            let options = DrainOptions {
                ignore_daemonsets,
                force,
                delete_emptydir_data,
                // kubectl's default -1: the pod's own.
                grace_period: grace_period.filter(|g| *g >= 0),
            };
            verbs::drain(&client, out, &mut std::io::stderr().lock(), &node, &options).await?;
        }
        Verb::ApiResources { .. } => {}
        Verb::Auth {
            command:
                AuthCommand::CanI {
                    verb,
                    resource,
                    name,
                    namespace,
                    all_namespaces,
                    as_user,
                    as_groups,
                },
        } => {
            verbs::can_i(
                &client,
                out,
                &mut std::io::stderr().lock(),
                &verb,
                &resource,
                name.as_deref(),
                &namespace,
                all_namespaces,
                as_user.as_deref(),
                &as_groups,
            )
            .await?;
        }
    }
    Ok(())
}

/// `kind.group` as kubectl names a resource in its messages (`replicaset.apps`).
fn resource_name_of(info: &skiff_core::object::KindInfo) -> String {
    if info.group.is_empty() {
        info.singular.to_owned()
    } else {
        format!("{}.{}", info.singular, info.group)
    }
}

/// Runs one verb against the server; returns false (after printing the error) on failure.
pub fn run(connect: &ConnectArgs, verb: Verb, out: &mut dyn Write) -> bool {
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
    match runtime.block_on(run_verb(connect, verb, out)) {
        Ok(()) => true,
        Err(Failure::Silent) => false,
        Err(e) => {
            let _ = out.flush();
            eprintln!("{e}");
            false
        }
    }
}

/// A kubectl-style duration: a number of seconds with an optional `s`, `m` or `h` unit.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => {
            return Err(format!(
                "invalid duration {text:?}: use a number with s, m or h"
            ));
        }
    };
    let count: u64 = digits
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: use a number with s, m or h"))?;
    Ok(std::time::Duration::from_secs(count.saturating_mul(scale)))
}
