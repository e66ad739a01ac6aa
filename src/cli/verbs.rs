//! kubectl's object-editing and cluster-maintenance verbs, in kubectl's words: `label`,
//! `annotate`, `patch`, `taint`, `cordon`, `uncordon`, `drain`, `api-resources`,
//! `auth can-i`. Each reads what it needs, decides on the client as kubectl does (the
//! `--overwrite` checks, drain's pod filters), and changes objects with a PATCH.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;

use serde_json::{Map, Value, json};
use skiff_core::client::{AccessReview, Client, ClientError, DeleteOptions, ListParams, PatchType};
use skiff_core::object::{KINDS, KindInfo, Object, Pod, Taint, info, resolve_resource};
use skiff_core::status::{Reason, Status};

use super::print::{align, resource_name};

/// Why a verb failed, printed as kubectl prints it.
#[derive(Debug)]
pub enum Failure {
    /// The server refused: `Error from server (<Reason>): <message>`.
    Server(Status),
    /// The client gave up: `error: <message>`.
    Client(String),
    /// Already reported (e.g. `auth can-i` printed `no`): exit 1 without a message.
    Silent,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // kubectl's `checkErr` for 422: "The <Kind> "<name>" is invalid: <cause>", or one
            // cause per line after "* " when there are several (`MultilineError`).
            Failure::Server(status)
                if status.reason == Reason::Invalid && !status.causes.is_empty() =>
            {
                // details.kind of a 422 is the (qualified) kind; kubectl prints the kind
                // alone and each cause as `<field>: <message>` (`statusCausesToAggrError`).
                let qualified = status.kind.as_deref().unwrap_or_default();
                let kind = resolve_resource(qualified).map_or_else(
                    || qualified.split('.').next().unwrap_or_default().to_owned(),
                    |k| k.kind.to_owned(),
                );
                let name = status.name.clone().unwrap_or_default();
                write!(f, "The {kind} {name:?} is invalid: ")?;
                let line = |cause: &skiff_core::status::Cause| {
                    if cause.field.is_empty() {
                        cause.message.clone()
                    } else {
                        format!("{}: {}", cause.field, cause.message)
                    }
                };
                match status.causes.as_slice() {
                    [one] => f.write_str(&line(one)),
                    many => {
                        for cause in many {
                            write!(f, "\n* {}", line(cause))?;
                        }
                        Ok(())
                    }
                }
            }
            // kubectl's `StandardErrorMessage` for API status errors.
            Failure::Server(status) => write!(
                f,
                "Error from server ({}): {}",
                status.reason.as_str(),
                status.message
            ),
            Failure::Client(message) => write!(f, "error: {message}"),
            Failure::Silent => Ok(()),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Status(status) => Failure::Server(status),
            ClientError::Transport(message) => Failure::Client(message),
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Client(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure::Client(message.to_owned())
    }
}

/// The result of a verb.
pub type Outcome = Result<(), Failure>;

/// Resolves a kind the way kubectl does, or says the server lacks it.
pub fn kind(name: &str) -> Result<&'static KindInfo, Failure> {
    kind_in(&skiff_core::object::KindRegistry::builtin(), name)
}

/// Resolves a kind among the built-ins and the server's custom kinds (`kinds`, learned by
/// discovery when connecting), or says the server lacks it.
pub fn kind_in(
    kinds: &skiff_core::object::KindRegistry,
    name: &str,
) -> Result<&'static KindInfo, Failure> {
    kinds.resolve_resource(name).ok_or_else(|| {
        Failure::Client(format!(
            "the server doesn't have a resource type \"{name}\""
        ))
    })
}

/// `KIND NAME rest…` or `KIND/NAME rest…`, as kubectl takes its arguments.
pub fn split_target(args: &[String]) -> Result<(&'static KindInfo, String, &[String]), Failure> {
    match args {
        [first, rest @ ..] if first.contains('/') => {
            let (k, name) = first.split_once('/').unwrap_or_default();
            Ok((kind(k)?, name.to_owned(), rest))
        }
        [k, name, rest @ ..] => Ok((kind(k)?, name.clone(), rest)),
        _ => Err(
            "you must specify the type of resource and its name (TYPE NAME or TYPE/NAME)".into(),
        ),
    }
}

fn namespace_for<'a>(info: &KindInfo, namespace: &'a str) -> &'a str {
    if info.namespaced { namespace } else { "" }
}

fn print(out: &mut dyn Write, line: &str) {
    let _ = writeln!(out, "{line}");
}

// ---------------------------------------------------------------------------------------------
// label, annotate
// ---------------------------------------------------------------------------------------------

