//! Custom kinds in the store and the API server: the upstream key layout, create / get / list /
//! watch / update / status / merge patch / delete, the validation hook as a 422, RBAC by group
//! and plural over the wire, and a restart with a custom object persisted.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use skiff_core::client::{Client, ClientError, DeleteOptions, ListParams, PatchType, WatchEvent};
use skiff_core::clock::ManualClock;
use skiff_core::event::Actor;
use skiff_core::manifest::parse_str_with;
use skiff_core::object::{
    ApiVersion, CustomResource, DynamicObject, HasKindInfo, Kind, KindInfo, KindRegistry, Object,
    ObjectMeta, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use skiff_core::validate::FieldError;
use skiff_store::apiserver::authn::Authenticator;
use skiff_store::apiserver::{ApiHandler, ApiServer};
use skiff_store::wire::{WireClient, serve};
use skiff_store::{Backing, OpenOptions, Store, StoreError};
use tokio::net::TcpListener;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GameServer {
    #[serde(default)]
    api_version: ApiVersion<GameServer>,
    #[serde(default)]
    kind: Kind<GameServer>,
    #[serde(default)]
    metadata: ObjectMeta,
    spec: Spec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    image: String,
    players: i32,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Status {
    ready: i32,
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
        if self.spec.players < 1 {
            return vec![FieldError::invalid(
                "spec.players",
                self.spec.players.to_string(),
                "must be greater than or equal to 1",
            )];
        }
        Vec::new()
    }
}

const INFO: &KindInfo = &GameServer::INFO;

fn kinds() -> KindRegistry {
    let mut kinds = KindRegistry::builtin();
    kinds.register_type::<GameServer>().unwrap();
    kinds
}

fn game(name: &str, players: i32) -> Object {
    let text = format!(
        "apiVersion: games.example.com/v1\nkind: GameServer\nmetadata:\n  name: {name}\nspec:\n  image: arena:1.0\n  players: {players}\n"
    );
    parse_str_with("gs.yaml", &text, &kinds())
        .unwrap()
        .remove(0)
}

fn typed(object: &Object) -> GameServer {
    let Object::Custom(custom) = object else {
        panic!("not a custom object: {object:?}");
    };
    custom.to_typed().unwrap()
}

async fn server(backing: Backing, kinds: KindRegistry) -> Arc<ApiServer> {
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let store =
        Store::open_with_kinds(backing, clock.clone(), OpenOptions::default(), kinds).unwrap();
    let api = Arc::new(ApiServer::new(store, clock, 7));
    api.bootstrap().await.unwrap();
    api
}

fn admin() -> Actor {
    Actor::new("admin")
}

#[tokio::test]
async fn custom_object_round_trips_through_the_store_and_watch() {
    let api = server(Backing::Memory, kinds()).await;
    let head = api.store().status().unwrap().revision;
    let created = api
        .create(&admin(), Some("default"), game("arena", 8))
        .await
        .unwrap();
    let key = "/registry/games.example.com/gameservers/default/arena";
    let (_, entry) = api.store().get(key).unwrap();
    assert_eq!(entry.key, key);
    let got = api.get(INFO, "default", "arena").unwrap();
    assert_eq!(got, created);
    assert_eq!(typed(&got).spec.players, 8);
    let list = api
        .list(INFO, Some("default"), &skiff_store::ListOptions::default())
        .unwrap();
    assert_eq!(list.items, vec![created.clone()]);

    let client = skiff_store::apiserver::LocalClient::new(api.clone(), "admin");
    let mut watch = client
        .watch(
            INFO,
            Some("default"),
            ListParams {
                resource_version: Some(head.to_string()),
                ..ListParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(watch.next().await, Some(WatchEvent::Added(created.clone())));
    let deleted = client
        .delete(INFO, "default", "arena", DeleteOptions::default())
        .await
        .unwrap();
    assert_eq!(deleted, skiff_core::client::Deleted::Gone(created.clone()));
    // The delete event carries the deletion's revision (upstream: the object's last state at
    // the revision that removed it).
    let mut final_state = created;
    final_state.metadata_mut().resource_version =
        Some(api.store().status().unwrap().revision.to_string());
    assert_eq!(watch.next().await, Some(WatchEvent::Deleted(final_state)));
}

#[tokio::test]
async fn validation_hook_refuses_with_422_and_field_paths() {
    let api = server(Backing::Memory, kinds()).await;
    let err = api
        .create(&admin(), Some("default"), game("arena", 0))
        .await
        .unwrap_err();
    let status = err.status().unwrap();
    assert_eq!(status.code(), 422);
    assert_eq!(
        status.message,
        "GameServer.games.example.com \"arena\" is invalid: spec.players: Invalid value: 0: must be greater than or equal to 1"
    );
    // upstream NewInvalid: the details name the qualified kind; the cause carries its field.
    assert_eq!(status.kind.as_deref(), Some("GameServer.games.example.com"));
    assert_eq!(
        (
            status.causes[0].field.as_str(),
            status.causes[0].message.as_str()
        ),
        (
            "spec.players",
            "Invalid value: 0: must be greater than or equal to 1"
        )
    );
}

#[tokio::test]
async fn status_changes_only_through_the_status_subresource() {
    let api = server(Backing::Memory, kinds()).await;
    let created = api
        .create(&admin(), Some("default"), game("arena", 8))
        .await
        .unwrap();
    assert_eq!(created.metadata().generation, Some(1));
    // A status sent to the object itself is dropped; the spec change bumps generation.
    let mut edit = typed(&created);
    edit.spec.players = 16;
    edit.status = Some(Status { ready: 3 });
    let updated = api
        .update(&admin(), DynamicObject::from_typed(&edit).unwrap().into())
        .await
        .unwrap();
    assert_eq!(typed(&updated).status, None);
    assert_eq!(updated.metadata().generation, Some(2));
    // Through the subresource only the status changes.
    let mut edit = typed(&updated);
    edit.spec.players = 99;
    edit.status = Some(Status { ready: 16 });
    let status_written = api
        .update_status(&admin(), DynamicObject::from_typed(&edit).unwrap().into())
        .await
        .unwrap();
    let after = typed(&status_written);
    assert_eq!(after.status, Some(Status { ready: 16 }));
    assert_eq!(after.spec.players, 16);
    assert_eq!(status_written.metadata().generation, Some(2));
}

#[tokio::test]
async fn merge_patch_reads_back_through_the_kind_and_its_validation() {
    let api = server(Backing::Memory, kinds()).await;
    api.create(&admin(), Some("default"), game("arena", 8))
        .await
        .unwrap();
    let patched = api
        .patch(
            &admin(),
            INFO,
            "default",
            "arena",
            PatchType::Merge,
            br#"{"spec":{"players":12}}"#,
        )
        .await
        .unwrap();
    assert_eq!(typed(&patched).spec.players, 12);
    let err = api
        .patch(
            &admin(),
            INFO,
            "default",
            "arena",
            PatchType::Merge,
            br#"{"spec":{"playerz":12}}"#,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.status().unwrap().message,
        "GameServer.games.example.com \"arena\" is invalid: spec.playerz: Invalid value: 12: unknown field `playerz`"
    );
}

#[tokio::test]
async fn custom_objects_survive_a_restart_and_an_unregistered_kind_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let created = {
        let api = server(Backing::Dir(dir.path().to_owned()), kinds()).await;
        let created = api
            .create(&admin(), Some("default"), game("arena", 8))
            .await
            .unwrap();
        api.store().shutdown().await;
        created
    };
    let clock = Arc::new(ManualClock::new(1_700_000_100));
    let err = Store::open(Backing::Dir(dir.path().to_owned()), clock.clone())
        .err()
        .unwrap();
    let StoreError::Corrupt { what, reason, .. } = &err else {
        panic!("expected a corrupt-record error, got {err:?}");
    };
    assert_eq!(*what, "event");
    assert_eq!(
        reason,
        "payload does not decode: OtherString(\"no kind \\\"GameServer\\\" is registered in version \\\"games.example.com/v1\\\"\")"
    );
    let store = Store::open_with_kinds(
        Backing::Dir(dir.path().to_owned()),
        clock.clone(),
        OpenOptions::default(),
        kinds(),
    )
    .unwrap();
    store.verify().unwrap();
    let api = ApiServer::new(store, clock, 8);
    assert_eq!(api.get(INFO, "default", "arena").unwrap(), created);
}

const ADMIN_TOKEN: &str = "admin-token";

fn rbac_objects() -> Vec<Object> {
    vec![
        Role {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                ..ObjectMeta::named("game-admin")
            },
            rules: vec![PolicyRule {
                verbs: vec!["get".into(), "list".into(), "create".into()],
                api_groups: vec!["games.example.com".into()],
                resources: vec!["gameservers".into()],
                ..PolicyRule::default()
            }],
            ..Role::default()
        }
        .into(),
        RoleBinding {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                ..ObjectMeta::named("jane-games")
            },
            subjects: vec![Subject {
                kind: "User".into(),
                api_group: Some("rbac.authorization.k8s.io".into()),
                name: "jane".into(),
                namespace: None,
            }],
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: "game-admin".into(),
            },
            ..RoleBinding::default()
        }
        .into(),
    ]
}

