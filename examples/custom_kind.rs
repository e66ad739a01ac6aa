//! A custom resource kind with its own controller, embedded: `GameServer`
//! (`games.example.com/v1`) asks for `replicas` game-server pods; a pure reconciler creates them
//! (owned by the GameServer), reports how many run, and the garbage collector removes them when
//! the GameServer is deleted.
//!
//! Run with `cargo run --example custom_kind`; it exits non-zero if any step fails. Time is
//! tokio's paused clock, so the run takes well under a second of wall time.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use skiff::Cluster;
use skiff::controllers::reconcile::{Action, Controller, Output, Watched};
use skiff::controllers::runtime::TokioClock;
use skiff::controllers::view::{ObjectKey, View};
use skiff::core::client::{DeleteOptions, ListParams};
use skiff::core::object::{
    ApiVersion, Container, ContainerPort, CustomResource, HasKindInfo, Kind, KindInfo, Node,
    Object, ObjectKind, ObjectMeta, OwnerReference, Pod, info,
};
use skiff::core::validate::FieldError;

/// A game server fleet: `replicas` pods running `image`, listening on `port`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GameServer {
    #[serde(default)]
    api_version: ApiVersion<GameServer>,
    #[serde(default)]
    kind: Kind<GameServer>,
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What is wanted.
    pub spec: GameServerSpec,
    /// What runs (written by the controller through the status subresource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<GameServerStatus>,
}

/// The desired fleet.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GameServerSpec {
    /// The server image.
    pub image: String,
    /// How many servers.
    pub replicas: i32,
    /// The port each listens on.
    pub port: i32,
}

/// The observed fleet.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GameServerStatus {
    /// Pods of the fleet in phase Running.
    pub ready_replicas: i32,
}

impl HasKindInfo for GameServer {
    const INFO: KindInfo = skiff::core::custom_kind_info! {
        group: "games.example.com", version: "v1", kind: "GameServer",
        plural: "gameservers", singular: "gameserver", short_names: ["gs"], namespaced: true,
    };
}

impl CustomResource for GameServer {
    const STATUS_SUBRESOURCE: bool = true;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }

    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !(0..=100).contains(&self.spec.replicas) {
            errors.push(FieldError::invalid(
                "spec.replicas",
                self.spec.replicas.to_string(),
                "must be between 0 and 100, inclusive",
            ));
        }
        if !(1..=65535).contains(&self.spec.port) {
            errors.push(FieldError::invalid(
                "spec.port",
                self.spec.port.to_string(),
                "must be between 1 and 65535, inclusive",
            ));
        }
        errors
    }
}

/// Keeps `replicas` pods named `<gameserver>-<i>` per GameServer and reports how many run.
struct GameServerController;

fn game_server(view: &View, key: &ObjectKey) -> Option<GameServer> {
    let object = view.get_object(GameServer::INFO.kind, key)?;
    GameServer::try_from_object(object.clone()).ok()
}

fn owned_pods<'a>(view: &'a View, uid: &str) -> Vec<&'a Pod> {
    view.owned_by(uid)
        .filter_map(|o| match o {
            Object::Pod(pod) => Some(pod),
            _ => None,
        })
        .collect()
}