/// Labels or annotations: which map `label`/`annotate` edit, and kubectl's words for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaMap {
    /// `metadata.labels` (`kubectl label`).
    Labels,
    /// `metadata.annotations` (`kubectl annotate`).
    Annotations,
}

/// `KEY=VALUE` to set and `KEY-` to remove (kubectl's `parseLabels`).
fn parse_changes(
    which: MetaMap,
    specs: &[String],
) -> Result<(BTreeMap<String, String>, Vec<String>), Failure> {
    let noun = match which {
        MetaMap::Labels => "label",
        MetaMap::Annotations => "annotation",
    };
    let mut set = BTreeMap::new();
    let mut remove = Vec::new();
    for spec in specs {
        if let Some((key, value)) = spec.split_once('=') {
            if key.is_empty() || (which == MetaMap::Labels && value.contains('=')) {
                return Err(format!("invalid {noun} spec: {spec}").into());
            }
            set.insert(key.to_owned(), value.to_owned());
        } else if let Some(key) = spec.strip_suffix('-') {
            remove.push(key.to_owned());
        } else {
            return Err(format!("unknown {noun} spec: {spec}").into());
        }
    }
    if remove.iter().any(|k| set.contains_key(k)) {
        return Err(format!("can not both modify and remove {noun} in the same command").into());
    }
    if set.is_empty() && remove.is_empty() {
        return Err(format!("at least one {noun} update is required").into());
    }
    Ok((set, remove))
}

/// `kubectl label` / `kubectl annotate`: sets and removes keys with a merge patch, refusing to
/// change an existing value without `--overwrite` (kubectl's `validateNoOverwrites` and
/// `validateNoAnnotationOverwrites` wording).
#[allow(
    clippy::too_many_arguments,
    reason = "the verb's flags, passed through from clap"
)]
pub async fn edit_meta(
    client: &dyn Client,
    out: &mut dyn Write,
    which: MetaMap,
    args: &[String],
    namespace: &str,
    overwrite: bool,
    resource_version: Option<String>,
) -> Outcome {
    let (info, name, specs) = split_target(args)?;
    let (set, remove) = parse_changes(which, specs)?;
    let ns = namespace_for(info, namespace);
    let current = client.get(info, ns, &name).await?;
    let old = match which {
        MetaMap::Labels => &current.metadata().labels,
        MetaMap::Annotations => &current.metadata().annotations,
    };
    if !overwrite {
        let clashes: Vec<String> = set
            .keys()
            .filter_map(|k| {
                old.get(k)
                    .map(|v| format!("'{k}' already has a value ({v})"))
            })
            .collect();
        if !clashes.is_empty() {
            return Err(match which {
                MetaMap::Labels => format!("{}, and --overwrite is false", clashes[0]),
                MetaMap::Annotations => format!(
                    "--overwrite is false but found the following declared annotation(s): {}",
                    clashes.join("; ")
                ),
            }
            .into());
        }
    }
    let mut new = old.clone();
    for key in &remove {
        new.remove(key);
    }
    new.extend(set.clone());
    let (field, done) = match which {
        MetaMap::Labels => (
            "labels",
            // kubectl's `updateDataChangeMsg`.
            if new == *old {
                "not labeled"
            } else if !overwrite && new.len() < old.len() {
                "unlabeled"
            } else {
                "labeled"
            },
        ),
        MetaMap::Annotations => ("annotations", "annotated"),
    };
    if new != *old || resource_version.is_some() {
        let mut changes = Map::new();
        for (k, v) in &set {
            changes.insert(k.clone(), Value::String(v.clone()));
        }
        for k in &remove {
            changes.insert(k.clone(), Value::Null);
        }
        let mut metadata = Map::new();
        metadata.insert(field.to_owned(), Value::Object(changes));
        if let Some(rv) = resource_version {
            metadata.insert("resourceVersion".to_owned(), Value::String(rv));
        }
        let patch = json!({ "metadata": metadata }).to_string().into_bytes();
        client
            .patch(info, ns, &name, PatchType::Merge, patch)
            .await?;
    }
    print(out, &format!("{} {done}", resource_name(&current)));
    Ok(())
}

