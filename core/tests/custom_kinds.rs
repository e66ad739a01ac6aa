//! Custom kinds in the object model: registration, manifest parsing (typed and dynamic) with
//! the built-ins' error quality, validation hooks, and bincode with the registry as context.

use serde::{Deserialize, Serialize};
use skiff_core::manifest::{parse, parse_with, to_yaml};
use skiff_core::object::{
    ApiVersion, CustomResource, DynamicKind, DynamicObject, HasKindInfo, Kind, KindInfo,
    KindLookup, KindRegistry, Object, ObjectMeta, RegisterError, Value,
};
use skiff_core::validate::{FieldError, validate_object};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GameServer {
    #[serde(default)]
    api_version: ApiVersion<GameServer>,
    #[serde(default)]
    kind: Kind<GameServer>,
    #[serde(default)]
    metadata: ObjectMeta,
    spec: GameServerSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<GameServerStatus>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GameServerSpec {
    image: String,
    players: i32,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GameServerStatus {
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
            vec![FieldError::invalid(
                "spec.players",
                self.spec.players.to_string(),
                "must be greater than or equal to 1",
            )]
        } else {
            Vec::new()
        }
    }
}

fn registry() -> KindRegistry {
    let mut kinds = KindRegistry::builtin();
    kinds.register_type::<GameServer>().unwrap();
    kinds
}

const GAME: &str = "apiVersion: games.example.com/v1\nkind: GameServer\nmetadata:\n  name: arena\n  namespace: default\nspec:\n  image: arena:1.0\n  players: 8\n";

fn errors(text: &str, kinds: &KindRegistry) -> Vec<String> {
    parse_with("gs.yaml", text, kinds)
        .errors
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn registered_typed_kind_parses_into_a_custom_object() {
    let kinds = registry();
    let parsed = parse_with("gs.yaml", GAME, &kinds);
    assert_eq!(parsed.errors, vec![]);
    let Object::Custom(game) = &parsed.documents[0].object else {
        panic!("expected a custom object");
    };
    assert_eq!(game.info(), &GameServer::INFO);
    assert_eq!(game.metadata.name.as_deref(), Some("arena"));
    let typed: GameServer = game.to_typed().unwrap();
    assert_eq!(
        typed.spec,
        GameServerSpec {
            image: "arena:1.0".into(),
            players: 8
        }
    );
    assert_eq!(
        parsed.documents[0].object.kind_slash_name(),
        "gameserver/arena"
    );
}

#[test]
fn custom_object_round_trips_through_yaml() {
    let kinds = registry();
    let object = parse_with("gs.yaml", GAME, &kinds)
        .documents
        .remove(0)
        .object;
    let yaml = to_yaml(&object).unwrap();
    assert_eq!(
        yaml,
        "apiVersion: games.example.com/v1\nkind: GameServer\nmetadata:\n  name: arena\n  namespace: default\nspec:\n  image: arena:1.0\n  players: 8\n"
    );
    let back = parse_with("back.yaml", &yaml, &kinds)
        .documents
        .remove(0)
        .object;
    assert_eq!(back, object);
}

#[test]
fn unregistered_custom_kind_gets_the_unsupported_kind_error() {
    let builtin = parse("gs.yaml", GAME);
    let registered_elsewhere = errors(GAME, &KindRegistry::builtin());
    assert_eq!(
        registered_elsewhere,
        vec![
            "gs.yaml: document 1, line 2, column 7: kind GameServer (games.example.com/v1) is not supported by skiff"
                .to_owned()
        ]
    );
    assert_eq!(builtin.errors.len(), 1);
    assert_eq!(builtin.errors[0].to_string(), registered_elsewhere[0]);
}

#[test]
fn malformed_game_server_is_located_like_a_builtin_kind() {
    let kinds = registry();
    let wrong_type = GAME.replace("players: 8", "players: eight");
    assert_eq!(
        errors(&wrong_type, &kinds),
        vec![
            "gs.yaml: document 1, line 8, column 12: spec.players: expected i32, found eight"
                .to_owned()
        ]
    );
    let unknown = GAME.replace("players: 8", "players: 8\n  playres: 9");
    assert_eq!(
        errors(&unknown, &kinds),
        vec![
            "gs.yaml: document 1, line 9, column 3: spec.playres: unknown field `playres`"
                .to_owned()
        ]
    );
    let missing = GAME.replace("  players: 8\n", "");
    assert_eq!(
        errors(&missing, &kinds),
        vec![
            "gs.yaml: document 1, line 7, column 3: spec.players: missing required field `players`"
                .to_owned()
        ]
    );
    let wrong_version = GAME.replace("games.example.com/v1", "games.example.com/v2");
    assert_eq!(
        errors(&wrong_version, &kinds),
        vec!["gs.yaml: document 1, line 1, column 13: apiVersion: GameServer is served at games.example.com/v1, not games.example.com/v2".to_owned()]
    );
}

#[test]
fn validation_hook_runs_after_metadata_checks() {
    let kinds = registry();
    let text = GAME
        .replace("name: arena", "name: Arena")
        .replace("players: 8", "players: 0");
    let object = parse_with("gs.yaml", &text, &kinds)
        .documents
        .remove(0)
        .object;
    let errors: Vec<String> = validate_object(&object)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        vec![
            "metadata.name: Invalid value: \"Arena\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_owned(),
            "spec.players: Invalid value: 0: must be greater than or equal to 1".to_owned(),
        ]
    );
}

