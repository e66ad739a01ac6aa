//! `GameServer` (`games.example.com/v1`): a custom kind and its controller, shared by
//! examples/custom_kind.rs (embedded) and examples/chaos_test.rs (under the simulator's
//! testing kit). A GameServer asks for `replicas` game-server pods running `image` on `port`;
//! the pure reconciler keeps pods `<gameserver>-0` … `<gameserver>-<replicas-1>`, each owned
//! by the GameServer (a controller reference with `blockOwnerDeletion`, so the garbage
//! collector removes them once the GameServer is deleted), deletes pods beyond `replicas`,
//! and reports how many run in `status.readyReplicas` (through the status subresource).
//!
//! [`GameServerController::planted_bug`] is the same controller with an off-by-one for the
//! chaos test to find: it keeps `replicas + 1` pods.

#![allow(
    dead_code,
    reason = "each example or test uses a part of the shared module"
)]

use std::collections::BTreeSet;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use skiff_controllers::reconcile::{Action, Controller, Output, Watched};
use skiff_controllers::view::{ObjectKey, View};
use skiff_core::client::DeleteOptions;
use skiff_core::object::{
    ApiVersion, Container, ContainerPort, CustomResource, HasKindInfo, Kind, KindInfo, Object,
    ObjectKind, ObjectMeta, OwnerReference, Pod, info,
};
use skiff_core::validate::FieldError;

/// The controller's name: its Lease and its service account.
pub const NAME: &str = "gameserver-controller";
/// The label each pod of a fleet carries, valued with its GameServer's name.
pub const LABEL: &str = "games.example.com/server";

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
    const INFO: KindInfo = skiff_core::custom_kind_info! {
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

/// The GameServer an object is, if it is one.
pub fn as_game_server(object: &Object) -> Option<GameServer> {
    if object.info() != &GameServer::INFO {
        return None;
    }
    GameServer::try_from_object(object.clone()).ok()
}

/// The index of pod `pod_name` in the fleet of GameServer `game` (`arena-2` → 2).
pub fn pod_index(game: &str, pod_name: &str) -> Option<i32> {
    pod_name.strip_prefix(game)?.strip_prefix('-')?.parse().ok()
}

/// Keeps `replicas` pods named `<gameserver>-<i>` per GameServer and reports how many run.
#[derive(Debug, Clone, Default)]
pub struct GameServerController {
    /// Keep one pod too many (the planted bug).
    pub buggy: bool,
}

impl GameServerController {
    /// The correct controller.
    pub fn new() -> Self {
        Self::default()
    }

    /// The controller with its planted bug: an off-by-one that keeps pods `0..=replicas`.
    pub fn planted_bug() -> Self {
        Self { buggy: true }
    }

    /// How many pods it keeps for `game`.
    fn pods_wanted(&self, game: &GameServer) -> i32 {
        if self.buggy {
            game.spec.replicas + 1
        } else {
            game.spec.replicas
        }
    }
}

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

/// Pod `index` of `game`'s fleet.
pub fn pod_for(game: &GameServer, index: i32) -> Pod {
    let meta = &game.metadata;
    let name = format!("{}-{index}", meta.name_or_empty());
    let mut container = Container::new("server", &game.spec.image);
    container.ports = vec![ContainerPort {
        container_port: game.spec.port,
        ..ContainerPort::default()
    }];
    let mut pod = Pod::new(&name, vec![container]);
    pod.metadata.namespace.clone_from(&meta.namespace);
    pod.metadata
        .labels
        .insert(LABEL.into(), meta.name_or_empty().into());
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
        NAME
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
        let wanted_count = self.pods_wanted(&game);
        for index in 0..wanted_count {
            let pod = pod_for(&game, index);
            if !names.contains(pod.metadata.name_or_empty()) {
                actions.push(Action::Create(pod.into()));
            }
        }
        let wanted: BTreeSet<String> = (0..wanted_count)
            .map(|i| format!("{}-{i}", game.metadata.name_or_empty()))
            .collect();
        for pod in &pods {
            if !wanted.contains(pod.metadata.name_or_empty())
                && pod.metadata.deletion_timestamp.is_none()
            {
                // The uid precondition: never a pod that took the name since.
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
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.status.phase.as_deref() == Some("Running")
            })
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
