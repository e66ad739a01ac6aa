//! The API server's object life cycle: exact outcomes and upstream's messages.

use std::sync::Arc;
use std::time::Duration;

use skiff_core::clock::ManualClock;
use skiff_core::event::Actor;
use skiff_core::object::{ConfigMap, Container, Namespace, Object, ObjectMeta, Pod, Time, info};
use skiff_store::apiserver::{ApiServer, DeleteOptions, Deleted, Propagation, Reason};
use skiff_store::{Backing, Store};

const START_UNIX_SECONDS: u64 = 1_700_000_000;

/// A server over a fresh store, bootstrapped as a cluster starts (the `default` namespace and
/// its ServiceAccount exist).
async fn server() -> (ApiServer, ManualClock) {
    let clock = ManualClock::new(START_UNIX_SECONDS);
    let store = Store::open(Backing::Memory, Arc::new(clock.clone())).unwrap();
    let api = ApiServer::new(store, Arc::new(clock.clone()), 42);
    api.bootstrap().await.unwrap();
    (api, clock)
}

fn admin() -> Actor {
    Actor::new("admin")
}

fn pod(name: &str) -> Object {
    Pod::new(name, vec![Container::new("nginx", "nginx:1.27")]).into()
}

fn status_of(
    result: Result<impl std::fmt::Debug, skiff_store::apiserver::ApiError>,
) -> (u16, String) {
    let err = result.unwrap_err();
    let status = err.status().expect("a rejection");
    (status.code(), status.message.clone())
}

#[tokio::test]
async fn create_fills_uid_timestamp_generation_and_default_namespace() {
    let (api, _) = server().await;
    let created = api.create(&admin(), None, pod("nginx")).await.unwrap();
    let meta = created.metadata();
    assert_eq!(meta.namespace.as_deref(), Some("default"));
    assert_eq!(
        meta.creation_timestamp,
        Some(Time::from_unix_seconds(1_700_000_000))
    );
    assert_eq!(meta.generation, Some(1));
    let head = api.store().status().unwrap().revision;
    assert_eq!(meta.resource_version, Some(head.to_string()));
    let uid = meta.uid.clone().unwrap();
    assert_eq!(uid.len(), 36);
    assert_eq!(&uid[14..15], "4", "a version-4 uid: {uid}");
    let again = api.get(&info::POD, "default", "nginx").unwrap();
    assert_eq!(again, created);
}

#[tokio::test]
async fn generate_name_appends_a_five_character_suffix() {
    let (api, _) = server().await;
    let mut object = pod("");
    object.metadata_mut().name = None;
    object.metadata_mut().generate_name = Some("web-".into());
    let first = api
        .create(&admin(), Some("default"), object.clone())
        .await
        .unwrap();
    let second = api.create(&admin(), Some("default"), object).await.unwrap();
    let (a, b) = (
        first.metadata().name_or_empty(),
        second.metadata().name_or_empty(),
    );
    assert!(a.starts_with("web-") && a.len() == 9, "{a}");
    assert_ne!(a, b);
    assert!(
        a[4..]
            .bytes()
            .all(|c| b"bcdfghjklmnpqrstvwxz2456789".contains(&c))
    );
}

#[tokio::test]
async fn errors_carry_upstream_codes_and_messages() {
    let (api, _) = server().await;
    api.create(&admin(), None, pod("nginx")).await.unwrap();
    assert_eq!(
        status_of(api.create(&admin(), None, pod("nginx")).await),
        (409, "pods \"nginx\" already exists".into())
    );
    assert_eq!(
        status_of(api.get(&info::POD, "default", "nope")),
        (404, "pods \"nope\" not found".into())
    );
    let mut invalid = pod("Bad_Name");
    if let Object::Pod(p) = &mut invalid {
        p.spec.containers[0].image = None;
    }
    let err = api.create(&admin(), None, invalid).await.unwrap_err();
    let status = err.status().unwrap();
    assert_eq!(status.reason, Reason::Invalid);
    assert_eq!(status.code(), 422);
    let fields: Vec<&str> = status.causes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["metadata.name", "spec.containers[0].image"]);
    assert!(
        status.message.starts_with(
            "Pod \"Bad_Name\" is invalid: [metadata.name: Invalid value: \"Bad_Name\""
        ),
        "{}",
        status.message
    );
    let mut mismatched = pod("x");
    mismatched.metadata_mut().namespace = Some("a".into());
    assert_eq!(
        status_of(api.create(&admin(), Some("b"), mismatched).await),
        (400, "the namespace of the provided object (a) does not match the namespace sent on the request (b)".into())
    );
}

