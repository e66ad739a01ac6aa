//! User controllers run by `ClusterBuilder::controller`: the pure reconcile's exact actions,
//! the controller acting in-process as its own service account under its own Lease, RBAC
//! limiting it, and the garbage collector collecting what it created when its owner goes.

#[path = "../examples/support/pod_keeper.rs"]
mod pod_keeper;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use pod_keeper::{LABEL, PodKeeper};
use skiff::Cluster;
use skiff::controller::{AuthorizedClient, user_of};
use skiff::controllers::reconcile::{Action, Controller};
use skiff::controllers::runtime::TokioClock;
use skiff::controllers::view::{ObjectKey, View};
use skiff::core::client::{Client, ClientError, DeleteOptions};
use skiff::core::object::{
    ConfigMap, Container, HasKindInfo, Lease, ObjectMeta, OwnerReference, Pod, PolicyRule,
};
use skiff::store::apiserver::ApiHandler;
use skiff::store::apiserver::authn::Authenticator;

fn config_map(name: &str, uid: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(uid.into()),
            resource_version: Some("5".into()),
            labels: [(LABEL.to_owned(), "true".to_owned())].into(),
            ..ObjectMeta::default()
        },
        data: [("image".to_owned(), "redis:7".to_owned())].into(),
        ..ConfigMap::default()
    }
}

fn owned_pod(name: &str, uid: &str, owner_uid: &str) -> Pod {
    let mut pod = Pod::new(name, vec![Container::new("main", "redis:7")]);
    pod.metadata.namespace = Some("default".into());
    pod.metadata.uid = Some(uid.into());
    pod.metadata.resource_version = Some("6".into());
    pod.metadata.owner_references = vec![OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: "cache".into(),
        uid: owner_uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }];
    pod
}

fn described(actions: &[Action]) -> Vec<String> {
    actions.iter().map(Action::describe).collect()
}

#[test]
fn pod_keeper_creates_one_owned_pod_for_a_labelled_config_map() {
    let mut view = View::new();
    view.insert(config_map("cache", "cm-1").into());
    let key = ObjectKey::new("default", "cache");
    let out = PodKeeper::new().reconcile(&view, &key, UNIX_EPOCH);
    assert_eq!(described(&out.actions), ["create pod/default/cache-pod"]);
    let Action::Create(skiff::core::object::Object::Pod(pod)) = &out.actions[0] else {
        panic!("not a pod: {:?}", out.actions);
    };
    assert_eq!(pod.spec.containers[0].image.as_deref(), Some("redis:7"));
    assert_eq!(
        pod.metadata.owner_references,
        [OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "cache".into(),
            uid: "cm-1".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]
    );
    assert_eq!(out.requeue_after, None);
}

#[test]
fn pod_keeper_deletes_extra_pods_with_a_uid_precondition() {
    let mut view = View::new();
    view.insert(config_map("cache", "cm-1").into());
    view.insert(owned_pod("cache-pod", "p-1", "cm-1").into());
    view.insert(owned_pod("cache-pod-b", "p-2", "cm-1").into());
    view.insert(owned_pod("other", "p-3", "cm-2").into());
    let out = PodKeeper::new().reconcile(&view, &ObjectKey::new("default", "cache"), UNIX_EPOCH);
    assert_eq!(
        out.actions,
        [Action::Delete {
            resource: &Pod::INFO,
            namespace: "default".into(),
            name: "cache-pod-b".into(),
            options: DeleteOptions {
                uid: Some("p-2".into()),
                ..DeleteOptions::default()
            },
        }]
    );
}

#[test]
fn pod_keeper_ignores_unlabelled_and_missing_config_maps_and_the_bug_creates_two() {
    let mut view = View::new();
    let mut plain = config_map("plain", "cm-9");
    plain.metadata.labels.clear();
    view.insert(plain.into());
    let keeper = PodKeeper::new();
    assert_eq!(
        keeper
            .clone()
            .reconcile(&view, &ObjectKey::new("default", "plain"), UNIX_EPOCH)
            .actions,
        []
    );
    assert_eq!(
        keeper
            .clone()
            .reconcile(&view, &ObjectKey::new("default", "gone"), UNIX_EPOCH)
            .actions,
        []
    );
    view.insert(config_map("cache", "cm-1").into());
    let out =
        PodKeeper::planted_bug().reconcile(&view, &ObjectKey::new("default", "cache"), UNIX_EPOCH);
    assert_eq!(
        described(&out.actions),
        [
            "create pod/default/cache-pod",
            "create pod/default/cache-pod-b"
        ]
    );
    assert_eq!(
        keeper.resync_keys(&view),
        [ObjectKey::new("default", "cache")]
    );
}

