//! `--pods N`: a standing pod population for scale runs (issue #7's 100 workers / 3,000 pods and
//! 5,000 workers / 150,000 pods). The client creates, for each set of [`FILL_REPLICAS_PER_SET`]
//! pods (the last one holds the remainder), a Namespace `fill-<i>` and in it a ReplicaSet
//! `fill-<i>` from the seed's ReplicaSet manifest (`examples/replicaset-definition.yaml`), once,
//! next to the seeded workload; the ReplicaSet controller, the scheduler and the kubelets then
//! bring every pod up, under every fault. An object already there (a client restart) is
//! skipped. Every answer goes to the [`Oracle`] like the workload's.
//!
//! One namespace per set, as upstream's scale tests do (clusterloader2's load test spreads its
//! objects over namespaces): upstream's ReplicaSet sync lists every pod of the set's namespace
//! (`podLister.Pods(rs.Namespace)`), so 150,000 pods in one namespace would make each sync scan
//! all of them.

use std::sync::{Arc, Mutex};

use skiff_core::client::{Client, ClientError};
use skiff_core::object::{Namespace, Object, ObjectMeta, ReplicaSet};
use skiff_core::status::Reason;

use crate::oracle::{AckOp, Oracle};
use crate::worker::{RETRY_BACKOFF_MAX, connect, lock, timed};

/// Replicas per fill ReplicaSet: below upstream's burst of 500 creates per sync
/// (`BurstReplicas`), so one sync creates a whole set.
pub const FILL_REPLICAS_PER_SET: u32 = 100;
/// The prefix of the fill ReplicaSets' names (the workload's own sets are `myapp-…`).
pub const FILL_PREFIX: &str = "fill-";

const REPLICA_SET_YAML: &str = include_str!("../../examples/replicaset-definition.yaml");

/// The fill ReplicaSets' `(name, replicas)` for `pods` pods.
pub fn plan(pods: u32) -> Vec<(String, u32)> {
    let mut sets = Vec::new();
    let mut left = pods;
    while left > 0 {
        let replicas = left.min(FILL_REPLICAS_PER_SET);
        sets.push((format!("{FILL_PREFIX}{}", sets.len()), replicas));
        left -= replicas;
    }
    sets
}

/// The fill ReplicaSet `name` (in the namespace `name`) with `replicas`: the example's,
/// renamed, with `app: <name>` on its selector and template.
///
/// # Panics
///
/// If the example manifest no longer parses as a ReplicaSet (it is part of this repository).
pub fn replica_set(name: &str, replicas: u32) -> ReplicaSet {
    let Object::ReplicaSet(mut rs) =
        skiff_core::manifest::parse_str("replicaset-definition.yaml", REPLICA_SET_YAML)
            .expect("examples/replicaset-definition.yaml parses")
            .remove(0)
    else {
        panic!("examples/replicaset-definition.yaml is not a ReplicaSet")
    };
    rs.metadata.name = Some(name.to_owned());
    rs.metadata.namespace = Some(name.to_owned());
    rs.metadata.labels.insert("app".to_owned(), name.to_owned());
    rs.spec.replicas = Some(i32::try_from(replicas).unwrap_or(i32::MAX));
    rs.spec
        .selector
        .get_or_insert_with(Default::default)
        .match_labels
        .insert("app".to_owned(), name.to_owned());
    rs.spec
        .template
        .metadata
        .labels
        .insert("app".to_owned(), name.to_owned());
    rs
}

/// Creates the fill ReplicaSets for `pods` pods over the wire, retrying each until it is
/// created or found already there. Returns when all exist (the node's death ends it early; a
/// restart begins again and skips what exists).
pub async fn run(server: String, token: String, pods: u32, oracle: Arc<Mutex<Oracle>>) {
    let sets = plan(pods);
    let mut next = 0;
    while next < sets.len() {
        let Ok(client) = connect(&server, &token).await else {
            tokio::time::sleep(RETRY_BACKOFF_MAX).await;
            continue;
        };
        while let Some((name, replicas)) = sets.get(next) {
            let namespace = Namespace {
                metadata: ObjectMeta::named(name.clone()),
                ..Namespace::default()
            };
            let r = timed(client.create(None, namespace.into())).await;
            match &r {
                Ok(_) => lock(&oracle).record(AckOp::Create, &r),
                Err(ClientError::Status(s)) if s.reason == Reason::AlreadyExists => {}
                Err(ClientError::Transport(_)) => {
                    lock(&oracle).record(AckOp::Create, &r);
                    break;
                }
                Err(ClientError::Status(_)) => {
                    lock(&oracle).record(AckOp::Create, &r);
                    tokio::time::sleep(RETRY_BACKOFF_MAX).await;
                    continue;
                }
            }
            let r = timed(client.create(None, replica_set(name, *replicas).into())).await;
            match &r {
                Ok(_) => {
                    lock(&oracle).record(AckOp::Create, &r);
                    next += 1;
                }
                Err(ClientError::Status(s)) if s.reason == Reason::AlreadyExists => next += 1,
                Err(ClientError::Transport(_)) => {
                    lock(&oracle).record(AckOp::Create, &r);
                    break;
                }
                Err(ClientError::Status(_)) => {
                    // Refused (a disk fault failed the write): the same set again.
                    lock(&oracle).record(AckOp::Create, &r);
                    tokio::time::sleep(RETRY_BACKOFF_MAX).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_splits_pods_into_sets_of_a_hundred() {
        assert_eq!(
            plan(250),
            [
                ("fill-0".to_owned(), 100),
                ("fill-1".to_owned(), 100),
                ("fill-2".to_owned(), 50)
            ]
        );
        assert_eq!(plan(0), []);
        assert_eq!(plan(150_000).len(), 1_500);
    }

    #[test]
    fn fill_sets_select_only_their_own_pods() {
        let rs = replica_set("fill-7", 100);
        assert_eq!(rs.metadata.name.as_deref(), Some("fill-7"));
        assert_eq!(rs.metadata.namespace.as_deref(), Some("fill-7"));
        assert_eq!(rs.spec.replicas, Some(100));
        assert_eq!(
            rs.spec
                .selector
                .as_ref()
                .and_then(|s| s.match_labels.get("app"))
                .map(String::as_str),
            Some("fill-7")
        );
        assert_eq!(
            rs.spec
                .template
                .metadata
                .labels
                .get("app")
                .map(String::as_str),
            Some("fill-7")
        );
    }
}
