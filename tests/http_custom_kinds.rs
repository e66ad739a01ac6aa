//! A custom kind over the Kubernetes HTTP API with the real kubectl: discovery
//! (`api-resources`), `apply -f`, `get` (the default NAME/AGE table), `-o json`, merge
//! `patch`, the validation hook's 422, `delete`. Skipped, with a message, when `kubectl` is not
//! on PATH.

#[path = "../examples/custom_kind.rs"]
#[allow(dead_code, reason = "only the GameServer kind is used here")]
mod example;

#[path = "support/kubectl.rs"]
mod kubectl;

use std::process::Command;
use std::sync::Arc;

use example::GameServer;
use skiff::core::clock::ManualClock;
use skiff::core::object::KindRegistry;
use skiff::http::{HttpApi, HttpRequest};
use skiff::store::apiserver::authn::Authenticator;
use skiff::store::apiserver::{ApiHandler, ApiServer};
use skiff::store::{Backing, OpenOptions, Store};

fn kinds() -> KindRegistry {
    let mut kinds = KindRegistry::builtin();
    kinds.register_type::<GameServer>().unwrap();
    kinds
}

async fn http_api(clock: Arc<ManualClock>) -> HttpApi {
    let store = Store::open_with_kinds(
        Backing::Memory,
        clock.clone(),
        OpenOptions::default(),
        kinds(),
    )
    .unwrap();
    let api = Arc::new(ApiServer::new(store, clock.clone(), 7));
    api.bootstrap().await.unwrap();
    let handler = Arc::new(ApiHandler::new(
        api,
        Authenticator::with_key([7; 32], "admin-token"),
    ));
    HttpApi::new(handler, clock)
}

async fn next_line(response: &mut skiff::http::HttpResponse) -> serde_json::Value {
    let skiff::http::HttpBody::Stream(rx) = &mut response.body else {
        panic!("not a stream: {}", response.json_body())
    };
    let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("a watch line within 10 s")
        .expect("the stream is open");
    serde_json::from_slice(&chunk).unwrap()
}

const ARENA: &str = "apiVersion: games.example.com/v1
kind: GameServer
metadata:
  name: arena
spec:
  image: nginx
  replicas: 3
  port: 7777
";

#[tokio::test]
#[allow(clippy::too_many_lines, reason = "one request after another, in order")]
async fn discovery_and_rest_paths_serve_a_custom_kind() {
    let api = http_api(Arc::new(ManualClock::new(1_700_000_000))).await;
    let get =
        |uri: &str| HttpRequest::new("GET", uri).header("authorization", "Bearer admin-token");
    let groups = api.handle(get("/apis")).await.json_body();
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(names.last(), Some(&"games.example.com"));
    let resources = api
        .handle(get("/apis/games.example.com/v1"))
        .await
        .json_body();
    assert_eq!(
        resources["resources"],
        serde_json::json!([
            {"name": "gameservers", "singularName": "gameserver", "namespaced": true,
             "kind": "GameServer",
             "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
             "shortNames": ["gs"]},
            {"name": "gameservers/status", "singularName": "", "namespaced": true,
             "kind": "GameServer", "verbs": ["get", "patch", "update"]},
        ])
    );
    let body = serde_json::to_vec(&serde_json::json!({
        "apiVersion": "games.example.com/v1", "kind": "GameServer",
        "metadata": {"name": "arena"},
        "spec": {"image": "nginx", "replicas": 1, "port": 7777},
    }))
    .unwrap();
    let created = api
        .handle(
            HttpRequest::new(
                "POST",
                "/apis/games.example.com/v1/namespaces/default/gameservers",
            )
            .header("authorization", "Bearer admin-token")
            .header("content-type", "application/json")
            .body(body),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json_body());
    let got = api
        .handle(get(
            "/apis/games.example.com/v1/namespaces/default/gameservers/arena",
        ))
        .await
        .json_body();
    assert_eq!(
        got["spec"],
        serde_json::json!({"image": "nginx", "replicas": 1, "port": 7777})
    );
    assert_eq!(got["metadata"]["namespace"], "default");
    // Watch from before the create: the ADDED event, then a merge patch's MODIFIED.
    let mut watch = api
        .handle(get(
            "/apis/games.example.com/v1/namespaces/default/gameservers?watch=true&resourceVersion=1",
        ))
        .await;
    let added = next_line(&mut watch).await;
    assert_eq!(
        (&added["type"], &added["object"]["metadata"]["name"]),
        (&serde_json::json!("ADDED"), &serde_json::json!("arena"))
    );
    let patched = api
        .handle(
            HttpRequest::new(
                "PATCH",
                "/apis/games.example.com/v1/namespaces/default/gameservers/arena",
            )
            .header("authorization", "Bearer admin-token")
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"spec":{"replicas":4}}"#),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.json_body());
    let modified = next_line(&mut watch).await;
    assert_eq!(
        (&modified["type"], &modified["object"]["spec"]["replicas"]),
        (&serde_json::json!("MODIFIED"), &serde_json::json!(4))
    );
    // A server-side Table has kubectl's default columns for a kind without its own.
    let table = api
        .handle(
            get("/apis/games.example.com/v1/namespaces/default/gameservers")
                .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io"),
        )
        .await
        .json_body();
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, ["Name", "Age"]);
    assert_eq!(
        table["rows"][0]["cells"],
        serde_json::json!(["arena", "0s"])
    );
    let missing = api
        .handle(get(
            "/apis/games.example.com/v1/namespaces/default/gameservers/nope",
        ))
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json_body()["message"],
        "gameservers.games.example.com \"nope\" not found"
    );
}

