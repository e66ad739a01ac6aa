//! ServiceAccount controller (upstream `pkg/controller/serviceaccount`,
//! `serviceAccountsToEnsure`): every active namespace has a `default` ServiceAccount.
//!
//! skiff's API server already creates a namespace's `default` ServiceAccount in the
//! namespace's own transaction (`store/src/apiserver/admission.rs`); this controller restores
//! it when it is deleted, as upstream's does. Namespaces being deleted are skipped (creates in
//! them are refused anyway).

use std::time::SystemTime;

use skiff_core::object::{HasKindInfo, Namespace, Object, ObjectMeta, ServiceAccount};

use crate::reconcile::{Action, Controller, Output, Watched};
use crate::view::{ObjectKey, View};

/// The ServiceAccount every namespace gets (upstream `DefaultServiceAccountName`).
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

/// The ServiceAccount controller's decision for namespace `name`.
pub fn reconcile_namespace(view: &View, name: &str) -> Output {
    let Some(namespace) = view.get::<Namespace>("", name) else {
        return Output::none();
    };
    let active = namespace.metadata.deletion_timestamp.is_none()
        && namespace.status.phase.as_deref() != Some("Terminating");
    if !active
        || view
            .get::<ServiceAccount>(name, DEFAULT_SERVICE_ACCOUNT)
            .is_some()
    {
        return Output::none();
    }
    let account = ServiceAccount {
        metadata: ObjectMeta {
            namespace: Some(name.to_owned()),
            ..ObjectMeta::named(DEFAULT_SERVICE_ACCOUNT)
        },
        ..ServiceAccount::default()
    };
    Output {
        actions: vec![Action::Create(account.into())],
        requeue_after: None,
    }
}

/// The ServiceAccount controller as the runtime runs it; keys are `("", namespace)`.
#[derive(Debug, Clone, Default)]
pub struct ServiceAccountController;

impl Controller for ServiceAccountController {
    fn name(&self) -> &'static str {
        "serviceaccount-controller"
    }

    /// Namespaces, and only the `default` ServiceAccounts.
    fn watches(&self) -> Vec<Watched> {
        vec![
            Watched::all(&Namespace::INFO),
            Watched {
                resource: &ServiceAccount::INFO,
                label_selector: String::new(),
                field_selector: format!("metadata.name={DEFAULT_SERVICE_ACCOUNT}"),
            },
        ]
    }

    fn keys_for(&self, _view: &View, object: &Object) -> Vec<ObjectKey> {
        match object {
            Object::Namespace(ns) => vec![ObjectKey::new("", ns.metadata.name_or_empty())],
            Object::ServiceAccount(sa) => {
                vec![ObjectKey::new("", sa.metadata.namespace_or_empty())]
            }
            _ => Vec::new(),
        }
    }

    fn resync_keys(&self, view: &View) -> Vec<ObjectKey> {
        view.list::<Namespace>()
            .map(|ns| ObjectKey::new("", ns.metadata.name_or_empty()))
            .collect()
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, _now: SystemTime) -> Output {
        if !key.namespace.is_empty() {
            return Output::none();
        }
        reconcile_namespace(view, &key.name)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use skiff_core::object::Time;

    use super::*;

    fn namespace(name: &str, phase: &str) -> Namespace {
        let mut ns = Namespace::default();
        ns.metadata.name = Some(name.into());
        ns.status.phase = Some(phase.into());
        ns
    }

    fn account(namespace: &str, name: &str) -> ServiceAccount {
        ServiceAccount {
            metadata: ObjectMeta {
                namespace: Some(namespace.into()),
                ..ObjectMeta::named(name)
            },
            ..ServiceAccount::default()
        }
    }

    fn view_of(objects: impl IntoIterator<Item = Object>) -> View {
        let mut view = View::new();
        for o in objects {
            view.insert(o);
        }
        view
    }

    #[test]
    fn active_namespace_without_default_account_gets_one() {
        let view = view_of([
            namespace("dev", "Active").into(),
            account("dev", "builder").into(),
        ]);
        assert_eq!(
            reconcile_namespace(&view, "dev"),
            Output {
                actions: vec![Action::Create(account("dev", "default").into())],
                requeue_after: None,
            }
        );
    }

    #[test]
    fn namespace_with_default_account_is_left_alone() {
        let view = view_of([
            namespace("dev", "Active").into(),
            account("dev", "default").into(),
        ]);
        assert_eq!(reconcile_namespace(&view, "dev"), Output::none());
    }

    #[test]
    fn terminating_or_missing_namespace_gets_no_account() {
        let mut deleting = namespace("old", "Active");
        deleting.metadata.deletion_timestamp = Some(Time::from_unix_seconds(1));
        let view = view_of([namespace("gone", "Terminating").into(), deleting.into()]);
        assert_eq!(reconcile_namespace(&view, "gone"), Output::none());
        assert_eq!(reconcile_namespace(&view, "old"), Output::none());
        assert_eq!(reconcile_namespace(&view, "nowhere"), Output::none());
    }

    #[test]
    fn deleting_the_default_account_concerns_its_namespace() {
        let c = ServiceAccountController;
        assert_eq!(
            c.keys_for(&View::new(), &account("dev", "default").into()),
            [ObjectKey::new("", "dev")]
        );
        assert_eq!(
            c.watches()[1].field_selector,
            "metadata.name=default".to_owned()
        );
    }

    proptest! {
        #[test]
        fn same_view_gives_the_same_output(
            spaces in proptest::collection::vec((0..5u8, proptest::bool::ANY, proptest::bool::ANY), 0..6)
        ) {
            let mut objects: Vec<Object> = Vec::new();
            for (i, active, has_default) in &spaces {
                let name = format!("ns{i}");
                objects.push(namespace(&name, if *active { "Active" } else { "Terminating" }).into());
                if *has_default {
                    objects.push(account(&name, "default").into());
                }
            }
            let view = view_of(objects);
            let mut c = ServiceAccountController;
            for key in c.resync_keys(&view) {
                let a = c.reconcile(&view, &key, SystemTime::UNIX_EPOCH);
                prop_assert_eq!(&a, &reconcile_namespace(&view, &key.name));
            }
        }
    }
}