fn forbidden(result: Result<impl std::fmt::Debug, ClientError>) -> String {
    match result {
        Err(ClientError::Status(status)) if status.code() == 403 => status.message,
        other => panic!("expected 403, got {other:?}"),
    }
}

#[tokio::test]
async fn rbac_on_a_custom_kind_goes_by_group_and_plural_over_the_wire() {
    let api = server(Backing::Memory, kinds()).await;
    for object in rbac_objects() {
        api.create(&admin(), None, object).await.unwrap();
    }
    let mut authn = Authenticator::with_key([7; 32], ADMIN_TOKEN);
    authn
        .load_token_file(
            "tokens.csv",
            "jane-token,jane,u-1001,\"developers\"\nbob-token,bob,u-1002,\"developers\"\n",
        )
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve(listener, Arc::new(ApiHandler::new(api, authn))));
    let connect = |token: &'static str| {
        let addr = addr.clone();
        async move {
            WireClient::connect_with_kinds(&addr, token, kinds())
                .await
                .unwrap()
        }
    };
    let admin = connect(ADMIN_TOKEN).await;
    let jane = connect("jane-token").await;
    let bob = connect("bob-token").await;

    let created = jane
        .create(Some("default"), game("arena", 8))
        .await
        .unwrap();
    assert_eq!(admin.get(INFO, "default", "arena").await.unwrap(), created);
    assert_eq!(
        jane.list(INFO, Some("default"), ListParams::default())
            .await
            .unwrap()
            .items,
        vec![created]
    );
    assert_eq!(
        forbidden(
            jane.delete(INFO, "default", "arena", DeleteOptions::default())
                .await
        ),
        r#"gameservers.games.example.com "arena" is forbidden: User "jane" cannot delete resource "gameservers" in API group "games.example.com" in the namespace "default""#
    );
    assert_eq!(
        forbidden(
            jane.list(INFO, Some("kube-system"), ListParams::default())
                .await
        ),
        r#"gameservers.games.example.com is forbidden: User "jane" cannot list resource "gameservers" in API group "games.example.com" in the namespace "kube-system""#
    );
    assert_eq!(
        forbidden(bob.get(INFO, "default", "arena").await),
        r#"gameservers.games.example.com "arena" is forbidden: User "bob" cannot get resource "gameservers" in API group "games.example.com" in the namespace "default""#
    );
    admin
        .delete(INFO, "default", "arena", DeleteOptions::default())
        .await
        .unwrap();
}