/// `kubectl patch TYPE NAME -p PATCH [--type strategic|merge]`.
pub async fn patch(
    client: &dyn Client,
    out: &mut dyn Write,
    args: &[String],
    namespace: &str,
    patch: &str,
    patch_type: PatchType,
) -> Outcome {
    let (info, name, rest) = split_target(args)?;
    if !rest.is_empty() {
        return Err(format!("unexpected arguments: {}", rest.join(" ")).into());
    }
    let ns = namespace_for(info, namespace);
    let before = client.get(info, ns, &name).await?;
    let after = client
        .patch(info, ns, &name, patch_type, patch.as_bytes().to_vec())
        .await?;
    // kubectl prints "patched", or "patched (no change)" when the object is unchanged.
    let same = before.metadata().resource_version == after.metadata().resource_version;
    let suffix = if same { " (no change)" } else { "" };
    print(out, &format!("{} patched{suffix}", resource_name(&after)));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// taint, cordon, uncordon
// ---------------------------------------------------------------------------------------------

/// The effects a taint may have (upstream `TaintEffect`).
const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// kubectl's `Taint.ToString`: `key=value:effect`, `key:effect` or `key`.
fn taint_string(key: &str, value: Option<&str>, effect: &str) -> String {
    let mut s = key.to_owned();
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        s = format!("{s}={v}");
    }
    if !effect.is_empty() {
        s = format!("{s}:{effect}");
    }
    s
}

/// One `key=value:Effect` (add) or `key[:Effect]-` (remove) argument (kubectl's
/// `ParseTaints`).
fn parse_taint(spec: &str) -> Result<(bool, Taint), Failure> {
    let (remove, body) = match spec.strip_suffix('-') {
        Some(body) => (true, body),
        None => (false, spec),
    };
    let (kv, effect) = match body.split_once(':') {
        Some((kv, effect)) => (kv, effect),
        None if remove => (body, ""),
        None => return Err(format!("invalid taint spec: {spec}").into()),
    };
    if !effect.is_empty() && !TAINT_EFFECTS.contains(&effect) {
        return Err(
            format!("invalid taint spec: {spec}, unsupported taint effect {effect}").into(),
        );
    }
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) if !remove => (k, Some(v.to_owned())),
        Some(_) => return Err(format!("invalid taint spec: {spec}").into()),
        None => (kv, None),
    };
    if key.is_empty() || (!remove && effect.is_empty()) {
        return Err(format!("invalid taint spec: {spec}").into());
    }
    Ok((
        remove,
        Taint {
            key: key.to_owned(),
            value,
            effect: effect.to_owned(),
            time_added: None,
        },
    ))
}

/// `kubectl taint [nodes] NODE key=value:Effect … key[:Effect]-`: the node's whole taint list
/// (upstream keeps it atomic) sent back with the node's resourceVersion as precondition.
pub async fn taint(
    client: &dyn Client,
    out: &mut dyn Write,
    args: &[String],
    overwrite: bool,
) -> Outcome {
    let args = match args {
        [first, rest @ ..] if resolve_resource(first).is_some_and(|k| k.kind == "Node") => rest,
        _ => args,
    };
    let [node, specs @ ..] = args else {
        return Err("you must specify a node and at least one taint".into());
    };
    if specs.is_empty() {
        return Err("at least one taint update is required".into());
    }
    let mut adds = Vec::new();
    let mut removes = Vec::new();
    for spec in specs {
        let (remove, taint) = parse_taint(spec)?;
        if remove {
            removes.push(taint);
        } else {
            adds.push(taint);
        }
    }
    // The taint list is atomic, so the write carries the node's resourceVersion; when another
    // writer (the node lifecycle controller, say) got there first, read again and redo.
    let mut attempt = 0;
    let operation = loop {
        attempt += 1;
        match taint_once(client, node, &adds, &removes, overwrite).await {
            Err(Failure::Server(s))
                if s.reason == Reason::Conflict && attempt < TAINT_CONFLICT_RETRIES_MAX => {}
            other => break other?,
        }
    };
    print(out, &format!("node/{node} {operation}"));
    Ok(())
}

/// Attempts of `taint` against a node other writers keep changing.
const TAINT_CONFLICT_RETRIES_MAX: usize = 5;

