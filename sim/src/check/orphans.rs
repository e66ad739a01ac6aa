//! Objects whose owner is gone are collected (upstream garbage collector: "if an object's
//! owners are all absent, the object is garbage" — dependents are deleted in the background
//! unless the owner was deleted with `propagationPolicy: Orphan`, which removes the owner
//! references instead). A liveness property: checked once the cluster has converged. An
//! orphan already being deleted (`deletionTimestamp` set, e.g. a pod in its grace period,
//! which only its kubelet can finish) counts as collected: the collector's part is done.

use std::collections::BTreeSet;

use skiff_core::object::Object;

use super::Violation;

/// The checker's name in reports.
pub const NAME: &str = "orphans-collected";

/// Reports every object whose owner references all name uids that no object has.
pub fn check(objects: &[Object], out: &mut Vec<Violation>) {
    let uids: BTreeSet<&str> = objects
        .iter()
        .filter_map(|o| o.metadata().uid.as_deref())
        .collect();
    for object in objects {
        let owners = &object.metadata().owner_references;
        if object.metadata().deletion_timestamp.is_none()
            && !owners.is_empty()
            && owners.iter().all(|o| !uids.contains(o.uid.as_str()))
        {
            let meta = object.metadata();
            out.push(Violation::OrphanNotCollected {
                object: format!(
                    "{} {}/{}",
                    object.info().kind,
                    meta.namespace_or_empty(),
                    meta.name_or_empty()
                ),
                owners: owners.iter().map(|o| o.uid.clone()).collect(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::config_map;
    use skiff_core::object::OwnerReference;

    #[test]
    fn a_dependent_of_a_deleted_owner_fires() {
        let owner = config_map("owner", 1);
        let mut kept = config_map("kept", 2);
        kept.metadata_mut().owner_references = vec![OwnerReference {
            uid: "uid-owner".into(),
            ..OwnerReference::default()
        }];
        let mut orphan = config_map("orphan", 3);
        orphan.metadata_mut().owner_references = vec![OwnerReference {
            uid: "uid-gone".into(),
            ..OwnerReference::default()
        }];
        let mut terminating = config_map("terminating", 4);
        terminating.metadata_mut().owner_references = orphan.metadata().owner_references.clone();
        terminating.metadata_mut().deletion_timestamp =
            Some(skiff_core::object::Time::from_unix_seconds(4));
        let mut out = Vec::new();
        check(&[owner, kept, orphan, terminating], &mut out);
        assert_eq!(
            out,
            [Violation::OrphanNotCollected {
                object: "ConfigMap default/orphan".into(),
                owners: vec!["uid-gone".into()],
            }]
        );
    }
}