#[tokio::test]
async fn stale_resource_version_is_a_conflict_and_loses_nothing() {
    let (api, _) = server().await;
    let created = api.create(&admin(), None, pod("nginx")).await.unwrap();
    let mut first = created.clone();
    first.metadata_mut().labels.insert("a".into(), "1".into());
    api.update(&admin(), first).await.unwrap();
    let mut stale = created;
    stale.metadata_mut().labels.insert("b".into(), "2".into());
    assert_eq!(
        status_of(api.update(&admin(), stale).await),
        (409, "Operation cannot be fulfilled on pods \"nginx\": the object has been modified; please apply your changes to the latest version and try again".into())
    );
    let now = api.get(&info::POD, "default", "nginx").unwrap();
    assert_eq!(now.metadata().labels.keys().collect::<Vec<_>>(), ["a"]);
}

#[tokio::test]
async fn an_update_that_changes_nothing_writes_nothing_unless_its_precondition_fails() {
    let (api, _) = server().await;
    let created = api.create(&admin(), None, pod("nginx")).await.unwrap();
    let rv = created.metadata().resource_version.clone().unwrap();
    let same = api.update(&admin(), created.clone()).await.unwrap();
    assert_eq!(same, created);
    // No revision was spent: the next write gets the one after the create's.
    let next = api.create(&admin(), None, pod("other")).await.unwrap();
    assert_eq!(
        next.metadata().resource_version,
        Some((rv.parse::<u64>().unwrap() + 1).to_string())
    );
    let mut stale = created.clone();
    stale.metadata_mut().resource_version = Some("1".into());
    assert_eq!(
        status_of(api.update(&admin(), stale).await),
        (409, "Operation cannot be fulfilled on pods \"nginx\": the object has been modified; please apply your changes to the latest version and try again".into())
    );
}

#[tokio::test]
async fn generation_counts_desired_state_changes_only() {
    let (api, _) = server().await;
    let created = api.create(&admin(), None, pod("nginx")).await.unwrap();
    let mut relabeled = created.clone();
    relabeled
        .metadata_mut()
        .labels
        .insert("tier".into(), "web".into());
    let relabeled = api.update(&admin(), relabeled).await.unwrap();
    assert_eq!(relabeled.metadata().generation, Some(1));
    let mut respec = relabeled;
    if let Object::Pod(p) = &mut respec {
        p.spec.containers[0].image = Some("nginx:1.28".into());
    }
    let respec = api.update(&admin(), respec).await.unwrap();
    assert_eq!(respec.metadata().generation, Some(2));
    // Status changes only through update_status, and never bump generation.
    let mut with_status = respec.clone();
    if let Object::Pod(p) = &mut with_status {
        p.status.phase = Some("Running".into());
    }
    let ignored = api.update(&admin(), with_status.clone()).await.unwrap();
    let Object::Pod(p) = &ignored else { panic!() };
    assert_eq!(p.status.phase.as_deref(), Some("Pending"));
    with_status.metadata_mut().resource_version = None;
    let updated = api
        .update_status(&Actor::new("system:node:n1"), with_status)
        .await
        .unwrap();
    let Object::Pod(p) = &updated else { panic!() };
    assert_eq!(
        (p.status.phase.as_deref(), updated.metadata().generation),
        (Some("Running"), Some(2))
    );
}

#[tokio::test]
async fn deleting_an_unscheduled_pod_is_immediate() {
    let (api, _) = server().await;
    api.create(&admin(), None, pod("nginx")).await.unwrap();
    let deleted = api
        .delete(
            &admin(),
            &info::POD,
            "default",
            "nginx",
            &DeleteOptions::default(),
        )
        .await
        .unwrap();
    assert!(matches!(deleted, Deleted::Gone(_)));
    assert!(api.get(&info::POD, "default", "nginx").is_err());
}

