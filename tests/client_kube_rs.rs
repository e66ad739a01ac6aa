//! kube-rs 5 (`kube` + `k8s-openapi`) against a real `skiff up` (skiff issue #10): the typed
//! `Api<Pod>` verbs a Rust operator uses, the `kube::runtime` watcher in both list strategies,
//! and a `Controller` reconciling ConfigMaps.
//!
//! Each test starts the `skiff` binary on free loopback ports with one in-process node,
//! serving HTTPS with its self-signed certificate, and builds the kube `Client` from the
//! kubeconfig `skiff up` writes (certificate authority and bearer token), as a user would.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};

mod support;

use support::Up;

/// A kube client from the kubeconfig `skiff up` wrote.
async fn client(up: &Up) -> Client {
    let kubeconfig = Kubeconfig::read_from(up.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    assert_eq!(config.cluster_url.scheme_str(), Some("https"));
    Client::try_from(config).unwrap()
}

fn meta(name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        labels: Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..ObjectMeta::default()
    }
}

fn pod(name: &str, app: &str) -> Pod {
    Pod {
        metadata: meta(name, &[("app", app)]),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "main".to_owned(),
                image: Some("nginx:1.27".to_owned()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

/// Reads events until `done` says so; panics after `secs` seconds or if the stream ends.
async fn until<S, T, E>(stream: &mut S, secs: u64, mut done: impl FnMut(&T) -> bool) -> Vec<T>
where
    S: futures_util::Stream<Item = Result<T, E>> + Unpin,
    T: std::fmt::Debug,
    E: std::fmt::Debug,
{
    let mut seen = Vec::new();
    let deadline = tokio::time::sleep(Duration::from_secs(secs));
    tokio::pin!(deadline);
    loop {
        let next = tokio::select! {
            biased;
            () = &mut deadline => panic!("not done within {secs} s; seen: {seen:#?}"),
            next = stream.next() => next,
        };
        let item = match next {
            Some(Ok(item)) => item,
            Some(Err(e)) => panic!("stream error {e:?}; seen: {seen:#?}"),
            None => panic!("stream ended; seen: {seen:#?}"),
        };
        let stop = done(&item);
        seen.push(item);
        if stop {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines, reason = "one client session, step by step")]
async fn typed_pod_api_creates_gets_lists_by_label_and_watches_to_running_and_deleted() {
    let up = Up::start(1);
    let pods: Api<Pod> = Api::namespaced(client(&up).await, "default");

    let created = pods
        .create(&PostParams::default(), &pod("web-0", "web"))
        .await
        .unwrap();
    assert_eq!(created.name_any(), "web-0");
    assert_eq!(created.namespace().as_deref(), Some("default"));
    assert!(created.uid().is_some_and(|u| !u.is_empty()), "{created:?}");
    let created_rv = created.resource_version().unwrap();
    assert!(!created_rv.is_empty());
    pods.create(&PostParams::default(), &pod("db-0", "db"))
        .await
        .unwrap();

    // Creating the same name again is upstream's 409 AlreadyExists Status.
    match pods
        .create(&PostParams::default(), &pod("web-0", "web"))
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 409);
            assert_eq!(status.reason, "AlreadyExists");
            assert_eq!(status.message, "pods \"web-0\" already exists");
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    match pods.get("nope").await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 404);
            assert_eq!(status.reason, "NotFound");
            assert_eq!(status.message, "pods \"nope\" not found");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }

    let got = pods.get("web-0").await.unwrap();
    assert_eq!(got.uid(), created.uid());
    let containers = &got.spec.as_ref().unwrap().containers;
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].image.as_deref(), Some("nginx:1.27"));

    let web = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    let names: Vec<String> = web.items.iter().map(ResourceExt::name_any).collect();
    assert_eq!(names, ["web-0"]);
    assert!(
        web.metadata
            .resource_version
            .is_some_and(|rv| !rv.is_empty())
    );
    let all = pods.list(&ListParams::default()).await.unwrap();
    let mut names: Vec<String> = all.items.iter().map(ResourceExt::name_any).collect();
    names.sort();
    assert_eq!(names, ["db-0", "web-0"]);
    let none = pods
        .list(&ListParams::default().labels("app in (cache)"))
        .await
        .unwrap();
    assert!(none.items.is_empty());

    // A watch from the create's resourceVersion sees only web-0 (the label selector): the
    // scheduler binds it to node-1, the kubelet reports it Running, then it is deleted.
    let mut events = pods
        .watch(
            &WatchParams::default().labels("app=web").timeout(60),
            &created_rv,
        )
        .await
        .unwrap()
        .boxed();
    let running = until(
        &mut events,
        45,
        |e: &WatchEvent<Pod>| matches!(e, WatchEvent::Modified(p) if phase(p) == Some("Running")),
    )
    .await;
    for event in &running {
        match event {
            WatchEvent::Modified(p) => {
                assert_eq!(p.name_any(), "web-0");
                assert!(p.resource_version().is_some_and(|rv| !rv.is_empty()));
            }
            WatchEvent::Bookmark(b) => assert!(!b.metadata.resource_version.is_empty()),
            other => panic!("unexpected {other:?} in {running:#?}"),
        }
    }
    let Some(WatchEvent::Modified(last)) = running.last() else {
        unreachable!()
    };
    assert_eq!(
        last.spec.as_ref().unwrap().node_name.as_deref(),
        Some("node-1")
    );

    pods.delete("web-0", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let deleted = until(&mut events, 30, |e: &WatchEvent<Pod>| {
        matches!(e, WatchEvent::Deleted(_))
    })
    .await;
    let Some(WatchEvent::Deleted(gone)) = deleted.last() else {
        unreachable!()
    };
    assert_eq!(gone.name_any(), "web-0");
    assert_eq!(gone.uid(), created.uid());
    match pods.get("web-0").await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 404),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_watchers_list_then_watch_in_both_list_strategies_and_metadata_only() {
    let up = Up::start(0);
    let client = client(&up).await;
    let maps: Api<ConfigMap> = Api::namespaced(client, "default");
    for name in ["a", "b"] {
        let map = ConfigMap {
            metadata: meta(name, &[("set", "one")]),
            ..ConfigMap::default()
        };
        maps.create(&PostParams::default(), &map).await.unwrap();
    }
    for config in [
        watcher::Config::default().labels("set=one"),
        // Watch-list (`sendInitialEvents=true`): the initial state as ADDED events, ended by a
        // bookmark annotated `k8s.io/initial-events-end`.
        watcher::Config::default()
            .labels("set=one")
            .streaming_lists(),
    ] {
        let mut stream = watcher(maps.clone(), config).boxed();
        let init = until(&mut stream, 20, |e| matches!(e, watcher::Event::InitDone)).await;
        let names: Vec<String> = init
            .iter()
            .filter_map(|e| match e {
                watcher::Event::InitApply(m) => Some(m.name_any()),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["a", "b"], "{init:#?}");
        assert!(matches!(init[0], watcher::Event::Init), "{init:#?}");
        maps.delete("a", &DeleteParams::default()).await.unwrap();
        let after = until(&mut stream, 20, |e| matches!(e, watcher::Event::Delete(_))).await;
        let [watcher::Event::Delete(gone)] = after.as_slice() else {
            panic!("{after:#?}")
        };
        assert_eq!(gone.name_any(), "a");
        // Put it back for the next strategy.
        let map = ConfigMap {
            metadata: meta("a", &[("set", "one")]),
            ..ConfigMap::default()
        };
        maps.create(&PostParams::default(), &map).await.unwrap();
    }
    // A metadata-only watcher (`as=PartialObjectMetadataList` lists and watches).
    let partial: Api<kube::core::PartialObjectMeta<ConfigMap>> =
        Api::namespaced(maps.clone().into_client(), "default");
    let mut stream = watcher(partial, watcher::Config::default().labels("set=one")).boxed();
    let init = until(&mut stream, 20, |e| matches!(e, watcher::Event::InitDone)).await;
    let names: Vec<String> = init
        .iter()
        .filter_map(|e| match e {
            watcher::Event::InitApply(m) => Some(m.name_any()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["a", "b"], "{init:#?}");
    maps.delete("b", &DeleteParams::default()).await.unwrap();
    let after = until(&mut stream, 20, |e| matches!(e, watcher::Event::Delete(_))).await;
    let [watcher::Event::Delete(gone)] = after.as_slice() else {
        panic!("{after:#?}")
    };
    assert_eq!(gone.name_any(), "b");
}

/// What the test controller failed with.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ReconcileError(#[from] kube::Error);

/// The test controller: for every ConfigMap labelled `derive=true`, a ConfigMap
/// `<name>-keys` owned by it whose data lists the source's keys (sorted, comma-separated) and
/// their count, written by server-side apply.
async fn derive_keys(
    source: Arc<ConfigMap>,
    client: Arc<Client>,
) -> Result<Action, ReconcileError> {
    let namespace = source.namespace().unwrap_or_default();
    let keys: Vec<&str> = source
        .data
        .iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    let derived = ConfigMap {
        metadata: ObjectMeta {
            name: Some(format!("{}-keys", source.name_any())),
            owner_references: Some(vec![source.controller_owner_ref(&()).unwrap()]),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([
            ("keys".to_owned(), keys.join(",")),
            ("count".to_owned(), keys.len().to_string()),
        ])),
        ..ConfigMap::default()
    };
    let api: Api<ConfigMap> = Api::namespaced((*client).clone(), &namespace);
    let name = derived.name_any();
    // kube-rs needs apiVersion/kind in an apply body; a typed object serializes them.
    api.patch(
        &name,
        &PatchParams::apply("derive-keys").force(),
        &Patch::Apply(&derived),
    )
    .await?;
    Ok(Action::await_change())
}

async fn wait_for_data(api: &Api<ConfigMap>, name: &str, want: &[(&str, &str)]) -> ConfigMap {
    let want: BTreeMap<String, String> = want
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut last = None;
    for _ in 0..300 {
        if let Some(map) = api.get_opt(name).await.unwrap() {
            if map.data.as_ref() == Some(&want) {
                return map;
            }
            last = Some(map);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} never held {want:?}; last: {last:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_reconciles_configmaps_into_derived_configmaps() {
    let up = Up::start(0);
    let client = client(&up).await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut source = ConfigMap {
        metadata: meta("settings", &[("derive", "true")]),
        data: Some(BTreeMap::from([
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ])),
        ..ConfigMap::default()
    };
    let source_uid = maps
        .create(&PostParams::default(), &source)
        .await
        .unwrap()
        .uid()
        .unwrap();
    // Not labelled: never reconciled.
    let other = ConfigMap {
        metadata: meta("plain", &[]),
        data: Some(BTreeMap::from([("x".to_owned(), "1".to_owned())])),
        ..ConfigMap::default()
    };
    maps.create(&PostParams::default(), &other).await.unwrap();

    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let reconciled = Arc::new(Mutex::new(Vec::<String>::new()));
    let controller = Controller::new(
        maps.clone(),
        watcher::Config::default().labels("derive=true"),
    )
    .run(
        derive_keys,
        |_, _, _| Action::requeue(Duration::from_secs(1)),
        Arc::new(client.clone()),
    )
    .for_each({
        let errors = errors.clone();
        let reconciled = reconciled.clone();
        move |result| {
            match result {
                Ok((object, _)) => reconciled.lock().unwrap().push(object.name),
                Err(e) => errors.lock().unwrap().push(format!("{e:?}")),
            }
            async {}
        }
    });
    let task = tokio::spawn(controller);

    let derived = wait_for_data(&maps, "settings-keys", &[("keys", "a,b"), ("count", "2")]).await;
    let owners = derived.owner_references();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].kind, "ConfigMap");
    assert_eq!(owners[0].name, "settings");
    assert_eq!(owners[0].uid, source_uid);
    assert_eq!(owners[0].controller, Some(true));

    // A change reaches the controller through its watch.
    source = maps.get("settings").await.unwrap();
    source
        .data
        .get_or_insert_default()
        .insert("c".to_owned(), "3".to_owned());
    maps.replace("settings", &PostParams::default(), &source)
        .await
        .unwrap();
    wait_for_data(&maps, "settings-keys", &[("keys", "a,b,c"), ("count", "3")]).await;

    task.abort();
    assert_eq!(*errors.lock().unwrap(), Vec::<String>::new());
    let reconciled = reconciled.lock().unwrap().clone();
    assert!(reconciled.iter().all(|n| n == "settings"), "{reconciled:?}");
    assert!(reconciled.len() >= 2, "{reconciled:?}");
    assert_eq!(maps.get_opt("plain-keys").await.unwrap(), None);
}

fn config_map(name: &str, labels: &[(&str, &str)], data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: meta(name, labels),
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..ConfigMap::default()
    }
}

fn data(map: &ConfigMap) -> Vec<(String, String)> {
    map.data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines, reason = "one client session, step by step")]
async fn typed_api_pages_patches_reads_metadata_and_deletes_as_upstream_answers() {
    let up = Up::start(0);
    let client = client(&up).await;
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "33")
    );
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..5 {
        let name = format!("cm-{i}");
        let map = config_map(&name, &[("page", "yes")], &[("i", &i.to_string())]);
        maps.create(&PostParams::default(), &map).await.unwrap();
    }

    // Pages of two, following `continue`.
    let mut lp = ListParams::default().labels("page=yes").limit(2);
    let mut pages = Vec::new();
    loop {
        let page = maps.list(&lp).await.unwrap();
        pages.push(
            page.items
                .iter()
                .map(ResourceExt::name_any)
                .collect::<Vec<_>>(),
        );
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => lp = lp.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(
        pages,
        [vec!["cm-0", "cm-1"], vec!["cm-2", "cm-3"], vec!["cm-4"]]
    );
    // `resourceVersion=0&resourceVersionMatch=NotOlderThan` (any version is fine).
    let any = maps
        .list(&ListParams::default().labels("page=yes").match_any())
        .await
        .unwrap();
    assert_eq!(any.items.len(), 5);

    // The four patch types kube-rs sends.
    let merged = maps
        .patch(
            "cm-0",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"j": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(data(&merged), pairs(&[("i", "0"), ("j", "x")]));
    let strategic = maps
        .patch(
            "cm-0",
            &PatchParams::default(),
            &Patch::Strategic(serde_json::json!({"metadata": {"labels": {"extra": "1"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        strategic.labels().clone(),
        BTreeMap::from([
            ("extra".to_owned(), "1".to_owned()),
            ("page".to_owned(), "yes".to_owned())
        ])
    );
    let json_patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
        {"op": "test", "path": "/data/i", "value": "0"},
        {"op": "replace", "path": "/data/i", "value": "9"}
    ]))
    .unwrap();
    let patched = maps
        .patch(
            "cm-0",
            &PatchParams::default(),
            &Patch::<()>::Json(json_patch),
        )
        .await
        .unwrap();
    assert_eq!(data(&patched), pairs(&[("i", "9"), ("j", "x")]));
    let applied = maps
        .patch(
            "cm-0",
            &PatchParams::apply("kube-rs-test").force(),
            &Patch::Apply(config_map("cm-0", &[("page", "yes")], &[("k", "applied")])),
        )
        .await
        .unwrap();
    // Fields other managers set stay (upstream: they own them).
    assert_eq!(
        data(&applied),
        pairs(&[("i", "9"), ("j", "x"), ("k", "applied")])
    );
    // Server-side apply creates a missing object.
    let fresh = maps
        .patch(
            "cm-new",
            &PatchParams::apply("kube-rs-test"),
            &Patch::Apply(config_map("cm-new", &[], &[("n", "1")])),
        )
        .await
        .unwrap();
    assert_eq!(data(&fresh), pairs(&[("n", "1")]));

    // Metadata-only reads (`as=PartialObjectMetadata[List]`).
    let partial = maps.get_metadata("cm-1").await.unwrap();
    assert_eq!(partial.name_any(), "cm-1");
    assert_eq!(
        partial.labels().get("page").map(String::as_str),
        Some("yes")
    );
    let partial_list = maps
        .list_metadata(&ListParams::default().labels("page=yes"))
        .await
        .unwrap();
    let names: Vec<String> = partial_list
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    assert_eq!(names, ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);

    // A delete that removes the object at once answers a success Status (kube-rs: Right);
    // one that a finalizer holds answers the object marked for deletion (Left).
    let uid = maps.get("cm-4").await.unwrap().uid().unwrap();
    match maps.delete("cm-4", &DeleteParams::default()).await.unwrap() {
        either::Either::Right(status) => {
            assert_eq!(
                status.status,
                Some(kube::core::response::StatusSummary::Success)
            );
            let details = status.details.unwrap();
            assert_eq!(
                (
                    details.name.as_str(),
                    details.kind.as_str(),
                    details.uid.as_str()
                ),
                ("cm-4", "configmaps", uid.as_str())
            );
        }
        either::Either::Left(map) => panic!("expected a Status, got {map:?}"),
    }
    let mut held = config_map("held", &[], &[]);
    held.metadata.finalizers = Some(vec!["example.com/hold".to_owned()]);
    maps.create(&PostParams::default(), &held).await.unwrap();
    match maps.delete("held", &DeleteParams::default()).await.unwrap() {
        either::Either::Left(map) => assert!(map.metadata.deletion_timestamp.is_some()),
        either::Either::Right(status) => panic!("expected the object, got {status:?}"),
    }
    let release: json_patch::Patch = serde_json::from_value(serde_json::json!([
        {"op": "remove", "path": "/metadata/finalizers"}
    ]))
    .unwrap();
    maps.patch("held", &PatchParams::default(), &Patch::<()>::Json(release))
        .await
        .unwrap();
    assert_eq!(maps.get_opt("held").await.unwrap(), None);

    // deletecollection answers the list of what it deleted.
    let deleted = maps
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("page=yes"),
        )
        .await
        .unwrap();
    let either::Either::Left(list) = deleted else {
        panic!("expected the deleted list, got {deleted:?}")
    };
    let names: Vec<String> = list.items.iter().map(ResourceExt::name_any).collect();
    assert_eq!(names, ["cm-0", "cm-1", "cm-2", "cm-3"]);
    let left: Vec<String> = maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .filter(|n| n.starts_with("cm-"))
        .collect();
    assert_eq!(left, ["cm-new"]);
}

/// What the finalizer test's reconcile saw: `apply <name>` or `cleanup <name>`.
fn record(
    seen: &Mutex<Vec<String>>,
    event: kube::runtime::finalizer::Event<ConfigMap>,
) -> std::future::Ready<Result<Action, ReconcileError>> {
    let line = match event {
        kube::runtime::finalizer::Event::Apply(m) => format!("apply {}", m.name_any()),
        kube::runtime::finalizer::Event::Cleanup(m) => format!("cleanup {}", m.name_any()),
    };
    seen.lock().unwrap().push(line);
    std::future::ready(Ok(Action::await_change()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_finalizer_helper_adds_runs_cleanup_and_releases_the_object() {
    use kube::runtime::finalizer::finalizer;
    const FINALIZER: &str = "example.com/cleanup";
    let up = Up::start(0);
    let maps: Api<ConfigMap> = Api::namespaced(client(&up).await, "default");
    maps.create(
        &PostParams::default(),
        &config_map("guarded", &[], &[("a", "1")]),
    )
    .await
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let step = |object: ConfigMap| {
        let seen = seen.clone();
        let maps = maps.clone();
        async move {
            finalizer(&maps, FINALIZER, Arc::new(object), |event| {
                record(&seen, event)
            })
            .await
            .unwrap()
        }
    };
    // 1. No finalizer yet: the helper adds it (a JSON patch testing the missing list
    //    against null) and does not reconcile.
    step(maps.get("guarded").await.unwrap()).await;
    let guarded = maps.get("guarded").await.unwrap();
    assert_eq!(guarded.finalizers(), [FINALIZER]);
    // 2. With it: Apply.
    step(guarded).await;
    // 3. Deleted: held by the finalizer; Cleanup, then the helper removes it (test + remove
    //    by index) and the object goes.
    maps.delete("guarded", &DeleteParams::default())
        .await
        .unwrap();
    let deleting = maps.get("guarded").await.unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    step(deleting).await;
    assert_eq!(
        *seen.lock().unwrap(),
        ["apply guarded".to_owned(), "cleanup guarded".to_owned()]
    );
    assert_eq!(maps.get_opt("guarded").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_resolves_kinds_for_dynamic_objects() {
    use kube::core::{DynamicObject, GroupVersionKind};
    use kube::discovery::{Discovery, Scope};
    let up = Up::start(0);
    let client = client(&up).await;
    // Legacy discovery: /api, /api/v1, /apis, /apis/<group>/<version>.
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (resource, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .unwrap();
    assert_eq!(
        (resource.plural.as_str(), resource.api_version.as_str()),
        ("deployments", "apps/v1")
    );
    assert_eq!(caps.scope, Scope::Namespaced);
    let (nodes, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Node"))
        .unwrap();
    assert_eq!(
        (nodes.plural.as_str(), &caps.scope),
        ("nodes", &Scope::Cluster)
    );

    // Aggregated discovery (one request each to /api and /apis) finds the same.
    let aggregated = Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    let groups = |d: &Discovery| {
        d.groups_alphabetical()
            .iter()
            .map(|g| g.name().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(groups(&aggregated), groups(&discovery));
    assert_eq!(
        groups(&discovery),
        [
            "",
            "apps",
            "authorization.k8s.io",
            "coordination.k8s.io",
            "events.k8s.io",
            "rbac.authorization.k8s.io"
        ]
    );
    let (resource, caps) = aggregated
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .unwrap();
    assert_eq!(resource.plural, "deployments");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert_eq!(
        caps.subresources
            .iter()
            .map(|(r, _)| r.plural.as_str())
            .collect::<Vec<_>>(),
        ["status", "scale"]
    );

    let (maps, _) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap"))
        .unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &maps);
    let object: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "dynamic"}, "data": {"k": "v"}
    }))
    .unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
    let got = api.get("dynamic").await.unwrap();
    assert_eq!(got.data["data"], serde_json::json!({"k": "v"}));
    assert_eq!(
        got.types.map(|t| (t.api_version, t.kind)),
        Some(("v1".to_owned(), "ConfigMap".to_owned()))
    );
}

/// kubectl on PATH, if any (the dispatcher picks the binary matching the server's minor).
fn kubectl_on_path() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kubectl"))
            .find(|p| p.is_file())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::too_many_lines,
    reason = "one recorder session, read back through both APIs and kubectl"
)]
async fn event_recorder_publishes_events_k8s_io_events_that_read_back_as_core_events() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use k8s_openapi::api::events::v1::Event as NewEvent;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let up = Up::start(0);
    let client = client(&up).await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let map = maps
        .create(&PostParams::default(), &config_map("settings", &[], &[]))
        .await
        .unwrap();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "example.com/settings-operator".to_owned(),
            instance: Some("operator-0".to_owned()),
        },
    );
    let event = Event {
        type_: EventType::Normal,
        reason: "Reconciled".to_owned(),
        note: Some("settings are in sync".to_owned()),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    recorder
        .publish(&event, &map.object_ref(&()))
        .await
        .unwrap();

    // Through events.k8s.io/v1, as the recorder wrote it.
    let new_api: Api<NewEvent> = Api::namespaced(client.clone(), "default");
    let listed = new_api.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let new = &listed.items[0];
    assert_eq!(
        (
            new.reason.as_deref(),
            new.note.as_deref(),
            new.action.as_deref(),
            new.type_.as_deref(),
            new.reporting_controller.as_deref(),
            new.reporting_instance.as_deref(),
        ),
        (
            Some("Reconciled"),
            Some("settings are in sync"),
            Some("Reconcile"),
            Some("Normal"),
            Some("example.com/settings-operator"),
            Some("operator-0"),
        )
    );
    let regarding = new.regarding.as_ref().unwrap();
    assert_eq!(
        (
            regarding.kind.as_deref(),
            regarding.name.as_deref(),
            regarding.uid.as_deref()
        ),
        (
            Some("ConfigMap"),
            Some("settings"),
            map.metadata.uid.as_deref()
        )
    );
    assert!(new.event_time.is_some());

    // The same object through core/v1.
    let core_api: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let core = core_api.get(&new.name_any()).await.unwrap();
    assert_eq!(
        (
            core.message.as_deref(),
            core.involved_object.name.as_deref(),
            core.reporting_component.as_deref(),
            core.reporting_instance.as_deref(),
        ),
        (
            Some("settings are in sync"),
            Some("settings"),
            Some("example.com/settings-operator"),
            Some("operator-0"),
        )
    );

    // A repeat becomes a series (the recorder merge-patches the event it made).
    recorder
        .publish(&event, &map.object_ref(&()))
        .await
        .unwrap();
    let again = new_api.get(&new.name_any()).await.unwrap();
    assert_eq!(again.series.as_ref().map(|s| s.count), Some(2));

    if let Some(kubectl) = kubectl_on_path() {
        let out = std::process::Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(up.kubeconfig())
            .args([
                "get",
                "events",
                "-o",
                "custom-columns=REASON:.reason,OBJECT:.involvedObject.name,\
                 MESSAGE:.message,CONTROLLER:.reportingComponent,SERIES:.series.count",
            ])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "REASON       OBJECT     MESSAGE                CONTROLLER                      SERIES\n\
             Reconciled   settings   settings are in sync   example.com/settings-operator   2\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