/// One read-modify-write of a node's taints; kubectl's word for what it did.
async fn taint_once(
    client: &dyn Client,
    node: &str,
    adds: &[Taint],
    removes: &[Taint],
    overwrite: bool,
) -> Result<&'static str, Failure> {
    let Object::Node(current) = client.get(&info::NODE, "", node).await? else {
        return Err("not a node".into());
    };
    let old = &current.spec.taints;
    if !overwrite {
        let clash: Vec<&str> = adds
            .iter()
            .filter(|a| old.iter().any(|o| o.key == a.key && o.effect == a.effect))
            .map(|a| a.key.as_str())
            .collect();
        if !clash.is_empty() {
            return Err(format!(
                "node {node} already has {} taint(s) with same effect(s) and --overwrite is false",
                clash.join(",")
            )
            .into());
        }
    }
    let mut taints = old.clone();
    for r in removes {
        let before = taints.len();
        taints.retain(|t| !(t.key == r.key && (r.effect.is_empty() || t.effect == r.effect)));
        if taints.len() == before {
            return Err(format!(
                "taint {:?} not found",
                taint_string(&r.key, None, &r.effect)
            )
            .into());
        }
    }
    let mut replaced = false;
    for a in adds.iter().cloned() {
        if let Some(slot) = taints
            .iter_mut()
            .find(|t| t.key == a.key && t.effect == a.effect)
        {
            *slot = a;
            replaced = true;
        } else {
            taints.push(a);
        }
    }
    let operation = match (adds.is_empty(), removes.is_empty(), replaced) {
        (false, true, false) => "tainted",
        (true, false, _) => "untainted",
        _ => "modified",
    };
    let patch = json!({
        "metadata": {"resourceVersion": current.metadata.resource_version},
        "spec": {"taints": serde_json::to_value(&taints).map_err(|e| e.to_string())?},
    });
    client
        .patch(
            &info::NODE,
            "",
            node,
            PatchType::Strategic,
            patch.to_string().into_bytes(),
        )
        .await?;
    Ok(operation)
}