fn paused_clock() -> Arc<TokioClock> {
    Arc::new(TokioClock::new(
        UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ))
}

/// Polls every simulated second until `f` is true, at most `secs` seconds.
async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..secs {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("after {secs} s: {what}");
}

#[tokio::test(start_paused = true)]
async fn user_controller_acts_as_its_service_account_and_gc_collects_its_pod() {
    let cluster = Cluster::builder()
        .seed(11)
        .clock(paused_clock())
        .controller(PodKeeper::new())
        .build()
        .await
        .unwrap();
    cluster
        .api::<ConfigMap>("default")
        .create(config_map("cache", "ignored"))
        .await
        .unwrap();
    let pods = cluster.api::<Pod>("default");
    eventually(30, "cache-pod was not created", || async {
        pods.get_opt("cache-pod").await.unwrap().is_some()
    })
    .await;
    let history = cluster
        .client()
        .history(&Pod::INFO, "default", "cache-pod")
        .await
        .unwrap();
    assert_eq!(
        history[0].actor.user,
        "system:serviceaccount:kube-system:pod-keeper"
    );
    assert_eq!(user_of("pod-keeper"), history[0].actor.user);
    let lease = cluster
        .api::<Lease>("kube-system")
        .get("pod-keeper")
        .await
        .unwrap();
    assert_eq!(
        lease.spec.holder_identity.as_deref(),
        Some("skiff-embedded")
    );

    cluster
        .api::<ConfigMap>("default")
        .delete("cache", DeleteOptions::default())
        .await
        .unwrap();
    eventually(120, "cache-pod was not collected", || async {
        pods.get_opt("cache-pod").await.unwrap().is_none()
    })
    .await;
    cluster.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn user_controller_granted_only_reads_is_forbidden_to_create() {
    let read_only = vec![PolicyRule {
        verbs: vec!["get".into(), "list".into(), "watch".into()],
        api_groups: vec![String::new()],
        resources: vec!["configmaps".into(), "pods".into()],
        ..PolicyRule::default()
    }];
    let cluster = Cluster::builder()
        .seed(12)
        .clock(paused_clock())
        .controller_with_rules(PodKeeper::new(), read_only)
        .build()
        .await
        .unwrap();
    cluster
        .api::<ConfigMap>("default")
        .create(config_map("cache", "ignored"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        cluster
            .api::<Pod>("default")
            .get_opt("cache-pod")
            .await
            .unwrap(),
        None
    );
    // What the controller was told, as its own client sees it.
    let handler = Arc::new(ApiHandler::new(
        cluster.api_server().clone(),
        Authenticator::new(0),
    ));
    let client = AuthorizedClient::service_account(handler, "kube-system", "pod-keeper");
    let ClientError::Status(status) = client
        .create(
            Some("default"),
            Pod::new("x", vec![Container::new("c", "nginx")]).into(),
        )
        .await
        .unwrap_err()
    else {
        panic!("not a refusal");
    };
    assert_eq!(
        status.message,
        "pods is forbidden: User \"system:serviceaccount:kube-system:pod-keeper\" cannot create resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    // Its lease it may hold.
    let lease = cluster
        .api::<Lease>("kube-system")
        .get("pod-keeper")
        .await
        .unwrap();
    assert_eq!(
        lease.spec.holder_identity.as_deref(),
        Some("skiff-embedded")
    );
    cluster.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_restarted_cluster_grants_its_user_controller_again_and_it_resumes() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..2 {
        let cluster = Cluster::builder()
            .data_dir(dir.path())
            .seed(13 + round)
            .clock(paused_clock())
            .controller(PodKeeper::new())
            .build()
            .await
            .unwrap();
        let name = format!("cache-{round}");
        cluster
            .api::<ConfigMap>("default")
            .create(config_map(&name, "ignored"))
            .await
            .unwrap();
        let pods = cluster.api::<Pod>("default");
        let pod = format!("{name}-pod");
        eventually(60, "the pod was not created", || async {
            pods.get_opt(&pod).await.unwrap().is_some()
        })
        .await;
        cluster.shutdown().await;
    }
}
