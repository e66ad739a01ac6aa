//! The API server through the wire protocol, as remote clients see it: the refusals every
//! client must handle (401, 403, 404, 409, 422 with field paths) snapshot-tested in upstream's
//! `metav1.Status` shape, and many concurrent clients updating one object (exactly one winner
//! per resourceVersion, no lost update).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use skiff_core::client::{Client, ClientError};
use skiff_core::clock::ManualClock;
use skiff_core::object::{ConfigMap, Container, Object, ObjectMeta, Pod, info};
use skiff_core::status::{Reason, Status};
use skiff_store::apiserver::authn::Authenticator;
use skiff_store::apiserver::{ApiHandler, ApiServer};
use skiff_store::wire::{WireClient, serve};
use skiff_store::{Backing, Store};
use tokio::net::TcpListener;

const ADMIN_TOKEN: &str = "admin-token";
/// A user the token file knows but no role binds: authenticated, allowed nothing.
const JANE_TOKEN: &str = "jane-token";

async fn start() -> String {
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let store = Store::open(Backing::Memory, clock.clone()).unwrap();
    let api = Arc::new(ApiServer::new(store, clock, 7));
    api.bootstrap().await.unwrap();
    let mut authn = Authenticator::with_key([7; 32], ADMIN_TOKEN);
    authn
        .load_token_file("tokens.csv", "jane-token,jane,u-1001,\"developers\"\n")
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve(listener, Arc::new(ApiHandler::new(api, authn))));
    addr
}

fn cm(name: &str, value: &str) -> Object {
    let mut config = ConfigMap {
        metadata: ObjectMeta::named(name),
        ..ConfigMap::default()
    };
    config.data.insert("count".into(), value.into());
    config.into()
}

