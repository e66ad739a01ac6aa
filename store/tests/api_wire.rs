//! The API server through the wire protocol, as remote clients see it: the refusals every
//! client must handle (401, 403, 404, 409, 422 with field paths) snapshot-tested in upstream's
//! `metav1.Status` shape, and many concurrent clients updating one object (exactly one winner
//! per resourceVersion, no lost update).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use skiff_core::client::{Client, ClientError, ListParams};
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
            jane.list(&info::POD, Some("default"), ListParams::default())
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
            jane.create(
                Some("dev"),
                skiff_core::object::ReplicaSet {
                    metadata: ObjectMeta::named("web"),
                    ..Default::default()
                }
                .into(),
            )
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

fn replica_set() -> Object {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/replicaset-definition.yaml"
    ))
    .unwrap();
    skiff_core::manifest::parse_str("rs.yaml", &text)
        .unwrap()
        .remove(0)
}

fn containers(object: &Object) -> Vec<(String, String)> {
    let Object::ReplicaSet(rs) = object else {
        panic!("a ReplicaSet")
    };
    rs.spec
        .template
        .spec
        .containers
        .iter()
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect()
}

#[allow(
    clippy::too_many_lines,
    reason = "one story: each patch builds on the last"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_merge_strategically_or_by_rfc_7386_and_refuse_with_field_paths() {
    use skiff_core::client::PatchType::{Merge, Strategic};
    let addr = start().await;
    let admin = WireClient::connect(&addr, ADMIN_TOKEN).await.unwrap();
    admin.create(Some("default"), replica_set()).await.unwrap();
    let patch = |p: &str| p.as_bytes().to_vec();
    let rs_patch = |kind, p: &'static str| {
        let admin = &admin;
        async move {
            admin
                .patch(
                    &info::REPLICA_SET,
                    "default",
                    "myapp-replicaset",
                    kind,
                    p.as_bytes().to_vec(),
                )
                .await
        }
    };

    // Strategic: containers merge by name; `$patch: delete` removes one.
    rs_patch(
        Strategic,
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"log","image":"busybox"}]}}}}"#,
    )
    .await
    .unwrap();
    let patched = rs_patch(
        Strategic,
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx-container","image":"nginx:1.27"},{"name":"log","$patch":"delete"},{"name":"proxy","image":"envoy"}]}}}}"#,
    )
    .await
    .unwrap();
    assert_eq!(
        containers(&patched),
        [
            ("nginx-container".to_owned(), "nginx:1.27".to_owned()),
            ("proxy".to_owned(), "envoy".to_owned())
        ]
    );
    // Merge: null removes a label; a list is replaced whole.
    rs_patch(Merge, r#"{"metadata":{"labels":{"a":"1","b":"2"}}}"#)
        .await
        .unwrap();
    let patched = rs_patch(
        Merge,
        r#"{"metadata":{"labels":{"a":null}},"spec":{"template":{"spec":{"containers":[{"name":"only","image":"nginx"}]}}}}"#,
    )
    .await
    .unwrap();
    assert_eq!(
        patched.metadata().labels.keys().collect::<Vec<_>>(),
        ["app", "b", "type"]
    );
    assert_eq!(
        containers(&patched),
        [("only".to_owned(), "nginx".to_owned())]
    );

    // A pod's spec is frozen but for images (upstream ValidatePodUpdate): a patch of its
    // images applies, a patch of its container list is refused naming the field.
    let pod = Pod::new(
        "web",
        vec![
            Container::new("web", "nginx:1.26"),
            Container::new("log", "busybox"),
        ],
    );
    let created = admin.create(Some("default"), pod.into()).await.unwrap();
    admin
        .patch(
            &info::POD,
            "default",
            "web",
            Strategic,
            patch(r#"{"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}"#),
        )
        .await
        .unwrap();
    let frozen = status(
        admin
            .patch(
                &info::POD,
                "default",
                "web",
                Strategic,
                patch(r#"{"spec":{"containers":[{"name":"log","$patch":"delete"}]}}"#),
            )
            .await,
    );
    assert_eq!(
        (frozen.code(), frozen.causes[0].field.as_str()),
        (422, "spec")
    );
    assert!(
        frozen.message.starts_with(&format!(
            "Pod \"web\" is invalid: spec: Forbidden: pod updates may not change fields other than {}\n- containers: ",
            skiff_core::validate::POD_UPDATABLE_FIELDS
        )),
        "{}",
        frozen.message
    );

    // A stale resourceVersion in the patch is a precondition.
    let stale = created.metadata().resource_version.clone().unwrap();
    let conflict = status(
        admin
            .patch(
                &info::POD,
                "default",
                "web",
                Merge,
                patch(&format!(
                    r#"{{"metadata":{{"resourceVersion":"{stale}","labels":{{"c":"3"}}}}}}"#
                )),
            )
            .await,
    );
    assert_eq!(
        conflict.message,
        "Operation cannot be fulfilled on pods \"web\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // A field of the wrong type, and an unknown field: 422 naming the field.
    let wrong = status(
        admin
            .patch(
                &info::REPLICA_SET,
                "default",
                "myapp-replicaset",
                Merge,
                patch(r#"{"spec":{"replicas":"three"}}"#),
            )
            .await,
    );
    assert_eq!(
        (wrong.code(), wrong.causes[0].field.as_str()),
        (422, "spec.replicas")
    );
    assert!(
        wrong.message.starts_with(
            "ReplicaSet.apps \"myapp-replicaset\" is invalid: spec.replicas: Invalid value: \"three\": "
        ),
        "{}",
        wrong.message
    );
    let unknown = status(
        admin
            .patch(
                &info::REPLICA_SET,
                "default",
                "myapp-replicaset",
                Strategic,
                patch(r#"{"spec":{"replicaz":3}}"#),
            )
            .await,
    );
    assert_eq!(
        unknown.message,
        "ReplicaSet.apps \"myapp-replicaset\" is invalid: spec.replicaz: Invalid value: 3: unknown field `replicaz`"
    );
    let missing = status(
        admin
            .patch(&info::REPLICA_SET, "default", "nope", Merge, patch("{}"))
            .await,
    );
    assert_eq!(missing.message, "replicasets.apps \"nope\" not found");
    let garbage = status(
        admin
            .patch(&info::POD, "default", "web", Merge, patch("[1]"))
            .await,
    );
    assert_eq!(garbage.reason, Reason::BadRequest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_subresource_reads_and_sets_replicas_only() {
    let addr = start().await;
    let admin = WireClient::connect(&addr, ADMIN_TOKEN).await.unwrap();
    admin.create(Some("default"), replica_set()).await.unwrap();
    let scale = admin
        .get_scale(&info::REPLICA_SET, "default", "myapp-replicaset")
        .await
        .unwrap();
    assert_eq!(
        (
            scale.replicas,
            scale.status_replicas,
            scale.selector.as_str()
        ),
        (3, 0, "app=myapp")
    );
    let scaled = admin
        .update_scale(
            &info::REPLICA_SET,
            skiff_core::client::Scale {
                replicas: 6,
                ..scale.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(scaled.replicas, 6);
    let Object::ReplicaSet(rs) = admin
        .get(&info::REPLICA_SET, "default", "myapp-replicaset")
        .await
        .unwrap()
    else {
        panic!("a ReplicaSet")
    };
    assert_eq!(
        (rs.spec.replicas, rs.metadata.generation),
        (Some(6), Some(2))
    );
    // The first read's resourceVersion is stale now.
    let outdated = status(
        admin
            .update_scale(
                &info::REPLICA_SET,
                skiff_core::client::Scale {
                    replicas: 1,
                    ..scale.clone()
                },
            )
            .await,
    );
    assert_eq!(outdated.reason, Reason::Conflict);
    let negative = status(
        admin
            .update_scale(
                &info::REPLICA_SET,
                skiff_core::client::Scale {
                    replicas: -1,
                    resource_version: None,
                    ..scale.clone()
                },
            )
            .await,
    );
    assert_eq!(
        negative.message,
        "Scale.autoscaling \"myapp-replicaset\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
    let pods = status(admin.get_scale(&info::POD, "default", "x").await);
    assert_eq!(
        (pods.code(), pods.message.as_str()),
        (404, "the server could not find the requested resource")
    );
    let jane = WireClient::connect(&addr, JANE_TOKEN).await.unwrap();
    let forbidden = status(jane.update_scale(&info::REPLICA_SET, scale).await);
    assert_eq!(
        forbidden.message,
        "replicasets.apps \"myapp-replicaset\" is forbidden: User \"jane\" cannot update resource \"replicasets/scale\" in API group \"apps\" in the namespace \"default\""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_reviews_answer_for_the_caller_and_impersonate_only_for_admins() {
    use skiff_core::client::AccessReview;
    let addr = start().await;
    let admin = WireClient::connect(&addr, ADMIN_TOKEN).await.unwrap();
    let jane = WireClient::connect(&addr, JANE_TOKEN).await.unwrap();
    let list_pods = AccessReview {
        verb: "list".into(),
        resource: "pods".into(),
        namespace: "default".into(),
        ..AccessReview::default()
    };
    assert!(
        admin
            .access_review(list_pods.clone())
            .await
            .unwrap()
            .allowed
    );
    assert!(!jane.access_review(list_pods.clone()).await.unwrap().allowed);
    let as_jane = AccessReview {
        user: "jane".into(),
        ..list_pods.clone()
    };
    assert!(!admin.access_review(as_jane).await.unwrap().allowed);
    let as_admin = AccessReview {
        user: "admin".into(),
        groups: vec!["system:masters".into()],
        ..list_pods
    };
    let refused = status(jane.access_review(as_admin).await);
    assert_eq!(
        refused.message,
        "users \"admin\" is forbidden: User \"jane\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_is_readable_through_the_server_by_admins_only() {
    let addr = start().await;
    let admin = WireClient::connect(&addr, ADMIN_TOKEN).await.unwrap();
    admin
        .create(Some("default"), cm("settings", "1"))
        .await
        .unwrap();
    let range = admin
        .etcd_range("/registry/configmaps/", true, 0, 0, false)
        .await
        .unwrap();
    let keys: Vec<&str> = range.kvs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        (keys.as_slice(), range.count, range.more),
        (&["/registry/configmaps/default/settings"][..], 1, false)
    );
    let store_status = admin.etcd_status().await.unwrap();
    assert_eq!(store_status.revision, range.head);
    let jane = WireClient::connect(&addr, JANE_TOKEN).await.unwrap();
    let refused = status(jane.etcd_range("/", true, 0, 0, false).await);
    assert_eq!(
        refused.message,
        "forbidden: User \"jane\" cannot get path \"/etcd\""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_may_not_patch_its_own_taints() {
    use skiff_core::client::PatchType::Strategic;
    let addr = start().await;
    let admin = WireClient::connect(&addr, ADMIN_TOKEN).await.unwrap();
    let node = skiff_core::manifest::parse_str(
        "node.yaml",
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: worker-1\n",
    )
    .unwrap()
    .remove(0);
    admin.create(None, node).await.unwrap();
    let authn = Authenticator::with_key([7; 32], ADMIN_TOKEN);
    let kubelet = WireClient::connect(&addr, &authn.issue_node_token("worker-1"))
        .await
        .unwrap();
    let refused = status(
        kubelet
            .patch(
                &info::NODE,
                "",
                "worker-1",
                Strategic,
                br#"{"spec":{"taints":[{"key":"mine","effect":"NoSchedule"}]}}"#.to_vec(),
            )
            .await,
    );
    assert_eq!(
        refused.message,
        "nodes \"worker-1\" is forbidden: node \"worker-1\" is not allowed to modify taints"
    );
    // An annotation is its own to change.
    kubelet
        .patch(
            &info::NODE,
            "",
            "worker-1",
            Strategic,
            br#"{"metadata":{"annotations":{"seen":"yes"}}}"#.to_vec(),
        )
        .await
        .unwrap();
}
