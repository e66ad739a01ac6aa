//! The embedding facade: a cluster in the test's own process.

use skiff::Cluster;
use skiff::api::Event;
use skiff::apply::Applied;
use skiff::core::client::{DeleteOptions, ListParams};
use skiff::core::object::{ConfigMap, Pod};

const SEED_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: nginx
  labels:
    app: web
spec:
  containers:
  - name: nginx
    image: nginx:1.27
";

#[tokio::test]
async fn apply_is_created_then_unchanged_then_configured() {
    let cluster = Cluster::builder().seed(3).build().await.unwrap();
    let verbs = |a: &[Applied]| a.iter().map(Applied::verb).collect::<Vec<_>>();
    assert_eq!(
        verbs(&cluster.apply_yaml(SEED_POD).await.unwrap()),
        ["created"]
    );
    assert_eq!(
        verbs(&cluster.apply_yaml(SEED_POD).await.unwrap()),
        ["unchanged"]
    );
    let changed = SEED_POD.replace("app: web", "app: api");
    assert_eq!(
        verbs(&cluster.apply_yaml(&changed).await.unwrap()),
        ["configured"]
    );
    let pod = cluster.api::<Pod>("default").get("nginx").await.unwrap();
    assert_eq!(pod.metadata.labels["app"], "api");
    cluster.shutdown().await;
}

#[tokio::test]
async fn malformed_yaml_applies_nothing_and_says_where() {
    let cluster = Cluster::builder().seed(3).build().await.unwrap();
    let two =
        format!("{SEED_POD}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: [1\n");
    let err = cluster.apply_yaml(&two).await.unwrap_err().to_string();
    assert!(err.starts_with("<apply>: document 2"), "{err}");
    let pods = cluster
        .api::<Pod>("default")
        .list(ListParams::default())
        .await
        .unwrap();
    assert!(pods.is_empty(), "the first document must not be applied");
    cluster.shutdown().await;
}

#[tokio::test]
async fn reopening_the_data_dir_finds_every_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    {
        let cluster = Cluster::builder()
            .data_dir(dir.path())
            .seed(5)
            .build()
            .await
            .unwrap();
        cluster.apply_yaml(SEED_POD).await.unwrap();
        let cms = cluster.api::<ConfigMap>("default");
        for i in 0..10 {
            let mut cm = ConfigMap::default();
            cm.metadata.name = Some(format!("cm-{i}"));
            cms.create(cm).await.unwrap();
        }
        cms.delete("cm-3", DeleteOptions::default()).await.unwrap();
        cluster.shutdown().await;
    }
    let cluster = Cluster::builder()
        .data_dir(dir.path())
        .seed(6)
        .build()
        .await
        .unwrap();
    let names: Vec<String> = cluster
        .api::<ConfigMap>("default")
        .list(ListParams::default())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .filter(|n| n.starts_with("cm-"))
        .collect();
    assert_eq!(
        names,
        [
            "cm-0", "cm-1", "cm-2", "cm-4", "cm-5", "cm-6", "cm-7", "cm-8", "cm-9"
        ]
    );
    assert!(
        cluster
            .api::<Pod>("default")
            .get_opt("nginx")
            .await
            .unwrap()
            .is_some()
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn typed_watch_sees_changes_in_order() {
    let cluster = Cluster::builder().seed(9).build().await.unwrap();
    let cms = cluster.api::<ConfigMap>("default");
    let mut watch = cms.watch(ListParams::default()).await.unwrap();
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("w".into());
    let created = cms.create(cm).await.unwrap();
    cms.delete("w", DeleteOptions::default()).await.unwrap();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first, Event::Added(created.clone()));
    match watch.next().await.unwrap().unwrap() {
        Event::Deleted(gone) => assert_eq!(gone.metadata.name.as_deref(), Some("w")),
        other => panic!("expected Deleted, got {other:?}"),
    }
    cluster.shutdown().await;
}

/// Polls `check` every simulated second (paused tokio time) until it holds, at most `secs`.
async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..secs {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    check().await
}

#[tokio::test(start_paused = true)]
async fn the_seeds_replicaset_gets_its_three_pods_from_the_controller_manager() {
    use skiff::controllers::runtime::TokioClock;
    let clock = std::sync::Arc::new(TokioClock::new(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
    ));
    let cluster = Cluster::builder()
        .seed(11)
        .clock(clock)
        .build()
        .await
        .unwrap();
    let manifest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/replicaset-definition.yaml"),
    )
    .unwrap();
    cluster.apply_yaml(&manifest).await.unwrap();
    let pods = cluster.api::<Pod>("default");
    let owned = || async {
        pods.list(ListParams {
            label_selector: "app=myapp".into(),
            ..ListParams::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|p| {
            p.metadata
                .controller_ref()
                .is_some_and(|r| r.name == "myapp-replicaset")
        })
        .count()
    };
    assert!(eventually(30, || async { owned().await == 3 }).await);
    // The log says who created them.
    let created_by: Vec<String> = cluster
        .store()
        .events(
            skiff::core::event::Revision(1),
            skiff::core::event::Revision(10_000),
        )
        .unwrap()
        .into_iter()
        .filter_map(|e| match &e.change {
            skiff::core::event::Change::Create(skiff::core::object::Object::Pod(_)) => {
                Some(e.actor.user.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(created_by, vec![skiff::cluster::CONTROLLER_MANAGER_USER; 3]);
    cluster.shutdown().await;
}
