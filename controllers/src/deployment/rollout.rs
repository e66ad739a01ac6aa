//! What `kubectl rollout status|history|undo|pause|resume` does for a Deployment, as pure
//! functions for skiff's CLI (upstream `kubectl/pkg/polymorphichelpers`: `rollout_status.go`,
//! `history.go`, `rollback.go`, `objectpauser.go`, `objectresumer.go`), with kubectl's wording.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use skiff_core::object::{Deployment, ReplicaSet};

use super::{ANNOTATIONS_TO_SKIP, CHANGE_CAUSE, POD_TEMPLATE_HASH, equal_ignore_hash, revision};
use crate::reconcile::Action;

/// `kubectl rollout status` for one look at the Deployment (upstream
/// `DeploymentStatusViewer.Status`): the line to print and whether the rollout is done.
///
/// # Errors
///
/// `deployment "<name>" exceeded its progress deadline` once the `Progressing` condition says
/// `ProgressDeadlineExceeded`.
pub fn rollout_status(d: &Deployment) -> Result<(String, bool), String> {
    let name = d.metadata.name_or_empty();
    let status = &d.status;
    if d.metadata.generation.unwrap_or(0) > status.observed_generation.unwrap_or(0) {
        return Ok((
            "Waiting for deployment spec update to be observed...\n".to_owned(),
            false,
        ));
    }
    let timed_out = status.conditions.iter().any(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if timed_out {
        return Err(format!(
            "deployment {name:?} exceeded its progress deadline"
        ));
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if let Some(want) = d.spec.replicas
        && updated < want
    {
        return Ok((
            format!(
                "Waiting for deployment {name:?} rollout to finish: {updated} out of {want} new replicas have been updated...\n"
            ),
            false,
        ));
    }
    if total > updated {
        return Ok((
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...\n",
                total - updated
            ),
            false,
        ));
    }
    if available < updated {
        return Ok((
            format!(
                "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available...\n"
            ),
            false,
        ));
    }
    Ok((
        format!("deployment {name:?} successfully rolled out\n"),
        true,
    ))
}

/// `kubectl rollout history` for a Deployment's ReplicaSets (upstream
/// `DeploymentHistoryViewer.ViewHistory`): one row per revision, its `kubernetes.io/change-cause`
/// or `<none>`, laid out as kubectl's tabwriter does (columns padded by 2). ReplicaSets without
/// a revision are skipped; `No rollout history found.` when none has one. The CLI prints the
/// `deployment.apps/<name>` line before it.
pub fn rollout_history(replica_sets: &[&ReplicaSet]) -> String {
    let mut causes: BTreeMap<i64, String> = BTreeMap::new();
    for rs in replica_sets {
        let Some(r) = revision(rs) else { continue };
        let cause = rs
            .metadata
            .annotations
            .get(CHANGE_CAUSE)
            .or_else(|| rs.spec.template.metadata.annotations.get(CHANGE_CAUSE))
            .filter(|c| !c.is_empty())
            .cloned()
            .unwrap_or_else(|| "<none>".to_owned());
        causes.insert(r, cause);
    }
    if causes.is_empty() {
        return "No rollout history found.".to_owned();
    }
    let width = causes
        .keys()
        .map(|r| r.to_string().len())
        .max()
        .unwrap_or(0)
        .max("REVISION".len())
        + 2;
    let mut out = format!("{:<width$}CHANGE-CAUSE\n", "REVISION");
    for (r, cause) in causes {
        let _ = writeln!(out, "{:<width$}{cause}", r.to_string());
    }
    out
}

/// `kubectl rollout history --revision=N`: the pod template of revision `revision` (the
/// latest ReplicaSet carrying it), which the CLI prints under `deployment.apps/<name> with
/// revision #N`.
///
/// # Errors
///
/// kubectl's `unable to find the specified revision`.
pub fn history_revision<'a>(
    replica_sets: &[&'a ReplicaSet],
    revision_number: i64,
) -> Result<&'a skiff_core::object::PodTemplateSpec, String> {
    replica_sets
        .iter()
        .rev()
        .find(|rs| revision(rs) == Some(revision_number))
        .map(|rs| &rs.spec.template)
        .ok_or_else(|| "unable to find the specified revision".to_owned())
}