#[test]
fn kubectl_applies_gets_patches_and_deletes_a_game_server() {
    let Some(binary) = kubectl::kubectl_on_path() else {
        eprintln!("kubectl is not on PATH: skipping");
        return;
    };
    let (runtime, config) = kubectl::serve(http_api);
    let k = kubectl::Kubectl::new(binary, &config);
    let ok = |args: &[&str]| k.ok(args);
    let run = |args: &[&str]| k.run(args);
    let file = |name: &str, text: &str| k.file(name, text);

    assert_eq!(
        ok(&["api-resources", "--api-group=games.example.com"]),
        "NAME          SHORTNAMES   APIVERSION             NAMESPACED   KIND\ngameservers   gs           games.example.com/v1   true         GameServer\n"
    );
    let arena = file("arena.yaml", ARENA);
    assert_eq!(
        ok(&["apply", "-f", &arena]),
        "gameserver.games.example.com/arena created\n"
    );
    assert_eq!(ok(&["get", "gameservers"]), "NAME    AGE\narena   0s\n");
    assert_eq!(
        ok(&["get", "gs", "arena", "-o", "jsonpath={.spec.port}"]),
        "7777"
    );
    assert_eq!(
        ok(&[
            "patch",
            "gs",
            "arena",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":5}}"#
        ]),
        "gameserver.games.example.com/arena patched\n"
    );
    assert_eq!(
        ok(&["get", "gs", "arena", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );
    let bad = file("bad.yaml", &ARENA.replace("port: 7777", "port: 0"));
    let (success, _, stderr) = run(&["apply", "-f", &bad]);
    assert!(!success);
    // kubectl prints `The <details.kind> "<name>" is invalid: <cause.field>: <cause.message>`.
    assert_eq!(
        stderr,
        "The GameServer \"arena\" is invalid: spec.port: Invalid value: 0: must be between 1 and 65535, inclusive\n"
    );
    assert_eq!(
        ok(&["delete", "gameserver", "arena"]),
        "gameserver.games.example.com \"arena\" deleted\n"
    );
    let (success, _, stderr) = run(&["get", "gs", "arena"]);
    assert!(!success);
    assert_eq!(
        stderr,
        "Error from server (NotFound): gameservers.games.example.com \"arena\" not found\n"
    );
    drop(runtime);
}

/// `skiff get` / `describe` / `apply -f` / `delete` of a custom kind: the CLI learns the
/// server's custom kinds by discovery over the wire when it connects.
#[test]
fn skiff_cli_gets_describes_applies_and_deletes_a_custom_kind() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(async {
        // The CLI counts AGE on the system clock: the server's must agree.
        let clock = Arc::new(skiff::core::clock::SystemClock::new());
        let store = Store::open_with_kinds(
            Backing::Memory,
            clock.clone(),
            OpenOptions::default(),
            kinds(),
        )
        .unwrap();
        let api = Arc::new(ApiServer::new(store, clock, 7));
        api.bootstrap().await.unwrap();
        let handler = Arc::new(ApiHandler::new(
            api,
            Authenticator::with_key([7; 32], "admin-token"),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(skiff::store::wire::serve(listener, handler));
        addr
    });
    let dir = tempfile::tempdir().unwrap();
    let skiff = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(args)
            .args(["--server", &addr, "--token", "admin-token"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let arena = dir.path().join("arena.yaml");
    std::fs::write(&arena, ARENA).unwrap();
    let (ok, stdout, stderr) = skiff(&["apply", "-f", arena.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "gameserver.games.example.com/arena created\n");
    let (ok, stdout, stderr) = skiff(&["get", "gameservers"]);
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0], "NAME    AGE");
    assert!(matches!(lines[1], "arena   0s" | "arena   1s"), "{stdout}");
    let (ok, stdout, stderr) = skiff(&["describe", "gs", "arena"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with("Name:         arena\nNamespace:    default\n"),
        "{stdout}"
    );
    assert!(stdout.contains("Kind:         GameServer\n"), "{stdout}");
    let (ok, stdout, stderr) = skiff(&["delete", "gameserver", "arena"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "gameserver \"arena\" deleted\n");
    let (ok, _, stderr) = skiff(&["get", "widgets"]);
    assert!(!ok);
    assert_eq!(
        stderr,
        "error: the server doesn't have a resource type \"widgets\"\n"
    );
    drop(runtime);
}