#[tokio::test]
async fn deleting_a_bound_pod_starts_its_grace_period() {
    let (api, clock) = server().await;
    let mut bound = pod("nginx");
    if let Object::Pod(p) = &mut bound {
        p.spec.node_name = Some("worker-1".into());
    }
    api.create(&admin(), None, bound).await.unwrap();
    clock.advance(Duration::from_secs(10));
    let Deleted::Pending(pending) = api
        .delete(
            &admin(),
            &info::POD,
            "default",
            "nginx",
            &DeleteOptions::default(),
        )
        .await
        .unwrap()
    else {
        panic!("a bound pod waits for its kubelet")
    };
    assert_eq!(pending.metadata().deletion_grace_period_seconds, Some(30));
    assert_eq!(
        pending.metadata().deletion_timestamp,
        Some(Time::from_unix_seconds(1_700_000_040))
    );
    // The kubelet confirms with grace period 0 once the containers are gone.
    let now = DeleteOptions {
        grace_period_seconds: Some(0),
        ..DeleteOptions::default()
    };
    assert!(matches!(
        api.delete(
            &Actor::new("system:node:worker-1"),
            &info::POD,
            "default",
            "nginx",
            &now
        )
        .await
        .unwrap(),
        Deleted::Gone(_)
    ));
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let (api, _) = server().await;
    let mut cm = ConfigMap {
        metadata: ObjectMeta::named("held"),
        ..ConfigMap::default()
    };
    cm.metadata.finalizers.push("example.com/cleanup".into());
    api.create(&admin(), None, cm.into()).await.unwrap();
    let info = &info::CONFIG_MAP;
    let Deleted::Pending(pending) = api
        .delete(&admin(), info, "default", "held", &DeleteOptions::default())
        .await
        .unwrap()
    else {
        panic!("a finalizer holds the object")
    };
    assert!(pending.metadata().deletion_timestamp.is_some());
    let mut released = pending;
    released.metadata_mut().finalizers.clear();
    api.update(&admin(), released).await.unwrap();
    assert_eq!(
        status_of(api.get(info, "default", "held")),
        (404, "configmaps \"held\" not found".into())
    );
}

#[tokio::test]
async fn foreground_propagation_is_recorded_as_a_finalizer() {
    let (api, _) = server().await;
    let ns = Namespace {
        metadata: ObjectMeta::named("team"),
        ..Namespace::default()
    };
    api.create(&admin(), None, ns.into()).await.unwrap();
    let options = DeleteOptions {
        propagation: Propagation::Foreground,
        ..DeleteOptions::default()
    };
    let Deleted::Pending(pending) = api
        .delete(&admin(), &info::NAMESPACE, "", "team", &options)
        .await
        .unwrap()
    else {
        panic!("foreground deletion waits for dependents")
    };
    assert_eq!(pending.metadata().finalizers, ["foregroundDeletion"]);
}

#[tokio::test]
async fn binding_sets_node_and_pod_scheduled_once() {
    let (api, _) = server().await;
    let created = api.create(&admin(), None, pod("web")).await.unwrap();
    let uid = created.metadata().uid.clone();
    let binding = skiff_store::apiserver::Binding {
        node: "node-1".into(),
        uid: uid.clone(),
        resource_version: None,
    };
    let bound = api
        .bind(
            &Actor::new("system:kube-scheduler"),
            "default",
            "web",
            &binding,
        )
        .await
        .unwrap();
    let Object::Pod(bound) = bound else {
        unreachable!()
    };
    assert_eq!(bound.spec.node_name.as_deref(), Some("node-1"));
    let scheduled: Vec<(&str, &str)> = bound
        .status
        .conditions
        .iter()
        .map(|c| (c.r#type.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(scheduled, [("PodScheduled", "True")]);
    let again = skiff_store::apiserver::Binding {
        node: "node-2".into(),
        uid,
        resource_version: None,
    };
    assert_eq!(
        status_of(api.bind(&admin(), "default", "web", &again).await),
        (
            409,
            "Operation cannot be fulfilled on pods \"web\": pod web is already assigned to node \"node-1\"".to_owned()
        )
    );
    let stale = skiff_store::apiserver::Binding {
        node: "node-2".into(),
        uid: Some("not-the-uid".into()),
        resource_version: None,
    };
    assert_eq!(
        status_of(api.bind(&admin(), "default", "web", &stale).await).0,
        409
    );
}

#[tokio::test]
async fn updating_a_pod_in_its_grace_period_keeps_it() {
    let (api, _) = server().await;
    let mut bound = pod("nginx");
    if let Object::Pod(p) = &mut bound {
        p.spec.node_name = Some("worker-1".into());
    }
    api.create(&admin(), None, bound).await.unwrap();
    let Deleted::Pending(mut pending) = api
        .delete(
            &admin(),
            &info::POD,
            "default",
            "nginx",
            &DeleteOptions::default(),
        )
        .await
        .unwrap()
    else {
        panic!("a bound pod waits for its kubelet")
    };
    pending
        .metadata_mut()
        .labels
        .insert("evicted".into(), "yes".into());
    let updated = api.update(&admin(), pending).await.unwrap();
    assert_eq!(updated.metadata().labels["evicted"], "yes");
    assert_eq!(updated.metadata().deletion_grace_period_seconds, Some(30));
    assert!(api.get(&info::POD, "default", "nginx").is_ok());
}