fn status(result: Result<impl std::fmt::Debug, ClientError>) -> Status {
    match result {
        Err(ClientError::Status(status)) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A Status as upstream's JSON would show it: code, reason, message, details.
fn render(title: &str, status: &Status) -> String {
    let mut out = format!(
        "== {title}\ncode: {}\nreason: {}\nmessage: {}\n",
        status.code(),
        status.reason.as_str(),
        status.message
    );
    if let Some(name) = &status.name {
        let _ = writeln!(out, "details.name: {name}");
    }
    if let Some(kind) = &status.kind {
        let _ = writeln!(out, "details.kind: {kind}");
    }
    for cause in &status.causes {
        let _ = writeln!(
            out,
            "details.causes: {} {} | {}",
            cause.reason, cause.field, cause.message
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_have_upstream_codes_messages_and_field_paths() {
    let addr = start().await;
    let mut out = String::new();

    // 401: no token, and a token nobody issued.
    for token in ["", "forged"] {
        let refused = status(WireClient::connect(&addr, token).await.map(|_| ()));
        out.push_str(&render(&format!("401 token {token:?}"), &refused));
    }

    // 403: authenticated, but no role allows it.
    let jane = WireClient::connect(&addr, JANE_TOKEN).await.unwrap();
    out.push_str(&render(
        "403 list pods",
        &status(
            jane.list(&info::POD, Some("default"), Default::default())
                .await,
        ),
    ));
    out.push_str(&render(
        "403 get node",
        &status(jane.get(&info::NODE, "", "worker-1").await),
    ));
    out.push_str(&render(
        "403 create replicaset",
        &status(
            jane.create(Some("dev"), {
                let mut rs = skiff_core::object::ReplicaSet::default();
                rs.metadata = ObjectMeta::named("web");
                rs.into()
            })
            .await,
        ),
    ));

    let admin = WireClient::connect(&addr, ADMIN_TOKEN).await.unwrap();
    // 404.
    out.push_str(&render(
        "404 pod",
        &status(admin.get(&info::POD, "default", "nope").await),
    ));
    out.push_str(&render(
        "404 replicaset",
        &status(admin.get(&info::REPLICA_SET, "default", "nope").await),
    ));

    // 409: create of a taken name, update with a stale resourceVersion.
    let created = admin
        .create(Some("default"), cm("settings", "0"))
        .await
        .unwrap();
    out.push_str(&render(
        "409 already exists",
        &status(admin.create(Some("default"), cm("settings", "0")).await),
    ));
    let mut first = created.clone();
    first.metadata_mut().labels.insert("a".into(), "1".into());
    admin.update(first).await.unwrap();
    out.push_str(&render(
        "409 stale resourceVersion",
        &status(admin.update(created).await),
    ));

    // 422 with field paths.
    let mut invalid = Pod::new(
        "Bad_Name",
        vec![
            Container::new("web", "nginx"),
            Container::new("web", "nginx"),
        ],
    );
    invalid.spec.containers[0].image = None;
    out.push_str(&render(
        "422 pod",
        &status(admin.create(Some("default"), invalid.into()).await),
    ));

    insta::assert_snapshot!("wire_refusals", out);
}

/// Each client reads the object and writes it back with one more count, retrying on Conflict.
/// Returns, per successful write, the resourceVersion it was based on.
async fn increment(client: WireClient, times: usize) -> Vec<String> {
    let mut based_on = Vec::new();
    let mut done = 0;
    while done < times {
        let current = client
            .get(&info::CONFIG_MAP, "default", "counter")
            .await
            .unwrap();
        let rv = current.metadata().resource_version.clone().unwrap();
        let Object::ConfigMap(mut config) = current else {
            panic!("a ConfigMap")
        };
        let count: u64 = config.data["count"].parse().unwrap();
        config.data.insert("count".into(), (count + 1).to_string());
        match client.update(config.into()).await {
            Ok(_) => {
                based_on.push(rv);
                done += 1;
            }
            Err(ClientError::Status(s)) if s.reason == Reason::Conflict => {
                assert_eq!(
                    s.message,
                    "Operation cannot be fulfilled on configmaps \"counter\": the object has been modified; please apply your changes to the latest version and try again"
                );
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    based_on
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_of_one_object_have_one_winner_per_version_and_lose_nothing() {
    const CLIENTS: usize = 32;
    const INCREMENTS: usize = 8;
    let addr = start().await;
    let admin = WireClient::connect(&addr, ADMIN_TOKEN).await.unwrap();
    let created = admin
        .create(Some("default"), cm("counter", "0"))
        .await
        .unwrap();

    // Round one: every client writes from the same resourceVersion; exactly one wins.
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(WireClient::connect(&addr, ADMIN_TOKEN).await.unwrap());
    }
    let mut tasks = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let mut next = created.clone();
        if let Object::ConfigMap(c) = &mut next {
            c.data.insert("count".into(), format!("writer-{i}"));
        }
        tasks.push(tokio::spawn(async move { client.update(next).await }));
    }
    let mut winners = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(stored) => winners.push(stored),
            Err(ClientError::Status(s)) if s.reason == Reason::Conflict => conflicts += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!((winners.len(), conflicts), (1, CLIENTS - 1));
    let stored = admin
        .get(&info::CONFIG_MAP, "default", "counter")
        .await
        .unwrap();
    assert_eq!(stored, winners[0]);

    // Reset the count, then every client increments with retries: no update is lost.
    let Object::ConfigMap(mut reset) = stored else {
        panic!("a ConfigMap")
    };
    reset.data.insert("count".into(), "0".into());
    admin.update(reset.into()).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = WireClient::connect(&addr, ADMIN_TOKEN).await.unwrap();
        tasks.push(tokio::spawn(increment(client, INCREMENTS)));
    }
    let mut wins_per_version: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        for rv in task.await.unwrap() {
            *wins_per_version.entry(rv).or_default() += 1;
        }
    }
    assert_eq!(wins_per_version.len(), CLIENTS * INCREMENTS);
    assert!(wins_per_version.values().all(|&n| n == 1));
    let Object::ConfigMap(last) = admin
        .get(&info::CONFIG_MAP, "default", "counter")
        .await
        .unwrap()
    else {
        panic!("a ConfigMap")
    };
    assert_eq!(last.data["count"], (CLIENTS * INCREMENTS).to_string());
}
