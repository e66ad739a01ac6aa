//! Custom kinds through the embedding facade: `Cluster::builder().kind::<T>()`, the typed
//! `Api<T>`, apply of YAML, watch, a restart from the data dir, and the `custom_kind` example's
//! whole story (its own reconciler creating pods, garbage collection on delete).

#[path = "../examples/custom_kind.rs"]
#[allow(dead_code, reason = "the example's main is not called here")]
mod example;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use example::{GameServer, GameServerSpec};
use skiff::Cluster;
use skiff::api::Event;
use skiff::cluster::StartError;
use skiff::controllers::runtime::TokioClock;
use skiff::core::client::ListParams;
use skiff::core::object::{DynamicKind, Object};

const ARENA: &str = "apiVersion: games.example.com/v1\nkind: GameServer\nmetadata:\n  name: arena\nspec:\n  image: nginx\n  replicas: 0\n  port: 7777\n";

#[tokio::test(start_paused = true)]
async fn game_server_example_runs_its_pods_and_collects_them() {
    example::run().await.unwrap();
}

#[tokio::test]
async fn custom_kind_round_trips_through_yaml_the_store_watch_and_typed_api() {
    let cluster = Cluster::builder()
        .seed(3)
        .without_controllers()
        .kind::<GameServer>()
        .build()
        .await
        .unwrap();
    let games = cluster.api::<GameServer>("default");
    let mut watch = games
        .watch(ListParams {
            resource_version: Some(cluster.store().status().unwrap().revision.to_string()),
            ..ListParams::default()
        })
        .await
        .unwrap();
    cluster.apply_yaml(ARENA).await.unwrap();
    let got = games.get("arena").await.unwrap();
    assert_eq!(
        got.spec,
        GameServerSpec {
            image: "nginx".into(),
            replicas: 0,
            port: 7777
        }
    );
    assert_eq!(
        watch.next().await.unwrap().unwrap(),
        Event::Added(got.clone())
    );
    // Applying the same manifest again changes nothing; a changed one updates.
    cluster.apply_yaml(ARENA).await.unwrap();
    cluster
        .apply_yaml(&ARENA.replace("port: 7777", "port: 7000"))
        .await
        .unwrap();
    let updated = games.get("arena").await.unwrap();
    assert_eq!(updated.spec.port, 7000);
    assert_eq!(updated.metadata.generation, Some(2));
    let Some(Ok(Event::Modified(seen))) = watch.next().await else {
        panic!("expected a Modified event");
    };
    assert_eq!(seen, updated);
    cluster.shutdown().await;
}

#[tokio::test]
async fn registered_kinds_survive_a_restart_and_an_unregistered_one_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TokioClock::new(
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    ));
    let start = |with_kind: bool| {
        let mut builder = Cluster::builder()
            .seed(3)
            .clock(clock.clone())
            .without_controllers()
            .data_dir(dir.path());
        if with_kind {
            builder = builder.kind::<GameServer>();
        }
        builder.build()
    };
    let cluster = start(true).await.unwrap();
    cluster.apply_yaml(ARENA).await.unwrap();
    let before = cluster
        .api::<GameServer>("default")
        .get("arena")
        .await
        .unwrap();
    cluster.shutdown().await;

    let err = start(false).await.unwrap_err();
    let StartError::Store(_, reason) = &err else {
        panic!("expected a store error, got {err:?}");
    };
    assert!(
        reason.ends_with(
            "payload does not decode: OtherString(\"no kind \\\"GameServer\\\" is registered in version \\\"games.example.com/v1\\\"\")"
        ),
        "{reason}"
    );

    let cluster = start(true).await.unwrap();
    let after = cluster
        .api::<GameServer>("default")
        .get("arena")
        .await
        .unwrap();
    assert_eq!(after, before);
    cluster.store().verify().unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn dynamic_kind_defined_at_run_time_is_served_like_a_typed_one() {
    let mut crontab = DynamicKind::new("stable.example.com", "v1", "CronTab", "crontabs");
    crontab.short_names = vec!["ct".into()];
    let cluster = Cluster::builder()
        .seed(3)
        .without_controllers()
        .dynamic_kind(crontab)
        .build()
        .await
        .unwrap();
    let info = cluster.kinds().resolve_resource("ct").unwrap();
    assert_eq!(
        info.registry_prefix,
        "/registry/stable.example.com/crontabs/"
    );
    cluster
        .apply_yaml("apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: nightly\nspec:\n  cronSpec: '0 3 * * *'\n")
        .await
        .unwrap();
    let listed = cluster
        .client()
        .list(info, Some("default"), ListParams::default())
        .await
        .unwrap()
        .items;
    let [Object::Custom(tab)] = listed.as_slice() else {
        panic!("expected one CronTab, got {listed:?}");
    };
    assert_eq!(
        serde_json::to_value(tab.field("spec")).unwrap(),
        serde_json::json!({"cronSpec": "0 3 * * *"})
    );
    let err = cluster
        .apply_yaml(
            "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: Nightly\n",
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "crontab/Nightly: CronTab.stable.example.com \"Nightly\" is invalid: metadata.name: Invalid value: \"Nightly\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    );
    cluster.shutdown().await;
}
