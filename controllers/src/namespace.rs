//! Namespace controller (upstream `pkg/controller/namespace`): empties a namespace that is
//! being deleted, then finalizes it.
//!
//! How skiff's API server deletes a Namespace (`store/src/apiserver`): a new Namespace gets
//! `spec.finalizers: [kubernetes]` and phase `Active` (`core::defaults::prepare_for_create`);
//! a delete sets `deletionTimestamp` and phase `Terminating` but keeps the object while a spec
//! finalizer remains (`holds_deletion`, `mark_terminating`); creates in a Terminating
//! namespace are refused (NamespaceLifecycle admission); and an **update** that leaves a
//! terminating Namespace with no spec and no metadata finalizers removes it. skiff serves no
//! `namespaces/<name>/finalize` subresource, so this controller finalizes with an ordinary
//! [`Action::Update`] (resourceVersion precondition) where upstream calls `Finalize`.
//!
//! Per namespace key (`("", name)`), [`reconcile_namespace`]:
//!
//! 1. Nothing unless the namespace has `deletionTimestamp` and still carries the `kubernetes`
//!    spec finalizer (other finalizers belong to others).
//! 2. Every namespaced object in it that is not already being deleted is deleted
//!    (background propagation, uid precondition; pods with their own grace period), in the
//!    order of [`namespaced_kinds`] then name.
//! 3. While anything is left (objects being deleted gracefully or held by finalizers), it
//!    waits: every deletion of content triggers it again, and it looks again after the
//!    latest pending pod deletion time or 5 s.
//! 4. Once the view holds nothing in the namespace, it removes `kubernetes` from
//!    `spec.finalizers`; with no other finalizer the API server then deletes the namespace.
//!
//! Not done: upstream's `NamespaceContentRemaining`/`NamespaceFinalizersRemaining`/… status
//! conditions.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use skiff_core::client::DeleteOptions;
use skiff_core::clock::unix_micros;
use skiff_core::defaults::FINALIZER_KUBERNETES;
use skiff_core::object::{HasKindInfo, KindInfo, KindRegistry, Namespace, Object};

use crate::reconcile::{Action, Controller, Output, Watched};
use crate::view::{ObjectKey, View};

#[cfg(test)]
mod tests;

/// How soon to look again while content remains and no pod deletion time is pending.
pub const RECHECK: Duration = Duration::from_secs(5);

/// Every namespaced kind skiff serves, in registry order (pods first).
pub fn namespaced_kinds() -> Vec<&'static KindInfo> {
    namespaced_kinds_in(&KindRegistry::builtin())
}

/// Every namespaced kind of `kinds`: the built-ins, then the namespaced custom kinds (upstream
/// deletes custom resources with their namespace too).
pub fn namespaced_kinds_in(kinds: &KindRegistry) -> Vec<&'static KindInfo> {
    kinds.kinds().filter(|k| k.namespaced).collect()
}

fn terminating(namespace: &Namespace) -> bool {
    namespace.metadata.deletion_timestamp.is_some()
        || namespace.status.phase.as_deref() == Some("Terminating")
}

/// The namespace controller's decision for namespace `name` at `now`.
pub fn reconcile_namespace(view: &View, name: &str, now: SystemTime) -> Output {
    reconcile_namespace_in(&KindRegistry::builtin(), view, name, now)
}

/// [`reconcile_namespace`] when `kinds` are served: their namespaced objects are deleted too.
pub fn reconcile_namespace_in(
    kinds: &KindRegistry,
    view: &View,
    name: &str,
    now: SystemTime,
) -> Output {
    let Some(namespace) = view.get::<Namespace>("", name) else {
        return Output::none();
    };
    if namespace.metadata.deletion_timestamp.is_none()
        || !namespace
            .spec
            .finalizers
            .iter()
            .any(|f| f == FINALIZER_KUBERNETES)
    {
        return Output::none();
    }
    let mut out = Output::none();
    let mut remaining = false;
    let mut wait_until: Option<i64> = None;
    for kind in namespaced_kinds_in(kinds) {
        for object in view
            .objects(kind.kind)
            .filter(|o| o.metadata().namespace_or_empty() == name)
        {
            remaining = true;
            let meta = object.metadata();
            if let Some(deleting) = meta.deletion_timestamp {
                if matches!(object, Object::Pod(_)) {
                    let at = deleting.unix_seconds.saturating_mul(1_000_000);
                    wait_until = Some(wait_until.map_or(at, |w| w.max(at)));
                }
                continue;
            }
            out.actions.push(Action::Delete {
                resource: kind,
                namespace: name.to_owned(),
                name: meta.name_or_empty().to_owned(),
                options: DeleteOptions {
                    uid: meta.uid.clone(),
                    ..DeleteOptions::default()
                },
            });
        }
    }
    if remaining {
        let now_us = unix_micros(now);
        let wait = wait_until.filter(|at| *at > now_us).map_or(RECHECK, |at| {
            Duration::from_micros(u64::try_from(at - now_us).unwrap_or(0))
        });
        out.requeue_at_most(wait);
        return out;
    }
    let mut finalized = namespace.clone();
    finalized
        .spec
        .finalizers
        .retain(|f| f != FINALIZER_KUBERNETES);
    out.actions.push(Action::Update(finalized.into()));
    out
}

/// The namespace controller as the runtime runs it; keys are `("", namespace)`.
#[derive(Debug, Clone, Default)]
pub struct NamespaceController {
    /// The kinds served: the namespaced custom ones are watched and deleted too.
    pub kinds: KindRegistry,
}

impl Controller for NamespaceController {
    fn name(&self) -> &'static str {
        "namespace-controller"
    }

    fn watches(&self) -> Vec<Watched> {
        std::iter::once(&Namespace::INFO)
            .chain(namespaced_kinds_in(&self.kinds))
            .map(Watched::all)
            .collect()
    }

    /// A Namespace: itself. Anything namespaced: its namespace, while that is terminating.
    fn keys_for(&self, view: &View, object: &Object) -> Vec<ObjectKey> {
        if let Object::Namespace(ns) = object {
            return vec![ObjectKey::new("", ns.metadata.name_or_empty())];
        }
        let namespace = object.metadata().namespace_or_empty();
        if view
            .get::<Namespace>("", namespace)
            .is_some_and(terminating)
        {
            vec![ObjectKey::new("", namespace)]
        } else {
            Vec::new()
        }
    }

    /// Every terminating namespace.
    fn resync_keys(&self, view: &View) -> Vec<ObjectKey> {
        let keys: BTreeSet<ObjectKey> = view
            .list::<Namespace>()
            .filter(|ns| terminating(ns))
            .map(|ns| ObjectKey::new("", ns.metadata.name_or_empty()))
            .collect();
        keys.into_iter().collect()
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, now: SystemTime) -> Output {
        if !key.namespace.is_empty() {
            return Output::none();
        }
        reconcile_namespace_in(&self.kinds, view, &key.name, now)
    }
}
