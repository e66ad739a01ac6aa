//! The wire protocol end to end over loopback TCP: a real server, a real client, the real API.

use std::sync::Arc;

use skiff_core::client::{Client, ClientError, DeleteOptions, Deleted, ListParams, WatchEvent};
use skiff_core::clock::ManualClock;
use skiff_core::object::{ConfigMap, Object, ObjectMeta, info};
use skiff_core::status::Reason;
use skiff_store::apiserver::authn::Authenticator;
use skiff_store::apiserver::{ApiHandler, ApiServer};
use skiff_store::wire::{ClientMessage, WireClient, serve};
use skiff_store::{Backing, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn start() -> String {
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let store = Store::open(Backing::Memory, clock.clone()).unwrap();
    let api = Arc::new(ApiServer::new(store, clock, 7));
    api.bootstrap().await.unwrap();
    let authn = Authenticator::with_key([7; 32], "admin-token");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve(listener, Arc::new(ApiHandler::new(api, authn))));
    addr
}

fn cm(name: &str, app: &str) -> Object {
    let mut metadata = ObjectMeta::named(name);
    metadata.labels.insert("app".into(), app.into());
    ConfigMap {
        metadata,
        ..ConfigMap::default()
    }
    .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_and_watch_work_over_tcp() {
    let addr = start().await;
    let client = WireClient::connect(&addr, "admin-token").await.unwrap();
    assert_eq!(client.user(), "admin");
    let created = client
        .create(Some("default"), cm("a", "web"))
        .await
        .unwrap();
    // Bootstrap wrote the system namespaces, accounts and the `kubernetes` Service first.
    let rv: u64 = created
        .metadata()
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    let list = client
        .list(&info::CONFIG_MAP, Some("default"), ListParams::default())
        .await
        .unwrap();
    assert_eq!((list.resource_version, list.items.len()), (rv, 1));
    let mut watch = client
        .watch(
            &info::CONFIG_MAP,
            Some("default"),
            ListParams {
                resource_version: Some(rv.to_string()),
                label_selector: "app=web".into(),
                ..ListParams::default()
            },
        )
        .await
        .unwrap();
    client.create(None, cm("b", "db")).await.unwrap();
    client.create(None, cm("c", "web")).await.unwrap();
    let Some(WatchEvent::Added(added)) = watch.next().await else {
        panic!("an ADDED event")
    };
    assert_eq!(added.metadata().name.as_deref(), Some("c"));
    let err = client
        .get(&info::CONFIG_MAP, "default", "nope")
        .await
        .unwrap_err();
    let ClientError::Status(status) = err else {
        panic!("a status")
    };
    assert_eq!(
        (status.code(), status.message.as_str()),
        (404, "configmaps \"nope\" not found")
    );
    let deleted = client
        .delete(&info::CONFIG_MAP, "default", "c", DeleteOptions::default())
        .await
        .unwrap();
    assert!(matches!(deleted, Deleted::Gone(_)));
    let Some(WatchEvent::Deleted(gone)) = watch.next().await else {
        panic!("a DELETED event")
    };
    assert_eq!(gone.metadata().name.as_deref(), Some("c"));
    // The DELETED event carries the deletion's revision (upstream), one past the creation's.
    let created_rv: u64 = added
        .metadata()
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    let deleted_rv: u64 = gone
        .metadata()
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(deleted_rv, created_rv + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_is_refused_with_401() {
    let addr = start().await;
    let Err(ClientError::Status(status)) = WireClient::connect(&addr, "wrong").await else {
        panic!("refused")
    };
    assert_eq!(
        (status.reason, status.message.as_str()),
        (Reason::Unauthorized, "Unauthorized")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_frames_close_only_their_connection() {
    let addr = start().await;
    let good = WireClient::connect(&addr, "admin-token").await.unwrap();
    // A peer announcing a 4 GiB frame is cut off without the server reading or allocating it.
    let mut huge = TcpStream::connect(&addr).await.unwrap();
    huge.write_all(&u32::MAX.to_le_bytes()).await.unwrap();
    huge.flush().await.unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        huge.read(&mut buf).await.unwrap_or(0),
        0,
        "closed without an answer"
    );
    // A valid hello followed by garbage ends that connection only.
    let mut garbage = TcpStream::connect(&addr).await.unwrap();
    let hello = ClientMessage::Hello {
        protocol: skiff_store::wire::PROTOCOL_VERSION,
        token: "admin-token".into(),
    }
    .to_frame()
    .unwrap();
    garbage.write_all(&hello).await.unwrap();
    garbage
        .write_all(&[3, 0, 0, 0, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    garbage.flush().await.unwrap();
    let mut sink = Vec::new();
    let _ = garbage.read_to_end(&mut sink).await;
    // The well-behaved client is unaffected.
    good.create(Some("default"), cm("still", "fine"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_protocol_version_is_refused() {
    let addr = start().await;
    let mut raw = TcpStream::connect(&addr).await.unwrap();
    let hello = ClientMessage::Hello {
        protocol: 99,
        token: "admin-token".into(),
    }
    .to_frame()
    .unwrap();
    raw.write_all(&hello).await.unwrap();
    raw.flush().await.unwrap();
    let mut answer = Vec::new();
    raw.read_to_end(&mut answer).await.unwrap();
    let Ok(skiff_store::wire::Split::Frame { payload, .. }) =
        skiff_store::wire::split_frame(&answer)
    else {
        panic!("a frame")
    };
    let skiff_store::wire::ServerMessage::Refused(status) =
        skiff_store::wire::ServerMessage::decode(payload).unwrap()
    else {
        panic!("refused")
    };
    assert_eq!(
        status.message,
        "protocol version 99 is not supported; this server speaks 3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_authorized_per_user() {
    let addr = start().await;
    let authn = Authenticator::with_key([7; 32], "admin-token");
    let node = WireClient::connect(&addr, &authn.issue_node_token("worker-1"))
        .await
        .unwrap();
    assert_eq!(node.user(), "system:node:worker-1");
    let err = node
        .create(Some("default"), cm("x", "web"))
        .await
        .unwrap_err();
    let ClientError::Status(status) = err else {
        panic!("a status")
    };
    assert_eq!(status.reason, Reason::Forbidden);
    assert_eq!(
        status.message,
        "configmaps is forbidden: User \"system:node:worker-1\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"default\": can only read resources of this type"
    );
    let sa = WireClient::connect(
        &addr,
        &authn.issue_service_account_token("default", "builder"),
    )
    .await
    .unwrap();
    let err = sa
        .list(&info::CONFIG_MAP, Some("default"), ListParams::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Status(s) if s.code() == 403));
}