fn pod_for(game: &GameServer, index: i32) -> Pod {
    let meta = &game.metadata;
    let name = format!("{}-{index}", meta.name_or_empty());
    let mut container = Container::new("server", &game.spec.image);
    container.ports = vec![ContainerPort {
        container_port: game.spec.port,
        ..ContainerPort::default()
    }];
    let mut pod = Pod::new(&name, vec![container]);
    pod.metadata.namespace.clone_from(&meta.namespace);
    pod.metadata.labels.insert(
        "games.example.com/server".into(),
        meta.name_or_empty().into(),
    );
    pod.metadata.owner_references = vec![OwnerReference {
        api_version: GameServer::INFO.api_version.into(),
        kind: GameServer::INFO.kind.into(),
        name: meta.name_or_empty().into(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }];
    pod
}

impl Controller for GameServerController {
    fn name(&self) -> &'static str {
        "gameserver-controller"
    }

    fn watches(&self) -> Vec<Watched> {
        vec![Watched::all(&GameServer::INFO), Watched::all(&info::POD)]
    }

    fn keys_for(&self, _view: &View, object: &Object) -> Vec<ObjectKey> {
        let meta = object.metadata();
        if object.info() == &GameServer::INFO {
            return vec![ObjectKey::of(object)];
        }
        meta.owner_references
            .iter()
            .filter(|r| {
                r.kind == GameServer::INFO.kind && r.api_version == GameServer::INFO.api_version
            })
            .map(|r| ObjectKey::new(meta.namespace_or_empty(), &r.name))
            .collect()
    }

    fn resync_keys(&self, view: &View) -> Vec<ObjectKey> {
        view.objects(GameServer::INFO.kind)
            .map(ObjectKey::of)
            .collect()
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, _now: SystemTime) -> Output {
        // Deleted: the garbage collector removes the pods it owned.
        let Some(game) = game_server(view, key) else {
            return Output::none();
        };
        if game.metadata.deletion_timestamp.is_some() {
            return Output::none();
        }
        let uid = game.metadata.uid.clone().unwrap_or_default();
        let pods = owned_pods(view, &uid);
        let names: BTreeSet<&str> = pods.iter().map(|p| p.metadata.name_or_empty()).collect();
        let mut actions = Vec::new();
        for index in 0..game.spec.replicas {
            let pod = pod_for(&game, index);
            if !names.contains(pod.metadata.name_or_empty()) {
                actions.push(Action::Create(pod.into()));
            }
        }
        let wanted: BTreeSet<String> = (0..game.spec.replicas)
            .map(|i| format!("{}-{i}", game.metadata.name_or_empty()))
            .collect();
        for pod in &pods {
            if !wanted.contains(pod.metadata.name_or_empty())
                && pod.metadata.deletion_timestamp.is_none()
            {
                actions.push(Action::Delete {
                    resource: &info::POD,
                    namespace: pod.metadata.namespace_or_empty().into(),
                    name: pod.metadata.name_or_empty().into(),
                    options: DeleteOptions {
                        uid: pod.metadata.uid.clone(),
                        ..DeleteOptions::default()
                    },
                });
            }
        }
        let ready = pods
            .iter()
            .filter(|p| p.status.phase.as_deref() == Some("Running"))
            .count();
        let status = GameServerStatus {
            ready_replicas: i32::try_from(ready).unwrap_or(i32::MAX),
        };
        if game.status.as_ref() != Some(&status) {
            let mut next = game.clone();
            next.status = Some(status);
            if let Ok(object) = next.into_object() {
                actions.push(Action::UpdateStatus(object));
            }
        }
        Output {
            actions,
            requeue_after: None,
        }
    }
}

const FLEET: &str = "
apiVersion: games.example.com/v1
kind: GameServer
metadata:
  name: arena
spec:
  image: nginx
  replicas: 3
  port: 7777
";

/// Polls `check` once a (paused-clock) second until it holds, for at most `seconds`.
async fn eventually<F, Fut>(what: &str, seconds: u32, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..seconds {
        if check().await {
            println!("ok: {what}");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!("timed out after {seconds} s waiting until {what}"))
}

/// The whole story; `Err` names the step that failed.
pub async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let clock = Arc::new(TokioClock::new(
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    ));
    let cluster = Cluster::builder()
        .seed(7)
        .clock(clock)
        .nodes(2)
        .kind::<GameServer>()
        .controller(GameServerController)
        .build()
        .await?;
    let nodes = cluster.api_all::<Node>();
    eventually("two nodes are registered", 60, || async {
        nodes
            .list(ListParams::default())
            .await
            .is_ok_and(|n| n.len() == 2)
    })
    .await?;

    // A malformed fleet is refused with the field that is wrong.
    let refused = cluster
        .apply_yaml(&FLEET.replace("port: 7777", "port: 0"))
        .await
        .err()
        .ok_or("a GameServer with port 0 was accepted")?;
    println!("refused: {refused}");

    cluster.apply_yaml(FLEET).await?;
    let games = cluster.api::<GameServer>("default");
    let pods = cluster.api::<Pod>("default");
    let running = || async {
        pods.list(ListParams {
            label_selector: "games.example.com/server=arena".into(),
            ..ListParams::default()
        })
        .await
        .map_or(0, |pods| {
            pods.iter()
                .filter(|p| p.status.phase.as_deref() == Some("Running"))
                .count()
        })
    };
    eventually("the three arena pods are Running", 120, || async {
        running().await == 3
    })
    .await?;
    eventually("the GameServer reports 3 ready replicas", 30, || async {
        games
            .get("arena")
            .await
            .is_ok_and(|g| g.status == Some(GameServerStatus { ready_replicas: 3 }))
    })
    .await?;

    games.delete("arena", DeleteOptions::default()).await?;
    eventually(
        "the garbage collector removed the arena pods",
        120,
        || async {
            pods.list(ListParams {
                label_selector: "games.example.com/server=arena".into(),
                ..ListParams::default()
            })
            .await
            .is_ok_and(|p| p.is_empty())
        },
    )
    .await?;
    cluster.shutdown().await;
    Ok(())
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => {
            println!("custom_kind: all steps passed");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("custom_kind: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