#[test]
fn dynamic_kind_keeps_every_field_but_checks_metadata() {
    let mut kinds = KindRegistry::builtin();
    let mut crontab = DynamicKind::new("stable.example.com", "v1", "CronTab", "crontabs");
    crontab.short_names = vec!["ct".into()];
    let crontab = crontab.define();
    kinds.register(crontab).unwrap();
    let text = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: nightly\nspec:\n  cronSpec: '* * * * */5'\n  replicas: 2\n";
    let parsed = parse_with("ct.yaml", text, &kinds);
    assert_eq!(parsed.errors, vec![]);
    let Object::Custom(tab) = &parsed.documents[0].object else {
        panic!("expected a custom object");
    };
    let mut spec = std::collections::BTreeMap::new();
    spec.insert("cronSpec".to_owned(), Value::String("* * * * */5".into()));
    spec.insert("replicas".to_owned(), Value::Int(2));
    assert_eq!(tab.field("spec"), Some(&Value::Map(spec)));
    assert_eq!(kinds.resolve_resource("ct"), Some(&crontab.info));
    assert_eq!(
        kinds.resolve_resource("crontabs.stable.example.com"),
        Some(&crontab.info)
    );
    let bad_meta = text.replace("  name: nightly", "  name: nightly\n  labelz: {}");
    assert_eq!(
        errors(&bad_meta, &kinds),
        vec![
            "gs.yaml: document 1, line 5, column 3: metadata.labelz: unknown field `labelz`"
                .to_owned()
        ]
    );
}

#[test]
fn registry_refuses_taken_and_malformed_names() {
    let mut kinds = registry();
    assert_eq!(
        kinds.register_type::<GameServer>(),
        Ok(()),
        "twice is a no-op"
    );
    assert_eq!(kinds.custom_kinds().count(), 1);
    let pod = DynamicKind::new("example.com", "v1", "Pod", "pods").define();
    assert_eq!(
        kinds.register(pod).unwrap_err().to_string(),
        "kind Pod is already served by v1 Pod"
    );
    let clash = DynamicKind::new("games.example.com", "v1", "Arena", "gameservers").define();
    assert_eq!(
        kinds.register(clash).unwrap_err().to_string(),
        "resource gameservers.games.example.com is already served by games.example.com/v1 GameServer"
    );
    let no_dot = DynamicKind::new("games", "v1", "Arena", "arenas").define();
    assert!(matches!(
        kinds.register(no_dot),
        Err(RegisterError::Invalid(m)) if m == "spec.group: Invalid value: \"games\": should be a domain with at least one dot"
    ));
    assert_eq!(
        kinds.lookup("games.example.com/v1", "GameServer"),
        KindLookup::Served(&GameServer::INFO)
    );
}

#[test]
fn custom_object_decodes_only_with_its_registry() {
    let kinds = registry();
    let object = parse_with("gs.yaml", GAME, &kinds)
        .documents
        .remove(0)
        .object;
    let config = bincode::config::standard();
    let bytes = bincode::encode_to_vec(&object, config).unwrap();
    let (back, used): (Object, usize) =
        bincode::decode_from_slice_with_context(&bytes, config, kinds.clone()).unwrap();
    assert_eq!((back, used), (object.clone(), bytes.len()));
    let err = bincode::decode_from_slice_with_context::<_, Object, _>(
        &bytes,
        config,
        KindRegistry::builtin(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "OtherString(\"no kind \\\"GameServer\\\" is registered in version \\\"games.example.com/v1\\\"\")"
    );
}

#[test]
fn typed_and_dynamic_forms_convert_both_ways() {
    let game = GameServer {
        metadata: ObjectMeta {
            name: Some("arena".into()),
            ..ObjectMeta::default()
        },
        spec: GameServerSpec {
            image: "arena:1.0".into(),
            players: 4,
        },
        status: Some(GameServerStatus { ready: 4 }),
        ..GameServer::default()
    };
    let dynamic = DynamicObject::from_typed(&game).unwrap();
    assert_eq!(
        dynamic.fields.keys().collect::<Vec<_>>(),
        vec!["spec", "status"]
    );
    assert_eq!(dynamic.to_typed::<GameServer>().unwrap(), game);
    let mut cleared = Object::Custom(dynamic.clone());
    cleared.clear_status();
    let Object::Custom(cleared_dynamic) = &cleared else {
        unreachable!()
    };
    assert_eq!(cleared_dynamic.field("status"), None);
    cleared.copy_status_from(&Object::Custom(dynamic.clone()));
    assert_eq!(cleared, Object::Custom(dynamic));
}