/// `kubectl cordon` (`unschedulable` true) and `uncordon` (false).
pub async fn cordon(
    client: &dyn Client,
    out: &mut dyn Write,
    node: &str,
    unschedulable: bool,
) -> Outcome {
    let Object::Node(current) = client.get(&info::NODE, "", node).await? else {
        return Err("not a node".into());
    };
    let word = if unschedulable {
        "cordoned"
    } else {
        "uncordoned"
    };
    if current.spec.unschedulable.unwrap_or(false) == unschedulable {
        print(out, &format!("node/{node} already {word}"));
        return Ok(());
    }
    let value = if unschedulable {
        json!(true)
    } else {
        Value::Null
    };
    let patch = json!({"spec": {"unschedulable": value}})
        .to_string()
        .into_bytes();
    client
        .patch(&info::NODE, "", node, PatchType::Strategic, patch)
        .await?;
    print(out, &format!("node/{node} {word}"));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// drain
// ---------------------------------------------------------------------------------------------

/// Options of `kubectl drain`.
#[derive(Debug, Clone, Default)]
pub struct DrainOptions {
    /// Leave DaemonSet-managed pods (they would come back anyway).
    pub ignore_daemonsets: bool,
    /// Delete pods no controller manages (they are lost).
    pub force: bool,
    /// Delete pods with emptyDir volumes (their data is lost).
    pub delete_emptydir_data: bool,
    /// Grace period for each pod; `None` uses the pod's own.
    pub grace_period: Option<i64>,
}

// kubectl `pkg/drain/filters.go` (1.2x) wording. `unmanagedFatal` really does begin with
// "cannot delete", so kubectl prints "cannot delete cannot delete Pods …".
const DAEMONSET_FATAL: &str = "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)";
const DAEMONSET_WARNING: &str = "ignoring DaemonSet-managed Pods";
const LOCAL_STORAGE_FATAL: &str =
    "Pods with local storage (use --delete-emptydir-data to override)";
const LOCAL_STORAGE_WARNING: &str = "deleting Pods with local storage";
const UNMANAGED_FATAL: &str =
    "cannot delete Pods that declare no controller (use --force to override)";
const UNMANAGED_WARNING: &str = "deleting Pods that declare no controller";
/// Annotation of a static pod's mirror (upstream `kubetypes.ConfigMirrorAnnotationKey`).
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// What drain does with one pod (kubectl's filters in their order: deleted, DaemonSet,
/// mirror, local storage, unreplicated; the first refusal wins).
enum Verdict {
    Skip,
    Delete,
    Warn(&'static str, bool),
    Fatal(&'static str),
}

fn judge(pod: &Pod, options: &DrainOptions) -> Verdict {
    if pod.metadata.deletion_timestamp.is_some() {
        return Verdict::Skip;
    }
    if matches!(pod.status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return Verdict::Delete;
    }
    let controller = pod
        .metadata
        .owner_references
        .iter()
        .find(|o| o.controller == Some(true));
    if controller.is_some_and(|c| c.kind == "DaemonSet") {
        return if options.ignore_daemonsets {
            Verdict::Warn(DAEMONSET_WARNING, false)
        } else {
            Verdict::Fatal(DAEMONSET_FATAL)
        };
    }
    if pod.metadata.annotations.contains_key(MIRROR_ANNOTATION) {
        return Verdict::Skip;
    }
    let mut warning = None;
    if pod.spec.volumes.iter().any(|v| v.empty_dir.is_some()) {
        if !options.delete_emptydir_data {
            return Verdict::Fatal(LOCAL_STORAGE_FATAL);
        }
        warning = Some(LOCAL_STORAGE_WARNING);
    }
    if controller.is_none() {
        if !options.force {
            return Verdict::Fatal(UNMANAGED_FATAL);
        }
        warning = Some(UNMANAGED_WARNING);
    }
    warning.map_or(Verdict::Delete, |w| Verdict::Warn(w, true))
}

/// `kubectl drain NODE`: cordons the node, then deletes the pods on it (skiff has no
/// PodDisruptionBudgets, so an eviction is a graceful delete), refusing with kubectl's
/// message when DaemonSet-managed, unmanaged or local-storage pods are there without the
/// flag that allows them. Warnings go to `err`, as kubectl writes them to stderr.
pub async fn drain(
    client: &dyn Client,
    out: &mut dyn Write,
    err: &mut dyn Write,
    node: &str,
    options: &DrainOptions,
) -> Outcome {
    cordon(client, out, node, true).await?;
    let pods = client
        .list(
            &info::POD,
            None,
            ListParams {
                field_selector: format!("spec.nodeName={node}"),
                ..ListParams::default()
            },
        )
        .await?
        .items;
    let mut fatals: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut warnings: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut doomed = Vec::new();
    for object in pods {
        let Object::Pod(pod) = object else { continue };
        let id = format!(
            "{}/{}",
            pod.metadata.namespace_or_empty(),
            pod.metadata.name_or_empty()
        );
        match judge(&pod, options) {
            Verdict::Skip => {}
            Verdict::Delete => doomed.push(pod),
            Verdict::Warn(w, delete) => {
                warnings.entry(w).or_default().push(id);
                if delete {
                    doomed.push(pod);
                }
            }
            Verdict::Fatal(f) => fatals.entry(f).or_default().push(id),
        }
    }
    if !fatals.is_empty() {
        let errors: Vec<String> = fatals
            .iter()
            .map(|(f, pods)| format!("cannot delete {f}: {}", pods.join(", ")))
            .collect();
        // kubectl's `utilerrors.NewAggregate`: one error alone, several in brackets.
        let joined = if errors.len() == 1 {
            errors[0].clone()
        } else {
            format!("[{}]", errors.join(", "))
        };
        let _ = writeln!(
            err,
            "error: unable to drain node {node:?} due to error: {joined}, continuing command..."
        );
        let _ = writeln!(
            err,
            "There are pending nodes to be drained:\n {node}\n{joined}"
        );
        return Err(Failure::Silent);
    }
    if !warnings.is_empty() {
        let parts: Vec<String> = warnings
            .iter()
            .map(|(w, pods)| format!("{w}: {}", pods.join(", ")))
            .collect();
        let _ = writeln!(err, "Warning: {}", parts.join("; "));
    }
    for pod in &doomed {
        let (ns, name) = (
            pod.metadata.namespace_or_empty(),
            pod.metadata.name_or_empty(),
        );
        print(out, &format!("evicting pod {ns}/{name}"));
    }
    for pod in &doomed {
        let (ns, name) = (
            pod.metadata.namespace_or_empty(),
            pod.metadata.name_or_empty(),
        );
        let options = DeleteOptions {
            grace_period_seconds: options.grace_period,
            uid: pod.metadata.uid.clone(),
            ..DeleteOptions::default()
        };
        match client.delete(&info::POD, ns, name, options).await {
            Ok(_) => print(out, &format!("pod/{name} evicted")),
            // Gone already: what eviction wanted.
            Err(ClientError::Status(s)) if s.code() == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    print(out, &format!("node/{node} drained"));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// api-resources, auth can-i
// ---------------------------------------------------------------------------------------------

/// Upstream's discovery order of API groups (kube-aggregator's group priorities: the core
/// group, then `apps` 17800, `rbac.authorization.k8s.io` 17000, `coordination.k8s.io` 16500).
fn group_rank(group: &str) -> usize {
    [
        "",
        "apps",
        "rbac.authorization.k8s.io",
        "coordination.k8s.io",
    ]
    .iter()
    .position(|g| *g == group)
    .unwrap_or(usize::MAX)
}

/// `kubectl api-resources`: NAME SHORTNAMES APIVERSION NAMESPACED KIND, groups in discovery
/// order and names sorted within a group.
pub fn api_resources(out: &mut dyn Write, namespaced: Option<bool>) {
    let mut kinds: Vec<&KindInfo> = KINDS
        .iter()
        .filter(|k| namespaced.is_none_or(|n| k.namespaced == n))
        .collect();
    kinds.sort_by_key(|k| (group_rank(k.group), k.group, k.plural));
    let mut rows = vec![
        ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>(),
    ];
    for k in kinds {
        rows.push(vec![
            k.plural.to_owned(),
            k.short_names.join(","),
            k.api_version.to_owned(),
            k.namespaced.to_string(),
            k.kind.to_owned(),
        ]);
    }
    let _ = write!(out, "{}", align(&rows));
}

/// `kubectl auth can-i VERB RESOURCE [NAME]`: asks the server's authorizer; prints `yes`, or
/// `no` (with the reason when there is one) and fails.
#[allow(
    clippy::too_many_arguments,
    reason = "the verb's flags, passed through from clap"
)]
pub async fn can_i(
    client: &dyn Client,
    out: &mut dyn Write,
    err: &mut dyn Write,
    verb: &str,
    resource: &str,
    name: Option<&str>,
    namespace: &str,
    all_namespaces: bool,
    user: Option<&str>,
    groups: &[String],
) -> Outcome {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    let (plural, group, namespaced) = if resource == "*" {
        ("*".to_owned(), "*".to_owned(), true)
    } else if let Some(k) = resolve_resource(resource) {
        (k.plural.to_owned(), k.group.to_owned(), k.namespaced)
    } else {
        // kubectl warns and asks anyway (the resource may be served by someone else).
        let _ = writeln!(
            err,
            "Warning: the server doesn't have a resource type '{resource}'"
        );
        let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
        (plural.to_owned(), group.to_owned(), true)
    };
    let review = AccessReview {
        user: user.unwrap_or_default().to_owned(),
        groups: groups.to_vec(),
        verb: verb.to_owned(),
        group,
        resource: plural,
        subresource: subresource.to_owned(),
        namespace: if namespaced && !all_namespaces {
            namespace.to_owned()
        } else {
            String::new()
        },
        name: name.unwrap_or_default().to_owned(),
    };
    let decision = client.access_review(review).await?;
    if decision.allowed {
        print(out, "yes");
        Ok(())
    } else {
        if decision.reason.is_empty() {
            print(out, "no");
        } else {
            print(out, &format!("no - {}", decision.reason));
        }
        Err(Failure::Silent)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use skiff_core::clock::ManualClock;
    use skiff_core::manifest;
    use skiff_store::apiserver::authn::UserInfo;
    use skiff_store::apiserver::{ApiServer, LocalClient};
    use skiff_store::{Backing, Store};

    use super::*;

    async fn cluster() -> (Arc<ApiServer>, LocalClient) {
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let store = Store::open(Backing::Memory, clock.clone()).unwrap();
        let api = Arc::new(ApiServer::new(store, clock, 7));
        api.bootstrap().await.unwrap();
        let client = LocalClient::new(api.clone(), "admin");
        (api, client)
    }

    async fn apply(client: &LocalClient, yaml: &str) {
        for object in manifest::parse_str("test.yaml", yaml).unwrap() {
            client.create(None, object).await.unwrap();
        }
    }

    fn args(words: &str) -> Vec<String> {
        words.split_whitespace().map(str::to_owned).collect()
    }

    fn text(out: &[u8]) -> String {
        String::from_utf8(out.to_vec()).unwrap()
    }

    fn client_error(outcome: Outcome) -> String {
        match outcome {
            Err(Failure::Client(message)) => message,
            other => panic!("expected a client-side error, got {other:?}"),
        }
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nginx\n  labels:\n    app: web\n  annotations:\n    a: '1'\n    b: '2'\nspec:\n  containers:\n  - name: nginx\n    image: nginx\n";

    #[tokio::test]
    async fn label_sets_removes_and_needs_overwrite_to_change_a_value() {
        let (_, client) = cluster().await;
        apply(&client, POD).await;
        let mut out = Vec::new();
        let label = |words: &'static str, overwrite: bool| {
            let client = &client;
            async move {
                let mut out = Vec::new();
                let result = edit_meta(
                    client,
                    &mut out,
                    MetaMap::Labels,
                    &args(words),
                    "default",
                    overwrite,
                    None,
                )
                .await;
                result.map(|()| text(&out))
            }
        };
        assert_eq!(
            label("pods nginx tier=front", false).await.unwrap(),
            "pod/nginx labeled\n"
        );
        assert_eq!(
            client_error(label("pod/nginx app=db", false).await.map(|_| ())),
            "'app' already has a value (web), and --overwrite is false"
        );
        assert_eq!(
            label("po nginx app=db", true).await.unwrap(),
            "pod/nginx labeled\n"
        );
        assert_eq!(
            label("pods nginx app=db", true).await.unwrap(),
            "pod/nginx not labeled\n"
        );
        assert_eq!(
            label("pods nginx tier-", false).await.unwrap(),
            "pod/nginx unlabeled\n"
        );
        assert_eq!(
            client_error(label("pods nginx", false).await.map(|_| ())),
            "at least one label update is required"
        );
        let pod = client.get(&info::POD, "default", "nginx").await.unwrap();
        assert_eq!(
            pod.metadata().labels,
            BTreeMap::from([("app".to_owned(), "db".to_owned())])
        );
        let refused = edit_meta(
            &client,
            &mut out,
            MetaMap::Annotations,
            &args("pods nginx a=x b=y c=z"),
            "default",
            false,
            None,
        )
        .await;
        assert_eq!(
            client_error(refused),
            "--overwrite is false but found the following declared annotation(s): 'a' already has a value (1); 'b' already has a value (2)"
        );
        edit_meta(
            &client,
            &mut out,
            MetaMap::Annotations,
            &args("pods nginx a- c=z"),
            "default",
            false,
            None,
        )
        .await
        .unwrap();
        assert_eq!(text(&out), "pod/nginx annotated\n");
        let pod = client.get(&info::POD, "default", "nginx").await.unwrap();
        assert_eq!(
            pod.metadata().annotations.keys().collect::<Vec<_>>(),
            ["b", "c"]
        );
    }

    const NODE: &str = "apiVersion: v1\nkind: Node\nmetadata:\n  name: worker-1\n";

    #[tokio::test]
    async fn taints_are_added_replaced_and_removed_in_kubectl_words() {
        let (_, client) = cluster().await;
        apply(&client, NODE).await;
        let mut out = Vec::new();
        taint(
            &client,
            &mut out,
            &args("nodes worker-1 dedicated=gpu:NoSchedule"),
            false,
        )
        .await
        .unwrap();
        assert_eq!(
            client_error(
                taint(
                    &client,
                    &mut out,
                    &args("worker-1 dedicated=cpu:NoSchedule"),
                    false
                )
                .await
            ),
            "node worker-1 already has dedicated taint(s) with same effect(s) and --overwrite is false"
        );
        taint(
            &client,
            &mut out,
            &args("worker-1 dedicated=cpu:NoSchedule"),
            true,
        )
        .await
        .unwrap();
        taint(
            &client,
            &mut out,
            &args("no worker-1 dedicated:NoSchedule-"),
            false,
        )
        .await
        .unwrap();
        assert_eq!(
            text(&out),
            "node/worker-1 tainted\nnode/worker-1 modified\nnode/worker-1 untainted\n"
        );
        assert_eq!(
            client_error(
                taint(
                    &client,
                    &mut out,
                    &args("worker-1 dedicated:NoSchedule-"),
                    false
                )
                .await
            ),
            "taint \"dedicated:NoSchedule\" not found"
        );
        assert_eq!(
            client_error(taint(&client, &mut out, &args("worker-1 a=b:Sometimes"), false).await),
            "invalid taint spec: a=b:Sometimes, unsupported taint effect Sometimes"
        );
        let Object::Node(node) = client.get(&info::NODE, "", "worker-1").await.unwrap() else {
            panic!("a Node")
        };
        assert!(node.spec.taints.is_empty());
    }

    /// A node with one pod of each kind drain tells apart.
    const DRAIN_FIXTURE: &str = r"
apiVersion: v1
kind: Pod
metadata: {name: bare, namespace: default}
spec: {nodeName: worker-1, containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: agent-x
  namespace: kube-system
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: d1, controller: true}]
spec: {nodeName: worker-1, containers: [{name: c, image: agent}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: default
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web, uid: r1, controller: true}]
spec: {nodeName: worker-1, containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: cache-1
  namespace: default
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: cache, uid: r2, controller: true}]
spec:
  nodeName: worker-1
  containers: [{name: c, image: redis}]
  volumes: [{name: scratch, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: elsewhere, namespace: default}
spec: {nodeName: worker-2, containers: [{name: c, image: nginx}]}
";

    #[tokio::test]
    async fn drain_refuses_daemonset_unmanaged_and_local_pods_without_their_flags() {
        let (_, client) = cluster().await;
        apply(&client, NODE).await;
        apply(&client, DRAIN_FIXTURE).await;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let refused = drain(
            &client,
            &mut out,
            &mut err,
            "worker-1",
            &DrainOptions::default(),
        )
        .await;
        assert!(matches!(refused, Err(Failure::Silent)));
        assert_eq!(text(&out), "node/worker-1 cordoned\n");
        let errors = "[cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): kube-system/agent-x, \
            cannot delete Pods with local storage (use --delete-emptydir-data to override): default/cache-1, \
            cannot delete cannot delete Pods that declare no controller (use --force to override): default/bare]";
        assert_eq!(
            text(&err),
            format!(
                "error: unable to drain node \"worker-1\" due to error: {errors}, continuing command...\n\
                 There are pending nodes to be drained:\n worker-1\n{errors}\n"
            )
        );
        for (ns, name) in [
            ("default", "bare"),
            ("default", "web-1"),
            ("default", "cache-1"),
        ] {
            let pod = client.get(&info::POD, ns, name).await.unwrap();
            assert!(
                pod.metadata().deletion_timestamp.is_none(),
                "{name} untouched"
            );
        }

        let (mut out, mut err) = (Vec::new(), Vec::new());
        let options = DrainOptions {
            ignore_daemonsets: true,
            force: true,
            delete_emptydir_data: true,
            grace_period: Some(0),
        };
        drain(&client, &mut out, &mut err, "worker-1", &options)
            .await
            .unwrap();
        assert_eq!(
            text(&err),
            "Warning: deleting Pods that declare no controller: default/bare; \
             deleting Pods with local storage: default/cache-1; \
             ignoring DaemonSet-managed Pods: kube-system/agent-x\n"
        );
        assert_eq!(
            text(&out),
            "node/worker-1 already cordoned\n\
             evicting pod default/bare\nevicting pod default/cache-1\nevicting pod default/web-1\n\
             pod/bare evicted\npod/cache-1 evicted\npod/web-1 evicted\nnode/worker-1 drained\n"
        );
        let left: Vec<String> = client
            .list(&info::POD, None, ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|p| p.metadata().name_or_empty().to_owned())
            .collect();
        assert_eq!(left, ["elsewhere", "agent-x"]);
        let Object::Node(node) = client.get(&info::NODE, "", "worker-1").await.unwrap() else {
            panic!("a Node")
        };
        assert_eq!(node.spec.unschedulable, Some(true));
        let mut out = Vec::new();
        cordon(&client, &mut out, "worker-1", false).await.unwrap();
        cordon(&client, &mut out, "worker-1", false).await.unwrap();
        assert_eq!(
            text(&out),
            "node/worker-1 uncordoned\nnode/worker-1 already uncordoned\n"
        );
    }

    #[tokio::test]
    async fn can_i_answers_yes_or_no_and_impersonation_is_for_admins() {
        let (api, admin) = cluster().await;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        can_i(
            &admin,
            &mut out,
            &mut err,
            "delete",
            "deploy",
            None,
            "default",
            false,
            None,
            &[],
        )
        .await
        .unwrap();
        let no = can_i(
            &admin,
            &mut out,
            &mut err,
            "list",
            "secrets",
            None,
            "default",
            false,
            Some("jane"),
            &[],
        )
        .await;
        assert!(matches!(no, Err(Failure::Silent)));
        assert_eq!(text(&out), "yes\nno\n");
        // jane herself may not ask as someone else: 403 in upstream's words.
        let review = AccessReview {
            user: "admin".into(),
            verb: "get".into(),
            resource: "pods".into(),
            ..AccessReview::default()
        };
        let refused = api
            .access_review(&UserInfo::new("jane", &["system:authenticated"]), &review)
            .unwrap_err();
        assert_eq!(
            refused.message,
            "users \"admin\" is forbidden: User \"jane\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        );
    }

    #[test]
    fn invalid_objects_are_reported_as_kubectl_does() {
        use skiff_core::status::Cause;
        let cause = |field: &str, message: &str| Cause {
            reason: "FieldValueInvalid".into(),
            field: field.into(),
            message: message.into(),
        };
        let mut status = Status {
            reason: Reason::Invalid,
            message: "ignored".into(),
            name: Some("web".into()),
            kind: Some("Deployment.apps".into()),
            causes: vec![cause(
                "spec.replicas",
                "Invalid value: -1: must be greater than or equal to 0",
            )],
        };
        assert_eq!(
            Failure::Server(status.clone()).to_string(),
            "The Deployment \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        status.causes.push(cause("metadata.name", "Required value"));
        assert_eq!(
            Failure::Server(status).to_string(),
            "The Deployment \"web\" is invalid: \n* spec.replicas: Invalid value: -1: must be greater than or equal to 0\n* metadata.name: Required value"
        );
    }

    #[test]
    fn api_resources_prints_kubectls_columns_in_discovery_order() {
        let mut out = Vec::new();
        api_resources(&mut out, None);
        insta::assert_snapshot!("api_resources", text(&out));
    }
}
