//! Offline `skiff etcdctl` on a data dir an embedder wrote with custom kinds: the store keeps
//! each custom kind's definition (`/skiff/customresourcedefinitions/<plural>.<group>`), so
//! the tool — which has no embedder's registry — reads the objects back as JSON, and
//! `snapshot save/status/restore` round-trip them with an equal hash.

#[path = "../examples/custom_kind.rs"]
#[allow(dead_code, reason = "the example's main is not called here")]
mod example;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use example::GameServer;
use serde_json::Value;
use skiff::Cluster;
use skiff::controllers::runtime::TokioClock;
use skiff::core::object::DynamicKind;

fn etcdctl(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("etcdctl")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{args:?}: {stderr}");
    assert_eq!(stderr, "", "{args:?}");
    String::from_utf8(output.stdout).unwrap()
}

const OBJECTS: &str = "
apiVersion: games.example.com/v1
kind: GameServer
metadata:
  name: arena
  namespace: default
spec:
  image: nginx
  replicas: 2
  port: 7777
---
apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: nightly
  namespace: default
spec:
  cronSpec: '0 3 * * *'
";

/// Writes a GameServer (typed kind) and a CronTab (dynamic kind) into `dir` through the
/// embedded cluster, then stops it.
async fn write_custom_objects(dir: &Path) {
    let clock = Arc::new(TokioClock::new(
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    ));
    let cluster = Cluster::builder()
        .seed(3)
        .clock(clock)
        .without_controllers()
        .data_dir(dir)
        .kind::<GameServer>()
        .dynamic_kind(DynamicKind::new(
            "stable.example.com",
            "v1",
            "CronTab",
            "crontabs",
        ))
        .build()
        .await
        .unwrap();
    cluster.apply_yaml(OBJECTS).await.unwrap();
    cluster.shutdown().await;
}

/// The `key\nvalue\n` pairs of a `get` output, values parsed as JSON.
fn pairs(out: &str) -> Vec<(String, Value)> {
    let lines: Vec<&str> = out.lines().collect();
    lines
        .chunks(2)
        .map(|kv| (kv[0].to_owned(), serde_json::from_str(kv[1]).unwrap()))
        .collect()
}

#[test]
fn offline_etcdctl_reads_custom_objects_and_snapshots_round_trip_them() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("live");
    // A runtime of its own, dropped (with every task holding the database) before etcdctl
    // opens the data dir.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(write_custom_objects(&d));

    // The kinds' definitions, as upstream's CustomResourceDefinitions.
    let definitions = pairs(&etcdctl(&d, &["get", "/skiff/", "--prefix"]));
    let names: Vec<&str> = definitions.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "/skiff/customresourcedefinitions/crontabs.stable.example.com",
            "/skiff/customresourcedefinitions/gameservers.games.example.com",
        ]
    );
    assert_eq!(
        definitions[1].1,
        serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "gameservers.games.example.com"},
            "spec": {
                "group": "games.example.com",
                "names": {"kind": "GameServer", "plural": "gameservers", "singular": "gameserver", "shortNames": ["gs"]},
                "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}}],
            },
        })
    );

    // The objects, as JSON, without the embedder's registry.
    let game = pairs(&etcdctl(
        &d,
        &["get", "/registry/games.example.com/", "--prefix"],
    ));
    assert_eq!(game.len(), 1);
    assert_eq!(
        game[0].0,
        "/registry/games.example.com/gameservers/default/arena"
    );
    assert_eq!(game[0].1["kind"], "GameServer");
    assert_eq!(game[0].1["metadata"]["name"], "arena");
    assert_eq!(
        game[0].1["spec"],
        serde_json::json!({"image": "nginx", "replicas": 2, "port": 7777})
    );
    let tab = pairs(&etcdctl(
        &d,
        &["get", "/registry/stable.example.com/", "--prefix"],
    ));
    assert_eq!(tab.len(), 1);
    assert_eq!(
        tab[0].0,
        "/registry/stable.example.com/crontabs/default/nightly"
    );
    assert_eq!(tab[0].1["apiVersion"], "stable.example.com/v1");
    assert_eq!(
        tab[0].1["spec"],
        serde_json::json!({"cronSpec": "0 3 * * *"})
    );
    let everything = etcdctl(&d, &["get", "/", "--prefix"]);

    // snapshot save → status → restore: the same hash, the same keys and values.
    let live: Value =
        serde_json::from_str(&etcdctl(&d, &["endpoint", "status", "-w", "json"])).unwrap();
    let live = &live[0]["Status"];
    let snap = tmp.path().join("snap.db");
    let snap_arg = snap.to_str().unwrap();
    etcdctl(&d, &["snapshot", "save", snap_arg]);
    let status: Value = serde_json::from_str(&etcdctl(
        &d,
        &["snapshot", "status", snap_arg, "-w", "json"],
    ))
    .unwrap();
    assert_eq!(status["hash"], live["hash"]);
    assert_eq!(status["revision"], live["header"]["revision"]);
    let restored = tmp.path().join("restored");
    let hash = format!("{:x}", live["hash"].as_u64().unwrap());
    assert_eq!(
        etcdctl(&restored, &["snapshot", "restore", snap_arg]),
        format!(
            "Snapshot restored into {} at revision {} (hash {hash})\n",
            restored.display(),
            live["header"]["revision"]
        )
    );
    let after: Value =
        serde_json::from_str(&etcdctl(&restored, &["endpoint", "status", "-w", "json"])).unwrap();
    assert_eq!(after[0]["Status"]["hash"], live["hash"]);
    assert_eq!(etcdctl(&restored, &["get", "/", "--prefix"]), everything);
}
