//! The chaos-test side of `PodKeeper` (pod_keeper.rs), shared by examples/chaos_test.rs and
//! sim/tests/testkit.rs: a workload that creates and deletes labelled ConfigMaps, and a
//! checker of the controller's invariant — a labelled ConfigMap never has more than one live
//! pod, and once the cluster has converged each has exactly one.

#![allow(
    dead_code,
    reason = "each example or test uses a part of the shared module"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use skiff_core::client::{Client, DeleteOptions};
use skiff_core::event::{Change, Event};
use skiff_core::object::{ConfigMap, HasKindInfo, Object, ObjectMeta};
use skiff_sim::check::user::Checker;

use super::pod_keeper::{LABEL, wants_pod};

/// The ConfigMaps the workload creates (`cache-1` …).
pub const CONFIG_MAPS: u32 = 4;

/// The workload: create `cache-1` … `cache-4` labelled (a few seconds apart), then delete
/// `cache-2`. Idempotent: run again after a crash of its node it changes nothing more.
pub async fn workload(client: Arc<dyn Client>) {
    for i in 1..=CONFIG_MAPS {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(format!("cache-{i}")),
                namespace: Some("default".into()),
                labels: [(LABEL.to_owned(), "true".to_owned())].into(),
                ..ObjectMeta::default()
            },
            data: [("image".to_owned(), "redis:7".to_owned())].into(),
            ..ConfigMap::default()
        };
        // Retried until it is there (a partition or a restart may lose the answer).
        loop {
            match client.create(Some("default"), cm.clone().into()).await {
                Ok(_) => break,
                Err(_)
                    if client
                        .get(&ConfigMap::INFO, "default", &format!("cache-{i}"))
                        .await
                        .is_ok() =>
                {
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    tokio::time::sleep(Duration::from_secs(20)).await;
    for _ in 0..30 {
        if client
            .delete(
                &ConfigMap::INFO,
                "default",
                "cache-2",
                DeleteOptions::default(),
            )
            .await
            .is_ok()
        {
            break;
        }
        if client
            .get(&ConfigMap::INFO, "default", "cache-2")
            .await
            .is_err()
        {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The checker's name.
pub const CHECKER: &str = "one-pod-per-keeper";

/// At most one live (not terminating) pod per owning ConfigMap at every revision; exactly one
/// per labelled ConfigMap once converged.
#[derive(Debug, Default)]
pub struct OnePodPerConfigMap {
    /// Live pods by owner uid: (pod namespace, pod name).
    live: BTreeMap<String, BTreeSet<(String, String)>>,
    /// Owner uid → `namespace/name` of the ConfigMap.
    owners: BTreeMap<String, String>,
}

fn live_owned_pods<'a>(
    objects: &'a [Object],
    uid: &'a str,
) -> impl Iterator<Item = &'a Object> + 'a {
    objects.iter().filter(move |o| {
        matches!(o, Object::Pod(_))
            && o.metadata().deletion_timestamp.is_none()
            && o.metadata().controller_ref().is_some_and(|r| r.uid == uid)
    })
}

fn labelled(objects: &[Object]) -> impl Iterator<Item = &ConfigMap> {
    objects.iter().filter_map(|o| match o {
        Object::ConfigMap(cm) if wants_pod(cm) && cm.metadata.deletion_timestamp.is_none() => {
            Some(cm)
        }
        _ => None,
    })
}

impl Checker for OnePodPerConfigMap {
    fn name(&self) -> &'static str {
        CHECKER
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<String>) {
        let (object, gone) = match &event.change {
            Change::Create(o) | Change::Update { object: o, .. } => {
                (o, o.metadata().deletion_timestamp.is_some())
            }
            Change::Delete(o) => (o, true),
            _ => return,
        };
        let meta = object.metadata();
        if let Object::ConfigMap(cm) = object {
            if let Some(uid) = &meta.uid {
                self.owners.insert(
                    uid.clone(),
                    format!(
                        "{}/{}",
                        meta.namespace_or_empty(),
                        cm.metadata.name_or_empty()
                    ),
                );
            }
            return;
        }
        let Object::Pod(_) = object else { return };
        let Some(owner) = meta.controller_ref().filter(|r| r.kind == "ConfigMap") else {
            return;
        };
        let pod = (
            meta.namespace_or_empty().to_owned(),
            meta.name_or_empty().to_owned(),
        );
        let pods = self.live.entry(owner.uid.clone()).or_default();
        if gone {
            pods.remove(&pod);
            return;
        }
        if pods.insert(pod) && pods.len() > 1 {
            let names: Vec<&str> = pods.iter().map(|(_, n)| n.as_str()).collect();
            out.push(format!(
                "ConfigMap {} has {} live pods: {}",
                self.owners.get(&owner.uid).map_or("?", String::as_str),
                pods.len(),
                names.join(", ")
            ));
        }
    }

    fn unconverged(&self, objects: &[Object]) -> Vec<String> {
        labelled(objects)
            .filter_map(|cm| {
                let uid = cm.metadata.uid.as_deref().unwrap_or_default();
                let n = live_owned_pods(objects, uid).count();
                (n != 1).then(|| {
                    format!(
                        "ConfigMap {}/{} has {n} live pods",
                        cm.metadata.namespace_or_empty(),
                        cm.metadata.name_or_empty()
                    )
                })
            })
            .collect()
    }

    fn finish(&mut self, objects: &[Object], out: &mut Vec<String>) {
        out.extend(self.unconverged(objects));
    }
}