/// What `kubectl rollout undo` decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Rollback {
    /// Nothing to write; the message kubectl prints (`deployment.apps/web skipped rollback
    /// (current template already matches revision 2)`).
    Skipped(String),
    /// Write this `Update` of the Deployment, then print the message (`deployment.apps/web
    /// rolled back`).
    RolledBack {
        /// The Deployment with the revision's template and annotations.
        action: Box<Action>,
        /// What kubectl prints.
        message: String,
    },
}

/// `kubectl rollout undo [--to-revision=N]` (upstream `DeploymentRollbacker.Rollback`): the
/// Deployment's template becomes the template of the ReplicaSet at `to_revision` (0: the
/// previous revision), without its `pod-template-hash` label; its annotations become that
/// ReplicaSet's (kubectl's skipped ones kept from the Deployment). The `Update` carries the
/// Deployment's resourceVersion as precondition.
///
/// # Errors
///
/// kubectl's: a paused Deployment, a negative or missing revision, no history.
pub fn rollback_to(
    d: &Deployment,
    to_revision: i64,
    replica_sets: &[&ReplicaSet],
) -> Result<Rollback, String> {
    let name = d.metadata.name_or_empty();
    if d.spec.paused.unwrap_or(false) {
        return Err(format!(
            "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume deployment/{name}' and try again"
        ));
    }
    if to_revision < 0 {
        return Err(format!(
            "unable to find specified revision {to_revision} in history"
        ));
    }
    let target = revision_replica_set(name, to_revision, replica_sets)?;
    if equal_ignore_hash(&target.spec.template, &d.spec.template) {
        return Ok(Rollback::Skipped(format!(
            "deployment.apps/{name} skipped rollback (current template already matches revision {to_revision})"
        )));
    }
    let mut template = target.spec.template.clone();
    template.metadata.labels.remove(POD_TEMPLATE_HASH);
    let mut annotations: BTreeMap<String, String> = ANNOTATIONS_TO_SKIP
        .iter()
        .filter_map(|k| {
            d.metadata
                .annotations
                .get(*k)
                .map(|v| ((*k).to_owned(), v.clone()))
        })
        .collect();
    for (k, v) in &target.metadata.annotations {
        if !ANNOTATIONS_TO_SKIP.contains(&k.as_str()) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    let mut next = d.clone();
    next.spec.template = template;
    next.metadata.annotations = annotations;
    Ok(Rollback::RolledBack {
        action: Box::new(Action::Update(next.into())),
        message: format!("deployment.apps/{name} rolled back"),
    })
}

/// upstream kubectl `deploymentRevision`: the ReplicaSet at `to_revision`, or for 0 the one
/// with the second-highest revision.
fn revision_replica_set<'a>(
    name: &str,
    to_revision: i64,
    replica_sets: &[&'a ReplicaSet],
) -> Result<&'a ReplicaSet, String> {
    let mut latest: Option<(i64, &ReplicaSet)> = None;
    let mut previous: Option<(i64, &ReplicaSet)> = None;
    for rs in replica_sets {
        let Some(v) = revision(rs) else { continue };
        if to_revision == 0 {
            if latest.is_none_or(|(l, _)| l < v) {
                previous = latest;
                latest = Some((v, rs));
            } else if previous.is_none_or(|(p, _)| p < v) {
                previous = Some((v, rs));
            }
        } else if v == to_revision {
            return Ok(rs);
        }
    }
    if to_revision > 0 {
        return Err(format!(
            "unable to find specified revision {to_revision} in history"
        ));
    }
    previous
        .map(|(_, rs)| rs)
        .ok_or_else(|| format!("no rollout history found for deployment {name:?}"))
}

/// `kubectl rollout pause` (`paused: true`) or `resume` (`paused: false`): the `Update` to
/// send and the line kubectl prints (`deployment.apps/web paused`).
///
/// # Errors
///
/// kubectl's `deployments.apps "web" is already paused` / `deployments.apps "web" is not
/// paused`.
pub fn set_paused(d: &Deployment, paused: bool) -> Result<(Action, String), String> {
    let name = d.metadata.name_or_empty();
    let now_paused = d.spec.paused.unwrap_or(false);
    if paused && now_paused {
        return Err(format!("deployments.apps {name:?} is already paused"));
    }
    if !paused && !now_paused {
        return Err(format!("deployments.apps {name:?} is not paused"));
    }
    let mut next = d.clone();
    next.spec.paused = paused.then_some(true);
    let verb = if paused { "paused" } else { "resumed" };
    Ok((
        Action::Update(next.into()),
        format!("deployment.apps/{name} {verb}"),
    ))
}
